"""The package's one wall clock: every date it computes reads the time here.

The quota reset, the Amsterdam day of the usage count, the receive times of the live mirror, the
simulator's day and the capture's timestamps all come from `now()` or `time()`, never from
``datetime.now()``, so a test can move the whole package to another instant:

* the environment variable ``BLUECURRENT_SYNC_NOW`` (an ISO 8601 instant with its UTC offset,
  such as ``2027-07-15T23:59:00+02:00``), read when the package is imported, so it reaches
  child processes too;
* `start_at()`, for the process it is called in.

The pytest plugin's ``--bluecurrent-now`` option does both. The clock then starts at that instant
and runs at the real pace, so a wait that lasts until a wall-clock time (the quota reset) still
ends. Durations and deadlines never read this clock: they use `time.monotonic()`.
"""

from __future__ import annotations

import datetime as _dt
import os
import time as _time

__all__ = ["ENVIRONMENT", "now", "parse_instant", "start_at", "time"]

ENVIRONMENT = "BLUECURRENT_SYNC_NOW"


class _Offset:
    """How far the clock runs ahead of the system clock (seconds; one per process)."""

    seconds = 0.0


def time() -> float:
    """The current time as seconds since the epoch (like `time.time()`)."""
    return _time.time() + _Offset.seconds


def now() -> _dt.datetime:
    """The current time, aware, in UTC."""
    return _dt.datetime.fromtimestamp(time(), _dt.timezone.utc)


def parse_instant(text: str, *, source: str = ENVIRONMENT) -> _dt.datetime:
    """An ISO 8601 instant with its UTC offset, as an aware datetime.

    Raises:
        ValueError: ``text`` is not such an instant (the message names ``source``).
    """
    try:
        instant = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        instant = None
    if instant is None or instant.utcoffset() is None:
        raise ValueError(
            f"{source} must be an ISO 8601 instant with its UTC offset, "
            f"such as 2027-07-15T23:59:00+02:00; got {text!r}"
        )
    return instant


def start_at(instant: _dt.datetime | None) -> None:
    """Move the clock so that it reads ``instant`` now (None: back to the system clock)."""
    if instant is None:
        _Offset.seconds = 0.0
    else:
        _Offset.seconds = instant.timestamp() - _time.time()


_configured = os.environ.get(ENVIRONMENT)
if _configured:
    start_at(parse_instant(_configured))
