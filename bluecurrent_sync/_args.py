"""Checks of arguments that every public entry point shares (raised before anything is sent)."""

from __future__ import annotations

import argparse
import math
import os
from typing import NoReturn

__all__ = [
    "OneLineParser",
    "require_age",
    "require_bool",
    "require_delay_range",
    "require_evse_id",
    "require_factor",
    "require_int",
    "require_optional_timeout",
    "require_path",
    "require_port",
    "require_text",
    "require_timeout",
    "require_wait",
]


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


def require_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``.

    Raises:
        TypeError: Not an int (``True``/``False``, floats and strings included).
        ValueError: Below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return value


def require_factor(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number above zero (a speed, a scale).

    Raises:
        TypeError: Not an int or float (``True``/``False`` included).
        ValueError: Zero, negative, NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}")
    return float(value)


def require_optional_timeout(name: str, value: object) -> float | None:
    """``None``, or ``value`` checked as by `require_timeout()`."""
    return None if value is None else require_timeout(name, value)


def require_age(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a number of seconds of at least zero.

    Infinity is allowed (any age); NaN is not.

    Raises:
        TypeError: Not an int or float (``True``/``False`` included).
        ValueError: Negative or NaN.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds of at least 0, got {value!r}")
    return float(value)


def require_wait(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds of at least zero.

    Zero means "do not wait" (look once); every other wait ends too.

    Raises:
        TypeError: Not an int or float (``True``/``False`` included).
        ValueError: Negative, NaN or infinite.
    """
    seconds = require_age(name, value)
    if math.isinf(seconds):
        raise ValueError(f"{name} must be a finite number of seconds (every wait ends)")
    return seconds


def require_delay_range(name: str, value: object) -> tuple[float, float]:
    """Return ``value`` if it is an ``(initial, maximum)`` pair of seconds, initial <= maximum.

    Raises:
        TypeError: Not a tuple or list of two numbers.
        ValueError: A number that is not finite and above 0, or initial above maximum.
    """
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(
            f"{name} must be a pair (initial, maximum) of seconds, got {type(value).__name__} "
            f"{value!r}"
        )
    initial = require_timeout(f"{name}[0] (initial)", value[0])
    maximum = require_timeout(f"{name}[1] (maximum)", value[1])
    if initial > maximum:
        raise ValueError(f"{name}: the initial delay {initial!r} is above the maximum {maximum!r}")
    return initial, maximum


def require_port(name: str, value: object) -> int:
    """Return ``value`` if it is a TCP port number, 0 (any free port) to 65535.

    Raises:
        TypeError: Not an int.
        ValueError: Outside 0-65535.
    """
    port = require_int(name, value, minimum=0)
    if port > 65535:
        raise ValueError(f"{name} must be a port number from 0 to 65535, got {port!r}")
    return port


def require_path(name: str, value: object) -> str | os.PathLike[str]:
    """Return ``value`` if it is a non-empty path (``str`` or `os.PathLike`).

    Raises:
        TypeError: Neither a string nor a path.
        ValueError: An empty string.
    """
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__}")
    if isinstance(value, str) and not value:
        raise ValueError(f"{name} must not be empty")
    return value


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: ``prog: error: ... (see --help)``.

    Its subcommand parsers are of the same class (argparse makes them with the parent's).
    """

    def error(self, message: str) -> NoReturn:
        """Print the one line to stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
