"""Figures for covariant Lyapunov vectors, finite-time exponents and flossing histories."""
from __future__ import annotations

import numpy as np

from ._base import new_axes

__all__ = ["plot_clv_angles", "plot_finite_time_exponents", "plot_exponents_during_training"]


def plot_clv_angles(result, splits=None, ax=None, bins=50, degrees=True, title=None):
    """Histogram (density) of the minimum angle between span(v_1..v_j) and span(v_{j+1}..v_k) over the window.

    Mass near 0 means near-tangencies (weak hyperbolicity).

    Parameters
    ----------
    result : CLVResult or array_like, shape (window, k - 1)
        A :class:`wcrnn_dyn.clv.CLVResult` or angles in radians.
    splits : sequence of int, optional
        Which j (1-based); default j = 1 and the overall minimum over j.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    bins : int, default 50
    degrees : bool, default True
        Angles in degrees on the x axis.
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
    A = np.asarray(result.angles if hasattr(result, "angles") else result, dtype=float)
    if A.ndim != 2 or A.shape[1] == 0:
        raise ValueError("need angles of shape (window, k - 1) with k >= 2")
    fig, ax = new_axes(ax)
    f = np.degrees if degrees else (lambda x: x)
    top = 90.0 if degrees else np.pi / 2
    edges = np.linspace(0.0, top, bins + 1)
    series = {}
    if splits is None:
        series["$j = 1$"] = A[:, 0]
        if A.shape[1] > 1:
            series["min over $j$"] = A.min(axis=1)
    else:
        for j in splits:
            if not 1 <= int(j) <= A.shape[1]:
                raise ValueError(f"splits must lie in 1..{A.shape[1]}, got {j}")
            series[f"$j = {int(j)}$"] = A[:, int(j) - 1]
    for i, (lab, a) in enumerate(series.items()):
        ax.hist(f(a), bins=edges, density=True, histtype="step", lw=1.4, color=f"C{i % 10}", label=lab)
    ax.set_xlabel("minimum angle " + ("(degrees)" if degrees else "(radians)"))
    ax.set_ylabel("density")
    ax.set_xlim(0.0, top)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax


def plot_finite_time_exponents(result, indices=None, ax=None, bins=40, title=None):
    """Histograms of the finite-time exponents of selected indices, with the global values as lines.

    Parameters
    ----------
    result : FiniteTimeResult or array_like
        A :class:`wcrnn_dyn.clv.FiniteTimeResult` or an array (n_windows, k) / (B, n_windows, k).
    indices : sequence of int, optional
        0-based exponent indices (default: up to the first three).
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    bins : int, default 40
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
    E = np.asarray(result.exponents if hasattr(result, "exponents") else result, dtype=float)
    P = E.reshape(-1, E.shape[-1])
    if indices is None:
        indices = range(min(3, P.shape[1]))
    fig, ax = new_axes(ax)
    for n, i in enumerate(indices):
        c = f"C{n % 10}"
        ax.hist(P[:, i], bins=bins, density=True, histtype="stepfilled", alpha=0.35, color=c,
                label=f"$\\lambda_{{{i + 1}}}$")
        ax.axvline(float(np.mean(P[:, i])), color=c, lw=1.0, ls="--")
    ax.axvline(0.0, color="0.5", lw=0.6)
    window = getattr(result, "window", None)
    ax.set_xlabel("finite-time exponent (nats / step)" + (f", window {window}" if window else ""))
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax


def plot_exponents_during_training(history, ax=None, target=None, title=None):
    """Exponents recorded during training or flossing against the step (or epoch).

    Parameters
    ----------
    history : FlossResult, History or dict
        A :class:`wcrnn_dyn.flossing.FlossResult` (keys "step", "exponents") or a training history with
        "floss_epoch" / "floss_exponents" (``flossing_regularizer(...).callback``) or "lyap_epoch" /
        "lyap_exponents" (:func:`wcrnn_dyn.training.lyapunov_callback`).
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    target : float, optional
        A horizontal reference (e.g. the flossing target).
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``history`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    if "exponents" in history:
        x, E, xl = history["step"], history["exponents"], "step"
    elif "floss_exponents" in history:
        x, E, xl = history["floss_epoch"], history["floss_exponents"], "epoch"
    elif "lyap_exponents" in history:
        x, E, xl = history["lyap_epoch"], history["lyap_exponents"], "epoch"
    else:
        raise ValueError("history has no 'exponents' (floss), 'floss_exponents' (flossing_regularizer's "
                         "callback) or 'lyap_exponents' (lyapunov_callback)")
    E = np.asarray(E, dtype=float)
    fig, ax = new_axes(ax)
    if E.size:
        for i in range(E.shape[1]):
            ax.plot(np.asarray(x, dtype=float), E[:, i], lw=1.2, color=f"C{i % 10}", label=f"$\\lambda_{{{i + 1}}}$")
    if target is not None:
        ax.axhline(float(target), color="k", lw=0.8, ls="--", label="target")
    ax.set_xlabel(xl)
    ax.set_ylabel("exponent (nats / step)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", ncol=2)
    return fig, ax
