"""An in-memory `Transport`: the connection logic without sockets (httpx's
``MockTransport`` is the model).

Each opened `MemoryStream` hands every frame the client sends to ``respond(text, stream)``, which
answers by calling `MemoryStream.push()` (a text message) or `MemoryStream.push_close()`. Reads wait
on a queue. Nothing is framed or masked: this is the contract the connection relies on, not the
wire.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from ._transport import Deadline, Kind, Message, Stream, Transport

__all__ = ["MemoryStream", "MemoryTransport"]


class MemoryStream(Stream):
    """One in-memory stream (see the module).

    Args:
        respond: Called with each text the client sends, and the stream.
        url: The URL it was opened to.
    """

    def __init__(self, respond: Callable[[str, MemoryStream], None], url: str) -> None:
        self.url = url
        self.sent: list[str] = []
        self.last_progress = time.monotonic()
        self.dropped = 0
        self.broken = False
        self._respond = respond
        # Messages to read (None: aborted); the condition wakes a read or a ready() wait.
        self._incoming: collections.deque[Message | None] = collections.deque()
        self._arrived = threading.Condition(threading.Lock())

    def push(self, text: str) -> None:
        """Deliver ``text`` to the client as a text message."""
        data = text.encode("utf-8")
        self._put(Message(Kind.TEXT, data, len(data)))

    def _put(self, item: Message | None) -> None:
        with self._arrived:
            self._incoming.append(item)
            self._arrived.notify_all()

    def push_close(self, code: int = 1000) -> None:
        """Close the stream from the server's side with ``code``."""
        data = code.to_bytes(2, "big")
        self._put(Message(Kind.CLOSE, data, len(data)))

    def read(self, timeout: float | None, check_at: float | None = None) -> Message:
        if check_at is not None:
            left = check_at - time.monotonic()
            timeout = left if timeout is None else min(timeout, left)
        if self.broken:
            raise ConnectionResetError("the stream was aborted")
        with self._arrived:
            wait = None if timeout is None else max(0.0, timeout)
            if not self._arrived.wait_for(lambda: bool(self._incoming), wait):
                raise TimeoutError("nothing to read")
            message = self._incoming.popleft()
        if message is None:
            raise ConnectionResetError("the stream was aborted")
        self.last_progress = time.monotonic()
        return message

    def ready(self, timeout: float = 0.0) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: bool(self._incoming), max(0.0, timeout))

    def send_text(self, text: str, deadline: Deadline) -> None:
        if self.broken:
            raise ConnectionResetError("the stream was aborted")
        deadline.left()
        self.sent.append(text)
        self._respond(text, self)

    def ping(self, deadline: Deadline) -> None:
        self.push_pong()

    def push_pong(self) -> None:
        """Count as a complete control frame (the client's liveness sees progress)."""
        self.last_progress = time.monotonic()

    def send_close(self, deadline: Deadline) -> None:
        """Nothing to send in memory."""

    def abort(self) -> None:
        if not self.broken:
            self.broken = True
            self._put(None)

    def forget(self) -> None:
        self.broken = True


class MemoryTransport(Transport):
    """Opens `MemoryStream` objects answered by ``respond``.

    Args:
        respond: Called with each text the client sends, and the stream it came on.

    Attributes:
        streams: Every stream opened, in order.
    """

    def __init__(self, respond: Callable[[str, MemoryStream], None]) -> None:
        self._respond = respond
        self.streams: list[MemoryStream] = []
        self._lock = threading.Lock()

    def open(
        self,
        url: str,
        deadline: Deadline,
        *,
        register: Callable[[Any], None],
        cancelled: threading.Event | None = None,
    ) -> MemoryStream:
        deadline.left()
        if cancelled is not None and cancelled.is_set():
            raise InterruptedError("cancelled while connecting")
        stream = MemoryStream(self._respond, url)
        with self._lock:
            self.streams.append(stream)
        return stream
