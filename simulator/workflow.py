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

The body has no ``attemptNumber``: a retry re-sends the same bytes. Each record
carries a synthetic enrolment id in :class:`RenderedBlock` ``event_ids`` so the
ledger can account for it like an event.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any, Final

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


class WorkflowSource:
    """
    A seeded stream of workflow webhook bodies, one record per block.
    """

    def __init__(self, config: EventConfig) -> None:
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
        record = self._record(family, portal, now)
        if self.config.escape_unicode:
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

    def _value(self, spec: catalog.PropertySpec) -> str:
        if spec.kind == "choice":
            return self._rng.choice(spec.choices)
        return self._rng.choice(self._pools[spec.kind])
