"""Retry policy and profiles (spec §4, §6, §10), on numbers alone: nothing sleeps."""

from __future__ import annotations

import random

import pytest

from simulator.errors import UsageError
from simulator.retry import (
    PROFILES,
    WEBHOOKS_UNIT_S,
    RetryPolicy,
    profile,
    with_max_attempts,
)


class TestWebhooksSchedule:
    def test_caps_double_from_84_seconds(self):
        """Step k's delay lies between cap(k-1) and cap(k), cap(k)=84.46 s*2^(k-1)."""

        policy = PROFILES["webhooks"].retry
        rng = random.Random(1)
        for k in range(1, 11):
            high = WEBHOOKS_UNIT_S * 2 ** (k - 1)
            low = 0 if k == 1 else high / 2
            for _ in range(200):
                assert low <= policy.delay_before(k, rng) <= high

    def test_ten_retries_fit_in_24_hours(self):
        """The sum of the ten delays never exceeds 24 h, and averages ~18 h."""

        policy = PROFILES["webhooks"].retry
        totals = []
        for seed in range(200):
            rng = random.Random(seed)
            totals.append(sum(policy.delay_before(k, rng) for k in range(1, 11)))
        assert max(totals) <= 86_400
        assert 15 * 3600 < sum(totals) / len(totals) < 21 * 3600

    def test_eleven_attempts(self):
        """Up to 10 retries: attemptNumber 0..10."""

        assert 11 == PROFILES["webhooks"].retry.max_attempts

    def test_seeded_jitter_reproducible(self):
        """The same seed gives the same delays."""

        p = RetryPolicy()
        a = [p.delay_before(k, random.Random(5)) for k in range(1, 11)]
        b = [p.delay_before(k, random.Random(5)) for k in range(1, 11)]
        assert a == b


class TestRetryable:
    @pytest.mark.parametrize(
        ("status", "error", "expected"),
        [
            (500, None, True),
            (503, None, True),
            (400, None, True),
            (404, None, True),
            (429, None, True),
            (None, "timeout", True),
            (None, "connect_error", True),
            (200, None, False),
            (204, None, False),
        ],
    )
    def test_webhooks_retries_every_failure(self, status, error, expected):
        """Current docs: every 4xx, 5xx, timeout and connection failure retries."""

        assert expected == PROFILES["webhooks"].retry.is_retryable(status, error)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 405])
    def test_legacy_final_statuses(self, status):
        """webhooks-legacy does not retry 400/401/403/404/405."""

        assert not PROFILES["webhooks-legacy"].retry.is_retryable(status, None)

    def test_legacy_honours_retry_after(self):
        """webhooks-legacy reads Retry-After in seconds; webhooks ignores it."""

        assert 2.0 == PROFILES["webhooks-legacy"].retry.retry_after_s("2")
        assert PROFILES["webhooks"].retry.retry_after_s("2") is None
        assert PROFILES["webhooks-legacy"].retry.retry_after_s("Wed, 21 Oct") is None

    def test_workflow_no_4xx_but_429(self):
        """workflow: 4xx final except 429; 5xx retried."""

        policy = PROFILES["workflow"].retry
        assert not policy.is_retryable(400, None)
        assert policy.is_retryable(429, None)
        assert policy.is_retryable(502, None)


class TestWorkflowSchedule:
    def test_doubles_from_a_minute_to_8_hours(self):
        """1, 2, 4 … minutes, capped at 8 h."""

        policy = PROFILES["workflow"].retry
        rng = random.Random(0)
        delays = [policy.delay_before(k, rng) for k in range(1, 15)]
        assert [60, 120, 240, 480] == delays[:4]
        assert 8 * 3600 == max(delays)

    def test_stops_within_72_hours(self):
        """All retries happen within 72 h of the first failure (about 16)."""

        policy = PROFILES["workflow"].retry
        rng = random.Random(0)
        total = sum(policy.delay_before(k, rng) for k in range(1, policy.max_attempts))
        assert total <= 72 * 3600
        assert 15 <= policy.max_attempts - 1 <= 17


class TestProfiles:
    def test_unknown_profile(self):
        """An unknown profile lists the valid ones."""

        with pytest.raises(UsageError, match="webhooks-legacy"):
            profile("webhook")

    def test_none_is_one_attempt(self):
        """The none profile sends once."""

        assert 1 == profile("none").retry.max_attempts

    def test_max_attempts_override(self):
        """--max-attempts replaces the profile's count."""

        assert 3 == with_max_attempts(RetryPolicy(), 3).max_attempts
        with pytest.raises(UsageError):
            with_max_attempts(RetryPolicy(), 0)


class TestRetryAfterUnit:
    def test_milliseconds(self):
        """With the ms unit, Retry-After: 2000 means two seconds."""

        from simulator.retry import with_retry_after_unit

        policy = with_retry_after_unit(PROFILES["workflow"].retry, 0.001)
        assert 2.0 == policy.retry_after_s("2000")
