"""Calls read their replies on the caller's thread (issue 19, item 5).

While a batch (`get_statuses`) runs, or a call waits for its reply with no other caller
reading, the caller reads the connection itself and the reader thread stands aside between
messages, and for a moment after (``bluecurrent_sync/_read_role.py``). These tests pin what
that must keep: the replies, routing for other callers, the reader thread afterwards, TLS, a
drop, liveness and Ctrl-C. Each runs against a real server on 127.0.0.1; every wait is an
event with a generous upper bound.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ctrl_c_while, in_thread, inside, self_signed_cert, wait_until
from scripted_server import GOOD_TOKEN, Conn, RawConn, RawServer, ScriptedServer, ch_status

from bluecurrent_sync import _reader
from bluecurrent_sync._dial import Deadline
from bluecurrent_sync._reader import READER_THREAD_NAME
from bluecurrent_sync._transport import WebSocketClientTransport
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ConnectionClosedError, RequestTimeoutError

N = 20
IDS = [f"BCU-{i:02d}" for i in range(N)]
FAST = {"ping_interval": None, "reconnect": False}


class _ThreadTap:
    """Records which thread handled each incoming CH_STATUS (taps run where a frame is read)."""

    def __init__(self) -> None:
        self.readers: list[str] = []
        self.lock = threading.Lock()

    def frame(self, direction: str, text: str, connection: str) -> None:
        if direction == "in" and '"CH_STATUS"' in text:
            with self.lock:
                self.readers.append(threading.current_thread().name)

    def connection_event(self, event: str, connection: str, detail: str) -> None:
        pass


def _answer_when_all_asked(count: int) -> Any:
    """A responder that answers the GET_CH_STATUS requests once ``count`` have arrived, so
    every reply reaches a client that is already waiting for the batch."""
    asked: list[str] = []

    def respond(conn: Conn, frame: dict[str, Any]) -> None:
        if frame.get("command") != "GET_CH_STATUS":
            return
        asked.append(str(frame["evse_id"]))
        if len(asked) == count:
            for evse_id in asked:
                conn.send(ch_status(evse_id))

    return respond


@pytest.fixture(params=["ws", "wss"])
def batch_server(
    request: pytest.FixtureRequest, tmp_path: Any
) -> Iterator[tuple[ScriptedServer, dict[str, Any]]]:
    """A scripted server over ws:// or wss://, and the client options to trust it."""
    options: dict[str, Any] = {}
    context = None
    if request.param == "wss":
        cert, key = self_signed_cert(tmp_path, "IP:127.0.0.1,DNS:localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        options["sslopt"] = {"context": ssl.create_default_context(cafile=cert)}
    with ScriptedServer(_answer_when_all_asked(N), ssl_context=context) as server:
        yield server, options


@pytest.mark.timeout(120)
def test_a_batch_is_read_on_the_callers_thread_then_the_reader_reads_again(
    batch_server: tuple[ScriptedServer, dict[str, Any]],
) -> None:
    server, options = batch_server
    client = Client(GOOD_TOKEN, url=server.url, timeout=60, **FAST, **options).connect()
    tap = _ThreadTap()
    client._taps.add(tap)
    pushed = threading.Event()
    client.on("CH_STATUS", lambda status: pushed.set() if status.evse_id == "BCU-PUSH" else None)
    try:
        statuses = client.get_statuses(IDS)
        assert [status.evse_id for status in statuses.values()] == IDS
        caller = threading.current_thread().name
        # The reader thread was reading when the batch began: it hands over after at most
        # the one message it was reading; every other reply is read by the caller.
        assert tap.readers.count(caller) >= N - 1, tap.readers
        # The batch is over: the reader thread reads again (a push is delivered).
        assert not client._conn._loop.role.asked
        server.push(ch_status("BCU-PUSH"))
        assert pushed.wait(30), "a push after the batch was never read"
        assert tap.readers[-1] == READER_THREAD_NAME
        assert len(server.hello_times) == 1  # one main connection all along
    finally:
        client.close()


def test_other_callers_are_served_while_a_batch_reads() -> None:
    with ScriptedServer(answer_statuses=True) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=60, **FAST).connect()
        many = [f"BCU-{i:03d}" for i in range(200)]
        try:
            other, outcome = in_thread(
                lambda: [client.get_status(f"BCU-X{i}").evse_id for i in range(30)]
            )
            statuses = client.get_statuses(many)
            other.join(60)
            assert not other.is_alive()
            assert outcome == [[f"BCU-X{i}" for i in range(30)]]
            assert list(statuses) == many
            assert all(statuses[evse_id].evse_id == evse_id for evse_id in many)
        finally:
            client.close()


# -- single calls ---------------------------------------------------------------------------
def _read_by(tap: _ThreadTap, thread: threading.Thread) -> int:
    with tap.lock:
        return tap.readers.count(thread.name)


def _until_a_call_reads_its_own_reply(client: Client, tap: _ThreadTap, evse_id: str) -> None:
    """Call ``get_status(evse_id)`` until the calling thread read a reply itself. The reader
    thread was reading when the first call began: it reads that reply, then stands aside for
    the caller's next call (a busy machine may take a few)."""
    caller = threading.current_thread()
    wait_until(
        lambda: client.get_status(evse_id) is not None and _read_by(tap, caller) > 0,
        what="a call that read its own reply",
        timeout=60,
    )


@pytest.mark.timeout(120)
def test_calls_one_after_another_read_their_own_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reader stands aside until told otherwise: on a busy machine the next call may come
    # later than the 50 ms it would wait for it.
    monkeypatch.setattr(_reader, "_LINGER", 600.0)
    with ScriptedServer(answer_statuses=True) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=60, **FAST).connect()
        tap = _ThreadTap()
        client._taps.add(tap)
        pushed = threading.Event()
        client.on("CH_STATUS", lambda s: pushed.set() if s.evse_id == "BCU-PUSH" else None)
        caller = threading.current_thread()
        try:
            _until_a_call_reads_its_own_reply(client, tap, "BCU-WARM")
            before = _read_by(tap, caller)
            for i in range(10):
                assert client.get_status(f"BCU-{i}").evse_id == f"BCU-{i}"
            # From then on each call reads its own reply: no hand-off between threads.
            assert _read_by(tap, caller) == before + 10, tap.readers
            # No call is running: once it stops waiting for one (50 ms, looked at again within
            # a second), the reader thread takes the stream back and reads a push.
            monkeypatch.setattr(_reader, "_LINGER", 0.05)
            server.push(ch_status("BCU-PUSH"))
            assert pushed.wait(30), "a push after the calls was never read"
            assert tap.readers[-1] == READER_THREAD_NAME
            assert len(server.hello_times) == 1
        finally:
            client.close()


@pytest.mark.timeout(120)
def test_a_caller_waiting_while_another_reads_gets_its_reply_when_that_one_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reads as the guest while B waits; A's reply comes, A leaves, and only then is B's
    reply sent. The reader thread must take the stream back at once for B, instead of standing
    aside for the next call (here as long as B's whole timeout, so B would time out)."""
    monkeypatch.setattr(_reader, "_LINGER", 600.0)
    release_a, release_b = threading.Event(), threading.Event()
    conns: list[Conn] = []

    def respond(conn: Conn, frame: dict[str, Any]) -> None:
        if frame.get("command") != "GET_CH_STATUS":
            return
        evse_id = str(frame["evse_id"])
        if evse_id == "BCU-WARM":
            conn.send(ch_status(evse_id))
        else:
            conns.append(conn)

    def answer(evse_id: str, release: threading.Event) -> None:
        assert release.wait(60)
        conns[0].send(ch_status(evse_id))

    with ScriptedServer(respond) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=30, **FAST).connect()
        tap = _ThreadTap()
        client._taps.add(tap)
        role = client._conn._loop.role
        try:
            # Until a call reads its own reply: then the reader stands aside (for 600 s).
            _until_a_call_reads_its_own_reply(client, tap, "BCU-WARM")
            threading.Thread(target=answer, args=("BCU-A", release_a), daemon=True).start()
            threading.Thread(target=answer, args=("BCU-B", release_b), daemon=True).start()
            a, a_outcome = in_thread(lambda: client.get_status("BCU-A").evse_id)
            wait_until(lambda: role._guest == a.ident, what="A reads as the guest", timeout=60)
            b, b_outcome = in_thread(lambda: client.get_status("BCU-B").evse_id)
            wait_until(lambda: len(role._followers) == 1, what="B waits as a follower", timeout=60)
            release_a.set()
            a.join(60)
            assert a_outcome == ["BCU-A"]
            release_b.set()
            b.join(60)
            assert not b.is_alive()
            assert b_outcome == ["BCU-B"], b_outcome
            assert tap.readers[-1] == READER_THREAD_NAME
        finally:
            release_a.set()
            release_b.set()
            client.close()


# -- a drop, liveness and Ctrl-C while the caller reads --------------------------------------
def _main_connection(after_hello: Any) -> Any:
    """A raw server script: the handshake, HELLO, then ``after_hello(conn)``."""

    def script(conn: RawConn) -> None:
        if conn.serve_handshake() is None:
            return
        conn.send_frame({"object": "HELLO"})
        after_hello(conn)

    return script


def _batch_ended_by_the_connection(client: Client) -> BaseException:
    """Run a two-id batch whose call timeout is 600 s; return what ended it, which must be
    the connection (it ends far sooner than the timeout, whose error it is not)."""
    thread, outcome = in_thread(lambda: client.get_statuses(["BCU-A", "BCU-B"]))
    thread.join(60)
    assert not thread.is_alive(), "the batch waited past the end of its connection"
    assert isinstance(outcome[0], ConnectionClosedError), outcome
    assert not isinstance(outcome[0], RequestTimeoutError)
    return outcome[0]


@pytest.mark.timeout(120)
def test_a_drop_while_the_caller_reads_fails_the_batch_at_once() -> None:
    def close_after_one_answer(conn: RawConn) -> None:
        frame = conn.read_json()
        conn.send_frame(ch_status(frame["evse_id"]))
        conn.send_frame(b"\x03\xe8", opcode=0x8)  # BCU-B is never answered: a close instead

    with RawServer(_main_connection(close_after_one_answer)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=600, **FAST).connect()
        try:
            _batch_ended_by_the_connection(client)
        finally:
            client.close()


@pytest.mark.timeout(120)
def test_liveness_is_judged_while_the_caller_reads() -> None:
    pings: list[int] = []

    def silent_after_one_answer(conn: RawConn) -> None:
        answered = False
        while True:  # answers BCU-A only, then nothing (no pong either); counts every ping
            opcode, payload = conn.read_frame()
            if opcode == 0x9:
                pings.append(opcode)
            elif opcode == 0x1 and not answered:
                answered = True
                conn.send_frame(ch_status(json.loads(payload)["evse_id"]))

    with RawServer(_main_connection(silent_after_one_answer)) as server:
        client = Client(
            GOOD_TOKEN,
            url=server.url,
            timeout=600,
            ping_interval=1.0,
            ping_timeout=1.0,
            reconnect=False,
        ).connect()
        try:
            assert "timed out" in str(_batch_ended_by_the_connection(client))
            assert pings, "no keepalive ping went out"
        finally:
            client.close()


def _answer_all_but_the_first_bcu_b(conn: RawConn) -> None:
    """A main-connection script: every GET_CH_STATUS answered, except the first for BCU-B."""
    answered: set[str] = set()
    while True:
        frame = conn.read_json()
        if frame["evse_id"] == "BCU-B" and "BCU-B" not in answered:
            answered.add("BCU-B")
            continue
        conn.send_frame(ch_status(frame["evse_id"]))


@pytest.mark.timeout(600)  # a loaded machine: minutes, not seconds
def test_ctrl_c_while_the_caller_waits_for_the_server_keeps_the_connection() -> None:
    with RawServer(_main_connection(_answer_all_but_the_first_bcu_b)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=600.0, ping_interval=None)
        client.connect()
        main = threading.main_thread()
        try:
            # The caller waits for bytes in Stream.ready: Ctrl-C lands there.
            with (
                ctrl_c_while(lambda: inside(main, "ready", "_transport.py"), "the caller waits"),
                pytest.raises(KeyboardInterrupt),
            ):
                client.get_statuses(["BCU-A", "BCU-B"])
            assert len(client._pending) == 0
            # The wait read nothing: the connection is whole and serves the next call.
            statuses = client.get_statuses(["BCU-A", "BCU-B"])
            assert [status.evse_id for status in statuses.values()] == ["BCU-A", "BCU-B"]
            assert len(server.requests) == 2  # the validation and one main connection
            assert not client._conn._loop.role.asked
        finally:
            client.close()


@pytest.mark.timeout(600)  # a loaded machine: minutes, not seconds
def test_ctrl_c_while_a_single_call_reads_and_waits_keeps_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_reader, "_LINGER", 600.0)  # the next call reads, however late it comes

    with RawServer(_main_connection(_answer_all_but_the_first_bcu_b)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=600.0, ping_interval=None)
        client.connect()
        tap = _ThreadTap()
        client._taps.add(tap)
        main = threading.main_thread()
        try:
            _until_a_call_reads_its_own_reply(client, tap, "BCU-A")
            # The call reads as the guest and waits for bytes in Stream.ready: Ctrl-C there.
            with (
                ctrl_c_while(lambda: inside(main, "ready", "_transport.py"), "the call waits"),
                pytest.raises(KeyboardInterrupt),
            ):
                client.get_status("BCU-B")
            assert len(client._pending) == 0
            assert client.get_status("BCU-B").evse_id == "BCU-B"
            assert len(server.requests) == 2  # the validation and one main connection
        finally:
            client.close()


class _InterruptingTap:
    """A frame tap that raises KeyboardInterrupt (as Ctrl-C would) while the batch's caller
    handles the reply naming ``evse_id``: an interrupt in the middle of a message."""

    def __init__(self, evse_id: str) -> None:
        self.evse_id = evse_id
        self.caller = threading.current_thread()
        self.raised = False

    def frame(self, direction: str, text: str, connection: str) -> None:
        here = threading.current_thread() is self.caller
        if direction == "in" and here and self.evse_id in text and not self.raised:
            self.raised = True
            raise KeyboardInterrupt

    def connection_event(self, event: str, connection: str, detail: str) -> None:
        pass


@pytest.mark.timeout(120)
def test_an_interrupt_while_the_caller_handles_a_message_drops_and_reconnects() -> None:
    with ScriptedServer(_answer_when_all_asked(3)) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=60, ping_interval=None).connect()
        tap = _InterruptingTap("BCU-C")
        client._taps.add(tap)
        try:
            with pytest.raises(KeyboardInterrupt):
                client.get_statuses(["BCU-A", "BCU-B", "BCU-C"])
            assert tap.raised and len(client._pending) == 0
            # Half-handled: the stream is dropped, a fresh one opened at once.
            wait_until(lambda: len(server.hello_times) == 2, what="a fresh connection", timeout=60)
            wait_until(lambda: client.connected, what="connected again", timeout=60)
            server.responder = None
            server.answer_statuses = True
            statuses = client.get_statuses(["BCU-A", "BCU-C"])
            assert [status.evse_id for status in statuses.values()] == ["BCU-A", "BCU-C"]
        finally:
            client.close()


# -- the readiness check of the drain --------------------------------------------------------
def test_ready_tells_whether_a_read_would_wait_for_the_server() -> None:
    sent = threading.Event()
    more = threading.Event()

    def script(conn: RawConn) -> None:
        conn.read_request()
        conn.accept()
        # Two messages in one write: after the first is read, the second is already buffered.
        first, second = (RawConn.frame_header(len(t)) + t for t in (b'{"n":1}', b'{"n":2}'))
        conn.send_raw(first + second)
        sent.set()
        more.wait(60)
        conn.send_frame(b'{"n":3}')
        conn.server.stopped.wait()

    with RawServer(script) as server:
        transport = WebSocketClientTransport(max_frame_bytes=1 << 20, ssl_context=None)
        stream = transport.open(server.url, Deadline(30), register=lambda _sock: None)
        try:
            assert sent.wait(30)
            wait_until(stream.ready, what="the two messages arrived", timeout=30)
            assert stream.read(30).data == b'{"n":1}'
            assert stream.ready()  # the second is in the frame buffer: no socket read needed
            assert stream.read(30).data == b'{"n":2}'
            assert not stream.ready()  # nothing there: a read would wait for the server
            more.set()
            wait_until(stream.ready, what="the third message arrived", timeout=30)
            assert stream.read(30).data == b'{"n":3}'
        finally:
            stream.abort()
