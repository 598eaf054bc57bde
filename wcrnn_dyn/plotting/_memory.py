"""Figures for fading memory: input-sensitivity curves, capacity profiles, timescale histograms."""
from __future__ import annotations

import numpy as np

from .._validate import check_float, check_int
from ._base import check_ax, check_result, curve, new_axes

__all__ = ["plot_input_sensitivity", "plot_memory_capacity", "plot_ipc", "plot_timescales",
           "plot_perturbation_decay"]


def _curves(curves, default_label=None, name="curves"):
    if isinstance(curves, dict):
        return [(str(k), curve(v, f"{name}[{k!r}]")) for k, v in curves.items()]
    return [(default_label, curve(curves, name))]


def plot_input_sensitivity(curves, ax=None, log=True, reference_mu=None, normalize=False, title=None):
    """Input sensitivity M(l) vs lag l (log y axis by default).

    Parameters
    ----------
    curves : array_like, shape (max_lag + 1,), or dict
        One curve, or label -> curve.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    log : bool, default True
        Log y axis.
    reference_mu : float, optional
        Draw the decay mu^l (scaled to each curve's lag-0 value) as a dashed line.
    normalize : bool, default False
        Divide each curve by its lag-0 value.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``curves`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_ax(ax)
    items = _curves(curves)
    if reference_mu is not None:
        reference_mu = check_float(reference_mu, "reference_mu", minimum=0.0)
    fig, ax = new_axes(ax)
    first = None
    for label, y in items:
        y = np.asarray(y, dtype=float)
        if normalize and y[0] > 0:
            y = y / y[0]
        lags = np.arange(y.size)
        ax.plot(lags, y, label=label)
        first = y if first is None else first
    if reference_mu is not None and first is not None:
        lags = np.arange(first.size)
        ax.plot(lags, first[0] * float(reference_mu) ** lags, "k--", lw=1, label=f"$\\mu^l$, $\\mu$={reference_mu:g}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("lag $l$ (steps)")
    ax.set_ylabel(r"$\mathbb{E}\,\|\partial h_T / \partial x_{T-l}\|$" + (" (normalised)" if normalize else ""))
    if title:
        ax.set_title(title)
    if any(lbl for lbl, _ in items) or reference_mu is not None:
        ax.legend(fontsize="small")
    return fig, ax


def plot_memory_capacity(results, ax=None, raw=False, title=None):
    """Memory capacity profile MC_l vs lag (the legend shows each total).

    Parameters
    ----------
    results : MemoryCapacity or dict
        A :class:`wcrnn_dyn.memory.MemoryCapacity` or label -> result.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    raw : bool, default False
        Also draw the unthresholded values (dotted) and the threshold.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``results`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_ax(ax)
    items = list(results.items()) if isinstance(results, dict) else [(None, results)]
    if not items:
        raise ValueError("results must hold at least one MemoryCapacity, got an empty dict")
    for label, r in items:
        check_result(r, "results" if label is None else f"results[{label!r}]", ("lags", "per_lag", "raw", "total",
                     "threshold"), "a MemoryCapacity (or a dict of them)")
    fig, ax = new_axes(ax)
    for label, r in items:
        name = f"{label + ': ' if label else ''}MC = {r.total:.2f}"
        line, = ax.plot(r.lags, r.per_lag, drawstyle="steps-mid", label=name)
        if raw:
            ax.plot(r.lags, r.raw, ":", color=line.get_color())
            ax.axhline(r.threshold, color=line.get_color(), lw=0.8, ls="--")
    ax.set_xlabel("lag $l$ (steps)")
    ax.set_ylabel("$MC_l$")
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax


def plot_ipc(result, ax=None, title=None):
    """Information processing capacity per lag, one line per Legendre degree (cross terms in the legend
    total).

    Parameters
    ----------
    result : InformationProcessingCapacity
        From :func:`wcrnn_dyn.memory.information_processing_capacity`.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``result`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_result(result, "result", ("lags", "by_degree", "total_by_degree", "cross", "total"),
                 "an InformationProcessingCapacity")
    fig, ax = new_axes(ax)
    for k, v in result.by_degree.items():
        ax.plot(result.lags, v, drawstyle="steps-mid", label=f"degree {k}: {result.total_by_degree[k]:.2f}")
    if result.cross.size:
        ax.plot([], [], " ", label=f"cross (deg 2): {result.cross.sum():.2f}")
    ax.set_xlabel("lag $l$ (steps)")
    ax.set_ylabel("capacity")
    ax.set_title(title or f"IPC total = {result.total:.2f}")
    ax.legend(fontsize="small")
    return fig, ax


def plot_timescales(taus, ax=None, bins=30, log=True, title=None):
    """Histogram of memory timescales tau (steps), log-spaced bins by default.

    Infinite timescales (LE >= 0) cannot be binned: their count is written in the legend.

    Parameters
    ----------
    taus : array_like or dict
        Timescales, or label -> timescales.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    bins : int, default 30
    log : bool, default True
        Log-spaced bins and log x axis.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``taus`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_ax(ax)
    data = _curves(taus, name="taus")
    bins = check_int(bins, "bins", minimum=1, maximum=100_000)  # more bins than that draws nothing visible
    fig, ax = new_axes(ax)
    finite_all = np.concatenate([v[np.isfinite(v) & (v > 0)] for _, v in data]) if data else np.zeros(0)
    if finite_all.size and log:
        lo, hi = finite_all.min(), finite_all.max()
        if hi <= lo * 1.01:  # (nearly) one value: a band around it
            lo, hi = lo / 1.5, hi * 1.5
        edges = np.unique(np.geomspace(lo, hi, bins + 1))
    else:
        edges = bins
    for label, v in data:
        v = np.asarray(v, dtype=float)
        fin = v[np.isfinite(v) & (v > 0)]
        n_inf = int(np.sum(np.isinf(v)))
        lbl = (label or "") + (f" ({n_inf} infinite)" if n_inf else "")
        ax.hist(fin, bins=edges, alpha=0.6, label=lbl or None)
    if log and finite_all.size:
        ax.set_xscale("log")
    ax.set_xlabel(r"timescale $\tau = -1/\lambda$ (steps)")
    ax.set_ylabel("count")
    if title:
        ax.set_title(title)
    if any(lbl for lbl, _ in data) or any(np.isinf(np.asarray(v)).any() for _, v in data):
        ax.legend(fontsize="small")
    return fig, ax


def plot_perturbation_decay(result, ax=None, title=None):
    """Geometric-mean trajectory distance vs time (log y), with the rounding floor and the fitted rate.

    Parameters
    ----------
    result : PerturbationDecay
        From :func:`wcrnn_dyn.memory.perturbation_decay`.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``result`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_result(result, "result", ("times", "distance", "floor", "rate"), "a PerturbationDecay")
    fig, ax = new_axes(ax)
    ax.plot(result.times, result.distance, label=f"rate {result.rate:.4g} / step")
    ax.plot(result.times, result.floor, "k:", lw=1, label="rounding floor")
    ax.set_yscale("log")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\|h'_t - h_t\|$")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax
