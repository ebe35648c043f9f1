"""Safe against a hostile server and a careless moment (issue 20): secrets, files, the terminal.

Each test writes its own hostile input (a scripted server, a file, a capture) and talks to a
real server on 127.0.0.1 over a real socket where a server is involved; waits are on events
with generous bounds, never on wall-clock speed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scripted_server import GOOD_TOKEN, ScriptedServer

from bluecurrent_sync._usage import UsageFile
from bluecurrent_sync.cli import EXIT_CONNECTION, EXIT_USAGE, main
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ApiError, ResponseValidationError, UsageFileError

pytestmark = pytest.mark.slow

URL_SECRETS = ("pass-SECRET", "QUERY-SECRET")


def _quiet_client(url: str, **options: Any) -> Client:
    options.setdefault("timeout", 5.0)
    return Client(GOOD_TOKEN, url=url, **options)


def _free_port() -> int:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# ======================================================================= 8. URL secrets


def test_url_userinfo_and_query_stay_out_of_reprs_and_cli_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    url = f"ws://user:pass-SECRET@127.0.0.1:{port}/haserver?key=QUERY-SECRET"
    client = Client(GOOD_TOKEN, url=url)
    shown = repr(client)
    client.close()
    assert f"127.0.0.1:{port}/haserver" in shown
    assert not any(secret in shown for secret in URL_SECRETS), shown

    # A server that cannot be reached: the CLI names the URL, without its secrets.
    code = main(["--url", url, "--token", GOOD_TOKEN, "--timeout", "5", "charge-points"])
    err = capsys.readouterr().err
    assert code == EXIT_CONNECTION
    assert f"127.0.0.1:{port}/haserver" in err
    assert not any(secret in err for secret in URL_SECRETS), err

    # A URL the client refuses (a bad port): a usage error, also without the secrets.
    bad = "ws://user:pass-SECRET@127.0.0.1:99999/haserver?key=QUERY-SECRET"
    code = main(["--url", bad, "--token", GOOD_TOKEN, "charge-points"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "invalid port" in err
    assert not any(secret in err for secret in URL_SECRETS), err
    with pytest.raises(ValueError) as caught:
        Client(GOOD_TOKEN, url=bad)
    assert not any(secret in str(caught.value) for secret in URL_SECRETS)


# ============================================================ 9. connect()'s documented raises


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"object": "ERROR", "error": 5, "message": "overloaded"}, ApiError),
        ({"object": "STATUS_API_TOKEN", "success": True, "token": 5}, ResponseValidationError),
    ],
)
def test_connect_raises_what_its_docstring_lists(
    reply: dict[str, Any], error: type[Exception]
) -> None:
    with ScriptedServer() as server:
        server.token_reply = lambda _token: reply
        client = _quiet_client(server.url)
        try:
            with pytest.raises(error):
                client.connect()
        finally:
            client.close()
    raises = (Client.connect.__doc__ or "").split("Raises:", 1)[1]
    assert f"{error.__name__}:" in raises


# ================================================================ 3. a crash-safe usage file

DAY = dt.date(2026, 12, 4)

# Writes to the usage file fail as on a full disk (RLIMIT_FSIZE 0: EFBIG for any growth).
_FULL_DISK_SCRIPT = """
import datetime, resource, signal, sys
from bluecurrent_sync._usage import UsageFile
from bluecurrent_sync.errors import UsageFileError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    UsageFile(sys.argv[1]).add(1, datetime.date.fromisoformat(sys.argv[2]))
    print("added")
except UsageFileError:
    print("refused")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
@pytest.mark.timeout(60)
def test_a_write_that_fails_midway_keeps_the_days_count(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    usage = UsageFile(path)
    assert usage.add(9, DAY) == 9
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(path), DAY.isoformat()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "refused", done.stderr
    assert usage.read(DAY) == 9  # neither emptied nor half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.json"]  # no stray temp file
    assert usage.add(1, DAY) == 10
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX symbolic links and FIFOs")
def test_a_usage_path_that_is_not_a_regular_file_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "created-by-nobody.json")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    directory = tmp_path / "a-directory"
    directory.mkdir()
    for path, kind in (
        (link, "symbolic link"),
        (dangling, "symbolic link"),
        (fifo, "FIFO"),
        (directory, "directory"),
    ):
        for use in (lambda u: u.add(1, DAY), lambda u: u.read(DAY)):
            with pytest.raises(UsageFileError, match=kind):
                use(UsageFile(path))
        # The command reports it in one line (exit 2), never with a traceback.
        code = main(["--usage-file", str(path), "usage"])
        captured = capsys.readouterr()
        assert code == EXIT_USAGE
        assert kind in captured.err and "Traceback" not in captured.err
        assert captured.out == ""
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not (tmp_path / "created-by-nobody.json").exists()


def test_cli_usage_reports_a_damaged_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "usage.json"
    path.write_bytes(b"\xff" + json.dumps({"format": "x"}).encode())
    code = main(["--usage-file", str(path), "usage"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "not a bluecurrent_sync usage file" in err and "Traceback" not in err
