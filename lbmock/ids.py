"""Labelbox-shaped ids that are unique by construction.

A Labelbox id (a cuid) is 25 characters of lowercase base36 starting with
``c``.  Ours are laid out as::

    c | created-at ms (8) | row slot (4) | counter (2) | salt mix (10)

The row slot is the data row's index + 1 (0 for project-level objects), so
any id minted for a row names the row that owns it: the server finds a
label or feature from its id alone, in any worker, without an index.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_RE = re.compile(r"^c[0-9a-z]{24}$")
PROJECT_SLOT = 0
MAX_ROWS = 36**4 - 1  # row slots 1..36**4-1
MAX_IDS_PER_OWNER = 36**2


# Three digits per divmod (46,656 strings, ~3 MB): ids are minted by the hundred thousand, and
# the 10-digit salt mix of every id is then three divmods and four look-ups.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
_TRIPLES = [a + b for a in ALPHABET for b in _PAIRS]
_TRIPLE = 36**3


def base36(n: int, width: int) -> str:
    if n < 0 or n >= 36**width:
        raise ValueError(f"{n} does not fit {width} base36 digits")
    digits = ""
    while width >= 3:
        n, r = divmod(n, _TRIPLE)
        digits = _TRIPLES[r] + digits
        width -= 3
    if width:
        digits = (_PAIRS[n] if width == 2 else ALPHABET[n]) + digits
    return digits


def is_labelbox_id(value: object) -> bool:
    return isinstance(value, str) and ID_RE.match(value) is not None


def row_index_of(entity_id: str) -> int | None:
    """The data row index an id was minted for, or None (project-level / foreign)."""
    if not is_labelbox_id(entity_id):
        return None
    slot = int(entity_id[9:13], 36)
    return slot - 1 if slot > PROJECT_SLOT else None


_MIX_DIGITS = 10
_MIX_MODULUS = 36**_MIX_DIGITS
_SALT_FACTOR = 6364136223846793005
_COUNTER_FACTOR = 1442695040888963407
# The counter's share of the mix of id n, (n + 1) * _COUNTER_FACTOR mod 36**10, for every n an owner
# may mint: an id then adds two numbers below the modulus instead of multiplying and reducing.
_COUNTER_MIX = tuple((n + 1) * _COUNTER_FACTOR % _MIX_MODULUS for n in range(MAX_IDS_PER_OWNER))
_TS_MAX = 36**8 - 1


@dataclass
class IdMinter:
    """Mints the ids of one owner (the project, or one data row)."""

    slot: int
    salt: int
    counter: int = 0

    # (created_at_ms, "c" + ts + slot digits) of the last id minted
    _prefix: tuple[int, str] | None = field(default=None, init=False, repr=False, compare=False)
    # The salt's share of every mix, reduced once: each id then adds small numbers, not 111-bit ones.
    _salt_mix: int = field(init=False, repr=False, compare=False)
    _slot_digits: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._salt_mix = self.salt * _SALT_FACTOR % _MIX_MODULUS
        self._slot_digits = base36(self.slot, 4)

    def mint(self, created_at_ms: int) -> str:
        n = self.counter
        if n >= MAX_IDS_PER_OWNER:
            raise OverflowError("too many ids for one data row")
        self.counter = n + 1
        # (salt * a + (n + 1) * b) mod 36**10, written with its 10 digits
        mix = self._salt_mix + _COUNTER_MIX[n]
        if mix >= _MIX_MODULUS:
            mix -= _MIX_MODULUS
        mix, d10 = divmod(mix, _TRIPLE)
        mix, d7 = divmod(mix, _TRIPLE)
        d1, d4 = divmod(mix, _TRIPLE)
        # 24 digits: ts (8) | slot (4) | counter (2) | mix (10), each part written on its own width
        # (the digits of one number made of them); an owner mints runs of ids at one time: reuse
        # the "c" + ts + slot prefix
        prefix = self._prefix
        if prefix is None or prefix[0] != created_at_ms:
            # base36(ts, 8), its two divmods written out: ids change time about three times a row
            high, low = divmod(min(max(created_at_ms, 0), _TS_MAX), _TRIPLE * _TRIPLE)
            middle, low = divmod(low, _TRIPLE)
            prefix = self._prefix = (created_at_ms,
                                     f"c{_PAIRS[high]}{_TRIPLES[middle]}{_TRIPLES[low]}{self._slot_digits}")
        return f"{prefix[1]}{_PAIRS[n]}{ALPHABET[d1]}{_TRIPLES[d4]}{_TRIPLES[d7]}{_TRIPLES[d10]}"  # one string built


def uuid_from(salt: int, n: int) -> str:
    """A deterministic, UUID-formatted id (workflow tasks and batches use UUIDs)."""
    h = hashlib.blake2b(f"{salt}:{n}".encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
