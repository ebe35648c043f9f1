"""Every conversion outcome pinned: the converter must keep behaving exactly as it does.

Every public :class:`WireConverter` method runs on a corpus of frames, in one fixed order (so
the smart-charging knowledge builds up the same way each time): every sample of ``frames.py``
and ``frames_recorded.py``, sample data pushed under other objects, and every value of every
sample replaced in turn by each of 13 special values (null, booleans, ``-0.0``, 10**400, NaN,
numeric strings, empty containers, a wrapped setting) or deleted. Each case's outcome is a
``repr`` picture: the model field by field (so ``-0.0``/``0.0``, ``1``/``1.0`` and NaN count
as different), or the exception type with its ``field``, message, ``object_name``, redacted
``raw`` and code, plus the warnings logged and the smart-charging knowledge after it. Its
digest must match ``data/convert_golden.json``.

The digests were written by the converter as it was before its speed-up (and the speed-up was
checked against that converter on Hypothesis-mutated frames as well). After an intended
change of behaviour, rewrite them with ``BLUECURRENT_WRITE_GOLDEN=1 pytest
tests/test_convert_equivalence.py`` and say why in the commit.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import frames
import frames_recorded
import pytest

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


def cases() -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """Every case of the corpus, in its one order: (name, frame, the methods to run)."""
    every = [name for name, _ in CALLS]
    for name in sorted(SAMPLES):
        yield f"sample {name}", SAMPLES[name], every
    for index, data in enumerate(
        (frames.CH_STATUS["data"], frames.CHARGE_POINT_ITEM, frames.CH_SETTINGS["data"])
    ):
        for name in ("CH_STATUS", "CH_SETTINGS", "GRID_STATUS", "GRID_CURRENT"):
            frame = {"object": name, "evse_id": "BCU1", "data": copy.deepcopy(data)}
            yield f"data {index} as {name}", frame, every
    for where, object_name, frame in sweep_frames():
        yield f"sweep {where}", frame, [*READERS[object_name], "event"]


def digest(converter: Any, frame: dict[str, Any], methods: list[str]) -> str:
    """The digest of what ``methods`` make of ``frame`` (outcomes, knowledge, log)."""
    calls = [(name, call) for name, call in CALLS if name in methods]
    outcomes, log = run_all(converter, frame, calls)
    return hashlib.sha256(repr((outcomes, log)).encode("utf-8")).hexdigest()[:16]


GOLDEN = Path(__file__).parent / "data" / "convert_golden.json"


@pytest.mark.slow  # 6,000+ cases: once per `make test`, not again in the sdist check
def test_every_conversion_outcome_is_as_pinned() -> None:
    converter = WireConverter()  # one for the whole corpus: the knowledge builds up in order
    seen = {name: digest(converter, frame, methods) for name, frame, methods in cases()}
    assert len(seen) > 1000
    if os.environ.get("BLUECURRENT_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(seen, indent=0, sort_keys=True) + "\n", "utf-8")
    pinned = json.loads(GOLDEN.read_text("utf-8"))
    changed = sorted(name for name in seen if seen[name] != pinned.get(name))
    assert not changed, f"{len(changed)} case(s) convert differently, e.g. {changed[:5]}"
    assert sorted(pinned) == sorted(seen), "the corpus changed: rewrite the digests"
