"""Project-name globs, allow/deny list entries and fast filename versions."""

from __future__ import annotations

import pytest
from packaging.version import Version

from policies.entries import EntryList, parse_entries, parse_entry
from policies.globs import GlobSet, normalize_glob, parse_globs
from policies.versions import file_version


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("Acme_Corp.*", "acme-corp-*"),
        ("django", "django"),
        ("a__b--c..d", "a-b-c-d"),
        ("acme[-_]x", "acme[-_]x"),
        ("[A-Z]*", "[a-z]*"),
    ],
)
def test_normalize_glob(pattern: str, expected: str) -> None:
    assert normalize_glob(pattern) == expected


def test_globset__exact_and_wildcards() -> None:
    globs = GlobSet(["requests", "Acme_*", "py?ython"])
    assert globs.matches("requests")
    assert globs.matches("acme-tools")
    assert globs.matches("pyxython")
    assert not globs.matches("request")
    assert not globs.matches("not-acme")
    assert globs.first_match("acme-tools") == "acme-*"
    assert globs.first_match("other") is None


def test_globset__first_match_follows_configuration_order() -> None:
    globs = GlobSet(["acme-*", "acme-tools"])
    assert globs.first_match("acme-tools") == "acme-*"


def test_globset__empty_matches_nothing() -> None:
    assert not GlobSet()
    assert not GlobSet().matches("anything")


def test_parse_globs__rejects_what_is_not_a_list_of_globs() -> None:
    with pytest.raises(ValueError, match="expected a list"):
        parse_globs("acme-*")
    with pytest.raises(ValueError, match="'a b'"):
        parse_globs(["ok", "a b"])
    with pytest.raises(ValueError, match=r"'\.\./x'"):
        parse_globs(["../x"])


def test_parse_entry__name_glob_and_specifier() -> None:
    assert parse_entry("Django").glob == "django"
    entry = parse_entry("django<4")
    assert entry.glob == "django"
    assert entry.specifier is not None
    assert entry.contains(Version("3.2"))
    assert entry.contains(Version("3.2rc1"))
    assert not entry.contains(Version("4.0"))
    assert not entry.contains(Version("4.0rc1"))


def test_parse_entry__not_equal_after_a_glob_class() -> None:
    entry = parse_entry("urllib3>=1.26,!=2.0.0")
    assert entry.glob == "urllib3"
    assert not entry.contains(Version("2.0.0"))
    assert entry.contains(Version("2.0.1"))
    assert parse_entry("acme-[!x]* ==1.*").glob == "acme-[!x]*"


@pytest.mark.parametrize("bad", ["django<<4", "", "  ", 3, "a b c"])
def test_parse_entry__rejects(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected|invalid version specifier"):
        parse_entry(bad)


def test_entry_list__whole_project_and_versioned() -> None:
    entries = parse_entries(["requests", "acme-*", "django<4", "acme-tools>=2"])
    assert entries.patterns == ("requests", "acme-*", "django<4", "acme-tools>=2")
    whole = entries.whole_project("acme-tools")
    assert whole is not None
    assert whole.text == "acme-*"
    assert entries.whole_project("django") is None
    assert [e.text for e in entries.versioned_for("acme-tools")] == ["acme-tools>=2"]
    assert entries.versioned_for("requests") == ()
    assert not EntryList()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("pkg-1.0-py3-none-any.whl", "1.0"),
        ("pkg-2.0.post1-1-cp311-cp311-manylinux_2_17_x86_64.whl", "2.0.post1"),
        ("pkg-1.0rc1.tar.gz", "1.0rc1"),
        ("my-pkg-3.1.zip", "3.1"),
        ("pkg-0.9.win32.exe", None),
        ("notaversion", None),
    ],
)
def test_file_version(filename: str, expected: str | None) -> None:
    version = file_version(filename)
    assert (str(version) if version else None) == expected
