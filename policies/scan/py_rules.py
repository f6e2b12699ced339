"""From a module's analysed facts to findings: which code runs at install time (setup.py,
its command classes and what they call), at import time (module level and the local
functions it calls), or only when called; severity follows.
"""

from __future__ import annotations

import ast
import enum
from collections import deque

from policies.scan.model import Finding, Severity
from policies.scan.py_flow import MAIN, MODULE, Analyzer, Facts
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
    {"encoded-blob", "obfuscated-exec", "download-exec", "reverse-shell", "exfiltration"}
)
"""Rules whose severity does not depend on when the code runs."""


def analyse(tree: ast.Module, *, secrets: bool = True) -> Facts:
    return Analyzer(tree, secrets=secrets).run()


def executed_scopes(facts: Facts, role: Role) -> set[str]:
    """Scopes that run without anyone calling the package: the module body (and for
    setup files, ``__main__`` blocks and command classes), plus what they call."""
    if role is Role.OTHER:
        return set()
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
            if hit.scope in facts.hooked and rule_id == "install-process":
                # Build steps run compilers from build_ext; an install/develop/egg_info
                # override that starts a process exists to run something on the target.
                found.append(
                    rule(rule_id).finding(
                        path,
                        hit.line,
                        text,
                        severity=Severity.HIGH,
                        note="inside an install/develop/egg_info override",
                    )
                )
            else:
                found.append(rule(rule_id).finding(path, hit.line, text))
            continue
        if hit.rule == "install-hook":
            if role is Role.SETUP:
                found.append(rule("install-hook").finding(path, hit.line, text))
            continue
        if hit.rule == "cloud-token":
            if runs:
                found.append(
                    rule("exfiltration").finding(
                        path,
                        hit.line,
                        text,
                        why=f"{rule('exfiltration').why}: {hit.why}",
                        note="fetches instance credentials and sends them on, unasked",
                    )
                )
            continue
        if hit.rule == "recon":
            if not runs:
                continue
            severity = Severity.CRITICAL if role is Role.SETUP else Severity.HIGH
            when = "at install time" if role is Role.SETUP else "at import time"
            found.append(
                rule("recon-beacon").finding(
                    path, hit.line, text, severity=severity, note=f"runs {when}"
                )
            )
            continue
        if hit.rule == "exfiltration-near":
            found.append(
                rule("exfiltration").finding(
                    path,
                    hit.line,
                    text,
                    severity=Severity.HIGH,
                    why=hit.why,
                    note="secrets and network use in one function, no direct flow seen",
                )
            )
            continue
        key = (hit.rule, f"{path}:{hit.line}")
        if key in seen:
            continue
        seen.add(key)
        found.append(_threat(hit.rule, path, hit.line, text, hit.why, role, runs))
    return found


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
