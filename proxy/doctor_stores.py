"""``pipgate doctor``'s backend checks: open each store the way ``pipgate serve`` does
(``storage.factory``), then write, read back and delete a probe entry in it.

Probes leave nothing behind: a blob and key-value entries under a random name, deleted
again; a lock taken and released; a fetch-log row dated 1970, removed with ``prune`` (no
real row is that old).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable

from proxy.doctor_findings import Finding, fail, ok, one_line
from proxy.redact import mask_url
from proxy.settings import Settings
from storage.base import BlobStore, FetchQuery, FetchRecord, KeyValueStore, LockManager
from storage.factory import (
    BackendInfo,
    describe_backends,
    open_blob_store,
    open_fetchlog,
    open_shared_stores,
)
from storage.keys import blob_key

PROBE_TIMEOUT = 20.0
"""Seconds one backend may take to open and answer its probe."""
PROBE_PROJECT = "pipgate-doctor-probe"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _where(info: BackendInfo) -> str:
    location = mask_url(info.location) if "://" in info.location else info.location
    return f"{info.kind} {location}"


def fix_for(info: BackendInfo, settings: Settings) -> str:
    """The setting to change when the backend of ``info`` does not work."""
    if info.kind == "redis":
        return (
            f"start Redis at {mask_url(settings.cache_url)} or correct cache_url "
            f"(empty = embedded stores in data_dir)"
        )
    if info.kind == "s3":
        return (
            "check blob_url (s3://bucket/prefix), s3_endpoint, s3_region and the "
            "s3_access_key/s3_secret_key credentials; the bucket must exist"
        )
    if info.kind == "postgresql":
        return (
            "check fetchlog_url: the server must answer, the database exist and the user "
            "may create a table (empty = SQLite in data_dir)"
        )
    if info.role == "blobs" and settings.blob_url:
        return f"make {info.location} a writable directory, or correct blob_url"
    if info.role == "fetch log" and settings.fetchlog_url:
        return f"make the directory of {info.location} writable, or correct fetchlog_url"
    return (
        f"make {settings.data_dir} a writable directory (setting data_dir, "
        f"flag --data-dir, or PIPGATE_DATA_DIR)"
    )


async def _blob_probe(store: BlobStore) -> str:
    filename = f"pipgate_doctor_probe-0.{secrets.randbelow(10**9)}.tar.gz"
    key = blob_key(PROBE_PROJECT, filename)
    payload = secrets.token_bytes(64)
    spool = store.spool_dir / f"doctor-{secrets.token_hex(8)}"
    await asyncio.to_thread(spool.write_bytes, payload)
    await store.commit(key, spool)
    try:
        blob = await store.open(key)
        if blob is None:
            raise RuntimeError("a committed blob could not be opened again")
        read = b"".join([chunk async for chunk in blob.iter_range()])
        if read != payload:
            raise RuntimeError(f"read back {len(read)} bytes, not the {len(payload)} written")
    finally:
        await store.delete(key)
    if await store.open(key) is not None:
        raise RuntimeError("a deleted blob can still be opened")
    return "blob written, read back and deleted"


async def _kv_probe(store: KeyValueStore) -> str:
    key = f"doctor-probe:{secrets.token_hex(8)}"
    value = secrets.token_bytes(32)
    await store.set(key, value, ttl=300)
    try:
        if await store.get(key) != value:
            raise RuntimeError("a value written could not be read back")
    finally:
        await store.delete(key)
    if await store.get(key) is not None:
        raise RuntimeError("a deleted key can still be read")
    return "key written, read back and deleted"


async def _lock_probe(locks: LockManager) -> str:
    async with locks.lock(f"doctor-probe-{secrets.token_hex(8)}", timeout=5.0):
        pass
    return "lock taken and released"


async def _run(
    info: BackendInfo, settings: Settings, probe: Callable[[], Awaitable[str]]
) -> Finding:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            detail = await probe()
    except Exception as error:
        detail = (
            f"no answer within {PROBE_TIMEOUT:g} s"
            if isinstance(error, TimeoutError)
            else one_line(error)
        )
        return fail(info.role, _where(info), detail, fix_for(info, settings))
    return ok(info.role, _where(info), detail)


async def check_blobs(settings: Settings, info: BackendInfo) -> Finding:
    async def probe() -> str:
        async with open_blob_store(settings) as store:
            return await _blob_probe(store)

    return await _run(info, settings, probe)


async def check_shared(settings: Settings, infos: dict[str, BackendInfo]) -> list[Finding]:
    """Pages, state and locks: opened together (one Redis, or the data dir), probed apart."""
    roles = ("pages", "state", "locks")
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            async with open_shared_stores(settings) as (pages, state, locks):
                return [
                    await _run(infos["pages"], settings, lambda: _kv_probe(pages)),
                    await _run(infos["state"], settings, lambda: _kv_probe(state)),
                    await _run(infos["locks"], settings, lambda: _lock_probe(locks)),
                ]
    except Exception as error:  # opening (or closing) failed: every role shares the cause
        detail = (
            f"no answer within {PROBE_TIMEOUT:g} s"
            if isinstance(error, TimeoutError)
            else one_line(error)
        )
        return [
            fail(role, _where(infos[role]), detail, fix_for(infos[role], settings))
            for role in roles
        ]


async def check_fetchlog(settings: Settings, info: BackendInfo) -> Finding:
    async def probe() -> str:
        client = f"pipgate-doctor-{secrets.token_hex(4)}"
        row = FetchRecord(time=_EPOCH, client=client, kind="doctor-probe", project=None, status=0)
        async with open_fetchlog(settings) as log:
            await log.append_durable(row)
            found = await log.query(FetchQuery(client=client, until=_EPOCH + dt.timedelta(days=1)))
            removed = await log.prune(_EPOCH + dt.timedelta(days=1))
            if not found:
                raise RuntimeError("a row written could not be read back")
            if removed < 1:
                raise RuntimeError("the probe row could not be deleted")
        return "row written, read back and deleted"

    return await _run(info, settings, probe)


async def check_backends(settings: Settings) -> list[Finding]:
    """One finding per backend role, in the order ``describe_backends`` lists them."""
    infos = {info.role: info for info in describe_backends(settings)}
    try:
        await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    except OSError as error:
        info = infos["state"]
        detail = f"data dir {settings.data_dir} cannot be created: {one_line(error)}"
        return [fail("data dir", str(settings.data_dir), detail, fix_for(info, settings))]
    findings = [await check_blobs(settings, infos["blobs"])]
    findings += await check_shared(settings, infos)
    findings.append(await check_fetchlog(settings, infos["fetch log"]))
    return findings


__all__ = ["check_backends", "fix_for"]
