"""Wire facts shared by every layer: names, codes, evse-id rules, error mapping, the zone.

The bottom of the client (with ``_redact.py``): it imports only the models' neighbours
(``errors``) and the standard library, so the transport, the router, the converter, the
request machinery and the simulator can all use it. Each rule here has no other home:

* object names the client itself routes by, and `object_name_of()`;
* `evse_id_of()` / `routing_evse_id()` (docs/PROTOCOL.md section 6, OP-2, OP-5);
* the close code, upgrade-rejection header and ERROR codes the server uses, and the ONE mapping from
  each of them to an exception (`error_for_code()`, `error_for_close()`, `error_for_rejection()`,
  `error_for_frame()`);
* `AMSTERDAM` and `next_reset_at()` (the daily quota reset).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from . import _clock
from .errors import (
    AlreadyConnected,
    ApiError,
    BlueCurrentError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
)

__all__ = [
    "AMSTERDAM",
    "CLOSE_CODE_LIMIT",
    "ERROR_INVALID_AUTH",
    "ERROR_LIMIT",
    "ERROR_NOT_AUTHORIZED",
    "OBJ_ACCOUNT",
    "OBJ_CHARGE_CARDS",
    "OBJ_CHARGE_POINTS",
    "OBJ_CH_SETTINGS",
    "OBJ_CH_STATUS",
    "OBJ_ERROR",
    "OBJ_GRID_CURRENT",
    "OBJ_GRID_STATUS",
    "OBJ_HELLO",
    "OBJ_STATUS_API_TOKEN",
    "REASON_ALREADY_CONNECTED",
    "REASON_LIMIT",
    "REJECT_REASON_HEADER",
    "copy_error",
    "error_code_of",
    "error_for_close",
    "error_for_code",
    "error_for_rejection",
    "evse_id_of",
    "grid_id_of",
    "is_partial_status",
    "merged_status",
    "next_reset_at",
    "object_name_of",
    "own_grid_id",
    "routing_evse_id",
    "whole",
]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
"""The server's zone: naive wire timestamps and the daily quota are in it."""

# Object names the client itself routes by.
OBJ_ERROR = "ERROR"
OBJ_HELLO = "HELLO"
OBJ_STATUS_API_TOKEN = "STATUS_API_TOKEN"  # noqa: S105 - an object name
OBJ_ACCOUNT = "ACCOUNT"
OBJ_CH_STATUS = "CH_STATUS"
OBJ_CH_SETTINGS = "CH_SETTINGS"
OBJ_GRID_STATUS = "GRID_STATUS"
OBJ_GRID_CURRENT = "GRID_CURRENT"
OBJ_CHARGE_POINTS = "CHARGE_POINTS"
OBJ_CHARGE_CARDS = "CHARGE_CARDS"

#: The close code the server uses for a used-up request quota.
CLOSE_CODE_LIMIT = 4001
#: The header of a refused websocket upgrade that says why.
REJECT_REASON_HEADER = "x-websocket-reject-reason"
REASON_LIMIT = "request limit reached"
REASON_ALREADY_CONNECTED = "already connected"
#: ERROR frame codes with a meaning of their own (others become
#: [`ApiError`][bluecurrent_sync.errors.ApiError]).
ERROR_INVALID_AUTH = 1
ERROR_NOT_AUTHORIZED = 2
ERROR_LIMIT = 42

#: "for chargepoint: BCU101" inside an error text (RECEIVED_STOP_SESSION, docs/PROTOCOL.md OP-5).
_EVSE_IN_TEXT = re.compile(r"for chargepoint:\s*([A-Za-z0-9_-]+)", re.IGNORECASE)
#: Objects whose evse_id is never read from the frame for routing (docs/PROTOCOL.md OP-2).
_UNATTRIBUTABLE_IDS = frozenset({OBJ_GRID_STATUS})


def object_name_of(frame: Mapping[str, Any]) -> str | None:
    """Return the frame's object name, or None when it has none (or not a string).

    A server frame names itself with ``object``; one shape in Blue Current's published
    examples (LIST_OVERRIDE_CURRENT) uses ``command`` instead (docs/PROTOCOL.md OP-8), so a
    ``command`` is the name when ``object`` is missing (the server never echoes commands
    otherwise).
    """
    name = frame.get("object")
    if name is None:
        name = frame.get("command")
    return name if isinstance(name, str) and name else None


def evse_id_of(frame: Mapping[str, Any]) -> str | None:
    """Return the charge point a frame concerns (docs/PROTOCOL.md section 6), or None.

    The top-level ``evse_id``, else ``data.evse_id``, else ``data.id`` without its
    ``GRID-`` prefix, else the id in an ``error`` text "... for chargepoint: <id>". Never
    raises, whatever the frame holds.
    """
    # ``type(...) is dict`` first (as in `is_partial_status`): this runs for every routed frame.
    if type(frame) is not dict and not isinstance(frame, Mapping):  # json.loads gives anything
        return None  # type: ignore[unreachable,unused-ignore]
    top = frame.get("evse_id")
    if isinstance(top, str) and top:
        return top
    data = frame.get("data")
    if isinstance(data, Mapping):
        inner = data.get("evse_id")
        if isinstance(inner, str) and inner:
            return inner
        grid = data.get("id")
        if isinstance(grid, str) and grid:
            return grid.removeprefix("GRID-") or None
    error = frame.get("error")
    if isinstance(error, str) and error:
        found = _EVSE_IN_TEXT.search(error)
        if found:
            return found.group(1)
    return None


def routing_evse_id(object_name: str, frame: Mapping[str, Any]) -> str | None:
    """The evse_id a frame is routed by: `evse_id_of()`, except for GRID_STATUS.

    A GRID_STATUS ``data.id`` may name another charge point on the same (account-level)
    grid, so it never attributes the frame (docs/PROTOCOL.md OP-2): it answers the one
    GET_GRID_STATUS in flight.
    """
    if object_name in _UNATTRIBUTABLE_IDS:
        return None
    return evse_id_of(frame)


def grid_id_of(frame: Mapping[str, Any]) -> str | None:
    """A GRID_STATUS frame's grid id (``data.id``, ``"GRID-<evse_id>"``), or None. Never raises."""
    data = frame.get("data") if isinstance(frame, Mapping) else None
    grid = data.get("id") if isinstance(data, Mapping) else None
    return grid if isinstance(grid, str) and grid else None


def own_grid_id(evse_id: str) -> str:
    """The grid id a GRID_STATUS of ``evse_id``'s own installation carries (OP-2)."""
    return f"GRID-{evse_id}"


#: The measurements a CH_STATUS answering GET_CH_STATUS carries (docs/PROTOCOL.md 3.2).
STATUS_MEASUREMENTS = frozenset(
    {"actual_v1", "actual_v2", "actual_v3", "actual_p1", "actual_p2", "actual_p3", "actual_kwh"}
)


def is_partial_status(frame: Mapping[str, Any]) -> bool:
    """Whether a CH_STATUS carries none of the measurements (a push of a change only).

    Such a push (``{"activity": "charging"}``, say) is never the answer to a read: the
    reply to GET_CH_STATUS carries the measurements (docs/PROTOCOL.md OP-7). Never raises.
    """
    # ``type(...) is dict`` first: a decoded frame is one, and asking the Mapping ABC about it
    # costs a Python-level call (this runs twice for every CH_STATUS).
    data = frame.get("data") if type(frame) is dict or isinstance(frame, Mapping) else None
    if type(data) is not dict and not isinstance(data, Mapping):
        return False  # not a status at all: the converter says what is wrong with it
    return STATUS_MEASUREMENTS.isdisjoint(data)


def merged_status(older: Mapping[str, Any], newer: Mapping[str, Any]) -> dict[str, Any]:
    """``newer`` (a partial CH_STATUS) with the fields it lacks taken from ``older``'s data."""
    old_data = older.get("data")
    new_data = newer.get("data")
    if not isinstance(old_data, Mapping) or not isinstance(new_data, Mapping):
        return dict(newer)
    return {**newer, "data": {**old_data, **new_data}}


def next_reset_at(now: _dt.datetime | None = None) -> _dt.datetime:
    """Return when the daily quota resets: the next 00:00:30 Europe/Amsterdam (aware).

    Args:
        now: The current time (aware); defaults to now.
    """
    current = (now or _clock.now()).astimezone(AMSTERDAM)
    today_reset = _dt.datetime.combine(current.date(), _dt.time(0, 0, 30), tzinfo=AMSTERDAM)
    if current < today_reset:
        return today_reset
    tomorrow = current.date() + _dt.timedelta(days=1)
    return _dt.datetime.combine(tomorrow, _dt.time(0, 0, 30), tzinfo=AMSTERDAM)


# -- error mapping: the one place a server signal becomes an exception ------------------


def whole(value: object) -> int | None:
    """``value`` as an int if it is a JSON integer (``1`` or ``1.0``, never a bool), else None.

    JSON Schema counts a number with a zero fractional part as an integer, so the wire
    schemas accept ``1.0`` wherever they say ``integer``; the client does too.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def error_code_of(value: object) -> int | None:
    """An ERROR frame's ``error`` value as an integer code (``"42"`` and ``42.0`` -> 42).

    Returns:
        The code, or None when the value is missing or not a whole number.
    """
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return whole(value)


def error_for_code(code: int | None, message: str) -> BlueCurrentError:
    """Map an ERROR frame's code to the exception it stands for."""
    if code == ERROR_INVALID_AUTH:
        return InvalidApiToken(message or "Invalid Auth Token")
    if code == ERROR_LIMIT:
        return RequestLimitReached(message or "Request limit reached", next_reset_at())
    return ApiError(code, message)


def error_for_close(code: int | None, reason: str) -> BlueCurrentError:
    """Map the server's close frame (code and reason) to the exception it stands for."""
    if code == CLOSE_CODE_LIMIT:
        return RequestLimitReached("Request limit reached", next_reset_at())
    if REASON_ALREADY_CONNECTED in reason.lower():
        return AlreadyConnected("Already connected")
    return ConnectionClosedError(f"the server closed the connection (code {code})")


def error_for_rejection(status: int, reason: str) -> BlueCurrentError:
    """Map a refused websocket upgrade (HTTP status, reject-reason header) to its exception.

    Redirects are refused, never followed: a 3xx would send the token (VALIDATE_API_TOKEN,
    HELLO) to wherever ``Location`` points, possibly another host or plain ``ws://``; its
    value is never shown (it may carry secrets).
    """
    if 300 <= status < 400:
        return ConnectionClosedError(
            f"the server answered the websocket upgrade with a redirect (HTTP {status}); "
            "redirects are not followed"
        )
    reason = reason.lower()
    if REASON_LIMIT in reason:
        return RequestLimitReached("Request limit reached", next_reset_at())
    if REASON_ALREADY_CONNECTED in reason:
        return AlreadyConnected("Already connected")
    return ConnectionClosedError(f"the server refused the connection (HTTP {status})")


def copy_error(error: BlueCurrentError) -> BlueCurrentError:
    """A fresh exception of the same kind, data and cause (each caller raises its own object:
    one shared instance would collect every caller's traceback)."""
    # Its own class and attributes, without calling __init__ (subclasses such as
    # DailyBudgetExceeded take other arguments than their message).
    clone: BlueCurrentError = type(error).__new__(type(error), *error.args)
    clone.__dict__.update(error.__dict__)
    clone.__cause__ = error.__cause__
    clone.__suppress_context__ = error.__suppress_context__
    return clone
