"""Safe against a hostile server and a careless moment (issue 20): secrets, files, the terminal.

Each test writes its own hostile input (a scripted server, a file, a capture) and talks to a
real server on 127.0.0.1 over a real socket where a server is involved; waits are on events
with generous bounds, never on wall-clock speed.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from scripted_server import GOOD_TOKEN, ISSUED_TOKEN, ScriptedServer, ch_status

from bluecurrent_sync import _capture_check
from bluecurrent_sync._capture_lines import MAX_LINE_BYTES
from bluecurrent_sync._usage import UsageFile
from bluecurrent_sync.cli import EXIT_CONNECTION, EXIT_USAGE, main
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    ApiError,
    RequestTimeoutError,
    ResponseValidationError,
    UsageFileError,
)
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator
from bluecurrent_sync.simulator._replay import CaptureError

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


# ====================================================== 1. JSON-escaped tokens are redacted

SECRETS = (GOOD_TOKEN, ISSUED_TOKEN)


def _escaped(text: str) -> str:
    """``text`` as a JSON string body written entirely with ``\\uXXXX`` escapes."""
    return "".join(f"\\u{ord(char):04x}" for char in text)


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.timeout(60)
def test_json_escaped_tokens_reach_no_log_event_error_or_capture(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    issued, api = _escaped(ISSUED_TOKEN), _escaped(GOOD_TOKEN)
    capture = tmp_path / "capture.jsonl"
    caplog.set_level(logging.DEBUG, logger="bluecurrent_sync")
    with ScriptedServer() as server:
        # An ACCOUNT reply without login or e-mail: get_email() fails, with the frame in .raw.
        server.account_reply = f'{{"object": "ACCOUNT", "note": "{issued} {api}"}}'
        client = _quiet_client(server.url, record=capture).connect()
        try:
            with client.events() as stream:
                server.push(f'{{"object": "ERROR", "error": 5, "message": "{issued} {api}"}}')
                server.push(f'{{"message": "no object: {issued}"}}')
                server.push(f'{{"object": "{issued}", "evse_id": "{api}"}}')
                server.push(ch_status("BCU-LAST"))  # the end marker
                items = []
                for item in stream:
                    items.append(item)
                    if getattr(item, "evse_id", None) == "BCU-LAST":
                        break
            with pytest.raises(ResponseValidationError) as caught:
                client.get_email()
        finally:
            client.close()
    assert len(items) >= 3  # the ERROR, the token-named object and the marker
    assert not _leaks(repr(items)), items
    error = caught.value
    assert not _leaks(repr(error.raw) + str(error) + repr(error.args)), error.raw
    assert "server error 5 with no request pending" in caplog.text
    assert "dropped a frame without an object name" in caplog.text
    assert not _leaks(caplog.text)
    assert not _leaks(json.dumps([json.loads(line) for line in capture.open(encoding="utf-8")]))


def _pushing(server: ScriptedServer, frame: str) -> tuple[threading.Event, threading.Thread]:
    """Push ``frame`` on the current main connection every 50 ms until the event is set.

    For a command whose event stream opens at a moment the test cannot see: the frame
    keeps coming until the command has shown what it needs.
    """
    done = threading.Event()

    def push() -> None:
        while not done.wait(0.05):
            try:
                server.push(frame)
            except AssertionError:  # no main connection yet
                continue

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    return done, thread


@pytest.mark.timeout(120)
def test_json_escaped_tokens_stay_out_of_watch_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    issued, api = _escaped(ISSUED_TOKEN), _escaped(GOOD_TOKEN)
    frame = f'{{"object": "ERROR", "error": 5, "message": "{issued} {api}"}}'
    with ScriptedServer() as server:
        for json_flag in (["--json"], []):
            done, pusher = _pushing(server, frame)
            try:
                argv = ["--url", server.url, "--token", GOOD_TOKEN, *json_flag]
                assert main([*argv, "watch", "--count", "2"]) == 0
            finally:
                done.set()
                pusher.join(30)
            out, err = capsys.readouterr()
            assert "ERROR" in out
            assert "<redacted>" in out or not json_flag  # a watch line shows no message
            assert not _leaks(out + err)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "reply",
    [
        '{{"object": "STATUS_API_TOKEN_V2", "success": true, "token": "{token}"}}',
        '{{"object": "STATUS_API_TOKEN", "success": true, "token": "{token}", "rate": NaN}}',
        '{{"object": "STATUS_API_TOKEN", "success": true, "\\u0074oken": "{token}"}}',
    ],
    ids=["renamed", "nan", "escaped-key"],
)
def test_the_capture_learns_the_token_the_client_accepted(reply: str, tmp_path: Path) -> None:
    capture = tmp_path / "capture.jsonl"
    with ScriptedServer() as server:
        server.token_reply = lambda token: reply.format(token=token)
        server.responder = lambda conn, frame: conn.send(
            {"object": "ERROR", "error": 5, "message": f"echo {ISSUED_TOKEN}"}
        )
        client = _quiet_client(server.url, record=capture).connect()
        try:
            with pytest.raises(ApiError):
                client.get_status("BCU-1")  # the server echoes the issued token
        finally:
            client.close()
    text = capture.read_text(encoding="utf-8")
    assert "<redacted>" in text
    assert not _leaks(text)
    assert not _leaks(json.dumps([json.loads(line) for line in text.splitlines()]))


# ================================================================ 3. a crash-safe usage file

DAY = dt.date(2026, 12, 4)

# Writes to the usage file fail as on a full disk (RLIMIT_FSIZE 0: EFBIG for any growth).
_FULL_DISK_SCRIPT = """
import datetime, resource, signal, sys
from bluecurrent_sync import _capture_check
from bluecurrent_sync._capture_lines import MAX_LINE_BYTES
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


_ADD_FOREVER_SCRIPT = """
import datetime, sys
from bluecurrent_sync._usage import UsageFile
usage, day = UsageFile(sys.argv[1]), datetime.date.fromisoformat(sys.argv[2])
while True:
    usage.add(1, day)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX rename over an open file")
@pytest.mark.timeout(300)
def test_a_process_killed_while_counting_never_loses_the_count(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    usage = UsageFile(path)
    for _ in range(10):
        before = usage.read(DAY)
        writer = subprocess.Popen(
            [sys.executable, "-c", _ADD_FOREVER_SCRIPT, str(path), DAY.isoformat()]
        )
        try:
            wait_until(lambda: usage.read(DAY) >= before + 20, 120, "the writer counts")  # noqa: B023
        finally:
            writer.kill()  # SIGKILL: wherever it is, mid-update included
            writer.wait(60)
        assert usage.read(DAY) >= before + 20  # never emptied, never half-written


def _not_regular_files(tmp_path: Path, suffix: str) -> tuple[Path, Path, Path, Path]:
    """A file that must stay untouched, and three paths that are not regular files: a link
    to it, a dangling link (following it would create its target) and a FIFO."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    link = tmp_path / f"link{suffix}"
    link.symlink_to(victim)
    dangling = tmp_path / f"dangling{suffix}"
    dangling.symlink_to(tmp_path / f"created-by-nobody{suffix}")
    fifo = tmp_path / f"fifo{suffix}"
    os.mkfifo(fifo)
    return victim, link, dangling, fifo


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX symbolic links and FIFOs")
def test_a_usage_path_that_is_not_a_regular_file_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim, link, dangling, fifo = _not_regular_files(tmp_path, ".json")
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


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX rename and symbolic links")
def test_a_temporary_file_left_by_a_killed_process_is_reused_never_followed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "usage.json"
    usage = UsageFile(path)
    usage.add(3, DAY)
    leftover = tmp_path / ".usage.json.tmp"
    leftover.write_text("half a line from a process killed mid-update", encoding="utf-8")
    assert usage.add(1, DAY) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.json"]
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    leftover.symlink_to(victim)
    with pytest.raises(UsageFileError):
        usage.add(1, DAY)
    assert victim.read_text(encoding="utf-8") == "precious"
    assert usage.read(DAY) == 4


def test_cli_usage_reports_a_damaged_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "usage.json"
    path.write_bytes(b"\xff" + json.dumps({"format": "x"}).encode())
    code = main(["--usage-file", str(path), "usage"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "not a bluecurrent_sync usage file" in err and "Traceback" not in err


# =========================================================================== 4. capture file


@pytest.mark.timeout(60)
def test_a_capture_is_created_new_and_private(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        path = tmp_path / "capture.jsonl"
        with _quiet_client(server.url, record=path):
            pass
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        first = path.read_text(encoding="utf-8")
        # A second capture to the same name is refused; the first is left as it was.
        with pytest.raises(FileExistsError, match="already exists"):
            _quiet_client(server.url, record=path)
        assert path.read_text(encoding="utf-8") == first


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX symbolic links and FIFOs")
@pytest.mark.timeout(60)
def test_a_capture_never_follows_a_link_or_opens_a_fifo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim, link, dangling, fifo = _not_regular_files(tmp_path, ".jsonl")
    for path in (link, dangling, fifo):
        outcome: list[BaseException] = []

        def make(path: Path = path, outcome: list[BaseException] = outcome) -> None:
            try:
                Client(GOOD_TOKEN, url="ws://127.0.0.1:1/haserver", record=path)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=make, daemon=True)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), f"Client(record={path.name}) hangs"
        assert outcome and isinstance(outcome[0], FileExistsError), outcome
        # The command says so in one line (exit 2), without a traceback.
        code = main(["--url", "ws://127.0.0.1:1/haserver", "--token", GOOD_TOKEN,
                     "--record", str(path), "charge-points"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == EXIT_USAGE and "already exists" in err and "Traceback" not in err
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not (tmp_path / "created-by-nobody.jsonl").exists()


def test_a_client_that_fails_leaves_no_capture_and_no_open_handle(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # an unclosed file would warn
        with pytest.raises(ValueError, match="sslopt"):
            Client(GOOD_TOKEN, record=path, sslopt={"no_such_option": True})
        gc.collect()
    assert not path.exists()


# ================================================================ 5. terminal escape injection

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\rbluecurrent-sync$ \x9b31m\u202e"
CONTROL_CHARS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def _drives_the_terminal(text: str) -> list[str]:
    return [char for char in CONTROL_CHARS if char in text]


@pytest.mark.timeout(120)
def test_server_strings_never_drive_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    points = {
        "object": "CHARGE_POINTS",
        "data": [{"evse_id": "BCU-1", "name": f"Garage{HOSTILE}", "activity": "available"}],
    }

    def respond(conn: Any, frame: dict[str, Any]) -> None:
        if frame.get("command") == "GET_CHARGE_POINTS":
            conn.send(points)
        else:  # status and stop: an ERROR whose message is hostile
            conn.send({"object": "ERROR", "error": 9, "message": f"no{HOSTILE}"})

    with ScriptedServer(respond) as server:
        base = ["--url", server.url, "--token", GOOD_TOKEN, "--timeout", "10"]
        assert main([*base, "charge-points"]) == 0
        out, err = capsys.readouterr()
        assert "Garage" in out and "\\x1b]0;pwned\\x07" in out
        assert not _drives_the_terminal(out + err)
        # --json stays exact: the name decodes to what the server sent.
        assert main([*base, "--json", "charge-points"]) == 0
        out, _err = capsys.readouterr()
        assert json.loads(out)[0]["name"] == f"Garage{HOSTILE}"
        for command in (["status", "BCU-1"], ["stop", "BCU-1"]):
            assert main([*base, *command]) != 0
            out, err = capsys.readouterr()
            assert "no\\x1b]0;pwned" in err, err
            assert not _drives_the_terminal(out + err)

        # watch: a pushed object whose name and fields are hostile, pushed until watch ends.
        done, pusher = _pushing(server, json.dumps({"object": f"X{HOSTILE}", "note": HOSTILE}))
        try:
            assert main([*base, "watch", "--count", "2"]) == 0
        finally:
            done.set()
            pusher.join(30)
        out, err = capsys.readouterr()
        assert "X\\x1b]0;pwned" in out
        assert not _drives_the_terminal(out + err)

    # check-capture: a capture holding the same strings.
    capture = tmp_path / "capture.jsonl"
    lines = [
        {"capture": "bluecurrent_sync", "version": 1},
        {"t": 0, "dir": "in", "conn": "main", "seq": 1, "frame": {"note": HOSTILE}},
        {"t": 0, "dir": "in", "conn": "main", "seq": 1, "text": f"not json {HOSTILE}"},
    ]
    capture.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    code = main(["check-capture", str(capture)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "\\x1b]0;pwned" in out
    assert not _drives_the_terminal(out + err)


# ======================================================= 6. hostile captures: check and replay

HEADER = '{"capture": "bluecurrent_sync", "version": 1}\n'
FRAME = '{{"t": {t}, "dir": "in", "conn": "main", "seq": {seq}, "frame": {frame}}}\n'


def _capture(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "hostile.jsonl"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (FRAME.format(t=0, seq=1, frame="[" * 100_000 + "]" * 100_000), "nested deeper"),
        (FRAME.format(t=0, seq=1, frame="[" * 70 + "]" * 70), "nested deeper"),
        (FRAME.format(t=0, seq="1e999", frame="{}"), '"seq": inf'),
        (FRAME.format(t="1e999", seq=1, frame="{}"), '"t": inf'),
        (FRAME.format(t="1e300", seq=1, frame="{}"), '"t": 1e+300'),
        ('{"t": 0, "dir": "in", oops\n', "not JSON"),
    ],
    ids=["deep", "deeper-than-64", "seq-inf", "t-inf", "t-1e300", "not-json"],
)
def test_check_capture_refuses_a_hostile_line_naming_it(
    tmp_path: Path, line: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _capture(tmp_path, FRAME.format(t=0, seq=1, frame='{"object": "HELLO"}'), line)
    code = main(["check-capture", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "line 3 " in err and problem in err, err  # one line, on stderr
    assert err.count("\n") == 1 and "Traceback" not in out + err
    # The simulator refuses to replay it, naming the same line.
    with pytest.raises(CaptureError, match=":3: .*" + problem.replace("+", "\\+")):
        Simulator(replay=path)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs")
@pytest.mark.timeout(60)
def test_check_capture_and_replay_refuse_a_fifo_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "capture.jsonl"
    os.mkfifo(fifo)
    outcome: list[object] = []

    def read() -> None:
        outcome.append(_capture_check.main(str(fifo), io.StringIO()))
        try:
            Simulator(replay=fifo)
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "reading a FIFO blocks"
    assert outcome[0] == 2 and "not a regular file" in str(outcome[1])


@pytest.mark.timeout(120)
def test_a_huge_capture_line_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    size = 6 * MAX_LINE_BYTES  # far beyond the cap: memory must stay near the cap
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        handle.write('{"t": 0, "dir": "in", "conn": "main", "seq": 1, "text": "')
        chunk = "x" * (1 << 20)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write('"}\n')
    for read in (
        lambda: _capture_check.main(str(path), io.StringIO()),
        lambda: Simulator(replay=path),
    ):
        tracemalloc.start()
        try:
            try:
                outcome: object = read()
            except CaptureError as exc:
                outcome = exc
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert outcome == 2 or isinstance(outcome, CaptureError), outcome
        assert "longer than" in str(outcome) or outcome == 2
        assert peak < 3 * MAX_LINE_BYTES, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.timeout(120)
def test_a_timer_due_absurdly_late_does_not_stop_the_simulators_timer() -> None:
    with Simulator(push_interval=None) as sim:  # no periodic wakeup to hide the long wait
        sim.delay_reply("GET_CHARGE_CARDS", 1e300)  # due long after the heat death
        with Client(DEFAULT_TOKEN, url=sim.url, timeout=30) as client:
            with pytest.raises(RequestTimeoutError):
                client.timeout = 0.5  # this one is never answered, by design
                client.get_charge_cards()
            client.timeout = 30
            sim.delay_reply("GET_CH_STATUS", 0.01)  # a delayed reply needs the timer thread
            evse = client.get_charge_points()[0].evse_id
            assert client.get_status(evse).evse_id == evse


# ======================================================= 7. a client kept alive by a handler

SDK_THREADS = ("bluecurrent-sync-reader", "bluecurrent-sync-dispatch")


def _sdk_threads(ignore: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in SDK_THREADS and t not in ignore]


class _Owner:
    """An application object that owns a client and handles its events with a method."""

    def __init__(self, url: str) -> None:
        self.client = _quiet_client(url).connect()
        self.seen = threading.Event()
        self.client.on("CH_STATUS", self.on_status)  # a bound method: refers to the client
        client = self.client
        self.client.on("GRID_STATUS", lambda _event: client.connected)  # a lambda using it

    def on_status(self, _event: object) -> None:
        self.seen.set()


@pytest.mark.timeout(60)
def test_a_client_referred_to_by_its_own_handlers_is_collected_and_closes() -> None:
    with ScriptedServer() as server:
        others = set(_sdk_threads(set()))
        owner = _Owner(server.url)
        conn = server.main
        server.push(ch_status("BCU-1"))
        assert owner.seen.wait(30), "the handler never ran"
        assert len(_sdk_threads(others)) == 2
        with pytest.warns(ResourceWarning, match="not closed"):
            del owner
            gc.collect()
        wait_until(lambda: _sdk_threads(others) == [], what="the client's threads end")
        wait_until(lambda: conn.ws.state.name == "CLOSED", what="the connection closed")


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
