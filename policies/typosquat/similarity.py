"""How alike two characters are, by three channels a typosquat exploits.

- keyboard: neighbouring keys on a US QWERTY layout (a slip of the finger);
- visual: characters that look alike in common fonts (``l``/``1``/``i``, ``o``/``0``);
- phonetic: letters that stand for the same sound in English spelling or in the languages
  whose speakers often swap them (``c``/``k``, ``s``/``z``, ``b``/``v``).

A pair close by several channels (``b``/``v`` are neighbours *and* sound alike) is more
plausible than one close by a single channel, so its cost is lower.
"""

from __future__ import annotations

import enum

# Each row is shifted about half a key right of the one above it.
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_POSITION = {
    key: (row, col) for row, keys in enumerate(_KEYBOARD_ROWS) for col, key in enumerate(keys)
}
_VISUAL = tuple(frozenset(group) for group in ("il1", "o0", "uv", "s5", "gq9", "b6", "e3", "a4"))
_PHONETIC = tuple(
    frozenset(pair) for pair in ("ck", "cs", "sz", "iy", "bv", "vw", "gj", "kq", "fv", "dt")
)
VOWELS = frozenset("aeiouy")


class Channel(enum.Enum):
    """Why a substituted character reads as the right one, and its base cost."""

    VISUAL = ("a look-alike character", 1.0)
    KEYBOARD = ("a neighbouring key", 1.5)
    PHONETIC = ("a letter that sounds the same", 1.5)
    VOWEL = ("one vowel for another", 2.0)
    OTHER = ("another letter", 3.0)

    def __init__(self, label: str, cost: float) -> None:
        self.label = label
        self.cost = cost


SEVERAL_CHANNELS_BONUS = 0.5
"""Taken off the cheapest channel when a pair is close by two or more channels."""


def adjacent_keys(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are neighbours on the keyboard (same row or the row next to it)."""
    if a not in _KEY_POSITION or b not in _KEY_POSITION:
        return False
    (row_a, col_a), (row_b, col_b) = sorted((_KEY_POSITION[a], _KEY_POSITION[b]))
    if row_a == row_b:
        return abs(col_a - col_b) == 1
    # The lower row is shifted right: key c touches c-1 and c of the row below it.
    return row_b == row_a + 1 and col_b in (col_a - 1, col_a)


def lookalike(a: str, b: str) -> bool:
    return any(a in group and b in group for group in _VISUAL)


def sounds_alike(a: str, b: str) -> bool:
    return any(a in pair and b in pair for pair in _PHONETIC)


def channels(old: str, new: str) -> tuple[Channel, ...]:
    """Every channel by which ``new`` passes for ``old``, cheapest first (``OTHER`` alone
    when none does)."""
    found = [
        channel
        for channel, close in (
            (Channel.VISUAL, lookalike(old, new)),
            (Channel.KEYBOARD, adjacent_keys(old, new)),
            (Channel.PHONETIC, sounds_alike(old, new)),
            (Channel.VOWEL, old in VOWELS and new in VOWELS),
        )
        if close
    ]
    return tuple(found) or (Channel.OTHER,)


def substitution_cost(old: str, new: str) -> float:
    found = channels(old, new)
    bonus = SEVERAL_CHANNELS_BONUS if len(found) > 1 else 0.0
    return found[0].cost - bonus
