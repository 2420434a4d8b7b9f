"""The expected CRM state (crm_state) and its verification, without I/O but files."""

from __future__ import annotations

import contextlib
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import crm_state
from simulator.crm_state import Record, StateBuilder
from simulator.errors import UsageError
from simulator.events import EventConfig, EventSource
from simulator.verification import KINDS, verify

PORTAL = 555


def _event(eid, t, stype, oid=1, **fields):
    return {
        "eventId": eid,
        "portalId": PORTAL,
        "occurredAt": t,
        "subscriptionType": stype,
        "objectId": oid,
        **fields,
    }


def _change(eid, t, name, value, oid=1, stype="contact.propertyChange"):
    return _event(eid, t, stype, oid, propertyName=name, propertyValue=value)


def _state(events):
    builder = StateBuilder()
    builder.add_all(events)
    return {r.key: r for r in builder.records()}


def _one(events):
    (record,) = _state(events).values()
    return record


class TestRules:
    def test_latest_occurred_at_wins_whatever_the_arrival(self):
        """A property takes the value of the latest occurredAt, not the latest arrival."""

        events = [_change(2, 200, "email", "new@x.io"), _change(1, 100, "email", "old")]
        assert {"email": "new@x.io"} == _one(events).properties

    def test_ties_go_to_the_greater_event_id(self):
        """Two changes in the same millisecond: the greater eventId is the later one."""

        events = [_change(9, 100, "city", "Oslo"), _change(3, 100, "city", "Rome")]
        assert {"city": "Oslo"} == _one(events).properties

    def test_an_event_id_counts_once(self):
        """A duplicate delivery changes nothing and is counted as a duplicate."""

        builder = StateBuilder()
        first = _change(5, 100, "city", "Oslo")
        builder.add_all([first, _change(6, 150, "city", "Rome"), first])
        assert 1 == builder.duplicates
        assert {"city": "Rome"} == builder.records()[0].properties

    def test_cleared_is_a_value(self):
        """A later "" clears the field: the record holds "", not the older value."""

        events = [_change(1, 100, "phone", "+1 555"), _change(2, 200, "phone", "")]
        assert {"phone": ""} == _one(events).properties

    def test_deletion_and_restore_by_occurred_at(self):
        """The latest of creation, deletion and restore decides whether it is deleted."""

        created = _event(1, 100, "contact.creation")
        deleted = _event(2, 200, "contact.deletion")
        restored = _event(3, 300, "contact.restore")
        assert not _one([restored, deleted, created]).deleted
        assert _one([created, deleted]).deleted

    def test_merge_points_retired_ids_at_the_survivor(self):
        """mergedObjectIds (and a replaced primary) get mergedInto the new id."""

        merge = _event(
            1,
            100,
            "contact.merge",
            oid=70,
            primaryObjectId=10,
            mergedObjectIds=[20, 30],
            newObjectId=70,
        )
        state = _state([merge])
        assert {10: 70, 20: 70, 30: 70, 70: None} == {
            k[2]: r.merged_into for k, r in state.items()
        }

    def test_privacy_deletion_erases_what_came_before(self):
        """A GDPR delete deletes the record and leaves no earlier property."""

        events = [
            _change(1, 100, "email", "a@b.c"),
            _event(2, 200, "contact.privacyDeletion"),
        ]
        record = _one(events)
        assert record.deleted
        assert record.privacy_deleted
        assert {} == dict(record.properties)

    def test_generic_events_use_their_object_type_id(self):
        """object.* events are keyed by their objectTypeId; associations are no state."""

        events = [
            _change(
                1, 100, "hs_task_status", "COMPLETED", stype="object.propertyChange"
            )
            | {"objectTypeId": "0-27"},
            _event(2, 100, "contact.associationChange", fromObjectId=1, toObjectId=2),
        ]
        assert [(PORTAL, "0-27", 1)] == list(_state(events))

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(seed=st.integers(0, 2**32), order=st.integers(0, 2**32))
    def test_any_order_and_any_duplicates_give_one_state(self, seed, order):
        """Generated events in any order, some twice, fold into the same state."""

        shuffle = random.Random(order)
        events = [e.to_dict() for e in _source(seed).take(600)]
        once = _state(events)
        again = events + [e for e in events if shuffle.random() < 0.2]
        shuffle.shuffle(again)
        assert verify(once, _state(again)).passed


def _source(seed):
    return EventSource(
        EventConfig(seed=seed, start_ms=1_767_225_600_000, objects=50, portals=2)
    )


def _records(*records):
    return {r.key: r for r in records}


class TestVerification:
    def test_equal_states_pass(self):
        """A state compared with itself has no difference."""

        state = _state([e.to_dict() for e in _source(1).take(2000)])
        result = verify(state, state)
        assert result.passed
        assert "state matches" in result.summary()

    @pytest.mark.parametrize(
        ("expected", "actual", "kind"),
        [
            (Record(1, "0-1", 5, properties={"a": "x"}), None, "missing-object"),
            (None, Record(1, "0-1", 5), "unexpected-object"),
            (
                Record(1, "0-1", 5, properties={"a": "x"}),
                Record(1, "0-1", 5, properties={"a": "y"}),
                "wrong-value",
            ),
            (
                Record(1, "0-1", 5, properties={"a": ""}),
                Record(1, "0-1", 5, properties={"a": "kept"}),
                "wrong-value",
            ),
            (
                Record(1, "0-1", 5, deleted=True),
                Record(1, "0-1", 5),
                "should-be-deleted",
            ),
            (
                Record(1, "0-1", 5),
                Record(1, "0-1", 5, deleted=True),
                "should-not-be-deleted",
            ),
            (
                Record(1, "0-1", 5, merged_into=9),
                Record(1, "0-1", 5),
                "merge-not-applied",
            ),
            (
                Record(1, "0-1", 5, deleted=True, privacy_deleted=True),
                Record(1, "0-1", 5, deleted=True, properties={"email": "a@b.c"}),
                "privacy-data-retained",
            ),
        ],
        ids=lambda v: v if isinstance(v, str) else None,
    )
    def test_each_kind_is_named(self, expected, actual, kind):
        """Each way a sync goes wrong is reported under its own kind."""

        result = verify(
            _records(*filter(None, [expected])), _records(*filter(None, [actual]))
        )
        assert [kind] == [d.kind for d in result.differences]
        assert kind in KINDS
        assert f"1 difference: 1 {kind}" == result.summary()

    @pytest.mark.parametrize(
        ("expected", "actual"),
        [
            (Record(1, "0-1", 5, deleted=True), None),
            (Record(1, "0-1", 5, merged_into=9), None),
            (
                Record(1, "0-3", 5, properties={"amount": "1500.00"}),
                Record(1, "0-3", 5, properties={"amount": "1500", "extra": "mine"}),
            ),
            (Record(1, "0-1", 5, properties={"a": ""}), Record(1, "0-1", 5)),
            (None, Record(1, "0-1", 5, deleted=True)),
        ],
        ids=["dropped-deleted", "dropped-merged", "numbers", "cleared", "own-deleted"],
    )
    def test_what_a_correct_sync_may_do(self, expected, actual):
        """Dropping deleted rows, numbers as numbers, extra properties: no difference."""

        result = verify(
            _records(*filter(None, [expected])), _records(*filter(None, [actual]))
        )
        assert () == result.differences

    def test_json_and_junit_agree(self):
        """The JSON and JUnit forms carry the same counts and verdict."""

        result = verify(_records(Record(1, "0-1", 5)), {})
        doc = result.to_json(limit=5)
        assert False is doc["passed"]
        assert {"missing-object": 1} == doc["counts"]
        xml = result.junit_xml(limit=5)
        assert 'failures="1"' in xml
        assert f'tests="{len(KINDS)}"' in xml


class TestFiles:
    def test_written_state_reads_back(self, tmp_path):
        """--state-out's file reads back as the same records."""

        state = _state([e.to_dict() for e in _source(2).take(1500)])
        path = tmp_path / "s.jsonl"
        crm_state.write(str(path), state.values())
        assert state == crm_state.read(str(path))
        first = orjson.loads(path.read_bytes().splitlines()[0])
        assert {
            "portalId", "objectTypeId", "objectId", "deleted", "mergedInto",
            "properties",
        } <= set(first)  # fmt: skip

    @pytest.mark.parametrize(
        ("line", "words"),
        [
            (b"[1]", "JSON object"),
            (b'{"portalId": true, "objectTypeId": "0-1", "objectId": 1}', "portalId"),
            (b'{"portalId": 1, "objectTypeId": 3, "objectId": 1}', "objectTypeId"),
            (
                b'{"portalId": 1, "objectTypeId": "0-1", "objectId": 1, "deleted": 1}',
                "deleted",
            ),
            (
                b'{"portalId": 1, "objectTypeId": "0-1", "objectId": 1,'
                b' "mergedInto": "9"}',
                "mergedInto",
            ),
            (
                b'{"portalId": 1, "objectTypeId": "0-1", "objectId": 1,'
                b' "properties": {"a": [1]}}',
                "property a",
            ),
        ],
    )
    def test_bad_lines_name_file_and_line(self, tmp_path, line, words):
        """A line that is not a record fails with the file, the line and the key."""

        path = tmp_path / "mine.jsonl"
        path.write_bytes(b"\n" + line + b"\n")
        with pytest.raises(UsageError) as caught:
            crm_state.read(str(path))
        assert f"{path}:2" in str(caught.value)
        assert words in str(caught.value)

    def test_random_lines_never_crash(self, tmp_path):
        """Junk of any kind is a UsageError, never another exception."""

        rng = random.Random(4)
        for i in range(200):
            path = tmp_path / f"{i}.jsonl"
            path.write_bytes(
                bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
            )
            with contextlib.suppress(UsageError):
                crm_state.read(str(path))


class TestPluginHelper:
    def test_rows_from_a_database_are_compared(self, tmp_path):
        """assert_state_matches takes a file and dict rows, and lists what differs."""

        from simulator.pytest_plugin import assert_state_matches

        expected = tmp_path / "expected.jsonl"
        crm_state.write(str(expected), [Record(1, "0-1", 5, properties={"a": "x"})])
        row = {"portalId": 1, "objectTypeId": "0-1", "objectId": 5}
        assert_state_matches(expected, [row | {"properties": {"a": "x"}}])
        with pytest.raises(AssertionError) as caught:
            assert_state_matches(str(expected), [row | {"properties": {"a": "y"}}])
        assert "wrong-value" in str(caught.value)
        assert "'y', expected 'x'" in str(caught.value)
