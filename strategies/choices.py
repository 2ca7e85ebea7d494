"""Primitive choices at full speed inside ``@composite`` bodies.

``draw(st.integers(a, b))`` builds (or looks up) a strategy, validates it and
opens a span before making its one integer choice: ~19 µs, against ~5 µs for
the choice itself.  A data row makes about seventy choices, so row-level
generation asks the ConjectureData behind ``draw`` directly.  The choices are
the same kind Hypothesis records, so shrinking and replay work unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")
_TINY = 2.0**-1074  # smallest subnormal: no magnitude floor on our floats


class Choices:
    """Integer, boolean, float and pick choices for one ``@composite`` call."""

    __slots__ = ("_data", "_draw", "_random", "_rng")

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw
        data: Any = getattr(draw, "__self__", None)
        # Fall back to plain strategies if a Hypothesis release stops binding draw to its data.
        self._data = data if hasattr(data, "draw_integer") and hasattr(data, "draw_float") else None
        # Served worlds draw from SeededProvider, whose choices nobody replays or
        # shrinks: ask its RNG directly (the values are the ones the provider
        # would give through ConjectureData, minus ~10 µs of bookkeeping each).
        provider = getattr(self._data, "provider", None)
        self._rng = provider.rng if getattr(provider, "fast_path", False) else None
        self._random = self._rng.random if self._rng is not None else None  # bound once: rows make ~80 choices

    @classmethod
    def from_rng(cls, rng: random.Random) -> Choices:
        """Choices answered by ``rng`` alone, as they are from a fast-path provider's RNG, outside
        any ConjectureData (``lbmock.strategies.provider.draw_seeded_with``): primitive choices only."""
        choices = cls.__new__(cls)
        choices._draw = _no_strategies
        choices._data = None
        choices._rng = rng
        choices._random = rng.random
        return choices

    def integer(self, low: int, high: int) -> int:
        random = self._random
        if random is not None:  # random() is 5x cheaper than randint(); our ranges are << 2**53
            return low + int(random() * (high - low + 1))
        if self._data is None:
            return self._draw(st.integers(low, high))
        return self._data.draw_integer(low, high)

    def boolean(self) -> bool:
        random = self._random
        if random is not None:
            return random() < 0.5
        if self._data is None:
            return self._draw(st.booleans())
        return self._data.draw_boolean(0.5)

    def floating(self, low: float, high: float) -> float:
        random = self._random
        if random is not None:  # random.uniform(low, high), inlined: the same float
            return low + (high - low) * random()
        if self._data is None:
            return self._draw(st.floats(low, high))
        return self._data.draw_float(min_value=float(low), max_value=float(high), allow_nan=False,
                                     smallest_nonzero_magnitude=_TINY)

    def pick(self, seq: Sequence[T]) -> T:
        random = self._random
        if random is not None:  # integer(0, len(seq) - 1) inlined: picks are a third of all choices
            return seq[int(random() * len(seq))]
        return seq[self.integer(0, len(seq) - 1)]

    def apart(self, draw_fn: Callable[..., T], *args: Any, undrawn: Any = None) -> T:
        """``draw_fn(choices, *args)`` drawn apart from the choices around it, so that a pass which
        never looks at the value can leave it undrawn (``undrawn``: returned instead) and every
        later choice is still the same.  On an RNG (served worlds): one choice here seeds an RNG of
        the part's own, made and drawn from only when the value is wanted.  Under Hypothesis: drawn
        in place, from these choices (so it shrinks with the rest; Hypothesis never asks for a pass)."""
        random_ = self._random
        if random_ is None:
            return draw_fn(self, *args)
        seed = int(random_() * 2**53)  # every bit of the draw: random() holds 53
        if undrawn is not None:
            return undrawn
        return draw_fn(Choices.from_rng(random.Random(seed)), *args)

    def words(self, pool: Sequence[str], low: int, high: int) -> list[str]:
        """``low..high`` words from ``pool``; the count first, so shrinking drops words."""
        pick = self.pick
        return [pick(pool) for _ in range(self.integer(low, high))]


def _no_strategies(strategy: object) -> Any:
    raise TypeError(f"Choices.from_rng draws primitive choices only, not {strategy!r}")
