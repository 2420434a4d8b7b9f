"""
A HubSpot webhook receiver as an integrator writes one (aiohttp), standing in
for "your app" in the README's pytest example. It knows nothing of hubsim:
it verifies v3 over the raw body and the URL it was called on, refuses
timestamps older than five minutes, and answers 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from aiohttp import web

SECRET = "the-secret-your-app-checks"


def valid_v3(method: str, url: str, body: bytes, signature: str, ts: str) -> bool:
    """HubSpot's v3: base64 HMAC-SHA256 of method + URL + raw body + timestamp."""
    try:
        if time.time() * 1000 - int(ts) > 300_000:
            return False
    except ValueError:
        return False
    message = method.encode() + url.encode() + body + ts.encode()
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), signature)


async def webhook(request: web.Request) -> web.Response:
    """POST /webhooks/hubspot: verify, then accept every event."""
    body = await request.read()
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    signature = request.headers.get("X-HubSpot-Signature-v3", "")
    timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
    if not valid_v3(request.method, url, body, signature, timestamp):
        return web.Response(status=401)
    try:
        json.loads(body)
    except ValueError:
        return web.Response(status=400)
    return web.Response(status=200)


def create_app() -> web.Application:
    """The receiver."""
    app = web.Application()
    app.router.add_post("/webhooks/hubspot", webhook)
    return app
