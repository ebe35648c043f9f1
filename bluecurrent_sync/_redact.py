"""The one place secrets are removed from text: frames, messages, logs, captures, CLI output.

Two secrets exist: the user's API token and the token the server issues at validation. A `Redactor`
belongs to one client (no module-global state); it knows the API token from the start and learns
each server-issued token as it arrives. The transport passes every incoming frame's text through
`Redactor.scrub()` before anything else sees it, so an ERROR message or field that echoes a token
never reaches an exception, a log line or the CLI. The scrub works on decoded values too: a JSON
string literal written with escapes (``"\\u0073..."``) is decoded, scrubbed and written back, so a
token a server spells with escapes is redacted like a plain one. Frame taps still see the wire text
as it was (a tap redacts for itself, see ``_tap.py``).

`redact_keys()` is the key-based rule (``token`` / ``Authorization`` values at any depth) used for
frames the client itself builds, whose secret values sit under those keys. The wire log and the
capture recorder each hold a `Redactor` of their own that learns the server-issued token from the
frames they see (`Redactor.learn_from()`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "Redactor", "redact_keys"]

#: What a secret is replaced with.
REDACTED = "<redacted>"

_SECRET_KEYS = frozenset({"token", "authorization"})
_AUTH_PREFIX = "Token "

#: Server-issued tokens remembered per client: the current one and a few earlier ones (an
#: echo of an old token after a re-validation is still scrubbed); bounded memory.
_MAX_SECRETS = 8


def redact_keys(value: Any, marker: str = REDACTED) -> Any:
    """Return a deep copy of ``value`` with every ``token``/``Authorization`` value replaced.

    Keys are matched case-insensitively at any depth, including inside lists; the input is
    not modified.

    Args:
        value: A decoded JSON value (usually a frame dict).
        marker: The replacement text.

    Returns:
        The copy.
    """
    if isinstance(value, Mapping):
        return {
            k: marker if _is_secret_key(k) else redact_keys(v, marker) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_keys(item, marker) for item in value]
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in _SECRET_KEYS


class Redactor:
    """Knows one client's secrets and removes them from any text or decoded frame.

    Args:
        secrets: The secrets known from the start (the API token).
    """

    __slots__ = ("_fixed", "_issued", "_secrets", "learned")

    def __init__(self, *secrets: str) -> None:
        self._fixed: tuple[str, ...] = tuple(s for s in secrets if s)
        self._issued: tuple[str, ...] = ()
        self._secrets: tuple[str, ...] = self._fixed
        #: How many server-issued secrets are remembered (at most a few).
        self.learned = 0

    def __repr__(self) -> str:
        return f"<Redactor secrets={len(self._secrets)}>"

    def learn(self, secret: str | None) -> None:
        """Remember another secret (a server-issued token); empty values are ignored."""
        if not secret or secret in self._secrets:
            return
        self._issued = (*self._issued, secret)[-_MAX_SECRETS:]
        self.learned = len(self._issued)
        # Longest first: a secret that contains another is replaced whole.
        self._secrets = tuple(sorted({*self._fixed, *self._issued}, key=len, reverse=True))

    def learn_from(self, frame: Any) -> None:
        """Learn every secret a decoded frame carries.

        The values of ``token`` keys (the STATUS_API_TOKEN reply) and the ``<t>`` of an
        ``Authorization: Token <t>`` the client sends.
        """
        found: list[str] = []
        _collect(frame, found)
        for secret in found:
            self.learn(secret)

    def learn_from_text(self, text: str) -> None:
        """`learn_from()` for a frame's text; text that is not JSON is ignored."""
        if "oken" not in text:  # cheap: frames that carry a token are rare
            return
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            return
        self.learn_from(frame)

    def hit(self, text: str) -> bool:
        """Whether ``text`` contains a secret, also one written with JSON escapes.

        Cheap: one substring search per secret; JSON string literals are decoded only in a
        text that holds a backslash.
        """
        for secret in self._secrets:  # (a loop, not any(): this runs for every frame)
            if secret in text:
                return True
        return (
            "\\" in text
            and bool(self._secrets)
            and any(self._escaped_hit(m.group()) for m in _STRING_LITERAL.finditer(text))
        )

    def scrub(self, text: str) -> str:
        """Return ``text`` with every occurrence of a secret replaced by ``<redacted>``.

        A secret inside a JSON string literal written with escapes (``"\\u0073..."``, as a
        hostile server may send it) is found too: such a literal is decoded, scrubbed and
        written back, so the text decodes to the same value with the secret redacted.
        """
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if "\\" in text and self._secrets:
            text = _STRING_LITERAL.sub(self._scrub_literal, text)
        return text

    def _escaped_hit(self, literal: str) -> bool:
        value = _decode_literal(literal)
        return value is not None and any(secret in value for secret in self._secrets)

    def _scrub_literal(self, match: re.Match[str]) -> str:
        literal = match.group()
        if not self._escaped_hit(literal):
            return literal
        value = _decode_literal(literal)
        assert value is not None  # _escaped_hit decoded it
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return json.dumps(value)  # ASCII: a lone surrogate stays an escape

    def scrub_value(self, value: Any, *, whole: bool = False) -> Any:
        """Return a copy of a decoded JSON value with secrets removed from every string.

        ``token``/``Authorization`` values (other than null) are replaced whole, whatever
        they hold; so are keys that contain a secret.

        Args:
            value: A decoded JSON value.
            whole: Replace a string that contains a secret entirely (the capture format),
                instead of only the secret inside it.
        """
        if isinstance(value, str):
            if whole:
                return REDACTED if self.hit(value) else value
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {
                self.scrub_value(k, whole=whole) if isinstance(k, str) else k: (
                    REDACTED
                    if _is_secret_key(k) and v is not None
                    else self.scrub_value(v, whole=whole)
                )
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.scrub_value(item, whole=whole) for item in value]
        return value

    def scrub_frame_text(self, text: str) -> str:
        """A frame's text with its secrets removed, as compact JSON when it is JSON.

        Secret keys are replaced whole (`scrub_value()`); text that is not JSON has each secret
        replaced (`scrub()`).
        """
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            return self.scrub(text)
        return json.dumps(self.scrub_value(frame), ensure_ascii=False, separators=(",", ":"))

    def scrub_error(self, error: BaseException) -> BaseException:
        """Remove secrets from an exception's arguments and text attributes, in place.

        Returns:
            The same exception (for ``raise redactor.scrub_error(exc)``).
        """
        if not self._secrets:
            return error
        error.args = tuple(self.scrub_value(a) for a in error.args)
        for name in ("message", "error", "raw"):
            current = getattr(error, name, None)
            if isinstance(current, (str, Mapping, list)):
                # A read-only attribute: nothing we can change.
                with contextlib.suppress(AttributeError):
                    setattr(error, name, self.scrub_value(current))
        return error


#: A JSON string literal that holds at least one escape (the unrolled-loop form: linear).
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)+"', re.DOTALL)


def _decode_literal(literal: str) -> str | None:
    """The value of a JSON string literal, or None when it is not one."""
    try:
        value = json.loads(literal, strict=False)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _collect(value: Any, found: list[str], key: object = None) -> None:
    """Gather the values of ``token`` keys and the ``<t>`` of ``Authorization: Token <t>``."""
    if isinstance(value, Mapping):
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
