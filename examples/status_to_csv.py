"""Append every charge point's status to a CSV file: a one-shot for cron or a systemd timer.

    BLUECURRENT_API_TOKEN=... python examples/status_to_csv.py charge_points.csv

One run = one connection, a handful of requests (the daily quota counts them), one line per
charge point appended to the file (the header is written when the file is new). Crontab
entry for every 15 minutes::

    BLUECURRENT_API_TOKEN=...
    */15 * * * *  /srv/ev/venv/bin/python /srv/ev/status_to_csv.py /var/lib/ev/status.csv

It prints nothing when all is well (cron mails any output) and one line on stderr when not,
with the exit codes of the ``bluecurrent-sync`` command (3: token refused, 4: daily quota
used up, 5: cannot connect). Nothing is written unless every status was read.

Without ``BLUECURRENT_API_TOKEN`` it runs against the embedded simulator (``simulator``
extra) so that you can try it; ``BLUECURRENT_URL`` points it at another server.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import sys
from pathlib import Path

from bluecurrent_sync import BlueCurrentError, Client, to_record
from bluecurrent_sync.cli import report_error

REAL_SERVER = "wss://motown.bluecurrent.nl/haserver"
COLUMNS = (
    "read_at",
    "evse_id",
    "name",
    "activity",
    "vehicle_status",
    "total_kw",
    "actual_kwh",
    "start_datetime",
)


def read_rows(client: Client) -> list[dict[str, object]]:
    """One row per charge point: its name and its live status, read now."""
    read_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    points = client.get_charge_points()
    statuses = client.get_statuses([point.evse_id for point in points])
    rows = []
    for point in points:
        status = to_record(statuses[point.evse_id])  # enum values, aware datetimes
        row = {column: status.get(column) for column in COLUMNS}
        row.update(read_at=read_at, name=point.name)
        start = row["start_datetime"]
        row["start_datetime"] = start.isoformat() if isinstance(start, dt.datetime) else ""
        rows.append(row)
    return rows


def append_rows(path: Path, rows: list[dict[str, object]]) -> None:
    """Append ``rows`` to the CSV at ``path``, with a header if the file is new or empty."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "charge_point_status.csv")
    token = os.environ.get("BLUECURRENT_API_TOKEN")
    url = os.environ.get("BLUECURRENT_URL", REAL_SERVER)
    with contextlib.ExitStack() as stack:
        if not token:
            from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

            token, url = DEFAULT_TOKEN, stack.enter_context(Simulator(push_interval=None)).url
        try:
            # reconnect=False: a one-shot fails fast instead of retrying in the background.
            with Client(token, url=url, reconnect=False, timeout=20.0) as client:
                rows = read_rows(client)
        except ValueError as exc:  # a URL the client refuses
            print(f"status_to_csv: error: {exc}", file=sys.stderr)
            return 2
        except (BlueCurrentError, OSError) as exc:
            return report_error(
                exc, url=url, token=token, program="status_to_csv", url_setting="BLUECURRENT_URL"
            )
    append_rows(path, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
