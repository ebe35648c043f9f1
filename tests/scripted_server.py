"""A scripted websocket server for client tests: exact replies, order, errors and faults.

Built on ``websockets.sync.server`` and bound to 127.0.0.1 port 0. Token validation, GET_ACCOUNT
and HELLO are answered by default; every other command is passed to ``server.responder(conn,
frame)``, which may reply (``conn.send``), reply later, reply out of order, never reply, send
ERROR frames, close with a code, or cut the socket. Every command frame received is recorded.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

GOOD_TOKEN = "user-api-token-SECRET-1234"
ISSUED_TOKEN = "server-issued-SECRET-5678"
CUSTOMER_ID = "CUST-7"

Responder = Callable[["Conn", dict[str, Any]], None]


class Conn:
    """One accepted connection, as a test script sees it."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.hello = False

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        """Send a frame (a dict is JSON-encoded); errors from a closed peer are ignored."""
        payload = frame if isinstance(frame, (str, bytes)) else json.dumps(frame)
        with contextlib.suppress(Exception):
            self.ws.send(payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close politely with ``code``."""
        with contextlib.suppress(Exception):
            self.ws.close(code, reason)

    def drop(self) -> None:
        """Cut the TCP connection without a close frame."""
        with contextlib.suppress(OSError):
            self.ws.socket.shutdown(socket.SHUT_RDWR)


class ScriptedServer:
    """A websocket server whose replies a test scripts.

    Attributes:
        frames: Every JSON command frame received, in order (all connections).
        responder: ``responder(conn, frame)`` for commands without a default answer.
        reject_reason: When set, every handshake is refused with HTTP 403 and this
            ``x-websocket-reject-reason``.
        validate_ok: Whether token validation succeeds for GOOD_TOKEN.
        hello_reply: The reply to HELLO (None = no reply).
        before_hello: Frames sent after HELLO arrives and before its reply.
    """

    def __init__(
        self, responder: Responder | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.responder = responder
        self.reject_reason: str | None = None
        self.validate_ok = True
        self.hello_reply: dict[str, Any] | None = {"object": "HELLO"}
        self.before_hello: list[dict[str, Any] | str | bytes] = []
        self.frames: list[dict[str, Any]] = []
        self.conns: list[Conn] = []
        self.handshakes = 0
        self._cond = threading.Condition()
        self._server: Server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            max_size=None,
            ssl=ssl_context,
        )
        port = self._server.socket.getsockname()[1]
        scheme = "wss" if ssl_context is not None else "ws"
        self.url = f"{scheme}://127.0.0.1:{port}/haserver"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-server", daemon=True
        )
        self._thread.start()

    # -- introspection ---------------------------------------------------------------
    def count(self, command: str) -> int:
        """How many ``command`` frames arrived."""
        with self._cond:
            return sum(1 for frame in self.frames if frame.get("command") == command)

    def wait_for(self, command: str, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` ``command`` frames arrived (AssertionError on timeout)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._count(command) >= count, timeout)
        assert ok, f"{command} x{count} not received within {timeout} s: {self.commands()}"

    def wait_for_hellos(self, count: int, timeout: float = 5.0) -> None:
        """Block until ``count`` connections have said HELLO."""
        self.wait_for("HELLO", count, timeout)

    def _count(self, command: str) -> int:
        return sum(1 for frame in self.frames if frame.get("command") == command)

    def commands(self) -> list[str]:
        """The command names received so far."""
        with self._cond:
            return [str(frame.get("command")) for frame in self.frames]

    @property
    def main(self) -> Conn:
        """The most recent connection that said HELLO."""
        with self._cond:
            mains = [conn for conn in self.conns if conn.hello]
        assert mains, "no main connection yet"
        return mains[-1]

    def push(self, frame: dict[str, Any] | str | bytes) -> None:
        """Send a frame on the current main connection."""
        self.main.send(frame)

    # -- serving ----------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._cond:
            self.handshakes += 1
        if self.reject_reason is None:
            return None
        response = connection.respond(403, "Forbidden\n")
        response.headers["X-WebSocket-Reject-Reason"] = self.reject_reason
        return response

    def _handle(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        with self._cond:
            self.conns.append(conn)
        try:
            for message in ws:
                try:
                    frame = json.loads(message)
                except ValueError:
                    continue
                if not isinstance(frame, dict):
                    continue
                if frame.get("command") == "HELLO":
                    conn.hello = True
                with self._cond:
                    self.frames.append(frame)
                    self._cond.notify_all()
                self._answer(conn, frame)
        except Exception:
            pass

    def _answer(self, conn: Conn, frame: dict[str, Any]) -> None:
        command = frame.get("command")
        if command == "VALIDATE_API_TOKEN":
            if self.validate_ok and frame.get("token") == GOOD_TOKEN:
                conn.send(
                    {
                        "object": "STATUS_API_TOKEN",
                        "success": True,
                        "token": ISSUED_TOKEN,
                        "customer_id": CUSTOMER_ID,
                    }
                )
            else:
                conn.send({"object": "STATUS_API_TOKEN", "success": False, "error": ""})
        elif command == "GET_ACCOUNT":
            conn.send({"object": "ACCOUNT", "login": "me@example.org", "full_name": "Me"})
        elif command == "HELLO":
            for frame_before in self.before_hello:
                conn.send(frame_before)
            if self.hello_reply is not None:
                conn.send(self.hello_reply)
        elif self.responder is not None:
            self.responder(conn, frame)

    def stop(self) -> None:
        """Stop serving, cut every connection and join the server thread."""
        self._server.shutdown()
        with self._cond:
            conns = list(self.conns)
        for conn in conns:
            conn.drop()
        self._thread.join(5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def ch_status(evse_id: str, **data: Any) -> dict[str, Any]:
    """A CH_STATUS frame for ``evse_id``."""
    body = {
        "evse_id": evse_id,
        "activity": "available",
        "actual_p1": 0,
        "actual_p2": 0,
        "actual_p3": 0,
        "actual_v1": 230,
        "actual_v2": 230,
        "actual_v3": 230,
        "vehicle_status": "A",
        **data,
    }
    return {"object": "CH_STATUS", "evse_id": evse_id, "data": body}


def status_reply(command: str, evse_id: str | None, success: bool = True, error: str = "") -> dict:
    """A ``STATUS_<command>`` result frame."""
    frame: dict[str, Any] = {
        "object": f"STATUS_{command}",
        "success": success,
        "flow_id": "",
        "result": {},
        "error": error,
    }
    if evse_id is not None:
        frame["evse_id"] = evse_id
    return frame


class FreezableProxy:
    """A TCP proxy on 127.0.0.1 port 0 whose current connections can be frozen.

    A frozen connection stays open but forwards nothing in either direction (a dead peer
    behind a NAT, say); connections made later are forwarded normally.
    """

    def __init__(self, target_url: str) -> None:
        host_port = target_url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        port_here = self._listener.getsockname()[1]
        self.url = target_url.replace(host_port, f"127.0.0.1:{port_here}")
        self._stop = threading.Event()
        self._frozen: list[threading.Event] = []
        self._sockets: list[socket.socket] = []
        self.bytes_up = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._run, name="proxy-accept", daemon=True)
        self._accept.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(self._target)
            frozen = threading.Event()
            with self._lock:
                self._frozen.append(frozen)
                self._sockets += [downstream, upstream]
            for src, dst, up in ((downstream, upstream, True), (upstream, downstream, False)):
                thread = threading.Thread(
                    target=self._pump, args=(src, dst, frozen, up), name="proxy-pump", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _pump(
        self, src: socket.socket, dst: socket.socket, frozen: threading.Event, up: bool
    ) -> None:
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            if frozen.is_set():
                continue
            if up:
                with self._lock:
                    self.bytes_up += len(data)
            with contextlib.suppress(OSError):
                dst.sendall(data)

    def freeze(self) -> None:
        """Freeze every connection open now."""
        with self._lock:
            for event in self._frozen:
                event.set()

    def stop(self) -> None:
        """Close everything and join the threads."""
        self._stop.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._accept.join(2)
        for thread in self._threads:
            thread.join(2)
