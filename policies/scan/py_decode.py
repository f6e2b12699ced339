"""Decoders applied to literals, decoded here, and what the decoded text turns out to be.

Encoding a literal hides it from text search and review, not from a decoder: the scanner
decodes base64 (every alphabet) and hex literals itself, never running anything, and
judges the result like any other text: a URL is a destination someone wanted hidden, a
shell command goes to ``shell.judge_command``, Python source is analysed in place.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

MAX_ENCODED = 1 << 16
"""Encoded literals longer than this are blobs (``encoded-blob``), not decoded here."""
_B64 = {
    "base64.b64decode": base64.b64decode,
    "base64.standard_b64decode": base64.standard_b64decode,
    "base64.urlsafe_b64decode": base64.urlsafe_b64decode,
    "base64.decodebytes": base64.decodebytes,
    "base64.decodestring": base64.decodebytes,
    "base64.b32decode": base64.b32decode,
    "base64.b85decode": base64.b85decode,
    "base64.a85decode": base64.a85decode,
    "binascii.a2b_base64": binascii.a2b_base64,
}
_HEX = frozenset({"binascii.unhexlify", "binascii.a2b_hex", "bytes.fromhex", "base64.b16decode"})
_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s'\"<>]{3,}", re.I)
_CODE = re.compile(r"^\s*(?:import |from \S+ import |exec\(|eval\()|\n\s*(?:import |exec\()", re.M)


def decode_literal(name: str, text: str | None) -> str | None:
    """What decoder ``name`` makes of the literal ``text``, as text; ``None`` when it is
    no decoder, the literal is unknown or too long, or the result is not text."""
    if text is None or not text or len(text) > MAX_ENCODED or "{}" in text:
        return None
    decoder: Callable[[bytes], bytes] | None = _B64.get(name)
    raw: bytes | None = None
    try:
        if decoder is not None:
            padded = text.strip() + "=" * (-len(text.strip()) % 4)
            raw = decoder(padded.encode("latin-1"))
        elif name in _HEX:
            raw = bytes.fromhex("".join(text.split()))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None
    if raw is None:
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c in "\r\n\t" for c in decoded)
    return decoded if decoded and printable >= 0.95 * len(decoded) else None


def hidden_url(text: str) -> str | None:
    match = _URL.search(text)
    return match.group(0) if match else None


def looks_like_code(text: str) -> bool:
    return bool(_CODE.search(text))
