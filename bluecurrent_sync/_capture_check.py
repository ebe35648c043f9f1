"""``bluecurrent-sync check-capture FILE``: what a recorded session says about the protocol.

Reads a capture written by record mode (``Client(record=...)``, ``--record``; format in
`bluecurrent_sync._record`) and reports

* **findings**: every frame from the server that the wire schemas (when available: a source
  checkout with ``jsonschema`` installed), the converter or the client's reply policy did not
  expect, each with the open point of docs/PROTOCOL.md it bears on; and
* **observations**: what the capture shows about each open point (``OP-n``), e.g. whether
  HELLO was answered or whose id a GRID_STATUS carried.

Exit status: 0 every frame was expected, 1 there are findings, 2 the file cannot be read or
breaks the capture format (a line too long, too deeply nested, or with a bad ``t``/``seq``:
the message names the line; see ``_capture_lines.py``). Never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import _protocol as proto
from ._capture_lines import CaptureLineError, capture_records
from ._console import printable
from ._convert import WireConverter, decode_frame
from ._record import CAPTURE_FORMAT
from .errors import ResponseValidationError

__all__ = ["CaptureError", "CaptureReport", "Note", "check_capture", "main"]

EXIT_EXPECTED = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2

#: Objects the server may push at any time (no request needed).
_PUSHES = frozenset(
    {"CH_STATUS", "CH_SETTINGS", "GRID_CURRENT", "GRID_STATUS", "CHARGE_POINTS", "HELLO", "ERROR"}
)
_OPERATIVE = proto.CONFIRMED_COMMANDS
_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "wire"
_SCHEMA_OF = {
    "CHARGE_POINTS": "charge_points",
    "CH_STATUS": "ch_status",
    "CH_SETTINGS": "ch_settings",
    "GRID_STATUS": "grid_status",
    "GRID_CURRENT": "grid_current",
    "CHARGE_CARDS": "charge_cards",
    "STATUS_SET_PLUG_AND_CHARGE": "setting_result",
    "STATUS_SET_PUBLIC_CHARGING": "setting_result",
    "LIST_OVERRIDE_CURRENT": "list_override_current",
    "POST_SET_OVERRIDE_CURRENT": "override_schedule_reply",
    "POST_EDIT_OVERRIDE_CURRENT": "override_schedule_reply",
    "POST_CLEAR_OVERRIDE_CURRENT": "post_clear_override_current",
    "ACCOUNT": "account",
    "STATUS_API_TOKEN": "status_api_token",
    "HELLO": "hello",
    "ERROR": "error",
}
_ACTION = re.compile(r"^(RECEIVED|STATUS)_[A-Z0-9_]+$")


def wire_schema_stem(object_name: str) -> str | None:
    """The ``schemas/wire/`` file (without ``.json``) describing a server object, or None.

    Acknowledgements and action results (``RECEIVED_X`` / ``STATUS_X``) and smart-charging
    replies named after their command (docs/PROTOCOL.md OP-6) share ``action_result``.
    """
    stem = _SCHEMA_OF.get(object_name)
    if stem is None and (_ACTION.match(object_name) or object_name in proto.SMART_COMMANDS):
        stem = "action_result"
    return stem


class CaptureError(Exception):
    """The capture file cannot be read (missing, not a capture, not JSON lines)."""


@dataclass(frozen=True)
class Note:
    """One finding or observation.

    Attributes:
        line: Line number in the capture (1 = the header).
        open_point: The docs/PROTOCOL.md entry it bears on, or None.
        message: What was seen.
    """

    line: int
    open_point: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.open_point}: " if self.open_point else ""
        return f"line {self.line}: {where}{self.message}"


@dataclass
class CaptureReport:
    """The result of `check_capture()`."""

    frames: int = 0
    received: int = 0
    connections: int = 0
    findings: list[Note] = field(default_factory=list)
    observations: list[Note] = field(default_factory=list)
    schemas_checked: bool = False

    def observe(self, line: int, open_point: str, message: str) -> None:
        """Add an observation unless the same one is already there."""
        if not any(n.open_point == open_point and n.message == message for n in self.observations):
            self.observations.append(Note(line, open_point, message))


@dataclass
class _Conn:
    sent: list[tuple[str, str | None]] = field(default_factory=list)
    hello_line: int | None = None
    hello_answered: bool = False


def _records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from capture_records(path)
    except CaptureLineError as exc:
        raise CaptureError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc}") from exc


def _schema_validator() -> Callable[[str, Mapping[str, Any]], str | None] | None:
    """A ``(name, frame) -> problem`` checker from ``schemas/wire``, if available."""
    try:
        import jsonschema  # type: ignore[import-untyped,unused-ignore]
        from referencing import Registry, Resource
    except ImportError:
        return None
    if not _SCHEMA_DIR.is_dir():
        return None
    schemas = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in _SCHEMA_DIR.glob("*.json")
    }
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )

    def problem(name: str, frame: Mapping[str, Any]) -> str | None:
        stem = wire_schema_stem(name)
        if stem is None:
            return f"no wire schema describes {name}"
        schema = schemas[stem]
        validator = jsonschema.validators.validator_for(schema)(schema, registry=registry)
        error = jsonschema.exceptions.best_match(validator.iter_errors(dict(frame)))
        return None if error is None else f"{error.json_path}: {error.message}"

    return problem


def check_capture(path: str | Path) -> CaptureReport:
    """Check every frame of the capture at ``path``.

    Returns:
        The report (findings and observations).

    Raises:
        CaptureError: The file cannot be read or is not a bluecurrent_sync capture.
    """
    records = _records(path)
    try:
        _, header = next(records)
    except StopIteration:  # the end of the records, not a failure: nothing to chain
        raise CaptureError(f"{path} is empty") from None
    if header.get("capture") != CAPTURE_FORMAT or header.get("version") != 1:
        raise CaptureError(f"{path} is not a bluecurrent_sync capture (version 1)")
    report = CaptureReport()
    schema_problem = _schema_validator()
    report.schemas_checked = schema_problem is not None
    checker = _Checker(report, schema_problem)
    for number, record in records:
        try:
            checker.record(number, record)
        except (TypeError, ValueError, AttributeError, RecursionError, OverflowError) as exc:
            message = f"a malformed capture line ({type(exc).__name__})"
            report.findings.append(Note(number, None, message))
    checker.finish()
    return report


class _Checker:
    def __init__(
        self,
        report: CaptureReport,
        schema_problem: Callable[[str, Mapping[str, Any]], str | None] | None,
    ) -> None:
        self.report = report
        self.schema_problem = schema_problem
        self.converter = WireConverter()
        self.conns: dict[tuple[str, int], _Conn] = {}

    def record(self, number: int, record: Mapping[str, Any]) -> None:
        key = (str(record.get("conn")), int(record.get("seq") or 1))
        conn = self.conns.setdefault(key, _Conn())
        if "event" in record:
            self.report.connections += record.get("event") == "opened"
            return
        if "dir" not in record:
            message = "a line that is neither frame nor event"
            self.report.findings.append(Note(number, None, message))
            return
        self.report.frames += 1
        if record["dir"] == "out":
            frame = record.get("frame")
            if isinstance(frame, dict) and isinstance(frame.get("command"), str):
                evse = frame.get("evse_id")
                conn.sent.append((frame["command"], evse if isinstance(evse, str) else None))
                if frame["command"] == proto.HELLO:
                    conn.hello_line = number
            return
        self.report.received += 1
        self.incoming(number, conn, record)

    def incoming(self, number: int, conn: _Conn, record: Mapping[str, Any]) -> None:
        report = self.report
        frame = record.get("frame")
        if frame is None:
            text = record.get("text")
            seen: list[bool] = []
            try:
                frame = decode_frame(str(text), lambda: seen.append(True))
            except (ValueError, RecursionError):
                report.findings.append(Note(number, None, f"not JSON: {str(text)[:80]!r}"))
                return
            if seen:
                report.observe(number, "OP-11", "the server sent NaN/Infinity/out-of-range numbers")
        if not isinstance(frame, dict):
            report.findings.append(Note(number, None, "a frame that is not a JSON object"))
            return
        name = proto.object_name_of(frame)
        if name is None:
            report.findings.append(Note(number, None, f"a frame without an object name: {frame}"))
            return
        if "object" not in frame:
            report.observe(number, "OP-8", f"{name} names itself with 'command', not 'object'")
        if self.schema_problem is not None:
            problem = self.schema_problem(name, frame)
            if problem is not None:
                report.findings.append(Note(number, _open_point_of(name), f"{name}: {problem}"))
        self.convert(number, name, frame)
        self.policy(number, conn, name, frame)

    def convert(self, number: int, name: str, frame: dict[str, Any]) -> None:
        method = _converter_for(self.converter, name)
        if method is None:
            return
        try:
            result = method(frame)
        except ResponseValidationError as exc:
            self.report.findings.append(Note(number, _open_point_of(name), f"{name}: {exc}"))
            return
        for item in result if isinstance(result, list) else [result]:
            unparsed = getattr(item, "unparsed", None)
            if unparsed:
                fields = ", ".join(f"{k}={v!r}" for k, v in unparsed.items())
                message = f"{name}: fields in a shape this version does not know: {fields}"
                self.report.findings.append(Note(number, "OP-10", message))

    def policy(self, number: int, conn: _Conn, name: str, frame: dict[str, Any]) -> None:
        report = self.report
        commands = [command for command, _ in conn.sent]
        expected = name in _PUSHES or name in {proto.OBJ_STATUS_API_TOKEN, proto.OBJ_ACCOUNT}
        expected = expected or any(name in proto.reply_roles(command) for command in commands)
        if not expected:
            message = f"{name} answers no command sent on this connection"
            report.findings.append(Note(number, _open_point_of(name), message))
        evse = frame.get("evse_id")
        if name == proto.OBJ_HELLO:
            conn.hello_answered = True
            report.observe(number, "OP-1", f"HELLO is answered: {sorted(frame)}")
        elif name == "GRID_STATUS":
            asked = [e for c, e in conn.sent if c == proto.GET_GRID_STATUS]
            data = frame.get("data")
            grid = data.get("id") if isinstance(data, dict) else None
            if asked and grid == f"GRID-{asked[-1]}":
                report.observe(number, "OP-2", "GRID_STATUS data.id names the requested point")
            elif asked:
                report.observe(number, "OP-2", f"GRID_STATUS data.id {grid!r} names another")
        elif name.removeprefix("RECEIVED_").removeprefix("STATUS_") in _OPERATIVE:
            has = "with" if evse else "without"
            report.observe(number, "OP-3", f"{name} exists, {has} evse_id, keys {sorted(frame)}")
        elif name in ("RECEIVED_SET_PLUG_AND_CHARGE", "RECEIVED_SET_PUBLIC_CHARGING"):
            report.observe(number, "OP-4", f"{name} exists")
        elif name.startswith("STATUS_SET_P") and frame.get("success") is False:
            result = frame.get("result")
            report.observe(number, "OP-4", f"a failed {name} carries result {result!r}")
        elif name == "STATUS_STOP_SESSION":
            has = "with" if evse else "without"
            report.observe(number, "OP-5", f"STATUS_STOP_SESSION comes {has} evse_id")
        elif name.removeprefix("RECEIVED_").removeprefix("STATUS_") in proto.SMART_COMMANDS:
            report.observe(number, "OP-6", f"smart charging is answered with {name}")
        elif name == "LIST_OVERRIDE_CURRENT":
            shape = "data" if frame.get("data") is not None else "result"
            report.observe(number, "OP-8", f"LIST_OVERRIDE_CURRENT carries its list in {shape}")
        elif name == "ERROR":
            pending = commands[-1] if commands else "no command"
            code = frame.get("error")
            report.observe(number, "OP-7", f"ERROR {code!r} arrived after {pending}")
        self.shapes(number, name, frame)

    def shapes(self, number: int, name: str, frame: dict[str, Any]) -> None:
        data = frame.get("data")
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        if name not in ("CHARGE_POINTS", "CH_SETTINGS"):
            return
        for item in items:
            if not isinstance(item, dict):
                continue
            notification = item.get("plug_and_charge_notification")
            if notification is not None:
                form = "wrapped" if isinstance(notification, dict) else "plain"
                self.report.observe(number, "OP-10", f"{name}: notification sent {form}")
            for key in ("plug_and_charge_card", "plug_and_charge_charge_card"):
                if key in item:
                    self.report.observe(number, "OP-10", f"{name}: the card key is {key}")
            for key in ("delayed_charging", "price_based_charging"):
                profile = item.get(key)
                if isinstance(profile, dict):
                    days = profile.get("days", profile.get("selected_days"))
                    if days is not None:
                        self.report.observe(number, "OP-9", f"{name}.{key} days: {days!r}")

    def finish(self) -> None:
        for (kind, seq), conn in self.conns.items():
            if kind == "main" and conn.hello_line is not None and not conn.hello_answered:
                message = f"HELLO on main connection {seq} was never answered"
                self.report.observe(conn.hello_line, "OP-1", message)


def _converter_for(
    converter: WireConverter, name: str
) -> Callable[[Mapping[str, Any]], object] | None:
    direct: dict[str, Callable[[Mapping[str, Any]], object]] = {
        "CHARGE_POINTS": converter.charge_points,
        "CHARGE_CARDS": converter.charge_cards,
        "CH_STATUS": converter.ch_status,
        "CH_SETTINGS": converter.ch_settings,
        "GRID_STATUS": converter.grid_status,
        "GRID_CURRENT": converter.grid_current,
        "STATUS_SET_PLUG_AND_CHARGE": converter.setting_result,
        "STATUS_SET_PUBLIC_CHARGING": converter.setting_result,
        "LIST_OVERRIDE_CURRENT": converter.override_schedules,
        "POST_SET_OVERRIDE_CURRENT": converter.override_schedule,
        "POST_EDIT_OVERRIDE_CURRENT": converter.override_schedule,
        "POST_CLEAR_OVERRIDE_CURRENT": converter.action_result,
        "ACCOUNT": converter.account,
        "STATUS_API_TOKEN": converter.token_status,
        "ERROR": converter.server_error,
    }
    if name in direct:
        return direct[name]
    if _ACTION.match(name) or name in proto.SMART_COMMANDS:
        return converter.action_result
    return None


def _open_point_of(name: str) -> str | None:
    bare = name.removeprefix("RECEIVED_").removeprefix("STATUS_")
    if name in ("HELLO",):
        return "OP-1"
    if name == "GRID_STATUS":
        return "OP-2"
    if bare in _OPERATIVE:
        return "OP-3"
    if bare in ("SET_PLUG_AND_CHARGE", "SET_PUBLIC_CHARGING"):
        return "OP-4"
    if bare == "STOP_SESSION":
        return "OP-5"
    if bare in proto.SMART_COMMANDS:
        return "OP-6"
    if name == "ERROR":
        return "OP-7"
    if name == "LIST_OVERRIDE_CURRENT":
        return "OP-8"
    if name in ("CHARGE_POINTS", "CH_SETTINGS", "CH_STATUS"):
        return "OP-10"
    return None


def main(path: str, out: TextIO, err: TextIO | None = None) -> int:
    """Print the report for the capture at ``path``; return the exit status (0, 1 or 2).

    The report goes to ``out``; an unreadable file is one line on ``err`` (default: ``out``).
    Every line is written with its control characters escaped (a capture holds what a
    server sent: it must not drive the terminal).
    """
    try:
        report = check_capture(path)
    except CaptureError as exc:
        (out if err is None else err).write(
            printable(f"bluecurrent-sync check-capture: error: {exc}") + "\n"
        )
        return EXIT_UNREADABLE
    _write(
        out,
        f"{path}: {report.frames} frames ({report.received} from the server) on "
        f"{report.connections} connections",
    )
    if not report.schemas_checked:
        out.write("(wire schemas not checked: they need a source checkout and jsonschema)\n")
    if report.findings:
        out.write(f"\nNot expected ({len(report.findings)}):\n")
        for note in report.findings:
            _write(out, f"  {note}")
    else:
        out.write("\nEvery frame was expected.\n")
    if report.observations:
        out.write("\nWhat this capture shows about the open points (docs/PROTOCOL.md):\n")
        for note in sorted(report.observations, key=lambda n: (n.open_point or "", n.line)):
            _write(out, f"  {note}")
    out.write(
        "\nPlease attach the capture (it has no tokens) to an issue; it settles these points.\n"
    )
    return EXIT_FINDINGS if report.findings else EXIT_EXPECTED


def _write(out: TextIO, line: str) -> None:
    out.write(printable(line) + "\n")
