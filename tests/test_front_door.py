"""The front door: every bad input gives one clear error, --version, valid --json, the
simulator's install hint, public logger names and the redacted wire log.

Everything runs against the simulator over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import bluecurrent_sync
from bluecurrent_sync import Client
from bluecurrent_sync._events import KNOWN_EVENT_NAMES
from bluecurrent_sync.cli import EXIT_OK, EXIT_USAGE, main
from bluecurrent_sync.models import RawEvent
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

CHARGING = "BCU100001"
IDLE = "BCU100004"
ROOT = Path(__file__).resolve().parent.parent

BAD_URLS = [
    ("ws://127.0.0.1:99999/haserver", "port"),
    ("ws://127.0.0.1:abc/haserver", "port"),
    ("ws://127.0.0.1:0/haserver", "port"),
    ("ws://127.0.0.1:/haserver", "port"),
    ("ws://127.0.0.1:-1/haserver", "port"),
    (" ws://127.0.0.1/haserver", "spaces"),
    ("ws://127.0.0.1/haserver ", "spaces"),
    ("ws://127.0.0.1/has erver", "spaces"),
    ("ws://127.0.0.1/haserver\n", "spaces"),
    ("http://127.0.0.1/haserver", "ws:// or wss://"),
    ("127.0.0.1:8765/haserver", "ws:// or wss://"),
    ("", "empty"),
    ("ws:///haserver", "no host"),
    ("ws://[::1/haserver", "not a valid URL"),
    ("ws://[::zz]/haserver", "IPv6"),
    ("wss://exa..mple.com/haserver", "host name"),
    ("wss://-bad-.com/haserver", "host name"),
    ("wss://example.com/haserver#part", "fragment"),
    ("ws://example.com/haserver", "allow_insecure"),
]


def test_every_bad_url_is_a_clear_value_error_at_construction() -> None:
    for url, words in BAD_URLS:
        with pytest.raises(ValueError, match=words) as info:
            Client(DEFAULT_TOKEN, url=url)
        assert DEFAULT_TOKEN not in str(info.value)
    with pytest.raises(TypeError, match="url must be a string"):
        Client(DEFAULT_TOKEN, url=b"ws://127.0.0.1/x")  # type: ignore[arg-type]


def test_good_urls_are_accepted_and_the_scheme_is_normalised() -> None:
    assert Client("t0ken", url="WSS://Example.COM/haserver").url == "wss://Example.COM/haserver"
    assert Client("t0ken", url="Ws://[::1]:8765/haserver").url == "ws://[::1]:8765/haserver"
    assert Client("t0ken", url="ws://localhost:65535/").url == "ws://localhost:65535/"
    remote = Client("t0ken", url="ws://10.0.0.2:80/haserver", allow_insecure=True)
    assert remote.url == "ws://10.0.0.2:80/haserver"  # never connected: construction only


def test_an_upper_case_scheme_connects(simulator: Simulator) -> None:
    url = "WS" + simulator.url[2:]
    with Client(DEFAULT_TOKEN, url=url) as client:
        assert client.get_status(CHARGING).evse_id == CHARGING


def test_cli_bad_url_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for url, words in BAD_URLS:
        code = main(["--url", url, "--token", DEFAULT_TOKEN, "charge-points"])
        out, err = capsys.readouterr()
        assert code == EXIT_USAGE, (url, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bluecurrent-sync: error: "), err
        assert words.replace("allow_insecure", "--allow-insecure") in lines[0]
        assert "Traceback" not in err and DEFAULT_TOKEN not in err


def test_cli_bad_url_in_a_real_process() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bluecurrent_sync",
            "--url",
            "ws://127.0.0.1:99999/x",
            "status",
            "X",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, BLUECURRENT_API_TOKEN=DEFAULT_TOKEN),
        check=False,
    )
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.count("\n") == 1 and "invalid port '99999'" in proc.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out == f"bluecurrent-sync {bluecurrent_sync.__version__}\n"
    proc = subprocess.run(
        [sys.executable, "-m", "bluecurrent_sync", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith(bluecurrent_sync.__version__)


# ------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("value", ["off", "False", "", 0, 1, None, 1.0])
def test_boolean_arguments_must_be_bool_and_nothing_is_sent(
    simulator: Simulator, value: object
) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        calls = [
            ("SET_PLUG_AND_CHARGE", lambda: client.set_plug_and_charge(IDLE, value)),
            ("SET_PUBLIC_CHARGING", lambda: client.set_linked_charge_cards_only(IDLE, value)),
            ("SET_INOPERATIVE", lambda: client.block(IDLE, value)),
            ("SET_DELAYED_CHARGING", lambda: client.set_delayed_charging(IDLE, value)),
            ("SET_PRICE_BASED_CHARGING", lambda: client.set_price_based_charging(IDLE, value)),
            (
                "OVERRIDE_CHARGING_PROFILES",
                lambda: client.override_price_based_charging_profile(IDLE, value),
            ),
            (
                "OVERRIDE_DELAYED_CHARGING_TIMEOUT",
                lambda: client.override_delayed_charging_profile(IDLE, value),
            ),
        ]
        for command, call in calls:
            with pytest.raises(TypeError, match="value must be True or False"):
                call()
            assert simulator.count(command) == 0, command
        assert simulator.count("SET_OPERATIVE") == 0
        # The client is still fine, and real booleans work.
        assert client.set_plug_and_charge(IDLE, False).value is False
        assert client.block(IDLE, True).success


def test_client_options_are_checked() -> None:
    with pytest.raises(TypeError, match="reconnect"):
        Client(DEFAULT_TOKEN, url="ws://127.0.0.1:1/x", reconnect="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allow_insecure"):
        Client(DEFAULT_TOKEN, url="ws://127.0.0.1:1/x", allow_insecure=1)  # type: ignore[arg-type]
    for bad in (float("nan"), float("inf"), 0, -1.0):
        with pytest.raises(ValueError, match="finite number of seconds"):
            Client(DEFAULT_TOKEN, url="ws://127.0.0.1:1/x", timeout=bad)
        with pytest.raises(ValueError, match="finite number of seconds"):
            Client(DEFAULT_TOKEN, url="ws://127.0.0.1:1/x", action_timeout=bad)
    with pytest.raises(TypeError, match="timeout"):
        Client(DEFAULT_TOKEN, url="ws://127.0.0.1:1/x", timeout="10")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- event names


def test_unknown_event_names_are_rejected_with_the_known_ones() -> None:
    client = Client(DEFAULT_TOKEN, url="ws://127.0.0.1:1/x")
    with pytest.raises(ValueError, match="Did you mean 'CH_STATUS'") as info:
        client.on("CH_STAUTS", print)
    message = str(info.value)
    for name in ("CH_STATUS", "GRID_CURRENT", "CHARGE_POINTS", "connected", "allow_unknown=True"):
        assert name in message
    with pytest.raises(ValueError, match="unknown event name 'TYPO'"):
        client.events("TYPO")
    with pytest.raises(ValueError, match="unknown event name"):
        client.events("CH_STATUS", "GRID_CURENT")
    with pytest.raises(ValueError, match="unknown event name"):
        client.off("CH_STAUTS", print)
    with pytest.raises(ValueError, match="unknown event name"):

        @client.on("ch_status")  # names are case-sensitive on the wire
        def handler(_event: object) -> None: ...

    with pytest.raises(TypeError):
        client.on(None, print)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        client.on("", print, allow_unknown=True)
    # Every known name is accepted.
    for name in KNOWN_EVENT_NAMES:
        client.on(name, print)
        client.off(name, print)


def test_a_new_server_object_can_be_subscribed_to_by_name(simulator: Simulator) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        got: list[object] = []
        client.on("SOLAR_FORECAST", got.append, allow_unknown=True)
        with client.events("SOLAR_FORECAST", allow_unknown=True, timeout=10) as stream:
            frame = {"object": "SOLAR_FORECAST", "data": {"kwh": 4.5}}
            assert simulator.inject(frame) == 1
            event = next(iter(stream))
        assert isinstance(event, RawEvent)
        assert event.object_name == "SOLAR_FORECAST" and event.raw["data"] == {"kwh": 4.5}
        client.off("SOLAR_FORECAST", got.append, allow_unknown=True)


# ------------------------------------------------------------------------- --json


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise AssertionError(f"invalid JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_valid_even_with_non_finite_numbers(
    capsys: pytest.CaptureFixture[str], simulator: Simulator
) -> None:
    # Whatever the converter makes of NaN/Infinity in a model (None, or a refusal), the
    # pushed objects without a model keep the raw numbers: --json must still be valid JSON.
    frames = [
        '{"object": "SOLAR_FORECAST", "data": {"a": NaN, "b": Infinity, "c": [-Infinity]}}',
    ]

    stop = threading.Event()

    def inject_when_connected() -> None:
        # Once per push tick until the watch ends: the first ones may come before the
        # command opened its event stream.
        tick = len(simulator.sent("GRID_CURRENT"))
        while not stop.is_set():
            try:
                simulator.wait_for_sent("GRID_CURRENT", count=tick + 1, timeout=0.5)
            except (TimeoutError, AssertionError):
                continue  # no tick (nobody connected yet, or any more): look at stop again
            tick += 1
            for frame in frames:
                simulator.inject(frame)

    thread = threading.Thread(target=inject_when_connected, daemon=True)
    thread.start()
    code = main(
        [
            "--url",
            simulator.url,
            "--token",
            DEFAULT_TOKEN,
            "watch",
            "--json",
            "--count",
            "50",
            "--seconds",
            "20",
        ]
    )
    stop.set()
    thread.join(30)
    out, _ = capsys.readouterr()
    assert code == EXIT_OK
    records = [_strict_json(line) for line in out.splitlines()]
    forecast = [r for r in records if isinstance(r, dict) and r["object"] == "SOLAR_FORECAST"]
    assert forecast and forecast[0]["data"]["raw"]["data"] == {"a": None, "b": None, "c": [None]}


# ------------------------------------------------------------------------- simulator extra


@pytest.fixture
def no_websockets(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import websockets`` fails, as without the extra."""
    fake = tmp_path / "websockets"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('simulated: not installed')\n")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))


def _python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_simulator_without_its_extra_says_what_to_install(no_websockets: dict[str, str]) -> None:
    proc = _python(no_websockets, "-m", "bluecurrent_sync.simulator")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "pip install '.[simulator]'" in proc.stderr
    assert "bluecurrent-sync[simulator]" not in proc.stderr  # not on the package index

    code = (
        "try:\n"
        "    import bluecurrent_sync.simulator\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc.name, '|', exc)\n"
        "import bluecurrent_sync\n"  # the client itself still imports
        "print(bluecurrent_sync.Client.__name__)\n"
    )
    proc = _python(no_websockets, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("websockets | ")
    assert "pip install '.[simulator]'" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "Client"

    for command in (["simulator"], ["demo"]):
        proc = _python(no_websockets, "-m", "bluecurrent_sync", *command)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "pip install" in proc.stderr

    # The help needs no extra: it says what the simulator is and how to install it.
    proc = _python(no_websockets, "-m", "bluecurrent_sync", "simulator", "--help")
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout.startswith("usage: bluecurrent-sync simulator")
    assert "--port" in proc.stdout and "pip install '.[simulator]'" in proc.stdout


# ------------------------------------------------------------------------- logging


def test_public_logger_names_and_redacted_wire_log(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bluecurrent_sync")
    issued = None
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        issued = simulator.issued_token(DEFAULT_TOKEN)
        client.get_status(CHARGING)
        # A server that echoes both secrets back inside ordinary strings and as keys.
        with client.events("ECHO", allow_unknown=True, timeout=10) as stream:
            simulator.inject(
                {
                    "object": "ECHO",
                    "data": {"said": f"you sent {DEFAULT_TOKEN} and Token {issued}"},
                    issued: "as a key",
                }
            )
            next(iter(stream))
        simulator.inject(f"not json, but it holds {DEFAULT_TOKEN}")
        with client.events("connected", timeout=30) as reconnects:
            simulator.drop_all()  # the connection logger reports the drop and the reconnect
            assert next(iter(reconnects)).object_name == "connected"
        assert client.get_status(CHARGING).evse_id == CHARGING
    names = {record.name for record in caplog.records}
    assert {"bluecurrent_sync.wire", "bluecurrent_sync.connection"} <= names
    assert all(name.startswith("bluecurrent_sync") and "._" not in name for name in names), names
    wire = [r.getMessage() for r in caplog.records if r.name == "bluecurrent_sync.wire"]
    assert any(m.startswith("validate out ") and "VALIDATE_API_TOKEN" in m for m in wire)
    assert any(m.startswith("main out ") and "GET_CH_STATUS" in m for m in wire)
    assert any(m.startswith("main in ") and "CH_STATUS" in m for m in wire)
    assert any("ECHO" in m and "you sent <redacted> and Token <redacted>" in m for m in wire)
    assert any("not json, but it holds <redacted>" in m for m in wire)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert DEFAULT_TOKEN not in everything
    assert issued and issued not in everything


def test_the_wire_log_costs_nothing_when_off(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bluecurrent_sync")
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        client.get_charge_points()
    assert not [r for r in caplog.records if r.name == "bluecurrent_sync.wire"]


@pytest.mark.parametrize("option", ["--timeout", "--action-timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "abc"])
def test_cli_timeouts_must_be_finite(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    code = main(["--url", "ws://127.0.0.1:1/x", "--token", DEFAULT_TOKEN, option, value, "cards"])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert f"argument {option}:" in err.splitlines()[-1] and "Traceback" not in err


def test_ids_are_checked_before_anything_is_sent(simulator: Simulator) -> None:
    with Client(DEFAULT_TOKEN, url=simulator.url) as client:
        sent_before = len(simulator.received())
        calls = (
            client.get_status,
            client.get_settings,
            client.stop_session,
            client.block,
            lambda evse: client.set_plug_and_charge(evse, True),
            lambda card: client.start_session(IDLE, card),
        )
        for bad, error in (
            (None, TypeError),
            (123, TypeError),
            ("", ValueError),
            (" X", ValueError),
        ):
            for call in calls:
                with pytest.raises(error):
                    call(bad)
        with pytest.raises(TypeError, match="not one string"):
            client.get_statuses(CHARGING)
        with pytest.raises(TypeError):
            client.get_statuses([CHARGING, None])  # type: ignore[list-item]
        assert len(simulator.received()) == sent_before  # nothing reached the server
        assert client.get_statuses([CHARGING])[CHARGING].evse_id == CHARGING
