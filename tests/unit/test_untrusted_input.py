"""
Generated junk fed to every reader of user input: the scenario loader (text and
TOML data), --set paths, saved reports and recordings. Each ends in its clear
error (ScenarioError, UsageError) or in success, never in any other
exception, and always quickly.
"""

from __future__ import annotations

import contextlib
import json
import time
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.errors import SimulatorError
from simulator.recording import read_recording
from simulator.saved import load_stats
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario_run import check_scenario

# Derandomized, with no example database: the same examples on every run, so
# CI cannot turn red on a draw; a new bug is found by raising max_examples.
QUICK = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Each example must finish well inside this (seconds).
BOUND_S = 5.0

KEYS = st.sampled_from(
    [
        "name", "seed", "events", "portals", "timeout_s", "time_scale", "rate",
        "format", "types", "mix", "phases", "app", "apps", "receiver", "thresholds",
        "batch_size", "distinct", "start_time", "max_concurrent_requests",
        "duration_s", "burst_events", "fail_rate", "script", "secret", "target",
        "properties", "object_types", "a[b", "", "phases[0]",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.booleans(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4)
    ),
    max_leaves=12,
)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items())
            + "}"
        )
    raise TypeError(v)


def _bounded(fn) -> None:
    t0 = time.monotonic()
    with contextlib.suppress(SimulatorError):
        fn()
    assert time.monotonic() - t0 < BOUND_S


def _load_and_build(text: str) -> None:
    """Load, then build what `run` would send: validate passing means run starts."""
    scenario = load_scenario("junk.toml", text=text, env={})
    check_scenario(scenario)


class TestScenarioLoader:
    @QUICK
    @given(st.text(max_size=400))
    def test_any_text(self, text):
        """Any text is a scenario or a ScenarioError."""

        _bounded(lambda: load_scenario("junk.toml", text=text, env={}))

    @QUICK
    @given(st.dictionaries(KEYS, VALUES, max_size=8), st.booleans())
    def test_any_toml_data(self, data, with_phase):
        """Any TOML document of plausible keys and junk values loads or is refused."""

        lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items()]
        if with_phase:
            lines.append("[[phases]]\nevents = 10")
        text = "\n".join(lines)
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return  # not TOML at all: covered by test_any_text
        _bounded(lambda: _load_and_build(text))

    @QUICK
    @given(st.lists(st.text(max_size=40), max_size=4))
    def test_any_set_paths(self, overrides):
        """Any --set item is applied or refused: no hang, no other exception."""

        _bounded(
            lambda: load_scenario(
                "s.toml", overrides, env={}, text="[[phases]]\nevents = 10\n"
            )
        )

    def test_errors_are_scenario_errors(self):
        """A sample of the refusals is a ScenarioError, not a bare UsageError."""

        for text in ("seed = nan\n[[phases]]\nevents = 1", "phases = 5"):
            try:
                load_scenario("x.toml", text=text, env={})
            except ScenarioError:
                continue
            raise AssertionError(text)


class TestSavedReports:
    @QUICK
    @given(VALUES)
    def test_any_json_document(self, tmp_path_factory, doc):
        """Any JSON as a saved report: read, or a UsageError naming the problem."""

        path = Path(tmp_path_factory.mktemp("r")) / "r.json"
        path.write_text(json.dumps({"schema_version": 2, "stats": doc}))
        _bounded(lambda: load_stats(str(path)))

    @QUICK
    @given(st.binary(max_size=300))
    def test_any_bytes(self, tmp_path_factory, raw):
        """Any bytes as a saved report: a UsageError, never a crash."""

        path = Path(tmp_path_factory.mktemp("r")) / "r.json"
        path.write_bytes(raw)
        _bounded(lambda: load_stats(str(path)))


class TestRecordings:
    @QUICK
    @given(st.lists(st.dictionaries(st.sampled_from(
        ["t", "url", "headers", "body", "body_base64", "encoding", "batch",
         "attemptNumber"]), VALUES, max_size=8), max_size=4))  # fmt: skip
    def test_any_lines(self, tmp_path_factory, lines):
        """Any JSON lines as a recording: read, or the line that is wrong."""

        path = Path(tmp_path_factory.mktemp("r")) / "rec.jsonl"
        path.write_text("\n".join(json.dumps(line) for line in lines))
        _bounded(lambda: read_recording(path))

    @QUICK
    @given(st.binary(max_size=300))
    def test_any_bytes(self, tmp_path_factory, raw):
        """Any bytes as a recording: a UsageError, never a crash."""

        path = Path(tmp_path_factory.mktemp("r")) / "rec.jsonl"
        path.write_bytes(raw)
        _bounded(lambda: read_recording(path))
