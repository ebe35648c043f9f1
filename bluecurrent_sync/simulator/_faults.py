"""Fault plans: what the simulator should do wrong, and the malformed frames it can send."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = ["MALFORMED_KINDS", "FaultPlan", "ReplyRule", "malformed_frame"]

Payload = str | bytes
"""A websocket message as sent: text (str) or binary (bytes)."""

MALFORMED_KINDS: tuple[str, ...] = (
    "not_json",
    "json_array",
    "json_scalar",
    "binary",
    "invalid_utf8",
    "missing_object",
    "missing_fields",
    "wrong_types",
    "unknown_object",
)
"""Every kind accepted by
[`Simulator.send_malformed()`][bluecurrent_sync.simulator.Simulator.send_malformed] and
``corrupt_reply``."""


def malformed_frame(kind: str, evse_id: str = "BCU100001") -> Payload:
    """Return a frame of the named malformed ``kind`` (see `MALFORMED_KINDS`).

    Raises:
        ValueError: ``kind`` is not one of `MALFORMED_KINDS`.
    """
    if kind == "not_json":
        return '{"object": "CH_STATUS", "evse_id": '
    if kind == "json_array":
        return json.dumps([{"object": "CH_STATUS", "evse_id": evse_id}])
    if kind == "json_scalar":
        return json.dumps("CH_STATUS")
    if kind == "binary":
        return json.dumps({"object": "HELLO"}).encode()
    if kind == "invalid_utf8":
        return b"\xff\xfe\x80 not utf-8 \xc3\x28"
    if kind == "missing_object":
        return json.dumps({"evse_id": evse_id, "data": {"activity": "available"}})
    if kind == "missing_fields":
        return json.dumps({"object": "CH_STATUS", "evse_id": evse_id})
    if kind == "wrong_types":
        return json.dumps(
            {
                "object": "CH_STATUS",
                "evse_id": evse_id,
                "data": {
                    "evse_id": evse_id,
                    "actual_kwh": "lots",
                    "actual_p1": [16],
                    "activity": 7,
                    "max_usage": {"amps": 16},
                    "vehicle_status": None,
                },
            }
        )
    if kind == "unknown_object":
        return json.dumps({"object": "SIMULATOR_SURPRISE", "evse_id": evse_id, "data": {"x": 1}})
    raise ValueError(f"unknown malformed kind {kind!r}; choose from {', '.join(MALFORMED_KINDS)}")


@dataclass
class ReplyRule:
    """How to treat the replies to one command.

    Attributes:
        command: The command whose replies are affected.
        delay: Extra seconds before each reply; ignored when ``withhold``.
        withhold: Never send the replies (the command still takes effect).
        replacement: Send this instead of the first reply.
        once: Forget the rule after it has been applied once.
    """

    command: str
    delay: float = 0.0
    withhold: bool = False
    replacement: Payload | None = None
    once: bool = True


@dataclass
class ActionFailure:
    """Make the result of a two-step command fail with ``error``."""

    error: str
    once: bool


@dataclass
class FaultPlan:
    """All armed faults. Mutated only under the simulator's lock."""

    reply_rules: list[ReplyRule] = field(default_factory=list)
    drop_after_frames: int | None = None
    drop_on_commands: set[str] = field(default_factory=set)
    action_failures: dict[str, ActionFailure] = field(default_factory=dict)

    def take_reply_rule(self, command: str) -> ReplyRule | None:
        """The oldest rule for ``command``, removed when it applies only once."""
        for rule in self.reply_rules:
            if rule.command == command:
                if rule.once:
                    self.reply_rules.remove(rule)
                return rule
        return None

    def take_action_failure(self, command: str) -> str | None:
        """The error a two-step ``command`` should fail with, if one is armed."""
        failure = self.action_failures.get(command)
        if failure is None:
            return None
        if failure.once:
            del self.action_failures[command]
        return failure.error

    def frame_received(self) -> bool:
        """Count one received frame; True when the armed drop-after count is reached."""
        if self.drop_after_frames is None:
            return False
        self.drop_after_frames -= 1
        if self.drop_after_frames <= 0:
            self.drop_after_frames = None
            return True
        return False

    def clear(self) -> None:
        """Disarm every fault."""
        self.reply_rules.clear()
        self.drop_after_frames = None
        self.drop_on_commands.clear()
        self.action_failures.clear()
