"""The application examples run against the simulator: the cron-style CSV one-shot, the Flask
app sharing one client across threads, and the long-running service across a server restart.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
from werkzeug.serving import make_server

from bluecurrent_sync import Client
from bluecurrent_sync.simulator import DEFAULT_TOKEN, EVSE_IDS, FOREIGN_EVSE_ID, Simulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN_ENV = "BLUECURRENT_API_TOKEN"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_env(url: str, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    # The package under test is this checkout's, whatever the interpreter has installed.
    path = os.pathsep.join(filter(None, [str(EXAMPLES.parent), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, BLUECURRENT_API_TOKEN=token, BLUECURRENT_URL=url, PYTHONPATH=path)


# ------------------------------------------------------------------------------ cron CSV


def run_csv(env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "status_to_csv.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_csv_one_shot_appends_every_charge_point(simulator: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    for _ in range(2):
        proc = run_csv(example_env(simulator.url), path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "" and proc.stderr == ""  # silent for cron
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 * len(EVSE_IDS)  # header written once, rows appended
    assert [row["evse_id"] for row in rows[: len(EVSE_IDS)]] == list(EVSE_IDS)
    garage = rows[0]
    assert garage["name"] == "Garage" and garage["activity"] == "charging"
    assert float(garage["total_kw"]) > 0 and "+" in garage["start_datetime"]
    assert simulator.count("HELLO") == 2  # one connection per run


def test_csv_one_shot_failures_are_one_line_and_write_nothing(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "status.csv"
    proc = run_csv(example_env(simulator.url, token="not-a-valid-token"), path)
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "API token" in proc.stderr
    assert proc.stderr.startswith("status_to_csv: error: ")
    assert "not-a-valid-token" not in proc.stderr
    simulator.stop()
    proc = run_csv(example_env(simulator.url), path)
    assert proc.returncode == 5 and proc.stderr.count("\n") == 1
    # The advice names what the script reads, not an option it does not have.
    assert "(BLUECURRENT_URL)" in proc.stderr and "--url" not in proc.stderr
    assert not path.exists()


# ------------------------------------------------------------------------------ Flask


@pytest.fixture
def flask_app(simulator: Simulator) -> Iterator[tuple[object, Client]]:
    app_module = load_example("flask_app")
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        yield app_module.create_app(client), client


def test_flask_routes_with_the_test_client(flask_app: tuple[object, Client]) -> None:
    app, _client = flask_app
    web = app.test_client()  # type: ignore[attr-defined]
    points = web.get("/charge-points")
    assert points.status_code == 200
    assert [p["evse_id"] for p in points.get_json()] == list(EVSE_IDS)
    status = web.get("/status/BCU100001").get_json()
    assert status["activity"] == "charging" and "+" in status["start_datetime"]
    assert web.get(f"/status/{FOREIGN_EVSE_ID}").status_code == 404
    assert web.get("/status/%20").status_code == 400  # cannot be an id: nothing sent
    assert web.get("/status/BCU100001%20").status_code == 400
    assert "GET /charge-points" in web.get("/").get_json()["routes"]  # the documented start
    bad = web.put("/charge-points/BCU100004/plug-and-charge", json={"value": "off"})
    assert bad.status_code == 400
    done = web.put("/charge-points/BCU100004/plug-and-charge", json={"value": False})
    assert done.status_code == 200 and done.get_json()["value"] is False
    assert web.get("/health").get_json() == {"connected": True}


def test_flask_shares_one_client_across_request_threads(
    flask_app: tuple[object, Client], simulator: Simulator
) -> None:
    app, _client = flask_app
    # 1) Many threads through the test client at once.
    web = app.test_client()  # type: ignore[attr-defined]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda i: web.get(f"/status/{EVSE_IDS[i % 4]}").status_code,
                              range(40)))  # fmt: skip
    assert codes == [200] * 40
    # 2) A real threaded HTTP server (a thread per request), real sockets, parallel clients.
    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    serving = threading.Thread(target=server.serve_forever, name="test-flask", daemon=True)
    serving.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"

        def fetch(i: int) -> int:
            with urllib.request.urlopen(f"{base}/status/{EVSE_IDS[i % 4]}", timeout=30) as r:
                return int(r.status)

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(fetch, range(40))) == [200] * 40
    finally:
        server.shutdown()
        serving.join(30)
    # Every request went through the one shared connection.
    assert len([c for c in simulator.connections() if c.hello]) == 1


def test_flask_maps_a_lost_server_to_503(
    flask_app: tuple[object, Client], simulator: Simulator
) -> None:
    app, client = flask_app
    web = app.test_client()  # type: ignore[attr-defined]
    with client.events("disconnected", timeout=30) as drops:
        simulator.stop()
        next(iter(drops))
    response = web.get("/status/BCU100001")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert web.get("/health").status_code == 503


# ------------------------------------------------------------------------------ service


class Lines:
    """The stdout of a process, line by line, with a finite wait for each expected line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=self._pump, args=(stdout,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, *texts: str, timeout: float = 60.0) -> None:
        """Read lines until each of ``texts`` has been seen in one, in any order.

        Lines logged by different threads of the service (the caller and the handlers) may
        come in either order, so a test that expects several such lines names them together.
        """
        missing = list(texts)
        while missing:
            line = self._queue.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"process ended before {missing}; output: {self.seen}")
            self.seen.append(line)
            missing = [text for text in missing if text not in line]


def test_service_reacts_to_pushes_and_survives_a_server_restart() -> None:
    with Simulator(push_interval=0.2, action_delay=0.02) as simulator:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "service.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=example_env(simulator.url),
        )
        try:
            lines = Lines(proc)
            # sync() and the CH_STATUS handler run on different threads: either may log first.
            lines.wait_for("BCU100004 is available", "watching 4 charge point(s)")
            with Client(DEFAULT_TOKEN, url=simulator.url) as other:  # someone plugs in
                other.start_session("BCU100004", "BCU-APP")
            lines.wait_for("BCU100004 changed from available to charging")

            simulator.restart()  # same port, same state: the service's connection drops
            lines.wait_for("connection lost")
            lines.wait_for("reconnected; reading every status again")
            lines.wait_for("watching 4 charge point(s)")
            with Client(DEFAULT_TOKEN, url=simulator.url) as other:
                other.stop_session("BCU100004")
            lines.wait_for("BCU100004 changed from charging to")  # pushes flow again

            proc.send_signal(signal.SIGTERM)
            lines.wait_for("stopped")
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert not any("Traceback" in line for line in lines.seen), lines.seen
