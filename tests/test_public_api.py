"""The package's public surface: exactly what __all__ promises, importable and typed."""

from __future__ import annotations

import enum
import subprocess
import sys
import typing

import attrs

import bluecurrent_sync
from bluecurrent_sync import errors

EXPECTED = {
    "Client",
    # models
    "Account",
    "ActionOutcome",
    "ActionResult",
    "Activity",
    "ChargingProfile",
    "ChSettings",
    "ChStatus",
    "ChargeCard",
    "ChargePoint",
    "GridCurrent",
    "GridStatus",
    "OverrideSchedule",
    "RawEvent",
    "Setting",
    "SettingResult",
    "Tariff",
    "VehicleStatus",
    # errors
    "ActionFailed",
    "AlreadyConnected",
    "ApiError",
    "BlueCurrentError",
    "ClientStateError",
    "ConnectionClosedError",
    "DailyBudgetExceeded",
    "InvalidApiToken",
    "RequestLimitReached",
    "RequestTimeoutError",
    "ReplyTooLarge",
    "ResponseValidationError",
    "UsageFileError",
    # what public methods return
    "DailyUsage",
    "EventStream",
    "Mirror",
    "Observed",
    # models as data
    "HtmlTable",
    "html_table",
    "to_record",
    "to_records",
    "__version__",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(bluecurrent_sync.__all__) == EXPECTED
    assert len(bluecurrent_sync.__all__) == len(set(bluecurrent_sync.__all__))
    for name in bluecurrent_sync.__all__:
        assert hasattr(bluecurrent_sync, name), name


def test_star_import_gives_all_names() -> None:
    namespace: dict[str, object] = {}
    exec("from bluecurrent_sync import *", namespace)
    assert EXPECTED - {"__version__"} <= set(namespace)


def test_models_are_frozen_attrs_classes_and_enums_are_string_enums() -> None:
    for name in (
        "ChargePoint",
        "ChStatus",
        "ChSettings",
        "GridStatus",
        "GridCurrent",
        "ChargeCard",
        "Setting",
        "Tariff",
        "SettingResult",
        "ActionResult",
        "OverrideSchedule",
        "Account",
        "RawEvent",
    ):
        cls = getattr(bluecurrent_sync, name)
        assert attrs.has(cls), name
        assert cls.__setattr__ is not object.__setattr__, f"{name} is not frozen"
    for enum_cls in (bluecurrent_sync.Activity, bluecurrent_sync.VehicleStatus):
        assert issubclass(enum_cls, str) and issubclass(enum_cls, enum.Enum)
        assert enum_cls("unknown").value == "unknown"
    assert bluecurrent_sync.Activity.CHARGING == "charging"


def test_every_error_derives_from_the_base_and_builtins_are_honoured() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), bluecurrent_sync.BlueCurrentError), name
    assert issubclass(bluecurrent_sync.ConnectionClosedError, ConnectionError)
    assert issubclass(bluecurrent_sync.RequestTimeoutError, TimeoutError)


def test_importing_the_package_starts_no_thread_and_needs_no_simulator_extra() -> None:
    code = (
        "import sys, threading\n"
        "sys.modules['websockets'] = None  # the simulator extra is absent\n"
        "import bluecurrent_sync\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert 'asyncio' not in sys.modules, 'the client must not use asyncio'\n"
        "lazy = [m for m in ('websocket', 'ssl', 'cattrs') if m in sys.modules]\n"
        "assert not lazy, f'imported before first use: {lazy}'\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _classes_in(annotation: object) -> set[type]:
    """Every class named in a type annotation (``X | None``, ``list[X]``, ``Observed[X]``)."""
    found: set[type] = set()
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and origin is None:
        found.add(annotation)
    if origin is not None and isinstance(origin, type):
        found.add(origin)
    for arg in typing.get_args(annotation):
        found |= _classes_in(arg)
    return found


def test_public_methods_return_only_exported_types() -> None:
    """What a public Client method or property returns can be named from the package."""
    returned: set[type] = set()
    for name, member in vars(bluecurrent_sync.Client).items():
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        hints = typing.get_type_hints(function)
        returned |= _classes_in(hints.get("return"))
    ours = {cls for cls in returned if cls.__module__.startswith("bluecurrent_sync")}
    assert ours, "no return types found"
    missing = {
        cls.__qualname__ for cls in ours if getattr(bluecurrent_sync, cls.__name__, None) is not cls
    }
    assert not missing, f"returned by public methods but not exported: {sorted(missing)}"
