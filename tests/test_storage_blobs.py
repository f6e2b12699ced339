"""FilesystemBlobStore: atomic publication, ranged reads, containment, readiness."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.errors import InvalidName
from storage.base import BlobStore, StorageError
from storage.filesystem import CHUNK_SIZE, FilesystemBlobStore

REPO = Path(__file__).resolve().parents[1]
KEY = "dist/foo/foo-1.0-py3-none-any.whl"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FilesystemBlobStore]:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    await blobs.start()
    yield blobs
    await blobs.aclose()


def spool(store: FilesystemBlobStore, data: bytes, name: str = "download") -> Path:
    path = store.spool_dir / name
    path.write_bytes(data)
    return path


async def read_all(
    store: FilesystemBlobStore, key: str, start: int = 0, end: int | None = None
) -> bytes:
    blob = await store.open(key)
    assert blob is not None
    return b"".join([chunk async for chunk in blob.iter_range(start, end)])


def test_satisfies_the_protocol(tmp_path: Path) -> None:
    blobs: BlobStore = FilesystemBlobStore(tmp_path)
    assert blobs.spool_dir.parent == tmp_path / ".spool", "one spool per process under .spool"


async def test_nothing_is_visible_before_commit(store: FilesystemBlobStore) -> None:
    download = spool(store, b"wheel bytes")
    assert await store.open(KEY) is None
    assert not (store.root / KEY).exists()

    await store.commit(KEY, download)

    blob = await store.open(KEY)
    assert blob is not None
    assert blob.size == len(b"wheel bytes")
    assert blob.path == store.root / KEY
    assert await read_all(store, KEY) == b"wheel bytes"
    assert not download.exists()
    assert list(store.spool_dir.iterdir()) == []


async def test_commit_replaces_an_existing_blob(store: FilesystemBlobStore) -> None:
    await store.commit(KEY, spool(store, b"old"))
    await store.commit(KEY, spool(store, b"new"))
    assert await read_all(store, KEY) == b"new"


async def test_start_clears_spool_leftovers(tmp_path: Path) -> None:
    first = FilesystemBlobStore(tmp_path)
    await first.start()
    await first.commit(KEY, spool(first, b"kept"))
    await first.aclose()
    # What a killed process leaves: its spool and an unlocked lock file, plus old-layout files.
    dead = tmp_path / ".spool" / "4242-dead"
    (dead / "partial-dir").mkdir(parents=True)
    (dead / "partial-1").write_bytes(b"half a download")
    (tmp_path / ".spool" / "4242-dead.lock").write_bytes(b"")
    (tmp_path / ".spool" / "old-layout.part").write_bytes(b"x")

    restarted = FilesystemBlobStore(tmp_path)
    await restarted.start()

    own_lock = restarted.spool_dir.with_name(restarted.spool_dir.name + ".lock")
    assert sorted((tmp_path / ".spool").iterdir()) == sorted([restarted.spool_dir, own_lock])
    assert list(restarted.spool_dir.iterdir()) == []
    assert await read_all(restarted, KEY) == b"kept"


async def test_ranged_reads(store: FilesystemBlobStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 1234)
    await store.commit(KEY, spool(store, data))
    blob = await store.open(KEY)
    assert blob is not None

    chunks = [chunk async for chunk in blob.iter_range()]
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == CHUNK_SIZE
    for start, end in [
        (0, 1),
        (10, 20),
        (CHUNK_SIZE - 1, CHUNK_SIZE + 1),
        (CHUNK_SIZE, None),
        (len(data) - 1, None),
        (len(data), None),
        (5, len(data) + 100),
        (7, 7),
    ]:
        assert await read_all(store, KEY, start, end) == data[start:end], (start, end)


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 5)])
async def test_invalid_ranges_are_refused(
    store: FilesystemBlobStore, start: int, end: int | None
) -> None:
    await store.commit(KEY, spool(store, b"0123456789abcdef"))
    with pytest.raises(ValueError, match="invalid byte range"):
        await read_all(store, KEY, start, end)


async def test_reading_a_deleted_blob_is_a_storage_error(store: FilesystemBlobStore) -> None:
    await store.commit(KEY, spool(store, b"data"))
    blob = await store.open(KEY)
    assert blob is not None
    await store.delete(KEY)
    with pytest.raises(StorageError, match="vanished"):
        await anext(aiter(blob.iter_range()))


async def test_delete(store: FilesystemBlobStore) -> None:
    await store.commit(KEY, spool(store, b"data"))
    await store.delete(KEY)
    assert await store.open(KEY) is None
    await store.delete(KEY)  # deleting a missing blob is not an error


async def test_directories_are_not_blobs(store: FilesystemBlobStore) -> None:
    await store.commit(KEY, spool(store, b"data"))
    assert await store.open("dist/foo") is None


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "dist/../../x",
        "dist/./x",
        "/abs/key",
        "dist//x",
        ".spool/download",
        "dist/foo/.hidden",
        "dist\\..\\x",
        "dist/x\x00",
    ],
)
async def test_keys_cannot_escape_or_reach_private_files(
    store: FilesystemBlobStore, key: str
) -> None:
    download = spool(store, b"data")
    with pytest.raises(InvalidName, match="invalid blob key"):
        await store.open(key)
    with pytest.raises(InvalidName, match="invalid blob key"):
        await store.delete(key)
    with pytest.raises(InvalidName, match="invalid blob key"):
        await store.commit(key, download)
    assert not download.exists(), "commit takes ownership of the spool file even on failure"


async def test_symlinks_cannot_lead_outside_the_root(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret-1.0.tar.gz").write_bytes(b"secret")
    (store.root / "dist").mkdir()
    (store.root / "dist" / "evil").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidName, match="resolves outside"):
        await store.open("dist/evil/secret-1.0.tar.gz")
    with pytest.raises(InvalidName, match="resolves outside"):
        await store.commit("dist/evil/planted-1.0.tar.gz", spool(store, b"x"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret-1.0.tar.gz"]


async def test_commit_across_filesystems_stays_atomic(
    store: FilesystemBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "other-spool" / "download"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"from another filesystem")
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        # Simulate a spool on another device: only the store's own staging may be renamed.
        if Path(src) == elsewhere:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    await store.commit(KEY, elsewhere)

    assert await read_all(store, KEY) == b"from another filesystem"
    assert not elsewhere.exists()
    assert list(store.spool_dir.iterdir()) == []


async def test_failed_commit_is_a_storage_error_and_publishes_nothing(
    store: FilesystemBlobStore,
) -> None:
    (store.root / "dist").write_bytes(b"a file where a directory must go")
    download = spool(store, b"data")
    with pytest.raises(StorageError, match=r"blob 'dist/foo/.*' cannot be committed"):
        await store.commit(KEY, download)
    assert not download.exists()


async def test_check_passes_on_a_writable_store(store: FilesystemBlobStore) -> None:
    await store.check()
    assert list(store.root.iterdir()) == [store.spool_dir.parent], "the probe leaves no file"
    assert list(store.spool_dir.iterdir()) == []


async def test_check_fails_when_root_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "blobs").write_bytes(b"")
    with pytest.raises(StorageError, match="is not a directory"):
        await FilesystemBlobStore(tmp_path / "blobs").check()


async def test_start_fails_with_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "blobs").write_bytes(b"")
    with pytest.raises(StorageError, match="cannot be prepared"):
        await FilesystemBlobStore(tmp_path / "blobs").start()


CHECK_SCRIPT = """
import asyncio, sys
from pathlib import Path
from storage.base import StorageError
from storage.filesystem import FilesystemBlobStore
try:
    asyncio.run(FilesystemBlobStore(Path(sys.argv[1])).check())
except StorageError as error:
    print(error)
    sys.exit(3)
"""


def _drop_dac_capabilities() -> None:
    """In the child: lose root's power to write into read-only directories (CAP_DAC_*)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_check_fails_on_a_read_only_directory(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    (root / ".spool").mkdir(parents=True)
    root.chmod(0o555)
    try:
        # Root ignores permission bits, so as root the check runs without CAP_DAC_OVERRIDE.
        result = subprocess.run(
            [sys.executable, "-c", CHECK_SCRIPT, str(root)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=_drop_dac_capabilities if os.geteuid() == 0 else None,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        root.chmod(0o755)
    assert result.returncode == 3, result.stderr
    assert "is not writable" in result.stdout
    assert str(root) in result.stdout
