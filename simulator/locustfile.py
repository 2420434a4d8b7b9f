"""
hubsim's batches under Locust, for load beyond one machine
(``pip install 'hubsim[locust]'``).

Locust's master/worker mode spreads users over processes and machines; each
:class:`HubSpotWebhookUser` is one of HubSpot's delivery slots: it POSTs
hubsim's generated, signed batches (v1 and v3 headers, ≤ 100 events, one
portal) back to back, and retries a failed batch as HubSpot does, with the
same events and ``attemptNumber`` + 1 on the profile's schedule (divided by
``HUBSIM_TIME_SCALE``). So 10 users are HubSpot's 10 in flight.

Use it from your own locustfile (Locust runs every User class it finds)::

    # locustfile.py
    from simulator.locustfile import HubSpotWebhookUser  # noqa: F401

    $ export HUBSPOT_CLIENT_SECRET=...
    $ locust -f locustfile.py --headless -u 10 -r 10 -t 60s \\
          --host http://127.0.0.1:8080

Settings come from the environment: ``HUBSPOT_CLIENT_SECRET`` (required),
``HUBSIM_PATH`` (default ``/webhooks/hubspot``), ``HUBSIM_RETRY_PROFILE``
(``webhooks``), ``HUBSIM_TIME_SCALE`` (1440: a day of retries in a minute),
``HUBSIM_DISTINCT`` (events pre-rendered per user, 2000), ``HUBSIM_SEED``.

Each worker process keeps hubsim's own accounts beside Locust's statistics:
``HUBSIM_REPORT=worker-{pid}.json`` writes a hubsim report at the end (merge
them with ``hubsim report worker-*.json``), ``HUBSIM_LEDGER=ledger-{pid}.jsonl``
streams the ledger. Every batch ends delivered, given up or pending (retries
still due, or a request cut off at the stop); run Locust with
``--stop-timeout`` so requests in flight at the end finish instead.
"""

from __future__ import annotations

import heapq
import itertools
import os
import random
import time
import types
from dataclasses import replace
from typing import Any

from greenlet import GreenletExit
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner

from . import report
from .batching import Batch
from .delivery import Attempt
from .events import EventConfig, EventSource
from .ledger import Ledger, LedgerFile
from .result import RunResult
from .retry import PROFILES, RetryPolicy
from .signing import ClientSecret, Signer, SigningOptions
from .stats import Stats
from .target import Target

#: Distinct seeds per user, so users do not send identical events.
_users = itertools.count()


class _Accounts:
    """This process's hubsim stats and ledger, over all its users."""

    def __init__(self) -> None:
        ledger_path = _path("HUBSIM_LEDGER")
        self.file = LedgerFile(ledger_path) if ledger_path else None
        self.stats = Stats()
        self.ledger = Ledger(self.file.settle if self.file else None)
        self.started = time.perf_counter()
        self.target = ""
        self.app_id = 0
        self.portals: set[int] = set()

    def attempt(self, attempt: Attempt) -> None:
        self.stats.add(attempt)
        if self.file is not None:
            self.file.attempt(attempt)
        self.ledger.record_attempt(attempt)

    def result(self) -> RunResult:
        return RunResult(
            summary=self.stats.summary(time.perf_counter() - self.started),
            ledger=self.ledger,
            interrupted=False,
            app_id=self.app_id,
            portal_ids=tuple(sorted(self.portals)),
            target_url=self.target,
            stats=self.stats,
        )


def _path(name: str) -> str | None:
    value = os.environ.get(name)
    return value.replace("{pid}", str(os.getpid())) if value else None


ACCOUNTS = _Accounts()


def _write_report(environment: Any, **_: Any) -> None:
    """At the end, on each worker (not the master, which sends nothing)."""
    if isinstance(environment.runner, MasterRunner):
        return
    path = _path("HUBSIM_REPORT")
    if path and ACCOUNTS.ledger.generated:
        report.write_json(ACCOUNTS.result(), path)
    if ACCOUNTS.file is not None:
        ACCOUNTS.file.close()
        ACCOUNTS.file = None


events.test_stop.add_listener(_write_report)  # type: ignore[no-untyped-call]


def _exact_urlopen(agent: Any, request: Any) -> Any:
    """
    geventhttpclient's own ``_urlopen``, but with the URI as given: it requotes
    (``%7e`` becomes ``~``), and a v3 signature covers the URI as sent.
    """
    client = agent.clientpool.get_client(request.url_split)
    resp = client.request(
        request.method,
        request.url_split.request_uri,
        body=request.payload,
        headers=request.headers,
    )
    return agent.response_type(resp, request=request, sent_request=resp._sent_request)


class HubSpotWebhookUser(FastHttpUser):
    """One HubSpot delivery slot sending signed webhook batches."""

    wait_time = constant(0)
    abstract = False

    def on_start(self) -> None:
        """Pre-render this user's events; signing needs the full target URL."""
        index = next(_users)
        seed_text = os.environ.get("HUBSIM_SEED")
        seed = None if seed_text is None else int(seed_text) + index
        self.path = os.environ.get("HUBSIM_PATH", "/webhooks/hubspot")
        profile = PROFILES[os.environ.get("HUBSIM_RETRY_PROFILE", "webhooks")]
        self.policy: RetryPolicy = profile.retry
        self.time_scale = float(os.environ.get("HUBSIM_TIME_SCALE", "1440"))
        distinct = int(os.environ.get("HUBSIM_DISTINCT", "2000"))
        self.source = EventSource(EventConfig(seed=seed, distinct=distinct))
        self.source.prepare(100)
        secret = ClientSecret(os.environ.get("HUBSPOT_CLIENT_SECRET", ""))
        # Posted as the full canonical URL, the text that was signed.
        self.target = Target.parse(f"{(self.host or '').rstrip('/')}{self.path}")
        self.signer = Signer(secret, self.target, SigningOptions())
        agent = self.client.client
        # Per instance, so other users in the same Locust process are untouched.
        agent._urlopen = types.MethodType(_exact_urlopen, agent)  # type: ignore[method-assign]
        self.rng = random.Random(seed)
        self.retries: list[tuple[float, int, int, Batch]] = []
        self.seq = itertools.count(1)
        ACCOUNTS.target = self.target.url
        ACCOUNTS.app_id = self.source.app_id
        ACCOUNTS.portals.update(self.source.portal_ids)

    def on_stop(self) -> None:
        """Retries still due when the test ends are pending, not lost."""
        for _, _, number, batch in self.retries:
            ACCOUNTS.ledger.pending(batch, number)
        self.retries.clear()

    def _next(self) -> tuple[Batch, int]:
        """A due retry first (HubSpot retries share the slots), else a new batch."""
        if self.retries and self.retries[0][0] <= time.monotonic():
            _, _, number, batch = heapq.heappop(self.retries)
            return batch, number
        self.source.set_time(int(time.time() * 1000))
        seq = next(self.seq)
        batch = Batch.from_block(seq, self.source.app_id, self.source.render(100))
        ACCOUNTS.ledger.generated_batch(batch)
        return batch, 0

    @task
    def deliver(self) -> None:
        """POST one batch; schedule its retry if it failed and may be retried."""
        batch, number = self._next()
        body = batch.body(number)
        headers = self.signer.headers(body, int(time.time() * 1000))
        name = "webhook batch" if number == 0 else "webhook retry"
        started, t0 = time.time(), time.perf_counter()
        try:
            # The exact signed bytes go out (the stub says str, bytes work).
            with self.client.post(
                self.target.url,
                data=body,  # type: ignore[arg-type]
                headers=headers,
                name=name,
                catch_response=True,
            ) as resp:
                status: Any = resp.status_code
                ok = isinstance(status, int) and 200 <= status < 300
                if ok:
                    resp.success()
                else:
                    resp.failure(f"HTTP {status}" if status else "no answer")
        except GreenletExit:
            # Cut off by the stop: whether it arrived is unknown, so pending.
            ACCOUNTS.ledger.pending(batch, number)
            raise
        error = None if status else "connect_error"
        code = status if status else None
        retry = (
            not ok
            and number + 1 < self.policy.max_attempts
            and self.policy.is_retryable(code, error)
        )
        latency = time.perf_counter() - t0
        attempt = Attempt(batch, number, started, latency, code, error, len(body), True)
        ACCOUNTS.attempt(attempt if not retry else replace(attempt, final=False))
        if retry:
            delay = self.policy.delay_before(number + 1, self.rng) / self.time_scale
            due = time.monotonic() + delay
            heapq.heappush(self.retries, (due, batch.seq, number + 1, batch))
