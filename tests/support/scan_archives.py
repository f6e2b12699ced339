"""Harmless archives for the scanner's tests, built in memory: sdists, wheels and ZIPs
with deliberate structural defects. Nothing here is ever installed or run."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Mapping


def sdist(files: Mapping[str, bytes | str], root: str = "demo-1.0") -> bytes:
    """A .tar.gz with ``files`` under ``root/`` (``setup.py`` is a plain one by default)."""
    members = {"setup.py": "from setuptools import setup\nsetup(name='demo')\n", **files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(
    files: Mapping[str, bytes | str], *, record: bool = True, dist: str = "demo-1.0"
) -> bytes:
    """A .whl with ``files`` and a matching RECORD (or none, with ``record=False``)."""
    info = f"{dist}.dist-info"
    members = {
        **{k: v.encode() if isinstance(v, str) else v for k, v in files.items()},
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if record:
            lines = [_record_line(n, d) for n, d in members.items()] + [f"{info}/RECORD,,"]
            archive.writestr(f"{info}/RECORD", "\n".join(lines) + "\n")
    return buffer.getvalue()


def zip_with_duplicate(name: str = "demo/__init__.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about exactly what is wanted here
        archive.writestr(name, "x = 1\n")
        archive.writestr(zipfile.ZipInfo(name), "x = 2\n")
    return buffer.getvalue()


def zip_with_renamed_local_header() -> bytes:
    """The local header names another file than the central directory does."""
    data = bytearray(wheel({"demo/__init__.py": "x = 1\n"}))
    at = data.find(b"demo/__init__.py")  # the first occurrence is the local header
    data[at : at + 4] = b"evil"
    return bytes(data)


def zip_with_second_eocd() -> bytes:
    """Two complete end records: readers searching from either end disagree."""
    data = wheel({"demo/__init__.py": "x = 1\n"})
    eocd = data.rfind(b"PK\x05\x06")
    return data + data[eocd:]


def zip_bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/data.py", b"#" * size)
    return buffer.getvalue()


def eocd_count(data: bytes) -> int:
    return data.count(b"PK\x05\x06")


def local_header_name(data: bytes) -> bytes:
    length = struct.unpack_from("<H", data, 26)[0]
    return data[30 : 30 + length]
