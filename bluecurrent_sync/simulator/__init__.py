"""A local Blue Current websocket server that speaks the wire protocol (docs/PROTOCOL.md section 7).

Start one in a test, a demo or a benchmark and point a client at ``sim.url``:

```python
with Simulator(push_interval=0.5) as sim:
    client = Client(DEFAULT_TOKEN, url=sim.url)
```

or from a shell: ``python -m bluecurrent_sync.simulator --port 0`` (prints the URL first).
The server runs on ``websockets.sync.server``: a thread per connection, one accept thread
(``bluecurrent-sync-sim-accept``) and one push/timer thread (``bluecurrent-sync-sim-push``);
``stop()`` is idempotent and joins them all.

Scenario (one account, customer id ``CUST-0042``, e-mail/login ``sam@simulator.example``)
-----------------------------------------------------------------------------------------
================  ========  ==========================================================
evse_id           name      what it is
================  ========  ==========================================================
``BCU100001``     Garage    three-phase 32 A; **charging** from the start with the Home
                            card (CH_STATUS pushes, energy and cost rising); plug and
                            charge on, public charging off (linked cards only)
``BCU100002``     Driveway  single-phase 20 A, **smart charging** on (6 A limit),
                            available, no vehicle (A)
``BCU100003``     Office    three-phase, **offline** since five hours: every device or
                            setting command ends in ``success: false, error: "TIMEOUT"``
``BCU100004``     Carport   three-phase 16 A, available, vehicle connected (B); the
                            natural target for block/unblock (SET_INOPERATIVE/OPERATIVE)
================  ========  ==========================================================

``FOREIGN_EVSE_ID`` (``BCU900001``) exists but belongs to someone else: ERROR 2.
Charge cards: ``04A1B2C3D4E5F6`` (Home card) and ``04F6E5D4C3B2A1`` (Work card); the
card uid ``BCU-APP`` (in START_SESSION's ``session_token`` field) starts a session without a
card. Any other card uid → REJECTED.

Tokens: ``DEFAULT_TOKEN`` (or the ``tokens`` given). VALIDATE_API_TOKEN answers a
server-issued token (``sim.issued_token(token)``, derived from seed and token, never equal to
it); every other command needs ``"Authorization": "Token <issued>"`` or gets ERROR 1.

Options
-------
``Simulator(tokens=(DEFAULT_TOKEN,), *, push_interval=1.0, action_delay=0.2, seed=0,
host="127.0.0.1", port=0, quota=None, single_connection=False, time_scale=60.0,
ping_interval=None, close_timeout=1.0, clock=None, history=100_000)``: ``push_interval=None``
disables timed pushes; ``history`` bounds each introspection record (frames received per
connection and in all, frames sent, connections, refusals: the newest ``history`` are kept);
``time_scale`` is simulated seconds per real second (energy accounting; every push
adds at least 1 Wh); ``clock`` returns an aware datetime and drives timestamps and the quota
day. Random measurements come from ``random.Random(seed)``.

Behaviour
---------
- Pushes go only to connections that said HELLO: at every ``push_interval`` a CH_STATUS per
  charging charge point (energy and cost rising) and a flat GRID_CURRENT (``evse_id`` of
  ``BCU100001``, no ``data``).
- START_SESSION needs an ``available`` charge point and a known card (else REJECTED);
  SET_INOPERATIVE ends a running session and makes the charge point ``unavailable``;
  SET_OPERATIVE makes it ``available``. A CH_STATUS is pushed after each change.
- SET_PLUG_AND_CHARGE / SET_PUBLIC_CHARGING: ``STATUS_SET_...`` after ``action_delay``, then a
  pushed CH_SETTINGS. Smart-charging commands: ``RECEIVED_X`` then ``STATUS_X``; the change
  shows in CHARGE_POINTS (``delayed_charging``, ``price_based_charging``) and in
  ``sim.charge_point(evse_id)``.
- Override-current schedules get ids ``"1"``, ``"2"``, ...; editing an unknown id → ERROR 2;
  clearing an unknown id → ``success: false``.
- A frame that is not a JSON object → ERROR 9; an object without ``command`` or with an
  unknown one → ERROR 0; a missing/invalid ``value`` on a setting → ERROR 9.
- Quota (``quota=N``): every command attributable to a token counts (VALIDATE included;
  frames with a bad Authorization cannot be attributed and do not count). Command N+1 gets
  ERROR 42 and the connection is closed with code 4001; from then on handshakes from the
  IPs that token was used from are refused (HTTP 403,
  ``x-websocket-reject-reason: Request limit reached``) until ``reset_quota()`` or
  midnight Europe/Amsterdam.
- One connection per client (``single_connection=True``): the handshake carries no token, so
  the rule is per client IP, as on the real server: while an IP holds a HELLO'd connection,
  every new handshake from it is refused with 403 ``Already connected`` (the short
  validation connection included, so validate before connecting, as real clients do).

Protocol variants
-----------------
Where the public sources leave the server's behaviour open, ``variants={name: value}`` (or
``--variant NAME=VALUE``) picks one of the behaviours they allow; each name is an open point
of docs/PROTOCOL.md and its first value, the default, is the most likely behaviour:
``hello`` (OP-1) reply|silent; ``grid_id`` (OP-2) own|account; ``operative`` (OP-3)
ack_status|status_no_evse|ack_push|push_only; ``setting_result`` (OP-4)
setting|empty|absent; ``setting_ack`` (OP-4) none|received; ``stop_verdict`` (OP-5)
no_evse|with_evse; ``smart_replies`` (OP-6) ack_status|status_only|ack_only|echo;
``override_list`` (OP-8) data|result_command; ``settings_shape`` (OP-10) current|recorded;
``flow_id`` (OP-12) blank|echo; ``numbers`` (OP-11) finite|nan. ``VARIANTS`` describes each
value; ``variant_cases()`` lists the sets the client's tests run under.

Replay (``replay="capture.jsonl"``, ``replay_speed=1.0``)
--------------------------------------------------------
Instead of the scenario above, serve a capture written by ``Client(record=...)``: the
recorded charge points, cards, statuses and settings; the recorded answers to the commands
the capture holds (the simulator's own behaviour, on the recorded state, for the others);
the recorded pushes, each after the command it followed, with its original timing divided
by ``replay_speed``. ``python -m bluecurrent_sync.simulator --replay FILE --replay-speed X``
does the same from a shell. Details in ``_replay.py``.

Fault knobs (all thread-safe, callable while clients are connected)
--------------------------------------------------------------------
- ``drop_all() -> int``: cut every connection now, without a close frame.
- ``drop_after(frames)``: cut everything when ``frames`` more frames have arrived.
- ``drop_on(command)``: cut everything when ``command`` next arrives (before answering).
- ``delay_reply(command, seconds, *, once=True)``: delay every reply to ``command``.
- ``withhold_reply(command, *, once=True)``: never answer it (its effect still happens).
- ``corrupt_reply(command, frame, *, once=True)``: send ``frame`` (a ``MALFORMED_KINDS`` name
  or raw text/bytes) instead of the first reply.
- ``fail_action(command, error="REJECTED", *, once=True)``: the STATUS_ result fails.
- ``send_malformed(kind, *, evse_id=...) -> int``: one of ``MALFORMED_KINDS`` (not_json,
  json_array, json_scalar, binary, invalid_utf8, missing_object, missing_fields,
  wrong_types, unknown_object) to every HELLO'd client.
- ``inject(frame, *, main_only=True) -> int``: any dict/str/bytes to connected clients.
- ``flood(count, *, evse_id=...) -> int``: ``count`` CH_STATUS frames as fast as possible.
- ``exhaust_quota(token=None)`` / ``reset_quota()``.
- ``set_offline(evse_id, offline=True)``; ``push_now()`` runs one push tick at once.
- ``restart()``: stop and start on the same port, keeping all state; ``clear_faults()``.

Introspection
-------------
``connections() -> list[ConnectionInfo]`` (per connection: ``frames`` in order,
``commands()``, ``hello``, ``open``, ``remote``), ``received(command=None)``,
``count(command)``, ``active_connections``, ``request_counts()``, ``refusals()``,
``sent(object_name=None)`` (every JSON object sent: replies, pushes, injections),
``charge_point(evse_id)``, ``issued_token(token)``, ``wait_for(command, count=1, timeout=5)``,
``wait_for_sent(object_name, count=1, timeout=5)``, ``wait_for_connections(count, hello=False,
timeout=5)`` and ``wait_idle(timeout=5)`` (no delayed reply or device action pending).
"""

from __future__ import annotations

from .._extras import require_simulator_extra

require_simulator_extra(__name__)  # a clear install hint instead of a bare ModuleNotFoundError

from ._cli import build_parser, main  # noqa: E402
from ._faults import MALFORMED_KINDS, malformed_frame  # noqa: E402
from ._replay import CaptureError  # noqa: E402
from ._server import (  # noqa: E402
    ALREADY_CONNECTED_REASON,
    DEFAULT_TOKEN,
    LIMIT_CLOSE_CODE,
    LIMIT_REASON,
    REJECT_HEADER,
    ConnectionInfo,
    Simulator,
)
from ._state import CARDS, CUSTOMER_ID, EVSE_IDS, FOREIGN_EVSE_ID, NO_CARD  # noqa: E402
from ._variants import VARIANTS, Variant, Variants, variant_cases  # noqa: E402

__all__ = [
    "ALREADY_CONNECTED_REASON",
    "CARDS",
    "CUSTOMER_ID",
    "DEFAULT_TOKEN",
    "EVSE_IDS",
    "FOREIGN_EVSE_ID",
    "LIMIT_CLOSE_CODE",
    "LIMIT_REASON",
    "MALFORMED_KINDS",
    "NO_CARD",
    "REJECT_HEADER",
    "VARIANTS",
    "CaptureError",
    "ConnectionInfo",
    "Simulator",
    "Variant",
    "Variants",
    "build_parser",
    "main",
    "malformed_frame",
    "variant_cases",
]
