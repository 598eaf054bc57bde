"""Claim 4 (heterogeneity): heterogeneous memory timescales beat a single timescale.

Heterogeneous diagonal residual, timescales tau_i log-uniform in [tau_min, tau_max] (mu_i = exp(-1/tau_i)),
against the homogeneous residual mu I whose single timescale equals the heterogeneous network's mean timescale
(mu = exp(-1 / mean_i tau_i), per seed): same N, eps, training.  Tasks: psMNIST and the adding problem
(quick: permuted digits and a short adding problem).  Also shown: the timescale distributions and the
memory-capacity curves MC_l of the untrained networks.
"""
from __future__ import annotations

import numpy as np

from .. import residuals as _res
from .. import sweep as _sweep
from . import _common as C

NAME = "heterogeneity"
TITLE = "Heterogeneous timescales beat a single timescale"
CLAIM = ("Residual connections that give heterogeneous memory properties (a spread of timescales) are an effective "
         "inductive bias: a heterogeneous residual beats a homogeneous one with the same mean timescale.")

ARMS = ("heterogeneous", "homogeneous")
PRESETS = {
    "tiny": dict(tasks=["pdigits"], seeds=[0], eps=0.05, tau_min=2.0, tau_max=200.0, mc_N=8, max_lag=20,
                 mc_steps=600),
    "quick": dict(tasks=["pdigits", "adding"], seeds=[0, 1, 2], eps=0.05, tau_min=2.0, tau_max=200.0, mc_N=32,
                  max_lag=100, mc_steps=8000),
    "full": dict(tasks=["psmnist", "adding"], seeds=[0, 1], eps=0.05, tau_min=5.0, tau_max=2000.0, mc_N=64,
                 max_lag=400, mc_steps=20000),
}


def residual_for(arm, N, tau_min, tau_max, seed):
    """The residual of an arm: heterogeneous timescales from (seed), or mu I matched to their mean timescale."""
    het = _res.heterogeneous_timescales(int(N), float(tau_min), float(tau_max),
                                        seed=_sweep._rng(int(seed), _sweep._STREAM["residual"]))
    if arm == "heterogeneous":
        return het
    if arm == "homogeneous":
        taus = -1.0 / np.log(het.d)
        return _res.scaled_identity(int(N), float(np.exp(-1.0 / taus.mean())))
    raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")


def train_cell(c):
    """Sweep cell: train one arm (keys of a "train" cell plus arm, tau_min, tau_max)."""
    c = dict(c)
    arm, tmin, tmax = c.pop("arm"), c.pop("tau_min"), c.pop("tau_max")
    c.pop("kind")
    R = residual_for(arm, c["N"], tmin, tmax, c["seed"])
    metrics, net, hist, info = _sweep.train_cell(c, residual=R)
    metrics["mu_mean"] = float(np.mean(net.residual.eigenvalues().real))
    metrics["tau_mean"] = float(np.mean(-1.0 / np.log(np.abs(net.residual.eigenvalues()))))
    return metrics


def memory_cell(c):
    """Sweep cell: memory capacity per lag of an untrained network of one arm."""
    from .. import memory
    from ..models import WCRNN
    R = residual_for(c["arm"], c["N"], c["tau_min"], c["tau_max"], c["seed"])
    net = WCRNN(1, int(c["N"]), 1, residual=R, eps=float(c["eps"]),
                seed=_sweep._rng(int(c["seed"]), _sweep._STREAM["weights"]))
    mc = memory.memory_capacity(net, int(c["max_lag"]), n_steps=int(c["n_steps"]), seed=int(c["seed"]))
    return {"mc_total": float(mc.total), "_extra": {"per_lag": np.asarray(mc.per_lag, dtype=float).tolist()}}


def run(ctx, p):
    exp_dir = ctx.out_dir / NAME
    plt = C.plt()
    with C.Timer() as tm:
        pairs, notes = C.resolve_tasks(p["tasks"])
        tasks = [u for _, u in pairs]
        base = C.train_cells(p, ctx.preset, tasks, [dict(eps=float(p["eps"]))], p["seeds"])
        cells = []
        for c in base:
            for arm in ARMS:
                cells.append(dict(c, kind=f"{__name__}:train_cell", arm=arm, tau_min=float(p["tau_min"]),
                                  tau_max=float(p["tau_max"])))
        mcells = [dict(kind=f"{__name__}:memory_cell", arm=arm, N=int(p["mc_N"]), eps=float(p["eps"]),
                       tau_min=float(p["tau_min"]), tau_max=float(p["tau_max"]), seed=int(s),
                       max_lag=int(p["max_lag"]), n_steps=int(p["mc_steps"])) for arm in ARMS for s in p["seeds"]]
        recs = C.run_cells(ctx, exp_dir, cells + mcells)
        trecs, mrecs = recs[:len(cells)], recs[len(cells):]
        groups, vals = C.group_metrics(trecs, tasks, "arm", [(arm, arm) for arm in ARMS])
        hl = C.reference_lines(tasks)
        f1 = C.bar_panels(tasks, groups, "heterogeneous vs homogeneous (matched mean timescale)",
                          exp_dir / "het_vs_hom.png", hlines=hl)
        # timescale distributions and memory curves
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), constrained_layout=True)
        N = C.train_settings(ctx.preset, tasks[0])["N"] if tasks else p["mc_N"]
        het = residual_for("heterogeneous", N, p["tau_min"], p["tau_max"], p["seeds"][0])
        hom = residual_for("homogeneous", N, p["tau_min"], p["tau_max"], p["seeds"][0])
        taus = -1.0 / np.log(het.d)
        tau_h = -1.0 / np.log(hom.d[0])
        axes[0].hist(taus, bins=np.geomspace(p["tau_min"], p["tau_max"], 16), color="C0", alpha=0.7,
                     label="heterogeneous tau_i")
        axes[0].axvline(tau_h, color="C1", lw=2, label=f"homogeneous tau = {tau_h:.1f}")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("timescale tau (steps)")
        axes[0].set_ylabel("units")
        axes[0].legend(fontsize=7)
        axes[0].set_title(f"residual timescales (N={N}, seed {p['seeds'][0]})", fontsize=9)
        mc_tot = {}
        for k, arm in enumerate(ARMS):
            curves = [r["extra"]["per_lag"] for r in mrecs if r["cell"]["arm"] == arm and not r["error"]]
            mc_tot[arm] = C.stats([r["metrics"]["mc_total"] for r in mrecs if r["cell"]["arm"] == arm
                                   and not r["error"]])
            if curves:
                m = np.mean(curves, axis=0)
                axes[1].plot(np.arange(m.size), m, color=f"C{k}", label=f"{arm} (MC = {mc_tot[arm][0]:.1f})")
        axes[1].set_xlabel("lag l")
        axes[1].set_ylabel("MC_l")
        axes[1].set_title(f"memory capacity of untrained networks (N={p['mc_N']}, eps={p['eps']})", fontsize=9)
        axes[1].legend(fontsize=7)
        f2 = C.savefig(fig, exp_dir / "timescales_memory.png")
    verdicts, held, numbers = [], (True if tasks else None), {"per_task": {}}
    for t in tasks:
        ok, margin, pooled = C.clearly_better(t, vals[(t, "heterogeneous")], vals[(t, "homogeneous")])
        held = held and ok
        mh = [r["metrics"].get("mu_mean") for r in C.select(trecs, task=t, arm="homogeneous") if not r["error"]]
        numbers["per_task"][t] = {"het_minus_hom": margin, "pooled_std": pooled, "homogeneous_mu": mh,
                                  **{a: C.stats(vals[(t, a)])[:2] for a in ARMS}}
        verdicts.append(f"{C.TASK_LABEL.get(t, t)}: heterogeneous {C.fmt_ms(*C.stats(vals[(t, 'heterogeneous')])[:2])} vs "
                        f"homogeneous {C.fmt_ms(*C.stats(vals[(t, 'homogeneous')])[:2])}, improvement {C.fmt(margin, 3)} "
                        f"(pooled std {C.fmt(pooled, 2)}) -> {'holds' if ok else 'does not hold'}")
    numbers["memory_capacity"] = {a: mc_tot.get(a, (float("nan"),) * 3)[:2] for a in ARMS}
    header = ["task"] + list(ARMS)
    rows = [[C.TASK_LABEL.get(t, t)] + [C.fmt_ms(*C.stats(vals[(t, a)])[:2]) for a in ARMS] for t in tasks]
    rows.append([f"memory capacity (untrained, N={p['mc_N']})"] + [C.fmt_ms(*mc_tot.get(a, (np.nan, np.nan, 0))[:2])
                                                                   for a in ARMS])
    criterion = ("on every task the heterogeneous residual's mean test metric beats the homogeneous residual's (same "
                 "mean timescale, N, eps, training) by more than the pooled standard deviation over seeds.")
    verdict = "; ".join(verdicts) + "."
    ts = {t: C.train_settings(ctx.preset, t) for t in tasks}
    setup = (f"preset `{ctx.preset}`: WCRNN, eps = {p['eps']}, tau_i log-uniform in [{p['tau_min']}, {p['tau_max']}] "
             f"steps (mean ≈ {C.fmt(float(taus.mean()), 3)} for seed {p['seeds'][0]}), homogeneous mu = "
             f"exp(-1/mean tau) ≈ {C.fmt(float(hom.d[0]), 4)}; seeds {p['seeds']}; "
             + "; ".join(f"{C.TASK_LABEL.get(t, t)}: N={s['N']}, {s['n_train']}/{s['n_val']}/{s['n_test']} "
                         f"train/val/test{', T=' + str(s['T']) if t == 'adding' else ''}, {s['epochs']} epochs Adam "
                         f"lr {s['lr']}" for t, s in ts.items())
             + f"; trained parameters: {C.n_params_of(trecs)}; memory capacity: {p['mc_steps']} steps, lags "
             f"0..{p['max_lag']}." + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    body = C.md_table(header, rows) + C.failure_note(recs)
    numbers.update(table_header=header, table_rows=rows, notes=notes)
    figs = [f1, f2]
    res = C.ExperimentResult(NAME, TITLE, CLAIM, criterion, held, verdict,
                             C.section(4, TITLE, CLAIM, setup, body, criterion, held, verdict, figs, NAME),
                             figs, numbers, tm.seconds, len(recs), len(C.failures(recs)))
    return C.finish(ctx, exp_dir, NAME, p, res)
