"""Request accounting: counts match the simulator's own records, across processes too."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import wait_until

from bluecurrent_sync import Client
from bluecurrent_sync._usage import RequestMeter, UsageFile, amsterdam_day, next_midnight
from bluecurrent_sync.cli import main as cli_main
from bluecurrent_sync.errors import DailyBudgetExceeded, RequestLimitReached, UsageFileError
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

EVSE = "BCU100004"
AMS = dt.timezone(dt.timedelta(hours=1))  # CET, fixed for the clock tests


def sent_frames(sim: Simulator) -> int:
    """Frames the simulator received from clients, over every connection."""
    return sum(len(info.frames) for info in sim.connections())


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_requests_today_counts_every_frame_on_every_connection(simulator: Simulator) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        assert client.requests_today == 2  # VALIDATE_API_TOKEN, HELLO
        client.get_charge_points()
        client.get_statuses(["BCU100001", "BCU100002"])
        client.get_email()  # its own short connection
        client.start_session(EVSE, "BCU-APP")
        assert client.requests_today == sent_frames(simulator) == 7
        usage = client.usage()
        assert usage.this_client == usage.total == 7
        assert usage.budget is None and usage.remaining is None
        assert usage.day == amsterdam_day()


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_budget_refuses_before_sending(simulator: Simulator) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url, daily_budget=4) as client:
        client.get_status(EVSE)
        client.get_status("BCU100001")
        with pytest.raises(DailyBudgetExceeded) as caught:
            client.get_status("BCU100002")
        with pytest.raises(RequestLimitReached):  # it is one, for code that waits quotas out
            client.get_email()
        assert sent_frames(simulator) == 4
        assert simulator.count("GET_CH_STATUS") == 2
        assert client.requests_today == 4
        error = caught.value
        assert error.budget == 4 and error.used == 4
        assert error.reset_at == next_midnight()
        assert "budget of 4" in str(error)
        assert client.usage().remaining == 0
        assert client.last_status(EVSE) is not None  # the mirror still answers, for free


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_a_batch_sends_up_to_the_budget_then_stops_and_leaves_no_waiter(
    simulator: Simulator,
) -> None:
    # One hold of the send lock per 32 frames, one budget check per frame: the frames within
    # the budget go out, the rest fail before they are sent.
    with Client(DEFAULT_TOKEN, url=simulator.url, daily_budget=5) as client:
        with pytest.raises(DailyBudgetExceeded):
            client.get_statuses([f"BCU10000{i}" for i in range(1, 7)])
        # The third went out just before the fourth was refused: let the server read it.
        wait_until(lambda: simulator.count("GET_CH_STATUS") >= 3, what="three requests", timeout=30)
        assert simulator.count("GET_CH_STATUS") == 3
        assert sent_frames(simulator) == client.requests_today == 5
        assert len(client._pending) == 0


def test_budget_too_small_to_connect_sends_nothing(simulator: Simulator) -> None:
    client = Client(DEFAULT_TOKEN, url=simulator.url, daily_budget=1)
    with pytest.raises(DailyBudgetExceeded):
        client.connect()
    assert sent_frames(simulator) == 0 and client.requests_today == 0
    client.close()
    with pytest.raises(ValueError):
        Client(DEFAULT_TOKEN, url=simulator.url, daily_budget=-1)


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_budget_is_exact_under_concurrent_calls(simulator: Simulator) -> None:
    budget = 12
    with Client(DEFAULT_TOKEN, url=simulator.url, daily_budget=budget) as client:
        refused: list[BaseException] = []
        lock = threading.Lock()

        def worker() -> None:
            for evse in ("BCU100001", "BCU100002", "BCU100004"):
                try:
                    client.set_plug_and_charge(evse, True)  # never a shared request
                except DailyBudgetExceeded as exc:
                    with lock:
                        refused.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sent_frames(simulator) == budget == client.requests_today
        assert len(refused) == 24 - (budget - 2)


def test_usage_file_shared_by_clients_and_budget_counts_its_total(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "usage.json"
    with Client(DEFAULT_TOKEN, url=simulator.url, usage_file=path) as first:
        first.get_status(EVSE)
        first.get_status("BCU100001")
    assert UsageFile(path).read(amsterdam_day()) == 4
    content = json.loads(path.read_text())
    assert content["format"] == "bluecurrent_sync.usage" and content["requests"] == 4
    assert DEFAULT_TOKEN not in path.read_text()
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0

    with Client(DEFAULT_TOKEN, url=simulator.url, usage_file=path, daily_budget=7) as second:
        second.get_status(EVSE)  # file total 7
        with pytest.raises(DailyBudgetExceeded) as caught:
            second.get_status(EVSE)
        assert caught.value.used == 7
        assert second.requests_today == 3
        usage = second.usage()
        assert (usage.this_client, usage.total, usage.remaining) == (3, 7, 0)
    assert sent_frames(simulator) == 7 == UsageFile(path).read(amsterdam_day())


def test_a_foreign_usage_file_is_refused_and_left_untouched(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes\n")
    client = Client(DEFAULT_TOKEN, url=simulator.url, usage_file=path)
    with pytest.raises(UsageFileError, match=r"notes\.txt"):
        client.connect()
    client.close()
    assert path.read_text() == "my precious notes\n"
    assert sent_frames(simulator) == 0
    with pytest.raises(UsageFileError):
        Client(DEFAULT_TOKEN, url=simulator.url, usage_file=tmp_path / "no" / "dir").connect()


def test_the_count_restarts_at_midnight_amsterdam(tmp_path: Path) -> None:
    now = [dt.datetime(2026, 3, 28, 23, 59, 0, tzinfo=AMS)]
    path = tmp_path / "usage.json"
    meter = RequestMeter(path, budget=3, clock=lambda: now[0])
    meter.frame("out", "{}", "main")
    meter.frame("out", "{}", "main")
    meter.frame("in", "{}", "main")  # received frames are free
    assert meter.requests_today == 2
    meter.admit(1)
    meter.frame("out", "{}", "main")  # the reserved one: not counted twice
    meter.settle()
    with pytest.raises(DailyBudgetExceeded) as caught:
        meter.admit(1)
    assert caught.value.reset_at == dt.datetime(2026, 3, 29, 0, 0, tzinfo=AMS)
    assert meter.usage().total == 3
    now[0] = dt.datetime(2026, 3, 29, 0, 0, 1, tzinfo=AMS)  # Amsterdam midnight passed
    assert meter.requests_today == 0
    assert meter.usage().total == 0
    meter.admit(2)
    meter.settle()  # nothing sent: refunded
    assert meter.requests_today == 0 and UsageFile(path).read(amsterdam_day(now[0])) == 0
    meter.frame("out", "{}", "validate")
    assert json.loads(path.read_text())["day"] == "2026-03-29"
    assert UsageFile(path).read(dt.date(2026, 3, 28)) == 0


_WORKER = """
import sys
from bluecurrent_sync import Client
url, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
with Client(sys.argv[4], url=url, usage_file=path) as client:
    for i in range(rounds):
        client.get_status("BCU10000%d" % (1 + i % 4))
    client.get_email()
    print(client.requests_today)
"""


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_two_processes_sharing_a_usage_file_count_exactly(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "usage.json"
    rounds = (40, 55)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, simulator.url, str(path), str(n), DEFAULT_TOKEN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in rounds
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0]
    counted = [int(out.strip()) for out in outputs]
    assert counted == [2 + n + 1 for n in rounds]
    total = UsageFile(path).read(amsterdam_day())
    assert total == sum(counted) == sent_frames(simulator)


def test_cli_usage_prints_the_days_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "usage.json"
    UsageFile(path).add(17, amsterdam_day())
    assert cli_main(["usage", "--usage-file", str(path)]) == 0
    assert capsys.readouterr().out.startswith("17 requests on ")
    assert cli_main(["--json", "usage", "--usage-file", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requests"] == 17 and data["day"] == amsterdam_day().isoformat()
    assert cli_main(["usage", "--usage-file", str(tmp_path / "missing.json")]) == 0
    assert capsys.readouterr().out.startswith("0 requests")
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert cli_main(["usage", "--usage-file", str(tmp_path / "bad.json")]) == 2
    assert "not a bluecurrent_sync usage file" in capsys.readouterr().err


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_cli_commands_count_into_the_usage_file_and_keep_the_budget(
    simulator: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "usage.json"
    base = ["--url", simulator.url, "--token", DEFAULT_TOKEN, "--usage-file", str(path)]
    assert cli_main([*base, "--daily-budget", "4", "status", EVSE]) == 0
    assert UsageFile(path).read(amsterdam_day()) == 3 == sent_frames(simulator)
    capsys.readouterr()
    assert cli_main([*base, "status", EVSE, "--daily-budget", "4"]) == 4  # the quota's code
    err = capsys.readouterr().err
    assert "budget of 4" in err and "nothing was sent" in err and DEFAULT_TOKEN not in err
    assert sent_frames(simulator) == 3
    assert cli_main(["usage", "--usage-file", str(path)]) == 0
    assert capsys.readouterr().out.startswith("3 requests on ")


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_reconnect_frames_are_counted(simulator: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    with Client(
        DEFAULT_TOKEN, url=simulator.url, reconnect_delay=(0.05, 0.2), usage_file=path
    ) as client:
        reconnected = threading.Event()
        client.on("connected", lambda _event: reconnected.set())
        # The token check's short connection may still be closing on the server's side.
        simulator.wait_for_connections(1, timeout=30)
        assert simulator.drop_all() == 1
        assert reconnected.wait(30)
        client.get_status(EVSE)
        assert client.requests_today == sent_frames(simulator) == 4  # + HELLO, + GET
        assert UsageFile(path).read(amsterdam_day()) == 4


def test_the_day_is_computed_once_per_day_not_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    from bluecurrent_sync import _usage

    computed: list[dt.datetime | None] = []
    original = _usage.amsterdam_day

    def counting(moment: dt.datetime | None = None) -> dt.date:
        computed.append(moment)
        return original(moment)

    monkeypatch.setattr(_usage, "amsterdam_day", counting)
    now = [dt.datetime(2026, 3, 28, 22, 0, 0, tzinfo=AMS)]
    meter = RequestMeter(budget=1000, clock=lambda: now[0])
    for _ in range(50):
        meter.admit(1)
        meter.frame("out", "{}", "main")
    assert meter.requests_today == 50
    assert len(computed) == 1  # the constructor's; 100 frames later, no more
    now[0] = dt.datetime(2026, 3, 29, 0, 0, 0, tzinfo=AMS)  # the next day, to the second
    assert meter.requests_today == 0
    assert meter.usage().day == dt.date(2026, 3, 29)
    now[0] = dt.datetime(2026, 3, 28, 23, 59, 59, tzinfo=AMS)  # the clock moved back
    assert meter.usage().day == dt.date(2026, 3, 28)
    assert len(computed) == 3
