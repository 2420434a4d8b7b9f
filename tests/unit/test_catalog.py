"""The catalog: HubSpot's subscription types and objectTypeIds as data (spec §2, §3)."""

from __future__ import annotations

import pytest

from simulator import catalog
from simulator.errors import CatalogError


def _family(name: str) -> tuple[str, ...]:
    return tuple(f"{name}.{act}" for act in catalog.CLASSIC_FAMILIES[name])


MERGEABLE = ("contact", "company", "deal", "ticket", "product", "line_item")


class TestTypes:
    def test_enum_has_48_types(self):
        """HubSpot's eventType enum has 48 values including event.completed (§2)."""

        assert 48 == len(catalog.all_types())
        assert 48 == len(set(catalog.all_types()))

    def test_product_has_no_association_change(self):
        """There is no product.associationChange."""

        assert "product.associationChange" not in catalog.classic_types()

    def test_only_contact_and_conversation_have_privacy_deletion(self):
        """privacyDeletion exists for contacts and conversations only."""

        privacy = [t for t in catalog.classic_types() if t.endswith(".privacyDeletion")]
        assert ["contact.privacyDeletion", "conversation.privacyDeletion"] == privacy

    @pytest.mark.parametrize(
        ("patterns", "expected"),
        [
            (["deal.creation"], ("deal.creation",)),
            (["product"], _family("product")),
            (["ticket.*"], _family("ticket")),
            (
                ["*.merge", "deal.merge"],
                (
                    *tuple(
                        f"{f}.merge"
                        for f in (
                            "contact",
                            "company",
                            "deal",
                            "ticket",
                            "product",
                            "line_item",
                        )
                    ),
                    "object.merge",
                ),
            ),
        ],
    )
    def test_select_types_expands_patterns(self, patterns, expected):
        """Names, families and globs expand to concrete types, deduplicated."""

        assert expected == catalog.select_types(patterns)

    def test_unknown_type_is_a_catalog_error(self):
        """A typo names itself in the error."""

        with pytest.raises(CatalogError, match=r"contact\.creatoin"):
            catalog.select_types(["contact.creatoin"])

    def test_event_completed_not_generated(self):
        """event.completed has no documented payload, so asking for it explains why."""

        with pytest.raises(CatalogError, match="undocumented"):
            catalog.select_types(["event.completed"])


class TestObjectTypes:
    def test_custom_objects_allowed(self):
        """2-<n> is a custom object type id."""

        assert "2-12345" == catalog.check_object_type_id("2-12345")

    @pytest.mark.parametrize("type_id", ["0-54", "0-970"])
    def test_unlisted_types_rejected(self, type_id):
        """Marketing events and projects are not listed for generic webhooks."""

        with pytest.raises(CatalogError, match="not listed"):
            catalog.check_object_type_id(type_id)

    def test_unknown_type_rejected(self):
        """An unknown id is an error that points at the list."""

        with pytest.raises(CatalogError, match="hubsim types --generic"):
            catalog.check_object_type_id("0-9999")

    def test_association_inverse(self):
        """Every non-self association has an inverse with swapped ends."""

        for a in catalog.ASSOCIATION_TYPES:
            if a.from_type != a.to_type:
                inv = catalog.inverse_association(a)
                assert (a.to_type, a.from_type) == (inv.from_type, inv.to_type)

    def test_change_source_mix_sums_to_100(self):
        """The changeSource weights are percentages."""

        assert 100 == sum(w for _, w in catalog.CHANGE_SOURCE_MIX)
