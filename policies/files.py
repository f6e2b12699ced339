"""``files``: rules on the files themselves: wheels only (no sdists, whose build runs
arbitrary code) for chosen projects, and a maximum file size (PEP 700 ``size``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from policies.base import Option, PolicyEnvironment, Verdict
from policies.config import choice, parse_size
from policies.globs import GlobSet, parse_globs
from proxy.model import DistFile, ProjectPage


class FilesPolicy:
    name: ClassVar[str] = "files"
    summary: ClassVar[str] = "Requires wheels for chosen projects; limits the size of files."
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "wheels_only",
            'Projects (globs) that must be installed from wheels: ["*"] for all.',
            GlobSet(),
            parse_globs,
        ),
        Option(
            "max_size",
            'Largest file served, in bytes or with a unit ("200MB"); unset = no limit.',
            None,
            parse_size,
        ),
        Option(
            "missing_size",
            'With max_size, for files the index gives no size for: "allow" or "deny".',
            "allow",
            choice("allow", "deny"),
        ),
    )

    def __init__(self, wheels_only: GlobSet, max_size: int | None, missing_size: str) -> None:
        self.wheels_only = wheels_only
        self.max_size = max_size
        self.deny_missing_size = missing_size == "deny"

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> FilesPolicy:
        return cls(options["wheels_only"], options["max_size"], options["missing_size"])

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        if not file.is_wheel and self.wheels_only.matches(page.name):
            glob = self.wheels_only.first_match(page.name)
            return Verdict.deny(
                self.name,
                f"{file.filename} is not a wheel and {page.name} matches wheels_only {glob!r} "
                f"(building from source runs the package's code); install a wheel, or remove "
                f"{page.name} from wheels_only",
            )
        if self.max_size is None:
            return None
        if file.size is None:
            if not self.deny_missing_size:
                return None
            return Verdict.deny(
                self.name,
                f"the index gives no size for {file.filename}, and files max_size is "
                f'{format_size(self.max_size)}; set missing_size = "allow" or add '
                f"{page.name} to exempt",
            )
        if file.size <= self.max_size:
            return None
        return Verdict.deny(
            self.name,
            f"{file.filename} is {format_size(file.size)}, over the files max_size of "
            f"{format_size(self.max_size)}; raise max_size or add {page.name} to exempt",
        )


def format_size(size: int) -> str:
    """Bytes for people: "512 B", "1.5 MB" (decimal units, like the index shows)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
