"""A guided tour of bluecurrent_sync: ``make demo`` or ``python -m bluecurrent_sync.demo``.

By default the tour starts the embedded simulator on 127.0.0.1 (a free port), connects the real
[`Client`][bluecurrent_sync.Client] to it over a real websocket, and walks through the SDK: the
charge points, their status, a charging session with live pushed updates, the grid status. It takes
a few seconds and leaves nothing running.

``--url`` and ``--token`` (or ``BLUECURRENT_API_TOKEN``) run the same tour against any
server. On a server that is not on this machine the tour only reads, unless
``--allow-session`` is given: it would otherwise start and stop a real charging session.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

from bluecurrent_sync._args import OneLineParser
from bluecurrent_sync._console import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    NO_CARD,
    TOKEN_ENV,
    charge_point_table,
    format_fields,
    report_error,
    status_table,
    timed_events,
)
from bluecurrent_sync._url import is_loopback_url
from bluecurrent_sync.client import DEFAULT_URL, Client
from bluecurrent_sync.errors import BlueCurrentError
from bluecurrent_sync.models import Activity, ChStatus, VehicleStatus

__all__ = ["main"]

#: How many pushed status updates the tour shows.
LIVE_UPDATES = 5
#: Push interval of the embedded simulator: short, so the tour is quick.
PUSH_INTERVAL = 0.5
#: Simulated delay between an action's acknowledgement and its result.
ACTION_DELAY = 0.2


class _Printer:
    """Headings and indented text; bold headings only on a colour-capable terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.step = 0
        self.bold = out.isatty() and "NO_COLOR" not in os.environ and os.name != "nt"

    def heading(self, title: str) -> None:
        self.step += 1
        text = f"{self.step}. {title}"
        if self.bold:
            text = f"\033[1m{text}\033[0m"
        self.out.write(f"\n{text}\n")
        self.out.flush()

    def say(self, text: str = "") -> None:
        for line in text.splitlines() or [""]:
            self.out.write(f"   {line}".rstrip() + "\n")
        self.out.flush()


def _pick_idle(statuses: Sequence[ChStatus]) -> str | None:
    """An available charge point, preferably one with a vehicle plugged in."""
    available = [s for s in statuses if s.activity == Activity.AVAILABLE]
    plugged = [s for s in available if s.vehicle_status == VehicleStatus.VEHICLE_DETECTED]
    candidates = plugged or available
    return candidates[0].evse_id if candidates else None


def _live_updates(client: Client, evse_id: str, count: int, seconds: float) -> Iterator[ChStatus]:
    """The next ``count`` pushed CH_STATUS updates of one charge point, within ``seconds``."""
    with timed_events(client, "CH_STATUS", seconds=seconds) as stream:
        statuses = (event for event in stream if isinstance(event, ChStatus))
        yield from itertools.islice((s for s in statuses if s.evse_id == evse_id), count)


def _session_tour(client: Client, p: _Printer, statuses: Sequence[ChStatus]) -> None:
    evse = _pick_idle(statuses)
    if evse is None:
        p.heading("Start a charging session")
        p.say("No charge point is available right now, so the session steps are skipped.")
        return

    p.heading(f"Start a charging session on {evse}")
    cards = [card for card in client.get_charge_cards() if card.uid and card.valid is not False]
    card = cards[0].uid if cards and cards[0].uid else NO_CARD
    if cards:
        p.say(f"client.get_charge_cards() found {len(cards)} card(s); using {cards[0].name!r}.")
    p.say(f'client.start_session("{evse}", "{card}")')
    result = client.start_session(evse, card)
    p.say(f"-> success={result.success}: the charge point accepted the session.")
    p.say("")
    p.say(f'client.wait_for_status("{evse}", lambda s: s.activity == "charging", timeout=60)')
    status = client.wait_for_status(evse, lambda s: s.activity == Activity.CHARGING, timeout=60)
    p.say(f"-> {status.activity.value}: seen in a pushed update, without asking (no request).")

    p.heading(f"Live updates pushed by the server for {evse}")
    p.say('with client.events("CH_STATUS") as stream:')
    p.say("    for status in stream: ...")
    p.say("")
    shown = 0
    header = f"{'TIME':<8}  {'ACTIVITY':<10}  {'kW':>6}  {'kWh':>7}  VEHICLE"
    p.say(header)
    p.say("-" * len(header))
    for status in _live_updates(client, evse, LIVE_UPDATES, seconds=15.0):
        line = (
            f"{time.strftime('%H:%M:%S'):<8}  {status.activity.value:<10}  "
            f"{status.total_kw:>6.2f}  {status.actual_kwh or 0.0:>7.3f}  "
            f"{status.vehicle_status.value}"
        )
        p.say(line)
        shown += 1
    if shown < LIVE_UPDATES:
        p.say(f"(only {shown} update(s) arrived within 15 s)")

    p.heading(f"Stop the session on {evse}")
    p.say(f'client.stop_session("{evse}")')
    result = client.stop_session(evse)
    p.say(f"-> success={result.success}")
    p.say("")
    p.say(f'client.wait_for_status("{evse}", lambda s: s.activity != "charging", timeout=60)')
    p.say("")
    stopped = client.wait_for_status(evse, lambda s: s.activity != Activity.CHARGING, timeout=60)
    p.say(status_table([stopped]))


def _tour(client: Client, p: _Printer, *, with_session: bool) -> None:
    p.heading("Your charge points")
    p.say("client.get_charge_points()")
    p.say("")
    points = client.get_charge_points()
    if not points:
        p.say("This account has no charge points; nothing more to show.")
        return
    p.say(charge_point_table(points))

    p.heading("Their status")
    p.say("client.get_statuses([...])")
    p.say("")
    by_evse = client.get_statuses([point.evse_id for point in points])
    statuses = [by_evse[point.evse_id] for point in points]
    p.say(status_table(statuses))

    if with_session:
        _session_tour(client, p, statuses)
    else:
        p.heading("Charging session")
        p.say("Skipped: this is not a local server. --allow-session starts and stops a")
        p.say("real session on an available charge point.")

    evse = points[0].evse_id
    p.heading(f"Grid status of {evse}'s installation")
    p.say(f'client.get_grid_status("{evse}")')
    p.say("")
    p.say(format_fields(client.get_grid_status(evse)))
    p.say("")
    p.say(f"client.requests_today -> {client.requests_today} requests (of the daily quota)")


def _closing(p: _Printer) -> None:
    p.heading("Now with your own charge points")
    p.say("Generate an API token at https://my.bluecurrent.nl (settings > advanced options")
    p.say("> Advanced > Generate API token), then either, on the command line:")
    p.say("")
    p.say(f"    export {TOKEN_ENV}=...")
    p.say("    bluecurrent-sync charge-points")
    p.say("    bluecurrent-sync status EVSE")
    p.say("")
    p.say("or in Python:")
    p.say("")
    p.say("    import os")
    p.say("")
    p.say("    from bluecurrent_sync import Client")
    p.say("")
    p.say(f'    with Client(os.environ["{TOKEN_ENV}"]) as client:')
    p.say("        for point in client.get_charge_points():")
    p.say("            print(point.evse_id, client.get_status(point.evse_id).activity.value)")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m bluecurrent_sync.demo",
        description="A guided tour of bluecurrent_sync against an embedded simulator.",
    )
    parser.add_argument(
        "--url", help="run the tour against this server instead of an embedded simulator"
    )
    parser.add_argument("--token", help=f"API token for --url (default: ${TOKEN_ENV})")
    parser.add_argument(
        "--allow-session",
        action="store_true",
        help="with a --url that is not on this machine: also start and stop a real session",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tour; returns the exit code (that of ``bluecurrent-sync`` for errors)."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    p = _Printer(out)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.url is None:
            try:
                from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator
            except ImportError as exc:
                if not (exc.name or "").startswith("websockets"):
                    raise
                sys.stderr.write(f"The demo needs the local simulator: {exc}\n")
                return EXIT_USAGE
            simulator = stack.enter_context(
                Simulator(push_interval=PUSH_INTERVAL, action_delay=ACTION_DELAY, seed=0)
            )
            url, token = simulator.url, DEFAULT_TOKEN
            out.write("bluecurrent_sync guided tour\n")
            out.write(f"A local simulator is running at {url} (it stops with the tour).\n")
        else:
            url, token = args.url, args.token or os.environ.get(TOKEN_ENV, "")
            if not token:
                sys.stderr.write(f"--url needs --token or ${TOKEN_ENV}.\n")
                return EXIT_USAGE
            out.write(f"bluecurrent_sync guided tour against {url}\n")
        with_session = args.url is None or is_loopback_url(url) or args.allow_session
        try:
            unconnected = Client(token, url=url)
        except ValueError as exc:  # a URL the client refuses
            sys.stderr.write(f"{exc}\n")
            return EXIT_USAGE
        try:
            p.heading("Connect")
            shown_url = "" if url == DEFAULT_URL else f", url={url!r}"
            p.say(f"client = Client(token{shown_url}).connect()")
            client = stack.enter_context(unconnected)
            p.say(f"-> connected: customer {client.customer_id}, {client.get_email()}")
            _tour(client, p, with_session=with_session)
        except KeyboardInterrupt:
            out.write("\nInterrupted.\n")
            return EXIT_INTERRUPTED
        except (BlueCurrentError, ConnectionError, TimeoutError) as exc:
            out.flush()
            return report_error(exc, url=url, token=token)
    _closing(p)
    out.write(f"\nTour finished in {time.monotonic() - started:.1f} s.\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
