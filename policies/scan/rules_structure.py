"""Rules about the archive itself and what an sdist carries besides source."""

from __future__ import annotations

from policies.scan.rule_model import A, C, Rule, S

STRUCTURE_RULES = (
    # Archive structure: ambiguity that lets a scanner and an installer see different files.
    Rule("archive-unreadable", S.HIGH, A, "the archive cannot be read, so it cannot be reviewed"),
    Rule(
        "archive-limits",
        S.HIGH,
        A,
        "the archive exceeds the member-count or size limits "
        "(a decompression bomb, or too large to review)",
    ),
    Rule(
        "archive-type-mismatch",
        S.MEDIUM,
        A,
        "the file's contents are not the archive type "
        "its name says; installers that trust the contents still unpack it",
    ),
    Rule(
        "archive-duplicate-name",
        S.HIGH,
        A,
        "two members share one name; tools disagree on "
        "which one is installed (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-header-mismatch",
        S.HIGH,
        A,
        "a ZIP local header disagrees with the central directory (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-multiple-eocd",
        S.HIGH,
        A,
        "more than one ZIP end-of-central-directory record: "
        "two readers can see two different archives (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-trailing-data",
        S.MEDIUM,
        A,
        "bytes after the ZIP end record or before its "
        "first member: room for a second archive (PyPI rejects such uploads)",
    ),
    Rule(
        "archive-overlap",
        S.HIGH,
        A,
        "ZIP members overlap each other (a zip bomb or an ambiguous archive)",
    ),
    Rule(
        "archive-path",
        S.HIGH,
        A,
        "a member path is absolute or climbs out with '..': "
        "unpacking it writes outside the target directory",
    ),
    Rule(
        "archive-link",
        S.HIGH,
        A,
        "a link or device member: unpacking it can point writes "
        "or reads outside the target directory",
    ),
    Rule(
        "wheel-record-mismatch",
        S.HIGH,
        A,
        "the wheel's RECORD does not match its contents: "
        "files hidden from RECORD are installed unseen and never uninstalled",
    ),
    # Contents of sdists.
    Rule(
        "executable-in-sdist",
        S.MEDIUM,
        C,
        "a compiled executable inside a source distribution cannot be reviewed",
        "sdist-executable",
    ),
    Rule(
        "bytecode-in-sdist",
        S.LOW,
        C,
        "compiled Python bytecode inside a source distribution cannot be reviewed",
        "sdist-bytecode",
    ),
)
