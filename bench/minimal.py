"""The minimal client: the least any client with this SDK's guarantees does per call, written flat.

`make bench` times it beside the raw websocket-client loop and our ``get_status`` (the
sequential row). It is a lower bound for the design space, not a client: one function per
call, no layers, and only the bookkeeping a thread-safe client cannot do without:

* the request is counted against the daily budget under a lock;
* the waiter is registered under a lock before the frame goes out (a reply read by another
  thread must find it), in a table keyed by reply object and charge point, with its place in
  the send order (an ERROR names no request: it answers the oldest one);
* the frame is sent under the send lock;
* the caller takes the read role under a lock, reads, decodes (the SDK's decoder) and routes:
  the mirror stores the frame under its lock, the waiter is found and resolved under the
  table's lock;
* the reply is converted once, outside every lock (the SDK's converter).

Everything else a call of the SDK does is left out: argument checks, timeouts and deadlines
other than the socket's, taps (the wire log, the request meter's file), secret redaction,
shared identical reads, ERROR attribution itself, flow ids, subscribers, reconnecting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import websocket

from bluecurrent_sync import _protocol as proto
from bluecurrent_sync._convert import FrameDecoder, WireConverter

__all__ = ["MinimalClient"]


class _Waiter:
    __slots__ = ("frame",)

    def __init__(self) -> None:
        self.frame: dict[str, Any] | None = None


class MinimalClient:
    """``get_status`` over an open, greeted websocket-client connection (see the module).

    Args:
        ws: The connection (HELLO done).
        auth: The ``Authorization`` value of every command.
    """

    def __init__(self, ws: websocket.WebSocket, auth: str) -> None:
        self._ws = ws
        self._auth = auth
        self._decoder = FrameDecoder()
        self._converter = WireConverter()
        self._table_lock = threading.Lock()
        self._waiting: dict[tuple[str, str | None], deque[_Waiter]] = {}
        self._send_order: deque[_Waiter] = deque()
        self._meter_lock = threading.Lock()
        self._sent_today = 0
        self._budget = 10**9
        self._send_lock = threading.Lock()
        self._role_lock = threading.Lock()
        self._guest: int | None = None
        self._mirror_lock = threading.Lock()
        self._mirror: dict[str | None, tuple[dict[str, Any], float]] = {}

    def get_status(self, evse_id: str) -> Any:
        with self._meter_lock:
            if self._sent_today >= self._budget:
                raise RuntimeError("daily budget reached")
            self._sent_today += 1
        waiter = _Waiter()
        with self._table_lock:
            self._waiting.setdefault((proto.OBJ_CH_STATUS, evse_id), deque()).append(waiter)
            self._send_order.append(waiter)
        text = proto.encode(proto.command_frame(proto.GET_CH_STATUS, self._auth, evse_id=evse_id))
        with self._send_lock:
            self._ws.send(text)
        with self._role_lock:
            self._guest = threading.get_ident()
        try:
            while waiter.frame is None:
                reply: Any = self._ws.recv()  # str: a text frame
                self._route(self._decoder.decode(reply))
        finally:
            with self._role_lock:
                self._guest = None
        return self._converter.ch_status(waiter.frame)

    def _route(self, frame: dict[str, Any]) -> None:
        name: str = frame.get("object", "")
        evse_id: str | None = frame.get("evse_id")
        with self._mirror_lock:
            self._mirror[evse_id] = (frame, time.monotonic())
        with self._table_lock:
            queue = self._waiting.get((name, evse_id))
            if not queue:
                return
            waiter = queue.popleft()
            self._send_order.remove(waiter)
            waiter.frame = frame
