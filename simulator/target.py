"""
Targets: the URL a run sends to, checked once, in the exact form that is both
signed and put on the wire.

HubSpot signs the URL it calls (v2 verbatim, v3 with 12 escapes decoded, spec
§5), so the request target hubsim sends must be byte for byte the one it
signed. aiohttp would requote a URL string (``%40`` becomes ``@``, ``/a/../b``
becomes ``/b``); a :class:`Target` hands it a pre-encoded URL instead, and the
signer signs :attr:`Target.url`, which is that same text.

What is decided here, once, before any work starts:

- only ``http``/``https`` with a host; scheme and host lower-cased and a
  default port dropped, as they appear in the ``Host`` a receiver sees;
- an empty path becomes ``/`` (an HTTP request line cannot be empty);
- characters outside ASCII are percent-encoded as UTF-8 (an HTTP request line
  is ASCII; RFC 3987's mapping of an IRI to a URI); every other byte, escapes
  included, stays exactly as given;
- rejected: user names and passwords in the URL (never echoed), spaces and
  control characters, backslashes (parsers disagree on where the host ends),
  ``#fragments`` (never sent), ports outside 1-65535;
- only loopback hosts unless remote targets are allowed.

:func:`preflight` opens one TCP connection, so an unreachable target is an
error at start rather than after a day of retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit

from yarl import URL

from .errors import TargetError

_LOOPBACK_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost"}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: Bytes that cannot travel in a request line, or that parsers read differently.
_FORBIDDEN: Final = re.compile(r"[\x00-\x20\x7f\\]")
#: Unreserved, reserved and "%": ASCII that may stay as given.
_SAFE_ASCII: Final = "".join(chr(c) for c in range(0x21, 0x7F))


def redact(url: str) -> str:
    """
    ``url`` with any user name and password replaced by ``***``, for messages.
    """
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@", r"\1***@", url)


@dataclass(frozen=True, slots=True)
class Target:
    """
    A checked URL: :attr:`url` is the text signed and sent; :attr:`wire` is the
    same, pre-encoded for aiohttp so nothing is requoted.
    """

    url: str
    scheme: str
    host: str
    port: int
    #: ``host:port`` as written in the URL (IPv6 in brackets), for messages.
    netloc: str
    #: The path and query, exactly as on the request line.
    path_qs: str

    @classmethod
    def parse(cls, url: str, what: str = "target URL") -> Target:
        """
        The canonical target for ``url``, or TargetError saying what is wrong.
        """
        if not isinstance(url, str) or not url:
            raise TargetError(f"{what} is empty")
        if not re.match(r"(?i)https?://[^/?#\s]", url):
            raise TargetError(
                f"bad {what} {redact(url)!r}: expected http://host[:port]/path "
                "or https://…"
            )
        if m := _FORBIDDEN.search(url):
            char = repr(m.group())
            raise TargetError(
                f"{what} {redact(url)!r}: {char} at position {m.start() + 1} cannot "
                "be sent in a URL; percent-encode it (a space is %20)"
            )
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            reason = "the port must be 1 to 65535" if "Port" in str(exc) else exc
            raise TargetError(f"bad {what} {redact(url)!r}: {reason}") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise TargetError(
                f"bad {what} {redact(url)!r}: expected http://host[:port]/path "
                "or https://…"
            )
        if "@" in parts.netloc:
            raise TargetError(
                f"{what} {redact(url)!r} carries a user name or password; HubSpot "
                "sends none in the URL: remove it"
            )
        if parts.fragment or url.endswith("#"):
            raise TargetError(
                f"{what} {redact(url)!r}: a #fragment is never sent; remove it"
            )
        if port == 0:
            raise TargetError(
                f"bad {what} {redact(url)!r}: the port must be 1 to 65535"
            )
        host = parts.hostname.lower()
        default = _DEFAULT_PORTS[scheme]
        host_text = f"[{host}]" if ":" in host else host
        netloc = host_text if port in (None, default) else f"{host_text}:{port}"
        # The path and query as given (after the authority), never re-parsed.
        rest = url[len(parts.scheme) + 3 + len(parts.netloc) :]
        rest = quote(rest, safe=_SAFE_ASCII)
        if not rest.startswith("/"):
            rest = "/" + rest
        return cls(
            url=f"{scheme}://{netloc}{rest}",
            scheme=scheme,
            host=host,
            port=port or default,
            netloc=netloc,
            path_qs=rest,
        )

    @property
    def address(self) -> str:
        """``host:port`` with the port always shown (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def wire(self) -> URL:
        """The URL for aiohttp, already encoded: sent exactly as :attr:`url`."""
        return URL(self.url, encoded=True)

    @property
    def loopback(self) -> bool:
        """True for 127.0.0.0/8, ::1 and the localhost names."""
        return is_loopback(self.host)

    def check_allowed(self, allow_remote: bool) -> Target:
        """
        This target, or TargetError when it is not loopback and remote targets
        were not allowed: a load tester must not flood production by a typo.
        """
        if not allow_remote and not self.loopback:
            raise TargetError(
                f"{self.netloc} is not a loopback address; pass --allow-remote to "
                "send load to another host"
            )
        return self


def with_query(url: str, query: str) -> str:
    """
    ``url`` with ``query`` (already percent-encoded) appended after its own
    query, if any: what a workflow GET with query parameters calls.
    """
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


def check_target_url(url: str, allow_remote: bool = False) -> str:
    """
    The canonical form of ``url`` if hubsim may send to it, else TargetError.
    """
    return Target.parse(url).check_allowed(allow_remote).url


def is_loopback(host: str) -> bool:
    """
    True for 127.0.0.0/8, ::1 and localhost names.
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def preflight(url: str, timeout_s: float = 3.0) -> None:
    """
    Open (and close) one TCP connection to the target, or raise TargetError.

    Without it, an unreachable target under the default profile would only show
    after HubSpot's 24-hour retry schedule.
    """
    target = Target.parse(url)
    where = target.address
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port), timeout_s
        )
    except TimeoutError:
        raise TargetError(
            f"cannot reach {where}: no answer in {timeout_s:g} s"
        ) from None
    except OSError as exc:
        # asyncio words a refusal as "connect call failed (...)"; errno says it plainly.
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        raise TargetError(f"cannot reach {where}: {reason.lower()}") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
