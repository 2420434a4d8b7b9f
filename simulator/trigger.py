"""
One request on demand, as ``stripe trigger`` sends one event: a webhook
batch of one event of a given type, a workflow record, or a custom action
execution, signed as HubSpot signs that kind, sent once, with both sides of
the exchange kept for printing.

``--test-button`` sends what the "Test" button on an app's Webhooks page
sends (app-calls §3): ``objectId`` 123, ``changeSource`` ``CRM``, a creation's
``changeFlag`` ``NEW``, a property change's ``propertyValue``
``sample-value``, and ``eventId`` 100 as private apps send it in 2024 (public
apps once sent 1: ``--set eventId=1``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from . import aio, catalog, transport
from .actions import DEFAULT, Definition, ExecutionSource
from .errors import UsageError
from .signing import ClientSecret, SignatureVersion, Signer, SigningOptions
from .source import EventConfig, EventSource
from .target import Target, preflight
from .transport import Answer
from .workflow import WORKFLOW_FAMILIES, WorkflowSource

#: What ``--test-button`` sends for every event (app-calls §3, CAPTURE T1).
TEST_BUTTON: Final = {"eventId": 100, "objectId": 123, "changeSource": "CRM"}
MAX_ATTEMPT: Final = 100


@dataclass(frozen=True, slots=True)
class TriggerOptions:
    """
    What to send: ``kind`` is a subscription type (``contact.creation``,
    ``object.propertyChange`` with ``format="generic"``), ``workflow.<object>``
    or ``action``.
    """

    kind: str
    url: str
    secret: ClientSecret
    public_url: str | None = None
    format: catalog.Format = "classic"
    #: ``field=value`` overrides of the generated event (dotted paths nest).
    overrides: tuple[tuple[str, Any], ...] = ()
    #: Send exactly these bytes (signed) instead of a generated body.
    body: bytes | None = None
    attempt: int = 0
    test_button: bool = False
    timeout_s: float = 10.0
    definition: Definition = DEFAULT
    seed: int | None = None
    object_type_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.attempt <= MAX_ATTEMPT:
            raise UsageError(f"--attempt must be 0 to {MAX_ATTEMPT}")
        batched = self.sender == "webhooks"
        if not batched and (self.attempt or self.test_button):
            flag = "--attempt" if self.attempt else "--test-button"
            raise UsageError(
                f"{flag} is for webhook events: {self.kind} has no attemptNumber"
            )
        if self.body is not None and (
            self.overrides or self.attempt or self.test_button
        ):
            raise UsageError(
                "--body sends the file as it is: edit it rather than combine it with "
                "--set, --attempt or --test-button"
            )
        if self.kind.startswith("workflow."):
            family = self.kind.partition(".")[2]
            if family not in WORKFLOW_FAMILIES:
                raise UsageError(
                    f"{self.kind}: a workflow enrols {', '.join(WORKFLOW_FAMILIES)}"
                )
        elif self.kind == "workflow":
            # The one TYPE that names a sender rather than an event.
            raise UsageError(
                f"TYPE workflow needs the record's object: workflow."
                f"{'|'.join(WORKFLOW_FAMILIES)}"
            )
        elif self.kind != "action":
            catalog.select_types([self.kind])

    @property
    def sender(self) -> str:
        """webhooks, workflow or action: who sends this kind, and how it signs."""
        if self.kind == "action":
            return "action"
        return "workflow" if self.kind.startswith("workflow.") else "webhooks"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    answer: Answer
    #: Response headers (when there was a response).
    response_headers: Mapping[str, str] = field(default_factory=dict)


def render(options: TriggerOptions) -> bytes:
    """The body ``options`` describe (pure; seeded by ``options.seed``)."""
    if options.body is not None:
        return options.body
    now = int(time.time() * 1000)
    if options.sender == "action":
        doc: Any = json.loads(
            ExecutionSource(options.definition, 1, options.seed).render().body
        )
        return _dumps(_override(doc, options.overrides))
    config = EventConfig(
        types=(options.kind.partition(".")[2],)
        if options.sender == "workflow"
        else (options.kind,),
        format=options.format,
        seed=options.seed,
        start_ms=now,
        object_type_ids=options.object_type_ids,
    )
    if options.sender == "workflow":
        doc = json.loads(WorkflowSource(config).render().body)
        return _dumps(_override(doc, options.overrides))
    source = EventSource(config)
    event = source.take(1)[0].to_dict(options.attempt)
    if options.test_button:
        event = _test_button(event)
    return _dumps([_override(event, options.overrides)])


def _test_button(event: dict[str, Any]) -> dict[str, Any]:
    out = {**event, **TEST_BUTTON}
    out.pop("sourceId", None)
    if "changeFlag" in out:
        out["changeFlag"] = "NEW"
    if "propertyValue" in out:
        out["propertyValue"] = "sample-value"
    return out


def _override(doc: Any, overrides: Sequence[tuple[str, Any]]) -> Any:
    for path, value in overrides:
        node = doc
        keys = path.split(".")
        for key in keys[:-1]:
            if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                raise UsageError(f"--set {path}: there is no object at {key!r}")
            node = node[key]
        node[keys[-1]] = value
    return doc


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def signing(options: TriggerOptions) -> SigningOptions:
    """How the kind's sender signs (spec §1.2; app-calls §1.2, §2)."""
    versions: tuple[SignatureVersion, ...]
    if options.sender == "webhooks":
        return SigningOptions(public_url=options.public_url)
    versions = ("v2", "v3") if options.sender == "action" else ("v2",)
    return SigningOptions(
        versions=versions,
        public_url=options.public_url,
        sender="automation",
        timeout_millis=30_000,
    )


def trigger(options: TriggerOptions, allow_remote: bool = False) -> Exchange:
    """Send one request and return both sides. Blocks."""
    target = Target.parse(options.url).check_allowed(allow_remote)
    body = render(options)
    signer = Signer(options.secret, target, signing(options))
    return aio.run(_send(target, signer, body, options.timeout_s))


async def _send(
    target: Target, signer: Signer, body: bytes, timeout_s: float
) -> Exchange:
    await preflight(target.url)
    headers = signer.headers(body, int(time.time() * 1000))
    async with transport.session(1, timeout_s) as session:
        answer = await transport.send(
            session, target.wire, body, headers, keep_body=True
        )
    return Exchange("POST", target.url, headers, body, answer, dict(answer.headers))
