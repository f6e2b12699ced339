"""The typosquat building blocks one by one: character similarity, name forms, edits,
affix readings, the compact neighbour index, the learnt name structure and the tuning."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import DamerauLevenshtein

from policies.typosquat.affixes import splits
from policies.typosquat.edits import Edit, Kind, Place, classify
from policies.typosquat.index import ProtectedIndex
from policies.typosquat.names import (
    CompoundWords,
    flat,
    number_mask,
    numbers,
    same_shape,
    skeleton,
    sound,
    word_starts,
)
from policies.typosquat.neighbours import DeletionIndex
from policies.typosquat.popular import build_index, read_popular
from policies.typosquat.similarity import (
    Channel,
    adjacent_keys,
    channels,
    lookalike,
    sounds_alike,
    substitution_cost,
)
from policies.typosquat.structure import NameStructure, Side
from policies.typosquat.tuning import Tuning


def test_channels_of_a_substitution() -> None:
    assert channels("l", "1") == (Channel.VISUAL,)
    assert channels("t", "r") == (Channel.KEYBOARD,)
    assert channels("c", "k") == (Channel.PHONETIC,)
    assert channels("a", "e") == (Channel.VOWEL,)
    assert channels("a", "p") == (Channel.OTHER,)
    # b and v are neighbours and sound alike: cheaper than either channel alone
    assert channels("b", "v") == (Channel.KEYBOARD, Channel.PHONETIC)
    assert substitution_cost("b", "v") < substitution_cost("t", "r") < substitution_cost("a", "p")
    assert lookalike("o", "0")
    assert not lookalike("o", "a")
    assert sounds_alike("s", "z")
    assert not sounds_alike("s", "t")
    assert not adjacent_keys("-", "a")


def test_name_forms() -> None:
    assert flat("pill0w-1ib") == "pillowlib"
    assert flat("cu110") == "cu110"
    assert skeleton("rnatplot1ib") == skeleton("matplotlib")
    assert sound("kolorrama") == sound("colorama")
    assert sound("fysics") == sound("physics")
    assert number_mask("win32-setctime") == number_mask("win31-setctime") == "win#-setctime"
    assert numbers("alibabacloud-ecs20140526") == ["20140526"]
    assert word_starts("abc-de") == frozenset({0, 3})


def test_classify_plural_and_digits() -> None:
    assert classify("dateutils", "dateutil", word_starts("dateutil")) == Edit(
        Kind.PLURAL, Place.LAST, "", "s"
    )
    assert classify("request", "requests", word_starts("requests")) == Edit(
        Kind.PLURAL, Place.LAST, "s", ""
    )
    assert classify("requestss", "requests", word_starts("requests")) == Edit(
        Kind.DOUBLED, Place.LAST, "", "s"
    )
    assert classify("cu12", "cu11", word_starts("cu11")) is None  # numbers are not typos
    assert classify("abc1", "abc", word_starts("abc")) is None


def test_substitution_channel_and_letters_kept() -> None:
    visual = classify("djang0", "django", word_starts("django"))
    keyboard = classify("djangp", "django", word_starts("django"))
    assert visual is not None
    assert keyboard is not None
    assert (visual.channel, visual.keeps_letters) == (Channel.VISUAL, True)
    assert (keyboard.channel, keyboard.keeps_letters) == (Channel.KEYBOARD, False)


def test_splits_read_one_added_word() -> None:
    protected = {"numpy", "requests", "dateutil"}.__contains__
    found = {(s.core, s.word, s.side, s.glued) for s in splits("python-dateutil", protected)}
    assert ("dateutil", "python", Side.PREFIX, False) in found
    glued = {(s.core, s.affix) for s in splits("pynumpy", protected)}
    assert ("numpy", "py") in glued
    number = {(s.core, s.affix, s.number) for s in splits("requests2", protected)}
    assert ("requests", "2", True) in number
    number = {(s.core, s.affix, s.number) for s in splits("requests-v2", protected)}
    assert ("requests", "-v2", True) in number
    long_number = {(s.core, s.number) for s in splits("requests-37", protected)}
    assert ("requests", False) in long_number  # -37 reads as a word, not a version
    # glued words are only cut off where the rest is protected
    assert {s.core for s in splits("numpyish", protected)} == {"numpy"}
    assert splits("abcdefgh", protected) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(string.ascii_lowercase[:6], min_size=1, max_size=7), min_size=1, max_size=30),
    st.text(string.ascii_lowercase[:6], min_size=1, max_size=8),
)
def test_deletion_index_finds_every_word_within_one_edit(words: list[str], query: str) -> None:
    index = DeletionIndex(words)
    found = index.candidates(query)
    within = {i for i, w in enumerate(words) if DamerauLevenshtein.distance(query, w) <= 1}
    assert within <= found
    assert len(index) <= sum(len(w) + 1 for w in words)


def test_structure_counts_affixes_and_families(tmp_path: Path) -> None:
    names = ["flask-utils", "django-utils", "django-extra", "py-django", "djangp", "other"]
    popular = {"django", "flask"}
    learnt = NameStructure.learn([*names, *popular], popular)
    assert learnt.family("django", Side.SUFFIX) == 2  # django-utils, django-extra
    assert learnt.family("django", Side.PREFIX) == 1  # py-django
    assert learnt.family("flask", Side.SUFFIX) == 1
    assert learnt.uses("utils", Side.SUFFIX) == 0  # used by fewer than MIN_USES projects
    many = [f"p{i}-utils" for i in range(6)]
    assert NameStructure.learn(many, set()).uses("utils", Side.SUFFIX) == 6
    assert NameStructure.learn(many, set(), scale=2.0).uses("utils", Side.SUFFIX) == 12
    path = tmp_path / "structure.tsv"
    learnt.write(path, "# header\n")
    again = NameStructure.read(path)
    assert again.family("django", Side.SUFFIX) == 2


def test_structure_rejects_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "structure.tsv"
    path.write_text("affix\t1\tx\tutils\n")
    with pytest.raises(ValueError, match=r"expected 'affix\|family<TAB>"):
        NameStructure.read(path)


def test_tolerance_grows_with_length_and_popularity() -> None:
    tuning = Tuning()
    assert tuning.tolerance(10, 100) > tuning.tolerance(5, 100)
    assert tuning.tolerance(6, 10) > tuning.tolerance(6, 10_000)
    assert tuning.structural_tolerance(1) > tuning.structural_tolerance(1000)
    assert tuning.affix_cost(1000, 0, False, False) < tuning.affix_cost(0, 0, False, False)
    assert tuning.affix_cost(0, 100, False, False) > tuning.affix_cost(0, 0, False, False)
    assert tuning.affix_cost(0, 0, True, False) > tuning.affix_cost(0, 0, False, False)
    first = Edit(Kind.SUBSTITUTION, Place.FIRST, "a", "p")
    middle = Edit(Kind.SUBSTITUTION, Place.MIDDLE, "a", "p")
    assert tuning.edit_cost(first) > tuning.edit_cost(middle)


def test_keyboard_adjacency() -> None:
    assert adjacent_keys("b", "v")
    assert adjacent_keys("t", "r")
    assert adjacent_keys("t", "g")
    assert adjacent_keys("g", "t")
    assert adjacent_keys("o", "9")
    assert not adjacent_keys("t", "v")
    assert not adjacent_keys("a", "p")
    assert not adjacent_keys("-", "a")


def test_classify_places_and_exclusions() -> None:
    starts = word_starts("abc-defg")
    transposed = classify("bacdefg", "abcdefg", starts)
    assert transposed is not None
    assert transposed.place is Place.FIRST
    omitted = classify("abcdfg", "abcdefg", starts)
    assert omitted is not None
    assert (omitted.kind, omitted.place) == (Kind.OMISSION, Place.MIDDLE)
    assert classify("abcdefgh", "abcdefg", starts) is not None
    plural = classify("abcdefgs", "abcdefg", starts)
    assert plural is not None
    assert plural.kind is Kind.PLURAL  # costed apart: also how ordinary variants are named
    dropped = classify("abc", "abcs", word_starts("abcs"))
    assert dropped is not None
    assert dropped.kind is Kind.PLURAL
    assert classify("cu12", "cu11", word_starts("cu11")) is None  # a version number
    assert classify("cu110", "cu11", word_starts("cu11")) is None
    assert classify("acbdefx", "abcdefg", starts) is None  # two edits
    assert classify("cbadefg", "abcdefg", starts) is None  # a swap across a letter


def test_first_letter_changes_cost_more_than_first_letter_slips() -> None:
    starts = word_starts("abcdef")
    changed = classify("xbcdef", "abcdef", starts)
    swapped = classify("bacdef", "abcdef", starts)
    assert changed is not None
    assert swapped is not None
    tuning = build_index(10, frozenset()).tuning
    assert tuning.edit_cost(changed) > tuning.edit_cost(swapped) + 2


def test_flat_and_shape() -> None:
    assert flat("pill0w-1ib") == "pillowlib"
    assert flat("cu110") == "cu110"
    assert same_shape("requ-sts", "requests")
    assert same_shape("reqeusts", "requests")
    assert not same_shape("req-usts", "requests")


def test_compound_words() -> None:
    words = CompoundWords(["torch-text", "torch-vision", "pytest-text", "data-test", "test-kit"])
    assert words.is_compound("torchtest")
    assert not words.is_compound("torchtezt")
    assert words.changed_words_are_compounds("torch-test", "torch-text")
    assert not words.changed_words_are_compounds("torch-text", "torch-text")


def test_index_prefers_the_more_popular_target() -> None:
    index = ProtectedIndex({"abcdefgh": 5000, "abcdefgi": 3}, NameStructure({}, {}))
    match = index.match("abcdefgj")
    assert match is not None
    assert match.target == "abcdefgi"
    assert "abcdefgh" in index
    assert index.match("abcdefgh") is None


def test_build_index_is_cached() -> None:
    assert build_index(50, frozenset()) is build_index(50, frozenset())


def test_load_popular_rejects_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "popular.txt"
    path.write_text("# comment\n2 Foo_Bar\n1 baz\n")
    assert read_popular(path) == (("baz", 1), ("foo-bar", 2))
    path.write_text("one foo\n")
    with pytest.raises(ValueError, match="expected '<rank> <name>'"):
        read_popular(path)
