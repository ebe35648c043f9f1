"""Deferred imports: a module object that imports the real module on first attribute use.

``import bluecurrent_sync`` should cost no more than what a user touches: ssl (and cattrs) are
needed only once a connection is opened or a frame converted, so the client modules bind them
through `LazyModule` at run time while type checkers see the real import.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

__all__ = ["LazyModule"]


class LazyModule:
    """Stand-in for a module, imported on the first attribute access (thread-safe).

    Each attribute is read from the module once and then kept on the stand-in, so later
    uses cost a plain attribute read (the transport reads ``websocket.ABNF`` per message);
    the names a module binds do not change after it is imported.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def __getattr__(self, attribute: str) -> Any:  # only for names not kept yet
        module = self._module
        if module is None:
            with self._lock:
                module = self._module = importlib.import_module(self._name)
        value = getattr(module, attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<LazyModule {self._name!r} ({state})>"
