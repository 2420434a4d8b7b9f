"""The hubsim command line: exit codes, one-line errors, no secrets in output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import ExitCode, cli

from ..conftest import SECRET
from ..vectors import B_ASCII, NEW_SECRET, NEW_TS


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _send(url: str, *extra: str) -> list[str]:
    """Arguments for a quiet, signed `hubsim send` to ``url``."""
    return ["send", url, "--secret", SECRET, "-q", *extra]


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


class TestSend:
    def test_send_delivers_and_reports(self, runner, threaded_receiver, tmp_path):
        """send delivers every event, exits 0, and writes a JSON report."""

        report = tmp_path / "run.json"
        result = runner.invoke(
            cli,
            _send(
                threaded_receiver.url,
                "--events",
                "1000",
                "--seed",
                "7",
                "--report",
                str(report),
                "--quiet",
            ),
        )
        assert ExitCode.OK == result.exit_code, result.output
        data = json.loads(report.read_text())
        assert 2 == data["schema_version"]
        assert data["stats"]["series"]
        assert 1000 == data["events"]["delivered"]
        assert data["events"]["invariant_holds"]
        assert SECRET not in result.output
        assert SECRET not in report.read_text()

    def test_secret_from_environment(self, runner, threaded_receiver):
        """HUBSPOT_CLIENT_SECRET works in place of --secret."""

        result = runner.invoke(
            cli,
            ["send", threaded_receiver.url, "-n", "200", "-q"],
            env={"HUBSPOT_CLIENT_SECRET": SECRET},
        )
        assert ExitCode.OK == result.exit_code, result.output

    def test_wrong_secret_means_not_delivered(self, runner, threaded_receiver):
        """The receiver rejects a wrong secret; send exits 1 and says so."""

        result = runner.invoke(
            cli,
            [
                "send",
                threaded_receiver.url,
                "--secret",
                "wrong",
                "-n",
                "100",
                "-q",
                "--retry-profile",
                "none",
            ],
        )
        assert ExitCode.NOT_DELIVERED == result.exit_code
        assert "not delivered" in result.output
        assert "401" in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["send", "not a url", "--secret", "x"], "bad target URL"),
            (["send", "ftp://127.0.0.1/x", "--secret", "x"], "bad target URL"),
            (["send", "http://127.0.0.1:1/x"], "no client secret"),
            (["send", "http://example.com/x", "--secret", "x"], "--allow-remote"),
            (
                [
                    "send",
                    "http://127.0.0.1:1/x",
                    "--secret",
                    "x",
                    "--types",
                    "contact.nope",
                ],
                "unknown subscription type",
            ),
            (
                [
                    "send",
                    "http://127.0.0.1:1/x",
                    "--secret",
                    "x",
                    "--batch-size",
                    "101",
                ],
                "--batch-size",
            ),
            (
                ["send", "http://127.0.0.1:1/x", "--secret", "x", "--events", "0"],
                "--events",
            ),
            (
                [
                    "send",
                    "http://127.0.0.1:1/x",
                    "--secret",
                    "x",
                    "--object-types",
                    "0-1",
                ],
                "--format generic",
            ),
            (["send", "http://127.0.0.1:1/x", "--secret", "x"], "cannot reach"),
        ],
    )
    def test_bad_input_is_one_line(self, runner, args, message):
        """Bad input: exit 2, one line naming the problem, no traceback."""

        result = runner.invoke(cli, args)
        assert ExitCode.BAD_INPUT == result.exit_code, result.output
        lines = _lines(result.output)
        assert 1 == len(lines), result.output
        assert message in lines[0]
        assert "Traceback" not in result.output

    def test_low_concurrency_warns(self, runner, threaded_receiver):
        """--max-concurrent below HubSpot's minimum warns but runs."""

        result = runner.invoke(
            cli, _send(threaded_receiver.url, "-n", "100", "--max-concurrent", "2")
        )
        assert ExitCode.OK == result.exit_code
        assert "warning" in result.output


class TestSign:
    def test_prints_vector_a(self, runner, tmp_path):
        """sign reproduces spec vector A for v1, v2 and v3."""

        body = tmp_path / "body.json"
        body.write_bytes(B_ASCII)
        result = runner.invoke(
            cli,
            [
                "sign",
                "--secret",
                NEW_SECRET,
                "--url",
                "https://hooks.example.com/hubspot/webhook",
                "--body",
                str(body),
                "--timestamp",
                str(NEW_TS),
            ],
        )
        assert 0 == result.exit_code
        assert (
            "288d873728d41c11295a028088cd90692c8c9c1ff1377e6e9e942a7c869f6f48"
            in result.output
        )
        assert (
            "85d41dc2670e1dd2df4f742485174489609d4196c331ab1230d6962c187a67aa"
            in result.output
        )
        assert "3l65iYYt7nBsCZsIhp7mJQfAyR2QYPm7Of1ZShZBfMA=" in result.output
        assert NEW_SECRET not in result.output

    def test_missing_body_file(self, runner):
        """A missing body file is one line, exit 2."""

        result = runner.invoke(
            cli, ["sign", "-s", "x", "--url", "http://h/", "--body", "/nope"]
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert 1 == len(_lines(result.output))


class TestMisc:
    def test_types_lists_families(self, runner):
        """types lists every family and the generic objectTypeIds."""

        out = runner.invoke(cli, ["types"]).output
        assert "conversation.newMessage" in out
        assert "0-421" in runner.invoke(cli, ["types", "--generic"]).output

    def test_help_lists_commands(self, runner):
        """--help shows the commands."""

        out = runner.invoke(cli, ["--help"]).output
        for command in ("send", "receive", "sign", "types", "demo"):
            assert command in out

    def test_module_entry_point(self):
        """python -m simulator runs the CLI."""

        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "simulator", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert 0 == done.returncode
        assert "hubsim" in done.stdout


class TestLedgerFile:
    def test_ledger_has_one_outcome_per_event(
        self, runner, threaded_receiver, tmp_path
    ):
        """--ledger: attempt lines, and exactly one outcome line per generated event."""

        path = tmp_path / "ledger.jsonl"
        result = runner.invoke(
            cli,
            _send(
                threaded_receiver.url,
                "-n",
                "1234",
                "--portals",
                "3",
                "--ledger",
                str(path),
            ),
        )
        assert ExitCode.OK == result.exit_code, result.output
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        outcomes = [x for x in lines if x["type"] == "outcome"]
        attempts = [x for x in lines if x["type"] == "attempt"]
        assert 1234 == len(outcomes) == len({x["eventId"] for x in outcomes})
        assert {"delivered"} == {x["outcome"] for x in outcomes}
        assert 1234 == sum(x["events"] for x in attempts)
        assert SECRET not in path.read_text()

    def test_unwritable_ledger_is_one_line(self, runner):
        """A ledger path that cannot be written is a one-line input error."""

        result = runner.invoke(
            cli,
            [
                "send",
                "http://127.0.0.1:1/x",
                "--secret",
                "x",
                "--ledger",
                "/nonexistent/l.jsonl",
            ],
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert 1 == len(_lines(result.output))


class TestInterrupt:
    def test_sigterm_flushes_report_and_ledger(self, secret, tmp_path):
        """SIGTERM mid-run: exit 130, report and ledger written, waiting retries
        recorded as pending, nothing lost."""

        import os
        import signal
        import subprocess
        import sys
        import time

        from simulator.receiver import Faults, ReceiverConfig

        from ..conftest import ThreadedReceiver

        report, ledger = tmp_path / "r.json", tmp_path / "l.jsonl"
        # Every first attempt fails, so batches wait for HubSpot's first retry
        # (over a minute away) when the signal comes.
        config = ReceiverConfig(
            secret=secret, faults=Faults(latency_ms=20, script=(500, 200))
        )
        with ThreadedReceiver(config) as receiver:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "send",
                    receiver.url,
                    "-n",
                    "200000",
                    "-q",
                    "--report",
                    str(report),
                    "--ledger",
                    str(ledger),
                ],
                env={**os.environ, "HUBSPOT_CLIENT_SECRET": SECRET},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                not ledger.exists() or ledger.stat().st_size == 0
            ):
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert ExitCode.INTERRUPTED == proc.returncode, err
        data = json.loads(report.read_text())
        events = data["events"]
        assert data["interrupted"]
        assert events["invariant_holds"]
        assert events["pending"] > 0
        assert events["generated"] < 200_000
        outcomes = [json.loads(x) for x in ledger.read_text().splitlines()]
        outcomes = [x for x in outcomes if x["type"] == "outcome"]
        assert events["generated"] == len(outcomes)
        assert "Traceback" not in err


class TestProfiles:
    def test_workflow_profile_end_to_end(self, runner, threaded_receiver):
        """--retry-profile workflow sends v2-signed records the receiver accepts."""

        result = runner.invoke(
            cli,
            _send(
                threaded_receiver.url,
                "-n",
                "25",
                "--retry-profile",
                "workflow",
                "--types",
                "contact, deal",
            ),
        )
        assert ExitCode.OK == result.exit_code, result.output
        from simulator.receiver import STATS_KEY

        stats = threaded_receiver.app[STATS_KEY]
        assert 25 == stats.accepted_requests
        assert {"workflow.CONTACT", "workflow.DEAL"} >= set(stats.by_type)

    def test_workflow_needs_crm_records(self, runner):
        """The workflow profile with only conversation types is a one-line error."""

        result = runner.invoke(
            cli,
            [
                "send",
                "http://127.0.0.1:1/x",
                "--secret",
                "x",
                "--retry-profile",
                "workflow",
                "--types",
                "conversation",
            ],
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert "workflow profile" in result.output


class TestContractCommand:
    def test_passes_against_builtin_receiver(self, runner, threaded_receiver, tmp_path):
        """contract: exit 0, a JUnit file and a JSON file against hubsim's receiver."""

        junit, report = tmp_path / "c.xml", tmp_path / "c.json"
        result = runner.invoke(cli, [
            "contract", threaded_receiver.url, "--secret", SECRET,
            "--junit", str(junit), "--json", str(report),
        ])  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert "13 checks passed, 2 informational" in result.output
        assert json.loads(report.read_text())["passed"]
        assert junit.read_text().startswith("<?xml")
        assert SECRET not in junit.read_text() + report.read_text()

    def test_wrong_secret_fails(self, runner, threaded_receiver):
        """With the wrong secret every accepts-* check fails: exit 1."""

        result = runner.invoke(cli, [
            "contract", threaded_receiver.url, "--secret", "nope",
            "--only", "accepts-valid,rejects-unsigned",
        ])  # fmt: skip
        assert ExitCode.NOT_DELIVERED == result.exit_code
        assert "accepts-valid" in result.output

    def test_unknown_check_is_one_line(self, runner, threaded_receiver):
        """An unknown check id is a one-line input error listing the ids."""

        result = runner.invoke(
            cli,
            [
                "contract",
                threaded_receiver.url,
                "-s",
                "x",
                "--only",
                "accepts-everything",
            ],
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert 1 == len(_lines(result.output))
        assert "accepts-valid" in result.output

    def test_list(self, runner):
        """--list names every check with its statement."""

        out = runner.invoke(cli, ["contract", "http://127.0.0.1:1/", "--list"]).output
        assert "rejects-replay" in out
        assert "signature-versions" in out


class TestReportCommands:
    def _run(self, runner, url, path, *extra):
        result = runner.invoke(
            cli, _send(url, "-n", "500", "--report", str(path), *extra)
        )
        assert ExitCode.OK == result.exit_code, result.output

    def test_report_merges_runs(self, runner, threaded_receiver, tmp_path):
        """hubsim report a.json b.json renders both runs merged; --json saves it."""

        a, b, merged = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.json"
        self._run(runner, threaded_receiver.url, a)
        self._run(runner, threaded_receiver.url, b, "--seed", "9")
        result = runner.invoke(cli, ["report", str(a), str(b), "--json", str(merged)])
        assert 0 == result.exit_code, result.output
        assert "2 runs merged" in result.output
        assert 1000 == json.loads(merged.read_text())["stats"]["events_sent"]

    def test_compare_same_run_passes(self, runner, threaded_receiver, tmp_path):
        """Comparing a run with itself reports no regression (exit 0)."""

        a = tmp_path / "a.json"
        self._run(runner, threaded_receiver.url, a)
        result = runner.invoke(cli, ["compare", str(a), str(a)])
        assert 0 == result.exit_code, result.output
        assert "no regression" in result.output

    def test_compare_regression_exits_1(self, runner, tmp_path):
        """A slower new run exits 1 and names the regressed metrics."""

        from simulator.stats import Stats

        from ..unit.test_stats import _attempts

        base, slow = Stats(), Stats()
        for at in _attempts(300):
            base.add(at)
        for at in _attempts(300, latency_scale=3.0):
            slow.add(at)
        b, n = tmp_path / "b.json", tmp_path / "n.json"
        b.write_text(json.dumps({"schema_version": 2, "stats": base.to_json()}))
        n.write_text(json.dumps({"schema_version": 2, "stats": slow.to_json()}))
        result = runner.invoke(cli, ["compare", str(b), str(n)])
        assert ExitCode.NOT_DELIVERED == result.exit_code
        assert "p99_ms" in result.output

    def test_report_without_histograms_is_one_line(self, runner, tmp_path):
        """A file without histogram data is a one-line input error."""

        old = tmp_path / "old.json"
        old.write_text('{"schema_version": 1}')
        result = runner.invoke(cli, ["report", str(old)])
        assert ExitCode.BAD_INPUT == result.exit_code
        assert 1 == len(_lines(result.output))

    def test_report_html(self, runner, threaded_receiver, tmp_path):
        """hubsim report RUN.json --html re-renders a saved run as a page."""

        a, page = tmp_path / "a.json", tmp_path / "a.html"
        self._run(runner, threaded_receiver.url, a)
        result = runner.invoke(cli, ["report", str(a), "--html", str(page)])
        assert 0 == result.exit_code, result.output
        assert "Latency by percentile" in page.read_text()


class TestSendOutputs:
    def test_every_output_and_thresholds(self, runner, threaded_receiver, tmp_path):
        """send --threshold with --html --junit --markdown writes each file."""

        html, xml, md = tmp_path / "r.html", tmp_path / "r.xml", tmp_path / "r.md"
        result = runner.invoke(
            cli,
            _send(
                threaded_receiver.url, "-n", "300",
                "--threshold", "p99_ms < 5000", "--threshold", "error_rate == 0",
                "--html", str(html), "--junit", str(xml), "--markdown", str(md),
            ),
        )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert "hubsim send" in html.read_text()
        assert 'tests="5"' in xml.read_text()  # run, ledger, delivery, 2 thresholds
        assert 'failures="0"' in xml.read_text()
        assert "p99_ms < 5000" in md.read_text()

    def test_failed_threshold_exits_1(self, runner, threaded_receiver, tmp_path):
        """A threshold that does not hold fails the run even if all is delivered."""

        xml = tmp_path / "r.xml"
        result = runner.invoke(
            cli,
            _send(threaded_receiver.url, "-n", "100", "--threshold",
                  "p50_ms < 0.000001", "--junit", str(xml)),
        )  # fmt: skip
        assert ExitCode.NOT_DELIVERED == result.exit_code, result.output
        assert 'failures="1"' in xml.read_text()

    def test_bad_threshold_is_one_line(self, runner, threaded_receiver):
        """A misspelt metric is a one-line input error with a suggestion."""

        result = runner.invoke(
            cli, _send(threaded_receiver.url, "--threshold", "p99ms < 5")
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert 1 == len(_lines(result.output))
        assert "did you mean 'p99_ms'" in result.output


class TestShippedScenarios:
    SHIPPED = sorted(
        p.stem for p in (Path(__file__).parents[2] / "scenarios").glob("*.toml")
    )

    def test_list_names_every_scenario_with_its_description(self, runner):
        """`hubsim scenarios` lists each shipped scenario and its one line."""

        result = runner.invoke(cli, ["scenarios"])
        assert ExitCode.OK == result.exit_code, result.output
        names = [line.split()[0] for line in result.output.splitlines()]
        assert self.SHIPPED == names
        assert all(len(line.split(None, 1)) == 2 for line in result.output.splitlines())

    def test_show_prints_the_file(self, runner):
        """`hubsim scenarios show NAME` prints the TOML exactly, to copy."""

        result = runner.invoke(cli, ["scenarios", "show", "deal-pipeline"])
        path = Path(__file__).parents[2] / "scenarios" / "deal-pipeline.toml"
        assert ExitCode.OK == result.exit_code
        assert path.read_text() == result.output

    def test_run_and_validate_by_name(self, runner, tmp_path, monkeypatch):
        """A shipped scenario runs and validates by name, from any directory."""

        monkeypatch.chdir(tmp_path)
        result = runner.invoke(cli, ["validate", "quickstart", "gdpr-privacy-deletion"])
        assert ExitCode.OK == result.exit_code, result.output
        result = runner.invoke(cli, ["run", "merges-and-restores", "-q"])
        assert ExitCode.OK == result.exit_code, result.output


def _commands(group, prefix=()):
    import click

    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_help_shows_an_example():
    """Each command's --help has an Examples block (the brief: show, don't tell)."""

    missing = [
        " ".join(path)
        for path in _commands(cli)
        if "Examples" not in CliRunner().invoke(cli, [*path, "--help"]).output
    ]
    assert [] == missing
