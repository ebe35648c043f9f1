"""Sample server frames: every raw example docs/PROTOCOL.md records, plus documented variants.

Each constant is a fresh-able dict (use ``copy.deepcopy`` before mutating). ``ALL``
lists every sample so schema tests can validate them all.
"""

from __future__ import annotations

from typing import Any

Frame = dict[str, Any]

# --- 1.2 token validation ---------------------------------------------------------------
TOKEN_OK: Frame = {
    "object": "STATUS_API_TOKEN",
    "success": True,
    "token": "abc",
    "customer_id": "123",
}
TOKEN_BAD: Frame = {"object": "STATUS_API_TOKEN", "success": False, "error": ""}
ERROR_LIMIT: Frame = {"object": "ERROR", "error": 42, "message": "Request limit reached"}
ERROR_FORBIDDEN: Frame = {"object": "ERROR", "error": 2, "message": "Not authorized"}

# --- 3.1 CHARGE_POINTS (wrapped settings, location, tariff, cards) ------------------------
CHARGE_POINT_ITEM: Frame = {
    "evse_id": "BCU123456",
    "name": "",
    "model_type": "U:MOVE22",
    "chargepoint_type": "UMOVE",
    "is_cable": False,
    "activity": "available",
    "smart_charging": True,
    "smart_charging_dynamic": False,
    "plug_and_charge": {"value": True, "permission": "write"},
    "public_charging": {"value": False, "permission": "write"},
    "plug_and_charge_notification": False,
    "led_interaction": {"value": True, "permission": "write"},
    "publish_location": {"value": False, "permission": "read"},
    "delayed_charging": {"value": False, "permission": "none"},
    "price_based_charging": {"value": False},
    "default_card": {
        "uid": "BCU-APP",
        "id": "BCU-APP",
        "name": "",
        "customer_name": "",
        "valid": 1,
    },
    "preferred_card": {
        "uid": "BCU-APP",
        "id": "BCU-APP",
        "name": "",
        "customer_name": "",
        "valid": 1,
    },
    "plug_and_charge_card": {
        "uid": "1234",
        "id": "NL-ABC-123456-0",
        "name": "Card",
        "customer_name": "Jan",
        "valid": 1,
    },
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
        "x_coord": 50.12,
        "y_coord": 5.01,
        "street": "Straat",
        "housenumber": "1",
        "zipcode": "1234AB",
        "city": "Amsterdam",
        "country": "NL",
    },
}
CHARGE_POINTS: Frame = {"object": "CHARGE_POINTS", "data": [CHARGE_POINT_ITEM]}

# 2022 API-docs variant: plain booleans, top-level coordinates.
CHARGE_POINTS_PLAIN: Frame = {
    "object": "CHARGE_POINTS",
    "data": [
        {
            "evse_id": "BCU100001",
            "name": "Garage",
            "activity": "charging",
            "plug_and_charge": False,
            "public_charging": False,
            "smart_charging": False,
            "x_coord": 52.1,
            "y_coord": 4.3,
        }
    ],
}
# 2025 API-docs variant: plain linked_charge_cards_only.
CHARGE_POINTS_LINKED: Frame = {
    "object": "CHARGE_POINTS",
    "data": [
        {
            "evse_id": "BCU100002",
            "activity": "delayed",
            "plug_and_charge": True,
            "linked_charge_cards_only": False,
        }
    ],
}

# --- 3.2 CH_STATUS (API-docs shape, PYBC values) ------------------------------------------
CH_STATUS: Frame = {
    "object": "CH_STATUS",
    "evse_id": "BCU102728",
    "data": {
        "evse_id": "BCU102728",
        "actual_p1": 0,
        "actual_p2": 0,
        "actual_p3": 0,
        "activity": "available",
        "actual_v1": 0,
        "actual_v2": 0,
        "actual_v3": 0,
        "actual_kwh": 0,
        "max_usage": 20,
        "smartcharging_max_usage": 6,
        "max_offline": 10,
        "offline_since": "",
        "start_datetime": "20230724 15:25:33",
        "stop_datetime": "20230726 07:48:40",
        "total_cost": 9.93,
        "vehicle_status": "A",
    },
}
CH_STATUS_CHARGING: Frame = {
    "object": "CH_STATUS",
    "evse_id": "BCU102728",
    "data": {
        "evse_id": "BCU102728",
        "actual_p1": 10,
        "actual_p2": 6,
        "actual_p3": 10,
        "actual_v1": 230,
        "actual_v2": 231,
        "actual_v3": 229,
        "actual_kwh": 4.5,
        "activity": "charging",
        "max_usage": 20,
        "smartcharging_max_usage": 6,
        "max_offline": 10,
        "offline_since": None,
        "start_datetime": "20230724 15:25:33+00:00",
        "stop_datetime": "",
        "total_cost": 0,
        "vehicle_status": "C",
    },
}

# --- 3.3 CH_SETTINGS ------------------------------------------------------------------------
CH_SETTINGS: Frame = {
    "object": "CH_SETTINGS",
    "data": {
        "evse_id": "BCU102728",
        "plug_and_charge": {"value": False, "permission": "write"},
        "public_charging": {"value": True, "permission": "write"},
        "default_card": {"uid": "BCU-APP", "id": "BCU-APP", "name": "", "valid": 1},
        "preferred_card": None,
        "plug_and_charge_card": {"uid": "BCU-APP", "id": "BCU-APP"},
        "smart_charging": True,
        "smart_charging_dynamic": False,
        "model_type": "H:MOVE-C32T2",
        "is_cable": True,
        "chargepoint_type": "HIDDEN",
        "plug_and_charge_notification": True,
        "led_intensity": {"value": 50, "permission": "write"},
        "led_interaction": {"value": False, "permission": "read"},
    },
}

# --- 3.4 / 3.5 grid -------------------------------------------------------------------------
GRID_STATUS: Frame = {
    "object": "GRID_STATUS",
    "data": {
        "id": "GRID-BCU102728",
        "grid_actual_p1": 0,
        "grid_actual_p2": 0,
        "grid_actual_p3": 0,
        "grid_max_install": 40,
        "grid_max_reserved": 25,
    },
}
GRID_CURRENT: Frame = {
    "object": "GRID_CURRENT",
    "grid_actual_p1": 12,
    "grid_actual_p2": 14,
    "grid_actual_p3": 15,
}
GRID_CURRENT_WITH_EVSE: Frame = {
    "object": "GRID_CURRENT",
    "evse_id": "BCU102728",
    "grid_actual_p1": 10,
    "grid_actual_p2": 0,
    "grid_actual_p3": 20,
}

# --- 3.6 CHARGE_CARDS ------------------------------------------------------------------------
CHARGE_CARDS: Frame = {
    "object": "CHARGE_CARDS",
    "cards": [
        {
            "uid": "1234",
            "id": "NL-ABC-123456-0",
            "name": "Work",
            "customer_name": "Jan",
            "valid": 1,
            "date_created": "2023-01-02",
            "date_modified": "2023-02-03",
            "date_became_invalid": None,
        },
        {"uid": "5678", "id": "NL-ABC-654321-0", "valid": 0, "date_became_invalid": ""},
    ],
}
CHARGE_CARDS_EMPTY: Frame = {"object": "CHARGE_CARDS", "cards": []}

# --- 3.7 setting results ----------------------------------------------------------------------
STATUS_SET_PLUG_AND_CHARGE: Frame = {
    "object": "STATUS_SET_PLUG_AND_CHARGE",
    "success": True,
    "flow_id": "",
    "evse_id": "BCU102728",
    "result": {"setting": "set true"},
    "error": "",
}
STATUS_SET_PUBLIC_CHARGING: Frame = {
    "object": "STATUS_SET_PUBLIC_CHARGING",
    "success": True,
    "flow_id": "",
    "evse_id": "BCU102728",
    "result": {"setting": "set false"},
    "error": "",
}

# --- 3.8 / 3.9 action results ---------------------------------------------------------------
STATUS_SOFT_RESET: Frame = {
    "object": "STATUS_SOFT_RESET",
    "success": True,
    "flow_id": "",
    "evse_id": "BCU102728",
    "result": {},
    "error": "",
}
STATUS_START_SESSION_REJECTED: Frame = {
    "object": "STATUS_START_SESSION",
    "success": False,
    "flow_id": "",
    "evse_id": "BCU101",
    "result": {},
    "error": "REJECTED",
}
STATUS_STOP_SESSION: Frame = {
    "object": "STATUS_STOP_SESSION",
    "success": True,
    "flow_id": "",
    "error": "",
}
RECEIVED_START_SESSION: Frame = {"object": "RECEIVED_START_SESSION", "error": ""}
RECEIVED_STOP_SESSION: Frame = {
    "object": "RECEIVED_STOP_SESSION",
    "success": False,
    "error": "no active session for chargepoint: BCU101",
}

# --- 3.11 override current -------------------------------------------------------------------
SCHEDULE: Frame = {
    "schedule_id": 7,
    "charge_points": ["BCU102728", "BCU100001"],
    "override_current": 10.5,
    "start_time": "07:30",
    "stop_time": "18:00",
    "override_start_days": "MO,TH",
    "override_end_days": "WE,FR",
}
LIST_OVERRIDE_CURRENT: Frame = {"object": "LIST_OVERRIDE_CURRENT", "data": [SCHEDULE]}
LIST_OVERRIDE_CURRENT_DOCS: Frame = {
    "command": "LIST_OVERRIDE_CURRENT",
    "object": "LIST_OVERRIDE_CURRENT",
    "success": True,
    "error": None,
    "result": [
        {
            "schedule_id": "122",
            "schedule_type": "OVERRIDE",
            "start_time": "15:00",
            "stop_time": "13:00",
            "days_of_week": "SA",
            "chargepoint_id": "BCU100266",
        }
    ],
}
POST_SET_OVERRIDE_CURRENT: Frame = {
    "object": "POST_SET_OVERRIDE_CURRENT",
    "data": {
        "schedule_id": "9",
        "charge_points": ["BCU102728"],
        "override_current": 16,
        "start_time": "22:00",
        "stop_time": "06:00",
        "override_start_days": ["MO", "TU"],
        "override_end_days": ["TU", "WE"],
    },
}
POST_EDIT_OVERRIDE_CURRENT: Frame = {
    "object": "POST_EDIT_OVERRIDE_CURRENT",
    "data": dict(SCHEDULE, schedule_id="7"),
}
POST_CLEAR_OVERRIDE_CURRENT: Frame = {
    "object": "POST_CLEAR_OVERRIDE_CURRENT",
    "success": True,
    "error": "",
}

# --- 3.12 others ------------------------------------------------------------------------------
ACCOUNT: Frame = {
    "object": "ACCOUNT",
    "full_name": "Jan Jansen",
    "email": "old@example.com",
    "login": "jan@example.com",
    "should_reset_password": False,
    "developer_mode_enabled": True,
    "tel": "+31600000000",
    "marketing_target": "bluecurrent",
    "first_login_app": "01-JAN-20",
    "hubspot_user_identity": "abc",
}
HELLO: Frame = {"object": "HELLO"}

ALL: dict[str, Frame] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, dict) and "object" in value
}
