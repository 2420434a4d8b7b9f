"""The built-in receiver's body parsing (receiver.parse_events), without I/O."""

from __future__ import annotations

import orjson
import pytest

from simulator.batching import Batch
from simulator.events import EventConfig, EventSource
from simulator.receiver import BadRequest, ReceiverStats, parse_events


def _body(seed: int, attempt: int = 0) -> bytes:
    src = EventSource(EventConfig(seed=seed, start_ms=1_767_225_600_000))
    return Batch.from_block(1, src.app_id, src.render(100)).body(attempt)


class TestParse:
    @pytest.mark.parametrize("seed", range(5))
    def test_ids_types_and_attempt_of_a_real_batch(self, seed):
        """A hubsim batch gives back its eventIds, types and attemptNumber."""

        body = _body(seed, attempt=3)
        events = orjson.loads(body)
        ids, attempt, types = parse_events(body, ReceiverStats())
        assert [e["eventId"] for e in events] == ids
        assert [e["subscriptionType"] for e in events] == types
        assert 3 == attempt

    @pytest.mark.parametrize(
        ("change", "words"),
        [
            ({"eventId": True}, "eventId"),
            ({"eventId": -1}, "eventId"),
            ({"attemptNumber": "0"}, "attemptNumber"),
            ({"attemptNumber": 10_000}, "attemptNumber"),
            ({"subscriptionType": 7}, "subscriptionType"),
        ],
    )
    def test_one_bad_event_is_named_whatever_the_path(self, change, words):
        """One odd event in a real batch is refused with its index and its key."""

        events = orjson.loads(_body(1))
        events[42] = {**events[42], **change}
        with pytest.raises(BadRequest) as caught:
            parse_events(orjson.dumps(events), ReceiverStats())
        assert "event 42" in str(caught.value)
        assert words in str(caught.value)

    @pytest.mark.parametrize(
        "change",
        [
            # Outside the typed fast path: each still counts as the careful
            # loop reads it.
            {"subscriptionType": "contact.futureKind"},
            {"eventId": 2**64 - 1},
            {"eventId": 2**63},
        ],
    )
    def test_events_off_the_fast_path_still_count(self, change):
        """An unknown type or an id past int64 is accepted and counted as sent."""

        events = orjson.loads(_body(2))
        events[7] = {**events[7], **change}
        ids, attempt, types = parse_events(orjson.dumps(events), ReceiverStats())
        assert [e["eventId"] for e in events] == ids
        assert [e["subscriptionType"] for e in events] == types
        assert 0 == attempt

    def test_a_float_attempt_number_is_refused(self):
        """attemptNumber 1.0 is not an integer, on either path."""

        events = orjson.loads(_body(3))
        events[0] = {**events[0], "attemptNumber": 1.0}
        with pytest.raises(BadRequest, match="event 0: attemptNumber"):
            parse_events(orjson.dumps(events), ReceiverStats())
