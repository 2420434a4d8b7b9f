"""``hubsim run`` and ``hubsim validate``: scenario files."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from .. import dashboard, report, shipped, tables
from ..errors import SimulatorError, UsageError
from ..outputs import Outputs
from ..result import ExitCode
from ..scenario import ScenarioError, load_scenario
from ..scenario_run import check_scenario, run_action_scenario, run_scenario
from ..target import Target
from ..thresholds import evaluate
from . import (
    allow_remote_option,
    api_key_option,
    cli,
    console,
    err_console,
    finish,
    given_secrets,
    output_options,
    quiet_option,
    secret_option,
    threshold_option,
    threshold_rules,
)
from .action import Announce


@cli.command("run")
@click.argument("scenario_path", metavar="SCENARIO")
@click.option(
    "--target", metavar="URL", help="Send here instead of the scenario's target."
)
@secret_option
@api_key_option
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a scenario key, e.g. --set phases[0].rate=500 (repeatable).",
)
@threshold_option
@output_options()
@allow_remote_option
@quiet_option
def run_command(
    scenario_path: str,
    target: str | None,
    secret: str | None,
    api_key: str | None,
    overrides: tuple[str, ...],
    thresholds: tuple[str, ...],
    files: Outputs,
    allow_remote: bool,
    quiet: bool,
) -> None:
    """
    Run a scenario file; its thresholds (and any --threshold) decide the exit
    code. Without a target (here or in the file) the scenario runs against the
    built-in receiver, set up by its [receiver] table.

    \b
    Examples:
      hubsim run scenarios/deal-pipeline.toml
      hubsim run scenarios/deal-pipeline.toml --target http://127.0.0.1:3000/hook
      hubsim run my.toml --set phases[1].rate=800 --set seed=3 --junit run.xml
      hubsim run my.toml --threshold 'p99_ms < 500' --report run.json
    """
    where, text = shipped.resolve(scenario_path)
    scenario = load_scenario(where, overrides, text=text, secrets=given_secrets())
    rules = (*scenario.thresholds, *threshold_rules(thresholds))
    if target or scenario.target:
        Target.parse(target or scenario.target or "").check_allowed(allow_remote)
    check_scenario(scenario)
    out = console()
    if target or scenario.target:
        out.print(Text(f"{scenario.name} → {target or scenario.target}", style="bold"))
    if scenario.action is not None:
        acted = run_action_scenario(
            scenario, target, secret, files.files, allow_remote,
            Announce(dashboard.Dashboard(out, quiet)),
        )  # fmt: skip
        result = acted.completed.merged
        out.print(report.render(result))
        out.print(tables.executions(acted.run.report()))
        checks = evaluate(rules, result)
        finish(
            result, out, files, checks, scenario.name,
            {"actions": acted.run.report()}, summary=False,
        )  # fmt: skip
        return
    done = run_scenario(
        scenario, target, secret, files.files, allow_remote,
        dashboard.Dashboard(out, quiet), api_key,
    )  # fmt: skip
    result = done.completed.merged
    out.print(report.render(result))
    if len(done.runs) > 1:
        runs = zip(scenario.apps, done.runs, done.completed.each, strict=True)
        rows = [(a.name, r.options.delivery.max_in_flight, e) for a, r, e in runs]
        out.print(tables.apps(rows))
    checks = evaluate(rules, result)
    finish(result, out, files, checks, scenario.name, summary=False)


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="SCENARIO...")
def validate(paths: tuple[str, ...]) -> None:
    """
    Check scenario files: every problem, with file, line and key, sorted by
    line. A file that validates is one `hubsim run` starts.

    \b
    Examples:
      hubsim validate scenarios/*.toml
      hubsim validate my.toml
    """
    out, err = console(), err_console()
    failed = False
    for path in paths:
        try:
            where, text = shipped.resolve(path)
            scenario = load_scenario(where, text=text, secrets=given_secrets())
            check_scenario(scenario)
        except ScenarioError as exc:
            failed = True
            for problem in sorted(exc.problems, key=_line_of):
                err.print(Text("error: ", style="bold red") + Text(problem))
            continue
        except SimulatorError as exc:
            failed = True
            err.print(Text("error: ", style="bold red") + Text(f"{path}: {exc}"))
            continue
        shape = (
            f"{scenario.total_events:,} executions"
            if scenario.action is not None
            else f"{_count(len(scenario.phases), 'phase')}, "
            f"{scenario.total_events:,} events"
        )
        out.print(
            f"ok  {path}: {scenario.name}, {shape}, "
            f"{_count(len(scenario.thresholds), 'threshold')}"
        )
    if failed:
        sys.exit(ExitCode.BAD_INPUT)


def _line_of(problem: str) -> tuple[str, int]:
    """``file:12: key: …`` sorts by file, then line; no line sorts first."""
    head = problem.partition(": ")[0]
    file, _, line = head.rpartition(":")
    return (file, int(line)) if line.isdigit() else (head, 0)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@cli.group("scenarios", invoke_without_command=True)
@click.pass_context
def scenarios_command(ctx: click.Context) -> None:
    """
    List the scenarios that ship with hubsim, each with its one-line
    description; `hubsim run NAME` runs one from any directory.

    \b
    Examples:
      hubsim scenarios
      hubsim scenarios show deal-pipeline > my.toml
      hubsim run deal-pipeline --target http://127.0.0.1:3000/hook
    """
    if ctx.invoked_subcommand is not None:
        return
    out = console()
    found = shipped.shipped()
    if not found:
        raise UsageError("no shipped scenarios are installed with this hubsim")
    width = max(len(s.name) for s in found)
    for s in found:
        out.print(Text(f"{s.name:<{width}}  ", style="bold") + Text(s.description))


@scenarios_command.command("show")
@click.argument("name")
def scenarios_show(name: str) -> None:
    """
    Print a shipped scenario's TOML, to copy and edit.

    \b
    Examples:
      hubsim scenarios show quickstart > my-scenario.toml
      hubsim scenarios show custom-action
    """
    found = shipped.find(name)
    if found is None:
        names = ", ".join(s.name for s in shipped.shipped())
        raise UsageError(f"{name}: not a shipped scenario (shipped: {names})")
    click.echo(found.text, nl=False)
