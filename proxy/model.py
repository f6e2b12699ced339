"""The vocabulary of the simple repository API: project lists, project pages, files.

Read in this order: PEP 503 (HTML simple API), PEP 592 (yanking), PEP 629 (api-version),
PEP 691 (JSON form), PEP 658/714 (core metadata), PEP 700 (versions, size, upload-time),
PEP 740 (provenance), PEP 792 (project status).

Models are frozen; change them with ``dataclasses.replace``. Project names are always
PEP 503 normalised (``NormalizedName``) so that nothing un-canonicalised can reach a
policy, a cache key or a log row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

# The highest api-version whose fields pipgate can emit: 1.4 = PEP 792 project status,
# which needs 1.3 (PEP 740 provenance) and 1.1 (PEP 700 versions/size/upload-time). A page
# claims only what it carries (``proxy.rendering.page_api_version``).
API_VERSION = "1.4"
BASE_API_VERSION = "1.0"

CoreMetadata = bool | Mapping[str, str]
"""PEP 714 ``core-metadata``: ``True``/``False`` or a ``{hashname: hex}`` mapping."""


@dataclass(frozen=True, slots=True)
class DistFile:
    """One distribution file as listed on a project page."""

    filename: str
    url: str
    """Absolute URL of the file: the upstream's while parsing, pipgate's when rendered."""
    hashes: Mapping[str, str] = field(default_factory=dict)
    """PEP 503/691: ``{hashname: hexdigest}``; names lower-case."""
    requires_python: str | None = None
    """PEP 503 ``data-requires-python`` / PEP 691 ``requires-python``."""
    yanked: bool | str = False
    """PEP 592: ``False``, ``True`` (no reason) or the reason string."""
    size: int | None = None
    """PEP 700: "This field is mandatory" in api-version 1.1+; ``None`` if upstream is HTML."""
    upload_time: str | None = None
    """PEP 700: ISO 8601 ``yyyy-mm-ddThh:mm:ss.ffffffZ``, kept as the upstream wrote it."""
    core_metadata: CoreMetadata | None = None
    """PEP 658/714: ``None`` when the upstream said nothing ("may or may not exist")."""
    gpg_sig: bool | None = None
    provenance: str | None = None
    """PEP 740: URL of the provenance object, or ``None``."""

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not False

    @property
    def yank_reason(self) -> str | None:
        return self.yanked if isinstance(self.yanked, str) else None

    @property
    def metadata_sha256(self) -> str | None:
        if isinstance(self.core_metadata, Mapping):
            return self.core_metadata.get("sha256")
        return None

    @property
    def has_metadata(self) -> bool:
        return bool(self.core_metadata)

    @property
    def version(self) -> Version | None:
        return filename_version(self.filename)

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def uploaded_at(self) -> dt.datetime | None:
        return parse_upload_time(self.upload_time)


@dataclass(frozen=True, slots=True)
class ProjectStatus:
    """PEP 792 project status marker: active, archived, quarantined or deprecated."""

    status: str = "active"
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """PEP 503/691 project detail page."""

    name: NormalizedName
    files: tuple[DistFile, ...] = ()
    versions: tuple[str, ...] | None = None
    """PEP 700 ``versions``; ``None`` when the upstream did not send it (HTML)."""
    status: ProjectStatus | None = None
    last_serial: int | None = None

    def file(self, filename: str) -> DistFile | None:
        for candidate in self.files:
            if candidate.filename == filename:
                return candidate
        return None

    def with_files(self, files: tuple[DistFile, ...]) -> ProjectPage:
        return dataclasses.replace(self, files=files)

    def all_versions(self) -> tuple[str, ...]:
        """PEP 700 versions: the upstream's list, or the versions of the listed files."""
        if self.versions is not None:
            return self.versions
        seen: dict[str, None] = {}
        for dist in self.files:
            version = dist.version
            if version is not None:
                seen.setdefault(str(version), None)
        return tuple(sorted(seen, key=Version))


@dataclass(frozen=True, slots=True)
class ProjectList:
    """PEP 503/691 root index: every project name the upstream knows."""

    names: tuple[str, ...] = ()
    """Project names as the upstream spelled them (PEP 691 leaves normalisation open)."""
    last_serial: int | None = None


def filename_version(filename: str) -> Version | None:
    """The version encoded in a wheel or sdist filename, or ``None`` if it has none."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return _legacy_version(filename)


def filename_project(filename: str) -> NormalizedName | None:
    """The normalised project name encoded in a wheel or sdist filename."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


_LEGACY_SUFFIXES = (".tar.gz", ".tar.bz2", ".tgz", ".zip", ".egg", ".exe", ".msi", ".rpm")


def _legacy_version(filename: str) -> Version | None:
    # Old sdists and eggs are still listed on real indexes; pull the first parsable
    # dash-separated part after the name so that version policies can still see them.
    stem = filename
    for suffix in _LEGACY_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for part in stem.split("-")[1:]:
        try:
            return Version(part)
        except InvalidVersion:
            continue
    return None


def parse_upload_time(value: str | None) -> dt.datetime | None:
    """PEP 700 upload-time to an aware UTC datetime; ``None`` if absent or malformed."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
