"""Resolves what a Python expression names after imports and aliases: ``s`` after ``from
os import system as s`` is ``os.system``; ``__import__('os').system``, ``getattr(os,
'system')``, ``eval('exec')`` and ``getattr(__builtins__, 'exec')`` resolve too, because
obfuscators write calls that way.
"""

from __future__ import annotations

import ast

BUILTINS = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "getattr",
        "__import__",
        "chr",
        "execfile",
        "globals",
        "vars",
        "bytes",
        "bytearray",
        "map",
    }
)
_BUILTIN_HOLDERS = frozenset({"__builtins__", "builtins", "__builtin__"})


class Names:
    """Import aliases of one module (flow-insensitive: good enough, and fast)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star: list[str] = []
        self.defined: set[str] = set()
        """Names the module binds to non-imports; they shadow builtins."""

    def collect(self, tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """Reads every statement (not expressions: imports and aliases are statements, and
        skipping expressions makes this several times cheaper than ``ast.walk``). Returns
        the function definitions found, for the analyser."""
        assignments: list[ast.Assign] = []
        functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        for node in _statements(tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".", 1)[0]
                        self.aliases.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name == "*":
                        self.star.append(node.module)
                    else:
                        self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Assign):
                assignments.append(node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defined.add(node.name)
                if not isinstance(node, ast.ClassDef):
                    functions.append(node)
        # Twice, so that chains (a = eval; b = a("compile")) resolve in either order.
        for _ in range(2):
            for node in assignments:
                self._alias_assignment(node)
        return functions

    def _alias_assignment(self, node: ast.Assign) -> None:
        pairs: list[tuple[ast.expr, ast.expr]] = []
        for target in node.targets:
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs.extend(zip(target.elts, node.value.elts, strict=False))
            else:
                pairs.append((target, node.value))
        for target, value in pairs:
            if not isinstance(target, ast.Name):
                continue
            name = self.qualname(value)
            if name is not None and (name in BUILTINS or "." in name):
                self.aliases[target.id] = name
            elif target.id not in self.aliases:
                self.defined.add(target.id)

    def qualname(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id in BUILTINS and node.id not in self.defined:
                return node.id
            return node.id if node.id in _BUILTIN_HOLDERS else None
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            if base is None:
                return None
            if base in _BUILTIN_HOLDERS and node.attr in BUILTINS:
                return node.attr
            return f"{base}.{node.attr}"
        if isinstance(node, ast.Call):
            return self._call_qualname(node)
        if isinstance(node, ast.Subscript):
            # __builtins__.__dict__['exec'], globals()['__builtins__']
            key = _literal(node.slice)
            if key in BUILTINS:
                return key
            if key in _BUILTIN_HOLDERS:
                return "__builtins__"
        return None

    def _call_qualname(self, node: ast.Call) -> str | None:
        func = self.qualname(node.func)
        first = _literal(node.args[0]) if node.args else None
        if func in ("__import__", "importlib.import_module") and first:
            return first
        if func == "getattr" and len(node.args) >= 2:
            holder = self.qualname(node.args[0])
            attr = _literal(node.args[1])
            if holder and attr:
                return (
                    attr if holder in _BUILTIN_HOLDERS and attr in BUILTINS else f"{holder}.{attr}"
                )
        if func == "eval" and first and first.isidentifier() and first in BUILTINS:
            return first
        return None

    def star_qualname(self, name: str, known: frozenset[str]) -> str | None:
        for module in self.star:
            candidate = f"{module}.{name}"
            if candidate in known:
                return candidate
        return None


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        found.append(node)
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, name, None)
            if block:
                stack.extend(reversed([b for b in block if isinstance(b, ast.stmt)]))
                for child in block:
                    if isinstance(child, ast.ExceptHandler | ast.match_case):
                        stack.extend(reversed(child.body))
    return found


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
