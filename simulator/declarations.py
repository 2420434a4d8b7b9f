"""
Settings declared once: a setting is a dataclass field that carries its flag,
its scenario key, its range and its help (:func:`setting`). The CLI builds
its flags from these declarations and the scenario loader its keys, so a flag
and its key cannot drift apart, and every value, from a flag, a key or
``--set``, is checked by the one :func:`check` here before any work starts.

The send settings (:mod:`simulator.settings`), the receiver's faults
(:mod:`simulator.faults`), bench's options, ``hubsim action``'s options and
the built-in action endpoint's behaviour are all declared this way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Final, Literal, TypeVar

from .errors import TargetError, UsageError
from .target import Target

T = TypeVar("T")
Kind = Literal["int", "float", "bool", "str", "choice", "list", "codes", "url"]

#: A HubSpot client secret is a UUID: a value like one is never echoed.
SECRET_LIKE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


@dataclass(frozen=True, slots=True)
class Setting:
    """
    How one setting is spelled and bounded: ``--max-concurrent`` on the
    command line, ``max_concurrent_requests`` in a scenario, 1 to 1000.
    """

    flag: str
    key: str | None
    kind: Kind
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    short: str | None = None
    metavar: str | None = None
    #: Also accepted in a scenario's [app] / [[apps]] tables (per app).
    app: bool = False
    #: A flag that turns the setting off (``--no-preflight`` for preflight).
    negative_flag: str | None = None
    #: Extra check on the converted value: a message, or None when fine.
    extra: Callable[[Any], str | None] | None = None
    #: A file path: a scenario's relative value is relative to its folder.
    relative_path: bool = False

    def range_text(self) -> str:
        """``1 to 1,000`` (for help texts and docs)."""
        if self.low is None or self.high is None:
            return ""
        return f"{number_text(self.low)} to {number_text(self.high)}"


def number_text(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e20:
        return f"{int(x):,}"
    return f"{x:g}"


def setting(
    default: T,
    flag: str,
    key: str | None,
    kind: Kind,
    help: str,
    **more: Any,
) -> T:
    """
    A dataclass field declared as a setting (the field's type stays ``T``).
    """
    declared = Setting(flag, key, kind, help, **more)
    result: T = field(default=default, metadata={"setting": declared})
    return result


def declared(cls: type) -> Iterator[tuple[str, Setting, Any]]:
    """Every (field name, setting, default) a dataclass declares, in order."""
    for f in fields(cls):
        s = f.metadata.get("setting")
        if isinstance(s, Setting):
            default = None if f.default is MISSING else f.default
            yield f.name, s, default


def _show(value: object) -> str:
    if isinstance(value, str) and SECRET_LIKE.search(value):
        return "a value like a client secret (not shown)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check(s: Setting, value: object) -> tuple[Any, str | None]:
    """
    ``value`` converted to the setting's type, and a problem (None when it is
    fine). Non-finite numbers, out-of-range values, the wrong JSON type and
    unknown choices are problems; a list becomes a tuple.
    """
    problem: str | None = None
    out: Any = value
    if s.kind == "bool":
        if type(value) is not bool:
            problem = f"must be true or false, not {_show(value)}"
    elif s.kind == "int":
        if type(value) is not int:
            problem = f"must be an integer, not {_show(value)}"
        else:
            problem = _in_range(s, value)
    elif s.kind == "float":
        if type(value) not in (int, float):
            problem = f"must be a number, not {_show(value)}"
        else:
            out = float(value)  # type: ignore[arg-type]
            if not math.isfinite(out):
                problem = f"must be a finite number, not {value}"
            else:
                problem = _in_range(s, out)
    elif s.kind in ("str", "url", "choice"):
        if not isinstance(value, str):
            problem = f"must be a string, not {_show(value)}"
        elif s.kind == "choice" and value not in s.choices:
            problem = f"must be one of {', '.join(s.choices)}, not {_show(value)}"
        elif s.kind == "url":
            try:
                Target.parse(value, "URL")
            except TargetError as exc:
                problem = str(exc)
    elif s.kind == "list":
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            problem = f"must be a list of names, not {_show(value)}"
        else:
            out = tuple(v.strip() for v in value)
    elif s.kind == "codes":
        if not isinstance(value, list | tuple):
            problem = f"must be a list of HTTP statuses, not {_show(value)}"
        else:
            out = tuple(value)
            for code in out:
                if type(code) is not int:
                    problem = f"{_show(code)} is not an HTTP status"
                    break
                if (problem := _in_range(s, code)) is not None:
                    problem = f"{code} is not an HTTP status ({s.range_text()})"
                    break
    if problem is None and s.extra is not None:
        problem = s.extra(out)
    return out, problem


def parse_text(s: Setting, text: str) -> object:
    """
    A value as typed on the command line, before :func:`check`: numbers and
    comma-separated lists are converted; text that is not a number stays text
    so that check() names the problem.
    """
    text = text.strip()
    if s.kind == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if s.kind == "float":
        try:
            return float(text)
        except ValueError:
            return text
    if s.kind == "list":
        return [v for v in (p.strip() for p in text.split(",")) if v]
    if s.kind == "codes":
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            return text
    return text


def _in_range(s: Setting, value: float) -> str | None:
    if (s.low is not None and value < s.low) or (s.high is not None and value > s.high):
        return f"must be {s.range_text()}, not {number_text(value)}"
    return None


C = TypeVar("C")


def build(
    cls: type[C], values: Mapping[str, object], name: Callable[[Setting], str]
) -> C:
    """
    ``cls`` from raw ``values`` (by field name; None or absent: the default),
    each checked by its declaration; UsageError naming the first bad one by
    ``name`` (its flag, or its scenario key).
    """
    checked: dict[str, object] = {}
    for attr, s, _ in declared(cls):
        raw = values.get(attr)
        if raw is None:
            continue
        value, problem = check(s, raw)
        if problem is not None:
            raise UsageError(f"{name(s)}: {problem}")
        checked[attr] = value
    return construct(cls, checked)


def construct(cls: type[C], values: Mapping[str, object]) -> C:
    """
    ``cls`` from values already passed through :func:`check` (its
    ``__post_init__`` still runs the cross-field checks).
    """
    return cls(**values)


def validate(obj: object) -> None:
    """
    Check every declared field of a built dataclass (for code that builds one
    directly): UsageError naming the flag of the first bad value.
    """
    for attr, s, _ in declared(type(obj)):
        value = getattr(obj, attr)
        if value is None:
            continue
        _, problem = check(s, value)
        if problem is not None:
            raise UsageError(f"{s.flag}: {problem}")
