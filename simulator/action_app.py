"""
The built-in custom action endpoint: a stand-in for an app's ``actionUrl``,
so an action scenario runs end to end without the app (``hubsim run
custom-action``), the way the built-in receiver stands in for a webhook
receiver.

It does what a careful app does: refuses requests whose v2 signature is
wrong or whose v3 is wrong or stale (401), and answers each execution by its
share of :class:`Behaviour`: ``SUCCESS`` with the definition's outputs,
``FAIL_CONTINUE``, ``BLOCK`` and a callback to the callbacks API after
``callback_delay_s``, or ``BLOCK`` with ``hs_expiration_duration`` and no
callback, so the execution expires. ``error_rate`` answers 503 to that share
of requests, which HubSpot retries with the same callbackId.

Answers follow the shares exactly, in arrival order (300 executions at a third
each: 100 of each), so a scenario's thresholds can count on them; the 503s
are drawn from ``seed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web
from yarl import URL

from . import aio, transport
from .actions import Definition, FieldSpec
from .answers import Behaviour, Shares
from .errors import UsageError
from .receiver import called_url
from .signing import (
    H_SIGNATURE,
    H_SIGNATURE_V3,
    H_TIMESTAMP,
    H_VERSION,
    ClientSecret,
    verify_v2,
    verify_v3,
)

#: The one path it serves executions on (any path works; this one is shown).
PATH: Final = "/actions/execute"
#: Where options fetches are shown to go (any path works: the body says which).
OPTIONS_PATH: Final = "/actions/options"
MAX_BODY: Final = 1024 * 1024
#: Options per page: small, so that `after` paging is exercised too.
OPTIONS_PAGE: Final = 2


def options_page(definition: Definition, doc: dict[str, Any]) -> dict[str, Any] | None:
    """
    One page of an input field's options for an options fetch (app-calls
    §1.5): the definition's options, those whose label holds ``q`` when one
    is given, ``OPTIONS_PAGE`` at a time from the offset in ``after``, and
    searchable. None when the field is not an input of the definition.
    """
    spec = next(
        (f for f in definition.inputs if f.name == doc.get("inputFieldName")), None
    )
    if spec is None:
        return None
    fetch = doc.get("fetchOptions")
    fetch = fetch if isinstance(fetch, dict) else {}
    q = str(fetch.get("q") or "").casefold()
    chosen = [o for o in spec.options if q in o.casefold()]
    after = str(fetch.get("after") or "0")
    start = int(after) if after.isdigit() else 0
    end = start + OPTIONS_PAGE
    page: dict[str, Any] = {
        "options": [
            {"label": o, "description": o, "value": o} for o in chosen[start:end]
        ],
        "searchable": True,
    }
    if end < len(chosen):
        page["after"] = str(end)
    return page


def sample_outputs(definition: Definition) -> dict[str, str]:
    """A value of the right type for every output the definition declares."""
    return {f.name: _sample(f) for f in definition.outputs}


def _sample(spec: FieldSpec) -> str:
    if spec.type == "enumeration" and spec.options:
        return spec.options[0]
    if spec.type == "number":
        return "1"
    if spec.type == "bool":
        return "true"
    return f"{spec.name}-ok"


@dataclass
class ActionApp:
    """
    The endpoint for one run: its secret, the definition, the behaviour, and
    where the callbacks API is (known once the run listens).
    """

    secret: ClientSecret
    definition: Definition
    behaviour: Behaviour
    api_base: Callable[[], str | None]
    token: str
    answers: dict[str, int] = field(default_factory=dict)
    callbacks: dict[int, int] = field(default_factory=dict)
    refused: int = 0
    options_fetches: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        """The endpoint as an aiohttp application (every POST path)."""
        rng = random.Random(self.behaviour.seed)
        shares = Shares(self.behaviour)
        outputs = sample_outputs(self.definition)
        b = self.behaviour

        async def execute(request: web.Request) -> web.Response:
            body = await request.read()
            if (problem := self._check(request, body)) is not None:
                self.refused += 1
                return web.json_response({"message": problem}, status=401)
            if b.latency_ms:
                await asyncio.sleep(b.latency_ms / 1000)
            if rng.random() < b.error_rate:
                return web.json_response({"message": "try again later"}, status=503)
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                return web.json_response({"message": "body is not JSON"}, status=400)
            if isinstance(doc, dict) and "fetchOptions" in doc:
                # The workflow editor asking for a field's options (§1.5).
                page = options_page(self.definition, doc)
                if page is None:
                    name = doc.get("inputFieldName")
                    problem = f"no input field {name!r} in the definition"
                    return web.json_response({"message": problem}, status=400)
                self.options_fetches += 1
                return web.json_response(page)
            try:
                callback_id = str(doc["callbackId"])
            except (KeyError, TypeError):
                return web.json_response({"message": "no callbackId"}, status=400)
            answer = shares.next()
            self.answers[answer] = self.answers.get(answer, 0) + 1
            if answer == "success":
                return web.json_response({"outputFields": outputs})
            if answer == "fail_continue":
                state = {"hs_execution_state": "FAIL_CONTINUE"}
                return web.json_response({"outputFields": state})
            if answer == "expire":
                blocked = {
                    "hs_execution_state": "BLOCK",
                    "hs_expiration_duration": b.expiration,
                }
                return web.json_response({"outputFields": blocked})
            task = asyncio.ensure_future(self._call_back(callback_id, outputs))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return web.json_response({"outputFields": {"hs_execution_state": "BLOCK"}})

        async def on_startup(_: web.Application) -> None:
            self._client = transport.session(10, 10.0)

        async def on_cleanup(_: web.Application) -> None:
            for task in list(self._tasks):
                task.cancel()
            if self._client is not None:
                await self._client.close()

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/{tail:.*}", execute)
        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
        return app

    def _check(self, request: web.Request, body: bytes) -> str | None:
        headers = request.headers
        url = called_url(request)
        sig = headers.get(H_SIGNATURE)
        if sig is None or headers.get(H_VERSION, "").lower() != "v2":
            return "missing v2 signature"
        if not verify_v2(self.secret, request.method, url, body, sig):
            return "bad v2 signature"
        sig_v3 = headers.get(H_SIGNATURE_V3)
        if sig_v3 is not None:
            now = int(time.time() * 1000)
            ts = headers.get(H_TIMESTAMP, "")
            if (
                verify_v3(self.secret, request.method, url, body, sig_v3, ts, now)
                != "ok"
            ):
                return "bad or stale v3 signature"
        return None

    async def _call_back(self, callback_id: str, outputs: dict[str, str]) -> None:
        await asyncio.sleep(self.behaviour.callback_delay_s)
        base = self.api_base()
        if base is None or self._client is None:
            return
        url = f"{base}/automation/v4/actions/callbacks/{callback_id}/complete"
        body = {"outputFields": {**outputs, "hs_execution_state": "SUCCESS"}}
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
        }
        answer = await transport.send(
            self._client, URL(url), json.dumps(body).encode(), headers
        )
        key = answer.status or 0
        self.callbacks[key] = self.callbacks.get(key, 0) + 1


def serve(
    app: ActionApp,
    port: int,
    on_listening: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """
    Serve the endpoint on 127.0.0.1 until Ctrl-C or SIGTERM (``hubsim
    action-app``); its answers by kind when it stops.
    """
    return aio.run(_serve(app, port, on_listening))


async def _serve(
    app: ActionApp, port: int, on_listening: Callable[[str], None] | None
) -> dict[str, int]:
    runner = web.AppRunner(app.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(
            f"--port: cannot listen on 127.0.0.1:{port}: "
            f"{(exc.strerror or str(exc)).lower()}"
        ) from None
    if on_listening is not None:
        on_listening(f"http://127.0.0.1:{runner.addresses[0][1]}{PATH}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return dict(app.answers)
