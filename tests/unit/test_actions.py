"""Custom action definitions, request bodies and answers, on data alone."""

from __future__ import annotations

import hashlib

import pytest

from simulator.actions import (
    DEFAULT,
    DEFAULT_EXPIRY_S,
    Definition,
    Execution,
    ExecutionSource,
    check_outputs,
    execution_body,
    parse_duration,
    read_reply,
)
from simulator.errors import UsageError

#: The one raw capture (app-calls §1.1, C1) and its v2 vector.
C1 = (
    '{"callbackId":"ap-50467010-2384423471376-1-0","origin":{"portalId":50467010,'
    '"userId":null,"actionDefinitionId":259551814,"actionDefinitionVersion":1,'
    '"actionExecutionIndexIdentifier":{"enrollmentId":2384423471376,'
    '"actionExecutionIndex":0},"extensionDefinitionVersionId":1,'
    '"extensionDefinitionId":259551814},"context":{"workflowId":1791092093,'
    '"actionId":1,"actionExecutionIndexIdentifier":{"enrollmentId":2384423471376,'
    '"actionExecutionIndex":0},"source":"WORKFLOWS"},"object":{"objectId":'
    '153847279758,"objectType":"CONTACT"},"fields":{"label":"Brian Halligan '
    '(Sample Contact)","value":"153847279758"},"inputFields":{"label":"Brian '
    'Halligan (Sample Contact)","value":"153847279758"},"typedInputs":{"label":'
    '{"value":"Brian Halligan (Sample Contact)","type":"STRING"},"value":{"value":'
    '"153847279758","type":"STRING"}}}'
)


class TestExecutionBody:
    def test_reproduces_the_capture_and_its_v2_vector(self):
        """The C1 capture, byte for byte, and its v2 signature d0c157…"""

        e = Execution(
            50467010, 2384423471376, 1, 0, 1791092093, 153847279758, "CONTACT"
        )
        body = execution_body(
            e, 259551814, 1,
            {"label": "Brian Halligan (Sample Contact)", "value": "153847279758"},
        )  # fmt: skip
        assert C1.encode() == body
        material = (
            b"fa768533-04ea-4d9b-becf-38cef1f96f0f"
            + b"POST"
            + b"https://webhook.site/c5db800b-e3c3-4a16-af81-1e19f6d8b6a0"
            + body
        )
        assert (
            "d0c157dec62681b3ef5b9f7a1d66a9a63cfc67984b351a0f9d736e82ebdb0f03"
            == hashlib.sha256(material).hexdigest()
        )

    def test_source_is_seeded_and_typed(self):
        """Same seed, same bytes; each input's value fits its field type."""

        a = [ExecutionSource(DEFAULT, seed=3).render(1).body for _ in range(1)]
        b = [ExecutionSource(DEFAULT, seed=3).render(1).body for _ in range(1)]
        assert a == b
        import json

        doc = json.loads(a[0])
        assert doc["callbackId"].startswith(f"ap-{doc['origin']['portalId']}-")
        assert doc["inputFields"]["priority"] in ("low", "normal", "high")
        assert doc["inputFields"]["notify_owner"] in ("true", "false")
        float(doc["inputFields"]["retries"])
        assert list(doc) == [
            "callbackId", "origin", "context", "object", "fields", "inputFields",
            "typedInputs",
        ]  # fmt: skip
        assert ["objectId", "properties", "objectType"] == list(doc["object"])


class TestReplies:
    @pytest.mark.parametrize(
        ("body", "state"),
        [
            (b"", "success"),
            (b"<html>ok</html>", "success"),
            (b'{"outputFields":{"x":"1"}}', "success"),
            (b'{"outputFields":{"hs_execution_state":"SUCCESS"}}', "success"),
            (
                b'{"outputFields":{"hs_execution_state":"FAIL_CONTINUE"}}',
                "fail_continue",
            ),
            (b'{"outputFields":{"hs_execution_state":"BLOCK"}}', "block"),
            (b'{"outputFields":{"hs_execution_state":"ASYNC"}}', "block"),
        ],
    )
    def test_state_decides(self, body, state):
        """hs_execution_state decides; without one a 2xx succeeded (§1.3)."""

        assert state == read_reply(body).state

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            (None, DEFAULT_EXPIRY_S),
            ("P1WT1H", 7 * 86400 + 3600),
            ("P1D", 86400),
            ("PT15M", 900),
            ("PT90S", 90),
            ("P7DT12H", 7.5 * 86400),
            ("PT2H", 7200),
            ("tomorrow", DEFAULT_EXPIRY_S),
            ("P", DEFAULT_EXPIRY_S),
            ("P9999D", DEFAULT_EXPIRY_S),
        ],
    )
    def test_expiration_durations(self, text, seconds):
        """ISO-8601 durations; malformed or beyond a year: the default week."""

        assert seconds == parse_duration(text)


class TestDefinitions:
    def test_outputs_are_checked(self):
        """Undeclared names and wrong types are problems; hs_* fields are allowed."""

        assert [] == check_outputs(
            DEFAULT, {"delivery_status": "sent", "hs_execution_state": "SUCCESS"}
        )
        problems = check_outputs(DEFAULT, {"delivery_status": "lost", "other": "1"})
        assert 2 == len(problems)

    @pytest.mark.parametrize(
        ("doc", "words"),
        [
            ([], "JSON object"),
            ({"objectTypes": ["WIDGET"]}, "objectTypes"),
            (
                {"inputFields": [{"typeDefinition": {"name": "x", "type": "blob"}}]},
                "type",
            ),
            (
                {
                    "inputFields": [
                        {"typeDefinition": {"name": "x", "type": "enumeration"}}
                    ]
                },
                "options",
            ),
            ({"inputFields": [{}]}, "typeDefinition"),
        ],
    )
    def test_bad_definitions(self, doc, words):
        """A definition that is not HubSpot's shape is refused, naming the key."""

        with pytest.raises(UsageError, match=words):
            Definition.from_json(doc)
