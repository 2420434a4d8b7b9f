"""
The Locust user class (hubsim[locust]): a master and two workers on loopback
send signed batches the built-in receiver accepts. Bounded to a few seconds.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.ledger import Ledger
from simulator.receiver import STATS_KEY, ReceiverConfig
from simulator.saved import load_run
from simulator.signing import ClientSecret

from ..conftest import SECRET, ThreadedReceiver

# Not imported here: importing locust monkey-patches the process with gevent.
LOCUST = shutil.which("locust", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(LOCUST is None, reason="needs hubsim[locust]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_master_and_two_workers(tmp_path):
    """
    Every request is 2xx, signed validly, with no duplicate events; the
    workers' hubsim reports merge into a balanced ledger whose delivered count
    is what the receiver counted.
    """

    assert LOCUST is not None
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text("from simulator.locustfile import HubSpotWebhookUser\n")
    env = {
        **os.environ,
        "HUBSPOT_CLIENT_SECRET": SECRET,
        "HUBSIM_PATH": "/hook",
        "HUBSIM_REPORT": str(tmp_path / "worker-{pid}.json"),
    }
    port = _free_port()
    with ThreadedReceiver(ReceiverConfig(secret=ClientSecret(SECRET))) as receiver:
        host = f"http://127.0.0.1:{receiver.port}"
        master = subprocess.Popen(
            [LOCUST, "-f", str(locustfile), "--master", "--headless", "-u", "4",
             "-r", "4", "-t", "3s", "--expect-workers", "2", "--stop-timeout", "10",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--host", host, "--csv", str(tmp_path / "run"), "--only-summary"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        workers = [
            subprocess.Popen(
                [
                    LOCUST,
                    "-f",
                    str(locustfile),
                    "--worker",
                    "--master-host",
                    "127.0.0.1",
                    "--master-port",
                    str(port),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            out, _ = master.communicate(timeout=60)
            for w in workers:
                w.wait(timeout=20)
        finally:
            for p in (master, *workers):
                if p.poll() is None:
                    p.kill()
        stats = receiver.app[STATS_KEY] if receiver.app else None
    assert 0 == master.returncode, out[-3000:]
    with open(tmp_path / "run_stats.csv", encoding="utf-8") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 0
    assert 0 == int(total["Failure Count"])
    assert stats is not None
    assert 0 == stats.signature_failures
    assert 0 == stats.duplicates
    assert len(stats.seen) == stats.events
    reports = sorted(tmp_path.glob("worker-*.json"))
    assert 2 == len(reports)
    ledger = Ledger()
    for path in reports:
        _, part = load_run(str(path))
        assert part is not None
        ledger.merge(part)
    assert ledger.balanced
    assert len(stats.seen) == ledger.delivered
    assert ledger.generated == ledger.delivered + ledger.pending_count
