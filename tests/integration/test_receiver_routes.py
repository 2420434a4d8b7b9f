"""
The receiver's routes, served both ways: as an aiohttp Application (tests,
embedding) and on aiohttp's low-level server (``hubsim receive``). One
dispatcher answers for both, so both must answer alike.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from simulator.receiver import ReceiverConfig, ReceiverServer, create_app
from simulator.signing import Signer

from ..conftest import serve_app
from ..vectors import B_UTF8

Served = Callable[[ReceiverConfig], "AsyncIterator[str]"]


@asynccontextmanager
async def _as_app(config: ReceiverConfig) -> AsyncIterator[str]:
    async with serve_app(create_app(config)) as server:
        yield str(server.make_url("/")).rstrip("/")


@asynccontextmanager
async def _low_level(config: ReceiverConfig) -> AsyncIterator[str]:
    server = ReceiverServer(config)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture(params=[_as_app, _low_level], ids=["application", "low-level"])
def served(request: pytest.FixtureRequest) -> Served:
    return request.param  # type: ignore[no-any-return]


async def _call(method: str, url: str, body: bytes = b"", headers=None):
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, data=body, headers=headers) as r,
    ):
        return r.status, await r.read(), r.headers.get("Allow")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("HEAD", "/health", 200),
        ("GET", "/stats", 200),
        ("GET", "/stats?pretty=1", 200),
        ("DELETE", "/stats", 204),
        ("PUT", "/hook", 405),
        ("DELETE", "/hook", 405),
        ("PATCH", "/stats", 405),
        # An unsigned GET is a workflow record that fails verification.
        ("GET", "/hook?a=1", 401),
    ],
)
async def test_routes(served, secret, method, path, status):
    """Each route answers the same status whichever way the receiver is served."""

    async with served(ReceiverConfig(secret=secret)) as base:
        got, _, _ = await _call(method, base + path)
    assert status == got


async def test_method_not_allowed_names_the_methods(served, secret):
    """A 405 says which methods the path takes, as aiohttp's router would."""

    async with served(ReceiverConfig(secret=secret)) as base:
        _, _, hook = await _call("PUT", base + "/hook")
        _, _, stats = await _call("PUT", base + "/stats")
    assert {"GET", "HEAD", "POST"} == {m.strip() for m in hook.split(",")}
    assert {"DELETE", "GET", "HEAD", "POST"} == {m.strip() for m in stats.split(",")}


async def test_signed_batch_counted_then_reset(served, secret):
    """A signed batch is counted in /stats, and DELETE /stats clears it."""

    async with served(ReceiverConfig(secret=secret)) as base:
        url = base + "/hook"
        headers = Signer(secret, url).headers(B_UTF8, int(time.time() * 1000))
        posted, _, _ = await _call("POST", url, B_UTF8, headers)
        _, before, _ = await _call("GET", base + "/stats")
        await _call("DELETE", base + "/stats")
        _, after, _ = await _call("GET", base + "/stats")
    assert 204 == posted
    assert b'"events": 2' in before
    assert b'"events": 0' in after


async def test_body_limit_is_413(served):
    """The body limit holds on both servers (the low-level one sets it itself)."""

    async with served(ReceiverConfig(secret=None, max_body_bytes=100)) as base:
        status, _, _ = await _call("POST", base + "/hook", b"[" + b" " * 200 + b"]")
    assert 413 == status


async def test_save_file_written_and_closed(served, tmp_path: Path):
    """--save appends every accepted event; DELETE /stats keeps the file's count."""

    path = tmp_path / "events.jsonl"
    async with served(ReceiverConfig(secret=None, save_path=str(path))) as base:
        status, _, _ = await _call("POST", base + "/hook", B_UTF8)
        await _call("DELETE", base + "/stats")
        await _call("POST", base + "/hook", B_UTF8)
        _, stats, _ = await _call("GET", base + "/stats")
    assert 204 == status
    assert 4 == len(path.read_bytes().splitlines())
    assert b'"saved_events": 4' in stats
    assert b'"events": 2,' in stats
