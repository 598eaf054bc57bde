"""Losses of the readout z = V h_T + c: validation of targets, loss values and their gradients dLoss/dz.

``"mse"``
    mean over the batch and the outputs of (z - y)^2; targets y (B, n_out) (or (B,) when n_out = 1).
``"cross_entropy"``
    mean over the batch of -log softmax(z)[y]; integer labels y (B,) in 0..n_out-1.

Both are computed in float64 whatever the model dtype; the gradient has the dtype of z.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_array, to_numpy

__all__ = ["LOSSES", "check_loss", "check_targets", "loss_from_logits"]

LOSSES = ("mse", "cross_entropy")


def check_loss(loss):
    """Check a loss name.

    Parameters
    ----------
    loss : str
        "mse" or "cross_entropy".

    Returns
    -------
    str
        ``loss`` unchanged.

    Raises
    ------
    ValueError
        If ``loss`` is not one of :data:`LOSSES` (the message names ``loss``).
    """
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return loss


def check_targets(y, B, loss, n_out, dtype=np.float64):
    """Validate targets for ``B`` sequences and ``n_out`` outputs.

    Parameters
    ----------
    y : array_like
        "mse": (B, n_out) floats, or (B,) when n_out = 1; "cross_entropy": (B,) integer labels in
        0..n_out-1 (whole-valued floats are accepted).
    B : int
        Number of sequences.
    loss : str
        "mse" or "cross_entropy".
    n_out : int
        Number of outputs (classes for cross-entropy).
    dtype : numpy dtype, default float64
        dtype of MSE targets (the model dtype).

    Returns
    -------
    ndarray
        (B, n_out) in ``dtype`` for "mse"; (B,) int64 labels for "cross_entropy".

    Raises
    ------
    TypeError
        For None or non-integer labels.
    ValueError
        For a wrong shape, an out-of-range label, a non-finite target or an unknown ``loss``.

    Notes
    -----
    Cost O(y.size).

    Examples
    --------
    >>> from wcrnn_dyn import losses
    >>> losses.check_targets([0.0, 2.0], 2, "cross_entropy", n_out=3)
    array([0, 2])
    """
    check_loss(loss)
    if y is None:
        raise TypeError("y must be an array of targets, got None")
    y = np.asarray(to_numpy(y))
    if loss == "mse":
        if y.ndim == 1 and n_out == 1:
            y = y[:, None]
        return as_array(y, "y", shape=(B, n_out), dtype=dtype)
    if y.ndim != 1 or y.shape[0] != B:
        raise ValueError(f"y must be integer labels of shape ({B},) for cross_entropy, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer class labels for cross_entropy, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(f"y labels must lie in 0..{n_out - 1} (n_out = {n_out}), "
                         f"got range {y.min()}..{y.max()}")
    return y.astype(np.int64)


def loss_from_logits(z, y, loss):
    """Value and gradient of the mean loss for readouts ``z``.

    Parameters
    ----------
    z : ndarray, shape (B, n_out)
        Readouts V h_T + c.
    y : ndarray
        Targets as :func:`check_targets` returns them.
    loss : str
        "mse" or "cross_entropy".

    Returns
    -------
    value : float
        The mean loss, computed in float64 (cross-entropy: a log-sum-exp shifted by the row maximum, so
        large logits do not overflow).  NaN or inf in ``z`` give a non-finite value (the callers raise).
    dz : ndarray, shape (B, n_out)
        dLoss/dz, in z's dtype.

    Notes
    -----
    Cost O(B n_out).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import losses
    >>> val, dz = losses.loss_from_logits(np.array([[1.0, 3.0]]), np.array([[0.0, 1.0]]), "mse")
    >>> val, dz.tolist()
    (2.5, [[1.0, 2.0]])
    """
    B = z.shape[0]
    if loss == "mse":
        diff = z - y
        val = float(np.mean(diff.astype(np.float64) ** 2))
        dz = (2.0 / diff.size) * diff
        return val, dz
    zz = z.astype(np.float64)
    zz = zz - zz.max(axis=1, keepdims=True)
    logp = zz - np.log(np.exp(zz).sum(axis=1, keepdims=True))
    val = float(-np.mean(logp[np.arange(B), y]))
    p = np.exp(logp)
    p[np.arange(B), y] -= 1.0
    return val, (p / B).astype(z.dtype)
