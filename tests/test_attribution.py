"""Attribution of replies that name no charge point (docs/PROTOCOL.md OP-5, OP-7), scripted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import in_thread
from scripted_server import GOOD_TOKEN, Conn, ScriptedServer, ch_status

from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ActionFailed, ApiError
from bluecurrent_sync.models import ActionOutcome

FAST: dict[str, Any] = {"timeout": 3.0, "action_timeout": 5.0, "reconnect_delay": (0.02, 0.1)}


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[Client]:
    with Client(GOOD_TOKEN, url=server.url, **FAST) as connected:
        yield connected


def test_two_stops_never_swap_evse_less_verdicts(client: Client, server: ScriptedServer) -> None:
    held: list[tuple[Conn, dict[str, Any]]] = []

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send({"object": "RECEIVED_STOP_SESSION", "success": True, "error": ""})
        held.append((conn, frame))

    server.responder = responder
    first, out_first = in_thread(lambda: client.stop_session("A"))
    server.wait_for("STOP_SESSION")
    second, out_second = in_thread(lambda: client.stop_session("B"))
    # The second stop is not on the wire while the first one's verdict is outstanding.
    assert server.count("STOP_SESSION") == 1
    conn, frame = held[0]
    assert frame["evse_id"] == "A"
    conn.send({"object": "STATUS_STOP_SESSION", "success": False, "error": "REJECTED"})
    server.wait_for("STOP_SESSION", 2)
    conn.send({"object": "STATUS_STOP_SESSION", "success": True, "flow_id": "", "error": ""})
    first.join(30)
    second.join(30)
    assert isinstance(out_first[0], ActionFailed) and out_first[0].evse_id == "A"
    result = out_second[0]
    assert (result.evse_id, result.success, result.outcome) == ("B", True, ActionOutcome.CONFIRMED)


def test_stop_error_text_names_its_charge_point(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send(
        {
            "object": "RECEIVED_STOP_SESSION",
            "success": False,
            "error": f"no active session for chargepoint: {frame['evse_id']}",
        }
    )
    with pytest.raises(ActionFailed, match="no active session") as info:
        client.stop_session("BCU101")
    assert info.value.evse_id == "BCU101"


def test_grid_reply_naming_another_charge_point(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send(
        {"object": "GRID_STATUS", "data": {"id": "GRID-OTHER", "grid_actual_p1": 7}}
    )
    grid = client.get_grid_status("MINE")
    assert (grid.evse_id, grid.grid_id, grid.grid_actual_p1) == ("MINE", "GRID-OTHER", 7)


def test_list_override_keyed_command(client: Client, server: ScriptedServer) -> None:
    server.responder = lambda conn, frame: conn.send(
        {
            "command": "LIST_OVERRIDE_CURRENT",
            "success": True,
            "error": None,
            "result": [
                {
                    "schedule_id": "122",
                    "schedule_type": "OVERRIDE",
                    "start_time": "15:00",
                    "stop_time": "13:00",
                    "days_of_week": "SA",
                    "chargepoint_id": "BCU100266",
                }
            ],
        }
    )
    (schedule,) = client.get_user_override_currents_list()
    assert (schedule.schedule_id, schedule.charge_points, schedule.start_days) == (
        "122",
        ["BCU100266"],
        ["SA"],
    )


def test_error_2_skips_requests_without_a_charge_point(
    client: Client, server: ScriptedServer
) -> None:
    seen: list[tuple[Conn, dict[str, Any]]] = []
    both = threading.Event()

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        seen.append((conn, frame))
        if len(seen) == 2:
            both.set()

    server.responder = responder
    cards, out_cards = in_thread(client.get_charge_cards)
    server.wait_for("GET_CHARGE_CARDS")
    status, out_status = in_thread(lambda: client.get_status("X"))
    assert both.wait(30)
    conn = seen[0][0]
    conn.send({"object": "ERROR", "error": 2, "message": "Not authorized"})
    conn.send({"object": "CHARGE_CARDS", "cards": []})
    cards.join(30)
    status.join(30)
    assert out_cards == [[]]
    assert isinstance(out_status[0], ApiError) and out_status[0].code == 2


def test_nonfinite_numbers_are_unknown(
    client: Client, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.responder = lambda conn, frame: conn.send(
        '{"object": "CH_STATUS", "evse_id": "A", "data": {"evse_id": "A", "actual_p1": NaN,'
        ' "actual_kwh": Infinity, "total_cost": -Infinity, "max_usage": 1e999}}'
    )
    with caplog.at_level(logging.WARNING, logger="bluecurrent_sync"):
        client.get_status("A")
        status = client.get_status("A")
    assert caplog.text.count("OP-11") == 1  # logged once
    assert (status.actual_p1, status.actual_kwh, status.total_cost, status.max_usage) == (
        None,
        None,
        None,
        None,
    )
    assert status.current_left is None


def test_router_and_converter_agree_on_the_evse(client: Client, server: ScriptedServer) -> None:
    # Top-level and data.evse_id disagree: both the router and the converter use the top level.
    server.responder = lambda conn, frame: conn.send(
        {"object": "CH_SETTINGS", "evse_id": frame["evse_id"], "data": {"evse_id": "OTHER"}}
    )
    assert client.get_settings("A").evse_id == "A"
    server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
    assert client.get_status("A").evse_id == "A"
