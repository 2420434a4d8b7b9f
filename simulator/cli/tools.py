"""``hubsim sign``, ``hubsim trigger`` and ``hubsim types``: debugging tools."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.text import Text

from .. import actions, catalog, signing, tables, trigger
from ..errors import UsageError
from ..result import ExitCode
from . import (
    Number,
    allow_remote_option,
    cli,
    client_secret,
    console,
    csv,
    secret_option,
)

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
    body = _read_body(body_path)
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


def _read_body(path: str) -> bytes:
    """--body FILE or - (standard input), bounded."""
    if path == "-":
        body = sys.stdin.buffer.read(MAX_BODY_BYTES + 1)
    else:
        try:
            with Path(path).open("rb") as f:
                body = f.read(MAX_BODY_BYTES + 1)
        except IsADirectoryError:
            raise UsageError(f"--body {path}: is a folder, not a file") from None
        except OSError as exc:
            raise UsageError(f"--body {path}: cannot read: {exc.strerror}") from None
    if len(body) > MAX_BODY_BYTES:
        raise UsageError("--body: larger than 64 MiB; not a webhook body")
    return body


def _assignment(text: str) -> tuple[str, object]:
    """--set field=value: the value as JSON when it is JSON, else as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not all(p for p in key.strip().split(".")):
        raise UsageError(f"--set {text!r}: expected field=value, e.g. objectId=42")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


@cli.command("trigger")
@click.argument("kind", metavar="TYPE")
@click.argument("url")
@secret_option
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a field of the generated event, e.g. objectId=42 or "
    "propertyValue=hello (JSON values are taken as JSON; repeatable).",
)
@click.option(
    "--body",
    "body_path",
    metavar="FILE|-",
    help="Send this body instead (exact bytes, signed).",
)
@click.option(
    "--attempt",
    default=0,
    type=click.IntRange(0, trigger.MAX_ATTEMPT),
    help="attemptNumber of the event (0: a first delivery).",
)
@click.option(
    "--test-button",
    is_flag=True,
    help="Send what the Test button on your app's Webhooks page sends "
    "(objectId 123, changeSource CRM, changeFlag NEW, propertyValue sample-value).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["classic", "generic"]),
    default="classic",
    show_default=True,
    help="classic payloads, or generic object.* ones.",
)
@click.option(
    "--object-types", metavar="LIST", help="--format generic: objectTypeIds to use."
)
@click.option(
    "--definition",
    "definition_path",
    metavar="FILE.json",
    help="TYPE action: the action definition (default: the built-in one).",
)
@click.option("--public-url", metavar="URL", help="Sign as if HubSpot called this URL.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), help="The same event again.")
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=Number(0.01, 600),
    help="Seconds to wait for the answer (0.01-600).",
)
@allow_remote_option
def trigger_command(
    kind: str,
    url: str,
    secret: str | None,
    assignments: tuple[str, ...],
    body_path: str | None,
    attempt: int,
    test_button: bool,
    fmt: str,
    object_types: str | None,
    definition_path: str | None,
    public_url: str | None,
    seed: int | None,
    timeout: float,
    allow_remote: bool,
) -> None:
    """
    Send one event to URL, signed as HubSpot signs it, and print the request
    and the response. TYPE is a subscription type (hubsim types),
    workflow.contact|company|deal|ticket for a workflow webhook, or action
    for a custom action execution. Exit 0 on a 2xx.

    \b
    Examples:
      hubsim trigger contact.creation http://127.0.0.1:3000/webhooks -s $SECRET
      hubsim trigger deal.propertyChange URL -s $SECRET --set propertyValue=closedwon
      hubsim trigger contact.creation URL -s $SECRET --test-button
      hubsim trigger contact.deletion URL -s $SECRET --attempt 3
      hubsim trigger object.creation URL -s $SECRET --format generic
      hubsim trigger workflow.deal URL -s $SECRET
      hubsim trigger action http://127.0.0.1:3000/actions/send -s $SECRET
      hubsim trigger contact.creation URL -s $SECRET --body edited.json
    """
    options = trigger.TriggerOptions(
        kind=kind,
        url=url,
        secret=client_secret(secret),
        public_url=public_url,
        format="generic" if fmt == "generic" else "classic",
        overrides=tuple(_assignment(a) for a in assignments),
        body=_read_body(body_path) if body_path else None,
        attempt=attempt,
        test_button=test_button,
        timeout_s=timeout,
        definition=actions.load_definition(definition_path)
        if definition_path
        else actions.DEFAULT,
        seed=seed,
        object_type_ids=csv([object_types or ""]),
    )
    exchange = trigger.trigger(options, allow_remote)
    out = console()
    out.print(tables.exchange(exchange))
    if not exchange.answer.ok:
        sys.exit(ExitCode.NOT_DELIVERED)
