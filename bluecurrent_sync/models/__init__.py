"""The public models of bluecurrent_sync.

Every model is a frozen, keyword-only attrs class generated from ``schemas/models/`` (see
``codegen/README.md``); this module re-exports them and holds the hand-written parts. Values are
filled in by `bluecurrent_sync._convert`, which also computes the derived fields
(``ChStatus.avg_current``, ``GridStatus.grid_max_current``, ...).

[`Activity`][bluecurrent_sync.models.Activity] and
[`VehicleStatus`][bluecurrent_sync.models.VehicleStatus] are ``(str, Enum)`` enums (generated from
``schemas/models/activity.json`` and ``vehicle_status.json``): each member compares equal to its
wire string (``Activity.CHARGING == "charging"``) and each has an ``UNKNOWN`` member that the
converter uses for values it does not know.

Frozen models are hashable as long as their fields are; the ones holding lists or dicts
([`OverrideSchedule`][bluecurrent_sync.models.OverrideSchedule],
[`RawEvent`][bluecurrent_sync.models.RawEvent]) are not.
"""

from __future__ import annotations

from bluecurrent_sync.models._generated import (
    Account,
    ActionOutcome,
    ActionResult,
    Activity,
    ChargeCard,
    ChargePoint,
    ChargingProfile,
    ChSettings,
    ChStatus,
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
    "account_email",
]


def account_email(account: Account) -> str | None:
    """Return the account's e-mail address: ``login`` (current servers), else ``email``."""
    return account.login or account.email
