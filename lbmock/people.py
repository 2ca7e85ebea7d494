"""Pools of realistic names from Faker, built once per process.

Faker is seeded with a constant, so the pools are identical in every
process; strategies then *sample* from them, which keeps Hypothesis in
charge of every choice (and of shrinking) while paying Faker's cost once.
"""

from __future__ import annotations

from functools import lru_cache

POOL_SIZE = 256


@lru_cache(maxsize=1)
def person_pool() -> tuple[tuple[str, str], ...]:
    """(full name, email) pairs, unique emails."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(20230203)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < POOL_SIZE:
        first, last = fake.first_name(), fake.last_name()
        email = f"{first}.{last}@{fake.free_email_domain()}".lower()
        if email in seen:
            continue
        seen.add(email)
        out.append((f"{first} {last}", email))
    return tuple(out)


@lru_cache(maxsize=1)
def word_pool() -> tuple[str, ...]:
    """Lower-case words for names of projects, datasets, tools and files."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(20230209)
    words = sorted({w.lower() for w in fake.words(nb=600) if w.isalpha() and len(w) > 2})
    return tuple(words)


@lru_cache(maxsize=1)
def company_pool() -> tuple[str, ...]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(20220509)
    return tuple(dict.fromkeys(fake.company() for _ in range(64)))
