"""
Verification of a receiver's CRM state against the state the delivered events
imply (:mod:`simulator.crm_state`): where a sync went wrong, by kind.

Pure: two record maps in, a :class:`Verification` out, and its JSON and
JUnit forms.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from xml.etree import ElementTree as ET

from .crm_state import Key, Record

#: Every kind of difference, in the order the summary lists them, with what
#: it usually means in an integrator's code.
KINDS: Final = {
    "missing-object": "a record HubSpot has is not in your store "
    "(a creation or change dropped, or applied to the wrong id)",
    "unexpected-object": "your store has a live record HubSpot never told you about",
    "wrong-value": "a property holds an older value (arrival order instead of "
    "occurredAt), or a cleared property kept its value",
    "should-be-deleted": "a deletion was lost, or an older restore won over it",
    "should-not-be-deleted": "a restore was lost, or an older deletion won over it",
    "merge-not-applied": "a merged-away id is still a record of its own",
    "privacy-data-retained": "a GDPR delete left personal data behind",
}


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the actual state differs from the expected one."""

    kind: str
    key: Key
    detail: str

    def to_json(self) -> dict[str, object]:
        portal, type_id, object_id = self.key
        return {
            "kind": self.kind,
            "portalId": portal,
            "objectTypeId": type_id,
            "objectId": object_id,
            "detail": self.detail,
        }

    def line(self) -> str:
        portal, type_id, object_id = self.key
        return f"{self.kind}: {type_id} {object_id} (portal {portal}): {self.detail}"


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome: every difference found, and what was compared."""

    expected: int
    actual: int
    differences: tuple[Difference, ...]

    @property
    def passed(self) -> bool:
        return not self.differences

    def counts(self) -> dict[str, int]:
        found = Counter(d.kind for d in self.differences)
        return {k: found[k] for k in KINDS if found[k]}

    def summary(self) -> str:
        if self.passed:
            return (
                f"state matches: {self.expected:,} expected records, "
                f"{self.actual:,} in yours"
            )
        parts = ", ".join(f"{n:,} {k}" for k, n in self.counts().items())
        n = len(self.differences)
        return f"{n:,} difference{'s' * (n != 1)}: {parts}"

    def to_json(self, limit: int) -> dict[str, object]:
        return {
            "schema_version": 1,
            "passed": self.passed,
            "expected_records": self.expected,
            "actual_records": self.actual,
            "counts": self.counts(),
            "differences": [d.to_json() for d in self.differences[:limit]],
        }

    def dumps(self, limit: int) -> str:
        return json.dumps(self.to_json(limit), indent=2) + "\n"

    def junit_xml(self, limit: int) -> str:
        """One testcase per kind of difference; failures list the first ones."""
        counts = self.counts()
        suite = ET.Element(
            "testsuite",
            name="hubsim verify-state",
            tests=str(len(KINDS)),
            failures=str(len(counts)),
            errors="0",
            skipped="0",
        )
        for kind, meaning in KINDS.items():
            case = ET.SubElement(
                suite, "testcase", classname="hubsim.verify_state", name=kind
            )
            if kind in counts:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=f"{counts[kind]:,} {kind}: {meaning}",
                    type="StateDifference",
                )
                failure.text = "\n".join(
                    d.line() for d in self.differences if d.kind == kind
                )[: 200 * limit]
        ET.indent(suite)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
            suite, encoding="unicode"
        )


def verify(
    expected: Mapping[Key, Record], actual: Mapping[Key, Record]
) -> Verification:
    """
    Every difference between the two states. A record your store dropped after
    HubSpot deleted it is fine; properties HubSpot never sent you (fetched from
    the API, say) are not compared; ``""`` and a missing property are the same.
    """
    diffs: list[Difference] = []
    for key, want in expected.items():
        have = actual.get(key)
        diffs.extend(_compare(key, want, have))
    for key, have in actual.items():
        if key not in expected and not have.deleted and have.merged_into is None:
            diffs.append(
                Difference("unexpected-object", key, "not in the expected state")
            )
    diffs.sort(key=lambda d: (list(KINDS).index(d.kind), d.key))
    return Verification(len(expected), len(actual), tuple(diffs))


def _compare(key: Key, want: Record, have: Record | None) -> list[Difference]:
    if want.merged_into is not None:
        if have is not None and have.merged_into != want.merged_into:
            return [
                Difference(
                    "merge-not-applied",
                    key,
                    f"merged into {want.merged_into}, yours has mergedInto "
                    f"{have.merged_into}",
                )
            ]
        return []
    if want.deleted:
        if have is None:
            return []
        if want.privacy_deleted:
            # Only what was set after the GDPR delete may remain.
            kept = sorted(
                k
                for k, v in have.properties.items()
                if v and not _same(want.properties.get(k, ""), v)
            )
            if kept:
                names = ", ".join(kept)
                return [
                    Difference("privacy-data-retained", key, f"still holds {names}")
                ]
        if not have.deleted:
            return [Difference("should-be-deleted", key, "deleted in HubSpot")]
        return []
    if have is None:
        shown = ", ".join(sorted(want.properties)) or "no properties"
        return [Difference("missing-object", key, f"expected with {shown}")]
    if have.deleted:
        return [Difference("should-not-be-deleted", key, "live in HubSpot")]
    out = []
    for name, value in sorted(want.properties.items()):
        got = have.properties.get(name, "")
        if not _same(value, got):
            out.append(
                Difference("wrong-value", key, f"{name} is {got!r}, expected {value!r}")
            )
    return out


def _same(want: str, got: str) -> bool:
    if want == got:
        return True
    # A store that keeps numbers as numbers: 1500 is HubSpot's "1500.00".
    try:
        return float(want) == float(got)
    except ValueError:
        return False
