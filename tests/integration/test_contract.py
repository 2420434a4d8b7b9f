"""hubsim contract against hubsim's receiver and deliberately broken ones."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from aiohttp import web

from simulator.contract import CHECK_IDS, REQUIRED_IDS, ContractOptions, run_contract
from simulator.contract_report import junit_xml
from simulator.signing import ClientSecret, verify_v1, verify_v3

from ..conftest import SECRET, serve_app

REQUIRED = REQUIRED_IDS
ACCEPTS = tuple(c for c in REQUIRED if c.startswith(("accepts", "handles")))
REJECTS = tuple(c for c in REQUIRED if c.startswith("rejects"))


def _app(handler) -> web.Application:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    return app


async def _ok_if(check: bool) -> web.Response:
    return web.Response(status=204 if check else 401)


async def verifies_nothing(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


async def checks_v1_only(request: web.Request) -> web.Response:
    body = await request.read()
    sig = request.headers.get("X-HubSpot-Signature", "")
    return await _ok_if(verify_v1(SECRET, body, sig))


async def reserialises(request: web.Request) -> web.Response:
    # The classic bug: verify a re-serialised body instead of the raw bytes.
    data = json.loads(await request.read())
    again = json.dumps(data).encode()
    expected = hashlib.sha256(SECRET.encode() + again).hexdigest()
    sig = request.headers.get("X-HubSpot-Signature", "")
    return await _ok_if(hmac.compare_digest(expected, sig))


def _properly_signed(request: web.Request, body: bytes) -> bool:
    h = request.headers
    v3 = verify_v3(
        SECRET, "POST", str(request.url), body,
        h.get("X-HubSpot-Signature-v3", ""), h.get("X-HubSpot-Request-Timestamp", "0"),
        int(time.time() * 1000),
    )  # fmt: skip
    return v3 == "ok" and verify_v1(SECRET, body, h.get("X-HubSpot-Signature", ""))


async def crashes_on_unknown_types(request: web.Request) -> web.Response:
    body = await request.read()
    if not _properly_signed(request, body):
        return web.Response(status=401)
    for event in json.loads(body):
        if event["subscriptionType"].split(".")[0] not in (
            "contact",
            "deal",
            "company",
        ):
            raise RuntimeError("unexpected type")  # aiohttp answers 500
    return web.Response(status=204)


async def slow_but_correct(request: web.Request) -> web.Response:
    body = await request.read()
    await asyncio.sleep(0.3)
    return await _ok_if(_properly_signed(request, body))


async def _run(app: web.Application, **options) -> dict[str, bool | None]:
    options.setdefault("timeout_s", 2.0)
    async with serve_app(app) as server:
        results = await run_contract(
            ContractOptions(
                str(server.make_url("/hook")), ClientSecret(SECRET), **options
            )
        )
    return {r.id: r.passed for r in results}


def _failed(verdicts: dict[str, bool | None]) -> set[str]:
    return {k for k, v in verdicts.items() if v is False}


class TestContract:
    async def test_builtin_receiver_passes(self):
        """hubsim's own receiver passes every required check and enforces v1 and v3."""

        from simulator.receiver import ReceiverConfig, create_app

        verdicts = await _run(create_app(ReceiverConfig(secret=ClientSecret(SECRET))))
        assert set() == _failed(verdicts)
        assert verdicts["signature-versions"] is None

    @pytest.mark.parametrize(
        ("handler", "expected"),
        [
            (verifies_nothing, set(REJECTS)),
            (checks_v1_only, {"rejects-replay"}),
            (reserialises, set(ACCEPTS)),
            (crashes_on_unknown_types, {"accepts-every-type"}),
        ],
        ids=["verifies-nothing", "v1-only", "re-serialised-body", "crashes-on-types"],
    )
    async def test_broken_receivers_fail_exactly(self, handler, expected):
        """Each broken receiver fails exactly the checks that name its bug."""

        assert expected == _failed(await _run(_app(handler)))

    async def test_slow_receiver_times_out(self):
        """A receiver slower than the timeout fails every check that needs an answer."""

        verdicts = await _run(_app(slow_but_correct), timeout_s=0.15)
        assert set(REQUIRED) == _failed(verdicts)

    async def test_messages_name_the_bug(self):
        """Failures say what went wrong in words a developer recognises."""

        async with serve_app(_app(crashes_on_unknown_types)) as server:
            results = await run_contract(
                ContractOptions(str(server.make_url("/h")), ClientSecret(SECRET))
            )
        every = next(r for r in results if r.id == "accepts-every-type")
        assert every.message.startswith("crashed on ")
        async with serve_app(_app(checks_v1_only)) as server:
            results = await run_contract(
                ContractOptions(str(server.make_url("/h")), ClientSecret(SECRET),
                                only=("rejects-replay",))
            )  # fmt: skip
        assert "replay protection" in results[0].message

    async def test_reject_status_demanded(self):
        """--reject-status 403: a receiver answering 401 fails the rejects checks."""

        verdicts = await _run(_app(checks_v1_only), reject_statuses=frozenset({403}))
        assert set(REJECTS) <= _failed(verdicts)

    async def test_junit_xml_shape(self):
        """JUnit XML: one testcase per check, a failure element with a message."""

        async with serve_app(_app(checks_v1_only)) as server:
            url = str(server.make_url("/h"))
            results = await run_contract(ContractOptions(url, ClientSecret(SECRET)))
        root = ET.fromstring(junit_xml(results, url))
        assert "testsuite" == root.tag
        cases = root.findall("testcase")
        assert len(CHECK_IDS) == len(cases) == int(root.get("tests"))
        failures = [c for c in cases if c.find("failure") is not None]
        assert 1 == len(failures) == int(root.get("failures"))
        assert failures[0].get("name") == "rejects-replay"
        assert failures[0].find("failure").get("message")
        assert all(c.get("classname") and c.get("time") for c in cases)

    async def test_junit_xml_validates_against_schema(self):
        """The JUnit XML validates against the common JUnit layout (tests/data)."""

        import xmlschema

        schema = xmlschema.XMLSchema(
            str(Path(__file__).parents[1] / "data" / "junit.xsd")
        )
        for handler in (verifies_nothing, checks_v1_only):
            async with serve_app(_app(handler)) as server:
                url = str(server.make_url("/h"))
                results = await run_contract(ContractOptions(url, ClientSecret(SECRET)))
            schema.validate(junit_xml(results, url))
