"""Numba kernel for the fading-memory measures (private; the public wrapper is
:func:`wcrnn_dyn.memory.input_sensitivity`).

Input sensitivity (docs/THEORY.md section 6.2).  For one sequence with states h_1..h_T, a_t the pre-activations,

    dh_T / dx_{T-l} = G_l * eps * diag(phi'(a_{T-l})) U,        G_l = dh_T / dh_{T-l} = J_T J_{T-1} ... J_{T-l+1}

and G_{l+1} = G_l J_{T-l}.  Written row-wise (each row g of G_l is a "co-state"), G_{l+1} rows are
J_{T-l}^T g: exactly the adjoint product of :func:`wcrnn_dyn._kernels.adjoint`.  Starting from R rows per
sequence (the N unit vectors e_i for dh_T/dx, or the n_out rows of V for the readout), ONE backward sweep
over l = 0..max_lag gives every lag: per lag, the rows A = eps * phi'(a_{T-l}) * G (element-wise) are
formed once and used twice, A @ U (the sensitivity matrix, whose Frobenius norm is recorded) and A @ W
(the W part of the adjoint step).  Rows of all B sequences are stacked into one (B * R, N) block, so each
lag costs two GEMMs.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import G_LINEAR, _OPTS, lin_rows_T


@njit(**_OPTS)
def sensitivity_sweep(DP, GP, W, U, eps, rk, rdiag, rblk, rdense, gcode, G0, max_lag):
    """Frobenius norms of d(G0 h_T)/dx_{T-l} for l = 0..max_lag, per sequence.

    DP : (T, B, N) phi'(a_t) (time-major, as returned by ``_kernels.forward``); GP : (T, B, N) g'(z_t) for a
    non-linear residual, else (0, B, N).  W (N, N), U (N, d), float64.  G0 : (B * R, N) initial rows,
    rows b*R .. b*R+R-1 belong to sequence b.  Requires max_lag <= T - 1.
    Returns (max_lag + 1, B).
    """
    T, B, N = DP.shape
    M = G0.shape[0]
    R = M // B
    d = U.shape[1]
    G = G0.copy()
    A = np.empty((M, N), dtype=np.float64)
    S = np.empty((M, N), dtype=np.float64)
    lin = np.empty((M, N), dtype=np.float64)
    nxt = np.empty((M, N), dtype=np.float64)
    SX = np.empty((M, d), dtype=np.float64)
    res = np.zeros((max_lag + 1, B), dtype=np.float64)
    for lag in range(max_lag + 1):
        t = T - 1 - lag
        for b in range(B):
            for r in range(R):
                m = b * R + r
                for i in range(N):
                    g = G[m, i]
                    A[m, i] = eps * DP[t, b, i] * g
                    if gcode != G_LINEAR:
                        S[m, i] = g * GP[t, b, i]
                    else:
                        S[m, i] = g
        np.dot(A, U, SX)
        for b in range(B):
            acc = 0.0
            for r in range(R):
                m = b * R + r
                for j in range(d):
                    acc += SX[m, j] * SX[m, j]
            res[lag, b] = np.sqrt(acc)
        if lag < max_lag:
            np.dot(A, W, nxt)
            lin_rows_T(rk, rdiag, rblk, rdense, S, lin)
            for m in range(M):
                for i in range(N):
                    G[m, i] = nxt[m, i] + lin[m, i]
    return res
