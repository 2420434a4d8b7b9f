"""
Events, as one import: the source and config (:mod:`simulator.source`), the
wire format (:mod:`simulator.wire`) and the value pools (:mod:`simulator.pools`).

The stages behind it: ``pools`` (Faker values, built once) → ``mix`` (which
kinds, how often) → ``emitters`` (one draw becomes one event) → ``source``
(blocks of up to 100 for one portal) in the ``wire`` format.
"""

from __future__ import annotations

from .pools import value_pools
from .source import EventConfig, EventSource
from .wire import (
    ATTEMPT_SLOT,
    FIRST_ATTEMPT,
    Meta,
    RenderedBlock,
    WebhookEvent,
    count_families,
)

__all__ = [
    "ATTEMPT_SLOT",
    "FIRST_ATTEMPT",
    "EventConfig",
    "EventSource",
    "Meta",
    "RenderedBlock",
    "WebhookEvent",
    "count_families",
    "value_pools",
]
