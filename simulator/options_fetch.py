"""
Options fetch (spec ``hubspot-app-calls.md`` §1.5): what the workflow editor
POSTs to an input field's ``optionsUrl`` while someone edits a workflow, and
the check of what comes back.

The request is signed like an execution (v2 and v3). It carries the docs'
``origin, objectTypeId, inputFieldName, inputFields`` (other inputs as typed
wrappers, ``{"type": "STATIC_VALUE", "value": …}``) and ``fetchOptions``
(``q`` once a search was offered, ``after`` to page on), and the top-level
``portalId`` and ``extensionDefinition*`` production code expects (C6).
A page must be ``{"options": [{"label", "value", "description"?}], "after"?,
"searchable"?}``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Final

from . import aio, transport
from .actions import OBJECT_TYPES, Definition
from .errors import UsageError
from .signing import ClientSecret, Signer, SigningOptions
from .target import Target, preflight

TIMEOUT_S: Final = 10.0


@dataclass
class Fetched:
    """Every page asked for, the options found, and what was wrong."""

    pages: list[dict[str, Any]] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    searchable: bool = False

    def to_json(self) -> dict[str, Any]:
        """For --json."""
        return {
            "pages": self.pages,
            "options": self.options,
            "searchable": self.searchable,
            "problems": self.problems,
        }


def request_body(
    definition: Definition,
    field_name: str,
    portal_id: int,
    definition_id: int,
    q: str | None = None,
    after: str | None = None,
) -> bytes:
    """One options-fetch body (compact, raw UTF-8)."""
    fetch: dict[str, str] = {}
    if q is not None:
        fetch["q"] = q
    if after is not None:
        fetch["after"] = after
    others = {
        f.name: {"type": "STATIC_VALUE", "value": f.options[0] if f.options else ""}
        for f in definition.inputs
        if f.name != field_name
    }
    doc = {
        "origin": {
            "portalId": portal_id,
            "actionDefinitionId": definition_id,
            "actionDefinitionVersion": definition.version,
        },
        "objectTypeId": OBJECT_TYPES[definition.object_types[0]],
        "inputFieldName": field_name,
        "inputFields": others,
        "fetchOptions": fetch,
        "portalId": portal_id,
        "extensionDefinitionId": definition_id,
        "extensionDefinitionVersion": definition.version,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def page_problems(doc: object, number: int) -> list[str]:
    """What is wrong with one page's shape (empty: nothing)."""
    where = f"page {number}"
    if not isinstance(doc, dict):
        return [f"{where}: not a JSON object"]
    out = []
    options = doc.get("options")
    if not isinstance(options, list):
        return [f"{where}: options must be a list"]
    for i, o in enumerate(options):
        if not isinstance(o, dict):
            out.append(f"{where}: options[{i}] is not an object")
            continue
        if not isinstance(o.get("label"), str):
            out.append(f"{where}: options[{i}].label must be a string")
        if not isinstance(o.get("value"), str | int | float) or isinstance(
            o.get("value"), bool
        ):
            out.append(f"{where}: options[{i}].value must be a string")
        if "description" in o and not isinstance(o["description"], str):
            out.append(f"{where}: options[{i}].description must be a string")
    if "after" in doc and not isinstance(doc["after"], str | type(None)):
        out.append(f"{where}: after must be a string")
    if "searchable" in doc and not isinstance(doc["searchable"], bool):
        out.append(f"{where}: searchable must be true or false")
    return out


def fetch(
    url: str,
    secret: ClientSecret,
    definition: Definition,
    field_name: str | None = None,
    query: str | None = None,
    max_pages: int = 10,
    allow_remote: bool = False,
) -> Fetched:
    """Fetch every page of one field's options (bounded by ``max_pages``)."""
    target = Target.parse(url).check_allowed(allow_remote)
    names = [f.name for f in definition.inputs]
    if field_name is None:
        field_name = next(
            (f.name for f in definition.inputs if f.type == "enumeration"),
            names[0] if names else "",
        )
    if field_name not in names:
        raise UsageError(
            f"--field {field_name!r}: not an input of the definition "
            f"({', '.join(names) or 'none'})"
        )
    return aio.run(_fetch(target, secret, definition, field_name, query, max_pages))


async def _fetch(
    target: Target,
    secret: ClientSecret,
    definition: Definition,
    field_name: str,
    query: str | None,
    max_pages: int,
) -> Fetched:
    rng = random.Random(len(field_name))
    portal = rng.randrange(20_000_000, 999_999_999)
    definition_id = definition.definition_id or rng.randrange(10_000_000, 300_000_000)
    signer = Signer(
        secret, target, SigningOptions(versions=("v2", "v3"), sender="automation")
    )
    out = Fetched()
    await preflight(target.url)
    seen: set[str] = set()
    async with transport.session(1, TIMEOUT_S) as client:

        async def page(q: str | None, after: str | None) -> dict[str, Any] | None:
            number = len(out.pages) + 1
            body = request_body(definition, field_name, portal, definition_id, q, after)
            headers = signer.headers(body, int(time.time() * 1000))
            answer = await transport.send(
                client, target.wire, body, headers, keep_body=True
            )
            record: dict[str, Any] = {"q": q, "after": after, "status": answer.status}
            out.pages.append(record)
            if not answer.ok:
                out.problems.append(f"page {number}: answered {answer.outcome}")
                return None
            try:
                doc = json.loads(answer.body)
            except (ValueError, RecursionError):
                out.problems.append(f"page {number}: the answer is not JSON")
                return None
            problems = page_problems(doc, number)
            out.problems += problems
            if problems:
                return None
            record["options"] = len(doc["options"])
            out.options += doc["options"]
            out.searchable = out.searchable or bool(doc.get("searchable"))
            return dict(doc)

        after: str | None = None
        while len(out.pages) < max_pages:
            doc = await page(None, after)
            if doc is None:
                break
            after = doc.get("after") or None
            if after is None:
                break
            if after in seen:
                out.problems.append(f"page {len(out.pages)}: after {after!r} repeats")
                break
            seen.add(after)
        if query is not None and out.searchable and len(out.pages) < max_pages:
            await page(query, None)
    return out
