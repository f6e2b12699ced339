"""``pipgate scan [--json] [--config F] PATH... | -``: the scanner on local files.

``-`` reads one path per line from stdin. Options come from the config file's ``[[policy]]
use = "scan"`` table when there is one, else the defaults. Plain output is one line per
artifact (verdict, path, the strongest finding); ``--json`` prints one object per line,
``{"path", "verdict", "reason", "findings"}``. Exit 1 when any artifact is denied or
quarantined, 2 on bad usage. Same code as the policy: ``policies.scan``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from policies.base import PolicyError
from policies.scan import ScanOptions, ScanResult, scan_bytes, verdict
from policies.scan.policy import ScanPolicy
from proxy.settings import SettingsError, load_settings


def add_scan_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = subparsers.add_parser(
        "scan", help="review sdists and wheels for malicious code (static; nothing is run)"
    )
    scan.add_argument("--config", type=Path, help="TOML config file with a scan policy table")
    scan.add_argument("--json", action="store_true", help="one JSON object per artifact")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="artifacts, or - for stdin")
    scan.set_defaults(handler=scan_command)


def scan_command(args: argparse.Namespace) -> int:
    try:
        options = scan_options(args.config)
    except (SettingsError, PolicyError, ValueError) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 2
    paths = list(_stdin_paths(sys.stdin)) if args.paths == ["-"] else args.paths
    return run_scan(paths, options, sys.stdout, as_json=args.json)


def scan_options(config: Path | None) -> ScanOptions:
    """The scan policy's options from the config file, or the defaults."""
    if config is None:
        return ScanOptions()
    settings = load_settings(config)
    tables = [t for t in settings.policies or () if t.get("use") == ScanPolicy.name]
    if not tables:
        return ScanOptions()
    parsed = {option.name: option.parse(option.default) for option in ScanPolicy.options}
    for option in ScanPolicy.options:
        if option.name in tables[0]:
            parsed[option.name] = option.parse(tables[0][option.name])
    return ScanOptions(
        rules=parsed["rules"],
        thresholds=parsed["thresholds"],
        exempt_paths=parsed["exempt_paths"],
        max_bytes=parsed["max_size"],
    )


def _stdin_paths(stream: TextIO) -> Iterator[str]:
    for line in stream:
        text = line.strip()
        if text and not text.startswith("#"):
            yield text


def run_scan(paths: Iterable[str], options: ScanOptions, out: TextIO, *, as_json: bool) -> int:
    blocked = False
    for path in paths:
        document = scan_path(Path(path), options)
        blocked = blocked or document["verdict"] in ("deny", "quarantine")
        out.write(_render(document, as_json))
    return 1 if blocked else 0


def scan_path(path: Path, options: ScanOptions) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        # A file that cannot be read cannot be reviewed: quarantine, like an unreadable archive.
        reason = f"{path}: cannot be read ({error.strerror or error})"
        return {"path": str(path), "verdict": "quarantine", "reason": reason, "findings": []}
    result: ScanResult = scan_bytes(data, path.name, options)
    judged = verdict(result, options)
    return {
        "path": str(path),
        "verdict": judged.decision,
        "reason": judged.reason,
        "findings": [finding.as_json() for finding in result.findings],
    }


def _render(document: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(document, separators=(",", ":")) + "\n"
    return f"{document['verdict']:<10}  {document['reason']}\n"
