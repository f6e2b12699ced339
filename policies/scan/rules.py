"""Every rule the scanner knows: id, default severity, kind and why it matters.

Rules are written by class of behaviour (what the code does and when it runs), never by
the name of a package or a string copied from one sample. A rule's severity may be raised
or lowered by where the code runs (install time, import time, interpreter start) and by
the project's history; the default here is the common case.
"""

from __future__ import annotations

from policies.scan.rule_model import C, Rule, S, T
from policies.scan.rules_structure import STRUCTURE_RULES

__all__ = ["RULES", "Rule", "rule"]

_BEHAVIOUR = (
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
    Rule(
        "credential-access",
        S.MEDIUM,
        T,
        "names the secret stores of browsers, chat clients, wallets or game launchers",
    ),
    Rule(
        "hidden-process",
        S.HIGH,
        T,
        "starts a program hidden or detached from the installer (a windowless interpreter, "
        "start, DETACHED_PROCESS, a background &) while installing or importing",
    ),
    Rule(
        "hidden-endpoint",
        S.HIGH,
        T,
        "a network address kept in an encoded literal: decoded, it names where data goes "
        "or code comes from",
    ),
    Rule(
        "callback-endpoint",
        S.CRITICAL,
        T,
        "contacts a service that exists to collect callbacks, tunnel to a private machine "
        "or host pasted payloads (out-of-band probes, droppers) at install or import time",
    ),
    Rule(
        "embedded-channel",
        S.MEDIUM,
        T,
        "a chat-bot token or a webhook URL with its secret is embedded: a ready channel "
        "for sending data out",
    ),
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
)

RULES: dict[str, Rule] = {rule.id: rule for rule in (*STRUCTURE_RULES, *_BEHAVIOUR)}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
