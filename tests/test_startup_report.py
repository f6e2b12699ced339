"""The block ``pipgate serve`` logs at start-up, credentials masked in every URL, and a real
``pipgate serve`` printing it and writing access-log lines to stdout."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from proxy.config_check import load_config
from proxy.redact import mask_url
from proxy.settings import Settings
from proxy.startup_report import startup_report
from storage.factory import describe_backends
from tests.support.access_lines import access_entries
from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateProcess


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:s3cret@corp.invalid/simple/", "https://user:***@corp.invalid/simple/"),
        ("https://tok3n@corp.invalid/simple/", "https://***@corp.invalid/simple/"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        (
            "postgresql://app@db.invalid/log?password=pw&x=1",
            "postgresql://app@db.invalid/log?password=***&x=1",
        ),
        ("https://upstream.invalid/simple/", "https://upstream.invalid/simple/"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_prints_nothing_of_an_unparseable_url() -> None:
    assert mask_url("http://[::1") == "***"


def report_for(tmp_path: Path, config: str, **env: str) -> str:
    path = tmp_path / "pipgate.toml"
    path.write_text(config)
    checked = load_config(path, environ=env, overrides={"data_dir": str(tmp_path / "data")})
    return startup_report(checked.settings, checked.policies, "9.9")


def test_default_report_says_where_everything_is_and_that_osv_is_off(tmp_path: Path) -> None:
    text = report_for(tmp_path, "")
    lines = text.splitlines()
    assert lines[0] == "pipgate 9.9 starting"
    data = (tmp_path / "data").resolve()
    for expected in (
        "  listening   http://127.0.0.1:8080/simple/, 1 worker process",
        f"  config      {tmp_path / 'pipgate.toml'}",
        f"  data dir    {data}",
        f"  blobs       filesystem {tmp_path / 'data' / 'blobs'}",
        f"  pages       filesystem {tmp_path / 'data' / 'pages'}",
        f"  state       filesystem {tmp_path / 'data' / 'state'}",
        f"  locks       flock {tmp_path / 'data' / 'locks'}",
        f"  fetch log   sqlite {tmp_path / 'data' / 'fetchlog.sqlite3'}",
        "  access log  json lines on stdout",
        "  policies    the secure default set (no [[policy]] table)",
        "              typosquat (enforce)",
        "              attestations (enforce)",
    ):
        assert expected in lines, (expected, text)
    assert lines[-1].startswith(
        "  OSV         OFF: no OSV source is configured, so known-malicious"
    )
    assert "set osv_source" in lines[-1]


def test_scale_out_backends_and_private_upstreams_are_masked(tmp_path: Path) -> None:
    config = """
[server]
upstream = "https://reader:hunter2@mirror.invalid/simple/"
cache_url = "redis://:redispw@cache.invalid:6379/0"
blob_url = "s3://artifacts/pipgate"
s3_endpoint = "http://s3.invalid:9000"
fetchlog_url = "postgresql://pipgate:pgpw@db.invalid/pipgate"
host = "::"
workers = 4

[[upstream]]
name = "corp"
url = "https://token123@corp.invalid/simple/"
projects = ["acme-*", "internal"]

[[policy]]
use = "denylist"
mode = "audit"
exempt = ["acme-*"]
projects = ["evil"]
"""
    text = report_for(tmp_path, config)
    for secret in ("hunter2", "redispw", "pgpw", "token123"):
        assert secret not in text
    lines = text.splitlines()
    for expected in (
        "  listening   http://[::]:8080/simple/ (every interface), 4 worker processes",
        "  upstream    https://reader:***@mirror.invalid/simple/ (every other project)",
        "  upstream    corp: https://***@corp.invalid/simple/ (only acme-*, internal)",
        "  blobs       s3 s3://artifacts/pipgate at http://s3.invalid:9000",
        "  pages       redis redis://:***@cache.invalid:6379/0",
        "  locks       redis redis://:***@cache.invalid:6379/0",
        "  fetch log   postgresql postgresql://pipgate:***@db.invalid/pipgate",
        f"  policies    [[policy]] tables of {tmp_path / 'pipgate.toml'}",
        "              denylist (audit, exempt acme-*)",
    ):
        assert expected in lines, (expected, text)


def test_policies_off_and_osv_on(tmp_path: Path) -> None:
    off = report_for(tmp_path, "policies = []\n")
    assert "  policies    none (policies = [] in the config): nothing is refused" in off
    osv = report_for(tmp_path, f'[server]\nosv_source = "{tmp_path.as_posix()}"\n')
    assert f"  OSV         refusing malicious from {tmp_path.as_posix()}" in osv
    audit = report_for(
        tmp_path,
        '[[policy]]\nuse = "osv"\nmode = "audit"\nsource = "https://u:pw@osv.invalid/all.zip"\n',
    )
    assert (
        "  OSV         audit only (logged, not refused) malicious and vulnerable from "
        "https://u:***@osv.invalid/all.zip"
    ) in audit


def test_backends_come_from_the_storage_factory() -> None:
    settings = Settings(data_dir=Path("d"), blob_url="file:///srv/blobs")
    assert [(b.role, b.kind, b.location) for b in describe_backends(settings)] == [
        ("blobs", "filesystem", "/srv/blobs"),
        ("pages", "filesystem", "d/pages"),
        ("state", "filesystem", "d/state"),
        ("locks", "flock", "d/locks"),
        ("fetch log", "sqlite", "d/fetchlog.sqlite3"),
    ]


def test_pipgate_serve_logs_the_block_and_one_access_line_per_request(tmp_path: Path) -> None:
    config = tmp_path / "pipgate.toml"
    config.write_text('[server]\naccess_log = "json"\n')  # settings only: the default set
    with FakeUpstream() as up:
        up.add_file("demo-pkg", build_wheel(tmp_path / "wheels", "demo-pkg", "1.0"))
        gate = PipgateProcess(tmp_path / "data", up.url, "--config", str(config))
        with gate:
            statuses = [fetch(f"{gate.url}{path}") for path in PATHS]
        output = gate.log.read_text()
    assert statuses == [200, 200, 403]
    assert "Traceback" not in output
    block = output[output.index("pipgate ") :]
    assert f"  listening   http://127.0.0.1:{gate.port}/simple/, 1 worker process" in block
    assert f"  upstream    {up.url} (every other project)" in block
    assert "              typosquat (enforce)" in block
    assert "  OSV         OFF: no OSV source is configured" in block
    entries = [e for e in access_entries(output) if e["path"] != "/healthz"]
    assert [(e["path"], e["status"], e["cache"], e["policy"]) for e in entries] == [
        ("/simple/demo-pkg/", 200, "miss", None),
        ("/simple/demo-pkg/", 200, "hit", None),
        ("/simple/reqeusts/", 403, None, "typosquat"),
    ]


PATHS = ("/simple/demo-pkg/", "/simple/demo-pkg/", "/simple/reqeusts/")


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
