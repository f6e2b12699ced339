"""Reading the fetch log after the fact: what a build fetched (a PEP 751 lock), and which
builds, users and clients fetched a file an advisory now names (impact).

Pure functions over ``storage.base.FetchRecord`` rows and, for impact, the loaded OSV
index. Imports only vocabulary (``proxy.model``), storage contracts and ``policies.osv*``;
never the HTTP layer, the chain or ``proxy.settings`` (the CLI and the admin routes pass
in what they read from it).
"""
