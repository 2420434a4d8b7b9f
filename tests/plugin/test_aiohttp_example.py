"""The plugin with an aiohttp receiver: what a user's test module looks like."""

from __future__ import annotations

import pytest

from simulator.pytest_plugin import contract_check_ids

from .receivers import SECRET, aiohttp_receiver


@pytest.fixture
def hubspot_secret() -> str:
    """The receiver's client secret."""
    return SECRET


@pytest.fixture
def hubspot_path() -> str:
    """Where the receiver's webhook handler listens."""
    return "/webhooks/hubspot"


@pytest.fixture
def hubspot_target():
    """The receiver under test, served by the plugin on 127.0.0.1."""
    return aiohttp_receiver()


async def test_contact_creations_are_accepted(hubspot_sender):
    """150 contact creations arrive in two signed batches, both answered 200."""

    answers = await hubspot_sender.send(types=["contact.creation"], count=150)

    assert [200, 200] == [a.status for a in answers]
    assert [100, 50] == [len(a.events) for a in answers]


async def test_retry_is_accepted(hubspot_sender):
    """A retry (attemptNumber 3) is accepted like a first attempt."""

    [answer] = await hubspot_sender.send(types=["deal"], count=10, attempt_number=3)

    assert 200 == answer.status
    assert {3} == {e["attemptNumber"] for e in answer.events}


async def test_factory_events(hubspot_sender, hubspot_events):
    """Events from the factory can be sent as they are."""

    events = hubspot_events(["ticket.creation"], 3)
    [answer] = await hubspot_sender.send(events=events)

    assert 200 == answer.status


@pytest.mark.parametrize("check_id", contract_check_ids())
async def test_contract(hubspot_contract, check_id):
    """Each contract check is its own test."""

    result = await hubspot_contract(check_id)

    assert not result.failed, result.message
