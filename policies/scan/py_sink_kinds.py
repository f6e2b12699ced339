"""The sinks themselves: what reaching exec, a process, the network or a file write means.

Each records hits for ``py_rules`` (which decides by where the code runs) and facts for
``py_correlate`` (which joins sinks across functions). Commands and destinations are read
as text through ``py_strings``, so a command built in a variable or a URL kept in base64
is judged like a literal one.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from policies.scan import indicators as ind
from policies.scan.py_correlate import expand
from policies.scan.py_decode import decode_literal, hidden_url, looks_like_code
from policies.scan.py_facts import Drop, Launch
from policies.scan.py_labels import HIDDEN, STOLEN, Label, refs
from policies.scan.py_strings import UNKNOWN, text_of
from policies.scan.shell import judge_command

if TYPE_CHECKING:
    from policies.scan.py_flow import Analyzer, Scope

_SHELLS = frozenset({"/bin/sh", "/bin/bash", "sh", "bash", "cmd.exe", "-i"})
_HIDDEN_COMMAND = re.compile(
    r"\bpythonw(?:\.exe)?\b|(?:^|[\s&|;\"'])start\s+(?:/\w+\s+)*[\"'{\w]|\bnohup\b|\bsetsid\b"
    r"|\bdisown\b|[^&]&\s*$|-WindowStyle\s+Hidden|\bwscript\b",
    re.I,
)
_HIDING_FLAGS = 0x00000008 | 0x08000000
"""DETACHED_PROCESS and CREATE_NO_WINDOW: no console, no trace on screen."""
_HIDING_NAMES = ("DETACHED_PROCESS", "CREATE_NO_WINDOW", "SW_HIDE")
_ESCAPE = re.compile(r"\\x[0-9a-fA-F]{2}|\\[0-7]{3}|\\u[0-9a-fA-F]{4}")
_TEMPFILES = frozenset({"tempfile.NamedTemporaryFile", "tempfile.mkstemp", "tempfile.mktemp"})


def exec_sink(an: Analyzer, node: ast.Call, scope: Scope, name: str, labels: int) -> None:
    if labels & Label.NETDATA:
        an._hit("download-exec", node, scope, f"{name} of data fetched from the network")
    elif labels & HIDDEN:
        an._hit("obfuscated-exec", node, scope, f"{name} of decoded or encoded data")
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
        if _escaped(an, first):
            an._hit("obfuscated-exec", node, scope, f"{name} of code spelled in escape sequences")
        # Literal code is judged for what it does, not for being exec'd.
        code = first.value if isinstance(first.value, str) else first.value.decode("latin-1")
        an.nested(code, node, scope)
    elif name in ("exec", "eval", "builtins.exec", "builtins.eval", "execfile"):
        an._hit("exec", node, scope)


def process_sink(
    an: Analyzer, node: ast.Call, args: list[ast.expr], scope: Scope, labels: int
) -> None:
    an._hit("process", node, scope)
    an.event("process", node)
    if labels & Label.NETDATA:
        an._hit("download-exec", node, scope, "starts a process on data fetched from the network")
    elif labels & HIDDEN:
        an._hit("obfuscated-exec", node, scope, "starts a process on decoded data")
    used = _names(an, scope, [*args, *(k.value for k in node.keywords)])
    an.facts.launches.append(Launch(used, node.lineno, scope.name))
    strings = _strings(an, scope, args)
    if strings:
        an.judge_strings(strings, node, scope)
    if any(s in _SHELLS for s in strings):
        scope.shell_line = scope.shell_line or node.lineno
    why = _hiding(an, node, " ".join(strings))
    if why:
        an._hit("hidden-process", node, scope, why)


def network_sink(an: Analyzer, node: ast.Call, scope: Scope, name: str, labels: int) -> None:
    an._hit("network", node, scope)
    an.event("network", node)
    scope.network_line = scope.network_line or node.lineno
    target = node.args[0] if node.args else None
    for keyword in node.keywords:
        if keyword.arg in ("url", "host", "address"):
            target = keyword.value
    if isinstance(target, ast.Tuple) and target.elts:
        target = target.elts[0]
    if target is not None:
        sends = name.rsplit(".", 1)[-1] in ("post", "put", "patch") or any(
            k.arg in ("data", "json", "files") for k in node.keywords
        )
        bare = name.startswith(("socket.", "dns."))
        endpoint(an, node, scope, target, bare=bare, sends=sends)
    if labels & (STOLEN | Label.IDENTITY | Label.CLOUD):
        report_leak(an, node, scope, labels)


def endpoint(
    an: Analyzer, node: ast.Call, scope: Scope, target: ast.expr, *, bare: bool, sends: bool = False
) -> None:
    """A network call to a destination the source fixes (``sends``: with data in the
    request): ``py_rules`` judges it by when it runs and where it goes."""
    text = text_of(an, target, scope)
    if text and ind.destination(text, bare=bare):
        an._hit("endpoint-send" if sends else "endpoint", node, scope, text[:300])


def decoded_literal(an: Analyzer, node: ast.Call, scope: Scope, name: str) -> None:
    decoded = decode_literal(name, text_of(an, node.args[0], scope))
    if decoded is None:
        return
    url = hidden_url(decoded)
    command = judge_command(decoded)
    if command is not None:
        an._hit(command.rule, node, scope, f"decoded from a literal: {command.why}")
    elif url and ind.destination(url):
        an._hit("hidden-endpoint", node, scope, f"decodes to {url[:80]}")
    if looks_like_code(decoded):
        an.nested(decoded, node, scope, threats=True)


def write_sink(an: Analyzer, node: ast.Call, scope: Scope) -> None:
    """``open(path, 'w')``: where the path points."""
    path = an._expr(node.args[0], scope)
    if path & Label.AUTOSTART or (path & Label.RCFILE and path & Label.OUTSIDE):
        an._hit("persistence", node, scope, "writes a file into an autostart location")
    elif path & Label.OUTSIDE or _outside_build(node.args[0], an):
        an._hit("write-out", node, scope)


def written(
    an: Analyzer,
    node: ast.Call,
    scope: Scope,
    receiver: ast.expr | None,
    payload: int,
    labels: int,
) -> None:
    """``handle.write(data)``: downloaded or decoded bytes dropped to a file are noted
    for ``py_correlate``; literal Python written out is analysed for what it will do."""
    content = text_of(an, node.args[0], scope)
    if content and UNKNOWN not in content and len(content) > 24 and looks_like_code(content):
        an.nested(content, node, scope, threats=True)
    if not payload:
        return
    path: frozenset[str] | None = None
    if isinstance(receiver, ast.Name):
        handle = scope.handles.get(receiver.id)
        if handle is not None:
            path = handle | {receiver.id}
    elif isinstance(receiver, ast.Call) and receiver.args and an.opens_for_write(receiver):
        path = refs(receiver.args[0])
    if path is not None:
        derived = {**an.global_derived, **scope.derived}
        paths = _drop_aliases(an, expand(path, derived))
        an.facts.drops.append(Drop(paths, labels, node.lineno, scope.name))


def report_leak(an: Analyzer, node: ast.Call, scope: Scope, labels: int) -> None:
    if labels & Label.SECRET:
        an._hit("exfiltration", node, scope, "sends secrets (keys, tokens, credentials) out")
    elif labels & Label.ENVDUMP:
        an._hit("exfiltration", node, scope, "sends the whole environment out")
    elif labels & Label.CLOUD:
        # Cloud SDKs do this by design; only code that runs unasked is judged (py_rules).
        an._hit("cloud-token", node, scope, "sends cloud instance credentials on")
    else:
        an._hit("recon", node, scope, "sends the host or user name out")


def is_handle(an: Analyzer, value: ast.expr) -> bool:
    """Whether binding ``value`` makes a writable file handle (``open(p, 'w')``, a named
    temporary file)."""
    if not isinstance(value, ast.Call):
        return False
    return an.opens_for_write(value) or an.names.qualname(value.func) in _TEMPFILES


def _hiding(an: Analyzer, node: ast.Call, command: str) -> str | None:
    match = _HIDDEN_COMMAND.search(command)
    if match:
        return f"the command starts it hidden or detached ({match.group(0).strip()!r})"
    for keyword in node.keywords:
        if keyword.arg not in ("creationflags", "startupinfo"):
            continue
        value = keyword.value
        numbers = [c.value for c in ast.walk(value) if isinstance(c, ast.Constant)]
        if any(isinstance(n, int) and n & _HIDING_FLAGS for n in numbers):
            return "creationflags detach it from any console"
        names = [an.names.qualname(c) or "" for c in ast.walk(value) if isinstance(c, ast.expr)]
        if any(n.endswith(_HIDING_NAMES) for n in names):
            return "creationflags hide its window"
    return None


def _escaped(an: Analyzer, node: ast.Constant) -> bool:
    """Whether the literal's source is mostly escape sequences (``"\\x65\\x76\\x61\\x6c"``):
    nobody writes code that way except to keep it from being read."""
    if an.lines is None or node.end_lineno != node.lineno or node.end_col_offset is None:
        return False
    line = an.lines[node.lineno - 1] if node.lineno <= len(an.lines) else ""
    source = line[node.col_offset : node.end_col_offset]
    escapes = _ESCAPE.findall(source)
    return len(escapes) >= 3 and sum(map(len, escapes)) >= 0.5 * len(source)


def _names(an: Analyzer, scope: Scope, nodes: list[ast.expr]) -> frozenset[str]:
    found: frozenset[str] = frozenset().union(*(refs(n) for n in nodes))
    return _drop_aliases(an, expand(found, {**an.global_derived, **scope.derived}))


def _drop_aliases(an: Analyzer, names: frozenset[str]) -> frozenset[str]:
    return frozenset(n for n in names if n not in an.names.aliases)


def _strings(an: Analyzer, scope: Scope, args: list[ast.expr]) -> list[str]:
    found: list[str] = []
    for arg in args:
        if isinstance(arg, ast.List | ast.Tuple):
            found.extend(t for e in arg.elts if (t := text_of(an, e, scope)) is not None)
        else:
            text = text_of(an, arg, scope)
            if text is not None:
                found.append(text)
    return found


def _outside_build(path: ast.expr, an: Analyzer) -> bool:
    """Home, system or startup locations spelled in the call itself."""
    for child in ast.walk(path):
        if isinstance(child, ast.Subscript) and an.names.qualname(child.value) == "os.environ":
            return True
    return False
