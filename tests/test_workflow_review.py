"""The review rules on their own: waivers by scope and policy, holds matched to their
queue items, rejections, deferral of a project-level deny to a version waiver."""

from __future__ import annotations

import datetime as dt

from policies.base import Decision, Verdict
from proxy.model import DistFile
from proxy.workflow.model import Action, AuditEvent, Kind, QuarantineItem, Waiver
from proxy.workflow.review import PROJECT_KEY, Reviewer
from proxy.workflow.snapshot import ItemView

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WHEEL_1 = DistFile("demo-1.0-py3-none-any.whl", "https://files.invalid/1", {"sha256": "a" * 64})
WHEEL_2 = DistFile("demo-2.0-py3-none-any.whl", "https://files.invalid/2", {"sha256": "b" * 64})


def waiver(
    waiver_id: int = 1,
    *,
    policy: str | None = "denylist",
    version: str | None = None,
    filename: str | None = None,
) -> Waiver:
    return Waiver(
        waiver_id, "demo", version, filename, policy, "needed", "alice", NOW,
        NOW + dt.timedelta(days=1),
    )  # fmt: skip


def item(item_id: int, filename: str | None, *actions: Action) -> ItemView:
    sha256 = "a" * 64 if filename == WHEEL_1.filename else None
    held = QuarantineItem(item_id, "demo", filename, "1.0", sha256, "scan", "suspicious", NOW)
    history = [AuditEvent(1, NOW, "pipgate", Kind.QUARANTINE, item_id, Action.HELD, "held")]
    history += [
        AuditEvent(2 + i, NOW, "bob", Kind.QUARANTINE, item_id, action, "looked at it")
        for i, action in enumerate(actions)
    ]
    return ItemView(held, tuple(history))


DENY = Verdict.deny("denylist", "demo is on the denylist")


def test_a_project_waiver_lifts_a_project_deny_and_names_itself() -> None:
    reviewed, deferred = Reviewer("demo", [waiver(7)], {}).project_verdicts([DENY])

    assert deferred == []
    assert reviewed[0].waiver_id == 7
    assert not reviewed[0].blocks
    assert reviewed[0].outcome == "waived"


def test_a_waiver_of_another_policy_lifts_nothing() -> None:
    reviewed, _ = Reviewer("demo", [waiver(policy="osv")], {}).project_verdicts([DENY])

    assert reviewed[0].blocks


def test_a_waiver_for_every_policy_skips_unwaivable_ones() -> None:
    review = Reviewer("demo", [waiver(policy=None)], {}, unwaivable={"denylist"})

    reviewed, _ = review.project_verdicts([DENY])

    assert reviewed[0].blocks


def test_a_version_waiver_defers_a_project_deny_to_the_files_and_keeps_the_rest_hidden() -> None:
    review = Reviewer("demo", [waiver(version="1.0")], {})

    reviewed, deferred = review.project_verdicts([DENY])
    one = review.file_verdicts(WHEEL_1, [], deferred)
    two = review.file_verdicts(WHEEL_2, [], deferred)

    assert reviewed == []
    assert [v.outcome for v in one] == ["waived"]
    assert [v.blocks for v in two] == [True]


def test_a_file_waiver_lifts_only_that_file() -> None:
    review = Reviewer("demo", [waiver(filename=WHEEL_2.filename)], {})

    assert review.file_verdicts(WHEEL_1, [DENY])[0].blocks
    assert not review.file_verdicts(WHEEL_2, [DENY])[0].blocks


def test_a_new_hold_is_queued_once_and_still_blocks() -> None:
    review = Reviewer("demo", [], {})
    hold = Verdict.quarantine("scan", "suspicious")

    first = review.file_verdicts(WHEEL_1, [hold])
    review.file_verdicts(WHEEL_1, [hold])

    assert first[0].holds
    assert len(review.new_holds) == 1
    assert review.new_holds[0].filename == WHEEL_1.filename
    assert review.new_holds[0].sha256 == "a" * 64


def test_a_released_item_lets_its_hold_through_and_a_rejected_one_becomes_a_deny() -> None:
    hold = Verdict.quarantine("scan", "suspicious")
    released = Reviewer(
        "demo", [], {(WHEEL_1.filename, "a" * 64): item(3, WHEEL_1.filename, Action.RELEASED)}
    )
    rejected = Reviewer(
        "demo",
        [waiver(policy=None)],
        {(WHEEL_1.filename, "a" * 64): item(4, WHEEL_1.filename, Action.REJECTED)},
    )

    let_through = released.file_verdicts(WHEEL_1, [hold])[0]
    refused = rejected.file_verdicts(WHEEL_1, [hold])[0]

    assert let_through.released
    assert not let_through.blocks
    assert let_through.quarantine_id == 3
    assert refused.decision is Decision.DENY
    assert refused.quarantine_id == 4
    assert refused.blocks, "a waiver does not lift a reviewer's rejection"
    assert "rejected in review by bob" in refused.reason


def test_a_pending_item_hides_its_file_even_without_a_verdict_today() -> None:
    review = Reviewer("demo", [], {(WHEEL_1.filename, "a" * 64): item(5, WHEEL_1.filename)})

    verdicts = review.file_verdicts(WHEEL_1, [])

    assert [v.holds for v in verdicts] == [True]
    assert verdicts[0].quarantine_id == 5
    assert review.new_holds == []
    assert review.file_verdicts(WHEEL_1, [], stored=False) == []


def test_a_held_project_stays_held_until_released() -> None:
    pending = Reviewer("demo", [], {PROJECT_KEY: item(6, None)})
    released = Reviewer("demo", [], {PROJECT_KEY: item(6, None, Action.RELEASED)})

    assert pending.project_verdicts([])[0][0].holds
    assert released.project_verdicts([])[0] == []


def test_a_waiver_lifts_a_pending_hold_of_its_policy() -> None:
    review = Reviewer("demo", [waiver(policy="scan")], {})

    verdicts = review.file_verdicts(WHEEL_1, [Verdict.quarantine("scan", "suspicious")])

    assert verdicts[0].waiver_id == 1
    assert not verdicts[0].blocks
