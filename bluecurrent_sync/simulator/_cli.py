"""Command line entry of the simulator (reused by ``bluecurrent-sync simulator``)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .._args import OneLineParser
from ._server import DEFAULT_TOKEN, Simulator
from ._variants import VARIANTS

__all__ = ["EXIT_CANNOT_SERVE", "EXIT_USAGE", "build_parser", "main"]

#: The port cannot be bound (taken, or the host is not an address of this machine).
EXIT_CANNOT_SERVE = 1
#: A bad option value or replay file.
EXIT_USAGE = 2

EPILOG = """\
exit codes:
  0    stopped by Ctrl-C or SIGTERM
  1    cannot listen: the port is taken, or --host is not an address of this machine
  2    a bad option value, or a --replay file that is missing or not a capture
"""


def build_parser(prog: str = "python -m bluecurrent_sync.simulator") -> argparse.ArgumentParser:
    """The argument parser of the simulator command."""
    parser = OneLineParser(
        prog=prog,
        description="Run a local Blue Current websocket simulator. Prints its ws:// URL first.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = any free port)")
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="TOKEN",
        help=f"API token to accept (repeatable; default {DEFAULT_TOKEN})",
    )
    parser.add_argument(
        "--push-interval", type=float, default=1.0, metavar="SECONDS", help="seconds between pushes"
    )
    parser.add_argument(
        "--action-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="seconds between RECEIVED_<CMD> and STATUS_<CMD>",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--quota", type=int, default=None, help="daily requests per token")
    parser.add_argument(
        "--single-connection",
        action="store_true",
        help="refuse a second main connection from the same IP (403 Already connected)",
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="replay a capture (Client(record=...)): its account, answers and pushes",
    )
    parser.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        metavar="X",
        help="play the recorded pushes and answers X times faster (default 1)",
    )
    variants = "; ".join(
        f"{name} ({variant.open_point}): {'|'.join(variant.choices)}"
        for name, variant in VARIANTS.items()
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"behave this way where the protocol is open (repeatable; first value is the "
        f"default; see docs/PROTOCOL.md): {variants}",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    return parser


def _parse_variants(parser: argparse.ArgumentParser, items: Sequence[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--variant wants NAME=VALUE, got {item!r}")
        chosen[name.strip()] = value.strip()
    return chosen


def main(
    argv: Sequence[str] | None = None, *, banner: str | None = None, prog: str | None = None
) -> int:
    """Run the simulator until SIGINT or SIGTERM; returns the exit status (see ``--help``).

    The first line on stdout is the server's ws:// URL, flushed at once. ``banner`` goes
    to stderr just before it, once the port is bound (not when the options are wrong);
    ``prog`` names the command in help and error lines.
    """
    parser = build_parser() if prog is None else build_parser(prog)
    args = parser.parse_args(argv)
    variants = _parse_variants(parser, args.variant)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    def fail(message: str, code: int) -> int:
        sys.stderr.write(f"{parser.prog}: error: {message}\n")
        return code

    try:
        simulator = Simulator(
            tokens=tuple(args.tokens or (DEFAULT_TOKEN,)),
            push_interval=args.push_interval,
            action_delay=args.action_delay,
            seed=args.seed,
            host=args.host,
            port=args.port,
            quota=args.quota,
            single_connection=args.single_connection,
            variants=variants,
            replay=args.replay,
            replay_speed=args.replay_speed,
        )
    except (TypeError, ValueError) as exc:  # CaptureError included
        return fail(_as_option(str(exc)), EXIT_USAGE)
    except OSError as exc:
        return fail(
            f"cannot read the --replay file {args.replay}: {exc.strerror or exc}", EXIT_USAGE
        )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            simulator.start()
        except OSError as exc:  # OverflowError cannot happen: the port was checked
            return fail(_bind_problem(args.host, args.port, exc), EXIT_CANNOT_SERVE)
        try:
            if banner:
                sys.stderr.write(banner)
                sys.stderr.flush()
            print(simulator.url, flush=True)
            while not done.wait(0.5):
                pass
        finally:
            simulator.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _as_option(message: str) -> str:
    """A constructor message, with its parameter named as the option (``--push-interval``)."""
    if message.startswith("tokens[]"):
        return "--token" + message[len("tokens[]") :]
    for name in ("push_interval", "action_delay", "replay_speed", "quota", "port", "host", "seed"):
        if message.startswith(name):
            return "--" + name.replace("_", "-") + message[len(name) :]
    return message


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    """One line saying why ``host:port`` cannot be listened on."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is taken (another simulator?); choose "
            "another --port, or --port 0 for any free one"
        )
    name_lookup = isinstance(exc, socket.gaierror) or (exc.errno or 0) < 0  # EAI_* codes
    if name_lookup or exc.errno == errno.EADDRNOTAVAIL:
        reason = (exc.strerror or str(exc)).split(" (while attempting", 1)[0]
        return (
            f"cannot listen on {where}: --host {host} is not an address of this machine ({reason})"
        )
    return f"cannot listen on {where}: {exc.strerror or os.strerror(exc.errno or 0) or exc}"
