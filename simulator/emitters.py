"""
Emitters: one per kind of event, each turning one 64-bit random draw into one
event (a template from the kind's pool plus its slot values), appended to the
block being rendered. They are built once per source and stay cheap per event.

One draw ``x`` per event; its bits, by field (each a :class:`Field` below):

=====  ============  ====================================================
bits   field         meaning
=====  ============  ====================================================
0-9    TEMPLATE      which of the kind's 1024 templates, or association
10     HOT           change or association: 0 = one of the type's newest
                     records (what was just created is what gets edited)
11-14  RECENT        which of the 16 newest records
20-29  OCCURRED      which of 1024 occurredAt lags (0.3-1.5 s, spec §7)
30-41  OBJECT        which record of the portal's population (modulo its size)
30-33  NEW_GAP       creation: gap to the next new record id
30-32  MESSAGE_TYPE  newMessage: MESSAGE or COMMENT
33-44  THREAD        newMessage: which of 4096 threads
42-53  OTHER         a second record: merged away, or associated to
52     FIRST         privacy deletion: which of the pair comes first
53-54  LATER         privacy deletion: 0 = same batch, else a later one
54-55  REMOVED       association: 0 = removed (one in four)
54-56  EXTRA_MERGED  merge: 0 = a second merged record (one in eight)
56-61  USER          association: which of 64 users made the change
57-59  KEEPS_ID      merge: 0 = the merge made a new id (one in eight)
62-63  PRIMARY       association: 0 = the primary label too (one in four)
=====  ============  ====================================================

Fields of different kinds overlap; within one kind they do not. The mixin is
part of :class:`~simulator.source.EventSource`, which owns the state the
emitters close over (pools, ids, the event-id counter).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any, Final, NamedTuple

from . import catalog
from .catalog import AssociationType, PropertySpec
from .errors import CatalogError
from .mix import Kind, associations_from, weighted_table
from .pools import POOL_BITS, encoded
from .wire import HEAD, Meta, encode_all, lit


class Field(NamedTuple):
    """A bit field of the per-event draw: ``(x >> shift) & mask``."""

    shift: int
    mask: int

    def of(self, x: int) -> int:
        """This field's value in draw ``x``."""
        return (x >> self.shift) & self.mask


TEMPLATE: Final = Field(0, 1023)
OCCURRED: Final = Field(20, 1023)
HOT: Final = Field(10, 1)
RECENT: Final = Field(11, 15)
OBJECT: Final = Field(30, 4095)
NEW_GAP: Final = Field(30, 15)
MESSAGE_TYPE: Final = Field(30, 7)
THREAD: Final = Field(33, 4095)
OTHER: Final = Field(42, 4095)
FIRST: Final = Field(52, 1)
LATER: Final = Field(53, 3)
REMOVED: Final = Field(54, 3)
EXTRA_MERGED: Final = Field(54, 7)
USER: Final = Field(56, 63)
KEEPS_ID: Final = Field(57, 7)
PRIMARY: Final = Field(62, 3)

#: The fields each action's emitter reads; within one action they never overlap
#: (tests/unit/test_events.py checks), so no two choices are correlated.
FIELDS_BY_ACTION: Final = {
    "propertyChange": (TEMPLATE, HOT, RECENT, OCCURRED, OBJECT),
    "creation": (TEMPLATE, OCCURRED, NEW_GAP, FIRST, LATER),
    "lifecycle": (TEMPLATE, OCCURRED, OBJECT, FIRST, LATER),
    "merge": (TEMPLATE, OCCURRED, OBJECT, OTHER, EXTRA_MERGED, KEEPS_ID),
    "newMessage": (OCCURRED, MESSAGE_TYPE, THREAD),
    "associationChange": (
        TEMPLATE,
        HOT,
        RECENT,
        OCCURRED,
        OBJECT,
        OTHER,
        REMOVED,
        USER,
        PRIMARY,
    ),
}

Emitter = Callable[[list[bytes], list[tuple[Any, ...]], list[Meta], int], None]


class EmitterMixin:
    """
    Builds an :data:`Emitter` per kind. Mixed into EventSource, which owns
    these attributes and the two lookups.
    """

    config: Any
    app_id: int
    _values: dict[str, tuple[str, ...]]
    _source_pool: tuple[str, ...]
    _user_sources: tuple[str, ...]
    _occurred: list[int]
    _event_ids: Iterator[int]
    _next_new_id: int
    _bits: Callable[[int], int]
    _rng: random.Random

    def _ids_for(self, type_id: str) -> list[int]:
        raise NotImplementedError

    def _recent_for(self, type_id: str) -> list[int]:
        raise NotImplementedError

    def _deleted_for(self, type_id: str) -> list[int]:
        raise NotImplementedError

    def _replacement(self, object_id: int) -> int:
        raise NotImplementedError

    def _subscription_id(self, stype: str, type_id: str, prop: str = "") -> int:
        raise NotImplementedError

    def _head(self, stype: str, sid: int) -> str:
        return HEAD % (sid, self.app_id, stype)

    def _emitter(self, kind: Kind, selected: set[tuple[str, str]]) -> Emitter:
        if kind.action == "propertyChange":
            return self._property_emitter(kind)
        if kind.action in ("creation", "deletion", "restore", "privacyDeletion"):
            return self._lifecycle_emitter(kind, selected)
        if kind.action == "merge":
            return self._merge_emitter(kind)
        if kind.action == "associationChange":
            return self._association_emitter(kind, selected)
        if kind.action == "newMessage":
            return self._message_emitter(kind)
        raise CatalogError(f"no payload shape for {kind.subscription_type}")

    def _property_emitter(self, kind: Kind) -> Emitter:
        stype, otid = kind.subscription_type, kind.object_type_id
        conv = kind.family == "conversation"
        specs = (
            catalog.CONVERSATION_PROPERTIES
            if conv
            else catalog.properties_for(kind.crm_type_id)
        )
        specs = self._chosen_properties(kind, specs)
        rows = self._property_rows(stype, otid, specs)
        rng = self._rng
        sources = ('"CONVERSATIONS"',) if conv else self._source_pool
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        # Each propertyChange subscription names one property (§2), so the
        # subscriptionId travels with the property inside the template.
        templates = []
        for _ in range(1024):
            sid, name, values = rows[rng.getrandbits(8)]
            value = values[rng.getrandbits(POOL_BITS)]
            source = sources[rng.getrandbits(10) % len(sources)]
            templates.append(
                self._head(stype, sid)
                + ',"objectId":%d'
                + type_field
                + lit(
                    f',"propertyName":"{name}","propertyValue":{value},"changeSource":{source}}}'
                )
            )
        pool = tuple(t.encode() for t in templates)
        type_id = "thread" if conv else kind.crm_type_id
        ids, recent = self._ids_for(type_id), self._recent_for(type_id)
        n_ids = len(ids)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        m: Meta = (stype, otid)

        tp_m, (oc_s, oc_m), (ob_s, ob_m) = TEMPLATE.mask, OCCURRED, OBJECT
        (ho_s, ho_m), (rc_s, rc_m) = HOT, RECENT

        def emit_property(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            tmpls.append(pool[x & tp_m])
            oid = (
                ids[((x >> ob_s) & ob_m) % n_ids]
                if (x >> ho_s) & ho_m
                else recent[(x >> rc_s) & rc_m]
            )
            args.append((next_id(), occurred[(x >> oc_s) & oc_m], oid))
            meta.append(m)

        return emit_property

    def _chosen_properties(
        self, kind: Kind, specs: tuple[PropertySpec, ...]
    ) -> tuple[PropertySpec, ...]:
        """
        The scenario's property choice for this object, if it made one. A name
        the catalog does not know (a custom property) gets text values.
        """
        for key, names in self.config.properties:
            if key in (kind.family, kind.crm_type_id):
                known = {s.name: s for s in specs}
                return tuple(known.get(n) or PropertySpec(n, "sentence") for n in names)
        return specs

    def _property_rows(
        self, stype: str, otid: str, specs: tuple[PropertySpec, ...]
    ) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
        """
        256 weighted (subscriptionId, propertyName, encoded value pool) rows.
        """
        rows: list[tuple[int, str, tuple[str, ...]]] = []
        for spec in specs:
            if spec.kind == "choice":
                enc = encoded(spec.choices, self.config.escape_unicode)
                values = tuple(enc[i % len(enc)] for i in range(1 << POOL_BITS))
            else:
                values = self._values[spec.kind]
            if not spec.sensitive:
                # A user clears a field: HubSpot reports the value "" (app-calls
                # §4 infers it from the CRM API); one change in 32.
                values = tuple(
                    '""' if i % CLEARED_EVERY == 7 else v for i, v in enumerate(values)
                )
            sid = self._subscription_id(stype, otid, spec.name)
            rows.append((sid, spec.name, values))
        table = weighted_table([s.weight for s in specs], 256)
        return tuple(rows[i] for i in table)

    def _lifecycle_emitter(self, kind: Kind, selected: set[tuple[str, str]]) -> Emitter:
        stype, otid, action = kind.subscription_type, kind.object_type_id, kind.action
        conv = kind.family == "conversation"
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        flag = CHANGE_FLAG.get(action, "")
        sources = ('"CONVERSATIONS"',) if conv else self._source_pool
        head = self._head(stype, self._subscription_id(stype, otid)) + ',"objectId":%d'
        pool = tuple(
            (head + type_field + lit(f'{flag},"changeSource":{s}}}')).encode()
            for s in sources
        )
        n_pool = len(pool)
        life_type = "thread" if conv else kind.crm_type_id
        ids, recent = self._ids_for(life_type), self._recent_for(life_type)
        n_ids = len(ids)
        fresh = action == "creation"
        born = [0]  # creations so far: which population slot the next one takes
        gone = self._deleted_for(life_type)  # deleted records, for restores
        leaves = action in ("deletion", "privacyDeletion")
        occurred = self._occurred
        next_id = self._event_ids.__next__
        m: Meta = (stype, otid)
        # A GDPR delete also deletes the contact (§2): the app gets that too if it
        # subscribes to contact deletions, classic or generic.
        companion = stype == "contact.privacyDeletion" and (
            ("contact.deletion", "") in selected
            or ("object.deletion", "0-1") in selected
        )
        del_generic = ("contact.deletion", "") not in selected
        del_type = "object.deletion" if del_generic else "contact.deletion"
        del_otid = "0-1" if del_generic else ""
        del_head = self._head(del_type, self._subscription_id(del_type, del_otid))
        del_pool = encode_all(
            del_head
            + ',"objectId":%d'
            + (',"objectTypeId":"0-1"' if del_generic else "")
            + lit(f'{CHANGE_FLAG["deletion"]},"changeSource":{s}}}')
            for s in sources
        )
        del_meta: Meta = (del_type, del_otid)

        tp_m, (oc_s, oc_m), (ob_s, ob_m) = TEMPLATE.mask, OCCURRED, OBJECT
        (ng_s, ng_m), (fi_s, fi_m), (la_s, la_m) = NEW_GAP, FIRST, LATER

        def emit_lifecycle(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            t = occurred[(x >> oc_s) & oc_m]
            if fresh:
                oid = self._next_new_id
                self._next_new_id = oid + 1 + ((x >> ng_s) & ng_m)
                # The new record joins the population and is among the newest,
                # so the changes that follow are about it.
                n = born[0]
                born[0] = n + 1
                ids[(n * 7919) % n_ids] = oid
                recent[n & 15] = oid
            elif action == "restore":
                # A deleted record comes back into the population.
                oid = gone[(x >> ob_s) & 15]
                ids[((x >> ob_s) & ob_m) % n_ids] = oid
            else:
                slot = ((x >> ob_s) & ob_m) % n_ids
                oid = ids[slot]
                if leaves:
                    # A deleted record is edited no more: another takes its
                    # place (one that existed before the app subscribed).
                    ids[slot] = self._replacement(oid)
                    if oid in recent:
                        recent[recent.index(oid)] = ids[slot]
                    if action == "deletion":
                        gone[(x >> ob_s) & 15] = oid
            tmpls.append(pool[(x & tp_m) % n_pool])
            args.append((next_id(), t, oid))
            meta.append(m)
            if companion:
                # Same objectId, in either order; three times in four the second
                # waits for a later batch of the portal (§2).
                privacy = (tmpls.pop(), args.pop(), meta.pop())
                deletion = (
                    del_pool[(x & tp_m) % n_pool],
                    (next_id(), t, oid),
                    del_meta,
                )
                first, second = (
                    (privacy, deletion) if (x >> fi_s) & fi_m else (deletion, privacy)
                )
                if (x >> la_s) & la_m:
                    second = (second[0], (*second[1], LATER_MARK), second[2])
                for tmpl, arg, kind_meta in (first, second):
                    tmpls.append(tmpl)
                    args.append(arg)
                    meta.append(kind_meta)

        return emit_lifecycle

    def _merge_emitter(self, kind: Kind) -> Emitter:
        stype, otid = kind.subscription_type, kind.object_type_id
        type_field = f',"objectTypeId":"{otid}"' if kind.generic else ""
        head = self._head(stype, self._subscription_id(stype, otid))
        pool = encode_all(
            head
            + ',"objectId":%d'
            + type_field
            + ',"primaryObjectId":%d,"mergedObjectIds":[%s],"newObjectId":%d,'
            '"numberOfPropertiesMoved":%d,"changeSource":' + lit(s) + "}"
            for s in self._source_pool
        )
        ids = self._ids_for(kind.crm_type_id)
        n_ids = len(ids)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        bits = self._bits
        m: Meta = (stype, otid)

        tp_m, (oc_s, oc_m), (ob_s, ob_m) = TEMPLATE.mask, OCCURRED, OBJECT
        (ot_s, ot_m), (ex_s, ex_m), (ki_s, ki_m) = OTHER, EXTRA_MERGED, KEEPS_ID

        def emit_merge(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            slot = ((x >> ob_s) & ob_m) % n_ids
            other = ((x >> ot_s) & ot_m) % n_ids
            primary = ids[slot]
            merged = [ids[other]]
            if (x >> ex_s) & ex_m == 0:
                merged.append(ids[bits(12) % n_ids])
            merged = [i for i in merged if i != primary] or [primary + 1]
            # Usually the winner keeps its id; sometimes the merge makes a new one.
            new_id = primary if (x >> ki_s) & ki_m else primary + 7 + bits(10)
            # Merged-away ids are retired: later events are about the survivor.
            ids[slot] = new_id
            if other != slot:
                ids[other] = self._replacement(ids[other])
            tmpls.append(pool[x & tp_m])
            args.append(
                (
                    next_id(),
                    occurred[(x >> oc_s) & oc_m],
                    new_id,
                    primary,
                    ",".join(map(str, merged)).encode(),
                    new_id,
                    bits(5),
                )
            )
            meta.append(m)

        return emit_merge

    def _message_emitter(self, kind: Kind) -> Emitter:
        stype, otid = kind.subscription_type, kind.object_type_id
        head = self._head(stype, self._subscription_id(stype, otid))
        # newMessage carries no changeSource (§2.2, observed).
        templates = encode_all(
            head + ',"objectId":%d,"messageId":"%032x","messageType":"' + t + '",'
            '"changeFlag":"NEW_MESSAGE"}'
            for t in (
                "COMMENT",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
                "MESSAGE",
            )
        )
        ids = self._ids_for("thread")
        n_ids = len(ids)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        bits = self._bits
        m: Meta = (stype, otid)

        (oc_s, oc_m), (mt_s, mt_m), (th_s, th_m) = OCCURRED, MESSAGE_TYPE, THREAD

        def emit_message(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            tmpls.append(templates[(x >> mt_s) & mt_m])
            args.append(
                (
                    next_id(),
                    occurred[(x >> oc_s) & oc_m],
                    ids[((x >> th_s) & th_m) % n_ids],
                    bits(128),
                )
            )
            meta.append(m)

        return emit_message

    def _association_emitter(
        self, kind: Kind, selected: set[tuple[str, str]]
    ) -> Emitter:
        generic = kind.generic
        assocs = associations_from(kind.crm_type_id, generic)
        to_ids = {a.name: self._ids_for(a.to_type) for a in assocs}
        own_ids = self._ids_for(kind.crm_type_id)
        own_recent = self._recent_for(kind.crm_type_id)
        n_own = len(own_ids)
        occurred = self._occurred
        next_id = self._event_ids.__next__
        # Mostly people linking records by hand, sometimes an integration or a
        # workflow (§2.3), the app itself included.
        users = tuple(
            (u if i % 4 else self._source_pool[i]).encode()
            for i, u in enumerate(self._user_sources)
        )

        def side(assoc: AssociationType) -> Side:
            if generic:
                stype, otid = "object.associationChange", assoc.from_type
            else:
                stype, otid = f"{assoc.family}.associationChange", ""
            head = self._head(stype, self._subscription_id(stype, otid))
            templates = {}
            for primary in (False, True):
                for removed in ("false", "true"):
                    if generic:
                        type_id = assoc.primary_type_id if primary else assoc.type_id
                        tail = (
                            f',"associationCategory":"HUBSPOT_DEFINED",'
                            f'"associationTypeId":{type_id},"fromObjectId":%d,'
                            f'"fromObjectTypeId":"{assoc.from_type}","toObjectId":%d,'
                            f'"toObjectTypeId":"{assoc.to_type}",'
                            f'"associationRemoved":{removed},"changeSource":%s}}'
                        )
                    else:
                        flag = "true" if primary else "false"
                        tail = (
                            f',"associationType":"{assoc.name}","fromObjectId":%d,'
                            f'"toObjectId":%d,"associationRemoved":{removed},'
                            f'"isPrimaryAssociation":{flag},"changeSource":%s}}'
                        )
                    templates[(primary, removed)] = (head + tail).encode()
            return Side(templates, (stype, otid), (stype, otid) in selected)

        sides = {a.name: side(a) for a in assocs}
        inverses = {
            a.name: catalog.inverse_association(a)
            for a in assocs
            if a.from_type != a.to_type
        }
        for inv in inverses.values():
            sides.setdefault(inv.name, side(inv))

        tp_m, (oc_s, oc_m), (ob_s, ob_m) = TEMPLATE.mask, OCCURRED, OBJECT
        (ot_s, ot_m), (re_s, re_m), (us_s, us_m) = OTHER, REMOVED, USER
        pr_s, pr_m = PRIMARY
        (ho_s, ho_m), (rc_s, rc_m) = HOT, RECENT

        def emit_association(
            tmpls: list[bytes], args: list[tuple[Any, ...]], meta: list[Meta], x: int
        ) -> None:
            assoc = assocs[(x & tp_m) % len(assocs)]
            t = occurred[(x >> oc_s) & oc_m]
            from_id = (
                own_ids[((x >> ob_s) & ob_m) % n_own]
                if (x >> ho_s) & ho_m
                else own_recent[(x >> rc_s) & rc_m]
            )
            targets = to_ids[assoc.name]
            to_id = targets[((x >> ot_s) & ot_m) % len(targets)]
            removed = "true" if (x >> re_s) & re_m == 0 else "false"
            source = users[(x >> us_s) & us_m]
            primary = assoc.primary_type_id is not None and (x >> pr_s) & pr_m == 0
            links = [(assoc, from_id, to_id)]
            inverse = inverses.get(assoc.name)
            if inverse is not None and sides[inverse.name].subscribed:
                # HubSpot reports a link to both sides' subscriptions.
                links.append((inverse, to_id, from_id))
            for a, f, to in links:
                s = sides[a.name]
                for p in (True, False) if primary and a.primary_type_id else (False,):
                    # A primary association also creates the unlabelled one (§2).
                    tmpls.append(s.templates[(p, removed)])
                    args.append((next_id(), t, f, to, source))
                    meta.append(s.meta)

        return emit_association


#: One value in this many of a property's pool is "" (the field cleared).
CLEARED_EVERY: Final = 32

#: Marks a companion event to be moved to a later block of its portal.
LATER_MARK: Final = object()

CHANGE_FLAG: Final = {
    "creation": ',"changeFlag":"CREATED"',
    "deletion": ',"changeFlag":"DELETED"',
}


class Side(NamedTuple):
    """
    One side of an association: its templates, meta and whether it is subscribed.
    """

    templates: dict[tuple[bool, str], bytes]
    meta: Meta
    subscribed: bool
