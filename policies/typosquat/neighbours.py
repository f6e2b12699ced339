"""Finds the protected names within one edit of a query in about ``len(name)`` lookups.

A deletion neighbourhood: every protected flat name and each of its one-character
deletions is a key, and a query looks up itself and its own deletions. That finds every
name within one insertion, deletion, substitution or adjacent swap (plus some at two,
which the caller drops).

The keys are kept compact: an open-addressing hash table in two flat ``array``s (32 bits
of the key's ``hash``, its low bits choosing the slot, and the name's number), about
200,000 entries in 4 MiB where a dictionary of strings took tens of megabytes per worker.
Only hashes are stored, so a collision adds a candidate, which the distance check then
drops. ``hash`` of a string
differs between processes, which is fine: the table lives in the process that built it.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

_TAG = (1 << 32) - 1
LOAD = 0.4
"""At most this share of the slots is used, so that a lookup probes about two slots."""


def self_and_deletions(word: str) -> list[str]:
    return [word, *(word[:index] + word[index + 1 :] for index in range(len(word)))]


class DeletionIndex:
    def __init__(self, words: Sequence[str]) -> None:
        # Sized for the upper bound of keys, filled in place: no list of 200,000 tuples
        # is ever built, so building does not leave the heap larger than the table.
        size = 1 << max(int(sum(len(word) + 1 for word in words) / LOAD).bit_length(), 4)
        self._mask = size - 1
        self._hashes = array("I", bytes(4 * size))
        self._numbers = array("i", bytes(4 * size))
        hashes, numbers, mask = self._hashes, self._numbers, self._mask
        entries = 0
        for number, word in enumerate(words):
            for full in map(hash, self_and_deletions(word)):
                slot = full & mask
                key_hash = (full >> 32) & _TAG or 1  # 0 marks an empty slot
                while stored := hashes[slot]:
                    if stored == key_hash and numbers[slot] == number:
                        break  # the same key twice for one word ("boot" without an "o")
                    slot = (slot + 1) & mask
                else:
                    hashes[slot] = key_hash
                    numbers[slot] = number
                    entries += 1
        self._entries = entries

    def __len__(self) -> int:
        return self._entries

    @property
    def nbytes(self) -> int:
        return self._hashes.itemsize * len(self._hashes) + self._numbers.itemsize * len(
            self._numbers
        )

    def candidates(self, query: str) -> set[int]:
        """Numbers of the words that share a key with ``query``: all within one edit."""
        found: set[int] = set()
        hashes, numbers, mask = self._hashes, self._numbers, self._mask
        for full in map(hash, self_and_deletions(query)):
            slot = full & mask
            key_hash = (full >> 32) & _TAG or 1
            while stored := hashes[slot]:
                if stored == key_hash:
                    found.add(numbers[slot])
                slot = (slot + 1) & mask
        return found
