"""Batching: at most 100 events, one portal per batch, retries keep every byte."""

from __future__ import annotations

import json

import pytest

from simulator.batching import Batch, Batcher, batches
from simulator.errors import UsageError
from simulator.events import EventConfig, EventSource


def _events(n, portals=3):
    return EventSource(EventConfig(seed=1, start_ms=1, portals=portals)).take(n)


class TestBatches:
    def test_every_event_once_in_batches_of_at_most_100(self):
        """All events land in exactly one batch, none larger than 100."""

        events = _events(2345)
        out = list(batches(events, app_id=1))
        assert all(1 <= len(b) <= 100 for b in out)
        assert sorted(e.event_id for e in events) == sorted(
            i for b in out for i in b.event_ids
        )

    def test_one_portal_per_batch(self):
        """A batch never mixes portals (§8, §10 Q4)."""

        for b in batches(_events(2000, portals=5), app_id=1):
            assert {b.portal_id} == {e.portal_id for e in b.events}

    @pytest.mark.parametrize("size", [1, 7, 100])
    def test_batch_size_respected(self, size):
        """--batch-size caps every batch."""

        assert max(len(b) for b in batches(_events(500, 1), 1, size)) == size

    @pytest.mark.parametrize("size", [0, 101])
    def test_batch_size_out_of_range(self, size):
        """Batch sizes outside 1..100 are usage errors."""

        with pytest.raises(UsageError):
            Batcher(1, size)


class TestBody:
    def test_body_is_compact_json_array(self):
        """The body parses to the events, as a compact array."""

        events = tuple(_events(10, 1))
        body = Batch.of(1, 1, events).body(0)
        assert body.startswith(b"[{")
        assert body.endswith(b"}]")
        assert [e.to_dict() for e in events] == json.loads(body)

    @pytest.mark.parametrize("attempt", [0, 1, 2, 10, 123])
    def test_retry_changes_only_attempt_number(self, attempt):
        """Attempt k's body equals attempt 0's with attemptNumber k everywhere."""

        batch = Batch.of(1, 1, tuple(_events(100, 1)))
        first = json.loads(batch.body(0))
        later = json.loads(batch.body(attempt))
        assert all(e["attemptNumber"] == attempt for e in later)
        for e in later:
            e["attemptNumber"] = 0
        assert first == later

    def test_flush_returns_partials(self):
        """flush() hands out partial batches and empties the batcher."""

        b = Batcher(1)
        assert [] == b.add_many(_events(50, 2))
        assert 50 == sum(len(x) for x in b.flush())
        assert 0 == b.buffered
