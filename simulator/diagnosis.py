"""
Why a receiver rejects valid requests: the same events sent again, each time
signed a little differently, until one variant is accepted. The variant that
is accepted names the receiver's bug in one plain sentence, with the
evidence: "accepted when signed over X, rejected when signed over Y".

The variants are the bugs integrators actually write:

- the body: verified after re-serialising (``json.dumps`` defaults, or
  compact with ``\\uXXXX`` escapes) instead of over the raw bytes;
- the URL: the other scheme (``http`` behind a TLS proxy), the socket's host
  instead of the forwarded one, the path without its query, escapes decoded;
- the timestamp read as seconds, so every request looks stale;
- nothing accepted: the secret (or the scheme) differs.

Independently, :func:`proxy_trust` finds receivers whose verdict rests on
``X-Forwarded-*`` headers that any local client can send.

Every probe is one request through :func:`~simulator.transport.send`; no
secret appears in what is returned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

from .signing import (
    H_SIGNATURE,
    H_SIGNATURE_V3,
    H_TIMESTAMP,
    ClientSecret,
    decode_v3_uri,
    sign_v1,
    sign_v3,
)
from .transport import Answer

#: Sends one request: (body, headers) to the target; what came back.
Post = Callable[[bytes, Mapping[str, str]], Awaitable[Answer]]
#: Host a probe claims through X-Forwarded-Host (reserved: never resolves).
PROBE_HOST: Final = "hubsim-probe.invalid"
_FORWARDED: Final = ("X-Forwarded-Proto", "X-Forwarded-Host")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What the probes found: a cause (None: not found), evidence, a fix."""

    cause: str | None
    evidence: tuple[str, ...] = ()
    fix: str | None = None
    #: The string v3 signed for the valid request, body as length and hash.
    signed: str = ""
    #: A `hubsim sign` command that prints the same signatures.
    reproduce: str = ""
    #: The body that was signed, to save as body.json for ``reproduce``.
    body: str = ""

    def to_json(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "cause": self.cause,
            "evidence": list(self.evidence),
            "fix": self.fix,
            "signed": self.signed,
            "reproduce": self.reproduce,
            "body": self.body,
        }


@dataclass
class Prober:
    """What the probes need: how to send, the secret, the URL HubSpot calls."""

    post: Post
    secret: ClientSecret
    #: The URL requests are signed for (the public URL, when there is one).
    signed_url: str
    #: The URL they are sent to.
    sent_url: str
    #: The headers of a valid request (Host, X-Forwarded-*, User-Agent …).
    base_headers: Mapping[str, str]
    accepted: Callable[[Answer], bool] = field(default=lambda a: a.ok)

    def headers(
        self,
        body: bytes,
        url: str | None = None,
        ts: int | None = None,
        without: Sequence[str] = (),
    ) -> dict[str, str]:
        """Headers with v1 over ``body`` and v3 over ``url`` and ``ts``."""
        ts = ts if ts is not None else _now_ms()
        headers = dict(self.base_headers)
        headers[H_SIGNATURE] = sign_v1(self.secret, body)
        headers[H_TIMESTAMP] = str(ts)
        headers[H_SIGNATURE_V3] = sign_v3(
            self.secret, "POST", url or self.signed_url, body, ts
        )
        for name in without:
            headers.pop(name, None)
        return headers

    async def tries(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return self.accepted(await self.post(body, headers))


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _events() -> list[dict[str, Any]]:
    """Two events with non-ASCII text: they tell every body variant apart."""
    base: dict[str, Any] = {
        "eventId": 4_127_310_001,
        "subscriptionId": 2_413_070,
        "portalId": 48_211_907,
        "appId": 3_019_442,
        "occurredAt": _now_ms() - 1500,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 151_027_804_552,
        "changeSource": "CRM_UI",
        "sourceId": "userId:71804411",
    }
    return [
        {**base, "propertyName": "firstname", "propertyValue": "Zoë 😀"},
        {
            **base,
            "eventId": base["eventId"] + 1,
            "propertyName": "city",
            "propertyValue": "東京",
        },
    ]


#: Body forms: (name, how the receiver would have produced it, the bytes).
def _bodies(events: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    return [
        (
            "json.dumps defaults",
            "re-serialises the body with json.dumps defaults (', ' and ': ' "
            "separators, \\uXXXX escapes) before verifying",
            json.dumps(events).encode(),
        ),
        (
            "compact with \\uXXXX escapes",
            "re-serialises the body compactly with \\uXXXX escapes (ensure_ascii) "
            "before verifying, which is why batches without non-ASCII text pass",
            json.dumps(events, separators=(",", ":")).encode(),
        ),
        (
            "spaced, raw UTF-8",
            "re-serialises the body with spaces after ',' and ':' before verifying",
            json.dumps(events, ensure_ascii=False).encode(),
        ),
    ]


def _urls(signed: str, sent: str) -> list[tuple[str, str, str]]:
    """URL forms: (name, the receiver's mistake, the URL)."""
    parts = urlsplit(signed)
    out: list[tuple[str, str, str]] = []
    other = "http" if parts.scheme == "https" else "https"
    out.append(
        (
            f"{other}://",
            f"rebuilds the URL as {other}:// while HubSpot calls {parts.scheme}://"
            + (" (behind a TLS proxy, use X-Forwarded-Proto or your public URL)"
               if other == "http" else ""),
            urlunsplit(parts._replace(scheme=other)),
        )
    )  # fmt: skip
    sent_parts = urlsplit(sent)
    if sent_parts.netloc != parts.netloc:
        out.append(
            (
                "the socket's host",
                f"rebuilds the URL from the socket's host {sent_parts.netloc} "
                f"instead of the host HubSpot called, {parts.netloc}",
                urlunsplit(parts._replace(netloc=sent_parts.netloc)),
            )
        )
        out.append(
            (
                "the socket's URL",
                f"verifies over the URL it was reached at ({sent}) instead of "
                f"the one HubSpot called ({signed})",
                sent,
            )
        )
    if parts.query:
        out.append(
            (
                "the path without its query",
                "leaves the query string out of the signed URL",
                urlunsplit(parts._replace(query="")),
            )
        )
    if "%" in parts.path or "%" in parts.query:
        out.append(
            (
                "escapes decoded",
                "decodes percent-escapes in the URL before verifying (v3 decodes "
                "only the 12 of the spec, §5)",
                unquote(signed),
            )
        )
    return [u for u in out if decode_v3_uri(u[2]) != decode_v3_uri(signed)]


async def diagnose(p: Prober) -> Diagnosis:
    """
    Probe until a variant is accepted; the first one names the cause. A
    receiver that accepts the HubSpot-exact request gets no cause.
    """
    events = _events()
    raw = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode()
    ts = _now_ms()
    signed = (
        f"POST + {decode_v3_uri(p.signed_url)} + <body: {len(raw):,} bytes, sha256 "
        f"{hashlib.sha256(raw).hexdigest()[:16]}…> + {ts}"
    )
    reproduce = (
        f"hubsim sign --url '{p.signed_url}' --body body.json --timestamp {ts} "
        '--secret "$HUBSPOT_CLIENT_SECRET"  (body.json: the body in --json)'
    )
    found = _found_with(signed, reproduce, raw.decode())
    if await p.tries(raw, p.headers(raw, ts=ts)):
        return Diagnosis(None, ("the HubSpot-exact request is accepted",))
    rejected = "rejected over the raw bytes HubSpot sends"
    for name, mistake, body in _bodies(events):
        if await p.tries(body, p.headers(body)):
            return found(
                f"The receiver {mistake}.",
                (f"accepted when signed over {name}; {rejected}",),
                "verify the signature over the raw request body, before parsing it",
            )
    for name, mistake, url in _urls(p.signed_url, p.sent_url):
        if await p.tries(raw, p.headers(raw, url)):
            return found(
                f"The receiver {mistake}.",
                (
                    f"accepted when v3 is signed over {url} ({name}); rejected "
                    f"over {p.signed_url}",
                ),
                "verify over the URL HubSpot called: scheme, host, path and query "
                "as sent",
            )
    seconds = ts // 1000
    if await p.tries(raw, p.headers(raw, ts=seconds)):
        return found(
            "The receiver reads X-HubSpot-Request-Timestamp as seconds, so every "
            "HubSpot request looks stale: HubSpot sends milliseconds.",
            (
                f"accepted with timestamp {seconds} (seconds); rejected with {ts} "
                "(milliseconds, as HubSpot sends)",
            ),
            "compare the timestamp with the current time in milliseconds",
        )
    return found(
        "Every variant was rejected: the receiver's client secret differs from "
        "--secret, or it verifies in a way HubSpot does not sign.",
        (
            "rejected over the raw body, re-serialised bodies, other URLs and a "
            "timestamp in seconds",
        ),
        "compare your code's signature with `hubsim sign` for the same request",
    )


def _found_with(
    signed: str, reproduce: str, body: str
) -> Callable[[str, tuple[str, ...], str], Diagnosis]:
    def found(cause: str, evidence: tuple[str, ...], fix: str) -> Diagnosis:
        return Diagnosis(cause, evidence, fix, signed, reproduce, body)

    return found


async def proxy_trust(p: Prober) -> str | None:
    """
    A warning when the receiver's verdict rests on X-Forwarded-* headers from
    a loopback client (any local process can send them), else None.
    """
    events = _events()
    raw = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode()
    forwarded = [h for h in _FORWARDED if h in p.base_headers]
    if forwarded and await p.tries(raw, p.headers(raw)):
        bare = p.headers(raw, without=_FORWARDED)
        if not await p.tries(raw, bare):
            return (
                "The receiver verifies only thanks to X-Forwarded-Proto/Host, and it "
                "trusts them from 127.0.0.1: any local client can set them. Behind "
                "your proxy, trust them from the proxy alone (uvicorn: "
                "--forwarded-allow-ips)."
            )
    path = urlsplit(p.signed_url)
    claimed = urlunsplit(path._replace(scheme="https", netloc=PROBE_HOST))
    headers = p.headers(raw, claimed)
    headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": PROBE_HOST})
    if await p.tries(raw, headers):
        return (
            f"The receiver accepted a request signed for {claimed}, a host named "
            "only in X-Forwarded-Host from a loopback client: it trusts proxy "
            "headers from any client. Trust them from your proxy alone."
        )
    return None
