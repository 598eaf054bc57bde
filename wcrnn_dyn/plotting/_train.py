"""Learning curves of training runs (history from :func:`wcrnn_dyn.train`)."""
from __future__ import annotations

import numpy as np

from ._base import check_ax, new_axes

__all__ = ["plot_learning_curve"]


def _as_lists(history):
    if hasattr(history, "to_dict") and callable(history.to_dict):
        d = history.to_dict()
        return d["history"], d["meta"]
    if isinstance(history, dict) and "history" in history and isinstance(history["history"], dict):
        return history["history"], history.get("meta", {})
    return history, getattr(history, "meta", {})


def _floats(xs):
    out = []
    for x in xs:
        try:
            out.append(float(x))
        except (TypeError, ValueError):
            out.append(np.nan)
    return np.asarray(out, dtype=float)


def plot_learning_curve(history, ax=None, x="epoch", metric=True, baseline=None, title=None):
    """Training and validation loss against ``x``; log scale when they span more than a decade.

    NaN entries are not drawn.

    Parameters
    ----------
    history : History or dict
        A :class:`wcrnn_dyn.training.History`, its ``to_dict()`` or a plain dict of lists (as stored in
        ``results.json``).
    ax : matplotlib Axes, optional
        Drawn into; a new figure when None.
    x : {"epoch", "step", "time"}, default "epoch"
    metric : bool, default True
        Also draw the validation metric on a twin axis when it is accuracy (for MSE the validation loss
        already is the metric).
    baseline : float, optional
        A horizontal reference line for the loss (e.g. 1/6 for the adding problem).
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
    check_ax(ax)
    h, meta = _as_lists(history)
    if not isinstance(h, dict) or not isinstance(meta, dict):
        raise TypeError(f"history must be a History, its to_dict() or a dict of lists, got {type(history).__name__}")
    if not isinstance(x, str) or x not in ("epoch", "step", "time"):
        raise ValueError(f"x must be 'epoch', 'step' or 'time', got {x!r}")
    if baseline is not None:
        from .._validate import check_float
        baseline = check_float(baseline, "baseline")
    fig, ax = new_axes(ax)
    xs = _floats(h.get(x, []))
    tl = _floats(h.get("train_loss", []))
    vl = _floats(h.get("val_loss", []))
    if xs.size:
        ax.plot(xs, tl, "o-", ms=3, label="train loss")
        if np.any(np.isfinite(vl)):
            ax.plot(xs, vl, "s-", ms=3, label="val loss")
    if baseline is not None:
        ax.axhline(float(baseline), color="gray", ls="--", lw=1, label=f"baseline {float(baseline):.3g}")
    pos = np.concatenate([tl[np.isfinite(tl) & (tl > 0)], vl[np.isfinite(vl) & (vl > 0)]])
    if pos.size and pos.max() > 10 * pos.min():  # log scale only when the losses span a decade
        ax.set_yscale("log")
    if x != "time":
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel({"epoch": "epoch", "step": "optimizer step", "time": "training time (s)"}[x])
    ax.set_ylabel(f"loss ({meta.get('loss', 'loss')})")
    lines, labels = ax.get_legend_handles_labels()
    vm = _floats(h.get("val_metric", []))
    if metric and meta.get("metric") == "accuracy" and xs.size and np.any(np.isfinite(vm)):
        ax2 = ax.twinx()
        ln = ax2.plot(xs, 100 * vm, "^-", color="C2", ms=3, label="val accuracy (%)")
        ax2.set_ylabel("validation accuracy (%)")
        lines += ln
        labels += [ln[0].get_label()]
    if lines:
        ax.legend(lines, labels, fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    return fig, ax
