"""
Value pools: realistic property values (names in nine locales, emails,
companies, amounts, dates …), built once per process with Faker and fixed
(Faker seed 0), so a run's ``--seed`` alone decides which values it uses.

Pools are plain strings; :func:`encoded` turns them into JSON literals, raw
UTF-8 or ``\\uXXXX``-escaped. Faker is imported only here, and only when the
pools are first built.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from typing import Final

#: 256 values per pool: variety without start-up cost.
POOL_BITS: Final = 8

_LOCALES: Final = (
    "en_US",
    "de_DE",
    "fr_FR",
    "es_ES",
    "sv_SE",
    "pl_PL",
    "pt_BR",
    "ja_JP",
    "zh_CN",
)
_EMOJI: Final = ("😀", "🚀", "☕", "🎉", "✨", "👍", "🇸🇪", "❤️")


@functools.cache
def value_pools() -> dict[str, tuple[str, ...]]:
    """
    Plain (unencoded) realistic values per pool kind, 2**POOL_BITS each.
    """
    from faker import Faker  # deferred: importing Faker costs ~0.4 s

    fake = Faker(list(_LOCALES))
    fake.seed_instance(0)
    rng = random.Random(0)
    n = 1 << POOL_BITS

    def pool(make: Callable[[], str]) -> tuple[str, ...]:
        return tuple(make() for _ in range(n))

    def with_emoji(values: tuple[str, ...], every: int) -> tuple[str, ...]:
        # Some people put emoji in names; a receiver must survive 4-byte UTF-8.
        return tuple(
            f"{v} {_EMOJI[i % len(_EMOJI)]}" if i % every == 0 else v
            for i, v in enumerate(values)
        )

    pools = {
        "email": pool(lambda: fake["en_US"].email()),
        "first_name": with_emoji(pool(fake.first_name), 17),
        "last_name": pool(fake.last_name),
        "phone": pool(lambda: fake["en_US"].phone_number()),
        "company_name": with_emoji(pool(fake.company), 23),
        "url": pool(lambda: fake["en_US"].url()),
        "domain": pool(lambda: fake["en_US"].domain_name()),
        "job_title": pool(lambda: fake["en_US"].job()),
        "industry": pool(
            lambda: rng.choice(
                (
                    "COMPUTER_SOFTWARE",
                    "INFORMATION_TECHNOLOGY_AND_SERVICES",
                    "MARKETING_AND_ADVERTISING",
                    "FINANCIAL_SERVICES",
                    "HOSPITAL_HEALTH_CARE",
                    "RETAIL",
                    "EDUCATION_MANAGEMENT",
                    "CONSTRUCTION",
                )
            )
        ),
        "city": pool(fake.city),
        "sentence": with_emoji(pool(lambda: fake.sentence(nb_words=5)), 29),
        "paragraph": pool(lambda: fake.paragraph(nb_sentences=2)),
        "deal_name": pool(lambda: f"{fake.company()} - {rng.choice(_DEAL_SUFFIXES)}"),
        "product_name": pool(
            lambda: f"{fake['en_US'].word().title()} {rng.choice(_PRODUCTS)}"
        ),
        "owner_id": pool(lambda: str(rng.randrange(10_000_000, 999_999_999))),
        "actor_id": pool(
            lambda: (
                f"A-{rng.randrange(1_000_000, 99_999_999)}"
                if rng.random() < 0.85
                else ""
            )
        ),
        "money": pool(lambda: f"{rng.choice(_AMOUNTS) * rng.randrange(1, 9)}.00"),
        "employees": pool(
            lambda: str(rng.choice((5, 12, 40, 120, 800, 5000)) + rng.randrange(0, 9))
        ),
        "quantity": pool(lambda: str(rng.choice((1, 1, 1, 2, 3, 5, 10, 25)))),
        "percent": pool(lambda: str(rng.choice((5, 10, 15, 20, 25)))),
        "sku": pool(lambda: str(rng.randrange(100_000, 999_999))),
        # Date properties travel as epoch-ms strings (midnight UTC), §9 Q10.
        "date_ms": pool(
            lambda: str(1_767_225_600_000 + rng.randrange(0, 400) * 86_400_000)
        ),
        "duration_ms": pool(lambda: str(rng.randrange(5, 3600) * 1000)),
        "object_id": pool(lambda: str(rng.randrange(1_000_000_000, 999_999_999_999))),
        "redacted": ("REDACTED",) * n,
    }
    return pools


_AMOUNTS: Final = (99, 250, 1500, 4800, 12000, 65000)
_DEAL_SUFFIXES: Final = ("New Business", "Renewal", "Upsell", "Pilot", "Expansion")
_PRODUCTS: Final = ("Pro", "Starter", "Enterprise", "Add-on", "Seat", "Licence")


def encoded(values: Sequence[str], escape: bool) -> tuple[str, ...]:
    """Each value as a JSON string literal (``\\uXXXX`` escapes with ``escape``)."""
    return tuple(json.dumps(v, ensure_ascii=escape) for v in values)
