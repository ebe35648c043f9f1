"""The converter behaves exactly as its pre-speed-up copy (``tests/convert_reference``).

Every public :class:`WireConverter` method runs on the same frame in both converters, in
the same order (so the smart-charging knowledge builds up alike), and must give the same
outcome: an equal model compared field by field through ``repr`` (so ``-0.0``/``0.0``,
``1``/``1.0`` and NaN count as different), or the same exception type with the same
``field``, message, ``object_name`` and redacted ``raw``. The same warnings must be logged
(the once-per-field notice of a value set aside in ``.unparsed``). The frames are every
sample of ``frames.py`` and ``frames_recorded.py`` and Hypothesis mutations of them: wrong
types, nulls, missing keys, booleans for numbers, huge integers, NaN, strings for numbers and
nested garbage, at any depth.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import frames
import frames_recorded
import pytest
from convert_reference import convert as reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluecurrent_sync._convert import WireConverter
from bluecurrent_sync._log import CONNECTION

SAMPLES: dict[str, dict[str, Any]] = {
    **{f"frames.{name}": frame for name, frame in frames.ALL.items()},
    **{f"recorded.{name}": frame for name, frame in frames_recorded.ALL.items()},
    "frames.CHARGE_POINT_ITEM": frames.CHARGE_POINT_ITEM,
    "recorded.RECORDED_CHARGE_POINT": frames_recorded.RECORDED_CHARGE_POINT,
}

#: Each public method, as (name, call); the CHARGE_POINTS and CH_SETTINGS readers come first,
#: so CH_STATUS sees the smart charging they recorded.
CALLS: list[tuple[str, Callable[[Any, dict[str, Any]], Any]]] = [
    ("charge_points", lambda c, f: c.charge_points(f)),
    ("ch_settings", lambda c, f: c.ch_settings(f)),
    ("ch_status", lambda c, f: c.ch_status(f)),
    ("charge_cards", lambda c, f: c.charge_cards(f)),
    ("grid_status", lambda c, f: c.grid_status(f)),
    ("grid_status(evse_id)", lambda c, f: c.grid_status(f, "BCU000001")),
    ("grid_current", lambda c, f: c.grid_current(f)),
    ("setting_result", lambda c, f: c.setting_result(f)),
    ("setting_result(requested)", lambda c, f: c.setting_result(f, True)),
    ("action_result", lambda c, f: c.action_result(f)),
    ("override_schedules", lambda c, f: c.override_schedules(f)),
    ("override_schedule", lambda c, f: c.override_schedule(f)),
    ("account", lambda c, f: c.account(f)),
    ("token_status", lambda c, f: c.token_status(f)),
    ("server_error", lambda c, f: c.server_error(f)),
    ("server_exception", lambda c, f: c.server_exception(f)),
    ("event", lambda c, f: c.event(f)),
    ("ch_status again", lambda c, f: c.ch_status(f)),
]


def snapshot(value: Any) -> Any:
    """A comparable picture of ``value``: type names and ``repr`` of every leaf."""
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return (type(value).__name__, [(f.name, snapshot(getattr(value, f.name))) for f in fields])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [snapshot(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(snapshot(k), snapshot(v)) for k, v in value.items()])
    if isinstance(value, BaseException):
        return outcome_of_error(value)
    return (type(value).__name__, repr(value))


def outcome_of_error(exc: BaseException) -> Any:
    return (
        "raised",
        type(exc).__name__,
        str(exc),
        snapshot(getattr(exc, "field", None)),
        snapshot(getattr(exc, "object_name", None)),
        snapshot(getattr(exc, "raw", None)),
        snapshot(getattr(exc, "code", None)),
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@contextmanager
def _logged() -> Iterator[list[str]]:
    logger = logging.getLogger(CONNECTION)
    handler = _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_all(
    converter: Any, frame: dict[str, Any], calls: list[tuple[str, Any]] = CALLS
) -> tuple[list[Any], list[str]]:
    """Every call's outcome on a copy of ``frame``, the smart-charging knowledge, the log."""
    outcomes: list[Any] = []
    with _logged() as lines:
        for name, call in calls:
            mine = copy.deepcopy(frame)
            try:
                outcomes.append((name, snapshot(call(converter, mine))))
            except Exception as exc:
                outcomes.append((name, outcome_of_error(exc)))
            assert snapshot(mine) == snapshot(frame), f"{name} changed its frame"
        outcomes.append(("smart_charging", snapshot(dict(converter._smart_charging))))
    return outcomes, lines


#: One converter of each kind for the whole module (building one costs ~20 ms): both see
#: the same frames in the same order, so their smart-charging knowledge and their
#: logged-once notices stay alike, and any difference shows.
PAIR = (reference.WireConverter(), WireConverter())


def assert_same(frame: dict[str, Any], calls: list[tuple[str, Any]] = CALLS) -> None:
    old_outcomes, old_log = run_all(PAIR[0], frame, calls)
    new_outcomes, new_log = run_all(PAIR[1], frame, calls)
    for old, new in zip(old_outcomes, new_outcomes, strict=True):
        assert new == old, f"{old[0]} differs"
    assert new_log == old_log


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_converts_as_before(name: str) -> None:
    assert_same(SAMPLES[name])


def test_sample_as_a_push_with_data_of_another_frame() -> None:
    # CH_STATUS data under other objects, and the charge-point item as CH_SETTINGS data.
    for data in (frames.CH_STATUS["data"], frames.CHARGE_POINT_ITEM, frames.CH_SETTINGS["data"]):
        for name in ("CH_STATUS", "CH_SETTINGS", "GRID_STATUS", "GRID_CURRENT"):
            assert_same({"object": name, "evse_id": "BCU1", "data": copy.deepcopy(data)})


# --------------------------------------------------------------------------------------
# Every value of every sample, replaced by each special value in turn
# --------------------------------------------------------------------------------------

#: The methods that read each object (the sweep below runs only these, and ``event``).
READERS: dict[str, list[str]] = {
    "CHARGE_POINTS": ["charge_points", "ch_status"],
    "CH_SETTINGS": ["ch_settings", "ch_status"],
    "CH_STATUS": ["ch_status"],
    "GRID_STATUS": ["grid_status", "grid_status(evse_id)"],
    "GRID_CURRENT": ["grid_current"],
    "CHARGE_CARDS": ["charge_cards"],
    "ACCOUNT": ["account"],
}
SPECIAL = [None, True, 1, 1.0, -0.0, 10**400, math.nan, "12", "x", "", {}, [], {"value": 2}]


def sweep_frames() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, sample in sorted(SAMPLES.items()):
        if sample.get("object") not in READERS:
            continue
        for path in _paths(sample):
            for index, special in enumerate([*SPECIAL, "delete"]):
                frame = copy.deepcopy(sample)
                holder = _container(frame, path)
                if special == "delete":
                    del holder[path[-1]]
                else:
                    holder[path[-1]] = special
                yield f"{name}{list(path)}#{index}", sample["object"], frame


def test_every_value_of_every_sample_replaced_converts_as_before() -> None:
    count = 0
    for where, object_name, frame in sweep_frames():
        methods = [*READERS[object_name], "event"]
        try:
            assert_same(frame, [(name, call) for name, call in CALLS if name in methods])
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        count += 1
    assert count > 1000


# --------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------

_SCALARS = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        2,
        7.0,
        -0.0,
        0.5,
        1e308,
        10**400,
        -(2**70),
        2**63,
        math.nan,
        math.inf,
        -math.inf,
        "",
        " ",
        "0",
        "12",
        "12.5",
        "abc",
        "A",
        "c",
        "charging",
        "CHARGING",
        "true",
        "20230724 15:25:33",
        "20230724 15:25:33+02:00",
        "2023-07-24T15:25:33Z",
        "2023-13-40",
        "2023-07-24",
        "10:30",
        "25:99",
        "MO,TU",
        "[1,2]",
        "GRID-BCU1",
        "BCU102728",
        "write",
    ]
)
_GARBAGE = st.recursive(
    _SCALARS | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["value", "permission", "days", "selected_days", "x", "uid", "valid"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key / index path inside ``value`` (dicts and lists), depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _paths(item, (*path, index))


def _container(frame: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        frame = frame[step]
    return frame


@st.composite
def mutated_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A sample frame with one to four mutations: replace, delete or add a value anywhere."""
    frame = copy.deepcopy(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(frame))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        holder = _container(frame, path)
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "replace":
            holder[path[-1]] = draw(_GARBAGE)
        elif action == "delete":
            del holder[path[-1]]
        elif isinstance(holder, dict):
            key = draw(st.sampled_from(["unparsed", "location", "data", "evse_id", "extra"]))
            holder[key] = draw(_GARBAGE)
    return frame


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_frames())
def test_mutated_frames_convert_as_before(frame: dict[str, Any]) -> None:
    assert_same(frame)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["CH_STATUS", "CH_SETTINGS", "GRID_STATUS", "GRID_CURRENT", "CHARGE_POINTS"]),
    st.dictionaries(
        st.sampled_from(
            [
                "evse_id",
                "activity",
                "vehicle_status",
                "actual_p1",
                "actual_v2",
                "max_usage",
                "smartcharging_max_usage",
                "start_datetime",
                "total_cost",
                "smart_charging",
                "plug_and_charge",
                "public_charging",
                "linked_charge_cards_only",
                "led_intensity",
                "delayed_charging",
                "tariff",
                "location",
                "housenumber",
                "default_card",
                "grid_actual_p1",
                "grid_max_install",
                "id",
                "unparsed",
            ]
        ),
        _GARBAGE,
        max_size=8,
    ),
)
def test_garbage_data_converts_as_before(name: str, data: dict[str, Any]) -> None:
    body: Any = [data] if name == "CHARGE_POINTS" else data
    assert_same({"object": name, "evse_id": "BCU1", "data": body})
