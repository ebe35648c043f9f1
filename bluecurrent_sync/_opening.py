"""Opening connections: a validated main stream, or a short exchange, under one deadline.

`Opener` owns what opening needs and nothing else: the transport, the API token and the
server-issued token it is exchanged for, and the connect in progress (so that ``close()`` on another
thread can cut it). Foreign errors are mapped here, once, to the client's errors, each raised
``from`` its cause (except an upgrade refusal: websocket-client's text of it carries the response
headers, a ``Location`` among them, which is never shown).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import _exchanges as ex
from . import _protocol as proto
from ._lazy import LazyModule
from ._log import CONNECTION
from ._proxy import Proxy
from ._tap import ConnectionKind
from ._transport import (
    Deadline,
    ProtocolViolation,
    ProxyRefused,
    Stream,
    Transport,
    UpgradeRefused,
)
from ._wire import REJECT_REASON_HEADER, error_for_rejection
from .errors import ConnectionClosedError, InvalidApiToken

if TYPE_CHECKING:
    import ssl
else:  # ssl is imported when the first client is made
    ssl = LazyModule("ssl")

__all__ = ["Opener", "display_url", "interrupt"]

logger = logging.getLogger(CONNECTION)


class Opener:
    """Opens the client's streams (see the module).

    Args:
        api_token: The user's API token (never logged).
        url: The websocket URL.
        transport: Opens the streams.
        link: Taps, redaction, converter, whether the client is being closed.
        stop: Set when the client is being closed (cuts a connect in progress).
        hello_timeout: How long to wait for the HELLO reply.
        on_frame: Gets a push that arrives before the HELLO reply.
        proxy: The proxy (for error messages).

    Attributes:
        server_token: The server-issued token (None: validate first).
        customer_id: From the last validation.
    """

    def __init__(
        self,
        api_token: str,
        url: str,
        transport: Transport,
        link: ex.Link,
        stop: threading.Event,
        *,
        hello_timeout: float,
        on_frame: Callable[[str], object],
        proxy: Proxy | None,
    ) -> None:
        self._api_token = api_token
        self.url = url
        self.transport = transport
        self.link = link
        self.stop = stop
        self.hello_timeout = hello_timeout
        self._on_frame = on_frame
        self.proxy = proxy
        self.server_token: str | None = None
        self.customer_id: str | None = None
        self._lock = threading.Lock()
        self._connecting: Any = None  # a socket or stream close() shuts down

    def after_fork(self) -> None:
        """In a forked child: a fresh lock, no connect in progress."""
        self._lock = threading.Lock()
        self._connecting = None

    def interrupt(self) -> None:
        """Cut the connect in progress, if any (from another thread; ``stop`` is set)."""
        with self._lock:
            handle = self._connecting
        interrupt(handle)

    def _set_connecting(self, handle: Any) -> None:
        with self._lock:
            self._connecting = handle
        if self.stop.is_set():
            interrupt(handle)

    def open_stream(self, kind: ConnectionKind, deadline: Deadline) -> Stream:
        """Open a stream (no exchange yet) before ``deadline``.

        Raises:
            ConnectionClosedError: Not reachable, refused tunnel, bad upgrade, closed.
            BlueCurrentError: The upgrade was refused (mapped by status and reason).
        """
        if self.stop.is_set():
            raise self.link.closed_error()
        try:
            stream = self.transport.open(
                self.url, deadline, register=self._set_connecting, cancelled=self.stop
            )
        # No cause, for secrecy: UpgradeRefused chains the library's exception, whose text
        # carries the response headers (a redirect's Location may hold the token).
        except UpgradeRefused as exc:
            reason = exc.headers.get(REJECT_REASON_HEADER, "")
            raise error_for_rejection(exc.status, reason) from None
        except (ProxyRefused, TimeoutError, InterruptedError, ProtocolViolation, OSError) as exc:
            raise self._error(exc) from exc
        self._set_connecting(stream)
        if self.link.taps:
            self.link.taps.connection_event("opened", kind, "")
        return stream

    def _error(self, exc: BaseException) -> ConnectionClosedError:
        where = self.link.redactor.scrub(display_url(self.url))
        if self.proxy is not None:
            where = f"{where} (via the proxy {self.proxy.display})"
        if isinstance(exc, ProxyRefused):
            hint = {
                407: " (proxy authentication required: check the user:password in the proxy URL)"
            }
            shown = self.proxy.display if self.proxy is not None else "?"
            return ConnectionClosedError(
                f"proxy {shown} refused the tunnel: HTTP {exc.status}{hint.get(exc.status, '')}"
            )
        if self.stop.is_set() and isinstance(exc, OSError):
            return self.link.closed_error()
        if isinstance(exc, TimeoutError):
            return ConnectionClosedError(f"timed out connecting to {where}")
        if isinstance(exc, ssl.SSLError):
            reason = exc.reason or type(exc).__name__
            return ConnectionClosedError(f"TLS error connecting to {where}: {reason}")
        if isinstance(exc, ProtocolViolation):
            return ConnectionClosedError(f"bad websocket upgrade from {where}: {exc}")
        strerror = getattr(exc, "strerror", None)
        return ConnectionClosedError(
            f"could not connect to {where}: {strerror or type(exc).__name__}"
        )

    def short_exchange(
        self, frame: Mapping[str, Any], kind: ConnectionKind, deadline: Deadline
    ) -> dict[str, Any]:
        """Open a short connection, send ``frame``, read one reply, close (all by ``deadline``)."""
        stream = self.open_stream(kind, deadline)
        try:
            return ex.exchange(self.link, stream, frame, kind, deadline)
        finally:
            self._set_connecting(None)
            stream.send_close(Deadline(min(1.0, max(0.01, deadline.remaining()))))
            stream.abort()
            if self.link.taps:
                self.link.taps.connection_event("closed", kind, "short exchange done")

    def validate(self, deadline: Deadline) -> None:
        """Exchange the API token for a server-issued one (`server_token`).

        Raises:
            InvalidApiToken: Refused.
        """
        reply = self.short_exchange(proto.validate_frame(self._api_token), "validate", deadline)
        status = self.link.converter.token_status(reply)
        if not status.success or not status.token:
            raise InvalidApiToken("the API token was refused")
        self.link.redactor.learn(status.token)
        self.server_token = status.token
        self.customer_id = status.customer_id

    def establish(self, deadline: Deadline) -> Stream:
        """Open the main connection and complete HELLO; re-validate once on ERROR 1."""
        for attempt in range(2):
            if self.server_token is None:
                self.validate(deadline)
            assert self.server_token is not None
            stream = self.open_stream("main", deadline)
            try:
                ex.hello(
                    self.link,
                    stream,
                    self.server_token,
                    deadline,
                    wait=self.hello_timeout,
                    on_frame=self._on_frame,
                )
            except InvalidApiToken:
                stream.abort()
                if attempt:
                    raise
                logger.info("server-issued token no longer accepted; validating the token again")
                self.server_token = None
                continue
            except BaseException:
                stream.abort()
                raise
            finally:
                self._set_connecting(None)
            return stream
        raise AssertionError("unreachable")  # pragma: no cover


def display_url(url: str) -> str:
    """``url`` without userinfo, query or fragment (they may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def interrupt(handle: Any) -> None:
    """Wake any thread blocked on ``handle`` (a socket being connected, or a stream)."""
    if handle is None:
        return
    if isinstance(handle, Stream):
        handle.abort()
        return
    with contextlib.suppress(OSError):
        handle.shutdown(socket.SHUT_RDWR)
