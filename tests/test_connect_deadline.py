"""Name resolution and TCP connect under the one connect deadline, and cut short by close().

The resolver is the one thing replaced here (``socket.getaddrinfo`` for a made-up name); every
connection is a real socket on 127.0.0.1. A TCP connect that never completes is a listener
whose accept queue is full: the kernel drops the SYN and the connect waits.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import connect_outcome, in_thread, wait_until
from scripted_server import GOOD_TOKEN, ScriptedServer

from bluecurrent_sync._dial import _Lookup
from bluecurrent_sync.client import Client
from bluecurrent_sync.errors import ConnectionClosedError

NAME = "bcs-test.invalid"  # never resolvable for real (RFC 6761)


class FakeResolver:
    """Answers ``getaddrinfo`` for :data:`NAME` (blocking until ``release`` when told to)."""

    def __init__(self) -> None:
        self.real = socket.getaddrinfo
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hang = False
        self.ports: list[int] = []  # 127.0.0.1 ports NAME resolves to, in order

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return self.real(host, port, *args, **kwargs)
        self.calls += 1
        self.entered.set()
        if self.hang:
            self.release.wait(120)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", p))
            for p in self.ports
        ]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResolver]:
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()
    # The next test must not join a lookup of this one still on its way out.
    wait_until(lambda: not _Lookup._running, what="every name lookup has ended")


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A port on 127.0.0.1 whose TCP connects hang (accept queue full); yields the port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # never accepted: queued or dropped
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def port_of(url: str) -> int:
    return urlsplit(url).port or 0


def named_client(**options: Any) -> Client:
    """A client of ws://NAME:1/haserver (the fake resolver decides where NAME points)."""
    return Client(
        GOOD_TOKEN,
        url=f"ws://{NAME}:1/haserver",
        allow_insecure=True,
        reconnect=False,
        **options,
    )


def test_a_resolver_that_never_answers_is_bounded_by_the_deadline(
    resolver: FakeResolver,
) -> None:
    resolver.hang = True
    client = named_client(connect_timeout=1.0)
    thread, out = in_thread(client.connect)
    try:
        error = connect_outcome(thread, out, "connect() waited for the resolver past its deadline")
        assert "timed out connecting" in str(error)
        # A second attempt while the first lookup still hangs joins it: one resolver thread
        # per name, however often a client retries.
        again, out_again = in_thread(client.connect)
        again.join(60)
        assert isinstance(out_again[0], ConnectionClosedError), out_again
        assert resolver.calls == 1
    finally:
        client.close()


def test_close_interrupts_a_connect_waiting_for_the_resolver(resolver: FakeResolver) -> None:
    resolver.hang = True
    client = named_client(connect_timeout=600.0)
    thread, out = in_thread(client.connect)
    assert resolver.entered.wait(30)
    client.close()
    error = connect_outcome(thread, out, "close() did not interrupt the wait for the resolver")
    assert "closed while connecting" in str(error)


def test_close_interrupts_a_tcp_connect_in_progress(full_listener: int) -> None:
    url = f"ws://127.0.0.1:{full_listener}/haserver"
    client = Client(GOOD_TOKEN, url=url, reconnect=False, connect_timeout=600.0)
    thread, out = in_thread(client.connect)
    wait_until(
        lambda: client._conn._opener._connecting is not None, what="the socket is registered"
    )
    client.close()
    error = connect_outcome(thread, out, "close() did not interrupt the TCP connect")
    assert "closed while connecting" in str(error)


def test_the_addresses_of_a_name_share_the_one_deadline(
    resolver: FakeResolver, full_listener: int
) -> None:
    # The first address never accepts and takes the whole deadline, so the second is never
    # tried (socket.create_connection gives every address the whole timeout again).
    second = socket.create_server(("127.0.0.1", 0))
    resolver.ports = [full_listener, second.getsockname()[1]]
    client = named_client(connect_timeout=2.0)
    try:
        thread, out = in_thread(client.connect)
        error = connect_outcome(thread, out, "connect() outlived its deadline")
        assert "timed out connecting" in str(error)
        readable, _, _ = select.select([second], [], [], 0)
        assert readable == [], "the second address was connected to after the deadline"
    finally:
        client.close()
        second.close()


def test_a_name_resolving_to_a_refusing_then_a_listening_address_connects(
    resolver: FakeResolver,
) -> None:
    # Each address is tried in turn while the deadline lasts.
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))  # bound, not listening: the connect is refused at once
    with ScriptedServer() as server:
        resolver.ports = [
            refusing.getsockname()[1],
            port_of(server.url),
        ]
        client = named_client(connect_timeout=30.0)
        try:
            client.connect()
            assert client.connected and server.handshakes >= 1
        finally:
            client.close()
            refusing.close()
