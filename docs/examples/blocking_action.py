"""A custom action that blocks, works, then calls HubSpot back."""

import asyncio
import hashlib
import hmac
import os

import aiohttp
from aiohttp import web

SECRET = os.environ["HUBSPOT_CLIENT_SECRET"]
API_BASE = os.environ.get("HUBSPOT_API_BASE", "https://api.hubapi.com")
TOKEN = os.environ["HUBSPOT_TOKEN"]  # your app's access token
background: set[asyncio.Task[None]] = set()


def signed(request: web.Request, body: bytes) -> bool:
    # v2: sha256 hex of secret + method + the URL HubSpot called + body
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    material = SECRET.encode() + request.method.encode() + url.encode() + body
    expected = hashlib.sha256(material).hexdigest()
    given = request.headers.get("X-HubSpot-Signature", "")
    return hmac.compare_digest(expected, given)


async def execute(request: web.Request) -> web.Response:
    body = await request.read()
    if not signed(request, body):
        return web.json_response({"message": "bad signature"}, status=401)
    execution = await request.json()
    task = asyncio.create_task(send_then_complete(execution))
    background.add(task)
    task.add_done_callback(background.discard)
    # Answer at once; HubSpot waits (up to a week) for the callback.
    return web.json_response({"outputFields": {"hs_execution_state": "BLOCK"}})


async def send_then_complete(execution: dict) -> None:
    await asyncio.sleep(0.2)  # the slow work: send the message, wait for a reply…
    callback_id = execution["callbackId"]
    url = f"{API_BASE}/automation/v4/actions/callbacks/{callback_id}/complete"
    outputs = {"hs_execution_state": "SUCCESS", "delivery_status": "sent"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"outputFields": outputs}, headers=headers) as answer,
    ):
        if answer.status != 204:  # HubSpot's error envelope says why
            print("callback refused:", answer.status, await answer.text())


def app() -> web.Application:
    application = web.Application()
    application.router.add_post("/actions/send", execute)
    return application


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=3000)
