"""What ``pipgate check`` decides for one ``NAME`` or ``NAME==VERSION``, without serving.

A name gets the project policies. A version also gets the page policies and the file
policies of that version's files on the upstream page (when the upstream answers); the
version is denied only when every one of its files is, as a resolver could still pick an
allowed file otherwise. Artifact policies need the file itself and do not run here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from policies.base import Decision, Verdict
from policies.policyset import PolicySet, first_denial
from policies.versions import file_version
from proxy.errors import ProjectNotFound, ProxyError
from proxy.model import ProjectPage
from proxy.upstream_base import Upstream

# PEP 508 names: letters and digits, with '.', '_' and '-' inside.
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
CHECK_POLICY = "pipgate"
"""Policy name of verdicts ``check`` makes itself (an invalid name)."""


@dataclass(frozen=True, slots=True)
class CheckRequest:
    text: str
    """As given, for the output."""
    name: NormalizedName | None
    """``None`` when ``text`` is not a valid requirement of the form NAME[==VERSION]."""
    version: Version | None = None


def parse_request(text: str) -> CheckRequest:
    raw_name, sep, raw_version = text.strip().partition("==")
    if not _NAME.match(raw_name.strip()):
        return CheckRequest(text, None)
    name = canonicalize_name(raw_name.strip())
    if not sep:
        return CheckRequest(text, name)
    try:
        return CheckRequest(text, name, Version(raw_version.strip()))
    except InvalidVersion:
        return CheckRequest(text, None)


@dataclass(slots=True)
class CheckResult:
    request: CheckRequest
    verdicts: list[Verdict] = field(default_factory=list)
    """Every non-allow verdict, in evaluation order."""
    denial: Verdict | None = None
    """The enforced deny that decides, if the request is denied."""
    note: str | None = None

    @property
    def decision(self) -> str:
        if self.denial is not None:
            return Decision.DENY.value
        return Decision.WARN.value if self.verdicts else Decision.ALLOW.value

    def headline(self) -> Verdict | None:
        return self.denial or (self.verdicts[0] if self.verdicts else None)

    def as_json(self) -> dict[str, Any]:
        head = self.headline()
        request = self.request
        return {
            "name": request.name or request.text,
            "version": str(request.version) if request.version else None,
            "verdict": self.decision,
            "policy": head.policy if head else None,
            "reason": head.reason if head else None,
            "audit": bool(head and head.audit),
            "note": self.note,
            "verdicts": [_verdict_json(v) for v in self.verdicts],
        }


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "policy": verdict.policy,
        "verdict": verdict.decision.value,
        "reason": verdict.reason,
        "audit": verdict.audit,
    }


def check_name(policies: PolicySet, request: CheckRequest) -> CheckResult:
    """Project policies only (also the first step of a version check)."""
    if request.name is None:
        invalid = Verdict.deny(
            CHECK_POLICY,
            f"{request.text.strip()!r} is not a valid NAME or NAME==VERSION (PEP 508 name, "
            f"PEP 440 version)",
        )
        return CheckResult(request, [invalid], invalid)
    verdicts = policies.check_project(request.name)
    return CheckResult(request, verdicts, first_denial(verdicts))


async def check_version(
    policies: PolicySet, request: CheckRequest, upstream: Upstream | None
) -> CheckResult:
    result = check_name(policies, request)
    if result.denial is not None or request.name is None or request.version is None:
        return result
    if upstream is None:
        result.note = "no upstream to ask: evaluated project policies only"
        return result
    try:
        fetched = await upstream.fetch_page(request.name, None)
    except ProjectNotFound:
        result.note = f"{request.name} is not on the upstream"
        return result
    except ProxyError as error:
        result.note = f"upstream unreachable ({error}): evaluated project policies only"
        return result
    if fetched.page is None:
        result.note = "the upstream answered 304 to an unconditional request"
        return result
    _check_files(policies, fetched.page, request.version, result)
    return result


def _check_files(
    policies: PolicySet, page: ProjectPage, version: Version, result: CheckResult
) -> None:
    page_verdicts = policies.check_page(page)
    result.verdicts.extend(page_verdicts)
    result.denial = first_denial(page_verdicts)
    if result.denial is not None:
        return
    files = [f for f in page.files if file_version(f.filename) == version]
    if not files:
        result.note = f"no file of {page.name} {version} is listed on the upstream"
        return
    denials: list[Verdict] = []
    for file in files:
        verdicts = policies.check_file(page, file)
        result.verdicts.extend(verdicts)
        denial = first_denial(verdicts)
        if denial is not None:
            denials.append(denial)
    if len(denials) == len(files):
        result.denial = denials[0]
    elif denials:
        result.note = f"{len(denials)} of {len(files)} files of {page.name} {version} are denied"
