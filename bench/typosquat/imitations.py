"""Imitations of a popular name, generated class by class the way attackers make them.

Each class turns one target (a normalized popular name) into one imitation, or ``None``
when the class does not apply (no digit to change, a single part to reorder). The tables
here are written for the generator on purpose and are wider than the policy's own (every
keyboard neighbour including the diagonals, leetspeak digits, spelling variants), so that
the benchmark does not just replay the rules.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_POSITION = {
    key: (row, col + 0.5 * row) for row, keys in enumerate(_ROWS) for col, key in enumerate(keys)
}
NEIGHBOURS = {
    key: [
        other
        for other, (row_b, col_b) in _POSITION.items()
        if other != key and abs(row_a - row_b) <= 1 and abs(col_a - col_b) <= 1.0
    ]
    for key, (row_a, col_a) in _POSITION.items()
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _table(text: str) -> dict[str, list[str]]:
    """``"a:b,c d:e"`` -> ``{"a": ["b", "c"], "d": ["e"]}``"""
    return {key: values.split(",") for key, values in (item.split(":") for item in text.split())}


VISUAL = _table(
    "l:1,i i:l,1 o:0 0:o 1:l,i m:rn w:vv u:v v:u e:3 s:5 a:4 g:q,9 q:g d:cl b:6 n:r t:7"
)
MULTI_VISUAL = {"rn": "m", "cl": "d", "vv": "w", "nn": "m"}
PHONETIC = _table("c:k,s k:c s:z z:s i:y,ee y:i,ie f:ph x:ks b:v v:b,w w:v j:g g:j u:oo o:ou q:k")
MULTI_PHONETIC = {
    **{"ph": "f", "ck": "k", "ks": "x", "ou": "u", "oo": "u", "ee": "i", "qu": "kw"},
    **{"tion": "sion", "ise": "ize", "ize": "ise", "er": "a"},
}
VOWELS = "aeiou"
# Affixes attackers add to look like a companion or "the official" package.
GENERIC_AFFIXES = _words(
    """lib utils util tools install installer setup v2 dev sdk api client core helper
    helpers toolkit plus pro extra extended new fix fixed update updated latest official
    secure fast lite beta nightly release stable full wrapper module package pkg"""
)
GENERIC_PREFIXES = _words("""install setup get the pip official easy fast my lib""")
# Ordinary English words appended to a popular name ("another word").
WORDS = _words(
    """color colors styles logger logging cache server proxy stream async manager agent
    runner monitor checker scanner parser engine bridge hub cloud web data tools kit box
    bot auth token crypto network system process download upload loader builder console
    terminal table graph image video audio media mail worker task queue config settings
    storage files plugin addon extension support service framework studio master power
    smart simple easy super ultra mini micro light quick rapid turbo"""
)
PY_AFFIXES = tuple(
    tuple(pair.split("|"))
    for pair in _words("py| py-| python-| python3-| |-py |py |-python |-python3 |3 |-py3")
)
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_NUMBER = re.compile(r"\d+")


def _letters(target: str) -> list[int]:
    return [i for i, ch in enumerate(target) if ch.isalpha()]


def keyboard_slip(target: str, rng: random.Random) -> str | None:
    i = rng.choice(_letters(target) or [0])
    options = [k for k in NEIGHBOURS.get(target[i], []) if k.isalpha()]
    return target[:i] + rng.choice(options) + target[i + 1 :] if options else None


def extra_key(target: str, rng: random.Random) -> str | None:
    i = rng.choice(_letters(target) or [0])
    options = [k for k in NEIGHBOURS.get(target[i], []) if k.isalpha()]
    if not options:
        return None
    at = i + rng.choice((0, 1))
    return target[:at] + rng.choice(options) + target[at:]


def doubled(target: str, rng: random.Random) -> str | None:
    i = rng.choice(_letters(target) or [0])
    return target[: i + 1] + target[i] + target[i + 1 :]


def dropped(target: str, rng: random.Random) -> str | None:
    letters = _letters(target)
    if len(letters) < 3:
        return None
    i = rng.choice(letters)
    return target[:i] + target[i + 1 :]


def transposed(target: str, rng: random.Random) -> str | None:
    pairs = [
        i
        for i in range(len(target) - 1)
        if target[i] != target[i + 1] and "-" not in target[i : i + 2]
    ]
    if not pairs:
        return None
    i = rng.choice(pairs)
    return target[:i] + target[i + 1] + target[i] + target[i + 2 :]


def _substitute(
    target: str, rng: random.Random, single: dict[str, list[str]], multi: dict[str, str]
) -> str | None:
    options = [(i, len(old), new) for old, new in multi.items() for i in _find_all(target, old)]
    options += [(i, 1, new) for i, ch in enumerate(target) for new in single.get(ch, [])]
    if not options:
        return None
    i, width, new = rng.choice(options)
    return target[:i] + new + target[i + width :]


def _find_all(text: str, part: str) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(part), text)]


def homoglyph(target: str, rng: random.Random) -> str | None:
    return _substitute(target, rng, VISUAL, MULTI_VISUAL)


def phonetic(target: str, rng: random.Random) -> str | None:
    return _substitute(target, rng, PHONETIC, MULTI_PHONETIC)


def vowel(target: str, rng: random.Random) -> str | None:
    places = [i for i, ch in enumerate(target) if ch in VOWELS]
    if not places:
        return None
    i = rng.choice(places)
    return target[:i] + rng.choice([v for v in VOWELS if v != target[i]]) + target[i + 1 :]


def generic_affix(target: str, rng: random.Random) -> str:
    if rng.random() < 0.25:
        return f"{rng.choice(GENERIC_PREFIXES)}-{target}"
    return f"{target}{rng.choice(('-', '-', '-', ''))}{rng.choice(GENERIC_AFFIXES)}"


def another_word(target: str, rng: random.Random) -> str:
    word = rng.choice(WORDS)
    return f"{word}-{target}" if rng.random() < 0.3 else f"{target}-{word}"


def plural(target: str, rng: random.Random) -> str | None:
    if target.endswith("s"):
        return target[:-1] if len(target) > 4 else None
    return target + rng.choice(("s", "s", "es"))


def doubled_and_digit(target: str, rng: random.Random) -> str:
    return (doubled(target, rng) or target) + str(rng.randint(1, 9))


def py_affix(target: str, rng: random.Random) -> str | None:
    if target.startswith(("py", "python")) or target.endswith(("py", "python")):
        return None
    prefix, suffix = rng.choice(PY_AFFIXES)
    return f"{prefix}{target}{suffix}"


def version_suffix(target: str, rng: random.Random) -> str:
    number = rng.choice(("2", "3", "2", "3", "4", "5", "-2", "-3", "-v2", "-v3", "v2", "-next"))
    return target + number


def version_change(target: str, rng: random.Random) -> str | None:
    numbers = list(_NUMBER.finditer(target))
    if not numbers:
        return None
    m = rng.choice(numbers)
    value = int(m[0])
    # A date (8 digits) moves by a day, a month or a year; other numbers by one or two.
    deltas = (1, -1, 10000, -10000, 100) if len(m[0]) == 8 else (1, -1, 1, 2)
    delta = rng.choice(deltas)
    new = str(max(value + delta, 0)).zfill(len(m[0]))
    return None if new == m[0] else target[: m.start()] + new + target[m.end() :]


def reordered(target: str, rng: random.Random) -> str | None:
    parts = target.split("-")
    if len(parts) < 2:
        return None
    for _ in range(5):
        shuffled = parts[:]
        rng.shuffle(shuffled)
        if shuffled != parts:
            return rng.choice(("-", "", "-")).join(shuffled)
    return None


def separators(target: str, rng: random.Random) -> str | None:
    if "-" in target:
        return target.replace("-", "", 1) if rng.random() < 0.7 else target.replace("-", "--")
    if len(target) < 6:
        return None
    i = rng.randint(2, len(target) - 2)
    return target[:i] + "-" + target[i:]


def affix_and_typo(target: str, rng: random.Random) -> str | None:
    slip = rng.choice((transposed, keyboard_slip, dropped, doubled))(target, rng)
    return None if slip is None else generic_affix(slip, rng)


@dataclass(frozen=True)
class ImitationClass:
    name: str
    group: str
    """``typo`` (one slip) or ``structural`` (affix, version, reordering, separators)."""
    make: Callable[[str, random.Random], str | None]


CLASSES = (
    ImitationClass("typo: keyboard slip", "typo", keyboard_slip),
    ImitationClass("typo: extra key", "typo", extra_key),
    ImitationClass("typo: doubled letter", "typo", doubled),
    ImitationClass("typo: dropped letter", "typo", dropped),
    ImitationClass("typo: transposition", "typo", transposed),
    ImitationClass("typo: homoglyph", "typo", homoglyph),
    ImitationClass("typo: phonetic", "typo", phonetic),
    ImitationClass("typo: vowel", "typo", vowel),
    ImitationClass("affix: generic", "structural", generic_affix),
    ImitationClass("affix: another word", "structural", another_word),
    ImitationClass("affix: plural", "structural", plural),
    ImitationClass("affix: doubled + digit", "structural", doubled_and_digit),
    ImitationClass("affix: with a typo", "structural", affix_and_typo),
    ImitationClass("py/python affix", "structural", py_affix),
    ImitationClass("version suffix", "structural", version_suffix),
    ImitationClass("version change", "structural", version_change),
    ImitationClass("reordered parts", "structural", reordered),
    ImitationClass("separators", "structural", separators),
)


def imitate(
    target: str, kind: ImitationClass, rng: random.Random, taken: Callable[[str], bool]
) -> str | None:
    """One valid, unregistered imitation of ``target`` of class ``kind``, if one is found.

    ``taken`` says whether a normalized name exists already: an attacker can only register
    a free name, so existing projects are never counted as imitations.
    """
    for _ in range(8):
        made = kind.make(target, rng)
        if made is None:
            return None
        name = re.sub(r"[-_.]+", "-", made.lower())
        if name != target and _NAME.match(name) and not taken(name):
            return name
    return None
