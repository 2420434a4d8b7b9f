"""
What the built-in receiver saw: counts, and every accepted eventId in a
compressed integer set (pyroaring's ``BitMap64``; HubSpot's ids are dense),
so distinct events are exact in bounded memory and several receiver
processes merge exactly (``--workers``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from pyroaring import BitMap64

#: Distinct subscriptionTypes kept apart in /stats (HubSpot has about 50).
_MAX_TYPES: Final = 256


@dataclass
class ReceiverStats:
    """
    What the receiver saw. ``distinct_events`` proves end-to-end delivery.
    """

    requests: int = 0
    accepted_requests: int = 0
    events: int = 0
    duplicates: int = 0
    signature_failures: int = 0
    stale_timestamps: int = 0
    bad_requests: int = 0
    too_large: int = 0
    injected_failures: int = 0
    hangs: int = 0
    resets: int = 0
    timed_out_bodies: int = 0
    #: Events appended to the --save file since the start: DELETE /stats
    #: leaves it, as it leaves the file.
    saved: int = 0
    by_attempt: Counter[int] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    #: Every eventId accepted (workflow records: a hash of the body).
    seen: BitMap64 = field(default_factory=BitMap64)
    #: Workflow records that arrived (accepted or not), and those that came
    #: more than once with how often: their attemptNumber (retries only).
    arrived: BitMap64 = field(default_factory=BitMap64)
    repeats: dict[int, int] = field(default_factory=dict)

    def count_type(self, name: str, n: int = 1) -> None:
        """Count events of a type; past a few hundred names, as "other"."""
        if name not in self.by_type and len(self.by_type) >= _MAX_TYPES:
            name = "other"
        self.by_type[name] += n

    def count_types(self, names: list[str]) -> None:
        """Count one event per name (a batch's subscriptionTypes)."""
        if len(self.by_type) + len(names) <= _MAX_TYPES:
            # Room for every name even if all are new: Counter's C loop.
            self.by_type.update(names)
            return
        for name, n in Counter(names).items():
            self.count_type(name, n)

    def clear(self) -> None:
        """
        Forget everything (``DELETE /stats``), e.g. between two runs.
        """
        fresh = ReceiverStats(saved=self.saved)
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def to_wire(self) -> dict[str, Any]:
        """Everything, ids included, for another process to merge exactly."""
        doc = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("seen", "arrived", "repeats")
        }
        doc["seen"] = self.seen.serialize()
        doc["arrived"] = self.arrived.serialize()
        doc["repeats"] = dict(self.repeats)
        return doc

    def merge_wire(self, doc: dict[str, Any]) -> None:
        """Add another process's :meth:`to_wire`: ids as a union, so exact."""
        for name in self.__dataclass_fields__:
            value = doc[name]
            if name in ("seen", "arrived"):
                getattr(self, name).update(BitMap64.deserialize(value))
            elif name == "repeats":
                for k, n in value.items():
                    self.repeats[k] = max(self.repeats.get(k, 0), n)
            elif name in ("by_attempt", "by_type"):
                getattr(self, name).update(value)
            elif name != "duplicates":
                setattr(self, name, getattr(self, name) + value)
        # An event twice, once at each of two workers, is a duplicate too.
        self.duplicates = self.events - len(self.seen)

    def to_json(self) -> dict[str, Any]:
        """
        The ``/stats`` document.
        """
        return {
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "events": self.events,
            "distinct_events": len(self.seen),
            "duplicates": self.duplicates,
            "signature_failures": self.signature_failures,
            "stale_timestamps": self.stale_timestamps,
            "bad_requests": self.bad_requests,
            "too_large": self.too_large,
            "timed_out_bodies": self.timed_out_bodies,
            "injected_failures": self.injected_failures,
            "hangs": self.hangs,
            "resets": self.resets,
            "saved_events": self.saved,
            "by_attempt": {str(k): v for k, v in sorted(self.by_attempt.items())},
            "by_type": dict(self.by_type.most_common()),
        }
