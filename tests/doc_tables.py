"""
The settings tables of scenarios/README.md, generated from the declarations so
the docs cannot drift from the code. ``python -m tests.doc_tables`` prints them;
tests/unit/test_settings.py checks the README holds exactly these rows.
"""

from __future__ import annotations

from simulator.answers import Behaviour
from simulator.declarations import declared, number_text
from simulator.executions import ActionOptions
from simulator.faults import Faults
from simulator.settings import SendSettings

#: Every class whose settings scenarios/README.md tabulates.
DOCUMENTED = (SendSettings, Faults, ActionOptions, Behaviour)

_KINDS = {"int": "integer", "float": "number", "bool": "boolean", "url": "URL"}


def _type(s, default) -> str:
    if s.kind == "choice":
        return " \\| ".join(f'`"{c}"`' for c in s.choices)
    if s.kind == "list":
        return "list of strings"
    if s.kind == "codes":
        return f"list of integers {number_text(s.low)}–{number_text(s.high)}"
    if s.kind == "str":
        return "string"
    name = _KINDS[s.kind]
    if s.low is not None and s.high is not None:
        return f"{name} {number_text(s.low)}–{number_text(s.high)}"
    return name


def _default(s, default) -> str:
    if default is None or default == ():
        return "—"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, str):
        return f'`"{default}"`'
    if isinstance(default, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in default) + "]`"
    return number_text(default)


def _text(help_text: str) -> str:
    return help_text.replace("*", "\\*").replace("|", "\\|")


def rows(cls: type) -> list[str]:
    """One Markdown row per declared setting: key, type, default, flag, help."""
    out = []
    for _, s, default in declared(cls):
        flag = s.negative_flag if isinstance(default, bool) and default else s.flag
        meaning = _text(s.help) + (" Also per app." if s.app else "")
        out.append(
            f"| `{s.key}` | {_type(s, default)} | {_default(s, default)} | "
            f"`{flag}` | {meaning} |"
        )
    return out


if __name__ == "__main__":
    for cls in DOCUMENTED:
        print("\n".join(rows(cls)), end="\n\n")
