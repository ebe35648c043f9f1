"""The package's one wall clock: moved by the environment, an option or a call, read everywhere.

The suite itself runs under moved clocks too (``make test`` runs the clock-reading test files
at a summer instant, one minute before midnight in Amsterdam and just after it on the day
daylight saving starts; CI runs the whole suite under two of them): these tests pin the
mechanism those runs rely on.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from bluecurrent_sync import _clock, _usage, _wire
from bluecurrent_sync.errors import RequestLimitReached
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def restore_clock() -> Iterator[None]:
    offset = _clock._Offset.seconds
    yield
    _clock._Offset.seconds = offset


def _child(code: str, instant: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != _clock.ENVIRONMENT}
    if instant is not None:
        env[_clock.ENVIRONMENT] = instant
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.usefixtures("restore_clock")
@pytest.mark.parametrize(
    ("instant", "day", "reset"),
    [
        # Summer time: 23:59 in Amsterdam is 21:59 UTC.
        ("2027-07-15T23:59:00+02:00", "2027-07-15", "2027-07-16T00:00:30+02:00"),
        # 00:00:10 in Amsterdam is still the previous day in UTC; this day's reset is ahead.
        ("2027-01-14T23:00:10+00:00", "2027-01-15", "2027-01-15T00:00:30+01:00"),
        # 00:10 in Amsterdam: this day's reset has passed.
        ("2027-01-14T23:10:00+00:00", "2027-01-15", "2027-01-16T00:00:30+01:00"),
        # The night daylight saving starts (02:00 -> 03:00).
        ("2027-03-28T03:30:00+02:00", "2027-03-28", "2027-03-29T00:00:30+02:00"),
    ],
)
def test_start_at_moves_the_day_and_the_quota_reset(instant: str, day: str, reset: str) -> None:
    _clock.start_at(_clock.parse_instant(instant))
    assert _usage.amsterdam_day() == dt.date.fromisoformat(day)
    assert _wire.next_reset_at() == dt.datetime.fromisoformat(reset)
    error = RequestLimitReached("limit", _wire.next_reset_at())
    assert 0 < error.retry_after <= 24 * 3600 + 30
    assert abs(_clock.now() - dt.datetime.fromisoformat(instant)) < dt.timedelta(minutes=10)
    _clock.start_at(None)
    assert abs(_clock.now() - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=10)


def test_the_environment_variable_moves_a_child_process() -> None:
    code = (
        "from bluecurrent_sync import _clock, _wire\n"
        "print(_clock.now().year, _wire.next_reset_at().isoformat())\n"
    )
    proc = _child(code, "2031-06-01T23:59:30+02:00")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2031", "2031-06-02T00:00:30+02:00"]


@pytest.mark.parametrize("bad", ["tomorrow", "2027-07-15T12:00:00", ""])
def test_a_bad_instant_is_refused_with_the_variable_named(bad: str) -> None:
    with pytest.raises(ValueError, match="BLUECURRENT_SYNC_NOW"):
        _clock.parse_instant(bad)
    if bad:  # an empty variable is the same as none
        proc = _child("import bluecurrent_sync._clock", bad)
        assert proc.returncode != 0 and "BLUECURRENT_SYNC_NOW" in proc.stderr


def test_the_simulator_counts_its_quota_day_by_the_same_clock(restore_clock: None) -> None:
    # 23:59:50 in Amsterdam: the simulator's day and the client's reset time agree.
    _clock.start_at(dt.datetime(2027, 2, 10, 23, 59, 50, tzinfo=AMSTERDAM))
    with Simulator(push_interval=None, quota=2) as sim:
        from bluecurrent_sync.client import Client

        with pytest.raises(RequestLimitReached) as caught:
            Client(DEFAULT_TOKEN, url=sim.url).connect().get_charge_points()
    assert caught.value.reset_at == dt.datetime(2027, 2, 11, 0, 0, 30, tzinfo=AMSTERDAM)
