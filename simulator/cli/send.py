"""``hubsim send``: generated, signed batches to one receiver."""

from __future__ import annotations

import click

from .. import dashboard, run
from ..outputs import Outputs
from ..settings import WORKFLOW_ONLY, SendSettings
from ..thresholds import evaluate
from . import (
    allow_remote_option,
    cli,
    client_secret,
    console,
    finish,
    output_options,
    quiet_option,
    secret_option,
    settings_options,
    threshold_option,
    threshold_rules,
    warn,
)


@cli.command()
@click.argument("target_url")
@secret_option
@settings_options(SendSettings, "settings", without=WORKFLOW_ONLY)
@threshold_option
@output_options()
@allow_remote_option
@quiet_option
def send(
    target_url: str,
    secret: str | None,
    settings: SendSettings,
    thresholds: tuple[str, ...],
    files: Outputs,
    allow_remote: bool,
    quiet: bool,
) -> None:
    """
    Deliver HubSpot-exact webhook batches to TARGET_URL.

    \b
    Examples:
      hubsim send http://127.0.0.1:8080/webhooks --secret $SECRET --events 5000
      hubsim send URL -s $SECRET --types deal.propertyChange --portals 3 --seed 7
      hubsim send URL -s $SECRET -n 100000 --time-scale 2000 --report run.json
      hubsim send URL -s $SECRET --threshold 'p99_ms < 250' --junit send.xml
      hubsim send URL -s $SECRET -n 20000 --chaos duplicates=0.1,reorder=0.3 \\
          --state-out expected.jsonl
    """
    rules = threshold_rules(thresholds)
    options = settings.to_options(
        target_url, client_secret(secret), allow_remote=allow_remote, files=files.files
    )
    for warning in settings.warnings():
        warn(warning)
    out = console()
    unit = "records" if options.workflow else "events"
    done = run.execute(
        [run.SendRun(options)],
        dashboard.Dashboard(out, quiet, unit=unit),
        options.events,
    )
    result = done.merged
    finish(result, out, files, evaluate(rules, result), "send")
