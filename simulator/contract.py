"""
Receiver contract checks: what a HubSpot webhook receiver must accept and
reject, each check a few requests with a stable id and a plain verdict.

Every check states what it proves, what it sent, what it expected and what it
saw. ``required`` checks decide the verdict; ``signature-versions`` only
informs. A 5xx where a 4xx was expected is a failure of its own ("crashed on
…"): HubSpot would retry it for a day.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import aiohttp

from . import catalog, diagnosis, transport
from .batching import Batch
from .diagnosis import Diagnosis
from .errors import UsageError
from .events import EventConfig, EventSource, WebhookEvent
from .signing import (
    H_SIGNATURE,
    H_SIGNATURE_V3,
    H_TIMESTAMP,
    H_VERSION,
    ClientSecret,
    Signer,
    SigningOptions,
)
from .target import Target
from .transport import Answer

FAMILIES: Final = tuple(catalog.CLASSIC_FAMILIES)
#: What a 401/403 to a valid request says until the diagnosis names the cause.
SIGNATURE_HINT: Final = "signature check wrong?"


@dataclass(frozen=True, slots=True)
class ContractOptions:
    """
    Where and how to check. ``reject_statuses`` empty: any 4xx counts as a
    rejection.
    """

    url: str
    secret: ClientSecret
    public_url: str | None = None
    format: catalog.Format = "classic"
    timeout_s: float = 5.0
    reject_statuses: frozenset[int] = frozenset()
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    seed: int = 1

    def chosen(self) -> list[str]:
        """The check ids to run, in order; UsageError naming an unknown one."""
        unknown = [c for c in (*self.only, *self.skip) if c not in _CHECKS]
        if unknown:
            raise UsageError(
                f"unknown check {unknown[0]!r}; checks: {', '.join(_CHECKS)}"
            )
        return [
            c
            for c in _CHECKS
            if (not self.only or c in self.only) and c not in self.skip
        ]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """
    One check's verdict. ``passed`` is None for informational checks.
    """

    id: str
    statement: str
    passed: bool | None
    sent: str
    expected: str
    saw: str
    message: str
    duration_s: float
    required: bool = True
    #: Why valid requests were rejected (the ``diagnosis`` result only).
    diagnosis: Diagnosis | None = None

    @property
    def failed(self) -> bool:
        """A required check that did not pass (an informational one never fails)."""
        return self.required and self.passed is False


def shown(answer: Answer, timeout_s: float) -> str:
    """An answer for the table: ``204 in 3 ms``, or what went wrong."""
    if answer.status is not None:
        return f"{answer.status} in {answer.latency_s * 1000:,.0f} ms"
    if answer.error == "timeout":
        return f"no answer within {timeout_s:g} s"
    return f"connection failed ({answer.error})"


@dataclass
class _Ctx:
    options: ContractOptions
    session: aiohttp.ClientSession
    signer: Signer
    source: EventSource
    target: Target
    forwarded: dict[str, str] = field(default_factory=dict)

    def events(self, types: Sequence[str], n: int) -> tuple[WebhookEvent, ...]:
        src = EventSource(
            EventConfig(
                types=tuple(types),
                format=self.options.format,
                seed=self.source.config.seed,
                start_ms=int(time.time() * 1000),
                app_id=self.source.app_id,
                portal_ids=self.source.portal_ids[:1],
            )
        )
        return tuple(src.take(n))

    def batch(self, events: Sequence[WebhookEvent]) -> Batch:
        return Batch.of(1, self.source.app_id, tuple(events))

    def signed(self, body: bytes, ts_ms: int | None = None) -> dict[str, str]:
        return self.signer.headers(body, ts_ms if ts_ms is not None else _now_ms())

    async def post(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        return await transport.send(self.session, self.target.wire, body, headers)

    def prober(self) -> diagnosis.Prober:
        """What the diagnosis probes with: this target, secret and headers."""
        base = {
            k: v
            for k, v in self.signed(b"[]").items()
            if k not in (H_SIGNATURE, H_SIGNATURE_V3, H_VERSION, H_TIMESTAMP)
        }
        base[H_VERSION] = "v1"
        return diagnosis.Prober(
            self.post,
            self.options.secret,
            self.signer.signed_url,
            self.target.url,
            base,
        )

    def show(self, answer: Answer) -> str:
        return shown(answer, self.options.timeout_s)

    def rejected(self, answer: Answer) -> bool:
        wanted = self.options.reject_statuses
        if answer.status is None:
            return False
        return answer.status in wanted if wanted else 400 <= answer.status < 500


def _now_ms() -> int:
    return int(time.time() * 1000)


def _accepts(
    what: str, answers: Sequence[Answer], timeout_s: float
) -> tuple[bool, str]:
    bad = [a for a in answers if not a.ok]
    if not bad:
        return True, f"accepted {what}"
    first = bad[0]
    if first.status is not None and first.status >= 500:
        return False, f"crashed on {what} ({first.status})"
    if first.status is not None and first.status in (401, 403):
        return False, f"rejected {what} ({first.status}): {SIGNATURE_HINT}"
    return False, f"did not accept {what}: {shown(first, timeout_s)}"


def _rejects(ctx: _Ctx, what: str, answer: Answer) -> tuple[bool, str]:
    if ctx.rejected(answer):
        return True, f"rejected {what} ({answer.status})"
    if answer.status is not None and answer.status >= 500:
        return False, f"crashed on {what} ({answer.status}): answer 4xx, not 5xx"
    if answer.ok:
        return False, f"accepted {what} ({answer.status})"
    return False, f"did not reject {what} as asked: {ctx.show(answer)}"


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------
Check = Callable[[_Ctx], Awaitable[tuple[bool | None, str, str, str, str]]]
_CHECKS: dict[str, tuple[str, Check, bool]] = {}


def _check(
    check_id: str, statement: str, required: bool = True
) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        _CHECKS[check_id] = (statement, fn, required)
        return fn

    return register


@_check("accepts-valid", "A HubSpot-exact single-event batch gets a 2xx in time.")
async def _valid(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["contact.creation"], 1)).body(0)
    answer = await ctx.post(body, ctx.signed(body))
    ok, msg = _accepts("a valid request", [answer], ctx.options.timeout_s)
    return ok, "1 event, v1+v3 signed", "2xx", ctx.show(answer), msg


@_check("accepts-full-batch", "A 100-event batch gets a 2xx within 5 s.")
async def _full(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["contact", "deal", "company"], 100)).body(0)
    answer = await ctx.post(body, ctx.signed(body))
    ok, msg = _accepts("a full batch", [answer], ctx.options.timeout_s)
    if ok and answer.latency_s > 5:
        ok, msg = False, f"took {answer.latency_s:.1f} s: HubSpot times out at 5 s"
    return (
        ok,
        f"100 events, {len(body):,} bytes",
        "2xx within 5 s",
        ctx.show(answer),
        msg,
    )


@_check("accepts-every-type", "One batch per subscription family gets a 2xx.")
async def _every(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    families = (
        FAMILIES if ctx.options.format == "classic" else ("object.*", "conversation")
    )
    seen, failures = [], []
    for family in families:
        body = ctx.batch(ctx.events([family], 30)).body(0)
        answer = await ctx.post(body, ctx.signed(body))
        seen.append(f"{family}: {ctx.show(answer)}")
        if not answer.ok:
            failures.append((family, answer))
    if failures:
        family, answer = failures[0]
        verb = "crashed on" if (answer.status or 0) >= 500 else "did not accept"
        msg = f"{verb} {family} events ({ctx.show(answer)})"
        if answer.status in (401, 403):
            names = ", ".join(f for f, _ in failures)
            msg = f"rejected {names} events ({answer.status}): {SIGNATURE_HINT}"
        return False, f"{len(families)} batches", "2xx each", "; ".join(seen), msg
    return (
        True,
        f"{len(families)} batches",
        "2xx each",
        "all 2xx",
        "accepted every family",
    )


def _unicode_body(ctx: _Ctx, escape: bool) -> bytes:
    base = ctx.events(["contact.creation"], 1)[0].to_dict()
    events = []
    for i, (name, value) in enumerate((("firstname", "Zoë 😀"), ("city", "東京"))):
        e = dict(base)
        e.pop("changeFlag", None)
        e.update(
            eventId=base["eventId"] + i + 1,
            subscriptionType="contact.propertyChange",
            propertyName=name,
            propertyValue=value,
        )
        events.append(e)
    return json.dumps(events, separators=(",", ":"), ensure_ascii=escape).encode()


@_check("accepts-unicode", "Raw UTF-8 bodies with emoji and CJK get a 2xx.")
async def _unicode(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = _unicode_body(ctx, escape=False)
    answer = await ctx.post(body, ctx.signed(body))
    ok, msg = _accepts("raw UTF-8 (Zoë 😀, 東京)", [answer], ctx.options.timeout_s)
    return ok, "raw UTF-8 body", "2xx", ctx.show(answer), msg


@_check("accepts-escaped-unicode", "\\uXXXX-escaped bodies get a 2xx.")
async def _escaped(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = _unicode_body(ctx, escape=True)
    answer = await ctx.post(body, ctx.signed(body))
    ok, msg = _accepts("\\uXXXX-escaped unicode", [answer], ctx.options.timeout_s)
    return ok, "escaped body", "2xx", ctx.show(answer), msg


@_check("accepts-retries", "The same events with attemptNumber 1, 2, 3 get a 2xx.")
async def _retries(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    batch = ctx.batch(ctx.events(["deal"], 10))
    answers = []
    for k in (1, 2, 3):
        body = batch.body(k)
        answers.append(await ctx.post(body, ctx.signed(body)))
    ok, msg = _accepts("retried events", answers, ctx.options.timeout_s)
    return ok, "attempts 1, 2, 3", "2xx each", ", ".join(map(ctx.show, answers)), msg


@_check("accepts-duplicates", "The same batch twice gets a 2xx both times.")
async def _duplicates(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["company"], 10)).body(0)
    answers = [await ctx.post(body, ctx.signed(body)) for _ in range(2)]
    ok, msg = _accepts("a duplicate delivery", answers, ctx.options.timeout_s)
    return ok, "one batch, twice", "2xx each", ", ".join(map(ctx.show, answers)), msg


@_check(
    "accepts-out-of-order",
    "A deletion before its creation, a propertyChange before its creation: 2xx.",
)
async def _order(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    created = ctx.events(["contact.creation"], 2)
    answers = []
    for i, later in enumerate(("contact.deletion", "contact.propertyChange")):
        creation = created[i].to_dict()
        first = dict(creation)
        first.update(
            eventId=creation["eventId"] + 1000,
            subscriptionType=later,
            occurredAt=creation["occurredAt"] + 5000,
        )
        first.pop("changeFlag", None)
        if later == "contact.deletion":
            first["changeFlag"] = "DELETED"
        else:
            first.update(propertyName="lifecyclestage", propertyValue="customer")
        for event in (first, creation):
            body = json.dumps(
                [event], separators=(",", ":"), ensure_ascii=False
            ).encode()
            answers.append(await ctx.post(body, ctx.signed(body)))
    ok, msg = _accepts("events out of order", answers, ctx.options.timeout_s)
    return (
        ok,
        "deletion, creation; change, creation",
        "2xx each",
        ", ".join(map(ctx.show, answers)),
        msg,
    )


@_check("handles-concurrency", "10 concurrent batches are all answered in time.")
async def _concurrency(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    bodies = [ctx.batch(ctx.events(["contact"], 100)).body(0) for _ in range(10)]
    answers = await asyncio.gather(*(ctx.post(b, ctx.signed(b)) for b in bodies))
    ok, msg = _accepts("10 concurrent batches", answers, ctx.options.timeout_s)
    slowest = max(a.latency_s for a in answers)
    saw = f"{sum(a.ok for a in answers)}/10 2xx, slowest {slowest * 1000:,.0f} ms"
    return ok, "10 × 100 events at once", "2xx each in time", saw, msg


def _forge(headers: dict[str, str]) -> dict[str, str]:
    forged = dict(headers)
    forged[H_SIGNATURE] = secrets.token_hex(32)
    forged[H_SIGNATURE_V3] = "A" * 43 + "="
    return forged


@_check("rejects-forged", "Wrong signatures get a 4xx.")
async def _forged(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["deal.creation"], 1)).body(0)
    answer = await ctx.post(body, _forge(ctx.signed(body)))
    ok, msg = _rejects(ctx, "forged signatures", answer)
    return ok, "random v1 and v3", _want(ctx), ctx.show(answer), msg


@_check("rejects-tampered-body", "Signatures computed over a different body get a 4xx.")
async def _tampered(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    batch = ctx.batch(ctx.events(["deal.propertyChange"], 1))
    signed_for = batch.body(0)
    sent = signed_for.replace(b'"attemptNumber":0', b'"attemptNumber":7')
    answer = await ctx.post(sent, ctx.signed(signed_for))
    ok, msg = _rejects(ctx, "a tampered body", answer)
    return ok, "body changed after signing", _want(ctx), ctx.show(answer), msg


@_check("rejects-unsigned", "A request with no signature headers gets a 4xx.")
async def _unsigned(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["ticket.creation"], 1)).body(0)
    headers = {
        k: v
        for k, v in ctx.signed(body).items()
        if k not in (H_SIGNATURE, H_SIGNATURE_V3, H_VERSION, H_TIMESTAMP)
    }
    answer = await ctx.post(body, headers)
    ok, msg = _rejects(ctx, "an unsigned request", answer)
    return ok, "no X-HubSpot-Signature*", _want(ctx), ctx.show(answer), msg


@_check(
    "rejects-replay",
    "Signatures valid when made but a timestamp over 5 minutes old get a 4xx.",
)
async def _replay(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["contact.creation"], 1)).body(0)
    answer = await ctx.post(body, ctx.signed(body, _now_ms() - 360_000))
    ok, msg = _rejects(ctx, "a 6-minute-old request", answer)
    if not ok and answer.ok:
        msg += (
            ": check X-HubSpot-Request-Timestamp with v3 "
            "(v1 alone has no replay protection)"
        )
    return ok, "v1 and v3 valid, timestamp 6 min old", _want(ctx), ctx.show(answer), msg


@_check(
    "signature-versions",
    "Which of v1 and v3 the receiver enforces (requests where only one is valid).",
    required=False,
)
async def _versions(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    body = ctx.batch(ctx.events(["contact.creation"], 1)).body(0)
    good = ctx.signed(body)
    only_v1 = dict(good, **{H_SIGNATURE_V3: "A" * 43 + "="})
    only_v3 = dict(good, **{H_SIGNATURE: secrets.token_hex(32)})
    both = await ctx.post(body, good)
    a1 = await ctx.post(body, only_v1)
    a3 = await ctx.post(body, only_v3)
    enforced = [v for v, answer in (("v3", a1), ("v1", a3)) if not answer.ok]
    saw = (
        f"both valid: {ctx.show(both)}; only v1 valid: {ctx.show(a1)}; "
        f"only v3 valid: {ctx.show(a3)}"
    )
    if not both.ok:
        msg = "cannot tell: a request with both signatures valid is rejected too"
    elif enforced:
        msg = "enforces " + " and ".join(sorted(enforced))
    else:
        msg = "enforces neither"
    return None, "v1-only and v3-only valid requests", "information", saw, msg


@_check(
    "proxy-headers",
    "Whether the receiver's verdict rests on X-Forwarded-* headers from any client.",
    required=False,
)
async def _proxy(ctx: _Ctx) -> tuple[bool | None, str, str, str, str]:
    warning = await diagnosis.proxy_trust(ctx.prober())
    saw = "trusts X-Forwarded-* from loopback" if warning else "does not rely on them"
    msg = f"warning: {warning}" if warning else "no proxy headers needed"
    return None, "requests with and without X-Forwarded-*", "information", saw, msg


def _want(ctx: _Ctx) -> str:
    wanted = ctx.options.reject_statuses
    return "/".join(map(str, sorted(wanted))) if wanted else "4xx"


CHECK_IDS: Final = tuple(_CHECKS)
#: The checks that decide the verdict (the rest only inform).
REQUIRED_IDS: Final = tuple(k for k, v in _CHECKS.items() if v[2])


def statements() -> dict[str, str]:
    """Every check id and what it proves."""
    return {k: v[0] for k, v in _CHECKS.items()}


async def run_contract(
    options: ContractOptions,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """
    Run the selected checks, in order, against ``options.url``.
    """
    chosen = options.chosen()
    source = EventSource(
        EventConfig(seed=options.seed, format=options.format, start_ms=_now_ms())
    )
    target = Target.parse(options.url)
    signer = Signer(
        options.secret, target, SigningOptions(public_url=options.public_url)
    )
    results: list[CheckResult] = []
    async with transport.session(10, options.timeout_s) as session:
        ctx = _Ctx(options, session, signer, source, target)
        for check_id in chosen:
            statement, fn, required = _CHECKS[check_id]
            t0 = time.perf_counter()
            passed, sent, expected, saw, message = await fn(ctx)
            result = CheckResult(
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
            results.append(result)
            if on_result is not None:
                on_result(result)
        rejected = [
            r for r in results if r.passed is False and SIGNATURE_HINT in r.message
        ]
        if rejected:
            found = await _diagnose(ctx, rejected, results)
            if on_result is not None:
                on_result(found)
    return results


async def _diagnose(
    ctx: _Ctx, rejected: Sequence[CheckResult], results: list[CheckResult]
) -> CheckResult:
    """Probe why valid requests were rejected; name it in the failures too."""
    t0 = time.perf_counter()
    found = await diagnosis.diagnose(ctx.prober())
    if found.cause:
        said = found.cause[0].lower() + found.cause[1:]
        for i, r in enumerate(results):
            if r in rejected:
                results[i] = replace(r, message=r.message.replace(SIGNATURE_HINT, said))
    message = found.cause or "no cause found: the HubSpot-exact request is accepted"
    if found.fix:
        message += f" Fix: {found.fix}."
    result = CheckResult(
        "diagnosis",
        "Why valid requests were rejected, found by probing with variants.",
        None,
        found.signed or "variants of one request",
        "information",
        "; ".join(found.evidence),
        message,
        time.perf_counter() - t0,
        required=False,
        diagnosis=found,
    )
    results.append(result)
    return result


def check(options: ContractOptions) -> list[CheckResult]:
    """
    ``hubsim contract``: check the target accepts connections, then run the
    selected checks. Blocks until they are done.
    """
    from . import aio
    from .target import preflight

    async def go() -> list[CheckResult]:
        await preflight(options.url)
        return await run_contract(options)

    return aio.run(go())


def verdict(results: Sequence[CheckResult]) -> bool:
    """True when no required check failed (informational ones never do)."""
    return not any(r.failed for r in results)
