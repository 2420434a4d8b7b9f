"""
The README's worked example (docs/examples/blocking_action.py), an app that
blocks and calls back, run against `hubsim action` as the README says.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

from simulator.executions import ActionOptions, ActionRun
from simulator.signing import ClientSecret

from ..conftest import SECRET, serve_app

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "blocking_action.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(monkeypatch, api_base: str):
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("HUBSPOT_API_BASE", api_base)
    monkeypatch.setenv("HUBSPOT_TOKEN", "t0k3n")
    spec = importlib.util.spec_from_file_location("blocking_action", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_the_example_verbatim():
    """The README's code is the file the test runs."""

    readme = (ROOT / "README.md").read_text()
    assert EXAMPLE.read_text().strip() in readme


async def test_every_blocked_execution_is_completed(monkeypatch, tmp_path):
    """30 executions: each answered BLOCK, each completed by its callback."""

    port = _free_port()
    example = _load(monkeypatch, f"http://127.0.0.1:{port}")
    async with serve_app(example.app()) as server:
        opts = ActionOptions(
            target_url=str(server.make_url("/actions/send")),
            secret=ClientSecret(SECRET),
            executions=30,
            api_port=port,
            api_token="t0k3n",
            ledger_path=str(tmp_path / "l.jsonl"),
        )
        result = await ActionRun(opts).execute()
    assert {"completed": 30} == {k: v for k, v in result.outcomes.items() if v}
    lines = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert 30 == sum(1 for x in lines if x["type"] == "outcome")
