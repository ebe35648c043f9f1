"""Validate raw server frames against the JSON Schemas in ``schemas/wire/``.

Test helper shared by the whole suite (the simulator's tests check every frame it
sends with :func:`validate_wire_frame`). The schemas are lenient: they accept every
variant docs/PROTOCOL.md records and allow unknown keys.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from bluecurrent_sync._capture_check import wire_schema_stem

__all__ = ["WIRE_DIR", "schema_for", "validate_wire_frame", "wire_registry", "wire_schema_names"]

WIRE_DIR = Path(__file__).resolve().parent.parent / "schemas" / "wire"


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
    """Return the schema stem for a server object name (the product's own rule).

    Raises:
        AssertionError: the object name has no wire schema.
    """
    stem = wire_schema_stem(object_name)
    if stem is None:
        raise AssertionError(f"no wire schema for server object {object_name!r}")
    return stem


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
