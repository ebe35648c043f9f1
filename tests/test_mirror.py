"""The live mirror follows pushes and replies over real sockets and costs no request.

Request counts are taken from the simulator's own records of what each connection received.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from scripted_server import GOOD_TOKEN

from bluecurrent_sync import Client, _clock
from bluecurrent_sync.errors import ClientStateError, ConnectionClosedError, RequestTimeoutError
from bluecurrent_sync.models import Activity, ChStatus
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

CHARGING = "BCU100001"
IDLE = "BCU100004"  # available, vehicle connected: the one to start a session on


def frames_sent_by_client(sim: Simulator) -> list[str]:
    """Every command the simulator received, over all connections, in order."""
    return [command for info in sim.connections() for command in info.commands()]


@pytest.fixture
def client(simulator: Simulator) -> Iterator[Client]:
    with Client(DEFAULT_TOKEN, url=simulator.url, action_timeout=10) as client:
        yield client


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_last_status_follows_pushes_with_zero_requests(
    simulator: Simulator, client: Client
) -> None:
    before = frames_sent_by_client(simulator)
    assert before == ["VALIDATE_API_TOKEN", "HELLO"]
    assert client.last_status(CHARGING) is None

    simulator.push_now()
    first = client.wait_for_status(CHARGING, lambda s: True, timeout=10)
    assert client.last_status(CHARGING) == first
    observed = client.observed.status(CHARGING)
    assert observed is not None and observed.value == first
    assert observed.received_at.tzinfo is not None
    assert abs(observed.received_at - _clock.now()) < dt.timedelta(minutes=5)

    energy = first.actual_kwh or 0.0
    simulator.push_now()
    later = client.wait_for_status(CHARGING, lambda s: (s.actual_kwh or 0.0) > energy, timeout=10)
    assert client.last_status(CHARGING) == later
    grid = client.last_grid_current(CHARGING)
    assert grid is not None and grid.grid_actual_p1 is not None

    assert frames_sent_by_client(simulator) == before  # not one request more
    assert client.requests_today == 2


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_wait_for_status_follows_a_session_start_without_polling(
    simulator: Simulator, client: Client
) -> None:
    client.start_session(IDLE, "BCU-APP")
    status = client.wait_for_status(IDLE, lambda s: s.activity == Activity.CHARGING, timeout=30)
    assert status.evse_id == IDLE and status.activity is Activity.CHARGING
    commands = frames_sent_by_client(simulator)
    assert commands == ["VALIDATE_API_TOKEN", "HELLO", "START_SESSION"]
    assert "GET_CH_STATUS" not in commands


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_get_status_max_age_sends_nothing_when_fresh(simulator: Simulator, client: Client) -> None:
    asked = client.get_status(IDLE)  # one request; the reply lands in the mirror
    assert simulator.count("GET_CH_STATUS") == 1
    assert client.last_status(IDLE) == asked
    assert client.get_status(IDLE, max_age=3600) == asked
    assert client.get_status(IDLE, max_age=3600) == asked
    assert simulator.count("GET_CH_STATUS") == 1

    # Too old (max_age=0 once any time passed) or unknown: it asks.
    observed = client.observed.status(IDLE)
    assert observed is not None
    threading.Event().wait(0.01)  # make the age strictly positive
    client.get_status(IDLE, max_age=0)
    assert simulator.count("GET_CH_STATUS") == 2
    client.get_status("BCU100002", max_age=3600)
    assert simulator.count("GET_CH_STATUS") == 3

    settings = client.get_settings(IDLE)
    assert client.get_settings(IDLE, max_age=3600) == settings
    grid = client.get_grid_status(IDLE)
    assert client.get_grid_status(IDLE, max_age=3600) == grid
    assert simulator.count("GET_CH_SETTINGS") == 1
    assert simulator.count("GET_GRID_STATUS") == 1
    with pytest.raises(ValueError):
        client.get_status(IDLE, max_age=-1)

    both = client.get_statuses([IDLE, "BCU100002", "BCU100001"], max_age=3600)
    assert simulator.count("GET_CH_STATUS") == 4  # only BCU100001 was not mirrored yet
    assert both[IDLE] == client.last_status(IDLE)
    assert list(both) == [IDLE, "BCU100002", "BCU100001"]  # in the order asked


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_wait_for_status_checks_the_last_known_first(simulator: Simulator, client: Client) -> None:
    known = client.get_status(IDLE)
    calls: list[ChStatus] = []

    def condition(status: ChStatus) -> bool:
        calls.append(status)
        return True

    assert client.wait_for_status(IDLE, condition, timeout=0) == known
    assert calls == [known]


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_wait_for_status_times_out_with_a_typed_error(simulator: Simulator, client: Client) -> None:
    with pytest.raises(RequestTimeoutError) as caught:
        client.wait_for_status(IDLE, lambda s: False, timeout=0.2)
    assert caught.value.evse_id == IDLE
    assert "IDLE" not in str(caught.value) and IDLE in str(caught.value)
    assert isinstance(caught.value, TimeoutError)


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_a_condition_that_raises_propagates(simulator: Simulator, client: Client) -> None:
    simulator.push_now()

    def broken(status: ChStatus) -> bool:
        raise KeyError("my bug")

    with pytest.raises(KeyError, match="my bug"):
        client.wait_for_status(CHARGING, broken, timeout=10)


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_wait_sees_every_status_in_order_not_only_the_newest(
    simulator: Simulator, client: Client
) -> None:
    simulator.push_now()
    base = client.wait_for_status(CHARGING, lambda s: True, timeout=10).actual_kwh or 0.0
    seen: list[float] = []
    started = threading.Event()

    def condition(status: ChStatus) -> bool:
        started.set()
        energy = status.actual_kwh or 0.0
        if energy > base:
            seen.append(energy)
        return len(seen) == 20  # only true if none of the 20 flooded statuses was skipped

    result: list[Any] = []
    waiter = threading.Thread(
        target=lambda: result.append(client.wait_for_status(CHARGING, condition, timeout=30))
    )
    waiter.start()
    assert started.wait(30)
    assert simulator.flood(20, evse_id=CHARGING) == 20
    waiter.join(40)
    assert len(result) == 1 and isinstance(result[0], ChStatus)
    assert seen == sorted(seen) and len(set(seen)) == 20


def test_wait_for_status_ends_when_the_client_closes(simulator: Simulator) -> None:
    client = Client(DEFAULT_TOKEN, url=simulator.url).connect()
    outcome: list[BaseException] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        try:
            client.wait_for_status(IDLE, lambda s: False, timeout=60)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    assert waiting.wait(30)
    client.close()
    thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConnectionClosedError | ClientStateError)
    with pytest.raises(ClientStateError):
        client.wait_for_status(IDLE, lambda s: True, timeout=1)


def test_wait_for_status_before_connect_is_a_state_error(simulator: Simulator) -> None:
    client = Client(DEFAULT_TOKEN, url=simulator.url)
    with pytest.raises(ClientStateError):
        client.wait_for_status(IDLE, lambda s: True, timeout=1)


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_wait_for_status_works_from_an_event_handler(simulator: Simulator, client: Client) -> None:
    results: list[Any] = []
    waiting = threading.Event()
    done = threading.Event()

    def on_settings(_settings: object) -> None:
        waiting.set()
        try:  # blocks the dispatcher thread: the status must still reach the mirror
            results.append(client.wait_for_status(CHARGING, lambda s: True, timeout=20))
        except BaseException as exc:
            results.append(exc)
        done.set()

    client.on("CH_SETTINGS", on_settings)
    client.set_plug_and_charge(IDLE, True)  # a CH_SETTINGS push follows
    assert waiting.wait(20)
    simulator.push_now()
    assert done.wait(20)
    assert isinstance(results[0], ChStatus) and results[0].evse_id == CHARGING


def test_mirror_is_bounded() -> None:
    from bluecurrent_sync._mirror import Mirror

    converted: list[int] = []

    def convert(frame: Any) -> object:
        converted.append(1)
        return frame["n"]

    mirror = Mirror(
        {
            "CH_STATUS": convert,
            "CH_SETTINGS": convert,
            "GRID_STATUS": convert,
            "GRID_CURRENT": convert,
        },
        max_charge_points=3,
        history=4,
    )
    for n in range(1000):
        mirror.observe("CH_STATUS", f"E{n % 10}", {"n": n})
    assert len(mirror.evse_ids()) == 3
    assert mirror.evse_ids() == ["E7", "E8", "E9"]
    assert all(len(entries) == 1 for entries in mirror._kinds["CH_STATUS"].values())
    observed = mirror.latest("CH_STATUS", "E9")
    assert observed is not None and observed.value == 999
    assert converted == [1]  # only what was read got converted
    mirror.observe("UNKNOWN_OBJECT", "E1", {"n": 1})
    mirror.observe("CH_STATUS", None, {"n": 1})
    assert mirror.evse_ids() == ["E7", "E8", "E9"]


def test_activity_is_that_of_the_newest_status_only() -> None:
    # What block/unblock reads to tell "already so" (docs/PROTOCOL.md OP-3).
    from scripted_server import ch_status

    from bluecurrent_sync._convert import WireConverter
    from bluecurrent_sync._mirror import Mirror

    converter = WireConverter()
    mirror = Mirror({"CH_STATUS": converter.ch_status}, max_charge_points=2)
    assert mirror.activity("A") is None
    mirror.observe("CH_STATUS", "A", ch_status("A", activity="Charging"))
    mirror.observe("CH_STATUS", "B", ch_status("B", activity="unavailable"))
    assert (mirror.activity("A"), mirror.activity("B")) == ("charging", "unavailable")
    mirror.observe("CH_STATUS", "A", ch_status("A", activity="something new"))
    assert mirror.activity("A") == "unknown"  # never matches what block/unblock want
    # A newest status that cannot be converted: no activity, not the older one's (kept
    # because someone waits for a status of A).
    mirror._waiting["A"] = 1
    mirror.observe("CH_STATUS", "A", ch_status("A", activity="unavailable"))
    mirror.observe("CH_STATUS", "A", {"object": "CH_STATUS", "evse_id": "A", "data": "odd"})
    assert mirror.activity("A") is None
    assert len(mirror._kinds["CH_STATUS"]["A"]) == 3  # "something new", unavailable, odd
    mirror.observe("CH_STATUS", "C", ch_status("C", activity="available"))  # bound: 2
    assert mirror.activity("A") is None and mirror.activity("C") == "available"


def test_the_mirror_converts_outside_its_lock_and_shares_the_routed_model() -> None:
    from scripted_server import ch_status

    from bluecurrent_sync._cell import FrameCell
    from bluecurrent_sync._convert import WireConverter
    from bluecurrent_sync._mirror import Mirror

    converter = WireConverter()
    lock_free: list[bool] = []

    def convert(frame: Any) -> ChStatus:
        free = mirror._cond.acquire(blocking=False)  # this test's only thread
        if free:
            mirror._cond.release()
        lock_free.append(free)
        return converter.ch_status(frame)

    mirror = Mirror({"CH_STATUS": convert})
    mirror.observe("CH_STATUS", "A", ch_status("A", activity="charging"))
    assert mirror.activity("A") == "charging"
    mirror.observe("CH_STATUS", "B", ch_status("B"))
    assert mirror.status("B") is not None
    mirror.observe("CH_STATUS", "C", ch_status("C"))
    mirror.wait_for_status("C", lambda status: True, 30, lambda: None)
    assert lock_free == [True, True, True]
    # A routed frame's cell: the mirror reads the model its first reader made.
    cell = FrameCell(ch_status("D"), converter.event)
    shared = cell.model()
    mirror.observe("CH_STATUS", "D", cell)
    observed = mirror.status("D")
    assert observed is not None and observed.value is shared and len(lock_free) == 3
    # A partial push merged into it is another frame: the mirror's own conversion.
    mirror.observe("CH_STATUS", "D", FrameCell(ch_status("D", activity="unavailable"), convert))
    mirror.observe("CH_STATUS", "D", {"object": "CH_STATUS", "evse_id": "D", "data": {}})
    assert mirror.activity("D") == "unavailable" and lock_free == [True, True, True, True]


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_wait_for_status_goes_on_across_a_reconnect(simulator: Simulator) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url, reconnect_delay=(0.05, 0.2)) as client:
        outcome: list[Any] = []
        waiting = threading.Event()

        def wait() -> None:
            waiting.set()
            try:
                outcome.append(
                    client.wait_for_status(
                        IDLE, lambda s: s.activity == Activity.UNAVAILABLE, timeout=60
                    )
                )
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=wait)
        thread.start()
        assert waiting.wait(30)
        reconnected = threading.Event()
        client.on("connected", lambda _event: reconnected.set())
        simulator.wait_for_connections(1, timeout=30)  # the token check's may still be closing
        assert simulator.drop_all() == 1
        assert reconnected.wait(30)
        assert not outcome  # the drop did not end the wait
        client.block(IDLE)  # its CH_STATUS push (unavailable) ends it
        thread.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], ChStatus), outcome
        assert outcome[0].activity is Activity.UNAVAILABLE


@pytest.mark.parametrize("grid_id", ["own", "account"])
def test_mirrored_grid_status_belongs_to_the_charge_point_asked_for(
    make_simulator: Any, grid_id: str
) -> None:
    # docs/PROTOCOL.md OP-2: a GRID_STATUS may name the grid by another charge point of the
    # account; the mirror files it under the charge point the request asked about.
    sim = make_simulator(push_interval=None, variants={"grid_id": grid_id})
    with Client(DEFAULT_TOKEN, url=sim.url) as client:
        asked = client.get_grid_status(IDLE)
        assert asked.evse_id == IDLE
        assert client.last_grid_status(IDLE) == asked
        if grid_id == "account":
            assert asked.grid_id != f"GRID-{IDLE}"
            named = (asked.grid_id or "").removeprefix("GRID-")
            assert client.last_grid_status(named) is None
        sent = frames_sent_by_client(sim)
        assert client.get_grid_status(IDLE, max_age=60) == asked
        assert frames_sent_by_client(sim) == sent  # answered from the mirror


def test_mirror_holds_a_large_account_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    # Issue 18 item 4: 10,000+ charge points by default; eviction logged once, not per push.
    from bluecurrent_sync._mirror import Mirror

    def convert(frame: Any) -> object:
        return frame["n"]

    kinds = ("CH_STATUS", "CH_SETTINGS", "GRID_STATUS", "GRID_CURRENT")
    mirror = Mirror(dict.fromkeys(kinds, convert))
    with caplog.at_level(logging.DEBUG):
        for n in range(12_000):
            mirror.observe("CH_STATUS", f"BIG{n}", {"n": n})
    assert len(mirror.evse_ids()) == 12_000 and caplog.records == []
    first = mirror.latest("CH_STATUS", "BIG0")
    assert first is not None and first.value == 0

    small = Mirror(dict.fromkeys(kinds, convert), max_charge_points=50)
    with caplog.at_level(logging.DEBUG):
        for n in range(5_000):
            small.observe("CH_STATUS", f"S{n}", {"n": n})
    assert len(small.evse_ids()) == 50 and small.forgotten == 4_950
    assert len(caplog.records) == 1 and "mirror_size" in caplog.records[0].getMessage()


def test_get_statuses_reuses_the_mirror_for_a_large_account(server: Any) -> None:
    server.answer_statuses = True
    ids = [f"CPX{n:04d}" for n in range(150)]
    with Client(GOOD_TOKEN, url=server.url, timeout=30.0) as client:
        client.get_statuses(ids)
        server.wait_for("GET_CH_STATUS", len(ids))
        for _round in range(3):
            statuses = client.get_statuses(ids, max_age=3600)
            assert sorted(statuses) == ids
        assert server.count("GET_CH_STATUS") == len(ids)  # nothing asked twice
    with pytest.raises(ValueError, match="mirror_size"):
        Client(GOOD_TOKEN, url=server.url, mirror_size=0)


@pytest.mark.parametrize("simulator", [{"push_interval": None}], indirect=True)
def test_get_status_without_max_age_does_no_mirror_work(
    simulator: Simulator, client: Client
) -> None:
    mirror_converts: list[object] = []
    converters = client._mirror._converters
    convert = converters["CH_STATUS"]

    def counting(frame: Any) -> object:
        mirror_converts.append(frame)
        return convert(frame)

    converters["CH_STATUS"] = counting
    statuses = [client.get_status(CHARGING) for _ in range(5)]
    assert mirror_converts == []  # nobody asked the mirror: it converted nothing
    observed = client.observed.status(CHARGING)  # asked: the newest reply, once
    assert observed is not None and observed.value == statuses[-1]
    assert len(mirror_converts) <= 1
