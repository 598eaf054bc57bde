"""Claim 4 (heterogeneity): residuals with heterogeneous timescales help.

Heterogeneous residuals draw their timescales tau log-uniformly from [tau_min, tau_max] (blocks
exp(-1/tau_k) Rot(theta_k) with evenly spaced angles: "rotational" variant; diag(exp(-1/tau_i)) on centred
inputs: "diagonal" variant).  Each is compared, paired over seeds, with the homogeneous residual of the same
variant (i) at the best mu of the grid of claim 2 (the strongest homogeneous competitor, chosen after the runs)
and (ii) at the matched mean timescale, mu = exp(-1 / E[tau]).  Tasks: psMNIST and the adding problem (with
its learning recipe).
"""
from __future__ import annotations

import math

from . import _arms as A
from . import _common as C
from . import edge_of_chaos as E2

NAME = "heterogeneity"
TITLE = "Heterogeneous timescales"
CLAIM = ("Residual connections that give the units heterogeneous memory timescales are an effective inductive "
         "bias: heterogeneous residuals train better than homogeneous ones.")

PRESETS = {
    "tiny": dict(extra_seeds=[], tasks=["digits"], seeds=[0, 1], tau_min=5.0, tau_max=200.0, grid=[0.9, 0.99]),
    "quick": dict(extra_seeds=[], tasks=["psmnist", "adding"], seeds=[0, 1, 2], tau_min=5.0, tau_max=200.0,
                  grid=[0.9, 0.97, 0.99, 1.0, 1.02]),
    "full": dict(extra_seeds=[3, 4],
                 tasks=["psmnist", "adding"], seeds=[0, 1, 2], tau_min=10.0, tau_max=1000.0, grid=E2.MUS),
}


def mean_tau(lo, hi):
    """E[tau] for tau log-uniform on [lo, hi]: (hi - lo) / log(hi / lo) (lo when equal)."""
    return lo if hi == lo else (hi - lo) / math.log(hi / lo)


def _variants(task):
    adding = task == "adding"
    rot = ("rotational", dict(family="rotational"), dict(family="heterogeneous_rotational_timescales"))
    diag = ("diagonal", dict(family="scaled_identity", **({} if adding else {"center": True})),
            dict(family="heterogeneous_timescales", **({} if adding else {"center": True})))
    return [rot, diag]


def run(ctx, p):
    tasks, notes = A.plan_tasks(ctx.preset, p["tasks"])
    mu_m = round(math.exp(-1.0 / mean_tau(p["tau_min"], p["tau_max"])), 6)
    taus = dict(tau_min=float(p["tau_min"]), tau_max=float(p["tau_max"]))
    # first the homogeneous grids (shared with claim 2 where the settings agree), to pick the best mu
    pre, maps = [], []
    for t in tasks:
        for var, hom, het in _variants(t):
            grid = [A.Arm(f"hom mu={mu:g}", dict(hom, mu=float(mu))) for mu in p["grid"]]
            cells, lm = A.cells_for(ctx.preset, t, grid, p["seeds"])
            pre.append((t, var, hom, het, grid, cells))
            maps.append(lm)
    recs = C.run_cells(ctx, ctx.out_dir / NAME, [c for e in pre for c in e[5]])
    plan, best_mu = [], {}
    for (t, var, hom, het, grid, _), lm in zip(pre, maps):
        best = A.best_label(t, A.group_runs(recs, lm), [a.label for a in grid])
        mb = next(a.keys["mu"] for a in grid if a.label == best) if best else float(p["grid"][0])
        best_mu[f"{t}/{var}"] = mb
        arms = [A.Arm("heterogeneous", dict(het, **taus)),
                A.Arm(f"hom best mu={mb:g}", dict(hom, mu=float(mb))),
                A.Arm(f"hom matched mu={mu_m:g}", dict(hom, mu=mu_m))]
        comps = [A.Comparison(arms[0].label, arms[1].label), A.Comparison(arms[0].label, arms[2].label)]
        plan.append((t, "test", arms, comps, var))
    extra = (f"Heterogeneous timescales log-uniform on [{p['tau_min']:g}, {p['tau_max']:g}] steps (mean "
             f"{mean_tau(p['tau_min'], p['tau_max']):.1f}, matched homogeneous mu = {mu_m:g}); the best homogeneous "
             f"mu of the grid {list(p['grid'])} per task and variant: "
             + ", ".join(f"{k}: {v:g}" for k, v in best_mu.items()) + "."
             + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    return A.run_claim(ctx, name=NAME, number=4, title=TITLE, claim=CLAIM, p=p, plan=plan, setup_extra=extra,
                       numbers_extra={"best_homogeneous_mu": best_mu, "matched_mu": mu_m})
