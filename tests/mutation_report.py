"""``make mutation``: mutmut on the correlation core and the transport, then the score.

Runs mutmut (configured in setup.cfg ``[mutmut]``: the fast test sets of
``tests/test_correlation.py`` and ``tests/test_transport_rules.py``) from scratch on the
mutants of :data:`SCOPE`, reads the equivalent mutants listed in ``tests/MUTATION.md``, and
prints the score (detected / all but the equivalent ones) and every survivor with its diff.
Exits 1 below :data:`GOAL` or when the list of equivalent mutants is stale (a listed one is
gone or now killed).

Usage: ``python tests/mutation_report.py [--max-children N] [--keep]`` from the repository
root (``--keep`` reuses the previous run's results in ``mutants/``).
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = str(Path(sys.executable).with_name("mutmut"))

#: The correlation core: the waiter table, the router and the reply rules (``reply_roles``
#: and ``object_name_of``). The command sets (DEDUP_COMMANDS, ...) are module constants,
#: which mutmut 3 does not mutate; tests/test_correlation.py pins them against lists of its own.
#: Then the transport's decisions: the frame cap and RFC 6455 checks, complete messages and
#: progress, liveness, and the session's state machine and reconnect policy.
SCOPE = (
    "bluecurrent_sync._pending.*",
    "bluecurrent_sync._router.*",
    "bluecurrent_sync._protocol.x_reply_roles__mutmut_*",
    "bluecurrent_sync._wire.x_object_name_of__mutmut_*",
    "bluecurrent_sync._wire.x_evse_id_of__mutmut_*",
    "bluecurrent_sync._wire.x_routing_evse_id__mutmut_*",
    "bluecurrent_sync._frames.*",
    "bluecurrent_sync._liveness.*",
    "bluecurrent_sync._session.*",
    "bluecurrent_sync._transport.xǁWebSocketClientStreamǁ_message__mutmut_*",
    "bluecurrent_sync._wire.x_error_for_rejection__mutmut_*",
    "bluecurrent_sync._wire.x_error_for_close__mutmut_*",
)
GOAL = 95.0
DETECTED = {"killed", "timeout"}  # a timeout: the mutant made the tests hang, they noticed
_EQUIVALENT = re.compile(r"^\|\s*`(bluecurrent_sync\.[^`]+__mutmut_\d+)`\s*\|")


def equivalent_mutants() -> dict[str, str]:
    """The mutants tests/MUTATION.md lists as equivalent, with the reason given."""
    listed: dict[str, str] = {}
    for line in (ROOT / "tests" / "MUTATION.md").read_text(encoding="utf-8").splitlines():
        match = _EQUIVALENT.match(line)
        if match:
            listed[match.group(1)] = line.rsplit("|", 2)[-2].strip()
    return listed


def results() -> dict[str, str]:
    """Every mutant of :data:`SCOPE` and its status, from ``mutmut results --all true``."""
    out = subprocess.run(
        [MUTMUT, "results", "--all", "true"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    statuses: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and any(fnmatch.fnmatchcase(name, pattern) for pattern in SCOPE):
            statuses[name] = status.strip()
    return statuses


def diff_of(name: str) -> str:
    """The changed lines of one mutant (``mutmut show``)."""
    shown = subprocess.run(
        [MUTMUT, "show", name], cwd=ROOT, check=False, capture_output=True, text=True
    ).stdout
    lines = shown.splitlines()
    return "\n".join(
        f"      {line}"
        for line in lines
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ from the last run")
    options = parser.parse_args()
    if not options.keep:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    command = [MUTMUT, "run", *SCOPE]
    if options.max_children:
        command[2:2] = ["--max-children", str(options.max_children)]
    run = subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout[-4000:], run.stderr[-4000:], sep="\n")
        print(f"mutmut run failed (exit {run.returncode})")
        return 1
    statuses = results()
    if not statuses:
        print("no mutants found for", ", ".join(SCOPE))
        return 1
    equivalent = equivalent_mutants()
    stale = sorted(name for name in equivalent if statuses.get(name) != "survived")
    counted = {name: status for name, status in statuses.items() if name not in equivalent}
    detected = sum(1 for status in counted.values() if status in DETECTED)
    survivors = sorted(name for name, status in counted.items() if status not in DETECTED)
    score = 100.0 * detected / len(counted)

    by_status: dict[str, int] = {}
    for status in statuses.values():
        by_status[status] = by_status.get(status, 0) + 1
    print(f"mutants in scope: {len(statuses)} ({', '.join(SCOPE)})")
    print("  " + ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items())))
    print(f"  equivalent (tests/MUTATION.md): {len(equivalent) - len(stale)}")
    print(f"score: {detected} of {len(counted)} non-equivalent mutants detected = {score:.1f}%")
    for name in survivors:
        print(f"  SURVIVOR {name} ({counted[name]})")
        print(diff_of(name))
    for name in stale:
        print(f"  STALE equivalent entry {name}: now {statuses.get(name, 'gone')}")
    if stale:
        print("tests/MUTATION.md lists equivalent mutants that are gone or killed: update it")
        return 1
    if score < GOAL:
        print(f"below the goal of {GOAL:.0f}%")
        return 1
    print(f"goal of {GOAL:.0f}% reached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
