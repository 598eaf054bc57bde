"""Shared machinery of the experiments (private): presets, cached cells, statistics, report sections."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import io as _io
from .. import sweep as _sweep

log = logging.getLogger("wcrnn_dyn.experiments")

PRESET_NAMES = ("tiny", "quick", "full")


@dataclass
class Context:
    """Where and how an experiment runs: output folder, preset, workers, progress bars."""
    out_dir: Path
    preset: str = "quick"
    jobs: int = 1
    scheduler: str | None = None
    progress: bool = False
    argv: list | None = None
    isolate: bool = True
    cell_seconds: float = 0.0
    cells_reused: int = 0


@dataclass
class ExperimentResult:
    """Outcome of one experiment: the verdict (``held`` True/False, None = not decidable), the criterion
    that decided it, the numbers, the figure files and the markdown section for ``report.md``."""
    name: str
    title: str
    claim: str
    criterion: str
    held: bool | None
    verdict: str
    section: str
    figures: list = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    seconds: float = 0.0
    n_cells: int = 0
    n_failed: int = 0
    cell_seconds: float = 0.0
    n_reused: int = 0

    def to_dict(self):
        return {k: getattr(self, k) for k in ("name", "title", "claim", "criterion", "held", "verdict",
                                              "figures", "numbers", "seconds", "n_cells", "n_failed",
                                              "cell_seconds", "n_reused")}


def params_for(presets, preset, overrides=None):
    """The parameters of ``preset`` (a new dict) updated with ``overrides`` (unknown keys raise)."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(presets)}")
    p = dict(presets[preset])
    for k, v in (overrides or {}).items():
        if k not in p:
            raise ValueError(f"unknown parameter {k!r} for this experiment; known: {sorted(p)}")
        p[k] = v
    return p


def run_cells(ctx, exp_dir, cells):
    """Run (or reuse) cells under ``OUT/cells`` (shared by all experiments of a run, so a run that two
    experiments need is trained once) with the context's workers; returns the records.
    The compute seconds of all records (recorded when each cell ran) accumulate in ``ctx.cell_seconds``."""
    records, n_run = _sweep.run_cells(cells, Path(ctx.out_dir) / "cells", jobs=ctx.jobs, scheduler=ctx.scheduler,
                                      progress=ctx.progress, isolate=ctx.isolate)
    ctx.cell_seconds += float(sum(r.get("seconds", 0.0) for r in records))
    ctx.cells_reused += len(records) - n_run
    log.info("%s: %d cells (%d run, %d reused)", exp_dir, len(cells), n_run, len(cells) - n_run)
    return records


def task_available(task):
    """True when the data of ``task`` can be loaded here (adding/digits/pdigits always can)."""
    if task in ("adding", "digits", "pdigits", "noise"):
        return True
    try:
        from .. import build
        build.task_data(task, "test", n=1)
        return True
    except (FileNotFoundError, ValueError, OSError) as e:
        log.info("task %s not available here: %s", task, e)
        return False


def stats(values):
    """(mean, std, n) of the finite values (std with ddof=1, 0 for one value; NaN mean when none)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


def group(records, keys, metric):
    """{tuple(cell[k] for k in keys): [metric values]} over records (failed cells contribute NaN)."""
    out = {}
    for r in records:
        k = tuple(r["cell"].get(kk) for kk in keys)
        out.setdefault(k, []).append(r["metrics"].get(metric, float("nan")) if not r.get("error") else float("nan"))
    return out


def fmt(x, digits=4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e5):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def fmt_ms(mean, std, n=None, digits=4):
    s = f"{fmt(mean, digits)} ± {fmt(std, 2)}"
    return s if n is None else f"{s} (n={n})"


def metric_name(task):
    return "test_mse" if task == "adding" else "test_accuracy"


def better(task):
    """+1 when larger is better for the task's metric (accuracy), -1 for MSE."""
    return -1.0 if task == "adding" else 1.0


def md_table(header, rows):
    def cell(c):
        return str(c).replace("|", "\\|")
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def verdict_word(held):
    return {True: "HELD", False: "NOT HELD", None: "UNDECIDED"}[held]


def section(result_num, title, claim, setup, body, criterion, held, verdict, figures, exp_name):
    figs = "\n".join(f"![{f}]({exp_name}/{f})" for f in figures)
    return (f"## {result_num}. {title}\n\n**Claim.** {claim}\n\n**Setup.** {setup}\n\n{body}\n\n"
            f"**Criterion.** {criterion}\n\n**Verdict: {verdict_word(held)}.** {verdict}\n\n{figs}\n")


def failures(records):
    return [r for r in records if r.get("error")]


def failure_note(records):
    f = failures(records)
    if not f:
        return ""
    kinds = sorted({r["error"].split(":")[0] for r in f})
    return (f"\n\n{len(f)} of {len(records)} runs failed ({', '.join(kinds)}); failed runs count as missing "
            "values (NaN) in the statistics above (first error: " + f[0]["error"][:200] + ").")


def finish(ctx, exp_dir, name, params, result, arrays=None):
    """Write ``results.json`` (+ npz) and ``section.md`` of an experiment; returns ``result``."""
    exp_dir = Path(exp_dir)
    result.cell_seconds = ctx.cell_seconds
    result.n_reused = ctx.cells_reused
    cfg = {"experiment": name, "preset": ctx.preset, "params": params}
    metrics = {"held": result.held, "criterion": result.criterion, "verdict": result.verdict,
               "numbers": result.numbers, "figures": result.figures, "seconds": result.seconds,
               "n_cells": result.n_cells, "n_failed": result.n_failed, "cell_seconds": ctx.cell_seconds,
               "cells_reused": ctx.cells_reused}
    _io.write_results(exp_dir, cfg, metrics, arrays=arrays, argv=ctx.argv, extra={"claim": result.claim})
    _io.atomic_write_text(exp_dir / "section.md", result.section)
    return result


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *a):
        self.seconds = time.perf_counter() - self.t0


def savefig(fig, path):
    from ..plotting._base import savefig as _save
    _save(fig, path)
    return Path(path).name


def plt():
    from ..plotting._base import plt as _plt
    return _plt()


# ============================================================================================ training grids
#: Training settings per preset and task (merged into "train" cells).  quick: 8x8 digits stand in for sMNIST
#: ("digits") and psMNIST ("pdigits": fixed pixel permutation), short adding problems; full: the real tasks
#: at CPU-feasible sample counts (see docs/NUMERICS.md).
TRAIN = {
    "tiny": {
        "digits": dict(N=8, n_train=200, n_val=60, n_test=100, epochs=2, lr=1e-2, batch_size=32),
        "adding": dict(N=8, T=20, n_train=200, n_val=50, n_test=100, epochs=2, lr=1e-2, batch_size=32),
    },
    "quick": {
        "digits": dict(N=32, n_train=1197, n_val=300, n_test=300, epochs=12, lr=1e-2, batch_size=32),
        "adding": dict(N=32, T=50, n_train=1500, n_val=200, n_test=500, epochs=12, lr=1e-2, batch_size=32),
    },
    "full": {
        "smnist": dict(N=64, n_train=5000, n_val=1000, n_test=2000, epochs=6, lr=5e-3, batch_size=32),
        "scifar10": dict(N=64, n_train=5000, n_val=1000, n_test=2000, epochs=6, lr=5e-3, batch_size=32),
        "adding": dict(N=64, T=400, n_train=5000, n_val=500, n_test=1000, epochs=6, lr=5e-3, batch_size=32),
        "digits": dict(N=64, n_train=1197, n_val=300, n_test=300, epochs=40, lr=5e-3, batch_size=32),
    },
}
_SAME_AS = {"pdigits": "digits", "psmnist": "smnist"}
#: What a missing data set degrades to (with a note in the report).
FALLBACK = {"smnist": "digits", "psmnist": "pdigits", "scifar10": None}
TASK_LABEL = {"digits": "digits (8x8, T=64; sMNIST stand-in)", "pdigits": "permuted digits (psMNIST stand-in)",
              "smnist": "sMNIST", "psmnist": "psMNIST", "scifar10": "sCIFAR10 (JPEG q75 copy)",
              "adding": "adding"}


def train_settings(preset, task, table=None):
    """Training settings of ``task`` under ``preset`` (a new dict)."""
    table = TRAIN[preset] if table is None else table
    key = task if task in table else _SAME_AS.get(task, task)
    if key not in table:
        raise ValueError(f"no training settings for task {task!r} in this preset; have {sorted(table)}")
    return dict(table[key])


def resolve_tasks(tasks):
    """[(requested, used)] with unavailable data replaced by :data:`FALLBACK` (None: dropped), and notes."""
    out, notes = [], []
    for t in tasks:
        if task_available(t):
            out.append((t, t))
            continue
        fb = FALLBACK.get(t)
        if fb is None:
            notes.append(f"{t}: data not available here, skipped")
        else:
            notes.append(f"{t}: data not available here, replaced by {fb}")
            out.append((t, fb))
    return out, notes


def train_cells(p, preset, tasks, variants, seeds, table=None):
    """Cells of kind "train": every task x variant (dict of model keys) x seed."""
    cells = []
    for task in tasks:
        ts = train_settings(preset, task, table)
        for v in variants:
            for s in seeds:
                c = dict(kind="train", task=task)
                c.update(ts)
                c.update(v)
                c["seed"] = int(s)
                if task != "adding":
                    c.pop("T", None)
                cells.append(c)
    return cells


def select(records, **where):
    return [r for r in records if all(r["cell"].get(k) == v for k, v in where.items())]


def metric_values(records, task):
    m = metric_name(task)
    return [r["metrics"].get(m, float("nan")) if not r.get("error") else float("nan") for r in records]


def group_metrics(records, tasks, field, arms):
    """Test metrics per task and arm: arms are (label, value) pairs selecting ``cell[field] == value``.
    Returns (groups, vals): groups[task] = [(label, values)] for :func:`bar_panels`, vals[(task, value)]."""
    groups, vals = {}, {}
    for t in tasks:
        groups[t] = []
        for label, value in arms:
            v = metric_values(select(records, task=t, **{field: value}), t)
            vals[(t, value)] = v
            groups[t].append((label, v))
    return groups, vals


def reference_lines(tasks):
    """Horizontal reference lines per task for :func:`bar_panels`: chance (0.1) for the 10-class tasks and
    the predict-1 baseline (MSE 1/6) for adding."""
    return {t: [(0.1, "chance")] if t != "adding" else [(1 / 6, "predict 1 (MSE 1/6)")] for t in tasks}


def n_params_of(records):
    v = sorted({r["metrics"]["n_params"] for r in records if not r.get("error") and "n_params" in r["metrics"]})
    return ", ".join(str(x) for x in v) if v else "n/a"


def errorbar_panels(tasks, series, xlabel, title, path, xscale=None, hlines=None):
    """One panel per task; ``series[task]`` = list of (label, xs, means, stds).  Returns the file name."""
    p = plt()
    n = len(tasks)
    fig, axes = p.subplots(1, n, figsize=(4.2 * n, 3.4), constrained_layout=True, squeeze=False)
    for i, t in enumerate(tasks):
        ax = axes[0][i]
        for k, (label, xs, ms, ss) in enumerate(series.get(t, [])):
            ax.errorbar(xs, ms, yerr=ss, marker="o", ms=4, capsize=3, label=label, color=f"C{k}")
        for y, lab in (hlines or {}).get(t, []):
            ax.axhline(y, color="gray", ls=":", lw=1, label=lab)
        if xscale:
            ax.set_xscale(xscale)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_name(t).replace("_", " "))
        if t == "adding":
            ax.set_yscale("log")
        ax.set_title(TASK_LABEL.get(t, t), fontsize=9)
        if series.get(t) and (len(series[t]) > 1 or hlines):
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return savefig(fig, path)


def bar_panels(tasks, groups, title, path, hlines=None):
    """One panel per task; ``groups[task]`` = list of (label, values).  Bars = mean, error = std, dots = runs."""
    p = plt()
    n = len(tasks)
    width = max(3.6, 0.9 * max((len(groups.get(t, [])) for t in tasks), default=1) + 1.5)
    fig, axes = p.subplots(1, n, figsize=(width * n, 3.4), constrained_layout=True, squeeze=False)
    for i, t in enumerate(tasks):
        ax = axes[0][i]
        for k, (label, vals) in enumerate(groups.get(t, [])):
            m, s, _ = stats(vals)
            ax.bar(k, m if np.isfinite(m) else 0.0, yerr=s if np.isfinite(s) else 0.0, color=f"C{k}", alpha=0.7,
                   capsize=4)
            v = [x for x in vals if np.isfinite(x)]
            ax.plot([k] * len(v), v, "k.", ms=4)
        for y, lab in (hlines or {}).get(t, []):
            ax.axhline(y, color="gray", ls=":", lw=1, label=lab)
            ax.legend(fontsize=7)
        labels = [g[0] for g in groups.get(t, [])]
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20, fontsize=8)
        ax.set_ylabel(metric_name(t).replace("_", " "))
        if t == "adding":
            ax.set_yscale("log")
        ax.set_title(TASK_LABEL.get(t, t), fontsize=9)
    fig.suptitle(title, fontsize=10)
    return savefig(fig, path)


def compare(task, a_vals, b_vals):
    """(improvement of a over b in the task's 'better' direction, pooled std) from per-seed values."""
    ma, sa, _ = stats(a_vals)
    mb, sb, _ = stats(b_vals)
    return better(task) * (ma - mb), float(np.sqrt(0.5 * (sa ** 2 + sb ** 2))) if np.isfinite(sa + sb) else float("nan")


def clearly_better(task, a_vals, b_vals):
    """(verdict, margin, pooled std): a beats b in the task's direction by more than the pooled std of the
    per-seed values (with one seed each: by any margin > 0)."""
    margin, pooled = compare(task, a_vals, b_vals)
    if not np.isfinite(margin):
        return False, margin, pooled
    thr = pooled if np.isfinite(pooled) else 0.0
    return bool(margin > thr), margin, pooled
