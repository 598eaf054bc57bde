"""Claim 6 (WCRI): the weakly coupled residual initialisation helps Elman RNNs.

Elman RNNs h_t = phi(W h_{t-1} + U x_t + b) with W_0 from: PyTorch's default (uniform, tanh), a random
orthogonal matrix (tanh), the identity with ReLU (IRNN), and WCRI W_0 = Lambda + eps W~ with Lambda the
evenly spaced rotational residual ("wcri rot") or the identity ("wcri id"), mu = 1, tanh.  Tasks: sMNIST and
psMNIST.  Planned comparisons: the better WCRI arm (by mean, chosen after the runs) against each of the three
standard initialisations, paired over seeds.
"""
from __future__ import annotations

from . import _arms as A
from . import _common as C

NAME = "wcri"
TITLE = "Weakly coupled residual initialisation (WCRI) of Elman RNNs"
CLAIM = ("Initialising an Elman RNN as a weakly coupled residual network, W_0 = Lambda + eps W~, lets it train "
         "better than the standard initialisations (default, orthogonal, identity/IRNN).")

PRESETS = {
    "tiny": dict(extra_seeds=A.EXTRA_SEEDS["tiny"], tasks=["smnist"], seeds=[0, 1], mu=1.0),
    "quick": dict(extra_seeds=A.EXTRA_SEEDS["quick"], tasks=["smnist", "psmnist"], seeds=[0, 1, 2], mu=1.0),
    "full": dict(extra_seeds=A.EXTRA_SEEDS["full"], tasks=["smnist", "psmnist"], seeds=[0, 1, 2], mu=1.0),
}

BASELINES = ["default", "orthogonal", "IRNN (identity, relu)"]


def arms(p):
    mu = float(p["mu"])
    return [A.Arm("default", dict(model="elman", init="default")),
            A.Arm("orthogonal", dict(model="elman", init="orthogonal")),
            A.Arm("IRNN (identity, relu)", dict(model="elman", init="identity", activation="relu")),
            A.Arm("wcri rot", dict(model="elman", init="wcri", family="rotational", mu=mu)),
            A.Arm("wcri id", dict(model="elman", init="wcri", family="scaled_identity", mu=mu))]


def run(ctx, p):
    tasks, notes = A.plan_tasks(ctx.preset, p["tasks"])
    arm_list = arms(p)
    cells, maps = [], []
    for t in tasks:
        c, lm = A.cells_for(ctx.preset, t, arm_list, p["seeds"])
        cells += c
        maps.append(lm)
    recs = C.run_cells(ctx, ctx.out_dir / NAME, cells)
    plan = []
    for t, lm in zip(tasks, maps):
        best = A.best_label(t, A.group_runs(recs, lm), ["wcri rot", "wcri id"]) or "wcri rot"
        plan.append((t, "test", arm_list, [A.Comparison(best, b) for b in BASELINES]))
    extra = (f"WCRI with mu = {p['mu']} and eps = the recipe's eps; the better WCRI arm per task is compared."
             + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    return A.run_claim(ctx, name=NAME, number=6, title=TITLE, claim=CLAIM, p=p, plan=plan, setup_extra=extra)
