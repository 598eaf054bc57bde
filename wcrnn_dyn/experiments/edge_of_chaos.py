"""Claim 2 (edge of chaos): residuals near criticality (mu slightly below 1) train best.

Scaled-identity residual mu I, mu swept from 0.9 (clearly subcritical, memory ~ 10 steps) through 1 (critical)
to 1.02 (supercritical); test metric after training, mean ± std over seeds, on the permuted task (psMNIST),
the ordered task (sMNIST) and the adding problem.  quick uses the 8x8 digits (and their fixed permutation) and
a short adding problem as stand-ins.
"""
from __future__ import annotations

import numpy as np

from . import _common as C

NAME = "edge_of_chaos"
TITLE = "Near-critical residuals train best (edge of chaos)"
CLAIM = ("Residual connections that put the network near the edge of chaos (max Lyapunov exponent slightly "
         "below 0: scaled identity with mu slightly below 1) give the best task performance; clearly "
         "subcritical (fast-forgetting) and supercritical residuals do worse.")

MUS = [0.9, 0.95, 0.98, 0.99, 1.0, 1.01, 1.02]
PRESETS = {
    "tiny": dict(tasks=["digits"], mus=[0.9, 0.99, 1.02], seeds=[0], eps=0.05, window=[0.95, 1.0]),
    "quick": dict(tasks=["pdigits", "digits", "adding"], mus=MUS, seeds=[0, 1], eps=0.05, window=[0.95, 1.0]),
    "full": dict(tasks=["psmnist", "smnist", "adding"], mus=MUS, seeds=[0, 1], eps=0.05, window=[0.95, 1.0]),
}


def run(ctx, p):
    exp_dir = ctx.out_dir / NAME
    with C.Timer() as tm:
        pairs, notes = C.resolve_tasks(p["tasks"])
        tasks = [u for _, u in pairs]
        variants = [dict(family="scaled_identity", mu=float(mu), eps=float(p["eps"])) for mu in p["mus"]]
        cells = C.train_cells(p, ctx.preset, tasks, variants, p["seeds"])
        recs = C.run_cells(ctx, exp_dir, cells)
        series, rows, per_task = {}, [], {}
        for t in tasks:
            xs, ms, ss = [], [], []
            for mu in p["mus"]:
                m, s, n = C.stats(C.metric_values(C.select(recs, task=t, mu=float(mu)), t))
                xs.append(mu)
                ms.append(m)
                ss.append(s)
            series[t] = [(f"eps={p['eps']}", xs, ms, ss)]
            per_task[t] = (xs, ms, ss)
        hl = {"adding": [(1.0 / 6.0, "predict 1 (MSE 1/6)")]}
        for t in tasks:
            if t != "adding":
                hl[t] = [(0.1, "chance")]
        figs = [C.errorbar_panels(tasks, series, "residual scale mu (scaled identity)",
                                  "test metric against mu (mean ± std over seeds)", exp_dir / "metric_vs_mu.png",
                                  hlines=hl)]
    lo, hi = p["window"]
    held_all, verdicts, numbers = True, [], {"per_task": {}}
    for t in tasks:
        xs, ms, ss = per_task[t]
        score = [C.better(t) * m if np.isfinite(m) else -np.inf for m in ms]
        ib = int(np.argmax(score))
        mu_best = xs[ib]
        best_vals = C.metric_values(C.select(recs, task=t, mu=float(xs[ib])), t)
        beats_ends = all(C.clearly_better(t, best_vals, C.metric_values(C.select(recs, task=t, mu=float(xs[j])), t))[0]
                         for j in (0, len(xs) - 1) if j != ib)
        ok = bool(lo <= mu_best <= hi and beats_ends and np.isfinite(ms[ib]))
        held_all = held_all and ok
        verdicts.append(f"{C.TASK_LABEL.get(t, t)}: best mu = {mu_best:g} ({C.fmt_ms(ms[ib], ss[ib])}; mu={xs[0]:g}: "
                        f"{C.fmt_ms(ms[0], ss[0])}, mu={xs[-1]:g}: {C.fmt_ms(ms[-1], ss[-1])}) -> "
                        f"{'holds' if ok else 'does not hold'}")
        numbers["per_task"][t] = {"mus": xs, "mean": ms, "std": ss, "mu_best": mu_best, "held": ok}
    header = ["mu"] + [f"{C.TASK_LABEL.get(t, t)}: {C.metric_name(t)}" for t in tasks]
    for i, mu in enumerate(p["mus"]):
        rows.append([f"{mu:g}"] + [C.fmt_ms(per_task[t][1][i], per_task[t][2][i]) for t in tasks])
    held = held_all if tasks else None
    criterion = (f"for each task, the mu with the best mean test metric lies in the weakly subcritical / critical "
                 f"window [{lo}, {hi}] and its mean beats the means at both ends of the sweep (mu = {p['mus'][0]} "
                 f"and mu = {p['mus'][-1]}) by more than the pooled standard deviation over seeds; the claim holds "
                 "if this is so for every task.")
    verdict = "; ".join(verdicts) + "."
    ts = {t: C.train_settings(ctx.preset, t) for t in tasks}
    setup = (f"preset `{ctx.preset}`: WCRNN, scaled-identity residual, eps = {p['eps']}, tanh, seeds {p['seeds']}; "
             + "; ".join(f"{C.TASK_LABEL.get(t, t)}: N={s['N']}, {s['n_train']} training / {s['n_val']} validation / "
                         f"{s['n_test']} test sequences{', T=' + str(s['T']) if t == 'adding' else ''}, "
                         f"{s['epochs']} epochs Adam lr {s['lr']} batch {s['batch_size']}" for t, s in ts.items())
             + f"; trained parameters: {C.n_params_of(recs)}. The test metric is taken with the parameters of the "
             "best validation epoch." + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    body = C.md_table(header, rows) + C.failure_note(recs)
    numbers.update(table_header=header, table_rows=rows, notes=notes)
    res = C.ExperimentResult(NAME, TITLE, CLAIM, criterion, held, verdict,
                             C.section(2, TITLE, CLAIM, setup, body, criterion, held, verdict, figs, NAME),
                             figs, numbers, tm.seconds, len(recs), len(C.failures(recs)))
    return C.finish(ctx, exp_dir, NAME, p, res)
