"""The render cache drops exactly the pages of the projects an input change names, and a
render that started before such a change is not stored after it."""

from __future__ import annotations

from proxy.render_cache import (
    RenderCache,
    Rendered,
    RenderKey,
    make_rendered,
    project_of,
    render_key,
)

HTML = "text/html"
JSON = "application/vnd.pypi.simple.v1+json"


ROOT = "http://gate.invalid/builds/ci-1/"
"""A root put into a page's absolute links: a variant of its rendered entry."""


def key(name: str, content_type: str = HTML) -> RenderKey:
    return render_key(name, content_type, 1)


def entry(text: str = "page") -> Rendered:
    return make_rendered(text.encode(), HTML, fresh_until=1e12, verdicts=(), upstream=None)


def filled(*names: str) -> RenderCache:
    cache = RenderCache()
    for name in names:
        for variant in (key(name), key(name, JSON), key(f"{name}/json")):
            assert cache.put(variant, entry(name))
        assert cache.put_variant(key(name), ROOT, entry(name))
    return cache


def test_project_of_a_json_api_key_is_its_project() -> None:
    assert project_of(key("demo")) == "demo"
    assert project_of(key("demo/json")) == "demo"
    assert project_of(key("demo/1.0/json")) == "demo"


def test_invalidate_drops_every_variant_of_the_named_projects_only() -> None:
    cache = filled("demo", "other", "third")

    dropped = cache.invalidate({"demo", "third", "never-rendered"})

    assert dropped == 8
    assert len(cache) == 4
    assert cache.get(key("other"), 0.0) is not None
    assert cache.get(key("other/json"), 0.0) is not None
    for variant in (key("demo"), key("demo", JSON), key("demo/json")):
        assert cache.get(variant, 0.0) is None
    assert cache.variant(key("demo"), ROOT, 0.0) is None
    assert cache.variant(key("other"), ROOT, 0.0) is not None


def test_invalidate_none_drops_everything() -> None:
    cache = filled("demo", "other")
    assert cache.invalidate(None) == 8
    assert len(cache) == 0


def test_a_render_begun_before_an_invalidation_of_its_project_is_not_stored() -> None:
    cache = RenderCache()
    since = cache.epoch
    cache.invalidate({"demo"})

    assert not cache.put(key("demo"), entry(), since)
    assert cache.get(key("demo"), 0.0) is None
    assert cache.put(key("other"), entry(), since)
    assert cache.put(key("demo"), entry(), cache.epoch)
    assert not cache.put_variant(key("demo"), ROOT, entry(), since)


def test_a_render_older_than_the_remembered_invalidations_is_not_stored() -> None:
    cache = RenderCache()
    since = cache.epoch
    for number in range(300):
        cache.invalidate({f"p{number}"})

    assert not cache.put(key("unrelated"), entry(), since)
    assert cache.put(key("unrelated"), entry(), cache.epoch - 1)


def test_eviction_keeps_the_project_index_consistent() -> None:
    cache = RenderCache(max_bytes=10)
    assert cache.put(key("a"), entry("aaaaaa"))
    assert cache.put(key("b"), entry("bbbbbb"))  # evicts a
    assert cache.get(key("a"), 0.0) is None
    assert cache.invalidate({"a"}) == 0
    assert cache.invalidate({"b"}) == 1
    assert len(cache) == 0
