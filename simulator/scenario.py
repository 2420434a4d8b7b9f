"""
Scenario files: traffic described as data (TOML), loaded into plain dataclasses.

A scenario names the target, the app, the event mix, phases with their rates,
the retry profile and thresholds that decide the exit code; ``[receiver]``
configures the built-in receiver when the scenario runs against it. Every key
is documented in ``scenarios/README.md``.

:func:`load_scenario` reports every problem at once, each as
``file:line: key: message``, and never a traceback. It does no I/O beyond
reading the file and expanding ``${ENV_VAR}`` references.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from . import catalog, retry
from .errors import CatalogError, SimulatorError, UsageError
from .faults import Faults
from .thresholds import Threshold, parse_threshold

__all__ = ["App", "Phase", "Scenario", "ScenarioError", "Threshold", "load_scenario"]

_ENV_RE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ScenarioError(SimulatorError):
    """
    Raised when a scenario file cannot be used; lists every problem found.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Phase:
    """
    A stretch of traffic: how much (events or seconds) and how fast.

    ``rate`` is events/s (None: as fast as delivery allows). A ramp goes from
    ``rate`` to ``rate_to`` over the phase. A burst sends ``burst_events`` at
    once every ``burst_every_s``.
    """

    name: str
    events: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    rate_to: float | None = None
    burst_events: int | None = None
    burst_every_s: float | None = None
    receiver_down: bool = False

    @property
    def kind(self) -> str:
        """``burst``, ``ramp``, ``constant`` or ``unpaced``."""
        if self.burst_events is not None:
            return "burst"
        if self.rate_to is not None:
            return "ramp"
        return "constant" if self.rate is not None else "unpaced"


@dataclass(frozen=True, slots=True)
class App:
    """
    The HubSpot app whose deliveries the scenario simulates.
    """

    secret: str | None = None
    app_id: int | None = None
    max_concurrent_requests: int = 10
    name: str = ""
    weight: float = 1.0
    format: catalog.Format | None = None
    portals: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """
    A whole scenario, validated. Paths in messages refer to the source file.
    """

    name: str
    source: str
    phases: tuple[Phase, ...]
    description: str = ""
    target: str | None = None
    public_url: str | None = None
    app: App = field(default_factory=App)
    #: Every app (the first is ``app``); each gets its share of every phase.
    apps: tuple[App, ...] = ()
    format: catalog.Format = "classic"
    types: tuple[str, ...] = ()
    mix: Mapping[str, float] = field(default_factory=dict)
    #: family or objectTypeId -> the properties its propertyChange events name
    properties: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    object_types: tuple[str, ...] = ()
    portals: int = 1
    batch_size: int = catalog.MAX_BATCH_SIZE
    escape_unicode: bool = False
    distinct: int | None = None
    seed: int | None = None
    retry_profile: str = retry.DEFAULT_PROFILE
    time_scale: float = 1.0
    max_attempts: int | None = None
    timeout_s: float | None = None
    thresholds: tuple[Threshold, ...] = ()
    receiver: Faults = field(default_factory=Faults)

    @property
    def total_events(self) -> int | None:
        """Events over all phases, if every phase is counted in events."""
        if any(p.events is None for p in self.phases):
            return None
        return sum(p.events or 0 for p in self.phases)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def load_scenario(
    path: str | Path,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Scenario:
    """
    Read, override (``key.path=value``), validate. ScenarioError lists problems.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: not valid TOML: {exc}"]) from None
    lines = _key_lines(text)
    problems: list[str] = []
    for item in overrides:
        _apply_override(data, item, problems, str(path))
    checker = _Checker(str(path), lines, problems, os.environ if env is None else env)
    scenario = checker.scenario(data)
    if problems:
        raise ScenarioError(problems)
    assert scenario is not None
    return scenario


def _apply_override(
    data: dict[str, Any], item: str, problems: list[str], where: str
) -> None:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        problems.append(f"{where}: --set {item!r}: expected key.path=value")
        return
    try:
        value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word: take it as a string
    node: Any = data
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        index = re.fullmatch(r"(\w[\w-]*)\[(\d+)\]", part)
        if index:
            seq = node.get(index.group(1))
            pos = int(index.group(2))
            if not isinstance(seq, list) or pos >= len(seq):
                problems.append(f"{where}: --set {key}: no {'.'.join(parts[: i + 1])}")
                return
            node = seq[pos]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            problems.append(f"{where}: --set {key}: {part} is not a table")
            return
    node[parts[-1]] = value


def _key_lines(text: str) -> dict[str, int]:
    """
    Line numbers of tables and keys, by path (``phases[1].rate``).

    tomllib keeps no positions, so the file is scanned once more, line by line;
    good enough for the headers and ``key = value`` lines scenarios use.
    """
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", line):
            name = m.group(1)
            counts[name] = counts.get(name, -1) + 1
            table = f"{name}[{counts[name]}]"
            lines.setdefault(table, number)
        elif m := re.match(r"^\[\s*([^\]]+?)\s*\]", line):
            table = m.group(1)
            lines.setdefault(table, number)
        elif m := re.match(r'^("[^"]+"|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*=', line):
            key = m.group(1).strip('"')
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


_TOP_KEYS: Final = {
    "name", "description", "target", "public_url", "app", "apps", "format", "types",
    "mix", "object_types", "portals", "batch_size", "escape_unicode", "distinct",
    "seed", "retry_profile", "time_scale", "max_attempts", "timeout_s", "phases",
    "thresholds", "receiver", "properties",
}  # fmt: skip
_APP_KEYS: Final = {
    "secret", "app_id", "max_concurrent_requests", "name", "weight", "format",
    "portals",
}  # fmt: skip
_PHASE_KEYS: Final = {
    "name", "events", "duration_s", "rate", "rate_to", "burst_events", "burst_every_s",
    "receiver_down",
}  # fmt: skip
_RECEIVER_KEYS: Final = {
    "fail_rate", "fail_status", "latency_ms", "jitter_ms", "hang_rate", "reset_rate",
    "script", "retry_after", "seed",
}  # fmt: skip


_TYPE_NAMES: Final[dict[type, str]] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class _Checker:
    """Walks the parsed TOML, building a Scenario and collecting problems."""

    def __init__(
        self,
        file: str,
        lines: dict[str, int],
        problems: list[str],
        env: Mapping[str, str],
    ) -> None:
        self.file = file
        self.lines = lines
        self.problems = problems
        self.env = env

    def fail(self, key: str, message: str) -> None:
        line = self.lines.get(key)
        parent = key
        while line is None and ("." in parent or "[" in parent):
            parent = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", parent)
            line = self.lines.get(parent)
        where = f"{self.file}:{line}" if line else self.file
        self.problems.append(f"{where}: {key}: {message}")

    def unknown(self, table: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                if prefix and key in _TOP_KEYS:
                    # TOML puts keys after a [table] header inside that table.
                    hint = " (a top-level key: move it above the first [table])"
                else:
                    close = difflib.get_close_matches(key, sorted(allowed), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"{prefix}{key}", f"unknown key{hint}")

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        prefix: str,
        kind: type | tuple[type, ...],
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in table:
            return None
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(_TYPE_NAMES[k] for k in kinds)
            self.fail(f"{prefix}{key}", f"must be {names}, not {_show(value)}")
            return None
        if isinstance(value, str):
            value = self.expand(value, f"{prefix}{key}")
        if check is not None and value is not None:
            message = check(value)
            if message:
                self.fail(f"{prefix}{key}", message)
                return None
        return value

    def expand(self, value: str, key: str) -> str | None:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.env:
                missing.append(name)
                return ""
            return self.env[name]

        missing: list[str] = []
        out = _ENV_RE.sub(sub, value)
        if missing:
            self.fail(key, f"environment variable {missing[0]} is not set")
            return None
        return out

    def scenario(self, data: dict[str, Any]) -> Scenario | None:
        self.unknown(data, _TOP_KEYS, "")
        g = self.get
        name = g(data, "name", "", str) or Path(self.file).stem
        phases = self.phases(data)
        apps = self.apps(data)
        app = apps[0]
        fmt: catalog.Format = (
            "generic"
            if g(data, "format", "", str, _one_of("classic", "generic")) == "generic"
            else "classic"
        )
        types = tuple(g(data, "types", "", list, self.type_list("types")) or ())
        mix = self.mix(data)
        object_types = tuple(g(data, "object_types", "", list, _object_types) or ())
        profile = (
            g(data, "retry_profile", "", str, _one_of(*retry.PROFILES))
            or retry.DEFAULT_PROFILE
        )
        scenario = Scenario(
            name=name,
            source=self.file,
            phases=phases,
            description=g(data, "description", "", str) or "",
            target=g(data, "target", "", str, _url),
            public_url=g(data, "public_url", "", str, _url),
            app=app,
            apps=apps,
            format=fmt,
            types=types,
            mix=mix,
            properties=self.properties(data),
            object_types=object_types,
            portals=g(data, "portals", "", int, _between(1, 1024)) or 1,
            batch_size=g(data, "batch_size", "", int, _between(1, 100)) or 100,
            escape_unicode=bool(g(data, "escape_unicode", "", bool)),
            distinct=g(data, "distinct", "", int, _positive),
            seed=g(data, "seed", "", int),
            retry_profile=profile,
            time_scale=g(data, "time_scale", "", (int, float), _positive) or 1.0,
            max_attempts=g(data, "max_attempts", "", int, _positive),
            timeout_s=g(data, "timeout_s", "", (int, float), _positive),
            thresholds=self.thresholds(data),
            receiver=self.receiver(data),
        )
        if object_types and fmt != "generic":
            self.fail("object_types", 'needs format = "generic"')
        if fmt != "generic":
            for key in (*types, *mix):
                if key.startswith("object"):
                    where = "types" if key in types else f"mix.{key}"
                    self.fail(
                        where, f'{key} is a generic type: needs format = "generic"'
                    )
        return scenario

    def type_list(self, key: str) -> Callable[[Any], str | None]:
        def check(values: list[Any]) -> str | None:
            if not all(isinstance(v, str) for v in values):
                return "must be a list of strings"
            try:
                catalog.select_types(values)
            except CatalogError as exc:
                return str(exc)
            return None

        return check

    def apps(self, data: dict[str, Any]) -> tuple[App, ...]:
        if "apps" in data and "app" in data:
            self.fail("apps", "give [app] or [[apps]], not both")
        if "apps" not in data:
            return (self.one_app(data.get("app"), "app.", 0),)
        raw = data["apps"]
        if not isinstance(raw, list) or not raw:
            self.fail("apps", "must be a list of [[apps]] tables")
            return (App(),)
        apps = tuple(self.one_app(a, f"apps[{i}].", i) for i, a in enumerate(raw))
        ids = [a.app_id for a in apps if a.app_id is not None]
        if len(ids) != len(set(ids)):
            self.fail("apps", "two apps have the same app_id")
        return apps

    def one_app(self, raw: Any, prefix: str, index: int) -> App:
        if raw is None:
            return App()
        if not isinstance(raw, dict):
            self.fail(prefix.rstrip("."), "must be a table")
            return App()
        self.unknown(raw, _APP_KEYS, prefix)
        g = self.get
        concurrency = g(raw, "max_concurrent_requests", prefix, int, _positive)
        return App(
            secret=g(raw, "secret", prefix, str),
            app_id=g(raw, "app_id", prefix, int, _positive),
            max_concurrent_requests=concurrency or 10,
            name=g(raw, "name", prefix, str) or f"app {index + 1}",
            weight=float(g(raw, "weight", prefix, (int, float), _positive) or 1.0),
            format=g(raw, "format", prefix, str, _one_of("classic", "generic")),
            portals=g(raw, "portals", prefix, int, _between(1, 1024)),
        )

    def mix(self, data: dict[str, Any]) -> dict[str, float]:
        raw = data.get("mix")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail("mix", "must be a table of type = weight")
            return {}
        out: dict[str, float] = {}
        for key, weight in raw.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                self.fail(f"mix.{key}", f"weight must be a number, not {_show(weight)}")
                continue
            if weight <= 0:
                self.fail(f"mix.{key}", "weight must be more than 0")
                continue
            try:
                catalog.select_types([key])
            except CatalogError as exc:
                self.fail(f"mix.{key}", str(exc))
                continue
            out[key] = float(weight)
        return out

    def properties(self, data: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        raw = data.get("properties")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail("properties", 'must be a table like deal = ["dealstage"]')
            return {}
        out: dict[str, tuple[str, ...]] = {}
        families = {*catalog.FAMILY_OBJECT_TYPE_ID, "conversation"}
        for key, names in raw.items():
            known = key in families or key in catalog.OBJECT_TYPE_BY_ID
            if not known and not catalog.is_custom_object_type(key):
                self.fail(f"properties.{key}", "not a family or objectTypeId")
                continue
            if not (
                isinstance(names, list)
                and names
                and all(isinstance(n, str) and n for n in names)
            ):
                self.fail(f"properties.{key}", "must be a list of property names")
                continue
            out[key] = tuple(names)
        return out

    def phases(self, data: dict[str, Any]) -> tuple[Phase, ...]:
        raw = data.get("phases")
        if raw is None:
            self.fail("phases", "missing: add at least one [[phases]] table")
            return ()
        if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
            self.fail("phases", "must be [[phases]] tables")
            return ()
        out = []
        for i, table in enumerate(raw):
            prefix = f"phases[{i}]."
            self.unknown(table, _PHASE_KEYS, prefix)
            g = self.get
            phase = Phase(
                name=g(table, "name", prefix, str) or f"phase {i + 1}",
                events=g(table, "events", prefix, int, _positive),
                duration_s=g(table, "duration_s", prefix, (int, float), _positive),
                rate=g(table, "rate", prefix, (int, float), _positive),
                rate_to=g(table, "rate_to", prefix, (int, float), _positive),
                burst_events=g(table, "burst_events", prefix, int, _positive),
                burst_every_s=g(
                    table, "burst_every_s", prefix, (int, float), _positive
                ),
                receiver_down=bool(g(table, "receiver_down", prefix, bool)),
            )
            where = f"phases[{i}]"
            if (phase.events is None) == (phase.duration_s is None) and not (
                "events" in table or "duration_s" in table
            ):
                self.fail(where, "needs events = N or duration_s = S")
            elif "events" in table and "duration_s" in table:
                self.fail(where, "give events or duration_s, not both")
            if phase.rate_to is not None and phase.rate is None:
                self.fail(f"{where}.rate_to", "a ramp needs rate (its start) too")
            if (phase.burst_events is None) != (phase.burst_every_s is None):
                self.fail(where, "a burst needs both burst_events and burst_every_s")
            if phase.burst_events is not None and phase.rate is not None:
                self.fail(where, "give a rate or a burst, not both")
            if phase.duration_s is not None and phase.kind == "unpaced":
                self.fail(where, "a phase measured in seconds needs a rate or a burst")
            out.append(phase)
        return tuple(out)

    def thresholds(self, data: dict[str, Any]) -> tuple[Threshold, ...]:
        raw = data.get("thresholds")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail("thresholds", 'must be a list like ["p99_ms < 500"]')
            return ()
        out = []
        for item in raw:
            try:
                out.append(parse_threshold(item))
            except ValueError as exc:
                self.fail("thresholds", str(exc))
        return tuple(out)

    def receiver(self, data: dict[str, Any]) -> Faults:
        raw = data.get("receiver")
        if raw is None:
            return Faults()
        if not isinstance(raw, dict):
            self.fail("receiver", "must be a table")
            return Faults()
        self.unknown(raw, _RECEIVER_KEYS, "receiver.")
        values = {k: raw[k] for k in _RECEIVER_KEYS if k in raw}
        if "script" in values:
            values["script"] = tuple(values["script"])
        try:
            return Faults(**values)
        except (UsageError, TypeError) as exc:
            self.fail("receiver", str(exc).replace("--", "").replace("-", "_"))
            return Faults()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be more than 0, not {_show(value)}"


def _between(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be {low} to {high}, not {value}"

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(choices)}, not {value!r}"

    return check


def _url(value: str) -> str | None:
    if re.match(r"^https?://[^/\s]+", value):
        return None
    return f"{value!r} is not an http(s) URL"


def _object_types(values: list[Any]) -> str | None:
    for v in values:
        if not isinstance(v, str):
            return 'must be a list of objectTypeIds like "0-1"'
        try:
            catalog.check_object_type_id(v)
        except CatalogError as exc:
            return str(exc)
    return None
