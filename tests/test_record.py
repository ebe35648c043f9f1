"""Record mode and check-capture, over real sockets against the simulator."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bluecurrent_sync import _capture_check, cli
from bluecurrent_sync.client import Client
from bluecurrent_sync.simulator import DEFAULT_TOKEN, EVSE_IDS, Simulator

FAST: dict[str, Any] = {"timeout": 3.0, "action_timeout": 4.0, "hello_timeout": 0.5}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _session(sim: Simulator, path: Path, extra: Callable[[Client], None] | None = None) -> None:
    with Client(DEFAULT_TOKEN, url=sim.url, record=path, **FAST) as client:
        client.get_charge_points()
        client.get_status(EVSE_IDS[0])
        client.get_grid_status(EVSE_IDS[1])
        client.get_email()
        if extra is not None:
            extra(client)


def test_capture_format_and_redaction(simulator: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    issued = simulator.issued_token(DEFAULT_TOKEN)

    def echo_secrets(client: Client) -> None:
        with client.events("ECHO", timeout=5, allow_unknown=True) as stream:
            simulator.inject({"object": "ECHO", "note": f"you sent {DEFAULT_TOKEN}"})
            simulator.inject(f"not json but has {issued} inside")
            simulator.inject({"object": "ECHO", "nested": [{"Token": "x"}, f"Token {issued}"]})
            assert next(stream) and next(stream)

    _session(simulator, path, echo_secrets)
    text = path.read_text(encoding="utf-8")
    assert DEFAULT_TOKEN not in text and issued not in text
    header, *records = _lines(path)
    assert header["capture"] == "bluecurrent_sync" and header["version"] == 1
    assert header["url"] == simulator.url and header["started"].endswith("+00:00")
    assert isinstance(header["client_version"], str)
    kinds = {(r["conn"], r["seq"]) for r in records}
    assert {("validate", 1), ("main", 1), ("account", 1)} <= kinds
    frames = [r for r in records if "dir" in r]
    assert all(r["dir"] in ("in", "out") and r["t"] >= 0 and r["at"] for r in frames)
    times = [r["t"] for r in records]
    assert times == sorted(times)
    validate = next(r for r in frames if r["conn"] == "validate" and r["dir"] == "out")
    assert validate["frame"] == {"command": "VALIDATE_API_TOKEN", "token": "<redacted>"}
    token_reply = next(r for r in frames if r["conn"] == "validate" and r["dir"] == "in")
    assert token_reply["frame"]["token"] == "<redacted>"
    hello = next(r for r in frames if r["frame"].get("command") == "HELLO" if "frame" in r)
    assert hello["frame"]["Authorization"] == "<redacted>"
    echoes = [r["frame"] for r in frames if "frame" in r and r["frame"].get("object") == "ECHO"]
    assert echoes[0]["note"] == "<redacted>"
    assert echoes[1]["nested"] == [{"Token": "<redacted>"}, "<redacted>"]
    assert any(r.get("text") == "<redacted>" for r in frames)
    events = [r for r in records if "event" in r]
    assert {(e["event"], e["conn"]) for e in events} >= {("opened", "main"), ("closed", "main")}


def test_record_to_an_open_file_leaves_it_open(simulator: Simulator) -> None:
    buffer = io.StringIO()
    with Client(DEFAULT_TOKEN, url=simulator.url, record=buffer, **FAST) as client:
        client.get_charge_points()
    assert not buffer.closed
    lines = buffer.getvalue().splitlines()
    assert json.loads(lines[0])["capture"] == "bluecurrent_sync"
    assert any('"CHARGE_POINTS"' in line for line in lines)


def test_check_capture_of_a_clean_session(
    simulator: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clean.jsonl"
    _session(simulator, path, lambda client: client.block(EVSE_IDS[3]))
    assert _capture_check.main(str(path), io.StringIO()) == 0
    report = _capture_check.check_capture(path)
    assert report.findings == []
    assert report.schemas_checked
    points = {note.open_point for note in report.observations}
    assert {"OP-1", "OP-2", "OP-3"} <= points


def test_check_capture_reports_the_unexpected(
    make_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_simulator(variants={"hello": "silent", "grid_id": "account"})
    path = tmp_path / "odd.jsonl"

    def oddities(client: Client) -> None:
        with client.events(
            "CH_SETTINGS", "SIMULATOR_SURPRISE", timeout=5, allow_unknown=True
        ) as stream:
            sim.inject({"object": "SIMULATOR_SURPRISE", "data": {}})
            bad_led = {"evse_id": EVSE_IDS[1], "led_intensity": {"value": "bright"}}
            sim.inject({"object": "CH_SETTINGS", "data": bad_led})
            assert next(stream) and next(stream)

    _session(sim, path, oddities)
    report = _capture_check.check_capture(path)
    messages = [str(note) for note in report.findings]
    assert any("SIMULATOR_SURPRISE" in m for m in messages)
    assert any("OP-10" in m and "led_intensity" in m for m in messages)
    observed = [str(note) for note in report.observations]
    assert any("OP-1" in m and "never answered" in m for m in observed)
    assert any("OP-2" in m and "names another" in m for m in observed)
    out = io.StringIO()
    assert _capture_check.main(str(path), out) == 1
    assert "Not expected" in out.getvalue()


def test_check_capture_unreadable(tmp_path: Path) -> None:
    out = io.StringIO()
    assert _capture_check.main(str(tmp_path / "missing.jsonl"), out) == 2
    other = tmp_path / "other.jsonl"
    other.write_text('{"something": "else"}\n', encoding="utf-8")
    assert _capture_check.main(str(other), out) == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"capture": "bluecurrent_sync", "version": 1}\n{oops\n', encoding="utf-8")
    assert _capture_check.main(str(broken), out) == 2
    assert "line 2 is not JSON" in out.getvalue()


def test_cli_record_then_check(
    simulator: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.jsonl"
    base = ["--url", simulator.url, "--token", DEFAULT_TOKEN]
    assert cli.main([*base, "--record", str(path), "charge-points"]) == 0
    assert cli.main(["check-capture", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Every frame was expected" in out
    assert DEFAULT_TOKEN not in path.read_text(encoding="utf-8")
    assert cli.main([*base, "--record", str(tmp_path / "no" / "dir.jsonl"), "cards"]) == 2


def test_check_capture_survives_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    lines = [
        {"capture": "bluecurrent_sync", "version": 1, "started": "x", "url": "u"},
        {"t": 0, "dir": "in", "conn": "main", "seq": 1, "frame": "HELLO"},
        {"t": 0, "dir": "in", "conn": "main", "seq": 1, "frame": [1]},
        {"t": 0, "dir": "in", "conn": "main", "seq": 1, "text": "Infinity"},
        {"t": 0, "dir": "in", "conn": "main", "seq": 1, "frame": {"no": "name"}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = _capture_check.check_capture(path)
    assert [note.line for note in report.findings] == [2, 3, 4, 5]
