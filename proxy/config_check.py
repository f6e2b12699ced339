"""The whole configuration checked at once: server settings, ``[[policy]]`` tables, the
policies' own start-up checks and the PEP 740 trust root, every problem in one list.

``load_config`` is what ``serve``, ``check``, ``policies`` and ``doctor`` read the config
with; ``check_startup`` adds what needs a running event loop (creating each policy, loading
the trust root) so that ``pipgate serve`` stops with one clean list and exit code 2 instead
of a traceback from inside the server's start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.base import PolicyEnvironment, PolicyError
from policies.config import PolicyConfig, PolicyConfigError, parse_policy_tables
from policies.engine import build_policy_set, policy_tables
from policies.registry import PolicyRegistry
from proxy.attestations import TrustRootError, shared_verifier
from proxy.outbound import create_session, trusted_origins
from proxy.settings import Settings, SettingsError, load_settings
from storage.memory import MemoryKeyValueStore

EXIT_CONFIG = 2
"""Exit status of every command for an invalid configuration."""


class ConfigError(ValueError):
    """Every problem found in the configuration, one line each in ``problems``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        head = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {problem}" for problem in self.problems)])


@dataclass(frozen=True, slots=True)
class CheckedConfig:
    settings: Settings
    policies: list[PolicyConfig]
    """The policies in force (the ``[[policy]]`` tables, or the default set), validated."""
    registry: PolicyRegistry


def load_config(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    registry: PolicyRegistry | None = None,
) -> CheckedConfig:
    """Settings and policy tables, both checked; one ``ConfigError`` lists every problem."""
    problems: list[str] = []
    settings: Settings | None = None
    tables = None
    try:
        settings = load_settings(config_file, environ, overrides)
        tables = policy_tables(settings)
    except SettingsError as error:
        problems.extend(error.problems)
        tables = error.policies  # None: the default set, valid whatever the settings
    configs: list[PolicyConfig] = []
    if registry is None:
        try:
            registry = PolicyRegistry.discover()
        except PolicyError as error:
            problems.append(str(error))
    if registry is not None and tables:
        try:
            configs = parse_policy_tables(tables, registry)
        except PolicyConfigError as error:
            problems.extend(error.problems)
    if problems or settings is None or registry is None:
        raise ConfigError(problems)
    return CheckedConfig(settings, configs, registry)


async def check_startup(checked: CheckedConfig) -> None:
    """Create every policy (not started: no data is downloaded) and load the trust root.

    Raises ``ConfigError`` with every problem found.
    """
    settings = checked.settings
    problems: list[str] = []
    session = create_session(settings, trusted_origins(settings))
    try:
        env = PolicyEnvironment(settings.data_dir, MemoryKeyValueStore(), session, settings)
        try:
            build_policy_set(settings, env, checked.registry)
        except PolicyConfigError as error:
            problems.extend(error.problems)
        except PolicyError as error:
            problems.append(str(error))
        try:
            await shared_verifier(settings)
        except TrustRootError as error:
            problems.append(str(error))
    finally:
        await session.close()
    if problems:
        raise ConfigError(problems)


def load_for_serving(
    config_file: Path | None, overrides: Mapping[str, object] | None = None
) -> CheckedConfig:
    """``load_config`` then ``check_startup``: everything ``pipgate serve`` needs to hold."""
    checked = load_config(config_file, overrides=overrides)
    asyncio.run(check_startup(checked))
    return checked


__all__ = [
    "EXIT_CONFIG",
    "CheckedConfig",
    "ConfigError",
    "check_startup",
    "load_config",
    "load_for_serving",
]
