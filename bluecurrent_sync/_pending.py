"""Requests waiting for their replies, keyed by (reply object, evse_id): docs/PROTOCOL.md 6.

There is no request id on the wire, so a reply is matched by its object name and the
charge point it concerns:

* a reply that names a charge point resolves every waiter on that (object, evse_id);
* a reply that names none goes to the OLDEST waiter (in send order) that can take an
  evse-less reply: one registered without an evse_id, a *serial* one (its command is kept
  one in flight, so attribution is certain, docs/PROTOCOL.md OP-5) or one whose role for
  that object is an acknowledgement (acks come at once, in order). An evse-less CH_STATUS
  never resolves a ``get_status`` (docs/PROTOCOL.md OP-7);
* an evse-less device verdict (``STATUS_START_SESSION``, ...) that no waiter above takes goes
  to the ONE device command of that kind in flight; with two or more in flight it is
  nobody's (each then ends as it would without a verdict, docs/PROTOCOL.md OP-7);
* identical read requests in flight share one waiter and one frame on the wire.

A :class:`Waiter` holds its outcome and two plain locks released once: one when it is done,
one at its acknowledgement (or when done). The table never blocks on I/O; the
interpretation callbacks it runs are quick, must not block and convert nothing: a RESULT is
converted after the lock, a CONFIRM reads a model converted before it
(:meth:`PendingTable.decides_by_model`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from ._log import CONNECTION
from ._protocol import READ_COMMANDS, TWO_STEP_COMMANDS, Role
from ._wire import copy_error
from .errors import BlueCurrentError

__all__ = ["ACKNOWLEDGED", "PASS", "PendingTable", "Waiter"]

logger = logging.getLogger(CONNECTION)

T = TypeVar("T")


class _Acknowledged:
    """Sentinel returned by an interpreter when a frame was only an acknowledgement."""

    def __repr__(self) -> str:
        return "ACKNOWLEDGED"


#: Returned by an interpreter to say "acknowledged, keep waiting for the result".
ACKNOWLEDGED: Any = _Acknowledged()


class _Pass:
    """Sentinel returned by an interpreter when a frame does not concern the request."""

    def __repr__(self) -> str:
        return "PASS"


#: Returned by an interpreter to say "not for me": the waiter is left as it was (a pushed
#: CH_STATUS that does not show the activity a block/unblock waits for).
PASS: Any = _Pass()

#: What `PendingTable._remove` finds of a waiter no longer in the table.
_GONE: Any = object()

#: ``interpret(object_name, role, frame)`` returns the result, or ACKNOWLEDGED, or raises
#: the exception the request should fail with.
Interpreter = Callable[[str, Role, Mapping[str, Any]], Any]


class Waiter(Generic[T]):
    """One request on the wire and the callers waiting for its reply.

    Attributes:
        command: The command sent.
        evse_id: The charge point it concerns, or None.
        roles: The reply objects still expected, and what each means.
        dedup_key: Set for shareable read requests.
        done: Whether the waiter has a result or an error (a plain attribute: it is read
            on every turn of every wait).
    """

    __slots__ = (
        "_finished",
        "_outcome",
        "_progress",
        "acked_at",
        "acknowledged",
        "command",
        "dedup_key",
        "done",
        "evse_id",
        "flow_id",
        "interpret",
        "refs",
        "replied",
        "roles",
        "seq",
        "serial",
    )

    def __init__(
        self,
        command: str,
        evse_id: str | None,
        roles: dict[str, Role],
        interpret: Interpreter,
        dedup_key: tuple[str, str | None] | None,
        *,
        serial: bool,
        flow_id: str | None = None,
    ) -> None:
        self.command = command
        self.flow_id = flow_id  # sent with the request (opt-in, docs/PROTOCOL.md OP-12)
        self.serial = serial  # one in flight per command: evse-less replies are certainly ours
        self.evse_id = evse_id
        self.roles = dict(roles)
        self.interpret = interpret
        self.dedup_key = dedup_key
        self.seq: int | None = None  # send order; None until the frame is about to be sent
        self.acknowledged = False  # an ack arrived: the server has answered this request
        self.acked_at: float | None = None  # time.monotonic() of the acknowledgement
        self.replied = False  # a frame answered it (result, ack or refusal): server took it
        self.refs = 1
        # The outcome: None while pending, then (True, result) or (False, error); the first
        # wins. Set only under the table's lock, so never by two threads at once.
        self._outcome: tuple[bool, Any] | None = None
        self.done = False  # set with the outcome
        # Two plain locks, held from the start and released once (no Future, no Event:
        # a request costs two lock allocations, and a reply wakes its callers directly).
        self._finished = threading.Lock()  # released when done
        self._finished.acquire()
        self._progress = threading.Lock()  # released at the acknowledgement or when done
        self._progress.acquire()

    def _finish(self, outcome: tuple[bool, Any]) -> None:
        if self._outcome is not None:
            return  # the first result or error wins
        self._outcome = outcome
        self.done = True
        self._finished.release()
        if not self.acknowledged:
            self._progress.release()

    def _resolve(self, result: T) -> None:
        self._finish((True, result))

    def _fail(self, error: BaseException) -> None:
        self._finish((False, error))

    def _acknowledge(self) -> None:
        # Once per waiter, while it is pending: the acknowledging role is dropped with it.
        self.acknowledged = True
        self.acked_at = time.monotonic()
        self._progress.release()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; return whether the waiter is done."""
        return _passed(self._finished, timeout)

    def wait_progress(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the ack or the end; return whether either came."""
        return _passed(self._progress, timeout)

    def outcome(self) -> T:
        """Return the result, or raise the error. Never waits.

        Raises:
            RuntimeError: Called before :attr:`done` (a bug in the caller).
        """
        outcome = self._outcome
        if outcome is None:
            raise RuntimeError(f"{self!r}: outcome() asked for before the waiter is done")
        ok, value = outcome
        if not ok:
            # Each caller of a shared waiter raises its own object (one shared instance would
            # collect every caller's traceback); a non-BlueCurrentError is a bug, raised as is.
            if isinstance(value, BlueCurrentError):
                value = copy_error(value)
            raise value.with_traceback(None)
        result: T = value
        return result

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"<Waiter {self.command} evse_id={self.evse_id!r} seq={self.seq} {state}>"


def _passed(gate: threading.Lock, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``gate`` to be released; leave it released for others."""
    if not gate.acquire(timeout=timeout):
        return False
    gate.release()
    return True


class PendingTable:
    """All waiters of one client, guarded by one lock, indexed by (reply object, evse_id).

    Matching a reply costs O(waiters on that (object, evse_id)), not O(all waiters): with
    ``get_statuses`` over N charge points the old linear scan made the replies O(N^2).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[Waiter[Any], None] = {}  # insertion-ordered set
        self._index: dict[str, dict[str | None, list[Waiter[Any]]]] = {}
        self._dedup: dict[tuple[str, str | None], Waiter[Any]] = {}
        self._seq = itertools.count()
        # One past the newest request (send order) the server has answered at once: a
        # write sent before it and still silent was taken, not refused (answers come in
        # order).
        self._answered_below = 0
        # ERROR frames two requests could own, waiting for evidence (see attribute_error).
        # ERROR frames that more requests could own, and those requests (attribute_error).
        self._held_errors: list[BaseException] = []
        self._held_candidates: list[Waiter[Any]] = []
        self._by_flow: dict[str, Waiter[Any]] = {}  # flow_id -> its waiter (OP-12)

    def _after_fork_in_child(self) -> None:
        """In a forked child: a fresh lock (a parent thread may have held it) and no waiters."""
        self._lock = threading.Lock()
        self._waiters.clear()
        self._index.clear()
        self._dedup.clear()
        self._held_errors.clear()
        self._held_candidates.clear()
        self._by_flow.clear()

    def register(
        self,
        command: str,
        evse_id: str | None,
        roles: dict[str, Role],
        interpret: Interpreter,
        *,
        shareable: bool,
        serial: bool = False,
        flow_id: str | None = None,
    ) -> tuple[Waiter[Any], bool]:
        """Register a waiter BEFORE its frame is sent.

        Args:
            command: The command about to be sent.
            evse_id: The charge point it concerns, or None.
            roles: Reply objects and their roles (see ``_protocol.reply_roles``).
            interpret: Turns a reply frame into the result (or ACKNOWLEDGED / raises).
            shareable: True for read requests: an identical one already in flight is joined.
            serial: The caller keeps this command one in flight, so an evse-less reply to it
                is certainly its own.
            flow_id: The ``flow_id`` sent with the request: a reply echoing it is this
                request's, whatever else it names (docs/PROTOCOL.md OP-12).

        Returns:
            ``(waiter, is_new)``: when ``is_new`` is False an identical request is already in
            flight and the caller must NOT send its frame.
        """
        key = (command, evse_id) if shareable else None
        with self._lock:
            if key is not None:
                shared = self._dedup.get(key)
                if shared is not None and not shared.done:
                    shared.refs += 1
                    return shared, False
            new: Waiter[Any] = Waiter(
                command, evse_id, roles, interpret, key, serial=serial, flow_id=flow_id
            )
            self._waiters[new] = None
            if flow_id is not None:
                self._by_flow[flow_id] = new
            for name in new.roles:
                self._index.setdefault(name, {}).setdefault(evse_id, []).append(new)
            if key is not None:
                self._dedup[key] = new
            return new, True

    def join(self, command: str, evse_id: str | None) -> Waiter[Any] | None:
        """Join an identical shareable request already in flight, if there is one.

        Returns:
            Its waiter (release it like one from :meth:`register`), or None: nothing to join.
        """
        with self._lock:
            shared = self._dedup.get((command, evse_id))
            if shared is None or shared.done:
                return None
            shared.refs += 1
            return shared

    def mark_sent(self, waiter: Waiter[Any]) -> None:
        """Give ``waiter`` its place in send order (under the send lock, right before sending)."""
        with self._lock:
            waiter.seq = next(self._seq)

    def release(self, waiter: Waiter[Any]) -> None:
        """A caller stops waiting (result taken, timed out); the last one removes the waiter."""
        with self._lock:
            waiter.refs -= 1
            if waiter.refs <= 0 or waiter.done:
                self._remove(waiter)
                if self._held_errors:
                    self._settle_held()

    def _unindex(self, waiter: Waiter[Any], name: str) -> None:
        by_evse = self._index.get(name)
        if by_evse is None:
            return
        bucket = by_evse.get(waiter.evse_id)
        if bucket is not None:
            try:  # noqa: SIM105 - no context manager: this runs for every reply
                bucket.remove(waiter)
            except ValueError:
                pass  # not in it
            if not bucket:
                del by_evse[waiter.evse_id]
                if not by_evse:
                    del self._index[name]

    def _remove(self, waiter: Waiter[Any]) -> None:
        """Forget ``waiter`` everywhere (idempotent: a released waiter may be done already)."""
        if self._waiters.pop(waiter, _GONE) is _GONE:
            return  # removed already, or the table was cleared: nothing of it is left
        for name in waiter.roles:
            self._unindex(waiter, name)
        key = waiter.dedup_key
        if key is not None and self._dedup.get(key) is waiter:
            del self._dedup[key]
        if waiter.flow_id is not None:
            self._by_flow.pop(waiter.flow_id, None)

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for waiter in self._waiters if not waiter.done)

    def route(self, object_name: str, evse_id: str | None, frame: Mapping[str, Any]) -> bool:
        """Offer a frame to the waiters; return whether it matched at least one.

        Args:
            object_name: The frame's ``object``.
            evse_id: The frame's evse_id per ``evse_id_of``, or None.
            frame: The decoded frame.
        """
        with self._lock:
            echoed = self._echoed(object_name, frame) if self._by_flow else None
            targets = [echoed] if echoed is not None else self._match(object_name, evse_id)
            for waiter in targets:
                role = waiter.roles[object_name]
                try:
                    result = waiter.interpret(object_name, role, frame)
                except Exception as exc:  # the interpreter's verdict: fail this request
                    self._replied(waiter, role)
                    waiter._fail(exc)
                    self._remove(waiter)
                    continue
                if result is PASS:
                    continue
                self._replied(waiter, role)
                if result is ACKNOWLEDGED:
                    self._unindex(waiter, object_name)
                    del waiter.roles[object_name]
                    waiter._acknowledge()
                else:
                    waiter._resolve(result)
                    self._remove(waiter)
            if self._held_errors:
                self._settle_held()
            return bool(targets)

    def decides_by_model(self, object_name: str, evse_id: str | None) -> bool:
        """Whether a waiter a frame of ``object_name`` for ``evse_id`` reaches reads its model
        to decide (a CONFIRM role: block/unblock reading a CH_STATUS's activity).

        The router then converts the frame before :meth:`route`, outside this table's lock:
        no conversion runs under it.
        """
        with self._lock:
            for waiter in self._index.get(object_name, {}).get(evse_id, ()):  # (no generator)
                if waiter.roles[object_name] is Role.CONFIRM:
                    return True
            return False

    def _replied(self, waiter: Waiter[Any], role: Role) -> None:
        """Note that a frame answered ``waiter`` (evidence for held ERROR frames)."""
        waiter.replied = True
        read = role is Role.RESULT and waiter.command in READ_COMMANDS
        if (role is Role.ACK or read) and waiter.seq is not None:
            self._answered_below = max(self._answered_below, waiter.seq + 1)

    def _echoed(self, object_name: str, frame: Mapping[str, Any]) -> Waiter[Any] | None:
        """The live waiter whose ``flow_id`` the frame echoes, if it expects that object."""
        flow_id = frame.get("flow_id")
        waiter = self._by_flow.get(flow_id) if isinstance(flow_id, str) else None
        if waiter is None or waiter.done or object_name not in waiter.roles:
            return None
        return waiter

    def _match(self, object_name: str, evse_id: str | None) -> list[Waiter[Any]]:
        by_evse = self._index.get(object_name)
        if not by_evse:
            return []
        if evse_id is not None:
            exact = [w for w in by_evse.get(evse_id, ()) if not w.done]
            if exact:
                return exact
            # Tolerance: a reply carrying an evse_id to a request that named none.
            live = [w for w in by_evse.get(None, ()) if not w.done]
        else:
            # Only waiters that can take an evse-less reply (see the module docstring).
            live = [
                w
                for bucket in by_evse.values()
                for w in bucket
                if not w.done
                and (
                    w.evse_id is None
                    or (w.serial and w.roles[object_name] is not Role.CONFIRM)
                    or w.roles[object_name] is Role.ACK
                )
            ]
        sent = [w for w in live if w.seq is not None]
        if sent:
            return [min(sent, key=lambda w: w.seq or 0)]
        if evse_id is not None:
            return []
        # An evse-less device verdict: certainly that of the only such command in flight.
        lone = [
            w
            for bucket in by_evse.values()
            for w in bucket
            if not w.done
            and w.seq is not None
            and w.command in TWO_STEP_COMMANDS
            and w.roles[object_name] is Role.RESULT
        ]
        return lone if len(lone) == 1 else []

    def fail_match(
        self, object_name: str, evse_id: str | None, error: BaseException
    ) -> Waiter[Any] | None:
        """Fail the request a frame of ``object_name`` for ``evse_id`` would answer, if any."""
        with self._lock:
            targets = self._match(object_name, evse_id)
            if not targets:
                return None
            waiter = targets[0]
            waiter._fail(error)
            self._remove(waiter)
            return waiter

    def fail(self, waiter: Waiter[Any], error: BaseException) -> None:
        """Fail one waiter (e.g. its frame could not be sent) and remove it."""
        with self._lock:
            waiter._fail(error)
            self._remove(waiter)

    def attribute_error(
        self,
        error: BaseException,
        eligible: Callable[[Waiter[Any]], bool] | None = None,
        flow_id: object = None,
    ) -> Waiter[Any] | list[Waiter[Any]] | None:
        """Give an ERROR frame (which names no request) to the request it can belong to.

        The server answers in order, so the ERROR answers the oldest sent request that has
        had no reply or ack yet and that ``eligible`` allows (docs/PROTOCOL.md OP-7) —
        except that a *write* may have been taken silently (a setting is answered only when
        the charger has replied), so it may be the ERROR's owner or not. The candidates are
        the silent writes older than the oldest unanswered read, plus that read; a write
        sent before a request the server has already answered is no candidate (it was
        taken). As many candidates as ERROR frames: they fail now, in send order. More: no
        client could tell which one an ERROR is for, so none fails yet; the ERROR is held
        until the others are answered (a setting's verdict, a read's reply) and then fails
        the ones left. A candidate leaving without an answer (its timeout) makes the held
        ERROR frames nobody's.

        An ERROR echoing the ``flow_id`` of a live request is that request's (OP-12).

        Returns:
            The waiter failed now; the candidates when the ERROR is held; None when no
            request qualifies.
        """
        with self._lock:
            owner = self._by_flow.get(flow_id) if isinstance(flow_id, str) else None
            if owner is not None and not owner.done:
                owner._fail(error)
                self._remove(owner)
                if self._held_errors:
                    self._settle_held()
                return owner
            unanswered = sorted(
                (
                    w
                    for w in self._waiters
                    if not w.done
                    and w.seq is not None
                    and not w.acknowledged
                    and (eligible is None or eligible(w))
                ),
                key=lambda w: w.seq or 0,
            )
            candidates: list[Waiter[Any]] = []
            for waiter in unanswered:
                is_read = waiter.command in READ_COMMANDS
                if not is_read and self._taken(waiter):
                    continue  # taken: a later request has had its answer
                candidates.append(waiter)
                if is_read and waiter not in self._held_candidates:
                    break
            if not candidates:
                return None
            # An ERROR already held may own one of these: they are decided together (the
            # walk above always reaches the held candidates: they are the oldest unanswered).
            known = set(self._held_candidates)
            self._held_candidates += [w for w in candidates if w not in known]
            self._held_errors.append(error)
            failed = self._settle_held()
            return failed[0] if failed else list(self._held_candidates)

    def held_error(self, waiter: Waiter[Any]) -> BaseException | None:
        """The oldest held ERROR ``waiter`` may own, or None (see :meth:`attribute_error`).

        For a read whose caller gives up: the ERROR is then as likely its answer as not, and
        saying so beats a plain timeout.
        """
        with self._lock:
            if waiter not in self._held_candidates:
                return None
            return self._held_errors[0]  # candidates are only ever held with their errors

    def _taken(self, waiter: Waiter[Any]) -> bool:
        """Whether a request sent later than ``waiter`` has had its answer (lock held)."""
        assert waiter.seq is not None  # only sent waiters are candidates
        return waiter.seq + 1 < self._answered_below

    def _settle_held(self) -> list[Waiter[Any]]:
        """Place held ERROR frames once their silent candidates are as many (lock held).

        A silent read sent before a request the server has since answered had its answer:
        reads are answered at once and in order, so that answer was the held ERROR.

        Returns:
            The waiters failed.
        """
        errors, self._held_errors = self._held_errors, []
        silent = sorted((w for w in self._held_candidates if not w.replied), key=_send_order)
        self._held_candidates = []
        failed: list[Waiter[Any]] = []
        for read in [w for w in silent if w.command in READ_COMMANDS]:
            if not errors or read.done or not self._taken(read):
                break
            read._fail(errors.pop(0))
            self._remove(read)
            failed.append(read)
            silent.remove(read)
        if not errors:
            return failed
        if len(silent) < len(errors) or any(w.done or w not in self._waiters for w in silent):
            logger.info("server error(s) %s: the request cannot be told; dropped", errors)
            return failed
        if len(silent) > len(errors):
            self._held_errors, self._held_candidates = errors, silent
            return failed
        for owner in silent:  # as many as errors, both in order
            owner._fail(errors.pop(0))
            self._remove(owner)
            failed.append(owner)
        return failed

    def fail_all(self, make_error: Callable[[Waiter[Any]], BaseException]) -> int:
        """Fail every pending request at once; return how many were failed."""
        with self._lock:
            waiters = list(self._waiters)
            self._held_errors.clear()
            self._held_candidates.clear()
            self._by_flow.clear()
            self._waiters.clear()
            self._index.clear()
            self._dedup.clear()
        count = 0
        for waiter in waiters:
            if not waiter.done:
                waiter._fail(make_error(waiter))
                count += 1
        return count


def _send_order(waiter: Waiter[Any]) -> int:
    assert waiter.seq is not None  # only sent waiters are candidates
    return waiter.seq
