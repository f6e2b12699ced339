"""``pipgate osv-bundle -o FILE``: the OSV data a connected pipgate holds, as one zip for
an air-gapped one.

On the connected side the bundle is made from what the server loads (every ``osv``
policy's source, or ``--source``): a directory, a ``.json``, an ``all.zip``, the download
of a URL or the records of a mirrored ecosystem directory. On the air-gapped side the
zip is a plain ``source = "/path/bundle.zip"``; replacing it with ``mv`` (a new file, one
rename) makes the next refresh load it, with the same targeted invalidation and alerts
as a download.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from proxy.settings import SettingsError, load_settings

__all__ = ["MANIFEST", "add_bundle_command", "write_bundle"]

MANIFEST = "pipgate-osv-bundle.manifest"
"""Not ``*.json``: a reader of the bundle takes every ``.json`` member for a record."""


class BundleError(Exception):
    pass


def add_bundle_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = subparsers.add_parser(
        "osv-bundle", help="write the OSV data pipgate holds as one zip (for air-gapped sites)"
    )
    where = bundle.add_mutually_exclusive_group()
    where.add_argument("--data-dir", metavar="DIR", help="pipgate's data directory")
    where.add_argument("--config", type=Path, metavar="F", help="pipgate's TOML config file")
    bundle.add_argument(
        "--source", action="append", metavar="LOC", help="an OSV source (default: the config's)"
    )
    bundle.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    bundle.set_defaults(handler=bundle_command)


def _members(path: Path, location: str) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for item in sorted(path.rglob("*.json")):
            yield item.name, item.read_bytes()
    elif path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".json"):
                    yield Path(info.filename).name, archive.read(info)
    elif path.is_file():
        yield path.name if path.suffix == ".json" else f"{path.name}.json", path.read_bytes()
    else:
        raise BundleError(f"OSV data of {location} is not at {path} (has the server run?)")


def write_bundle(sources: list[tuple[str, Path]], output: Path) -> int:
    """Write the bundle (whole, then renamed into place); the number of records in it."""
    seen: set[str] = set()
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex}.part")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for location, path in sources:
                for name, data in _members(path, location):
                    if name not in seen:  # the first source that has a record wins
                        seen.add(name)
                        archive.writestr(name, data)
            manifest = {
                "created": dt.datetime.now(dt.UTC).isoformat(),
                "sources": [location for location, _ in sources],
                "records": len(seen),
            }
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return len(seen)


def bundle_command(args: argparse.Namespace) -> int:
    from policies.osv_source import OsvSourceError, local_path, read_index
    from proxy.cli_osv import osv_locations

    try:
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
        locations = args.source or osv_locations(settings)
        if not locations:
            raise BundleError("no OSV source is configured; name one with --source")
        sources = [(location, local_path(location, settings.data_dir)) for location in locations]
        count = write_bundle(sources, args.output)
        index = read_index(args.output)  # the bundle reads back as pipgate will read it
    except (SettingsError, BundleError, OSError, OsvSourceError) as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return 2 if isinstance(error, SettingsError) else 1
    print(
        f"pipgate: wrote {count} OSV record(s) ({index.records} for PyPI, "
        f"{len(index)} projects) to {args.output}",
        file=sys.stderr,
    )
    return 0
