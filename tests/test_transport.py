"""The transport on websocket-client: the defects of the 2026-12-04 review, each against a
real server on 127.0.0.1, and the connection logic over the in-memory transport.

Every wait has a generous upper bound that a fixed client returns long before; none of them
depends on the machine's speed.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket
from conftest import ctrl_c_while, in_thread, inside, wait_until
from scripted_server import (
    CUSTOMER_ID,
    GOOD_TOKEN,
    ISSUED_TOKEN,
    RawConn,
    RawServer,
    ch_status,
)

from bluecurrent_sync._connection import Connection
from bluecurrent_sync._convert import WireConverter
from bluecurrent_sync._dial import Deadline
from bluecurrent_sync._memory_transport import MemoryStream, MemoryTransport
from bluecurrent_sync._session import Backoff
from bluecurrent_sync._transport import WebSocketClientTransport
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    ReplyTooLarge,
    RequestTimeoutError,
)
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator


def _main(after_hello: Callable[[RawConn], None]) -> Callable[[RawConn], None]:
    def script(conn: RawConn) -> None:
        if conn.serve_handshake() is None:
            return
        conn.send_frame({"object": "HELLO"})
        after_hello(conn)

    return script


def _events(client: Client, name: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    client.on(name, lambda event: seen.append(dict(event.raw)))
    return seen


# -- memory and liveness from tiny fragments ----------------------------------------------
@pytest.mark.timeout(120)
def test_a_message_in_thousands_of_empty_fragments_is_dropped_by_its_part_count() -> None:
    """1 byte + 5,000 empty continuations: under the byte cap, over the parts cap."""
    after = threading.Event()
    texts: list[str] = []

    def fragments(conn: RawConn) -> None:
        data = RawConn.frame_header(1, 0x1, fin=False) + b"x"
        data += RawConn.frame_header(0, 0x0, fin=False) * 5000
        data += RawConn.frame_header(0, 0x0, fin=True)
        conn.send_raw(data)
        conn.send_frame(ch_status("BCU-AFTER"))
        conn.server.stopped.wait()

    with RawServer(_main(fragments)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=5.0, max_frame_bytes=1 << 20)
        client.on("CH_STATUS", lambda _event: after.set())
        client._conn._taps.add(_TextTap(texts))
        try:
            client.connect()
            assert after.wait(60), "the frame after the fragmented message was lost"
            assert client._conn.dropped_frames == 1
            assert "x" not in texts
        finally:
            client.close()


class _TextTap:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def frame(self, direction: str, text: str, kind: str) -> None:
        if direction == "in":
            self.texts.append(text)

    def connection_event(self, event: str, kind: str, detail: str) -> None:
        pass


@pytest.mark.timeout(120)
def test_endless_empty_fragments_keep_no_connection_alive() -> None:
    def endless(conn: RawConn) -> None:
        conn.send_raw(RawConn.frame_header(1, 0x1, fin=False) + b"x")
        empty = RawConn.frame_header(0, 0x0, fin=False) * 100
        while not conn.server.stopped.wait(0.01):
            conn.send_raw(empty)

    with RawServer(_main(endless)) as server:
        client = Client(
            GOOD_TOKEN, url=server.url, reconnect=False, ping_interval=0.5, ping_timeout=0.5
        )
        down = threading.Event()
        client.on("disconnected", lambda _event: down.set())
        try:
            client.connect()
            assert down.wait(60), "fragments of a message that never ends kept it alive"
        finally:
            client.close()


# -- sends against a server that stops reading ----------------------------------------------
def _in_send(thread: threading.Thread) -> bool:
    return inside(thread, "send", "_transport.py")


def _deaf(conn: RawConn) -> None:
    conn.server.stopped.wait()  # reads nothing more: the client's sends back up


_HUGE_ID = "B" * (24 << 20)  # far more than the socket buffers of both ends hold (~10 MB)


@pytest.mark.timeout(120)
def test_a_send_to_a_server_that_stops_reading_ends_at_the_call_timeout() -> None:
    with RawServer(_main(_deaf)) as server:
        client = Client(
            GOOD_TOKEN, url=server.url, timeout=2.0, ping_interval=None, reconnect=False
        )
        client.connect()
        try:
            thread, outcome = in_thread(lambda: client.get_status(_HUGE_ID))
            thread.join(60)  # generous: the call's timeout is 2 s; the old one never ended
            assert not thread.is_alive(), "the send outlived the call's timeout"
            assert isinstance(outcome[0], RequestTimeoutError), outcome
        finally:
            client.close()


@pytest.mark.timeout(120)
def test_close_ends_within_its_budget_while_a_send_is_stuck() -> None:
    with RawServer(_main(_deaf)) as server:
        client = Client(
            GOOD_TOKEN, url=server.url, timeout=600.0, ping_interval=None, reconnect=False
        )
        client.connect()
        sender, sent = in_thread(lambda: client.get_status(_HUGE_ID))
        wait_until(lambda: _in_send(sender), what="the send is blocked", timeout=60)
        closer, _ = in_thread(client.close)
        closer.join(60)  # close()'s budget is the client's timeout; a stuck send must not count
        sender.join(60)
        assert not closer.is_alive(), "close() waited for the stuck send"
        assert not sender.is_alive()
        assert isinstance(sent[0], BlueCurrentError), sent


@pytest.mark.timeout(600)  # a loaded machine: minutes, not seconds
def test_ctrl_c_inside_a_send_drops_the_stream_and_the_next_call_works() -> None:
    connections = []

    def script(conn: RawConn) -> None:
        if conn.serve_handshake() is None:
            return
        conn.send_frame({"object": "HELLO"})
        connections.append(conn)
        if len(connections) == 1:
            _deaf(conn)
            return
        while True:
            frame = conn.read_json()
            conn.send_frame(ch_status(frame["evse_id"]))

    with RawServer(script) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=600.0, ping_interval=None)
        client.connect()
        main = threading.main_thread()
        try:
            with (
                ctrl_c_while(lambda: _in_send(main), "the send is blocked"),
                pytest.raises(KeyboardInterrupt),
            ):
                client.get_status(_HUGE_ID)
            wait_until(lambda: len(connections) == 2, what="a fresh connection", timeout=60)
            wait_until(lambda: client.connected, what="connected again", timeout=60)
            client.timeout = 30.0
            assert client.get_status("BCU-1").evse_id == "BCU-1"
        finally:
            client.close()


# -- ERROR 1: re-validation off the caller's thread -----------------------------------------
@pytest.mark.timeout(120)
def test_error_1_revalidation_never_holds_a_caller() -> None:
    validations: list[int] = []

    def script(conn: RawConn) -> None:
        conn.read_request()
        conn.accept()
        frame = conn.read_json()
        if frame.get("command") == "VALIDATE_API_TOKEN":
            validations.append(1)
            if len(validations) > 1:
                conn.server.stopped.wait()  # the re-validation never gets an answer
                return
            reply = {"object": "STATUS_API_TOKEN", "success": True, "token": ISSUED_TOKEN}
            conn.send_frame({**reply, "customer_id": CUSTOMER_ID})
            return
        conn.send_frame({"object": "HELLO"})
        while True:
            conn.read_json()
            conn.send_frame({"object": "ERROR", "error": 1, "message": "Invalid Auth Token"})

    with RawServer(script) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=2.0, connect_timeout=600.0)
        client.connect()
        try:
            first, first_out = in_thread(lambda: client.get_status("BCU-1"))
            first.join(60)  # the old client ran the re-validation (600 s) on this thread
            assert not first.is_alive(), "the caller ran the re-validation"
            assert isinstance(first_out[0], InvalidApiToken), first_out
            wait_until(lambda: len(validations) == 2, what="re-validation started")
            second, second_out = in_thread(lambda: client.get_status("BCU-2"))
            second.join(60)
            assert not second.is_alive(), "a call waited for the re-validation"
            assert isinstance(second_out[0], ConnectionClosedError), second_out
        finally:
            closer, _ = in_thread(client.close)
            closer.join(60)
            assert not closer.is_alive(), "close() did not interrupt the re-validation"


# -- strict framing --------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "frame",
    [
        bytes((0x81, 0x80 | 2)) + b"\x01\x02\x03\x04" + b"hi",  # masked server frame
        bytes((0x8B, 0)),  # reserved control opcode 0xB
        bytes((0x8F, 0)),  # reserved control opcode 0xF
        bytes((0x83, 0)),  # reserved data opcode 0x3
    ],
    ids=["masked", "opcode-0xB", "opcode-0xF", "opcode-0x3"],
)
def test_frames_rfc_6455_forbids_fail_the_connection(frame: bytes) -> None:
    def send(conn: RawConn) -> None:
        conn.send_raw(frame)
        conn.server.stopped.wait()

    with RawServer(_main(send)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=5.0, reconnect=False)
        down = _events(client, "disconnected")
        try:
            client.connect()
            wait_until(lambda: bool(down), what="the connection failed", timeout=30)
            assert client.state == "failed"
        finally:
            client.close()


# -- over-size replies ----------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_an_over_size_reply_fails_its_call_at_once_naming_size_and_option() -> None:
    def big(conn: RawConn) -> None:
        while True:
            frame = conn.read_json()
            payload = json.dumps(
                {"object": "CH_STATUS", "data": {"evse_id": frame["evse_id"], "pad": "x" * 5000}}
            )
            conn.send_frame(payload)

    with RawServer(_main(big)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=600.0, max_frame_bytes=4096)
        client.connect()
        try:
            thread, outcome = in_thread(lambda: client.get_status("BCU-7"))
            thread.join(60)  # the call's timeout is 600 s: only an immediate failure ends it
            assert not thread.is_alive(), "the over-size reply was left to time out"
            error = outcome[0]
            assert isinstance(error, ReplyTooLarge), outcome
            assert error.limit == 4096 and error.size > 5000
            assert "max_frame_bytes" in str(error) and "BCU-7" in str(error)
        finally:
            client.close()


@pytest.mark.timeout(300)
def test_charge_points_of_a_large_account_convert_with_the_default_options() -> None:
    """A 6 MB CHARGE_POINTS (10,000 charge points) over a real socket, default options."""
    from frames import CHARGE_POINT_ITEM

    points = [{**CHARGE_POINT_ITEM, "evse_id": f"BCU{i:06d}"} for i in range(10_000)]
    payload = json.dumps({"object": "CHARGE_POINTS", "data": points})
    assert len(payload) > 6_000_000

    def account(conn: RawConn) -> None:
        while True:
            conn.read_json()
            conn.send_frame(payload)

    with RawServer(_main(account)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=120.0)
        client.connect()
        try:
            charge_points = client.get_charge_points()
        finally:
            client.close()
    assert len(charge_points) == 10_000
    assert charge_points[-1].evse_id == "BCU009999"


# -- every frame goes through websocket-client --------------------------------------------
@pytest.fixture
def counted() -> Iterator[dict[str, int]]:
    counts = {"sent": 0, "received": 0}
    send = websocket.WebSocket.send
    recv = websocket.WebSocket.recv_data_frame

    def counting_send(self: websocket.WebSocket, payload: Any, opcode: int = 0x1) -> int:
        if opcode == websocket.ABNF.OPCODE_TEXT:
            counts["sent"] += 1
        return send(self, payload, opcode)

    def counting_recv(self: websocket.WebSocket, control_frame: bool = False) -> Any:
        opcode, frame = recv(self, control_frame)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            counts["received"] += 1
        return opcode, frame

    websocket.WebSocket.send = counting_send  # type: ignore[method-assign]
    websocket.WebSocket.recv_data_frame = counting_recv  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        websocket.WebSocket.send = send  # type: ignore[method-assign]
        websocket.WebSocket.recv_data_frame = recv  # type: ignore[method-assign]


@pytest.mark.timeout(120)
def test_every_frame_of_a_session_passes_through_websocket_client(
    counted: dict[str, int],
) -> None:
    sim = Simulator(push_interval=None).start()
    try:
        client = Client(DEFAULT_TOKEN, url=sim.url, timeout=10.0).connect()
        try:
            for evse_id in ("BCU100001", "BCU100004"):
                client.get_status(evse_id)
            client.get_charge_points()
        finally:
            client.close()
        sim.wait_for_connections(0)
        assert counted["sent"] == len(sim.received()) > 0
        assert counted["received"] == len(sim.sent()) > 0
    finally:
        sim.stop()


# -- the connection logic over the in-memory transport ---------------------------------------
def _memory_server(text: str, stream: MemoryStream) -> None:
    frame = json.loads(text)
    command = frame.get("command")
    if command == "VALIDATE_API_TOKEN":
        stream.push(
            json.dumps(
                {
                    "object": "STATUS_API_TOKEN",
                    "success": True,
                    "token": ISSUED_TOKEN,
                    "customer_id": CUSTOMER_ID,
                }
            )
        )
    elif command == "HELLO":
        stream.push(json.dumps({"object": "HELLO"}))
    else:
        stream.push(json.dumps(ch_status(frame.get("evse_id", "?"))))


def test_the_connection_runs_over_the_in_memory_transport() -> None:
    transport = MemoryTransport(_memory_server)
    frames: list[str] = []
    downs: list[tuple[BlueCurrentError, bool]] = []
    conn = Connection(
        GOOD_TOKEN,
        "ws://memory/haserver",
        WireConverter(),
        on_frame=frames.append,  # type: ignore[arg-type]
        on_down=lambda error, again: downs.append((error, again)),
        on_up=lambda: None,
        timeout=10.0,
        reconnect=True,
        backoff=Backoff(0.01, 0.02),
        max_frame_bytes=1 << 20,
        transport=transport,
    )
    conn.open()
    try:
        assert conn.customer_id == CUSTOMER_ID
        assert [json.loads(s.sent[0])["command"] for s in transport.streams] == [
            "VALIDATE_API_TOKEN",
            "HELLO",
        ]
        conn.send_each("GET_CH_STATUS", [{"evse_id": "BCU-1"}])
        wait_until(lambda: len(frames) == 1, what="the reply routed")
        assert json.loads(frames[0])["data"]["evse_id"] == "BCU-1"
        transport.streams[1].push_close(4000)
        wait_until(lambda: len(transport.streams) == 3 and conn.connected, what="reconnected")
        assert downs and downs[0][1] is True
    finally:
        conn.close()
    assert conn.state.value == "closed"


# -- fork: one hook for every lock ------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_child_forked_while_every_lock_is_held_never_hangs(tmp_path: Any) -> None:
    """Fork while another thread holds the connection's, mirror's, meter's and recorder's
    locks (what a reader thread routing a push, or a caller counting a request, does)."""
    import os
    import warnings

    def answer(conn: RawConn) -> None:
        while True:
            frame = conn.read_json()
            conn.send_frame(ch_status(frame["evse_id"]))

    with RawServer(_main(answer)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=10.0, record=tmp_path / "cap.jsonl")
        client.connect()
        assert client.get_status("BCU-1").evse_id == "BCU-1"
        locks = [
            client._conn._send_lock,
            client._mirror._cond,
            client._meter._lock,
            client._recorder._lock,  # type: ignore[union-attr]
        ]
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            for lock in locks:
                lock.acquire()
            held.set()
            release.wait(60)
            for lock in reversed(locks):
                lock.release()

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert held.wait(30)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                pid = os.fork()
            if pid == 0:  # the child: report through the exit code only
                code = 0
                for call in (
                    lambda: client.last_status("BCU-1"),
                    lambda: client.get_status("BCU-1"),
                ):
                    try:
                        call()
                        code = 1
                    except ClientStateError:
                        pass
                    except BaseException:
                        code = 2
                try:
                    client.requests_today  # noqa: B018
                    client.close()
                except BaseException:
                    code = 3
                os._exit(code)
            end = time.monotonic() + 60
            status = None
            while time.monotonic() < end:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                release.wait(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung on a lock held at the fork")
            assert status is not None and os.waitstatus_to_exitcode(status) == 0
        finally:
            release.set()
            holder.join(30)
            client.close()


# -- every failed reconnect attempt is reported ------------------------------------------------
@pytest.mark.timeout(120)
def test_each_failed_reconnect_attempt_emits_a_disconnected_event() -> None:
    up = threading.Event()

    def script(conn: RawConn) -> None:
        if up.is_set():  # once the first session ended: every attempt is refused
            conn.read_request()
            conn.respond(503)
            return
        if conn.serve_handshake() is None:
            return
        conn.send_frame({"object": "HELLO"})
        up.set()
        conn.sock.shutdown(2)

    with RawServer(script) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=5.0, reconnect_delay=(0.01, 0.02))
        events = _events(client, "disconnected")
        try:
            client.connect()
            wait_until(lambda: len(server.requests) >= 2 + 4, what="four failed attempts")
            wait_until(lambda: len(events) >= 1 + 4, what="one event per failed attempt")
            assert all(event["reconnecting"] for event in events)
        finally:
            client.close()


def test_a_send_on_a_socket_closed_by_another_thread_is_a_connection_error() -> None:
    # close() on another thread may close the socket between two sends (the re-validation
    # thread died of a bare ValueError from poll() on fd -1 in a loaded run): a send then
    # fails as a lost connection, which every caller of the stream already handles.
    with Simulator(push_interval=None) as sim:
        transport = WebSocketClientTransport(max_frame_bytes=1 << 20, ssl_context=None)
        stream = transport.open(sim.url, Deadline(30), register=lambda _sock: None)
        stream.sock.close()  # what close() does to a stream another thread still sends on
        with pytest.raises(ConnectionResetError):
            stream.send_text('{"command": "HELLO"}', Deadline(30))
