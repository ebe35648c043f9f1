"""The pytest plugin: its fixtures in a user's test suite (pytester) and used directly here."""

from __future__ import annotations

import importlib.metadata

import pytest

from bluecurrent_sync import pytest_plugin
from bluecurrent_sync.client import Client
from bluecurrent_sync.models import Activity
from bluecurrent_sync.simulator import Simulator

pytest_plugins = ["pytester"]

# Used directly in this module, whether or not the pytest11 entry point is installed.
bluecurrent_simulator = pytest_plugin.bluecurrent_simulator
bluecurrent_client_factory = pytest_plugin.bluecurrent_client_factory
bluecurrent_client = pytest_plugin.bluecurrent_client


def _entry_point_installed() -> bool:
    return any(
        ep.value == "bluecurrent_sync.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


# Load the plugin in the inner pytest runs the way an installed package does: through the
# pytest11 entry point when it is installed, else explicitly (registering it twice fails).
PLUGIN_ARGS = () if _entry_point_installed() else ("-p", "bluecurrent_sync.pytest_plugin")

USER_TESTS = """
import threading

import pytest

from bluecurrent_sync.models import Activity


def test_client_talks_to_the_simulator(bluecurrent_client, bluecurrent_simulator):
    points = bluecurrent_client.get_charge_points()
    assert {p.evse_id for p in points} == {"BCU100001", "BCU100002", "BCU100003", "BCU100004"}
    assert bluecurrent_client.get_status("BCU100001").activity == Activity.CHARGING
    assert bluecurrent_simulator.count("GET_CHARGE_POINTS") == 1


def test_fast_pushes_by_default(bluecurrent_client):
    statuses = bluecurrent_client.events("CH_STATUS", timeout=5)
    assert next(iter(statuses)).evse_id == "BCU100001"


@pytest.mark.bluecurrent_simulator(push_interval=None, quota=3)
def test_marker_sets_simulator_options(bluecurrent_simulator):
    assert bluecurrent_simulator.push_interval is None
    assert bluecurrent_simulator.quota == 3


def test_factory_makes_more_clients(bluecurrent_client_factory, bluecurrent_simulator):
    first = bluecurrent_client_factory()
    second = bluecurrent_client_factory(timeout=5.0)
    assert first.customer_id == second.customer_id
    main_connections = [c for c in bluecurrent_simulator.connections() if c.hello and c.open]
    assert len(main_connections) == 2
    later = bluecurrent_client_factory(connect=False)
    assert not later.connected


def test_everything_was_closed_after_the_earlier_tests():
    left = [t.name for t in threading.enumerate() if t.name.startswith("bluecurrent-sync")]
    assert left == []
"""


def test_fixtures_in_a_user_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "--strict-markers", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=5)


def test_missing_simulator_extra_skips_with_a_clear_message(pytester: pytest.Pytester) -> None:
    # Make `import websockets` fail in the inner run, as it does without the extra.
    pytester.makeconftest("import sys\n\nsys.modules['websockets'] = None\n")
    pytester.makepyfile(
        test_user="""
        def test_needs_the_simulator(bluecurrent_client):
            raise AssertionError("not reached")

        def test_without_fixtures_still_runs():
            assert True
        """
    )
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*'simulator' extra is not installed*pip install*"])


def test_bluecurrent_now_starts_every_test_at_the_instant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import datetime as dt
        import os
        import subprocess
        import sys

        from bluecurrent_sync import _clock

        def test_first():
            assert _clock.now().isoformat().startswith("2031-06-01T21:59")
            _clock.start_at(dt.datetime(2040, 1, 1, tzinfo=dt.timezone.utc))

        def test_second_starts_again_and_children_follow():
            assert _clock.now().year == 2031
            code = "from bluecurrent_sync import _clock; print(_clock.now().year)"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert out.stdout.strip() == "2031", out.stderr
        """
    )
    instant = "2031-06-01T23:59:00+02:00"
    result = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "-p", "no:cacheprovider", f"--bluecurrent-now={instant}"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*bluecurrent_sync clock: every test starts at 2031-06-01*"])
    refused = pytester.runpytest_subprocess(
        *PLUGIN_ARGS, "-p", "no:cacheprovider", "--bluecurrent-now=tomorrow"
    )
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--bluecurrent-now must be an ISO 8601 instant*"])


# ------------------------------------------------------------------ direct use


def test_direct_use_of_the_fixtures(
    bluecurrent_simulator: Simulator, bluecurrent_client: Client
) -> None:
    assert bluecurrent_client.connected
    assert bluecurrent_simulator.push_interval == pytest_plugin.FAST_OPTIONS["push_interval"]
    result = bluecurrent_client.start_session("BCU100004", "BCU-APP")
    assert result.success
    assert bluecurrent_client.get_status("BCU100004").activity == Activity.CHARGING
