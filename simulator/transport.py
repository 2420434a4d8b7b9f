"""
One signed HTTP attempt: every request hubsim makes goes through
:func:`send`, so every sender (delivery, contract, the pytest plugin, actions)
puts the same bytes on the wire and names failures in one vocabulary.

A failure on the wire is data, never an exception: :class:`Answer` carries
either a status or one of :data:`ERROR_KINDS`. The Locust user goes through
Locust's own client (to keep Locust's statistics) but uses :func:`classify`
and the same signing and bodies.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from yarl import URL

#: How a request can fail without an HTTP answer.
ERROR_KINDS: Final = (
    "timeout",
    "connect_error",
    "reset",
    "dns_error",
    "tls_error",
    "client_error",
)
#: Response bodies kept for callers that ask (contract, trigger): bounded.
MAX_KEPT_BODY: Final = 64 * 1024
_RA: Final = "Retry-After"


# Not frozen: one per request, and frozen costs 3x to build.
@dataclass(slots=True)
class Answer:
    """
    What came back for one request: a status, or an error kind.
    """

    status: int | None
    error: str | None
    latency_s: float
    retry_after: str | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True for a 2xx: HubSpot counts any 2xx as delivered."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        """``204``, ``503``, ``timeout`` …: a short label for tables."""
        if self.status is None:
            return self.error or "no_answer"
        return str(self.status)


def classify(exc: BaseException) -> str:
    """
    The error kind (:data:`ERROR_KINDS`) of an exception raised while sending.
    """
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns_error"
    if isinstance(
        exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError
    ):
        return "tls_error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientConnectionResetError
        | aiohttp.ClientPayloadError,
    ):
        return "reset"
    if isinstance(exc, aiohttp.ClientOSError):
        return (
            "reset" if exc.errno in (errno.ECONNRESET, errno.EPIPE) else "connect_error"
        )
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    return "client_error"


def session(
    max_connections: int,
    timeout_s: float,
    connect_timeout_s: float | None = None,
) -> aiohttp.ClientSession:
    """
    A client session for one run: at most ``max_connections`` sockets, the
    response timeout on every request, no cookies (HubSpot keeps none).
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections),
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
    )


async def send(
    client: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: Mapping[str, str],
    method: str = "POST",
    keep_body: bool = False,
    now: Callable[[], float] = time.perf_counter,
) -> Answer:
    """
    One request to ``url`` (pre-encoded: see :class:`~simulator.target.Target`),
    never redirected. ``now`` times it (the run's clock, so a ManualClock run
    measures in its own time); ``keep_body`` keeps the answer's body and headers.
    """
    t0 = now()
    try:
        async with client.request(
            method,
            url,
            data=body if body or method != "GET" else None,
            headers=headers,
            allow_redirects=False,
        ) as resp:
            data = await resp.read()  # drained, so the connection is reused
            if not keep_body:
                return Answer(resp.status, None, now() - t0, resp.headers.get(_RA))
            return Answer(
                resp.status,
                None,
                now() - t0,
                resp.headers.get(_RA),
                data[:MAX_KEPT_BODY],
                dict(resp.headers),
            )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Answer(None, classify(exc), now() - t0)
