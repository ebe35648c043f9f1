"""The frame cap, fitted into websocket-client at its ``frame_buffer`` seam.

websocket-client parses every frame (``websocket.frame_buffer``); a ``WebSocket``'s ``frame_buffer``
attribute may be replaced by a subclass, and `CappedFrameBuffer` is that subclass. It judges each
frame from its header and declared length, before any payload is read:

* a data frame whose message (the running total of its fragments, in bytes **and** in parts) would
  exceed the cap is not read into memory: its payload is discarded as it streams past (keeping the
  first `PREFIX_BYTES` so the caller can tell whose reply it was), and the rest of that message is
  discarded the same way; websocket-client then sees an empty frame, and `dropping` tells the reader
  to drop the message;
* RFC 6455 is enforced where websocket-client is lenient or late: a masked frame from the
  server (5.1), reserved bits (5.2), reserved opcodes 0x3-0x7 and 0xB-0xF (5.2), control
  frames over 125 bytes or fragmented (5.5), a continuation without a message or a new
  message inside a fragmented one (5.4) all fail the connection;
* every socket read can be refused after a point in time (`check_at`), so a reader judging liveness
  by complete frames is never held by a server dripping bytes;
* the bytes a socket read brings past the current frame are served by offset (`recv_strict`), not
  copied again for every header, length and payload as the library's own method does.

Partial frames survive a timeout (websocket-client keeps the header, length and the bytes
read so far; this class keeps how much of a discarded payload is left), so a timed-out read
may simply be retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from websocket import ABNF, WebSocketProtocolException, WebSocketTimeoutException, frame_buffer

__all__ = ["PREFIX_BYTES", "CappedFrameBuffer", "parts_cap"]

#: The first bytes of a dropped message kept to tell whose reply it was.
PREFIX_BYTES = 512

#: Bytes asked of the socket per read, at least (the frame buffer keeps what a frame does
#: not use) and at most (a declared length never sizes a buffer).
_READ_SIZE = 16 * 1024
_MAX_READ = 256 * 1024

_CONTROL = 0x8


def parts_cap(max_bytes: int) -> int:
    """How many frames one message may take: a message cut into tiny (or empty) fragments
    costs memory and time per part, whatever its bytes add up to."""
    return max(1024, max_bytes // 1024)


class CappedFrameBuffer(frame_buffer):
    """websocket-client's frame parser with the cap and the strict checks (see the module).

    Args:
        recv: The socket read function of the ``WebSocket`` (its former
            ``frame_buffer.recv``).
        max_bytes: The largest message accepted (bytes, all fragments together).
        max_parts: The most frames one message may take.

    Attributes:
        check_at: A ``time.monotonic()`` value after which no socket read is started
            (``WebSocketTimeoutException`` instead); None: no such point.
        dropping: Whether the message the last data frame belongs to is being dropped.
        message_size: Bytes the current (or last) message declared so far.
        prefix: The first bytes of a dropped message's discarded payload.
    """

    def __init__(self, recv: Callable[[int], bytes], max_bytes: int, max_parts: int) -> None:
        super().__init__(self._read, skip_utf8_validation=True)
        self._socket_recv = recv
        self.max_bytes = max_bytes
        self.max_parts = max_parts
        self.prefix_limit = PREFIX_BYTES
        self.check_at: float | None = None
        self.dropping = False
        self.message_size = 0
        self.prefix = bytearray()
        self._parts = 0
        self._in_message = False
        self._skip_left: int | None = None
        # Bytes read past the frame being parsed, served from ``_at`` on (see `recv_strict`).
        self._ahead = b""
        self._at = 0

    @property
    def buffered(self) -> bool:
        """Whether bytes already read wait to be parsed (a read needs no system call)."""
        return self._at < len(self._ahead) or bool(self.recv_buffer)

    def recv_strict(self, bufsize: int) -> bytes:
        """The next ``bufsize`` bytes (websocket-client reads every header, length and payload
        through this method).

        Bytes read ahead are served by offset. The library's own method copies all it holds
        past each read (up to a whole socket read, 16 KB, for every header, length and
        payload); it still reads the socket when the bytes ahead run short.
        """
        at = self._at
        end = at + bufsize
        ahead = self._ahead
        if end <= len(ahead):
            self._at = end
            return ahead[at:end]
        if at < len(ahead):
            # The library's list holds bytes only after a read that timed out, when nothing
            # is ahead: the rest goes in it alone, and the library reads on after it.
            self.recv_buffer = [ahead[at:]]
        self._ahead, self._at = b"", 0
        data: bytes = super().recv_strict(bufsize)  # a timeout keeps what it read so far
        if self.recv_buffer:  # what the library kept past this read
            self._ahead = b"".join(self.recv_buffer)
            self.recv_buffer = []
        return data

    def _read(self, size: int) -> bytes:
        """Read from the socket (more than asked: the frame buffer keeps the rest)."""
        if self.check_at is not None and time.monotonic() >= self.check_at:
            raise WebSocketTimeoutException("check time reached")
        return self._socket_recv(min(max(size, _READ_SIZE), _MAX_READ))

    def recv_header(self) -> None:
        """Read the two header bytes and refuse what RFC 6455 forbids a server to send."""
        super().recv_header()
        assert self.header is not None
        fin, rsv1, rsv2, rsv3, opcode, has_mask, _bits = self.header
        if has_mask:
            raise WebSocketProtocolException("a masked frame from the server (RFC 6455 5.1)")
        if rsv1 or rsv2 or rsv3:
            raise WebSocketProtocolException("reserved bits set, no extension was negotiated")
        if opcode not in ABNF.OPCODES:
            raise WebSocketProtocolException(f"reserved opcode {opcode:#x} (RFC 6455 5.2)")
        if opcode >= _CONTROL and not fin:
            raise WebSocketProtocolException("a fragmented control frame (RFC 6455 5.5)")

    def recv_length(self) -> None:
        """Read the declared length and decide, before any payload, whether to keep it."""
        if self._skip_left is None:
            super().recv_length()
            assert self.header is not None and self.length is not None
            if not self._admit(self.header[4], self.header[0], self.length):
                self._skip_left = self.length
                self.length = None  # stays "needed" until the payload is discarded
        if self._skip_left is not None:
            self._discard()
            self._skip_left = None
            self.length = 0  # websocket-client reads an empty payload

    def _admit(self, opcode: int, fin: int, length: int) -> bool:
        if opcode >= _CONTROL:
            if length > 125:
                raise WebSocketProtocolException("a control frame over 125 bytes (RFC 6455 5.5)")
            return True
        if opcode == ABNF.OPCODE_CONT:
            if not self._in_message:
                raise WebSocketProtocolException("a continuation frame without a message")
        else:
            if self._in_message:
                raise WebSocketProtocolException("a new message inside a fragmented one")
            self.dropping = False
            self.message_size = 0
            self._parts = 0
            self.prefix.clear()
        self._in_message = not fin
        self.message_size += length
        self._parts += 1
        if self.message_size > self.max_bytes or self._parts > self.max_parts:
            self.dropping = True
        return not self.dropping

    def _discard(self) -> None:
        """Discard ``_skip_left`` payload bytes, keeping the first ones of the message."""
        while self._skip_left:
            if self.buffered:
                chunk = self._ahead[self._at :] + b"".join(self.recv_buffer)
                self._ahead, self._at, self.recv_buffer = b"", 0, []
            else:
                chunk = self.recv(self._skip_left)
            if len(chunk) > self._skip_left:
                self._ahead, self._at = chunk, self._skip_left  # the next frame's bytes
                chunk = chunk[: self._skip_left]
            room = PREFIX_BYTES - len(self.prefix)
            if room > 0:
                self.prefix += chunk[:room]
            self._skip_left -= len(chunk)
