"""``python -m bench [--quick] [--output PATH]``: run every benchmark, print, write RESULTS.md.

Servers run in their own processes. Each figure is measured side by side with its baseline in
the same run; the exit status is 0 even when goals are missed (a figure that fails to run is
reported as an error row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import traceback
from importlib import metadata
from pathlib import Path

from . import figures
from .figures import Row

PACKAGES = (
    "bluecurrent-sync",
    "bluecurrent-api",
    "websocket-client",
    "websockets",
    "attrs",
    "cattrs",
    "pydantic",
    "pydantic-core",
    "msgspec",
)


def machine() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- Packages: {', '.join(versions)}",
    ]


def run(quick: bool) -> list[Row]:
    plans = [
        ("sequential", lambda: [figures.sequential(200 if quick else 2000, 2 if quick else 7)]),
        (
            "pipelined",
            lambda: figures.pipelined([100] if quick else [100, 1000], 2 if quick else 7),
        ),
        (
            "threaded",
            lambda: [
                figures.threaded(50 if quick else 400, 2 if quick else 5),
                figures.threaded_late(5 if quick else 20, 1 if quick else 3),
            ],
        ),
        ("flood", lambda: figures.flood(2000 if quick else 20000, 2 if quick else 3)),
        (
            "reply behind a flood",
            lambda: [figures.reply_behind_flood(2000 if quick else 20000, 2 if quick else 5)],
        ),
        ("decoding", lambda: figures.decoding([100, 1000], 3 if quick else 15)),
        ("import", lambda: figures.import_time(3 if quick else 15)),
    ]
    rows: list[Row] = []
    for name, plan in plans:
        print(f"# {name} ...", flush=True)
        try:
            new = plan()
        except Exception as exc:
            traceback.print_exc()
            new = [Row(name, 0.0, "error", f"{type(exc).__name__}: {exc}", None, "-", False)]
        for row in new:
            ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
            verdict = "MET" if row.met else "MISSED"
            print(f"  {row.figure}\n    ours {row.ours_text} | baseline {row.baseline_text}")
            print(f"    ratio {ratio} | goal {row.goal_text}: {verdict}", flush=True)
        rows.extend(new)
    return rows


#: The four figures of the request-path issue, by the start of their row's name.
REQUEST_PATH = (
    ("sequential get_status / raw websocket-client loop", "sequential get_status"),
    ("get_statuses per reply / official client pipelined", "get_statuses over 100 "),
    ("8 threads, server 20 ms away: per call / sequential", "8 threads calling get_status, server"),
    ("pushes read and routed (frames/s, websocket-client)", "pushed CH_STATUS decoded"),
)


def request_path_summary(rows: list[Row]) -> list[str]:
    """The request-path figures, each as its ratio against the baseline of the same run."""
    lines = ["# the request-path figures (each against its baseline in this run)"]
    for label, prefix in REQUEST_PATH:
        for row in rows:
            if row.figure.startswith(prefix):
                ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
                verdict = "MET" if row.met else "MISSED"
                lines.append(
                    f"  {label}: {ratio} ({row.ours_text}); goal {row.goal_text}: {verdict}"
                )
    return lines


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| figure | ours | baseline (same run) | ratio | goal | met? |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        notes = f" <br><sub>{'; '.join(row.notes)}</sub>" if row.notes else ""
        lines.append(
            f"| {row.figure}{notes} | {row.ours_text} | {row.baseline_text} | {ratio} "
            f"| {row.goal_text} | {'yes' if row.met else '**no**'} |"
        )
    return lines


def write_results(path: Path, rows: list[Row], quick: bool) -> None:
    """Replace the measured part of RESULTS.md, keeping the hand-written analysis below it."""
    marker = "<!-- analysis -->"
    analysis = ""
    if path.exists():
        text = path.read_text()
        if marker in text:
            analysis = text[text.index(marker) :]
    header = [
        "# bluecurrent_sync benchmarks",
        "",
        "Written by `python -m bench` (`make bench`)"
        + (" in --quick mode (smoke test; not representative)" if quick else "")
        + ". Servers run in their own processes; every ratio is ours ÷ its baseline measured "
        "side by side in the same run.",
        "",
        "## Machine",
        *machine(),
        "",
        "## Results",
        *table(rows),
        "",
    ]
    path.write_text("\n".join(header) + "\n" + (analysis or marker + "\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the results (default bench/RESULTS.md; with --quick nothing is "
        "written unless --output is given; '-' to skip)",
    )
    args = parser.parse_args(argv)
    rows = run(args.quick)
    output = args.output
    if output is None and not args.quick:
        output = Path(__file__).with_name("RESULTS.md")
    if output is not None and str(output) != "-":
        write_results(output, rows, args.quick)
        print(f"results written to {output}")
    print("\n".join(request_path_summary(rows)))
    missed = [row.figure for row in rows if not row.met]
    print(f"{len(rows) - len(missed)}/{len(rows)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
