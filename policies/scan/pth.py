"""``.pth`` files: every line that starts with ``import`` is executed by ``site`` at each
start of Python, in every program of the environment.

Legitimate uses have recognisable shapes, judged by what the line does rather than by
whose it is: namespace-package boilerplate (only ``sys``/``types``/``os``/``importlib``
bookkeeping), and a launcher that imports one module and calls one function, often
behind an environment-variable switch (setuptools' distutils shim, coverage's
subprocess hook). Anything that starts processes, uses the network, executes or decodes
code is a threat; any other launcher is a capability worth a warning.
"""

from __future__ import annotations

import ast

from policies.scan.model import Finding, Severity
from policies.scan.py_flow import Analyzer
from policies.scan.py_names import Names
from policies.scan.rules import rule

_BOOKKEEPING = ("sys.", "types.", "os.", "importlib.")
_DANGEROUS = frozenset({"process", "network", "exec", "write-out"})
_HARMLESS_BUILTINS = frozenset(
    {
        "len",
        "getattr",
        "hasattr",
        "setattr",
        "isinstance",
        "tuple",
        "list",
        "dict",
        "str",
        "bool",
        "any",
        "all",
    }
)


def pth_findings(path: str, data: bytes) -> list[Finding]:
    text = data.decode("utf-8", "replace")
    found: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith(("import ", "import\t")):
            continue
        try:
            tree = ast.parse(line)
        except SyntaxError:
            # site.py would raise too and skip the file's remaining lines: nothing runs.
            continue
        facts = Analyzer(tree).run()
        dangerous = [h for h in facts.hits if h.rule in _DANGEROUS or h.why]
        if dangerous:
            what = dangerous[0].why or f"{dangerous[0].rule} at interpreter start"
            found.append(
                rule("pth-exec").finding(path, number, line, why=f"{rule('pth-exec').why}: {what}")
            )
            continue
        shape = _shape(tree)
        if shape == "namespace":
            found.append(
                rule("pth-launcher").finding(
                    path,
                    number,
                    line,
                    severity=Severity.INFO,
                    note="namespace-package bookkeeping only",
                )
            )
        elif shape == "switched":
            found.append(
                rule("pth-launcher").finding(
                    path,
                    number,
                    line,
                    severity=Severity.LOW,
                    note="imports one module behind an environment-variable switch",
                )
            )
        else:
            found.append(rule("pth-launcher").finding(path, number, line))
    return found


def _calls(tree: ast.Module, depth: int = 0) -> list[str]:
    """Qualified names of every call, including those inside exec'd literal code."""
    names = Names()
    names.collect(tree)
    qualified = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = names.qualname(node.func) or ""
        first = node.args[0] if node.args else None
        code = first.value if isinstance(first, ast.Constant) else None
        if name == "exec" and isinstance(code, str) and depth < 2:
            try:
                qualified.extend(_calls(ast.parse(code), depth + 1))
                continue
            except SyntaxError:
                pass
        qualified.append(name)
    return qualified


def _shape(tree: ast.Module) -> str:
    qualified = _calls(tree)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    bookkeeping_only = imported <= {m.rstrip(".") for m in _BOOKKEEPING}
    if bookkeeping_only and all(
        q.startswith(_BOOKKEEPING) or q in _HARMLESS_BUILTINS for q in qualified
    ):
        return "namespace"
    reads_environment = any(q.startswith("os.environ") or q == "os.getenv" for q in qualified)
    others = [q for q in qualified if not q.startswith(_BOOKKEEPING)]
    if reads_environment and len(others) <= 2:
        return "switched"
    return "launcher"
