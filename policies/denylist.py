"""``denylist``: refuses the listed projects, or only the listed versions of them for
entries with a version specifier (``"django<4"``, ``"urllib3==2.0.0"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from packaging.utils import NormalizedName

from policies.base import Option, PolicyEnvironment, Verdict
from policies.entries import EntryList, parse_entries
from policies.versions import file_version
from proxy.model import DistFile, ProjectPage


class DenylistPolicy:
    name: ClassVar[str] = "denylist"
    summary: ClassVar[str] = (
        "Refuses the listed projects; entries with a version specifier "
        '("django<4") refuse only the matching versions.'
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "projects",
            'Names or globs, optionally with a specifier: ["evil-*", "urllib3==2.0.0"].',
            EntryList(),
            parse_entries,
        ),
    )

    def __init__(self, entries: EntryList) -> None:
        self.entries = entries

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> DenylistPolicy:
        return cls(options["projects"])

    def check_project(self, name: NormalizedName) -> Verdict | None:
        entry = self.entries.whole_project(name)
        if entry is None:
            return None
        return Verdict.deny(
            self.name,
            f"{name} is on the denylist (entry {entry.text!r}); remove the entry from the "
            f"denylist policy if the project is needed",
        )

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        entries = self.entries.versioned_for(page.name)
        if not entries:
            return None
        version = file_version(file.filename)
        if version is None:
            return Verdict.deny(
                self.name,
                f"the version of {file.filename} cannot be read, so it cannot be checked "
                f"against denylist entry {entries[0].text!r}",
            )
        for entry in entries:
            if entry.contains(version):
                return Verdict.deny(
                    self.name,
                    f"{page.name} {version} matches denylist entry {entry.text!r}; use a "
                    f"version outside {entry.specifier}",
                )
        return None
