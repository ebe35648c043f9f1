"""Replay a captured account: ``Simulator(replay="capture.jsonl")``.

A capture (written by the client's record mode; format in ``docs/DESIGN.md``) holds every frame of a
client session. Loading it yields a `Recording`:

* the **account** as recorded: the charge points of the last CHARGE_POINTS reply, the cards
  of the last CHARGE_CARDS reply, each charge point's first recorded CH_STATUS / CH_SETTINGS
  / GRID_STATUS, the ACCOUNT reply and the customer id;
* the **replies**: every command the client sent, with the frames that answered it and how
  long after the command each arrived (an acknowledgement and a result, say). A frame
  answers the oldest open command of its connection whose reply objects include its name
  (for the same charge point when both name one); ERROR frames answer the oldest one;
* the **pushes**: every other frame of the main connections, each tied to the command the
  client sent last before it (its *anchor*: that command's n-th occurrence) and timed from
  it; the pushes before the first command are tied to HELLO.

The replaying simulator answers a command the capture has (same command, same arguments;
Authorization aside) with the recorded frames, in recorded order, at the recorded delays
divided by ``replay_speed``; once the recorded answers of a command are used up, the last
one is repeated. A command the capture lacks gets the simulator's normal behaviour, on the
recorded state (sessions start and stop, settings change). When a command arrives for the
n-th time, the pushes anchored to its n-th recorded occurrence follow, to every HELLO'd
connection, with their recorded spacing divided by ``replay_speed``; each HELLO'd
connection gets the pushes anchored to HELLO. So the same script meets the same pushes at
the same points, however fast it runs; pushes anchored to a command the script never sends
are not played. Each replayed CH_STATUS also updates the replayed state. No pushes are
invented (``push_interval`` is ignored). Recorded ERROR 1 and 42 replies (token and quota
trouble of that day) are not replayed. Any API token the simulator accepts works; the
recorded tokens are redacted in captures anyway.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._capture_lines import CaptureLineError, capture_records
from .._protocol import Role, reply_roles
from ._commands import CommandHandler, Conn, Outbox, Request
from ._state import CARDS, NO_CARD, Account, ChargePoint

__all__ = ["CaptureError", "Recording", "ReplayCommands", "load_capture"]

_IGNORED_FIELDS = frozenset({"command", "Authorization", "token", "flow_id"})
_NOT_REPLAYED_ERRORS = frozenset({1, 42})


class CaptureError(ValueError):
    """The file is not a bluecurrent_sync capture (the message names the line)."""


def request_key(frame: Mapping[str, Any]) -> str:
    """The command and its arguments, Authorization aside, as a comparable string."""
    fields = {k: v for k, v in frame.items() if k not in _IGNORED_FIELDS}
    return json.dumps([frame.get("command"), fields], sort_keys=True, default=str)


@dataclass
class _Open:
    """A recorded command still waiting for (more of) its replies."""

    key: str
    t: float
    names: dict[str, Any]
    evse_id: str | None
    replies: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Recording:
    """What a capture holds, ready to replay (see the module docstring)."""

    path: Path
    customer_id: str | None = None
    charge_points: list[dict[str, Any]] = field(default_factory=list)
    cards: list[dict[str, Any]] | None = None
    account: dict[str, Any] | None = None
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    grids: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, list[list[tuple[float, dict[str, Any]]]]] = field(default_factory=dict)
    #: (command key, occurrence) -> the pushes that followed it, timed from the command;
    #: ``None`` -> the pushes before the first command, timed from HELLO.
    pushes: dict[tuple[str, int] | None, list[tuple[float, dict[str, Any]]]] = field(
        default_factory=dict
    )

    def evse_ids(self) -> list[str]:
        """Every charge point of the recorded account."""
        ids = [str(item.get("evse_id")) for item in self.charge_points if item.get("evse_id")]
        for evse_id in self.statuses:
            if evse_id not in ids:
                ids.append(evse_id)
        return ids

    def build_account(self, rng: random.Random, now: dt.datetime) -> Account:
        """The simulator's account, in the recorded state."""
        return RecordedAccount(self, rng, now)

    def learn(self, name: str, frame: Mapping[str, Any]) -> None:
        """Keep what the account looked like: the last lists, the first state per charge point."""
        data = frame.get("data")
        evse = _evse_of(frame)
        if name == "CHARGE_POINTS" and isinstance(data, list):
            self.charge_points = [dict(item) for item in data if isinstance(item, dict)]
        elif name == "CHARGE_CARDS" and isinstance(frame.get("cards"), list):
            self.cards = [dict(card) for card in frame["cards"] if isinstance(card, dict)]
        elif name == "ACCOUNT":
            self.account = dict(frame)
        elif name == "STATUS_API_TOKEN" and isinstance(frame.get("customer_id"), str):
            self.customer_id = frame["customer_id"]
        elif evse is not None and isinstance(data, dict):
            target = {
                "CH_STATUS": self.statuses,
                "CH_SETTINGS": self.settings,
                "GRID_STATUS": self.grids,
            }.get(name)
            if target is not None:
                target.setdefault(evse, dict(data))


def load_capture(path: str | os.PathLike[str]) -> Recording:
    """Read a capture file into a `Recording`.

    Raises:
        CaptureError: Not a capture (bad header, a line that is not a JSON object, longer
            than 16 MiB, nested too deeply, or with a ``t`` that is not finite seconds from
            0 to 100 days, or a bad ``seq``); the message names the line.
        OSError: The file cannot be read.
    """
    recording = Recording(Path(path))
    open_requests: dict[tuple[str, int], list[_Open]] = {}
    hello_at: float | None = None
    occurrences: dict[str, int] = {}
    anchor: tuple[str, int] | None = None
    anchor_at = 0.0
    items = _capture_items(path)
    with contextlib.closing(items):  # the file is closed at once, also on an error
        for number, item in items:
            if number == 1:
                if item.get("capture") != "bluecurrent_sync" or item.get("version") != 1:
                    raise CaptureError(f"{path}:1: not a bluecurrent_sync capture (version 1)")
                continue
            frame = item.get("frame")
            t = item.get("t")
            if "event" in item or not isinstance(frame, dict) or not isinstance(t, int | float):
                continue  # connection events and non-JSON text carry nothing to replay
            seq = item.get("seq")
            where = (str(item.get("conn")), seq if isinstance(seq, int) else 0)
            pending = open_requests.setdefault(where, [])
            if item.get("dir") == "out":
                command = frame.get("command")
                if isinstance(command, str) and command not in ("VALIDATE_API_TOKEN", "HELLO"):
                    evse = frame.get("evse_id")
                    key = request_key(frame)
                    names: dict[str, Role] = dict(reply_roles(command))
                    if command == "GET_ACCOUNT":
                        names = {"ACCOUNT": Role.RESULT}
                    pending.append(
                        _Open(key, float(t), names, evse if isinstance(evse, str) else None)
                    )
                    occurrence = occurrences.get(key, 0)
                    occurrences[key] = occurrence + 1
                    if where[0] == "main":
                        anchor, anchor_at = (key, occurrence), float(t)
                continue
            name = frame.get("object")
            if not isinstance(name, str):
                continue
            recording.learn(name, frame)
            if name == "HELLO":
                hello_at = float(t) if hello_at is None else hello_at
                continue
            if name == "STATUS_API_TOKEN":
                continue
            request = _answered(pending, name, frame)
            if request is not None:
                request.replies.append((max(0.0, float(t) - request.t), frame))
                role = request.names.get(name)
                still_open = role in (Role.ACK, Role.ACK_OR_RESULT) and not frame.get("error")
                if not still_open:
                    pending.remove(request)
                    recording.replies.setdefault(request.key, []).append(request.replies)
            elif where[0] == "main" and name != "ERROR":
                if anchor is None:
                    start = hello_at if hello_at is not None else float(t)
                else:
                    start = anchor_at
                recording.pushes.setdefault(anchor, []).append((max(0.0, float(t) - start), frame))
    for pending in open_requests.values():  # an acknowledged command whose result never came
        for request in pending:
            if request.replies:
                recording.replies.setdefault(request.key, []).append(request.replies)
    return recording


def _capture_items(
    path: str | os.PathLike[str],
) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """The capture's records, each line bounded and checked (``_capture_lines.py``)."""
    try:
        yield from capture_records(path)
    except CaptureLineError as exc:
        raise CaptureError(f"{path}:{exc.line}: the line {exc.problem}") from exc


def _answered(pending: list[_Open], name: str, frame: Mapping[str, Any]) -> _Open | None:
    if name == "ERROR":
        return pending[0] if pending else None
    evse = _evse_of(frame)
    for request in pending:
        if name in request.names and (
            request.evse_id is None or evse is None or evse == request.evse_id
        ):
            return request
    return None


def _evse_of(frame: Mapping[str, Any]) -> str | None:
    for holder in (frame, frame.get("data")):
        if isinstance(holder, Mapping):
            value = holder.get("evse_id")
            if isinstance(value, str):
                return value
            grid = holder.get("id")
            if isinstance(grid, str) and grid.startswith("GRID-"):
                return grid[len("GRID-") :]
    return None


# ------------------------------------------------------------------- replayed state


def _setting_value(value: object, default: bool) -> bool:
    if isinstance(value, Mapping):
        value = value.get("value")
    return value if isinstance(value, bool) else default


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


class RecordedChargePoint(ChargePoint):
    """A charge point built from recorded frames; its wire views keep the recorded fields."""

    recorded_item: dict[str, Any]
    recorded_settings: dict[str, Any] | None

    def charge_point_item(self, *, recorded: bool = False) -> dict[str, Any]:
        # A replay serves the shape it recorded, whatever the settings_shape variant asks.
        item = copy.deepcopy(self.recorded_item) or super().charge_point_item(recorded=recorded)
        item["activity"] = self.activity
        for key, value in (
            ("plug_and_charge", self.plug_and_charge),
            ("public_charging", self.public_charging),
            ("delayed_charging", self.delayed_charging),
            ("price_based_charging", self.price_based_charging),
        ):
            if isinstance(item.get(key), dict):
                item[key]["value"] = value
            elif key in item:
                item[key] = value
        return item

    def settings_data(self, *, recorded: bool = False) -> dict[str, Any]:
        # A replay serves the shape it recorded, whatever the settings_shape variant asks.
        if self.recorded_settings is None:
            return super().settings_data(recorded=recorded)
        data = copy.deepcopy(self.recorded_settings)
        for key, value in (
            ("plug_and_charge", self.plug_and_charge),
            ("public_charging", self.public_charging),
        ):
            if isinstance(data.get(key), dict):
                data[key]["value"] = value
        return data

    def apply_status(self, data: Mapping[str, Any]) -> None:
        """Take over the live fields of a replayed CH_STATUS."""
        if isinstance(data.get("activity"), str):
            self.activity = data["activity"]
        if isinstance(data.get("vehicle_status"), str):
            self.vehicle_status = data["vehicle_status"]
        for key in ("offline_since", "start_datetime", "stop_datetime"):
            if isinstance(data.get(key), str):
                setattr(self, key, data[key])
        self.actual_kwh = _number(data.get("actual_kwh"), self.actual_kwh)
        self.total_cost = _number(data.get("total_cost"), self.total_cost)
        self.currents = tuple(  # type: ignore[assignment]
            _number(data.get(f"actual_p{i}"), self.currents[i - 1]) for i in (1, 2, 3)
        )
        self.voltages = tuple(  # type: ignore[assignment]
            _number(data.get(f"actual_v{i}"), self.voltages[i - 1]) for i in (1, 2, 3)
        )


def _charge_point(recording: Recording, evse_id: str) -> RecordedChargePoint:
    item = next((i for i in recording.charge_points if i.get("evse_id") == evse_id), {})
    status = recording.statuses.get(evse_id, {})
    settings = recording.settings.get(evse_id)
    source = {**(settings or {}), **item}
    voltages = [_number(status.get(f"actual_v{i}"), 0.0) for i in (1, 2, 3)]
    cp = RecordedChargePoint(
        evse_id=evse_id,
        name=str(item.get("name") or ""),
        model_type=str(source.get("model_type") or ""),
        chargepoint_type=str(source.get("chargepoint_type") or ""),
        is_cable=bool(source.get("is_cable")),
        phases=max(1, sum(1 for v in voltages if v > 0) or 3),
        max_usage=int(_number(status.get("max_usage"), 16)),
        smartcharging_max_usage=int(_number(status.get("smartcharging_max_usage"), 6)),
        max_offline=int(_number(status.get("max_offline"), 10)),
        smart_charging=bool(source.get("smart_charging")),
        activity=str(item.get("activity") or status.get("activity") or "available"),
        plug_and_charge=_setting_value(source.get("plug_and_charge"), False),
        public_charging=_setting_value(source.get("public_charging"), True),
        delayed_charging=_setting_value(item.get("delayed_charging"), False),
        price_based_charging=_setting_value(item.get("price_based_charging"), False),
    )
    cp.recorded_item = item
    cp.recorded_settings = settings
    cp.apply_status(status)
    return cp


class RecordedAccount(Account):
    """The simulator's account in the recorded state."""

    def __init__(self, recording: Recording, rng: random.Random, now: dt.datetime) -> None:
        super().__init__(rng, now)
        self.recording = recording
        self.charge_points = {e: _charge_point(recording, e) for e in recording.evse_ids()}
        grid = next(iter(recording.grids.values()), None)
        if grid is not None:
            self.base_grid_load = tuple(  # type: ignore[assignment]
                int(_number(grid.get(f"grid_actual_p{i}"), 0)) for i in (1, 2, 3)
            )

    def card_uids(self) -> set[str]:
        cards = self.recording.cards if self.recording.cards is not None else list(CARDS)
        return {str(card.get("uid")) for card in cards} | {NO_CARD["uid"]}

    def cards_data(self) -> list[dict[str, Any]]:
        if self.recording.cards is None:
            return super().cards_data()
        return copy.deepcopy(self.recording.cards)

    def grid_status_data(self, evse_id: str) -> dict[str, Any]:
        data = super().grid_status_data(evse_id)
        recorded = self.recording.grids.get(evse_id)
        return {**recorded, **{k: data[k] for k in ("id",)}} if recorded else data


# ------------------------------------------------------------------- replayed behaviour


class ReplayCommands(CommandHandler):
    """Answers from the recording where it can, else like the simulator, on its state."""

    def __init__(self, recording: Recording, speed: float, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if speed <= 0:
            raise ValueError("replay_speed must be positive")
        self.recording = recording
        self.speed = speed
        self._used: dict[str, int] = {}

    def dispatch(self, req: Request, user: str | None) -> None:
        if req.command == "VALIDATE_API_TOKEN":
            super().dispatch(req, user)
            if self.recording.customer_id is not None:
                customer = self.recording.customer_id
                req.out = [(conn, _with_customer(p, customer)) for conn, p in req.out]
            return
        if user is None or req.command == "HELLO":
            super().dispatch(req, user)
            return
        key = request_key(req.frame)
        index = self._used.get(key, 0)
        self._used[key] = index + 1
        answers = self.recording.replies.get(key)
        if not answers:
            super().dispatch(req, user)
        else:
            req.conn.user_token = user
            for delay, frame in answers[min(index, len(answers) - 1)]:
                if frame.get("object") == "ERROR" and frame.get("error") in _NOT_REPLAYED_ERRORS:
                    continue
                self._reply(req, frame, delay / self.speed)
        pushes = self.recording.pushes.get((key, index))
        if pushes:
            self._play_pushes(pushes, None, 0, 0.0)

    def _hello(self, req: Request) -> None:
        super()._hello(req)
        pushes = self.recording.pushes.get(None)
        if pushes:
            self._play_pushes(pushes, req.conn, 0, 0.0)

    def _play_pushes(
        self, pushes: list[tuple[float, dict[str, Any]]], conn: Conn | None, index: int, at: float
    ) -> None:
        """Send ``pushes[index:]`` at their recorded spacing: to ``conn``, or (None) to all."""
        offset, frame = pushes[index]

        def send() -> Outbox:
            if conn is not None and not conn.open:
                return []
            self._apply(frame)
            if index + 1 < len(pushes):
                self._play_pushes(pushes, conn, index + 1, offset)
            out: Outbox = []
            if conn is None:
                self.push(out, frame)
            else:
                out.append((conn, json.dumps(frame)))
            return out

        self._schedule(max(0.0, offset - at) / self.speed, send)

    def _apply(self, frame: Mapping[str, Any]) -> None:
        evse = _evse_of(frame)
        data = frame.get("data")
        cp = self.account.charge_points.get(evse) if evse is not None else None
        is_status = frame.get("object") == "CH_STATUS" and isinstance(data, Mapping)
        if is_status and isinstance(cp, RecordedChargePoint) and isinstance(data, Mapping):
            cp.apply_status(data)

    def _get_account(self, req: Request) -> None:
        if self.recording.account is not None:
            self._reply(req, dict(self.recording.account))
        else:
            super()._get_account(req)

    def tick(self, hours: float) -> Outbox:
        return []  # a replay invents no pushes: only the recorded ones are played


def _with_customer(payload: str | bytes, customer_id: str) -> str | bytes:
    try:
        frame = json.loads(payload)
    except (ValueError, TypeError):
        return payload
    accepted = isinstance(frame, dict) and frame.get("success")
    if accepted and frame.get("object") == "STATUS_API_TOKEN":
        frame["customer_id"] = customer_id
        return json.dumps(frame)
    return payload


def replay_handler(
    path: str | os.PathLike[str], speed: float
) -> tuple[Recording, Callable[..., CommandHandler]]:
    """Load ``path``; return the recording and a factory of its command handler."""
    if speed <= 0:
        raise ValueError("replay_speed must be positive")
    recording = load_capture(path)

    def make(*args: Any, **kwargs: Any) -> CommandHandler:
        return ReplayCommands(recording, speed, *args, **kwargs)

    return recording, make
