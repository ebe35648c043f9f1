"""The correlation core pinned: the waiter table, the router's own checks and the reply rules.

These tests are the fast set ``make mutation`` runs (see tests/MUTATION.md): the table and the
router are driven directly with real frames (no socket needed to tell which waiter a frame
reaches), and the client-level rules run over real sockets against the scripted server.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import frames
import pytest
from conftest import wait_until
from scripted_server import GOOD_TOKEN, Conn, ScriptedServer, ch_status

from bluecurrent_sync import _protocol as proto
from bluecurrent_sync._convert import WireConverter, redact
from bluecurrent_sync._dispatch import Dispatcher
from bluecurrent_sync._log import CONNECTION
from bluecurrent_sync._pending import ACKNOWLEDGED, PASS, PendingTable, Waiter
from bluecurrent_sync._protocol import Role
from bluecurrent_sync._router import Router
from bluecurrent_sync._wire import evse_id_of, object_name_of, routing_evse_id
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    ApiError,
    BlueCurrentError,
    ConnectionClosedError,
    DailyBudgetExceeded,
    InvalidApiToken,
    ReplyTooLarge,
    RequestLimitReached,
    RequestTimeoutError,
    ResponseValidationError,
)
from bluecurrent_sync.models import ActionOutcome

A, B = "BCU-A", "BCU-B"
FAST: dict[str, Any] = {"timeout": 5.0, "action_timeout": 5.0, "reconnect_delay": (0.02, 0.1)}


def echo(object_name: str, role: Role, frame: Mapping[str, Any]) -> Any:
    """An interpreter returning what it saw (acks stay acks)."""
    if role is Role.ACK:
        return ACKNOWLEDGED
    return (object_name, dict(frame))


def frame_of(name: str, evse_id: str | None = None, **data: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"object": name, "data": dict(data)}
    if evse_id is not None:
        frame["data"]["evse_id"] = evse_id
    return frame


def sent(table: PendingTable, command: str, evse_id: str | None, **options: Any) -> Waiter[Any]:
    """Register a request the way the client does and give it its place in send order."""
    options.setdefault("shareable", False)
    interpret = options.pop("interpret", echo)
    waiter, is_new = table.register(
        command, evse_id, proto.reply_roles(command), interpret, **options
    )
    assert is_new
    table.mark_sent(waiter)
    return waiter


def registered(table: PendingTable, command: str, evse_id: str | None) -> Waiter[Any]:
    """Register a request the way the client does, without giving it a place in send order."""
    waiter, is_new = table.register(
        command, evse_id, proto.reply_roles(command), echo, shareable=False
    )
    assert is_new
    return waiter


def route(table: PendingTable, name: str, evse_id: str | None, **data: Any) -> bool:
    return table.route(name, evse_id, frame_of(name, evse_id, **data))


def result(waiter: Waiter[Any]) -> Any:
    """The waiter's result; fails (never blocks) when it is not done."""
    assert waiter.done, f"{waiter!r} is not done"
    return waiter.outcome()


def bounded(call: Callable[[], Any]) -> Any:
    """Run a wait on another thread and fail if it does not return (a broken timeout)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(30)


def outcome_error(waiter: Waiter[Any]) -> BaseException:
    """The error the waiter holds (the object attributed to it), once ``outcome()`` raised
    it: a BlueCurrentError as a copy of its own (each caller gets one), anything else as is."""
    assert waiter.done
    with pytest.raises(BaseException) as info:
        waiter.outcome()
    assert waiter._outcome is not None
    ok, held = waiter._outcome
    assert not ok and type(info.value) is type(held) and info.value.args == held.args
    assert (info.value is held) is not isinstance(held, BlueCurrentError)
    return held  # type: ignore[no-any-return]


# -- the waiter -------------------------------------------------------------------------------


def test_outcome_before_the_end_is_a_bug_reported_at_once() -> None:
    waiter = sent(PendingTable(), proto.GET_CH_STATUS, A)
    with pytest.raises(RuntimeError, match="before the waiter is done"):
        bounded(waiter.outcome)  # raises; never waits for a reply that may not come
    assert not waiter.done


def test_waiter_first_outcome_wins_and_errors_get_a_fresh_traceback() -> None:
    table = PendingTable()
    waiter = sent(table, proto.GET_CH_STATUS, A)
    assert not waiter.done
    assert bounded(lambda: waiter.wait(0.01)) is False
    assert bounded(lambda: waiter.wait_progress(0.01)) is False
    error = ValueError("boom")
    table.fail(waiter, error)
    waiter._resolve("late")  # ignored: the first outcome stays
    waiter._fail(KeyError("late"))
    assert waiter.done and waiter.wait(0) and waiter.wait_progress(0)
    depths = []
    for _ in range(2):
        raised = outcome_error(waiter)
        assert raised is error
        depths.append(len(traceback.extract_tb(raised.__traceback__)))
    assert depths[0] == depths[1]  # a fresh traceback per caller: nothing piles up
    assert repr(waiter) == "<Waiter GET_CH_STATUS evse_id='BCU-A' seq=0 done>"
    assert repr(ACKNOWLEDGED) == "ACKNOWLEDGED" and repr(PASS) == "PASS"


def test_waiter_result_and_progress() -> None:
    table = PendingTable()
    waiter = sent(table, proto.START_SESSION, A)
    assert repr(waiter) == "<Waiter START_SESSION evse_id='BCU-A' seq=0 pending>"
    assert waiter.acked_at is None and waiter.acknowledged is False
    assert waiter.serial is False and waiter.command == proto.START_SESSION
    assert route(table, "RECEIVED_START_SESSION", A)
    assert waiter.acknowledged and waiter.acked_at is not None
    assert waiter.wait_progress(0) is True and waiter.done is False
    assert route(table, "STATUS_START_SESSION", A, success=True)
    assert waiter.wait(0) is True
    assert result(waiter)[0] == "STATUS_START_SESSION"


def test_waiter_wait_returns_when_resolved_from_another_thread() -> None:
    table = PendingTable()
    waiter = sent(table, proto.GET_CH_STATUS, A)
    threading.Timer(0.01, lambda: route(table, "CH_STATUS", A)).start()
    assert waiter.wait(30.0) is True
    assert result(waiter)[0] == "CH_STATUS"


# -- sharing ------------------------------------------------------------------------------------


def test_dedup_key_includes_the_command() -> None:
    table = PendingTable()
    status, new_status = table.register(
        proto.GET_CH_STATUS, A, proto.reply_roles(proto.GET_CH_STATUS), echo, shareable=True
    )
    settings, new_settings = table.register(
        proto.GET_CH_SETTINGS, A, proto.reply_roles(proto.GET_CH_SETTINGS), echo, shareable=True
    )
    assert new_status and new_settings and status is not settings
    other, new_other = table.register(
        proto.GET_CH_STATUS, B, proto.reply_roles(proto.GET_CH_STATUS), echo, shareable=True
    )
    assert new_other and other is not status
    same, new_same = table.register(
        proto.GET_CH_STATUS, A, proto.reply_roles(proto.GET_CH_STATUS), echo, shareable=True
    )
    assert not new_same and same is status and status.refs == 2
    assert status.dedup_key == (proto.GET_CH_STATUS, A)
    assert len(table) == 3


def test_only_shareable_requests_are_shared() -> None:
    table = PendingTable()
    first = sent(table, proto.START_SESSION, A)
    second = sent(table, proto.START_SESSION, A)
    assert first is not second and first.dedup_key is None and first.refs == 1


def test_a_done_shared_read_is_not_joined() -> None:
    table = PendingTable()
    first, _ = table.register(
        proto.GET_CH_STATUS, A, {"CH_STATUS": Role.RESULT}, echo, shareable=True
    )
    first.refs += 1  # a second caller still holds it
    table.mark_sent(first)
    assert route(table, "CH_STATUS", A)
    second, is_new = table.register(
        proto.GET_CH_STATUS, A, {"CH_STATUS": Role.RESULT}, echo, shareable=True
    )
    assert is_new and second is not first


def test_join_takes_only_an_identical_shared_read_in_flight() -> None:
    # What a serial read (GET_GRID_STATUS) does before it queues at its gate.
    table = PendingTable()
    roles = proto.reply_roles(proto.GET_GRID_STATUS)
    assert table.join(proto.GET_GRID_STATUS, A) is None  # nothing in flight
    grid, _ = table.register(proto.GET_GRID_STATUS, A, roles, echo, shareable=True, serial=True)
    table.mark_sent(grid)
    solo = sent(table, proto.START_SESSION, A)  # not shareable: never joined
    assert table.join(proto.START_SESSION, A) is None and solo.refs == 1
    assert table.join(proto.GET_GRID_STATUS, B) is None  # another charge point
    assert table.join(proto.GET_CH_STATUS, A) is None  # another command
    assert table.join(proto.GET_GRID_STATUS, A) is grid and grid.refs == 2
    assert table.route("GRID_STATUS", None, {"object": "GRID_STATUS", "data": {}})
    assert grid.done and table.join(proto.GET_GRID_STATUS, A) is None  # answered: ask anew
    assert grid.refs == 2
    table.release(grid)
    table.release(grid)
    assert table._dedup == {}


def test_each_caller_of_a_shared_read_raises_its_own_error_object() -> None:
    table = PendingTable()
    roles = proto.reply_roles(proto.GET_CH_STATUS)
    waiter, _ = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    joined, is_new = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    assert joined is waiter and not is_new
    table.mark_sent(waiter)
    cause = OSError("the cause")
    failure = ApiError(9, "not found")
    failure.__cause__ = cause
    table.fail(waiter, failure)
    raised = []
    for _ in range(2):
        with pytest.raises(ApiError) as info:
            waiter.outcome()
        raised.append(info.value)
    first, second = raised
    assert first is not second and failure not in raised  # one object per caller
    assert (first.code, first.message) == (second.code, second.message) == (9, "not found")
    assert first.__cause__ is cause and second.__cause__ is cause
    bug = RuntimeError("a bug in an interpreter")
    other, _ = table.register(proto.GET_CH_STATUS, B, roles, echo, shareable=True)
    table.fail(other, bug)
    with pytest.raises(RuntimeError) as info:
        other.outcome()
    assert info.value is bug  # not a BlueCurrentError: raised as it is


def test_shared_read_stays_until_its_last_caller_leaves() -> None:
    table = PendingTable()
    roles = proto.reply_roles(proto.GET_CH_STATUS)
    waiter, _ = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    table.mark_sent(waiter)
    table.release(waiter)  # one caller timed out
    assert waiter.refs == 1 and len(table) == 1
    joined, is_new = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    assert joined is waiter and not is_new  # still in flight: still joinable
    table.release(waiter)
    table.release(waiter)  # every caller timed out
    assert waiter.refs == 0 and len(table) == 0 and table._dedup == {} and table._index == {}
    fresh, is_new = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    assert is_new and fresh is not waiter  # a new request goes on the wire
    assert route(table, "CH_STATUS", A) and fresh.done and not waiter.done


def test_a_released_done_waiter_leaves_even_if_others_hold_it() -> None:
    table = PendingTable()
    roles = proto.reply_roles(proto.GET_CH_STATUS)
    waiter, _ = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    waiter._fail(ValueError("x"))  # done, but still held by two callers
    table.release(waiter)
    assert table._waiters == {} and table._index == {} and table._dedup == {}


def test_releasing_one_waiter_keeps_the_others_on_its_key() -> None:
    table = PendingTable()
    first = sent(table, proto.GET_CH_STATUS, A)
    second = sent(table, proto.GET_CH_STATUS, A)
    third = sent(table, proto.GET_CH_STATUS, A)
    table.release(second)
    assert len(table) == 2
    assert route(table, "CH_STATUS", A)
    assert first.done and third.done and not second.done


def test_released_waiters_leave_the_table() -> None:
    table = PendingTable()
    for index in range(50):
        waiter = sent(table, proto.GET_CH_STATUS, f"BCU-{index}", shareable=True)
        table.release(waiter)  # timed out
        other = sent(table, proto.GET_CHARGE_POINTS, None)
        table.release(other)
    assert len(table) == 0
    assert table._waiters == {} and table._index == {} and table._dedup == {}


def test_a_dead_oldest_waiter_never_takes_a_live_callers_reply() -> None:
    table = PendingTable()
    dead = sent(table, proto.GET_CHARGE_POINTS, None)
    table.release(dead)  # its caller timed out
    live = sent(table, proto.GET_CHARGE_POINTS, None)
    assert route(table, "CHARGE_POINTS", None)
    assert live.done and not dead.done
    dead_serial = sent(table, proto.STOP_SESSION, A, serial=True)
    table.release(dead_serial)
    live_serial = sent(table, proto.STOP_SESSION, A, serial=True)
    assert route(table, "STATUS_STOP_SESSION", None)
    assert live_serial.done and not dead_serial.done


def test_release_of_an_unknown_waiter_is_harmless() -> None:
    table = PendingTable()
    kept = sent(table, proto.GET_CH_STATUS, A)
    stranger = Waiter(proto.GET_CH_STATUS, A, {"CH_STATUS": Role.RESULT}, echo, None, serial=False)
    table.release(stranger)
    assert route(table, "CH_STATUS", A) and kept.done


def test_releasing_a_resolved_waiter_leaves_the_others_on_its_key() -> None:
    table = PendingTable()
    done = sent(table, proto.START_SESSION, A)
    assert route(table, "RECEIVED_START_SESSION", A)
    assert route(table, "STATUS_START_SESSION", A) and done.done  # removed when resolved
    waiting = sent(table, proto.START_SESSION, A)
    table.release(done)  # its caller takes the result afterwards: removing again is harmless
    table.release(done)
    assert route(table, "RECEIVED_START_SESSION", A) and waiting.acknowledged
    assert route(table, "STATUS_START_SESSION", A) and waiting.done


# -- matching -----------------------------------------------------------------------------------


def test_oldest_means_send_order_not_registration_order() -> None:
    table = PendingTable()
    registered_first = registered(table, proto.GET_CHARGE_POINTS, None)
    registered_second = registered(table, proto.GET_CHARGE_POINTS, None)
    table.mark_sent(registered_second)
    table.mark_sent(registered_first)
    assert route(table, "CHARGE_POINTS", None)
    assert registered_second.done and not registered_first.done
    assert route(table, "CHARGE_POINTS", None)
    assert registered_first.done


def test_unsent_waiters_take_no_reply() -> None:
    table = PendingTable()
    unsent = registered(table, proto.GET_CHARGE_POINTS, None)
    assert unsent.seq is None
    assert route(table, "CHARGE_POINTS", None) is False
    assert not unsent.done
    table.mark_sent(unsent)
    assert unsent.seq is not None
    assert route(table, "CHARGE_POINTS", None) is True and unsent.done


def test_a_reply_naming_a_charge_point_resolves_every_waiter_on_it() -> None:
    table = PendingTable()
    first = sent(table, proto.GET_CH_STATUS, A)
    second = sent(table, proto.GET_CH_STATUS, A)
    elsewhere = sent(table, proto.GET_CH_STATUS, B)
    assert route(table, "CH_STATUS", A)
    assert first.done and second.done and not elsewhere.done
    assert route(table, "CH_STATUS", A) is False  # nobody left on A
    assert route(table, "NOT_A_REPLY", A) is False


def test_exact_evse_waiters_come_before_evse_less_ones() -> None:
    table = PendingTable()
    anyone = sent(table, proto.GET_CH_STATUS, None)
    exact = sent(table, proto.GET_CH_STATUS, A)
    assert route(table, "CH_STATUS", A)
    assert exact.done and not anyone.done
    # Tolerance: a reply naming a charge point reaches a request that named none.
    assert route(table, "CH_STATUS", B)
    assert anyone.done


def test_which_waiters_take_an_evse_less_reply() -> None:
    table = PendingTable()
    # A get_status never takes an evse-less CH_STATUS (docs/PROTOCOL.md OP-7).
    status = sent(table, proto.GET_CH_STATUS, A)
    assert route(table, "CH_STATUS", None) is False and not status.done
    # A serial command does, for a result role ...
    serial = sent(table, proto.STOP_SESSION, A, serial=True)
    assert route(table, "STATUS_STOP_SESSION", None) and serial.done
    # ... but not for a confirming CH_STATUS (that needs the charge point named).
    block = sent(table, proto.SET_INOPERATIVE, A, serial=True)
    assert route(table, "CH_STATUS", None) is False
    assert not block.acknowledged and not block.done
    # An acknowledgement is taken by the oldest waiter expecting it, named or not.
    start = sent(table, proto.START_SESSION, A)
    other = sent(table, proto.START_SESSION, B)
    assert route(table, "RECEIVED_START_SESSION", None) and start.acknowledged
    assert not other.acknowledged
    # A non-serial result needs the charge point named while two could own it.
    assert route(table, "STATUS_START_SESSION", None) is False and not start.done
    assert route(table, "STATUS_START_SESSION", A) and start.done


def test_an_acknowledgement_removes_only_that_role() -> None:
    table = PendingTable()
    first = sent(table, proto.START_SESSION, A)
    second = sent(table, proto.START_SESSION, B)
    assert route(table, "RECEIVED_START_SESSION", None)
    assert first.acknowledged and not second.acknowledged
    assert "RECEIVED_START_SESSION" not in first.roles
    assert "STATUS_START_SESSION" in first.roles
    assert route(table, "RECEIVED_START_SESSION", None)  # the second ack: the second request
    assert second.acknowledged
    assert route(table, "RECEIVED_START_SESSION", None) is False
    assert route(table, "STATUS_START_SESSION", A) and first.done and not second.done
    assert len(table) == 1


def test_a_passing_interpreter_leaves_the_waiter_as_it_was() -> None:
    table = PendingTable()
    seen: list[str] = []

    def picky(object_name: str, role: Role, frame: Mapping[str, Any]) -> Any:
        seen.append(object_name)
        if frame["data"].get("activity") != "unavailable":
            return PASS
        return "confirmed"

    waiter = sent(table, proto.SET_INOPERATIVE, A, interpret=picky, serial=True)
    assert route(table, "CH_STATUS", A, activity="available") is True
    assert not waiter.done and not waiter.acknowledged and "CH_STATUS" in waiter.roles
    assert route(table, "CH_STATUS", A, activity="unavailable")
    assert result(waiter) == "confirmed"
    assert seen == ["CH_STATUS", "CH_STATUS"]


def test_a_passing_interpreter_does_not_hide_the_frame_from_the_others() -> None:
    table = PendingTable()
    passing = sent(table, proto.GET_CH_STATUS, A, interpret=lambda *_args: PASS)
    taking = sent(table, proto.GET_CH_STATUS, A)
    assert route(table, "CH_STATUS", A)
    assert taking.done and not passing.done


def test_one_failing_interpreter_does_not_hide_the_reply_from_the_others() -> None:
    table = PendingTable()

    def broken(object_name: str, role: Role, frame: Mapping[str, Any]) -> Any:
        raise ValueError("cannot read this")

    first = sent(table, proto.GET_CH_STATUS, A)
    failing = sent(table, proto.GET_CH_STATUS, A, interpret=broken)
    last = sent(table, proto.GET_CH_STATUS, A)
    assert route(table, "CH_STATUS", A)
    assert result(first)[0] == "CH_STATUS" and result(last)[0] == "CH_STATUS"
    assert str(outcome_error(failing)) == "cannot read this"
    assert len(table) == 0 and table._index == {}


# -- failing requests ---------------------------------------------------------------------------


def test_attribute_error_takes_the_oldest_sent_unanswered_eligible_request() -> None:
    table = PendingTable()
    assert table.attribute_error(ValueError("nobody")) is None
    unsent = registered(table, proto.GET_CHARGE_POINTS, None)
    acked = sent(table, proto.START_SESSION, A)
    assert route(table, "RECEIVED_START_SESSION", A)
    account_wide = sent(table, proto.GET_CHARGE_CARDS, None)
    named = sent(table, proto.GET_CH_STATUS, B)
    error = ValueError("first")
    assert table.attribute_error(error, lambda w: w.evse_id is not None) is named
    assert outcome_error(named) is error
    assert not account_wide.done and not acked.done and not unsent.done
    assert table.attribute_error(ValueError("second")) is account_wide
    assert table.attribute_error(ValueError("third")) is None  # acked and unsent do not qualify
    assert len(table) == 2


def test_attribute_error_goes_by_send_order_and_removes_the_waiter() -> None:
    table = PendingTable()
    roles = proto.reply_roles(proto.GET_CH_STATUS)
    first_registered, _ = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=True)
    second_registered, _ = table.register(proto.GET_CH_STATUS, B, roles, echo, shareable=True)
    table.mark_sent(second_registered)  # seq 0
    table.mark_sent(first_registered)  # seq 1
    assert table.attribute_error(ValueError("x")) is second_registered
    assert list(table._waiters) == [first_registered]
    assert table._dedup == {(proto.GET_CH_STATUS, A): first_registered}
    assert set(table._index["CH_STATUS"]) == {A}


def test_fail_removes_the_waiter() -> None:
    table = PendingTable()
    waiter = sent(table, proto.GET_CH_STATUS, A, shareable=True)
    table.fail(waiter, ValueError("send failed"))
    assert waiter.done and len(table) == 0 and table._dedup == {} and table._index == {}
    assert route(table, "CH_STATUS", A) is False


def test_fail_all_fails_every_live_waiter_once() -> None:
    table = PendingTable()
    waiters = [sent(table, proto.GET_CH_STATUS, f"BCU-{i}") for i in range(3)]
    waiters[0]._resolve("already")  # done but not yet released
    made: list[Waiter[Any]] = []

    def make(waiter: Waiter[Any]) -> BaseException:
        made.append(waiter)
        return ConnectionClosedError(f"closed {waiter.evse_id}")

    assert table.fail_all(make) == 2
    assert made == waiters[1:]
    assert result(waiters[0]) == "already"
    assert str(outcome_error(waiters[2])) == "closed BCU-2"
    assert table._waiters == {} and table._index == {} and table._dedup == {}
    assert table.fail_all(make) == 0


def test_len_counts_live_waiters_only() -> None:
    table = PendingTable()
    first = sent(table, proto.GET_CH_STATUS, A)
    sent(table, proto.GET_CH_STATUS, B)
    assert len(table) == 2
    first._resolve("x")
    assert len(table) == 1


def test_fork_child_starts_with_an_empty_table() -> None:
    table = PendingTable()
    sent(table, proto.GET_CH_STATUS, A, shareable=True)
    old_lock = table._lock
    table._after_fork_in_child()
    assert table._lock is not old_lock
    assert table._waiters == {} and table._index == {} and table._dedup == {}
    assert route(table, "CH_STATUS", A) is False


# -- the reply rules ----------------------------------------------------------------------------

# Listed here by hand from docs/PROTOCOL.md section 6, not derived from _protocol.
READS = {
    "GET_CHARGE_POINTS": "CHARGE_POINTS",
    "GET_CHARGE_CARDS": "CHARGE_CARDS",
    "GET_CH_STATUS": "CH_STATUS",
    "GET_CH_SETTINGS": "CH_SETTINGS",
    "GET_GRID_STATUS": "GRID_STATUS",
}
TWO_STEP = [
    "START_SESSION",
    "STOP_SESSION",
    "SOFT_RESET",
    "REBOOT",
    "SET_OPERATIVE",
    "SET_INOPERATIVE",
]
SHAREABLE = [
    "GET_CHARGE_POINTS",
    "GET_CHARGE_CARDS",
    "GET_CH_STATUS",
    "GET_CH_SETTINGS",
    "GET_GRID_STATUS",
    "LIST_OVERRIDE_CURRENT",
]
SMART = [
    "SET_DELAYED_CHARGING",
    "SAVE_SCHEDULE_DELAYED_CHARGING",
    "SET_PRICE_BASED_CHARGING",
    "PATCH_PRICE_BASED_CHARGING_SETTINGS",
    "OVERRIDE_CHARGING_PROFILES",
    "OVERRIDE_DELAYED_CHARGING_TIMEOUT",
]
SERIAL = [
    "SET_PLUG_AND_CHARGE",
    "SET_PUBLIC_CHARGING",
    "STOP_SESSION",
    "SET_OPERATIVE",
    "SET_INOPERATIVE",
    "GET_GRID_STATUS",
    "POST_SET_OVERRIDE_CURRENT",
    "POST_EDIT_OVERRIDE_CURRENT",
    "POST_CLEAR_OVERRIDE_CURRENT",
    *SMART,
]


@pytest.mark.parametrize("command", TWO_STEP)
def test_every_two_step_command_is_in_the_two_step_set(command: str) -> None:
    assert command in proto.TWO_STEP_COMMANDS


def test_the_command_sets_hold_exactly_the_listed_commands() -> None:
    assert set(TWO_STEP) == proto.TWO_STEP_COMMANDS
    assert set(SHAREABLE) == proto.DEDUP_COMMANDS
    assert set(SMART) == proto.SMART_COMMANDS
    assert set(SERIAL) == proto.SERIAL_COMMANDS


@pytest.mark.parametrize(("command", "reply"), sorted(READS.items()))
def test_reply_roles_of_reads(command: str, reply: str) -> None:
    assert proto.reply_roles(command) == {reply: Role.RESULT, f"RECEIVED_{command}": Role.ACK}


@pytest.mark.parametrize("command", ["SET_OPERATIVE", "SET_INOPERATIVE"])
def test_reply_roles_of_block_and_unblock(command: str) -> None:
    assert proto.reply_roles(command) == {
        f"STATUS_{command}": Role.RESULT,
        f"RECEIVED_{command}": Role.ACK,
        "CH_STATUS": Role.CONFIRM,
    }


@pytest.mark.parametrize(
    "command",
    [
        "START_SESSION",
        "STOP_SESSION",
        "SOFT_RESET",
        "REBOOT",
        "SET_PLUG_AND_CHARGE",
        "SET_PUBLIC_CHARGING",
    ],
)
def test_reply_roles_of_two_step_and_settings(command: str) -> None:
    assert proto.reply_roles(command) == {
        f"STATUS_{command}": Role.RESULT,
        f"RECEIVED_{command}": Role.ACK,
    }


@pytest.mark.parametrize(
    "command", ["LIST_OVERRIDE_CURRENT", "POST_SET_OVERRIDE_CURRENT", "POST_EDIT_OVERRIDE_CURRENT"]
)
def test_reply_roles_of_override_currents(command: str) -> None:
    assert proto.reply_roles(command) == {
        command: Role.RESULT,
        f"RECEIVED_{command}": Role.ACK,
        f"STATUS_{command}": Role.RESULT,
    }


@pytest.mark.parametrize("command", SMART)
def test_reply_roles_of_smart_charging(command: str) -> None:
    assert proto.reply_roles(command) == {
        f"STATUS_{command}": Role.RESULT,
        command: Role.RESULT,
        f"RECEIVED_{command}": Role.ACK,
    }


@pytest.mark.parametrize("command", ["POST_CLEAR_OVERRIDE_CURRENT", "SOMETHING_NEW"])
def test_reply_roles_of_undocumented_replies(command: str) -> None:
    assert proto.reply_roles(command) == {
        f"STATUS_{command}": Role.RESULT,
        command: Role.RESULT,
        f"RECEIVED_{command}": Role.ACK_OR_RESULT,
    }


# -- the router ---------------------------------------------------------------------------------


class RouterRig:
    """A real Router with a real converter, table and dispatcher; records what comes out."""

    def __init__(self) -> None:
        self.table = PendingTable()
        self.dispatcher = Dispatcher(WireConverter().event)
        self.published: list[Any] = []
        self.by_name: list[tuple[str, Any]] = []
        self.got = threading.Condition()
        self.dispatcher.subscribe("*", self._collect)
        for name in ("ERROR", "HELLO", "MARKER"):
            self.dispatcher.subscribe(
                name, lambda event, name=name: self.by_name.append((name, event))
            )
        self.dispatcher.start()
        self.limits: list[Any] = []
        self.refused: list[bool] = []
        self.observed: list[tuple[str, str | None, Mapping[str, Any]]] = []
        self.router = Router(
            WireConverter(),
            self.table,
            self.dispatcher,
            observe=lambda *args: self.observed.append(args),
        )

    def _collect(self, event: Any) -> None:
        with self.got:
            self.published.append(event)
            self.got.notify_all()

    def feed(self, frame: Any) -> None:
        """Route ``frame``; what it returns for the connection goes to limits / refused."""
        fatal = self.router.on_frame(frame if isinstance(frame, str) else json.dumps(frame))
        if isinstance(fatal, RequestLimitReached):
            self.limits.append(fatal.reset_at)
        elif fatal is not None:
            assert isinstance(fatal, InvalidApiToken), fatal
            self.refused.append(True)

    def wait_published(self, count: int) -> list[Any]:
        # The "*" handler runs after the named one, so by_name is complete too.
        with self.got:
            assert self.got.wait_for(lambda: len(self.published) >= count, 30.0)
            return list(self.published)

    def stop(self) -> None:
        self.dispatcher.stop(10.0)


@pytest.fixture
def rig() -> Iterator[RouterRig]:
    made = RouterRig()
    yield made
    made.stop()


def logged(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    """The messages the client's connection logger wrote at ``level``."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == CONNECTION and record.levelno == level
    ]


NO_NAME = {"data": {"evse_id": "BCU-A", "token": "SECRET-TOKEN"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "dropped a frame that is not JSON (9 bytes)"),
        ("[" * 100_000, "dropped a frame that is not JSON (100000 bytes)"),
        ("[1, 2]", "dropped a frame that is not a JSON object (list)"),
        ('"text"', "dropped a frame that is not a JSON object (str)"),
        (json.dumps(NO_NAME), f"dropped a frame without an object name: {redact(NO_NAME)}"),
        ('{"object": 7}', "dropped a frame without an object name: {'object': 7}"),
        ('{"object": ""}', "dropped a frame without an object name: {'object': ''}"),
    ],
)
def test_the_router_drops_bad_frames_itself(
    rig: RouterRig, caplog: pytest.LogCaptureFixture, text: str, message: str
) -> None:
    waiter = sent(rig.table, proto.GET_CH_STATUS, A)
    with caplog.at_level(logging.WARNING, logger=CONNECTION):
        # Must not raise (the router drops it, not the reader) and is nothing for the connection.
        assert rig.router.on_frame(text) is None
    assert logged(caplog) == [message]
    assert "SECRET-TOKEN" not in caplog.text
    rig.feed({"object": "MARKER"})  # published after anything queued before it
    assert [getattr(event, "object_name", None) for event in rig.wait_published(1)] == ["MARKER"]
    assert [name for name, _event in rig.by_name] == ["MARKER"]
    assert not waiter.done and [seen[0] for seen in rig.observed] == ["MARKER"]


def test_a_command_names_a_frame_without_an_object(rig: RouterRig) -> None:
    listing = sent(rig.table, proto.LIST_OVERRIDE_CURRENT, None, serial=False)
    rig.feed({"command": "LIST_OVERRIDE_CURRENT", "data": []})
    assert result(listing)[0] == "LIST_OVERRIDE_CURRENT"
    assert rig.observed[0][0] == "LIST_OVERRIDE_CURRENT"
    assert proto.object_name_of({"object": "A", "command": "B"}) == "A"
    assert proto.object_name_of({"object": None, "command": "B"}) == "B"
    assert proto.object_name_of({"command": ""}) is None


def test_an_error_with_nothing_pending_still_reaches_subscribers(
    rig: RouterRig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=CONNECTION):
        rig.feed({"object": "ERROR", "error": 0, "message": "Unknown command"})
    assert logged(caplog) == [
        "server error 0 with no request pending: server error 0: Unknown command"
    ]
    [event] = rig.wait_published(1)
    assert event.object_name == "ERROR"
    assert [name for name, _event in rig.by_name] == ["ERROR"]
    assert rig.observed == []  # ERROR is not a state update


def test_the_servers_message_reaches_api_error(
    rig: RouterRig, caplog: pytest.LogCaptureFixture
) -> None:
    waiter = sent(rig.table, proto.GET_CHARGE_POINTS, None)
    with caplog.at_level(logging.INFO, logger=CONNECTION):
        rig.feed({"object": "ERROR", "error": "7", "message": "Something odd"})
    error = outcome_error(waiter)
    assert isinstance(error, ApiError)
    assert error.code == 7 and error.message == "Something odd"
    assert str(error) == "server error 7: Something odd"
    assert logged(caplog, logging.INFO) == ["server error 7 failed GET_CHARGE_POINTS"]


def test_not_authorized_only_fails_a_request_naming_a_resource(rig: RouterRig) -> None:
    account_wide = sent(rig.table, proto.GET_CHARGE_POINTS, None)
    schedule = sent(rig.table, proto.POST_CLEAR_OVERRIDE_CURRENT, None)
    named = sent(rig.table, proto.GET_CH_STATUS, A)
    rig.feed({"object": "ERROR", "error": 2, "message": "Not authorized"})
    # The schedule write may have been taken silently: the ERROR may be the read's too.
    assert not schedule.done and not account_wide.done and not named.done
    rig.feed({"object": "ERROR", "error": 2, "message": "Not authorized"})
    assert schedule.done and named.done and not account_wide.done  # two errors, two owners
    rig.feed({"object": "ERROR", "error": 2, "message": "Not authorized"})
    assert not account_wide.done  # nothing eligible: it stays
    rig.feed({"object": "ERROR", "error": 0, "message": "Unknown command"})
    assert isinstance(outcome_error(account_wide), ApiError)
    assert rig.limits == [] and rig.refused == []  # request errors stay with their requests


@pytest.mark.parametrize(("code", "kind"), [(1, InvalidApiToken), (42, RequestLimitReached)])
def test_errors_1_and_42_fail_every_pending_request(
    rig: RouterRig, caplog: pytest.LogCaptureFixture, code: int, kind: type[Exception]
) -> None:
    waiters = [sent(rig.table, proto.GET_CH_STATUS, f"BCU-{i}") for i in range(3)]
    acked = sent(rig.table, proto.START_SESSION, A)
    rig.feed({"object": "RECEIVED_START_SESSION", "data": {"evse_id": A}, "error": ""})
    with caplog.at_level(logging.WARNING, logger=CONNECTION):
        rig.feed({"object": "ERROR", "error": code, "message": "no"})
    assert logged(caplog) == [f"server error {code} failed 4 pending request(s)"]
    errors = [outcome_error(waiter) for waiter in [*waiters, acked]]
    assert all(isinstance(error, kind) for error in errors)
    assert len({id(error) for error in errors}) == len(errors)  # one instance per request
    if code == 42:
        assert len(rig.limits) == 1 and rig.limits[0] is not None and rig.refused == []
        assert rig.limits[0] == errors[0].reset_at  # type: ignore[attr-defined]
    else:
        assert rig.refused == [True] and rig.limits == []
        assert str(errors[0]) == "no"
    assert len(rig.table) == 0
    assert rig.wait_published(2)[-1].object_name == "ERROR"


@pytest.mark.parametrize(
    ("error", "message", "text"),
    [
        ("seven", "x", "seven"),
        ({"code": 3}, "went wrong", "went wrong"),
        (2.5, {"text": "no"}, "malformed ERROR frame"),
    ],
)
def test_a_malformed_error_frame_fails_its_request(
    rig: RouterRig, error: object, message: object, text: str
) -> None:
    # Still the server saying no: the request it answers fails at once (issue 18 item 2).
    other = sent(rig.table, proto.GET_CH_STATUS, A)
    waiter = sent(rig.table, proto.GET_CHARGE_POINTS, None)
    frame = {"object": "ERROR", "error": error, "message": message}
    with pytest.raises(ResponseValidationError):
        WireConverter().server_error(frame)
    rig.feed(frame)
    failed = outcome_error(other)
    assert isinstance(failed, ApiError) and failed.code is None
    assert text in failed.message
    assert not waiter.done  # only the oldest unanswered request
    assert rig.limits == [] and rig.refused == []


def test_hello_reaches_subscribers_only(rig: RouterRig) -> None:
    waiter = sent(rig.table, proto.GET_CHARGE_POINTS, None)
    rig.feed({"object": "HELLO", "data": {"evse_id": A}})
    assert rig.wait_published(1)[0].object_name == "HELLO"
    assert rig.observed == [] and not waiter.done


def test_frames_are_observed_then_routed_then_published(rig: RouterRig) -> None:
    order: list[str] = []
    waiter = sent(rig.table, proto.GET_CH_STATUS, A, interpret=lambda *a: order.append("route"))
    rig.router._observe = lambda *args: order.append("observe")
    rig.feed(ch_status(A, activity="Charging"))
    assert order == ["observe", "route"] and waiter.done
    assert rig.wait_published(1)[0].evse_id == A


def test_the_router_hands_every_status_to_the_mirror(rig: RouterRig) -> None:
    # The mirror answers "which activity did the last CH_STATUS show" (block/unblock, OP-3),
    # so every CH_STATUS reaches it, odd ones too, under the routing evse_id.
    rig.feed(ch_status(A, activity="Charging"))
    rig.feed(ch_status(B, activity="Available"))
    rig.feed({"object": "CH_STATUS", "evse_id": A, "data": "odd"})  # no data object
    rig.feed({"object": "CH_SETTINGS", "data": {"evse_id": A, "activity": "unavailable"}})
    assert [seen[:2] for seen in rig.observed] == [
        ("CH_STATUS", A),
        ("CH_STATUS", B),
        ("CH_STATUS", A),
        ("CH_SETTINGS", A),
    ]
    assert rig.observed[0][2] == ch_status(A, activity="Charging")


def test_grid_status_is_routed_without_its_id(rig: RouterRig) -> None:
    grid = sent(rig.table, proto.GET_GRID_STATUS, A, serial=True)
    rig.feed({"object": "GRID_STATUS", "data": {"id": B, "grid_actual_p1": 1}})
    assert grid.done and rig.observed[0][1] is None


def test_non_finite_numbers_are_reported_once(
    rig: RouterRig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=CONNECTION):
        rig.feed({"object": "GRID_CURRENT", "data": {"grid_actual_p1": 1}})
        assert logged(caplog) == []
        rig.router.on_frame('{"object": "GRID_CURRENT", "data": {"grid_actual_p1": NaN}}')
        rig.router.on_frame('{"object": "GRID_CURRENT", "data": {"grid_actual_p1": Infinity}}')
    assert logged(caplog) == [
        "the server sent NaN/Infinity or an out-of-range number; read as unknown (None), "
        "see docs/PROTOCOL.md OP-11 (logged once)"
    ]
    assert rig.observed[1][2]["data"]["grid_actual_p1"] is None


# -- the client over a socket -------------------------------------------------------------------


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[Client]:
    with Client(GOOD_TOKEN, url=server.url, **FAST) as connected:
        yield connected


def test_concurrent_status_and_settings_of_one_charge_point_are_two_requests(
    server: ScriptedServer, client: Client
) -> None:
    asked: list[dict[str, Any]] = []

    def respond(conn: Conn, frame: dict[str, Any]) -> None:
        asked.append(frame)  # answer only once both are in flight, newest first
        if len(asked) == 2:
            for each in reversed(asked):
                if each["command"] == "GET_CH_SETTINGS":
                    conn.send(
                        {"object": "CH_SETTINGS", "data": {"evse_id": A, "plug_and_charge": True}}
                    )
                else:
                    conn.send(ch_status(A, activity="charging"))

    server.responder = respond
    with ThreadPoolExecutor(2) as pool:
        status = pool.submit(client.get_status, A)
        settings = pool.submit(client.get_settings, A)
        assert status.result(30).activity == "charging"
        assert settings.result(30).plug_and_charge is True
    assert sorted(frame["command"] for frame in asked) == ["GET_CH_SETTINGS", "GET_CH_STATUS"]


def test_a_send_failure_fails_every_caller_that_joined_the_shared_read(
    server: ScriptedServer,
) -> None:
    # The budget admits the connect's requests only: the first get_status fails at its send
    # (the budget check runs under the send lock); a caller that joined it fails with it.
    client = Client(GOOD_TOKEN, url=server.url, daily_budget=2, **FAST).connect()
    try:
        table = client._pending
        real_register = table.register
        joined = threading.Event()
        registered = threading.Event()
        go = threading.Event()

        def register(*args: Any, **kwargs: Any) -> tuple[Waiter[Any], bool]:
            waiter, is_new = real_register(*args, **kwargs)
            if is_new:
                registered.set()
                assert go.wait(30.0)  # hold the first caller between register and send
            else:
                joined.set()
            return waiter, is_new

        table.register = register  # type: ignore[method-assign]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(client.get_status, A)
            assert registered.wait(30.0)
            second = pool.submit(client.get_status, A)
            assert joined.wait(30.0)
            go.set()
            for call in (first, second):
                with pytest.raises(DailyBudgetExceeded):
                    call.result(30)
        assert len(table) == 0 and table._dedup == {}
        assert server.count("GET_CH_STATUS") == 0
    finally:
        client.close()


EVSE = "BCU102728"  # the charge point of the recorded frames in tests/frames.py
# GET_GRID_STATUS is shareable and serial: an identical call joins the one in flight, a call
# for another charge point waits at the gate (see test_grid_status_is_kept_one_in_flight).
READ_CALLS: list[tuple[str, Callable[[Client], Any], dict[str, Any]]] = [
    ("GET_CHARGE_POINTS", lambda c: c.get_charge_points(), frames.CHARGE_POINTS),
    ("GET_CHARGE_CARDS", lambda c: c.get_charge_cards(), frames.CHARGE_CARDS),
    ("GET_CH_STATUS", lambda c: c.get_status(EVSE), frames.CH_STATUS),
    ("GET_CH_SETTINGS", lambda c: c.get_settings(EVSE), frames.CH_SETTINGS),
    ("GET_GRID_STATUS", lambda c: c.get_grid_status(EVSE), frames.GRID_STATUS),
    (
        "LIST_OVERRIDE_CURRENT",
        lambda c: c.get_user_override_currents_list(),
        frames.LIST_OVERRIDE_CURRENT,
    ),
]


def _joined(client: Client) -> bool:
    return any(waiter.refs >= 2 for waiter in list(client._pending._waiters))


@pytest.mark.parametrize(("command", "call", "reply"), READ_CALLS, ids=[c[0] for c in READ_CALLS])
def test_every_read_is_shared_while_in_flight(
    server: ScriptedServer,
    client: Client,
    command: str,
    call: Callable[[Client], Any],
    reply: dict[str, Any],
) -> None:
    release = threading.Event()

    def respond(conn: Conn, frame: dict[str, Any]) -> None:
        def later() -> None:
            if release.wait(30):
                conn.send(reply)

        threading.Thread(target=later, daemon=True).start()

    server.responder = respond
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(call, client)
        server.wait_for(command, 1)
        second = pool.submit(call, client)
        wait_until(lambda: _joined(client) or server.count(command) >= 2, 30.0)
        release.set()
        assert first.result(30) == second.result(30)
    assert server.count(command) == 1
    assert len(client._pending) == 0


def test_writes_are_never_shared(server: ScriptedServer, client: Client) -> None:
    # Two identical settings: each is sent (one at a time: settings are serial, their
    # verdicts may name no charge point) and each gets its own answer.
    server.responder = lambda conn, frame: conn.send(frames.STATUS_SET_PLUG_AND_CHARGE)
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(client.set_plug_and_charge, EVSE, True) for _ in range(2)]
        server.wait_for("SET_PLUG_AND_CHARGE", 2, timeout=10.0)
        assert all(call.result(30).value is True for call in calls)


def test_grid_status_is_kept_one_in_flight(server: ScriptedServer, client: Client) -> None:
    # Serial: a grid read for another charge point waits for the one in flight to finish (a
    # GRID_STATUS names no charge point, so two in flight could not be told apart); an
    # identical read joins the one in flight instead of queueing behind it.
    asked: list[str] = []
    release = threading.Event()

    def respond(conn: Conn, frame: dict[str, Any]) -> None:
        asked.append(frame["evse_id"])
        reply = {**frames.GRID_STATUS, "data": {**frames.GRID_STATUS["data"], "id": "GRID-X"}}
        threading.Thread(target=lambda: release.wait(30) and conn.send(reply), daemon=True).start()

    server.responder = respond
    other = "BCU-OTHER"
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(client.get_grid_status, EVSE)
        server.wait_for("GET_GRID_STATUS", 1)
        queued = pool.submit(client.get_grid_status, other)
        same = pool.submit(client.get_grid_status, EVSE)
        wait_until(lambda: _joined(client), 30.0)
        assert asked == [EVSE]  # the other charge point's read is not on the wire yet
        release.set()
        assert first.result(30) == same.result(30)
        assert first.result().evse_id == EVSE
        assert queued.result(30).evse_id == other
    assert asked == [EVSE, other]
    assert len(client._pending) == 0


def test_a_shared_read_whose_callers_all_time_out_is_asked_again(server: ScriptedServer) -> None:
    asked: list[dict[str, Any]] = []

    def respond(conn: Conn, frame: dict[str, Any]) -> None:
        asked.append(frame)
        if len(asked) > 1:  # the first request is never answered
            conn.send(frames.CH_STATUS)

    server.responder = respond
    with Client(GOOD_TOKEN, url=server.url, **{**FAST, "timeout": 3.0}) as client:
        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(client.get_status, EVSE) for _ in range(2)]
            wait_until(lambda: _joined(client) or len(asked) > 1)
            for call in calls:
                with pytest.raises(RequestTimeoutError):
                    call.result(30)
        assert len(asked) == 1  # the two callers shared one request
        assert client._pending._waiters == {} and client._pending._dedup == {}
        assert client.get_status(EVSE).evse_id == EVSE  # a fresh request, not the dead one
    assert len(asked) == 2


# -- the evse-id and object-name rules replies are matched by (docs/PROTOCOL.md section 6) ----
@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"evse_id": "A", "data": {"evse_id": "B"}}, "A"),  # the top level wins
        ({"evse_id": "", "data": {"evse_id": "B"}}, "B"),  # an empty one names nothing
        ({"evse_id": 5, "data": {"evse_id": "B"}}, "B"),  # nor does a number
        ({"data": {"evse_id": "B", "id": "GRID-C"}}, "B"),
        ({"data": {"evse_id": "", "id": "GRID-C"}}, "C"),
        ({"data": {"id": "GRID-C"}}, "C"),
        ({"data": {"id": "C"}}, "C"),
        ({"data": {"id": "GRID-"}}, None),
        ({"data": {"id": 7}}, None),
        ({"data": {"id": ""}, "error": "No active session for chargepoint: BCU101"}, "BCU101"),
        ({"error": "no active session for chargepoint: BCU101"}, "BCU101"),
        ({"error": "no active session"}, None),
        ({"error": 3}, None),
        ({"data": [1, 2]}, None),
        ({}, None),
        (types.MappingProxyType({"evse_id": "A"}), "A"),  # any mapping, not only a dict
        (["evse_id", "A"], None),  # not a mapping at all: nothing, and no error
    ],
)
def test_evse_id_of_reads_each_place_in_order(frame: Any, expected: str | None) -> None:
    assert evse_id_of(frame) == expected


def test_grid_status_is_never_routed_by_its_id() -> None:
    frame = {"object": "GRID_STATUS", "data": {"id": "GRID-C"}}
    assert routing_evse_id("GRID_STATUS", frame) is None
    assert routing_evse_id("CH_STATUS", frame) == "C"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"object": "CH_STATUS", "command": "X"}, "CH_STATUS"),
        ({"command": "LIST_OVERRIDE_CURRENT"}, "LIST_OVERRIDE_CURRENT"),
        ({"object": ""}, None),
        ({"object": 3}, None),
        ({}, None),
    ],
)
def test_object_name_of(frame: dict[str, Any], expected: str | None) -> None:
    assert object_name_of(frame) == expected


# -- a reply too large to read fails its request at once ----------------------------------------
def _prefix(frame: Mapping[str, Any], pad: int = 600) -> bytes:
    """The first 512 bytes of ``frame`` with padding after it (as the transport keeps them)."""
    text = json.dumps({**frame, "pad": "x" * pad}, separators=(",", ":"))
    return text.encode("utf-8")[:512]


def test_an_over_size_reply_fails_the_request_it_answers(
    rig: RouterRig, caplog: pytest.LogCaptureFixture
) -> None:
    other = sent(rig.table, proto.GET_CH_STATUS, B)
    waiter = sent(rig.table, proto.GET_CH_STATUS, A)
    with caplog.at_level(logging.WARNING, logger=CONNECTION):
        rig.router.on_oversize(_prefix(frame_of("CH_STATUS", A)), 9_000_000, 4096)
    assert waiter.done and not other.done
    with pytest.raises(ReplyTooLarge) as info:
        waiter.outcome()
    error = info.value
    assert (error.object_name, error.size, error.limit) == ("CH_STATUS", 9_000_000, 4096)
    assert str(error) == (
        "the CH_STATUS reply for BCU-A of 9000000 bytes exceeds max_frame_bytes=4096; "
        "make the Client with a larger max_frame_bytes"
    )
    assert logged(caplog) == [f"{error}: GET_CH_STATUS failed at once"]
    assert len(rig.table) == 1


def test_an_over_size_reply_with_a_broken_evse_id_still_fails_its_request(rig: RouterRig) -> None:
    waiter = sent(rig.table, proto.GET_CH_STATUS, None)
    rig.router.on_oversize(b'{"object": "CH_STATUS", "data": {"evse_id": "BCU-\xff"', 5000, 4096)
    with pytest.raises(ReplyTooLarge, match="for BCU-\ufffd of 5000 bytes"):
        waiter.outcome()


def test_an_over_size_reply_without_an_evse_id_fails_the_evse_less_request(
    rig: RouterRig,
) -> None:
    waiter = sent(rig.table, proto.GET_CHARGE_POINTS, None)
    rig.router.on_oversize(b'{"object" : "CHARGE_POINTS", "data": [{"evse', 6_000_000, 1 << 20)
    with pytest.raises(ReplyTooLarge, match="the CHARGE_POINTS reply of 6000000 bytes"):
        waiter.outcome()


@pytest.mark.parametrize(
    "prefix",
    [
        b'{"data": {"evse_id": "BCU-A"}, "pad": "xxxxxxxx',  # no object name in the prefix
        b'{"object": "CH_SETTINGS", "data": {"evse_id": "BCU-A"}}',  # nobody waits for it
        b'{"object": "CH_STATUS", "data": {"evse_id": "BCU-B"}}',  # another charge point
    ],
)
def test_an_over_size_message_nobody_waits_for_fails_nothing(
    rig: RouterRig, caplog: pytest.LogCaptureFixture, prefix: bytes
) -> None:
    waiter = sent(rig.table, proto.GET_CH_STATUS, A)
    with caplog.at_level(logging.WARNING, logger=CONNECTION):
        rig.router.on_oversize(prefix, 5000, 4096)
    assert not waiter.done
    assert len(rig.table) == 1
    if b'"object"' not in prefix:
        assert logged(caplog) == ["dropped a message of 5000 bytes without a readable object name"]
    else:
        assert logged(caplog) == []


# -- evse-less device verdicts (issue 18 item 5) -----------------------------------------


def test_an_evse_less_verdict_goes_to_the_one_device_command_in_flight() -> None:
    table = PendingTable()
    start = sent(table, proto.START_SESSION, A)
    read = sent(table, proto.GET_CH_STATUS, B)
    assert route(table, "RECEIVED_START_SESSION", None)
    assert start.acknowledged and not start.done
    assert route(table, "STATUS_START_SESSION", None, error="REJECTED")
    assert result(start)[0] == "STATUS_START_SESSION"
    assert not read.done


def test_an_evse_less_verdict_with_two_device_commands_in_flight_is_nobodys() -> None:
    table = PendingTable()
    first = sent(table, proto.START_SESSION, A)
    second = sent(table, proto.START_SESSION, B)
    unsent = registered(table, proto.SOFT_RESET, "BCU-C")
    assert not route(table, "STATUS_START_SESSION", None)
    assert not first.done and not second.done
    # One of them answered by name: the evse-less verdict is then certainly the other's.
    assert route(table, "STATUS_START_SESSION", A)
    assert route(table, "STATUS_START_SESSION", None)
    assert result(second)[0] == "STATUS_START_SESSION" and first.done
    assert not route(table, "STATUS_SOFT_RESET", None)  # not sent yet: not a candidate
    assert not unsent.done


def test_an_evse_less_status_never_answers_a_read_alone() -> None:
    table = PendingTable()
    read = sent(table, proto.GET_CH_STATUS, A)
    settings = sent(table, proto.GET_CH_SETTINGS, A)
    assert not route(table, "CH_STATUS", None)
    assert not route(table, "CH_SETTINGS", None)
    assert not read.done and not settings.done


def test_a_request_failed_by_its_over_size_reply_leaves_the_table_at_once() -> None:
    table = PendingTable()
    read = sent(table, proto.GET_CH_STATUS, A)
    error = ReplyTooLarge("CH_STATUS", A, 9_000_000, 4096)
    assert table.fail_match("CH_STATUS", A, error) is read
    assert outcome_error(read) is error
    # Gone before its caller releases it: a second over-size frame finds nobody.
    assert table._waiters == {} and table._index == {} and table._dedup == {}
    assert table.fail_match("CH_STATUS", A, error) is None


# -- ERROR frames two requests could own (issue 18 item 11) -------------------------------


def test_an_error_behind_a_silent_write_waits_for_evidence() -> None:
    table = PendingTable()
    write = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    read = sent(table, proto.GET_CH_STATUS, B)
    later = sent(table, proto.GET_CH_SETTINGS, B)
    error = ApiError(2, "Not authorized")
    held = table.attribute_error(error)
    assert held == [write, read] and not write.done and not read.done
    # The write's verdict arrives: it was taken, so the ERROR was the read's.
    assert route(table, "STATUS_SET_PLUG_AND_CHARGE", A)
    assert result(write)[0] == "STATUS_SET_PLUG_AND_CHARGE"
    assert outcome_error(read) is error and not later.done
    assert table._held_errors == []


def test_an_error_behind_a_silent_write_is_the_writes_when_the_read_is_answered() -> None:
    table = PendingTable()
    write = sent(table, proto.SET_PUBLIC_CHARGING, A, serial=True)
    read = sent(table, proto.GET_CH_STATUS, B)
    error = ApiError(2, "Not authorized")
    assert table.attribute_error(error) == [write, read]
    assert route(table, "CH_STATUS", B)
    assert result(read)[0] == "CH_STATUS" and outcome_error(write) is error


def test_a_held_error_is_nobodys_once_a_candidate_leaves_unanswered() -> None:
    table = PendingTable()
    write = sent(table, proto.START_SESSION, A)
    read = sent(table, proto.GET_CH_STATUS, B)
    assert table.attribute_error(ApiError(2, "Not authorized")) == [write, read]
    table.release(read)  # its caller timed out: the ERROR can no longer be placed
    assert table._held_errors == [] and not write.done
    assert route(table, "RECEIVED_START_SESSION", A) and write.acknowledged


def test_a_write_older_than_an_answered_request_was_taken() -> None:
    table = PendingTable()
    write = sent(table, proto.SOFT_RESET, A)
    first = sent(table, proto.GET_CH_STATUS, B)
    second = sent(table, proto.GET_CH_STATUS, "BCU-C")
    assert route(table, "CH_STATUS", B) and first.done
    error = ApiError(2, "Not authorized")
    assert table.attribute_error(error) is second  # the server answered in order
    assert outcome_error(second) is error and not write.done


def test_silent_writes_only_are_held_and_errors_pair_up_in_send_order() -> None:
    table = PendingTable()
    one = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    two = sent(table, proto.REBOOT, B)
    first, second = ApiError(2, "first"), ApiError(2, "second")
    assert table.attribute_error(first) == [one, two]
    assert table.attribute_error(second) is one  # two ERRORs, two candidates: both fail
    assert outcome_error(one) is first and outcome_error(two) is second
    assert table._held_errors == []


def test_fail_all_forgets_held_errors() -> None:
    table = PendingTable()
    sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    sent(table, proto.GET_CH_STATUS, B)
    assert isinstance(table.attribute_error(ApiError(2, "x")), list)
    assert table.fail_all(lambda _w: ConnectionError("gone")) == 2
    assert table._held_errors == []


def test_partial_status_and_its_merge() -> None:
    from bluecurrent_sync._wire import is_partial_status, merged_status

    full = {"object": "CH_STATUS", "evse_id": A, "data": {"activity": "available", "actual_v1": 1}}
    push = {"object": "CH_STATUS", "evse_id": A, "data": {"activity": "charging"}}
    assert is_partial_status(push) and not is_partial_status(full)
    for key in ("actual_v2", "actual_v3", "actual_p1", "actual_p2", "actual_p3", "actual_kwh"):
        assert not is_partial_status({"data": {key: 0}})
    assert not is_partial_status({"object": "CH_STATUS", "data": "odd"})
    assert not is_partial_status({"object": "CH_STATUS"})
    merged = merged_status(full, push)
    assert merged["data"] == {"activity": "charging", "actual_v1": 1} and merged["evse_id"] == A
    assert full["data"]["activity"] == "available"  # the older frame is left as it was
    assert merged_status({"data": None}, push) == push
    assert merged_status(full, {"object": "CH_STATUS"}) == {"object": "CH_STATUS"}


def test_a_partial_push_passes_a_status_read_by() -> None:
    # Item 7: the read waits for a complete status; the push is no answer.
    from bluecurrent_sync._requests import Requests

    class Conv:
        def ch_status(self, frame: Mapping[str, Any]) -> str:
            return "converted"

    requests = Requests.__new__(Requests)
    requests._converter = Conv()  # type: ignore[assignment]
    partial = {"object": "CH_STATUS", "evse_id": A, "data": {"activity": "charging"}}
    full = ch_status(A, activity="charging")
    reply = requests.status_reply
    assert not reply.accepts(partial)
    assert reply.accepts(full) and reply.convert(full) == "converted"
    interpret = requests._interpreter(proto.GET_CH_STATUS, A, reply)
    assert interpret("CH_STATUS", Role.RESULT, partial) is PASS
    later = interpret("CH_STATUS", Role.RESULT, full)  # decided now, converted when asked
    assert later is not PASS and later.model() == "converted"


def test_a_reply_is_converted_once_by_its_first_caller_outside_the_lock() -> None:
    from bluecurrent_sync._requests import Requests

    converted_on: list[tuple[str, bool]] = []
    table = PendingTable()

    class Conv:
        def ch_status(self, frame: Mapping[str, Any]) -> str:
            held = table._lock.locked()
            converted_on.append((threading.current_thread().name, held))
            return "converted"

    requests = Requests.__new__(Requests)
    requests._converter = Conv()  # type: ignore[assignment]
    interpret = requests._interpreter(proto.GET_CH_STATUS, A, requests.status_reply)
    waiter, _ = table.register(
        proto.GET_CH_STATUS, A, proto.reply_roles(proto.GET_CH_STATUS), interpret, shareable=True
    )
    shared, is_new = table.register(
        proto.GET_CH_STATUS, A, proto.reply_roles(proto.GET_CH_STATUS), interpret, shareable=True
    )
    assert shared is waiter and not is_new
    table.mark_sent(waiter)
    routed = threading.Thread(target=table.route, args=("CH_STATUS", A, ch_status(A)))
    routed.start()
    routed.join(30)
    assert waiter.done and converted_on == []  # routed, resolved, not converted
    from bluecurrent_sync._requests import _value

    assert _value(waiter.outcome()) == "converted"
    assert _value(shared.outcome()) == "converted"
    assert converted_on == [(threading.current_thread().name, False)]  # once, no lock held


def test_grid_ids() -> None:
    from bluecurrent_sync._wire import grid_id_of, own_grid_id

    assert own_grid_id(A) == f"GRID-{A}"
    assert grid_id_of({"object": "GRID_STATUS", "data": {"id": "GRID-X"}}) == "GRID-X"
    for odd in ({"data": {"id": ""}}, {"data": {"id": 7}}, {"data": []}, {}):
        assert grid_id_of(odd) is None


def test_a_reply_echoing_a_flow_id_is_that_requests() -> None:
    table = PendingTable()
    first, _ = table.register(
        proto.START_SESSION,
        A,
        proto.reply_roles(proto.START_SESSION),
        echo,
        shareable=False,
        flow_id="f-1",
    )
    second, _ = table.register(
        proto.START_SESSION,
        B,
        proto.reply_roles(proto.START_SESSION),
        echo,
        shareable=False,
        flow_id="f-2",
    )
    table.mark_sent(first)
    table.mark_sent(second)
    # Echoed: it wins over the charge point named (and over "nobody's" without one).
    assert table.route("STATUS_START_SESSION", A, {"object": "x", "flow_id": "f-2"})
    assert second.done and not first.done
    # An echo of a role not expected, or of a finished request: the usual rules.
    assert table.route("NOT_EXPECTED", None, {"flow_id": "f-1"}) is False
    assert table.route("STATUS_START_SESSION", B, {"flow_id": "f-2"}) is False
    read = sent(table, proto.GET_CH_STATUS, B)
    assert table.route("CH_STATUS", B, {"flow_id": "f-9"}) and read.done  # unknown id
    error = ApiError(2, "x")
    assert table.attribute_error(error, None, "f-1") is first
    assert outcome_error(first) is error and table._by_flow == {}
    assert table.attribute_error(ApiError(2, "y"), None, "f-1") is None


def test_flow_ids_are_fresh_uuids() -> None:
    ids = {proto.new_flow_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 36 and i.count("-") == 4 for i in ids)


def test_a_held_error_is_the_reads_once_a_later_request_is_answered() -> None:
    # Reads are answered at once and in order: a later read's reply means the held read had
    # its answer already, and the only one it got was the ERROR (the write stays waiting).
    table = PendingTable()
    write = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    foreign = sent(table, proto.GET_CH_STATUS, "BCU-FOREIGN")
    later = sent(table, proto.GET_CH_STATUS, B)
    error = ApiError(2, "Not authorized")
    assert table.attribute_error(error, lambda w: w.evse_id is not None) == [write, foreign]
    assert route(table, "CH_STATUS", B) and later.done
    assert outcome_error(foreign) is error
    assert foreign not in table._waiters  # gone at once, before its caller releases it
    assert not write.done and table._held_errors == []
    assert route(table, "STATUS_SET_PLUG_AND_CHARGE", A) and result(write)


def test_two_held_errors_a_later_answer_places_only_the_reads() -> None:
    table = PendingTable()
    one = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    two = sent(table, proto.REBOOT, B)
    read = sent(table, proto.GET_CH_STATUS, "BCU-C")
    later = sent(table, proto.GET_CH_SETTINGS, "BCU-C")
    first = ApiError(2, "first")
    assert table.attribute_error(first) == [one, two, read]
    assert route(table, "CH_SETTINGS", "BCU-C") and later.done
    assert outcome_error(read) is first and not one.done and not two.done
    assert table._held_errors == []


def test_the_router_logs_a_held_error_and_hands_over_the_flow_id(
    rig: RouterRig, caplog: pytest.LogCaptureFixture
) -> None:
    write = sent(rig.table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    read = sent(rig.table, proto.GET_CH_STATUS, B)
    with caplog.at_level(logging.INFO, logger=CONNECTION):
        rig.feed({"object": "ERROR", "error": 2, "message": "Not authorized"})
    assert logged(caplog, logging.INFO) == [
        "server error 2 may answer any of SET_PLUG_AND_CHARGE, GET_CH_STATUS; "
        "held until the others are answered"
    ]
    assert not write.done and not read.done
    echoed, _ = rig.table.register(
        proto.GET_CH_SETTINGS,
        A,
        proto.reply_roles(proto.GET_CH_SETTINGS),
        echo,
        shareable=False,
        flow_id="f-7",
    )
    rig.table.mark_sent(echoed)
    rig.feed({"object": "ERROR", "error": 0, "message": "x", "flow_id": "f-7"})
    assert isinstance(outcome_error(echoed), ApiError) and not read.done


def test_a_held_error_is_dropped_and_logged_when_a_candidate_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = PendingTable()
    first_write = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    first_read = sent(table, proto.GET_CH_STATUS, B)
    assert isinstance(table.attribute_error(ApiError(2, "one")), list)
    assert route(table, "CH_STATUS", B)  # settled: the write's
    assert isinstance(outcome_error(first_write), ApiError) and first_read.done
    write = sent(table, proto.SET_PUBLIC_CHARGING, A, serial=True)
    read = sent(table, proto.GET_CH_SETTINGS, B)
    other = sent(table, proto.REBOOT, "BCU-C")
    assert table.attribute_error(ApiError(2, "two")) == [write, read]
    # A second ERROR while one is held: decided together (the walk reaches the held ones).
    assert table.attribute_error(ApiError(0, "three")) == [write, read, other]
    with caplog.at_level(logging.INFO, logger=CONNECTION):
        table.release(read)  # unanswered: the ERRORs can no longer be placed
    assert logged(caplog, logging.INFO) == [
        "server error(s) [ApiError('server error 2: two'), ApiError('server error 0: three')]:"
        " the request cannot be told; dropped"
    ]
    assert table._held_errors == [] and table._held_candidates == []
    assert not write.done and not other.done


def test_only_prompt_answers_show_that_a_write_was_taken() -> None:
    # A write's late verdict says nothing about an older write; an ack or a read's reply
    # to a later request does.
    table = PendingTable()
    older = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    newer = sent(table, proto.SET_PUBLIC_CHARGING, B, serial=True)
    assert route(table, "STATUS_SET_PUBLIC_CHARGING", B) and newer.done
    error = ApiError(2, "x")
    assert table.attribute_error(error) is older  # not taken: the only candidate
    table = PendingTable()
    first = sent(table, proto.START_SESSION, A)  # the first request sent: seq 0
    acked = sent(table, proto.SOFT_RESET, B)
    assert route(table, "RECEIVED_SOFT_RESET", B) and acked.acknowledged
    assert table.attribute_error(ApiError(2, "y")) is None  # first was taken, acked answered
    assert not first.done


def test_flow_ids_of_other_types_are_ignored() -> None:
    table = PendingTable()
    read = sent(table, proto.GET_CH_STATUS, A)
    for odd in ({"x": 1}, 7, None, ""):
        assert table.route("CH_STATUS", A, {"flow_id": odd}) or read.done
        assert table.attribute_error(ApiError(0, "z"), None, odd) in (None, read)


def test_a_read_answered_out_of_turn_shows_the_silent_read_got_the_error() -> None:
    table = PendingTable()
    write = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    silent = sent(table, proto.GET_CH_STATUS, B)
    answered = sent(table, proto.GET_CH_SETTINGS, B)
    assert route(table, "CH_SETTINGS", B) and answered.done
    error = ApiError(2, "late")
    assert table.attribute_error(error) is silent  # the write was taken; the read had it
    assert outcome_error(silent) is error and not write.done


def test_a_refused_reply_counts_as_an_answer() -> None:
    def refuse(*_args: Any) -> Any:
        raise ValueError("cannot convert")

    table = PendingTable()
    write = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    read = sent(table, proto.GET_CH_STATUS, B, interpret=refuse)
    assert route(table, "CH_STATUS", B) and isinstance(outcome_error(read), ValueError)
    assert table.attribute_error(ApiError(2, "x")) is None  # the write was taken
    assert not write.done


def test_flow_id_waiters_are_forgotten_once_and_odd_ids_never_match() -> None:
    table = PendingTable()
    roles = proto.reply_roles(proto.GET_CH_STATUS)
    waiter, _ = table.register(proto.GET_CH_STATUS, A, roles, echo, shareable=False, flow_id="f")
    table.mark_sent(waiter)
    for odd in ({"x": 1}, ["f"], 7):
        assert table.route("CH_STATUS", B, {"flow_id": odd}) is False  # B: nobody; no crash
    assert table.route("CH_STATUS", B, {"flow_id": "f"}) and waiter.done
    table.release(waiter)  # removed twice (answered, then released): no error
    assert table._by_flow == {}


def test_held_error_names_the_error_a_candidate_may_own() -> None:
    table = PendingTable()
    write = sent(table, proto.SET_PLUG_AND_CHARGE, A, serial=True)
    read = sent(table, proto.GET_CH_STATUS, B)
    bystander = sent(table, proto.GET_CH_SETTINGS, B)
    assert table.held_error(read) is None
    error = ApiError(2, "x")
    assert table.attribute_error(error) == [write, read]
    assert table.held_error(read) is error and table.held_error(write) is error
    assert table.held_error(bystander) is None
    table.release(write)  # gone unanswered: nothing held any more
    assert table.held_error(read) is None


# -- issue 19 item 2: one conversion per frame, never under the table's lock -----------------


def register_sent(table: PendingTable, command: str, evse_id: str | None) -> Waiter[Any]:
    waiter, _ = table.register(command, evse_id, proto.reply_roles(command), echo, shareable=False)
    table.mark_sent(waiter)
    return waiter


def test_a_waiter_decides_by_the_model_only_for_its_confirming_object() -> None:
    table = PendingTable()
    assert not table.decides_by_model("CH_STATUS", A)  # nobody waits
    read = register_sent(table, proto.GET_CH_STATUS, A)
    assert not table.decides_by_model("CH_STATUS", A)  # a read converts after the lock
    block = register_sent(table, proto.SET_INOPERATIVE, A)  # beside the read: any, not all
    assert table.decides_by_model("CH_STATUS", A)
    assert not table.decides_by_model("CH_STATUS", B)
    assert not table.decides_by_model("CH_STATUS", None)
    assert not table.decides_by_model("RECEIVED_SET_INOPERATIVE", A)  # its ack: no model
    assert not table.decides_by_model("STATUS_SET_INOPERATIVE", A)
    table.fail(block, ConnectionClosedError("closed"))
    assert not table.decides_by_model("CH_STATUS", A)  # gone with its waiter
    table.release(read)
    unblock = register_sent(table, proto.SET_OPERATIVE, B)
    assert table.decides_by_model("CH_STATUS", B)
    table.route("STATUS_SET_OPERATIVE", B, {"object": "STATUS_SET_OPERATIVE", "evse_id": B})
    assert unblock.done and not table.decides_by_model("CH_STATUS", B)


def _bare_requests(converter: Any) -> Any:
    from bluecurrent_sync._requests import Requests

    requests = Requests.__new__(Requests)
    requests._converter = converter
    return requests


def test_the_router_converts_a_confirming_status_before_routing_it(rig: RouterRig) -> None:
    # Block/unblock reads a pushed CH_STATUS's activity under the table's lock: the router
    # converts that status first, outside the lock, once for the mirror and subscribers too.
    converted: list[bool] = []
    model = rig.router._models[proto.OBJ_CH_STATUS]  # the CH_STATUS cells' converter

    def spy(frame: Mapping[str, Any]) -> Any:
        converted.append(rig.table._lock.locked())
        return model(frame)

    rig.router._models[proto.OBJ_CH_STATUS] = spy
    requests = _bare_requests(WireConverter())
    command = proto.SET_INOPERATIVE
    waiter, _ = rig.table.register(
        command,
        A,
        proto.reply_roles(command),
        requests._interpreter(command, A, dict),
        shareable=False,
    )
    rig.table.mark_sent(waiter)
    rig.feed(ch_status(A, activity="charging"))  # not the activity it waits for
    assert not waiter.done and converted == [False]
    rig.feed(ch_status(A, activity="unavailable"))
    assert waiter.done and converted == [False, False]
    result = waiter.outcome()
    assert (result.evse_id, result.outcome, result.detail) == (
        A,
        ActionOutcome.CONFIRMED,
        "CH_STATUS activity unavailable",
    )
    published = rig.wait_published(2)
    assert published[-1] is rig.observed[-1][2].model()  # one model for all
    assert converted == [False, False]  # the dispatcher did not convert them again


def test_a_status_confirms_nothing_unless_converted_before_it_was_routed() -> None:
    # A cell the router did not convert was read before the request was registered (so
    # before it was sent): no verdict on it, and nothing converted under the table's lock.
    from bluecurrent_sync._cell import FrameCell

    requests = _bare_requests(WireConverter())
    interpret = requests._interpreter(proto.SET_INOPERATIVE, A, dict)
    calls: list[Mapping[str, Any]] = []

    def convert(frame: Mapping[str, Any]) -> Any:
        calls.append(frame)
        return WireConverter().ch_status(frame)

    cell = FrameCell(ch_status(A, activity="unavailable"), convert)
    assert interpret("CH_STATUS", Role.CONFIRM, cell) is PASS and calls == []
    cell.prepare()
    assert interpret("CH_STATUS", Role.CONFIRM, cell).outcome is ActionOutcome.CONFIRMED
    broken = FrameCell(ch_status(A, activity=5), convert)
    broken.prepare()  # fails: kept, not raised
    assert interpret("CH_STATUS", Role.CONFIRM, broken) is PASS
    assert len(calls) == 2
    # A plain frame (no router) is converted by the interpreter itself.
    plain = interpret("CH_STATUS", Role.CONFIRM, ch_status(A, activity="unavailable"))
    assert plain.outcome is ActionOutcome.CONFIRMED


def test_a_routed_reply_is_the_cell_the_mirror_and_the_dispatcher_share(rig: RouterRig) -> None:
    from bluecurrent_sync._requests import _value

    requests = _bare_requests(WireConverter())
    status_read, _ = rig.table.register(
        proto.GET_CH_STATUS,
        A,
        proto.reply_roles(proto.GET_CH_STATUS),
        requests._interpreter(proto.GET_CH_STATUS, A, requests.status_reply),
        shareable=True,
    )
    settings_read, _ = rig.table.register(
        proto.GET_CH_SETTINGS,
        A,
        proto.reply_roles(proto.GET_CH_SETTINGS),
        requests._interpreter(proto.GET_CH_SETTINGS, A, requests.settings_reply),
        shareable=True,
    )
    own: list[Any] = []
    points_read, _ = rig.table.register(
        proto.GET_CHARGE_POINTS,
        None,
        proto.reply_roles(proto.GET_CHARGE_POINTS),
        requests._interpreter(proto.GET_CHARGE_POINTS, None, lambda f: own.append(f) or "own"),
        shareable=True,
    )
    for waiter in (status_read, settings_read, points_read):
        rig.table.mark_sent(waiter)
    rig.feed(ch_status(A))
    rig.feed({**frames.CH_SETTINGS, "data": {**frames.CH_SETTINGS["data"], "evse_id": A}})
    rig.feed(frames.CHARGE_POINTS)
    published = rig.wait_published(3)
    status = _value(status_read.outcome())
    assert status is published[0] is rig.observed[0][2].model()
    assert _value(settings_read.outcome()) is published[1] is rig.observed[1][2].model()
    # Not a shared reply: the request converts its own (a list its caller may change).
    assert _value(points_read.outcome()) == "own" and own == [frames.CHARGE_POINTS]
