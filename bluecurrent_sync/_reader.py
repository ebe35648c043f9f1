"""The reader thread: it reads the main connection, judges liveness, re-validates the token
on ERROR 1 (on a thread of its own) and reconnects as the session's policy says.

While a batch runs, or a call waits with no other caller reading, the caller may read instead
(the guest, ``_read_role.py``): the reader thread stands aside between two messages (and for
`_LINGER` seconds after the guest leaves) and the guest reads and handles each message with the
same code (`Reader.serve_guest`).

`Reader` is the part of a `_connection.Connection` that runs on the ``bluecurrent-sync-reader``
thread; it reaches the connection's stream slot, session and opener through the connection it serves
(same layer, one owner each).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from . import _exchanges as ex
from ._liveness import Liveness, Verdict
from ._log import CONNECTION
from ._read_role import ReadRole
from ._session import State
from ._transport import Deadline, Kind, Message, ProtocolViolation, Stream
from ._wire import copy_error
from .errors import (
    BlueCurrentError,
    ConnectionClosedError,
    InvalidApiToken,
    RequestLimitReached,
)

__all__ = ["READER_THREAD_NAME", "Reader"]

logger = logging.getLogger(CONNECTION)

READER_THREAD_NAME = "bluecurrent-sync-reader"

#: Seconds a read may wait on a silent socket before liveness is judged again.
_POLL = 1.0
#: Seconds a guest waiting for the stream sleeps on its own request before it looks again
#: (a reply to that request wakes it at once).
_TAKE_SLICE = 0.02
#: Seconds the reader keeps standing aside after a guest left: a caller making calls one
#: after another reads each reply itself, with no hand-off between threads. Nobody reads
#: meanwhile, so a push may wait up to twice this long.
_LINGER = 0.05


class Reader:
    """What the reader thread does for ``conn`` (see the module).

    Args:
        conn: The ``Connection`` served (typed loosely: it imports this module).
        liveness: Its keepalive rule.

    Attributes:
        dropped_before: Over-size messages dropped on earlier streams.
        revalidated_at: When the token was last validated again (``time.monotonic()``).
        sent_since_revalidation: Whether a frame went out since then.
        revalidator: The re-validation thread, if one ran.
        role: Who reads the stream (this thread, or a guest).
    """

    def __init__(self, conn: Any, liveness: Liveness) -> None:
        self._conn = conn
        self._liveness = liveness
        self.dropped_before = 0
        self.revalidated_at: float | None = None
        self.sent_since_revalidation = False
        self.revalidator: threading.Thread | None = None
        self.fail_with: BlueCurrentError | None = None
        self.role = ReadRole()

    def run(self, stream: Stream | None) -> None:
        while not self._conn._stop.is_set():
            if stream is not None:
                error = self._read_until_dropped(stream)
                stream.abort()
                self.dropped_before += stream.dropped
                if self._conn._taps:
                    self._conn._taps.connection_event("closed", "main", str(error))
                if self._conn._stop.is_set():
                    return
                self._went_down(error)
                stream = None
            if not self._conn.session.reconnect or self._conn.state in (State.FAILED, State.CLOSED):
                return
            delay = self._conn.session.delay()
            if self._conn.state is State.LIMITED and self._conn.session.limited_until is not None:
                logger.info(
                    "request limit reached: reconnecting at %s", self._conn.session.limited_until
                )
            else:
                logger.info("reconnecting in %.2f s", delay)
            if self._conn._stop.wait(delay):
                return
            stream = self._try_reconnect()

    def _read_until_dropped(self, stream: Stream) -> BlueCurrentError:
        """Read messages until the connection fails; return the error pending calls fail with.

        Liveness is judged by complete frames (``_liveness.py``), even while a server keeps
        dripping bytes of a frame that never completes.
        """
        liveness = self._liveness
        liveness.reset()
        poll = min(liveness.interval or _POLL, _POLL)
        read_since_aside = True
        while True:
            if self.fail_with is not None:
                return self.fail_with
            if self._conn._stop.is_set():
                return ConnectionClosedError("the client was closed")
            # A guest asking is served at once; a waiting caller's wish only after a message
            # (its reply may be it), never twice in a row without reading.
            if self.role.guest_asks or (self.role.asked and read_since_aside):
                guest_error = self._stand_aside(stream)
                if guest_error is not None:
                    return guest_error
                read_since_aside = False
                continue
            read_since_aside = True
            check_at = liveness.check_at(stream.last_progress)
            # The socket timeout stays put (changing it costs system calls on every message):
            # a silent socket wakes the loop every poll period, check_at bounds every read.
            wait = None if check_at is None else max(0.001, min(poll, check_at - time.monotonic()))
            try:
                message = stream.read(wait, check_at)
            except TimeoutError:
                pass  # check_at reached: the liveness check below
            except (ProtocolViolation, OSError) as exc:
                if not self._conn._stop.is_set():
                    logger.info("connection lost: %s: %s", type(exc).__name__, exc)
                lost = self.fail_with or ConnectionClosedError("the connection was lost")
                lost.__cause__ = lost.__cause__ or exc
                return lost
            else:
                error = self._handle_message(stream, message)
                if error is not None:
                    return error
                continue
            dead = self._judge(stream)
            if dead is not None:
                return dead

    def _judge(self, stream: Stream) -> BlueCurrentError | None:
        """Judge liveness now: ping if due; the error if the connection is dead."""
        liveness = self._liveness
        verdict = liveness.verdict(stream.last_progress)
        if verdict is Verdict.DEAD:
            logger.info("no complete frame from the server in time: connection dead")
            return ConnectionClosedError("the connection timed out")
        if verdict is Verdict.PING:
            try:
                stream.ping(Deadline(liveness.timeout))
            except (TimeoutError, OSError):
                logger.debug("ping not sent")
        return None

    def _stand_aside(self, stream: Stream) -> BlueCurrentError | None:
        """Lend ``stream`` to the guest until it leaves, and for `_LINGER` seconds after (the
        next call may read at once); judge liveness meanwhile.

        Returns:
            The error that ended the connection while the guest had it, if any.
        """
        role = self.role
        role.lend(stream)
        ended: BlueCurrentError | None = None
        poll = min(self._liveness.interval or _POLL, _POLL)
        try:
            while (wait := role.keep_lent(_LINGER)) is not None:
                if self._conn._stop.is_set():
                    stream.abort()  # ends the guest's read; the caller of run() returns
                    ended = ConnectionClosedError("the client was closed")
                    break
                if role.wait_change(min(wait, poll)):
                    continue  # ended, handed back, or woken by close(): looked at above
                if ended is None:
                    ended = self.fail_with or self._judge(stream)
                    if ended is not None:
                        stream.abort()  # the guest's read fails at once and it hands back
        finally:
            handed_back = role.reclaim()
        return ended or handed_back

    # -- the guest (a caller's thread, see _read_role.py) ------------------------------
    @contextlib.contextmanager
    def guest(self) -> Iterator[None]:
        """Within this block the calling thread reads the connection while it waits.

        `wait_reply()` then reads and routes messages on the caller's thread, and
        `drain()` handles those already there; the reader thread stands
        aside between messages until the block ends. One caller at a time: inside another
        caller's block this one waits as usual (that caller routes its replies). On the reader
        thread itself the block changes nothing.
        """
        role = self.role
        if self._conn.on_reader_thread() or not role.enter():
            yield
            return
        try:
            yield
        finally:
            role.leave()

    def wait_reply(self, waiter: Any, timeout: float) -> bool:
        """Wait until ``waiter`` is done: as the guest when no other caller reads (each call
        reads its own reply), else as a follower while the guest or the reader reads."""
        if waiter.done:
            return True
        role = self.role
        if role.is_guest():
            return self.serve_guest(waiter, timeout)
        if role.enter_or_follow(waiter):
            try:
                return self.serve_guest(waiter, timeout)
            finally:
                role.leave()
        try:
            return bool(waiter.wait(timeout))
        finally:
            role.unfollow(waiter)

    def drain(self) -> None:
        """As the guest, handle the messages that are already there, without waiting (a batch
        after its sends); on any other thread, nothing."""
        role = self.role
        if not role.is_guest():
            return
        stream = role.lent()
        while stream is not None and stream.ready():
            if not self._guest_read(stream, None):
                break
            stream = role.lent()

    def serve_guest(self, waiter: Any, timeout: float) -> bool:
        """Read and handle messages on the calling thread, the guest, until ``waiter`` is done.
        While the reader thread still reads, wait on ``waiter`` instead, a slice at a time.

        Returns:
            Whether ``waiter`` is done (False: ``timeout`` passed).
        """
        role = self.role
        deadline = time.monotonic() + timeout
        while not waiter.done:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            stream = role.lent()
            if stream is None:
                waiter.wait(min(left, _TAKE_SLICE))
            elif stream.ready(min(left, _POLL)):
                # Bytes are there: read. The wait for them read nothing, so an interrupt
                # there (Ctrl-C while the server is silent) leaves the stream whole.
                self._guest_read(stream, deadline)
        return True

    def _guest_read(self, stream: Stream, deadline: float | None) -> bool:
        """Read and handle one message as the guest; hand the stream back if it ended.

        The read waits at most until ``deadline`` (a check time; None: a socket read may wait
        ``_POLL``). The socket's timeout stays put but near the deadline: changing it costs
        two system calls per message.

        Returns:
            Whether a message was handled and the stream goes on.
        """
        try:
            left = _POLL if deadline is None else deadline - time.monotonic()
            message = stream.read(_POLL if left >= _POLL else max(0.001, left), deadline)
        except TimeoutError:
            return False
        except (ProtocolViolation, OSError) as exc:
            if not self._conn._stop.is_set():
                logger.info("connection lost: %s: %s", type(exc).__name__, exc)
            lost = ConnectionClosedError("the connection was lost")
            lost.__cause__ = exc
            self.role.hand_back(lost)
            return False
        except BaseException as exc:  # an interrupt half-way through a frame
            self._interrupted(stream, exc)
            raise
        try:
            error = self._handle_message(stream, message)
        except BaseException as exc:  # an interrupt while the message was being handled
            self._interrupted(stream, exc)
            raise
        if error is not None:
            self.role.hand_back(error)
            return False
        return True

    def _interrupted(self, stream: Stream, exc: BaseException) -> None:
        """The guest was interrupted inside a message (while its bytes were read or while it
        was handled; never while waiting for bytes): drop the connection, reconnect at once.

        Part of a frame may have been read, or a frame half-handled: nothing on this stream
        can be trusted, so every pending call fails now (retryable) instead of losing a reply.
        """
        logger.info("a call was interrupted while it read (%s): reconnecting", type(exc).__name__)
        error = ConnectionClosedError("the connection was dropped: a call was interrupted")
        error.__cause__ = exc
        self._conn.session.hurry = True
        stream.abort()
        self.role.hand_back(error)

    def _handle_message(self, stream: Stream, message: Message) -> BlueCurrentError | None:
        """Deliver one message; return the error if it ended the connection."""
        if message.kind is Kind.CLOSE:
            error = ex.close_error(message.data)
            if not self._conn._stop.is_set():
                logger.info("server closed the connection: %s", error)
            return error
        if message.kind is Kind.OVERSIZE:
            if self._conn._on_oversize is not None:
                try:
                    self._conn._on_oversize(message.data, message.size)
                except Exception:
                    logger.exception("failed to handle an over-size message")
            return None
        try:
            text = message.data.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("dropped an incoming frame that is not valid UTF-8")
            return None
        self._conn._taps.frame("in", text, "main")
        if self._conn._redactor.hit(text):
            text = self._conn._redactor.scrub(text)
        try:
            fatal = self._conn._on_frame(text)
        except Exception:  # one frame never ends the connection
            logger.exception("failed to handle an incoming frame")
        else:
            if isinstance(fatal, RequestLimitReached):
                self._conn.enter_limited(fatal.reset_at)
            elif isinstance(fatal, InvalidApiToken):
                self._token_refused()
        return self.fail_with

    def _token_refused(self) -> None:
        """ERROR 1 on the live connection: validate the API token again, once, off this thread.

        A new server-issued token replaces the old one and the connection carries on. If
        validation fails, or the server refuses the new token too before the connection has
        been stable for ``stable_after`` seconds, reconnection stops with InvalidApiToken.
        """
        session = self._conn.session
        if session.state is not State.CONNECTED or session.revalidating:
            return
        now = time.monotonic()
        at = self.revalidated_at
        recent = at is not None and now - at < session.stable_after
        if recent and not self.sent_since_revalidation:
            return  # an answer to a frame sent with the old token
        if recent:
            self._give_up(InvalidApiToken("the server refused the token again after re-validation"))
            return
        logger.info(
            "server refused the server-issued token (ERROR 1); validating the API token again"
        )
        session.revalidating = True
        self.revalidator = self._conn._thread(self._revalidate, "bluecurrent-sync-revalidate")

    def _revalidate(self) -> None:
        try:
            self._conn._opener.validate(Deadline(self._conn.connect_timeout))
        except InvalidApiToken as exc:
            self._give_up(exc)
            return
        except BlueCurrentError as exc:
            logger.info("re-validation failed (%s); reconnecting", exc)
            self._conn._opener.server_token = None
            self._drop_stream()
            return
        except Exception:  # a thread of ours never dies of what a server or a close does
            logger.exception("re-validation failed unexpectedly; reconnecting")
            self._conn._opener.server_token = None
            self._drop_stream()
            return
        finally:
            self._conn.session.revalidating = False
        self.revalidated_at = time.monotonic()
        self.sent_since_revalidation = False

    def after_fork(self) -> None:
        """In a forked child: no guest, a fresh lock."""
        self.role = ReadRole()

    def _give_up(self, error: BlueCurrentError) -> None:
        self.fail_with = error
        self._drop_stream()

    def _drop_stream(self) -> None:
        stream = self._conn._stream
        if stream is not None:
            stream.abort()

    def _went_down(self, error: BlueCurrentError) -> None:
        with self._conn._send_lock, self._conn.session.lock:
            self._conn._stream = None
            error, reconnecting = self._conn.session.went_down(error)
        self._notify_down(error, reconnecting)

    def _notify_down(self, error: BlueCurrentError, reconnecting: bool) -> None:
        try:
            self._conn._on_down(error, reconnecting)
        except Exception:
            logger.exception("on_down callback failed")

    def _try_reconnect(self) -> Stream | None:
        session = self._conn.session
        with session.lock:
            if self._conn._stop.is_set():
                return None
            session.state = State.RECONNECTING  # calls made meanwhile fail at once
        try:
            stream: Stream = self._conn._opener.establish(Deadline(self._conn.connect_timeout))
        except Exception as exc:  # the reader thread must survive anything a server sends
            if not isinstance(exc, BlueCurrentError):
                logger.exception("reconnect failed unexpectedly")
                error: BlueCurrentError = ConnectionClosedError("reconnect failed")
                error.__cause__ = exc
            else:
                error = exc
                logger.info("reconnect failed: %s", self._conn._redactor.scrub(str(exc)))
            going_on = session.attempt_failed(error)
            if not going_on:
                logger.error("reconnecting stopped: %s", self._conn._redactor.scrub(str(error)))
            if not self._conn._stop.is_set():
                self._notify_down(copy_error(error), going_on)
            return None
        with session.lock:
            if self._conn._stop.is_set():
                stream.abort()
                return None
            self._conn._stream = stream
            session.up()
        logger.info("reconnected")
        try:
            self._conn._on_up()
        except Exception:
            logger.exception("on_up callback failed")
        return stream
