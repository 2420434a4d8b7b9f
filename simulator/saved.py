"""
Saved reports, read back: a ``--report`` file is untrusted input, so it is
checked against ``docs/report-schema.md`` (schema_version 2) before
:meth:`Stats.from_json` sees it. Every problem is a :class:`UsageError` that
names the file and the key, never an AttributeError half way through.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .errors import UsageError
from .ledger import Ledger
from .stats import Stats

SCHEMA_VERSION: Final = 2
#: A saved report larger than this is not one hubsim wrote (a day of
#: per-second series with histograms is a few tens of MB).
MAX_REPORT_BYTES: Final = 512 * 1024 * 1024
_MAX_COUNT: Final = 2**63 - 1

_COUNTERS: Final = (
    "requests", "ok_requests", "events_sent", "bytes_out", "scheduled_sends",
    "late_sends", "dropped_sends",
)  # fmt: skip
_HISTOGRAMS: Final = ("latency", "event_age", "intended_latency", "send_lag")
_HISTOGRAM_MAPS: Final = ("latency_by_attempt", "latency_by_outcome")
_COUNT_MAPS: Final = ("outcomes", "by_attempt", "family_events")


class _Problem(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")


def _count(value: object, key: str) -> None:
    if type(value) is not int or not 0 <= value <= _MAX_COUNT:
        raise _Problem(key, f"must be a non-negative integer, not {_short(value)}")


def _number(value: object, key: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
    ):
        raise _Problem(key, f"must be a finite number, not {_short(value)}")


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(key, f"must be an object, not {_short(value)}")
    return value


def _counts(value: object, key: str, int_keys: bool = False) -> None:
    for k, n in _table(value, key).items():
        if int_keys and not k.lstrip("-").isdigit():
            raise _Problem(f"{key}.{k}", "is not a whole-number key")
        _count(n, f"{key}.{k}")


def _histogram(value: object, key: str) -> None:
    table = _table(value, key)
    if "counts" in table:
        _counts(table["counts"], f"{key}.counts", int_keys=True)


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_stats(doc: object) -> None:
    """Raise _Problem for the first key of ``stats`` that is not as documented."""
    stats = _table(doc, "stats")
    for key in _COUNTERS:
        if key in stats:
            _count(stats[key], f"stats.{key}")
    for key in ("first_start", "last_end"):
        _number(stats.get(key), f"stats.{key}", optional=True)
    if "max_event_age_s" in stats:
        _number(stats["max_event_age_s"], "stats.max_event_age_s")
    for key in _COUNT_MAPS:
        if key in stats:
            _counts(stats[key], f"stats.{key}", int_keys=key == "by_attempt")
    for key in _HISTOGRAMS:
        if key in stats:
            _histogram(stats[key], f"stats.{key}")
    for key in _HISTOGRAM_MAPS:
        for k, h in _table(stats.get(key, {}), f"stats.{key}").items():
            if key == "latency_by_attempt" and not k.isdigit():
                raise _Problem(f"stats.{key}.{k}", "is not an attemptNumber")
            _histogram(h, f"stats.{key}.{k}")
    for k, part in _table(stats.get("by_app", {}), "stats.by_app").items():
        if not k.isdigit():
            raise _Problem(f"stats.by_app.{k}", "is not an app id")
        part = _table(part, f"stats.by_app.{k}")
        for c in ("requests", "events", "errors"):
            if c in part:
                _count(part[c], f"stats.by_app.{k}.{c}")
        _histogram(part.get("latency", {}), f"stats.by_app.{k}.latency")
    series = stats.get("series", [])
    if not isinstance(series, list):
        raise _Problem("stats.series", "must be a list")
    for i, item in enumerate(series):
        item = _table(item, f"stats.series[{i}]")
        if type(item.get("t")) is not int:
            raise _Problem(f"stats.series[{i}].t", "must be an epoch second")
        for c in ("requests", "events", "errors", "in_flight", "backlog"):
            if c in item:
                _count(item[c], f"stats.series[{i}].{c}")
        if "requests" not in item or "events" not in item or "errors" not in item:
            raise _Problem(f"stats.series[{i}]", "needs requests, events and errors")
        _histogram(item.get("latency", {}), f"stats.series[{i}].latency")


def load_stats(path: str) -> Stats:
    """
    The statistics of a saved report, checked; UsageError naming the file and
    the key otherwise (an unknown schema_version included).
    """
    return load_run(path)[0]


def load_run(path: str) -> tuple[Stats, Ledger | None]:
    """
    A saved report's statistics and, when it has them, its ledger's counts
    (every run's report does; merged stats files do not).
    """
    doc = _load(path)
    return Stats.from_json(doc["stats"]), _ledger(doc.get("events"), path)


def _ledger(events: Any, path: str) -> Ledger | None:
    if events is None:
        return None
    try:
        table = _table(events, "events")
        counts: dict[str, int] = {}
        for key in ("generated", "delivered", "gave_up", "pending"):
            _count(table.get(key), f"events.{key}")
            counts[key] = table[key]
        by_attempt = table.get("delivered_on_attempt", {})
        _counts(by_attempt, "events.delivered_on_attempt", int_keys=True)
        errors = table.get("gave_up_last_error", {})
        _counts(errors, "events.gave_up_last_error")
    except _Problem as exc:
        raise UsageError(f"{path}: {exc}") from None
    return Ledger.from_json(
        {
            "generated": counts["generated"],
            "outcomes": {
                "delivered": counts["delivered"],
                "gave_up": counts["gave_up"],
                "pending": counts["pending"],
            },
            "delivered_on_attempt": by_attempt,
            "gave_up_errors": errors,
        }
    )


def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        if p.is_dir():
            raise UsageError(f"{path}: is a folder, not a report")
        with p.open("rb") as f:
            raw = f.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror}") from None
    if len(raw) > MAX_REPORT_BYTES:
        raise UsageError(f"{path}: larger than 512 MiB; not a hubsim report")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; not a hubsim report") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise UsageError(f"{path}: not JSON{where}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not a hubsim report (expected a JSON object)")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: schema_version {_short(version)} is not {SCHEMA_VERSION}; "
            "hubsim reads reports written with --report by this version"
        )
    if "stats" not in doc:
        raise UsageError(f"{path}: no stats (histograms) to read")
    try:
        validate_stats(doc["stats"])
    except _Problem as exc:
        raise UsageError(f"{path}: {exc}") from None
    return doc
