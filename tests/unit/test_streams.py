"""The open model's accounting, by construction (streams.OpenStream)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from simulator.clock import ManualClock
from simulator.streams import OpenStream


def _stream(rate: float, started: int) -> OpenStream:
    run = SimpleNamespace(clock=ManualClock(), stopped=False)
    stream = OpenStream(run, rate, 100, total=10**9)  # type: ignore[arg-type]
    stream._start = 0.0
    stream._next = started
    return stream


class TestNeverSent:
    @pytest.mark.parametrize(
        ("rate", "seconds", "started", "never"),
        [
            (200.0, 1.0, 200, 0),
            (200.0, 1.0, 150, 50),
            (3.0, 1.0, 0, 3),
            (7.0, 2.0, 14, 0),
        ],
    )
    def test_only_sends_due_before_the_deadline_count(
        self, rate, seconds, started, never
    ):
        """Batch i is due at i / rate: one due at the deadline itself is not owed."""

        assert never == _stream(rate, started).dropped(seconds)

    def test_max_batches_caps_what_is_owed(self):
        """With --requests N, no more than N sends were ever due."""

        stream = _stream(200.0, 10)
        stream.max_batches = 20
        assert 10 == stream.dropped(1.0)


class TestEndOfRun:
    def test_next_owed_is_the_first_unissued_due_moment(self):
        """A run that owes sends knows when the first of them was due."""

        stream = _stream(200.0, 150)
        assert 150 / 200.0 == stream.next_owed(1.0)

    def test_nothing_owed_when_every_due_send_started(self):
        """No owed send: nothing to wait for at the deadline."""

        assert None is _stream(200.0, 200).next_owed(1.0)

    async def test_nothing_due_at_or_after_the_end_is_issued(self):
        """After end_at, the schedule stops at the deadline instead of sleeping past it."""

        stream = _stream(200.0, 200)  # batch 200 is due at exactly 1.0 s
        stream.end_at(1.0)
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        assert 0 == stream.dropped(1.0)


class TestStart:
    def test_the_schedule_starts_with_the_run(self):
        """
        Started at the run's start, 1,500/s for 1 s owes exactly 1,500 sends,
        even before the feeder's first pull (which comes a moment later, when
        more than one interval may have passed).
        """

        run = SimpleNamespace(clock=ManualClock(), stopped=False)
        stream = OpenStream(run, 1500.0, 100, total=10**9)  # type: ignore[arg-type]
        stream.start_at(0.0)
        assert 1500 == stream.dropped(1.0)
        assert 0.0 == stream.next_owed(1.0)

    def test_a_started_schedule_stays_put(self):
        """start_at does not move a schedule already under way."""

        stream = _stream(200.0, 10)
        stream.start_at(5.0)
        assert 190 == stream.dropped(1.0)
