"""
hubsim as a pytest plugin: HubSpot-exact webhook requests inside your tests.

Define ``hubspot_target`` (a URL, an aiohttp ``web.Application`` or an ASGI
app), ``hubspot_secret`` (what your receiver verifies with) and, for an app,
``hubspot_path``; then::

    async def test_contact_creation(hubspot_sender):
        [answer] = await hubspot_sender.send(types=["contact.creation"], count=5)
        assert answer.status == 200

    @pytest.mark.parametrize("check_id", contract_check_ids())
    async def test_contract(hubspot_contract, check_id):
        result = await hubspot_contract(check_id)
        assert not result.failed, result.message

Apps are served on 127.0.0.1 for the test and stopped after it. The fixtures
are async, so pytest-asyncio must be installed (the ``hubsim[pytest]`` extra);
``async def`` tests that use them are marked for it automatically, so its
default strict mode needs no marker and no configuration.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from . import crm_state, transport, verification
from .batching import Batch
from .contract import CHECK_IDS, CheckResult, ContractOptions, run_contract
from .events import EventConfig, EventSource, WebhookEvent
from .signing import ClientSecret, Signer
from .target import Target

try:
    import pytest_asyncio

    HAVE_ASYNCIO = True
except ImportError:  # pragma: no cover - the plugin then offers only sync fixtures
    HAVE_ASYNCIO = False


def contract_check_ids() -> tuple[str, ...]:
    """The contract check ids, to parametrize a test with."""
    return CHECK_IDS


StateRows = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


def assert_state_matches(
    expected: StateRows, actual: StateRows, limit: int = 10
) -> None:
    """
    Fail the test, listing the first differences, unless your receiver's state
    matches the expected one (``--state-out``); each is a JSONL path or rows
    of the same shape (dicts, e.g. straight from your database)::

        assert_state_matches("expected.jsonl", [dict(row) for row in rows])
    """
    result = verification.verify(_state(expected, "expected"), _state(actual, "actual"))
    if not result.passed:
        lines = "\n".join(d.line() for d in result.differences[:limit])
        raise AssertionError(f"{result.summary()}\n{lines}")


def _state(rows: StateRows, what: str) -> dict[crm_state.Key, crm_state.Record]:
    if isinstance(rows, (str, os.PathLike)):
        return crm_state.read(os.fspath(rows), what)
    records = (crm_state.parse(row, f"{what} row {n}") for n, row in enumerate(rows, 1))
    return {r.key: r for r in records}


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One request the sender made and what came back."""

    status: int
    body: bytes
    headers: dict[str, str]
    response: bytes
    latency_s: float
    #: The failure (timeout, connect_error …) when there was no answer; status 0.
    error: str | None = None

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events that were sent."""
        import json

        data: list[dict[str, Any]] = json.loads(self.body)
        return data


class HubSpotSender:
    """
    Sends HubSpot-exact, signed batches to the target under test.
    """

    def __init__(
        self, url: str, secret: ClientSecret, format: str = "classic", seed: int = 1
    ) -> None:
        self.target = Target.parse(url)
        self.url = self.target.url
        self.secret = secret
        self.format = "generic" if format == "generic" else "classic"
        self._seed = seed
        self._signer = Signer(secret, self.target)

    def events(
        self, types: Sequence[str] = ("contact",), count: int = 1
    ) -> list[WebhookEvent]:
        """Realistic events, as the sender would send them."""
        self._seed += 1
        source = EventSource(
            EventConfig(
                types=tuple(types),
                format=self.format,  # type: ignore[arg-type]
                seed=self._seed,
                start_ms=int(time.time() * 1000),
            )
        )
        return source.take(count)

    async def send(
        self,
        types: Sequence[str] = ("contact",),
        count: int = 1,
        attempt_number: int = 0,
        events: Sequence[WebhookEvent] | None = None,
    ) -> list[SentRequest]:
        """
        Send ``count`` events of ``types`` (or ``events``) in batches of at most
        100, one portal each, signed v1 + v3 with a fresh timestamp.
        """
        chosen = list(events) if events is not None else self.events(types, count)
        out: list[SentRequest] = []
        async with transport.session(10, 30.0) as session:
            for start in range(0, len(chosen), 100):
                batch = Batch.of(1, 0, tuple(chosen[start : start + 100]))
                body = batch.body(attempt_number)
                headers = self._signer.headers(body, int(time.time() * 1000))
                answer = await transport.send(
                    session, self.target.wire, body, headers, keep_body=True
                )
                out.append(
                    SentRequest(
                        answer.status or 0,
                        body,
                        headers,
                        answer.body,
                        answer.latency_s,
                        answer.error,
                    )
                )
        return out


def asgi_app(app: Callable[..., Awaitable[None]]) -> web.Application:
    """
    An aiohttp application that hands every request to an ASGI ``app`` (a
    Starlette or FastAPI app, or any ASGI callable), so it can be served on
    loopback without an ASGI server dependency.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        sent = False
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.split("?")[0].encode(),
            "query_string": request.query_string.encode(),
            "root_path": "",
            "headers": [
                (k.lower().encode(), v.encode()) for k, v in request.headers.items()
            ],
            "server": (request.host.split(":")[0], request.url.port or 80),
            "client": ("127.0.0.1", 0),
        }
        response: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                response["body"] += message.get("body", b"")

        await app(scope, receive, send)
        headers = {k.decode(): v.decode() for k, v in response["headers"]}
        headers.pop("content-length", None)
        return web.Response(
            status=response["status"], body=response["body"], headers=headers
        )

    wrapper = web.Application()
    wrapper.router.add_route("*", "/{tail:.*}", handle)
    return wrapper


#: The fixtures that make a test async; such tests are marked for
#: pytest-asyncio automatically, so strict mode (its default) needs no marker.
ASYNC_FIXTURES: Final = frozenset({"hubspot_url", "hubspot_sender", "hubspot_contract"})


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> None:
    """Mark ``async def`` tests that use hubsim's async fixtures as asyncio tests."""
    if not (HAVE_ASYNCIO and inspect.iscoroutinefunction(obj)):
        return
    try:
        params = set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return
    marked = any(m.name == "asyncio" for m in getattr(obj, "pytestmark", []))
    if params & ASYNC_FIXTURES and not marked:
        pytest.mark.asyncio(obj)


@pytest.fixture
def hubspot_secret() -> str:
    """
    The client secret your receiver verifies with. Define it in your
    conftest.py: without it every request would be signed with a secret your
    receiver does not know, and fail for a reason that has nothing to do with
    your code.
    """
    pytest.fail(
        "hubsim: define a `hubspot_secret` fixture returning the client secret "
        "your receiver verifies requests with",
        pytrace=False,
    )


@pytest.fixture
def hubspot_target() -> Any:
    """What to send to: override with a URL, an aiohttp app or an ASGI app."""
    pytest.fail(
        "hubsim: define a `hubspot_target` fixture returning your receiver's URL, "
        "aiohttp web.Application or ASGI app",
        pytrace=False,
    )


@pytest.fixture
def hubspot_path() -> str:
    """
    The path your webhook handler listens on, when ``hubspot_target`` is an
    app (a URL already has its path).
    """
    pytest.fail(
        "hubsim: your hubspot_target is an app; define a `hubspot_path` fixture "
        "returning the path its webhook handler listens on, e.g. "
        "'/webhooks/hubspot'",
        pytrace=False,
    )


if HAVE_ASYNCIO:

    @pytest_asyncio.fixture
    async def hubspot_url(
        request: pytest.FixtureRequest, hubspot_target: Any
    ) -> AsyncIterator[str]:
        """The URL under test: the target itself, or the app served on loopback."""
        if isinstance(hubspot_target, str):
            yield hubspot_target
            return
        hubspot_path: str = request.getfixturevalue("hubspot_path")
        app = hubspot_target
        if not isinstance(app, web.Application):
            app = asgi_app(app)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url(hubspot_path))
        finally:
            await server.close()

    @pytest_asyncio.fixture
    async def hubspot_sender(hubspot_url: str, hubspot_secret: str) -> HubSpotSender:
        """Sends HubSpot-exact batches: ``await hubspot_sender.send(...)``."""
        return HubSpotSender(hubspot_url, ClientSecret(hubspot_secret))

    @pytest.fixture
    def hubspot_events() -> Callable[..., list[WebhookEvent]]:
        """Event factory: ``hubspot_events(["deal.creation"], 10)``."""

        def make(
            types: Sequence[str] = ("contact",), count: int = 1, seed: int = 1
        ) -> list[WebhookEvent]:
            source = EventSource(
                EventConfig(
                    types=tuple(types), seed=seed, start_ms=int(time.time() * 1000)
                )
            )
            return source.take(count)

        return make

    @pytest_asyncio.fixture
    async def hubspot_contract(
        hubspot_url: str, hubspot_secret: str
    ) -> Callable[..., Awaitable[CheckResult]]:
        """Run one contract check: ``await hubspot_contract("rejects-replay")``."""

        async def run(check_id: str, **options: Any) -> CheckResult:
            opts = ContractOptions(
                hubspot_url, ClientSecret(hubspot_secret), only=(check_id,), **options
            )
            [result] = await run_contract(opts)
            return result

        return run


__all__ = ["HubSpotSender", "SentRequest", "asgi_app", "contract_check_ids"]
