"""The short exchanges of a connection, each a function over a stream and a deadline.

Validating the API token and GET_ACCOUNT run on a short connection of their own (open,
send one frame, read one reply, close); HELLO opens the main connection. Each read is
bounded by the deadline it is given; what arrives is redacted of both tokens before anything
else sees it, and shown to the taps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from . import _protocol as proto
from ._log import CONNECTION
from ._redact import Redactor
from ._tap import ConnectionKind, TapSet
from ._transport import Deadline, Kind, ProtocolViolation, Stream
from ._wire import OBJ_ERROR, OBJ_HELLO, error_for_close, object_name_of
from .errors import BlueCurrentError, ConnectionClosedError, RequestTimeoutError

__all__ = [
    "Link",
    "close_error",
    "exchange",
    "hello",
    "outgoing",
    "read_object",
    "send_frame",
    "send_texts",
]

logger = logging.getLogger(CONNECTION)


class _Converter(Protocol):
    def token_status(self, frame: Mapping[str, Any]) -> Any: ...

    def server_exception(self, frame: Mapping[str, Any]) -> BlueCurrentError: ...


class Link:
    """What every exchange needs besides its stream: taps, redaction, the converter and
    whether the client is being closed (which turns a timeout into "closed").

    Args:
        taps: Frame observers.
        redactor: Knows both tokens.
        converter: Converts token-status and ERROR frames.
        stopping: Whether the client is being closed.
        connect_timeout: The deadline's length, for timeout messages.
    """

    def __init__(
        self,
        taps: TapSet,
        redactor: Redactor,
        converter: _Converter,
        stopping: Callable[[], bool],
        connect_timeout: float,
    ) -> None:
        self.taps = taps
        self.redactor = redactor
        self.converter = converter
        self.stopping = stopping
        self.connect_timeout = connect_timeout

    def closed_error(self) -> ConnectionClosedError:
        """The error of an exchange cut short by ``close()``."""
        return ConnectionClosedError("the client was closed while connecting")

    def error_of(self, frame: Mapping[str, Any]) -> BlueCurrentError | None:
        """Map an ERROR frame to its exception (None for any other frame)."""
        if object_name_of(frame) != OBJ_ERROR:
            return None
        return self.converter.server_exception(frame)


def send_frame(
    link: Link, stream: Stream, frame: Mapping[str, Any], kind: ConnectionKind, deadline: Deadline
) -> None:
    """Encode and send ``frame`` before ``deadline``.

    Raises:
        RequestTimeoutError: The deadline passed while sending (the stream is then broken).
        ConnectionClosedError: The connection failed.
    """
    send_texts(link, stream, [outgoing(link, frame, kind)], str(frame.get("command")), deadline)


def outgoing(link: Link, frame: Mapping[str, Any], kind: ConnectionKind) -> str:
    """The text of ``frame`` about to be sent, shown to the taps (the wire log, the meter)."""
    text = proto.encode(frame)  # logged by the wire-log tap (bluecurrent_sync.wire)
    link.taps.frame("out", text, kind)  # (no taps: a loop over nothing)
    return text


def send_texts(
    link: Link,
    stream: Stream | None,
    texts: Sequence[str],
    command: str,
    deadline: Deadline,
    *,
    sent: Callable[[int], None] = lambda _count: None,
) -> None:
    """Send the `outgoing` texts of ``command`` frames before ``deadline``, in order, in as few
    writes as the socket takes; ``sent(count)``: how many went out whole (`Stream.send_texts`).

    Raises:
        RequestTimeoutError: The deadline passed while sending (a frame cut half-way leaves
            the stream broken).
        ConnectionClosedError: The connection failed.
    """
    if stream is None:  # nothing was made ready to go
        sent(0)
        return
    try:
        stream.send_texts(texts, deadline, sent)
    except TimeoutError as exc:
        raise RequestTimeoutError(command, None, link.connect_timeout) from exc
    except OSError as exc:
        raise ConnectionClosedError(
            f"connection lost while sending {command}: {type(exc).__name__}"
        ) from exc


def close_error(data: bytes) -> BlueCurrentError:
    """The error a close frame with payload ``data`` stands for."""
    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
    reason = data[2:].decode("utf-8", "replace") if len(data) > 2 else ""
    return error_for_close(code, reason)


def read_object(
    link: Link, stream: Stream, command: str, kind: ConnectionKind, deadline: Deadline
) -> tuple[dict[str, Any], str]:
    """Read the next JSON object (and its redacted text) before ``deadline``.

    Raises:
        RequestTimeoutError: Nothing in time.
        ConnectionClosedError: The connection failed, or the client is being closed.
        BlueCurrentError: The server closed the connection (by its close code).
    """
    while True:
        try:
            message = stream.read(deadline.left(), deadline.end)
        except TimeoutError as exc:
            if link.stopping():
                raise link.closed_error() from exc
            raise RequestTimeoutError(command, None, link.connect_timeout) from exc
        except (ProtocolViolation, OSError) as exc:
            if link.stopping():
                raise link.closed_error() from exc
            raise ConnectionClosedError(
                f"connection lost waiting for the reply to {command}: {type(exc).__name__}"
            ) from exc
        if message.kind is Kind.CLOSE:
            raise close_error(message.data)
        if message.kind is not Kind.TEXT:
            continue
        try:
            text = message.data.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("dropped an incoming frame that is not valid UTF-8")
            continue
        if link.taps:
            link.taps.frame("in", text, kind)
        text = link.redactor.scrub(text)
        try:
            reply = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            logger.warning("dropped a non-JSON frame while waiting for %s", command)
            continue
        if isinstance(reply, dict):
            return reply, text
        logger.warning("dropped a non-object frame while waiting for %s", command)


def exchange(
    link: Link, stream: Stream, frame: Mapping[str, Any], kind: ConnectionKind, deadline: Deadline
) -> dict[str, Any]:
    """Send ``frame`` and return its one reply (an ERROR reply raised as its exception)."""
    send_frame(link, stream, frame, kind, deadline)
    reply, _text = read_object(link, stream, str(frame.get("command")), kind, deadline)
    error = link.error_of(reply)
    if error is not None:
        raise error
    return reply


def hello(
    link: Link,
    stream: Stream,
    server_token: str,
    deadline: Deadline,
    *,
    wait: float,
    on_frame: Callable[[str], object],
) -> None:
    """Send HELLO; wait for its reply, or any other non-ERROR frame, or ``wait`` of silence.

    A push before the reply proves the session live as well (it goes to ``on_frame``).
    Silence for ``wait`` seconds (capped by the deadline) also counts as established.

    Raises:
        BlueCurrentError: An ERROR reply, a close, a lost connection.
    """
    send_frame(link, stream, proto.hello_frame(proto.auth_value(server_token)), "main", deadline)
    wait = min(wait, max(0.0, deadline.remaining()))
    try:
        reply, text = read_object(link, stream, proto.HELLO, "main", Deadline(wait))
    except RequestTimeoutError as exc:
        if link.stopping():
            raise link.closed_error() from exc
        logger.info("no HELLO reply within %.1f s; the connection counts as established", wait)
        return
    error = link.error_of(reply)
    if error is not None:
        raise error
    if object_name_of(reply) != OBJ_HELLO:
        try:
            on_frame(text)  # not ERROR (raised above): nothing for the connection
        except Exception:  # never let one frame break the handshake
            logger.exception("failed to handle a frame received before the HELLO reply")
