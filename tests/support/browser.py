"""Debian's chromium driven by Playwright (never a downloaded browser), and axe-core's
accessibility check injected into a page.

``.ci/test`` installs ``chromium`` with apt when ``/usr/bin/chromium`` is missing, and
axe-core with npm into ``.ci/node`` (nothing third-party is committed); with
``PIPGATE_REQUIRE_BROWSER=1`` (set by CI) a missing browser or axe fails instead of
skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = (
    Path(__file__).resolve().parents[2]
    / ".ci"
    / "node"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
SERIOUS = ("serious", "critical")


def _missing(what: str) -> None:
    if os.environ.get("PIPGATE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} is missing; .ci/test installs it")
    pytest.skip(f"{what} is missing (bash .ci/test installs it)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium ``Browser`` (Playwright's sync API)."""
    if not CHROMIUM.exists():
        _missing(str(CHROMIUM))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        _missing(f"axe-core ({AXE.name})")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in SERIOUS]


def describe(violations: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in violations
    )


__all__ = ["AXE", "CHROMIUM", "axe_violations", "chromium", "describe"]
