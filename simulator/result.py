"""
Results: what a finished run measured and accounted for, and the one verdict
that decides its exit code and every CI output (terminal, JUnit, Markdown).

Renderers and output writers depend on this module, never on the composer
(:mod:`simulator.run`), so a saved or merged result renders like a live one.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .ledger import Ledger
from .stats import Stats, Summary
from .thresholds import Check


class ExitCode(enum.IntEnum):
    """
    What hubsim's exit status means.
    """

    OK = 0
    NOT_DELIVERED = 1
    BAD_INPUT = 2
    INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class RunResult:
    """
    The outcome of a run: the measured figures and the ledger's accounting.
    """

    summary: Summary
    ledger: Ledger
    interrupted: bool
    app_id: int
    portal_ids: tuple[int, ...]
    target_url: str
    #: Every counter and histogram, for saved reports (schema_version 2).
    stats: Stats
    #: What was generated and delivered: events, workflow records or
    #: custom action executions (for messages).
    unit: str = "event"
    #: A custom action run's executions by outcome (succeeded, completed,
    #: expired, failed, gave_up, pending); empty otherwise.
    outcomes: Mapping[str, int] = field(default_factory=dict)
    #: What --chaos did: events duplicated, reordered, split off, … .
    chaos: Mapping[str, int] = field(default_factory=dict)

    @property
    def all_delivered(self) -> bool:
        """Every generated event was delivered."""
        return self.ledger.generated == self.ledger.delivered and self.ledger.balanced


def merge_results(results: Sequence[RunResult], elapsed_s: float) -> RunResult:
    """
    Several runs (apps side by side, or worker processes) as one result:
    histograms and counts add up.
    """
    if len(results) == 1:
        return results[0]
    stats, ledger = Stats(), Ledger()
    chaos: Counter[str] = Counter()
    for r in results:
        stats.merge(r.stats)
        ledger.merge(r.ledger)
        chaos.update(r.chaos)
    return RunResult(
        summary=stats.summary(elapsed_s),
        ledger=ledger,
        interrupted=any(r.interrupted for r in results),
        app_id=results[0].app_id,
        portal_ids=tuple(p for r in results for p in r.portal_ids),
        target_url=results[0].target_url,
        stats=stats,
        unit=results[0].unit,
        chaos=dict(chaos),
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """
    Why a run passed or failed: the exit code and each reason, in words that
    every output repeats (so a JUnit file or a Markdown summary can never say
    "passed" for a run that exited 1).
    """

    code: ExitCode
    reasons: tuple[str, ...]
    #: Whether every event delivered is what decides (False when thresholds
    #: or a bench SLO decide instead).
    delivery_decides: bool

    @property
    def passed(self) -> bool:
        """Exit code 0."""
        return self.code == ExitCode.OK

    @property
    def word(self) -> str:
        """``passed``, ``failed`` or ``interrupted``."""
        if self.code == ExitCode.INTERRUPTED:
            return "interrupted"
        return "passed" if self.passed else "failed"


def undelivered(result: RunResult) -> str:
    """
    ``12 gave up, 3 pending`` (empty when every event was delivered); for a
    custom action run, how its executions did not succeed (``100 expired``).
    """
    if result.outcomes:
        o = result.outcomes
        return ", ".join(
            f"{o[k]:,} {k.replace('_', ' ')}"
            for k in ("failed", "expired", "gave_up", "pending")
            if o.get(k)
        )
    ledger = result.ledger
    parts = []
    if ledger.gave_up:
        parts.append(f"{ledger.gave_up:,} gave up")
    if ledger.pending_count:
        parts.append(f"{ledger.pending_count:,} pending")
    return ", ".join(parts)


def verdict(
    result: RunResult, checks: Sequence[Check] = (), delivery_counts: bool = True
) -> Verdict:
    """
    The run's verdict. Interrupted runs exit 130; a ledger that does not
    balance always fails; thresholds, when given, decide; otherwise every
    generated event must have been delivered (unless ``delivery_counts`` is
    False, as in bench, where only the SLO decides).
    """
    ledger = result.ledger
    reasons: list[str] = []
    if not ledger.balanced:
        settled = ledger.delivered + ledger.gave_up + ledger.pending_count
        reasons.append(
            f"ledger mismatch: generated {ledger.generated:,} != delivered + gave "
            f"up + pending ({settled:,})"
        )
    reasons += [f"threshold {c.threshold} did not hold" for c in checks if not c.ok]
    decides = delivery_counts and not checks
    if decides and not result.all_delivered:
        missed = "did not succeed" if result.outcomes else "not delivered"
        reasons.append(
            f"{ledger.generated - ledger.delivered:,} of {ledger.generated:,} "
            f"{result.unit}s {missed} ({undelivered(result)})"
        )
    if result.interrupted:
        return Verdict(ExitCode.INTERRUPTED, ("interrupted", *reasons), decides)
    code = ExitCode.NOT_DELIVERED if reasons else ExitCode.OK
    return Verdict(code, tuple(reasons), decides)
