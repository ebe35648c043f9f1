"""Value parsing: the one vocabulary in which a wire value is checked and read.

Every reader takes the value and its dotted path in the frame and either returns a Python value or
raises `FieldError` (path + message); the ``s_*`` structure hooks that the converter registers with
cattrs use the same readers, so a field reads the same whether a hand-written quirk or cattrs
reaches it. Timestamps (docs/PROTOCOL.md section 4), numbers, flags (plain or wrapped ``{value,
permission}``), settings, days and phases live here; ``_convert.py`` structures models from them.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, NoReturn

from ._wire import AMSTERDAM, whole
from .models import Activity, VehicleStatus

__all__ = [
    "FieldError",
    "boolean",
    "day_numbers",
    "days",
    "error_text",
    "fail",
    "flag",
    "integer",
    "join",
    "list_of",
    "mapping",
    "number",
    "optional_mapping",
    "parse_date",
    "parse_time",
    "parse_timestamp",
    "phase_average",
    "setting_value",
    "text",
    "type_name",
    "whole",
]

_VEHICLE_LETTERS = {
    "A": VehicleStatus.STANDBY,
    "B": VehicleStatus.VEHICLE_DETECTED,
    "C": VehicleStatus.READY,
    "D": VehicleStatus.READY,
    "E": VehicleStatus.NO_POWER,
    "F": VehicleStatus.VEHICLE_ERROR,
}
_ACTIVITIES = {member.value: member for member in Activity}
_VEHICLE_NAMES = {member.value: member for member in VehicleStatus}

_WIRE_TS = re.compile(
    r"^(\d{4})(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:([+-])(\d{2}):?(\d{2}))?$", re.ASCII
)
# ISO 8601 as the wire schema allows it; parsed by hand so 3.10 and 3.11+ agree.
_ISO_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2}))?$",
    re.IGNORECASE | re.ASCII,
)


#: Timestamps already parsed, by their exact text (a charge point repeats its start and stop
#: times in every CH_STATUS). A pure function of the text, so a hit is the parse's own result;
#: failures are never stored. Emptied when full, so it stays small whatever the server sends;
#: a get or set of a dict is atomic, so threads need no lock.
TIMESTAMPS: dict[str, _dt.datetime] = {}
_TIMESTAMPS_MAX = 256


def parse_timestamp(value: object) -> _dt.datetime | None:
    """Parse a wire timestamp into an aware datetime (docs/PROTOCOL.md section 4).

    ``""``/None -> None; ``"YYYYMMDD HH:MM:SS"`` -> Europe/Amsterdam; a trailing
    ``+HH:MM``/``-HH:MM`` -> that offset; ISO 8601 accepted (naive means Amsterdam).
    A text parsed before costs a dict lookup (:data:`TIMESTAMPS`).

    Raises:
        ValueError: not a recognisable timestamp.
        TypeError: not a string.
    """
    if type(value) is str:
        parsed = TIMESTAMPS.get(value)
        if parsed is None:
            parsed = _parse_timestamp(value)
            if parsed is not None:
                if len(TIMESTAMPS) >= _TIMESTAMPS_MAX:
                    TIMESTAMPS.clear()
                TIMESTAMPS[value] = parsed
        return parsed
    return _parse_timestamp(value)


def _parse_timestamp(value: object) -> _dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=AMSTERDAM)
    if not isinstance(value, str):
        raise TypeError(f"expected a timestamp string, got {type(value).__name__}")
    stripped = value.strip()
    match = _WIRE_TS.match(stripped)
    if match:
        year, month, day, hour, minute, second, sign, hours, minutes = match.groups()
        # datetime(...) instead of strptime: ~1.5 us instead of ~7 us; same ValueError.
        zone = AMSTERDAM if sign is None else _fixed_offset(sign, hours, minutes)
        if zone is not None:
            return _dt.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), 0, zone
            )
        # An offset no timezone can hold: a bad date is still named first.
        parsed = _dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        delta = _dt.timedelta(hours=int(hours), minutes=int(minutes))
        return parsed.replace(tzinfo=_dt.timezone(-delta if sign == "-" else delta))
    iso = _ISO_TS.match(stripped)
    if not iso:
        raise ValueError(f"not a timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = iso.groups()
    try:
        parsed = _dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc
    if zulu:
        return parsed.replace(tzinfo=_dt.timezone.utc)
    if sign:
        delta = _dt.timedelta(hours=int(off_h), minutes=int(off_m))
        return parsed.replace(tzinfo=_dt.timezone(-delta if sign == "-" else delta))
    return parsed.replace(tzinfo=AMSTERDAM)


@functools.lru_cache(maxsize=64)
def _fixed_offset(sign: str, hours: str, minutes: str) -> _dt.timezone | None:
    """The zone of a ``+HH:MM``/``-HH:MM`` suffix, or None when it is 24 hours or more.

    Made once per offset (a few are ever seen): building the zone and ``replace``-ing it into
    a naive datetime costs more than the rest of the parse.
    """
    delta = _dt.timedelta(hours=int(hours), minutes=int(minutes))
    if delta >= _dt.timedelta(hours=24):
        return None
    return _dt.timezone(-delta if sign == "-" else delta)


def parse_date(value: object) -> _dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a date string, got {type(value).__name__}")
    try:
        return _dt.date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise ValueError(f"not a date: {value!r}") from exc


def parse_time(value: object) -> _dt.time | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.time):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a time string 'HH:MM', got {type(value).__name__}")
    parts = value.strip().split(":")
    try:
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError
        hour, minute, second = (int(p) for p in [*parts, "0"][:3])
        return _dt.time(hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"not a time of day 'HH:MM': {value!r}") from exc


def phase_average(phases: list[float | None]) -> float:
    """Mean of the truthy (non-zero, non-null) phases, 1 decimal; 0 when there are none."""
    used = list(filter(None, phases))  # the truthy ones, without a comprehension's frame
    return round(sum(used) / len(used), 1) if used else 0.0


class FieldError(Exception):
    """Internal: a field of the frame is invalid (path relative to the frame)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def fail(path: str, message: str) -> NoReturn:
    raise FieldError(path, message)


def join(base: str, segment: str | int) -> str:
    if isinstance(segment, int):
        return f"{base}[{segment}]"
    return f"{base}.{segment}" if base else segment


def mapping(value: object, path: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what json gives; isinstance(..., Mapping) costs ~0.3 us
        return value
    if not isinstance(value, Mapping):
        fail(path, f"expected an object, got {type_name(value)}")
    return value


def optional_mapping(value: object, path: str) -> Mapping[str, Any] | None:
    return None if value is None else mapping(value, path)


def list_of(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        fail(path, f"expected a list, got {type_name(value)}")
    return value


def number(value: object, path: str) -> float | None:
    if type(value) is float:  # the common case first: a JSON number with a fraction
        return value
    if value is None:
        return None
    if type(value) is int:  # then a whole JSON number (never a bool: type, not isinstance)
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(path, f"expected a number, got {type_name(value)}")
    return float(value)


def text(value: object, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        fail(path, f"expected a string, got {type_name(value)}")
    return value


def error_text(value: object, path: str) -> str | None:
    """Wire error text: ``""``/None -> None."""
    return text(value, path) or None


def integer(value: object, path: str) -> int | None:
    """A JSON integer (``1`` or ``1.0``, never a bool); None stays None."""
    if value is None:
        return None
    number_ = whole(value)
    if number_ is None:
        fail(path, f"expected an integer, got {type_name(value)}")
    return number_


def boolean(value: object, path: str) -> bool | None:
    """true/false, or 0/1 (also ``0.0``/``1.0``: charge card ``"valid": 1``); None stays None."""
    if value is None or isinstance(value, bool):
        return value
    if whole(value) in (0, 1):
        return bool(value)
    fail(path, f"expected a boolean, got {type_name(value)}")


def flag(value: object, path: str) -> bool | None:
    """A boolean read from the wrapped ``{value, permission}`` form or a plain bool.

    Accepts exactly what the wire schema's ``flag_setting`` allows: true/false, 0/1
    (also ``0.0``/``1.0``) or null, plain or as the wrapped form's ``value``.
    """
    if type(value) is bool:
        return value
    if isinstance(value, Mapping):
        return boolean(value.get("value"), join(path, "value"))
    return boolean(value, path)


def setting_value(value: object, path: str) -> bool | int | None:
    """A setting's ``value``: a boolean, an integer (LED intensity) or null."""
    if value is None or isinstance(value, bool):
        return value
    number_ = whole(value)
    if number_ is None:
        fail(path, f"expected a boolean or integer, got {type_name(value)}")
    return number_


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def days(value: object, path: str) -> list[str]:
    """Week days from a comma string ``"MO,TH"`` or a list; None -> []."""
    if value is None:
        return []
    if isinstance(value, str):
        return [day.strip() for day in value.split(",") if day.strip()]
    items = list_of(value, path)
    for index, day in enumerate(items):
        if not isinstance(day, str):
            fail(join(path, index), f"expected a day string, got {type_name(day)}")
    return [day.strip() for day in items if day.strip()]


def day_numbers(value: object) -> list[int] | None:
    """Day numbers as sent: a list of ints, or a string ``"[1,2]"`` / ``"1,2"``; None stays None.

    The numbering base (Monday=1 or Sunday/Monday=0) is open (docs/PROTOCOL.md OP-9), so the
    numbers are kept exactly as sent.
    """
    if value is None:
        return None
    if isinstance(value, str):
        inner = value.strip().strip("[]")
        parts = [part.strip() for part in inner.split(",") if part.strip()]
        if not all(part.isdigit() for part in parts):
            raise ValueError(f"not a list of day numbers: {value!r}")
        return [int(part) for part in parts]
    if isinstance(value, list):
        numbers = [whole(item) for item in value]
        if any(number is None for number in numbers):
            raise TypeError("expected a list of day numbers")
        return [number for number in numbers if number is not None]
    raise TypeError(f"expected a list of day numbers, got {type_name(value)}")


# The cattrs structure hooks: the readers above, for a field cattrs reaches (the path is
# cattrs' own, so the readers get none). Required fields refuse null. Each hook returns the
# common wire types (``type(value) is ...``: for a number also a whole one, for a boolean also
# 0/1) at once, exactly as its reader would, and leaves everything else to the validating
# reader; the ``s_optional_*`` hooks are the same for ``X | None`` fields (one call per field
# instead of a None check wrapped around the required hook). These hooks, not cattrs' code
# around them, are most of a conversion (tests/test_convert_fast_path.py holds each fast
# branch to its reader).


def _present(value: object, what: str) -> None:
    if value is None:
        fail("", f"expected {what}, got null")


def s_str(value: object, _: type) -> str:
    if type(value) is str:
        return value
    _present(value, "a string")
    return str(text(value, ""))


def s_float(value: object, _: type) -> float:
    if type(value) is float:
        return value or 0.0  # as the reader path below: -0.0 reads as 0.0
    if type(value) is int:  # a whole JSON number: float() of it is never -0.0
        return float(value)
    _present(value, "a number")
    return float(number(value, "") or 0.0)


def s_int(value: object, _: type) -> int:
    if type(value) is int:
        return value
    _present(value, "an integer")
    return int(integer(value, "") or 0)


def s_bool(value: object, _: type) -> bool:
    if type(value) is bool:
        return value
    if type(value) is int and value in {0, 1}:  # a charge card's "valid": 1
        return value == 1
    _present(value, "a boolean")
    return bool(boolean(value, ""))


def s_optional_str(value: object, cls: type) -> str | None:
    if type(value) is str:
        return value
    return None if value is None else s_str(value, cls)


def s_optional_float(value: object, cls: type) -> float | None:
    if type(value) is float:
        return value or 0.0  # as s_float
    if type(value) is int:  # as s_float
        return float(value)
    return None if value is None else s_float(value, cls)


def s_optional_int(value: object, cls: type) -> int | None:
    if type(value) is int:
        return value
    return None if value is None else s_int(value, cls)


def s_optional_bool(value: object, cls: type) -> bool | None:
    if type(value) is bool:
        return value
    if type(value) is int and value in {0, 1}:  # as s_bool
        return value == 1
    return None if value is None else s_bool(value, cls)


def s_setting_value(value: object, _: type) -> bool | int | None:
    if type(value) is bool or type(value) is int:  # as setting_value (whole() of an int is it)
        return value
    return setting_value(value, "")


def s_activity(value: object, _: type) -> Activity:
    if type(value) is str:  # the wire's form first
        return _ACTIVITIES.get(value.lower(), Activity.UNKNOWN)
    if value is None:
        return Activity.UNKNOWN
    if isinstance(value, Activity):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an activity string, got {type_name(value)}")
    return _ACTIVITIES.get(value.lower(), Activity.UNKNOWN)


def s_vehicle_status(value: object, _: type) -> VehicleStatus:
    if isinstance(value, VehicleStatus):
        return value
    if isinstance(value, str):
        letter = _VEHICLE_LETTERS.get(value.upper())
        return letter or _VEHICLE_NAMES.get(value, VehicleStatus.UNKNOWN)
    return VehicleStatus.UNKNOWN


def s_datetime(value: object, _: type) -> _dt.datetime | None:
    return parse_timestamp(value)


def s_date(value: object, _: type) -> _dt.date | None:
    return parse_date(value)


def s_time(value: object, _: type) -> _dt.time | None:
    return parse_time(value)


# The hooks' fast branches as source, for the happy-path structure functions that
# ``_fastpath.py`` generates: each reads ``v`` and sets ``{x}`` exactly as its hook's fast
# branch above does, and hands every other value to the hook itself (``{h}(v, {t})``), so the
# generated code returns what the hook returns for every value (tests/test_fast_structure.py
# holds each one to its hook). Keep each next to its hook when either changes.


class FastBranch(NamedTuple):
    """A hook's fast branch as source: ``code`` with the names it uses.

    Attributes:
        code: Statements reading ``v`` and setting ``{x}``; ``{h}``/``{t}`` are the hook and
            the field's type.
        names: The globals ``code`` uses besides the hook and the type.
        null_is_none: The hook makes None of None (a missing key then reads as a None default).
    """

    code: str
    names: Mapping[str, object]
    null_is_none: bool


_NUMBER_BRANCH = """\
if type(v) is float:
    {x} = v or 0.0
elif type(v) is int:
    {x} = float(v)
"""
_OTHERWISE = """\
else:
    {x} = {h}(v, {t})
"""
_NONE_BRANCH = """\
elif v is None:
    {x} = None
"""


def _branch(first: str, *, optional: bool, **names: object) -> FastBranch:
    code = first + (_NONE_BRANCH if optional else "") + _OTHERWISE
    return FastBranch(code, names, null_is_none=optional)


_STR_BRANCH = "if type(v) is str:\n    {x} = v\n"
_INT_BRANCH = "if type(v) is int:\n    {x} = v\n"
_BOOL_BRANCH = (
    "if type(v) is bool:\n    {x} = v\nelif type(v) is int and v in {{0, 1}}:\n    {x} = v == 1\n"
)

FAST_BRANCHES: Mapping[Any, FastBranch] = {
    s_str: _branch(_STR_BRANCH, optional=False),
    s_optional_str: _branch(_STR_BRANCH, optional=True),
    s_float: _branch(_NUMBER_BRANCH, optional=False),
    s_optional_float: _branch(_NUMBER_BRANCH, optional=True),
    s_int: _branch(_INT_BRANCH, optional=False),
    s_optional_int: _branch(_INT_BRANCH, optional=True),
    s_bool: _branch(_BOOL_BRANCH, optional=False),
    s_optional_bool: _branch(_BOOL_BRANCH, optional=True),
    s_setting_value: _branch("if type(v) is bool or type(v) is int:\n    {x} = v\n", optional=True),
    s_activity: _branch(
        "if type(v) is str:\n    {x} = _activities_get(v.lower(), _activity_unknown)\n",
        optional=False,
        _activities_get=_ACTIVITIES.get,
        _activity_unknown=Activity.UNKNOWN,
    ),
    s_vehicle_status: _branch(
        "if type(v) is str:\n"
        "    {x} = _letters_get(v.upper()) or _vehicle_names_get(v, _vehicle_unknown)\n",
        optional=False,
        _letters_get=_VEHICLE_LETTERS.get,
        _vehicle_names_get=_VEHICLE_NAMES.get,
        _vehicle_unknown=VehicleStatus.UNKNOWN,
    ),
    # A text parsed before: its cached result (what the hook returns for it); None and ""
    # as parse_timestamp's first test; else the hook.
    s_datetime: FastBranch(
        "if type(v) is str and (x_ := _timestamps_get(v)) is not None:\n"
        "    {x} = x_\n"
        "elif v is None or v == '':\n"
        "    {x} = None\n" + _OTHERWISE,
        {"_timestamps_get": TIMESTAMPS.get},
        null_is_none=True,
    ),
}
