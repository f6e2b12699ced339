"""The ``osv`` policy: refuse versions with known vulnerabilities and malicious packages.

Data is OSV records (the OSV schema; PyPI names are PEP 503 normalised, versions PEP 440)
from a local directory, a ``.json`` file or an ``all.zip``, on disk or at a URL, refreshed
in the background. Three hooks:

- project: a malicious record covering every version (``introduced: "0"``, no fix) makes
  the whole project a 403;
- file (PEP 503/691 page entries): a version inside a vulnerable range or listed by a
  malicious record is hidden, and so is a file whose listed sha256 is a known-bad one;
- artifact: the downloaded file's sha256 against the hashes of known-malicious files.

The loaded index (with the file verdicts memoised from it) is replaced by one attribute
assignment and every hook reads that attribute once, so a check never sees half of an old
and half of a new index. A page of a project without advisories costs a dict miss per file;
one with advisories a dict hit per file once each version was judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from packaging.utils import NormalizedName

from policies.base import ArtifactInfo, Option, PolicyEnvironment, PolicyError, Verdict
from policies.changes import Announce, InputChange
from policies.osv_changes import OsvJudge, OsvUpdate, changed_projects
from policies.osv_db import Match, OsvIndex
from policies.osv_options import OSV_OPTIONS, parse_source
from policies.osv_ranges import parse_version
from policies.osv_reasons import summary as _summary
from policies.osv_reasons import version_text as _version_text
from policies.osv_reasons import vulnerable_reason as _vulnerable_reason
from policies.osv_severity import Severity
from policies.osv_source import OsvSource, OsvSourceError
from proxy.model import DistFile, ProjectPage

__all__ = ["OsvPolicy"]

logger = logging.getLogger(__name__)


_MEMO_LIMIT = 100_000
"""Verdicts remembered per index; bounded by the versions upstream pages list."""


@dataclass(slots=True)
class _Loaded:
    """An index and the file verdicts computed from it: swapped in and out together."""

    index: OsvIndex
    verdicts: dict[tuple[str, str], Verdict | None] = field(default_factory=dict)

    def remember(self, key: tuple[str, str], verdict: Verdict | None) -> None:
        if len(self.verdicts) >= _MEMO_LIMIT:
            self.verdicts.clear()
        self.verdicts[key] = verdict


class OsvPolicy:
    """Deny known-vulnerable versions and known-malicious packages and files (OSV data)."""

    name: ClassVar[str] = "osv"
    summary: ClassVar[str] = (
        "deny versions with known vulnerabilities and every version of a malicious "
        "package, from OSV records (a local directory, a .json file or an all.zip, "
        "path or URL)"
    )
    options: ClassVar[tuple[Option, ...]] = OSV_OPTIONS

    def __init__(
        self,
        source: OsvSource,
        *,
        refresh: float = 3600.0,
        threshold: Severity = Severity.LOW,
        malicious: bool = True,
        vulnerable: bool = True,
        ignore: frozenset[str] = frozenset(),
        announce: Announce | None = None,
    ) -> None:
        self._source = source
        self._announce = announce
        self.judge = OsvJudge(malicious, vulnerable, threshold.rank, ignore)
        self._interval = refresh
        self._threshold = threshold.rank
        self._malicious = malicious
        self._vulnerable = vulnerable
        self._ignore = ignore
        self._loaded: _Loaded | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> OsvPolicy:
        location = options.get("source")
        if location is None:
            msg = (
                "osv: option 'source' is required: a directory of OSV records, a .json "
                "file or an all.zip, as a path or an http(s) URL"
            )
            raise PolicyError(msg)
        try:
            source = OsvSource(parse_source(location), data_dir=env.data_dir, http=env.http)
        except OsvSourceError as e:
            raise PolicyError(f"osv: {e}") from e
        return cls(
            source,
            refresh=options["refresh"],
            threshold=options["severity"],
            malicious=options["malicious"],
            vulnerable=options["vulnerable"],
            ignore=frozenset(options["ignore"]),
            announce=env.announce,
        )

    @property
    def index(self) -> OsvIndex | None:
        """The index in use, or ``None`` before the first successful load."""
        loaded = self._loaded
        return loaded.index if loaded is not None else None

    async def start(self) -> None:
        """Load the data (start-up fails if it cannot), then refresh in the background."""
        try:
            await self.refresh()
        except OsvSourceError as e:
            raise PolicyError(f"osv: cannot load OSV data: {e}") from e
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._refresh_forever(), name="osv-refresh")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self) -> bool:
        """Reload the source if it changed; True when a new index was swapped in.

        A swap after the first load is announced with the projects it changed, so their
        rendered pages are dropped now, not when their TTL runs out.
        """
        async with self._lock:
            index = await self._source.load()
            if index is None:
                return False
            old, self._loaded = self._loaded, _Loaded(index)
            if old is not None and self._announce is not None:
                changed = await asyncio.to_thread(changed_projects, old.index, index)
                update = OsvUpdate(old.index, index, self.judge, self._source.location)
                self._announce(InputChange.of(self.name, changed, update))
        # An empty load is almost always a wrong path or URL, and it denies nothing.
        log = logger.info if index.records else logger.warning
        log(
            "osv: loaded %d PyPI records covering %d projects from %s",
            index.records,
            len(index),
            self._source.location,
        )
        return True

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:
                # Any failure (network, a truncated zip, a bug) keeps the data we have.
                logger.warning(
                    "osv: refreshing %s failed; keeping the data loaded earlier",
                    self._source.location,
                    exc_info=True,
                )

    def check_project(self, name: NormalizedName) -> Verdict | None:
        loaded = self._loaded
        if loaded is None:
            return self._not_loaded()
        index = loaded.index
        if not self._malicious:
            return None
        for advisory in index.malicious_project(name):
            if not advisory.known_as(self._ignore):
                reason = (
                    f"{name} is a known malicious package ({advisory.id}): "
                    f"{_summary(advisory)}; remove it from your requirements"
                )
                return Verdict.deny(self.name, reason)
        return None

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        loaded = self._loaded
        if loaded is None:
            return self._not_loaded()
        index = loaded.index
        sha256 = file.sha256
        if sha256 is not None and (verdict := self._check_hash(index, file.filename, sha256)):
            return verdict
        if page.name not in index:
            return None
        text = _version_text(file.filename)
        if text is not None:
            key = (page.name, text)
            try:
                return loaded.verdicts[key]
            except KeyError:  # once per version and index
                pass
            version = parse_version(text)
            if version is not None:
                verdict = self._judge(page.name, text, index.matches(page.name, version))
                loaded.remember(key, verdict)
                return verdict
        version = file.version  # a legacy filename: the slower, lenient parse
        if version is None:
            return self._unknown_version(index, page.name, file.filename)
        return self._judge(page.name, str(version), index.matches(page.name, version))

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> Verdict | None:
        loaded = self._loaded
        if loaded is None:
            return self._not_loaded()
        index = loaded.index
        if artifact.sha256 is None:
            return None
        return self._check_hash(index, file.filename, artifact.sha256)

    def _check_hash(self, index: OsvIndex, filename: str, sha256: str) -> Verdict | None:
        advisory = index.malicious_file(sha256) if self._malicious else None
        if advisory is None or advisory.known_as(self._ignore):
            return None
        reason = (
            f"{filename} has the sha256 of a known malicious file ({advisory.id}): "
            f"{_summary(advisory)}; do not install it"
        )
        return Verdict.deny(self.name, reason)

    def _judge(self, name: str, version: str, matches: tuple[Match, ...]) -> Verdict | None:
        if not matches:
            return None
        live = [m for m in matches if not m.advisory.known_as(self._ignore)]
        evil = [m.advisory for m in live if m.advisory.malicious] if self._malicious else []
        if evil:
            ids = ", ".join(a.id for a in evil)
            reason = (
                f"{name} {version} is a known malicious release ({ids}): "
                f"{_summary(evil[0])}; pick another version"
            )
            return Verdict.deny(self.name, reason)
        vulnerable = [
            m
            for m in live
            if self._vulnerable
            and not m.advisory.malicious
            and m.advisory.severity.rank >= self._threshold
        ]
        if vulnerable:
            return Verdict.deny(self.name, _vulnerable_reason(name, version, vulnerable))
        return None

    def _unknown_version(
        self, index: OsvIndex, name: NormalizedName, filename: str
    ) -> Verdict | None:
        # A file whose version cannot be read might be one of the malicious releases.
        evil = [a for a in index.malicious_records(name) if not a.known_as(self._ignore)]
        if not self._malicious or not evil:
            return None
        reason = (
            f"cannot tell the version of {filename}, and {name} has known malicious "
            f"releases ({', '.join(a.id for a in evil)}); refusing it"
        )
        return Verdict.deny(self.name, reason)

    def _not_loaded(self) -> Verdict:
        reason = (
            f"the OSV data from {self._source.location} is not loaded (start-up did not "
            "load it); refusing until it is"
        )
        return Verdict.deny(self.name, reason)
