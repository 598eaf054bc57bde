"""Figures for Lyapunov spectra: the spectrum against theory, and convergence of the running estimate."""
from __future__ import annotations

import numpy as np

from ._base import check_ax, check_result, curve, new_axes

__all__ = ["plot_lyapunov_spectrum", "plot_lyapunov_convergence"]


def plot_lyapunov_spectrum(result, predicted=None, interval=None, ax=None, title=None):
    """Exponents (nats/step) against their index, with standard-error bars and, for a batch, the spread
    over sequences as a band.

    Parameters
    ----------
    result : LyapunovResult or array_like
        A :class:`wcrnn_dyn.lyapunov.LyapunovResult` or an array of exponents.
    predicted : array_like, optional
        Theory (e.g. ``theory.predicted_exponents(net)``), drawn as a dashed line over the same indices.
    interval : (array_like, array_like), optional
        (low, high) band of :func:`wcrnn_dyn.theory.exponent_interval`.
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

    Examples
    --------
    >>> from wcrnn_dyn import plotting
    >>> fig, ax = plotting.plot_lyapunov_spectrum([-0.01, -0.02, -0.05], predicted=[-0.01, -0.01, -0.01])
    >>> len(ax.lines) >= 1
    True
    """
    check_ax(ax)
    if hasattr(result, "exponents"):
        lam = curve(result.exponents, "result.exponents")
        se = np.asarray(result.stderr, dtype=float)
        spread = np.asarray(result.spread, dtype=float)
    else:
        lam = curve(result, "result")
        se = np.full_like(lam, np.nan)
        spread = np.full_like(lam, np.nan)
    if predicted is not None:
        predicted = curve(predicted, "predicted")
    if interval is not None:
        interval = curve(interval, "interval")
        if interval.shape != (2,):
            raise ValueError(f"interval must be a pair (low, high), got shape {interval.shape}")
    fig, ax = new_axes(ax)
    idx = np.arange(1, lam.size + 1)
    data = lam[np.isfinite(lam)]
    if predicted is not None:
        data = np.concatenate([data, predicted[np.isfinite(predicted)]])
    lo, hi = (float(data.min()), float(data.max())) if data.size else (-1.0, 1.0)
    pad = 0.15 * max(hi - lo, 1e-3)
    if interval is not None:
        # the bound is worst case and often far wider than the spectrum: draw its edges only where they fall
        # inside the data's range (a band spanning the axes would flatten the spectrum), else say so
        inside = [y for y in interval if lo - pad <= y <= hi + pad]
        for y in inside:
            ax.axhline(y, color="0.55", ls=":", lw=1)
        ax.plot([], [], color="0.55", ls=":", lw=1,
                label=f"bound [{interval[0]:.3g}, {interval[1]:.3g}]" + ("" if len(inside) == 2 else " (off scale)"))
    if np.any(np.isfinite(spread)):
        ax.fill_between(idx, lam - spread, lam + spread, color="C0", alpha=0.2, lw=0, label="spread over sequences")
    err = np.where(np.isfinite(se), se, 0.0)
    ax.errorbar(idx, lam, yerr=err, fmt="o", ms=3, color="C0", label="measured (QR)")
    if predicted is not None:
        p = np.asarray(predicted, dtype=float)[:lam.size]
        ax.plot(np.arange(1, p.size + 1), p, "k--", lw=1.2, label="theory: log|eig|")
    ax.axhline(0.0, color="0.5", lw=0.6)
    if data.size:
        ax.set_ylim(min(lo - pad, 0.0 if hi + pad > 0 > lo - pad else lo - pad), hi + pad)
    ax.set_xlabel("exponent index $i$")
    ax.set_ylabel(r"$\lambda_i$ (nats / step)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax


def plot_lyapunov_convergence(result, ax=None, indices=None, max_lines=6, title=None):
    """Running estimate of selected exponents against accumulated steps (log x axis).

    The final values are drawn as dotted horizontal lines.

    Parameters
    ----------
    result : LyapunovResult
        With a recorded ``history``.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    indices : sequence of int, optional
        Which exponents (0-based); default up to ``max_lines`` spread over the spectrum, always the first
        and the last.
    max_lines : int, default 6
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
    check_result(result, "result", ("history", "history_steps"), "a LyapunovResult")
    fig, ax = new_axes(ax)
    H = np.asarray(result.history, dtype=float)
    steps = np.asarray(result.history_steps, dtype=float)
    k = H.shape[1]
    if indices is None:
        indices = np.unique(np.round(np.linspace(0, k - 1, min(k, max_lines))).astype(int))
    for j, i in enumerate(indices):
        c = f"C{j % 10}"
        ax.plot(steps, H[:, i], color=c, lw=1.2, label=f"$\\lambda_{{{i + 1}}}$")
        ax.axhline(result.exponents[i], color=c, lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("accumulated steps")
    ax.set_ylabel("running estimate (nats / step)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", ncol=2)
    return fig, ax
