"""
Reading a scenario file: TOML, ``--set key.path=value`` overrides, line numbers
for messages, and the checks of every key, each against its declaration.

:func:`load_scenario` reports every problem at once, each as
``file:line: key: message``, and never a traceback. It does no I/O beyond
reading the file and expanding ``${ENV_VAR}`` references. A value at a
``secret`` key is never shown in a message, nor anywhere it turns up.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from . import catalog
from .actions import load_definition
from .answers import Behaviour
from .declarations import SECRET_LIKE, Setting, check, construct, declared
from .errors import SimulatorError, UsageError
from .executions import ActionOptions
from .faults import Faults
from .pacing import Phase, phase_events
from .scenario import (
    MAX_APPS,
    MAX_PHASES,
    ActionPart,
    App,
    Scenario,
    ScenarioError,
)
from .settings import MAX_DURATION_S, MAX_EVENTS, MAX_RATE, SendSettings
from .thresholds import Threshold, parse_threshold
from .toml_text import apply_override, key_lines, read_text

_ENV_RE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def load_scenario(
    path: str | Path,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    text: str | None = None,
    secrets: Sequence[str] = (),
) -> Scenario:
    """
    Read (or take ``text``), override (``key.path=value``), validate.
    ScenarioError lists every problem; none shows a secret, the file's own or
    one in ``secrets``.
    """
    where = str(path)
    if text is None:
        text = read_text(Path(path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{where}: not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ScenarioError([f"{where}: not valid TOML: nested too deeply"]) from None
    lines = key_lines(text)
    problems: list[str] = []
    for item in overrides:
        apply_override(data, item, problems, where)
    checker = _Checker(where, lines, problems, os.environ if env is None else env)
    scenario = checker.scenario(data) if not problems else None
    if problems:
        hidden = [s for s in (*checker.secrets, *secrets) if len(s.strip()) >= 8]
        for secret in hidden:
            problems[:] = [p.replace(secret, "***") for p in problems]
        raise ScenarioError(problems)
    assert scenario is not None
    return scenario


#: Setting keys by scope, from the declarations.
_SEND_KEYS: Final = {
    s.key: (name, s) for name, s, _ in declared(SendSettings) if s.key is not None
}
_APP_SETTING_KEYS: Final = {k: v for k, v in _SEND_KEYS.items() if v[1].app}
_TOP_KEYS: Final = {
    "name", "description", "target", "app", "apps", "mix", "phases",
    "thresholds", "receiver", "properties", *_SEND_KEYS,
}  # fmt: skip
_APP_KEYS: Final = {"secret", "api_key", "name", "weight", *_APP_SETTING_KEYS}
#: Keys whose values are never shown.
_HIDDEN_KEYS: Final = frozenset({"secret", "api_key"})
_PHASE_KEYS: Final = {
    "name", "events", "duration_s", "rate", "rate_to", "burst_events", "burst_every_s",
    "receiver_down",
}  # fmt: skip
_RECEIVER_KEYS: Final = {
    s.key: (name, s) for name, s, _ in declared(Faults) if s.key is not None
}
_ACTION_TOP_KEYS: Final = {
    "name", "description", "target", "thresholds", "action", "action_app",
}  # fmt: skip
_ACTION_KEYS: Final = {
    s.key: (name, s) for name, s, _ in declared(ActionOptions) if s.key is not None
}
_ACTION_APP_KEYS: Final = {
    s.key: (name, s) for name, s, _ in declared(Behaviour) if s.key is not None
}

_TYPE_NAMES: Final[dict[type, str]] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _show(value: Any) -> str:
    if isinstance(value, str) and SECRET_LIKE.search(value):
        return "a value like a client secret (not shown)"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


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
        #: Values at secret keys: never shown, wherever they turn up.
        self.secrets: list[str] = []

    def fail(self, key: str, message: str) -> None:
        line = self.lines.get(key)
        parent = key
        while line is None:
            shorter = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", parent)
            if shorter == parent:
                break
            parent = shorter
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
        check_value: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in table:
            return None
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (
            isinstance(value, bool) and bool not in kinds
        )
        if ok and isinstance(value, float) and not math.isfinite(value):
            self.fail(f"{prefix}{key}", f"must be a finite number, not {value}")
            return None
        if not ok:
            names = " or ".join(_TYPE_NAMES[k] for k in kinds)
            shown = "another type" if key in _HIDDEN_KEYS else _show(value)
            self.fail(f"{prefix}{key}", f"must be {names}, not {shown}")
            return None
        if isinstance(value, str):
            value = self.expand(value, f"{prefix}{key}")
        if check_value is not None and value is not None:
            message = check_value(value)
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

    def settings(
        self,
        table: Mapping[str, Any],
        keys: Mapping[str, tuple[str, Setting]],
        prefix: str,
    ) -> dict[str, object]:
        """The declared settings present in ``table``, checked (by field name)."""
        out: dict[str, object] = {}
        for key, (attr, s) in keys.items():
            if key not in table:
                continue
            raw = table[key]
            if isinstance(raw, str):
                raw = self.expand(raw, f"{prefix}{key}")
                if raw is None:
                    continue
                if s.relative_path:
                    raw = self.relative(raw)
            value, problem = check(s, raw)
            if problem is not None:
                self.fail(f"{prefix}{key}", problem)
                continue
            out[attr] = value
        return out

    def relative(self, value: str) -> str:
        """A file named in the scenario, relative to the scenario's folder."""
        if value.lstrip().startswith(("{", "[")) or Path(value).is_absolute():
            return value
        return str(Path(self.file).parent / value)

    def build_settings(self, values: Mapping[str, object], where: str) -> SendSettings:
        try:
            return construct(SendSettings, values)
        except UsageError as exc:
            self.fail(where, str(exc))
            return SendSettings()

    def scenario(self, data: dict[str, Any]) -> Scenario | None:
        if "action" in data:
            return self.action_scenario(data)
        self.unknown(data, _TOP_KEYS, "")
        g = self.get
        name = g(data, "name", "", str) or Path(self.file).stem
        top = self.settings(data, _SEND_KEYS, "")
        if "object_types" in top and top.get("format") != "generic":
            self.fail("object_types", 'needs format = "generic"')
            top.pop("object_types")
        settings = self.build_settings(top, "settings")
        phases = self.phases(data, settings)
        apps = self.apps(data, top)
        mix = self.mix(data)
        generic = any(a.settings.format == "generic" for a in apps)
        if not generic:
            for key in (*settings.types, *mix):
                if key.startswith("object"):
                    where = "types" if key in settings.types else f"mix.{key}"
                    self.fail(
                        where, f'{key} is a generic type: needs format = "generic"'
                    )
        target = g(data, "target", "", str, _url)
        if target and any(p.receiver_down for p in phases):
            self.fail(
                "target", "receiver_down phases need the built-in receiver: no target"
            )
        return Scenario(
            name=name,
            source=self.file,
            phases=phases,
            description=g(data, "description", "", str) or "",
            target=target,
            apps=apps,
            settings=settings,
            mix=mix,
            properties=self.properties(data),
            thresholds=self.thresholds(data),
            receiver=self.receiver(data),
        )

    def apps(self, data: dict[str, Any], top: Mapping[str, object]) -> tuple[App, ...]:
        if "apps" in data and "app" in data:
            self.fail("apps", "give [app] or [[apps]], not both")
        if "apps" not in data:
            return (self.one_app(data.get("app"), "app.", 0, top),)
        raw = data["apps"]
        if not isinstance(raw, list) or not raw or len(raw) > MAX_APPS:
            self.fail("apps", f"must be 1 to {MAX_APPS} [[apps]] tables")
            return (App(),)
        apps = tuple(self.one_app(a, f"apps[{i}].", i, top) for i, a in enumerate(raw))
        ids = [a.settings.app_id for a in apps if a.settings.app_id is not None]
        if len(ids) != len(set(ids)):
            self.fail("apps", "two apps have the same app_id")
        return apps

    def one_app(
        self, raw: Any, prefix: str, index: int, top: Mapping[str, object]
    ) -> App:
        base = self.build_settings(top, "settings")
        if raw is None:
            return App(settings=base)
        if not isinstance(raw, dict):
            self.fail(prefix.rstrip("."), "must be a table")
            return App(settings=base)
        self.unknown(raw, _APP_KEYS, prefix)
        g = self.get
        secret = g(raw, "secret", prefix, str, _secret)
        if secret:
            self.secrets.append(secret)
        api_key = g(raw, "api_key", prefix, str, _api_key)
        if api_key:
            self.secrets.append(api_key)
        own = self.settings(raw, _APP_SETTING_KEYS, prefix)
        settings = self.build_settings({**top, **own}, prefix.rstrip("."))
        if api_key and settings.auth != "api-key":
            self.fail(f"{prefix}api_key", 'is sent only with auth = "api-key"')
        return App(
            name=g(raw, "name", prefix, str) or f"app {index + 1}",
            secret=secret,
            api_key=api_key,
            weight=float(g(raw, "weight", prefix, (int, float), _weight) or 1.0),
            settings=settings,
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
            if not (math.isfinite(weight) and 0 < weight <= 1e9):
                self.fail(f"mix.{key}", "weight must be more than 0 and finite")
                continue
            try:
                catalog.select_types([key])
            except SimulatorError as exc:
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
                and 0 < len(names) <= 256
                and all(isinstance(n, str) and _PROPERTY.fullmatch(n) for n in names)
            ):
                self.fail(f"properties.{key}", "must be a list of property names")
                continue
            out[key] = tuple(names)
        return out

    def phases(self, data: dict[str, Any], settings: SendSettings) -> tuple[Phase, ...]:
        raw = data.get("phases")
        if raw is None:
            if "events" in data:
                # A one-line scenario: `events = N`, sent as fast as possible.
                return (Phase("events", events=settings.events),)
            self.fail("phases", "missing: add at least one [[phases]] table")
            return ()
        if "events" in data:
            self.fail("events", "give events or [[phases]], not both")
        if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
            self.fail("phases", "must be [[phases]] tables")
            return ()
        if not raw or len(raw) > MAX_PHASES:
            self.fail("phases", f"must be 1 to {MAX_PHASES} [[phases]] tables")
            return ()
        out = [self.phase(i, table) for i, table in enumerate(raw)]
        if sum(phase_events(p) for p in out) > MAX_EVENTS:
            self.fail("phases", f"add up to more than {MAX_EVENTS:,} events")
        return tuple(out)

    def phase(self, i: int, table: dict[str, Any]) -> Phase:
        prefix = f"phases[{i}]."
        self.unknown(table, _PHASE_KEYS, prefix)
        g = self.get
        count = _between(1, MAX_EVENTS)
        rate = _between(1e-3, MAX_RATE)
        phase = Phase(
            name=g(table, "name", prefix, str) or f"phase {i + 1}",
            events=g(table, "events", prefix, int, count),
            duration_s=g(table, "duration_s", prefix, (int, float), _seconds),
            rate=g(table, "rate", prefix, (int, float), rate),
            rate_to=g(table, "rate_to", prefix, (int, float), rate),
            burst_events=g(table, "burst_events", prefix, int, count),
            burst_every_s=g(table, "burst_every_s", prefix, (int, float), _seconds),
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
        paced = any(k in table for k in ("rate", "burst_events", "burst_every_s"))
        if phase.duration_s is not None and not paced:
            self.fail(where, "a phase measured in seconds needs a rate or a burst")
        elif phase.events is not None or phase.duration_s is not None:
            try:
                if phase_events(phase) > MAX_EVENTS:
                    self.fail(where, f"makes more than {MAX_EVENTS:,} events")
            except (OverflowError, ValueError):
                self.fail(where, "its rate and duration make no event count")
        return phase

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

    def action_scenario(self, data: dict[str, Any]) -> Scenario:
        """A custom action scenario: [action], maybe [action_app], no phases."""
        for key in data:
            if key not in _ACTION_TOP_KEYS:
                self.fail(
                    key,
                    "not part of an [action] scenario, which runs custom action "
                    "executions rather than webhook traffic",
                )
        g = self.get
        raw = data["action"]
        if not isinstance(raw, dict):
            self.fail("action", "must be a table")
            raw = {}
        self.unknown(raw, {*_ACTION_KEYS, "definition", "api_token"}, "action.")
        values = self.settings(raw, _ACTION_KEYS, "action.")
        try:
            options = construct(ActionOptions, values)
        except UsageError as exc:
            self.fail("action", _key_names(str(exc)))
            options = ActionOptions()
        definition = g(raw, "definition", "action.", str)
        if definition:
            definition = self.relative(definition)
            try:
                load_definition(definition, "")
            except UsageError as exc:
                self.fail("action.definition", str(exc))
        token = g(raw, "api_token", "action.", str, _api_key)
        if token:
            self.secrets.append(token)
        target = g(data, "target", "", str, _url)
        if target and "action_app" in data:
            self.fail("action_app", "sets up the built-in action endpoint: no target")
        return Scenario(
            name=g(data, "name", "", str) or Path(self.file).stem,
            source=self.file,
            phases=(),
            description=g(data, "description", "", str) or "",
            target=target,
            thresholds=self.thresholds(data),
            action=ActionPart(options, definition, token, self.action_app(data)),
        )

    def action_app(self, data: dict[str, Any]) -> Behaviour:
        raw = data.get("action_app")
        if raw is None:
            return Behaviour()
        if not isinstance(raw, dict):
            self.fail("action_app", "must be a table")
            return Behaviour()
        self.unknown(raw, set(_ACTION_APP_KEYS), "action_app.")
        values = self.settings(raw, _ACTION_APP_KEYS, "action_app.")
        try:
            return construct(Behaviour, values)
        except UsageError as exc:
            self.fail("action_app", _key_names(str(exc)))
            return Behaviour()

    def receiver(self, data: dict[str, Any]) -> Faults:
        raw = data.get("receiver")
        if raw is None:
            return Faults()
        if not isinstance(raw, dict):
            self.fail("receiver", "must be a table")
            return Faults()
        self.unknown(raw, set(_RECEIVER_KEYS), "receiver.")
        values = self.settings(raw, _RECEIVER_KEYS, "receiver.")
        try:
            return construct(Faults, values)
        except UsageError as exc:
            self.fail("receiver", _key_names(str(exc)))
            return Faults()


_PROPERTY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


def _key_names(message: str) -> str:
    """A flag-worded message in key words: --fail-rate becomes fail_rate."""
    return re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"), message)


def _between(low: float, high: float) -> Callable[[float], str | None]:
    def check_value(value: float) -> str | None:
        if low <= value <= high:
            return None
        if value <= 0 < low:
            return f"must be more than 0, not {_show(value)}"
        return f"must be {low:,g} to {high:,g}, not {value:,g}"

    return check_value


def _seconds(value: float) -> str | None:
    return _between(1e-3, MAX_DURATION_S)(value)


def _weight(value: float) -> str | None:
    return _between(1e-9, 1e9)(value)


def _api_key(value: str) -> str | None:
    if not value.strip():
        return "is empty"
    if not value.isprintable() or len(value) > 4096:
        return "must be printable text of at most 4,096 characters"
    return None


def _secret(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _url(value: str) -> str | None:
    from .target import Target

    try:
        Target.parse(value, "URL")
    except SimulatorError as exc:
        return str(exc)
    return None
