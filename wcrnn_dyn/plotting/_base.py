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
    p = plt()
    if ax is None:
        fig, ax = p.subplots(figsize=figsize, constrained_layout=True)
    else:
        fig = ax.figure
    return fig, ax


def savefig(fig, path, dpi=120):
    """Save a figure atomically as PNG and close it."""
    import io as _io

    from ..io import atomic_write_bytes
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt().close(fig)
    return atomic_write_bytes(path, buf.getvalue())
