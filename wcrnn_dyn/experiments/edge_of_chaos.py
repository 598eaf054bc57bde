"""Claim 2 (edge of chaos): residuals near criticality (mu slightly below 1) train best.

mu is swept from clearly subcritical (0.9: memory ~ 10 steps) through critical (1) to supercritical (1.02)
with two residuals that do not integrate the input's mean into a growing state: evenly spaced rotations
(psMNIST, sMNIST), and mu I on centred inputs (psMNIST, sMNIST); on the adding problem mu I with the recipe
that learns long sequences.  Planned comparisons per task and residual: the best arm inside the near-critical
window [0.97, 1.0] against each end of the sweep (mu = 0.9 and mu = 1.02), paired over seeds.  The steps to
90 % of the best validation value are reported per arm.
"""
from __future__ import annotations

import numpy as np

from . import _arms as A
from . import _common as C

NAME = "edge_of_chaos"
TITLE = "Near-critical residuals train best (edge of chaos)"
CLAIM = ("Residual connections that put the network near the edge of chaos (max Lyapunov exponent slightly "
         "below 0: mu slightly below 1) give the best task performance; clearly subcritical (fast-forgetting) "
         "and supercritical residuals do worse.")

MUS = [0.9, 0.97, 0.99, 0.995, 1.0, 1.005, 1.02]
PRESETS = {
    "tiny": dict(extra_seeds=A.EXTRA_SEEDS["tiny"],
                 tasks=["digits"], mus=[0.9, 0.99, 1.02], seeds=[0, 1], window=[0.97, 1.0],
                 residuals=["rotational"]),
    "quick": dict(extra_seeds=A.EXTRA_SEEDS["quick"],
                  tasks=["psmnist", "smnist", "adding"], mus=[0.9, 0.97, 0.99, 1.0, 1.02], seeds=[0, 1, 2],
                  window=[0.97, 1.0], residuals=["rotational", "centred_identity"]),
    "full": dict(extra_seeds=A.EXTRA_SEEDS["full"],
                 tasks=["psmnist", "smnist", "adding"], mus=MUS, seeds=[0, 1, 2], window=[0.97, 1.0],
                 residuals=["rotational", "centred_identity"]),
}

_RESIDUALS = {"rotational": ("rot", dict(family="rotational")),
              "centred_identity": ("muI centred", dict(family="scaled_identity", center=True))}


def arms_for(task, p):
    """[(residual label, [Arm per mu])] for a task (adding: mu I only, with its learning recipe)."""
    out = []
    kinds = ["adding"] if task == "adding" else p["residuals"]
    for kind in kinds:
        if kind == "adding":
            lab, keys = "muI", dict(family="scaled_identity")
        else:
            lab, keys = _RESIDUALS[kind]
        out.append((lab, [A.Arm(f"{lab} mu={mu:g}", dict(keys, mu=float(mu))) for mu in p["mus"]]))
    return out


def _comparisons(task, arms, p, recs_by_label):
    """Best-in-window arm (by mean, from the finished runs) against both ends of the sweep."""
    lo, hi = p["window"]
    best = A.best_label(task, recs_by_label, [a.label for a in arms if lo <= a.keys["mu"] <= hi])
    if best is None:
        return []
    return [A.Comparison(best, arms[0].label), A.Comparison(best, arms[-1].label)]


def _curve_figure(p):
    def make(exp_dir, task_results, recs):
        plt = C.plt()
        n = len(task_results)
        fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 3.5), constrained_layout=True, squeeze=False)
        for i, tr in enumerate(task_results):
            ax = axes[0][i]
            from .. import build
            t = build.task(tr["task"])
            groups = {}
            for lab, a in tr["arms"].items():
                kind, mu = lab.rsplit(" mu=", 1)
                groups.setdefault(kind, []).append((float(mu), a))
            for k, (kind, pts) in enumerate(groups.items()):
                pts.sort()
                xs = [m for m, _ in pts]
                ax.plot(xs, [a["mean"] for _, a in pts], "-", color=f"C{k}", label=kind)
                for m, a in pts:
                    v = [x for x in a["per_seed"].values() if np.isfinite(x)]
                    ax.plot([m] * len(v), v, ".", color=f"C{k}", alpha=0.6)
            lo, hi = p["window"]
            ax.axvspan(lo, hi, color="0.9", zorder=0, label="near-critical window")
            A.metric_axis(ax, t)
            ax.set_xlabel("residual scale mu")
            ax.set_title(f"{tr['label']}: {tr['status'].upper()}", fontsize=9)
            ax.legend(fontsize=6)
        return [C.savefig(fig, exp_dir / "metric_vs_mu.png")]
    return make


def run(ctx, p):
    tasks, notes = A.plan_tasks(ctx.preset, p["tasks"])
    # the comparisons depend on which window arm is best, so the runs come first (shared cell cache)
    plan0 = []
    for t in tasks:
        for lab, arms in arms_for(t, p):
            plan0.append((t, arms, lab))
    all_cells, label_maps = [], []
    for t, arms, _ in plan0:
        cells, lm = A.cells_for(ctx.preset, t, arms, p["seeds"])
        all_cells += cells
        label_maps.append(lm)
    recs = C.run_cells(ctx, ctx.out_dir / NAME, all_cells)
    plan = []
    for (t, arms, lab), lm in zip(plan0, label_maps):
        plan.append((t, "test", arms, _comparisons(t, arms, p, A.group_runs(recs, lm)), lab))
    extra = ("The near-critical arm of each task and residual is the one with the best mean inside the window "
             f"{p['window']} (chosen after the runs; the comparison is then paired over seeds). " +
             (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    return A.run_claim(ctx, name=NAME, number=2, title=TITLE, claim=CLAIM, p=p, plan=plan, setup_extra=extra,
                       extra_figs=[_curve_figure(p)])
