"""Stand-in wheels for the pip test on a machine without a local wheel index.

The same 25 project names as ``tree.PIP_PROJECTS``, built with the test suite's wheel builder
at roughly their real sizes (random, incompressible payloads: 11 KB .. 17 MB, ~55 MB in all)
and with their real dependency edges, so a resolver run (without ``--no-deps``) also works.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from tree import Link, sha256_of, write_project

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.builders import build_wheel

KB = 1000
# name -> (size in bytes, dependencies)
SPEC: dict[str, tuple[int, tuple[str, ...]]] = {
    "six": (11 * KB, ()),
    "requests": (73 * KB, ("urllib3", "idna", "certifi", "charset-normalizer")),
    "urllib3": (136 * KB, ()),
    "idna": (70 * KB, ()),
    "certifi": (137 * KB, ()),
    "charset-normalizer": (270 * KB, ()),
    "attrs": (68 * KB, ()),
    "packaging": (130 * KB, ()),
    "click": (125 * KB, ()),
    "jinja2": (135 * KB, ("markupsafe",)),
    "markupsafe": (23 * KB, ()),
    "pyyaml": (807 * KB, ()),
    "numpy": (16_900 * KB, ()),
    "pydantic": (473 * KB, ("pydantic-core", "typing-extensions")),
    "pydantic-core": (2_100 * KB, ("typing-extensions",)),
    "typing-extensions": (46 * KB, ()),
    "anyio": (132 * KB, ("idna", "typing-extensions")),
    "h11": (38 * KB, ()),
    "httpx": (74 * KB, ("anyio", "certifi", "httpcore", "idna")),
    "httpcore": (79 * KB, ("certifi", "h11")),
    "rich": (311 * KB, ("pygments",)),
    "pygments": (1_250 * KB, ()),
    "sqlalchemy": (4_600 * KB, ("typing-extensions",)),
    "pandas": (11_100 * KB, ("numpy", "six")),
    "botocore": (16_000 * KB, ("urllib3",)),
}
VERSION = "1.0.0"


def build_projects(root: Path) -> tuple[list[str], dict[str, str]]:
    rng = random.Random(25)
    requirements: list[str] = []
    pip_files: dict[str, str] = {}
    for name, (size, requires) in SPEC.items():
        payload = {"payload.bin": rng.randbytes(size)}
        path = build_wheel(root / "files", name, VERSION, requires, ">=3.8", payload)
        link = Link(path.name, sha256_of(path), path.stat().st_size, ">=3.8")
        write_project(root, name, [link])
        requirements.append(f"{name}=={VERSION}")
        pip_files[link.filename] = link.sha256
    return requirements, pip_files
