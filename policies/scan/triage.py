"""Which Python files are worth parsing, decided from the tokens they contain.

``ast.parse`` runs at about 10 MB/s on this machine, and a large wheel holds tens of
megabytes of source, nearly all of it ordinary. A yara-x scan for the token classes the
rules need runs at about 200 MB/s (Python's ``re`` with the same alternatives: 11-33
MB/s); a file is parsed only when its classes could add up to a finding: an exec sink
next to a decoder, network use next to secrets or processes, a sink at module level, an
obfuscation marker. What the tokens alone prove (PyArmor's runtime) is reported here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import yara_x

from policies.scan.triage_tokens import CLASSES, REGEXES

HIDDEN_RUN = b" " * 120
"""A run of spaces this long followed by code hides it off screen (checked with find)."""
SINKS = frozenset({"topcall"})
SMALL = 16 << 10
"""Files up to this size are parsed whenever they touch the network or processes."""
_NAME_BYTES = frozenset(
    bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
)


@dataclass(frozen=True, slots=True)
class Tokens:
    classes: frozenset[str]
    sink_offsets: tuple[int, ...] = field(default=())
    hidden_run: bool = False

    def needs_parse(self, data: bytes) -> bool:
        """Whether the classes found could add up to a finding (see the module doc)."""
        c = self.classes
        if c & {"obfuscation", "homoglyph", "escapes", "channel", "b64url", "escaped_exec"}:
            return True
        if self.hidden_run:
            return True
        if "persist" in c and c & {"writebin", "textwrite", "process"}:
            return True
        if "process" in c and c & {"hidden", "reconcmd"}:
            return True
        if "exec" in c and c & {"decode", "network"}:
            return True
        if "network" in c and c & {"secret", "identity", "envdump", "revshell"}:
            return True
        if "network" in c and "writebin" in c and c & {"process", "exec"}:
            return True
        if "process" in c and c & {"shell", "strong_decode"}:
            return True
        if len(data) <= SMALL and c & {"network", "process"}:
            # Payloads sit in a function the module calls; in a small file parsing costs
            # little, and the call graph decides what runs.
            return True
        return any(at_module_level(data, offset) for offset in self.sink_offsets)


def _source() -> str:
    rules = []
    for name, words in {**CLASSES}.items():
        strings = " ".join(f'$s{i} = "{_escape(w)}"' for i, w in enumerate(words))
        rules.append(f"rule {name} {{ strings: {strings} condition: any of them }}")
    for name, regex in REGEXES.items():
        rules.append(f"rule {name} {{ strings: $r = {regex} condition: $r }}")
    return "\n".join(rules)


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace('"', '\\"')


@functools.cache
def _rules() -> yara_x.Rules:
    return yara_x.compile(_source())


class Triage:
    """One scanner per thread (yara-x scanners are not shared across threads)."""

    def __init__(self) -> None:
        self._scanner = yara_x.Scanner(_rules())

    def tokens(self, data: bytes) -> Tokens:
        results = self._scanner.scan(data)
        classes = []
        offsets: list[int] = []
        for matched in results.matching_rules:
            found = [m.offset for p in matched.patterns for m in p.matches[:64]]
            if matched.identifier in ("exec", "topcall"):
                # Builtin calls only: re.compile(, self.eval( and my_exec( do not count.
                found = [o for o in found if o == 0 or data[o - 1 : o] not in _NAME_BYTES]
                if not found:
                    continue
            classes.append(matched.identifier)
            if matched.identifier in SINKS:
                offsets.extend(found)
        return Tokens(frozenset(classes), tuple(sorted(offsets)), HIDDEN_RUN in data)


def at_module_level(data: bytes, offset: int) -> bool:
    """Whether the line holding ``offset`` is module-level code: walk up through enclosing
    blocks by indentation until column 0; inside a ``def`` (or a ``class`` body's method)
    it is not. A heuristic for triage only: the parse decides."""
    start = data.rfind(b"\n", 0, offset) + 1
    line = data[start : data.find(b"\n", start) if data.find(b"\n", start) >= 0 else len(data)]
    indent = len(line) - len(line.lstrip(b" \t"))
    stripped = line.lstrip(b" \t")
    if stripped.startswith((b"#", b"import ", b"from ", b"def ", b"async def ")):
        return False
    pos = start
    steps = 0
    while indent > 0 and pos > 0 and steps < 2000:
        steps += 1
        end = pos - 1
        pos = data.rfind(b"\n", 0, end) + 1
        previous = data[pos:end]
        body = previous.lstrip(b" \t")
        if not body or body.startswith(b"#"):
            continue
        level = len(previous) - len(body)
        if level < indent:
            if body.startswith((b"def ", b"async def ", b"class ", b"lambda")):
                return False
            indent = level
    return indent == 0
