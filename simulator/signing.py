"""
HubSpot request signatures v1, v2 and v3 (spec §5), and the headers of §1.2.

Pure functions plus :class:`Signer`, which precomputes what stays fixed for one
(secret, URL) so each attempt costs one hash copy and update per version. The
``verify_*`` functions are what the built-in receiver uses; they follow the docs,
not the SDKs' quirks (§5.1), except where noted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from . import catalog
from .errors import SecretError
from .target import Target

SignatureVersion = Literal["v1", "v2", "v3"]
#: Receivers reject a v3 timestamp older than this (§5).
MAX_TIMESTAMP_AGE_MS: Final = 300_000

H_SIGNATURE: Final = "X-HubSpot-Signature"
H_VERSION: Final = "X-HubSpot-Signature-Version"
H_SIGNATURE_V3: Final = "X-HubSpot-Signature-v3"
H_TIMESTAMP: Final = "X-HubSpot-Request-Timestamp"
H_TIMEOUT: Final = "X-HubSpot-Timeout-Millis"

# The 12 escapes v3 decodes (§5), upper- and lower-case (§10 Q6). Nothing else.
_V3_DECODE: Final = {
    "3a": ":",
    "2f": "/",
    "3f": "?",
    "40": "@",
    "21": "!",
    "24": "$",
    "27": "'",
    "28": "(",
    "29": ")",
    "2a": "*",
    "2c": ",",
    "3b": ";",
}
_V3_ESCAPE_RE: Final = re.compile(
    "%("
    + "|".join(k[0] + "[" + k[1].lower() + k[1].upper() + "]" for k in _V3_DECODE)
    + ")",
    re.IGNORECASE,
)


class ClientSecret:
    """
    An app's client secret. Its ``repr`` and ``str`` are masked so it cannot leak
    into logs, reports or tracebacks; ``reveal()`` is the only way to the value.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise SecretError(
                "no client secret: pass --secret or set HUBSPOT_CLIENT_SECRET"
            )
        self._value = value

    def reveal(self) -> str:
        """
        The secret itself, for hashing. Never print it.
        """
        return self._value

    def __repr__(self) -> str:
        return "ClientSecret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClientSecret) and hmac.compare_digest(
            self._value, other._value
        )

    def __hash__(self) -> int:
        return hash(self._value)


#: What signs a request that carries no signature (a workflow webhook with
#: API-key or no authentication): never used to hash, never sent.
UNSIGNED: Final = ClientSecret("unsigned")


def _secret_text(secret: ClientSecret | str) -> str:
    return secret.reveal() if isinstance(secret, ClientSecret) else secret


def _secret_bytes(secret: ClientSecret | str) -> bytes:
    return _secret_text(secret).encode()


@functools.lru_cache(maxsize=256)
def decode_v3_uri(uri: str) -> str:
    """
    The URI as v3 signs it: the 12 escapes of §5 decoded, everything else kept.
    """
    return _V3_ESCAPE_RE.sub(lambda m: _V3_DECODE[m.group(1).lower()], uri)


@functools.lru_cache(maxsize=16)
def _keyed(raw: str) -> tuple[Any, hmac.HMAC]:
    """
    SHA-256 fed with the secret and an HMAC keyed by it, to be copied: a
    receiver checking thousands of batches a second neither re-keys nor copies
    each 30 KB body into one string with the secret.
    """
    key = raw.encode()
    return hashlib.sha256(key), hmac.new(key, digestmod="sha256")


def sign_v1(secret: ClientSecret | str, body: bytes) -> str:
    """
    v1: lower-case hex SHA-256 of secret + body (a plain hash, not an HMAC).
    """
    h = _keyed(_secret_text(secret))[0].copy()
    h.update(body)
    return str(h.hexdigest())


def sign_v2(secret: ClientSecret | str, method: str, uri: str, body: bytes) -> str:
    """
    v2: lower-case hex SHA-256 of secret + method + URI (verbatim) + body.
    """
    material = _secret_bytes(secret) + method.upper().encode() + uri.encode() + body
    return hashlib.sha256(material).hexdigest()


def sign_v3(
    secret: ClientSecret | str, method: str, uri: str, body: bytes, timestamp: int | str
) -> str:
    """
    v3: base64 HMAC-SHA256 keyed by the secret over method + decoded URI + body +
    timestamp (decimal ms).
    """
    m = _keyed(_secret_text(secret))[1].copy()
    m.update(method.upper().encode() + decode_v3_uri(uri).encode())
    m.update(body)
    m.update(str(timestamp).encode())
    return base64.b64encode(m.digest()).decode()


def verify_v1(secret: ClientSecret | str, body: bytes, signature: str) -> bool:
    """
    True if ``signature`` is body's v1 signature (hex compared case-sensitively,
    as HubSpot's SDKs do).
    """
    return hmac.compare_digest(sign_v1(secret, body), signature)


def verify_v2(
    secret: ClientSecret | str, method: str, uri: str, body: bytes, signature: str
) -> bool:
    """
    True if ``signature`` is the v2 signature of this request.
    """
    return hmac.compare_digest(sign_v2(secret, method, uri, body), signature)


def verify_v3(
    secret: ClientSecret | str,
    method: str,
    uri: str,
    body: bytes,
    signature: str,
    timestamp: str,
    now_ms: int,
    max_age_ms: int = MAX_TIMESTAMP_AGE_MS,
) -> Literal["ok", "stale", "bad"]:
    """
    Check a v3 signature and its timestamp. ``stale``: older than ``max_age_ms``.
    Future timestamps pass, as in every official SDK (§5.1).
    """
    try:
        ts = int(timestamp)
    except ValueError:
        return "bad"
    if now_ms - ts > max_age_ms:
        return "stale"
    expected = sign_v3(secret, method, uri, body, timestamp)
    return "ok" if hmac.compare_digest(expected, signature) else "bad"


@dataclass(frozen=True, slots=True)
class SigningOptions:
    """
    How requests are signed: which versions (none: unsigned), and which URL
    they claim, and which of HubSpot's senders sends them.

    ``public_url`` signs as if HubSpot had called that URL (a receiver behind a
    tunnel or TLS-terminating proxy); the request still goes to the target.
    ``sender`` is ``webhooks`` (the Webhooks API daemon, spec §1.2) or
    ``automation`` (workflow webhooks and custom actions: their own
    User-Agent, a correlation id per request, the origin hublet; app-calls
    §1.2, §2). ``api_key`` is an (name, value) header for a workflow webhook's
    "API key" authentication.
    """

    versions: tuple[SignatureVersion, ...] = ("v1", "v3")
    method: str = "POST"
    public_url: str | None = None
    sender: Literal["webhooks", "automation"] = "webhooks"
    timeout_millis: int | None = None
    api_key: tuple[str, ClientSecret] | None = None


class Signer:
    """
    Per-attempt headers for one secret and URL, with the fixed parts precomputed.

    >>> s = Signer(ClientSecret("s"), "http://127.0.0.1/hook")
    >>> sorted(s.headers(b"[]", 1767225600000))[:2]
    ['Accept', 'Content-Type']
    """

    def __init__(
        self,
        secret: ClientSecret,
        url: str | Target,
        options: SigningOptions = SigningOptions(),
    ) -> None:
        # The canonical text, which is also what goes on the wire (Target).
        if options.public_url:
            self.signed_url = Target.parse(options.public_url, "--public-url").url
        else:
            self.signed_url = (
                url.url if isinstance(url, Target) else Target.parse(url).url
            )
        self.versions = options.versions
        method = options.method.upper().encode()
        key = _secret_bytes(secret)
        self._v1 = hashlib.sha256(key)
        self._v2 = hashlib.sha256(key + method + self.signed_url.encode())
        self._v3 = hmac.new(
            key, method + decode_v3_uri(self.signed_url).encode(), hashlib.sha256
        )
        automation = options.sender == "automation"
        timeout = options.timeout_millis
        base: dict[str, str] = {
            "Content-Type": "application/json",
            "Accept": "application/json" if automation else "*/*",
            "User-Agent": catalog.AUTOMATION_USER_AGENT
            if automation
            else catalog.USER_AGENT,
            H_TIMEOUT: str(timeout) if timeout else catalog.TIMEOUT_MILLIS_HEADER,
        }
        if not automation:
            base["X-Trace"] = ""
        if options.method.upper() == "GET":
            del base["Content-Type"]  # a GET carries no body (app-calls §2)
        if "v1" in self.versions:
            base[H_VERSION] = "v1"
        elif "v2" in self.versions:
            base[H_VERSION] = "v2"
        # v2-only senders (workflows) are not documented to send a timestamp.
        self._timestamped = "v3" in self.versions
        if automation:
            # Seen on automation requests (§6.2); the correlation id is per request.
            base["X-HubSpot-Origin-Hublet"] = "na1"
        if options.api_key is not None:
            name, value = options.api_key
            base[name] = value.reveal()
        self._workflow = automation
        if options.public_url:
            public = Target.parse(options.public_url, "--public-url")
            base["Host"] = public.netloc
            base["X-Forwarded-Host"] = public.netloc
            base["X-Forwarded-Proto"] = public.scheme
        self._base = base

    def headers(
        self, body: bytes, timestamp_ms: int, query: str = ""
    ) -> dict[str, str]:
        """
        Every header of one attempt; ``timestamp_ms`` is this attempt's send
        time, ``query`` what this request appends to the URL (see
        :func:`~simulator.target.with_query`): signed as part of the URL.
        """
        headers = dict(self._base)
        ts = str(timestamp_ms)
        suffix = ""
        if query:
            suffix = ("&" if "?" in self.signed_url else "?") + query
        if self._timestamped:
            headers[H_TIMESTAMP] = ts
        if "v1" in self.versions:
            h = self._v1.copy()
            h.update(body)
            headers[H_SIGNATURE] = h.hexdigest()
        elif "v2" in self.versions:
            h = self._v2.copy()
            h.update(suffix.encode())
            h.update(body)
            headers[H_SIGNATURE] = h.hexdigest()
        if "v3" in self.versions:
            m = self._v3.copy()
            m.update(decode_v3_uri(suffix).encode())
            m.update(body)
            m.update(ts.encode())
            headers[H_SIGNATURE_V3] = base64.b64encode(m.digest()).decode()
        if self._workflow:
            headers["X-HubSpot-Correlation-Id"] = str(uuid.uuid4())
        return headers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """
    Case-insensitive header lookup for plain dicts (HubSpot writes -v3 and -V3).
    """
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None
