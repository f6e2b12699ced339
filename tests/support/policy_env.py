"""Helpers to build policies and engines in tests without installed entry points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policies.allowlist import AllowlistPolicy
from policies.base import PolicyEnvironment
from policies.denylist import DenylistPolicy
from policies.dependency_confusion import DependencyConfusionPolicy
from policies.engine import PolicyEngine
from policies.files import FilesPolicy
from policies.project_status import ProjectStatusPolicy
from policies.registry import PolicyRegistry
from policies.release_age import ReleaseAgePolicy
from policies.yanked import YankedPolicy
from proxy.settings import Settings, UpstreamConfig
from storage.memory import MemoryKeyValueStore

SIMPLE_POLICIES: tuple[type[Any], ...] = (
    AllowlistPolicy,
    DenylistPolicy,
    DependencyConfusionPolicy,
    FilesPolicy,
    ProjectStatusPolicy,
    ReleaseAgePolicy,
    YankedPolicy,
)


def policy_env(settings: Settings | None = None) -> PolicyEnvironment:
    return PolicyEnvironment(Path("unused-data-dir"), MemoryKeyValueStore(), None, settings)


def engine_for(
    tables: Sequence[Mapping[str, Any]],
    classes: Sequence[type[Any]] = SIMPLE_POLICIES,
    upstreams: Sequence[UpstreamConfig] = (),
) -> PolicyEngine:
    """An engine over ``tables`` with only ``classes`` registered."""
    settings = Settings(policies=tuple(tables), upstreams=tuple(upstreams))
    registry = PolicyRegistry.from_classes(classes)
    return PolicyEngine.from_settings(settings, policy_env(settings), registry)
