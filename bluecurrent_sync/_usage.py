"""Request accounting: how many requests were sent today, here and across processes.

The server counts every frame a client sends, on every connection (token validation, GET_ACCOUNT and
the main connection alike), against a daily quota that resets at midnight Europe/Amsterdam.
`RequestMeter` is a frame tap (see ``_tap.py``) that counts exactly those frames, per Amsterdam
calendar day.

Usage file (``Client(usage_file=PATH)``): a small JSON file that several processes add their
requests to, e.g. cron runs of the same script:

```json
{"format": "bluecurrent_sync.usage", "version": 1, "day": "2026-11-29", "requests": 17}
```

Every change is a read-modify-write under an exclusive lock (``fcntl.flock`` on POSIX,
``msvcrt.locking`` on Windows), so concurrent processes never lose a count. On POSIX the
new content is written to a temporary file in the same directory (``.<name>.tmp``, with
the file's mode, flushed to disk) and renamed over the file while the lock is held, so a
process killed at any moment (or a full disk) leaves the old count or the new one, never
an empty or partial file; a process that waited for the lock of the replaced file notices
(another inode now has the name) and takes the lock of the new one. (Windows cannot rename
over a file another process has open: there the file is rewritten in place.) A file of an
earlier day counts as zero (and is rewritten for today on the next request). An empty file
counts as zero. A file that is not a usage file (not JSON, or without the ``format``
marker) is never overwritten, and neither is anything at the path that is not a regular
file (a symbolic link, dangling or not, a FIFO, a directory, a device): every use raises
[`UsageFileError`][bluecurrent_sync.errors.UsageFileError] naming the file; delete it to start
afresh. The directory must be writable (for the temporary file).

Budget (``Client(daily_budget=N)``): before the client sends a frame of its own (connect, each
request, get_email) the meter reserves it, atomically with the check, in the usage file when one is
given (so N bounds the total of every process sharing the file). A frame that would pass N is not
sent: [`DailyBudgetExceeded`][bluecurrent_sync.errors.DailyBudgetExceeded]. The frames of an
automatic reconnect are counted but not refused (``reconnect=False`` for a hard cap).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from . import _clock
from ._log import CONNECTION
from ._tap import ConnectionKind, Direction
from ._wire import AMSTERDAM
from .errors import DailyBudgetExceeded, UsageFileError
from .models._base import ModelBase

__all__ = [
    "DailyUsage",
    "RequestMeter",
    "UsageFile",
    "amsterdam_day",
    "next_midnight",
]

logger = logging.getLogger(CONNECTION)

FORMAT = "bluecurrent_sync.usage"
VERSION = 1
#: A usage file is a few dozen bytes; anything much larger is not one.
_MAX_FILE_BYTES = 64 * 1024

Clock = Callable[[], _dt.datetime]


def _now() -> _dt.datetime:
    return _clock.now()


def amsterdam_day(moment: _dt.datetime | None = None) -> _dt.date:
    """The calendar day in Europe/Amsterdam at ``moment`` (default: now)."""
    return (moment or _now()).astimezone(AMSTERDAM).date()


def next_midnight(moment: _dt.datetime | None = None) -> _dt.datetime:
    """The next 00:00 Europe/Amsterdam after ``moment`` (default: now), as an aware datetime."""
    tomorrow = amsterdam_day(moment) + _dt.timedelta(days=1)
    return _dt.datetime.combine(tomorrow, _dt.time(0, 0), tzinfo=AMSTERDAM)


@attrs.frozen
class DailyUsage(ModelBase):
    """The requests of one Amsterdam day.

    Attributes:
        day: The day (Europe/Amsterdam).
        this_client: Requests this client sent that day.
        total: Requests of every process sharing the usage file (``this_client`` without one).
        budget: The client's ``daily_budget``, or None.
    """

    day: _dt.date
    this_client: int
    total: int
    budget: int | None

    @property
    def remaining(self) -> int | None:
        """Requests left in the budget (None without a budget)."""
        return None if self.budget is None else max(0, self.budget - self.total)


class UsageFile:
    """A usage file shared by several processes (see the module docstring).

    Args:
        path: The file (``~`` is expanded); created (mode 0600) on first use; its
            directory must exist.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"UsageFile({str(self.path)!r})"

    def read(self, day: _dt.date) -> int:
        """The requests counted for ``day`` (0 if the file is missing, empty or older).

        Raises:
            UsageFileError: The file exists but is not a usage file, or cannot be read.
        """
        try:
            with self._locked(create=False) as fd:
                return self._count_for(self._load(fd), day)
        except FileNotFoundError:
            return 0

    def add(self, count: int, day: _dt.date, budget: int | None = None) -> int:
        """Add ``count`` (may be negative: a refund) to ``day``; return the new total.

        With ``budget``, nothing is added when the total would pass it.

        Raises:
            DailyBudgetExceeded: With ``budget``, the total would pass it.
            UsageFileError: The file is not a usage file, or cannot be written.
        """
        with self._locked(create=True) as fd:
            total = self._count_for(self._load(fd), day)
            if budget is not None and count > 0 and total + count > budget:
                raise _budget_error(budget, total, day)
            total = max(0, total + count)
            text = json.dumps(
                {"format": FORMAT, "version": VERSION, "day": day.isoformat(), "requests": total}
            )
            try:
                self._store(fd, (text + "\n").encode())
            except OSError as exc:
                raise UsageFileError(f"cannot write the usage file {self.path}: {exc}") from exc
            return total

    # -- internals ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, *, create: bool) -> Iterator[int]:
        """The file's descriptor, locked; a regular file, and the one the path names now."""
        while True:
            fd = self._open(create=create)
            try:
                _lock(fd)
            except BaseException:
                os.close(fd)
                raise
            try:
                current = _same_file(fd, self.path)
                if current:
                    yield fd
                    return
            finally:
                _unlock(fd)
                os.close(fd)
            # Another process renamed a new file over the one we waited for: lock that one.

    def _open(self, *, create: bool) -> int:
        flags = os.O_RDWR | _NOFOLLOW | _NONBLOCK | _CLOEXEC | getattr(os, "O_BINARY", 0)
        if create:
            flags |= os.O_CREAT
        if _NOFOLLOW == 0 and os.path.islink(self.path):  # pragma: no cover - Windows
            raise self._not_regular("a symbolic link")
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            if os.path.islink(self.path):  # O_NOFOLLOW refused it (ELOOP), dangling or not
                raise self._not_regular("a symbolic link") from exc
            if not isinstance(exc, FileNotFoundError):
                raise UsageFileError(f"cannot open the usage file {self.path}: {exc}") from exc
            if not create:
                raise
            raise UsageFileError(
                f"cannot create the usage file {self.path}: its directory does not exist"
            ) from exc
        try:
            mode = os.fstat(fd).st_mode
        except OSError as exc:  # pragma: no cover - fstat of an open descriptor
            os.close(fd)
            raise UsageFileError(f"cannot open the usage file {self.path}: {exc}") from exc
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise self._not_regular(_kind_of(mode))
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return fd

    def _not_regular(self, what: str) -> UsageFileError:
        return UsageFileError(
            f"{self.path} is {what}, not a regular file; a usage file must be a plain file "
            "(it was left untouched). Point usage_file at another path."
        )

    def _store(self, fd: int, data: bytes) -> None:
        """Replace the content: a new file renamed over the old one (in place on Windows)."""
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            _write_all(fd, data)
            return
        # One fixed name: only the lock holder writes it, and a process killed mid-update
        # leaves at most this one file, which the next update reuses.
        tmp_name = self.path.with_name(f".{self.path.name}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _NONBLOCK | _CLOEXEC
        tmp_fd = os.open(tmp_name, flags, 0o600)
        try:
            try:
                if not stat.S_ISREG(os.fstat(tmp_fd).st_mode):
                    raise OSError(f"{tmp_name} is not a regular file")
                os.fchmod(tmp_fd, stat.S_IMODE(os.fstat(fd).st_mode))  # keep the file's mode
                _write_all(tmp_fd, data)
                os.fsync(tmp_fd)
            finally:
                os.close(tmp_fd)
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        _sync_directory(self.path.parent)

    def _load(self, fd: int) -> dict[str, Any] | None:
        os.lseek(fd, 0, os.SEEK_SET)
        data = b""
        while len(data) <= _MAX_FILE_BYTES:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
        if not data.strip():
            return None  # new, or emptied: nothing counted yet
        try:
            content = json.loads(data.decode("utf-8")) if len(data) <= _MAX_FILE_BYTES else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            content = None
        if (
            not isinstance(content, dict)
            or content.get("format") != FORMAT
            or not isinstance(content.get("day"), str)
            or not isinstance(content.get("requests"), int)
            or isinstance(content.get("requests"), bool)
        ):
            raise UsageFileError(
                f"{self.path} is not a bluecurrent_sync usage file (or it is damaged); "
                "it was left untouched. Point usage_file at another path, or delete it "
                "to start counting afresh."
            )
        return content

    @staticmethod
    def _count_for(content: dict[str, Any] | None, day: _dt.date) -> int:
        if content is None or content["day"] != day.isoformat():
            return 0
        return max(0, int(content["requests"]))


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO at the path must not block open()
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` (not followed) still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "of another kind"  # pragma: no cover - every other kind is named above


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (a short write is retried; a full disk raises OSError)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: not every file system can sync a directory)."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:  # LK_LOCK retries for ~10 s, then raises; keep waiting like flock does
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _budget_error(budget: int, used: int, day: _dt.date) -> DailyBudgetExceeded:
    reset_at = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time(0), tzinfo=AMSTERDAM)
    return DailyBudgetExceeded(budget, used, reset_at)


class RequestMeter:
    """The frame tap that counts sent frames per Amsterdam day (and guards the budget).

    Args:
        usage_file: Path of a usage file shared with other processes, or None.
        budget: The daily budget, or None.
        clock: The current time (aware); for tests.
    """

    #: A `TapSet` shows it only the frames the client sends (it counts nothing else).
    SENT_ONLY = True

    def __init__(
        self,
        usage_file: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        *,
        clock: Clock = _now,
    ) -> None:
        if budget is not None and (
            not isinstance(budget, int) or isinstance(budget, bool) or budget < 0
        ):
            raise ValueError("daily_budget must be a whole number >= 0 (or None)")
        self.file = UsageFile(usage_file) if usage_file is not None else None
        self.budget = budget
        self._clock = clock
        self._lock = threading.Lock()
        self._day = amsterdam_day(clock())
        # The day and the instants it starts and ends, one tuple read at once (a cache: the
        # day is recomputed only when the clock leaves it, not per frame).
        self._today = _day_bounds(self._day)
        self._count = 0
        self._local = threading.local()  # frames this thread reserved and has yet to send
        self._file_failed = False
        self._file_checked = False

    def _after_fork_in_child(self) -> None:
        """In a forked child (see ``_fork.py``): a fresh lock (a parent thread may have held
        it at the fork)."""
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- the tap -----------------------------------------------------------------------
    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        """Count a sent frame (a frame this thread reserved was counted already)."""
        if direction != "out":
            return
        reserved = getattr(self._local, "reserved", 0)
        if reserved > 0:
            self._local.reserved = reserved - 1
            return
        day = self._roll()
        with self._lock:
            self._count += 1
        if self.file is not None:
            try:
                self.file.add(1, day)
            except Exception as exc:  # a tap must not raise; the in-memory count stays right
                if not self._file_failed:
                    self._file_failed = True
                    logger.error("request not added to the usage file: %s", exc)

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        """Connections cost nothing; only frames do."""

    # -- the client's side -------------------------------------------------------------
    @contextlib.contextmanager
    def admitting(self, count: int) -> Iterator[None]:
        """Reserve ``count`` frames for the block that sends them; refund what it did not send.

        Raises:
            DailyBudgetExceeded: The frames would pass the budget (nothing is reserved).
            UsageFileError: The usage file is not usable.
        """
        self.admit(count)
        try:
            yield
        finally:
            self.settle()

    def admit(self, count: int) -> None:
        """Reserve ``count`` frames about to be sent by this thread (see `admitting()`).

        Without a budget this only checks, once, that the usage file is usable; the tap
        counts.

        Raises:
            DailyBudgetExceeded: The frames would pass the budget (nothing is reserved).
            UsageFileError: The usage file is not usable.
        """
        if self.budget is None:  # nothing to check per frame (the tap rolls the day as it counts)
            if self.file is not None and not self._file_checked:
                self.file.add(0, self._roll())  # usable and writable? (raises before a send)
                self._file_checked = True
            return
        day = self._roll()
        with self._lock:
            if self.file is not None:
                self.file.add(count, day, self.budget)
            elif self._count + count > self.budget:
                raise _budget_error(self.budget, self._count, day)
            self._count += count
        self._local.reserved = getattr(self._local, "reserved", 0) + count

    def settle(self) -> None:
        """Refund the frames this thread reserved but did not send."""
        unsent = getattr(self._local, "reserved", 0)
        if unsent <= 0:
            return
        self._local.reserved = 0
        day = self._roll()
        with self._lock:
            self._count = max(0, self._count - unsent)
            if self.file is not None:
                try:
                    self.file.add(-unsent, day)
                except Exception as exc:
                    logger.error("unsent requests not refunded in the usage file: %s", exc)

    @property
    def requests_today(self) -> int:
        """Frames this client sent since 00:00 Europe/Amsterdam."""
        self._roll()
        with self._lock:
            return self._count

    def usage(self) -> DailyUsage:
        """Today's usage of this client and, with a usage file, of every process.

        Raises:
            UsageFileError: The usage file is not usable.
        """
        day = self._roll()
        with self._lock:
            mine = self._count
        total = self.file.read(day) if self.file is not None else mine
        return DailyUsage(day=day, this_client=mine, total=total, budget=self.budget)

    def _roll(self) -> _dt.date:
        """Today's Amsterdam day; a new day starts the count again."""
        cached, start, end = self._today
        # The package's clock in seconds (no datetime made per frame); an injected one's.
        now = _clock.time() if self._clock is _now else self._clock().timestamp()
        if start <= now < end:
            return cached  # no time-zone arithmetic per frame
        day = amsterdam_day(self._clock())
        with self._lock:
            if day != self._day:
                self._day = day
                self._count = 0
            self._today = _day_bounds(day)
        return day


def _day_bounds(day: _dt.date) -> tuple[_dt.date, float, float]:
    """``day`` and the instants (seconds since the epoch) it starts and the next day starts:
    00:00 Europe/Amsterdam."""
    start = _dt.datetime.combine(day, _dt.time(0, 0), tzinfo=AMSTERDAM)
    end = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time(0, 0), tzinfo=AMSTERDAM)
    return day, start.timestamp(), end.timestamp()
