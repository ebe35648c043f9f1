"""Dialling: the socket a websocket runs over, produced under ONE deadline.

What websocket-client cannot do for us lives here: name resolution, TCP, an HTTP proxy's
``CONNECT`` tunnel and TLS, all bounded by one :class:`Deadline` (every step gets only the
time that is left, so neither a resolver that never answers, nor addresses that never accept,
nor a proxy trickling its answer can stretch it) and every step can be cut short from another
thread (``cancelled`` and ``register``). The socket :func:`dial` returns is handed to
websocket-client (``WebSocket.connect(url, socket=...)``), which does the HTTP upgrade and
all framing (``_transport.py``).

Nothing here knows websocket framing or the Blue Current protocol.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._lazy import LazyModule
from ._log import CONNECTION
from ._proxy import Proxy
from ._url import ascii_host

if TYPE_CHECKING:
    import ssl
else:  # ssl is imported when the first client is made
    ssl = LazyModule("ssl")

__all__ = [
    "Deadline",
    "ProtocolViolation",
    "ProxyRefused",
    "dial",
    "hard_close",
    "make_ssl_context",
]

logger = logging.getLogger(CONNECTION)

#: The proxy's answer to ``CONNECT`` (status line and headers) may not exceed this (bytes).
MAX_PROXY_ANSWER = 16 * 1024
_SSLOPT_KEYS = frozenset(
    {"context", "cert_reqs", "check_hostname", "ca_certs", "ca_cert_path", "certfile", "keyfile"}
)


class Deadline:
    """A point in time (monotonic) by which a whole operation must be done.

    Args:
        seconds: Time from now.
    """

    __slots__ = ("end",)

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.end - time.monotonic()

    def left(self) -> float:
        """Seconds left, at least a tiny positive amount (for socket timeouts).

        Raises:
            TimeoutError: The deadline has passed.
        """
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


class ProxyRefused(Exception):
    """The proxy answered the ``CONNECT`` request with a status other than 2xx.

    Attributes:
        status: The HTTP status code (407: the proxy wants credentials, or refused them).
    """

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class ProtocolViolation(Exception):
    """The server broke the websocket framing rules (the connection cannot continue)."""


def make_ssl_context(sslopt: dict[str, Any] | None) -> ssl.SSLContext:
    """Build the TLS context from websocket-client style ``sslopt`` options.

    Supported keys: ``context`` (used as is), ``cert_reqs``, ``check_hostname``, ``ca_certs``,
    ``ca_cert_path``, ``certfile``, ``keyfile``. Default: a verifying default context.

    Raises:
        ValueError: An unsupported key.
    """
    options = dict(sslopt or {})
    unknown = set(options) - _SSLOPT_KEYS
    if unknown:
        raise ValueError(f"unsupported sslopt keys: {', '.join(sorted(unknown))}")
    context = options.get("context")
    if context is not None:
        return context  # type: ignore[no-any-return]
    context = ssl.create_default_context(
        cafile=options.get("ca_certs"), capath=options.get("ca_cert_path")
    )
    if options.get("certfile"):
        context.load_cert_chain(options["certfile"], options.get("keyfile"))
    if "check_hostname" in options:
        context.check_hostname = bool(options["check_hostname"])
    if options.get("cert_reqs") is not None:
        if options["cert_reqs"] == ssl.CERT_NONE:
            context.check_hostname = False
        context.verify_mode = options["cert_reqs"]
    return context


#: How often a wait for the resolver looks at ``cancelled`` (seconds).
_RESOLVE_POLL = 0.05


class _Lookup:
    """One ``getaddrinfo`` call on its own daemon thread; callers wait for it with a deadline.

    The resolver cannot be interrupted, so a caller that gives up leaves the lookup running;
    the next caller asking for the same name joins it instead of starting another thread, so
    a resolver that hangs costs one thread per name, not one per reconnect attempt.
    """

    _running: dict[tuple[str, int], _Lookup] = {}
    _lock = threading.Lock()

    def __init__(self, host: str, port: int) -> None:
        self.key = (host, port)
        self.done = threading.Event()
        self.result: list[tuple[Any, ...]] = []
        self.error: OSError | None = None
        self.thread = threading.Thread(
            target=self._run, name="bluecurrent-sync-resolve", daemon=True
        )

    @classmethod
    def of(cls, host: str, port: int) -> _Lookup:
        """The running lookup of ``host:port``, or a new one (started)."""
        with cls._lock:
            lookup = cls._running.get((host, port))
            if lookup is None:
                lookup = cls._running[(host, port)] = cls(host, port)
                lookup.thread.start()
            return lookup

    def _run(self) -> None:
        try:
            self.result = socket.getaddrinfo(*self.key, type=socket.SOCK_STREAM)
        except OSError as exc:
            self.error = exc
        finally:
            with self._lock:
                self._running.pop(self.key, None)
            self.done.set()


def _resolve(
    host: str, port: int, deadline: Deadline, cancelled: threading.Event | None
) -> list[tuple[Any, ...]]:
    """The addresses of ``host:port`` (as ``getaddrinfo`` gives them), before ``deadline``.

    Raises:
        TimeoutError: The deadline passed first.
        InterruptedError: ``cancelled`` was set.
        OSError: The name does not resolve.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass  # a name: look it up below
    else:  # a literal address: nothing to look up, nothing to wait for
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    lookup = _Lookup.of(host, port)
    while not lookup.done.wait(min(_RESOLVE_POLL, deadline.left())):
        if cancelled is not None and cancelled.is_set():
            raise InterruptedError("cancelled while resolving the server's name")
    error = lookup.error
    if error is not None:  # one lookup may serve several connects: each gets its own error
        raise type(error)(*error.args) from error
    return lookup.result


def _connect_tcp(
    host: str,
    port: int,
    deadline: Deadline,
    register: Callable[[socket.socket | None], None],
    cancelled: threading.Event | None,
) -> socket.socket:
    """A TCP connection to the first address of ``host`` that accepts, before ``deadline``.

    Unlike ``socket.create_connection`` the addresses share the one deadline (instead of each
    getting the whole timeout), and each socket is registered before it connects, so another
    thread can cut a connect in progress.
    """
    error: OSError = TimeoutError("deadline passed")
    for family, kind, number, _name, address in _resolve(host, port, deadline, cancelled):
        if deadline.remaining() <= 0:
            break
        try:
            sock = socket.socket(family, kind, number)
        except OSError as exc:  # e.g. no IPv6 on this machine: try the next address
            error = exc
            continue
        try:
            register(sock)
            if cancelled is not None and cancelled.is_set():
                raise InterruptedError("cancelled while connecting")
            sock.settimeout(deadline.left())
            sock.connect(address)
            return sock
        except OSError as exc:  # TimeoutError and InterruptedError are OSErrors too
            register(None)
            hard_close(sock)
            if cancelled is not None and cancelled.is_set():
                raise InterruptedError("cancelled while connecting") from exc
            error = exc
    raise error


def dial(
    url: str,
    deadline: Deadline,
    *,
    ssl_context: ssl.SSLContext | None,
    register: Callable[[socket.socket | None], None],
    cancelled: threading.Event | None = None,
    proxy: Proxy | None = None,
) -> socket.socket:
    """Resolve, connect, open the proxy tunnel and do TLS for ``wss://``, before ``deadline``.

    Args:
        url: The ``ws://`` or ``wss://`` URL.
        deadline: Covers every step.
        ssl_context: For ``wss://``.
        register: Called with each socket as soon as it exists, before it connects (so
            another thread can shut it down to interrupt the dial).
        cancelled: Once set (by another thread), the dial ends with
            :class:`InterruptedError` at the next step; a wait for the resolver looks at it
            every 50 ms.
        proxy: An HTTP proxy: the TCP connection goes to it, and a ``CONNECT`` tunnel to
            the server is opened before TLS (verified against the server's name, not the
            proxy's). The server's name is resolved by the proxy.

    Returns:
        The connected socket (TLS done for ``wss://``), timeout left at the deadline's
        remainder, registered.

    Raises:
        TimeoutError: The deadline passed.
        InterruptedError: ``cancelled`` was set.
        ProxyRefused: The proxy answered the ``CONNECT`` with another status than 2xx.
        ProtocolViolation: The proxy's answer is not HTTP.
        OSError: A socket or TLS error (``ssl.SSLError`` is one).
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    if proxy is None:
        sock = _connect_tcp(host, port, deadline, register, cancelled)
    else:
        sock = _connect_tcp(proxy.host, proxy.port, deadline, register, cancelled)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if proxy is not None:
            _open_tunnel(sock, host, port, proxy, deadline)
        if secure:
            assert ssl_context is not None
            sock.settimeout(deadline.left())
            # CPython bounds the whole handshake by the timeout, not each read.
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
            register(sock)
        if cancelled is not None and cancelled.is_set():
            raise InterruptedError("cancelled while connecting")
        sock.settimeout(deadline.left())
        return sock
    except BaseException:
        register(None)
        hard_close(sock)
        raise


def _open_tunnel(
    sock: socket.socket, host: str, port: int, proxy: Proxy, deadline: Deadline
) -> None:
    """Ask the proxy on ``sock`` for a tunnel to ``host:port``; return once it is open.

    The answer is read with a size cap and every read bounded by ``deadline``, so a proxy
    trickling or withholding it cannot stretch the connect.

    Raises:
        ProxyRefused: A status other than 2xx.
        ProtocolViolation: Not an HTTP answer, too long, or bytes after it (nothing may
            come from the server before the client speaks).
    """
    # The proxy resolves the name: send it in its ASCII (IDNA) form.
    name = ascii_host(host) or host  # validated with the URL: never None here
    target = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    authorization = proxy.authorization()
    if authorization is not None:
        lines.append(f"Proxy-Authorization: {authorization}")
    request = "\r\n".join([*lines, "", ""])
    sock.settimeout(deadline.left())
    sock.sendall(request.encode("utf-8"))  # sendall's timeout bounds the whole call
    status, rest = _read_proxy_answer(sock, deadline)
    if not 200 <= status < 300:
        raise ProxyRefused(status)
    if rest:
        raise ProtocolViolation("the proxy sent bytes after its answer to CONNECT")
    logger.debug("tunnel to %s open through the proxy %s", target, proxy.display)


def _read_proxy_answer(sock: socket.socket, deadline: Deadline) -> tuple[int, bytes]:
    """Read the proxy's status line and headers (each read bounded by ``deadline``).

    Returns:
        The status code and any bytes read past the headers.
    """
    what = "the proxy's answer to CONNECT"
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(data) > MAX_PROXY_ANSWER:
            raise ProtocolViolation(f"{what} is too long")
        sock.settimeout(deadline.left())
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("the proxy closed the connection before answering")
        data += chunk
    head, rest = data[:end], data[end + 4 :]
    if len(head) > MAX_PROXY_ANSWER:
        raise ProtocolViolation(f"{what} is too long")
    fields = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ProtocolViolation(f"{what} has no valid status line")
    return int(fields[1]), rest


def hard_close(sock: socket.socket) -> None:
    """Shut ``sock`` down (waking any thread blocked on it) and close it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
