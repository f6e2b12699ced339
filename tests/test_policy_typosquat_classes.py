"""The classes of imitation issue 16 added or fixed, with their reasons: short names by
popularity, plurals, version-like suffixes and changed numbers, py/python and other
added words, sounds-alike spellings; the whole popular list never flagged; the company's
own names guarded as strictly as the top name."""

from __future__ import annotations

import pytest
from packaging.utils import NormalizedName

from policies.typosquat import TyposquatPolicy
from policies.typosquat.index import ProtectedIndex
from policies.typosquat.matches import Rule
from policies.typosquat.structure import NameStructure, Side, load_structure
from tests.test_policy_typosquat import RANKS, policy, reason


@pytest.fixture(scope="module")
def default() -> TyposquatPolicy:
    return policy()


def test_prefers_the_closer_and_more_popular_target(default: TyposquatPolicy) -> None:
    text = reason(default, "python-dateutils") or ""
    assert text.startswith(
        f"'python-dateutils' is 'python-dateutil' with an 's' added at the end "
        f"(rank {RANKS['python-dateutil']} by downloads)"
    )
    assert "if you meant 'python-dateutil'" in text
    index = ProtectedIndex({"dateutils": 3000, "python-dateutil": 13}, NameStructure({}, {}))
    match = index.match("python-dateutils")
    assert match is not None
    assert match.target == "python-dateutil"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("inda", "idna"),  # a swap in a four-letter top-10 name
        ("rihc", "rich"),
        ("voto3", "boto3"),  # b/v: neighbouring keys that also sound alike
        ("pandaz", "pandas"),  # one letter of a six-letter top-600 name
        ("psutol", "psutil"),
    ],
)
def test_short_names_are_guarded_by_popularity(
    default: TyposquatPolicy, name: str, target: str
) -> None:
    match = default.index.match(name)
    assert match is not None
    assert (match.rule, match.target) == (Rule.TYPO, target)


def test_a_short_name_far_down_the_ranking_needs_a_closer_imitation() -> None:
    structure = NameStructure({}, {})
    assert ProtectedIndex({"abcd": 5}, structure).match("abcf") is not None
    assert ProtectedIndex({"abcd": 9000}, structure).match("abcf") is None


@pytest.mark.parametrize(
    ("name", "target", "rule", "phrase"),
    [
        ("requests2", "requests", Rule.NUMBER, "with the version-like '2' added"),
        ("numpy-v2", "numpy", Rule.NUMBER, "with the version-like '-v2' added"),
        ("win31-setctime", "win32-setctime", Rule.NUMBER_CHANGED, "number '32' changed to '31'"),
        ("idna-utils", "idna", Rule.AFFIX, "with '-utils' added"),
        ("idnapy", "idna", Rule.AFFIX, "with 'py' added"),
        ("fonenumbers", "phonenumbers", Rule.SOUND, "sounds like 'phonenumbers'"),
        ("learnscikit", "scikit-learn", Rule.REORDERED, "parts reordered"),
    ],
)
def test_structural_classes_and_their_reasons(
    default: TyposquatPolicy, name: str, target: str, rule: Rule, phrase: str
) -> None:
    match = default.index.match(name)
    assert match is not None
    assert (match.rule, match.target) == (rule, target)
    text = reason(default, name) or ""
    assert phrase in text
    assert f"(rank {RANKS[target]} by downloads)" in text


def test_reasons_name_the_channel_of_a_substitution(default: TyposquatPolicy) -> None:
    assert "'5' for 's' (a look-alike character)" in (reason(default, "reque5ts") or "")
    assert "'k' for 'c' (a letter that sounds the same)" in (reason(default, "kolorama") or "")
    assert "'v' for 'b' (a neighbouring key and a letter that sounds the same)" in (
        reason(default, "voto3") or ""
    )


def test_the_whole_shipped_list_is_never_flagged_whatever_top_is() -> None:
    small = policy(top=100)
    assert "tensorflow" not in small.index
    flagged = [name for name in RANKS if small.check_project(NormalizedName(name))]
    assert flagged == []


def test_a_protected_name_is_guarded_as_strictly_as_the_top_name() -> None:
    p = policy(protect=["acme-billing"])
    for name, phrase in [
        ("acme-biling", "the doubled 'l' written once"),
        ("acmebilling", "only in separators"),
        ("billing-acme", "parts reordered"),
        ("acme-billing-utils", "with '-utils' added"),
        ("acme-billing-foo", "with '-foo' added"),
        ("acme-billing2", "version-like '2'"),
        ("python-acme-billing", "with 'python-' added"),
    ]:
        text = reason(p, name)
        assert text is not None, name
        assert phrase in text, text
        assert "(a protected name)" in text
    assert reason(policy(), "acme-billing-utils") is None


def test_a_big_family_makes_an_added_word_an_ordinary_name(default: TyposquatPolicy) -> None:
    # requests-* has hundreds of companion projects, idna-* almost none
    assert reason(default, "requests-utils") is None
    assert reason(default, "idna-utils") is not None
    structure = NameStructure({"utils": (0, 4000)}, {"abcdef": (0, 300)})
    crowded = ProtectedIndex({"abcdef": 5, "ghijkl": 5}, structure)
    assert crowded.match("abcdef-utils") is None
    assert crowded.match("ghijkl-utils") is not None


def test_shipped_structure_counts_are_loaded() -> None:
    structure = load_structure()
    assert structure.family("django", Side.SUFFIX) > 1000  # django-* is a namespace
    assert structure.uses("utils", Side.SUFFIX) > 1000
    assert structure.family("tkcalendar", Side.SUFFIX) < 5
