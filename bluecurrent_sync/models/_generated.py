# Generated from schemas/models/ by codegen/ (datamodel-code-generator + attrs template).
# DO NOT EDIT: change the schema, then run `make codegen`.
"""Generated attrs models of bluecurrent_sync; import them from ``bluecurrent_sync.models``."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Any

import attrs

from bluecurrent_sync.models._base import ModelBase

__all__ = [
    "Account",
    "ActionOutcome",
    "ActionResult",
    "Activity",
    "ChSettings",
    "ChStatus",
    "ChargeCard",
    "ChargePoint",
    "ChargingProfile",
    "GridCurrent",
    "GridStatus",
    "OverrideSchedule",
    "RawEvent",
    "ServerError",
    "Setting",
    "SettingResult",
    "Tariff",
    "TokenStatus",
    "VehicleStatus",
]


@attrs.frozen(kw_only=True)
class Account(ModelBase):
    """The account behind the API token (ACCOUNT)."""

    login: str | None = None
    """Login name; the account's e-mail address."""
    email: str | None = None
    """E-mail address (older servers)."""
    full_name: str | None = None
    """Full name."""
    tel: str | None = None
    """Telephone number."""
    should_reset_password: bool | None = None
    """Whether the user should reset the password."""
    developer_mode_enabled: bool | None = None
    """Whether developer mode is enabled."""
    marketing_target: str | None = None
    """Marketing target, for example "bluecurrent"."""
    first_login_app: str | None = None
    """First app login, as sent ("DD-MON-YY")."""
    hubspot_user_identity: str | None = None
    """CRM identity."""


class ActionOutcome(str, Enum):
    """What the server said about an action: CONFIRMED (a verdict or the charge point's new state
    arrived) or ACKNOWLEDGED (only the acknowledgement arrived; the verdict did not come in
    time). See docs/PROTOCOL.md OP-3 and OP-6.
    """

    CONFIRMED = "confirmed"
    ACKNOWLEDGED = "acknowledged"


@attrs.frozen(kw_only=True)
class ActionResult(ModelBase):
    """The outcome of an action command such as START_SESSION (a refusal is raised as ActionFailed
    instead).
    """

    command: str
    """The command, without RECEIVED_/STATUS_ prefix, for example "START_SESSION"."""
    evse_id: str | None = None
    """Charge point id, when the server sends one."""
    success: bool | None = None
    """True when the server confirmed the action; None when it was only acknowledged (outcome
    ACKNOWLEDGED): accepted, but whether it took effect is not known.
    """
    error: str | None = None
    """Error text, or None."""
    outcome: ActionOutcome = ActionOutcome.CONFIRMED
    """CONFIRMED or ACKNOWLEDGED (acknowledged, verdict not received in time)."""
    detail: str | None = None
    """How the outcome was learned, e.g. "STATUS_SET_INOPERATIVE" or "CH_STATUS activity
    unavailable".
    """


class Activity(str, Enum):
    """What a charge point is doing. Compares equal to the wire string; unknown wire values become
    UNKNOWN.
    """

    AVAILABLE = "available"
    CHARGING = "charging"
    OFFLINE = "offline"
    ERROR = "error"
    UNAVAILABLE = "unavailable"
    DELAYED = "delayed"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class ChSettings(ModelBase):
    """Settings of one charge point (CH_SETTINGS, requested or pushed)."""

    evse_id: str
    """Charge point id."""
    plug_and_charge: bool | None = None
    """Whether plug and charge is on."""
    linked_charge_cards_only: bool | None = None
    """Whether only linked charge cards may charge (the inverse of public charging)."""
    public_charging: Setting | None = None
    """Public charging setting (value true: any public card may charge)."""
    led_intensity: Setting | None = None
    """LED intensity setting (integer value)."""
    led_interaction: Setting | None = None
    """LED interaction setting."""
    default_card: ChargeCard | None = None
    """Default charge card."""
    preferred_card: ChargeCard | None = None
    """Preferred charge card."""
    plug_and_charge_card: ChargeCard | None = None
    """Card used for plug and charge sessions."""
    smart_charging: bool | None = None
    """Whether smart charging is on."""
    smart_charging_dynamic: bool | None = None
    """Whether dynamic smart charging is on."""
    model_type: str | None = None
    """Hardware model."""
    is_cable: bool | None = None
    """Whether the charge point has a fixed cable."""
    chargepoint_type: str | None = None
    """Charge point type."""
    plug_and_charge_notification: bool | None = None
    """Whether a notification is sent on plug and charge."""
    delayed_charging: ChargingProfile | None = None
    """Delayed charging profile (value, permission and schedule when sent)."""
    price_based_charging: ChargingProfile | None = None
    """Price based charging profile (value, permission and schedule when sent)."""
    publish_location: Setting | None = None
    """Whether the location is published."""
    capacity_tariff: Setting | None = None
    """Capacity-tariff setting, when sent."""
    tariff: Tariff | None = None
    """The tariff."""
    chargepoint_name: str | None = None
    """The charge point's name, when sent."""
    x_coord: float | None = None
    """Latitude (from location)."""
    y_coord: float | None = None
    """Longitude (from location)."""
    street: str | None = None
    """Street."""
    housenumber: str | None = None
    """House number."""
    zipcode: str | None = None
    """Postal code."""
    city: str | None = None
    """City."""
    country: str | None = None
    """Country code."""
    unparsed: dict[str, Any] | None = None
    """Fields that arrived in a shape this version does not know, by wire name, with their raw
    values (the field itself is None); see docs/PROTOCOL.md OP-10.
    """


@attrs.frozen(kw_only=True)
class ChStatus(ModelBase):
    """Live status of one charge point (CH_STATUS, requested or pushed)."""

    evse_id: str
    """Charge point id."""
    activity: Activity
    """What the charge point is doing."""
    vehicle_status: VehicleStatus
    """State of the connected vehicle."""
    avg_voltage: float
    """Mean voltage of the non-zero phases, 1 decimal; 0 when none (computed)."""
    avg_current: float
    """Mean current of the non-zero phases, 1 decimal; 0 when none (computed)."""
    total_kw: float
    """Power: sum over phases of V x A / 1000, 2 decimals (computed)."""
    vehicle_status_raw: str | None = None
    """The raw vehicle status letter as sent by the server."""
    actual_p1: float | None = None
    """Current on phase 1 in A."""
    actual_p2: float | None = None
    """Current on phase 2 in A."""
    actual_p3: float | None = None
    """Current on phase 3 in A."""
    actual_v1: float | None = None
    """Voltage on phase 1 in V."""
    actual_v2: float | None = None
    """Voltage on phase 2 in V."""
    actual_v3: float | None = None
    """Voltage on phase 3 in V."""
    actual_kwh: float | None = None
    """Energy charged in the current transaction, in kWh."""
    max_usage: float | None = None
    """Maximum current per phase in A."""
    smartcharging_max_usage: float | None = None
    """Maximum current per phase allowed by smart charging, in A."""
    max_offline: float | None = None
    """Current in A used when the charger loses the back office."""
    offline_since: datetime | None = None
    """When the charge point went offline (aware), or None."""
    start_datetime: datetime | None = None
    """Start of the last transaction (aware), or None."""
    stop_datetime: datetime | None = None
    """End of the last transaction (aware), or None."""
    total_cost: float | None = None
    """Cost of the last transaction in EUR."""
    current_left: float | None = None
    """Current still available: the applicable maximum (smart charging or max_usage) minus
    avg_current, 1 decimal; None when that maximum is unknown (computed).
    """
    unparsed: dict[str, Any] | None = None
    """Fields that arrived in a shape this version does not know, by wire name, with their raw
    values (the field itself is None); see docs/PROTOCOL.md OP-10.
    """


@attrs.frozen(kw_only=True)
class ChargeCard(ModelBase):
    """A charge card (RFID card) of the account, or a card assigned to a charge point."""

    uid: str | None = None
    """Internal card number: the card_uid of start_session() (sent in START_SESSION's session_token
    field). "BCU-APP" means no card.
    """
    id: str | None = None
    """Printed card number, for example "NL-ABC-123456-0"."""
    name: str | None = None
    """Name the user gave the card."""
    customer_name: str | None = None
    """Name of the card's customer."""
    valid: bool | None = None
    """Whether the card is valid."""
    date_created: date | None = None
    """Date the card was created."""
    date_modified: date | None = None
    """Date the card was last modified."""
    date_became_invalid: date | None = None
    """Date the card became invalid, if it did."""


@attrs.frozen(kw_only=True)
class ChargePoint(ModelBase):
    """A charge point of the account, as listed by get_charge_points()."""

    evse_id: str
    """Charge point id, for example "BCU100186"."""
    activity: Activity
    """What the charge point is doing."""
    name: str | None = None
    """Name the user gave the charge point (often empty)."""
    model_type: str | None = None
    """Hardware model, for example "U:MOVE22"."""
    chargepoint_type: str | None = None
    """Charge point type, for example "UMOVE"."""
    is_cable: bool | None = None
    """Whether the charge point has a fixed cable."""
    smart_charging: bool | None = None
    """Whether smart charging is on."""
    smart_charging_dynamic: bool | None = None
    """Whether dynamic smart charging is on."""
    plug_and_charge: bool | None = None
    """Whether plug and charge is on."""
    linked_charge_cards_only: bool | None = None
    """Whether only linked charge cards may charge (the inverse of public charging)."""
    public_charging: Setting | None = None
    """Public charging setting (value true: any public card may charge)."""
    plug_and_charge_notification: bool | None = None
    """Whether a notification is sent on plug and charge."""
    led_interaction: Setting | None = None
    """LED interaction setting."""
    publish_location: Setting | None = None
    """Whether the location is published."""
    delayed_charging: ChargingProfile | None = None
    """Delayed charging setting."""
    price_based_charging: ChargingProfile | None = None
    """Price-based charging setting."""
    default_card: ChargeCard | None = None
    """Default charge card."""
    preferred_card: ChargeCard | None = None
    """Preferred charge card."""
    plug_and_charge_card: ChargeCard | None = None
    """Card used for plug and charge sessions."""
    tariff: Tariff | None = None
    """Configured tariff."""
    x_coord: float | None = None
    """Latitude-like x coordinate of the location."""
    y_coord: float | None = None
    """Longitude-like y coordinate of the location."""
    street: str | None = None
    """Street of the location."""
    housenumber: str | None = None
    """House number of the location."""
    zipcode: str | None = None
    """Postal code of the location."""
    city: str | None = None
    """City of the location."""
    country: str | None = None
    """Country of the location."""
    capacity_tariff: Setting | None = None
    """Capacity-tariff setting, when sent."""
    unparsed: dict[str, Any] | None = None
    """Fields that arrived in a shape this version does not know, by wire name, with their raw
    values (the field itself is None); see docs/PROTOCOL.md OP-10.
    """


@attrs.frozen(kw_only=True)
class ChargingProfile(ModelBase):
    """A smart-charging profile setting (delayed or price-based charging): on/off, permission and,
    when sent, its schedule.
    """

    value: bool | None = None
    """Whether the profile is on."""
    permission: str | None = None
    """Who may change it: "write", "read" or "none"."""
    start_time: time | None = None
    """Start of the window, when sent."""
    end_time: time | None = None
    """End of the window, when sent."""
    days: list[int] | None = None
    """Day numbers as sent (the numbering base is open, docs/PROTOCOL.md OP-9); wire key days or
    selected_days.
    """


@attrs.frozen(kw_only=True)
class GridCurrent(ModelBase):
    """Pushed grid (building) load (GRID_CURRENT)."""

    grid_avg_current: float
    """Mean of the non-zero grid phases, 1 decimal; 0 when none (computed)."""
    grid_max_current: float
    """Highest grid phase current; 0 when none (computed)."""
    evse_id: str | None = None
    """Charge point id, when the server sends one."""
    grid_actual_p1: float | None = None
    """Building load on phase 1 in A."""
    grid_actual_p2: float | None = None
    """Building load on phase 2 in A."""
    grid_actual_p3: float | None = None
    """Building load on phase 3 in A."""


@attrs.frozen(kw_only=True)
class GridStatus(ModelBase):
    """Grid (building) load at a charge point's installation (GRID_STATUS)."""

    evse_id: str
    """The charge point the grid status was requested for (the wire's id may name another charge
    point on the same grid, see docs/PROTOCOL.md OP-2).
    """
    grid_avg_current: float
    """Mean of the non-zero grid phases, 1 decimal; 0 when none (computed)."""
    grid_max_current: float
    """Highest grid phase current; 0 when none (computed)."""
    grid_actual_p1: float | None = None
    """Building load on phase 1 in A."""
    grid_actual_p2: float | None = None
    """Building load on phase 2 in A."""
    grid_actual_p3: float | None = None
    """Building load on phase 3 in A."""
    grid_max_install: float | None = None
    """Maximum current of the installation in A."""
    grid_max_reserved: float | None = None
    """Reserved maximum current in A."""
    grid_id: str | None = None
    """The grid's id as sent ("GRID-<evse_id>"), which may name another charge point of the account.
    """


@attrs.frozen(kw_only=True)
class OverrideSchedule(ModelBase):
    """An override-current schedule."""

    schedule_id: str
    """Schedule id (always a string)."""
    charge_points: list[str]
    """Charge point ids the schedule applies to."""
    start_days: list[str]
    """Days the override starts (MO TU WE TH FR SA SU)."""
    stop_days: list[str]
    """Days the override stops (MO TU WE TH FR SA SU)."""
    override_current: float | None = None
    """Override current in A."""
    start_time: time | None = None
    """Start time of day."""
    stop_time: time | None = None
    """Stop time of day."""


@attrs.frozen(kw_only=True)
class RawEvent(ModelBase):
    """A pushed frame whose object has no model."""

    object_name: str
    """The frame's object name."""
    raw: dict[str, Any]
    """The frame (secrets redacted)."""


@attrs.frozen(kw_only=True)
class ServerError(ModelBase):
    """An ERROR object from the server. Internal."""

    message: str
    """The server's message."""
    code: int | None = None
    """Numeric error code (0 unknown command, 1 invalid auth, 2 not authorized, 42 request limit).
    """


@attrs.frozen(kw_only=True)
class Setting(ModelBase):
    """A charge-point setting as the server reports it: a value and who may change it."""

    value: bool | int | None = None
    """The setting's value (a bool, or an int such as the LED intensity)."""
    permission: str | None = None
    """Who may change it: "write", "read" or "none"."""


@attrs.frozen(kw_only=True)
class SettingResult(ModelBase):
    """Result of set_plug_and_charge() / set_linked_charge_cards_only()."""

    setting: str
    """ "plug_and_charge" or "linked_charge_cards_only"."""
    success: bool
    """Whether the server applied it."""
    evse_id: str | None = None
    """Charge point id."""
    value: bool | None = None
    """The setting's new value, in the method's own sense (the requested value when the reply does
    not say; None when unknown).
    """
    error: str | None = None
    """Error text, or None."""


@attrs.frozen(kw_only=True)
class Tariff(ModelBase):
    """The tariff configured on a charge point."""

    tariff_id: str | None = None
    """Tariff id, for example "NLBCUT994"."""
    price_ex_vat: float | None = None
    """Price per kWh excluding VAT."""
    start_price_ex_vat: float | None = None
    """Start price per session excluding VAT."""
    price_in_vat: float | None = None
    """Price per kWh including VAT."""
    start_price_in_vat: float | None = None
    """Start price per session including VAT."""
    currency: str | None = None
    """Currency code, for example "EUR"."""
    vat_percentage: float | None = None
    """VAT percentage, for example 21."""
    permission: str | None = None
    """Who may change it: "write", "read" or "none"."""


@attrs.frozen(kw_only=True)
class TokenStatus(ModelBase):
    """Result of API token validation (STATUS_API_TOKEN). Internal."""

    success: bool
    """Whether the token is valid."""
    customer_id: str | None = None
    """Customer id of the account."""
    token: str | None = attrs.field(repr=False, default=None)
    """Server-issued auth token (secret; never shown in repr)."""
    error: str | None = None
    """Error text, or None."""


class VehicleStatus(str, Enum):
    """IEC 61851 vehicle state (wire letters A-F). Letters outside A-F become UNKNOWN."""

    STANDBY = "standby"
    VEHICLE_DETECTED = "vehicle_detected"
    READY = "ready"
    NO_POWER = "no_power"
    VEHICLE_ERROR = "vehicle_error"
    UNKNOWN = "unknown"
