"""Waivers and holds in the shared state: two workflows on one store stand for two
replicas; records are written once and every change is an audit event."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from packaging.utils import NormalizedName

from proxy.workflow.inputs import Target, parse_expires, parse_policy, parse_reason, parse_target
from proxy.workflow.model import Action, ItemState, WaiverStatus
from proxy.workflow.review import Hold, Reviewer
from proxy.workflow.runtime import Workflow, WorkflowError
from storage.memory import MemoryKeyValueStore

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
DEMO = NormalizedName("demo")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


async def replicas() -> tuple[Workflow, Workflow, Clock]:
    kv = MemoryKeyValueStore()
    clock = Clock()
    one, two = Workflow(kv, clock=clock), Workflow(kv, clock=clock)
    await one.start()
    await two.start()
    return one, two, clock


async def test_a_waiver_made_on_one_replica_is_seen_by_the_other_after_a_poll() -> None:
    one, two, _ = await replicas()
    seen: list[set[str]] = []
    two.listen(seen.append)

    waiver = await one.add_waiver(
        Target(DEMO), "denylist", "needed", "alice", NOW + dt.timedelta(hours=1)
    )
    assert two.reviewer("demo") is None
    await two.poll()

    review = two.reviewer("demo")
    assert review is not None
    assert [w.waiver_id for w in review.waivers] == [waiver.waiver_id]
    assert seen == [{"demo"}]
    history = two.snapshot.waiver_view(waiver.waiver_id)
    assert history is not None
    assert [(e.action, e.actor, e.reason) for e in history.history] == [
        (Action.CREATED, "alice", "needed")
    ]


async def test_an_expired_waiver_stops_matching_and_the_sweep_names_its_project() -> None:
    one, _, clock = await replicas()
    seen: list[set[str]] = []
    one.listen(seen.append)
    await one.add_waiver(Target(DEMO), None, "needed", "alice", NOW + dt.timedelta(hours=1))
    seen.clear()

    clock.now = NOW + dt.timedelta(hours=2)
    await one.poll()

    review = one.reviewer("demo")
    assert review is not None
    assert review.waivers == ()
    assert seen == [{"demo"}]
    view = one.snapshot.waiver_views()[0]
    assert view.status(clock.now) is WaiverStatus.EXPIRED


async def test_removing_a_waiver_is_audited_and_cannot_happen_twice() -> None:
    one, two, _ = await replicas()
    waiver = await one.add_waiver(Target(DEMO), None, "x", "alice", NOW + dt.timedelta(days=1))

    view = await two.remove_waiver(waiver.waiver_id, "bob", "not needed any more")

    assert view.status(NOW) is WaiverStatus.REMOVED
    assert view.removed is not None
    assert view.removed.actor == "bob"
    with pytest.raises(WorkflowError, match="already removed"):
        await one.remove_waiver(waiver.waiver_id, "carol", "again")
    with pytest.raises(LookupError, match="no waiver with id 99"):
        await one.remove_waiver(99, "carol", "missing")


async def test_replicas_holding_the_same_file_at_once_make_one_item() -> None:
    one, two, _ = await replicas()
    hold = Hold("demo", "demo-1.0.tar.gz", "1.0", "c" * 64, "scan", "suspicious")

    def reviewer() -> Reviewer:
        review = Reviewer("demo", (), {})
        review.new_holds.append(hold)
        return review

    await asyncio.gather(*(w.record_holds(reviewer()) for w in (one, two, one, two)))
    await one.refresh()
    await two.refresh()

    assert len(one.snapshot.item_views()) == 1
    assert len(two.snapshot.item_views()) == 1


async def test_release_then_reject_each_leave_an_event_and_the_last_decides() -> None:
    one, two, _ = await replicas()
    review = Reviewer("demo", (), {})
    review.new_holds.append(Hold("demo", "demo-1.0.tar.gz", "1.0", None, "scan", "odd"))
    await one.record_holds(review)
    item_id = one.snapshot.item_views()[0].item.item_id

    await one.release(item_id, "alice", "read the code")
    view = await two.reject(item_id, "bob", "found a second stage")

    assert view.state is ItemState.REJECTED
    assert [e.action for e in view.history] == [Action.HELD, Action.RELEASED, Action.REJECTED]
    with pytest.raises(WorkflowError, match="already rejected"):
        await one.reject(item_id, "carol", "again")


def test_inputs_say_what_is_wrong() -> None:
    assert parse_target("Demo_Pkg==1.0.0") == Target(NormalizedName("demo-pkg"), "1.0.0")
    assert parse_target("demo", "demo-1.0.tar.gz") == Target(DEMO, None, "demo-1.0.tar.gz")
    assert parse_policy("*") is None
    assert parse_expires("7d", NOW) == NOW + dt.timedelta(days=7)
    for text, message in [
        ("demo==not a version", "not a valid version"),
        ("../etc", "expected PROJECT"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_target(text)
    with pytest.raises(ValueError, match="at most 366 days"):
        parse_expires("400d", NOW)
    with pytest.raises(ValueError, match="not in the future"):
        parse_expires("2020-01-01", NOW)
    with pytest.raises(ValueError, match="a reason is required"):
        parse_reason("   ")
    with pytest.raises(ValueError, match="policy"):
        parse_policy("no spaces allowed")
