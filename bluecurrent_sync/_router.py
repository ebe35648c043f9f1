"""From an incoming text frame to the waiters and the dispatcher (runs on the reader thread).

frame text → JSON object → ERROR handling | pending waiters by (object, evse_id) → subscribers.
Each routed frame travels in one :class:`~bluecurrent_sync._cell.FrameCell` (the mirror, the
waiters and the subscribers share its one conversion); the router itself converts nothing.
Bad input is logged (redacted) and dropped; it never raises into the reader loop. An error that
concerns the connection itself (ERROR 1, ERROR 42) is returned to the connection, which owns
what happens next (re-validation, the limited state); the router never calls upward.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from . import _protocol as proto
from ._cell import FrameCell
from ._convert import OBJECTS, FrameDecoder, WireConverter, redact
from ._dispatch import Dispatcher
from ._log import CONNECTION
from ._pending import PendingTable, Waiter
from ._wire import ERROR_NOT_AUTHORIZED, copy_error, error_code_of, routing_evse_id
from .errors import InvalidApiToken, ReplyTooLarge, RequestLimitReached

__all__ = ["ConnectionLevelError", "Router"]

#: The errors a frame can carry that concern the connection rather than one request.
ConnectionLevelError = InvalidApiToken | RequestLimitReached

logger = logging.getLogger(CONNECTION)

#: The object name and evse_id, read from the first bytes of a message too large to parse.
_OBJECT_IN_PREFIX = re.compile(rb'"object"\s*:\s*"([A-Z0-9_]{1,64})"')
_EVSE_IN_PREFIX = re.compile(rb'"evse_id"\s*:\s*"([^"\\]{1,64})"')


class Router:
    """Routes each incoming frame.

    Args:
        converter: The client's converter.
        pending: The client's waiters.
        dispatcher: Receives every routed frame for its subscribers.
        observe: Called with ``(object name, evse_id, cell)`` for every routed frame other
            than ERROR and HELLO, before any waiter sees it (the live mirror). The cell is
            the frame (a mapping) and its model, converted by ``converter.event`` once, by
            whoever asks first; the waiters and the dispatcher get the same cell.
    """

    def __init__(
        self,
        converter: WireConverter,
        pending: PendingTable,
        dispatcher: Dispatcher,
        *,
        observe: Callable[[str, str | None, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._converter = converter
        self._pending = pending
        self._dispatcher = dispatcher
        self._observe = observe
        self._decoder = FrameDecoder()  # used by the reader only (and connect() before it)
        self._nonfinite_logged = False
        self._model = converter.event  # THE frame → model function of every shared cell
        # The same, per object with a model, without looking the object up again.
        self._models = {name: spec.converter(converter) for name, spec in OBJECTS.items()}

    def on_frame(self, text: str) -> ConnectionLevelError | None:
        """Handle one text frame from the socket.

        Returns:
            The error when the frame is ERROR 1 (:class:`InvalidApiToken`) or ERROR 42
            (:class:`RequestLimitReached`): every pending request has failed with it, and the
            connection decides what follows. None for every other frame.
        """
        try:
            frame = self._decoder.decode(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            logger.warning("dropped a frame that is not JSON (%d bytes)", len(text))
            return None
        if self._decoder.nonfinite and not self._nonfinite_logged:
            self._nonfinite_logged = True
            logger.warning(
                "the server sent NaN/Infinity or an out-of-range number; read as unknown "
                "(None), see docs/PROTOCOL.md OP-11 (logged once)"
            )
        if not isinstance(frame, dict):
            logger.warning("dropped a frame that is not a JSON object (%s)", type(frame).__name__)
            return None
        name = proto.object_name_of(frame)
        if name is None:
            logger.warning("dropped a frame without an object name: %s", redact(frame))
            return None
        fatal: ConnectionLevelError | None = None
        cell = FrameCell(frame, self._models.get(name, self._model))  # converts nothing yet
        if name == proto.OBJ_ERROR:
            fatal = self._on_error(frame)
        elif name != proto.OBJ_HELLO:
            evse_id = routing_evse_id(name, frame)
            if self._pending.decides_by_model(name, evse_id):
                cell.prepare()  # converted here, never under the table's lock
            if self._observe is not None:
                self._observe(name, evse_id, cell)
            self._pending.route(name, evse_id, cell)
        self._dispatcher.publish(name, cell)
        return fatal

    def on_oversize(self, prefix: bytes, size: int, limit: int) -> None:
        """A message over ``max_frame_bytes`` was dropped: fail the request it answers at
        once with :class:`ReplyTooLarge` (found by the object name and evse_id in its first
        bytes), rather than let it wait out its timeout."""
        name = _OBJECT_IN_PREFIX.search(prefix)
        if name is None:
            logger.warning("dropped a message of %d bytes without a readable object name", size)
            return
        object_name = name.group(1).decode()  # ASCII by the pattern
        evse = _EVSE_IN_PREFIX.search(prefix)
        evse_id = evse.group(1).decode(errors="replace") if evse is not None else None
        error = ReplyTooLarge(object_name, evse_id, size, limit)
        failed = self._pending.fail_match(object_name, evse_id, error)
        if failed is not None:
            logger.warning("%s: %s failed at once", error, failed.command)

    def _on_error(self, frame: dict[str, Any]) -> ConnectionLevelError | None:
        error = self._converter.server_exception(frame)  # malformed: an ApiError, code None
        code = error_code_of(frame.get("error"))
        if isinstance(error, (InvalidApiToken, RequestLimitReached)):
            count = self._pending.fail_all(lambda _waiter: copy_error(error))
            logger.warning(
                "server error %s failed %d pending request(s)", frame.get("error"), count
            )
            return error
        # ERROR names no request: it answers the oldest one still unanswered (the server
        # answers in order), or waits for evidence when a silent write may own it too;
        # "not authorized" can only answer a request naming a charge point or a schedule
        # (docs/PROTOCOL.md OP-7).
        eligible = _names_a_resource if code == ERROR_NOT_AUTHORIZED else None
        failed = self._pending.attribute_error(error, eligible, frame.get("flow_id"))
        if failed is None:
            logger.warning("server error %s with no request pending: %s", code, error)
        elif isinstance(failed, list):
            logger.info(
                "server error %s may answer any of %s; held until the others are answered",
                code,
                ", ".join(waiter.command for waiter in failed),
            )
        else:
            logger.info("server error %s failed %s", code, failed.command)
        return None


def _names_a_resource(waiter: Waiter[Any]) -> bool:
    return waiter.evse_id is not None or waiter.command in proto.SCHEDULE_COMMANDS
