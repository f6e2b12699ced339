"""``pipgate token create|list|revoke`` on an embedded data dir, and the settings that
configure authentication."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.cli_token import parse_expiry
from proxy.identity.tokens import parse_token
from proxy.settings import SettingsError, load_settings

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def where(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data")]


def test_create_prints_the_token_once_on_the_last_line(
    capsys: pytest.CaptureFixture[str], where: list[str]
) -> None:
    code, out, _ = run(capsys, "token", "create", *where, "--user", "alice", "--note", "laptop")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "token 1 for alice (role reader), never expires"
    assert parse_token(lines[-1]) is not None
    assert sum(lines[-1] in line for line in lines) == 1

    code, listing, _ = run(capsys, "token", "list", *where)
    assert code == 0
    header, row = listing.splitlines()
    assert header.split() == [
        "ID", "USER", "ROLE", "STATUS", "CREATED", "EXPIRES", "LAST-USED", "NOTE",
    ]  # fmt: skip
    assert row.split()[:4] == ["1", "alice", "reader", "active"]
    assert row.split()[-1] == "laptop"
    secret = lines[-1].split("_", 2)[2]
    assert secret not in listing


def test_list_json_and_revoke(capsys: pytest.CaptureFixture[str], where: list[str]) -> None:
    run(capsys, "token", "create", *where, "--user", "ci", "--role", "admin", "--expires", "2w")
    run(capsys, "token", "create", *where, "--user", "bob")
    code, out, _ = run(capsys, "token", "revoke", *where, "1")
    assert code == 0
    assert out.startswith("token 1 of ci revoked at ")

    code, out, _ = run(capsys, "token", "list", *where, "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["user"], r["role"], r["status"]) for r in rows] == [
        (1, "ci", "admin", "revoked"),
        (2, "bob", "reader", "active"),
    ]
    assert rows[0]["expires"] is not None
    assert rows[0]["revoked"] is not None
    assert rows[1]["expires"] is None
    assert set(rows[0]) == {
        "id", "user", "role", "status", "created", "expires", "last_used", "revoked", "note",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["create", "--user", "a:b"], 2, "user name 'a:b': expected"),
        (["create", "--user", "admin_token"], 2, "'admin_token' is reserved"),
        (["create", "--user", "x", "--expires", "1y"], 2, "--expires '1y': expected a duration"),
        (["create", "--user", "x", "--expires", "2000-01-01"], 2, "is not in the future"),
        (["revoke", "7"], 1, "no token with id 7"),
    ],
)
def test_bad_input_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], where: list[str], args: list[str], status: int, message: str
) -> None:
    command, *rest = args
    code, out, err = run(capsys, "token", command, *where, *rest)
    assert code == status
    assert message in err
    assert out == ""


def test_list_without_a_data_dir_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "token", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1
    assert "no pipgate state at" in err
    assert "check --data-dir / --config" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never", None),
        ("12h", NOW + dt.timedelta(hours=12)),
        ("90d", NOW + dt.timedelta(days=90)),
        ("2w", NOW + dt.timedelta(weeks=2)),
        ("2031-01-31", dt.datetime(2031, 1, 31, tzinfo=dt.UTC)),
        ("2031-01-31T10:00+02:00", dt.datetime(2031, 1, 31, 8, tzinfo=dt.UTC)),
    ],
)
def test_expiry_forms(text: str, expected: dt.datetime | None) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "90", "0d", "1y", "-1d", "soon"])
def test_bad_expiry_forms(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_expiry(text, NOW)


# -- settings ----------------------------------------------------------------------------


def test_auth_settings_from_the_environment() -> None:
    settings = load_settings(
        None,
        environ={
            "PIPGATE_AUTH": "Required",
            "PIPGATE_TRUSTED_PROXY_HEADER": "X-Forwarded-User",
            "PIPGATE_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16,::1",
            "PIPGATE_METRICS_USERS": "20",
        },
    )
    assert settings.auth == "required"
    assert settings.trusted_proxy_header == "X-Forwarded-User"
    assert settings.trusted_proxies == ("10.0.0.5", "10.1.0.0/16", "::1")
    assert settings.metrics_users == 20
    assert load_settings(None, environ={}).auth == "off"


def test_bad_auth_settings_are_all_reported(tmp_path: Path) -> None:
    config = tmp_path / "pipgate.toml"
    config.write_text(
        "[server]\n"
        'auth = "sometimes"\n'
        'trusted_proxy_header = "Authorization"\n'
        'trusted_proxies = ["10.0.0.300"]\n'
        "auth_max_failures = 0\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert "'auth' = 'sometimes': expected one of off, optional, required" in message
    assert "'trusted_proxy_header' = 'Authorization': expected an HTTP header name" in message
    assert "expected a list of IP addresses or networks" in message
    assert "'auth_max_failures' = 0: expected an integer of at least 1" in message


def test_the_admin_token_and_the_s3_secret_are_not_in_the_settings_repr() -> None:
    settings = load_settings(
        None, environ={"PIPGATE_ADMIN_TOKEN": "s3cr3t-admin", "PIPGATE_S3_SECRET_KEY": "k3y"}
    )
    assert (settings.admin_token, settings.s3_secret_key) == ("s3cr3t-admin", "k3y")
    assert "s3cr3t-admin" not in repr(settings)
    assert "k3y" not in repr(settings)
