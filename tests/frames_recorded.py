"""Frames in the shapes other projects' test data and fixtures show (docs/PROTOCOL.md OP-10).

The official client's tests, Home Assistant's tests and pybluecurrent's recorded fixtures
hold about 140 server frames. None is copied here: each shape they show is re-created with
our own values, and ``tests/test_recorded_shapes.py`` checks that every one converts, with
nothing left in ``unparsed``.
"""

from __future__ import annotations

from typing import Any

Frame = dict[str, Any]

_CARD = {"uid": "0411AA22BB33CC", "id": "NL-XYZ-000777-1", "name": "Blue", "valid": 1}
_NO_CARD = {"uid": "BCU-APP", "id": "BCU-APP", "name": "", "customer_name": "", "valid": 1}

#: A charge point as recorded fixtures show it: wrapped notification, the
#: ``plug_and_charge_charge_card`` key, profiles with schedules, tariff permission.
RECORDED_CHARGE_POINT: Frame = {
    "evse_id": "BCU700001",
    "name": "Shed",
    "model_type": "H:MOVE-C32T2",
    "chargepoint_type": "HIDDEN",
    "is_cable": False,
    "activity": "delayed",
    "smart_charging": True,
    "smart_charging_dynamic": True,
    "plug_and_charge": {"value": False, "permission": "write"},
    "public_charging": {"value": True, "permission": "write"},
    "plug_and_charge_notification": {"value": True, "permission": "write"},
    "led_interaction": {"value": False, "permission": "write"},
    "publish_location": {"value": True, "permission": "write"},
    "delayed_charging": {
        "value": True,
        "permission": "write",
        "start_time": "22:30",
        "end_time": "06:15",
        "selected_days": [1, 3, 5],
    },
    "price_based_charging": {"value": False, "permission": "write"},
    "default_card": _NO_CARD,
    "preferred_card": _CARD,
    "plug_and_charge_charge_card": _CARD,
    "tariff": {
        "tariff_id": "NLBCUT123",
        "price_ex_vat": 0.31,
        "start_price_ex_vat": 0.5,
        "price_in_vat": 0.3751,
        "start_price_in_vat": 0.605,
        "currency": "EUR",
        "vat_percentage": 21,
        "permission": "read",
    },
    "location": {
        "x_coord": 51.9,
        "y_coord": 4.47,
        "street": "Havenweg",
        "housenumber": 12,
        "zipcode": "3011 AA",
        "city": "Rotterdam",
        "country": "NL",
    },
}

#: The same charge point with the schedule under ``days`` and booleans plain.
OLDER_CHARGE_POINT: Frame = {
    **RECORDED_CHARGE_POINT,
    "evse_id": "BCU700002",
    "plug_and_charge_notification": False,
    "plug_and_charge": False,
    "public_charging": False,
    "delayed_charging": {
        "value": True,
        "start_time": "23:00",
        "end_time": "07:00",
        "days": "[0,6]",
    },
    "price_based_charging": False,
    "plug_and_charge_card": _CARD,
}

CHARGE_POINTS: Frame = {
    "object": "CHARGE_POINTS",
    "data": [RECORDED_CHARGE_POINT, OLDER_CHARGE_POINT],
}

#: CH_SETTINGS with every field recorded fixtures carry.
CH_SETTINGS: Frame = {
    "object": "CH_SETTINGS",
    "data": {
        "evse_id": "BCU700001",
        "plug_and_charge": {"value": True, "permission": "write"},
        "public_charging": {"value": False, "permission": "read"},
        "plug_and_charge_notification": {"value": False, "permission": "write"},
        "plug_and_charge_charge_card": _CARD,
        "default_card": _NO_CARD,
        "preferred_card": _CARD,
        "smart_charging": False,
        "smart_charging_dynamic": False,
        "model_type": "U:MOVE22",
        "is_cable": True,
        "chargepoint_type": "UMOVE",
        "led_intensity": {"value": 40, "permission": "write"},
        "led_interaction": {"value": True, "permission": "write"},
        "delayed_charging": {
            "value": False,
            "permission": "write",
            "start_time": "21:00",
            "end_time": "05:00",
            "days": [1, 2, 3, 4, 5, 6, 7],
        },
        "price_based_charging": {
            "value": True,
            "permission": "write",
            "start_time": "18:00",
            "end_time": "08:00",
            "days": [6, 7],
        },
        "publish_location": {"value": False, "permission": "write"},
        "tariff": RECORDED_CHARGE_POINT["tariff"],
        "location": RECORDED_CHARGE_POINT["location"],
        "capacity_tariff": {"value": True, "permission": "read"},
        "chargepoint_name": "Shed",
    },
}

#: CH_STATUS as Home Assistant's tests feed it: nulls for phases, empty timestamps.
CH_STATUS_SPARSE: Frame = {
    "object": "CH_STATUS",
    "evse_id": "BCU700001",
    "data": {
        "evse_id": "BCU700001",
        "actual_p1": None,
        "actual_p2": 0,
        "actual_p3": 0,
        "actual_v1": 229.5,
        "actual_v2": None,
        "actual_v3": 0,
        "actual_kwh": 0,
        "activity": "available",
        "max_usage": 16,
        "smartcharging_max_usage": 6,
        "max_offline": 6,
        "offline_since": "",
        "start_datetime": "",
        "stop_datetime": "20250102 17:01:09+01:00",
        "total_cost": 0,
        "vehicle_status": "A",
    },
}

RECEIVED_STOP_NO_SESSION: Frame = {
    "object": "RECEIVED_STOP_SESSION",
    "success": False,
    "error": "no active session for chargepoint: BCU700001",
}

LIST_OVERRIDE_KEYED_COMMAND: Frame = {
    "command": "LIST_OVERRIDE_CURRENT",
    "success": True,
    "error": None,
    "result": [
        {
            "schedule_id": "31",
            "schedule_type": "OVERRIDE",
            "start_time": "07:00",
            "stop_time": "09:00",
            "days_of_week": "MO,WE",
            "chargepoint_id": "BCU700001",
        }
    ],
}

STATUS_SET_PUBLIC_FAILED_EMPTY: Frame = {
    "object": "STATUS_SET_PUBLIC_CHARGING",
    "success": False,
    "flow_id": "",
    "evse_id": "BCU700001",
    "result": {},
    "error": "TIMEOUT",
}

STATUS_SET_PLUG_FAILED_NO_RESULT: Frame = {
    "object": "STATUS_SET_PLUG_AND_CHARGE",
    "success": False,
    "evse_id": "BCU700001",
    "error": "REJECTED",
}

STATUS_STOP_SESSION_BARE: Frame = {
    "object": "STATUS_STOP_SESSION",
    "success": True,
    "flow_id": "",
    "error": "",
}

GRID_STATUS_OTHER_POINT: Frame = {
    "object": "GRID_STATUS",
    "data": {
        "id": "GRID-BCU700009",
        "grid_actual_p1": 11,
        "grid_actual_p2": 3,
        "grid_actual_p3": 0,
        "grid_max_install": 35,
        "grid_max_reserved": 20,
    },
}

GRID_CURRENT_FLAT: Frame = {
    "object": "GRID_CURRENT",
    "grid_actual_p1": 14,
    "grid_actual_p2": 9,
    "grid_actual_p3": 12,
}

ALL: dict[str, Frame] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, dict) and ("object" in value or "command" in value)
}
