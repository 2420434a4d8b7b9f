"""
HubSpot's delivery profiles: when a failed attempt is retried and after how long.

Pure: :meth:`RetryPolicy.delay_before` returns seconds and never sleeps; the
engine waits on its Clock. Sources: spec §4 (Webhooks API), §6 (workflows) and
§10 (defaults for what HubSpot leaves open).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Final, Literal

from .errors import UsageError

Schedule = Literal["webhooks", "workflow", "none"]

#: Max delay before Webhooks-API retry k is 84.46 s * 2**(k-1): ten steps that
#: add up to exactly 24 h (86 400 / 1023 per unit), per spec §4.
WEBHOOKS_UNIT_S: Final = 86_400 / 1023
WORKFLOW_FIRST_S: Final = 60.0
WORKFLOW_CAP_S: Final = 8 * 3600.0
WORKFLOW_WINDOW_S: Final = 72 * 3600.0
#: The statuses older docs say HubSpot does not retry (§4, §9 Q2).
LEGACY_FINAL_STATUSES: Final = frozenset({400, 401, 403, 404, 405})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    Which failures are retried, how many attempts there are, and the delays.

    ``max_attempts`` counts the first try: the Webhooks API's "up to 10 retries"
    is 11 attempts, attemptNumber 0 to 10.
    """

    schedule: Schedule = "webhooks"
    max_attempts: int = 11
    retry_4xx: bool = True
    final_statuses: frozenset[int] = frozenset()
    retry_timeouts: bool = True
    honour_retry_after: bool = False
    retry_after_unit_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError("--max-attempts must be at least 1")

    def is_retryable(self, status: int | None, error: str | None) -> bool:
        """
        Whether a failed attempt (``status`` not 2xx, or ``error``) may be retried.
        """
        if status is not None and 200 <= status < 300:
            return False
        if error is not None:
            return self.retry_timeouts or error != "timeout"
        assert status is not None
        if status in self.final_statuses:
            return False
        if 400 <= status < 500 and status != 429:
            return self.retry_4xx
        return True

    def delay_before(self, attempt_number: int, rng: random.Random) -> float:
        """
        Seconds to wait before attempt ``attempt_number`` (1 = first retry).
        """
        if attempt_number < 1:
            return 0.0
        if self.schedule == "webhooks":
            # Each delay is random between the previous step's cap and this
            # step's cap (changelog 2018-12-10): later retries never come sooner.
            high = WEBHOOKS_UNIT_S * float(2 ** (attempt_number - 1))
            low = 0.0 if attempt_number == 1 else high / 2
            return rng.uniform(low, high)
        if self.schedule == "workflow":
            return min(
                WORKFLOW_FIRST_S * float(2 ** (attempt_number - 1)), WORKFLOW_CAP_S
            )
        return 0.0

    def retry_after_s(self, header_value: str | None) -> float | None:
        """
        The wait a 429's ``Retry-After`` asks for, if this policy honours it.
        """
        if not self.honour_retry_after or header_value is None:
            return None
        try:
            value = float(header_value.strip())
        except ValueError:
            return None  # HTTP-date form: fall back to the schedule
        return max(0.0, value * self.retry_after_unit_s)


def _workflow_attempts() -> int:
    """
    Attempts that fit the workflow window: retries while the elapsed time since
    the first failure stays within 72 h (§6.1 model: 1, 2, 4 min … capped at 8 h).
    """
    policy = RetryPolicy(schedule="workflow")
    elapsed, attempts = 0.0, 1
    while True:
        elapsed += policy.delay_before(attempts, random.Random(0))
        if elapsed > WORKFLOW_WINDOW_S:
            return attempts
        attempts += 1


@dataclass(frozen=True, slots=True)
class Profile:
    """
    A named HubSpot sender: its retry policy, timeouts and signature version.
    """

    name: str
    retry: RetryPolicy
    timeout_s: float
    connect_timeout_s: float | None
    signature_versions: tuple[Literal["v1", "v2", "v3"], ...]
    batched: bool = True


PROFILES: Final[dict[str, Profile]] = {
    "webhooks": Profile("webhooks", RetryPolicy(), 5.0, None, ("v1", "v3")),
    "webhooks-legacy": Profile(
        "webhooks-legacy",
        RetryPolicy(final_statuses=LEGACY_FINAL_STATUSES, honour_retry_after=True),
        5.0,
        None,
        ("v1", "v3"),
    ),
    "workflow": Profile(
        "workflow",
        RetryPolicy(
            schedule="workflow",
            max_attempts=_workflow_attempts(),
            retry_4xx=False,
            honour_retry_after=True,
        ),
        30.0,
        3.0,
        ("v2",),
        batched=False,
    ),
    # Custom workflow actions (app-calls §1.3): 4xx final but 429 (Retry-After),
    # 5xx retried with backoff for up to 3 days: the workflow engine's schedule.
    "action": Profile(
        "action",
        RetryPolicy(
            schedule="workflow",
            max_attempts=_workflow_attempts(),
            retry_4xx=False,
            honour_retry_after=True,
        ),
        30.0,
        3.0,
        ("v2", "v3"),
        batched=False,
    ),
    "none": Profile(
        "none", RetryPolicy(schedule="none", max_attempts=1), 5.0, None, ("v1", "v3")
    ),
}
DEFAULT_PROFILE: Final = "webhooks"
#: The profiles `send` and scenarios choose from (actions have their own command).
SEND_PROFILES: Final = ("webhooks", "webhooks-legacy", "workflow", "none")


def profile(name: str) -> Profile:
    """
    The profile called ``name``; UsageError listing the choices otherwise.
    """
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join(PROFILES)
        raise UsageError(
            f"unknown retry profile {name!r}; choose one of {choices}"
        ) from None


def with_max_attempts(policy: RetryPolicy, max_attempts: int | None) -> RetryPolicy:
    """
    ``policy`` with ``max_attempts`` overridden when given.
    """
    return (
        policy if max_attempts is None else replace(policy, max_attempts=max_attempts)
    )


def with_retry_after_unit(policy: RetryPolicy, unit_s: float) -> RetryPolicy:
    """
    ``policy`` reading ``Retry-After`` in ``unit_s`` seconds (0.001 for ms, §9 Q5).
    """
    return replace(policy, retry_after_unit_s=unit_s)
