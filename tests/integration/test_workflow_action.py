"""
The workflow "Send a webhook" action as set up in HubSpot (app-calls §2):
POST or GET, all properties or a customised body, signature / API key / no
authentication; checked on the bytes that arrive at bare loopback servers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from urllib.parse import parse_qsl

import aiohttp
import orjson
from hubspot.utils.signature import Signature

from simulator import catalog
from simulator.receiver import STATS_KEY, ReceiverConfig, ReceiverServer
from simulator.recording import read_recording
from simulator.result import verdict
from simulator.run import SendRun
from simulator.settings import Bounds, Files, SendSettings
from simulator.signing import (
    UNSIGNED,
    ClientSecret,
    Signer,
    decode_v3_uri,
    verify_v3,
)

from ..capture import raw_server
from ..conftest import SECRET

KEY = "Bearer pat-na1-0f7a1c2e-hunter22"
FAST = Bounds(rate=500.0)


def _run(url, *, events=5, key=None, files=None, **settings):
    """A workflow run of ``events`` records, built the way the CLI builds it."""
    s = SendSettings(retry_profile="workflow", seed=11, events=events, **settings)
    secret = ClientSecret(SECRET) if s.signs else UNSIGNED
    options = s.to_options(
        url, secret, bounds=FAST, files=files,
        api_key=ClientSecret(key) if key else None,
    )  # fmt: skip
    return SendRun(options)


def _v2(method: str, url: str, body: bytes) -> str:
    """v2 by the spec's formula: sha256 hex of secret + method + URL + body."""
    return hashlib.sha256(
        SECRET.encode() + method.encode() + url.encode() + body
    ).hexdigest()


class TestGet:
    async def test_get_carries_the_body_as_signed_query_parameters(self):
        """A GET has no body; the template's entries are the query, signed in the URL."""

        body = '{"email": "{{ contact.email }}", "id": "{{ contact.hs_object_id }}"}'
        async with raw_server() as (cap, base):
            result = await _run(
                base + "/wf?src=hs", method="GET", workflow_body=body
            ).execute()
        assert result.all_delivered
        assert 5 == len(cap.requests)
        for r in cap.requests:
            assert "GET" == r.method
            assert b"" == r.body
            assert "content-type" not in r.headers
            target = r.target.decode("ascii")
            assert target.startswith("/wf?src=hs&email=")
            params = dict(parse_qsl(target.partition("?")[2]))
            assert "@" in params["email"]
            assert params["id"].isdigit()
            url = base + target
            assert _v2("GET", url, b"") == r.headers["x-hubspot-signature"]
            assert Signature.is_valid(
                r.headers["x-hubspot-signature"], SECRET, "", http_uri=url,
                http_method="GET", signature_version="v2",
            )  # fmt: skip

    async def test_get_without_a_body_sends_the_bare_url(self):
        """All properties cannot go in a GET: it calls the URL as given."""

        async with raw_server() as (cap, base):
            await _run(base + "/wf", method="GET", events=2).execute()
        assert [b"/wf", b"/wf"] == [r.target for r in cap.requests]

    async def test_get_recording_replays_to_a_new_target(self, tmp_path):
        """A recorded GET keeps its query; replayed elsewhere it is re-signed there."""

        from simulator.run import ReplayRun

        path = tmp_path / "get.jsonl"
        body = '{"deal": "{{ deal.dealname }}"}'
        async with raw_server() as (_, base):
            await _run(
                base + "/a", method="GET", workflow_body=body, types=("deal",),
                files=Files(record_path=str(path)),
            ).execute()  # fmt: skip
        recorded = read_recording(path)
        assert {"GET"} == {r.method for r in recorded}
        async with raw_server() as (cap, base):
            run = ReplayRun(recorded, base + "/b", ClientSecret(SECRET), speed=1000)
            result = await run.execute()
        assert result.all_delivered
        for r, rec in zip(cap.requests, recorded, strict=True):
            assert b"/b?" + rec.query.encode() == r.target
            assert (
                _v2("GET", base + r.target.decode(), b"")
                == (r.headers["x-hubspot-signature"])
            )


class TestBody:
    async def test_custom_body_fills_tokens_per_record(self):
        """A customised POST body is the template, tokens filled, unknown ones empty."""

        body = (
            '{"who": {"email": "{{ contact.email }}"}, "tag": "hubspot", '
            '"n": 3, "x": "{{ contact.no_such_property }}"}'
        )
        async with raw_server() as (cap, base):
            await _run(base + "/wf", workflow_body=body, events=4).execute()
        records = [json.loads(r.body) for r in cap.requests]
        assert all({"who", "tag", "n", "x"} == set(r) for r in records)
        assert all("@" in r["who"]["email"] for r in records)
        assert all("" == r["x"] and 3 == r["n"] for r in records)
        assert len({r["who"]["email"] for r in records}) > 1
        for r in cap.requests:
            assert _v2("POST", base + "/wf", r.body) == r.headers["x-hubspot-signature"]

    async def test_v3_record_form(self):
        """record_form v3: the CRM v3 object JSON; only contacts carry history."""

        async with raw_server() as (cap, base):
            await _run(base + "/wf", record_form="v3", events=40).execute()
        records = [json.loads(r.body) for r in cap.requests]
        for r in records:
            assert {"id", "properties", "createdAt", "updatedAt", "archived"} <= set(r)
            assert r["id"] == r["properties"]["hs_object_id"]
            assert r["updatedAt"].endswith("Z")
        with_history = [r for r in records if "propertiesWithHistory" in r]
        assert with_history
        assert len(with_history) < len(records)

    async def test_template_from_a_file(self, tmp_path):
        """--workflow-body FILE reads the template from a JSON file."""

        path = tmp_path / "body.json"
        path.write_text('{"amount": "{{ deal.amount }}"}')
        async with raw_server() as (cap, base):
            await _run(base + "/wf", workflow_body=str(path), events=3).execute()
        assert all(set(json.loads(r.body)) == {"amount"} for r in cap.requests)


class TestAuth:
    async def test_signature_v3_adds_v3_and_a_timestamp(self):
        """auth signature-v3: v2 and a v3 valid by the spec's formula."""

        async with raw_server() as (cap, base):
            await _run(base + "/wf", auth="signature-v3", events=3).execute()
        for r in cap.requests:
            h = r.headers
            assert "v2" == h["x-hubspot-signature-version"]
            url = base + r.target.decode()
            assert "ok" == verify_v3(
                SECRET, "POST", url, r.body, h["x-hubspot-signature-v3"],
                h["x-hubspot-request-timestamp"], int(time.time() * 1000),
            )  # fmt: skip
            assert Signature.is_valid(
                h["x-hubspot-signature-v3"], SECRET, r.body.decode(),
                http_uri=decode_v3_uri(url), signature_version="v3",
                timestamp=h["x-hubspot-request-timestamp"],
            )  # fmt: skip

    async def test_no_auth_sends_only_the_automation_headers(self):
        """auth none: no signature headers; correlation id, hublet, timeout (W4)."""

        async with raw_server() as (cap, base):
            await _run(base + "/wf", auth="none", events=3).execute()
        for r in cap.requests:
            h = r.headers
            assert not {k for k in h if "signature" in k or "timestamp" in k}
            assert "30000" == h["x-hubspot-timeout-millis"]
            assert "na1" == h["x-hubspot-origin-hublet"]
            assert catalog.AUTOMATION_USER_AGENT == h["user-agent"]
        ids = {r.headers["x-hubspot-correlation-id"] for r in cap.requests}
        assert 3 == len(ids)

    async def test_api_key_in_a_header(self, tmp_path):
        """auth api-key: the key in the named header, no signature, never recorded."""

        record = tmp_path / "rec.jsonl"
        async with raw_server() as (cap, base):
            await _run(
                base + "/wf", auth="api-key", api_key_name="X-Api-Key", key=KEY,
                files=Files(record_path=str(record)),
            ).execute()  # fmt: skip
        for r in cap.requests:
            assert KEY == r.headers["x-api-key"]
            assert "x-hubspot-signature" not in r.headers
        assert "hunter22" not in record.read_text()
        assert all("X-Api-Key" not in r.headers for r in read_recording(record))

    async def test_api_key_in_the_query_never_reaches_outputs(self, tmp_path):
        """A query API key is on the wire only: not in the recording, ledger or report."""

        from simulator import outputs

        record, ledger = tmp_path / "rec.jsonl", tmp_path / "ledger.jsonl"
        async with raw_server() as (cap, base):
            run = _run(
                base + "/wf?x=1", auth="api-key", api_key_in="query", key=KEY,
                files=Files(ledger_path=str(ledger), record_path=str(record)),
            )  # fmt: skip
            result = await run.execute()
        for r in cap.requests:
            query = dict(parse_qsl(r.target.decode().partition("?")[2]))
            assert {"x": "1", "api_key": KEY} == query
        written = outputs.Outputs(report_path=str(tmp_path / "r.json"))
        outputs.write(result, written, (), verdict(result), "wf")
        for path in (record, ledger, tmp_path / "r.json"):
            text = path.read_text()
            assert "hunter22" not in text
            assert "pat-na1" not in text

    async def test_builtin_receiver_checks_the_api_key(self, unused_tcp_port):
        """The built-in receiver, set up with the key, refuses a wrong one (401)."""

        config = ReceiverConfig(
            secret=None, api_key=("api_key", "query", ClientSecret(KEY))
        )
        server = ReceiverServer(config, port=unused_tcp_port)
        await server.start()
        url = f"http://127.0.0.1:{server.port}/wf"
        try:
            good = await _run(
                url, auth="api-key", api_key_in="query", key=KEY, events=3
            ).execute()
            bad = await _run(
                url, auth="api-key", api_key_in="query", key="wrong", events=2
            ).execute()
        finally:
            await server.close()
        assert good.all_delivered
        assert 2 == bad.ledger.gave_up
        assert {"401": 2} == dict(bad.ledger.gave_up_errors)


class TestTiming:
    async def test_default_rate_is_hubspots_cap(self):
        """Without a rate, workflow webhooks are started at 20 per second."""

        s = SendSettings(retry_profile="workflow")
        options = s.to_options("http://127.0.0.1:1/wf", ClientSecret(SECRET))
        assert catalog.WORKFLOW_MAX_RATE == options.rate
        assert 3.0 == options.delivery.connect_timeout_s
        assert 30.0 == options.delivery.timeout_s

    async def test_retry_after_is_read_as_milliseconds(self, capture_factory):
        """A 429 with Retry-After: 200 is retried 0.2 s later (KB: ms), not 200 s."""

        answers = iter([(429, {"Retry-After": "200"}), 200])
        async with capture_factory(script=lambda _: next(answers)) as (cap, url):
            result = await asyncio.wait_for(_run(url, events=1).execute(), 30)
        first, retry = cap.requests
        assert result.all_delivered
        # 5x margin on the 0.2 s wait; seconds would have been 200 s.
        assert 0.19 <= retry.received_at - first.received_at < 30
        assert orjson.loads(first.body) == orjson.loads(retry.body)


class TestBuiltinReceiver:
    async def test_counts_get_and_custom_records(self, receiver):
        """GETs (by their query) and custom bodies count as workflow records."""

        url = str(receiver.make_url("/wf"))
        body = '{"email": "{{ contact.email }}"}'
        get = await _run(url, method="GET", workflow_body=body, events=4).execute()
        post = await _run(url, workflow_body=body, events=3).execute()
        assert get.all_delivered
        assert post.all_delivered
        stats = receiver.app[STATS_KEY]
        assert 7 == stats.events
        assert {"workflow.GET": 4, "workflow.custom": 3} == dict(stats.by_type)

    async def test_a_bare_get_is_a_record(self, receiver):
        """
        A GET without --workflow-body is the bare URL, no body, no query: the
        receiver accepts it as a workflow record (it used to answer 400 "body
        is not JSON"). Identical requests cannot be told apart, so they count
        as one record re-sent; an empty POST is still refused.
        """

        url = str(receiver.make_url("/wf"))
        get = await _run(url, method="GET", events=3).execute()
        assert get.all_delivered
        stats = receiver.app[STATS_KEY]
        assert (3, 1, 2, 0) == (
            stats.events,
            len(stats.seen),
            stats.duplicates,
            stats.bad_requests,
        )
        assert {"workflow.GET": 3} == dict(stats.by_type)
        signed = Signer(ClientSecret(SECRET), url).headers(b"", int(time.time() * 1000))
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=b"", headers=signed) as r,
        ):
            assert 400 == r.status
            assert "body is not JSON" in await r.text()


class TestReplaySigning:
    def test_a_recording_is_re_signed_as_it_was_signed(self):
        """Workflow records re-sign as v2 from the workflow engine; batches as v1+v3."""

        from simulator.recording import RecordedRequest, signing_of

        workflow = RecordedRequest(
            0.0, "http://h/wf", 1, 0,
            {"X-HubSpot-Signature": "x", "X-HubSpot-Signature-Version": "v2",
             "User-Agent": catalog.AUTOMATION_USER_AGENT,
             "X-HubSpot-Timeout-Millis": "30000"},
            b"{}",
        )  # fmt: skip
        webhook = RecordedRequest(
            0.0, "http://h/wh", 1, 0,
            {"X-HubSpot-Signature": "x", "X-HubSpot-Signature-v3": "y",
             "User-Agent": catalog.USER_AGENT},
            b"[]",
        )  # fmt: skip
        unsigned = RecordedRequest(0.0, "http://h/wf", 1, 0, {}, b"{}", "GET")
        w, h, u = signing_of(workflow), signing_of(webhook), signing_of(unsigned)
        assert (("v2",), "automation", 30000) == (
            w.versions,
            w.sender,
            w.timeout_millis,
        )
        assert (("v1", "v3"), "webhooks") == (h.versions, h.sender)
        assert ((), "GET") == (u.versions, u.method)
