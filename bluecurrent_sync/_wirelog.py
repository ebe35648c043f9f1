"""The wire log: a frame tap that logs every text frame at DEBUG on ``bluecurrent_sync.wire``.

Off unless that logger is enabled for DEBUG:

```python
logging.basicConfig(level=logging.INFO)
logging.getLogger("bluecurrent_sync.wire").setLevel(logging.DEBUG)
```

Each record reads ``<connection> <in|out> <frame>``. Both secrets are redacted: the API
token (known from the start) and the token the server issues in its STATUS_API_TOKEN reply
(learned from that reply, and from any ``Authorization: Token ...`` the client sends). The
value of every ``token`` / ``Authorization`` key, and every occurrence of either secret inside
any other string (a server that echoes a frame back), becomes ``<redacted>``.
"""

from __future__ import annotations

import logging

from ._log import WIRE
from ._redact import REDACTED, Redactor
from ._tap import ConnectionKind, Direction

__all__ = ["REDACTED", "WireLogTap"]

logger = logging.getLogger(WIRE)


class WireLogTap:
    """Logs frames on ``bluecurrent_sync.wire`` with the secrets redacted.

    Args:
        api_token: The user's API token.
    """

    __slots__ = ("_redactor",)

    def __init__(self, api_token: str) -> None:
        self._redactor = Redactor(api_token)

    def __repr__(self) -> str:
        return "<WireLogTap>"

    def frame(self, direction: Direction, text: str, connection: ConnectionKind) -> None:
        """Learn a server-issued token if the frame carries one; log it if DEBUG is on."""
        # An outgoing Authorization is read only until the issued token is known: every
        # command carries it, and parsing each one would cost a send its time.
        if direction == "in" or not self._redactor.learned:
            self._redactor.learn_from_text(text)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s %s", connection, direction, self.redact(text))

    def connection_event(self, event: str, connection: ConnectionKind, detail: str) -> None:
        """Log a connection opened or closed (``detail`` is already redacted by the transport)."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s %s", connection, event, self._redactor.scrub(detail))

    def redact(self, text: str) -> str:
        """Return ``text`` (a frame) with both secrets replaced by ``<redacted>``."""
        return self._redactor.scrub_frame_text(text)
