"""Targets: the one canonical text that is signed and sent (pure, no I/O)."""

from __future__ import annotations

import pytest

from simulator.errors import TargetError
from simulator.target import Target, check_target_url, redact


class TestCanonical:
    @pytest.mark.parametrize(
        ("given", "canonical"),
        [
            ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"),
            ("HTTP://LocalHost:80/Hook", "http://localhost/Hook"),
            ("https://example.com:443/x?y=1", "https://example.com/x?y=1"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://127.0.0.1/a/../b?x=%7E%3a", "http://127.0.0.1/a/../b?x=%7E%3a"),
            (
                "http://[::1]:9/p/zoë?c=東京",
                "http://[::1]:9/p/zo%C3%AB?c=%E6%9D%B1%E4%BA%AC",
            ),
            ("http://127.0.0.1/p?q=a%zzb", "http://127.0.0.1/p?q=a%zzb"),
        ],
    )
    def test_canonical_form(self, given, canonical):
        """Scheme and host lower-cased, default port dropped, everything else kept."""

        assert canonical == Target.parse(given).url

    def test_wire_url_is_not_requoted(self):
        """The aiohttp URL carries the canonical path and query unchanged."""

        t = Target.parse("http://127.0.0.1:1/hook%3Bv1?e=jo%40x.com&n=%2F")
        assert "/hook%3Bv1?e=jo%40x.com&n=%2F" == t.wire.raw_path_qs
        assert "127.0.0.1:1" == t.address


class TestRejected:
    @pytest.mark.parametrize(
        ("given", "words"),
        [
            ("not a url", "expected http://"),
            ("ftp://127.0.0.1/x", "expected http://"),
            ("http://127.0.0.1/a b", "percent-encode"),
            ("http://127.0.0.1/a\tb", "percent-encode"),
            ("http://example.com\\@127.0.0.1/h", "cannot be sent"),
            ("http://127.0.0.1/h#top", "#fragment"),
            ("http://127.0.0.1:70000/h", "1 to 65535"),
            ("http://127.0.0.1:0/h", "1 to 65535"),
        ],
    )
    def test_bad_urls(self, given, words):
        """URLs that cannot be delivered as signed are refused with a reason."""

        with pytest.raises(TargetError, match=words):
            Target.parse(given)

    def test_userinfo_is_refused_and_never_echoed(self):
        """A password in the URL is refused; the message shows *** in its place."""

        with pytest.raises(TargetError) as info:
            Target.parse("http://admin:hunter2@127.0.0.1/h")
        assert "hunter2" not in str(info.value)
        assert "***@127.0.0.1" in str(info.value)
        assert "http://***@x/y" == redact("http://u:p@x/y")

    def test_remote_needs_permission(self):
        """Only loopback, unless allowed; IPv6 keeps its brackets in messages."""

        with pytest.raises(TargetError, match=r"example\.com is not a loopback"):
            check_target_url("http://example.com/h")
        assert check_target_url("http://example.com/h", allow_remote=True)
        assert Target.parse("http://[::1]:8080/h").loopback
        assert "[::1]:8080" == Target.parse("http://[::1]:8080/h").netloc
