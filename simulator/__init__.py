"""
hubsim: HubSpot webhook delivery, simulated locally.

The library behind the ``hubsim`` command. Stages, left to right::

    EventSource ─▶ stream of Batch ─▶ Signer ─▶ DeliveryEngine ─▶ Stats + Ledger
        ─▶ RunResult ─▶ outputs

:class:`SendSettings` declares every send setting once (flag and scenario key);
:class:`SendRun` composes the stages for one run. :class:`Batcher` batches
events you bring yourself (one portal per batch, at most 100).
"""

from .batching import Batch, Batcher, batches
from .clock import Clock, ManualClock, SystemClock
from .delivery import Attempt, DeliveryEngine, DeliveryOptions
from .errors import (
    CatalogError,
    SecretError,
    SimulatorError,
    TargetError,
    UsageError,
)
from .events import EventConfig, EventSource, WebhookEvent
from .ledger import Ledger, Outcome
from .result import RunResult
from .retry import PROFILES, Profile, RetryPolicy
from .run import SendRun
from .settings import SendOptions, SendSettings
from .signing import (
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
from .stats import Stats, Summary

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Attempt",
    "Batch",
    "Batcher",
    "CatalogError",
    "ClientSecret",
    "Clock",
    "DeliveryEngine",
    "DeliveryOptions",
    "EventConfig",
    "EventSource",
    "Ledger",
    "ManualClock",
    "Outcome",
    "Profile",
    "RetryPolicy",
    "RunResult",
    "SecretError",
    "SendOptions",
    "SendRun",
    "SendSettings",
    "Signer",
    "SigningOptions",
    "SimulatorError",
    "Stats",
    "Summary",
    "SystemClock",
    "TargetError",
    "UsageError",
    "WebhookEvent",
    "__version__",
    "batches",
    "decode_v3_uri",
    "sign_v1",
    "sign_v2",
    "sign_v3",
    "verify_v1",
    "verify_v2",
    "verify_v3",
]
