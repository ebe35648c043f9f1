"""Conversion outcomes pinned in a file a reviewer can read.

The cases: every sample of ``frames.py`` and ``frames_recorded.py``, and sample data pushed
under other objects. ``data/convert_expected.txt`` holds, for each case, what every public
:class:`WireConverter` method makes of it (the model's ``repr``, field by field, so ``-0.0``
and ``0.0`` or ``1`` and ``1.0`` differ; or the exception with its field and code), the
smart-charging knowledge after it and the lines it logged. A change of behaviour shows in the
diff of that file. After an intended change, rewrite it with
``BLUECURRENT_WRITE_EXPECTED=1 pytest tests/test_convert_equivalence.py`` and say why in the
commit. The package's clock stands at a fixed instant meanwhile, so the quota reset in the
ERROR 42 texts reads the same on every day.

Odd values in every field (wrong types, missing keys, NaN, huge numbers) are the job of
``test_convert_schema_fuzz.py``, which generates them from the wire schemas.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import frames
import frames_recorded
import pytest

from bluecurrent_sync import _clock
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
    """The lines logged by this thread (the converter's): a client another test left
    reconnecting in this process logs on the same logger, from its own thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
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


def picture(value: Any) -> str:
    """One line for an outcome: a model's ``repr``, or the exception and what it carries."""
    if isinstance(value, tuple) and value and value[0] == "raised":
        _, kind, text, field, object_name, _raw, code = value
        extra = [
            f"{label}={item[1]}"
            for label, item in (("field", field), ("object", object_name), ("code", code))
            if item[1] != "None"
        ]
        return f"raises {kind}: {text}" + (f" [{', '.join(extra)}]" if extra else "")
    return _flat(value)


def _flat(snap: Any) -> str:
    kind, content = snap
    if kind == "dict":
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in content) + "}"
    if kind in ("list", "tuple"):
        return "[" + ", ".join(_flat(item) for item in content) + "]"
    if isinstance(content, list):  # an attrs model: its fields
        return f"{kind}(" + ", ".join(f"{name}={_flat(item)}" for name, item in content) + ")"
    return str(content)


#: The clock while the expectations are computed (a winter weekday, mid-day in Amsterdam).
FIXED_NOW = dt.datetime(2027, 1, 14, 12, 0, tzinfo=dt.timezone.utc)
EXPECTED = Path(__file__).parent / "data" / "convert_expected.txt"


def expected_text() -> str:
    converter = WireConverter()  # one for the whole set: the knowledge builds up in order
    blocks = []
    for name, frame, methods in cases():
        calls = [(method, call) for method, call in CALLS if method in methods]
        outcomes, log = run_all(converter, frame, calls)
        lines = [f"## {name}"]
        lines += [f"{method}: {picture(outcome)}" for method, outcome in outcomes]
        lines += [f"log: {line}" for line in log]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def test_representative_outcomes_read_as_pinned() -> None:
    _clock.start_at(FIXED_NOW)
    try:
        text = expected_text()
    finally:
        _clock.start_at(None)
    if os.environ.get("BLUECURRENT_WRITE_EXPECTED") == "1":
        EXPECTED.write_text(text, "utf-8")
    expected = EXPECTED.read_text("utf-8")
    if text != expected:
        mine, theirs = text.splitlines(), expected.splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b),
            min(len(mine), len(theirs)),
        )
        pytest.fail(
            f"conversion outcomes differ from {EXPECTED.name} at line {first + 1}:\n"
            f"  expected: {theirs[first] if first < len(theirs) else '<end>'}\n"
            f"  now:      {mine[first] if first < len(mine) else '<end>'}"
        )
