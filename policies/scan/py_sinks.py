"""What one call does to the labels of its data, and which calls are sinks.

Kept apart from ``py_flow`` (the statement walker) so that the table of behaviours reads
in one place: decoders add ``DECODED``, network reads add ``NETDATA``, identity lookups
add ``IDENTITY``; exec, process, network and file-write calls check what reaches them.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from policies.scan import py_catalog as cat
from policies.scan.py_labels import HIDDEN, PLAIN_CODECS, STOLEN, Label, env_label, refs

if TYPE_CHECKING:
    from policies.scan.py_flow import Analyzer, Scope

_SPAWNERS = frozenset(
    {"threading.Thread", "multiprocessing.Process", "atexit.register", "threading.Timer"}
)
_SEND_METHODS = frozenset(
    {
        "send",
        "sendall",
        "sendto",
        "post",
        "put",
        "request",
        "execute",
        "send_message",
        "sendMessage",
        "send_document",
        "sendDocument",
    }
)
_ALL = cat.EXEC | cat.PROCESS | cat.NETWORK | cat.DECODE | cat.FINGERPRINT


def call_label(an: Analyzer, node: ast.Call, scope: Scope) -> int:
    name = an.names.qualname(node.func)
    if name is None and isinstance(node.func, ast.Name):
        name = an.names.star_qualname(node.func.id, _ALL)
    args = [*node.args, *(k.value for k in node.keywords)]
    arg_labels = Label.NONE
    for arg in args:
        arg_labels |= an._expr(arg, scope)
    label = arg_labels
    func = node.func
    method = func.attr if isinstance(func, ast.Attribute) else None
    if isinstance(func, ast.Attribute) and name is None:
        label |= an._expr(func.value, scope)
    elif isinstance(node.func, ast.Call | ast.Lambda | ast.Subscript):
        label |= an._expr(node.func, scope)
    elif isinstance(node.func, ast.Name) and name is None:
        label |= scope.env.get(node.func.id, Label.NONE) | an.globals.get(node.func.id, Label.NONE)
        if node.func.id in an.functions:
            an.facts.calls[scope.name].add(node.func.id)
            label |= an.summary(node.func.id)
    holder = (
        func.value.id
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        else ""
    )
    if isinstance(func, ast.Attribute) and holder in ("self", "cls"):
        an.facts.calls[scope.name].add(func.attr)
    if name is not None:
        label = _named(an, node, scope, name, arg_labels, label)
    if method is not None:
        label = _method(an, node, scope, method, arg_labels, label)
    return label


def _named(
    an: Analyzer, node: ast.Call, scope: Scope, name: str, arg_labels: int, label: int
) -> int:
    if name in cat.EXEC:
        _exec_sink(an, node, scope, name, arg_labels)
    elif cat.resolve_star(name, cat.PROCESS):
        _process_sink(an, node, scope, arg_labels)
    elif name in cat.FINGERPRINT:
        label |= Label.IDENTITY
    if cat.resolve_star(name, cat.NETWORK):
        _network_sink(an, node, scope, name, arg_labels)
        label |= Label.NETDATA
    if name in cat.DECODE and not _plain_codec(node, name):
        label |= Label.DECODED
    elif name in ("os.getenv", "os.environ.get", "os.putenv") and node.args:
        label = env_label(node.args[0])
    elif name in ("dict", "str", "json.dumps") and any(
        an.names.qualname(a) == "os.environ" for a in node.args
    ):
        label |= Label.ENVDUMP
    elif name in cat.DUP2:
        scope.dup2_line = scope.dup2_line or node.lineno
    elif name in cat.SHELL_SPAWN:
        scope.pty_line = scope.pty_line or node.lineno
    elif name in ("getattr", "__import__") and _computed(node, name):
        an._hit("dynamic-builtins", node, scope, f"{name} of a computed name")
    elif name in ("bytes", "bytearray") and node.args and _int_list(node.args[0]):
        label |= Label.DECODED
    elif name in ("urllib.request.urlretrieve", "urllib.urlretrieve") and len(node.args) > 1:
        scope.dropped.append((refs(node.args[1]), Label.NETDATA))
    elif name in _SPAWNERS:
        for keyword in node.keywords:
            if keyword.arg == "target" and isinstance(keyword.value, ast.Name):
                an.facts.calls[scope.name].add(keyword.value.id)
        if node.args and isinstance(node.args[0], ast.Name):
            an.facts.calls[scope.name].add(node.args[0].id)
    if name in ("socket.socket", "socket.create_connection"):
        scope.socket_line = scope.socket_line or node.lineno
    writes = name in ("open", "io.open", "codecs.open") and an._opens_for_write(node)
    if writes and node.args and _outside_build(node.args[0], an):
        an._hit("write-out", node, scope)
    return label


def _method(
    an: Analyzer, node: ast.Call, scope: Scope, method: str, arg_labels: int, label: int
) -> int:
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    payload = arg_labels & (HIDDEN | Label.NETDATA)
    if method == "join" and isinstance(receiver, ast.Constant):
        if node.args and _builds_from_chr(node.args[0]):
            label |= Label.DECODED
    elif method in cat.DECODE_METHODS:
        label |= Label.DECODED
    elif method in cat.SECRET_METHODS:
        label |= Label.SECRET
        scope.secret_line = scope.secret_line or node.lineno
    elif method in ("items", "copy", "keys", "values"):
        if receiver is not None and an.names.qualname(receiver) == "os.environ":
            label |= Label.ENVDUMP
    elif method == "connect":
        # A socket made elsewhere and connected to a (host, port) tuple here.
        if scope.socket_line == 0 and node.args and isinstance(node.args[0], ast.Tuple):
            scope.socket_line = node.lineno
    elif method == "write" and isinstance(receiver, ast.Name):
        handle = scope.handles.get(receiver.id) if payload else None
        if handle is not None:
            scope.dropped.append((handle, arg_labels))
    elif (
        method == "write"
        and isinstance(receiver, ast.Call)
        and payload
        and receiver.args
        and an._opens_for_write(receiver)
    ):
        scope.dropped.append((refs(receiver.args[0]), arg_labels))
    if method in _SEND_METHODS and arg_labels & (STOLEN | Label.IDENTITY | Label.CLOUD):
        _report_leak(an, node, scope, arg_labels)
    return label


def _exec_sink(an: Analyzer, node: ast.Call, scope: Scope, name: str, labels: int) -> None:
    if labels & Label.NETDATA:
        an._hit("download-exec", node, scope, f"{name} of data fetched from the network")
    elif labels & HIDDEN:
        an._hit("obfuscated-exec", node, scope, f"{name} of decoded or encoded data")
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        # Literal code is judged for what it does, not for being exec'd.
        an.nested(node.args[0].value, node, scope)
    elif name in ("exec", "eval", "builtins.exec", "builtins.eval", "execfile"):
        an._hit("exec", node, scope)


def _process_sink(an: Analyzer, node: ast.Call, scope: Scope, labels: int) -> None:
    an._hit("process", node, scope)
    if labels & Label.NETDATA:
        an._hit("download-exec", node, scope, "starts a process on data fetched from the network")
    elif labels & HIDDEN:
        an._hit("obfuscated-exec", node, scope, "starts a process on decoded data")
    used = frozenset().union(*(refs(a) for a in [*node.args, *(k.value for k in node.keywords)]))
    for path, dropped in scope.dropped:
        names = {p for p in path if p not in an.names.aliases}
        if names & used or any(p in u for p in names if len(p) > 4 for u in used):
            rule = "download-exec" if dropped & Label.NETDATA else "obfuscated-exec"
            an._hit(rule, node, scope, "writes a downloaded or decoded file, then runs it")
            break
    strings = [s for a in node.args for s in _strings(a)]
    if strings:
        an.judge_strings(strings, node, scope)
    if any(s in ("/bin/sh", "/bin/bash", "sh", "bash", "cmd.exe", "-i") for s in strings):
        scope.shell_line = scope.shell_line or node.lineno


def _network_sink(an: Analyzer, node: ast.Call, scope: Scope, name: str, labels: int) -> None:
    an._hit("network", node, scope)
    scope.network_line = scope.network_line or node.lineno
    if labels & (STOLEN | Label.IDENTITY | Label.CLOUD):
        _report_leak(an, node, scope, labels)


def _report_leak(an: Analyzer, node: ast.Call, scope: Scope, labels: int) -> None:
    if labels & Label.SECRET:
        an._hit("exfiltration", node, scope, "sends secrets (keys, tokens, credentials) out")
    elif labels & Label.ENVDUMP:
        an._hit("exfiltration", node, scope, "sends the whole environment out")
    elif labels & Label.CLOUD:
        # Cloud SDKs do this by design; only code that runs unasked is judged (py_rules).
        an._hit("cloud-token", node, scope, "sends cloud instance credentials on")
    else:
        an._hit("recon", node, scope, "sends the host or user name out")


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple):
        return [s for e in node.elts for s in _strings(e)]
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        pieces = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)]
        return ["".join(p for p in pieces if isinstance(p, str))]
    return []


def _plain_codec(node: ast.Call, name: str) -> bool:
    if name != "codecs.decode" or len(node.args) < 2:
        return False
    codec = node.args[1]
    return isinstance(codec, ast.Constant) and str(codec.value).lower() in PLAIN_CODECS


def _computed(node: ast.Call, name: str) -> bool:
    position = 1 if name == "getattr" else 0
    if len(node.args) <= position:
        return False
    target = node.args[position]
    if isinstance(target, ast.Constant):
        return False
    # A name or attribute is how loaders and compat shims do it; a string computed in
    # place (''.join(...), chr arithmetic, decoding) is how obfuscators do.
    computed = isinstance(target, ast.Call | ast.Subscript) or (
        isinstance(target, ast.BinOp) and not isinstance(target.op, ast.Add)
    )
    if name != "getattr":
        return computed
    holder = node.args[0]
    return computed and isinstance(holder, ast.Name) and holder.id in ("__builtins__", "builtins")


def _int_list(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.List | ast.Tuple)
        and len(node.elts) >= 16
        and all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts[:16])
    )


def _builds_from_chr(node: ast.expr) -> bool:
    return any(isinstance(child, ast.Name) and child.id == "chr" for child in ast.walk(node))


def _outside_build(path: ast.expr, an: Analyzer) -> bool:
    """Home, system, temp-run or startup locations: not the build tree."""
    for child in ast.walk(path):
        if isinstance(child, ast.Call) and an.names.qualname(child.func) in (
            "os.path.expanduser",
            "os.getenv",
            "os.environ.get",
            "pathlib.Path.home",
            "os.path.expandvars",
        ):
            return True
        if isinstance(child, ast.Subscript) and an.names.qualname(child.value) == "os.environ":
            return True
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            text = child.value
            if text.startswith(("~", "/etc/", "/usr/", "C:\\", "c:\\", "%APPDATA%", "/Library/")):
                return True
    return False
