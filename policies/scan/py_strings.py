"""The text an expression evaluates to, where the source fixes it: literals, f-strings,
concatenations, ``%``/``format``/``replace``/``join`` on known text, ``os.path.join``,
names bound to such values, and decoders applied to literals.

Malware rarely passes a command or a URL to its sink as one literal: it builds it in a
variable first (``cmd = 'curl ... | sh'``; ``subprocess.run(cmd, shell=True)``), or keeps
it base64-encoded until the call. Rules that judge commands and destinations read the
text through here. Parts that cannot be known (a function's result, user input) become
``{}``, so the shape of the text survives (``start {} {}``).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from policies.scan.py_decode import decode_literal

if TYPE_CHECKING:
    from policies.scan.py_flow import Analyzer, Scope

MAX_TEXT = 1 << 16
"""Longest text tracked per value; longer literals are blobs, judged elsewhere."""
MAX_DEPTH = 12
UNKNOWN = "{}"
_PASSTHROUGH = frozenset(
    {"decode", "encode", "strip", "lstrip", "rstrip", "lower", "upper", "format", "split"}
)
_JOINS = frozenset({"os.path.join", "posixpath.join", "ntpath.join", "pathlib.Path"})
_INTERPRETER = {"sys.executable": "python.exe", "sys._base_executable": "python.exe"}
"""The running interpreter, spelled as on Windows so ``.replace('.exe', 'w.exe')`` shows
the windowless one being asked for."""


def text_of(an: Analyzer, node: ast.expr, scope: Scope, depth: int = 0) -> str | None:
    """The text ``node`` evaluates to, with unknown parts as ``{}``; ``None`` when
    nothing about it is known."""
    if depth > MAX_DEPTH:
        return None
    found = _text(an, node, scope, depth)
    return found[:MAX_TEXT] if found is not None else None


def _text(an: Analyzer, node: ast.expr, scope: Scope, depth: int) -> str | None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        if isinstance(node.value, bytes):
            return node.value.decode("latin-1")
        return None
    if isinstance(node, ast.Name):
        return scope.strings.get(node.id, an.global_strings.get(node.id))
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            inner = value.value if isinstance(value, ast.FormattedValue) else value
            parts.append(_known(an, inner, scope, depth))
        return "".join(parts)
    if isinstance(node, ast.BinOp):
        left = text_of(an, node.left, scope, depth + 1)
        if isinstance(node.op, ast.Add):
            right = text_of(an, node.right, scope, depth + 1)
            if left is None and right is None:
                return None
            return (left or UNKNOWN) + (right or UNKNOWN)
        return left if isinstance(node.op, ast.Mod) else None
    if isinstance(node, ast.List | ast.Tuple):
        found = [text_of(an, e, scope, depth + 1) for e in node.elts]
        if all(p is None for p in found):
            return None
        return " ".join(UNKNOWN if p is None else p for p in found)
    if isinstance(node, ast.Attribute):
        return _INTERPRETER.get(an.names.qualname(node) or "")
    if isinstance(node, ast.Call):
        return _call_text(an, node, scope, depth)
    return None


def _known(an: Analyzer, node: ast.expr, scope: Scope, depth: int) -> str:
    found = text_of(an, node, scope, depth + 1)
    return UNKNOWN if found is None else found


def _call_text(an: Analyzer, node: ast.Call, scope: Scope, depth: int) -> str | None:
    func = node.func
    name = an.names.qualname(func)
    if name in ("bytes", "bytearray", "str") and node.args:
        return text_of(an, node.args[0], scope, depth + 1)
    if name in _JOINS:
        parts = [_known(an, a, scope, depth) for a in node.args]
        return "/".join(parts) if parts else None
    if name is not None and node.args:
        decoded = decode_literal(name, text_of(an, node.args[0], scope, depth + 1))
        if decoded is not None:
            return decoded
    if not isinstance(func, ast.Attribute):
        return None
    receiver = text_of(an, func.value, scope, depth + 1)
    if func.attr == "join" and node.args and isinstance(node.args[0], ast.List | ast.Tuple):
        parts = [_known(an, e, scope, depth) for e in node.args[0].elts]
        return (receiver or "").join(parts)
    if receiver is None:
        return None
    if func.attr == "replace" and len(node.args) == 2:
        old = text_of(an, node.args[0], scope, depth + 1)
        new = text_of(an, node.args[1], scope, depth + 1)
        if old and new is not None:
            return receiver.replace(old, new)
        return receiver
    if func.attr in _PASSTHROUGH:
        return receiver
    return None
