"""Console output shared by the ``bluecurrent-sync`` command and the demo.

Tables (`format_table()`, `format_fields()`, `charge_point_table()`, `status_table()`), JSON
(`to_jsonable()`), one line per pushed event (`event_line()`), timed event streams
(`timed_events()`), the exit codes and the one-line error messages (`report_error()`). Both
front-door programs import from here; neither imports the other's module for these.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from attrs import AttrsInstance

from . import _clock
from ._events import event_object_name
from ._url import public_url
from .client import DEFAULT_URL
from .errors import (
    ActionFailed,
    AlreadyConnected,
    ApiError,
    DailyBudgetExceeded,
    InvalidApiToken,
    RequestLimitReached,
    RequestTimeoutError,
    UsageFileError,
)
from .models import (
    ChargeCard,
    ChargePoint,
    ChSettings,
    ChStatus,
    GridCurrent,
    GridStatus,
    RawEvent,
    Setting,
)

if TYPE_CHECKING:
    from ._dispatch import EventStream
    from .client import Client

__all__ = [
    "EXIT_CONNECTION",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_TOKEN",
    "EXIT_OK",
    "EXIT_QUOTA",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "NO_CARD",
    "TOKEN_ENV",
    "URL_ENV",
    "WHERE_TO_GET_ONE",
    "charge_point_table",
    "event_line",
    "event_object_name",
    "format_fields",
    "format_table",
    "print_error",
    "printable",
    "report_error",
    "status_table",
    "timed_events",
    "to_jsonable",
]

TOKEN_ENV = "BLUECURRENT_API_TOKEN"  # noqa: S105 (a variable name, not a secret)
#: The server to use instead of the real one (the examples read it too).
URL_ENV = "BLUECURRENT_URL"
#: The card uid the official app sends to start a session without a charge card.
NO_CARD = "BCU-APP"
WHERE_TO_GET_ONE = (
    "Generate an API token at https://my.bluecurrent.nl: settings, enable the advanced "
    "options, then Advanced > Generate API token."
)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INVALID_TOKEN = 3
EXIT_QUOTA = 4
EXIT_CONNECTION = 5
EXIT_INTERRUPTED = 130


#: Characters a terminal acts on instead of showing: C0 controls (ESC, BEL, CR, ...), DEL,
#: C1 controls (CSI, OSC, ...) and the bidirectional overrides that reorder shown text.
_SHOWN_ESCAPED = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    **{code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def printable(text: str) -> str:
    """``text`` safe to write to a terminal: control characters become visible escapes.

    A server (or a capture) controls many strings the console shows; an ESC, BEL or CR in
    one could retitle the window, clear the screen or fake a prompt. Each becomes ``\\x1b``,
    ``\\x07``, ``\\r``...; everything else is unchanged. JSON output needs none of this
    (``json.dumps`` escapes them itself and stays exact).
    """
    return text.translate(_SHOWN_ESCAPED)


def to_jsonable(value: object) -> Any:
    """Turn models (and lists/dicts of them) into JSON-ready Python values.

    attrs classes become dicts (``attrs.asdict``; fields declared ``repr=False``, such as
    tokens, are left out), datetimes, dates and times become ISO 8601 strings, enums
    their values, and NaN or infinite numbers (which JSON cannot represent) ``None``.
    """
    if attrs.has(type(value)):
        return attrs.asdict(
            value,  # type: ignore[arg-type]
            filter=lambda attribute, _value: attribute.repr is not False,
            value_serializer=lambda _inst, _field, item: _json_scalar(item),
        )
    if isinstance(value, dict):
        return {str(_json_scalar(key)): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return _json_scalar(value)


def _json_scalar(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | dt.time):  # dt.datetime is a dt.date
        return value.isoformat()
    return value


def _cell(value: object) -> str:
    """Render one value for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Setting):
        shown = _cell(value.value)
        return (
            f"{shown} ({_PERMISSIONS.get(value.permission, value.permission)})"
            if value.permission
            else shown
        )
    if isinstance(value, ChargeCard):
        return f"{value.name or value.id or '-'} ({value.uid})"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value) or "-"
    return str(value)


#: How a setting's permission reads in a table cell.
_PERMISSIONS = {"write": "you may change it", "read": "read-only"}


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An aligned plain-ASCII table: a header, a rule of dashes, one line per row.

    Numbers are right-aligned, everything else left-aligned; None shows as ``-``.
    """
    raw_rows = [list(row) for row in rows]
    cells = [[printable(_cell(value)) for value in row] for row in raw_rows]
    headers = [printable(header) for header in headers]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], len(text))
    numeric = [
        bool(raw_rows)
        and all(
            isinstance(row[index], int | float) and not isinstance(row[index], bool)
            for row in raw_rows
            if row[index] is not None
        )
        for index in range(len(headers))
    ]

    def line(texts: Sequence[str]) -> str:
        parts = [
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(texts, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * width for width in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def format_fields(model: AttrsInstance) -> str:
    """A two-column table (field, value) of one model's fields."""
    rows = [
        (field.name, getattr(model, field.name))
        for field in attrs.fields(type(model))
        if field.repr is not False
    ]
    return format_table(("FIELD", "VALUE"), rows)


def event_line(event: object) -> str:
    """One human-readable line for a pushed event, prefixed with the local time."""
    now = _clock.now().astimezone().strftime("%H:%M:%S")
    name = event_object_name(event)
    if isinstance(event, ChStatus):
        detail = (
            f"{event.evse_id}  {_cell(event.activity)}  {event.total_kw:.2f} kW  "
            f"{_cell(event.actual_kwh)} kWh  vehicle {_cell(event.vehicle_status)}"
        )
    elif isinstance(event, GridCurrent | GridStatus):
        detail = (
            f"{event.evse_id or '-'}  phases {_cell(event.grid_actual_p1)} / "
            f"{_cell(event.grid_actual_p2)} / {_cell(event.grid_actual_p3)} A  "
            f"max {_cell(event.grid_max_current)} A"
        )
    elif isinstance(event, ChSettings):
        detail = (
            f"{event.evse_id}  plug and charge {_cell(event.plug_and_charge)}  "
            f"linked cards only {_cell(event.linked_charge_cards_only)}"
        )
    elif isinstance(event, list):
        detail = f"{len(event)} charge point(s)"
    elif isinstance(event, RawEvent) and event.raw.get("error"):
        detail = str(event.raw["error"])  # a "disconnected" event says why
    else:
        detail = ""
    return printable(f"{now}  {name:<13} {detail}".rstrip())


def charge_point_table(points: Sequence[ChargePoint]) -> str:
    """The charge-point table shown by ``charge-points`` and the demo."""
    return format_table(
        ("EVSE", "NAME", "MODEL", "ACTIVITY", "PLUG&CHARGE", "LINKED CARDS ONLY"),
        [
            (
                p.evse_id,
                p.name,
                p.model_type,
                p.activity,
                p.plug_and_charge,
                p.linked_charge_cards_only,
            )
            for p in points
        ],
    )


def status_table(statuses: Iterable[ChStatus]) -> str:
    """The status table shown by ``status`` and the demo."""
    return format_table(
        ("EVSE", "ACTIVITY", "kW", "kWh", "VEHICLE", "SESSION START"),
        [
            (s.evse_id, s.activity, s.total_kw, s.actual_kwh, s.vehicle_status, s.start_datetime)
            for s in statuses
        ],
    )


@contextlib.contextmanager
def timed_events(
    client: Client, *object_names: str, seconds: float | None = None
) -> Iterator[EventStream]:
    """``client.events(*object_names)``, closed after ``seconds`` (never, if None).

    The stream is closed by a timer, so a blocked iteration ends exactly at the deadline.
    """
    with client.events(*object_names) as stream:
        timer = None
        if seconds is not None:
            timer = threading.Timer(seconds, stream.close)
            timer.name = "bluecurrent-sync-cli-timer"
            timer.daemon = True
            timer.start()
        try:
            yield stream
        finally:
            if timer is not None:
                timer.cancel()
                timer.join(1.0)  # a cancelled timer ends at once; stream.close() is quick


def _error_message(exc: BaseException, url: str, url_setting: str) -> tuple[int, str]:
    cli = url_setting == "--url"  # the command's own options may be named
    if isinstance(exc, InvalidApiToken):
        return EXIT_INVALID_TOKEN, f"the server refused the API token. {WHERE_TO_GET_ONE}"
    if isinstance(exc, DailyBudgetExceeded):
        advice = "Raise --daily-budget or wait." if cli else "Wait, or raise the budget."
        return EXIT_QUOTA, f"{exc}; nothing was sent. {advice}"
    if isinstance(exc, UsageFileError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, RequestLimitReached):
        local = exc.reset_at.astimezone()
        return EXIT_QUOTA, (
            "the daily request quota of this account is used up. It resets at "
            f"{local:%Y-%m-%d %H:%M} local time ({local:%Z}); try again after that."
        )
    if isinstance(exc, AlreadyConnected):
        return EXIT_CONNECTION, (
            f"{url} refused the connection: this IP or token is already connected. "
            "Close the other client (Home Assistant, another script) and try again."
        )
    if isinstance(exc, RequestTimeoutError):
        advice = "try again, or raise --timeout / --action-timeout" if cli else "try again"
        return EXIT_CONNECTION, (
            f"{exc}. The server or the charge point did not answer in time; {advice}."
        )
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        said = str(exc)
        # The client's own messages name the (redacted) URL already: say it once.
        what = said if "ws://" in said or "wss://" in said else f"cannot talk to {url}: {said}"
        return EXIT_CONNECTION, (
            f"{what}. Check the URL ({url_setting}) and your network connection."
        )
    if isinstance(exc, ApiError) and exc.code == 2:
        listed = "; 'bluecurrent-sync charge-points' lists them" if cli else ""
        return EXIT_REFUSED, (f"{exc}. The charge point is not one of this account's{listed}.")
    if isinstance(exc, ActionFailed):
        return EXIT_REFUSED, f"the charge point refused: {exc}"
    return EXIT_REFUSED, str(exc)


def report_error(
    exc: BaseException,
    *,
    url: str | None = None,
    token: str | None = None,
    program: str = "bluecurrent-sync",
    url_setting: str = "--url",
) -> int:
    """Print what went wrong and what to do about it to stderr; returns the exit code.

    Handles the SDK's errors and the built-in connection/timeout errors (see the exit
    codes in ``--help``). ``token`` is masked should it appear in a message; ``url`` is
    shown without its userinfo and query (they may hold secrets).

    Args:
        exc: The error.
        url: The server URL (default: the real server's).
        token: The API token, masked should it appear.
        program: The name the line starts with (a script's own, say).
        url_setting: How the user sets the URL, named in the advice: ``--url`` (the
            command, whose other options the advice may name too) or, for a script, for
            example ``BLUECURRENT_URL``.
    """
    code, message = _error_message(exc, public_url(url or DEFAULT_URL), url_setting)
    print_error(message, token, program=program)
    return code


def print_error(
    message: str, token: str | None, *, prefix: str = "error", program: str = "bluecurrent-sync"
) -> None:
    """Write ``program: error: message`` (or another ``prefix``) to stderr.

    The token is masked, control characters are shown as escapes.
    """
    if token:
        message = message.replace(token, "***")
    sys.stderr.write(f"{program}: {prefix}: {printable(message)}\n")
