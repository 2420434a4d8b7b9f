"""
Shared fixtures: real servers on 127.0.0.1 (never mocked aiohttp), a seed, and a
ManualClock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from simulator.clock import ManualClock
from simulator.receiver import ReceiverConfig, create_app
from simulator.signing import ClientSecret

from .capture import CaptureServer

SECRET = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@pytest.fixture
def seed() -> int:
    """A fixed seed, so generated streams are reproducible."""
    return 7


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock that moves only when slept on or advanced."""
    return ManualClock()


@pytest.fixture
def secret() -> ClientSecret:
    """The test app's client secret."""
    return ClientSecret(SECRET)


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[TestServer]:
    """Serve ``app`` on 127.0.0.1 and a free port for the block."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def receiver(secret: ClientSecret) -> AsyncIterator[TestServer]:
    """hubsim's built-in receiver on 127.0.0.1."""
    async with serve_app(create_app(ReceiverConfig(secret=secret))) as server:
        yield server


@pytest.fixture
def capture_factory() -> Callable[..., Any]:
    """Start an independent capture server: ``async with capture_factory(...) as (cap, url)``."""

    @asynccontextmanager
    async def start(**kwargs: Any) -> AsyncIterator[tuple[CaptureServer, str]]:
        cap = CaptureServer(**kwargs)
        async with serve_app(cap.app()) as server:
            yield cap, str(server.make_url("/hook"))

    return start


class ThreadedReceiver:
    """The built-in receiver on its own loop in a thread, for CLI tests."""

    def __init__(
        self,
        config: ReceiverConfig | None = None,
        app_factory: Callable[[], web.Application] | None = None,
        port: int = 0,
    ) -> None:
        self.config = config
        self.app_factory = app_factory
        self.port = port
        self.app: web.Application | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        if self.app_factory is not None:
            self.app = self.app_factory()
        else:
            assert self.config is not None
            self.app = create_app(self.config)
        runner = web.AppRunner(self.app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def __enter__(self) -> ThreadedReceiver:
        self._thread.start()
        assert self._ready.wait(10), "receiver thread did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def threaded_receiver(secret: ClientSecret) -> Iterator[ThreadedReceiver]:
    """The built-in receiver in a background thread (the CLI runs its own loop)."""
    with ThreadedReceiver(ReceiverConfig(secret=secret)) as r:
        yield r
