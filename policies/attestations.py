"""The ``attestations`` policy: PEP 740 provenance must verify, and may be required, pinned
to a Trusted Publisher, and held continuous (trust on first use).

- Default: a file whose provenance is present but does not verify (or cannot be verified) is
  denied with the verifier's reason; a file without provenance is allowed.
- ``require = [globs]``: files of matching projects must carry provenance that verifies.
- ``publishers = {project = "kind:identity"}``: every publisher of the project's files must
  match the pin; a pin implies ``require`` (a pin that a file without provenance could skip
  would protect nothing).
- ``continuity = true``: the publishers a project is first seen with are persisted; a file
  signed by another publisher is denied, and so is a file without provenance whose version is
  not older than the oldest release seen with provenance (an attestation downgrade). Pinned
  projects are governed by their pin instead.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from policies.base import ArtifactInfo, Option, PolicyEnvironment, Verdict
from policies.config import parse_bool
from policies.globs import GlobSet, parse_globs
from proxy.attestations import (
    AttestationResult,
    AttestationStatus,
    AttestationVerifier,
    shared_verifier,
)
from proxy.model import DistFile
from proxy.settings import Settings

_SEGMENT = r"[A-Za-z0-9_.-]+"
_PIN_FORMS = (
    "'github:owner/repo[@workflow.yml]', 'gitlab:group/project[@.gitlab-ci.yml]', "
    "'google:service-account-email' or 'circleci:project-id[/pipeline-definition-id]'"
)


@dataclass(frozen=True, slots=True)
class PublisherPin:
    """A publisher identity, as pinned in the config or reported by the verifier."""

    kind: str
    subject: str
    """Repository, service-account email or CircleCI project id."""
    detail: str | None = None
    """Workflow file, CI config path or pipeline definition id; ``None`` pins any."""

    @classmethod
    def parse(cls, text: object) -> PublisherPin:
        if not isinstance(text, str):
            raise ValueError(f"{text!r} is not a publisher; expected {_PIN_FORMS}")
        kind, _, rest = text.partition(":")
        kind = kind.lower()
        if kind in {"github", "gitlab"}:
            subject, at, detail = rest.partition("@")
            depth = "" if kind == "github" else "+"
            if re.fullmatch(rf"{_SEGMENT}(/{_SEGMENT}){depth}", subject) and (detail or not at):
                return cls(kind, subject, detail or None)
        elif kind == "google" and re.fullmatch(r"[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+", rest):
            return cls(kind, rest)
        elif kind == "circleci":
            subject, slash, detail = rest.partition("/")
            if re.fullmatch(r"[\w-]+", subject) and (re.fullmatch(r"[\w-]+", detail) or not slash):
                return cls(kind, subject, detail or None)
        raise ValueError(f"{text!r} is not a publisher; expected {_PIN_FORMS}")

    def admits(self, identity: str) -> bool:
        """Whether the verifier's ``identity`` is this publisher (names are case-insensitive)."""
        try:
            other = PublisherPin.parse(identity)
        except ValueError:
            return False
        return (
            other.kind == self.kind
            and other.subject.casefold() == self.subject.casefold()
            and self.detail in (None, other.detail)
        )

    def __str__(self) -> str:
        separator = "/" if self.kind == "circleci" else "@"
        return f"{self.kind}:{self.subject}" + (f"{separator}{self.detail}" if self.detail else "")


def parse_publishers(value: Any) -> dict[NormalizedName, PublisherPin]:
    """``publishers``: a table of project name = publisher pin (``Option.parse``)."""
    if not isinstance(value, Mapping):
        raise ValueError('expected a table of project = "kind:identity"')
    pins: dict[NormalizedName, PublisherPin] = {}
    for project, pin in value.items():
        name = canonicalize_name(str(project), validate=True)
        if name in pins:
            raise ValueError(f"project {project!r} is pinned twice (names compare normalised)")
        try:
            pins[name] = pin if isinstance(pin, PublisherPin) else PublisherPin.parse(pin)
        except ValueError as e:
            raise ValueError(f"{project!r}: {e}") from e
    return pins


@dataclass(frozen=True, slots=True)
class _FirstUse:
    """What continuity remembers of a project (JSON in the key-value store)."""

    publishers: tuple[str, ...]
    since: str | None
    """The oldest version seen with verified provenance."""
    filename: str

    def encode(self) -> bytes:
        return json.dumps(
            {"publishers": self.publishers, "since": self.since, "filename": self.filename}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> _FirstUse:
        data = json.loads(raw)
        return cls(tuple(data["publishers"]), data["since"], data["filename"])

    def predates(self, version: Version | None) -> bool:
        """Whether ``version`` is older than every release seen with provenance.

        An unknown version (either side) is never older: that way the doubt denies.
        """
        since = _version(self.since)
        return version is not None and since is not None and version < since

    def widened(self, version: Version | None) -> _FirstUse | None:
        """This record with ``since`` lowered to ``version``, or ``None`` if nothing changes."""
        if version is None or not (self.predates(version) or _version(self.since) is None):
            return None
        return dataclasses.replace(self, since=str(version))


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text is not None else None
    except InvalidVersion:
        return None


class AttestationsPolicy:
    name: ClassVar[str] = "attestations"
    summary: ClassVar[str] = (
        "PEP 740: deny files whose provenance does not verify; optionally require provenance, "
        "pin Trusted Publishers and deny publisher changes and attestation downgrades"
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "require",
            "project globs whose files must carry verifying provenance",
            GlobSet(),
            parse_globs,
        ),
        Option(
            "publishers",
            "project = 'kind:identity' pins, e.g. 'github:owner/repo'",
            {},
            parse_publishers,
        ),
        Option(
            "continuity",
            "deny publisher changes and downgrades after first use",
            False,
            parse_bool,
        ),
    )

    def __init__(
        self,
        require: GlobSet,
        publishers: Mapping[NormalizedName, PublisherPin],
        continuity: bool,
        env: PolicyEnvironment,
        verifier: AttestationVerifier | None = None,
    ) -> None:
        self.require = require
        self.publishers = publishers
        self.continuity = continuity
        self._env = env
        # None: ``start`` takes the process's shared verifier, so the app and the policy
        # load the trust root once and share one result cache.
        self.verifier = verifier

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> AttestationsPolicy:
        # The parsers are idempotent, so raw TOML values and parsed ones both work here.
        return cls(
            parse_globs(options.get("require", GlobSet())),
            parse_publishers(options.get("publishers", {})),
            parse_bool(options.get("continuity", False)),
            env,
        )

    async def start(self) -> None:
        await self._verifier()

    async def _verifier(self) -> AttestationVerifier:
        if self.verifier is None:
            self.verifier = await shared_verifier(self._env.settings or Settings())
        return self.verifier

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> Verdict | None:
        verifier = await self._verifier()
        result = await verifier.evaluate(file.filename, artifact.sha256, artifact.provenance)
        if result.status is AttestationStatus.ABSENT:
            return await self._check_absent(name, file)
        if result.status is not AttestationStatus.VERIFIED:
            verb = {AttestationStatus.UNVERIFIABLE: "cannot be verified"}.get(
                result.status, "does not verify"
            )
            return Verdict.deny(self.name, f"provenance of {file.filename} {verb}: {result.reason}")
        denial = self._check_pin(name, file, result) or await self._check_continuity(
            name, file, result
        )
        return denial or Verdict.allow(self.name, f"provenance verified: {result.log_value}")

    async def _check_absent(self, name: NormalizedName, file: DistFile) -> Verdict | None:
        pin = self.publishers.get(name)
        if pin is not None:
            return Verdict.deny(
                self.name,
                f"{file.filename} has no provenance, but project {name!r} is pinned "
                f"to publisher {pin} and every file must be attested by it",
            )
        required_by = self.require.first_match(name)
        if required_by is not None:
            return Verdict.deny(
                self.name,
                f"{file.filename} has no provenance, but project {name!r} must carry "
                f"verifying PEP 740 provenance (require = [{required_by!r}])",
            )
        if self.continuity:
            return await self._check_downgrade(name, file)
        return None

    async def _check_downgrade(self, name: NormalizedName, file: DistFile) -> Verdict | None:
        first = await self._first_use(name)
        if first is None or first.predates(file.version):
            return None
        return Verdict.deny(
            self.name,
            f"attestation downgrade: {file.filename} has no provenance, but {name!r} releases "
            f"since {first.since or 'its first attested file'} were published with provenance "
            f"by {', '.join(first.publishers)} (first seen on {first.filename})",
        )

    def _check_pin(
        self, name: NormalizedName, file: DistFile, result: AttestationResult
    ) -> Verdict | None:
        pin = self.publishers.get(name)
        if pin is None or all(pin.admits(who) for who in result.publishers):
            return None
        return Verdict.deny(
            self.name,
            f"{file.filename} was published by {result.publisher}, but project "
            f"{name!r} is pinned to publisher {pin}",
        )

    async def _check_continuity(
        self, name: NormalizedName, file: DistFile, result: AttestationResult
    ) -> Verdict | None:
        if not self.continuity or name in self.publishers:
            return None
        first = await self._first_use(name)
        if first is None:
            version = file.version
            since = str(version) if version is not None else None
            await self._remember(name, _FirstUse(result.publishers, since, file.filename))
            return None
        if not set(result.publishers) <= set(first.publishers):
            return Verdict.deny(
                self.name,
                f"publisher changed: {file.filename} is published by "
                f"{result.publisher}, but {name!r} was first seen published by "
                f"{', '.join(first.publishers)} (on {first.filename}); pin the new publisher "
                f"in 'publishers' if the change is genuine",
            )
        widened = first.widened(file.version)
        if widened is not None:
            await self._remember(name, widened)
        return None

    def _key(self, name: NormalizedName) -> str:
        return f"policy:{self.name}:first-use:{name}"

    async def _first_use(self, name: NormalizedName) -> _FirstUse | None:
        raw = await self._env.kv.get(self._key(name))
        return _FirstUse.decode(raw) if raw is not None else None

    async def _remember(self, name: NormalizedName, first: _FirstUse) -> None:
        await self._env.kv.set(self._key(name), first.encode())
