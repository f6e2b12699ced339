"""From a module's analysed facts to findings: which code runs at install time (setup.py,
its command classes and what they call), at import time (module level and the local
functions it calls), or only when called; severity follows.
"""

from __future__ import annotations

import ast
import enum
from collections import deque

from policies.scan import indicators as ind
from policies.scan.model import Finding, Severity
from policies.scan.py_facts import Facts, Hit
from policies.scan.py_flow import MAIN, MODULE, Analyzer
from policies.scan.rules import rule


class Role(enum.Enum):
    SETUP = "setup"
    """setup.py, an in-tree build backend, or a module setup.py imports: runs at install."""
    PACKAGE = "package"
    """Importable code: module level runs at import."""
    OTHER = "other"
    """Tests, docs, examples, scripts: runs only when someone runs it."""


_CAPABILITY_RULES = {
    (Role.SETUP, "process"): "install-process",
    (Role.SETUP, "network"): "install-network",
    (Role.SETUP, "write-out"): "install-write",
    (Role.PACKAGE, "process"): "import-process",
    (Role.PACKAGE, "network"): "import-network",
    (Role.PACKAGE, "exec"): "import-exec",
}
_EVENTS = frozenset({"process", "network", "exec", "write-out"})
_UNSHIFTED = frozenset(
    {
        "encoded-blob",
        "obfuscated-exec",
        "download-exec",
        "reverse-shell",
        "exfiltration",
        "hidden-endpoint",
        "embedded-channel",
        "credential-access",
    }
)
"""Rules whose severity does not depend on when the code runs."""
_MODULE_HITS: dict[str, tuple[str, Severity | None]] = {
    "stealer": ("exfiltration", Severity.HIGH),
    "channel-collect": ("exfiltration", Severity.HIGH),
    "embedded-channel": ("embedded-channel", None),
    "credential-access": ("credential-access", None),
}
"""Module-wide correlations (``py_correlate``): judged wherever the code sits."""


def analyse(tree: ast.Module, *, look: int = -1, lines: list[str] | None = None) -> Facts:
    return Analyzer(tree, look=look, lines=lines).run()


def executed_scopes(facts: Facts, role: Role, start: set[str] | None = None) -> set[str]:
    """Scopes that run without anyone calling the package: the module body (and for
    setup files, ``__main__`` blocks and command classes), plus what they call."""
    if role is Role.OTHER:
        return set()
    if start is None:
        start = {MODULE}
        if role is Role.SETUP:
            start |= {MAIN, *facts.commands}
    done: set[str] = set()
    queue = deque(start)
    by_short: dict[str, set[str]] = {}
    for scope in facts.calls:
        by_short.setdefault(scope.rsplit(".", 1)[-1], set()).add(scope)
    for hit in facts.hits:
        by_short.setdefault(hit.scope.rsplit(".", 1)[-1], set()).add(hit.scope)
    for command in facts.commands:
        by_short.setdefault(command.rsplit(".", 1)[-1], set()).add(command)
    while queue:
        scope = queue.popleft()
        if scope in done:
            continue
        done.add(scope)
        for called in facts.calls.get(scope, ()):
            queue.extend(by_short.get(called, {called}) - done)
    return done


def findings(facts: Facts, path: str, role: Role, lines: list[str]) -> list[Finding]:
    executed = executed_scopes(facts, role)
    hooked = executed_scopes(facts, role, set(facts.hooked)) if facts.hooked else set()
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for hit in facts.hits:
        text = lines[hit.line - 1] if 0 < hit.line <= len(lines) else ""
        runs = hit.scope in executed
        if hit.rule in _EVENTS:
            rule_id = _CAPABILITY_RULES.get((role, hit.rule))
            if rule_id is None or not runs or (rule_id, path) in seen:
                continue
            seen.add((rule_id, path))
            if hit.scope in hooked and rule_id == "install-process":
                # Build steps run compilers from build_ext; an install/develop/egg_info
                # override that starts a process exists to run something on the target.
                note = "inside an install/develop/egg_info override"
                found.append(
                    rule(rule_id).finding(path, hit.line, text, severity=Severity.HIGH, note=note)
                )
            else:
                found.append(rule(rule_id).finding(path, hit.line, text))
            continue
        if (hit.rule, f"{path}:{hit.line}") in seen:
            continue
        seen.add((hit.rule, f"{path}:{hit.line}"))
        if hit.rule in _SPECIAL:
            made = _special(hit, path, role, runs, text)
            if made is not None:
                found.append(made)
            continue
        found.append(_threat(hit.rule, path, hit.line, text, hit.why, role, runs))
    return found


_SPECIAL = frozenset(
    {
        "install-hook",
        "cloud-token",
        "recon",
        "exfiltration-near",
        "hidden-process",
        "endpoint",
        "endpoint-send",
        *_MODULE_HITS,
    }
)


def _special(hit: Hit, path: str, role: Role, runs: bool, text: str) -> Finding | None:
    """Hits judged by a rule of their own (``_SPECIAL``), or by none (``None``)."""
    if hit.rule == "install-hook":
        return rule("install-hook").finding(path, hit.line, text) if role is Role.SETUP else None
    if hit.rule == "cloud-token":
        if not runs:
            return None
        note = "fetches instance credentials and sends them on, unasked"
        why = f"{rule('exfiltration').why}: {hit.why}"
        return rule("exfiltration").finding(path, hit.line, text, why=why, note=note)
    if hit.rule == "recon":
        if not runs:
            return None
        severity = Severity.CRITICAL if role is Role.SETUP else Severity.HIGH
        when = "at install time" if role is Role.SETUP else "at import time"
        why = f"{rule('recon-beacon').why}: {hit.why}" if hit.why else rule("recon-beacon").why
        return rule("recon-beacon").finding(
            path, hit.line, text, severity=severity, why=why, note=f"runs {when}"
        )
    if hit.rule == "exfiltration-near":
        note = "secrets and network use in one function, no direct flow seen"
        return rule("exfiltration").finding(
            path, hit.line, text, severity=Severity.HIGH, why=hit.why, note=note
        )
    if hit.rule in _MODULE_HITS:
        rule_id, fixed = _MODULE_HITS[hit.rule]
        why = f"{rule(rule_id).why}: {hit.why}"
        return rule(rule_id).finding(path, hit.line, text, severity=fixed, why=why)
    if hit.rule == "hidden-process":
        if not runs:
            return None  # libraries hide consoles of their own helpers; only unasked runs count
        return rule("hidden-process").finding(
            path, hit.line, text, why=f"{rule('hidden-process').why}: {hit.why}"
        )
    return _endpoint(hit, path, role, runs, text)


def _endpoint(hit: Hit, path: str, role: Role, runs: bool, text: str) -> Finding | None:
    """A network call to a destination fixed in the source."""
    target = hit.why or ""
    host = ind.destination(target, bare=True) or ""
    when = "at install time" if role is Role.SETUP else "at import time"
    if ind.collector(target):
        why = f"{rule('callback-endpoint').why}: {host}"
        if runs:
            return rule("callback-endpoint").finding(path, hit.line, text, why=why, note=when)
        severity = Severity.LOW if role is Role.OTHER else Severity.MEDIUM
        if hit.rule == "endpoint-send" and role is not Role.OTHER:
            severity = Severity.HIGH  # data sent to such a service, whoever calls it
        note = "only when called"
        return rule("callback-endpoint").finding(
            path, hit.line, text, severity=severity, why=why, note=note
        )
    if not runs:
        return None
    if ind.names_executable(target):
        why = f"downloads a program ({target[:80]}) {when}"
        return rule("download-exec").finding(
            path, hit.line, text, severity=Severity.HIGH, why=why, note=when
        )
    if role is Role.PACKAGE:
        why = f"{rule('import-network').why}, to a host fixed in the source: {host}"
        return rule("import-network").finding(path, hit.line, text, severity=Severity.HIGH, why=why)
    return None


def _threat(
    rule_id: str, path: str, line: int, text: str, why: str | None, role: Role, runs: bool
) -> Finding:
    base = rule(rule_id)
    reason = f"{base.why}: {why}" if why else base.why
    if runs and role is not Role.OTHER and rule_id not in _UNSHIFTED:
        when = "install" if role is Role.SETUP else "import"
        return base.finding(
            path,
            line,
            text,
            severity=base.severity.shifted(1),
            why=reason,
            note=f"runs at {when} time",
        )
    return base.finding(path, line, text, why=reason)
