"""``hubsim verify-state``: the receiver's CRM state against the expected one."""

from __future__ import annotations

import sys

import click
from rich.table import Table
from rich.text import Text

from .. import crm_state, outputs, verification
from ..result import ExitCode
from . import cli, console


@cli.command("verify-state")
@click.argument("expected_path", metavar="EXPECTED.jsonl")
@click.argument("actual_path", metavar="ACTUAL.jsonl")
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Differences to show (and to write to --json), first by kind.",
)
@click.option("--json", "json_path", metavar="FILE.json", help="Write the result.")
@click.option(
    "--junit", "junit_path", metavar="FILE.xml", help="One testcase per kind, for CI."
)
def verify_state_command(
    expected_path: str,
    actual_path: str,
    limit: int,
    json_path: str | None,
    junit_path: str | None,
) -> None:
    """
    Compare your receiver's CRM state with the state HubSpot's delivered
    events imply (written by --state-out); exit 0 when they match, 1 when not.

    Both files hold one record per line: {"portalId", "objectTypeId",
    "objectId", "deleted", "mergedInto", "properties"}. Export yours from your
    database (README "Verify your sync").

    \b
    Examples:
      hubsim send URL -s $SECRET -n 20000 --chaos duplicates=0.1,reorder=0.3 \\
          --state-out expected.jsonl
      hubsim verify-state expected.jsonl mine.jsonl
      hubsim verify-state expected.jsonl mine.jsonl --junit state.xml --limit 50
    """
    outputs.check_paths({"--json": json_path, "--junit": junit_path})
    expected = crm_state.read(expected_path, "EXPECTED")
    actual = crm_state.read(actual_path, "ACTUAL")
    result = verification.verify(expected, actual)
    out = console()
    if not result.passed:
        table = Table(title="Differences", show_header=True, box=None, padding=(0, 2))
        table.add_column("kind", style="bold")
        table.add_column("count", justify="right")
        table.add_column("what it usually means")
        for kind, n in result.counts().items():
            table.add_row(kind, f"{n:,}", verification.KINDS[kind])
        out.print(table)
        out.print(Text(f"\nFirst {min(limit, len(result.differences))}:", "bold"))
        for d in result.differences[:limit]:
            out.print(Text(f"  {d.line()}", overflow="fold"))
    if json_path:
        outputs.write_text(json_path, result.dumps(limit))
        out.print(Text(f"wrote {json_path} (JSON)", style="dim"))
    if junit_path:
        outputs.write_text(junit_path, result.junit_xml(limit))
        out.print(Text(f"wrote {junit_path} (JUnit XML)", style="dim"))
    if result.passed:
        out.print(Text(f"✔ {result.summary()}", style="bold green"))
        return
    out.print(Text(f"✘ {result.summary()}", style="bold red"))
    sys.exit(ExitCode.NOT_DELIVERED)
