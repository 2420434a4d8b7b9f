"""
hubsim receive --workers 2 as a user runs it: one port, two processes, one
/stats that counts every worker exactly, a DELETE that clears them all, and
a stop that ends every process.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import pytest

from simulator.events import EventConfig
from simulator.run import SendOptions, SendRun
from simulator.signing import ClientSecret

from ..conftest import SECRET


@pytest.fixture
def pool(request):
    param = getattr(request, "param", "")
    auth = ["--insecure"] if param.startswith("insecure") else [
        "--secret", SECRET,
    ]  # fmt: skip
    if param.endswith("+script"):
        auth += ["--script", "500,503,204"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "receive", "--port", "0", "--workers",
         "2", *auth],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield proc, line.split()[-1].rstrip("/")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


def _stats(base: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{base}/stats", method=method)
    with urllib.request.urlopen(request, timeout=20) as resp:
        return json.loads(resp.read() or b"{}")


async def _send(url: str, events: int, seed: int):
    options = SendOptions(
        target_url=url,
        secret=ClientSecret(SECRET),
        events=events,
        source=EventConfig(seed=seed, start_ms=1),
    )
    return await SendRun(options).execute()


class TestPool:
    async def test_ctrl_c_says_what_every_worker_received(self, pool):
        """After 1,000 events, Ctrl-C prints one line with the merged counts."""

        proc, base = pool
        result = await _send(f"{base}/hook", 1000, seed=6)
        assert 1000 == result.ledger.delivered
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert 0 == proc.returncode, out
        expected = (
            f"stopped: {result.summary.requests:,} requests accepted, "
            "1,000 events (1,000 distinct, 0 duplicates)"
        )
        assert expected == out.strip().splitlines()[-1]

    async def test_stats_count_every_worker_exactly(self, pool):
        """3,000 events over 10 connections: /stats says 3,000 distinct, 0 duplicates."""

        _, base = pool
        result = await _send(f"{base}/webhooks/hubspot", 3000, seed=4)
        assert 3000 == result.ledger.delivered
        stats = _stats(base)
        assert 3000 == stats["events"] == stats["distinct_events"]
        assert 0 == stats["duplicates"]
        assert (
            stats["requests"] == stats["accepted_requests"] == result.summary.requests
        )

    async def test_a_repeat_at_another_worker_is_a_duplicate(self, pool):
        """The same events sent twice count as duplicates, whichever worker took them."""

        _, base = pool
        for _ in range(2):
            await _send(f"{base}/webhooks/hubspot", 1000, seed=9)
        stats = _stats(base)
        assert 2000 == stats["events"]
        assert 1000 == stats["distinct_events"]
        assert 1000 == stats["duplicates"]

    @pytest.mark.parametrize("pool", ["insecure+script"], indirect=True)
    def test_a_record_retried_at_another_worker_keeps_its_attempt(self, pool):
        """
        A workflow record has no attemptNumber: its retries are numbered by
        arrival across all workers, so --script answers by attempt whichever
        worker a new connection reaches.
        """

        _, base = pool
        record = json.dumps({"vid": 51, "properties": {"email": "a@b.c"}}).encode()
        statuses = []
        for _ in range(8):
            # A new connection each time: the kernel picks the worker.
            request = urllib.request.Request(f"{base}/wf", data=record)
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=20) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        stats = _stats(base)
        assert [500, 503] + [204] * 6 == statuses
        assert {str(n): 1 for n in range(2, 8)} == stats["by_attempt"]
        assert (6, 1) == (stats["events"], stats["distinct_events"])

    async def test_delete_clears_every_worker(self, pool):
        """DELETE /stats empties the counts of all workers."""

        _, base = pool
        await _send(f"{base}/webhooks/hubspot", 500, seed=2)
        _stats(base, "DELETE")
        assert 0 == _stats(base)["events"]

    def test_stop_ends_every_process(self, pool):
        """Ctrl-C stops the parent and its workers; the exit is clean."""

        proc, _ = pool
        proc.send_signal(signal.SIGINT)
        assert 0 == proc.wait(timeout=20)

    @pytest.mark.parametrize("pool", ["insecure"], indirect=True)
    async def test_stats_larger_than_a_pipe_buffer(self, pool):
        """200,000 scattered eventIds (megabytes of id sets) still merge exactly."""

        _, base = pool
        rng = random.Random(5)
        ids = [rng.randrange(2**40) for _ in range(200_000)]
        async with aiohttp.ClientSession() as session:
            for start in range(0, len(ids), 1000):
                batch = [
                    {"eventId": i, "subscriptionType": "contact.creation",
                     "attemptNumber": 0, "objectId": 1, "portalId": 1}
                    for i in ids[start : start + 1000]
                ]  # fmt: skip
                async with session.post(f"{base}/hook", json=batch) as resp:
                    assert 204 == resp.status
        stats = _stats(base)
        assert len(set(ids)) == stats["distinct_events"]
        assert 200_000 == stats["events"]


def _children(pid: int) -> list[int]:
    """The receiver worker processes (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        pids = [int(p) for p in f.read().split()]
    workers = []
    for child in pids:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                workers.append(child)
    return workers


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_stop_when_the_parent_is_killed(pool):
    """A worker whose parent was killed stops by itself instead of living on."""

    import time

    proc, _ = pool
    workers = _children(proc.pid)
    assert 2 == len(workers)
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(w) for w in workers)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_dead_worker_stops_the_pool(pool):
    """If one worker dies, the parent says so, stops the others and exits 1."""

    import os
    import time

    proc, _ = pool
    first, *others = _children(proc.pid)
    os.kill(first, signal.SIGKILL)
    assert 1 == proc.wait(timeout=20)
    assert proc.stdout is not None
    assert "a receiver worker process died" in proc.stdout.read()
    deadline = time.monotonic() + 20
    while any(_running(w) for w in others) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(w) for w in others)
