"""Command line entry of the simulator (reused by ``bluecurrent-sync simulator``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._server import DEFAULT_TOKEN, Simulator
from ._variants import VARIANTS

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "python -m bluecurrent_sync.simulator") -> argparse.ArgumentParser:
    """The argument parser of the simulator command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local Blue Current websocket simulator. Prints its ws:// URL first.",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; returns the exit status (0).

    The first line on stdout is the server's ws:// URL, flushed at once.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    variants = _parse_variants(parser, args.variant)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
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
    except ValueError as exc:
        parser.error(str(exc))
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with simulator:
            print(simulator.url, flush=True)
            while not done.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
