"""
Webhook receivers with the signature bugs integrators write, each written
from HubSpot's docs (v3: base64 HMAC-SHA256 of method + URI + body +
timestamp, timestamps in ms, 5 minutes) and sharing no code with hubsim, so
that the contract's diagnosis is graded by receivers it did not write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

from aiohttp import web

#: How a receiver turns a request into (uri, body bytes, timestamp ok?).
Reading = Callable[[web.Request, bytes], tuple[str, bytes, bool]]


def _fresh_ms(ts: str) -> bool:
    return ts.isdigit() and abs(time.time() * 1000 - int(ts)) <= 300_000


def careful(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
    """What a careful receiver does: the URL as called, the raw body, ms."""
    uri = f"{request.scheme}://{request.host}{request.raw_path}"
    return uri, body, _fresh_ms(request.headers.get("X-HubSpot-Request-Timestamp", ""))


def app(secret: str, reading: Reading = careful) -> web.Application:
    """A receiver that verifies v3 the way ``reading`` says."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        uri, signed_body, fresh = reading(request, body)
        ts = request.headers.get("X-HubSpot-Request-Timestamp", "")
        message = request.method.encode() + uri.encode() + signed_body + ts.encode()
        expected = base64.b64encode(
            hmac.new(secret.encode(), message, hashlib.sha256).digest()
        ).decode()
        given = request.headers.get("X-HubSpot-Signature-v3", "")
        if not fresh or not hmac.compare_digest(expected, given):
            return web.json_response({"message": "invalid signature"}, status=401)
        try:
            events = json.loads(body)
        except ValueError:
            return web.json_response({"message": "not JSON"}, status=400)
        if not isinstance(events, list):
            return web.json_response({"message": "not a list"}, status=400)
        return web.Response(status=204)

    application = web.Application()
    application.router.add_post("/{tail:.*}", receive)
    return application


def reserialising(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
    """Verifies over json.dumps(json.loads(body)): Python's defaults."""
    uri, _, fresh = careful(request, body)
    return uri, json.dumps(json.loads(body)).encode(), fresh


def ascii_compact(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
    """Verifies over a compact re-serialisation with ensure_ascii."""
    uri, _, fresh = careful(request, body)
    return uri, json.dumps(json.loads(body), separators=(",", ":")).encode(), fresh


def plain_http(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
    """Rebuilds the URL as http:// from the Host header (a proxy's TLS lost)."""
    _, _, fresh = careful(request, body)
    return f"http://{request.headers['Host']}{request.raw_path}", body, fresh


def seconds(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
    """Compares the timestamp with time.time() as if it were seconds."""
    uri, _, _ = careful(request, body)
    ts = request.headers.get("X-HubSpot-Request-Timestamp", "")
    return uri, body, ts.isdigit() and abs(time.time() - int(ts)) <= 300


def proxy_trusting(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
    """Believes X-Forwarded-Proto/Host from anyone, as uvicorn does on loopback."""
    _, _, fresh = careful(request, body)
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.headers["Host"])
    return f"{proto}://{host}{request.raw_path}", body, fresh


def configured(public_url: str) -> Reading:
    """Verifies over the URL it is configured with: immune to proxy headers."""

    def reading(request: web.Request, body: bytes) -> tuple[str, bytes, bool]:
        _, _, fresh = careful(request, body)
        return public_url, body, fresh

    return reading
