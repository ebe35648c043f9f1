"""Wire frames -> models: the one place where wire quirks become Python values.

:class:`WireConverter` turns a decoded server frame (a dict) into the public attrs
models of :mod:`bluecurrent_sync.models`, following docs/PROTOCOL.md section 4. Each
instance owns one :class:`cattrs.Converter` (never the global one) whose structure
functions are generated once, each behind a happy-path function generated from the same
hooks (``_fastpath.py``), and its own record of which charge points have smart charging on
(used for ``ChStatus.current_left``).

Every public method raises :class:`~bluecurrent_sync.errors.ResponseValidationError`
naming the offending field (a dotted path into the frame) and nothing else. Unknown
keys are ignored; missing optional keys become None.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import threading
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

from bluecurrent_sync import _values as values
from bluecurrent_sync._fastpath import happy_path, nested_branch
from bluecurrent_sync._lazy import LazyModule
from bluecurrent_sync._log import CONNECTION
from bluecurrent_sync._redact import redact_keys
from bluecurrent_sync._values import parse_timestamp
from bluecurrent_sync._wire import (
    OBJ_CH_SETTINGS,
    OBJ_CH_STATUS,
    OBJ_CHARGE_CARDS,
    OBJ_CHARGE_POINTS,
    OBJ_GRID_CURRENT,
    OBJ_GRID_STATUS,
    error_code_of,
    error_for_code,
    evse_id_of,
    object_name_of,
)
from bluecurrent_sync.errors import ApiError, BlueCurrentError, ResponseValidationError
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
    ServerError,
    Setting,
    SettingResult,
    Tariff,
    TokenStatus,
    VehicleStatus,
)

if TYPE_CHECKING:
    import cattrs
    import cattrs.errors as cattrs_errors
else:  # cattrs is imported when the first WireConverter is made, not at package import
    cattrs = LazyModule("cattrs")
    cattrs_errors = LazyModule("cattrs.errors")

__all__ = [
    "OBJECTS",
    "FrameDecoder",
    "ObjectSpec",
    "WireConverter",
    "decode_frame",
    "parse_timestamp",
    "redact",
]


logger = logging.getLogger(CONNECTION)


_T = TypeVar("_T")
_Method = TypeVar("_Method", bound=Callable[..., Any])

_REDACTED = "***"

_LOCATION_KEYS = ("x_coord", "y_coord", "street", "housenumber", "zipcode", "city", "country")
#: Boolean fields seen both plain and wrapped as ``{value, permission}`` (docs/PROTOCOL.md OP-10).
_FLAG_FIELDS = (
    "plug_and_charge_notification",
    "smart_charging",
    "smart_charging_dynamic",
    "is_cable",
)
#: Fields a model cannot do without: an unknown shape here fails the call (OP-10).
_ESSENTIAL = {
    "ChargePoint": frozenset({"evse_id", "activity"}),
    "ChSettings": frozenset({"evse_id", "plug_and_charge", "linked_charge_cards_only"}),
    "ChStatus": frozenset({"evse_id", "activity", "vehicle_status"}),
}
#: The CH_STATUS numbers its computed fields come from, with their paths, in reading order.
_CH_STATUS_KEYS = (
    *(f"actual_p{i}" for i in (1, 2, 3)),
    *(f"actual_v{i}" for i in (1, 2, 3)),
    "max_usage",
    "smartcharging_max_usage",
)
_CH_STATUS_NUMBERS = tuple((key, f"data.{key}") for key in _CH_STATUS_KEYS)
#: CH_STATUS fields computed from those numbers (``_ch_status_computed``), in its order.
_CH_STATUS_COMPUTED = ("avg_voltage", "avg_current", "total_kw", "current_left")
#: CH_STATUS fields the happy path passes to its structure function (``happy_path(given=)``).
_CH_STATUS_GIVEN = (
    "evse_id",
    "activity",
    "vehicle_status",
    "vehicle_status_raw",
    *_CH_STATUS_COMPUTED,
)
#: Nested models whose ``X | None`` hook structures a dict with cattrs' own function for X (so
#: a happy-path function may stand in front of it); ChargingProfile's reshapes the dict first.
_PLAIN_NESTED = (Setting, ChargeCard, Tariff)
_GRID_KEYS = tuple(f"grid_actual_p{i}" for i in (1, 2, 3))
#: GRID_STATUS/GRID_CURRENT fields computed from those phases (``_grid_computed``), in order.
_GRID_COMPUTED = ("grid_avg_current", "grid_max_current")
_ACTION_PREFIXES = ("RECEIVED_", "STATUS_")
_SETTING_OBJECTS = {
    "STATUS_SET_PLUG_AND_CHARGE": ("plug_and_charge", False),
    "STATUS_SET_PUBLIC_CHARGING": ("linked_charge_cards_only", True),
}


class _OffPath(Exception):
    """Internal: a frame the happy path leaves to the checked conversion."""


# --------------------------------------------------------------------------------------
# Module-level pure helpers
# --------------------------------------------------------------------------------------


class FrameDecoder:
    """``json.loads`` for server frames: NaN, Infinity and overflowing numbers become None.

    Python's json module accepts ``NaN``/``Infinity``/``-Infinity`` and turns ``1e999`` into
    ``inf``; no model may hold such a value (docs/PROTOCOL.md OP-11), so each becomes None
    ("unknown"). :attr:`nonfinite` counts them. One decoder per reader (not thread-safe);
    building it once keeps the per-frame cost near plain ``json.loads``.
    """

    def __init__(self) -> None:
        self.nonfinite = 0
        self._decoder = json.JSONDecoder(parse_constant=self._constant, parse_float=self._float)
        #: Decode one frame (raises ValueError for text that is not JSON, RecursionError for
        #: absurdly deep nesting): the JSON decoder's own method, without a call around it.
        self.decode: Callable[[str], Any] = self._decoder.decode

    def _constant(self, _name: str) -> None:
        self.nonfinite += 1

    def _float(self, literal: str) -> float | None:
        value = float(literal)
        if value - value != 0.0:  # inf (1e999); NaN literals go through _constant
            self.nonfinite += 1
            return None
        return value


def decode_frame(text: str, on_nonfinite: Callable[[], None] | None = None) -> Any:
    """Decode one frame with a fresh :class:`FrameDecoder`; ``on_nonfinite`` is called once
    when the frame held NaN, Infinity or an overflowing number.

    Raises:
        ValueError: Not JSON. RecursionError: absurdly deep nesting.
    """
    decoder = FrameDecoder()
    frame = decoder.decode(text)
    if decoder.nonfinite and on_nonfinite is not None:
        on_nonfinite()
    return frame


def redact(frame: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of ``frame`` with every ``token``/``Authorization`` value as ``***``.

    Keys are matched case-insensitively at any depth, including inside lists (the rule lives
    in ``_redact.py``).
    """
    result: dict[str, Any] = redact_keys(frame, _REDACTED)
    return result


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def _cattrs_error(exc: BaseException, base: str) -> tuple[str, str]:
    """The first failure cattrs reports in ``exc``: its dotted path (under ``base``) and why.

    cattrs' own :func:`cattrs.transform_error` walks the error group; its paths read
    ``.data.actual_p1`` / ``[0].tariff`` and become ``data.actual_p1`` / ``[0].tariff``.
    """
    reports = cattrs.transform_error(exc, path=base, format_exception=_describe_for_cattrs)
    if not reports:  # pragma: no cover - a validation error always has a leaf
        return base, _describe(exc)
    message, _, path = reports[0].rpartition(" @ ")
    return path.lstrip("."), message


def _describe_for_cattrs(exc: BaseException, _type: type | None) -> str:
    return _describe(exc)


def _converts(what: str) -> Callable[[_Method], _Method]:
    """Decorate a converting method: any failure in it becomes a ResponseValidationError.

    ``what`` names the frame in the message when the frame has no ``object``. A plain
    try/except around the call (no context manager per frame).
    """

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def converting(
            self: WireConverter, frame: Mapping[str, Any], *args: Any, **kwargs: Any
        ) -> Any:
            try:
                return method(self, frame, *args, **kwargs)
            except ResponseValidationError:
                raise
            except Exception as exc:  # defensive: nothing else may escape
                raise _failure(frame, what, exc) from exc

        return cast("_Method", converting)

    return decorate


def _failure(frame: object, what: str, exc: Exception) -> ResponseValidationError:
    """The ResponseValidationError for ``exc``, raised while converting ``frame``."""
    if isinstance(exc, values.FieldError):
        return _validation_error(frame, what, exc.path, exc.message)
    if isinstance(exc, cattrs_errors.BaseValidationError):
        path, message = _cattrs_error(exc, "")
        return _validation_error(frame, what, path or None, message)
    return _validation_error(frame, what, None, _describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, values.FieldError):
        return exc.message
    if isinstance(exc, KeyError):
        return "required field is missing"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _validation_error(
    frame: object, what: str, path: str | None, message: str
) -> ResponseValidationError:
    name = frame.get("object") if isinstance(frame, Mapping) else None
    object_name = name if isinstance(name, str) else None
    raw = redact(frame) if isinstance(frame, Mapping) else None
    where = f" field {path!r}" if path else ""
    return ResponseValidationError(
        f"invalid {object_name or what} frame:{where} {message}",
        object_name=object_name,
        field=path,
        raw=raw,
    )


# --------------------------------------------------------------------------------------
# Strict structure hooks for the cattrs converter
# --------------------------------------------------------------------------------------


def _make_converter(*, detailed: bool) -> cattrs.Converter:
    """Build a converter (two per WireConverter; hooks are registered once).

    Args:
        detailed: cattrs' detailed validation: structure functions that collect every failure
            with its path. Without it they are straight-line code that stops at the first
            failure, about twice as fast; both call the same hooks, so they accept the same
            data and build the same models.

    The lean functions are cattrs' happy path; :class:`WireConverter` puts a generated
    function in front of each (``_fastpath.happy_path``: the same hooks with their fast
    branches inlined, the lean function as its fall-back). A hand-shaped function that still
    called every hook measured only 3-6% faster; inlining the hooks' fast branches measured
    (warm, same data): ChStatus 5.2 -> 3.9 us, GridStatus 2.2 -> 1.7 us, ChargePoint
    17.8 -> 15.3 us, ChSettings 9.3 -> 8.8 us (its nested models' and the attrs ``__init__``
    calls are the rest). With CH_STATUS's own happy path (``_ch_status_happy``: no copy of the
    frame, derived fields computed once, timestamps cached) a whole CH_STATUS conversion
    went from ~13.4 to ~7 us per fresh frame, 51 Python calls to 9; GRID_STATUS with its own
    (``_grid_status_happy``) from ~6.3 to ~4.2 us.
    """
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    conv.register_structure_hook(str, values.s_str)
    conv.register_structure_hook(float, values.s_float)
    conv.register_structure_hook(int, values.s_int)
    conv.register_structure_hook(bool, values.s_bool)
    conv.register_structure_hook(bool | int | None, values.s_setting_value)
    # Direct hooks for optional scalars and nested models: cattrs' generic Optional dispatch
    # (_structure_optional) costs ~1 us per field, about half of a CH_STATUS conversion.
    conv.register_structure_hook(str | None, values.s_optional_str)
    conv.register_structure_hook(float | None, values.s_optional_float)
    conv.register_structure_hook(int | None, values.s_optional_int)
    conv.register_structure_hook(bool | None, values.s_optional_bool)
    conv.register_structure_hook(Activity, values.s_activity)
    conv.register_structure_hook(VehicleStatus, values.s_vehicle_status)
    # Optional temporal fields: "" means "not set", so the hook sees None and "" too.
    conv.register_structure_hook(_dt.datetime | None, values.s_datetime)
    conv.register_structure_hook(_dt.date | None, values.s_date)
    conv.register_structure_hook(_dt.time | None, values.s_time)

    setting_fn = conv.get_structure_hook(Setting)

    def structure_setting(value: object, cls: type) -> Setting:
        # A plain boolean is the documented (older) form of a wrapped setting.
        if isinstance(value, bool):
            return Setting(value=value, permission=None)
        setting: Setting = setting_fn(value, cls)
        return setting

    conv.register_structure_hook(Setting, structure_setting)
    profile_fn = conv.get_structure_hook(ChargingProfile)

    def structure_profile(value: object, cls: type) -> ChargingProfile:
        # Plain boolean (documented), {value} (fixtures) or {value, permission, start_time,
        # end_time, days | selected_days} (recorded fixtures).
        if isinstance(value, bool):
            return ChargingProfile(value=value)
        if type(value) is not dict and not isinstance(value, Mapping):
            raise TypeError(f"expected an object or a boolean, got {values.type_name(value)}")
        data = dict(value)
        days = data.pop("days", None)
        selected = data.pop("selected_days", None)
        data["days"] = values.day_numbers(days if days is not None else selected)
        if data.get("value") is not None:
            data["value"] = values.flag(data["value"], "value")
        profile: ChargingProfile = profile_fn(data, cls)
        return profile

    conv.register_structure_hook(ChargingProfile, structure_profile)
    for nested in (Setting, ChargeCard, Tariff, ChargingProfile):
        conv.register_structure_hook(
            nested | None, _optional(conv.get_structure_hook(nested), nested)
        )
    return conv


def _optional(hook: Callable[[Any, type], Any], cls: type) -> Callable[[Any, type], Any]:
    def structure_optional(value: object, _: type) -> Any:
        return None if value is None else hook(value, cls)

    return structure_optional


# --------------------------------------------------------------------------------------
# The converter
# --------------------------------------------------------------------------------------


class WireConverter:
    """Converts server frames into models for one client.

    It remembers, per charge point, whether smart charging is on (learned from
    :meth:`charge_points` and :meth:`ch_settings`) to compute
    ``ChStatus.current_left``. Instances are independent and thread-safe.
    """

    def __init__(self) -> None:
        self._conv = _make_converter(detailed=False)
        self._detailed_conv: cattrs.Converter | None = None  # made on the first failure
        self._detailed_lock = threading.Lock()
        self._smart_charging: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._logged_shapes: set[tuple[str, str]] = set()
        hook = self._conv.get_structure_hook
        self._branches = branches = dict(values.FAST_BRANCHES)

        def structure(cls: type[_T]) -> Callable[[Any, type], _T]:
            # The happy path's function, cattrs' lean one behind it (_fastpath.py).
            return happy_path(cls, hook, fallback=hook(cls), branches=branches)

        for nested in _PLAIN_NESTED:
            branches[hook(nested | None)] = nested_branch(nested, structure(nested))

        self._to_charge_point = structure(ChargePoint)
        self._to_charge_card = structure(ChargeCard)
        self._to_ch_status = structure(ChStatus)
        self._to_ch_settings = structure(ChSettings)
        self._to_grid_status = structure(GridStatus)
        self._to_grid_current = structure(GridCurrent)
        self._to_account = structure(Account)
        self._to_schedule = structure(OverrideSchedule)
        # CH_STATUS from the frame's own data, given what _ch_status_checked sets in its copy.
        self._happy_ch_status = happy_path(
            ChStatus, hook, branches=branches, given=_CH_STATUS_GIVEN, skipped=("unparsed",)
        )
        self._happy_grid_status = happy_path(
            GridStatus, hook, branches=branches, given=("evse_id", "grid_id", *_GRID_COMPUTED)
        )

    def _detailed(self, cls: type[_T]) -> Callable[[Any, type], _T]:
        """``cls``'s detailed structure function: the same result, and failures named."""
        with self._detailed_lock:
            if self._detailed_conv is None:
                self._detailed_conv = _make_converter(detailed=True)
            hook: Callable[[Any, type], _T] = self._detailed_conv.get_structure_hook(cls)
        return hook

    # -- smart-charging knowledge ---------------------------------------------------

    def smart_charging(self, evse_id: str) -> bool | None:
        """Return what this converter last saw of ``evse_id``'s smart charging, or None."""
        return self._smart_charging.get(evse_id)  # one dict read is atomic: no lock needed

    def _record_smart_charging(self, evse_id: str, value: bool | None) -> None:
        if value is not None:
            with self._lock:
                self._smart_charging[evse_id] = value

    # -- structuring helpers --------------------------------------------------------

    def _structure(
        self, fn: Callable[[Any, type], _T], data: Mapping[str, Any], cls: type[_T], base: str
    ) -> _T:
        """Structure ``data`` with ``fn``, prefixing error paths with ``base``."""
        try:
            return fn(data, cls)
        except Exception:  # the lean function does not say where: ask the detailed one
            return self._structure_detailed(data, cls, base)

    def _structure_detailed(self, data: Mapping[str, Any], cls: type[_T], base: str) -> _T:
        try:
            return self._detailed(cls)(data, cls)
        except cattrs_errors.BaseValidationError as exc:
            raise values.FieldError(*_cattrs_error(exc, base)) from exc
        except (TypeError, ValueError) as exc:
            raise values.FieldError(base, _describe(exc)) from exc

    def _lenient(
        self, fn: Callable[[Any, type], _T], data: dict[str, Any], cls: type[_T], base: str
    ) -> _T:
        """Structure ``data``; a non-essential field in an unknown shape becomes None.

        Its raw value goes to the model's ``unparsed`` dict and is logged once per
        (model, field) by this converter; an essential field still fails the call
        (docs/PROTOCOL.md OP-10).
        """
        data.pop("unparsed", None)
        try:
            return fn(data, cls)
        except Exception:  # the lean function does not say where: ask the detailed one
            return self._lenient_detailed(data, cls, base)

    def _lenient_detailed(self, data: dict[str, Any], cls: type[_T], base: str) -> _T:
        fn = self._detailed(cls)
        essential = _ESSENTIAL.get(cls.__name__, frozenset())
        unparsed: dict[str, Any] = {}
        for _ in range(len(data) + 1):
            try:
                result = fn(data, cls)
                break
            except cattrs_errors.BaseValidationError as exc:
                path, why = _cattrs_error(exc, "")
                top = path.split(".", 1)[0].split("[", 1)[0]
                if not top or top in essential or data.get(top) is None:
                    raise values.FieldError(_cattrs_error(exc, base)[0], why) from exc
                unparsed[top] = data[top]
                data[top] = None
                self._log_shape_once(cls.__name__, top, why)
            except (TypeError, ValueError) as exc:
                raise values.FieldError(base, _describe(exc)) from exc
        else:  # pragma: no cover - every pass clears one field
            raise values.FieldError(base, "too many invalid fields")
        if unparsed:
            result = attrs.evolve(result, unparsed=unparsed)  # type: ignore[misc]
        return result

    def _log_shape_once(self, model: str, field: str, why: str) -> None:
        with self._lock:
            if (model, field) in self._logged_shapes:
                return
            self._logged_shapes.add((model, field))
        logger.warning(
            "%s.%s arrived in a shape this version does not know (%s); it is None and its "
            "raw value is in .unparsed (please report it, see docs/PROTOCOL.md OP-10)",
            model,
            field,
            why,
        )

    @staticmethod
    def _unwrap_flags(raw: Mapping[str, Any], data: dict[str, Any], path: str) -> None:
        """Plain or wrapped booleans for the fields seen both ways (OP-10)."""
        for key in _FLAG_FIELDS:
            value = raw.get(key)
            if type(value) is bool or value is None:  # plain (an ABC check of it costs ~0.2 us)
                continue
            if (type(value) is dict or isinstance(value, Mapping)) and "value" in value:
                try:
                    data[key] = values.flag(value, values.join(path, key))
                except values.FieldError:
                    continue  # an unknown wrapped value is left as sent: the lenient pass keeps it

    @staticmethod
    def _flatten_location(raw: Mapping[str, Any], data: dict[str, Any], path: str) -> None:
        location = raw.get("location")
        if type(location) is dict or (location is not None and isinstance(location, Mapping)):
            for key in _LOCATION_KEYS:
                if data.get(key) is None and key in location:
                    data[key] = location[key]
        elif location is not None:
            values.optional_mapping(location, values.join(path, "location"))
        number = values.whole(data.get("housenumber"))
        if number is not None:
            data["housenumber"] = str(number)

    # -- charge points --------------------------------------------------------------

    @_converts(OBJ_CHARGE_POINTS)
    def charge_points(self, frame: Mapping[str, Any]) -> list[ChargePoint]:
        """Convert CHARGE_POINTS; also record each charge point's smart charging."""
        items = values.list_of(values.mapping(frame, "$").get("data"), "data")
        points = [self._charge_point(item, f"data[{i}]") for i, item in enumerate(items)]
        for point in points:
            self._record_smart_charging(point.evse_id, point.smart_charging)
        return points

    def _charge_point(self, item: object, path: str) -> ChargePoint:
        raw = values.mapping(item, path)
        data = dict(raw)
        data["activity"] = raw.get("activity")  # missing -> Activity.UNKNOWN
        data["plug_and_charge"] = values.flag(
            raw.get("plug_and_charge"), values.join(path, "plug_and_charge")
        )
        data["linked_charge_cards_only"] = self._linked_only(raw, path)
        if raw.get("plug_and_charge_card") is None:
            data["plug_and_charge_card"] = raw.get("plug_and_charge_charge_card")
        self._unwrap_flags(raw, data, path)
        self._flatten_location(raw, data, path)
        return self._lenient(self._to_charge_point, data, ChargePoint, path)

    @staticmethod
    def _linked_only(raw: Mapping[str, Any], path: str) -> bool | None:
        """``linked_charge_cards_only`` as sent, else ``not public_charging.value``."""
        if raw.get("linked_charge_cards_only") is not None:
            return values.flag(
                raw["linked_charge_cards_only"], values.join(path, "linked_charge_cards_only")
            )
        public = values.flag(raw.get("public_charging"), values.join(path, "public_charging"))
        return None if public is None else not public

    # -- charge cards ---------------------------------------------------------------

    @_converts(OBJ_CHARGE_CARDS)
    def charge_cards(self, frame: Mapping[str, Any]) -> list[ChargeCard]:
        """Convert CHARGE_CARDS (the list is under ``cards``)."""
        items = values.list_of(values.mapping(frame, "$").get("cards"), "cards")
        return [
            self._structure(
                self._to_charge_card, values.mapping(card, f"cards[{i}]"), ChargeCard, f"cards[{i}]"
            )
            for i, card in enumerate(items)
        ]

    # -- status and settings --------------------------------------------------------

    @_converts(OBJ_CH_STATUS)
    def ch_status(self, frame: Mapping[str, Any]) -> ChStatus:
        """Convert CH_STATUS, computing the averages, ``total_kw`` and ``current_left``."""
        try:
            return _ch_status_happy(self, frame)
        except Exception:  # noqa: S110 - off the happy path: the checked path decides below
            pass  # (outside the handler, so that its error carries no context of the happy path)
        return self._ch_status_checked(frame)

    def _ch_status_checked(self, frame: Mapping[str, Any]) -> ChStatus:
        raw = values.mapping(values.mapping(frame, "$").get("data"), "data")
        evse_id = values.text(frame.get("evse_id"), "evse_id") or values.text(
            raw.get("evse_id"), "data.evse_id"
        )
        if not evse_id:
            values.fail("evse_id", "missing: neither evse_id nor data.evse_id is set")
        # Read here for the computed fields; the structure function reads them again (fast).
        numbers = [values.number(raw.get(key), path) for key, path in _CH_STATUS_NUMBERS]
        letter = raw.get("vehicle_status")
        data = dict(raw)
        data["evse_id"] = evse_id
        data["activity"] = raw.get("activity")  # missing -> Activity.UNKNOWN
        data["vehicle_status"] = letter
        data["vehicle_status_raw"] = letter if isinstance(letter, str) else None
        computed = _ch_status_computed(numbers, self.smart_charging(evse_id))
        data.update(zip(_CH_STATUS_COMPUTED, computed, strict=True))
        return self._lenient(self._to_ch_status, data, ChStatus, "data")

    @_converts(OBJ_CH_SETTINGS)
    def ch_settings(self, frame: Mapping[str, Any]) -> ChSettings:
        """Convert CH_SETTINGS; also record the charge point's smart charging."""
        raw = values.mapping(values.mapping(frame, "$").get("data"), "data")
        # The same rule as the router (top level first), so a frame is never routed by
        # one id and converted with another (docs/PROTOCOL.md OP-7).
        evse_id = values.text(frame.get("evse_id"), "evse_id") or values.text(
            raw.get("evse_id"), "data.evse_id"
        )
        if not evse_id:
            values.fail("data.evse_id", "missing: neither evse_id nor data.evse_id is set")
        data = dict(raw)
        data["evse_id"] = evse_id
        data["plug_and_charge"] = values.flag(raw.get("plug_and_charge"), "data.plug_and_charge")
        data["linked_charge_cards_only"] = self._linked_only(raw, "data")
        if raw.get("plug_and_charge_card") is None:
            data["plug_and_charge_card"] = raw.get("plug_and_charge_charge_card")
        self._unwrap_flags(raw, data, "data")
        self._flatten_location(raw, data, "data")
        settings = self._lenient(self._to_ch_settings, data, ChSettings, "data")
        self._record_smart_charging(settings.evse_id, settings.smart_charging)
        return settings

    # -- grid -------------------------------------------------------------------------

    @staticmethod
    def _grid_fields(raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
        phases = [values.number(raw.get(key), where(key)) for key in _GRID_KEYS]
        return dict(zip(_GRID_COMPUTED, _grid_computed(phases), strict=True))

    @_converts(OBJ_GRID_STATUS)
    def grid_status(self, frame: Mapping[str, Any], evse_id: str | None = None) -> GridStatus:
        """Convert GRID_STATUS.

        Args:
            frame: The frame.
            evse_id: The charge point it was requested for; when None (a push) the id in
                ``data.id`` (``GRID-<evse_id>``), which may name another charge point on the
                same grid (docs/PROTOCOL.md OP-2), is used.
        """
        try:
            return _grid_status_happy(self, frame, evse_id)
        except Exception:  # noqa: S110 - off the happy path: the checked path decides below
            pass
        return self._grid_status_checked(frame, evse_id)

    def _grid_status_checked(self, frame: Mapping[str, Any], evse_id: str | None) -> GridStatus:
        raw = values.mapping(values.mapping(frame, "$").get("data"), "data")
        grid_id = raw.get("id")
        evse_id = evse_id or evse_id_of(frame)
        if not evse_id:
            values.fail("data.id", "missing: expected 'GRID-<evse_id>'")
        data = {
            **raw,
            **self._grid_fields(raw, lambda key: values.join("data", key)),
            "evse_id": evse_id,
            "grid_id": grid_id if isinstance(grid_id, str) else None,
        }
        return self._structure(self._to_grid_status, data, GridStatus, "data")

    @_converts(OBJ_GRID_CURRENT)
    def grid_current(self, frame: Mapping[str, Any]) -> GridCurrent:
        """Convert the pushed GRID_CURRENT (flat; a ``data`` dict is accepted too)."""
        raw: Mapping[str, Any] = values.mapping(frame, "$")
        nested = raw.get("data")
        inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else {}
        raw = {**raw, **inner}

        def where(key: str) -> str:  # a field read from ``data`` is named with it
            return values.join("data", key) if key in inner else key

        data = {**raw, **self._grid_fields(raw, where), "evse_id": evse_id_of(frame)}
        try:
            return self._structure(self._to_grid_current, data, GridCurrent, "")
        except values.FieldError as exc:
            top = exc.path.split(".", 1)[0].split("[", 1)[0]
            raise values.FieldError(where(top) + exc.path[len(top) :], exc.message) from exc

    # -- results ----------------------------------------------------------------------

    @_converts("setting result")
    def setting_result(
        self, frame: Mapping[str, Any], requested: bool | None = None
    ) -> SettingResult:
        """Convert STATUS_SET_PLUG_AND_CHARGE / STATUS_SET_PUBLIC_CHARGING.

        The public-charging result is reported as ``linked_charge_cards_only`` with
        the value inverted. ``result`` may be ``{}`` or absent (docs/PROTOCOL.md OP-4):
        the value is then the ``requested`` wire value.
        """
        values.mapping(frame, "$")
        name = frame.get("object")
        if name not in _SETTING_OBJECTS:
            values.fail("object", f"not a setting result: {name!r}")
        setting, invert = _SETTING_OBJECTS[name]
        result = values.optional_mapping(frame.get("result"), "result") or {}
        text = values.text(result.get("setting"), "result.setting")
        error = values.error_text(frame.get("error"), "error")
        on: bool | None = requested
        if text is not None:
            on = "true" in text.lower()
        return SettingResult(
            evse_id=evse_id_of(frame),
            setting=setting,
            value=None if on is None else ((not on) if invert else on),
            success=self._success(frame, error),
            error=error,
        )

    @staticmethod
    def _success(frame: Mapping[str, Any], error: str | None) -> bool:
        """``success`` if the frame has it, else whether ``error`` is empty."""
        success = frame.get("success")
        if success is None:
            return error is None
        if not isinstance(success, bool):
            values.fail("success", f"expected a boolean, got {values.type_name(success)}")
        return success

    @_converts("action result")
    def action_result(self, frame: Mapping[str, Any]) -> ActionResult:
        """Convert ``RECEIVED_<CMD>`` / ``STATUS_<CMD>`` / ``<CMD>`` replies."""
        values.mapping(frame, "$")
        name = values.text(frame.get("object"), "object")
        if not name:
            values.fail("object", "missing")
        command = name
        for prefix in _ACTION_PREFIXES:
            if command.startswith(prefix):
                command = command[len(prefix) :]
                break
        error = values.error_text(frame.get("error"), "error")
        return ActionResult(
            evse_id=evse_id_of(frame),
            command=command,
            success=self._success(frame, error),
            error=error,
            outcome=ActionOutcome.CONFIRMED,
            detail=name,
        )

    # -- override schedules -----------------------------------------------------------

    @_converts("LIST_OVERRIDE_CURRENT")
    def override_schedules(self, frame: Mapping[str, Any]) -> list[OverrideSchedule]:
        """Convert LIST_OVERRIDE_CURRENT (``data`` list, or the documented ``result`` list)."""
        values.mapping(frame, "$")
        key = "data" if frame.get("data") is not None else "result"
        items = values.list_of(frame.get(key), key)
        return [self._schedule(item, f"{key}[{i}]") for i, item in enumerate(items)]

    @_converts("override schedule")
    def override_schedule(self, frame: Mapping[str, Any]) -> OverrideSchedule:
        """Convert POST_SET_OVERRIDE_CURRENT / POST_EDIT_OVERRIDE_CURRENT (one schedule)."""
        values.mapping(frame, "$")
        key = "data" if frame.get("data") is not None else "result"
        return self._schedule(frame.get(key), key)

    def _schedule(self, item: object, path: str) -> OverrideSchedule:
        raw = values.mapping(item, path)
        schedule_id = raw.get("schedule_id")
        whole = values.whole(schedule_id)
        if whole is not None:
            schedule_id = whole  # 7.0 -> "7"
        if isinstance(schedule_id, bool) or not isinstance(schedule_id, str | int):
            values.fail(
                values.join(path, "schedule_id"),
                f"expected a string or integer, got {values.type_name(schedule_id)}",
            )
        points = raw.get("charge_points")
        if points is None:
            single = values.text(raw.get("chargepoint_id"), values.join(path, "chargepoint_id"))
            points = [single] if single else []
        both = raw.get("days_of_week")
        start = raw.get("override_start_days", both)
        stop = raw.get("override_end_days", raw.get("override_stop_days", both))
        data = dict(raw)
        data["schedule_id"] = str(schedule_id)
        data["charge_points"] = points
        data["start_days"] = values.days(start, values.join(path, "override_start_days"))
        data["stop_days"] = values.days(stop, values.join(path, "override_end_days"))
        return self._structure(self._to_schedule, data, OverrideSchedule, path)

    # -- account, token, error --------------------------------------------------------

    @_converts("ACCOUNT")
    def account(self, frame: Mapping[str, Any]) -> Account:
        """Convert ACCOUNT."""
        return self._structure(self._to_account, values.mapping(frame, "$"), Account, "")

    @_converts("STATUS_API_TOKEN")
    def token_status(self, frame: Mapping[str, Any]) -> TokenStatus:
        """Convert STATUS_API_TOKEN (the token stays out of repr and error messages)."""
        values.mapping(frame, "$")
        error = values.error_text(frame.get("error"), "error")
        customer = frame.get("customer_id")
        whole = values.whole(customer)
        if whole is not None:
            customer = str(whole)  # 1 and 1.0 -> "1"
        token = frame.get("token")
        if token is not None and not isinstance(token, str):
            values.fail("token", f"expected a string, got {values.type_name(token)}")
        success = frame.get("success")
        if success is None:
            success = error is None and bool(token)
        elif not isinstance(success, bool):
            values.fail("success", f"expected a boolean, got {values.type_name(success)}")
        return TokenStatus(
            success=success,
            customer_id=values.text(customer, "customer_id"),
            token=token or None,
            error=error,
        )

    @_converts("ERROR")
    def server_error(self, frame: Mapping[str, Any]) -> ServerError:
        """Convert ERROR (``error`` is the numeric code, ``message`` its text)."""
        values.mapping(frame, "$")
        code = frame.get("error")
        whole = error_code_of(code)  # "42" and 42.0 -> 42
        if code is not None and whole is None:
            values.fail("error", f"expected an integer code, got {values.type_name(code)}")
        message = values.text(frame.get("message"), "message")
        return ServerError(code=whole, message=message or "")

    def server_exception(self, frame: Mapping[str, Any]) -> BlueCurrentError:
        """The exception an ERROR frame stands for (``_wire.error_for_code``).

        A malformed ERROR frame (``"error": "Unknown command"``, an object, ``2.5``, a
        ``message`` that is not text) is still the server saying no: it becomes an
        :class:`ApiError` with ``code=None`` and the best text the frame offers, so that the
        call it answers fails at once instead of waiting out its timeout
        (docs/PROTOCOL.md 5).

        Returns:
            The mapped exception (returned, not raised).
        """
        try:
            server_error = self.server_error(frame)
        except ResponseValidationError as exc:
            return ApiError(None, _malformed_error_text(frame, exc))
        return error_for_code(server_error.code, server_error.message)

    # -- pushes -----------------------------------------------------------------------

    def event(
        self, frame: Mapping[str, Any]
    ) -> ChStatus | ChSettings | GridCurrent | GridStatus | list[ChargePoint] | RawEvent:
        """Convert a pushed frame: a model when its object has one, else a RawEvent."""
        try:
            # ``object``, else ``command`` (LIST_OVERRIDE_CURRENT's published shape, OP-8).
            name = object_name_of(values.mapping(frame, "$"))
            if not name:
                values.fail("object", "missing")
        except Exception as exc:
            raise _failure(frame, "event", exc) from exc
        spec = OBJECTS.get(name)
        if spec is not None:
            converted: ChStatus | ChSettings | GridCurrent | GridStatus | list[ChargePoint]
            converted = spec.convert(self, frame)
            return converted
        return RawEvent(object_name=name, raw=redact(frame))


def _ch_status_happy(converter: WireConverter, frame: Mapping[str, Any]) -> ChStatus:
    """``converter._ch_status_checked(frame)`` for the common frame, without copying it.

    The same reads as the checked path, each only on its happy branch, and the happy-path
    structure function (``_fastpath.happy_path``) given what the checked path sets in its copy.

    Raises:
        Exception: Off the happy path (of any kind: the caller then runs the checked path,
            which gives today's result or names the failure).
    """
    if type(frame) is not dict:
        raise _OffPath
    raw = frame.get("data")
    if type(raw) is not dict:
        raise _OffPath
    evse_id = frame.get("evse_id")  # values.text of it, or else of data.evse_id
    if type(evse_id) is not str or not evse_id:
        if evse_id is not None and type(evse_id) is not str:
            raise _OffPath
        evse_id = raw.get("evse_id")
        if type(evse_id) is not str or not evse_id:
            raise _OffPath
    numbers = _happy_numbers(raw, _CH_STATUS_KEYS)
    letter = raw.get("vehicle_status")
    return converter._happy_ch_status(
        raw,
        evse_id,
        raw.get("activity"),
        letter,
        letter if isinstance(letter, str) else None,
        *_ch_status_computed(numbers, converter._smart_charging.get(evse_id)),
    )


def _grid_status_happy(
    converter: WireConverter, frame: Mapping[str, Any], evse_id: str | None
) -> GridStatus:
    """``converter._grid_status_checked(frame, evse_id)`` for the common frame, without
    copying it (as :func:`_ch_status_happy`).

    Raises:
        Exception: Off the happy path.
    """
    if type(frame) is not dict:
        raise _OffPath
    raw = frame.get("data")
    if type(raw) is not dict:
        raise _OffPath
    evse_id = evse_id or evse_id_of(frame)
    if not evse_id:
        raise _OffPath
    grid_id = raw.get("id")
    return converter._happy_grid_status(
        raw,
        evse_id,
        grid_id if isinstance(grid_id, str) else None,
        *_grid_computed(_happy_numbers(raw, _GRID_KEYS)),
    )


def _happy_numbers(raw: dict[str, Any], keys: tuple[str, ...]) -> list[float | None]:
    """``values.number`` of each of ``keys`` in ``raw``, on its happy branches only.

    Raises:
        _OffPath: One is not a number or null.
    """
    numbers: list[float | None] = []
    for key in keys:
        number = raw.get(key)
        if type(number) is float or number is None:
            numbers.append(number)
        elif type(number) is int:
            numbers.append(float(number))
        else:
            raise _OffPath
    return numbers


def _grid_computed(phases: list[float | None]) -> tuple[float, float]:
    """``grid_avg_current`` and ``grid_max_current`` from the grid's phase currents."""
    present = [p for p in phases if p is not None]
    return values.phase_average(phases), (max(present) if present else 0.0)


def _ch_status_computed(
    numbers: list[float | None], smart: bool | None
) -> tuple[float, float, float, float | None]:
    """``avg_voltage``, ``avg_current``, ``total_kw``, ``current_left`` from the numbers."""
    p1, p2, p3, v1, v2, v3, max_usage, smart_max = numbers
    avg_current = values.phase_average([p1, p2, p3])
    limit = smart_max if smart else max_usage
    power = sum(((v1 or 0.0) * (p1 or 0.0), (v2 or 0.0) * (p2 or 0.0), (v3 or 0.0) * (p3 or 0.0)))
    return (
        values.phase_average([v1, v2, v3]),
        avg_current,
        round(power / 1000, 2),
        None if limit is None else round(limit - avg_current, 1),
    )


@attrs.frozen
class ObjectSpec:
    """What the client knows about one server object that has a model.

    Attributes:
        model: The model its frame becomes (CHARGE_POINTS: a list of them).
        convert: The :class:`WireConverter` method that makes it from its frame.
        mirrored: The live mirror keeps the newest per charge point (``Client.observed``).
    """

    model: type
    convert: Callable[[WireConverter, Mapping[str, Any]], Any]
    mirrored: bool = False

    def converter(self, converter: WireConverter) -> Callable[[Mapping[str, Any]], Any]:
        """``convert`` as ``converter`` has it, bound (a subclass's own when it overrides it)."""
        bound: Callable[[Mapping[str, Any]], Any] = getattr(converter, self.convert.__name__)
        return bound


#: THE object table: every object with a model. Subscribers get that model for its frames
#: (every other object is a RawEvent), its name is an event name, and the mirror keeps the
#: ``mirrored`` ones. Adding an object is one entry here (plus its schema, model and tests).
OBJECTS: Mapping[str, ObjectSpec] = types.MappingProxyType(
    {
        OBJ_CH_STATUS: ObjectSpec(ChStatus, WireConverter.ch_status, mirrored=True),
        OBJ_CH_SETTINGS: ObjectSpec(ChSettings, WireConverter.ch_settings, mirrored=True),
        OBJ_GRID_CURRENT: ObjectSpec(GridCurrent, WireConverter.grid_current, mirrored=True),
        OBJ_GRID_STATUS: ObjectSpec(GridStatus, WireConverter.grid_status, mirrored=True),
        OBJ_CHARGE_POINTS: ObjectSpec(ChargePoint, WireConverter.charge_points),
    }
)


def _malformed_error_text(frame: Mapping[str, Any], exc: ResponseValidationError) -> str:
    """The text of a malformed ERROR frame: its text ``error``, else its text ``message``."""
    for key in ("error", "message"):
        value = frame.get(key) if isinstance(frame, Mapping) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return f"malformed ERROR frame ({exc})"
