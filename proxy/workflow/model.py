"""Waivers, quarantine items and audit events: frozen records with their JSON form.

A record is written once; what happens to it later (a waiver removed, an item released or
rejected) is an ``AuditEvent`` of its own, so two admins acting at the same moment on two
replicas can never overwrite each other, and the history is complete by construction.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from typing import Any

SYSTEM_ACTOR = "pipgate"
"""The actor of events pipgate makes itself (a policy held a file)."""


class RecordError(ValueError):
    """A stored record that cannot be read back (damaged, or written by another version)."""


class Action(enum.StrEnum):
    CREATED = "created"
    REMOVED = "removed"
    HELD = "held"
    RELEASED = "released"
    REJECTED = "rejected"


class Kind(enum.StrEnum):
    WAIVER = "waiver"
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    time: dt.datetime
    actor: str
    kind: Kind
    subject: int
    """The waiver or quarantine item id."""
    action: Action
    reason: str

    def to_bytes(self) -> bytes:
        return _dump(
            {
                "seq": self.seq,
                "time": self.time.isoformat(),
                "actor": self.actor,
                "kind": self.kind.value,
                "subject": self.subject,
                "action": self.action.value,
                "reason": self.reason,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> AuditEvent:
        data = _load(raw)
        try:
            return cls(
                seq=int(data["seq"]),
                time=_time(data["time"]),
                actor=str(data["actor"]),
                kind=Kind(data["kind"]),
                subject=int(data["subject"]),
                action=Action(data["action"]),
                reason=str(data["reason"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RecordError(f"audit event: {error}") from error


class WaiverStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Waiver:
    """Lifts the verdicts of ``policy`` (every waivable policy when ``None``) for a project,
    one version of it, or one file, until ``expires``."""

    waiver_id: int
    project: str
    version: str | None
    filename: str | None
    policy: str | None
    reason: str
    creator: str
    created: dt.datetime
    expires: dt.datetime

    @property
    def scope(self) -> str:
        if self.filename is not None:
            return f"{self.project} ({self.filename})"
        if self.version is not None:
            return f"{self.project}=={self.version}"
        return self.project

    @property
    def whole_project(self) -> bool:
        return self.version is None and self.filename is None

    def lifts(self, policy: str) -> bool:
        return self.policy is None or self.policy == policy

    def to_bytes(self) -> bytes:
        return _dump(
            {
                "id": self.waiver_id,
                "project": self.project,
                "version": self.version,
                "filename": self.filename,
                "policy": self.policy,
                "reason": self.reason,
                "creator": self.creator,
                "created": self.created.isoformat(),
                "expires": self.expires.isoformat(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Waiver:
        data = _load(raw)
        try:
            return cls(
                waiver_id=int(data["id"]),
                project=str(data["project"]),
                version=_opt(data["version"]),
                filename=_opt(data["filename"]),
                policy=_opt(data["policy"]),
                reason=str(data["reason"]),
                creator=str(data["creator"]),
                created=_time(data["created"]),
                expires=_time(data["expires"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RecordError(f"waiver: {error}") from error


class ItemState(enum.StrEnum):
    PENDING = "pending"
    RELEASED = "released"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """A file (or, with ``filename`` ``None``, a whole project) a policy held for review."""

    item_id: int
    project: str
    filename: str | None
    version: str | None
    sha256: str | None
    policy: str
    reason: str
    held: dt.datetime

    @property
    def subject(self) -> str:
        return self.filename if self.filename is not None else f"{self.project} (whole project)"

    def to_bytes(self) -> bytes:
        return _dump(
            {
                "id": self.item_id,
                "project": self.project,
                "filename": self.filename,
                "version": self.version,
                "sha256": self.sha256,
                "policy": self.policy,
                "reason": self.reason,
                "held": self.held.isoformat(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> QuarantineItem:
        data = _load(raw)
        try:
            return cls(
                item_id=int(data["id"]),
                project=str(data["project"]),
                filename=_opt(data["filename"]),
                version=_opt(data["version"]),
                sha256=_opt(data["sha256"]),
                policy=str(data["policy"]),
                reason=str(data["reason"]),
                held=_time(data["held"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RecordError(f"quarantine item: {error}") from error


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _load(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise RecordError(f"not JSON: {error}") from error
    if not isinstance(data, dict):
        raise RecordError("not a JSON object")
    return data


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


__all__ = [
    "SYSTEM_ACTOR",
    "Action",
    "AuditEvent",
    "ItemState",
    "Kind",
    "QuarantineItem",
    "RecordError",
    "Waiver",
    "WaiverStatus",
]
