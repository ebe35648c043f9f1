"""The logical connection: opening, the reader thread, sending, closing.

Parts with one job each sit around it: the transport (``_transport.py``: websocket-client
behind an interface, the socket from ``_dial.py``), the short exchanges (``_exchanges.py``:
validate the token, HELLO, GET_ACCOUNT), the session state and reconnect policy
(``_session.py``), liveness (``_liveness.py``) and the fork hook (``_fork.py``).

Life of a :class:`Connection`:

* :meth:`Connection.open` (caller's thread) validates the API token on a short connection,
  opens the main connection and completes HELLO, all under ONE deadline (``connect_timeout``)
  that :meth:`Connection.close` can interrupt from another thread; then it starts the
  ``bluecurrent-sync-reader`` daemon thread, which alone reads the main connection.
* Every text message, redacted of both tokens, goes to ``on_frame``; an over-size message
  (dropped unread) to ``on_oversize`` with its first bytes, so its caller fails at once.
* When the connection drops the reader calls ``on_down(error, reconnecting)`` (the client fails
  every pending call with ``error``) and, with ``reconnect=True``, reconnects as the session's
  policy says; each failed attempt is reported through ``on_down`` too. Each attempt has the
  same one deadline as :meth:`Connection.open`. A stream broken on our side (an interrupt
  inside a send, a send past its deadline) is dropped and reconnected at once.
* ERROR 1 on the live connection re-validates the API token once, on a thread of its own
  (``bluecurrent-sync-revalidate``): calls fail at once meanwhile, none waits for it.
* Every send is bounded by its caller's deadline; :meth:`close` by its own budget.

No token is ever logged or put in an exception message (see ``_redact.py``).
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from . import _exchanges as ex
from . import _protocol as proto
from ._dial import make_ssl_context
from ._fork import reset_after_fork
from ._liveness import Liveness, Verdict
from ._log import CONNECTION
from ._opening import Opener, display_url
from ._proxy import Proxy
from ._redact import Redactor
from ._session import ALREADY_CONNECTED_ATTEMPTS, STABLE_AFTER, Backoff, Session, State
from ._tap import TapSet
from ._transport import (
    Deadline,
    Kind,
    Message,
    ProtocolViolation,
    Stream,
    Transport,
    WebSocketClientTransport,
)
from ._wire import copy_error
from .errors import (
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
    RequestTimeoutError,
)

__all__ = ["Backoff", "Connection", "State", "display_url", "reset_after_fork"]

logger = logging.getLogger(CONNECTION)

READER_THREAD_NAME = "bluecurrent-sync-reader"


class _Waiter(Protocol):
    @property
    def done(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...


class Connection:
    """One logical connection to the server, reconnected as needed.

    Args:
        api_token: The user's API token (never logged).
        url: The websocket URL.
        converter: Converts token-status and ERROR frames.
        on_frame: Called with each text frame of the main connection (already redacted of
            both tokens); must not raise. It returns the error when the frame concerns the
            connection itself: :class:`RequestLimitReached` (ERROR 42) enters the limited
            state, :class:`InvalidApiToken` (ERROR 1) re-validates the token.
        on_down: Called when the connection is lost or a reconnect attempt fails, with the
            error every pending call should fail with and whether reconnecting goes on.
        on_up: Called after a successful reconnect.
        timeout: Seconds for a send without its own timeout, and for closing.
        reconnect: Whether to reconnect after a drop.
        backoff: The reconnect delay policy.
        max_frame_bytes: Larger incoming messages are dropped unread.
        sslopt: TLS options (see ``_dial.make_ssl_context``).
        ping_interval: Seconds without a complete frame after which a ping goes out (None:
            no keepalive).
        ping_timeout: Further seconds without one after which the connection is dead.
        taps: Observers of every text frame on every connection (see ``_tap.py``).
        connect_timeout: The one deadline of :meth:`open` and of each reconnect attempt;
            None: ``timeout``.
        hello_timeout: How long to wait for the HELLO reply; silence that long counts as a
            live session.
        redactor: Knows both tokens; every incoming text passes through it.
        stable_after: Seconds up before the backoff starts afresh.
        already_connected_attempts: Consecutive "Already connected" refusals tolerated.
        proxy: The HTTP proxy every connection tunnels through (None: direct).
        transport: Opens the streams (default: websocket-client over ``_dial.dial``).
        on_oversize: Called with the first bytes and the size of each message dropped for
            exceeding ``max_frame_bytes``.
    """

    def __init__(
        self,
        api_token: str,
        url: str,
        converter: ex._Converter,
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
        transport: Transport | None = None,
        on_oversize: Callable[[bytes, int], None] | None = None,
    ) -> None:
        self._api_token = api_token
        self.url = url
        self.proxy = proxy
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.hello_timeout = hello_timeout
        self.max_frame_bytes = max_frame_bytes
        self._redactor = redactor if redactor is not None else Redactor(api_token)
        self._taps = taps if taps is not None else TapSet()
        self._on_frame = on_frame
        self._on_down = on_down
        self._on_up = on_up
        self._on_oversize = on_oversize
        if transport is None:
            context = make_ssl_context(sslopt) if url.startswith("wss:") else None
            transport = WebSocketClientTransport(max_frame_bytes, context, proxy)
        self._transport = transport
        self.session = Session(
            reconnect=reconnect,
            backoff=backoff,
            stable_after=stable_after,
            already_connected_attempts=already_connected_attempts,
        )
        self._liveness = Liveness(ping_interval, ping_timeout)
        self._stop = threading.Event()
        self._link = ex.Link(
            self._taps, self._redactor, converter, self._stop.is_set, self.connect_timeout
        )
        self._opener = Opener(
            api_token,
            url,
            transport,
            self._link,
            self._stop,
            hello_timeout=hello_timeout,
            on_frame=on_frame,
            proxy=proxy,
        )
        self._send_lock = threading.Lock()
        self._stream: Stream | None = None
        self._reader: threading.Thread | None = None
        self._revalidator: threading.Thread | None = None
        self._dropped_before = 0
        self._revalidated_at: float | None = None
        self._sent_since_revalidation = False
        self._fail_with: BlueCurrentError | None = None
        reset_after_fork(self)

    def __repr__(self) -> str:
        return f"<Connection url={self._redactor.scrub(self.url)!r} state={self.state.value}>"

    @property
    def state(self) -> State:
        """The session's state."""
        return self.session.state

    @property
    def fatal_error(self) -> BlueCurrentError | None:
        """Why reconnecting stopped (in the failed state)."""
        return self.session.fatal_error

    @property
    def customer_id(self) -> str | None:
        """The customer id from the last token validation."""
        return self._opener.customer_id

    @property
    def connected(self) -> bool:
        """Whether the main connection is up and HELLO was answered."""
        return self.session.state is State.CONNECTED

    @property
    def dropped_frames(self) -> int:
        """How many incoming messages were dropped for exceeding ``max_frame_bytes``."""
        stream = self._stream
        return self._dropped_before + (stream.dropped if stream is not None else 0)

    def open(self) -> None:
        """Validate the token, open the main connection, HELLO, start the reader thread.

        Everything shares one deadline of ``connect_timeout`` seconds; :meth:`close` from
        another thread interrupts it.

        Raises:
            InvalidApiToken: The token was refused.
            RequestLimitReached: The daily quota is used up.
            AlreadyConnected: The server refused a second connection.
            ConnectionClosedError: The server could not be reached or closed the connection,
                the upgrade was refused or redirected, or the client was closed meanwhile.
            RequestTimeoutError: The deadline passed.
            ClientStateError: Already opened or closed.
        """
        session = self.session
        with session.lock:
            if session.state is not State.NEW:
                raise ClientStateError(f"connect() called on a {session.state.value} client")
            session.state = State.CONNECTING
        deadline = Deadline(self.connect_timeout)
        try:
            self._opener.validate(deadline)
            stream = self._opener.establish(deadline)
        except BaseException as exc:
            with session.lock:
                if session.state is State.CONNECTING:
                    session.state = State.NEW
            if isinstance(exc, BlueCurrentError):
                self._redactor.scrub_error(exc)
            raise
        with session.lock:
            if self._stop.is_set():
                stream.abort()
                raise ConnectionClosedError("the client was closed while connecting")
            self._stream = stream
            session.up()
        self._reader = self._thread(self._run, READER_THREAD_NAME, stream)

    def _thread(self, target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        return thread

    def on_reader_thread(self) -> bool:
        """Whether the caller is the reader thread (which must never block on a reply)."""
        return self._reader is not None and threading.current_thread() is self._reader

    def check_usable(self) -> None:
        """Raise the error a call made now must fail with, if any (see ``Session``)."""
        self.session.check_usable(self._stream is not None)

    def send(
        self,
        command: str,
        fields: Mapping[str, Any],
        before_send: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send one authenticated command frame, all of it within ``timeout``.

        Args:
            command: The command name.
            fields: Its wire fields.
            before_send: Called under the send lock right before the frame goes out (used
                to fix the request's place in send order).
            timeout: Seconds the send may take (waiting for its turn included); default:
                the connection's ``timeout``.

        Raises:
            The errors of :meth:`check_usable`; RequestTimeoutError when the time ran out
            (a frame cut half-way drops the connection, which reconnects at once);
            ConnectionClosedError if the send fails.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = Deadline(limit)
        if not self._send_lock.acquire(timeout=max(0.0, deadline.remaining())):
            raise RequestTimeoutError(command, None, limit)
        try:
            self.check_usable()
            stream = self._stream
            token = self._opener.server_token
            assert stream is not None and token is not None
            frame = proto.command_frame(command, proto.auth_value(token), **dict(fields))
            if before_send is not None:
                before_send()
            if self._revalidated_at is not None:
                self._sent_since_revalidation = True
            try:
                ex.send_frame(self._link, stream, frame, "main", deadline)
            except RequestTimeoutError as exc:
                raise RequestTimeoutError(command, None, limit) from exc.__cause__
            finally:
                if stream.broken:  # cut half-way (an interrupt, the deadline): start afresh
                    self.session.hurry = True
                    stream.abort()
        finally:
            self._send_lock.release()

    def wait_reply(self, waiter: _Waiter, timeout: float) -> bool:
        """Wait until ``waiter`` is done (the reader thread routes every reply).

        Returns:
            Whether the waiter is done (False: timed out).
        """
        return waiter.done or waiter.wait(timeout)

    def request_once(self, command: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Send one command on a fresh short connection and return its one reply frame.

        Used for GET_ACCOUNT (PROTOCOL.md 1.3); does not touch the main connection. The whole
        exchange is bounded by ``connect_timeout``.

        Raises:
            ConnectionClosedError, RequestTimeoutError, RequestLimitReached, AlreadyConnected.
        """
        self.check_usable()
        token = self._opener.server_token
        assert token is not None
        frame = proto.command_frame(command, proto.auth_value(token), **dict(fields))
        try:
            return self._opener.short_exchange(frame, "account", Deadline(self.connect_timeout))
        except BlueCurrentError as exc:
            raise self._redactor.scrub_error(exc) from exc.__cause__

    def close(self, timeout: float | None = None) -> None:
        """Close the connection and join the reader thread (idempotent).

        Interrupts a :meth:`open` or reconnect attempt in progress on another thread, and
        a send blocked on a server that reads nothing.

        Args:
            timeout: Seconds the whole close may take (default: the connection's
                ``timeout``); a thread still alive then is left, with a warning.
        """
        budget = self.timeout if timeout is None else timeout
        deadline = Deadline(budget)
        with self.session.lock:
            if self.session.state is State.CLOSED:
                return
            self.session.state = State.CLOSED
            self._stop.set()
            stream, self._stream = self._stream, None
        reader = self._reader
        joinable = reader is not None and reader is not threading.current_thread()
        if stream is not None:
            stream.send_close(Deadline(min(budget, 1.0)))
            if joinable:
                assert reader is not None
                reader.join(min(budget, 0.25))  # a moment for the server's close answer
            stream.abort()
            if self._taps:
                self._taps.connection_event("closed", "main", "the client was closed")
        self._opener.interrupt()
        for thread in (reader, self._revalidator):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(deadline.remaining(), 0.05))
                if thread.is_alive():
                    logger.warning("%s did not stop within %.1f s", thread.name, budget)

    def _after_fork_in_child(self) -> None:
        """In a forked child: forget the parent's sockets and threads without touching them."""
        self._send_lock = threading.Lock()
        self.session.after_fork()
        if self._stream is not None:
            self._stream.forget()
        self._opener.after_fork()
        self._stream = self._reader = self._revalidator = None
        self._stop = threading.Event()
        self._stop.set()

    # -- the reader thread ---------------------------------------------------------------
    def _run(self, stream: Stream | None) -> None:
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
            if not self.session.reconnect or self.state in (State.FAILED, State.CLOSED):
                return
            delay = self.session.delay()
            if self.state is State.LIMITED and self.session.limited_until is not None:
                logger.info("request limit reached: reconnecting at %s", self.session.limited_until)
            else:
                logger.info("reconnecting in %.2f s", delay)
            if self._stop.wait(delay):
                return
            stream = self._try_reconnect()

    def _read_until_dropped(self, stream: Stream) -> BlueCurrentError:
        """Read messages until the connection fails; return the error pending calls fail with.

        Liveness is judged by complete frames (``_liveness.py``), even while a server keeps
        dripping bytes of a frame that never completes.
        """
        liveness = self._liveness
        liveness.reset()
        while True:
            if self._fail_with is not None:
                return self._fail_with
            if self._stop.is_set():
                return ConnectionClosedError("the client was closed")
            check_at = liveness.check_at(stream.last_progress)
            wait = None if check_at is None else max(0.001, check_at - time.monotonic())
            try:
                message = stream.read(wait, check_at)
            except TimeoutError:
                pass  # check_at reached: the liveness check below
            except (ProtocolViolation, OSError) as exc:
                if not self._stop.is_set():
                    logger.info("connection lost: %s: %s", type(exc).__name__, exc)
                lost = self._fail_with or ConnectionClosedError("the connection was lost")
                lost.__cause__ = lost.__cause__ or exc
                return lost
            else:
                error = self._handle_message(stream, message)
                if error is not None:
                    return error
                continue
            verdict = liveness.verdict(stream.last_progress)
            if verdict is Verdict.DEAD:
                logger.info("no complete frame from the server in time: connection dead")
                return ConnectionClosedError("the connection timed out")
            if verdict is Verdict.PING:
                try:
                    stream.ping(Deadline(liveness.timeout))
                except (TimeoutError, OSError):
                    logger.debug("ping not sent")

    def _handle_message(self, stream: Stream, message: Message) -> BlueCurrentError | None:
        """Deliver one message; return the error if it ended the connection."""
        if message.kind is Kind.CLOSE:
            error = ex.close_error(message.data)
            if not self._stop.is_set():
                logger.info("server closed the connection: %s", error)
            return error
        if message.kind is Kind.OVERSIZE:
            if self._on_oversize is not None:
                try:
                    self._on_oversize(message.data, message.size)
                except Exception:
                    logger.exception("failed to handle an over-size message")
            return None
        try:
            text = message.data.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("dropped an incoming frame that is not valid UTF-8")
            return None
        if self._taps:
            self._taps.frame("in", text, "main")
        if self._redactor.hit(text):
            text = self._redactor.scrub(text)
        try:
            fatal = self._on_frame(text)
        except Exception:  # one frame never ends the connection
            logger.exception("failed to handle an incoming frame")
        else:
            if isinstance(fatal, RequestLimitReached):
                self.enter_limited(fatal.reset_at)
            elif isinstance(fatal, InvalidApiToken):
                self._token_refused()
        return self._fail_with

    def enter_limited(self, reset_at: _dt.datetime) -> None:
        """Enter the quota-exhausted state (ERROR 42): no calls or reconnects until ``reset_at``."""
        if self.session.enter_limited(reset_at):
            logger.warning("request limit reached; no requests until %s", reset_at.isoformat())

    def _token_refused(self) -> None:
        """ERROR 1 on the live connection: validate the API token again, once, off this thread.

        A new server-issued token replaces the old one and the connection carries on. If
        validation fails, or the server refuses the new token too before the connection has
        been stable for ``stable_after`` seconds, reconnection stops with InvalidApiToken.
        """
        session = self.session
        if session.state is not State.CONNECTED or session.revalidating:
            return
        now = time.monotonic()
        at = self._revalidated_at
        recent = at is not None and now - at < session.stable_after
        if recent and not self._sent_since_revalidation:
            return  # an answer to a frame sent with the old token
        if recent:
            self._give_up(InvalidApiToken("the server refused the token again after re-validation"))
            return
        logger.info("server refused the session token (ERROR 1); validating the API token again")
        session.revalidating = True
        self._revalidator = self._thread(self._revalidate, "bluecurrent-sync-revalidate")

    def _revalidate(self) -> None:
        try:
            self._opener.validate(Deadline(self.connect_timeout))
        except InvalidApiToken as exc:
            self._give_up(exc)
            return
        except BlueCurrentError as exc:
            logger.info("re-validation failed (%s); reconnecting", exc)
            self._opener.server_token = None
            self._drop_stream()
            return
        finally:
            self.session.revalidating = False
        self._revalidated_at = time.monotonic()
        self._sent_since_revalidation = False

    def _give_up(self, error: BlueCurrentError) -> None:
        self._fail_with = error
        self._drop_stream()

    def _drop_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.abort()

    def _went_down(self, error: BlueCurrentError) -> None:
        with self._send_lock, self.session.lock:
            self._stream = None
            error, reconnecting = self.session.went_down(error)
        self._notify_down(error, reconnecting)

    def _notify_down(self, error: BlueCurrentError, reconnecting: bool) -> None:
        try:
            self._on_down(error, reconnecting)
        except Exception:
            logger.exception("on_down callback failed")

    def _try_reconnect(self) -> Stream | None:
        session = self.session
        with session.lock:
            if self._stop.is_set():
                return None
            session.state = State.RECONNECTING  # calls made meanwhile fail at once
        try:
            stream = self._opener.establish(Deadline(self.connect_timeout))
        except Exception as exc:  # the reader thread must survive anything a server sends
            if not isinstance(exc, BlueCurrentError):
                logger.exception("reconnect failed unexpectedly")
                error: BlueCurrentError = ConnectionClosedError("reconnect failed")
                error.__cause__ = exc
            else:
                error = exc
                logger.info("reconnect failed: %s", self._redactor.scrub(str(exc)))
            going_on = session.attempt_failed(error)
            if not going_on:
                logger.error("reconnecting stopped: %s", self._redactor.scrub(str(error)))
            if not self._stop.is_set():
                self._notify_down(copy_error(error), going_on)
            return None
        with session.lock:
            if self._stop.is_set():
                stream.abort()
                return None
            self._stream = stream
            session.up()
        logger.info("reconnected")
        try:
            self._on_up()
        except Exception:
            logger.exception("on_up callback failed")
        return stream
