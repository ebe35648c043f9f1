"""The socket and the websocket framing (RFC 6455, client side), with nothing left to chance.

* :func:`open_websocket` does name resolution, TCP, TLS and the HTTP upgrade under ONE
  :class:`Deadline`: every step gets only the time that is left, so neither a resolver that
  never answers, nor addresses that never accept, nor a server trickling its answer a byte at
  a time can stretch it. Every step can be cut short from another thread (``cancelled`` and
  ``register``). Through an HTTP proxy (``proxy=``), the TCP connection goes to the proxy
  and a ``CONNECT`` tunnel to the server is asked for under the same deadline; TLS and the
  upgrade then run through the tunnel, TLS verified against the server's name. Redirects are
  refused: a 3xx answer to the upgrade
  raises :class:`UpgradeRefused` like any other refusal (the one place this is decided); the
  ``Location`` header is never followed nor shown.
* :class:`WebSocketStream` reads frames straight from its own read-ahead buffer. The frame-size
  cap is applied from the frame header, before any payload is read, and to the sum of a
  message's fragments: an over-size frame is skipped as it streams past (memory stays bounded
  whatever length the header declares). Fragments are joined once (linear time).
  ``last_progress`` moves only when a frame is complete, so liveness is judged by frames, not
  bytes.

Nothing here knows the Blue Current protocol; ``_connection.py`` builds on it.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._lazy import LazyModule
from ._log import CONNECTION
from ._proxy import Proxy

if TYPE_CHECKING:
    import ssl
else:  # ssl is imported when the first client is made
    ssl = LazyModule("ssl")

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_TEXT",
    "Deadline",
    "ProtocolViolation",
    "ProxyRefused",
    "UpgradeRefused",
    "WebSocketStream",
    "make_ssl_context",
    "open_websocket",
]

logger = logging.getLogger(CONNECTION)

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPS = (OP_TEXT, OP_BINARY)

#: The upgrade answer's status line and headers may not exceed this (bytes).
MAX_UPGRADE_RESPONSE = 16 * 1024
_RECV_SIZE = 256 * 1024
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
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


class UpgradeRefused(Exception):
    """The server answered the HTTP upgrade with a status other than 101.

    Attributes:
        status: The HTTP status code.
        headers: The response headers, names lower-cased.
    """

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers


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
    if lookup.error is not None:
        raise lookup.error
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
            _hard_close(sock)
            if cancelled is not None and cancelled.is_set():
                raise InterruptedError("cancelled while connecting") from None
            error = exc
    raise error


def open_websocket(
    url: str,
    deadline: Deadline,
    *,
    ssl_context: ssl.SSLContext | None,
    headers: list[str],
    max_frame_bytes: int,
    register: Callable[[socket.socket | None], None],
    cancelled: threading.Event | None = None,
    proxy: Proxy | None = None,
) -> WebSocketStream:
    """Resolve, connect, do TLS for ``wss://`` and the HTTP upgrade, all before ``deadline``.

    Args:
        url: The ``ws://`` or ``wss://`` URL.
        deadline: Covers every step.
        ssl_context: For ``wss://``.
        headers: Extra request header lines (``"Name: value"``).
        max_frame_bytes: The stream's frame-size cap.
        register: Called with each socket as soon as it exists, before it connects (so
            another thread can shut it down to interrupt the handshake), and with None when
            the handshake is over.
        cancelled: Once set (by another thread), the handshake ends with
            :class:`InterruptedError` at the next step; a wait for the resolver looks at it
            every 50 ms.
        proxy: An HTTP proxy: the TCP connection goes to it, and a ``CONNECT`` tunnel to
            the server is opened before TLS (verified against the server's name, not the
            proxy's) and the upgrade. The server's name is resolved by the proxy.

    Returns:
        The open stream (socket timeout left at the deadline's remainder).

    Raises:
        TimeoutError: The deadline passed.
        InterruptedError: ``cancelled`` was set.
        UpgradeRefused: The server answered with another status than 101 (redirects included).
        ProxyRefused: The proxy answered the ``CONNECT`` with another status than 2xx.
        ProtocolViolation: The upgrade answer is not a valid websocket acceptance (or the
            proxy's answer is not HTTP).
        OSError: A socket or TLS error (``ssl.SSLError`` is one).
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
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
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        host_header = host if ":" not in host else f"[{host}]"
        if parts.port is not None and parts.port != (443 if secure else 80):
            host_header = f"{host_header}:{parts.port}"
        request = "\r\n".join(
            [
                f"GET {resource} HTTP/1.1",
                f"Host: {host_header}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
                *headers,
                "",
                "",
            ]
        )
        sock.settimeout(deadline.left())
        sock.sendall(request.encode("latin-1"))  # sendall's timeout bounds the whole call
        status, response_headers, rest = _read_response_head(sock, deadline, "the server")
        if status != 101:
            raise UpgradeRefused(status, response_headers)
        import hashlib  # here, not at import: it loads OpenSSL (import time of the package)

        digest = hashlib.sha1(key.encode("ascii") + _GUID, usedforsecurity=False).digest()
        expected = base64.b64encode(digest)
        if (
            response_headers.get("upgrade", "").lower() != "websocket"
            or "upgrade" not in response_headers.get("connection", "").lower()
            or response_headers.get("sec-websocket-accept", "").encode("ascii", "replace")
            != expected
        ):
            raise ProtocolViolation("the server's upgrade answer is not a websocket acceptance")
        register(None)
        return WebSocketStream(sock, rest, max_frame_bytes)
    except BaseException:
        register(None)
        _hard_close(sock)
        raise


def _open_tunnel(
    sock: socket.socket, host: str, port: int, proxy: Proxy, deadline: Deadline
) -> None:
    """Ask the proxy on ``sock`` for a tunnel to ``host:port``; return once it is open.

    The answer is read with the upgrade answer's reader (size cap, every read bounded by
    ``deadline``), so a proxy trickling or withholding it cannot stretch the connect.

    Raises:
        ProxyRefused: A status other than 2xx.
        ProtocolViolation: Not an HTTP answer, too long, or bytes after it (nothing may
            come from the server before the client speaks).
    """
    if ":" in host:
        target = f"[{host}]:{port}"
    else:  # the proxy resolves the name: send it in its ASCII (IDNA) form
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
        target = f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    authorization = proxy.authorization()
    if authorization is not None:
        lines.append(f"Proxy-Authorization: {authorization}")
    request = "\r\n".join([*lines, "", ""])
    sock.settimeout(deadline.left())
    sock.sendall(request.encode("utf-8"))  # sendall's timeout bounds the whole call
    status, _headers, rest = _read_response_head(sock, deadline, "the proxy")
    if not 200 <= status < 300:
        raise ProxyRefused(status)
    if rest:
        raise ProtocolViolation("the proxy sent bytes after its answer to CONNECT")
    logger.debug("tunnel to %s open through the proxy %s", target, proxy.display)


def _read_response_head(
    sock: socket.socket, deadline: Deadline, who: str
) -> tuple[int, dict[str, str], bytes]:
    """Read the status line and headers, each read bounded by what is left of ``deadline``.

    Args:
        sock: The socket.
        deadline: Bounds every read.
        who: ``"the server"`` (the upgrade answer) or ``"the proxy"`` (its answer to
            ``CONNECT``), for the error messages.
    """
    what = f"{who}'s upgrade answer" if who == "the server" else f"{who}'s answer to CONNECT"
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(data) > MAX_UPGRADE_RESPONSE:
            raise ProtocolViolation(f"{what} is too long")
        sock.settimeout(deadline.left())
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError(f"{who} closed the connection before answering")
        data += chunk
    head, rest = data[:end], data[end + 4 :]
    if len(head) > MAX_UPGRADE_RESPONSE:
        raise ProtocolViolation(f"{what} is too long")
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ProtocolViolation(f"{what} has no valid status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(fields[1]), headers, rest


def _hard_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _mask(key: bytes, data: bytes) -> bytes:
    size = len(data)
    if not size:
        return data
    pad = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(size, "little")


class _MaskKeys:
    """Masking keys from one os.urandom() call per 1,024 frames instead of one per frame."""

    __slots__ = ("_pool",)

    def __init__(self) -> None:
        self._pool = b""

    def take(self) -> bytes:
        """Four random bytes (call under the send lock)."""
        if len(self._pool) < 4:
            self._pool = os.urandom(4096)
        key, self._pool = self._pool[:4], self._pool[4:]
        return key


class WebSocketStream:
    """One open websocket: frame reading with the size cap, masked frame writing.

    Reads happen on one thread at a time (the owner of the read role); writes are serialised
    by :attr:`send_lock`. A frame interrupted half-way (an exception inside a read) leaves the
    stream unusable; the owner must then close it (see ``broken``).

    Args:
        sock: The connected socket (TLS already done).
        buffered: Bytes read past the upgrade answer.
        max_frame_bytes: Data frames (or fragmented messages) larger than this are skipped.

    Attributes:
        last_progress: ``time.monotonic()`` when the last frame was completed.
        dropped: How many over-size messages were skipped.
    """

    def __init__(self, sock: socket.socket, buffered: bytes, max_frame_bytes: int) -> None:
        self.sock = sock
        self.max_frame_bytes = max_frame_bytes
        self.send_lock = threading.Lock()
        self.last_progress = time.monotonic()
        self.dropped = 0
        self.broken = False
        self._buf = bytearray(buffered)
        self._timeout: float | None = sock.gettimeout()
        self._fragments: list[bytes] | None = None
        self._fragment_op = OP_TEXT
        self._fragment_size = 0
        self._skip = 0  # payload bytes of an over-size frame still to discard
        self._skip_message = False  # discard continuation frames until FIN
        self._masks = _MaskKeys()
        #: Set by whoever sees the connection end first (the error pending calls get).
        self.end_error: Any = None
        # One poll object per thread (poll() may not be shared), keyed (thread, wakeable).
        self._polls: dict[tuple[int, bool], Any] = {}
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the reader thread's poll
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # -- readiness -------------------------------------------------------------------------
    def buffered(self) -> bool:
        """Whether bytes read from the socket wait in the buffer."""
        return bool(self._buf)

    def wake(self) -> None:
        """Wake a ``wait_readable(..., wakeable=True)`` (bytes were buffered by another thread)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def wait_readable(self, timeout: float | None, *, wakeable: bool = False) -> bool:
        """Wait until bytes are buffered or the socket is readable (EOF counts); no read.

        Args:
            timeout: Seconds (None: no limit).
            wakeable: Also return when :meth:`wake` is called (one waiter only: the reader
                thread).

        Returns:
            Whether something may be read now.
        """
        if self._buf or self._skip:
            return True
        pending = getattr(self.sock, "pending", None)
        if pending is not None and pending():
            return True
        key = (threading.get_ident(), wakeable)
        poller = self._polls.get(key)
        if poller is None:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            if wakeable:
                poller.register(self._wake_r, select.POLLIN)
            if len(self._polls) > 64:  # threads come and go: keep the cache bounded
                self._polls.clear()
            self._polls[key] = poller
        millis = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        try:
            ready = poller.poll(millis)
        except (OSError, ValueError):  # a closed socket: let the read report it
            return True
        if wakeable and ready:
            with contextlib.suppress(OSError):
                self._wake_r.recv(4096)
        return bool(ready)

    # -- reading ---------------------------------------------------------------------------
    def set_timeout(self, timeout: float | None) -> None:
        """Set the socket's read timeout (only touches the socket when it changes)."""
        if timeout != self._timeout:
            try:
                self.sock.settimeout(timeout)
            except OSError:  # closed meanwhile: the next read reports it
                return
            self._timeout = timeout

    def read_message(
        self, deadline: Deadline | None = None, check_at: float | None = None
    ) -> tuple[int, bytes]:
        """Return the next complete message: ``(OP_TEXT | OP_BINARY | OP_CLOSE, payload)``.

        Pings are answered and pongs absorbed here. Over-size messages are skipped and
        counted. Partial data stays buffered across a timeout, so a timed-out read may be
        retried.

        Args:
            deadline: When given, each socket read gets only what is left of it; otherwise
                the socket's current timeout applies to each read.
            check_at: A ``time.monotonic()`` value after which no further socket read is
                started (TimeoutError instead); the socket timeout is left alone. Lets the
                reader judge liveness even while bytes keep dripping in.

        Raises:
            TimeoutError: No complete message in time (``socket.timeout`` is one).
            ProtocolViolation: Broken framing.
            OSError: The socket failed or the peer closed it (``ConnectionResetError``).
        """
        buf = self._buf
        while True:
            if self._skip:
                self._discard(deadline, check_at)
                continue
            size = len(buf)
            if size < 2:
                self._fill(deadline, check_at)
                continue
            b0 = buf[0]
            b1 = buf[1]
            length = b1 & 0x7F
            header = 2
            if length == 126:
                header = 4
                if size < 4:
                    self._fill(deadline, check_at)
                    continue
                length = int.from_bytes(buf[2:4], "big")
            elif length == 127:
                header = 10
                if size < 10:
                    self._fill(deadline, check_at)
                    continue
                length = int.from_bytes(buf[2:10], "big")
            masked = b1 & 0x80
            if masked:
                header += 4
                if size < header:
                    self._fill(deadline, check_at)
                    continue
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if b0 & 0x70:
                raise self._violation("reserved bits set (no extension was negotiated)")
            if opcode >= 0x8:
                if length > 125 or not fin:
                    raise self._violation("over-long or fragmented control frame")
            elif opcode == OP_CONTINUATION:
                if self._skip_message:
                    self._start_skip(header, length, fin, count=False)
                    continue
                if self._fragments is None:
                    raise self._violation("continuation frame without a message")
                if self._fragment_size + length > self.max_frame_bytes:
                    self._fragments = None
                    self._start_skip(header, length, fin, count=True)
                    continue
            elif opcode in _DATA_OPS:
                if self._fragments is not None:
                    raise self._violation("new message inside a fragmented one")
                if length > self.max_frame_bytes:
                    self._start_skip(header, length, fin, count=True)
                    continue
            else:
                raise self._violation(f"unknown opcode {opcode}")
            end = header + length
            while len(buf) < end:
                self._fill(deadline, check_at)
            payload = bytes(buf[header:end])
            if masked:  # servers must not mask; tolerate it rather than drop the line
                payload = _mask(bytes(buf[header - 4 : header]), payload)
            del buf[:end]
            self.last_progress = time.monotonic()
            if opcode in _DATA_OPS:
                if fin:
                    return opcode, payload
                self._fragments = [payload]
                self._fragment_op = opcode
                self._fragment_size = length
            elif opcode == OP_CONTINUATION:
                assert self._fragments is not None
                self._fragments.append(payload)
                self._fragment_size += length
                if fin:
                    whole = b"".join(self._fragments)
                    self._fragments = None
                    return self._fragment_op, whole
            elif opcode == OP_CLOSE:
                return OP_CLOSE, payload
            elif opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
            # OP_PONG: progress only

    def _violation(self, what: str) -> ProtocolViolation:
        self.broken = True
        return ProtocolViolation(what)

    def _start_skip(self, header: int, length: int, fin: int, *, count: bool) -> None:
        if count:
            self.dropped += 1
            logger.warning(
                "dropped an incoming message over max_frame_bytes=%d (frame of %d bytes)",
                self.max_frame_bytes,
                length,
            )
        del self._buf[:header]
        self._skip = length
        self._skip_message = not fin
        if not length:
            self.last_progress = time.monotonic()

    def _discard(self, deadline: Deadline | None, check_at: float | None) -> None:
        buf = self._buf
        if buf:
            taken = min(self._skip, len(buf))
            del buf[:taken]
            self._skip -= taken
        else:
            self._fill(deadline, check_at)
            return
        if not self._skip:
            self.last_progress = time.monotonic()

    def _fill(self, deadline: Deadline | None, check_at: float | None) -> None:
        if deadline is not None:
            self.set_timeout(deadline.left())
        if check_at is not None and time.monotonic() >= check_at:
            raise TimeoutError("check time reached")
        data = self.sock.recv(_RECV_SIZE)
        if not data:
            raise ConnectionResetError("the server closed the socket")
        self._buf += data

    # -- writing ---------------------------------------------------------------------------
    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Send one masked frame (FIN set) under :attr:`send_lock`.

        Raises:
            OSError: The socket failed (a partial frame may have gone out: the stream is then
                marked ``broken``).
        """
        size = len(payload)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 1 << 16:
            header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
        with self.send_lock:
            key = self._masks.take()
            try:
                self.sock.sendall(header + key + _mask(key, payload))
            except BaseException:
                self.broken = True
                raise

    def send_text(self, text: str) -> None:
        """Send one text message (see :meth:`send_frame`)."""
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_close(self, code: int = 1000) -> None:
        """Send a close frame with ``code`` (best effort; errors are ignored)."""
        with contextlib.suppress(OSError):
            self.send_frame(OP_CLOSE, code.to_bytes(2, "big"))

    def abort(self) -> None:
        """Shut the socket down (waking any thread blocked on it) and close it; idempotent."""
        self.broken = True
        _hard_close(self.sock)
        self.wake()
        self._wake_w.close()
        self._wake_r.close()

    def forget(self) -> None:
        """Close this process's handle without shutting the connection down (after fork)."""
        self.broken = True
        with contextlib.suppress(OSError):
            os.close(self.sock.detach())
        for end in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(end.detach())
