"""Validate raw server frames against the JSON Schemas in ``schemas/wire/``.

Test helper shared by the whole suite (the simulator's tests check every frame it
sends with :func:`validate_wire_frame`). The schemas are lenient: they accept every
variant docs/PROTOCOL.md records and allow unknown keys.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

__all__ = ["WIRE_DIR", "schema_for", "validate_wire_frame", "wire_registry", "wire_schema_names"]

WIRE_DIR = Path(__file__).resolve().parent.parent / "schemas" / "wire"

# Exact object name -> schema file (without .json).
_EXACT = {
    "CHARGE_POINTS": "charge_points",
    "CH_STATUS": "ch_status",
    "CH_SETTINGS": "ch_settings",
    "GRID_STATUS": "grid_status",
    "GRID_CURRENT": "grid_current",
    "CHARGE_CARDS": "charge_cards",
    "STATUS_SET_PLUG_AND_CHARGE": "setting_result",
    "STATUS_SET_PUBLIC_CHARGING": "setting_result",
    "LIST_OVERRIDE_CURRENT": "list_override_current",
    "POST_SET_OVERRIDE_CURRENT": "override_schedule_reply",
    "POST_EDIT_OVERRIDE_CURRENT": "override_schedule_reply",
    "POST_CLEAR_OVERRIDE_CURRENT": "post_clear_override_current",
    "ACCOUNT": "account",
    "STATUS_API_TOKEN": "status_api_token",
    "HELLO": "hello",
    "ERROR": "error",
}
# Families: RECEIVED_<CMD> acknowledgements and STATUS_<CMD> action results.
_FAMILIES = (
    (re.compile(r"^(RECEIVED|STATUS)_[A-Z0-9_]+$"), "action_result"),
    # Smart-charging replies named after their command (docs/PROTOCOL.md OP-6).
    (
        re.compile(
            r"^(SET_DELAYED_CHARGING|SAVE_SCHEDULE_DELAYED_CHARGING|SET_PRICE_BASED_CHARGING"
            r"|PATCH_PRICE_BASED_CHARGING_SETTINGS|OVERRIDE_CHARGING_PROFILES"
            r"|OVERRIDE_DELAYED_CHARGING_TIMEOUT)$"
        ),
        "action_result",
    ),
)


def wire_schema_names() -> list[str]:
    """Return the stems of every schema file in ``schemas/wire/``."""
    return sorted(p.stem for p in WIRE_DIR.glob("*.json"))


@functools.cache
def _load(stem: str) -> dict[str, Any]:
    with (WIRE_DIR / f"{stem}.json").open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


@functools.cache
def wire_registry() -> Registry:
    """Return a ``referencing`` registry holding every wire schema under its ``$id``."""
    resources = [
        (_load(stem)["$id"], Resource.from_contents(_load(stem))) for stem in wire_schema_names()
    ]
    return Registry().with_resources(resources)


def schema_for(object_name: str) -> str:
    """Return the schema stem for a server object name.

    Raises:
        AssertionError: the object name has no wire schema.
    """
    if object_name in _EXACT:
        return _EXACT[object_name]
    for pattern, stem in _FAMILIES:
        if pattern.match(object_name):
            return stem
    raise AssertionError(f"no wire schema for server object {object_name!r}")


@functools.cache
def _validator(stem: str) -> jsonschema.protocols.Validator:
    schema = _load(stem)
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema, registry=wire_registry())
    return validator


def validate_wire_frame(frame: Mapping[str, Any]) -> None:
    """Validate one server->client frame against the wire schema of its ``object``.

    Raises:
        jsonschema.ValidationError: the frame does not match its schema.
        AssertionError: the frame is not a JSON object, has no ``object`` name, or the
            name has no wire schema.
    """
    if not isinstance(frame, Mapping):
        raise AssertionError(f"a frame must be a JSON object, got {type(frame).__name__}")
    name = frame.get("object")
    if name is None:  # keyed "command" in one published example (docs/PROTOCOL.md OP-8)
        name = frame.get("command")
    if not isinstance(name, str):
        raise AssertionError(f"frame has no string 'object' name: {frame!r}")
    _validator(schema_for(name)).validate(dict(frame))
