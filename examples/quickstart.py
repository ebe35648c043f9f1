"""bluecurrent_sync quickstart: list your charge points and what they are doing.

    python examples/quickstart.py

Without configuration it starts the embedded simulator (needs the ``simulator`` extra)
and talks to that. With ``BLUECURRENT_API_TOKEN`` set it reads your real account; it
only reads, it never starts, stops or changes anything. ``BLUECURRENT_URL`` points it
at another server, for example a simulator started with ``bluecurrent-sync simulator``.
"""

from __future__ import annotations

import contextlib
import os

from bluecurrent_sync import Client

REAL_SERVER = "wss://motown.bluecurrent.nl/haserver"


def main() -> None:
    token = os.environ.get("BLUECURRENT_API_TOKEN")
    url = os.environ.get("BLUECURRENT_URL", REAL_SERVER)
    with contextlib.ExitStack() as stack:
        if not token:
            from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

            simulator = stack.enter_context(Simulator())
            token, url = DEFAULT_TOKEN, simulator.url
            print(f"BLUECURRENT_API_TOKEN is not set: using a local simulator at {url}")

        client = stack.enter_context(Client(token, url=url))  # connects; closes at the end
        print(f"Connected as {client.get_email()}")

        points = client.get_charge_points()
        statuses = client.get_statuses([point.evse_id for point in points])
        for point in points:
            status = statuses[point.evse_id]
            print(
                f"{point.evse_id:<12} {point.name or '':<12} {status.activity.value:<12} "
                f"{status.total_kw:6.2f} kW {status.actual_kwh or 0.0:9.3f} kWh"
            )


if __name__ == "__main__":
    main()
