"""One pass over a module's AST: what each call does, and where data flows.

Values carry labels (decoded, blob, network data, secret, whole environment, host
identity) from where they are made to where they are used, within a function and through
module globals, assignments, f-strings, calls and ``with`` targets. Sinks turn labels into
hits: exec of decoded data, a network call carrying secrets, a process started on a file
that was just downloaded. Capability events (process, network, exec) are recorded with
their scope, so that ``py_rules`` can decide which of them run at import or install time.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field

from policies.scan.py_labels import (
    Label,
    constant_label,
    embedded_executable,
    env_label,
    is_main_test,
    is_reversal,
    refs,
)
from policies.scan.py_names import Names
from policies.scan.py_sinks import call_label
from policies.scan.shell import judge_command

MODULE = "<module>"
MAIN = "<main>"
_COMMANDS = (
    "install",
    "develop",
    "egg_info",
    "easy_install",
    "bdist_egg",
    "build_py",
    "build_ext",
    "build",
    "sdist",
    "bdist_wheel",
    "Command",
    "install_lib",
)
HOOKED = ("install", "develop", "egg_info", "easy_install", "bdist_egg", "install_lib")
MAX_NESTED = 2


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    """A rule id, or a capability event: ``process``, ``network``, ``exec``, ``write-out``."""
    line: int
    scope: str
    why: str | None = None


@dataclass(slots=True)
class Facts:
    hits: list[Hit] = field(default_factory=list)
    calls: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    commands: set[str] = field(default_factory=set)
    """Methods of setuptools command subclasses (run by pip when building)."""
    hooked: set[str] = field(default_factory=set)
    """Methods of install/develop/egg_info overrides: code that exists to run at install."""


@dataclass(slots=True)
class _Scope:
    name: str
    env: dict[str, int] = field(default_factory=dict)
    handles: dict[str, frozenset[str]] = field(default_factory=dict)
    dropped: list[tuple[frozenset[str], int]] = field(default_factory=list)
    socket_line: int = 0
    dup2_line: int = 0
    shell_line: int = 0
    pty_line: int = 0
    secret_line: int = 0
    network_line: int = 0


class Analyzer:
    def __init__(self, tree: ast.Module, *, depth: int = 0, secrets: bool = True) -> None:
        self.secrets = secrets
        """Whether string constants are matched against secret-store paths (skipped when
        triage saw no such token: the regex on every constant is a tenth of the cost)."""
        self.tree = tree
        self.names = Names()
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for function in self.names.collect(tree):
            self.functions.setdefault(function.name, function)
        self.facts = Facts()
        self.globals: dict[str, int] = {}
        self.depth = depth
        self._summaries: dict[str, int] = {}
        self._blob_seen = False

    def run(self) -> Facts:
        scope = _Scope(MODULE, self.globals)
        self._block(self.tree.body, scope, "")
        self._close(scope)
        return self.facts

    # Statements -------------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], scope: _Scope, prefix: str) -> None:
        for statement in body:
            self._statement(statement, scope, prefix)

    def _statement(self, node: ast.stmt, scope: _Scope, prefix: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                self._expr(decorator, scope)
            inner = _Scope(prefix + node.name)
            self._block(node.body, inner, prefix)
            self._close(inner)
        elif isinstance(node, ast.ClassDef):
            bases = [self.names.qualname(b) or "" for b in node.bases]
            if any(b.rsplit(".", 1)[-1] in _COMMANDS and "command" in b.lower() for b in bases):
                hooked = [b for b in bases if b.rsplit(".", 1)[-1] in HOOKED]
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self.facts.commands.add(f"{node.name}.{item.name}")
                if hooked:
                    self._hit("install-hook", node, scope, f"subclasses {hooked[0]}")
                    self.facts.hooked.update(
                        f"{node.name}.{item.name}"
                        for item in node.body
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    )
            for base in node.bases:
                self._expr(base, scope)
            self._block(node.body, scope, f"{node.name}.")
        elif isinstance(node, ast.If) and scope.name == MODULE and is_main_test(node.test):
            main = _Scope(MAIN, scope.env)
            self._block(node.body, main, prefix)
            self._close(main)
            self._block(node.orelse, scope, prefix)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            value = node.value
            label = self._expr(value, scope) if value is not None else Label.NONE
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                self._bind(target, label, scope, value)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for with_item in node.items:
                label = self._expr(with_item.context_expr, scope)
                if with_item.optional_vars is not None:
                    self._bind(with_item.optional_vars, label, scope, with_item.context_expr)
            self._block(node.body, scope, prefix)
        elif isinstance(node, ast.For | ast.AsyncFor):
            label = self._expr(node.iter, scope)
            self._bind(node.target, label, scope, None)
            self._block(node.body, scope, prefix)
            self._block(node.orelse, scope, prefix)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self._expr(child, scope)
                elif isinstance(child, ast.stmt):
                    self._statement(child, scope, prefix)
                elif isinstance(child, ast.ExceptHandler | ast.match_case):
                    self._block(child.body, scope, prefix)

    def _bind(self, target: ast.expr, label: int, scope: _Scope, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            scope.env[target.id] = scope.env.get(target.id, Label.NONE) | label
            if isinstance(value, ast.Call) and self._opens_for_write(value):
                scope.handles[target.id] = refs(value.args[0]) if value.args else frozenset()
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind(element, label, scope, None)
        else:
            self._expr(target, scope)

    def _close(self, scope: _Scope) -> None:
        if scope.socket_line and ((scope.dup2_line and scope.shell_line) or scope.pty_line):
            line = scope.pty_line or scope.dup2_line
            self.facts.hits.append(
                Hit("reverse-shell", line, scope.name, "redirects a shell to a socket")
            )
        if scope.secret_line and scope.network_line:
            self.facts.hits.append(
                Hit(
                    "exfiltration-near",
                    scope.secret_line,
                    scope.name,
                    "reads secrets and uses the network in the same function",
                )
            )

    # Expressions ------------------------------------------------------------------------

    def _expr(self, node: ast.expr, scope: _Scope) -> int:
        if isinstance(node, ast.Constant):
            label = constant_label(node.value, scope, node, self.secrets)
            if label & Label.BLOB and not self._blob_seen:
                self._blob_seen = True
                self._blob(node, scope)
            return label
        if isinstance(node, ast.Name):
            return scope.env.get(node.id, Label.NONE) | self.globals.get(node.id, Label.NONE)
        if isinstance(node, ast.Call):
            return self._call(node, scope)
        if isinstance(node, ast.Attribute):
            if self.names.qualname(node) == "os.environ":
                return Label.ENVDUMP
            return self._expr(node.value, scope)
        if isinstance(node, ast.Subscript):
            if self.names.qualname(node.value) == "os.environ":
                return env_label(node.slice)
            label = self._expr(node.value, scope) | self._expr(node.slice, scope)
            if is_reversal(node.slice) and (label or isinstance(node.value, ast.Constant)):
                label |= Label.DECODED
            return label
        if isinstance(node, ast.Lambda):
            return self._expr(node.body, _Scope(scope.name, dict(scope.env)))
        label = Label.NONE
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                label |= self._expr(child, scope)
            elif isinstance(child, ast.comprehension):
                label |= self._expr(child.iter, scope)
                for condition in child.ifs:
                    self._expr(condition, scope)
        return label

    def _call(self, node: ast.Call, scope: _Scope) -> int:
        return call_label(self, node, scope)

    # Helpers used by py_sinks -------------------------------------------------------------

    def _hit(self, rule: str, node: ast.AST, scope: _Scope, why: str | None = None) -> None:
        self.facts.hits.append(Hit(rule, getattr(node, "lineno", 0), scope.name, why))

    def _opens_for_write(self, node: ast.Call) -> bool:
        if self.names.qualname(node.func) not in ("open", "io.open", "codecs.open"):
            return False
        mode = node.args[1] if len(node.args) > 1 else None
        for keyword in node.keywords:
            if keyword.arg == "mode":
                mode = keyword.value
        return (
            isinstance(mode, ast.Constant)
            and isinstance(mode.value, str)
            and any(c in mode.value for c in "wax")
        )

    def _blob(self, node: ast.Constant, scope: _Scope) -> None:
        value = node.value
        size = len(value) if isinstance(value, str | bytes) else 0
        self._hit("encoded-blob", node, scope, f"a {size}-character encoded literal")
        kind = embedded_executable(value if isinstance(value, str | bytes) else "")
        if kind:
            self._hit("embedded-executable", node, scope, f"it decodes to a {kind} executable")

    def summary(self, name: str) -> int:
        """Labels a local function's return values carry (decoders written by hand)."""
        if name in self._summaries:
            return self._summaries[name]
        self._summaries[name] = Label.NONE  # recursion guard
        function = self.functions[name]
        scope = _Scope(name)
        label = Label.NONE
        for node in ast.walk(function):
            if isinstance(node, ast.Return) and node.value is not None:
                label |= _quiet_label(self, node.value, scope)
        self._summaries[name] = label
        return label

    def nested(self, source: str, node: ast.AST, scope: _Scope) -> None:
        """Code passed as a string to exec or ``python -c``: analyse it in place."""
        if self.depth >= MAX_NESTED or len(source) > 1 << 20:
            return
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
        inner = Analyzer(tree, depth=self.depth + 1, secrets=True).run()
        line = getattr(node, "lineno", 0)
        for hit in inner.hits:
            self.facts.hits.append(Hit(hit.rule, line, scope.name, hit.why))

    def judge_strings(self, strings: list[str], node: ast.AST, scope: _Scope) -> None:
        for index, text in enumerate(strings):
            if index and strings[index - 1] == "-c":
                self.nested(text, node, scope)
        verdict = judge_command(" ".join(strings))
        if verdict is not None:
            self._hit(verdict.rule, node, scope, verdict.why)


def _quiet_label(analyzer: Analyzer, node: ast.expr, scope: _Scope) -> int:
    hits = len(analyzer.facts.hits)
    label = analyzer._expr(node, scope)
    del analyzer.facts.hits[hits:]
    return label


Scope = _Scope
