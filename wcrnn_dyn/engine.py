"""The engine interface of the models: running a network's Numba kernels.

Analyses (:mod:`wcrnn_dyn.lyapunov`, :mod:`wcrnn_dyn.memory`, :mod:`wcrnn_dyn.spectral`,
:mod:`wcrnn_dyn.clv`, :mod:`wcrnn_dyn.flossing`) and training reach the kernels only through this interface,
exposed as methods of every model (:class:`wcrnn_dyn.WCRNN`, :class:`wcrnn_dyn.Elman`):

``net.coupling``
    the coupling constant the kernels use in h_t = R(h_{t-1}) + coupling * phi(a_t): ``eps`` for a WCRNN,
    1.0 for an Elman network (whose ``eps`` is the coupling of its WCRI initialisation).
``net.check_inputs(X, name="X")``
    validates an input (T, d) or (B, T, d); returns ``(X3, single)``: X3 (B, T, d) C-contiguous in the
    model dtype and whether a single sequence was given.
``net.check_h0(h0, B)``
    validates an initial state (None, (N,) or (B, N)); returns (B, N) in the model dtype (zeros for None).
``net.kernel_args(dtype=None)``
    a :class:`KernelArgs` tuple: the parameters and the residual's encoding in the argument order of the
    kernels, in ``dtype`` (default the model dtype).  This is the one place where kernel arguments are
    packed (the forward pass, BPTT, the Lyapunov and memory kernels all start from it).
``net.trajectory(X, h0, store=True, n_threads=None)``
    one forward pass over validated inputs: ``(H, DP, GP)`` time-major (see :func:`trajectory`).
``net.check_finite_state(H)``
    raises :class:`DivergenceError` (naming the first bad step) if a state is not finite.
``net.workspace(key, make)`` / ``net.release_workspace()``
    buffers cached on the model between calls with the same ``key``.

Model (docs/THEORY.md section 1)::

    a_t = W h_{t-1} + U x_t + b
    h_t = R(h_{t-1}) + coupling * phi(a_t)

The BPTT engine (:func:`loss_and_grad`) keeps one time-major augmented trajectory HA (T + 1, B, N + d + 1)
= [h_t, x_{t+1}, 1] for the whole batch, phi'(a_t) in DP (T, B, N), g'(z_t) in GP for a non-linear residual,
dLoss/da_t in DA (T, B, N) and dLoss/dz_t in S (trainable residual only), cached with ``net.workspace``
between calls of the same shape (writing fresh memory each call costs as much as the arithmetic at sMNIST
sizes).  Per step: ONE GEMM (with the input projection and bias folded in) and one fused pass over the
rows, forward and backward.  After the sweep ONE GEMM  DA^T [H | X | 1]  over all T * B rows gives dW, dU
and db.

Threads: the batch is split into row ranges run by worker threads (the kernels release the GIL) with
single-threaded BLAS; every row is computed on its own and the weight-gradient GEMM sums over the same
rows in the same order whatever the split, so the numbers do not depend on the thread count (bit for bit
with OpenBLAS, whose GEMM neither splits nor reorders the inner dimension; tested).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels as K
from . import losses as _losses
from . import threads as _threads

__all__ = ["DivergenceError", "KernelArgs", "kernel_args", "trajectory", "check_finite_state", "loss_and_grad"]


class DivergenceError(FloatingPointError):
    """The state of a network overflowed or became NaN (e.g. a supercritical linear residual)."""


class KernelArgs(NamedTuple):
    """A network's arguments for the Numba kernels, in their order (see :mod:`wcrnn_dyn._kernels`).

    ``W`` (N, N), ``U`` (N, d), ``b`` (N,): C-contiguous in the requested dtype; ``coupling``: float (eps for
    a WCRNN, 1 for Elman); ``act``: the activation code; ``rk``, ``rdiag``, ``rblk``, ``rdense``, ``gcode``,
    ``gscale``: the residual's encoding (:meth:`wcrnn_dyn.residuals.Residual.kernel_args`).
    ``residual()`` gives the last six as a tuple.
    """
    W: np.ndarray
    U: np.ndarray
    b: np.ndarray
    coupling: float
    act: int
    rk: int
    rdiag: np.ndarray
    rblk: np.ndarray
    rdense: np.ndarray
    gcode: int
    gscale: float

    def residual(self):
        """The residual's encoding.

        Returns
        -------
        tuple
            (rk, rdiag, rblk, rdense, gcode, gscale), the last six fields.
        """
        return self.rk, self.rdiag, self.rblk, self.rdense, self.gcode, self.gscale


def kernel_args(net, dtype=None):
    """Pack a network's parameters for the kernels.

    Parameters
    ----------
    net : WCRNN or Elman
    dtype : numpy dtype, optional
        Default: the model dtype.

    Returns
    -------
    KernelArgs
        W, U, b C-contiguous in ``dtype`` (no copy when they already are), the coupling, the activation code
        and the residual's encoding.

    Notes
    -----
    Cost O(N^2) at most (a dtype conversion), O(1) otherwise.

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> ka = wd.WCRNN(1, 3, 1, eps=0.1).kernel_args()
    >>> ka.W.shape, ka.coupling
    ((3, 3), 0.1)
    """
    dt = np.dtype(net.dtype if dtype is None else dtype)
    c = lambda a: np.ascontiguousarray(a, dtype=dt)  # noqa: E731
    rk, rdiag, rblk, rdense, gcode, gscale = net.residual.kernel_args(dt)
    return KernelArgs(c(net.W), c(net.U), c(net.b), float(net.coupling), int(K.ACTIVATIONS[net.activation]),
                      int(rk), rdiag, rblk, rdense, int(gcode), float(gscale))


def check_finite_state(net, H):
    """Raise DivergenceError if a state is not finite.

    Parameters
    ----------
    net : WCRNN or Elman
        The network (its residual's spectral radius goes into the message).
    H : ndarray
        States: a (T, B, N) trajectory or (B, N).

    Raises
    ------
    DivergenceError
        If any value of ``H`` is NaN or infinite; the message names the first such time step of a trajectory.

    Notes
    -----
    Cost O(H.size).
    """
    bad = ~np.isfinite(H)
    if not bad.any():
        return
    where = ""
    if H.ndim == 3 and H.shape[0] > 1:
        t = int(np.argmax(bad.reshape(H.shape[0], -1).any(axis=1)))
        where = f" at time step {t + 1} of {H.shape[0]}"
    try:
        rho = f"{net.residual.spectral_radius():.4g}"
    except Exception:  # pragma: no cover - a residual without a cheap radius
        rho = "?"
    raise DivergenceError(
        f"the network state overflowed or became NaN during the forward pass{where}; the residual is "
        f"probably supercritical (spectral radius {rho} > 1 for a linear residual) or the weights or "
        "inputs are too large")


def trajectory(net, X, h0, store=True, n_threads=None):
    """One forward pass of a network over validated inputs.

    Parameters
    ----------
    net : WCRNN or Elman
    X : ndarray, shape (B, T, d)
        Inputs in the model dtype, as ``net.check_inputs`` returns them.
    h0 : ndarray, shape (B, N)
        Initial states in the model dtype, as ``net.check_h0`` returns them.
    store : bool, default True
        Keep the whole trajectory (else only h_T).
    n_threads : int, optional
        Number of contiguous row blocks run in parallel threads (default
        :func:`wcrnn_dyn.threads.batch_plan`'s); the numbers do not depend on it.

    Returns
    -------
    H : ndarray
        With ``store``: (T, B, N), h_1..h_T time-major; without: (1, B, N) holding h_T.
    DP : ndarray
        With ``store``: (T, B, N), phi'(a_t); without: empty.
    GP : ndarray
        With ``store`` and a non-linear residual: (T, B, N), g'(z_t); otherwise shape (0, B, N).

    Raises
    ------
    DivergenceError
        If a stored state (or h_T) is not finite.

    Notes
    -----
    Cost O(B T N^2).
    """
    ka = kernel_args(net)
    B = X.shape[0]
    chunks, workers = _threads.batch_plan(B, n_threads)

    def one(i):
        b0, b1 = chunks[i]
        return K.forward(X[b0:b1], h0[b0:b1], ka.W, ka.U, ka.b, ka.coupling, ka.act, *ka.residual(), store)

    parts = _threads.run_parallel(one, len(chunks), workers)
    if len(parts) == 1:
        H, DP, GP = parts[0]
    else:
        H, DP, GP = (np.concatenate([p[j] for p in parts], axis=1) for j in range(3))
    check_finite_state(net, H)  # the whole trajectory when it is stored, else the last state
    return H, DP, GP


def _buffers(net, B, T, d, gcode, want_s):
    N = net.n_hidden
    dt = net.dtype
    key = ("engine2", B, T, N, d, np.dtype(dt).str, gcode, bool(want_s))

    def make():
        HA = np.empty((T + 1, B, N + d + 1), dt)
        HA[T, :, N:] = 0
        return (HA, np.empty((T, B, N), dt), np.empty((T if gcode != K.G_LINEAR else 0, B, N), dt),
                np.empty((T, B, N), dt), np.empty((T if want_s else 0, B, N), dt))

    return net.workspace(key, make)


def loss_and_grad(net, X, y, loss, h0, n_threads, workers=None):
    """Loss and exact BPTT gradients of a network on validated inputs (the engine of ``net.loss_and_grad``).

    Parameters
    ----------
    net : WCRNN or Elman
    X : ndarray, shape (B, T, d)
        Inputs in the model dtype (``net.check_inputs``).
    y : ndarray
        Targets (:func:`wcrnn_dyn.losses.check_targets`).
    loss : str
        "mse" or "cross_entropy".
    h0 : ndarray, shape (B, N)
        Initial states (``net.check_h0``).
    n_threads : int or None
        Number of row blocks (None: the plan's).
    workers : int, optional
        Number of worker threads sharing the blocks (for tests; default: the plan's).

    Returns
    -------
    loss : float
    grads : dict
        "W", "U", "b", "V", "c" (and "R" for a trainable residual), each of its parameter's shape and dtype.

    Raises
    ------
    DivergenceError
        When a state of the trajectory is not finite.

    Notes
    -----
    Cost about 3x a forward pass.  The batch is cut into row blocks by :func:`wcrnn_dyn.threads.batch_plan` (``n_threads`` blocks when
    given, else one per Numba thread, at most one per 16 sequences: never load-dependent), and the blocks
    are shared among the worker threads in contiguous groups (``workers`` overrides the plan's count, for
    tests).  Every block issues the same BLAS calls whichever thread runs it, so the numbers depend on the
    blocks only, never on the load."""
    B, T, d = X.shape
    N = net.n_hidden
    dt = net.dtype
    Kd = N + d + 1
    ka = kernel_args(net)
    rk, rdiag, rblk, rdense, gcode, gscale = ka.residual()
    want_s = bool(net.residual.trainable)
    HA, DP, GP, DA, S = _buffers(net, B, T, d, gcode, want_s)
    chunks, n_work = _threads.batch_plan(B, n_threads)
    n_work = max(1, min(len(chunks), n_work if workers is None else int(workers)))
    groups = []
    for c0, c1 in _threads.split(len(chunks), n_work):
        groups.append(np.array([chunks[c][0] for c in range(c0, c1)] + [chunks[c1 - 1][1]], dtype=np.int64))

    HA[:T, :, N:N + d] = X.transpose(1, 0, 2)
    HA[:T, :, N + d] = 1
    HA[0, :, :N] = h0
    WA = np.concatenate([ka.W.T, ka.U.T, ka.b[None, :]], axis=0).astype(dt)
    if rk == K.LIN_DENSE:
        LA = np.zeros((Kd, N), dt)
        LA[:N] = rdense.T
        WA = np.concatenate([WA, LA], axis=1)
    WA = np.ascontiguousarray(WA)
    rc = (np.ascontiguousarray(rblk.reshape(-1, 4).T, dtype=dt) if rk == K.LIN_BLOCK
          else np.zeros((4, 0), dt))
    cst = np.array([1.0, ka.coupling, gscale, 1.0 / gscale], dtype=dt)

    def fwd(i):
        e = groups[i]
        Bc = int(e[-1] - e[0])
        return K.train_forward(HA, DP, GP, WA, e, cst, ka.act, rk, rdiag, rc, gcode,
                               np.empty((Bc, WA.shape[1]), dt), np.empty((Bc, N), dt))

    bad = [s for s in _threads.run_parallel(fwd, len(groups)) if s > 0]
    if bad:  # checked at every step: an overflow can vanish again before T (relu, Elman)
        check_finite_state(net, HA[1:, :, :N])
    hT = np.ascontiguousarray(HA[T, :, :N])
    z = hT @ net.V.T + net.c
    val, dz = _losses.loss_from_logits(z, y, loss)
    dz = dz.astype(dt)
    gT = np.ascontiguousarray(dz @ net.V)
    W = ka.W

    def bwd(i):
        e = groups[i]
        b0, b1 = int(e[0]), int(e[-1])
        Bc = b1 - b0
        K.train_backward(DP, GP, W, e, cst, rk, rdiag, rc, rdense, gcode, gT[b0:b1], DA, S,
                         np.empty((Bc, N), dt), np.empty((Bc, N), dt), np.empty((Bc, N), dt))

    _threads.run_parallel(bwd, len(groups))
    # [dW | dU | db] = DA^T [H | X | 1] over all T * B rows, in one single-threaded GEMM per block of output
    # rows (as many blocks as row blocks of the batch, shared among the workers): a multi-threaded BLAS
    # splits this product differently with its thread count (float32 results changed in the last bits)
    DA2 = DA.reshape(T * B, N)
    HA2 = HA[:T].reshape(T * B, Kd)
    G = np.empty((N, Kd), dt)
    parts = _threads.split(N, len(chunks))

    def gemm(i):
        r0, r1 = parts[i]
        np.matmul(DA2[:, r0:r1].T, HA2, out=G[r0:r1])

    _threads.run_parallel(gemm, len(parts), len(groups))
    out = {"W": np.ascontiguousarray(G[:, :N]), "U": np.ascontiguousarray(G[:, N:N + d]),
           "b": np.ascontiguousarray(G[:, N + d]), "V": (dz.T @ hT).astype(dt), "c": dz.sum(axis=0)}
    if want_s:
        Hp = HA[:T, :, :N].reshape(T * B, N).astype(np.float64)
        out["R"] = np.asarray(net.residual.grad_from_dz(S.reshape(T * B, N).astype(np.float64), Hp), dtype=dt)
    return val, out
