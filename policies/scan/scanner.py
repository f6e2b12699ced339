"""Scans one artifact's bytes: archive structure, then each member by what it is.

Nothing is extracted, imported or executed. Python sources are triaged by token class
and parsed with ``ast`` only when the tokens could add up to a finding; ``.pth`` files,
setup files and ``pyproject.toml`` are always read; sdist members are checked for
compiled executables by their magic bytes; a wheel's RECORD is checked against its
members. An archive that cannot be read to the end keeps the findings made so far and
adds one saying why.
"""

from __future__ import annotations

import ast
import re
import threading
import time
import tomllib
from dataclasses import dataclass, field

from policies.scan import binaries
from policies.scan.archive import Archive, open_archive
from policies.scan.archive_checks import entry_findings
from policies.scan.archive_entry import Entry
from policies.scan.model import Finding, Kind, ScanResult
from policies.scan.options import ScanOptions
from policies.scan.pth import pth_findings
from policies.scan.py_labels import Look
from policies.scan.py_literals import literal_facts
from policies.scan.py_rules import Role, analyse, findings
from policies.scan.rules import rule
from policies.scan.source_checks import hidden_code, source_findings
from policies.scan.stream import ArchiveError, LimitExceeded
from policies.scan.triage import Triage
from policies.scan.wheel_record import record_findings, record_hash

_SOURCE = (".py", ".pyw")
_NOT_RUN = frozenset(
    {
        "ci",
        "test",
        "tests",
        "testing",
        "doc",
        "docs",
        "example",
        "examples",
        "benchmark",
        "benchmarks",
        "bench",
        "scripts",
        "tools",
    }
)
_TOOLING = frozenset(
    {
        "conftest",
        "noxfile",
        "tasks",
        "fabfile",
        "dodo",
        "runtests",
        "conf",
        "ez_setup",
        "distribute_setup",
        "release",
        "bootstrap",
        "manage",
    }
)
"""Top-level modules of sdists that are tooling, not installed code."""
_TEST_WORDS = frozenset({"test", "tests", "testing"})
_WORDS = re.compile(r"[\s_\-.]+")
_STARTUP = ("sitecustomize.py", "usercustomize.py")
_WHEEL_MEMBER = re.compile(r"^[^/]+\.dist-info/WHEEL$")


@dataclass(slots=True)
class _Run:
    filename: str
    options: ScanOptions
    is_wheel: bool
    triage: Triage
    findings: list[Finding] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    record: tuple[str, bytes] | None = None
    deferred: list[tuple[str, bytes]] = field(default_factory=list)
    """sdist root-level modules: their role depends on what setup.py imports."""
    setup_imports: set[str] = field(default_factory=set)
    backend_paths: tuple[str, ...] = ()
    executables: list[Finding] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {"members": 0, "parsed": 0})


def scan_bytes(data: bytes, filename: str, options: ScanOptions | None = None) -> ScanResult:
    options = options or ScanOptions()
    started = time.perf_counter()
    if len(data) > options.max_bytes:
        return ScanResult(
            filename,
            len(data),
            skipped=f"{len(data)} bytes is over the scan cap of "
            f"{options.max_bytes} bytes; not scanned",
        )
    try:
        archive = open_archive(data, filename, options.limits)
    except (ArchiveError, LimitExceeded) as error:
        finding = rule("archive-unreadable").finding("", None, str(error))
        return ScanResult(filename, len(data), (finding,))
    run = _Run(filename, options, _is_wheel(archive, filename), _triage())
    run.findings.extend(archive.findings)
    _members(run, archive)
    run.findings.extend(entry_findings(run.entries, zip_archive=archive.layout is not None))
    for path, content in run.deferred:
        _python(run, path, content, _root_role(run, path))
    run.findings.extend(run.executables[:5])
    if run.is_wheel:
        record_path, record = run.record if run.record else (None, None)
        run.findings.extend(record_findings(record_path, record, run.entries, run.hashes))
    kept = tuple(f for f in run.findings if f.rule in options.rules)
    run.stats["micros"] = int((time.perf_counter() - started) * 1e6)
    return ScanResult(filename, len(data), kept, stats=run.stats)


_LOCAL = threading.local()


def _is_wheel(archive: Archive, filename: str) -> bool:
    """A ZIP with a top-level ``*.dist-info/WHEEL`` is a wheel whatever its name says:
    installers unpack it as one (attackers upload wheels named ``.zip`` or ``.tar.gz``)."""
    if archive.layout is None:
        return False
    if filename.lower().endswith(".whl"):
        return True
    return any(_WHEEL_MEMBER.match(member.name) for member in archive.layout.members)


def _triage() -> Triage:
    # One yara-x scanner per thread: scan_bytes runs in worker threads.
    triage: Triage | None = getattr(_LOCAL, "triage", None)
    if triage is None:
        triage = _LOCAL.triage = Triage()
    return triage


def _members(run: _Run, archive: Archive) -> None:
    try:
        for entry, content in archive.members(lambda e: _want(run, e)):
            run.entries.append(entry)
            run.stats["members"] += 1
            if content is not None:
                _member(run, entry, content)
    except LimitExceeded as error:
        run.findings.append(rule("archive-limits").finding("", None, str(error)))
    except ArchiveError as error:
        run.findings.append(rule("archive-unreadable").finding("", None, str(error)))


def _inner(run: _Run, name: str) -> str:
    """The path inside the project: an sdist's top directory stripped."""
    if run.is_wheel:
        return name
    return name.split("/", 1)[1] if "/" in name else name


def _want(run: _Run, entry: Entry) -> int:
    name = entry.name
    if run.options.exempt(name):
        return 0
    if name.endswith((*_SOURCE, ".pth")):
        return -1 if entry.size <= run.options.limits.max_member_read else 0
    inner = _inner(run, name)
    if run.is_wheel:
        return -1 if name.endswith(".dist-info/RECORD") else 0
    if inner == "pyproject.toml":
        return -1
    return binaries.HEAD


def _member(run: _Run, entry: Entry, content: bytes) -> None:
    name = entry.name
    inner = _inner(run, name)
    if run.is_wheel and len(content) == entry.size:
        run.hashes[name] = record_hash(content)
    if name.endswith(".pth"):
        run.findings.extend(pth_findings(name, content))
    elif name.endswith(_SOURCE):
        if not run.is_wheel and "/" not in inner:
            run.deferred.append((name, content))
            if inner == "setup.py":
                run.setup_imports = _imports(content)
            return
        _python(run, name, content, _role(run, inner))
    elif run.is_wheel and name.endswith(".dist-info/RECORD"):
        run.record = (name, content)
    elif inner == "pyproject.toml" and not run.is_wheel:
        run.findings.extend(_pyproject(run, name, content))
    elif not run.is_wheel:
        kind = binaries.executable_kind(content)
        if kind is not None:
            run.executables.append(
                rule("executable-in-sdist").finding(name, None, f"{kind} executable")
            )
        elif binaries.is_bytecode(name, content):
            run.executables.append(rule("bytecode-in-sdist").finding(name, None, "bytecode"))


def _root_role(run: _Run, path: str) -> Role:
    """An sdist's top-level module: setup.py and what it imports run at install; tooling
    (tests, task runners, docs config) runs when someone runs it; any other module is
    what ``py_modules`` installs, so its module level runs at import."""
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    at_root = any(p in ("", ".") for p in run.backend_paths)
    if stem == "setup" or stem in run.setup_imports or at_root:
        return Role.SETUP
    if stem in _TOOLING or stem.startswith("test") or stem.endswith("_test"):
        return Role.OTHER
    return Role.PACKAGE


def _not_run(part: str) -> bool:
    """A directory of tests, docs, examples or tools (``manual tests``, ``test_data``,
    ``.github``): nothing imports from there."""
    if part.startswith(".") and part not in (".", ".."):
        return True
    return part in _NOT_RUN or not _TEST_WORDS.isdisjoint(_WORDS.split(part.lower()))


def _role(run: _Run, inner: str) -> Role:
    parts = inner.split("/")
    if any(inner.startswith(p.rstrip("/") + "/") for p in run.backend_paths if p not in ("", ".")):
        return Role.SETUP
    if run.is_wheel and parts[0].endswith(".data") and len(parts) > 1:
        return Role.PACKAGE if parts[1] in ("purelib", "platlib") else Role.OTHER
    if run.is_wheel and parts[0].endswith(".dist-info"):
        return Role.OTHER
    if any(_not_run(part) for part in parts[:-1]) or parts[-1].startswith(("test_", "conftest")):
        return Role.OTHER
    return Role.PACKAGE


def _python(run: _Run, path: str, content: bytes, role: Role) -> None:
    found = _python_findings(run, path, content, role)
    if role is Role.OTHER:
        found = [_demoted(f) for f in found]
    run.findings.extend(found)


def _python_findings(run: _Run, path: str, content: bytes, role: Role) -> list[Finding]:
    tokens = run.triage.tokens(content)
    found = source_findings(path, content, tokens, None)
    inner = _inner(run, path)
    if run.is_wheel and inner.split("/")[-1] in _STARTUP and inner.count("/") <= 2:
        found.append(rule("startup-hook").finding(path, None, inner))
    if role is not Role.SETUP and not tokens.needs_parse(content):
        return found
    lines = content.decode("utf-8", "replace").splitlines()
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # Python 2 or broken code does not run, but its literals still tell what it is for.
        if tokens.classes & {"secret", "channel", "b64url"}:
            found.extend(findings(literal_facts(content, tokens.classes), path, role, lines))
        return found
    run.stats["parsed"] += 1
    if tokens.hidden_run:
        found.extend(hidden_code(path, tree, lines))
    facts = analyse(tree, look=Look.of(tokens.classes), lines=lines)
    found.extend(findings(facts, path, role, lines))
    return found


def _demoted(finding: Finding) -> Finding:
    """Tests, docs and examples run only when someone runs them: threats found there are
    worth a look, not a block (security test suites build reverse shells on purpose)."""
    if finding.kind is not Kind.THREAT:
        return finding
    steps = -1 if finding.rule == "obfuscated-exec" else -2
    return finding.with_severity(
        finding.severity.shifted(steps), "in tests, docs or examples: not run on install or import"
    )


def _imports(content: bytes) -> set[str]:
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def _pyproject(run: _Run, path: str, content: bytes) -> list[Finding]:
    try:
        document = tomllib.loads(content.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError:
        return []
    system = document.get("build-system", {})
    paths = system.get("backend-path") if isinstance(system, dict) else None
    if not isinstance(paths, list) or not paths:
        return []
    run.backend_paths = tuple(str(p) for p in paths)
    backend = system.get("build-backend", "?")
    return [
        rule("build-backend-in-tree").finding(
            path, None, f"build-backend = {backend!r}, backend-path = {paths!r}"
        )
    ]
