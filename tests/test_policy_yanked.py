"""``yanked``: hides yanked files entirely when enabled."""

from __future__ import annotations

from policies.yanked import YankedPolicy
from tests.support.fake_repository import dist, page


def test_yanked_files_are_denied_with_the_yank_reason() -> None:
    verdict = YankedPolicy().check_file(
        page("demo"), dist("demo-1.0.tar.gz", yanked="broken build")
    )
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason.startswith(
        "demo 1.0 (demo-1.0.tar.gz) was yanked by its maintainers: broken build;"
    )


def test_yanked_without_reason() -> None:
    verdict = YankedPolicy().check_file(page("demo"), dist("demo-1.0.tar.gz", yanked=True))
    assert verdict is not None
    assert "was yanked by its maintainers; pick another version" in verdict.reason


def test_files_not_yanked_pass() -> None:
    assert YankedPolicy().check_file(page("demo"), dist("demo-1.0.tar.gz")) is None
