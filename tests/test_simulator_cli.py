"""``python -m bluecurrent_sync.simulator``: prints its URL, serves, exits 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from conftest import RawClient, validate_token

from bluecurrent_sync.simulator import DEFAULT_TOKEN, build_parser

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _read_line(process: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """The first stdout line of ``process``, read without risking a hang."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, "the simulator printed no URL line in time"
    return lines[0].strip()


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _start(spawn: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bluecurrent_sync.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spawn.append(process)
    return process


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_url_serves_and_exits_cleanly(
    spawn: list[subprocess.Popen[str]], stop_signal: signal.Signals
) -> None:
    process = _start(spawn, "--push-interval", "0.1", "--token", "cli-token")
    url = _read_line(process)
    assert url.startswith("ws://127.0.0.1:")
    assert url.endswith("/haserver")
    status = validate_token(url, "cli-token")
    assert status["success"] is True
    assert validate_token(url, DEFAULT_TOKEN)["success"] is False
    client = RawClient(url, auth=status["token"])
    try:
        client.send("HELLO", header="cli-test")
        client.expect("HELLO")
        assert client.expect("CH_STATUS")["evse_id"]
        process.send_signal(stop_signal)
        assert process.wait(60) == 0
    finally:
        client.close()
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_cli_options() -> None:
    args = build_parser().parse_args(
        ["--quota", "5", "--single-connection", "--seed", "3", "--action-delay", "0.1"]
    )
    assert (args.quota, args.single_connection, args.seed, args.action_delay) == (5, True, 3, 0.1)
    assert args.host == "127.0.0.1"
