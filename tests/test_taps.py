"""Frame taps see every text frame of every connection, in order, over real sockets."""

from __future__ import annotations

import json
import threading

from bluecurrent_sync import Client
from bluecurrent_sync._tap import ConnectionKind, Direction
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator


class Collect:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[tuple[Direction, str, ConnectionKind]] = []
        self.events: list[tuple[str, ConnectionKind]] = []

    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        with self.lock:
            self.frames.append((direction, json.loads(text).get("command") or "", connection))
            if direction == "in":
                self.frames[-1] = (direction, json.loads(text).get("object", ""), connection)

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        with self.lock:
            self.events.append((event, connection))


class Broken:
    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        raise RuntimeError("tap bug")

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        raise RuntimeError("tap bug")


def test_taps_see_every_connection_and_a_broken_tap_changes_nothing(simulator: Simulator) -> None:
    tap = Collect()
    client = Client(DEFAULT_TOKEN, url=simulator.url)
    client._taps.add(Broken())
    client._taps.add(tap)
    with client:
        client.get_status("BCU100001")
        assert client.get_email()
    with tap.lock:
        frames = list(tap.frames)
        events = list(tap.events)
    assert frames[0] == ("out", "VALIDATE_API_TOKEN", "validate")
    assert frames[1] == ("in", "STATUS_API_TOKEN", "validate")
    assert ("out", "HELLO", "main") in frames
    assert ("out", "GET_CH_STATUS", "main") in frames
    assert ("in", "CH_STATUS", "main") in frames
    assert ("out", "GET_ACCOUNT", "account") in frames
    assert ("in", "ACCOUNT", "account") in frames
    assert events[:3] == [("opened", "validate"), ("closed", "validate"), ("opened", "main")]
    assert ("closed", "main") in events


class SentOnly(Collect):
    SENT_ONLY = True


def test_a_sent_only_tap_sees_every_sent_frame_and_no_received_one(simulator: Simulator) -> None:
    # The request meter is such a tap: it counts what the client sends, and a received frame
    # costs it no call at all. A tap added later is sorted the same way.
    sent_only, both = SentOnly(), Collect()
    client = Client(DEFAULT_TOKEN, url=simulator.url)
    client._taps.add(sent_only)
    client._taps.add(both)
    with client:
        client.get_status("BCU100001")
    with both.lock, sent_only.lock:
        assert sent_only.frames == [frame for frame in both.frames if frame[0] == "out"]
        assert ("out", "GET_CH_STATUS", "main") in sent_only.frames
        assert ("in", "CH_STATUS", "main") in both.frames
    assert client.requests_today == len(sent_only.frames)  # the meter counted them all
