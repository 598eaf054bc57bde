"""Reproduction of the paper's claims: one module per claim, each with "tiny", "quick" and "full" presets.

Registry (:data:`EXPERIMENTS`, in report order):

=================== ==================================================================================
``theory``            Lyapunov spectra against log|eigenvalues| of the residual, every family, several
                      eps, before and after training (docs/THEORY.md section 4)
``edge_of_chaos``     test metric against mu (scaled identity), near-critical is best
``spectral_matching`` data spectra with residual frequencies; rotational residual matched to the data
                      against random angles and the identity; permuted data as control
``heterogeneity``     heterogeneous against homogeneous residuals at a matched mean timescale
``nonlinear``         non-linear residuals: measured exponents and accuracy against the gain
``wcri``              weakly coupled residual initialisation of Elman RNNs against default, orthogonal
                      and identity initialisations
``flossing``          beyond the paper: gradient flossing (before / during training) against WCRI and the
                      default initialisation of Elman RNNs (issue 14)
``flossing_confirm``  the flossing comparison on adding repeated on ten fresh seeds, decided on those alone
=================== ==================================================================================

Every experiment module has ``NAME``, ``TITLE``, ``CLAIM``, ``PRESETS`` and ``run(ctx, params)``.  Use
:func:`run` / :func:`run_all` (or ``wcrnn-dyn reproduce``): each experiment writes, under
``OUT/<name>/``, ``results.json`` (config, numbers, verdict, provenance), PNG figures, ``section.md`` and its
cached cells (``cells/<key>.json``, so an interrupted run resumes where it stopped); :func:`run_all` also
writes ``OUT/report.md`` (see :mod:`wcrnn_dyn.experiments.report`).
"""
from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path

from ._common import PRESET_NAMES, Context, ExperimentResult, params_for

__all__ = ["EXPERIMENTS", "PRESET_NAMES", "get", "run", "run_all", "presets", "Context", "ExperimentResult"]

log = logging.getLogger(__name__)

#: name -> module path, in report order (1..6: the claims in docs/PAPER_MAP.md; 7, 8: beyond the paper, docs/CLV.md).
EXPERIMENTS = {
    "theory": "wcrnn_dyn.experiments.theory",
    "edge_of_chaos": "wcrnn_dyn.experiments.edge_of_chaos",
    "spectral_matching": "wcrnn_dyn.experiments.spectral_matching",
    "heterogeneity": "wcrnn_dyn.experiments.heterogeneity",
    "nonlinear": "wcrnn_dyn.experiments.nonlinear",
    "wcri": "wcrnn_dyn.experiments.wcri",
    "flossing": "wcrnn_dyn.experiments.flossing",
    "flossing_confirm": "wcrnn_dyn.experiments.flossing_confirm",
}


def get(name):
    """The module of an experiment.

    Parameters
    ----------
    name : str
        A key of :data:`EXPERIMENTS`.

    Returns
    -------
    module
        The experiment's module (``NAME``, ``TITLE``, ``CLAIM``, ``PRESETS``, ``run``).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])


def presets(name):
    """The presets of an experiment.

    Parameters
    ----------
    name : str
        A key of :data:`EXPERIMENTS`.

    Returns
    -------
    dict
        {"tiny": {...}, "quick": {...}, "full": {...}}: copies of the preset parameters.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    return {k: dict(v) for k, v in get(name).PRESETS.items()}


def run(name, out_dir, preset="quick", jobs=1, scheduler=None, progress=False, overrides=None, argv=None,
        isolate=True):
    """Run one experiment into ``out_dir/<name>/`` (its runs are cached in ``out_dir/cells``).

    Parameters
    ----------
    name : str
        A key of :data:`EXPERIMENTS`.
    out_dir : str or Path
        Output folder; a folder of an earlier invocation is resumed (finished runs are reused, training runs
        continue from their checkpoints).
    preset : {"tiny", "quick", "full"}, default "quick"
        "tiny" (seconds, for tests), "quick" (minutes, small stand-ins: smoke-level) or "full" (the real
        tasks; hours).
    jobs : int, default 1
        Local worker processes for the runs.
    scheduler : str, optional
        A Dask scheduler address instead of local workers.
    progress : bool, default False
        Progress bar over the runs.
    overrides : dict, optional
        Preset parameters to change (unknown keys raise ValueError).
    argv : list, optional
        The command line, recorded in the provenance.
    isolate : bool, default True
        Run the cells in spawned single-threaded workers even for ``jobs=1``.

    Returns
    -------
    ExperimentResult
        The verdict (``held``: True, False or None for UNDECIDED), criterion, numbers and figures; the same is
        written to ``out_dir/<name>/results.json`` and ``section.md``.

    Raises
    ------
    ValueError
        For an unknown experiment or preset, or bad overrides.

    Notes
    -----
    Cost: the sum of the experiment's runs divided by the workers; see docs/RESULTS.md for the full preset.
    """
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}, got {preset!r}")
    mod = get(name)
    params = params_for(mod.PRESETS, preset, overrides)
    ctx = Context(Path(out_dir), preset=preset, jobs=jobs, scheduler=scheduler, progress=progress, argv=argv,
                  isolate=isolate)
    t0 = time.perf_counter()
    res = mod.run(ctx, params)
    log.info("experiment %s done in %.1f s: %s", name, time.perf_counter() - t0, res.verdict)
    return res


def run_all(names, out_dir, preset="quick", jobs=1, scheduler=None, progress=False, overrides=None, argv=None,
            on_result=None, isolate=True):
    """Run several experiments and write ``out_dir/report.md`` after each.

    Parameters
    ----------
    names : list of str
        Experiments to run, in this order (empty or None: all, in registry order).
    out_dir, preset, jobs, scheduler, progress, argv, isolate
        As in :func:`run`.
    overrides : dict, optional
        {experiment name: {param: value}}.
    on_result : callable, optional
        Called with each :class:`ExperimentResult` as it completes.

    Returns
    -------
    list of ExperimentResult
        In the order run.  An experiment that raises is reported in report.md as failed (with the error,
        verdict UNDECIDED) and the others still run.

    Raises
    ------
    ValueError
        For an unknown experiment name (before anything runs).
    """
    from . import report
    names = list(EXPERIMENTS) if not names else list(names)
    for n in names:
        get(n)
    out_dir = Path(out_dir)
    results = []
    t0 = time.perf_counter()
    for n in names:
        try:
            r = run(n, out_dir, preset=preset, jobs=jobs, scheduler=scheduler, progress=progress,
                    overrides=(overrides or {}).get(n), argv=argv, isolate=isolate)
        except Exception as e:  # noqa: BLE001 - reported in report.md, the other experiments go on
            log.exception("experiment %s failed", n)
            mod = get(n)
            r = ExperimentResult(n, mod.TITLE, mod.CLAIM, "-", None, f"the experiment raised {type(e).__name__}: {e}",
                                 f"## {mod.TITLE}\n\n**Claim.** {mod.CLAIM}\n\n**The experiment failed:** "
                                 f"`{type(e).__name__}: {e}`\n")
        results.append(r)
        if on_result is not None:
            on_result(r)
        report.write_report(out_dir, results, preset=preset, seconds=time.perf_counter() - t0, argv=argv)
    return results
