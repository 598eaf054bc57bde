"""Claim 5 (non-linear residuals): the results extend to element-wise non-linear residuals.

Residual R(h) = s tanh(g h / s) (slope g at the origin, saturation scale s).  (a) Lyapunov exponents against
the trajectory-average prediction mean_t log|g'(z_t,i)| (docs/THEORY.md section 4.6, eps -> 0) for a range of
gains.  (b) Training: the non-linear rotational residual s tanh(mu Rot h / s) with mu calibrated so that the
untrained network's measured top exponent equals log 0.99 (and log 0.995) against the linear rotational
residual at mu = 0.99 (0.995): arms matched by dynamics, not by gain.  Planned comparisons: non-linear not
worse than linear by more than ``margin`` accuracy (non-inferiority), paired over seeds.
"""
from __future__ import annotations

import numpy as np

from .. import sweep as _sweep
from . import _arms as A
from . import _common as C

NAME = "nonlinear"
TITLE = "Non-linear residuals: exponents and training at matched dynamics"
CLAIM = ("The analysis extends to non-linear residuals: their Lyapunov exponents are the trajectory average of "
         "log|g'| of the residual map, and a non-linear residual trains as well as a linear one with the same "
         "dynamics (the same top Lyapunov exponent).")

PRESETS = {
    "tiny": dict(extra_seeds=A.EXTRA_SEEDS["tiny"],
                 tasks=["smnist"], targets=[0.99], train_scale=0.1, gains=[0.9, 1.1], scale=1.0, seeds=[0, 1],
                 lyap_N=8, lyap_eps=0.01, lyap_T=400, burn_in=100, margin=0.01),
    "quick": dict(extra_seeds=A.EXTRA_SEEDS["quick"],
                  tasks=["psmnist"], targets=[0.99, 0.995], train_scale=0.1, gains=[0.9, 0.99, 1.05, 1.1, 1.2],
                  scale=1.0, seeds=[0, 1, 2], lyap_N=16, lyap_eps=0.01, lyap_T=3000, burn_in=300, margin=0.01),
    "full": dict(extra_seeds=A.EXTRA_SEEDS["full"], tasks=["psmnist"], targets=[0.99, 0.995], train_scale=0.1,
                 gains=[0.9, 0.95, 0.99, 1.0, 1.02, 1.05, 1.1, 1.2], scale=1.0, seeds=[0, 1, 2], lyap_N=64,
                 lyap_eps=0.01, lyap_T=10000, burn_in=1000, margin=0.01),
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


def calibrate_cell(c):
    """Sweep cell: the mu of the non-linear rotational residual (scale ``gain_scale``) whose untrained network
    has measured top Lyapunov exponent log(target) on the task's test inputs (bisection, 12 steps)."""
    from .. import build, lyapunov
    T = build.input_sequences(c["task"], 0, n_seq=1).shape[1]
    X = build.input_sequences(c["task"], 0, n_seq=max(4, 4000 // T))
    burn = min(100, T // 4)
    target = float(np.log(c["target"]))

    def top(mu):
        spec = dict(family="nonlinear_rotational", N=c["N"], mu=mu, eps=c["eps"], gain_scale=c["gain_scale"],
                    seed=0)
        net = build.make_model(spec, X.shape[2], 1)
        res = lyapunov.lyapunov_spectrum(net, X, k=1, burn_in=burn, seed=0, tol=1.0)
        return float(res.exponents[0])

    lo, hi = float(c["target"]), 2.0
    if top(lo) >= target:
        return {"mu": lo, "top_exponent": top(lo), "target_exponent": target}
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if top(mid) < target:
            lo = mid
        else:
            hi = mid
    mu = round(0.5 * (lo + hi), 5)
    return {"mu": mu, "top_exponent": top(mu), "target_exponent": target}


def _prediction_part(ctx, p):
    lcells = [dict(kind=f"{__name__}:lyap_cell", N=int(p["lyap_N"]), mu=float(g), eps=float(p["lyap_eps"]),
                   gain_scale=float(p["scale"]), seed=int(s), T=int(p["lyap_T"]), burn_in=int(p["burn_in"]))
              for g in p["gains"] for s in p["seeds"]]
    recs = [r for r in C.run_cells(ctx, ctx.out_dir / NAME, lcells) if not r.get("error")]
    worst = max((abs(r["metrics"]["mean_le"] - r["metrics"]["pred_mean"]) / max(r["metrics"]["eps_w_norm"], 1e-12)
                 for r in recs), default=float("nan"))
    dev = max((abs(r["metrics"]["mean_le"] - r["metrics"]["pred_mean"]) for r in recs), default=float("nan"))
    ok = bool(recs) and worst <= 1.0
    return ok, dev, worst, recs


def _prediction_figure(lrecs, gains):
    def make(exp_dir, task_results, recs):
        plt = C.plt()
        fig, ax = plt.subplots(figsize=(5.0, 3.5), constrained_layout=True)
        for k, g in enumerate(gains):
            rr = [r for r in lrecs if r["cell"]["mu"] == g]
            for r in rr:
                le, pr = np.asarray(r["extra"]["exponents"]), np.asarray(r["extra"]["predicted"])
                ax.plot(np.arange(1, le.size + 1), le, "-", color=f"C{k % 10}", lw=1,
                        label=f"g={g:g} measured" if r is rr[0] else None)
                ax.plot(np.arange(1, pr.size + 1), pr, ":", color=f"C{k % 10}", lw=1)
        ax.set_xlabel("exponent index i")
        ax.set_ylabel("LE_i (solid) and mean_t log|g'| (dotted), nats/step")
        ax.set_title("non-linear residual s tanh(g h / s): exponents vs prediction", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        return [C.savefig(fig, exp_dir / "nonlinear_exponents.png")]
    return make


def run(ctx, p):
    ok_a, dev_a, worst_a, lrecs = _prediction_part(ctx, p)
    tasks, notes = A.plan_tasks(ctx.preset, p["tasks"])
    plan, cal = [], {}
    for t in tasks:
        r = A.recipe(ctx.preset, t)
        ccells = [dict(kind=f"{__name__}:calibrate_cell", task=t, N=int(r["N"]), eps=float(r.get("eps", 0.05)),
                       gain_scale=float(p["train_scale"]), target=float(x)) for x in p["targets"]]
        crecs = C.run_cells(ctx, ctx.out_dir / NAME, ccells)
        arms, comps = [], []
        for x, cr in zip(p["targets"], crecs):
            if cr.get("error"):
                raise RuntimeError(f"calibration for target {x} failed: {cr['error']}")
            mu_nl = float(cr["metrics"]["mu"])
            cal[f"{t}/{x:g}"] = cr["metrics"]
            lin = A.Arm(f"linear mu={x:g}", dict(family="rotational", mu=float(x)))
            nl = A.Arm(f"nonlinear mu={mu_nl:g} (LE log {x:g})",
                       dict(family="nonlinear_rotational", mu=mu_nl, gain_scale=float(p["train_scale"])))
            arms += [lin, nl]
            comps.append(A.Comparison(nl.label, lin.label, "noninferior", float(p["margin"])))
        plan.append((t, "test", arms, comps))
    extra = (f"(a) Exponent prediction, N={p['lyap_N']}, eps={p['lyap_eps']}, gains {list(p['gains'])}, scale "
             f"{p['scale']}: largest |mean LE - mean_t log|g'|| = {C.fmt(dev_a)}, at most {C.fmt(worst_a, 3)} x "
             f"eps||W|| ({'within' if ok_a else 'NOT within'} the O(eps||W||) allowance). (b) Non-linear residual "
             f"scale s = {p['train_scale']}; calibrated mu: "
             + ", ".join(f"{k}: mu = {v['mu']:g} (measured top LE {v['top_exponent']:.5f} vs "
                         f"{v['target_exponent']:.5f})" for k, v in cal.items()) + "."
             + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    res = A.run_claim(ctx, name=NAME, number=5, title=TITLE, claim=CLAIM, p=p, plan=plan, setup_extra=extra,
                      extra_figs=[_prediction_figure(lrecs, [float(g) for g in p["gains"]])],
                      numbers_extra={"prediction_ok": ok_a, "prediction_max_dev": dev_a,
                                     "prediction_dev_over_epsW": worst_a, "calibration": cal})
    return res
