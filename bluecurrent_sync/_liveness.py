"""Liveness by complete frames: when to ping, when a connection counts as dead.

Only a complete message or control frame counts (``Stream.last_progress``): bytes dripping
in, or fragments of a message that never ends, keep nothing alive. ``interval`` seconds
without one send a ping; ``interval + timeout`` seconds without one end the connection.
"""

from __future__ import annotations

import enum
import time

__all__ = ["Liveness", "Verdict"]


class Verdict(enum.Enum):
    """What the reader should do now."""

    WAIT = "wait"
    PING = "ping"
    DEAD = "dead"


class Liveness:
    """The keepalive rule of one connection (no state but when the last ping went out).

    Args:
        interval: Seconds without a complete frame before a ping (None: no keepalive).
        timeout: Further seconds without one before the connection is dead.
    """

    def __init__(self, interval: float | None, timeout: float) -> None:
        self.interval = interval
        self.timeout = timeout
        self.pinged_at = 0.0

    def reset(self) -> None:
        """A new connection: no ping out."""
        self.pinged_at = 0.0

    def check_at(self, last_progress: float) -> float | None:
        """When the next verdict is due (``time.monotonic()``; None: never)."""
        if self.interval is None:
            return None
        if self.pinged_at < last_progress:
            return last_progress + self.interval
        return last_progress + self.interval + self.timeout

    def verdict(self, last_progress: float) -> Verdict:
        """Judge the connection now; a PING verdict counts the ping as sent."""
        if self.interval is None:
            return Verdict.WAIT
        now = time.monotonic()
        silent = now - last_progress
        if silent >= self.interval + self.timeout:
            return Verdict.DEAD
        if silent >= self.interval and self.pinged_at < last_progress:
            self.pinged_at = now
            return Verdict.PING
        return Verdict.WAIT
