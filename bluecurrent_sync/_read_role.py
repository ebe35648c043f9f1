"""Who reads the main connection: the reader thread, or for a while one caller (the guest).

A batch (`Client.get_statuses`) sends many requests, then waits for every reply. Left to the
reader thread, each reply is read on one thread and awaited on another: two threads handing one
GIL back and forth for every frame. While a batch runs its caller may read the connection itself
instead, as a single-threaded client would:

* A caller asks with `ReadRole.enter()`; one guest at a time (another caller asking meanwhile
  waits as usual: the guest routes every frame, other callers' replies included).
* The reader thread stands aside between two messages, never inside one: it lends the stream it
  reads (`lend()`) and waits until the guest leaves, judging liveness meanwhile (the guest's reads
  are progress; a dead connection is aborted, which ends the guest's read at once).
* The guest takes the lent stream (`lent()`) and reads and handles messages exactly as the
  reader would, waiting for bytes before it reads them. Whatever ends the connection while it reads
  (a close, a read error, an interrupt while a message's bytes are read or while it is handled)
  ends its turn: it hands the error to the reader (`hand_back()`), which drops the connection and
  reconnects as it would have. An interrupt while it waits for bytes loses nothing: the stream
  stays whole, as when a call waiting on the reader thread is interrupted.
* The reader takes the stream back (`reclaim()`) once the guest has left.

This module holds only that shared state and its lock; the reading itself is `_reader.Reader`'s.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._transport import Stream
    from .errors import BlueCurrentError

__all__ = ["ReadRole"]


class ReadRole:
    """The read role of one connection (see the module). Thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._guest: threading.Thread | None = None
        self._lent: Stream | None = None
        self._ended = False  # the guest handed the lent stream back (it may not read it again)
        self._handed_back: BlueCurrentError | None = None
        self._woken = False  # wake() was called: the reader looks at the connection again

    # -- the guest ---------------------------------------------------------------------
    def enter(self) -> bool:
        """Ask for the role for the calling thread; False when another caller has it."""
        with self._cond:
            if self._guest is not None:
                return False
            self._guest = threading.current_thread()
            return True

    def leave(self) -> None:
        """The guest is done (the reader takes the stream back)."""
        with self._cond:
            if self._guest is threading.current_thread():
                self._guest = None
                self._cond.notify_all()

    def is_guest(self) -> bool:
        """Whether the calling thread is the guest."""
        return self._guest is threading.current_thread()

    def lent(self) -> Stream | None:
        """The stream the reader lent the guest, or None (the reader still reads, or the guest's
        turn on this stream ended)."""
        return None if self._ended else self._lent

    def hand_back(self, error: BlueCurrentError) -> None:
        """End the guest's turn on the lent stream: ``error`` ends the connection."""
        with self._cond:
            self._ended = True
            if self._handed_back is None:
                self._handed_back = error
            self._cond.notify_all()

    # -- the reader thread -------------------------------------------------------------
    @property
    def asked(self) -> bool:
        """Whether a guest waits for the stream (read without the lock: a hint)."""
        return self._guest is not None

    def lend(self, stream: Stream) -> None:
        """Stand aside: the guest may read ``stream`` now."""
        with self._cond:
            self._lent = stream
            self._ended = False

    def wait_guest_gone(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the guest to leave or end its turn, or for
        `wake()`; return whether one of them happened."""
        with self._cond:
            happened = self._cond.wait_for(
                lambda: self._guest is None or self._ended or self._woken, timeout
            )
            self._woken = False
            return happened

    def guest_reading(self) -> bool:
        """Whether a guest may still be reading the lent stream."""
        return self._guest is not None and not self._ended

    def reclaim(self) -> BlueCurrentError | None:
        """Take the stream back; return the error that ended the guest's turn, if any."""
        with self._cond:
            self._lent = None
            self._ended = False
            error, self._handed_back = self._handed_back, None
            return error

    def wake(self) -> None:
        """Wake the reader waiting for the guest (the connection is closing)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()
