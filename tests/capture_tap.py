"""A test-only capture writer: a frame tap that writes the shared capture format (JSONL).

Stands in for the client's record mode (``Client(record=...)``, built in parallel) so that
the replay tests have real captures of real client sessions. It writes exactly the format
fixed for both: a header line, then one object per frame or connection event, with both
tokens redacted.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

from bluecurrent_sync._tap import ConnectionKind, Direction

REDACTED = "<redacted>"


class CaptureTap:
    """Write every frame and connection event of one client to ``path``."""

    def __init__(self, path: Path, url: str, secrets: tuple[str, ...]) -> None:
        self._file = path.open("w", encoding="utf-8")
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._secrets = tuple(s for s in secrets if s)
        self._seq: dict[str, int] = {}
        self._write(
            {
                "capture": "bluecurrent_sync",
                "version": 1,
                "started": _now(),
                "url": url,
                "client_version": "test",
            }
        )

    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        line: dict[str, Any] = self._stamp(connection)
        line["dir"] = direction
        try:
            line["frame"] = self._redact(json.loads(text))
        except ValueError:
            line["text"] = self._redact(text)
        self._write(line)

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        with self._lock:
            if event == "opened":
                self._seq[connection] = self._seq.get(connection, 0) + 1
        line = self._stamp(connection)
        line.update(event=event, detail=self._redact(detail))
        self._write(line)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _stamp(self, connection: str) -> dict[str, Any]:
        with self._lock:
            seq = self._seq.get(connection, 1)
        return {
            "t": time.monotonic() - self._start,
            "at": _now(),
            "conn": connection,
            "seq": seq,
        }

    def _redact(self, value: Any, key: str | None = None) -> Any:
        if key in ("Authorization", "token"):
            return REDACTED
        if isinstance(value, dict):
            return {k: self._redact(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact(v) for v in value]
        if isinstance(value, str) and any(secret in value for secret in self._secrets):
            return REDACTED
        return value

    def _write(self, line: dict[str, Any]) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(json.dumps(line) + "\n")
                self._file.flush()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()
