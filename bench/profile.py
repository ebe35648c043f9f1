"""``python -m bench.profile``: cProfile the client's hot paths, every thread separately.

Profiles (a) sequential get_status, (b) get_statuses over 1000 charge points and (c) a push
flood, against the bench server in its own process, and prints the top functions by own time
for the caller thread, the reader thread and the dispatcher thread.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import threading
from collections.abc import Callable
from typing import Any

import websocket

from bluecurrent_sync.client import Client

from . import wire
from .procs import ServerProcess


class ThreadProfiles:
    """A cProfile.Profile per thread started while active (plus the current thread)."""

    def __init__(self) -> None:
        self.profiles: list[tuple[str, cProfile.Profile]] = []
        self._lock = threading.Lock()

    def _hook(self, *_args: Any) -> None:
        profile = cProfile.Profile()
        with self._lock:
            self.profiles.append((threading.current_thread().name, profile))
        profile.enable()  # replaces this hook for the new thread

    def __enter__(self) -> ThreadProfiles:
        threading.setprofile(self._hook)
        self._hook()
        return self

    def __exit__(self, *exc_info: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        self.profiles[0][1].disable()

    def report(self, title: str, top: int) -> str:
        out = io.StringIO()
        print(f"\n======== {title}", file=out)
        for name, profile in self.profiles:
            stream = io.StringIO()
            stats = pstats.Stats(profile, stream=stream)
            if stats.total_tt < 0.05:
                continue
            stats.sort_stats("tottime").print_stats(top)
            print(f"--- thread {name}: {stats.total_tt:.2f} s", file=out)
            lines = stream.getvalue().splitlines()
            start = next(i for i, line in enumerate(lines) if "ncalls" in line)
            print("\n".join(lines[start : start + top + 1]), file=out)
        return out.getvalue()


def _profiled(title: str, url: str, work: Callable[[Client], None], top: int) -> str:
    with ThreadProfiles() as profiles:
        client = Client(wire.TOKEN, url=url, event_queue_size=100_000).connect()
        try:
            work(client)
        finally:
            client.close()
    return profiles.report(title, top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--top", type=int, default=18)
    args = parser.parse_args(argv)
    with ServerProcess("bench.server", ["--charge-points", "1000"]) as server:
        ids = [wire.evse_id(i) for i in range(1000)]

        def sequential(client: Client) -> None:
            for _ in range(3000):
                client.get_status(ids[0])

        def pipelined(client: Client) -> None:
            for _ in range(5):
                client.get_statuses(ids)

        def flood(client: Client) -> None:
            done = threading.Event()
            seen = [0]

            def on_status(_event: object) -> None:
                seen[0] += 1
                if seen[0] >= 20_000:
                    done.set()

            client.on("CH_STATUS", on_status)
            control = websocket.create_connection(server.url)
            control.send(json.dumps({"command": "BENCH_FLOOD", "count": 20_000}))
            control.recv()
            control.close()
            done.wait(120)

        for title, work in (
            ("sequential get_status x3000", sequential),
            ("get_statuses over 1000 charge points x5", pipelined),
            ("flood of 20,000 pushed CH_STATUS", flood),
        ):
            print(_profiled(title, server.url, work, args.top), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
