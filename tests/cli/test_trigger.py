"""
``hubsim trigger``: one event on demand, printed both ways, checked on the
bytes an independent capture server received.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from hubspot.utils.signature import Signature

from simulator import catalog
from simulator.cli import ExitCode, cli
from simulator.signing import sign_v1

from ..capture import CaptureServer
from ..conftest import SECRET, ThreadedReceiver


def _trigger(*args, script=lambda _: 204):
    cap = CaptureServer(script=script)
    with ThreadedReceiver(app_factory=cap.app) as server:
        result = CliRunner().invoke(
            cli, ["trigger", args[0], server.url, "-s", SECRET, *args[1:]]
        )
    return result, cap.requests, server.url


class TestTrigger:
    def test_prints_the_request_and_the_response(self):
        """The request (headers, body) and the answer are printed; exit 0 on 2xx."""

        result, requests, url = _trigger("contact.creation")
        assert ExitCode.OK == result.exit_code, result.output
        assert f"→ POST {url}" in result.output
        assert "X-HubSpot-Signature-v3:" in result.output
        assert "← 204 No Content" in result.output
        assert SECRET not in result.output
        (request,) = requests
        events = json.loads(request.body)
        assert "contact.creation" == events[0]["subscriptionType"]
        assert json.dumps(events[0]["eventId"]) in result.output
        assert sign_v1(SECRET, request.body) == request.headers["X-HubSpot-Signature"]

    def test_test_button_payload(self):
        """--test-button: objectId 123, changeSource CRM, changeFlag NEW (§3)."""

        _, requests, _ = _trigger("contact.creation", "--test-button")
        (event,) = json.loads(requests[0].body)
        assert 123 == event["objectId"]
        assert "NEW" == event["changeFlag"]
        assert "CRM" == event["changeSource"]
        assert 100 == event["eventId"]
        assert "sourceId" not in event

    def test_set_and_attempt(self):
        """--set takes JSON values as JSON and the rest as text; --attempt sets N."""

        _, requests, _ = _trigger(
            "deal.propertyChange", "--set", "propertyValue=closedwon",
            "--set", "objectId=42", "--attempt", "3",
        )  # fmt: skip
        (event,) = json.loads(requests[0].body)
        assert "closedwon" == event["propertyValue"]
        assert 42 == event["objectId"]
        assert 3 == event["attemptNumber"]

    def test_body_file_is_sent_as_is(self, tmp_path):
        """--body sends the file's exact bytes, signed over them."""

        body = (
            b'[{"eventId":1,"subscriptionType":"contact.creation","attemptNumber":0}]'
        )
        path = tmp_path / "b.json"
        path.write_bytes(body)
        _, requests, _ = _trigger("contact.creation", "--body", str(path))
        assert body == requests[0].body
        assert sign_v1(SECRET, body) == requests[0].headers["X-HubSpot-Signature"]

    def test_workflow_record(self):
        """workflow.deal: one record, v2-signed by the workflow engine."""

        _, requests, url = _trigger("workflow.deal")
        (request,) = requests
        record = json.loads(request.body)
        assert "DEAL" == record["objectType"]
        assert catalog.AUTOMATION_USER_AGENT == request.headers["User-Agent"]
        assert Signature.is_valid(
            request.headers["X-HubSpot-Signature"], SECRET, request.body.decode(),
            http_uri=url, http_method="POST", signature_version="v2",
        )  # fmt: skip

    def test_action_execution(self):
        """action: one execution request with its callbackId, v2 and v3."""

        _, requests, _ = _trigger("action")
        (request,) = requests
        doc = json.loads(request.body)
        assert doc["callbackId"].startswith("ap-")
        assert "X-HubSpot-Signature-v3" in request.headers
        assert "v2" == request.headers["X-HubSpot-Signature-Version"]

    def test_a_failure_exits_1(self):
        """A 500 is printed and exits 1."""

        result, _, _ = _trigger("ticket.creation", script=lambda _: 500)
        assert ExitCode.NOT_DELIVERED == result.exit_code
        assert "← 500 Internal Server Error" in result.output
