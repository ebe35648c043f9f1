"""The one fork hook: what a forked child must forget of its parent's clients.

A child made by ``os.fork()`` inherits every lock as it was at the fork, held perhaps by a parent
thread that does not exist in the child (the reader thread routing a push, a caller counting a
request): the child's first ``with lock`` would wait forever. Every object of a client that owns a
lock or a socket registers here (`reset_after_fork()`), and in the child each one's
``_after_fork_in_child()`` runs: fresh locks, no threads, no sockets touched; the connection then
refuses every call with ``ClientStateError``.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any

__all__ = ["reset_after_fork"]

logger = logging.getLogger(__name__)


class _ForkReset:
    """Objects to reset in a forked child (weakly held; one hook per process)."""

    def __init__(self) -> None:
        self._objects: weakref.WeakSet[Any] = weakref.WeakSet()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._in_child)

    def add(self, obj: Any) -> None:
        """Call ``obj._after_fork_in_child()`` in every forked child while ``obj`` lives."""
        self._objects.add(obj)

    def _in_child(self) -> None:
        for obj in list(self._objects):
            try:
                obj._after_fork_in_child()
            except Exception:  # never break the child over one client
                logger.exception("resetting %s after fork failed", type(obj).__name__)


#: The process-wide fork hook (state: weak references only, reset in each child).
_FORK_RESET = _ForkReset()


def reset_after_fork(obj: Any) -> None:
    """Register ``obj`` (with an ``_after_fork_in_child()`` method) for the fork hook."""
    _FORK_RESET.add(obj)
