"""Fits the coefficients of ``policies/typosquat/tuning.py`` on the *fit* half only.

    python bench/typosquat/fit.py --ordinary PATH/TO/pypi.tsv [--rounds 2] [--max-flag 0.004]

Coordinate search: each coefficient in turn is moved over a few steps and kept where the
score is best. Score: the mean of typo and structural recall on the fit targets'
imitations, minus a steep penalty when the flag rate on a fixed sample of fit-half
ordinary projects exceeds ``--max-flag``, and minus a penalty when recall on the real
sample (tests/fixtures/typosquats-sample.tsv) falls below ``--min-sample``: generated
imitations decide, the real names only veto a direction that loses real attacks (the
first fit, without the veto, lost a fifth of them by trusting ``crowd``). The held-out
half is left to evaluate.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path

from corpus import Imitation, load, read_sample
from evaluate import index_for

from policies.typosquat.index import ProtectedIndex
from policies.typosquat.tuning import DEFAULT

STEPS = (-0.5, 0.5, -0.25, 0.25)
SEARCHED = (
    "length", "rank", "first_letter_changed", "last_letter", "unlike_letter", "omission", "plural",
    "sound", "affix", "affix_rank", "glued", "affix_common", "family", "convention", "popular_word",
    "number", "number_changed",
)  # fmt: skip
SAMPLE = read_sample()
IMITATION_SAMPLE = 8_000


def score(
    index: ProtectedIndex,
    imitations: list[Imitation],
    ordinary: list[str],
    limits: tuple[float, float],
) -> tuple[float, str]:
    max_flag, min_sample = limits
    groups: dict[str, list[bool]] = {"typo": [], "structural": []}
    for imitation in imitations:
        groups[imitation.kind.group].append(index.match(imitation.name) is not None)
    typo = sum(groups["typo"]) / len(groups["typo"])
    structural = sum(groups["structural"]) / len(groups["structural"])
    flagged = sum(1 for name in ordinary if index.match(name)) / len(ordinary)
    real = sum(1 for name, _ in SAMPLE if index.match(name)) / len(SAMPLE)
    value = (typo + structural) / 2 - 200 * max(0.0, flagged - max_flag)
    value -= 10 * max(0.0, min_sample - real)
    return value, (
        f"typo {typo:.3f} structural {structural:.3f} flagged {100 * flagged:.3f}% "
        f"sample {real:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ordinary", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-flag", type=float, default=0.004)
    parser.add_argument("--min-sample", type=float, default=0.9)
    args = parser.parse_args(argv)
    corpus = load(args.ordinary)
    ordinary = corpus.fit_ordinary
    limits = (args.max_flag, args.min_sample)
    imitations = random.Random(5).sample(corpus.fit_imitations, IMITATION_SAMPLE)
    index = index_for(corpus)
    best, best_text = score(index, imitations, ordinary, limits)
    tuning = DEFAULT
    print(f"start: {best:.4f} {best_text}", flush=True)
    for round_number in range(args.rounds):
        for field in SEARCHED:
            for step in STEPS:
                # A line search: keep going in a direction while it helps.
                while True:
                    trial = dataclasses.replace(tuning, **{field: getattr(tuning, field) + step})
                    index.tuning = trial
                    value, text = score(index, imitations, ordinary, limits)
                    if value <= best:
                        break
                    best, best_text, tuning = value, text, trial
                    print(
                        f"round {round_number} {field}={getattr(trial, field):.2f}: "
                        f"{best:.4f} {text}",
                        flush=True,
                    )
    print(f"\nbest: {best_text}\n{tuning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
