"""Replaying a captured session in the simulator gives the script the same answers.

Captures are written by the client's own record mode (``Client(record=...)``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bluecurrent_sync import Client
from bluecurrent_sync.models import Activity
from bluecurrent_sync.simulator import DEFAULT_TOKEN, EVSE_IDS, Simulator
from bluecurrent_sync.simulator._replay import CaptureError, load_capture

IDLE = "BCU100004"


def script(client: Client) -> dict[str, Any]:
    """What a user's script might do; returns every answer it got."""
    answers: dict[str, Any] = {
        "customer_id": client.customer_id,
        "email": client.get_email(),
        "charge_points": client.get_charge_points(),
        "cards": client.get_charge_cards(),
        "statuses": client.get_statuses(EVSE_IDS),
        "settings": client.get_settings(IDLE),
        "grid": client.get_grid_status(IDLE),
        "schedules": client.get_user_override_currents_list(),
    }
    answers["started"] = client.start_session(IDLE, "BCU-APP")
    answers["charging"] = client.wait_for_status(
        IDLE, lambda s: s.activity == Activity.CHARGING, timeout=30
    )
    answers["stopped"] = client.stop_session(IDLE)
    answers["available"] = client.wait_for_status(
        IDLE, lambda s: s.activity == Activity.AVAILABLE, timeout=30
    )
    return answers


def record(sim: Simulator, path: Path) -> dict[str, Any]:
    with Client(DEFAULT_TOKEN, url=sim.url, action_timeout=20, record=path) as client:
        return script(client)


@pytest.fixture
def capture(tmp_path: Path, make_simulator: Any) -> tuple[Path, dict[str, Any]]:
    # No timed pushes: a timed push landing between start_session() and wait_for_status()
    # would change which status "the first charging one" is, in either run. The pushes that
    # follow the actions are recorded and replayed (the timing is tested on its own below).
    sim = make_simulator(push_interval=None, action_delay=0.05, seed=7)
    path = tmp_path / "capture.jsonl"
    answers = record(sim, path)
    text = path.read_text()
    assert DEFAULT_TOKEN not in text and sim.issued_token() not in text
    return path, answers


def test_a_capture_replays_with_the_same_answers(
    capture: tuple[Path, dict[str, Any]], make_simulator: Any
) -> None:
    path, original = capture
    # Another seed and no invented pushes: every answer must come from the capture.
    replay = make_simulator(replay=path, replay_speed=4.0, seed=99)
    with Client(DEFAULT_TOKEN, url=replay.url, action_timeout=20) as client:
        replayed = script(client)
    assert replayed == original
    assert replayed["charging"].activity is Activity.CHARGING
    assert replayed["available"].activity is Activity.AVAILABLE
    # The replay answered from the capture: it received the same commands, and no reply
    # came from its own (differently seeded) scenario.
    assert replay.count("GET_CH_STATUS") == len(EVSE_IDS)


def test_commands_the_capture_lacks_work_on_the_recorded_state(
    capture: tuple[Path, dict[str, Any]], make_simulator: Any
) -> None:
    path, original = capture
    replay = make_simulator(replay=path, replay_speed=50.0)
    with Client(DEFAULT_TOKEN, url=replay.url, action_timeout=20) as client:
        assert client.get_charge_points() == original["charge_points"]
        client.block("BCU100002")  # never recorded: the simulator's own behaviour
        blocked = client.wait_for_status(
            "BCU100002", lambda s: s.activity == Activity.UNAVAILABLE, timeout=20
        )
        assert blocked.evse_id == "BCU100002"
        names = {cp.evse_id: cp.name for cp in client.get_charge_points()}
        assert names == {cp.evse_id: cp.name for cp in original["charge_points"]}


def _capture_lines(pushes: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """A hand-written capture of an account the built-in scenario does not have."""
    item = {
        "evse_id": "BCU555555",
        "name": "Shed",
        "model_type": "H:MOVE-C32T2",
        "chargepoint_type": "HIDDEN",
        "is_cable": True,
        "activity": "available",
        "smart_charging": False,
        "plug_and_charge": {"value": True, "permission": "write"},
        "public_charging": {"value": False, "permission": "write"},
    }
    status = {
        "evse_id": "BCU555555",
        "activity": "available",
        "actual_kwh": 0,
        "max_usage": 25,
        "vehicle_status": "B",
    }
    card = {"uid": "CARD-77", "id": "NL-XYZ-000077-1", "name": "Blue", "valid": 1}

    def at(t: float, direction: str, frame: dict[str, Any], conn: str = "main") -> dict[str, Any]:
        return {
            "t": t,
            "at": "2026-01-01T10:00:00+00:00",
            "dir": direction,
            "conn": conn,
            "seq": 1,
            "frame": frame,
        }

    lines = [
        {
            "capture": "bluecurrent_sync",
            "version": 1,
            "started": "2026-01-01T10:00:00+00:00",
            "url": "wss://motown.bluecurrent.nl/haserver",
            "client_version": "1.0",
        },
        at(0.0, "out", {"command": "VALIDATE_API_TOKEN", "token": "<redacted>"}, "validate"),
        at(
            0.1,
            "in",
            {
                "object": "STATUS_API_TOKEN",
                "success": True,
                "token": "<redacted>",
                "customer_id": "CUST-REAL-9",
            },
            "validate",
        ),
        {"t": 0.15, "at": "x", "event": "closed", "conn": "validate", "seq": 1, "detail": ""},
        at(0.2, "out", {"command": "HELLO", "header": "x", "Authorization": "<redacted>"}),
        at(0.3, "in", {"object": "HELLO"}),
        at(0.4, "out", {"command": "GET_CHARGE_POINTS", "Authorization": "<redacted>"}),
        at(0.5, "in", {"object": "CHARGE_POINTS", "data": [item]}),
        at(
            0.6, "out", {"command": "GET_CHARGE_CARDS", "limit": 100, "Authorization": "<redacted>"}
        ),
        at(0.7, "in", {"object": "CHARGE_CARDS", "cards": [card]}),
        at(0.8, "in", {"object": "CH_STATUS", "evse_id": "BCU555555", "data": status}),
        {"t": 0.9, "at": "x", "dir": "in", "conn": "main", "seq": 1, "text": "not json"},
    ]
    for t, frame in pushes:
        lines.append(at(0.3 + t, "in", frame))
    return lines


def _push(kwh: float) -> dict[str, Any]:
    return {
        "object": "CH_STATUS",
        "evse_id": "BCU555555",
        "data": {
            "evse_id": "BCU555555",
            "activity": "charging",
            "actual_kwh": kwh,
            "max_usage": 25,
            "vehicle_status": "C",
        },
    }


def test_replay_uses_the_recorded_account_and_times_its_pushes(
    tmp_path: Path, make_simulator: Any
) -> None:
    path = tmp_path / "hand.jsonl"
    pushes = [(1.0, _push(1.5)), (2.0, _push(2.5)), (3.0, _push(3.5))]
    path.write_text("\n".join(json.dumps(line) for line in _capture_lines(pushes)) + "\n")
    speed = 10.0
    replay = make_simulator(replay=path, replay_speed=speed)
    arrivals: list[tuple[float, float]] = []
    done = threading.Event()
    with Client(DEFAULT_TOKEN, url=replay.url) as client:

        def on_status(status: Any) -> None:
            arrivals.append((time.monotonic(), status.actual_kwh))
            if len(arrivals) == 4:
                done.set()

        client.on("CH_STATUS", on_status)
        assert client.customer_id == "CUST-REAL-9"
        [cp] = client.get_charge_points()
        assert (cp.evse_id, cp.name, cp.plug_and_charge) == ("BCU555555", "Shed", True)
        before_cards = time.monotonic()
        assert [card.uid for card in client.get_charge_cards()] == ["CARD-77"]
        assert done.wait(20)
        # The status recorded after GET_CHARGE_CARDS, then the three pushes at their
        # recorded spacing (1 s) divided by the speed: never sooner than that.
        assert [kwh for _, kwh in arrivals] == [0, 1.5, 2.5, 3.5]
        # The last push was recorded 2.7 s after GET_CHARGE_CARDS; a timer never fires
        # early, so it cannot arrive sooner than 2.7 s / speed after the command was sent.
        assert arrivals[-1][0] - before_cards >= 2.7 / speed * 0.95
        # Not recorded: answered from the replayed state (the last push applied).
        status = client.get_status("BCU555555")
        assert status.activity is Activity.CHARGING and status.actual_kwh == 3.5
        assert status.max_usage == 25
        # A recorded card starts a session the normal way on the recorded charge point.
        client.stop_session("BCU555555")
        client.wait_for_status("BCU555555", lambda s: s.activity == "available", timeout=10)
        result = client.start_session("BCU555555", "CARD-77")
        assert result.success


def test_a_file_that_is_not_a_capture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(CaptureError, match="not a bluecurrent_sync capture"):
        load_capture(path)
    path.write_text('{"capture": "bluecurrent_sync", "version": 1}\n[1]\n')
    with pytest.raises(CaptureError, match=":2:"):
        load_capture(path)
    with pytest.raises(CaptureError):
        Simulator(replay=path)
    path.write_text(json.dumps(_capture_lines([])[0]) + "\n")
    with pytest.raises(ValueError, match="replay_speed"):
        Simulator(replay=path, replay_speed=0)


@pytest.mark.bluecurrent_simulator(replay="data/replay_capture.jsonl", replay_speed=20.0)
def test_the_pytest_fixture_replays_a_capture(bluecurrent_client: Client) -> None:
    [cp] = bluecurrent_client.get_charge_points()
    assert cp.name == "Shed"


def test_simulator_command_line_replays(tmp_path: Path) -> None:
    path = tmp_path / "hand.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in _capture_lines([])) + "\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bluecurrent_sync",
            "simulator",
            "--replay",
            str(path),
            "--replay-speed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:")
        with Client(DEFAULT_TOKEN, url=url) as client:
            assert [cp.name for cp in client.get_charge_points()] == ["Shed"]
    finally:
        proc.terminate()
        proc.wait(30)
