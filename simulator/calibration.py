"""
Calibration: hubsim's own ceiling on this machine, measured against a null
sink in its own process, so a receiver's figure can be read against it.

A receiver measured at 80 % or more of that ceiling may be showing hubsim's
limit rather than its own: the sentence says so, and the JSON and HTML
reports carry both figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from . import bench, null_sink

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

    def sentence(self) -> str:
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
            "receiver_requests_per_s": (
                None
                if self.receiver_requests_per_s is None
                else round(self.receiver_requests_per_s, 1)
            ),
            "ratio": None if ratio is None else round(ratio, 3),
            "limited_by_hubsim": self.limited_by_hubsim,
        }


def calibrate(opts: bench.BenchOptions) -> Calibration:
    """
    hubsim's closed-model ceiling with the same events, batch size, workers
    and at least HubSpot's 10 in flight, against a null sink.
    """
    slots = max(10, opts.slots) if opts.model == "closed" else 10
    with null_sink.running() as url:
        probe = replace(
            opts,
            target_url=url,
            model="closed",
            rate=None,
            concurrency=slots,
            duration_s=min(opts.duration_s, CALIBRATION_S),
        )
        measured = bench.measure(probe, slots)
    return Calibration(measured.requests_per_s, slots, opts.workers)
