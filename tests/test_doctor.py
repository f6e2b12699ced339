"""``pipgate doctor`` against a good loopback upstream, a dead port, a project it lacks, the
SSRF guard, bad backends, a bad trust root and OSV sources; text, JSON and exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.doctor import run_doctor
from proxy.doctor_findings import Finding, Status
from storage.base import FetchQuery
from storage.sqlite import SqliteFetchLog
from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.fetchlog_records import clean_environ
from tests.support.osv import OSV_FIXTURES
from tests.support.pipgate_server import REPO, free_port

ROLES = ["blobs", "pages", "state", "locks", "fetch log"]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        up.add_file("pip", build_wheel(wheels, "pip", "1.0"))
        up.add_file("pip", build_wheel(wheels, "pip", "2.0", files={"pip/big": b"x" * 50_000}))
        up.add_file("acme-tool", build_wheel(wheels, "acme-tool", "1.0"))
        other = build_wheel(wheels, "guarded", "1.0")
        up.add_file("guarded", other, url=f"http://127.0.0.2:{up.port}/files/{other.name}")
        up.add_file("tampered", build_wheel(wheels, "tampered", "1.0"), hash_override="0" * 64)
        yield up


def doctor(
    tmp_path: Path, config: str | None = None, projects: tuple[str, ...] = (), **overrides: str
) -> dict[str, list[Finding]]:
    path = None
    if config is not None:
        path = tmp_path / "pipgate.toml"
        path.write_text(config)
    values = {"data_dir": str(tmp_path / "data")} | overrides
    findings = asyncio.run(run_doctor(path, values, projects, environ={}))
    by_check: dict[str, list[Finding]] = {}
    for finding in findings:
        by_check.setdefault(finding.check, []).append(finding)
    return by_check


def statuses(found: dict[str, list[Finding]]) -> dict[str, list[str]]:
    return {check: [f.status.value for f in items] for check, items in found.items()}


def test_everything_ok_against_a_good_upstream(tmp_path: Path, upstream: FakeUpstream) -> None:
    found = doctor(tmp_path, upstream=upstream.url)
    assert statuses(found) == {
        "config": ["ok"],
        "trust root": ["ok"],
        "upstream": ["ok"],
        **{role: ["ok"] for role in ROLES},
        "osv": ["skip"],
    }
    detail = found["upstream"][0].detail
    assert detail.startswith("page of 'pip' lists 2 file(s); file pip-1.0-py3-none-any.whl")
    assert "sha256 matches the page" in detail  # the smallest file, read whole
    assert "known-malicious packages are NOT blocked" in found["osv"][0].detail
    assert found["osv"][0].fix is not None
    assert "osv_source" in found["osv"][0].fix


def test_probes_leave_nothing_behind(tmp_path: Path, upstream: FakeUpstream) -> None:
    doctor(tmp_path, upstream=upstream.url)
    data = tmp_path / "data"
    leftovers = [p for p in (data / "blobs").rglob("*") if p.is_file()]
    leftovers += [p for sub in ("pages", "state") for p in (data / sub).rglob("*") if p.is_file()]
    assert leftovers == []

    async def rows() -> int:
        log = SqliteFetchLog(data / "fetchlog.sqlite3")
        await log.start()
        try:
            return len(await log.query(FetchQuery()))
        finally:
            await log.aclose()

    assert asyncio.run(rows()) == 0


def test_a_dead_port_fails_with_the_setting_to_fix(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/simple/"
    (finding,) = doctor(tmp_path, upstream=dead)["upstream"]
    assert finding.status is Status.FAIL
    assert "Cannot connect to host 127.0.0.1" in finding.detail
    assert finding.fix is not None
    assert finding.fix.startswith(f"check upstream ({dead}): it must be the simple index root")


def test_a_project_the_upstream_lacks_asks_for_another(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    (missing,) = doctor(tmp_path, projects=("no-such-project",), upstream=upstream.url)["upstream"]
    assert missing.status is Status.FAIL
    assert missing.detail == "the index answered, but has no project 'no-such-project'"
    assert missing.fix is not None
    assert "--project NAME" in missing.fix
    (chosen,) = doctor(tmp_path, projects=("Acme_Tool",), upstream=upstream.url)["upstream"]
    assert chosen.status is Status.OK
    assert chosen.detail.startswith("page of 'acme-tool' lists 1 file(s)")


def test_a_file_host_the_guard_refuses_names_trusted_hosts(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    (finding,) = doctor(tmp_path, projects=("guarded",), upstream=upstream.url)["upstream"]
    assert finding.status is Status.FAIL
    assert "127.0.0.2" in finding.detail
    assert finding.fix is not None
    assert "trusted_hosts" in finding.fix
    (trusted,) = doctor(
        tmp_path,
        projects=("guarded",),
        upstream=upstream.url,
        trusted_hosts=f"127.0.0.2:{upstream.port}",  # trust is per origin: host and port
    )["upstream"]
    # Trusted, the guard lets it through: nothing listens on 127.0.0.2, and that is now said.
    assert "ForbiddenTarget" not in trusted.detail
    assert "Cannot connect to host 127.0.0.2" in trusted.detail
    assert trusted.fix is not None
    assert trusted.fix.startswith("the page links files on 127.0.0.2: that host must be")


def test_a_file_whose_hash_differs_fails(tmp_path: Path, upstream: FakeUpstream) -> None:
    (finding,) = doctor(tmp_path, projects=("tampered",), upstream=upstream.url)["upstream"]
    assert finding.status is Status.FAIL
    assert "sha256 of the download differs from the page's" in finding.detail
    assert finding.fix == (
        "the upstream serves a file that does not match its own page; check upstream"
    )


def test_private_upstreams_are_probed_by_a_literal_name_or_skipped(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    config = f"""
[[upstream]]
name = "corp"
url = "{upstream.url}"
projects = ["acme-tool"]

[[upstream]]
name = "globs"
url = "{upstream.url}"
projects = ["internal-*"]
"""
    public, corp, globs = doctor(tmp_path, config, upstream=upstream.url)["upstream"]
    assert (public.status, corp.status, globs.status) == (Status.OK, Status.OK, Status.SKIP)
    assert corp.target == f"corp {upstream.url}"
    assert corp.detail.startswith("page of 'acme-tool'")
    assert globs.fix == "pass --project NAME with a project this upstream serves"


def test_bad_backends_each_say_what_to_change(tmp_path: Path, upstream: FakeUpstream) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = f"""
[server]
cache_url = "redis://:secret@127.0.0.1:{free_port()}/0"
blob_url = "file://{blocker.as_posix()}/blobs"
fetchlog_url = "sqlite://{blocker.as_posix()}/log.sqlite3"
"""
    found = doctor(tmp_path, config, upstream=upstream.url)
    for role in ROLES:
        (finding,) = found[role]
        assert finding.status is Status.FAIL, finding
        assert "secret" not in finding.target + finding.detail + (finding.fix or "")
    fixes = {role: found[role][0].fix or "" for role in ROLES}
    assert fixes["blobs"] == f"make {blocker}/blobs a writable directory, or correct blob_url"
    assert fixes["pages"].startswith("start Redis at redis://:***@127.0.0.1:")
    assert fixes["locks"] == fixes["pages"]
    assert fixes["fetch log"] == (
        f"make the directory of {blocker}/log.sqlite3 writable, or correct fetchlog_url"
    )


def test_a_data_dir_that_is_a_file(tmp_path: Path, upstream: FakeUpstream) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("")
    (finding,) = doctor(tmp_path, upstream=upstream.url)["data dir"]
    assert finding.status is Status.FAIL
    assert finding.fix is not None
    assert "data_dir" in finding.fix


def test_a_bad_trust_root_and_osv_sources(tmp_path: Path, upstream: FakeUpstream) -> None:
    garbage = tmp_path / "trusted_root.json"
    garbage.write_text("{}")
    config = f"""
[server]
trust_root = "{garbage.as_posix()}"

[[policy]]
use = "osv"
source = "{OSV_FIXTURES.as_posix()}"

[[policy]]
use = "osv"
source = "{(tmp_path / "missing").as_posix()}"
"""
    found = doctor(tmp_path, config, upstream=upstream.url)
    (root,) = found["trust root"]
    assert root.status is Status.FAIL
    assert "is not a sigstore trusted_root.json" in root.detail
    assert root.fix is not None
    assert "trust_root" in root.fix
    good, missing = found["osv"]
    assert good.status is Status.OK
    assert good.detail.startswith("read ")
    assert "PyPI record(s)" in good.detail
    assert missing.status is Status.FAIL
    assert missing.fix is not None
    assert "osv_source" in missing.fix


def test_config_problems_are_listed_and_stop_the_rest(tmp_path: Path) -> None:
    found = doctor(tmp_path, '[server]\nport = "x"\n[[policy]]\nuse = "nope"\n')
    assert statuses(found) == {"config": ["fail", "fail"], "other checks": ["skip"]}
    setting, policy = found["config"]
    assert "port" in setting.detail
    assert setting.fix is not None
    assert "PIPGATE_*" in setting.fix
    assert policy.fix is not None
    assert "[[policy]]" in policy.fix


def test_json_output_and_exit_codes(
    tmp_path: Path, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["doctor", "--upstream", upstream.url, "--data-dir", str(tmp_path / "d"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["ok"] is True
    assert [c["check"] for c in document["checks"]][:3] == ["config", "trust root", "upstream"]
    assert set(document["checks"][0]) == {"check", "target", "status", "detail", "fix"}
    dead = f"http://127.0.0.1:{free_port()}/simple/"
    assert main(["doctor", "--upstream", dead, "--data-dir", str(tmp_path / "d"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def run_doctor_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "doctor", "--data-dir", str(tmp_path / "d"), *args],
        cwd=tmp_path,
        env=clean_environ() | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_prints_each_check_and_the_fix(tmp_path: Path, upstream: FakeUpstream) -> None:
    good = run_doctor_command(tmp_path, "--upstream", upstream.url)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK    upstream" in good.stdout
    assert good.stdout.rstrip().endswith("pipgate doctor: 9 checks, all passed")
    dead = run_doctor_command(tmp_path, "--upstream", f"http://127.0.0.1:{free_port()}/simple/")
    assert dead.returncode == 1
    lines = dead.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAIL  upstream"))
    assert lines[failed + 1].strip().startswith("fix: check upstream (")
    assert "Traceback" not in dead.stderr
