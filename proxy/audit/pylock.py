"""A PEP 751 ``pylock.toml`` of what one build fetched through pipgate.

One package per project the build downloaded (whole downloads only: status 200
``dist`` rows, as for SBOMs), with the files of the version it fetched last (a resolver
that backtracked fetched older candidates first; those are reported, not locked). Every
file carries pipgate's URL for it, its sha256, size and the index's upload-time; a
package lists the PEP 740 publishers pipgate verified as ``attestation-identities``.
``uv pip install -r pylock.toml`` then fetches exactly those files through pipgate.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field

from packaging.pylock import Pylock, PylockValidationError
from packaging.utils import canonicalize_name

from proxy.audit.toml_text import table_lines, top_lines
from proxy.model import filename_project, filename_version, parse_upload_time
from storage.base import FetchLogStore, FetchQuery, FetchRecord

__all__ = [
    "LockError",
    "LockedFile",
    "build_pylock",
    "identity_table",
    "lock_records",
    "select_locked",
]

VERIFIED_PREFIX = "verified:"
_KINDS = {"github": "GitHub", "gitlab": "GitLab", "google": "Google", "circleci": "CircleCI"}
_SDIST_SUFFIXES = (".tar.gz", ".zip")


class LockError(Exception):
    """No lock can be written (nothing fetched, or the document failed validation)."""


@dataclass(frozen=True, slots=True)
class LockedFile:
    name: str
    version: str
    filename: str
    sha256: str
    size: int | None
    upload_time: dt.datetime | None
    publishers: tuple[str, ...]
    fetched: dt.datetime

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(slots=True)
class Selection:
    files: list[LockedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Why something fetched is not in the lock (older candidates, legacy formats)."""


async def lock_records(store: FetchLogStore, build: str) -> list[FetchRecord]:
    """The build's distribution rows, including those still queued for the writer."""
    await store.flush()
    return await store.query(FetchQuery(build=build, kinds=("dist",)))


def identity_table(publisher: str) -> dict[str, str] | None:
    """A PEP 740 publisher in pipgate's ``kind:identity`` form as a PEP 751 identity.

    The inverse of ``proxy.provenance.publisher_identity``; ``None`` for an unknown kind.
    """
    kind, _, rest = publisher.partition(":")
    if kind not in _KINDS or not rest:
        return None
    table = {"kind": _KINDS[kind]}
    if kind in ("github", "gitlab"):
        repository, _, workflow = rest.rpartition("@")
        table["repository"] = repository or rest
        if workflow and repository:
            table["workflow" if kind == "github" else "workflow_filepath"] = workflow
    elif kind == "google":
        table["email"] = rest
    else:
        project, _, pipeline = rest.partition("/")
        table["project_id"] = project
        if pipeline:
            table["pipeline_definition_id"] = pipeline
    return table


def select_locked(records: Iterable[FetchRecord]) -> Selection:
    """The files to lock: per project, those of the version fetched last."""
    selection = Selection()
    latest: dict[str, dict[str, LockedFile]] = {}
    for record in sorted(records, key=lambda r: r.time):
        if record.kind != "dist" or record.status != 200:
            continue
        if not record.filename or not record.sha256:
            continue
        locked = _locked(record)
        if locked is None:
            selection.notes.append(f"{record.filename}: not a wheel or sdist; not locked")
            continue
        files = latest.setdefault(locked.name, {})
        if any(f.version != locked.version for f in files.values()):
            dropped = sorted({f.version for f in files.values()})
            selection.notes.append(
                f"{locked.name}: fetched {', '.join(dropped)} before {locked.version}; "
                f"locking {locked.version}"
            )
            files.clear()
        files[locked.filename] = locked
    selection.files = sorted(
        (f for files in latest.values() for f in files.values()),
        key=lambda f: (f.name, f.filename),
    )
    return selection


def _locked(record: FetchRecord) -> LockedFile | None:
    assert record.filename is not None
    assert record.sha256 is not None
    if not record.filename.endswith((".whl", *_SDIST_SUFFIXES)):
        return None
    name = record.project or filename_project(record.filename)
    version = record.version or filename_version(record.filename)
    if name is None or version is None:
        return None
    publishers: tuple[str, ...] = ()
    if record.attestation and record.attestation.startswith(VERIFIED_PREFIX):
        shown = record.attestation[len(VERIFIED_PREFIX) :]
        publishers = tuple(p.strip() for p in shown.split(",") if p.strip())
    return LockedFile(
        name=canonicalize_name(name),
        version=str(version),
        filename=record.filename,
        sha256=record.sha256.lower(),
        size=record.size,
        upload_time=parse_upload_time(record.upload_time),
        publishers=publishers,
        fetched=record.time,
    )


def build_pylock(files: Iterable[LockedFile], *, base_url: str, label: str) -> str:
    """The ``pylock.toml`` text; ``base_url`` is pipgate's root URL (ending in ``/``)."""
    by_name: dict[str, list[LockedFile]] = {}
    for locked in files:
        by_name.setdefault(locked.name, []).append(locked)
    if not by_name:
        raise LockError(f"build {label!r} fetched no distribution file: nothing to lock")
    lines = top_lines({"lock-version": "1.0", "created-by": "pipgate"})
    for name, group in sorted(by_name.items()):
        lines += ["", *_package_lines(name, group, base_url)]
    text = "\n".join(lines) + "\n"
    try:
        Pylock.from_dict(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, PylockValidationError) as error:
        raise LockError(f"the lock of build {label!r} does not validate: {error}") from error
    return text


def _package_lines(name: str, group: list[LockedFile], base_url: str) -> list[str]:
    lines = table_lines(
        "packages",
        {"name": name, "version": group[0].version, "index": f"{base_url}simple/"},
        array=True,
    )
    sdists = [f for f in group if not f.is_wheel]
    for wheel in (f for f in group if f.is_wheel):
        lines += table_lines("packages.wheels", _archive(wheel, base_url), array=True)
    if sdists:  # one sdist per package (PEP 751); the last fetched one
        newest = max(sdists, key=lambda f: f.fetched)
        lines += table_lines("packages.sdist", _archive(newest, base_url))
    identities: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for publisher in sorted({p for f in group for p in f.publishers}):
        table = identity_table(publisher)
        if table is not None:
            identities[tuple(sorted(table.items()))] = table
    for table in identities.values():
        lines += table_lines("packages.attestation-identities", table, array=True)
    return lines


def _archive(locked: LockedFile, base_url: str) -> dict[str, object]:
    return {
        "name": locked.filename,
        "url": f"{base_url}files/{locked.name}/{locked.filename}",
        "upload-time": locked.upload_time,
        "size": locked.size,
        "hashes": {"sha256": locked.sha256},
    }
