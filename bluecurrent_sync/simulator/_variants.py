"""Server variants: one named option per open point of the protocol (docs/PROTOCOL.md).

Where the public sources leave the server's behaviour open, the simulator can behave in each
way they allow. ``Simulator(variants={"hello": "silent"})`` or, on its command line,
``--variant hello=silent``. Every variant's first value is the default: the behaviour the
sources make most likely. The client must be right under every combination; its behavioural
tests run once per value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["VARIANTS", "Variant", "Variants", "variant_cases"]


@dataclass(frozen=True)
class Variant:
    """One open point: its id in docs/PROTOCOL.md and the behaviours the simulator offers.

    Attributes:
        name: The option name.
        open_point: The docs/PROTOCOL.md entry (``OP-n``).
        values: Value -> what the simulator then does; the first is the default.
    """

    name: str
    open_point: str
    values: tuple[tuple[str, str], ...]

    @property
    def default(self) -> str:
        """The most likely behaviour."""
        return self.values[0][0]

    @property
    def choices(self) -> tuple[str, ...]:
        """Every value, the default first."""
        return tuple(value for value, _ in self.values)


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant(
            "hello",
            "OP-1",
            (
                ("reply", 'HELLO is answered with {"object": "HELLO"}'),
                ("silent", "HELLO is never answered; pushes still start"),
            ),
        ),
        Variant(
            "grid_id",
            "OP-2",
            (
                ("own", 'GRID_STATUS data.id is "GRID-<the requested evse_id>"'),
                ("account", 'data.id names the account\'s grid: "GRID-<its first charge point>"'),
            ),
        ),
        Variant(
            "operative",
            "OP-3",
            (
                ("ack_status", "SET_(IN)OPERATIVE: RECEIVED_, STATUS_ with evse_id, CH_STATUS"),
                ("status_no_evse", "RECEIVED_, STATUS_ without evse_id, CH_STATUS"),
                ("ack_push", "RECEIVED_, then only a CH_STATUS push if the activity changes"),
                ("push_only", "no reply at all; a CH_STATUS push if the activity changes"),
            ),
        ),
        Variant(
            "setting_result",
            "OP-4",
            (
                ("setting", 'a failed STATUS_SET_... carries result {"setting": ...}'),
                ("empty", 'a failed STATUS_SET_... carries "result": {}'),
                ("absent", "a failed STATUS_SET_... carries no result"),
            ),
        ),
        Variant(
            "setting_ack",
            "OP-4",
            (
                ("none", "SET_PLUG_AND_CHARGE / SET_PUBLIC_CHARGING: only STATUS_SET_..."),
                ("received", "a RECEIVED_SET_... acknowledgement first"),
            ),
        ),
        Variant(
            "stop_verdict",
            "OP-5",
            (
                ("no_evse", "STATUS_STOP_SESSION carries no evse_id (as documented)"),
                ("with_evse", "STATUS_STOP_SESSION carries the evse_id"),
            ),
        ),
        Variant(
            "smart_replies",
            "OP-6",
            (
                ("ack_status", "smart-charging commands: RECEIVED_X, then STATUS_X"),
                ("status_only", "only STATUS_X"),
                ("ack_only", "only RECEIVED_X (no verdict)"),
                ("echo", "one reply named X with success and error"),
            ),
        ),
        Variant(
            "override_list",
            "OP-8",
            (
                ("data", "LIST_OVERRIDE_CURRENT: object + data with override_*_days"),
                ("result_command", "keyed command, result list with days_of_week (docs)"),
            ),
        ),
        Variant(
            "settings_shape",
            "OP-10",
            (
                ("current", "CHARGE_POINTS / CH_SETTINGS as the current clients read them"),
                (
                    "recorded",
                    "as recorded fixtures: wrapped notification, *_charge_card key, "
                    "schedules and the extra CH_SETTINGS fields",
                ),
            ),
        ),
        Variant(
            "flow_id",
            "OP-12",
            (
                ("blank", 'replies carry no flow_id of the request (verdicts say "flow_id": "")'),
                ("echo", "every reply to a command that carried a flow_id echoes it (ERROR too)"),
            ),
        ),
        Variant(
            "numbers",
            "OP-11",
            (
                ("finite", "every number is finite"),
                ("nan", "CH_STATUS total_cost is NaN and max_offline 1e999"),
            ),
        ),
    )
}


class Variants(Mapping[str, str]):
    """The chosen value of every variant (a read-only mapping; attribute access too).

    Args:
        chosen: Name -> value for the variants that differ from the default.

    Raises:
        ValueError: An unknown variant name or value.
    """

    def __init__(self, chosen: Mapping[str, str] | None = None) -> None:
        values = {name: variant.default for name, variant in VARIANTS.items()}
        for name, value in (chosen or {}).items():
            variant = VARIANTS.get(name)
            if variant is None:
                raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
            if value not in variant.choices:
                raise ValueError(
                    f"unknown value {value!r} for variant {name!r}; "
                    f"choose from {', '.join(variant.choices)}"
                )
            values[name] = value
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:  # the attribute protocol (getattr's default), not a failure to chain
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values.items() if v != VARIANTS[k].default}
        return f"Variants({changed})"


def variant_cases() -> list[dict[str, str]]:
    """Every variant set the client is tested under: the defaults, then each other value.

    Returns:
        ``[{}, {"hello": "silent"}, {"grid_id": "account"}, ...]``.
    """
    cases: list[dict[str, str]] = [{}]
    for name, variant in VARIANTS.items():
        cases.extend({name: value} for value in variant.choices[1:])
    return cases
