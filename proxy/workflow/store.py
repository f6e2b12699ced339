"""Waivers, quarantine items and audit events in the shared key-value state.

Keys (under the state store's own prefix, e.g. ``pipgate:state:`` on Redis):

- ``workflow:waiver-seq`` / ``workflow:waiver:<id>``: waivers, written once;
- ``workflow:item-seq`` / ``workflow:item:<id>``: quarantine items, written once;
- ``workflow:item-claim:<digest>`` and ``workflow:item-subject:<digest>``: one item per held
  file (project, filename, sha256) however many replicas see the hold at once: the first
  ``incr`` of the claim creates it, the others read its id;
- ``workflow:event-seq`` / ``workflow:event:<n>``: the audit trail, append-only;
- ``workflow:generation``: bumped after every write; each process polls it and reads what
  is new (``proxy.workflow.snapshot``).

Nothing is ever overwritten, so there is no lost update between replicas and nothing to
lock: the state of a waiver or item is its record plus its events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import TypeVar

from proxy.workflow.model import (
    Action,
    AuditEvent,
    Kind,
    QuarantineItem,
    RecordError,
    Waiver,
)
from storage.base import KeyValueStore, StorageError

GENERATION_KEY = "workflow:generation"
WAIVER_SEQ = "workflow:waiver-seq"
ITEM_SEQ = "workflow:item-seq"
EVENT_SEQ = "workflow:event-seq"
ABANDONED_CLAIM = 10
"""Claims of one subject after which a missing item is created anyway: the first claimer
died between its claim and its write."""

_T = TypeVar("_T")


def waiver_key(waiver_id: int) -> str:
    return f"workflow:waiver:{waiver_id}"


def item_key(item_id: int) -> str:
    return f"workflow:item:{item_id}"


def event_key(seq: int) -> str:
    return f"workflow:event:{seq}"


def subject_digest(project: str, filename: str | None, sha256: str | None) -> str:
    text = f"{project}\0{filename or ''}\0{sha256 or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class WorkflowStore:
    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv

    async def add_waiver(self, waiver: Waiver, now: dt.datetime) -> Waiver:
        """Store ``waiver`` under a new id (its ``waiver_id`` is ignored) with its event."""
        waiver_id = await self._kv.incr(WAIVER_SEQ)
        stored = Waiver(
            waiver_id=waiver_id,
            project=waiver.project,
            version=waiver.version,
            filename=waiver.filename,
            policy=waiver.policy,
            reason=waiver.reason,
            creator=waiver.creator,
            created=waiver.created,
            expires=waiver.expires,
        )
        await self._kv.set(waiver_key(waiver_id), stored.to_bytes())
        await self.append(
            Kind.WAIVER, waiver_id, Action.CREATED, waiver.creator, waiver.reason, now
        )
        return stored

    async def hold(self, item: QuarantineItem, actor: str, now: dt.datetime) -> int | None:
        """The id of the one item for ``item``'s file, creating it if this call is the first;
        ``None`` while another process is still writing it."""
        digest = subject_digest(item.project, item.filename, item.sha256)
        subject_key = f"workflow:item-subject:{digest}"
        claims = await self._kv.incr(f"workflow:item-claim:{digest}")
        if claims > 1:
            existing = await self._kv.get(subject_key)
            if existing is not None:
                return int(existing)
            if claims < ABANDONED_CLAIM:
                return None
        item_id = await self._kv.incr(ITEM_SEQ)
        stored = QuarantineItem(
            item_id=item_id,
            project=item.project,
            filename=item.filename,
            version=item.version,
            sha256=item.sha256,
            policy=item.policy,
            reason=item.reason,
            held=item.held,
        )
        await self._kv.set(item_key(item_id), stored.to_bytes())
        await self._kv.set(subject_key, str(item_id).encode())
        await self.append(Kind.QUARANTINE, item_id, Action.HELD, actor, item.reason, now)
        return item_id

    async def append(
        self, kind: Kind, subject: int, action: Action, actor: str, reason: str, now: dt.datetime
    ) -> AuditEvent:
        """Add one audit event and tell every process (the generation)."""
        seq = await self._kv.incr(EVENT_SEQ)
        event = AuditEvent(seq, now, actor, kind, subject, action, reason)
        await self._kv.set(event_key(seq), event.to_bytes())
        await self._kv.incr(GENERATION_KEY)
        return event

    async def waiver(self, waiver_id: int) -> Waiver | None:
        raw = await self._kv.get(waiver_key(waiver_id))
        return None if raw is None else _read(Waiver.from_bytes, raw, f"waiver {waiver_id}")

    async def item(self, item_id: int) -> QuarantineItem | None:
        raw = await self._kv.get(item_key(item_id))
        if raw is None:
            return None
        return _read(QuarantineItem.from_bytes, raw, f"quarantine item {item_id}")

    async def event(self, seq: int) -> AuditEvent | None:
        raw = await self._kv.get(event_key(seq))
        return None if raw is None else _read(AuditEvent.from_bytes, raw, f"audit event {seq}")

    async def sequences(self) -> tuple[int, int, int]:
        """The highest waiver, item and event ids handed out so far."""
        return (
            await self._counter(WAIVER_SEQ),
            await self._counter(ITEM_SEQ),
            await self._counter(EVENT_SEQ),
        )

    async def generation(self) -> int:
        return await self._counter(GENERATION_KEY)

    async def _counter(self, key: str) -> int:
        raw = await self._kv.get(key)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError as error:
            raise StorageError(f"{key!r} holds {raw[:40]!r}, not an integer") from error


def _read(parse: Callable[[bytes], _T], raw: bytes, what: str) -> _T:
    try:
        return parse(raw)
    except RecordError as error:
        raise StorageError(f"{what}: {error}") from error


__all__ = ["GENERATION_KEY", "WorkflowStore", "subject_digest"]
