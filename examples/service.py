"""A long-running service that reacts to what the server pushes and survives reconnects.

    BLUECURRENT_API_TOKEN=... python examples/service.py

It keeps one connection open (the server pushes status changes to it, so it never polls and
spends almost none of the daily request quota) and logs a line whenever a charge point
changes activity: a session starting or ending, a charge point going offline. Run it under
systemd, supervisord or in a container; SIGTERM or Ctrl-C stops it cleanly.

What it takes care of:

* starting while the server is unreachable: it retries ``connect()`` with a growing delay;
* a dropped connection: the client reconnects by itself (backoff with jitter); the service
  logs the drop and, once reconnected, reads every status again, since pushes sent while
  it was away are lost;
* the daily quota: it waits until ``reset_at`` instead of hammering the server;
* a token that is no longer valid: it exits with status 3 (the supervisor should not restart
  it in a loop).

Without ``BLUECURRENT_API_TOKEN`` it runs against an embedded simulator (``simulator`` extra);
``BLUECURRENT_URL`` points it at another server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading

from bluecurrent_sync import (
    BlueCurrentError,
    ChStatus,
    Client,
    InvalidApiToken,
    RawEvent,
    RequestLimitReached,
)

REAL_SERVER = "wss://motown.bluecurrent.nl/haserver"
log = logging.getLogger("charge-watch")


class ChargeWatcher:
    """Tracks each charge point's activity from pushed CH_STATUS updates."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.activity: dict[str, str] = {}
        self._lock = threading.Lock()

    def attach(self) -> None:
        """Subscribe to the pushes and to the connection-state events."""
        self.client.on("CH_STATUS", self.on_status)
        self.client.on("disconnected", self.on_disconnected)
        self.client.on("connected", self.on_reconnected)

    def sync(self) -> None:
        """Read every charge point's status (at start and after each reconnect)."""
        points = self.client.get_charge_points()
        for status in self.client.get_statuses([p.evse_id for p in points]).values():
            self.on_status(status)
        log.info("watching %d charge point(s)", len(points))

    def on_status(self, status: ChStatus) -> None:
        """A status arrived (pushed, or read by sync): log a change of activity."""
        now = status.activity.value
        with self._lock:
            before = self.activity.get(status.evse_id)
            self.activity[status.evse_id] = now
        if before is None:
            log.info("%s is %s", status.evse_id, now)
        elif before != now:
            kw = status.total_kw
            log.info("%s changed from %s to %s (%.2f kW)", status.evse_id, before, now, kw)

    def on_disconnected(self, event: RawEvent) -> None:
        log.warning("connection lost (%s); the client reconnects by itself", event.raw["error"])

    def on_reconnected(self, _event: RawEvent) -> None:
        log.info("reconnected; reading every status again")
        try:
            self.sync()  # blocking calls are allowed in handlers
        except BlueCurrentError as exc:
            log.warning("could not read the statuses after reconnecting: %s", exc)


def connect_with_retry(client: Client, stop: threading.Event) -> bool:
    """Connect, retrying while the server cannot be reached; False if stopped first."""
    delay = 1.0
    while not stop.is_set():
        try:
            client.connect()
            return True
        except RequestLimitReached as exc:
            log.warning("daily quota used up; waiting until %s", exc.reset_at.astimezone())
            stop.wait(max(exc.retry_after, 1.0))
        except (ConnectionError, TimeoutError) as exc:
            log.warning("cannot connect (%s); retrying in %.0f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 60.0)
    return False


def run(client: Client, stop: threading.Event) -> int:
    """Watch until ``stop`` is set; returns the exit status."""
    try:
        if not connect_with_retry(client, stop):
            return 0
        watcher = ChargeWatcher(client)
        watcher.attach()
        watcher.sync()
        while not stop.wait(1.0):
            if client.state == "failed":  # e.g. the token was revoked while reconnecting
                log.error("the client gave up reconnecting; stopping")
                return 1
        return 0
    except InvalidApiToken:
        log.error("the server refused the API token; generate a new one at my.bluecurrent.nl")
        return 3
    finally:
        client.close()
        log.info("stopped")


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    token = os.environ.get("BLUECURRENT_API_TOKEN")
    url = os.environ.get("BLUECURRENT_URL", REAL_SERVER)
    with contextlib.ExitStack() as stack:
        if not token:
            from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

            token, url = DEFAULT_TOKEN, stack.enter_context(Simulator()).url
            log.info("BLUECURRENT_API_TOKEN is not set: using a local simulator at %s", url)
        return run(Client(token, url=url, reconnect=True), stop)


if __name__ == "__main__":
    sys.exit(main())
