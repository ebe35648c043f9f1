"""The guided tour (`make demo`) runs to completion, quickly, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from bluecurrent_sync import demo
from bluecurrent_sync.cli import TOKEN_ENV
from bluecurrent_sync.cli import main as cli_main
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

UPDATE_ROW = re.compile(r"^\s+\d\d:\d\d:\d\d\s+charging\s+(\d+\.\d\d)\s+(\d+\.\d{3})\s+ready$")


def check_tour(out: str) -> None:
    for heading in (
        "Your charge points",
        "Their status",
        "Start a charging session on BCU100004",
        "Live updates pushed by the server for BCU100004",
        "Stop the session on BCU100004",
        "Grid status of BCU100001's installation",
        "Now with your own charge points",
    ):
        assert heading in out, heading
    assert "Garage" in out
    assert "bluecurrent-sync charge-points" in out
    energies = [float(m.group(2)) for m in map(UPDATE_ROW.match, out.splitlines()) if m]
    assert len(energies) == demo.LIVE_UPDATES, out
    assert energies == sorted(energies)
    assert energies[-1] > energies[0]  # energy rises while charging
    assert "\033[" not in out  # no colour codes when not on a terminal


def test_make_demo_subprocess() -> None:
    env = {key: value for key, value in os.environ.items() if key != TOKEN_ENV}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bluecurrent_sync.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    check_tour(proc.stdout)
    assert "Tour finished in" in proc.stdout
    assert proc.stderr == ""
    assert elapsed < 30, f"the demo took {elapsed:.1f} s"


def test_demo_in_process_leaves_no_thread(capsys: pytest.CaptureFixture[str]) -> None:
    before = set(threading.enumerate())
    assert demo.main([]) == 0
    check_tour(capsys.readouterr().out)
    left = [thread.name for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert left == []


def test_demo_against_a_given_server(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(push_interval=0.1, action_delay=0.02) as simulator:
        assert demo.main(["--url", simulator.url, "--token", DEFAULT_TOKEN]) == 0
    out = capsys.readouterr().out
    assert f"against {simulator.url}" in out
    check_tour(out)


def test_demo_with_a_bad_token_reports_like_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(push_interval=None) as simulator:
        code = cli_main(["--url", simulator.url, "--token", "wrong-token", "demo"])
    assert code == 3
    err = capsys.readouterr().err
    assert "refused the API token" in err
    assert "wrong-token" not in err
