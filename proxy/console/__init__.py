"""The operator console at ``/-/ui/``: server-rendered pages (Jinja2 through Starlette's
templates) over the fetch log, the policy engine and the review workflow.

No SPA and no CDN: every asset is served by pipgate, and every page and form works with
JavaScript off. Sessions are signed cookies backed by the shared state (so any replica
serves them), every state-changing form carries a CSRF token. The package sits at the
HTTP edge: it may import the chain's state (``proxy.state``), ``proxy.workflow``, the
identity package and the storage contracts, and nothing imports it but ``proxy.app`` and
the error table (for the links of a refusal).
"""
