"""Lazy matplotlib access shared by the plotting submodules."""


def plt():
    """Import pyplot lazily, choosing the Agg backend when no display is available."""
    import os

    import matplotlib
    if not os.environ.get("DISPLAY") and "ipykernel" not in __import__("sys").modules:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as _plt
    return _plt


def new_axes(ax=None, figsize=(5.0, 3.5)):
    """Return (fig, ax): the given axes' figure, or a new figure."""
    check_ax(ax)
    p = plt()
    if ax is None:
        fig, ax = p.subplots(figsize=figsize, constrained_layout=True)
    else:
        fig = ax.figure
    return fig, ax


def savefig(fig, path, dpi=120):
    """Save a figure atomically as PNG and close it."""
    import io as _io

    from ..store import atomic_write_bytes
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def compact_repr(name, **fields):
    """``Name(a=..., b=...)`` for result objects: floats to 4 significant digits, arrays as their shape and
    (for short 1-d arrays) their first values; never a whole array."""
    import numpy as np

    def short(v):
        if isinstance(v, np.ndarray):
            if v.ndim == 1 and v.size <= 4 and v.dtype.kind in "fiu":
                return np.array2string(v, precision=4, separator=", ")
            if v.ndim == 1 and v.dtype.kind in "fiu":
                return np.array2string(v[:3], precision=4, separator=", ")[:-1] + f", ...] ({v.size} values)"
            return f"<array {v.shape} {v.dtype}>"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.4g}"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {short(x)}" for k, x in list(v.items())[:6]) + (", ..." if len(v) > 6 else "") + "}"
        return repr(v)

    return f"{name}(" + ", ".join(f"{k}={short(v)}" for k, v in fields.items()) + ")"


def plot_method(fn, *args, ax=None, **kw):
    """Call a figure function ``fn(*args, ax=ax, **kw)`` (which returns (fig, ax)) and return the Axes only:
    the ``.plot()`` methods of result objects use this."""
    return fn(*args, ax=ax, **kw)[1]


# ---------------------------------------------------------------------------------------------- argument checks
def check_ax(ax):
    """None or a matplotlib Axes (anything with ``plot`` and ``figure``); TypeError naming ``ax`` otherwise."""
    if ax is not None and not (hasattr(ax, "plot") and hasattr(ax, "figure")):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def check_result(obj, name, attrs, what):
    """``obj`` must have every attribute in ``attrs`` (a result object of the package); TypeError naming
    ``name`` and saying what is expected otherwise."""
    missing = [a for a in attrs if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"{name} must be {what}, got {type(obj).__name__} (no {', '.join(missing)})")
    return obj


def curve(values, name):
    """A 1-d float array to draw (NaN / inf allowed: they are not drawn); ValueError / TypeError naming ``name``."""
    from .._validate import as_array
    return as_array(values, name, ndim=1, finite=False)
