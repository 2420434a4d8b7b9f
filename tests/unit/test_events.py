"""The event source: realistic, spec-shaped, reproducible (spec §2, §3, §7)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from simulator import catalog, emitters
from simulator.errors import CatalogError, UsageError
from simulator.events import EventConfig, EventSource

from ..schema import problems

START = 1_767_225_600_000
ALL_CLASSIC = tuple(catalog.CLASSIC_FAMILIES)


def _events(n=3000, **kw):
    kw.setdefault("seed", 7)
    kw.setdefault("start_ms", START)
    return EventSource(EventConfig(**kw)).take(n)


class TestShapes:
    def test_every_classic_family_conforms(self):
        """Every classic type's events have only spec fields, types and key order."""

        events = _events(20000, types=ALL_CLASSIC)
        seen = Counter(e.subscription_type for e in events)
        assert set(catalog.classic_types()) == set(seen)
        bad = [(e.subscription_type, p) for e in events for p in problems(e.to_dict())]
        assert [] == bad[:5]

    def test_generic_format_conforms(self):
        """Generic events carry objectTypeId (or the association fields) per §3."""

        events = _events(20000, types=("object.*",), format="generic")
        ids = {e.to_dict().get("objectTypeId") for e in events} - {None}
        assert set(catalog.GENERIC_OBJECT_TYPE_IDS) <= ids
        bad = [(e.subscription_type, p) for e in events for p in problems(e.to_dict())]
        assert [] == bad[:5]

    def test_generic_format_keeps_classic_only_types(self):
        """conversation.* and contact.privacyDeletion stay classic in generic runs."""

        events = _events(5000, types=("contact", "conversation"), format="generic")
        types = {e.subscription_type for e in events}
        assert "contact.privacyDeletion" in types
        assert "conversation.newMessage" in types
        assert "contact.creation" not in types
        assert "object.creation" in types

    def test_custom_object_type(self):
        """A custom object id 2-<n> is generated when asked for."""

        events = _events(
            500,
            types=("object.propertyChange",),
            format="generic",
            object_type_ids=("2-4242",),
        )
        assert {"2-4242"} == {e.to_dict()["objectTypeId"] for e in events}

    def test_attempt_number_slot(self):
        """to_json(k) puts k in attemptNumber and changes nothing else."""

        e = _events(1)[0]
        a, b = e.to_dict(0), e.to_dict(7)
        assert 7 == b.pop("attemptNumber")
        a.pop("attemptNumber")
        assert a == b


class TestSemantics:
    def test_merge_ids_consistent(self):
        """A merge's primary is never among the merged ids; objectId is newObjectId."""

        for e in _events(500, types=("contact.merge", "deal.merge")):
            d = e.to_dict()
            assert d["primaryObjectId"] not in d["mergedObjectIds"]
            assert d["objectId"] == d["newObjectId"]
            assert d["mergedObjectIds"]

    def test_privacy_deletion_brings_a_deletion(self):
        """Each contact.privacyDeletion has a contact.deletion of the same objectId."""

        events = _events(4000, types=("contact.privacyDeletion", "contact.deletion"))
        privacy = {
            e.to_dict()["objectId"]
            for e in events
            if e.subscription_type == "contact.privacyDeletion"
        }
        deleted = {
            e.to_dict()["objectId"]
            for e in events
            if e.subscription_type == "contact.deletion"
        }
        # Pairs near the end of the window may be cut off; nearly all must pair.
        assert len(privacy & deleted) >= 0.9 * len(privacy)

    def test_privacy_pair_order_varies(self):
        """The deletion sometimes arrives before its privacyDeletion (§2)."""

        events = _events(4000, types=("contact.privacyDeletion", "contact.deletion"))
        first: dict[int, str] = {}
        for e in events:
            first.setdefault(e.to_dict()["objectId"], e.subscription_type)
        assert {"contact.privacyDeletion", "contact.deletion"} == set(first.values())

    def test_sensitive_property_is_redacted(self):
        """passport_number changes carry REDACTED, never a value."""

        values = {
            e.to_dict()["propertyValue"]
            for e in _events(20000, types=("contact.propertyChange",))
            if e.to_dict()["propertyName"] == "passport_number"
        }
        assert {"REDACTED"} == values

    def test_realistic_values(self):
        """Deal stages are real stage ids, amounts look like money, or cleared."""

        stages = set()
        for e in _events(3000, types=("deal.propertyChange",)):
            d = e.to_dict()
            if d["propertyName"] == "dealstage":
                assert d["propertyValue"] in (*catalog.DEAL_STAGES, "")
                stages.add(d["propertyValue"])
            if d["propertyName"] == "amount" and d["propertyValue"]:
                assert d["propertyValue"].endswith(".00")
        assert {"closedwon", "3468521172", ""} <= stages

    def test_some_values_are_cleared(self):
        """About one property change in 32 clears the field to "" (app-calls §4)."""

        values = [
            e.to_dict()["propertyValue"]
            for e in _events(3000, types=("contact.propertyChange",))
        ]
        cleared = values.count("")
        assert 3000 // 64 < cleared < 3000 // 16

    def test_changes_follow_creations(self):
        """Most records an app hears about get several events: created, then edited."""

        events = [e.to_dict() for e in _events(20000)]
        per_object = Counter(d.get("objectId") or d.get("fromObjectId") for d in events)
        several = sum(1 for n in per_object.values() if n >= 2)
        assert several > len(per_object) / 2
        created = {
            d["objectId"] for d in events if d["subscriptionType"].endswith(".creation")
        }
        edited = {
            d["objectId"]
            for d in events
            if d["subscriptionType"].endswith(".propertyChange")
        }
        assert len(created & edited) > len(created) / 2

    def test_generic_default_covers_every_object(self):
        """--format generic with no types covers every §3.1 generic objectTypeId."""

        seen = {
            d.get("objectTypeId") or d.get("fromObjectTypeId")
            for d in (e.to_dict() for e in _events(20000, format="generic"))
        }
        assert set(catalog.GENERIC_OBJECT_TYPE_IDS) <= seen

    def test_generic_associations_include_engagements(self):
        """Generic association events link notes, calls, emails, meetings and tasks."""

        engaged = {
            d["fromObjectTypeId"]
            for d in (e.to_dict() for e in _events(20000, format="generic"))
            if d["subscriptionType"] == "object.associationChange"
        }
        assert {"0-27", "0-46", "0-47", "0-48", "0-49"} <= engaged

    def test_association_both_sides(self):
        """With both families subscribed, a link is reported to both sides."""

        events = _events(
            3000, types=("deal.associationChange", "contact.associationChange")
        )
        pairs = Counter(
            (d["associationType"], d["fromObjectId"], d["toObjectId"])
            for d in (e.to_dict() for e in events)
        )
        mirrored = [
            k
            for k in pairs
            if k[0] == "DEAL_TO_CONTACT" and ("CONTACT_TO_DEAL", k[2], k[1]) in pairs
        ]
        assert mirrored

    def test_non_ascii_and_emoji_present(self):
        """Names include non-ASCII and emoji, sent as raw UTF-8 by default."""

        body = "".join(
            e.json for e in _events(20000, types=("contact.propertyChange",))
        )
        assert any(ord(c) > 0xFFFF for c in body)
        assert any(0x80 <= ord(c) <= 0xFFFF for c in body)

    def test_escape_unicode_makes_ascii_bodies(self):
        """--escape-unicode gives ASCII-only JSON with the same parsed values."""

        raw = _events(3000, types=("contact.propertyChange",))
        esc = _events(3000, types=("contact.propertyChange",), escape_unicode=True)
        assert all(e.json.isascii() for e in esc)
        assert [e.to_dict() for e in raw] == [e.to_dict() for e in esc]

    def test_event_ids_unique_and_32_bit(self):
        """eventIds are unique within a run and below 2**32."""

        ids = [e.event_id for e in _events(50000)]
        assert len(ids) == len(set(ids))
        assert all(10**8 <= i < 2**32 for i in ids)

    def test_occurred_at_shortly_before_start(self):
        """occurredAt is 0.3-1.5 s before the run's base time (§7)."""

        for e in _events(2000):
            assert START - 1500 <= e.occurred_at <= START - 300

    def test_property_subscription_ids_per_property(self):
        """Each propertyChange property has its own subscriptionId (§2)."""

        by_prop: dict[str, set[int]] = {}
        for e in _events(5000, types=("deal.propertyChange",)):
            d = e.to_dict()
            by_prop.setdefault(d["propertyName"], set()).add(d["subscriptionId"])
        assert all(len(s) == 1 for s in by_prop.values())
        assert len({next(iter(s)) for s in by_prop.values()}) == len(by_prop)


class TestDeterminism:
    def test_same_seed_same_bytes(self):
        """The same seed and start time give the same stream, byte for byte."""

        a = [e.json for e in _events(5000, portals=3)]
        b = [e.json for e in _events(5000, portals=3)]
        assert a == b

    def test_chunking_does_not_change_the_stream(self):
        """Taking 5000 at once or in odd chunks gives the same events."""

        src = EventSource(EventConfig(seed=3, start_ms=START))
        chunked = [e.json for n in (1, 7, 992, 3000, 1000) for e in src.take(n)]
        assert [e.json for e in _events(5000, seed=3)] == chunked

    def test_different_seed_differs(self):
        """Another seed gives another stream."""

        assert _events(50, seed=1) != _events(50, seed=2)


class TestConfig:
    def test_generic_type_needs_generic_format(self):
        """object.* in classic format is a usage error with the fix."""

        with pytest.raises(UsageError, match="--format generic"):
            EventSource(EventConfig(types=("object.creation",)))

    def test_bad_object_type(self):
        """Unknown objectTypeIds are rejected."""

        with pytest.raises(CatalogError):
            EventSource(EventConfig(format="generic", object_type_ids=("0-999",)))

    def test_portals_spread(self):
        """Events spread over the requested number of portals (one per block)."""

        assert 4 == len({e.portal_id for e in _events(6000, portals=4)})

    def test_json_is_compact(self):
        """Bodies are compact JSON: no spaces after separators."""

        e = _events(1, types=("deal.creation",))[0]
        assert (
            json.dumps(e.to_dict(), separators=(",", ":"), ensure_ascii=False)
            == e.to_json()
        )


class TestDistinct:
    def _blocks(self, n=30, distinct=1000):
        src = EventSource(EventConfig(seed=5, start_ms=START, distinct=distinct))
        src.prepare()
        return [src.render(100) for _ in range(n)]

    def test_event_ids_stay_unique(self):
        """Recycled blocks get fresh eventIds: no id repeats across the run."""

        ids = [i for b in self._blocks() for i in b.event_ids]
        assert len(ids) == len(set(ids))

    def test_payloads_repeat_only_distinct_many(self):
        """Past `distinct` events, payloads (without eventId) repeat the pool's."""

        def payloads(block):
            out = []
            for e in json.loads(b"[" + block.body + b"]"):
                e.pop("eventId")
                out.append(json.dumps(e, sort_keys=True))
            return out

        seen = [p for b in self._blocks(40) for p in payloads(b)]
        assert len(set(seen)) <= 1000

    def test_body_matches_ids_and_times(self):
        """A restamped body carries exactly the block's eventIds and occurredAt."""

        for b in self._blocks(25):
            events = json.loads(b"[" + b.body + b"]")
            assert list(b.event_ids) == [e["eventId"] for e in events]
            assert list(b.occurred_at) == [e["occurredAt"] for e in events]

    def test_bodies_stay_exact_when_the_clock_moves_the_times(self):
        """
        Restamped at a steady clock, then moved ones (an open model's
        batches): every body carries its block's ids and times, no id repeats,
        and each event occurred within the two seconds before the clock.
        """

        src = EventSource(EventConfig(seed=5, start_ms=START, distinct=1000))
        src.prepare()
        blocks = [src.render(100) for _ in range(25)]
        src.set_time(START + 5_000)
        blocks += [src.render(100) for _ in range(25)]
        src.set_time(START + 9_000)
        blocks += [src.render(100) for _ in range(3)]
        for b in blocks:
            events = json.loads(b"[" + b.body + b"]")
            assert list(b.event_ids) == [e["eventId"] for e in events]
            assert list(b.occurred_at) == [e["occurredAt"] for e in events]
        ids = [i for b in blocks for i in b.event_ids]
        assert len(ids) == len(set(ids))
        assert sorted(ids) == ids
        late = blocks[-3:]
        assert all(
            START + 9_000 - 2_000 <= t < START + 9_000
            for b in late
            for t in b.occurred_at
        )
        assert len({t for b in late for t in b.occurred_at}) > 50

    def test_a_clock_near_the_epoch_still_gives_json_numbers(self):
        """A toy start time (1 ms) still renders recycled times as valid JSON."""

        src = EventSource(EventConfig(seed=5, start_ms=1, distinct=200))
        src.prepare()
        for _ in range(5):
            b = src.render(100)
            events = json.loads(b"[" + b.body + b"]")
            assert list(b.occurred_at) == [e["occurredAt"] for e in events]

    def test_restamped_events_conform(self):
        """Recycled events still have only spec fields and types."""

        bad = [
            p
            for b in self._blocks(25)
            for e in b.events()
            for p in problems(e.to_dict())
        ]
        assert [] == bad[:5]

    def test_reproducible(self):
        """The same seed gives the same recycled stream."""

        assert [b.body for b in self._blocks(15)] == [b.body for b in self._blocks(15)]

    def test_distinct_must_be_positive(self):
        """--distinct 0 is a usage error."""

        with pytest.raises(UsageError, match="--distinct"):
            EventConfig(distinct=0)


class TestBitLayout:
    @pytest.mark.parametrize("action", sorted(emitters.FIELDS_BY_ACTION))
    def test_fields_of_one_action_do_not_overlap(self, action):
        """The bits each emitter reads from one draw are disjoint, within 64 bits."""

        used = 0
        for f in emitters.FIELDS_BY_ACTION[action]:
            bits = f.mask << f.shift
            assert 0 == used & bits, f
            assert bits < 2**64
            used |= bits


class TestSpread:
    def test_a_sends_occurred_at_rises_over_its_spread(self):
        """With a spread, occurredAt climbs from start - spread to start across the run."""

        src = EventSource(
            EventConfig(seed=3, start_ms=START, spread_ms=600_000, spread_events=5000)
        )
        times = [e.occurred_at for e in src.take(5000)]
        assert START - 600_000 - 1500 <= min(times)
        assert max(times) < START
        assert max(times) - min(times) > 500_000
        assert max(times[:100]) < min(times[-100:])

    def test_set_time_wins_over_the_spread(self):
        """A paced run sets the time: events then occurred just before it (§7)."""

        src = EventSource(
            EventConfig(seed=3, start_ms=START, spread_ms=600_000, spread_events=5000)
        )
        src.set_time(START + 10_000)
        times = [e.occurred_at for e in src.take(1000)]
        assert all(START + 10_000 - 1500 <= t < START + 10_000 for t in times)
