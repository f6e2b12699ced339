"""Real wheels for the pip test, copied from a local PEP 503 file index on this machine.

The index is found through pip's own configuration (``file://`` values of ``index-url``,
``extra-index-url`` and ``find-links``) or ``BENCH_LOCAL_INDEX``; it must hold all 25 projects.
Copies live under the bench work directory only (never committed).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename
from tree import Link, sha256_of, wheel_requires_python, write_project

_URL_KEYS = ("index-url", "extra-index-url", "find-links")


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _pip_config_dirs() -> list[Path]:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    dirs = []
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if not key.rsplit(".", 1)[-1].endswith(_URL_KEYS):
            continue
        for url in shlex.split(value.strip().strip("'\"")):
            parts = urlsplit(url)
            path = Path(unquote(parts.path)) if parts.scheme == "file" else Path(url)
            dirs.extend([path, path / "simple"])
    return dirs


def find_local_index(projects: list[str]) -> Path | None:
    """The first file index holding every project (``<dir>/<project>/index.html``)."""
    override = os.environ.get("BENCH_LOCAL_INDEX")
    candidates = [Path(override)] if override else _pip_config_dirs()
    for directory in candidates:
        if all((directory / p / "index.html").is_file() for p in projects):
            return directory
    return None


def _wheels(page: Path) -> list[tuple[str, Path]]:
    parser = _Anchors()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    base = page.resolve().as_uri()
    found = []
    for href in parser.hrefs:
        target = urlsplit(urljoin(base, href))
        filename = unquote(target.path.rsplit("/", 1)[-1])
        if filename.endswith(".whl") and re.fullmatch(r"[\w.+-]+", filename):
            found.append((filename, Path(unquote(target.path))))
    return found


def copy_projects(root: Path, index: Path, projects: list[str]) -> tuple[list[str], dict[str, str]]:
    """Copy every wheel of each project; pin each to its newest version."""
    requirements: list[str] = []
    pip_files: dict[str, str] = {}
    for project in projects:
        wheels = _wheels(index / project / "index.html")
        if not wheels:
            raise RuntimeError(f"{index / project}: expected at least one wheel link, found none")
        links = []
        for filename, source in wheels:
            destination = root / "files" / filename
            shutil.copyfile(source, destination)
            links.append(
                Link(
                    filename,
                    sha256_of(destination),
                    destination.stat().st_size,
                    wheel_requires_python(destination),
                )
            )
        write_project(root, str(canonicalize_name(project)), links)
        newest = max(links, key=lambda link: parse_wheel_filename(link.filename)[1])
        version = parse_wheel_filename(newest.filename)[1]
        requirements.append(f"{project}=={version}")
        for link in links:
            if parse_wheel_filename(link.filename)[1] == version:
                pip_files[link.filename] = link.sha256
    return requirements, pip_files
