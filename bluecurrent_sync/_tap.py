"""Frame taps: observers of every text frame the client sends or receives.

A tap sees the frames of every connection the client opens (the short token-validation and
account connections as well as the main one), in the order they cross the socket. The
transport calls each tap from the thread that sent or read the frame, so a tap must be quick
and must not raise; the transport logs and ignores a tap that does. Users of taps: the capture
recorder (``Client(record=...)``) and the request accounting (``requests_today``, usage file).

A tap receives the frame exactly as it crossed the wire; redacting secrets is the tap's own
job (a recorder must never write either token).
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from ._log import CONNECTION

__all__ = ["ConnectionKind", "Direction", "FrameTap", "TapSet"]

Direction = Literal["in", "out"]
"""``"out"``: a frame the client sent; ``"in"``: a frame the client received."""

ConnectionKind = Literal["validate", "account", "main"]
"""Which connection the frame crossed: the short token-validation one, the short
GET_ACCOUNT one (``get_email``), or the long-lived main connection."""

_log = logging.getLogger(CONNECTION)


class FrameTap(Protocol):
    """What the transport calls for every text frame.

    A tap whose class sets ``SENT_ONLY = True`` is shown only the frames the client sends.
    """

    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        """One text frame crossed the socket (``text`` is the frame's payload)."""

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        """A connection was ``"opened"`` or ``"closed"`` (``detail``: why, redacted)."""


class TapSet:
    """Several taps behind one: each is called in turn, and one that raises is logged once."""

    __slots__ = ("_failed", "_received", "_taps")

    def __init__(self, taps: tuple[FrameTap, ...] = ()) -> None:
        self._taps: tuple[FrameTap, ...] = ()
        # The taps shown received frames too (not SENT_ONLY): no call per frame to a tap that
        # would ignore it.
        self._received: tuple[FrameTap, ...] = ()
        self._failed: set[int] = set()
        for tap in taps:
            self.add(tap)

    def __bool__(self) -> bool:
        return bool(self._taps)

    def add(self, tap: FrameTap) -> None:
        """Add a tap (done before the client connects)."""
        self._taps = (*self._taps, tap)
        if not getattr(tap, "SENT_ONLY", False):
            self._received = (*self._received, tap)

    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        for tap in self._taps if direction == "out" else self._received:
            try:
                tap.frame(direction, text, connection)
            except Exception:  # a tap must never break the transport
                self._report(tap)

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        for tap in self._taps:
            try:
                tap.connection_event(event, connection, detail)
            except Exception:
                self._report(tap)

    def _report(self, tap: FrameTap) -> None:
        if id(tap) not in self._failed:
            self._failed.add(id(tap))
            _log.exception("frame tap %s failed; it keeps being called", type(tap).__name__)
