"""
The shipped scenarios: the repository's ``scenarios/`` folder, installed as
the package data ``simulator.scenarios`` (one copy, mapped by setuptools), so
``hubsim run quickstart`` works from any directory after ``pipx install``.

A name (``quickstart`` or ``quickstart.toml``) finds a shipped scenario; a
path that exists is read as a file and always wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from .scenario import MAX_FILE_BYTES, ScenarioError

#: The checkout's folder, when running from a clone without installing.
_CHECKOUT: Final = Path(__file__).resolve().parents[1] / "scenarios"


@dataclass(frozen=True, slots=True)
class Shipped:
    """One shipped scenario: its name, its one-line description, its text."""

    name: str
    description: str
    text: str


def _folder() -> Traversable | None:
    try:
        folder = resources.files("simulator.scenarios")
    except ModuleNotFoundError:
        folder = None
    if (
        folder is not None
        and folder.is_dir()
        and any(f.name.endswith(".toml") for f in folder.iterdir())
    ):
        return folder
    return _CHECKOUT if _CHECKOUT.is_dir() else None


def shipped() -> list[Shipped]:
    """Every shipped scenario, by name."""
    folder = _folder()
    if folder is None:
        return []
    out = []
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if f.name.endswith(".toml"):
            text = f.read_text(encoding="utf-8")
            out.append(Shipped(f.name.removesuffix(".toml"), _description(text), text))
    return out


def _description(text: str) -> str:
    m = re.search(r'^description\s*=\s*"(.*)"\s*$', text, re.MULTILINE)
    return m.group(1) if m else ""


def find(name: str) -> Shipped | None:
    """The shipped scenario called ``name`` (``.toml`` optional), if any."""
    wanted = Path(name).name.removesuffix(".toml") if "/" not in name else None
    if wanted is None:
        return None
    return next((s for s in shipped() if s.name == wanted), None)


def resolve(name_or_path: str) -> tuple[str, str]:
    """
    (where, text) of a scenario given as a path that exists or a shipped
    name; ScenarioError listing the shipped names otherwise.
    """
    path = Path(name_or_path)
    if path.is_file():
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError([f"{path}: larger than 1 MiB; not a scenario file"])
        try:
            return str(path), raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(
                [f"{path}: not UTF-8 text (byte {exc.start + 1}); not a scenario file"]
            ) from None
    found = find(name_or_path)
    if found is not None:
        return f"{found.name} (shipped)", found.text
    if path.is_dir():
        raise ScenarioError([f"{path}: is a folder, not a scenario file"])
    names = ", ".join(s.name for s in shipped()) or "none installed"
    raise ScenarioError(
        [
            f"{name_or_path}: no such file, and not a shipped scenario "
            f"(`hubsim scenarios` lists them: {names})"
        ]
    )
