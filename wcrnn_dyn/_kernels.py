"""The engine: Numba kernels for the WCRNN forward map and its Jacobian products (private).

Nothing here is validated: the public wrappers in :mod:`wcrnn_dyn.models`, :mod:`wcrnn_dyn.lyapunov`,
:mod:`wcrnn_dyn.memory` and :mod:`wcrnn_dyn.training` check their inputs and then call these kernels.

Model (MATH.md sections 1 and 3), for a batch of B sequences, rows are samples::

    z_t = L h_{t-1}                      linear part of the residual (structured)
    R(h_{t-1}) = g(z_t)                  g = identity, or s * tanh(z / s) ("scaled tanh")
    a_t = W h_{t-1} + U x_t + b
    h_t = R(h_{t-1}) + eps * phi(a_t)

    J_t     = diag(g'(z_t)) L + eps * diag(phi'(a_t)) W
    J_t Q   = g'[:, None] * (L Q) + eps * phi'[:, None] * (W Q)        tangent product, O(N^2 k)
    J_t^T v = L^T (g' * v) + eps * W^T (phi' * v)                       adjoint product, O(N^2)

An Elman network is the special case L = 0, eps = 1.

Residual encoding shared by every kernel (``rk`` = kind of the linear part L):

* ``rk == LIN_DIAG``  : L = diag(rdiag)
* ``rk == LIN_BLOCK`` : L = blockdiag(rblk[0], ..., rblk[nb-1], diag(rdiag[2 nb:]))  (2x2 blocks)
* ``rk == LIN_DENSE`` : L = rdense (``rdenseT`` is its transpose, C-contiguous)

``gcode`` is ``G_LINEAR`` or ``G_TANH`` (with scale ``gscale``).  Unused arrays are passed with a zero-size
leading dimension.  Activations: ``ACT_TANH``, ``ACT_RELU``, ``ACT_IDENTITY``.

Hot loops avoid Numba's scalar ``math.tanh`` (~20 ns per element here, no SVML): :func:`fast_tanh` is a
branch-free tanh (Cephes rational for |x| <= 0.625, exp-based otherwise, with a hand-written exponential)
that LLVM vectorises; it is accurate to 2 ulp in float64.
"""
from __future__ import annotations

import numpy as np
from numba import njit

ACT_TANH, ACT_RELU, ACT_IDENTITY = 0, 1, 2
LIN_DIAG, LIN_BLOCK, LIN_DENSE = 0, 1, 2
G_LINEAR, G_TANH = 0, 1

ACTIVATIONS = {"tanh": ACT_TANH, "relu": ACT_RELU, "identity": ACT_IDENTITY}

_OPTS = dict(cache=True, error_model="numpy", fastmath={"contract"})
_INLINE = dict(inline="always", error_model="numpy", fastmath={"contract"})

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_POW2 = np.ldexp(1.0, np.arange(0, 64))


@njit(**_INLINE)
def fast_tanh(x):
    """tanh(x) in float64, vectorisable, max error ~2 ulp (tested against numpy in tests/)."""
    x = np.float64(x)
    ax = abs(x)
    z2 = x * x
    # Cephes tanh rational approximation, |x| <= 0.625
    p = (-9.64399179425052238628e-1 * z2 - 9.92877231001918586564e1) * z2 - 1.61468768441708447952e3
    q = ((z2 + 1.12811678491632931402e2) * z2 + 2.23548839060100448583e3) * z2 + 4.84406305325125486048e3
    sm_num = x * z2 * p
    # 1 - 2 / (exp(2|x|) + 1), exp by Cody-Waite reduction and a degree-13 Taylor polynomial
    y = 2.0 * (ax if ax < 20.0 else 20.0)
    kf = np.float64(np.int64(y * _INV_LN2 + 0.5))
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    e = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (
        1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (
            1.0 / 3628800 + r * (1.0 / 39916800 + r * (1.0 / 479001600 + r * (1.0 / 6227020800)))))))))))))
    s = e * _POW2[np.int64(kf)]
    sgn = 1.0 if x >= 0 else -1.0
    is_small = ax <= 0.625
    base = x if is_small else sgn
    num = sm_num if is_small else -2.0 * sgn
    den = q if is_small else s + 1.0
    res = base + num / den
    return res if x == x else x  # NaN propagates


@njit(**_OPTS)
def tanh_array(a, out):
    """out[...] = fast_tanh(a[...]) for contiguous arrays (used by tests and non-kernel code)."""
    af = a.ravel()
    of = out.ravel()
    for i in range(af.shape[0]):
        of[i] = fast_tanh(af[i])


@njit(**_INLINE)
def _activate(a, act):
    """Return (phi(a), phi'(a)) in float64."""
    if act == ACT_TANH:
        t = fast_tanh(a)
        return t, 1.0 - t * t
    elif act == ACT_RELU:
        if a > 0:
            return np.float64(a), 1.0
        return 0.0, 0.0
    return np.float64(a), 1.0


# ----------------------------------------------------------------------------------------------------
# Structured application of the linear part L of the residual
# ----------------------------------------------------------------------------------------------------

@njit(**_OPTS)
def lin_rows(rk, rdiag, rblk, rdenseT, H, out):
    """out[b] = L @ H[b] for every row b (i.e. out = H @ L^T).  H, out: (B, n)."""
    B, n = H.shape
    if rk == LIN_DENSE:
        np.dot(H, rdenseT, out)
        return
    nb = rblk.shape[0] if rk == LIN_BLOCK else 0
    for b in range(B):
        for j in range(nb):
            x = H[b, 2 * j]
            y = H[b, 2 * j + 1]
            out[b, 2 * j] = rblk[j, 0, 0] * x + rblk[j, 0, 1] * y
            out[b, 2 * j + 1] = rblk[j, 1, 0] * x + rblk[j, 1, 1] * y
        for i in range(2 * nb, n):
            out[b, i] = rdiag[i] * H[b, i]


@njit(**_OPTS)
def lin_rows_T(rk, rdiag, rblk, rdense, G, out):
    """out[b] = L^T @ G[b] for every row b (i.e. out = G @ L).  G, out: (B, n)."""
    B, n = G.shape
    if rk == LIN_DENSE:
        np.dot(G, rdense, out)
        return
    nb = rblk.shape[0] if rk == LIN_BLOCK else 0
    for b in range(B):
        for j in range(nb):
            x = G[b, 2 * j]
            y = G[b, 2 * j + 1]
            out[b, 2 * j] = rblk[j, 0, 0] * x + rblk[j, 1, 0] * y
            out[b, 2 * j + 1] = rblk[j, 0, 1] * x + rblk[j, 1, 1] * y
        for i in range(2 * nb, n):
            out[b, i] = rdiag[i] * G[b, i]


@njit(**_OPTS)
def lin_cols(rk, rdiag, rblk, rdense, Q, out):
    """out = L @ Q for a frame Q of shape (n, m)."""
    n, m = Q.shape
    if rk == LIN_DENSE:
        np.dot(rdense, Q, out)
        return
    nb = rblk.shape[0] if rk == LIN_BLOCK else 0
    for j in range(nb):
        a00 = rblk[j, 0, 0]
        a01 = rblk[j, 0, 1]
        a10 = rblk[j, 1, 0]
        a11 = rblk[j, 1, 1]
        for c in range(m):
            x = Q[2 * j, c]
            y = Q[2 * j + 1, c]
            out[2 * j, c] = a00 * x + a01 * y
            out[2 * j + 1, c] = a10 * x + a11 * y
    for i in range(2 * nb, n):
        d = rdiag[i]
        for c in range(m):
            out[i, c] = d * Q[i, c]


# ----------------------------------------------------------------------------------------------------
# One step and the forward pass
# ----------------------------------------------------------------------------------------------------

@njit(**_OPTS)
def step_rows(hprev, xt, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
              abuf, rbuf, hout, dphi_out, gp_out, store_deriv):
    """One step for a batch of rows.  hprev (B, N), xt (B, d) -> hout (B, N).

    When ``store_deriv`` is true, phi'(a_t) goes to ``dphi_out`` and (if gcode != G_LINEAR) g'(z_t) to
    ``gp_out``.  ``abuf`` and ``rbuf`` are (B, N) work buffers.
    """
    B, N = hprev.shape
    d = xt.shape[1]
    np.dot(hprev, WT, abuf)
    lin_rows(rk, rdiag, rblk, rdenseT, hprev, rbuf)
    inv_s = 1.0 / gscale
    for b in range(B):
        for i in range(N):
            a = abuf[b, i] + bias[i]
            for j in range(d):
                a += xt[b, j] * UT[j, i]
            phi, dphi = _activate(a, act)
            z = rbuf[b, i]
            if gcode == G_TANH:
                tz = fast_tanh(z * inv_s)
                hout[b, i] = gscale * tz + eps * phi
                if store_deriv:
                    gp_out[b, i] = 1.0 - tz * tz
            else:
                hout[b, i] = z + eps * phi
            if store_deriv:
                dphi_out[b, i] = dphi


@njit(**_OPTS)
def forward(X, h0, W, U, bias, eps, act, rk, rdiag, rblk, rdense, gcode, gscale, store):
    """Run the network over X (B, T, d) from h0 (B, N).

    Returns (H, DP, GP): with ``store`` true, H (T, B, N) holds h_1..h_T (time-major), DP (T, B, N) holds
    phi'(a_t) and GP (T, B, N) holds g'(z_t) (shape (0, B, N) for a linear residual).  With ``store`` false,
    H is (1, B, N) holding h_T and DP, GP are empty.
    """
    B, T, d = X.shape
    N = W.shape[0]
    dt = h0.dtype
    WT = np.ascontiguousarray(W.T)
    UT = np.ascontiguousarray(U.T)
    rdenseT = np.ascontiguousarray(rdense.T)
    abuf = np.empty((B, N), dtype=dt)
    rbuf = np.empty((B, N), dtype=dt)
    xt = np.empty((B, d), dtype=dt)
    if store:
        H = np.empty((T, B, N), dtype=dt)
        DP = np.empty((T, B, N), dtype=dt)
        GP = np.empty((T if gcode != G_LINEAR else 0, B, N), dtype=dt)
    else:
        H = np.empty((1, B, N), dtype=dt)
        DP = np.empty((0, B, N), dtype=dt)
        GP = np.empty((0, B, N), dtype=dt)
    cur = h0.copy()
    nxt = np.empty((B, N), dtype=dt)
    dummy = np.empty((B, N), dtype=dt)
    for t in range(T):
        for b in range(B):
            for j in range(d):
                xt[b, j] = X[b, t, j]
        if store:
            gpt = GP[t] if gcode != G_LINEAR else dummy
            step_rows(cur, xt, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                      abuf, rbuf, H[t], DP[t], gpt, True)
            cur = H[t]
        else:
            step_rows(cur, xt, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                      abuf, rbuf, nxt, dummy, dummy, False)
            cur, nxt = nxt, cur
    if not store:
        H[0] = cur
    return H, DP, GP


# ----------------------------------------------------------------------------------------------------
# Jacobian products
# ----------------------------------------------------------------------------------------------------

@njit(**_OPTS)
def tangent(rk, rdiag, rblk, rdense, gcode, W, eps, dphi, gp, Q, k, out, wq):
    """out = J Q for B trajectories at once (one GEMM for all frames).

    dphi, gp: (B, N) derivatives of the B trajectories at this step (gp ignored for a linear residual).
    Q: (N, B * k), columns b*k .. b*k+k-1 belong to trajectory b.  out, wq: (N, B * k) buffers.
    """
    N = Q.shape[0]
    B = dphi.shape[0]
    np.dot(W, Q, wq)
    lin_cols(rk, rdiag, rblk, rdense, Q, out)
    for i in range(N):
        for b in range(B):
            e = eps * dphi[b, i]
            g = gp[b, i] if gcode != G_LINEAR else 1.0
            for c in range(b * k, (b + 1) * k):
                out[i, c] = g * out[i, c] + e * wq[i, c]


@njit(**_OPTS)
def adjoint(rk, rdiag, rblk, rdense, gcode, W, eps, dphi, gp, G, out, sbuf, abuf):
    """out[b] = J_b^T G[b] for every row b: L^T (g' * G) + eps * W^T (phi' * G).

    dphi, gp, G, out, sbuf, abuf: (B, N); sbuf and abuf are work buffers.
    """
    B, N = G.shape
    for b in range(B):
        for i in range(N):
            abuf[b, i] = eps * dphi[b, i] * G[b, i]
            sbuf[b, i] = G[b, i] * gp[b, i] if gcode != G_LINEAR else G[b, i]
    np.dot(abuf, W, out)
    lin_rows_T(rk, rdiag, rblk, rdense, sbuf, abuf)
    for b in range(B):
        for i in range(N):
            out[b, i] += abuf[b, i]


@njit(**_OPTS)
def backward(H, h0, DP, GP, W, eps, rk, rdiag, rblk, rdense, gcode, gT, gseq, want_s):
    """Backpropagation through time with the adjoint product.

    gT (B, N) is dLoss/dh_T; gseq (T, B, N) (or (0, B, N)) adds dLoss/dh_t at every step.
    Returns (DA, S, dh0): DA[t] = eps * phi'(a_t) * delta_t (dLoss/da_t, (T, B, N)),
    S[t] = g'(z_t) * delta_t (dLoss/dz_t, only when ``want_s``, else (0, B, N)), dh0 = dLoss/dh_0.
    Parameter gradients are then GEMMs: dW = sum_t DA[t]^T h_{t-1}, dU = sum_t DA[t]^T x_t, db = sum DA.
    """
    T, B, N = H.shape
    dt = H.dtype
    DA = np.empty((T, B, N), dtype=dt)
    S = np.empty((T if want_s else 0, B, N), dtype=dt)
    delta = gT.copy()
    sbuf = np.empty((B, N), dtype=dt)
    tmp = np.empty((B, N), dtype=dt)
    nxt = np.empty((B, N), dtype=dt)
    has_seq = gseq.shape[0] > 0
    for t in range(T - 1, -1, -1):
        if has_seq:
            for b in range(B):
                for i in range(N):
                    delta[b, i] += gseq[t, b, i]
        DAt = DA[t]
        for b in range(B):
            for i in range(N):
                DAt[b, i] = eps * DP[t, b, i] * delta[b, i]
                sbuf[b, i] = delta[b, i] * GP[t, b, i] if gcode != G_LINEAR else delta[b, i]
        if want_s:
            S[t] = sbuf
        np.dot(DAt, W, nxt)
        lin_rows_T(rk, rdiag, rblk, rdense, sbuf, tmp)
        for b in range(B):
            for i in range(N):
                delta[b, i] = nxt[b, i] + tmp[b, i]
    return DA, S, delta
