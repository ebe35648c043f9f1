"""Each frame is converted at most once, outside the pending table's lock, and its one model is
shared by the waiter, the subscribers and the mirror (issue 19, item 2). Scripted server.

Conversions are counted at the client's own converter: every CH_STATUS it converts, by any
path (a waiter's, the dispatcher's, the mirror's), is structured by that converter's ChStatus
structure functions (the happy path's, or else the checked path's), which these tests wrap on
the client's converter before it connects.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import frames
import pytest
from conftest import in_thread, wait_until
from scripted_server import (
    GOOD_TOKEN,
    Conn,
    ScriptedServer,
    ch_status,
    status_frame,
    status_reply,
)

from bluecurrent_sync._cell import FrameCell, raw
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ResponseValidationError
from bluecurrent_sync.models import ActionOutcome, ChStatus

#: Generous: a call that returns well before them got its answer, not a timeout.
SLOW: dict[str, Any] = {"timeout": 30.0, "action_timeout": 30.0, "reconnect_delay": (0.02, 0.1)}


class OwnedLock:
    """The pending table's lock, recording which thread holds it (a plain lock cannot say)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None

    def __enter__(self) -> OwnedLock:
        self._lock.acquire()
        self.owner = threading.get_ident()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.owner = None
        self._lock.release()

    def held_here(self) -> bool:
        return self.owner == threading.get_ident()


class Conversions:
    """Every CH_STATUS the client converts: (evse_id, thread, pending table's lock held)."""

    def __init__(self, client: Client) -> None:
        self.made: list[tuple[str, str, bool]] = []
        self._lock = OwnedLock()
        client._pending._lock = self._lock  # type: ignore[assignment]
        converter = client._converter
        structure = converter._to_ch_status
        happy = converter._happy_ch_status

        def counting(data: Any, cls: type) -> ChStatus:
            self._count(data.get("evse_id"))
            return structure(data, cls)

        def counting_happy(data: Any, evse_id: str, *given: Any) -> ChStatus:
            made = happy(data, evse_id, *given)
            self._count(evse_id)  # counted once made: else the checked path makes (and counts) it
            return made

        converter._to_ch_status = counting
        converter._happy_ch_status = counting_happy

    def _count(self, evse_id: object) -> None:
        thread = threading.current_thread().name
        self.made.append((str(evse_id), thread, self._lock.held_here()))

    def of(self, evse_id: str) -> int:
        return sum(1 for made, _thread, _held in self.made if made == evse_id)

    def under_the_table_lock(self) -> list[tuple[str, str, bool]]:
        return [made for made in self.made if made[2]]


class Events:
    """CH_STATUS events as a subscriber received them."""

    def __init__(self, client: Client) -> None:
        self._queue: queue.Queue[ChStatus] = queue.Queue()
        client.on("CH_STATUS", self._queue.put)

    def next_of(self, evse_id: str) -> ChStatus:
        while True:
            event = self._queue.get(timeout=30)
            if event.evse_id == evse_id:
                return event


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[Client]:
    """A client not connected yet (a test wraps its converter first), closed at the end."""
    made = Client(GOOD_TOKEN, url=server.url, **SLOW)
    try:
        yield made
    finally:
        made.close()


def test_a_status_reply_is_one_model_for_its_caller_a_subscriber_and_the_mirror(
    client: Client, server: ScriptedServer
) -> None:
    server.answer_statuses = True
    conversions = Conversions(client)
    events = Events(client)
    client.connect()
    status = client.get_status("CP-1")
    event = events.next_of("CP-1")
    mirrored = client.last_status("CP-1")
    assert status.evse_id == "CP-1"
    assert event is status and mirrored is status  # one model, shared
    assert conversions.of("CP-1") == 1
    assert conversions.under_the_table_lock() == []


def test_settings_reply_is_one_model_for_its_caller_and_a_subscriber(
    client: Client, server: ScriptedServer
) -> None:
    evse_id = frames.CH_SETTINGS["data"]["evse_id"]
    server.responder = lambda conn, frame: conn.send(frames.CH_SETTINGS)
    got: queue.Queue[Any] = queue.Queue()
    client.on("CH_SETTINGS", got.put)
    client.connect()
    settings = client.get_settings(evse_id)
    assert got.get(timeout=30) is settings
    observed = client.observed.settings(evse_id)
    assert observed is not None and observed.value is settings


def test_a_push_is_one_model_for_a_subscriber_and_the_mirror(
    client: Client, server: ScriptedServer
) -> None:
    conversions = Conversions(client)
    events = Events(client)
    client.connect()
    conn: Conn = server.conns[-1]
    conn.send(status_frame("CP-2", kwh=2.0))
    event = events.next_of("CP-2")  # the dispatcher converted it
    assert client.last_status("CP-2") is event  # the mirror did not convert it again
    # The other way round: read from the mirror first, then handed to the subscriber.
    conn.send(status_frame("CP-3", kwh=3.0))
    first = client.wait_for_status("CP-3", lambda status: True, timeout=30)
    assert events.next_of("CP-3") is first
    assert client.last_status("CP-3") is first
    assert (conversions.of("CP-2"), conversions.of("CP-3")) == (1, 1)
    assert conversions.under_the_table_lock() == []


def test_no_conversion_runs_under_the_pending_tables_lock(
    client: Client, server: ScriptedServer
) -> None:
    # Block/unblock decides by a pushed CH_STATUS's activity (OP-3): that status is converted
    # before it is routed, and every reply after the table's lock is released.
    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        evse_id = frame["evse_id"]
        if frame["command"] == "SET_INOPERATIVE":
            conn.send({"object": "RECEIVED_SET_INOPERATIVE", "evse_id": evse_id, "success": True})
            conn.send(ch_status(evse_id, activity="unavailable"))
        else:
            conn.send(status_frame(evse_id))

    server.responder = responder
    conversions = Conversions(client)
    events = Events(client)
    client.connect()
    result = client.block("CP-4")
    assert (result.outcome, result.detail) == (
        ActionOutcome.CONFIRMED,
        "CH_STATUS activity unavailable",
    )
    assert client.get_status("CP-5").evse_id == "CP-5"
    assert conversions.of("CP-4") == 1  # on the reader thread, before it was routed
    assert conversions.under_the_table_lock() == []
    # The confirming status too is one model for the subscriber and the mirror.
    assert events.next_of("CP-4") is client.last_status("CP-4")
    assert events.next_of("CP-5") is client.last_status("CP-5")
    assert (conversions.of("CP-4"), conversions.of("CP-5")) == (1, 1)


def test_an_ack_reading_the_last_status_converts_nothing_under_the_tables_lock(
    client: Client, server: ScriptedServer
) -> None:
    # Blocking a charge point whose last status already shows it blocked ends at the ack
    # (OP-3): that status, pushed before and read by nobody, is converted before the ack is
    # interpreted under the table's lock.
    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        conn.send({"object": "RECEIVED_SET_INOPERATIVE", "evse_id": "CP-8", "success": True})

    server.responder = responder
    conversions = Conversions(client)
    client.connect()
    server.conns[-1].send(ch_status("CP-8", activity="unavailable"))
    wait_until(lambda: "CP-8" in client.observed.evse_ids(), what="the push is mirrored")
    assert conversions.of("CP-8") == 0  # kept, not converted: nobody asked
    result = client.block("CP-8")
    assert (
        result.detail == "RECEIVED_SET_INOPERATIVE; CH_STATUS already showed activity unavailable"
    )
    assert conversions.of("CP-8") == 1
    assert conversions.under_the_table_lock() == []


def test_an_ack_reading_a_merged_partial_status_converts_nothing_under_the_lock(
    client: Client, server: ScriptedServer
) -> None:
    # A partial push (OP-7) during a block is merged into the last status by the mirror:
    # another frame, which the ack then reads. It too is converted before the ack is
    # interpreted under the table's lock.
    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        evse_id = frame["evse_id"]
        conn.send({"object": "CH_STATUS", "evse_id": evse_id, "data": {"activity": "charging"}})
        conn.send({"object": "RECEIVED_SET_INOPERATIVE", "evse_id": evse_id, "success": True})
        conn.send(status_reply("SET_INOPERATIVE", evse_id))

    server.responder = responder
    conversions = Conversions(client)
    client.connect()
    server.conns[-1].send(status_frame("CP-9"))
    wait_until(lambda: "CP-9" in client.observed.evse_ids(), what="the push is mirrored")
    result = client.block("CP-9")
    assert (result.outcome, result.success) == (ActionOutcome.CONFIRMED, True)
    merged = client.last_status("CP-9")
    assert merged is not None and (merged.activity.value, merged.actual_kwh) == ("charging", 1.0)
    assert conversions.under_the_table_lock() == []


def test_callers_sharing_a_reply_that_cannot_be_converted_each_get_their_own_error(
    client: Client, server: ScriptedServer
) -> None:
    held: list[Conn] = []

    def responder(conn: Conn, frame: dict[str, Any]) -> None:
        held.append(conn)

    server.responder = responder
    client.connect()
    first, out_first = in_thread(lambda: client.get_status("CP-6"))
    server.wait_for("GET_CH_STATUS")
    second, out_second = in_thread(lambda: client.get_status("CP-6"))  # joins the first
    waiters = client._pending._dedup

    def joined() -> bool:
        shared = waiters.get(("GET_CH_STATUS", "CP-6"))
        return shared is not None and shared.refs == 2

    wait_until(joined, what="the second caller shares the first one's request")
    held[0].send(ch_status("CP-6", activity=5))  # activity is essential: no status
    first.join(30)
    second.join(30)
    assert server.count("GET_CH_STATUS") == 1
    a, b = out_first[0], out_second[0]
    assert isinstance(a, ResponseValidationError) and isinstance(b, ResponseValidationError)
    assert a is not b  # never one instance raised in two threads
    assert str(a) == str(b) and a.raw == b.raw


# -- the cell itself ------------------------------------------------------------------------


def test_a_cell_converts_once_for_every_thread_that_asks() -> None:
    calls: list[str] = []
    asking = threading.Barrier(8)

    def convert(frame: Any) -> object:
        calls.append(threading.current_thread().name)
        return object()

    cell = FrameCell({"object": "X"}, convert)
    assert not cell.converted and calls == []  # made, not converted

    def ask() -> object:
        asking.wait(30)
        return cell.model()

    threads = [in_thread(ask) for _ in range(8)]
    for thread, _out in threads:
        thread.join(30)
    models = [out[0] for _thread, out in threads]
    assert len(calls) == 1 and cell.converted
    assert all(model is models[0] for model in models)
    assert cell.model() is models[0] and len(calls) == 1


def test_a_cell_gives_each_caller_its_own_copy_of_a_conversion_error() -> None:
    calls: list[int] = []
    original = ResponseValidationError("bad frame", object_name="X", field="data.a", raw={})

    def convert(frame: Any) -> object:
        calls.append(1)
        raise original

    cell = FrameCell({"object": "X"}, convert)
    cell.prepare()  # kept, not raised
    errors = []
    for _ in range(3):
        with pytest.raises(ResponseValidationError) as info:
            cell.model()
        errors.append(info.value)
    assert len(calls) == 1
    assert len({id(error) for error in [original, *errors]}) == 4  # never the same object
    assert all((e.args, e.field, e.raw) == (original.args, "data.a", {}) for e in errors)


def test_a_converter_bug_is_not_kept_each_caller_meets_its_own() -> None:
    calls: list[int] = []

    def convert(frame: Any) -> object:
        calls.append(1)
        raise ZeroDivisionError(len(calls))

    cell = FrameCell({"object": "X"}, convert)
    with pytest.raises(ZeroDivisionError) as first:
        cell.model()
    with pytest.raises(ZeroDivisionError) as second:
        cell.model()
    assert first.value is not second.value and len(calls) == 2
    assert not cell.converted


def test_a_cell_reads_as_its_frame() -> None:
    frame = {"object": "CH_STATUS", "evse_id": "CP-7", "data": {"activity": "charging"}}
    cell = FrameCell(frame, lambda frame: None)
    assert cell == frame and dict(cell) == frame and len(cell) == 3
    assert cell["evse_id"] == "CP-7" and cell.get("flow_id") is None and "data" in cell
    assert raw(cell) is frame and raw(frame) is frame
    assert repr(cell) == "<FrameCell 'CH_STATUS' (not converted)>"
    cell.prepare()
    assert repr(cell) == "<FrameCell 'CH_STATUS' (converted)>"


def test_a_shared_reply_converts_as_the_objects_standard_converter() -> None:
    # Reply(shared=True) takes the router's cell: its converter must be the one the cell uses
    # for that object (WireConverter.event → OBJECTS[name].convert), or a caller would get
    # another value than the subscribers.
    from bluecurrent_sync._convert import OBJECTS, WireConverter
    from bluecurrent_sync._requests import Requests

    requests = Requests.__new__(Requests)
    requests._converter = WireConverter()
    for reply, name in (
        (requests.status_reply, "CH_STATUS"),
        (requests.settings_reply, "CH_SETTINGS"),
    ):
        assert reply.shared
        assert reply.convert.__func__ is OBJECTS[name].convert  # type: ignore[attr-defined]
    assert not Requests.grid_reply("CP-1", None, lambda frame: frame).shared
