"""The built-in receiver: verification, status codes and counts, over real HTTP."""

from __future__ import annotations

import time

import aiohttp
import pytest

from simulator.receiver import ReceiverConfig, create_app
from simulator.signing import ClientSecret, Signer, SigningOptions, sign_v1

from ..conftest import SECRET, serve_app
from ..vectors import B_ASCII, B_UTF8


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _post(url, body, headers):
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=body, headers=headers) as r,
    ):
        return r.status, await r.read()


async def _stats(server):
    async with aiohttp.ClientSession() as s, s.get(server.make_url("/stats")) as r:
        return await r.json()


class TestVerification:
    async def test_accepts_hubspot_signed(self, receiver, secret):
        """A v1+v3 signed batch gets 204 and is counted."""

        url = str(receiver.make_url("/hook?tenant=acme"))
        status, _ = await _post(
            url, B_UTF8, Signer(secret, url).headers(B_UTF8, _now_ms())
        )
        assert 204 == status
        stats = await _stats(receiver)
        assert (1, 2, 2) == (
            stats["requests"],
            stats["events"],
            stats["distinct_events"],
        )

    @pytest.mark.parametrize(
        "tamper",
        ["X-HubSpot-Signature", "X-HubSpot-Signature-v3"],
    )
    async def test_rejects_bad_signature(self, receiver, secret, tamper):
        """A wrong v1 or v3 signature gets 401."""

        url = str(receiver.make_url("/hook"))
        headers = Signer(secret, url).headers(B_ASCII, _now_ms())
        headers[tamper] = headers[tamper][::-1]
        status, body = await _post(url, B_ASCII, headers)
        assert 401 == status
        assert b"signature" in body

    async def test_rejects_unsigned(self, receiver):
        """No signature headers: 401."""

        status, _ = await _post(str(receiver.make_url("/hook")), B_ASCII, {})
        assert 401 == status

    async def test_rejects_stale_timestamp(self, receiver, secret):
        """A v3 timestamp older than 5 minutes: 401, counted as stale."""

        url = str(receiver.make_url("/hook"))
        headers = Signer(secret, url).headers(B_ASCII, _now_ms() - 301_000)
        status, body = await _post(url, B_ASCII, headers)
        assert 401 == status
        assert b"5 minutes" in body
        assert 1 == (await _stats(receiver))["stale_timestamps"]

    async def test_rejects_body_signed_for_other_url(self, receiver, secret):
        """v3 over a different URL fails: the receiver checks the URL it was called on."""

        url = str(receiver.make_url("/hook"))
        headers = Signer(secret, url + "?other=1").headers(B_ASCII, _now_ms())
        status, _ = await _post(url, B_ASCII, headers)
        assert 401 == status

    async def test_public_url_via_forwarded_headers(self, receiver, secret):
        """Signed for a public URL and forwarded: the receiver rebuilds and accepts it."""

        public = "https://abc.example.com/hook?x=1"
        url = str(receiver.make_url("/hook?x=1"))
        headers = Signer(secret, url, SigningOptions(public_url=public)).headers(
            B_ASCII, _now_ms()
        )
        headers.pop("Host")
        status, _ = await _post(url, B_ASCII, headers)
        assert 204 == status

    async def test_v2_signature(self, receiver, secret):
        """A v2-signed request (workflow style) is verified and accepted."""

        url = str(receiver.make_url("/wf"))
        headers = Signer(secret, url, SigningOptions(versions=("v2",))).headers(
            B_ASCII, _now_ms()
        )
        assert 204 == (await _post(url, B_ASCII, headers))[0]


class TestBodies:
    async def test_malformed_json_is_400(self, receiver, secret):
        """A signed body that is not an array of events gets 400."""

        url = str(receiver.make_url("/hook"))
        for body in (b"{not json", b'{"eventId":1}', b"[{}]"):
            status, _ = await _post(
                url, body, {"X-HubSpot-Signature": sign_v1(SECRET, body)}
            )
            assert 400 == status

    async def test_too_large_is_413(self, secret):
        """Bodies over the limit get 413."""

        app = create_app(ReceiverConfig(secret=secret, max_body_bytes=100))
        async with serve_app(app) as server:
            url = str(server.make_url("/hook"))
            status, _ = await _post(
                url, B_UTF8, Signer(secret, url).headers(B_UTF8, _now_ms())
            )
        assert 413 == status

    async def test_duplicates_counted(self, receiver, secret):
        """The same events twice count as duplicates, not new distinct events."""

        url = str(receiver.make_url("/hook"))
        signer = Signer(secret, url)
        for _ in range(2):
            await _post(url, B_UTF8, signer.headers(B_UTF8, _now_ms()))
        stats = await _stats(receiver)
        assert (4, 2, 2) == (
            stats["events"],
            stats["distinct_events"],
            stats["duplicates"],
        )

    async def test_unsigned_mode(self):
        """With no secret the receiver accepts unsigned requests."""

        async with serve_app(create_app(ReceiverConfig(secret=None))) as server:
            assert 204 == (await _post(str(server.make_url("/h")), B_ASCII, {}))[0]

    async def test_reset_stats(self, receiver, secret):
        """DELETE /stats zeroes the counters."""

        url = str(receiver.make_url("/hook"))
        await _post(url, B_ASCII, Signer(secret, url).headers(B_ASCII, _now_ms()))
        async with aiohttp.ClientSession() as s, s.delete(receiver.make_url("/stats")):
            pass
        assert 0 == (await _stats(receiver))["requests"]


class TestEndToEnd:
    async def test_send_to_builtin_receiver(self, receiver, secret):
        """A 5,000-event mixed run: the receiver's distinct count equals delivered."""

        from simulator.events import EventConfig
        from simulator.run import SendOptions, SendRun

        opts = SendOptions(
            str(receiver.make_url("/webhooks")),
            ClientSecret(SECRET),
            events=5000,
            source=EventConfig(
                seed=11,
                portals=3,
                start_ms=_now_ms(),
                types=("contact", "deal", "conversation", "line_item"),
            ),
        )
        result = await SendRun(opts).execute()
        stats = await _stats(receiver)
        assert result.all_delivered
        assert 5000 == stats["distinct_events"] == result.ledger.delivered
        assert 0 == stats["signature_failures"] + stats["bad_requests"]
