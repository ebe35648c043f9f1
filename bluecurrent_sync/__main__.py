"""``python -m bluecurrent_sync``: the same as the ``bluecurrent-sync`` command."""

import sys

from bluecurrent_sync.cli import main

sys.exit(main())
