"""
Recording and replay: every request as sent, and sending them again.

A recording is JSONL, one line per request, flushed as written::

    {"t": 0.0132, "method": "POST", "url": "http://127.0.0.1:8080/hook",
     "batch": 1, "attemptNumber": 0, "headers": {...},
     "json": [{"eventId": 1030198139, …}]}

``t`` is seconds since the run's first request. A JSON body is kept as JSON
(``json``) when writing it compactly gives back its exact bytes, so it reads
and edits as events; otherwise as its text (``body`` with ``encoding``), or
as ``body_base64`` for bytes that are not UTF-8. Recordings written before
(``body`` in base64, no ``encoding``) still read.
Headers carry signatures, never the client secret; nothing else that could
reveal it is written.

Replay sends the same bodies in the same order at the recorded pacing (or
``speed`` times faster), re-signed with fresh timestamps by default, since v3
would otherwise be stale; ``keep_signatures`` sends the recorded headers as they
were (e.g. to test a receiver's replay protection).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import orjson

from . import catalog
from .batching import Batch
from .clock import Clock, SystemClock
from .errors import UsageError
from .signing import SignatureVersion, SigningOptions

#: Bounds on what a recording may hold (a day of HubSpot traffic fits).
MAX_RECORDING_BYTES: Final = 4 * 1024**3
MAX_REQUESTS: Final = 10_000_000
MAX_T: Final = 30 * 86_400.0
#: Headers a replay never copies: the transport sets them for the new target.
_TRANSPORT_HEADERS = frozenset({"host", "content-length"})
#: A query as hubsim writes it: printable ASCII, no space, no fragment.
_QUERY: Final = re.compile(r"[!$&'()*+,\-./0-9:;=?@A-Z_a-z~%]{0,8192}")


class Recorder:
    """
    Writes each request the engine sends to a JSONL recording.
    """

    def __init__(
        self,
        path: str | Path,
        clock: Clock | None = None,
        method: str = "POST",
        hidden: Sequence[str] = (),
    ) -> None:
        self.clock = clock or SystemClock()
        self.method = method.upper()
        #: Headers never written: a workflow webhook's API key.
        self._hidden = frozenset(h.lower() for h in hidden)
        try:
            self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise UsageError(f"cannot write recording {path}: {exc.strerror}") from None
        self._t0: float | None = None

    def __call__(
        self,
        url: str,
        batch: Batch,
        attempt: int,
        body: bytes,
        headers: Mapping[str, str],
    ) -> None:
        now = self.clock.monotonic()
        if self._t0 is None:
            self._t0 = now
        line: dict[str, object] = {
            "t": round(now - self._t0, 6),
            "method": self.method,
            "url": url,
            "batch": batch.seq,
            "attemptNumber": attempt,
            "headers": {
                k: v for k, v in headers.items() if k.lower() not in self._hidden
            },
        }
        if batch.query:
            line["query"] = batch.query
        parsed = _as_json(body)
        if parsed is not _NOT_JSON:
            line["json"] = parsed
        else:
            try:
                line["encoding"] = "utf-8"
                line["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                del line["encoding"]
                line["body_base64"] = base64.b64encode(body).decode()
        self._file.write(orjson.dumps(line) + b"\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """
    One request of a recording.
    """

    t: float
    url: str
    batch: int
    attempt_number: int
    headers: Mapping[str, str]
    body: bytes
    method: str = "POST"
    #: What the request added to the target URL (a workflow GET's parameters).
    query: str = ""

    @property
    def subscription_types(self) -> frozenset[str]:
        """The subscriptionTypes in the body (workflow records: empty)."""
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return frozenset()
        if not isinstance(data, list):
            return frozenset()
        return frozenset(
            str(e.get("subscriptionType", "")) for e in data if isinstance(e, dict)
        )


_NOT_JSON: Final = object()


def _as_json(body: bytes) -> object:
    """
    The body as a JSON value when writing it back gives the same bytes (so a
    recording shows events as JSON, not as an escaped string), else
    :data:`_NOT_JSON`.
    """
    if not body:
        return _NOT_JSON
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON
    return value if orjson.dumps(value) == body else _NOT_JSON


def read_recording(path: str | Path) -> list[RecordedRequest]:
    """
    Every request of a recording, in order; UsageError naming the file and
    the line that is not a recording line (and what is wrong with it).
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise UsageError(f"{path}: is a folder, not a recording")
        with p.open("rb") as f:
            data = f.read(MAX_RECORDING_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read recording {path}: {exc.strerror}") from None
    if len(data) > MAX_RECORDING_BYTES:
        raise UsageError(f"{path}: larger than 4 GiB; replay a part of it")
    out: list[RecordedRequest] = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            out.append(_line(raw))
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            raise UsageError(
                f"{path}:{number}: not a hubsim recording line (not JSON)"
            ) from None
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            reason = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise UsageError(
                f"{path}:{number}: not a hubsim recording line ({reason})"
            ) from None
        if len(out) > MAX_REQUESTS:
            raise UsageError(f"{path}: more than {MAX_REQUESTS:,} requests")
    if not out:
        raise UsageError(f"{path}: the recording holds no requests")
    return out


def _line(raw: bytes) -> RecordedRequest:
    d = orjson.loads(raw)
    if not isinstance(d, dict):
        raise TypeError("a line must be a JSON object")
    t = d["t"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= MAX_T:
        raise ValueError(f"t must be 0 to {MAX_T:,.0f} seconds")
    headers = d["headers"]
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.isascii() and "\n" not in v
        for k, v in headers.items()
    ):
        raise ValueError("headers must be an object of ASCII text values")
    number = d.get("attemptNumber", 0)
    if type(number) is not int or not 0 <= number <= 1000:
        raise ValueError("attemptNumber must be 0 to 1000")
    batch = d.get("batch", 0)
    if type(batch) is not int or batch < 0:
        raise ValueError("batch must be a non-negative integer")
    if "json" in d:
        body = orjson.dumps(d["json"])
    elif "body_base64" in d:
        body = base64.b64decode(d["body_base64"], validate=True)
    elif d.get("encoding") == "utf-8":
        if not isinstance(d["body"], str):
            raise ValueError("body must be text")
        body = d["body"].encode("utf-8")
    else:  # written before bodies were kept as text
        body = base64.b64decode(d["body"], validate=True)
    method = d.get("method", "POST")
    if method not in ("POST", "GET"):
        raise ValueError("method must be POST or GET")
    query = d.get("query", "")
    if not isinstance(query, str) or not _QUERY.fullmatch(query):
        raise ValueError("query must be percent-encoded URL text")
    return RecordedRequest(
        float(t), str(d["url"]), batch, number, headers, body, method, query
    )


def signing_of(request: RecordedRequest) -> SigningOptions:
    """
    How a recorded request was signed (versions, sender, timeout header), so
    a replay re-signs it the same way: a workflow record as the workflow
    engine, a webhook batch as the Webhooks API.
    """
    h = {k.lower(): v for k, v in request.headers.items()}
    versions: list[SignatureVersion] = []
    if "x-hubspot-signature" in h:
        versions.append("v2" if h.get("x-hubspot-signature-version") == "v2" else "v1")
    if "x-hubspot-signature-v3" in h:
        versions.append("v3")
    automation = h.get("user-agent") == catalog.AUTOMATION_USER_AGENT
    timeout = h.get("x-hubspot-timeout-millis", "")
    return SigningOptions(
        versions=tuple(versions),
        method=request.method,
        sender="automation" if automation else "webhooks",
        timeout_millis=int(timeout) if automation and timeout.isdigit() else None,
    )


def select(
    requests: Sequence[RecordedRequest],
    types: Sequence[str] = (),
    limit: int | None = None,
) -> list[RecordedRequest]:
    """
    The requests to replay: those carrying any of ``types`` (globs), at most
    ``limit`` of them.
    """
    wanted = frozenset(catalog.select_types(list(types))) if types else None
    chosen = [r for r in requests if wanted is None or r.subscription_types & wanted]
    return chosen[:limit] if limit is not None else chosen


def replay_batch(request: RecordedRequest, seq: int) -> Batch:
    """
    A request as a Batch the engine can send (its events are not re-rendered).
    """
    try:
        events = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        events = None
    ids: tuple[int, ...]
    if isinstance(events, list) and events and all(isinstance(e, dict) for e in events):
        ids = tuple(_int(e.get("eventId")) for e in events)
        times = tuple(_int(e.get("occurredAt")) for e in events)
        meta = tuple((str(e.get("subscriptionType", "")), "") for e in events)
    else:
        ids, times, meta = (seq,), (0,), (("workflow", ""),)
    return Batch(seq, 0, 0, request.body, ids, times, meta, query=request.query)


def _int(value: object) -> int:
    """An id or a time from an edited body: 0 when it is not an integer."""
    return value if type(value) is int else 0


class RecordedHeaders:
    """
    A stand-in for Signer that returns each request's recorded headers as they
    were (``--keep-signatures``).
    """

    def __init__(self, requests: Sequence[RecordedRequest]) -> None:
        self._by_body = {
            (r.body, r.query): {
                k: v
                for k, v in r.headers.items()
                if k.lower() not in _TRANSPORT_HEADERS
            }
            for r in requests
        }

    def headers(
        self, body: bytes, timestamp_ms: int, query: str = ""
    ) -> dict[str, str]:
        """The recorded headers of the request with this body and query."""
        return dict(self._by_body[body, query])


class PacedReplay:
    """
    Recorded requests as batches, each released at its recorded time / speed.
    """

    def __init__(
        self,
        requests: Sequence[RecordedRequest],
        speed: float,
        clock: Clock | None = None,
    ) -> None:
        if speed <= 0:
            raise UsageError("--speed must be more than 0")
        self._requests = list(requests)
        self._speed = speed
        self._clock = clock or SystemClock()
        self._next = 0
        self._t0: float | None = None

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self

    async def __anext__(self) -> Batch:
        if self._next >= len(self._requests):
            raise StopAsyncIteration
        request = self._requests[self._next]
        self._next += 1
        clock = self._clock
        if self._t0 is None:
            self._t0 = clock.monotonic() - request.t / self._speed
        wait = self._t0 + request.t / self._speed - clock.monotonic()
        if wait > 0:
            await clock.sleep(wait)
        return replay_batch(request, self._next)
