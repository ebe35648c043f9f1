"""Which HTTP proxy a connection goes through, decided once when a client is made.

The transport reaches a proxy with an HTTP ``CONNECT`` tunnel (``_transport.py``); this module
only validates a proxy URL and picks one:

* ``proxy=False``: never a proxy.
* ``proxy="http://[user:password@]host[:port]"``: that proxy, whatever the environment says
  (``no_proxy`` included).
* ``proxy=None`` (the default): the environment, read by the standard library the way
  urllib (and requests) read it: :func:`urllib.request.getproxies_environment` finds the
  ``<scheme>_proxy`` variables in any letter case, the lower-case spelling winning (an empty
  lower-case one turns the others off), and it ignores ``HTTP_PROXY`` when ``REQUEST_METHOD``
  is set (a CGI program, where a request header could set it: "httpoxy"). A ``wss://`` server
  uses ``https_proxy``, a ``ws://`` one ``http_proxy``, either falling back to ``all_proxy``.
  ``no_proxy`` is applied by :func:`urllib.request.proxy_bypass_environment`: ``*`` alone
  turns every proxy off, otherwise a comma-separated list of host names (each matching the
  host and its subdomains; a leading ``.`` is ignored) or addresses, optionally with
  ``:port``; address ranges (CIDR) and ``*.`` patterns are not understood. A server on this
  machine (``localhost``, 127.0.0.0/8, ``::1``) is never reached through an environment proxy.

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
import os
import re
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

from ._lazy import LazyModule
from ._url import ascii_host, is_loopback_host

if TYPE_CHECKING:
    import urllib.request as urllib_request
else:  # it imports http.client and ssl: only when a client reads the environment
    urllib_request = LazyModule("urllib.request")

__all__ = ["Proxy", "choose_proxy", "parse_proxy", "proxy_from_environment"]

_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


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
    if ascii_host(host) is None:
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


def choose_proxy(url: str, proxy: str | bool | None) -> Proxy | None:
    """The proxy a client of ``url`` uses.

    Args:
        url: The (validated) ``ws://`` / ``wss://`` server URL.
        proxy: An ``http://`` proxy URL (used for every host), False (never a proxy) or None
            (the environment: :func:`proxy_from_environment`).

    Returns:
        The proxy, or None to connect directly.

    Raises:
        TypeError: ``proxy`` is not a string, None or False.
        ValueError: A malformed proxy URL, given or read from the environment (the message
            names the variable).
    """
    if proxy is None:
        return proxy_from_environment(url)
    if proxy is False:
        return None
    if not isinstance(proxy, str):
        raise TypeError(
            f"proxy must be an http:// URL, None or False, got {type(proxy).__name__}"
            + (" True" if proxy is True else "")
        )
    return parse_proxy(proxy)


def proxy_from_environment(url: str) -> Proxy | None:
    """The proxy the environment sets for ``url`` (see the module docstring), or None.

    The variables are read by :func:`urllib.request.getproxies_environment` and ``no_proxy``
    is applied by :func:`urllib.request.proxy_bypass_environment` (given ``host:port``, an
    IPv6 address in brackets, as urllib gives it); this function adds only the loopback rule,
    the choice between the scheme's variable and ``all_proxy``, and the refusal of a
    malformed value.

    Raises:
        ValueError: The variable that applies holds a malformed value (named in the message).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    if is_loopback_host(host):
        return None
    proxies = urllib_request.getproxies_environment()
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # Public in urllib (requests calls it too) but missing from typeshed's stubs.
    if urllib_request.proxy_bypass_environment(address, proxies):  # type: ignore[attr-defined]
        return None
    for scheme in ("https" if secure else "http", "all"):
        value = proxies.get(scheme, "").strip()
        if value:
            return parse_proxy(value, _variable_of(scheme, proxies[scheme]))
    return None


def _variable_of(scheme: str, value: str) -> str:
    """The environment variable ``getproxies_environment`` read ``value`` from for ``scheme``.

    The lower-case name when it holds the value (urllib prefers it), else the first other
    spelling of ``<scheme>_proxy`` that does.
    """
    name = f"{scheme}_proxy"
    if os.environ.get(name) == value:
        return name
    return next(
        (key for key, held in os.environ.items() if key.lower() == name and held == value), name
    )


def _without_userinfo(value: str) -> str:
    """``value`` for a message: everything before the last ``@`` (credentials) replaced."""
    if "@" not in value:
        return value
    scheme, sep, _rest = value.partition("://")
    prefix = f"{scheme}://" if sep else ""
    return f"{prefix}***@{value.rpartition('@')[2]}"
