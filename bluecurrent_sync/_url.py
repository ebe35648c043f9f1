"""Validation of the server URL, done once when a :class:`~bluecurrent_sync.Client` is made.

Everything a URL can get wrong is caught here with one clear :class:`ValueError` (or a
:class:`TypeError` for a non-string), so that ``connect()`` never meets a URL the
transport would refuse with an error of its own.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

__all__ = ["ascii_host", "is_loopback_host", "is_loopback_url", "public_url", "validate_url"]

_SCHEMES = ("ws", "wss")
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
#: ``scheme://`` (if any), then the authority up to the path, query or fragment.
_AUTHORITY = re.compile(r"^(?P<scheme>[^:/?#]*://)?(?P<authority>[^/?#]*)(?P<rest>.*)$", re.DOTALL)


def public_url(url: str) -> str:
    """``url`` as it may be shown: without userinfo (``user:password@``), query or fragment.

    Never raises, also for a URL that does not parse: everything up to the last ``@`` of
    the authority and everything from the first ``?`` or ``#`` is cut off textually.
    """
    match = _AUTHORITY.match(url)
    if match is None:  # pragma: no cover - the pattern matches every string
        return ""
    authority = match["authority"].rpartition("@")[2]
    path = re.split(r"[?#]", match["rest"], maxsplit=1)[0]
    return f"{match['scheme'] or ''}{authority}{path}"


def validate_url(url: object, allow_insecure: bool) -> str:
    """Check a websocket URL and return it with its scheme in lower case.

    Args:
        url: The URL, for example ``"wss://motown.bluecurrent.nl/haserver"``. The scheme is
            case-insensitive (``WSS://`` is accepted and normalised).
        allow_insecure: Allow plain ``ws://`` to a host that is not this machine.

    Returns:
        The URL, unchanged except for the scheme, which is lower-cased.

    Raises:
        TypeError: ``url`` is not a string.
        ValueError: The URL is empty, contains whitespace or control characters, its scheme
            is not ``ws``/``wss``, it has no host or an invalid one, its port is not a number
            from 1 to 65535, it has a ``#fragment`` (not allowed in websocket URLs), or it is
            plain ``ws://`` to another machine without ``allow_insecure``. The message
            shows the URL without its userinfo and query (:func:`public_url`).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    if not url:
        raise ValueError("url is empty; expected a ws:// or wss:// URL")
    if _WHITESPACE_OR_CONTROL.search(url):
        raise ValueError(f"url must not contain spaces or control characters: {public_url(url)!r}")
    parts = _split(url)
    if parts.scheme not in _SCHEMES:
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"url must start with ws:// or wss://, got {shown} in {public_url(url)!r}")
    host = _host(parts, url)
    _port(parts, url)
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"a websocket url cannot have a #fragment: {public_url(url)!r}")
    if parts.scheme == "ws" and not allow_insecure and not is_loopback_host(host):
        raise ValueError(
            f"refusing unencrypted ws:// to non-loopback host {host!r}; "
            "use wss:// or pass allow_insecure=True"
        )
    return parts.scheme + url[len(parts.scheme) :]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost`` or a loopback address).

    Never raises: a URL that cannot be parsed is not loopback.
    """
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return is_loopback_host(host)


def ascii_host(host: str) -> str | None:
    """``host`` as it goes on the wire, or None when it is not a valid host.

    The one host check of the package: the server URL's host (:func:`validate_url`), a proxy's
    host (``_proxy.py``) and the target of a proxy tunnel (``_dial.py``) all go through it.

    Args:
        host: A host as :func:`urllib.parse.urlsplit` gives it (``hostname``): an IPv6 address
            without brackets (an optional ``%zone`` allowed), an IPv4 address or a host name
            (international names allowed).

    Returns:
        An IPv6 address unchanged; an IPv4 address or a host name in its ASCII (IDNA) form.
        None for an empty host, an invalid IPv6 address, a name IDNA cannot encode, a label
        of other characters than letters, digits, ``-`` and ``_`` (or starting or ending with
        ``-``, or longer than 63), or a name longer than 253 characters.
    """
    if ":" in host:  # only an IPv6 literal (in brackets) can hold a colon here
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
        return host
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:  # also an empty label ("a..b") or one over 63 characters
        return None
    labels = ascii_name.rstrip(".").split(".")
    if len(ascii_name) > 253 or not all(_HOST_NAME.fullmatch(label) for label in labels):
        return None
    return ascii_name


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 address
        raise ValueError(f"url is not a valid URL ({exc}): {public_url(url)!r}") from exc


def _host(parts: SplitResult, url: str) -> str:
    host = parts.hostname
    if not host:
        raise ValueError(f"url has no host: {public_url(url)!r}")
    if ascii_host(host) is None:
        what = "IPv6 address" if ":" in host else "host name"
        raise ValueError(f"url has an invalid {what} {host!r}: {public_url(url)!r}")
    return host


def _port(parts: SplitResult, url: str) -> None:
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or outside 0-65535 (its message: the port only)
        text = parts.netloc.rpartition(":")[2]
        raise ValueError(
            f"url has an invalid port {text!r} (expected a number from 1 to 65535): "
            f"{public_url(url)!r}"
        ) from exc
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"url has an invalid port (expected 1 to 65535): {public_url(url)!r}")
