"""The object names ``Client.on`` / ``off`` / ``events`` accept, their check, and the ONE map
between pushed object names and the models they become (`EVENT_MODELS`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from . import _protocol as proto
from ._convert import OBJECTS
from .models import ChargePoint, RawEvent

__all__ = [
    "CONNECTION_EVENT_NAMES",
    "EVENT_MODELS",
    "KNOWN_EVENT_NAMES",
    "check_event_name",
    "check_event_names",
    "event_object_name",
]

#: Pushed objects that have a model, and that model (CHARGE_POINTS is a list of them); every
#: other object becomes a [`RawEvent`][bluecurrent_sync.models.RawEvent]. Derived from the
#: object table (`_convert.OBJECTS`); `event_object_name()` reads it.
EVENT_MODELS: dict[str, type] = {name: spec.model for name, spec in OBJECTS.items()}
_EVENT_NAMES = {model: name for name, model in EVENT_MODELS.items()}

#: Pseudo object names published by the client itself (see ``Client.on``).
CONNECTION_EVENT_NAMES = ("connected", "disconnected")

#: Every command the client can send; their reply objects are event names too.
_COMMANDS = tuple(proto.COMMANDS)

#: The object names ``Client.on`` / ``Client.events`` accept without ``allow_unknown``:
#: ``"*"``, the connection-state events, the pushed objects, and every reply object of
#: every command (the wire cannot tell a reply from a push, so replies are events too).
KNOWN_EVENT_NAMES: frozenset[str] = frozenset(
    {
        "*",
        *CONNECTION_EVENT_NAMES,
        proto.OBJ_ERROR,
        proto.OBJ_HELLO,
        proto.OBJ_CHARGE_CARDS,
        *EVENT_MODELS,
        *(name for command in _COMMANDS for name in proto.reply_roles(command)),
    }
)


def check_event_name(name: object, *, allow_unknown: bool = False) -> str:
    """Return ``name`` if ``Client.on`` / ``events`` / ``off`` may use it.

    Args:
        name: An object name such as ``"CH_STATUS"``, ``"*"``, ``"connected"``.
        allow_unknown: Accept any non-empty name (an object this version does not know).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: An empty name, or a name not in `KNOWN_EVENT_NAMES` (the message lists the known
            ones and suggests the closest) without ``allow_unknown``.
    """
    if not isinstance(name, str):
        raise TypeError(f"event name must be a string, got {type(name).__name__}")
    if not name:
        raise ValueError("event name must not be empty")
    if name in KNOWN_EVENT_NAMES or allow_unknown:
        return name
    close = difflib.get_close_matches(name, sorted(KNOWN_EVENT_NAMES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown event name {name!r}.{hint} Known names: {', '.join(sorted(_listed()))}. "
        "To subscribe to an object this version does not know, pass allow_unknown=True."
    )


def check_event_names(names: Iterable[object], *, allow_unknown: bool = False) -> list[str]:
    """`check_event_name()` for each name; returns them as a list."""
    return [check_event_name(name, allow_unknown=allow_unknown) for name in names]


def _listed() -> set[str]:
    # The message lists what users subscribe to; the RECEIVED_GET_* acknowledgements of
    # reads are accepted but would only clutter it.
    return {name for name in KNOWN_EVENT_NAMES if not name.startswith("RECEIVED_GET_")}


def event_object_name(event: object) -> str:
    """The wire object name of a pushed event (what ``WireConverter.event`` produced).

    ``"CH_STATUS"`` for a ChStatus, ``"CHARGE_POINTS"`` for a list of charge points, a
    RawEvent's own name; any other value gets its type's name.
    """
    if isinstance(event, RawEvent):
        return event.object_name
    if isinstance(event, list):
        return _EVENT_NAMES[ChargePoint]
    return _EVENT_NAMES.get(type(event), type(event).__name__)
