"""``vulnerabilities`` of the JSON API, read from the OSV data the ``osv`` policy loaded.

Every advisory the index knows for the version is listed, also those the policy does not
act on (below its severity threshold, ``vulnerable = false``, ids in ``ignore``, audit
mode): the document reports what is known, the policy decides what is served. Without an
``osv`` policy (or before its first load) the list is empty, as the API has it for a
release without advisories.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.utils import NormalizedName
from packaging.version import Version

from policies.osv import OsvPolicy
from policies.osv_db import OsvIndex
from policies.policyset import PolicySet
from proxy.json_api import Vulnerability, VulnerabilityLookup, no_vulnerabilities


def osv_indexes(policies: PolicySet) -> tuple[OsvIndex, ...]:
    """The loaded index of each active ``osv`` policy (a config may have several)."""
    found = []
    for active in policies.active:
        if isinstance(active.instance, OsvPolicy):
            index = active.instance.index
            if index is not None:
                found.append(index)
    return tuple(found)


def vulnerability_lookup(policies: PolicySet, name: NormalizedName) -> VulnerabilityLookup:
    indexes = tuple(index for index in osv_indexes(policies) if name in index)
    if not indexes:
        return no_vulnerabilities

    def lookup(version: Version) -> Sequence[Vulnerability]:
        found: dict[str, Vulnerability] = {}
        for index in indexes:
            for match in index.matches(name, version):
                advisory = match.advisory
                fixed = (str(match.fixed),) if match.fixed is not None else ()
                known = found.get(advisory.id)
                if known is not None:  # the same record in two sources: merge the fixes
                    fixed = tuple(sorted({*known.fixed_in, *fixed}, key=Version))
                found[advisory.id] = Vulnerability(
                    advisory.id, advisory.aliases, advisory.summary, fixed
                )
        return tuple(found[key] for key in sorted(found))

    return lookup
