"""Pure parts of the client: command builders, reply families, reset time, backoff, waiters."""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

import pytest

from bluecurrent_sync import _protocol as proto
from bluecurrent_sync._connection import Backoff
from bluecurrent_sync._dispatch import Dispatcher
from bluecurrent_sync._pending import ACKNOWLEDGED, PendingTable
from bluecurrent_sync._protocol import Role
from bluecurrent_sync._url import validate_url as check_url
from bluecurrent_sync.errors import ApiError

AMS = proto.AMSTERDAM


# -- builders -----------------------------------------------------------------------------


def test_delayed_schedule_days_is_a_bracketed_string() -> None:
    fields = proto.delayed_charging_schedule_fields(
        "BCU1", [2, "monday", "MO", "sun"], dt.time(7, 5), "23:59"
    )
    assert fields == {
        "evse_id": "BCU1",
        "days": "[2,1,1,7]",  # as given: order and repeats kept (docs/PROTOCOL.md OP-9)
        "start_time": "07:05",
        "end_time": "23:59",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": [], "start_time": "07:00", "end_time": "08:00"},
        {"days": [-1], "start_time": "07:00", "end_time": "08:00"},
        {"days": [8], "start_time": "07:00", "end_time": "08:00"},
        {"days": ["funday"], "start_time": "07:00", "end_time": "08:00"},
        {"days": "MO", "start_time": "07:00", "end_time": "08:00"},
        {"days": [True], "start_time": "07:00", "end_time": "08:00"},
        {"days": [1], "start_time": "7:00", "end_time": "08:00"},
        {"days": [1], "start_time": "24:00", "end_time": "08:00"},
        {"days": [1], "start_time": dt.time(7, 0, 30), "end_time": "08:00"},
        {"days": [1], "start_time": "07:00", "end_time": 800},
    ],
)
def test_delayed_schedule_rejects_bad_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        proto.delayed_charging_schedule_fields("BCU1", **kwargs)


def test_price_settings_omit_none_and_use_wire_names() -> None:
    fields = proto.price_settings_fields(
        "BCU1",
        expected_departure_time=dt.time(7, 30),
        current_battery_percentage=None,
        minimum_percentage=20,
        battery_size_kwh=None,
    )
    assert fields == {"evse_id": "BCU1", "expected_departure_time": "07:30", "minimum_pct": 20}
    full = proto.price_settings_fields(
        "BCU1",
        expected_departure_time=None,
        current_battery_percentage=40,
        minimum_percentage=None,
        battery_size_kwh=75,
    )
    assert full == {"evse_id": "BCU1", "current_battery_pct": 40, "battery_size_kwh": 75}
    for bad in (
        {"current_battery_percentage": 101},
        {"minimum_percentage": -1},
        {"battery_size_kwh": 0},
        {},
    ):
        args: dict[str, Any] = {
            "expected_departure_time": None,
            "current_battery_percentage": None,
            "minimum_percentage": None,
            "battery_size_kwh": None,
            **bad,
        }
        with pytest.raises(ValueError):
            proto.price_settings_fields("BCU1", **args)


def test_override_fields() -> None:
    fields = proto.override_current_fields(
        ["BCU1", "BCU2"],
        start_time=dt.time(10),
        start_days=["friday", 1],
        stop_time="12:00",
        stop_days=["SU"],
        current=6,
    )
    assert fields == {
        "chargepoints": ["BCU1", "BCU2"],
        "overridestarttime": "10:00",
        "overridestartdays": ["FR", "MO"],  # as given
        "overridestoptime": "12:00",
        "overridestopdays": ["SU"],
        "overridevalue": 6,
    }
    assert isinstance(fields["overridevalue"], int)  # sent as given, not as 6.0
    half = proto.override_current_fields(
        ["BCU1"], start_time="10:00", start_days=[1], stop_time="11:00", stop_days=[1], current=6.5
    )
    assert half["overridevalue"] == 6.5
    for bad in ({"charge_points": []}, {"charge_points": "BCU1"}, {"current": -1}):
        args: dict[str, Any] = {
            "charge_points": ["BCU1"],
            "start_time": "10:00",
            "start_days": [1],
            "stop_time": "11:00",
            "stop_days": [1],
            "current": 6,
            **bad,
        }
        points = args.pop("charge_points")
        with pytest.raises(ValueError):
            proto.override_current_fields(points, **args)


def test_schedule_id_types() -> None:
    edited = proto.edit_schedule_id_field(12)
    assert edited == {"schedule_id": 12} and isinstance(edited["schedule_id"], int)
    assert proto.edit_schedule_id_field("12") == {"schedule_id": "12"}
    for bad in (True, None, 1.5, " "):
        with pytest.raises(ValueError):
            proto.edit_schedule_id_field(bad)  # type: ignore[arg-type]
    assert proto.clear_schedule_id_field("12") == {"schedule_id": 12}
    with pytest.raises(ValueError):
        proto.clear_schedule_id_field("abc")


def test_frames() -> None:
    assert proto.validate_frame("tok") == {"command": "VALIDATE_API_TOKEN", "token": "tok"}
    assert proto.hello_frame("Token x") == {
        "command": "HELLO",
        "header": "homeassistant",
        "Authorization": "Token x",
    }
    assert proto.session_fields("BCU1", "card") == {"evse_id": "BCU1", "session_token": "card"}
    assert proto.value_fields("BCU1", True) == {"evse_id": "BCU1", "value": True}
    with pytest.raises(TypeError, match="True or False"):
        proto.value_fields("BCU1", 1)  # type: ignore[arg-type]  # a truthy value is not a bool


def test_reply_families() -> None:
    assert proto.reply_roles("GET_CH_STATUS") == {
        "CH_STATUS": Role.RESULT,
        "RECEIVED_GET_CH_STATUS": Role.ACK,
    }
    plain = proto.TWO_STEP_COMMANDS - {"SET_OPERATIVE", "SET_INOPERATIVE"}
    for command in plain | {"SET_PLUG_AND_CHARGE", "SET_PUBLIC_CHARGING"}:
        roles = proto.reply_roles(command)
        assert roles == {f"STATUS_{command}": Role.RESULT, f"RECEIVED_{command}": Role.ACK}
    # block/unblock: a pushed CH_STATUS showing the new activity confirms (OP-3)
    assert proto.reply_roles("SET_INOPERATIVE") == {
        "STATUS_SET_INOPERATIVE": Role.RESULT,
        "RECEIVED_SET_INOPERATIVE": Role.ACK,
        "CH_STATUS": Role.CONFIRM,
    }
    # smart charging: the ack is not the verdict (OP-6)
    assert proto.reply_roles("SET_DELAYED_CHARGING") == {
        "STATUS_SET_DELAYED_CHARGING": Role.RESULT,
        "SET_DELAYED_CHARGING": Role.RESULT,
        "RECEIVED_SET_DELAYED_CHARGING": Role.ACK,
    }
    assert proto.reply_roles("FUTURE_COMMAND")["RECEIVED_FUTURE_COMMAND"] is Role.ACK_OR_RESULT
    assert (
        proto.reply_roles("POST_SET_OVERRIDE_CURRENT")["POST_SET_OVERRIDE_CURRENT"] is Role.RESULT
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (
            dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 11, 25, 0, 0, 30),
        ),
        (
            dt.datetime(2026, 11, 23, 23, 0, 10, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 11, 24, 0, 0, 30),
        ),
        (
            dt.datetime(2026, 11, 23, 23, 0, 40, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 11, 25, 0, 0, 30),
        ),
        # The night summer time starts (29 March 2026) and the day before it ends.
        (
            dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 3, 29, 0, 0, 30),
        ),
        (
            dt.datetime(2026, 10, 24, 21, 0, tzinfo=dt.timezone.utc),
            dt.datetime(2026, 10, 25, 0, 0, 30),
        ),
    ],
)
def test_next_reset_at(now: dt.datetime, expected: dt.datetime) -> None:
    reset = proto.next_reset_at(now)
    assert reset.tzinfo is not None
    assert reset.astimezone(AMS).replace(tzinfo=None) == expected
    assert reset > now


# -- URL policy, backoff ------------------------------------------------------------------


def test_check_url() -> None:
    check_url("wss://motown.bluecurrent.nl/haserver", False)
    check_url("ws://127.0.0.1:1/x", False)
    check_url("ws://[::1]:1/x", False)
    check_url("ws://10.0.0.1/x", True)
    for url in ("ws://10.0.0.1/x", "ws://bo.bluecurrent.nl/haserver"):
        with pytest.raises(ValueError, match="allow_insecure"):
            check_url(url, False)
    with pytest.raises(ValueError):
        check_url("https://x/", True)


def test_backoff_doubles_to_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(1))
    steps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for step in steps:
        delay = backoff.next_delay()
        assert step / 2 <= delay <= step
    backoff.reset()
    assert backoff.next_delay() <= 0.5
    with pytest.raises(ValueError):
        Backoff(0, 1)


# -- waiters ------------------------------------------------------------------------------


def _echo(name: str, role: Role, frame: Any) -> Any:
    if role is Role.ACK:
        return ACKNOWLEDGED
    return frame["n"]


def test_evse_less_status_never_resolves_a_request_for_one_charge_point() -> None:
    table = PendingTable()
    read, _ = table.register(
        "GET_CH_STATUS", "A", proto.reply_roles("GET_CH_STATUS"), _echo, shareable=True
    )
    table.mark_sent(read)
    assert not table.route("CH_STATUS", None, {"n": 1})  # OP-7: not attributable
    assert not read.done
    assert table.route("CH_STATUS", "A", {"n": 2})
    assert read.outcome() == 2


def test_no_evse_frame_resolves_oldest_sent_serial_waiter() -> None:
    table = PendingTable()
    roles = proto.reply_roles("STOP_SESSION")
    first, _ = table.register("STOP_SESSION", "A", roles, _echo, shareable=False, serial=True)
    second, _ = table.register("STOP_SESSION", "B", roles, _echo, shareable=False, serial=True)
    table.mark_sent(first)
    table.mark_sent(second)
    # Acks without evse_id: one per request, oldest first.
    assert table.route("RECEIVED_STOP_SESSION", None, {})
    assert table.route("RECEIVED_STOP_SESSION", None, {})
    assert (
        "RECEIVED_STOP_SESSION" not in first.roles and "RECEIVED_STOP_SESSION" not in second.roles
    )
    assert table.route("STATUS_STOP_SESSION", None, {"n": 1})
    assert first.done and not second.done
    assert first.outcome() == 1
    assert table.route("STATUS_STOP_SESSION", None, {"n": 2})
    assert second.outcome() == 2
    assert not table.route("STATUS_STOP_SESSION", None, {"n": 3})


def test_evse_frame_resolves_every_waiter_on_its_key() -> None:
    table = PendingTable()
    roles = proto.reply_roles("SOFT_RESET")
    a1, _ = table.register("SOFT_RESET", "A", roles, _echo, shareable=False)
    a2, _ = table.register("SOFT_RESET", "A", roles, _echo, shareable=False)
    b, _ = table.register("SOFT_RESET", "B", roles, _echo, shareable=False)
    for waiter in (a1, a2, b):
        table.mark_sent(waiter)
    table.route("STATUS_SOFT_RESET", "A", {"n": 7})
    assert a1.outcome() == 7 and a2.outcome() == 7 and not b.done


def test_identical_reads_share_one_waiter() -> None:
    table = PendingTable()
    roles = proto.reply_roles("GET_CH_STATUS")
    first, new1 = table.register("GET_CH_STATUS", "A", roles, _echo, shareable=True)
    second, new2 = table.register("GET_CH_STATUS", "A", roles, _echo, shareable=True)
    other, new3 = table.register("GET_CH_STATUS", "B", roles, _echo, shareable=True)
    assert (new1, new2, new3) == (True, False, True)
    assert first is second and other is not first
    table.release(first)  # one caller timed out: the other still waits
    table.mark_sent(first)
    assert table.route("CH_STATUS", "A", {"n": 1})
    assert second.outcome() == 1


def test_error_fails_oldest_sent_and_failures_propagate() -> None:
    table = PendingTable()
    roles = proto.reply_roles("GET_CH_STATUS")
    first, _ = table.register("GET_CH_STATUS", "A", roles, _echo, shareable=False)
    second, _ = table.register("GET_CH_STATUS", "B", roles, _echo, shareable=False)
    table.mark_sent(second)  # sent first
    table.mark_sent(first)
    failed = table.attribute_error(ApiError(0, "Unknown command"))
    assert failed is second
    with pytest.raises(ApiError):
        second.outcome()

    def boom(name: str, role: Role, frame: Any) -> Any:
        raise ValueError("bad frame")

    third, _ = table.register("GET_CH_STATUS", "C", roles, boom, shareable=False)
    table.mark_sent(third)
    table.route("CH_STATUS", "C", {})
    with pytest.raises(ValueError):
        third.outcome()
    assert table.fail_all(lambda w: ConnectionError("gone")) == 1  # only `first` left
    with pytest.raises(ConnectionError):
        first.outcome()


def test_error_is_not_attributed_to_an_acknowledged_request() -> None:
    table = PendingTable()
    action, _ = table.register(
        "START_SESSION", "A", proto.reply_roles("START_SESSION"), _echo, shareable=False
    )
    read, _ = table.register(
        "GET_CH_STATUS", "B", proto.reply_roles("GET_CH_STATUS"), _echo, shareable=False
    )
    table.mark_sent(action)
    table.mark_sent(read)
    table.route("RECEIVED_START_SESSION", None, {})
    assert table.attribute_error(ApiError(2, "Not authorized")) is read
    assert not action.done


# -- dispatcher ---------------------------------------------------------------------------


def test_dispatcher_runs_handlers_in_order_and_stops() -> None:
    dispatcher = Dispatcher(lambda frame: frame["n"], queue_size=10)
    seen: list[int] = []
    done = threading.Event()

    def handler(n: int) -> None:
        seen.append(n)
        if n == 4:
            done.set()

    dispatcher.subscribe("X", handler)
    dispatcher.start()
    for n in range(5):
        dispatcher.publish("X", {"n": n})
    dispatcher.publish("Y", {"n": 99})  # nobody listens: not queued
    assert done.wait(30)
    assert seen == [0, 1, 2, 3, 4]
    assert dispatcher.unsubscribe("X", handler)
    assert not dispatcher.unsubscribe("X", handler)
    with pytest.raises(TypeError):
        dispatcher.subscribe("X", 3)  # type: ignore[arg-type]
    dispatcher.stop(2)
    dispatcher.stop(2)
    with pytest.raises(ValueError):
        Dispatcher(lambda f: f, queue_size=0)
