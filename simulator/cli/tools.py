"""``hubsim sign`` and ``hubsim types``: tools for debugging a receiver."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.text import Text

from .. import catalog, signing, tables
from ..errors import UsageError
from . import cli, client_secret, console, secret_option

#: A body larger than this is not a webhook body.
MAX_BODY_BYTES = 64 * 1024 * 1024


@cli.command()
@secret_option
@click.option(
    "--method",
    default="POST",
    show_default=True,
    type=click.Choice(["POST", "GET", "PUT", "PATCH", "DELETE"], case_sensitive=False),
)
@click.option("--url", required=True, help="The full URL HubSpot called.")
@click.option(
    "--body", "body_path", required=True, metavar="FILE|-", help="Exact body bytes."
)
@click.option(
    "--timestamp",
    type=click.IntRange(0, 32_503_680_000_000),
    metavar="MS",
    help="v3 timestamp in epoch ms (default: now).",
)
def sign(
    secret: str | None, method: str, url: str, body_path: str, timestamp: int | None
) -> None:
    """
    Print the v1, v2 and v3 signatures of a request, to debug a receiver.

    \b
    Examples:
      hubsim sign -s $SECRET --url https://example.com/hook --body body.json
      cat body.json | hubsim sign -s $SECRET --url URL --body - --timestamp 1767225600
    """
    key = client_secret(secret)
    if body_path == "-":
        body = sys.stdin.buffer.read(MAX_BODY_BYTES + 1)
    else:
        try:
            with Path(body_path).open("rb") as f:
                body = f.read(MAX_BODY_BYTES + 1)
        except OSError as exc:
            raise UsageError(
                f"--body {body_path}: cannot read: {exc.strerror}"
            ) from None
    if len(body) > MAX_BODY_BYTES:
        raise UsageError("--body: larger than 64 MiB; not a webhook body")
    ts = timestamp if timestamp is not None else int(time.time() * 1000)
    rows = [
        ("body bytes", str(len(body))),
        ("v1", signing.sign_v1(key, body)),
        ("v2", signing.sign_v2(key, method, url, body)),
        ("v3", signing.sign_v3(key, method, url, body, ts)),
        ("timestamp", str(ts)),
        ("v3 signs URI", signing.decode_v3_uri(url)),
    ]
    console().print(tables.signatures(rows))


@cli.command()
@click.option(
    "--generic", is_flag=True, help="List objectTypeIds for --format generic."
)
def types(generic: bool) -> None:
    """
    List the subscription types (or objectTypeIds) hubsim generates; plain
    lines into a pipe.

    \b
    Examples:
      hubsim types
      hubsim types --generic
      hubsim types | grep deal
    """
    out = console()
    if not out.is_terminal:
        for line in tables.type_lines(generic):
            out.print(Text(line))
        return
    out.print(tables.type_catalog(generic))
    if not generic:
        out.print(
            Text(
                f"Not generated: {', '.join(catalog.UNGENERATED_TYPES)} "
                "(payload undocumented).",
                style="dim",
            )
        )
