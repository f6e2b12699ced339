"""URLs made safe to print: credentials in them are replaced by ``***``.

Upstream, Redis and PostgreSQL URLs may carry a password or a token in their user-info part
(``https://user:token@host/``) or in the query (``?password=...``). Anything printed at
start-up, by ``pipgate doctor`` or in an error goes through ``mask_url`` first.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAMS = frozenset({"password", "passwd", "pass", "token", "secret", "key", "sslpassword"})


def mask_url(url: str) -> str:
    """``url`` with any password, token or secret query parameter replaced by ``***``.

    ``https://user:pw@host/`` -> ``https://user:***@host/``. A lone user-info part of an
    http(s) URL is taken for a token (``https://tok@host/`` -> ``https://***@host/``), since
    indexes commonly accept a token as the user name; in ``redis://`` or ``postgresql://``
    URLs it is a user name and kept.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # unparseable: print nothing of it rather than a secret
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            netloc = f"{user}:{MASK}@{host}"
        elif parts.scheme.lower() in ("http", "https"):
            netloc = f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in _SECRET_PARAMS for name, _ in pairs):
            masked = [(n, MASK if n.lower() in _SECRET_PARAMS else v) for n, v in pairs]
            query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


__all__ = ["MASK", "mask_url"]
