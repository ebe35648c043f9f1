"""The JSON Schemas in schemas/: well-formed, references resolve, samples validate."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from frames import ALL
from jsonschema import Draft202012Validator
from wire_schemas import WIRE_DIR, schema_for, validate_wire_frame, wire_registry

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
MODEL_DIR = SCHEMAS / "models"
ALL_FILES = sorted(SCHEMAS.glob("*/*.json"))


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_there_are_wire_and_model_schemas() -> None:
    assert len(list(WIRE_DIR.glob("*.json"))) >= 15
    assert len(list(MODEL_DIR.glob("*.json"))) >= 15


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = _load(path)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{path.parent.name}/{path.name}")
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", sorted(WIRE_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_wire_ref_resolves(path: Path) -> None:
    schema = _load(path)
    resolver = wire_registry().resolver(base_uri=schema["$id"])
    for ref in _refs(schema):
        resolved = resolver.lookup(ref)
        assert isinstance(resolved.contents, dict), ref


@pytest.mark.parametrize("path", sorted(MODEL_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_model_ref_names_a_model_file(path: Path) -> None:
    for ref in _refs(_load(path)):
        assert (MODEL_DIR / ref).is_file(), ref


@pytest.mark.parametrize("path", sorted(MODEL_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_model_and_field_has_a_description(path: Path) -> None:
    schema = _load(path)
    assert schema.get("title") and schema.get("description")
    for name, prop in schema.get("properties", {}).items():
        assert prop.get("description"), f"{path.name}: {name} has no description"


def test_wire_defs_are_shared_by_reference() -> None:
    users = [p for p in WIRE_DIR.glob("*.json") if any("defs.json" in r for r in _refs(_load(p)))]
    assert len(users) >= 10


@pytest.mark.parametrize("name", sorted(ALL), ids=str)
def test_every_sample_frame_matches_its_wire_schema(name: str) -> None:
    validate_wire_frame(ALL[name])


@pytest.mark.parametrize(
    ("object_name", "stem"),
    [
        ("CH_STATUS", "ch_status"),
        ("STATUS_SET_PUBLIC_CHARGING", "setting_result"),
        ("STATUS_API_TOKEN", "status_api_token"),
        ("RECEIVED_SET_PLUG_AND_CHARGE", "action_result"),
        ("STATUS_SET_OPERATIVE", "action_result"),
        ("RECEIVED_OVERRIDE_CHARGING_PROFILES", "action_result"),
        ("POST_EDIT_OVERRIDE_CURRENT", "override_schedule_reply"),
        ("POST_CLEAR_OVERRIDE_CURRENT", "post_clear_override_current"),
    ],
)
def test_schema_for_exact_names_and_families(object_name: str, stem: str) -> None:
    assert schema_for(object_name) == stem


def test_unknown_object_is_an_assertion_error() -> None:
    with pytest.raises(AssertionError, match="no wire schema"):
        validate_wire_frame({"object": "SUSTAINABILITY_STATUS"})
    with pytest.raises(AssertionError):
        validate_wire_frame({"no": "object"})


@pytest.mark.parametrize(
    ("frame", "path", "rule"),
    [
        (
            {"object": "CH_STATUS", "evse_id": "B", "data": {"actual_p1": "10"}},
            "data/actual_p1",
            "type",
        ),
        ({"object": "CH_STATUS", "data": {"activity": "charging"}}, "", "anyOf"),  # no evse_id
        ({"object": "GRID_STATUS", "data": {"grid_actual_p1": 1}}, "data", "required"),  # data.id
        ({"object": "CHARGE_CARDS", "data": []}, "", "required"),  # the list goes under "cards"
        (
            {"object": "STATUS_SET_PLUG_AND_CHARGE", "result": {"setting": 1}},
            "result/setting",
            "type",
        ),
        ({"object": "LIST_OVERRIDE_CURRENT", "success": True}, "", "anyOf"),
        ({"object": "ERROR", "error": "42"}, "error", "type"),
        (
            {"object": "CH_STATUS", "evse_id": "B", "data": {"start_datetime": "24-07-2023"}},
            "data/start_datetime",
            "anyOf",
        ),
    ],
)
def test_wire_schemas_reject_malformed_frames(frame: dict[str, Any], path: str, rule: str) -> None:
    # The exact place ("" = the frame itself) and the rule that failed: an empty path pins
    # something too.
    with pytest.raises(jsonschema.ValidationError) as info:
        validate_wire_frame(frame)
    assert "/".join(str(p) for p in info.value.absolute_path) == path
    assert info.value.validator == rule


def test_wire_schemas_allow_unknown_keys() -> None:
    frame = copy.deepcopy(ALL["CH_STATUS"])
    frame["brand_new"] = {"x": 1}
    frame["data"]["also_new"] = [1, 2]
    validate_wire_frame(frame)


@pytest.mark.parametrize(
    "stamp",
    ["", None, "20211118 14:12:23", "20010101 00:00:00+00:00", "20010101 00:00:00-05:00",
     "2023-07-24T15:25:33", "2023-07-24T15:25:33Z", "2023-07-24T15:25:33.5+02:00"],
)  # fmt: skip
def test_wire_timestamps_accept_every_recorded_variant(stamp: str | None) -> None:
    frame = copy.deepcopy(ALL["CH_STATUS"])
    frame["data"]["offline_since"] = stamp
    validate_wire_frame(frame)
