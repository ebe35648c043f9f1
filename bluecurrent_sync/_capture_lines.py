"""Reading a capture file line by line, within bounds: the one home of its input rules.

A capture (format in ``_record.py``) may come from anywhere: ``check-capture`` and the simulator's
replay both read it through `capture_records()`, which never holds more than one bounded line in
memory and rejects, naming the line, whatever the recorder never writes:

* a line longer than `MAX_LINE_BYTES` (checked while reading, before the line is whole in memory),
  or not UTF-8, or not a JSON object;
* nesting deeper than `MAX_DEPTH` levels (a frame is a few levels deep);
* a ``"t"`` that is not a finite number of seconds from 0 to `MAX_SECONDS`, a ``"seq"`` that is not
  a whole number from 1, a ``"dir"`` other than ``"in"``/``"out"``, a ``"conn"`` that is not a
  string.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_LINE_BYTES", "MAX_SECONDS", "CaptureLineError", "capture_records"]

#: The longest line read (a frame is capped far below this by the client).
MAX_LINE_BYTES = 16 * 1024 * 1024
#: The deepest nesting accepted in one line (the record, its frame, the frame's data...).
MAX_DEPTH = 64
#: The latest ``"t"`` accepted: 100 days after the capture started.
MAX_SECONDS = 100 * 24 * 3600.0


class CaptureLineError(ValueError):
    """A capture line breaks the format: ``line`` (1-based) and ``problem`` ("is not JSON")."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line} {problem}")
        self.line = line
        self.problem = problem


def capture_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` for every non-blank line of the capture at ``path``.

    Raises:
        CaptureLineError: A line breaks the format (see the module docstring).
        OSError: The file cannot be read, or is not a regular file (a FIFO is refused, not
            waited on).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        handle = open(fd, "rb")  # noqa: SIM115 - closed by the with below
    except BaseException:
        os.close(fd)
        raise
    with handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise CaptureLineError(number, f"is longer than {MAX_LINE_BYTES} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CaptureLineError(number, "is not UTF-8") from exc
            if not text.strip():
                continue
            yield number, _record(number, text)


def _record(number: int, text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except RecursionError as exc:
        raise CaptureLineError(number, f"is nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise CaptureLineError(number, "is not JSON") from exc
    if not isinstance(record, dict):
        raise CaptureLineError(number, "is not a JSON object")
    if _deeper_than(record, MAX_DEPTH):
        raise CaptureLineError(number, f"is nested deeper than {MAX_DEPTH} levels")
    t = record.get("t")
    if t is not None and not (
        isinstance(t, int | float)
        and not isinstance(t, bool)
        and math.isfinite(t)
        and 0 <= t <= MAX_SECONDS
    ):
        raise CaptureLineError(
            number, f'has "t": {_shown(t)}, not seconds from 0 to {MAX_SECONDS:.0f}'
        )
    seq = record.get("seq")
    if seq is not None and not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1):
        raise CaptureLineError(number, f'has "seq": {_shown(seq)}, not a whole number from 1')
    direction = record.get("dir")
    if direction is not None and direction not in ("in", "out"):
        raise CaptureLineError(number, f'has "dir": {_shown(direction)}, not "in" or "out"')
    conn = record.get("conn")
    if conn is not None and not isinstance(conn, str):
        raise CaptureLineError(number, f'has "conn": {_shown(conn)}, not a string')
    return record


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if _container(child))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if _container(child))
    return False


def _container(value: Any) -> bool:
    return isinstance(value, dict | list)


def _shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
