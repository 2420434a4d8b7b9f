"""``hubsim action`` and ``hubsim action-options``: custom workflow actions."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace

import click
from rich.text import Text

from .. import action_app, actions, dashboard, options_fetch, report, run, tables
from ..action_app import ActionApp
from ..answers import Behaviour
from ..errors import UsageError
from ..executions import ActionOptions, ActionRun
from ..outputs import Outputs
from ..result import ExitCode
from ..target import Target
from ..thresholds import evaluate
from . import (
    allow_remote_option,
    cli,
    client_secret,
    console,
    csv,
    finish,
    output_options,
    quiet_option,
    secret_option,
    settings_options,
    threshold_option,
    threshold_rules,
)


def _statuses(text: str | None) -> dict[str, int]:
    """--callback-statuses unknown=404,expired=409: the undocumented codes."""
    out: dict[str, int] = {}
    for part in csv([text or ""]):
        case, _, code = part.partition("=")
        if case not in ("unknown", "expired", "completed") or not code.isdigit():
            raise UsageError(
                f"--callback-statuses: {part!r} is not unknown=CODE, expired=CODE "
                "or completed=CODE"
            )
        if not 400 <= int(code) <= 499:
            raise UsageError(f"--callback-statuses: {code} is not a 4xx")
        out[case] = int(code)
    return out


def _print_definition(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        click.echo(json.dumps(actions.DEFAULT_JSON, indent=2))
        ctx.exit(0)


@cli.command("action")
@click.argument("action_url")
@click.option(
    "--print-definition",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_definition,
    help="Print the default definition as JSON (to copy and edit) and exit.",
)
@secret_option
@click.option(
    "--definition",
    "definition_path",
    metavar="FILE.json",
    help="The action definition, as registered with HubSpot (default: a "
    "'Send a message' action, shown in the README).",
)
@settings_options(ActionOptions, "opts")
@click.option(
    "--api-token",
    envvar="HUBSIM_API_TOKEN",
    metavar="TOKEN",
    help="The Bearer token callbacks must carry (default: any non-empty one).",
)
@click.option(
    "--callback-statuses",
    metavar="CASE=CODE,...",
    help="Statuses for callbacks HubSpot does not document: unknown, expired, "
    "completed (default: unknown=404,expired=409,completed=409).",
)
@threshold_option
@output_options(streams=False)
@click.option(
    "--ledger",
    "ledger_path",
    metavar="FILE.jsonl",
    help="One line per attempt and one outcome line per execution (callbackId).",
)
@allow_remote_option
@quiet_option
def action_command(
    action_url: str,
    secret: str | None,
    definition_path: str | None,
    opts: ActionOptions,
    api_token: str | None,
    callback_statuses: str | None,
    thresholds: tuple[str, ...],
    files: Outputs,
    ledger_path: str | None,
    allow_remote: bool,
    quiet: bool,
) -> None:
    """
    Run workflows that execute your app's custom action at ACTION_URL: signed
    execution requests (v2 and v3), HubSpot's answers and retries, and a local
    HubSpot callbacks API on 127.0.0.1 for executions your app blocks.

    Point your app's HubSpot API base at the URL it prints, e.g. through the
    environment variable your app reads it from.

    \b
    Examples:
      hubsim action http://127.0.0.1:3000/actions/send -s $SECRET -n 300
      hubsim action URL -s $SECRET --definition action.json --time-scale 3600
      hubsim action URL -s $SECRET --api-port 9090 --api-token t0k3n --ledger l.jsonl
      hubsim action URL --print-definition > action.json
    """
    definition = (
        actions.load_definition(definition_path) if definition_path else actions.DEFAULT
    )
    files = replace(files, ledger_path=ledger_path).check()
    rules = threshold_rules(thresholds)
    options = replace(
        opts,
        target_url=action_url,
        secret=client_secret(secret),
        definition=definition,
        allow_remote=allow_remote,
        ledger_path=ledger_path,
        api_token=api_token,
        statuses=_statuses(callback_statuses),
    )
    out = console()
    running = ActionRun(options)
    view = dashboard.Dashboard(out, quiet, unit="executions")
    out.print(
        Text(f"{definition.name}: {options.executions:,} executions → ", style="bold")
        + Text(running.target.url)
    )
    done = run.execute([running], Announce(view), options.executions)
    result = done.merged
    out.print(report.render(result))
    out.print(tables.executions(running.report()))
    finish(
        result, out, files, evaluate(rules, result), "action",
        {"actions": running.report()}, summary=False,
    )  # fmt: skip


class Announce:
    """The dashboard, plus a line with the callbacks API's URL once it listens."""

    def __init__(self, view: dashboard.Dashboard) -> None:
        self.view, self.told = view, False
        self.running: ActionRun | None = None

    def start(self, runs: Sequence[run.Live], total: int | None) -> None:
        first = runs[0]
        self.running = first if isinstance(first, ActionRun) else None
        self.view.start(runs, total)

    def tick(self) -> None:
        running = self.running
        if not self.told and running is not None and running.api_url is not None:
            self.told = True
            self.view.note(
                f"HubSpot callbacks API at {running.api_url} "
                "(POST /automation/v4/actions/callbacks/{callbackId}/complete)"
            )
        self.view.tick()

    def note(self, text: str) -> None:
        self.view.note(text)

    def stop(self) -> None:
        self.view.stop()


@cli.command("action-app")
@click.option(
    "--port",
    "-p",
    default=3000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@secret_option
@click.option(
    "--definition",
    "definition_path",
    metavar="FILE.json",
    help="The action definition its SUCCESS outputs follow (default: the built-in).",
)
@click.option(
    "--api-base",
    default="http://127.0.0.1:9090",
    show_default=True,
    metavar="URL",
    help="Where it calls back: the URL `hubsim action` prints (--api-port there).",
)
@click.option(
    "--api-token",
    default="hubsim",
    show_default=True,
    metavar="TOKEN",
    help="The Bearer token it calls back with.",
)
@settings_options(Behaviour, "behaviour")
def action_app_command(
    port: int,
    secret: str | None,
    definition_path: str | None,
    api_base: str,
    api_token: str,
    behaviour: Behaviour,
) -> None:
    """
    Serve the built-in custom action endpoint on 127.0.0.1: it verifies
    signatures and answers SUCCESS, FAIL_CONTINUE, or BLOCK and calls back
    (or lets the execution expire), in the shares you give. The other side
    of `hubsim action`, for trying it without an app. It also answers the
    workflow editor's options fetches with the definition's options, two a
    page (`hubsim action-options`).

    \b
    Examples:
      hubsim action-app -s $SECRET --block 0.5 --expire 0.1 &
      hubsim action http://127.0.0.1:3000/actions/execute -s $SECRET \\
          --api-port 9090 --api-token hubsim --time-scale 3600
      hubsim action-options http://127.0.0.1:3000/actions/options -s $SECRET
    """
    if not Target.parse(api_base, "--api-base").loopback:
        raise UsageError(
            "--api-base: hubsim's callbacks API listens on 127.0.0.1; give that URL"
        )
    definition = (
        actions.load_definition(definition_path) if definition_path else actions.DEFAULT
    )
    app = ActionApp(
        client_secret(secret), definition, behaviour, lambda: api_base, api_token
    )

    def listening(url: str) -> None:
        # The first line is the URL alone: scripts read it (`sed 's/^listening on //'`).
        options = url.removesuffix(action_app.PATH) + action_app.OPTIONS_PATH
        print(f"listening on {url}\noptions fetches: {options}", flush=True)

    answers = action_app.serve(app, port, listening)
    if app.options_fetches:
        answers["options fetches"] = app.options_fetches
    console().print(f"answered: {answers or 'nothing'}")


@cli.command("action-options")
@click.argument("options_url")
@secret_option
@click.option(
    "--definition",
    "definition_path",
    metavar="FILE.json",
    help="The action definition (its input fields and their optionsUrl).",
)
@click.option(
    "--field",
    "field_name",
    metavar="NAME",
    help="The input field whose options are fetched (default: the first enumeration).",
)
@click.option("--query", metavar="TEXT", help="What a user typed, when searchable.")
@click.option(
    "--max-pages",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Follow `after` for at most this many pages (1-1,000).",
)
@click.option(
    "--json", "json_path", metavar="FILE.json", help="Write what was fetched."
)
@allow_remote_option
def action_options_command(
    options_url: str,
    secret: str | None,
    definition_path: str | None,
    field_name: str | None,
    query: str | None,
    max_pages: int,
    json_path: str | None,
    allow_remote: bool,
) -> None:
    """
    Fetch an input field's options as the workflow editor does: signed
    options-fetch requests, `after` pagination, `q` when the answer says it is
    searchable; every page's shape checked.

    \b
    Examples:
      hubsim action-options http://127.0.0.1:3000/actions/options -s $SECRET
      hubsim action-options URL -s $SECRET --field priority --query hi
    """
    from .. import outputs

    outputs.check_paths({"--json": json_path})
    definition = (
        actions.load_definition(definition_path) if definition_path else actions.DEFAULT
    )
    fetched = options_fetch.fetch(
        options_url, client_secret(secret), definition, field_name, query,
        max_pages, allow_remote,
    )  # fmt: skip
    out = console()
    out.print(tables.options_pages(fetched))
    if json_path:
        outputs.write_text(json_path, json.dumps(fetched.to_json(), indent=2) + "\n")
        out.print(Text(f"wrote {json_path} (JSON)", style="dim"))
    if fetched.problems:
        for problem in fetched.problems:
            out.print(Text("✘ ", style="red") + Text(problem))
        sys.exit(ExitCode.NOT_DELIVERED)
    pages = len(fetched.pages)
    out.print(
        Text(
            f"✔ {len(fetched.options):,} options over {pages} pages", style="bold green"
        )
    )
