"""Command names, reply families and command-frame builders (docs/PROTOCOL.md sections 1, 2, 6).

This module and ``_convert.py`` are the only places that know wire field names. Everything
here is pure: no I/O, no state.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import re
import types
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._args import require_bool, require_evse_id, require_text
from ._wire import (  # the wire facts every command rule builds on, re-exported here
    AMSTERDAM,
    CLOSE_CODE_LIMIT,
    ERROR_INVALID_AUTH,
    ERROR_LIMIT,
    ERROR_NOT_AUTHORIZED,
    OBJ_ACCOUNT,
    OBJ_CH_SETTINGS,
    OBJ_CH_STATUS,
    OBJ_CHARGE_CARDS,
    OBJ_CHARGE_POINTS,
    OBJ_ERROR,
    OBJ_GRID_STATUS,
    OBJ_HELLO,
    OBJ_STATUS_API_TOKEN,
    REASON_ALREADY_CONNECTED,
    REASON_LIMIT,
    REJECT_REASON_HEADER,
    next_reset_at,
    object_name_of,
)

__all__ = [
    "AMSTERDAM",
    "CLOSE_CODE_LIMIT",
    "COMMANDS",
    "CONFIRMED_COMMANDS",
    "DEDUP_COMMANDS",
    "ERROR_INVALID_AUTH",
    "ERROR_LIMIT",
    "ERROR_NOT_AUTHORIZED",
    "OBJ_ACCOUNT",
    "OBJ_CHARGE_CARDS",
    "OBJ_CHARGE_POINTS",
    "OBJ_CH_SETTINGS",
    "OBJ_CH_STATUS",
    "OBJ_ERROR",
    "OBJ_GRID_STATUS",
    "OBJ_HELLO",
    "OBJ_STATUS_API_TOKEN",
    "READ_COMMANDS",
    "REASON_ALREADY_CONNECTED",
    "REASON_LIMIT",
    "REJECT_REASON_HEADER",
    "SCHEDULE_COMMANDS",
    "SERIAL_COMMANDS",
    "SMART_COMMANDS",
    "TWO_STEP_COMMANDS",
    "WEEKDAYS",
    "CommandSpec",
    "Family",
    "Role",
    "Timeout",
    "command_frame",
    "delayed_charging_schedule_fields",
    "encode",
    "hello_frame",
    "next_reset_at",
    "normalise_hhmm",
    "object_name_of",
    "override_current_fields",
    "price_settings_fields",
    "reply_roles",
    "validate_frame",
]


# Commands.
VALIDATE_API_TOKEN = "VALIDATE_API_TOKEN"  # noqa: S105 - a command name
GET_ACCOUNT = "GET_ACCOUNT"
HELLO = "HELLO"
GET_CHARGE_POINTS = "GET_CHARGE_POINTS"
GET_CHARGE_CARDS = "GET_CHARGE_CARDS"
GET_CH_STATUS = "GET_CH_STATUS"
GET_CH_SETTINGS = "GET_CH_SETTINGS"
GET_GRID_STATUS = "GET_GRID_STATUS"
SET_PUBLIC_CHARGING = "SET_PUBLIC_CHARGING"
SET_PLUG_AND_CHARGE = "SET_PLUG_AND_CHARGE"
SET_OPERATIVE = "SET_OPERATIVE"
SET_INOPERATIVE = "SET_INOPERATIVE"
SOFT_RESET = "SOFT_RESET"
REBOOT = "REBOOT"
START_SESSION = "START_SESSION"
STOP_SESSION = "STOP_SESSION"
SET_DELAYED_CHARGING = "SET_DELAYED_CHARGING"
SAVE_SCHEDULE_DELAYED_CHARGING = "SAVE_SCHEDULE_DELAYED_CHARGING"
SET_PRICE_BASED_CHARGING = "SET_PRICE_BASED_CHARGING"
PATCH_PRICE_BASED_CHARGING_SETTINGS = "PATCH_PRICE_BASED_CHARGING_SETTINGS"
OVERRIDE_CHARGING_PROFILES = "OVERRIDE_CHARGING_PROFILES"
OVERRIDE_DELAYED_CHARGING_TIMEOUT = "OVERRIDE_DELAYED_CHARGING_TIMEOUT"
LIST_OVERRIDE_CURRENT = "LIST_OVERRIDE_CURRENT"
POST_SET_OVERRIDE_CURRENT = "POST_SET_OVERRIDE_CURRENT"
POST_EDIT_OVERRIDE_CURRENT = "POST_EDIT_OVERRIDE_CURRENT"
POST_CLEAR_OVERRIDE_CURRENT = "POST_CLEAR_OVERRIDE_CURRENT"


class Role(enum.Enum):
    """What a reply object means to the request waiting for it."""

    #: The answer: convert it and resolve the request.
    RESULT = "result"
    #: An acknowledgement: a non-empty ``error`` fails the request, otherwise it is noted.
    ACK = "ack"
    #: An acknowledgement that also ends the request when error-free (undocumented replies).
    ACK_OR_RESULT = "ack_or_result"
    #: A frame that may confirm the request (a pushed CH_STATUS showing the activity a
    #: block/unblock asked for, docs/PROTOCOL.md OP-3); others are passed over.
    CONFIRM = "confirm"


class Family(enum.Enum):
    """How a command is answered (docs/PROTOCOL.md section 6); :func:`reply_roles` reads it."""

    #: A read: its answer object (``CommandSpec.answer``) at once, or an ERROR.
    READ = "read"
    #: A setting: ``RECEIVED_X`` acknowledges, ``STATUS_X`` is the verdict (OP-4).
    SETTING = "setting"
    #: A two-step device command: ``RECEIVED_X``, then the device result ``STATUS_X``.
    DEVICE = "device"
    #: A device command a pushed CH_STATUS may confirm as well (block/unblock, OP-3).
    CONFIRMED = "confirmed"
    #: Smart charging: acknowledgement, then (maybe) a verdict ``STATUS_X`` or ``X`` (OP-6).
    SMART = "smart"
    #: The override-current API: answered by an object named after the command (OP-8).
    OVERRIDE = "override"
    #: Not documented: the first of ``STATUS_X``, ``X`` or an error-free ``RECEIVED_X``.
    UNDOCUMENTED = "undocumented"


class Timeout(enum.Enum):
    """Which of the client's timeouts bounds a call of a command by default."""

    #: ``Client.timeout``.
    REQUEST = "timeout"
    #: ``Client.action_timeout`` (two-step device commands).
    ACTION = "action_timeout"


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    """What the client knows about one command; every per-command rule reads it.

    Attributes:
        family: How the command is answered (its reply objects and their roles).
        answer: The object that answers a read (``Family.READ`` only).
        shareable: Identical in-flight requests are sent once and their reply shared.
        serial: At most one in flight: its replies may carry no usable evse_id (OP-2..OP-8).
        read: The server answers at once, in order (a reply or an ERROR); an ERROR that
            follows a write may be its or a later request's (OP-7).
        schedule: It names an override schedule (an ERROR 2 may answer it, OP-7).
    """

    family: Family
    answer: str | None = None
    shareable: bool = False
    serial: bool = False
    read: bool = False
    schedule: bool = False

    @property
    def two_step(self) -> bool:
        """Answered by an acknowledgement and, later, a device result."""
        return self.family in (Family.DEVICE, Family.CONFIRMED)

    @property
    def timeout(self) -> Timeout:
        """The client timeout that bounds a call by default."""
        return Timeout.ACTION if self.two_step else Timeout.REQUEST


def _read(answer: str, *, shareable: bool = True, serial: bool = False) -> CommandSpec:
    return CommandSpec(Family.READ, answer, shareable=shareable, serial=serial, read=True)


#: THE command table: every command the client sends through its request machinery, and
#: its facts. Every command set below, the event names of replies and the capture checks
#: derive from it; adding a command is one entry here (plus its ``Client`` method and tests).
COMMANDS: Mapping[str, CommandSpec] = types.MappingProxyType(
    {
        GET_ACCOUNT: _read(OBJ_ACCOUNT, shareable=False),
        GET_CHARGE_POINTS: _read(OBJ_CHARGE_POINTS),
        GET_CHARGE_CARDS: _read(OBJ_CHARGE_CARDS),
        GET_CH_STATUS: _read(OBJ_CH_STATUS),
        GET_CH_SETTINGS: _read(OBJ_CH_SETTINGS),
        # GRID_STATUS may come without evse_id (OP-2).
        GET_GRID_STATUS: _read(OBJ_GRID_STATUS, serial=True),
        # The official client's own test verdicts carry no evse_id (OP-4).
        SET_PUBLIC_CHARGING: CommandSpec(Family.SETTING, serial=True),
        SET_PLUG_AND_CHARGE: CommandSpec(Family.SETTING, serial=True),
        SET_OPERATIVE: CommandSpec(Family.CONFIRMED, serial=True),
        SET_INOPERATIVE: CommandSpec(Family.CONFIRMED, serial=True),
        SOFT_RESET: CommandSpec(Family.DEVICE),
        REBOOT: CommandSpec(Family.DEVICE),
        START_SESSION: CommandSpec(Family.DEVICE),
        STOP_SESSION: CommandSpec(Family.DEVICE, serial=True),  # STATUS_ without evse_id (OP-5)
        SET_DELAYED_CHARGING: CommandSpec(Family.SMART, serial=True),
        SAVE_SCHEDULE_DELAYED_CHARGING: CommandSpec(Family.SMART, serial=True),
        SET_PRICE_BASED_CHARGING: CommandSpec(Family.SMART, serial=True),
        PATCH_PRICE_BASED_CHARGING_SETTINGS: CommandSpec(Family.SMART, serial=True),
        OVERRIDE_CHARGING_PROFILES: CommandSpec(Family.SMART, serial=True),
        OVERRIDE_DELAYED_CHARGING_TIMEOUT: CommandSpec(Family.SMART, serial=True),
        LIST_OVERRIDE_CURRENT: CommandSpec(Family.OVERRIDE, shareable=True, read=True),
        POST_SET_OVERRIDE_CURRENT: CommandSpec(Family.OVERRIDE, serial=True, schedule=True),
        POST_EDIT_OVERRIDE_CURRENT: CommandSpec(Family.OVERRIDE, serial=True, schedule=True),
        POST_CLEAR_OVERRIDE_CURRENT: CommandSpec(Family.UNDOCUMENTED, serial=True, schedule=True),
    }
)


#: What the client assumes about a command it does not know.
_UNDOCUMENTED = CommandSpec(Family.UNDOCUMENTED)


def _commands(test: Callable[[CommandSpec], bool]) -> frozenset[str]:
    return frozenset(name for name, spec in COMMANDS.items() if test(spec))


#: Commands answered by an acknowledgement and, later, a device result (docs/PROTOCOL.md).
TWO_STEP_COMMANDS = _commands(lambda spec: spec.two_step)

#: Smart-charging commands: acknowledgement, then (maybe) a verdict (docs/PROTOCOL.md OP-6).
SMART_COMMANDS = _commands(lambda spec: spec.family is Family.SMART)

#: Commands whose replies may carry no usable evse_id (docs/PROTOCOL.md OP-2, OP-3, OP-4,
#: OP-5, OP-6, OP-8): the client keeps at most one of each in flight, so every reply is
#: certainly the answer to that one request.
SERIAL_COMMANDS = _commands(lambda spec: spec.serial)

#: Block/unblock: a pushed CH_STATUS may confirm them (docs/PROTOCOL.md OP-3).
CONFIRMED_COMMANDS = _commands(lambda spec: spec.family is Family.CONFIRMED)

#: The activity a confirmed SET_INOPERATIVE / SET_OPERATIVE shows (docs/PROTOCOL.md OP-3).
BLOCKED_ACTIVITY = "unavailable"
UNBLOCKED_ACTIVITIES = frozenset({"available", "charging", "delayed"})

#: Read-only commands whose identical in-flight requests are sent once and shared.
DEDUP_COMMANDS = _commands(lambda spec: spec.shareable)

#: Reads: the server answers them at once, in order (a reply or an ERROR). A write may be
#: taken silently and answered much later (a setting's verdict after the charger replied),
#: so an ERROR that follows it may be its or a later request's (docs/PROTOCOL.md OP-7).
READ_COMMANDS = _commands(lambda spec: spec.read)

#: Commands naming an override schedule (an ERROR 2 may answer them, docs/PROTOCOL.md OP-7).
SCHEDULE_COMMANDS = _commands(lambda spec: spec.schedule)

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = {
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
    "sunday": 7,
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def reply_roles(command: str) -> dict[str, Role]:
    """Return the reply objects of ``command`` and what each means (docs/PROTOCOL.md section 6).

    Args:
        command: A command name such as ``"GET_CH_STATUS"``; one not in :data:`COMMANDS`
            is taken as undocumented.

    Returns:
        A mapping from reply object name to its :class:`Role`.
    """
    received, status = f"RECEIVED_{command}", f"STATUS_{command}"
    spec = COMMANDS.get(command, _UNDOCUMENTED)
    family = spec.family
    if spec.answer is not None:
        return {spec.answer: Role.RESULT, received: Role.ACK}
    if family is Family.CONFIRMED:
        return {status: Role.RESULT, received: Role.ACK, OBJ_CH_STATUS: Role.CONFIRM}
    if family is Family.DEVICE or family is Family.SETTING:
        return {status: Role.RESULT, received: Role.ACK}
    if family is Family.OVERRIDE:
        return {command: Role.RESULT, received: Role.ACK, status: Role.RESULT}
    if family is Family.SMART:
        # An error-free RECEIVED_X is only an acknowledgement: the verdict (STATUS_X or X)
        # may still say failure (docs/PROTOCOL.md OP-6).
        return {status: Role.RESULT, command: Role.RESULT, received: Role.ACK}
    # Undocumented reply: the first of STATUS_X, X or an error-free RECEIVED_X.
    return {status: Role.RESULT, command: Role.RESULT, received: Role.ACK_OR_RESULT}


#: The request id pybluecurrent sends and matches echoed replies by (docs/PROTOCOL.md OP-12).
FLOW_ID = "flow_id"


def new_flow_id() -> str:
    """A fresh ``flow_id`` (a random uuid, as pybluecurrent sends)."""
    return str(uuid.uuid4())


def command_frame(command: str, auth: str | None, **fields: Any) -> dict[str, Any]:
    """Build a client→server frame.

    Args:
        command: The command name.
        auth: The ``Authorization`` value (``"Token <t>"``), or None for unauthenticated frames.
        **fields: Further wire fields, already in wire form.

    Returns:
        The frame as a dict.
    """
    frame: dict[str, Any] = {"command": command}
    frame.update(fields)
    if auth is not None:
        frame["Authorization"] = auth
    return frame


def validate_frame(api_token: str) -> dict[str, Any]:
    """Build the VALIDATE_API_TOKEN frame (no Authorization field, docs/PROTOCOL.md 1.2)."""
    return command_frame(VALIDATE_API_TOKEN, None, token=api_token)


def hello_frame(auth: str) -> dict[str, Any]:
    """Build the HELLO frame that subscribes the connection to pushes (docs/PROTOCOL.md 1.4)."""
    return command_frame(HELLO, auth, header="homeassistant")


def auth_value(server_token: str) -> str:
    """Return the Authorization value for a server-issued token (note the space)."""
    return f"Token {server_token}"


def evse_fields(evse_id: str, **extra: Any) -> dict[str, Any]:
    """Return ``{"evse_id": evse_id, **extra}`` (TypeError/ValueError for a bad evse_id)."""
    return {"evse_id": require_evse_id(evse_id), **extra}


def value_fields(evse_id: str, value: bool) -> dict[str, Any]:
    """Return the fields of a ``{evse_id, value}`` command (TypeError unless a real bool)."""
    return {"evse_id": require_evse_id(evse_id), "value": require_bool("value", value)}


def session_fields(evse_id: str, card_uid: str) -> dict[str, Any]:
    """Return the START_SESSION fields (``session_token`` is the card uid)."""
    card = require_text("card_uid", card_uid)
    return {"evse_id": require_evse_id(evse_id), "session_token": card}


def charge_cards_fields(limit: int = 100) -> dict[str, Any]:
    """Return the GET_CHARGE_CARDS fields."""
    return {"limit": limit}


#: Compact JSON; made once (``json.dumps`` with separators builds an encoder per call).
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_quote = json.encoder.encode_basestring_ascii


def encode(frame: Mapping[str, Any]) -> str:
    """Serialise a frame to compact JSON text.

    A frame of string keys and string values (every read: command, Authorization, evse_id)
    is joined directly from the JSON encoder's own string quoting, the same text
    ``json.dumps`` makes without building an encoder per frame; any other is left to it.
    """
    parts = []
    for key, value in frame.items():
        if type(key) is not str or type(value) is not str:
            return _COMPACT.encode(frame)
        parts.append(f"{_quote(key)}:{_quote(value)}")
    return "{" + ",".join(parts) + "}"


def normalise_hhmm(value: _dt.time | str, what: str) -> str:
    """Return ``value`` as ``"HH:MM"``.

    Args:
        value: A :class:`datetime.time` (seconds must be zero) or an ``"HH:MM"`` string.
        what: The argument name, for the error message.

    Raises:
        ValueError: If the value is not a valid time of day in minutes.
    """
    if isinstance(value, _dt.time):
        if value.second or value.microsecond:
            raise ValueError(f"{what} must be a whole minute, got {value.isoformat()}")
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, str) and _HHMM.match(value):
        return value
    raise ValueError(f"{what} must be a datetime.time or an 'HH:MM' string, got {value!r}")


def _weekday_number(day: int | str, what: str, lowest: int = 1) -> int:
    if isinstance(day, bool):
        raise ValueError(f"{what}: {day!r} is not a weekday")
    if isinstance(day, int):
        if lowest <= day <= 7:
            return day
        raise ValueError(f"{what}: weekday numbers run from {lowest} to 7, got {day}")
    if isinstance(day, str):
        key = day.strip().lower()
        if key in _DAY_NAMES:
            return _DAY_NAMES[key]
        upper = day.strip().upper()
        if upper in WEEKDAYS:
            return WEEKDAYS.index(upper) + 1
        for name, number in _DAY_NAMES.items():
            if len(key) >= 3 and name.startswith(key):
                return number
    raise ValueError(f"{what}: {day!r} is not a weekday")


def weekday_numbers(days: Iterable[int | str], what: str = "days", lowest: int = 1) -> list[int]:
    """Return weekday numbers in the order given, duplicates kept (as the official client sends).

    Names and codes become Monday=1 … Sunday=7; numbers are passed through as given.

    Args:
        days: Weekday numbers (``lowest``-7), names (``"monday"``, ``"mon"``) or codes (``"MO"``).
        what: The argument name, for the error message.
        lowest: The smallest number accepted (0 where the numbering base is open,
            docs/PROTOCOL.md OP-9).

    Raises:
        ValueError: If a day is not recognised or no day is given.
    """
    if isinstance(days, (str, bytes)):
        raise ValueError(f"{what} must be a list of weekdays, not a single string")
    numbers = [_weekday_number(day, what, lowest) for day in days]
    if not numbers:
        raise ValueError(f"{what} must name at least one weekday")
    return numbers


def weekday_codes(days: Iterable[int | str], what: str) -> list[str]:
    """Return weekdays as the override API's two-letter codes (``MO`` … ``SU``), as given."""
    return [WEEKDAYS[number - 1] for number in weekday_numbers(days, what)]


def delayed_charging_schedule_fields(
    evse_id: str,
    days: Sequence[int | str],
    start_time: _dt.time | str,
    end_time: _dt.time | str,
) -> dict[str, Any]:
    """Return the SAVE_SCHEDULE_DELAYED_CHARGING fields (``days`` is a STRING like ``"[1,2]"``).

    Numbers 0-7 are sent as given (the numbering base is open, docs/PROTOCOL.md OP-9); names
    and codes become Monday=1 … Sunday=7, the vendor's own mapping.
    """
    numbers = weekday_numbers(days, lowest=0)
    return {
        "evse_id": require_evse_id(evse_id),
        "days": "[" + ",".join(str(number) for number in numbers) + "]",
        "start_time": normalise_hhmm(start_time, "start_time"),
        "end_time": normalise_hhmm(end_time, "end_time"),
    }


def _percentage(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"{what} must be an int from 0 to 100, got {value!r}")
    return value


def price_settings_fields(
    evse_id: str,
    *,
    expected_departure_time: _dt.time | str | None,
    current_battery_percentage: int | None,
    minimum_percentage: int | None,
    battery_size_kwh: int | None,
) -> dict[str, Any]:
    """Return the PATCH_PRICE_BASED_CHARGING_SETTINGS fields; None-valued keys are omitted.

    Raises:
        ValueError: If a value is out of range or nothing would be changed.
    """
    if battery_size_kwh is not None and (
        isinstance(battery_size_kwh, bool)
        or not isinstance(battery_size_kwh, int)
        or battery_size_kwh <= 0
    ):
        raise ValueError(f"battery_size_kwh must be a positive int, got {battery_size_kwh!r}")
    candidates: dict[str, Any] = {
        "expected_departure_time": None
        if expected_departure_time is None
        else normalise_hhmm(expected_departure_time, "expected_departure_time"),
        "current_battery_pct": _percentage(
            current_battery_percentage, "current_battery_percentage"
        ),
        "minimum_pct": _percentage(minimum_percentage, "minimum_percentage"),
        "battery_size_kwh": battery_size_kwh,
    }
    changes = {key: value for key, value in candidates.items() if value is not None}
    if not changes:
        raise ValueError("give at least one price-based charging setting to change")
    return {"evse_id": require_evse_id(evse_id), **changes}


def override_current_fields(
    charge_points: Sequence[str],
    *,
    start_time: _dt.time | str,
    start_days: Sequence[int | str],
    stop_time: _dt.time | str,
    stop_days: Sequence[int | str],
    current: float,
) -> dict[str, Any]:
    """Return the six POST_SET/POST_EDIT_OVERRIDE_CURRENT schedule fields.

    Raises:
        ValueError: If a charge point list is empty, a time or day is invalid, or the current
            is negative.
    """
    if isinstance(charge_points, str):
        raise ValueError("charge_points must be a list of evse ids, not a single string")
    points = [str(point) for point in charge_points]
    if not points or not all(points):
        raise ValueError("charge_points must name at least one evse id")
    if isinstance(current, bool) or not isinstance(current, (int, float)) or current < 0:
        raise ValueError(f"current must be a non-negative number of amperes, got {current!r}")
    return {
        "chargepoints": points,
        "overridestarttime": normalise_hhmm(start_time, "start_time"),
        "overridestartdays": weekday_codes(start_days, "start_days"),
        "overridestoptime": normalise_hhmm(stop_time, "stop_time"),
        "overridestopdays": weekday_codes(stop_days, "stop_days"),
        # The caller's number as given (an int stays an int), as the official client sends it.
        "overridevalue": current,
    }


def edit_schedule_id_field(schedule_id: str | int) -> dict[str, Any]:
    """Return the POST_EDIT_OVERRIDE_CURRENT ``schedule_id`` field, as given.

    The official client passes the caller's value through (its type hint says ``str``, its
    own examples pass ints); the published examples show an int (docs/PROTOCOL.md OP-12).

    Raises:
        ValueError: If the id is neither a non-empty string nor an int.
    """
    if isinstance(schedule_id, bool) or not isinstance(schedule_id, (str, int)):
        raise ValueError(f"schedule_id must be a string or an int, got {schedule_id!r}")
    if isinstance(schedule_id, str) and not schedule_id.strip():
        raise ValueError("schedule_id must not be empty")
    return {"schedule_id": schedule_id}


def clear_schedule_id_field(schedule_id: str | int) -> dict[str, Any]:
    """Return the POST_CLEAR_OVERRIDE_CURRENT ``schedule_id`` field (an int on the wire).

    Raises:
        ValueError: If the id is not an integer.
    """
    try:
        return {"schedule_id": int(schedule_id)}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"schedule_id must be an integer id, got {schedule_id!r}") from exc
