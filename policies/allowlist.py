"""``allowlist``: only the listed projects (and, for entries with a version specifier, only
the matching versions) may be installed; everything else is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from packaging.utils import NormalizedName

from policies.base import Option, PolicyEnvironment, PolicyError, Verdict
from policies.entries import EntryList, parse_entries
from policies.versions import file_version
from proxy.model import DistFile, ProjectPage


class AllowlistPolicy:
    name: ClassVar[str] = "allowlist"
    summary: ClassVar[str] = (
        "Only the listed projects may be installed; entries with a version specifier "
        '("django<4") also restrict the versions.'
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "projects",
            'Names or globs, optionally with a specifier: ["requests", "acme-*", "django<4"].',
            EntryList(),
            parse_entries,
        ),
    )

    def __init__(self, entries: EntryList) -> None:
        if not entries:
            raise PolicyError(
                "allowlist needs at least one entry in projects, or it denies everything"
            )
        self.entries = entries

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> AllowlistPolicy:
        return cls(options["projects"])

    def check_project(self, name: NormalizedName) -> Verdict | None:
        if self.entries.any.matches(name):
            return None
        return Verdict.deny(
            self.name,
            f"{name} is not on the allowlist; ask for it to be added to the allowlist "
            f"policy's projects if it is needed",
        )

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        name = page.name
        if self.entries.whole_project(name) is not None:
            return None
        entries = self.entries.versioned_for(name)
        if not entries:
            return None
        allowed = ", ".join(repr(entry.text) for entry in entries)
        version = file_version(file.filename)
        if version is None:
            return Verdict.deny(
                self.name,
                f"the version of {file.filename} cannot be read, and the allowlist admits "
                f"only some versions of {name} ({allowed})",
            )
        if any(entry.contains(version) for entry in entries):
            return None
        return Verdict.deny(
            self.name,
            f"{name} {version} is outside the allowlist ({allowed}); pick a version it "
            f"admits or widen the entry",
        )
