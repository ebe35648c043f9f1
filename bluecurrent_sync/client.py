"""The synchronous Blue Current client: one blocking method per command.

Threads (all daemon, all joined by [`Client.close()`][bluecurrent_sync.Client.close] with a
timeout):

* ``bluecurrent-sync-reader`` alone reads the main connection: it routes every frame to the
  waiting calls (by object name and evse_id, docs/PROTOCOL.md section 6) and to the
  dispatcher, watches liveness and reconnects after a drop.
* ``bluecurrent-sync-dispatch`` runs event handlers in arrival order, each isolated.

Blocking calls are safe from any thread, including from inside an event handler (handlers do
not run on the reader thread, so the reply can still arrive).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, Literal, NamedTuple, TypeVar, overload

from . import _protocol as proto
from ._args import (
    require_age,
    require_bool,
    require_delay_range,
    require_evse_id,
    require_int,
    require_optional_timeout,
    require_path,
    require_timeout,
    require_wait,
)
from ._connection import Backoff, Connection
from ._convert import OBJECTS, WireConverter
from ._dispatch import ANY, Dispatcher, EventStream, Handler, Subscriptions
from ._events import check_event_name, check_event_names
from ._fork import reset_after_fork
from ._log import CONNECTION
from ._mirror import DEFAULT_MAX_CHARGE_POINTS, Mirror, Observed
from ._pending import PendingTable
from ._proxy import choose_proxy
from ._record import CaptureRecorder
from ._redact import Redactor
from ._requests import Requests
from ._router import Router
from ._tap import TapSet
from ._url import public_url, validate_url
from ._usage import DailyUsage, RequestMeter
from ._wire import copy_error
from ._wirelog import WireLogTap
from .errors import (
    AlreadyConnected,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    ResponseValidationError,
)
from .models import (
    Account,
    ActionResult,
    ChargeCard,
    ChargePoint,
    ChSettings,
    ChStatus,
    GridCurrent,
    GridStatus,
    OverrideSchedule,
    RawEvent,
    SettingResult,
    account_email,
)

__all__ = ["DEFAULT_URL", "Client"]

logger = logging.getLogger(CONNECTION)

DEFAULT_URL = "wss://motown.bluecurrent.nl/haserver"

#: The default cap on one incoming message: CHARGE_POINTS of an account of 10,000 charge
#: points (about 1.2 KB each on the wire, 12 MB) fits with room to spare.
MAX_FRAME_BYTES = 16 << 20

#: Pseudo object names of the connection-state events (see
#: [`Client.on()`][bluecurrent_sync.Client.on]).
CONNECTED_EVENT = "connected"
DISCONNECTED_EVENT = "disconnected"

T = TypeVar("T")
H = TypeVar("H", bound=Handler)
Weekday = int | str
TimeOfDay = _dt.time | str


class Client:
    """A synchronous client for the Blue Current charge-point websocket API.

    Example:
        ```python
        with Client(api_token) as client:
            for cp in client.get_charge_points():
                print(cp.evse_id, client.get_status(cp.evse_id).activity)
        ```

    Args:
        api_token: The API token from my.bluecurrent.nl (never logged or shown in reprs).
        url: The websocket URL.
        timeout: Seconds to wait for connecting and for the reply to an ordinary request.
        action_timeout: Seconds to wait for the result of a two-step device command
            (start/stop session, reset, reboot, block/unblock); the server may take ~30 s.
        reconnect: Reconnect automatically (exponential backoff with jitter) after a drop.
        allow_insecure: Allow plain ``ws://`` to a non-loopback host.
        max_frame_bytes: Incoming messages larger than this (16 MiB: an account of 10,000 charge
            points fits) are dropped unread; the call they answer raises
            [`ReplyTooLarge`][bluecurrent_sync.errors.ReplyTooLarge] at once.
        event_queue_size: Bound of the dispatcher queue and of every
            [`events()`][bluecurrent_sync.Client.events] stream; when full, the OLDEST queued event
            is dropped (and counted).
        reconnect_delay: ``(initial, maximum)`` seconds of the reconnect backoff.
        sslopt: TLS options in websocket-client's style (``{"context": ssl_context}``,
            ``cert_reqs``, ``ca_certs``, ...); default: a verifying default context.
        ping_interval: Seconds of server silence before a keepalive ping (None: no pings).
        ping_timeout: Further seconds of silence after which the connection counts as lost.
            Silence means no complete frame: a server dripping bytes does not count as alive.
        connect_timeout: One deadline in seconds for the whole of
            [`connect()`][bluecurrent_sync.Client.connect] (name lookup, TCP, TLS, HTTP upgrade,
            token validation, HELLO) and for each reconnect attempt; None (default): ``timeout``.

        usage_file: A file where this client adds every request it sends, shared safely by several
            processes (cron runs): see [`usage()`][bluecurrent_sync.Client.usage] and
            ``bluecurrent-sync usage``.
        daily_budget: Requests allowed per day (Europe/Amsterdam), counted over the usage file when
            one is given: a request that would pass it raises
            [`DailyBudgetExceeded`][bluecurrent_sync.errors.DailyBudgetExceeded] and is not sent.
        hello_timeout: Seconds [`connect()`][bluecurrent_sync.Client.connect] waits for the HELLO
            reply; any frame that is not an ERROR ends the wait too, and when nothing arrives at all
            the connection counts as established (the server may never answer HELLO,
            docs/PROTOCOL.md OP-1). Never longer than ``connect_timeout``.
        verdict_timeout: Seconds an action waits for its verdict once the server has
            acknowledged it (None: until the action's own timeout). When no verdict comes,
            the call returns an ActionResult with ``outcome=ACKNOWLEDGED`` and
            ``success=None`` instead of raising (docs/PROTOCOL.md OP-3, OP-6).
        record: A path or a writable text file: every frame in and out of every connection is
            written there in the capture format (JSON lines, both tokens redacted) for
            ``bluecurrent-sync check-capture``. A path is created here, new and mode 0600 (an
            existing file, symbolic link or FIFO at the path is refused with FileExistsError, never
            overwritten), and closed by [`close()`][bluecurrent_sync.Client.close]; a file object is
            flushed but left open.
        mirror_size: Charge points the live mirror ([`observed`][bluecurrent_sync.Client.observed])
            keeps per kind (status, settings, grid); default 20,000, a whole large account. Past it
            the least recently updated charge point is forgotten (logged once).
        send_flow_id: Send a fresh ``flow_id`` (a uuid) with every command, as
            pybluecurrent does, and take a reply or ERROR that echoes it as that command's
            answer (docs/PROTOCOL.md OP-12). Off by default: no source shows that this
            server echoes it, and the official client sends none. A capture made with it on
            shows whether the server echoes.
        proxy: An HTTP proxy, ``"http://[user:password@]host:port"``: every connection
            is a ``CONNECT`` tunnel through it (TLS for ``wss://`` still runs end to end
            and is verified against the server's name; the credentials, percent-decoded,
            go in a ``Proxy-Authorization: Basic`` header and are never shown). ``False``:
            never a proxy. ``None`` (default): the environment, by the rules of Python's
            ``urllib.request``: ``https_proxy`` (``wss://``) or ``http_proxy`` (``ws://``),
            then ``all_proxy`` (any letter case), except for the hosts ``no_proxy`` names
            and for a server on this machine (``localhost``, 127.0.0.0/8, ``::1``). An
            explicit proxy wins over the environment, ``no_proxy`` included. Only
            ``http://`` proxies are supported (no ``https://`` or SOCKS proxies). Read once,
            here.

    Raises:
        ValueError: For a URL that is not a valid ``ws://``/``wss://`` URL (whitespace, a bad
            host or a port outside 1-65535 included), ``ws://`` to a non-loopback host
            without ``allow_insecure=True``, a timeout or interval (``ping_interval``
            included) that is not a finite number above 0, ``max_frame_bytes`` or
            ``event_queue_size`` below 1, a ``reconnect_delay`` whose initial delay is above
            its maximum, an empty ``api_token`` or path, a negative ``daily_budget`` or a
            ``mirror_size`` below 1. The message names the parameter.
        TypeError: An option of the wrong type: ``api_token`` not a string (None included),
            ``reconnect`` or ``allow_insecure`` not a ``bool``, a timeout not a number,
            ``max_frame_bytes``, ``event_queue_size``, ``mirror_size`` or ``daily_budget`` not
            an ``int``,
            ``reconnect_delay`` not a pair of numbers, ``sslopt`` not a dict, ``usage_file``
            not a path, ``record`` neither a path nor a writable file.
        ValueError: An unsupported ``sslopt`` key (supported: context, cert_reqs,
            check_hostname, ca_certs, ca_cert_path, certfile, keyfile).
        ValueError: A malformed ``proxy`` (not ``http://``, e.g. ``https://`` or
            ``socks5://``; no or an invalid host; a port outside 1-65535; whitespace; a path),
            or a malformed value in the proxy environment variable that applies (the message
            names the variable; the client does not fall back to a direct connection).
        TypeError: ``proxy`` is not a string, None or False.
        OSError: ``record`` names a path that cannot be created (FileExistsError: something
            is there already).

    Errors every request method may raise (besides those it lists itself):

    * [`ClientStateError`][bluecurrent_sync.errors.ClientStateError] before
      [`connect()`][bluecurrent_sync.Client.connect], after
      [`close()`][bluecurrent_sync.Client.close], or from the reader thread;
    * [`ConnectionClosedError`][bluecurrent_sync.errors.ConnectionClosedError] when the connection
      is down (raised at once, the call is not queued) or drops while the call waits (at once, not
      after the timeout); a non-idempotent command is never re-sent automatically;
    * [`RequestLimitReached`][bluecurrent_sync.errors.RequestLimitReached] (ERROR 42, close code
      4001): from then until ``reset_at`` every call raises it at once without touching the network;
    * [`InvalidApiToken`][bluecurrent_sync.errors.InvalidApiToken] (ERROR 1; the token is validated
      again once first) and [`AlreadyConnected`][bluecurrent_sync.errors.AlreadyConnected] (after
      repeated refusals while reconnecting): when they stop reconnection, every later call raises
      them until the client is closed;
    * [`RequestTimeoutError`][bluecurrent_sync.errors.RequestTimeoutError] after ``timeout`` (or
      ``action_timeout`` for two-step device commands);
    * [`ApiError`][bluecurrent_sync.errors.ApiError] for any other ERROR frame (it fails the request
      it can belong to, docs/PROTOCOL.md OP-7; the connection stays up);
    * [`ResponseValidationError`][bluecurrent_sync.errors.ResponseValidationError] when the reply
      cannot be converted (only that call fails).

    Blocking calls may be made from any thread, including from inside an event handler.

    Connection-state events: handlers subscribed with ``client.on("connected")`` /
    ``client.on("disconnected")`` receive a [`RawEvent`][bluecurrent_sync.models.RawEvent] named so
    after every reconnect / drop (``raw["error"]`` holds the reason of a drop, and
    ``raw["reconnecting"]`` whether the client keeps trying; a refused reconnect attempt, such as
    "Already connected", is reported the same way).

    A client that is garbage-collected without [`close()`][bluecurrent_sync.Client.close] closes
    itself and emits a `ResourceWarning`; handlers that refer to the client (a bound method of its
    owner, a lambda using it) do not keep it alive. After ``os.fork()`` the child's copy never
    touches the parent's connection: every call raises ClientStateError; make a new client in the
    child.
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
        max_frame_bytes: int = MAX_FRAME_BYTES,
        event_queue_size: int = 1000,
        reconnect_delay: tuple[float, float] = (0.5, 30.0),
        sslopt: dict[str, Any] | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        usage_file: str | os.PathLike[str] | None = None,
        daily_budget: int | None = None,
        connect_timeout: float | None = None,
        hello_timeout: float = 5.0,
        verdict_timeout: float | None = None,
        record: str | os.PathLike[str] | IO[str] | None = None,
        proxy: str | Literal[False] | None = None,
        mirror_size: int = DEFAULT_MAX_CHARGE_POINTS,
        send_flow_id: bool = False,
    ) -> None:
        # Every option is checked here, before anything starts, naming the parameter.
        if not isinstance(api_token, str):
            raise TypeError(f"api_token must be a string, got {type(api_token).__name__}")
        if not api_token:
            raise ValueError("api_token must be a non-empty string")
        url = validate_url(url, require_bool("allow_insecure", allow_insecure))
        chosen_proxy = choose_proxy(url, proxy)
        require_bool("reconnect", reconnect)
        require_int("max_frame_bytes", max_frame_bytes, minimum=1)
        require_int("event_queue_size", event_queue_size, minimum=1)
        require_int("mirror_size", mirror_size, minimum=1)
        backoff = Backoff(*require_delay_range("reconnect_delay", reconnect_delay))
        if sslopt is not None and not isinstance(sslopt, dict):
            raise TypeError(f"sslopt must be a dict or None, got {type(sslopt).__name__}")
        ping_interval = require_optional_timeout("ping_interval", ping_interval)
        ping_timeout = require_timeout("ping_timeout", ping_timeout)
        hello_timeout = require_timeout("hello_timeout", hello_timeout)
        connect_timeout = require_optional_timeout("connect_timeout", connect_timeout)
        if usage_file is not None:
            require_path("usage_file", usage_file)
        if daily_budget is not None:
            require_int("daily_budget", daily_budget, minimum=0)
        if record is not None and not callable(getattr(record, "write", None)):
            require_path("record", record)  # else a path, which must be one
        self.url = url
        timeout = require_timeout("timeout", timeout)
        action_timeout = require_timeout("action_timeout", action_timeout)
        verdict_timeout = require_optional_timeout("verdict_timeout", verdict_timeout)
        self._converter = WireConverter()
        self._pending = PendingTable()
        # The handlers live here; the dispatcher holds them weakly (a handler that refers to
        # the client must not keep it reachable from the threads or the finalizer).
        self._subscriptions = Subscriptions()
        self._dispatcher = Dispatcher(
            self._converter.event, queue_size=event_queue_size, subscriptions=self._subscriptions
        )
        self._redactor = Redactor(api_token)
        # The threads reach the client only through weak references: a client dropped
        # without close() is collected, and its finalizer closes it (with a ResourceWarning).
        this = weakref.ref(self)
        self._mirror = Mirror(
            {
                name: spec.converter(self._converter)
                for name, spec in OBJECTS.items()
                if spec.mirrored
            },
            max_charge_points=mirror_size,
        )
        self._router = Router(
            self._converter,
            self._pending,
            self._dispatcher,
            observe=self._mirror.observe,
        )
        self._taps = TapSet()  # frame observers: capture recorder, request accounting
        self._taps.add(WireLogTap(api_token))  # DEBUG on bluecurrent_sync.wire, redacted
        self._meter = RequestMeter(usage_file, daily_budget)
        self._taps.add(self._meter)
        router = self._router
        self._conn = Connection(
            api_token,
            url,
            self._converter,
            on_frame=self._router.on_frame,
            on_down=_weakly(this, Client._on_down),
            on_up=_weakly(this, Client._on_up),
            timeout=timeout,
            reconnect=reconnect,
            backoff=backoff,
            max_frame_bytes=max_frame_bytes,
            on_oversize=lambda prefix, size: router.on_oversize(prefix, size, max_frame_bytes),
            sslopt=sslopt,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            taps=self._taps,
            connect_timeout=connect_timeout,
            hello_timeout=hello_timeout,
            redactor=self._redactor,
            proxy=chosen_proxy,
        )
        self._requests = Requests(
            self._conn,
            self._pending,
            self._converter,
            self._meter,
            self._redactor,
            last_activity=self._mirror.activity,
            timeout=timeout,
            action_timeout=action_timeout,
            verdict_timeout=verdict_timeout,
            send_flow_id=require_bool("send_flow_id", send_flow_id),
        )
        # Opened last, once every argument has been accepted: a Client(...) that raises
        # leaves no capture file behind and no handle open.
        self._recorder: CaptureRecorder | None = None
        if record is not None:
            self._recorder = CaptureRecorder(
                record, url=url, api_token=api_token, redactor=self._redactor
            )
            self._taps.add(self._recorder)
        self._finalizer = weakref.finalize(self, _close_abandoned, self._parts(), timeout)
        # One fork hook (``_fork.py``) for every part that owns a lock, a socket or a file.
        for part in (self._pending, self._dispatcher, self._mirror, self._meter, self._recorder):
            if part is not None:
                reset_after_fork(part)

    @property
    def timeout(self) -> float:
        """Seconds to wait for the reply to an ordinary request (settable)."""
        return self._requests.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._requests.timeout = value

    @property
    def action_timeout(self) -> float:
        """Seconds to wait for the result of a two-step device command (settable)."""
        return self._requests.action_timeout

    @action_timeout.setter
    def action_timeout(self, value: float) -> None:
        self._requests.action_timeout = value

    @property
    def verdict_timeout(self) -> float | None:
        """Seconds after the ack before an action returns ACKNOWLEDGED (settable)."""
        return self._requests.verdict_timeout

    @verdict_timeout.setter
    def verdict_timeout(self, value: float | None) -> None:
        self._requests.verdict_timeout = value

    # -- lifecycle ---------------------------------------------------------------------
    def __repr__(self) -> str:
        shown = self._redactor.scrub(public_url(self.url))  # no userinfo, query or token
        return f"<Client url={shown!r} state={self._conn.state.value}>"

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
            DailyBudgetExceeded: The two requests of a connect would pass ``daily_budget``.
            UsageFileError: ``usage_file`` is not a usage file, or cannot be written.
            ApiError: The server answered token validation or HELLO with another ERROR
                (``code`` and ``message`` say which).
            ResponseValidationError: The token validation reply could not be converted
                (``raw`` holds it, redacted).

        A failed connect() leaves no thread behind and may be retried.
        """
        with self._meter.admitting(2):  # VALIDATE_API_TOKEN and HELLO
            self._conn.open()  # starts no thread unless it succeeds
        self._dispatcher.start()
        return self

    def close(self) -> None:
        """Close the connection and stop every thread (idempotent; safe before connect()).

        Every call still waiting fails at once with ConnectionClosedError. Threads are joined within
        about ``timeout`` seconds overall; safe to call from an event handler and from another
        thread while [`connect()`][bluecurrent_sync.Client.connect] runs (which then fails
        promptly). Event streams end; ``events()`` opened afterwards ends at once.
        """
        self._finalizer.detach()
        _shut_down(self._parts(), self.timeout)

    def _parts(self) -> _Parts:
        return _Parts(self._conn, self._pending, self._dispatcher, self._mirror, self._recorder)

    @property
    def connected(self) -> bool:
        """Whether calls can be made now (False while reconnecting, limited or re-validating)."""
        return self._conn.connected

    @property
    def customer_id(self) -> str:
        """The account's customer id (known after [`connect()`][bluecurrent_sync.Client.connect]).

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
    def on(
        self, object_name: str, handler: None = None, *, allow_unknown: bool = False
    ) -> Callable[[H], H]: ...

    @overload
    def on(self, object_name: str, handler: H, *, allow_unknown: bool = False) -> H: ...

    def on(
        self, object_name: str, handler: H | None = None, *, allow_unknown: bool = False
    ) -> H | Callable[[H], H]:
        """Subscribe ``handler`` to pushed frames named ``object_name`` (``"*"`` = all).

        Usable as a call or as a decorator (``@client.on("CH_STATUS")``). The handler gets one
        argument: a model (ChStatus, ChSettings, GridCurrent, GridStatus, list[ChargePoint]) or
        a RawEvent for objects without one. Handlers run on the dispatcher thread in arrival
        order; an exception in one is logged and does not affect the others. Replies to your
        own requests are delivered too (the wire cannot tell them from pushes).

        Args:
            object_name: An object name such as ``"CH_STATUS"``, ``"*"`` (everything),
                ``"connected"`` or ``"disconnected"``.
            handler: Called with each event; omit it to use ``on`` as a decorator.
            allow_unknown: Accept an object name this version does not know (a new server object);
                its events arrive as [`RawEvent`][bluecurrent_sync.models.RawEvent].

        Returns:
            The handler (so the decorator leaves the function unchanged).

        Raises:
            ValueError: An unknown object name (a typo would never fire); the message lists
                the known names. Pass ``allow_unknown=True`` for a new server object.
        """
        check_event_name(object_name, allow_unknown=require_bool("allow_unknown", allow_unknown))
        if handler is None:

            def decorator(func: H) -> H:
                self._dispatcher.subscribe(object_name, func)
                return func

            return decorator
        self._dispatcher.subscribe(object_name, handler)
        return handler

    def off(self, object_name: str, handler: Handler, *, allow_unknown: bool = False) -> None:
        """Unsubscribe ``handler`` from ``object_name`` (no error if it was not subscribed).

        Raises:
            ValueError: An unknown object name, as [`on()`][bluecurrent_sync.Client.on]
                (``allow_unknown`` likewise).
        """
        check_event_name(object_name, allow_unknown=require_bool("allow_unknown", allow_unknown))
        self._dispatcher.unsubscribe(object_name, handler)

    def events(
        self,
        *object_names: str,
        timeout: float | None = None,
        maxsize: int | None = None,
        allow_unknown: bool = False,
    ) -> EventStream:
        """Iterate over pushed events as they arrive (all objects if no name is given).

        The iterator ends when no event arrived within ``timeout`` seconds (None: wait until
        the client or the stream is closed). At most ``maxsize`` (default
        ``event_queue_size``) events wait; past that the OLDEST waiting one is dropped and
        ``stream.dropped`` counts it. Close the stream (``with client.events(...) as
        stream:``) when done.

        Returns:
            The stream: an iterator of events and a context manager.

        Raises:
            ValueError: An unknown object name, as [`on()`][bluecurrent_sync.Client.on]
                (``allow_unknown`` likewise); a ``timeout`` that is negative, NaN or infinite;
                ``maxsize`` below 1.
            TypeError: ``timeout`` not a number, ``maxsize`` not an ``int``.
        """
        check_event_names(object_names, allow_unknown=require_bool("allow_unknown", allow_unknown))
        if timeout is not None:
            timeout = require_wait("timeout", timeout)
        if maxsize is not None:
            require_int("maxsize", maxsize, minimum=1)
        names = frozenset(name for name in object_names if name != ANY)
        return self._dispatcher.open_stream(names, timeout, maxsize)

    # -- live state: the mirror (costs no request) ----------------------------------------
    @property
    def observed(self) -> Mirror:
        """The live mirror: the latest status, settings and grid figures with their times.

        ``client.observed.status(evse_id)`` (likewise ``settings``, ``grid_status``,
        ``grid_current``) returns an [`Observed`][bluecurrent_sync.Observed] record (``value``,
        ``received_at``, ``age``) or None. Every CH_STATUS, CH_SETTINGS, GRID_STATUS and
        GRID_CURRENT the client receives lands here, pushed or answered.
        """
        return self._mirror

    def last_status(self, evse_id: str) -> ChStatus | None:
        """The last status received for ``evse_id`` (pushed or answered), or None; no request.

        Its receive time: ``client.observed.status(evse_id).received_at``.
        """
        return _value_of(self._mirror.status(evse_id))

    def last_settings(self, evse_id: str) -> ChSettings | None:
        """The last settings received for ``evse_id``, or None; no request."""
        return _value_of(self._mirror.settings(evse_id))

    def last_grid_status(self, evse_id: str) -> GridStatus | None:
        """The last GRID_STATUS received for ``evse_id``'s installation, or None; no request."""
        return _value_of(self._mirror.grid_status(evse_id))

    def last_grid_current(self, evse_id: str | None = None) -> GridCurrent | None:
        """The last pushed GRID_CURRENT for ``evse_id`` (None: those without one); no request."""
        return _value_of(self._mirror.grid_current(evse_id))

    def wait_for_status(
        self, evse_id: str, condition: Callable[[ChStatus], object], *, timeout: float
    ) -> ChStatus:
        """Block until a status of ``evse_id`` satisfies ``condition``; sends nothing.

        The last known status is checked first, then every status that arrives, in order (pushed or
        answered to anyone's request). For example:

        ```python
        client.start_session(evse, card_uid)
        client.wait_for_status(evse, lambda s: s.activity == "charging", timeout=120)
        ```

        Waiting goes on across reconnects. Safe from any thread, an event handler included.

        Args:
            evse_id: The charge point.
            condition: Called with each [`ChStatus`][bluecurrent_sync.models.ChStatus]; a truthy
                result ends the wait. An exception it raises propagates to the caller.
            timeout: Seconds to wait at most.

        Returns:
            The first status that satisfied ``condition``.

        Raises:
            RequestTimeoutError: No status satisfied it within ``timeout``.
            TypeError: ``timeout`` not a number or ``condition`` not callable.
            ValueError: ``timeout`` negative, NaN or infinite.
            ConnectionClosedError: The client was closed while waiting.
            ClientStateError: Before connect(), after close(), or from the reader thread.
            InvalidApiToken, AlreadyConnected: Reconnection stopped on that error.
        """
        timeout = require_wait("timeout", timeout)
        if not callable(condition):
            raise TypeError(f"condition must be callable, got {type(condition).__name__}")
        if self._conn.on_reader_thread():
            raise ClientStateError("wait_for_status cannot be called from the reader thread")
        self._check_waitable()
        return self._mirror.wait_for_status(evse_id, condition, timeout, self._check_waitable)

    # -- request accounting --------------------------------------------------------------
    @property
    def requests_today(self) -> int:
        """Requests (frames) this client has sent since 00:00 Europe/Amsterdam.

        Every frame counts, as on the server: token validation and HELLO (2 per connect and
        per reconnect), GET_ACCOUNT, and each command. Pushes and replies are free.
        """
        return self._meter.requests_today

    def usage(self) -> DailyUsage:
        """Today's request count: this client's, the usage file's total, and the budget.

        Returns:
            [`DailyUsage`][bluecurrent_sync.DailyUsage] (``total`` counts every process sharing
            ``usage_file``).

        Raises:
            UsageFileError: The usage file is not a usage file or cannot be read.
        """
        return self._meter.usage()

    # -- account -----------------------------------------------------------------------
    def get_email(self) -> str:
        """Return the account's e-mail (GET_ACCOUNT; ``connect_timeout`` / ``timeout``).

        Usable before [`connect()`][bluecurrent_sync.Client.connect] and after it. It asks on a
        short connection of its own, as the official client does (before
        [`connect()`][bluecurrent_sync.Client.connect] the token is validated first, on another
        short one). A server that allows one connection per client refuses that short connection
        while the main one is up ("Already connected"); then the question goes over the main
        connection (docs/PROTOCOL.md 1.3).

        Raises:
            ResponseValidationError: The reply has neither ``login`` nor ``email``.
            InvalidApiToken: Before [`connect()`][bluecurrent_sync.Client.connect], the token was
                refused.
            ApiError: The server answered with an ERROR.
            ConnectionClosedError: Any of the connection errors of
                [`connect()`][bluecurrent_sync.Client.connect].
        """
        if self._conn.state.value == "new":
            with self._meter.admitting(2):  # VALIDATE_API_TOKEN (unless done) and GET_ACCOUNT
                frame = self._conn.request_once(proto.GET_ACCOUNT, {})
            return self._email_of(self._converter.account(frame))
        try:
            with self._meter.admitting(1):
                frame = self._conn.request_once(proto.GET_ACCOUNT, {})
        except AlreadyConnected:
            logger.info("a second connection was refused; asking GET_ACCOUNT on the main one")
            account = self._requests.call(proto.GET_ACCOUNT, {}, None, self._converter.account)
            return self._email_of(account)
        return self._email_of(self._converter.account(frame))

    @staticmethod
    def _email_of(account: Account) -> str:
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
            ApiError: The server answered with an error.
            ResponseValidationError: The reply could not be converted.

        Like every request it may also raise RequestTimeoutError, ConnectionClosedError,
        RequestLimitReached, InvalidApiToken or ClientStateError (see the class docstring).
        """
        return self._requests.call(proto.GET_CHARGE_POINTS, {}, None, self._converter.charge_points)

    def get_charge_cards(self) -> list[ChargeCard]:
        """Return the account's charge cards (GET_CHARGE_CARDS, limit 100; ``timeout``)."""
        return self._requests.call(
            proto.GET_CHARGE_CARDS, proto.charge_cards_fields(), None, self._converter.charge_cards
        )

    def get_status(self, evse_id: str, *, max_age: float | None = None) -> ChStatus:
        """Return the live status of one charge point (GET_CH_STATUS; ``timeout``).

        An identical request already in flight is not sent again: both callers get its answer.

        Args:
            evse_id: The charge point.
            max_age: Seconds. When the last status received for it (pushed or answered) is at most
                this old, it is returned and nothing is sent (see
                [`last_status()`][bluecurrent_sync.Client.last_status]). A negative or NaN
                ``max_age`` raises ValueError, a non-number TypeError.
        """
        fresh = self._fresh(self._mirror.status, evse_id, max_age)
        if fresh is not None:
            return fresh
        return self._requests.call(
            proto.GET_CH_STATUS, proto.evse_fields(evse_id), evse_id, self._requests.status_reply
        )

    def get_statuses(
        self, evse_ids: Iterable[str], *, max_age: float | None = None
    ) -> dict[str, ChStatus]:
        """Return the status of several charge points, pipelined (all sent, then all awaited).

        ``max_age``: as in [`get_status()`][bluecurrent_sync.Client.get_status]; only the charge
        points without a fresh mirrored status are asked.

        Returns:
            ``{evse_id: ChStatus}`` for every requested evse_id.

        Raises:
            TypeError: ``evse_ids`` is a single string, or an id is not a string.
            BlueCurrentError: The first error of any of the requests (the others are still
                awaited), for example ApiError for a charge point not on the account.
        """
        if isinstance(evse_ids, str):
            raise TypeError("get_statuses() takes a list of evse ids, not one string")
        ids = [require_evse_id(evse_id) for evse_id in dict.fromkeys(evse_ids)]
        results: dict[str, ChStatus] = {}
        for evse_id in ids:
            fresh = self._fresh(self._mirror.status, evse_id, max_age)
            if fresh is not None:
                results[evse_id] = fresh
        asked = [(evse_id, proto.evse_fields(evse_id)) for evse_id in ids if evse_id not in results]
        results.update(
            self._requests.call_each(proto.GET_CH_STATUS, asked, self._requests.status_reply)
        )
        return {evse_id: results[evse_id] for evse_id in ids}

    def get_settings(self, evse_id: str, *, max_age: float | None = None) -> ChSettings:
        """Return the settings of one charge point (GET_CH_SETTINGS; ``timeout``).

        ``max_age``: as in [`get_status()`][bluecurrent_sync.Client.get_status] (settings are pushed
        after every change).
        """
        fresh = self._fresh(self._mirror.settings, evse_id, max_age)
        if fresh is not None:
            return fresh
        return self._requests.call(
            proto.GET_CH_SETTINGS,
            proto.evse_fields(evse_id),
            evse_id,
            self._requests.settings_reply,
        )

    def get_grid_status(self, evse_id: str, *, max_age: float | None = None) -> GridStatus:
        """Return the grid load at a charge point's installation (GET_GRID_STATUS; ``timeout``).

        The reply may name the grid by another charge point of the account
        (``GridStatus.grid_id``), so grid reads go one at a time (docs/PROTOCOL.md OP-2);
        ``GridStatus.evse_id`` is always ``evse_id``. Once a reply has named this charge
        point's grid, a GRID_STATUS naming another grid (a push) is never taken as the answer.

        ``max_age``: as in [`get_status()`][bluecurrent_sync.Client.get_status].
        """
        learned = self._mirror.grid_status(evse_id)
        fresh = self._fresh(lambda _evse_id: learned, evse_id, max_age)
        if fresh is not None:
            return fresh
        known_grid = None if learned is None else learned.value.grid_id

        def convert(frame: Mapping[str, Any]) -> GridStatus:
            status = self._converter.grid_status(frame, evse_id)
            # Mirrored here, not by the router: only the request attributes a GRID_STATUS.
            self._mirror.observe(proto.OBJ_GRID_STATUS, evse_id, frame, status)
            return status

        return self._requests.call(
            proto.GET_GRID_STATUS,
            proto.evse_fields(evse_id),
            evse_id,
            self._requests.grid_reply(evse_id, known_grid, convert),
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
            TypeError: ``value`` is not a bool (nothing is sent).
        """
        require_bool("value", value)
        return self._requests.call(
            proto.SET_PUBLIC_CHARGING,
            proto.value_fields(evse_id, not value),
            evse_id,
            self._requests.setting(proto.SET_PUBLIC_CHARGING, evse_id, not value),
        )

    def set_plug_and_charge(self, evse_id: str, value: bool) -> SettingResult:
        """Switch plug and charge on or off (SET_PLUG_AND_CHARGE; ``timeout``).

        Returns:
            SettingResult with ``setting == "plug_and_charge"``.

        Raises:
            ActionFailed: The server refused the change.
            TypeError: ``value`` is not a bool (``"off"`` would otherwise switch it on).
        """
        return self._requests.call(
            proto.SET_PLUG_AND_CHARGE,
            proto.value_fields(evse_id, value),
            evse_id,
            self._requests.setting(proto.SET_PLUG_AND_CHARGE, evse_id, value),
        )

    # -- device actions (two-step: ack, then result; ``action_timeout``) ---------------------
    def block(self, evse_id: str, value: bool = True) -> ActionResult:
        """Block (True → SET_INOPERATIVE) or unblock (False → SET_OPERATIVE) a charge point.

        Waits for the device result (``action_timeout``): a ``STATUS_SET_(IN)OPERATIVE``
        verdict, or a pushed CH_STATUS of this charge point showing the new activity
        (``unavailable`` / available again), whichever comes first (docs/PROTOCOL.md OP-3).

        Returns:
            ActionResult: ``outcome=CONFIRMED`` (``success=True``) when confirmed;
            ``outcome=ACKNOWLEDGED`` (``success=None``) when the server acknowledged the
            command but neither confirmation came within ``verdict_timeout`` /
            ``action_timeout``.

        Raises:
            ActionFailed: The ack carried an error or the result had ``success: false``.
            RequestTimeoutError: Nothing at all (not even an acknowledgement) within
                ``action_timeout``.
            TypeError: ``value`` is not a bool (nothing is sent).
        """
        command = proto.SET_INOPERATIVE if require_bool("value", value) else proto.SET_OPERATIVE
        return self._requests.action(command, proto.evse_fields(evse_id), evse_id)

    def reset(self, evse_id: str) -> ActionResult:
        """Soft-reset a charge point (SOFT_RESET; ``action_timeout``). Raises ActionFailed."""
        return self._requests.action(proto.SOFT_RESET, proto.evse_fields(evse_id), evse_id)

    def reboot(self, evse_id: str) -> ActionResult:
        """Reboot a charge point (REBOOT; ``action_timeout``). Raises ActionFailed."""
        return self._requests.action(proto.REBOOT, proto.evse_fields(evse_id), evse_id)

    def start_session(self, evse_id: str, card_uid: str) -> ActionResult:
        """Start a charging session with a card's ``uid`` (``"BCU-APP"``: no card).

        START_SESSION; ``action_timeout``. Raises ActionFailed when refused.
        """
        return self._requests.action(
            proto.START_SESSION, proto.session_fields(evse_id, card_uid), evse_id
        )

    def stop_session(self, evse_id: str) -> ActionResult:
        """Stop the running session (STOP_SESSION; ``action_timeout``).

        Raises:
            ActionFailed: For example "no active session for chargepoint: ...".
        """
        return self._requests.action(proto.STOP_SESSION, proto.evse_fields(evse_id), evse_id)

    # -- smart charging (undocumented replies: first of STATUS_X, X, RECEIVED_X) -----------
    def set_delayed_charging(self, evse_id: str, value: bool) -> ActionResult:
        """Enable or disable delayed charging (SET_DELAYED_CHARGING; ``timeout``)."""
        return self._requests.action(
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
        return self._requests.action(
            proto.SAVE_SCHEDULE_DELAYED_CHARGING, fields, evse_id, self.timeout
        )

    def set_price_based_charging(self, evse_id: str, value: bool) -> ActionResult:
        """Enable or disable price-based charging (SET_PRICE_BASED_CHARGING; ``timeout``)."""
        return self._requests.action(
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
        return self._requests.action(
            proto.PATCH_PRICE_BASED_CHARGING_SETTINGS, fields, evse_id, self.timeout
        )

    def override_price_based_charging_profile(self, evse_id: str, value: bool) -> ActionResult:
        """Boost (override) the price-based profile (OVERRIDE_CHARGING_PROFILES; ``timeout``)."""
        return self._requests.action(
            proto.OVERRIDE_CHARGING_PROFILES,
            proto.value_fields(evse_id, value),
            evse_id,
            self.timeout,
        )

    def override_delayed_charging_profile(self, evse_id: str, value: bool) -> ActionResult:
        """Boost the delayed profile (OVERRIDE_DELAYED_CHARGING_TIMEOUT; ``timeout``)."""
        return self._requests.action(
            proto.OVERRIDE_DELAYED_CHARGING_TIMEOUT,
            proto.value_fields(evse_id, value),
            evse_id,
            self.timeout,
        )

    # -- override-current schedules ----------------------------------------------------
    def get_user_override_currents_list(self) -> list[OverrideSchedule]:
        """Return the override-current schedules (LIST_OVERRIDE_CURRENT; ``timeout``)."""
        return self._requests.call(
            proto.LIST_OVERRIDE_CURRENT, {}, None, self._converter.override_schedules
        )

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
        return self._requests.call(
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

        Arguments as
        [`set_user_override_current()`][bluecurrent_sync.Client.set_user_override_current], plus the
        schedule's id.

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
        return self._requests.call(
            proto.POST_EDIT_OVERRIDE_CURRENT, fields, None, self._converter.override_schedule
        )

    def clear_user_override_current(self, schedule_id: str | int) -> ActionResult:
        """Delete an override-current schedule (POST_CLEAR_OVERRIDE_CURRENT; ``timeout``).

        Raises:
            ValueError: ``schedule_id`` is not an integer id.
            ActionFailed: The server answered ``success: false`` (e.g. unknown id).
        """
        fields = proto.clear_schedule_id_field(schedule_id)
        return self._requests.action(proto.POST_CLEAR_OVERRIDE_CURRENT, fields, None, self.timeout)

    def _fresh(
        self,
        mirrored: Callable[[str], Observed[T] | None],
        evse_id: str,
        max_age: float | None,
    ) -> T | None:
        """The mirrored value if it is at most ``max_age`` seconds old (and usable now).

        Without ``max_age`` the mirror is not asked at all: reading it converts its frame.
        """
        if max_age is None:
            return None
        max_age = require_age("max_age", max_age)  # checked whether or not one is mirrored
        observed = mirrored(evse_id)
        if observed is None:
            return None
        if observed.age > max_age:
            return None
        self._check_waitable()  # not before connect() or after close(); fine while limited
        return observed.value

    def _check_waitable(self) -> None:
        """Raise when waiting for a pushed status can no longer end well."""
        state = self._conn.state.value
        if state in ("new", "connecting"):
            raise ClientStateError("the client is not connected; call connect() first")
        if state == "closed":
            raise ClientStateError("the client is closed")
        fatal = self._conn.fatal_error
        if state == "failed" and fatal is not None:
            raise copy_error(fatal)

    # -- callbacks from the reader thread ------------------------------------------------
    def _on_down(self, error: BlueCurrentError, reconnecting: bool) -> None:
        self._pending.fail_all(lambda _w: copy_error(error))
        self._mirror.wake()  # status waiters re-check the state (a fatal error ends them)
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

    @property
    def state(self) -> str:
        """The state: new, connecting, connected, reconnecting, limited, failed or closed."""
        return self._conn.state.value


def _value_of(observed: Observed[T] | None) -> T | None:
    return None if observed is None else observed.value


def _weakly(ref: weakref.ref[Client], method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` bound to the client behind ``ref``; does nothing once it is collected."""

    def call(*args: Any) -> Any:
        client = ref()
        return None if client is None else method(client, *args)

    return call


class _Parts(NamedTuple):
    """What closing a client stops (never the client itself: its finalizer holds these)."""

    conn: Connection
    pending: PendingTable
    dispatcher: Dispatcher
    mirror: Mirror
    recorder: CaptureRecorder | None


def _shut_down(parts: _Parts, timeout: float) -> None:
    """Close the connection, fail every waiting call, stop the threads: one ``timeout``."""
    deadline = time.monotonic() + timeout  # one budget for the reader and the dispatcher
    closed = lambda _w: ConnectionClosedError("the client was closed")  # noqa: E731
    parts.pending.fail_all(closed)
    parts.conn.close(timeout)
    # Again: a call that passed its state check just before close() may have registered
    # its waiter in between; it must not wait for its timeout.
    parts.pending.fail_all(closed)
    parts.mirror.end(ConnectionClosedError("the client was closed"))
    parts.dispatcher.stop(max(deadline - time.monotonic(), 0.05))
    if parts.recorder is not None:
        parts.recorder.close()


def _close_abandoned(parts: _Parts, timeout: float) -> None:
    """Finalizer of a client collected (or left at exit) without
    [`Client.close()`][bluecurrent_sync.Client.close]."""
    state = parts.conn.state.value
    if state not in ("new", "closed"):
        warnings.warn(
            f"bluecurrent_sync Client ({state}) was not closed; closing it now",
            ResourceWarning,
            stacklevel=2,
        )
    _shut_down(parts, timeout)
