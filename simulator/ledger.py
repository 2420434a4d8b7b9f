"""
The ledger: every generated event ends in exactly one recorded state.

``delivered`` (on attempt k), ``gave_up`` (after its last allowed attempt, with
the last error) or ``pending`` (the run stopped first). Events share their
batch's fate, since a failed batch is retried as the same set (spec §10 Q3), so
the ledger works per batch and keeps only counts in memory: a million-event run
costs no more than a thousand-event one. A ``sink`` receives each final record;
:class:`LedgerFile` streams attempts and outcomes to JSONL.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .batching import Batch
from .delivery import Attempt
from .errors import UsageError


class Outcome(enum.Enum):
    """
    The one final state of an event.
    """

    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """
    The final state of every event of one batch.
    """

    batch: Batch
    outcome: Outcome
    attempts: int
    last_error: str | None


Sink = Callable[[BatchRecord], None]


class Ledger:
    """
    Counts generated events and their final states; checks the invariant.
    """

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.generated = 0
        self.counts: Counter[Outcome] = Counter()
        self.delivered_on_attempt: Counter[int] = Counter()
        self.gave_up_errors: Counter[str] = Counter()

    def generated_batch(self, batch: Batch) -> None:
        """Count a batch's events as generated."""
        self.generated += len(batch)

    def record_attempt(self, attempt: Attempt) -> None:
        """Record an attempt; final ones settle their batch."""
        if not attempt.final:
            return
        n = len(attempt.batch)
        if attempt.ok:
            self._settle(
                attempt.batch, Outcome.DELIVERED, attempt.attempt_number + 1, None
            )
            self.delivered_on_attempt[attempt.attempt_number] += n
        else:
            self._settle(
                attempt.batch,
                Outcome.GAVE_UP,
                attempt.attempt_number + 1,
                attempt.outcome,
            )
            self.gave_up_errors[attempt.outcome] += n

    def merge(self, other: Ledger) -> None:
        """
        Add another ledger's counts (several apps accounted as one run).
        """
        self.generated += other.generated
        self.counts.update(other.counts)
        self.delivered_on_attempt.update(other.delivered_on_attempt)
        self.gave_up_errors.update(other.gave_up_errors)

    def to_json(self) -> dict[str, Any]:
        """The counts (not the sink), to merge ledgers from other processes."""
        return {
            "generated": self.generated,
            "outcomes": {o.value: n for o, n in self.counts.items()},
            "delivered_on_attempt": {
                str(k): n for k, n in self.delivered_on_attempt.items()
            },
            "gave_up_errors": dict(self.gave_up_errors),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Ledger:
        """The counts :meth:`to_json` wrote."""
        ledger = cls()
        ledger.generated = int(doc["generated"])
        ledger.counts.update({Outcome(o): int(n) for o, n in doc["outcomes"].items()})
        ledger.delivered_on_attempt.update(
            {int(k): int(n) for k, n in doc["delivered_on_attempt"].items()}
        )
        ledger.gave_up_errors.update(doc["gave_up_errors"])
        return ledger

    def pending(self, batch: Batch, attempts_made: int = 0) -> None:
        """Record a batch the run stopped before settling."""
        self._settle(batch, Outcome.PENDING, attempts_made, None)

    def _settle(
        self, batch: Batch, outcome: Outcome, attempts: int, error: str | None
    ) -> None:
        self.counts[outcome] += len(batch)
        if self.sink is not None:
            self.sink(BatchRecord(batch, outcome, attempts, error))

    @property
    def delivered(self) -> int:
        """Events delivered."""
        return self.counts[Outcome.DELIVERED]

    @property
    def gave_up(self) -> int:
        """Events given up after their last attempt."""
        return self.counts[Outcome.GAVE_UP]

    @property
    def pending_count(self) -> int:
        """Events left pending when the run stopped."""
        return self.counts[Outcome.PENDING]

    @property
    def balanced(self) -> bool:
        """``generated == delivered + gave_up + pending``."""
        return self.generated == self.delivered + self.gave_up + self.pending_count


class LedgerFile:
    """
    Streams the ledger to JSONL: one line per attempt, one per event's outcome.

    Lines are flushed as they are written, so a crash leaves a usable file::

        {"type":"attempt","batch":3,"attemptNumber":1,"events":100,...}
        {"type":"outcome","eventId":1030198139,"outcome":"delivered","attempts":2,...}
    """

    def __init__(self, path: str | Path) -> None:
        try:
            self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise UsageError(f"cannot write ledger {path}: {exc.strerror}") from None

    def attempt(self, attempt: Attempt) -> None:
        """Write one attempt line."""
        self._file.write(
            orjson.dumps(
                {
                    "type": "attempt",
                    "batch": attempt.batch.seq,
                    "portalId": attempt.batch.portal_id,
                    "attemptNumber": attempt.attempt_number,
                    "events": len(attempt.batch),
                    "startedAt": round(attempt.started_at * 1000),
                    "latencyMs": round(attempt.latency_s * 1000, 3),
                    "status": attempt.status,
                    "error": attempt.error,
                    "final": attempt.final,
                }
            )
            + b"\n"
        )
        self._file.flush()

    def line(self, doc: Mapping[str, Any]) -> None:
        """Write one line of another kind (an action execution's outcome)."""
        self._file.write(orjson.dumps(doc) + b"\n")
        self._file.flush()

    def settle(self, record: BatchRecord) -> None:
        """Write the final line of every event in a settled batch."""
        outcome = record.outcome.value
        lines = [
            orjson.dumps(
                {
                    "type": "outcome",
                    "eventId": event_id,
                    "outcome": outcome,
                    "attempts": record.attempts,
                    "lastError": record.last_error,
                    "batch": record.batch.seq,
                }
            )
            for event_id in record.batch.event_ids
        ]
        self._file.write(b"\n".join(lines) + b"\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()
