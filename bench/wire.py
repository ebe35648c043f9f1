"""Synthetic frames with the real wire shapes (docs/PROTOCOL.md 3.1, 3.2), shared by the bench."""

from __future__ import annotations

import json
from typing import Any

TOKEN = "bench-api-token"
ISSUED = "bench-issued-token"
CUSTOMER_ID = "CUST-BENCH"


def evse_id(index: int) -> str:
    """The evse_id of synthetic charge point ``index``."""
    return f"BCU{200000 + index:06d}"


def status_data(evse: str, index: int = 0) -> dict[str, Any]:
    """The ``data`` of a CH_STATUS frame (a three-phase charger that is charging)."""
    return {
        "evse_id": evse,
        "actual_p1": 15.9,
        "actual_p2": 15.8,
        "actual_p3": 15.7 + (index % 3) / 10,
        "actual_v1": 231.2,
        "actual_v2": 230.8,
        "actual_v3": 229.9,
        "actual_kwh": round(6.4 + index / 1000, 3),
        "activity": "charging",
        "max_usage": 32,
        "smartcharging_max_usage": 20,
        "max_offline": 16,
        "offline_since": "",
        "start_datetime": "20261124 01:43:15",
        "stop_datetime": "20261122 22:43:15",
        "total_cost": 1.86,
        "vehicle_status": "C",
    }


def ch_status_frame(evse: str, index: int = 0) -> dict[str, Any]:
    """A CH_STATUS frame (evse_id on the top level and in data, as the server sends)."""
    return {"object": "CH_STATUS", "evse_id": evse, "data": status_data(evse, index)}


def _card(uid: str, name: str) -> dict[str, Any]:
    return {"uid": uid, "id": uid, "name": name, "customer_name": "Bench", "valid": 1}


def charge_point_item(index: int) -> dict[str, Any]:
    """One item of CHARGE_POINTS.data (the wrapped-setting form of the current wire)."""
    return {
        "evse_id": evse_id(index),
        "name": f"Charger {index}",
        "model_type": "H:MOVE-C32T2",
        "chargepoint_type": "HIDDEN",
        "is_cable": index % 2 == 0,
        "activity": ("available", "charging", "offline", "unavailable")[index % 4],
        "smart_charging": index % 3 == 0,
        "smart_charging_dynamic": False,
        "plug_and_charge": {"value": index % 2 == 1, "permission": "write"},
        "public_charging": {"value": index % 5 == 0, "permission": "write"},
        "plug_and_charge_notification": False,
        "led_interaction": {"value": True, "permission": "write"},
        "publish_location": {"value": False, "permission": "write"},
        "delayed_charging": {"value": False, "permission": "none"},
        "price_based_charging": {"value": False},
        "default_card": _card("BCU-APP", "No card"),
        "preferred_card": _card("04A1B2C3D4E5F6", "Home card"),
        "plug_and_charge_card": _card("BCU-APP", "No card"),
        "tariff": {
            "tariff_id": "NLBCUT994",
            "price_ex_vat": 0.2397,
            "start_price_ex_vat": 0.0,
            "price_in_vat": 0.2613,
            "start_price_in_vat": 0.0,
            "currency": "EUR",
            "vat_percentage": 21,
        },
        "location": {
            "x_coord": 52.37 + index / 10000,
            "y_coord": 4.89,
            "street": "Benchstraat",
            "housenumber": str(index),
            "zipcode": "1011 AB",
            "city": "Amsterdam",
            "country": "NL",
        },
    }


def charge_points_text(count: int) -> str:
    """A CHARGE_POINTS frame with ``count`` charge points, as JSON text."""
    items = [charge_point_item(i) for i in range(count)]
    return json.dumps({"object": "CHARGE_POINTS", "data": items})
