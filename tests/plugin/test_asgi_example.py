"""The plugin with a Starlette (ASGI) receiver; a FastAPI app is used the same way."""

from __future__ import annotations

import pytest

from simulator.pytest_plugin import contract_check_ids

from .receivers import SECRET, starlette_receiver


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
    """An ASGI app: the plugin serves it on 127.0.0.1 through an adapter."""
    return starlette_receiver()


async def test_unicode_batch_is_accepted(hubspot_sender):
    """Raw UTF-8 names (several locales, emoji) pass v3 on the raw bytes."""

    answers = await hubspot_sender.send(types=["contact.propertyChange"], count=300)

    assert {204} == {a.status for a in answers}


@pytest.mark.parametrize("check_id", contract_check_ids())
async def test_contract(hubspot_contract, check_id):
    """The whole contract, one test per check."""

    result = await hubspot_contract(check_id)

    assert not result.failed, result.message
