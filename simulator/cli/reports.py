"""``hubsim report`` and ``hubsim compare``: saved runs."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from .. import outputs, report, saved
from ..ledger import Ledger
from ..result import ExitCode
from ..stats import Stats, compare
from . import Number, cli, console


@cli.command("report")
@click.argument("paths", nargs=-1, required=True, metavar="RUN.json...")
@click.option(
    "--json", "json_path", metavar="FILE.json", help="Write the merged stats."
)
@click.option(
    "--html",
    "html_path",
    metavar="FILE.html",
    help="Write a self-contained HTML report with charts.",
)
def report_command(
    paths: tuple[str, ...], json_path: str | None, html_path: str | None
) -> None:
    """
    Re-render saved runs (--report files), merged into one when several:
    histograms add up, so percentiles are those of all requests together.

    \b
    Examples:
      hubsim report run.json
      hubsim report worker-*.json --html all.html
      hubsim report a.json b.json --json merged.json
    """
    outputs.check_paths({"--json": json_path, "--html": html_path})
    merged, ledger = Stats(), Ledger()
    every_ledger = True
    for path in paths:
        stats, part = saved.load_run(path)
        merged.merge(stats)
        if part is None:
            every_ledger = False
        else:
            ledger.merge(part)
    title = paths[0] if len(paths) == 1 else f"{len(paths)} runs merged"
    out = console()
    out.print(report.render_stats(merged, title))
    accounts = ledger if every_ledger else None
    if accounts is not None:
        # Worker processes' ledgers add up: the invariant holds across them.
        out.print(report.render_accounts(accounts))
    written = outputs.write_stats(merged, title, json_path, html_path, accounts)
    for path, what in written:
        out.print(Text(f"wrote {path} ({what})", style="dim"))


@cli.command("compare")
@click.argument("base_path", metavar="BASE.json")
@click.argument("new_path", metavar="NEW.json")
@click.option(
    "--tolerance",
    default=0.10,
    show_default=True,
    type=Number(0, 10),
    help="Allowed relative worsening (0-10; 0.1 = 10 %) before a metric regressed.",
)
def compare_command(base_path: str, new_path: str, tolerance: float) -> None:
    """
    Compare two saved runs; exit 1 when a metric regressed beyond the tolerance.

    \b
    Examples:
      hubsim compare base.json new.json
      hubsim compare base.json new.json --tolerance 0.05
    """
    rows = compare(saved.load_stats(base_path), saved.load_stats(new_path), tolerance)
    out = console()
    out.print(report.render_comparison(rows, tolerance))
    regressed = [r.metric for r in rows if r.regressed]
    if regressed:
        out.print(Text(f"✘ regressed: {', '.join(regressed)}", style="bold red"))
        sys.exit(ExitCode.NOT_DELIVERED)
    out.print(Text("✔ no regression", style="bold green"))
