"""What one function's facts mean together, and what a whole module's do.

Per function: a socket joined to a shell's standard streams is a reverse shell; secrets
read next to a network call are probably sent. Per module: a file written with
downloaded or decoded bytes and a process started on that file's path, wherever the two
happen (droppers write in one function and run in another, often through a thread);
literals naming other programs' secret stores next to any network use (the credential
stealer, whose sending sits in a helper); a chat-bot token or webhook secret next to
process, identity or screen capture (the remote-control bot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.scan.py_facts import Facts, Hit
from policies.scan.py_labels import Label

if TYPE_CHECKING:
    from policies.scan.py_flow import Scope

MODULE = "<module>"
_GATHERS = ("process", "identity", "capture")


def close_scope(facts: Facts, scope: Scope) -> None:
    if scope.socket_line and ((scope.dup2_line and scope.shell_line) or scope.pty_line):
        line = scope.pty_line or scope.dup2_line
        facts.hits.append(Hit("reverse-shell", line, scope.name, "redirects a shell to a socket"))
    if scope.secret_line and scope.network_line:
        why = "reads secrets and uses the network in the same function"
        facts.hits.append(Hit("exfiltration-near", scope.secret_line, scope.name, why))


def expand(names: frozenset[str], derived: dict[str, frozenset[str]]) -> frozenset[str]:
    """``names`` and what they were computed from, two assignments deep."""
    found = set(names)
    frontier = set(names)
    for _ in range(2):
        step: set[str] = set()
        for name in frontier:
            step |= derived.get(name, frozenset())
        frontier = step - found
        found |= step
    return frozenset(found)


def close_module(facts: Facts, module_names: set[str]) -> None:
    """``module_names``: names bound at module level, the only names two functions share."""
    for launch in facts.launches:
        for drop in facts.drops:
            shared = drop.paths if drop.scope == launch.scope else _shared(drop.paths, module_names)
            if _same_file(shared, launch.uses):
                hidden = not drop.labels & Label.NETDATA
                rule = "obfuscated-exec" if hidden else "download-exec"
                why = f"writes a downloaded or decoded file (line {drop.line}), then runs it"
                facts.hits.append(Hit(rule, launch.line, launch.scope, why))
                break
    for line, url in facts.encoded[:3]:
        facts.hits.append(Hit("hidden-endpoint", line, MODULE, f"decodes to {url[:80]}"))
    events = facts.events
    if facts.stores:
        line, store = facts.stores[0]
        sends = events.get("network") or (facts.channels[0][0] if facts.channels else 0)
        if sends:
            why = f"reads {store!r} and sends data out from the same module (line {sends})"
            facts.hits.append(Hit("stealer", line, MODULE, why))
        else:
            facts.hits.append(Hit("credential-access", line, MODULE, f"names {store!r}"))
    if facts.channels:
        line, channel = facts.channels[0]
        gathers = [k for k in _GATHERS if k in events] + (["secret stores"] * bool(facts.stores))
        shown = channel[:24] + "..."
        if gathers:
            why = f"an embedded channel ({shown}) next to {', '.join(gathers)} use"
            facts.hits.append(Hit("channel-collect", line, MODULE, why))
        else:
            facts.hits.append(Hit("embedded-channel", line, MODULE, shown))


def _shared(paths: frozenset[str], module_names: set[str]) -> frozenset[str]:
    """What of a path two functions can both see: module-level names and literal pieces
    (a local ``dest`` in one function is not the ``dest`` of another)."""
    return frozenset(p for p in paths if p in module_names or not p.isidentifier())


def _same_file(paths: frozenset[str], uses: frozenset[str]) -> bool:
    if paths & uses:
        return True
    return any(p in u for p in paths if len(p) > 4 for u in uses)
