"""
An independent capture server for delivery tests: a plain aiohttp.web app that
records every request raw and answers from a script. It shares no code with
hubsim's receiver, so tests do not grade hubsim with its own homework.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Captured:
    """One request as it arrived."""

    method: str
    url: str
    raw_path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def events(self) -> list[dict[str, Any]]:
        """The parsed body."""
        return json.loads(self.body)


# Answer for a request: status, or (status, headers), plus optional hold seconds.
Script = Callable[[Captured], "int | tuple[int, dict[str, str]]"]


@dataclass
class CaptureServer:
    """Records requests; answers per ``script``; holds each for ``hold_s``."""

    script: Script = lambda _: 200
    hold_s: float = 0.0
    hang: Callable[[Captured], bool] = lambda _: False
    requests: list[Captured] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    in_flight_by_app: dict[int, int] = field(default_factory=dict)
    peak_by_app: dict[int, int] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)

        async def handle(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                body = await request.read()
                loop = asyncio.get_running_loop()
                cap = Captured(
                    request.method,
                    str(request.url),
                    request.raw_path,
                    dict(request.headers),
                    body,
                    loop.time(),
                )
                self.requests.append(cap)
                try:
                    app = int(json.loads(body)[0]["appId"])
                except (ValueError, LookupError, TypeError):
                    app = 0
                now = self.in_flight_by_app.get(app, 0) + 1
                self.in_flight_by_app[app] = now
                self.peak_by_app[app] = max(self.peak_by_app.get(app, 0), now)
                if self.hang(cap):
                    await asyncio.sleep(3600)
                if self.hold_s:
                    await asyncio.sleep(self.hold_s)
                answer = self.script(cap)
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                return web.Response(status=status, headers=headers)
            finally:
                self.in_flight -= 1
                if "app" in locals():
                    self.in_flight_by_app[app] -= 1

        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@dataclass(frozen=True)
class RawRequest:
    """One request exactly as its bytes arrived: the request line's target too."""

    method: str
    target: bytes
    headers: dict[str, str]
    body: bytes


@dataclass
class RawCapture:
    """
    A bare HTTP/1.1 server on asyncio streams (no aiohttp, no URL parsing): it
    keeps the request target as the bytes on the wire, for tests that the URL
    hubsim signs is the URL it sends. Answers every request 204, keep-alive.
    """

    requests: list[RawRequest] = field(default_factory=list)
    status: int = 204

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.rstrip(b"\r\n").split(b" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.requests.append(RawRequest(method.decode(), target, headers, body))
                writer.write(
                    f"HTTP/1.1 {self.status} No Content\r\nContent-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def raw_server() -> AsyncIterator[tuple[RawCapture, str]]:
    """A bare HTTP server on 127.0.0.1; yields it and its base URL."""
    cap = RawCapture()
    server = await asyncio.start_server(cap.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield cap, f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
