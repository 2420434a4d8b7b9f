"""
A reference custom-action endpoint, written from HubSpot's docs (custom
workflow actions, callbacks API, request validation) and sharing no code with
hubsim: it checks v2 as ``sha256(secret + method + uri + body)``, answers
executions by a plan, and completes blocked ones by calling the callbacks API
at ``api_base`` with a Bearer token, as an app would call api.hubapi.com.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

#: How to answer one execution: success, block then call back, block forever,
#: fail (4xx), error (5xx).
Plan = Callable[[int, dict[str, Any]], str]


def thirds(i: int, _: dict[str, Any]) -> str:
    """The acceptance plan: success, block + callback, block + expire, in turn."""
    return ("success", "callback", "expire")[i % 3]


@dataclass
class ActionApp:
    """The endpoint; its records are what the tests look at."""

    secret: str
    api_base: str = ""
    token: str = "app-token"
    plan: Plan = thirds
    callback_delay_s: float = 0.3
    #: Also check v3 and its timestamp (a careful app); v2 alone has no expiry.
    verify_v3: bool = False
    #: (method, full URL, body, headers) of every request, in arrival order.
    requests: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)
    order: dict[str, int] = field(default_factory=dict)
    v2_valid: list[bool] = field(default_factory=list)
    callback_answers: list[int] = field(default_factory=list)
    callback_bodies: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def valid_v2(self, method: str, url: str, body: bytes, signature: str) -> bool:
        material = self.secret.encode() + method.encode() + url.encode() + body
        return hmac.compare_digest(hashlib.sha256(material).hexdigest(), signature)

    def valid_v3(self, method: str, url: str, body: bytes, headers) -> bool:
        ts = headers.get("X-HubSpot-Request-Timestamp", "")
        if not ts.isdigit() or time.time() * 1000 - int(ts) > 300_000:
            return False
        message = method.encode() + url.encode() + body + ts.encode()
        mac = hmac.new(self.secret.encode(), message, hashlib.sha256)
        expected = base64.b64encode(mac.digest()).decode()
        return hmac.compare_digest(expected, headers.get("X-HubSpot-Signature-v3", ""))

    def app(self) -> web.Application:
        async def execute(request: web.Request) -> web.Response:
            body = await request.read()
            url = f"http://{request.host}{request.raw_path}"
            self.requests.append((request.method, url, body, dict(request.headers)))
            ok = self.valid_v2(
                request.method,
                url,
                body,
                request.headers.get("X-HubSpot-Signature", ""),
            )
            self.v2_valid.append(ok)
            if not ok or request.headers.get("X-HubSpot-Signature-Version") != "v2":
                return web.json_response({"message": "bad signature"}, status=401)
            if self.verify_v3 and not self.valid_v3(
                request.method, url, body, request.headers
            ):
                return web.json_response({"message": "bad or stale v3"}, status=401)
            doc = json.loads(body)
            callback_id = doc["callbackId"]
            index = self.order.setdefault(callback_id, len(self.order))
            what = self.plan(index, doc)
            if what == "error":
                return web.json_response({"message": "try later"}, status=503)
            if what == "fail":
                return web.json_response({"message": "bad input"}, status=400)
            if what == "success":
                return web.json_response(
                    {"outputFields": {"delivery_status": "sent", "message_id": "m-1"}}
                )
            if what == "callback":
                task = asyncio.ensure_future(self.call_back(callback_id))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                return web.json_response(
                    {"outputFields": {"hs_execution_state": "BLOCK"}}
                )
            return web.json_response(
                {
                    "outputFields": {
                        "hs_execution_state": "BLOCK",
                        "hs_expiration_duration": "PT2H",
                    }
                }
            )

        async def options(request: web.Request) -> web.Response:
            body = await request.read()
            url = f"http://{request.host}{request.raw_path}"
            if not self.valid_v2(
                request.method,
                url,
                body,
                request.headers.get("X-HubSpot-Signature", ""),
            ):
                return web.json_response({"message": "bad signature"}, status=401)
            fetch = json.loads(body).get("fetchOptions", {})
            if fetch.get("after") == "page-2":
                page = [{"label": "High", "value": "high"}]
                return web.json_response({"options": page, "searchable": True})
            page = [{"label": "Low", "value": "low", "description": "low"}]
            return web.json_response(
                {"options": page, "after": "page-2", "searchable": True}
            )

        app = web.Application()
        app.router.add_post("/actions/send", execute)
        app.router.add_post("/actions/options", options)
        return app

    async def call_back(self, callback_id: str) -> None:
        await asyncio.sleep(self.callback_delay_s)
        url = f"{self.api_base}/automation/v4/actions/callbacks/{callback_id}/complete"
        body = {
            "outputFields": {"hs_execution_state": "SUCCESS", "delivery_status": "sent"}
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, json=body, headers={"Authorization": f"Bearer {self.token}"}
            ) as resp,
        ):
            self.callback_answers.append(resp.status)
            self.callback_bodies.append(await resp.text())
