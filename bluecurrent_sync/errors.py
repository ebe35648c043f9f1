"""The exception hierarchy of bluecurrent_sync.

Every error the SDK raises derives from :class:`BlueCurrentError`. Connection and
timeout errors also derive from the built-in :class:`ConnectionError` and
:class:`TimeoutError`, so code that already handles those keeps working.

No exception message ever contains the user's API token or the server-issued token.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ActionFailed",
    "AlreadyConnected",
    "ApiError",
    "BlueCurrentError",
    "ClientStateError",
    "ConnectionClosedError",
    "InvalidApiToken",
    "RequestLimitReached",
    "RequestTimeoutError",
    "ResponseValidationError",
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

    def __str__(self) -> str:
        return f"{self.args[0]} (the quota resets at {self.reset_at.isoformat()})"


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


class ClientStateError(BlueCurrentError, RuntimeError):
    """The client was used in a way its state does not allow.

    For example a blocking call made before ``connect()``, after ``close()``, or from
    inside an event handler (which would otherwise deadlock the dispatcher).
    """
