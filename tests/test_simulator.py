"""The simulator speaks the wire protocol (docs/PROTOCOL.md section 7), over real sockets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import RawClient, validate_token, wait_until
from websockets.exceptions import ConnectionClosed
from wire_schemas import validate_wire_frame

from bluecurrent_sync.simulator import (
    CARDS,
    CUSTOMER_ID,
    DEFAULT_TOKEN,
    EVSE_IDS,
    FOREIGN_EVSE_ID,
    Simulator,
)

RawFactory = Callable[..., RawClient]

CHARGING, SMART, OFFLINE, CARPORT = EVSE_IDS


def _all_sent_frames_valid(client: RawClient) -> None:
    assert client.received
    for frame in client.received:
        validate_wire_frame(frame)


# ----------------------------------------------------------------- authentication


def test_validation_issues_a_different_token(simulator: Simulator) -> None:
    reply = validate_token(simulator.url)
    validate_wire_frame(reply)
    assert reply == {
        "object": "STATUS_API_TOKEN",
        "success": True,
        "token": simulator.issued_token(),
        "customer_id": CUSTOMER_ID,
    }
    assert reply["token"] != DEFAULT_TOKEN


def test_unknown_token_fails_validation(simulator: Simulator) -> None:
    reply = validate_token(simulator.url, "not-a-token")
    validate_wire_frame(reply)
    assert reply == {"object": "STATUS_API_TOKEN", "success": False, "error": ""}


def test_account_needs_the_issued_token(simulator: Simulator) -> None:
    client = RawClient(simulator.url, auth=simulator.issued_token())
    try:
        account = client.request("GET_ACCOUNT", "ACCOUNT")
        assert account["login"] == "sam@simulator.example"
        assert account["full_name"]
        client.send("GET_ACCOUNT", Authorization=f"Token {DEFAULT_TOKEN}")
        assert client.expect("ERROR") == {
            "object": "ERROR",
            "error": 1,
            "message": "Invalid Auth Token",
        }
    finally:
        client.close()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Token wrong", "srv-issued-without-prefix", 42],
)
def test_missing_or_wrong_authorization_is_error_1(
    simulator: Simulator, authorization: object
) -> None:
    client = RawClient(simulator.url)
    try:
        frame: dict[str, Any] = {"command": "GET_CHARGE_POINTS"}
        if authorization == "srv-issued-without-prefix":
            authorization = simulator.issued_token()
        if authorization is not None:
            frame["Authorization"] = authorization
        client.send_raw(frame)
        assert client.recv() == {"object": "ERROR", "error": 1, "message": "Invalid Auth Token"}
    finally:
        client.close()


def test_hello_is_answered_and_required_for_pushes(
    simulator: Simulator, raw_client: RawFactory
) -> None:
    quiet = raw_client(hello=False)
    loud = raw_client()
    loud.expect("CH_STATUS", evse_id=CHARGING)
    simulator.push_now()
    quiet.send("GET_CHARGE_CARDS", limit=100)
    # The first frame the un-HELLO'd connection sees is the answer, never a push.
    assert quiet.recv()["object"] == "CHARGE_CARDS"


# ------------------------------------------------------------------------ reads


def test_charge_points_list_every_charger(raw_client: RawFactory) -> None:
    client = raw_client()
    reply = client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")
    assert "evse_id" not in reply
    by_id = {item["evse_id"]: item for item in reply["data"]}
    assert list(by_id) == list(EVSE_IDS)
    assert by_id[CHARGING]["activity"] == "charging"
    assert by_id[SMART]["smart_charging"] is True
    assert by_id[OFFLINE]["activity"] == "offline"
    assert by_id[CHARGING]["plug_and_charge"] == {"value": True, "permission": "write"}
    assert by_id[CHARGING]["default_card"]["uid"] == "BCU-APP"


def test_charge_cards_are_under_cards(raw_client: RawFactory) -> None:
    reply = raw_client().request("GET_CHARGE_CARDS", "CHARGE_CARDS", limit=100)
    assert [card["uid"] for card in reply["cards"]] == [card["uid"] for card in CARDS]
    assert "data" not in reply


@pytest.mark.parametrize("evse_id", EVSE_IDS)
def test_status_settings_and_grid_of_every_charger(raw_client: RawFactory, evse_id: str) -> None:
    client = raw_client()
    status = client.request("GET_CH_STATUS", "CH_STATUS", evse_id=evse_id)
    assert status["evse_id"] == status["data"]["evse_id"] == evse_id
    settings = client.request("GET_CH_SETTINGS", "CH_SETTINGS", evse_id=evse_id)
    assert "evse_id" not in settings
    assert settings["data"]["evse_id"] == evse_id
    client.send("GET_GRID_STATUS", evse_id=evse_id)
    grid = client.expect("GRID_STATUS")
    assert "evse_id" not in grid
    assert grid["data"]["id"] == f"GRID-{evse_id}"
    _all_sent_frames_valid(client)


def test_phase_layout(raw_client: RawFactory) -> None:
    client = raw_client()
    three = client.request("GET_CH_STATUS", "CH_STATUS", evse_id=CHARGING)["data"]
    assert all(three[f"actual_p{i}"] > 0 for i in (1, 2, 3))
    assert all(220 < three[f"actual_v{i}"] < 240 for i in (1, 2, 3))
    assert three["vehicle_status"] == "C"
    offline = client.request("GET_CH_STATUS", "CH_STATUS", evse_id=OFFLINE)["data"]
    assert offline["offline_since"] != ""
    assert offline["actual_v1"] == 0


# -------------------------------------------------------------------- sessions


def test_start_and_stop_a_session(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("START_SESSION", evse_id=SMART, session_token=CARDS[1]["uid"])
    assert client.expect("RECEIVED_START_SESSION") == {
        "object": "RECEIVED_START_SESSION",
        "error": "",
    }
    result = client.expect("STATUS_START_SESSION", evse_id=SMART)
    assert result == {
        "object": "STATUS_START_SESSION",
        "success": True,
        "flow_id": "",
        "evse_id": SMART,
        "result": {},
        "error": "",
    }
    pushed = client.expect("CH_STATUS", evse_id=SMART)["data"]
    assert pushed["activity"] == "charging"
    assert pushed["vehicle_status"] == "C"
    assert len(pushed["start_datetime"]) == len("20261124 01:02:03")
    assert pushed["stop_datetime"] == ""
    assert pushed["actual_p1"] > 0
    assert pushed["actual_p2"] == pushed["actual_p3"] == 0  # single phase
    assert pushed["actual_p1"] <= pushed["smartcharging_max_usage"]

    client.send("STOP_SESSION", evse_id=SMART)
    assert client.expect("RECEIVED_STOP_SESSION")["error"] == ""
    stopped = client.expect("STATUS_STOP_SESSION")
    assert stopped == {"object": "STATUS_STOP_SESSION", "success": True, "flow_id": "", "error": ""}
    pushed = client.expect("CH_STATUS", evse_id=SMART)["data"]
    assert (pushed["activity"], pushed["vehicle_status"]) == ("available", "A")
    assert pushed["stop_datetime"] != ""
    _all_sent_frames_valid(client)


def test_stop_without_session(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("STOP_SESSION", evse_id=CARPORT)
    assert client.expect("RECEIVED_STOP_SESSION") == {
        "object": "RECEIVED_STOP_SESSION",
        "success": False,
        "error": f"no active session for chargepoint: {CARPORT}",
    }


@pytest.mark.parametrize(
    ("evse_id", "token", "error"),
    [
        (OFFLINE, "BCU-APP", "TIMEOUT"),
        (CHARGING, "BCU-APP", "REJECTED"),
        (CARPORT, "UNKNOWN-CARD", "REJECTED"),
    ],
)
def test_refused_sessions(raw_client: RawFactory, evse_id: str, token: str, error: str) -> None:
    client = raw_client()
    client.send("START_SESSION", evse_id=evse_id, session_token=token)
    assert client.expect("RECEIVED_START_SESSION")["error"] == ""
    result = client.expect("STATUS_START_SESSION", evse_id=evse_id)
    assert (result["success"], result["error"]) == (False, error)


def test_energy_and_cost_rise_in_pushes(raw_client: RawFactory) -> None:
    client = raw_client()
    readings = [client.expect("CH_STATUS", evse_id=CHARGING)["data"] for _ in range(3)]
    energies = [reading["actual_kwh"] for reading in readings]
    assert energies == sorted(energies)
    assert energies[0] < energies[-1]
    assert readings[0]["total_cost"] <= readings[-1]["total_cost"]
    grid = client.expect("GRID_CURRENT")
    assert grid["evse_id"] == CHARGING
    assert "data" not in grid


def test_block_and_unblock(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("SET_INOPERATIVE", evse_id=CARPORT)
    assert client.expect("RECEIVED_SET_INOPERATIVE")["error"] == ""
    assert client.expect("STATUS_SET_INOPERATIVE", evse_id=CARPORT)["success"] is True
    assert client.expect("CH_STATUS", evse_id=CARPORT)["data"]["activity"] == "unavailable"
    listed = client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")["data"]
    assert {cp["evse_id"]: cp["activity"] for cp in listed}[CARPORT] == "unavailable"
    client.send("SET_OPERATIVE", evse_id=CARPORT)
    assert client.expect("STATUS_SET_OPERATIVE", evse_id=CARPORT)["success"] is True
    assert client.expect("CH_STATUS", evse_id=CARPORT)["data"]["activity"] == "available"


def test_blocking_a_charging_point_ends_its_session(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("SET_INOPERATIVE", evse_id=CHARGING)
    client.expect("STATUS_SET_INOPERATIVE", evse_id=CHARGING)
    status = client.request("GET_CH_STATUS", "CH_STATUS", evse_id=CHARGING)["data"]
    assert status["activity"] == "unavailable"
    assert status["stop_datetime"] != ""


@pytest.mark.parametrize("command", ["SOFT_RESET", "REBOOT"])
def test_reset_and_reboot(raw_client: RawFactory, command: str) -> None:
    client = raw_client()
    client.send(command, evse_id=CARPORT)
    assert client.expect(f"RECEIVED_{command}") == {"object": f"RECEIVED_{command}", "error": ""}
    result = client.expect(f"STATUS_{command}", evse_id=CARPORT)
    assert result["success"] is True
    client.send(command, evse_id=OFFLINE)
    result = client.expect(f"STATUS_{command}", evse_id=OFFLINE)
    assert (result["success"], result["error"]) == (False, "TIMEOUT")


def test_status_arrives_after_the_action_delay(
    make_simulator: Callable[..., Simulator], raw_client: RawFactory
) -> None:
    # The 2.3 s between the end of the "not yet" window and the delay are the slack a
    # loaded machine gets between sending and starting to read.
    slow = make_simulator(action_delay=2.5)
    client = raw_client(slow)
    client.send("SOFT_RESET", evse_id=CARPORT)
    client.expect("RECEIVED_SOFT_RESET")
    with pytest.raises(TimeoutError):
        client.expect("STATUS_SOFT_RESET", timeout=0.2)
    client.expect("STATUS_SOFT_RESET", timeout=30)


# -------------------------------------------------------------------- settings


@pytest.mark.parametrize("command", ["SET_PLUG_AND_CHARGE", "SET_PUBLIC_CHARGING"])
def test_settings_persist_and_push(
    simulator: Simulator, raw_client: RawFactory, command: str
) -> None:
    client = raw_client()
    key = "plug_and_charge" if command == "SET_PLUG_AND_CHARGE" else "public_charging"
    for value in (False, True, False):
        client.send(command, evse_id=CARPORT, value=value)
        result = client.expect(f"STATUS_{command}", evse_id=CARPORT)
        assert result == {
            "object": f"STATUS_{command}",
            "success": True,
            "flow_id": "",
            "evse_id": CARPORT,
            "result": {"setting": f"set {str(value).lower()}"},
            "error": "",
        }
        pushed = client.expect("CH_SETTINGS", evse_id=CARPORT)
        assert pushed["data"][key]["value"] is value
    # A new connection sees what the old one set.
    other = raw_client()
    settings = other.request("GET_CH_SETTINGS", "CH_SETTINGS", evse_id=CARPORT)["data"]
    assert settings[key]["value"] is False
    assert simulator.charge_point(CARPORT)[key] is False
    _all_sent_frames_valid(client)


def test_setting_on_offline_charger_times_out(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("SET_PLUG_AND_CHARGE", evse_id=OFFLINE, value=True)
    result = client.expect("STATUS_SET_PLUG_AND_CHARGE", evse_id=OFFLINE)
    assert (result["success"], result["error"]) == (False, "TIMEOUT")
    assert result["result"] == {"setting": "set false"}


def test_setting_without_value_is_error_9(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("SET_PLUG_AND_CHARGE", evse_id=CARPORT)
    assert client.expect("ERROR")["error"] == 9


# ---------------------------------------------------------------- smart charging

SMART_COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("SET_DELAYED_CHARGING", {"value": True}),
    (
        "SAVE_SCHEDULE_DELAYED_CHARGING",
        {"days": "[1,2]", "start_time": "22:00", "end_time": "06:30"},
    ),
    ("SET_PRICE_BASED_CHARGING", {"value": True}),
    (
        "PATCH_PRICE_BASED_CHARGING_SETTINGS",
        {"expected_departure_time": "07:15", "minimum_pct": 30, "battery_size_kwh": 64},
    ),
    ("OVERRIDE_CHARGING_PROFILES", {"value": True}),
    ("OVERRIDE_DELAYED_CHARGING_TIMEOUT", {"value": True}),
]


@pytest.mark.parametrize(("command", "fields"), SMART_COMMANDS)
def test_smart_charging_commands(
    simulator: Simulator, raw_client: RawFactory, command: str, fields: dict[str, Any]
) -> None:
    client = raw_client()
    client.send(command, evse_id=SMART, **fields)
    assert client.expect(f"RECEIVED_{command}") == {"object": f"RECEIVED_{command}", "error": ""}
    result = client.expect(f"STATUS_{command}", evse_id=SMART)
    assert result == {
        "object": f"STATUS_{command}",
        "success": True,
        "flow_id": "",
        "evse_id": SMART,
        "result": {},
        "error": "",
    }
    _all_sent_frames_valid(client)


def test_smart_charging_state_shows_in_charge_points(
    simulator: Simulator, raw_client: RawFactory
) -> None:
    client = raw_client()
    for command, fields in SMART_COMMANDS:
        client.send(command, evse_id=SMART, **fields)
        client.expect(f"STATUS_{command}", evse_id=SMART)
    item = next(
        cp
        for cp in client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")["data"]
        if cp["evse_id"] == SMART
    )
    # Price-based was switched on after delayed charging, which turns delayed off.
    assert item["price_based_charging"] == {"value": True}
    assert item["delayed_charging"]["value"] is False
    state = simulator.charge_point(SMART)
    assert state["delayed_schedule"] == {
        "days": "[1,2]",
        "start_time": "22:00",
        "end_time": "06:30",
    }
    assert state["price_settings"] == {
        "expected_departure_time": "07:15",
        "minimum_pct": 30,
        "battery_size_kwh": 64,
    }
    assert state["boosted_price_profile"] is True


def test_smart_charging_rejects_bad_fields(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("SET_DELAYED_CHARGING", evse_id=SMART, value="yes")
    assert client.expect("RECEIVED_SET_DELAYED_CHARGING")["error"] == "invalid value"


# -------------------------------------------------------------- override current


def test_override_schedule_lifecycle(raw_client: RawFactory) -> None:
    client = raw_client()
    assert client.request("LIST_OVERRIDE_CURRENT", "LIST_OVERRIDE_CURRENT")["data"] == []
    fields = {
        "chargepoints": [CHARGING, CARPORT],
        "overridestarttime": "17:00",
        "overridestartdays": ["MO", "TU"],
        "overridestoptime": "21:00",
        "overridestopdays": ["MO", "TU"],
        "overridevalue": 10.0,
    }
    created = client.request("POST_SET_OVERRIDE_CURRENT", "POST_SET_OVERRIDE_CURRENT", **fields)
    schedule = created["data"]
    assert schedule == {
        "schedule_id": "1",
        "charge_points": [CHARGING, CARPORT],
        "override_current": 10.0,
        "start_time": "17:00",
        "stop_time": "21:00",
        "override_start_days": "MO,TU",
        "override_end_days": "MO,TU",
    }
    edited = client.request(
        "POST_EDIT_OVERRIDE_CURRENT",
        "POST_EDIT_OVERRIDE_CURRENT",
        schedule_id="1",
        **{**fields, "overridevalue": 8, "overridestopdays": ["WE"]},
    )["data"]
    assert (edited["override_current"], edited["override_end_days"]) == (8.0, "WE")
    listed = client.request("LIST_OVERRIDE_CURRENT", "LIST_OVERRIDE_CURRENT")["data"]
    assert listed == [edited]
    cleared = client.request(
        "POST_CLEAR_OVERRIDE_CURRENT", "POST_CLEAR_OVERRIDE_CURRENT", schedule_id=1
    )
    assert cleared == {"object": "POST_CLEAR_OVERRIDE_CURRENT", "success": True, "error": ""}
    again = client.request(
        "POST_CLEAR_OVERRIDE_CURRENT", "POST_CLEAR_OVERRIDE_CURRENT", schedule_id=1
    )
    assert again["success"] is False
    assert client.request("LIST_OVERRIDE_CURRENT", "LIST_OVERRIDE_CURRENT")["data"] == []
    _all_sent_frames_valid(client)


def test_override_on_foreign_charger_is_error_2(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send(
        "POST_SET_OVERRIDE_CURRENT",
        chargepoints=[FOREIGN_EVSE_ID],
        overridestarttime="17:00",
        overridestartdays=["MO"],
        overridestoptime="18:00",
        overridestopdays=["MO"],
        overridevalue=6,
    )
    assert client.expect("ERROR")["error"] == 2


# ----------------------------------------------------------------------- errors


def test_unknown_command_is_error_0(raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("GET_THE_MOON")
    assert client.expect("ERROR") == {"object": "ERROR", "error": 0, "message": "Unknown command"}
    client.send_raw({"no_command": True, "Authorization": f"Token {client.auth}"})
    assert client.expect("ERROR")["error"] == 0
    client.send_raw({"command": ["GET_CHARGE_POINTS"], "Authorization": f"Token {client.auth}"})
    assert client.expect("ERROR")["error"] == 0


@pytest.mark.parametrize("evse_id", [FOREIGN_EVSE_ID, "", None, 7])
def test_foreign_evse_is_error_2(raw_client: RawFactory, evse_id: object) -> None:
    client = raw_client()
    client.send("GET_CH_STATUS", evse_id=evse_id)
    assert client.expect("ERROR") == {"object": "ERROR", "error": 2, "message": "Not authorized"}
    client.send("START_SESSION", evse_id=FOREIGN_EVSE_ID, session_token="BCU-APP")
    assert client.expect("ERROR")["error"] == 2


@pytest.mark.parametrize(
    "message",
    ["not json", "[1, 2]", '"text"', b"\x00binary", "[" * 100_000 + "]" * 100_000],
    ids=["text", "array", "scalar", "binary", "deeply-nested"],
)
def test_non_object_frames_are_error_9(raw_client: RawFactory, message: str | bytes) -> None:
    client = raw_client()
    client.send_raw(message)
    assert client.expect("ERROR")["error"] == 9
    # The connection survives.
    client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")


# ------------------------------------------------------------ introspection, life


def test_received_frames_are_recorded_per_connection(
    simulator: Simulator, raw_client: RawFactory
) -> None:
    client = raw_client()
    client.request("GET_CH_STATUS", "CH_STATUS", evse_id=CARPORT)
    simulator.wait_for_connections(1)  # the validation connection has been closed
    connections = simulator.connections()
    assert [c.commands() for c in connections] == [
        ["VALIDATE_API_TOKEN"],
        ["HELLO", "GET_CH_STATUS"],
    ]
    assert [c.open for c in connections] == [False, True]
    assert connections[1].hello
    assert simulator.count("GET_CH_STATUS") == 1
    assert simulator.received("GET_CH_STATUS")[0]["evse_id"] == CARPORT
    assert simulator.active_connections == 1
    assert simulator.request_counts() == {DEFAULT_TOKEN: 3}
    assert simulator.wait_for("HELLO")["header"] == "bluecurrent_sync-tests"
    with pytest.raises(TimeoutError):
        simulator.wait_for("REBOOT", timeout=0.05)


def test_same_seed_same_measurements(make_simulator: Callable[..., Simulator]) -> None:
    def measurements(seed: int) -> list[Any]:
        sim = make_simulator(seed=seed, push_interval=None)
        for _ in range(3):
            sim.push_now()
        data = sim.charge_point(CHARGING)
        sim.stop()
        return [data[key] for key in ("actual_p1", "actual_v2", "actual_kwh")]

    assert measurements(7) == measurements(7)
    assert measurements(7) != measurements(8)


def test_stop_is_idempotent_and_leaves_no_threads(raw_client: RawFactory) -> None:
    before = set(threading.enumerate())
    sim = Simulator(push_interval=0.05, action_delay=0.01)
    sim.open_timeout = 600.0  # a handshake that never completes would hold stop() 10 minutes
    sim.start()
    client = raw_client(sim)
    client.send("START_SESSION", evse_id=CARPORT, session_token="BCU-APP")
    client.expect("RECEIVED_START_SESSION")
    # A connection still in its handshake must not keep stop() waiting either.
    import socket

    half_open = socket.create_connection(("127.0.0.1", sim.port))
    try:
        # stop() waits at most close_timeout (1 s) for the clients' close frames; a handshake
        # that never comes would hold it until the open timeout (600 s here). It must be cut
        # instead: a minute is generous and far below that.
        stopper = threading.Thread(target=sim.stop, kwargs={"timeout": 600.0}, daemon=True)
        stopper.start()
        stopper.join(60.0)
        assert not stopper.is_alive(), "stop() waits for the half-open handshake"
        sim.stop()
    finally:
        half_open.close()
    with pytest.raises(ConnectionClosed):  # closed by stop(), not a timeout
        while True:  # pushes sent before the stop may still be buffered: read past them
            client.recv(timeout=30)
    started_here = set(threading.enumerate()) - before
    assert [t for t in started_here if t.is_alive() and "sim" in t.name] == []  # joined by stop()
    # The raw client's keepalive thread notices
    # the closed connection on its own schedule, so wait for it (a deadline, not a speed).
    wait_until(
        lambda: not [t for t in set(threading.enumerate()) - before if t.is_alive()],
        what="every thread started by this test has ended",
    )


def test_restart_keeps_port_and_state(simulator: Simulator, raw_client: RawFactory) -> None:
    client = raw_client()
    client.send("SET_PUBLIC_CHARGING", evse_id=CARPORT, value=False)
    client.expect("STATUS_SET_PUBLIC_CHARGING", evse_id=CARPORT)
    port = simulator.port
    simulator.restart()
    assert simulator.port == port
    again = raw_client()
    settings = again.request("GET_CH_SETTINGS", "CH_SETTINGS", evse_id=CARPORT)["data"]
    assert settings["public_charging"]["value"] is False


def test_payload_is_compact_json(raw_client: RawFactory) -> None:
    client = raw_client(hello=False)
    client.send("GET_CHARGE_CARDS", limit=100)
    message = client.recv_message()
    assert isinstance(message, str)
    assert json.loads(message)["object"] == "CHARGE_CARDS"


@pytest.mark.parametrize("simulator", [{"history": 5, "push_interval": None}], indirect=True)
def test_introspection_history_is_bounded(simulator: Simulator, raw_client: RawFactory) -> None:
    client = raw_client()
    for _ in range(8):
        client.send("GET_CHARGE_CARDS", limit=100)
        client.expect("CHARGE_CARDS")
    # validate + HELLO + 8 requests arrived; only the newest 5 are kept, per connection and in all.
    assert simulator.received("GET_CHARGE_CARDS") == simulator.received()[-5:]
    assert len(simulator.received()) == 5
    main = simulator.connections()[-1]
    assert main.commands() == ["GET_CHARGE_CARDS"] * 5
    assert len(simulator.sent()) == 5
    with pytest.raises(ValueError, match="history"):
        Simulator(history=0)
