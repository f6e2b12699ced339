"""Settings: defaults < config file < PIPGATE_* < flags, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from proxy.settings import Settings, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "pipgate.toml"
    config.write_text(text)
    return config


def test_defaults_without_anything() -> None:
    settings = load_settings(None, environ={})
    assert settings == Settings()
    assert settings.upstream == PYPI_SIMPLE_ENDPOINT
    assert (settings.host, settings.port, settings.data_dir) == (
        "127.0.0.1",
        8080,
        Path("pipgate-data"),
    )
    assert settings.policies is None, "no config file: the default policy set"


def test_precedence_config_then_environment_then_flags(tmp_path: Path) -> None:
    config = write(tmp_path, '[server]\nport = 9000\nhost = "0.0.0.0"\npage_ttl = 30\n')
    settings = load_settings(
        config,
        environ={"PIPGATE_PORT": "9100", "PIPGATE_PAGE_TTL": "5"},
        overrides={"port": "9200"},
    )
    assert (settings.host, settings.page_ttl, settings.port) == ("0.0.0.0", 5.0, 9200)
    assert settings.policies is None, "settings without [[policy]] keep the default set"


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    config = write(tmp_path, '[server]\nworkers = 3\n[[policy]]\nuse = "yanked"\n')
    settings = load_settings(None, environ={"PIPGATE_CONFIG": str(config)})
    assert settings.workers == 3
    assert settings.policies == ({"use": "yanked"},)


def test_every_problem_is_reported_at_once_with_key_value_and_expectation(tmp_path: Path) -> None:
    config = write(tmp_path, "[server]\npage_ttl = -1\nbogus = 1\n[extra]\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(
            config,
            environ={
                "PIPGATE_PORT": "eighty",
                "PIPGATE_UPSTREAM": "ftp://x/",
                "PIPGATE_OTHER": "1",
            },
            overrides={"workers": "0"},
        )
    problems = caught.value.problems
    assert "PIPGATE_PORT = 'eighty': expected an integer from 0 to 65535" in problems
    assert "PIPGATE_UPSTREAM = 'ftp://x/': expected an http(s) URL of a simple index" in problems
    assert "config 'page_ttl' = -1: expected a number of seconds >= 0" in problems
    assert "flag 'workers' = '0': expected an integer of at least 1" in problems
    assert any("'bogus': unknown setting" in p for p in problems)
    assert any("unknown top-level key 'extra'" in p for p in problems)
    assert not any("PIPGATE_OTHER" in p for p in problems), "foreign variables are ignored"


def test_secrets_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(None, environ={}, overrides={"admin_token": 12345})
    assert "12345" not in str(caught.value)
    assert "<hidden>" in str(caught.value)


def test_private_upstreams_are_validated(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[[upstream]]\nname = "corp"\nurl = "https://index.corp.example/simple"\n'
        'projects = ["acme-*"]\n'
        '[[upstream]]\nurl = "not a url"\nprojects = ["x"]\n'
        '[[upstream]]\nurl = "https://b.example/simple/"\nprojects = []\ncolour = "red"\n',
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config, environ={})
    problems = caught.value.problems
    assert any("#2 url = 'not a url'" in p for p in problems)
    assert any("#3 projects = []" in p for p in problems)
    assert any("#3: unknown key(s) ['colour']" in p for p in problems)
    good = write(
        tmp_path, '[[upstream]]\nurl = "https://p.example/simple"\nprojects = ["acme-*"]\n'
    )
    (upstream,) = load_settings(good, environ={}).upstreams
    assert (upstream.name, upstream.url, upstream.projects) == (
        "p.example",
        "https://p.example/simple/",
        ("acme-*",),
    )


def test_unreadable_and_invalid_config_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[server\n"), environ={})


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("refresh_trust_root", "yes", True),
        ("refresh_trust_root", "off", False),
        ("trusted_hosts", "a.example, B.example", ("a.example", "b.example")),
        ("cache_url", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("blob_url", "s3://bucket/prefix", "s3://bucket/prefix"),
        ("public_url", "https://pipgate.example/", "https://pipgate.example"),
        ("upstream_timeout", "2.5", 2.5),
    ],
)
def test_environment_values_are_converted(key: str, raw: str, expected: object) -> None:
    settings = load_settings(None, environ={f"PIPGATE_{key.upper()}": raw})
    assert getattr(settings, key) == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("refresh_trust_root", "maybe"),
        ("cache_url", "memcached://x"),
        ("upstream_timeout", "0"),
        ("log_level", "loud"),
        ("host", "a b"),
    ],
)
def test_bad_environment_values_are_refused(key: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=f"PIPGATE_{key.upper()}"):
        load_settings(None, environ={f"PIPGATE_{key.upper()}": raw})
