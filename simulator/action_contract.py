"""
Contract checks for a custom action endpoint (``hubsim contract --kind
action``): what an app's ``actionUrl`` (and its options endpoint) must do for
HubSpot's workflow engine, each check a few requests with a stable id, the
same :class:`~simulator.contract.CheckResult`, JUnit and JSON as the webhook
contract.

A blocking answer is followed by a callback to the local callbacks API that
runs during the checks (:mod:`simulator.callbacks`); the app under test must
be pointed at its URL (``--api-port``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from aiohttp import web

from . import transport
from .actions import DEFAULT, Definition, ExecutionSource, check_outputs, read_reply
from .callbacks import Registry, create_app
from .contract import CheckResult, shown
from .errors import UsageError
from .options_fetch import page_problems, request_body
from .signing import H_SIGNATURE, H_SIGNATURE_V3, ClientSecret, Signer, SigningOptions
from .target import Target, preflight
from .transport import Answer


@dataclass(frozen=True, slots=True)
class ActionContractOptions:
    """Where and how to check an action endpoint."""

    url: str
    secret: ClientSecret
    definition: Definition = DEFAULT
    options_url: str | None = None
    timeout_s: float = 30.0
    #: How long a blocked execution's callback may take to arrive.
    callback_wait_s: float = 10.0
    api_port: int = 0
    api_token: str | None = None
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    seed: int = 1

    def chosen(self) -> list[str]:
        """The check ids to run, in order; UsageError naming an unknown one."""
        unknown = [c for c in (*self.only, *self.skip) if c not in _CHECKS]
        if unknown:
            raise UsageError(
                f"unknown check {unknown[0]!r}; action checks: {', '.join(_CHECKS)}"
            )
        return [
            c
            for c in _CHECKS
            if (not self.only or c in self.only) and c not in self.skip
        ]


Outcome = tuple[bool | None, str, str, str, str]


@dataclass
class _Ctx:
    options: ActionContractOptions
    session: aiohttp.ClientSession
    signer: Signer
    source: ExecutionSource
    target: Target
    registry: Registry
    arrived: dict[str, asyncio.Event] = field(default_factory=dict)

    def execution(self) -> tuple[str, bytes]:
        block = self.source.render(1)
        callback_id = self.source.callback_ids[block.event_ids[0]]
        self.registry.sent(callback_id)
        return callback_id, block.body

    def signed(self, body: bytes, ts_ms: int | None = None) -> dict[str, str]:
        now = ts_ms if ts_ms is not None else int(time.time() * 1000)
        return self.signer.headers(body, now)

    async def post(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        return await transport.send(
            self.session, self.target.wire, body, headers, keep_body=True
        )

    def show(self, answer: Answer) -> str:
        return shown(answer, self.options.timeout_s)


Check = Callable[[_Ctx], Awaitable[Outcome]]
_CHECKS: dict[str, tuple[str, Check, bool]] = {}


def _check(
    check_id: str, statement: str, required: bool = True
) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        _CHECKS[check_id] = (statement, fn, required)
        return fn

    return register


def _accepted(ctx: _Ctx, what: str, answer: Answer) -> tuple[bool, str]:
    if answer.ok:
        return True, f"accepted {what}"
    if answer.status in (401, 403):
        return False, f"rejected {what} ({answer.status}): signature check wrong?"
    if answer.status is not None and answer.status >= 500:
        return False, f"crashed on {what} ({answer.status}): HubSpot retries for 3 days"
    return False, f"did not accept {what}: {ctx.show(answer)}"


def _refused(ctx: _Ctx, what: str, answer: Answer) -> tuple[bool, str]:
    if answer.status is not None and 400 <= answer.status < 500:
        return True, f"rejected {what} ({answer.status})"
    if answer.ok:
        return False, f"accepted {what} ({answer.status})"
    return False, f"did not reject {what}: {ctx.show(answer)} (answer 4xx)"


@_check("accepts-execution", "A HubSpot-exact execution request gets a 2xx in time.")
async def _accepts(ctx: _Ctx) -> Outcome:
    _, body = ctx.execution()
    answer = await ctx.post(body, ctx.signed(body))
    ok, msg = _accepted(ctx, "a valid execution", answer)
    return ok, "1 execution, v2 + v3 signed", "2xx", ctx.show(answer), msg


@_check(
    "output-fields-declared", "outputFields match the definition's declared outputs."
)
async def _outputs(ctx: _Ctx) -> Outcome:
    _, body = ctx.execution()
    answer = await ctx.post(body, ctx.signed(body))
    if not answer.ok:
        return (
            False,
            "1 execution",
            "2xx with valid outputFields",
            ctx.show(answer),
            ("no 2xx to read outputFields from"),
        )
    reply = read_reply(answer.body)
    problems = check_outputs(ctx.options.definition, reply.output_fields)
    saw = json.dumps(dict(reply.output_fields))[:200] or "no outputFields"
    if problems:
        return False, "1 execution", "declared outputs only", saw, "; ".join(problems)
    return True, "1 execution", "declared outputs only", saw, "outputFields as declared"


def _forge(headers: dict[str, str]) -> dict[str, str]:
    forged = dict(headers)
    forged[H_SIGNATURE] = secrets.token_hex(32)
    forged[H_SIGNATURE_V3] = "A" * 43 + "="
    return forged


@_check("rejects-forged", "Wrong v2 and v3 signatures get a 4xx.")
async def _forged(ctx: _Ctx) -> Outcome:
    _, body = ctx.execution()
    answer = await ctx.post(body, _forge(ctx.signed(body)))
    ok, msg = _refused(ctx, "forged signatures", answer)
    return ok, "random v2 and v3", "4xx", ctx.show(answer), msg


@_check("rejects-tampered-body", "Signatures over a different body get a 4xx.")
async def _tampered(ctx: _Ctx) -> Outcome:
    _, body = ctx.execution()
    headers = ctx.signed(body)
    sent = body.replace(b'"source":"WORKFLOWS"', b'"source":"WORKFLOWX"')
    answer = await ctx.post(sent, headers)
    ok, msg = _refused(ctx, "a tampered body", answer)
    return ok, "body changed after signing", "4xx", ctx.show(answer), msg


@_check("rejects-stale-v3", "A v3 timestamp over 5 minutes old gets a 4xx.")
async def _stale(ctx: _Ctx) -> Outcome:
    _, body = ctx.execution()
    answer = await ctx.post(body, ctx.signed(body, int(time.time() * 1000) - 360_000))
    ok, msg = _refused(ctx, "a 6-minute-old request", answer)
    if not ok and answer.ok:
        msg += ": verify v3 and its timestamp (v2 alone has no replay protection)"
    return ok, "v2 and v3 valid, timestamp 6 min old", "4xx", ctx.show(answer), msg


@_check(
    "idempotent-retry",
    "A retried execution (the same callbackId) is answered as the first time.",
)
async def _retry(ctx: _Ctx) -> Outcome:
    _, body = ctx.execution()
    first = await ctx.post(body, ctx.signed(body))
    second = await ctx.post(body, ctx.signed(body))
    saw = f"{ctx.show(first)}, then {ctx.show(second)}"
    if not (first.ok and second.ok):
        _, msg = _accepted(ctx, "a retried execution", second if first.ok else first)
        return False, "one execution, twice", "2xx, same state", saw, msg
    a, b = read_reply(first.body), read_reply(second.body)
    if a.state != b.state:
        why = f"answered {a.state} then {b.state}: a retry must not run it twice"
        return False, "one execution, twice", "2xx, same state", saw, why
    return True, "one execution, twice", "2xx, same state", saw, "answered the same"


@_check(
    "block-then-callback",
    "An execution answered BLOCK is completed through the callbacks API in time.",
)
async def _block(ctx: _Ctx) -> Outcome:
    tries = 5
    for _ in range(tries):
        callback_id, body = ctx.execution()
        answer = await ctx.post(body, ctx.signed(body))
        if not answer.ok:
            continue
        if read_reply(answer.body).state != "block":
            ctx.registry.finished(callback_id)
            continue
        t0 = time.monotonic()
        wait = ctx.options.callback_wait_s
        arrived = ctx.arrived.setdefault(callback_id, asyncio.Event())
        early = ctx.registry.block(callback_id, t0 + wait)
        if early is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), wait)
        if early is not None or arrived.is_set():
            saw = f"callback after {time.monotonic() - t0:.2f} s"
            done = "completed through the callbacks API"
            return True, "an execution answered BLOCK", "a callback", saw, done
        why = (
            f"no callback within {wait:g} s: point the app's HubSpot API base at "
            "the URL hubsim printed"
        )
        return False, "an execution answered BLOCK", "a callback", "none", why
    never = "the app never blocked: nothing to call back"
    return None, f"{tries} executions", "information", "no BLOCK answer", never


@_check("options-shape", "The options endpoint answers the documented shape.")
async def _options(ctx: _Ctx) -> Outcome:
    url = ctx.options.options_url
    if url is None:
        return None, "nothing", "information", "no --options-url", "not checked"
    definition = ctx.options.definition
    names = [f.name for f in definition.inputs]
    field_name = next(
        (f.name for f in definition.inputs if f.type == "enumeration"),
        names[0] if names else "",
    )
    body = request_body(
        definition, field_name, ctx.source.portal_ids[0], ctx.source.definition_id
    )
    options_target = Target.parse(url)
    signer = Signer(
        ctx.options.secret,
        options_target,
        SigningOptions(("v2", "v3"), sender="automation"),
    )
    answer = await transport.send(
        ctx.session, options_target.wire, body,
        signer.headers(body, int(time.time() * 1000)), keep_body=True,
    )  # fmt: skip
    if not answer.ok:
        return (
            False,
            "an options fetch",
            "2xx with options",
            ctx.show(answer),
            ("did not answer the options fetch"),
        )
    try:
        problems = page_problems(json.loads(answer.body), 1)
    except (ValueError, RecursionError):
        problems = ["the answer is not JSON"]
    if problems:
        return (
            False,
            "an options fetch",
            "options[]",
            ctx.show(answer),
            "; ".join(problems),
        )
    return (
        True,
        "an options fetch",
        "options[]",
        ctx.show(answer),
        "the documented shape",
    )


CHECK_IDS: Final = tuple(_CHECKS)


def statements() -> dict[str, str]:
    """Every action check id and what it proves."""
    return {k: v[0] for k, v in _CHECKS.items()}


async def run_checks(options: ActionContractOptions) -> list[CheckResult]:
    """Run the selected checks against ``options.url``, the callbacks API up."""
    chosen = options.chosen()
    target = Target.parse(options.url)
    await preflight(target.url)
    signer = Signer(
        options.secret,
        target,
        SigningOptions(
            ("v2", "v3"),
            sender="automation",
            timeout_millis=round(options.timeout_s * 1000),
        ),
    )
    source = ExecutionSource(options.definition, seed=options.seed)
    arrived: dict[str, asyncio.Event] = {}

    def on_complete(callback_id: str, _outputs: object, _at: float) -> None:
        arrived.setdefault(callback_id, asyncio.Event()).set()

    registry = Registry(options.definition, on_complete, time.monotonic)
    runner = web.AppRunner(create_app(registry, options.api_token), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", options.api_port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"--api-port {options.api_port}: {exc.strerror}") from None
    results: list[CheckResult] = []
    try:
        async with transport.session(10, options.timeout_s) as session:
            ctx = _Ctx(options, session, signer, source, target, registry, arrived)
            for check_id in chosen:
                statement, fn, required = _CHECKS[check_id]
                t0 = time.perf_counter()
                passed, sent, expected, saw, message = await fn(ctx)
                results.append(
                    CheckResult(
                        check_id,
                        statement,
                        passed,
                        sent,
                        expected,
                        saw,
                        message,
                        time.perf_counter() - t0,
                        required,
                    )
                )
    finally:
        await runner.cleanup()
    return results


def check(options: ActionContractOptions) -> list[CheckResult]:
    """Blocking :func:`run_checks`, for the CLI."""
    from . import aio

    return aio.run(run_checks(options))
