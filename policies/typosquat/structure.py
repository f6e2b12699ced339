"""What the names of real projects say about affixes, learnt from the index's name list.

- ``uses(word, side)``: how many projects use ``word`` as their first (``PREFIX``) or last
  (``SUFFIX``) ``-``-separated part. Words that many projects add (``utils``, ``sdk``,
  ``py``) are affixes: a popular name plus one of them reads as a companion package.
- ``family(target, side)``: how many projects are named ``target-*`` (``SUFFIX``: the word
  comes after) or ``*-target`` (``PREFIX``). A target with a big family (``django``,
  ``pytest``) is a namespace that ordinary projects extend; one more member proves little.

Only counts are kept, never names of ordinary projects. ``bench/typosquat/
generate_popular.py`` computes them from a download-rank table and writes ``data/
structure.tsv``; ``bench/typosquat/evaluate.py`` computes them from half the names only.
"""

from __future__ import annotations

import enum
import functools
from collections import Counter
from collections.abc import Iterable, Set
from pathlib import Path

STRUCTURE_FILE = Path(__file__).resolve().parent / "data" / "structure.tsv"
MIN_USES = 5
"""Words used by fewer projects are not kept: they read as words, not affixes."""


class Side(enum.Enum):
    PREFIX = "prefix"
    SUFFIX = "suffix"


class NameStructure:
    def __init__(
        self,
        uses: dict[str, tuple[int, int]],
        families: dict[str, tuple[int, int]],
    ) -> None:
        self._uses = uses
        """word -> (projects using it as the first part, as the last part)"""
        self._families = families
        """protected name -> (projects named ``*-name``, projects named ``name-*``)"""

    def uses(self, word: str, side: Side) -> int:
        counts = self._uses.get(word)
        return 0 if counts is None else counts[side is Side.SUFFIX]

    def family(self, target: str, side: Side) -> int:
        counts = self._families.get(target)
        return 0 if counts is None else counts[side is Side.SUFFIX]

    @classmethod
    def learn(cls, names: Iterable[str], popular: Set[str], scale: float = 1.0) -> NameStructure:
        """Counts over normalized ``names``; ``scale`` multiplies them (e.g. 2 when only
        half of the index's names are given)."""
        prefixes: Counter[str] = Counter()
        suffixes: Counter[str] = Counter()
        before: Counter[str] = Counter()
        after: Counter[str] = Counter()
        for name in names:
            parts = name.split("-")
            if len(parts) < 2:
                continue
            prefixes[parts[0]] += 1
            suffixes[parts[-1]] += 1
            for cut in range(1, len(parts)):
                head, tail = "-".join(parts[:cut]), "-".join(parts[cut:])
                if head in popular:
                    after[head] += 1
                if tail in popular:
                    before[tail] += 1

        def scaled(count: int) -> int:
            return round(count * scale)

        uses = {
            word: (scaled(prefixes[word]), scaled(suffixes[word]))
            for word in prefixes.keys() | suffixes.keys()
            if max(prefixes[word], suffixes[word]) * scale >= MIN_USES
        }
        families = {
            name: (scaled(before[name]), scaled(after[name]))
            for name in before.keys() | after.keys()
        }
        return cls(uses, families)

    def write(self, path: Path, header: str) -> None:
        lines = [f"affix\t{p}\t{s}\t{word}\n" for word, (p, s) in sorted(self._uses.items())]
        lines += [f"family\t{b}\t{a}\t{name}\n" for name, (b, a) in sorted(self._families.items())]
        path.write_text(header + "".join(lines), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> NameStructure:
        uses: dict[str, tuple[int, int]] = {}
        families: dict[str, tuple[int, int]] = {}
        tables = {"affix": uses, "family": families}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if len(cells) != 4 or cells[0] not in tables or not (cells[1] + cells[2]).isdigit():
                raise ValueError(
                    f"{path}:{number}: expected 'affix|family<TAB>count<TAB>count<TAB>word', "
                    f"got {line!r}"
                )
            tables[cells[0]][cells[3]] = (int(cells[1]), int(cells[2]))
        return cls(uses, families)


@functools.cache
def load_structure() -> NameStructure:
    """The shipped counts, read once per process."""
    return NameStructure.read(STRUCTURE_FILE)
