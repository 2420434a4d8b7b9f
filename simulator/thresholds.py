"""
Thresholds: one small language for pass/fail rules, shared by ``--threshold``,
a scenario's ``thresholds`` and bench's ``--slo``.

A rule is ``metric op number[unit]``; several may be joined with commas::

    p99_ms < 250        p99 < 250ms        p99.9 <= 1s
    error_rate < 0.01   errors < 1%        delivered_ratio == 1
    max_event_age_s < 30                   requests_per_s >= 400

Every rule is shown back in one canonical spelling (``p99_ms < 250``,
``error_rate < 0.01``), whichever alias it was written with. Pure: rules are
evaluated against a finished :class:`~simulator.result.RunResult`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from .errors import UsageError

if TYPE_CHECKING:
    from .result import RunResult

Comparison = Literal["<", "<=", ">", ">=", "=="]
_OPS: Final[tuple[Comparison, ...]] = ("<=", ">=", "==", "<", ">")

#: Canonical metric -> (what it means, its unit: ms, s, ratio or count).
METRICS: Final[Mapping[str, tuple[str, str]]] = {
    "p50_ms": ("median request latency", "ms"),
    "p90_ms": ("90th percentile request latency", "ms"),
    "p99_ms": ("99th percentile request latency", "ms"),
    "max_ms": ("slowest request", "ms"),
    "error_rate": ("share of requests not answered 2xx (0 to 1)", "ratio"),
    "delivered_ratio": ("delivered events / generated events (0 to 1)", "ratio"),
    "gave_up": ("events given up after their last attempt", "count"),
    "pending": ("events left pending (the run was stopped)", "count"),
    "max_event_age_s": ("longest occurredAt-to-2xx time of any event", "s"),
    "requests_per_s": ("requests per second over the run", "count"),
    "events_per_s": ("events per second over the run", "count"),
    "succeeded": ("custom action executions that succeeded outright", "count"),
    "completed": ("custom action executions blocked, then called back", "count"),
    "expired": ("custom action executions blocked and never called back", "count"),
    "failed": ("custom action executions that failed (FAIL_CONTINUE, 4xx)", "count"),
}
#: Metrics read from a custom action run's outcomes (gave_up and pending too).
_OUTCOMES: Final = ("succeeded", "completed", "expired", "failed", "gave_up", "pending")
#: Other spellings of a metric (bench's --slo used these).
ALIASES: Final = {
    "errors": "error_rate",
    "error_pct": "error_rate",
    "max": "max_ms",
    "delivered": "delivered_ratio",
    "rps": "requests_per_s",
}
#: Any percentile: p95, p99.9 (with or without _ms).
_PERCENTILE: Final = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)(?:_ms)?$")
_UNITS: Final = {"ms": 1.0, "s": 1000.0, "us": 0.001}
_RULE: Final = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(<=|>=|==|<|>)\s*"
    r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(ms|s|us|%)?\s*$"
)
_MAX_VALUE: Final = 1e12


@dataclass(frozen=True, slots=True)
class Threshold:
    """
    ``metric op value`` in canonical units, e.g. ``p99_ms < 250``.
    """

    metric: str
    op: Comparison
    value: float

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` satisfies this threshold."""
        if math.isnan(measured):
            return False
        if self.op == "<":
            return measured < self.value
        if self.op == "<=":
            return measured <= self.value
        if self.op == ">":
            return measured > self.value
        if self.op == ">=":
            return measured >= self.value
        return math.isclose(measured, self.value, rel_tol=1e-9, abs_tol=1e-12)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def canonical_metric(name: str) -> str:
    """
    The canonical name of a metric or alias; ValueError naming close matches.
    """
    name = ALIASES.get(name, name)
    if name in METRICS:
        return name
    m = _PERCENTILE.match(name)
    if m:
        return f"p{m.group(1)}_ms"
    close = difflib.get_close_matches(name, [*METRICS, *ALIASES], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown metric {name!r}{hint}")


def unit_of(metric: str) -> str:
    """``ms``, ``s``, ``ratio`` or ``count``."""
    return "ms" if metric not in METRICS else METRICS[metric][1]


def parse_threshold(text: object) -> Threshold:
    """
    One rule; ValueError saying what is wrong (for the caller to name its flag
    or key).
    """
    m = _RULE.match(text) if isinstance(text, str) else None
    if m is None:
        shown = repr(text) if isinstance(text, str) else str(text)
        raise ValueError(
            f"{shown} is not `metric op number`, like 'p99_ms < 250' or 'errors < 1%'"
        )
    name, op_text, number, suffix = m.groups()
    metric = canonical_metric(name)
    value = float(number)
    if not math.isfinite(value) or abs(value) > _MAX_VALUE:
        raise ValueError(f"{number!r} is not a usable number")
    unit = unit_of(metric)
    if suffix == "%":
        if unit != "ratio":
            raise ValueError(f"{metric} is not a share: {suffix} does not apply")
        value /= 100
    elif suffix is not None:
        if unit == "ms":
            value *= _UNITS[suffix]
        elif unit == "s":
            value = value * _UNITS[suffix] / 1000
        else:
            raise ValueError(f"{metric} has no unit: {suffix} does not apply")
    if unit == "ratio" and not 0 <= value <= 1:
        raise ValueError(f"{metric} is a share from 0 to 1 (or 0% to 100%)")
    op: Comparison = next(o for o in _OPS if o == op_text)
    return Threshold(metric, op, value)


def parse_rules(texts: Iterable[str], where: str) -> tuple[Threshold, ...]:
    """
    Every rule of ``texts`` (each may hold several, comma-separated);
    UsageError naming ``where`` (a flag or key) otherwise.
    """
    out: list[Threshold] = []
    for text in texts:
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                out.append(parse_threshold(part))
            except ValueError as exc:
                raise UsageError(f"{where}: {exc}") from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Check:
    """
    One threshold against what the run measured.
    """

    threshold: Threshold
    measured: float

    @property
    def ok(self) -> bool:
        """Whether the run met the threshold."""
        return self.threshold.holds(self.measured)


def measure(metric: str, result: RunResult, from_schedule: bool = False) -> float:
    """
    The value of ``metric`` in a finished run. With ``from_schedule``,
    latency is measured from each batch's due moment where there was one
    (bench's open model).
    """
    s, ledger = result.summary, result.ledger
    stats = result.stats
    latency = stats.latency
    if from_schedule and stats.intended_latency.total:
        latency = stats.intended_latency
    if metric == "max_ms":
        return latency.max_us / 1000
    if metric.startswith("p") and metric.endswith("_ms"):
        return latency.percentile(float(metric[1:-3])) * 1000
    if metric == "error_rate":
        return 1 - s.success_ratio if s.requests else 0.0
    if metric == "delivered_ratio":
        return ledger.delivered / ledger.generated if ledger.generated else 0.0
    if result.outcomes and metric in _OUTCOMES:
        return float(result.outcomes.get(metric, 0))
    if metric in _OUTCOMES[:4]:
        return 0.0  # not an action run: none of its executions
    if metric == "gave_up":
        return float(ledger.gave_up)
    if metric == "pending":
        return float(ledger.pending_count)
    if metric == "max_event_age_s":
        return s.max_event_age_s
    if metric == "requests_per_s":
        return s.requests_per_s
    if metric == "events_per_s":
        return s.events_per_s
    raise ValueError(f"unknown metric {metric!r}")


def evaluate(
    rules: Iterable[Threshold], result: RunResult, from_schedule: bool = False
) -> list[Check]:
    """Each rule with what ``result`` measured."""
    return [Check(r, measure(r.metric, result, from_schedule)) for r in rules]


def describe() -> list[tuple[str, str]]:
    """Every metric and alias with its meaning, for help texts and docs."""
    rows = [(name, text) for name, (text, _) in METRICS.items()]
    rows.append(("pNN_ms", "any latency percentile, e.g. p95_ms, p99.9_ms"))
    rows += [(alias, f"same as {name}") for alias, name in ALIASES.items()]
    return rows
