"""The screenshots of docs/console.md: a pipgate in front of the test suite's fake upstream,
some traffic (builds, a refusal, a waiver, a held file), then each console page in
Debian's chromium at 1024x640.

    .venv/bin/python bench/console_screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from packaging.utils import NormalizedName  # noqa: E402

from proxy.workflow.inputs import Target  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.gate import probe, publish, running_gate  # noqa: E402

CONFIG = """
[[policy]]
use = "denylist"
projects = ["evil-thing"]

[[policy]]
use = "denylist"
mode = "quarantine"
projects = ["held-pkg==1.0"]

[[policy]]
use = "typosquat"
"""
PAGES = {
    "overview": "/-/ui/",
    "decisions": "/-/ui/decisions",
    "project": "/-/ui/projects/held-pkg",
    "quarantine": "/-/ui/quarantine",
    "waivers": "/-/ui/waivers",
    "waiver-form": "/-/ui/waivers/new?project=evil-thing&policy=denylist",
    "log": "/-/ui/log",
    "who": "/-/ui/who?project=plain-pkg",
    "builds": "/-/ui/builds",
    "policies": "/-/ui/policies",
}


def traffic(base: str, index: str) -> None:
    for label in ("ci-1234", "ci-1235", "release-7"):
        for project in ("plain-pkg", "tool-kit"):
            page = probe(f"{base}/builds/{label}/simple/{project}/")
            for line in page.body.splitlines():
                if 'href="../../files/' in line:
                    path = line.split('href="../../', 1)[1].split("#", 1)[0]
                    with urllib.request.urlopen(f"{base}/builds/{label}/{path}") as answer:
                        answer.read()
    for name in ("evil-thing", "reqeusts", "held-pkg"):
        probe(index + name + "/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, FakeUpstream() as upstream:
        root = Path(tmp)
        for project, versions in {
            "evil-thing": ["1.0"],
            "held-pkg": ["0.9", "1.0"],
            "plain-pkg": ["1.0", "1.1"],
            "tool-kit": ["2.0"],
            "requests": ["2.31.0"],
            "reqeusts": ["1.0"],
        }.items():
            publish(upstream, root / "wheels", project, *versions)
        with running_gate(root / "gate", upstream.url, CONFIG) as gate:
            traffic(gate.url, gate.index_url)
            workflow = gate.state.workflow
            assert workflow is not None
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
            gate.call(
                workflow.add_waiver(
                    Target(NormalizedName("evil-thing")), "denylist",
                    "the data migration needs 1.0 this week; replaced by ticket OPS-12",
                    "alice", expires,
                )
            )  # fmt: skip
            probe(gate.index_url + "evil-thing/")
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1024, "height": 640})
                for name, path in PAGES.items():
                    page.goto(gate.url + path)
                    page.screenshot(path=str(args.out / f"console-{name}.png"))
                    print(args.out / f"console-{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
