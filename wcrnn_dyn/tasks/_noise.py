"""Lazy noise-padded sequences for the noise-padded sCIFAR10 task (private module, public class)."""
from __future__ import annotations

import numbers

import numpy as np


class NoisePaddedSequences:
    """Read-only array-like of shape ``(n, n_rows + noise_steps, d)``: the image rows, then Gaussian noise.

    Sample ``i`` is ``concatenate([rows[i], noise(i)])`` where ``noise(i)`` is a ``(noise_steps, d)``
    array of i.i.d. standard normal values drawn in float64 from
    ``numpy.random.default_rng([noise_seed, stream, ids[i]])`` and cast to ``dtype``: the noise of a
    sample is a fixed function of the seed and of the sample's identity (``stream`` 0 = CIFAR training
    part, 1 = test part; ``ids`` = index within that part), so ``train``, ``val`` and ``train_full`` agree
    on shared samples and every access returns the same values.  Use another ``noise_seed`` to draw new
    noise (the coRNN reference code draws fresh noise for every batch).

    Nothing of size ``n * T * d`` is stored: the full training set would take 19.2 GB in float32.
    Indexing the first axis (int, slice, integer or boolean array, optionally followed by indices of the
    other axes) materialises only the selected samples (about 0.1 s per 100 samples).
    ``numpy.asarray(X)`` materialises everything; avoid it on the full data.

    Parameters
    ----------
    rows : array_like, shape (n, n_rows, d)
        The image rows (kept, not copied).
    noise_steps : int
        Noise steps appended to every sample.
    noise_seed : int
        Seed of the noise.
    stream : int
        0 for the CIFAR training part, 1 for the test part.
    ids : array_like of int, shape (n,)
        Identity of each sample within its part.

    Raises
    ------
    ValueError
        If ``rows`` is not 3-d or ``ids`` does not give one id per sample.
    """

    def __init__(self, rows, noise_steps, noise_seed, stream, ids):
        rows = np.asarray(rows)
        if rows.ndim != 3:
            raise ValueError(f"rows must be (n, steps, d), got {rows.shape}")
        self.rows = rows
        self.noise_steps = int(noise_steps)
        self.noise_seed = int(noise_seed)
        self.stream = int(stream)
        self.ids = np.asarray(ids, dtype=np.int64)
        if self.ids.shape != (rows.shape[0],):
            raise ValueError("ids must give one id per sample")
        self.dtype = rows.dtype
        self.shape = (rows.shape[0], rows.shape[1] + self.noise_steps, rows.shape[2])
        self.ndim = 3

    def __len__(self):
        return self.shape[0]

    @property
    def size(self):
        """Number of elements n * T * d."""
        return int(np.prod(self.shape))

    @property
    def nbytes(self):
        """Bytes that ``numpy.asarray(self)`` would take."""
        return self.size * self.dtype.itemsize

    def noise(self, i):
        """The noise of sample ``i``.

        Parameters
        ----------
        i : int
            Sample index (0..n-1).

        Returns
        -------
        ndarray, shape (noise_steps, d), of ``dtype``
            The same values at every call.
        """
        rng = np.random.default_rng([self.noise_seed, self.stream, int(self.ids[i])])
        return rng.standard_normal((self.noise_steps, self.shape[2])).astype(self.dtype, copy=False)

    def take(self, indices):
        """Materialise some samples.

        Parameters
        ----------
        indices : array_like of int
            Sample indices (flattened).

        Returns
        -------
        ndarray, shape (k, T, d), of ``dtype``

        Notes
        -----
        About 0.1 s per 100 samples (the noise is drawn afresh from its seed).
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((indices.size,) + self.shape[1:], dtype=self.dtype)
        steps = self.rows.shape[1]
        for k, i in enumerate(indices):
            out[k, :steps] = self.rows[i]
            out[k, steps:] = self.noise(i)
        return out

    def _first_axis(self, key):
        n = self.shape[0]
        if isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size {n}")
            return np.array([i % n]), True
        if isinstance(key, slice):
            return np.arange(n)[key], False
        arr = np.asarray(key)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise IndexError(f"boolean index of shape {arr.shape} does not match axis 0 of size {n}")
            return np.flatnonzero(arr), False
        if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
            raise IndexError("index the first axis with an int, a slice, or a 1-D integer or boolean array")
        if arr.size and (arr.max() >= n or arr.min() < -n):
            raise IndexError(f"index out of bounds for axis 0 with size {n}")
        return arr % n if arr.size else arr.astype(np.int64), False

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            key, rest = key[0], key[1:]
        if key is Ellipsis:
            out = self.take(np.arange(self.shape[0]))
            return out[(Ellipsis,) + rest] if rest else out
        idx, scalar = self._first_axis(key)
        out = self.take(idx)
        if scalar:
            out = out[0]
            return out[rest] if rest else out
        return out[(slice(None),) + rest] if rest else out

    def __iter__(self):
        for i in range(self.shape[0]):
            yield self.take([i])[0]

    def __array__(self, dtype=None, copy=None):
        out = self.take(np.arange(self.shape[0]))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self):
        return (f"NoisePaddedSequences(shape={self.shape}, dtype={self.dtype}, noise_steps="
                f"{self.noise_steps}, noise_seed={self.noise_seed})")
