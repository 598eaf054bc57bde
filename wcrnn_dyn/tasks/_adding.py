"""The adding problem (Hochreiter & Schmidhuber 1997; the variant used by IndRNN, coRNN, LEM)."""
from __future__ import annotations

import numpy as np

from .._validate import as_dtype, check_int, check_memory, rng_from

_CHUNK_ELEMS = 1 << 22  # rows are generated in chunks of about this many values


def adding(n_samples, T, seed=0, dtype=np.float64):
    """Generate ``n_samples`` sequences of the adding problem of length ``T``.

    Channel 0 holds values drawn i.i.d. from U(0, 1).  Channel 1 is zero except for exactly two
    markers equal to 1.0: one at a position uniform over the first half ``[0, T // 2)`` and one at a
    position uniform over the second half ``[T // 2, T)``.  The target is the sum of the two marked
    channel-0 values.  The constant prediction 1 has expected MSE Var(u1 + u2) = 1/6.

    Parameters
    ----------
    n_samples : int >= 1
    T : int >= 2
        Sequence length (for odd ``T`` the second half is one step longer).
    seed : None, int or numpy Generator
        Same seed -> same data (also across ``dtype``: values are drawn in float64 and then cast).
    dtype : float32 or float64 (default float64)

    Returns
    -------
    X : ndarray (n_samples, T, 2) of ``dtype``
    y : ndarray (n_samples, 1) of ``dtype``; ``y[i, 0] == X[i, p1, 0] + X[i, p2, 0]`` (summed in float64
        from the values stored in ``X``, then cast).

    Cost: O(n_samples * T) time; memory ``2 * n_samples * T`` values of ``dtype`` (plus a float64 chunk
    of at most ~4M values); sizes needing more memory than the machine has are refused up front
    (ValueError with the figure).

    Examples
    --------
    >>> from wcrnn_dyn import tasks
    >>> X, y = tasks.adding(4, 10, seed=0)
    >>> X.shape, y.shape
    ((4, 10, 2), (4, 1))
    >>> bool((X[:, :, 1].sum(axis=1) == 2).all())
    True
    """
    n = check_int(n_samples, "n_samples", minimum=1)
    T = check_int(T, "T", minimum=2)
    dtype = as_dtype(dtype)
    check_memory(2 * n * T, f"n_samples x T ({n} x {T})", itemsize=np.dtype(dtype).itemsize)
    rng = rng_from(seed)
    X = np.zeros((n, T, 2), dtype=dtype)
    rows = max(1, _CHUNK_ELEMS // T)
    for start in range(0, n, rows):  # sequential chunks draw the same stream as one big draw
        stop = min(n, start + rows)
        X[start:stop, :, 0] = rng.random((stop - start, T))
    half = T // 2
    p1 = rng.integers(0, half, size=n)
    p2 = rng.integers(half, T, size=n)
    i = np.arange(n)
    X[i, p1, 1] = 1.0
    X[i, p2, 1] = 1.0
    y = (X[i, p1, 0].astype(np.float64) + X[i, p2, 0].astype(np.float64)).astype(dtype)
    return X, y.reshape(n, 1)
