"""The words of the ``osv`` policy's verdicts, and the fast version read of a filename."""

from __future__ import annotations

from policies.osv_db import Advisory, Match, Severity

__all__ = ["summary", "version_text", "vulnerable_reason"]


def vulnerable_reason(name: str, version: str, matches: list[Match]) -> str:
    listed = ", ".join(
        f"{m.advisory.id} ({_severity(m.advisory)}; "
        + (f"fixed in {m.fixed})" if m.fixed is not None else "no fix known)")
        for m in matches
    )
    fixes = [m.fixed for m in matches if m.fixed is not None]
    unfixed = [m.advisory.id for m in matches if m.fixed is None]
    if not fixes:
        advice = "no fixed release is known; pick another version or list the ids in `ignore`"
    else:
        advice = f"upgrade to >={max(fixes)}"
        if unfixed:
            advice += f" (no fix is known yet for {', '.join(unfixed)})"
    return f"{name} {version} has known vulnerabilities {listed}: {advice}"


def _severity(advisory: Advisory) -> str:
    if advisory.severity is Severity.UNKNOWN:
        return "severity unknown"
    return advisory.severity.upper()


def summary(advisory: Advisory) -> str:
    return advisory.summary.rstrip(".") or "reported as malicious"


def version_text(filename: str) -> str | None:
    """The version part of a wheel or sdist filename, without parsing it (a hot path)."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) in (5, 6) else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            _, sep, version = filename[: -len(suffix)].rpartition("-")
            return version if sep else None
    return None
