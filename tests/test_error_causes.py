"""A foreign exception translated into one of ours stays its cause (``raise ... from exc``).

The one place a cause is dropped on purpose, for secrecy (a refused upgrade: the library's
text carries the response headers), is pinned in tests/test_reliability.py.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from bluecurrent_sync import _values, cli
from bluecurrent_sync._capture_lines import CaptureLineError, capture_records
from bluecurrent_sync._convert import WireConverter
from bluecurrent_sync._dial import Deadline, _Lookup, _resolve
from bluecurrent_sync._protocol import clear_schedule_id_field
from bluecurrent_sync.errors import ResponseValidationError


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (_values.parse_timestamp, "2026-13-45T10:00:00"),
        (_values.parse_date, "2026-13-45"),
        (_values.parse_time, "25:99"),
    ],
)
def test_a_value_that_does_not_parse_keeps_the_parser_error(parse: object, text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse(text)  # type: ignore[operator]
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.__cause__ is not info.value


def test_a_frame_that_does_not_convert_keeps_the_reason() -> None:
    frame = {"object": "CH_STATUS", "data": {"evse_id": "BCU1", "actual_v1": ["not a number"]}}
    with pytest.raises(ResponseValidationError) as info:
        WireConverter().ch_status(frame)
    assert info.value.__cause__ is not None


def test_a_schedule_id_that_is_not_a_number_keeps_the_int_error() -> None:
    with pytest.raises(ValueError, match="schedule_id must be an integer id") as info:
        clear_schedule_id_field("abc")
    assert isinstance(info.value.__cause__, ValueError)


def test_a_capture_line_that_is_not_json_keeps_the_json_error(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    path.write_bytes(b"{not json\n")
    with pytest.raises(CaptureLineError, match="is not JSON") as info:
        list(capture_records(path))
    assert isinstance(info.value.__cause__, ValueError)


def test_a_command_line_number_keeps_the_float_error() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a number") as info:
        cli._positive_float("ten")
    assert isinstance(info.value.__cause__, ValueError)


def test_connects_sharing_a_failed_name_lookup_each_get_their_own_error() -> None:
    key = ("bcs-lookup-test.invalid", 443)
    lookup = _Lookup(*key)
    lookup.error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    lookup.done.set()
    with _Lookup._lock:
        _Lookup._running[key] = lookup  # as if a lookup of that name were running
    try:
        errors = []
        for _ in range(2):
            with pytest.raises(socket.gaierror) as info:
                _resolve(*key, Deadline(30.0), None)
            errors.append(info.value)
    finally:
        with _Lookup._lock:
            _Lookup._running.pop(key, None)
    first, second = errors
    assert first is not second and first is not lookup.error
    assert first.args == second.args == lookup.error.args
    assert first.__cause__ is lookup.error
