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

import numpy as np

from . import _arms as A
from . import _common as C
from . import edge_of_chaos as E2

NAME = "heterogeneity"
TITLE = "Heterogeneous timescales"
CLAIM = ("Residual connections that give the units heterogeneous memory timescales are an effective inductive "
         "bias: heterogeneous residuals train better than homogeneous ones.")

PRESETS = {
    "tiny": dict(extra_seeds=A.EXTRA_SEEDS["tiny"],
                 tasks=["digits"], seeds=[0, 1], tau_min=5.0, tau_max=200.0, grid=[0.9, 0.99]),
    "quick": dict(extra_seeds=A.EXTRA_SEEDS["quick"],
                  tasks=["psmnist", "adding"], seeds=[0, 1, 2], tau_min=5.0, tau_max=200.0,
                  grid=[0.9, 0.97, 0.99, 1.0, 1.02]),
    "full": dict(extra_seeds=A.EXTRA_SEEDS["full"],
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
    dyn = {}
    extra += (" Trained networks' dynamics (seed 0 of every arm; trained_dynamics.png): memory timescales "
              "tau_i = -1 / LE_i from the full Lyapunov spectrum on 4 test sequences, and the memory curve "
              "E||dh_T / dx_{T-l}|| on 32 test sequences.")
    return A.run_claim(ctx, name=NAME, number=4, title=TITLE, claim=CLAIM, p=p, plan=plan, setup_extra=extra,
                       extra_figs=[_dynamics_figure(ctx, plan, dyn)],
                       numbers_extra={"best_homogeneous_mu": best_mu, "matched_mu": mu_m, "trained_dynamics": dyn})


#: Length of the adding-task input sequences the trained networks' spectra are measured on (the task's own
#: T = 400 left ~300 accumulated steps: split-half differences ~0.004 and "not converged" warnings).
LYAP_T = 2000
#: Standard-error tolerance of those spectra: the figure shows timescales on a log axis, and noise-driven
#: exponents of 4 sequences x 1,800 steps scatter by a few 1e-3 (measured: 0.002-0.009), which a tighter
#: tolerance would only report as "not converged".
LYAP_TOL = 0.01


def trained_dynamics(net, task, cell, n_lyap=4, n_mem=32, max_lag=None):
    """Timescales (sorted, from the full Lyapunov spectrum on ``n_lyap`` test sequences; adding: sequences of
    :data:`LYAP_T` steps drawn like the task's) and the memory curve
    (input sensitivity for lags 0..max_lag, mean over ``n_mem`` test sequences) of a trained network.
    Returns (tau (N,), curve (max_lag + 1,)).  Cost: one full spectrum and one adjoint sweep (about a second at
    N = 64)."""
    from .. import build, memory
    from ..lyapunov import lyapunov_spectrum
    t = build.task(task)
    T = int(cell["T"]) if t.name == "adding" else None
    n = max(n_lyap, n_mem)
    X = build.task_data(t.name, "test", n=n, T=T, seed=int(cell["seed"]), center=bool(cell.get("center", False)))[0]
    Tn = X.shape[1]
    XL = X[:n_lyap]
    if T is not None and T < LYAP_T:    # adding: the same input statistics, long enough for the spectrum to settle
        XL = build.task_data(t.name, "test", n=n_lyap, T=LYAP_T, seed=int(cell["seed"]))[0]
    spec = lyapunov_spectrum(net, XL, burn_in=XL.shape[1] // 4, qr_every="auto", n_threads=1,
                             tol=LYAP_TOL)
    tau = memory.timescales(np.where(np.isfinite(spec.exponents), spec.exponents, -np.inf))
    lag = min(Tn - 1, 400) if max_lag is None else int(max_lag)
    curve = memory.input_sensitivity(net, X[:n_mem], lag)
    return np.sort(tau)[::-1], curve


def _dynamics_figure(ctx, plan, numbers):
    """extra_figs entry: per planned task (rows), the trained nets' timescale spectra (left) and memory
    curves (right), seed 0 of every arm; the summary numbers go into ``numbers``."""
    def make(exp_dir, task_results, recs):
        from ..serialization import load_model
        by_key = {r["key"]: r for r in recs}
        cells_dir = ctx.out_dir / "cells"
        p = C.plt()
        fig, axes = p.subplots(len(plan), 2, figsize=(9.0, 2.9 * len(plan)), constrained_layout=True,
                               squeeze=False)
        for row, ((task, _, arms, _, var), tr) in enumerate(zip(plan, task_results)):
            ax_t, ax_m = axes[row]
            for j, arm in enumerate(arms):
                cells, lm = A.cells_for(ctx.preset, task, [arm], [0])
                rec = by_key.get(next(iter(lm)))
                name = ((rec or {}).get("extra") or {}).get("model_file")
                if rec is None or rec.get("error") or not name or not (cells_dir / name).exists():
                    continue
                tau, curve = trained_dynamics(load_model(cells_dir / name), task, cells[0])
                fin = tau[np.isfinite(tau)]
                numbers.setdefault(tr["label"], {})[arm.label] = {
                    "tau_median": float(np.median(tau)), "tau_max_finite": float(fin.max()) if fin.size else None,
                    "n_tau_inf": int(np.sum(~np.isfinite(tau))), "n_tau_over_100": int(np.sum(tau > 100)),
                    "memory_curve": [float(v) for v in curve[::10]], "memory_curve_lag_step": 10}
                ax_t.semilogy(np.arange(1, tau.size + 1), np.minimum(tau, 1e6), "-", color=f"C{j}",
                              label=arm.label)
                ax_m.semilogy(np.arange(curve.size), curve, "-", color=f"C{j}", label=arm.label)
            ax_t.set_title(f"{tr['label']}: timescales of the trained nets (seed 0)", fontsize=8)
            ax_t.set_xlabel("index i (sorted)")
            ax_t.set_ylabel("tau_i = -1 / LE_i (steps; 1e6 = no decay)", fontsize=7)
            ax_m.set_title(f"{tr['label']}: memory curve", fontsize=8)
            ax_m.set_xlabel("lag l (steps)")
            ax_m.set_ylabel("E ||dh_T / dx_(T-l)||", fontsize=7)
            for ax in (ax_t, ax_m):
                if ax.lines:
                    ax.legend(fontsize=6)
                else:
                    ax.text(0.5, 0.5, "no saved models (the preset does not keep them)", ha="center",
                            va="center", fontsize=7, transform=ax.transAxes)
        return [C.savefig(fig, exp_dir / "trained_dynamics.png")]
    return make
