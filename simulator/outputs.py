"""
Outputs: every file a command writes, from one result, and the check that
they can be written, made before any work starts.

A run's reports (``--report``, ``--html``, ``--junit``, ``--markdown``) and the
files it streams while it runs (``--ledger``, ``--record``) are one
:class:`Outputs`. :meth:`Outputs.check` refuses, before the run, a missing
folder, a directory, an unwritable place, and two outputs sharing a path, so
a long run never ends in a traceback with its results lost.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from . import html_report, report
from .errors import UsageError
from .ledger import Ledger
from .result import RunResult, Verdict
from .settings import Files
from .stats import Stats
from .thresholds import Check

#: Each output's flag, for messages.
FLAGS = {
    "report_path": "--report",
    "html_path": "--html",
    "junit_path": "--junit",
    "markdown_path": "--markdown",
    "ledger_path": "--ledger",
    "record_path": "--record",
    "state_path": "--state-out",
    "json_path": "--json",
}


def check_paths(paths: Mapping[str, str | None]) -> None:
    """
    UsageError, naming the flag, unless every given path can be written: its
    folder exists, it is not a directory, it is writable, no two share a path.
    """
    seen: dict[str, str] = {}
    for flag, path in paths.items():
        if not path:
            continue
        p = Path(path)
        resolved = str(p.resolve())
        if resolved in seen:
            raise UsageError(f"{seen[resolved]} and {flag} both write {path}")
        seen[resolved] = flag
        if p.is_dir():
            raise UsageError(f"{flag} {path}: is a folder; give a file name")
        folder = p.parent if str(p.parent) else Path(".")
        if not folder.is_dir():
            raise UsageError(f"{flag} {path}: folder {folder} does not exist")
        if p.exists() and not os.access(p, os.W_OK):
            raise UsageError(f"{flag} {path}: not writable")
        if not p.exists() and not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {path}: cannot create files in {folder}")


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where a run's files go (None: not asked for)."""

    report_path: str | None = None
    html_path: str | None = None
    junit_path: str | None = None
    markdown_path: str | None = None
    ledger_path: str | None = None
    record_path: str | None = None
    state_path: str | None = None

    def check(self) -> Outputs:
        """Every path can be written (see :func:`check_paths`); self."""
        check_paths({FLAGS[f.name]: getattr(self, f.name) for f in fields(self)})
        return self

    @property
    def files(self) -> Files:
        """What the run itself streams (ledger, recording)."""
        return Files(self.ledger_path, self.record_path, self.state_path)


def write(
    result: RunResult,
    outputs: Outputs,
    checks: Sequence[Check],
    verdict: Verdict,
    name: str,
    extra: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """
    Every report asked for (``extra`` keys go into the JSON report, e.g. bench
    figures; ``notes`` are sentences the HTML report shows); (path, what) for
    each file written, the streamed ones included.
    """
    written: list[tuple[str, str]] = []
    if outputs.report_path:
        report.write_json(result, outputs.report_path, checks, extra)
        written.append((outputs.report_path, "JSON report"))
    if outputs.html_path:
        html_report.write_html(
            result, outputs.html_path, f"hubsim {name}", checks, notes
        )
        written.append((outputs.html_path, "HTML report"))
    if outputs.junit_path:
        write_text(outputs.junit_path, report.junit(result, checks, verdict, name))
        written.append((outputs.junit_path, "JUnit XML"))
    if outputs.markdown_path:
        with open(outputs.markdown_path, "a", encoding="utf-8") as out:
            out.write(report.markdown(result, checks, verdict, name))
        written.append((outputs.markdown_path, "Markdown summary, appended"))
    if outputs.ledger_path:
        written.append((outputs.ledger_path, "ledger"))
    if outputs.record_path:
        written.append((outputs.record_path, "recording"))
    if outputs.state_path:
        written.append((outputs.state_path, "expected CRM state"))
    return written


def write_stats(
    stats: Stats,
    title: str,
    json_path: str | None,
    html_path: str | None,
    ledger: Ledger | None = None,
) -> list[tuple[str, str]]:
    """Merged saved runs (``hubsim report``) as JSON and/or HTML."""
    written: list[tuple[str, str]] = []
    if json_path:
        doc: dict[str, Any] = {
            "schema_version": report.SCHEMA_VERSION,
            "stats": stats.to_json(),
        }
        if ledger is not None:
            doc["events"] = report.ledger_json(ledger)
        write_text(json_path, report.dumps(doc))
        written.append((json_path, "merged stats"))
    if html_path:
        write_text(html_path, html_report.to_html(stats, f"hubsim report: {title}"))
        written.append((html_path, "HTML report"))
    return written


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, whole."""
    Path(path).write_text(text, encoding="utf-8")
