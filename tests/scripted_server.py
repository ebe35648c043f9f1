"""A scripted websocket server for client tests: exact replies, order, errors and faults.

Built on ``websockets.sync.server`` and bound to 127.0.0.1 port 0. Token validation, GET_ACCOUNT
and HELLO are answered by default; every other command is passed to ``server.responder(conn,
frame)``, which may reply (``conn.send``), reply later, reply out of order, never reply, send
ERROR frames, close with a code, or cut the socket. Every command frame received is recorded.
With ``answer_statuses=True`` it answers GET_CH_STATUS for any evse_id itself (unless
``withhold`` is set), which is all the reliability fuzzing needs; ``push`` sends any payload,
including bytes as a TEXT frame (invalid UTF-8).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import ssl
import threading
import time
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
        self._lock = threading.Lock()  # the test thread and the server thread both send

    def send(self, frame: dict[str, Any] | str | bytes, *, text: bool | None = None) -> None:
        """Send a frame (a dict is JSON-encoded); errors from a closed peer are ignored.

        ``text=True`` sends bytes as a TEXT frame as they are (possibly invalid UTF-8).
        """
        payload = frame if isinstance(frame, (str, bytes)) else json.dumps(frame)
        with self._lock, contextlib.suppress(Exception):
            self.ws.send(payload, text=text)

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
        on_hello: Called with the connection after the HELLO reply (e.g. to drop it).
        reject_queue: Reject reasons used for the next handshakes, one each (HTTP 403),
            before ``reject_reason`` applies.
        issued_tokens: Server-issued tokens handed out by successive validations (the last
            one repeats); default ``[ISSUED_TOKEN]``.
        hello_times: ``time.monotonic()`` of every HELLO received.
        answer_statuses: Answer GET_CH_STATUS with :func:`status_frame` (before the responder).
        withhold: While set, GET_CH_STATUS is recorded but not answered.
        token_reply: When set, ``token_reply(issued_token)`` is the reply to a successful
            validation (a dict, or a str sent as it is) instead of STATUS_API_TOKEN.
        account_reply: When set, the reply to GET_ACCOUNT (a dict, or a str as it is).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        answer_statuses: bool = False,
    ) -> None:
        self.responder = responder
        self.answer_statuses = answer_statuses
        self.withhold = threading.Event()
        self.reject_reason: str | None = None
        self.validate_ok = True
        self.hello_reply: dict[str, Any] | None = {"object": "HELLO"}
        self.before_hello: list[dict[str, Any] | str | bytes] = []
        self.on_hello: Callable[[Conn], None] | None = None
        self.reject_queue: list[str] = []
        self.issued_tokens: list[str] = [ISSUED_TOKEN]
        self.token_reply: Callable[[str], dict[str, Any] | str] | None = None
        self.account_reply: dict[str, Any] | str | None = None
        self.validations = 0
        self.hello_times: list[float] = []
        self.frames: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []
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

    def wait_for(self, command: str, count: int = 1, timeout: float = 30.0) -> None:
        """Block until ``count`` ``command`` frames arrived and were answered.

        "Answered" means the default answer or ``responder(conn, frame)`` has returned, so
        whatever a responder records about a frame is there when this returns (a responder
        that blocks until the test acts must be waited for some other way). AssertionError
        on timeout.
        """

        def done() -> bool:
            return sum(1 for f in self.answered if f.get("command") == command) >= count

        with self._cond:
            ok = self._cond.wait_for(done, timeout)
        assert ok, f"{command} x{count} not answered within {timeout} s: {self.commands()}"

    def wait_for_hellos(self, count: int, timeout: float = 30.0) -> None:
        """Block until ``count`` connections have said HELLO."""
        self.wait_for("HELLO", count, timeout)

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

    def push(self, frame: dict[str, Any] | str | bytes, *, text: bool | None = None) -> None:
        """Send a frame on the current main connection.

        A dict is sent as JSON text, a str as text, bytes as a binary frame, or with
        ``text=True`` as a TEXT frame carrying those (possibly invalid UTF-8) bytes.
        """
        self.main.send(frame, text=text)

    def drop_all(self) -> None:
        """Cut every connection without a close frame."""
        with self._cond:
            conns = list(self.conns)
        for conn in conns:
            conn.drop()

    # -- serving ----------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._cond:
            self.handshakes += 1
            reason = self.reject_queue.pop(0) if self.reject_queue else self.reject_reason
        if reason is None:
            return None
        response = connection.respond(403, "Forbidden\n")
        response.headers["X-WebSocket-Reject-Reason"] = reason
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
                    self.hello_times.append(time.monotonic())
                with self._cond:
                    self.frames.append(frame)
                    self._cond.notify_all()
                try:
                    self._answer(conn, frame)
                finally:
                    with self._cond:
                        self.answered.append(frame)
                        self._cond.notify_all()
        except Exception:
            pass

    def _answer(self, conn: Conn, frame: dict[str, Any]) -> None:
        command = frame.get("command")
        if command == "VALIDATE_API_TOKEN":
            if self.validate_ok and frame.get("token") == GOOD_TOKEN:
                with self._cond:
                    token = self.issued_tokens[min(self.validations, len(self.issued_tokens) - 1)]
                    self.validations += 1
                if self.token_reply is not None:
                    conn.send(self.token_reply(token))
                    return
                conn.send(
                    {
                        "object": "STATUS_API_TOKEN",
                        "success": True,
                        "token": token,
                        "customer_id": CUSTOMER_ID,
                    }
                )
            else:
                conn.send({"object": "STATUS_API_TOKEN", "success": False, "error": ""})
        elif command == "GET_ACCOUNT" and self.account_reply is not None:
            conn.send(self.account_reply)
        elif command == "GET_ACCOUNT":
            conn.send({"object": "ACCOUNT", "login": "me@example.org", "full_name": "Me"})
        elif command == "HELLO":
            for frame_before in self.before_hello:
                conn.send(frame_before)
            if self.hello_reply is not None:
                conn.send(self.hello_reply)
            if self.on_hello is not None:
                self.on_hello(conn)
        elif command == "GET_CH_STATUS" and self.answer_statuses:
            if not self.withhold.is_set():
                conn.send(status_frame(str(frame.get("evse_id"))))
        elif self.responder is not None:
            self.responder(conn, frame)

    def stop(self) -> None:
        """Stop serving, cut every connection and join the server thread."""
        self._server.shutdown()
        self.drop_all()
        self._thread.join(30)

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


# ==================================================================== byte-level hostility
RawScript = Callable[["RawConn"], None]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawConn:
    """One accepted TCP connection of a :class:`RawServer`, driven byte by byte by a script.

    Speaks just enough websocket to misbehave: the script decides every byte the client sees.
    """

    def __init__(self, sock: socket.socket, server: RawServer) -> None:
        self.sock = sock
        self.server = server
        self._buf = b""
        self.request: dict[str, str] = {}

    # -- reading ----------------------------------------------------------------------
    def _recv_exact(self, size: int) -> bytes:
        while len(self._buf) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("client went away")
            self._buf += chunk
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def read_request(self) -> dict[str, str]:
        """Read the HTTP upgrade request; return its headers (lower-case) plus ``"line"``."""
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("client went away")
            self._buf += chunk
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {"line": lines[0]}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.request = headers
        with self.server.cond:
            self.server.requests.append(headers)
            self.server.cond.notify_all()
        return headers

    def read_frame(self) -> tuple[int, bytes]:
        """Read one (masked) client frame; return ``(opcode, unmasked payload)``."""
        b0, b1 = self._recv_exact(2)
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(self._recv_exact(2), "big")
        elif length == 127:
            length = int.from_bytes(self._recv_exact(8), "big")
        key = self._recv_exact(4) if b1 & 0x80 else b"\0\0\0\0"
        data = self._recv_exact(length)
        payload = bytes(byte ^ key[i % 4] for i, byte in enumerate(data))
        return b0 & 0x0F, payload

    def read_json(self) -> dict[str, Any]:
        """Read frames until a JSON text frame; record and return it."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                raise ConnectionResetError("client closed")
            if opcode == 0x1:
                frame: dict[str, Any] = json.loads(payload)
                with self.server.cond:
                    self.server.frames.append(frame)
                    self.server.cond.notify_all()
                return frame

    # -- writing ----------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        """Send exactly ``data``."""
        self.sock.sendall(data)

    def accept(self) -> None:
        """Answer the upgrade request with a valid 101."""
        key = self.request["sec-websocket-key"].encode("ascii")
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode("ascii")
        self.send_raw(self.upgrade_response(accept))

    @staticmethod
    def upgrade_response(accept: str) -> bytes:
        """The bytes of a valid 101 answer for ``accept``."""
        return (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode("ascii")

    def respond(self, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer the upgrade request with ``status`` (not an upgrade) and close."""
        lines = [f"HTTP/1.1 {status} Not Upgrading", "Content-Length: 0"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    @staticmethod
    def frame_header(length: int, opcode: int = 0x1, fin: bool = True) -> bytes:
        """An unmasked server frame header declaring ``length`` payload bytes."""
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            return bytes((first, length))
        if length < 1 << 16:
            return bytes((first, 126)) + length.to_bytes(2, "big")
        return bytes((first, 127)) + length.to_bytes(8, "big")

    def send_frame(self, payload: str | bytes | dict[str, Any], opcode: int = 0x1) -> None:
        """Send one whole unmasked frame (a dict is JSON-encoded)."""
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        self.send_raw(self.frame_header(len(data), opcode) + data)

    def serve_handshake(self) -> dict[str, Any] | None:
        """Accept the upgrade and read the first frame; answer a token validation like
        :class:`ScriptedServer` does. Returns the HELLO frame of a main connection, or None
        after a validation (the connection is then done)."""
        self.read_request()
        self.accept()
        frame = self.read_json()
        if frame.get("command") == "VALIDATE_API_TOKEN":
            ok = frame.get("token") == GOOD_TOKEN
            reply = {"object": "STATUS_API_TOKEN", "success": ok, "customer_id": CUSTOMER_ID}
            reply["token"] = ISSUED_TOKEN if ok else ""
            self.send_frame(reply)
            return None
        return frame

    def drip(self, data: bytes, interval: float) -> None:
        """Send ``data`` one byte at a time, ``interval`` seconds apart, until stopped."""
        for byte in data:
            if self.server.stopped.wait(interval):
                return
            self.send_raw(bytes((byte,)))


class RawServer:
    """A TCP server on 127.0.0.1 port 0 whose every connection runs ``script(conn)``.

    For hostility below the websocket layer: redirects, answers trickled a byte at a time,
    frame headers declaring absurd lengths, endless fragments. Each connection gets its own
    daemon thread; exceptions of a script (the client went away) end that connection only.

    Attributes:
        url: ``ws://127.0.0.1:<port>/haserver``.
        requests: Every upgrade request's headers, in order.
        frames: Every JSON frame read by ``read_json``, in order.
    """

    def __init__(self, script: RawScript) -> None:
        self.script = script
        self.requests: list[dict[str, str]] = []
        self.frames: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/haserver"
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._run, name="raw-accept", daemon=True)
        self._accept.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self.cond:
                self._sockets.append(sock)
            thread = threading.Thread(
                target=self._serve, args=(sock,), name="raw-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = RawConn(sock, self)
        with contextlib.suppress(Exception):
            self.script(conn)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` upgrade requests arrived."""
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"{count} upgrade requests not received within {timeout} s"

    def commands(self) -> list[str]:
        """The command names of every JSON frame read so far."""
        with self.cond:
            return [str(frame.get("command")) for frame in self.frames]

    def stop(self) -> None:
        """Close the listener and every connection; join the threads."""
        self.stopped.set()
        # Closing a listening socket does not wake a thread blocked in accept(); shutting it
        # down does (on Linux), so the accept thread ends now instead of at its join timeout.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self.cond:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
