"""The official asyncio client (``bluecurrent-api``) drives the simulator end to end.

Its own post-processing must accept every reply, so what reaches its ``receiver`` callback is
asserted on. It is pointed at the simulator by patching its module-level URL constant.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from bluecurrent_sync.simulator import (
    CARDS,
    CUSTOMER_ID,
    DEFAULT_TOKEN,
    EVSE_IDS,
    FOREIGN_EVSE_ID,
    Simulator,
)

if sys.version_info < (3, 11):  # pragma: no cover - exercised by the 3.10 matrix job
    pytest.skip("bluecurrent-api 1.3.3 requires Python 3.11+", allow_module_level=True)

bluecurrent_api = pytest.importorskip(
    "bluecurrent_api", reason="the official client (bluecurrent-api) is not installed"
)
from bluecurrent_api import exceptions as bc_exceptions  # noqa: E402
from bluecurrent_api import websocket as bc_websocket  # noqa: E402

CHARGING, SMART, OFFLINE, CARPORT = EVSE_IDS
TIMEOUT = 5.0


@pytest.fixture
def official(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The simulator, with the official client's URL constant pointing at it."""
    monkeypatch.setattr(bc_websocket, "URL", simulator.url)
    yield simulator


class Session:
    """An official client connected to the simulator, with a queue of processed messages."""

    def __init__(self) -> None:
        self.client = bluecurrent_api.Client()
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def receiver(self, message: dict[str, Any]) -> None:
        await self.messages.put(message)

    async def connect(self) -> None:
        async def on_open() -> None:
            await self.client.get_charge_points()

        self.task = asyncio.create_task(self.client.connect(self.receiver, on_open))
        await self.named("CHARGE_POINTS")

    async def expect(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """The first processed message (seen before or arriving next) that matches."""
        for message in self.seen:
            if predicate(message):
                self.seen.remove(message)
                return message

        async def wait() -> dict[str, Any]:
            while True:
                message = await self.messages.get()
                if predicate(message):
                    return message
                self.seen.append(message)

        return await asyncio.wait_for(wait(), timeout)

    async def named(self, name: str, evse_id: str | None = None) -> dict[str, Any]:
        def matches(message: dict[str, Any]) -> bool:
            if message.get("object") != name:
                return False
            if evse_id is None:
                return True
            data = message.get("data")
            inner = data.get("evse_id") if isinstance(data, dict) else None
            return evse_id in (message.get("evse_id"), inner)

        return await self.expect(matches)

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            await self.client.disconnect()
            await asyncio.wait_for(self.task, TIMEOUT)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_official_client_full_tour(official: Simulator) -> None:
    async def scenario() -> None:
        session = Session()
        client = session.client
        assert await asyncio.wait_for(client.validate_api_token(DEFAULT_TOKEN), TIMEOUT) == (
            CUSTOMER_ID
        )
        assert await asyncio.wait_for(client.get_email(), TIMEOUT) == "sam@simulator.example"
        await session.connect()
        try:
            await client.get_charge_points()
            charge_points = await session.named("CHARGE_POINTS")
            assert [cp["evse_id"] for cp in charge_points["data"]] == list(EVSE_IDS)

            await client.get_charge_cards()
            cards = await session.named("CHARGE_CARDS")
            assert [card["uid"] for card in cards["cards"]] == [card["uid"] for card in CARDS]

            for evse_id in EVSE_IDS:
                await client.get_status(evse_id)
                status = await session.named("CH_STATUS", evse_id)
                assert status["data"]["vehicle_status"] in {"standby", "vehicle_detected", "ready"}
                assert "total_kw" in status["data"]
                assert "current_left" in status["data"]
                await client.get_settings(evse_id)
                settings = await session.named("CH_SETTINGS", evse_id)
                assert isinstance(settings["data"]["plug_and_charge"], bool)
                assert isinstance(settings["data"]["linked_charge_cards_only"], bool)
                await client.get_grid_status(evse_id)
                grid = await session.expect(
                    lambda m, e=evse_id: (
                        m.get("object") == "GRID_STATUS" and m["data"]["id"] == f"GRID-{e}"
                    )
                )
                assert "grid_avg_current" in grid["data"]

            charging = await session.named("CH_STATUS", CHARGING)
            assert charging["data"]["start_datetime"] is not None
            assert charging["data"]["start_datetime"].tzinfo is not None
            assert charging["data"]["total_kw"] > 0

            pushed_grid = await session.named("GRID_CURRENT")
            assert "grid_max_current" in pushed_grid["data"]

            await client.set_plug_and_charge(CARPORT, True)
            result = await session.named("PLUG_AND_CHARGE", CARPORT)
            assert result["result"] is True
            await client.set_linked_charge_cards_only(CARPORT, True)
            result = await session.named("LINKED_CHARGE_CARDS_ONLY", CARPORT)
            assert result["result"] is True
            # The CH_SETTINGS pushed after the change reaches the receiver processed.
            await session.expect(
                lambda m: (
                    m.get("object") == "CH_SETTINGS"
                    and m["data"]["evse_id"] == CARPORT
                    and m["data"]["linked_charge_cards_only"] is True
                    and m["data"]["plug_and_charge"] is True
                )
            )

            await client.start_session(CARPORT, "BCU-APP")
            started = await session.named("START_SESSION", CARPORT)
            assert (started["success"], started["error"]) == (True, "")
            status = await session.expect(
                lambda m: (
                    m.get("object") == "CH_STATUS"
                    and m.get("evse_id") == CARPORT
                    and m["data"]["activity"] == "charging"
                )
            )
            assert status["data"]["vehicle_status"] == "ready"

            await client.stop_session(CARPORT)
            stopped = await session.named("STOP_SESSION")
            assert (stopped["success"], stopped["error"]) == (True, "")

            await client.stop_session(CARPORT)
            refused = await session.named("STOP_SESSION")
            assert refused["success"] is False
            assert refused["error"] == f"no active session for chargepoint: {CARPORT}"

            await client.start_session(OFFLINE, "BCU-APP")
            timed_out = await session.named("START_SESSION", OFFLINE)
            assert timed_out["error"] == f"start_session timeout for chargepoint: {OFFLINE}"

            await client.block(CARPORT, True)
            blocked = await session.expect(
                lambda m: (
                    m.get("object") == "CH_STATUS"
                    and m.get("evse_id") == CARPORT
                    and m["data"]["activity"] == "unavailable"
                )
            )
            assert blocked["data"]["avg_current"] == 0
            await client.block(CARPORT, False)
            await session.expect(
                lambda m: (
                    m.get("object") == "CH_STATUS"
                    and m.get("evse_id") == CARPORT
                    and m["data"]["activity"] == "available"
                )
            )

            await client.reset(CARPORT)
            assert (await session.named("SOFT_RESET", CARPORT))["success"] is True
            await client.reboot(CARPORT)
            assert (await session.named("REBOOT", CARPORT))["success"] is True
        finally:
            await session.close()

        assert official.count("HELLO") == 1
        hello = official.received("HELLO")[0]
        assert hello["header"] == "homeassistant"

    run(scenario)


def test_official_client_smart_charging_and_overrides(official: Simulator) -> None:
    async def scenario() -> None:
        session = Session()
        client = session.client
        await asyncio.wait_for(client.validate_api_token(DEFAULT_TOKEN), TIMEOUT)
        await session.connect()
        try:
            await client.set_delayed_charging(SMART, True)
            await client.set_delayed_charging_settings(SMART, [1, 2, 3], "22:00", "06:00")
            await client.set_price_based_charging(SMART, True)
            await client.override_price_based_charging_profile(SMART, True)
            await client.override_delayed_charging_profile(SMART, False)
            # The official client drops these results; wait for the simulator to send the last.
            await asyncio.to_thread(
                official.wait_for_sent, "STATUS_OVERRIDE_DELAYED_CHARGING_TIMEOUT"
            )
            await client.get_user_override_currents_list()
            listed = await session.named("LIST_OVERRIDE_CURRENT")
            assert listed["data"] == []
            await client.get_charge_points()
            charge_points = await session.named("CHARGE_POINTS")
            smart = next(cp for cp in charge_points["data"] if cp["evse_id"] == SMART)
            assert smart["price_based_charging"] == {"value": True}
        finally:
            await session.close()
        state = official.charge_point(SMART)
        assert state["delayed_schedule"]["start_time"] == "22:00"
        assert state["boosted_price_profile"] is True

    run(scenario)


def test_official_client_maps_errors_and_refusals(
    make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = make_simulator(quota=3)
    monkeypatch.setattr(bc_websocket, "URL", limited.url)

    async def scenario() -> None:
        bad = bluecurrent_api.Client()
        with pytest.raises(bc_exceptions.InvalidApiToken):
            await asyncio.wait_for(bad.validate_api_token("wrong"), TIMEOUT)

        session = Session()
        await asyncio.wait_for(session.client.validate_api_token(DEFAULT_TOKEN), TIMEOUT)  # 1
        await session.connect()  # HELLO 2, GET_CHARGE_POINTS 3
        await session.client.get_status(FOREIGN_EVSE_ID)  # 4: over quota → 42 + close 4001
        assert session.task is not None
        with pytest.raises(bc_exceptions.RequestLimitReached):
            await asyncio.wait_for(session.task, TIMEOUT)
        with pytest.raises(bc_exceptions.RequestLimitReached):
            await asyncio.wait_for(session.client.validate_api_token(DEFAULT_TOKEN), TIMEOUT)

    run(scenario)


def test_official_client_not_authorized_and_already_connected(
    make_simulator: Callable[..., Simulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    single = make_simulator(single_connection=True)
    monkeypatch.setattr(bc_websocket, "URL", single.url)

    async def scenario() -> None:
        session = Session()
        await asyncio.wait_for(session.client.validate_api_token(DEFAULT_TOKEN), TIMEOUT)
        await session.connect()
        single.wait_for_connections(1, hello=True)
        second = bluecurrent_api.Client()
        with pytest.raises(bc_exceptions.AlreadyConnected):
            await asyncio.wait_for(second.validate_api_token(DEFAULT_TOKEN), TIMEOUT)
        await session.client.get_status(FOREIGN_EVSE_ID)
        assert session.task is not None
        with pytest.raises(bc_exceptions.WebsocketError, match="Not authorized"):
            await asyncio.wait_for(session.task, TIMEOUT)

    run(scenario)
