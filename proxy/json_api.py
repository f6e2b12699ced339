"""The legacy JSON API (``/pypi/<name>/json``, ``/pypi/<name>/<version>/json``) built from
a policy-filtered project page; no I/O.

Tools that predate PEP 691 still read this document: pip-compile ``--generate-hashes`` takes
``releases[<version>][*].digests.sha256`` of the ``bdist_wheel`` and ``sdist`` files, and
without the document downloads every candidate file to hash it. Only what a simple page
tells is here: ``info`` carries name, version, requires_python and the yank state, not the
description or the dependencies (a tool that needs those reads the core metadata), and a
file's ``size`` and ``upload_time`` appear only when the upstream page had them.

``info.version`` is chosen the way the public index chooses it: the highest release that
is not yanked and not a pre-release (PEP 440 order), else the highest not yanked, else the
highest. A release counts as yanked when every one of its files is (PEP 592 yanks files).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.version import Version

from policies.versions import file_version, parse_version
from proxy.model import DistFile, ProjectPage, parse_upload_time


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One advisory affecting a release, in the terms of the JSON API's ``vulnerabilities``."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    fixed_in: tuple[str, ...]


VulnerabilityLookup = Callable[[Version], Sequence[Vulnerability]]
"""The advisories known for one version of the project the document is about."""


def no_vulnerabilities(version: Version) -> Sequence[Vulnerability]:
    """The lookup when no OSV data is loaded: the API's empty list, not an absent key."""
    return ()


_PACKAGE_TYPES = (
    (".whl", "bdist_wheel"),
    (".tar.gz", "sdist"),
    (".zip", "sdist"),
    (".tar.bz2", "sdist"),
    (".tar.xz", "sdist"),
    (".tgz", "sdist"),
    (".tar", "sdist"),
    (".egg", "bdist_egg"),
    (".exe", "bdist_wininst"),
    (".msi", "bdist_msi"),
    (".rpm", "bdist_rpm"),
    (".dmg", "bdist_dmg"),
)


@dataclass(frozen=True, slots=True)
class Releases:
    """A page's files grouped by release, in ascending PEP 440 order."""

    by_version: dict[str, tuple[DistFile, ...]]
    parsed: dict[str, Version]

    @classmethod
    def of(cls, page: ProjectPage) -> Releases:
        # Keyed by the normalised version string: pip-compile looks releases up by
        # ``str(Version)`` of the pin it resolved.
        grouped: dict[str, list[DistFile]] = {}
        parsed: dict[str, Version] = {}
        for listed in page.versions or ():
            version = parse_version(listed)
            if version is not None:
                parsed.setdefault(str(version), version)
                grouped.setdefault(str(version), [])
        for dist in page.files:
            version = file_version(dist.filename)
            if version is None:  # no release to file it under (a tool could not pin it)
                continue
            parsed.setdefault(str(version), version)
            grouped.setdefault(str(version), []).append(dist)
        order = sorted(grouped, key=parsed.__getitem__)
        return cls({key: tuple(grouped[key]) for key in order}, {k: parsed[k] for k in order})

    def find(self, text: str) -> str | None:
        """The release key ``text`` names: itself, or the key of an equal version
        (``1.0`` for ``1.0.0``); ``None`` when no release matches."""
        if text in self.by_version:
            return text
        wanted = parse_version(text)
        if wanted is None:
            return None
        return next((key for key, v in self.parsed.items() if v == wanted), None)

    def latest(self) -> str | None:
        """``info.version`` of the project document (see the module docstring)."""
        with_files = [key for key, files in self.by_version.items() if files]
        live = [key for key in with_files if not _all_yanked(self.by_version[key])]
        stable = [key for key in live if not self.parsed[key].is_prerelease]
        for choice in (stable, live, with_files):
            if choice:
                return max(choice, key=self.parsed.__getitem__)
        return None


def project_document(
    page: ProjectPage, vulnerabilities: VulnerabilityLookup = no_vulnerabilities
) -> dict[str, object] | None:
    """``/pypi/<name>/json`` for ``page`` (file URLs as they should be served), or ``None``
    when no release has a file left to show (the public index answers 404 then too)."""
    releases = Releases.of(page)
    latest = releases.latest()
    if latest is None:
        return None
    document = _release(page, releases, latest, vulnerabilities)
    document["releases"] = {
        key: [file_entry(dist) for dist in files] for key, files in releases.by_version.items()
    }
    return document


def release_document(
    page: ProjectPage, version: str, vulnerabilities: VulnerabilityLookup = no_vulnerabilities
) -> tuple[str, dict[str, object]] | None:
    """``/pypi/<name>/<version>/json`` with the release key ``version`` names (``1.0.0`` for
    ``1.0``, so that the route can redirect to it), or ``None`` if ``version`` is not a
    release listed on ``page``. Like the public index, no ``releases`` key: one release."""
    releases = Releases.of(page)
    key = releases.find(version)
    if key is None:
        return None
    return key, _release(page, releases, key, vulnerabilities)


def _release(
    page: ProjectPage, releases: Releases, key: str, vulnerabilities: VulnerabilityLookup
) -> dict[str, object]:
    files = releases.by_version[key]
    yanked = bool(files) and _all_yanked(files)
    info: dict[str, object] = {
        "name": page.name,
        "version": key,
        "requires_python": _shared_requires_python(files),
        "yanked": yanked,
        "yanked_reason": _yank_reason(files) if yanked else None,
    }
    document: dict[str, object] = {"info": info}
    if page.last_serial is not None:
        document["last_serial"] = page.last_serial
    document["urls"] = [file_entry(dist) for dist in files]
    document["vulnerabilities"] = [
        vulnerability_entry(v) for v in vulnerabilities(releases.parsed[key])
    ]
    return document


def file_entry(dist: DistFile) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": dist.filename,
        "url": dist.url,
        "digests": dict(sorted(dist.hashes.items())),
        "packagetype": package_type(dist.filename),
        "python_version": _python_version(dist.filename),
        "requires_python": dist.requires_python,
        "yanked": dist.is_yanked,
        "yanked_reason": dist.yank_reason or None,
    }
    if dist.gpg_sig is not None:
        entry["has_sig"] = dist.gpg_sig
    if dist.size is not None:
        entry["size"] = dist.size
    uploaded = parse_upload_time(dist.upload_time)
    if uploaded is not None:
        # ``upload_time`` is the older, zone-less form to the second; tools read either.
        entry["upload_time"] = uploaded.strftime("%Y-%m-%dT%H:%M:%S")
        entry["upload_time_iso_8601"] = uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return entry


def vulnerability_entry(vulnerability: Vulnerability) -> dict[str, object]:
    # pip-audit reads ``details`` unconditionally; the loaded OSV index keeps the summary.
    return {
        "id": vulnerability.id,
        "aliases": list(vulnerability.aliases),
        "summary": vulnerability.summary,
        "details": vulnerability.summary,
        "fixed_in": list(vulnerability.fixed_in),
        "source": "osv",
        "withdrawn": None,
    }


def package_type(filename: str) -> str | None:
    """The distribution type the filename's suffix stands for; ``None`` for an unknown one."""
    lower = filename.lower()
    return next((kind for suffix, kind in _PACKAGE_TYPES if lower.endswith(suffix)), None)


def render_document(document: dict[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def _python_version(filename: str) -> str | None:
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[-3] if len(parts) in (5, 6) else None
    return "source" if package_type(filename) == "sdist" else None


def _all_yanked(files: Iterable[DistFile]) -> bool:
    return all(dist.is_yanked for dist in files)


def _yank_reason(files: Sequence[DistFile]) -> str | None:
    return next((dist.yank_reason for dist in files if dist.yank_reason), None)


def _shared_requires_python(files: Sequence[DistFile]) -> str | None:
    """The release's Requires-Python when its files agree on one; ``None`` if unknown."""
    stated = {dist.requires_python for dist in files if dist.requires_python is not None}
    return stated.pop() if len(stated) == 1 else None
