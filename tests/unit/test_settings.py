"""Settings declared once: flags, scenario keys and ranges from one place (no I/O)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from simulator.bench import BenchOptions
from simulator.declarations import build, check, declared, parse_text
from simulator.errors import UsageError
from simulator.faults import Faults
from simulator.settings import SendSettings
from simulator.signing import ClientSecret

from ..doc_tables import DOCUMENTED, rows

KEY = ClientSecret("k")
README = (Path(__file__).parents[2] / "scenarios" / "README.md").read_text()


class TestDeclarations:
    @pytest.mark.parametrize("cls", [SendSettings, Faults, BenchOptions])
    def test_flags_are_unique_and_every_number_has_a_range(self, cls):
        """No two settings share a flag; every int and float setting is bounded."""

        flags = [s.flag for _, s, _ in declared(cls)]
        assert len(flags) == len(set(flags))
        for _, s, _ in declared(cls):
            if s.kind in ("int", "float", "codes"):
                assert s.low is not None, s.flag
                assert s.high is not None, s.flag

    @pytest.mark.parametrize("cls", DOCUMENTED)
    def test_every_key_is_documented(self, cls):
        """scenarios/README.md has each key's row exactly as declared."""

        for _, s, _ in declared(cls):
            assert s.key is not None, s.flag
        for row in rows(cls):
            assert row in README, f"regenerate with python -m tests.doc_tables: {row}"

    def test_no_stale_rows(self):
        """Every settings row in the README is a declared key (none left over)."""

        documented = {
            line
            for line in README.splitlines()
            if line.startswith("| `") and len(re.split(r"(?<!\\)\|", line)) == 7
        }
        assert {row for cls in DOCUMENTED for row in rows(cls)} == documented

    def test_send_flags_all_have_scenario_keys(self):
        """The keys the CLI and scenarios had drifted apart on now exist."""

        keys = {s.key for _, s, _ in declared(SendSettings)}
        assert {"connect_timeout_s", "retry_after_unit", "start_time"} <= keys


class TestCheck:
    @pytest.mark.parametrize(
        ("flag", "value", "words"),
        [
            ("--timeout", math.inf, "finite"),
            ("--time-scale", math.nan, "finite"),
            ("--max-concurrent", 100_000_000, "1 to 1,000"),
            ("--events", 2**63 - 1, "1 to 1,000,000,000"),
            ("--batch-size", 0, "1 to 100"),
            ("--start-time", -1, "must be 1 to"),
            ("--seed", "seven", "must be an integer"),
            ("--max-attempts", True, "must be an integer"),
            ("--retry-profile", "webhook", "one of webhooks"),
            ("--public-url", "http://u:pw@x/h", "user name or password"),
        ],
    )
    def test_bad_values_are_named(self, flag, value, words):
        """Out of range, non-finite and wrong-typed values are problems, with a reason."""

        s = next(s for _, s, _ in declared(SendSettings) if s.flag == flag)
        _, problem = check(s, value)
        assert problem is not None
        assert words in problem, problem
        assert "pw" not in problem

    def test_text_is_parsed_then_checked(self):
        """Command-line text becomes numbers and lists before the check."""

        values = {
            "events": parse_text(_setting("--events"), "300"),
            "types": parse_text(_setting("--types"), "deal, contact.creation"),
            "time_scale": parse_text(_setting("--time-scale"), "1440"),
        }
        settings = build(SendSettings, values, lambda s: s.flag)
        assert (300, ("deal", "contact.creation"), 1440.0) == (
            settings.events,
            settings.types,
            settings.time_scale,
        )

    def test_build_names_the_flag(self):
        """A bad value is one UsageError naming its flag."""

        with pytest.raises(UsageError, match="--portals: must be 1 to 1,024"):
            build(SendSettings, {"portals": 5000}, lambda s: s.flag)

    def test_to_options_builds_the_typed_tree(self):
        """Flat settings become the nested source, delivery and signing options."""

        settings = SendSettings(retry_profile="workflow", connect_timeout=1.5)
        options = settings.to_options("http://127.0.0.1:1/h", ClientSecret("k"))
        assert options.workflow
        assert 1.5 == options.delivery.connect_timeout_s
        assert 0.001 == options.delivery.retry.retry_after_unit_s
        assert ("v2",) == options.signing.versions
        assert 20.0 == options.rate

    def test_retry_after_unit_defaults_by_sender(self):
        """Workflows read Retry-After as ms (HubSpot's KB), webhooks as seconds."""

        def unit(**kw):
            options = SendSettings(**kw).to_options("http://127.0.0.1:1/h", KEY)
            return options.delivery.retry.retry_after_unit_s

        assert 1.0 == unit()
        assert 0.001 == unit(retry_profile="workflow")
        assert 1.0 == unit(retry_profile="workflow", retry_after_unit="s")
        assert 0.001 == unit(retry_after_unit="ms")


def _setting(flag):
    return next(s for _, s, _ in declared(SendSettings) if s.flag == flag)
