"""The logical connection: handshake, the reader thread, keepalive and reconnect policy.

Socket and framing live in ``_transport.py``; this module speaks the protocol over them.

Life of a :class:`Connection`:

* :meth:`Connection.open` (caller's thread) validates the API token on a short connection,
  opens the main connection, sends HELLO and waits for its reply (or any other non-ERROR frame,
  or ``hello_timeout`` of silence), all under ONE deadline (``connect_timeout``) that
  :meth:`Connection.close` can interrupt from another thread; then it starts the
  ``bluecurrent-sync-reader`` daemon thread, which from then on owns the receive side.
* Every text frame, redacted of both tokens, goes to ``on_frame`` from whichever thread
  holds the *read role*: a caller in :meth:`Connection.wait_reply` takes it when it is free
  and reads its own reply (leader/follower: no hand-off from the reader thread); the reader
  thread reads when no caller waits (and ``CALLER_GRACE`` after the last one left) and always
  keeps liveness, judged by complete frames: ``ping_interval`` without one sends a ping,
  ``ping_interval + ping_timeout`` without one counts the connection dead. An exception while
  a frame is being handled marks the connection dead rather than half-deliver it.
* When the connection drops the reader calls ``on_down(error, reconnecting)`` (the client fails
  every pending call with ``error`` at once) and, with ``reconnect=True``, reconnects with
  exponential backoff and jitter. The backoff starts again from its initial delay only after
  a connection stayed up ``stable_after`` seconds, so a flapping server costs a bounded number
  of HELLOs. "Already connected" while reconnecting is transient (the server releases our own
  stale connection): same backoff, given up after ``already_connected_attempts`` refusals.
  Each attempt has the same one deadline as :meth:`Connection.open`.
* ERROR 1 on the live connection re-validates the API token once (:meth:`token_refused`);
  a refused validation, or a second ERROR 1 soon after, stops with :class:`InvalidApiToken`.
* A used-up request quota (ERROR 42, close code 4001, refused handshake) puts the
  connection in the *limited* state until ``reset_at``: no reconnect attempts, and every
  call raises :class:`RequestLimitReached` at once.
* :meth:`Connection.close` is idempotent, wakes the reader and joins it with a timeout. In a
  forked child the connection forgets the parent's socket without touching it.

No token is ever logged or put in an exception message (see ``_redact.py``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import json
import logging
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from . import _protocol as proto
from ._lazy import LazyModule
from ._log import CONNECTION
from ._proxy import Proxy
from ._redact import Redactor
from ._tap import ConnectionKind, TapSet
from ._transport import (
    OP_CLOSE,
    OP_PING,
    Deadline,
    ProtocolViolation,
    ProxyRefused,
    UpgradeRefused,
    WebSocketStream,
    make_ssl_context,
    open_websocket,
)
from ._wire import (
    OBJ_ERROR,
    OBJ_HELLO,
    REJECT_REASON_HEADER,
    copy_error,
    error_for_close,
    error_for_rejection,
    object_name_of,
)

if TYPE_CHECKING:
    import ssl
else:  # ssl is imported when the first client is made
    ssl = LazyModule("ssl")
from .errors import (
    AlreadyConnected,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
    RequestTimeoutError,
)

__all__ = [
    "Backoff",
    "Connection",
    "State",
    "reset_after_fork",
]

logger = logging.getLogger(CONNECTION)

READER_THREAD_NAME = "bluecurrent-sync-reader"
_USER_AGENT = "bluecurrent-sync"

#: Seconds a connection must stay up before the reconnect backoff starts again from its
#: initial delay. With the default ``reconnect_delay=(0.5, 30.0)`` a server that accepts and
#: drops every connection therefore gets at most ~240 HELLOs an hour (one per 15-30 s).
STABLE_AFTER = 60.0

#: Consecutive "Already connected" refusals while reconnecting before giving up (about four
#: minutes at the default backoff): the server releases a stale connection of ours in time.
ALREADY_CONNECTED_ATTEMPTS = 10

#: Seconds the reader thread keeps standing aside after the last waiting caller left (the
#: next call of a loop usually comes sooner); the longest a push then waits to be read.
CALLER_GRACE = 0.005


class _Waiter(Protocol):
    @property
    def done(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...


class _Converter(Protocol):
    def token_status(self, frame: Mapping[str, Any]) -> Any: ...

    def server_exception(self, frame: Mapping[str, Any]) -> BlueCurrentError: ...


class State(enum.Enum):
    """Where the connection is in its life."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LIMITED = "limited"
    FAILED = "failed"
    CLOSED = "closed"


class Backoff:
    """Exponential backoff with equal jitter: ``initial`` doubling up to ``maximum``.

    Args:
        initial: First delay in seconds.
        maximum: Cap in seconds.
        rng: Random source (injectable for tests).
    """

    def __init__(
        self, initial: float = 0.5, maximum: float = 30.0, rng: random.Random | None = None
    ):
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._current = initial
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Return the next delay (between half and all of the current step) and double the step."""
        step = self._current
        self._current = min(self._current * 2, self.maximum)
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        """Start again from ``initial`` (after a connection that stayed up)."""
        self._current = self.initial


class Connection:
    """One logical connection to the server, reconnected as needed.

    Args:
        api_token: The user's API token (never logged).
        url: The websocket URL.
        converter: Converts token-status and ERROR frames.
        on_frame: Called with each text frame of the main connection (already redacted of
            both tokens); must not raise. It returns the error when the frame concerns the
            connection itself: :class:`RequestLimitReached` (ERROR 42) enters the limited
            state, :class:`InvalidApiToken` (ERROR 1) re-validates (:meth:`token_refused`).
        on_down: Called when the connection is lost or a reconnect attempt is refused, with
            the error every pending call should fail with and whether reconnecting goes on.
        on_up: Called after a successful reconnect.
        timeout: Seconds for a handshake reply and for closing.
        reconnect: Whether to reconnect after a drop.
        backoff: The reconnect delay policy.
        max_frame_bytes: Larger incoming messages are skipped with a warning.
        sslopt: TLS options (see ``_transport.make_ssl_context``).
        ping_interval: Seconds without a complete frame from the server after which the reader
            sends a websocket ping (None: no keepalive).
        ping_timeout: Further seconds without a complete frame after which the connection
            counts as dead.
        taps: Observers of every text frame on every connection (see ``_tap.py``).
        connect_timeout: The one deadline of :meth:`open` and of each reconnect attempt (TCP,
            TLS, HTTP upgrade, validation, HELLO); None: ``timeout``.
        hello_timeout: How long to wait for the HELLO reply (capped by the deadline); silence
            that long counts as a live session.
        redactor: Knows both tokens; every incoming text passes through it.
        stable_after: Seconds a connection must stay up before the backoff starts again
            from its initial delay.
        already_connected_attempts: Consecutive "Already connected" refusals while
            reconnecting before giving up.
        proxy: The HTTP proxy every connection tunnels through (None: direct); chosen by
            the client (``_proxy.choose_proxy``).
    """

    def __init__(
        self,
        api_token: str,
        url: str,
        converter: _Converter,
        *,
        on_frame: Callable[[str], BlueCurrentError | None],
        on_down: Callable[[BlueCurrentError, bool], None],
        on_up: Callable[[], None],
        timeout: float,
        reconnect: bool,
        backoff: Backoff,
        max_frame_bytes: int,
        sslopt: dict[str, Any] | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        taps: TapSet | None = None,
        connect_timeout: float | None = None,
        hello_timeout: float = 5.0,
        redactor: Redactor | None = None,
        stable_after: float = STABLE_AFTER,
        already_connected_attempts: int = ALREADY_CONNECTED_ATTEMPTS,
        proxy: Proxy | None = None,
    ) -> None:
        self._api_token = api_token
        self.proxy = proxy
        self._redactor = redactor if redactor is not None else Redactor(api_token)
        self._taps = taps if taps is not None else TapSet()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.url = url
        self._converter = converter
        self._on_frame = on_frame
        self._on_down = on_down
        self._on_up = on_up
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.hello_timeout = hello_timeout
        self.reconnect = reconnect
        self._backoff = backoff
        self.stable_after = stable_after
        self.already_connected_attempts = already_connected_attempts
        self.max_frame_bytes = max_frame_bytes
        self._ssl_context = make_ssl_context(sslopt) if url.startswith("wss:") else None
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: WebSocketStream | None = None
        self._connecting: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._server_token: str | None = None
        self.customer_id: str | None = None
        self.state = State.NEW
        self.limited_until: _dt.datetime | None = None
        self.fatal_error: BlueCurrentError | None = None
        self._dropped_before = 0
        self._up_since: float | None = None
        self._refusals = 0  # consecutive "Already connected" while reconnecting
        self._revalidated_at: float | None = None
        self._sent_since_revalidation = False
        self._revalidating = False
        self._fail_with: BlueCurrentError | None = None
        # The read role (leader/follower): whoever holds it reads the socket. A caller
        # waiting for its reply takes it when free and reads for itself (no hand-off to the
        # reader thread); the reader thread reads when no caller waits.
        self._role = threading.Lock()
        role_lock = threading.Lock()
        self._role_cond = threading.Condition(role_lock)  # followers wait here
        self._aside = threading.Condition(role_lock)  # the reader thread stands aside here
        self._last_caller_left = 0.0
        self._callers = 0  # callers inside wait_reply (the reader thread stands aside)
        self._followers = 0  # callers waiting for the role or for a leader to read their reply
        _FORK_RESET.add(self)

    def __repr__(self) -> str:
        return f"<Connection url={self._redactor.scrub(self.url)!r} state={self.state.value}>"

    # -- public ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether the main connection is up and HELLO was answered."""
        return self.state is State.CONNECTED

    @property
    def dropped_frames(self) -> int:
        """How many incoming messages were skipped for exceeding ``max_frame_bytes``."""
        stream = self._stream
        return self._dropped_before + (stream.dropped if stream is not None else 0)

    def open(self) -> None:
        """Validate the token, open the main connection, HELLO, start the reader thread.

        Everything (name lookup, TCP, TLS, HTTP upgrade, validation, HELLO) shares one deadline of
        ``connect_timeout`` seconds; :meth:`close` from another thread interrupts it.

        Raises:
            InvalidApiToken: The token was refused.
            RequestLimitReached: The daily quota is used up.
            AlreadyConnected: The server refused a second connection.
            ConnectionClosedError: The server could not be reached or closed the connection,
                the upgrade was refused or redirected, or the client was closed meanwhile.
            RequestTimeoutError: The deadline passed.
            ClientStateError: Already opened or closed.
        """
        with self._state_lock:
            if self.state is not State.NEW:
                raise ClientStateError(f"connect() called on a {self.state.value} client")
            self.state = State.CONNECTING
        deadline = Deadline(self.connect_timeout)
        try:
            stream = self._establish(deadline)  # validates first unless get_email() just did
        except BaseException as exc:
            with self._state_lock:
                if self.state is State.CONNECTING:
                    self.state = State.NEW
            if isinstance(exc, BlueCurrentError):
                self._redactor.scrub_error(exc)
            raise
        with self._state_lock:
            if self._stop.is_set():
                stream.abort()
                raise ConnectionClosedError("the client was closed while connecting")
            self._stream = stream
            self.state = State.CONNECTED
            self._up_since = time.monotonic()
        # The thread holds the connection only: nothing here refers back to the Client.
        self._reader = threading.Thread(
            target=self._run, args=(stream,), name=READER_THREAD_NAME, daemon=True
        )
        self._reader.start()

    def on_reader_thread(self) -> bool:
        """Whether the caller is the reader thread (which must never block on a reply)."""
        return self._reader is not None and threading.current_thread() is self._reader

    def check_usable(self) -> None:
        """Raise the error a call made now must fail with, if any (no network use).

        Raises:
            ClientStateError: Not connected yet, closed, or made before a fork.
            RequestLimitReached: In the limited state (with ``reset_at``).
            InvalidApiToken | AlreadyConnected: Reconnection stopped on that error.
            ConnectionClosedError: The connection is down (reconnecting).
        """
        state = self.state
        if state is State.CONNECTED:
            if self._revalidating:
                raise ConnectionClosedError("the API token is being validated again")
            return
        if state in (State.NEW, State.CONNECTING):
            raise ClientStateError("the client is not connected; call connect() first")
        if state is State.CLOSED:
            raise ClientStateError("the client is closed")
        limited_until = self.limited_until
        if state is State.LIMITED and limited_until is not None:
            if _dt.datetime.now(_dt.timezone.utc) < limited_until:
                raise RequestLimitReached("Request limit reached", limited_until)
            with self._state_lock:
                if self.state is State.LIMITED and self._stream is not None:
                    # ERROR 42 without a close: the connection stayed up; the quota has reset.
                    self.state = State.CONNECTED
                    self.limited_until = None
                    return
            raise ConnectionClosedError("the connection is down; reconnecting")
        if state is State.FAILED and self.fatal_error is not None:
            raise copy_error(self.fatal_error)
        raise ConnectionClosedError("the connection is down; reconnecting")

    def send(
        self, command: str, fields: Mapping[str, Any], before_send: Callable[[], None] | None = None
    ) -> None:
        """Send one authenticated command frame.

        Args:
            command: The command name.
            fields: Its wire fields.
            before_send: Called under the send lock right before the frame goes out (used
                to fix the request's place in send order).

        Raises:
            The errors of :meth:`check_usable`, or ConnectionClosedError if the send fails.
        """
        with self._send_lock:
            self.check_usable()
            stream = self._stream
            assert stream is not None and self._server_token is not None
            frame = proto.command_frame(
                command, proto.auth_value(self._server_token), **dict(fields)
            )
            if before_send is not None:
                before_send()
            if self._revalidated_at is not None:
                self._sent_since_revalidation = True
            self._send_frame(stream, frame, "main")

    def request_once(self, command: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Send one command on a fresh short connection and return its one reply frame.

        Used for GET_ACCOUNT (PROTOCOL.md 1.3); does not touch the main connection. Before
        :meth:`open` the token is first validated on a short connection of its own (and kept
        for :meth:`open`). The whole exchange is bounded by ``connect_timeout``.

        Raises:
            ConnectionClosedError, RequestTimeoutError, RequestLimitReached, AlreadyConnected,
            InvalidApiToken (before :meth:`open`).
        """
        deadline = Deadline(self.connect_timeout)
        try:
            if self.state is State.NEW and self._server_token is None:
                self._validate_token(deadline)
            elif self.state is not State.NEW:
                self.check_usable()
            assert self._server_token is not None
            auth = proto.auth_value(self._server_token)
            frame = proto.command_frame(command, auth, **dict(fields))
            return self._short_exchange(frame, "account", deadline)
        except BlueCurrentError as exc:
            raise self._redactor.scrub_error(exc) from None

    def close(self, timeout: float | None = None) -> None:
        """Close the connection and join the reader thread (idempotent).

        Interrupts a :meth:`open` or reconnect attempt in progress on another thread.

        Args:
            timeout: Seconds the whole close may take (default: the connection's
                ``timeout``); a reader thread still alive then is left, with a warning.
        """
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        with self._state_lock:
            if self.state is State.CLOSED:
                return
            self.state = State.CLOSED
            self._stop.set()
            stream, self._stream = self._stream, None
            connecting = self._connecting
        reader = self._reader
        joinable = reader is not None and reader is not threading.current_thread()
        if stream is not None:
            stream.set_timeout(min(budget, 1.0))  # a peer that reads nothing: no hang
            stream.send_close()
            if joinable:
                assert reader is not None
                # Give the server a moment to answer the close frame (a clean close).
                reader.join(min(budget, 0.25))
            stream.abort()
            if self._taps:
                self._taps.connection_event("closed", "main", "the client was closed")
        if connecting is not None:
            _shutdown(connecting)
        self._wake_waiting_callers()
        if joinable:
            assert reader is not None
            reader.join(max(deadline - time.monotonic(), 0.05))
            if reader.is_alive():
                logger.warning("reader thread did not stop within %.1f s", budget)

    def _after_fork_in_child(self) -> None:
        """In a forked child: forget the parent's sockets and threads without touching them."""
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._role = threading.Lock()
        role_lock = threading.Lock()
        self._role_cond = threading.Condition(role_lock)
        self._aside = threading.Condition(role_lock)
        self._callers = self._followers = 0
        if self._stream is not None:
            self._stream.forget()
        self._stream = None
        self._connecting = None
        self._reader = None
        self._stop = threading.Event()
        self._stop.set()
        if self.state not in (State.NEW, State.CLOSED):
            self.state = State.FAILED
            self.fatal_error = ClientStateError(
                "this client belongs to the process that forked; make a new Client here"
            )

    # -- handshake -----------------------------------------------------------------------
    def _set_connecting(self, sock: socket.socket | None) -> None:
        with self._state_lock:
            self._connecting = sock
            stopping = self._stop.is_set()
        if stopping and sock is not None:
            _shutdown(sock)

    def _open_stream(self, kind: ConnectionKind, deadline: Deadline) -> WebSocketStream:
        if self._stop.is_set():
            raise ConnectionClosedError("the client was closed while connecting")
        where = self._redactor.scrub(_display_url(self.url))
        if self.proxy is not None:
            where = f"{where} (via the proxy {self.proxy.display})"
        try:
            stream = open_websocket(
                self.url,
                deadline,
                ssl_context=self._ssl_context,
                headers=[f"User-Agent: {_USER_AGENT}"],
                max_frame_bytes=self.max_frame_bytes,
                register=self._set_connecting,
                cancelled=self._stop,
                proxy=self.proxy,
            )
        except ProxyRefused as exc:
            assert self.proxy is not None
            hint = {
                407: " (proxy authentication required: check the user:password in the proxy URL)"
            }.get(exc.status, "")
            raise ConnectionClosedError(
                f"proxy {self.proxy.display} refused the tunnel: HTTP {exc.status}{hint}"
            ) from None
        except UpgradeRefused as exc:
            raise error_for_rejection(
                exc.status, exc.headers.get(REJECT_REASON_HEADER, "")
            ) from None
        except TimeoutError:
            if self._stop.is_set():
                raise ConnectionClosedError("the client was closed while connecting") from None
            raise ConnectionClosedError(f"timed out connecting to {where}") from None
        except ssl.SSLError as exc:
            raise ConnectionClosedError(
                f"TLS error connecting to {where}: {exc.reason or type(exc).__name__}"
            ) from None
        except ProtocolViolation as exc:
            raise ConnectionClosedError(f"bad websocket upgrade from {where}: {exc}") from None
        except OSError as exc:
            if self._stop.is_set():
                raise ConnectionClosedError("the client was closed while connecting") from None
            raise ConnectionClosedError(
                f"could not connect to {where}: {exc.strerror or type(exc).__name__}"
            ) from None
        with self._state_lock:
            if self._stop.is_set():
                stream.abort()
                raise ConnectionClosedError("the client was closed while connecting")
            self._connecting = stream.sock
        if self._taps:
            self._taps.connection_event("opened", kind, "")
        return stream

    def _short_exchange(
        self, frame: Mapping[str, Any], kind: ConnectionKind, deadline: Deadline
    ) -> dict[str, Any]:
        """Open a short connection, send ``frame``, read one reply, close (all by ``deadline``)."""
        stream = self._open_stream(kind, deadline)
        try:
            self._send_frame(stream, frame, kind)
            reply, _text = self._read_handshake_frame(
                stream, str(frame.get("command")), kind, deadline
            )
        finally:
            with self._state_lock:
                self._connecting = None
            stream.set_timeout(min(1.0, max(0.01, deadline.remaining())))
            stream.send_close()
            stream.abort()
            if self._taps:
                self._taps.connection_event("closed", kind, "short exchange done")
        proto_error = self._error_of(reply)
        if proto_error is not None:
            raise proto_error
        return reply

    def _validate_token(self, deadline: Deadline) -> None:
        reply = self._short_exchange(proto.validate_frame(self._api_token), "validate", deadline)
        status = self._converter.token_status(reply)
        if not status.success or not status.token:
            raise InvalidApiToken("the API token was refused")
        self._redactor.learn(status.token)
        with self._send_lock:
            self._server_token = status.token
        self.customer_id = status.customer_id

    def _establish(self, deadline: Deadline) -> WebSocketStream:
        """Open the main connection and complete HELLO; re-validate once on ERROR 1."""
        for attempt in range(2):
            if self._server_token is None:
                self._validate_token(deadline)
            assert self._server_token is not None
            stream = self._open_stream("main", deadline)
            try:
                self._send_frame(
                    stream, proto.hello_frame(proto.auth_value(self._server_token)), "main"
                )
                self._await_hello(stream, deadline)
            except InvalidApiToken:
                _close_quietly(stream)
                if attempt:
                    raise
                logger.info(
                    "server-issued token no longer accepted; validating the API token again"
                )
                self._server_token = None
                continue
            except BaseException:
                _close_quietly(stream)
                raise
            finally:
                with self._state_lock:
                    self._connecting = None
            stream.set_timeout(self.ping_interval)
            return stream
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_hello(self, stream: WebSocketStream, deadline: Deadline) -> None:
        """Wait for the HELLO reply, or any other non-ERROR frame, or ``hello_timeout``.

        A push before the reply proves the session live as well (it is routed normally).
        Silence for ``hello_timeout`` (capped by the deadline) also counts as established.
        """
        wait = min(self.hello_timeout, max(0.0, deadline.remaining()))
        hello_deadline = Deadline(wait)
        try:
            reply, text = self._read_handshake_frame(stream, proto.HELLO, "main", hello_deadline)
        except RequestTimeoutError:
            if self._stop.is_set():
                raise ConnectionClosedError("the client was closed while connecting") from None
            logger.info("no HELLO reply within %.1f s; the connection counts as established", wait)
            return
        error = self._error_of(reply)
        if error is not None:
            raise error
        if object_name_of(reply) != OBJ_HELLO:
            try:
                self._on_frame(text)  # not ERROR (raised above): nothing for the connection
            except Exception:  # never let one frame break the handshake
                logger.exception("failed to handle a frame received before the HELLO reply")

    def _read_handshake_frame(
        self, stream: WebSocketStream, command: str, kind: ConnectionKind, deadline: Deadline
    ) -> tuple[dict[str, Any], str]:
        """Read the next JSON object (and its redacted text) before ``deadline``."""
        while True:
            try:
                opcode, data = stream.read_message(deadline)
            except TimeoutError:
                if self._stop.is_set():
                    raise ConnectionClosedError("the client was closed while connecting") from None
                raise RequestTimeoutError(command, None, self.connect_timeout) from None
            except (ProtocolViolation, OSError) as exc:
                if self._stop.is_set():
                    raise ConnectionClosedError("the client was closed while connecting") from None
                raise ConnectionClosedError(
                    f"connection lost waiting for the reply to {command}: {type(exc).__name__}"
                ) from None
            if opcode == OP_CLOSE:
                raise self._close_error(data)
            text = self._decode(data)
            if text is None:
                continue
            if self._taps:
                self._taps.frame("in", text, kind)
            text = self._redactor.scrub(text)
            try:
                reply = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                logger.warning("dropped a non-JSON frame while waiting for %s", command)
                continue
            if isinstance(reply, dict):
                return reply, text
            logger.warning("dropped a non-object frame while waiting for %s", command)

    def _error_of(self, frame: Mapping[str, Any]) -> BlueCurrentError | None:
        """Map an ERROR frame to its exception (None for any other frame)."""
        if object_name_of(frame) != OBJ_ERROR:
            return None
        return self._converter.server_exception(frame)

    # -- I/O helpers -------------------------------------------------------------------
    def _send_frame(
        self, stream: WebSocketStream, frame: Mapping[str, Any], kind: ConnectionKind
    ) -> None:
        text = proto.encode(frame)  # logged by the wire-log tap (bluecurrent_sync.wire)
        if self._taps:
            self._taps.frame("out", text, kind)
        try:
            stream.send_text(text)
        except OSError as exc:
            raise ConnectionClosedError(
                f"connection lost while sending {frame.get('command')}: {type(exc).__name__}"
            ) from None

    def _decode(self, data: bytes) -> str | None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("dropped an incoming frame that is not valid UTF-8")
            return None

    def _close_error(self, data: bytes) -> BlueCurrentError:
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        reason = data[2:].decode("utf-8", "replace") if len(data) > 2 else ""
        return error_for_close(code, reason)

    # -- the reader thread ---------------------------------------------------------------
    def _run(self, stream: WebSocketStream | None) -> None:
        while not self._stop.is_set():
            if stream is not None:
                error = self._read_until_dropped(stream)
                stream.abort()
                self._dropped_before += stream.dropped
                if self._taps:
                    self._taps.connection_event("closed", "main", str(error))
                if self._stop.is_set():
                    return
                self._went_down(error)
                stream = None
            if not self.reconnect or self.state in (State.FAILED, State.CLOSED):
                return
            if not self._wait_before_reconnect():
                return
            stream = self._try_reconnect()

    def _read_until_dropped(self, stream: WebSocketStream) -> BlueCurrentError:
        """Read frames until the connection fails; return the error pending calls fail with.

        While callers wait in :meth:`wait_reply` they read for themselves and this thread
        stands aside (it still watches liveness). Liveness is judged by complete frames
        (pongs included), not bytes: after ``ping_interval`` seconds without one a ping goes
        out, and after ``ping_interval + ping_timeout`` seconds the connection counts as
        dead, even if a server keeps dripping bytes of a frame that never completes.
        """
        interval = self.ping_interval
        timeout = self.ping_timeout
        pinged_at = 0.0
        cond = self._role_cond
        role = self._role
        while True:
            if stream.end_error is not None:
                return stream.end_error  # type: ignore[no-any-return]
            if self._fail_with is not None:
                return self._fail_with
            if self._stop.is_set():
                return ConnectionClosedError("the client was closed")
            check_at = None
            if interval is not None:
                last = stream.last_progress
                check_at = last + (interval if pinged_at < last else interval + timeout)
            aside = self._callers or time.monotonic() - self._last_caller_left < CALLER_GRACE
            if aside:
                # Callers read for themselves. Right after one leaves, another usually comes
                # (a loop of calls): stand aside a moment longer rather than wake for its
                # reply; a push arriving then waits at most CALLER_GRACE.
                with cond:
                    if stream.end_error is None and not self._stop.is_set():
                        now = time.monotonic()
                        wait = (
                            CALLER_GRACE
                            if self._callers
                            else (self._last_caller_left + CALLER_GRACE - now)
                        )
                        if check_at is not None:
                            wait = min(wait, check_at - now)
                        if wait > 0:
                            self._aside.wait(wait)
            elif stream.wait_readable(
                None if check_at is None else max(0.0, check_at - time.monotonic()),
                wakeable=True,
            ):
                if self._callers or not role.acquire(blocking=False):
                    continue  # a caller is reading: let it
                try:
                    if not stream.wait_readable(0):
                        continue  # a caller took what was there
                    opcode, data = stream.read_message(None, check_at)
                    error = self._handle_message(stream, opcode, data)
                except TimeoutError:
                    pass  # check_at reached: the liveness check below
                except (ProtocolViolation, OSError, ValueError) as exc:
                    if stream.end_error is None and not self._stop.is_set():
                        logger.info("connection lost: %s", type(exc).__name__)
                    return (
                        self._fail_with
                        or stream.end_error
                        or ConnectionClosedError("the connection was lost")
                    )
                else:
                    if error is not None:
                        return error
                    continue
                finally:
                    with cond:
                        role.release()
                        cond.notify_all()  # callers that came meanwhile may lead now
            if check_at is None or time.monotonic() < check_at:
                continue
            if self._stop.is_set():
                return ConnectionClosedError("the client was closed")
            silent = time.monotonic() - stream.last_progress
            if silent >= interval + timeout:  # type: ignore[operator]
                logger.info("no complete frame from the server for %.1f s: connection dead", silent)
                stream.end_error = ConnectionClosedError("the connection timed out")
                stream.abort()  # wakes a caller reading
                return stream.end_error  # type: ignore[no-any-return]
            if silent >= interval and pinged_at < stream.last_progress:  # type: ignore[operator]
                pinged_at = time.monotonic()
                try:
                    stream.send_frame(OP_PING, b"")
                except OSError:
                    logger.debug("ping not sent")

    def _handle_message(
        self, stream: WebSocketStream, opcode: int, data: bytes
    ) -> BlueCurrentError | None:
        """Deliver one message read from the main connection; return the error if it ended it.

        Runs on whichever thread holds the read role. An exception (KeyboardInterrupt
        included) while a frame is being handled marks the connection dead: it never goes on
        with a frame half-delivered.
        """
        if opcode == OP_CLOSE:
            error = self._close_error(data)
            if not self._stop.is_set():
                logger.info("server closed the connection: %s", error)
            if stream.end_error is None:
                stream.end_error = error
            stream.abort()
            return error
        text = self._decode(data)
        if text is None:
            return None
        try:
            if self._taps:
                self._taps.frame("in", text, "main")
            redactor = self._redactor
            if redactor.hit(text):
                text = redactor.scrub(text)
            try:
                fatal = self._on_frame(text)
            except Exception:  # one frame never ends the connection
                logger.exception("failed to handle an incoming frame")
            else:
                if isinstance(fatal, RequestLimitReached):
                    self.enter_limited(fatal.reset_at)
                elif isinstance(fatal, InvalidApiToken):
                    self.token_refused()
        except BaseException:
            if stream.end_error is None:
                stream.end_error = ConnectionClosedError("interrupted while handling a frame")
            stream.abort()
            raise
        if self._fail_with is not None:
            return self._fail_with
        return None

    def wait_reply(self, waiter: _Waiter, timeout: float) -> bool:
        """Wait until ``waiter`` is done, reading the socket on this thread when nobody else is.

        The leader/follower read path: the first caller to find the read role free reads
        and routes frames itself until its own reply is in (no wake-up of, or hand-off from,
        the reader thread); other callers wait for the leader to route their replies or to
        pass the role on. The reader thread stands aside while callers wait.

        Args:
            waiter: The caller's pending request (``done``, ``wait(timeout)``).
            timeout: Seconds to wait at most.

        Returns:
            Whether the waiter is done (False: timed out).
        """
        if waiter.done:
            return True
        deadline = time.monotonic() + timeout
        cond = self._role_cond
        role = self._role
        with cond:
            self._callers += 1
        try:
            while True:
                if _done(waiter):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                stream = self._stream
                if stream is None or stream.broken or stream.end_error is not None:
                    # Down: the drop fails every pending waiter; nothing to read meanwhile.
                    return waiter.wait(remaining)
                if not role.acquire(blocking=False):
                    with cond:  # follower: the role holder notifies under this lock
                        if _done(waiter):
                            return True
                        if not role.acquire(blocking=False):
                            self._followers += 1
                            try:
                                cond.wait(remaining)
                            finally:
                                self._followers -= 1
                            continue
                try:
                    self._lead(stream, waiter, deadline)
                finally:
                    stream.set_timeout(self.ping_interval)  # the reader thread's setting
                    with cond:
                        role.release()
                        cond.notify_all()
        finally:
            with cond:
                self._callers -= 1
                if not self._callers:
                    # The reader thread takes over within CALLER_GRACE (it is not woken: the
                    # next call of a loop usually comes sooner).
                    self._last_caller_left = time.monotonic()

    def _wake_waiting_callers(self) -> None:
        """Wake callers parked in :meth:`wait_reply` (their waiters may have been failed) and
        the reader thread if it stands aside (the connection may have ended)."""
        with self._role_cond:
            self._role_cond.notify_all()
            self._aside.notify_all()

    def _lead(self, stream: WebSocketStream, waiter: _Waiter, deadline: float) -> None:
        """Read and route frames while holding the role, until the waiter is done or the
        deadline passes; then route every complete frame still buffered (the reader thread
        watches the socket, not the buffer, so none may be left behind)."""
        cond = self._role_cond
        try:
            while stream.end_error is None:
                remaining = deadline - time.monotonic()
                draining = _done(waiter) or remaining <= 0
                if draining:
                    if not stream.buffered():
                        return
                    read_by = Deadline(0.0)  # complete buffered frames only, no socket read
                elif not stream.wait_readable(remaining):
                    continue  # the deadline passed: drain, then return
                else:
                    read_by = Deadline(max(remaining, 0.001))
                try:
                    opcode, data = stream.read_message(read_by)
                except TimeoutError:
                    if draining:
                        return  # a partial frame: its rest wakes the reader thread's poll
                    continue
                except (ProtocolViolation, OSError, ValueError):
                    if stream.end_error is None:
                        stream.end_error = self._fail_with or ConnectionClosedError(
                            "the connection was lost"
                        )
                    stream.abort()
                    self._wake_waiting_callers()  # the reader thread reports it, reconnects
                    return
                if self._handle_message(stream, opcode, data) is not None:
                    self._wake_waiting_callers()
                    return
                if self._followers:
                    with cond:
                        cond.notify_all()  # a follower's reply may be in
        finally:
            if stream.buffered():
                stream.wake()  # left early (an exception): the reader thread takes over

    def enter_limited(self, reset_at: _dt.datetime) -> None:
        """Enter the quota-exhausted state (ERROR 42): no calls or reconnects until ``reset_at``."""
        with self._state_lock:
            if self.state is State.CLOSED:
                return
            self.limited_until = reset_at
            self.state = State.LIMITED
        logger.warning("request limit reached; no requests until %s", reset_at.isoformat())

    def token_refused(self) -> None:
        """ERROR 1 on the live connection: validate the API token again, once.

        Runs on the thread that read the ERROR frame. A new server-issued token replaces
        the old one and the connection carries on. If validation fails, or the server refuses
        the new token too before the connection has been stable for ``stable_after`` seconds,
        reconnection stops with :class:`InvalidApiToken`.
        """
        if self.state is not State.CONNECTED:
            return
        now = time.monotonic()
        recent = self._revalidated_at is not None and now - self._revalidated_at < self.stable_after
        if recent and not self._sent_since_revalidation:
            return  # an answer to a frame sent with the old token
        if recent:
            self._give_up(InvalidApiToken("the server refused the token again after re-validation"))
            return
        logger.info("server refused the session token (ERROR 1); validating the API token again")
        self._revalidating = True
        try:
            self._validate_token(Deadline(self.connect_timeout))
        except InvalidApiToken as exc:
            self._give_up(exc)
            return
        except BlueCurrentError as exc:
            logger.info("re-validation failed (%s); reconnecting", exc)
            with self._send_lock:
                self._server_token = None
            self._drop_stream()
            return
        finally:
            self._revalidating = False
        self._revalidated_at = time.monotonic()
        self._sent_since_revalidation = False

    def _give_up(self, error: BlueCurrentError) -> None:
        self._fail_with = error
        stream = self._stream
        if stream is not None and stream.end_error is None:
            stream.end_error = error
        self._drop_stream()

    def _drop_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.abort()
        self._wake_waiting_callers()

    def _went_down(self, error: BlueCurrentError) -> None:
        now = time.monotonic()
        if self._up_since is not None and now - self._up_since >= self.stable_after:
            self._backoff.reset()  # only a connection that stayed up earns a fresh start
        self._up_since = None
        reconnecting = True
        with self._send_lock, self._state_lock:
            self._stream = None
            if isinstance(error, RequestLimitReached):
                self.limited_until = error.reset_at
                self.state = State.LIMITED
            elif isinstance(error, InvalidApiToken) or (
                isinstance(error, AlreadyConnected) and not self.reconnect
            ):
                self.fatal_error = error
                self.state = State.FAILED
                reconnecting = False
            elif self.state not in (State.LIMITED, State.FAILED, State.CLOSED):
                self.state = State.RECONNECTING if self.reconnect else State.FAILED
                if not self.reconnect:
                    self.fatal_error = ConnectionClosedError(
                        "the connection was lost (reconnect=False)"
                    )
                    reconnecting = False
            if isinstance(error, AlreadyConnected) and reconnecting:
                self._refusals += 1
        limited_until = self.limited_until if self.state is State.LIMITED else None
        if limited_until is not None and not isinstance(error, RequestLimitReached):
            error = RequestLimitReached("Request limit reached", limited_until)
        self._notify_down(error, reconnecting)
        self._wake_waiting_callers()

    def _notify_down(self, error: BlueCurrentError, reconnecting: bool) -> None:
        try:
            self._on_down(error, reconnecting)
        except Exception:
            logger.exception("on_down callback failed")

    def _wait_before_reconnect(self) -> bool:
        """Sleep (interruptibly) until the next attempt; return False when stopping."""
        if self.state is State.LIMITED and self.limited_until is not None:
            now = _dt.datetime.now(_dt.timezone.utc)
            delay = max(0.0, (self.limited_until - now).total_seconds())
            logger.info("request limit reached: reconnecting at %s", self.limited_until.isoformat())
        else:
            delay = self._backoff.next_delay()
            logger.info("reconnecting in %.2f s", delay)
        return not self._stop.wait(delay)

    def _try_reconnect(self) -> WebSocketStream | None:
        with self._state_lock:
            if self._stop.is_set():
                return None
            # Calls made during the attempt fail at once with ConnectionClosedError.
            self.state = State.RECONNECTING
        try:
            stream = self._establish(Deadline(self.connect_timeout))
        except RequestLimitReached as exc:
            self._set_state_after_failure(State.LIMITED, exc)
            return None
        except InvalidApiToken as exc:
            self._set_state_after_failure(State.FAILED, exc)
            return None
        except AlreadyConnected as exc:
            # Usually our own stale connection, still open on the server after a silent
            # drop: it is released in time. Same backoff; give up after a bounded number.
            self._refusals += 1
            if self._refusals >= self.already_connected_attempts:
                self._set_state_after_failure(State.FAILED, exc)
                self._notify_down(copy_error(exc), False)
            else:
                logger.info(
                    "reconnect refused: Already connected (%d of %d); retrying",
                    self._refusals,
                    self.already_connected_attempts,
                )
                self._set_state_after_failure(State.RECONNECTING, exc)
                self._notify_down(copy_error(exc), True)
            return None
        except BlueCurrentError as exc:
            logger.info("reconnect failed: %s", self._redactor.scrub(str(exc)))
            self._set_state_after_failure(State.RECONNECTING, exc)
            return None
        except Exception:  # the reader thread must survive anything a server sends
            logger.exception("reconnect failed unexpectedly")
            self._set_state_after_failure(
                State.RECONNECTING, ConnectionClosedError("reconnect failed")
            )
            return None
        with self._state_lock:
            if self._stop.is_set():
                stream.abort()
                return None
            self._stream = stream
            self.state = State.CONNECTED
            self.limited_until = None
            self._up_since = time.monotonic()
            self._refusals = 0
        logger.info("reconnected")
        try:
            self._on_up()
        except Exception:
            logger.exception("on_up callback failed")
        return stream

    def _set_state_after_failure(self, state: State, error: BlueCurrentError) -> None:
        with self._state_lock:
            if self.state is State.CLOSED:
                return
            self.state = state
            if isinstance(error, RequestLimitReached):
                self.limited_until = error.reset_at
            if state is State.FAILED:
                self.fatal_error = error
        if state is State.FAILED:
            logger.error("reconnecting stopped: %s", self._redactor.scrub(str(error)))
        elif state is State.LIMITED:
            logger.warning("request limit reached while reconnecting: %s", error)


def _done(waiter: _Waiter) -> bool:
    """``waiter.done``, read afresh (another thread may have resolved it meanwhile)."""
    return waiter.done


def _display_url(url: str) -> str:
    """``url`` without userinfo, query or fragment (they may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _shutdown(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (handshake in progress); the owner closes it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _close_quietly(stream: WebSocketStream) -> None:
    stream.set_timeout(1.0)
    stream.send_close()
    stream.abort()


class _ForkReset:
    """Objects to reset in a forked child (weakly held; one hook per process)."""

    def __init__(self) -> None:
        self._objects: weakref.WeakSet[Any] = weakref.WeakSet()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._in_child)

    def add(self, obj: Any) -> None:
        """Call ``obj._after_fork_in_child()`` in every forked child while ``obj`` lives."""
        self._objects.add(obj)

    def _in_child(self) -> None:
        for obj in list(self._objects):
            try:
                obj._after_fork_in_child()
            except Exception:  # never break the child over one client
                logger.exception("resetting %s after fork failed", type(obj).__name__)


#: The process-wide fork hook (state: weak references only, reset in each child).
_FORK_RESET = _ForkReset()


def reset_after_fork(obj: Any) -> None:
    """Register ``obj`` (with an ``_after_fork_in_child()`` method) for the fork hook."""
    _FORK_RESET.add(obj)
