"""Who reads the main connection: the reader thread, or for a while one caller (the guest).

Left to the reader thread, each reply is read on one thread and awaited on another: two threads
handing one GIL back and forth, and two thread wake-ups per reply. A caller may read the
connection itself instead, as a single-threaded client would:

* A batch (`Client.get_statuses`) asks for the role for as long as it runs (`enter()`).
* A single call waiting for its reply takes the role when the reader thread has lent the stream
  and no other caller has it (`enter_or_follow()`); otherwise it waits as a follower while the
  guest or the reader thread reads. The only follower asks the reader to stand aside after its
  next message, so that the caller's next call can read its own reply; with several callers
  waiting the reader keeps reading for them all.
* One guest at a time: the guest routes every frame, other callers' replies included.
* The reader thread stands aside between two messages, never inside one: it lends the stream it
  reads (`lend()`) and waits while a guest reads, judging liveness meanwhile (the guest's reads
  are progress; a dead connection is aborted, which ends the guest's read at once). After the
  guest leaves it keeps standing aside for a moment (a caller making calls one after another
  reads each reply itself), unless a follower still waits for its reply.
* The guest takes the lent stream (`lent()`) and reads and handles messages exactly as the
  reader would, waiting for bytes before it reads them. Whatever ends the connection while it reads
  (a close, a read error, an interrupt while a message's bytes are read or while it is handled)
  ends its turn: it hands the error to the reader (`hand_back()`), which drops the connection and
  reconnects as it would have. An interrupt while it waits for bytes loses nothing: the stream
  stays whole, as when a call waiting on the reader thread is interrupted.
* The reader takes the stream back (`keep_lent()`, `reclaim()`) when nobody reads it.

This module holds only that shared state and its lock; the reading itself is `_reader.Reader`'s.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._transport import Stream
    from .errors import BlueCurrentError

__all__ = ["ReadRole"]


class ReadRole:
    """The read role of one connection (see the module). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # entered directly: Condition's own `with` is Python
        self._cond = threading.Condition(self._lock)
        self._guest: int | None = None  # the guest thread's ident (threading.get_ident())
        self._lent: Stream | None = None
        self._ended = False  # the guest handed the lent stream back (it may not read it again)
        self._handed_back: BlueCurrentError | None = None
        self._woken = False  # wake() was called: the reader looks at the connection again
        self._followers: set[Any] = set()  # the waiters of callers waiting without the role
        self._wanted = False  # a follower asked the reader to stand aside after a message
        self._idle_since = -math.inf  # time.monotonic() when the stream was lent or a guest left

    # -- the guest ---------------------------------------------------------------------
    def enter(self) -> bool:
        """Ask for the role for the calling thread; False when another caller has it."""
        with self._lock:
            if self._guest is not None:
                return False
            self._guest = threading.get_ident()
            return True

    def enter_or_follow(self, waiter: Any) -> bool:
        """Take the role if the stream is lent and nobody has it (True), or else wait for
        ``waiter`` (its ``done``) as a follower (False; end with `unfollow()`)."""
        with self._lock:
            if self._guest is None and self._lent is not None and not self._ended:
                self._guest = threading.get_ident()
                return True
            if self._guest is None and not self._followers:
                # The only caller waiting: its next call could read itself. With others
                # waiting too, the reader keeps reading for all of them (standing aside
                # would only be taken back at once).
                self._wanted = True
            self._followers.add(waiter)
            return False

    def unfollow(self, waiter: Any) -> None:
        """A follower is done waiting."""
        with self._lock:
            self._followers.discard(waiter)

    def leave(self) -> None:
        """The guest is done. The reader keeps standing aside for a moment (the next call may
        read at once), or takes the stream back at once if a follower still waits."""
        with self._lock:
            if self._guest == threading.get_ident():
                self._guest = None
                self._idle_since = time.monotonic()
                if self._follower_waits():
                    self._cond.notify_all()

    def is_guest(self) -> bool:
        """Whether the calling thread is the guest."""
        return self._guest == threading.get_ident()

    def lent(self) -> Stream | None:
        """The stream the reader lent the guest, or None (the reader still reads, or the guest's
        turn on this stream ended)."""
        return None if self._ended else self._lent

    def hand_back(self, error: BlueCurrentError) -> None:
        """End the guest's turn on the lent stream: ``error`` ends the connection."""
        with self._lock:
            self._ended = True
            if self._handed_back is None:
                self._handed_back = error
            self._cond.notify_all()

    # -- the reader thread -------------------------------------------------------------
    @property
    def asked(self) -> bool:
        """Whether a guest waits for the stream or a follower asked the reader to stand aside
        (read without the lock: a hint)."""
        return self._guest is not None or self._wanted

    @property
    def guest_asks(self) -> bool:
        """Whether a guest waits for the stream (a hint, as `asked`)."""
        return self._guest is not None

    def lend(self, stream: Stream) -> None:
        """Stand aside: a guest may read ``stream`` now (`keep_lent()` says for how long)."""
        with self._lock:
            self._lent = stream
            self._ended = False
            self._idle_since = time.monotonic()

    def keep_lent(self, linger: float) -> float | None:
        """Whether the reader keeps standing aside, decided under the lock.

        Returns:
            Seconds the reader may wait before it looks again: ``linger`` while a guest reads
            (a guest leaving wakes nobody unless a follower waits), or what is left of
            ``linger`` seconds since the stream was lent or the last guest left, while no
            follower waits. Otherwise None, and the stream is taken back at once, before any
            other caller can take the role.
        """
        with self._lock:
            if not self._ended:
                if self._guest is not None:
                    self._wanted = False
                    return linger
                waits = self._follower_waits()
                left = self._idle_since + linger - time.monotonic()
                if left > 0 and not waits:
                    self._wanted = False
                    return left
                # A lone caller still waits (its call began before the stream was lent): stand
                # aside again after the next message, its reply, so that its next call reads.
                self._wanted = waits and len(self._followers) == 1
            self._lent = None
            return None

    def wait_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the guest to end its turn, for a guest leaving
        while a follower waits, or for `wake()`; return whether one of them happened."""
        with self._lock:
            happened = self._cond.wait_for(
                lambda: (
                    self._ended or self._woken or (self._guest is None and self._follower_waits())
                ),
                timeout,
            )
            self._woken = False
            return bool(happened)

    def reclaim(self) -> BlueCurrentError | None:
        """Take the stream back; return the error that ended the guest's turn, if any."""
        with self._lock:
            self._lent = None
            self._ended = False
            error, self._handed_back = self._handed_back, None
            return error

    def wake(self) -> None:
        """Wake the reader waiting while the stream is lent (the connection is closing)."""
        with self._lock:
            self._woken = True
            self._cond.notify_all()

    def _follower_waits(self) -> bool:
        if not self._followers:  # the common case, without a generator
            return False
        return any(not waiter.done for waiter in self._followers)
