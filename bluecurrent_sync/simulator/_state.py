"""The simulated account: charge points, cards, schedules and how they change.

Everything here works on plain wire dicts and is not thread-safe on its own: the server
calls it with its lock held. Random choices come from the ``random.Random`` it is given,
so a seed reproduces a run.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "AMSTERDAM",
    "CARDS",
    "CUSTOMER_ID",
    "EVSE_IDS",
    "FOREIGN_EVSE_ID",
    "NO_CARD",
    "Account",
    "ChargePoint",
    "schedule_fields",
    "wire_time",
]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

CUSTOMER_ID = "CUST-0042"
FOREIGN_EVSE_ID = "BCU900001"
"""A charge point that exists on the server but belongs to another account (ERROR 2)."""

NO_CARD: dict[str, Any] = {
    "uid": "BCU-APP",
    "id": "BCU-APP",
    "name": "No charge card",
    "customer_name": "",
    "valid": 1,
}

CARDS: tuple[dict[str, Any], ...] = (
    {
        "uid": "04A1B2C3D4E5F6",
        "id": "NL-BCU-C00001-7",
        "name": "Home card",
        "customer_name": "Sam Simulator",
        "valid": 1,
        "date_created": "2024-03-01",
        "date_modified": "2025-01-15",
        "date_became_invalid": None,
    },
    {
        "uid": "04F6E5D4C3B2A1",
        "id": "NL-BCU-C00002-5",
        "name": "Work card",
        "customer_name": "Sam Simulator",
        "valid": 1,
        "date_created": "2024-06-12",
        "date_modified": "2024-06-12",
        "date_became_invalid": None,
    },
)

_TARIFF: dict[str, Any] = {
    "tariff_id": "NLBCUT994",
    "price_ex_vat": 0.2397,
    "start_price_ex_vat": 0.0,
    "price_in_vat": 0.29,
    "start_price_in_vat": 0.0,
    "currency": "EUR",
    "vat_percentage": 21,
}

_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def wire_time(moment: dt.datetime) -> str:
    """Format an aware datetime the way the server does: ``YYYYMMDD HH:MM:SS`` Amsterdam time."""
    return moment.astimezone(AMSTERDAM).strftime("%Y%m%d %H:%M:%S")


def _card_ref(card: dict[str, Any]) -> dict[str, Any]:
    return {key: card[key] for key in ("uid", "id", "name", "customer_name", "valid")}


@dataclass
class ChargePoint:
    """One simulated charge point: static description plus live state."""

    evse_id: str
    name: str
    model_type: str
    chargepoint_type: str
    is_cable: bool
    phases: int
    max_usage: int
    smartcharging_max_usage: int
    max_offline: int
    smart_charging: bool
    activity: str = "available"
    vehicle_status: str = "A"
    offline_since: str = ""
    start_datetime: str = ""
    stop_datetime: str = ""
    actual_kwh: float = 0.0
    total_cost: float = 0.0
    currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    voltages: tuple[float, float, float] = (0.0, 0.0, 0.0)
    session_card: str = ""
    plug_and_charge: bool = False
    public_charging: bool = True
    led_intensity: int = 60
    delayed_charging: bool = False
    delayed_schedule: dict[str, Any] = field(default_factory=dict)
    price_based_charging: bool = False
    price_settings: dict[str, Any] = field(default_factory=dict)
    boosted_price_profile: bool = False
    boosted_delayed_profile: bool = False
    city: str = "Amsterdam"
    x_coord: float = 52.3676
    y_coord: float = 4.9041

    @property
    def online(self) -> bool:
        """Whether the charge point answers the back office."""
        return self.activity != "offline"

    @property
    def charging(self) -> bool:
        """Whether a session is running."""
        return self.activity == "charging"

    # ---------------------------------------------------------------- wire views

    def _setting(self, value: object, permission: str = "write") -> dict[str, Any]:
        return {"value": value, "permission": permission}

    def charge_point_item(self, *, recorded: bool = False) -> dict[str, Any]:
        """The item of this charge point in a CHARGE_POINTS ``data`` list.

        ``recorded``: the shape of recorded fixtures (docs/PROTOCOL.md OP-10): wrapped
        ``plug_and_charge_notification``, the ``plug_and_charge_charge_card`` key and
        smart-charging profiles with their schedules.
        """
        item = self._item()
        if recorded:
            item.update(self._recorded_extras())
            item["plug_and_charge_charge_card"] = item.pop("plug_and_charge_card")
        return item

    def _recorded_extras(self) -> dict[str, Any]:
        delayed = {"value": self.delayed_charging, "permission": "write"}
        delayed.update(start_time="23:00", end_time="07:00", selected_days=[1, 2, 3, 4, 5])
        return {
            "plug_and_charge_notification": self._setting(False),
            "delayed_charging": delayed,
            "price_based_charging": {"value": self.price_based_charging, "permission": "write"},
        }

    def _item(self) -> dict[str, Any]:
        return {
            "evse_id": self.evse_id,
            "name": self.name,
            "model_type": self.model_type,
            "chargepoint_type": self.chargepoint_type,
            "is_cable": self.is_cable,
            "activity": self.activity,
            "smart_charging": self.smart_charging,
            "smart_charging_dynamic": False,
            "plug_and_charge": self._setting(self.plug_and_charge),
            "public_charging": self._setting(self.public_charging),
            "plug_and_charge_notification": False,
            "led_interaction": self._setting(True),
            "publish_location": self._setting(False),
            "delayed_charging": self._setting(self.delayed_charging, "none"),
            "price_based_charging": {"value": self.price_based_charging},
            "default_card": _card_ref(NO_CARD),
            "preferred_card": _card_ref(CARDS[0]),
            "plug_and_charge_card": _card_ref(NO_CARD),
            "tariff": dict(_TARIFF),
            "location": {
                "x_coord": self.x_coord,
                "y_coord": self.y_coord,
                "street": "Simulatorstraat",
                "housenumber": "1",
                "zipcode": "1011 AB",
                "city": self.city,
                "country": "NL",
            },
        }

    def status_data(self) -> dict[str, Any]:
        """The ``data`` of a CH_STATUS frame."""
        p1, p2, p3 = self.currents
        v1, v2, v3 = self.voltages
        return {
            "evse_id": self.evse_id,
            "actual_p1": p1,
            "actual_p2": p2,
            "actual_p3": p3,
            "actual_v1": v1,
            "actual_v2": v2,
            "actual_v3": v3,
            "actual_kwh": self.actual_kwh,
            "activity": self.activity,
            "max_usage": self.max_usage,
            "smartcharging_max_usage": self.smartcharging_max_usage,
            "max_offline": self.max_offline,
            "offline_since": self.offline_since,
            "start_datetime": self.start_datetime,
            "stop_datetime": self.stop_datetime,
            "total_cost": self.total_cost,
            "vehicle_status": self.vehicle_status,
        }

    def settings_data(self, *, recorded: bool = False) -> dict[str, Any]:
        """The ``data`` of a CH_SETTINGS frame (``recorded``: with every recorded field)."""
        data = self._settings()
        if recorded:
            item = self._item()
            data.update(self._recorded_extras())
            data["plug_and_charge_charge_card"] = data.pop("plug_and_charge_card")
            data.update(
                publish_location=item["publish_location"],
                tariff=item["tariff"],
                location=item["location"],
                capacity_tariff=self._setting(False, "read"),
                chargepoint_name=self.name,
            )
        return data

    def _settings(self) -> dict[str, Any]:
        return {
            "evse_id": self.evse_id,
            "plug_and_charge": self._setting(self.plug_and_charge),
            "public_charging": self._setting(self.public_charging),
            "default_card": _card_ref(NO_CARD),
            "preferred_card": _card_ref(CARDS[0]),
            "plug_and_charge_card": _card_ref(NO_CARD),
            "smart_charging": self.smart_charging,
            "smart_charging_dynamic": False,
            "model_type": self.model_type,
            "is_cable": self.is_cable,
            "chargepoint_type": self.chargepoint_type,
            "plug_and_charge_notification": False,
            "led_intensity": self._setting(self.led_intensity),
            "led_interaction": self._setting(True),
        }

    # ------------------------------------------------------------------ physics

    def charging_current(self) -> int:
        """The current per phase the charger draws while charging."""
        if self.smart_charging:
            return min(self.max_usage, self.smartcharging_max_usage)
        return min(self.max_usage, 16)

    def refresh_measurements(self, rng: random.Random) -> None:
        """Draw new per-phase voltages and currents for the current activity."""
        if not self.online:
            self.voltages = (0.0, 0.0, 0.0)
            self.currents = (0.0, 0.0, 0.0)
            return
        self.voltages = (
            round(rng.uniform(228.0, 233.0), 1),
            round(rng.uniform(228.0, 233.0), 1),
            round(rng.uniform(228.0, 233.0), 1),
        )
        if not self.charging:
            self.currents = (0.0, 0.0, 0.0)
            return
        amps = self.charging_current()
        drawn = [round(amps - rng.uniform(0.0, 0.4), 1) for _ in range(self.phases)]
        drawn += [0.0] * (3 - self.phases)
        self.currents = (drawn[0], drawn[1], drawn[2])

    def power_kw(self) -> float:
        """Real power drawn now, summed over the phases."""
        return sum(v * i for v, i in zip(self.voltages, self.currents, strict=True)) / 1000.0

    def advance(self, rng: random.Random, hours: float) -> None:
        """Let ``hours`` of simulated time pass: energy and cost rise while charging."""
        self.refresh_measurements(rng)
        if not self.charging:
            return
        # At least one watt-hour per tick, so consecutive pushes always show energy rising.
        self.actual_kwh = round(self.actual_kwh + max(self.power_kw() * hours, 0.001), 3)
        self.total_cost = round(self.actual_kwh * _TARIFF["price_in_vat"], 2)

    # ----------------------------------------------------------------- sessions

    def start_session(self, card_uid: str, now: dt.datetime, rng: random.Random) -> None:
        """Begin charging with ``card_uid``."""
        self.activity = "charging"
        self.vehicle_status = "C"
        self.session_card = card_uid
        self.start_datetime = wire_time(now)
        self.stop_datetime = ""
        self.actual_kwh = 0.0
        self.total_cost = 0.0
        self.refresh_measurements(rng)

    def stop_session(self, now: dt.datetime, rng: random.Random, activity: str) -> None:
        """End the running session; ``activity`` is what the charger shows afterwards."""
        self.activity = activity
        self.vehicle_status = "A"
        self.session_card = ""
        self.stop_datetime = wire_time(now)
        self.refresh_measurements(rng)


def _scenario(now: dt.datetime) -> list[ChargePoint]:
    """The charge points every simulator starts with."""
    started = now - dt.timedelta(minutes=35)
    return [
        ChargePoint(
            evse_id="BCU100001",
            name="Garage",
            model_type="H:MOVE-C32T2",
            chargepoint_type="HIDDEN",
            is_cable=False,
            phases=3,
            max_usage=32,
            smartcharging_max_usage=20,
            max_offline=16,
            smart_charging=False,
            activity="charging",
            vehicle_status="C",
            start_datetime=wire_time(started),
            stop_datetime=wire_time(started - dt.timedelta(days=1, hours=3)),
            actual_kwh=6.42,
            total_cost=1.86,
            session_card=CARDS[0]["uid"],
            plug_and_charge=True,
            public_charging=False,
        ),
        ChargePoint(
            evse_id="BCU100002",
            name="Driveway",
            model_type="U:MOVE22",
            chargepoint_type="UMOVE",
            is_cable=True,
            phases=1,
            max_usage=20,
            smartcharging_max_usage=6,
            max_offline=10,
            smart_charging=True,
            start_datetime="20261120 18:04:11",
            stop_datetime="20261121 07:30:02",
            actual_kwh=18.2,
            total_cost=5.28,
        ),
        ChargePoint(
            evse_id="BCU100003",
            name="Office",
            model_type="H:MOVE-C32T2",
            chargepoint_type="HIDDEN",
            is_cable=False,
            phases=3,
            max_usage=25,
            smartcharging_max_usage=25,
            max_offline=10,
            smart_charging=False,
            activity="offline",
            vehicle_status="A",
            offline_since=wire_time(now - dt.timedelta(hours=5)),
            city="Utrecht",
            x_coord=52.0907,
            y_coord=5.1214,
        ),
        ChargePoint(
            evse_id="BCU100004",
            name="Carport",
            model_type="U:MOVE22",
            chargepoint_type="UMOVE",
            is_cable=True,
            phases=3,
            max_usage=16,
            smartcharging_max_usage=16,
            max_offline=8,
            smart_charging=False,
            vehicle_status="B",
            public_charging=True,
        ),
    ]


EVSE_IDS: tuple[str, ...] = ("BCU100001", "BCU100002", "BCU100003", "BCU100004")


class Account:
    """The simulated account: its charge points, cards and override-current schedules."""

    def __init__(self, rng: random.Random, now: dt.datetime) -> None:
        self.rng = rng
        self.charge_points: dict[str, ChargePoint] = {cp.evse_id: cp for cp in _scenario(now)}
        for cp in self.charge_points.values():
            cp.refresh_measurements(rng)
        self.schedules: dict[str, dict[str, Any]] = {}
        self._next_schedule_id = 1
        self.base_grid_load = (
            rng.randint(3, 6),
            rng.randint(2, 5),
            rng.randint(3, 7),
        )

    def owns(self, evse_id: object) -> bool:
        """Whether ``evse_id`` is one of this account's charge points."""
        return isinstance(evse_id, str) and evse_id in self.charge_points

    def card_uids(self) -> set[str]:
        """Every card uid START_SESSION accepts."""
        return {card["uid"] for card in CARDS} | {NO_CARD["uid"]}

    def charge_points_data(self, *, recorded: bool = False) -> list[dict[str, Any]]:
        """The ``data`` list of a CHARGE_POINTS frame."""
        return [cp.charge_point_item(recorded=recorded) for cp in self.charge_points.values()]

    def cards_data(self) -> list[dict[str, Any]]:
        """The ``cards`` list of a CHARGE_CARDS frame."""
        return copy.deepcopy(list(CARDS))

    def grid_phases(self) -> tuple[int, int, int]:
        """Building load per phase: base load plus every charging charge point's draw."""
        load = list(self.base_grid_load)
        for cp in self.charge_points.values():
            for phase, amps in enumerate(cp.currents):
                load[phase] += round(amps)
        return (load[0], load[1], load[2])

    def grid_status_data(self, evse_id: str) -> dict[str, Any]:
        """The ``data`` of a GRID_STATUS frame for ``evse_id``."""
        p1, p2, p3 = self.grid_phases()
        return {
            "id": f"GRID-{evse_id}",
            "grid_actual_p1": p1,
            "grid_actual_p2": p2,
            "grid_actual_p3": p3,
            "grid_max_install": 40,
            "grid_max_reserved": 25,
        }

    # ------------------------------------------------------------- schedules

    def add_schedule(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Store a new override-current schedule and return it in wire form."""
        schedule_id = str(self._next_schedule_id)
        self._next_schedule_id += 1
        self.schedules[schedule_id] = {"schedule_id": schedule_id, **fields}
        return dict(self.schedules[schedule_id])


def schedule_fields(frame: dict[str, Any]) -> dict[str, Any] | None:
    """Read the six schedule fields of a POST_SET/EDIT_OVERRIDE_CURRENT frame, or None if bad."""
    chargepoints = frame.get("chargepoints")
    start_days = frame.get("overridestartdays")
    stop_days = frame.get("overridestopdays")
    start_time = frame.get("overridestarttime")
    stop_time = frame.get("overridestoptime")
    value = frame.get("overridevalue")
    if not (
        isinstance(chargepoints, list)
        and all(isinstance(item, str) for item in chargepoints)
        and _valid_days(start_days)
        and _valid_days(stop_days)
        and isinstance(start_time, str)
        and isinstance(stop_time, str)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return None
    assert isinstance(start_days, list) and isinstance(stop_days, list)
    return {
        "charge_points": list(chargepoints),
        "override_current": float(value),
        "start_time": start_time,
        "stop_time": stop_time,
        "override_start_days": ",".join(start_days),
        "override_end_days": ",".join(stop_days),
    }


def _valid_days(days: object) -> bool:
    return isinstance(days, list) and all(day in _DAY_CODES for day in days)
