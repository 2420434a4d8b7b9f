"""
[action] scenarios: custom action executions described as data, run against
the built-in action endpoint or an app (here the independent reference app).
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import ExitCode, cli
from simulator.scenario import ScenarioError, load_scenario

from ..action_app import ActionApp
from ..conftest import SECRET, ThreadedReceiver

THIRDS = """
name = "thirds"
thresholds = ["succeeded == 30", "completed == 30", "expired == 30"]

[action]
executions = 90
time_scale = 3600
seed = 1
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(tmp_path: Path, text: str, name: str = "a.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestLoading:
    def test_an_action_table_makes_an_action_scenario(self, tmp_path):
        """[action] keys are ActionOptions settings; [action_app] the built-in app."""

        path = _write(tmp_path, THIRDS + "\n[action_app]\nblock = 0.5\n")
        scenario = load_scenario(path)
        assert scenario.action is not None
        assert 90 == scenario.action.options.executions
        assert 3600 == scenario.action.options.time_scale
        assert 0.5 == scenario.action.app.block
        assert 90 == scenario.total_events
        assert () == scenario.phases

    def test_definition_is_relative_to_the_scenario(self, tmp_path):
        """definition = "x.json" is read next to the scenario file."""

        (tmp_path / "def.json").write_text(
            json.dumps(
                {"outputFields": [{"typeDefinition": {"name": "ok", "type": "string"}}]}
            )
        )
        path = _write(tmp_path, THIRDS + 'definition = "def.json"\n')
        scenario = load_scenario(path)
        assert scenario.action is not None
        assert str(tmp_path / "def.json") == scenario.action.definition_path

    @pytest.mark.parametrize(
        ("extra", "key", "words"),
        [
            ("[[phases]]\nevents = 5\n", "phases", "not part of an [action] scenario"),
            ('[app]\nsecret = "s"\n', "app", "not part of an [action] scenario"),
            ("[action_app]\nblock = 0.7\nexpire = 0.7\n", "action_app", "at most 1"),
            ("[action_app]\nexpiration = 'soon'\n", "action_app.expiration", "ISO"),
            ("[action_app]\nblok = 0.5\n", "action_app.blok", "did you mean"),
        ],
    )
    def test_problems_name_the_key(self, tmp_path, extra, key, words):
        """Webhook keys, bad shares and typos each name their key."""

        path = _write(tmp_path, THIRDS + extra)
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        text = "\n".join(info.value.problems)
        assert f"{key}:" in text
        assert words in text

    @pytest.mark.parametrize(
        ("line", "key", "words"),
        [
            ("portals = 0", "action.portals", "1 to"),
            ("exectuions = 5", "action.exectuions", "did you mean"),
            ('definition = "nope.json"', "action.definition", "cannot read"),
            ("signatures = ['v1']", "action", "v1 is not v2 or v3"),
            ("api_port = 70000", "action.api_port", "0 to 65,535"),
        ],
    )
    def test_action_keys_are_checked(self, tmp_path, line, key, words):
        """Every [action] key is checked against its declaration."""

        path = _write(tmp_path, THIRDS + line + "\n")
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        text = "\n".join(info.value.problems)
        assert f"{key}:" in text
        assert words in text

    def test_action_app_needs_the_builtin_endpoint(self, tmp_path):
        """[action_app] with a target is refused: nothing would read it."""

        text = 'target = "http://127.0.0.1:9/a"\n' + THIRDS + "[action_app]\nblock=1\n"
        with pytest.raises(ScenarioError, match="action_app: sets up the built-in"):
            load_scenario(_write(tmp_path, text))


class TestRunning:
    def test_builtin_endpoint_answers_in_exact_shares(self, tmp_path):
        """Without a target the built-in endpoint blocks and calls back as told."""

        text = THIRDS + "\n[action_app]\nblock = 0.3333334\nexpire = 0.3333333\n"
        ledger = tmp_path / "l.jsonl"
        result = CliRunner().invoke(
            cli, ["run", str(_write(tmp_path, text)), "-q", "--ledger", str(ledger)]
        )
        assert ExitCode.OK == result.exit_code, result.output
        outcomes = [
            json.loads(x)["outcome"]
            for x in ledger.read_text().splitlines()
            if '"outcome"' in x
        ]
        expected = {"succeeded": 30, "completed": 30, "expired": 30}
        assert expected == dict(Counter(outcomes))

    def test_against_an_app(self, tmp_path):
        """With a target, the app calls back to the callbacks API on api_port."""

        app = ActionApp(SECRET)
        port = _free_port()
        app.api_base = f"http://127.0.0.1:{port}"
        text = THIRDS + f'api_port = {port}\napi_token = "{app.token}"\n'
        with ThreadedReceiver(app_factory=app.app) as server:
            url = f"http://127.0.0.1:{server.port}/actions/send"
            result = CliRunner().invoke(
                cli,
                ["run", str(_write(tmp_path, text)), "--target", url, "-s", SECRET,
                 "-q"],
            )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert all(app.v2_valid)
        assert 90 == len(app.v2_valid)
        assert app.token not in result.output

    def test_record_is_refused(self, tmp_path):
        """--record records webhook requests: an action scenario says so, exit 2."""

        result = CliRunner().invoke(
            cli,
            ["run", str(_write(tmp_path, THIRDS)), "-q", "--record",
             str(tmp_path / "r.jsonl")],
        )  # fmt: skip
        assert ExitCode.BAD_INPUT == result.exit_code
        assert "--record" in result.stderr

    def test_validate_counts_executions(self, tmp_path):
        """hubsim validate describes an action scenario by its executions."""

        result = CliRunner().invoke(cli, ["validate", str(_write(tmp_path, THIRDS))])
        assert ExitCode.OK == result.exit_code
        assert "90 executions" in result.output
