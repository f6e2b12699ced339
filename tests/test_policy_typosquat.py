"""The ``typosquat`` policy: each rule family, the protected names, the options, and the
detection rate on the development sample of real malicious names (a regression guard;
the benchmark in bench/typosquat measures accuracy and speed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from policies.base import Decision
from policies.typosquat.policy import (
    DEFAULT_TOP,
    TyposquatPolicy,
    build_index,
    load_popular,
    parse_names,
    parse_top,
    read_popular,
)
from policies.typosquat.edits import Kind, Place, adjacent_keys, classify
from policies.typosquat.index import ProtectedIndex, Rule
from policies.typosquat.names import CompoundWords, affix_variants, flat, same_shape, word_starts
from tests.support.policy_env import engine_for, policy_env

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).parent / "fixtures" / "typosquats-sample.tsv"
RANKS = dict(load_popular())


def policy(**options: object) -> TyposquatPolicy:
    defaults = {option.name: option.default for option in TyposquatPolicy.options}
    parsed = {
        name: next(o for o in TyposquatPolicy.options if o.name == name).parse(value)
        for name, value in options.items()
    }
    return TyposquatPolicy.create(defaults | parsed, policy_env())


@pytest.fixture(scope="module")
def default() -> TyposquatPolicy:
    return policy()


def reason(p: TyposquatPolicy, name: str) -> str | None:
    verdict = p.check_project(canonicalize_name(name))
    if verdict is None:
        return None
    assert verdict.decision is Decision.DENY
    assert verdict.policy == "typosquat"
    return verdict.reason


def test_reason_names_rule_target_and_rank(default: TyposquatPolicy) -> None:
    text = reason(default, "reqeusts")
    assert text is not None
    assert text.startswith(
        f"'reqeusts' is one transposition away from 'requests' "
        f"(rank {RANKS['requests']} by downloads)"
    )
    assert "allow list" in text


@pytest.mark.parametrize(
    ("name", "target", "kind"),
    [
        ("djnago", "django", Kind.TRANSPOSITION),
        ("tensorfolw", "tensorflow", Kind.TRANSPOSITION),
        ("requestts", "requests", Kind.DOUBLED),
        ("flaskk", "flask", Kind.DOUBLED),
        ("pilow", "pillow", Kind.UNDOUBLED),
        ("matplotib", "matplotlib", Kind.OMISSION),
        ("requesrs", "requests", Kind.ADJACENT_KEY),
        ("nimpy", "numpy", Kind.ADJACENT_KEY),
        ("djangio", "django", Kind.EXTRA_ADJACENT_KEY),
        ("reque5ts", "requests", Kind.LOOKALIKE),
    ],
)
def test_typos(default: TyposquatPolicy, name: str, target: str, kind: Kind) -> None:
    match = default.index.match(name)
    assert match is not None
    assert (match.rule, match.target, match.edit and match.edit.kind) == (Rule.TYPO, target, kind)
    assert f"'{target}'" in (reason(default, name) or "")


@pytest.mark.parametrize(
    ("name", "target", "rule"),
    [
        ("scikitlearn", "scikit-learn", Rule.SEPARATORS),
        ("python-date-util", "python-dateutil", Rule.SEPARATORS),
        ("djang0", "django", Rule.LOOKALIKE),
        ("f1ask", "flask", Rule.LOOKALIKE),
        ("rnatplotlib", "matplotlib", Rule.LOOKALIKE),
        ("nurnpy", "numpy", Rule.LOOKALIKE),
        ("dateutil-python", "python-dateutil", Rule.REORDERED),
        ("learn-scikit", "scikit-learn", Rule.REORDERED),
        ("install-numpy", "numpy", Rule.AFFIX),
        ("python-matplotlib", "matplotlib", Rule.AFFIX),
        ("matplotlib-dev", "matplotlib", Rule.AFFIX),
        ("requests-official", "requests", Rule.AFFIX),
        ("pycryptography", "cryptography", Rule.AFFIX),
        ("setuptools3", "setuptools", Rule.AFFIX),
        ("install-reqeusts", "requests", Rule.AFFIX),
    ],
)
def test_structural_rules(default: TyposquatPolicy, name: str, target: str, rule: Rule) -> None:
    match = default.index.match(name)
    assert match is not None
    assert (match.rule, match.target) == (rule, target)


def test_reasons_say_what_changed(default: TyposquatPolicy) -> None:
    assert "only in separators" in (reason(default, "scikitlearn") or "")
    assert "look-alike" in (reason(default, "rnatplotlib") or "")
    assert "parts reordered" in (reason(default, "learn-scikit") or "")
    assert "with 'python-' added" in (reason(default, "python-matplotlib") or "")
    combined = reason(default, "install-reqeusts") or ""
    assert "'install-' added and 'ue' swapped to 'eu'" in combined


def test_case_games_are_the_same_project(default: TyposquatPolicy) -> None:
    assert reason(default, "ReQuEsTs") is None
    assert reason(default, "Requests_Toolbelt") is None
    assert reason(default, "ReqeuSts") is not None


@pytest.mark.parametrize(
    "name",
    [
        "mocj",  # one edit on a four-letter name is another word, not a typo
        "reqs-ests",  # a separator added as well as a changed letter: built differently
        "pyrequests",  # "pyX" is the ordinary way to name a wrapper of a mid-length name
        "numpy-py",
        "requests2",
        "urllib4",  # a changed number is another project line
        "boto4",
    ],
)
def test_not_flagged(default: TyposquatPolicy, name: str) -> None:
    assert default.index.match(name) is None


def test_popular_names_are_never_flagged(default: TyposquatPolicy) -> None:
    flagged = [name for name in RANKS if default.check_project(NormalizedName(name))]
    assert flagged == []
    assert len(default.index) == len(RANKS) == min(DEFAULT_TOP, len(RANKS))


def test_protect_adds_internal_names() -> None:
    p = policy(protect=["Acme_Billing"])
    assert reason(p, "acme-billing") is None
    text = reason(p, "acme-biling")
    assert text is not None
    assert "'acme-billing'" in text
    assert "(a protected name)" in text
    assert "parts reordered" in (reason(p, "billing-acme") or "")
    assert reason(policy(), "acme-biling") is None


def test_allow_accepts_false_positives() -> None:
    assert reason(policy(allow=["ReqeuSts"]), "reqeusts") is None
    assert reason(policy(allow=["something-else"]), "reqeusts") is not None


def test_top_limits_protected_names() -> None:
    assert RANKS["tensorflow"] > 100
    assert reason(policy(top=100), "tensorfolw") is None
    assert reason(policy(top=100), "reqeusts") is not None
    assert reason(policy(top=0), "reqeusts") is None


def test_options_reject_bad_values() -> None:
    for bad in (-1, True, "100", 1.5):
        with pytest.raises(ValueError, match="non-negative integer"):
            parse_top(bad)
    for bad_names in ("acme", ["ok", 3], [""]):
        with pytest.raises(ValueError, match="list of project names"):
            parse_names(bad_names)


def test_engine_builds_the_policy_from_a_config_table() -> None:
    engine = engine_for(
        [{"use": "typosquat", "protect": ["acme-billing"], "allow": ["djnago"]}],
        classes=(TyposquatPolicy,),
    )
    [verdict] = engine.check_project(NormalizedName("acme-bliling"))
    assert verdict.denies
    assert engine.check_project(NormalizedName("djnago")) == []


def test_sample_detection_rate(default: TyposquatPolicy) -> None:
    rows = [line.split("\t") for line in SAMPLE.read_text().splitlines() if line[:1] != "#"]
    names = [canonicalize_name(row[0]) for row in rows[1:]]
    caught = [name for name in names if default.check_project(name)]
    assert len(names) > 100
    assert len(caught) / len(names) >= 0.9


# The building blocks.


def test_keyboard_adjacency() -> None:
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
    assert classify("abcdefgs", "abcdefg", starts) is None  # a plural
    assert classify("abc", "abcs", word_starts("abcs")) is None
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
    assert changed.cost > swapped.cost + 2


def test_flat_and_shape() -> None:
    assert flat("pill0w-1ib") == "pillowlib"
    assert flat("cu110") == "cu110"
    assert same_shape("requ-sts", "requests")
    assert same_shape("reqeusts", "requests")
    assert not same_shape("req-usts", "requests")


def test_affix_variants() -> None:
    variants = {(v.core, v.affix) for v in affix_variants("python-foo-bar-dev")}
    assert ("foo-bar-dev", "python-") in variants
    assert ("python-foo-bar", "-dev") in variants
    assert ("foo", "py") in {(v.core, v.affix) for v in affix_variants("pyfoo")}
    assert ("foo", "-2") in {(v.core, v.affix) for v in affix_variants("foo-2")}
    assert affix_variants("flask-utils") == []


def test_compound_words() -> None:
    words = CompoundWords(["torch-text", "torch-vision", "pytest-text", "data-test", "test-kit"])
    assert words.is_compound("torchtest")
    assert not words.is_compound("torchtezt")
    assert words.changed_words_are_compounds("torch-test", "torch-text")
    assert not words.changed_words_are_compounds("torch-text", "torch-text")


def test_index_prefers_the_more_popular_target() -> None:
    index = ProtectedIndex({"abcdefgh": 5000, "abcdefgi": 3})
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


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_popular", REPO / "bench" / "typosquat" / "generate_popular.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_popular_keeps_the_best_rank_of_normalized_names(tmp_path: Path) -> None:
    table = tmp_path / "ranks.tsv"
    table.write_text(
        "name\tversion\trank_among_top\tsummary\n"
        "Foo_Bar\t1\t3\tx\n"
        "foo-bar\t1\t2\tx\n"
        "nobody\t1\t\tx\n"
        "Baz\t1\t1\tx\n"
        "qux\t1\t7\tx\n"
    )
    out = tmp_path / "popular.txt"
    generator = _generator()
    assert generator.write_popular(generator.read_ranks(table), 2, out) == 2
    assert read_popular(out) == (("baz", 1), ("foo-bar", 2))
