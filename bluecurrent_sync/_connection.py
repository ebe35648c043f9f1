"""The logical connection: opening, the reader thread, sending, closing.

Parts with one job each sit around it: the transport (``_transport.py``: websocket-client
behind an interface, the socket from ``_dial.py``), the short exchanges (``_exchanges.py``:
validate the token, HELLO, GET_ACCOUNT), the session state and reconnect policy
(``_session.py``), the reader thread (``_reader.py``: liveness, ERROR 1, reconnecting) and
the fork hook (``_fork.py``).

Life of a `Connection`:

* `Connection.open()` (caller's thread) validates the API token on a short connection, opens the
  main connection and completes HELLO, all under ONE deadline (``connect_timeout``) that
  `Connection.close()` can interrupt from another thread; then it starts the
  ``bluecurrent-sync-reader`` daemon thread, which alone reads the main connection.
* Every text message, redacted of both tokens, goes to ``on_frame``; an over-size message
  (dropped unread) to ``on_oversize`` with its first bytes, so its caller fails at once.
* When the connection drops the reader calls ``on_down(error, reconnecting)`` (the client fails
  every pending call with ``error``) and, with ``reconnect=True``, reconnects as the session's
  policy says; each failed attempt is reported through ``on_down`` too. Each attempt has the same
  one deadline as `Connection.open()`. A stream broken on our side (an interrupt inside a send, a
  send past its deadline) is dropped and reconnected at once.
* ERROR 1 on the live connection re-validates the API token once, on a thread of its own
  (``bluecurrent-sync-revalidate``): calls fail at once meanwhile, none waits for it.
* Every send is bounded by its caller's deadline; `close()` by its own budget.
* Inside `reading()` (a batch) its caller reads, and so does a call waiting for its reply when
  no other caller reads; the reader stands aside meanwhile (``_read_role.py``).

No token is ever logged or put in an exception message (see ``_redact.py``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _exchanges as ex
from . import _protocol as proto
from ._dial import make_ssl_context
from ._fork import reset_after_fork
from ._liveness import Liveness
from ._log import CONNECTION
from ._opening import Opener, display_url
from ._proxy import Proxy
from ._reader import READER_THREAD_NAME, Reader
from ._redact import Redactor
from ._session import ALREADY_CONNECTED_ATTEMPTS, STABLE_AFTER, Backoff, Session, State
from ._tap import TapSet
from ._transport import (
    Deadline,
    Stream,
    Transport,
    WebSocketClientTransport,
)
from .errors import (
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    RequestTimeoutError,
)

__all__ = ["Backoff", "Connection", "State", "display_url", "reset_after_fork"]

logger = logging.getLogger(CONNECTION)


class Connection:
    """One logical connection to the server, reconnected as needed.

    Args:
        api_token: The user's API token (never logged).
        url: The websocket URL.
        converter: Converts token-status and ERROR frames.
        on_frame: Called with each text frame of the main connection (already redacted of both
            tokens); must not raise. It returns the error when the frame concerns the connection
            itself: [`RequestLimitReached`][bluecurrent_sync.errors.RequestLimitReached] (ERROR 42)
            enters the limited state, [`InvalidApiToken`][bluecurrent_sync.errors.InvalidApiToken]
            (ERROR 1) re-validates the token.
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
        connect_timeout: The one deadline of `open()` and of each reconnect attempt;
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
        self._loop = Reader(self, Liveness(ping_interval, ping_timeout))
        #: Wait until a waiter is done (False: timed out), reading as the guest when the role
        #: is free: ``Reader.wait_reply`` itself (a call per wait fewer than a method around it).
        self.wait_reply: Callable[[Any, float], bool] = self._loop.wait_reply
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
        """Whether the main connection is up, HELLO was answered and calls can be made.

        False while the API token is validated again after ERROR 1 (calls fail at once then).
        """
        session = self.session
        return session.state is State.CONNECTED and not session.revalidating

    @property
    def dropped_frames(self) -> int:
        """How many incoming messages were dropped for exceeding ``max_frame_bytes``."""
        stream = self._stream
        return self._loop.dropped_before + (stream.dropped if stream is not None else 0)

    def open(self) -> None:
        """Validate the token, open the main connection, HELLO, start the reader thread.

        Everything shares one deadline of ``connect_timeout`` seconds; `close()` from another thread
        interrupts it.

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
            stream = self._opener.establish(deadline)  # validates unless get_email() just did
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
        self._reader = self._thread(self._loop.run, READER_THREAD_NAME, stream)

    def _thread(self, target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        return thread

    def on_reader_thread(self) -> bool:
        """Whether the caller is the reader thread (which must never block on a reply)."""
        # The thread itself, not its ident: an ident is reused once a thread has ended.
        return self._reader is not None and threading.current_thread() is self._reader

    def check_usable(self) -> None:
        """Raise the error a call made now must fail with, if any (see ``Session``)."""
        self.session.check_usable(self._stream is not None)

    def send_each(
        self,
        command: str,
        items: Sequence[Mapping[str, Any]],
        before_each: Callable[[int], None] | None = None,
        timeout: float | None = None,
        sent: Callable[[int], None] = lambda _count: None,
    ) -> None:
        """Send one authenticated ``command`` frame per item of wire fields (``items``), in
        order, within ``timeout`` (default: the connection's), under one hold of the send lock
        (not interleaved with other callers'; the lock paid once), in one write when the
        socket takes it. ``before_each(index)`` is called under the lock before each frame is
        made ready (to fix its place in send order); ``sent(count)`` once, whatever happens,
        with how many frames went out whole.

        Raises:
            The errors of `check_usable()` (checked before every frame) and of
            ``before_each``, once the frames made ready before it are sent;
            RequestTimeoutError when the time ran out (a frame cut half-way drops the
            connection, which reconnects at once); ConnectionClosedError if a send fails.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = Deadline(limit)
        texts: list[str] = []
        if not self._send_lock.acquire(timeout=max(0.0, deadline.remaining())):
            sent(0)
            raise RequestTimeoutError(command, None, limit)
        stream = self._stream  # every frame goes to the stream the call began on
        try:
            for index, fields in enumerate(items):
                self.check_usable()
                token = self._opener.server_token
                if stream is None or self._stream is not stream or token is None:
                    raise ConnectionClosedError("the connection is down")  # closed or dropped
                frame = proto.command_frame(command, proto.auth_value(token), **fields)
                if before_each is not None:
                    before_each(index)
                if self._loop.revalidated_at is not None:
                    self._loop.sent_since_revalidation = True
                texts.append(ex.outgoing(self._link, frame, "main"))
        finally:
            try:
                ex.send_texts(self._link, stream, texts, command, deadline, sent=sent)
            except RequestTimeoutError as exc:
                raise RequestTimeoutError(command, None, limit) from exc.__cause__
            finally:
                self._send_lock.release()
                if stream is not None and stream.broken:  # cut half-way: start afresh
                    self.session.hurry = True
                    stream.abort()

    def reading(self) -> contextlib.AbstractContextManager[None]:
        """A block within which the calling thread reads the connection while it waits."""
        return self._loop.guest()

    def drain(self) -> None:
        """Inside `reading()`: handle the messages already there, without waiting."""
        self._loop.drain()

    def request_once(self, command: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Send one command on a fresh short connection and return its one reply frame.

        Used for GET_ACCOUNT (PROTOCOL.md 1.3); does not touch the main connection. Before `open()`
        the token is first validated on a short connection of its own (and kept for `open()`). The
        whole exchange is bounded by ``connect_timeout``.

        Raises:
            ConnectionClosedError, RequestTimeoutError, RequestLimitReached, AlreadyConnected,
            InvalidApiToken (before `open()`).
        """
        deadline = Deadline(self.connect_timeout)
        try:
            if self.state is State.NEW and self._opener.server_token is None:
                self._opener.validate(deadline)
            elif self.state is not State.NEW:
                self.check_usable()
            token = self._opener.server_token
            assert token is not None
            frame = proto.command_frame(command, proto.auth_value(token), **dict(fields))
            return self._opener.short_exchange(frame, "account", deadline)
        except BlueCurrentError as exc:
            raise self._redactor.scrub_error(exc) from exc.__cause__

    def close(self, timeout: float | None = None) -> None:
        """Close the connection and join the reader thread (idempotent).

        Interrupts a `open()` or reconnect attempt in progress on another thread, and a send blocked
        on a server that reads nothing.

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
        self._loop.role.wake()
        for thread in (reader, self._loop.revalidator):
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
        self._loop.after_fork()
        self._stream = self._reader = self._loop.revalidator = None
        self._stop = threading.Event()
        self._stop.set()

    def enter_limited(self, reset_at: _dt.datetime) -> None:
        """Enter the quota-exhausted state (ERROR 42): no calls or reconnects until ``reset_at``."""
        if self.session.enter_limited(reset_at):
            logger.warning("request limit reached; no requests until %s", reset_at.isoformat())
