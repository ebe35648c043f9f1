"""The simulator's websocket server: lifecycle, connections, quota, timers, knobs, introspection.

The protocol logic (what each command answers) lives in `_commands`; the account's state in
`_state`; armed faults and malformed frames in `_faults`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import heapq
import itertools
import json
import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response
from websockets.sync.server import Server, ServerConnection, serve

from .. import _clock
from .._args import (
    require_age,
    require_bool,
    require_factor,
    require_int,
    require_optional_timeout,
    require_path,
    require_port,
    require_text,
    require_timeout,
)
from .._log import SIMULATOR
from ._commands import (
    CommandHandler,
    Conn,
    ConnectionInfo,
    Job,
    Outbox,
    Request,
    ch_status_frame,
    error_frame,
)
from ._faults import MALFORMED_KINDS, ActionFailure, FaultPlan, Payload, ReplyRule, malformed_frame
from ._replay import Recording, replay_handler
from ._state import AMSTERDAM, EVSE_IDS, Account, wire_time
from ._variants import Variants

__all__ = [
    "ALREADY_CONNECTED_REASON",
    "DEFAULT_TOKEN",
    "LIMIT_CLOSE_CODE",
    "LIMIT_REASON",
    "REJECT_HEADER",
    "ConnectionInfo",
    "Simulator",
]

logger = logging.getLogger(SIMULATOR)
#: The longest single wait of the timer thread: it wakes at least this often (a timer due
#: absurdly far ahead, e.g. 1e300 s, must not overflow Condition.wait and end the thread).
_MAX_TIMER_WAIT = 3600.0

DEFAULT_TOKEN = "sim-api-token-0123456789"  # noqa: S105 - a public test token
"""The API token every simulator accepts unless told otherwise."""

REJECT_HEADER = "x-websocket-reject-reason"
LIMIT_REASON = "Request limit reached"
ALREADY_CONNECTED_REASON = "Already connected"
LIMIT_CLOSE_CODE = 4001
#: Default seconds a connection may take to complete its opening handshake.
OPEN_TIMEOUT = 5.0


def _check_tokens(tokens: Iterable[str]) -> tuple[str, ...]:
    """The accepted API tokens as a tuple: at least one, each a non-empty string."""
    if isinstance(tokens, str | bytes):
        raise TypeError("tokens must be a list of tokens, not one string")
    checked = tuple(require_text("tokens[]", token) for token in tokens)
    if not checked:
        raise ValueError("the simulator needs at least one token")
    return checked


@dataclass
class _ThreadSlot:
    sock: socket.socket
    ws: ServerConnection | None = None


class Simulator:
    """A local Blue Current websocket server for tests, demos and benchmarks.

    See the package docstring for the scenario and every knob. The constructor only stores
    configuration; [`start()`][bluecurrent_sync.simulator.Simulator.start] binds the port and starts
    the threads.

    Args:
        tokens: The API tokens VALIDATE_API_TOKEN accepts.
        push_interval: Seconds between pushes (CH_STATUS of charging charge points and a
            GRID_CURRENT); None disables timed pushes
            ([`push_now()`][bluecurrent_sync.simulator.Simulator.push_now] still works).
        action_delay: Seconds between RECEIVED_<CMD> and STATUS_<CMD> of device commands.
        seed: Seed of the simulator's ``random.Random``.
        host: Interface to bind; loopback by default.
        port: Port to bind; 0 picks a free one.
        quota: Commands each token may send per "day" (the simulator's lifetime, until
            [`reset_quota()`][bluecurrent_sync.simulator.Simulator.reset_quota]); None means
            unlimited.
        single_connection: Refuse a handshake from an IP that already holds a main
            (HELLO'd) connection, with 403 ``Already connected``.
        time_scale: Simulated seconds per real second for energy accounting.
        ping_interval: Server keepalive pings; None (default) sends none.
        close_timeout: Seconds [`stop()`][bluecurrent_sync.simulator.Simulator.stop] and 4001 closes
            wait for the client's close frame.
        clock: Returns the current time as an aware datetime (default: the system clock);
            used for session timestamps and the quota day.
        history: Bound of each introspection record.
        variants: How to behave where the protocol is open: variant name -> value (see
            ``VARIANTS`` and docs/PROTOCOL.md); unnamed variants take their default.

        replay: A capture file (``Client(record=...)``) to replay instead of the built-in
            scenario: the recorded account, answers and pushes (the "Capture, replay" guide).
        replay_speed: How much faster than recorded the replayed answers and pushes come.


    Raises:
        ValueError: An invalid option value (a negative ``quota``, a ``port`` outside
            0-65535, a zero or negative interval, ...) or an unknown variant name or value;
            the message names the parameter.
        TypeError: An option of the wrong type (``tokens`` a single string, ``port`` not an
            ``int``, ...).
        CaptureError: ``replay`` is not a capture, or a line of it breaks the format (too
            long, too deeply nested, a bad ``t`` or ``seq``); the message names the line (a
            ``ValueError``).
        OSError: ``replay`` cannot be read or is not a regular file (FileNotFoundError for a
            missing file).
    """

    def __init__(
        self,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        *,
        push_interval: float | None = 1.0,
        action_delay: float = 0.2,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        quota: int | None = None,
        single_connection: bool = False,
        time_scale: float = 60.0,
        ping_interval: float | None = None,
        close_timeout: float = 1.0,
        clock: Callable[[], dt.datetime] | None = None,
        history: int = 100_000,
        replay: str | os.PathLike[str] | None = None,
        replay_speed: float = 1.0,
        variants: Mapping[str, str] | None = None,
    ) -> None:
        self.variants = Variants(variants)
        self._tokens = _check_tokens(tokens)
        self._history_size = require_int("history", history, minimum=1)
        push_interval = require_optional_timeout("push_interval", push_interval)
        action_delay = require_age("action_delay", action_delay)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be a whole number, got {type(seed).__name__}")
        require_text("host", host)
        require_port("port", port)
        if quota is not None:
            require_int("quota", quota, minimum=0)
        require_bool("single_connection", single_connection)
        time_scale = require_factor("time_scale", time_scale)
        ping_interval = require_optional_timeout("ping_interval", ping_interval)
        close_timeout = require_timeout("close_timeout", close_timeout)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be callable or None, got {type(clock).__name__}")
        require_factor("replay_speed", replay_speed)  # checked with or without a replay
        if replay is not None:
            require_path("replay", replay)
        self.push_interval = push_interval
        self.action_delay = action_delay
        self.seed = seed
        self.host = host
        self._port = port
        self.quota = quota
        self.single_connection = single_connection
        self.time_scale = time_scale
        self._ping_interval = ping_interval
        self._close_timeout = close_timeout
        #: Seconds a connection may take to complete its opening handshake.
        self.open_timeout = OPEN_TIMEOUT

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._rng = random.Random(seed)
        self._clock = clock or _system_now
        make_handler: Callable[..., CommandHandler] = CommandHandler
        self.replay: Recording | None = None
        if replay is not None:
            self.replay, make_handler = replay_handler(replay, replay_speed)
            self._account = self.replay.build_account(self._rng, self._clock())
        else:
            self._account = Account(self._rng, self._clock())
        self._quota_day = _amsterdam_day(self._clock())
        self._issued = {token: self._issue(token) for token in self._tokens}
        self._owner_of_issued = {issued: token for token, issued in self._issued.items()}
        self._faults = FaultPlan()
        self._commands = make_handler(
            self._account,
            self._faults,
            self._issued,
            schedule=self._schedule,
            listeners=self._listeners,
            action_delay=lambda: self.action_delay,
            on_change=self._changed.notify_all,
            clock=self._clock,
            variants=self.variants,
        )

        self._counts: dict[str, int] = {}
        self._exhausted: set[str] = set()
        self._token_ips: dict[str, set[str]] = {}
        self._blocked_ips: set[str] = set()
        self._block_all = False

        self._conns: dict[int, Conn] = {}
        # Introspection records are bounded so a long-running simulator stays flat in memory.
        self._history: deque[Conn] = deque(maxlen=history)
        self._received: deque[dict[str, Any]] = deque(maxlen=history)
        self._refusals: deque[str] = deque(maxlen=history)
        self._sent: deque[tuple[int, Payload]] = deque(maxlen=history)
        self._conn_ids = itertools.count(1)

        self._timers: list[tuple[float, int, Job]] = []
        self._timer_seq = itertools.count()
        self._threads: dict[threading.Thread, _ThreadSlot] = {}
        self._server: Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._push_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._running = False
        self._timer_flushing = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port (the requested one before
        [`start()`][bluecurrent_sync.simulator.Simulator.start])."""
        return self._port

    @property
    def url(self) -> str:
        """``ws://<host>:<port>/haserver``; valid after
        [`start()`][bluecurrent_sync.simulator.Simulator.start]."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self._port}/haserver"

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._running

    def start(self) -> Simulator:
        """Bind the port and start the accept and push threads; returns self.

        Raises:
            RuntimeError: Already running.
            OSError: The port cannot be bound.
        """
        with self._lock:
            if self._running:
                raise RuntimeError("simulator already running")
            self._stopping.clear()
            server = serve(
                self._handle,
                self.host,
                self._port,
                process_request=self._process_request,
                compression=None,
                ping_interval=self._ping_interval,
                close_timeout=self._close_timeout,
                open_timeout=self.open_timeout,
            )
            self._port = server.socket.getsockname()[1]
            handshake = server.handler

            def tracked(sock: socket.socket, addr: Any) -> None:
                self._track_connection_thread(handshake, sock, addr)

            server.handler = tracked
            self._server = server
            self._running = True
            self._serve_thread = threading.Thread(
                target=server.serve_forever, name="bluecurrent-sync-sim-accept", daemon=True
            )
            self._push_thread = threading.Thread(
                target=self._timer_loop, name="bluecurrent-sync-sim-push", daemon=True
            )
        self._serve_thread.start()
        self._push_thread.start()
        logger.info("simulator listening on %s", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection (code 1001), stop all threads and free the port.

        Idempotent. Waits at most about ``timeout`` seconds per thread.
        """
        with self._changed:
            if not self._running:
                return
            self._running = False
            self._stopping.set()
            self._timers.clear()
            self._changed.notify_all()
            server, self._server = self._server, None
        if self._push_thread is not None:
            self._push_thread.join(timeout)
        if server is not None:
            server.shutdown()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout)
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            conn.ws.close(1001, "simulator stopping")
        self._join_connection_threads(timeout)
        logger.info("simulator on port %d stopped", self._port)

    def restart(self) -> None:
        """Stop and start again on the same port, keeping all state and records."""
        self.stop()
        self.start()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Simulator {self.url} {state} {self.variants!r}>"

    def _track_connection_thread(
        self, handshake: Callable[[socket.socket, Any], None], sock: socket.socket, addr: Any
    ) -> None:
        thread = threading.current_thread()
        thread.name = "bluecurrent-sync-sim-conn"
        with self._lock:
            self._threads[thread] = _ThreadSlot(sock)
        try:
            handshake(sock, addr)
        finally:
            with self._lock:
                slot = self._threads.pop(thread)
            if slot.ws is not None:
                slot.ws.recv_events_thread.join(self._close_timeout + 1.0)

    def _join_connection_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # A peer still in its handshake (a half-open socket that sends nothing) would hold its
        # thread until the open timeout: cut it now, nothing is lost.
        with self._lock:
            handshaking = [slot.sock for slot in self._threads.values() if slot.ws is None]
        for sock in handshaking:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the thread wakes, fails its read and ends
        while True:
            with self._lock:
                pending = list(self._threads.items())
            if not pending:
                return
            thread, slot = pending[0]
            thread.join(max(deadline - time.monotonic(), 0.05))
            if thread.is_alive():
                # Still in the handshake (or a stuck peer): cut the socket so it ends.
                if slot.ws is not None:
                    slot.ws.close_socket()
                else:
                    _shutdown_socket(slot.sock)
                thread.join(1.0)
                if thread.is_alive():
                    logger.warning("simulator connection thread did not stop")
                    with self._lock:
                        self._threads.pop(thread, None)

    # ---------------------------------------------------------------- handshake

    def _process_request(
        self, connection: ServerConnection, request: HttpRequest
    ) -> Response | None:
        ip = _ip_of(connection)
        with self._lock:
            self._roll_quota_day()
            reason = None
            if self._block_all or ip in self._blocked_ips:
                reason = LIMIT_REASON
            elif self.single_connection and any(
                conn.hello and conn.open and conn.remote == ip for conn in self._conns.values()
            ):
                reason = ALREADY_CONNECTED_REASON
            if reason is None:
                return None
            self._refusals.append(reason)
            self._changed.notify_all()
        response = connection.respond(HTTPStatus.FORBIDDEN, f"{reason}\n")
        response.headers[REJECT_HEADER] = reason
        return response

    # --------------------------------------------------------------- connection

    def _handle(self, ws: ServerConnection) -> None:
        with self._changed:
            slot = self._threads.get(threading.current_thread())
            if slot is not None:
                slot.ws = ws
            conn = Conn(
                id=next(self._conn_ids),
                ws=ws,
                remote=_ip_of(ws),
                frames=deque(maxlen=self._history_size),
            )
            self._conns[conn.id] = conn
            self._history.append(conn)
            self._changed.notify_all()
            stopping = not self._running
        try:
            if stopping:
                ws.close(1001, "simulator stopping")
            while True:
                try:
                    message = ws.recv()
                except ConnectionClosed:
                    break
                self._on_message(conn, message)
        finally:
            with self._changed:
                conn.open = False
                self._conns.pop(conn.id, None)
                self._changed.notify_all()

    def _on_message(self, conn: Conn, message: str | bytes) -> None:
        frame: object = None
        if isinstance(message, str):
            try:
                frame = json.loads(message)
            except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
                frame = None
        with self._changed:
            if isinstance(frame, dict):
                conn.frames.append(frame)
                self._received.append(frame)
                self._changed.notify_all()
            command = frame.get("command") if isinstance(frame, dict) else None
            drop = self._faults.frame_received()
            if isinstance(command, str) and command in self._faults.drop_on_commands:
                self._faults.drop_on_commands.discard(command)
                drop = True
        if drop:
            self.drop_all()
            return
        if not isinstance(frame, dict):
            self._flush([(conn, error_frame(9))])
            return
        if not isinstance(command, str):
            self._flush([(conn, error_frame(0))])
            return
        close_for_limit = False
        with self._lock:
            user = self._attribute(frame)
            if user is not None and self._spend_quota(user, conn.remote):
                out: Outbox = [(conn, error_frame(42))]
                close_for_limit = True
            else:
                request = Request(conn, frame, command, self._faults.take_reply_rule(command))
                try:
                    self._commands.dispatch(request, user)
                    out = request.out
                except Exception:
                    logger.exception("simulator failed to handle %s", command)
                    out = [(conn, error_frame(9))]
        self._flush(out)
        if close_for_limit:
            conn.ws.close(LIMIT_CLOSE_CODE, LIMIT_REASON)

    def _attribute(self, frame: dict[str, Any]) -> str | None:
        """The configured user token a frame counts against, if it can be told."""
        if frame.get("command") == "VALIDATE_API_TOKEN":
            token = frame.get("token")
            return token if isinstance(token, str) and token in self._issued else None
        auth = frame.get("Authorization")
        if isinstance(auth, str) and auth.startswith("Token "):
            return self._owner_of_issued.get(auth[len("Token ") :])
        return None

    def _roll_quota_day(self) -> None:
        """Reset the quota at midnight Europe/Amsterdam, as the real server does."""
        today = _amsterdam_day(self._clock())
        if today != self._quota_day:
            self._quota_day = today
            self._reset_quota_locked()

    def _spend_quota(self, user: str, ip: str) -> bool:
        """Count one request for ``user``; True when it is past the quota."""
        self._roll_quota_day()
        self._token_ips.setdefault(user, set()).add(ip)
        if user in self._exhausted:
            self._blocked_ips.add(ip)
            return True
        used = self._counts.get(user, 0)
        if self.quota is not None and used >= self.quota:
            self._exhausted.add(user)
            self._blocked_ips |= self._token_ips[user]
            return True
        self._counts[user] = used + 1
        return False

    def _schedule(self, delay: float, job: Job) -> None:
        due = time.monotonic() + delay
        heapq.heappush(self._timers, (due, next(self._timer_seq), job))
        self._changed.notify_all()

    # ------------------------------------------------------------ pushes, timer

    def _timer_loop(self) -> None:
        interval = self.push_interval
        next_push = time.monotonic() + interval if interval is not None else None
        while not self._stopping.is_set():
            out: Outbox = []
            with self._changed:
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, job = heapq.heappop(self._timers)
                    out.extend(self._run_job(job))
                if next_push is not None and interval is not None and now >= next_push:
                    out.extend(self._tick(interval))
                    next_push = max(next_push + interval, now)
                if not out:
                    wakeups = [self._timers[0][0]] if self._timers else []
                    if next_push is not None:
                        wakeups.append(next_push)
                    wait = min(wakeups) - now if wakeups else None
                    if wait is not None:  # a far-off timer must not overflow the wait
                        wait = min(wait, _MAX_TIMER_WAIT)
                    if not self._stopping.is_set():
                        self._changed.wait(wait)
                    continue
                self._timer_flushing = True
            try:
                self._flush(out)
            finally:
                with self._changed:
                    self._timer_flushing = False
                    self._changed.notify_all()

    def _tick(self, interval: float) -> Outbox:
        """Advance simulated time by one push interval of ``interval`` real seconds."""
        return self._commands.tick(interval * self.time_scale / 3600.0)

    def _listeners(self) -> list[Conn]:
        """The connections pushes go to: open and HELLO'd."""
        return [conn for conn in self._conns.values() if conn.hello and conn.open]

    def _run_job(self, job: Job) -> Outbox:
        try:
            return job()
        except Exception:
            logger.exception("simulator job failed")
            return []

    def _flush(self, out: Outbox) -> None:
        """Send queued frames, outside the lock; a closed peer is skipped."""
        for conn, payload in out:
            # Recorded before sending, so whatever a client has received is already listed.
            with self._changed:
                self._sent.append((conn.id, payload))
                self._changed.notify_all()
            try:
                conn.ws.send(payload)
            except (ConnectionClosed, OSError, RuntimeError):
                logger.debug("simulator: connection %d gone, frame dropped", conn.id)

    # ------------------------------------------------------------ fault knobs

    def push_now(self) -> None:
        """Run one push tick immediately (CH_STATUS of charging points, GRID_CURRENT)."""
        with self._lock:
            out = self._tick(self.push_interval or 1.0)
        self._flush(out)

    def drop_all(self) -> int:
        """Cut every connection abruptly (no close frame); returns how many were cut."""
        with self._changed:
            conns = [conn for conn in self._conns.values() if conn.open]
            for conn in conns:
                conn.open = False
            self._changed.notify_all()
        for conn in conns:
            conn.ws.close_socket()
        return len(conns)

    def drop_after(self, frames: int) -> None:
        """Cut every connection when ``frames`` more frames have been received (any connection)."""
        if frames < 1:
            raise ValueError("frames must be at least 1")
        with self._lock:
            self._faults.drop_after_frames = frames

    def drop_on(self, command: str) -> None:
        """Cut every connection when ``command`` next arrives, before it is answered."""
        with self._lock:
            self._faults.drop_on_commands.add(command)

    def delay_reply(self, command: str, seconds: float, *, once: bool = True) -> None:
        """Delay every reply to ``command`` by ``seconds`` (the next one, or always)."""
        with self._lock:
            self._faults.reply_rules.append(ReplyRule(command, delay=seconds, once=once))

    def withhold_reply(self, command: str, *, once: bool = True) -> None:
        """Never answer ``command`` (the next one, or always); its effect still happens."""
        with self._lock:
            self._faults.reply_rules.append(ReplyRule(command, withhold=True, once=once))

    def corrupt_reply(self, command: str, frame: str | bytes, *, once: bool = True) -> None:
        """Send ``frame`` instead of the first reply to ``command``.

        ``frame`` is a kind from ``MALFORMED_KINDS`` (e.g. ``"not_json"``) or the raw text or
        bytes to send.
        """
        payload = _malformed_or_raw(frame)
        with self._lock:
            self._faults.reply_rules.append(ReplyRule(command, replacement=payload, once=once))

    def fail_action(self, command: str, error: str = "REJECTED", *, once: bool = True) -> None:
        """Make the STATUS_ result of a device or setting command fail with ``error``."""
        with self._lock:
            self._faults.action_failures[command] = ActionFailure(error, once)

    def clear_faults(self) -> None:
        """Disarm every armed fault."""
        with self._lock:
            self._faults.clear()

    def inject(self, frame: Mapping[str, Any] | str | bytes, *, main_only: bool = True) -> int:
        """Send ``frame`` (dict as JSON, str as text, bytes as binary) to connected clients.

        Args:
            frame: What to send.
            main_only: Only to connections that said HELLO; False sends to every connection.

        Returns:
            The number of connections it was sent to.
        """
        payload = frame if isinstance(frame, (str, bytes)) else json.dumps(frame)
        with self._lock:
            out: Outbox = [
                (conn, payload)
                for conn in self._conns.values()
                if conn.open and (conn.hello or not main_only)
            ]
        self._flush(out)
        return len(out)

    def send_malformed(self, kind: str, *, evse_id: str = EVSE_IDS[0]) -> int:
        """Send a malformed frame of ``kind`` (see ``MALFORMED_KINDS``) to HELLO'd clients."""
        return self.inject(malformed_frame(kind, evse_id))

    def flood(self, count: int, *, evse_id: str = EVSE_IDS[0]) -> int:
        """Push ``count`` CH_STATUS frames for ``evse_id`` as fast as possible.

        Energy rises by one watt-hour per frame. Runs in the calling thread.

        Returns:
            The number of frames sent, summed over the HELLO'd connections.
        """
        with self._lock:
            cp = self._account.charge_points[evse_id]
            base = cp.status_data()
            conns = self._listeners()
        sent = 0
        for i in range(count):
            data = dict(base, actual_kwh=round(base["actual_kwh"] + (i + 1) / 1000, 3))
            payload = json.dumps({"object": "CH_STATUS", "evse_id": evse_id, "data": data})
            for conn in conns:
                try:
                    conn.ws.send(payload)
                    sent += 1
                except (ConnectionClosed, OSError, RuntimeError):
                    continue
        return sent

    def exhaust_quota(self, token: str | None = None) -> None:
        """Use up the quota of ``token`` (default: every configured token).

        The next command with that token gets ERROR 42 and close code 4001; new handshakes
        from the IPs it was used from (every IP if it was never used) are refused with 403.
        """
        with self._lock:
            for user in (token,) if token is not None else self._tokens:
                self._exhausted.add(user)
                ips = self._token_ips.get(user)
                if ips:
                    self._blocked_ips |= ips
                else:
                    self._block_all = True

    def reset_quota(self) -> None:
        """Start a new quota day: counts to zero, nothing exhausted, no IP refused.

        Happens by itself at midnight Europe/Amsterdam (by the simulator's clock).
        """
        with self._lock:
            self._reset_quota_locked()

    def _reset_quota_locked(self) -> None:
        self._counts.clear()
        self._exhausted.clear()
        self._blocked_ips.clear()
        self._block_all = False

    def set_offline(self, evse_id: str, offline: bool = True) -> None:
        """Take a charge point offline (ends its session) or bring it back as available."""
        with self._lock:
            cp = self._account.charge_points[evse_id]
            now = self._clock()
            if offline and cp.online:
                cp.activity = "offline"
                cp.offline_since = wire_time(now)
                cp.vehicle_status = "A"
                cp.session_card = ""
            elif not offline and not cp.online:
                cp.activity = "available"
                cp.offline_since = ""
            cp.refresh_measurements(self._rng)
            out: Outbox = []
            self._commands.push(out, ch_status_frame(cp))
        self._flush(out)

    # ---------------------------------------------------------- introspection

    def issued_token(self, token: str = DEFAULT_TOKEN) -> str:
        """The server-issued token VALIDATE_API_TOKEN hands out for ``token``."""
        return self._issued[token]

    @property
    def tokens(self) -> tuple[str, ...]:
        """The accepted API tokens."""
        return self._tokens

    @property
    def active_connections(self) -> int:
        """Connections currently open."""
        with self._lock:
            return sum(1 for conn in self._conns.values() if conn.open)

    def connections(self) -> list[ConnectionInfo]:
        """Every connection accepted so far (open or closed), oldest first."""
        with self._lock:
            return [conn.info() for conn in self._history]

    def received(self, command: str | None = None) -> list[dict[str, Any]]:
        """Every JSON-object frame received (optionally only ``command``), in arrival order."""
        with self._lock:
            return [
                dict(frame)
                for frame in self._received
                if command is None or frame.get("command") == command
            ]

    def sent(self, object_name: str | None = None) -> list[dict[str, Any]]:
        """Every JSON object sent (optionally only ``object_name``), in order.

        Covers replies, pushes and injected frames (also those a vanished peer never got); not
        [`flood()`][bluecurrent_sync.simulator.Simulator.flood] frames, and not non-JSON or
        non-object payloads.
        """
        with self._lock:
            payloads = [payload for _, payload in self._sent]
        frames = [_as_object(payload) for payload in payloads]
        return [
            frame
            for frame in frames
            if frame is not None and (object_name is None or frame.get("object") == object_name)
        ]

    def wait_for_sent(
        self, object_name: str, *, count: int = 1, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Block until ``count`` ``object_name`` frames were sent; return the last of them.

        Raises:
            TimeoutError: Fewer were sent within ``timeout`` seconds.
        """

        def matching() -> list[dict[str, Any]]:
            frames = (_as_object(payload) for _, payload in self._sent)
            return [f for f in frames if f is not None and f.get("object") == object_name]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"{object_name} x{count} not sent within {timeout} s")
            return matching()[count - 1]

    def count(self, command: str) -> int:
        """How many ``command`` frames arrived, over all connections."""
        return len(self.received(command))

    def request_counts(self) -> dict[str, int]:
        """Quota used per API token."""
        with self._lock:
            return dict(self._counts)

    def refusals(self) -> list[str]:
        """The reject reason of every refused handshake, in order."""
        with self._lock:
            return list(self._refusals)

    def charge_point(self, evse_id: str) -> dict[str, Any]:
        """The current CH_STATUS ``data`` of ``evse_id`` plus its smart-charging state."""
        with self._lock:
            cp = self._account.charge_points[evse_id]
            data = cp.status_data()
            data.update(
                plug_and_charge=cp.plug_and_charge,
                public_charging=cp.public_charging,
                delayed_charging=cp.delayed_charging,
                delayed_schedule=dict(cp.delayed_schedule),
                price_based_charging=cp.price_based_charging,
                price_settings=dict(cp.price_settings),
                boosted_price_profile=cp.boosted_price_profile,
                boosted_delayed_profile=cp.boosted_delayed_profile,
            )
            return data

    def wait_for(self, command: str, *, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """Block until ``count`` ``command`` frames have arrived; return the last of them.

        Raises:
            TimeoutError: Fewer arrived within ``timeout`` seconds.
        """
        with self._changed:
            ok = self._changed.wait_for(lambda: self._count_locked(command) >= count, timeout)
            if not ok:
                raise TimeoutError(f"{command} x{count} not received within {timeout} s")
            frames = [f for f in self._received if f.get("command") == command]
            return dict(frames[count - 1])

    def wait_for_connections(
        self, count: int, *, hello: bool = False, timeout: float = 5.0
    ) -> None:
        """Block until exactly ``count`` connections are open (with HELLO, if ``hello``).

        Raises:
            TimeoutError: Not reached within ``timeout`` seconds.
        """

        def reached() -> bool:
            open_conns = [c for c in self._conns.values() if c.open and (c.hello or not hello)]
            return len(open_conns) == count

        with self._changed:
            if not self._changed.wait_for(reached, timeout):
                raise TimeoutError(f"never {count} open connections within {timeout} s")

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until no delayed reply or device action is pending (timed pushes aside).

        Raises:
            TimeoutError: Still busy after ``timeout`` seconds.
        """
        with self._changed:
            idle = self._changed.wait_for(
                lambda: not self._timers and not self._timer_flushing, timeout
            )
            if not idle:
                raise TimeoutError(f"simulator still busy after {timeout} s")

    def _count_locked(self, command: str) -> int:
        return sum(1 for frame in self._received if frame.get("command") == command)

    def _issue(self, token: str) -> str:
        digest = hashlib.sha256(f"{self.seed}:{token}".encode()).hexdigest()
        return f"srv-{digest[:32]}"


# --------------------------------------------------------------------- helpers


def _system_now() -> dt.datetime:
    return _clock.now()


def _amsterdam_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(AMSTERDAM).date()


def _as_object(payload: Payload) -> dict[str, Any] | None:
    try:
        frame = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


def _ip_of(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "?"


def _shutdown_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _malformed_or_raw(frame: str | bytes) -> Payload:
    if isinstance(frame, str) and frame in MALFORMED_KINDS:
        return malformed_frame(frame)
    return frame
