"""Record mode: every frame of every connection written to a capture file (JSON lines).

``Client(..., record="capture.jsonl")`` adds a `CaptureRecorder` to the client's frame taps. The
capture is what a user with a real account sends in to settle the protocol's open questions
(``bluecurrent-sync check-capture FILE``, docs/PROTOCOL.md "Capturing a session").

Format (UTF-8, one JSON object per line):

* line 1, the header: ``{"capture": "bluecurrent_sync", "version": 1, "started": <ISO 8601
  UTC>, "url": <server url without userinfo or query>, "client_version": <version>}``;
* a frame: ``{"t": <seconds since the start, monotonic>, "at": <ISO 8601 UTC>, "dir": "out" |
  "in", "conn": "validate" | "account" | "main", "seq": <number of that kind of connection,
  1-based>, "frame": <the parsed frame>}``, or ``"text"`` with the raw text when it is not
  strict JSON (NaN and Infinity are not JSON);
* a connection event: ``{"t", "at", "event": "opened" | "closed", "conn", "seq", "detail"}``.

Both secrets are redacted everywhere: the API token and the server-issued token (learned from
the token validation reply as it passes, whatever its object name, NaN or not, and from the
client, which shares what it accepted). Every string equal to or containing either, and the
value of every ``Authorization``/``token`` key, becomes ``"<redacted>"``; so does a raw
``text`` that contains either. The recorder is thread-safe and flushes every line.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from . import _clock
from ._log import CONNECTION
from ._redact import REDACTED, Redactor
from ._tap import ConnectionKind, Direction

__all__ = ["CAPTURE_FORMAT", "CAPTURE_VERSION", "REDACTED", "CaptureRecorder"]

logger = logging.getLogger(CONNECTION)

CAPTURE_FORMAT = "bluecurrent_sync"
CAPTURE_VERSION = 1


def _now_iso() -> str:
    return _clock.now().isoformat()


def _public_url(url: str) -> str:
    """``url`` without userinfo, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("bluecurrent-sync")
    except Exception:  # not installed (a source checkout)
        return "unknown"


class CaptureRecorder:
    """A frame tap that writes the capture format (see the module docstring).

    Args:
        target: A path or a writable text file object (flushed after every line, never
            closed by the recorder). A path is created new, mode 0600 (the capture holds
            the account's e-mail, customer id, address and card uids): anything already at
            the path (a file, a symbolic link, dangling or not, a FIFO) is refused, never
            overwritten, followed or opened.
        url: The server URL (written without userinfo and query).
        api_token: The user's API token, to redact.
        redactor: The client's redactor (it knows every server-issued token the client
            accepted), consulted besides the recorder's own; the recorder never teaches
            it (the client must read the token reply unredacted).

    Raises:
        FileExistsError: Something is at the path already (choose another name).
        OSError: The path cannot be created.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str],
        *,
        url: str,
        api_token: str,
        redactor: Redactor | None = None,
    ) -> None:
        self._lock = threading.Lock()
        if isinstance(target, (str, os.PathLike)):
            self._file: IO[str] = _create(target)
            self._owns_file = True
        else:
            self._file = target
            self._owns_file = False
        self._redactor = Redactor(api_token)  # learns from the validation reply
        self._accepted = redactor  # what the client accepted (learned after our tap ran)
        self._seq: dict[str, int] = {}
        self._started = time.monotonic()
        self._closed = False
        self._write(
            {
                "capture": CAPTURE_FORMAT,
                "version": CAPTURE_VERSION,
                "started": _now_iso(),
                "url": _public_url(url),
                "client_version": _package_version(),
            }
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<CaptureRecorder {state}>"

    def _after_fork_in_child(self) -> None:
        """In a forked child (see ``_fork.py``): a fresh lock, and nothing more written (the
        capture belongs to the parent; the child's client refuses every call)."""
        self._lock = threading.Lock()
        self._closed = True

    # -- the FrameTap interface --------------------------------------------------------
    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        """Record one text frame (called by the transport on its own threads)."""
        if direction == "in" and connection == "validate":
            # The token reply, whatever it is named and even with NaN in it: the client
            # takes the token from any reply on this connection, so learn it from any.
            # One frame per connect: parsed whole (a key spelled with escapes included).
            try:
                reply = json.loads(text)
            except (ValueError, RecursionError):
                reply = None
            with self._lock:
                self._redactor.learn_from(reply)
        strict = True
        try:
            parsed = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            strict = False
            parsed = None
        scrub = self._scrub
        with self._lock:
            seq = max(1, self._seq.get(connection, 0))
            record: dict[str, Any] = self._stamp()
            record.update(dir=direction, conn=connection, seq=seq)
            if strict:
                record["frame"] = scrub(parsed)
            else:
                record["text"] = scrub(text)
            self._write_locked(record)

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        """Record a connection opening or closing."""
        with self._lock:
            if event == "opened":
                self._seq[connection] = self._seq.get(connection, 0) + 1
            record = self._stamp()
            record.update(
                event=event,
                conn=connection,
                seq=max(1, self._seq.get(connection, 0)),
                detail=self._scrub(detail),
            )
            self._write_locked(record)

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Flush and (for a path) close the file; later frames are ignored. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._file.flush()
                if self._owns_file:
                    self._file.close()
            except (OSError, ValueError):
                logger.warning("could not close the capture file")

    # -- helpers -----------------------------------------------------------------------
    def _scrub(self, value: Any) -> Any:
        """``value`` with every string holding a secret replaced whole (both redactors)."""
        value = self._redactor.scrub_value(value, whole=True)
        if self._accepted is not None:
            value = self._accepted.scrub_value(value, whole=True)
        return value

    def _stamp(self) -> dict[str, Any]:
        return {"t": round(time.monotonic() - self._started, 6), "at": _now_iso()}

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._write_locked(record)

    def _write_locked(self, record: dict[str, Any]) -> None:
        if self._closed:
            return
        try:
            self._file.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
            self._file.flush()
        except (OSError, ValueError) as exc:
            # A full disk must not break the client: stop recording, say so once.
            self._closed = True
            logger.error("capture recording stopped: %s", type(exc).__name__)


def _create(path: str | os.PathLike[str]) -> IO[str]:
    """A new file at ``path``, mode 0600, opened for writing text (see CaptureRecorder)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o600)  # O_EXCL: never an existing name, links included
    except FileExistsError as exc:
        raise FileExistsError(
            errno.EEXIST,
            "the capture file already exists (a capture is never overwritten: choose a "
            "new name, or move the old capture away)",
            os.fspath(path),
        ) from exc
    try:
        return open(fd, "w", encoding="utf-8")  # closed by CaptureRecorder.close()
    except BaseException:
        os.close(fd)
        raise


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
