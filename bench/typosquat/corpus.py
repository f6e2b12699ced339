"""The evaluation data, split so that nothing measured was used for fitting.

- popular: the ``top`` best-ranked names of the download-rank table (the protected set);
- targets: popular names drawn with replacement, with weight ``rank ** -0.7``, so that
  a popular name is imitated several times and the tail still often (the shares by rank
  band come close to those of real attacks: about a quarter each on the top 100,
  101-1,000, 1,001-5,000 and 5,001-15,000); split in two halves by a hash of the name, so
  no target is in both halves; each draw makes one imitation per class (``imitations``);
- ordinary: every other name of the table, split in two halves by a hash. The fit half,
  less a probe of 20,000 names, gives the affix and family counts (``NameStructure``,
  scaled to the whole table), so neither the probe (the fit's flag rate) nor the held-out
  half (the reported one) is counted in the families it is judged by, as a future
  ordinary project would not be. (A first fit measured its flag rate on names that were
  counted: 0.49% there became 0.64% on the held-out half.)
"""

from __future__ import annotations

import random
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

from generate_popular import read_names, read_ranks  # noqa: E402
from imitations import CLASSES, ImitationClass, imitate  # noqa: E402

from policies.typosquat.structure import NameStructure  # noqa: E402

SAMPLE = REPO / "tests" / "fixtures" / "typosquats-sample.tsv"


@dataclass(frozen=True)
class Imitation:
    name: str
    target: str
    kind: ImitationClass


@dataclass
class Corpus:
    ranks: dict[str, int]
    """The protected popular names and their rank."""
    fit_targets: list[str]
    held_targets: list[str]
    fit_imitations: list[Imitation]
    held_imitations: list[Imitation]
    fit_ordinary: list[str]
    """The fit probe: fit-half ordinary names not counted in ``fit_structure``."""
    held_ordinary: list[str]
    fit_structure: NameStructure


def half(name: str) -> int:
    return zlib.crc32(name.encode()) % 2


TARGET_WEIGHT = -0.7
PROBE = 20_000


def draw_targets(ranks: dict[str, int], count: int, seed: int) -> list[str]:
    """``count`` draws with replacement: a popular name comes up several times."""
    names = sorted(ranks, key=ranks.__getitem__)
    weights = [ranks[name] ** TARGET_WEIGHT for name in names]
    return random.Random(seed).choices(names, weights, k=count)


def generate(draws: list[str], taken: set[str], seed: int) -> list[Imitation]:
    made: list[Imitation] = []
    seen: set[str] = set()
    for number, target in enumerate(draws):
        for kind in CLASSES:
            rng = random.Random(f"{seed}:{number}:{target}:{kind.name}")
            name = imitate(target, kind, rng, lambda n: n in taken or n in seen)
            if name is not None:
                seen.add(name)
                made.append(Imitation(name, target, kind))
    return made


def load(table: Path, top: int = 15000, targets: int = 1500, seed: int = 1) -> Corpus:
    all_ranks = read_ranks(table)
    ranks = dict(sorted(all_ranks.items(), key=lambda item: item[1])[:top])
    names = read_names(table)
    taken = set(names) | set(ranks)
    drawn = draw_targets(ranks, targets, seed)
    fit_targets = [t for t in drawn if half(t) == 0]
    held_targets = [t for t in drawn if half(t) == 1]  # draws: a target may come twice
    ordinary = [name for name in names if name not in ranks]
    fit_half = [n for n in ordinary if half(n) == 0]
    held_ordinary = [n for n in ordinary if half(n) == 1]
    fit_ordinary = random.Random(seed).sample(fit_half, PROBE)
    probe = set(fit_ordinary)
    counted = [n for n in fit_half if n not in probe]
    scale = len(ordinary) / len(counted)
    return Corpus(
        ranks,
        fit_targets,
        held_targets,
        generate(fit_targets, taken, seed),
        generate(held_targets, taken, seed),
        fit_ordinary,
        held_ordinary,
        NameStructure.learn([*counted, *ranks], set(ranks), scale=scale),
    )


def read_sample(path: Path = SAMPLE) -> list[tuple[str, str]]:
    from packaging.utils import canonicalize_name

    rows = [line.split("\t") for line in path.read_text().splitlines() if not line.startswith("#")]
    return [(canonicalize_name(r[0]), canonicalize_name(r[1])) for r in rows[1:] if len(r) >= 2]
