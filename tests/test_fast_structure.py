"""The happy-path structure functions (``_fastpath.happy_path``) against the cattrs path.

Each generated function inlines its hooks' fast branches (``_values.FAST_BRANCHES``) and hands
every other value to the hook, so it must return what cattrs' lean function returns and raise
where it raises; the CH_STATUS and GRID_STATUS happy paths (``_convert._ch_status_happy``
and ``_grid_status_happy``) must return what their checked paths return. Held here, value
by value for each fast branch, then on the conversion corpus and on frames generated from the
wire schemas (and mutated), with the happy functions built WITHOUT their fall-back so that a
wrong fast branch cannot hide behind it. Last, a frame off the happy path must really reach
the fall-back.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import math
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_convert_equivalence import CALLS, cases, snapshot
from test_convert_fast_path import STRUCTURE_FUNCTIONS, happy_paths_off
from test_convert_schema_fuzz import METHODS, _frames, _mutate

from bluecurrent_sync import _values as values
from bluecurrent_sync._convert import (
    _PLAIN_NESTED,
    WireConverter,
    _ch_status_happy,
    _grid_status_happy,
    _make_converter,
)
from bluecurrent_sync._fastpath import happy_path, nested_branch
from bluecurrent_sync.errors import ResponseValidationError
from bluecurrent_sync.models import Activity, ChStatus, Setting, VehicleStatus

# -- each fast branch, value by value -------------------------------------------------------

#: What a wire value (or a caller's) can be, odd ones included.
SAMPLES: list[object] = [
    None,
    True,
    False,
    0,
    1,
    2,
    -1,
    7,
    2**53 + 1,
    10**400,
    0.0,
    -0.0,
    1.0,
    1.5,
    -2.25,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x",
    "A",
    "c",
    "charging",
    "CHARGING",
    "vehicle_detected",
    "20261120 18:04:11",
    "20261120 18:04:11+02:00",
    "2026-11-20T18:04:11Z",
    "20261320 18:04:11",
    [],
    [1],
    {},
    {"value": True},
    Activity.CHARGING,
    VehicleStatus.READY,
    dt.datetime(2026, 11, 20, 18, 4, 11),
]

_TYPES = {
    values.s_str: str,
    values.s_optional_str: str | None,
    values.s_float: float,
    values.s_optional_float: float | None,
    values.s_int: int,
    values.s_optional_int: int | None,
    values.s_bool: bool,
    values.s_optional_bool: bool | None,
    values.s_setting_value: bool | int | None,
    values.s_activity: Activity,
    values.s_vehicle_status: VehicleStatus,
    values.s_datetime: dt.datetime | None,
}


def test_every_fast_branch_is_tested() -> None:
    assert set(values.FAST_BRANCHES) == set(_TYPES)


def _result(call: Callable[[], object]) -> object:
    try:
        value = call()
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def _one_field(hook: Callable[[Any, Any], Any], kind: Any, *, required: bool) -> Any:
    """A model of one field ``x`` of type ``kind``, structured by ``hook`` alone."""
    field = attrs.field(type=kind) if required else attrs.field(type=kind, default=None)
    cls = attrs.make_class("One", {"x": field}, kw_only=True, frozen=True)
    return cls, happy_path(cls, lambda _kind: hook)


@pytest.mark.parametrize("hook", sorted(_TYPES, key=lambda h: h.__name__))
def test_a_fast_branch_reads_every_value_as_its_hook(hook: Any) -> None:
    kind = _TYPES[hook]
    _, fn = _one_field(hook, kind, required=True)
    for value in [*SAMPLES, *values.TIMESTAMPS]:  # a cached timestamp, too
        got = _result(lambda value=value: fn({"x": value}).x)
        assert got == _result(lambda value=value: hook(value, kind)), (hook.__name__, value)
    assert _result(lambda: fn({})) == ("raised", "KeyError", "'x'")  # as cattrs: required


@pytest.mark.parametrize("hook", sorted(_TYPES, key=lambda h: h.__name__))
def test_a_missing_optional_field_reads_as_its_default(hook: Any) -> None:
    _, fn = _one_field(hook, _TYPES[hook], required=False)
    assert fn({}).x is None


def test_the_common_wire_values_take_the_fast_branch() -> None:
    """Not vacuous: with a hook that always fails, the wire's usual values still read."""

    def never(value: object, _kind: Any) -> Any:
        raise AssertionError(f"hook called for {value!r}")

    values.parse_timestamp("20261120 18:04:11")
    common = {
        values.s_optional_float: [0.0, -0.0, 231.9, 20, None],
        values.s_optional_str: ["", "x", None],
        values.s_optional_bool: [True, False, 0, 1, None],
        values.s_setting_value: [True, 50, None],
        values.s_activity: ["charging", "Available", "lunch"],
        values.s_vehicle_status: ["A", "c", "vehicle_detected"],
        values.s_datetime: ["", None, "20261120 18:04:11"],
    }
    for hook, wire in common.items():
        branch = {never: values.FAST_BRANCHES[hook]}  # the branch, never its hook
        cls = attrs.make_class("One", {"x": attrs.field(default=None)}, kw_only=True)
        fn = happy_path(cls, lambda _kind, hook=hook: never, branches=branch)
        for value in wire:
            assert _result(lambda value=value, fn=fn: fn({"x": value}).x) == _result(
                lambda value=value, hook=hook: hook(value, _TYPES[hook])
            )


def test_a_nested_model_reads_as_its_hook() -> None:
    conv = WireConverter()
    hook = conv._conv.get_structure_hook
    for nested in _PLAIN_NESTED:
        optional = hook(nested | None)
        branch = {optional: nested_branch(nested, happy_path(nested, hook))}
        cls = attrs.make_class("One", {"x": attrs.field(default=None)}, kw_only=True)
        fn = happy_path(cls, lambda _kind, optional=optional: optional, branches=branch)
        wire: list[object] = [
            *SAMPLES,
            {"value": 2.5},
            {"value": 1, "permission": "write"},
            {"uid": "A", "valid": 1, "date_created": "2026-01-02"},
            {"price_in_vat": 0.26, "currency": "EUR"},
        ]
        for value in wire:
            got = _result(lambda value=value, fn=fn: snapshot(fn({"x": value}).x))
            want = _result(lambda value=value, optional=optional: snapshot(optional(value, None)))
            assert got == want, (nested.__name__, value)


# -- the timestamp cache ----------------------------------------------------------------------


def test_a_cached_timestamp_is_the_parse_of_its_text_and_errors_are_not_cached() -> None:
    text = "20260704 12:30:00"
    first = values.parse_timestamp(text)
    assert values.TIMESTAMPS[text] is first
    assert values.parse_timestamp(text) is first
    assert repr(first) == repr(values._parse_timestamp(text))
    with pytest.raises(ValueError, match="month must be in"):
        values.parse_timestamp("20261320 18:04:11")
    with pytest.raises(ValueError, match="month must be in"):
        values.parse_timestamp("20261320 18:04:11")
    assert "20261320 18:04:11" not in values.TIMESTAMPS
    assert "" not in values.TIMESTAMPS and values.parse_timestamp("") is None


def test_the_timestamp_cache_stays_bounded() -> None:
    for second in range(3 * values._TIMESTAMPS_MAX):
        text = f"20260704 12:{second // 60 % 60:02}:{second % 60:02}"
        assert values.parse_timestamp(text) == values._parse_timestamp(text)
        assert len(values.TIMESTAMPS) <= values._TIMESTAMPS_MAX


# -- whole models: the corpus and generated frames ---------------------------------------------


class Strict:
    """A converter's happy-path functions built without a fall-back, beside cattrs' lean ones."""

    def __init__(self) -> None:
        self.lean = _make_converter(detailed=False)
        hook = self.lean.get_structure_hook
        self.branches = dict(values.FAST_BRANCHES)
        for nested in _PLAIN_NESTED:
            strict = happy_path(nested, hook, branches=self.branches)
            self.branches[hook(nested | None)] = nested_branch(nested, strict)
        self._happy: dict[type, Callable[[Any], Any]] = {}

    def happy(self, cls: type) -> Callable[[Any], Any]:
        if cls not in self._happy:
            self._happy[cls] = happy_path(cls, self.lean.get_structure_hook, branches=self.branches)
        return self._happy[cls]

    def compare(self, cls: type, data: dict[str, Any]) -> bool:
        """Whether the happy function built the model; it equals the lean one's, or both raise."""
        try:
            made = self.happy(cls)(copy.deepcopy(data))
        except Exception:
            with pytest.raises(Exception):  # noqa: B017 - the lean function's own error
                self.lean.get_structure_hook(cls)(copy.deepcopy(data), cls)
            return False
        assert snapshot(made) == snapshot(self.lean.get_structure_hook(cls)(data, cls)), data
        return True


@contextlib.contextmanager
def recording(converter: WireConverter) -> Iterator[list[tuple[type, dict[str, Any]]]]:
    """Every (model, data) ``converter`` hands a structure function meanwhile."""
    seen: list[tuple[type, dict[str, Any]]] = []
    kept = {name: getattr(converter, name) for name in STRUCTURE_FUNCTIONS}
    for name, structure in kept.items():

        def spy(data: Any, cls: type, structure: Any = structure) -> Any:
            seen.append((cls, copy.deepcopy(data)))
            return structure(data, cls)

        setattr(converter, name, spy)
    try:
        yield seen
    finally:
        for name, structure in kept.items():
            setattr(converter, name, structure)


def _ch_status_agrees(converter: WireConverter, frame: Any) -> bool:
    """Whether the CH_STATUS happy path converted ``frame``; then as the checked path does."""
    try:
        made = _ch_status_happy(converter, copy.deepcopy(frame))
    except Exception:
        return False
    assert snapshot(made) == snapshot(converter._ch_status_checked(copy.deepcopy(frame))), frame
    return True


def _grid_status_agrees(converter: WireConverter, frame: Any) -> bool:
    """Whether the GRID_STATUS happy path converted ``frame`` (pushed and requested); then as
    the checked path does."""
    made = 0
    for evse_id in (None, "BCU000001"):
        try:
            happy = _grid_status_happy(converter, copy.deepcopy(frame), evse_id)
        except Exception:
            continue
        checked = converter._grid_status_checked(copy.deepcopy(frame), evse_id)
        assert snapshot(happy) == snapshot(checked), (frame, evse_id)
        made += 1
    return made > 0


def _frame_agrees(converter: WireConverter, frame: Any) -> bool:
    return _ch_status_agrees(converter, frame) | _grid_status_agrees(converter, frame)


def test_the_happy_paths_agree_with_cattrs_on_the_corpus() -> None:
    strict, converter, live = Strict(), WireConverter(), WireConverter()
    happy_paths_off(converter)  # every frame through the structure functions recorded here
    built: dict[str, int] = {}
    happy_statuses = happy_grids = 0
    with recording(converter) as seen:
        for _case, frame, methods in cases():
            happy_statuses += _ch_status_agrees(live, frame)
            happy_grids += _grid_status_agrees(live, frame)
            for method, call in CALLS:
                if method in methods:
                    for each in (converter, live):  # live learns smart charging as it goes
                        with contextlib.suppress(ResponseValidationError):
                            call(each, copy.deepcopy(frame))
    for cls, data in seen:
        if strict.compare(cls, data):
            built[cls.__name__] = built.get(cls.__name__, 0) + 1
    # Not vacuous: the corpus builds every frequent model many times over, on the happy path.
    for name in ("ChStatus", "ChSettings", "GridStatus", "ChargePoint", "ChargeCard"):
        assert built.get(name, 0) >= 2, built
    assert happy_statuses >= 5 and happy_grids >= 2, (happy_statuses, happy_grids)


_STRICT = Strict()
_CONV = WireConverter()


@pytest.mark.parametrize("object_name", sorted(METHODS))
def test_the_happy_paths_agree_with_cattrs_on_generated_frames(object_name: str) -> None:
    method = getattr(_CONV, METHODS[object_name])

    @settings(
        max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(frame=_frames(object_name), data=st.data())
    def check(frame: dict[str, Any], data: st.DataObject) -> None:
        for each in (frame, _mutate(frame, data)):
            _frame_agrees(_CONV, each)
            with recording(_CONV) as seen, contextlib.suppress(ResponseValidationError):
                method(copy.deepcopy(each))
            for cls, structured in seen:
                _STRICT.compare(cls, structured)

    check()


# -- off the happy path ------------------------------------------------------------------------


def _status(**data: Any) -> dict[str, Any]:
    return {"object": "CH_STATUS", "evse_id": "BCU1", "data": {"evse_id": "BCU1", **data}}


def test_a_value_off_the_happy_path_reaches_the_fall_back() -> None:
    conv = WireConverter()
    # The happy path's structure function fails on it (its hook raises) ...
    with pytest.raises(values.FieldError):
        _ch_status_happy(conv, _status(actual_kwh=True))
    # ... and the checked path keeps it aside, as before.
    status = conv.ch_status(_status(actual_kwh=True, actual_p1=1))
    assert status.actual_kwh is None and status.unparsed == {"actual_kwh": True}
    assert repr(status.actual_p1) == "1.0"
    # A number the computed fields read, off the happy path: the checked path names it.
    with pytest.raises(ResponseValidationError) as info:
        conv.ch_status(_status(actual_p1=True))
    assert info.value.field == "data.actual_p1"
    # A model's fall-back: cattrs' lean function, then the detailed one names it.
    with pytest.raises(ResponseValidationError) as info:
        conv.charge_cards({"object": "CHARGE_CARDS", "cards": [{"uid": "A", "valid": 2}]})
    assert info.value.field == "cards[0].valid"
    settings_ = conv.ch_settings(
        {"object": "CH_SETTINGS", "data": {"evse_id": "B", "model_type": 5, "tariff": True}}
    )
    assert settings_.unparsed == {"model_type": 5, "tariff": True}


def test_a_happy_path_function_hands_a_failure_to_its_fall_back() -> None:
    conv = WireConverter()
    hook = conv._conv.get_structure_hook
    handed: list[object] = []

    def fallback(data: object, cls: type) -> Any:
        handed.append(data)
        return hook(cls)(data, cls)

    fn = happy_path(Setting, hook, fallback=fallback, branches=conv._branches)
    assert fn({"value": 3, "permission": "read"}, Setting) == Setting(value=3, permission="read")
    assert handed == []
    with pytest.raises(values.FieldError, match="expected a boolean or integer, got float"):
        fn({"value": 2.5}, Setting)
    assert handed == [{"value": 2.5}]
    assert fn({"value": 2.0}, Setting) == Setting(value=2)  # the hook's slow branch: no fall-back
    assert len(handed) == 1


def test_the_happy_path_reads_a_negative_zero_limit_and_the_ids_as_the_checked_path() -> None:
    conv = WireConverter()
    frame = _status(max_usage=-0.0, actual_p1=0, actual_v1=-0.0, vehicle_status="a")
    assert _ch_status_agrees(conv, frame)
    assert repr(conv.ch_status(frame).current_left) == "0.0"  # -0.0 - 0.0, read by its hook
    conv.ch_settings({"object": "CH_SETTINGS", "data": {"evse_id": "BCU1", "smart_charging": 1}})
    frame = _status(max_usage=16, smartcharging_max_usage=6, actual_p1=2.5, actual_v1=230)
    assert _ch_status_agrees(conv, frame)
    assert conv.ch_status(frame).current_left == 3.5  # smart charging's limit
    frame = {"object": "CH_STATUS", "evse_id": "", "data": {"evse_id": "BCU2"}}
    assert _ch_status_happy(conv, frame) == conv._ch_status_checked(frame)
    assert conv.ch_status(frame).evse_id == "BCU2"
    assert conv.ch_status({**frame, "evse_id": "BCU3"}).evse_id == "BCU3"
    assert isinstance(conv.ch_status(frame), ChStatus)


def test_an_error_off_the_happy_path_carries_no_trace_of_it() -> None:
    with pytest.raises(ResponseValidationError) as info:
        WireConverter().ch_status(_status(actual_p1=True))
    chain: list[str] = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(type(exc).__name__)
        exc = exc.__cause__ or exc.__context__
    assert chain == ["ResponseValidationError", "FieldError"]
