"""``dependency_confusion``: private names need a private upstream that serves them."""

from __future__ import annotations

from packaging.utils import NormalizedName

from policies.dependency_confusion import DependencyConfusionPolicy
from policies.globs import GlobSet
from proxy.settings import UpstreamConfig
from tests.support.policy_env import engine_for

INTERNAL = UpstreamConfig("internal", "https://pypi.internal.invalid/simple/", ("acme-*",))


def test_private_name_without_a_private_upstream_is_denied() -> None:
    policy = DependencyConfusionPolicy(GlobSet(["acme-*", "corp-*"]), [INTERNAL])
    verdict = policy.check_project(NormalizedName("corp-auth"))
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason == (
        "corp-auth matches private glob 'corp-*' but no private [[upstream]] serves it (private "
        "upstreams: internal), so only the public index could answer and anyone can register "
        "that name there; add a glob covering corp-auth to an [[upstream]] projects list"
    )


def test_private_name_served_by_a_private_upstream_passes() -> None:
    policy = DependencyConfusionPolicy(GlobSet(["acme-*"]), [INTERNAL])
    assert policy.check_project(NormalizedName("acme-auth")) is None
    assert policy.check_project(NormalizedName("requests")) is None


def test_upstreams_come_from_the_settings() -> None:
    tables = [{"use": "dependency_confusion", "private": ["acme-*", "corp-*"]}]
    engine = engine_for(tables, upstreams=[INTERNAL])
    assert engine.check_project(NormalizedName("acme-auth")) == []
    (verdict,) = engine.check_project(NormalizedName("corp-auth"))
    assert "(private upstreams: internal)" in verdict.reason
    (alone,) = engine_for(tables).check_project(NormalizedName("acme-auth"))
    assert "(private upstreams: none is configured)" in alone.reason
