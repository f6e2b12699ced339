"""Key builders: valid names map to stable keys, and nothing can name a path outside a store."""

from __future__ import annotations

import pytest

from proxy.errors import InvalidName
from proxy.repository import ResourceKind
from storage.keys import (
    MAX_NAME_LENGTH,
    blob_key,
    page_key,
    validate_filename,
    validate_project,
)

NASTY = [
    "",
    ".",
    "..",
    "../x",
    "..\\x",
    "a/b",
    "/abs",
    "a\\b",
    "x\x00.whl",
    "foo\n-1.0.tar.gz",
    "foo\x7f-1.0.tar.gz",
    "foo\x85-1.0.tar.gz",
    "%2e%2e",
    "%2e%2e%2fx",
    ".hidden-1.0.tar.gz",
    "foo bar-1.0.tar.gz",
    "\u212aelvin-1.0.tar.gz",  # Kelvin sign, lower-cases to "k"
    "\u017fix-1.0.tar.gz",  # long s, matches [a-z] under IGNORECASE
    "r\u0435quests-1.0.tar.gz",  # Cyrillic e
    "ｒequests-1.0.tar.gz",  # noqa: RUF001 - fullwidth r, the confusable is the point
    "a" * (MAX_NAME_LENGTH + 1),
]


@pytest.mark.parametrize("value", [*NASTY, "foo-1.0..tar.gz"])
def test_nasty_filenames_are_rejected(value: str) -> None:
    with pytest.raises(InvalidName, match="invalid filename"):
        validate_filename(value)


@pytest.mark.parametrize("value", NASTY)
def test_nasty_project_names_are_rejected(value: str) -> None:
    with pytest.raises(InvalidName, match="invalid project name"):
        validate_project(value)


def test_dot_runs_in_project_names_are_valid_and_normalised() -> None:
    # PEP 508 allows "a..b"; its normal form has no dots, so it is a safe path segment.
    assert validate_project("a..b") == "a-b"
    assert blob_key("Foo..Bar", "foo-1.0.tar.gz") == "dist/foo-bar/foo-1.0.tar.gz"


@pytest.mark.parametrize("value", NASTY)
def test_nasty_values_never_reach_a_blob_key(value: str) -> None:
    with pytest.raises(InvalidName):
        blob_key(value, "foo-1.0.tar.gz")
    with pytest.raises(InvalidName):
        blob_key("foo", value)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "must not be empty"),
        ("a/b", "must not contain '/'"),
        ("a\\b", "must not contain '\\\\\\\\'"),
        ("a\x00b", "must not contain '\\\\x00'"),
        ("a\tb", "control characters"),
        ("a..b", "must not contain '..'"),
        (".a", "must not start with '.'"),
        ("a" * 256, "256 characters, at most 255"),
    ],
)
def test_rejection_names_the_value_and_the_rule(value: str, rule: str) -> None:
    with pytest.raises(InvalidName, match=rule) as caught:
        validate_filename(value)
    assert repr(value[:40]) in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("requests", "requests"),
        ("Django", "django"),
        ("zope.interface", "zope-interface"),
        ("typing_extensions", "typing-extensions"),
        ("A", "a"),
        ("a" * MAX_NAME_LENGTH, "a" * MAX_NAME_LENGTH),
    ],
)
def test_valid_project_names_are_normalized(raw: str, normalized: str) -> None:
    assert validate_project(raw) == normalized


@pytest.mark.parametrize("raw", ["-foo", "foo-", "_foo", "foo.", "fo%o", "fo@o", "foo+bar"])
def test_pep508_name_rule_is_enforced(raw: str) -> None:
    with pytest.raises(InvalidName, match="PEP 508"):
        validate_project(raw)


@pytest.mark.parametrize(
    "filename",
    [
        "requests-2.32.3-py3-none-any.whl",
        "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "foo-1.0-1build-py3-none-any.whl",
        "foo-1.0+local.1-py3-none-any.whl",
        "foo-1!2.0-py3-none-any.whl",
        "requests-2.32.3.tar.gz",
        "Django-1.11.1.zip",
        "foo-1.0dev-r12.tar.gz",
        "pytz-2004b.tar.bz2",
        "foo-bar-1.0.tar.xz",
        "setuptools-0.6c11-py2.7.egg",
        "pywin32-227.win-amd64-py3.8.exe",
        "foo-1.0.win32.msi",
        "foo-1.0.tgz",
    ],
)
def test_distribution_filenames_are_accepted(filename: str) -> None:
    assert validate_filename(filename) == filename


@pytest.mark.parametrize(
    "filename",
    [
        "foo.whl",
        "foo-1.0.whl",
        "foo-notaversion-py3-none-any.whl",
        "README.txt",
        "foo-1.0.tar.gz.metadata",
        "foo.tar.gz",
        "-1.0.tar.gz",
        "foo-.tar.bz2",
        "foo-1.0.sh",
    ],
)
def test_non_distributions_are_rejected(filename: str) -> None:
    with pytest.raises(InvalidName, match="invalid filename"):
        validate_filename(filename)


def test_blob_keys_per_kind() -> None:
    wheel = "foo_bar-1.0-py3-none-any.whl"
    assert blob_key("Foo.Bar", wheel, "dist") == f"dist/foo-bar/{wheel}"
    assert blob_key("foo-bar", wheel, ResourceKind.METADATA) == f"metadata/foo-bar/{wheel}.metadata"
    assert blob_key("foo-bar", wheel, "provenance") == f"provenance/foo-bar/{wheel}.provenance"
    assert blob_key("foo-bar", wheel) == f"dist/foo-bar/{wheel}"


def test_blob_key_fits_in_one_file_name() -> None:
    longest = "a" * (MAX_NAME_LENGTH - len("-1.0.tar.gz")) + "-1.0.tar.gz"
    assert blob_key("a", longest).endswith(longest)
    with pytest.raises(InvalidName, match=r"too long to store its metadata \(264 > 255"):
        blob_key("a", longest, "metadata")


def test_unknown_blob_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"unknown blob kind 'sig'; expected one of"):
        blob_key("foo", "foo-1.0.tar.gz", "sig")


def test_page_keys_keep_upstreams_apart_and_cannot_be_split() -> None:
    assert page_key("pypi", "Foo_Bar") == "page/pypi/foo-bar"
    key = page_key("https://internal.example/simple/", "foo")
    assert key == "page/https%3A%2F%2Finternal.example%2Fsimple%2F/foo"
    assert key.count("/") == 2
    assert page_key("a/b", "c") == "page/a%2Fb/c"


def test_page_key_rejects_bad_input() -> None:
    with pytest.raises(InvalidName, match="upstream"):
        page_key("", "foo")
    with pytest.raises(InvalidName, match="invalid project name"):
        page_key("pypi", "../foo")
