"""The happy path of conversion: lean cattrs functions and the hooks' type-exact fast branches.

(The generated happy-path functions in front of the lean ones are tests/test_fast_structure.py's.)
A frame is structured by cattrs' lean functions first; only a failure runs the detailed ones,
which name the failing field (``_convert.WireConverter._structure``). The hooks both call take
the wire's common types in a fast branch before their validating reader. These tests hold the
two paths to one result on the whole conversion corpus, each fast branch to what its reader
makes of the same value, and a bad value to its named error.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from test_convert_equivalence import CALLS, cases, snapshot

from bluecurrent_sync import _values as values
from bluecurrent_sync._convert import WireConverter, _make_converter
from bluecurrent_sync.errors import ResponseValidationError
from bluecurrent_sync.models import Activity, ChargePoint, ChSettings, ChStatus, GridStatus

#: The converter's structure functions (attribute names) that the corpus reaches.
STRUCTURE_FUNCTIONS = (
    "_to_charge_point",
    "_to_charge_card",
    "_to_ch_status",
    "_to_ch_settings",
    "_to_grid_status",
    "_to_grid_current",
    "_to_account",
    "_to_schedule",
)


def _structure_inputs() -> list[tuple[type, dict[str, Any]]]:
    """Every (model, data) the corpus hands a structure function, in corpus order."""
    seen: list[tuple[type, dict[str, Any]]] = []
    converter = WireConverter()
    happy_paths_off(converter)
    for name in STRUCTURE_FUNCTIONS:
        lean = getattr(converter, name)

        def recording(data: Any, cls: type, lean: Any = lean) -> Any:
            seen.append((cls, copy.deepcopy(data)))
            return lean(data, cls)

        setattr(converter, name, recording)
    for _case, frame, methods in cases():
        for method, call in CALLS:
            if method in methods:
                with contextlib.suppress(ResponseValidationError):  # recorded all the same
                    call(converter, copy.deepcopy(frame))
    return seen


def happy_paths_off(converter: WireConverter) -> None:
    """Send every frame down the checked path (the happy paths, tests/test_fast_structure.py,
    skip the lean functions)."""

    def off_path(*_args: Any) -> Any:
        raise LookupError("happy path off")

    for name in vars(converter):
        if name.startswith("_happy_"):
            setattr(converter, name, off_path)


def _outcome(fn: Any, data: dict[str, Any], cls: type) -> Any:
    try:
        return snapshot(fn(copy.deepcopy(data), cls))
    except Exception:
        return "raised"  # the lean function's error is not its message: the detailed one names it


def test_lean_and_detailed_functions_build_equal_models_on_the_corpus() -> None:
    inputs = _structure_inputs()
    lean, detailed = _make_converter(detailed=False), _make_converter(detailed=True)
    built: Counter[str] = Counter()
    for cls, data in inputs:
        fast = _outcome(lean.get_structure_hook(cls), data, cls)
        named = _outcome(detailed.get_structure_hook(cls), data, cls)
        assert fast == named, f"{cls.__name__} from {data!r}"
        if fast != "raised":
            built[cls.__name__] += 1
    # Not vacuous: the corpus builds every frequent model many times over.
    for cls in (ChStatus, ChSettings, GridStatus, ChargePoint):
        assert built[cls.__name__] >= 5, built


# -- each fast branch against its reader ---------------------------------------------------

WHOLE_NUMBERS = [0, 1, -1, 7, 230, 2**53 + 1, -(2**60)]


@pytest.mark.parametrize("value", WHOLE_NUMBERS)
@pytest.mark.parametrize("hook", [values.s_float, values.s_optional_float])
def test_a_whole_number_reads_as_its_float(hook: Any, value: int) -> None:
    got = hook(value, float)
    assert type(got) is float
    assert repr(got) == repr(float(value))
    assert got == values.number(value, "")


@pytest.mark.parametrize("hook", [values.s_float, values.s_optional_float])
def test_a_boolean_is_not_a_number(hook: Any) -> None:
    with pytest.raises(values.FieldError, match="expected a number, got bool"):
        hook(True, float)
    with pytest.raises(OverflowError):  # as float() of it, the reader's own error
        hook(10**400, float)


@pytest.mark.parametrize("hook", [values.s_bool, values.s_optional_bool])
def test_zero_and_one_read_as_booleans_and_other_integers_do_not(hook: Any) -> None:
    for value in (0, 1, False, True):
        got = hook(value, bool)
        assert got is values.boolean(value, "")
    for value in (2, -1, 10**400):
        with pytest.raises(values.FieldError, match="expected a boolean, got int"):
            hook(value, bool)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("charging", Activity.CHARGING),
        ("CHARGING", Activity.CHARGING),
        ("Available", Activity.AVAILABLE),
        ("", Activity.UNKNOWN),
        ("lunch", Activity.UNKNOWN),
        (Activity.ERROR, Activity.ERROR),
        (None, Activity.UNKNOWN),
    ],
)
def test_activity_strings(wire: object, expected: Activity) -> None:
    assert values.s_activity(wire, Activity) is expected


@pytest.mark.parametrize("sign", ["+", "-"])
@pytest.mark.parametrize("hours", [0, 1, 5, 13, 23])
@pytest.mark.parametrize("minutes", [0, 30, 45, 59])
def test_offset_timestamps(sign: str, hours: int, minutes: int) -> None:
    delta = dt.timedelta(hours=hours, minutes=minutes)
    zone = dt.timezone(-delta if sign == "-" else delta)
    expected = dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=zone)
    for suffix in (f"{sign}{hours:02}:{minutes:02}", f"{sign}{hours:02}{minutes:02}"):
        got = values.parse_timestamp(f"20230724 15:25:33{suffix}")
        assert got == expected
        assert repr(got) == repr(expected)
        assert got is not None and got.utcoffset() == expected.utcoffset()


def test_an_offset_of_a_day_or_more_is_refused_after_a_bad_date() -> None:
    with pytest.raises(ValueError, match="strictly between"):
        values.parse_timestamp("20230724 15:25:33+24:00")
    with pytest.raises(ValueError, match="strictly between"):
        values.parse_timestamp("20230724 15:25:33-23:60")
    with pytest.raises(ValueError, match=r"month must be in 1\.\.12"):
        values.parse_timestamp("20231301 00:00:00+25:00")
    with pytest.raises(ValueError, match=r"month must be in 1\.\.12"):
        values.parse_timestamp("20231301 00:00:00+01:00")


# -- a bad value still gets the detailed error ---------------------------------------------


def _error(call: Any) -> ResponseValidationError:
    with pytest.raises(ResponseValidationError) as info:
        call()
    return info.value


def test_a_bad_value_is_named_by_the_detailed_function() -> None:
    conv = WireConverter()
    error = _error(
        lambda: conv.charge_cards({"object": "CHARGE_CARDS", "cards": [{"uid": "A", "valid": 2}]})
    )
    assert error.field == "cards[0].valid"
    assert "expected a boolean, got int" in str(error)
    error = _error(
        lambda: conv.override_schedules(
            {
                "object": "LIST_OVERRIDE_CURRENT",
                "data": [{"schedule_id": 1, "override_current": True}],
            }
        )
    )
    assert error.field == "data[0].override_current"
    assert "expected a number, got bool" in str(error)
    error = _error(lambda: conv.account({"object": "ACCOUNT", "login": 5}))
    assert error.field == "login"
    assert "expected a string, got int" in str(error)


def test_a_boolean_number_field_is_kept_unparsed_not_read_as_one() -> None:
    status = WireConverter().ch_status(
        {"object": "CH_STATUS", "data": {"evse_id": "B", "actual_kwh": True, "max_offline": 6}}
    )
    assert status.actual_kwh is None
    assert status.unparsed == {"actual_kwh": True}
    assert status.max_offline == 6.0
    assert type(status.max_offline) is float
