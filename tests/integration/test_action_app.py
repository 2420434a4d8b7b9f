"""
The built-in action endpoint (simulator.action_app), which action scenarios
run against: it refuses forged requests, answers in exact shares, and its
503s are retried with the same callbackId.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import aiohttp
import pytest

from simulator import options_fetch
from simulator.action_app import PATH, ActionApp, options_page, sample_outputs
from simulator.actions import DEFAULT, FieldSpec, check_outputs
from simulator.answers import Behaviour, Shares
from simulator.errors import UsageError
from simulator.executions import ActionOptions, ActionRun
from simulator.signing import ClientSecret, sign_v2, sign_v3

from ..conftest import SECRET, serve_app

KEY = ClientSecret(SECRET)


class TestShares:
    @pytest.mark.parametrize("n", [3, 30, 300, 301])
    def test_counts_are_the_shares_rounded(self, n):
        """After n executions each answer's count is its share of n, rounded."""

        shares = Shares(Behaviour(block=1 / 3, expire=1 / 3))
        answers = [shares.next() for _ in range(n)]
        for name in ("callback", "expire", "success"):
            assert abs(answers.count(name) - n / 3) < 1

    def test_shares_over_one_are_refused(self):
        """block + expire + fail_continue above 1 is one clear error."""

        with pytest.raises(UsageError, match="at most 1"):
            Behaviour(block=0.6, fail_continue=0.6)

    def test_sample_outputs_satisfy_the_definition(self):
        """What the endpoint answers passes hubsim's own output check."""

        assert [] == check_outputs(DEFAULT, sample_outputs(DEFAULT))


def _app(**behaviour) -> ActionApp:
    return ActionApp(KEY, DEFAULT, Behaviour(**behaviour), lambda: None, "t")


class TestRefuses:
    async def _post(self, url, body, headers):
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, data=body, headers=headers) as r,
        ):
            return r.status

    async def test_forged_and_stale_requests_get_401(self):
        """Wrong v2, no signature, and a stale v3 are refused before any answer."""

        app = _app()
        async with serve_app(app.app()) as server:
            url = str(server.make_url(PATH))
            body = json.dumps({"callbackId": "ap-1-2-3-0"}).encode()
            v2 = {"X-HubSpot-Signature-Version": "v2"}
            good = {**v2, "X-HubSpot-Signature": sign_v2(KEY, "POST", url, body)}
            stale_ts = str(int(time.time() * 1000) - 600_000)
            stale = {
                **good,
                "X-HubSpot-Request-Timestamp": stale_ts,
                "X-HubSpot-Signature-v3": sign_v3(KEY, "POST", url, body, stale_ts),
            }
            statuses = [
                await self._post(url, body, {**v2, "X-HubSpot-Signature": "0" * 64}),
                await self._post(url, body, {}),
                await self._post(url, body, stale),
                await self._post(url, body, good),
            ]
        assert [401, 401, 401, 200] == statuses
        assert 3 == app.refused


class TestErrors:
    async def test_503s_are_retried_to_success(self):
        """With error_rate, HubSpot's retries carry every execution through."""

        app = _app(error_rate=0.5, seed=4)
        async with serve_app(app.app()) as server:
            opts = ActionOptions(
                target_url=str(server.make_url(PATH)),
                secret=KEY,
                executions=20,
                time_scale=1_000_000,
                seed=2,
            )
            result = await ActionRun(opts).execute()
        assert {"succeeded": 20} == {k: v for k, v in result.outcomes.items() if v}
        assert result.summary.requests > 20


class TestOptionsFetch:
    def test_pages_of_the_definitions_options(self):
        """Two options a page, `after` the offset of the next; q keeps matching labels."""

        first = options_page(
            DEFAULT, {"inputFieldName": "priority", "fetchOptions": {}}
        )
        assert first is not None
        assert ["low", "normal"] == [o["value"] for o in first["options"]]
        assert ("2", True) == (first["after"], first["searchable"])
        second = options_page(
            DEFAULT, {"inputFieldName": "priority", "fetchOptions": {"after": "2"}}
        )
        assert second is not None
        assert (["high"], None) == (
            [o["value"] for o in second["options"]],
            second.get("after"),
        )
        found = options_page(
            DEFAULT, {"inputFieldName": "priority", "fetchOptions": {"q": "HI"}}
        )
        assert found is not None
        assert ["high"] == [o["value"] for o in found["options"]]
        assert None is options_page(DEFAULT, {"inputFieldName": "nope"})

    async def test_action_options_against_the_built_in_app(self):
        """
        `hubsim action-options` against the built-in app: every page signed,
        answered and well-formed, the search sent because it is searchable;
        a field its definition lacks is answered 400.
        """

        app = _app()
        async with serve_app(app.app()) as server:
            url = str(server.make_url("/actions/options"))
            fetched = await asyncio.to_thread(
                options_fetch.fetch, url, KEY, DEFAULT, "priority", "hi"
            )
            # A field the app's definition does not have.
            other = replace(
                DEFAULT, inputs=(FieldSpec("color", "enumeration", ("red",)),)
            )
            unknown = await asyncio.to_thread(
                options_fetch.fetch, url, KEY, other, "color"
            )
        assert [] == fetched.problems
        assert ["low", "normal", "high", "high"] == [
            o["value"] for o in fetched.options
        ]
        assert [None, "2", None] == [p["after"] for p in fetched.pages]
        assert "hi" == fetched.pages[-1]["q"]
        assert 3 == app.options_fetches
        assert ["page 1: answered 400"] == unknown.problems
