"""``files``: wheels only for chosen projects, and a maximum size."""

from __future__ import annotations

from policies.files import FilesPolicy, format_size
from policies.globs import GlobSet
from tests.support.fake_repository import dist, page


def test_wheels_only() -> None:
    policy = FilesPolicy(GlobSet(["acme-*"]), None, "allow")
    verdict = policy.check_file(page("acme-tools"), dist("acme_tools-1.0.tar.gz"))
    assert verdict is not None
    assert verdict.denies
    assert verdict.reason.startswith(
        "acme_tools-1.0.tar.gz is not a wheel and acme-tools matches wheels_only 'acme-*'"
    )
    assert policy.check_file(page("acme-tools"), dist("acme_tools-1.0-py3-none-any.whl")) is None
    assert policy.check_file(page("other"), dist("other-1.0.tar.gz")) is None


def test_max_size() -> None:
    policy = FilesPolicy(GlobSet(), 50_000_000, "allow")
    verdict = policy.check_file(page("big"), dist("big-1.0.tar.gz", size=75_500_000))
    assert verdict is not None
    assert verdict.reason == (
        "big-1.0.tar.gz is 75.5 MB, over the files max_size of 50.0 MB; raise max_size or add "
        "big to exempt"
    )
    assert policy.check_file(page("big"), dist("big-1.0.tar.gz", size=50_000_000)) is None
    assert policy.check_file(page("big"), dist("big-1.0.tar.gz", size=None)) is None


def test_missing_size_can_be_denied() -> None:
    policy = FilesPolicy(GlobSet(), 1000, "deny")
    verdict = policy.check_file(page("big"), dist("big-1.0.tar.gz", size=None))
    assert verdict is not None
    assert "the index gives no size for big-1.0.tar.gz" in verdict.reason


def test_format_size() -> None:
    assert [format_size(n) for n in (512, 1500, 2_000_000_000, 3 * 10**12)] == [
        "512 B",
        "1.5 kB",
        "2.0 GB",
        "3.0 TB",
    ]
