"""bluecurrent_sync._convert: every docs/PROTOCOL.md example and every quirk of section 4."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import frames
import pytest

from bluecurrent_sync._convert import WireConverter, parse_timestamp, redact
from bluecurrent_sync._wire import evse_id_of
from bluecurrent_sync.errors import ResponseValidationError
from bluecurrent_sync.models import (
    Account,
    ActionResult,
    Activity,
    ChargeCard,
    ChargingProfile,
    GridCurrent,
    GridStatus,
    OverrideSchedule,
    RawEvent,
    ServerError,
    Setting,
    SettingResult,
    Tariff,
    TokenStatus,
    VehicleStatus,
)

AMS = ZoneInfo("Europe/Amsterdam")


def frame(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = copy.deepcopy(frames.ALL[name])
    return sample


@pytest.fixture
def conv() -> WireConverter:
    return WireConverter()


# --------------------------------------------------------------------------------------
# docs/PROTOCOL.md raw examples, expected values written out
# --------------------------------------------------------------------------------------


def test_charge_points_example(conv: WireConverter) -> None:
    [cp] = conv.charge_points(frame("CHARGE_POINTS"))
    assert cp.evse_id == "BCU123456"
    assert cp.name == ""
    assert cp.model_type == "U:MOVE22"
    assert cp.chargepoint_type == "UMOVE"
    assert cp.is_cable is False
    assert cp.activity is Activity.AVAILABLE
    assert cp.smart_charging is True
    assert cp.smart_charging_dynamic is False
    assert cp.plug_and_charge is True
    assert cp.public_charging == Setting(value=False, permission="write")
    assert cp.linked_charge_cards_only is True
    assert cp.plug_and_charge_notification is False
    assert cp.led_interaction == Setting(value=True, permission="write")
    assert cp.publish_location == Setting(value=False, permission="read")
    assert cp.delayed_charging == ChargingProfile(value=False, permission="none")
    assert cp.price_based_charging == ChargingProfile(value=False, permission=None)
    assert cp.default_card == ChargeCard(
        uid="BCU-APP", id="BCU-APP", name="", customer_name="", valid=True
    )
    assert cp.plug_and_charge_card is not None
    assert cp.plug_and_charge_card.id == "NL-ABC-123456-0"
    assert cp.tariff == Tariff(
        tariff_id="NLBCUT994",
        price_ex_vat=0.2397,
        start_price_ex_vat=0.0,
        price_in_vat=0.2613,
        start_price_in_vat=0.0,
        currency="EUR",
        vat_percentage=21.0,
    )
    assert (cp.x_coord, cp.y_coord) == (50.12, 5.01)
    assert (cp.street, cp.housenumber, cp.zipcode, cp.city, cp.country) == (
        "Straat",
        "1",
        "1234AB",
        "Amsterdam",
        "NL",
    )


def test_ch_status_example(conv: WireConverter) -> None:
    status = conv.ch_status(frame("CH_STATUS"))
    assert status.evse_id == "BCU102728"
    assert status.activity is Activity.AVAILABLE
    assert (status.actual_p1, status.actual_p2, status.actual_p3) == (0, 0, 0)
    assert (status.actual_v1, status.actual_v2, status.actual_v3) == (0, 0, 0)
    assert status.actual_kwh == 0
    assert status.max_usage == 20
    assert status.smartcharging_max_usage == 6
    assert status.max_offline == 10
    assert status.offline_since is None
    assert status.start_datetime == dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=AMS)
    assert status.stop_datetime == dt.datetime(2023, 7, 26, 7, 48, 40, tzinfo=AMS)
    assert status.start_datetime.utcoffset() == dt.timedelta(hours=2)  # CEST
    assert status.total_cost == 9.93
    assert status.vehicle_status is VehicleStatus.STANDBY
    assert status.vehicle_status_raw == "A"
    assert status.avg_voltage == 0
    assert status.avg_current == 0
    assert status.total_kw == 0
    assert status.current_left == 20  # smart charging not known -> max_usage - 0


def test_ch_status_charging_computed_fields(conv: WireConverter) -> None:
    status = conv.ch_status(frame("CH_STATUS_CHARGING"))
    assert status.activity is Activity.CHARGING
    assert status.vehicle_status is VehicleStatus.READY
    assert status.avg_current == 8.7  # docs/PROTOCOL.md section 4: [10, 6, 10] -> 8.7
    assert status.avg_voltage == 230.0
    assert status.total_kw == 5.98  # (230*10 + 231*6 + 229*10) / 1000 = 5.976
    assert status.current_left == pytest.approx(20 - 8.7)
    assert status.start_datetime == dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=dt.timezone.utc)
    assert status.offline_since is None
    assert status.stop_datetime is None


def test_ch_settings_example(conv: WireConverter) -> None:
    settings = conv.ch_settings(frame("CH_SETTINGS"))
    assert settings.evse_id == "BCU102728"
    assert settings.plug_and_charge is False
    assert settings.public_charging == Setting(value=True, permission="write")
    assert settings.linked_charge_cards_only is False
    assert settings.led_intensity == Setting(value=50, permission="write")
    assert settings.led_interaction == Setting(value=False, permission="read")
    assert settings.default_card == ChargeCard(uid="BCU-APP", id="BCU-APP", name="", valid=True)
    assert settings.preferred_card is None
    assert settings.plug_and_charge_card == ChargeCard(uid="BCU-APP", id="BCU-APP")
    assert settings.smart_charging is True
    assert settings.smart_charging_dynamic is False
    assert settings.model_type == "H:MOVE-C32T2"
    assert settings.is_cable is True
    assert settings.chargepoint_type == "HIDDEN"
    assert settings.plug_and_charge_notification is True


def test_grid_status_example(conv: WireConverter) -> None:
    assert conv.grid_status(frame("GRID_STATUS")) == GridStatus(
        evse_id="BCU102728",
        grid_actual_p1=0,
        grid_actual_p2=0,
        grid_actual_p3=0,
        grid_max_install=40,
        grid_max_reserved=25,
        grid_avg_current=0,
        grid_max_current=0,
        grid_id="GRID-BCU102728",
    )


def test_grid_current_example(conv: WireConverter) -> None:
    assert conv.grid_current(frame("GRID_CURRENT")) == GridCurrent(
        evse_id=None,
        grid_actual_p1=12,
        grid_actual_p2=14,
        grid_actual_p3=15,
        grid_avg_current=13.7,
        grid_max_current=15,
    )


def test_grid_current_with_evse_id(conv: WireConverter) -> None:
    grid = conv.grid_current(frame("GRID_CURRENT_WITH_EVSE"))
    assert grid.evse_id == "BCU102728"
    assert grid.grid_avg_current == 15.0  # docs/PROTOCOL.md section 4: [10, 0, 20] -> 15
    assert grid.grid_max_current == 20


def test_charge_cards_example(conv: WireConverter) -> None:
    first, second = conv.charge_cards(frame("CHARGE_CARDS"))
    assert first == ChargeCard(
        uid="1234",
        id="NL-ABC-123456-0",
        name="Work",
        customer_name="Jan",
        valid=True,
        date_created=dt.date(2023, 1, 2),
        date_modified=dt.date(2023, 2, 3),
        date_became_invalid=None,
    )
    assert second.valid is False
    assert second.date_became_invalid is None
    assert conv.charge_cards(frame("CHARGE_CARDS_EMPTY")) == []


def test_setting_result_plug_and_charge(conv: WireConverter) -> None:
    assert conv.setting_result(frame("STATUS_SET_PLUG_AND_CHARGE")) == SettingResult(
        evse_id="BCU102728", setting="plug_and_charge", value=True, success=True, error=None
    )


def test_setting_result_public_charging_is_inverted(conv: WireConverter) -> None:
    assert conv.setting_result(frame("STATUS_SET_PUBLIC_CHARGING")) == SettingResult(
        evse_id="BCU102728",
        setting="linked_charge_cards_only",
        value=True,  # wire "set false" = public charging off = linked cards only
        success=True,
        error=None,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "STATUS_SOFT_RESET",
            ActionResult(evse_id="BCU102728", command="SOFT_RESET", success=True, error=None),
        ),
        (
            "STATUS_START_SESSION_REJECTED",
            ActionResult(
                evse_id="BCU101", command="START_SESSION", success=False, error="REJECTED"
            ),
        ),
        (
            "STATUS_STOP_SESSION",
            ActionResult(evse_id=None, command="STOP_SESSION", success=True, error=None),
        ),
        (
            "RECEIVED_START_SESSION",
            ActionResult(evse_id=None, command="START_SESSION", success=True, error=None),
        ),
        (
            "RECEIVED_STOP_SESSION",
            ActionResult(
                evse_id="BCU101",  # read from the error text (docs/PROTOCOL.md OP-5)
                command="STOP_SESSION",
                success=False,
                error="no active session for chargepoint: BCU101",
            ),
        ),
        (
            "POST_CLEAR_OVERRIDE_CURRENT",
            ActionResult(
                evse_id=None, command="POST_CLEAR_OVERRIDE_CURRENT", success=True, error=None
            ),
        ),
    ],
)
def test_action_results(conv: WireConverter, name: str, expected: ActionResult) -> None:
    wire = frame(name)
    assert conv.action_result(wire) == attrs.evolve(expected, detail=wire["object"])


def test_override_schedules_code_variant(conv: WireConverter) -> None:
    assert conv.override_schedules(frame("LIST_OVERRIDE_CURRENT")) == [
        OverrideSchedule(
            schedule_id="7",
            charge_points=["BCU102728", "BCU100001"],
            override_current=10.5,
            start_time=dt.time(7, 30),
            stop_time=dt.time(18, 0),
            start_days=["MO", "TH"],
            stop_days=["WE", "FR"],
        )
    ]


def test_override_schedules_docs_variant(conv: WireConverter) -> None:
    assert conv.override_schedules(frame("LIST_OVERRIDE_CURRENT_DOCS")) == [
        OverrideSchedule(
            schedule_id="122",
            charge_points=["BCU100266"],
            override_current=None,
            start_time=dt.time(15, 0),
            stop_time=dt.time(13, 0),
            start_days=["SA"],
            stop_days=["SA"],
        )
    ]


def test_override_schedule_replies(conv: WireConverter) -> None:
    created = conv.override_schedule(frame("POST_SET_OVERRIDE_CURRENT"))
    assert created == OverrideSchedule(
        schedule_id="9",
        charge_points=["BCU102728"],
        override_current=16,
        start_time=dt.time(22, 0),
        stop_time=dt.time(6, 0),
        start_days=["MO", "TU"],
        stop_days=["TU", "WE"],
    )
    edited = conv.override_schedule(frame("POST_EDIT_OVERRIDE_CURRENT"))
    assert edited.schedule_id == "7"
    assert edited.start_days == ["MO", "TH"]


def test_account_example(conv: WireConverter) -> None:
    assert conv.account(frame("ACCOUNT")) == Account(
        login="jan@example.com",
        email="old@example.com",
        full_name="Jan Jansen",
        tel="+31600000000",
        should_reset_password=False,
        developer_mode_enabled=True,
        marketing_target="bluecurrent",
        first_login_app="01-JAN-20",
        hubspot_user_identity="abc",
    )


def test_token_status_examples(conv: WireConverter) -> None:
    assert conv.token_status(frame("TOKEN_OK")) == TokenStatus(
        success=True, customer_id="123", token="abc", error=None
    )
    assert conv.token_status(frame("TOKEN_BAD")) == TokenStatus(
        success=False, customer_id=None, token=None, error=None
    )


def test_server_error_examples(conv: WireConverter) -> None:
    assert conv.server_error(frame("ERROR_LIMIT")) == ServerError(
        code=42, message="Request limit reached"
    )
    assert conv.server_error(frame("ERROR_FORBIDDEN")) == ServerError(
        code=2, message="Not authorized"
    )


# --------------------------------------------------------------------------------------
# One test per quirk (docs/PROTOCOL.md section 4)
# --------------------------------------------------------------------------------------


def test_plain_boolean_settings_and_top_level_coordinates(conv: WireConverter) -> None:
    [cp] = conv.charge_points(frame("CHARGE_POINTS_PLAIN"))
    assert cp.plug_and_charge is False
    assert cp.public_charging == Setting(value=False, permission=None)
    assert cp.linked_charge_cards_only is True
    assert (cp.x_coord, cp.y_coord) == (52.1, 4.3)
    assert cp.activity is Activity.CHARGING


def test_plain_linked_charge_cards_only(conv: WireConverter) -> None:
    [cp] = conv.charge_points(frame("CHARGE_POINTS_LINKED"))
    assert cp.linked_charge_cards_only is False
    assert cp.public_charging is None
    assert cp.plug_and_charge is True
    assert cp.activity is Activity.DELAYED


def test_wrapped_linked_charge_cards_only_wins_over_public_charging(conv: WireConverter) -> None:
    f = frame("CH_SETTINGS")
    f["data"]["linked_charge_cards_only"] = {"value": True, "permission": "write"}
    assert conv.ch_settings(f).linked_charge_cards_only is True


def test_missing_public_charging_leaves_linked_only_none(conv: WireConverter) -> None:
    f = frame("CH_SETTINGS")
    del f["data"]["public_charging"]
    settings = conv.ch_settings(f)
    assert settings.linked_charge_cards_only is None
    assert settings.public_charging is None


def test_location_does_not_override_top_level_coordinates(conv: WireConverter) -> None:
    f = frame("CHARGE_POINTS")
    f["data"][0]["x_coord"] = 1.5
    [cp] = conv.charge_points(f)
    assert (cp.x_coord, cp.y_coord) == (1.5, 5.01)


def test_plug_and_charge_card_alias(conv: WireConverter) -> None:
    f = frame("CH_SETTINGS")
    f["data"]["plug_and_charge_charge_card"] = f["data"].pop("plug_and_charge_card")
    assert conv.ch_settings(f).plug_and_charge_card == ChargeCard(uid="BCU-APP", id="BCU-APP")


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("", None),
        (None, None),
        ("20211118 14:12:23", dt.datetime(2021, 11, 18, 14, 12, 23, tzinfo=AMS)),
        (
            "20010101 00:00:00+00:00",
            dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc),
        ),
        (
            "20230724 15:25:33-05:00",
            dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        ),
        (
            "20230724 15:25:33+0530",
            dt.datetime(
                2023, 7, 24, 15, 25, 33, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
            ),
        ),
        ("2023-07-24T15:25:33", dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=AMS)),
        ("2023-07-24 15:25", dt.datetime(2023, 7, 24, 15, 25, tzinfo=AMS)),
        (
            "2023-07-24T15:25:33.5-0130",
            dt.datetime(
                2023,
                7,
                24,
                15,
                25,
                33,
                500000,
                tzinfo=dt.timezone(-dt.timedelta(hours=1, minutes=30)),
            ),
        ),
        ("2023-07-24T15:25:33Z", dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=dt.timezone.utc)),
        (
            "2023-07-24T15:25:33+02:00",
            dt.datetime(2023, 7, 24, 15, 25, 33, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
    ],
)
def test_timestamps(conv: WireConverter, wire: str | None, expected: dt.datetime | None) -> None:
    f = frame("CH_STATUS")
    f["data"]["start_datetime"] = wire
    got = conv.ch_status(f).start_datetime
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None
        assert got.utcoffset() == expected.utcoffset()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad", ["2023-13-01T00:00:00", "20231301 00:00:00", "20230101 00:00:00+25:00", "yesterday", 5]
)
def test_parse_timestamp_rejects_garbage(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_timestamp(bad)


def test_naive_timestamps_are_amsterdam_in_winter_too() -> None:
    stamp = parse_timestamp("20240115 12:00:00")
    assert stamp is not None
    assert stamp.utcoffset() == dt.timedelta(hours=1)


def test_bad_timestamp_becomes_none_and_is_kept(conv: WireConverter) -> None:
    f = frame("CH_STATUS")
    f["data"]["stop_datetime"] = "18-11-2021 14:12"
    status = conv.ch_status(f)
    assert status.stop_datetime is None
    assert status.unparsed == {"stop_datetime": "18-11-2021 14:12"}
    f["data"]["activity"] = 7  # essential: still fails the call
    with pytest.raises(ResponseValidationError) as info:
        conv.ch_status(f)
    assert info.value.field == "data.activity"


@pytest.mark.parametrize(
    ("letter", "expected"),
    [
        ("A", VehicleStatus.STANDBY),
        ("B", VehicleStatus.VEHICLE_DETECTED),
        ("C", VehicleStatus.READY),
        ("D", VehicleStatus.READY),
        ("E", VehicleStatus.NO_POWER),
        ("F", VehicleStatus.VEHICLE_ERROR),
        ("G", VehicleStatus.UNKNOWN),
        ("", VehicleStatus.UNKNOWN),
        (None, VehicleStatus.UNKNOWN),
    ],
)
def test_vehicle_status_letters(
    conv: WireConverter, letter: str | None, expected: VehicleStatus
) -> None:
    f = frame("CH_STATUS")
    f["data"]["vehicle_status"] = letter
    status = conv.ch_status(f)
    assert status.vehicle_status is expected
    assert status.vehicle_status_raw == letter


def test_unknown_activity(conv: WireConverter) -> None:
    f = frame("CH_STATUS")
    f["data"]["activity"] = "teleporting"
    assert conv.ch_status(f).activity is Activity.UNKNOWN
    del f["data"]["activity"]
    assert conv.ch_status(f).activity is Activity.UNKNOWN


def test_unknown_keys_are_ignored(conv: WireConverter) -> None:
    f = frame("CH_STATUS")
    f["surprise"] = 1
    f["data"]["new_field"] = {"nested": [1]}
    assert conv.ch_status(f) == conv.ch_status(frame("CH_STATUS"))


def test_missing_optional_fields_are_none(conv: WireConverter) -> None:
    status = conv.ch_status({"object": "CH_STATUS", "evse_id": "BCU1", "data": {}})
    assert status.evse_id == "BCU1"
    assert status.actual_p1 is None
    assert status.max_usage is None
    assert status.start_datetime is None
    assert status.vehicle_status is VehicleStatus.UNKNOWN
    assert status.vehicle_status_raw is None
    assert (status.avg_current, status.avg_voltage, status.total_kw) == (0, 0, 0)
    assert status.current_left is None


def test_evse_id_from_data_when_top_level_missing(conv: WireConverter) -> None:
    f = frame("CH_STATUS")
    del f["evse_id"]
    assert conv.ch_status(f).evse_id == "BCU102728"


@pytest.mark.parametrize(
    ("phases", "expected"),
    [([10, 6, 10], 8.7), ([10, 0, 20], 15.0), ([0, 0, 0], 0.0), ([None, 16, None], 16.0)],
)
def test_phase_averages(conv: WireConverter, phases: list[float | None], expected: float) -> None:
    f = frame("CH_STATUS")
    for i, value in enumerate(phases, start=1):
        f["data"][f"actual_p{i}"] = value
        f["data"][f"actual_v{i}"] = value
    status = conv.ch_status(f)
    assert status.avg_current == expected
    assert status.avg_voltage == expected


def test_total_kw_is_per_phase_power(conv: WireConverter) -> None:
    f = frame("CH_STATUS")
    f["data"].update(actual_p1=16, actual_p2=0, actual_p3=0, actual_v1=230, actual_v2=0)
    assert conv.ch_status(f).total_kw == 3.68  # single phase: 230 V x 16 A
    f["data"].update(actual_p1=8, actual_p2=8, actual_p3=8, actual_v1=220, actual_v2=220)
    f["data"]["actual_v3"] = 220
    assert conv.ch_status(f).total_kw == 5.28  # 3 x 220 V x 8 A


def test_current_left_uses_smart_charging_recorded_by_this_converter(
    conv: WireConverter,
) -> None:
    status_frame = frame("CH_STATUS_CHARGING")  # avg_current 8.7, max 20, smart max 6
    assert conv.ch_status(status_frame).current_left == pytest.approx(20 - 8.7)

    cps = frame("CHARGE_POINTS")
    cps["data"][0]["evse_id"] = "BCU102728"  # smart_charging: true
    conv.charge_points(cps)
    assert conv.smart_charging("BCU102728") is True
    assert conv.ch_status(status_frame).current_left == pytest.approx(6 - 8.7)

    other = WireConverter()  # knowledge is per converter, never global
    assert other.ch_status(status_frame).current_left == pytest.approx(20 - 8.7)

    settings = frame("CH_SETTINGS")
    settings["data"]["smart_charging"] = False
    conv.ch_settings(settings)
    assert conv.ch_status(status_frame).current_left == pytest.approx(20 - 8.7)


def test_ch_settings_records_smart_charging(conv: WireConverter) -> None:
    conv.ch_settings(frame("CH_SETTINGS"))  # smart_charging: true
    assert conv.ch_status(frame("CH_STATUS_CHARGING")).current_left == pytest.approx(6 - 8.7)


def test_grid_status_evse_id_from_data_id(conv: WireConverter) -> None:
    f = frame("GRID_STATUS")
    f["data"].update(grid_actual_p1=10, grid_actual_p2=6, grid_actual_p3=10)
    grid = conv.grid_status(f)
    assert grid.evse_id == "BCU102728"
    assert (grid.grid_avg_current, grid.grid_max_current) == (8.7, 10)


def test_grid_current_accepts_the_data_variant(conv: WireConverter) -> None:
    f = {"object": "GRID_CURRENT", "data": {"grid_actual_p1": 3, "grid_actual_p2": 0}}
    grid = conv.grid_current(f)
    assert (grid.grid_avg_current, grid.grid_max_current, grid.grid_actual_p3) == (3, 3, None)


@pytest.mark.parametrize(
    ("text", "plug", "linked"),
    [
        ("set true", True, False),
        ("set false", False, True),
        ("TRUE", True, False),
        ("", False, True),
    ],
)
def test_setting_result_text(conv: WireConverter, text: str, plug: bool, linked: bool) -> None:
    f = frame("STATUS_SET_PLUG_AND_CHARGE")
    f["result"]["setting"] = text
    assert conv.setting_result(f).value is plug
    g = frame("STATUS_SET_PUBLIC_CHARGING")
    g["result"]["setting"] = text
    assert conv.setting_result(g).value is linked


def test_setting_result_failure(conv: WireConverter) -> None:
    f = frame("STATUS_SET_PLUG_AND_CHARGE")
    f.update(success=False, error="TIMEOUT")
    result = conv.setting_result(f)
    assert (result.success, result.error) == (False, "TIMEOUT")


def test_action_success_defaults_to_empty_error(conv: WireConverter) -> None:
    result = conv.action_result({"object": "RECEIVED_SOFT_RESET", "error": "busy"})
    assert (result.command, result.success, result.error) == ("SOFT_RESET", False, "busy")
    bare = conv.action_result({"object": "SET_DELAYED_CHARGING"})
    assert (bare.command, bare.success, bare.error) == ("SET_DELAYED_CHARGING", True, None)


@pytest.mark.parametrize(
    ("days", "expected"),
    [("MO,TH", ["MO", "TH"]), ("MO, TU ,", ["MO", "TU"]), (["SA", "SU"], ["SA", "SU"]),
     ("", []), (None, [])],
)  # fmt: skip
def test_override_days(conv: WireConverter, days: object, expected: list[str]) -> None:
    f = frame("LIST_OVERRIDE_CURRENT")
    f["data"][0]["override_start_days"] = days
    assert conv.override_schedules(f)[0].start_days == expected


@pytest.mark.parametrize("schedule_id", [7, "7"])
def test_schedule_id_is_a_string(conv: WireConverter, schedule_id: object) -> None:
    f = frame("LIST_OVERRIDE_CURRENT")
    f["data"][0]["schedule_id"] = schedule_id
    assert conv.override_schedules(f)[0].schedule_id == "7"


def test_bad_schedule_time_names_the_field(conv: WireConverter) -> None:
    f = frame("LIST_OVERRIDE_CURRENT")
    f["data"][0]["stop_time"] = "25:99"
    with pytest.raises(ResponseValidationError) as info:
        conv.override_schedules(f)
    assert info.value.field == "data[0].stop_time"


def test_customer_id_int_and_missing_success(conv: WireConverter) -> None:
    status = conv.token_status({"object": "STATUS_API_TOKEN", "token": "t", "customer_id": 5})
    assert (status.success, status.customer_id, status.token) == (True, "5", "t")


def test_event_dispatch(conv: WireConverter) -> None:
    assert conv.event(frame("CH_STATUS")) == conv.ch_status(frame("CH_STATUS"))
    assert conv.event(frame("GRID_CURRENT")) == conv.grid_current(frame("GRID_CURRENT"))
    assert conv.event(frame("CH_SETTINGS")) == conv.ch_settings(frame("CH_SETTINGS"))
    assert conv.event(frame("GRID_STATUS")) == conv.grid_status(frame("GRID_STATUS"))
    assert conv.event(frame("CHARGE_POINTS")) == conv.charge_points(frame("CHARGE_POINTS"))
    raw = conv.event({"object": "SUSTAINABILITY_STATUS", "trees": 3, "token": "secret"})
    assert raw == RawEvent(
        object_name="SUSTAINABILITY_STATUS",
        raw={"object": "SUSTAINABILITY_STATUS", "trees": 3, "token": "***"},
    )


# --------------------------------------------------------------------------------------
# evse_id_of, redact, errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        ({"evse_id": "A", "data": {"evse_id": "B"}}, "A"),
        ({"data": {"evse_id": "B", "id": "GRID-C"}}, "B"),
        ({"data": {"id": "GRID-C"}}, "C"),
        ({"object": "GRID_CURRENT"}, None),
        ({"evse_id": "", "data": []}, None),
        ({"evse_id": 5, "data": {"evse_id": None}}, None),
    ],
)
def test_evse_id_of(f: dict[str, Any], expected: str | None) -> None:
    assert evse_id_of(f) == expected


def test_redact_any_depth_without_mutating() -> None:
    original = {
        "command": "HELLO",
        "Authorization": "Token secret",
        "token": "abc",
        "data": {"nested": [{"token": "x", "keep": 1}], "authorization": "y"},
    }
    snapshot = copy.deepcopy(original)
    assert redact(original) == {
        "command": "HELLO",
        "Authorization": "***",
        "token": "***",
        "data": {"nested": [{"token": "***", "keep": 1}], "authorization": "***"},
    }
    assert original == snapshot


def _cs(data: object) -> dict[str, Any]:
    return {"object": "CH_STATUS", "evse_id": "B", "data": data}


def _cp(item: dict[str, Any]) -> dict[str, Any]:
    return {"object": "CHARGE_POINTS", "data": [item]}


@pytest.mark.parametrize(
    ("method", "f", "field"),
    [
        ("ch_status", _cs({"actual_p2": "x"}), "data.actual_p2"),
        ("ch_status", {"object": "CH_STATUS", "data": {}}, "evse_id"),
        ("ch_status", {"object": "CH_STATUS", "evse_id": "B"}, "data"),
        ("ch_status", _cs({"max_usage": True}), "data.max_usage"),
        ("charge_points", _cp({"activity": "x"}), "data[0].evse_id"),
        ("charge_points", _cp({"evse_id": "a", "activity": 5}), "data[0].activity"),
        (
            "charge_points",
            _cp({"evse_id": "a", "public_charging": {"value": "yes"}}),
            "data[0].public_charging.value",
        ),
        (
            "charge_cards",
            {"object": "CHARGE_CARDS", "cards": [{}, {"date_created": "nope"}]},
            "cards[1].date_created",
        ),
        ("grid_status", {"object": "GRID_STATUS", "data": {"grid_max_install": 1}}, "data.id"),
        ("setting_result", {"object": "STATUS_SET_PLUG_AND_CHARGE", "result": 5}, "result"),
        ("action_result", {"object": "STATUS_REBOOT", "success": "yes"}, "success"),
        (
            "override_schedules",
            {"object": "LIST_OVERRIDE_CURRENT", "data": [{"schedule_id": None}]},
            "data[0].schedule_id",
        ),
        ("account", {"object": "ACCOUNT", "login": ["x"]}, "login"),
        ("server_error", {"object": "ERROR", "error": "boom"}, "error"),
    ],
)
def test_errors_name_the_field(
    conv: WireConverter, method: str, f: dict[str, Any], field: str
) -> None:
    with pytest.raises(ResponseValidationError) as info:
        getattr(conv, method)(f)
    assert info.value.field == field
    assert info.value.raw == f
    assert field in str(info.value)


def test_error_raw_is_redacted(conv: WireConverter) -> None:
    f = {"object": "STATUS_API_TOKEN", "token": 5, "success": True, "Authorization": "Token s"}
    with pytest.raises(ResponseValidationError) as info:
        conv.token_status(f)
    assert info.value.raw == {
        "object": "STATUS_API_TOKEN",
        "token": "***",
        "success": True,
        "Authorization": "***",
    }
    assert "Token s" not in str(info.value)


@pytest.mark.parametrize("not_a_frame", [None, [], "CH_STATUS", 5])
def test_non_mapping_frames(conv: WireConverter, not_a_frame: Any) -> None:
    with pytest.raises(ResponseValidationError) as info:
        conv.ch_status(not_a_frame)
    assert info.value.raw is None


def test_converter_is_reused_not_rebuilt(conv: WireConverter) -> None:
    first = conv._conv
    for _ in range(3):
        conv.ch_status(frame("CH_STATUS"))
    assert conv._conv is first
    assert WireConverter()._conv is not first


# --------------------------------------------------------------------------------------
# Whole-number floats: JSON Schema counts 1.0 as an integer, so the converter does too
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "expected"), [(1.0, 1), (42.0, 42), (-3.0, -3), (0.0, 0)])
def test_server_error_code_accepts_whole_floats(
    conv: WireConverter, code: float, expected: int
) -> None:
    error = conv.server_error({"object": "ERROR", "error": code, "message": "m"})
    assert error == ServerError(code=expected, message="m")
    assert type(error.code) is int


@pytest.mark.parametrize("code", [1.5, float("inf"), float("nan"), True])
def test_server_error_code_rejects_other_numbers(conv: WireConverter, code: object) -> None:
    with pytest.raises(ResponseValidationError) as info:
        conv.server_error({"object": "ERROR", "error": code})
    assert info.value.field == "error"


@pytest.mark.parametrize(("customer", "expected"), [(1.0, "1"), (1, "1"), (120.0, "120")])
def test_token_status_customer_id_whole_float_becomes_digits(
    conv: WireConverter, customer: float, expected: str
) -> None:
    status = conv.token_status({"object": "STATUS_API_TOKEN", "customer_id": customer})
    assert status.customer_id == expected


def test_token_status_customer_id_fraction_is_rejected(conv: WireConverter) -> None:
    with pytest.raises(ResponseValidationError) as info:
        conv.token_status({"object": "STATUS_API_TOKEN", "customer_id": 1.5})
    assert info.value.field == "customer_id"


@pytest.mark.parametrize(("valid", "expected"), [(1.0, True), (0.0, False), (1, True)])
def test_card_valid_accepts_whole_float_zero_and_one(
    conv: WireConverter, valid: float, expected: bool
) -> None:
    (card,) = conv.charge_cards({"object": "CHARGE_CARDS", "cards": [{"valid": valid}]})
    assert card.valid is expected


@pytest.mark.parametrize("valid", [2.0, 0.5, -1.0, 2])
def test_card_valid_rejects_other_numbers(conv: WireConverter, valid: float) -> None:
    with pytest.raises(ResponseValidationError) as info:
        conv.charge_cards({"object": "CHARGE_CARDS", "cards": [{"valid": valid}]})
    assert info.value.field == "cards[0].valid"


def test_settings_accept_whole_floats(conv: WireConverter) -> None:
    settings = conv.ch_settings(
        {
            "object": "CH_SETTINGS",
            "data": {
                "evse_id": "B",
                "plug_and_charge": {"value": 1.0},
                "public_charging": {"value": 0.0, "permission": "write"},
                "led_intensity": {"value": 60.0},
            },
        }
    )
    assert settings.plug_and_charge is True
    assert settings.linked_charge_cards_only is True  # inverted public_charging
    assert settings.public_charging == Setting(value=0, permission="write")
    assert settings.led_intensity == Setting(value=60)
    assert type(settings.led_intensity.value) is int


@pytest.mark.parametrize("value", [2, 2.0, 0.5])
def test_boolean_settings_reject_other_numbers(conv: WireConverter, value: float) -> None:
    with pytest.raises(ResponseValidationError) as info:
        conv.ch_settings(
            {"object": "CH_SETTINGS", "data": {"evse_id": "B", "plug_and_charge": {"value": value}}}
        )
    assert info.value.field == "data.plug_and_charge.value"


def test_led_intensity_fraction_is_kept_unparsed(conv: WireConverter) -> None:
    # Not essential to get_settings(): None, raw value kept (docs/PROTOCOL.md OP-10).
    settings = conv.ch_settings(
        {"object": "CH_SETTINGS", "data": {"evse_id": "B", "led_intensity": {"value": 6.5}}}
    )
    assert settings.led_intensity is None
    assert settings.unparsed == {"led_intensity": {"value": 6.5}}


def test_housenumber_and_schedule_id_whole_floats_become_digits(conv: WireConverter) -> None:
    (point,) = conv.charge_points(
        {"object": "CHARGE_POINTS", "data": [{"evse_id": "B", "location": {"housenumber": 7.0}}]}
    )
    assert point.housenumber == "7"
    schedule = conv.override_schedule(
        {"object": "POST_SET_OVERRIDE_CURRENT", "data": {"schedule_id": 12.0}}
    )
    assert schedule.schedule_id == "12"


def test_event_object_name_round_trips_every_pushed_model() -> None:
    from bluecurrent_sync._events import event_object_name

    conv = WireConverter()
    pushes = [
        {"object": "CH_STATUS", "evse_id": "BCU1", "data": {"evse_id": "BCU1"}},
        {"object": "CH_SETTINGS", "data": {"evse_id": "BCU1"}},
        {"object": "GRID_CURRENT", "evse_id": "BCU1", "grid_actual_p1": 3},
        {"object": "GRID_STATUS", "data": {"id": "GRID-BCU1", "grid_actual_p1": 3}},
        {"object": "CHARGE_POINTS", "data": [{"evse_id": "BCU1"}]},
        {"object": "SOMETHING_NEW", "value": 1},
    ]
    for frame in pushes:
        assert event_object_name(conv.event(frame)) == frame["object"]


@pytest.mark.parametrize(
    ("frame_", "field"),
    [
        # A bad phase inside ``data`` is named with its dotted path.
        ({"object": "GRID_CURRENT", "data": {"grid_actual_p1": "x"}}, "data.grid_actual_p1"),
        ({"object": "GRID_CURRENT", "data": {"grid_actual_p3": [1]}}, "data.grid_actual_p3"),
        # The flat shape names the field at the top level.
        ({"object": "GRID_CURRENT", "grid_actual_p2": "x"}, "grid_actual_p2"),
        # A top-level field beside a ``data`` dict that does not hold it stays top-level.
        ({"object": "GRID_CURRENT", "grid_actual_p1": "x", "data": {}}, "grid_actual_p1"),
    ],
)
def test_grid_current_error_names_the_dotted_path(
    conv: WireConverter, frame_: dict[str, Any], field: str
) -> None:
    with pytest.raises(ResponseValidationError) as info:
        conv.grid_current(frame_)
    assert info.value.field == field
    assert field in str(info.value)
