"""``python -m bluecurrent_sync.simulator``: run the simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
