"""The ``bluecurrent-sync`` command: every SDK call, one subcommand each.

Run ``bluecurrent-sync --help`` for the command list and the exit codes, or ``python -m
bluecurrent_sync``. The API token comes from ``--token`` or, better (it then stays out of the
process list and the shell history), from the environment variable ``BLUECURRENT_API_TOKEN``.
``--url`` (or ``BLUECURRENT_URL``, as in the examples) points the command at any server that speaks
the protocol, the local simulator included:

```console
bluecurrent-sync simulator &            # prints its URL and token
bluecurrent-sync --url ws://127.0.0.1:PORT/haserver --token TOKEN charge-points
```

The output is an aligned plain-text table, or JSON with ``--json`` (models become
objects; datetimes ISO 8601 strings; enums their wire values; ``watch --json``
prints one JSON object per line). The token is never printed.

The table, JSON and error helpers live in ``_console.py`` (shared with the demo); the public ones
are re-exported here (`report_error()`, `format_table()`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import TextIO

from bluecurrent_sync import EventStream, __version__
from bluecurrent_sync._args import OneLineParser, require_evse_id, require_text
from bluecurrent_sync._console import (
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_INVALID_TOKEN,
    EXIT_OK,
    EXIT_QUOTA,
    EXIT_REFUSED,
    EXIT_USAGE,
    NO_CARD,
    TOKEN_ENV,
    URL_ENV,
    WHERE_TO_GET_ONE,
    charge_point_table,
    event_line,
    event_object_name,
    format_fields,
    format_table,
    print_error,
    printable,
    report_error,
    status_table,
    timed_events,
    to_jsonable,
)
from bluecurrent_sync.client import DEFAULT_URL, Client
from bluecurrent_sync.errors import (
    BlueCurrentError,
)
from bluecurrent_sync.models import (
    ActionOutcome,
    ActionResult,
    RawEvent,
    SettingResult,
)

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
    "event_line",
    "format_fields",
    "format_table",
    "main",
    "report_error",
    "timed_events",
    "to_jsonable",
]

USAGE_FILE_ENV = "BLUECURRENT_USAGE_FILE"

EPILOG = f"""\
token:
  --token TOKEN or the environment variable {TOKEN_ENV} (preferred: it
  stays out of the process list). Generate an API token at https://my.bluecurrent.nl:
  settings, enable the advanced options, then Advanced > Generate API token.

server:
  --url URL or the environment variable {URL_ENV} (as the examples read it);
  default {DEFAULT_URL}.

EVSE:
  a charge point's id as 'charge-points' lists it, e.g. BCU100186 (EVSE: electric
  vehicle supply equipment). Ids are checked before anything is sent: an empty one, one
  with spaces around it or with lower-case letters is a usage error (exit 2).

proxy:
  Like curl, the client reads https_proxy (or all_proxy, and no_proxy) from the
  environment; --proxy http://[user:password@]host:port overrides it, --no-proxy ignores
  it. Only http:// proxies (no https:// or SOCKS proxies); the credentials are never shown.

start without --card:
  'start EVSE' starts a session without a charge card (it sends the card uid {NO_CARD},
  as the Blue Current app does). Pass --card UID to use one of the cards listed by 'cards'.

exit codes:
  0    success ('watch' ended by --count or --seconds)
  1    the server or the charge point refused the request (API error, action failed,
       unexpected reply)
  2    usage error (bad arguments, no token); nothing was sent
  3    the server refused the API token
  4    the daily request quota is used up (the message says when it resets)
  5    cannot connect, connection lost, already connected elsewhere, or no reply in time
  130  interrupted by Ctrl-C ('watch' included)

examples:
  export {TOKEN_ENV}=...            # once per shell
  bluecurrent-sync charge-points
  bluecurrent-sync status BCU100186 --json
  bluecurrent-sync watch --seconds 60
  bluecurrent-sync set plug-and-charge BCU100186 on
  bluecurrent-sync simulator        # a local server to try all of this safely
"""


SIMULATOR_HELP_WITHOUT_EXTRA = """\
usage: bluecurrent-sync simulator [--host HOST] [--port PORT] [--token TOKEN] [OPTIONS]

Run a local Blue Current websocket simulator in the foreground; it prints its ws:// URL
first. Its options (--host, --port, --token, --push-interval, --quota, --replay,
--variant, ...) are listed here once the simulator can run:
  {hint}
"""


class UsageError(Exception):
    """A command line that cannot run; reported with exit code 2."""


# --------------------------------------------------------------------------- output helpers


def _evse_of(event: object) -> str | None:
    evse = getattr(event, "evse_id", None)
    return evse if isinstance(evse, str) else None


# --------------------------------------------------------------------------- commands

Command = Callable[[Client, argparse.Namespace, TextIO], int]


def _emit(args: argparse.Namespace, out: TextIO, data: object, text: str) -> None:
    if args.json:
        json.dump(to_jsonable(data), out, indent=2, allow_nan=False)
        out.write("\n")
    else:  # every line escaped: a server-chosen string never drives the terminal
        out.write("\n".join(printable(line) for line in text.split("\n")) + "\n")


def _cmd_charge_points(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    points = client.get_charge_points()
    text = charge_point_table(points) if points else "No charge points on this account."
    _emit(args, out, points, text)
    return EXIT_OK


def _cmd_status(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    statuses = client.get_statuses(args.evse)
    _emit(args, out, statuses, status_table(statuses[evse] for evse in args.evse))
    return EXIT_OK


def _cmd_settings(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    settings = client.get_settings(args.evse)
    _emit(args, out, settings, format_fields(settings))
    return EXIT_OK


def _cmd_grid(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    grid = client.get_grid_status(args.evse)
    _emit(args, out, grid, format_fields(grid))
    return EXIT_OK


def _cmd_cards(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    cards = client.get_charge_cards()
    text = (
        format_table(
            ("UID", "ID", "NAME", "CUSTOMER", "VALID"),
            [(c.uid, c.id, c.name, c.customer_name, c.valid) for c in cards],
        )
        if cards
        else "No charge cards on this account."
    )
    _emit(args, out, cards, text)
    return EXIT_OK


def _cmd_watch(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    watched = _on_the_account(client, args.evse) if args.evse else []
    if args.evse and not watched:
        return EXIT_REFUSED
    wanted = set(watched)
    where = ", ".join(watched) if watched else "all charge points"
    note = (
        f"Watching pushed updates for {where}: a status while charging and after each "
        "change, grid figures; an idle charge point may stay quiet (Ctrl-C to stop)"
    )
    shown_on = sys.stderr if args.json else out  # --json keeps stdout to JSON lines
    shown_on.write(printable(note) + "\n")
    shown_on.flush()
    shown = 0
    pressed = threading.Event()
    try:
        with timed_events(client, seconds=args.seconds) as stream, _on_ctrl_c(stream) as ctrl_c:
            pressed = ctrl_c
            for event in stream:
                if ctrl_c.is_set():
                    break  # the KeyboardInterrupt went astray (see _on_ctrl_c)
                evse = _evse_of(event)
                if wanted and evse is not None and evse not in wanted:
                    continue
                if wanted and evse is None and not isinstance(event, RawEvent):
                    continue  # e.g. a CHARGE_POINTS list; connection events still show
                if args.json:
                    record = {"object": event_object_name(event), "data": to_jsonable(event)}
                    out.write(json.dumps(record, allow_nan=False) + "\n")
                else:
                    out.write(event_line(event) + "\n")
                out.flush()
                shown += 1
                if args.count is not None and shown >= args.count:
                    break
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # how an open-ended watch ends; nothing more to say
    return EXIT_INTERRUPTED if pressed.is_set() else EXIT_OK


def _on_the_account(client: Client, evse_ids: Sequence[str]) -> list[str]:
    """The ids that are on the account; one line about those that are not.

    Costs one request (GET_CHARGE_POINTS), once, before watching.
    """
    known = [point.evse_id for point in client.get_charge_points()]
    asked = list(dict.fromkeys(evse_ids))
    missing = [evse for evse in asked if evse not in known]
    present = [evse for evse in asked if evse in known]
    if not missing:
        return present
    names = ", ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    account = f"its charge points: {', '.join(known) or 'none'}"
    if not present:
        print_error(f"{names} {verb} not on this account ({account}); nothing to watch", None)
        return present
    print_error(
        f"{names} {verb} not on this account ({account}); nothing will show for "
        f"{'it' if len(missing) == 1 else 'them'}",
        None,
        prefix="warning",
    )
    return present


@contextlib.contextmanager
def _on_ctrl_c(stream: EventStream) -> Iterator[threading.Event]:
    """While inside, Ctrl-C sets the event it yields and closes ``stream``, then raises.

    Python raises the KeyboardInterrupt wherever the main thread happens to be, which can be
    a finalizer that prints it and carries on; the set event and the closed stream still end
    the watch. Only on the main thread (where signal handlers run); the previous handler
    comes back after.
    """
    pressed = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield pressed
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        pressed.set()
        stream.close()  # re-entrant: this thread may be inside the stream's own lock
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _action(
    call: Callable[[], ActionResult | SettingResult],
    what: str,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    # A refusal raises ActionFailed (exit 1), so a returned result is a success, or an
    # acknowledgement whose verdict did not come (docs/PROTOCOL.md OP-3, OP-6).
    result = call()
    text = f"{what}: done."
    if isinstance(result, ActionResult) and result.outcome is ActionOutcome.ACKNOWLEDGED:
        text = f"{what}: acknowledged by the server, but not confirmed (no verdict in time)."
    _emit(args, out, result, text)
    return EXIT_OK


def _cmd_start(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    card = args.card or NO_CARD
    label = "without a card" if card == NO_CARD else f"with card {card}"
    return _action(
        lambda: client.start_session(args.evse, card),
        f"start session on {args.evse} {label}",
        args,
        out,
    )


def _cmd_stop(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _action(
        lambda: client.stop_session(args.evse), f"stop session on {args.evse}", args, out
    )


def _cmd_block(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _action(lambda: client.block(args.evse, True), f"block {args.evse}", args, out)


def _cmd_unblock(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _action(lambda: client.block(args.evse, False), f"unblock {args.evse}", args, out)


def _cmd_reset(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _action(lambda: client.reset(args.evse), f"soft reset of {args.evse}", args, out)


def _cmd_reboot(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _action(lambda: client.reboot(args.evse), f"reboot of {args.evse}", args, out)


def _cmd_set(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    value = args.value == "on"
    what = f"{args.setting} of {args.evse} set to {args.value}"
    if args.setting == "plug-and-charge":
        return _action(lambda: client.set_plug_and_charge(args.evse, value), what, args, out)
    return _action(lambda: client.set_linked_charge_cards_only(args.evse, value), what, args, out)


_COMMANDS: dict[str, Command] = {
    "charge-points": _cmd_charge_points,
    "status": _cmd_status,
    "settings": _cmd_settings,
    "grid": _cmd_grid,
    "cards": _cmd_cards,
    "watch": _cmd_watch,
    "start": _cmd_start,
    "stop": _cmd_stop,
    "block": _cmd_block,
    "unblock": _cmd_unblock,
    "reset": _cmd_reset,
    "reboot": _cmd_reboot,
    "set": _cmd_set,
}


# --------------------------------------------------------------------------- argument parsing


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _add_connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The same options are accepted before and after the subcommand. On a subcommand
    # they default to SUPPRESS so that they do not overwrite a value given before it.
    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--token",
        default=default(None),
        help=f"API token (default: ${TOKEN_ENV}); never printed",
    )
    group.add_argument(
        "--url",
        default=default(None),
        help=f"server URL, e.g. a local simulator's ws://127.0.0.1:PORT/haserver "
        f"(default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    group.add_argument(
        "--allow-insecure",
        action="store_true",
        default=default(False),
        help="allow plain ws:// to a host that is not this machine (e.g. a remote simulator)",
    )
    proxy = group.add_mutually_exclusive_group()
    proxy.add_argument(
        "--proxy",
        default=default(None),
        metavar="URL",
        help="connect through this HTTP proxy, http://[user:password@]host:port "
        "(default: $https_proxy / $all_proxy, minus $no_proxy)",
    )
    proxy.add_argument(
        "--no-proxy",
        dest="proxy",
        action="store_const",
        const=False,
        default=default(None),
        help="connect directly, ignoring the proxy environment variables",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=default(10.0),
        metavar="SECONDS",
        help="seconds to wait for a connection or a reply (default: 10)",
    )
    group.add_argument(
        "--action-timeout",
        type=_positive_float,
        default=default(45.0),
        metavar="SECONDS",
        help="seconds to wait for a charge point to carry out an action (default: 45)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable JSON output instead of tables",
    )
    group.add_argument(
        "--usage-file",
        default=default(os.environ.get(USAGE_FILE_ENV) or None),
        metavar="PATH",
        help=f"add the requests sent to this shared usage file (default: ${USAGE_FILE_ENV})",
    )
    group.add_argument(
        "--daily-budget",
        type=_positive_int,
        default=default(None),
        metavar="N",
        help="refuse to send a request that would pass N requests today (counted over "
        "--usage-file when given)",
    )
    group.add_argument(
        "--record",
        default=default(None),
        metavar="FILE",
        help="write every frame in and out to FILE (JSON lines, tokens redacted) for "
        "'check-capture' and for reporting how the real server behaves; FILE must not exist",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log the connection and every frame in and out to stderr (tokens redacted)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``bluecurrent-sync`` argument parser."""
    parser = OneLineParser(
        prog="bluecurrent-sync",
        description="Query and control Blue Current charge points from the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    _add_connection_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_connection_options(sub, top=False)
        return sub

    command("charge-points", "list the account's charge points")
    sub = command("status", "the live status of one or more charge points")
    sub.add_argument("evse", nargs="+", metavar="EVSE", help="charge point id, e.g. BCU100186")
    command(
        "settings",
        "the settings of a charge point (each says whether you may change it)",
    ).add_argument("evse", metavar="EVSE")
    command("grid", "the grid status of a charge point's installation").add_argument(
        "evse", metavar="EVSE"
    )
    command("cards", "list the account's charge cards")
    sub = command("watch", "print pushed live updates until Ctrl-C")
    sub.add_argument("evse", nargs="*", metavar="EVSE", help="only these charge points")
    sub.add_argument(
        "--count", type=_positive_int, metavar="N", help="stop after N updates have been shown"
    )
    sub.add_argument("--seconds", type=_positive_float, metavar="S", help="stop after S seconds")
    sub = command("start", "start a charging session")
    sub.add_argument("evse", metavar="EVSE")
    sub.add_argument(
        "--card",
        metavar="UID",
        help=f"charge card uid (see 'cards'); default: no card ({NO_CARD})",
    )
    command("stop", "stop the charging session").add_argument("evse", metavar="EVSE")
    command("block", "make a charge point unavailable").add_argument("evse", metavar="EVSE")
    command("unblock", "make a blocked charge point available").add_argument("evse", metavar="EVSE")
    command("reset", "soft-reset a charge point").add_argument("evse", metavar="EVSE")
    command("reboot", "reboot a charge point").add_argument("evse", metavar="EVSE")
    sub = command("set", "change a setting of a charge point")
    sub.add_argument("setting", choices=("plug-and-charge", "linked-cards-only"))
    sub.add_argument("evse", metavar="EVSE")
    sub.add_argument("value", choices=("on", "off"))
    command(
        "usage",
        "today's request count from --usage-file (Europe/Amsterdam day); sends nothing",
    )
    sub = commands.add_parser(
        "check-capture",
        help="report what a --record capture shows about the protocol's open points",
        description="Report every frame of a capture the schemas, the converter or the "
        "client's reply policy did not expect, and what it settles (docs/PROTOCOL.md). "
        "Exit 0: all expected; 1: findings; 2: unreadable file.",
    )
    sub.add_argument("file", metavar="FILE", help="a capture written with --record")
    commands.add_parser(
        "simulator",
        help="run the local simulator in the foreground (options: 'simulator --help')",
        add_help=False,
    )
    commands.add_parser(
        "demo",
        help="a guided tour against an embedded simulator (or --url/--token)",
        add_help=False,
    )
    return parser


# --------------------------------------------------------------------------- main


def _run_passthrough(args: argparse.Namespace, extra: list[str]) -> int:
    """``simulator`` and ``demo``: hand the remaining arguments to their own main."""
    passed = list(extra)
    if args.command == "simulator":
        try:
            from bluecurrent_sync.simulator import DEFAULT_TOKEN
            from bluecurrent_sync.simulator import main as simulator_main
        except ImportError as exc:
            if {"-h", "--help"} & set(passed):  # the help needs no extra
                sys.stdout.write(SIMULATOR_HELP_WITHOUT_EXTRA.format(hint=exc))
                return EXIT_OK
            raise UsageError(f"the simulator cannot start: {exc}") from exc
        if args.token:
            passed += ["--token", args.token]
        token = "<your --token>" if args.token else DEFAULT_TOKEN
        banner = (
            "Simulator started; its URL follows. Ctrl-C stops it. In another shell:\n"
            f"  bluecurrent-sync --url URL --token {token} charge-points\n"
        )
        return simulator_main(passed, banner=banner, prog="bluecurrent-sync simulator")

    from bluecurrent_sync import demo

    if args.url:
        passed += ["--url", args.url]
    if args.token:
        passed += ["--token", args.token]
    return demo.main(passed)


def _cmd_usage(args: argparse.Namespace, out: TextIO) -> int:
    """``usage``: today's count from the usage file; no client, no request."""
    from bluecurrent_sync._usage import UsageFile, amsterdam_day, next_midnight

    if not args.usage_file:
        raise UsageError(f"no usage file: pass --usage-file PATH or set {USAGE_FILE_ENV}")
    day = amsterdam_day()
    count = UsageFile(args.usage_file).read(day)
    resets = next_midnight()
    data = {
        "day": day.isoformat(),
        "requests": count,
        "usage_file": str(args.usage_file),
        "resets_at": resets.isoformat(),
    }
    text = (
        f"{count} requests on {day.isoformat()} (Europe/Amsterdam); "
        f"the count restarts at {resets:%Y-%m-%d %H:%M} {resets:%Z}"
    )
    _emit(args, out, data, text)
    return EXIT_OK


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot be right before anything is sent (exit 2, one line)."""
    if args.token is not None and not args.token.strip():
        raise UsageError(
            f"--token is empty: pass the API token, or leave --token out to use ${TOKEN_ENV}"
        )
    evse = getattr(args, "evse", None)
    for evse_id in [evse] if isinstance(evse, str) else evse or []:
        _check_evse_id(evse_id)
    card = getattr(args, "card", None)
    if card is not None:
        try:
            require_text("--card", card)
        except ValueError as exc:
            raise UsageError(
                f"--card {card!r} is not a card uid (empty, or spaces around it); "
                "'bluecurrent-sync cards' lists them. Nothing was sent."
            ) from exc


def _check_evse_id(evse_id: str) -> None:
    try:
        require_evse_id(evse_id)
    except ValueError as exc:
        problem = "it is empty" if not evse_id.strip() else "it has spaces around it"
        raise UsageError(
            f"{evse_id!r} is not a charge point id (EVSE): {problem}. "
            "'bluecurrent-sync charge-points' lists them. Nothing was sent."
        ) from exc
    if evse_id != evse_id.upper():
        raise UsageError(
            f"{evse_id!r} is not a charge point id (EVSE): ids are upper case, "
            f"did you mean {evse_id.upper()!r}? Nothing was sent."
        )


def _server_url(args: argparse.Namespace) -> tuple[str, str]:
    """The URL to connect to, and what named it (for messages)."""
    if args.url is not None:
        return args.url, "--url"
    from_env = os.environ.get(URL_ENV)
    if from_env is not None:
        return from_env, URL_ENV
    return DEFAULT_URL, "the default URL"


def _make_client(args: argparse.Namespace) -> Client:
    """The client for the command (not connected yet: ``with`` connects it)."""
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise UsageError(f"no API token: pass --token or set {TOKEN_ENV}. {WHERE_TO_GET_ONE}")
    url, named_by = _server_url(args)
    record = getattr(args, "record", None)
    if record is not None and os.path.lexists(record):
        raise UsageError(
            f"--record {record}: the file already exists (a capture is never overwritten); "
            "choose a new file name"
        )
    try:
        client = Client(
            token,
            url=url,
            timeout=args.timeout,
            action_timeout=args.action_timeout,
            reconnect=args.command == "watch",
            allow_insecure=args.allow_insecure,
            usage_file=args.usage_file,
            daily_budget=args.daily_budget,
            record=record,
            proxy=args.proxy,
        )
    except ValueError as exc:  # a URL or proxy the client refuses
        message = str(exc).replace("allow_insecure=True", "--allow-insecure")
        if message.startswith("proxy"):
            message = "--" + message
        elif named_by == URL_ENV and message.startswith("url"):
            message = f"{URL_ENV}: {message}"
        raise UsageError(message) from exc
    except FileExistsError as exc:  # created by someone else since the check above
        raise UsageError(
            f"--record {record}: the file already exists (a capture is never overwritten); "
            "choose a new file name"
        ) from exc
    except OSError as exc:  # --record FILE cannot be written
        raise UsageError(
            f"--record {record}: cannot write the capture file: {exc.strerror or exc}"
        ) from exc
    return client


@contextlib.contextmanager
def _verbose(on: bool) -> Iterator[None]:
    """With ``--verbose``: the package's log (wire log included, redacted) on stderr."""
    if not on:
        yield
        return
    logger = logging.getLogger("bluecurrent_sync")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bluecurrent-sync`` command; returns the exit code (see ``--help``)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if extra and args.command not in ("simulator", "demo"):
        sys.stderr.write(
            f"bluecurrent-sync: error: unrecognized arguments: {' '.join(extra)} "
            "(see 'bluecurrent-sync --help')\n"
        )
        return EXIT_USAGE

    secret = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        _check_arguments(args)
        if args.command == "check-capture":
            from bluecurrent_sync import _capture_check

            return _capture_check.main(args.file, sys.stdout, sys.stderr)
        if args.command in ("simulator", "demo"):
            try:
                return _run_passthrough(args, extra)
            except SystemExit as exc:  # their argparse: --help or a usage error
                return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command == "usage":
            return _cmd_usage(args, sys.stdout)
        client = _make_client(args)
        with _verbose(args.verbose), client:
            return _COMMANDS[args.command](client, args, sys.stdout)
    except UsageError as exc:
        print_error(str(exc), secret)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `bluecurrent-sync watch | head -3`
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print_error("interrupted", secret)
        return EXIT_INTERRUPTED
    except (BlueCurrentError, ConnectionError, TimeoutError) as exc:
        return report_error(exc, url=_server_url(args)[0], token=secret)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
