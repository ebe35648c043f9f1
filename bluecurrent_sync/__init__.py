"""Synchronous, typed Python SDK for the Blue Current charge-point websocket API.

Typical use:

```python
from bluecurrent_sync import Client

with Client(api_token) as client:
    for cp in client.get_charge_points():
        status = client.get_status(cp.evse_id)
        print(cp.evse_id, status.activity, status.total_kw, "kW")
```

The public surface is what ``__all__`` lists: the [`Client`][bluecurrent_sync.Client], the typed
models it returns, the errors it raises, and [`to_records()`][bluecurrent_sync.to_records] /
[`html_table()`][bluecurrent_sync.html_table] to turn models into plain records (pandas, CSV) or an
HTML table (Jupyter). The local simulator lives in `bluecurrent_sync.simulator` (the ``simulator``
extra: ``pip install '.[simulator]'`` from a clone).
"""

from __future__ import annotations

from bluecurrent_sync._dispatch import EventStream
from bluecurrent_sync._mirror import Mirror, Observed
from bluecurrent_sync._tabular import HtmlTable, html_table, to_record, to_records
from bluecurrent_sync._usage import DailyUsage
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import (
    ActionFailed,
    AlreadyConnected,
    ApiError,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    DailyBudgetExceeded,
    InvalidApiToken,
    ReplyTooLarge,
    RequestLimitReached,
    RequestTimeoutError,
    ResponseValidationError,
    UsageFileError,
)
from bluecurrent_sync.models import (
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
    Setting,
    SettingResult,
    Tariff,
    VehicleStatus,
)

__version__ = "0.1.0"

__all__ = [
    "Account",
    "ActionFailed",
    "ActionOutcome",
    "ActionResult",
    "Activity",
    "AlreadyConnected",
    "ApiError",
    "BlueCurrentError",
    "ChSettings",
    "ChStatus",
    "ChargeCard",
    "ChargePoint",
    "ChargingProfile",
    "Client",
    "ClientStateError",
    "ConnectionClosedError",
    "DailyBudgetExceeded",
    "DailyUsage",
    "EventStream",
    "GridCurrent",
    "GridStatus",
    "HtmlTable",
    "InvalidApiToken",
    "Mirror",
    "Observed",
    "OverrideSchedule",
    "RawEvent",
    "ReplyTooLarge",
    "RequestLimitReached",
    "RequestTimeoutError",
    "ResponseValidationError",
    "Setting",
    "SettingResult",
    "Tariff",
    "UsageFileError",
    "VehicleStatus",
    "__version__",
    "html_table",
    "to_record",
    "to_records",
]
