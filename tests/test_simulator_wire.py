"""Whatever a client sends, every frame the simulator sends matches the raw wire schemas."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import RawClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_schemas import validate_wire_frame

from bluecurrent_sync.simulator import CARDS, EVSE_IDS, FOREIGN_EVSE_ID, Simulator

RawFactory = Callable[..., RawClient]

COMMANDS = (
    "GET_ACCOUNT",
    "GET_CHARGE_POINTS",
    "GET_CHARGE_CARDS",
    "GET_CH_STATUS",
    "GET_CH_SETTINGS",
    "GET_GRID_STATUS",
    "SET_PLUG_AND_CHARGE",
    "SET_PUBLIC_CHARGING",
    "SET_OPERATIVE",
    "SET_INOPERATIVE",
    "SOFT_RESET",
    "REBOOT",
    "START_SESSION",
    "STOP_SESSION",
    "SET_DELAYED_CHARGING",
    "SAVE_SCHEDULE_DELAYED_CHARGING",
    "SET_PRICE_BASED_CHARGING",
    "PATCH_PRICE_BASED_CHARGING_SETTINGS",
    "OVERRIDE_CHARGING_PROFILES",
    "OVERRIDE_DELAYED_CHARGING_TIMEOUT",
    "LIST_OVERRIDE_CURRENT",
    "POST_SET_OVERRIDE_CURRENT",
    "POST_EDIT_OVERRIDE_CURRENT",
    "POST_CLEAR_OVERRIDE_CURRENT",
    "HELLO",
    "NOT_A_COMMAND",
)

junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
days = st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), max_size=3)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    """A command frame, mostly well-formed, sometimes with wrong or missing fields."""
    command = draw(st.sampled_from(COMMANDS))
    frame: dict[str, Any] = {"command": command}
    frame["evse_id"] = draw(st.sampled_from([*EVSE_IDS, *EVSE_IDS, FOREIGN_EVSE_ID]) | junk)
    frame["value"] = draw(st.booleans() | junk)
    frame["session_token"] = draw(st.sampled_from([CARDS[0]["uid"], "BCU-APP", "nope"]))
    frame["days"] = draw(st.sampled_from(["[1,2]", "[7]"]) | junk)
    frame["start_time"] = frame["end_time"] = "22:00"
    frame["minimum_pct"] = draw(st.integers(0, 100) | junk)
    frame["chargepoints"] = draw(
        st.lists(st.sampled_from([*EVSE_IDS, FOREIGN_EVSE_ID]), max_size=2)
    )
    frame["overridestarttime"] = frame["overridestoptime"] = "08:00"
    frame["overridestartdays"] = draw(days)
    frame["overridestopdays"] = draw(days | junk)
    frame["overridevalue"] = draw(st.floats(0, 32) | junk)
    frame["schedule_id"] = draw(st.sampled_from(["1", "2", 1, 2]))
    if draw(st.booleans()):
        frame = {
            key: value for key, value in frame.items() if draw(st.booleans()) or key == "command"
        }
    return frame


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(commands(), min_size=1, max_size=8))
def test_every_sent_frame_is_wire_valid(
    make_simulator: Callable[..., Simulator], batch: list[dict[str, Any]]
) -> None:
    sim = make_simulator(push_interval=None, action_delay=0.0)
    status = RawClient(sim.url)
    status.send("VALIDATE_API_TOKEN", token=sim.tokens[0])
    token = status.recv()["token"]
    status.close()
    client = RawClient(sim.url, auth=token)
    try:
        client.send("HELLO", header="hypothesis")
        for frame in batch:
            client.send(**frame)
        client.send("GET_ACCOUNT")  # its reply comes after those to everything before it
        for _ in range(1 + sum(frame["command"] == "GET_ACCOUNT" for frame in batch)):
            client.expect("ACCOUNT")
        sim.push_now()
        sim.wait_idle()
    finally:
        client.close()
    sim.stop()
    sent = sim.sent()
    assert len(sent) >= len(batch) + 3
    for frame in sent:
        validate_wire_frame(frame)


def test_sent_records_raw_frames(simulator: Simulator, raw_client: RawFactory) -> None:
    client = raw_client()
    client.send_raw("garbage")
    client.expect("ERROR")
    assert simulator.sent("ERROR") == [{"object": "ERROR", "error": 9, "message": "Unknown error"}]
    assert json.dumps(simulator.sent("HELLO")) == '[{"object": "HELLO"}]'


@pytest.mark.parametrize("simulator", [{"action_delay": 2.3}], indirect=True)
def test_simulator_fixture_takes_parameters(simulator: Simulator, raw_client: RawFactory) -> None:
    assert simulator.action_delay == 2.3  # 2.25 s of slack past the "not idle yet" window
    client = raw_client()
    client.send("REBOOT", evse_id=EVSE_IDS[3])
    client.expect("RECEIVED_REBOOT")  # sent after the STATUS_REBOOT was scheduled
    with pytest.raises(TimeoutError):
        simulator.wait_idle(timeout=0.05)
    simulator.wait_idle(timeout=30)
    assert simulator.sent("STATUS_REBOOT")[0]["success"] is True
