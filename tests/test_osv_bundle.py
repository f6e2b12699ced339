"""``pipgate osv-bundle``: the OSV data a connected pipgate holds as one zip, which an
air-gapped pipgate loads as a plain path source and reloads when it is replaced."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from policies.osv_source import OsvSource, read_index
from proxy.cli import main
from proxy.cli_osv_bundle import MANIFEST, write_bundle
from tests.support.osv import build_zip
from tests.support.osv_records import malicious, vulnerable, write_record


def test_the_cli_bundles_every_configured_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = tmp_path / "osv"
    write_record(records, vulnerable("PYSEC-2099-40", "alpha", "1"))
    zipped = build_zip(tmp_path / "other.zip", source=records)
    write_record(tmp_path / "more", malicious("MAL-2099-40", "beta"))
    config = tmp_path / "pipgate.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[policy]]\nuse = "osv"\nsource = "{zipped}"\n'
        f'[[policy]]\nuse = "osv"\nsource = "{tmp_path / "more"}"\n'
    )
    bundle = tmp_path / "bundle.zip"

    assert main(["osv-bundle", "--config", str(config), "-o", str(bundle)]) == 0

    assert "wrote 2 OSV record(s) (2 for PyPI, 2 projects)" in capsys.readouterr().err
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == ["MAL-2099-40.json", "PYSEC-2099-40.json", MANIFEST]
    index = read_index(bundle)
    assert index.malicious_project(NormalizedName("beta"))


def test_missing_data_and_no_source_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "b.zip")
    assert main(["osv-bundle", "--data-dir", str(tmp_path), "-o", out]) == 1
    assert "no OSV source is configured" in capsys.readouterr().err
    missing = "https://osv.invalid/PyPI/all.zip"
    assert main(["osv-bundle", "--data-dir", str(tmp_path), "--source", missing, "-o", out]) == 1
    assert "has the server run?" in capsys.readouterr().err
    assert not (tmp_path / "b.zip").exists()


async def test_an_air_gapped_site_reloads_a_replaced_bundle(tmp_path: Path) -> None:
    upstream = tmp_path / "connected"
    write_record(upstream, vulnerable("PYSEC-2099-41", "alpha", "1"))
    bundle = tmp_path / "site" / "osv-bundle.zip"
    bundle.parent.mkdir()
    write_bundle([("connected", upstream)], bundle)
    source = OsvSource(str(bundle), data_dir=tmp_path / "data", http=None)
    first = await source.load()
    assert first is not None
    assert await source.load() is None

    write_record(upstream, malicious("MAL-2099-41", "gamma"))
    fresh = tmp_path / "site" / "incoming.zip"
    write_bundle([("connected", upstream)], fresh)
    os.replace(fresh, bundle)  # what `mv` does: one rename, never half a file

    second = await source.load()
    assert second is not None
    assert second.malicious_project(NormalizedName("gamma"))
