"""Every shape other projects' test data shows converts (docs/PROTOCOL.md OP-10)."""

from __future__ import annotations

import copy
import datetime as dt

import frames_recorded as rec
import pytest
from wire_schemas import validate_wire_frame

from bluecurrent_sync import _protocol as proto
from bluecurrent_sync._convert import WireConverter
from bluecurrent_sync._wire import routing_evse_id
from bluecurrent_sync.models import ChargingProfile, Setting

METHOD = {
    "CHARGE_POINTS": "charge_points",
    "CH_SETTINGS": "ch_settings",
    "CH_STATUS": "ch_status",
    "RECEIVED_STOP_SESSION": "action_result",
    "STATUS_STOP_SESSION": "action_result",
    "LIST_OVERRIDE_CURRENT": "override_schedules",
    "STATUS_SET_PUBLIC_CHARGING": "setting_result",
    "STATUS_SET_PLUG_AND_CHARGE": "setting_result",
    "GRID_STATUS": "grid_status",
    "GRID_CURRENT": "grid_current",
}


@pytest.mark.parametrize("name", sorted(rec.ALL))
def test_every_recorded_shape_converts_completely(name: str) -> None:
    frame = copy.deepcopy(rec.ALL[name])
    validate_wire_frame(frame)
    object_name = proto.object_name_of(frame)
    assert object_name is not None
    result = getattr(WireConverter(), METHOD[object_name])(frame)
    for item in result if isinstance(result, list) else [result]:
        assert getattr(item, "unparsed", None) is None, item


def test_recorded_charge_points_keep_everything() -> None:
    recorded, older = WireConverter().charge_points(copy.deepcopy(rec.CHARGE_POINTS))
    assert recorded.plug_and_charge_notification is True
    assert recorded.plug_and_charge_card is not None
    assert recorded.plug_and_charge_card.uid == "0411AA22BB33CC"
    assert recorded.delayed_charging == ChargingProfile(
        value=True,
        permission="write",
        start_time=dt.time(22, 30),
        end_time=dt.time(6, 15),
        days=[1, 3, 5],
    )
    assert recorded.tariff is not None and recorded.tariff.permission == "read"
    assert recorded.housenumber == "12" and recorded.city == "Rotterdam"
    assert older.plug_and_charge_notification is False
    assert older.delayed_charging is not None and older.delayed_charging.days == [0, 6]
    assert older.price_based_charging == ChargingProfile(value=False)


def test_recorded_settings_keep_everything() -> None:
    settings = WireConverter().ch_settings(copy.deepcopy(rec.CH_SETTINGS))
    assert settings.plug_and_charge is True and settings.linked_charge_cards_only is True
    assert settings.plug_and_charge_notification is False
    assert settings.plug_and_charge_card is not None
    assert settings.price_based_charging is not None
    assert settings.price_based_charging.days == [6, 7]
    assert settings.publish_location == Setting(value=False, permission="write")
    assert settings.capacity_tariff == Setting(value=True, permission="read")
    assert settings.tariff is not None and settings.tariff.tariff_id == "NLBCUT123"
    assert (settings.city, settings.x_coord, settings.chargepoint_name) == (
        "Rotterdam",
        51.9,
        "Shed",
    )


def test_attribution_facts_of_recorded_shapes() -> None:
    assert routing_evse_id("RECEIVED_STOP_SESSION", rec.RECEIVED_STOP_NO_SESSION) == "BCU700001"
    assert routing_evse_id("GRID_STATUS", rec.GRID_STATUS_OTHER_POINT) is None
    assert proto.object_name_of(rec.LIST_OVERRIDE_KEYED_COMMAND) == "LIST_OVERRIDE_CURRENT"
    converter = WireConverter()
    failed = converter.setting_result(rec.STATUS_SET_PUBLIC_FAILED_EMPTY, requested=True)
    assert (failed.success, failed.error, failed.value) == (False, "TIMEOUT", False)
    bare = converter.setting_result(rec.STATUS_SET_PLUG_FAILED_NO_RESULT)
    assert (bare.success, bare.value) == (False, None)
