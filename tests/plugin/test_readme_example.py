"""
The README's pytest example, as written, in a fresh project (pytester): it
passes under pytest-asyncio's default strict mode and in auto mode, and a
project that forgets hubspot_secret is told so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.contract import CHECK_IDS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"<!-- pytest-example: (\S+) -->\s*```python\n(.*?)```", re.S)


def readme_example() -> dict[str, str]:
    """The README's example files, by name."""
    found = dict(BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    assert {"conftest.py", "test_webhooks.py"} <= set(found)
    return found


def _project(pytester: pytest.Pytester, drop: str | None = None) -> None:
    files = readme_example()
    if drop is not None:
        text, n = re.subn(
            rf"@pytest.fixture\ndef {drop}\(\):\n    return [^\n]*\n?",
            "",
            files["conftest.py"],
        )
        assert 1 == n, "the README's conftest changed shape"
        files["conftest.py"] = text
    for name, text in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): text})
    pytester.makepyfile(myapp=(Path(__file__).parent / "myapp.py").read_text())


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_readme_example_passes(pytester, mode):
    """Every test of the README example passes, with no pytest configuration."""

    _project(pytester)
    result = pytester.runpytest_subprocess("-o", f"asyncio_mode={mode}", "-q")
    result.assert_outcomes(passed=1 + len(CHECK_IDS))


def test_default_mode_is_enough(pytester):
    """No -o, no ini file at all: the default mode runs every test."""

    _project(pytester)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1 + len(CHECK_IDS))


def test_forgotten_secret_is_named(pytester):
    """Without hubspot_secret the tests fail with a message that names it."""

    _project(pytester, drop="hubspot_secret")
    result = pytester.runpytest_subprocess("-q", "-k", "contact_creations")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `hubspot_secret` fixture*"])
