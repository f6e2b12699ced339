"""What one call does to the labels of its data, and which calls are sinks.

Kept apart from ``py_flow`` (the statement walker) so that the table of behaviours reads
in one place: decoders add ``DECODED``, network reads add ``NETDATA``, identity lookups
add ``IDENTITY``, home and profile folders add ``OUTSIDE``; exec, process, network and
file-write calls check what reaches them (``py_sink_kinds``).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from policies.scan import py_catalog as cat
from policies.scan import py_sink_kinds as kinds
from policies.scan.py_correlate import expand
from policies.scan.py_facts import Drop
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
_HOME = frozenset({"os.path.expanduser", "os.path.expandvars", "pathlib.Path.home"})
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
        kinds.exec_sink(an, node, scope, name, arg_labels)
    elif cat.resolve_star(name, cat.PROCESS):
        kinds.process_sink(an, node, node.args, scope, arg_labels)
    elif name in cat.FINGERPRINT:
        label |= Label.IDENTITY
        an.event("identity", node)
    elif name in cat.CAPTURE:
        an.event("capture", node)
    if cat.resolve_star(name, cat.NETWORK):
        kinds.network_sink(an, node, scope, name, arg_labels)
        label |= Label.NETDATA
    if name in cat.DECODE and not _plain_codec(node, name):
        label |= Label.DECODED
        if node.args:
            kinds.decoded_literal(an, node, scope, name)
    elif name in ("os.getenv", "os.environ.get", "os.putenv") and node.args:
        label = env_label(node.args[0])
    elif name in _HOME:
        label |= Label.OUTSIDE
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
    elif name == "chr" and node.args and _arithmetic(node.args[0]):
        label |= Label.DECODED  # chr(ord(c) ^ key): a hand-written cipher
    elif name in ("urllib.request.urlretrieve", "urllib.urlretrieve") and len(node.args) > 1:
        path = expand(refs(node.args[1]), {**an.global_derived, **scope.derived})
        an.facts.drops.append(Drop(path, Label.NETDATA, node.lineno, scope.name))
    elif name in _SPAWNERS:
        _spawned(an, node, scope)
    elif (name in cat.COPIES or name in cat.REGISTRY_WRITES) and arg_labels & Label.AUTOSTART:
        an._hit("persistence", node, scope, "copies a program to, or registers it in, autostart")
    if name in ("socket.socket", "socket.create_connection"):
        scope.socket_line = scope.socket_line or node.lineno
    if name in ("open", "io.open", "codecs.open") and node.args and an.opens_for_write(node):
        kinds.write_sink(an, node, scope)
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
        if node.args and isinstance(node.args[0], ast.Tuple):
            scope.socket_line = scope.socket_line or node.lineno
            kinds.endpoint(an, node, scope, node.args[0].elts[0], bare=True)
    elif method in ("write", "writelines") and node.args:
        kinds.written(an, node, scope, receiver, payload, arg_labels)
    if method in _SEND_METHODS and arg_labels & (STOLEN | Label.IDENTITY | Label.CLOUD):
        kinds.report_leak(an, node, scope, arg_labels)
    return label


def _spawned(an: Analyzer, node: ast.Call, scope: Scope) -> None:
    """A thread, process or exit hook runs its target: a local function is called, a
    process function (``Thread(target=os.system, args=(cmd,))``) starts a process."""
    targets = [k.value for k in node.keywords if k.arg == "target"] + node.args[:1]
    call_args = [k.value for k in node.keywords if k.arg == "args"] + node.args[1:2]
    for target in targets:
        if isinstance(target, ast.Name) and target.id in an.functions:
            an.facts.calls[scope.name].add(target.id)
        qualified = an.names.qualname(target)
        if qualified and cat.resolve_star(qualified, cat.PROCESS):
            passed = call_args[0] if call_args else None
            elements = passed.elts if isinstance(passed, ast.Tuple | ast.List) else call_args
            labels = Label.NONE
            for element in elements:
                labels |= an._expr(element, scope)
            kinds.process_sink(an, node, list(elements), scope, labels)


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
    # place (''.join(...), chr arithmetic, slices of other objects' text) is how
    # obfuscators do.
    computed = isinstance(target, ast.Call | ast.Subscript) or (
        isinstance(target, ast.BinOp)
        and (
            not isinstance(target.op, ast.Add)
            or any(isinstance(c, ast.Call | ast.Subscript) for c in ast.walk(target))
        )
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


def _arithmetic(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.BitXor | ast.Sub | ast.Add | ast.Mod)
        and any(
            isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "ord"
            for c in ast.walk(node)
        )
    )


def _builds_from_chr(node: ast.expr) -> bool:
    return any(isinstance(child, ast.Name) and child.id == "chr" for child in ast.walk(node))
