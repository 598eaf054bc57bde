"""Compatibility shim: thread control moved to :mod:`wcrnn_dyn.threads` (threadpoolctl based).

Kept so that older imports (``from wcrnn_dyn._blas import blas_threads`` ...) keep working.
"""
from .threads import (blas_threads, default_threads as _default_threads, run_parallel,  # noqa: F401
                      set_blas_threads, single_threaded_blas, split)


def default_threads(n_items, min_chunk=16):
    """Worker threads for ``n_items`` independent sequences (see :func:`wcrnn_dyn.threads.default_threads`):
    at most one per ``min_chunk`` items, at least 1."""
    return _default_threads(n_items, min_chunk)
