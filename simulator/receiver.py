"""
The built-in receiver: an aiohttp.web endpoint that checks requests the way a
careful HubSpot integrator would, and counts what it accepted.

- v1/v2 (``X-HubSpot-Signature``) and v3 (``X-HubSpot-Signature-v3``) are checked
  when present; at least one is required. 401 on a missing or wrong signature
  and on a v3 timestamp older than 5 minutes.
- The URL it verifies is the one HubSpot called: ``X-Forwarded-Proto`` and
  ``X-Forwarded-Host`` win over the socket (a receiver behind a proxy does this),
  and the path is taken raw, percent-escapes untouched.
- A workflow webhook set up with an API key (``api_key``) is checked for the
  key instead, in its header or query parameter.
- 400 on a body that is neither a JSON array of events nor a workflow record
  (any JSON object, or a GET with query parameters), 413 over
  ``max_body_bytes``.
- 400 on an event whose ``eventId``, ``attemptNumber`` or ``subscriptionType``
  has the wrong JSON type, and on a non-ASCII ``Host``; never a 500.
- ``GET /stats``: requests, events, distinct events, duplicates, failures.
  Distinct and duplicate counts are exact in bounded memory: event ids go into
  a compressed integer set (pyroaring's ``BitMap64``; HubSpot's ids are dense,
  so five million of them take a few kilobytes).
- :class:`~simulator.faults.Faults` make it misbehave on purpose: failure rate
  and status, latency with jitter, hangs, connection resets, a status script by
  attempt.
- An idle or half-sent connection is closed after ``idle_timeout_s``; a body
  that stalls gets 408 after ``body_timeout_s``, so slow clients cannot hold
  sockets for ever.

It only listens on the address it is given; the CLI defaults to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Annotated, Any, Final, Literal, Protocol

import msgspec
import orjson
from aiohttp import web

from . import aio, catalog
from .clock import Clock, SystemClock
from .errors import UsageError
from .faults import HANG_S, Faults, Injector
from .receiver_stats import ReceiverStats
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
MAX_BODY_LIMIT: Final = 64 * 1024 * 1024
#: Seconds an idle or half-sent connection may stay open.
DEFAULT_IDLE_TIMEOUT_S: Final = 15.0
#: Seconds a request body may take to arrive.
DEFAULT_BODY_TIMEOUT_S: Final = 10.0
#: attemptNumber values accepted (HubSpot stops at 10; workflows at ~16).
MAX_ATTEMPT_NUMBER: Final = 1000
_MAX_ID: Final = 2**64 - 1

__all__ = [
    "DEFAULT_MAX_BODY",
    "HANG_S",
    "STATS_KEY",
    "Faults",
    "ReceiverConfig",
    "ReceiverServer",
    "ReceiverStats",
    "create_app",
]


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
    faults: Faults = field(default_factory=Faults)
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    #: A workflow webhook's "API key" auth instead of signatures: the header
    #: or query parameter name, ``header`` or ``query``, and the key.
    api_key: tuple[str, str, ClientSecret] | None = None


STATS_KEY: Final = web.AppKey("hubsim_stats", ReceiverStats)


class BadRequest(Exception):
    """A request the receiver answers 400, with the reason it gives."""


def called_url(request: web.Request) -> str:
    """
    The URL the sender called, as seen through any forwarding proxy; the path
    as it was on the request line. BadRequest if a host header is not ASCII.
    """
    proto = request.headers.get("X-Forwarded-Proto") or request.scheme
    host = request.headers.get("X-Forwarded-Host") or request.headers.get("Host") or ""
    if not (host.isascii() and proto.isascii()) or not host:
        raise BadRequest("Host / X-Forwarded-Host must be an ASCII host name")
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
    if not ((sig or "").isascii() and (sig_v3 or "").isascii()):
        return "signature headers must be ASCII"
    url = called_url(request)
    if sig is not None:
        version = headers.get(H_VERSION, "v1").lower()
        if version == "v2":
            valid = verify_v2(secret, request.method, url, body, sig)
        elif version == "v1":
            valid = verify_v1(secret, body, sig)
        else:
            return "unknown signature version"
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


def check_api_key(
    api_key: tuple[str, str, ClientSecret], request: web.Request
) -> str | None:
    """None when the request carries the workflow's API key, else why not."""
    name, where, key = api_key
    given = request.headers.get(name) if where == "header" else request.query.get(name)
    if given is None:
        return f"no API key in the {name} {where}"
    expected = key.reveal().encode()
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
        return "wrong API key"
    return None


def _workflow_record(
    identity_of: bytes, stats: ReceiverStats, kind: str
) -> tuple[list[int], int, list[str]]:
    # A workflow record (app-calls §2): no eventId or attemptNumber. A retry
    # sends the same bytes, so they are its identity, and its attempt is how
    # often those bytes came before.
    identity = int.from_bytes(hashlib.blake2b(identity_of, digest_size=8).digest())
    attempt = 0
    if identity in stats.arrived:
        attempt = stats.repeats.get(identity, 1)
        stats.repeats[identity] = attempt + 1
    else:
        stats.arrived.add(identity)
    return [identity], attempt, [f"workflow.{kind}"]


#: The three fields the receiver counts by; the rest is skipped unread.
#: Typed partial decoding: about twice orjson's speed on a 100-event batch,
#: since only these become Python objects (untracked by the garbage
#: collector). Strict like the careful loop: JSON true is not an id. Known
#: subscription types decode to one shared string each, so counting them
#: hashes nothing; an unknown type takes the careful loop.
_Event: Final = msgspec.defstruct(
    "_Event",
    [
        # msgspec bounds stop at int64; larger ids take the careful loop.
        ("eventId", Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]),
        ("attemptNumber", Annotated[int, msgspec.Meta(ge=0, le=MAX_ATTEMPT_NUMBER)]),
        ("subscriptionType", Literal[catalog.all_types()]),
    ],
    gc=False,
)
_BATCH: Final = msgspec.json.Decoder(list[_Event])  # type: ignore[valid-type]


def _fast_events(body: bytes) -> tuple[list[int], int, list[str]] | None:
    """
    A well-formed batch's ids, attempt number and types; None when anything
    is off (or it is not an array), so the careful loop names the problem.
    """
    if body[:1] != b"[":
        return None
    try:
        events: list[Any] = _BATCH.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not events:
        return None
    # Three comprehensions beat one zip(*map(attrgetter)) by half here.
    ids = [e.eventId for e in events]
    number = max([e.attemptNumber for e in events])
    return ids, number, [e.subscriptionType for e in events]


def parse_events(
    body: bytes, stats: ReceiverStats, query: str = ""
) -> tuple[list[int], int, list[str]]:
    """
    The event ids, the attempt number and the subscription types of a body:
    a JSON array of events, or one workflow record (any JSON object; a GET's
    query string). BadRequest otherwise.
    """
    if not body and query:
        return _workflow_record(query.encode(), stats, "GET")
    fast = _fast_events(body)
    if fast is not None:
        return fast
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("body is not JSON") from None
    if isinstance(data, dict):
        if "eventId" in data or "subscriptionType" in data:
            raise BadRequest("expected a JSON array of events, not one event")
        if "vid" in data:
            kind = "CONTACT"
        elif isinstance(data.get("objectType"), str):
            kind = data["objectType"]
        elif "id" in data and "properties" in data:
            kind = "object"
        else:
            kind = "custom"
        return _workflow_record(body, stats, kind)
    if not isinstance(data, list) or not data:
        raise BadRequest("expected a non-empty JSON array of events")
    ids: list[int] = []
    types: list[str] = []
    attempt = -1
    for i, event in enumerate(data):
        if not isinstance(event, dict):
            raise BadRequest(f"event {i}: not a JSON object")
        event_id = event.get("eventId")
        # type() is int, not isinstance: JSON true is not an id.
        if type(event_id) is not int or not 0 <= event_id <= _MAX_ID:
            raise BadRequest(f"event {i}: eventId must be a non-negative integer")
        number = event.get("attemptNumber")
        if type(number) is not int or not 0 <= number <= MAX_ATTEMPT_NUMBER:
            raise BadRequest(
                f"event {i}: attemptNumber must be an integer 0-{MAX_ATTEMPT_NUMBER}"
            )
        stype = event.get("subscriptionType")
        if not isinstance(stype, str):
            raise BadRequest(f"event {i}: subscriptionType must be a string")
        ids.append(event_id)
        types.append(stype)
        attempt = max(attempt, number)
    return ids, attempt, types


class StatsView(Protocol):
    """Where /stats comes from when several processes share the port."""

    async def merged(self) -> dict[str, Any]: ...
    async def clear(self) -> None: ...


def create_app(
    config: ReceiverConfig,
    clock: Clock | None = None,
    stats: ReceiverStats | None = None,
    is_down: Callable[[], bool] | None = None,
    view: StatsView | None = None,
) -> web.Application:
    """
    The receiver as an aiohttp application (for tests and ``hubsim receive``);
    with a ``view``, /stats are every worker's (``--workers``).
    """
    clock = clock or SystemClock()
    stats = stats if stats is not None else ReceiverStats()
    faults = config.faults
    injector = Injector(faults)
    secrets = (config.secret, *config.more_secrets) if config.secret else ()

    def drop(request: web.Request) -> None:
        """Drop the connection: aiohttp then abandons the request quietly."""
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    async def misbehave(
        request: web.Request, attempt: int
    ) -> web.StreamResponse | None:
        """An injected failure or delay for this request; None to carry on."""
        delay = injector.delay_s()
        if delay:
            await asyncio.sleep(delay)
        decision, status = injector.decide(attempt)
        if decision == "hang":
            stats.hangs += 1
            await asyncio.sleep(HANG_S)
            return web.Response(status=504)
        if decision == "reset":
            stats.resets += 1
            drop(request)
        if decision == "pass":
            return None
        stats.injected_failures += 1
        wait = faults.retry_after_header
        headers = {"Retry-After": wait} if wait is not None else {}
        return web.json_response({"error": "injected"}, status=status, headers=headers)

    app = web.Application(client_max_size=config.max_body_bytes)
    app[STATS_KEY] = stats
    save: IO[bytes] | None = None

    async def receive(request: web.Request) -> web.StreamResponse:
        if is_down is not None and is_down():
            # Down: a request on a kept-alive connection is dropped, as a
            # crashed server would; new connections are refused by the socket.
            drop(request)
        stats.requests += 1
        try:
            if request.content.is_eof():
                body = await request.read()  # all here: no timer to arm
            else:
                async with asyncio.timeout(config.body_timeout_s):
                    body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            stats.too_large += 1
            return web.json_response({"error": "body too large"}, status=413)
        except TimeoutError:
            stats.timed_out_bodies += 1
            return web.json_response(
                {"error": "request body too slow"}, status=408,
                headers={"Connection": "close"},
            )  # fmt: skip
        try:
            if config.api_key is not None:
                refused = check_api_key(config.api_key, request)
                if refused is not None:
                    stats.signature_failures += 1
                    return web.json_response({"error": refused}, status=401)
            elif secrets:
                now_ms = int(clock.time() * 1000)
                problem: str | None = "unsigned"
                for key in secrets:
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
            ids, attempt, types = parse_events(body, stats, request.query_string)
        except BadRequest as exc:
            stats.bad_requests += 1
            return web.json_response({"error": str(exc)}, status=400)
        if faults.any:
            injected = await misbehave(request, max(0, attempt))
            if injected is not None:
                return injected
        stats.accepted_requests += 1
        stats.events += len(ids)
        seen = stats.seen
        before = len(seen)
        seen.update(ids)
        stats.duplicates += len(ids) - (len(seen) - before)
        stats.by_attempt[max(0, attempt)] += len(ids)
        stats.count_types(types)
        if save is not None:
            # One line per event (a workflow record is one line itself).
            data = orjson.loads(body) if body else dict(request.query)
            events = data if isinstance(data, list) else [data]
            save.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
        return web.Response(status=204)

    async def get_stats(_: web.Request) -> web.Response:
        if view is not None:
            return web.json_response(await view.merged())
        return web.json_response(stats.to_json())

    async def reset(_: web.Request) -> web.Response:
        if view is not None:
            await view.clear()
        else:
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
    # Workflow webhooks may GET (app-calls §2); /stats and /health come first.
    app.router.add_get("/{tail:.*}", receive)
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
        self,
        config: ReceiverConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        view: StatsView | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        #: With a view, the port is shared with other worker processes.
        self.view = view
        self.stats = ReceiverStats()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._down = False

    async def start(self) -> None:
        """Listen on a free port (remembered for resume())."""
        app = create_app(
            self.config, stats=self.stats, is_down=lambda: self._down, view=self.view
        )
        # keepalive_timeout also closes a connection whose request headers
        # never finish (slowloris), not only an idle kept-alive one.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=True,
            keepalive_timeout=self.config.idle_timeout_s,
        )
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
            self._site = web.TCPSite(
                self._runner, self.host, self.port, reuse_port=self.view is not None
            )
            await self._site.start()

    async def close(self) -> None:
        """Stop for good."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def shown_host(host: str) -> str:
    """The host as it stands in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def cannot_listen(host: str, port: int, reason: str) -> UsageError:
    """The one line for a port the receiver cannot take."""
    return UsageError(
        f"--host/--port: cannot listen on {shown_host(host)}:{port}: {reason.lower()}"
    )


def serve(
    config: ReceiverConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_listening: Callable[[str], None] | None = None,
) -> ReceiverStats:
    """
    Run the receiver until Ctrl-C or SIGTERM (``hubsim receive``): tells
    ``on_listening`` its base URL once the socket is bound, then blocks.
    """
    return aio.run(_serve(config, host, port, on_listening))


async def _serve(
    config: ReceiverConfig,
    host: str,
    port: int,
    on_listening: Callable[[str], None] | None,
) -> ReceiverStats:
    server = ReceiverServer(config, host, port)
    try:
        await server.start()
    except OSError as exc:
        raise cannot_listen(host, port, exc.strerror or str(exc)) from None
    if on_listening is not None:
        on_listening(f"http://{shown_host(host)}:{server.port}/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()
    return server.stats
