"""The structure of a ZIP archive (wheels, zip sdists), parsed from its bytes.

Records what the end-of-central-directory (EOCD) records, the central directory and each
member's local header say, without judging it: ``zip_checks`` decides which
disagreements matter. Members are read from here with ``read_member``, bounded by the
sizes the directory declares. ``zipfile`` is not used because it hides exactly the
disagreements that matter (it trusts the central directory and ignores the rest).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from policies.scan.stream import (
    ArchiveError,
    LimitExceeded,
    Limits,
    ZlibError,
    inflate_head,
    inflate_raw,
)

EOCD = b"PK\x05\x06"
EOCD64 = b"PK\x06\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"
_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")
MAX_COMMENT = 0xFFFF


@dataclass(frozen=True, slots=True)
class LocalHeader:
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    name: bytes
    data_start: int


@dataclass(frozen=True, slots=True)
class ZipMember:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int
    local: LocalHeader | None
    """``None`` when no local header is found at ``offset``."""

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def data_end(self) -> int:
        start = self.local.data_start if self.local else self.offset
        return start + self.compressed


@dataclass(slots=True)
class ZipLayout:
    size: int
    eocd_offsets: list[int]
    """Every position holding a well-formed EOCD record that points at a central directory."""
    eocd_end: int
    """Where the EOCD record in use (the last one) and its comment end."""
    declared_entries: int
    members: list[ZipMember] = field(default_factory=list)


def _find_eocds(data: bytes) -> list[int]:
    """Positions of well-formed EOCD records (bytes.rfind: no copy of the archive)."""
    found = []
    pos = data.rfind(EOCD)
    while pos >= 0:
        if pos + _EOCD.size <= len(data):
            fields = _EOCD.unpack_from(data, pos)
            cd_size, cd_offset = fields[5], fields[6]
            points = cd_offset == 0xFFFFFFFF or data[cd_offset : cd_offset + 4] in (CENTRAL, EOCD)
            if points and cd_offset + cd_size <= pos:
                found.append(pos)
        pos = data.rfind(EOCD, 0, pos) if pos > 0 else -1
    return sorted(found)


def _zip64(data: bytes, eocd: int) -> tuple[int, int, int]:
    """(entries, cd_size, cd_offset) from the ZIP64 records before the EOCD at ``eocd``."""
    at = eocd - _LOCATOR.size
    if at < 0 or data[at : at + 4] != EOCD64_LOCATOR:
        raise ArchiveError("ZIP64 values without a ZIP64 locator")
    record = _LOCATOR.unpack_from(data, at)[2]
    if data[record : record + 4] != EOCD64:
        raise ArchiveError("the ZIP64 locator points at no ZIP64 record")
    fields = _EOCD64.unpack_from(data, record)
    return fields[7], fields[8], fields[9]


def _zip64_extra(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 1:
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
        pos += 4 + length
    return size, compressed, offset


def _local(data: bytes, offset: int) -> LocalHeader | None:
    if data[offset : offset + 4] != LOCAL or offset + _LOCAL.size > len(data):
        return None
    _, _, flags, method, _, _, crc, compressed, size, name_len, extra_len = _LOCAL.unpack_from(
        data, offset
    )
    name_at = offset + _LOCAL.size
    name = data[name_at : name_at + name_len]
    return LocalHeader(flags, method, crc, compressed, size, name, name_at + name_len + extra_len)


def parse_zip(data: bytes, limits: Limits) -> ZipLayout:
    # Any EOCD in the file, not only in the last 64 KiB: an earlier one is a second view of
    # the archive for readers that search from the start.
    offsets = _find_eocds(data)
    if not offsets:
        raise ArchiveError("no ZIP end-of-central-directory record")
    eocd = offsets[-1]
    _, _, _, _, entries, cd_size, cd_offset, comment_len = _EOCD.unpack_from(data, eocd)
    if 0xFFFF in (entries,) or 0xFFFFFFFF in (cd_size, cd_offset):
        entries, cd_size, cd_offset = _zip64(data, eocd)
    if entries > limits.max_members:
        raise LimitExceeded(f"more than {limits.max_members} members")
    layout = ZipLayout(len(data), offsets, eocd + _EOCD.size + comment_len, entries)
    pos = cd_offset
    end = cd_offset + cd_size
    while pos < end and data[pos : pos + 4] == CENTRAL:
        if len(layout.members) >= limits.max_members:
            raise LimitExceeded(f"more than {limits.max_members} members")
        fields = _CENTRAL.unpack_from(data, pos)
        flags, method, crc, compressed, size = fields[3], fields[4], fields[7], fields[8], fields[9]
        name_len, extra_len, comment = fields[10], fields[11], fields[12]
        offset = fields[16]
        raw = data[pos + _CENTRAL.size : pos + _CENTRAL.size + name_len]
        extra_at = pos + _CENTRAL.size + name_len
        size, compressed, offset = _zip64_extra(
            data[extra_at : extra_at + extra_len], size, compressed, offset
        )
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        layout.members.append(
            ZipMember(name, raw, flags, method, crc, compressed, size, offset, _local(data, offset))
        )
        pos = extra_at + extra_len + comment
    if pos != end:
        raise ArchiveError("the central directory does not end where the EOCD says")
    return layout


def read_member(data: bytes, member: ZipMember, limits: Limits, head: int = -1) -> bytes:
    """The member's bytes (or its first ``head`` bytes); raises ``ArchiveError``."""
    if member.local is None:
        raise ArchiveError(f"{member.name}: no local header at offset {member.offset}")
    if member.flags & 0x1:
        raise ArchiveError(f"{member.name}: encrypted")
    if member.size > limits.max_total:
        raise LimitExceeded(f"{member.name}: {member.size} bytes uncompressed")
    if member.size > 1 << 20 and member.size > limits.max_ratio * max(member.compressed, 1):
        raise LimitExceeded(f"{member.name}: expands {member.size // member.compressed}-fold")
    start = member.local.data_start
    raw = data[start : start + member.compressed]
    if len(raw) < member.compressed:
        raise ArchiveError(f"{member.name}: data runs past the end of the archive")
    if member.method == 0:
        return raw if head < 0 else raw[:head]
    if member.method != 8:
        raise ArchiveError(f"{member.name}: unsupported compression method {member.method}")
    try:
        if head >= 0:
            return inflate_head(raw, head)
        return inflate_raw(raw, member.size, limits)
    except ZlibError as error:
        raise ArchiveError(f"{member.name}: corrupt deflate data ({error})") from error
