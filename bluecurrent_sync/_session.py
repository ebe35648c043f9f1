"""The session's state and its reconnect policy, apart from any socket.

`Session` answers "may a call go out now, and if not, with which error?" and "what happens after
this drop or that failed attempt?": the state machine below, the exponential backoff with jitter
(started afresh only after a connection stayed up ``stable_after`` seconds, so a flapping server
costs a bounded number of HELLOs), the quota wait (the *limited* state until ``reset_at``) and the
bounded patience with "Already connected".

```text
NEW -> CONNECTING -> CONNECTED <-> RECONNECTING
                         |  ^           |
                         v  |           v
                       LIMITED        FAILED        (any) -> CLOSED
```
"""

from __future__ import annotations

import datetime as _dt
import enum
import random
import threading
import time

from . import _clock
from ._wire import copy_error
from .errors import (
    AlreadyConnected,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
)

__all__ = ["ALREADY_CONNECTED_ATTEMPTS", "STABLE_AFTER", "Backoff", "Session", "State"]

#: Seconds a connection must stay up before the reconnect backoff starts again from its
#: initial delay. With the default ``reconnect_delay=(0.5, 30.0)`` a server that accepts and
#: drops every connection therefore gets at most ~240 HELLOs an hour (one per 15-30 s).
STABLE_AFTER = 60.0

#: Consecutive "Already connected" refusals while reconnecting before giving up (about four
#: minutes at the default backoff): the server releases a stale connection of ours in time.
ALREADY_CONNECTED_ATTEMPTS = 10


class State(enum.Enum):
    """Where the connection is in its life."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LIMITED = "limited"
    FAILED = "failed"
    CLOSED = "closed"


class Backoff:
    """Exponential backoff with equal jitter: ``initial`` doubling up to ``maximum``.

    Args:
        initial: First delay in seconds.
        maximum: Cap in seconds.
        rng: Random source (injectable for tests).
    """

    def __init__(
        self, initial: float = 0.5, maximum: float = 30.0, rng: random.Random | None = None
    ):
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._current = initial
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Return the next delay (between half and all of the current step) and double the step."""
        step = self._current
        self._current = min(self._current * 2, self.maximum)
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        """Start again from ``initial`` (after a connection that stayed up)."""
        self._current = self.initial


class Session:
    """The state of one logical connection and what follows from each event.

    Args:
        reconnect: Whether a drop is followed by reconnect attempts.
        backoff: The delay policy between attempts.
        stable_after: Seconds up before the backoff starts afresh.
        already_connected_attempts: Consecutive "Already connected" refusals tolerated.

    Attributes:
        state: The current `State`.
        limited_until: When the quota resets (in the limited state).
        fatal_error: Why reconnecting stopped (in the failed state).
        revalidating: Whether the API token is being validated again (calls fail at once).
    """

    def __init__(
        self,
        *,
        reconnect: bool,
        backoff: Backoff,
        stable_after: float = STABLE_AFTER,
        already_connected_attempts: int = ALREADY_CONNECTED_ATTEMPTS,
    ) -> None:
        self.reconnect = reconnect
        self.backoff = backoff
        self.stable_after = stable_after
        self.already_connected_attempts = already_connected_attempts
        self.lock = threading.Lock()
        self.state = State.NEW
        self.limited_until: _dt.datetime | None = None
        self.fatal_error: BlueCurrentError | None = None
        self.revalidating = False
        self.refusals = 0
        self.up_since: float | None = None
        self.hurry = False  # the last drop was ours (an interrupt): no backoff before the next

    def after_fork(self) -> None:
        """In a forked child: a fresh lock; every call then raises ClientStateError."""
        self.lock = threading.Lock()
        if self.state not in (State.NEW, State.CLOSED):
            self.state = State.FAILED
            self.fatal_error = ClientStateError(
                "this client belongs to the process that forked; make a new Client here"
            )

    def check_usable(self, stream_up: bool) -> None:
        """Raise the error a call made now must fail with, if any.

        Args:
            stream_up: Whether a stream is open (the limited state without a close).

        Raises:
            ClientStateError: Not connected yet, closed, or made before a fork.
            RequestLimitReached: In the limited state (with ``reset_at``).
            InvalidApiToken | AlreadyConnected: Reconnection stopped on that error.
            ConnectionClosedError: The connection is down (reconnecting) or the token is
                being validated again.
        """
        state = self.state
        if state is State.CONNECTED:
            if self.revalidating:
                raise ConnectionClosedError("the API token is being validated again")
            return
        if state in (State.NEW, State.CONNECTING):
            raise ClientStateError("the client is not connected; call connect() first")
        if state is State.CLOSED:
            raise ClientStateError("the client is closed")
        limited_until = self.limited_until
        if state is State.LIMITED and limited_until is not None:
            if _clock.now() < limited_until:
                raise RequestLimitReached("Request limit reached", limited_until)
            with self.lock:
                if self.state is State.LIMITED and stream_up:
                    # ERROR 42 without a close: the connection stayed up; the quota has reset.
                    self.state = State.CONNECTED
                    self.limited_until = None
                    return
            raise ConnectionClosedError("the connection is down; reconnecting")
        if state is State.FAILED and self.fatal_error is not None:
            raise copy_error(self.fatal_error)
        raise ConnectionClosedError("the connection is down; reconnecting")

    def enter_limited(self, reset_at: _dt.datetime) -> bool:
        """ERROR 42: no calls or reconnects until ``reset_at``; False if already closed."""
        with self.lock:
            if self.state is State.CLOSED:
                return False
            self.limited_until = reset_at
            self.state = State.LIMITED
            return True

    def up(self) -> None:
        """A connection (first or again) completed its HELLO (call under `lock`)."""
        self.state = State.CONNECTED
        self.limited_until = None
        self.up_since = time.monotonic()
        self.refusals = 0

    def went_down(self, error: BlueCurrentError) -> tuple[BlueCurrentError, bool]:
        """The live connection dropped with ``error`` (call under `lock`).

        Returns:
            The error pending calls fail with, and whether reconnecting goes on.
        """
        if self.up_since is not None and time.monotonic() - self.up_since >= self.stable_after:
            self.backoff.reset()  # only a connection that stayed up earns a fresh start
        self.up_since = None
        reconnecting = True
        if isinstance(error, RequestLimitReached):
            self.limited_until = error.reset_at
            self.state = State.LIMITED
        elif isinstance(error, InvalidApiToken) or (
            isinstance(error, AlreadyConnected) and not self.reconnect
        ):
            self.fatal_error = error
            self.state = State.FAILED
            reconnecting = False
        elif self.state not in (State.LIMITED, State.FAILED, State.CLOSED):
            self.state = State.RECONNECTING if self.reconnect else State.FAILED
            if not self.reconnect:
                self.fatal_error = ConnectionClosedError(
                    "the connection was lost (reconnect=False)"
                )
                reconnecting = False
        if isinstance(error, AlreadyConnected) and reconnecting:
            self.refusals += 1
        limited_until = self.limited_until if self.state is State.LIMITED else None
        if limited_until is not None and not isinstance(error, RequestLimitReached):
            error = RequestLimitReached("Request limit reached", limited_until)
        return error, reconnecting

    def attempt_failed(self, error: BlueCurrentError) -> bool:
        """A reconnect attempt failed with ``error``; return whether reconnecting goes on."""
        if isinstance(error, RequestLimitReached):
            self._set(State.LIMITED, error)
        elif isinstance(error, InvalidApiToken):
            self._set(State.FAILED, error)
        elif isinstance(error, AlreadyConnected):
            # Usually our own stale connection, still open on the server after a silent
            # drop: it is released in time. Same backoff; give up after a bounded number.
            self.refusals += 1
            if self.refusals >= self.already_connected_attempts:
                self._set(State.FAILED, error)
            else:
                self._set(State.RECONNECTING, error)
        else:
            self._set(State.RECONNECTING, error)
        return self.state not in (State.FAILED, State.CLOSED)

    def _set(self, state: State, error: BlueCurrentError) -> None:
        with self.lock:
            if self.state is State.CLOSED:
                return
            self.state = state
            if isinstance(error, RequestLimitReached):
                self.limited_until = error.reset_at
            if state is State.FAILED:
                self.fatal_error = error

    def delay(self) -> float:
        """Seconds to wait before the next attempt (the quota reset, or the backoff)."""
        if self.hurry:
            self.hurry = False
            return 0.0
        if self.state is State.LIMITED and self.limited_until is not None:
            now = _clock.now()
            return max(0.0, (self.limited_until - now).total_seconds())
        return self.backoff.next_delay()
