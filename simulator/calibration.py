"""
Calibration: hubsim's own ceiling on this machine, measured against a null
sink in its own process, so a receiver's figure can be read against it.

A receiver measured at 80 % or more of that ceiling may be showing hubsim's
limit rather than its own: the sentence says so, and the JSON and HTML
reports carry both figures. In the open model, hubsim also runs the bench's
rate against the null sink: if it cannot keep that schedule alone, late
sends against the receiver are partly hubsim's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from . import bench, null_sink
from .measurement import LATE_WARN_SHARE

#: A receiver at this share of hubsim's ceiling or above may be limited by hubsim.
NEAR_CEILING: Final = 0.8
#: Below this share, hubsim had plenty of room left.
HALF: Final = 0.5
#: The calibration run is at most this long (or the bench's own duration).
CALIBRATION_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Calibration:
    """hubsim's ceiling, and (once measured) the receiver's figure beside it."""

    ceiling_requests_per_s: float
    concurrency: int
    workers: int
    receiver_requests_per_s: float | None = None
    #: Open model: the bench's rate, and the share of sends hubsim itself
    #: started late (or never) at that rate against the null sink.
    rate: float | None = None
    late_share_alone: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.receiver_requests_per_s is None or not self.ceiling_requests_per_s:
            return None
        return self.receiver_requests_per_s / self.ceiling_requests_per_s

    @property
    def limited_by_hubsim(self) -> bool:
        ratio = self.ratio
        return ratio is not None and ratio >= NEAR_CEILING

    def beside(self, receiver_requests_per_s: float) -> Calibration:
        return replace(self, receiver_requests_per_s=receiver_requests_per_s)

    @property
    def schedule_limited_by_hubsim(self) -> bool:
        """Open model: hubsim alone could not keep the schedule at this rate."""
        late = self.late_share_alone
        return late is not None and late > LATE_WARN_SHARE

    def sentence(self) -> str:
        """The ceiling and what it says about the receiver's figure."""
        text = self._ceiling_sentence()
        if self.rate is None or self.late_share_alone is None:
            return text
        alone = (
            f"at {self.rate:,.0f} requests/s hubsim alone started "
            f"{self.late_share_alone:.1%} of its sends late or never"
        )
        if self.schedule_limited_by_hubsim:
            return (
                f"{text}. And {alone}: late sends against your receiver are "
                "partly hubsim's own; lower --rate or add --workers"
            )
        return f"{text}. And {alone}: late sends against your receiver are its own"

    def _ceiling_sentence(self) -> str:
        ceiling = (
            f"hubsim's own ceiling here: {self.ceiling_requests_per_s:,.0f} "
            f"requests/s ({self.concurrency} in flight, {self.workers} "
            f"worker{'s' * (self.workers > 1)}, against a null sink)"
        )
        ratio = self.ratio
        if ratio is None:
            return ceiling
        if self.limited_by_hubsim:
            return (
                f"{ceiling}; your receiver took {ratio:.0%} of it. At "
                f"{NEAR_CEILING:.0%} of hubsim's own limit or more, the figure may "
                "be hubsim's, not your receiver's: add --workers, or run hubsim "
                "on another core or machine"
            )
        if ratio >= HALF:
            return (
                f"{ceiling}; your receiver took {ratio:.0%} of it, under the "
                f"{NEAR_CEILING:.0%} mark: the figure is most likely your "
                "receiver's (--workers 2 would confirm it)"
            )
        return (
            f"{ceiling}; your receiver took {ratio:.0%} of it, well below: the "
            "figure is your receiver's"
        )

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        return {
            "ceiling_requests_per_s": round(self.ceiling_requests_per_s, 1),
            "concurrency": self.concurrency,
            "workers": self.workers,
            "receiver_requests_per_s": _rounded(self.receiver_requests_per_s, 1),
            "ratio": _rounded(ratio, 3),
            "limited_by_hubsim": self.limited_by_hubsim,
            "rate": self.rate,
            "late_share_alone": _rounded(self.late_share_alone, 4),
            "schedule_limited_by_hubsim": self.schedule_limited_by_hubsim,
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def calibrate(opts: bench.BenchOptions) -> Calibration:
    """
    hubsim's closed-model ceiling with the same events, batch size, workers
    and at least HubSpot's 10 in flight, against a null sink; for an open
    model with a rate, also how well hubsim alone keeps that schedule.
    """
    slots = max(10, opts.slots) if opts.model == "closed" else 10
    seconds = min(opts.duration_s, CALIBRATION_S)
    with null_sink.running() as url:
        probe = replace(
            opts,
            target_url=url,
            model="closed",
            rate=None,
            concurrency=slots,
            duration_s=seconds,
        )
        measured = bench.measure(probe, slots)
        calibration = Calibration(measured.requests_per_s, slots, opts.workers)
        if opts.model == "open" and opts.rate is not None:
            alone = bench.measure(
                replace(opts, target_url=url, duration_s=seconds),
                opts.slots,
                opts.rate,
            )
            calibration = replace(
                calibration, rate=opts.rate, late_share_alone=alone.late_share
            )
    return calibration
