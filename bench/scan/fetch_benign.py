"""Download the benign set for the scanner's false-positive measurement.

    python bench/scan/fetch_benign.py PATH/TO/pypi.tsv [--top 200] [--jobs 4]

For each of the ``--top`` projects by the ``rank_among_15000_most_downloaded`` column it
fetches, from the public index's JSON API, the latest release's sdist and one wheel (the
one pip would pick on this machine, else a pure-Python wheel, else the first listed), with
a plain HTTP client: ``pip download`` of an sdist runs its build, which a scanner benchmark
must never do. Every file is checked against the sha256 the index gives.

Files land in ``bench/.work/scan-benign/`` (gitignored) with ``manifest.json``; files
already there with the right hash are not fetched again. Not for CI: it needs the network.
The index's base URL is derived from ``pypi_simple.PYPI_SIMPLE_ENDPOINT``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from packaging.tags import sys_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from pypi_simple import PYPI_SIMPLE_ENDPOINT

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "bench" / ".work" / "scan-benign"
RANK_COLUMN = "rank_among_15000_most_downloaded"
TIMEOUT = 60
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    project: str
    rank: int
    version: str
    kind: str
    """``sdist`` or ``wheel``."""
    filename: str
    sha256: str
    size: int


def top_projects(table: Path, top: int) -> list[tuple[int, str]]:
    with table.open(encoding="utf-8") as rows:
        header = rows.readline().rstrip("\n").split("\t")
        name_at, rank_at = header.index("name"), header.index(RANK_COLUMN)
        ranked = []
        for line in rows:
            fields = line.rstrip("\n").split("\t")
            if len(fields) > rank_at and fields[rank_at].isdigit():
                ranked.append((int(fields[rank_at]), fields[name_at]))
    return sorted(ranked)[:top]


def json_api_url(project: str) -> str:
    """The JSON API lives next to the simple index, at ``/pypi/<project>/json``."""
    return urllib.parse.urljoin(PYPI_SIMPLE_ENDPOINT, f"/pypi/{urllib.parse.quote(project)}/json")


def get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.load(response)


def pick_wheel(files: list[dict[str, Any]]) -> dict[str, Any] | None:
    wheels = [f for f in files if f["packagetype"] == "bdist_wheel"]
    priority = {str(tag): index for index, tag in enumerate(sys_tags())}

    def rank(file: dict[str, Any]) -> tuple[int, int]:
        try:
            tags = parse_wheel_filename(file["filename"])[3]
        except InvalidWheelFilename:
            return (2, 0)
        best = min((priority.get(str(tag), len(priority)) for tag in tags), default=len(priority))
        if best < len(priority):
            return (0, best)
        pure = any(tag.abi == "none" and tag.platform == "any" for tag in tags)
        return (1, 0) if pure else (2, 0)

    return min(wheels, key=rank) if wheels else None


def release_files(rank: int, project: str) -> list[tuple[Entry, str]]:
    api = json_api_url(project)
    document = get_json(api)
    version = document["info"]["version"]
    files = document["urls"]
    chosen = [f for f in files if f["packagetype"] == "sdist"][:1]
    wheel = pick_wheel(files)
    if wheel is not None:
        chosen.append(wheel)
    return [
        (
            Entry(
                project,
                rank,
                version,
                "sdist" if f["packagetype"] == "sdist" else "wheel",
                f["filename"],
                f["digests"]["sha256"],
                f["size"],
            ),
            # Mirrors in front of the index may answer with relative file URLs.
            urllib.parse.urljoin(api, f["url"]),
        )
        for f in chosen
    ]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def download(entry: Entry, url: str) -> str:
    target = CACHE / entry.filename
    if target.exists() and sha256_of(target) == entry.sha256:
        return "cached"
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response, partial.open("wb") as out:
        while block := response.read(CHUNK):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != entry.sha256:
        partial.unlink()
        raise ValueError(f"{entry.filename}: sha256 does not match the index")
    partial.replace(target)
    return "fetched"


def fetch_project(rank: int, project: str) -> list[Entry]:
    try:
        pairs = release_files(rank, project)
        for entry, url in pairs:
            print(f"{download(entry, url):<8} {entry.filename}", file=sys.stderr)
        return [entry for entry, _ in pairs]
    except (OSError, ValueError, KeyError) as error:
        print(f"failed   {project}: {error}", file=sys.stderr)
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", type=Path, help="pypi.tsv with a rank column")
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    projects = top_projects(args.table, args.top)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = pool.map(lambda pair: fetch_project(*pair), projects)
        entries = [entry for batch in results for entry in batch]
    manifest = [asdict(entry) for entry in entries]
    (CACHE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    sdists = sum(e.kind == "sdist" for e in entries)
    print(
        f"{len(entries)} files ({sdists} sdists, {len(entries) - sdists} wheels) "
        f"from {len(projects)} projects, {sum(e.size for e in entries) / 1e6:.0f} MB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
