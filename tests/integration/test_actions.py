"""
Custom workflow actions end to end, against a reference endpoint written from
HubSpot's docs (tests/action_app.py): execution requests, blocking, the local
callbacks API, expiry and retries.
"""

from __future__ import annotations

import json
import socket
from collections import Counter

import aiohttp
from click.testing import CliRunner

from simulator.cli import ExitCode, cli
from simulator.executions import ActionOptions, ActionRun
from simulator.signing import ClientSecret

from ..action_app import ActionApp
from ..conftest import SECRET, serve_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run(app: ActionApp, tmp_path=None, **options) -> tuple[ActionRun, object]:
    port = _free_port()
    app.api_base = f"http://127.0.0.1:{port}"
    async with serve_app(app.app()) as server:
        opts = ActionOptions(
            target_url=str(server.make_url("/actions/send")),
            secret=ClientSecret(SECRET),
            api_port=port,
            api_token=app.token,
            seed=5,
            ledger_path=str(tmp_path / "l.jsonl") if tmp_path else None,
            **options,
        )
        running = ActionRun(opts)
        result = await running.execute()
    return running, result


class TestAcceptance:
    async def test_thirds_succeed_complete_and_expire(self, tmp_path):
        """
        300 executions answered SUCCESS, BLOCK + callback 0.3 s later, and
        BLOCK with a 2 h expiry, at --time-scale 3600: the run ends by itself
        with 100 of each, one ledger line per execution, every v2 valid.
        """

        app = ActionApp(SECRET)
        running, result = await _run(
            app, tmp_path, executions=300, time_scale=3600, max_concurrent=10
        )
        lines = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
        outcomes = [x for x in lines if x["type"] == "outcome"]
        assert 300 == len(outcomes)
        assert 300 == len({x["callbackId"] for x in outcomes})
        assert {"succeeded": 100, "completed": 100, "expired": 100} == dict(
            Counter(x["outcome"] for x in outcomes)
        )
        assert all(app.v2_valid)
        assert 300 == len(app.v2_valid)
        assert {204} == set(app.callback_answers)
        # Measured from the BLOCK answer to the callback: present, never negative.
        assert all(
            x["completionDelayMs"] >= 0 for x in outcomes if x["outcome"] == "completed"
        )
        assert result.ledger.balanced
        assert not result.interrupted
        report = running.report()
        assert 100 == report["outcomes"]["expired"]
        assert report["completion_delay_ms"]["p50"] > 0

    def test_cli_exit_code_and_report(self, tmp_path):
        """The CLI exits 1 when executions expired, and says so in the report."""

        from ..conftest import ThreadedReceiver

        app = ActionApp(SECRET)
        port = _free_port()
        app.api_base = f"http://127.0.0.1:{port}"
        report = tmp_path / "r.json"
        with ThreadedReceiver(app_factory=app.app) as server:
            url = f"http://127.0.0.1:{server.port}/actions/send"
            result = CliRunner().invoke(
                cli,
                ["action", url, "-s", SECRET, "-n", "30", "--time-scale", "3600",
                 "--api-port", str(port), "--api-token", app.token, "-q",
                 "--report", str(report)],
            )  # fmt: skip
        assert ExitCode.NOT_DELIVERED == result.exit_code, result.output
        doc = json.loads(report.read_text())
        assert {"succeeded": 10, "completed": 10, "expired": 10} == {
            k: v for k, v in doc["actions"]["outcomes"].items() if v
        }


class TestRetries:
    async def test_5xx_is_retried_with_the_same_callback_id(self):
        """A 503 to the first attempt is retried: same callbackId, fresh signature."""

        seen: list[str] = []

        def first_fails(i, doc):
            seen.append(doc["callbackId"])
            return "error" if len(seen) == 1 else "success"

        app = ActionApp(SECRET, plan=first_fails)
        _, result = await _run(app, executions=1, time_scale=100_000)
        assert 2 == len(app.requests)
        assert seen[0] == seen[1]
        first, second = app.requests
        assert first[2] == second[2]  # the same body
        assert (
            first[3]["X-HubSpot-Request-Timestamp"]
            <= second[3]["X-HubSpot-Request-Timestamp"]
        )
        assert 1 == result.ledger.delivered

    async def test_4xx_is_final(self):
        """A 400 is not retried: the execution failed."""

        app = ActionApp(SECRET, plan=lambda i, doc: "fail")
        running, result = await _run(app, executions=2, time_scale=100_000)
        assert 2 == len(app.requests)
        assert 2 == running.report()["outcomes"]["failed"]
        assert 2 == result.ledger.gave_up


class TestCallbacksApi:
    """The local callbacks API on its own, over real HTTP."""

    PATH = "/automation/v4/actions/callbacks/{}/complete"

    @staticmethod
    def _registry(done):
        from simulator.actions import DEFAULT
        from simulator.callbacks import Registry

        registry = Registry(
            DEFAULT, lambda cid, out, t: done.append((cid, out)), lambda: 0.0
        )
        for cid in ("ap-1-2-1-0", "ap-1-3-1-0", "ap-1-4-1-0"):
            registry.sent(cid)
            registry.block(cid, deadline=100.0)
        return registry

    async def _post(self, server, path, body, token="tok"):
        async with aiohttp.ClientSession() as s, s.post(
            server.make_url(path), json=body, headers={"Authorization": f"Bearer {token}"}
        ) as r:  # fmt: skip
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def test_completion_and_errors(self):
        """204 once; wrong token, unknown id and a second completion get envelopes."""

        from simulator.callbacks import create_app

        done: list = []
        registry = self._registry(done)
        body = {"outputFields": {"delivery_status": "sent"}}
        async with serve_app(create_app(registry, token="tok")) as server:
            ok = await self._post(server, self.PATH.format("ap-1-2-1-0"), body)
            forged = await self._post(server, self.PATH.format("ap-1-3-1-0"), body, "x")
            unknown = await self._post(server, self.PATH.format("ap-9-9-9-0"), body)
            again = await self._post(server, self.PATH.format("ap-1-2-1-0"), body)
            invalid = await self._post(
                server, self.PATH.format("ap-1-3-1-0"), {"outputFields": {"nope": "1"}}
            )
        assert (204, None) == ok
        assert [401, 404, 409, 400] == [forged[0], unknown[0], again[0], invalid[0]]
        for _, doc in (forged, unknown, again, invalid):
            assert {"status", "message", "correlationId", "category"} <= set(doc)
        assert "nope" in invalid[1]["errors"][0]["message"]
        assert [("ap-1-2-1-0", {"delivery_status": "sent"})] == done

    async def test_batch_and_2026_03_paths(self):
        """The batch endpoint completes every input, on both API surfaces."""

        from simulator.callbacks import create_app

        done: list = []
        registry = self._registry(done)
        async with serve_app(create_app(registry)) as server:
            v4 = await self._post(
                server, "/automation/v4/actions/callbacks/complete",
                {"inputs": [{"callbackId": "ap-1-2-1-0", "outputFields": {}},
                            {"callbackId": "ap-1-3-1-0", "outputFields": {}}]},
            )  # fmt: skip
            dated = await self._post(
                server, "/automation/actions/callbacks/2026-03/ap-1-4-1-0/complete",
                {"outputFields": {"message_id": "m"}}, token="any-token",
            )  # fmt: skip
        assert (204, None) == v4
        assert 204 == dated[0]
        assert 3 == len(done)

    async def test_typed_outputs_can_be_required(self):
        """--require-typed-outputs: a callback without typedOutputs gets 400."""

        from simulator.callbacks import create_app

        done: list = []
        registry = self._registry(done)
        plain = {"outputFields": {"message_id": "m"}}
        typed = {**plain, "typedOutputs": {"message_id": "m"}}
        async with serve_app(create_app(registry, require_typed=True)) as server:
            refused = await self._post(server, self.PATH.format("ap-1-2-1-0"), plain)
            accepted = await self._post(server, self.PATH.format("ap-1-2-1-0"), typed)
        assert 400 == refused[0]
        assert "typedOutputs" in refused[1]["errors"][0]["message"]
        assert 204 == accepted[0]


class TestActionContract:
    async def _contract(self, app, **kw):
        from simulator.action_contract import ActionContractOptions, run_checks

        port = _free_port()
        app.api_base = f"http://127.0.0.1:{port}"
        async with serve_app(app.app()) as server:
            results = await run_checks(
                ActionContractOptions(
                    str(server.make_url("/actions/send")),
                    ClientSecret(SECRET),
                    options_url=str(server.make_url("/actions/options")),
                    api_port=port,
                    api_token=app.token,
                    callback_wait_s=5.0,
                    timeout_s=5.0,
                    **kw,
                )
            )
        return {r.id: r for r in results}

    async def test_careful_app_passes_every_check(self):
        """An app that verifies v2 and v3, blocks and calls back passes them all."""

        app = ActionApp(
            SECRET, verify_v3=True, plan=lambda i, d: "callback", callback_delay_s=0.05
        )
        results = await self._contract(app)
        failed = {
            k: r.message for k, r in results.items() if r.required and r.passed is False
        }
        assert {} == failed
        assert results["block-then-callback"].passed

    async def test_v2_only_app_fails_replay(self):
        """An app checking v2 alone accepts a 6-minute-old request: named."""

        app = ActionApp(SECRET, plan=lambda i, d: "success")
        results = await self._contract(app)
        stale = results["rejects-stale-v3"]
        assert stale.passed is False
        assert "v2 alone has no replay protection" in stale.message
        assert results["block-then-callback"].passed is None
        assert results["accepts-execution"].passed
        assert results["options-shape"].passed

    def test_cli_an_app_that_never_blocks_passes(self):
        """
        A careful app that always answers SUCCESS passes: block-then-callback
        is informational (nothing to call back), not a failure. It used to
        exit 1 with "block-then-callback" named as failed.
        """

        from ..conftest import ThreadedReceiver

        app = ActionApp(SECRET, verify_v3=True, plan=lambda i, d: "success")
        with ThreadedReceiver(app_factory=app.app) as server:
            result = CliRunner().invoke(
                cli,
                ["contract", "--kind", "action",
                 f"http://127.0.0.1:{server.port}/actions/send", "-s", SECRET],
            )  # fmt: skip
        assert ExitCode.OK == result.exit_code, result.output
        assert "informational (ℹ)" in result.output
        assert "failed" not in result.output

    def test_cli_kind_action(self, tmp_path):
        """hubsim contract --kind action writes JUnit and exits 1 on a failure."""

        from ..conftest import ThreadedReceiver

        app = ActionApp(SECRET, plan=lambda i, d: "success")
        junit = tmp_path / "c.xml"
        with ThreadedReceiver(app_factory=app.app) as server:
            result = CliRunner().invoke(
                cli,
                ["contract", "--kind", "action",
                 f"http://127.0.0.1:{server.port}/actions/send", "-s", SECRET,
                 "--junit", str(junit)],
            )  # fmt: skip
        assert ExitCode.NOT_DELIVERED == result.exit_code, result.output
        assert "rejects-stale-v3" in junit.read_text()
