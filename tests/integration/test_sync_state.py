"""
The portal model end to end on 127.0.0.1: chaos on the wire, and --state-out
equal to what the answered requests imply, whatever the order they came in.
"""

from __future__ import annotations

import json
from collections import Counter

from simulator import crm_state
from simulator.chaos import Chaos
from simulator.crm_state import StateBuilder
from simulator.delivery import DeliveryOptions
from simulator.events import EventConfig
from simulator.retry import PROFILES, with_max_attempts
from simulator.run import SendOptions, SendRun
from simulator.verification import verify

START = 1_767_225_600_000


def _options(url, secret, tmp_path, events=6000, chaos="", attempts=None):
    retry = PROFILES["webhooks"].retry
    delivery = DeliveryOptions(seed=5, retry=with_max_attempts(retry, attempts))
    return SendOptions(
        target_url=url,
        secret=secret,
        events=events,
        source=EventConfig(seed=5, start_ms=START, objects=300),
        delivery=delivery,
        chaos=Chaos.parse(chaos) if chaos else Chaos(),
        state_path=str(tmp_path / "expected.jsonl"),
    )


def _naive(bodies):
    """What a receiver that applies events as they arrive ends up with."""
    state = {}
    for body in bodies:
        for e in json.loads(body):
            stype = e["subscriptionType"]
            if not stype.endswith(
                ("propertyChange", "creation", "deletion", "restore")
            ):
                continue
            family = stype.partition(".")[0]
            key = (e["portalId"], {"contact": "0-1", "company": "0-2", "deal": "0-3",
                   "ticket": "0-5", "product": "0-7", "line_item": "0-8"}.get(family),
                   e["objectId"])  # fmt: skip
            if key[1] is None:
                continue
            r = state.setdefault(key, crm_state.Record(*key))
            if stype.endswith("propertyChange"):
                props = {**r.properties, e["propertyName"]: e["propertyValue"]}
                r = crm_state.Record(*key, r.deleted, None, props)
            else:
                r = crm_state.Record(
                    *key, stype.endswith("deletion"), None, r.properties
                )
            state[key] = r
    return state


class TestSyncState:
    async def test_state_out_is_what_the_delivered_events_imply(
        self, capture_factory, secret, tmp_path
    ):
        """Under chaos, --state-out equals the captured bodies folded by the rules."""

        async with capture_factory() as (cap, url):
            options = _options(
                url, secret, tmp_path, chaos="duplicates=0.1,reorder=0.3"
            )
            result = await SendRun(options).execute()
        bodies = [c.body for c in cap.requests]
        ids = Counter(e["eventId"] for b in bodies for e in json.loads(b))
        assert sum(n - 1 for n in ids.values()) > 0
        assert result.chaos["duplicates"] > 0
        assert result.chaos["reordered"] > 0
        folded = StateBuilder()
        for body in reversed(bodies):  # any order gives the same state
            folded.add_body(body)
        expected = crm_state.read(options.state_path or "")
        assert verify(expected, {r.key: r for r in folded.records()}).passed
        assert not verify(expected, _naive(bodies)).passed

    async def test_unanswered_events_are_not_in_the_state(
        self, capture_factory, secret, tmp_path
    ):
        """Events HubSpot gave up on never reached the receiver's data: not expected."""

        def script(c):
            return 500 if json.loads(c.body)[0]["eventId"] % 4 == 0 else 200

        async with capture_factory(script=script) as (cap, url):
            options = _options(url, secret, tmp_path, events=3000, attempts=1)
            result = await SendRun(options).execute()
        assert result.ledger.gave_up > 0
        answered = StateBuilder()
        for c in cap.requests:
            if script(c) == 200:
                answered.add_body(c.body)
        expected = crm_state.read(options.state_path or "")
        assert verify(expected, {r.key: r for r in answered.records()}).passed
        assert len(expected) == len(answered)
