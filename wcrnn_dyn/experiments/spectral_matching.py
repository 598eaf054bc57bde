"""Claim 3 (spectral matching): rotational residuals whose frequencies match the data's spectrum help.

Arms (all at mu = 0.99): rotations at the peaks of the training data's power spectrum ("matched"), evenly spaced
rotations ("even"), random angles no lower than the smallest positive matched angle ("random", so that no arm
gets near-DC blocks that integrate the input's mean), rotations half-way between neighbouring peaks
("mismatched"), and mu I on centred inputs ("identity").  Test tasks: sMNIST (peaks at k/28 cycles per step)
and sCIFAR10 (k/32); control: psMNIST with the sMNIST-matched angles (the permutation destroys the spectrum,
so matching should not help there).  Planned comparisons: matched > random, matched > mismatched,
matched > identity.
"""
from __future__ import annotations

import numpy as np

from . import _arms as A
from . import _common as C

NAME = "spectral_matching"
TITLE = "Residuals matched to the data spectrum"
CLAIM = ("Rotational residuals whose frequencies match characteristic spectral properties of the data (e.g. the "
         "row period of sequential images) let networks capitalise on them: matched residuals train better than "
         "random or mismatched angles and than the identity, while on data without such structure (permuted "
         "pixels) matching gives no advantage.")

PRESETS = {
    "tiny": dict(extra_seeds=A.EXTRA_SEEDS["tiny"],
                 tasks=["smnist"], controls=[], seeds=[0, 1], mu=0.99, spectrum_samples=200),
    "quick": dict(extra_seeds=A.EXTRA_SEEDS["quick"],
                  tasks=["smnist"], controls=["psmnist"], seeds=[0, 1, 2], mu=0.99, spectrum_samples=500),
    "full": dict(extra_seeds=A.EXTRA_SEEDS["full"],
                 tasks=["smnist", "scifar10"], controls=["psmnist"], seeds=[0, 1, 2], mu=0.99,
                 spectrum_samples=5000),
}


def smallest_matched_angle(task, n, mu, samples):
    """The smallest positive angle of the residual matched to ``task``'s training data (rounded to 1e-4)."""
    from .. import build
    X = build.task_data(task, "train", n=int(samples))[0]
    R = build.make_residual({"family": "rotational_matched", "N": int(n), "mu": float(mu)}, X)
    th = np.asarray(R.meta["thetas"], dtype=float)
    pos = th[th > 1e-6]
    return float(np.round(pos.min(), 4)) if pos.size else 0.0


def arms_for(task, p, match_task=None, theta_min=0.0):
    mu = float(p["mu"])
    mt = {} if match_task is None else {"match_task": match_task}
    return [A.Arm("matched", dict(family="rotational_matched", mu=mu, **mt)),
            A.Arm("even", dict(family="rotational", mu=mu)),
            A.Arm("random", dict(family="rotational_random", mu=mu, theta_min=theta_min)),
            A.Arm("mismatched", dict(family="rotational_mismatched", mu=mu, **mt)),
            A.Arm("identity", dict(family="scaled_identity", mu=mu, center=True))]


COMPARISONS = [A.Comparison("matched", "random"), A.Comparison("matched", "mismatched"),
               A.Comparison("matched", "identity")]


def _spectra_figure(p, tasks):
    def make(exp_dir, task_results, recs):
        from .. import build, spectral
        plt = C.plt()
        fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.3), constrained_layout=True,
                                 squeeze=False)
        for i, t in enumerate(tasks):
            ax = axes[0][i]
            X = build.task_data(t, "train", n=int(p["spectrum_samples"]))[0]
            f, pw = spectral.data_spectrum(X)
            ax.semilogy(f, pw, "k-", lw=1, label="data power spectrum")
            N = A.recipe(p["_preset"], t)["N"]
            R = build.make_residual({"family": "rotational_matched", "N": N, "mu": float(p["mu"])}, X)
            for k, th in enumerate(sorted(set(np.round(R.meta["thetas"], 6)))):
                ax.axvline(th / (2 * np.pi), color="C1", lw=0.6, alpha=0.7, label="matched theta/2pi" if k == 0 else None)
            ax.set_xlabel("frequency (cycles per step)")
            ax.set_ylabel("power")
            ax.set_title(build.task(t).label, fontsize=9)
            ax.legend(fontsize=6)
        return [C.savefig(fig, exp_dir / "data_spectra.png")]
    return make


def run(ctx, p):
    p = dict(p, _preset=ctx.preset)
    tasks, notes = A.plan_tasks(ctx.preset, p["tasks"])
    controls, n2 = A.plan_tasks(ctx.preset, p["controls"])
    notes += n2
    plan, mins = [], {}
    N_of = {t: A.recipe(ctx.preset, t)["N"] for t in tasks + controls}
    for t in tasks:
        mins[t] = smallest_matched_angle(t, N_of[t], p["mu"], p["spectrum_samples"])
        plan.append((t, "test", arms_for(t, p, theta_min=mins[t]), COMPARISONS))
    src = tasks[0] if tasks else None
    for t in controls:
        th = mins.get(src, 0.0)
        plan.append((t, "control", arms_for(t, p, match_task=src, theta_min=th), COMPARISONS,
                     f"angles matched to {src}"))
    extra = ("Random arm: angles uniform in [theta_min, pi) with theta_min the smallest positive matched angle "
             f"({', '.join(f'{t}: {v:.4f} rad' for t, v in mins.items())}). Control arms use the angles matched "
             f"to {src}." + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    return A.run_claim(ctx, name=NAME, number=3, title=TITLE, claim=CLAIM, p=p, plan=plan, setup_extra=extra,
                       extra_figs=[_spectra_figure(p, tasks)], numbers_extra={"theta_min": mins})
