"""Signatures: every vector of spec §5.2, and HubSpot's own SDK as the judge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from unittest.mock import patch

import pytest
from hubspot.utils.signature import Signature

from simulator.signing import (
    ClientSecret,
    Signer,
    SigningOptions,
    decode_v3_uri,
    sign_v1,
    sign_v2,
    sign_v3,
    verify_v1,
    verify_v2,
    verify_v3,
)

from ..vectors import (
    B_ASCII,
    B_ESC,
    B_UTF8,
    HOOK,
    NEW_SECRET,
    NEW_TS,
    PCT_DECODED,
    PCT_URI,
    VECTORS,
)


def _sign(version, secret, method, uri, body, ts):
    if version == "v1":
        return sign_v1(secret, body)
    if version == "v2":
        return sign_v2(secret, method, uri, body)
    return sign_v3(secret, method, uri, body, ts)


class TestVectors:
    @pytest.mark.parametrize(
        ("version", "secret", "method", "uri", "body", "ts", "expected"),
        [v[1:] for v in VECTORS],
        ids=[v[0] for v in VECTORS],
    )
    def test_reproduces_spec_vector(
        self, version, secret, method, uri, body, ts, expected
    ):
        """Each published and new vector of spec §5.2 is reproduced exactly."""

        assert expected == _sign(version, secret, method, uri, body, ts)

    def test_utf8_and_escaped_bodies_sign_differently(self):
        """The same data as raw UTF-8 and as \\u escapes are different bytes (§5.3)."""

        assert sign_v1(NEW_SECRET, B_UTF8) != sign_v1(NEW_SECRET, B_ESC)

    def test_undecoded_uri_gives_sdk_value(self):
        """HMAC over the URI verbatim gives the SDKs' value gOhL… (vector D), which
        is not what HubSpot sends: hubsim follows the docs' decoding rule."""

        message = b"POST" + PCT_URI.encode() + B_ASCII + str(NEW_TS).encode()
        digest = hmac.new(NEW_SECRET.encode(), message, hashlib.sha256).digest()
        sdk_value = base64.b64encode(digest).decode()
        assert "gOhLlIU5snVEaZtaJ/fhIGHjMHWvmYA/3gdPCOBHGJE=" == sdk_value
        assert sdk_value != sign_v3(NEW_SECRET, "POST", PCT_URI, B_ASCII, NEW_TS)


class TestDecodeV3Uri:
    def test_decodes_exactly_the_twelve_escapes(self):
        """Only the 12 listed escapes are decoded; %20, %3D, %25, %C3%AB stay."""

        assert PCT_DECODED == decode_v3_uri(PCT_URI)

    def test_lower_case_escapes_decode_too(self):
        """Lower-case escapes decode as upper-case ones do (§10 Q6)."""

        assert "https://h/a:b/c?d@e" == decode_v3_uri("https://h/a%3ab%2fc%3fd%40e")

    def test_other_escapes_kept(self):
        """%25 is not decoded, so %253A stays literal."""

        assert "https://h/%253A%20" == decode_v3_uri("https://h/%253A%20")


class TestVerify:
    def test_v1_hex_is_case_sensitive(self):
        """Upper-case v1 hex fails, as in HubSpot's SDKs."""

        good = sign_v1(NEW_SECRET, B_ASCII)
        assert verify_v1(NEW_SECRET, B_ASCII, good)
        assert not verify_v1(NEW_SECRET, B_ASCII, good.upper())

    def test_v2_checks_uri(self):
        """v2 covers the URI: a different query fails."""

        sig = sign_v2(NEW_SECRET, "POST", HOOK, B_ASCII)
        assert verify_v2(NEW_SECRET, "POST", HOOK, B_ASCII, sig)
        assert not verify_v2(NEW_SECRET, "POST", HOOK + "?x=1", B_ASCII, sig)

    @pytest.mark.parametrize(
        ("age_ms", "expected"),
        [(0, "ok"), (299_000, "ok"), (301_000, "stale"), (-3_600_000, "ok")],
    )
    def test_v3_replay_window(self, age_ms, expected):
        """v3 timestamps older than 5 minutes are stale; future ones pass."""

        sig = sign_v3(NEW_SECRET, "POST", HOOK, B_ASCII, NEW_TS)
        verdict = verify_v3(
            NEW_SECRET, "POST", HOOK, B_ASCII, sig, str(NEW_TS), NEW_TS + age_ms
        )
        assert expected == verdict

    def test_v3_bad_signature(self):
        """A v3 signature over other bytes is bad."""

        sig = sign_v3(NEW_SECRET, "POST", HOOK, B_UTF8, NEW_TS)
        assert "bad" == verify_v3(
            NEW_SECRET, "POST", HOOK, B_ASCII, sig, str(NEW_TS), NEW_TS
        )


class TestClientSecret:
    def test_repr_and_str_are_masked(self):
        """A secret never shows in repr, str or f-strings."""

        s = ClientSecret(NEW_SECRET)
        assert NEW_SECRET not in repr(s)
        assert NEW_SECRET not in f"{s} {s!r}"
        assert NEW_SECRET == s.reveal()

    def test_empty_secret_rejected(self):
        """An empty secret is an input error with a hint."""

        from simulator.errors import SecretError

        with pytest.raises(SecretError, match="HUBSPOT_CLIENT_SECRET"):
            ClientSecret("  ")


class TestSigner:
    def test_headers_match_pure_functions(self):
        """Signer's precomputed hashes equal the pure functions' results."""

        signer = Signer(ClientSecret(NEW_SECRET), HOOK)
        h = signer.headers(B_UTF8, NEW_TS)
        assert sign_v1(NEW_SECRET, B_UTF8) == h["X-HubSpot-Signature"]
        assert (
            sign_v3(NEW_SECRET, "POST", HOOK, B_UTF8, NEW_TS)
            == h["X-HubSpot-Signature-v3"]
        )
        assert "v1" == h["X-HubSpot-Signature-Version"]
        assert str(NEW_TS) == h["X-HubSpot-Request-Timestamp"]
        assert "10000" == h["X-HubSpot-Timeout-Millis"]
        assert "application/json" == h["Content-Type"]
        assert h["User-Agent"].startswith("HubSpot Connect 2.0")

    def test_v2_profile_puts_v2_in_signature_header(self):
        """With versions=('v2',) the signature header carries v2 and no v3 is sent."""

        signer = Signer(
            ClientSecret(NEW_SECRET), HOOK, SigningOptions(versions=("v2",))
        )
        h = signer.headers(B_ASCII, NEW_TS)
        assert sign_v2(NEW_SECRET, "POST", HOOK, B_ASCII) == h["X-HubSpot-Signature"]
        assert "v2" == h["X-HubSpot-Signature-Version"]
        assert "X-HubSpot-Signature-v3" not in h

    def test_public_url_is_signed_and_forwarded(self):
        """--public-url signs that URL and sets Host and X-Forwarded-* to match."""

        public = "https://abc.ngrok.app/hubspot?tenant=acme"
        signer = Signer(
            ClientSecret(NEW_SECRET),
            "http://127.0.0.1:9000/hubspot?tenant=acme",
            SigningOptions(public_url=public),
        )
        h = signer.headers(B_ASCII, NEW_TS)
        assert (
            sign_v3(NEW_SECRET, "POST", public, B_ASCII, NEW_TS)
            == h["X-HubSpot-Signature-v3"]
        )
        assert "abc.ngrok.app" == h["Host"] == h["X-Forwarded-Host"]
        assert "https" == h["X-Forwarded-Proto"]


class TestOfficialSdk:
    def test_sdk_accepts_signer_v1_and_v3(self):
        """HubSpot's Python SDK validates v1 and v3 from Signer (fresh timestamp)."""

        url = "http://127.0.0.1:8080/hook?tenant=acme"
        signer = Signer(ClientSecret(NEW_SECRET), url)
        ts = int(time.time() * 1000)
        h = signer.headers(B_UTF8, ts)
        body = B_UTF8.decode()
        assert Signature.is_valid(
            h["X-HubSpot-Signature"], NEW_SECRET, body, signature_version="v1"
        )
        assert Signature.is_valid(
            h["X-HubSpot-Signature-v3"],
            NEW_SECRET,
            body,
            http_uri=url,
            signature_version="v3",
            timestamp=str(ts),
        )

    @pytest.mark.parametrize(
        "vector", [v for v in VECTORS if v[0] != "D-v3"], ids=lambda v: v[0]
    )
    def test_sdk_accepts_vector(self, vector):
        """Every vector the SDK can check (not the decoded-URI one) passes it."""

        _, version, secret, method, uri, body, ts, sig = vector
        frozen = (ts // 1000 + 1) if ts else time.time()
        with patch("hubspot.utils.signature.datetime") as dt:
            import datetime as real

            dt.now.return_value = real.datetime.fromtimestamp(frozen, tz=real.UTC)
            dt.fromtimestamp.side_effect = real.datetime.fromtimestamp
            assert Signature.is_valid(
                sig,
                secret,
                body.decode(),
                http_uri=uri,
                http_method=method,
                signature_version=version,
                timestamp=str(ts) if ts else None,
            )
