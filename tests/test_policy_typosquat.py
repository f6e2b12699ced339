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
from policies.typosquat import TyposquatPolicy
from policies.typosquat.edits import Kind
from policies.typosquat.matches import Rule
from policies.typosquat.policy import DEFAULT_TOP, parse_names, parse_top
from policies.typosquat.popular import load_popular, read_popular
from policies.typosquat.similarity import Channel
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
    ("name", "target", "kind", "channel"),
    [
        ("djnago", "django", Kind.TRANSPOSITION, None),
        ("tensorfolw", "tensorflow", Kind.TRANSPOSITION, None),
        ("requestts", "requests", Kind.DOUBLED, None),
        ("flaskk", "flask", Kind.DOUBLED, None),
        ("pilow", "pillow", Kind.UNDOUBLED, None),
        ("matplotib", "matplotlib", Kind.OMISSION, None),
        ("requesrs", "requests", Kind.SUBSTITUTION, Channel.KEYBOARD),
        ("nimpy", "numpy", Kind.SUBSTITUTION, Channel.KEYBOARD),
        ("djangio", "django", Kind.EXTRA_ADJACENT_KEY, None),
        ("reque5ts", "requests", Kind.SUBSTITUTION, Channel.VISUAL),
        ("rekuests", "requests", Kind.SUBSTITUTION, Channel.PHONETIC),
        ("python-dateutils", "python-dateutil", Kind.PLURAL, None),
    ],
)
def test_typos(
    default: TyposquatPolicy, name: str, target: str, kind: Kind, channel: Channel | None
) -> None:
    match = default.index.match(name)
    assert match is not None
    assert match.edit is not None
    assert (match.rule, match.target, match.edit.kind) == (Rule.TYPO, target, kind)
    assert match.edit.channel is channel
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
        # Added words count against a top name with few companion projects; against one
        # with a big family (numpy-*, requests-*) they no longer do (issue 16: the learnt
        # family term; see bench/typosquat/RESULTS.md for what that costs).
        ("install-idna", "idna", Rule.AFFIX),
        ("python-urllib3", "urllib3", Rule.AFFIX),
        ("idna-py", "idna", Rule.AFFIX),
        ("pyidna", "idna", Rule.AFFIX),
        ("setuptools3", "setuptools", Rule.NUMBER),
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
    assert "with 'python-' added" in (reason(default, "python-urllib3") or "")
    combined = reason(default, "reqeusts2") or ""
    assert "the version-like '2' added and 'ue' swapped to 'eu'" in combined


def test_case_games_are_the_same_project(default: TyposquatPolicy) -> None:
    assert reason(default, "ReQuEsTs") is None
    assert reason(default, "Requests_Toolbelt") is None
    assert reason(default, "ReqeuSts") is not None


@pytest.mark.parametrize(
    "name",
    [
        "mocj",  # one slip on a four-letter name ranked 785 is another word, not a typo
        "reqs-ests",  # a separator added as well as a changed letter: built differently
        "requests-37",  # a Python version or a count, not a version of requests
        "numpy-2024",
        "django-rest-auth-kit",  # django-* is a namespace of thousands of projects
        "polars-tldextract",  # two projects combined: how integrations are named
    ],
)
def test_not_flagged(default: TyposquatPolicy, name: str) -> None:
    assert default.index.match(name) is None


@pytest.mark.parametrize(
    ("name", "target"),
    [
        # Not flagged before issue 16; real attacks use every one of these forms.
        ("pyidna", "idna"),  # py/python affixes on a top-10 name
        ("python-certifi", "certifi"),
        ("requests2", "requests"),  # a version-like suffix
        ("urllib4", "urllib3"),  # a changed version inside the name
        ("boto4", "boto3"),
    ],
)
def test_now_flagged(default: TyposquatPolicy, name: str, target: str) -> None:
    match = default.index.match(name)
    assert match is not None
    assert match.target == target


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
    # 0.91 before issue 16, 0.89 since: the sample is a check, no longer the target the
    # rules are fitted to (bench/typosquat/RESULTS.md lists what it misses and why).
    assert len(caught) / len(names) >= 0.88


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
