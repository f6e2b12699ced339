"""Labels that values carry through ``py_flow``'s analysis, and the small helpers that
make them from constants and environment lookups."""

from __future__ import annotations

import ast
import base64
import binascii
import contextlib
from typing import TYPE_CHECKING

from policies.scan import indicators as ind
from policies.scan import py_catalog as cat
from policies.scan.py_decode import decode_literal, hidden_url

if TYPE_CHECKING:
    from policies.scan.py_facts import Facts
    from policies.scan.py_flow import Scope


class Label:
    """Bit flags as plain ints: ``enum.Flag`` arithmetic cost a third of the analysis."""

    NONE = 0
    DECODED = 1
    BLOB = 2
    NETDATA = 4
    SECRET = 8
    """Read from a store of secrets: SSH keys, browser profiles, wallets, chat tokens."""
    ENVDUMP = 16
    IDENTITY = 32
    CLOUD = 64
    """A cloud metadata service's answer (instance credentials)."""
    AUTOSTART = 128
    """A path or registry key that makes a program start again later."""
    OUTSIDE = 256
    """A path outside the build tree: the user's home, profile, temp or system folders."""
    RCFILE = 512
    """A shell start-up file's name (``.bashrc``): autostart when it is in the home."""


HIDDEN = Label.DECODED | Label.BLOB
STOLEN = Label.SECRET | Label.ENVDUMP
PLAIN_CODECS = frozenset({"utf-8", "utf8", "ascii", "latin-1", "latin1", "utf-16", "cp1252"})


_FOLDER_ENV = frozenset(
    {"APPDATA", "LOCALAPPDATA", "USERPROFILE", "HOME", "TEMP", "TMP", "PROGRAMDATA", "PUBLIC"}
)


def env_label(key: ast.expr) -> int:
    """One environment variable: the host's or user's name is identity, the user's folders
    are outside the build. Secrets in variables (API keys) are not labelled: clients send
    them to their API by design."""
    if not isinstance(key, ast.Constant) or not isinstance(key.value, str):
        return Label.NONE
    name = key.value.upper()
    label = Label.IDENTITY if cat.is_identity_env(name) else Label.NONE
    return label | (Label.OUTSIDE if name in _FOLDER_ENV else Label.NONE)


def refs(node: ast.expr) -> frozenset[str]:
    """Names and string pieces an expression uses: enough to tie a written file's path to
    the process started on it."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            piece = child.value.strip("\\/ ")
            if len(piece) >= 4:
                found.add(piece)
    return frozenset(found)


def constant_label(
    value: object, scope: Scope, node: ast.Constant, facts: Facts, flags: int
) -> int:
    """The labels a literal carries; notes in ``facts`` the module-wide indicators it is
    (secret stores, channel credentials). ``flags`` (``Look``) says which classes triage
    saw in the file's bytes: a regex on every literal is a tenth of the analysis."""
    if not isinstance(value, str | bytes):
        return Label.NONE
    label = Label.BLOB if cat.is_blob(value) else Label.NONE
    if not isinstance(value, str) or len(value) >= 4096:
        return label
    if value.startswith(("~", "/etc/", "C:\\", "c:\\", "%APPDATA%", "%TEMP%", "/Library/")):
        label |= Label.OUTSIDE
    if not flags:
        return label
    if flags & Look.SECRETS:
        if cat.secret_path(value):
            scope.secret_line = scope.secret_line or node.lineno
            label |= Label.SECRET
        elif cat.cloud_metadata(value):
            label |= Label.CLOUD
        store = ind.secret_store(value)
        if store:
            facts.stores.append((node.lineno, store))
    if flags & Look.CHANNELS:
        channel = ind.channel_credential(value)
        if channel:
            facts.channels.append((node.lineno, channel))
    if flags & Look.AUTOSTART:
        label |= Label.AUTOSTART if ind.autostart(value) else Label.NONE
        label |= Label.RCFILE if ind.rc_file(value) else Label.NONE
    if flags & Look.ENCODED:
        url = encoded_url(value)
        if url:
            facts.encoded.append((node.lineno, url))
    return label


def encoded_url(value: str) -> str | None:
    """The URL a base64 or hex literal decodes to (``aHR0cHM6Ly...`` is ``https://``)."""
    if len(value) < 12 or not value.startswith(("aHR0", "6874")):
        return None
    decoder = "base64.b64decode" if value.startswith("aHR0") else "bytes.fromhex"
    decoded = decode_literal(decoder, value)
    return hidden_url(decoded) if decoded else None


class Look:
    """Which literal classes ``constant_label`` checks, from the triage's token classes."""

    SECRETS = 1
    CHANNELS = 2
    AUTOSTART = 4
    ENCODED = 8

    @staticmethod
    def of(classes: frozenset[str]) -> int:
        flags = Look.SECRETS if "secret" in classes else 0
        flags |= Look.CHANNELS if "channel" in classes else 0
        flags |= Look.AUTOSTART if "persist" in classes else 0
        return flags | (Look.ENCODED if "b64url" in classes else 0)


def embedded_executable(value: str | bytes) -> str | None:
    """Whether a base64 or hex literal starts with an executable's magic bytes."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    head = "".join(text[:96].split())
    candidates = []
    with contextlib.suppress(ValueError, binascii.Error):
        candidates.append(base64.b64decode(head[:64] + "=" * (-len(head[:64]) % 4)))
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(head[:16]))
    for raw in candidates:
        if raw.startswith(b"MZ"):
            return "Windows"
        if raw.startswith(b"\x7fELF"):
            return "Linux"
    return None


def is_reversal(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Slice)
        and isinstance(node.step, ast.UnaryOp)
        and isinstance(node.step.op, ast.USub)
        and node.lower is None
        and node.upper is None
    )


def is_main_test(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )
