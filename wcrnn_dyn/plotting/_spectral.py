"""Figures for spectra: eigenvalues in the complex plane, data power spectra with residual frequencies,
frequency responses."""
from __future__ import annotations

import numpy as np

from ._base import check_ax, check_result, curve, new_axes

__all__ = ["plot_eigenvalues", "plot_data_spectrum", "plot_frequency_response"]


def plot_eigenvalues(values, ax=None, unit_circle=True, title=None, markersize=12):
    """Eigenvalues in the complex plane with the unit circle (equal aspect ratio).

    Parameters
    ----------
    values : array_like of complex, Residual, or dict
        Eigenvalues, a residual (its eigenvalues), or label -> either.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    unit_circle : bool, default True
    title : str, optional
        Axes title.
    markersize : float, default 12

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``values`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).

    Examples
    --------
    >>> from wcrnn_dyn import plotting, residuals
    >>> fig, ax = plotting.plot_eigenvalues(residuals.rotational(4, 0.9))
    >>> ax.get_aspect()
    1.0
    """
    check_ax(ax)
    items = values.items() if isinstance(values, dict) else [(None, values)]
    evs = []
    for label, v in items:
        v = v.eigenvalues() if callable(getattr(v, "eigenvalues", None)) else v
        nm = "values" if label is None else f"values[{label!r}]"
        if v is None or isinstance(v, (str, bytes, dict)):
            raise TypeError(f"{nm} must be an array of eigenvalues or a residual, got {type(v).__name__}")
        try:
            ev = np.asarray(v).astype(complex).ravel()
        except (TypeError, ValueError) as e:
            raise TypeError(f"{nm} must be an array of eigenvalues or a residual ({e})") from e
        if not np.all(np.isfinite(ev)):
            raise ValueError(f"{nm} contains NaN or inf")
        evs.append((label, ev))
    labelled = any(label for label, _ in items)
    fig, ax = new_axes(ax, figsize=(5.8, 4.0) if labelled else (4.2, 4.0))
    rmax = 1.0
    for label, ev in evs:
        ax.scatter(ev.real, ev.imag, s=markersize, alpha=0.75, label=label)
        if ev.size:
            rmax = max(rmax, float(np.max(np.abs(ev))))
    if unit_circle:
        t = np.linspace(0, 2 * np.pi, 400)
        ax.plot(np.cos(t), np.sin(t), "k-", lw=0.8)
    lim = 1.08 * rmax
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    if title:
        ax.set_title(title)
    if labelled:  # beside the disc: eigenvalues fill it up to the unit circle, a legend inside would cover them
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig, ax


def plot_data_spectrum(freqs, power, residual=None, thetas=None, peaks=None, ax=None, log=True, title=None):
    """Power spectrum P(f) (f in cycles per step) with a residual's frequencies theta_k / 2 pi overlaid.

    Parameters
    ----------
    freqs, power : array_like, shape (F,)
        From :func:`wcrnn_dyn.spectral.data_spectrum`.
    residual : Residual, optional
        Its ``meta["thetas"]`` (rotational families) or eigenvalue angles give the frequencies.
    thetas : array_like, optional
        Angles in radians, instead of ``residual``.
    peaks : array_like, optional
        Frequencies to mark.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    log : bool, default True
        Log y axis.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``residual`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_ax(ax)
    f = curve(freqs, "freqs")
    p = curve(power, "power")
    if f.shape != p.shape:
        raise ValueError(f"freqs and power must have the same shape, got {f.shape} and {p.shape}")
    if thetas is not None:
        thetas = curve(thetas, "thetas")
    if peaks is not None:
        peaks = curve(peaks, "peaks")
    fig, ax = new_axes(ax, figsize=(6.0, 3.5))
    ax.plot(f, p, lw=1.2, label="data $P(f)$")
    if residual is not None and thetas is None:
        meta = getattr(residual, "meta", {}) or {}
        if "thetas" in meta:
            thetas = np.asarray(meta["thetas"], dtype=float)
        else:
            ev = np.asarray(residual.eigenvalues())
            thetas = np.abs(np.angle(ev[ev.imag >= 0]))
    if thetas is not None:
        fr = np.unique(np.round(np.asarray(thetas, dtype=float) / (2 * np.pi), 12))
        for j, x in enumerate(fr):
            ax.axvline(x, color="C3", lw=0.8, alpha=0.6, label=r"residual $\theta_k/2\pi$" if j == 0 else None)
    if peaks is not None:
        pk = np.asarray(peaks, dtype=float)
        ax.plot(pk, np.interp(pk, f, p), "kv", ms=4, label="peaks")
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0, max(0.5, float(f.max()) if f.size else 0.5))
    ax.set_xlabel("frequency $f$ (cycles per step)")
    ax.set_ylabel("power spectral density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax


def plot_frequency_response(response, ax=None, blocks=True, log=True, title=None):
    """Gain vs frequency of a residual: each block (thin) and the RMS total (thick).

    Parameters
    ----------
    response : FrequencyResponse
        From :func:`wcrnn_dyn.spectral.frequency_response`.
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    blocks : bool, default True
        Draw each block's gain.
    log : bool, default True
        Log y axis.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Raises
    ------
    TypeError
        If ``ax`` is not a matplotlib Axes (or ``response`` is of a wrong type).
    ValueError
        For malformed data (wrong shapes, NaN or inf, an empty selection or a bad option value).
    """
    check_result(response, "response", ("freqs", "total", "block_gain"), "a FrequencyResponse")
    fig, ax = new_axes(ax, figsize=(6.0, 3.5))
    f = response.freqs
    if blocks and response.block_gain is not None:
        for g in response.block_gain:
            ax.plot(f, g, color="0.6", lw=0.6)
    ax.plot(f, response.total, "C0", lw=2, label="RMS gain per unit")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("frequency $f$ (cycles per step)")
    ax.set_ylabel("gain")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax
