"""The exception hierarchy of bluecurrent_sync.

Every error the SDK raises derives from
[`BlueCurrentError`][bluecurrent_sync.errors.BlueCurrentError]. Connection and timeout errors also
derive from the built-in `ConnectionError` and `TimeoutError`, so code that already handles those
keeps working.

No exception message ever contains the user's API token or the server-issued token.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from . import _clock

__all__ = [
    "ActionFailed",
    "AlreadyConnected",
    "ApiError",
    "BlueCurrentError",
    "ClientStateError",
    "ConnectionClosedError",
    "DailyBudgetExceeded",
    "InvalidApiToken",
    "ReplyTooLarge",
    "RequestLimitReached",
    "RequestTimeoutError",
    "ResponseValidationError",
    "UsageFileError",
]


class BlueCurrentError(Exception):
    """Base class of every error raised by bluecurrent_sync."""


class InvalidApiToken(BlueCurrentError):
    """The server refused the API token (validation failed, or ERROR code 1)."""


class RequestLimitReached(BlueCurrentError):
    """The daily request quota is used up (ERROR 42, close code 4001 or a refused handshake).

    Attributes:
        reset_at: When the quota resets: the next 00:00:30 Europe/Amsterdam, as an
            aware datetime.
    """

    def __init__(self, message: str, reset_at: _dt.datetime) -> None:
        super().__init__(message)
        self.reset_at = reset_at

    @property
    def retry_after(self) -> float:
        """Seconds from now until `reset_at` (0.0 once it has passed).

        Read from the package's clock, so it agrees with the reset time the client computed.
        """
        return max(0.0, (self.reset_at - _clock.now()).total_seconds())

    def __str__(self) -> str:
        return f"{self.args[0]} (the quota resets at {self.reset_at.isoformat()})"


class DailyBudgetExceeded(RequestLimitReached):
    """The client's own ``daily_budget`` is used up; the frame was NOT sent.

    A local limit, checked before the server's quota is touched. It derives from
    [`RequestLimitReached`][bluecurrent_sync.errors.RequestLimitReached], so code that waits out the
    server's quota handles it too.

    Attributes:
        budget: The ``daily_budget``.
        used: Requests counted today (in the usage file, when one is shared).
        reset_at: The next 00:00 Europe/Amsterdam, when the count starts again.
    """

    def __init__(self, budget: int, used: int, reset_at: _dt.datetime) -> None:
        if used >= budget:
            message = f"the daily request budget of {budget} is used up ({used} requests today)"
        else:
            message = (
                f"the daily request budget of {budget} would be passed: {used} requests "
                f"today, and {budget - used} left are too few for this"
            )
        super().__init__(message, reset_at)
        self.budget = budget
        self.used = used

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.budget, self.used, self.reset_at))


class UsageFileError(BlueCurrentError):
    """The usage file cannot be used: not a usage file (left untouched), or an I/O error."""


class AlreadyConnected(BlueCurrentError):
    """The server refused the connection because this IP/token is already connected."""


class ConnectionClosedError(BlueCurrentError, ConnectionError):
    """The connection is closed, could not be opened, or was lost while a call waited."""


class RequestTimeoutError(BlueCurrentError, TimeoutError):
    """No reply arrived within the call's timeout.

    Attributes:
        command: The command that was sent.
        evse_id: The charge point it concerned, if any.
        timeout: The number of seconds waited.
    """

    def __init__(self, command: str, evse_id: str | None, timeout: float) -> None:
        where = f" for {evse_id}" if evse_id else ""
        super().__init__(f"no reply to {command}{where} within {timeout:g} s")
        self.command = command
        self.evse_id = evse_id
        self.timeout = timeout


class ApiError(BlueCurrentError):
    """The server answered with an ERROR object.

    Attributes:
        code: The server's numeric error code (0 unknown command, 2 not authorized, ...).
        message: The server's message.
    """

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"server error {code}: {message}")
        self.code = code
        self.message = message


class ActionFailed(BlueCurrentError):
    """The server or the charger refused an action.

    Raised for a ``RECEIVED_<CMD>`` acknowledgement that carries an error, or a
    ``STATUS_<CMD>`` result with ``success: false``.

    Attributes:
        evse_id: The charge point.
        command: The command that failed (for example ``"START_SESSION"``).
        error: The server's error text (for example ``"REJECTED"``).
    """

    def __init__(self, evse_id: str | None, command: str, error: str) -> None:
        where = f" on {evse_id}" if evse_id else ""
        super().__init__(f"{command}{where} failed: {error or 'no reason given'}")
        self.evse_id = evse_id
        self.command = command
        self.error = error


class ResponseValidationError(BlueCurrentError):
    """A frame from the server could not be converted into its model.

    Only the request that the frame answers fails; the connection carries on.

    Attributes:
        object_name: The frame's ``object`` name, if it had one.
        field: Dotted path of the offending field, if known.
        raw: The raw frame as received (a dict, or the text if it was not JSON).
    """

    def __init__(
        self,
        message: str,
        *,
        object_name: str | None = None,
        field: str | None = None,
        raw: Mapping[str, Any] | str | bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.object_name = object_name
        self.field = field
        self.raw = raw


class ReplyTooLarge(ResponseValidationError):
    """A reply was larger than the client's ``max_frame_bytes``; it was dropped unread.

    Attributes:
        size: The reply's size in bytes (as far as it was seen).
        limit: The ``max_frame_bytes`` it exceeded.
    """

    def __init__(self, object_name: str, evse_id: str | None, size: int, limit: int) -> None:
        where = f" for {evse_id}" if evse_id else ""
        super().__init__(
            f"the {object_name} reply{where} of {size} bytes exceeds max_frame_bytes={limit}; "
            f"make the Client with a larger max_frame_bytes",
            object_name=object_name,
        )
        self.size = size
        self.limit = limit


class ClientStateError(BlueCurrentError, RuntimeError):
    """The client was used in a way its state does not allow.

    For example a blocking call made before ``connect()`` or after ``close()``, or from the
    reader thread (a frame tap). Calls from event handlers are allowed: handlers run on the
    dispatcher thread, which the reply does not need.
    """
