"""Real, installable distributions built in pure Python, byte-for-byte reproducible.

Wheels follow the binary distribution format (``.dist-info`` with METADATA 2.1, WHEEL and a
RECORD of sha256 digests); sdists follow PEP 625 (``<name>-<version>.tar.gz`` with PKG-INFO) and
build offline through a tiny in-tree PEP 517 backend (``backend-path = ["."]``, no requirements).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

# Zip cannot store times before 1980; tar uses the same instant so both are reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800

Contents = Mapping[str, str | bytes]


def escape(name: str) -> str:
    """The distribution name as it appears in wheel and sdist filenames (PEP 491/625)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def core_metadata(
    name: str, version: str, requires: Iterable[str] = (), requires_python: str | None = None
) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Summary: {name}, built for pipgate's tests")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {requirement}" for requirement in requires)
    return ("\n".join(lines) + "\n\n").encode()


def module_source(name: str, version: str) -> str:
    return f'"""{name} {version}: a test package."""\n\n__version__ = "{version}"\n'


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    files: Contents | None = None,
) -> Path:
    """A pure-Python ``py3-none-any`` wheel whose package ``escape(name)`` is importable."""
    package = escape(name)
    contents: dict[str, str | bytes] = {f"{package}/__init__.py": module_source(name, version)}
    contents.update(files or {})
    metadata = core_metadata(name, version, requires, requires_python)
    path = directory / f"{package}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wheel_bytes(package, version, metadata, contents))
    return path


def wheel_bytes(package: str, version: str, metadata: bytes, contents: Contents) -> bytes:
    dist_info = f"{package}-{version}.dist-info"
    members = {path: _as_bytes(data) for path, data in contents.items()}
    members[f"{dist_info}/METADATA"] = metadata
    members[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pipgate-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{path},sha256={_record_digest(data)},{len(data)}" for path, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def build_sdist(
    directory: Path,
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
) -> Path:
    """A PEP 625 sdist that pip and uv build offline with its own in-tree backend."""
    package = escape(name)
    root = f"{package}-{version}"
    members: dict[str, bytes] = {
        f"{root}/PKG-INFO": core_metadata(name, version, requires, requires_python),
        f"{root}/pyproject.toml": _PYPROJECT.encode(),
        f"{root}/backend.py": _BACKEND.encode(),
        f"{root}/{package}/__init__.py": module_source(name, version).encode(),
    }
    path = directory / f"{root}.tar.gz"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tar_gz(members))
    return path


def wheel_metadata(path: Path) -> bytes:
    """The exact bytes of the wheel's ``*.dist-info/METADATA`` (what PEP 658 serves)."""
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return archive.read(member)
    raise ValueError(f"{path.name} has no top-level *.dist-info/METADATA")


def sdist_metadata(path: Path) -> bytes:
    """The bytes of the sdist's top-level ``PKG-INFO``."""
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                handle = archive.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise ValueError(f"{path.name} has no top-level PKG-INFO")


def _tar_gz(members: Mapping[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
            archive.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as stream:
        stream.write(raw.getvalue())
    return compressed.getvalue()


def _record_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


_PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]
"""

# The in-tree PEP 517 backend. It runs in the installer's build environment, so it may use
# nothing but the standard library: PKG-INFO becomes METADATA, the package directory the wheel.
_BACKEND = '''\
"""A minimal PEP 517 backend: builds a py3-none-any wheel from PKG-INFO and the package."""

import base64
import hashlib
import os
import re
import zipfile
from email.parser import BytesParser

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _metadata():
    with open("PKG-INFO", "rb") as handle:
        raw = handle.read()
    headers = BytesParser().parsebytes(raw, headersonly=True)
    return raw, re.sub(r"[-_.]+", "_", headers["Name"]).lower(), headers["Version"]


def _digest(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _members(package, dist_info, metadata):
    members = {}
    for folder, _dirs, names in os.walk(package):
        for filename in sorted(names):
            path = os.path.join(folder, filename)
            if not filename.endswith(".pyc"):
                with open(path, "rb") as handle:
                    members[path.replace(os.sep, "/")] = handle.read()
    members[dist_info + "/METADATA"] = metadata
    members[dist_info + "/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: pipgate-tests-backend\\n"
        b"Root-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    return members


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    metadata, package, version = _metadata()
    dist_info = "%s-%s.dist-info" % (package, version)
    members = _members(package, dist_info, metadata)
    record = ["%s,sha256=%s,%d" % (p, _digest(d), len(d)) for p, d in members.items()]
    record.append(dist_info + "/RECORD,,")
    members[dist_info + "/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = "%s-%s-py3-none-any.whl" % (package, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return filename
'''

__all__ = [
    "build_sdist",
    "build_wheel",
    "core_metadata",
    "escape",
    "sdist_metadata",
    "sha256_file",
    "wheel_bytes",
    "wheel_metadata",
]
