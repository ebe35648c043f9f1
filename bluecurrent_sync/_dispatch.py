"""The dispatcher thread: subscriptions, bounded event delivery and the events() iterator.

The reader thread only enqueues frames here; the ``bluecurrent-sync-dispatch`` thread takes each
frame's model (converting it unless a waiter or the mirror already did: a frame the router
wrapped in a `FrameCell` is converted once for all of them) and hands it, in arrival order, to
every handler subscribed to its object name (and to ``"*"``), each call isolated, and to every
open [`EventStream`][bluecurrent_sync.EventStream].

Overflow policy (both queues are bounded): when a queue is full the OLDEST queued item is
dropped to make room for the newest and a drop counter is increased (the dispatcher counts
its drops from gaps in the queued items' sequence numbers); it logs a warning on the first
drop and each time the count passes a multiple of 100.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._cell import FrameCell
from ._log import EVENTS
from .errors import BlueCurrentError

__all__ = ["ANY", "Dispatcher", "EventStream", "Handler", "Subscriptions"]

logger = logging.getLogger(EVENTS)

#: Subscribe to every object name.
ANY = "*"

Handler = Callable[[Any], object]
Converter = Callable[[Mapping[str, Any]], object]

THREAD_NAME = "bluecurrent-sync-dispatch"


class EventStream(Iterator[Any]):
    """A bounded, blocking iterator over pushed events (see
    [`Client.events()`][bluecurrent_sync.Client.events]).

    Iteration ends when no event arrives within ``timeout`` seconds (if given), when the stream is
    closed, or when the client is closed. When more than ``maxsize`` events are waiting, the oldest
    is dropped and `dropped` is increased.

    Attributes:
        names: The object names this stream receives (empty = all).
        dropped: How many events were dropped because the consumer was too slow.
    """

    def __init__(
        self,
        names: frozenset[str],
        maxsize: int,
        timeout: float | None,
        on_close: Callable[[EventStream], None],
    ) -> None:
        self.names = names
        self.dropped = 0
        self._timeout = timeout
        self._items: collections.deque[Any] = collections.deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self._on_close = on_close

    def wants(self, object_name: str) -> bool:
        """Whether this stream receives events named ``object_name``."""
        return not self.names or object_name in self.names

    def put(self, event: Any) -> None:
        """Queue an event (called by the dispatcher thread); drops the oldest when full."""
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(event)
            self._cond.notify()

    def close(self) -> None:
        """Stop the stream; a blocked ``next()`` returns at once. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._on_close(self)

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Any:
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: self._items or self._closed, self._timeout)
            if self._items:
                return self._items.popleft()
        raise StopIteration

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Subscriptions:
    """The handlers by object name: the owner (the client) holds the only strong reference.

    Handlers often refer to the client (a bound method of its owner, a lambda using it). The
    dispatcher and its thread reach them only through a weak reference, so a client whose
    last user reference is gone is still collected (its finalizer then closes it), handlers
    or not.
    """

    __slots__ = ("__weakref__", "by_name")

    def __init__(self) -> None:
        self.by_name: dict[str, list[Handler]] = {}


class Dispatcher:
    """Runs subscribers off the reader thread, in arrival order, each isolated."""

    def __init__(
        self,
        convert: Converter,
        *,
        queue_size: int = 1000,
        subscriptions: Subscriptions | None = None,
    ) -> None:
        """Create a dispatcher (no thread yet; see `start()`).

        Args:
            convert: Turns a pushed frame into the event object handed to subscribers.
            queue_size: Bound of the dispatcher queue and of each events() stream.
            subscriptions: Where handlers are kept, held here only weakly (the caller keeps
                it alive; once it is gone, events reach streams only). Default: a set of
                the dispatcher's own.
        """
        if queue_size < 1:
            raise ValueError("event_queue_size must be at least 1")
        self._convert = convert
        self.queue_size = queue_size
        self._lock = threading.Lock()
        # Strongly held only when the dispatcher made it (no owner to keep it).
        self._own_subscriptions = Subscriptions() if subscriptions is None else None
        self._subscriptions = weakref.ref(subscriptions or self._own_subscriptions)
        # Weak references: a stream its consumer abandoned is collected and stops receiving.
        self._streams: list[weakref.ref[EventStream]] = []
        # deque appends and pops are atomic, so the reader never takes a lock to queue a frame;
        # maxlen drops the oldest item itself. Items carry a sequence number, so the
        # dispatcher counts the dropped ones exactly from the gaps. The condition only wakes
        # an idle dispatcher.
        self._queue: collections.deque[tuple[int, str, Mapping[str, Any] | None, object]] = (
            collections.deque(maxlen=queue_size)
        )
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._cond = threading.Condition(threading.Lock())
        self._idle = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        # object name -> whether anyone listens; read without the lock on every frame, reset
        # (under the lock) whenever subscriptions or streams change.
        self._wanted: dict[str, bool] = {}

    # -- subscriptions -----------------------------------------------------------------
    def subscribe(self, object_name: str, handler: Handler) -> None:
        """Add ``handler`` for ``object_name`` (or `ANY`)."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        with self._lock:
            self._handlers().setdefault(object_name, []).append(handler)
            self._wanted = {}

    def unsubscribe(self, object_name: str, handler: Handler) -> bool:
        """Remove one registration of ``handler``; return whether it was registered."""
        with self._lock:
            handlers = self._handlers().get(object_name, [])
            if handler in handlers:
                handlers.remove(handler)
                self._wanted = {}
                return True
            return False

    def open_stream(
        self, names: frozenset[str], timeout: float | None, maxsize: int | None = None
    ) -> EventStream:
        """Open an [`EventStream`][bluecurrent_sync.EventStream] for ``names`` (empty = every
        object)."""
        if maxsize is not None and maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        stream = EventStream(names, maxsize or self.queue_size, timeout, self._forget_stream)
        if self._stop.is_set():  # the client is closed: the stream ends at once
            stream.close()
            return stream
        with self._lock:
            self._streams.append(weakref.ref(stream))
            self._wanted = {}
        return stream

    def _handlers(self) -> dict[str, list[Handler]]:
        """The handlers by object name (none once their owner is gone); call with the lock."""
        subscriptions = self._subscriptions()
        return {} if subscriptions is None else subscriptions.by_name

    def _forget_stream(self, stream: EventStream) -> None:
        with self._lock:
            self._streams = [ref for ref in self._streams if ref() not in (None, stream)]
            self._wanted = {}

    def _live_streams(self) -> list[EventStream]:
        """The open streams (call with the lock held)."""
        live = [stream for stream in (ref() for ref in self._streams) if stream is not None]
        if len(live) != len(self._streams):
            self._streams = [weakref.ref(stream) for stream in live]
            self._wanted = {}
        return live

    def wants(self, object_name: str) -> bool:
        """Whether anyone listens for ``object_name`` (frames nobody wants are not queued)."""
        wanted = self._wanted.get(object_name)
        if wanted is not None:
            return wanted
        with self._lock:
            by_name = self._handlers()
            wanted = bool(by_name.get(object_name) or by_name.get(ANY)) or any(
                stream.wants(object_name) for stream in self._live_streams()
            )
            self._wanted[object_name] = wanted
        return wanted

    # -- the thread --------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def publish(self, object_name: str, frame: Mapping[str, Any]) -> None:
        """Queue a frame for subscribers (called by the reader thread; never blocks).

        A `FrameCell` is delivered as its shared model; a plain frame is converted here.
        """
        if self._wanted.get(object_name) is False:  # known unwanted: the common case, at once
            return
        self._enqueue(object_name, frame, None)

    def publish_event(self, object_name: str, event: object) -> None:
        """Queue an already-built event (connection-state events)."""
        self._enqueue(object_name, None, event)

    def _enqueue(self, object_name: str, frame: Mapping[str, Any] | None, event: object) -> None:
        if self._stop.is_set() or not self.wants(object_name):
            return
        self._queue.append((next(self._seq), object_name, frame, event))
        # The dispatcher sets _idle under the condition BEFORE it re-checks the queue, so
        # either it sees this item or we see _idle and wake it.
        if self._idle:
            with self._cond:
                self._cond.notify()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                seq, object_name, frame, event = self._queue.popleft()
            except IndexError:
                with self._cond:
                    self._idle = True
                    self._cond.wait_for(lambda: self._queue or self._stop.is_set())
                    self._idle = False
                continue
            if seq > self._last_seq + 1:
                self._count_dropped(seq - self._last_seq - 1)
            self._last_seq = seq
            self._deliver(object_name, frame, event)

    def _count_dropped(self, count: int) -> None:
        before, self.dropped = self.dropped, self.dropped + count
        if before == 0 or before // 100 != self.dropped // 100:
            logger.warning(
                "event queue full (%d): dropped the oldest events (%d dropped so far); "
                "handlers are too slow",
                self.queue_size,
                self.dropped,
            )

    def _deliver(self, object_name: str, frame: Mapping[str, Any] | None, event: object) -> None:
        if frame is not None:
            try:
                event = frame.model() if isinstance(frame, FrameCell) else self._convert(frame)
            except BlueCurrentError as exc:
                logger.warning(
                    "dropped pushed %s that could not be converted: %s", object_name, exc
                )
                return
            except Exception:
                logger.exception("converter failed on a pushed %s frame", object_name)
                return
        with self._lock:
            by_name = self._handlers()
            handlers = [*by_name.get(object_name, ()), *by_name.get(ANY, ())]
            streams = [s for s in self._live_streams() if s.wants(object_name)]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                logger.exception("event handler %r failed on %s", handler, object_name)
        for stream in streams:
            stream.put(event)

    def _after_fork_in_child(self) -> None:
        """In a forked child: fresh locks, no thread (the parent's did not survive the fork)."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._queue.clear()
        self._thread = None
        self._stop = threading.Event()
        self._stop.set()

    def stop(self, timeout: float) -> None:
        """Stop the thread (queued events are discarded), close every stream, join.

        Safe to call from a handler (the thread is then not joined) and more than once.
        """
        self._stop.set()
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()
        with self._lock:
            streams = self._live_streams()
        for stream in streams:
            stream.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("dispatcher thread did not stop within %.1f s", timeout)
