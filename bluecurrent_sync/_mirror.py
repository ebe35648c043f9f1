"""The live mirror: the latest status, settings and grid figures of every charge point.

The router hands every CH_STATUS, CH_SETTINGS, GRID_STATUS and GRID_CURRENT frame to
:meth:`Mirror.observe` on the reader thread, pushes and replies alike. Storing costs no
request and almost no time: the reader only keeps the frame's cell and its receive times; the
frame becomes a model the first time someone reads it (on that reader's thread, never the
reader thread's, and outside the mirror's lock), and the model is kept. The cell is the
router's: a frame a waiter or a subscriber has converted already is not converted again, and
all of them hold the same model. A partial CH_STATUS push merged into the previous status is
another frame: the mirror converts that one itself.

Bounds: at most ``max_charge_points`` charge points per kind (default
:data:`DEFAULT_MAX_CHARGE_POINTS`, room for the largest accounts; past it the least recently
updated one is forgotten first, and that is logged once per mirror, never per frame) and one
frame each; while someone waits
for a status of a charge point, up to its last ``history`` statuses (what
:meth:`Mirror.wait_for_status` scans so that it misses no status between two wake-ups).
"""

from __future__ import annotations

import collections
import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from . import _clock
from ._cell import FrameCell, raw
from ._convert import OBJECTS
from ._log import CONNECTION
from ._wire import (
    OBJ_CH_SETTINGS,
    OBJ_CH_STATUS,
    OBJ_GRID_CURRENT,
    OBJ_GRID_STATUS,
    is_partial_status,
    merged_status,
)
from .errors import BlueCurrentError, ClientStateError, RequestTimeoutError
from .models import ChSettings, ChStatus, GridCurrent, GridStatus
from .models._base import ModelBase

__all__ = ["DEFAULT_MAX_CHARGE_POINTS", "MIRRORED_OBJECTS", "Mirror", "Observed"]

logger = logging.getLogger(CONNECTION)

T = TypeVar("T")

#: Charge points the mirror keeps per kind unless told otherwise: a whole large account
#: (a CHARGE_POINTS of 20,000 charge points is about 23 MB; one mirrored frame each is a few
#: MB more), so ``get_statuses(max_age=...)`` never asks again for what it already has.
DEFAULT_MAX_CHARGE_POINTS = 20_000

#: The object names the mirror keeps (the ``mirrored`` entries of the object table).
MIRRORED_OBJECTS = frozenset(name for name, spec in OBJECTS.items() if spec.mirrored)


@attrs.frozen
class Observed(ModelBase, Generic[T]):
    """A model as last received, with when it arrived.

    Attributes:
        value: The model (ChStatus, ChSettings, GridStatus or GridCurrent).
        received_at: When the frame arrived (aware datetime, UTC).
        received_monotonic: The same moment on ``time.monotonic()`` (for ages).
    """

    value: T
    received_at: _dt.datetime
    received_monotonic: float

    @property
    def age(self) -> float:
        """Seconds since the frame arrived."""
        return max(0.0, time.monotonic() - self.received_monotonic)


class _Entry:
    """One stored frame; converted on first read (through its cell, outside the lock)."""

    __slots__ = ("cell", "converted", "frame", "monotonic", "seq", "wall")

    def __init__(self, seq: int, cell: FrameCell, monotonic: float) -> None:
        self.seq = seq
        self.cell: FrameCell | None = cell  # dropped once converted
        self.frame = cell.frame  # raw: a later partial status merges into it
        self.monotonic = monotonic
        self.wall = _clock.time()  # a datetime only when read
        # None: not converted yet; False: the frame could not be converted.
        self.converted: object = None


Convert = Callable[[Mapping[str, Any]], object]


class Mirror:
    """The latest known state per charge point, fed by the reader thread.

    Args:
        converters: Object name -> the converter of that object (the client's own).
        max_charge_points: Charge points kept per object kind (the client's
            ``mirror_size``); past it the least recently updated is forgotten.
        history: Status frames kept per charge point for :meth:`wait_for_status`.
    """

    def __init__(
        self,
        converters: Mapping[str, Convert],
        *,
        max_charge_points: int = DEFAULT_MAX_CHARGE_POINTS,
        history: int = 64,
    ) -> None:
        if max_charge_points < 1 or history < 1:
            raise ValueError("max_charge_points and history must be at least 1")
        self._converters = dict(converters)
        self._max = max_charge_points
        self._history = history
        self._lock = threading.Lock()  # entered directly: Condition's own `with` is Python
        self._cond = threading.Condition(self._lock)
        self._seq = 0
        # object name -> evse_id -> newest frames (oldest first); ordered by last update.
        self._kinds: dict[str, collections.OrderedDict[str | None, collections.deque[_Entry]]] = {
            name: collections.OrderedDict() for name in MIRRORED_OBJECTS
        }
        self._ended: BaseException | None = None
        self._forked: ClientStateError | None = None  # set in a forked child
        self.forgotten = 0  # charge points forgotten because the mirror was full
        self._waiting: dict[str, int] = {}  # evse_id -> wait_for_status calls waiting on it

    def _after_fork_in_child(self) -> None:
        """In a forked child (see ``_fork.py``): a fresh lock (the reader thread may have held
        it at the fork); waiters end with ClientStateError."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ended = self._forked = ClientStateError(
            "this client belongs to the process that forked; make a new Client here"
        )

    # -- the reader thread -------------------------------------------------------------
    def observe(
        self,
        object_name: str,
        evse_id: str | None,
        frame: Mapping[str, Any],
        value: object = None,
    ) -> None:
        """Store a received frame (called by the reader thread for every mirrored object).

        A CH_STATUS, CH_SETTINGS or GRID_STATUS without an evse_id is not stored (nobody
        could ask for it); a GRID_CURRENT without one is kept under ``None``. ``frame``: the
        router's `FrameCell` (its model is shared with the waiters and subscribers), or a
        plain frame, converted here when read. ``value``: the frame's model when the caller
        already converted it (a GRID_STATUS reply, attributed by its request because its
        ``data.id`` may name another charge point).
        """
        per_evse = self._kinds.get(object_name)
        if per_evse is None or (evse_id is None and object_name != OBJ_GRID_CURRENT):
            return
        routed = frame if isinstance(frame, FrameCell) else None
        now = time.monotonic()
        with self._lock:
            self._seq += 1
            entries = per_evse.get(evse_id)
            if entries is None:
                if len(per_evse) >= self._max:
                    per_evse.popitem(last=False)
                    self.forgotten += 1
                    if self.forgotten == 1:  # one line per mirror: never one per frame
                        logger.warning(
                            "mirror full (%d charge points per kind, mirror_size): the least "
                            "recently updated are forgotten from now on (logged once)",
                            self._max,
                        )
                keep = self._history if object_name == OBJ_CH_STATUS else 1
                entries = per_evse[evse_id] = collections.deque(maxlen=keep)
            else:
                per_evse.move_to_end(evse_id)
                if object_name == OBJ_CH_STATUS and entries and is_partial_status(raw(frame)):
                    # A push of a change only: the rest stays as the last status said. The
                    # merge is another frame than the one routed: converted by its own cell.
                    frame = merged_status(entries[-1].frame, frame)
                if evse_id not in self._waiting:
                    entries.clear()  # only waiters need older frames
            if not isinstance(frame, FrameCell):
                frame = FrameCell(frame, self._converters[object_name])
            entry = _Entry(self._seq, frame, now)
            if value is not None:
                entry.converted = value
                entry.cell = None
            entries.append(entry)
            if object_name == OBJ_CH_STATUS and evse_id in self._waiting:
                self._cond.notify_all()  # a wait_for_status() of this charge point
        if routed is not None and frame is not routed and routed.converted:
            # The router converted the push for a waiter deciding by it (block/unblock): the
            # merge that waiter's ack may read is converted now too, on the reader thread,
            # not later under the pending table's lock.
            frame.prepare()

    def end(self, error: BaseException) -> None:
        """Wake every waiter for good: they raise a copy of ``error`` (client closed)."""
        with self._lock:
            self._ended = error
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake the waiters so that they re-check the client's state (after a drop)."""
        with self._lock:
            self._cond.notify_all()

    # -- readers -----------------------------------------------------------------------
    def latest(self, object_name: str, evse_id: str | None) -> Observed[Any] | None:
        """The newest convertible frame of ``object_name`` for ``evse_id``, or None.

        Raises:
            ClientStateError: In a process forked from the client's.
        """
        if self._forked is not None:
            raise ClientStateError(str(self._forked))
        with self._lock:
            entries = list(self._kinds[object_name].get(evse_id) or ())
        for entry in reversed(entries):  # converted outside the lock
            value = self._value(object_name, entry)
            if value is not None:
                received_at = _dt.datetime.fromtimestamp(entry.wall, _dt.timezone.utc)
                return Observed(value, received_at, entry.monotonic)
        return None

    def status(self, evse_id: str) -> Observed[ChStatus] | None:
        """The last CH_STATUS of ``evse_id`` with its receive time, or None."""
        return self.latest(OBJ_CH_STATUS, evse_id)

    def activity(self, evse_id: str) -> str | None:
        """The activity the newest CH_STATUS of ``evse_id`` shows (``"charging"``, ...).

        None when no status was received, or the newest one cannot be converted (an older
        one does not stand in for it: block/unblock must not be confirmed by a stale state).
        """
        with self._lock:
            entries = self._kinds[OBJ_CH_STATUS].get(evse_id)
            if not entries:
                return None
            newest = entries[-1]
        status = self._value(OBJ_CH_STATUS, newest)
        return status.activity.value if isinstance(status, ChStatus) else None

    def settings(self, evse_id: str) -> Observed[ChSettings] | None:
        """The last CH_SETTINGS of ``evse_id`` with its receive time, or None."""
        return self.latest(OBJ_CH_SETTINGS, evse_id)

    def grid_status(self, evse_id: str) -> Observed[GridStatus] | None:
        """The last GRID_STATUS of ``evse_id``'s installation with its receive time, or None."""
        return self.latest(OBJ_GRID_STATUS, evse_id)

    def grid_current(self, evse_id: str | None) -> Observed[GridCurrent] | None:
        """The last GRID_CURRENT for ``evse_id`` (None: the pushes without one), or None."""
        return self.latest(OBJ_GRID_CURRENT, evse_id)

    def evse_ids(self) -> list[str]:
        """Every charge point a status has been received for, in order of last update."""
        with self._lock:
            return [e for e in self._kinds[OBJ_CH_STATUS] if e is not None]

    def wait_for_status(
        self,
        evse_id: str,
        condition: Callable[[ChStatus], object],
        timeout: float,
        check_usable: Callable[[], None],
    ) -> ChStatus:
        """Block until a status of ``evse_id`` satisfies ``condition`` (see Client)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            entries = self._kinds[OBJ_CH_STATUS].get(evse_id)
            # The last known status first, then every newer one in arrival order.
            pending: list[_Entry] = list(entries)[-1:] if entries else []
            seen = self._seq
            self._waiting[evse_id] = self._waiting.get(evse_id, 0) + 1
        try:
            return self._scan(
                evse_id,
                condition,
                deadline=deadline,
                timeout=timeout,
                check_usable=check_usable,
                pending=pending,
                seen=seen,
            )
        finally:
            with self._lock:
                left = self._waiting.pop(evse_id) - 1
                if left:
                    self._waiting[evse_id] = left

    def _scan(
        self,
        evse_id: str,
        condition: Callable[[ChStatus], object],
        *,
        deadline: float,
        timeout: float,
        check_usable: Callable[[], None],
        pending: list[_Entry],
        seen: int,
    ) -> ChStatus:
        while True:
            for entry in pending:
                status = self._value(OBJ_CH_STATUS, entry)
                # The condition runs without the lock: it is the caller's code.
                if isinstance(status, ChStatus) and condition(status):
                    return status
            with self._lock:
                while True:
                    if self._ended is not None:
                        raise _copy(self._ended)
                    check_usable()
                    entries = self._kinds[OBJ_CH_STATUS].get(evse_id)
                    newer = [e for e in entries or () if e.seq > seen]
                    if newer:
                        seen = newer[-1].seq
                        pending = newer
                        break
                    seen = self._seq
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        error = RequestTimeoutError(OBJ_CH_STATUS, evse_id, timeout)
                        error.args = (
                            f"no CH_STATUS for {evse_id} met the condition within {timeout:g} s",
                        )
                        raise error
                    self._cond.wait(remaining)

    def _value(self, object_name: str, entry: _Entry) -> object | None:
        """The entry's model (converting it once), or None if it cannot be converted.

        Called without the lock: the cell converts (once, whoever asks first: a waiter, the
        dispatcher or a reader of the mirror); the lock only guards storing the outcome.
        """
        converted = entry.converted
        if converted is None:
            cell = entry.cell  # None: another reader stored the outcome meanwhile
            converted = entry.converted if cell is None else self._store(object_name, entry, cell)
        return None if converted is False else converted

    def _store(self, object_name: str, entry: _Entry, cell: FrameCell) -> object:
        """Convert ``entry`` through its cell (without the lock), then keep the outcome."""
        error: BlueCurrentError | None = None
        try:
            converted = cell.model()
        except BlueCurrentError as exc:
            converted, error = False, exc
        with self._lock:
            first = entry.converted is None
            if first:
                entry.converted = converted  # before the cell goes: see _value
                entry.cell = None
                if object_name != OBJ_CH_STATUS:  # a status stays: a partial push merges
                    entry.frame = {}  # the model replaces the raw frame
            converted = entry.converted
        if first and error is not None:  # logged by the reader that stored it: once
            logger.warning("mirror ignores a %s it cannot convert: %s", object_name, error)
        return converted


def _copy(error: BaseException) -> BaseException:
    try:
        return type(error)(*error.args)
    except Exception:  # an error type with another constructor: re-raise it as it is
        return error
