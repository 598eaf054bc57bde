"""Claim 5 (non-linear residuals): the results extend to element-wise non-linear residuals.

Residual R(h) = s tanh(g h / s) (slope g at the origin, saturation scale s): for g <= 1 it behaves like the
linear residual g I near h = 0; for g > 1 the origin is unstable but the state saturates at the fixed points
+-h* where the local slope g (1 - tanh^2(g h*/s)) < 1, so the dynamics stay bounded.  Measured: (a) Lyapunov
exponents against the trajectory-average prediction mean_t log|g'(z_t,i)| (docs/THEORY.md section 4.6, eps -> 0) for a
range of gains; (b) test accuracy against the gain, next to the linear residual g I at the same g.
"""
from __future__ import annotations

import numpy as np

from .. import sweep as _sweep
from . import _common as C

NAME = "nonlinear"
TITLE = "Non-linear residuals: exponents and accuracy against the gain"
CLAIM = ("The analysis extends to non-linear residuals: their Lyapunov exponents are the trajectory average of "
         "log|g'| of the residual map, and non-linear residuals train as well as linear ones, including at "
         "gains above 1 where a linear residual is supercritical.")

PRESETS = {
    "tiny": dict(task="digits", gains=[0.9, 1.1], scale=1.0, seeds=[0], eps=0.05, lyap_N=8, lyap_eps=0.01,
                 lyap_T=400, burn_in=100),
    "quick": dict(task="digits", gains=[0.9, 0.99, 1.05, 1.1, 1.2], scale=1.0, seeds=[0, 1], eps=0.05,
                  lyap_N=16, lyap_eps=0.01, lyap_T=3000, burn_in=300),
    "full": dict(task="psmnist", gains=[0.9, 0.95, 0.99, 1.0, 1.02, 1.05, 1.1, 1.2], scale=1.0, seeds=[0, 1],
                 eps=0.05, lyap_N=64, lyap_eps=0.01, lyap_T=10000, burn_in=1000),
}


def lyap_cell(c):
    """Sweep cell: measured spectrum vs trajectory-average prediction for a non-linear residual of gain mu."""
    from .. import lyapunov
    cell = dict(family="nonlinear", N=c["N"], mu=c["mu"], eps=c["eps"], gain_scale=c["gain_scale"], seed=c["seed"])
    net = _sweep.make_model(cell, 1, 1)
    X = _sweep.input_sequences("noise", c["T"], 1, c["seed"])[0]
    res = lyapunov.lyapunov_spectrum(net, X, burn_in=int(c["burn_in"]), seed=int(c["seed"]))
    le = np.asarray(res.exponents, dtype=float)
    H = net.states(X)                               # h_1 .. h_T
    Hprev = H[int(c["burn_in"]) - 1:-1]             # h_{t-1} of the accumulated steps t = burn_in+1 .. T
    g, s = float(c["mu"]), float(c["gain_scale"])
    gp = np.abs(g * (1.0 - np.tanh(g * Hprev / s) ** 2))
    pred = np.sort(np.mean(np.log(gp), axis=0))[::-1]
    ew = float(c["eps"]) * float(np.linalg.norm(net.W, 2))
    return {"mean_le": float(le.mean()), "pred_mean": float(pred.mean()), "max_le": float(le[0]),
            "pred_max": float(pred[0]), "max_abs_dev": float(np.max(np.abs(le - pred))), "eps_w_norm": ew,
            "mean_abs_h": float(np.mean(np.abs(Hprev))),
            "_extra": {"exponents": le.tolist(), "predicted": pred.tolist()}}


def run(ctx, p):
    exp_dir = ctx.out_dir / NAME
    plt = C.plt()
    with C.Timer() as tm:
        pairs, notes = C.resolve_tasks([p["task"]])
        task = pairs[0][1] if pairs else "digits"
        lcells = [dict(kind=f"{__name__}:lyap_cell", N=int(p["lyap_N"]), mu=float(g), eps=float(p["lyap_eps"]),
                       gain_scale=float(p["scale"]), seed=int(s), T=int(p["lyap_T"]), burn_in=int(p["burn_in"]))
                  for g in p["gains"] for s in p["seeds"]]
        variants = ([dict(family="nonlinear", mu=float(g), gain_scale=float(p["scale"]), eps=float(p["eps"]))
                     for g in p["gains"]]
                    + [dict(family="scaled_identity", mu=float(g), eps=float(p["eps"])) for g in p["gains"]])
        tcells = C.train_cells(p, ctx.preset, [task], variants, p["seeds"])
        recs = C.run_cells(ctx, exp_dir, lcells + tcells)
        lrecs, trecs = recs[:len(lcells)], recs[len(lcells):]
        # exponents figure
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), constrained_layout=True)
        gains = [float(g) for g in p["gains"]]
        le_m, pr_m, bounds = [], [], []
        for g in gains:
            rr = [r for r in lrecs if r["cell"]["mu"] == g and not r["error"]]
            le_m.append(C.stats([r["metrics"]["mean_le"] for r in rr]))
            pr_m.append(C.stats([r["metrics"]["pred_mean"] for r in rr]))
            bounds.append(max((r["metrics"]["eps_w_norm"] for r in rr), default=float("nan")))
        axes[0].errorbar(gains, [m[0] for m in le_m], yerr=[m[1] for m in le_m], marker="o", label="measured mean LE")
        axes[0].plot(gains, [m[0] for m in pr_m], "k--", marker="x", label="prediction mean_t log|g'|")
        axes[0].plot(gains, np.log(gains), ":", color="gray", label="log g (linear residual g I)")
        axes[0].axhline(0, color="k", lw=0.5)
        axes[0].set_xlabel("gain g (slope of the residual at 0)")
        axes[0].set_ylabel("exponent (nats/step)")
        axes[0].set_title(f"N={p['lyap_N']}, eps={p['lyap_eps']}, s={p['scale']}", fontsize=9)
        axes[0].legend(fontsize=7)
        for k, fam in enumerate(("nonlinear", "scaled_identity")):
            ms, ss = [], []
            for g in gains:
                m, s_, _ = C.stats(C.metric_values(C.select(trecs, family=fam, mu=g), task))
                ms.append(m)
                ss.append(s_)
            axes[1].errorbar(gains, ms, yerr=ss, marker="o", capsize=3, color=f"C{k}",
                             label="s tanh(g h / s)" if fam == "nonlinear" else "linear g I")
        axes[1].axhline(0.1 if task != "adding" else 1 / 6, color="gray", ls=":", lw=1)
        axes[1].set_xlabel("gain g")
        axes[1].set_ylabel(C.metric_name(task).replace("_", " "))
        axes[1].set_title(C.TASK_LABEL.get(task, task), fontsize=9)
        axes[1].legend(fontsize=7)
        figs = [C.savefig(fig, exp_dir / "nonlinear_gain.png")]
    # (a) exponents vs prediction
    devs = [abs(le_m[i][0] - pr_m[i][0]) for i in range(len(gains))]
    a_ok = all(np.isfinite(d) and d <= 2 * b for d, b in zip(devs, bounds)) and bool(gains)
    # (b) accuracy: best non-linear comparable to best linear, and non-linear stays trainable above g = 1
    best = {}
    for fam in ("nonlinear", "scaled_identity"):
        opts = [(C.better(task) * C.stats(C.metric_values(C.select(trecs, family=fam, mu=g), task))[0], g) for g in gains]
        opts = [(v, g) for v, g in opts if np.isfinite(v)]
        best[fam] = max(opts) if opts else (float("nan"), None)
    nl_vals = C.metric_values(C.select(trecs, family="nonlinear", mu=best["nonlinear"][1]), task)
    li_vals = C.metric_values(C.select(trecs, family="scaled_identity", mu=best["scaled_identity"][1]), task)
    margin, pooled = C.compare(task, nl_vals, li_vals)
    b_ok = bool(np.isfinite(margin) and margin >= -(pooled if np.isfinite(pooled) else 0.0))
    held = bool(a_ok and b_ok)
    rows = []
    for i, g in enumerate(gains):
        nl = C.stats(C.metric_values(C.select(trecs, family="nonlinear", mu=g), task))
        li = C.stats(C.metric_values(C.select(trecs, family="scaled_identity", mu=g), task))
        rows.append([f"{g:g}", C.fmt_ms(le_m[i][0], le_m[i][1]), C.fmt(pr_m[i][0]), C.fmt(devs[i], 3),
                     C.fmt(2 * bounds[i], 3), C.fmt_ms(nl[0], nl[1]), C.fmt_ms(li[0], li[1])])
    header = ["gain g", "mean LE (measured)", "mean_t log|g'| (predicted)", "|difference|", "2 eps||W||",
              f"non-linear {C.metric_name(task)}", f"linear g I {C.metric_name(task)}"]
    criterion = ("(a) for every gain, |mean measured exponent - mean trajectory-average prediction| <= 2 eps ||W||_2 "
                 "(the first-order size of the coupling term); (b) the best non-linear residual (over gains) is at "
                 "least as good as the best linear residual g I (over the same gains) within the pooled standard "
                 "deviation over seeds.")
    verdict = (f"(a) {'holds' if a_ok else 'fails'}: largest |difference| {C.fmt(max(devs) if devs else float('nan'), 3)}"
               f" (allowed {C.fmt(2 * min(bounds) if bounds else float('nan'), 3)} .. "
               f"{C.fmt(2 * max(bounds) if bounds else float('nan'), 3)}); (b) {'holds' if b_ok else 'fails'}: best "
               f"non-linear g = {best['nonlinear'][1]} ({C.fmt_ms(*C.stats(nl_vals)[:2])}) vs best linear g = "
               f"{best['scaled_identity'][1]} ({C.fmt_ms(*C.stats(li_vals)[:2])}), difference {C.fmt(margin, 3)} "
               f"(pooled std {C.fmt(pooled, 2)}).")
    s = C.train_settings(ctx.preset, task)
    setup = (f"preset `{ctx.preset}`: exponents of untrained WCRNNs with N={p['lyap_N']}, eps={p['lyap_eps']}, "
             f"s={p['scale']}, i.i.d. N(0,1) input, {p['lyap_T'] - p['burn_in']} accumulated steps after "
             f"{p['burn_in']} burn-in, seeds {p['seeds']}; training on {C.TASK_LABEL.get(task, task)}: eps={p['eps']}, "
             f"N={s['N']}, {s['n_train']}/{s['n_val']}/{s['n_test']} train/val/test, {s['epochs']} epochs Adam lr "
             f"{s['lr']}; trained parameters: {C.n_params_of(trecs)}."
             + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    body = C.md_table(header, rows) + C.failure_note(recs)
    numbers = {"gains": gains, "mean_le": [m[0] for m in le_m], "pred_mean": [m[0] for m in pr_m], "abs_dev": devs,
               "eps_w_norm": bounds, "best_nonlinear": best["nonlinear"], "best_linear": best["scaled_identity"],
               "margin": margin, "pooled_std": pooled, "a": a_ok, "b": b_ok, "table_header": header,
               "table_rows": rows, "notes": notes}
    res = C.ExperimentResult(NAME, TITLE, CLAIM, criterion, held, verdict,
                             C.section(5, TITLE, CLAIM, setup, body, criterion, held, verdict, figs, NAME),
                             figs, numbers, tm.seconds, len(recs), len(C.failures(recs)))
    return C.finish(ctx, exp_dir, NAME, p, res)
