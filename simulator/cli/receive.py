"""``hubsim receive`` and ``hubsim demo``: the built-in receiver."""

from __future__ import annotations

import click
from rich.text import Text

from .. import dashboard, demo, receiver, receiver_pool, report, tables
from ..faults import Faults
from ..receiver import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_BODY, MAX_BODY_LIMIT
from ..receiver_pool import MAX_WORKERS
from ..result import ExitCode
from ..scenario import load_scenario
from . import (
    Number,
    cli,
    client_secret,
    console,
    fail,
    secret_option,
    settings_options,
)


@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)
@click.option(
    "--port",
    "-p",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port, 1-65535 (0 picks a free one).",
)
@secret_option
@click.option(
    "--insecure", is_flag=True, help="Accept unsigned requests (no secret needed)."
)
@click.option(
    "--save", metavar="FILE.jsonl", help="Append every accepted event to this file."
)
@click.option(
    "--max-body",
    default=DEFAULT_MAX_BODY,
    show_default=True,
    type=click.IntRange(1, MAX_BODY_LIMIT),
    help=f"Answer 413 to bodies larger than this many bytes (1-{MAX_BODY_LIMIT:,}).",
)
@click.option(
    "--idle-timeout",
    default=DEFAULT_IDLE_TIMEOUT_S,
    show_default=True,
    type=Number(0.1, 3600),
    metavar="SECONDS",
    help="Close connections idle, or with unfinished headers, this long (0.1-3600).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, MAX_WORKERS),
    help="Receiver processes sharing the port (one per core); /stats counts "
    f"them all (1-{MAX_WORKERS}).",
)
@settings_options(Faults, "faults")
def receive(
    host: str,
    port: int,
    secret: str | None,
    insecure: bool,
    save: str | None,
    max_body: int,
    idle_timeout: float,
    workers: int,
    faults: Faults,
) -> None:
    """
    Run the built-in receiver: verifies signatures, counts events, GET /stats.

    \b
    Examples:
      hubsim receive --port 8080 --secret $SECRET
      hubsim receive --fail-rate 0.3 --reset-rate 0.05 --hang-rate 0.01
      hubsim receive --script 500,503,200 --retry-after 2
      hubsim receive --workers 2 --port 8080 --secret $SECRET
      curl -s http://127.0.0.1:8080/stats
    """
    from ..outputs import check_paths

    check_paths({"--save": save})
    config = receiver.ReceiverConfig(
        secret=None if insecure and not secret else client_secret(secret),
        max_body_bytes=max_body,
        save_path=save,
        faults=faults,
        idle_timeout_s=idle_timeout,
    )

    # The first line is machine-read by `hubsim demo`; keep its shape.
    def listening(url: str) -> None:
        print(f"listening on {url}", flush=True)

    if workers > 1:
        final = receiver_pool.serve_pool(config, host, port, workers, listening)
    else:
        final = receiver.serve(config, host, port, listening).to_json()
    if final is not None:
        # What a Ctrl-C leaves behind, so a --save file is not a silent surprise.
        line = (
            f"stopped: {final['accepted_requests']:,} requests accepted, "
            f"{final['events']:,} events ({final['distinct_events']:,} distinct, "
            f"{final['duplicates']:,} duplicates)"
        )
        if save:
            line += f"; wrote {final['saved_events']:,} events to {save}"
        print(line, flush=True)


@cli.command()
@click.argument("scenario_path", metavar="[SCENARIO]", required=False)
@click.option(
    "--port",
    "-p",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port for the built-in receiver (0 picks a free one).",
)
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
def demo_command(scenario_path: str | None, port: int, quiet: bool) -> None:
    """
    Start the built-in receiver on loopback (its own process), run the
    quickstart scenario against it, and check that the receiver got every
    event once, signed and verified. Needs no checkout and no files.

    \b
    Examples:
      hubsim demo
      hubsim demo deal-pipeline --port 8080
      hubsim demo my-scenario.toml
    """
    from ..shipped import resolve

    path, text = resolve(scenario_path or "quickstart")
    scenario = load_scenario(path, text=text)
    out = console()
    out.print(Text(f"{scenario.name}: {scenario.description}", style="bold"))
    done = demo.run_demo(scenario, port, dashboard.Dashboard(out, quiet))
    result = done.run.completed.merged
    out.print(report.render(result))
    if done.checks:
        out.print(report.render_checks(done.checks))
    out.print(tables.cross_check(done.rows))
    if not done.passed:
        fail(
            "the receiver's count does not match what was delivered",
            ExitCode.NOT_DELIVERED,
        )
    out.print(
        Text("demo passed", style="bold green")
        + Text(": every event arrived once, signed and verified.")
    )
