"""
Two small HubSpot receivers written the way an integrator would, used as the
documented examples of hubsim's pytest plugin: one with aiohttp, one with
Starlette (an ASGI app; FastAPI apps work the same way).

Both verify v3 over the raw body and the URL they were called on, reject
timestamps older than five minutes, and accept every event type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

SECRET = "example-app-secret"


def valid_v3(
    method: str, url: str, body: bytes, signature: str, timestamp: str
) -> bool:
    """HubSpot's v3 check: HMAC-SHA256 of method + URL + raw body + timestamp."""
    try:
        if time.time() * 1000 - int(timestamp) > 300_000:
            return False
    except ValueError:
        return False
    message = method.encode() + url.encode() + body + timestamp.encode()
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), signature)


def aiohttp_receiver():
    """The aiohttp example."""
    from aiohttp import web

    received: list[dict] = []

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        ok = valid_v3(
            request.method,
            url,
            body,
            request.headers.get("X-HubSpot-Signature-v3", ""),
            request.headers.get("X-HubSpot-Request-Timestamp", ""),
        )
        if not ok:
            return web.Response(status=401)
        received.extend(json.loads(body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/hubspot", webhook)
    return app


def starlette_receiver():
    """The Starlette example (FastAPI: the same handler as a route)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def webhook(request: Request) -> Response:
        body = await request.body()
        ok = valid_v3(
            request.method,
            str(request.url),
            body,
            request.headers.get("x-hubspot-signature-v3", ""),
            request.headers.get("x-hubspot-request-timestamp", ""),
        )
        if not ok:
            return Response(status_code=401)
        json.loads(body)
        return Response(status_code=204)

    return Starlette(routes=[Route("/webhooks/hubspot", webhook, methods=["POST"])])
