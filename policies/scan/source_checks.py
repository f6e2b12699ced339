"""Obfuscation visible in the source text itself, whatever the code does: PyArmor's
runtime, identifiers spelled with look-alike Unicode letters, code hidden off screen."""

from __future__ import annotations

import ast
import io
import tokenize

from policies.scan.model import Finding
from policies.scan.rules import rule
from policies.scan.triage import Tokens

_PYARMOR = (b"__pyarmor__", b"pyarmor_runtime", b"__pyarmor_enter", b"from pytransform import")
HIDDEN_COLUMN = 120
"""A statement starting this far right is out of sight in editors and review tools."""


def source_findings(
    path: str, data: bytes, tokens: Tokens, tree: ast.Module | None
) -> list[Finding]:
    found: list[Finding] = []
    if "obfuscation" in tokens.classes:
        for marker in _PYARMOR:
            at = data.find(marker)
            if at >= 0:
                line = data.count(b"\n", 0, at) + 1
                found.append(rule("pyarmor").finding(path, line, marker.decode()))
                break
    if "homoglyph" in tokens.classes:
        found.extend(_homoglyphs(path, data))
    return found


def _homoglyphs(path: str, data: bytes) -> list[Finding]:
    try:
        text = data.decode("utf-8")
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and any(
                0x1D400 <= ord(c) <= 0x1D7FF for c in token.string
            ):
                return [rule("obfuscated-names").finding(path, token.start[0], token.line)]
    except (UnicodeDecodeError, tokenize.TokenError, SyntaxError):
        return []
    return []


def hidden_code(path: str, tree: ast.Module, lines: list[str]) -> list[Finding]:
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.col_offset >= HIDDEN_COLUMN:
            text = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
            return [
                rule("hidden-code").finding(
                    path,
                    node.lineno,
                    text[node.col_offset :],
                    why=f"{rule('hidden-code').why} (column {node.col_offset})",
                )
            ]
    return []
