"""Range headers: hostile lengths never become a 500."""

from __future__ import annotations

import pytest

from proxy.responses import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 10)),
        ("bytes=-4", (96, 100)),
        ("bytes=90-", (90, 100)),
        ("bytes=0-" + "9" * 5000, (0, 100)),
        ("bytes=-" + "9" * 5000, (0, 100)),
        ("bytes=1-2,4-5", None),
    ],
)
def test_parse_range(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


def test_parse_range__a_start_of_thousands_of_digits_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=" + "9" * 5000 + "-", 100)
