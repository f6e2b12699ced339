"""Compiled files inside source distributions, recognised by magic bytes (names lie)."""

from __future__ import annotations

HEAD = 64
"""Bytes of each sdist member read to recognise it."""

_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def executable_kind(head: bytes) -> str | None:
    """ "ELF", "PE", "Mach-O" or ``None``."""
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head.startswith(b"MZ") and len(head) >= 64:
        # e_lfanew points at the PE header; DOS stubs of real executables keep it small.
        offset = int.from_bytes(head[60:64], "little")
        if 64 <= offset < 4096:
            return "PE"
    if head.startswith(_MACHO):
        return "Mach-O"
    # 0xCAFEBABE is both a fat Mach-O and a Java class; a fat header counts a few arches.
    if head.startswith(b"\xca\xfe\xba\xbe") and 0 < int.from_bytes(head[4:8], "big") < 20:
        return "Mach-O"
    return None


def is_bytecode(name: str, head: bytes) -> bool:
    return name.endswith((".pyc", ".pyo")) and head[2:4] == b"\r\n"
