"""send --chaos --state-out and hubsim verify-state, as a user runs them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from simulator.cli import ExitCode, cli

from ..conftest import SECRET


@pytest.fixture
def runner():
    return CliRunner()


def _expected(runner, url, tmp_path):
    path = tmp_path / "expected.jsonl"
    result = runner.invoke(
        cli,
        [
            "send", url, "-s", SECRET, "-n", "3000", "--seed", "9",
            "--chaos", "duplicates=0.1,reorder=0.3", "--state-out", str(path),
            "--report", str(tmp_path / "run.json"),
        ],
    )  # fmt: skip
    assert ExitCode.OK == result.exit_code, result.output
    return path, result


class TestVerifyState:
    def test_send_reports_chaos_and_writes_the_state(
        self, runner, threaded_receiver, tmp_path
    ):
        """The summary and the JSON report say what chaos did; the state is written."""

        path, result = _expected(runner, threaded_receiver.url, tmp_path)
        assert "duplicates" in result.output
        assert f"wrote {path} (expected CRM state)" in result.output
        doc = json.loads((tmp_path / "run.json").read_text())
        assert doc["chaos"]["duplicates"] > 0
        assert path.read_text().count("\n") > 100

    def test_the_same_state_passes_and_a_drifted_one_fails(
        self, runner, threaded_receiver, tmp_path
    ):
        """verify-state exits 0 on a match, 1 on drift, naming each kind found."""

        path, _ = _expected(runner, threaded_receiver.url, tmp_path)
        same = runner.invoke(cli, ["verify-state", str(path), str(path)])
        assert ExitCode.OK == same.exit_code, same.output
        assert "✔ state matches" in same.output
        lines = path.read_text().splitlines()
        drifted = tmp_path / "mine.jsonl"
        first = json.loads(lines[0])
        first["properties"] = {k: v + "x" for k, v in first["properties"].items()}
        first["deleted"] = False
        first["mergedInto"] = None
        first.pop("privacyDeleted", None)
        first["properties"] = first["properties"] or {"extra": "x"}
        drifted.write_text("\n".join([json.dumps(first), *lines[2:]]) + "\n")
        report, junit = tmp_path / "v.json", tmp_path / "v.xml"
        found = runner.invoke(
            cli,
            [
                "verify-state", str(path), str(drifted), "--json", str(report),
                "--junit", str(junit),
            ],
        )  # fmt: skip
        assert ExitCode.NOT_DELIVERED == found.exit_code, found.output
        doc = json.loads(report.read_text())
        assert False is doc["passed"]
        assert doc["counts"]
        assert "✘" in found.output
        assert 'failures="0"' not in junit.read_text()
