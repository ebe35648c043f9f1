"""The synchronous Blue Current client: one blocking method per command.

Threads (all daemon, all joined by :meth:`Client.close` with a timeout):

* ``bluecurrent-sync-reader`` reads the socket whenever no call is waiting: it routes every
  frame to the waiting calls (by object name and evse_id, PROTOCOL.md 9.1) and to the
  dispatcher, watches liveness and reconnects after a drop. A call waiting for its reply
  reads and routes frames itself while nobody else does (leader/follower), so its reply
  needs no hand-off between threads; concurrent calls take turns.
* ``bluecurrent-sync-dispatch`` runs event handlers in arrival order, each isolated.

Blocking calls are safe from any thread, including from inside an event handler (handlers do
not run on the reader thread, so the reply can still arrive).
"""

from __future__ import annotations

import datetime as _dt
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

import attrs

from . import _protocol as proto
from ._connection import Backoff, Connection, check_url, copy_error, reset_after_fork
from ._convert import WireConverter
from ._dispatch import ANY, Dispatcher, EventStream, Handler
from ._pending import ACKNOWLEDGED, PendingTable, Waiter
from ._protocol import Role
from ._redact import Redactor
from ._router import Router
from ._tap import TapSet
from .errors import (
    ActionFailed,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    RequestTimeoutError,
    ResponseValidationError,
)
from .models import (
    ActionResult,
    ChargeCard,
    ChargePoint,
    ChSettings,
    ChStatus,
    GridStatus,
    OverrideSchedule,
    RawEvent,
    SettingResult,
    account_email,
)

__all__ = ["DEFAULT_URL", "Client"]

DEFAULT_URL = "wss://motown.bluecurrent.nl/haserver"

#: Pseudo object names of the connection-state events (see :meth:`Client.on`).
CONNECTED_EVENT = "connected"
DISCONNECTED_EVENT = "disconnected"

T = TypeVar("T")
H = TypeVar("H", bound=Handler)
Weekday = int | str
TimeOfDay = _dt.time | str


class Client:
    """A synchronous client for the Blue Current charge-point websocket API.

    Example::

        with Client(api_token) as client:
            for cp in client.get_charge_points():
                print(cp.evse_id, client.get_status(cp.evse_id).activity)

    Args:
        api_token: The API token from my.bluecurrent.nl (never logged or shown in reprs).
        url: The websocket URL.
        timeout: Seconds to wait for connecting and for the reply to an ordinary request.
        action_timeout: Seconds to wait for the result of a two-step device command
            (start/stop session, reset, reboot, block/unblock); the server may take ~30 s.
        reconnect: Reconnect automatically (exponential backoff with jitter) after a drop.
        allow_insecure: Allow plain ``ws://`` to a non-loopback host.
        max_frame_bytes: Incoming frames larger than this are dropped with a warning.
        event_queue_size: Bound of the dispatcher queue and of every :meth:`events` stream;
            when full, the OLDEST queued event is dropped (and counted).
        reconnect_delay: ``(initial, maximum)`` seconds of the reconnect backoff.
        sslopt: TLS options in websocket-client's style (``{"context": ssl_context}``,
            ``cert_reqs``, ``ca_certs``, ...); default: a verifying default context.
        ping_interval: Seconds of server silence before a keepalive ping (None: no pings).
        ping_timeout: Further seconds of silence after which the connection counts as lost.
            Silence means no complete frame: a server dripping bytes does not count as alive.
        connect_timeout: One deadline in seconds for the whole of :meth:`connect` (TCP, TLS,
            HTTP upgrade, token validation, HELLO) and for each reconnect attempt; None
            (default): ``timeout``.
        hello_timeout: Seconds to wait for the HELLO reply (capped by ``connect_timeout``);
            any pushed frame ends the wait early, and silence that long counts as connected.

    Raises:
        ValueError: For a non-websocket URL, ``ws://`` to a non-loopback host without
            ``allow_insecure=True``, a non-positive timeout, or an unsupported ``sslopt`` key
            (supported: context, cert_reqs, check_hostname, ca_certs, ca_cert_path, certfile,
            keyfile).

    Errors every request method may raise (besides those it lists itself):

    * :class:`~bluecurrent_sync.errors.ClientStateError` before :meth:`connect`, after
      :meth:`close`, or from the reader thread;
    * :class:`~bluecurrent_sync.errors.ConnectionClosedError` when the connection is down
      (raised at once, the call is not queued) or drops while the call waits (at once, not
      after the timeout); a non-idempotent command is never re-sent automatically;
    * :class:`~bluecurrent_sync.errors.RequestLimitReached` (ERROR 42, close code 4001): from
      then until ``reset_at`` every call raises it at once without touching the network;
    * :class:`~bluecurrent_sync.errors.InvalidApiToken` (ERROR 1; the token is validated
      again once first) and :class:`~bluecurrent_sync.errors.AlreadyConnected` (after
      repeated refusals while reconnecting): when they stop reconnection, every later call
      raises them until the client is closed;
    * :class:`~bluecurrent_sync.errors.RequestTimeoutError` after ``timeout`` (or
      ``action_timeout`` for two-step device commands);
    * :class:`~bluecurrent_sync.errors.ApiError` for any other ERROR frame (it fails the
      oldest unanswered request; the connection stays up);
    * :class:`~bluecurrent_sync.errors.ResponseValidationError` when the reply cannot be
      converted (only that call fails).

    Blocking calls may be made from any thread, including from inside an event handler.

    Connection-state events: handlers subscribed with ``client.on("connected")`` /
    ``client.on("disconnected")`` receive a :class:`~bluecurrent_sync.models.RawEvent` named
    so after every reconnect / drop (``raw["error"]`` holds the reason of a drop, and
    ``raw["reconnecting"]`` whether the client keeps trying; a refused reconnect attempt,
    such as "Already connected", is reported the same way).

    A client that is garbage-collected without :meth:`close` closes itself and emits a
    :class:`ResourceWarning`. After ``os.fork()`` the child's copy never touches the parent's
    connection: every call raises ClientStateError; make a new client in the child.
    """

    def __init__(
        self,
        api_token: str,
        *,
        url: str = DEFAULT_URL,
        timeout: float = 10.0,
        action_timeout: float = 45.0,
        reconnect: bool = True,
        allow_insecure: bool = False,
        max_frame_bytes: int = 1 << 20,
        event_queue_size: int = 1000,
        reconnect_delay: tuple[float, float] = (0.5, 30.0),
        sslopt: dict[str, Any] | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        connect_timeout: float | None = None,
        hello_timeout: float = 5.0,
    ) -> None:
        if not isinstance(api_token, str) or not api_token:
            raise ValueError("api_token must be a non-empty string")
        check_url(url, allow_insecure)
        if timeout <= 0 or action_timeout <= 0 or hello_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if connect_timeout is not None and connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.url = url
        self.timeout = float(timeout)
        self.action_timeout = float(action_timeout)
        self._converter = WireConverter()
        self._pending = PendingTable()
        self._dispatcher = Dispatcher(self._converter.event, queue_size=event_queue_size)
        self._redactor = Redactor(api_token)
        # The threads reach the client only through weak references: a client dropped
        # without close() is collected, and its finalizer closes it (with a ResourceWarning).
        this = weakref.ref(self)
        self._router = Router(
            self._converter,
            self._pending,
            self._dispatcher,
            _weakly(this, Client._on_limit),
            on_token_refused=_weakly(this, Client._on_token_refused),
        )
        self._taps = TapSet()  # frame observers: capture recorder, request accounting
        self._conn = Connection(
            api_token,
            url,
            self._converter,
            on_frame=self._router.on_frame,
            on_down=_weakly(this, Client._on_down),
            on_up=_weakly(this, Client._on_up),
            timeout=self.timeout,
            reconnect=reconnect,
            backoff=Backoff(*reconnect_delay),
            max_frame_bytes=max_frame_bytes,
            sslopt=sslopt,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            taps=self._taps,
            connect_timeout=connect_timeout,
            hello_timeout=hello_timeout,
            redactor=self._redactor,
        )
        self._finalizer = weakref.finalize(
            self, _close_abandoned, self._conn, self._pending, self._dispatcher, self.timeout
        )
        reset_after_fork(self._pending)
        reset_after_fork(self._dispatcher)

    # -- lifecycle ---------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Client url={self._redactor.scrub(self.url)!r} state={self._conn.state.value}>"

    def __enter__(self) -> Client:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> Client:
        """Validate the token, open the main connection and say HELLO.

        Returns:
            The client itself.

        Raises:
            InvalidApiToken: The token was refused.
            RequestLimitReached: The daily request quota is used up (``reset_at`` says when
                it resets).
            AlreadyConnected: The server refused the connection ("Already connected").
            ConnectionClosedError: The server could not be reached, or closed the connection.
            RequestTimeoutError: The server did not answer within ``timeout``.
            ClientStateError: Already connected, or closed.

        A failed connect() leaves no thread behind and may be retried.
        """
        self._conn.open()  # starts no thread unless it succeeds
        self._dispatcher.start()
        return self

    def close(self) -> None:
        """Close the connection and stop every thread (idempotent; safe before connect()).

        Every call still waiting fails at once with ConnectionClosedError. Threads are joined
        with a timeout of about ``timeout`` seconds; safe to call from an event handler and
        from another thread while :meth:`connect` runs (which then fails promptly). Event
        streams end; ``events()`` opened afterwards ends at once.
        """
        self._finalizer.detach()
        closed = lambda _w: ConnectionClosedError("the client was closed")  # noqa: E731
        self._pending.fail_all(closed)
        self._conn.close()
        # Again: a call that passed its state check just before close() may have registered
        # its waiter in between; it must not wait for its timeout.
        self._pending.fail_all(closed)
        self._dispatcher.stop(self.timeout)

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (False while reconnecting or limited)."""
        return self._conn.connected

    @property
    def customer_id(self) -> str:
        """The account's customer id (known after :meth:`connect`).

        Raises:
            ClientStateError: Before connect().
        """
        if self._conn.customer_id is None:
            raise ClientStateError("customer_id is known only after connect()")
        return self._conn.customer_id

    @property
    def dropped_events(self) -> int:
        """How many events the dispatcher dropped because handlers were too slow."""
        return self._dispatcher.dropped

    # -- events ------------------------------------------------------------------------
    @overload
    def on(self, object_name: str, handler: None = None) -> Callable[[H], H]: ...

    @overload
    def on(self, object_name: str, handler: H) -> H: ...

    def on(self, object_name: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Subscribe ``handler`` to pushed frames named ``object_name`` (``"*"`` = all).

        Usable as a call or as a decorator (``@client.on("CH_STATUS")``). The handler gets one
        argument: a model (ChStatus, ChSettings, GridCurrent, GridStatus, list[ChargePoint]) or
        a RawEvent for objects without one. Handlers run on the dispatcher thread in arrival
        order; an exception in one is logged and does not affect the others. Replies to your
        own requests are delivered too (the wire cannot tell them from pushes).

        Returns:
            The handler (so the decorator leaves the function unchanged).
        """
        if handler is None:

            def decorator(func: H) -> H:
                self._dispatcher.subscribe(object_name, func)
                return func

            return decorator
        self._dispatcher.subscribe(object_name, handler)
        return handler

    def off(self, object_name: str, handler: Handler) -> None:
        """Unsubscribe ``handler`` from ``object_name`` (no error if it was not subscribed)."""
        self._dispatcher.unsubscribe(object_name, handler)

    def events(
        self, *object_names: str, timeout: float | None = None, maxsize: int | None = None
    ) -> EventStream:
        """Iterate over pushed events as they arrive (all objects if no name is given).

        The iterator ends when no event arrived within ``timeout`` seconds (None: wait until
        the client or the stream is closed). At most ``maxsize`` (default
        ``event_queue_size``) events wait; past that the OLDEST waiting one is dropped and
        ``stream.dropped`` counts it. Close the stream (``with client.events(...) as
        stream:``) when done.
        """
        names = frozenset(name for name in object_names if name != ANY)
        return self._dispatcher.open_stream(names, timeout, maxsize)

    # -- account -----------------------------------------------------------------------
    def get_email(self) -> str:
        """Return the account's e-mail (GET_ACCOUNT on a separate short connection).

        Raises:
            ResponseValidationError: The reply has neither ``login`` nor ``email``.
            The connection errors of :meth:`connect`.
        """
        frame = self._conn.request_once(proto.GET_ACCOUNT, {})
        account = self._converter.account(frame)
        email = account_email(account)
        if not email:
            raise ResponseValidationError(
                "ACCOUNT reply has no login or email", object_name=proto.OBJ_ACCOUNT
            )
        return email

    # -- reads -------------------------------------------------------------------------
    def get_charge_points(self) -> list[ChargePoint]:
        """Return the account's charge points (GET_CHARGE_POINTS; ``timeout``).

        Raises:
            RequestTimeoutError, ConnectionClosedError, RequestLimitReached, InvalidApiToken,
            ApiError, ResponseValidationError, ClientStateError (see the errors module).
        """
        return self._call(proto.GET_CHARGE_POINTS, {}, None, self._converter.charge_points)

    def get_charge_cards(self) -> list[ChargeCard]:
        """Return the account's charge cards (GET_CHARGE_CARDS, limit 100; ``timeout``)."""
        return self._call(
            proto.GET_CHARGE_CARDS, proto.charge_cards_fields(), None, self._converter.charge_cards
        )

    def get_status(self, evse_id: str) -> ChStatus:
        """Return the live status of one charge point (GET_CH_STATUS; ``timeout``).

        An identical request already in flight is not sent again: both callers get its answer.
        """
        return self._call(
            proto.GET_CH_STATUS, proto.evse_fields(evse_id), evse_id, self._converter.ch_status
        )

    def get_statuses(self, evse_ids: Iterable[str]) -> dict[str, ChStatus]:
        """Return the status of several charge points, pipelined (all sent, then all awaited).

        Returns:
            ``{evse_id: ChStatus}`` for every requested evse_id.

        Raises:
            The first error of any of the requests (the others are still awaited).
        """
        ids = list(dict.fromkeys(evse_ids))
        started: list[tuple[str, Waiter[ChStatus]]] = []
        results: dict[str, ChStatus] = {}
        first_error: BaseException | None = None
        try:
            for evse_id in ids:
                waiter = self._start(
                    proto.GET_CH_STATUS,
                    proto.evse_fields(evse_id),
                    evse_id,
                    self._converter.ch_status,
                )
                started.append((evse_id, waiter))
            deadline = time.monotonic() + self.timeout
            while started:
                evse_id, waiter = started[0]
                try:
                    remaining = max(0.0, deadline - time.monotonic())
                    del started[0]  # _finish releases it, whatever happens
                    results[evse_id] = self._finish(waiter, proto.GET_CH_STATUS, evse_id, remaining)
                except BlueCurrentError as exc:
                    first_error = first_error or exc
        finally:
            # The caller left early (an error while sending, KeyboardInterrupt): no waiter
            # of this call may stay registered for later calls to join.
            for _evse_id, waiter in started:
                self._pending.release(waiter)
        if first_error is not None:
            raise first_error
        return results

    def get_settings(self, evse_id: str) -> ChSettings:
        """Return the settings of one charge point (GET_CH_SETTINGS; ``timeout``)."""
        return self._call(
            proto.GET_CH_SETTINGS, proto.evse_fields(evse_id), evse_id, self._converter.ch_settings
        )

    def get_grid_status(self, evse_id: str) -> GridStatus:
        """Return the grid load at a charge point's installation (GET_GRID_STATUS; ``timeout``)."""
        return self._call(
            proto.GET_GRID_STATUS, proto.evse_fields(evse_id), evse_id, self._converter.grid_status
        )

    # -- settings ----------------------------------------------------------------------
    def set_linked_charge_cards_only(self, evse_id: str, value: bool) -> SettingResult:
        """Allow only the account's linked cards (True) or any public card (False).

        Sends SET_PUBLIC_CHARGING with the inverse value; ``timeout``.

        Returns:
            SettingResult with ``setting == "linked_charge_cards_only"`` and ``value`` in this
            method's sense.

        Raises:
            ActionFailed: The server refused the change (``success: false`` or an ack error).
        """
        return self._call(
            proto.SET_PUBLIC_CHARGING,
            proto.value_fields(evse_id, not value),
            evse_id,
            self._setting_converter(proto.SET_PUBLIC_CHARGING, evse_id),
        )

    def set_plug_and_charge(self, evse_id: str, value: bool) -> SettingResult:
        """Switch plug and charge on or off (SET_PLUG_AND_CHARGE; ``timeout``).

        Raises:
            ActionFailed: The server refused the change.
        """
        return self._call(
            proto.SET_PLUG_AND_CHARGE,
            proto.value_fields(evse_id, value),
            evse_id,
            self._setting_converter(proto.SET_PLUG_AND_CHARGE, evse_id),
        )

    # -- device actions (two-step: ack, then result; ``action_timeout``) ---------------------
    def block(self, evse_id: str, value: bool = True) -> ActionResult:
        """Block (True → SET_INOPERATIVE) or unblock (False → SET_OPERATIVE) a charge point.

        Waits for the device result (``action_timeout``).

        Raises:
            ActionFailed: The ack carried an error or the result had ``success: false``.
            RequestTimeoutError: No result within ``action_timeout``.
        """
        command = proto.SET_INOPERATIVE if value else proto.SET_OPERATIVE
        return self._action(command, proto.evse_fields(evse_id), evse_id)

    def reset(self, evse_id: str) -> ActionResult:
        """Soft-reset a charge point (SOFT_RESET; ``action_timeout``). Raises ActionFailed."""
        return self._action(proto.SOFT_RESET, proto.evse_fields(evse_id), evse_id)

    def reboot(self, evse_id: str) -> ActionResult:
        """Reboot a charge point (REBOOT; ``action_timeout``). Raises ActionFailed."""
        return self._action(proto.REBOOT, proto.evse_fields(evse_id), evse_id)

    def start_session(self, evse_id: str, card_uid: str) -> ActionResult:
        """Start a charging session with a card's ``uid`` (``"BCU-APP"``: no card).

        START_SESSION; ``action_timeout``. Raises ActionFailed when refused.
        """
        return self._action(proto.START_SESSION, proto.session_fields(evse_id, card_uid), evse_id)

    def stop_session(self, evse_id: str) -> ActionResult:
        """Stop the running session (STOP_SESSION; ``action_timeout``).

        Raises:
            ActionFailed: For example "no active session for chargepoint: ...".
        """
        return self._action(proto.STOP_SESSION, proto.evse_fields(evse_id), evse_id)

    # -- smart charging (undocumented replies: first of STATUS_X, X, RECEIVED_X) -----------
    def set_delayed_charging(self, evse_id: str, value: bool) -> ActionResult:
        """Enable or disable delayed charging (SET_DELAYED_CHARGING; ``timeout``)."""
        return self._action(
            proto.SET_DELAYED_CHARGING, proto.value_fields(evse_id, value), evse_id, self.timeout
        )

    def set_delayed_charging_settings(
        self,
        evse_id: str,
        days: Sequence[Weekday],
        start_time: TimeOfDay,
        end_time: TimeOfDay,
    ) -> ActionResult:
        """Save the delayed-charging schedule (SAVE_SCHEDULE_DELAYED_CHARGING; ``timeout``).

        Args:
            evse_id: The charge point.
            days: Weekdays as numbers (Monday=1 … Sunday=7), names (``"monday"``, ``"mon"``)
                or codes (``"MO"``).
            start_time: ``datetime.time`` or ``"HH:MM"``.
            end_time: ``datetime.time`` or ``"HH:MM"``.

        Raises:
            ValueError: Invalid day or time (nothing is sent).
        """
        fields = proto.delayed_charging_schedule_fields(evse_id, days, start_time, end_time)
        return self._action(proto.SAVE_SCHEDULE_DELAYED_CHARGING, fields, evse_id, self.timeout)

    def set_price_based_charging(self, evse_id: str, value: bool) -> ActionResult:
        """Enable or disable price-based charging (SET_PRICE_BASED_CHARGING; ``timeout``)."""
        return self._action(
            proto.SET_PRICE_BASED_CHARGING,
            proto.value_fields(evse_id, value),
            evse_id,
            self.timeout,
        )

    def update_price_based_charging_settings(
        self,
        evse_id: str,
        *,
        expected_departure_time: TimeOfDay | None = None,
        current_battery_percentage: int | None = None,
        minimum_percentage: int | None = None,
        battery_size_kwh: int | None = None,
    ) -> ActionResult:
        """Change price-based charging settings; only the given ones are sent.

        PATCH_PRICE_BASED_CHARGING_SETTINGS; ``timeout``.

        Args:
            evse_id: The charge point.
            expected_departure_time: ``datetime.time`` or ``"HH:MM"``.
            current_battery_percentage: 0-100.
            minimum_percentage: 0-100.
            battery_size_kwh: Positive int.

        Raises:
            ValueError: A value is out of range, or none is given (nothing is sent).
        """
        fields = proto.price_settings_fields(
            evse_id,
            expected_departure_time=expected_departure_time,
            current_battery_percentage=current_battery_percentage,
            minimum_percentage=minimum_percentage,
            battery_size_kwh=battery_size_kwh,
        )
        return self._action(
            proto.PATCH_PRICE_BASED_CHARGING_SETTINGS, fields, evse_id, self.timeout
        )

    def override_price_based_charging_profile(self, evse_id: str, value: bool) -> ActionResult:
        """Boost (override) the price-based profile (OVERRIDE_CHARGING_PROFILES; ``timeout``)."""
        return self._action(
            proto.OVERRIDE_CHARGING_PROFILES,
            proto.value_fields(evse_id, value),
            evse_id,
            self.timeout,
        )

    def override_delayed_charging_profile(self, evse_id: str, value: bool) -> ActionResult:
        """Boost the delayed profile (OVERRIDE_DELAYED_CHARGING_TIMEOUT; ``timeout``)."""
        return self._action(
            proto.OVERRIDE_DELAYED_CHARGING_TIMEOUT,
            proto.value_fields(evse_id, value),
            evse_id,
            self.timeout,
        )

    # -- override-current schedules ----------------------------------------------------
    def get_user_override_currents_list(self) -> list[OverrideSchedule]:
        """Return the override-current schedules (LIST_OVERRIDE_CURRENT; ``timeout``)."""
        return self._call(proto.LIST_OVERRIDE_CURRENT, {}, None, self._converter.override_schedules)

    def set_user_override_current(
        self,
        charge_points: Sequence[str],
        *,
        start_time: TimeOfDay,
        start_days: Sequence[Weekday],
        stop_time: TimeOfDay,
        stop_days: Sequence[Weekday],
        current: float,
    ) -> OverrideSchedule:
        """Create an override-current schedule (POST_SET_OVERRIDE_CURRENT; ``timeout``).

        Args:
            charge_points: The evse_ids it applies to.
            start_time: ``datetime.time`` or ``"HH:MM"``.
            start_days: Weekdays (numbers 1-7, names or ``MO``..``SU`` codes).
            stop_time: ``datetime.time`` or ``"HH:MM"``.
            stop_days: Weekdays, as ``start_days``.
            current: The override current in amperes (>= 0).

        Returns:
            The created schedule.

        Raises:
            ValueError: Invalid argument (nothing is sent).
        """
        fields = proto.override_current_fields(
            charge_points,
            start_time=start_time,
            start_days=start_days,
            stop_time=stop_time,
            stop_days=stop_days,
            current=current,
        )
        return self._call(
            proto.POST_SET_OVERRIDE_CURRENT, fields, None, self._converter.override_schedule
        )

    def edit_user_override_current(
        self,
        schedule_id: str | int,
        charge_points: Sequence[str],
        *,
        start_time: TimeOfDay,
        start_days: Sequence[Weekday],
        stop_time: TimeOfDay,
        stop_days: Sequence[Weekday],
        current: float,
    ) -> OverrideSchedule:
        """Replace an override-current schedule (POST_EDIT_OVERRIDE_CURRENT; ``timeout``).

        Arguments as :meth:`set_user_override_current`, plus the schedule's id.

        Returns:
            The edited schedule.

        Raises:
            ApiError: Unknown schedule id (server ERROR).
            ValueError: Invalid argument (nothing is sent).
        """
        fields = {
            **proto.edit_schedule_id_field(schedule_id),
            **proto.override_current_fields(
                charge_points,
                start_time=start_time,
                start_days=start_days,
                stop_time=stop_time,
                stop_days=stop_days,
                current=current,
            ),
        }
        return self._call(
            proto.POST_EDIT_OVERRIDE_CURRENT, fields, None, self._converter.override_schedule
        )

    def clear_user_override_current(self, schedule_id: str | int) -> ActionResult:
        """Delete an override-current schedule (POST_CLEAR_OVERRIDE_CURRENT; ``timeout``).

        Raises:
            ValueError: ``schedule_id`` is not an integer id.
            ActionFailed: The server answered ``success: false`` (e.g. unknown id).
        """
        fields = proto.clear_schedule_id_field(schedule_id)
        return self._action(proto.POST_CLEAR_OVERRIDE_CURRENT, fields, None, self.timeout)

    # -- machinery ---------------------------------------------------------------------
    def _action(
        self,
        command: str,
        fields: Mapping[str, Any],
        evse_id: str | None,
        timeout: float | None = None,
    ) -> ActionResult:
        def convert(frame: Mapping[str, Any]) -> ActionResult:
            result = self._converter.action_result(frame)
            if not result.success:
                raise ActionFailed(evse_id or result.evse_id, command, result.error or "")
            return attrs.evolve(result, evse_id=evse_id or result.evse_id, command=command)

        return self._call(command, fields, evse_id, convert, timeout=timeout)

    def _setting_converter(
        self, command: str, evse_id: str
    ) -> Callable[[Mapping[str, Any]], SettingResult]:
        def convert(frame: Mapping[str, Any]) -> SettingResult:
            result = self._converter.setting_result(frame)
            if not result.success:
                raise ActionFailed(evse_id, command, result.error or "")
            return attrs.evolve(result, evse_id=evse_id)

        return convert

    def _interpreter(
        self, command: str, evse_id: str | None, convert: Callable[[Mapping[str, Any]], T]
    ) -> Callable[[str, Role, Mapping[str, Any]], Any]:
        def interpret(object_name: str, role: Role, frame: Mapping[str, Any]) -> Any:
            if role is Role.RESULT:
                return convert(frame)
            ack = self._converter.action_result(frame)
            if ack.error or not ack.success:
                raise ActionFailed(evse_id or ack.evse_id, command, ack.error or "")
            if role is Role.ACK:
                return ACKNOWLEDGED
            return attrs.evolve(ack, evse_id=evse_id or ack.evse_id, command=command)

        return interpret

    def _start(
        self,
        command: str,
        fields: Mapping[str, Any],
        evse_id: str | None,
        convert: Callable[[Mapping[str, Any]], T],
    ) -> Waiter[T]:
        """Register the waiter (before sending), then send unless an identical GET is in flight."""
        if self._conn.on_reader_thread():
            raise ClientStateError("blocking calls cannot be made from the reader thread")
        self._conn.check_usable()
        waiter, is_new = self._pending.register(
            command,
            evse_id,
            proto.reply_roles(command),
            self._interpreter(command, evse_id, convert),
            shareable=command in proto.DEDUP_COMMANDS,
        )
        if is_new:
            try:
                self._conn.send(
                    command, fields, before_send=lambda: self._pending.mark_sent(waiter)
                )
            except BaseException as exc:
                self._pending.fail(waiter, exc)
                self._pending.release(waiter)
                raise
        return waiter

    def _finish(self, waiter: Waiter[T], command: str, evse_id: str | None, timeout: float) -> T:
        try:
            if not self._conn.wait_reply(waiter, timeout):
                raise RequestTimeoutError(command, evse_id, timeout)
            return waiter.outcome()
        except BlueCurrentError as exc:
            self._redactor.scrub_error(exc)  # a server echo of a token never reaches the caller
            raise
        finally:
            self._pending.release(waiter)

    def _call(
        self,
        command: str,
        fields: Mapping[str, Any],
        evse_id: str | None,
        convert: Callable[[Mapping[str, Any]], T],
        *,
        timeout: float | None = None,
    ) -> T:
        if timeout is None:
            timeout = self.action_timeout if command in proto.TWO_STEP_COMMANDS else self.timeout
        waiter = self._start(command, fields, evse_id, convert)
        return self._finish(waiter, command, evse_id, timeout)

    # -- callbacks from the reader thread ------------------------------------------------
    def _on_down(self, error: BlueCurrentError, reconnecting: bool) -> None:
        self._pending.fail_all(lambda _w: copy_error(error))
        self._dispatcher.publish_event(
            DISCONNECTED_EVENT,
            RawEvent(
                object_name=DISCONNECTED_EVENT,
                raw={"error": self._redactor.scrub(str(error)), "reconnecting": reconnecting},
            ),
        )

    def _on_up(self) -> None:
        self._dispatcher.publish_event(
            CONNECTED_EVENT, RawEvent(object_name=CONNECTED_EVENT, raw={})
        )

    def _on_limit(self, reset_at: _dt.datetime) -> None:
        self._conn.enter_limited(reset_at)

    def _on_token_refused(self) -> None:
        self._conn.token_refused()

    @property
    def state(self) -> str:
        """The state: new, connecting, connected, reconnecting, limited, failed or closed."""
        return self._conn.state.value


def _weakly(ref: weakref.ref[Client], method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` bound to the client behind ``ref``; does nothing once it is collected."""

    def call(*args: Any) -> Any:
        client = ref()
        return None if client is None else method(client, *args)

    return call


def _close_abandoned(
    conn: Connection, pending: PendingTable, dispatcher: Dispatcher, timeout: float
) -> None:
    """Finalizer of a client collected (or left at exit) without :meth:`Client.close`."""
    if conn.state.value not in ("new", "closed"):
        warnings.warn(
            f"bluecurrent_sync Client ({conn.state.value}) was not closed; closing it now",
            ResourceWarning,
            stacklevel=2,
        )
    pending.fail_all(lambda _w: ConnectionClosedError("the client was closed"))
    conn.close()
    dispatcher.stop(timeout)
