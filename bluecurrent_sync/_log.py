"""The public logger names of bluecurrent_sync, defined once.

Every logger of the package sits under ``bluecurrent_sync``, so one line configures them all:

```python
logging.getLogger("bluecurrent_sync").setLevel(logging.INFO)
```

========================================  ===============================================
logger                                    what it reports
========================================  ===============================================
``bluecurrent_sync.connection``           connecting, drops and reconnects, keepalive,
                                          frames dropped as malformed, server errors
``bluecurrent_sync.wire``                 every text frame sent and received, at DEBUG,
                                          with both tokens redacted (off unless enabled)
``bluecurrent_sync.events``               event handlers that raised, overflow drops
``bluecurrent_sync.simulator``            the local simulator
========================================  ===============================================

The library adds no handlers (except ``logging.NullHandler`` on the root of the hierarchy):
the application decides where records go.
"""

from __future__ import annotations

import logging

__all__ = ["CONNECTION", "EVENTS", "ROOT", "SIMULATOR", "WIRE"]

ROOT = "bluecurrent_sync"
CONNECTION = "bluecurrent_sync.connection"
WIRE = "bluecurrent_sync.wire"
EVENTS = "bluecurrent_sync.events"
SIMULATOR = "bluecurrent_sync.simulator"

logging.getLogger(ROOT).addHandler(logging.NullHandler())
