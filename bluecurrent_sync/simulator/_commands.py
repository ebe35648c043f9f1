"""Answering commands: the protocol logic of the simulator, on raw dicts.

`CommandHandler` turns one received command into reply frames (an `Outbox`), schedules the delayed
halves of two-step commands and produces the periodic pushes. It runs with the simulator's lock held
and never touches a socket: the server sends the outbox afterwards, outside the lock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.server import ServerConnection

from ._faults import FaultPlan, Payload, ReplyRule
from ._state import CUSTOMER_ID, EVSE_IDS, Account, ChargePoint, schedule_fields
from ._variants import Variants

__all__ = [
    "ERROR_TEXT",
    "CommandHandler",
    "Conn",
    "ConnectionInfo",
    "Outbox",
    "Request",
    "ch_status_frame",
    "error_frame",
]

ERROR_TEXT = {
    0: "Unknown command",
    1: "Invalid Auth Token",
    2: "Not authorized",
    9: "Unknown error",
    42: "Request limit reached",
}

_TWO_STEP = frozenset(
    {"START_SESSION", "STOP_SESSION", "SOFT_RESET", "REBOOT", "SET_OPERATIVE", "SET_INOPERATIVE"}
)
_SETTINGS = {"SET_PLUG_AND_CHARGE": "plug_and_charge", "SET_PUBLIC_CHARGING": "public_charging"}
_SMART = frozenset(
    {
        "SET_DELAYED_CHARGING",
        "SAVE_SCHEDULE_DELAYED_CHARGING",
        "SET_PRICE_BASED_CHARGING",
        "PATCH_PRICE_BASED_CHARGING_SETTINGS",
        "OVERRIDE_CHARGING_PROFILES",
        "OVERRIDE_DELAYED_CHARGING_TIMEOUT",
    }
)
_OPERATIVE = frozenset({"SET_OPERATIVE", "SET_INOPERATIVE"})
_GETS_FOR_EVSE = frozenset({"GET_CH_STATUS", "GET_CH_SETTINGS", "GET_GRID_STATUS"})
_NEEDS_EVSE = _GETS_FOR_EVSE | _TWO_STEP | _SMART | frozenset(_SETTINGS)
_PRICE_FIELDS = {
    "expected_departure_time": str,
    "current_battery_pct": int,
    "minimum_pct": int,
    "battery_size_kwh": int,
}


@dataclass(frozen=True)
class ConnectionInfo:
    """A snapshot of one connection the simulator accepted.

    Attributes:
        id: 1, 2, ... in the order connections were accepted (kept across restarts).
        remote: The client's IP address.
        frames: Every JSON-object frame received on it, in order.
        hello: Whether a valid HELLO arrived (pushes go only to such connections).
        open: Whether the connection is still open.
    """

    id: int
    remote: str
    frames: tuple[dict[str, Any], ...]
    hello: bool
    open: bool

    def commands(self) -> list[str]:
        """The ``command`` of every frame received, in order."""
        return [str(frame.get("command")) for frame in self.frames]


@dataclass
class Conn:
    """The server side of one accepted connection (mutated under the simulator's lock)."""

    id: int
    ws: ServerConnection
    remote: str
    frames: deque[dict[str, Any]] = field(default_factory=deque)
    hello: bool = False
    open: bool = True
    user_token: str | None = None

    def info(self) -> ConnectionInfo:
        """A snapshot for introspection."""
        return ConnectionInfo(
            id=self.id,
            remote=self.remote,
            frames=tuple(dict(frame) for frame in self.frames),
            hello=self.hello,
            open=self.open,
        )


@dataclass
class Request:
    """One command being answered; its replies pass through the armed reply rule."""

    conn: Conn
    frame: dict[str, Any]
    command: str
    rule: ReplyRule | None
    out: Outbox = field(default_factory=list)

    @property
    def evse_id(self) -> str:
        """The request's ``evse_id`` (only meaningful once ownership was checked)."""
        return str(self.frame.get("evse_id"))


Outbox = list[tuple[Conn, Payload]]
"""Frames to send, each with the connection it goes to."""

Job = Callable[[], Outbox]
"""Work the timer thread runs later (under the lock); returns what to send."""


class CommandHandler:
    """Answers commands against one `Account`.

    Args:
        account: The simulated account (charge points, cards, schedules).
        faults: The armed faults (action failures are read here).
        issued: User API token -> server-issued token.
        schedule: ``schedule(delay, job)`` runs ``job`` after ``delay`` seconds.
        listeners: The connections pushes go to (open and HELLO'd).
        action_delay: Seconds between ``RECEIVED_<CMD>`` and ``STATUS_<CMD>``.
        on_change: Called when connection state observable by waiters changes.
        clock: The current time (aware datetime).
        variants: How to behave where the protocol is open (docs/PROTOCOL.md).
    """

    def __init__(
        self,
        account: Account,
        faults: FaultPlan,
        issued: Mapping[str, str],
        *,
        schedule: Callable[[float, Job], None],
        listeners: Callable[[], Iterable[Conn]],
        action_delay: Callable[[], float],
        on_change: Callable[[], None],
        clock: Callable[[], dt.datetime],
        variants: Variants | None = None,
    ) -> None:
        self.account = account
        self.variants = variants or Variants()
        self.faults = faults
        self.issued = issued
        self._schedule = schedule
        self._listeners = listeners
        self._action_delay = action_delay
        self._on_change = on_change
        self._clock = clock
        self._table = self._handlers()

    def dispatch(self, req: Request, user: str | None) -> None:
        """Answer ``req`` into ``req.out``; ``user`` is the API token its Authorization maps to.

        Order of checks: VALIDATE_API_TOKEN needs no Authorization; anything else without a
        valid one is ERROR 1; a charge point the account does not own is ERROR 2; an unknown
        command is ERROR 0.
        """
        command = req.command
        if command == "VALIDATE_API_TOKEN":
            self._validate(req)
            return
        if user is None:
            self._reply(req, error_frame(1))
            return
        req.conn.user_token = user
        if command in _NEEDS_EVSE and not self.account.owns(req.frame.get("evse_id")):
            self._reply(req, error_frame(2))
            return
        handler = self._table.get(command)
        if handler is None:
            self._reply(req, error_frame(0))
            return
        handler(req)

    def _handlers(self) -> dict[str, Callable[[Request], None]]:
        table: dict[str, Callable[[Request], None]] = {
            "HELLO": self._hello,
            "GET_ACCOUNT": self._get_account,
            "GET_CHARGE_POINTS": self._get_charge_points,
            "GET_CHARGE_CARDS": self._get_charge_cards,
            "GET_CH_STATUS": self._get_ch_status,
            "GET_CH_SETTINGS": self._get_ch_settings,
            "GET_GRID_STATUS": self._get_grid_status,
            "LIST_OVERRIDE_CURRENT": self._list_override,
            "POST_SET_OVERRIDE_CURRENT": self._set_override,
            "POST_EDIT_OVERRIDE_CURRENT": self._edit_override,
            "POST_CLEAR_OVERRIDE_CURRENT": self._clear_override,
        }
        for command in _TWO_STEP:
            table[command] = self._two_step
        for command in _SETTINGS:
            table[command] = self._setting
        for command in _SMART:
            table[command] = self._smart
        return table

    def encode(self, frame: Mapping[str, Any]) -> str:
        """A frame as text; the ``numbers`` variant makes CH_STATUS non-finite (OP-11)."""
        if self.variants.numbers == "nan" and frame.get("object") == "CH_STATUS":
            data = dict(frame.get("data") or {})
            data["total_cost"] = float("nan")
            text = json.dumps({**frame, "data": data})
            return text.replace('"max_offline": ', '"max_offline": 1e999, "_max_offline": ', 1)
        return json.dumps(frame)

    def _reply(self, req: Request, frame: Mapping[str, Any] | Payload, delay: float = 0.0) -> None:
        """Send a reply to ``req`` through its reply rule: withheld, delayed or replaced."""
        rule = req.rule
        flow_id = req.frame.get("flow_id")
        if self.variants.flow_id == "echo" and isinstance(flow_id, str) and flow_id:
            decoded = json.loads(frame) if isinstance(frame, str) else frame  # ERROR: text
            if isinstance(decoded, Mapping):
                frame = {**decoded, "flow_id": flow_id}  # OP-12: the request id comes back
        payload = frame if isinstance(frame, (str, bytes)) else self.encode(frame)
        if rule is not None:
            if rule.withhold:
                return
            delay += rule.delay
            if rule.replacement is not None:
                payload, rule.replacement = rule.replacement, None
        if delay <= 0:
            req.out.append((req.conn, payload))
        else:
            target = req.conn
            self._schedule(delay, lambda: [(target, payload)])

    def _later(self, req: Request, job: Callable[[Request], None]) -> None:
        """Run ``job`` (under the lock) after ``action_delay``; its replies go out then."""

        def run() -> Outbox:
            later = Request(req.conn, req.frame, req.command, req.rule)
            job(later)
            return later.out

        self._schedule(self._action_delay(), run)

    def push(self, out: Outbox, frame: Mapping[str, Any]) -> None:
        """Queue ``frame`` for every open, HELLO'd connection."""
        payload = self.encode(frame)
        out.extend((conn, payload) for conn in self._listeners())

    # ------------------------------------------------------------------ commands

    def _validate(self, req: Request) -> None:
        token = req.frame.get("token")
        if isinstance(token, str) and token in self.issued:
            reply: dict[str, Any] = {
                "object": "STATUS_API_TOKEN",
                "success": True,
                "token": self.issued[token],
                "customer_id": CUSTOMER_ID,
            }
        else:
            reply = {"object": "STATUS_API_TOKEN", "success": False, "error": ""}
        self._reply(req, reply)

    def _hello(self, req: Request) -> None:
        req.conn.hello = True
        self._on_change()
        if self.variants.hello == "reply":
            self._reply(req, {"object": "HELLO"})

    def _get_account(self, req: Request) -> None:
        self._reply(
            req,
            {
                "object": "ACCOUNT",
                "full_name": "Sam Simulator",
                "email": "sam@simulator.example",
                "login": "sam@simulator.example",
                "should_reset_password": False,
                "developer_mode_enabled": True,
                "tel": "",
                "marketing_target": "bluecurrent",
                "first_login_app": "01-JAN-24",
                "hubspot_user_identity": "",
            },
        )

    def _get_charge_points(self, req: Request) -> None:
        recorded = self.variants.settings_shape == "recorded"
        data = self.account.charge_points_data(recorded=recorded)
        self._reply(req, {"object": "CHARGE_POINTS", "data": data})

    def _get_charge_cards(self, req: Request) -> None:
        self._reply(req, {"object": "CHARGE_CARDS", "cards": self.account.cards_data()})

    def _get_ch_status(self, req: Request) -> None:
        self._reply(req, ch_status_frame(self._cp(req)))

    def _get_ch_settings(self, req: Request) -> None:
        self._reply(req, self.settings_frame(self._cp(req)))

    def settings_frame(self, cp: ChargePoint) -> dict[str, Any]:
        """CH_SETTINGS in the shape the ``settings_shape`` variant chooses (OP-10)."""
        if self.variants.settings_shape == "recorded":
            return {"object": "CH_SETTINGS", "data": cp.settings_data(recorded=True)}
        return ch_settings_frame(cp)

    def _get_grid_status(self, req: Request) -> None:
        grid_of = req.evse_id if self.variants.grid_id == "own" else EVSE_IDS[0]
        data = self.account.grid_status_data(grid_of)
        self._reply(req, {"object": "GRID_STATUS", "data": data})

    def _cp(self, req: Request) -> ChargePoint:
        return self.account.charge_points[req.evse_id]

    def _two_step(self, req: Request) -> None:
        cp = self._cp(req)
        received = f"RECEIVED_{req.command}"
        if req.command in _OPERATIVE and self.variants.operative == "push_only":
            self._later(req, self._finish_two_step)
            return
        if req.command == "STOP_SESSION" and not cp.charging:
            error = f"no active session for chargepoint: {cp.evse_id}"
            self._reply(req, {"object": received, "success": False, "error": error})
            return
        if req.command == "START_SESSION" and not isinstance(req.frame.get("session_token"), str):
            self._reply(req, {"object": received, "error": "session_token missing"})
            return
        if req.command == "STOP_SESSION" or (
            req.command in _OPERATIVE and self.variants.operative == "status_no_evse"
        ):
            self._reply(req, {"object": received, "success": True, "error": ""})
        else:
            self._reply(req, {"object": received, "error": ""})
        self._later(req, self._finish_two_step)

    def _finish_two_step(self, req: Request) -> None:
        cp = self._cp(req)
        command = req.command
        error = self.faults.take_action_failure(command)
        if error is None and not cp.online:
            error = "TIMEOUT"
        now = self._clock()
        changed = False
        before = cp.activity
        if error is None:
            if command == "START_SESSION":
                token = req.frame.get("session_token")
                if cp.activity != "available" or token not in self.account.card_uids():
                    error = "REJECTED"
                else:
                    cp.start_session(str(token), now, self.account.rng)
                    changed = True
            elif command == "STOP_SESSION":
                if cp.charging:
                    cp.stop_session(now, self.account.rng, "available")
                    changed = True
            elif command == "SET_INOPERATIVE":
                if cp.charging:
                    cp.stop_session(now, self.account.rng, "unavailable")
                cp.activity = "unavailable"
                changed = cp.activity != before
            elif command == "SET_OPERATIVE":
                cp.activity = "available"
                changed = cp.activity != before
        result: dict[str, Any] = {"object": f"STATUS_{command}", "success": error is None}
        operative = self.variants.operative
        if command == "STOP_SESSION" and self.variants.stop_verdict == "no_evse":
            result.update(flow_id="", error=error or "")  # documented without evse_id, result
        elif command in _OPERATIVE and operative == "status_no_evse":
            result.update(flow_id="", result={}, error=error or "")
        else:
            result.update(flow_id="", evse_id=cp.evse_id, result={}, error=error or "")
        if command not in _OPERATIVE or operative in ("ack_status", "status_no_evse"):
            self._reply(req, result)
        if changed:
            self.push(req.out, ch_status_frame(cp))

    def _setting(self, req: Request) -> None:
        if not isinstance(req.frame.get("value"), bool):
            self._reply(req, error_frame(9))
            return
        if self.variants.setting_ack == "received":
            self._reply(req, {"object": f"RECEIVED_{req.command}", "error": ""})
        self._later(req, self._finish_setting)

    def _finish_setting(self, req: Request) -> None:
        cp = self._cp(req)
        attribute = _SETTINGS[req.command]
        value = bool(req.frame["value"])
        error = self.faults.take_action_failure(req.command)
        if error is None and not cp.online:
            error = "TIMEOUT"
        if error is None:
            setattr(cp, attribute, value)
        shown = value if error is None else getattr(cp, attribute)
        reply: dict[str, Any] = {
            "object": f"STATUS_{req.command}",
            "success": error is None,
            "flow_id": "",
            "evse_id": cp.evse_id,
            "result": {"setting": f"set {str(shown).lower()}"},
            "error": error or "",
        }
        if error is not None and self.variants.setting_result == "empty":
            reply["result"] = {}
        elif error is not None and self.variants.setting_result == "absent":
            del reply["result"]
        self._reply(req, reply)
        if error is None:
            self.push(req.out, self.settings_frame(cp))

    def _smart(self, req: Request) -> None:
        problem = smart_problem(req.command, req.frame)
        if problem is not None:
            self._reply(req, {"object": f"RECEIVED_{req.command}", "error": problem})
            return
        if self.variants.smart_replies in ("ack_status", "ack_only"):
            self._reply(req, {"object": f"RECEIVED_{req.command}", "error": ""})
        self._later(req, self._finish_smart)

    def _finish_smart(self, req: Request) -> None:
        cp = self._cp(req)
        frame = req.frame
        error = self.faults.take_action_failure(req.command)
        if error is None and not cp.online:
            error = "TIMEOUT"
        if error is None:
            if req.command == "SET_DELAYED_CHARGING":
                cp.delayed_charging = bool(frame["value"])
                cp.price_based_charging = cp.price_based_charging and not cp.delayed_charging
            elif req.command == "SAVE_SCHEDULE_DELAYED_CHARGING":
                cp.delayed_schedule = {
                    key: frame[key] for key in ("days", "start_time", "end_time")
                }
            elif req.command == "SET_PRICE_BASED_CHARGING":
                cp.price_based_charging = bool(frame["value"])
                cp.delayed_charging = cp.delayed_charging and not cp.price_based_charging
            elif req.command == "PATCH_PRICE_BASED_CHARGING_SETTINGS":
                cp.price_settings.update({k: frame[k] for k in _PRICE_FIELDS if k in frame})
            elif req.command == "OVERRIDE_CHARGING_PROFILES":
                cp.boosted_price_profile = bool(frame["value"])
            else:
                cp.boosted_delayed_profile = bool(frame["value"])
        replies = self.variants.smart_replies
        if replies == "ack_only":
            return
        name = req.command if replies == "echo" else f"STATUS_{req.command}"
        self._reply(
            req,
            {
                "object": name,
                "success": error is None,
                "flow_id": "",
                "evse_id": cp.evse_id,
                "result": {},
                "error": error or "",
            },
        )

    def _list_override(self, req: Request) -> None:
        schedules = [dict(schedule) for schedule in self.account.schedules.values()]
        if self.variants.override_list == "data":
            self._reply(req, {"object": "LIST_OVERRIDE_CURRENT", "data": schedules})
            return
        # Blue Current's published example: keyed "command", one row per charge point.
        rows = [
            {
                "schedule_id": schedule["schedule_id"],
                "schedule_type": "OVERRIDE",
                "start_time": schedule["start_time"],
                "stop_time": schedule["stop_time"],
                "days_of_week": schedule["override_start_days"],
                "chargepoint_id": evse_id,
            }
            for schedule in schedules
            for evse_id in schedule["charge_points"]
        ]
        reply = {"command": "LIST_OVERRIDE_CURRENT", "success": True, "error": None}
        self._reply(req, {**reply, "result": rows})

    def _set_override(self, req: Request) -> None:
        fields = schedule_fields(req.frame)
        if fields is None:
            self._reply(req, error_frame(9))
            return
        if not all(self.account.owns(evse) for evse in fields["charge_points"]):
            self._reply(req, error_frame(2))
            return
        schedule = self.account.add_schedule(fields)
        self._reply(req, {"object": req.command, "data": schedule})

    def _edit_override(self, req: Request) -> None:
        fields = schedule_fields(req.frame)
        schedule_id = str(req.frame.get("schedule_id"))
        if fields is None:
            self._reply(req, error_frame(9))
            return
        if schedule_id not in self.account.schedules or not all(
            self.account.owns(evse) for evse in fields["charge_points"]
        ):
            self._reply(req, error_frame(2))
            return
        self.account.schedules[schedule_id] = {"schedule_id": schedule_id, **fields}
        data = dict(self.account.schedules[schedule_id])
        self._reply(req, {"object": req.command, "data": data})

    def _clear_override(self, req: Request) -> None:
        schedule_id = str(req.frame.get("schedule_id"))
        if self.account.schedules.pop(schedule_id, None) is None:
            reply = {"object": req.command, "success": False, "error": "schedule not found"}
        else:
            reply = {"object": req.command, "success": True, "error": ""}
        self._reply(req, reply)

    def tick(self, hours: float) -> Outbox:
        """Advance simulated time by ``hours``; returns the pushes that causes."""
        out: Outbox = []
        for cp in self.account.charge_points.values():
            if cp.charging:
                cp.advance(self.account.rng, hours)
                self.push(out, ch_status_frame(cp))
        first = self.account.charge_points[EVSE_IDS[0]]
        p1, p2, p3 = self.account.grid_phases()
        self.push(
            out,
            {
                "object": "GRID_CURRENT",
                "evse_id": first.evse_id,
                "grid_actual_p1": p1,
                "grid_actual_p2": p2,
                "grid_actual_p3": p3,
            },
        )
        return out


# --------------------------------------------------------------------- frames


def error_frame(code: int) -> str:
    """An ERROR frame (as text) with the standard message for ``code``."""
    return json.dumps({"object": "ERROR", "error": code, "message": ERROR_TEXT[code]})


def ch_status_frame(cp: ChargePoint) -> dict[str, Any]:
    """CH_STATUS: evse_id at the top level and inside ``data``."""
    return {"object": "CH_STATUS", "evse_id": cp.evse_id, "data": cp.status_data()}


def ch_settings_frame(cp: ChargePoint) -> dict[str, Any]:
    """CH_SETTINGS: evse_id only inside ``data``."""
    return {"object": "CH_SETTINGS", "data": cp.settings_data()}


def smart_problem(command: str, frame: Mapping[str, Any]) -> str | None:
    """Why a smart-charging command frame is invalid, or None when it is fine."""
    if command == "SAVE_SCHEDULE_DELAYED_CHARGING":
        for key in ("days", "start_time", "end_time"):
            if not isinstance(frame.get(key), str):
                return f"invalid {key}"
        return None
    if command == "PATCH_PRICE_BASED_CHARGING_SETTINGS":
        for key, kind in _PRICE_FIELDS.items():
            value = frame.get(key)
            if key in frame and (not isinstance(value, kind) or isinstance(value, bool)):
                return f"invalid {key}"
        return None
    if not isinstance(frame.get("value"), bool):
        return "invalid value"
    return None
