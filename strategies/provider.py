"""Drawing from our Hypothesis strategies deterministically, from a seed.

The served world must come from the same strategies ``@given`` uses, yet be
byte-identical for a given seed in any process.  Hypothesis' default
provider mixes in constants harvested from whatever modules happen to be
imported, so we run the strategies on a small PrimitiveProvider backed by
``random.Random(seed)`` instead: same strategies, same code path, one source
of randomness that depends on the seed alone.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis.control import BuildContext
from hypothesis.errors import StopTest
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.internal.conjecture.providers import PrimitiveProvider
from hypothesis.strategies import SearchStrategy

from lbmock.strategies.choices import Choices

T = TypeVar("T")

# Bounds for choices a strategy leaves unbounded (ours never do).
_WIDE = 2**63


class SeededProvider(PrimitiveProvider):
    """A PrimitiveProvider drawing plainly and uniformly from a seeded RNG."""

    lifetime = "test_case"
    fast_path = True  # lbmock.strategies.choices.Choices may use self.rng directly

    def __init__(self, conjecturedata: Any, /, *, seed: int) -> None:
        super().__init__(conjecturedata)
        self.rng = random.Random(seed)

    def draw_boolean(self, p: float = 0.5) -> bool:
        if p <= 0:
            return False
        if p >= 1:
            return True
        return self.rng.random() < p

    def draw_integer(self, min_value: int | None = None, max_value: int | None = None, *,
                     weights: dict[int, float] | None = None, shrink_towards: int = 0) -> int:
        lo = -_WIDE if min_value is None else min_value
        hi = _WIDE if max_value is None else max_value
        # ``weights`` only biases towards the bounds, a hint for bug-finding;
        # served worlds are better uniform, so it is ignored (allowed).
        return self.rng.randint(lo, hi)

    def draw_float(self, *, min_value: float = -math.inf, max_value: float = math.inf,
                   allow_nan: bool = True, smallest_nonzero_magnitude: float) -> float:
        lo = max(min_value, -1e9)
        hi = min(max_value, 1e9)
        value = self.rng.uniform(lo, hi)
        if value != 0 and abs(value) < smallest_nonzero_magnitude:
            value = 0.0 if lo <= 0 <= hi else lo
        return min(max(value, min_value), max_value)

    def draw_string(self, intervals: Any, *, min_size: int = 0, max_size: int = 64) -> str:
        if len(intervals) == 0:
            return ""
        n = self.rng.randint(min_size, min(max_size, min_size + 16))
        return "".join(chr(intervals[self.rng.randrange(len(intervals))]) for _ in range(n))

    def draw_bytes(self, min_size: int = 0, max_size: int = 64) -> bytes:
        n = self.rng.randint(min_size, min(max_size, min_size + 16))
        return self.rng.randbytes(n)


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any parts (e.g. world seed and row index), stable across processes."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def _seeded_data(seed: int) -> ConjectureData:
    data = ConjectureData(random=None, provider=SeededProvider, provider_kw={"seed": seed},
                          max_choices=10**7)
    data.max_length = 10**9  # our draws are bounded by the strategies themselves
    return data


def draw_seeded_with(draw_fn: Callable[..., T], seed: int, *args: Any) -> T:
    """``draw_fn(Choices, *args)`` from a :class:`SeededProvider` for ``seed``: the body of a
    composite strategy, drawn without a strategy object per call (served rows are drawn by the
    thousand; the strategy wrapper costs ~0.1 ms each).  The provider's RNG answers every choice
    (the fast path of :class:`~lbmock.strategies.choices.Choices`), so no ConjectureData is built either:
    it cost ~25 µs a row, a fifth of drawing one, and the values are the same.  Nor is the provider
    itself: its RNG, ``random.Random(seed)``, is all the choices need."""
    return draw_fn(Choices.from_rng(random.Random(seed)), *args)


def draw_seeded(strategy: SearchStrategy[T], seed: int) -> T:
    """Draw one value of ``strategy``, determined by ``seed`` alone."""
    data = _seeded_data(seed)
    try:
        # Strategies such as lists() look up the current build context, which
        # @given normally provides; it is thread-local, so threads may draw.
        with BuildContext(data, wrapped_test=draw_seeded):
            return data.draw(strategy)
    except StopTest as exc:  # a strategy rejected everything it drew (filter/assume)
        raise ValueError(f"strategy {strategy!r} could not be drawn from seed {seed}") from exc
    finally:
        data.freeze()
