"""Start a server in its own process and read its URL from the first stdout line."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Sequence
from typing import IO


class ServerProcess:
    """A server subprocess (``python -m <module> <args>``); stopped by closing its stdin.

    Attributes:
        url: The ``ws://`` URL printed on the first stdout line.
    """

    def __init__(self, module: str, args: Sequence[str] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._out: IO[str] = self.proc.stdout
        self._in: IO[str] = self.proc.stdin
        self.url = self._out.readline().strip()
        if not self.url.startswith("ws://"):
            self.stop()
            raise RuntimeError(f"{module} did not print its URL (got {self.url!r})")

    def command(self, line: str) -> str:
        """Send one control line on stdin and return the answer line."""
        self._in.write(line + "\n")
        self._in.flush()
        return self._out.readline().strip()

    def stop(self) -> None:
        """Stop the process (EOF on stdin, then SIGTERM, then SIGKILL)."""
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
