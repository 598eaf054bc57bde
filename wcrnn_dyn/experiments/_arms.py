"""Paired-arm training comparisons: the machinery behind claims 2-6 (private).

An *arm* is a model variant (a dict of build/train keys merged over the task's training recipe).  Every arm is
trained with the same seeds; seed s gives every arm the same data, the same mini-batch order and the same
initial W, U, V (:mod:`wcrnn_dyn.build` streams), so arms are compared by *paired* differences over seeds.

Verdicts have three values:

* a task is **UNDECIDED** when its best arm does not reach the task's competence level
  (:attr:`wcrnn_dyn.build.Task.competence`) or when more than half of its runs were still improving at the
  end (:meth:`wcrnn_dyn.build.Task.still_improving`): comparisons between networks that have not learned, or
  have not settled, say nothing about the claim;
* otherwise each planned comparison "A better than B" has one of three outcomes, from the 95 % t-interval of
  the paired per-seed gains (accuracy difference, or log of the MSE ratio): **yes** when the interval lies
  above 0; **no** when it lies below the smallest effect worth claiming (:data:`MIN_EFFECT`: 0.01 accuracy,
  log 1.25 for MSE), i.e. the effect is absent, negligible or reversed; **inconclusive** otherwise (the
  interval contains 0 and effects worth claiming).  Non-inferiority comparisons "A >= B - m": yes above -m, no
  below -m, inconclusive across it;
* a task holds when all its comparisons say yes, does not hold when one says no, and is UNDECIDED
  (inconclusive) otherwise.  An inconclusive task of the full preset gets more seeds (:data:`EXTRA_SEEDS`) for
  the arms of its inconclusive comparisons, once, and is evaluated again on all its seeds;
* a claim is HELD when every decided task holds, NOT HELD when a decided task does not, UNDECIDED when no
  task is decided.  Control tasks (where the claim predicts no effect) are reported, never counted.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import build as _build
from . import _common as C

#: Training recipe per preset and task (merged into "train" cells; arms override model keys).
#: full: the real tasks, full training sets, batch 128, Adam with a cosine schedule to 0, float32, sizes and
#: epochs chosen to reach competence on 2 cores (docs/RESULTS.md); adding uses the recipe that learns long
#: sequences (identity residual mu = 1, ReLU, eps = 0.2, small initial W).
_IMG = dict(batch_size=128, lr=2e-3, schedule="cosine", clip=1.0, dtype="float32", eps=0.05, save_model=True,
            n_train=None, n_val=None, n_test=None)
_ADD = dict(family="scaled_identity", mu=1.0, eps=0.2, activation="relu", w_scale=0.01, lr=3e-3, batch_size=32,
            schedule="cosine", clip=1.0, save_model=True)
TRAIN = {
    "tiny": {
        "digits": dict(N=8, n_train=200, n_val=60, n_test=100, epochs=2, lr=1e-2, batch_size=32),
        "pdigits": dict(N=8, n_train=200, n_val=60, n_test=100, epochs=2, lr=1e-2, batch_size=32),
        "adding": dict(_ADD, N=8, T=20, n_train=200, n_val=50, n_test=100, epochs=2, save_model=False),
    },
    "quick": {
        "digits": dict(_IMG, N=32, epochs=15, lr=1e-2, batch_size=32, dtype="float64", save_model=False),
        "pdigits": dict(_IMG, N=32, epochs=15, lr=1e-2, batch_size=32, dtype="float64", save_model=False),
        "adding": dict(_ADD, N=16, T=50, n_train=2000, n_val=200, n_test=500, steps=400, save_model=False),
    },
    "full": {
        "psmnist": dict(_IMG, N=64, epochs=4),
        "smnist": dict(_IMG, N=128, epochs=3),
        "scifar10": dict(_IMG, N=64, epochs=4),
        "adding": dict(_ADD, N=32, T=400, n_train=10000, n_val=1000, n_test=2000, steps=6000),
    },
}
#: The smallest paired effect worth claiming, by metric direction (accuracy difference; log MSE ratio): an
#: interval entirely below it says "no" (absent, negligible or reversed).
MIN_EFFECT = {True: 0.01, False: math.log(1.25)}
#: Seeds added (once) to the arms of an inconclusive comparison of a test task, per preset.
EXTRA_SEEDS = {"tiny": [], "quick": [], "full": [3, 4]}
#: What a missing data set degrades to in the quick preset's stand-ins (none in full: the task is dropped).
STAND_IN = {"smnist": "digits", "psmnist": "pdigits"}


def recipe(preset, task):
    """The training recipe of ``task`` under ``preset`` (a new dict; ValueError when there is none)."""
    table = TRAIN[preset]
    if task not in table:
        raise ValueError(f"no training recipe for task {task!r} in preset {preset!r}; have {sorted(table)}")
    return dict(table[task])


def recipe_text(preset, task, over=None):
    """One line describing the training recipe of ``task`` under ``preset``, with ``over`` (keys every arm of the
    task sets alike) applied, so an experiment that replaces the recipe for all its arms states what ran."""
    r = dict(recipe(preset, task), **(over or {}))
    n = "all" if r.get("n_train") is None else r["n_train"]
    budget = f"{r['steps']} steps" if r.get("steps") else f"{r['epochs']} epochs"
    extra = ", ".join(f"{k}={r[k]}" for k in ("model", "family", "mu", "activation", "w_scale") if k in r)
    return (f"{_build.task(task).label}: N={r['N']}{', T=' + str(r['T']) if 'T' in r else ''}, {n} training "
            f"sequences, batch {r['batch_size']}, Adam lr {r['lr']} {r.get('schedule') or 'constant'}, {budget}, "
            f"eps={r['eps'] if 'eps' in r else 0.05}, {r.get('dtype', 'float64')}" + (f", {extra}" if extra else ""))


@dataclass
class Arm:
    """A model variant: a short label and the keys it sets (over the task's recipe)."""
    label: str
    keys: dict


@dataclass
class Comparison:
    """A planned comparison on a task: arm ``a`` better than arm ``b`` ("better"), or not worse by more than
    ``margin`` ("noninferior")."""
    a: str
    b: str
    kind: str = "better"
    margin: float = 0.0

    def text(self):
        return f"{self.a} > {self.b}" if self.kind == "better" else f"{self.a} >= {self.b} - {self.margin:g}"


def cells_for(preset, task, arms, seeds):
    """The train cells of every arm x seed of a task, and the cell -> arm label map (by cell key)."""
    from .. import sweep
    base = recipe(preset, task)
    cells, label_of = [], {}
    for arm in arms:
        for s in seeds:
            c = dict(base, kind="train", task=task, seed=int(s))
            c.update(arm.keys)
            if task != "adding":
                c.pop("T", None)
            cells.append(c)
            label_of[sweep.cell_key(c)] = (arm.label, int(s))
    return cells, label_of


def typical_of(task, runs):
    """The task's typical value (:meth:`wcrnn_dyn.build.Task.typical`) of the finished runs of one arm
    (``runs``: {seed: record}); NaN when none finished."""
    t = _build.task(task)
    return t.typical([r["metrics"].get(t.metric_key, np.nan) for r in runs.values() if not r.get("error")])


def best_label(task, runs, labels):
    """The label among ``labels`` with the best typical value (None when none has a finished run)."""
    t = _build.task(task)
    vals = {lab: typical_of(task, runs.get(lab, {})) for lab in labels}
    vals = {k: v for k, v in vals.items() if np.isfinite(v)}
    return (max if t.higher_is_better else min)(vals, key=vals.get) if vals else None


def paired_interval(gains):
    """(mean, lo, hi, n) of the 95 % t-interval of paired per-seed gains (NaN bounds with fewer than 2)."""
    g = np.asarray([x for x in gains if np.isfinite(x)], dtype=float)
    n = g.size
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(g.mean())
    if n < 2:
        return m, float("nan"), float("nan"), 1
    from scipy import stats
    half = float(stats.t.ppf(0.975, n - 1)) * float(g.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half, int(n)


def evaluate_task(task, runs, comparisons, role="test"):
    """Per-task statistics and verdict.

    ``runs``: {arm label: {seed: record}}.  Returns a dict with the arms' per-seed metrics, means, convergence,
    the competence and convergence checks, every comparison's interval and verdict, and the task's status:
    "held", "not held" or "undecided" (with the reason).
    """
    t = _build.task(task)
    arms = {}
    for label, by_seed in runs.items():
        vals = {s: (r["metrics"].get(t.metric_key, float("nan")) if not r.get("error") else float("nan"))
                for s, r in by_seed.items()}
        imp = [bool(r["metrics"].get("still_improving", True)) for r in by_seed.values() if not r.get("error")]
        s90 = [r["metrics"].get("steps_to_90", -1) for r in by_seed.values() if not r.get("error")]
        fin = [v for v in vals.values() if np.isfinite(v)]
        arms[label] = {"per_seed": {str(s): v for s, v in sorted(vals.items())},
                       "mean": t.typical(fin), "std": t.spread(fin),
                       "n": len(fin), "still_improving": int(sum(imp)), "n_runs": len(by_seed),
                       "steps_to_90": float(np.mean([x for x in s90 if x >= 0])) if any(x >= 0 for x in s90) else -1,
                       "failed": sum(1 for r in by_seed.values() if r.get("error")),
                       "diverged": [str(s) for s, r in sorted(by_seed.items()) if not r.get("error") and (
                           r["metrics"].get("diverged") or r["metrics"].get("test_exploded"))]}
    means = {k: a["mean"] for k, a in arms.items() if np.isfinite(a["mean"])}
    best = (max if t.higher_is_better else min)(means, key=means.get) if means else None
    competent = best is not None and t.competent(means[best])
    n_runs = sum(a["n_runs"] for a in arms.values())
    n_imp = sum(a["still_improving"] for a in arms.values())
    converged = n_runs > 0 and n_imp <= n_runs / 2
    comps = []
    for cmp_ in comparisons:
        ra, rb = runs.get(cmp_.a, {}), runs.get(cmp_.b, {})
        gains = []
        for s in sorted(set(ra) & set(rb)):
            va = arms[cmp_.a]["per_seed"][str(s)]
            vb = arms[cmp_.b]["per_seed"][str(s)]
            gains.append(t.gain(va, vb) if np.isfinite(va) and np.isfinite(vb) else float("nan"))
        m, lo, hi, n = paired_interval(gains)
        out = comparison_outcome(cmp_, lo, hi, MIN_EFFECT[t.higher_is_better], n)
        comps.append({"a": cmp_.a, "b": cmp_.b, "kind": cmp_.kind, "margin": cmp_.margin, "text": cmp_.text(),
                      "gains": gains, "mean_gain": m, "ci_lo": lo, "ci_hi": hi, "n": n,
                      "outcome": out, "held": out == "yes",
                      "seeds_to_decide": (seeds_to_decide(gains, cmp_, MIN_EFFECT[t.higher_is_better])
                                          if out == "inconclusive" else None)})
    inconclusive = False
    if not competent:
        status = "undecided"
        why = (f"best arm {best!r} reaches {C.fmt(means.get(best, float('nan')))}, short of competence "
               f"{_level(t.competence)}" if best is not None else "no finished run")
    elif not converged:
        status = "undecided"
        why = f"{n_imp} of {n_runs} runs were still improving at the end"
    else:
        outs = [c["outcome"] for c in comps]
        if outs and all(o == "yes" for o in outs):
            status = "held"
        elif not outs or "no" in outs:
            status = "not held"
        else:
            status, inconclusive = "undecided", True
        why = "; ".join(f"{c['text']}: {c['outcome']}"
                        + (f" (about {c['seeds_to_decide']} seeds would decide it if its mean and spread held)"
                           if c.get("seeds_to_decide") else "") for c in comps)
        if inconclusive:
            why = "inconclusive (an interval contains 0 and effects worth claiming): " + why
    return {"task": task, "label": t.label, "metric": t.metric_key, "higher_is_better": t.higher_is_better,
            "gain_unit": "accuracy difference" if t.higher_is_better else "log(MSE_b / MSE_a)",
            "role": role, "arms": arms, "best_arm": best, "competent": bool(competent),
            "competence": t.competence, "converged": bool(converged), "n_improving": n_imp, "n_runs": n_runs,
            "comparisons": comps, "status": status, "why": why, "inconclusive": inconclusive}


def seeds_to_decide(gains, cmp_, min_effect, n_max=200):
    """The smallest number of paired seeds whose 95 % t-interval, with the observed mean and standard deviation
    of ``gains``, would no longer be inconclusive (:func:`comparison_outcome`); None when the gains are fewer
    than 2, have no spread, or more than ``n_max`` seeds would be needed.  A planning figure, not a promise:
    the mean and spread of new seeds will differ."""
    g = np.asarray([x for x in gains if np.isfinite(x)], dtype=float)
    if g.size < 2:
        return None
    m, sd = float(g.mean()), float(g.std(ddof=1))
    if not sd > 0:
        return None
    from scipy import stats
    for n in range(g.size + 1, n_max + 1):
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        if comparison_outcome(cmp_, m - half, m + half, min_effect, n) != "inconclusive":
            return n
    return None


def comparison_outcome(cmp_, lo, hi, min_effect, n):
    """"yes", "no" or "inconclusive" for a planned comparison with 95 % interval [lo, hi] of ``n`` paired
    gains: "A > B": yes when lo > 0, no when hi < ``min_effect`` (and not yes), else inconclusive;
    "A >= B - m": yes when lo > -m, no when hi < -m, else inconclusive.  Fewer than 2 gains: inconclusive."""
    if n < 2 or not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if cmp_.kind == "better":
        return "yes" if lo > 0 else ("no" if hi < min_effect else "inconclusive")
    m = float(cmp_.margin)
    return "yes" if lo > -m else ("no" if hi < -m else "inconclusive")


def combine(task_results):
    """The claim's verdict from its tasks (controls excluded): True / False / None and a sentence."""
    decided = [r for r in task_results if r["role"] == "test" and r["status"] != "undecided"]
    if not decided:
        return None, "no test task was decided (see each task's reason)"
    bad = [r for r in decided if r["status"] != "held"]
    if bad:
        return False, "not held on " + ", ".join(r["label"] for r in bad)
    return True, "held on every decided task (" + ", ".join(r["label"] for r in decided) + ")"


CRITERION = ("A task is UNDECIDED when its best arm's mean test metric misses the competence level (psMNIST 0.90, "
             "sMNIST 0.95, sCIFAR10 0.40, adding MSE 0.01; 8x8 stand-ins 0.80 / 0.70) or when more than half of its "
             "runs were still improving at the end (the best validation value of the last quarter of epochs beats "
             "the best before it by more than 0.01 accuracy or 25 % MSE).  Otherwise each planned comparison 'A > B' "
             "is decided by the 95 % t-interval of the paired per-seed gains (same seed = same data, batch order "
             "and initial W, U, V; gain = accuracy difference, or log of the MSE ratio): yes when it lies above 0, "
             "no when it lies below the smallest effect worth claiming (0.01 accuracy; log 1.25 for MSE), "
             "inconclusive otherwise ('A >= B - m': yes above -m, no below -m).  A task holds when every comparison "
             "says yes, does not hold when one says no, and is UNDECIDED when some are inconclusive; in the full "
             "preset an inconclusive test task first gets two more seeds for the arms of its inconclusive "
             "comparisons (once; this two-stage design is stated, not hidden).  The claim is HELD when every "
             "decided task holds, NOT HELD when a decided task does not, UNDECIDED when no task is decided; "
             "control tasks are reported but never counted.")


def group_runs(records, label_of):
    """{arm label: {seed: record}} from run records and a cell-key -> (label, seed) map."""
    out = {}
    for r in records:
        lab = label_of.get(r["key"])
        if lab is not None:
            out.setdefault(lab[0], {})[lab[1]] = r
    return out


def task_table(tr):
    """Markdown table of a task: arm, per-seed values (a dagger on runs whose training diverged or whose test
    loss exploded), mean ± std, still improving, steps to 90 %."""
    seeds = sorted({s for a in tr["arms"].values() for s in a["per_seed"]}, key=int)
    rows = []
    marked = False
    for label, a in tr["arms"].items():
        div = set(a.get("diverged", ()))
        marked |= bool(div)
        rows.append([label + (" (best)" if label == tr["best_arm"] else "")]
                    + [(C.fmt(a["per_seed"][s]) + (" †" if s in div else "")) if s in a["per_seed"] else "—"
                       for s in seeds]
                    + [C.fmt_ms(a["mean"], a["std"]), f"{a['still_improving']}/{a['n_runs']}",
                       C.fmt(a["steps_to_90"]) if a["steps_to_90"] >= 0 else "n/a"])
    typ = "mean ± std" if tr["higher_is_better"] else "geometric mean (log10 sd)"
    head = ["arm"] + [f"seed {s}" for s in seeds] + [f"{tr['metric']} {typ}", "still improving",
                                                       "steps to 90 %"]
    out = C.md_table(head, rows)
    if marked:
        out += ("\n\n† the run diverged: the trainer stopped it (exploding or non-finite loss after its learning-rate "
                "reductions; it is evaluated with its best validation parameters, like every run) or its test loss "
                "exceeded the trainer's divergence level.  Its value counts like any other.")
    if tr["comparisons"]:
        crow = [[c["text"], C.fmt(c["mean_gain"]), f"[{C.fmt(c['ci_lo'])}, {C.fmt(c['ci_hi'])}]", c["n"],
                 outcome_of(c)] for c in tr["comparisons"]]
        out += "\n\n" + C.md_table(["comparison", f"mean paired gain ({tr['gain_unit']})", "95 % interval",
                                    "seeds", "holds"], crow)
    return out


def outcome_of(c):
    """A comparison's outcome word (records written before the three-outcome rule: yes / no)."""
    return c.get("outcome") or ("yes" if c["held"] else "no")


def _level(x):
    """A competence level as text ("none" for a task without one: any finite value counts)."""
    return "none" if x is None else f"{x:g}"


def task_status_line(tr):
    word = {"held": "HELD", "not held": "NOT HELD", "undecided": "UNDECIDED"}[tr["status"]]
    comp = (f"competent (best arm {tr['best_arm']}: {C.fmt(tr['arms'][tr['best_arm']]['mean'])} vs level "
            f"{_level(tr['competence'])})" if tr["competent"] else "not competent")
    role = " [control: not counted]" if tr["role"] == "control" else ""
    conv = "" if "still improving" in tr["why"] else (f"{tr['n_improving']} of {tr['n_runs']} runs still "
                                                      "improving at the end; ")
    return f"**{tr['label']}{role}: {word}** — {comp}; {conv}{tr['why']}."


def metric_axis(ax, t):
    """A task's metric axis: the trivial baseline and the competence level drawn; accuracy on the full 0..1
    range (no truncated axis), MSE on a labelled log scale."""
    ax.axhline(t.baseline, color="gray", ls=":", lw=1, label=f"trivial: {t.baseline_label}")
    if t.competence is not None:
        ax.axhline(t.competence, color="k", ls="--", lw=0.8, label=f"competence {t.competence:g}")
    if t.higher_is_better:
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{t.metric_key.replace('_', ' ')} (higher is better)")
    else:
        ax.set_yscale("log")
        ax.set_ylabel(f"{t.metric_key.replace('_', ' ')} (log scale, lower is better)")


def arms_figure(task_results, title, path):
    """One panel per task: every run as a dot, the arm mean as a bar-less marker, the trivial baseline and the
    competence level drawn; accuracy on a full 0..1 axis, MSE on a log axis (labelled)."""
    p = C.plt()
    n = len(task_results)
    width = max(4.0, 0.75 * max((len(tr["arms"]) for tr in task_results), default=1) + 1.8)
    fig, axes = p.subplots(1, n, figsize=(width * n, 3.8), constrained_layout=True, squeeze=False)
    for i, tr in enumerate(task_results):
        ax = axes[0][i]
        t = _build.task(tr["task"])
        labels = list(tr["arms"])
        for k, lab in enumerate(labels):
            a = tr["arms"][lab]
            v = [x for x in a["per_seed"].values() if np.isfinite(x)]
            ax.plot([k] * len(v), v, "o", color=f"C{k % 10}", ms=4, alpha=0.7)
            if np.isfinite(a["mean"]):
                ax.plot([k - 0.3, k + 0.3], [a["mean"], a["mean"]], "-", color=f"C{k % 10}", lw=2)
        metric_axis(ax, t)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        word = tr["status"].upper() + (" (control)" if tr["role"] == "control" else "")
        import textwrap
        ax.set_title("\n".join(textwrap.wrap(f"{tr['label']}: {word}", 50)), fontsize=8)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle(title + " (dots: seeds; bars: means)", fontsize=10)
    return C.savefig(fig, path)


def effects_figure(task_results, title, path):
    """Paired effects with their 95 % intervals, one row per comparison; one panel per unit (accuracy
    differences; log MSE ratios), 0 and the non-inferiority margins drawn."""
    import textwrap
    units = {}
    for tr in task_results:
        for c in tr["comparisons"]:
            units.setdefault(tr["gain_unit"], []).append((tr, c))
    p = C.plt()
    heights = [max(len(r), 1) for r in units.values()] or [1]
    fig, axes = p.subplots(len(heights), 1, figsize=(9.0, 0.42 * sum(heights) + 1.2 * len(heights) + 0.6),
                           constrained_layout=True, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, (unit, rows) in zip(axes[:, 0], units.items()):
        for j, (tr, c) in enumerate(rows):
            y = len(rows) - 1 - j
            col = {"yes": "C2", "no": "C3"}.get(outcome_of(c), "C7")
            if np.isfinite(c["ci_lo"]):
                ax.plot([c["ci_lo"], c["ci_hi"]], [y, y], "-", color=col, lw=2)
            ax.plot([c["mean_gain"]], [y], "o", color=col)
            g = [x for x in c["gains"] if np.isfinite(x)]
            ax.plot(g, [y] * len(g), "k.", ms=3)
            if c["kind"] == "noninferior":
                ax.plot([-c["margin"]] * 2, [y - 0.4, y + 0.4], "k:", lw=1)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(["\n".join(textwrap.wrap(f"{tr['label']}: {c['text']}", 60)) for tr, c in rows][::-1],
                           fontsize=6)
        ax.set_xlabel(f"paired gain of A over B ({unit}); bar: 95 % interval, dots: seeds", fontsize=8)
    if not units:
        axes[0][0].text(0.5, 0.5, "no comparisons", ha="center", va="center")
    fig.suptitle(title, fontsize=9)
    return C.savefig(fig, path)


def run_claim(ctx, *, name, number, title, claim, p, plan, setup_extra="", extra_figs=(), numbers_extra=None):
    """Run a training claim.

    ``plan``: list of (task, role, arms, comparisons[, label suffix]), role "test" or "control".  Trains every arm x seed
    (cells cached under ``OUT/cells`` and shared between experiments), evaluates each task
    (:func:`evaluate_task`), combines the verdict (:func:`combine`), writes figures, ``results.json`` and the
    report section.  ``extra_figs``: callables (exp_dir, task_results, records) -> [file names].
    ``setup_extra`` (text) and ``numbers_extra`` (dict) may also be callables (plan, labels, records) -> text /
    dict, called once after both stages of seeds have run (``labels[i]``: cell key -> (arm label, seed) of plan
    entry i, second-stage cells included) and before ``extra_figs``.
    """
    exp_dir = ctx.out_dir / name
    with C.Timer():
        plan = [tuple(e) + ("",) * (5 - len(e)) for e in plan]
        all_cells, labels = [], []
        for task, role, arms, comps, _ in plan:
            cells, label_of = cells_for(ctx.preset, task, arms, p["seeds"])
            all_cells += cells
            labels.append(label_of)
        recs = C.run_cells(ctx, exp_dir, all_cells)
        task_results = [_evaluate_entry(e, recs, lm) for e, lm in zip(plan, labels)]
        extra = p.get("extra_seeds", EXTRA_SEEDS[ctx.preset])
        more = extra_seed_cells(ctx.preset, plan, task_results, extra)
        if more:
            recs = recs + C.run_cells(ctx, exp_dir, [c for cells, _ in more.values() for c in cells])
            for i, (_, label_of) in more.items():
                labels[i] = {**labels[i], **label_of}
                task_results[i] = dict(_evaluate_entry(plan[i], recs, labels[i]), extra_seeds=list(extra))
        if callable(setup_extra):
            setup_extra = setup_extra(plan, labels, recs)
        if callable(numbers_extra):
            numbers_extra = numbers_extra(plan, labels, recs)
        figs = [arms_figure(task_results, f"{number}. {title}", exp_dir / "arms.png"),
                effects_figure(task_results, "paired effects (green: yes, red: no, gray: inconclusive)",
                               exp_dir / "effects.png")]
        for f in extra_figs:
            figs += f(exp_dir, task_results, recs)
    held, why = combine(task_results)
    smoke = ctx.preset != "full"
    verdict = ("smoke-level (small stand-ins, not evidence about the paper): " if smoke else "") + why + "."
    second = [tr["label"] for tr in task_results if tr.get("extra_seeds")]
    seeds_text = f"seeds {list(p['seeds'])}" + (
        f" (second stage, seeds {list(extra)} for the arms of the inconclusive comparisons of: "
        + ", ".join(second) + ")" if second else "")
    setup = (f"preset `{ctx.preset}`; {seeds_text}; " + "; ".join(
        sorted({recipe_text(ctx.preset, e[0], shared_keys([a for f in plan if f[0] == e[0] for a in f[2]]))
                for e in plan})) + ". The test metric is taken with the "
        "parameters of the best validation epoch. " + setup_extra)
    body = "\n\n".join(task_status_line(tr) + "\n\n" + task_table(tr) for tr in task_results) + C.failure_note(recs)
    numbers = {"tasks": task_results, "smoke_level": smoke}
    numbers.update(numbers_extra or {})
    res = C.ExperimentResult(name, title, claim, CRITERION, held, verdict,
                             C.section(number, title, claim, setup, body, CRITERION, held, verdict, figs, name),
                             figs, numbers, time.perf_counter() - ctx.started, len(ctx.seen),
                             len(C.failures(recs)))
    return C.finish(ctx, exp_dir, name, p, res)


def shared_keys(arms):
    """The keys that every arm in ``arms`` sets to the same value ({} for no arms)."""
    if not arms:
        return {}
    common = dict(arms[0].keys)
    for a in arms[1:]:
        common = {k: v for k, v in common.items() if k in a.keys and a.keys[k] == v}
    return common


def _evaluate_entry(entry, recs, label_of):
    """:func:`evaluate_task` for one plan entry (task, role, arms, comparisons, label suffix)."""
    task, role, _, comps, suffix = entry
    tr = evaluate_task(task, group_runs(recs, label_of), comps, role)
    if suffix:
        tr["label"] += f" ({suffix})"
    return tr


def extra_seed_cells(preset, plan, task_results, seeds):
    """Cells for the second stage: for every inconclusive *test* task, ``seeds`` for the arms named in its
    inconclusive comparisons.  Returns {plan index: (cells, cell key -> (label, seed))} (empty when there is
    nothing to add or no extra seeds)."""
    out = {}
    if not seeds:
        return out
    for i, ((task, role, arms, comps, _), tr) in enumerate(zip(plan, task_results)):
        if role != "test" or not tr.get("inconclusive"):
            continue
        names = {n for c in tr["comparisons"] if c["outcome"] == "inconclusive" for n in (c["a"], c["b"])}
        chosen = [a for a in arms if a.label in names]
        if chosen:
            out[i] = cells_for(preset, task, chosen, seeds)
    return out


def available(task):
    """True when the data of ``task`` can be loaded here."""
    return C.task_available(task)


def plan_tasks(preset, tasks):
    """The tasks to run under ``preset``: the full preset drops unavailable data sets (with a note); quick
    runs replace sMNIST/psMNIST by their 8x8 stand-ins.  Returns (tasks, notes)."""
    out, notes = [], []
    for t in tasks:
        if t in TRAIN[preset] and available(t):
            out.append(t)
        elif t in STAND_IN and STAND_IN[t] in TRAIN[preset]:
            out.append(STAND_IN[t])
        elif t in TRAIN[preset]:
            notes.append(f"{t}: data not available here, dropped")
    return list(dict.fromkeys(out)), notes
