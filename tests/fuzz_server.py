"""A scripted websocket server for the reliability suites (tests/test_reliability.py).

It behaves like the real server for the handshake (VALIDATE_API_TOKEN on a short connection,
HELLO on the main one) and answers GET_CH_STATUS for any evse_id with a well-formed CH_STATUS,
unless told to withhold replies. A test can push ANY payload to the main connection: JSON
objects, arbitrary text, bytes as binary frames, and bytes as *text* frames (invalid UTF-8),
and it can cut every connection. Bound to 127.0.0.1 port 0; runs on ``websockets.sync``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve

TOKEN = "reliability-api-token"
ISSUED = "reliability-issued-token"
AUTH = f"Token {ISSUED}"


def status_frame(evse_id: str, kwh: float = 1.0) -> dict[str, Any]:
    """A well-formed CH_STATUS frame for ``evse_id``."""
    return {
        "object": "CH_STATUS",
        "evse_id": evse_id,
        "data": {
            "evse_id": evse_id,
            "actual_p1": 10,
            "actual_p2": 0,
            "actual_p3": 0,
            "actual_v1": 230,
            "actual_v2": 0,
            "actual_v3": 0,
            "actual_kwh": kwh,
            "activity": "charging",
            "max_usage": 16,
            "smartcharging_max_usage": 6,
            "max_offline": 8,
            "offline_since": "",
            "start_datetime": "20261124 01:00:00",
            "stop_datetime": "",
            "total_cost": 0.5,
            "vehicle_status": "C",
        },
    }


class FuzzServer:
    """The server. ``withhold`` (an Event) makes it swallow GET_CH_STATUS requests.

    Attributes:
        requests: Every GET_CH_STATUS frame received, in order.
        hellos: How many HELLO frames were received (one per (re)connect).
    """

    def __init__(self) -> None:
        self.withhold = threading.Event()
        #: Payloads sent on the main connection right before the HELLO reply.
        self.before_hello: list[str | bytes] = []
        self.requests: list[dict[str, Any]] = []
        self.hellos = 0
        self._cond = threading.Condition()
        self._main: ServerConnection | None = None
        self._conns: list[ServerConnection] = []
        self._send_lock = threading.Lock()
        self._server: Server = serve(
            self._handle, "127.0.0.1", 0, max_size=None, compression=None, ping_interval=None
        )
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/haserver"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fuzz-server", daemon=True
        )
        self._thread.start()

    # -- the test's side --------------------------------------------------------------
    def push(self, payload: dict[str, Any] | str | bytes, *, text: bool | None = None) -> None:
        """Send ``payload`` on the main connection.

        A dict is sent as JSON text, a str as text, bytes as a binary frame, or with
        ``text=True`` as a TEXT frame carrying those (possibly invalid UTF-8) bytes.
        """
        with self._cond:
            ws = self._main
        assert ws is not None, "no main connection"
        message = json.dumps(payload) if isinstance(payload, dict) else payload
        with self._send_lock:
            ws.send(message, text=text)

    def wait_requests(self, count: int, timeout: float = 5.0) -> None:
        """Block until ``count`` GET_CH_STATUS requests have arrived."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"only {len(self.requests)} of {count} requests within {timeout} s"

    def wait_hellos(self, count: int, timeout: float = 5.0) -> None:
        """Block until ``count`` HELLOs have arrived (in total)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self.hellos >= count, timeout)
        assert ok, f"only {self.hellos} of {count} HELLOs within {timeout} s"

    def drop_all(self) -> None:
        """Cut every connection without a close frame."""
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            with contextlib.suppress(OSError):
                ws.socket.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        self._server.shutdown()
        self.drop_all()
        self._thread.join(5)

    def __enter__(self) -> FuzzServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- serving ----------------------------------------------------------------------
    def _handle(self, ws: ServerConnection) -> None:
        with self._cond:
            self._conns.append(ws)
        try:
            for message in ws:
                try:
                    frame = json.loads(message)
                except ValueError:
                    continue
                if isinstance(frame, dict):
                    self._answer(ws, frame)
        except Exception:
            pass
        finally:
            with self._cond:
                self._conns.remove(ws)
                if self._main is ws:
                    self._main = None

    def _reply(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        with self._send_lock, contextlib.suppress(Exception):
            ws.send(json.dumps(frame))

    def _answer(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        command = frame.get("command")
        if command == "VALIDATE_API_TOKEN":
            ok = frame.get("token") == TOKEN
            reply: dict[str, Any] = {"object": "STATUS_API_TOKEN", "success": ok}
            reply.update({"token": ISSUED, "customer_id": "CUST-R"} if ok else {"error": ""})
            self._reply(ws, reply)
        elif frame.get("Authorization") != AUTH:
            self._reply(ws, {"object": "ERROR", "error": 1, "message": "Invalid Auth Token"})
        elif command == "HELLO":
            with self._cond:
                self._main = ws
                self.hellos += 1
                self._cond.notify_all()
            for payload in self.before_hello:
                with self._send_lock:
                    ws.send(payload)
            self._reply(ws, {"object": "HELLO"})
        elif command == "GET_CH_STATUS":
            with self._cond:
                self.requests.append(frame)
                self._cond.notify_all()
            if not self.withhold.is_set():
                self._reply(ws, status_frame(str(frame.get("evse_id"))))
        else:
            self._reply(ws, {"object": "ERROR", "error": 0, "message": "Unknown command"})
