"""Protocol fidelity (issue 18): server behaviours the simulator's defaults do not play.

Each test scripts one behaviour with the scripted server and checks that the caller gets the
right answer, or a typed error long before the call's (generous) timeout.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from scripted_server import GOOD_TOKEN, Conn, ScriptedServer, ch_status

from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ApiError, RequestTimeoutError
from bluecurrent_sync.models import RawEvent

#: Generous timeouts: a call that returns well before them got its answer, not a timeout.
SLOW: dict[str, Any] = {"timeout": 30.0, "action_timeout": 30.0, "reconnect_delay": (0.02, 0.1)}
#: A returned call took less than this, far below the 30 s it was allowed.
PROMPT = 15.0


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[Client]:
    with Client(GOOD_TOKEN, url=server.url, **SLOW) as connected:
        yield connected


def schedule_reply(command: str, frame: dict[str, Any]) -> dict[str, Any]:
    """A one-schedule reply echoing ``frame``'s values."""
    return {
        "object": command,
        "data": {
            "schedule_id": str(frame.get("schedule_id", "5")),
            "charge_points": frame["chargepoints"],
            "override_current": frame["overridevalue"],
            "start_time": frame["overridestarttime"],
            "stop_time": frame["overridestoptime"],
            "override_start_days": ",".join(frame["overridestartdays"]),
            "override_end_days": ",".join(frame["overridestopdays"]),
        },
    }


# -- item 8: outgoing values keep the caller's type --------------------------------------


def test_override_values_are_sent_as_given(client: Client, server: ScriptedServer) -> None:
    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send(schedule_reply(str(frame["command"]), frame))

    server.responder = responder
    schedule: dict[str, Any] = {
        "start_time": "07:15",
        "start_days": ["TU"],
        "stop_time": "08:45",
        "stop_days": ["TU"],
    }
    client.set_user_override_current(["CP-OV1"], current=13, **schedule)
    client.edit_user_override_current(3, ["CP-OV1"], current=11, **schedule)
    client.edit_user_override_current("A7", ["CP-OV1"], current=9.5, **schedule)
    sent = [f for f in server.frames if str(f.get("command")).startswith("POST_")]
    assert [type(f["overridevalue"]) for f in sent] == [int, int, float]
    assert [f["overridevalue"] for f in sent] == [13, 11, 9.5]
    assert [f.get("schedule_id") for f in sent] == [None, 3, "A7"]


# -- item 2: malformed ERROR frames fail the call they answer --------------------------


@pytest.mark.parametrize(
    ("error_frame", "text"),
    [
        ({"object": "ERROR", "error": "Unknown command"}, "Unknown command"),
        ({"object": "ERROR", "error": {"code": 4}, "message": "bad request"}, "bad request"),
        ({"object": "ERROR", "error": 2.5, "message": "odd code"}, "odd code"),
        ({"object": "ERROR", "error": 2, "message": {"nl": "geen toegang"}}, "malformed"),
    ],
)
def test_malformed_error_fails_the_call_at_once(
    client: Client, server: ScriptedServer, error_frame: dict[str, Any], text: str
) -> None:
    server.responder = lambda conn, frame: conn.send(error_frame)
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        client.get_status("CP-E1")
    assert not isinstance(info.value, RequestTimeoutError)
    assert time.monotonic() - started < PROMPT  # answered, not the 30 s timeout
    assert info.value.code is None and text in info.value.message
    # The connection is fine: the next call works.
    server.responder = lambda conn, frame: conn.send(ch_status(str(frame["evse_id"])))
    assert client.get_status("CP-E1").evse_id == "CP-E1"


# -- item 9: LIST_OVERRIDE_CURRENT keyed by "command" is an event too -------------------


def test_command_keyed_list_reaches_subscribers(
    client: Client, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    row = {
        "schedule_id": "41",
        "schedule_type": "OVERRIDE",
        "start_time": "06:30",
        "stop_time": "07:30",
        "days_of_week": "WE",
        "chargepoint_id": "CP-L1",
    }
    reply = {"command": "LIST_OVERRIDE_CURRENT", "success": True, "error": None, "result": [row]}
    server.responder = lambda conn, frame: conn.send(reply)
    received: queue.Queue[Any] = queue.Queue()
    client.on("LIST_OVERRIDE_CURRENT", received.put)
    with caplog.at_level(logging.WARNING):
        (schedule,) = client.get_user_override_currents_list()
        event = received.get(timeout=30)
    assert schedule.schedule_id == "41"
    assert isinstance(event, RawEvent) and event.object_name == "LIST_OVERRIDE_CURRENT"
    assert event.raw["result"][0]["chargepoint_id"] == "CP-L1"
    assert not [r for r in caplog.records if "LIST_OVERRIDE_CURRENT" in r.getMessage()]
