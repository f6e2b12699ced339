"""The policy engine: builds the configured policies, runs their lifecycle and swaps in a
new configuration on reload without disturbing requests in flight.

Without ``[[policy]]`` tables (``Settings.policies is None``: no config file, or one with
settings only) the secure default set is active, unless the config says ``policies = []``; see
``default_policy_tables`` and docs/policies.md. Evaluation rules live in ``policyset``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName

from policies.base import (
    ArtifactInfo,
    ArtifactPolicy,
    FilePolicy,
    PolicyEnvironment,
    PolicyError,
    ProjectPolicy,
    Verdict,
)
from policies.config import PolicyConfig, PolicyConfigError, parse_policy_tables
from policies.policyset import ActivePolicy, PagePolicy, PolicySet
from policies.registry import PolicyRegistry
from proxy.model import DistFile, ProjectPage
from proxy.settings import Settings

if TYPE_CHECKING:
    import aiohttp

    from policies.changes import Announce
    from storage.base import KeyValueStore

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT = 30.0
"""Seconds a reload waits for artifact checks of the old policies before closing them."""


def default_policy_tables(osv_source: str | None = None) -> tuple[Mapping[str, Any], ...]:
    """The secure default set, active when no ``[[policy]]`` table is configured.

    ``typosquat`` (enforce), malicious-package blocking by ``osv`` when an OSV data source
    is configured (the ``osv_source`` server setting), ``project_status`` (PEP 792: an
    index MUST NOT offer a quarantined project's files, so quarantined is a 403) and
    ``attestations`` (default options: provenance that is present must verify).
    """
    tables: list[Mapping[str, Any]] = [{"use": "typosquat", "mode": "enforce"}]
    if osv_source:
        tables.append({"use": "osv", "source": osv_source, "vulnerable": False})
    tables.append({"use": "project_status"})
    tables.append({"use": "attestations"})
    return tuple(tables)


def policy_tables(settings: Settings) -> tuple[Mapping[str, Any], ...]:
    """The tables in force: the config file's ``[[policy]]`` tables, or the default set."""
    if settings.policies is None:
        return default_policy_tables(settings.osv_source)
    if not settings.policies:
        logger.warning("the config file says policies = []: no policy is active")
    return tuple(settings.policies)


def build_policy_set(
    settings: Settings, env: PolicyEnvironment, registry: PolicyRegistry
) -> PolicySet:
    """Parse and create every policy; one ``PolicyConfigError`` lists every problem."""
    configs = parse_policy_tables(policy_tables(settings), registry)
    env = dataclasses.replace(env, settings=settings)
    problems: list[str] = []
    active = [_create(config, env, problems) for config in configs]
    if problems:
        raise PolicyConfigError(problems)
    return PolicySet([policy for policy in active if policy is not None])


def _create(
    config: PolicyConfig, env: PolicyEnvironment, problems: list[str]
) -> ActivePolicy | None:
    where = f"[[policy]] #{config.position} ({config.name})"
    try:
        instance = config.plugin.create(config.options, env)
    except Exception as error:
        problems.append(f"{where}: {type(error).__name__}: {error}")
        return None
    hooks = (ProjectPolicy, PagePolicy, FilePolicy, ArtifactPolicy)
    if not any(isinstance(instance, hook) for hook in hooks):
        problems.append(
            f"{where}: the policy object has none of check_project, check_page, "
            f"check_file, check_artifact"
        )
        return None
    if isinstance(instance, ArtifactPolicy) and not inspect.iscoroutinefunction(
        instance.check_artifact
    ):
        problems.append(f"{where}: check_artifact must be an async method")
        return None
    return ActivePolicy(config, instance)


async def start_policies(policies: PolicySet) -> None:
    """Call every optional ``start()``; on failure close what started and raise."""
    started: list[ActivePolicy] = []
    for policy in policies.active:
        start = getattr(policy.instance, "start", None)
        try:
            if start is not None:
                await start()
        except Exception as error:
            await close_policies(started)
            raise PolicyError(
                f"policy {policy.name!r} failed to start: {type(error).__name__}: {error}"
            ) from error
        started.append(policy)


async def close_policies(policies: Sequence[ActivePolicy]) -> None:
    for policy in reversed(policies):
        aclose = getattr(policy.instance, "aclose", None)
        if aclose is None:
            continue
        try:
            await aclose()
        except Exception:
            logger.exception("policy %r failed to close", policy.name)


class PolicyEngine:
    """The policies in force. ``current`` is one immutable ``PolicySet``; a request that
    takes it once sees one consistent configuration even if a reload happens meanwhile."""

    def __init__(
        self, policies: PolicySet, env: PolicyEnvironment, registry: PolicyRegistry
    ) -> None:
        self._current = policies
        self._env = env
        self._registry = registry
        self._reload_lock = asyncio.Lock()
        self.generation = 1
        """Bumped by every successful reload; rendered pages are cached per generation."""

    @classmethod
    def from_settings(
        cls, settings: Settings, env: PolicyEnvironment, registry: PolicyRegistry | None = None
    ) -> PolicyEngine:
        registry = registry if registry is not None else PolicyRegistry.discover()
        return cls(build_policy_set(settings, env, registry), env, registry)

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        kv: KeyValueStore,
        http: aiohttp.ClientSession | None = None,
        announce: Announce | None = None,
    ) -> AsyncIterator[PolicyEngine]:
        """Build and start the engine for the app's lifespan; close the policies on exit.

        ``announce`` receives the input changes policies make (e.g. an OSV refresh)."""
        env = PolicyEnvironment(
            data_dir=settings.data_dir, kv=kv, http=http, settings=settings, announce=announce
        )
        engine = cls.from_settings(settings, env)
        await engine.start()
        try:
            yield engine
        finally:
            await engine.aclose()

    @property
    def current(self) -> PolicySet:
        return self._current

    async def start(self) -> None:
        await start_policies(self._current)

    async def aclose(self) -> None:
        await close_policies(self._current.active)

    async def reload(self, settings: Settings) -> None:
        """Build, start and swap in the policies of ``settings``; on any error the running
        policies stay in force and the error is raised."""
        async with self._reload_lock:
            fresh = build_policy_set(settings, self._env, self._registry)
            await start_policies(fresh)
            old, self._current = self._current, fresh
            self.generation += 1
            logger.info("policies reloaded (generation %d): %s", self.generation, self.names())
            await old.drain(DRAIN_TIMEOUT)
            await close_policies(old.active)

    def names(self) -> list[str]:
        return [policy.name for policy in self._current.active]

    def check_project(self, name: NormalizedName) -> list[Verdict]:
        return self._current.check_project(name)

    def check_page(self, page: ProjectPage) -> list[Verdict]:
        return self._current.check_page(page)

    def check_file(self, page: ProjectPage, file: DistFile) -> list[Verdict]:
        return self._current.check_file(page, file)

    def filter_page(self, page: ProjectPage) -> tuple[ProjectPage, list[tuple[DistFile, Verdict]]]:
        return self._current.filter_page(page)

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> list[Verdict]:
        return await self._current.check_artifact(name, file, artifact)

    def describe(self) -> list[dict[str, Any]]:
        """The active policies with mode, exemptions and effective options (JSON-ready)."""
        return [describe_config(policy.config) for policy in self._current.active]


def describe_config(config: PolicyConfig) -> dict[str, Any]:
    return {
        "policy": config.name,
        "mode": config.mode.value,
        "exempt": list(config.exempt.patterns),
        "options": {k: plain(v) for k, v in config.options.items()},
    }


def plain(value: Any) -> Any:
    """An option value as JSON/TOML-like data, for ``pipgate policies`` and ``describe``."""
    patterns = getattr(value, "patterns", None)
    if isinstance(patterns, tuple):
        return [plain(p) for p in patterns]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
