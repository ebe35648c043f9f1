"""Where a sequential call's time goes: a diagnostic, not a figure of `make bench`.

    python -m bench.anatomy [rounds]

Against the simulator, one process, two parts:

1. **Python calls per call.** One ``GET_CH_STATUS`` round trip of the raw websocket-client
   loop and one ``get_status``, each traced once with ``sys.setprofile``: the Python-level
   calls (functions, methods, generator steps) and the calls into C, the Python ones
   counted by where their code lives (our package, websocket-client, the standard library).
2. **Sleeping and polling.** Four loops, interleaved: the raw loop and ``get_status``, each
   once sleeping until the reply is there (as shipped: the thread blocks in the kernel) and
   once polling the socket without sleeping. The polling variant of ours replaces
   ``WebSocketClientStream.ready`` in this process only; the product never polls like this
   (it would burn a core while a remote server takes milliseconds to answer). The
   difference between the two is what the wake-up costs: the kernel waking the blocked
   thread, and the code after it running with cold caches. The polling ratio is the
   machinery's own cost, without the wake-up.
"""

from __future__ import annotations

import collections
import select
import statistics
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from bluecurrent_sync import _transport
from bluecurrent_sync.client import Client
from bluecurrent_sync.simulator import DEFAULT_TOKEN

from .figures import _raw_main_connection, _request_text
from .procs import ServerProcess

CALLS = 2000
EVSE = "BCU100002"


def _where(frame: FrameType) -> str:
    path = frame.f_code.co_filename
    for part in ("bluecurrent_sync", "websocket", "json", "threading", "logging", "contextlib"):
        if f"/{part}/" in path or path.endswith(f"/{part}.py"):
            return part
    if path.startswith("<frozen"):
        return path.strip("<>")  # <frozen abc>: the Mapping ABC's isinstance
    return "generated (attrs, happy path)" if path.startswith("<") else "other"


def count_calls(step: Callable[[], object]) -> tuple[collections.Counter[str], int]:
    """Trace one call of ``step``: Python calls by where their code lives, and C calls."""
    python: collections.Counter[str] = collections.Counter()
    c_calls = 0

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal c_calls
        if event == "call":
            python[_where(frame)] += 1
        elif event == "c_call":
            c_calls += 1

    sys.setprofile(profile)
    try:
        step()
    finally:
        sys.setprofile(None)
    python["other"] -= 1  # the traced step itself
    c_calls -= 1  # sys.setprofile(None)
    return +python, c_calls


def main(rounds: int) -> None:
    shipped = _transport.WebSocketClientStream.ready
    polling = False

    def ready(self: _transport.WebSocketClientStream, timeout: float = 0.0) -> bool:
        if not polling:
            return shipped(self, timeout)
        end = time.monotonic() + timeout
        while not shipped(self, 0.0):
            if time.monotonic() >= end:
                return False
        return True

    _transport.WebSocketClientStream.ready = ready  # type: ignore[method-assign]
    with ServerProcess(
        "bluecurrent_sync.simulator", ["--port", "0", "--push-interval", "3600"]
    ) as server:
        ws, auth = _raw_main_connection(server.url, DEFAULT_TOKEN)
        text = _request_text(EVSE, auth)
        poller = select.poll()
        poller.register(ws.sock.fileno(), select.POLLIN)
        client = Client(DEFAULT_TOKEN, url=server.url).connect()

        def raw_sleeping() -> None:
            ws.send(text)
            ws.recv()

        def raw_polling() -> None:
            ws.send(text)
            while not poller.poll(0):
                pass
            ws.recv()

        def ours_sleeping() -> None:
            client.get_status(EVSE)

        def ours_polling() -> None:
            nonlocal polling
            polling = True
            try:
                client.get_status(EVSE)
            finally:
                polling = False

        loops: dict[str, Callable[[], None]] = {
            "raw, sleeping": raw_sleeping,
            "raw, polling": raw_polling,
            "ours, sleeping": ours_sleeping,
            "ours, polling": ours_polling,
        }
        times: dict[str, list[float]] = {name: [] for name in loops}
        try:
            for step in loops.values():  # warm-up
                for _ in range(CALLS // 4):
                    step()
            counted = {
                "raw": count_calls(raw_sleeping),
                "ours": count_calls(ours_sleeping),
            }
            for _ in range(rounds):
                for name, step in loops.items():
                    start = time.perf_counter()
                    for _ in range(CALLS):
                        step()
                    times[name].append((time.perf_counter() - start) / CALLS)
        finally:
            client.close()
            ws.close()

    print("Python-level calls in one round trip (by where the code lives), and calls into C")
    for name, (python, c_calls) in counted.items():
        parts = ", ".join(f"{where} {n}" for where, n in python.most_common())
        print(f"  {name:5} {sum(python.values()):4} Python ({parts}); {c_calls} into C")
    med = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    print(f"µs per call, {CALLS} calls x {rounds} interleaved rounds, medians")
    for name, value in med.items():
        print(f"  {name:15} {value:7.1f}")
    print(f"  ours / raw, both sleeping: {med['ours, sleeping'] / med['raw, sleeping']:.2f}x")
    print(f"  ours / raw, both polling:  {med['ours, polling'] / med['raw, polling']:.2f}x")
    print(
        f"  the wake-up costs raw {med['raw, sleeping'] - med['raw, polling']:.1f} µs, "
        f"ours {med['ours, sleeping'] - med['ours, polling']:.1f} µs"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
