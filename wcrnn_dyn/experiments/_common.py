"""Shared machinery of the experiments (private): presets, cached cells, statistics, report sections."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import store as _store
from .. import sweep as _sweep

log = logging.getLogger("wcrnn_dyn.experiments")

PRESET_NAMES = ("tiny", "quick", "full")


@dataclass
class Context:
    """Where and how an experiment runs.

    Attributes
    ----------
    out_dir : Path
        The run's output folder (``cells/`` shared by its experiments).
    preset : str
        "tiny", "quick" or "full".
    jobs, scheduler, progress, argv, isolate
        As in :func:`wcrnn_dyn.experiments.run`.
    seen : dict
        Cell key -> compute seconds of every run this experiment used.
    ran : set
        The keys this invocation computed (the others were reused).
    started : float
        ``time.perf_counter()`` when the experiment started.
    """
    out_dir: Path
    preset: str = "quick"
    jobs: int = 1
    scheduler: str | None = None
    progress: bool = False
    argv: list | None = None
    isolate: bool = True
    seen: dict = field(default_factory=dict)      # cell key -> compute seconds, every cell this experiment used
    ran: set = field(default_factory=set)         # the keys this invocation computed
    started: float = field(default_factory=time.perf_counter)

    @property
    def cell_seconds(self):
        """Compute seconds of all runs used (when each ran)."""
        return float(sum(self.seen.values()))

    @property
    def cells_reused(self):
        """How many of the runs used were computed by an earlier invocation."""
        return len(set(self.seen) - self.ran)


@dataclass
class ExperimentResult:
    """Outcome of one experiment.

    Attributes
    ----------
    name, title, claim : str
        The experiment and the claim it tests.
    criterion : str
        The rule that decided the verdict.
    held : bool or None
        True (HELD), False (NOT HELD) or None (UNDECIDED).
    verdict : str
        Why, in a sentence.
    section : str
        The markdown section for ``report.md``.
    figures : list of str
        Figure file names under the experiment's folder.
    numbers : dict
        Every number behind the verdict (also in ``results.json``).
    seconds, n_cells, n_failed, cell_seconds, n_reused
        Wall time of this invocation, runs used, failed runs, their compute time, runs reused.
    """
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
        """The result as a JSON-able dict (without the markdown section).

        Returns
        -------
        dict
        """
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
    The cells used and the ones computed now are recorded in the context (compute time, reuse counts)."""
    cache = Path(ctx.out_dir) / "cells"
    before = {k for k in (_sweep.cell_key(c) for c in cells) if (cache / f"{k}.json").exists()}
    records, n_run = _sweep.run_cells(cells, cache, jobs=ctx.jobs, scheduler=ctx.scheduler,
                                      progress=ctx.progress, isolate=ctx.isolate)
    for r in records:
        ctx.seen[r["key"]] = float(r.get("seconds", 0.0))
        if r["key"] not in before:
            ctx.ran.add(r["key"])
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
    _store.write_results(exp_dir, cfg, metrics, arrays=arrays, argv=ctx.argv, extra={"claim": result.claim})
    _store.atomic_write_text(exp_dir / "section.md", result.section)
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
