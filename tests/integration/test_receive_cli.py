"""hubsim receive as a user runs it: what it says when it stops."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from simulator.events import EventConfig
from simulator.run import SendOptions, SendRun
from simulator.signing import ClientSecret

from ..conftest import SECRET


@pytest.fixture
def saving(tmp_path):
    """`hubsim receive --save` in its own process: (process, base URL, file)."""
    saved = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "receive", "--port", "0",
         "--secret", SECRET, "--save", str(saved)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[-1].rstrip("/")
        yield proc, base, saved
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert 0 == proc.returncode, out
    return out


class TestStop:
    async def test_ctrl_c_says_what_was_received_and_saved(self, saving):
        """
        After 300 events, Ctrl-C prints one line with the counts and the
        --save file, which holds one line per event.
        """

        proc, base, saved = saving
        options = SendOptions(
            target_url=f"{base}/hook",
            secret=ClientSecret(SECRET),
            events=300,
            source=EventConfig(seed=8, start_ms=1),
        )
        result = await SendRun(options).execute()
        assert 300 == result.ledger.delivered
        out = _stop(proc)
        expected = (
            f"stopped: {result.summary.requests:,} requests accepted, 300 events "
            f"(300 distinct, 0 duplicates); wrote 300 events to {saved}"
        )
        assert expected == out.strip().splitlines()[-1]
        assert 300 == len(saved.read_text().splitlines())


def test_port_in_use_is_one_line_and_no_file(tmp_path):
    """A taken port: exit 2, one line naming --host/--port, and no --save file."""

    saved = tmp_path / "events.jsonl"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "receive", "--port", str(port),
             "--insecure", "--save", str(saved)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert 2 == done.returncode
    assert 1 == len(done.stderr.strip().splitlines())
    assert "--host/--port: cannot listen on 127.0.0.1:" in done.stderr
    assert not saved.exists()
