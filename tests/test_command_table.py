"""The command table (``_protocol.COMMANDS``) is the one home of every per-command fact.

Each derived set, map and event name is recomputed here from the table entries, so a command
added to the table (one entry) reaches every rule, and a set edited by hand apart from the
table fails here.
"""

from __future__ import annotations

import pytest

from bluecurrent_sync import _capture_check, _events
from bluecurrent_sync import _protocol as proto
from bluecurrent_sync._protocol import COMMANDS, Family, Role, Timeout


def _where(attribute: str) -> frozenset[str]:
    return frozenset(name for name, spec in COMMANDS.items() if getattr(spec, attribute))


def test_every_command_set_derives_from_the_table() -> None:
    assert _where("two_step") == proto.TWO_STEP_COMMANDS
    assert _where("serial") == proto.SERIAL_COMMANDS
    assert _where("shareable") == proto.DEDUP_COMMANDS
    assert _where("read") == proto.READ_COMMANDS
    assert _where("schedule") == proto.SCHEDULE_COMMANDS
    smart = frozenset(n for n, s in COMMANDS.items() if s.family is Family.SMART)
    assert smart == proto.SMART_COMMANDS
    confirmed = frozenset(n for n, s in COMMANDS.items() if s.family is Family.CONFIRMED)
    assert confirmed == proto.CONFIRMED_COMMANDS == _capture_check._OPERATIVE


def test_the_event_names_cover_every_reply_of_every_command() -> None:
    assert set(_events._COMMANDS) == set(COMMANDS)
    for command in COMMANDS:
        assert set(proto.reply_roles(command)) <= _events.KNOWN_EVENT_NAMES, command


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_reply_roles_follow_the_family(command: str) -> None:
    spec = COMMANDS[command]
    received, status = f"RECEIVED_{command}", f"STATUS_{command}"
    expected = {
        Family.SETTING: {status: Role.RESULT, received: Role.ACK},
        Family.DEVICE: {status: Role.RESULT, received: Role.ACK},
        Family.CONFIRMED: {status: Role.RESULT, received: Role.ACK, "CH_STATUS": Role.CONFIRM},
        Family.SMART: {status: Role.RESULT, command: Role.RESULT, received: Role.ACK},
        Family.OVERRIDE: {command: Role.RESULT, received: Role.ACK, status: Role.RESULT},
        Family.UNDOCUMENTED: {
            status: Role.RESULT,
            command: Role.RESULT,
            received: Role.ACK_OR_RESULT,
        },
    }
    if spec.family is Family.READ:
        assert spec.answer is not None
        assert proto.reply_roles(command) == {spec.answer: Role.RESULT, received: Role.ACK}
    else:
        assert spec.answer is None
        assert proto.reply_roles(command) == expected[spec.family]


def test_only_two_step_commands_take_the_action_timeout() -> None:
    for command, spec in COMMANDS.items():
        want = Timeout.ACTION if command in proto.TWO_STEP_COMMANDS else Timeout.REQUEST
        assert spec.timeout is want, command


def test_a_command_outside_the_table_is_undocumented() -> None:
    assert proto.reply_roles("FUTURE_COMMAND") == {
        "STATUS_FUTURE_COMMAND": Role.RESULT,
        "FUTURE_COMMAND": Role.RESULT,
        "RECEIVED_FUTURE_COMMAND": Role.ACK_OR_RESULT,
    }


def test_every_command_in_the_table_is_sent_by_a_client_method() -> None:
    from pathlib import Path

    import bluecurrent_sync.client as client_module

    source = Path(client_module.__file__).read_text(encoding="utf-8")
    for command in COMMANDS:
        if command == proto.GET_ACCOUNT:
            continue  # sent by the opening exchange and get_account's cached path
        assert f"proto.{command}" in source, command


# -- the object table (``_convert.OBJECTS``) ------------------------------------------------


def test_every_object_map_derives_from_the_object_table() -> None:
    from bluecurrent_sync._convert import OBJECTS
    from bluecurrent_sync._mirror import MIRRORED_OBJECTS

    assert {name: spec.model for name, spec in OBJECTS.items()} == _events.EVENT_MODELS
    assert {name for name, spec in OBJECTS.items() if spec.mirrored} == MIRRORED_OBJECTS
    assert set(OBJECTS) <= _events.KNOWN_EVENT_NAMES


def test_the_client_mirrors_exactly_the_mirrored_objects_with_their_converters() -> None:
    from bluecurrent_sync import Client
    from bluecurrent_sync._convert import OBJECTS

    client = Client("a-token-never-sent", url="ws://127.0.0.1:9/never")
    try:
        converters = client._mirror._converters
        assert set(converters) == {name for name, spec in OBJECTS.items() if spec.mirrored}
        for name, convert in converters.items():  # the table's method, bound to the client's
            assert convert.__func__ is OBJECTS[name].convert  # type: ignore[attr-defined]
            assert convert.__self__ is client._converter  # type: ignore[attr-defined]
    finally:
        client.close()


@pytest.mark.parametrize("name", ["CH_STATUS", "CH_SETTINGS", "GRID_CURRENT", "GRID_STATUS"])
def test_a_pushed_object_becomes_the_model_of_its_table_entry(name: str) -> None:
    import copy

    import frames

    from bluecurrent_sync._convert import OBJECTS, WireConverter

    event = WireConverter().event(copy.deepcopy(getattr(frames, name)))
    assert isinstance(event, OBJECTS[name].model)
    assert _events.event_object_name(event) == name


def test_charge_points_become_a_list_of_the_table_model() -> None:
    import copy

    import frames

    from bluecurrent_sync._convert import OBJECTS, WireConverter

    event = WireConverter().event(copy.deepcopy(frames.CHARGE_POINTS))
    assert isinstance(event, list) and event
    assert all(isinstance(item, OBJECTS["CHARGE_POINTS"].model) for item in event)
    assert _events.event_object_name(event) == "CHARGE_POINTS"
