"""Who is asking, and what they may do: API tokens, their verification, and the rules that
turn a request's credentials into an ``Identity`` (user and role) or a refusal.

This package is the identity subsystem below the HTTP edge. It may import only vocabulary
(Python, ``argon2``, its own modules) and the storage protocols of ``storage.base``: tokens
live in the shared key-value state, so every replica and worker that shares it shares the
tokens. It never reads ``Settings``: ``proxy.app`` builds an ``IdentityConfig`` for it, and
the HTTP middleware (``proxy.auth_gate``) and the ``pipgate token`` commands are its callers.

Modules: ``model`` (roles, identities, modes), ``tokens`` (the token format and stored
record), ``hashing`` (argon2), ``store`` (tokens in the shared state), ``credentials``
(Authorization headers), ``verified`` (the short-lived cache of verified tokens),
``ratelimit`` (failed attempts per client address), ``proxies`` (the trusted SSO header),
``authenticator`` (all of it, per request).
"""
