"""A small websocket server for the benchmarks, run in its own process.

``python -m bench.server --charge-points N`` prints its ``ws://`` URL on the first stdout line,
then serves until stdin closes or SIGTERM. It speaks the wire protocol for what the benchmarks
use (VALIDATE_API_TOKEN, HELLO, GET_CH_STATUS, GET_CHARGE_POINTS) with ``N`` synthetic charge
points of the real wire shapes, answering from pre-encoded frames so that the server costs as
little as possible. ``{"command": "BENCH_FLOOD", "count": n}`` (from any connection) pushes ``n``
CH_STATUS frames to every HELLO'd connection as fast as possible, then answers
``{"object": "BENCH_FLOOD_DONE", "sent": k}``. ``GET_CH_STATUS`` for ``"FLOOD-<n>"`` first
pushes ``n`` CH_STATUS frames of ``n`` other charge points on that connection, then answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from . import wire


class BenchServer:
    """The serving state: pre-encoded replies and the HELLO'd connections."""

    def __init__(self, charge_points: int, delay: float = 0.0) -> None:
        self.delay = delay  # seconds before each GET_CH_STATUS reply (other requests go on)
        self.ids = [wire.evse_id(i) for i in range(charge_points)]
        self.status = {
            evse: json.dumps(wire.ch_status_frame(evse, i)) for i, evse in enumerate(self.ids)
        }
        self.charge_points = wire.charge_points_text(charge_points)
        flood_evse = self.ids[0] if self.ids else wire.evse_id(0)
        self.flood_frames = [json.dumps(wire.ch_status_frame(flood_evse, i)) for i in range(997)]
        self.mains: set[ServerConnection] = set()
        self.auth = f"Token {wire.ISSUED}"
        self._pushes: dict[int, list[str]] = {}

    async def handle(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                try:
                    frame: Any = json.loads(message)
                except ValueError:
                    await ws.send(json.dumps({"object": "ERROR", "error": 9, "message": "x"}))
                    continue
                await self.answer(ws, frame if isinstance(frame, dict) else {})
        except Exception:
            pass
        finally:
            self.mains.discard(ws)

    async def answer(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        command = frame.get("command")
        if command == "VALIDATE_API_TOKEN":
            ok = frame.get("token") == wire.TOKEN
            reply: dict[str, Any] = {"object": "STATUS_API_TOKEN", "success": ok}
            if ok:
                reply.update(token=wire.ISSUED, customer_id=wire.CUSTOMER_ID)
            else:
                reply["error"] = ""
            await ws.send(json.dumps(reply))
            return
        if command == "BENCH_FLOOD":
            sent = await self.flood(int(frame.get("count", 0)))
            await ws.send(json.dumps({"object": "BENCH_FLOOD_DONE", "sent": sent}))
            return
        if frame.get("Authorization") != self.auth:
            await ws.send('{"object":"ERROR","error":1,"message":"Invalid Auth Token"}')
            return
        if command == "GET_CH_STATUS" and str(frame.get("evse_id")).startswith("FLOOD-"):
            evse = str(frame["evse_id"])
            for push in self.pushes(int(evse.removeprefix("FLOOD-"))):
                await ws.send(push)
            await ws.send(json.dumps(wire.ch_status_frame(evse, 0)))
        elif command == "GET_CH_STATUS":
            text = self.status.get(str(frame.get("evse_id")))
            if text is None:
                text = '{"object":"ERROR","error":2,"message":"Not authorized"}'
            if self.delay:
                asyncio.get_running_loop().call_later(
                    self.delay, lambda: asyncio.ensure_future(ws.send(text))
                )
            else:
                await ws.send(text)
        elif command == "HELLO":
            self.mains.add(ws)
            await ws.send('{"object":"HELLO"}')
        elif command == "GET_CHARGE_POINTS":
            await ws.send(self.charge_points)
        else:
            await ws.send('{"object":"ERROR","error":0,"message":"Unknown command"}')

    def pushes(self, count: int) -> list[str]:
        """``count`` pre-encoded CH_STATUS pushes, one per charge point (made once per count)."""
        cached = self._pushes.get(count)
        if cached is None:
            frames = (wire.ch_status_frame(wire.evse_id(10_000 + i), i) for i in range(count))
            cached = self._pushes[count] = [json.dumps(frame) for frame in frames]
        return cached

    async def flood(self, count: int) -> int:
        sent = 0
        frames = self.flood_frames
        for conn in list(self.mains):
            for i in range(count):
                try:
                    await conn.send(frames[i % len(frames)])
                except Exception:
                    break
                sent += 1
        return sent


async def _main(charge_points: int, delay: float) -> None:
    state = BenchServer(charge_points, delay)
    stop = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    loop.add_reader(
        sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.done() or stop.set_result(None)
    )
    async with serve(
        state.handle, "127.0.0.1", 0, max_size=None, compression=None, ping_interval=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"ws://127.0.0.1:{port}/haserver", flush=True)
        await stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--charge-points", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="GET_CH_STATUS reply delay")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.charge_points, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
