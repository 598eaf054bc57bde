"""Beyond the paper (issue 14), a confirmation on fresh seeds: the flossing comparison on the adding task.

The ``flossing`` experiment's adding task (Elman, T = 200, four arms) was competent but left every planned
comparison inconclusive after its two stages (seeds 0-4).  This experiment repeats that task's comparison on
ten *new* seeds (5-14), with the same recipe, arms, comparisons and verdict rules, and decides on those seeds
alone: the seeds already seen are not pooled in, there is no second stage, and the seed count was fixed (and
committed) before any of these runs, so looking at the first result does not bias this one.  Ten is above the
largest number the first result suggested for a decidable comparison (about 6 seeds for flossing during
training, 16 for flossing before, 41 for WCRI, if mean and spread held; docs/CLV.md).

psMNIST is not repeated: no arm reached competence there, and more seeds do not change that.
"""
from __future__ import annotations

from . import flossing as F

NAME = "flossing_confirm"
NUMBER = 8
TITLE = "Gradient flossing and WCRI for Elman RNNs on adding: confirmation on fresh seeds (beyond the paper)"
CLAIM = F.CLAIM

#: The fresh seeds of the full preset (fixed before the runs; disjoint from the flossing experiment's 0-4).
SEEDS = list(range(5, 15))

PRESETS = {
    "tiny": dict(F.PRESETS["tiny"], tasks=["adding"], seeds=[2, 3], extra_seeds=[]),
    "quick": dict(F.PRESETS["quick"], tasks=["adding"], seeds=[3, 4, 5], extra_seeds=[]),
    "full": dict(F.PRESETS["full"], tasks=["adding"], seeds=SEEDS, extra_seeds=[]),
}


def run(ctx, p):
    """The ``flossing`` comparison (:func:`wcrnn_dyn.experiments.flossing.run`) on the preset's fresh seeds,
    written to ``OUT/flossing_confirm/`` and report section 8.  Cost (full): 10 seeds x (95 + 78 + 109 + 338)
    core-seconds ~ 6,200 core-s, about 52 min with ``--jobs 2``."""
    return F.run(ctx, p, name=NAME, number=NUMBER, title=TITLE, claim=CLAIM)
