"""Safe against a hostile server and a careless moment (issue 20): secrets, files, the terminal.

Each test writes its own hostile input (a scripted server, a file, a capture) and talks to a
real server on 127.0.0.1 over a real socket where a server is involved; waits are on events
with generous bounds, never on wall-clock speed.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from scripted_server import GOOD_TOKEN, ScriptedServer

from bluecurrent_sync.cli import EXIT_CONNECTION, EXIT_USAGE, main
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ApiError, ResponseValidationError

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
