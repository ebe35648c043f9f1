"""The synchronous client against the simulator, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import wait_until
from scripted_server import GOOD_TOKEN, Conn, ScriptedServer, ch_status

from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    ActionFailed,
    AlreadyConnected,
    ApiError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
)
from bluecurrent_sync.models import (
    ActionResult,
    ChargeCard,
    ChargePoint,
    ChSettings,
    ChStatus,
    GridStatus,
    OverrideSchedule,
    RawEvent,
    SettingResult,
)
from bluecurrent_sync.simulator import (
    CARDS,
    CUSTOMER_ID,
    DEFAULT_TOKEN,
    EVSE_IDS,
    FOREIGN_EVSE_ID,
    Simulator,
)

HOME_CARD = "04A1B2C3D4E5F6"
FAST = {"timeout": 3.0, "action_timeout": 5.0, "reconnect_delay": (0.02, 0.1)}


@pytest.fixture
def make_client(simulator: Simulator, new_client: Callable[..., Client]) -> Callable[..., Client]:
    def make(sim: Simulator | None = None, token: str = DEFAULT_TOKEN, **options: Any) -> Client:
        return new_client(token, (sim or simulator).url, **{**FAST, **options})

    return make


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client().connect()


def sdk_threads(before: Collection[threading.Thread] = ()) -> list[threading.Thread]:
    """The client threads running now, except those in ``before`` (another test's client
    may still be ending in this process: several tests share a worker)."""
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("bluecurrent-sync-") and "sim" not in t.name and t not in before
    ]


# -- every public method, typed ----------------------------------------------------------


def test_reads_return_typed_models(client: Client, simulator: Simulator) -> None:
    assert client.connected
    assert client.customer_id == CUSTOMER_ID
    points = client.get_charge_points()
    assert [p.evse_id for p in points] == list(EVSE_IDS)
    assert all(isinstance(p, ChargePoint) for p in points)
    status = client.get_status(EVSE_IDS[0])
    assert isinstance(status, ChStatus) and status.evse_id == EVSE_IDS[0]
    settings = client.get_settings(EVSE_IDS[1])
    assert isinstance(settings, ChSettings) and settings.evse_id == EVSE_IDS[1]
    grid = client.get_grid_status(EVSE_IDS[1])
    assert isinstance(grid, GridStatus) and grid.evse_id == EVSE_IDS[1]
    cards = client.get_charge_cards()
    assert all(isinstance(c, ChargeCard) for c in cards)
    assert {c.uid for c in cards} >= {HOME_CARD}
    assert client.get_email() == "sam@simulator.example"
    statuses = client.get_statuses(EVSE_IDS)
    assert set(statuses) == set(EVSE_IDS)
    assert all(s.evse_id == e for e, s in statuses.items())
    assert CARDS  # the scenario exports its cards


def test_settings_and_actions(client: Client, simulator: Simulator) -> None:
    evse = EVSE_IDS[1]
    result = client.set_plug_and_charge(evse, True)
    assert isinstance(result, SettingResult)
    assert (result.evse_id, result.setting, result.value) == (evse, "plug_and_charge", True)
    linked = client.set_linked_charge_cards_only(evse, True)
    assert (linked.setting, linked.value, linked.evse_id) == (
        "linked_charge_cards_only",
        True,
        evse,
    )
    sent = simulator.received("SET_PUBLIC_CHARGING")[-1]
    assert sent["value"] is False  # wire value is "public charging", the inverse
    target = EVSE_IDS[3]
    for call, command in [
        (lambda: client.block(target, True), "SET_INOPERATIVE"),
        (lambda: client.block(target, False), "SET_OPERATIVE"),
        (lambda: client.reset(evse), "SOFT_RESET"),
        (lambda: client.reboot(evse), "REBOOT"),
        (lambda: client.start_session(target, HOME_CARD), "START_SESSION"),
        (lambda: client.stop_session(target), "STOP_SESSION"),
    ]:
        action = call()
        assert isinstance(action, ActionResult)
        assert action.command == command and action.success
        assert action.evse_id in (evse, target)
    assert client.stop_session.__doc__


def test_smart_charging_and_overrides(client: Client, simulator: Simulator) -> None:
    evse = EVSE_IDS[1]
    for action, command in [
        (client.set_delayed_charging(evse, True), "SET_DELAYED_CHARGING"),
        (
            client.set_delayed_charging_settings(evse, [1, "tuesday"], dt.time(7, 0), "09:30"),
            "SAVE_SCHEDULE_DELAYED_CHARGING",
        ),
        (client.set_price_based_charging(evse, True), "SET_PRICE_BASED_CHARGING"),
        (
            client.update_price_based_charging_settings(evse, minimum_percentage=20),
            "PATCH_PRICE_BASED_CHARGING_SETTINGS",
        ),
        (client.override_price_based_charging_profile(evse, True), "OVERRIDE_CHARGING_PROFILES"),
        (client.override_delayed_charging_profile(evse, True), "OVERRIDE_DELAYED_CHARGING_TIMEOUT"),
    ]:
        assert isinstance(action, ActionResult)
        assert (action.command, action.evse_id, action.success) == (command, evse, True)
    saved = simulator.received("SAVE_SCHEDULE_DELAYED_CHARGING")[-1]
    assert (saved["days"], saved["start_time"], saved["end_time"]) == ("[1,2]", "07:00", "09:30")

    schedule = client.set_user_override_current(
        [evse],
        start_time="10:00",
        start_days=["MO"],
        stop_time=dt.time(12),
        stop_days=[2],
        current=6,
    )
    assert isinstance(schedule, OverrideSchedule)
    assert schedule.charge_points == [evse] and schedule.start_days == ["MO"]
    edited = client.edit_user_override_current(
        schedule.schedule_id,
        [evse],
        start_time="10:00",
        start_days=["MO"],
        stop_time="12:00",
        stop_days=["TU"],
        current=8,
    )
    assert edited.override_current == 8
    listed = client.get_user_override_currents_list()
    assert [s.schedule_id for s in listed] == [schedule.schedule_id]
    cleared = client.clear_user_override_current(schedule.schedule_id)
    assert cleared.success
    assert client.get_user_override_currents_list() == []
    clear_frame = simulator.received("POST_CLEAR_OVERRIDE_CURRENT")[-1]
    assert isinstance(clear_frame["schedule_id"], int)
    edit_frame = simulator.received("POST_EDIT_OVERRIDE_CURRENT")[-1]
    assert isinstance(edit_frame["schedule_id"], str)


# -- error paths -----------------------------------------------------------------------


def test_invalid_token(make_client: Callable[..., Client]) -> None:
    client = make_client(token="not-the-token")
    with pytest.raises(InvalidApiToken):
        client.connect()
    assert not client.connected


def test_not_authorized_is_api_error_and_connection_stays(client: Client) -> None:
    with pytest.raises(ApiError) as info:
        client.get_status(FOREIGN_EVSE_ID)
    assert info.value.code == 2
    assert client.get_status(EVSE_IDS[0]).evse_id == EVSE_IDS[0]


def test_refused_actions(client: Client, simulator: Simulator) -> None:
    with pytest.raises(ActionFailed) as info:
        client.start_session(EVSE_IDS[3], "unknown-card")
    assert info.value.command == "START_SESSION" and info.value.error == "REJECTED"
    assert info.value.evse_id == EVSE_IDS[3]
    with pytest.raises(ActionFailed, match="no active session"):
        client.stop_session(EVSE_IDS[1])
    with pytest.raises(ActionFailed, match="TIMEOUT"):
        client.reset(EVSE_IDS[2])  # offline charger
    simulator.fail_action("SOFT_RESET", "REJECTED")
    with pytest.raises(ActionFailed, match="REJECTED"):
        client.reset(EVSE_IDS[1])


@pytest.mark.parametrize("simulator", [{"quota": 6}], indirect=True)
def test_quota_exhausted(make_client: Callable[..., Client], simulator: Simulator) -> None:
    client = make_client().connect()  # VALIDATE + HELLO = 2
    client.get_status(EVSE_IDS[0])
    client.get_status(EVSE_IDS[1])
    client.get_status(EVSE_IDS[2])
    client.get_status(EVSE_IDS[3])  # 6 used
    with pytest.raises(RequestLimitReached) as info:
        client.get_charge_points()
    reset_at = info.value.reset_at
    assert reset_at.tzinfo is not None
    local = reset_at.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert (local.hour, local.minute, local.second) == (0, 0, 30)
    assert str(reset_at.isoformat()) in str(info.value)
    wait_until(lambda: client.state == "limited")
    before = len(simulator.received())
    for _ in range(3):
        with pytest.raises(RequestLimitReached):
            client.get_status(EVSE_IDS[0])
    assert len(simulator.received()) == before  # no network use while limited
    # A new client is refused at the handshake.
    with pytest.raises(RequestLimitReached):
        make_client().connect()


@pytest.mark.parametrize("simulator", [{"single_connection": True}], indirect=True)
def test_already_connected(make_client: Callable[..., Client]) -> None:
    make_client().connect()
    with pytest.raises(AlreadyConnected):
        make_client().connect()


def test_calls_before_connect_and_after_close(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.close()  # before connect: fine
    client = make_client()
    with pytest.raises(ClientStateError):
        client.get_charge_points()
    client.connect()
    with pytest.raises(ClientStateError):
        client.connect()
    client.close()
    client.close()  # idempotent
    with pytest.raises(ClientStateError):
        client.get_status(EVSE_IDS[0])
    assert not client.connected


# -- correlation and concurrency -------------------------------------------------------


def test_identical_gets_in_flight_are_sent_once(client: Client, simulator: Simulator) -> None:
    simulator.delay_reply("GET_CH_STATUS", 0.3)
    before = simulator.count("GET_CH_STATUS")
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client.get_status, EVSE_IDS[0]) for _ in range(4)]
        results = [f.result(30) for f in futures]
    assert all(r.evse_id == EVSE_IDS[0] for r in results)
    assert simulator.count("GET_CH_STATUS") - before == 1


def test_get_statuses_is_pipelined(server: ScriptedServer) -> None:
    # The server holds every reply until all four requests have arrived, then answers them
    # newest first: only a client that sends every request before it reads gets an answer (one
    # that waited for each reply before sending the next would run out its 30 s timeout).
    held: list[str] = []

    def hold_until_all(conn: Conn, frame: dict[str, Any]) -> None:
        held.append(frame["evse_id"])
        if len(held) == len(EVSE_IDS):
            for evse_id in reversed(held):
                conn.send(ch_status(evse_id))

    server.responder = hold_until_all
    with Client(GOOD_TOKEN, url=server.url, timeout=30.0) as client:
        statuses = client.get_statuses(EVSE_IDS)
    assert {e: s.evse_id for e, s in statuses.items()} == {e: e for e in EVSE_IDS}
    assert sorted(held) == sorted(EVSE_IDS)


def test_many_threads_mixed_commands_never_mismatch(client: Client) -> None:
    def work(i: int) -> None:
        evse = EVSE_IDS[i % len(EVSE_IDS)]
        for j in range(6):
            kind = (i + j) % 4
            if kind == 0:
                assert client.get_status(evse).evse_id == evse
            elif kind == 1:
                assert client.get_settings(evse).evse_id == evse
            elif kind == 2:
                assert client.get_grid_status(evse).evse_id == evse
            else:
                assert len(client.get_charge_points()) == len(EVSE_IDS)

    with ThreadPoolExecutor(10) as pool:
        for future in [pool.submit(work, i) for i in range(10)]:
            future.result(20)


# -- drops, reconnect, close -----------------------------------------------------------


def test_drop_mid_call_fails_fast_then_reconnects(client: Client, simulator: Simulator) -> None:
    got: list[object] = []
    seen = threading.Event()
    connected = threading.Event()

    @client.on("CH_STATUS")
    def on_status(event: ChStatus) -> None:
        got.append(event)
        seen.set()

    client.on("connected", lambda _event: connected.set())
    simulator.withhold_reply("GET_CHARGE_POINTS")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.get_charge_points()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    simulator.wait_for("GET_CHARGE_POINTS")
    simulator.drop_all()
    # The call fails with the connection (ConnectionClosedError, not RequestTimeoutError).
    worker.join(30)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)
    assert connected.wait(30)
    assert client.connected
    assert simulator.count("HELLO") == 2
    assert client.get_status(EVSE_IDS[1]).evse_id == EVSE_IDS[1]
    seen.clear()
    simulator.push_now()
    assert seen.wait(30)  # subscription kept across the reconnect


def test_calls_while_down_fail_at_once(
    make_client: Callable[..., Client], simulator: Simulator
) -> None:
    client = make_client(reconnect=False, timeout=60.0).connect()
    down = threading.Event()
    client.on("disconnected", lambda _event: down.set())
    simulator.drop_all()
    assert down.wait(30)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        client.get_status(EVSE_IDS[0])
    assert time.monotonic() - started < 30.0  # at once, not after the 60 s timeout
    assert not client.connected


def test_close_while_calls_in_flight(client: Client, simulator: Simulator) -> None:
    simulator.withhold_reply("GET_CH_STATUS", once=False)
    simulator.withhold_reply("START_SESSION", once=False)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def call(fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:
            with lock:
                errors.append(exc)

    calls: list[Callable[[], object]] = [
        *(lambda e=e: client.get_status(e) for e in EVSE_IDS),
        lambda: client.start_session(EVSE_IDS[3], HOME_CARD),
    ]
    workers = [threading.Thread(target=call, args=(fn,)) for fn in calls]
    for worker in workers:
        worker.start()
    simulator.wait_for("GET_CH_STATUS", count=len(EVSE_IDS))
    simulator.wait_for("START_SESSION")
    client.close()
    for worker in workers:
        worker.join(30)  # each call fails with the close (the error type, not a timeout)
    assert not any(worker.is_alive() for worker in workers)
    assert len(errors) == len(calls)
    assert all(isinstance(e, ConnectionClosedError) for e in errors)


def test_no_threads_left_after_close(
    make_client: Callable[..., Client], simulator: Simulator
) -> None:
    before = set(threading.enumerate())
    client = make_client().connect()
    client.get_charge_points()
    assert {t.name for t in sdk_threads(before)} >= {
        "bluecurrent-sync-reader",
        "bluecurrent-sync-dispatch",
    }
    client.close()
    assert sdk_threads(before) == []


# -- handlers --------------------------------------------------------------------------


def test_handler_errors_are_isolated(
    client: Client, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    second = threading.Event()

    def bad(_event: object) -> None:
        raise RuntimeError("boom")

    client.on("CH_STATUS", bad)
    client.on("CH_STATUS", lambda _event: second.set())
    with caplog.at_level(logging.ERROR, logger="bluecurrent_sync"):
        simulator.push_now()
        assert second.wait(30)
    assert "boom" in caplog.text
    client.off("CH_STATUS", bad)
    assert client.get_status(EVSE_IDS[0]).evse_id == EVSE_IDS[0]


def test_blocking_call_from_handler(client: Client, simulator: Simulator) -> None:
    results: list[object] = []
    done = threading.Event()

    @client.on("CH_STATUS")
    def handler(event: ChStatus) -> None:
        if done.is_set():
            return
        results.append(client.get_settings(event.evse_id))
        done.set()

    simulator.push_now()
    assert done.wait(30)
    assert isinstance(results[0], ChSettings)


def test_events_iterator(client: Client, simulator: Simulator) -> None:
    with client.events("CH_STATUS", timeout=5) as stream:
        simulator.push_now()
        event = next(stream)
        assert isinstance(event, ChStatus)
    with client.events("NOTHING_LIKE_THIS", timeout=0.05, allow_unknown=True) as stream:
        assert list(stream) == []


# -- secrets, TLS policy, asyncio ------------------------------------------------------


def test_secrets_never_logged_or_shown(
    make_client: Callable[..., Client], simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    issued = simulator.issued_token(DEFAULT_TOKEN)
    messages: list[str] = []
    with caplog.at_level(logging.DEBUG):
        client = make_client().connect()
        messages.append(repr(client))
        client.get_charge_points()
        client.get_status(EVSE_IDS[0])
        client.get_email()
        client.start_session(EVSE_IDS[3], HOME_CARD)
        for call in (
            lambda: client.get_status(FOREIGN_EVSE_ID),
            lambda: client.stop_session(EVSE_IDS[1]),
        ):
            with pytest.raises(Exception) as info:
                call()
            messages.append(str(info.value))
            messages.append(repr(info.value))
        simulator.drop_all()
        wait_until(lambda: simulator.count("HELLO") >= 2 and client.connected)
        client.close()
    # Only the SDK's own loggers and websocket-client's (the simulator logs raw frames).
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name == "websocket"
        or (record.name.startswith("bluecurrent_sync") and ".simulator" not in record.name)
    )
    assert "main out {" in ours and "main in {" in ours  # the wire log (redacted)
    text = ours + "\n".join(messages)
    assert DEFAULT_TOKEN not in text
    assert issued not in text


def test_plain_ws_refused_for_remote_hosts() -> None:
    with pytest.raises(ValueError, match="allow_insecure"):
        Client("t", url="ws://example.org/haserver")
    Client("t", url="ws://example.org/haserver", allow_insecure=True).close()
    Client("t", url="ws://localhost:1/haserver").close()
    Client("t", url="wss://example.org/haserver").close()
    with pytest.raises(ValueError):
        Client("t", url="http://example.org/")


def test_works_inside_running_asyncio_loop(make_client: Callable[..., Client]) -> None:
    async def main() -> list[ChargePoint]:
        client = make_client().connect()
        try:
            return client.get_charge_points()
        finally:
            client.close()

    assert len(asyncio.run(main())) == len(EVSE_IDS)


def test_connection_events_are_raw_events(client: Client, simulator: Simulator) -> None:
    events: list[RawEvent] = []
    got = threading.Event()

    def record(event: RawEvent) -> None:
        events.append(event)
        if event.object_name == "connected":
            got.set()

    client.on("disconnected", record)
    client.on("connected", record)
    simulator.drop_all()
    assert got.wait(30)
    assert [e.object_name for e in events] == ["disconnected", "connected"]


def test_context_manager_and_close_from_handler(simulator: Simulator) -> None:
    closed = threading.Event()
    before = set(threading.enumerate())
    with Client(DEFAULT_TOKEN, url=simulator.url, **FAST) as client:
        assert client.connected

        @client.on("CH_STATUS")
        def stop(_event: ChStatus) -> None:
            client.close()  # from the dispatcher thread: must not deadlock
            closed.set()

        simulator.push_now()
        assert closed.wait(30)
        assert client.state == "closed"
    wait_until(lambda: sdk_threads(before) == [])
