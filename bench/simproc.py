"""The bluecurrent_sync simulator in its own process, with its flood mode on stdin.

``python -m bench.simproc [simulator options]`` prints the simulator's URL first, then reads
lines: ``flood <count>`` runs ``Simulator.flood(count)`` and prints ``sent <k>``; EOF stops it.
"""

from __future__ import annotations

import sys

from bluecurrent_sync.simulator import Simulator


def main() -> int:
    with Simulator(push_interval=3600.0, action_delay=0.01) as sim:
        print(sim.url, flush=True)
        for line in sys.stdin:
            parts = line.split()
            if parts[:1] == ["flood"]:
                print(f"sent {sim.flood(int(parts[1]))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
