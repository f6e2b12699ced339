"""The ``typosquat`` policy: refuses project names that imitate a popular project or one of
the company's own names, and says which rule matched, which name was imitated, its rank
and the edit. The package holds the name forms, the cost models of slips, the compact
index of protected names and the shipped data (``data/``) derived from download ranks.

It may import only the policy contract (``policies.base``), the shared vocabulary and its
own modules; never ``proxy.settings`` or any other part of the server.
"""

from policies.typosquat.policy import TyposquatPolicy

__all__ = ["TyposquatPolicy"]
