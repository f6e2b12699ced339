"""``dependency_confusion``: names of private projects must only ever be served by a
private upstream, never by the public index, where anyone can register them.

``proxy.routing`` enforces the routing (a private name never falls back to the public
upstream); this policy refuses private names that no ``[[upstream]]`` covers, because
such a name could only be answered by the public index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from packaging.utils import NormalizedName

from policies.base import Option, PolicyEnvironment, PolicyError, Verdict
from policies.globs import GlobSet, parse_globs
from proxy.settings import UpstreamConfig


class DependencyConfusionPolicy:
    name: ClassVar[str] = "dependency_confusion"
    summary: ClassVar[str] = (
        "Names matching private globs are served only from a private [[upstream]], never "
        "from the public index."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "private", 'Globs of your private project names: ["acme-*"].', GlobSet(), parse_globs
        ),
    )

    def __init__(self, private: GlobSet, upstreams: Sequence[UpstreamConfig]) -> None:
        if not private:
            raise PolicyError('dependency_confusion needs private = ["<glob>", ...]')
        self.private = private
        self.upstreams = tuple((u, GlobSet(u.projects)) for u in upstreams)

    @classmethod
    def create(
        cls, options: Mapping[str, Any], env: PolicyEnvironment
    ) -> DependencyConfusionPolicy:
        upstreams = env.settings.upstreams if env.settings is not None else ()
        return cls(options["private"], upstreams)

    def check_project(self, name: NormalizedName) -> Verdict | None:
        if not self.private.matches(name):
            return None
        if any(globs.matches(name) for _, globs in self.upstreams):
            return None
        glob = self.private.first_match(name)
        configured = ", ".join(u.name for u, _ in self.upstreams) or "none is configured"
        return Verdict.deny(
            self.name,
            f"{name} matches private glob {glob!r} but no private [[upstream]] serves it "
            f"(private upstreams: {configured}), so only the public index could answer and "
            f"anyone can register that name there; add a glob covering {name} to an "
            f"[[upstream]] projects list",
        )
