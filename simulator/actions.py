"""
Custom workflow actions (spec ``hubspot-app-calls.md`` §1): the definition an
app registers, the execution requests HubSpot sends to its ``actionUrl``, and
what its answers mean.

- :class:`Definition` reads the same JSON the app registers with HubSpot
  (``actionUrl``, ``objectTypes``, ``inputFields`` with ``typeDefinition``,
  ``outputFields``, ``objectRequestOptions``, ``labels``); :data:`DEFAULT` is
  used without one.
- :class:`ExecutionSource` renders execution request bodies in the key order
  of the one raw capture (C1): ``callbackId, origin, context, object, fields,
  inputFields, typedInputs``, with input values generated per field type and
  seeded.
- :func:`read_reply` turns an answer into a :class:`Reply`: success, a
  failure that continues, or a block with its expiry (§1.3).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .errors import UsageError
from .pools import value_pools
from .wire import RenderedBlock

#: Object types a custom action can run on, and their objectTypeIds.
OBJECT_TYPES: Final = {
    "CONTACT": "0-1",
    "COMPANY": "0-2",
    "DEAL": "0-3",
    "TICKET": "0-5",
    "QUOTE": "0-14",
}
#: Input and output field types of a typeDefinition.
FIELD_TYPES: Final = (
    "string", "number", "bool", "enumeration", "date", "datetime",
    "phone_number", "object_coordinates",
)  # fmt: skip
#: When a blocked execution expires without a callback (§1.3: one week).
DEFAULT_EXPIRY_S: Final = 7 * 86_400.0
#: hs_expiration_duration longer than this is refused as a typo (a year).
MAX_EXPIRY_S: Final = 366 * 86_400.0
MAX_DEFINITION_BYTES: Final = 1024 * 1024

State = Literal["success", "fail_continue", "block"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input or output field of a definition."""

    name: str
    type: str = "string"
    options: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True, slots=True)
class Definition:
    """
    An action definition, as the app registered it with HubSpot. Only what an
    execution needs is kept.
    """

    action_url: str | None = None
    object_types: tuple[str, ...] = ("CONTACT",)
    inputs: tuple[FieldSpec, ...] = ()
    outputs: tuple[FieldSpec, ...] = ()
    properties: tuple[str, ...] = ()
    name: str = "custom action"
    definition_id: int | None = None
    version: int = 1

    def output(self, name: str) -> FieldSpec | None:
        """The declared output field called ``name``."""
        return next((f for f in self.outputs if f.name == name), None)

    @classmethod
    def from_json(cls, doc: object, where: str = "definition") -> Definition:
        """The definition in HubSpot's JSON; UsageError naming the bad key."""
        if not isinstance(doc, dict):
            raise UsageError(f"{where}: must be a JSON object")
        types = doc.get("objectTypes", ["CONTACT"])
        if not isinstance(types, list) or not types:
            raise UsageError(f"{where}: objectTypes must be a non-empty list")
        unknown = [t for t in types if t not in OBJECT_TYPES]
        if unknown:
            raise UsageError(
                f"{where}: objectTypes: {unknown[0]!r} is not one of "
                f"{', '.join(OBJECT_TYPES)}"
            )
        props = doc.get("objectRequestOptions", {}).get("properties", [])
        if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
            raise UsageError(f"{where}: objectRequestOptions.properties must be names")
        labels = doc.get("labels", {})
        label: object = (
            next(iter(labels.values()), {}) if isinstance(labels, dict) else {}
        )
        url = doc.get("actionUrl")
        if url is not None and not isinstance(url, str):
            raise UsageError(f"{where}: actionUrl must be a string")
        return cls(
            action_url=url,
            object_types=tuple(types),
            inputs=_fields(doc.get("inputFields", []), f"{where}: inputFields"),
            outputs=_fields(doc.get("outputFields", []), f"{where}: outputFields"),
            properties=tuple(props),
            name=str(label.get("actionName", "custom action"))
            if isinstance(label, dict)
            else "custom action",
            definition_id=_int_or_none(doc.get("id")),
            version=_int_or_none(doc.get("revisionId")) or 1,
        )


def _int_or_none(value: object) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _fields(raw: object, where: str) -> tuple[FieldSpec, ...]:
    if not isinstance(raw, list):
        raise UsageError(f"{where}: must be a list")
    out = []
    for i, item in enumerate(raw):
        td = item.get("typeDefinition") if isinstance(item, dict) else None
        if not isinstance(td, dict) or not isinstance(td.get("name"), str):
            raise UsageError(f"{where}[{i}]: needs a typeDefinition with a name")
        kind = td.get("type", "string")
        if kind not in FIELD_TYPES:
            raise UsageError(
                f"{where}[{i}].typeDefinition.type: {kind!r} is not one of "
                f"{', '.join(FIELD_TYPES)}"
            )
        options = tuple(
            str(o.get("value")) for o in td.get("options", []) if isinstance(o, dict)
        )
        if kind == "enumeration" and not options:
            raise UsageError(f"{where}[{i}]: an enumeration needs options")
        out.append(
            FieldSpec(td["name"], kind, options, bool(item.get("isRequired", False)))
        )
    return tuple(out)


def _opt(*values: str) -> list[dict[str, str]]:
    return [{"label": v.title(), "value": v} for v in values]


#: The definition used without --definition: a "send a message" action with
#: one input of each common type and two outputs.
DEFAULT_JSON: Final[dict[str, Any]] = {
    "actionUrl": "https://example.com/hubspot/actions/send-message",
    "objectTypes": ["CONTACT", "DEAL"],
    "inputFields": [
        {"typeDefinition": {"name": "message", "type": "string", "fieldType": "text"},
         "supportedValueTypes": ["STATIC_VALUE"], "isRequired": True},
        {"typeDefinition": {"name": "priority", "type": "enumeration",
                            "fieldType": "select",
                            "options": _opt("low", "normal", "high")},
         "supportedValueTypes": ["STATIC_VALUE"]},
        {"typeDefinition": {"name": "retries", "type": "number", "fieldType": "number"},
         "supportedValueTypes": ["STATIC_VALUE"]},
        {"typeDefinition": {"name": "notify_owner", "type": "bool",
                            "fieldType": "booleancheckbox"},
         "supportedValueTypes": ["STATIC_VALUE"]},
        {"typeDefinition": {"name": "send_at", "type": "datetime", "fieldType": "date"},
         "supportedValueTypes": ["OBJECT_PROPERTY", "STATIC_VALUE"]},
        {"typeDefinition": {"name": "phone", "type": "phone_number",
                            "fieldType": "phonenumber"},
         "supportedValueTypes": ["OBJECT_PROPERTY"]},
    ],
    "outputFields": [
        {"typeDefinition": {"name": "delivery_status", "type": "enumeration",
                            "options": _opt("sent", "queued", "failed")}},
        {"typeDefinition": {"name": "message_id", "type": "string"}},
    ],
    "objectRequestOptions": {"properties": ["email", "firstname"]},
    "labels": {"en": {"actionName": "Send a message"}},
}  # fmt: skip
DEFAULT: Final = Definition.from_json(DEFAULT_JSON)


def load_definition(path: str, where: str = "--definition") -> Definition:
    """A definition file; UsageError naming it (after ``where``) otherwise."""
    label = f"{where} {path}".strip()
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_DEFINITION_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{label}: is a folder, not a JSON file") from None
    except OSError as exc:
        raise UsageError(f"{label}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_DEFINITION_BYTES:
        raise UsageError(f"{label}: larger than 1 MiB")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UsageError(f"{label}: not a JSON document") from None
    return Definition.from_json(doc, label)


# ---------------------------------------------------------------------------
# Execution requests
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Execution:
    """What identifies one execution: HubSpot's callbackId parts."""

    portal_id: int
    enrollment_id: int
    action_id: int
    index: int
    workflow_id: int
    object_id: int
    object_type: str

    @property
    def callback_id(self) -> str:
        """``ap-{portalId}-{enrollmentId}-{actionId}-{actionExecutionIndex}`` (§1.1)."""
        return f"ap-{self.portal_id}-{self.enrollment_id}-{self.action_id}-{self.index}"


def execution_body(
    execution: Execution,
    definition_id: int,
    version: int,
    inputs: Mapping[str, str],
    properties: Mapping[str, str] | None = None,
    user_id: int | None = None,
    typed: bool = True,
) -> bytes:
    """
    The exact body HubSpot POSTs for one execution: compact JSON in the key
    order of the real capture (C1), raw UTF-8. ``properties`` go between
    ``objectId`` and ``objectType`` as in the docs' example.
    """
    index = {
        "enrollmentId": execution.enrollment_id,
        "actionExecutionIndex": execution.index,
    }
    obj: dict[str, Any] = {"objectId": execution.object_id}
    if properties:
        obj["properties"] = dict(properties)
    obj["objectType"] = execution.object_type
    doc: dict[str, Any] = {
        "callbackId": execution.callback_id,
        "origin": {
            "portalId": execution.portal_id,
            "userId": user_id,
            "actionDefinitionId": definition_id,
            "actionDefinitionVersion": version,
            "actionExecutionIndexIdentifier": index,
            "extensionDefinitionVersionId": version,
            "extensionDefinitionId": definition_id,
        },
        "context": {
            "workflowId": execution.workflow_id,
            "actionId": execution.action_id,
            "actionExecutionIndexIdentifier": index,
            "source": "WORKFLOWS",
        },
        "object": obj,
        "fields": dict(inputs),
        "inputFields": dict(inputs),
    }
    if typed:
        # Only "STRING" has been observed, even for numeric inputs (§1.1).
        doc["typedInputs"] = {
            k: {"value": v, "type": "STRING"} for k, v in inputs.items()
        }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


_PROPERTY_POOLS: Final = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "phone": "phone",
    "company": "company_name",
}


class ExecutionSource:
    """
    A seeded stream of execution requests for one definition, one per block
    (executions are not batched). The same seed gives the same bytes.
    """

    def __init__(
        self,
        definition: Definition,
        portals: int = 1,
        seed: int | None = None,
        app_id: int | None = None,
    ) -> None:
        rng = random.Random(seed)
        self._rng = rng
        self.definition = definition
        self.app_id = app_id or rng.randrange(1_000_000, 30_000_000)
        self.portal_ids = tuple(
            rng.randrange(20_000_000, 999_999_999) for _ in range(portals)
        )
        self.definition_id = definition.definition_id or rng.randrange(
            10_000_000, 300_000_000
        )
        self._workflows = {p: rng.randrange(10**9, 2 * 10**9) for p in self.portal_ids}
        self._enrollments = itertools.count(rng.randrange(10**12, 3 * 10**12))
        self._pools = value_pools()
        #: callbackId of each rendered execution, by its synthetic event id.
        self.callback_ids: dict[int, str] = {}
        self._seq = itertools.count(1)

    def prepare(self, batch_size: int = 1) -> None:
        """Nothing to pre-render."""

    def set_time(self, now_ms: int) -> None:
        """Execution bodies carry no time."""

    def render(self, count: int = 1) -> RenderedBlock:
        """The next execution's request body."""
        if count != 1:
            raise UsageError("custom action executions are sent one per request")
        rng = self._rng
        portal = rng.choice(self.portal_ids)
        object_type = rng.choice(self.definition.object_types)
        execution = Execution(
            portal_id=portal,
            enrollment_id=next(self._enrollments),
            action_id=1 + rng.randrange(5),
            index=0,
            workflow_id=self._workflows[portal],
            object_id=rng.randrange(10**10, 10**12),
            object_type=object_type,
        )
        inputs = {f.name: self.value(f) for f in self.definition.inputs}
        props = {p: self._property(p) for p in self.definition.properties}
        body = execution_body(
            execution, self.definition_id, self.definition.version, inputs, props
        )
        seq = next(self._seq)
        self.callback_ids[seq] = execution.callback_id
        return RenderedBlock(
            portal,
            body,
            (seq,),
            (0,),
            ((f"action.{object_type.lower()}", OBJECT_TYPES[object_type]),),
            array=False,
        )

    def value(self, spec: FieldSpec) -> str:
        """A realistic value for one input field, as the string HubSpot sends."""
        rng, pools = self._rng, self._pools
        if spec.type == "enumeration":
            return rng.choice(spec.options)
        if spec.type == "number":
            return str(rng.choice((0, 1, 2, 3, 5, 10, 25, 100, 995)))
        if spec.type == "bool":
            return rng.choice(("true", "false"))
        if spec.type in ("date", "datetime"):
            return rng.choice(pools["date_ms"])
        if spec.type == "phone_number":
            return rng.choice(pools["phone"])
        return rng.choice(pools["sentence"])

    def _property(self, name: str) -> str:
        kind = _PROPERTY_POOLS.get(name, "sentence")
        return self._rng.choice(self._pools[kind])


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reply:
    """What an app's 2xx answer to an execution means (§1.3)."""

    state: State
    output_fields: Mapping[str, str] = field(default_factory=dict)
    #: Seconds a blocked execution waits for its callback.
    expires_s: float = DEFAULT_EXPIRY_S
    #: Whether hs_execution_state was ASYNC (treated as BLOCK, see README).
    was_async: bool = False


def read_reply(body: bytes, async_means: State = "block") -> Reply:
    """
    A 2xx answer: ``outputFields.hs_execution_state`` decides (SUCCESS,
    FAIL_CONTINUE, BLOCK, ASYNC → ``async_means``); without one, or with a
    body that is not JSON, the execution succeeded (C4: HubSpot does not
    validate the body).
    """
    try:
        doc = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        doc = None
    outputs = doc.get("outputFields") if isinstance(doc, dict) else None
    if not isinstance(outputs, dict):
        return Reply("success")
    fields = {str(k): str(v) for k, v in outputs.items()}
    state = fields.get("hs_execution_state", "SUCCESS").upper()
    if state == "FAIL_CONTINUE":
        return Reply("fail_continue", fields)
    if state in ("BLOCK", "ASYNC"):
        expiry = parse_duration(fields.get("hs_expiration_duration"))
        reply_state: State = "block" if state == "BLOCK" else async_means
        return Reply(reply_state, fields, expiry, was_async=state == "ASYNC")
    return Reply("success", fields)


_STATES: Final = ("SUCCESS", "FAIL_CONTINUE", "BLOCK", "ASYNC")
_DURATION: Final = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | None) -> float:
    """
    An ISO-8601 duration (``P1WT1H``, ``P7DT12H``, ``PT15M``, ``PT90S``) in
    seconds; the default week when absent, malformed or beyond a year.
    """
    if not text:
        return DEFAULT_EXPIRY_S
    m = _DURATION.match(text.strip().upper())
    if m is None or text.strip().upper() in ("P", "PT"):
        return DEFAULT_EXPIRY_S
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    total = (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds
    return total if 0 < total <= MAX_EXPIRY_S else DEFAULT_EXPIRY_S


def is_duration(text: str) -> bool:
    """True for an ISO-8601 duration :func:`parse_duration` reads as given."""
    t = text.strip().upper()
    m = _DURATION.match(t)
    return m is not None and t not in ("P", "PT") and parse_duration(t) <= MAX_EXPIRY_S


def check_outputs(
    definition: Definition,
    outputs: Mapping[str, object],
    required: Sequence[str] = (),
    callback: bool = False,
) -> list[str]:
    """
    Problems with ``outputFields`` sent back for ``definition``: names it does
    not declare, values of the wrong type. The hs_* control fields are allowed;
    a ``callback`` completes with SUCCESS or FAIL_CONTINUE only.
    """
    problems: list[str] = []
    for name, value in outputs.items():
        if name in ("hs_execution_state", "hs_expiration_duration"):
            continue
        spec = definition.output(name)
        if spec is None:
            declared = ", ".join(f.name for f in definition.outputs) or "none"
            problems.append(f"{name}: not a declared output field ({declared})")
            continue
        problems += _type_problem(spec, value)
    state = outputs.get("hs_execution_state")
    allowed = ("SUCCESS", "FAIL_CONTINUE") if callback else _STATES
    if state is not None and str(state).upper() not in allowed:
        what = "a callback completes with" if callback else "it must be"
        problems.append(
            f"hs_execution_state: {what} {' or '.join(allowed)}, not {state!r}"
        )
    problems += [f"{name}: required" for name in required if name not in outputs]
    return problems


def _type_problem(spec: FieldSpec, value: object) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value)
    if spec.type == "enumeration" and text not in spec.options:
        return [f"{spec.name}: {text!r} is not one of {', '.join(spec.options)}"]
    if spec.type == "number":
        try:
            float(text)
        except ValueError:
            return [f"{spec.name}: {text!r} is not a number"]
    if spec.type == "bool" and text.lower() not in ("true", "false"):
        return [f"{spec.name}: {text!r} is not true or false"]
    return []
