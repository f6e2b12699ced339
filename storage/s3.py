"""Artifacts in S3-compatible object storage (``blob_url = s3://bucket/prefix``), with
aiobotocore: the maintained asyncio port of botocore, so signing, retries, endpoints and
credentials behave exactly as in the AWS SDK, against AWS or any S3-compatible server.

The integrity rule is the filesystem store's: nothing becomes visible under a key before
its hash was checked. ``commit`` is handed a spool file that the download already verified,
and S3 shows an object only once its upload is complete: a single PUT is atomic, and a
multipart upload (files above ``part_size``) stays invisible until it is completed; a failed
one is aborted. Each request carries Content-MD5, so the server refuses bytes damaged in
transit. Memory stays flat at any size: parts are read from disk one at a time and reads
stream ``Range`` responses in chunks. The spool stays on local disk, one per process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from storage.base import StorageError
from storage.filesystem import CHUNK_SIZE, split_blob_key
from storage.spool import ProcessSpool

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

logger = logging.getLogger(__name__)

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Files above this are uploaded in parts of this size (S3's minimum part is 5 MiB)."""
MAX_PARTS = 10_000
"""S3's limit on the parts of one upload; bigger files get bigger parts."""

_FAILURES = (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError, OSError)
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def _error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def _read_part(path: Path, offset: int, length: int) -> tuple[bytes, str]:
    """``length`` bytes at ``offset`` and their base64 MD5 (Content-MD5); runs in a thread."""
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    if len(data) != length:
        raise OSError(f"spool file {str(path)!r} shrank: {len(data)} of {length} bytes at {offset}")
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return data, base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class S3Blob:
    """A committed artifact; ``path`` is ``None`` so the HTTP layer streams it."""

    store: S3BlobStore
    key: str
    size: int
    etag: str
    """Reads are pinned to this version: a replaced object fails instead of mixing bytes."""

    @property
    def path(self) -> Path | None:
        return None

    async def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` from one ranged GET, in chunks of at most 256 KiB."""
        stop = self.size if end is None else min(end, self.size)
        if start < 0 or stop < start:
            raise ValueError(f"invalid byte range [{start}, {end}) for a {self.size}-byte blob")
        if start == stop:
            return
        async for chunk in self.store.read_range(self, start, stop):
            yield chunk


class S3BlobStore:
    """``BlobStore`` on one bucket; keys are stored as ``<prefix>/<key>``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        endpoint: str | None,
        region: str,
        access_key: str | None,
        secret_key: str | None,
        spool_root: Path,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        max_connections: int = 64,
        timeout: float = 30.0,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._endpoint = endpoint
        self._region = region
        self._credentials = (access_key, secret_key)
        self._part_size = part_size
        # Every streamed download holds a pooled connection until its client has read it.
        self._config = AioConfig(
            region_name=region,
            connect_timeout=timeout,
            read_timeout=timeout,
            max_pool_connections=max_connections,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style and Content-MD5 work on every S3-compatible server; the SDK's newer
            # default CRC trailers are refused by several of them.
            s3={"addressing_style": "path" if endpoint else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            warm_up_loader_caches=True,
        )
        self._spool = ProcessSpool(spool_root)
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None

    @property
    def where(self) -> str:
        return f"s3 bucket {self._bucket!r} at {self._endpoint or 'AWS ' + self._region}"

    @property
    def spool_dir(self) -> Path:
        return self._spool.directory

    def object_key(self, key: str) -> str:
        parts = split_blob_key(key)
        return "/".join([self._prefix, *parts] if self._prefix else parts)

    async def start(self) -> None:
        """Claim this process's local spool and open the client (no request is sent)."""
        await asyncio.to_thread(self._spool.start)
        access_key, secret_key = self._credentials
        # Missing keys fall back to the SDK's chain: environment, profile, instance role.
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=self._endpoint,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                config=self._config,
            )
        )

    def _s3(self) -> S3Client:
        if self._client is None:
            raise StorageError(f"{self.where}: the store is not started (or already closed)")
        return self._client

    def _error(self, operation: str, key: str, error: BaseException) -> StorageError:
        if isinstance(error, ClientError):
            detail = error.response.get("Error", {})
            text = f"{detail.get('Code', '?')}: {detail.get('Message', '')}".rstrip(": ")
        else:
            text = repr(error)
        return StorageError(f"{self.where}: {operation} {key!r} failed: {text}")

    async def open(self, key: str) -> S3Blob | None:
        """HEAD: the size and version of a committed object, ``None`` if there is none."""
        name = self.object_key(key)
        try:
            head = await self._s3().head_object(Bucket=self._bucket, Key=name)
        except _FAILURES as error:
            if _error_code(error) in _MISSING:
                return None
            raise self._error("HEAD", name, error) from error
        return S3Blob(store=self, key=name, size=head["ContentLength"], etag=head["ETag"])

    async def read_range(self, blob: S3Blob, start: int, stop: int) -> AsyncIterator[bytes]:
        """Stream ``[start, stop)`` of ``blob`` (``stop`` > ``start``, within its size)."""
        received = 0
        try:
            response = await self._s3().get_object(
                Bucket=self._bucket,
                Key=blob.key,
                Range=f"bytes={start}-{stop - 1}",
                IfMatch=blob.etag,
            )
            async with response["Body"] as body:
                async for chunk in body.iter_chunks(CHUNK_SIZE):
                    received += len(chunk)
                    yield chunk
        except _FAILURES as error:
            code = _error_code(error)
            if code in _MISSING or code == "PreconditionFailed":
                raise StorageError(
                    f"{self.where}: blob {blob.key!r} vanished or was replaced before it was read"
                ) from error
            raise self._error("GET", blob.key, error) from error
        if received != stop - start:
            raise StorageError(
                f"{self.where}: GET {blob.key!r} returned {received} bytes, "
                f"expected {stop - start} (bytes {start}-{stop - 1})"
            )

    async def commit(self, key: str, verified_file: Path) -> None:
        """Upload the verified spool file; the object appears whole or not at all."""
        source = Path(verified_file)
        try:
            name = self.object_key(key)
            size = (await asyncio.to_thread(os.stat, source)).st_size
            if size <= self._part_size:
                await self._put(name, source, size)
            else:
                await self._multipart(name, source, size)
        except _FAILURES as error:
            raise self._error("upload of", key, error) from error
        finally:
            # We own the spool file: after a failure nothing else will clean it up.
            await asyncio.to_thread(source.unlink, missing_ok=True)

    async def _put(self, name: str, source: Path, size: int) -> None:
        data, md5 = await asyncio.to_thread(_read_part, source, 0, size)
        await self._s3().put_object(Bucket=self._bucket, Key=name, Body=data, ContentMD5=md5)

    async def _multipart(self, name: str, source: Path, size: int) -> None:
        part_size = max(self._part_size, math.ceil(size / MAX_PARTS))
        s3 = self._s3()
        upload = await s3.create_multipart_upload(Bucket=self._bucket, Key=name)
        upload_id = upload["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, offset in enumerate(range(0, size, part_size), start=1):
                parts.append(
                    {
                        "PartNumber": number,
                        "ETag": await self._upload_part(
                            name, upload_id, number, source, offset, min(part_size, size - offset)
                        ),
                    }
                )
            await s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Shielded: a cancelled commit must still not leave parts billed and orphaned.
            await asyncio.shield(self._abort(name, upload_id))
            raise

    async def _upload_part(
        self, name: str, upload_id: str, number: int, source: Path, offset: int, length: int
    ) -> str:
        data, md5 = await asyncio.to_thread(_read_part, source, offset, length)
        response = await self._s3().upload_part(
            Bucket=self._bucket,
            Key=name,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=md5,
        )
        return response["ETag"]

    async def _abort(self, name: str, upload_id: str) -> None:
        try:
            await self._s3().abort_multipart_upload(
                Bucket=self._bucket, Key=name, UploadId=upload_id
            )
        except _FAILURES as error:
            # A bucket lifecycle rule for incomplete uploads is the backstop (deployment docs).
            logger.warning("%s", self._error("abort of upload", name, error))

    async def delete(self, key: str) -> None:
        name = self.object_key(key)
        try:
            await self._s3().delete_object(Bucket=self._bucket, Key=name)
        except _FAILURES as error:
            raise self._error("DELETE", name, error) from error

    async def check(self) -> None:
        """HEAD the bucket: reachable, existing and allowed (readiness probe)."""
        try:
            await self._s3().head_bucket(Bucket=self._bucket)
        except _FAILURES as error:
            raise self._error("HEAD bucket", self._bucket, error) from error

    async def aclose(self) -> None:
        """Close the client and remove this process's spool (downloads must be over)."""
        self._client = None
        try:
            await self._stack.aclose()
        finally:
            await asyncio.to_thread(self._spool.close)


__all__ = ["DEFAULT_PART_SIZE", "MAX_PARTS", "S3Blob", "S3BlobStore"]
