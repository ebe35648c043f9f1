"""A small Flask app that shares ONE client across all request threads.

    pip install flask
    BLUECURRENT_API_TOKEN=... python examples/flask_app.py        # http://127.0.0.1:5000/

The Blue Current server allows one connection per account/IP and a daily request quota, so a
web app must not open a client per request: it opens one when the app starts and every
request thread calls it (the client's blocking calls are thread-safe; two identical reads in
flight at the same time are even sent once). Without ``BLUECURRENT_API_TOKEN`` it serves the
embedded simulator's account.

Routes (JSON):

* ``GET /``: this list of routes;
* ``GET /charge-points``: every charge point (``to_records``: flat, enum values, ISO dates);
* ``GET /status/<evse_id>``: the live status of one (404 if it is not the account's, 400 if
  it cannot be an id, such as ``/status/%20``: checked before anything is sent);
* ``PUT /charge-points/<evse_id>/plug-and-charge`` with ``{"value": true|false}``;
* ``GET /health``: whether the client is connected (it reconnects by itself).

Errors map to HTTP: quota used up 429 (with Retry-After), server unreachable or slow 503,
charge point refused 409, bad input 400.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import math
import os
from typing import Any

from flask import Flask, Response, request

from bluecurrent_sync import (
    ActionFailed,
    ApiError,
    Client,
    ConnectionClosedError,
    RequestLimitReached,
    RequestTimeoutError,
    to_record,
    to_records,
)

REAL_SERVER = "wss://motown.bluecurrent.nl/haserver"


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    def iso(value: object) -> str:
        if isinstance(value, dt.date | dt.time):
            return value.isoformat()
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    text = json.dumps(data, default=iso, allow_nan=False)
    return Response(text, status=status, headers=headers, mimetype="application/json")


def create_app(client: Client) -> Flask:
    """The Flask app, serving from ``client`` (connected, shared by every request)."""
    app = Flask(__name__)

    @app.get("/")
    def index() -> Response:
        return _json(
            {
                "routes": [
                    "GET /charge-points",
                    "GET /status/<evse_id>",
                    "PUT /charge-points/<evse_id>/plug-and-charge",
                    "GET /health",
                ]
            }
        )

    @app.get("/health")
    def health() -> Response:
        return _json({"connected": client.connected}, 200 if client.connected else 503)

    @app.get("/charge-points")
    def charge_points() -> Response:
        return _json(to_records(client.get_charge_points()))

    @app.get("/status/<evse_id>")
    def status(evse_id: str) -> Response:
        return _json(to_record(client.get_status(evse_id)))

    @app.put("/charge-points/<evse_id>/plug-and-charge")
    def plug_and_charge(evse_id: str) -> Response:
        body = request.get_json(silent=True)
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, bool):
            return _json({"error": 'send {"value": true} or {"value": false}'}, 400)
        return _json(to_record(client.set_plug_and_charge(evse_id, value)))

    @app.errorhandler(ValueError)
    @app.errorhandler(TypeError)
    def bad_input(exc: Exception) -> Response:  # the client checks arguments before sending
        return _json({"error": str(exc)}, 400)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        code = 404 if exc.code == 2 else 502  # 2: not one of this account's charge points
        return _json({"error": str(exc)}, code)

    @app.errorhandler(ActionFailed)
    def refused(exc: ActionFailed) -> Response:
        return _json({"error": str(exc)}, 409)

    @app.errorhandler(RequestLimitReached)
    def quota(exc: RequestLimitReached) -> Response:
        wait = max(1, math.ceil(exc.retry_after))
        return _json({"error": str(exc)}, 429, {"Retry-After": str(wait)})

    @app.errorhandler(ConnectionClosedError)
    @app.errorhandler(RequestTimeoutError)
    def unavailable(exc: Exception) -> Response:
        return _json({"error": str(exc)}, 503, {"Retry-After": "5"})

    return app


def main() -> None:
    token = os.environ.get("BLUECURRENT_API_TOKEN")
    url = os.environ.get("BLUECURRENT_URL", REAL_SERVER)
    if not token:
        from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator

        simulator = Simulator().start()
        atexit.register(simulator.stop)
        token, url = DEFAULT_TOKEN, simulator.url
    client = Client(token, url=url).connect()  # one client for the whole process
    atexit.register(client.close)
    options: dict[str, Any] = {"threaded": True}  # a thread per request, one shared client
    create_app(client).run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), **options)


if __name__ == "__main__":
    main()
