"""PEP 740 verification on the proxy path: the trust root, loaded once, and a verifier that
runs ``proxy.provenance`` in a worker thread and caches results by (filename, sha256,
sha256 of the provenance object)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import sigstore.errors
from sigstore.models import ClientTrustConfig, TrustedRoot
from sigstore.verify import Verifier

from proxy.provenance import (
    ABSENT,
    AttestationResult,
    AttestationStatus,
    verify_provenance,
)

if TYPE_CHECKING:
    from proxy.settings import Settings

logger = logging.getLogger(__name__)


class TrustRootError(ValueError):
    """The sigstore trust root cannot be loaded; start-up stops with this message."""


def load_verifier(trust_root: Path | None, *, refresh: bool) -> Verifier:
    """A sigstore ``Verifier`` over ``trust_root``, or the bundled (optionally refreshed) one.

    Blocking: reads files and, with ``refresh``, talks to the sigstore TUF repository.
    """
    if trust_root is not None:
        return Verifier(trusted_root=_read_trust_root(trust_root))
    try:
        # offline: sigstore's local TUF cache, seeded from the copy bundled with sigstore.
        config = ClientTrustConfig.production(offline=not refresh)
    except sigstore.errors.TUFError as e:
        raise TrustRootError(
            f"refreshing the sigstore trust root over TUF failed ({e}); set "
            f"refresh_trust_root = false to verify offline with the bundled trust root"
        ) from e
    except OSError as e:
        raise TrustRootError(
            f"sigstore's trust-root cache {e.filename!r} cannot be written ({e.strerror}); "
            f"set XDG_CACHE_HOME to a writable directory or trust_root to a trusted_root.json"
        ) from e
    return Verifier(trusted_root=config.trusted_root)


def _read_trust_root(path: Path) -> TrustedRoot:
    try:
        return TrustedRoot.from_file(str(path))
    except OSError as e:
        raise TrustRootError(f"trust_root {str(path)!r} cannot be read: {e.strerror}") from e
    except (ValueError, sigstore.errors.Error) as e:
        raise TrustRootError(
            f"trust_root {str(path)!r} is not a sigstore trusted_root.json: {e}"
        ) from e


class AttestationVerifier:
    """Verifies provenance off the event loop, against one trust root, with a bounded cache."""

    def __init__(self, verifier: Verifier, *, cache_size: int = 4096) -> None:
        self._verifier = verifier
        self._cache: OrderedDict[tuple[str, str, str], AttestationResult] = OrderedDict()
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    @classmethod
    async def load(
        cls, trust_root: Path | None = None, *, refresh: bool = False
    ) -> AttestationVerifier:
        return cls(await asyncio.to_thread(load_verifier, trust_root, refresh=refresh))

    async def evaluate(
        self, filename: str, sha256: str | None, provenance: bytes | None
    ) -> AttestationResult:
        """The result for a file as served: absent, unverifiable without sha256, or verified."""
        if provenance is None:
            return ABSENT
        if not sha256:
            return AttestationResult(
                AttestationStatus.UNVERIFIABLE,
                reason=f"the index gives no sha256 for {filename}, and provenance names a file "
                f"by its sha256",
            )
        return await self.verify(filename, sha256, provenance)

    async def verify(self, filename: str, sha256: str, provenance: bytes) -> AttestationResult:
        key = (filename, sha256.lower(), hashlib.sha256(provenance).hexdigest())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        self.misses += 1
        result = await asyncio.to_thread(
            verify_provenance, self._verifier, filename, key[1], provenance
        )
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result


_shared: dict[tuple[Path | None, bool], AttestationVerifier] = {}
_shared_lock = threading.Lock()


async def shared_verifier(settings: Settings) -> AttestationVerifier:
    """The process's verifier for ``settings``: the app and the policy share one trust root
    (loaded, and refreshed if asked, once) and one result cache."""
    return await asyncio.to_thread(_shared_for, settings.trust_root, settings.refresh_trust_root)


def _shared_for(trust_root: Path | None, refresh: bool) -> AttestationVerifier:
    with _shared_lock:
        key = (trust_root, refresh)
        if key not in _shared:
            _shared[key] = AttestationVerifier(load_verifier(trust_root, refresh=refresh))
        return _shared[key]


__all__ = [
    "AttestationResult",
    "AttestationStatus",
    "AttestationVerifier",
    "TrustRootError",
    "load_verifier",
    "shared_verifier",
    "verify_provenance",
]
