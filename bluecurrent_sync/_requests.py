"""The request machinery: from a command to its outcome (ack/verdict rules, interpreters, gates).

:class:`Requests` is what every :class:`~bluecurrent_sync.Client` method calls. It registers a
waiter before sending (``_pending.py``), sends under the connection's send lock (the daily
budget is checked there), waits as the read-role holder allows (``Connection.wait_reply``),
and interprets each reply by its role (``_protocol.reply_roles``): RESULT converts, ACK
acknowledges a two-step command, VERDICT ends it, CONFIRM (a pushed CH_STATUS) may confirm
block/unblock (docs/PROTOCOL.md OP-3). Commands whose replies may not name their charge point
go one at a time through a gate (OP-5). An acknowledged action without a verdict in time
returns ``ActionOutcome.ACKNOWLEDGED`` (OP-6).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import attrs

from . import _protocol as proto
from ._cell import FrameCell, raw
from ._log import CONNECTION
from ._pending import ACKNOWLEDGED, PASS, PendingTable, Waiter
from ._protocol import Role
from ._wire import grid_id_of, is_partial_status, own_grid_id
from .errors import (
    ActionFailed,
    ApiError,
    BlueCurrentError,
    ClientStateError,
    RequestTimeoutError,
    ResponseValidationError,
)
from .models import ActionOutcome, ActionResult, ChSettings, ChStatus, SettingResult

if TYPE_CHECKING:
    from ._connection import Connection
    from ._convert import WireConverter
    from ._redact import Redactor
    from ._usage import RequestMeter

__all__ = ["Requests"]

logger = logging.getLogger(CONNECTION)

T = TypeVar("T")

#: A batch sends this many frames under one hold of the send lock, then reads the replies
#: already in: often enough that the replies waiting (about 15 KB for 32 statuses) never fill
#: a socket buffer and stall the server, rarely enough that each drain reads many frames per
#: system call (measured per reply over 1000 charge points: every 4 sends 103 µs, every 32 or
#: more 80-85 µs).
_DRAIN_EVERY = 32


class Requests:
    """Sends commands and waits for their outcome, one client's worth.

    Args:
        conn: The connection (sending, waiting as reader, usability checks).
        pending: The waiters.
        converter: The client's converter.
        meter: Request accounting (the daily budget is admitted under the send lock).
        redactor: Removes secrets from errors before they reach the caller.
        last_activity: The activity the last CH_STATUS of a charge point showed (or None).
        timeout: Seconds for an ordinary request.
        action_timeout: Seconds for a two-step device command.
        verdict_timeout: Seconds after the ack before an action returns ACKNOWLEDGED
            (None: the rest of its timeout).
        send_flow_id: Send a fresh ``flow_id`` with every command and take a reply or
            ERROR echoing it as that command's (docs/PROTOCOL.md OP-12).
    """

    def __init__(
        self,
        conn: Connection,
        pending: PendingTable,
        converter: WireConverter,
        meter: RequestMeter,
        redactor: Redactor,
        *,
        last_activity: Callable[[str], str | None],
        timeout: float,
        action_timeout: float,
        verdict_timeout: float | None,
        send_flow_id: bool = False,
    ) -> None:
        self._conn = conn
        self._pending = pending
        self._converter = converter
        self._meter = meter
        self._redactor = redactor
        self._last_activity = last_activity
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.verdict_timeout = verdict_timeout
        self.send_flow_id = send_flow_id
        # One lock per command whose replies may not name their charge point: at most one
        # of each in flight, so attribution is certain (docs/PROTOCOL.md OP-5).
        self._gates = {command: threading.Lock() for command in proto.SERIAL_COMMANDS}

    def call_each(
        self,
        command: str,
        requests: Sequence[tuple[str, Mapping[str, Any]]],
        convert: Converts[T],
    ) -> dict[str, T]:
        """Send ``command`` once per ``(evse_id, fields)``, all first, then await them all.

        The whole batch shares one ``timeout``.

        Returns:
            ``{evse_id: outcome}``.

        Raises:
            BlueCurrentError: The first error of any request (the others are still awaited).
        """
        results: dict[str, T] = {}
        started: list[tuple[str, Waiter[T]]] = []
        first_error: BaseException | None = None
        deadline = time.monotonic() + self.timeout
        # The caller reads the replies itself while the batch runs (Connection.reading): one
        # thread does the I/O, no hand-off to the reader thread per reply.
        with self._conn.reading():
            try:
                for at in range(0, len(requests), _DRAIN_EVERY):
                    chunk = requests[at : at + _DRAIN_EVERY]
                    left = max(0.0, deadline - time.monotonic())
                    waiters = self.start_each(command, chunk, convert, left)
                    started.extend(zip([evse_id for evse_id, _ in chunk], waiters, strict=True))
                    if len(chunk) == _DRAIN_EVERY:
                        self._conn.drain()  # replies already in: read them, never stall the server
                while started:
                    evse_id, waiter = started[0]
                    try:
                        remaining = max(0.0, deadline - time.monotonic())
                        del started[0]  # finish() releases it, whatever happens
                        results[evse_id] = self.finish(waiter, command, evse_id, remaining)
                    except BlueCurrentError as exc:
                        first_error = first_error or exc
            finally:
                # The caller left early (an error while sending, KeyboardInterrupt): no waiter
                # of this call may stay registered for later calls to join.
                for _evse_id, waiter in started:
                    self._pending.release(waiter)
        if first_error is not None:
            raise first_error
        return results

    def action(
        self,
        command: str,
        fields: Mapping[str, Any],
        evse_id: str | None,
        timeout: float | None = None,
    ) -> ActionResult:
        """Send a device or smart-charging command and wait for its verdict.

        Returns:
            The ActionResult (``outcome`` CONFIRMED, or ACKNOWLEDGED without a verdict in
            time).

        Raises:
            ActionFailed: The ack or the verdict said no. RequestTimeoutError: nothing
            within ``timeout`` (default: ``action_timeout`` for two-step commands).
        """

        def convert(frame: Mapping[str, Any]) -> ActionResult:
            result = self._converter.action_result(frame)
            if not result.success:
                raise ActionFailed(evse_id or result.evse_id, command, result.error or "")
            return attrs.evolve(result, evse_id=evse_id or result.evse_id, command=command)

        return self.call(command, fields, evse_id, convert, timeout=timeout, verdict=True)

    @functools.cached_property
    def status_reply(self) -> Reply[ChStatus]:
        """The reply of GET_CH_STATUS: a partial push is PASSed over.

        A CH_STATUS carrying no measurement (a pushed change, ``{"activity": ...}``) is
        never the answer to a read; the call waits for the complete status
        (docs/PROTOCOL.md OP-7). The mirror merges the push either way. The status is the
        frame's shared model (the subscribers' and the mirror's too).
        """
        return Reply(self._converter.ch_status, _complete_status, shared=True)

    @functools.cached_property
    def settings_reply(self) -> Reply[ChSettings]:
        """The reply of GET_CH_SETTINGS: the frame's shared model."""
        return Reply(self._converter.ch_settings, shared=True)

    @staticmethod
    def grid_reply(
        evse_id: str, known_grid: str | None, convert: Callable[[Mapping[str, Any]], T]
    ) -> Reply[T]:
        """The converter of a GET_GRID_STATUS reply that passes over another grid's push.

        A GRID_STATUS names its grid, not the charge point asked about (docs/PROTOCOL.md
        OP-2). It is this read's answer when it names the charge point's own grid
        (``GRID-<evse_id>``), when nothing is known yet about the charge point's grid, or
        when it names the grid an earlier reply for this charge point named
        (``known_grid``); a frame naming another grid is a push and is PASSed over.
        """
        own = own_grid_id(evse_id)

        def ours(frame: Mapping[str, Any]) -> bool:
            grid = grid_id_of(frame)
            return grid is None or known_grid is None or grid in (own, known_grid)

        return Reply(convert, ours)

    def setting(
        self, command: str, evse_id: str, wire_value: bool
    ) -> Callable[[Mapping[str, Any]], SettingResult]:
        """The converter of a setting command's reply (raises ActionFailed on refusal)."""

        def convert(frame: Mapping[str, Any]) -> SettingResult:
            result = self._converter.setting_result(frame, bool(wire_value))
            if not result.success:
                raise ActionFailed(evse_id, command, result.error or "")
            return attrs.evolve(result, evse_id=evse_id)

        return convert

    def _interpreter(
        self, command: str, evse_id: str | None, convert: Converts[T]
    ) -> Callable[[str, Role, Mapping[str, Any]], Any]:
        reply = convert if isinstance(convert, Reply) else Reply(convert)

        def interpret(object_name: str, role: Role, routed: Mapping[str, Any]) -> Any:
            frame = raw(routed)  # the router's FrameCell, or a plain frame
            if role is Role.RESULT:
                # Decided here (under the table's lock, without converting); converted
                # after the lock by the first thread that asks, at most once (see Reply).
                if not reply.accepts(frame):
                    return PASS
                if reply.shared and isinstance(routed, FrameCell):
                    return routed  # the frame's own model, shared with subscribers, mirror
                return FrameCell(frame, reply.convert)  # this request's own conversion
            if role is Role.CONFIRM:
                return self._confirmation(command, evse_id, routed)
            ack = self._converter.action_result(frame)
            if ack.error or not ack.success:
                raise ActionFailed(evse_id or ack.evse_id, command, ack.error or "")
            if role is Role.ACK:
                return self._already_so(command, evse_id) or ACKNOWLEDGED
            return attrs.evolve(ack, evse_id=evse_id or ack.evse_id, command=command)

        return interpret

    @staticmethod
    def _wanted_activity(command: str, activity: str) -> bool:
        if command == proto.SET_INOPERATIVE:
            return activity == proto.BLOCKED_ACTIVITY
        return activity in proto.UNBLOCKED_ACTIVITIES

    def _already_so(self, command: str, evse_id: str | None) -> ActionResult | None:
        """Block/unblock acknowledged while the charge point already shows that activity.

        The server may send nothing more (docs/PROTOCOL.md OP-3: "if the value changes,
        CH_STATUS is sent"), so the call ends at once, confirmed by the last CH_STATUS seen.
        """
        if command not in (proto.SET_OPERATIVE, proto.SET_INOPERATIVE) or evse_id is None:
            return None
        activity = self._last_activity(evse_id)
        if activity is None or not self._wanted_activity(command, activity):
            return None
        detail = f"RECEIVED_{command}; CH_STATUS already showed activity {activity}"
        return _confirmed(command, evse_id, detail)

    def _confirmation(
        self, command: str, evse_id: str | None, routed: Mapping[str, Any]
    ) -> ActionResult | Any:
        """A pushed CH_STATUS as the verdict of block/unblock, or PASS (docs/PROTOCOL.md OP-3).

        Runs under the pending table's lock, so it converts nothing: the router converted
        the cell before routing it (``PendingTable.decides_by_model``). A cell it did not
        convert was read before this request was registered, so before it was sent: no
        verdict on it (a state the charge point already showed is ``_already_so``'s matter).
        """
        try:
            if isinstance(routed, FrameCell):
                if not routed.converted:
                    return PASS
                status = routed.model()
            else:  # a plain frame (no router): converted here
                status = self._converter.ch_status(routed)
        except ResponseValidationError:
            return PASS  # not a confirmation; the status itself is a subscriber's matter
        activity = status.activity.value
        if status.evse_id != evse_id or not self._wanted_activity(command, activity):
            return PASS
        return _confirmed(command, evse_id, f"CH_STATUS activity {activity}")

    def _refuse_reader_thread(self) -> None:
        """A blocking call from the reader thread could never see its reply."""
        if self._conn.on_reader_thread():
            raise ClientStateError("blocking calls cannot be made from the reader thread")

    def start(
        self,
        command: str,
        fields: Mapping[str, Any],
        evse_id: str | None,
        convert: Converts[T],
        timeout: float | None = None,
    ) -> Waiter[T]:
        """Register the waiter (before sending), then send unless an identical GET is in flight.

        The send is bounded by ``timeout`` (default: the ordinary ``timeout``).
        """
        return self.start_each(command, [(evse_id, fields)], convert, timeout)[0]

    def start_each(
        self,
        command: str,
        requests: Sequence[tuple[str | None, Mapping[str, Any]]],
        convert: Converts[T],
        timeout: float | None = None,
    ) -> list[Waiter[T]]:
        """`start()` for each ``(evse_id, fields)``: every waiter registered first, then the
        new ones' frames sent in order under one hold of the send lock (`Connection.send_each`).

        Returns:
            The waiters, in the order of ``requests``.

        Raises:
            What the sends raise; then none of these waiters stays registered for this caller
            (a request whose frame did not go out fails, so a caller that joined it does too).
        """
        self._refuse_reader_thread()
        self._conn.check_usable()
        waiters: list[Waiter[T]] = []
        new: list[tuple[Waiter[T], Mapping[str, Any]]] = []
        roles, shareable, serial, result_only, _action = _shape(command)
        # A reply that is only ever a RESULT is interpreted without its charge point: one
        # interpreter serves every request of the call.
        common = self._interpreter(command, None, convert) if result_only else None
        try:
            for evse_id, wire_fields in requests:
                flow_id = proto.new_flow_id() if self.send_flow_id else None
                fields = wire_fields if flow_id is None else {**wire_fields, proto.FLOW_ID: flow_id}
                waiter, is_new = self._pending.register(
                    command,
                    evse_id,
                    roles,
                    common or self._interpreter(command, evse_id, convert),
                    shareable=shareable,
                    serial=serial,
                    flow_id=flow_id,
                )
                waiters.append(waiter)
                if is_new:
                    if evse_id is not None and command in proto.CONFIRMED_COMMANDS:
                        # Its ack may read the last status (_already_so) under the pending
                        # table's lock: that status is converted now, on this thread; the
                        # statuses arriving from now on are converted by the router before
                        # they are routed (PendingTable.decides_by_model: this waiter awaits
                        # them).
                        self._last_activity(evse_id)
                    new.append((waiter, fields))
        except BaseException:
            for waiter in waiters:
                self._pending.release(waiter)
            raise
        went = 0  # how many frames went out whole (Connection.send_each tells)

        def before_each(index: int) -> None:  # under the send lock: the budget check is exact
            self._meter.admit(1)
            self._pending.mark_sent(new[index][0])

        def sent(count: int) -> None:
            nonlocal went
            went = count

        try:
            self._conn.send_each(
                command,
                [fields for _waiter, fields in new],
                before_each,
                timeout=timeout,
                sent=sent,
            )
        except BaseException as exc:
            unsent = {id(waiter) for waiter, _fields in new[went:]}
            for waiter in waiters:
                if id(waiter) in unsent:
                    self._pending.fail(waiter, exc)
                self._pending.release(waiter)
            raise
        finally:
            self._meter.settle()
        return waiters

    def finish(
        self,
        waiter: Waiter[T],
        command: str,
        evse_id: str | None,
        timeout: float,
        *,
        verdict: bool = False,
    ) -> T:
        """Wait for the outcome.

        With ``verdict``, an acknowledged request whose verdict does not come within
        ``verdict_timeout`` (or the remaining ``timeout``) returns an ACKNOWLEDGED
        ActionResult instead of raising (docs/PROTOCOL.md OP-3, OP-6).
        """
        deadline = time.monotonic() + timeout
        try:
            if not verdict:
                if not self._conn.wait_reply(waiter, timeout):
                    self._raise_held(waiter, command)
                    raise RequestTimeoutError(command, evse_id, timeout)
                return _value(waiter.outcome())
            while not waiter.done:
                now = time.monotonic()
                if waiter.acknowledged:
                    limit = deadline
                    if self.verdict_timeout is not None and waiter.acked_at is not None:
                        limit = min(deadline, waiter.acked_at + self.verdict_timeout)
                    if self._conn.wait_reply(waiter, max(0.0, limit - now)):
                        break
                    unconfirmed: T = self._unconfirmed(
                        command, evse_id, limit - (waiter.acked_at or now)
                    )
                    return unconfirmed
                if now >= deadline:
                    raise RequestTimeoutError(command, evse_id, timeout)
                self._conn.wait_reply(_Progress(waiter), deadline - now)
            return _value(waiter.outcome())
        except BlueCurrentError as exc:
            self._redactor.scrub_error(exc)  # a server echo of a token never reaches the caller
            raise
        finally:
            self._pending.release(waiter)

    def _raise_held(self, waiter: Waiter[Any], command: str) -> None:
        """At a read's timeout, raise the held ERROR it may own (docs/PROTOCOL.md OP-7)."""
        held = self._pending.held_error(waiter) if command in proto.READ_COMMANDS else None
        if isinstance(held, ApiError):
            raise ApiError(
                held.code,
                f"{held.message} (no reply came: this ERROR is most likely the answer; the "
                "server does not say whether it answered an earlier write instead)",
            )

    @staticmethod
    def _unconfirmed(command: str, evse_id: str | None, waited: float) -> Any:
        logger.info(
            "%s%s acknowledged; no verdict within %.1f s: returning outcome ACKNOWLEDGED",
            command,
            f" on {evse_id}" if evse_id else "",
            waited,
        )
        return ActionResult(
            command=command,
            evse_id=evse_id,
            success=None,
            outcome=ActionOutcome.ACKNOWLEDGED,
            detail=f"RECEIVED_{command}; no verdict within {waited:.1f} s",
        )

    def call(
        self,
        command: str,
        fields: Mapping[str, Any],
        evse_id: str | None,
        convert: Converts[T],
        *,
        timeout: float | None = None,
        verdict: bool = False,
    ) -> T:
        """Send ``command`` and wait for its outcome (:meth:`start`, then :meth:`finish`).

        Args:
            command: The command name.
            fields: Its fields.
            evse_id: The charge point it names (None if none).
            convert: Turns the RESULT frame into the return value.
            timeout: Seconds; default ``action_timeout`` for two-step commands, else
                ``timeout``. A gated command waits its turn within it.
            verdict: Wait for a verdict after the ack (see :meth:`finish`).

        Returns:
            What ``convert`` (or the verdict) made of the reply.

        Raises:
            RequestTimeoutError, ClientStateError, and whatever the reply stands for.
        """
        if timeout is None:
            timeout = self.action_timeout if _shape(command).action else self.timeout
        gate = self._gates.get(command)
        if gate is None:
            waiter = self.start(command, fields, evse_id, convert, timeout)
            return self.finish(waiter, command, evse_id, timeout, verdict=verdict)
        # One in flight per command whose replies may not name their charge point; a
        # later call waits its turn within its own timeout (docs/PROTOCOL.md OP-5). A read
        # identical to the one in flight shares it instead of queueing for a second frame.
        started = time.monotonic()
        self._refuse_reader_thread()
        if command in proto.DEDUP_COMMANDS:
            self._conn.check_usable()
            joined = self._pending.join(command, evse_id)
            if joined is not None:
                shared: T = self.finish(joined, command, evse_id, timeout, verdict=verdict)
                return shared
        if not gate.acquire(timeout=timeout):
            raise RequestTimeoutError(command, evse_id, timeout)
        try:
            remaining = max(0.0, timeout - (time.monotonic() - started))
            waiter = self.start(command, fields, evse_id, convert, remaining)
            return self.finish(waiter, command, evse_id, remaining, verdict=verdict)
        finally:
            gate.release()


class Reply(Generic[T]):
    """How a RESULT frame becomes a call's value.

    ``accepts`` decides at once, on the reader thread under the pending table's lock and
    without converting, whether the frame answers the request (a partial status or another
    grid's push does not); ``convert`` runs afterwards, on the thread that first asks for
    the value, outside that lock, once however many callers share the request.

    ``shared``: ``convert`` is the object's standard converter (the one of
    ``_convert.OBJECTS``, which the router's cells use), so the value is the frame's one
    model, converted once for the callers, the subscribers and the mirror together. A
    converter that depends on the request (a grid read, an action, a setting) or whose value
    the caller may change (a list) is not shared: the request converts its own.
    """

    __slots__ = ("accepts", "convert", "shared")

    def __init__(
        self,
        convert: Callable[[Mapping[str, Any]], T],
        accepts: Callable[[Mapping[str, Any]], bool] = lambda _frame: True,
        *,
        shared: bool = False,
    ) -> None:
        self.convert = convert
        self.accepts = accepts
        self.shared = shared


#: A plain converter, or a :class:`Reply`.
Converts = Callable[[Mapping[str, Any]], T] | Reply[T]


class _Shape(NamedTuple):
    """What a request of one command needs, read from the command table once (`_shape()`)."""

    roles: dict[str, Role]  # its reply roles (shared: each waiter copies them)
    shareable: bool  # an identical request in flight is shared
    serial: bool  # one in flight at a time
    result_only: bool  # every reply is a RESULT
    action: bool  # bounded by ``action_timeout`` by default


@functools.cache  # one entry per command the client sends
def _shape(command: str) -> _Shape:
    roles = proto.reply_roles(command)
    spec = proto.COMMANDS.get(command)
    return _Shape(
        roles,
        shareable=command in proto.DEDUP_COMMANDS,
        serial=command in proto.SERIAL_COMMANDS,
        result_only=all(role is Role.RESULT for role in roles.values()),
        action=spec is not None and spec.timeout is proto.Timeout.ACTION,
    )


def _complete_status(frame: Mapping[str, Any]) -> bool:
    return not is_partial_status(frame)


def _value(outcome: T) -> T:
    """A waiter's outcome as the caller's value: a deferred RESULT is converted now (or was,
    by whoever asked first); a failed conversion raises the caller's own copy."""
    if isinstance(outcome, FrameCell):
        value: T = outcome.model()
        return value
    return outcome


def _confirmed(command: str, evse_id: str | None, detail: str) -> ActionResult:
    return ActionResult(
        command=command,
        evse_id=evse_id,
        success=True,
        outcome=ActionOutcome.CONFIRMED,
        detail=detail,
    )


class _Progress:
    """A waiter seen as done once it is acknowledged or done (for ``Connection.wait_reply``)."""

    __slots__ = ("_waiter",)

    def __init__(self, waiter: Waiter[Any]) -> None:
        self._waiter = waiter

    @property
    def done(self) -> bool:
        return self._waiter.done or self._waiter.acknowledged

    def wait(self, timeout: float) -> bool:
        return self._waiter.wait_progress(timeout)
