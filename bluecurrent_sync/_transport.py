"""The transport: an interface, and its one production implementation on websocket-client.

The connection logic (``_connection.py``) talks to a `Transport` that opens `Stream` objects, never
to a socket or a websocket library (httpx's ``BaseTransport`` is the model).
`WebSocketClientTransport` is the implementation every client uses:

* `_dial.dial()` produces the socket under the connect deadline (name lookup, TCP, the proxy tunnel,
  TLS; cancellable);
* ``websocket.WebSocket.connect(url, socket=..., redirect_limit=0)`` does the HTTP upgrade on
  it, a watchdog cutting the socket at the deadline (websocket-client bounds each read, not
  the whole upgrade); anything but ``101 Switching Protocols`` is refused here (redirects
  included: nothing is sent anywhere else and the ``Location`` is never shown);
* websocket-client carries every frame from then on: framing, masking, answering pings, the close
  handshake. Its ``frame_buffer`` is replaced by `_frames.CappedFrameBuffer` (the size cap from the
  header, strict RFC 6455 checks) and its send seam (the ``dispatcher``'s ``send(sock, data)``)
  waits for room in the socket only until the current send's deadline, so a server that stops
  reading cannot hold a caller, the reader thread or ``close()`` past their budgets.

Fragments come out one by one (``fire_cont_frame=True``) and are joined once here: the
library's own joining copies the message again for every fragment. Liveness is by complete
messages and control frames (``last_progress``), never by fragments or bytes.

websocket-client's exceptions are mapped once, at this boundary, to ``TimeoutError``,
``ConnectionResetError`` (an ``OSError``), `ProtocolViolation` and `UpgradeRefused`, each raised
``from`` the library's exception.
"""

from __future__ import annotations

import abc
import bisect
import contextlib
import enum
import itertools
import logging
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._dial import Deadline, ProtocolViolation, ProxyRefused, dial, hard_close, make_ssl_context
from ._lazy import LazyModule
from ._log import CONNECTION
from ._proxy import Proxy

if TYPE_CHECKING:
    import ssl

    import websocket

    from ._frames import CappedFrameBuffer
else:  # websocket-client (and ssl with it) is imported when the first client connects
    websocket = LazyModule("websocket")

__all__ = [
    "Deadline",
    "Kind",
    "Message",
    "ProtocolViolation",
    "ProxyRefused",
    "Stream",
    "Transport",
    "UpgradeRefused",
    "WebSocketClientStream",
    "WebSocketClientTransport",
    "make_ssl_context",
]

logger = logging.getLogger(CONNECTION)

#: Seconds a send the library makes on its own (the answer to a ping, the echo of a close)
#: may wait for room in the socket.
CONTROL_SEND_BUDGET = 5.0
_USER_AGENT = "bluecurrent-sync"
#: The socket timeout of a read without a limit (the socket always has one: a blocking
#: socket would let a send to a server that reads nothing block past its deadline).
_LONG_WAIT = 3600.0


class Kind(enum.Enum):
    """What `Stream.read()` returns."""

    TEXT = "text"
    BINARY = "binary"
    CLOSE = "close"
    #: A message over the cap, dropped; ``data`` holds its first bytes, ``size`` its size.
    OVERSIZE = "oversize"


class Message(NamedTuple):
    """One complete incoming message."""

    kind: Kind
    data: bytes
    size: int


class UpgradeRefused(Exception):
    """The server answered the HTTP upgrade with a status other than 101.

    Attributes:
        status: The HTTP status code (0: no valid answer).
        headers: The response headers, names lower-cased.
    """

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers


class Stream(abc.ABC):
    """One open websocket, as the connection logic sees it.

    Reads happen on one thread at a time; sends may come from any thread (serialised inside).
    A send or read that fails half-way leaves the stream ``broken``; the owner then drops it.

    Attributes:
        last_progress: ``time.monotonic()`` when the last complete message or control frame
            arrived.
        dropped: How many over-size messages were dropped.
        broken: Whether the stream can no longer be used.
    """

    last_progress: float
    dropped: int
    broken: bool

    @abc.abstractmethod
    def read(self, timeout: float | None, check_at: float | None = None) -> Message:
        """The next complete message (pings are answered, pongs absorbed, inside).

        Args:
            timeout: Seconds each socket read may wait (None: no limit).
            check_at: A ``time.monotonic()`` value after which no socket read is started.

        Raises:
            TimeoutError: Nothing complete in time (partial data is kept: read again).
            ProtocolViolation: The server broke the framing rules.
            OSError: The connection failed or the server closed it.
        """

    @abc.abstractmethod
    def ready(self, timeout: float = 0.0) -> bool:
        """Whether bytes are there to read (a `read()` would not wait for the server to start
        sending), waiting up to ``timeout`` seconds for them. The wait reads nothing, so an
        interrupt inside it loses nothing."""

    @abc.abstractmethod
    def send_text(self, text: str, deadline: Deadline) -> None:
        """Send one text message before ``deadline``.

        Raises:
            TimeoutError: The deadline passed (waiting for the turn to send, or for room in
                the socket; a frame cut half-way leaves the stream broken).
            OSError: The connection failed.
        """

    def send_texts(
        self, texts: Sequence[str], deadline: Deadline, sent: Callable[[int], None]
    ) -> None:
        """Send ``texts`` as text messages, in order, before ``deadline``.

        ``sent(count)`` is called once, whatever happens, with how many went out whole: all
        of them, or the ones before a failure.

        Raises:
            As `send_text()`.
        """
        count = 0
        try:
            for text in texts:
                self.send_text(text, deadline)
                count += 1
        finally:
            sent(count)

    @abc.abstractmethod
    def ping(self, deadline: Deadline) -> None:
        """Send a ping (same errors as `send_text()`)."""

    @abc.abstractmethod
    def send_close(self, deadline: Deadline) -> None:
        """Send a close frame if that can be done before ``deadline`` (errors ignored)."""

    @abc.abstractmethod
    def abort(self) -> None:
        """End the stream now, waking any thread blocked on it (idempotent)."""

    @abc.abstractmethod
    def forget(self) -> None:
        """Drop this process's handle without touching the connection (after a fork)."""


class Transport(abc.ABC):
    """Opens streams to a URL."""

    @abc.abstractmethod
    def open(
        self,
        url: str,
        deadline: Deadline,
        *,
        register: Callable[[Any], None],
        cancelled: threading.Event | None = None,
    ) -> Stream:
        """Open a websocket to ``url``, all of it before ``deadline``.

        Args:
            url: The ``ws://`` or ``wss://`` URL.
            deadline: Covers every step.
            register: Called with an object whose ``shutdown(how)`` interrupts the connect
                from another thread (a socket), and with None when the connect is over.
            cancelled: Once set, the connect ends with `InterruptedError`.

        Raises:
            TimeoutError, InterruptedError, UpgradeRefused, ProxyRefused, ProtocolViolation,
            OSError (``ssl.SSLError`` is one).
        """


class _BoundedSends:
    """The send seam of websocket-client (a ``dispatcher``'s ``send(sock, data)``): each
    write waits for room in the socket only until the sending thread's deadline.

    A plain socket is written through a duplicate of it without a timeout: one system call
    when there is room. (A socket with a timeout polls before every write, so a write with
    the deadline's own poll in front took three.) Only when the socket is full does the
    write wait, on a poll bounded by the deadline. TLS sockets are written as they are.

    A thread may `hold()` its sends: the library frames and masks each message as usual and
    hands it here whole, and the frames are kept until the thread writes them all at once
    (`WebSocketClientStream.send_texts`): one system call for a batch, not one per frame.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        # One poll object per socket, made on the first send that waits for room.
        self._poller: tuple[int, select.poll] | None = None
        # The socket and its duplicate that never waits (`attach()`; plain sockets only),
        # closed with the stream (`close()`, `forget()`).
        self._direct: tuple[socket.socket, socket.socket] | None = None
        #: One writer at a time: the library's sends (each under the library's lock too)
        #: and the frames a thread held (written without that lock).
        self.writing = threading.Lock()

    def set_deadline(self, deadline: Deadline | None) -> None:
        """Bound the current thread's next sends by ``deadline``."""
        self._local.deadline = deadline

    def hold(self) -> list[bytes]:
        """Keep the current thread's sends, one entry per frame, until `release()`."""
        held: list[bytes] = []
        self._local.held = held
        return held

    def release(self) -> None:
        """Send the current thread's frames as they come again."""
        self._local.held = None

    def send(self, sock: socket.socket, data: bytes | str) -> int:
        """Write what fits of ``data`` once the socket has room; return the bytes written.

        A held thread's frame is kept whole instead (websocket-client hands over one whole
        frame per call and, told it was all written, makes no second call for it).
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(data)
            return len(data)
        # The thread's send deadline (`set_deadline()`); none: a send the library makes itself.
        deadline = getattr(self._local, "deadline", None) or Deadline(CONTROL_SEND_BUDGET)
        with self.writing:
            return self.write_some(sock, data, deadline)

    def write_some(self, sock: socket.socket, data: bytes | memoryview, deadline: Deadline) -> int:
        """Write what fits of ``data`` once the socket has room (hold `writing`)."""
        fd = sock.fileno()
        if fd < 0:  # closed meanwhile (close() on another thread)
            raise ConnectionResetError("the connection was closed")
        direct = self._direct
        # A timeout keeps the socket non-blocking underneath (the reader never clears it):
        # its duplicate writes what fits at once, never waiting.
        if direct is not None and direct[0] is sock and sock.gettimeout() is not None:
            try:
                return direct[1].send(data)
            except BlockingIOError:
                pass  # full: wait for room below, until the deadline
        if self._poller is None or self._poller[0] != fd:
            self._poller = (fd, select.poll())
            self._poller[1].register(fd, select.POLLOUT)
        if not self._poller[1].poll(max(1, int(deadline.left() * 1000))):
            raise TimeoutError("no room to send before the deadline")
        return sock.send(data)

    def attach(self, sock: socket.socket) -> None:
        """Write ``sock`` through a duplicate when it is a plain socket (not TLS). Called once,
        by the thread that opened it, before any other thread can close it."""
        if type(sock) is not socket.socket:
            return
        try:
            duplicate = sock.dup()
        except OSError as exc:  # out of descriptors, say: written as a TLS socket is
            logger.debug("sends go through the socket itself: %s", exc)
            return
        duplicate.settimeout(0.0)
        self._direct = (sock, duplicate)

    def close(self) -> None:
        """Close the duplicate (once the socket is shut down: a write on it fails)."""
        if self._direct is not None:
            self._direct[1].close()

    def forget(self) -> None:
        """Close the duplicate's descriptor without touching the connection (a forked child)."""
        if self._direct is not None:
            with contextlib.suppress(OSError):
                os.close(self._direct[1].detach())


class MaskKeys:
    """The mask keys of sent frames, drawn from ``os.urandom`` a block at a time.

    websocket-client asks ``os.urandom(4)`` per frame: a system call that also hands the GIL
    to the reader thread mid-send. Its ``set_mask_key`` seam takes this instead: the same
    strong entropy (RFC 6455 5.3), one system call per :data:`BLOCK` bytes. Thread-safe (the
    library answers pings from the reader thread while a caller sends).
    """

    #: Bytes drawn per system call (1,024 four-byte keys).
    BLOCK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def __call__(self, length: int) -> bytes:
        """Return ``length`` fresh random bytes (websocket-client asks for 4)."""
        with self._lock:
            end = self._at + length
            if end > len(self._pool):
                self._pool = os.urandom(max(self.BLOCK, length))
                self._at, end = 0, length
            key = self._pool[self._at : end]
            self._at = end
            return key


class WebSocketClientStream(Stream):
    """A `Stream` over a connected ``websocket.WebSocket`` (see the module)."""

    def __init__(self, ws: websocket.WebSocket, sends: _BoundedSends, buffer: CappedFrameBuffer):
        self.ws = ws
        assert ws.sock is not None
        self.sock: socket.socket = ws.sock
        self._sends = sends
        sends.attach(self.sock)
        self._buffer = buffer
        self._send_lock = threading.Lock()
        self._timeout: float | None = -1.0
        self._kind = Kind.TEXT
        self._parts: list[bytes] | None = None
        self.last_progress = time.monotonic()
        self.dropped = 0
        self.broken = False
        self._read_poller: tuple[int, select.poll] | None = None

    def read(self, timeout: float | None, check_at: float | None = None) -> Message:
        if timeout is None:  # never a blocking socket: a send must be able to give up
            timeout = _LONG_WAIT
        if timeout != self._timeout:
            with contextlib.suppress(OSError):
                self.sock.settimeout(timeout)
            self._timeout = timeout
        self._buffer.check_at = check_at
        while True:
            try:
                opcode, frame = self.ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException as exc:
                raise TimeoutError(str(exc)) from exc
            except websocket.WebSocketConnectionClosedException as exc:
                self.broken = True
                raise ConnectionResetError("the server closed the socket") from exc
            except websocket.WebSocketException as exc:
                self.broken = True
                raise ProtocolViolation(str(exc)) from exc
            except BaseException:  # OSError, or an interrupt half-way through a frame
                self.broken = True
                raise
            message = self._message(opcode, frame)
            if message is not None:
                return message

    def ready(self, timeout: float = 0.0) -> bool:
        if self._buffer.buffered:  # read ahead with an earlier frame: no system call
            return True
        pending = getattr(self.sock, "pending", None)  # TLS: bytes decrypted, not yet read
        if pending is not None and pending() > 0:
            return True
        fd = self.sock.fileno()
        if fd < 0:  # closed meanwhile: a read reports it
            return True
        # One poll object per socket (only the thread reading asks, one at a time).
        if self._read_poller is None or self._read_poller[0] != fd:
            self._read_poller = (fd, select.poll())
            self._read_poller[1].register(fd, select.POLLIN)
        return bool(self._read_poller[1].poll(math.ceil(max(0.0, timeout) * 1000)))

    def _message(self, opcode: int, frame: Any) -> Message | None:
        if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            self.last_progress = time.monotonic()
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.last_progress = time.monotonic()
            return Message(Kind.CLOSE, frame.data, len(frame.data))
        buffer = self._buffer
        if opcode != websocket.ABNF.OPCODE_CONT:
            self._kind = Kind.TEXT if opcode == websocket.ABNF.OPCODE_TEXT else Kind.BINARY
            self._parts = []
        if buffer.dropping:
            if self._parts is not None:  # fragments kept so far: the start of the message
                head = b"".join(self._parts)[: buffer.prefix_limit]
                buffer.prefix[:0] = head
                self._parts = None
            if not frame.fin:
                return None
            self.dropped += 1
            self.last_progress = time.monotonic()
            logger.warning(
                "dropped an incoming message of %d bytes over max_frame_bytes=%d "
                "(or in more than %d parts)",
                buffer.message_size,
                buffer.max_bytes,
                buffer.max_parts,
            )
            prefix = bytes(buffer.prefix[: buffer.prefix_limit])
            return Message(Kind.OVERSIZE, prefix, buffer.message_size)
        assert self._parts is not None
        self._parts.append(frame.data)
        if not frame.fin:
            return None
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = None
        self.last_progress = time.monotonic()
        return Message(self._kind, data, len(data))

    def _send(self, payload: bytes | str, opcode: int, deadline: Deadline) -> None:
        if not self._send_lock.acquire(timeout=max(0.0, deadline.remaining())):
            raise TimeoutError("another send holds the connection past the deadline")
        try:
            self._sends.set_deadline(deadline)
            self.ws.send(payload, opcode)
        except BaseException:  # a frame may be cut half-way: the stream cannot go on
            self.broken = True
            raise
        finally:
            self._sends.set_deadline(None)
            self._send_lock.release()

    def send_text(self, text: str, deadline: Deadline) -> None:
        try:
            self._send(text, websocket.ABNF.OPCODE_TEXT, deadline)
        except websocket.WebSocketException as exc:
            raise ConnectionResetError(str(exc)) from exc

    def send_texts(
        self, texts: Sequence[str], deadline: Deadline, sent: Callable[[int], None]
    ) -> None:
        """Send ``texts`` in one write when the socket takes it (see `_BoundedSends`)."""
        if len(texts) <= 1:
            super().send_texts(texts, deadline, sent)
            return
        ends: list[int] = []  # where each frame ends in the bytes written at once
        written = 0
        try:
            if not self._send_lock.acquire(timeout=max(0.0, deadline.remaining())):
                raise TimeoutError("another send holds the connection past the deadline")
            try:
                # Framed and masked by the library, one by one; kept here. An interrupt
                # meanwhile drops them all: nothing of them was written.
                held = self._sends.hold()
                try:
                    for text in texts:
                        self.ws.send(text, websocket.ABNF.OPCODE_TEXT)
                finally:
                    self._sends.release()
                ends = list(itertools.accumulate(map(len, held)))
                data = memoryview(b"".join(held))
                with self._sends.writing:
                    while written < len(data):
                        written += self._sends.write_some(self.sock, data[written:], deadline)
            except BaseException:
                if written and written not in ends:  # a frame cut half-way
                    self.broken = True
                raise
            finally:
                self._send_lock.release()
        except websocket.WebSocketException as exc:
            raise ConnectionResetError(str(exc)) from exc
        finally:
            sent(bisect.bisect_right(ends, written))

    def ping(self, deadline: Deadline) -> None:
        try:
            self._send(b"", websocket.ABNF.OPCODE_PING, deadline)
        except websocket.WebSocketException as exc:
            raise ConnectionResetError(str(exc)) from exc

    def send_close(self, deadline: Deadline) -> None:
        if not self.broken:
            with contextlib.suppress(Exception):
                self._send(b"\x03\xe8", websocket.ABNF.OPCODE_CLOSE, deadline)

    def abort(self) -> None:
        self.broken = True
        hard_close(self.sock)
        self._sends.close()

    def forget(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError):
            os.close(self.sock.detach())
        self._sends.forget()


class WebSocketClientTransport(Transport):
    """The production transport: `_dial.dial()` + websocket-client (see the module).

    Args:
        max_frame_bytes: The largest incoming message (all fragments together).
        ssl_context: For ``wss://`` URLs.
        proxy: The HTTP proxy to tunnel through (None: direct).
    """

    def __init__(
        self,
        max_frame_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.ssl_context = ssl_context
        self.proxy = proxy

    def open(
        self,
        url: str,
        deadline: Deadline,
        *,
        register: Callable[[Any], None],
        cancelled: threading.Event | None = None,
    ) -> WebSocketClientStream:
        sock = dial(
            url,
            deadline,
            ssl_context=self.ssl_context,
            register=register,
            cancelled=cancelled,
            proxy=self.proxy,
        )
        try:
            return self._upgrade(url, sock, deadline, cancelled)
        except BaseException:
            register(None)
            hard_close(sock)
            raise

    def _upgrade(
        self,
        url: str,
        sock: socket.socket,
        deadline: Deadline,
        cancelled: threading.Event | None,
    ) -> WebSocketClientStream:
        from ._frames import CappedFrameBuffer, parts_cap  # imports websocket-client

        sends = _BoundedSends()
        ws = websocket.WebSocket(
            skip_utf8_validation=True,
            fire_cont_frame=True,
            dispatcher=sends,  # type: ignore[arg-type]  # the seam calls send() only
        )
        buffer = CappedFrameBuffer(
            ws.frame_buffer.recv, self.max_frame_bytes, parts_cap(self.max_frame_bytes)
        )
        ws.frame_buffer = buffer
        ws.set_mask_key(MaskKeys())  # type: ignore[no-untyped-call]
        sends.set_deadline(deadline)
        # websocket-client bounds each read of the upgrade answer, not the whole of it.
        watchdog = threading.Timer(max(0.0, deadline.remaining()), _shutdown, (sock,))
        watchdog.daemon = True
        watchdog.start()
        try:
            ws.connect(  # type: ignore[no-untyped-call]
                url,
                socket=sock,
                redirect_limit=0,
                timeout=deadline.left(),
                header=[f"User-Agent: {_USER_AGENT}"],
                suppress_origin=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise UpgradeRefused(exc.status_code, _lower(exc.resp_headers)) from exc
        except (websocket.WebSocketException, OSError) as exc:
            status = ws.getstatus()
            if status is not None and status != 101:  # a redirect, not followed
                raise UpgradeRefused(status, _lower(ws.getheaders())) from exc
            if cancelled is not None and cancelled.is_set():
                raise InterruptedError("cancelled while connecting") from exc
            if deadline.remaining() <= 0:
                raise TimeoutError("deadline passed during the upgrade") from exc
            if isinstance(exc, OSError):
                raise
            raise ProtocolViolation(f"bad websocket upgrade: {exc}") from exc
        finally:
            watchdog.cancel()
            sends.set_deadline(None)
        status = ws.getstatus()
        if status != 101:  # a redirect answered while connected (older releases)
            raise UpgradeRefused(status or 0, _lower(ws.getheaders()))
        return WebSocketClientStream(ws, sends, buffer)


def _lower(headers: dict[str, str] | None) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (headers or {}).items()}


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
