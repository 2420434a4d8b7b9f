"""
The outcome of ``hubsim contract`` as files CI reads: JUnit XML with one
testcase per check, and the ``--json`` document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from .contract import CheckResult, verdict


def junit_xml(results: Sequence[CheckResult], url: str) -> str:
    """
    The results as JUnit XML: one testcase per check, failures with messages,
    informational checks as passing cases with their finding in system-out.
    """
    failures = sum(1 for r in results if r.failed)
    suite = ET.Element(
        "testsuite",
        name="hubsim contract",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="target", value=url)
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="hubsim.contract",
            name=r.id,
            time=f"{r.duration_s:.3f}",
        )
        detail = f"{r.statement}\nsent: {r.sent}\nexpected: {r.expected}\nsaw: {r.saw}"
        if r.failed:
            failure = ET.SubElement(
                case, "failure", message=r.message, type="ContractFailure"
            )
            failure.text = detail
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"{r.message}\n{detail}"
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        suite, encoding="unicode"
    )


def dumps(results: Sequence[CheckResult], url: str) -> str:
    """:func:`to_json` as the text ``--json`` writes."""
    return json.dumps(to_json(results, url), indent=2) + "\n"


def to_json(results: Sequence[CheckResult], url: str) -> dict[str, object]:
    """The results as a JSON document."""
    return {
        "schema_version": 1,
        "target": url,
        "passed": verdict(results),
        "checks": [
            {
                "id": r.id,
                "statement": r.statement,
                "required": r.required,
                "passed": r.passed,
                "message": r.message,
                "sent": r.sent,
                "expected": r.expected,
                "saw": r.saw,
                "duration_s": round(r.duration_s, 4),
                **(
                    {"diagnosis": r.diagnosis.to_json()}
                    if r.diagnosis is not None
                    else {}
                ),
            }
            for r in results
        ],
    }
