"""The websocket, its one reader thread, the send lock and reconnection.

Life of a :class:`Connection`:

* :meth:`Connection.open` (caller's thread) validates the API token on a short connection,
  opens the main connection, sends HELLO and waits for its reply, then starts the
  ``bluecurrent-sync-reader`` daemon thread, which from then on owns the receive side.
* The reader hands every text frame to ``on_frame``. When the socket drops it calls
  ``on_down(error)`` (the client fails every pending call with ``error`` at once) and, with
  ``reconnect=True``, reconnects with exponential backoff and jitter, re-sending HELLO
  (and re-validating the token only if the server no longer accepts it).
* A used-up request quota (ERROR 42, close code 4001, refused handshake) puts the
  connection in the *limited* state until ``reset_at``: no reconnect attempts, and every
  call raises :class:`RequestLimitReached` at once. :class:`InvalidApiToken` or
  :class:`AlreadyConnected` while reconnecting are *fatal*: reconnection stops and every
  call raises that error until the client is closed.
* :meth:`Connection.close` is idempotent, wakes the reader and joins it with a timeout.

No token is ever logged or put in an exception message.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import ipaddress
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from . import _protocol as proto
from ._lazy import LazyModule
from ._log import CONNECTION
from ._tap import ConnectionKind, TapSet

if TYPE_CHECKING:
    import ssl

    import websocket
else:  # websocket-client and ssl are imported when the first client is made
    ssl = LazyModule("ssl")
    websocket = LazyModule("websocket")
from .errors import (
    AlreadyConnected,
    ApiError,
    BlueCurrentError,
    ClientStateError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
    RequestTimeoutError,
    ResponseValidationError,
)

__all__ = ["Backoff", "Connection", "State", "check_url", "copy_error", "error_for_code"]

logger = logging.getLogger(CONNECTION)

READER_THREAD_NAME = "bluecurrent-sync-reader"
_USER_AGENT = "bluecurrent-sync"


class _TokenStatus(Protocol):
    success: bool | None
    customer_id: str | None
    token: str | None
    error: str | None


class _ServerError(Protocol):
    code: int | None
    message: str


class _Converter(Protocol):
    def token_status(self, frame: Mapping[str, Any]) -> Any: ...

    def server_error(self, frame: Mapping[str, Any]) -> Any: ...


class State(enum.Enum):
    """Where the connection is in its life."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LIMITED = "limited"
    FAILED = "failed"
    CLOSED = "closed"


def check_url(url: str, allow_insecure: bool) -> None:
    """Refuse URLs the client must not use.

    Raises:
        ValueError: For a scheme other than ws/wss, or plain ``ws://`` to a non-loopback host
            without ``allow_insecure=True``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"url must be a ws:// or wss:// URL, got {url!r}")
    if parts.scheme == "ws" and not allow_insecure and not is_loopback_url(url):
        raise ValueError(
            f"refusing unencrypted ws:// to non-loopback host {parts.hostname!r}; "
            "use wss:// or pass allow_insecure=True"
        )


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost`` or a loopback address)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Backoff:
    """Exponential backoff with full jitter: ``initial`` doubling up to ``maximum``.

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
        """Start again from ``initial`` (after a good connect)."""
        self._current = self.initial


class Connection:
    """One logical connection to the server, reconnected as needed.

    Args:
        api_token: The user's API token (never logged).
        url: The websocket URL.
        converter: Converts token-status and ERROR frames.
        on_frame: Called on the reader thread with each text frame (str); must not raise.
        on_down: Called on the reader thread when the connection is lost, with the error
            every pending call should fail with.
        on_up: Called on the reader thread after a successful reconnect.
        timeout: Seconds for connecting, the handshake replies and closing.
        reconnect: Whether to reconnect after a drop.
        backoff: The reconnect delay policy.
        max_frame_bytes: Larger incoming frames are dropped with a warning.
        sslopt: websocket-client TLS options (default: a verifying default context).
        ping_interval: Seconds of silence from the server after which the reader sends a
            websocket ping (None: no keepalive).
        ping_timeout: Further seconds of silence after which the connection counts as dead.
        taps: Observers of every text frame on every connection (see ``_tap.py``).
    """

    def __init__(
        self,
        api_token: str,
        url: str,
        converter: _Converter,
        *,
        on_frame: Callable[[str], None],
        on_down: Callable[[BlueCurrentError], None],
        on_up: Callable[[], None],
        timeout: float,
        reconnect: bool,
        backoff: Backoff,
        max_frame_bytes: int,
        sslopt: dict[str, Any] | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        taps: TapSet | None = None,
    ) -> None:
        self._api_token = api_token
        self._taps = taps if taps is not None else TapSet()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.url = url
        self._converter = converter
        self._on_frame = on_frame
        self._on_down = on_down
        self._on_up = on_up
        self.timeout = timeout
        # HELLO policy (issue 9, docs/PROTOCOL.md OP-1): how long to wait for the reply.
        self.hello_timeout = timeout
        self.reconnect = reconnect
        self._backoff = backoff
        self.max_frame_bytes = max_frame_bytes
        if sslopt is None and url.startswith("wss:"):
            sslopt = {"context": ssl.create_default_context()}
        self._sslopt = sslopt
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._connecting: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._server_token: str | None = None
        self.customer_id: str | None = None
        self.state = State.NEW
        self.limited_until: _dt.datetime | None = None
        self.fatal_error: BlueCurrentError | None = None
        self.dropped_frames = 0

    def __repr__(self) -> str:
        return f"<Connection url={self.url!r} state={self.state.value}>"

    # -- public ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether the main connection is up and HELLO was answered."""
        return self.state is State.CONNECTED

    def open(self) -> None:
        """Validate the token, open the main connection, HELLO, start the reader thread.

        Raises:
            InvalidApiToken: The token was refused.
            RequestLimitReached: The daily quota is used up.
            AlreadyConnected: The server refused a second connection.
            ConnectionClosedError: The server could not be reached or closed the connection.
            RequestTimeoutError: A handshake reply did not come within ``timeout``.
            ClientStateError: Already opened or closed.
        """
        with self._state_lock:
            if self.state is not State.NEW:
                raise ClientStateError(f"connect() called on a {self.state.value} client")
            self.state = State.CONNECTING
        try:
            self._validate_token()
            ws = self._establish()
        except BaseException:
            with self._state_lock:
                if self.state is State.CONNECTING:
                    self.state = State.NEW
            raise
        with self._state_lock:
            if self._stop.is_set():
                _abort(ws)
                raise ConnectionClosedError("the client was closed while connecting")
            self._ws = ws
            self.state = State.CONNECTED
        self._reader = threading.Thread(
            target=self._run, args=(ws,), name=READER_THREAD_NAME, daemon=True
        )
        self._reader.start()

    def on_reader_thread(self) -> bool:
        """Whether the caller is the reader thread (which must never block on a reply)."""
        return self._reader is not None and threading.current_thread() is self._reader

    def check_usable(self) -> None:
        """Raise the error a call made now must fail with, if any (no network use).

        Raises:
            ClientStateError: Not connected yet, or closed.
            RequestLimitReached: In the limited state (with ``reset_at``).
            InvalidApiToken | AlreadyConnected: Reconnection stopped on that error.
            ConnectionClosedError: The connection is down (reconnecting).
        """
        state = self.state
        if state is State.CONNECTED:
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
                if self.state is State.LIMITED and self._ws is not None:
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
            ws = self._ws
            assert ws is not None and self._server_token is not None
            frame = proto.command_frame(
                command, proto.auth_value(self._server_token), **dict(fields)
            )
            if before_send is not None:
                before_send()
            self._send_frame(ws, frame, "main")

    def request_once(self, command: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Send one command on a fresh short connection and return its one reply frame.

        Used for GET_ACCOUNT (docs/PROTOCOL.md 1.3); does not touch the main connection.

        Raises:
            ConnectionClosedError, RequestTimeoutError, RequestLimitReached, AlreadyConnected.
        """
        self.check_usable()
        assert self._server_token is not None
        frame = proto.command_frame(command, proto.auth_value(self._server_token), **dict(fields))
        return self._short_exchange(frame, "account")

    def close(self) -> None:
        """Close the connection and join the reader thread (idempotent, bounded by ``timeout``)."""
        with self._state_lock:
            if self.state is State.CLOSED:
                return
            self.state = State.CLOSED
            self._stop.set()
            ws, self._ws = self._ws, None
            connecting = self._connecting
        if ws is not None:
            with self._send_lock:
                try:
                    ws.settimeout(min(self.timeout, 1.0))
                    ws.send_close()
                except Exception:  # best effort: the peer may already be gone
                    logger.debug("close frame not sent", exc_info=False)
            reader = self._reader
            if reader is not None and reader is not threading.current_thread():
                # Give the server a moment to answer the close frame (a clean close).
                reader.join(min(self.timeout, 0.25))
            _abort(ws)
            if self._taps:
                self._taps.connection_event("closed", "main", "the client was closed")
        if connecting is not None:
            _abort(connecting)
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(self.timeout + 1.0)
            if reader.is_alive():
                logger.warning("reader thread did not stop within %.1f s", self.timeout + 1.0)

    # -- handshake -----------------------------------------------------------------------
    def _open_socket(self, kind: ConnectionKind) -> websocket.WebSocket:
        options: dict[str, Any] = {
            "timeout": self.timeout,
            "enable_multithread": True,
            "skip_utf8_validation": True,
            "header": [f"User-Agent: {_USER_AGENT}"],
        }
        if self._sslopt is not None:
            options["sslopt"] = self._sslopt
        try:
            ws = websocket.create_connection(self.url, **options)
            ws.sock = _ReadAheadSocket(ws.sock)  # type: ignore[assignment]
            ws.set_mask_key(_MaskKeys())  # type: ignore[no-untyped-call]
            if self._taps:
                self._taps.connection_event("opened", kind, "")
            return ws
        except websocket.WebSocketBadStatusException as exc:
            raise _map_rejection(exc) from None
        except websocket.WebSocketTimeoutException:
            raise ConnectionClosedError(f"timed out connecting to {self.url}") from None
        except ssl.SSLError as exc:
            raise ConnectionClosedError(
                f"TLS error connecting to {self.url}: {exc.reason or type(exc).__name__}"
            ) from None
        except OSError as exc:
            raise ConnectionClosedError(
                f"could not connect to {self.url}: {exc.strerror or type(exc).__name__}"
            ) from None
        except websocket.WebSocketException as exc:
            # Messages of websocket-client may echo handshake headers: never include them.
            raise ConnectionClosedError(
                f"could not connect to {self.url}: {type(exc).__name__}"
            ) from None

    def _short_exchange(self, frame: Mapping[str, Any], kind: ConnectionKind) -> dict[str, Any]:
        """Open a short connection, send ``frame``, read one reply, close."""
        ws = self._open_socket(kind)
        with self._state_lock:
            self._connecting = ws
        try:
            self._send_frame(ws, frame, kind)
            reply = self._read_handshake_frame(ws, str(frame.get("command")), kind)
        finally:
            with self._state_lock:
                self._connecting = None
            _close_quietly(ws)
            if self._taps:
                self._taps.connection_event("closed", kind, "short exchange done")
        proto_error = self._error_of(reply)
        if proto_error is not None:
            raise proto_error
        return reply

    def _validate_token(self) -> None:
        reply = self._short_exchange(proto.validate_frame(self._api_token), "validate")
        status = self._converter.token_status(reply)
        if not status.success or not status.token:
            raise InvalidApiToken("the API token was refused")
        self._server_token = status.token
        self.customer_id = status.customer_id

    def _establish(self) -> websocket.WebSocket:
        """Open the main connection and complete HELLO; re-validate once on ERROR 1."""
        for attempt in range(2):
            if self._server_token is None:
                self._validate_token()
            assert self._server_token is not None
            ws = self._open_socket("main")
            with self._state_lock:
                self._connecting = ws
            try:
                self._send_frame(
                    ws, proto.hello_frame(proto.auth_value(self._server_token)), "main"
                )
                self._await_hello(ws)
            except InvalidApiToken:
                _close_quietly(ws)
                if attempt:
                    raise
                logger.info(
                    "server-issued token no longer accepted; validating the API token again"
                )
                self._server_token = None
                continue
            except BaseException:
                _close_quietly(ws)
                raise
            finally:
                with self._state_lock:
                    self._connecting = None
            ws.settimeout(self.ping_interval)
            return ws
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_hello(self, ws: websocket.WebSocket) -> None:
        # HELLO policy (docs/PROTOCOL.md OP-1; the smallest change, issue 10 owns the
        # handshake deadline): the HELLO reply, or any other non-ERROR frame (which is
        # routed as usual), proves the session live. Silence for ``hello_timeout`` counts
        # as established too: the official client never waits for a HELLO reply. ERROR or
        # a close fails the connect as before.
        try:
            reply = self._read_handshake_frame(ws, proto.HELLO, "main", self.hello_timeout)
        except RequestTimeoutError:
            logger.info(
                "no reply to HELLO within %.1f s; the connection counts as established",
                self.hello_timeout,
            )
            return
        error = self._error_of(reply)
        if error is not None:
            raise error
        if proto.object_name_of(reply) != proto.OBJ_HELLO:
            try:
                self._on_frame(json.dumps(reply))
            except Exception:  # never let one frame break the handshake
                logger.exception("failed to handle a frame received before the HELLO reply")

    def _read_handshake_frame(
        self,
        ws: websocket.WebSocket,
        command: str,
        kind: ConnectionKind,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Read the next JSON object from ``ws`` within ``timeout`` (handshake phase only)."""
        timeout = self.timeout if timeout is None else timeout
        ws.settimeout(timeout)
        while True:
            try:
                opcode, frame = ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                raise RequestTimeoutError(command, None, timeout) from None
            except (websocket.WebSocketException, OSError) as exc:
                raise ConnectionClosedError(
                    f"connection lost waiting for the reply to {command}: {type(exc).__name__}"
                ) from None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise self._close_error(frame.data)
            if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                continue
            text = self._decode(frame.data)
            if text is None:
                continue
            if self._taps:
                self._taps.frame("in", text, kind)
            try:
                reply = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                logger.warning("dropped a non-JSON frame while waiting for %s", command)
                continue
            if isinstance(reply, dict):
                return reply
            logger.warning("dropped a non-object frame while waiting for %s", command)

    def _error_of(self, frame: Mapping[str, Any]) -> BlueCurrentError | None:
        """Map an ERROR frame to its exception (None for any other frame)."""
        if proto.object_name_of(frame) != proto.OBJ_ERROR:
            return None
        try:
            error = self._converter.server_error(frame)
        except ResponseValidationError as exc:
            return exc
        return error_for_code(error.code, error.message)

    # -- I/O helpers -------------------------------------------------------------------
    def _send_frame(
        self, ws: websocket.WebSocket, frame: Mapping[str, Any], kind: ConnectionKind
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            from ._convert import redact

            logger.debug("send %s", redact(frame))
        text = proto.encode(frame)
        if self._taps:
            self._taps.frame("out", text, kind)
        try:
            ws.send(text)
        except (websocket.WebSocketException, OSError) as exc:
            raise ConnectionClosedError(
                f"connection lost while sending {frame.get('command')}: {type(exc).__name__}"
            ) from None

    def _decode(self, data: bytes | str) -> str | None:
        size = len(data)
        if size > self.max_frame_bytes:
            self.dropped_frames += 1
            logger.warning(
                "dropped an incoming frame of %d bytes (max_frame_bytes=%d)",
                size,
                self.max_frame_bytes,
            )
            return None
        if isinstance(data, str):
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("dropped an incoming frame that is not valid UTF-8")
            return None

    def _close_error(self, data: bytes) -> BlueCurrentError:
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        reason = data[2:].decode("utf-8", "replace") if len(data) > 2 else ""
        if code == proto.CLOSE_CODE_LIMIT:
            return RequestLimitReached("Request limit reached", proto.next_reset_at())
        if proto.REASON_ALREADY_CONNECTED in reason.lower():
            return AlreadyConnected("Already connected")
        return ConnectionClosedError(f"the server closed the connection (code {code})")

    # -- the reader thread ---------------------------------------------------------------
    def _run(self, ws: websocket.WebSocket | None) -> None:
        while not self._stop.is_set():
            if ws is not None:
                error = self._read_until_dropped(ws)
                _abort(ws)
                if self._taps:
                    self._taps.connection_event("closed", "main", str(error))
                if self._stop.is_set():
                    return
                self._went_down(error)
                ws = None
            if not self.reconnect or self.state in (State.FAILED, State.CLOSED):
                return
            if not self._wait_before_reconnect():
                return
            ws = self._try_reconnect()

    def _read_until_dropped(self, ws: websocket.WebSocket) -> BlueCurrentError:
        """Read frames until the socket fails; return the error pending calls fail with.

        With ``ping_interval`` set, the socket has that read timeout: after a silent interval
        the reader sends a ping (websocket-client keeps partial frames across timeouts), and
        after ``ping_interval + ping_timeout`` seconds without any frame, pongs included, the
        connection counts as dead.
        """
        last_heard = time.monotonic()
        while True:
            try:
                opcode, frame = ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                if self._stop.is_set():
                    return ConnectionClosedError("the client was closed")
                silent = time.monotonic() - last_heard
                if self.ping_interval is None or silent >= self.ping_interval + self.ping_timeout:
                    logger.info("no data from %s for %.1f s: connection dead", self.url, silent)
                    return ConnectionClosedError("the connection timed out")
                self._ping(ws)
                continue
            except (websocket.WebSocketException, OSError, ValueError) as exc:
                if not self._stop.is_set():
                    logger.info("connection to %s lost: %s", self.url, type(exc).__name__)
                return ConnectionClosedError("the connection was lost")
            last_heard = time.monotonic()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                error = self._close_error(frame.data)
                if not self._stop.is_set():
                    logger.info("server closed the connection: %s", error)
                return error
            if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                continue
            text = self._decode(frame.data)
            if text is None:
                continue
            if self._taps:
                self._taps.frame("in", text, "main")
            try:
                self._on_frame(text)
            except Exception:  # the reader never dies from one frame
                logger.exception("failed to handle an incoming frame")

    def _ping(self, ws: websocket.WebSocket) -> None:
        with self._send_lock:
            try:
                ws.ping()
            except (websocket.WebSocketException, OSError):
                logger.debug("ping not sent")

    def enter_limited(self, reset_at: _dt.datetime) -> None:
        """Enter the quota-exhausted state (ERROR 42): no calls or reconnects until ``reset_at``."""
        with self._state_lock:
            if self.state is State.CLOSED:
                return
            self.limited_until = reset_at
            self.state = State.LIMITED
        logger.warning("request limit reached; no requests until %s", reset_at.isoformat())

    def _went_down(self, error: BlueCurrentError) -> None:
        with self._send_lock, self._state_lock:
            self._ws = None
            if isinstance(error, RequestLimitReached):
                self.limited_until = error.reset_at
                self.state = State.LIMITED
            elif isinstance(error, (AlreadyConnected, InvalidApiToken)):
                self.fatal_error = error
                self.state = State.FAILED
            elif self.state not in (State.LIMITED, State.FAILED, State.CLOSED):
                self.state = State.RECONNECTING if self.reconnect else State.FAILED
                if not self.reconnect:
                    self.fatal_error = ConnectionClosedError(
                        "the connection was lost (reconnect=False)"
                    )
        limited_until = self.limited_until if self.state is State.LIMITED else None
        if limited_until is not None and not isinstance(error, RequestLimitReached):
            error = RequestLimitReached("Request limit reached", limited_until)
        try:
            self._on_down(error)
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
            logger.info("reconnecting to %s in %.2f s", self.url, delay)
        return not self._stop.wait(delay)

    def _try_reconnect(self) -> websocket.WebSocket | None:
        with self._state_lock:
            if self._stop.is_set():
                return None
            # Calls made during the attempt fail at once with ConnectionClosedError.
            self.state = State.RECONNECTING
        try:
            ws = self._establish()
        except RequestLimitReached as exc:
            self._set_state_after_failure(State.LIMITED, exc)
            return None
        except (InvalidApiToken, AlreadyConnected) as exc:
            self._set_state_after_failure(State.FAILED, exc)
            return None
        except BlueCurrentError as exc:
            logger.info("reconnect failed: %s", exc)
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
                _abort(ws)
                return None
            self._ws = ws
            self.state = State.CONNECTED
            self.limited_until = None
        self._backoff.reset()
        logger.info("reconnected to %s", self.url)
        try:
            self._on_up()
        except Exception:
            logger.exception("on_up callback failed")
        return ws

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
            logger.error("reconnecting stopped: %s", error)
        elif state is State.LIMITED:
            logger.warning("request limit reached while reconnecting: %s", error)


class _ReadAheadSocket:
    """Serve websocket-client's 2-3 small recv() calls per frame from one large read.

    Every recv() releases and re-takes the GIL; while the dispatcher thread converts events,
    re-taking it costs far more than the syscall (a GIL convoy), so fewer recv() calls
    matter more than their size.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = memoryview(b"")

    def recv(self, size: int) -> bytes:
        if not self._buffer:
            data: bytes = self._sock.recv(max(size, 65536))
            if len(data) <= size:
                return data
            self._buffer = memoryview(data)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(chunk)

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _MaskKeys:
    """Masking keys from one os.urandom() call per 1,024 frames instead of one per frame."""

    def __init__(self) -> None:
        self._pool = b""
        self._lock = threading.Lock()

    def __call__(self, length: int) -> bytes:
        with self._lock:
            if len(self._pool) < length:
                self._pool = os.urandom(4096)
            key, self._pool = self._pool[:length], self._pool[length:]
            return key


def error_for_code(code: int | None, message: str) -> BlueCurrentError:
    """Map an ERROR frame's code to the exception it stands for."""
    if code == proto.ERROR_INVALID_AUTH:
        return InvalidApiToken(message or "Invalid Auth Token")
    if code == proto.ERROR_LIMIT:
        return RequestLimitReached(message or "Request limit reached", proto.next_reset_at())
    return ApiError(code, message)


def _map_rejection(exc: websocket.WebSocketBadStatusException) -> BlueCurrentError:
    headers = exc.resp_headers or {}
    reason = str(headers.get(proto.REJECT_REASON_HEADER, "")).lower()
    if proto.REASON_LIMIT in reason:
        return RequestLimitReached("Request limit reached", proto.next_reset_at())
    if proto.REASON_ALREADY_CONNECTED in reason:
        return AlreadyConnected("Already connected")
    return ConnectionClosedError(f"the server refused the connection (HTTP {exc.status_code})")


def copy_error(error: BlueCurrentError) -> BlueCurrentError:
    """A fresh exception of the same kind (never re-raise one shared instance's traceback)."""
    if isinstance(error, RequestLimitReached):
        return RequestLimitReached(str(error.args[0]), error.reset_at)
    try:
        return type(error)(*error.args)
    except TypeError:
        return error


def _abort(ws: websocket.WebSocket) -> None:
    """Shut the socket down (waking a reader blocked in recv), then close it.

    ``WebSocket.abort()`` is not enough: it does nothing once ``send_close()`` has cleared
    ``connected``, and closing a socket does not wake a thread blocked reading it on Linux.
    """
    sock = ws.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    ws.shutdown()  # type: ignore[no-untyped-call]


def _close_quietly(ws: websocket.WebSocket) -> None:
    try:
        ws.settimeout(1.0)
        ws.send_close()
    except (websocket.WebSocketException, OSError):
        pass
    _abort(ws)
