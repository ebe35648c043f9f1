"""Quota, refusals and every fault knob of the simulator, checked at the socket level."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import jsonschema
import pytest
from conftest import RawClient, validate_token
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect
from wire_schemas import validate_wire_frame

from bluecurrent_sync.simulator import (
    ALREADY_CONNECTED_REASON,
    DEFAULT_TOKEN,
    EVSE_IDS,
    LIMIT_CLOSE_CODE,
    LIMIT_REASON,
    MALFORMED_KINDS,
    REJECT_HEADER,
    Simulator,
    malformed_frame,
)

RawFactory = Callable[..., RawClient]
MakeSimulator = Callable[..., Simulator]

CHARGING, SMART, OFFLINE, CARPORT = EVSE_IDS
QUIET = {"push_interval": None}
"""No timed pushes: a test can then tell "no reply" from "a push arrived"."""


def _refused_reason(url: str) -> tuple[int, str | None]:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5)
    response = refused.value.response
    return response.status_code, response.headers.get(REJECT_HEADER)


def _closed_by_server(client: RawClient, timeout: float = 5.0) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            client.recv_message(timeout)
    return closed.value


# ------------------------------------------------------------------------ quota


def test_quota_error_42_close_4001_then_refused(
    make_simulator: MakeSimulator, raw_client: RawFactory
) -> None:
    sim = make_simulator(quota=4, **QUIET)
    client = raw_client(sim)  # VALIDATE 1, HELLO 2
    client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")  # 3
    client.request("GET_CH_STATUS", "CH_STATUS", evse_id=CARPORT)  # 4
    assert sim.request_counts() == {DEFAULT_TOKEN: 4}
    client.send("GET_CH_STATUS", evse_id=CARPORT)  # 5: over the quota
    error = client.recv()
    assert error == {"object": "ERROR", "error": 42, "message": LIMIT_REASON}
    closed = _closed_by_server(client)
    assert closed.rcvd is not None
    assert closed.rcvd.code == LIMIT_CLOSE_CODE
    assert _refused_reason(sim.url) == (403, LIMIT_REASON)
    assert sim.refusals() == [LIMIT_REASON]
    assert sim.request_counts() == {DEFAULT_TOKEN: 4}

    sim.reset_quota()
    assert validate_token(sim.url)["success"] is True


def test_validation_counts_against_the_quota(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(quota=1, **QUIET)
    assert validate_token(sim.url)["success"] is True
    client = RawClient(sim.url)
    try:
        client.send("VALIDATE_API_TOKEN", token=DEFAULT_TOKEN)
        assert client.recv()["error"] == 42
        assert _closed_by_server(client).rcvd.code == LIMIT_CLOSE_CODE  # type: ignore[union-attr]
    finally:
        client.close()


def test_exhaust_quota_knob(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    fresh = make_simulator(**QUIET)
    fresh.exhaust_quota()
    assert _refused_reason(fresh.url) == (403, LIMIT_REASON)

    used = make_simulator(**QUIET)
    client = raw_client(used)
    used.exhaust_quota(DEFAULT_TOKEN)
    client.send("GET_CHARGE_POINTS")
    assert client.recv()["error"] == 42
    assert _closed_by_server(client).rcvd.code == LIMIT_CLOSE_CODE  # type: ignore[union-attr]
    assert _refused_reason(used.url) == (403, LIMIT_REASON)


def test_quotas_are_per_token(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(tokens=("alpha", "beta"), **QUIET)
    raw_client(sim, token="alpha").request("GET_CHARGE_POINTS", "CHARGE_POINTS")
    raw_client(sim, token="beta")
    assert sim.request_counts() == {"alpha": 3, "beta": 2}
    assert sim.issued_token("alpha") != sim.issued_token("beta")


# ----------------------------------------------------------- one connection rule


def test_single_connection_refuses_a_second_main_connection(
    make_simulator: MakeSimulator, raw_client: RawFactory
) -> None:
    sim = make_simulator(single_connection=True, **QUIET)
    # Short validation connections do not count; only a HELLO'd connection does.
    first = raw_client(sim)
    sim.wait_for_connections(1, hello=True)
    assert _refused_reason(sim.url) == (403, ALREADY_CONNECTED_REASON)
    first.close()
    sim.wait_for_connections(0)
    second = raw_client(sim)
    second.request("GET_CHARGE_POINTS", "CHARGE_POINTS")


def test_several_connections_allowed_by_default(
    simulator: Simulator, raw_client: RawFactory
) -> None:
    raw_client()
    raw_client()
    simulator.wait_for_connections(2, hello=True)


# ------------------------------------------------------------------------ drops


def test_drop_all_cuts_without_close_frame(simulator: Simulator, raw_client: RawFactory) -> None:
    client = raw_client()
    other = raw_client()
    simulator.wait_for_connections(2, timeout=30)  # the token checks' have been closed
    assert simulator.drop_all() == 2
    for victim in (client, other):
        closed = _closed_by_server(victim)
        assert isinstance(closed, ConnectionClosedError)
        assert closed.rcvd is None
    simulator.wait_for_connections(0)
    raw_client().request("GET_CHARGE_POINTS", "CHARGE_POINTS")


def test_drop_after_n_frames(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.drop_after(2)
    client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")
    client.send("GET_CHARGE_CARDS", limit=100)
    assert _closed_by_server(client).rcvd is None
    assert "CHARGE_CARDS" not in [frame["object"] for frame in client.received]


def test_drop_on_command(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.drop_on("START_SESSION")
    client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")
    client.send("START_SESSION", evse_id=CARPORT, session_token="BCU-APP")
    assert _closed_by_server(client).rcvd is None
    assert sim.count("START_SESSION") == 1
    assert not any(f["object"].endswith("START_SESSION") for f in client.received)
    # Only once: a new connection is served normally.
    again = raw_client(sim)
    again.send("START_SESSION", evse_id=CARPORT, session_token="BCU-APP")
    again.expect("STATUS_START_SESSION", evse_id=CARPORT)


# ---------------------------------------------------------------- reply faults


def test_delay_reply_once(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.delay_reply("GET_CHARGE_CARDS", 2.4)  # 2.2 s of slack past the "not yet" window
    client.send("GET_CHARGE_CARDS", limit=100)
    with pytest.raises(TimeoutError):
        client.expect("CHARGE_CARDS", timeout=0.2)
    client.expect("CHARGE_CARDS", timeout=30)
    client.request("GET_CHARGE_CARDS", "CHARGE_CARDS", limit=100)  # the rule is spent


def test_delay_reply_always(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.delay_reply("GET_CHARGE_CARDS", 2.1, once=False)  # 2 s of slack past "not yet"
    for _ in range(2):
        client.send("GET_CHARGE_CARDS", limit=100)
        with pytest.raises(TimeoutError):
            client.expect("CHARGE_CARDS", timeout=0.1)
        client.expect("CHARGE_CARDS", timeout=30)
    sim.clear_faults()
    client.request("GET_CHARGE_CARDS", "CHARGE_CARDS", limit=100)


def test_withhold_reply_once(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.withhold_reply("GET_CH_STATUS")
    client.send("GET_CH_STATUS", evse_id=CARPORT)
    with pytest.raises(TimeoutError):
        client.expect("CH_STATUS", timeout=0.3)
    client.request("GET_CH_STATUS", "CH_STATUS", evse_id=CARPORT)
    assert sim.count("GET_CH_STATUS") == 2


def test_withheld_session_still_starts(
    make_simulator: MakeSimulator, raw_client: RawFactory
) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.withhold_reply("START_SESSION")
    client.send("START_SESSION", evse_id=CARPORT, session_token="BCU-APP")
    pushed = client.expect("CH_STATUS", evse_id=CARPORT)
    assert pushed["data"]["activity"] == "charging"
    assert not any("START_SESSION" in frame["object"] for frame in client.received)
    assert sim.connections()[-1].commands().count("START_SESSION") == 1


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_corrupt_reply(make_simulator: MakeSimulator, raw_client: RawFactory, kind: str) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.corrupt_reply("GET_CH_STATUS", kind)
    client.send("GET_CH_STATUS", evse_id=CHARGING)
    assert client.recv_message() == malformed_frame(kind)
    client.request("GET_CH_STATUS", "CH_STATUS", evse_id=CHARGING)


def test_corrupt_reply_with_raw_text(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.corrupt_reply("GET_CHARGE_CARDS", '{"object": "CHARGE_CARDS", "cards": "nope"}')
    client.send("GET_CHARGE_CARDS", limit=100)
    assert json.loads(client.recv_message()) == {"object": "CHARGE_CARDS", "cards": "nope"}


def test_fail_action(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.fail_action("START_SESSION", "REJECTED")
    client.send("START_SESSION", evse_id=CARPORT, session_token="BCU-APP")
    failed = client.expect("STATUS_START_SESSION", evse_id=CARPORT)
    assert (failed["success"], failed["error"]) == (False, "REJECTED")
    assert sim.charge_point(CARPORT)["activity"] == "available"
    sim.fail_action("SET_PLUG_AND_CHARGE", "TIMEOUT")
    client.send("SET_PLUG_AND_CHARGE", evse_id=CARPORT, value=True)
    failed = client.expect("STATUS_SET_PLUG_AND_CHARGE", evse_id=CARPORT)
    assert (failed["success"], failed["error"]) == (False, "TIMEOUT")


# ------------------------------------------------------------ injected frames


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_send_malformed(make_simulator: MakeSimulator, raw_client: RawFactory, kind: str) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    assert sim.send_malformed(kind) == 1
    message = client.recv_message()
    assert message == malformed_frame(kind)
    if kind == "binary" or kind == "invalid_utf8":
        assert isinstance(message, bytes)
    # The server carries on after sending garbage.
    client.request("GET_CHARGE_POINTS", "CHARGE_POINTS")


def test_malformed_kinds_really_are_malformed() -> None:
    for kind in MALFORMED_KINDS:
        payload = malformed_frame(kind)
        try:
            frame = json.loads(payload)
        except ValueError:
            continue  # not JSON or not UTF-8
        if isinstance(payload, bytes):
            continue  # binary frame
        with pytest.raises((AssertionError, jsonschema.ValidationError)):
            validate_wire_frame(frame)
    with pytest.raises(ValueError, match="unknown malformed kind"):
        malformed_frame("nonsense")


def test_inject(simulator: Simulator, raw_client: RawFactory) -> None:
    main = raw_client()
    short = raw_client(hello=False)
    frame = {"object": "CH_STATUS", "evse_id": CHARGING, "data": {"activity": "error"}}
    assert simulator.inject(frame) == 1
    assert main.expect("CH_STATUS", timeout=30)["data"] == {"activity": "error"}
    # The server registers a connection on its own thread, after the client's handshake
    # returned; the token checks' short connections may still be closing.
    simulator.wait_for_connections(2, timeout=30)
    assert simulator.inject("plain text", main_only=False) == 2
    assert simulator.inject(b"\x01\x02") == 1
    assert short.recv_message() == "plain text"


def test_flood(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    assert sim.flood(500) == 500
    energies = []
    for _ in range(500):
        frame = client.recv()
        assert frame["object"] == "CH_STATUS"
        energies.append(frame["data"]["actual_kwh"])
    assert energies == sorted(energies)
    assert len(set(energies)) == 500


# -------------------------------------------------------------------- lifecycle


def test_restart_closes_clients_and_serves_again(
    simulator: Simulator, raw_client: RawFactory
) -> None:
    client = raw_client()
    url = simulator.url
    simulator.restart()
    closed = _closed_by_server(client)
    assert closed.rcvd is not None and closed.rcvd.code == 1001
    assert simulator.url == url
    raw_client().request("GET_CHARGE_POINTS", "CHARGE_POINTS")
    assert len(simulator.connections()) == 4  # history survives the restart


def test_set_offline_and_back(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.set_offline(CHARGING)
    pushed = client.expect("CH_STATUS", evse_id=CHARGING)["data"]
    assert pushed["activity"] == "offline"
    assert pushed["offline_since"] != ""
    client.send("START_SESSION", evse_id=CHARGING, session_token="BCU-APP")
    assert client.expect("STATUS_START_SESSION", evse_id=CHARGING)["error"] == "TIMEOUT"
    sim.set_offline(CHARGING, offline=False)
    assert client.expect("CH_STATUS", evse_id=CHARGING)["data"]["activity"] == "available"


def test_push_now(make_simulator: MakeSimulator, raw_client: RawFactory) -> None:
    sim = make_simulator(**QUIET)
    client = raw_client(sim)
    sim.push_now()
    first = client.expect("CH_STATUS", evse_id=CHARGING)["data"]["actual_kwh"]
    client.expect("GRID_CURRENT")
    sim.push_now()
    second = client.expect("CH_STATUS", evse_id=CHARGING)["data"]["actual_kwh"]
    assert second > first
    assert sim.wait_for_sent("GRID_CURRENT", count=2)["evse_id"] == CHARGING


def test_start_twice_is_an_error(simulator: Simulator) -> None:
    with pytest.raises(RuntimeError):
        simulator.start()


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        Simulator(tokens=())
    with pytest.raises(ValueError):
        Simulator(push_interval=0)
    assert "stopped" in repr(Simulator())


# ------------------------------------------------------------------------ clock


class FakeClock:
    """A settable clock for the simulator's ``clock`` option."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_timestamps_are_amsterdam_local(
    make_simulator: MakeSimulator, raw_client: RawFactory
) -> None:
    clock = FakeClock(dt.datetime(2026, 7, 1, 12, 0, 5, tzinfo=dt.timezone.utc))
    sim = make_simulator(clock=clock, **QUIET)
    client = raw_client(sim)
    client.send("START_SESSION", evse_id=CARPORT, session_token="BCU-APP")
    pushed = client.expect("CH_STATUS", evse_id=CARPORT)["data"]
    assert pushed["start_datetime"] == "20260701 14:00:05"  # CEST, UTC+2
    clock.now = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.timezone.utc)
    client.send("STOP_SESSION", evse_id=CARPORT)
    pushed = client.expect("CH_STATUS", evse_id=CARPORT)["data"]
    assert pushed["stop_datetime"] == "20261124 02:30:00"  # CET, UTC+1


def test_quota_resets_at_amsterdam_midnight(make_simulator: MakeSimulator) -> None:
    clock = FakeClock(dt.datetime(2026, 11, 24, 22, 59, 0, tzinfo=dt.timezone.utc))
    sim = make_simulator(quota=1, clock=clock, **QUIET)
    assert validate_token(sim.url)["success"] is True
    client = RawClient(sim.url)
    try:
        client.send("VALIDATE_API_TOKEN", token=DEFAULT_TOKEN)
        assert client.recv()["error"] == 42
    finally:
        client.close()
    assert _refused_reason(sim.url) == (403, LIMIT_REASON)
    clock.now = dt.datetime(2026, 11, 24, 23, 0, 30, tzinfo=dt.timezone.utc)  # 00:00:30 local
    assert validate_token(sim.url)["success"] is True
    assert sim.request_counts() == {DEFAULT_TOKEN: 1}
