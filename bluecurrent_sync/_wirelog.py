"""The wire log: a frame tap that logs every text frame at DEBUG on ``bluecurrent_sync.wire``.

Off unless that logger is enabled for DEBUG::

    logging.basicConfig(level=logging.INFO)
    logging.getLogger("bluecurrent_sync.wire").setLevel(logging.DEBUG)

Each record reads ``<connection> <in|out> <frame>``. Both secrets are redacted: the API
token (known from the start) and the token the server issues in its STATUS_API_TOKEN reply
(learned from that reply, and from any ``Authorization: Token ...`` the client sends). The
value of every ``token`` / ``Authorization`` key, and every occurrence of either secret inside
any other string (a server that echoes a frame back), becomes ``<redacted>``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ._log import WIRE
from ._tap import ConnectionKind, Direction

__all__ = ["REDACTED", "WireLogTap"]

REDACTED = "<redacted>"
_SECRET_KEYS = frozenset({"token", "authorization"})
_AUTH_PREFIX = "Token "

logger = logging.getLogger(WIRE)


class WireLogTap:
    """Logs frames on ``bluecurrent_sync.wire`` with the secrets redacted.

    Args:
        api_token: The user's API token.
    """

    __slots__ = ("_secrets",)

    def __init__(self, api_token: str) -> None:
        self._secrets: tuple[str, ...] = (api_token,) if api_token else ()

    def __repr__(self) -> str:
        return f"<WireLogTap secrets={len(self._secrets)}>"

    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        """Learn a server-issued token if the frame carries one; log it if DEBUG is on."""
        # Cheap pre-checks: replies that carry a token are rare; an outgoing Authorization
        # is read only until the issued token is known.
        if "oken" in text and (direction == "in" or len(self._secrets) < 2):
            self._learn(text)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s %s", connection, direction, self.redact(text))

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        """Log a connection opened or closed (``detail`` is already redacted by the transport)."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s %s", connection, event, self._scrub(detail))

    def redact(self, text: str) -> str:
        """Return ``text`` (a frame) with both secrets replaced by ``<redacted>``."""
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            return self._scrub(text)
        return json.dumps(self._walk(None, frame), ensure_ascii=False, separators=(",", ":"))

    def _learn(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            return
        found: list[str] = []
        _collect(frame, found)
        new = tuple(s for s in found if s and s not in self._secrets)
        if new:
            # Longest first, so that a secret containing another is replaced whole.
            self._secrets = tuple(sorted({*self._secrets, *new}, key=len, reverse=True))

    def _walk(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and key.lower() in _SECRET_KEYS and value is not None:
            return REDACTED
        if isinstance(value, dict):
            return {self._scrub(str(k)): self._walk(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(None, item) for item in value]
        if isinstance(value, str):
            return self._scrub(value)
        return value

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _collect(value: Any, found: list[str], key: object = None) -> None:
    """Gather the values of ``token`` keys and the ``<t>`` of ``Authorization: Token <t>``."""
    if isinstance(value, dict):
        for k, v in value.items():
            _collect(v, found, k)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)
    elif isinstance(value, str) and isinstance(key, str):
        lowered = key.lower()
        if lowered == "token":
            found.append(value)
        elif lowered == "authorization":
            found.append(value.removeprefix(_AUTH_PREFIX).strip() or value)
