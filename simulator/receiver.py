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
import hmac
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final, Protocol

import orjson
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from . import aio
from .clock import Clock, SystemClock
from .errors import UsageError
from .faults import HANG_S, Faults, Injector
from .receiver_body import RECORD_TYPE, BadRequest, parse_events
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


def called_url(request: web.BaseRequest) -> str:
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
    secret: ClientSecret, request: web.BaseRequest, body: bytes, now_ms: int
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
    api_key: tuple[str, str, ClientSecret], request: web.BaseRequest
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


class StatsView(Protocol):
    """Where /stats comes from when several processes share the port."""

    async def merged(self) -> dict[str, Any]: ...
    async def clear(self) -> None: ...
    async def attempt_of(self, identity: int) -> int:
        """A workflow record's attemptNumber, from its arrivals at every worker."""
        ...


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """
    The receiver's routes as one handler, so it can run as an aiohttp
    Application (tests, embedding) or on aiohttp's low-level server
    (``hubsim receive``), with the file ``--save`` writes to.
    """

    stats: ReceiverStats
    handle: Handler
    open: Callable[[], None]
    close: Callable[[], None]


def create_app(
    config: ReceiverConfig,
    clock: Clock | None = None,
    stats: ReceiverStats | None = None,
    is_down: Callable[[], bool] | None = None,
    view: StatsView | None = None,
) -> web.Application:
    """
    The receiver as an aiohttp application (for tests and embedding); with a
    ``view``, /stats are every worker's (``--workers``).
    """
    ends = endpoints(config, clock, stats, is_down, view)
    app = web.Application(client_max_size=config.max_body_bytes)
    app[STATS_KEY] = ends.stats

    async def on_startup(_: web.Application) -> None:
        ends.open()

    async def on_cleanup(_: web.Application) -> None:
        ends.close()

    app.router.add_route("*", "/{tail:.*}", ends.handle)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def endpoints(
    config: ReceiverConfig,
    clock: Clock | None = None,
    stats: ReceiverStats | None = None,
    is_down: Callable[[], bool] | None = None,
    view: StatsView | None = None,
) -> Endpoints:
    """
    POST (or GET) anything: a webhook batch or workflow record, checked and
    counted. ``GET /stats``, ``DELETE /stats``, ``GET /health``.
    """
    clock = clock or SystemClock()
    stats = stats if stats is not None else ReceiverStats()
    faults = config.faults
    injector = Injector(faults)
    secrets = (config.secret, *config.more_secrets) if config.secret else ()

    def drop(request: web.BaseRequest) -> None:
        """Drop the connection: aiohttp then abandons the request quietly."""
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    async def misbehave(
        request: web.BaseRequest, attempt: int
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

    save: IO[bytes] | None = None

    async def receive(request: web.BaseRequest) -> web.StreamResponse:
        if is_down is not None and is_down():
            # Down: a request on a kept-alive connection is dropped, as a
            # crashed server would; new connections are refused by the socket.
            drop(request)
        stats.requests += 1
        try:
            payload = request.content
            if payload.is_eof():
                # All here: no timer to arm, and one join instead of read()'s
                # loop of awaits (about 10 us less per 30 KB batch).
                body = payload.read_nowait()
                if len(body) > config.max_body_bytes:
                    raise web.HTTPRequestEntityTooLarge(
                        config.max_body_bytes, len(body)
                    )
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
            ids, attempt, types = parse_events(
                body, stats, request.query_string, request.method == "GET"
            )
            if view is not None and types[0].startswith(RECORD_TYPE):
                # A retry may reach another worker: only the parent has seen
                # every arrival (events carry their own attemptNumber).
                attempt = await view.attempt_of(ids[0])
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
            stats.saved += len(events)
        return web.Response(status=204)

    async def get_stats(_: web.BaseRequest) -> web.Response:
        if view is not None:
            return web.json_response(await view.merged())
        return web.json_response(stats.to_json())

    async def reset(_: web.BaseRequest) -> web.Response:
        if view is not None:
            await view.clear()
        else:
            stats.clear()
        return web.Response(status=204)

    async def health(_: web.BaseRequest) -> web.Response:
        return web.Response(text="ok")

    def open_save() -> None:
        nonlocal save
        if config.save_path and save is None:
            save = open(config.save_path, "ab")  # noqa: SIM115 - closed by close_save

    def close_save() -> None:
        nonlocal save
        if save is not None:
            with contextlib.suppress(OSError):
                save.close()
            save = None

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        # A router would cost more than these comparisons: the receiver is on
        # the hot path of every benchmark. Workflow webhooks may GET
        # (app-calls §2); GET adds HEAD, as aiohttp's router does.
        method = request.method
        path = request.raw_path.partition("?")[0]
        if method == "POST":
            return await receive(request)
        if method in ("GET", "HEAD"):
            if path == "/stats":
                return await get_stats(request)
            if path == "/health":
                return await health(request)
            return await receive(request)
        if method == "DELETE" and path == "/stats":
            return await reset(request)
        allowed = {"GET", "HEAD", "POST"} | ({"DELETE"} if path == "/stats" else set())
        raise web.HTTPMethodNotAllowed(method, allowed)

    return Endpoints(stats, handle, open_save, close_save)


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
        self._runner: web.ServerRunner | None = None
        self._site: web.TCPSite | None = None
        self._down = False
        self._ends: Endpoints | None = None

    async def start(self) -> None:
        """Listen on a free port (remembered for resume())."""
        ends = endpoints(
            self.config, stats=self.stats, is_down=lambda: self._down, view=self.view
        )
        loop = asyncio.get_running_loop()
        limit = self.config.max_body_bytes

        def request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> web.BaseRequest:
            return web.BaseRequest(
                message, payload, protocol, writer, task, loop, client_max_size=limit
            )

        # aiohttp's low-level server, not an Application: without the router,
        # middlewares and signals a bare sink answers about 1.2x as many
        # requests/s here, and the receiver must not be what limits a run.
        # keepalive_timeout also closes a connection whose request headers
        # never finish (slowloris), not only an idle kept-alive one.
        server = web.Server(
            ends.handle,
            request_factory=request,
            handler_cancellation=True,
            access_log=None,
            keepalive_timeout=self.config.idle_timeout_s,
        )
        self._runner = web.ServerRunner(server)
        await self._runner.setup()
        self._ends = ends
        await self.resume()
        # Only once the port is ours: a port in use is bad input, and bad
        # input leaves no file behind. No request can be served before this
        # runs, since accepting one takes later turns of the loop.
        ends.open()
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
        if self._ends is not None:
            self._ends.close()
            self._ends = None


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
