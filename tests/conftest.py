"""Shared fixtures: a running simulator and raw (protocol-level) websocket clients.

- ``simulator``: a started :class:`Simulator` (fast ``action_delay``), stopped after the test.
  Parametrise it indirectly with a dict of constructor options::

      @pytest.mark.parametrize("simulator", [{"quota": 3}], indirect=True)

- ``make_simulator(**options)``: a factory for more (or differently configured) simulators;
  every one is stopped after the test.
- ``raw_client(sim=None, *, hello=True, token=DEFAULT_TOKEN)``: validates the token on a short
  connection, opens the main connection and says HELLO; returns a :class:`RawClient`. Every
  frame a RawClient receives is checked with ``validate_wire_frame``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scripted_server import ScriptedServer
from websockets.sync.client import ClientConnection, connect
from wire_schemas import validate_wire_frame

from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ConnectionClosedError
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

SIMULATOR_DEFAULTS: dict[str, Any] = {"push_interval": 0.2, "action_delay": 0.02}
"""Options of the ``simulator`` fixture unless the test overrides them."""


class RawClient:
    """A protocol-level client over a real socket: sends commands, reads JSON frames.

    Args:
        url: The simulator URL.
        auth: The server-issued token; added as ``Authorization: "Token <auth>"``.
        validate: Check every received JSON object against the wire schemas.
    """

    def __init__(self, url: str, auth: str | None = None, *, validate: bool = True) -> None:
        self.ws: ClientConnection = connect(url, open_timeout=5, close_timeout=2)
        self.auth = auth
        self.validate = validate
        self.received: list[dict[str, Any]] = []
        self._backlog: list[dict[str, Any]] = []

    def send(self, command: str, **fields: Any) -> dict[str, Any]:
        """Send ``command`` with ``fields`` (and Authorization); returns the frame sent."""
        frame: dict[str, Any] = {"command": command, **fields}
        if self.auth is not None and "Authorization" not in frame:
            frame["Authorization"] = f"Token {self.auth}"
        self.ws.send(json.dumps(frame))
        return frame

    def send_raw(self, payload: str | bytes | dict[str, Any]) -> None:
        """Send exactly ``payload`` (a dict as JSON, no Authorization added)."""
        self.ws.send(payload if isinstance(payload, (str, bytes)) else json.dumps(payload))

    def recv_message(self, timeout: float = 30.0) -> str | bytes:
        """The next raw message; raises TimeoutError after ``timeout`` seconds."""
        return self.ws.recv(timeout)

    def recv(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next JSON frame (validated), oldest skipped one first."""
        if self._backlog:
            return self._backlog.pop(0)
        return self._read_new(timeout)

    def expect(
        self, object_name: str, *, evse_id: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Read until a frame named ``object_name`` (for ``evse_id``) arrives; keep the others.

        Raises:
            TimeoutError: None arrived within ``timeout`` seconds.
        """
        for i, frame in enumerate(self._backlog):
            if _matches(frame, object_name, evse_id):
                return self._backlog.pop(i)
        skipped: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                frame = self._read_new(max(deadline - time.monotonic(), 0.0))
                if _matches(frame, object_name, evse_id):
                    return frame
                skipped.append(frame)
        finally:
            self._backlog.extend(skipped)

    def request(self, command: str, reply: str, **fields: Any) -> dict[str, Any]:
        """Send ``command`` and return the first ``reply`` frame (same evse_id if given)."""
        self.send(command, **fields)
        return self.expect(reply, evse_id=fields.get("evse_id") if reply != "GRID_STATUS" else None)

    def _read_new(self, timeout: float) -> dict[str, Any]:
        message = self.ws.recv(timeout)
        frame = json.loads(message)
        assert isinstance(frame, dict), f"not a JSON object: {message!r}"
        if self.validate:
            validate_wire_frame(frame)
        self.received.append(frame)
        return frame

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.ws.close()


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` on a daemon thread (started); the list receives its result or exception."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def connect_outcome(thread: threading.Thread, out: list[Any], why: str) -> BaseException:
    """The error a ``connect()`` run by :func:`in_thread` ended with.

    Joins ``thread`` within a generous minute (the deadlines under test are a second, or ten
    minutes away when only ``close()`` can end the wait) and fails with ``why`` if it is
    still running; the outcome must be a ConnectionClosedError.
    """
    thread.join(60)
    assert not thread.is_alive(), why
    assert isinstance(out[0], ConnectionClosedError), out
    return out[0]


def self_signed_cert(directory: Path, names: str) -> tuple[str, str]:
    """``(cert, key)`` paths of a one-day self-signed certificate for ``names``.

    Args:
        directory: Where to write them.
        names: The subjectAltName value, e.g. ``"IP:127.0.0.1,DNS:localhost"``.
    """
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
            "-addext", f"subjectAltName={names}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


def wait_until(
    condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds.

    The deadline is generous on purpose (a loaded CI machine): it only bounds a failing test,
    a passing one returns as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        threading.Event().wait(0.005)


def inside(thread: threading.Thread, function: str, module_suffix: str) -> bool:
    """Whether ``thread`` is running ``function`` of a module whose path ends with
    ``module_suffix`` (anywhere on its stack)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == function and code.co_filename.endswith(module_suffix):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def ctrl_c_while(where: Callable[[], bool], what: str) -> Iterator[None]:
    """Press Ctrl-C (SIGINT to the main thread) once ``where()`` holds, inside the block.

    Pressed again while ``where()`` still holds, as a person would: Python drops a
    KeyboardInterrupt raised while the main thread runs a finalizer ("Exception ignored in
    ..."), which a garbage collection may start at any moment; one that lands is all a test
    needs. Ctrl-C raises KeyboardInterrupt even when pytest was started with SIGINT ignored
    (as a shell does for a command it runs in the background). Skips the test off the main
    thread (signals reach only it).
    """
    main = threading.main_thread()
    if threading.current_thread() is not main:
        pytest.skip("signals reach the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    landed = threading.Event()

    def press() -> None:
        wait_until(where, what=what, timeout=300)
        while not landed.is_set():
            if where():
                signal.pthread_kill(main.ident or 0, signal.SIGINT)
            landed.wait(0.5)

    presser = threading.Thread(target=press, daemon=True)
    presser.start()
    try:
        yield
    finally:
        landed.set()
        presser.join(30)
        signal.signal(signal.SIGINT, previous)


def _matches(frame: dict[str, Any], object_name: str, evse_id: str | None) -> bool:
    if frame.get("object") != object_name:
        return False
    if evse_id is None:
        return True
    data = frame.get("data")
    inner = data.get("evse_id") if isinstance(data, dict) else None
    return evse_id in (frame.get("evse_id"), inner)


def validate_token(url: str, token: str = DEFAULT_TOKEN) -> dict[str, Any]:
    """Run VALIDATE_API_TOKEN on its own short connection; returns the reply frame."""
    client = RawClient(url)
    try:
        client.send("VALIDATE_API_TOKEN", token=token)
        return client.recv()
    finally:
        client.close()


#: The environment variables that pick a proxy (bluecurrent_sync/_proxy.py).
PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
)


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without proxy variables (and so do the processes it starts).

    Clients connect directly unless a test sets a proxy itself; a machine whose environment
    names a proxy runs the suite as any other.
    """
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted server on 127.0.0.1 (``tests/scripted_server.py``), stopped afterwards."""
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., Simulator]]:
    """Factory: ``make_simulator(**options)`` starts a Simulator; all are stopped afterwards."""
    started: list[Simulator] = []

    def make(**options: Any) -> Simulator:
        simulator = Simulator(**{**SIMULATOR_DEFAULTS, **options})
        started.append(simulator)
        return simulator.start()

    yield make
    for simulator in reversed(started):
        simulator.stop()
    leftover = [
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("bluecurrent-sync-sim") and thread.is_alive()
    ]
    assert not leftover, f"simulator threads left running: {leftover}"


@pytest.fixture
def simulator(
    request: pytest.FixtureRequest, make_simulator: Callable[..., Simulator]
) -> Simulator:
    """A started simulator; ``request.param`` (a dict) overrides constructor options."""
    options: dict[str, Any] = getattr(request, "param", None) or {}
    return make_simulator(**options)


@pytest.fixture
def raw_client(simulator: Simulator) -> Iterator[Callable[..., RawClient]]:
    """Factory: an authenticated raw connection (validate → HELLO) to ``simulator`` or ``sim``."""
    opened: list[RawClient] = []

    def open_client(
        sim: Simulator | None = None, *, hello: bool = True, token: str = DEFAULT_TOKEN
    ) -> RawClient:
        target = sim or simulator
        status = validate_token(target.url, token)
        assert status["success"] is True, status
        client = RawClient(target.url, auth=status["token"])
        opened.append(client)
        if hello:
            client.send("HELLO", header="bluecurrent_sync-tests")
            client.expect("HELLO")
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def new_client() -> Iterator[Callable[..., Client]]:
    """``new_client(token, url, **options)``: a Client (not connected) closed when the test ends."""
    clients: list[Client] = []

    def make(token: str, url: str, **options: Any) -> Client:
        client = Client(token, url=url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def run_cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bluecurrent_sync ARGS`` in a child process of this checkout's package, with
    ``BLUECURRENT_API_TOKEN`` set to ``token`` (unset when None)."""
    env = {key: value for key, value in os.environ.items() if key != "BLUECURRENT_API_TOKEN"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    if token is not None:
        env["BLUECURRENT_API_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "bluecurrent_sync", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
