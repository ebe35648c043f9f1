"""WireConverter against frames generated straight from the wire schemas (``schemas/wire/``).

hypothesis-jsonschema's ``from_schema`` generates the frames. It cannot follow the relative
``defs.json#/...`` / ``charge_point.json`` refs, so each schema is copied here with every ref
inlined (resolved through :func:`wire_schemas.wire_registry`). Then, per server object name:

1. every generated frame is valid per the real schema and converts; the one tolerated
   ResponseValidationError is a calendar-impossible date such as Feb 30 (which no pattern
   can exclude, see ``_calendar_impossible``);
2. mutated frames (a key dropped, a value retyped, unknown keys added) convert or raise
   ResponseValidationError, nothing else;
3. ``WireConverter.event`` on all of them converts or raises ResponseValidationError.

Hand-written frames from_schema does not draw (``1.0`` as an integer, fields the converter
reads) pin the former schema/converter gaps from both sides: ``SCHEMA_VALID`` frames must
convert, ``SCHEMA_INVALID`` frames are rejected by schema and converter alike.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as _conjecture_utils
from hypothesis_jsonschema import from_schema
from wire_schemas import WIRE_DIR, schema_for, validate_wire_frame, wire_registry

from bluecurrent_sync._convert import WireConverter, redact
from bluecurrent_sync.errors import ResponseValidationError

# --------------------------------------------------------------------------------------
# hypothesis-jsonschema 0.23.1 needs Hypothesis <= 6.170.9
# --------------------------------------------------------------------------------------

# hypothesis-jsonschema 0.23.1 (its latest release) draws object properties with
# ``cu.many(...).more()``, a Hypothesis internal that 6.170.10 replaced; newer Hypothesis
# fails with AttributeError on every object schema. The dev extra therefore pins
# hypothesis==6.170.9 (6.168.5 on Python 3.10, which newer Hypothesis no longer supports);
# the test below says so plainly if an incompatible version is installed.


def test_installed_hypothesis_is_compatible_with_hypothesis_jsonschema() -> None:
    assert hasattr(_conjecture_utils.many, "more"), (
        "hypothesis-jsonschema 0.23.1 needs hypothesis<=6.170.9; install the dev extra "
        "(it pins a compatible hypothesis)"
    )


# --------------------------------------------------------------------------------------
# Self-contained test copies of the wire schemas
# --------------------------------------------------------------------------------------

# Keywords hypothesis-jsonschema (drafts 4-7) does not need once every ref is inlined.
_DROPPED = frozenset({"$schema", "$id", "$defs"})
# Keywords whose value maps property names to schemas (names must not be filtered).
_NAME_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})


def _inline(node: Any, resolver: Any, *, names: bool = False) -> Any:
    """Copy ``node`` with every ``$ref`` replaced by its (recursively inlined) target."""
    if isinstance(node, list):
        return [_inline(item, resolver) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {key: _inline(value, resolver) for key, value in node.items()}
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        target = _inline(resolved.contents, resolved.resolver)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {"allOf": [target, _inline(siblings, resolver)]} if siblings else target
    return {
        key: _inline(value, resolver, names=key in _NAME_MAPS)
        for key, value in node.items()
        if key not in _DROPPED
    }


def _test_schema(object_name: str) -> dict[str, Any]:
    """The wire schema of ``object_name``, refs inlined, ``object`` pinned to that name.

    Pinning ``object`` (the real schemas have an enum, or a pattern for the action-result
    family) is the only change: it keeps e.g. the RECEIVED_/STATUS_ pattern from producing
    a name such as STATUS_API_TOKEN that another schema and converter method own. Nothing
    else needed simplifying: from_schema handles every const, enum, pattern and anyOf of
    the wire schemas (the big ones are just slow, see _EXAMPLES).
    """
    stem = schema_for(object_name)
    with (WIRE_DIR / f"{stem}.json").open(encoding="utf-8") as fh:
        schema_id: str = json.load(fh)["$id"]
    resolver = wire_registry().resolver(base_uri=schema_id)
    schema: dict[str, Any] = _inline(resolver.lookup(schema_id).contents, resolver)
    schema["properties"]["object"] = {"const": object_name}
    return schema


# --------------------------------------------------------------------------------------
# Object name -> converter method
# --------------------------------------------------------------------------------------

METHODS: dict[str, str] = {
    "CHARGE_POINTS": "charge_points",
    "CH_STATUS": "ch_status",
    "CH_SETTINGS": "ch_settings",
    "GRID_STATUS": "grid_status",
    "GRID_CURRENT": "grid_current",
    "CHARGE_CARDS": "charge_cards",
    "STATUS_SET_PLUG_AND_CHARGE": "setting_result",
    "STATUS_SET_PUBLIC_CHARGING": "setting_result",
    "LIST_OVERRIDE_CURRENT": "override_schedules",
    "POST_SET_OVERRIDE_CURRENT": "override_schedule",
    "POST_EDIT_OVERRIDE_CURRENT": "override_schedule",
    "POST_CLEAR_OVERRIDE_CURRENT": "action_result",
    "ACCOUNT": "account",
    "STATUS_API_TOKEN": "token_status",
    "ERROR": "server_error",
    "HELLO": "event",
    "RECEIVED_START_SESSION": "action_result",
    "STATUS_SOFT_RESET": "action_result",
}

_CONV = WireConverter()  # one per module: building one per example would dominate run time


def _convert(object_name: str, frame: Any) -> object:
    method: Callable[[Any], object] = getattr(_CONV, METHODS[object_name])
    return method(frame)


# --------------------------------------------------------------------------------------
# The one tolerated disagreement: calendar-impossible dates
# --------------------------------------------------------------------------------------

# The wire schemas bound every date/time field (month 01-12, day 01-31, hour 00-23, ...),
# but a pattern cannot know month lengths: "2021-02-30" and "20210431 00:00:00" are
# schema-valid. The converter rejects them with ResponseValidationError, which is right
# (the server sent no date). That is the only rejection of a schema-valid frame tolerated.
_DATE_FIELDS = frozenset(
    {"offline_since", "start_datetime", "stop_datetime"}  # defs.json timestamp
    | {"date_created", "date_modified", "date_became_invalid"}  # defs.json date
)
_YMD = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()


def _at(frame: Any, path: str) -> Any:
    """The value at a ResponseValidationError field path such as ``data[0].tariff.currency``."""
    node = frame
    for name, index in _PATH_PART.findall(path):
        key: str | int = int(index) if index else name
        if key == "plug_and_charge_card" and isinstance(node, dict) and node.get(key) is None:
            key = "plug_and_charge_charge_card"  # ch_settings falls back to this key
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _day_beyond_month(text: str) -> bool:
    """Whether ``text`` starts with a year/month/day in range whose day the month lacks."""
    match = _YMD.match(text)
    if match is None:
        return False
    year, month, day = (int(group) for group in match.groups())
    if not (year >= 1 and 1 <= month <= 12 and 29 <= day <= 31):
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return True
    return False


def _calendar_impossible(frame: dict[str, Any], exc: ResponseValidationError) -> bool:
    """Whether ``exc`` is the converter rejecting a calendar-impossible date of ``frame``."""
    path = exc.field or ""
    parts = [name or index for name, index in _PATH_PART.findall(path)]
    value = _at(frame, path)
    return (
        bool(parts)
        and parts[-1] in _DATE_FIELDS
        and isinstance(value, str)
        and _day_beyond_month(value)
    )


@pytest.mark.parametrize(
    "frame",
    [
        {"object": "CH_STATUS", "data": {"evse_id": "B", "offline_since": "20210229 00:00:00"}},
        {"object": "CH_STATUS", "data": {"evse_id": "B", "start_datetime": "2020-02-30T00:00"}},
        {"object": "CH_STATUS", "data": {"evse_id": "B", "stop_datetime": "2021-04-31 10:00Z"}},
        {"object": "CHARGE_CARDS", "cards": [{"date_created": "2021-06-31"}]},
        {
            "object": "CH_SETTINGS",
            "data": {
                "evse_id": "B",
                "plug_and_charge_charge_card": {"date_modified": "2023-02-29"},
            },
        },
    ],
)
def test_calendar_impossible_dates_are_schema_valid_and_the_only_tolerance(
    frame: dict[str, Any],
) -> None:
    validate_wire_frame(frame)
    try:
        result = _convert(frame["object"], copy.deepcopy(frame))
    except ResponseValidationError as exc:
        assert _calendar_impossible(frame, exc)
    else:  # a non-essential field: None, its raw value kept (docs/PROTOCOL.md OP-10)
        assert _unparsed(result)


def _unparsed(result: object) -> dict[str, Any]:
    """The ``unparsed`` fields of a converted model (or of the items of a list)."""
    found: dict[str, Any] = {}
    for item in result if isinstance(result, list) else [result]:
        found.update(getattr(item, "unparsed", None) or {})
    return found


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        # a real date in a tolerated field (the rejection must have another cause)
        ({"object": "CHARGE_CARDS", "cards": [{"date_created": "2024-02-29"}]}, "cards[0].valid"),
        # an impossible date, but the error names another field
        ({"object": "CHARGE_CARDS", "cards": [{"date_created": "2021-02-30"}]}, "cards[0].uid"),
        # an impossible day in a field that is no date
        ({"object": "CH_STATUS", "data": {"evse_id": "B", "vehicle_status": "2021-02-30"}},
         "data.vehicle_status"),
        ({"object": "CH_STATUS", "data": {"evse_id": "B", "offline_since": "2021-02-30"}}, None),
    ],
)  # fmt: skip
def test_nothing_else_is_tolerated(frame: dict[str, Any], field: str | None) -> None:
    exc = ResponseValidationError("rejected", object_name=frame["object"], field=field, raw=frame)
    assert not _calendar_impossible(frame, exc)


# --------------------------------------------------------------------------------------
# Former gaps, found by hand (from_schema does not draw them)
# --------------------------------------------------------------------------------------

_CP = {"evse_id": "B"}

# Schema-valid frames the converter used to reject: each must validate AND convert.
SCHEMA_VALID: dict[str, dict[str, Any]] = {
    # JSON Schema counts 1.0 as an integer (and as equal to the enum value 1).
    "error-code-1.0": {"object": "ERROR", "error": 1.0},
    "customer-id-1.0": {"object": "STATUS_API_TOKEN", "customer_id": 1.0},
    "card-valid-1.0": {"object": "CHARGE_CARDS", "cards": [{"valid": 1.0}, {"valid": 0.0}]},
    "setting-1.0": {
        "object": "CH_SETTINGS",
        "data": {
            "evse_id": "B",
            "public_charging": {"value": 1.0},
            "led_intensity": {"value": 9.0},
        },
    },
    "housenumber-12.0": {"object": "CHARGE_POINTS", "data": [{**_CP, "housenumber": 12.0}]},
    "schedule-id-7.0": {"object": "POST_SET_OVERRIDE_CURRENT", "data": {"schedule_id": 7.0}},
    # Boolean settings as 0/1, wrapped or plain booleans.
    "flag-settings-0-1": {
        "object": "CHARGE_POINTS",
        "data": [
            {
                **_CP,
                "plug_and_charge": {"value": 1},
                "public_charging": {"value": 0, "permission": "read"},
                "led_interaction": {"value": 1},
                "publish_location": True,
                "delayed_charging": {"value": None},
                "price_based_charging": None,
            }
        ],
    },
    # Fields the converter reads that the schemas now declare.
    "top-level-location": {
        "object": "CHARGE_POINTS",
        "data": [{**_CP, "street": "S", "housenumber": 3, "zipcode": "Z", "city": "C"}],
    },
    "grid-current-nested-data": {
        "object": "GRID_CURRENT",
        "evse_id": "B",
        "data": {"grid_actual_p1": 1, "grid_actual_p2": None, "grid_actual_p3": 2.5},
    },
    "override-stop-days": {
        "object": "LIST_OVERRIDE_CURRENT",
        "data": [{"schedule_id": "1", "override_stop_days": ["MO"], "start_time": "7:05"}],
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMA_VALID))
def test_former_gap_is_schema_valid_and_converts(name: str) -> None:
    frame = SCHEMA_VALID[name]
    validate_wire_frame(frame)
    assert _convert(frame["object"], copy.deepcopy(frame)) is not None


def test_integral_floats_convert_to_ints() -> None:
    assert _CONV.server_error(SCHEMA_VALID["error-code-1.0"]).code == 1
    assert _CONV.token_status(SCHEMA_VALID["customer-id-1.0"]).customer_id == "1"
    cards = _CONV.charge_cards(SCHEMA_VALID["card-valid-1.0"])
    assert [card.valid for card in cards] == [True, False]
    (point,) = _CONV.charge_points(SCHEMA_VALID["housenumber-12.0"])
    assert point.housenumber == "12"
    assert _CONV.override_schedule(SCHEMA_VALID["schedule-id-7.0"]).schedule_id == "7"


# Frames the tightened schemas reject; the converter rejects them too.
def _status(**data: Any) -> dict[str, Any]:
    return {"object": "CH_STATUS", "data": {"evse_id": "B", **data}}


def _settings_frame(**data: Any) -> dict[str, Any]:
    return {"object": "CH_SETTINGS", "data": {"evse_id": "B", **data}}


def _schedule_frame(**data: Any) -> dict[str, Any]:
    return {"object": "POST_SET_OVERRIDE_CURRENT", "data": {"schedule_id": 1, **data}}


SCHEMA_INVALID: dict[str, dict[str, Any]] = {
    "month-13": _status(offline_since="20201301 00:00:00"),
    "day-32": _status(start_datetime="2020-01-32T00:00"),
    "hour-24": _status(start_datetime="2020-01-01 24:00"),
    "second-60": _status(offline_since="20200101 00:00:60"),
    "offset-24h": _status(stop_datetime="20200101 00:00:00+2400"),
    "offset-minute-60": _status(stop_datetime="2020-01-01T00:00+23:60"),
    "year-0": {"object": "CHARGE_CARDS", "cards": [{"date_created": "0000-01-01"}]},
    "date-month-0": {"object": "CHARGE_CARDS", "cards": [{"date_modified": "2020-00-10"}]},
    "clock-24": _schedule_frame(start_time="24:00"),
    "clock-minute-60": _schedule_frame(stop_time="1:60"),
    "flag-setting-2": {
        "object": "CHARGE_POINTS",
        "data": [{**_CP, "plug_and_charge": {"value": 2}}],
    },
    "flag-setting-0.5": _settings_frame(public_charging={"value": 0.5}),
    "linked-only-2": _settings_frame(linked_charge_cards_only=2),
    "empty-evse-id": {"object": "CH_STATUS", "evse_id": "", "data": {}},
    "empty-data-evse-id": {"object": "CH_SETTINGS", "data": {"evse_id": ""}},
    "grid-id-without-evse": {"object": "GRID_STATUS", "data": {"id": "GRID-"}},
    "grid-id-without-prefix": {"object": "GRID_STATUS", "data": {"id": ""}},
    "error-code-1.5": {"object": "ERROR", "error": 1.5},
    "customer-id-1.5": {"object": "STATUS_API_TOKEN", "customer_id": 1.5},
    "card-valid-2.0": {"object": "CHARGE_CARDS", "cards": [{"valid": 2.0}]},
    "huge-number": _status(actual_p1=10**400),
    "street-5": {"object": "CHARGE_POINTS", "data": [{**_CP, "street": 5}]},
    "nested-grid-text": {"object": "GRID_CURRENT", "data": {"grid_actual_p1": "x"}},
    "stop-days-number": {
        "object": "LIST_OVERRIDE_CURRENT",
        "data": [{"schedule_id": "1", "override_stop_days": 5}],
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMA_INVALID))
def test_schema_and_converter_both_reject(name: str) -> None:
    frame = SCHEMA_INVALID[name]
    with pytest.raises(jsonschema.ValidationError):
        validate_wire_frame(frame)
    try:
        result = _convert(frame["object"], copy.deepcopy(frame))
    except ResponseValidationError:
        return
    # A non-essential field in an unknown shape: None, raw value kept (docs/PROTOCOL.md OP-10).
    assert _unparsed(result), f"{name}: converted without keeping the bad field"


# --------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------

# Examples per object name: from_schema draws the big schemas slowly (~0.1 s a frame for
# CHARGE_POINTS), so they get fewer examples; the whole module stays under ~20 s.
_EXAMPLES = {
    "CHARGE_POINTS": 8,
    "CHARGE_CARDS": 10,
    "LIST_OVERRIDE_CURRENT": 10,
    "POST_SET_OVERRIDE_CURRENT": 10,
    "POST_EDIT_OVERRIDE_CURRENT": 10,
    "CH_SETTINGS": 12,
    "CH_STATUS": 15,
}


def _settings(object_name: str) -> settings:
    return settings(
        max_examples=_EXAMPLES.get(object_name, 25),
        deadline=None,
        database=None,
        # too_slow: from_schema draws the larger schemas slowly; filter_too_much: it
        # filters internally (unique property names, anyOf branches).
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


_strategies: dict[str, st.SearchStrategy[Any]] = {}


def _frames(object_name: str) -> st.SearchStrategy[Any]:
    if object_name not in _strategies:
        _strategies[object_name] = from_schema(_test_schema(object_name))
    return _strategies[object_name]


def _check_event(frame: Any) -> None:
    with contextlib.suppress(ResponseValidationError):
        _CONV.event(frame)


@pytest.mark.parametrize("object_name", sorted(METHODS))
def test_schema_valid_frames_convert(object_name: str) -> None:
    @_settings(object_name)
    @given(frame=_frames(object_name))
    def check(frame: dict[str, Any]) -> None:
        validate_wire_frame(frame)  # sanity: the test copy generates only schema-valid frames
        try:
            assert _convert(object_name, copy.deepcopy(frame)) is not None
        except ResponseValidationError as exc:
            if not _calendar_impossible(frame, exc):
                raise  # a schema-valid frame the converter rejects: schema or converter bug
            hypothesis_event("tolerated: calendar-impossible date")
        _check_event(frame)

    check()


# --------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------

_TYPED: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(),
    "number": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(max_size=6),
    "array": st.lists(st.none() | st.integers() | st.text(max_size=3), max_size=3),
    "object": st.dictionaries(st.text(max_size=4), st.none() | st.integers(), max_size=3),
}

_ANY_TYPE = st.sampled_from(list(_TYPED)).flatmap(_TYPED.__getitem__)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # ints and floats are both JSON numbers
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _other_type(draw: st.DataObject, value: Any) -> Any:
    current = _json_type(value)
    kinds = [k for k in _TYPED if k != current and not (current == "number" and k == "integer")]
    return draw.draw(st.sampled_from(kinds).flatmap(_TYPED.__getitem__), label="retyped")


def _containers(node: Any) -> list[Any]:
    found = [node] if isinstance(node, dict | list) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found.extend(_containers(child))
    return found


def _new_key(existing: dict[str, Any]) -> st.SearchStrategy[str]:
    taken = frozenset(existing)
    return st.text(max_size=8).filter(lambda key: key not in taken)


def _mutate(frame: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Apply 1-3 mutations: drop a key/item, retype a value, add an unknown key."""
    mutated = copy.deepcopy(frame)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        target = data.draw(st.sampled_from(_containers(mutated)), label="target")
        action = data.draw(st.sampled_from(["drop", "retype", "extra"]), label="action")
        keys: list[Any] = sorted(target) if isinstance(target, dict) else list(range(len(target)))
        if action == "extra" or not keys:
            if isinstance(target, dict):
                name = data.draw(_new_key(target), label="unknown key")
                target[name] = data.draw(_ANY_TYPE, label="unknown value")
            else:
                target.append(data.draw(_ANY_TYPE, label="new item"))
            continue
        key = data.draw(st.sampled_from(keys), label="key")
        if action == "drop":
            del target[key]
        else:
            target[key] = _other_type(data, target[key])
    return mutated


@pytest.mark.parametrize("object_name", sorted(METHODS))
def test_mutated_frames_convert_or_raise_response_validation_error(object_name: str) -> None:
    @_settings(object_name)
    @given(frame=_frames(object_name), data=st.data())
    def check(frame: dict[str, Any], data: st.DataObject) -> None:
        mutated = _mutate(frame, data)
        try:
            _convert(object_name, mutated)
        except ResponseValidationError as exc:
            assert exc.raw == redact(mutated)  # the error carries the frame, secrets removed
        _check_event(mutated)

    check()
