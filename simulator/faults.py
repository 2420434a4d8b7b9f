"""
Faults the built-in receiver injects on purpose, to exercise HubSpot's
retries: a failure rate and status, latency with jitter, hangs, dropped
connections, and a status script by ``attemptNumber``.

:class:`Faults` is plain, validated data (a scenario's ``[receiver]`` table or
``hubsim receive`` flags); :class:`Injector` rolls the dice per request with
its own seeded generator. Neither knows about HTTP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal

from .declarations import setting, validate
from .errors import UsageError

#: How long an injected hang lasts: well past any sender timeout, and bounded
#: so a stopped sender does not leave a handler behind for ever.
HANG_S: Final = 120.0
#: Latency and jitter beyond this are not a receiver, they are a hang.
MAX_LATENCY_MS: Final = 60_000.0
#: Retry-After values a receiver can ask for (seconds; ms with --retry-after-unit).
MAX_RETRY_AFTER: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class Faults:
    """
    Failures to inject. Rates are probabilities per request and together at
    most 1. ``script`` answers by attemptNumber: ``(500, 503, 200)`` fails
    attempts 0 and 1 and accepts from attempt 2 on. ``retry_after`` (seconds)
    is sent with every injected failure.
    """

    fail_rate: float = setting(
        0.0, "--fail-rate", "fail_rate", "float",
        "Fail this share of requests (0 to 1).", low=0, high=1, metavar="P",
    )  # fmt: skip
    fail_status: int = setting(
        500, "--fail-status", "fail_status", "int",
        "Status of injected failures (300 to 599).", low=300, high=599,
    )  # fmt: skip
    latency_ms: float = setting(
        0.0, "--latency", "latency_ms", "float",
        "Answer after this many ms.", low=0, high=MAX_LATENCY_MS, metavar="MS",
    )  # fmt: skip
    jitter_ms: float = setting(
        0.0, "--jitter", "jitter_ms", "float",
        "Vary --latency by up to ± this many ms.", low=0, high=MAX_LATENCY_MS,
        metavar="MS",
    )  # fmt: skip
    hang_rate: float = setting(
        0.0, "--hang-rate", "hang_rate", "float",
        "Never answer this share of requests (timeouts).", low=0, high=1,
        metavar="P",
    )  # fmt: skip
    reset_rate: float = setting(
        0.0, "--reset-rate", "reset_rate", "float",
        "Drop the connection for this share of requests.", low=0, high=1,
        metavar="P",
    )  # fmt: skip
    script: tuple[int, ...] = setting(
        (), "--script", "script", "codes",
        "Statuses by attemptNumber, e.g. 500,503,200: attempts 0 and 1 fail.",
        low=200, high=599, metavar="LIST",
    )  # fmt: skip
    retry_after: float | None = setting(
        None, "--retry-after", "retry_after", "float",
        "Send Retry-After: SECONDS with injected failures.",
        low=0, high=MAX_RETRY_AFTER, metavar="SECONDS",
    )  # fmt: skip
    seed: int | None = setting(
        None, "--fault-seed", "seed", "int", "Makes injected faults reproducible.",
        low=0, high=2**64 - 1,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self)
        if self.fail_rate + self.hang_rate + self.reset_rate > 1.0 + 1e-9:
            raise UsageError(
                "--fail-rate, --hang-rate and --reset-rate add up to more than 1"
            )

    @property
    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` value sent with failures, as written (``2``, ``0.5``)."""
        return None if self.retry_after is None else f"{self.retry_after:g}"

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
