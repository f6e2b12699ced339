"""PEP 691 content negotiation: ``?format=``, Accept q-values, wildcards, defaults, 406."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy import negotiation
from proxy.errors import NotAcceptable
from proxy.negotiation import Format, negotiate

V1_JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
LATEST_JSON = "application/vnd.pypi.simple.latest+json"
LATEST_HTML = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"

JSON = (Format.JSON, V1_JSON)
HTML = (Format.HTML, V1_HTML)
TEXT = (Format.HTML, TEXT_HTML)

PIP_ACCEPT = f"{V1_JSON}, {V1_HTML}; q=0.1, {TEXT_HTML}; q=0.01"
UV_ACCEPT = f"{V1_JSON}, {V1_HTML};q=0.2, {TEXT_HTML};q=0.01"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(PIP_ACCEPT, JSON, id="pip"),
        pytest.param(UV_ACCEPT, JSON, id="uv"),
        pytest.param(None, TEXT, id="missing"),
        pytest.param("", TEXT, id="empty"),
        pytest.param("   ", TEXT, id="blank"),
        pytest.param(TEXT_HTML, TEXT, id="text-html"),
        pytest.param(V1_HTML, HTML, id="v1-html"),
        pytest.param(V1_JSON, JSON, id="v1-json"),
        pytest.param(LATEST_JSON, JSON, id="latest-json-is-v1"),
        pytest.param(LATEST_HTML, HTML, id="latest-html-is-v1"),
        pytest.param("*/*", TEXT, id="any-is-legacy-html"),
        pytest.param("application/*", JSON, id="application-wildcard"),
        pytest.param("text/*", TEXT, id="text-wildcard"),
        pytest.param(f"{TEXT_HTML}, {V1_JSON}", JSON, id="tie-prefers-json"),
        pytest.param(f"{V1_HTML}, {TEXT_HTML}", HTML, id="tie-prefers-versioned-html"),
        pytest.param(f"{TEXT_HTML};q=0.5, {V1_JSON};q=0.4", TEXT, id="q-beats-preference"),
        pytest.param(f"{TEXT_HTML};q=0.01, {V1_JSON}", JSON, id="order-a"),
        pytest.param(f"{V1_JSON}, {TEXT_HTML};q=0.01", JSON, id="order-b"),
        pytest.param(f"{TEXT_HTML}, */*", TEXT, id="named-beats-wildcard"),
        pytest.param(f"*/*, {TEXT_HTML};q=0", HTML, id="q0-excludes-under-wildcard"),
        pytest.param(f"{V1_JSON};q=0, */*", TEXT, id="q0-json"),
        pytest.param(f"*/*;q=0.5, {V1_JSON};q=0.4", TEXT, id="wildcard-higher-q"),
        pytest.param(f"{V1_JSON};q=0.001, {TEXT_HTML};q=0.0", JSON, id="three-decimals"),
        pytest.param("Application/Vnd.PyPI.Simple.V1+JSON", JSON, id="case-insensitive"),
        pytest.param(f"{V1_JSON} ; charset=utf-8 ; q=1.000", JSON, id="extra-params"),
        pytest.param(f"garbage, {V1_JSON}", JSON, id="skip-no-slash"),
        pytest.param(f"{TEXT_HTML};q=abc, {V1_JSON};q=0.5", JSON, id="skip-bad-q"),
        pytest.param(f"{TEXT_HTML};q=1.5, {V1_JSON};q=0.1", JSON, id="skip-q-over-1"),
        pytest.param(f"{TEXT_HTML};q=0.0001, {V1_JSON};q=0.1", JSON, id="skip-four-decimals"),
        pytest.param(f"*/json, {V1_HTML}", HTML, id="skip-wildcard-type-only"),
        pytest.param(";;;,,, ;q=1", TEXT, id="only-garbage-is-as-missing"),
    ],
)
def test_negotiate__accept(accept: str | None, expected: tuple[Format, str]) -> None:
    assert negotiate(accept, None) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        f"{TEXT_HTML};q=0",
        f"{V1_JSON};q=0, {V1_HTML};q=0, {TEXT_HTML};q=0",
        "image/png, text/plain",
        f"*/*;q=0, {TEXT_HTML};q=0",
    ],
)
def test_negotiate__nothing_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate(accept, None)
    message = str(caught.value)
    assert "\n" not in message
    assert all(offer in message for offer in (V1_JSON, V1_HTML, TEXT_HTML))


@pytest.mark.parametrize(
    ("format_param", "expected"),
    [
        (TEXT_HTML, TEXT),
        (V1_HTML, HTML),
        (V1_JSON, JSON),
        (LATEST_HTML, HTML),
        (LATEST_JSON, JSON),
        (f" {V1_JSON.upper()} ", JSON),
    ],
)
def test_negotiate__format_param_wins_over_accept(
    format_param: str, expected: tuple[Format, str]
) -> None:
    opposite = TEXT_HTML if expected[0] is Format.JSON else V1_JSON
    assert negotiate(opposite, format_param) == expected
    assert negotiate(None, format_param) == expected


@pytest.mark.parametrize("format_param", ["json", "application/json", f"{V1_JSON};q=1", "*/*"])
def test_negotiate__unknown_format_param(format_param: str) -> None:
    with pytest.raises(NotAcceptable) as caught:
        negotiate(PIP_ACCEPT, format_param)
    message = str(caught.value)
    assert repr(format_param) in message
    assert all(offer in message for offer in (V1_JSON, V1_HTML, TEXT_HTML, LATEST_JSON))


def test_negotiate__empty_format_param_falls_back_to_accept() -> None:
    assert negotiate(PIP_ACCEPT, "") == JSON


def test_negotiate__accept_parse_is_cached() -> None:
    header = f"{V1_JSON}, {TEXT_HTML};q=0.123"
    before = negotiation._negotiate_accept.cache_info().hits
    negotiate(header, None)
    negotiate(header, None)
    assert negotiation._negotiate_accept.cache_info().hits >= before + 1


def test_format__content_types() -> None:
    assert Format.JSON.content_type == V1_JSON
    assert Format.HTML.content_type == V1_HTML


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz*/+.;=, q0123456789\t-")),
        max_size=60,
    )
)
def test_negotiate__never_crashes(accept: str) -> None:
    try:
        fmt, content_type = negotiate(accept, None)
    except NotAcceptable:
        return
    assert content_type in (V1_JSON, V1_HTML, TEXT_HTML)
    assert content_type == TEXT_HTML or content_type == fmt.content_type


@pytest.mark.parametrize(
    ("format_param", "expected"),
    [("application/vnd.pypi.simple.v1 json", JSON), ("application/vnd.pypi.simple.v1 html", HTML)],
)
def test_negotiate__format_param_with_an_unescaped_plus(
    format_param: str, expected: tuple[Format, str]
) -> None:
    # ?format=application/vnd.pypi.simple.v1+json, as PEP 691's examples write it: "+" -> " ".
    assert negotiate(None, format_param) == expected
