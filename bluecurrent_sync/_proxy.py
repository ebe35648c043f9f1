"""Which HTTP proxy a connection goes through, decided once when a client is made.

The transport reaches a proxy with an HTTP ``CONNECT`` tunnel (``_transport.py``); this module
only validates a proxy URL and picks one:

* ``proxy=False``: never a proxy.
* ``proxy="http://[user:password@]host[:port]"``: that proxy, whatever the environment says
  (``no_proxy`` included).
* ``proxy=None`` (the default): the environment, the way curl and requests read it: for a
  ``wss://`` server ``https_proxy`` then ``HTTPS_PROXY``, for ``ws://`` ``http_proxy`` then
  ``HTTP_PROXY``, then ``all_proxy`` / ``ALL_PROXY``; the first one set and not empty wins.
  ``no_proxy`` / ``NO_PROXY`` (comma-separated: ``*``, host names matching the host and its
  subdomains, ``.suffix``, IP addresses, CIDR blocks, each optionally with ``:port``) turns the
  proxy off for the hosts it names. ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set
  (a CGI program, where a request header could set it: "httpoxy"). A server on this machine
  (``localhost``, 127.0.0.0/8, ``::1``) is never reached through an environment proxy.

Only ``http://`` proxies are supported (the tunnel itself still carries TLS end to end for
``wss://``); ``https://`` proxies (TLS to the proxy) and SOCKS proxies are refused with a
:class:`ValueError`. A value without a scheme (``proxy.example:3128``, common in environment
variables) is read as ``http://``; without a port, port 80 (the ``http`` default).

A malformed environment value is not skipped: the user asked for a proxy, and connecting
directly would fail in a more confusing way (or bypass a proxy the network requires), so
making the client raises a :class:`ValueError` naming the variable.

Credentials (``user:password@``, percent-decoded) are kept for the ``Proxy-Authorization``
header only: no message, ``repr`` or log line shows them.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import SplitResult, unquote, urlsplit

from ._url import is_loopback_host

__all__ = ["Proxy", "choose_proxy", "parse_proxy", "proxy_from_environment"]

_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


class Proxy:
    """A validated ``http://`` proxy: where it is and, optionally, how to log in to it.

    Args:
        host: Host name or IP address (IPv6 without brackets).
        port: TCP port.
        username: Percent-decoded user name (None: no credentials).
        password: Percent-decoded password (used only with ``username``).

    Attributes:
        host: As given.
        port: As given.
    """

    __slots__ = ("_password", "_username", "host", "port")

    def __init__(
        self, host: str, port: int, username: str | None = None, password: str = ""
    ) -> None:
        self.host = host
        self.port = port
        self._username = username
        self._password = password

    @property
    def display(self) -> str:
        """``host:port`` (brackets around an IPv6 address); never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` header value (``Basic ...``), or None without credentials."""
        if self._username is None:
            return None
        secret = f"{self._username}:{self._password}".encode()
        return "Basic " + base64.b64encode(secret).decode("ascii")

    def __repr__(self) -> str:
        login = ", with credentials" if self._username is not None else ""
        return f"<Proxy http://{self.display}{login}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Proxy):
            return NotImplemented
        return (self.host, self.port, self._username, self._password) == (
            other.host,
            other.port,
            other._username,
            other._password,
        )

    def __hash__(self) -> int:
        return hash((self.host, self.port))


def parse_proxy(value: str, source: str = "proxy") -> Proxy:
    """Validate a proxy URL.

    Args:
        value: ``http://[user:password@]host[:port][/]``; without a scheme ``http://`` is
            assumed, without a port 80.
        source: What the value came from, for the error message (``"proxy"`` or the name of
            an environment variable).

    Returns:
        The proxy.

    Raises:
        ValueError: Empty, whitespace or control characters, another scheme than ``http``
            (``https://`` and SOCKS proxies are not supported), no host or an invalid one, a
            port that is not a number from 1 to 65535, or a path, query or fragment. The
            message never contains the credentials.
    """
    what = "proxy" if source == "proxy" else f"the environment variable {source}"
    if not value:
        raise ValueError(f"{what} is empty; expected http://host:port")
    shown = _without_userinfo(value)
    if _WHITESPACE_OR_CONTROL.search(value):
        raise ValueError(f"{what} must not contain spaces or control characters: {shown!r}")
    text = value if "://" in value else f"http://{value}"
    scheme = text.split("://", 1)[0].lower()
    if scheme == "https":
        raise ValueError(
            f"{what}: https:// proxies (TLS to the proxy) are not supported; use the proxy's "
            f"http:// address (a wss:// connection stays encrypted end to end through it): "
            f"{shown!r}"
        )
    if scheme.startswith("socks"):
        raise ValueError(f"{what}: SOCKS proxies are not supported, only http://: {shown!r}")
    if scheme != "http":
        raise ValueError(f"{what} must be an http:// URL, got {scheme}:// in {shown!r}")
    parts, port = _split(text)
    if parts is None:  # raised here, not in an except block: no __context__ (it shows the URL)
        raise ValueError(
            f"{what} has an invalid host or port (expected a port from 1 to 65535): {shown!r}"
        )
    host = parts.hostname or ""
    if not _valid_host(host):
        raise ValueError(f"{what} has no valid host: {shown!r}")
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"{what} has an invalid port (expected 1 to 65535): {shown!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"{what} must be http://host:port, without a path or query: {shown!r}")
    username = None if parts.username is None else unquote(parts.username)
    password = unquote(parts.password or "")
    return Proxy(host, port or 80, username, password)


def _split(text: str) -> tuple[SplitResult | None, int | None]:
    """``urlsplit(text)`` and its port; ``(None, None)`` for a bad port or an unclosed "["."""
    try:
        parts = urlsplit(text)
        return parts, parts.port
    except ValueError:  # its message quotes the netloc, password included: dropped here
        return None, None


def choose_proxy(
    url: str, proxy: str | bool | None, environ: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy a client of ``url`` uses.

    Args:
        url: The (validated) ``ws://`` / ``wss://`` server URL.
        proxy: An ``http://`` proxy URL (used for every host), False (never a proxy) or None
            (the environment: :func:`proxy_from_environment`).
        environ: The environment (default: ``os.environ``).

    Returns:
        The proxy, or None to connect directly.

    Raises:
        TypeError: ``proxy`` is not a string, None or False.
        ValueError: A malformed proxy URL, given or read from the environment (the message
            names the variable).
    """
    if proxy is None:
        return proxy_from_environment(url, os.environ if environ is None else environ)
    if proxy is False:
        return None
    if not isinstance(proxy, str):
        raise TypeError(
            f"proxy must be an http:// URL, None or False, got {type(proxy).__name__}"
            + (" True" if proxy is True else "")
        )
    return parse_proxy(proxy)


def proxy_from_environment(url: str, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy the environment sets for ``url`` (see the module docstring), or None.

    Raises:
        ValueError: The variable that applies holds a malformed value (named in the message).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    if is_loopback_host(host) or _bypassed(host, port, environ):
        return None
    names = ["https_proxy", "HTTPS_PROXY"] if secure else ["http_proxy", "HTTP_PROXY"]
    if "REQUEST_METHOD" in environ and "HTTP_PROXY" in names:  # CGI: see the module docstring
        names.remove("HTTP_PROXY")
    for name in [*names, "all_proxy", "ALL_PROXY"]:
        value = environ.get(name, "").strip()
        if value:
            return parse_proxy(value, name)
    return None


def _bypassed(host: str, port: int, environ: Mapping[str, str]) -> bool:
    """Whether ``no_proxy`` (or ``NO_PROXY``) names ``host`` (with ``port``)."""
    value = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in value.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, entry_port = _split_entry(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass  # a name: it cannot match an address
            continue
        name = entry.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``(host, port)`` of a ``no_proxy`` entry: ``name``, ``name:port``, ``[v6]:port``, CIDR."""
    if entry.startswith("["):
        inside, _, after = entry[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
        return inside, int(port) if port.isdigit() else None
    if entry.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


def _valid_host(host: str) -> bool:
    if not host:
        return False
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    return len(ascii_host) <= 253 and all(_HOST_NAME.fullmatch(label) for label in labels)


def _without_userinfo(value: str) -> str:
    """``value`` for a message: everything before the last ``@`` (credentials) replaced."""
    if "@" not in value:
        return value
    scheme, sep, _rest = value.partition("://")
    prefix = f"{scheme}://" if sep else ""
    return f"{prefix}***@{value.rpartition('@')[2]}"
