"""Opens an artifact's bytes as an archive, by its magic bytes (names lie), and lists its
members with the bytes the scanner asks for. Nothing is ever extracted to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from policies.scan.archive_checks import zip_findings
from policies.scan.archive_entry import Entry, EntryType
from policies.scan.model import Finding
from policies.scan.rules import rule
from policies.scan.stream import ArchiveError, LimitExceeded, Limits
from policies.scan.tar_reader import read_tar
from policies.scan.zip_layout import ZipLayout, parse_zip, read_member

Want = Callable[[Entry], int]
"""Per member: how many bytes to read (0: none, -1: all, n: the first n)."""

_COMPRESSIONS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
_TAR_NAMES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar")
_ZIP_NAMES = (".zip", ".whl", ".egg")


def sniff(data: bytes) -> tuple[str, str | None] | None:
    """("tar", compression) or ("zip", None) from the first bytes, or ``None``."""
    for magic, compression in _COMPRESSIONS:
        if data.startswith(magic):
            return "tar", compression
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip", None
    if data[257:262] == b"ustar":
        return "tar", None
    return None


@dataclass(slots=True)
class Archive:
    data: bytes
    format: str
    compression: str | None
    limits: Limits
    findings: list[Finding] = field(default_factory=list)
    """Structure findings known once the archive is opened."""
    layout: ZipLayout | None = None

    def members(self, want: Want) -> Iterator[tuple[Entry, bytes | None]]:
        """Every member in archive order; raises ``ArchiveError``/``LimitExceeded``."""
        if self.layout is None:
            yield from read_tar(self.data, self.compression, self.limits, want)
            return
        for member in self.layout.members:
            kind = EntryType.DIR if member.is_dir else EntryType.FILE
            entry = Entry(member.name, 0 if member.is_dir else member.size, kind)
            wanted = want(entry) if kind is EntryType.FILE else 0
            content = None
            if wanted:
                content = read_member(self.data, member, self.limits, wanted)
            yield entry, content


def open_archive(data: bytes, filename: str, limits: Limits) -> Archive:
    """Raises ``ArchiveError`` when the bytes are no archive the scanner can read."""
    kind = sniff(data)
    if kind is None:
        # A self-extracting stub or other prefix before a ZIP: the EOCD still finds it.
        try:
            layout = parse_zip(data, limits)
        except (ArchiveError, LimitExceeded, IndexError) as error:
            raise ArchiveError("neither a tar nor a ZIP archive") from error
        kind = ("zip", None)
        archive = Archive(data, "zip", None, limits, layout=layout)
    elif kind[0] == "zip":
        try:
            layout = parse_zip(data, limits)
        except IndexError as error:
            raise ArchiveError("the ZIP directory runs past the end of the file") from error
        archive = Archive(data, "zip", None, limits, layout=layout)
    else:
        archive = Archive(data, "tar", kind[1], limits)
    if archive.layout is not None:
        archive.findings.extend(zip_findings(archive.layout))
    lower = filename.lower()
    named = "tar" if lower.endswith(_TAR_NAMES) else "zip" if lower.endswith(_ZIP_NAMES) else None
    if named is not None and named != archive.format:
        archive.findings.append(
            rule("archive-type-mismatch").finding(
                "", None, f"{filename} is named as a {named} archive but is a {archive.format}"
            )
        )
    return archive
