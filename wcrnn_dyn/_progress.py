"""One progress-bar helper for the whole package (private).

``progress=None`` everywhere means: show a bar when stderr is a terminal OR when running inside a Jupyter
(IPython) kernel; True / False force it on / off.  Bars come from ``tqdm.auto`` -- a widget in a notebook
when ``ipywidgets`` is installed (the ``notebook`` extra), else tqdm's plain text bar (never the
"IProgress not found" warning) -- and are closed by the caller.
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np

__all__ = ["in_jupyter_kernel", "progress_enabled", "progress_bar"]


def in_jupyter_kernel():
    """True when this process is an IPython/Jupyter kernel (ZMQ shell), False in a terminal IPython or plain
    Python.  Never imports IPython itself."""
    ipy = sys.modules.get("IPython")
    if ipy is None:
        return False
    try:
        shell = ipy.get_ipython()
    except Exception:  # pragma: no cover - broken IPython installs
        return False
    if shell is None:
        return False
    return type(shell).__name__ == "ZMQInteractiveShell" or hasattr(shell, "kernel")


def _stderr_is_terminal():
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def progress_enabled(progress, name="progress"):
    """Resolve a ``progress`` argument: None -> terminal or Jupyter kernel; True/False as given.

    Raises TypeError (naming ``name``) for anything else.
    """
    if progress is None:
        return _stderr_is_terminal() or in_jupyter_kernel()
    if isinstance(progress, (bool, np.bool_)):
        return bool(progress)
    raise TypeError(f"{name} must be None, True or False, got {type(progress).__name__} ({progress!r})")


def progress_bar(progress, total, desc, unit="step", initial=0):
    """A tqdm bar of ``total`` units, or None when ``progress`` resolves to off (or tqdm is missing).

    In a kernel without ipywidgets the plain text bar is used, so no "IProgress not found" warning appears.
    """
    if not progress_enabled(progress):
        return None
    try:
        if in_jupyter_kernel() and importlib.util.find_spec("ipywidgets") is not None:
            from tqdm.auto import tqdm
        else:
            from tqdm.std import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False)
