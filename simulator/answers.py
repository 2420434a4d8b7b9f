"""
How the built-in action endpoint answers (:mod:`simulator.action_app`):
:class:`Behaviour`, declared settings (a scenario's ``[action_app]`` table,
``hubsim action-app`` flags), and :class:`Shares`, which hands out the
answers in exact proportion. Plain data, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from .actions import is_duration
from .declarations import setting, validate
from .errors import UsageError


def _duration(text: str) -> str | None:
    if is_duration(text):
        return None
    return "must be an ISO 8601 duration of at most a year, like PT2H or P1D"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """
    How the built-in action endpoint answers: shares of executions (together
    at most 1; the rest succeed) and how blocked ones end.
    """

    block: float = setting(
        0.0, "--block", "block", "float",
        "Share answered BLOCK, then completed through the callbacks API after "
        "callback_delay_s.", low=0, high=1, metavar="P",
    )  # fmt: skip
    expire: float = setting(
        0.0, "--expire", "expire", "float",
        "Share answered BLOCK with hs_expiration_duration and never called "
        "back: they expire.", low=0, high=1, metavar="P",
    )  # fmt: skip
    fail_continue: float = setting(
        0.0, "--fail-continue", "fail_continue", "float",
        "Share answered FAIL_CONTINUE.", low=0, high=1, metavar="P",
    )  # fmt: skip
    error_rate: float = setting(
        0.0, "--error-rate", "error_rate", "float",
        "Share of requests answered 503 (HubSpot retries them).", low=0, high=1,
        metavar="P",
    )  # fmt: skip
    callback_delay_s: float = setting(
        0.3, "--callback-delay", "callback_delay_s", "float",
        "Seconds between a BLOCK answer and its callback.", low=0, high=3600,
        metavar="SECONDS",
    )  # fmt: skip
    expiration: str = setting(
        "PT2H", "--expiration", "expiration", "str",
        "hs_expiration_duration of executions that expire (ISO 8601).",
        metavar="DURATION", extra=_duration,
    )  # fmt: skip
    latency_ms: float = setting(
        0.0, "--latency", "latency_ms", "float", "Answer after this many ms.",
        low=0, high=60_000, metavar="MS",
    )  # fmt: skip
    seed: int | None = setting(
        None, "--app-seed", "seed", "int",
        "Makes the answers reproducible.", low=0, high=2**64 - 1,
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self)
        if self.block + self.expire + self.fail_continue > 1 + 1e-9:
            raise UsageError(
                "block + expire + fail_continue must be at most 1 (the rest succeed)"
            )


class Shares:
    """
    Hands out answers in exact proportion: each next one goes to the answer
    furthest behind its share, so after n executions every count is its share
    of n, rounded.

    >>> shares = Shares(Behaviour(block=0.5))
    >>> [shares.next() for _ in range(4)]
    ['callback', 'success', 'callback', 'success']
    """

    def __init__(self, behaviour: Behaviour) -> None:
        b = behaviour
        rest = max(0.0, 1.0 - b.block - b.expire - b.fail_continue)
        self.shares = (
            ("callback", b.block),
            ("expire", b.expire),
            ("fail_continue", b.fail_continue),
            ("success", rest),
        )
        self.counts = dict.fromkeys((name for name, _ in self.shares), 0)
        self.n = 0

    def next(self) -> str:
        """The next execution's answer."""
        self.n += 1
        name, _ = max(self.shares, key=lambda s: s[1] * self.n - self.counts[s[0]])
        self.counts[name] += 1
        return name
