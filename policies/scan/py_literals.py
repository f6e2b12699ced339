"""Modules that ``ast`` cannot parse, read for their literals alone.

A file with a syntax error does not run, but the same stealer is often shipped twice, once
broken; and Python 2 sources still carry their payload's paths and tokens. The tokenizer
gets through most such files: each string literal is evaluated (``ast.literal_eval``, on
the literal only) and checked for the module-wide indicators (secret stores, channel
credentials, encoded URLs), which ``py_correlate`` judges as for a parsed module.
"""

from __future__ import annotations

import ast
import io
import tokenize

from policies.scan import indicators as ind
from policies.scan.py_correlate import close_module
from policies.scan.py_facts import Facts
from policies.scan.py_labels import encoded_url

MAX_LITERALS = 20_000


def literal_facts(content: bytes, classes: frozenset[str]) -> Facts:
    facts = Facts()
    for line, value in _literals(content):
        store = ind.secret_store(value)
        if store:
            facts.stores.append((line, store))
        channel = ind.channel_credential(value)
        if channel:
            facts.channels.append((line, channel))
        url = encoded_url(value)
        if url:
            facts.encoded.append((line, url))
    for kind in ("network", "process", "identity"):
        if kind in classes:
            facts.events[kind] = 1
    close_module(facts, set())
    return facts


def _literals(content: bytes) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    try:
        for token in tokenize.tokenize(io.BytesIO(content).readline):
            if token.type != tokenize.STRING or len(found) >= MAX_LITERALS:
                continue
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and len(value) < 4096:
                found.append((token.start[0], value))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass  # what was read before the error still counts
    return found
