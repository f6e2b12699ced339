"""What one ``pipgate doctor`` check found: OK, FAIL with the fix to apply, or SKIP."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.Enum):
    OK = "ok"
    FAIL = "fail"
    SKIP = "skip"
    """Not checked, or nothing to check (e.g. no OSV source configured); never a failure."""


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    """``config``, ``upstream``, ``blobs``, ``pages``, ``state``, ``locks``, ``fetch log``,
    ``trust root`` or ``osv``."""
    target: str
    """What was checked: a path or a URL with its credentials masked."""
    status: Status
    detail: str
    fix: str | None = None
    """What to change (which setting, which command) when the check failed."""

    def as_json(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "target": self.target,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


def ok(check: str, target: str, detail: str) -> Finding:
    return Finding(check, target, Status.OK, detail)


def fail(check: str, target: str, detail: str, fix: str) -> Finding:
    return Finding(check, target, Status.FAIL, detail, fix)


def skip(check: str, target: str, detail: str, fix: str | None = None) -> Finding:
    return Finding(check, target, Status.SKIP, detail, fix)


def one_line(error: BaseException) -> str:
    """An exception as one line that says what it is."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


__all__ = ["Finding", "Status", "fail", "ok", "one_line", "skip"]
