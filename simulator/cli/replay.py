"""``hubsim replay``: a recording sent again."""

from __future__ import annotations

import click

from .. import dashboard, recording, run, tables
from ..delivery import DeliveryOptions
from ..errors import UsageError
from ..outputs import Outputs
from ..signing import SigningOptions
from . import (
    Number,
    allow_remote_option,
    cli,
    client_secret,
    console,
    csv,
    finish,
    output_options,
    quiet_option,
    secret_option,
)


@cli.command("replay")
@click.argument("recording_path", metavar="FILE.jsonl")
@click.option("--target", required=True, metavar="URL", help="Where to send them.")
@secret_option
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=Number(0.001, 1_000_000),
    help="Replay this many times faster (0.001-1,000,000).",
)
@click.option(
    "--keep-signatures",
    is_flag=True,
    help="Send the recorded headers unchanged (stale v3: tests replay protection).",
)
@click.option(
    "--public-url", metavar="URL", help="Re-sign as if HubSpot called this URL."
)
@click.option(
    "--types", "-t", multiple=True, metavar="LIST", help="Only requests with these."
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000_000),
    help="At most this many requests (1 or more).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent, send nothing.")
@click.option(
    "--max-concurrent",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Requests in flight at most (1-1,000).",
)
@output_options(streams=False)
@allow_remote_option
@quiet_option
def replay_command(
    recording_path: str,
    target: str,
    secret: str | None,
    speed: float,
    keep_signatures: bool,
    public_url: str | None,
    types: tuple[str, ...],
    limit: int | None,
    dry_run: bool,
    max_concurrent: int,
    files: Outputs,
    allow_remote: bool,
    quiet: bool,
) -> None:
    """
    Send a recording (--record) again: the same bodies, in the same order, at
    the recorded pacing, re-signed with fresh timestamps unless
    --keep-signatures.

    \b
    Examples:
      hubsim send URL -s $SECRET --record run.jsonl
      hubsim replay run.jsonl --target http://127.0.0.1:3000/hook -s $SECRET
      hubsim replay run.jsonl --target URL --keep-signatures --speed 10
      hubsim replay run.jsonl --target URL --types deal --limit 20 --dry-run
    """
    requests = recording.select(
        recording.read_recording(recording_path), csv(types), limit
    )
    if not requests:
        raise UsageError(
            f"--types {','.join(csv(types))}: no recorded request has these"
        )
    out = console()
    if dry_run:
        out.print(tables.dry_run(requests, speed))
        events = sum(len(recording.replay_batch(r, 0)) for r in requests)
        out.print(f"{len(requests):,} requests, {events:,} events would go to {target}")
        return
    key = None if keep_signatures else client_secret(secret)
    replaying = run.ReplayRun(
        requests,
        target,
        key,
        speed=speed,
        keep_signatures=keep_signatures,
        signing=SigningOptions(public_url=public_url),
        delivery=DeliveryOptions(max_in_flight=max_concurrent),
        allow_remote=allow_remote,
    )
    total = sum(len(recording.replay_batch(r, 0)) for r in requests)
    done = run.execute([replaying], dashboard.Dashboard(out, quiet), total)
    finish(done.merged, out, files, (), "replay")
