"""
Contract diagnosis against receivers with the common signature bugs
(tests/buggy_receivers.py): the verdict names each bug in plain words.
"""

from __future__ import annotations

import json

import pytest

from simulator import contract_report
from simulator.contract import ContractOptions, run_contract
from simulator.signing import ClientSecret

from .. import buggy_receivers as bug
from ..conftest import SECRET, serve_app

PUBLIC = "https://hooks.example.com/hubspot"


async def _contract(reading, public_url=None, only=()):
    async with serve_app(bug.app(SECRET, reading)) as server:
        options = ContractOptions(
            str(server.make_url("/hubspot")),
            ClientSecret(SECRET),
            public_url=public_url,
            only=only,
        )
        return await run_contract(options)


def _by_id(results):
    return {r.id: r for r in results}


class TestCauses:
    @pytest.mark.parametrize(
        ("reading", "public_url", "words"),
        [
            (bug.reserialising, None, ["re-serialises", "json.dumps"]),
            (bug.ascii_compact, None, ["re-serialises", "\\uXXXX", "non-ASCII"]),
            (bug.plain_http, PUBLIC, ["http://", "https://"]),
            (bug.seconds, None, ["seconds", "milliseconds"]),
        ],
        ids=["reserialised-body", "ensure-ascii", "http-scheme", "seconds"],
    )
    async def test_the_verdict_names_the_bug(self, reading, public_url, words):
        """Each bug's failures and the diagnosis say what the receiver does wrong."""

        results = await _contract(reading, public_url)
        found = _by_id(results)["diagnosis"]
        assert found.diagnosis is not None
        assert found.diagnosis.cause is not None
        for word in words:
            assert word in found.message, found.message
        failed = [r for r in results if r.required and not r.passed]
        assert failed
        valid = _by_id(results).get("accepts-valid")
        if valid is not None and not valid.passed:
            assert found.diagnosis.cause.lower() in valid.message.lower()

    async def test_wrong_secret_says_so(self):
        """When every variant is rejected, the secret or scheme is named."""

        async with serve_app(bug.app("another-secret-entirely")) as server:
            options = ContractOptions(str(server.make_url("/h")), ClientSecret(SECRET))
            results = await run_contract(options)
        found = _by_id(results)["diagnosis"]
        assert "secret" in found.message
        assert "hubsim sign" in found.message

    async def test_careful_receiver_gets_no_diagnosis(self):
        """A receiver that verifies correctly passes and is not probed."""

        results = await _contract(bug.careful)
        assert "diagnosis" not in _by_id(results)

    async def test_versions_does_not_claim_enforcement(self):
        """signature-versions says it cannot tell when valid requests fail too."""

        results = await _contract(bug.reserialising, only=("signature-versions",))
        assert "cannot tell" in _by_id(results)["signature-versions"].message


class TestProxyTrust:
    async def test_verdict_resting_on_forwarded_headers_warns(self):
        """Passing only thanks to X-Forwarded-* from loopback is a warning."""

        results = await _contract(bug.proxy_trusting, PUBLIC)
        assert all(r.passed for r in results if r.required)
        proxy = _by_id(results)["proxy-headers"]
        assert proxy.message.startswith("warning:")
        assert "X-Forwarded" in proxy.message

    async def test_configured_url_gets_no_warning(self):
        """A receiver verifying over its configured URL does not warn."""

        results = await _contract(bug.configured(PUBLIC), PUBLIC)
        assert all(r.passed for r in results if r.required)
        assert not _by_id(results)["proxy-headers"].message.startswith("warning")


class TestOutputs:
    async def test_junit_and_json_carry_the_diagnosis(self):
        """The JUnit failure message and --json name the cause; no secret in them."""

        results = await _contract(bug.reserialising)
        xml = contract_report.junit_xml(results, "http://127.0.0.1/h")
        doc = json.loads(contract_report.dumps(results, "http://127.0.0.1/h"))
        assert "re-serialises" in xml
        found = next(c for c in doc["checks"] if c["id"] == "diagnosis")
        assert "json.dumps" in found["diagnosis"]["cause"]
        assert found["diagnosis"]["reproduce"].startswith("hubsim sign")
        assert json.loads(found["diagnosis"]["body"])
        assert SECRET not in xml
        assert SECRET not in json.dumps(doc)
