"""Scenario files: validation with file:line:key, pacing, and every shipped scenario."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import ExitCode, cli
from simulator.pacing import phase_events, plan
from simulator.receiver import Faults, ReceiverConfig
from simulator.scenario import Phase, ScenarioError, Threshold, load_scenario
from simulator.signing import ClientSecret

from ..conftest import SECRET, ThreadedReceiver

SHIPPED = sorted((Path(__file__).parents[2] / "scenarios").glob("*.toml"))


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


MINIMAL = """[[phases]]
events = 10
"""


class TestShipped:
    @pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
    def test_validates(self, path):
        """Every shipped scenario loads without a problem."""

        scenario = load_scenario(path)
        assert scenario.phases or scenario.action

    @pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
    def test_runs_and_passes_its_thresholds(self, path, tmp_path):
        """Every shipped scenario passes against the built-in receiver."""

        report = tmp_path / "r.json"
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--report", str(report)]
        )
        assert ExitCode.OK == result.exit_code, result.output
        data = json.loads(report.read_text())
        assert data["events"]["invariant_holds"]
        assert all(t["ok"] for t in data.get("thresholds", []))

    def test_escaped_unicode_variant(self, tmp_path):
        """The unicode scenario also passes with \\uXXXX-escaped bodies."""

        path = next(p for p in SHIPPED if p.stem == "unicode-and-emoji")
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--set", "escape_unicode=true"]
        )
        assert ExitCode.OK == result.exit_code, result.output


class TestMalformed:
    @pytest.mark.parametrize(
        ("text", "line", "key", "words"),
        [
            (MINIMAL + "evnts = 5\n", 3, "phases[0].evnts", "did you mean 'events'"),
            ("seed = 'seven'\n" + MINIMAL, 1, "seed", "must be an integer"),
            (
                MINIMAL.replace("events = 10", "events = 10\nrate = -5"),
                3,
                "phases[0].rate",
                "more than 0",
            ),
            ("name = 'x'\n", None, "phases", "add at least one [[phases]]"),
            (
                'thresholds = ["latency < 5"]\n' + MINIMAL,
                1,
                "thresholds",
                "unknown metric",
            ),
            (
                'thresholds = ["p99_ms <<< 5"]\n' + MINIMAL,
                1,
                "thresholds",
                "not `metric op number`",
            ),
            (
                'types = ["contact.creatoin"]\n' + MINIMAL,
                1,
                "types",
                "contact.creatoin",
            ),
            (
                'target = "localhost:8080"\n' + MINIMAL,
                1,
                "target",
                "expected http://host",
            ),
            (
                "[mix]\ndeal = 'lots'\n" + MINIMAL,
                2,
                "mix.deal",
                "weight must be a number",
            ),
            (
                MINIMAL + "thresholds = ['error_rate < 0.1']\n",
                3,
                "phases[0].thresholds",
                "move it above the first [table]",
            ),
            ('retry_profile = "webhook"\n' + MINIMAL, 1, "retry_profile", "one of"),
            (
                "[app]\nsecret = '${NOPE_NOT_SET}'\n" + MINIMAL,
                2,
                "app.secret",
                "NOPE_NOT_SET is not set",
            ),
            ("[[phases]]\nduration_s = 5\n", 1, "phases[0]", "needs a rate or a burst"),
            (
                'format = "generic"\nobject_types = ["0-999"]\n' + MINIMAL,
                2,
                "object_types",
                "unknown objectTypeId",
            ),
        ],
    )
    def test_precise_message(self, tmp_path, text, line, key, words):
        """Each mistake is reported as file:line: key: message."""

        path = _write(tmp_path, text)
        with pytest.raises(ScenarioError) as err:
            load_scenario(path, env={})
        where = f"{path}:{line}: {key}:" if line else f"{path}: {key}:"
        assert any(p.startswith(where) and words in p for p in err.value.problems), (
            err.value.problems
        )

    def test_all_problems_at_once(self, tmp_path):
        """Several mistakes are all reported, not just the first."""

        path = _write(tmp_path, "seed = 'x'\nportals = 0\n[[phases]]\nevents = -1\n")
        with pytest.raises(ScenarioError) as err:
            load_scenario(path)
        assert 3 <= len(err.value.problems)

    def test_toml_syntax_error(self, tmp_path):
        """Broken TOML names the file and the line."""

        path = _write(tmp_path, "name = \n")
        with pytest.raises(ScenarioError, match="line 1"):
            load_scenario(path)

    def test_validate_command(self, tmp_path):
        """hubsim validate: ok lines for good files, errors and exit 2 for bad ones."""

        good = _write(tmp_path, MINIMAL, "good.toml")
        bad = _write(tmp_path, "seed = 'x'\n" + MINIMAL, "bad.toml")
        runner = CliRunner()
        assert 0 == runner.invoke(cli, ["validate", str(good)]).exit_code
        result = runner.invoke(cli, ["validate", str(good), str(bad)])
        assert ExitCode.BAD_INPUT == result.exit_code
        assert f"{bad}:1: seed:" in result.output
        assert "Traceback" not in result.output


class TestMultiApp:
    async def test_each_app_keeps_its_own_limit(self, capture_factory, tmp_path):
        """Two apps to one endpoint: 10 and 6 in flight at most, 2:1 of the events."""

        import asyncio

        path = next(p for p in SHIPPED if p.stem == "multi-app")
        async with capture_factory(hold_s=0.03) as (cap, url):
            result = await asyncio.to_thread(
                CliRunner().invoke,
                cli,
                ["run", str(path), "-q", "--target", url, "--secret", "s"],
            )
        assert ExitCode.OK == result.exit_code, result.output
        assert {1111111: 10, 2222222: 6} == cap.peak_by_app
        per_app = Counter()
        for r in cap.requests:
            for e in r.events:
                per_app[e["appId"]] += 1
        assert {1111111: 4000, 2222222: 2000} == dict(per_app)

    def test_app_secrets_are_separate(self, tmp_path):
        """Each app signs with its own secret; the built-in receiver knows both."""

        text = '[[apps]]\nsecret = "one"\n[[apps]]\nsecret = "two"\n' + MINIMAL
        result = CliRunner().invoke(cli, ["run", str(_write(tmp_path, text)), "-q"])
        assert ExitCode.OK == result.exit_code, result.output

    def test_duplicate_app_ids(self, tmp_path):
        """Two apps with one app_id are a precise error."""

        text = "[[apps]]\napp_id = 5\n[[apps]]\napp_id = 5\n" + MINIMAL
        with pytest.raises(ScenarioError, match="same app_id"):
            load_scenario(_write(tmp_path, text))


class TestOutage:
    def test_receiver_down_needs_builtin_receiver(self, tmp_path):
        """receiver_down with an external target is a one-line input error."""

        path = _write(
            tmp_path,
            MINIMAL.replace("events = 10", "events = 10\nreceiver_down = true"),
        )
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--target", "http://127.0.0.1:1/x", "-s", "k"]
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert "built-in receiver" in result.output


class TestOverrides:
    def test_set_overrides_nested_keys(self, tmp_path):
        """--set phases[0].events=5 and seed=3 replace the file's values."""

        s = load_scenario(_write(tmp_path, MINIMAL), ["phases[0].events=5", "seed=3"])
        assert (5, 3) == (s.phases[0].events, s.settings.seed)

    def test_env_secret(self, tmp_path):
        """${VAR} in a secret is read from the environment."""

        s = load_scenario(
            _write(tmp_path, "[app]\nsecret = '${HUBSIM_T}'\n" + MINIMAL),
            env={"HUBSIM_T": "k"},
        )
        assert "k" == s.app.secret


class TestPacing:
    def test_constant_rate_plan(self):
        """200 events at 100/s: batches of 10 every 0.1 s over 2 s."""

        batches = list(plan([Phase("p", events=200, rate=100)]))
        assert 20 == len(batches)
        assert {10} == {b.events for b in batches}
        assert [round(b.at, 3) for b in batches[:3]] == [0.0, 0.1, 0.2]

    def test_burst_plan(self):
        """A burst sends its events at once, every interval."""

        batches = list(
            plan([Phase("b", duration_s=2, burst_events=250, burst_every_s=1)])
        )
        assert Counter({0.0: 250, 1.0: 250}) == Counter(
            {
                at: sum(b.events for b in group)
                for at, group in itertools.groupby(batches, key=lambda b: b.at)
            }
        )

    def test_ramp_events(self):
        """A 4 s ramp from 100 to 1,000 events/s holds 2,200 events."""

        assert 2200 == phase_events(Phase("r", duration_s=4, rate=100, rate_to=1000))

    def test_ramp_followed_on_the_wire(self, tmp_path):
        """Run against the built-in receiver, each second sends more than the last."""

        path = _write(
            tmp_path,
            "seed = 1\n[[phases]]\nduration_s = 4\nrate = 100\nrate_to = 1000\n",
        )
        ledger = tmp_path / "l.jsonl"
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--ledger", str(ledger)]
        )
        assert ExitCode.OK == result.exit_code, result.output
        attempts = [json.loads(x) for x in ledger.read_text().splitlines()]
        attempts = [a for a in attempts if a["type"] == "attempt"]
        start = min(a["startedAt"] for a in attempts)
        per_second = Counter()
        for a in attempts:
            per_second[(a["startedAt"] - start) // 1000] += a["events"]
        rates = [per_second[s] for s in range(4)]
        assert rates == sorted(rates), rates
        assert rates[3] > 2.5 * rates[0], rates


class TestThreshold:
    @pytest.mark.parametrize(
        ("op", "measured", "ok"),
        [
            ("<", 4.9, True),
            ("<", 5, False),
            ("<=", 5, True),
            (">", 5.1, True),
            (">=", 4.9, False),
            ("==", 5, True),
        ],
    )
    def test_comparisons(self, op, measured, ok):
        """Each comparison operator behaves as written."""

        assert ok == Threshold("p99_ms", op, 5.0).holds(measured)


class TestProperties:
    def test_property_choice(self, tmp_path):
        """[properties] limits which properties change, custom names included."""

        from simulator.events import EventSource
        from simulator.signing import ClientSecret

        text = (
            'types = ["deal.propertyChange"]\n'
            '[properties]\ndeal = ["dealstage", "my_custom_field"]\n' + MINIMAL
        )
        scenario = load_scenario(_write(tmp_path, text))
        options = scenario.options_for(0, "http://127.0.0.1:1/x", ClientSecret("k"))
        names = {
            e.to_dict()["propertyName"] for e in EventSource(options.source).take(500)
        }
        assert {"dealstage", "my_custom_field"} == names

    def test_per_app_format(self, tmp_path):
        """An app may use the generic format while another stays classic."""

        text = '[[apps]]\nformat = "generic"\n[[apps]]\nformat = "classic"\n' + MINIMAL
        result = CliRunner().invoke(cli, ["run", str(_write(tmp_path, text)), "-q"])
        assert ExitCode.OK == result.exit_code, result.output


class TestPhaseOrder:
    def test_unpaced_phase_waits_for_paced_one(self, tmp_path):
        """An unpaced phase after a 1 s paced phase starts only after that second."""

        path = _write(
            tmp_path,
            "seed = 2\n[[phases]]\nduration_s = 1\nrate = 100\n"
            "[[phases]]\nevents = 500\n",
        )
        ledger = tmp_path / "l.jsonl"
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--ledger", str(ledger)]
        )
        assert ExitCode.OK == result.exit_code, result.output
        attempts = [json.loads(x) for x in ledger.read_text().splitlines()]
        attempts = [a for a in attempts if a["type"] == "attempt"]
        start = min(a["startedAt"] for a in attempts)
        big = [a for a in attempts if a["events"] == 100]
        assert big
        assert min(a["startedAt"] for a in big) - start >= 900


class TestCiOutputs:
    def test_junit_and_markdown(self, tmp_path):
        """
        --junit writes one testcase per threshold plus one each for the run,
        the ledger and delivery (valid JUnit XML); --markdown a summary table.
        """

        import xmlschema

        path = next(p for p in SHIPPED if p.stem == "quickstart")
        junit, md = tmp_path / "t.xml", tmp_path / "s.md"
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--junit", str(junit), "--markdown", str(md)]
        )
        assert ExitCode.OK == result.exit_code, result.output
        schema = xmlschema.XMLSchema(
            str(Path(__file__).parents[1] / "data" / "junit.xsd")
        )
        schema.validate(str(junit))
        assert 6 == len(junit.read_text().split("<testcase")) - 1
        assert 'failures="0"' in junit.read_text()
        text = md.read_text()
        assert text.startswith("### hubsim: quickstart ✅ passed")
        assert "`delivered_ratio == 1`" in text

    def test_failed_threshold_in_junit(self, tmp_path):
        """A failing threshold is a JUnit failure with the measured value."""

        path = _write(tmp_path, 'thresholds = ["p99_ms < 0.000001"]\n' + MINIMAL)
        junit = tmp_path / "t.xml"
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--junit", str(junit)]
        )
        assert ExitCode.NOT_DELIVERED == result.exit_code
        assert "<failure" in junit.read_text()
        assert "measured" in junit.read_text()


class TestOpenModel:
    def test_slow_receiver_makes_sends_late_and_shows_it(self, tmp_path):
        """
        20 batches/s for 1 s to a receiver taking 200 ms with one slot: the
        schedule is kept in the queue, sends start late, and latency from the
        scheduled moment is far above the receiver's own.
        """

        path = _write(
            tmp_path,
            "seed = 4\n[app]\nmax_concurrent_requests = 1\n"
            "[receiver]\nlatency_ms = 200\n"
            "[[phases]]\nduration_s = 1\nrate = 100\n",
        )
        report = tmp_path / "r.json"
        result = CliRunner().invoke(
            cli, ["run", str(path), "-q", "--report", str(report)]
        )
        assert ExitCode.OK == result.exit_code, result.output
        stats = json.loads(report.read_text())["stats"]
        assert 10 == stats["scheduled_sends"]
        assert stats["late_sends"] >= 8
        assert max(s["backlog"] for s in stats["series"]) >= 50
        from simulator.stats import LatencyHistogram

        intended = LatencyHistogram.from_json(stats["intended_latency"])
        actual = LatencyHistogram.from_json(stats["latency"])
        # By construction: ten 200 ms sends through one slot end ≥ 2 s after
        # the first was due, the last due at 0.9 s, so ≥ 1.1 s from schedule.
        assert intended.percentile(99) > 1.0
        assert actual.percentile(99) < 1.0  # the receiver's 200 ms, 5x margin


class TestOutputsAgreeWithExitCode:
    """Whatever decides the exit code appears in every CI output (solid core §4)."""

    @staticmethod
    def _send(url, tmp_path, *extra):
        junit, md = tmp_path / "g.xml", tmp_path / "g.md"
        result = CliRunner().invoke(
            cli,
            ["send", url, "-s", SECRET, "-q", "-n", "3000", "--seed", "1",
             "--retry-profile", "none", "--junit", str(junit), "--markdown", str(md),
             *extra],
        )  # fmt: skip
        return result, junit, md

    def test_given_up_events_fail_everywhere(self, tmp_path):
        """Events given up: exit 1, a failing JUnit testcase, Markdown not 'passed'."""

        import xmlschema

        config = ReceiverConfig(
            secret=ClientSecret(SECRET), faults=Faults(fail_rate=0.5, seed=2)
        )
        with ThreadedReceiver(config) as receiver:
            result, junit, md = self._send(receiver.url, tmp_path)
        assert ExitCode.NOT_DELIVERED == result.exit_code, result.output
        xmlschema.XMLSchema(
            str(Path(__file__).parents[1] / "data" / "junit.xsd")
        ).validate(str(junit))
        xml = junit.read_text()
        assert 'failures="1"' in xml
        assert "events not delivered" in xml
        assert 'name="exit_code" value="1"' in xml
        text = md.read_text()
        assert "passed" not in text
        assert text.startswith("### hubsim: send ❌ failed")
        assert f"wrote {junit} (JUnit XML)" in result.output
        assert f"wrote {md} (Markdown summary, appended)" in result.output

    def test_clean_run_passes_everywhere(self, tmp_path):
        """Every event delivered: exit 0, every JUnit testcase passes, real time."""

        import xml.etree.ElementTree as ET

        with ThreadedReceiver(ReceiverConfig(secret=ClientSecret(SECRET))) as r:
            result, junit, md = self._send(r.url, tmp_path)
        assert ExitCode.OK == result.exit_code, result.output
        root = ET.fromstring(junit.read_text())
        assert "0" == root.get("failures")
        assert float(root.get("time", "0")) > 0
        assert not root.findall(".//failure")
        assert md.read_text().startswith("### hubsim: send ✅ passed")

    def test_thresholds_decide_and_delivery_is_skipped(self, tmp_path):
        """With thresholds, undelivered events are a skipped case, not a failure."""

        config = ReceiverConfig(
            secret=ClientSecret(SECRET), faults=Faults(fail_rate=0.5, seed=2)
        )
        with ThreadedReceiver(config) as receiver:
            result, junit, md = self._send(
                receiver.url, tmp_path, "--threshold", "delivered_ratio > 0.1"
            )
        assert ExitCode.OK == result.exit_code, result.output
        xml = junit.read_text()
        assert 'failures="0"' in xml
        assert "<skipped" in xml
        assert "thresholds decide this run" in xml
        assert md.read_text().startswith("### hubsim: send ✅ passed")
