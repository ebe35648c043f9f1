"""bluecurrent_sync.models: enums, frozen keyword-only attrs classes, safe reprs."""

from __future__ import annotations

import datetime as dt
import enum

import attrs
import pytest
from frames import TOKEN_OK

from bluecurrent_sync import models
from bluecurrent_sync._convert import WireConverter
from bluecurrent_sync.models import (
    Account,
    Activity,
    ChStatus,
    GridStatus,
    OverrideSchedule,
    Setting,
    TokenStatus,
    VehicleStatus,
    account_email,
)

MODEL_CLASSES = [
    getattr(models, name)
    for name in models.__all__
    if attrs.has(getattr(models, name, None))  # type: ignore[arg-type]
]


def test_every_exported_name_exists() -> None:
    for name in models.__all__:
        assert hasattr(models, name), name
    assert len(MODEL_CLASSES) == 16


@pytest.mark.parametrize("cls", [Activity, VehicleStatus])
def test_enums_are_str_enums_with_unknown(cls: type[enum.Enum]) -> None:
    assert issubclass(cls, str)
    assert issubclass(cls, enum.Enum)
    assert cls("unknown").name == "UNKNOWN"


@pytest.mark.parametrize(
    ("member", "wire"),
    [
        (Activity.AVAILABLE, "available"),
        (Activity.CHARGING, "charging"),
        (Activity.OFFLINE, "offline"),
        (Activity.ERROR, "error"),
        (Activity.UNAVAILABLE, "unavailable"),
        (Activity.DELAYED, "delayed"),
        (Activity.UNKNOWN, "unknown"),
        (VehicleStatus.STANDBY, "standby"),
        (VehicleStatus.VEHICLE_DETECTED, "vehicle_detected"),
        (VehicleStatus.READY, "ready"),
        (VehicleStatus.NO_POWER, "no_power"),
        (VehicleStatus.VEHICLE_ERROR, "vehicle_error"),
        (VehicleStatus.UNKNOWN, "unknown"),
    ],
)
def test_enum_members_compare_equal_to_wire_strings(member: enum.Enum, wire: str) -> None:
    assert member == wire
    assert wire == member
    assert member.value == wire
    assert hash(member) == hash(wire)
    assert {wire: 1}[member] == 1  # type: ignore[index]


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_models_are_frozen_keyword_only_attrs(cls: type) -> None:
    assert attrs.has(cls)
    for field in attrs.fields(cls):
        assert field.kw_only, f"{cls.__name__}.{field.name}"
    assert cls.__doc__


def test_models_are_immutable_and_hashable() -> None:
    setting = Setting(value=True, permission="write")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setting.value = False  # type: ignore[misc]
    assert hash(setting) == hash(Setting(value=True, permission="write"))
    status = WireConverter().ch_status(
        {"object": "CH_STATUS", "evse_id": "BCU1", "data": {"start_datetime": "20230101 10:00:00"}}
    )
    assert {status: "ok"}[status] == "ok"


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        Setting(True, "write")  # type: ignore[misc]


def test_optional_fields_default_to_none() -> None:
    grid = GridStatus(evse_id="BCU1", grid_avg_current=0.0, grid_max_current=0.0)
    assert grid.grid_actual_p1 is None
    assert grid.grid_max_install is None
    assert Account().login is None


def test_readable_repr() -> None:
    schedule = OverrideSchedule(
        schedule_id="1",
        charge_points=["BCU1"],
        start_days=["MO"],
        stop_days=["TU"],
        start_time=dt.time(7, 0),
    )
    text = repr(schedule)
    assert text.startswith("OverrideSchedule(schedule_id='1'")
    assert "charge_points=['BCU1']" in text


def test_token_status_repr_hides_the_token() -> None:
    status = WireConverter().token_status(dict(TOKEN_OK, token="s3cr3t-server-token"))
    assert status.token == "s3cr3t-server-token"
    assert "s3cr3t" not in repr(status)
    assert "s3cr3t" not in str(status)
    assert "customer_id='123'" in repr(status)
    assert not attrs.fields(TokenStatus).token.repr


def test_computed_fields_are_ordinary_fields() -> None:
    names = {f.name for f in attrs.fields(ChStatus)}
    assert {"avg_voltage", "avg_current", "total_kw", "current_left"} <= names
    names = {f.name for f in attrs.fields(GridStatus)}
    assert {"grid_avg_current", "grid_max_current"} <= names


def test_account_email_prefers_login() -> None:
    assert account_email(Account(login="a@x", email="b@x")) == "a@x"
    assert account_email(Account(email="b@x")) == "b@x"
    assert account_email(Account()) is None
