"""The static upstream tree the benchmark's nginx serves: a PEP 503 HTML simple index.

``simple/<project>/index.html`` pages link to ``files/<filename>#sha256=...`` with relative
URLs (``../../files/...``), the layout of many private mirrors. Projects:

* ``synth-small``: a small page (12 tiny wheels, sha256 + data-requires-python);
* ``synth-huge``: 6,000 links (~1.2 MB of HTML), every file exists (64 random bytes each);
* ``synth-big``: a 10 MB and a 200 MB random-bytes ``.whl``;
* 25 real-world projects for ``pip download``: wheels copied from a local wheel index (found
  through pip's ``extra-index-url``/``find-links`` ``file://`` settings or ``BENCH_LOCAL_INDEX``),
  or, when there is none, wheels built here at realistic sizes (see ``tree_built``).

The tree is rebuilt only when ``TREE_VERSION`` or the source of the real wheels changes.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

TREE_VERSION = 3
SMALL, HUGE, BIG = "synth-small", "synth-huge", "synth-big"
HUGE_FILES = 6000
MIB = 1 << 20
BIG_FILES = {"10mb": ("10.0", 10 * MIB), "200mb": ("200.0", 200 * MIB)}

# The projects of the pip test: the 25 the peer research used, so numbers stay comparable.
PIP_PROJECTS = [
    "six", "requests", "urllib3", "idna", "certifi", "charset-normalizer", "attrs", "packaging",
    "click", "jinja2", "markupsafe", "pyyaml", "numpy", "pydantic", "pydantic-core",
    "typing-extensions", "anyio", "h11", "httpx", "httpcore", "rich", "pygments", "sqlalchemy",
    "pandas", "botocore",
]  # fmt: skip


@dataclass(frozen=True)
class Link:
    filename: str
    sha256: str
    size: int
    requires_python: str | None = None


@dataclass(frozen=True)
class Tree:
    root: Path
    big_files: dict[str, Link]
    """``10mb`` / ``200mb`` -> the synth-big file."""
    pip_requirements: list[str]
    """``name==version`` lines, one per pip project."""
    pip_files: dict[str, str]
    """filename -> sha256 of every wheel the pip test must download."""
    pip_source: str
    """Where the 25 projects' wheels came from (a directory or "built")."""

    @property
    def simple(self) -> Path:
        return self.root / "simple"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def render_page(project: str, links: Iterable[Link]) -> str:
    rows = []
    for link in links:
        href = f"../../files/{link.filename}#sha256={link.sha256}"
        attr = ""
        if link.requires_python:
            attr = f' data-requires-python="{html.escape(link.requires_python)}"'
        rows.append(f'<a href="{html.escape(href)}"{attr}>{html.escape(link.filename)}</a><br/>')
    title = f"Links for {html.escape(project)}"
    body = "\n".join(rows)
    head = f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
    return f"{head}<body>\n{body}\n</body></html>\n"


def write_project(root: Path, project: str, links: list[Link]) -> None:
    page = root / "simple" / project / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_page(project, links), encoding="utf-8")


def write_blob(root: Path, filename: str, data: bytes, requires_python: str | None) -> Link:
    (root / "files" / filename).write_bytes(data)
    return Link(filename, hashlib.sha256(data).hexdigest(), len(data), requires_python)


def synth_small(root: Path, rng: random.Random) -> None:
    links = [
        write_blob(root, f"synth_small-1.0.{i}-py3-none-any.whl", rng.randbytes(2048), ">=3.8")
        for i in range(12)
    ]
    write_project(root, SMALL, links)


def synth_huge(root: Path, rng: random.Random) -> None:
    links = []
    for i in range(HUGE_FILES):
        version = f"{i // 1000}.{(i // 10) % 100}.{i % 10}"
        filename = f"synth_huge-{version}-py3-none-any.whl"
        links.append(write_blob(root, filename, rng.randbytes(64), ">=3.8"))
    write_project(root, HUGE, links)


def synth_big(root: Path, rng: random.Random) -> dict[str, Link]:
    big = {}
    for label, (version, size) in BIG_FILES.items():
        filename = f"synth_big-{version}-py3-none-any.whl"
        big[label] = write_blob(root, filename, rng.randbytes(size), None)
    write_project(root, BIG, list(big.values()))
    return big


def wheel_requires_python(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                for line in archive.read(member).decode("utf-8", "replace").splitlines():
                    if not line:
                        break
                    if line.startswith("Requires-Python:"):
                        return line.partition(":")[2].strip() or None
    return None


def build(root: Path, local_index: Path | None) -> Tree:
    """Build (or reuse) the tree under ``root``; ``local_index`` is a PEP 503 file index."""
    stamp = root / "tree.json"
    source = str(local_index) if local_index else "built"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("version") == TREE_VERSION and saved.get("pip_source") == source:
            saved["big_files"] = {k: Link(**v) for k, v in saved["big_files"].items()}
            del saved["version"]
            return Tree(root=root, **{k: v for k, v in saved.items() if k != "root"})
    if root.exists():
        shutil.rmtree(root)
    (root / "files").mkdir(parents=True)
    rng = random.Random(20261121)
    synth_small(root, rng)
    synth_huge(root, rng)
    big = synth_big(root, rng)
    if local_index is not None:
        from tree_local import copy_projects  # only one of the two sources is needed

        requirements, pip_files = copy_projects(root, local_index, PIP_PROJECTS)
    else:
        from tree_built import build_projects

        requirements, pip_files = build_projects(root)
    names = sorted(p.name for p in (root / "simple").iterdir())
    index = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
    (root / "simple" / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><body>\n{index}</body></html>\n"
    )
    tree = Tree(root, big, requirements, pip_files, source)
    record = asdict(tree) | {"version": TREE_VERSION, "root": str(root)}
    stamp.write_text(json.dumps(record, indent=1))
    return tree
