"""
The request on the wire is the request that was signed (spec §5): for URLs
with escapes, dot segments and non-ASCII, every sender puts exactly the signed
path and query on the request line, as seen by a bare server that parses
nothing, and v1/v2/v3 validate over it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from hubspot.utils.signature import Signature

from simulator import bench
from simulator.cli import ExitCode, cli
from simulator.contract import ContractOptions, run_contract
from simulator.events import EventConfig
from simulator.pytest_plugin import HubSpotSender
from simulator.receiver import ReceiverConfig, ReceiverServer
from simulator.run import SendOptions, SendRun
from simulator.settings import SendSettings
from simulator.signing import ClientSecret, decode_v3_uri, verify_v1, verify_v3

from ..capture import raw_server
from ..conftest import SECRET

#: Path and query as given; each must arrive byte for byte.
GIVEN = [
    "/hook?email=jo%40example.com&next=https%3A%2F%2Fapp.example.com%2Fdone",
    "/hook?all=%21%24%27%28%29%2A%2C%3B%3A%2F%3F%40",
    "/hook%3Bv1/a%2Fb",
    "/p?q=%3a%2f%7e%41",
    "/a/../b?x=1",
    "/p?email=jo%7Eexample.com",
    "/p/caf%c3%a9?x=%c3%a9",
    "/p/zoë?city=東京",
]


def on_wire(given: str) -> bytes:
    """What the request line must carry: the given text; non-ASCII as UTF-8 escapes."""
    return quote(given, safe="".join(chr(c) for c in range(0x21, 0x7F))).encode()


def _v3_valid(base: str, request) -> bool:
    """v3 by spec §5 over the URL as it arrived (12 escapes decoded)."""
    url = base + request.target.decode("ascii")
    h = request.headers
    verdict = verify_v3(
        SECRET, request.method, url, request.body, h["x-hubspot-signature-v3"],
        h["x-hubspot-request-timestamp"], int(time.time() * 1000),
    )  # fmt: skip
    # HubSpot's SDK decodes nothing, so it is given the decoded URI (§5.1).
    sdk = Signature.is_valid(
        h["x-hubspot-signature-v3"], SECRET, request.body.decode(),
        http_uri=decode_v3_uri(url), signature_version="v3",
        timestamp=h["x-hubspot-request-timestamp"],
    )  # fmt: skip
    return verdict == "ok" and sdk


def _send_options(url: str, **kw) -> SendOptions:
    settings = SendSettings(events=kw.pop("events", 150), seed=3, **kw)
    return settings.to_options(url, ClientSecret(SECRET))


@pytest.mark.parametrize("given", GIVEN)
class TestEverySender:
    async def test_send(self, given):
        """send: the request target is the signed one; v1 and v3 validate over it."""

        async with raw_server() as (cap, base):
            result = await SendRun(_send_options(base + given)).execute()
        assert result.all_delivered
        assert cap.requests
        for r in cap.requests:
            assert on_wire(given) == r.target
            assert _v3_valid(base, r)
            assert verify_v1(SECRET, r.body, r.headers["x-hubspot-signature"])

    async def test_workflow_profile_v2(self, given):
        """The workflow profile's v2 signs the URL verbatim, as it went out."""

        async with raw_server() as (cap, base):
            opts = _send_options(base + given, events=3, retry_profile="workflow")
            result = await SendRun(opts).execute()
        assert result.all_delivered
        for r in cap.requests:
            assert on_wire(given) == r.target
            url = base + r.target.decode()
            assert Signature.is_valid(
                r.headers["x-hubspot-signature"], SECRET, r.body.decode(),
                http_uri=url, signature_version="v2",
            )  # fmt: skip

    async def test_contract(self, given):
        """contract's requests carry the exact target too."""

        async with raw_server() as (cap, base):
            [result] = await run_contract(
                ContractOptions(
                    base + given, ClientSecret(SECRET), only=("accepts-valid",)
                )
            )
        assert result.passed
        assert [on_wire(given)] == [r.target for r in cap.requests]
        assert _v3_valid(base, cap.requests[0])

    async def test_pytest_plugin(self, given):
        """The pytest plugin's sender, likewise."""

        async with raw_server() as (cap, base):
            sender = HubSpotSender(base + given, ClientSecret(SECRET))
            [answer] = await sender.send(types=["deal"], count=3)
        assert 204 == answer.status
        assert on_wire(given) == cap.requests[0].target
        assert _v3_valid(base, cap.requests[0])

    async def test_bench(self, given):
        """bench measures with the same engine: the same target on the wire."""

        async with raw_server() as (cap, base):
            opts = bench.BenchOptions(
                base + given, ClientSecret(SECRET), max_requests=3, distinct=300
            )
            await asyncio.to_thread(bench.measure, opts, 2)
        assert 3 == len(cap.requests)
        assert all(on_wire(given) == r.target for r in cap.requests)
        assert all(_v3_valid(base, r) for r in cap.requests)

    async def test_replay(self, given, tmp_path):
        """A re-signed replay to such a URL sends and signs that exact target."""

        path = tmp_path / "rec.jsonl"
        async with raw_server() as (_, base):
            await SendRun(
                SendOptions(
                    base + "/plain",
                    ClientSecret(SECRET),
                    events=200,
                    source=EventConfig(seed=1, start_ms=int(time.time() * 1000)),
                    record_path=str(path),
                )
            ).execute()
        async with raw_server() as (cap, base):
            result = await asyncio.to_thread(
                CliRunner().invoke,
                cli,
                ["replay", str(path), "--target", base + given, "-s", SECRET,
                 "--speed", "100"],
            )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert 2 == len(cap.requests)
        assert all(on_wire(given) == r.target for r in cap.requests)
        assert all(_v3_valid(base, r) for r in cap.requests)

    async def test_builtin_receiver_accepts(self, given):
        """hubsim's own receiver verifies the raw target and accepts every request."""

        server = ReceiverServer(ReceiverConfig(secret=ClientSecret(SECRET)))
        await server.start()
        try:
            url = f"http://127.0.0.1:{server.port}{given}"
            result = await SendRun(_send_options(url, events=300)).execute()
        finally:
            await server.close()
        assert result.all_delivered
        assert 0 == server.stats.signature_failures
        assert 300 == len(server.stats.seen)


LOCUST_SCRIPT = textwrap.dedent(
    """
    import sys
    from locust.env import Environment
    from simulator.locustfile import HubSpotWebhookUser

    HubSpotWebhookUser.host = sys.argv[1]
    env = Environment(user_classes=[HubSpotWebhookUser], host=sys.argv[1])
    user = HubSpotWebhookUser(env)
    user.on_start()
    user.deliver()
    user.deliver()
    """
)


@pytest.mark.parametrize("given", [GIVEN[0], GIVEN[3], GIVEN[-1]])
async def test_locust_user(given):
    """The Locust user posts the signed target too (Locust's own client)."""

    async with raw_server() as (cap, base):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCUST_SCRIPT, base,
            env={**os.environ, "HUBSPOT_CLIENT_SECRET": SECRET, "HUBSIM_PATH": given,
                 "HUBSIM_DISTINCT": "200"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert 0 == proc.returncode, (out + err).decode()
    assert 2 == len(cap.requests)
    assert all(on_wire(given) == r.target for r in cap.requests)
    assert all(_v3_valid(base, r) for r in cap.requests)
