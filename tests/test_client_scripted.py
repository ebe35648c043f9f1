"""The client against a scripted server: exact replies, order, ERROR frames, faults."""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import in_thread, self_signed_cert, wait_until
from scripted_server import (
    GOOD_TOKEN,
    ISSUED_TOKEN,
    Conn,
    FreezableProxy,
    ScriptedServer,
    ch_status,
    status_reply,
)

from bluecurrent_sync import _clock, _wire
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    ActionFailed,
    AlreadyConnected,
    ApiError,
    ConnectionClosedError,
    InvalidApiToken,
    ReplyTooLarge,
    RequestLimitReached,
    RequestTimeoutError,
    ResponseValidationError,
)
from bluecurrent_sync.models import ChStatus

FAST: dict[str, Any] = {"timeout": 2.0, "action_timeout": 3.0, "reconnect_delay": (0.02, 0.1)}


@pytest.fixture
def make_client(server: ScriptedServer, new_client: Callable[..., Client]) -> Callable[..., Client]:
    def make(**options: Any) -> Client:
        return new_client(GOOD_TOKEN, server.url, **{**FAST, **options})

    return make


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client().connect()


def _reader_alive(client: Client) -> bool:
    """Whether this client's reader thread runs (another test's may, in the same process)."""
    reader = client._conn._reader
    return reader is not None and reader.is_alive()


# -- handshake --------------------------------------------------------------------------


def test_validation_refused(server: ScriptedServer, make_client: Callable[..., Client]) -> None:
    server.validate_ok = False
    with pytest.raises(InvalidApiToken):
        make_client().connect()


@pytest.mark.parametrize(
    ("reason", "error"),
    [("Request limit reached", RequestLimitReached), ("Already connected", AlreadyConnected)],
)
def test_handshake_refusals(
    server: ScriptedServer, make_client: Callable[..., Client], reason: str, error: type
) -> None:
    server.reject_reason = reason
    with pytest.raises(error) as info:
        make_client().connect()
    assert "403" not in str(info.value) or "reject" not in str(info.value).lower()
    if error is RequestLimitReached:
        assert info.value.reset_at.tzinfo is not None


def test_unknown_rejection_is_connection_error(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    server.reject_reason = "something else"
    with pytest.raises(ConnectionClosedError, match="HTTP 403"):
        make_client().connect()


def test_unreachable_server_is_connection_error() -> None:
    with ScriptedServer() as srv:
        url = srv.url
    client = Client(GOOD_TOKEN, url=url, timeout=1)
    before = set(threading.enumerate())  # other tests' clients may still be winding down
    with pytest.raises(ConnectionClosedError):
        client.connect()
    started = set(threading.enumerate()) - before
    assert not [t for t in started if t.name.startswith("bluecurrent-sync-")]
    client.close()


def test_hello_unanswered_counts_as_connected_after_hello_timeout(
    server: ScriptedServer, make_client: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    # docs/PROTOCOL.md OP-1: the official client never waits for a HELLO reply; silence for
    # hello_timeout proves nothing wrong.
    server.hello_reply = None
    caplog.set_level(logging.INFO, logger="bluecurrent_sync")
    client = make_client(timeout=5, hello_timeout=0.3).connect()
    try:
        assert client.connected
        assert "no HELLO reply" in caplog.text
        server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
        assert client.get_status("A").evse_id == "A"
    finally:
        client.close()


def test_hello_error_still_fails_connect(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    server.hello_reply = {"object": "ERROR", "error": 2, "message": "Not authorized"}
    with pytest.raises(ApiError):
        make_client(hello_timeout=5).connect()


def test_server_token_is_sent_not_user_token(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send({"object": "CHARGE_POINTS", "data": []})
    assert client.get_charge_points() == []
    frame = server.frames[-1]
    assert frame["Authorization"] == f"Token {ISSUED_TOKEN}"
    hello = next(f for f in server.frames if f["command"] == "HELLO")
    assert hello["Authorization"] == f"Token {ISSUED_TOKEN}"
    validate = next(f for f in server.frames if f["command"] == "VALIDATE_API_TOKEN")
    assert validate == {"command": "VALIDATE_API_TOKEN", "token": GOOD_TOKEN}


# -- ERROR frames ---------------------------------------------------------------------


def test_error_fails_only_the_oldest_request(client: Client, server: ScriptedServer) -> None:
    gate = threading.Event()
    seen: list[tuple[Conn, dict[str, Any]]] = []

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        seen.append((conn, frame))
        if len(seen) == 2:
            gate.set()

    server.responder = responder
    first, out1 = in_thread(lambda: client.get_status("A"))
    server.wait_for("GET_CH_STATUS")
    second, out2 = in_thread(lambda: client.get_settings("B"))
    assert gate.wait(30)
    conn = seen[0][0]
    conn.send({"object": "ERROR", "error": 0, "message": "Unknown command"})
    conn.send({"object": "CH_SETTINGS", "data": {"evse_id": "B"}})
    first.join(30)
    second.join(30)
    assert isinstance(out1[0], ApiError) and out1[0].code == 0
    assert out2[0].evse_id == "B"
    assert client.connected


@pytest.mark.parametrize(("code", "error"), [(1, InvalidApiToken), (42, RequestLimitReached)])
def test_connection_wide_errors_fail_everything(
    client: Client, server: ScriptedServer, code: int, error: type
) -> None:
    server.responder = lambda conn, frame: None
    threads = [in_thread(lambda e=e: client.get_status(e)) for e in ("A", "B", "C")]
    server.wait_for("GET_CH_STATUS", 3)
    server.push({"object": "ERROR", "error": code, "message": "x"})
    for thread, out in threads:
        thread.join(30)
        assert isinstance(out[0], error)
    if code == 42:
        wait_until(lambda: client.state == "limited")
        count = len(server.frames)
        with pytest.raises(RequestLimitReached):
            client.get_status("A")
        assert len(server.frames) == count


def test_close_code_4001_stops_reconnecting(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: None
    thread, out = in_thread(lambda: client.get_status("A"))
    server.wait_for("GET_CH_STATUS")
    handshakes = server.handshakes
    server.main.close(4001, "Request limit reached")
    thread.join(30)
    assert isinstance(out[0], RequestLimitReached)
    wait_until(lambda: client.state == "limited")
    with pytest.raises(RequestLimitReached):
        client.get_status("A")
    assert not client.connected
    assert server.handshakes == handshakes  # no reconnect attempt before reset_at


# -- correlation ----------------------------------------------------------------------


def test_out_of_order_replies(client: Client, server: ScriptedServer) -> None:
    pending: list[tuple[Conn, dict[str, Any]]] = []
    both = threading.Event()

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        pending.append((conn, frame))
        if len(pending) == 2:
            both.set()

    server.responder = responder
    with ThreadPoolExecutor(2) as pool:
        fa = pool.submit(client.get_status, "A")
        fb = pool.submit(client.get_status, "B")
        assert both.wait(30)
        for conn, frame in reversed(pending):
            conn.send(ch_status(frame["evse_id"]))
        assert fa.result(30).evse_id == "A"
        assert fb.result(30).evse_id == "B"


def test_push_resolves_waiter_and_reaches_subscribers(
    client: Client, server: ScriptedServer
) -> None:
    server.responder = lambda conn, frame: None
    got = threading.Event()
    client.on("CH_STATUS", lambda event: got.set())
    thread, out = in_thread(lambda: client.get_status("A"))
    server.wait_for("GET_CH_STATUS")
    server.push(ch_status("B"))  # another charger: not an answer
    server.push(ch_status("A", activity="charging"))
    thread.join(30)
    assert isinstance(out[0], ChStatus) and out[0].evse_id == "A"
    assert got.wait(30)


def test_two_step_action_waits_for_status(client: Client, server: ScriptedServer) -> None:
    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        command = frame["command"]
        conn.send({"object": f"RECEIVED_{command}", "error": ""})
        if command == "STOP_SESSION":
            conn.send(
                {"object": "STATUS_STOP_SESSION", "success": True, "flow_id": "", "error": ""}
            )
        elif frame["evse_id"] == "BAD":
            conn.send(status_reply(command, frame["evse_id"], success=False, error="REJECTED"))
        else:
            conn.send(status_reply(command, frame["evse_id"]))

    server.responder = responder
    assert client.reboot("A").command == "REBOOT"
    stopped = client.stop_session("X")
    assert (stopped.evse_id, stopped.command, stopped.success) == ("X", "STOP_SESSION", True)
    with pytest.raises(ActionFailed) as info:
        client.block("BAD", True)
    assert (info.value.command, info.value.error, info.value.evse_id) == (
        "SET_INOPERATIVE",
        "REJECTED",
        "BAD",
    )
    started = client.start_session("A", "card-uid")
    assert started.success
    start_frame = [f for f in server.frames if f["command"] == "START_SESSION"][-1]
    assert start_frame["session_token"] == "card-uid"


def test_received_with_error_fails_at_once(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send(
        {"object": "RECEIVED_STOP_SESSION", "success": False, "error": "no active session"}
    )
    with pytest.raises(ActionFailed, match="no active session"):
        client.stop_session("A")  # the error itself, not a timeout after action_timeout


def test_unanswered_request_times_out(
    make_client: Callable[..., Client], server: ScriptedServer
) -> None:
    client = make_client(timeout=0.2, action_timeout=0.3).connect()
    server.responder = lambda conn, frame: None
    with pytest.raises(RequestTimeoutError) as info:
        client.get_status("A")
    assert (info.value.command, info.value.evse_id) == ("GET_CH_STATUS", "A")
    assert isinstance(info.value, TimeoutError)
    with pytest.raises(RequestTimeoutError):
        client.reset("A")


# -- malformed input ------------------------------------------------------------------


def test_malformed_frames_never_kill_the_reader(
    make_client: Callable[..., Client], server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(timeout=0.5).connect()
    replies: list[Any] = ["not json", "[1,2]", "3", {"no": "object"}, b"\xff\xfe"]

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        if replies:
            conn.send(replies.pop(0))
        else:
            conn.send(ch_status(frame["evse_id"]))

    server.responder = responder
    with caplog.at_level(logging.WARNING, logger="bluecurrent_sync"):
        for _ in range(5):
            with pytest.raises(RequestTimeoutError):
                client.get_status("A")
    assert client.get_status("A").evse_id == "A"
    assert "dropped" in caplog.text


def test_conversion_failure_fails_the_request(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send(
        {"object": "CH_STATUS", "evse_id": frame["evse_id"], "data": {"actual_p1": "lots"}}
    )
    with pytest.raises(ResponseValidationError) as info:
        client.get_status("A")
    assert info.value.raw is not None
    server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
    assert client.get_status("A").evse_id == "A"


def test_oversized_reply_is_dropped_and_fails_its_call_at_once(
    make_client: Callable[..., Client], server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(max_frame_bytes=4096).connect()

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        pad = "x" * 10_000 if frame["evse_id"] == "A" else ""
        conn.send(ch_status(frame["evse_id"], padding=pad))

    server.responder = responder
    with (
        caplog.at_level(logging.WARNING, logger="bluecurrent_sync"),
        pytest.raises(ReplyTooLarge, match="max_frame_bytes=4096"),
    ):
        client.get_status("A")
    assert "max_frame_bytes" in caplog.text
    assert client.connected
    assert client.get_status("B").evse_id == "B"


# -- events overflow ------------------------------------------------------------------


def test_events_stream_drops_oldest(
    make_client: Callable[..., Client], server: ScriptedServer
) -> None:
    client = make_client(event_queue_size=100).connect()
    marker = threading.Event()
    client.on("MARKER", lambda _event: marker.set(), allow_unknown=True)
    with client.events("CH_STATUS", timeout=0, maxsize=5) as stream:
        for i in range(20):
            server.push(ch_status("A", actual_kwh=i))
        server.push({"object": "MARKER"})
        assert marker.wait(30)
        kept = list(stream)
    assert len(kept) == 5
    assert kept[-1].actual_kwh == 19
    assert [e.actual_kwh for e in kept] == sorted(e.actual_kwh for e in kept)
    assert stream.dropped == 15
    assert client.dropped_events == 0


def test_dispatcher_queue_drops_oldest_with_warning(
    make_client: Callable[..., Client], server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(event_queue_size=3).connect()
    release = threading.Event()
    entered = threading.Event()
    handled: list[float] = []

    def slow(event: ChStatus) -> None:
        entered.set()
        release.wait(5)
        handled.append(event.actual_kwh or 0)

    client.on("CH_STATUS", slow)
    marker = threading.Event()
    client.on("MARKER", lambda _event: marker.set(), allow_unknown=True)
    with caplog.at_level(logging.WARNING, logger="bluecurrent_sync"):
        server.push(ch_status("A", actual_kwh=0))
        assert entered.wait(30)
        for i in range(1, 11):
            server.push(ch_status("A", actual_kwh=i))
        server.push({"object": "MARKER"})
        server.responder = lambda conn, frame: conn.send(
            {"object": "GRID_STATUS", "data": {"id": "GRID-Z"}}
        )
        client.get_grid_status("Z")  # the reader is past every push once this returns
        release.set()
        assert marker.wait(30)
    wait_until(lambda: len(handled) == 3)
    assert handled == [0, 9, 10]  # queue of 3: [9, 10, MARKER]; 1..8 dropped, oldest first
    assert client.dropped_events == 8
    assert "dropped the oldest" in caplog.text


# -- reconnect failures ---------------------------------------------------------------


def test_invalid_token_during_reconnect_is_fatal(client: Client, server: ScriptedServer) -> None:
    server.hello_reply = {"object": "ERROR", "error": 1, "message": "Invalid Auth Token"}
    server.validate_ok = False
    server.main.drop()
    wait_until(lambda: client.state == "failed")
    with pytest.raises(InvalidApiToken):
        client.get_status("A")
    assert server.count("VALIDATE_API_TOKEN") == 2  # re-validated once, then gave up
    wait_until(lambda: not _reader_alive(client))  # reconnecting stopped for good
    assert client.state == "failed"
    assert server.count("VALIDATE_API_TOKEN") == 2


def test_revalidates_when_server_token_expired(client: Client, server: ScriptedServer) -> None:
    hellos = [0]

    def hello_then_ok() -> None:
        pass

    server.hello_reply = {"object": "ERROR", "error": 1, "message": "Invalid Auth Token"}
    connected = threading.Event()
    client.on("connected", lambda _e: connected.set())

    original = server._answer

    def answer(conn: Conn, frame: dict[str, Any]) -> None:
        if frame.get("command") == "VALIDATE_API_TOKEN":
            server.hello_reply = {"object": "HELLO"}
        hellos[0] += frame.get("command") == "HELLO"
        original(conn, frame)

    server._answer = answer  # type: ignore[method-assign]
    server.main.drop()
    assert connected.wait(30)
    assert server.count("VALIDATE_API_TOKEN") == 2
    assert hellos[0] == 2
    hello_then_ok()


def test_already_connected_during_reconnect_is_fatal(
    client: Client, server: ScriptedServer
) -> None:
    server.reject_reason = "Already connected"
    server.main.drop()
    wait_until(lambda: client.state == "failed")
    with pytest.raises(AlreadyConnected):
        client.get_charge_points()
    handshakes = server.handshakes
    wait_until(lambda: not _reader_alive(client))
    assert server.handshakes == handshakes and client.state == "failed"


def test_reconnect_backs_off_while_server_down(
    make_client: Callable[..., Client], server: ScriptedServer
) -> None:
    client = make_client(reconnect_delay=(0.05, 0.1)).connect()
    server.reject_reason = "maintenance"
    server.main.drop()
    wait_until(lambda: server.handshakes >= 5)
    assert client.state in ("reconnecting", "connecting")
    with pytest.raises(ConnectionClosedError):
        client.get_status("A")
    server.reject_reason = None
    wait_until(lambda: client.connected)
    server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
    assert client.get_status("A").evse_id == "A"


def test_frames_are_json_objects_with_command(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send(
        {"object": "LIST_OVERRIDE_CURRENT", "data": []}
    )
    assert client.get_user_override_currents_list() == []
    assert json.loads(json.dumps(server.frames[-1]))["command"] == "LIST_OVERRIDE_CURRENT"


def test_keepalive_pings_and_detects_a_dead_peer(server: ScriptedServer) -> None:
    proxy = FreezableProxy(server.url)
    client = Client(
        # A pong may take up to 3 s (a loaded machine) before the peer counts as dead.
        GOOD_TOKEN,
        url=proxy.url,
        **{**FAST, "ping_interval": 0.05, "ping_timeout": 3.0},
    )
    try:
        down = threading.Event()
        up = threading.Event()
        client.on("disconnected", lambda _e: down.set())
        client.on("connected", lambda _e: up.set())
        client.connect()
        sent = proxy.bytes_up
        wait_until(lambda: proxy.bytes_up >= sent + 3 * 6)  # pings go out while idle
        assert client.connected and not down.is_set()
        proxy.freeze()
        # Only the missing pongs can tell: the frozen proxy keeps the TCP connection open.
        assert down.wait(30)
        assert up.wait(30)  # reconnected through a fresh (unfrozen) connection
        server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
        assert client.get_status("A").evse_id == "A"
    finally:
        client.close()
        proxy.stop()


def _soon(monkeypatch: pytest.MonkeyPatch, seconds: float) -> dt.datetime:
    reset_at = _clock.now() + dt.timedelta(seconds=seconds)
    monkeypatch.setattr(_wire, "next_reset_at", lambda now=None: reset_at)
    return reset_at


def test_limited_until_reset_then_reconnects(
    client: Client, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_at = _soon(monkeypatch, 0.4)
    up = threading.Event()
    client.on("connected", lambda _e: up.set())
    handshakes = server.handshakes
    server.main.close(4001, "Request limit reached")
    wait_until(lambda: client.state == "limited")
    with pytest.raises(RequestLimitReached) as info:
        client.get_status("A")
    assert info.value.reset_at == reset_at
    assert server.handshakes == handshakes
    assert up.wait(30)  # reconnected once reset_at passed
    assert _clock.now() >= reset_at
    assert server.count("VALIDATE_API_TOKEN") == 1  # the issued token was still good
    server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
    assert client.get_status("A").evse_id == "A"


def test_error_42_without_close_lifts_at_reset(
    client: Client, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_at = _soon(monkeypatch, 0.3)
    server.push({"object": "ERROR", "error": 42, "message": "Request limit reached"})
    wait_until(lambda: client.state == "limited")
    with pytest.raises(RequestLimitReached):
        client.get_charge_points()
    wait_until(lambda: _clock.now() >= reset_at)
    server.responder = lambda conn, frame: conn.send({"object": "CHARGE_POINTS", "data": []})
    assert client.get_charge_points() == []
    assert client.connected


DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError here


def test_hostile_frames_before_hello_and_while_reconnecting(
    make_client: Callable[..., Client], server: ScriptedServer
) -> None:
    server.before_hello = [DEEP, b"\xff\xfe", "[1]", "{", ch_status("EARLY")]
    client = make_client().connect()
    up = threading.Event()
    client.on("connected", lambda _e: up.set())
    server.main.drop()
    assert up.wait(30)  # the reader survived the same frames while reconnecting
    server.push(DEEP)
    server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
    assert client.get_status("A").evse_id == "A"


# -- TLS ------------------------------------------------------------------------------


@pytest.fixture
def self_signed(tmp_path: Any) -> tuple[str, str]:
    return self_signed_cert(tmp_path, "IP:127.0.0.1,DNS:localhost")


def test_tls_is_verified_by_default(self_signed: tuple[str, str]) -> None:
    cert, key = self_signed
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    with ScriptedServer(ssl_context=server_context) as tls_server:
        assert tls_server.url.startswith("wss://")
        refused = Client(GOOD_TOKEN, url=tls_server.url, timeout=2)
        with pytest.raises(ConnectionClosedError, match="TLS") as info:
            refused.connect()
        assert GOOD_TOKEN not in str(info.value)
        refused.close()
        trusting = ssl.create_default_context(cafile=cert)
        client = Client(GOOD_TOKEN, url=tls_server.url, timeout=2, sslopt={"context": trusting})
        try:
            client.connect()
            assert client.connected and client.customer_id == "CUST-7"
        finally:
            client.close()


class _StuckTap:
    """A frame tap that holds the reader thread on a marker frame until released."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.holding = threading.Event()

    def frame(self, direction: str, text: str, connection: str) -> None:
        if direction == "in" and "STUCK_READER" in text:
            self.holding.set()
            self.release.wait(60)

    def connection_event(self, event: str, connection: str, detail: str) -> None:
        pass


def test_close_takes_about_timeout_overall_even_when_both_threads_are_stuck(
    server: ScriptedServer,
) -> None:
    # The reader held in a tap and the dispatcher in a handler: each join used to get its own
    # timeout (0.25 s + timeout + 1 s + timeout); one budget of ``timeout`` now covers all.
    timeout = 5.0
    client = Client(GOOD_TOKEN, url=server.url, **{**FAST, "timeout": timeout}).connect()
    release = threading.Event()
    in_handler = threading.Event()
    tap = _StuckTap(release)
    try:
        client.on(
            "STUCK_HANDLER",
            lambda _event: (in_handler.set(), release.wait(60)),
            allow_unknown=True,
        )
        client._taps.add(tap)
        server.push({"object": "STUCK_HANDLER"})
        assert in_handler.wait(30)
        server.push({"object": "STUCK_READER"})
        assert tap.holding.wait(30)
        started = time.monotonic()
        client.close()
        elapsed = time.monotonic() - started
    finally:
        release.set()
        client.close()
    # About ``timeout`` expected; the old sum was 2 x timeout + 1.25 s. A bound of 2 x timeout
    # tells them apart and leaves a loaded machine a whole ``timeout`` of slack.
    assert elapsed < 2 * timeout, elapsed
