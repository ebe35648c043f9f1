"""What to install for an optional part of the package, said in one place.

The simulator (and with it the demo and the pytest fixtures) needs the ``simulator`` extra, which
brings ``websockets``. Importing `bluecurrent_sync.simulator` without it raises
`ModuleNotFoundError` (``name="websockets"``) with the install command; ``python -m
bluecurrent_sync.simulator`` prints that command and exits with status 2.
"""

from __future__ import annotations

import sys

__all__ = ["SIMULATOR_HINT", "require_simulator_extra"]

#: bluecurrent-sync is not on the package index: the extra is installed from a clone.
SIMULATOR_HINT = (
    "the 'simulator' extra is not installed (no module named 'websockets'): "
    "in a clone of the repository, pip install '.[simulator]'"
)


def require_simulator_extra(module: str) -> None:
    """Fail clearly unless ``websockets`` can be imported.

    Args:
        module: The importing module's name (``python -m <module>`` gets a one-line message
            and exit status 2 instead of a traceback).

    Raises:
        ModuleNotFoundError: ``websockets`` is missing (the message says what to install).
    """
    try:
        import websockets  # noqa: F401 - only whether it can be imported
    except ImportError:
        pass
    else:
        return
    if _run_as_main(module):
        sys.stderr.write(f"python -m {module}: error: {SIMULATOR_HINT}\n")
        raise SystemExit(2)
    raise ModuleNotFoundError(f"{module}: {SIMULATOR_HINT}", name="websockets")


def _run_as_main(module: str) -> bool:
    # While ``python -m pkg`` imports the package, sys.argv[0] is "-m" (see runpy);
    # sys.orig_argv (3.10+) says which module was asked for.
    if sys.argv[:1] != ["-m"]:
        return False
    argv = getattr(sys, "orig_argv", [])
    return any(arg in (module, f"-m{module}") for arg in argv)
