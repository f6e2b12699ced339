"""Review workflow: waivers (time-limited exceptions to policy verdicts) and the quarantine
queue (files or projects a policy holds until an admin releases or rejects them).

Everything lives in the shared key-value state (``storage.base.KeyValueStore``), so every
worker and replica sees the same waivers and decisions, and every change is an audit event
(who, when, why) that is never overwritten. The package may import the policy vocabulary
(``policies.base``, ``policies.versions``), ``storage.base``/``storage.keys`` and the
standard library; never the HTTP edge, the chain or the settings.
"""
