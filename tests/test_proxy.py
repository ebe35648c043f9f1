"""Connecting through an HTTP proxy (a ``CONNECT`` tunnel), and which proxy applies.

:class:`TunnelProxy` is a small threaded CONNECT proxy on 127.0.0.1 port 0: it records each
request, then answers 200 and pipes bytes both ways, or refuses (407, 403), trickles its
answer a byte at a time, or never answers. The server behind it is the scripted server over
real sockets; nothing of the websocket is mocked.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import connect_outcome, in_thread, self_signed_cert
from scripted_server import GOOD_TOKEN, ISSUED_TOKEN, Conn, ScriptedServer, ch_status

from bluecurrent_sync._dial import Deadline, ProtocolViolation, ProxyRefused, _open_tunnel
from bluecurrent_sync._proxy import Proxy, choose_proxy, parse_proxy, proxy_from_environment
from bluecurrent_sync._url import validate_url
from bluecurrent_sync.cli import main
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ConnectionClosedError

SECRET = "s3cr:et@pw"  # percent-encoded in URLs below


class TunnelProxy:
    """A CONNECT proxy on 127.0.0.1 port 0 (see the module docstring).

    Args:
        mode: ``"ok"`` (200 and pipe), ``"refuse"`` (answer ``status`` and close),
            ``"trickle"`` (an answer whose headers never end, one byte per 50 ms),
            ``"silent"`` (read the request, never answer).
        status: The refusal's status.
        names: Host names the proxy resolves itself (name -> address), for targets the
            client must not resolve.

    Attributes:
        requests: Each CONNECT request: ``(request line, {header name lower-cased: value})``.
        got_request: Set when a request has been read.
        url: ``http://127.0.0.1:<port>``.
    """

    def __init__(
        self, mode: str = "ok", status: int = 200, names: dict[str, str] | None = None
    ) -> None:
        self.mode = mode
        self.status = status
        self.names = names or {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.got_request = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._accept = threading.Thread(target=self._run, name="test-proxy", daemon=True)
        self._accept.start()

    def __enter__(self) -> TunnelProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="test-proxy-conn", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(4096)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            with self._lock:
                self.requests.append((head[0], headers))
            self.got_request.set()
            if self.mode == "silent":
                self._stop.wait(120)
            elif self.mode == "trickle":
                for byte in b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100_000:
                    if self._stop.wait(0.05):
                        return
                    client.sendall(bytes([byte]))
            elif self.mode == "refuse":
                client.sendall(
                    f"HTTP/1.1 {self.status} No\r\nProxy-Authenticate: Basic realm=x\r\n"
                    "Content-Length: 0\r\n\r\n".encode("ascii")
                )
                client.shutdown(socket.SHUT_RDWR)
            else:
                host, _, port = head[0].split(" ")[1].rpartition(":")
                host = host.strip("[]")
                upstream = socket.create_connection((self.names.get(host, host), int(port)))
                self._keep(upstream)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._spawn(self._pump, upstream, client)
                self._pump(client, upstream)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)

    def stop(self) -> None:
        """Close every socket and join the threads."""
        self._stop.set()
        with contextlib.suppress(OSError):  # wakes the accept() (close() alone does not)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._accept.join(10)
        for thread in threads:
            thread.join(10)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.responder = _answer_status
        yield srv


def _answer_status(conn: Conn, frame: dict[str, Any]) -> None:
    conn.send(ch_status(frame["evse_id"]))


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


# -- through the tunnel -------------------------------------------------------------------


def test_ws_through_an_explicit_proxy(
    server: ScriptedServer, new_client: Callable[..., Client]
) -> None:
    with TunnelProxy() as proxy:
        client = new_client(GOOD_TOKEN, server.url, timeout=30.0, proxy=proxy.url)
        client.connect()
        assert client.get_status("BCU1").evse_id == "BCU1"
        target = f"127.0.0.1:{_port(server.url)}"
        # The short validation connection and the main one: both tunnelled.
        assert len(proxy.requests) == 2
        for line, headers in proxy.requests:
            assert line == f"CONNECT {target} HTTP/1.1"
            assert headers["host"] == target
            assert "proxy-authorization" not in headers
        client.close()


def test_credentials_go_in_proxy_authorization_and_nowhere_else(
    server: ScriptedServer,
    new_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with TunnelProxy() as proxy:
        url = f"http://us%40er:s3cr%3Aet%40pw@127.0.0.1:{proxy.port}/"
        client = new_client(GOOD_TOKEN, server.url, timeout=30.0, proxy=url)
        client.connect()
        expected = base64.b64encode(f"us@er:{SECRET}".encode()).decode("ascii")
        assert proxy.requests[0][1]["proxy-authorization"] == f"Basic {expected}"
        assert SECRET not in repr(client) and "s3cr" not in repr(client._conn.proxy)
        client.close()
    assert "s3cr" not in caplog.text and expected not in caplog.text


@pytest.fixture
def localhost_cert(tmp_path: Any) -> tuple[str, str]:
    """A self-signed certificate for the name ``localhost`` only (not 127.0.0.1)."""
    return self_signed_cert(tmp_path, "DNS:localhost")


def test_wss_through_the_tunnel_is_verified_against_the_server_name(
    localhost_cert: tuple[str, str], new_client: Callable[..., Client]
) -> None:
    # The proxy is 127.0.0.1, the server "localhost", and the certificate names only
    # "localhost": it verifies only if TLS checks the server's name through the tunnel.
    # The proxy resolves "localhost" (to 127.0.0.1, where the server listens).
    cert, key = localhost_cert
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    with (
        ScriptedServer(_answer_status, ssl_context=server_context) as tls_server,
        TunnelProxy(names={"localhost": "127.0.0.1"}) as proxy,
    ):
        url = tls_server.url.replace("127.0.0.1", "localhost")
        trusting = ssl.create_default_context(cafile=cert)
        client = new_client(
            GOOD_TOKEN, url, timeout=30.0, proxy=proxy.url, sslopt={"context": trusting}
        )
        client.connect()
        assert client.get_status("BCU1").evse_id == "BCU1"
        assert proxy.requests[0][0] == f"CONNECT localhost:{_port(url)} HTTP/1.1"
        client.close()
        # Without trusting the certificate, the verification through the tunnel fails.
        refused = new_client(GOOD_TOKEN, url, timeout=30.0, proxy=proxy.url)
        with pytest.raises(ConnectionClosedError, match="TLS error") as info:
            refused.connect()
        assert f"via the proxy 127.0.0.1:{proxy.port}" in str(info.value)


@pytest.mark.parametrize("status", [407, 403])
def test_a_refused_tunnel_is_a_clear_error_without_secrets(
    status: int, server: ScriptedServer, new_client: Callable[..., Client]
) -> None:
    with TunnelProxy("refuse", status) as proxy:
        url = f"http://user:s3cr%3Aet%40pw@127.0.0.1:{proxy.port}"
        client = new_client(GOOD_TOKEN, server.url, timeout=30.0, proxy=url)
        with pytest.raises(ConnectionClosedError) as info:
            client.connect()
    message = str(info.value)
    assert message.startswith(f"proxy 127.0.0.1:{proxy.port} refused the tunnel: HTTP {status}")
    assert "s3cr" not in message and "user" not in message.split("check the", maxsplit=1)[0]
    assert GOOD_TOKEN not in message
    assert server.validations == 0


@pytest.mark.parametrize("mode", ["trickle", "silent"])
def test_a_slow_proxy_cannot_stretch_connect(
    server: ScriptedServer, new_client: Callable[..., Client], mode: str
) -> None:
    # "trickle": an answer a byte at a time that never ends; "silent": no answer at all.
    with TunnelProxy(mode) as proxy:
        client = new_client(GOOD_TOKEN, server.url, proxy=proxy.url, connect_timeout=1.0)
        thread, out = in_thread(client.connect)
        error = connect_outcome(thread, out, "connect() waited for the proxy past its deadline")
    assert "timed out connecting" in str(error)
    assert f"via the proxy 127.0.0.1:{proxy.port}" in str(error)


def test_close_interrupts_a_connect_waiting_for_the_proxy(
    server: ScriptedServer, new_client: Callable[..., Client]
) -> None:
    with TunnelProxy("silent") as proxy:
        client = new_client(GOOD_TOKEN, server.url, proxy=proxy.url, connect_timeout=600.0)
        thread, out = in_thread(client.connect)
        assert proxy.got_request.wait(30)
        client.close()
        error = connect_outcome(thread, out, "close() did not interrupt the wait for the proxy")
    assert "closed while connecting" in str(error)


# -- which proxy: end to end ----------------------------------------------------------------


def test_an_environment_proxy_is_used_and_resolves_the_name(
    server: ScriptedServer, new_client: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name only the proxy knows: the client connects to the proxy and never resolves it.
    name = "bcs-proxy-test.invalid"
    with TunnelProxy(names={name: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        url = f"ws://{name}:{_port(server.url)}/haserver"
        client = new_client(GOOD_TOKEN, url, timeout=30.0, allow_insecure=True)
        client.connect()
        assert client.get_status("BCU1").evse_id == "BCU1"
        assert proxy.requests[0][0] == f"CONNECT {name}:{_port(server.url)} HTTP/1.1"
        client.close()


def test_loopback_servers_bypass_the_environment_proxy(
    server: ScriptedServer, new_client: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    with TunnelProxy("refuse", 403) as proxy:
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        client = new_client(GOOD_TOKEN, server.url, timeout=30.0)
        client.connect()
        assert client.connected and proxy.requests == []
        client.close()


def test_proxy_false_ignores_the_environment(
    server: ScriptedServer, new_client: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "bcs-proxy-test.invalid"
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # would refuse the connection
    monkeypatch.setenv("all_proxy", "not a proxy")  # would fail Client()
    client = new_client(
        GOOD_TOKEN, f"ws://{name}:1/haserver", allow_insecure=True, proxy=False, timeout=30.0
    )
    assert client._conn.proxy is None


# -- which proxy: the rules -------------------------------------------------------------


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Make the proxy-related environment exactly the given variables.

    The standard library reads ``os.environ`` itself (``getproxies_environment`` takes no
    mapping), so the rules are tested through the real environment, restored afterwards.
    """

    def use(env: dict[str, str]) -> None:
        for name in list(os.environ):
            if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return use


Environ = Callable[[dict[str, str]], None]


def _from(environ: Environ, url: str, env: dict[str, str]) -> Proxy | None:
    environ(env)
    return proxy_from_environment(url)


def test_the_variable_depends_on_the_scheme(environ: Environ) -> None:
    environ({"http_proxy": "http://plain:1", "https_proxy": "http://secure:2"})
    assert choose_proxy("ws://api.example/x", None) == Proxy("plain", 1)
    assert choose_proxy("wss://api.example/x", None) == Proxy("secure", 2)


def test_lower_case_first_then_upper_case_then_all_proxy(environ: Environ) -> None:
    url = "wss://api.example/x"
    env = {"HTTPS_PROXY": "http://upper:1", "all_proxy": "http://all:3"}
    assert _from(environ, url, env) == Proxy("upper", 1)
    env["https_proxy"] = "http://lower:2"
    assert _from(environ, url, env) == Proxy("lower", 2)
    assert _from(environ, url, {"ALL_PROXY": "http://all:3"}) == Proxy("all", 3)
    assert _from(environ, url, {"https_proxy": "", "all_proxy": "http://a:3"}) == Proxy("a", 3)
    assert _from(environ, url, {"http_proxy": "http://plain:1"}) is None
    # The standard library's rules: an empty lower-case variable turns the others off, and
    # any letter case of the name counts.
    assert _from(environ, url, {"https_proxy": "", "HTTPS_PROXY": "http://upper:1"}) is None
    assert _from(environ, url, {"Https_Proxy": "http://mixed:4"}) == Proxy("mixed", 4)


def test_a_blank_variable_falls_back_to_all_proxy(environ: Environ) -> None:
    env = {"https_proxy": "  ", "all_proxy": "http://all:3"}
    assert _from(environ, "wss://api.example/x", env) == Proxy("all", 3)


def test_upper_case_http_proxy_is_ignored_in_cgi(environ: Environ) -> None:
    env = {"HTTP_PROXY": "http://injected:1", "REQUEST_METHOD": "GET"}
    assert _from(environ, "ws://api.example/x", env) is None
    env["http_proxy"] = "http://mine:2"
    assert _from(environ, "ws://api.example/x", env) == Proxy("mine", 2)


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("*", True),
        ("example.com", True),
        (".example.com", True),
        ("*.example.com", False),  # urllib (like curl) knows no "*." pattern: "*" is alone
        ("other.org, EXAMPLE.com", True),
        ("api.example.com:443", True),
        ("api.example.com:8443", False),
        ("xample.com", False),
        ("pi.example.com", False),
        ("other.org", False),
        ("", False),
    ],
)
def test_no_proxy_names(environ: Environ, no_proxy: str, bypassed: bool) -> None:
    env = {"https_proxy": "http://proxy:3128", "no_proxy": no_proxy}
    got = _from(environ, "wss://api.example.com/haserver", env)
    assert (got is None) == bypassed


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("10.1.2.3", True),
        ("10.0.0.0/8", False),  # urllib compares names and addresses, it knows no CIDR
        ("10.1.2.3:80", True),
        ("10.9.9.9", False),
    ],
)
def test_no_proxy_addresses(environ: Environ, no_proxy: str, bypassed: bool) -> None:
    env = {"http_proxy": "http://proxy:3128", "NO_PROXY": no_proxy}
    got = _from(environ, "ws://10.1.2.3/haserver", env)
    assert (got is None) == bypassed


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [("[2001:db8::1]", True), ("[2001:db8::1]:443", True), ("[2001:db8::2]", False)],
)
def test_no_proxy_ipv6_addresses(environ: Environ, no_proxy: str, bypassed: bool) -> None:
    env = {"https_proxy": "http://proxy:3128", "no_proxy": no_proxy}
    got = _from(environ, "wss://[2001:db8::1]/haserver", env)
    assert (got is None) == bypassed


def test_a_trailing_dot_in_the_server_name_still_matches_no_proxy(environ: Environ) -> None:
    env = {"https_proxy": "http://proxy:3128", "no_proxy": "example.com"}
    assert _from(environ, "wss://api.example.com./haserver", env) is None


@pytest.mark.parametrize(
    "url", ["ws://localhost:8000/x", "ws://127.0.0.2/x", "ws://[::1]:9/x", "wss://LOCALHOST./x"]
)
def test_loopback_never_uses_the_environment(environ: Environ, url: str) -> None:
    env = dict.fromkeys(("http_proxy", "https_proxy", "all_proxy"), "http://proxy:3128")
    assert _from(environ, url, env) is None


@pytest.mark.parametrize("name", ["https_proxy", "HTTPS_PROXY", "Https_Proxy", "all_proxy"])
def test_a_malformed_value_names_its_variable(environ: Environ, name: str) -> None:
    environ({name: "socks5://user:s3cret@proxy:1080"})
    with pytest.raises(ValueError, match=f"environment variable {name}:") as info:
        proxy_from_environment("wss://api.example/x")
    assert "s3cret" not in str(info.value)


def test_an_explicit_proxy_wins_over_the_environment(environ: Environ) -> None:
    environ({"https_proxy": "http://env:1", "no_proxy": "*"})
    assert choose_proxy("wss://api.example/x", "http://mine:2") == Proxy("mine", 2)
    assert choose_proxy("ws://127.0.0.1:5/x", "http://mine:2") == Proxy("mine", 2)
    assert choose_proxy("wss://api.example/x", False) is None


def test_proxy_urls_that_are_accepted() -> None:
    assert parse_proxy("http://proxy.corp:3128") == Proxy("proxy.corp", 3128)
    assert parse_proxy("HTTP://proxy.corp:3128/") == Proxy("proxy.corp", 3128)
    assert parse_proxy("proxy.corp:3128") == Proxy("proxy.corp", 3128)  # curl's reading
    assert parse_proxy("http://proxy.corp") == Proxy("proxy.corp", 80)
    assert parse_proxy("http://[::1]:8080").display == "[::1]:8080"
    with_login = parse_proxy("http://a%20b:p%40ss@proxy:1")
    assert with_login.authorization() == "Basic " + base64.b64encode(b"a b:p@ss").decode()
    assert "p@ss" not in repr(with_login) and "with credentials" in repr(with_login)
    assert parse_proxy("http://user@proxy:1").authorization() == "Basic " + base64.b64encode(
        b"user:"
    ).decode("ascii")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "empty"),
        ("https://proxy:3128", "https:// proxies .* not supported"),
        ("socks5://proxy:1080", "SOCKS proxies are not supported"),
        ("ftp://proxy:21", "must be an http:// URL"),
        ("http://", "no valid host"),
        ("http://:3128", "no valid host"),
        ("http://bad_host!:1", "no valid host"),
        ("http://proxy:0", "invalid port"),
        ("http://proxy:65536", "invalid host or port"),
        ("http://proxy:port", "invalid host or port"),
        ("http://proxy:", "invalid port"),
        ("http://proxy :1", "spaces"),
        ("http://proxy:1/path", "without a path"),
        ("http://proxy:1?q", "without a path"),
    ],
)
def test_bad_proxy_values(value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_proxy(value)
    with pytest.raises(ValueError, match=match):
        Client(GOOD_TOKEN, proxy=value)


@pytest.mark.parametrize("host", ["bad_host!", "a..b", "-a.example", "x" * 64 + ".example"])
def test_the_server_url_and_the_proxy_refuse_the_same_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="invalid host name"):
        validate_url(f"wss://{host}/haserver", allow_insecure=False)
    with pytest.raises(ValueError, match="no valid host"):
        parse_proxy(f"http://{host}:3128")


@pytest.mark.parametrize(
    "host", ["bücher.example", "under_score.example", "10.0.0.1", "[2001:db8::1]", "a.example."]
)
def test_the_server_url_and_the_proxy_accept_the_same_hosts(host: str) -> None:
    validate_url(f"wss://{host}/haserver", allow_insecure=False)
    assert parse_proxy(f"http://{host}:3128").host == host.strip("[]")


@pytest.mark.parametrize(
    "value",
    [
        "https://user:s3cr%3Aet@proxy:1",
        "http://user:s3cret@pro xy:1",
        "http://user:s3cret@proxy:99999",
        "socks5://user:s3cret@proxy:1",
        "user:s3cret@proxy:1/x",
    ],
)
def test_bad_values_never_show_the_credentials(value: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_proxy(value)
    assert "s3cr" not in str(info.value) and "user" not in str(info.value)


@pytest.mark.parametrize("value", ["http://user:s3cret@proxy:abc", "http://user:s3cret@[proxy:1"])
def test_a_malformed_proxy_url_keeps_no_chained_exception(value: str) -> None:
    """A chained exception's traceback holds the URL (password included) in its frames."""
    with pytest.raises(ValueError, match="invalid host or port") as info:
        parse_proxy(value)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize("value", [True, 3128, b"http://proxy:1"])
def test_a_proxy_of_another_type_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="proxy must be"):
        Client(GOOD_TOKEN, proxy=value)


def test_a_malformed_environment_value_fails_at_construction_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5h://user:s3cret@proxy:1080")
    with pytest.raises(ValueError, match="environment variable HTTPS_PROXY") as info:
        Client(GOOD_TOKEN)  # the default wss:// server
    assert "s3cret" not in str(info.value)
    # Only the variable that applies is read: a plain ws:// URL uses http_proxy.
    Client(GOOD_TOKEN, url="ws://10.0.0.1/haserver", allow_insecure=True).close()
    # no_proxy (and loopback) turn it off before it is read; so does proxy=False.
    monkeypatch.setenv("no_proxy", "bluecurrent.nl")
    Client(GOOD_TOKEN).close()
    monkeypatch.delenv("no_proxy")
    Client(GOOD_TOKEN, proxy=False).close()


# -- command line ---------------------------------------------------------------------


def test_cli_bad_proxy_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--token", GOOD_TOKEN, "--proxy", "https://u:s3cret@proxy:1", "charge-points"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip().count("\n") == 0 and "--proxy" in err and "not supported" in err
    assert "s3cret" not in err + out


def test_cli_bad_environment_proxy_is_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy:99999")
    code = main(["--token", GOOD_TOKEN, "charge-points"])
    _out, err = capsys.readouterr()
    assert code == 2 and "https_proxy" in err
    # --no-proxy ignores it (then fails to connect to nothing: the port is closed).
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"ws://bcs-proxy-test.invalid:{closed.getsockname()[1]}/haserver"
    monkeypatch.setenv("http_proxy", "garbage:x")
    argv = ["--token", GOOD_TOKEN, "--url", url, "--allow-insecure", "--timeout", "5"]
    code = main([*argv, "--no-proxy", "charge-points"])
    closed.close()
    _out, err = capsys.readouterr()
    assert code != 2, err


def test_cli_goes_through_the_proxy(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with TunnelProxy() as proxy:
        argv = ["--token", GOOD_TOKEN, "--url", server.url, "--timeout", "30", "--json"]
        code = main([*argv, "--proxy", proxy.url, "status", "BCU1"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert '"BCU1"' in out
        assert len(proxy.requests) == 2


def test_the_issued_token_never_reaches_the_proxy_in_clear_headers(
    server: ScriptedServer, new_client: Callable[..., Client]
) -> None:
    with TunnelProxy() as proxy:
        client = new_client(GOOD_TOKEN, server.url, timeout=30.0, proxy=proxy.url)
        client.connect()
        client.close()
    for line, headers in proxy.requests:
        assert GOOD_TOKEN not in line + repr(headers)
        assert ISSUED_TOKEN not in line + repr(headers)


# -- the CONNECT exchange itself ------------------------------------------------------------


def _tunnel(answer: bytes, host: str = "api.example", port: int = 443) -> bytes:
    """Run ``_open_tunnel`` over a socket pair whose far end has ``answer`` queued."""
    near, far = socket.socketpair()
    with near, far:
        far.sendall(answer)
        _open_tunnel(near, host, port, Proxy("proxy", 3128), Deadline(30.0))
        far.settimeout(30.0)
        return far.recv(65536)


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("api.example", "api.example:443"),
        ("::1", "[::1]:443"),
        ("bücher.de", "xn--bcher-kva.de:443"),
    ],
)
def test_the_connect_request(host: str, target: str) -> None:
    sent = _tunnel(b"HTTP/1.0 200 Connection established\r\nVia: x\r\n\r\n", host)
    assert sent == f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", ProxyRefused, "HTTP 502"),
        (b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere/\r\n\r\n", ProxyRefused, "301"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ProtocolViolation, "no valid status line"),
        (b"HTTP/1.1 200 OK\r\n\r\nearly", ProtocolViolation, "bytes after its answer"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 20_000, ProtocolViolation, "too long"),
    ],
)
def test_answers_that_open_no_tunnel(answer: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _tunnel(answer)
