"""``python -m bench.convert_ab``: the converter against its pre-speed-up copy, A/B in one process.

The machine this runs on is usually busy, so absolute timings are noisy: every case runs its
two (or three) contenders in interleaved rounds, each round timing a batch of calls, and the
table gives the median per call and the ratio to the reference. The reference is the frozen
copy in ``tests/convert_reference`` (the converter as of commit a413ca7); pydantic v2 decoding
the same CHARGE_POINTS frame (``bench/alt_models.py``) is a third contender there.
``--profile NAME`` prints a cProfile of the current converter on one case instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bluecurrent_sync._convert import WireConverter

from . import wire

_TESTS = Path(__file__).resolve().parent.parent / "tests"


def _reference() -> Any:
    sys.path.insert(0, str(_TESTS))
    from convert_reference import convert

    return convert.WireConverter()


def _cases(new: WireConverter, old: Any) -> dict[str, list[tuple[str, Callable[[], object]]]]:
    """Each case: (name, call) per contender; the first is the reference."""
    status = wire.ch_status_frame(wire.evse_id(0))
    sys.path.insert(0, str(_TESTS))
    import frames

    settings = frames.CH_SETTINGS
    grid = frames.GRID_STATUS
    current = frames.GRID_CURRENT
    points_text = wire.charge_points_text(100)
    points = json.loads(points_text)
    from . import alt_models

    return {
        "ch_status": [
            ("old", lambda: old.ch_status(status)),
            ("new", lambda: new.ch_status(status)),
        ],
        "ch_settings": [
            ("old", lambda: old.ch_settings(settings)),
            ("new", lambda: new.ch_settings(settings)),
        ],
        "grid_status": [
            ("old", lambda: old.grid_status(grid)),
            ("new", lambda: new.grid_status(grid)),
        ],
        "grid_current": [
            ("old", lambda: old.grid_current(current)),
            ("new", lambda: new.grid_current(current)),
        ],
        "event(ch_status)": [
            ("old", lambda: old.event(status)),
            ("new", lambda: new.event(status)),
        ],
        "charge_points(100)": [
            ("old", lambda: old.charge_points(points)),
            ("new", lambda: new.charge_points(points)),
        ],
        "charge_points(100) from text": [
            ("old", lambda: old.charge_points(json.loads(points_text))),
            ("new", lambda: new.charge_points(json.loads(points_text))),
            ("pydantic", lambda: alt_models.pydantic_decode(points_text)),
        ],
    }


def _per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def measure(rounds: int, budget: float) -> list[str]:
    """Interleaved rounds per case; returns the table lines (median µs per call, ratio)."""
    new, old = WireConverter(), _reference()
    lines = [f"{'case':30} {'contender':9} {'median µs':>10} {'ratio':>7}"]
    for case, contenders in _cases(new, old).items():
        warm = _per_call(contenders[0][1], 20)
        calls = max(1, int(budget / warm))
        times: list[list[float]] = [[] for _ in contenders]
        for _ in range(rounds):
            for i, (_name, fn) in enumerate(contenders):
                times[i].append(_per_call(fn, calls))
        medians = [statistics.median(t) for t in times]
        for (name, _fn), median in zip(contenders, medians, strict=True):
            ratio = median / medians[0]
            lines.append(f"{case:30} {name:9} {median * 1e6:10.1f} {ratio:7.2f}")
    return lines


def profile(case: str, calls: int, top: int) -> str:
    """cProfile ``calls`` calls of the current converter on ``case``."""
    new, old = WireConverter(), _reference()
    fn = dict(_cases(new, old)[case])["new"]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = pstats.Stats(profiler)
    out.sort_stats("tottime").print_stats(top)
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.convert_ab")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--budget", type=float, default=0.02, help="seconds per batch")
    parser.add_argument("--profile", metavar="CASE", help="cProfile one case instead")
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile, args.calls, 25)
        return 0
    print("\n".join(measure(args.rounds, args.budget)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
