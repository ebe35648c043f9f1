"""The measurements. Each returns one or more :class:`Row` (figure, baseline, ratio, goal)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

from bluecurrent_sync.client import Client
from bluecurrent_sync.simulator import DEFAULT_TOKEN

from . import wire
from .procs import ServerProcess


@dataclass
class Row:
    """One line of the results table.

    ``ratio`` is ours / baseline in the figure's own unit; the goal holds when
    ``ratio <= goal_max`` (or ``ours >= goal_min`` for absolute goals).
    """

    figure: str
    ours: float
    ours_text: str
    baseline_text: str
    ratio: float | None
    goal_text: str
    met: bool
    notes: list[str] = field(default_factory=list)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _rss_bytes() -> int:
    """Resident set size now (Linux /proc; 0 where it is not available)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


# -- raw websocket-client helpers -----------------------------------------------------------
def _raw_main_connection(url: str, token: str) -> tuple[websocket.WebSocket, str]:
    """Validate on a short connection, open the main one, HELLO; return (ws, auth).

    UTF-8 validation is skipped, as the SDK does: websocket-client validates in pure Python
    (~60 us per 600-byte frame without wsaccel), which would flatter every ratio.
    """
    short = websocket.create_connection(url, timeout=10)
    short.send(json.dumps({"command": "VALIDATE_API_TOKEN", "token": token}))
    reply = json.loads(short.recv())
    short.close()
    auth = f"Token {reply['token']}"
    ws = websocket.create_connection(url, timeout=10, skip_utf8_validation=True)
    ws.send(json.dumps({"command": "HELLO", "header": "bench", "Authorization": auth}))
    while json.loads(ws.recv()).get("object") != "HELLO":
        pass
    return ws, auth


def _request_text(evse: str, auth: str) -> str:
    # The same bytes the SDK sends (compact JSON, same key order).
    return json.dumps(
        {"command": "GET_CH_STATUS", "Authorization": auth, "evse_id": evse},
        separators=(",", ":"),
    )


# -- 1. sequential get_status vs a raw send/recv loop ----------------------------------------
def sequential(calls: int, rounds: int) -> Row:
    """Our ``get_status`` against the raw loop; also, in the same rounds, the typed floor (the
    raw loop that also builds each frame, decodes each reply and converts it to ``ChStatus``
    with the SDK's own encoder, decoder and converter), the minimal client (``bench/minimal.py``:
    the floor plus the least bookkeeping a thread-safe client needs, written flat) and the
    process's CPU per call."""
    # The SDK's own pieces, for the floor only (the figure itself uses the public client).
    from bluecurrent_sync import _protocol as proto
    from bluecurrent_sync._convert import FrameDecoder, WireConverter

    from .minimal import MinimalClient

    evse = "BCU100002"
    decoder, converter = FrameDecoder(), WireConverter()
    with ServerProcess(
        "bluecurrent_sync.simulator", ["--port", "0", "--push-interval", "3600"]
    ) as server:
        ws, auth = _raw_main_connection(server.url, DEFAULT_TOKEN)
        text = _request_text(evse, auth)
        minimal_ws, _auth = _raw_main_connection(server.url, DEFAULT_TOKEN)
        minimal = MinimalClient(minimal_ws, _auth)
        client = Client(DEFAULT_TOKEN, url=server.url).connect()
        try:

            def raw() -> None:
                for _ in range(calls):
                    ws.send(text)
                    ws.recv()

            def floor() -> None:
                for _ in range(calls):
                    ws.send(proto.encode(proto.command_frame("GET_CH_STATUS", auth, evse_id=evse)))
                    converter.ch_status(decoder.decode(ws.recv()))

            def minimal_client() -> None:
                for _ in range(calls):
                    minimal.get_status(evse)

            def ours() -> None:
                for _ in range(calls):
                    client.get_status(evse)

            loops = {"raw": raw, "floor": floor, "minimal": minimal_client, "ours": ours}
            wall: dict[str, list[float]] = {name: [] for name in loops}
            cpu: dict[str, list[float]] = {name: [] for name in loops}
            if minimal.get_status(evse) != client.get_status(evse):  # else its time means nothing
                raise AssertionError("the minimal client's ChStatus differs from the SDK's")
            for loop in loops.values():  # warm-up
                loop()
            for _ in range(rounds):
                for name, loop in loops.items():
                    start, start_cpu = time.perf_counter(), time.process_time()
                    loop()
                    wall[name].append((time.perf_counter() - start) / calls)
                    cpu[name].append((time.process_time() - start_cpu) / calls)
        finally:
            client.close()
            ws.close()
            minimal_ws.close()
    r, f, m, o = (statistics.median(wall[name]) for name in loops)
    r_cpu, m_cpu, o_cpu = (statistics.median(cpu[name]) for name in ("raw", "minimal", "ours"))
    ratio = o / r
    return Row(
        "sequential get_status (fully decoded ChStatus), per call",
        o,
        _us(o),
        f"raw websocket-client send/recv loop, same frames (UTF-8 check off, as the SDK): {_us(r)}",
        ratio,
        "≤ 1.25x",
        ratio <= 1.25,
        [
            f"simulator process, {calls} calls x {rounds} interleaved rounds, medians",
            f"typed floor (the raw loop + the SDK's encode, JSON decode and ChStatus converter): "
            f"{_us(f)} = {f / r:.2f}x raw; ours = {o / f:.2f}x the floor",
            f"minimal client (bench/minimal.py: the floor + the least bookkeeping of a "
            f"thread-safe client, flat): {_us(m)} = {m / r:.2f}x raw; ours = {o / m:.2f}x it",
            f"this process's CPU per call: ours {_us(o_cpu)}, raw {_us(r_cpu)} "
            f"({o_cpu / r_cpu:.2f}x), minimal client {_us(m_cpu)}",
        ],
    )


async def _official_rounds(url: str, ids: list[str], rounds: int) -> list[float]:
    import bluecurrent_api.websocket as bc_ws
    from bluecurrent_api import Client as OfficialClient

    bc_ws.URL = url  # the official client has no URL parameter
    client = OfficialClient()
    await client.validate_api_token(wire.TOKEN)
    state = {"count": 0}
    done = asyncio.Event()
    opened = asyncio.Event()

    async def receiver(message: dict[str, Any]) -> None:
        if message.get("object") == "CH_STATUS":
            state["count"] += 1
            if state["count"] >= len(ids):
                done.set()

    async def on_open() -> None:
        opened.set()

    task = asyncio.create_task(client.connect(receiver, on_open))
    await asyncio.wait_for(opened.wait(), 10)
    times = []
    for _ in range(rounds + 1):
        state["count"] = 0
        done.clear()
        start = time.perf_counter()
        for evse in ids:
            await client.get_status(evse)
        await asyncio.wait_for(done.wait(), 60)
        times.append((time.perf_counter() - start) / len(ids))
    await client.disconnect()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 10)
    return times[1:]


def pipelined(counts: list[int], rounds: int) -> list[Row]:
    rows = []
    with ServerProcess("bench.server", ["--charge-points", str(max(counts))]) as server:
        for count in counts:
            ids = [wire.evse_id(i) for i in range(count)]
            client = Client(wire.TOKEN, url=server.url).connect()
            ours_t, theirs_t = [], []
            try:
                client.get_statuses(ids)  # warm-up
                for _ in range(rounds):
                    start = time.perf_counter()
                    result = client.get_statuses(ids)
                    ours_t.append((time.perf_counter() - start) / count)
                    assert len(result) == count
                    theirs_t.extend(asyncio.run(_official_rounds(server.url, ids, 1)))
            finally:
                client.close()
            o, t = statistics.median(ours_t), statistics.median(theirs_t)
            ratio = o / t
            rows.append(
                Row(
                    f"get_statuses over {count} charge points, per reply",
                    o,
                    _us(o),
                    f"bluecurrent-api 1.3.3 pipelining the same requests: {_us(t)}",
                    ratio,
                    "≤ 1.0x (never above 1.5x)",
                    ratio <= 1.0,
                    [f"bench server process, {rounds} interleaved rounds, medians"],
                )
            )
    return rows


# -- 3. 8 threads vs sequential ---------------------------------------------------------------
def threaded(calls_per_thread: int, rounds: int, threads: int = 8) -> Row:
    with ServerProcess("bench.server", ["--charge-points", str(threads)]) as server:
        client = Client(wire.TOKEN, url=server.url).connect()
        ids = [wire.evse_id(i) for i in range(threads)]
        try:

            def seq() -> float:
                total = calls_per_thread * threads
                start = time.perf_counter()
                for i in range(total):
                    client.get_status(ids[i % threads])
                return (time.perf_counter() - start) / total

            def par() -> float:
                barrier = threading.Barrier(threads + 1)

                def work(evse: str) -> None:
                    barrier.wait()
                    for _ in range(calls_per_thread):
                        client.get_status(evse)

                pool = [threading.Thread(target=work, args=(e,)) for e in ids]
                for t in pool:
                    t.start()
                barrier.wait()
                start = time.perf_counter()
                for t in pool:
                    t.join()
                return (time.perf_counter() - start) / (calls_per_thread * threads)

            seq()
            par()
            seq_t, par_t = [], []
            for _ in range(rounds):
                seq_t.append(seq())
                par_t.append(par())
        finally:
            client.close()
    s, p = statistics.median(seq_t), statistics.median(par_t)
    ratio = p / s
    return Row(
        f"{threads} threads calling get_status (distinct charge points), per call",
        p,
        _us(p),
        f"our own sequential get_status: {_us(s)}",
        ratio,
        "≤ 0.5x",
        ratio <= 0.5,
        [f"bench server process, {calls_per_thread} calls/thread x {rounds} rounds, medians"],
    )


def threaded_late(calls_per_thread: int, rounds: int, threads: int = 8) -> Row:
    """8 threads on distinct charge points against a server answering 20 ms late."""
    args = ["--charge-points", str(threads), "--delay-ms", "20"]
    with ServerProcess("bench.server", args) as srv:
        client = Client(wire.TOKEN, url=srv.url).connect()
        ids = [wire.evse_id(i) for i in range(threads)]
        try:

            def seq() -> float:
                total = calls_per_thread * threads
                start = time.perf_counter()
                for i in range(total):
                    client.get_status(ids[i % threads])
                return (time.perf_counter() - start) / total

            def par() -> float:
                barrier = threading.Barrier(threads + 1)

                def work(evse: str) -> None:
                    barrier.wait()
                    for _ in range(calls_per_thread):
                        client.get_status(evse)

                pool = [threading.Thread(target=work, args=(e,)) for e in ids]
                for t in pool:
                    t.start()
                barrier.wait()
                start = time.perf_counter()
                for t in pool:
                    t.join()
                return (time.perf_counter() - start) / (calls_per_thread * threads)

            seq_t, par_t = [], []
            for _ in range(rounds):
                seq_t.append(seq())
                par_t.append(par())
        finally:
            client.close()
    s, p = statistics.median(seq_t), statistics.median(par_t)
    ratio = p / s
    return Row(
        f"{threads} threads calling get_status, server answering 20 ms late, per call",
        p,
        _us(p),
        f"our own sequential get_status against the same server: {_us(s)}",
        ratio,
        "≤ 0.15x",
        ratio <= 0.15,
        [f"bench server process --delay-ms 20, {calls_per_thread} calls/thread x {rounds} rounds"],
    )


# -- 4. push flood --------------------------------------------------------------------------
def _raw_flood(url: str, token: str, trigger: Callable[[], int], count: int, rounds: int) -> float:
    """Frames/s a bare websocket-client recv() loop (no decoding) sees; median of ``rounds``."""
    ws, _auth = _raw_main_connection(url, token)
    rates = []
    try:
        for _ in range(rounds + 1):
            got = [0]

            def read(got: list[int] = got) -> None:
                while got[0] < count:
                    ws.recv()
                    got[0] += 1

            reader = threading.Thread(target=read)
            reader.start()
            start = time.perf_counter()
            trigger()
            reader.join(120)
            rates.append(got[0] / (time.perf_counter() - start))
    finally:
        ws.close()
    return statistics.median(rates[1:])


def _client_flood(
    url: str, token: str, trigger: Callable[[], int], count: int, rounds: int
) -> tuple[float, int, int]:
    """Return (frames/s median, RSS growth over the measured rounds, events dropped)."""
    client = Client(token, url=url, event_queue_size=count + 16).connect()
    seen = [0]
    target = [count]
    done = threading.Event()

    def on_status(_event: object) -> None:
        seen[0] += 1
        if seen[0] >= target[0]:
            done.set()

    client.on("CH_STATUS", on_status)
    rates = []
    rss_before = 0
    try:
        for i in range(rounds + 1):
            seen[0] = 0
            done.clear()
            gc.collect()
            if i == 1:
                rss_before = _rss_bytes()
            start = time.perf_counter()
            target[0] = trigger()
            if seen[0] < target[0]:
                done.wait(120)
            rates.append(seen[0] / (time.perf_counter() - start))
        gc.collect()
        rss_growth = _rss_bytes() - rss_before
        dropped = client.dropped_events
    finally:
        client.close()
    return statistics.median(rates[1:]), rss_growth, dropped


def _flood_row(
    label: str, url: str, token: str, trigger: Callable[[], int], count: int, rounds: int
) -> Row:
    raw_rate = _raw_flood(url, token, trigger, count, rounds)
    rate, growth, dropped = _client_flood(url, token, trigger, count, rounds)
    return Row(
        f"pushed CH_STATUS decoded and dispatched to a handler ({label})",
        rate,
        f"{rate:,.0f} frames/s",
        f"raw websocket-client recv() of the same flood, no decoding: {raw_rate:,.0f} frames/s",
        rate / raw_rate,
        ">= 20,000 frames/s, memory flat",
        rate >= 20_000 and growth < 8 << 20,
        [
            f"{count} frames x {rounds} rounds, medians; ratio = ours/raw throughput; "
            f"RSS growth over the measured rounds {growth / 1024:,.0f} KiB; "
            f"{dropped} events dropped"
        ],
    )


def flood(count: int, rounds: int) -> list[Row]:
    rows = []
    # (a) the simulator's own flood mode (json.dumps + a sync send per frame), own process
    with ServerProcess("bench.simproc") as sim:

        def sim_trigger() -> int:
            return int(sim.command(f"flood {count}").split()[1])

        rows.append(
            _flood_row("simulator flood mode", sim.url, DEFAULT_TOKEN, sim_trigger, count, rounds)
        )
    # (b) pre-encoded frames from the bench server: the sender costs least here
    with ServerProcess("bench.server", ["--charge-points", "4"]) as server:
        control = websocket.create_connection(server.url, timeout=120)

        def bench_trigger() -> int:
            control.send(json.dumps({"command": "BENCH_FLOOD", "count": count}))
            return int(json.loads(control.recv())["sent"])

        try:
            rows.append(
                _flood_row(
                    "bench server, pre-encoded frames",
                    server.url,
                    wire.TOKEN,
                    bench_trigger,
                    count,
                    rounds,
                )
            )
        finally:
            control.close()
    return rows


# -- 4b. a reply queued behind a push flood -------------------------------------------------
def reply_behind_flood(count: int, rounds: int) -> Row:
    """get_status whose reply comes after ``count`` pushes of other charge points.

    Baseline: a bare websocket-client loop that sends the same request and reads the same
    ``count + 1`` frames without decoding them. The reader routes the reply as soon as it is
    read: it converts no push (the dispatcher does, for the subscriber) and logs none.
    """
    evse = f"FLOOD-{count}"
    with ServerProcess("bench.server", ["--charge-points", "4"]) as server:
        ws, auth = _raw_main_connection(server.url, wire.TOKEN)
        text = _request_text(evse, auth)
        client = Client(wire.TOKEN, url=server.url, timeout=120).connect()
        client.on("CH_STATUS", lambda _event: None)  # a subscriber: pushes are dispatched
        try:

            def raw() -> float:
                start = time.perf_counter()
                ws.send(text)
                for _ in range(count + 1):
                    ws.recv()
                return time.perf_counter() - start

            def ours() -> float:
                start = time.perf_counter()
                client.get_status(evse)
                return time.perf_counter() - start

            raw_t, ours_t = [], []
            for _ in range(rounds + 1):
                raw_t.append(raw())
                ours_t.append(ours())
        finally:
            client.close()
            ws.close()
    r, o = statistics.median(raw_t[1:]), statistics.median(ours_t[1:])
    return Row(
        f"get_status reply queued behind {count:,} pushes of other charge points",
        o,
        f"{o * 1000:,.0f} ms",
        f"raw websocket-client read of the same {count + 1:,} frames: {r * 1000:,.0f} ms",
        o / r,
        "≤ 3x",
        o / r <= 3,
        [f"bench server process, {rounds} rounds after a warm-up, medians; a CH_STATUS handler"],
    )


# -- 5. decoding CHARGE_POINTS ----------------------------------------------------------------
def _best_of(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Best (minimum) wall time of each function, the functions run interleaved."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            gc.collect()
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def decoding(sizes: list[int], repeat: int) -> list[Row]:
    from bluecurrent_sync._convert import WireConverter

    from . import alt_models

    rows = []
    for size in sizes:
        text = wire.charge_points_text(size)
        converter = WireConverter()

        def ours(text: str = text, converter: WireConverter = converter) -> object:
            return converter.charge_points(json.loads(text))

        def pyd(text: str = text) -> object:
            return alt_models.pydantic_decode(text)

        def msg(text: str = text) -> object:
            return alt_models.msgspec_decode(text)

        for fn in (ours, pyd, msg):
            assert len(fn()) == size  # type: ignore[arg-type]
        o, p, m = _best_of([ours, pyd, msg], repeat)
        rows.append(
            Row(
                f"decode CHARGE_POINTS with {size} charge points (JSON text → models)",
                o,
                f"{o * 1e3:,.2f} ms",
                f"pydantic {_pydantic_version()}: {p * 1e3:,.2f} ms; msgspec "
                f"{_msgspec_version()}: {m * 1e3:,.2f} ms ({o / m:,.1f}x msgspec)",
                o / p,
                "≤ 0.7x pydantic",
                o / p <= 0.7,
                [f"best of {repeat} interleaved runs, gc.collect() before each"],
            )
        )
    return rows


def _pydantic_version() -> str:
    import pydantic

    return str(pydantic.VERSION)


def _msgspec_version() -> str:
    import msgspec

    return str(msgspec.__version__)


# -- 6. import time ---------------------------------------------------------------------------
def _proc_time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def import_time(runs: int) -> list[Row]:
    cases = {
        "bare": "pass",
        "ours": "import bluecurrent_sync",
        "ours_client": "import bluecurrent_sync.client",
        "theirs": "import bluecurrent_api",
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for code in cases.values():
        _proc_time(code)  # warm the page cache and .pyc files
    for _ in range(runs):
        for name, code in cases.items():
            times[name].append(_proc_time(code))
    med = {name: statistics.median(values) for name, values in times.items()}
    bare = med["bare"]
    rows = []
    for key, label in (
        ("ours", 'python -c "import bluecurrent_sync"'),
        ("ours_client", 'python -c "import bluecurrent_sync.client" (what using Client costs)'),
    ):
        ratio = med[key] / med["theirs"]
        rows.append(
            Row(
                label,
                med[key],
                f"{med[key] * 1e3:,.1f} ms (import alone {(med[key] - bare) * 1e3:,.1f} ms)",
                f'python -c "import bluecurrent_api": {med["theirs"] * 1e3:,.1f} ms '
                f"(import alone {(med['theirs'] - bare) * 1e3:,.1f} ms)",
                ratio,
                "≤ 1.0x",
                ratio <= 1.0,
                [f"whole-process wall time, median of {runs}; bare python {bare * 1e3:.1f} ms"],
            )
        )
    return rows
