"""Token secrets are stored as argon2id hashes (argon2-cffi, the maintained binding of the
reference implementation).

The secrets are 256 random bits, so the hash is not what stops guessing; it is what makes a
leaked copy of the shared state (a Redis dump, a backup of the data dir) worthless. The
parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): about 20 ms per
verification on one core, paid once per token per few seconds thanks to the verified-token
cache. Verifications run in worker threads, a few at a time, so a burst of bad tokens can
neither block the event loop nor take all the memory.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
MAX_CONCURRENT = 4


class SecretHasher:
    def __init__(
        self,
        time_cost: int = TIME_COST,
        memory_kib: int = MEMORY_KIB,
        max_concurrent: int = MAX_CONCURRENT,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=PARALLELISM
        )
        self._slots = asyncio.Semaphore(max_concurrent)

    def hash(self, secret: str) -> str:
        """The PHC string (``$argon2id$v=19$m=...``) of ``secret``, with a fresh salt."""
        return self._hasher.hash(secret)

    def matches(self, stored_hash: str, secret: str) -> bool:
        """Whether ``secret`` is the one ``stored_hash`` was made from (constant time)."""
        try:
            return self._hasher.verify(stored_hash, secret)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            return False

    async def matches_async(self, stored_hash: str, secret: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self.matches, stored_hash, secret)


__all__ = ["SecretHasher"]
