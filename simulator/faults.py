"""
Faults the built-in receiver injects on purpose, to exercise HubSpot's
retries: a failure rate and status, latency with jitter, hangs, dropped
connections, and a status script by ``attemptNumber``.

:class:`Faults` is plain, validated data (a scenario's ``[receiver]`` table or
``hubsim receive`` flags); :class:`Injector` rolls the dice per request with
its own seeded generator. Neither knows about HTTP.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final, Literal

from .errors import UsageError

#: How long an injected hang lasts: well past any sender timeout, and bounded
#: so a stopped sender does not leave a handler behind for ever.
HANG_S: Final = 120.0
#: Latency and jitter beyond this are not a receiver, they are a hang.
MAX_LATENCY_MS: Final = 60_000.0
#: Retry-After values a receiver can ask for (seconds, or ms with --retry-after-ms).
MAX_RETRY_AFTER: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class Faults:
    """
    Failures to inject. Rates are probabilities per request and together at
    most 1. ``script`` answers by attemptNumber: ``(500, 503, 200)`` fails
    attempts 0 and 1 and accepts from attempt 2 on. ``retry_after`` is sent
    with every injected failure.
    """

    fail_rate: float = 0.0
    fail_status: int = 500
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hang_rate: float = 0.0
    reset_rate: float = 0.0
    script: tuple[int, ...] = ()
    retry_after: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("fail_rate", "hang_rate", "reset_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be between 0 and 1, not {value}")
        if self.fail_rate + self.hang_rate + self.reset_rate > 1.0 + 1e-9:
            raise UsageError(
                "--fail-rate, --hang-rate and --reset-rate add up to more than 1"
            )
        for name in ("latency_ms", "jitter_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= MAX_LATENCY_MS):
                flag = "--" + name.removesuffix("_ms")
                raise UsageError(
                    f"{flag} must be 0 to {MAX_LATENCY_MS:,.0f} ms, not {value}"
                )
        if not 300 <= self.fail_status <= 599:
            raise UsageError(
                f"--fail-status must be a failure status (300 to 599), not "
                f"{self.fail_status}"
            )
        for code in self.script:
            if not 200 <= code <= 599:
                raise UsageError(f"--script: {code} is not an HTTP status (200-599)")
        if self.retry_after is not None:
            try:
                wait = float(self.retry_after)
            except ValueError:
                wait = -1.0
            if not (math.isfinite(wait) and 0 <= wait <= MAX_RETRY_AFTER):
                raise UsageError(
                    f"--retry-after must be 0 to {MAX_RETRY_AFTER:,.0f}, not "
                    f"{self.retry_after!r}"
                )

    @property
    def any(self) -> bool:
        """True if any failure or delay is configured."""
        return bool(
            self.fail_rate
            or self.latency_ms
            or self.jitter_ms
            or self.hang_rate
            or self.reset_rate
            or self.script
        )


Decision = Literal["pass", "hang", "reset", "fail"]


class Injector:
    """
    Decides each request's fate from its ``attemptNumber``, reproducibly for
    a seed.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def delay_s(self) -> float:
        """How long to wait before answering (latency ± jitter, never < 0)."""
        f = self.faults
        if not (f.latency_ms or f.jitter_ms):
            return 0.0
        delay = f.latency_ms + self._rng.uniform(-f.jitter_ms, f.jitter_ms)
        return max(0.0, delay) / 1000

    def decide(self, attempt: int) -> tuple[Decision, int]:
        """What to do with one request, and the status for ``fail``."""
        f = self.faults
        roll = self._rng.random()
        if roll < f.hang_rate:
            return "hang", 0
        roll -= f.hang_rate
        if roll < f.reset_rate:
            return "reset", 0
        roll -= f.reset_rate
        if f.script:
            status = f.script[min(attempt, len(f.script) - 1)]
            if not 200 <= status < 300:
                return "fail", status
        if roll < f.fail_rate:
            return "fail", f.fail_status
        return "pass", 0
