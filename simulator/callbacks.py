"""
A local HubSpot callbacks API (spec ``hubspot-app-calls.md`` §1.4), served on
127.0.0.1 while an action run lasts, so an app that answered ``BLOCK`` can
complete its execution as it would on ``api.hubapi.com``:

==========================================================  =====================
``POST /automation/v4/actions/callbacks/{callbackId}/complete``   one execution
``POST /automation/v4/actions/callbacks/complete``                ``{"inputs":[…]}``
``POST /automation/actions/callbacks/2026-03/{callbackId}/complete``  2026-03
``POST /automation/actions/callbacks/2026-03/complete``           2026-03 batch
==========================================================  =====================

Every call needs ``Authorization: Bearer <token>`` (the one given, or any
non-empty one when none was). A pending blocked execution is completed with
204 and no body; anything else gets HubSpot's error envelope
``{status, message, correlationId, category, errors?}``. What status an
unknown, expired or already completed callbackId gets is not documented
(§6); :data:`DEFAULT_STATUSES` is hubsim's choice, and configurable.
"""

from __future__ import annotations

import enum
import hmac
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from .actions import Definition, check_outputs

#: Status codes for the undocumented cases (app-calls §6), by case.
DEFAULT_STATUSES: Final = {
    "unknown": 404,
    "expired": 409,
    "completed": 409,
    "unauthenticated": 401,
    "invalid": 400,
}
MAX_CALLBACK_BODY: Final = 1024 * 1024
MAX_BATCH: Final = 100


class Status(enum.Enum):
    """Where an execution is, as far as callbacks are concerned."""

    SENT = "sent"  # requested, no answer yet
    BLOCKED = "blocked"  # answered BLOCK: waiting for a callback
    COMPLETED = "completed"
    EXPIRED = "expired"
    DONE = "done"  # finished without blocking (success, failure)


@dataclass
class Waiting:
    """One execution the callbacks API knows of."""

    status: Status
    #: The run's monotonic time when it was blocked, and when it expires.
    blocked_at: float = 0.0
    deadline: float = 0.0
    outputs: Mapping[str, str] = field(default_factory=dict)
    #: A callback that came before the BLOCK answer was read (a fast app).
    early: Mapping[str, str] | None = None


class Registry:
    """
    Executions by callbackId, and what becomes of them. ``on_complete`` is
    told of each completion (callbackId, outputFields, monotonic time).
    """

    def __init__(
        self,
        definition: Definition,
        on_complete: Callable[[str, Mapping[str, str], float], None],
        now: Callable[[], float],
    ) -> None:
        self.definition = definition
        self.on_complete = on_complete
        self.now = now
        self.executions: dict[str, Waiting] = {}
        #: Calls by outcome: completed, unknown, expired, completed twice …
        self.calls: dict[str, int] = {}

    def sent(self, callback_id: str) -> None:
        """The execution was requested (retries keep its callbackId)."""
        self.executions.setdefault(callback_id, Waiting(Status.SENT))

    def finished(self, callback_id: str) -> None:
        """The execution ended without blocking."""
        self.executions[callback_id] = Waiting(Status.DONE)

    def block(self, callback_id: str, deadline: float) -> Mapping[str, str] | None:
        """
        The app answered BLOCK; it waits until ``deadline``. Returns the
        outputFields of a callback that already came, if one did.
        """
        now = self.now()
        entry = self.executions.get(callback_id) or Waiting(Status.SENT)
        early = entry.early
        self.executions[callback_id] = Waiting(Status.BLOCKED, now, deadline)
        if early is not None:
            self.executions[callback_id] = Waiting(
                Status.COMPLETED, now, deadline, early
            )
        return early

    def expire(self, callback_id: str) -> None:
        """The deadline passed with no callback."""
        entry = self.executions.get(callback_id)
        if entry is not None and entry.status is Status.BLOCKED:
            entry.status = Status.EXPIRED

    @property
    def blocked(self) -> list[tuple[str, float]]:
        """(callbackId, deadline) of every execution still waiting."""
        return [
            (cid, w.deadline)
            for cid, w in self.executions.items()
            if w.status is Status.BLOCKED
        ]

    def complete(self, callback_id: str, outputs: Mapping[str, str]) -> str | None:
        """
        Complete one execution: None when done, else the case for the error
        (``unknown``, ``expired``, ``completed``).
        """
        entry = self.executions.get(callback_id)
        if entry is None:
            return "unknown"
        if entry.status is Status.SENT:
            entry.early = dict(outputs)
            return None
        if entry.status is Status.BLOCKED:
            entry.status = Status.COMPLETED
            entry.outputs = dict(outputs)
            self.on_complete(callback_id, outputs, self.now())
            return None
        if entry.status is Status.EXPIRED:
            return "expired"
        if entry.status is Status.COMPLETED:
            return "completed"
        return "unknown"  # it never blocked, so there is nothing to complete

    def count(self, outcome: str) -> None:
        """Count one call by how it ended."""
        self.calls[outcome] = self.calls.get(outcome, 0) + 1


_MESSAGES: Final = {
    "unknown": "No pending action execution has callbackId {id}",
    "expired": "The action execution {id} expired before this callback",
    "completed": "The action execution {id} was already completed",
    "unauthenticated": "Authentication credentials not found or invalid: "
    "send Authorization: Bearer <token>",
    "invalid": "Invalid input for {id}",
}
_CATEGORIES: Final = {
    "unknown": "OBJECT_NOT_FOUND",
    "expired": "CONFLICT",
    "completed": "CONFLICT",
    "unauthenticated": "INVALID_AUTHENTICATION",
    "invalid": "VALIDATION_ERROR",
}


def envelope(case: str, callback_id: str, errors: Sequence[str] = ()) -> dict[str, Any]:
    """HubSpot's standard error body (SPEC S2)."""
    doc: dict[str, Any] = {
        "status": "error",
        "message": _MESSAGES[case].format(id=callback_id),
        "correlationId": str(uuid.uuid4()),
        "category": _CATEGORIES[case],
    }
    if errors:
        doc["errors"] = [{"message": e} for e in errors]
    return doc


def create_app(
    registry: Registry,
    token: str | None = None,
    statuses: Mapping[str, int] | None = None,
    require_typed: bool = False,
) -> web.Application:
    """The callbacks API as an aiohttp application."""
    codes = {**DEFAULT_STATUSES, **(statuses or {})}

    def fail(
        case: str, callback_id: str, errors: list[str] | None = None
    ) -> web.Response:
        registry.count(case)
        return web.json_response(
            envelope(case, callback_id, errors or []), status=codes[case]
        )

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value.strip() or not value.isascii():
            return False
        return token is None or hmac.compare_digest(value.strip(), token)

    def parse(
        item: object, callback_id: str
    ) -> tuple[Mapping[str, str] | None, list[str]]:
        if not isinstance(item, dict):
            return None, ["the body must be a JSON object"]
        outputs = item.get("outputFields")
        if not isinstance(outputs, dict):
            return None, ["outputFields is required (an object)"]
        bad = [k for k, v in outputs.items() if isinstance(v, dict | list) or v is None]
        if bad:
            return None, [f"outputFields.{bad[0]}: must be a string"]
        if require_typed and not isinstance(item.get("typedOutputs"), dict):
            return None, ["typedOutputs is required (current docs, §5.3)"]
        values = {
            str(k): v if isinstance(v, str) else json.dumps(v)
            for k, v in outputs.items()
        }
        problems = check_outputs(registry.definition, values, callback=True)
        return (None, problems) if problems else (values, [])

    async def read(request: web.Request) -> object:
        if request.content_length and request.content_length > MAX_CALLBACK_BODY:
            raise ValueError("too large")
        raw = await request.content.read(MAX_CALLBACK_BODY + 1)
        if len(raw) > MAX_CALLBACK_BODY:
            raise ValueError("too large")
        return json.loads(raw)

    async def one(request: web.Request) -> web.Response:
        callback_id = request.match_info["callback_id"]
        if not authorised(request):
            return fail("unauthenticated", callback_id)
        try:
            item = await read(request)
        except (ValueError, RecursionError):
            return fail("invalid", callback_id, ["the body is not JSON"])
        outputs, problems = parse(item, callback_id)
        if outputs is None:
            return fail("invalid", callback_id, problems)
        case = registry.complete(callback_id, outputs)
        if case is not None:
            return fail(case, callback_id)
        registry.count("completed")
        return web.Response(status=204)

    async def batch(request: web.Request) -> web.Response:
        if not authorised(request):
            return fail("unauthenticated", "")
        try:
            doc = await read(request)
        except (ValueError, RecursionError):
            return fail("invalid", "", ["the body is not JSON"])
        inputs = doc.get("inputs") if isinstance(doc, dict) else None
        if not isinstance(inputs, list) or not 0 < len(inputs) <= MAX_BATCH:
            return fail("invalid", "", [f"inputs must be a list of 1 to {MAX_BATCH}"])
        checked = []
        # All or nothing: every input is checked before any is applied.
        for i, item in enumerate(inputs):
            cid = item.get("callbackId") if isinstance(item, dict) else None
            if not isinstance(cid, str):
                return fail("invalid", "", [f"inputs[{i}].callbackId is required"])
            outputs, problems = parse(item, cid)
            if outputs is None:
                return fail("invalid", cid, [f"inputs[{i}]: {p}" for p in problems])
            entry = registry.executions.get(cid)
            if entry is None or entry.status not in (Status.BLOCKED, Status.SENT):
                case = {Status.EXPIRED: "expired", Status.COMPLETED: "completed"}.get(
                    entry.status if entry else Status.DONE, "unknown"
                )
                return fail(case, cid)
            checked.append((cid, outputs))
        for cid, outputs in checked:
            registry.complete(cid, outputs)
            registry.count("completed")
        return web.Response(status=204)

    app = web.Application(client_max_size=MAX_CALLBACK_BODY)
    for prefix in (
        "/automation/v4/actions/callbacks",
        "/automation/actions/callbacks/2026-03",
    ):
        app.router.add_post(prefix + "/complete", batch)
        app.router.add_post(prefix + "/{callback_id}/complete", one)
    return app
