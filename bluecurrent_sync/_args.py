"""Checks of arguments that every public entry point shares (raised before anything is sent)."""

from __future__ import annotations

import math

__all__ = ["require_bool", "require_evse_id", "require_text", "require_timeout"]


def require_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a real ``bool``.

    Raises:
        TypeError: Anything else, ``"off"``, ``"False"``, ``0`` and ``None`` included (a
            truthy string would otherwise switch a setting ON).
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def require_timeout(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds above zero.

    Raises:
        TypeError: Not an int or float (``True``/``False`` included).
        ValueError: Zero, negative, NaN or infinite (every wait must end).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds above 0, got {value!r}")
    return float(value)


def require_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string without surrounding whitespace.

    Raises:
        TypeError: Not a string (``None`` included).
        ValueError: Empty, or with leading/trailing whitespace (never a valid id on the wire).
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise ValueError(f"{name} must be a non-empty string without surrounding spaces: {value!r}")
    return value


def require_evse_id(value: object) -> str:
    """Return ``value`` if it can be a charge point id (for example ``"BCU100186"``).

    Raises:
        TypeError: Not a string.
        ValueError: Empty or with surrounding whitespace.
    """
    return require_text("evse_id", value)
