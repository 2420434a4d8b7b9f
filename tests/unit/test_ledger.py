"""The ledger: each event ends delivered, gave_up or pending, exactly once."""

from __future__ import annotations

from simulator.batching import Batch
from simulator.delivery import Attempt
from simulator.events import EventConfig, EventSource
from simulator.ledger import Ledger, Outcome


def _batch(n=10, seq=1):
    return Batch.of(
        seq, 1, tuple(EventSource(EventConfig(seed=seq, start_ms=1)).take(n))
    )


class TestLedger:
    def test_non_final_attempts_do_not_settle(self):
        """A failed attempt that will be retried settles nothing."""

        ledger = Ledger()
        b = _batch()
        ledger.generated_batch(b)
        ledger.record_attempt(Attempt(b, 0, 0, 0, 500, None, 1, final=False))
        assert 0 == ledger.delivered + ledger.gave_up
        assert not ledger.balanced

    def test_outcomes_balance(self):
        """delivered + gave_up + pending equals generated."""

        records = []
        ledger = Ledger(sink=records.append)
        a, b, c = _batch(10, 1), _batch(20, 2), _batch(5, 3)
        for x in (a, b, c):
            ledger.generated_batch(x)
        ledger.record_attempt(Attempt(a, 2, 0, 0, 204, None, 1, final=True))
        ledger.record_attempt(Attempt(b, 10, 0, 0, None, "timeout", 1, final=True))
        ledger.pending(c, 1)
        assert (10, 20, 5) == (ledger.delivered, ledger.gave_up, ledger.pending_count)
        assert ledger.balanced
        assert {2: 10} == dict(ledger.delivered_on_attempt)
        assert {"timeout": 20} == dict(ledger.gave_up_errors)
        assert [Outcome.DELIVERED, Outcome.GAVE_UP, Outcome.PENDING] == [
            r.outcome for r in records
        ]
        assert [3, 11, 1] == [r.attempts for r in records]
