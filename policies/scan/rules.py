"""Every rule the scanner knows: id, default severity, kind and why it matters.

Rules are written by class of behaviour (what the code does and when it runs), never by
the name of a package or a string copied from one sample. A rule's severity may be raised
or lowered by where the code runs (install time, import time, interpreter start) and by
the project's history; the default here is the common case.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.scan.model import Finding, Kind, Severity, excerpt

S = Severity


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    kind: Kind
    why: str
    capability: str | None = None

    def finding(
        self,
        file: str,
        line: int | None,
        text: str,
        *,
        severity: Severity | None = None,
        why: str | None = None,
        capability: str | None = None,
        note: str = "",
    ) -> Finding:
        return Finding(
            rule=self.id,
            severity=self.severity if severity is None else severity,
            file=file,
            line=line,
            excerpt=excerpt(text),
            why=why or self.why,
            capability=capability or self.capability,
            kind=self.kind,
            note=note,
        )


C, T, A = Kind.CAPABILITY, Kind.THREAT, Kind.STRUCTURE

_RULES = (
    # Archive structure: ambiguity that lets a scanner and an installer see different files.
    Rule("archive-unreadable", S.HIGH, A, "the archive cannot be read, so it cannot be reviewed"),
    Rule(
        "archive-limits",
        S.HIGH,
        A,
        "the archive exceeds the member-count or size limits "
        "(a decompression bomb, or too large to review)",
    ),
    Rule(
        "archive-type-mismatch",
        S.MEDIUM,
        A,
        "the file's contents are not the archive type "
        "its name says; installers that trust the contents still unpack it",
    ),
    Rule(
        "archive-duplicate-name",
        S.HIGH,
        A,
        "two members share one name; tools disagree on "
        "which one is installed (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-header-mismatch",
        S.HIGH,
        A,
        "a ZIP local header disagrees with the central directory (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-multiple-eocd",
        S.HIGH,
        A,
        "more than one ZIP end-of-central-directory record: "
        "two readers can see two different archives (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-trailing-data",
        S.MEDIUM,
        A,
        "bytes after the ZIP end record or before its "
        "first member: room for a second archive (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-overlap",
        S.HIGH,
        A,
        "ZIP members overlap each other (a zip bomb or an ambiguous archive)",
    ),
    Rule(
        "archive-path",
        S.HIGH,
        A,
        "a member path is absolute or climbs out with '..': "
        "unpacking it writes outside the target directory",
    ),
    Rule(
        "archive-link",
        S.HIGH,
        A,
        "a link or device member: unpacking it can point writes "
        "or reads outside the target directory",
    ),
    Rule(
        "wheel-record-mismatch",
        S.HIGH,
        A,
        "the wheel's RECORD does not match its contents: "
        "files hidden from RECORD are installed unseen and never uninstalled",
    ),
    # Install time.
    Rule(
        "install-hook",
        S.LOW,
        C,
        "setup.py replaces an install/develop/egg_info command: its "
        "code runs when the package is installed from source",
        "install-hook",
    ),
    Rule(
        "install-process",
        S.MEDIUM,
        C,
        "setup.py starts a process while installing",
        "install-process",
    ),
    Rule(
        "install-network",
        S.HIGH,
        C,
        "setup.py opens a network connection while installing",
        "install-network",
    ),
    Rule(
        "install-write",
        S.HIGH,
        T,
        "setup.py writes outside the build directory (home, "
        "system or startup folders) while installing",
    ),
    Rule(
        "build-backend-in-tree",
        S.MEDIUM,
        C,
        "pyproject.toml builds with a backend shipped "
        "inside the sdist (backend-path): the package's own code runs as the build",
        "in-tree-backend",
    ),
    # Interpreter start.
    Rule(
        "pth-launcher",
        S.MEDIUM,
        C,
        "a .pth file runs code at every start of Python, in every program of the environment",
        "pth-launcher",
    ),
    Rule(
        "pth-exec",
        S.CRITICAL,
        T,
        "a .pth file starts processes, uses the network or executes "
        "decoded code at every start of Python",
    ),
    Rule(
        "startup-hook",
        S.HIGH,
        C,
        "the wheel installs sitecustomize/usercustomize, which runs at every start of Python",
        "startup-hook",
    ),
    # Import time.
    Rule(
        "import-process",
        S.LOW,
        C,
        "module-level code starts a process when imported",
        "import-process",
    ),
    Rule(
        "import-network",
        S.MEDIUM,
        C,
        "module-level code uses the network when imported",
        "import-network",
    ),
    Rule(
        "import-exec",
        S.LOW,
        C,
        "module-level code executes generated code when imported",
        "import-exec",
    ),
    # Threats, wherever they are.
    Rule(
        "obfuscated-exec",
        S.CRITICAL,
        T,
        "exec/eval/compile of decoded or decrypted data: code hidden from review",
    ),
    Rule("download-exec", S.CRITICAL, T, "downloads code or a program and runs it"),
    Rule("reverse-shell", S.CRITICAL, T, "connects a shell to a remote socket"),
    Rule(
        "exfiltration",
        S.CRITICAL,
        T,
        "sends credentials, keys, tokens, browser, chat or "
        "wallet data, or the whole environment, over the network",
    ),
    Rule(
        "recon-beacon",
        S.HIGH,
        T,
        "sends the host name, user name or working directory to a "
        "remote endpoint when installed or imported (the dependency-confusion probe)",
    ),
    Rule(
        "shell-command",
        S.HIGH,
        T,
        "runs a shell command typical of malware: hidden or encoded "
        "PowerShell, download cradles, fetch-and-run",
    ),
    Rule(
        "persistence",
        S.HIGH,
        T,
        "installs itself to run again later (autostart entries, scheduled tasks, services)",
    ),
    Rule("credential-access", S.MEDIUM, T, "reads browser, chat, wallet or SSH secrets"),
    # Obfuscation.
    Rule("pyarmor", S.HIGH, T, "PyArmor-obfuscated code cannot be reviewed (PyPI rejects it)"),
    Rule(
        "obfuscated-names",
        S.HIGH,
        T,
        "identifiers written with look-alike Unicode letters to defeat text search",
    ),
    Rule(
        "hidden-code",
        S.HIGH,
        T,
        "code pushed far to the right behind whitespace, out of sight in editors and diffs",
    ),
    Rule(
        "dynamic-builtins",
        S.MEDIUM,
        T,
        "builtins reached through computed names "
        "(getattr on __builtins__, __import__ of computed strings): hides what is called",
    ),
    Rule("encoded-blob", S.LOW, T, "a very large encoded literal in source"),
    Rule(
        "embedded-executable",
        S.HIGH,
        T,
        "a Windows or Linux executable hidden inside an encoded literal",
    ),
    # Contents of sdists.
    Rule(
        "executable-in-sdist",
        S.MEDIUM,
        C,
        "a compiled executable inside a source distribution cannot be reviewed",
        "sdist-executable",
    ),
    Rule(
        "bytecode-in-sdist",
        S.LOW,
        C,
        "compiled Python bytecode inside a source distribution cannot be reviewed",
        "sdist-bytecode",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
