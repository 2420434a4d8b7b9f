"""
Time as a seam: the delivery engine asks a Clock for the time and for sleeps, so
tests run a 24-hour retry schedule on :class:`ManualClock` without waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """
    What the engine needs from time.
    """

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for HubSpot timestamps)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for latency and schedules)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """
    Real time.
    """

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """``time.perf_counter()``: fine-grained and monotonic."""
        return time.perf_counter()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """
    A clock that moves only when told, or when someone sleeps on it.

    ``sleep(d)`` advances time by ``d`` at once and yields to the loop, so a
    schedule of hours runs in milliseconds while keeping its order.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._wall0 = start
        self._now = 0.0

    def time(self) -> float:
        """Wall time: the start plus everything slept or advanced."""
        return self._wall0 + self._now

    def monotonic(self) -> float:
        """Seconds advanced so far."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` and let other tasks run."""
        self.advance(seconds)
        await asyncio.sleep(0)
