"""Recording and replay (issue 4): exact bytes, same order, fresh or kept signatures."""

from __future__ import annotations

import asyncio
import time

import pytest
from click.testing import CliRunner
from hubspot.utils.signature import Signature

from simulator.cli import ExitCode, cli
from simulator.receiver import STATS_KEY, Faults, ReceiverConfig
from simulator.recording import read_recording, select
from simulator.signing import ClientSecret

from ..conftest import SECRET, ThreadedReceiver

SIGNED = ("x-hubspot-signature", "x-hubspot-signature-version", "x-hubspot-signature-v3",
          "x-hubspot-request-timestamp", "user-agent", "content-type",
          "x-hubspot-timeout-millis")  # fmt: skip


def _record(runner, url, path, *extra):
    return runner.invoke(
        cli,
        ["send", url, "--secret", SECRET, "-q", "-n", "700", "--portals", "2",
         "--seed", "5", "--record", str(path), *extra],
    )  # fmt: skip


def _lower(headers):
    return {k.lower(): v for k, v in headers.items()}


class TestRecording:
    async def test_recording_has_every_request_and_no_secret(
        self, capture_factory, tmp_path
    ):
        """Each request is recorded with its exact body; the secret never is."""

        path = tmp_path / "rec.jsonl"
        async with capture_factory() as (cap, url):
            result = await _arun(_record, url, path)
        assert ExitCode.OK == result.exit_code, result.output
        recorded = read_recording(path)
        # Ten requests in flight arrive in any order: compare as multisets.
        assert sorted(r.body for r in recorded) == sorted(c.body for c in cap.requests)
        assert SECRET not in path.read_text()

    async def test_bodies_are_readable_json_and_edits_replay(
        self, capture_factory, tmp_path
    ):
        """A body is stored as JSON (events, not an escaped string); an edit replays."""

        import json

        path = tmp_path / "rec.jsonl"
        async with capture_factory() as (_, url):
            await _arun(_record, url, path)
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        assert all(isinstance(x["json"], list) for x in lines)
        assert all("eventId" in x["json"][0] for x in lines)
        lines[0]["json"][0]["objectId"] = 4242
        edited = tmp_path / "edited.jsonl"
        edited.write_text("".join(json.dumps(x) + "\n" for x in lines[:1]))
        async with capture_factory() as (cap, url):
            result = await _arun(
                lambda r: r.invoke(
                    cli, ["replay", str(edited), "--target", url, "-s", SECRET, "-q"]
                )
            )
        assert ExitCode.OK == result.exit_code, result.output
        sent = cap.requests[0]
        assert 4242 == json.loads(sent.body)[0]["objectId"]
        h = _lower(sent.headers)
        assert Signature.is_valid(
            h["x-hubspot-signature-v3"], SECRET, sent.body.decode(), http_uri=url,
            signature_version="v3", timestamp=h["x-hubspot-request-timestamp"],
        )  # fmt: skip

    async def test_seeded_runs_record_identically(self, capture_factory, tmp_path):
        """Same seed and start time: same bodies; only timestamps and v3 differ."""

        a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        async with capture_factory() as (_, url):
            for path in (a, b):
                await _arun(_record, url, path, "--start-time", "1767225600000")
        ra, rb = read_recording(a), read_recording(b)
        assert [r.body for r in ra] == [r.body for r in rb]
        for x, y in zip(ra, rb, strict=True):
            hx, hy = _lower(x.headers), _lower(y.headers)
            for volatile in ("x-hubspot-request-timestamp", "x-hubspot-signature-v3"):
                hx.pop(volatile)
                hy.pop(volatile)
            assert hx == hy


class TestReplay:
    async def test_keep_signatures_is_byte_identical(self, capture_factory, tmp_path):
        """--keep-signatures: same bodies and signed headers, in the same order."""

        path = tmp_path / "rec.jsonl"
        async with capture_factory() as (first, url):
            # One slot each way pins the order, so the lists compare as lists.
            await _arun(_record, url, path, "--max-concurrent", "1")
        async with capture_factory() as (second, url2):
            result = await _arun(
                lambda r, *_: r.invoke(
                    cli,
                    [
                        "replay",
                        str(path),
                        "--target",
                        url2,
                        "--keep-signatures",
                        "--speed",
                        "50",
                        "--max-concurrent",
                        "1",
                    ],
                )
            )
        assert ExitCode.OK == result.exit_code, result.output
        assert [c.body for c in first.requests] == [c.body for c in second.requests]
        for a, b in zip(first.requests, second.requests, strict=True):
            ha, hb = _lower(a.headers), _lower(b.headers)
            assert {k: ha[k] for k in SIGNED} == {k: hb[k] for k in SIGNED}

    async def test_resigned_replay_is_fresh_and_valid(self, capture_factory, tmp_path):
        """By default a replay re-signs for the new URL with a fresh timestamp."""

        path = tmp_path / "rec.jsonl"
        async with capture_factory() as (first, url):
            await _arun(_record, url, path)
        async with capture_factory() as (second, url2):
            before = int(time.time() * 1000)
            result = await _arun(
                lambda r, *_: r.invoke(
                    cli,
                    [
                        "replay",
                        str(path),
                        "--target",
                        url2,
                        "--secret",
                        SECRET,
                        "--speed",
                        "50",
                    ],
                )
            )
        assert ExitCode.OK == result.exit_code, result.output
        # Ten in flight: the same requests, in any order.
        assert sorted(c.body for c in first.requests) == sorted(
            c.body for c in second.requests
        )
        for c in second.requests:
            h = _lower(c.headers)
            assert int(h["x-hubspot-request-timestamp"]) >= before
            assert Signature.is_valid(
                h["x-hubspot-signature-v3"], SECRET, c.body.decode(), http_uri=url2,
                signature_version="v3", timestamp=h["x-hubspot-request-timestamp"],
            )  # fmt: skip

    async def test_filters_and_dry_run(self, capture_factory, tmp_path):
        """--types and --limit pick requests; --dry-run sends nothing."""

        path = tmp_path / "rec.jsonl"
        async with capture_factory() as (_, url):
            await _arun(_record, url, path)
        recorded = read_recording(path)
        deals = select(recorded, ["deal"])
        assert deals
        assert all(
            any(t.startswith("deal.") for t in r.subscription_types) for r in deals
        )
        assert 2 == len(select(recorded, limit=2))
        async with capture_factory() as (cap, url2):
            result = await _arun(
                lambda r, *_: r.invoke(
                    cli, ["replay", str(path), "--target", url2, "--dry-run"]
                )
            )
        assert 0 == result.exit_code
        assert "would go to" in result.output
        assert [] == cap.requests

    def test_bad_recording_line(self, tmp_path):
        """A file that is not a recording names the bad line."""

        path = tmp_path / "bad.jsonl"
        path.write_text('{"t": 0}\n')
        result = CliRunner().invoke(
            cli, ["replay", str(path), "--target", "http://127.0.0.1:1/x", "--dry-run"]
        )
        assert ExitCode.BAD_INPUT == result.exit_code
        assert f"{path}:1" in result.output


async def _arun(fn, *args):
    """Run a blocking CLI invocation off the loop, so the capture server answers."""
    return await asyncio.to_thread(fn, CliRunner(), *args)


class TestSlowReceiver:
    @pytest.mark.parametrize("keep", [False, True])
    def test_replay_against_a_slower_receiver(self, tmp_path, keep):
        """
        A recording replayed at --speed 1 to a receiver slower than the one it
        was recorded against: every event arrives once, no crash (the engine
        pulls the paced replay from one feeder, never from ten slots at once).
        """

        path = tmp_path / "rec.jsonl"
        with ThreadedReceiver(ReceiverConfig(secret=ClientSecret(SECRET))) as fast:
            recorded = CliRunner().invoke(
                cli,
                ["send", fast.url, "-s", SECRET, "-q", "-n", "3000", "--seed", "3",
                 "--record", str(path)],
            )  # fmt: skip
        assert ExitCode.OK == recorded.exit_code, recorded.output
        config = ReceiverConfig(
            secret=ClientSecret(SECRET), faults=Faults(latency_ms=50)
        )
        # The same URL, so kept v3 signatures (signed over it) still hold.
        with ThreadedReceiver(config, port=fast.port) as slow:
            extra = ["--keep-signatures"] if keep else ["--secret", SECRET]
            result = CliRunner().invoke(
                cli,
                ["replay", str(path), "--target", slow.url, "--speed", "1", *extra],
            )
            stats = slow.app[STATS_KEY] if slow.app is not None else None
        assert ExitCode.OK == result.exit_code, result.output
        assert "Traceback" not in result.output
        assert stats is not None
        assert 3000 == len(stats.seen)
        assert 0 == stats.duplicates
