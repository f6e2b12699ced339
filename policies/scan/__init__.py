"""Static review of an artifact's contents (sdists and wheels) before it is served.

The scanner reads an archive's bytes in memory, never extracts, imports, builds or runs
anything, and reports findings (rule, severity, file, line, excerpt, why) that a verdict
turns into ``deny | quarantine | warn | allow``. It is a leaf package: it may import the
standard library, its third-party dependencies (yara-x, zlib-ng) and at most
``policies.base``; never ``proxy.*``, so that the command line, the proxy chain and the
benchmarks all run the same code.
"""

from policies.scan.model import Finding, ScanResult, Severity
from policies.scan.options import ScanOptions
from policies.scan.scanner import scan_bytes
from policies.scan.verdict import ScanVerdict, verdict

__all__ = [
    "Finding",
    "ScanOptions",
    "ScanResult",
    "ScanVerdict",
    "Severity",
    "scan_bytes",
    "verdict",
]
