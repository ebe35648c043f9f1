"""One received frame and its model, converted at most once.

docs/DESIGN.md, "One conversion per frame".

The router wraps each routed frame in a :class:`FrameCell` and hands the same cell to the
mirror, the waiters (through the pending table) and the dispatcher. The first thread that
asks for the model converts the frame, outside every lock but the cell's own; the others get
the very same model object (models are frozen, so sharing one is safe). Making a cell
converts nothing: a frame nobody asks about costs one small object.

A consumer whose converter differs from the object's standard one converts its own: a reply
whose value depends on the request (GET_GRID_STATUS, an action's or a setting's result, a
charge-point list handed to its caller) and the mirror's merge of a partial CH_STATUS push
into the previous status (another frame).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._wire import copy_error
from .errors import BlueCurrentError

__all__ = ["FrameCell", "raw"]

Convert = Callable[[Mapping[str, Any]], Any]


class FrameCell(Mapping[str, Any]):
    """A decoded frame (read as a mapping: routing reads its fields) and its lazy model.

    Args:
        frame: The decoded frame; the cell never changes it.
        convert: The frame's converter (for the router's cells: the object's standard one).
    """

    __slots__ = ("_convert", "_lock", "_outcome", "frame")

    def __init__(self, frame: Mapping[str, Any], convert: Convert) -> None:
        self.frame = frame
        self._convert: Convert | None = convert
        self._lock = threading.Lock()
        # None until converted; then (True, model) or (False, the conversion's error).
        self._outcome: tuple[bool, Any] | None = None

    @property
    def converted(self) -> bool:
        """Whether the frame has been converted (successfully or not)."""
        return self._outcome is not None

    def model(self) -> Any:
        """The frame's model, converted now if nobody has yet (on this thread, once).

        Returns:
            The same object to every caller.

        Raises:
            BlueCurrentError: The conversion failed (ResponseValidationError, or what a
                request's converter raises, ActionFailed): each call raises its own copy,
                never an instance another thread raised too. Any other exception is a bug in
                the converter; it is not kept, so each caller meets its own.
        """
        ok, value = self._settle()
        if not ok:
            raise copy_error(value)
        return value

    def prepare(self) -> None:
        """Convert now, on this thread, unless done already (a failure is kept, not raised)."""
        self._settle()

    def _settle(self) -> tuple[bool, Any]:
        outcome = self._outcome
        if outcome is None:
            with self._lock:
                outcome = self._outcome
                if outcome is None:
                    convert = self._convert
                    assert convert is not None  # dropped only once there is an outcome
                    try:
                        outcome = (True, convert(self.frame))
                    except BlueCurrentError as exc:
                        outcome = (False, exc)
                    self._outcome = outcome
                    self._convert = None  # the converter may hold a request's state
        return outcome

    # -- the frame as a read-only mapping --------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.frame[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.frame.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.frame

    def __iter__(self) -> Iterator[str]:
        return iter(self.frame)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        state = "converted" if self.converted else "not converted"
        return f"<FrameCell {self.frame.get('object')!r} ({state})>"


def raw(frame: Mapping[str, Any]) -> Mapping[str, Any]:
    """The decoded frame itself, whether ``frame`` is a :class:`FrameCell` or already a frame."""
    return frame.frame if isinstance(frame, FrameCell) else frame
