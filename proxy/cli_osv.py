"""The OSV data a server with these settings loads, read by the offline commands
(``pipgate impact``, ``pipgate sbom``): every ``osv`` policy's ``source`` (or the
``osv_source`` setting of the default set), from disk or from the server's download."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.engine import policy_tables
from proxy.settings import Settings, load_settings

if TYPE_CHECKING:
    import argparse

    from policies.osv_db import OsvIndex
    from proxy.sbom import Advisories

__all__ = ["load_indexes", "osv_locations", "sbom_advisories"]


def osv_locations(settings: Settings) -> list[str]:
    return [
        str(table["source"])
        for table in policy_tables(settings)
        if table.get("use") == "osv" and isinstance(table.get("source"), str)
    ]


def load_indexes(settings: Settings) -> list[OsvIndex]:
    """One index per configured source; ``OsvSourceError`` if one is not on disk."""
    locations = osv_locations(settings)
    if not locations:
        return []
    # Only now: reading OSV data pulls in aiohttp (0.1 s), which `pipgate sbom` without
    # OSV data does not need.
    from policies.osv_source import OsvSourceError, local_path, read_index

    indexes = []
    for location in locations:
        path = local_path(location, settings.data_dir)
        if not path.exists():
            raise OsvSourceError(f"OSV data of {location} is not at {path} (has the server run?)")
        indexes.append(read_index(path, location))
    return indexes


def sbom_advisories(args: argparse.Namespace) -> Advisories | None:
    """``pipgate sbom``'s advisory lookup over the configured OSV data (CycloneDX only)."""
    if args.fmt != "cyclonedx":
        return None
    from proxy.audit.impact import advisories_for_sbom

    settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
    indexes = load_indexes(settings)
    return advisories_for_sbom(indexes) if indexes else None
