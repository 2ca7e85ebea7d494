"""Pools of realistic names from Faker.

Faker is seeded with a constant; strategies *sample* from the pools, which
keeps Hypothesis in charge of every choice (and of shrinking).  The pools
ship as ``faker_pools.json`` (written by ``python -m lbmock.people``): that
saves Faker's 0.3 s start-up in every process, and keeps worlds identical
across Faker releases.  A test checks the file against Faker's output.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

POOL_SIZE = 256
POOLS_FILE = Path(__file__).with_name("faker_pools.json")


@lru_cache(maxsize=1)
def _shipped() -> dict:
    try:
        return json.loads(POOLS_FILE.read_text())
    except (OSError, ValueError):
        return {}


@lru_cache(maxsize=1)
def person_pool() -> tuple[tuple[str, str], ...]:
    """(full name, email) pairs, unique emails."""
    if "people" in _shipped():
        return tuple((name, email) for name, email in _shipped()["people"])
    return faker_person_pool()


@lru_cache(maxsize=1)
def word_pool() -> tuple[str, ...]:
    """Lower-case words for names of projects, datasets, tools and files."""
    return tuple(_shipped()["words"]) if "words" in _shipped() else faker_word_pool()


@lru_cache(maxsize=1)
def company_pool() -> tuple[str, ...]:
    return tuple(_shipped()["companies"]) if "companies" in _shipped() else faker_company_pool()


def faker_person_pool() -> tuple[tuple[str, str], ...]:
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


def faker_word_pool() -> tuple[str, ...]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(20230209)
    words = sorted({w.lower() for w in fake.words(nb=600) if w.isalpha() and len(w) > 2})
    return tuple(words)


def faker_company_pool() -> tuple[str, ...]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(20220509)
    return tuple(dict.fromkeys(fake.company() for _ in range(64)))


def write_pools(path: Path = POOLS_FILE) -> None:
    """Regenerate ``faker_pools.json`` from Faker."""
    pools = {"people": [list(p) for p in faker_person_pool()], "words": list(faker_word_pool()),
             "companies": list(faker_company_pool())}
    path.write_text(json.dumps(pools, indent=0) + "\n")


if __name__ == "__main__":
    write_pools()
