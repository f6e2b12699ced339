"""``yanked``: hides yanked files entirely (PEP 592 lets a mirror "omit them completely").

Without this policy pipgate keeps PEP 592 semantics: yanked files stay listed with their
``data-yanked`` marker, and installers use them only for exact pins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from policies.base import Option, PolicyEnvironment, Verdict
from policies.versions import file_version
from proxy.model import DistFile, ProjectPage


class YankedPolicy:
    name: ClassVar[str] = "yanked"
    summary: ClassVar[str] = (
        "Hides yanked files entirely, even from exact pins (without it, PEP 592 semantics apply)."
    )
    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> YankedPolicy:
        return cls()

    def check_file(self, page: ProjectPage, file: DistFile) -> Verdict | None:
        if not file.is_yanked:
            return None
        version = file_version(file.filename)
        what = f"{page.name} {version} ({file.filename})" if version else file.filename
        why = f": {file.yank_reason}" if file.yank_reason else ""
        return Verdict.deny(
            self.name,
            f"{what} was yanked by its maintainers{why}; pick another version, or add "
            f"{page.name} to the yanked policy's exempt list",
        )
