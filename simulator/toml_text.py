"""
A scenario file as text: reading it within bounds, ``--set key.path=value``
overrides on the parsed TOML, and the line of every table and key, since
tomllib keeps no positions and messages name ``file:line: key``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Final

from .scenario import MAX_FILE_BYTES, ScenarioError


def read_text(path: Path) -> str:
    """A scenario file's text, within bounds; ScenarioError saying why not."""
    try:
        if path.is_dir():
            raise ScenarioError([f"{path}: is a folder, not a scenario file"])
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError([f"{path}: larger than 1 MiB; not a scenario file"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [f"{path}: not UTF-8 text (byte {exc.start + 1}); not a scenario file"]
        ) from None


_INDEXED: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\[(\d{1,4})\]")
_PLAIN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def apply_override(
    data: dict[str, Any], item: str, problems: list[str], where: str
) -> None:
    """``--set key.path=value``: a TOML value, or a bare word as a string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        problems.append(f"{where}: --set {item!r}: expected key.path=value")
        return
    try:
        value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word: take it as a string
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        indexed = _INDEXED.fullmatch(part)
        if indexed is None and _PLAIN.fullmatch(part) is None:
            problems.append(
                f"{where}: --set {key}: {part!r} is not a key or key[index]"
            )
            return
        if indexed:
            seq = node.get(indexed.group(1)) if isinstance(node, dict) else None
            pos = int(indexed.group(2))
            if not isinstance(seq, list) or pos >= len(seq):
                shown = ".".join(parts[: i + 1])
                problems.append(f"{where}: --set {key}: there is no {shown}")
                return
            if last:
                seq[pos] = value
                return
            node = seq[pos]
        elif last:
            node[part] = value
            return
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            problems.append(f"{where}: --set {key}: {part} is not a table")
            return


def key_lines(text: str) -> dict[str, int]:
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
