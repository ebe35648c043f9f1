"""CHARGE_POINTS decoders on pydantic v2 and msgspec, equivalent to the SDK's models (bench only).

Both produce the same flat, typed charge point as ``bluecurrent_sync.models.ChargePoint``: the
same fields and types, ``{value, permission}`` settings as a Setting, ``location`` flattened into
the top level, ``linked_charge_cards_only = not public_charging.value``, ``plug_and_charge`` as a
plain bool, ``valid: 1`` as a bool, an Activity enum with an ``unknown`` fallback, and unknown
keys ignored. Each decodes from the JSON text (the SDK's figure includes ``json.loads``).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import msgspec
import pydantic


class Activity(str, enum.Enum):
    AVAILABLE = "available"
    CHARGING = "charging"
    OFFLINE = "offline"
    ERROR = "error"
    UNAVAILABLE = "unavailable"
    DELAYED = "delayed"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> Activity:
        return cls.UNKNOWN


_LOCATION_KEYS = ("x_coord", "y_coord", "street", "housenumber", "zipcode", "city", "country")


# -- pydantic v2 ----------------------------------------------------------------------------
class PSetting(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    value: bool | int | None = None
    permission: str | None = None


class PChargeCard(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    uid: str | None = None
    id: str | None = None
    name: str | None = None
    customer_name: str | None = None
    valid: bool | None = None
    date_created: dt.date | None = None
    date_modified: dt.date | None = None
    date_became_invalid: dt.date | None = None


class PTariff(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    tariff_id: str | None = None
    price_ex_vat: float | None = None
    start_price_ex_vat: float | None = None
    price_in_vat: float | None = None
    start_price_in_vat: float | None = None
    currency: str | None = None
    vat_percentage: float | None = None


class PChargePoint(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    evse_id: str
    activity: Activity = Activity.UNKNOWN
    name: str | None = None
    model_type: str | None = None
    chargepoint_type: str | None = None
    is_cable: bool | None = None
    smart_charging: bool | None = None
    smart_charging_dynamic: bool | None = None
    plug_and_charge: bool | None = None
    linked_charge_cards_only: bool | None = None
    public_charging: PSetting | None = None
    plug_and_charge_notification: bool | None = None
    led_interaction: PSetting | None = None
    publish_location: PSetting | None = None
    delayed_charging: PSetting | None = None
    price_based_charging: PSetting | None = None
    default_card: PChargeCard | None = None
    preferred_card: PChargeCard | None = None
    plug_and_charge_card: PChargeCard | None = None
    tariff: PTariff | None = None
    x_coord: float | None = None
    y_coord: float | None = None
    street: str | None = None
    housenumber: str | None = None
    zipcode: str | None = None
    city: str | None = None
    country: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _normalise(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = dict(raw)
        pac = data.get("plug_and_charge")
        if isinstance(pac, dict):
            data["plug_and_charge"] = pac.get("value")
        if data.get("linked_charge_cards_only") is None:
            public = data.get("public_charging")
            value = public.get("value") if isinstance(public, dict) else public
            data["linked_charge_cards_only"] = None if value is None else not value
        location = data.get("location")
        if isinstance(location, dict):
            for key in _LOCATION_KEYS:
                if data.get(key) is None and key in location:
                    data[key] = location[key]
        return data

    @pydantic.field_validator(
        "public_charging",
        "led_interaction",
        "publish_location",
        "delayed_charging",
        "price_based_charging",
        mode="before",
    )
    @classmethod
    def _wrap_bool(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, bool) else value


class PChargePoints(pydantic.BaseModel):
    object: str
    data: list[PChargePoint]


def pydantic_decode(text: str) -> list[PChargePoint]:
    """CHARGE_POINTS JSON text → pydantic models."""
    return PChargePoints.model_validate_json(text).data


# -- msgspec --------------------------------------------------------------------------------
class MSetting(msgspec.Struct, frozen=True):
    value: bool | int | None = None
    permission: str | None = None


class MChargeCard(msgspec.Struct, frozen=True):
    uid: str | None = None
    id: str | None = None
    name: str | None = None
    customer_name: str | None = None
    valid: bool | int | None = None
    date_created: dt.date | None = None
    date_modified: dt.date | None = None
    date_became_invalid: dt.date | None = None


class MTariff(msgspec.Struct, frozen=True):
    tariff_id: str | None = None
    price_ex_vat: float | None = None
    start_price_ex_vat: float | None = None
    price_in_vat: float | None = None
    start_price_in_vat: float | None = None
    currency: str | None = None
    vat_percentage: float | None = None


class MLocation(msgspec.Struct, frozen=True):
    x_coord: float | None = None
    y_coord: float | None = None
    street: str | None = None
    housenumber: str | None = None
    zipcode: str | None = None
    city: str | None = None
    country: str | None = None


class MWireChargePoint(msgspec.Struct, frozen=True):
    """The wire shape (what msgspec validates while decoding)."""

    evse_id: str
    activity: str | None = None
    name: str | None = None
    model_type: str | None = None
    chargepoint_type: str | None = None
    is_cable: bool | None = None
    smart_charging: bool | None = None
    smart_charging_dynamic: bool | None = None
    plug_and_charge: MSetting | bool | None = None
    linked_charge_cards_only: bool | None = None
    public_charging: MSetting | bool | None = None
    plug_and_charge_notification: bool | None = None
    led_interaction: MSetting | bool | None = None
    publish_location: MSetting | bool | None = None
    delayed_charging: MSetting | bool | None = None
    price_based_charging: MSetting | bool | None = None
    default_card: MChargeCard | None = None
    preferred_card: MChargeCard | None = None
    plug_and_charge_card: MChargeCard | None = None
    tariff: MTariff | None = None
    location: MLocation | None = None
    x_coord: float | None = None
    y_coord: float | None = None


class MChargePoint(msgspec.Struct, frozen=True, kw_only=True):
    """The flat public shape (same fields as the SDK's ChargePoint)."""

    evse_id: str
    activity: Activity
    name: str | None = None
    model_type: str | None = None
    chargepoint_type: str | None = None
    is_cable: bool | None = None
    smart_charging: bool | None = None
    smart_charging_dynamic: bool | None = None
    plug_and_charge: bool | None = None
    linked_charge_cards_only: bool | None = None
    public_charging: MSetting | None = None
    plug_and_charge_notification: bool | None = None
    led_interaction: MSetting | None = None
    publish_location: MSetting | None = None
    delayed_charging: MSetting | None = None
    price_based_charging: MSetting | None = None
    default_card: MChargeCard | None = None
    preferred_card: MChargeCard | None = None
    plug_and_charge_card: MChargeCard | None = None
    tariff: MTariff | None = None
    x_coord: float | None = None
    y_coord: float | None = None
    street: str | None = None
    housenumber: str | None = None
    zipcode: str | None = None
    city: str | None = None
    country: str | None = None


class MChargePoints(msgspec.Struct):
    object: str
    data: list[MWireChargePoint]


_DECODER = msgspec.json.Decoder(MChargePoints)


def _setting(value: MSetting | bool | None) -> MSetting | None:
    return MSetting(value=value) if isinstance(value, bool) else value


def _card(card: MChargeCard | None) -> MChargeCard | None:
    if card is None or card.valid is None or isinstance(card.valid, bool):
        return card
    return msgspec.structs.replace(card, valid=bool(card.valid))


def _flat(cp: MWireChargePoint) -> MChargePoint:
    public = _setting(cp.public_charging)
    pac = cp.plug_and_charge
    linked = cp.linked_charge_cards_only
    if linked is None and public is not None and public.value is not None:
        linked = not public.value
    loc = cp.location or MLocation()
    return MChargePoint(
        evse_id=cp.evse_id,
        activity=Activity(cp.activity) if cp.activity else Activity.UNKNOWN,
        name=cp.name,
        model_type=cp.model_type,
        chargepoint_type=cp.chargepoint_type,
        is_cable=cp.is_cable,
        smart_charging=cp.smart_charging,
        smart_charging_dynamic=cp.smart_charging_dynamic,
        plug_and_charge=pac.value if isinstance(pac, MSetting) else pac,  # type: ignore[arg-type]
        linked_charge_cards_only=linked,
        public_charging=public,
        plug_and_charge_notification=cp.plug_and_charge_notification,
        led_interaction=_setting(cp.led_interaction),
        publish_location=_setting(cp.publish_location),
        delayed_charging=_setting(cp.delayed_charging),
        price_based_charging=_setting(cp.price_based_charging),
        default_card=_card(cp.default_card),
        preferred_card=_card(cp.preferred_card),
        plug_and_charge_card=_card(cp.plug_and_charge_card),
        tariff=cp.tariff,
        x_coord=cp.x_coord if cp.x_coord is not None else loc.x_coord,
        y_coord=cp.y_coord if cp.y_coord is not None else loc.y_coord,
        street=loc.street,
        housenumber=loc.housenumber,
        zipcode=loc.zipcode,
        city=loc.city,
        country=loc.country,
    )


def msgspec_decode(text: str) -> list[MChargePoint]:
    """CHARGE_POINTS JSON text → msgspec Structs (decode the wire shape, then flatten)."""
    return [_flat(cp) for cp in _DECODER.decode(text).data]
