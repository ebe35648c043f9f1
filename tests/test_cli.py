"""The ``bluecurrent-sync`` command against a real simulator on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
from conftest import run_cli

from bluecurrent_sync.cli import (
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_INVALID_TOKEN,
    EXIT_OK,
    EXIT_QUOTA,
    EXIT_REFUSED,
    EXIT_USAGE,
    TOKEN_ENV,
    main,
)
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

CHARGING = "BCU100001"  # the simulator's scenario: charging from the start
IDLE = "BCU100004"  # available, a vehicle plugged in
OFFLINE = "BCU100003"
FOREIGN = "BCU900001"  # exists, but belongs to another account
BAD_TOKEN = "not-my-token-5f0e7c"


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def run(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, *args: str, token: str = DEFAULT_TOKEN
) -> tuple[int, str, str]:
    code = main(["--url", simulator.url, "--token", token, *args])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> dict[str, list[str]]:
    """Table lines keyed by their first cell (header and rule excluded)."""
    lines = out.strip().splitlines()
    assert set(lines[1].replace(" ", "")) == {"-"}, lines[1]
    return {line.split()[0]: line.split() for line in lines[2:]}


# ------------------------------------------------------------------------------ reading


def test_charge_points_table(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, err = run(capsys, simulator, "charge-points")
    assert (code, err) == (EXIT_OK, "")
    header = out.splitlines()[0].split()
    assert header[:4] == ["EVSE", "NAME", "MODEL", "ACTIVITY"]
    rows = table_rows(out)
    assert set(rows) == {"BCU100001", "BCU100002", "BCU100003", "BCU100004"}
    assert rows[CHARGING][1:4] == ["Garage", "H:MOVE-C32T2", "charging"]
    assert rows[OFFLINE][3] == "offline"
    assert DEFAULT_TOKEN not in out


def test_charge_points_json(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, _ = run(capsys, simulator, "charge-points", "--json")  # --json after the command
    assert code == EXIT_OK
    points = json.loads(out)
    by_evse = {point["evse_id"]: point for point in points}
    assert by_evse[CHARGING]["activity"] == "charging"  # enum -> its value
    assert by_evse[CHARGING]["plug_and_charge"] is True
    assert by_evse[CHARGING]["preferred_card"]["uid"] == "04A1B2C3D4E5F6"  # nested model


def test_status_table_and_json(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, _ = run(capsys, simulator, "status", CHARGING, IDLE)
    assert code == EXIT_OK
    assert out.splitlines()[0].split()[:5] == ["EVSE", "ACTIVITY", "kW", "kWh", "VEHICLE"]
    rows = table_rows(out)
    assert rows[CHARGING][1] == "charging"
    assert float(rows[CHARGING][2]) > 1.0  # kW
    assert rows[IDLE][1:3] == ["available", "0.00"]

    code, out, _ = run(capsys, simulator, "--json", "status", CHARGING, IDLE)  # --json before it
    assert code == EXIT_OK
    statuses = json.loads(out)
    assert set(statuses) == {CHARGING, IDLE}
    charging = statuses[CHARGING]
    assert charging["vehicle_status"] == "ready"
    assert charging["total_kw"] > 1.0
    started = dt.datetime.fromisoformat(charging["start_datetime"])  # ISO 8601 string
    assert started.tzinfo is not None


def test_settings_grid_and_cards(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, _ = run(capsys, simulator, "settings", CHARGING)
    assert code == EXIT_OK
    fields = table_rows(out)
    assert fields["plug_and_charge"][1] == "yes"
    assert fields["linked_charge_cards_only"][1] == "yes"

    code, out, _ = run(capsys, simulator, "grid", CHARGING, "--json")
    assert code == EXIT_OK
    grid = json.loads(out)
    assert grid["evse_id"] == CHARGING
    assert grid["grid_max_install"] == 40

    code, out, _ = run(capsys, simulator, "cards")
    assert code == EXIT_OK
    rows = table_rows(out)
    assert {"04A1B2C3D4E5F6", "04F6E5D4C3B2A1"} <= set(rows)
    assert "Home" in rows["04A1B2C3D4E5F6"]


# ------------------------------------------------------------------------------ actions


def test_session_start_stop(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, err = run(capsys, simulator, "start", IDLE, "--card", "04F6E5D4C3B2A1")
    assert (code, err) == (EXIT_OK, "")
    assert "start session on BCU100004 with card 04F6E5D4C3B2A1: done." in out
    assert simulator.received("START_SESSION")[-1]["session_token"] == "04F6E5D4C3B2A1"

    code, out, _ = run(capsys, simulator, "status", IDLE, "--json")
    assert json.loads(out)[IDLE]["activity"] == "charging"

    code, out, _ = run(capsys, simulator, "stop", IDLE, "--json")
    assert code == EXIT_OK
    result = json.loads(out)
    assert (result["command"], result["success"]) == ("STOP_SESSION", True)

    # Nothing left to stop: refused by the server, exit 1, one line, no traceback.
    code, out, err = run(capsys, simulator, "stop", IDLE)
    assert code == EXIT_REFUSED
    assert out == ""
    assert err.startswith("bluecurrent-sync: error: ")
    assert "no active session" in err
    assert "Traceback" not in err


def test_start_without_card_uses_the_app_token(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    code, out, _ = run(capsys, simulator, "start", IDLE)
    assert code == EXIT_OK
    assert "without a card" in out
    assert simulator.received("START_SESSION")[-1]["session_token"] == "BCU-APP"


def test_block_unblock_reset_reboot(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    assert run(capsys, simulator, "block", IDLE)[0] == EXIT_OK
    code, out, _ = run(capsys, simulator, "status", IDLE, "--json")
    assert json.loads(out)[IDLE]["activity"] == "unavailable"
    assert run(capsys, simulator, "unblock", IDLE)[0] == EXIT_OK
    code, out, _ = run(capsys, simulator, "status", IDLE, "--json")
    assert json.loads(out)[IDLE]["activity"] == "available"

    code, out, _ = run(capsys, simulator, "reset", IDLE, "--json")
    assert (code, json.loads(out)["command"]) == (EXIT_OK, "SOFT_RESET")
    code, out, _ = run(capsys, simulator, "reboot", IDLE)
    assert code == EXIT_OK
    assert "reboot of BCU100004: done." in out


def test_refused_action_exits_1(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    simulator.fail_action("START_SESSION", "REJECTED")
    code, out, err = run(capsys, simulator, "start", IDLE)
    assert code == EXIT_REFUSED
    assert "REJECTED" in out + err
    assert "Traceback" not in err


def test_set_settings(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, _ = run(capsys, simulator, "set", "plug-and-charge", IDLE, "on")
    assert code == EXIT_OK
    assert "plug-and-charge of BCU100004 set to on: done." in out
    code, out, _ = run(capsys, simulator, "set", "linked-cards-only", IDLE, "on", "--json")
    assert code == EXIT_OK
    result = json.loads(out)
    assert (result["setting"], result["value"], result["success"]) == (
        "linked_charge_cards_only",
        True,
        True,
    )
    code, out, _ = run(capsys, simulator, "settings", IDLE, "--json")
    settings = json.loads(out)
    assert settings["plug_and_charge"] is True
    assert settings["linked_charge_cards_only"] is True


# ------------------------------------------------------------------------------ watch


def test_watch_count_filters_by_evse(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    code, out, _ = run(capsys, simulator, "watch", CHARGING, "--count", "3")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].startswith("Watching pushed updates for BCU100001")
    assert len(lines) == 4
    for line in lines[1:]:
        assert "BCU100001" in line
        assert " CH_STATUS " in line or " GRID_CURRENT " in line
    # Each push tick sends a CH_STATUS and a GRID_CURRENT, so 3 updates include a status.
    status = next(line for line in lines[1:] if " CH_STATUS " in line)
    assert re.search(r"BCU100001  charging  \d+\.\d\d kW  \d+\.\d\d kWh  vehicle ready", status)


def test_watch_seconds_json_lines(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, _ = run(capsys, simulator, "watch", "--seconds", "1", "--json")
    assert code == EXIT_OK
    records = [json.loads(line) for line in out.splitlines()]
    assert records, "pushes every 0.1 s, so one second shows some"
    objects = {record["object"] for record in records}
    assert "CH_STATUS" in objects
    status = next(r["data"] for r in records if r["object"] == "CH_STATUS")
    assert status["evse_id"] == CHARGING


def _watch(url: str, *code: str) -> subprocess.Popen[str]:
    """``bluecurrent-sync --url URL watch`` in a child, after running ``code`` there.

    faulthandler is on: :func:`_ended` aborts a child that does not end in time, and its
    threads' tracebacks land in the failure message.
    """
    script = "\n".join(
        [
            "import sys",
            "from bluecurrent_sync import cli",
            *code,
            f"sys.exit(cli.main(['--url', {url!r}, 'watch']))",
        ]
    )
    env = dict(os.environ, **{TOKEN_ENV: DEFAULT_TOKEN, "PYTHONFAULTHANDLER": "1"})
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _ended(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Its output once it ends; fails with its threads' tracebacks if it has not in 60 s."""
    try:
        return proc.communicate(timeout=60)  # a deadline for a loaded machine, not a speed test
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler dumps every thread to stderr
        out, err = proc.communicate()
        pytest.fail(f"watch did not end after Ctrl-C; stderr:\n{err}\nlast output: {out[-500:]}")


def test_ctrl_c_ends_watch_cleanly(simulator: Simulator) -> None:
    with _watch(simulator.url) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Watching")
        assert " CH_STATUS " in proc.stdout.readline() + proc.stdout.readline()
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        _, err = _ended(proc)
    assert proc.returncode == EXIT_INTERRUPTED  # 130, as documented
    assert err == ""


def test_ctrl_c_ends_watch_even_when_the_interrupt_is_swallowed(simulator: Simulator) -> None:
    # Python raises KeyboardInterrupt wherever the main thread is; in a finalizer it is
    # printed and dropped. Here the line formatter drops it on purpose: the watch must
    # still end, because Ctrl-C also closed its event stream.
    swallow = [
        "import threading",
        "real = cli.event_line",
        "def swallowing(event):",
        "    try:",
        "        print('WAITING', flush=True)",
        "        threading.Event().wait(60)",
        "    except KeyboardInterrupt:",
        "        print('SWALLOWED', flush=True)",
        "    return real(event)",
        "cli.event_line = swallowing",
    ]
    with _watch(simulator.url, *swallow) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Watching")
        assert proc.stdout.readline() == "WAITING\n"  # the main thread is in the wait now
        proc.send_signal(signal.SIGINT)
        out, err = _ended(proc)
    assert out.startswith("SWALLOWED\n"), out
    assert proc.returncode == EXIT_INTERRUPTED
    assert err == ""


# ------------------------------------------------------------------------------ errors


def test_invalid_token(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, out, err = run(capsys, simulator, "charge-points", token=BAD_TOKEN)
    assert code == EXIT_INVALID_TOKEN
    assert out == ""
    assert "refused the API token" in err
    assert "my.bluecurrent.nl" in err  # where to get a good one
    assert BAD_TOKEN not in err


def test_invalid_token_subprocess_has_no_traceback(simulator: Simulator) -> None:
    proc = run_cli("--url", simulator.url, "cards", token=BAD_TOKEN)
    assert proc.returncode == EXIT_INVALID_TOKEN
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert BAD_TOKEN not in proc.stderr


def test_token_from_environment(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, DEFAULT_TOKEN)
    assert main(["--url", simulator.url, "cards"]) == EXIT_OK
    assert "04A1B2C3D4E5F6" in capsys.readouterr().out


def test_no_token_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["charge-points"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert TOKEN_ENV in err
    assert "my.bluecurrent.nl" in err


def test_quota_reached_shows_local_reset_time(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    simulator.exhaust_quota()
    code, _out, err = run(capsys, simulator, "charge-points")
    assert code == EXIT_QUOTA
    assert "quota" in err
    assert "resets at" in err
    assert "local time" in err
    assert "Traceback" not in err


def test_not_my_charge_point(capsys: pytest.CaptureFixture[str], simulator: Simulator) -> None:
    code, _out, err = run(capsys, simulator, "status", FOREIGN)
    assert code == EXIT_REFUSED
    assert "bluecurrent-sync charge-points" in err


def test_cannot_connect(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/haserver"
    code = main(["--url", url, "--token", "x", "--timeout", "3", "charge-points"])
    _out, err = capsys.readouterr()
    assert code == EXIT_CONNECTION
    assert url in err
    assert "Check the URL" in err


# ------------------------------------------------------------------------------ front door


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for command in ("charge-points", "status", "watch", "start", "set", "simulator", "demo"):
        assert command in out


def test_plain_ws_to_another_machine_needs_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", "ws://192.0.2.1/haserver", "--token", "x", "cards"])
    assert code == EXIT_USAGE  # refused before any network use
    assert "--allow-insecure" in capsys.readouterr().err


def test_passthrough_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--help"]) == EXIT_OK
    assert "--allow-session" in capsys.readouterr().out
    assert main(["simulator", "--help"]) == EXIT_OK
    assert "--push-interval" in capsys.readouterr().out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "plug-and-charge", IDLE, "maybe"]) == EXIT_USAGE
    assert main(["watch", "--count", "0"]) == EXIT_USAGE
    assert main(["cards", "--bogus"]) == EXIT_USAGE
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_python_dash_m(simulator: Simulator) -> None:
    proc = run_cli("--url", simulator.url, "status", CHARGING, token=DEFAULT_TOKEN)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "charging" in proc.stdout


def test_simulator_command_runs_the_simulator() -> None:
    env = {key: value for key, value in os.environ.items() if key != TOKEN_ENV}
    with subprocess.Popen(
        [sys.executable, "-m", "bluecurrent_sync", "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            url = next(word for word in first.split() if word.startswith("ws://"))
            client = run_cli("--url", url, "charge-points", token=DEFAULT_TOKEN)
            assert client.returncode == EXIT_OK, client.stderr
            assert "Garage" in client.stdout
        finally:
            proc.terminate()
            proc.wait(timeout=10)
