"""The client's behaviour under every server variant the public sources allow.

Each test runs once per variant set of ``variant_cases()``: the defaults, then every other
value of each open point of docs/PROTOCOL.md (``hello=silent``, ``grid_id=account``, ...).
Under each one every call must return the right typed result or typed error, and never
wait out its timeout when the server has already said all it will say.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from wire_schemas import validate_wire_frame

from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ActionFailed, ApiError, RequestTimeoutError
from bluecurrent_sync.models import (
    ActionOutcome,
    ActionResult,
    ChargePoint,
    ChSettings,
    ChStatus,
    GridCurrent,
    GridStatus,
)
from bluecurrent_sync.simulator import (
    DEFAULT_TOKEN,
    EVSE_IDS,
    FOREIGN_EVSE_ID,
    VARIANTS,
    Simulator,
    Variants,
    variant_cases,
)

GARAGE, DRIVEWAY, OFFICE, CARPORT = EVSE_IDS
HOME_CARD = "04A1B2C3D4E5F6"
VERDICT_WAIT = 0.3
CLIENT_OPTIONS: dict[str, Any] = {
    "timeout": 3.0,
    "action_timeout": 4.0,
    "verdict_timeout": VERDICT_WAIT,
    "hello_timeout": 1.0,
    "reconnect_delay": (0.02, 0.1),
}
CASES = variant_cases()


def _case_id(case: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in case.items()) or "defaults"


@pytest.fixture(params=CASES, ids=[_case_id(case) for case in CASES])
def variants(request: pytest.FixtureRequest) -> Variants:
    return Variants(request.param)


@pytest.fixture
def sim(variants: Variants, make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(variants=dict(variants), push_interval=0.2, action_delay=0.02)


@pytest.fixture
def client(sim: Simulator) -> Iterator[Client]:
    with Client(DEFAULT_TOKEN, url=sim.url, **CLIENT_OPTIONS) as connected:
        yield connected


def _confirmed(result: ActionResult, command: str, evse_id: str) -> None:
    assert isinstance(result, ActionResult)
    assert (result.command, result.evse_id) == (command, evse_id)
    assert result.outcome is ActionOutcome.CONFIRMED and result.success is True


def _acknowledged(result: ActionResult, command: str, evse_id: str) -> None:
    assert (result.command, result.evse_id) == (command, evse_id)
    assert result.outcome is ActionOutcome.ACKNOWLEDGED and result.success is None
    # It returned after the bounded verdict wait, not after action_timeout.
    assert result.detail == f"RECEIVED_{command}; no verdict within {VERDICT_WAIT:.1f} s"


# -- reads ---------------------------------------------------------------------------------


def test_reads(client: Client, sim: Simulator, variants: Variants) -> None:
    points = client.get_charge_points()
    assert [p.evse_id for p in points] == list(EVSE_IDS)
    assert all(isinstance(p, ChargePoint) and p.unparsed is None for p in points)
    garage = points[0]
    assert garage.plug_and_charge is True and garage.linked_charge_cards_only is True
    assert garage.plug_and_charge_notification is False  # plain or wrapped (OP-10)
    assert garage.plug_and_charge_card is not None  # either card key (OP-10)
    assert garage.tariff is not None and garage.tariff.tariff_id == "NLBCUT994"
    assert garage.delayed_charging is not None and garage.delayed_charging.value is False
    if variants.settings_shape == "recorded":
        assert garage.delayed_charging.days == [1, 2, 3, 4, 5]
        assert str(garage.delayed_charging.start_time) == "23:00:00"

    status = client.get_status(GARAGE)
    assert isinstance(status, ChStatus) and status.evse_id == GARAGE
    assert status.activity == "charging"
    if variants.numbers == "nan":
        assert status.total_cost is None and status.max_offline is None  # OP-11
    else:
        assert status.total_cost is not None and status.max_offline == 16
    statuses = client.get_statuses(EVSE_IDS)
    assert {e: s.evse_id for e, s in statuses.items()} == {e: e for e in EVSE_IDS}

    settings = client.get_settings(DRIVEWAY)
    assert isinstance(settings, ChSettings) and settings.evse_id == DRIVEWAY
    assert settings.smart_charging is True and settings.unparsed is None
    assert settings.plug_and_charge_card is not None
    if variants.settings_shape == "recorded":
        assert settings.tariff is not None and settings.chargepoint_name == "Driveway"
        assert settings.city == "Amsterdam" and settings.publish_location is not None
        assert settings.capacity_tariff is not None

    for evse_id in EVSE_IDS:  # the grid of every charge point, the second one included
        grid = client.get_grid_status(evse_id)
        assert isinstance(grid, GridStatus) and grid.evse_id == evse_id
        owner = evse_id if variants.grid_id == "own" else GARAGE
        assert grid.grid_id == f"GRID-{owner}"
    assert {card.uid for card in client.get_charge_cards()} >= {HOME_CARD}


# -- settings ------------------------------------------------------------------------------


def test_settings(client: Client, sim: Simulator) -> None:
    result = client.set_plug_and_charge(DRIVEWAY, True)
    assert (result.evse_id, result.setting, result.value, result.success) == (
        DRIVEWAY,
        "plug_and_charge",
        True,
        True,
    )
    linked = client.set_linked_charge_cards_only(DRIVEWAY, True)
    assert (linked.setting, linked.value) == ("linked_charge_cards_only", True)
    # A refusal is ActionFailed whatever its result field looks like (OP-4).
    with pytest.raises(ActionFailed) as info:
        client.set_plug_and_charge(OFFICE, True)  # offline
    assert (info.value.evse_id, info.value.error) == (OFFICE, "TIMEOUT")
    sim.fail_action("SET_PUBLIC_CHARGING", "REJECTED")
    with pytest.raises(ActionFailed, match="REJECTED"):
        client.set_linked_charge_cards_only(DRIVEWAY, False)


# -- device actions ------------------------------------------------------------------------


def test_session_reset_reboot(client: Client, sim: Simulator) -> None:
    _confirmed(client.start_session(CARPORT, HOME_CARD), "START_SESSION", CARPORT)
    _confirmed(client.stop_session(CARPORT), "STOP_SESSION", CARPORT)
    _confirmed(client.reset(DRIVEWAY), "SOFT_RESET", DRIVEWAY)
    _confirmed(client.reboot(DRIVEWAY), "REBOOT", DRIVEWAY)
    with pytest.raises(ActionFailed, match="no active session") as info:
        client.stop_session(DRIVEWAY)
    assert info.value.evse_id == DRIVEWAY
    with pytest.raises(ActionFailed, match="REJECTED"):
        client.start_session(CARPORT, "unknown-card")
    with pytest.raises(ActionFailed, match="TIMEOUT"):
        client.reset(OFFICE)


def test_block_and_unblock(client: Client, sim: Simulator, variants: Variants) -> None:
    _confirmed(client.block(CARPORT, True), "SET_INOPERATIVE", CARPORT)
    assert client.get_status(CARPORT).activity == "unavailable"
    # Blocking it again changes nothing: what the client can know depends on the server.
    operative = variants.operative
    if operative in ("ack_status", "status_no_evse"):
        _confirmed(client.block(CARPORT, True), "SET_INOPERATIVE", CARPORT)
    elif operative == "ack_push":  # ack, then silence: the last CH_STATUS already says so
        again = client.block(CARPORT, True)
        _confirmed(again, "SET_INOPERATIVE", CARPORT)
        assert again.detail is not None and "already" in again.detail
    else:  # push_only: the server says nothing at all
        with pytest.raises(RequestTimeoutError):
            client.block(CARPORT, True)
    _confirmed(client.block(CARPORT, False), "SET_OPERATIVE", CARPORT)
    assert client.get_status(CARPORT).activity == "available"


def test_block_refused(client: Client, sim: Simulator, variants: Variants) -> None:
    sim.fail_action("SET_INOPERATIVE", "REJECTED")
    if variants.operative in ("ack_status", "status_no_evse"):
        with pytest.raises(ActionFailed, match="REJECTED"):
            client.block(CARPORT, True)
    elif variants.operative == "ack_push":
        _acknowledged(client.block(CARPORT, True), "SET_INOPERATIVE", CARPORT)
    else:
        with pytest.raises(RequestTimeoutError):
            client.block(CARPORT, True)
    assert client.get_status(CARPORT).activity == "available"


def test_two_stops_at_once_get_their_own_verdicts(client: Client, sim: Simulator) -> None:
    for evse_id in (DRIVEWAY, CARPORT):
        _confirmed(client.start_session(evse_id, HOME_CARD), "START_SESSION", evse_id)
    with ThreadPoolExecutor(2) as pool:
        futures = {e: pool.submit(client.stop_session, e) for e in (DRIVEWAY, CARPORT)}
        results = {e: f.result(20) for e, f in futures.items()}
    for evse_id, result in results.items():
        _confirmed(result, "STOP_SESSION", evse_id)
    assert {client.get_status(e).activity for e in (DRIVEWAY, CARPORT)} == {"available"}


# -- smart charging and override schedules -------------------------------------------------


def test_smart_charging(client: Client, sim: Simulator, variants: Variants) -> None:
    calls: list[tuple[str, Callable[[], ActionResult]]] = [
        ("SET_DELAYED_CHARGING", lambda: client.set_delayed_charging(DRIVEWAY, True)),
        (
            "SAVE_SCHEDULE_DELAYED_CHARGING",
            lambda: client.set_delayed_charging_settings(DRIVEWAY, [7, 1], "22:00", "06:30"),
        ),
        ("SET_PRICE_BASED_CHARGING", lambda: client.set_price_based_charging(DRIVEWAY, True)),
        (
            "PATCH_PRICE_BASED_CHARGING_SETTINGS",
            lambda: client.update_price_based_charging_settings(DRIVEWAY, minimum_percentage=20),
        ),
        (
            "OVERRIDE_CHARGING_PROFILES",
            lambda: client.override_price_based_charging_profile(DRIVEWAY, True),
        ),
        (
            "OVERRIDE_DELAYED_CHARGING_TIMEOUT",
            lambda: client.override_delayed_charging_profile(DRIVEWAY, True),
        ),
    ]
    for command, call in calls:
        if variants.smart_replies == "ack_only":
            _acknowledged(call(), command, DRIVEWAY)
        else:
            _confirmed(call(), command, DRIVEWAY)
    assert sim.received("SAVE_SCHEDULE_DELAYED_CHARGING")[-1]["days"] == "[7,1]"  # as given
    # A failing verdict after a clean acknowledgement is a failure, never success (OP-6).
    sim.fail_action("SET_DELAYED_CHARGING", "REJECTED")
    if variants.smart_replies == "ack_only":
        _acknowledged(
            client.set_delayed_charging(DRIVEWAY, False), "SET_DELAYED_CHARGING", DRIVEWAY
        )
    else:
        with pytest.raises(ActionFailed, match="REJECTED"):
            client.set_delayed_charging(DRIVEWAY, False)


def test_override_schedules(client: Client, sim: Simulator) -> None:
    schedule = client.set_user_override_current(
        [DRIVEWAY, CARPORT],
        start_time="10:00",
        start_days=["FR", "MO"],
        stop_time="12:00",
        stop_days=["TU"],
        current=6,
    )
    assert schedule.charge_points == [DRIVEWAY, CARPORT]
    assert schedule.start_days == ["FR", "MO"]  # sent and kept as given
    listed = client.get_user_override_currents_list()
    assert {s.schedule_id for s in listed} == {schedule.schedule_id}
    assert {p for s in listed for p in s.charge_points} == {DRIVEWAY, CARPORT}
    assert all(s.start_days == ["FR", "MO"] for s in listed)
    cleared = client.clear_user_override_current(schedule.schedule_id)
    assert cleared.success is True
    assert client.get_user_override_currents_list() == []


# -- errors and attribution ----------------------------------------------------------------


def test_errors_go_to_the_request_that_caused_them(client: Client, sim: Simulator) -> None:
    with pytest.raises(ApiError) as info:
        client.get_status(FOREIGN_EVSE_ID)
    assert info.value.code == 2
    # An ERROR 2 cannot answer a request that names no charge point (OP-7).
    sim.delay_reply("GET_CHARGE_CARDS", 0.3)
    with ThreadPoolExecutor(2) as pool:
        cards = pool.submit(client.get_charge_cards)
        sim.wait_for("GET_CHARGE_CARDS")
        with pytest.raises(ApiError):
            client.get_grid_status(FOREIGN_EVSE_ID)
        assert cards.result(30)
    assert client.connected


def test_evse_less_status_does_not_answer_a_read(client: Client, sim: Simulator) -> None:
    sim.delay_reply("GET_CH_STATUS", 0.3)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.get_status, CARPORT)
        sim.wait_for("GET_CH_STATUS")
        sim.inject({"object": "CH_STATUS", "data": {"activity": "charging"}})
        status = pending.result(30)
    assert status.evse_id == CARPORT and status.activity == "available"


# -- events and concurrency ----------------------------------------------------------------


def test_events(client: Client, sim: Simulator) -> None:
    with client.events("CH_STATUS", "GRID_CURRENT", timeout=5) as stream:
        sim.push_now()
        seen = {type(next(stream)), type(next(stream))}
    assert seen == {ChStatus, GridCurrent}


def test_concurrent_mixed_calls_never_mismatch(client: Client) -> None:
    def work(i: int) -> None:
        evse_id = EVSE_IDS[i % len(EVSE_IDS)]
        for j in range(4):
            kind = (i + j) % 4
            if kind == 0:
                assert client.get_status(evse_id).evse_id == evse_id
            elif kind == 1:
                assert client.get_settings(evse_id).evse_id == evse_id
            elif kind == 2:
                assert client.get_grid_status(evse_id).evse_id == evse_id
            else:
                assert len(client.get_charge_points()) == len(EVSE_IDS)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(work, i) for i in range(8)]:
            future.result(30)


# -- "Done when": a new user's script behaves the same against every variant ---------------


def test_new_user_script(client: Client, sim: Simulator) -> None:
    blocked = client.block(CARPORT)
    unblocked = client.block(CARPORT, False)
    client.start_session(DRIVEWAY, HOME_CARD)
    client.start_session(CARPORT, HOME_CARD)
    stops: dict[str, ActionResult] = {}
    threads = [
        threading.Thread(target=lambda e=e: stops.__setitem__(e, client.stop_session(e)))
        for e in (DRIVEWAY, CARPORT)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    grid = client.get_grid_status(DRIVEWAY)  # the second charge point
    summary = (
        (blocked.command, blocked.evse_id, blocked.success),
        (unblocked.command, unblocked.evse_id, unblocked.success),
        sorted((r.evse_id, r.command, r.success) for r in stops.values()),
        (grid.evse_id, type(grid).__name__),
    )
    assert summary == (
        ("SET_INOPERATIVE", CARPORT, True),
        ("SET_OPERATIVE", CARPORT, True),
        [(DRIVEWAY, "STOP_SESSION", True), (CARPORT, "STOP_SESSION", True)],
        (DRIVEWAY, "GridStatus"),
    )


# -- the variants themselves ---------------------------------------------------------------


def test_every_variant_is_documented_and_tested() -> None:
    tested = {(name, value) for case in CASES for name, value in case.items()}
    for name, variant in VARIANTS.items():
        assert variant.open_point.startswith("OP-")
        assert {(name, value) for value in variant.choices[1:]} <= tested
        assert all(text for _, text in variant.values)
    with pytest.raises(ValueError, match="unknown variant"):
        Variants({"nope": "x"})
    with pytest.raises(ValueError, match="choose from reply, silent"):
        Variants({"hello": "sometimes"})


def test_silent_hello_is_logged(
    make_simulator: Callable[..., Simulator], caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_simulator(variants={"hello": "silent"}, push_interval=None)
    with caplog.at_level(logging.INFO, logger="bluecurrent_sync"):
        client = Client(DEFAULT_TOKEN, url=sim.url, **{**CLIENT_OPTIONS, "hello_timeout": 0.2})
        try:
            client.connect()
            assert client.get_status(GARAGE).evse_id == GARAGE
        finally:
            client.close()
    assert "no HELLO reply" in caplog.text


def test_every_frame_the_variant_sends_matches_the_wire_schemas(
    client: Client, sim: Simulator, variants: Variants
) -> None:
    if variants.numbers == "nan":
        pytest.skip("NaN is not JSON: the schemas cannot describe it (OP-11)")
    client.get_charge_points()
    client.get_settings(DRIVEWAY)
    client.get_grid_status(DRIVEWAY)
    client.block(CARPORT)
    client.block(CARPORT, False)
    client.start_session(CARPORT, HOME_CARD)
    client.stop_session(CARPORT)
    client.set_delayed_charging(DRIVEWAY, True)
    sim.fail_action("SET_PLUG_AND_CHARGE")
    with pytest.raises(ActionFailed):
        client.set_plug_and_charge(DRIVEWAY, True)
    client.set_user_override_current(
        [DRIVEWAY], start_time="10:00", start_days=[1], stop_time="11:00", stop_days=[1], current=6
    )
    client.get_user_override_currents_list()
    sim.wait_idle()
    frames = sim.sent()
    assert len(frames) > 10
    for frame in frames:
        validate_wire_frame(frame)


@pytest.mark.parametrize(
    "argv", [["--variant", "hello"], ["--variant", "nope=x"], ["--variant", "hello=maybe"]]
)
def test_simulator_command_line_rejects_bad_variants(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bluecurrent_sync.simulator import main

    try:
        code = main(argv)  # an unknown name or value: one line, status 2
    except SystemExit as exc:  # no '=' at all: argparse's own check ends the process
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "variant" in err and err.count("\n") == 1 and "Traceback" not in err


def test_simulator_command_line_lists_every_variant() -> None:
    from bluecurrent_sync.simulator import build_parser

    text = build_parser().format_help()
    for name in VARIANTS:
        assert name in text


@pytest.mark.bluecurrent_simulator(variants={"operative": "ack_push", "grid_id": "account"})
def test_pytest_plugin_marker_takes_variants(bluecurrent_client: Client) -> None:
    assert bluecurrent_client.get_grid_status(DRIVEWAY).grid_id == f"GRID-{GARAGE}"
    _confirmed(bluecurrent_client.block(CARPORT), "SET_INOPERATIVE", CARPORT)
