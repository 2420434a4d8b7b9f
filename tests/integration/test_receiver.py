"""The built-in receiver: verification, status codes and counts, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from simulator.receiver import ReceiverConfig, ReceiverServer, ReceiverStats, create_app
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


def _raw_request(port: int, body: bytes, headers: dict[str, str], host: bytes) -> bytes:
    """A request as raw bytes, so headers can carry bytes aiohttp would refuse."""
    lines = [
        b"POST /hook HTTP/1.1",
        b"Host: " + host,
        b"Content-Length: %d" % len(body),
    ]
    lines += [f"{k}: {v}".encode() for k, v in headers.items() if k.lower() != "host"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _status_of(port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    return int(line.split()[1])


def _event(**fields):
    event = {"eventId": 7, "subscriptionId": 1, "portalId": 2, "appId": 3,
             "occurredAt": 1, "subscriptionType": "contact.creation",
             "attemptNumber": 0, "objectId": 9}  # fmt: skip
    event.update(fields)
    return [event]


class TestHardened:
    """Odd requests get a 4xx, never a 500; only 2xx answers count as accepted."""

    @pytest.mark.parametrize(
        ("label", "body", "extra", "host", "status"),
        [
            ("non-ASCII v1", None, {"X-HubSpot-Signature": "zoë"}, None, 401),
            ("non-ASCII v3", None, {"X-HubSpot-Signature-v3": "東京="}, None, 401),
            ("non-ASCII Host", None, {}, "hoſt.example".encode(), 400),
            (
                "non-ASCII X-Forwarded-Host",
                None,
                {"X-Forwarded-Host": "zoë.io"},
                None,
                400,
            ),
            ("eventId a string", _event(eventId="7"), {}, None, 400),
            ("eventId true", _event(eventId=True), {}, None, 400),
            ("eventId negative", _event(eventId=-1), {}, None, 400),
            ("eventId a float", _event(eventId=7.5), {}, None, 400),
            ("attemptNumber a list", _event(attemptNumber=[1]), {}, None, 400),
            ("attemptNumber huge", _event(attemptNumber=10**9), {}, None, 400),
            ("subscriptionType a number", _event(subscriptionType=5), {}, None, 400),
            ("an event not an object", [1, 2], {}, None, 400),
            ("an empty array", [], {}, None, 400),
        ],
    )
    async def test_odd_request_is_4xx(self, secret, label, body, extra, host, status):
        """Each odd request is refused with a 4xx and counts nothing as accepted."""

        app = create_app(ReceiverConfig(secret=secret))
        async with serve_app(app) as server:
            port = server.port
            url = f"http://127.0.0.1:{port}/hook"
            raw_body = json.dumps(body if body is not None else _event()).encode()
            # Signed correctly where the point is the body's shape.
            headers = {**Signer(secret, url).headers(raw_body, _now_ms()), **extra}
            # Non-ASCII header values go out as their UTF-8 bytes.
            raw = _raw_request(
                port, raw_body, headers, host or f"127.0.0.1:{port}".encode()
            )
            got = await _status_of(port, raw)
            stats = await _stats(server)
        assert status == got, label
        assert 0 == stats["accepted_requests"]
        assert 0 == stats["events"]

    async def test_half_sent_request_is_closed(self, secret):
        """Headers that never finish: the connection is closed after the idle timeout."""

        server = ReceiverServer(ReceiverConfig(secret=secret, idle_timeout_s=0.5))
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST /hook HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            # Closed by the receiver well within 5x its timeout.
            assert b"" == await asyncio.wait_for(reader.read(), 2.5)
            writer.close()
        finally:
            await server.close()

    async def test_stalled_body_gets_408(self, secret):
        """A body that stops arriving is answered 408, not waited on for ever."""

        server = ReceiverServer(ReceiverConfig(secret=secret, body_timeout_s=0.3))
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[{"
            )
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 1.5)
            writer.close()
        finally:
            await server.close()
        assert b" 408 " in line
        assert 1 == server.stats.timed_out_bodies


class TestCounts:
    def test_five_million_distinct_ids_exact_and_compact(self):
        """5,000,000 distinct eventIds (plus repeats) are counted exactly in little memory."""

        import tracemalloc

        stats = ReceiverStats()
        start = 1_030_198_139
        tracemalloc.start()
        for base in range(0, 5_000_000, 100):
            ids = list(range(start + base, start + base + 100))
            before = len(stats.seen)
            stats.seen.update(ids)
            stats.duplicates += len(ids) - (len(stats.seen) - before)
        stats.seen.update(range(start, start + 1000))  # 1,000 redeliveries
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert 5_000_000 == stats.to_json()["distinct_events"]
        assert 0 == stats.duplicates
        assert peak < 5 * 1024 * 1024


class TestReceiveCommand:
    @pytest.mark.parametrize("port", ["70000", "-1", "65536"])
    def test_port_out_of_range_exits_2(self, port):
        """A port outside 0-65535 is bad input, not a wrapped-around port."""

        from click.testing import CliRunner

        from simulator.cli import ExitCode, cli

        result = CliRunner().invoke(cli, ["receive", "--port", port, "--insecure"])
        assert ExitCode.BAD_INPUT == result.exit_code
        assert "--port" in result.output
