"""The BPTT engine behind ``net.loss_and_grad`` (private; inputs are validated by :mod:`wcrnn_dyn.models`).

Layout (see the training-engine section of :mod:`wcrnn_dyn._kernels`): one time-major augmented trajectory
HA (T + 1, B, N + d + 1) = [h_t, x_{t+1}, 1] for the whole batch, phi'(a_t) in DP (T, B, N), g'(z_t) in GP for
a non-linear residual, dLoss/da_t in DA (T, B, N) and dLoss/dz_t in S (trainable residual only), kept on
the model between calls of the same shape (writing fresh memory each call costs as much as the arithmetic
at sMNIST sizes).  Per step: ONE GEMM (with the input projection and bias folded in) and one fused pass
over the rows, forward and backward.  After the sweep ONE GEMM  DA^T [H | X | 1]  over all T * B rows gives
dW, dU and db.

Threads: the batch is split into row ranges run by worker threads (the kernels release the GIL) with
single-threaded BLAS; every row is computed on its own and the weight-gradient GEMM sums over the same
rows in the same order whatever the split, so the numbers do not depend on the thread count (bit for bit
with OpenBLAS, whose GEMM neither splits nor reorders the inner dimension; tested).
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from . import threads as _threads


def _buffers(net, B, T, d, gcode, want_s):
    N = net.n_hidden
    dt = net.dtype
    key = ("engine2", B, T, N, d, np.dtype(dt).str, gcode, bool(want_s))
    ws = getattr(net, "_ws", None)
    if ws is None or ws[0] != key:
        HA = np.empty((T + 1, B, N + d + 1), dt)
        HA[T, :, N:] = 0
        bufs = (HA, np.empty((T, B, N), dt), np.empty((T if gcode != K.G_LINEAR else 0, B, N), dt),
                np.empty((T, B, N), dt), np.empty((T if want_s else 0, B, N), dt))
        ws = (key, bufs)
        net._ws = ws
    return ws[1]


def loss_and_grad(net, X, y, loss, h0, n_threads, workers=None):
    """(loss, grads) of ``net`` on validated X (B, T, d), targets y, h0 (B, N); see
    :meth:`wcrnn_dyn.models.WCRNN.loss_and_grad`.  Raises the model's DivergenceError when a state of the
    trajectory is not finite.

    The batch is cut into row blocks by :func:`wcrnn_dyn.threads.batch_plan` (``n_threads`` blocks when
    given, else one per Numba thread, at most one per 16 sequences: never load-dependent), and the blocks
    are shared among the worker threads in contiguous groups (``workers`` overrides the plan's count, for
    tests).  Every block issues the same BLAS calls whichever thread runs it, so the numbers depend on the
    blocks only, never on the load."""
    B, T, d = X.shape
    N = net.n_hidden
    dt = net.dtype
    Kd = N + d + 1
    rk, rdiag, rblk, rdense, gcode, gscale = net._kargs()
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
    WA = np.concatenate([net.W.T, net.U.T, net.b[None, :]], axis=0).astype(dt)
    if rk == K.LIN_DENSE:
        LA = np.zeros((Kd, N), dt)
        LA[:N] = rdense.T
        WA = np.concatenate([WA, LA], axis=1)
    WA = np.ascontiguousarray(WA)
    rc = (np.ascontiguousarray(rblk.reshape(-1, 4).T, dtype=dt) if rk == K.LIN_BLOCK
          else np.zeros((4, 0), dt))
    cst = np.array([1.0, float(net._eps_kernel), gscale, 1.0 / gscale], dtype=dt)
    act = K.ACTIVATIONS[net.activation]

    def fwd(i):
        e = groups[i]
        Bc = int(e[-1] - e[0])
        return K.train_forward(HA, DP, GP, WA, e, cst, act, rk, rdiag, rc, gcode,
                               np.empty((Bc, WA.shape[1]), dt), np.empty((Bc, N), dt))

    bad = [s for s in _threads.run_parallel(fwd, len(groups)) if s > 0]
    if bad:  # checked at every step: an overflow can vanish again before T (relu, Elman)
        net._check_finite_state(HA[1:, :, :N])
    hT = np.ascontiguousarray(HA[T, :, :N])
    z = hT @ net.V.T + net.c
    val, dz = net._loss_from_logits(z, y, loss)
    dz = dz.astype(dt)
    gT = np.ascontiguousarray(dz @ net.V)
    W = np.ascontiguousarray(net.W)

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
