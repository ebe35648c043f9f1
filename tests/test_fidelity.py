"""Protocol fidelity (issue 18): server behaviours the simulator's defaults do not play.

Each test scripts one behaviour with the scripted server and checks that the caller gets the
right answer, or a typed error long before the call's (generous) timeout.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import in_thread, wait_until
from scripted_server import GOOD_TOKEN, Conn, ScriptedServer, ch_status, status_frame

from bluecurrent_sync._convert import WireConverter
from bluecurrent_sync._log import CONNECTION
from bluecurrent_sync._reader import READER_THREAD_NAME
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ActionFailed, ApiError, InvalidApiToken, RequestTimeoutError
from bluecurrent_sync.models import ActionOutcome, RawEvent
from bluecurrent_sync.simulator import DEFAULT_TOKEN, EVSE_IDS, FOREIGN_EVSE_ID, Simulator

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


# -- item 5: setting and session verdicts without evse_id ----------------------------------


@pytest.mark.parametrize(
    ("command", "call", "wire_value", "value"),
    [
        ("SET_PLUG_AND_CHARGE", "set_plug_and_charge", True, True),
        ("SET_PUBLIC_CHARGING", "set_linked_charge_cards_only", False, True),
    ],
)
def test_setting_verdict_without_evse_id(
    client: Client, server: ScriptedServer, command: str, call: str, wire_value: bool, value: bool
) -> None:
    setting = f"set {str(wire_value).lower()}"
    server.responder = lambda conn, frame: conn.send(
        {
            "object": f"STATUS_{command}",
            "success": True,
            "flow_id": "",
            "result": {"setting": setting},
            "error": "",
        }
    )
    started = time.monotonic()
    result = getattr(client, call)("CP-V1", value)
    assert time.monotonic() - started < PROMPT
    assert (result.evse_id, result.success, result.value) == ("CP-V1", True, value)


def test_settings_go_one_at_a_time(client: Client, server: ScriptedServer) -> None:
    held: list[tuple[Conn, dict[str, Any]]] = []
    server.responder = lambda conn, frame: held.append((conn, frame))
    first, out_first = in_thread(lambda: client.set_plug_and_charge("CP-V1", True))
    server.wait_for("SET_PLUG_AND_CHARGE")
    second, out_second = in_thread(lambda: client.set_plug_and_charge("CP-V2", False))
    assert server.count("SET_PLUG_AND_CHARGE") == 1  # the second waits its turn
    verdict = {"object": "STATUS_SET_PLUG_AND_CHARGE", "success": False, "error": "REJECTED"}
    held[0][0].send(verdict)
    server.wait_for("SET_PLUG_AND_CHARGE", 2)
    held[1][0].send({**verdict, "success": True, "error": "", "result": {"setting": "set false"}})
    first.join(60)
    second.join(60)
    assert isinstance(out_first[0], ActionFailed) and out_first[0].evse_id == "CP-V1"
    assert (out_second[0].evse_id, out_second[0].value) == ("CP-V2", False)


def test_start_session_failure_without_evse_id(client: Client, server: ScriptedServer) -> None:
    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send({"object": "RECEIVED_START_SESSION", "error": ""})
        conn.send(
            {"object": "STATUS_START_SESSION", "success": False, "flow_id": "", "error": "REJECTED"}
        )

    server.responder = responder
    started = time.monotonic()
    with pytest.raises(ActionFailed, match="REJECTED") as info:
        client.start_session("CP-V3", "CARD-UID-9")
    assert time.monotonic() - started < PROMPT
    assert info.value.evse_id == "CP-V3"


def test_evse_less_session_verdict_with_two_starts_is_nobodys(server: ScriptedServer) -> None:
    # Two starts in flight, one verdict naming no charge point: no client could tell whose it
    # is, so both calls end ACKNOWLEDGED (accepted, effect unknown) instead of one guessing.
    acked: list[Conn] = []

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send({"object": "RECEIVED_START_SESSION", "error": ""})
        acked.append(conn)
        if len(acked) == 2:
            conn.send({"object": "STATUS_START_SESSION", "success": True, "error": ""})

    server.responder = responder
    with Client(GOOD_TOKEN, url=server.url, **SLOW, verdict_timeout=1.0) as client:
        one, out_one = in_thread(lambda: client.start_session("CP-V4", "CARD-1"))
        server.wait_for("START_SESSION")
        two, out_two = in_thread(lambda: client.start_session("CP-V5", "CARD-2"))
        one.join(60)
        two.join(60)
    outcomes = [(r.evse_id, r.outcome, r.success) for r in (out_one[0], out_two[0])]
    assert outcomes == [
        ("CP-V4", ActionOutcome.ACKNOWLEDGED, None),
        ("CP-V5", ActionOutcome.ACKNOWLEDGED, None),
    ]


# -- item 11: an ERROR goes to the request it can belong to -------------------------------


@pytest.mark.parametrize("simulator", [{"action_delay": 1.0, "push_interval": None}], indirect=True)
def test_foreign_read_during_a_silent_setting(simulator: Simulator) -> None:
    # The simulator's default: a setting is answered after action_delay, with no ack, and a
    # read of a charge point not on the account gets ERROR 2 at once. The ERROR is the
    # read's, never the setting's (which the server has taken).
    own = EVSE_IDS[0]
    with Client(DEFAULT_TOKEN, url=simulator.url, **SLOW) as client:
        for sent in range(1, 4):
            setting, out_setting = in_thread(lambda: client.set_plug_and_charge(own, True))
            wait_until(
                lambda sent=sent: len(simulator.received("SET_PLUG_AND_CHARGE")) == sent,
                what="setting sent",
            )
            started = time.monotonic()
            with pytest.raises(ApiError) as info:
                client.get_status(FOREIGN_EVSE_ID)
            assert time.monotonic() - started < PROMPT  # not the 30 s timeout
            assert info.value.code == 2
            setting.join(60)
            assert out_setting and not isinstance(out_setting[0], BaseException), out_setting
            assert (out_setting[0].evse_id, out_setting[0].value) == (own, True)


def test_error_after_the_silent_write_was_answered_goes_to_the_read(
    client: Client, server: ScriptedServer
) -> None:
    # Scripted the other way round: the setting is refused (ERROR 2) while a read is in
    # flight; the read's reply arrives after the ERROR, so the ERROR is the setting's.
    held: list[tuple[Conn, dict[str, Any]]] = []
    server.responder = lambda conn, frame: held.append((conn, frame))
    setting, out_setting = in_thread(lambda: client.set_plug_and_charge("CP-NOT-MINE", True))
    server.wait_for("SET_PLUG_AND_CHARGE")
    read, out_read = in_thread(lambda: client.get_status("CP-R1"))
    server.wait_for("GET_CH_STATUS")
    conn = held[0][0]
    conn.send({"object": "ERROR", "error": 2, "message": "Not authorized"})
    conn.send(ch_status("CP-R1", activity="charging"))
    setting.join(60)
    read.join(60)
    assert isinstance(out_setting[0], ApiError) and out_setting[0].code == 2
    assert out_read[0].evse_id == "CP-R1"


# -- item 7: a partial CH_STATUS push is never the answer to a read -------------------------


def test_partial_push_during_get_status(client: Client, server: ScriptedServer) -> None:
    partial = {"object": "CH_STATUS", "evse_id": "CP-P1", "data": {"activity": "charging"}}

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send(partial)  # the push overtakes the reply
        timer = threading.Timer(0.05, conn.send, args=(status_frame("CP-P1", kwh=7.25),))
        timer.daemon = True
        timer.start()

    server.responder = responder
    status = client.get_status("CP-P1")
    assert (status.evse_id, status.actual_kwh, status.actual_p1) == ("CP-P1", 7.25, 10)
    # A later partial push merges into the mirror: the numbers stay, the activity changes.
    server.push({"object": "CH_STATUS", "evse_id": "CP-P1", "data": {"activity": "available"}})
    seen = client.wait_for_status("CP-P1", lambda s: s.activity == "available", timeout=30)
    assert (seen.actual_kwh, seen.actual_p1) == (7.25, 10)
    last = client.last_status("CP-P1")
    assert last is not None and (last.activity, last.actual_kwh) == ("available", 7.25)


# -- item 6: another grid's GRID_STATUS push during a grid read ----------------------------


def grid(grid_id: str, load: int) -> dict[str, Any]:
    data = {"id": grid_id, "grid_actual_p1": load, "grid_actual_p2": load, "grid_actual_p3": load}
    return {"object": "GRID_STATUS", "data": {**data, "grid_max_install": 40}}


@pytest.mark.parametrize("named", ["GRID-CP-G1", "GRID-CP-G7"])  # own name, account name (OP-2)
def test_another_grids_push_is_not_the_answer(
    client: Client, server: ScriptedServer, named: str
) -> None:
    replies = [[grid(named, 3)], [grid("GRID-CP-G9", 29), grid(named, 4)]]

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        for reply in replies.pop(0):
            conn.send(reply)

    server.responder = responder
    first = client.get_grid_status("CP-G1")
    assert (first.grid_id, first.grid_actual_p1) == (named, 3)
    second = client.get_grid_status("CP-G1")  # the push of GRID-CP-G9 comes first
    assert (second.evse_id, second.grid_id, second.grid_actual_p1) == ("CP-G1", named, 4)


def test_first_grid_read_takes_the_grid_it_is_given(client: Client, server: ScriptedServer) -> None:
    # Nothing learned yet and a push naming another grid: no client can tell it from an
    # account-level grid reply (OP-2), so it answers; documented as what remains open.
    server.responder = lambda conn, frame: conn.send(grid("GRID-CP-G9", 29))
    first = client.get_grid_status("CP-G2")
    assert (first.evse_id, first.grid_id) == ("CP-G2", "GRID-CP-G9")


# -- item 1: get_email against a server that allows one connection per client --------------


@pytest.mark.parametrize("simulator", [{"single_connection": True}], indirect=True)
def test_get_email_with_one_connection_per_client(simulator: Simulator) -> None:
    client = Client(DEFAULT_TOKEN, url=simulator.url, **SLOW)
    try:
        assert client.get_email() == "sam@simulator.example"  # before connect()
        client.connect()
        started = time.monotonic()
        assert client.get_email() == "sam@simulator.example"  # the main connection is up
        assert time.monotonic() - started < PROMPT
        assert client.connected
    finally:
        client.close()


def test_get_email_before_connect_with_a_bad_token(server: ScriptedServer) -> None:
    client = Client("not-the-token", url=server.url, **SLOW)
    try:
        with pytest.raises(InvalidApiToken):
            client.get_email()
        assert server.count("GET_ACCOUNT") == 0
    finally:
        client.close()


# -- item 10: a reply behind a flood of pushes ---------------------------------------------


def test_reply_behind_twenty_thousand_pushes(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    # The reader stores and routes pushes; it converts none of them (the dispatcher does,
    # lazily, for subscribers) nor the reply (its caller or the dispatcher does, whichever
    # asks first, once) and logs nothing per push, so the reply is routed as soon as its
    # frame is read.
    count = 20_000
    pushes = [json.dumps(status_frame(f"CP-F{n}", kwh=n)) for n in range(count)]
    converted_on: list[tuple[str, Any]] = []
    # The two seams a CH_STATUS is converted at: the converter's ch_status (what the router's
    # cells convert the frame's shared model with, and a request's own converter) and event
    # (a plain frame's model).
    for method in ("ch_status", "event"):
        original = getattr(WireConverter, method)

        def spy(self: WireConverter, frame: Any, *args: Any, _original: Any = original) -> Any:
            converted_on.append((threading.current_thread().name, frame.get("evse_id")))
            return _original(self, frame, *args)

        monkeypatch.setattr(WireConverter, method, spy)
    client = Client(GOOD_TOKEN, url=server.url, **SLOW)  # built with the spies in place

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        for push in pushes:
            conn.send(push)
        conn.send(status_frame(str(frame["evse_id"]), kwh=-4.5))

    server.responder = responder
    events: list[Any] = []
    flooded = threading.Event()

    def on_status(event: Any) -> None:
        events.append(event)
        if event.evse_id == "CP-FLOODED":
            flooded.set()

    client.on("CH_STATUS", on_status)
    try:
        client.connect()
        with caplog.at_level(logging.INFO):
            status = client.get_status("CP-FLOODED")  # timeout=30: returns on its reply
        assert (status.evse_id, status.actual_kwh) == ("CP-FLOODED", -4.5)
        assert flooded.wait(30)  # the newest item is never the one a full queue drops
        # The thread that reads the socket converts nothing, not even the reply: it is
        # converted once, after the reader handed it over, and the caller and the
        # subscriber hold that one model.
        assert [name for name, _ in converted_on].count(READER_THREAD_NAME) == 0
        assert [evse for _, evse in converted_on].count("CP-FLOODED") == 1
        assert [e for e in events if e.evse_id == "CP-FLOODED"] == [status]
        assert next(e for e in events if e.evse_id == "CP-FLOODED") is status
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len([r for r in warnings if r.name == CONNECTION]) <= 1  # the mirror: once
        assert len(warnings) <= 1 + count // 100  # the dispatcher counts drops per hundred
        assert client.last_status("CP-F19999") is not None  # every push reached the mirror
    finally:
        client.close()


# -- item 12 / OP-12: an opt-in flow_id, routed by its echo ---------------------------------


@pytest.mark.parametrize(
    "simulator", [{"action_delay": 5.0, "variants": {"flow_id": "echo"}}], indirect=True
)
def test_flow_id_echo_settles_attribution(simulator: Simulator) -> None:
    own = EVSE_IDS[0]
    with Client(DEFAULT_TOKEN, url=simulator.url, **SLOW, send_flow_id=True) as client:
        setting, out_setting = in_thread(lambda: client.set_plug_and_charge(own, False))
        wait_until(lambda: bool(simulator.received("SET_PLUG_AND_CHARGE")), what="setting")
        with pytest.raises(ApiError) as info:
            client.get_status(FOREIGN_EVSE_ID)  # its ERROR echoes its flow_id: at once
        assert info.value.code == 2
        assert out_setting == []  # not held until the setting's verdict: the echo said whose
        setting.join(60)
        assert (out_setting[0].evse_id, out_setting[0].value) == (own, False)
        assert client.get_status(own).evse_id == own
    sent = [f for f in simulator.received() if f.get("command") not in ("VALIDATE_API_TOKEN",)]
    ids = [f.get("flow_id") for f in sent if f.get("command") != "HELLO"]
    assert ids and all(isinstance(i, str) and len(i) == 36 for i in ids)
    assert len(set(ids)) == len(ids)  # a fresh one per command


def test_an_echoed_flow_id_wins_over_the_charge_point_named(
    server: ScriptedServer,
) -> None:
    # A verdict echoing the first start's flow_id answers it, even naming no charge point
    # while two starts are in flight (without the echo: nobody's, see item 5).
    starts: list[dict[str, Any]] = []

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send({"object": "RECEIVED_START_SESSION", "error": "", "flow_id": frame["flow_id"]})
        starts.append(frame)
        if len(starts) == 2:
            for start in starts:
                verdict = {"object": "STATUS_START_SESSION", "success": True, "error": ""}
                conn.send({**verdict, "flow_id": start["flow_id"]})

    server.responder = responder
    with Client(GOOD_TOKEN, url=server.url, **SLOW, send_flow_id=True) as client:
        one, out_one = in_thread(lambda: client.start_session("CP-W1", "CARD-1"))
        server.wait_for("START_SESSION")
        two, out_two = in_thread(lambda: client.start_session("CP-W2", "CARD-2"))
        one.join(60)
        two.join(60)
    results = [(r.evse_id, r.outcome) for r in (out_one[0], out_two[0])]
    assert results == [("CP-W1", ActionOutcome.CONFIRMED), ("CP-W2", ActionOutcome.CONFIRMED)]


# -- CHARGE_POINTS of a large account converts (the frame cap itself is issue 17's) ---------


def test_six_megabyte_charge_points_converts() -> None:
    from frames import CHARGE_POINT_ITEM

    from bluecurrent_sync._convert import FrameDecoder

    items = [{**CHARGE_POINT_ITEM, "evse_id": f"BCU{n:06d}"} for n in range(5_000)]
    text = json.dumps({"object": "CHARGE_POINTS", "data": items})
    assert len(text.encode()) > 5_000_000
    points = WireConverter().charge_points(FrameDecoder().decode(text))
    assert len(points) == 5_000 and points[-1].evse_id == "BCU004999"


def test_a_read_whose_error_stays_held_raises_it_at_its_timeout(server: ScriptedServer) -> None:
    # The setting's verdict takes longer than the read may wait (a real charger: ~30 s):
    # at its timeout the read raises the ERROR it most likely owns, not a bare timeout.
    held: list[tuple[Conn, dict[str, Any]]] = []

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        if frame["command"] == "GET_CH_STATUS":
            conn.send({"object": "ERROR", "error": 2, "message": "Not authorized"})
        else:
            held.append((conn, frame))

    server.responder = responder
    with Client(GOOD_TOKEN, url=server.url, timeout=30.0) as client:
        setting, out_setting = in_thread(lambda: client.set_plug_and_charge("CP-H1", True))
        server.wait_for("SET_PLUG_AND_CHARGE")
        client.timeout = 2.0  # the read only: the setting took its 30 s when it started
        with pytest.raises(ApiError, match="most likely the answer") as info:
            client.get_status("CP-NOT-MINE")
        assert info.value.code == 2
        conn = held[0][0]
        conn.send(
            {
                "object": "STATUS_SET_PLUG_AND_CHARGE",
                "success": True,
                "evse_id": "CP-H1",
                "result": {"setting": "set true"},
                "error": "",
            }
        )
        setting.join(60)
    assert out_setting and getattr(out_setting[0], "value", None) is True, out_setting
