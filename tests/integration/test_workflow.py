"""The workflow profile: one record per request, v2-signed, workflow retries (§6)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from hubspot.utils.signature import Signature

from simulator.clock import ManualClock
from simulator.delivery import DeliveryOptions
from simulator.events import EventConfig
from simulator.retry import PROFILES
from simulator.run import SendOptions, SendRun
from simulator.signing import SigningOptions
from simulator.workflow import WorkflowRequest

from ..conftest import SECRET

WORKFLOW = PROFILES["workflow"]


def _options(url, secret, events=20, **delivery):
    delivery.setdefault("retry", WORKFLOW.retry)
    delivery.setdefault("timeout_s", WORKFLOW.timeout_s)
    return SendOptions(
        url,
        secret,
        events=events,
        source=EventConfig(
            types=("contact", "deal", "company", "ticket"),
            seed=4,
            start_ms=int(time.time() * 1000),
        ),
        delivery=DeliveryOptions(**delivery),
        signing=SigningOptions(versions=("v2",), sender="automation"),
        workflow=WorkflowRequest(),
    )


class TestWorkflow:
    async def test_one_record_per_request_v2_signed(self, capture_factory, secret):
        """Each request is one record object, v2-signed, with no v3 or attemptNumber."""

        async with capture_factory() as (cap, url):
            result = await SendRun(_options(url, secret)).execute()
        assert 20 == len(cap.requests)
        for r in cap.requests:
            record = json.loads(r.body)
            assert isinstance(record, dict)
            assert "vid" in record or "objectId" in record
            assert b"attemptNumber" not in r.body
            h = {k.lower(): v for k, v in r.headers.items()}
            assert "v2" == h["x-hubspot-signature-version"]
            assert "x-hubspot-signature-v3" not in h
            assert h["x-hubspot-correlation-id"]
            assert Signature.is_valid(
                h["x-hubspot-signature"],
                SECRET,
                r.body.decode(),
                http_uri=url,
                http_method="POST",
                signature_version="v2",
            )
        assert result.all_delivered

    async def test_contacts_carry_history(self, capture_factory, secret):
        """Contact records carry versions (history); other objects current values."""

        async with capture_factory() as (cap, url):
            await SendRun(_options(url, secret, events=60)).execute()
        records = [json.loads(r.body) for r in cap.requests]
        contacts = [r for r in records if "vid" in r]
        others = [r for r in records if "objectId" in r]
        assert contacts
        assert others
        assert all("versions" in p for c in contacts for p in c["properties"].values())
        assert all(
            "versions" not in p for o in others for p in o["properties"].values()
        )

    async def test_400_gives_up_after_one_attempt(self, capture_factory, secret):
        """A 4xx other than 429 is final for workflows: one attempt, gave_up."""

        async with capture_factory(script=lambda _: 400) as (cap, url):
            result = await SendRun(_options(url, secret, events=1)).execute()
        assert 1 == len(cap.requests)
        assert 1 == result.ledger.gave_up
        assert {"400": 1} == dict(result.ledger.gave_up_errors)

    async def test_5xx_retried_with_the_same_body(self, capture_factory, secret):
        """A 5xx is retried; the retry sends exactly the same bytes."""

        answers = iter([503, 200])
        async with capture_factory(script=lambda _: next(answers)) as (cap, url):
            result = await SendRun(
                _options(url, secret, events=1, time_scale=100_000)
            ).execute()
        first, retry = cap.requests
        assert first.body == retry.body
        assert result.all_delivered

    async def test_schedule_doubles_from_one_minute(self, capture_factory, secret):
        """On a manual clock, retries come 1, 2, 4 … minutes apart, within 72 h."""

        clock = ManualClock()
        async with capture_factory(script=lambda _: 500) as (_, url):
            run = SendRun(_options(url, secret, events=1), clock=clock)
            attempts = []
            result = await asyncio.wait_for(run.execute(on_attempt=attempts.append), 20)
        gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(attempts)]
        assert [60, 120, 240, 480] == [round(g) for g in gaps[:4]]
        assert max(gaps) <= 8 * 3600 + 1
        assert attempts[-1].started_at - attempts[0].started_at <= 72 * 3600
        assert 1 == result.ledger.gave_up

    async def test_builtin_receiver_accepts_records(self, receiver, secret):
        """hubsim's receiver verifies v2 and counts workflow records."""

        url = str(receiver.make_url("/workflow"))
        result = await SendRun(_options(url, secret, events=30)).execute()
        assert result.all_delivered
