"""From an incoming text frame to the waiters and the dispatcher (runs on the reader thread).

frame text → JSON object → ERROR handling | pending waiters by (object, evse_id) → subscribers.
Bad input is logged (redacted) and dropped; it never raises into the reader loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from . import _protocol as proto
from ._connection import copy_error, error_for_code
from ._convert import WireConverter, evse_id_of, redact
from ._dispatch import Dispatcher
from ._pending import PendingTable, Waiter
from .errors import RequestLimitReached, ResponseValidationError

__all__ = ["Router"]

logger = logging.getLogger(__name__)


class Router:
    """Routes each incoming frame.

    Args:
        converter: The client's converter.
        pending: The client's waiters.
        dispatcher: Receives every routed frame for its subscribers.
        on_limit: Called with ``reset_at`` when the server reports ERROR 42.
        on_token_refused: Called after ERROR 1 has failed the pending requests (the
            connection validates the API token again).
    """

    def __init__(
        self,
        converter: WireConverter,
        pending: PendingTable,
        dispatcher: Dispatcher,
        on_limit: Callable[[Any], None],
        *,
        on_token_refused: Callable[[], None] | None = None,
    ) -> None:
        self._converter = converter
        self._pending = pending
        self._dispatcher = dispatcher
        self._on_limit = on_limit
        self._on_token_refused = on_token_refused

    def on_frame(self, text: str) -> None:
        """Handle one text frame from the socket."""
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            logger.warning("dropped a frame that is not JSON (%d bytes)", len(text))
            return
        if not isinstance(frame, dict):
            logger.warning("dropped a frame that is not a JSON object (%s)", type(frame).__name__)
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("recv %s", redact(frame))
        name = proto.object_name_of(frame)
        if name is None:
            logger.warning("dropped a frame without an object name: %s", redact(frame))
            return
        if name == proto.OBJ_ERROR:
            self._on_error(frame)
        elif name != proto.OBJ_HELLO:
            self._pending.route(name, evse_id_of(frame), frame)
        self._dispatcher.publish(name, frame)

    def _on_error(self, frame: dict[str, Any]) -> None:
        try:
            server_error = self._converter.server_error(frame)
        except ResponseValidationError as exc:
            logger.warning("dropped a malformed ERROR frame: %s", exc)
            return
        error = error_for_code(server_error.code, server_error.message)
        if server_error.code in (proto.ERROR_INVALID_AUTH, proto.ERROR_LIMIT):
            count = self._pending.fail_all(lambda _waiter: copy_error(error))
            logger.warning("server error %s failed %d pending request(s)", server_error.code, count)
            if isinstance(error, RequestLimitReached):
                self._on_limit(error.reset_at)
            elif self._on_token_refused is not None:
                self._on_token_refused()
            return
        failed: Waiter[Any] | None = self._pending.fail_oldest(error)
        if failed is None:
            logger.warning("server error %s with no request pending: %s", server_error.code, error)
        else:
            logger.info("server error %s failed %s", server_error.code, failed.command)
