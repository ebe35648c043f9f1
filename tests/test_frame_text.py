"""The text of a sent frame: `_protocol.encode` writes exactly what ``json.dumps`` with
compact separators writes, for every frame (its string-only fast path included)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bluecurrent_sync import _protocol as proto


def _compact(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _text(rnd: random.Random) -> str:
    # ASCII, control characters, quotes and backslashes, non-ASCII, astral and lone surrogates.
    pool = [
        lambda: chr(rnd.randrange(0, 128)),
        lambda: rnd.choice('"\\/\n\t\x00\x7f'),
        lambda: chr(rnd.randrange(128, 0xD800)),
        lambda: chr(rnd.randrange(0xD800, 0xE000)),
        lambda: chr(rnd.randrange(0x10000, 0x110000)),
    ]
    return "".join(rnd.choice(pool)() for _ in range(rnd.randrange(0, 12)))


def test_string_frames_read_exactly_as_json_dumps_writes_them() -> None:
    rnd = random.Random(19)
    for _ in range(5000):
        frame = {_text(rnd): _text(rnd) for _ in range(rnd.randrange(0, 5))}
        assert proto.encode(frame) == _compact(frame), frame


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"command": "GET_CH_STATUS", "Authorization": "Token t", "evse_id": "BCU-1"},
        {"command": "SET_PLUG_AND_CHARGE", "evse_id": "BCU-1", "value": True},
        {"command": "SET_CURRENT", "evse_id": "BCU-1", "max_current": 16, "ratio": 0.5},
        {"command": "X", "schedule": {"days": [1, 2], "start": "08:00"}, "none": None},
        {"command": "X", "evse_id": "BCU-1", "later": "a", "n": 1},  # a late non-string
    ],
)
def test_other_frames_are_left_to_json_dumps(frame: dict[str, Any]) -> None:
    assert proto.encode(frame) == _compact(frame)


def test_every_command_frame_reads_as_json_dumps_writes_it() -> None:
    frames = [
        proto.command_frame(name, proto.auth_value("issued"), evse_id="BCU-1")
        for name in proto.COMMANDS
    ]
    frames.append(proto.command_frame("GET_CH_STATUS", None, **proto.evse_fields("BCU-ü")))
    for frame in frames:
        assert proto.encode(frame) == _compact(frame)
