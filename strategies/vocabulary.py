"""The vocabulary every strategy draws from: words and people (Faker pools
shipped as data), id salts, and the time units worlds are measured in."""

from __future__ import annotations

from hypothesis import strategies as st

from lbmock.people import person_pool, word_pool

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# 2021-01-01 .. 2025-12-31: project creation dates.
EPOCH_MIN = 1_609_459_200_000
EPOCH_MAX = 1_767_139_200_000

SALT_MAX = 2**48


def words(min_size: int = 1, max_size: int = 3) -> st.SearchStrategy[list[str]]:
    """A few lower-case words from the Faker word pool."""
    return st.lists(st.sampled_from(word_pool()), min_size=min_size, max_size=max_size)


def people() -> st.SearchStrategy[tuple[str, str]]:
    """A (name, email) pair from the Faker person pool."""
    return st.sampled_from(person_pool())

def salts() -> st.SearchStrategy[int]:
    """The salt of an :class:`~lbmock.ids.IdMinter` (one draw per owner)."""
    return st.integers(0, SALT_MAX)
