"""``hubsim workflow``: a workflow's "Send a webhook" action, to one endpoint."""

from __future__ import annotations

import click

from .. import catalog, dashboard, run
from ..outputs import Outputs
from ..settings import MAX_RATE, WORKFLOW_ONLY, Bounds, SendSettings
from ..signing import UNSIGNED, ClientSecret
from ..thresholds import evaluate
from . import (
    Number,
    allow_remote_option,
    api_key_option,
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

#: The send settings that mean something for a workflow webhook.
_SETTINGS = (
    "events", "types", "portals", "seed", "start_time", "max_concurrent",
    "timeout", "connect_timeout", "max_attempts", "retry_after_unit",
    "time_scale", "public_url", "escape_unicode", "preflight", *WORKFLOW_ONLY,
)  # fmt: skip
_HELPS = {
    "events": "Records enrolled: one request each.",
    "types": "Objects the workflow enrols: contact, company, deal, ticket "
    "(default: all four).",
    "max_concurrent": "Requests in flight at most (HubSpot documents no limit "
    "for workflows; 10, as for webhooks).",
    "timeout": "Response timeout in seconds (HubSpot: 30).",
    "connect_timeout": "Connect timeout in seconds (HubSpot: 3, then retried).",
    "time_scale": "Divide retry delays by this (HubSpot retries for 3 days: "
    "4320 runs them in a minute).",
}


@cli.command("workflow")
@click.argument("target_url")
@secret_option
@api_key_option
@settings_options(
    SendSettings, "settings", only=_SETTINGS, helps=_HELPS,
    defaults={"retry_profile": "workflow"},
)  # fmt: skip
@click.option(
    "--rate",
    type=Number(0.001, MAX_RATE),
    default=catalog.WORKFLOW_MAX_RATE,
    show_default=True,
    help="Requests started per second (HubSpot's cap for workflow webhooks is 20).",
)
@threshold_option
@output_options()
@allow_remote_option
@quiet_option
def workflow(
    target_url: str,
    secret: str | None,
    api_key: str | None,
    settings: SendSettings,
    rate: float,
    thresholds: tuple[str, ...],
    files: Outputs,
    allow_remote: bool,
    quiet: bool,
) -> None:
    """
    Run a workflow's "Send a webhook" action against TARGET_URL: one enrolled
    CRM record per request, as HubSpot's workflow engine sends it (its own
    User-Agent, 3 s connect and 30 s response timeouts, 5xx and 429 retried
    for 3 days, 4xx final), at up to 20 requests a second.

    \b
    Examples:
      hubsim workflow http://127.0.0.1:3000/hook --secret $SECRET -n 200
      hubsim workflow URL -s $SECRET --types deal --record-form v3
      hubsim workflow URL -s $SECRET --method GET \\
          --workflow-body '{"email": "{{ contact.email }}"}'
      hubsim workflow URL --auth api-key --api-key-in query --api-key $KEY
      hubsim workflow URL --auth none --workflow-body body.json --junit wf.xml
    """
    rules = threshold_rules(thresholds)
    key = client_secret(secret) if settings.signs else UNSIGNED
    options = settings.to_options(
        target_url,
        key,
        allow_remote=allow_remote,
        files=files.files,
        bounds=Bounds(rate=rate),
        api_key=ClientSecret(api_key) if api_key else None,
    )
    for warning in settings.warnings():
        warn(warning)
    out = console()
    view = dashboard.Dashboard(out, quiet, unit="records")
    done = run.execute([run.SendRun(options)], view, options.events)
    finish(done.merged, out, files, evaluate(rules, done.merged), "workflow")
