"""A walk through the command line with ordinary mistakes: one line, the documented exit
code, and — from the simulator's own records — nothing sent (no connection at all when the
mistake is visible in the arguments).

The exit codes are the ones ``bluecurrent-sync --help`` documents: 1 refused, 2 usage
error (nothing sent); the simulator's: 1 cannot listen, 2 bad option or replay file.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from bluecurrent_sync import Client
from bluecurrent_sync._capture_check import main as check_capture_main
from bluecurrent_sync.cli import (
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    TOKEN_ENV,
    URL_ENV,
    main,
)
from bluecurrent_sync.errors import DailyBudgetExceeded
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator
from bluecurrent_sync.simulator import main as simulator_main

CHARGING = "BCU100001"
IDLE = "BCU100004"
NOT_MINE = "BCU999999"
ROOT = (
    Path(__file__).resolve().parent.parent
)  # a well-formed id that is not on the simulator's account

BAD_IDS = ["", " ", "BCU100001 ", " BCU100001", "bcu100001", "Bcu100001"]
ID_COMMANDS = [
    ["status", "{}"],
    ["status", CHARGING, "{}"],
    ["settings", "{}"],
    ["grid", "{}"],
    ["start", "{}"],
    ["stop", "{}"],
    ["block", "{}"],
    ["unblock", "{}"],
    ["reset", "{}"],
    ["reboot", "{}"],
    ["set", "plug-and-charge", "{}", "on"],
    ["set", "linked-cards-only", "{}", "off"],
    ["watch", "{}"],
    ["watch", CHARGING, "{}"],
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(URL_ENV, raising=False)


def one_error_line(err: str, program: str = "bluecurrent-sync") -> str:
    """The single line on stderr, checked to be an error line without a traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(program) and ": error: " in lines[0], err
    assert "Traceback" not in err
    return lines[0]


def assert_untouched(simulator: Simulator) -> None:
    """The simulator saw no connection, no refused handshake and no frame."""
    assert simulator.connections() == []
    assert simulator.refusals() == []
    assert simulator.received() == []


def run(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, *args: str
) -> tuple[int, str, str]:
    code = main(["--url", simulator.url, "--token", DEFAULT_TOKEN, *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------- charge point ids


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_bad_evse_id_is_a_usage_error_and_nothing_is_sent(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, bad: str
) -> None:
    for template in ID_COMMANDS:
        args = [bad if word == "{}" else word for word in template]
        code, out, err = run(capsys, simulator, *args)
        assert code == EXIT_USAGE, (args, err)
        assert out == ""
        line = one_error_line(err)
        assert repr(bad) in line and "Nothing was sent" in line, line
        assert "charge point id (EVSE)" in line
    if bad.strip() and bad != bad.upper():
        assert f"did you mean {bad.upper()!r}" in line
    assert_untouched(simulator)


def test_a_bad_card_uid_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    for card in ("", " 04A1B2C3D4E5F6"):
        code, out, err = run(capsys, simulator, "start", IDLE, "--card", card)
        assert (code, out) == (EXIT_USAGE, "")
        assert "--card" in one_error_line(err)
    assert_untouched(simulator)


def test_an_empty_token_does_not_fall_back_to_the_environment(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, DEFAULT_TOKEN)  # a good token the user did not mean
    code = main(["--url", simulator.url, "--token", "", "charge-points"])
    out, err = capsys.readouterr()
    assert (code, out) == (EXIT_USAGE, "")
    assert "--token is empty" in one_error_line(err)
    assert_untouched(simulator)


# ------------------------------------------------------------------------- watch


def test_watch_an_id_not_on_the_account_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    code, out, err = run(capsys, simulator, "watch", NOT_MINE, "--seconds", "30")
    assert (code, out) == (EXIT_REFUSED, "")
    line = one_error_line(err)
    assert NOT_MINE in line and "not on this account" in line and CHARGING in line
    # One look at the account, and nothing about the unknown id.
    assert [frame["command"] for frame in simulator.received()] == [
        "VALIDATE_API_TOKEN",
        "HELLO",
        "GET_CHARGE_POINTS",
    ]


def test_watch_warns_about_an_unknown_id_and_watches_the_others(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    code, out, err = run(
        capsys, simulator, "watch", CHARGING, NOT_MINE, "--count", "1", "--seconds", "120"
    )
    assert code == EXIT_OK
    assert err.count("\n") == 1 and err.startswith("bluecurrent-sync: warning: BCU999999 is not")
    lines = out.splitlines()
    assert lines[0].startswith(f"Watching pushed updates for {CHARGING}: ")  # the one there
    assert "Ctrl-C" in lines[0] and CHARGING in lines[1]


def test_watch_json_says_what_it_waits_for_on_stderr(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    code, out, err = run(
        capsys, simulator, "watch", CHARGING, "--count", "1", "--json", "--seconds", "120"
    )
    assert code == EXIT_OK
    assert err.startswith(f"Watching pushed updates for {CHARGING}")
    assert json.loads(out)["object"] in ("CH_STATUS", "GRID_CURRENT")


# ------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--timeout", "-1", "cards"], "argument --timeout"),
        (["--daily-budget", "x", "cards"], "argument --daily-budget"),
        (["watch", "--count", "0"], "argument --count"),
        (["set", "plug-and-charge", IDLE, "maybe"], "invalid choice"),
        (["cards", "--bogus"], "unrecognized arguments: --bogus"),
        (["stauts", CHARGING], "invalid choice"),
    ],
)
def test_bad_option_values_are_one_line(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, args: list[str], words: str
) -> None:
    code, out, err = run(capsys, simulator, *args)
    assert (code, out) == (EXIT_USAGE, "")
    assert words in one_error_line(err)
    assert_untouched(simulator)


def test_the_url_comes_from_the_environment_like_the_examples(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, simulator.url)
    assert main(["--token", DEFAULT_TOKEN, "status", CHARGING]) == EXIT_OK
    assert "charging" in capsys.readouterr().out
    assert simulator.count("GET_CH_STATUS") == 1
    # --url wins; a bad URL in the variable is named as such.
    monkeypatch.setenv(URL_ENV, "ws://127.0.0.1:99999/haserver")
    assert main(["--url", simulator.url, "--token", DEFAULT_TOKEN, "cards"]) == EXIT_OK
    capsys.readouterr()
    assert main(["--token", DEFAULT_TOKEN, "cards"]) == EXIT_USAGE
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"bluecurrent-sync: error: {URL_ENV}: ") and "99999" in line


def test_a_capture_file_is_never_overwritten_and_a_bad_one_is_named(
    capsys: pytest.CaptureFixture[str], simulator: Simulator, tmp_path: Path
) -> None:
    existing = tmp_path / "first.jsonl"
    existing.write_text("keep me\n", encoding="utf-8")
    code, out, err = run(capsys, simulator, "--record", str(existing), "cards")
    assert (code, out) == (EXIT_USAGE, "")
    line = one_error_line(err)
    assert str(existing) in line and "already exists" in line
    assert existing.read_text(encoding="utf-8") == "keep me\n"
    missing_dir = tmp_path / "no" / "such" / "capture.jsonl"
    code, out, err = run(capsys, simulator, "--record", str(missing_dir), "cards")
    assert (code, out) == (EXIT_USAGE, "")
    assert str(missing_dir) in one_error_line(err)
    assert_untouched(simulator)


def test_verbose_logs_the_wire_redacted(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    handlers = list(logging.getLogger("bluecurrent_sync").handlers)
    code, out, err = run(capsys, simulator, "--verbose", "status", CHARGING)
    assert code == EXIT_OK and "charging" in out
    assert "bluecurrent_sync.wire" in err and "GET_CH_STATUS" in err
    assert DEFAULT_TOKEN not in err and simulator.issued_token(DEFAULT_TOKEN) not in err
    # Off again afterwards: the package's logger is left as it was.
    assert logging.getLogger("bluecurrent_sync").handlers == handlers
    code, _, err = run(capsys, simulator, "status", CHARGING)
    assert code == EXIT_OK and err == ""


def test_a_connection_error_names_the_url_once(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on (bound, never listening)
        probe.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{probe.getsockname()[1]}/haserver"
        code = main(
            ["--url", url, "--token", "t0ken-for-a-closed-port", "--timeout", "30", "cards"]
        )
    line = one_error_line(capsys.readouterr().err)
    assert code == EXIT_CONNECTION
    assert line.count("127.0.0.1") == 1, line
    assert "(--url)" in line


def test_settings_say_what_the_permission_means(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    code, out, _ = run(capsys, simulator, "settings", IDLE)
    assert code == EXIT_OK
    assert "(write)" not in out and "(you may change it)" in out


def test_check_capture_errors_go_to_stderr(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert check_capture_main(str(tmp_path / "missing.jsonl"), out, err) == 2
    assert out.getvalue() == ""
    assert one_error_line(err.getvalue(), "bluecurrent-sync check-capture")


def test_the_budget_message_does_not_say_used_up_when_it_is_not() -> None:
    reset_at = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    error = DailyBudgetExceeded(4, 3, reset_at)
    assert "used up" not in str(error) and "budget of 4" in str(error)
    assert "used up" in str(DailyBudgetExceeded(4, 4, reset_at))


# ------------------------------------------------------------------------- the simulator command


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _simulator_line(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = simulator_main(list(args))
    except SystemExit as exc:  # argparse's own checks end the process, as in a shell
        code = exc.code if isinstance(exc.code, int) else -1
    out, err = capsys.readouterr()
    assert out == ""  # no URL: it never served
    return code, one_error_line(err, "python -m bluecurrent_sync.simulator")


def test_simulator_taken_port(capsys: pytest.CaptureFixture[str], taken_port: int) -> None:
    code, line = _simulator_line(capsys, "--port", str(taken_port))
    assert code == 1 and "the port is taken" in line and str(taken_port) in line


def test_simulator_bad_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, line = _simulator_line(capsys, "--host", "999.1.1.1")
    assert code == 1 and "--host 999.1.1.1 is not an address of this machine" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "99999"], "--port must be a port number from 0 to 65535"),
        (["--port", "abc"], "argument --port"),
        (["--replay", "/nonexistent/capture.jsonl"], "cannot read the --replay file"),
        (["--quota", "-1"], "--quota must be at least 0"),
        (["--push-interval", "0"], "--push-interval must be"),
        (["--replay-speed", "0"], "--replay-speed must be a finite number above 0"),
        (["--variant", "nonsense"], "--variant wants NAME=VALUE"),
        (["--token", ""], "--token must be a non-empty string"),
        (["--host", ""], "--host must be a non-empty string"),
    ],
)
def test_simulator_bad_options(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    code, line = _simulator_line(capsys, *args)
    assert code == 2 and words in line, line


def test_simulator_through_the_main_command_is_one_line_too(
    capsys: pytest.CaptureFixture[str], taken_port: int
) -> None:
    assert main(["simulator", "--port", str(taken_port)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "the port is taken" in one_error_line(err, "bluecurrent-sync simulator")
    assert main(["simulator", "--port", "99999"]) == 2
    assert "99999" in one_error_line(capsys.readouterr().err, "bluecurrent-sync simulator")
    assert main(["simulator", "--port", "abc"]) == 2
    assert "--port" in one_error_line(capsys.readouterr().err, "bluecurrent-sync simulator")


def test_in_a_real_process_too(simulator: Simulator, taken_port: int) -> None:
    proc = run_cli("--url", simulator.url, "status", "BCU100001 ", token=DEFAULT_TOKEN)
    assert (proc.returncode, proc.stdout) == (EXIT_USAGE, "")
    assert "spaces around it" in one_error_line(proc.stderr)
    proc = run_cli("simulator", "--port", str(taken_port), token=DEFAULT_TOKEN)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert "the port is taken" in one_error_line(proc.stderr, "bluecurrent-sync simulator")
    proc = run_cli("simulator", "--replay", "/nonexistent.jsonl", token=DEFAULT_TOKEN)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "/nonexistent.jsonl" in one_error_line(proc.stderr, "bluecurrent-sync simulator")
    assert_untouched(simulator)


# ------------------------------------------------------------------------- library options

URL = "ws://127.0.0.1:1/haserver"  # never connected: construction only


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"ping_interval": -1}, ValueError, "ping_interval"),
        ({"ping_interval": 0}, ValueError, "ping_interval"),
        ({"ping_interval": "20"}, TypeError, "ping_interval"),
        ({"ping_timeout": 0}, ValueError, "ping_timeout"),
        ({"record": 123}, TypeError, "record"),
        ({"record": ""}, ValueError, "record"),
        ({"max_frame_bytes": "1000"}, TypeError, "max_frame_bytes"),
        ({"max_frame_bytes": 0}, ValueError, "max_frame_bytes"),
        ({"max_frame_bytes": 1.5}, TypeError, "max_frame_bytes"),
        ({"event_queue_size": "10"}, TypeError, "event_queue_size"),
        ({"event_queue_size": 0}, ValueError, "event_queue_size"),
        ({"reconnect_delay": 5}, TypeError, "reconnect_delay"),
        ({"reconnect_delay": (5,)}, TypeError, "reconnect_delay"),
        ({"reconnect_delay": (0, 1)}, ValueError, "reconnect_delay"),
        ({"reconnect_delay": (2, 1)}, ValueError, "reconnect_delay"),
        ({"reconnect_delay": ("1", 2)}, TypeError, "reconnect_delay"),
        ({"sslopt": "verify"}, TypeError, "sslopt"),
        ({"usage_file": 7}, TypeError, "usage_file"),
        ({"daily_budget": "100"}, TypeError, "daily_budget"),
        ({"daily_budget": -1}, ValueError, "daily_budget"),
        ({"connect_timeout": -1}, ValueError, "connect_timeout"),
        ({"verdict_timeout": float("nan")}, ValueError, "verdict_timeout"),
    ],
)
def test_client_options_name_the_parameter(
    options: dict[str, object], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        Client(DEFAULT_TOKEN, url=URL, **options)  # type: ignore[arg-type]


def test_the_api_token_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="api_token"):
        Client(None, url=URL)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="api_token"):
        Client(b"token", url=URL)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="api_token"):
        Client("", url=URL)


def test_a_good_record_file_object_and_path_are_accepted(tmp_path: Path) -> None:
    Client(DEFAULT_TOKEN, url=URL, record=io.StringIO()).close()
    Client(DEFAULT_TOKEN, url=URL, record=tmp_path / "capture.jsonl").close()


def test_events_and_max_age_are_checked_before_anything_is_sent(simulator: Simulator) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        before = len(simulator.received())
        for bad, error in ((-1, ValueError), (float("inf"), ValueError), ("5", TypeError)):
            with pytest.raises(error, match="timeout"):
                client.events(timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="maxsize"):
            client.events(maxsize=0)
        with pytest.raises(TypeError, match="maxsize"):
            client.events(maxsize=2.5)  # type: ignore[arg-type]
        # max_age is checked even when nothing is mirrored for the charge point yet.
        with pytest.raises(TypeError, match="max_age"):
            client.get_status(IDLE, max_age="60")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_age"):
            client.get_settings(IDLE, max_age=-1)
        with pytest.raises(ValueError, match="max_age"):
            client.get_statuses([IDLE], max_age=float("nan"))
        with pytest.raises(TypeError, match="timeout"):
            client.wait_for_status(IDLE, bool, timeout="1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            client.wait_for_status(IDLE, bool, timeout=float("inf"))
        with pytest.raises(TypeError, match="condition"):
            client.wait_for_status(IDLE, None, timeout=1)  # type: ignore[arg-type]
        assert len(simulator.received()) == before
        with client.events(timeout=0.5) as stream:  # good values still work
            assert stream is not None


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"quota": -1}, ValueError, "quota"),
        ({"quota": "5"}, TypeError, "quota"),
        ({"port": 99999}, ValueError, "port"),
        ({"port": "8765"}, TypeError, "port"),
        ({"host": ""}, ValueError, "host"),
        ({"tokens": "one-token"}, TypeError, "tokens"),
        ({"tokens": [""]}, ValueError, "tokens"),
        ({"action_delay": -1}, ValueError, "action_delay"),
        ({"push_interval": float("inf")}, ValueError, "push_interval"),
        ({"time_scale": 0}, ValueError, "time_scale"),
        ({"history": 1.5}, TypeError, "history"),
        ({"single_connection": "yes"}, TypeError, "single_connection"),
        ({"replay": 5}, TypeError, "replay"),
    ],
)
def test_simulator_options_name_the_parameter(
    options: dict[str, object], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        Simulator(**options)  # type: ignore[arg-type]
