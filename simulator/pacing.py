"""
Pacing: turn a scenario's phases into a plan of batches, each with the moment
(relative to its phase's start) it is due and how many events it carries.

Pure: no clock, no I/O. At a rate of r events/s, events are flushed every
:data:`FLUSH_S` seconds, so batches hold about r/10 events (1 to 100), the way
HubSpot sends what has accumulated rather than waiting for a full batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

FLUSH_S: Final = 0.1


@dataclass(frozen=True, slots=True)
class Phase:
    """
    A stretch of traffic: how much (events or seconds) and how fast.

    ``rate`` is events/s (None: as fast as delivery allows). A ramp goes from
    ``rate`` to ``rate_to`` over the phase. A burst sends ``burst_events`` at
    once every ``burst_every_s``.
    """

    name: str
    events: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    rate_to: float | None = None
    burst_events: int | None = None
    burst_every_s: float | None = None
    receiver_down: bool = False

    @property
    def kind(self) -> str:
        """``burst``, ``ramp``, ``constant`` or ``unpaced``."""
        if self.burst_events is not None:
            return "burst"
        if self.rate_to is not None:
            return "ramp"
        return "constant" if self.rate is not None else "unpaced"


@dataclass(frozen=True, slots=True)
class Planned:
    """
    One batch of the plan: which phase, when (seconds after the phase starts;
    None: as soon as a slot is free) and how many events.
    """

    phase: int
    at: float | None
    events: int


def phase_events(phase: Phase) -> int:
    """
    How many events a phase generates.
    """
    if phase.events is not None:
        return phase.events
    duration = phase.duration_s or 0.0
    if phase.burst_events is not None and phase.burst_every_s:
        return math.ceil(duration / phase.burst_every_s) * phase.burst_events
    start = phase.rate or 0.0
    end = phase.rate_to if phase.rate_to is not None else start
    return max(1, round((start + end) / 2 * duration))


def phase_duration(phase: Phase) -> float | None:
    """
    Planned length of a paced phase in seconds; None for an unpaced one.
    """
    if phase.duration_s is not None:
        return phase.duration_s
    if phase.burst_events is not None and phase.burst_every_s:
        return math.ceil((phase.events or 0) / phase.burst_events) * phase.burst_every_s
    if phase.rate is None:
        return None
    end = phase.rate_to if phase.rate_to is not None else phase.rate
    return 2 * (phase.events or 0) / (phase.rate + end)


def plan(phases: Sequence[Phase], batch_size: int = 100) -> Iterator[Planned]:
    """
    Every batch of every phase, in order.
    """
    for index, phase in enumerate(phases):
        total = phase_events(phase)
        if phase.kind == "unpaced":
            yield from _chunks(index, None, total, batch_size)
        elif phase.kind == "burst":
            assert phase.burst_events is not None
            assert phase.burst_every_s is not None
            sent, k = 0, 0
            while sent < total:
                size = min(phase.burst_events, total - sent)
                yield from _chunks(index, k * phase.burst_every_s, size, batch_size)
                sent += size
                k += 1
        else:
            yield from _ramp(index, phase, total, batch_size)


def _chunks(index: int, at: float | None, total: int, size: int) -> Iterator[Planned]:
    while total > 0:
        n = min(size, total)
        yield Planned(index, at, n)
        total -= n


def _ramp(index: int, phase: Phase, total: int, batch_size: int) -> Iterator[Planned]:
    """
    Constant rate or a linear ramp r(t) = r0 + (r1 - r0) t / T: a batch's time is
    where the cumulative count r0 t + (r1 - r0) t^2 / 2T reaches its first event.
    """
    r0 = phase.rate or 1.0
    r1 = phase.rate_to if phase.rate_to is not None else r0
    duration = 2 * total / (r0 + r1)
    a = (r1 - r0) / (2 * duration)
    sent = 0
    while sent < total:
        if abs(a) < 1e-12:
            t = sent / r0
        else:
            t = (-r0 + math.sqrt(r0 * r0 + 4 * a * sent)) / (2 * a)
        rate_now = r0 + (r1 - r0) * t / duration
        n = max(1, min(batch_size, round(rate_now * FLUSH_S), total - sent))
        yield Planned(index, t, n)
        sent += n
