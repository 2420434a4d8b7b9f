"""HubSpot's delivery chaos (chaos.py): what each knob does to the stream, by construction."""

from __future__ import annotations

import itertools
from collections import Counter

import orjson
import pytest

from simulator.chaos import Chaos, ChaosSource
from simulator.errors import UsageError
from simulator.events import EventConfig, EventSource


def _source(knobs: str, seed: int = 3, **config) -> ChaosSource:
    inner = EventSource(EventConfig(seed=seed, start_ms=1_767_225_600_000, **config))
    return ChaosSource(inner, Chaos.parse(knobs), seed)


def _blocks(src: ChaosSource, total: int, size: int = 100):
    sent = 0
    while sent < total:
        block = src.render(min(size, total - sent))
        sent += len(block)
        yield block


def _events(src: ChaosSource, total: int = 5000):
    return [e for b in _blocks(src, total) for e in orjson.loads(b"[" + b.body + b"]")]


class TestKnobs:
    def test_parse_and_text_round_trip(self):
        """--chaos text parses into knobs and prints back the same."""

        chaos = Chaos.parse("duplicates=0.05, reorder=0.3,skew=300")
        assert (0.05, 0.3, 300.0, 10) == (
            chaos.duplicates,
            chaos.reorder,
            chaos.skew,
            chaos.window,
        )
        assert chaos == Chaos.parse(chaos.text())
        assert not Chaos().active

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("dupes=0.1", "unknown knob"),
            ("reorder", "needs a value"),
            ("reorder=lots", "not a number"),
            ("reorder=2", "0 to 0.9"),
            ("duplicates=1.5", "0 to 1"),
            ("window=2.5", "whole number"),
            ("skew=-1", "0 to 86400"),
        ],
    )
    def test_bad_knobs_are_named(self, text, words):
        """A bad knob is a UsageError that names --chaos and what is wrong."""

        with pytest.raises(UsageError) as caught:
            Chaos.parse(text)
        assert "--chaos" in str(caught.value)
        assert words in str(caught.value)


class TestStream:
    def test_every_request_has_the_events_asked_for(self):
        """Whatever is held back, each block has exactly the count, for one portal."""

        src = _source("duplicates=0.2,reorder=0.5,split=0.3,burst=0.2", portals=3)
        for block in _blocks(src, 20_000):
            assert 100 == len(block)
            assert {block.portal_id} == {
                e["portalId"] for e in orjson.loads(b"[" + block.body + b"]")
            }

    def test_duplicates_are_the_same_bytes(self):
        """A duplicate repeats an event byte for byte: eventId and occurredAt too."""

        src = _source("duplicates=0.1")
        events = _events(src)
        by_id: dict[int, list[bytes]] = {}
        for e in events:
            by_id.setdefault(e["eventId"], []).append(orjson.dumps(e))
        repeated = [v for v in by_id.values() if len(v) > 1]
        assert repeated
        assert all(len(set(v)) == 1 for v in repeated)
        assert len(events) - len(by_id) == src.counts["duplicates"] - _unsent(src)

    def test_reordering_sends_events_after_later_ones(self):
        """With reorder, many more events arrive after an event generated later."""

        plain = _inversions([e["eventId"] for e in _events(_source(""))])
        chaotic = _events(_source("reorder=0.3"))
        assert _inversions([e["eventId"] for e in chaotic]) > 10 * max(1, plain)

    def test_what_waits_stays_bounded(self):
        """Held-back events never pile up: at most a window of requests' worth."""

        src = _source("duplicates=0.5,reorder=0.9,window=20")
        for _ in _blocks(src, 50_000):
            waiting = sum(len(w) for w in src._waiting.values())
            assert waiting <= 2 * 20 * 100

    def test_burst_shares_one_occurred_at(self):
        """A burst request's events all occurred in the same millisecond."""

        src = _source("burst=1")
        block = next(iter(_blocks(src, 100)))
        assert 1 == len(set(block.occurred_at))
        assert len(block) > 1

    def test_skew_moves_occurred_at_back_only(self):
        """Skew moves occurredAt earlier, never later, by at most its seconds."""

        plain = {e["eventId"]: e["occurredAt"] for e in _events(_source(""))}
        skewed = {e["eventId"]: e["occurredAt"] for e in _events(_source("skew=60"))}
        moves = [plain[k] - skewed[k] for k in plain]
        assert all(0 <= m <= 60_000 for m in moves)
        assert any(moves)

    def test_seeded_chaos_repeats_byte_for_byte(self):
        """The same seed and knobs give the same requests."""

        knobs = "duplicates=0.1,reorder=0.3,split=0.2"
        first = [b.body for b in _blocks(_source(knobs), 3000)]
        assert first == [b.body for b in _blocks(_source(knobs), 3000)]

    def test_counts_add_up(self):
        """Events sent = fresh events sent + duplicates sent; held ones are unsent."""

        src = _source("duplicates=0.1,reorder=0.3")
        events = _events(src, 10_000)
        ids = Counter(e["eventId"] for e in events)
        assert 10_000 == len(events)
        assert sum(n - 1 for n in ids.values()) <= src.counts["duplicates"]


def _unsent(src: ChaosSource) -> int:
    return sum(1 for w in src._waiting.values() for _, _, dup in w if dup)


def _inversions(ids: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(ids) if a > b)
