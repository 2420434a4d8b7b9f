"""
The built-in receiver: an aiohttp.web endpoint that checks requests the way a
careful HubSpot integrator would, and counts what it accepted.

- v1/v2 (``X-HubSpot-Signature``) and v3 (``X-HubSpot-Signature-v3``) are checked
  when present; at least one is required. 401 on a missing or wrong signature
  and on a v3 timestamp older than 5 minutes.
- The URL it verifies is the one HubSpot called: ``X-Forwarded-Proto`` and
  ``X-Forwarded-Host`` win over the socket (a receiver behind a proxy does this),
  and the path is taken raw, percent-escapes untouched.
- 400 on a body that is neither a JSON array of events nor a workflow record,
  413 over ``max_body_bytes``.
- ``GET /stats``: requests, events, distinct events, duplicates, failures.
- :class:`Faults` make it misbehave on purpose: failure rate and status,
  latency with jitter, hangs, connection resets, a status script by attempt.

It only listens on the address it is given; the CLI defaults to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final

import orjson
from aiohttp import web

from .clock import Clock, SystemClock
from .errors import UsageError
from .signing import (
    H_SIGNATURE,
    H_SIGNATURE_V3,
    H_TIMESTAMP,
    H_VERSION,
    ClientSecret,
    verify_v1,
    verify_v2,
    verify_v3,
)

DEFAULT_MAX_BODY: Final = 2 * 1024 * 1024
#: How long an injected hang lasts: well past any sender timeout.
HANG_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class Faults:
    """
    Failures the receiver injects, to exercise HubSpot's retries.

    Rates are probabilities per request. ``script`` answers by attemptNumber:
    ``(500, 503, 200)`` fails attempts 0 and 1 and accepts from attempt 2 on.
    ``retry_after`` is sent with every injected failure.
    """

    fail_rate: float = 0.0
    fail_status: int = 500
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hang_rate: float = 0.0
    reset_rate: float = 0.0
    script: tuple[int, ...] = ()
    retry_after: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("fail_rate", "hang_rate", "reset_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be between 0 and 1, not {value}")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise UsageError("--latency and --jitter cannot be negative")
        for code in (self.fail_status, *self.script):
            if not 100 <= code <= 599:
                raise UsageError(f"{code} is not an HTTP status")

    @property
    def any(self) -> bool:
        """True if any failure or delay is configured."""
        return bool(
            self.fail_rate
            or self.latency_ms
            or self.jitter_ms
            or self.hang_rate
            or self.reset_rate
            or self.script
        )


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """
    How the receiver verifies and misbehaves. ``secret`` None accepts unsigned
    requests.
    """

    secret: ClientSecret | None
    max_body_bytes: int = DEFAULT_MAX_BODY
    #: Further apps' secrets a request may be signed with (multi-app runs).
    more_secrets: tuple[ClientSecret, ...] = ()
    save_path: str | None = None
    faults: Faults = Faults()


@dataclass
class ReceiverStats:
    """
    What the receiver saw. ``distinct_events`` proves end-to-end delivery.
    """

    requests: int = 0
    accepted_requests: int = 0
    events: int = 0
    duplicates: int = 0
    signature_failures: int = 0
    stale_timestamps: int = 0
    bad_requests: int = 0
    too_large: int = 0
    injected_failures: int = 0
    hangs: int = 0
    resets: int = 0
    by_attempt: Counter[int] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    seen: set[int] = field(default_factory=set)
    seen_bodies: dict[int, int] = field(default_factory=dict)

    def clear(self) -> None:
        """
        Forget everything (``DELETE /stats``), e.g. between two runs.
        """
        fresh = ReceiverStats()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def to_json(self) -> dict[str, Any]:
        """
        The ``/stats`` document.
        """
        return {
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "events": self.events,
            "distinct_events": len(self.seen),
            "duplicates": self.duplicates,
            "signature_failures": self.signature_failures,
            "stale_timestamps": self.stale_timestamps,
            "bad_requests": self.bad_requests,
            "too_large": self.too_large,
            "injected_failures": self.injected_failures,
            "hangs": self.hangs,
            "resets": self.resets,
            "by_attempt": {str(k): v for k, v in sorted(self.by_attempt.items())},
            "by_type": dict(self.by_type.most_common()),
        }


STATS_KEY: Final = web.AppKey("hubsim_stats", ReceiverStats)


def called_url(request: web.Request) -> str:
    """
    The URL the sender called, as seen through any forwarding proxy.
    """
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host") or request.headers.get(
        "Host", request.host
    )
    return f"{proto}://{host}{request.raw_path}"


def check_signature(
    secret: ClientSecret, request: web.Request, body: bytes, now_ms: int
) -> str | None:
    """
    None when the request is signed correctly, else the reason it is not.
    """
    headers = request.headers
    sig = headers.get(H_SIGNATURE)
    sig_v3 = headers.get(H_SIGNATURE_V3)
    if sig is None and sig_v3 is None:
        return "unsigned"
    url = called_url(request)
    if sig is not None:
        version = headers.get(H_VERSION, "v1").lower()
        if version == "v2":
            valid = verify_v2(secret, request.method, url, body, sig)
        elif version == "v1":
            valid = verify_v1(secret, body, sig)
        else:
            return f"unknown signature version {version}"
        if not valid:
            return f"bad {version} signature"
    if sig_v3 is not None:
        ts = headers.get(H_TIMESTAMP)
        if ts is None:
            return "v3 signature without timestamp"
        verdict = verify_v3(secret, request.method, url, body, sig_v3, ts, now_ms)
        if verdict == "stale":
            return "stale"
        if verdict == "bad":
            return "bad v3 signature"
    return None


def create_app(
    config: ReceiverConfig,
    clock: Clock | None = None,
    stats: ReceiverStats | None = None,
    is_down: Callable[[], bool] | None = None,
) -> web.Application:
    """
    The receiver as an aiohttp application (for tests and ``hubsim receive``).
    """
    clock = clock or SystemClock()
    stats = stats if stats is not None else ReceiverStats()
    faults = config.faults
    rng = random.Random(faults.seed)

    async def misbehave(
        request: web.Request, attempt: int
    ) -> web.StreamResponse | None:
        """An injected failure or delay for this request; None to carry on."""
        if faults.latency_ms or faults.jitter_ms:
            delay = faults.latency_ms + rng.uniform(-faults.jitter_ms, faults.jitter_ms)
            await asyncio.sleep(max(0.0, delay) / 1000)
        roll = rng.random()
        if roll < faults.hang_rate:
            stats.hangs += 1
            # Never answer: the sender's timeout fires. Bounded, so a stopped
            # sender does not leave this handler behind for ever.
            await asyncio.sleep(HANG_S)
            return web.Response(status=504)
        roll -= faults.hang_rate
        if roll < faults.reset_rate:
            stats.resets += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp drops the request quietly
        roll -= faults.reset_rate
        status = None
        if faults.script:
            status = faults.script[min(attempt, len(faults.script) - 1)]
            if 200 <= status < 300:
                status = None
        if status is None and roll < faults.fail_rate:
            status = faults.fail_status
        if status is None:
            return None
        stats.injected_failures += 1
        headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
        return web.json_response({"error": "injected"}, status=status, headers=headers)

    app = web.Application(client_max_size=config.max_body_bytes)
    app[STATS_KEY] = stats
    save: IO[bytes] | None = None

    async def receive(request: web.Request) -> web.StreamResponse:
        if is_down is not None and is_down():
            # Down: a request on a kept-alive connection is dropped, as a
            # crashed server would; new connections are refused by the socket.
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        stats.requests += 1
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            stats.too_large += 1
            return web.json_response({"error": "body too large"}, status=413)
        if config.secret is not None:
            now_ms = int(clock.time() * 1000)
            for key in (config.secret, *config.more_secrets):
                problem = check_signature(key, request, body, now_ms)
                if problem is None:
                    break
            if problem is not None:
                if problem == "stale":
                    stats.stale_timestamps += 1
                    problem = "v3 timestamp older than 5 minutes"
                else:
                    stats.signature_failures += 1
                return web.json_response({"error": problem}, status=401)
        try:
            events = orjson.loads(body)
            if isinstance(events, dict) and ("vid" in events or "objectId" in events):
                # A workflow record (§6): one object, no eventId. A retry sends
                # the same bytes, so the body itself is its identity.
                kind = "CONTACT" if "vid" in events else events.get("objectType", "?")
                identity = hash(body)
                # No attemptNumber in a workflow body: its attempt is how often
                # these exact bytes came before.
                attempt_of_record = stats.seen_bodies.get(identity, 0)
                stats.seen_bodies[identity] = attempt_of_record + 1
                events = [
                    {
                        "subscriptionType": f"workflow.{kind}",
                        "attemptNumber": attempt_of_record,
                    }
                ]
                ids = [identity]
            elif isinstance(events, list):
                ids = [e["eventId"] for e in events]
            else:
                raise TypeError("not an array")
        except (orjson.JSONDecodeError, TypeError, KeyError):
            stats.bad_requests += 1
            return web.json_response(
                {"error": "expected a JSON array of events or a workflow record"},
                status=400,
            )
        if faults.any:
            attempt = events[0].get("attemptNumber", 0) if events else 0
            injected = await misbehave(request, attempt)
            if injected is not None:
                return injected
        stats.accepted_requests += 1
        stats.events += len(events)
        seen = stats.seen
        before = len(seen)
        seen.update(ids)
        stats.duplicates += len(ids) - (len(seen) - before)
        if events:
            stats.by_attempt[events[0].get("attemptNumber", 0)] += len(events)
            stats.by_type.update(e.get("subscriptionType", "?") for e in events)
        if save is not None:
            save.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
        return web.Response(status=204)

    async def get_stats(_: web.Request) -> web.Response:
        return web.json_response(stats.to_json())

    async def reset(_: web.Request) -> web.Response:
        stats.clear()
        return web.Response(status=204)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def on_startup(_: web.Application) -> None:
        nonlocal save
        if config.save_path:
            save = open(config.save_path, "ab")  # noqa: ASYNC230, SIM115 - opened once

    async def on_cleanup(_: web.Application) -> None:
        if save is not None:
            with contextlib.suppress(OSError):
                save.close()

    app.router.add_get("/stats", get_stats)
    app.router.add_delete("/stats", reset)
    app.router.add_get("/health", health)
    app.router.add_post("/{tail:.*}", receive)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


class ReceiverServer:
    """
    The built-in receiver on loopback, which a scenario can take down and bring
    back (connections refused meanwhile, as in a real outage) without losing
    its counts.
    """

    def __init__(
        self, config: ReceiverConfig, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.stats = ReceiverStats()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._down = False

    async def start(self) -> None:
        """Listen on a free port (remembered for resume())."""
        app = create_app(self.config, stats=self.stats, is_down=lambda: self._down)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await self.resume()
        self.port = self._runner.addresses[0][1]

    async def pause(self) -> None:
        """Stop listening: new connections are refused until resume()."""
        self._down = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def resume(self) -> None:
        """Listen again, on the same port."""
        self._down = False
        if self._runner is not None and self._site is None:
            self._site = web.TCPSite(self._runner, self.host, self.port)
            await self._site.start()

    async def close(self) -> None:
        """Stop for good."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
