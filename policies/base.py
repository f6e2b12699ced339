"""The policy contract: verdicts and the three hook Protocols.

A policy implements one or more hooks. Each hook returns a ``Verdict`` (or ``None`` for
"nothing to say", which counts as allow). Reasons are written for a person who has to act
on them: say what was found and what to do, e.g. "'reqeusts' is one transposition away
from 'requests' (rank 4 by downloads)".
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from packaging.utils import NormalizedName

if TYPE_CHECKING:
    import aiohttp

    from policies.changes import Announce
    from proxy.model import DistFile, ProjectPage
    from proxy.settings import Settings
    from storage.base import KeyValueStore

POLICY_API_VERSION = 1
ENTRY_POINT_GROUP = f"pipgate.policies.v{POLICY_API_VERSION}"


class Decision(enum.Enum):
    ALLOW = "allow"
    WARN = "warn"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    policy: str
    reason: str
    audit: bool = False
    """True when the policy runs in audit mode: a deny that was logged but not enforced."""

    @property
    def denies(self) -> bool:
        return self.decision is Decision.DENY and not self.audit

    @classmethod
    def deny(cls, policy: str, reason: str) -> Verdict:
        return cls(Decision.DENY, policy, reason)

    @classmethod
    def warn(cls, policy: str, reason: str) -> Verdict:
        return cls(Decision.WARN, policy, reason)

    @classmethod
    def allow(cls, policy: str, reason: str = "") -> Verdict:
        return cls(Decision.ALLOW, policy, reason)


class PolicyError(ValueError):
    """A policy is misconfigured; start-up (or reload) stops with this message."""


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What is known about a file once it is about to be served."""

    sha256: str | None
    provenance: bytes | None
    """The raw PEP 740 provenance object, when the upstream offered one and it was fetched."""


@runtime_checkable
class ProjectPolicy(Protocol):
    """Decides on a project by name alone, before any upstream call."""

    def check_project(self, name: NormalizedName) -> Verdict | None: ...


@runtime_checkable
class FilePolicy(Protocol):
    """Decides on one file of a project page (version, filename, upload-time, yanked, size)."""

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None: ...


@runtime_checkable
class ArtifactPolicy(Protocol):
    """Decides on a file at download time, with its provenance; may do I/O."""

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> Verdict | None: ...


@dataclass(frozen=True, slots=True)
class Option:
    """One option a policy accepts in its ``[[policy]]`` table."""

    name: str
    help: str
    default: Any
    parse: Callable[[Any], Any]
    """Converts the TOML value; raises ``ValueError`` with a message saying what was expected."""


@dataclass(frozen=True, slots=True)
class PolicyEnvironment:
    """What a policy may use when it is built: shared state, never global config."""

    data_dir: Path
    kv: KeyValueStore
    """Persistent key-value state (e.g. trust-on-first-use publishers); shared by replicas."""
    http: aiohttp.ClientSession | None = None
    """For policies that download their data (e.g. an OSV ``all.zip`` URL)."""
    settings: Settings | None = None
    announce: Announce | None = None
    """Tell the app which projects a change of the policy's data affects (``InputChange``),
    so their rendered pages are dropped at once instead of when their TTL runs out."""


class PolicyPlugin(Protocol):
    """A policy class as the registry sees it (built-ins and entry points alike).

    Instances implement one or more of ``ProjectPolicy``, ``FilePolicy``, ``ArtifactPolicy``
    and may define ``async def start(self) -> None`` / ``async def aclose(self) -> None``
    (load or refresh data in the background) which the engine calls.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[tuple[Option, ...]]

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> object:
        """Build from already-parsed options (every declared option present, defaults filled)."""
        ...
