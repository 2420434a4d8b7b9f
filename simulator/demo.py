"""
The demo: the built-in receiver in its own process on loopback, a scenario
run against it, and a cross-check of the receiver's own counts (``/stats``)
against what the run delivered. It needs nothing but the installed package.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from . import aio, transport
from .errors import SimulatorError, UsageError
from .run import View
from .scenario import Scenario
from .scenario_run import ScenarioRun, run_scenario
from .target import Target
from .thresholds import Check, evaluate

SECRET_ENV = "HUBSPOT_CLIENT_SECRET"
#: Seconds the receiver process has to start and say where it listens.
START_TIMEOUT_S = 30.0


class DemoError(SimulatorError):
    """Raised when the demo's receiver does not start."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The run, its thresholds and the receiver's cross-check."""

    scenario: Scenario
    receiver_url: str
    target: str
    run: ScenarioRun
    checks: tuple[Check, ...]
    #: (what, the receiver's count, the expected count)
    rows: tuple[tuple[str, int, int], ...]

    @property
    def passed(self) -> bool:
        """Every event arrived once, verified, and every threshold held."""
        result = self.run.completed.merged
        return (
            bool(result.all_delivered)
            and all(c.ok for c in self.checks)
            and all(got == want for _, got, want in self.rows)
        )


@contextlib.contextmanager
def receiver_process(port: int, secret: str) -> Iterator[str]:
    """``hubsim receive`` in its own process; yields its base URL."""
    env = {**os.environ, SECRET_ENV: secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "receive", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            error = (proc.stderr.read() if proc.stderr else "").strip()
            reason = error.splitlines()[-1] if error else line or "no output"
            raise DemoError(f"the receiver did not start: {reason}")
        yield line.removeprefix("listening on ").rstrip("/")
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def fetch_stats(base: str) -> dict[str, int]:
    """The receiver's ``GET /stats`` counts."""

    async def get() -> transport.Answer:
        async with transport.session(1, 10.0) as client:
            url = Target.parse(f"{base}/stats").wire
            return await transport.send(client, url, b"", {}, "GET", keep_body=True)

    answer = aio.run(get())
    if not answer.ok:
        raise DemoError(f"the receiver's /stats answered {answer.outcome}")
    data: dict[str, int] = json.loads(answer.body)
    return data


def run_demo(scenario: Scenario, port: int = 0, view: View | None = None) -> DemoResult:
    """
    Start the receiver (``port`` 0: a free one), run ``scenario`` against it,
    and compare its counts with what was delivered.
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, not {port}")
    secret = str(uuid.uuid4())
    with receiver_process(port, secret) as base:
        target = f"{base}/webhooks/hubspot"
        if view is not None:
            view.note(
                f"receiver {base} (own process) · {scenario.total_events:,} "
                f"events → {target}"
            )
        done = run_scenario(scenario, target, secret, view=view)
        result = done.completed.merged
        checks = tuple(evaluate(scenario.thresholds, result))
        seen = fetch_stats(base)
    rows = (
        ("distinct events", seen["distinct_events"], result.ledger.delivered),
        ("signature failures", seen["signature_failures"], 0),
        ("stale timestamps", seen["stale_timestamps"], 0),
        ("bad requests", seen["bad_requests"], 0),
    )
    return DemoResult(scenario, base, target, done, checks, rows)
