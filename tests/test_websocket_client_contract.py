"""The websocket-client behaviours the transport relies on, pinned one by one.

``_transport.py`` builds around websocket-client at its public seams; a release that changes
one of them must fail here, loudly, before it changes the client's guarantees. Each test talks
to a raw server on 127.0.0.1 over a real socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import websocket
from scripted_server import RawConn, RawServer

from bluecurrent_sync._frames import CappedFrameBuffer


def _upgraded(after: Any) -> Any:
    def script(conn: RawConn) -> None:
        conn.read_request()
        conn.accept()
        after(conn)

    return script


def _own_socket(server: RawServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


@pytest.mark.timeout(60)
def test_socket_seam_upgrades_on_the_socket_given_and_opens_no_other() -> None:
    with RawServer(_upgraded(lambda conn: conn.send_frame("hi"))) as server:
        sock = _own_socket(server)
        ws = websocket.WebSocket()
        ws.connect(server.url, socket=sock, timeout=30)
        try:
            assert ws.sock is sock
            assert ws.getstatus() == 101
            assert ws.recv() == "hi"
            assert len(server.requests) == 1
        finally:
            ws.shutdown()


@pytest.mark.timeout(60)
def test_redirect_limit_zero_follows_nothing_and_reports_the_status() -> None:
    elsewhere = socket.create_server(("127.0.0.1", 0))
    elsewhere.settimeout(0.5)
    location = f"ws://127.0.0.1:{elsewhere.getsockname()[1]}/other"

    def redirect(conn: RawConn) -> None:
        conn.read_request()
        conn.respond(302, {"Location": location})

    with RawServer(redirect) as server:
        ws = websocket.WebSocket()
        # 1.9 raises "Redirect limit exhausted"; older releases return connected.
        with contextlib.suppress(websocket.WebSocketException):
            ws.connect(server.url, socket=_own_socket(server), redirect_limit=0, timeout=30)
        assert ws.getstatus() == 302
        with pytest.raises(TimeoutError):
            elsewhere.accept()  # nothing went to the Location
    elsewhere.close()


@pytest.mark.timeout(60)
def test_other_refusals_raise_bad_status_with_the_code() -> None:
    def refuse(conn: RawConn) -> None:
        conn.read_request()
        conn.respond(403, {"X-Reason": "nope"})

    with RawServer(refuse) as server:
        ws = websocket.WebSocket()
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            ws.connect(server.url, socket=_own_socket(server), redirect_limit=0, timeout=30)
        assert caught.value.status_code == 403
        assert caught.value.resp_headers is not None
        assert caught.value.resp_headers["x-reason"] == "nope"


@pytest.mark.timeout(60)
def test_a_replaced_frame_buffer_judges_the_length_before_any_payload_is_read() -> None:
    sent = threading.Event()

    def huge(conn: RawConn) -> None:
        conn.send_raw(RawConn.frame_header(1 << 40) + b"x" * 1000)
        sent.set()
        conn.server.stopped.wait()

    seen: list[tuple[int, int | None]] = []

    class Spy(websocket.frame_buffer):  # type: ignore[misc]
        def recv_length(self) -> None:
            super().recv_length()
            seen.append((self.header[4], self.length))
            raise websocket.WebSocketProtocolException("refused by length")

    with RawServer(_upgraded(huge)) as server:
        ws = websocket.WebSocket()
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        ws.frame_buffer = Spy(ws.frame_buffer.recv, True)
        with pytest.raises(websocket.WebSocketProtocolException):
            ws.recv()
        assert seen == [(0x1, 1 << 40)]
        ws.shutdown()


@pytest.mark.timeout(60)
def test_a_partial_frame_survives_a_socket_timeout() -> None:
    frame = RawConn.frame_header(300) + b"y" * 300
    sent = [threading.Event(), threading.Event()]
    go_on = [threading.Event(), threading.Event()]

    def split(conn: RawConn) -> None:
        conn.send_raw(frame[:1])  # the header cut in two
        sent[0].set()
        go_on[0].wait(30)
        conn.send_raw(frame[1:150])  # the rest of the header, half the payload
        sent[1].set()
        go_on[1].wait(30)
        conn.send_raw(frame[150:])
        conn.server.stopped.wait()

    with RawServer(_upgraded(split)) as server:
        ws = websocket.WebSocket(skip_utf8_validation=True)
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        for part in range(2):
            assert sent[part].wait(30)
            ws.settimeout(0.2)
            with pytest.raises(websocket.WebSocketTimeoutException):
                ws.recv()
            go_on[part].set()
        ws.settimeout(30)
        assert ws.recv() == "y" * 300
        ws.shutdown()


@pytest.mark.timeout(60)
def test_fire_cont_frame_hands_out_each_fragment_with_its_fin_bit() -> None:
    def fragments(conn: RawConn) -> None:
        conn.send_raw(RawConn.frame_header(2, 0x1, fin=False) + b"ab")
        conn.send_raw(RawConn.frame_header(0, 0x0, fin=False))
        conn.send_raw(RawConn.frame_header(1, 0x0, fin=True) + b"c")
        conn.server.stopped.wait()

    with RawServer(_upgraded(fragments)) as server:
        ws = websocket.WebSocket(fire_cont_frame=True, skip_utf8_validation=True)
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        got = [ws.recv_data_frame(True) for _ in range(3)]
        assert [(op, frame.data, frame.fin) for op, frame in got] == [
            (0x1, b"ab", 0),
            (0x0, b"", 0),
            (0x0, b"c", 1),
        ]
        ws.shutdown()


@pytest.mark.timeout(60)
def test_frame_buffer_keeps_bytes_read_past_the_frame() -> None:
    """CappedFrameBuffer reads more than websocket-client asks for; the rest must be kept."""

    def two(conn: RawConn) -> None:
        conn.send_frame("first")
        conn.send_frame("second")
        conn.server.stopped.wait()

    with RawServer(_upgraded(two)) as server:
        ws = websocket.WebSocket(skip_utf8_validation=True)
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        reads: list[int] = []
        plain = ws.frame_buffer.recv

        def greedy(size: int) -> bytes:
            data: bytes = plain(65536)
            reads.append(len(data))
            return data

        ws.frame_buffer = websocket.frame_buffer(greedy, True)
        assert ws.recv() == "first"
        assert ws.recv() == "second"
        ws.shutdown()


def _two_frames(
    received: list[tuple[int, bytes]], got: threading.Event
) -> Callable[[RawConn], None]:
    """A server script that records the client's next two frames, then waits for the stop."""

    def script(conn: RawConn) -> None:
        received.append(conn.read_frame())
        received.append(conn.read_frame())
        got.set()
        conn.server.stopped.wait()

    return script


@pytest.mark.timeout(60)
def test_the_dispatcher_seam_carries_every_send() -> None:
    received: list[tuple[int, bytes]] = []
    got = threading.Event()
    echo = _two_frames(received, got)

    class Counting:
        def __init__(self) -> None:
            self.calls = 0

        def send(self, sock: socket.socket, data: bytes) -> int:
            self.calls += 1
            return sock.send(data)

    with RawServer(_upgraded(echo)) as server:
        counting = Counting()
        ws = websocket.WebSocket(dispatcher=counting)
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        ws.send("hello")
        ws.ping(b"")
        assert got.wait(30)
        assert received == [(0x1, b"hello"), (0x9, b"")]
        assert counting.calls >= 2
        ws.shutdown()


@pytest.mark.timeout(60)
def test_pings_are_answered_inside_recv_data_frame() -> None:
    pong: list[tuple[int, bytes]] = []
    got = threading.Event()

    def ping(conn: RawConn) -> None:
        conn.send_raw(RawConn.frame_header(4, 0x9) + b"beat")
        conn.send_frame("after")
        pong.append(conn.read_frame())
        got.set()
        conn.server.stopped.wait()

    with RawServer(_upgraded(ping)) as server:
        ws = websocket.WebSocket()
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        opcode, frame = ws.recv_data_frame(True)
        assert (opcode, frame.data) == (0x9, b"beat")
        assert got.wait(30)
        assert pong == [(0xA, b"beat")]
        ws.shutdown()


def test_capped_frame_buffer_is_a_frame_buffer() -> None:
    assert issubclass(CappedFrameBuffer, websocket.frame_buffer)
    assert hasattr(websocket.WebSocket(), "frame_buffer")


@pytest.mark.timeout(60)
def test_the_mask_key_seam_masks_every_frame_with_the_keys_given() -> None:
    received: list[tuple[int, bytes]] = []
    got = threading.Event()
    echo = _two_frames(received, got)

    asked: list[int] = []

    def keys(length: int) -> bytes:
        asked.append(length)
        return bytes([0x5A, 0xC3, 0x0F, len(asked)])

    with RawServer(_upgraded(echo)) as server:
        ws = websocket.WebSocket()
        ws.set_mask_key(keys)
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        ws.send("hello")
        ws.send("world")
        assert got.wait(30)
        assert received == [(0x1, b"hello"), (0x1, b"world")]  # unmasked right by the server
        assert asked == [4, 4]  # one key per frame, from our function
        ws.shutdown()


def test_mask_keys_are_slices_of_one_urandom_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from bluecurrent_sync import _transport

    calls: list[int] = []

    def counting_urandom(size: int) -> bytes:
        calls.append(size)
        return bytes((len(calls) * 7 + i) % 256 for i in range(size))

    monkeypatch.setattr(_transport.os, "urandom", counting_urandom)
    keys = _transport.MaskKeys()
    drawn = [keys(4) for _ in range(_transport.MaskKeys.BLOCK // 4 + 1)]
    assert all(len(key) == 4 for key in drawn)
    assert calls == [_transport.MaskKeys.BLOCK, _transport.MaskKeys.BLOCK]  # 1,025 keys
    first_block = bytes((7 + i) % 256 for i in range(_transport.MaskKeys.BLOCK))
    assert b"".join(drawn[:-1]) == first_block  # every byte used once, in order
    assert drawn[-1] == bytes((14 + i) % 256 for i in range(4))  # then a fresh block


def test_the_client_masks_its_frames_with_buffered_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from bluecurrent_sync import Client, _transport
    from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

    asked: list[int] = []
    draw = _transport.MaskKeys.__call__

    def counting(self: _transport.MaskKeys, length: int) -> bytes:
        asked.append(length)
        return draw(self, length)

    monkeypatch.setattr(_transport.MaskKeys, "__call__", counting)
    with Simulator() as sim, Client(DEFAULT_TOKEN, url=sim.url) as client:
        before = len(asked)
        client.get_status("BCU100001")
        assert len(asked) > before  # the request frame was masked with our key


def _one_frame(data: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of ``data``, which must be exactly one whole masked frame."""
    length, at = data[1] & 0x7F, 2
    if length == 126:
        length, at = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        length, at = int.from_bytes(data[2:10], "big"), 10
    assert data[1] & 0x80, "a client frame is masked"
    key, payload = data[at : at + 4], data[at + 4 :]
    assert len(payload) == length, "one whole frame per call, nothing more"
    return data[0] & 0x0F, bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


@pytest.mark.timeout(60)
def test_the_dispatcher_is_handed_each_frame_whole_in_one_call() -> None:
    """A send that reports all of ``data`` written gets one call per frame, the whole frame
    (framed and masked first): `_transport._BoundedSends` keeps a held thread's frames so."""
    calls: list[bytes] = []

    class Keeping:
        def send(self, _sock: socket.socket, data: bytes) -> int:
            calls.append(bytes(data))
            return len(data)

    with RawServer(_upgraded(lambda conn: conn.server.stopped.wait())) as server:
        ws = websocket.WebSocket(dispatcher=Keeping())
        ws.connect(server.url, socket=_own_socket(server), timeout=30)
        calls.clear()
        texts = ["a", "b" * 200, "c" * 70_000]
        for text in texts:
            ws.send(text)
        ws.ping(b"p")
        assert [_one_frame(call) for call in calls] == [
            *[(0x1, text.encode()) for text in texts],
            (0x9, b"p"),
        ]
        ws.shutdown()
