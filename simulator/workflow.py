"""
Records for workflow "Send a webhook" actions (spec §6): one enrolled CRM record
per request, not a batch of events.

HubSpot documents the body only as "the object as the object API returns it;
contact workflows include current value plus property history, other object
types only current values" (§6.1). hubsim models that as:

- contacts in the legacy contact form: ``vid``, ``canonical-vid``,
  ``portal-id``, ``is-contact`` and ``properties`` whose entries carry
  ``value`` and ``versions`` (the history, newest first);
- companies, deals and tickets as ``objectId``, ``objectType``, ``portalId``,
  ``isDeleted`` and ``properties`` with ``value``, ``timestamp``, ``source``
  and ``sourceId``.

``record_form = "v3"`` sends the CRM v3 object JSON instead (``id``,
``properties``, ``createdAt``, ``updatedAt``, ``archived``; contacts add
``propertiesWithHistory``): HubSpot's docs say only "the object API", and
which API is an open question (app-calls §6).

A customised body (:class:`Template`) is JSON whose strings hold personalization
tokens such as ``{{ contact.email }}``. A GET carries no body (§2): the
template's entries become query parameters, signed as part of the URL.

The body has no ``attemptNumber``: a retry re-sends the same bytes. Each record
carries a synthetic enrolment id in :class:`RenderedBlock` ``event_ids`` so the
ledger can account for it like an event.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import orjson

from . import catalog
from .errors import UsageError
from .pools import value_pools
from .source import EventConfig
from .wire import RenderedBlock

#: Families a workflow can enrol here, and their legacy objectType names.
WORKFLOW_FAMILIES: Final = {
    "contact": "CONTACT",
    "company": "COMPANY",
    "deal": "DEAL",
    "ticket": "TICKET",
}
_SOURCES: Final = ("CRM_UI", "API", "IMPORT", "AUTOMATION_PLATFORM", "FORM")
#: A personalization token: ``{{ contact.email }}``.
TOKEN: Final = re.compile(r"\{\{\s*([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\}\}")
#: Tokens that are the record itself rather than a generated property.
_ID_PROPERTIES: Final = frozenset({"hs_object_id", "id"})
MAX_TEMPLATE_BYTES: Final = 64 * 1024
Method = Literal["POST", "GET"]
RecordForm = Literal["legacy", "v3"]


@dataclass(frozen=True, slots=True)
class Template:
    """
    A customised request: JSON whose strings may hold ``{{ family.property }}``
    tokens, all of one enrolled object type, filled per record.

    >>> t = Template.parse('{"email": "{{ contact.email }}", "src": "hubspot"}')
    >>> t.family, t.properties
    ('contact', ('email',))
    >>> t.fill({"email": "ana@example.com"})
    {'email': 'ana@example.com', 'src': 'hubspot'}
    """

    data: Any
    family: str
    properties: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, where: str = "the body template") -> Template:
        """The template in ``text``, or UsageError saying what is wrong."""
        if len(text.encode()) > MAX_TEMPLATE_BYTES:
            raise _fail(where, "larger than 64 KiB")
        try:
            data = json.loads(text)
        except RecursionError:
            raise _fail(where, "nested too deeply") from None
        except ValueError as exc:
            raise _fail(where, f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _fail(where, 'must be a JSON object, like {"k": "v"}')
        found: list[tuple[str, str]] = []
        _tokens(data, found)
        families = sorted({f for f, _ in found})
        for family in families:
            if family not in WORKFLOW_FAMILIES:
                raise _fail(
                    where,
                    f"{{{{ {family}.… }}}}: a workflow enrols "
                    f"{', '.join(WORKFLOW_FAMILIES)} records",
                )
        if len(families) > 1:
            raise _fail(
                where,
                f"tokens of {' and '.join(families)}: a workflow enrols "
                "one object type",
            )
        props = tuple(dict.fromkeys(p for _, p in found))
        return cls(data, families[0] if families else "", props)

    def fill(self, values: Mapping[str, str]) -> Any:
        """The template with every token replaced by its value (unset: empty)."""

        def sub(m: re.Match[str]) -> str:
            return values.get(m.group(2), "")

        def walk(node: Any) -> Any:
            if isinstance(node, str):
                return TOKEN.sub(sub, node)
            if isinstance(node, list):
                return [walk(v) for v in node]
            if isinstance(node, dict):
                return {TOKEN.sub(sub, k): walk(v) for k, v in node.items()}
            return node

        return walk(self.data)

    def check_flat(self, where: str) -> None:
        """UsageError unless every value is text, a number or a boolean (GET)."""
        for key, value in self.data.items():
            if isinstance(value, dict | list) or value is None:
                raise _fail(
                    where,
                    f"{key!r}: a GET sends query parameters, so every "
                    "value must be text, a number or true/false",
                )

    def query(self, values: Mapping[str, str]) -> str:
        """The filled template as a percent-encoded query string (a GET)."""
        filled = self.fill(values)
        return "&".join(
            f"{quote(str(k), safe='')}={quote(_text(v), safe='')}"
            for k, v in filled.items()
        )


def _fail(where: str, problem: str) -> UsageError:
    """The error for ``problem``, after ``where`` when there is one."""
    return UsageError(f"{where}: {problem}" if where else problem)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tokens(node: Any, found: list[tuple[str, str]]) -> None:
    if isinstance(node, str):
        found.extend((m.group(1), m.group(2)) for m in TOKEN.finditer(node))
    elif isinstance(node, list):
        for v in node:
            _tokens(v, found)
    elif isinstance(node, dict):
        for k, v in node.items():
            _tokens(k, found)
            _tokens(v, found)


def load_template(value: str, where: str) -> Template:
    """
    The template ``value`` names: inline JSON (starting with ``{`` or ``[``)
    or a file.
    """
    if value.lstrip().startswith(("{", "[")):
        return Template.parse(value, where)
    path = Path(value)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_TEMPLATE_BYTES + 1)
    except IsADirectoryError:
        raise _fail(where, f"{value} is a folder, not a JSON file") from None
    except OSError as exc:
        raise _fail(where, f"cannot read {value}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(where, f"{value} is not UTF-8 text") from None
    return Template.parse(text, f"{where} {value}".strip())


def unknown_properties(template: Template) -> list[str]:
    """Tokens naming properties hubsim has no values for (they render empty)."""
    if not template.family:
        return []
    type_id = catalog.FAMILY_OBJECT_TYPE_ID[template.family]
    known = {p.name for p in catalog.properties_for(type_id)} | _ID_PROPERTIES
    return [p for p in template.properties if p not in known]


@dataclass(frozen=True, slots=True)
class WorkflowRequest:
    """
    How the "Send a webhook" action is set up: the method, the body (all
    properties, or a customised template) and the all-properties form.
    """

    method: Method = "POST"
    template: Template | None = None
    record_form: RecordForm = "legacy"


class WorkflowSource:
    """
    A seeded stream of workflow webhook bodies, one record per block.
    """

    def __init__(
        self, config: EventConfig, request: WorkflowRequest | None = None
    ) -> None:
        families = [
            t.split(".")[0]
            for t in catalog.select_types(config.types)
            if t.split(".")[0] in WORKFLOW_FAMILIES
        ]
        self.families = tuple(dict.fromkeys(families))
        if not self.families:
            raise UsageError(
                "the workflow profile enrols contacts, companies, deals or tickets: "
                "pick --types among those"
            )
        self.request = request = request or WorkflowRequest()
        template = request.template
        if template is not None and template.family:
            if template.family not in self.families:
                raise UsageError(
                    f"--workflow-body: its tokens are {template.family} properties, "
                    f"but --types enrols {', '.join(self.families)}"
                )
            self.families = (template.family,)
        self.config = config
        rng = random.Random(config.seed)
        self._rng = rng
        self.app_id = config.app_id or rng.randrange(1_000_000, 30_000_000)
        self.portal_ids = config.portal_ids or tuple(
            rng.randrange(200_000_000, 999_999_999) for _ in range(config.portals)
        )
        self._pools = value_pools()
        self._ids = itertools.count(rng.randrange(10**9, 2 * 10**9))
        self._users = tuple(rng.randrange(10_000_000, 99_999_999) for _ in range(32))
        self._now_ms = config.start_ms

    def render(self, count: int = 1) -> RenderedBlock:
        """
        The next record as a request body (``count`` must be 1: not batched).
        """
        if count != 1:
            raise UsageError("workflow webhooks send one record per request")
        rng = self._rng
        family = rng.choice(self.families)
        portal = rng.choice(self.portal_ids)
        enrolment = next(self._ids)
        now = self._now_ms - rng.randrange(300, 1500)
        request = self.request
        query = ""
        record: Any = None
        if request.template is not None:
            values = self._values(family, request.template.properties)
            if request.method == "GET":
                query = request.template.query(values)
            else:
                record = request.template.fill(values)
        elif request.record_form == "v3":
            record = self._v3_record(family, now)
        else:
            record = self._record(family, portal, now)
        if request.method == "GET":
            body = b""
        elif self.config.escape_unicode:
            body = json.dumps(record, separators=(",", ":")).encode()
        else:
            body = orjson.dumps(record)
        return RenderedBlock(
            portal,
            body,
            (enrolment,),
            (now,),
            ((f"workflow.{family}", catalog.FAMILY_OBJECT_TYPE_ID[family]),),
            array=False,
            query=query,
        )

    def set_time(self, now_ms: int) -> None:
        """Records rendered from now on were enrolled just before ``now_ms``."""
        self._now_ms = now_ms

    def prepare(self, batch_size: int = 1) -> None:
        """
        Nothing to pre-render: workflow throughput is low (up to 20 requests/s).
        """

    def _record(self, family: str, portal: int, now: int) -> dict[str, Any]:
        rng = self._rng
        type_id = catalog.FAMILY_OBJECT_TYPE_ID[family]
        specs = [p for p in catalog.properties_for(type_id) if not p.sensitive]
        chosen = rng.sample(specs, k=min(len(specs), rng.randrange(3, 7)))
        object_id = rng.randrange(10**9, 10**12)
        source = rng.choice(_SOURCES)
        source_id = f"userId:{rng.choice(self._users)}" if source == "CRM_UI" else None
        if family == "contact":
            props: dict[str, Any] = {}
            for spec in chosen:
                history = [self._value(spec) for _ in range(rng.randrange(1, 4))]
                versions = [
                    {
                        "value": v,
                        "source-type": source,
                        "source-id": source_id,
                        "timestamp": now - i * rng.randrange(60_000, 86_400_000),
                        "selected": False,
                    }
                    for i, v in enumerate(history)
                ]
                props[spec.name] = {"value": history[0], "versions": versions}
            return {
                "vid": object_id,
                "canonical-vid": object_id,
                "merged-vids": [],
                "portal-id": portal,
                "is-contact": True,
                "properties": props,
            }
        return {
            "portalId": portal,
            "objectType": WORKFLOW_FAMILIES[family],
            "objectId": object_id,
            "properties": {
                spec.name: {
                    "value": self._value(spec),
                    "timestamp": now,
                    "source": source,
                    "sourceId": source_id,
                }
                for spec in chosen
            },
            "isDeleted": False,
        }

    def _values(self, family: str, names: tuple[str, ...]) -> dict[str, str]:
        """A value for each named property of one record (unknown: unset)."""
        type_id = catalog.FAMILY_OBJECT_TYPE_ID[family]
        specs = {p.name: p for p in catalog.properties_for(type_id)}
        object_id = str(self._rng.randrange(10**9, 10**12))
        out: dict[str, str] = {}
        for name in names:
            if name in _ID_PROPERTIES:
                out[name] = object_id
            elif name in specs:
                out[name] = self._value(specs[name])
        return out

    def _v3_record(self, family: str, now: int) -> dict[str, Any]:
        """The record as the CRM v3 objects API returns it."""
        rng = self._rng
        type_id = catalog.FAMILY_OBJECT_TYPE_ID[family]
        specs = [p for p in catalog.properties_for(type_id) if not p.sensitive]
        chosen = rng.sample(specs, k=min(len(specs), rng.randrange(3, 7)))
        object_id = str(rng.randrange(10**9, 10**12))
        created = now - rng.randrange(86_400_000, 400 * 86_400_000)
        props: dict[str, Any] = {
            "createdate": _iso(created),
            "hs_lastmodifieddate": _iso(now),
            "hs_object_id": object_id,
        }
        history: dict[str, Any] = {}
        source = rng.choice(_SOURCES)
        for spec in chosen:
            values = [self._value(spec) for _ in range(rng.randrange(1, 4))]
            props[spec.name] = values[0]
            history[spec.name] = [
                {
                    "value": v,
                    "timestamp": _iso(now - i * rng.randrange(60_000, 86_400_000)),
                    "sourceType": source,
                    "sourceId": None,
                }
                for i, v in enumerate(values)
            ]
        record: dict[str, Any] = {
            "id": object_id,
            "properties": props,
            "createdAt": _iso(created),
            "updatedAt": _iso(now),
            "archived": False,
        }
        if family == "contact":
            # Only contact workflows send property history (app-calls §2).
            record["propertiesWithHistory"] = history
        return record

    def _value(self, spec: catalog.PropertySpec) -> str:
        if spec.kind == "choice":
            return self._rng.choice(spec.choices)
        return self._rng.choice(self._pools[spec.kind])


def _iso(ms: int) -> str:
    """Epoch ms as the v3 APIs write instants: ``2026-01-01T00:00:00.000Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
