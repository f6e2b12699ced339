"""One pass over a module's AST: what each call does, and where data flows.

Values carry labels (decoded, blob, network data, secret, whole environment, host
identity, autostart or outside paths) from where they are made to where they are used,
within a function and through module globals, assignments, f-strings, calls and ``with``
targets; names bound to known text keep it (``py_strings``). Sinks turn labels into hits:
exec of decoded data, a network call carrying secrets, a process started on a file that
was just downloaded. Capability events (process, network, exec) are recorded with their
scope, so that ``py_rules`` can decide which of them run at import or install time;
``py_correlate`` joins what one function writes and another runs, and what a module
collects with where it sends it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from policies.scan.py_correlate import close_module, close_scope
from policies.scan.py_facts import Facts, Hit
from policies.scan.py_labels import (
    Label,
    Look,
    constant_label,
    embedded_executable,
    env_label,
    is_main_test,
    is_reversal,
    refs,
)
from policies.scan.py_names import Names
from policies.scan.py_sink_kinds import is_handle
from policies.scan.py_sinks import call_label
from policies.scan.py_strings import text_of
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


@dataclass(slots=True)
class _Scope:
    name: str
    env: dict[str, int] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    derived: dict[str, frozenset[str]] = field(default_factory=dict)
    """What each name was computed from (names and path pieces): ties ``exe = tmp.name``
    to the file written through ``tmp``."""
    handles: dict[str, frozenset[str]] = field(default_factory=dict)
    socket_line: int = 0
    dup2_line: int = 0
    shell_line: int = 0
    pty_line: int = 0
    secret_line: int = 0
    network_line: int = 0


class Analyzer:
    def __init__(
        self, tree: ast.Module, *, depth: int = 0, look: int = -1, lines: list[str] | None = None
    ) -> None:
        self.lines = lines
        """The module's source lines, for rules that read how a literal was written."""
        self.look = look
        """Which literal classes to match (``Look``; all by default): triage skips the
        regexes for classes it saw no token of."""
        self.tree = tree
        self.names = Names()
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for function in self.names.collect(tree):
            self.functions.setdefault(function.name, function)
        self.facts = Facts()
        self.globals: dict[str, int] = {}
        self.global_strings: dict[str, str] = {}
        self.global_derived: dict[str, frozenset[str]] = {}
        self.depth = depth
        self._summaries: dict[str, int] = {}
        self._blob_seen = False

    def run(self) -> Facts:
        scope = _Scope(MODULE, self.globals, self.global_strings, self.global_derived)
        self._block(self.tree.body, scope, "")
        close_scope(self.facts, scope)
        close_module(self.facts, {*self.global_derived, *self.global_strings})
        return self.facts

    # Statements -------------------------------------------------------------------------

    def _block(self, body: list[ast.stmt], scope: _Scope, prefix: str) -> None:
        for statement in body:
            self._statement(statement, scope, prefix)

    def _statement(self, node: ast.stmt, scope: _Scope, prefix: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for outer in (*node.decorator_list, *node.args.defaults, *node.args.kw_defaults):
                if outer is not None:
                    self._expr(outer, scope)
            inner = _Scope(prefix + node.name)
            self._block(node.body, inner, prefix)
            close_scope(self.facts, inner)
        elif isinstance(node, ast.ClassDef):
            self._class(node, scope)
        elif isinstance(node, ast.If) and scope.name == MODULE and is_main_test(node.test):
            main = _Scope(MAIN, scope.env, scope.strings, scope.derived)
            self._block(node.body, main, prefix)
            close_scope(self.facts, main)
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

    def _class(self, node: ast.ClassDef, scope: _Scope) -> None:
        bases = [self.names.qualname(b) or "" for b in node.bases]
        methods = [
            f"{node.name}.{item.name}"
            for item in node.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        if any(b.rsplit(".", 1)[-1] in _COMMANDS and "command" in b.lower() for b in bases):
            self.facts.commands.update(methods)
            hooked = [b for b in bases if b.rsplit(".", 1)[-1] in HOOKED]
            if hooked:
                self._hit("install-hook", node, scope, f"subclasses {hooked[0]}")
                self.facts.hooked.update(methods)
        for base in node.bases:
            self._expr(base, scope)
        self._block(node.body, scope, f"{node.name}.")

    def _bind(self, target: ast.expr, label: int, scope: _Scope, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            scope.env[target.id] = scope.env.get(target.id, Label.NONE) | label
            if value is None:
                return
            text = text_of(self, value, scope)
            if text is not None:
                scope.strings[target.id] = text
            scope.derived[target.id] = refs(value)
            if is_handle(self, value):
                path = value.args[0] if isinstance(value, ast.Call) and value.args else None
                scope.handles[target.id] = refs(path) if path is not None else frozenset()
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind(element, label, scope, None)
        else:
            self._expr(target, scope)

    # Expressions ------------------------------------------------------------------------

    def _expr(self, node: ast.expr, scope: _Scope) -> int:
        if isinstance(node, ast.Constant):
            label = constant_label(node.value, scope, node, self.facts, self.look)
            if label & Label.BLOB and not self._blob_seen:
                self._blob_seen = True
                self._blob(node, scope)
            return label
        if isinstance(node, ast.Name):
            return scope.env.get(node.id, Label.NONE) | self.globals.get(node.id, Label.NONE)
        if isinstance(node, ast.Call):
            return call_label(self, node, scope)
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

    # Helpers used by py_sinks -------------------------------------------------------------

    def _hit(self, rule: str, node: ast.AST, scope: _Scope, why: str | None = None) -> None:
        self.facts.hits.append(Hit(rule, getattr(node, "lineno", 0), scope.name, why))

    def event(self, kind: str, node: ast.AST) -> None:
        self.facts.events.setdefault(kind, getattr(node, "lineno", 0))

    def opens_for_write(self, node: ast.Call) -> bool:
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
        """Labels a local function's return values carry (decoders written by hand): its
        body is walked quietly, so that ``code = b64decode(x); return code.decode()`` is
        known to return decoded data."""
        if name in self._summaries:
            return self._summaries[name]
        self._summaries[name] = Label.NONE  # recursion guard
        function = self.functions[name]
        scope = _Scope(name)
        facts = self.facts
        marks = (len(facts.hits), len(facts.drops), len(facts.launches))
        indicators = (len(facts.stores), len(facts.channels), len(facts.encoded))
        self._block(function.body, scope, "")
        label = Label.NONE
        for node in ast.walk(function):
            if isinstance(node, ast.Return) and node.value is not None:
                label |= self._expr(node.value, scope)
        del facts.hits[marks[0] :], facts.drops[marks[1] :], facts.launches[marks[2] :]
        del facts.stores[indicators[0] :], facts.channels[indicators[1] :]
        del facts.encoded[indicators[2] :]
        self._summaries[name] = label
        return label

    def nested(self, source: str, node: ast.AST, scope: _Scope, *, threats: bool = False) -> None:
        """Code passed as a string to exec or ``python -c``, or written out to a file:
        analyse it in place (``threats``: report only what is a threat wherever it runs,
        not the capability events of code that runs later)."""
        if self.depth >= MAX_NESTED or len(source) > 1 << 20:
            return
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
        inner = Analyzer(tree, depth=self.depth + 1, look=Look.SECRETS | Look.CHANNELS).run()
        line = getattr(node, "lineno", 0)
        for hit in inner.hits:
            if not threats or hit.why:
                self.facts.hits.append(Hit(hit.rule, line, scope.name, hit.why))

    def judge_strings(self, strings: list[str], node: ast.AST, scope: _Scope) -> None:
        for index, text in enumerate(strings):
            if index and strings[index - 1] == "-c":
                self.nested(text, node, scope)
        verdict = judge_command(" ".join(strings))
        if verdict is not None:
            self._hit(verdict.rule, node, scope, verdict.why)


Scope = _Scope
