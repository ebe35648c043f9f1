"""The transport's decisions, one rule at a time: fast enough for ``make mutation``.

* the frame cap and the RFC 6455 checks of ``_frames.CappedFrameBuffer`` and the over-size
  messages of ``_transport.WebSocketClientStream``, over the real transport (``dial`` +
  websocket-client) to a raw server on 127.0.0.1 that sends exactly the bytes a test gives;
* the keepalive rule of ``_liveness.Liveness`` and the state machine and reconnect policy of
  ``_session.Session``, which own no socket: they read ``time.monotonic`` through their
  module, and a test that needs an exact instant gives them a clock it moves by hand.

Every read has a generous upper bound that a correct client returns long before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import random
import socket
import threading
import time
import types
from collections.abc import Iterator
from typing import cast

import pytest
import websocket
from conftest import in_thread
from scripted_server import RawConn, RawServer

from bluecurrent_sync import _clock, _frames, _liveness
from bluecurrent_sync import _session as session_module
from bluecurrent_sync._dial import Deadline, ProtocolViolation
from bluecurrent_sync._frames import PREFIX_BYTES, parts_cap
from bluecurrent_sync._liveness import Liveness, Verdict
from bluecurrent_sync._session import (
    ALREADY_CONNECTED_ATTEMPTS,
    STABLE_AFTER,
    Backoff,
    Session,
    State,
)
from bluecurrent_sync._transport import (
    Kind,
    Message,
    UpgradeRefused,
    WebSocketClientStream,
    WebSocketClientTransport,
)
from bluecurrent_sync._wire import error_for_close, error_for_rejection
from bluecurrent_sync.errors import (
    AlreadyConnected,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
)

LONG = 30.0  # an upper bound no correct read comes near


def frame(
    payload: bytes = b"", opcode: int = 0x1, fin: bool = True, first: int | None = None
) -> bytes:
    """One unmasked server frame (``first``: the first header byte as given)."""
    header = RawConn.frame_header(len(payload), opcode, fin)
    if first is not None:
        header = bytes((first,)) + header[1:]
    return header + payload


class Peer:
    """The server end: sends what the test gives, when it asks, and reads what comes back."""

    def __init__(self) -> None:
        self.outbox: list[bytes | None] = []
        self.cond = threading.Condition()
        self.conn: RawConn | None = None
        self.ready = threading.Event()

    def script(self, conn: RawConn) -> None:
        conn.read_request()
        conn.accept()
        self.conn = conn
        self.ready.set()
        while True:
            with self.cond:
                while not self.outbox:
                    if not self.cond.wait(1.0) and conn.server.stopped.is_set():
                        return
                data = self.outbox.pop(0)
            if data is None:
                return
            conn.send_raw(data)

    def send(self, *data: bytes) -> None:
        with self.cond:
            self.outbox.append(b"".join(data))
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            self.outbox.append(None)
            self.cond.notify_all()

    def read_frame(self) -> tuple[int, bytes]:
        assert self.ready.wait(LONG) and self.conn is not None
        self.conn.sock.settimeout(LONG)
        return self.conn.read_frame()


@contextlib.contextmanager
def opened(max_bytes: int = 64) -> Iterator[tuple[WebSocketClientStream, Peer]]:
    """A stream of the production transport to a raw server, and that server's end."""
    peer = Peer()
    with RawServer(peer.script) as server:
        transport = WebSocketClientTransport(max_bytes)
        stream = transport.open(server.url, Deadline(LONG), register=lambda _handle: None)
        try:
            yield stream, peer
        finally:
            peer.finish()
            stream.abort()


def read(stream: WebSocketClientStream) -> Message:
    return stream.read(LONG)


# -- the frame cap ---------------------------------------------------------------------------


def test_parts_cap() -> None:
    assert parts_cap(0) == 1024
    assert parts_cap(1024 * 1024) == 1024
    assert parts_cap(2048 * 1024) == 2048
    assert parts_cap(2048 * 1024 + 1023) == 2048
    assert parts_cap(2049 * 1024) == 2049


def test_a_message_of_exactly_the_cap_is_kept_one_byte_more_is_dropped() -> None:
    with opened(64) as (stream, peer):
        peer.send(frame(b"a" * 64), frame(b"b" * 65), frame(b"c"))
        assert read(stream) == Message(Kind.TEXT, b"a" * 64, 64)
        assert read(stream) == Message(Kind.OVERSIZE, b"b" * 65, 65)
        assert read(stream) == Message(Kind.TEXT, b"c", 1)
        assert stream.dropped == 1


def test_binary_and_close_frames() -> None:
    with opened() as (stream, peer):
        peer.send(frame(b"\x00\x01", opcode=0x2))
        assert read(stream) == Message(Kind.BINARY, b"\x00\x01", 2)
        # A close reason that is not UTF-8 is still a close (no UTF-8 validation).
        peer.send(frame(b"\x03\xe8\xff\xfe", opcode=0x8))
        assert read(stream) == Message(Kind.CLOSE, b"\x03\xe8\xff\xfe", 4)


def test_text_that_is_not_utf8_is_handed_on_as_bytes() -> None:
    with opened() as (stream, peer):
        peer.send(frame(b"\xff\xfe"))
        assert read(stream) == Message(Kind.TEXT, b"\xff\xfe", 2)


def test_the_prefix_of_a_dropped_message_is_its_first_bytes() -> None:
    payload = bytes(range(256)) * 400  # 102,400 bytes: many socket reads
    with opened(1000) as (stream, peer):
        peer.send(frame(payload), frame(b"next"))
        message = read(stream)
        assert message.kind is Kind.OVERSIZE and message.size == len(payload)
        assert message.data == payload[:PREFIX_BYTES]
        assert read(stream) == Message(Kind.TEXT, b"next", 4)


def test_a_fragmented_message_within_the_cap_is_joined() -> None:
    with opened(64) as (stream, peer):
        peer.send(frame(b"ab", fin=False), frame(b"cd", 0x0, fin=False), frame(b"ef", 0x0))
        assert read(stream) == Message(Kind.TEXT, b"abcdef", 6)
        peer.send(frame(b"x" * 32, 0x2, fin=False), frame(b"y" * 32, 0x0))
        assert read(stream) == Message(Kind.BINARY, b"x" * 32 + b"y" * 32, 64)


def test_fragments_over_the_cap_drop_the_message_with_its_start_as_prefix() -> None:
    with opened(64) as (stream, peer):
        peer.send(
            frame(b"a" * 40, fin=False),
            frame(b"b" * 40, 0x0, fin=False),
            frame(b"c" * 40, 0x0),
            frame(b"after"),
        )
        assert read(stream) == Message(Kind.OVERSIZE, b"a" * 40 + b"b" * 40 + b"c" * 40, 120)
        assert read(stream) == Message(Kind.TEXT, b"after", 5)
        assert stream.dropped == 1


def test_a_long_dropped_fragmented_message_keeps_a_prefix_of_the_limit() -> None:
    with opened(64) as (stream, peer):
        peer.send(frame(b"a" * 60, fin=False), frame(bytes(range(256)) * 4, 0x0), frame(b"z"))
        message = read(stream)
        assert message.kind is Kind.OVERSIZE and message.size == 60 + 1024
        assert message.data == (b"a" * 60 + bytes(range(256)) * 4)[:PREFIX_BYTES]
        assert read(stream) == Message(Kind.TEXT, b"z", 1)


def test_the_count_of_a_dropped_message_starts_afresh_for_the_next() -> None:
    with opened(64) as (stream, peer):
        peer.send(frame(b"p" * 100), frame(b"q" * 10, fin=False), frame(b"r" * 10, 0x0))
        assert read(stream).kind is Kind.OVERSIZE
        assert read(stream) == Message(Kind.TEXT, b"q" * 10 + b"r" * 10, 20)
        peer.send(frame(b"s" * 70), frame(b"t" * 70))
        assert read(stream) == Message(Kind.OVERSIZE, b"s" * 70, 70)
        assert read(stream) == Message(Kind.OVERSIZE, b"t" * 70, 70)
        assert stream.dropped == 3


def test_the_part_count_caps_a_message_and_starts_afresh_for_the_next() -> None:
    cap = parts_cap(64)
    with opened(64) as (stream, peer):
        exact = [frame(b"", fin=False)] + [frame(b"", 0x0, fin=False)] * (cap - 2)
        peer.send(*exact, frame(b"k", 0x0))  # exactly the cap: kept
        assert read(stream) == Message(Kind.TEXT, b"k", 1)
        peer.send(*exact, frame(b"", 0x0, fin=False), frame(b"m", 0x0))  # one part more
        assert read(stream) == Message(Kind.OVERSIZE, b"m", 1)
        peer.send(*exact, frame(b"n", 0x0))  # the count started afresh
        assert read(stream) == Message(Kind.TEXT, b"n", 1)


def test_a_dropped_message_is_logged_with_its_size_and_the_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bluecurrent_sync")
    with opened(64) as (stream, peer):
        peer.send(frame(b"w" * 100))
        assert read(stream).kind is Kind.OVERSIZE
    assert (
        "dropped an incoming message of 100 bytes over max_frame_bytes=64 (or in more than "
        f"{parts_cap(64)} parts)"
    ) in caplog.messages


def test_a_discard_interrupted_by_a_timeout_carries_on() -> None:
    with opened(64) as (stream, peer):
        payload = bytes(range(200)) * 5
        # The header (4 bytes) and one byte short of the prefix: the last byte of the
        # prefix comes after the timeout.
        peer.send(frame(payload)[: 4 + PREFIX_BYTES - 1])
        with pytest.raises(TimeoutError):
            stream.read(0.3)
        peer.send(frame(payload)[4 + PREFIX_BYTES - 1 :], frame(b"then"))
        assert read(stream) == Message(Kind.OVERSIZE, payload[:PREFIX_BYTES], 1000)
        assert read(stream) == Message(Kind.TEXT, b"then", 4)


def test_a_buffer_of_its_own_keeps_track_of_each_message_and_bounds_the_prefix() -> None:
    near, far = socket.socketpair()
    with near, far:
        near.settimeout(LONG)
        buffer = _frames.CappedFrameBuffer(near.recv, 64, 1024)
        assert buffer.check_at is None and buffer.dropping is False
        assert buffer.message_size == 0 and len(buffer.prefix) == 0
        far.sendall(frame(b"k" * 10))
        kept = buffer.recv_frame()  # no check time: the read goes ahead
        assert kept.data == b"k" * 10 and buffer.dropping is False
        assert buffer.message_size == 10
        payload = bytes(range(256)) * 64  # 16 KiB, dropped
        far.sendall(frame(payload))
        dropped = buffer.recv_frame()
        assert dropped.data == b"" and buffer.dropping is True
        assert buffer.message_size == len(payload)
        assert bytes(buffer.prefix) == payload[:PREFIX_BYTES]  # never more: memory bounded
        far.sendall(frame(b"n"))
        assert buffer.recv_frame().data == b"n" and buffer.dropping is False
        assert buffer.message_size == 1 and len(buffer.prefix) == 0


_MIXED = [
    frame(b"", 0x1),
    frame(b"a"),
    frame(bytes(range(125)), 0x2),
    frame(b"ping", 0x9),
    frame(b"b" * 126),  # the first 16-bit length
    frame(b"c" * 300, fin=False),
    frame(b"d" * 2, 0x0, fin=False),
    frame(b"e" * 70_000, 0x0),  # a 64-bit length, over a socket read of 16 KiB
    frame(b"f" * 65_535),  # the last 16-bit length
    frame(b"g"),
]


def _parsed(data: bytes) -> tuple[int, int, bytes]:
    """(opcode, fin, payload) of one unmasked frame as `frame` builds it."""
    second = data[1] & 0x7F
    start = 2 if second < 126 else 4 if second == 126 else 10
    return data[0] & 0x0F, data[0] >> 7, data[start:]


def _feed(far: socket.socket, data: bytes) -> threading.Thread:
    """Write ``data`` to ``far`` on a thread of its own (more than a socket buffer holds)."""
    writer = threading.Thread(target=far.sendall, args=(data,), daemon=True)
    writer.start()
    return writer


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 1000, 1 << 20])
def test_frames_read_ahead_come_out_whole_and_in_order_wherever_the_socket_cuts(
    cut: int,
) -> None:
    near, far = socket.socketpair()
    with near, far:
        near.settimeout(LONG)
        buffer = _frames.CappedFrameBuffer(lambda size: near.recv(min(size, cut)), 1 << 20, 1024)
        writer = _feed(far, b"".join(_MIXED) * 2)
        got = [buffer.recv_frame() for _ in range(2 * len(_MIXED))]
        writer.join(LONG)
        assert [(f.opcode, f.fin, f.data) for f in got] == [_parsed(f) for f in _MIXED] * 2
        assert not buffer.buffered  # every byte read was handed out


def test_bytes_read_ahead_are_buffered_until_their_frame_is_read() -> None:
    near, far = socket.socketpair()
    with near, far:
        near.settimeout(LONG)
        buffer = _frames.CappedFrameBuffer(near.recv, 1 << 20, 1024)
        assert not buffer.buffered
        far.sendall(frame(b"one") + frame(b"two"))
        assert buffer.recv_frame().data == b"one"
        assert buffer.buffered  # "two" came in the same socket read
        assert buffer.recv_frame().data == b"two"
        assert not buffer.buffered


def test_a_timeout_between_socket_reads_loses_no_byte_read_ahead() -> None:
    near, far = socket.socketpair()
    with near, far:
        near.settimeout(LONG)
        reads = 0

        def every_other(size: int) -> bytes:  # a socket read times out every other time
            nonlocal reads
            reads += 1
            if reads % 2:
                raise TimeoutError("timed out")
            return near.recv(min(size, 5 + reads % 11))  # cuts anywhere in a frame

        buffer = _frames.CappedFrameBuffer(every_other, 1 << 20, 1024)
        writer = _feed(far, b"".join(_MIXED))
        got = []
        while len(got) < len(_MIXED):
            with contextlib.suppress(TimeoutError):
                got.append(buffer.recv_frame())
        writer.join(LONG)
        assert [(f.opcode, f.fin, f.data) for f in got] == [_parsed(f) for f in _MIXED]
        assert not buffer.buffered


def test_a_dropped_message_leaves_the_bytes_read_past_it_to_the_next_frame() -> None:
    near, far = socket.socketpair()
    with near, far:
        near.settimeout(LONG)
        buffer = _frames.CappedFrameBuffer(near.recv, 64, 1024)
        far.sendall(frame(b"x" * 10) + frame(b"y" * 100) + frame(b"z" * 10) + frame(b"w"))
        assert buffer.recv_frame().data == b"x" * 10
        assert buffer.recv_frame().data == b"" and buffer.dropping  # discarded from the buffer
        assert bytes(buffer.prefix) == b"y" * 100
        assert buffer.recv_frame().data == b"z" * 10 and not buffer.dropping
        assert buffer.recv_frame().data == b"w"
        assert not buffer.buffered


# -- sends: several frames in one write, and the socket's duplicate ---------------------------


def _peer_reads_texts(peer: Peer, count: int, others: list[tuple[int, bytes]]) -> list[bytes]:
    """Read frames at the peer until ``count`` text frames came; the others go to ``others``."""
    texts = []
    while len(texts) < count:
        opcode, payload = peer.read_frame()
        if opcode == 0x1:
            texts.append(payload)
        else:
            others.append((opcode, payload))
    return texts


def test_texts_sent_together_arrive_whole_and_in_order_and_are_counted() -> None:
    texts = [json.dumps({"n": n, "pad": "x" * (n * 37 % 300)}) for n in range(40)]
    counts: list[int] = []
    with opened() as (stream, peer):
        stream.send_texts(texts, Deadline(LONG), counts.append)
        others: list[tuple[int, bytes]] = []
        assert _peer_reads_texts(peer, len(texts), others) == [t.encode() for t in texts]
        assert others == []
    assert counts == [40]


_ROUNDS = 6


def test_a_pong_never_lands_inside_frames_sent_together() -> None:
    # Batches bigger than the socket takes at once, written in parts while the peer reads
    # them slowly; after each text frame it reads, the peer pings, and the client's reading
    # thread answers (websocket-client sends the pong itself, not through the stream's
    # turn to send). Every frame must reach the peer whole.
    batch = [str(n) * 30_000 for n in range(10)]
    with opened() as (stream, peer):
        texts: list[bytes] = []
        pongs: list[bytes] = []

        def peer_reads() -> None:
            assert peer.ready.wait(LONG) and peer.conn is not None  # set just after the 101
            while len(texts) < _ROUNDS * len(batch) or len(pongs) < len(texts):
                opcode, payload = peer.read_frame()
                if opcode == 0x1:
                    texts.append(payload)
                    peer.conn.send_raw(frame(b"%d" % len(texts), 0x9))
                else:
                    pongs.append(bytes((opcode,)) + payload)
            peer.send(frame(b"end"))

        reader, done = in_thread(peer_reads)
        answering, message = in_thread(lambda: read(stream))  # answers pings until "end"
        for _ in range(_ROUNDS):
            stream.send_texts(batch, Deadline(LONG), lambda _count: None)
        reader.join(LONG)
        answering.join(LONG)
        assert done == [None], done  # the peer read to the end
        assert texts == [text.encode() for text in batch * _ROUNDS]
        assert pongs == [b"\x0a%d" % n for n in range(1, len(texts) + 1)]
        assert message == [Message(Kind.TEXT, b"end", 3)]


def test_a_batch_cut_by_its_deadline_counts_the_frames_that_went_out_whole() -> None:
    counts: list[int] = []
    with opened() as (stream, _peer):  # the peer reads nothing: the socket fills up
        with pytest.raises(TimeoutError):
            stream.send_texts(["first", "y" * (24 << 20), "last"], Deadline(2.0), counts.append)
        assert counts == [1]  # the second was cut half-way
        assert stream.broken


def test_a_frame_that_cannot_be_made_keeps_the_whole_batch_from_the_wire() -> None:
    counts: list[int] = []
    with opened() as (stream, peer):
        with pytest.raises(TypeError):
            stream.send_texts(["one", cast(str, 2)], Deadline(LONG), counts.append)
        assert counts == [0] and not stream.broken
        stream.send_text("after", Deadline(LONG))
        assert peer.read_frame() == (0x1, b"after")  # nothing of the batch before it


def _descriptors_of(fd: int) -> int:
    """How many of this process's descriptors refer to the connection ``fd`` refers to."""
    target = os.readlink(f"/proc/self/fd/{fd}")
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(f"/proc/self/fd/{name}") == target
    return count


_PROC_FD = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd"
)


@_PROC_FD
def test_a_plain_socket_is_written_through_a_duplicate_closed_with_the_stream() -> None:
    with opened() as (stream, _peer):
        stand_in = os.dup(stream.sock.fileno())  # to find the connection once both are closed
        try:
            assert _descriptors_of(stand_in) == 3  # the socket, its duplicate, the stand-in
            stream.abort()
            assert _descriptors_of(stand_in) == 1
        finally:
            os.close(stand_in)


@_PROC_FD
def test_without_a_descriptor_to_spare_the_socket_itself_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_more(_sock: socket.socket) -> socket.socket:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(socket.socket, "dup", no_more)
    with opened() as (stream, peer):
        monkeypatch.undo()
        stand_in = os.dup(stream.sock.fileno())
        try:
            assert _descriptors_of(stand_in) == 2  # the socket and the stand-in: no duplicate
        finally:
            os.close(stand_in)
        stream.send_texts(["a", "b"], Deadline(LONG), lambda _count: None)
        stream.send_text("c", Deadline(LONG))
        assert [peer.read_frame() for _ in range(3)] == [(0x1, b"a"), (0x1, b"b"), (0x1, b"c")]


@_PROC_FD
def test_forget_closes_both_descriptors_and_leaves_the_connection_to_its_other_holder() -> None:
    with opened() as (stream, peer):
        parent = socket.socket(fileno=os.dup(stream.sock.fileno()))  # as after a fork
        with parent:
            assert _descriptors_of(parent.fileno()) == 3
            stream.forget()
            assert _descriptors_of(parent.fileno()) == 1
            frame = websocket.ABNF.create_frame("kept", websocket.ABNF.OPCODE_TEXT).format()
            parent.sendall(frame)
            assert peer.read_frame() == (0x1, b"kept")  # the connection is whole


# -- what RFC 6455 forbids -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            bytes((0x81, 0x82)) + b"\x01\x02\x03\x04hi",
            r"a masked frame from the server \(RFC 6455 5\.1\)",
        ),
        (frame(b"x", first=0xC1), "reserved bits set, no extension was negotiated"),
        (frame(b"x", first=0xA1), "reserved bits set, no extension was negotiated"),
        (frame(b"x", first=0x91), "reserved bits set, no extension was negotiated"),
        (frame(b"", first=0x83), r"reserved opcode 0x3 \(RFC 6455 5\.2\)"),
        (frame(b"", first=0x8B), r"reserved opcode 0xb \(RFC 6455 5\.2\)"),
        (frame(b"", first=0x09), r"a fragmented control frame \(RFC 6455 5\.5\)"),
        (frame(b"", first=0x08), r"a fragmented control frame \(RFC 6455 5\.5\)"),
        (frame(b"p" * 126, opcode=0x9), r"a control frame over 125 bytes \(RFC 6455 5\.5\)"),
        (frame(b"c", 0x0), "a continuation frame without a message"),
        (frame(b"a", fin=False) + frame(b"b"), "a new message inside a fragmented one"),
    ],
    ids=[
        "masked",
        "rsv1",
        "rsv2",
        "rsv3",
        "opcode-0x3",
        "opcode-0xB",
        "fragmented-ping",
        "fragmented-close",
        "long-ping",
        "continuation-alone",
        "message-in-message",
    ],
)
def test_frames_rfc_6455_forbids(data: bytes, match: str) -> None:
    with opened() as (stream, peer):
        peer.send(data)
        with pytest.raises(ProtocolViolation, match=f"^{match}$"):
            read(stream)
        assert stream.broken


def test_a_close_inside_a_fragmented_message_is_a_close() -> None:
    with opened() as (stream, peer):
        peer.send(frame(b"a", fin=False), frame(b"\x03\xe8", 0x8))
        assert read(stream) == Message(Kind.CLOSE, b"\x03\xe8", 2)


def test_a_ping_of_125_bytes_is_answered_inside_a_fragmented_message() -> None:
    with opened() as (stream, peer):
        peer.send(frame(b"a", fin=False), frame(b"p" * 125, 0x9), frame(b"b", 0x0))
        assert read(stream) == Message(Kind.TEXT, b"ab", 2)
        assert peer.read_frame() == (0xA, b"p" * 125)


# -- progress: complete frames only ----------------------------------------------------------


def test_progress_is_a_complete_frame_never_a_fragment_or_a_dripped_byte() -> None:
    with opened() as (stream, peer):
        opened_at = stream.last_progress
        peer.send(frame(b"part", fin=False), frame(b"end", 0x0)[:2])
        with pytest.raises(TimeoutError):
            stream.read(0.3)
        assert stream.last_progress == opened_at
        before = time.monotonic()
        peer.send(frame(b"end", 0x0)[2:])
        assert read(stream) == Message(Kind.TEXT, b"partend", 7)
        assert stream.last_progress >= before


@pytest.mark.parametrize("opcode", [0x9, 0xA])
def test_a_ping_or_pong_is_progress(opcode: int) -> None:
    with opened() as (stream, peer):
        before = time.monotonic()
        peer.send(frame(b"", opcode))
        with pytest.raises(TimeoutError):
            stream.read(0.3)
        assert stream.last_progress >= before


@pytest.mark.parametrize("data", [frame(b"\x03\xe8", 0x8), frame(b"z" * 100)])
def test_a_close_or_a_dropped_message_is_progress(data: bytes) -> None:
    with opened() as (stream, peer):
        before = time.monotonic()
        peer.send(data)
        read(stream)
        assert stream.last_progress >= before


def test_no_socket_read_starts_after_the_check_time() -> None:
    with opened() as (stream, peer):
        peer.send(frame(b"late"))
        assert peer.ready.wait(LONG)
        with pytest.raises(TimeoutError, match=r"^check time reached$"):
            stream.read(LONG, check_at=time.monotonic() - 1.0)
        assert not stream.broken
        assert stream.read(LONG, check_at=time.monotonic() + LONG) == Message(Kind.TEXT, b"late", 4)


class Clock:
    """A ``time`` module stand-in whose ``monotonic()`` moves only when told."""

    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def monotonic(self) -> float:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    for module in (_frames, _liveness, session_module):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_the_check_time_itself_is_already_too_late(clock: Clock) -> None:
    with opened() as (stream, peer):
        peer.send(frame(b"x"))
        assert peer.ready.wait(LONG)
        with pytest.raises(TimeoutError, match="check time reached"):
            stream.read(LONG, check_at=clock.at)
        assert stream.read(LONG, check_at=clock.at + 0.001) == Message(Kind.TEXT, b"x", 1)


# -- liveness --------------------------------------------------------------------------------


def test_liveness_without_an_interval_never_pings_nor_dies(clock: Clock) -> None:
    live = Liveness(None, 5.0)
    assert live.check_at(0.0) is None
    clock.at = 1e9
    assert live.verdict(0.0) is Verdict.WAIT


def test_liveness_pings_once_then_dies(clock: Clock) -> None:
    live = Liveness(10.0, 5.0)
    assert live.pinged_at == 0.0
    progress = clock.at
    assert live.check_at(progress) == progress + 10.0
    clock.at = progress + 9.999
    assert live.verdict(progress) is Verdict.WAIT
    clock.at = progress + 10.0
    assert live.verdict(progress) is Verdict.PING
    assert live.pinged_at == progress + 10.0
    assert live.check_at(progress) == progress + 15.0
    assert live.verdict(progress) is Verdict.WAIT  # pinged already
    clock.at = progress + 14.999
    assert live.verdict(progress) is Verdict.WAIT
    clock.at = progress + 15.0
    assert live.verdict(progress) is Verdict.DEAD


def test_liveness_a_frame_after_the_ping_starts_over(clock: Clock) -> None:
    live = Liveness(10.0, 5.0)
    clock.at = 1010.0
    assert live.verdict(1000.0) is Verdict.PING
    # A frame arrived at the very instant of the ping: not after it, so no second ping.
    assert live.check_at(1010.0) == 1025.0
    clock.at = 1020.0
    assert live.verdict(1010.0) is Verdict.WAIT
    # A frame after the ping: the next ping is due again.
    assert live.check_at(1010.5) == 1020.5
    clock.at = 1020.5
    assert live.verdict(1010.5) is Verdict.PING


def test_liveness_reset_forgets_the_ping(clock: Clock) -> None:
    live = Liveness(10.0, 5.0)
    clock.at = 1010.0
    assert live.verdict(1000.0) is Verdict.PING
    live.reset()
    assert live.pinged_at == 0.0
    assert live.verdict(1000.0) is Verdict.PING


def test_liveness_dead_without_a_ping_when_silent_long_enough(clock: Clock) -> None:
    live = Liveness(10.0, 5.0)
    clock.at = 1015.0
    assert live.verdict(1000.0) is Verdict.DEAD
    assert live.pinged_at == 0.0


# -- backoff ---------------------------------------------------------------------------------


class Extremes(random.Random):
    """``uniform(a, b)`` gives ``b`` (or ``a``), and records its arguments."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b if self.high else a


def test_backoff_doubles_up_to_its_cap_with_equal_jitter() -> None:
    high = Extremes(True)
    backoff = Backoff(1.0, 4.0, high)
    assert [backoff.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert high.calls == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 2.0)]
    low = Backoff(1.0, 4.0, Extremes(False))
    assert [low.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_backoff_defaults_and_bounds() -> None:
    backoff = Backoff()
    assert (backoff.initial, backoff.maximum) == (0.5, 30.0)
    assert 0.25 <= backoff.next_delay() <= 0.5
    assert Backoff(2.0, 2.0).maximum == 2.0
    for initial, maximum in [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)]:
        with pytest.raises(ValueError, match=r"^backoff needs 0 < initial <= maximum$"):
            Backoff(initial, maximum)


# -- the session's state and reconnect policy ------------------------------------------------


def _session(reconnect: bool = True, **options: float) -> Session:
    return Session(reconnect=reconnect, backoff=Backoff(1.0, 8.0, Extremes(True)), **options)  # type: ignore[arg-type]


def _error_of(session: Session, stream_up: bool = False) -> BaseException | None:
    try:
        session.check_usable(stream_up)
    except BaseException as exc:
        return exc
    return None


def test_a_new_session() -> None:
    session = Session(reconnect=True, backoff=Backoff())
    assert session.state is State.NEW
    assert session.stable_after == STABLE_AFTER
    assert session.already_connected_attempts == ALREADY_CONNECTED_ATTEMPTS
    assert session.limited_until is None and session.fatal_error is None
    assert session.revalidating is False and session.hurry is False
    assert session.refusals == 0 and session.up_since is None
    assert isinstance(session.lock, type(threading.Lock()))


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        (State.NEW, ClientStateError, "the client is not connected; call connect() first"),
        (State.CONNECTING, ClientStateError, "the client is not connected; call connect() first"),
        (State.CLOSED, ClientStateError, "the client is closed"),
        (State.RECONNECTING, ConnectionClosedError, "the connection is down; reconnecting"),
        (State.FAILED, ConnectionClosedError, "the connection is down; reconnecting"),
        (State.LIMITED, ConnectionClosedError, "the connection is down; reconnecting"),
    ],
)
def test_calls_fail_by_state(state: State, error: type[Exception], message: str) -> None:
    session = _session()
    session.state = state
    got = _error_of(session, stream_up=True)
    assert type(got) is error and str(got) == message


def test_calls_go_out_when_connected_unless_revalidating() -> None:
    session = _session()
    session.state = State.CONNECTED
    assert _error_of(session) is None
    session.revalidating = True
    got = _error_of(session)
    assert type(got) is ConnectionClosedError
    assert str(got) == "the API token is being validated again"


def test_a_failed_session_raises_a_copy_of_its_error_each_time() -> None:
    session = _session()
    session.state = State.FAILED
    session.fatal_error = InvalidApiToken("refused")
    first, second = _error_of(session), _error_of(session)
    assert type(first) is InvalidApiToken and str(first) == "refused"
    assert first is not second and first is not session.fatal_error


def test_the_limited_state_until_the_quota_resets() -> None:
    session = _session()
    reset_at = _clock.now() + dt.timedelta(hours=1)
    assert session.enter_limited(reset_at) is True
    assert session.state is State.LIMITED and session.limited_until == reset_at
    got = _error_of(session, stream_up=True)
    assert type(got) is RequestLimitReached and got.reset_at == reset_at
    assert got.args[0] == "Request limit reached"


def test_after_the_reset_a_stream_still_up_carries_on() -> None:
    session = _session()
    session.enter_limited(_clock.now() - dt.timedelta(seconds=1))
    got = _error_of(session, stream_up=False)
    assert type(got) is ConnectionClosedError and session.state is State.LIMITED
    assert str(got) == "the connection is down; reconnecting"
    assert _error_of(session, stream_up=True) is None
    assert session.state is State.CONNECTED and session.limited_until is None


def test_the_quota_resets_at_its_very_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    instant = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(session_module, "_clock", types.SimpleNamespace(now=lambda: instant))
    session = _session()
    session.enter_limited(instant + dt.timedelta(microseconds=1))
    assert type(_error_of(session, stream_up=True)) is RequestLimitReached
    session.enter_limited(instant)
    assert _error_of(session, stream_up=True) is None
    assert session.state is State.CONNECTED


def test_a_drop_after_closing_keeps_its_error_whatever_the_quota() -> None:
    session = _session()
    session.enter_limited(_clock.now() + dt.timedelta(hours=1))
    session.state = State.CLOSED
    error = ConnectionClosedError("gone")
    assert session.went_down(error) == (error, True)


def test_a_closed_session_stays_closed() -> None:
    session = _session()
    session.state = State.CLOSED
    assert session.enter_limited(_clock.now()) is False
    assert session.state is State.CLOSED and session.limited_until is None
    assert session.attempt_failed(InvalidApiToken("x")) is False
    assert session.attempt_failed(ConnectionClosedError("x")) is False
    assert session.state is State.CLOSED and session.fatal_error is None
    error, reconnecting = session.went_down(ConnectionClosedError("gone"))
    assert session.state is State.CLOSED and str(error) == "gone" and reconnecting


def test_up(clock: Clock) -> None:
    session = _session()
    session.enter_limited(_clock.now())
    session.refusals = 3
    session.up()
    assert session.state is State.CONNECTED and session.limited_until is None
    assert session.up_since == clock.at and session.refusals == 0


def test_a_drop_after_a_stable_connection_resets_the_backoff(clock: Clock) -> None:
    session = _session(stable_after=10.0)
    assert [session.delay(), session.delay()] == [1.0, 2.0]
    session.up()
    clock.at += 9.999
    session.went_down(ConnectionClosedError("x"))
    assert session.up_since is None
    assert session.delay() == 4.0  # up too briefly: the backoff goes on
    session.up()
    clock.at += 10.0
    session.went_down(ConnectionClosedError("x"))
    assert session.delay() == 1.0


def test_a_drop_while_reconnecting_or_without_reconnect() -> None:
    session = _session()
    session.state = State.CONNECTED
    error = ConnectionClosedError("gone")
    assert session.went_down(error) == (error, True)
    assert session.state is State.RECONNECTING and session.fatal_error is None
    once = _session(reconnect=False)
    once.state = State.CONNECTED
    assert once.went_down(error) == (error, False)
    assert once.state is State.FAILED
    assert type(once.fatal_error) is ConnectionClosedError
    assert str(once.fatal_error) == "the connection was lost (reconnect=False)"


def test_a_drop_with_a_fatal_error() -> None:
    session = _session()
    session.state = State.CONNECTED
    refused = InvalidApiToken("refused")
    assert session.went_down(refused) == (refused, False)
    assert session.state is State.FAILED and session.fatal_error is refused
    once = _session(reconnect=False)
    taken = AlreadyConnected("taken")
    assert once.went_down(taken) == (taken, False)
    assert once.state is State.FAILED and once.fatal_error is taken and once.refusals == 0


def test_already_connected_on_a_drop_counts_a_refusal_and_reconnects() -> None:
    session = _session()
    session.state = State.CONNECTED
    taken = AlreadyConnected("taken")
    assert session.went_down(taken) == (taken, True)
    assert session.state is State.RECONNECTING and session.refusals == 1
    session.state = State.CONNECTED
    session.went_down(taken)
    assert session.refusals == 2


def test_a_drop_with_the_quota_reached() -> None:
    session = _session()
    session.state = State.CONNECTED
    reset_at = _clock.now() + dt.timedelta(hours=1)
    limit = RequestLimitReached("Request limit reached", reset_at)
    assert session.went_down(limit) == (limit, True)
    assert session.state is State.LIMITED and session.limited_until == reset_at


def test_a_drop_while_limited_stays_limited_and_says_so() -> None:
    session = _session()
    reset_at = _clock.now() + dt.timedelta(hours=1)
    session.enter_limited(reset_at)
    error, reconnecting = session.went_down(ConnectionClosedError("gone"))
    assert reconnecting and session.state is State.LIMITED
    assert type(error) is RequestLimitReached and error.reset_at == reset_at
    assert error.args[0] == "Request limit reached"


def test_a_drop_while_failed_stays_failed() -> None:
    session = _session()
    session.state = State.FAILED
    error = ConnectionClosedError("gone")
    assert session.went_down(error) == (error, True)
    assert session.state is State.FAILED and session.fatal_error is None


def test_failed_attempts() -> None:
    session = _session()
    session.state = State.RECONNECTING
    assert session.attempt_failed(ConnectionClosedError("x")) is True
    assert session.state is State.RECONNECTING and session.fatal_error is None
    reset_at = _clock.now() + dt.timedelta(hours=1)
    assert session.attempt_failed(RequestLimitReached("Request limit reached", reset_at)) is True
    assert session.state is State.LIMITED and session.limited_until == reset_at
    refused = InvalidApiToken("refused")
    assert session.attempt_failed(refused) is False
    assert session.state is State.FAILED and session.fatal_error is refused


def test_already_connected_attempts_give_up_after_the_bound() -> None:
    session = _session(already_connected_attempts=3)
    session.state = State.RECONNECTING
    taken = AlreadyConnected("taken")
    assert session.attempt_failed(taken) is True
    assert session.attempt_failed(taken) is True
    assert session.state is State.RECONNECTING and session.fatal_error is None
    assert session.attempt_failed(taken) is False
    assert session.state is State.FAILED and session.fatal_error is taken
    assert session.refusals == 3


def test_the_delay_before_the_next_attempt() -> None:
    session = _session()
    session.hurry = True
    assert session.delay() == 0.0 and session.hurry is False
    assert session.delay() == 1.0
    session.enter_limited(_clock.now() + dt.timedelta(seconds=100))
    assert 90.0 < session.delay() <= 100.0
    session.enter_limited(_clock.now() - dt.timedelta(seconds=100))
    assert session.delay() == 0.0
    session.limited_until = None
    assert session.delay() == 2.0  # limited without a reset time: the backoff


def test_after_fork() -> None:
    for state in (State.NEW, State.CLOSED):
        session = _session()
        session.state = state
        lock = session.lock
        session.after_fork()
        assert session.state is state and session.fatal_error is None
        assert session.lock is not lock
    session = _session()
    session.state = State.CONNECTED
    session.lock.acquire()  # held by a thread that does not exist in the child
    session.after_fork()
    assert session.lock.acquire(blocking=False)
    assert session.state is State.FAILED
    got = _error_of(session)
    assert type(got) is ClientStateError
    assert str(got) == "this client belongs to the process that forked; make a new Client here"


# -- refusals: the upgrade and the close -----------------------------------------------------


@pytest.mark.parametrize("status", [300, 301, 302, 307, 308, 399])
def test_a_redirect_is_refused_without_its_location(status: int) -> None:
    error = error_for_rejection(status, "request limit reached")
    assert type(error) is ConnectionClosedError
    assert str(error) == (
        f"the server answered the websocket upgrade with a redirect (HTTP {status}); "
        "redirects are not followed"
    )


@pytest.mark.parametrize("status", [200, 299, 400, 403, 500])
def test_other_refusals_by_reason(status: int) -> None:
    limit = error_for_rejection(status, "Request Limit Reached")
    assert type(limit) is RequestLimitReached and limit.args[0] == "Request limit reached"
    assert limit.reset_at > _clock.now()
    taken = error_for_rejection(status, "ALREADY CONNECTED elsewhere")
    assert type(taken) is AlreadyConnected and str(taken) == "Already connected"
    other = error_for_rejection(status, "")
    assert type(other) is ConnectionClosedError
    assert str(other) == f"the server refused the connection (HTTP {status})"


def test_close_codes_and_reasons() -> None:
    limit = error_for_close(4001, "")
    assert type(limit) is RequestLimitReached and limit.args[0] == "Request limit reached"
    assert limit.reset_at > _clock.now()
    taken = error_for_close(4000, "Already Connected")
    assert type(taken) is AlreadyConnected and str(taken) == "Already connected"
    for code in (None, 1000, 4000, 4002):
        other = error_for_close(code, "bye")
        assert type(other) is ConnectionClosedError
        assert str(other) == f"the server closed the connection (code {code})"


def _refusing(status: int, headers: dict[str, str]) -> RawServer:
    def script(conn: RawConn) -> None:
        conn.read_request()
        conn.respond(status, headers)

    return RawServer(script)


@pytest.mark.parametrize("status", [200, 302, 403])
def test_the_transport_refuses_anything_but_101(status: int) -> None:
    elsewhere = socket.create_server(("127.0.0.1", 0))
    location = f"ws://127.0.0.1:{elsewhere.getsockname()[1]}/other"
    headers = {"Location": location, "X-Websocket-Reject-Reason": "Already connected"}
    with elsewhere, _refusing(status, headers) as server:
        transport = WebSocketClientTransport(64)
        with pytest.raises(UpgradeRefused) as info:
            transport.open(server.url, Deadline(LONG), register=lambda _handle: None)
        assert info.value.status == status
        assert info.value.headers["x-websocket-reject-reason"] == "Already connected"
        elsewhere.settimeout(0.2)
        with pytest.raises(TimeoutError):
            elsewhere.accept()  # nothing went to the Location
        request = server.requests[0]
        assert request["user-agent"] == "bluecurrent-sync" and "origin" not in request


def test_the_upgrade_runs_on_the_dialled_socket_and_opens_no_other() -> None:
    peer = Peer()
    registered: list[object] = []
    with RawServer(peer.script) as server:
        stream = WebSocketClientTransport(64).open(
            server.url, Deadline(LONG), register=registered.append
        )
        try:
            assert stream.sock is registered[0]  # websocket-client's socket= seam
            peer.send(frame(b"hi"))
            assert read(stream) == Message(Kind.TEXT, b"hi", 2)
            assert len(server.requests) == 1
        finally:
            peer.finish()
            stream.abort()
