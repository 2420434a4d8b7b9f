"""``hubsim contract``: named checks of a receiver, for CI."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from .. import action_contract, actions, contract, contract_report, outputs, tables
from ..errors import UsageError
from ..result import ExitCode
from ..target import Target
from . import (
    Number,
    allow_remote_option,
    cli,
    client_secret,
    console,
    csv,
    secret_option,
)


@cli.command("contract")
@click.argument("url", required=False)
@secret_option
@click.option(
    "--kind",
    type=click.Choice(["webhooks", "action"]),
    default="webhooks",
    show_default=True,
    help="webhooks: a Webhooks API receiver; action: a custom action's actionUrl.",
)
@click.option(
    "--definition",
    "definition_path",
    metavar="FILE.json",
    help="--kind action: the action definition (default: the built-in one).",
)
@click.option(
    "--options-url", metavar="URL", help="--kind action: the options endpoint to check."
)
@click.option(
    "--api-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="--kind action: port of the local callbacks API (0 picks a free one).",
)
@click.option(
    "--api-token",
    envvar="HUBSIM_API_TOKEN",
    metavar="TOKEN",
    help="--kind action: the Bearer token callbacks must carry.",
)
@click.option("--only", multiple=True, metavar="IDS", help="Run only these checks.")
@click.option("--skip", multiple=True, metavar="IDS", help="Skip these checks.")
@click.option("--public-url", metavar="URL", help="Sign as if HubSpot called this URL.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["classic", "generic"]),
    default="classic",
    show_default=True,
    help="Payload format for accepts-every-type and the rest.",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=Number(0.01, 600),
    help="Seconds to wait for each answer (0.01-600).",
)
@click.option(
    "--reject-status",
    metavar="CODES",
    help="Demand these statuses for rejections, e.g. 401,403 (default: any 4xx).",
)
@click.option("--junit", "junit_path", metavar="FILE.xml", help="Write JUnit XML.")
@click.option(
    "--json", "json_path", metavar="FILE.json", help="Write the results as JSON."
)
@allow_remote_option
@click.option("--list", "list_checks", is_flag=True, help="List the checks and exit.")
def contract_command(
    url: str | None,
    secret: str | None,
    kind: str,
    definition_path: str | None,
    options_url: str | None,
    api_port: int,
    api_token: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    public_url: str | None,
    fmt: str,
    timeout: float,
    reject_status: str | None,
    junit_path: str | None,
    json_path: str | None,
    allow_remote: bool,
    list_checks: bool,
) -> None:
    """
    Check a running receiver against HubSpot's contract; exit 0 when every
    required check passes.

    \b
    Examples (in CI, after starting your receiver):
      hubsim contract http://127.0.0.1:3000/webhooks -s $SECRET --junit c.xml
      hubsim contract URL -s $SECRET --only rejects-replay,accepts-unicode
      hubsim contract --kind action http://127.0.0.1:3000/actions/send -s $SECRET \\
          --api-port 9090 --options-url http://127.0.0.1:3000/actions/options
      hubsim contract --list
    """
    out = console()
    if list_checks:
        listed = (
            action_contract.statements() if kind == "action" else contract.statements()
        )
        for check_id, statement in listed.items():
            out.print(Text(f"{check_id:<24} ", style="bold") + Text(statement))
        return
    if url is None:
        raise UsageError("give the receiver's URL (or --list to see the checks)")
    Target.parse(url).check_allowed(allow_remote)
    if options_url:
        Target.parse(options_url, "--options-url").check_allowed(allow_remote)
    codes = _codes(reject_status)
    outputs.check_paths({"--junit": junit_path, "--json": json_path})
    if kind == "action":
        definition = (
            actions.load_definition(definition_path)
            if definition_path
            else actions.DEFAULT
        )
        action_options = action_contract.ActionContractOptions(
            url=url,
            secret=client_secret(secret),
            definition=definition,
            options_url=options_url,
            timeout_s=timeout,
            api_port=api_port,
            api_token=api_token,
            only=csv(only),
            skip=csv(skip),
        )
        if not action_options.chosen():
            raise UsageError("--only/--skip leave no check to run")
        results = action_contract.check(action_options)
    else:
        options = contract.ContractOptions(
            url=url,
            secret=client_secret(secret),
            public_url=public_url,
            format="generic" if fmt == "generic" else "classic",
            timeout_s=timeout,
            reject_statuses=codes,
            only=csv(only),
            skip=csv(skip),
        )
        if not options.chosen():
            raise UsageError("--only/--skip leave no check to run")
        results = contract.check(options)
    out.print(tables.contract_results(results))
    for r in results:
        found = getattr(r, "diagnosis", None)  # action checks have none
        if found is not None:
            out.print(tables.diagnosis(found))
    if junit_path:
        outputs.write_text(junit_path, contract_report.junit_xml(results, url))
        out.print(Text(f"wrote {junit_path} (JUnit XML)", style="dim"))
    if json_path:
        outputs.write_text(json_path, contract_report.dumps(results, url))
        out.print(Text(f"wrote {json_path} (JSON)", style="dim"))
    failed = [r for r in results if r.failed]
    if failed:
        out.print(
            Text(f"✘ {len(failed)} of {len(results)} checks failed", style="bold red")
            + Text(": " + ", ".join(r.id for r in failed))
        )
        sys.exit(ExitCode.NOT_DELIVERED)
    # An informational check (ℹ) is neither a pass nor a failure: a finding
    # to read, or nothing to judge (an app that never blocks has no callback).
    info = sum(1 for r in results if r.passed is None)
    if info:
        passed = len(results) - info
        out.print(
            Text(f"✔ {passed} checks passed", style="bold green")
            + Text(f", {info} informational (ℹ)")
        )
    else:
        out.print(Text(f"✔ all {len(results)} checks passed", style="bold green"))


def _codes(text: str | None) -> frozenset[int]:
    if not text:
        return frozenset()
    try:
        codes = frozenset(int(c) for c in csv([text]))
    except ValueError:
        raise UsageError(
            f"--reject-status takes codes like 401,403, not {text!r}"
        ) from None
    bad = sorted(c for c in codes if not 400 <= c <= 499)
    if bad or not codes:
        raise UsageError(
            f"--reject-status: {bad[0] if bad else text} is not a rejection (400-499)"
        )
    return codes
