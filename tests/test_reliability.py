"""Reliability suites (issue 6): the client under hostile input, churn, floods, restarts, quota.

Every test talks to a real server on 127.0.0.1 over a real socket (the simulator, or the
scripted server with ``answer_statuses=True`` where the test must send arbitrary bytes), waits
on events or bounded polls with deadlines, and carries a pytest-timeout bound.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import in_thread, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scripted_server import (
    GOOD_TOKEN,
    ISSUED_TOKEN,
    Conn,
    RawConn,
    RawScript,
    RawServer,
    ScriptedServer,
    ch_status,
    status_frame,
)

from bluecurrent_sync import _clock
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    AlreadyConnected,
    ApiError,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
    RequestTimeoutError,
    ResponseValidationError,
)
from bluecurrent_sync.models import ChStatus
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

pytestmark = pytest.mark.slow

READER = "bluecurrent-sync-reader"
DISPATCH = "bluecurrent-sync-dispatch"
CHECK_EVSE = "BCU-CHECK-0"  # never produced by the fuzz strategies
INFLIGHT_EVSES = ("BCU-FUZZ-1", "BCU-FUZZ-2")


def client_threads(ignore: set[threading.Thread] | None = None) -> list[threading.Thread]:
    """The SDK's live threads, except those in ``ignore`` (other clients' threads)."""
    return [
        t
        for t in threading.enumerate()
        if t.name in (READER, DISPATCH) and t not in (ignore or set())
    ]


# ================================================================================ fuzzing
class Barrier:
    """A pushed marker object whose delivery proves every earlier frame was routed."""

    def __init__(self, client: Client, server: ScriptedServer) -> None:
        self.server = server
        self.seen = 0
        self.cond = threading.Condition()
        client.on("RELIABILITY_BARRIER", self._on_barrier, allow_unknown=True)

    def _on_barrier(self, _event: object) -> None:
        with self.cond:
            self.seen += 1
            self.cond.notify_all()

    def cross(self, timeout: float = 10.0) -> None:
        with self.cond:
            target = self.seen + 1
        self.server.push({"object": "RELIABILITY_BARRIER"})
        with self.cond:
            assert self.cond.wait_for(lambda: self.seen >= target, timeout), "barrier lost"


class FuzzEnv:
    def __init__(self) -> None:
        self.server = ScriptedServer(answer_statuses=True)
        self.client = Client(GOOD_TOKEN, url=self.server.url, timeout=5.0)
        before = set(threading.enumerate())
        self.client.connect()
        self.threads = set(client_threads(before))
        self.events = 0
        self.client.on("*", self._count)
        self.barrier = Barrier(self.client, self.server)
        self.pushed = 0
        self.reader = next(t for t in self.threads if t.name == READER)
        self.outcomes: list[object] = []

    def _count(self, _event: object) -> None:
        self.events += 1

    def push_all(self, payloads: list[tuple[str | bytes, bool | None]]) -> None:
        """Push payloads while calls are in flight; check every outcome and usability."""
        callers = [
            threading.Thread(target=self._call, args=(evse,), daemon=True)
            for evse in INFLIGHT_EVSES
        ]
        for caller in callers:
            caller.start()
        for payload, text in payloads:
            self.server.push(payload, text=text)
            self.pushed += 1
        self.barrier.cross()
        for caller in callers:
            caller.join(self.client.timeout + 2)
            assert not caller.is_alive(), "an in-flight call hung"
        self.check_usable()

    def _call(self, evse: str) -> None:
        try:
            self.outcomes.append(self.client.get_status(evse))
        except BaseException as exc:
            self.outcomes.append(exc)

    def check_usable(self) -> None:
        for outcome in self.outcomes:
            assert isinstance(outcome, (ChStatus, BlueCurrentError)), repr(outcome)
        status = self.client.get_status(CHECK_EVSE)
        assert status.evse_id == CHECK_EVSE
        assert self.reader.is_alive(), "the reader thread died"
        assert self.client.connected
        assert self.server.count("HELLO") == 1, "the client had to reconnect"
        names = sorted(t.name for t in client_threads() if t in self.threads)
        assert names == sorted([READER, DISPATCH])

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture(scope="module")
def fuzz_env() -> Iterator[FuzzEnv]:
    env = FuzzEnv()
    yield env
    env.close()


OBJECT_NAMES = (
    "CH_STATUS",
    "CH_SETTINGS",
    "CHARGE_POINTS",
    "CHARGE_CARDS",
    "GRID_STATUS",
    "GRID_CURRENT",
    "STATUS_SET_PLUG_AND_CHARGE",
    "STATUS_SET_PUBLIC_CHARGING",
    "RECEIVED_START_SESSION",
    "STATUS_START_SESSION",
    "STATUS_STOP_SESSION",
    "LIST_OVERRIDE_CURRENT",
    "POST_SET_OVERRIDE_CURRENT",
    "ACCOUNT",
    "HELLO",
    "ERROR",
    "STATUS_API_TOKEN",
    "SOMETHING_NEW",
)
STATUS_KEYS = (
    "evse_id",
    "actual_p1",
    "actual_p2",
    "actual_p3",
    "actual_v1",
    "actual_v2",
    "actual_v3",
    "actual_kwh",
    "activity",
    "max_usage",
    "smartcharging_max_usage",
    "offline_since",
    "start_datetime",
    "vehicle_status",
    "id",
    "smart_charging",
    "public_charging",
    "plug_and_charge",
    "result",
    "location",
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
evse_values = st.sampled_from(INFLIGHT_EVSES) | json_values
data_values = json_values | st.dictionaries(st.sampled_from(STATUS_KEYS), json_values, max_size=10)
object_frames = st.fixed_dictionaries(
    {"object": st.sampled_from(OBJECT_NAMES) | json_values},
    optional={
        "evse_id": evse_values,
        "data": data_values | st.lists(data_values, max_size=3),
        "error": json_values,
        "message": json_values,
        "success": json_values,
        "result": json_values,
    },
)
#: (payload, text) as for ScriptedServer.push: JSON objects, JSON non-objects, arbitrary text,
#: binary frames, and text frames carrying arbitrary (mostly invalid UTF-8) bytes.
payloads = st.one_of(
    object_frames.map(lambda f: (json.dumps(f), None)),
    json_values.map(lambda v: (json.dumps(v), None)),
    st.text(max_size=60).map(lambda s: (s, None)),
    st.binary(max_size=60).map(lambda b: (b, None)),
    st.binary(min_size=1, max_size=60).map(lambda b: (b, True)),
    object_frames.map(lambda f: (json.dumps(f).encode(), None)),
)


def is_limit_error(payload: str | bytes) -> bool:
    """Whether ``payload`` is an ERROR 42 (that one rightly stops the client until tomorrow)."""
    try:
        frame = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    if not isinstance(frame, dict) or frame.get("object") != "ERROR":
        return False
    code = frame.get("error")
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        try:
            code = int(code)
        except ValueError:
            return False
    return code == 42 and not isinstance(code, bool)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(payloads, min_size=10, max_size=30))
def _fuzz_generated(env: FuzzEnv, batch: list[tuple[str | bytes, bool | None]]) -> None:
    env.push_all([p for p in batch if not is_limit_error(p[0])])


def mutations(rng: random.Random, count: int) -> Iterator[tuple[str | bytes, bool | None]]:
    """Mutated real frames: truncations, byte flips, insertions, type swaps, bad encodings."""
    seeds = [
        json.dumps(status_frame("BCU-FUZZ-1")),
        json.dumps(status_frame("BCU-FUZZ-2", kwh=3.5)),
        json.dumps({"object": "GRID_CURRENT", "evse_id": "BCU-FUZZ-1", "grid_actual_p1": 3}),
        json.dumps(
            {"object": "GRID_STATUS", "data": {"id": "GRID-BCU-FUZZ-2", "grid_max_install": 4}}
        ),
        json.dumps({"object": "ERROR", "error": 9, "message": "Unknown error"}),
        json.dumps({"object": "STATUS_START_SESSION", "evse_id": "BCU-FUZZ-1", "success": True}),
        json.dumps(
            {"object": "CHARGE_POINTS", "data": [{"evse_id": "BCU-FUZZ-1", "activity": "x"}]}
        ),
    ]
    junk = [None, True, 0, -1, 1e308, "", "x" * 50, [], {}, [1, [2]], {"a": {"b": None}}]
    for _ in range(count):
        text = rng.choice(seeds)
        kind = rng.randrange(8)
        if kind == 0:  # truncated JSON
            yield text[: rng.randrange(len(text))], None
        elif kind == 1:  # flipped bytes, sent as a text frame (often invalid UTF-8)
            raw = bytearray(text.encode())
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            yield bytes(raw), True
        elif kind == 2:  # inserted garbage characters
            pos = rng.randrange(len(text))
            yield (
                text[:pos] + rng.choice(["{", "}", '"', ",", ":", "\\", "\x00", "]"]) + text[pos:],
                None,
            )
        elif kind == 3:  # wrong types for known fields
            frame = json.loads(text)
            target = frame.get("data") if isinstance(frame.get("data"), dict) else frame
            for key in rng.sample(sorted(target), min(len(target), rng.randint(1, 3))):
                if key != "object":
                    target[key] = rng.choice(junk)
            yield json.dumps(frame), None
        elif kind == 4:  # the same as a binary frame
            yield text.encode(), None
        elif kind == 5:  # missing keys
            frame = json.loads(text)
            frame.pop(rng.choice(sorted(frame)))
            yield json.dumps(frame), None
        elif kind == 6:  # nested too deep / non-object top level
            yield "[" * rng.randint(1, 3000) + "]" * rng.randint(0, 3000), None
        else:  # unknown object with the real body
            frame = json.loads(text)
            frame["object"] = rng.choice(["", "X" * 300, "CH_STATUS ", "ch_status", None, 7])
            yield json.dumps(frame), None


@pytest.mark.timeout(150)
def test_fuzzed_reader_never_dies(fuzz_env: FuzzEnv) -> None:
    """≥ 2,000 generated and mutated frames: the reader lives, the connection stays usable."""
    env = fuzz_env
    before = env.pushed  # the fixture is shared: count this test's own frames only
    _fuzz_generated(env)  # hypothesis: 60 batches of 10-30 frames
    generated = env.pushed - before
    # Mutated frames top the count up to 2,000 (at least 1,200 of them), whatever hypothesis
    # produced and whichever other tests ran before.
    rng = random.Random(6)
    wanted = max(1200, 2000 - generated)
    usable = (p for p in mutations(rng, 100 * wanted) if not is_limit_error(p[0]))
    batch = list(itertools.islice(usable, wanted))
    assert len(batch) == wanted
    for start in range(0, len(batch), 100):
        env.push_all(batch[start : start + 100])
    # Oversized frames (text and binary, above max_frame_bytes = 1 MiB) are dropped.
    big = {"object": "CH_STATUS", "evse_id": "BCU-FUZZ-1", "data": {"pad": "x" * (1 << 20)}}
    env.push_all([(json.dumps(big), None), (json.dumps(big).encode(), None)])
    assert env.pushed - before >= 2000, (generated, env.pushed - before)
    assert any(isinstance(o, ChStatus) for o in env.outcomes)
    env.check_usable()


@pytest.mark.timeout(30)
def test_in_flight_call_gets_typed_error_from_a_malformed_reply(fuzz_env: FuzzEnv) -> None:
    env = fuzz_env
    env.server.withhold.set()
    try:
        result: list[object] = []
        seen = env.server.count("GET_CH_STATUS")
        caller = threading.Thread(target=lambda: result.append(_outcome(env.client, "BCU-FUZZ-1")))
        caller.start()
        env.server.wait_for("GET_CH_STATUS", seen + 1)
        bad = status_frame("BCU-FUZZ-1")
        bad["data"]["actual_p1"] = "lots"
        env.server.push(bad)
        caller.join(30)
        assert not caller.is_alive()
        assert isinstance(result[0], ResponseValidationError), result
        assert result[0].field == "data.actual_p1"
    finally:
        env.server.withhold.clear()
    env.check_usable()


def _outcome(client: Client, evse: str) -> object:
    try:
        return client.get_status(evse)
    except BaseException as exc:
        return exc


# ================================================================= connect/close churn
def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.timeout(900)  # 250 real connections: a minute or more on a loaded 2-core machine
def test_connect_close_cycles_leak_nothing() -> None:
    # A leak of one thread or descriptor per cycle would leave 250 behind; the bounds allow 2.
    with Simulator(push_interval=None, action_delay=0.01) as sim:
        for _ in range(10):  # warm up: lazy imports, server threads, caches
            Client(DEFAULT_TOKEN, url=sim.url).connect().close()
        wait_until(lambda: sim.active_connections == 0, what="warm-up connections closed")
        gc.collect()
        others = set(client_threads())
        threads_before, fds_before = threading.active_count(), _fds()
        for _ in range(250):
            client = Client(DEFAULT_TOKEN, url=sim.url)
            client.connect()
            client.close()
            assert not client.connected
        wait_until(lambda: sim.active_connections == 0, what="server saw every close")
        wait_until(
            lambda: threading.active_count() <= threads_before + 1, what="threads back to before"
        )
        gc.collect()
        wait_until(lambda: _fds() <= fds_before + 2, what=f"fds back to {fds_before}")
        assert client_threads(others) == []
        assert len(sim.received("HELLO")) >= 260


# ======================================================================= close mid-call
@pytest.mark.timeout(30)
def test_close_fails_eight_waiting_callers_at_once() -> None:
    with ScriptedServer(answer_statuses=True) as server:
        server.withhold.set()
        others = set(client_threads())
        client = Client(GOOD_TOKEN, url=server.url, timeout=20.0).connect()
        outcomes: dict[int, tuple[BaseException | object, float]] = {}

        def call(i: int) -> None:
            try:
                result: object = client.get_status(f"BCU-WAIT-{i}")
            except BaseException as exc:
                result = exc
            outcomes[i] = (result, time.monotonic())

        callers = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for caller in callers:
            caller.start()
        server.wait_for("GET_CH_STATUS", 8)
        closed_at = time.monotonic()
        client.close()
        for caller in callers:
            caller.join(30)
        assert all(not caller.is_alive() for caller in callers)
        assert len(outcomes) == 8
        for result, finished in outcomes.values():
            assert isinstance(result, ConnectionClosedError), repr(result)
            assert finished - closed_at < 10.0  # with the close, not after the 20 s timeout
        assert client_threads(others) == []


# ================================================================ slow consumer, flood
_FLOOD_MEMORY = """
import gc, json, sys, time, tracemalloc
from bluecurrent_sync import Client
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator
flood, queue = int(sys.argv[1]), int(sys.argv[2])
with Simulator(push_interval=None, action_delay=0.01) as sim:
    client = Client(DEFAULT_TOKEN, url=sim.url, event_queue_size=queue).connect()
    delivered = []
    client.on("CH_STATUS", lambda status: delivered.append(status.actual_kwh))
    stream = client.events("CH_STATUS", timeout=0.5)
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    sim.flood(flood)
    deadline = time.monotonic() + 300
    while len(delivered) + client.dropped_events < flood and time.monotonic() < deadline:
        time.sleep(0.01)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    client.close()
print(json.dumps({"grew": peak - base, "seen": len(delivered) + client.dropped_events}))
"""


@pytest.mark.timeout(600)
def test_slow_events_consumer_under_flood_is_bounded() -> None:
    flood, queue = 5000, 100
    with Simulator(push_interval=None, action_delay=0.01) as sim:
        client = Client(DEFAULT_TOKEN, url=sim.url, event_queue_size=queue).connect()
        try:
            delivered: list[float] = []
            client.on("CH_STATUS", lambda status: delivered.append(status.actual_kwh))
            stream = client.events("CH_STATUS", timeout=0.5)
            assert sim.flood(flood) == flood
            wait_until(
                lambda: len(delivered) + client.dropped_events >= flood,
                300,  # minutes on a loaded machine
                "every flooded frame delivered or counted as dropped",
            )
            items = list(stream)  # nobody read the stream during the flood
            stream.close()
        finally:
            client.close()
    # Policy: at most event_queue_size wait; the OLDEST are dropped and counted.
    assert len(delivered) + client.dropped_events == flood
    assert len(items) == queue
    assert stream.dropped == len(delivered) - queue
    kwh = [status.actual_kwh for status in items]
    assert kwh == sorted(kwh) and len(set(kwh)) == queue
    assert kwh == delivered[-queue:], "the stream must keep the newest events"


@pytest.mark.timeout(600)
def test_a_flood_grows_memory_by_the_queue_bounds_only() -> None:
    # Measured in a process of its own: tracemalloc counts every thread, and in this one
    # other tests' threads may still be ending (several tests share a pytest-xdist worker).
    done = subprocess.run(
        [sys.executable, "-c", _FLOOD_MEMORY, "5000", "100"],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["seen"] == 5000
    # The queues are bounded: 5,000 ChStatus models would need far more.
    assert result["grew"] < 4 << 20, f"peak grew by {result['grew'] >> 10} KiB"


# ======================================================================== server restart
@pytest.mark.timeout(60)
def test_restart_reconnects_and_keeps_each_subscription_once() -> None:
    with Simulator(push_interval=None, action_delay=0.01) as sim:
        client = Client(DEFAULT_TOKEN, url=sim.url, reconnect_delay=(0.05, 0.5)).connect()
        cond = threading.Condition()
        counts: dict[str, int] = {"connected": 0, "disconnected": 0}
        marks_a: list[float] = []
        marks_b: list[float] = []

        def bump(name: str) -> Callable[[object], None]:
            def handler(_event: object) -> None:
                with cond:
                    counts[name] += 1
                    cond.notify_all()

            return handler

        def on_barrier(_event: object) -> None:
            with cond:
                counts["barrier"] = counts.get("barrier", 0) + 1
                cond.notify_all()

        client.on("connected", bump("connected"))
        client.on("disconnected", bump("disconnected"))
        client.on("CH_STATUS", lambda s: marks_a.append(s.actual_kwh))
        client.on("CH_STATUS", lambda s: marks_b.append(s.actual_kwh))
        client.on("RELIABILITY_BARRIER", on_barrier, allow_unknown=True)
        try:
            for restart in range(1, 4):
                sim.restart()
                with cond:
                    assert cond.wait_for(lambda r=restart: counts["connected"] >= r, 15)
                assert counts["disconnected"] == restart
                marker = 9000.0 + restart
                frame = {
                    "object": "CH_STATUS",
                    "evse_id": "BCU100001",
                    "data": dict(sim.charge_point("BCU100001"), actual_kwh=marker),
                }
                assert sim.inject(frame) == 1
                assert sim.inject({"object": "RELIABILITY_BARRIER"}) == 1
                with cond:
                    assert cond.wait_for(lambda r=restart: counts.get("barrier", 0) >= r, 10)
                assert marks_a.count(marker) == 1 and marks_b.count(marker) == 1
                assert client.get_status("BCU100002").evse_id == "BCU100002"
            hellos = [c for c in sim.connections() if c.hello]
            assert len(hellos) == 4  # one per (re)connect, never two at once
            assert sim.active_connections == 1
        finally:
            client.close()


@pytest.mark.timeout(30)
def test_reconnect_attempts_back_off_exponentially() -> None:
    """While the server is gone, attempts come at growing intervals (never a hot loop)."""
    server = ScriptedServer(answer_statuses=True)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    client = Client(GOOD_TOKEN, url=server.url, reconnect_delay=(0.1, 0.8)).connect()
    listener = socket.socket()
    try:
        server.stop()  # cuts the connection: the client starts reconnecting
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        listener.settimeout(5.0)
        accepted: list[float] = []
        for _ in range(5):  # each attempt is refused right after the TCP accept
            conn, _addr = listener.accept()
            accepted.append(time.monotonic())
            conn.close()
        gaps = [later - earlier for earlier, later in itertools.pairwise(accepted)]
        # Full jitter: attempt k waits between half and all of min(0.1 * 2**k, 0.8) seconds;
        # attempts refused before the listener was bound only make the later steps larger.
        for gap, step in zip(gaps, (0.2, 0.4, 0.8, 0.8), strict=True):
            assert gap >= step / 2 * 0.9, gaps
        assert client.state in ("reconnecting", "connecting")
        assert not client.connected
    finally:
        client.close()
        listener.close()


# ============================================================================ quota
@pytest.mark.timeout(30)
def test_quota_exhaustion_stops_sending_until_reset() -> None:
    with Simulator(push_interval=None, action_delay=0.01) as sim:
        client = Client(DEFAULT_TOKEN, url=sim.url, reconnect_delay=(0.05, 0.5)).connect()
        try:
            assert client.get_status("BCU100001").evse_id == "BCU100001"
            sim.exhaust_quota()
            with pytest.raises(RequestLimitReached) as first:
                client.get_status("BCU100002")
            reset_at = first.value.reset_at
            now = _clock.now()
            amsterdam = reset_at.astimezone(ZoneInfo("Europe/Amsterdam"))
            assert reset_at.tzinfo is not None and now < reset_at <= now + dt.timedelta(days=1)
            assert (amsterdam.hour, amsterdam.minute, amsterdam.second) == (0, 0, 30)
            wait_until(lambda: client.state == "limited", what="client in the limited state")
            frames_before = len(sim.received())
            connections_before = len(sim.connections())
            for evse in ("BCU100001", "BCU100003", "BCU100004"):
                with pytest.raises(RequestLimitReached) as later:
                    client.get_status(evse)
                assert later.value.reset_at == reset_at
            assert len(sim.received()) == frames_before, "the client kept sending"
            assert len(sim.connections()) == connections_before, "the client reconnected"
            assert sim.refusals() == []
        finally:
            client.close()


# ============================================================ hostile handshake frames
#: json.loads raises RecursionError (not ValueError) on this; before the fix it escaped connect()
#: and, while reconnecting, killed the reader thread (the client stayed "reconnecting" forever).
DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.timeout(30)
def test_deeply_nested_frame_during_connect_is_dropped() -> None:
    with ScriptedServer(answer_statuses=True) as server:
        server.before_hello = [DEEP_JSON, b"\xff\xfe", "[1]", "{"]
        client = Client(GOOD_TOKEN, url=server.url, timeout=3.0)
        try:
            client.connect()  # must not raise: bad frames are dropped, HELLO still completes
            assert client.get_status(CHECK_EVSE).evse_id == CHECK_EVSE
        finally:
            client.close()


@pytest.mark.timeout(30)
def test_deeply_nested_frame_while_reconnecting_keeps_the_reader_alive() -> None:
    with ScriptedServer(answer_statuses=True) as server:
        client = Client(GOOD_TOKEN, url=server.url, timeout=3.0, reconnect_delay=(0.05, 0.2))
        client.connect()
        try:
            server.before_hello = [DEEP_JSON]
            server.drop_all()
            server.wait_for_hellos(2)
            server.before_hello = []
            wait_until(lambda: client.connected, what="the client reconnected")
            assert client.get_status(CHECK_EVSE).evse_id == CHECK_EVSE
        finally:
            client.close()


# ==================================================================== hostile transport
# Each test below failed on the transport before issue 10 (see the report of that issue).
def _quiet_client(url: str, **options: Any) -> Client:
    options.setdefault("timeout", 5.0)
    return Client(GOOD_TOKEN, url=url, **options)


@pytest.mark.timeout(90)
def test_redirect_at_upgrade_is_refused_and_the_token_goes_nowhere() -> None:
    with ScriptedServer() as target:
        location = target.url.replace("127.0.0.1", "localhost") + "?key=LOCATION-SECRET"

        def redirect(conn: RawConn) -> None:
            conn.read_request()
            conn.respond(301, {"Location": location})

        with RawServer(redirect) as server:
            others = set(client_threads())
            client = _quiet_client(server.url)
            with pytest.raises(ConnectionClosedError) as caught:
                client.connect()
            message = str(caught.value)
            assert "redirect" in message and "301" in message
            assert "LOCATION-SECRET" not in message and "localhost" not in message
            # Nor anywhere in the printed chain: the library's exception is not the cause.
            printed = "".join(traceback.format_exception(caught.value))
            assert "LOCATION-SECRET" not in printed
            assert target.handshakes == 0 and target.frames == []
            assert client_threads(others) == []


@pytest.mark.timeout(60)
def test_trickled_upgrade_answer_cannot_stretch_connect() -> None:
    def trickle(conn: RawConn) -> None:
        conn.read_request()
        conn.drip(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Padding: a\r\n" * 1000, 0.05)

    with RawServer(trickle) as server:
        others = set(client_threads())
        client = _quiet_client(server.url, timeout=1.0)
        thread, outcome = in_thread(client.connect)
        thread.join(30)  # generous: the deadline is 1 s; the old transport never returned
        assert not thread.is_alive(), "connect() outlived its deadline"
        assert isinstance(outcome[0], ConnectionClosedError), outcome
        assert client_threads(others) == []


@pytest.mark.timeout(60)
def test_trickled_validation_reply_cannot_stretch_connect() -> None:
    def trickle(conn: RawConn) -> None:
        conn.read_request()
        conn.accept()
        conn.read_json()
        body = b'{"object": "STATUS_API_TOKEN", "success": true, "pad": "' + b"x" * 5000
        conn.send_raw(RawConn.frame_header(len(body) + 2))
        conn.drip(body, 0.05)

    with RawServer(trickle) as server:
        client = _quiet_client(server.url, timeout=1.0)
        thread, outcome = in_thread(client.connect)
        thread.join(30)
        assert not thread.is_alive(), "connect() outlived its deadline"
        assert isinstance(outcome[0], RequestTimeoutError), outcome


@pytest.mark.timeout(60)
def test_pushes_before_the_hello_reply_end_the_wait_and_are_delivered() -> None:
    with ScriptedServer() as server:
        server.hello_reply = None
        endless = threading.Event()

        def push_forever(conn: Conn) -> None:
            def pump() -> None:
                while not endless.wait(0.05):
                    conn.send(ch_status("BCU-EARLY"))

            threading.Thread(target=pump, daemon=True).start()

        server.on_hello = push_forever
        client = _quiet_client(server.url, timeout=2.0)
        seen = threading.Event()
        client.on("CH_STATUS", lambda _event: seen.set())
        thread, outcome = in_thread(client.connect)
        thread.join(30)
        endless.set()
        try:
            assert not thread.is_alive(), "pushes kept connect() waiting for HELLO"
            assert outcome == [client]
            assert seen.wait(30), "the push that ended the HELLO wait was not delivered"
        finally:
            client.close()


@pytest.mark.timeout(60)
def test_close_from_another_thread_interrupts_connect() -> None:
    def trickle(conn: RawConn) -> None:
        conn.read_request()
        conn.drip(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Padding: a\r\n" * 1000, 0.05)

    with RawServer(trickle) as server:
        others = set(client_threads())
        client = _quiet_client(server.url, timeout=60.0)
        thread, outcome = in_thread(client.connect)
        server.wait_for_requests(1)
        client.close()
        thread.join(30)  # generous; the old transport waited out the drip (60 s)
        assert not thread.is_alive(), "close() did not interrupt connect()"
        assert isinstance(outcome[0], ConnectionClosedError), outcome
        assert client_threads(others) == []
        with pytest.raises(ClientStateError):
            client.get_status("BCU-1")


def _main_connection_script(after_hello: Callable[[RawConn], None]) -> RawScript:
    def script(conn: RawConn) -> None:
        hello = conn.serve_handshake()
        if hello is None:
            return
        conn.send_frame({"object": "HELLO"})
        after_hello(conn)

    return script


@pytest.mark.timeout(120)
def test_frame_declaring_an_absurd_length_does_not_grow_memory() -> None:
    streamed = threading.Event()

    def huge(conn: RawConn) -> None:
        conn.send_raw(RawConn.frame_header(1 << 62))
        chunk = b"\0" * (1 << 20)
        for _ in range(48):  # 48 MB of the "payload"
            conn.send_raw(chunk)
        streamed.set()
        conn.drip(b"\0" * 10_000, 0.05)

    with RawServer(_main_connection_script(huge)) as server:
        client = _quiet_client(server.url, ping_interval=60, max_frame_bytes=1 << 20)
        tracemalloc.start()
        try:
            client.connect()
            assert streamed.wait(60)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()
        assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB while skipping a 2**62-byte frame"


@pytest.mark.timeout(120)
def test_fragments_summing_over_the_cap_are_dropped_without_buffering() -> None:
    delivered = threading.Event()

    def fragments(conn: RawConn) -> None:
        piece = b"x" * (1 << 20)
        conn.send_raw(RawConn.frame_header(len(piece), 0x1, fin=False) + piece)
        for _ in range(47):
            conn.send_raw(RawConn.frame_header(len(piece), 0x0, fin=False) + piece)
        conn.send_raw(RawConn.frame_header(len(piece), 0x0, fin=True) + piece)
        conn.send_frame(ch_status("BCU-AFTER"))
        server.stopped.wait()

    with RawServer(_main_connection_script(fragments)) as server:
        client = _quiet_client(server.url, max_frame_bytes=2 << 20)
        client.on("CH_STATUS", lambda _event: delivered.set())
        tracemalloc.start()
        try:
            client.connect()
            assert delivered.wait(60), "the frame after the dropped message was lost"
            _current, peak = tracemalloc.get_traced_memory()
            assert client._conn.dropped_frames == 1
        finally:
            tracemalloc.stop()
            client.close()
        assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB for 48 x 1 MiB fragments"


@pytest.mark.timeout(60)
def test_dripping_server_is_declared_dead_by_lack_of_complete_frames() -> None:
    def drip(conn: RawConn) -> None:
        conn.send_raw(RawConn.frame_header(50_000))
        conn.drip(b"x" * 50_000, 0.05)

    with RawServer(_main_connection_script(drip)) as server:
        client = _quiet_client(server.url, ping_interval=0.5, ping_timeout=0.5, reconnect=False)
        down = threading.Event()
        client.on("disconnected", lambda _event: down.set())
        try:
            client.connect()
            assert down.wait(20), "a byte every 50 ms kept a frameless connection alive"
            with pytest.raises(ConnectionClosedError):
                client.get_status("BCU-1")
        finally:
            client.close()


@pytest.mark.timeout(60)
def test_flapping_server_gets_backed_off_not_hammered() -> None:
    with ScriptedServer() as server:
        server.on_hello = lambda conn: conn.drop()
        client = _quiet_client(server.url, reconnect_delay=(0.05, 0.4))
        try:
            client.connect()
            server.wait_for_hellos(8, timeout=30)
        finally:
            client.close()
        gaps = [b - a for a, b in itertools.pairwise(server.hello_times)]
        # Without a stable connection the delay keeps growing to the cap (0.4 s, full
        # jitter: at least 0.2 s); resetting after every HELLO kept it at 0.025-0.05 s.
        assert all(gap >= 0.2 * 0.9 for gap in gaps[4:]), gaps


@pytest.mark.timeout(60)
def test_already_connected_while_reconnecting_is_retried_and_reported() -> None:
    with ScriptedServer() as server:
        client = _quiet_client(server.url, reconnect_delay=(0.05, 0.2))
        events: list[tuple[str, dict[str, Any]]] = []
        up = threading.Event()
        client.on("disconnected", lambda e: events.append(("disconnected", e.raw)))
        client.on("connected", lambda e: (events.append(("connected", e.raw)), up.set()))
        server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
        try:
            client.connect()
            server.reject_queue = ["Already connected", "Already connected"]
            server.main.drop()
            assert up.wait(20), f"never reconnected: {events}"
            assert client.get_status("BCU-1").evse_id == "BCU-1"
            names = [name for name, _raw in events]
            assert names == ["disconnected", "disconnected", "disconnected", "connected"]
            assert all(raw["reconnecting"] for name, raw in events if name == "disconnected")
            assert "Already connected" in events[1][1]["error"]
        finally:
            client.close()


@pytest.mark.timeout(60)
def test_already_connected_forever_gives_up_after_bounded_attempts() -> None:
    with ScriptedServer() as server:
        client = _quiet_client(server.url, reconnect_delay=(0.01, 0.02))
        client._conn.session.already_connected_attempts = 4
        final = threading.Event()
        client.on("disconnected", lambda e: None if e.raw["reconnecting"] else final.set())
        try:
            client.connect()
            server.reject_reason = "Already connected"
            server.main.drop()
            assert final.wait(20)
            assert server.handshakes == 2 + 4  # validate + main, then the attempts
            with pytest.raises(AlreadyConnected):
                client.get_status("BCU-1")
        finally:
            client.close()


@pytest.mark.timeout(60)
def test_error_1_mid_session_revalidates_once_then_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bluecurrent_sync")
    with ScriptedServer() as server:
        fresh = "server-issued-SECRET-fresh"
        server.issued_tokens = [ISSUED_TOKEN, fresh]

        def respond(conn: Conn, frame: dict[str, Any]) -> None:
            if frame["Authorization"] == f"Token {fresh}":
                conn.send(ch_status(frame["evse_id"]))
            else:
                conn.send({"object": "ERROR", "error": 1, "message": "Invalid Auth Token"})

        server.responder = respond
        client = _quiet_client(server.url).connect()
        try:
            with pytest.raises(InvalidApiToken):
                client.get_status("BCU-1")
            wait_until(lambda: server.validations == 2, what="re-validation")
            wait_until(lambda: client.connected, what="usable again")
            assert client.get_status("BCU-1").evse_id == "BCU-1"
            assert len(server.hello_times) == 1  # the same connection carried on
        finally:
            client.close()
    # The token the server refused is the one it issued, not a charging-session token.
    assert "refused the server-issued token (ERROR 1)" in caplog.text
    assert "session token" not in caplog.text and fresh not in caplog.text


@pytest.mark.timeout(60)
def test_error_1_with_a_refused_revalidation_fails_for_good() -> None:
    with ScriptedServer() as server:
        server.responder = lambda conn, frame: conn.send(
            {"object": "ERROR", "error": 1, "message": "Invalid Auth Token"}
        )
        client = _quiet_client(server.url).connect()
        try:
            server.validate_ok = False
            with pytest.raises(InvalidApiToken):
                client.get_status("BCU-1")
            wait_until(lambda: client.state == "failed", what="gave up")
            with pytest.raises(InvalidApiToken):
                client.get_status("BCU-1")
            assert server.validations == 1
        finally:
            client.close()


@pytest.mark.timeout(60)
def test_client_dropped_without_close_is_collected_and_closes_itself() -> None:
    with ScriptedServer() as server:
        others = set(client_threads())
        client = _quiet_client(server.url).connect()
        conn = server.main
        with pytest.warns(ResourceWarning, match="not closed"):
            del client
            gc.collect()
        assert client_threads(others) == []
        # The server sees the connection end (its reader loop stops).
        wait_until(lambda: conn.ws.state.name == "CLOSED", what="connection closed")


@pytest.mark.timeout(60)
def test_a_dropped_recording_client_finishes_its_capture(tmp_path: Any) -> None:
    # The finalizer stops what close() stops, the capture file included (flushed, closed).
    capture = tmp_path / "capture.jsonl"
    with ScriptedServer() as server:
        client = _quiet_client(server.url, record=capture).connect()
        with pytest.warns(ResourceWarning, match="not closed"):
            del client
            gc.collect()
    lines = [json.loads(line) for line in capture.read_text("utf-8").splitlines()]
    assert lines[0]["capture"] == "bluecurrent_sync"
    assert (lines[-1].get("event"), lines[-1].get("conn")) == ("closed", "main")


@pytest.mark.timeout(60)
def test_forked_child_never_touches_the_parents_connection() -> None:
    with ScriptedServer() as server:
        server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
        client = _quiet_client(server.url).connect()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                pid = os.fork()
            if pid == 0:  # the child: report through the exit code only
                code = 0
                try:
                    client.get_status("BCU-CHILD")
                    code = 1
                except ClientStateError:
                    pass
                except BaseException:
                    code = 2
                try:
                    client.close()
                except BaseException:
                    code = 3
                os._exit(code)
            _pid, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert client.get_status("BCU-PARENT").evse_id == "BCU-PARENT"
            assert client.connected
            assert "BCU-CHILD" not in [f.get("evse_id") for f in server.frames]
        finally:
            client.close()


@pytest.mark.timeout(30)
def test_events_after_close_end_at_once() -> None:
    with ScriptedServer() as server:
        client = _quiet_client(server.url).connect()
        client.close()
        thread, outcome = in_thread(lambda: list(client.events()))
        thread.join(30)
        assert not thread.is_alive(), "events() after close() blocked"
        assert outcome == [[]]


_INTERRUPT_SCRIPT = """
import json, os, signal, sys, threading, time
from bluecurrent_sync.client import Client
# Ctrl-C raises KeyboardInterrupt even when this process was started with SIGINT ignored (as a
# shell does for a command it runs in the background).
signal.signal(signal.SIGINT, signal.default_int_handler)
client = Client(sys.argv[2], url=sys.argv[1], timeout=30).connect()
def interrupt():
    while len(client._pending) < 3:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt, daemon=True).start()
try:
    client.get_statuses(["BCU-A", "BCU-B", "BCU-C"])
    outcome = "returned"
except KeyboardInterrupt:
    outcome = "interrupted"
left = len(client._pending)
status = client.get_status("BCU-B")
print(json.dumps({"outcome": outcome, "left": left, "evse": status.evse_id}))
client.close()
"""


@pytest.mark.timeout(120)
def test_waiters_of_an_interrupted_get_statuses_are_removed() -> None:
    with ScriptedServer() as server:
        asked: dict[str, int] = {}

        def respond(conn: Conn, frame: dict[str, Any]) -> None:
            evse = frame["evse_id"]
            asked[evse] = asked.get(evse, 0) + 1
            if asked[evse] > 1:  # the first request of each id is never answered
                conn.send(ch_status(evse))

        server.responder = respond
        done = subprocess.run(
            [sys.executable, "-c", _INTERRUPT_SCRIPT, server.url, GOOD_TOKEN],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result == {"outcome": "interrupted", "left": 0, "evse": "BCU-B"}


@pytest.mark.timeout(60)
def test_echoed_tokens_never_reach_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer() as server:

        def echo(conn: Conn, frame: dict[str, Any]) -> None:
            conn.send({"object": "ERROR", "error": 5, "message": f"bad frame: {json.dumps(frame)}"})

        server.responder = echo
        caplog.set_level(logging.DEBUG, logger="bluecurrent_sync")
        client = _quiet_client(server.url).connect()
        try:
            with pytest.raises(ApiError) as caught:
                client.get_status("BCU-1")
            assert ISSUED_TOKEN not in str(caught.value)
            assert ISSUED_TOKEN not in caught.value.message
            assert "<redacted>" in str(caught.value)
        finally:
            client.close()
        assert ISSUED_TOKEN not in caplog.text and GOOD_TOKEN not in caplog.text


@pytest.mark.timeout(60)
def test_api_token_echoed_during_connect_is_redacted() -> None:
    def echo(conn: RawConn) -> None:
        conn.read_request()
        conn.accept()
        frame = conn.read_json()
        conn.send_frame({"object": "ERROR", "error": 7, "message": f"cannot parse {frame}"})

    with RawServer(echo) as server:
        with pytest.raises(BlueCurrentError) as caught:
            _quiet_client(server.url).connect()
        assert GOOD_TOKEN not in str(caught.value)
        assert GOOD_TOKEN not in repr(caught.value.args)


@pytest.mark.timeout(120)
def test_push_right_after_a_reply_is_delivered_without_another_call() -> None:
    """The caller that read its own reply leaves the push behind it to the reader thread."""
    with ScriptedServer() as server:

        def respond(conn: Conn, frame: dict[str, Any]) -> None:
            conn.send(ch_status(frame["evse_id"]))
            conn.send({"object": "PUSHED_AFTER"})

        server.responder = respond
        client = _quiet_client(server.url)
        pushed = threading.Semaphore(0)
        client.on("PUSHED_AFTER", lambda _event: pushed.release(), allow_unknown=True)
        client.connect()
        try:
            for _ in range(200):
                client.get_status("BCU-1")
                # Generous, and far below the 20 s keepalive that would otherwise read it.
                assert pushed.acquire(timeout=5), "a push buffered behind a reply was stranded"
        finally:
            client.close()


@pytest.mark.timeout(120)
def test_concurrent_callers_share_the_read_role_and_all_get_their_replies() -> None:
    with ScriptedServer() as server:
        server.responder = lambda conn, frame: conn.send(ch_status(frame["evse_id"]))
        client = _quiet_client(server.url).connect()
        failures: list[BaseException] = []

        def work(i: int) -> None:
            try:
                for _ in range(100):
                    assert client.get_status(f"BCU-{i}").evse_id == f"BCU-{i}"
            except BaseException as exc:
                failures.append(exc)

        pool = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        try:
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(60)
            assert not any(thread.is_alive() for thread in pool)
            assert failures == []
        finally:
            client.close()


@pytest.mark.timeout(120)
def test_each_reconnect_attempt_has_the_connect_deadline() -> None:
    """A server trickling its upgrade answer cannot hold a background reconnect forever."""
    first = threading.Event()

    def script(conn: RawConn) -> None:
        if first.is_set():  # every later connection: the upgrade answer trickles endlessly
            conn.read_request()
            conn.drip(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Padding: a\r\n" * 1000, 0.05)
            return
        hello = conn.serve_handshake()
        if hello is None:
            return
        conn.send_frame({"object": "HELLO"})
        first.set()
        conn.sock.shutdown(socket.SHUT_RDWR)  # drop the main connection

    with RawServer(script) as server:
        client = _quiet_client(server.url, timeout=0.5, reconnect_delay=(0.01, 0.02))
        try:
            client.connect()
            # validate + main, then at least three attempts: each ended by its deadline.
            server.wait_for_requests(2 + 3, timeout=60)
            assert not client.connected
        finally:
            client.close()
