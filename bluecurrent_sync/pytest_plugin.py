"""pytest fixtures for testing code that uses bluecurrent_sync, against the local simulator.

Installed with the package (entry point ``pytest11``), so the fixtures are available in
every test without an import:

``bluecurrent_simulator``
    A running [`Simulator`][bluecurrent_sync.simulator.Simulator] on 127.0.0.1 (a free port), with
    fast pushes and actions ([`FAST_OPTIONS`][bluecurrent_sync.pytest_plugin.FAST_OPTIONS]); stopped
    after the test. Other options go in a marker:

    ```python
    @pytest.mark.bluecurrent_simulator(quota=5, push_interval=0.05)
    def test_quota(bluecurrent_client): ...
    ```

    A capture of your own account (``Client(record=...)``) replays with ``replay=``; a relative path
    is taken from the test file's directory:

    ```python
    @pytest.mark.bluecurrent_simulator(replay="captures/home.jsonl", replay_speed=10)
    def test_my_script(bluecurrent_client): ...
    ```

``bluecurrent_client``
    A connected [`Client`][bluecurrent_sync.Client] to that simulator, using the simulator's
    ``DEFAULT_TOKEN``; closed after the test.

``bluecurrent_client_factory``
    ``make(token=None, *, connect=True, **client_options) -> Client``: more clients to the
    same simulator (another token, other timeouts, a second connection, or an unconnected
    one); all are closed after the test.

``--bluecurrent-now INSTANT``
    Runs the tests with the package's wall clock moved (``bluecurrent_sync._clock``): every test
    starts at ``INSTANT``, an ISO 8601 instant with its UTC offset, and the clock runs on from there
    at the real pace. The quota reset, the Amsterdam day of the usage count, the live mirror's
    receive times and the simulator's day all follow it. Child processes get it through the
    ``BLUECURRENT_SYNC_NOW`` environment variable, which the option sets (and which, set on its own,
    has the same effect):

    ```console
    pytest --bluecurrent-now 2027-07-15T23:59:00+02:00
    ```

The simulator needs the ``simulator`` extra (``pip install '.[simulator]'`` from a clone);
without it the tests that use these fixtures are skipped, and pytest itself still works:
this module imports neither the client nor the simulator until a fixture runs.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from types import ModuleType

    from bluecurrent_sync.client import Client
    from bluecurrent_sync.simulator import Simulator

__all__ = [
    "FAST_OPTIONS",
    "bluecurrent_client",
    "bluecurrent_client_factory",
    "bluecurrent_simulator",
]

#: Simulator options the fixture uses unless a ``bluecurrent_simulator`` marker overrides them.
FAST_OPTIONS: dict[str, Any] = {"push_interval": 0.1, "action_delay": 0.02}

_MARKER = "bluecurrent_simulator"
_NOW_OPTION = "--bluecurrent-now"
_NOW_VARIABLE = "BLUECURRENT_SYNC_NOW"  # bluecurrent_sync._clock.ENVIRONMENT (not imported here)
_START = pytest.StashKey[_dt.datetime]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--bluecurrent-now``."""
    parser.addoption(
        _NOW_OPTION,
        metavar="INSTANT",
        default=None,
        help="start every test with bluecurrent_sync's wall clock at INSTANT "
        "(ISO 8601 with its UTC offset, e.g. 2027-07-15T23:59:00+02:00)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (for ``--strict-markers``) and move the clock if asked to."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): Simulator options for the bluecurrent_simulator fixture "
        "(push_interval, action_delay, seed, quota, single_connection, ...)",
    )
    text = config.getoption(_NOW_OPTION) or os.environ.get(_NOW_VARIABLE)
    if not text:
        return
    from bluecurrent_sync import _clock

    source = _NOW_OPTION if config.getoption(_NOW_OPTION) else _NOW_VARIABLE
    try:
        instant = _clock.parse_instant(text, source=source)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    os.environ[_clock.ENVIRONMENT] = text  # child processes start there too
    config.stash[_START] = instant
    _clock.start_at(instant)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say when the clock is moved, so a failing run's log shows it."""
    instant = config.stash.get(_START, None)
    return None if instant is None else f"bluecurrent_sync clock: every test starts at {instant}"


@pytest.fixture(autouse=True)
def _bluecurrent_clock(request: pytest.FixtureRequest) -> None:
    """With ``--bluecurrent-now``: start each test's clock at the instant."""
    instant = request.config.stash.get(_START, None)
    if instant is not None:
        from bluecurrent_sync import _clock

        _clock.start_at(instant)


def _simulator_module() -> ModuleType:
    try:
        from bluecurrent_sync import simulator
    except ImportError as exc:
        if not (exc.name or "").startswith("websockets"):
            raise  # a real bug, not a missing extra
        from bluecurrent_sync._extras import SIMULATOR_HINT

        pytest.skip(f"the bluecurrent_simulator fixture cannot run: {SIMULATOR_HINT}")
    return simulator


@pytest.fixture
def bluecurrent_simulator(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A running simulator on 127.0.0.1 (free port), fast; options from the marker."""
    module = _simulator_module()
    options = dict(FAST_OPTIONS)
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        options.update(marker.kwargs)
    replay = options.get("replay")
    if replay is not None and not Path(replay).is_absolute():
        options["replay"] = Path(request.node.path).parent / replay
    with module.Simulator(**options) as simulator:
        yield simulator


@pytest.fixture
def bluecurrent_client_factory(
    bluecurrent_simulator: Simulator,
) -> Iterator[Callable[..., Client]]:
    """Make clients to the fixture's simulator: ``make(token=None, *, connect=True, **opts)``."""
    from bluecurrent_sync.client import Client
    from bluecurrent_sync.simulator import DEFAULT_TOKEN

    made: list[Client] = []

    def make(token: str | None = None, *, connect: bool = True, **options: Any) -> Client:
        options.setdefault("url", bluecurrent_simulator.url)
        client = Client(DEFAULT_TOKEN if token is None else token, **options)
        made.append(client)
        return client.connect() if connect else client

    yield make
    for client in reversed(made):
        client.close()


@pytest.fixture
def bluecurrent_client(bluecurrent_client_factory: Callable[..., Client]) -> Client:
    """A client connected to the fixture's simulator; closed after the test."""
    return bluecurrent_client_factory()
