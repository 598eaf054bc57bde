"""The engine: Numba kernels for the WCRNN forward map and its Jacobian products (private).

Nothing here is validated: the public wrappers in :mod:`wcrnn_dyn.models`, :mod:`wcrnn_dyn.lyapunov`,
:mod:`wcrnn_dyn.memory` and :mod:`wcrnn_dyn.training` check their inputs and then call these kernels.

Model (docs/THEORY.md sections 1 and 3), for a batch of B sequences, rows are samples::

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
from numba import njit, types
from numba.extending import overload

ACT_TANH, ACT_RELU, ACT_IDENTITY = 0, 1, 2
LIN_DIAG, LIN_BLOCK, LIN_DENSE = 0, 1, 2
G_LINEAR, G_TANH = 0, 1

ACTIVATIONS = {"tanh": ACT_TANH, "relu": ACT_RELU, "identity": ACT_IDENTITY}

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
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


@njit(**_INLINE)
def fast_tanh32(x):
    """tanh for float32 arguments: a [13/6] rational approximation on the clamped range |x| <= 7.9053
    (the form used by Eigen for float), a few float32 ulp, ~1 ns per element vectorised."""
    c = np.float32(7.90531110763549805)
    xc = x if x < c else c
    xc = xc if xc > -c else -c
    x2 = xc * xc
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    r = (p * xc) / q
    r = x if abs(x) < np.float32(0.0004) else r
    return r if x == x else x  # NaN propagates


def tanh_t(x):
    """tanh in the precision of its argument: fast_tanh32 for float32, fast_tanh otherwise."""
    if isinstance(x, np.float32):
        return fast_tanh32(x)
    return fast_tanh(x)


@overload(tanh_t)
def _tanh_t_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: fast_tanh32(x)
    return lambda x: fast_tanh(x)


@njit(**_OPTS)
def tanh_array(a, out):
    """out[i] = tanh(a[i]) for 1-D arrays, in the arrays' precision (tests and non-kernel code)."""
    for i in range(a.shape[0]):
        out[i] = tanh_t(a[i])


@njit(**_OPTS)
def activate_row(arow, rrow, hrow, dprow, gprow, eps, act, gcode, gscale, store):
    """hrow = g(rrow) + eps * phi(arow) in place (arow, rrow are overwritten with phi(a), g(z)/s);
    with ``store`` also dprow = phi'(a) and gprow = g'(z).

    Branches are hoisted out of the element loops so that every loop vectorises.
    """
    n = arow.shape[0]
    if act == ACT_TANH:
        for i in range(n):
            arow[i] = tanh_t(arow[i])
        if store:
            for i in range(n):
                dprow[i] = 1.0 - arow[i] * arow[i]
    elif act == ACT_RELU:
        if store:
            for i in range(n):
                dprow[i] = 1.0 if arow[i] > 0 else 0.0
        for i in range(n):
            arow[i] = arow[i] if arow[i] > 0 else 0.0
    elif store:
        for i in range(n):
            dprow[i] = 1.0
    if gcode == G_TANH:
        inv_s = 1.0 / gscale
        for i in range(n):
            rrow[i] = tanh_t(rrow[i] * inv_s)
        if store:
            for i in range(n):
                gprow[i] = 1.0 - rrow[i] * rrow[i]
        for i in range(n):
            hrow[i] = gscale * rrow[i] + eps * arow[i]
    else:
        for i in range(n):
            hrow[i] = rrow[i] + eps * arow[i]


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
    for b in range(B):
        arow = abuf[b]
        for i in range(N):
            arow[i] += bias[i]
        for j in range(d):
            xj = xt[b, j]
            for i in range(N):
                arow[i] += xj * UT[j, i]
        activate_row(arow, rbuf[b], hout[b], dphi_out[b], gp_out[b], eps, act, gcode, gscale, store_deriv)


@njit(**_OPTS)
def forward_into(X, h0, W, U, bias, eps, act, rk, rdiag, rblk, rdense, gcode, gscale, H, DP, GP):
    """Run the network over X (B, T, d) from h0 (B, N), writing into caller-owned arrays.

    If DP has T rows the whole trajectory is stored: H[t] = h_{t+1} (time-major), DP[t] = phi'(a_{t+1}) and,
    for a non-linear residual (GP with T rows), GP[t] = g'(z_{t+1}).  If DP has 0 rows only the last state
    is computed and written to H[0] (H may then have 1 row).  Reusing these buffers across calls avoids
    page-faulting fresh memory each time (it costs as much as the arithmetic at sMNIST sizes).
    """
    B, T, d = X.shape
    N = W.shape[0]
    dt = h0.dtype
    store = DP.shape[0] > 0
    WT = np.ascontiguousarray(W.T)
    UT = np.ascontiguousarray(U.T)
    rdenseT = np.ascontiguousarray(rdense.T)
    abuf = np.empty((B, N), dtype=dt)
    rbuf = np.empty((B, N), dtype=dt)
    xt = np.empty((B, d), dtype=dt)
    cur = h0.copy()
    nxt = np.empty((B, N), dtype=dt)
    dummy = np.empty((B, N), dtype=dt)
    has_gp = GP.shape[0] > 0
    for t in range(T):
        for b in range(B):
            for j in range(d):
                xt[b, j] = X[b, t, j]
        if store:
            gpt = GP[t] if has_gp else dummy
            step_rows(cur, xt, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                      abuf, rbuf, H[t], DP[t], gpt, True)
            cur = H[t]
        else:
            step_rows(cur, xt, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                      abuf, rbuf, nxt, dummy, dummy, False)
            cur, nxt = nxt, cur
    if not store:
        H[0] = cur


@njit(**_OPTS)
def forward(X, h0, W, U, bias, eps, act, rk, rdiag, rblk, rdense, gcode, gscale, store):
    """Allocating form of :func:`forward_into`.

    Returns (H, DP, GP): with ``store`` true, H (T, B, N) holds h_1..h_T (time-major), DP (T, B, N) holds
    phi'(a_t) and GP (T, B, N) holds g'(z_t) (shape (0, B, N) for a linear residual).  With ``store`` false,
    H is (1, B, N) holding h_T and DP, GP are empty.
    """
    B, T, d = X.shape
    N = W.shape[0]
    dt = h0.dtype
    if store:
        H = np.empty((T, B, N), dtype=dt)
        DP = np.empty((T, B, N), dtype=dt)
        GP = np.empty((T if gcode != G_LINEAR else 0, B, N), dtype=dt)
    else:
        H = np.empty((1, B, N), dtype=dt)
        DP = np.empty((0, B, N), dtype=dt)
        GP = np.empty((0, B, N), dtype=dt)
    forward_into(X, h0, W, U, bias, eps, act, rk, rdiag, rblk, rdense, gcode, gscale, H, DP, GP)
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
def backward_into(DP, GP, W, eps, rk, rdiag, rblk, rdense, gcode, gT, gseq, DA, S):
    """Backpropagation through time with the adjoint product, into caller-owned DA (T, B, N) and S.

    gT (B, N) is dLoss/dh_T; gseq (T, B, N) (or (0, B, N)) adds dLoss/dh_t at every step.
    Writes DA[t] = eps * phi'(a_t) * delta_t (= dLoss/da_t) and, when S has T rows, S[t] = g'(z_t) * delta_t
    (= dLoss/dz_t, for residual gradients).  Returns dh0 = dLoss/dh_0.
    Parameter gradients are then GEMMs: dW = sum_t DA[t]^T h_{t-1}, dU = sum_t DA[t]^T x_t, db = sum DA.
    """
    T, B, N = DP.shape
    dt = DP.dtype
    delta = gT.copy()
    sbuf = np.empty((B, N), dtype=dt)
    tmp = np.empty((B, N), dtype=dt)
    nxt = np.empty((B, N), dtype=dt)
    has_seq = gseq.shape[0] > 0
    want_s = S.shape[0] > 0
    for t in range(T - 1, -1, -1):
        if has_seq:
            for b in range(B):
                for i in range(N):
                    delta[b, i] += gseq[t, b, i]
        DAt = DA[t]
        for b in range(B):
            for i in range(N):
                DAt[b, i] = eps * DP[t, b, i] * delta[b, i]
        if gcode != G_LINEAR:
            for b in range(B):
                for i in range(N):
                    sbuf[b, i] = delta[b, i] * GP[t, b, i]
        else:
            sbuf[:, :] = delta
        if want_s:
            S[t] = sbuf
        np.dot(DAt, W, nxt)
        lin_rows_T(rk, rdiag, rblk, rdense, sbuf, tmp)
        for b in range(B):
            for i in range(N):
                delta[b, i] = nxt[b, i] + tmp[b, i]
    return delta


@njit(**_OPTS)
def backward(H, h0, DP, GP, W, eps, rk, rdiag, rblk, rdense, gcode, gT, gseq, want_s):
    """Allocating form of :func:`backward_into`: returns (DA, S, dh0) (S is (0, B, N) unless ``want_s``).
    H and h0 are accepted for symmetry with :func:`forward` and not used."""
    T, B, N = DP.shape
    dt = DP.dtype
    DA = np.empty((T, B, N), dtype=dt)
    S = np.empty((T if want_s else 0, B, N), dtype=dt)
    dh0 = backward_into(DP, GP, W, eps, rk, rdiag, rblk, rdense, gcode, gT, gseq, DA, S)
    return DA, S, dh0


# ----------------------------------------------------------------------------------------------------
# Training engine: time-major augmented trajectory, fused per-step work, one weight-gradient GEMM
# ----------------------------------------------------------------------------------------------------
#
# ``HA`` (T + 1, B, K) with K = N + d + 1 holds the augmented states [h_t, x_{t+1}, 1]: HA[t, :, :N] = h_t
# (HA[0] = h_0), HA[t, :, N:N+d] = x_{t+1} and HA[t, :, N+d] = 1 for t < T.  With WA = [W^T; U^T; b^T]
# (K, N) one GEMM per step gives a_{t+1} = HA[t] @ WA (bias and input projection included), and after the
# backward sweep ONE GEMM  DA^T @ HA[:T]  over all T * B rows gives [dW | dU | db] at once.  For a dense
# residual WA has N more columns [L^T; 0; 0], so the same GEMM also gives z_{t+1} = L h_t.
# Every row (sequence) is computed independently and the rows of one time step lie together, so a batch
# may be split into row ranges [b0, b1) run by different threads writing disjoint rows of the same arrays.
# ``cst`` = [1, eps, gscale, 1 / gscale] in the model's dtype (float32 arithmetic stays float32).

@njit(**_INLINE)
def _lin_row_T(rk, rdiag, rc, x, out, n):
    """out[:n] = L^T x[:n] for one row, L diagonal (LIN_DIAG) or 2x2 blocks + diagonal tail (LIN_BLOCK);
    rc (4, nb) holds the blocks' entries a00, a01, a10, a11."""
    nb = rc.shape[1] if rk == LIN_BLOCK else 0
    for j in range(nb):
        p = x[2 * j]
        q = x[2 * j + 1]
        out[2 * j] = rc[0, j] * p + rc[2, j] * q
        out[2 * j + 1] = rc[1, j] * p + rc[3, j] * q
    for i in range(2 * nb, n):
        out[i] = rdiag[i] * x[i]


@njit(**_OPTS)
def _rows_apply_L(rk, rdiag, rc, HA, t, b0, rbuf, store):
    """Per row bb of rbuf (h_t of row b0 + bb on entry): optionally HA[t, b0 + bb, :N] = h_t, then
    rbuf[bb] = L h_t (LIN_DIAG or LIN_BLOCK)."""
    Bc, N = rbuf.shape
    nb = rc.shape[1] if rk == LIN_BLOCK else 0
    for bb in range(Bc):
        r = rbuf[bb]
        if store:
            h = HA[t, b0 + bb]
            for i in range(N):
                h[i] = r[i]
        for j in range(nb):
            p = r[2 * j]
            q = r[2 * j + 1]
            r[2 * j] = rc[0, j] * p + rc[1, j] * q
            r[2 * j + 1] = rc[2, j] * p + rc[3, j] * q
        for i in range(2 * nb, N):
            r[i] = rdiag[i] * r[i]


@njit(**_OPTS)
def train_forward(HA, DP, GP, WA, edges, cst, act, rk, rdiag, rc, gcode, abuf, rbuf):
    """Forward pass of rows b0 = edges[0] .. b1 = edges[-1] over T = DP.shape[0] steps, storing the trajectory.

    HA (T + 1, B, K) augmented states (see above; rows 0..T-1 of the input and ones columns and HA[0, :, :N]
    = h_0 are filled by the caller; HA[1:, b0:b1, :N] is written).  DP (T, B, N) <- phi'(a_t); GP (T, B, N)
    <- g'(z_t) for a non-linear residual (else (0, B, N)).  WA (K, N) or, for a dense residual, (K, 2 N).
    abuf (b1 - b0, WA.shape[1]) and rbuf (b1 - b0, N) are work buffers.  Returns the first t in 1..T at
    which some h_t of these rows is not finite (inf or NaN), 0 when all are finite.

    Per step: one GEMM per row block [edges[c], edges[c+1]) (the blocks fix the BLAS calls, so the numbers do
    not depend on how blocks are shared among threads), then element-wise passes over all rows at once
    (long loops vectorise far better than one short loop per row), then one pass per row that stores h_t
    and applies the structured L.
    """
    b0 = edges[0]
    b1 = edges[edges.shape[0] - 1]
    T = DP.shape[0]
    N = DP.shape[2]
    Bc = b1 - b0
    M = Bc * N
    one = cst[0]
    zero = one - one
    eps = cst[1]
    gs = cst[2]
    inv_s = cst[3]
    dense = rk == LIN_DENSE
    nonlin = gcode == G_TANH
    bad = 0
    af = abuf.reshape(abuf.size)
    rf = rbuf.reshape(M)
    if dense:
        a2 = np.empty((Bc, N), abuf.dtype)
        af = a2.reshape(M)
    else:
        for bb in range(Bc):
            h = HA[0, b0 + bb]
            for i in range(N):
                rbuf[bb, i] = h[i]
        _rows_apply_L(rk, rdiag, rc, HA, 0, b0, rbuf, False)
    for t in range(T):
        for c in range(edges.shape[0] - 1):
            np.dot(HA[t, edges[c]:edges[c + 1]], WA, abuf[edges[c] - b0:edges[c + 1] - b0])
        if dense:
            for bb in range(Bc):
                for i in range(N):
                    a2[bb, i] = abuf[bb, i]
                    rbuf[bb, i] = abuf[bb, N + i]
        dpf = DP[t, b0:b1].reshape(M)
        if act == ACT_TANH:
            for k in range(M):
                p = tanh_t(af[k])
                af[k] = p
                dpf[k] = one - p * p
        elif act == ACT_RELU:
            for k in range(M):
                a = af[k]
                pos = a > zero
                dpf[k] = one if pos else zero
                af[k] = a if pos else zero
        else:
            for k in range(M):
                dpf[k] = one
        nbad = 0  # counts non-finite h_i (v - v is NaN for inf and NaN); an integer sum vectorises
        if nonlin:
            gpf = GP[t, b0:b1].reshape(M)
            for k in range(M):
                g = tanh_t(rf[k] * inv_s)
                gpf[k] = one - g * g
                v = gs * g + eps * af[k]
                rf[k] = v
                nbad += 1 if v - v != zero else 0
        else:
            for k in range(M):
                v = rf[k] + eps * af[k]
                rf[k] = v
                nbad += 1 if v - v != zero else 0
        if nbad > 0 and bad == 0:
            bad = t + 1
        if dense:
            for bb in range(Bc):
                h = HA[t + 1, b0 + bb]
                for i in range(N):
                    h[i] = rbuf[bb, i]
        else:
            _rows_apply_L(rk, rdiag, rc, HA, t + 1, b0, rbuf, True)
    return bad


@njit(**_OPTS)
def train_backward(DP, GP, W, edges, cst, rk, rdiag, rc, rdense, gcode, gT, DA, S, nxt, sbuf, tmp):
    """Backpropagation through time for rows b0 = edges[0] .. b1 = edges[-1] (adjoint products), into DA, S.

    gT (b1 - b0, N) = dLoss/dh_T of these rows.  Writes DA[t, b0:b1] = eps * phi'(a_{t+1}) * delta_{t+1}
    (= dLoss/da_{t+1}) for t = 0..T-1 and, when S has T rows, S[t, b0:b1] = g'(z_{t+1}) * delta_{t+1}
    (= dLoss/dz_{t+1}).  delta_t = W^T DA[t] + L^T S[t] is never stored.  nxt, sbuf, tmp: (b1 - b0, N)
    work buffers.  Per step: one GEMM per row block (as in :func:`train_forward`), L^T row by row, then one
    element-wise pass over all rows.
    """
    b0 = edges[0]
    b1 = edges[edges.shape[0] - 1]
    T, _, N = DP.shape
    Bc = b1 - b0
    M = Bc * N
    eps = cst[1]
    want_s = S.shape[0] > 0
    nonlin = gcode != G_LINEAR
    dense = rk == LIN_DENSE
    sf = sbuf.reshape(M)
    tf = tmp.reshape(M)
    nf = nxt.reshape(M)
    gf = gT.reshape(M)
    t = T - 1
    daf = DA[t, b0:b1].reshape(M)
    dpf = DP[t, b0:b1].reshape(M)
    if nonlin:
        gpf = GP[t, b0:b1].reshape(M)
        for k in range(M):
            daf[k] = eps * dpf[k] * gf[k]
            sf[k] = gf[k] * gpf[k]
    else:
        for k in range(M):
            daf[k] = eps * dpf[k] * gf[k]
            sf[k] = gf[k]
    if want_s:
        S[t, b0:b1] = sbuf
    while t > 0:
        for c in range(edges.shape[0] - 1):
            e0 = edges[c]
            e1 = edges[c + 1]
            np.dot(DA[t, e0:e1], W, nxt[e0 - b0:e1 - b0])
            if dense:
                np.dot(sbuf[e0 - b0:e1 - b0], rdense, tmp[e0 - b0:e1 - b0])
        if not dense:
            for bb in range(Bc):
                _lin_row_T(rk, rdiag, rc, sbuf[bb], tmp[bb], N)
        t -= 1
        daf = DA[t, b0:b1].reshape(M)
        dpf = DP[t, b0:b1].reshape(M)
        if nonlin:
            gpf = GP[t, b0:b1].reshape(M)
            for k in range(M):
                d = nf[k] + tf[k]
                daf[k] = eps * dpf[k] * d
                sf[k] = d * gpf[k]
        else:
            for k in range(M):
                d = nf[k] + tf[k]
                daf[k] = eps * dpf[k] * d
                sf[k] = d
        if want_s:
            S[t, b0:b1] = sbuf
