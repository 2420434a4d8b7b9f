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
"""

from __future__ import annotations

import heapq
import itertools
import os
import random
import time
import types
from typing import Any

from locust import FastHttpUser, constant, task

from .batching import Batch
from .events import EventConfig, EventSource
from .retry import PROFILES, RetryPolicy
from .signing import ClientSecret, Signer, SigningOptions
from .target import Target

#: Distinct seeds per user, so users do not send identical events.
_users = itertools.count()


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

    def _next(self) -> tuple[Batch, int]:
        """A due retry first (HubSpot retries share the slots), else a new batch."""
        if self.retries and self.retries[0][0] <= time.monotonic():
            _, _, number, batch = heapq.heappop(self.retries)
            return batch, number
        self.source.set_time(int(time.time() * 1000))
        seq = next(self.seq)
        return Batch.from_block(seq, self.source.app_id, self.source.render(100)), 0

    @task
    def deliver(self) -> None:
        """POST one batch; schedule its retry if it failed and may be retried."""
        batch, number = self._next()
        body = batch.body(number)
        headers = self.signer.headers(body, int(time.time() * 1000))
        name = "webhook batch" if number == 0 else "webhook retry"
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
                return
            resp.failure(f"HTTP {status}" if status else "no answer")
        error = None if status else "connect_error"
        code = status if status else None
        if number + 1 < self.policy.max_attempts and self.policy.is_retryable(
            code, error
        ):
            delay = self.policy.delay_before(number + 1, self.rng) / self.time_scale
            due = time.monotonic() + delay
            heapq.heappush(self.retries, (due, batch.seq, number + 1, batch))
