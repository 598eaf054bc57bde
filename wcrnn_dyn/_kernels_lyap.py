"""Numba kernels of the Lyapunov engine (private; the public wrapper is :mod:`wcrnn_dyn.lyapunov`).

One fused loop advances, for B sequences at once, the network state and the tangent frames
(docs/THEORY.md sections 3 and 5).  Everything lives in one row-major array ``Z`` of shape (B (k + 1), N):

* row ``b (k + 1)`` is the state h_b,
* rows ``b (k + 1) + 1 .. b (k + 1) + k`` are the k tangent vectors (frame columns) of sequence b.

One step is ONE GEMM for all states and all frames, ``P = Z @ W^T`` (so W is read once per step, which
matters at large N where the product is memory bound), the structured residual ``L Z`` and an
element-wise pass::

    a_t   = P[b] + U x_t + b_bias                h_t = g(L h_{t-1}) + eps * phi(a_t)
    Y     = g'(z_t)[:, None] * (L Q) + eps * phi'(a_t)[:, None] * (W Q)        (= J_t Q)

Re-orthonormalisation works on each sequence's (k, N) row block, which in column-major (Fortran) terms is
the (N, k) frame with leading dimension N, handed in place to BLAS / LAPACK:

* ``QR_HOUSEHOLDER``: LAPACK ``dgeqrf`` + ``dorgqr`` (Householder; robust for any conditioning).
* ``QR_CHOLESKY``: Cholesky-QR: Gram matrix ``G = Y^T Y`` (``dsyrk``), ``G = R^T R`` (``dpotrf``),
  ``Q = Y R^{-1}`` (``dtrsm``).  R is accepted when Gershgorin's discs of G prove
  ``cond2(Y) <= 1 / rcond_min`` (O(k^2), the usual case for WCRNN Jacobians) or else when LAPACK's
  1-norm condition estimate (``dtrcon``) gives ``rcond(R) >= rcond_min``.  When Cholesky fails or
  R is not accepted the block is redone with Householder (Y is still intact: syrk/potrf/trcon
  do not touch it).  Loss of orthogonality is about u * cond(Y)^2, so with ``rcond_min = 1e-3`` it stays
  near 1e-10 or better; for near-isometric Jacobians (WCRNNs) cond(Y) ~ 1 and it is at rounding level.
* ``QR_AUTO``: Cholesky-QR with fall back, switching to Householder for the rest of the run once more
  than a quarter of the (at least 16) re-orthonormalisations so far needed the fall back.

BLAS / LAPACK are SciPy's ``cython_blas`` / ``cython_lapack`` (LP64), called through their C addresses
by the intrinsic :func:`fcall`; the addresses are run-time arguments, so the kernels can be cached.
Under ``NUMBA_DISABLE_JIT=1`` the same calls go through ctypes.
"""
from __future__ import annotations

import ctypes
import math

import numpy as np
from numba import config as _nb_config
from numba import njit, prange, types
from numba.extending import get_cython_function_address, intrinsic

from ._kernels import G_LINEAR, activate_row, lin_rows

__all__ = ["QR_HOUSEHOLDER", "QR_CHOLESKY", "QR_AUTO", "Workspace", "frame_loop", "qr_rows", "frame_loop_auto",
           "qr_rows_checked", "next_interval",
           "fcall", "FP"]

QR_HOUSEHOLDER, QR_CHOLESKY, QR_AUTO = 0, 1, 2

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

# order of the function addresses in FP
_F_SYRK, _F_POTRF, _F_TRSM, _F_GEQRF, _F_ORGQR, _F_TRCON = range(6)
_NAMES = (("scipy.linalg.cython_blas", "dsyrk"), ("scipy.linalg.cython_lapack", "dpotrf"),
          ("scipy.linalg.cython_blas", "dtrsm"), ("scipy.linalg.cython_lapack", "dgeqrf"),
          ("scipy.linalg.cython_lapack", "dorgqr"), ("scipy.linalg.cython_lapack", "dtrcon"))
_NARGS = (10, 5, 11, 8, 9, 10)

FP = np.array([get_cython_function_address(m, f) for m, f in _NAMES], dtype=np.int64)

# character codes used by the BLAS / LAPACK calls (addresses cb + offset)
_CHARS = b"UTNRL1"
_C_U, _C_T, _C_N, _C_R, _C_L, _C_1 = range(6)

# int32 scalar slots (ib + 4 * slot)
_I_N, _I_K, _I_INFO, _I_LWORK = range(4)
# float64 scalar slots (db + 8 * slot)
_D_ONE, _D_ZERO, _D_RCOND = range(3)

# auto mode: after this many re-orthonormalisations, switch to Householder when the fall back rate
# exceeds AUTO_MAX_FALLBACK_RATE
AUTO_MIN_QR = 16
AUTO_MAX_FALLBACK_RATE = 0.25


if _nb_config.DISABLE_JIT:  # pragma: no cover - exercised only in a NUMBA_DISABLE_JIT coverage run
    _CT = {}

    def fcall(addr, args):
        f = _CT.get((addr, len(args)))
        if f is None:
            f = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * len(args)))(int(addr))
            _CT[(addr, len(args))] = f
        f(*[ctypes.c_void_p(int(a)) for a in args])
else:
    @intrinsic
    def fcall(typingctx, addr, args):
        """Call the C function at address ``addr`` with a tuple of pointer-sized integers (all void*)."""
        if not isinstance(addr, types.Integer):
            return None
        if not isinstance(args, types.BaseTuple) or not all(isinstance(t, types.Integer) for t in args.types):
            return None
        n = len(args.types)
        sig = types.void(addr, args)

        def codegen(context, builder, signature, llargs):
            from llvmlite import ir
            a, tup = llargs
            i8p = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i8p] * n)
            fptr = builder.inttoptr(a, fnty.as_pointer())
            vals = [builder.inttoptr(builder.extract_value(tup, j), i8p) for j in range(n)]
            builder.call(fptr, vals)
            return context.get_dummy_value()

        return sig, codegen


class Workspace:
    """Buffers for :func:`qr_rows` / :func:`frame_loop` for frames of N rows and k columns."""

    def __init__(self, N, k):
        self.ib = np.zeros(8, dtype=np.int32)
        self.db = np.zeros(4, dtype=np.float64)
        self.cb = np.frombuffer(_CHARS + b"\0\0", dtype=np.uint8).copy()
        self.G = np.zeros((k, k), dtype=np.float64)
        self.tau = np.zeros(k, dtype=np.float64)
        self.work = np.zeros(max(64 * k, 3 * k, 1), dtype=np.float64)
        self.iwork = np.zeros(max(k, 1), dtype=np.int32)
        self.logr = np.zeros(k, dtype=np.float64)

    def args(self):
        return (FP, self.ib, self.db, self.cb, self.G, self.tau, self.work, self.iwork, self.logr)


@njit(**_OPTS)
def _householder(a, N, k, fp, ib, db, cb, tau, work, logr):
    """In-place QR of the Fortran (N, k) matrix at address ``a``: Q overwrites it, log|r_ii| -> logr."""
    pi = ib.ctypes.data
    ib[_I_N] = N
    ib[_I_K] = k
    ib[_I_LWORK] = work.shape[0]
    ib[_I_INFO] = 0
    pt = tau.ctypes.data
    pw = work.ctypes.data
    fcall(fp[_F_GEQRF], (pi + 4 * _I_N, pi + 4 * _I_K, a, pi + 4 * _I_N, pt, pw, pi + 4 * _I_LWORK,
                         pi + 4 * _I_INFO))
    for i in range(k):
        # element (i, i) of the Fortran matrix sits at offset i * N + i doubles
        r = abs(_load(a, i * N + i))
        logr[i] = math.log(r) if r > 0 else -np.inf
        if not (r == r):
            logr[i] = np.nan
    fcall(fp[_F_ORGQR], (pi + 4 * _I_N, pi + 4 * _I_K, pi + 4 * _I_K, a, pi + 4 * _I_N, pt, pw,
                         pi + 4 * _I_LWORK, pi + 4 * _I_INFO))


@intrinsic
def _load_intr(typingctx, addr, idx):
    if not isinstance(addr, types.Integer) or not isinstance(idx, types.Integer):
        return None
    sig = types.float64(addr, idx)

    def codegen(context, builder, signature, llargs):
        from llvmlite import ir
        a, i = llargs
        dp = ir.DoubleType().as_pointer()
        p = builder.inttoptr(a, dp)
        return builder.load(builder.gep(p, [i]))

    return sig, codegen


if _nb_config.DISABLE_JIT:  # pragma: no cover
    def _load(addr, idx):
        return ctypes.c_double.from_address(int(addr) + 8 * int(idx)).value
else:
    _load = _load_intr


@njit(**_OPTS)
def _gershgorin_ok(G, k, rad, rcond_min):
    """True when Gershgorin's discs of the symmetric Gram matrix G (stored in the lower triangle of the C
    array, the Fortran upper triangle) show lambda_min > 0 and lambda_max / lambda_min <= 1 / rcond_min^2,
    i.e. cond2(R) = cond2(Y) <= 1 / rcond_min.  O(k^2); ``rad`` is a work buffer of length >= k."""
    for i in range(k):
        rad[i] = 0.0
    for j in range(k):
        acc = 0.0
        for i in range(j):
            v = abs(G[j, i])
            rad[i] += v
            acc += v
        rad[j] += acc
    lb = np.inf
    ub = 0.0
    for i in range(k):
        lb = min(lb, G[i, i] - rad[i])
        ub = max(ub, G[i, i] + rad[i])
    if not (lb > 0.0) or not (ub < np.inf):
        return False
    return ub * rcond_min * rcond_min <= lb


@njit(**_OPTS)
def _cholesky(a, N, k, fp, ib, db, cb, G, iwork, work, logr, rcond_min):
    """Cholesky-QR of the Fortran (N, k) matrix at ``a`` in place.  Returns False (and leaves the matrix
    untouched) when Cholesky fails or R is too ill-conditioned."""
    pi = ib.ctypes.data
    pd = db.ctypes.data
    pc = cb.ctypes.data
    pg = G.ctypes.data
    ib[_I_N] = N
    ib[_I_K] = k
    ib[_I_INFO] = 0
    db[_D_ONE] = 1.0
    db[_D_ZERO] = 0.0
    # G (Fortran upper) = Y^T Y
    fcall(fp[_F_SYRK], (pc + _C_U, pc + _C_T, pi + 4 * _I_K, pi + 4 * _I_N, pd + 8 * _D_ONE, a, pi + 4 * _I_N,
                        pd + 8 * _D_ZERO, pg, pi + 4 * _I_K))
    # Gershgorin bound on the spectrum of G (its Fortran upper triangle = the lower triangle of the C
    # array): lb > 0 and ub / lb <= 1 / rcond_min^2 prove cond2(Y) <= 1 / rcond_min, so the LAPACK
    # condition estimate below can be skipped (the usual case for near-isometric WCRNN Jacobians)
    proven = _gershgorin_ok(G, k, work, rcond_min)
    fcall(fp[_F_POTRF], (pc + _C_U, pi + 4 * _I_K, pg, pi + 4 * _I_K, pi + 4 * _I_INFO))
    if ib[_I_INFO] != 0:
        return False
    rmax = 0.0
    rmin = np.inf
    for i in range(k):
        r = G[i, i]
        if not (r > 0.0) or r == np.inf:
            return False
        rmax = max(rmax, r)
        rmin = min(rmin, r)
    if rmin < rcond_min * rmax:
        return False
    if k > 1 and not proven:
        fcall(fp[_F_TRCON], (pc + _C_1, pc + _C_U, pc + _C_N, pi + 4 * _I_K, pg, pi + 4 * _I_K,
                             pd + 8 * _D_RCOND, work.ctypes.data, iwork.ctypes.data, pi + 4 * _I_INFO))
        if not (db[_D_RCOND] >= rcond_min):
            return False
    for i in range(k):
        logr[i] = math.log(G[i, i])
    fcall(fp[_F_TRSM], (pc + _C_R, pc + _C_U, pc + _C_N, pc + _C_N, pi + 4 * _I_N, pi + 4 * _I_K,
                        pd + 8 * _D_ONE, pg, pi + 4 * _I_K, a, pi + 4 * _I_N))
    return True


@njit(**_OPTS)
def qr_rows(F, row0, k, mode, rcond_min, fp, ib, db, cb, G, tau, work, iwork, logr):
    """Re-orthonormalise the k frame rows ``F[row0:row0+k]`` (C order; one tangent vector per row) in
    place and write log|r_ii| to ``logr[:k]``.  Returns 1 if Cholesky-QR was used, 0 for Householder
    (requested) and -1 for Householder after a Cholesky fall back."""
    N = F.shape[1]
    a = F.ctypes.data + 8 * row0 * N
    if mode != QR_HOUSEHOLDER:
        if _cholesky(a, N, k, fp, ib, db, cb, G, iwork, work, logr, rcond_min):
            return 1
        _householder(a, N, k, fp, ib, db, cb, tau, work, logr)
        return -1
    _householder(a, N, k, fp, ib, db, cb, tau, work, logr)
    return 0


# not cached: a kernel compiled in a process that had loaded this parallel function from Numba's cache was
# itself cached broken (its reload segfaulted: frame_loop compiled after a run that had cached split_dot, measured
# with numba's on-disk cache, 2026-12-02).  Uncached, it is compiled together with each caller, whose own cache
# entry then works; loading a cached caller does not compile it.
@njit(parallel=True, cache=False, nogil=True)
def split_dot(Z, WT, Ps, P):
    """P = Z @ W^T computed in Ps.shape[0] column parts in parallel (one single-threaded BLAS GEMM per part
    on Numba's thread pool, W's rows sliced without copying; N divisible by the number of parts), then
    gathered into P.  For skinny products (few rows, large N) this was measured 1.2-1.5x faster than one
    two-threaded OpenBLAS call."""
    n_parts = Ps.shape[0]
    w = Ps.shape[2]
    W = WT.T
    for p in prange(n_parts):
        np.dot(Z, W[p * w:(p + 1) * w].T, Ps[p])
    for p in range(n_parts):
        for r in range(P.shape[0]):
            for c in range(w):
                P[r, p * w + c] = Ps[p, r, c]


@njit(**_OPTS)
def _advance_rows(X, Z, P, PF, LZ, DP, GPR, s, r0, r1, UT, bias, eps, act, gcode, gscale, k):
    """Element-wise part of one step for the sequences whose row blocks lie in rows r0 .. r1-1 of Z
    (P = Z W^T and LZ = L Z already computed there; the frame rows read their product from ``PF``, which is
    P itself or its float32 counterpart).  Returns the sum of the new states (a finiteness probe)."""
    N = Z.shape[1]
    d = X.shape[2]
    st = k + 1
    bad = 0.0
    for r in range(r0, r1, st):
        b = r // st
        arow = P[r]
        for i in range(N):
            arow[i] += bias[i]
        for j in range(d):
            xj = X[b, s, j]
            for i in range(N):
                arow[i] += xj * UT[j, i]
        # the package's element-wise forward map (one source of truth with _kernels.step_rows)
        activate_row(arow, LZ[r], Z[r], DP[b], GPR[b], eps, act, gcode, gscale, True)
        for i in range(N):
            bad += Z[r, i]
        for i in range(N):
            DP[b, i] *= eps
        for c in range(r + 1, r + st):
            if gcode == G_LINEAR:
                for i in range(N):
                    Z[c, i] = LZ[c, i] + DP[b, i] * PF[c, i]
            else:
                for i in range(N):
                    Z[c, i] = GPR[b, i] * LZ[c, i] + DP[b, i] * PF[c, i]
    return bad


@njit(**_OPTS)
def _step(X, Z, P, LZ, DP, GPR, s, nrows, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale, k,
          Ps, T32):
    """One step of states and frames (the product, the structured residual and the element-wise pass).

    ``T32`` = (Z32, WT32, P32, Ps32): empty arrays (float64 tangent product), or the float32 tangent product:
    every row of Z is rounded to float32 and multiplied by float32 W^T in one float32 GEMM (about half the
    time of the float64 one), the frame rows use that product, and the state rows' products are recomputed
    in float64 (the trajectory itself stays float64).  Returns the finiteness probe of the new states."""
    Z32, WT32, P32, Ps32 = T32
    if Z32.shape[0] == 0:
        if Ps.shape[0] > 1:
            split_dot(Z, WT, Ps, P)
        else:
            np.dot(Z, WT, P)
        lin_rows(rk, rdiag, rblk, rdenseT, Z, LZ)
        return _advance_rows(X, Z, P, P, LZ, DP, GPR, s, 0, nrows, UT, bias, eps, act, gcode, gscale, k)
    for r in range(nrows):
        for i in range(Z.shape[1]):
            Z32[r, i] = Z[r, i]
    if Ps32.shape[0] > 1:
        split_dot(Z32, WT32, Ps32, P32)
    else:
        np.dot(Z32, WT32, P32)
    for r in range(0, nrows, k + 1):
        np.dot(Z[r:r + 1], WT, P[r:r + 1])
    lin_rows(rk, rdiag, rblk, rdenseT, Z, LZ)
    return _advance_rows(X, Z, P, P32, LZ, DP, GPR, s, 0, nrows, UT, bias, eps, act, gcode, gscale, k)


@njit(**_OPTS)
def frame_loop(X, Z, P, LZ, DP, GPR, s0, s1, n_burn, M, qr_every, qr_per_block,
               WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
               B, k, mode, rcond_min, Ps, blk, counters, fp, ib, db, cb, G, tau, work, iwork, logr, T32):
    """Advance states and frames over post-washout steps s0 .. s1-1 (see module docstring).

    X (B, S, d): inputs of the post-washout steps (S = n_burn + M).  Z (B * (k + 1), N) holds, for each
    sequence b, its state in row b (k + 1) and its k frame vectors in the k rows after it (updated in
    place); P, LZ same shape and DP, GPR (B, N) are work buffers.  The step's GEMM is one BLAS call, or
    split over Numba's threads in column parts of width w when the buffer ``Ps`` (n_parts, rows, w) has
    more than one part (see :func:`split_dot`).
    Steps s < n_burn are burn-in (QR every ``qr_every`` steps and at s = n_burn - 1, nothing kept);
    for accumulation step a = s - n_burn, QR after steps with (a + 1) % qr_every == 0 and at a = M - 1;
    QR number q = a // qr_every adds log|r_ii| of sequence b to ``blk[q // qr_per_block, b]``.
    ``counters``: [Cholesky used, fall backs, Householder requested, auto switched to Householder].
    ``T32``: the float32 tangent-product buffers of :func:`_step` (empty arrays: float64).
    Returns (status, step): status 0 ok, 1 a state became non-finite, 2 the frame became non-finite.
    """
    st = k + 1
    nrows = B * st
    cur_mode = mode
    if mode == QR_AUTO and counters[3] != 0:
        cur_mode = QR_HOUSEHOLDER
    for s in range(s0, s1):
        do_qr = False
        acc = s >= n_burn
        if k > 0:
            if acc:
                a_idx = s - n_burn
                do_qr = ((a_idx + 1) % qr_every == 0) or (a_idx == M - 1)
            else:
                do_qr = ((s + 1) % qr_every == 0) or (s == n_burn - 1)
        bad = _step(X, Z, P, LZ, DP, GPR, s, nrows, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                    k, Ps, T32)
        if not (bad - bad == 0.0):
            return 1, s
        if not do_qr:
            continue
        for b in range(B):
            used = qr_rows(Z, b * st + 1, k, cur_mode, rcond_min, fp, ib, db, cb, G, tau, work, iwork, logr)
            if used == 1:
                counters[0] += 1
            elif used == -1:
                counters[1] += 1
            else:
                counters[2] += 1
            for i in range(k):
                if logr[i] != logr[i] or logr[i] == np.inf:
                    return 2, s
            if acc:
                q = (s - n_burn) // qr_every
                jb = q // qr_per_block
                for i in range(k):
                    blk[jb, b, i] += logr[i]
        if mode == QR_AUTO and cur_mode != QR_HOUSEHOLDER:
            n_tot = counters[0] + counters[1]
            if n_tot >= AUTO_MIN_QR and counters[1] > AUTO_MAX_FALLBACK_RATE * n_tot:
                cur_mode = QR_HOUSEHOLDER
                counters[3] = 1
    return 0, s1


# Thread control of the BLAS libraries lives in wcrnn_dyn.threads (re-exported here).
from .threads import blas_threads, single_threaded_blas  # noqa: E402,F401


# ---------------------------------------------------------------------------------------------------
# Adaptive re-orthonormalisation interval (qr_every = "auto")
# ---------------------------------------------------------------------------------------------------

# the interval aims at half of the log-condition budget log(1 / rcond_min) (a factor-2 margin on the growth
# rate measured over the last interval) and keeps every column's log-norm change below AUTO_LOG_NORM_MAX
# (e^345 ~ 1e150, against the float64 range of 1e308) with the same margin
AUTO_LOG_NORM_MAX = 345.0
# an interval that produced a frame the condition test rejected is divided by this factor
AUTO_SHRINK = 4

# slots of the per-sequence state array ``ivl`` (B, 2) of frame_loop_auto
_A_SINCE, _A_INTERVAL = 0, 1
# slots of ``astats`` (3,): frames rejected by the condition test, the largest interval used, unused
_S_OVER, _S_MAXIVL = 0, 1


@njit(**_OPTS)
def _rcond_upper(a, N, k, ib, db, cb, fp, work, iwork):
    """LAPACK's 1-norm reciprocal condition estimate of the upper triangular k x k matrix stored in the
    Fortran (N, k) array at ``a`` (leading dimension N), e.g. R after ``dgeqrf``.  O(k^2)."""
    pi = ib.ctypes.data
    pd = db.ctypes.data
    pc = cb.ctypes.data
    ib[_I_N] = N
    ib[_I_K] = k
    ib[_I_INFO] = 0
    fcall(fp[_F_TRCON], (pc + _C_1, pc + _C_U, pc + _C_N, pi + 4 * _I_K, a, pi + 4 * _I_N,
                         pd + 8 * _D_RCOND, work.ctypes.data, iwork.ctypes.data, pi + 4 * _I_INFO))
    return db[_D_RCOND]


@njit(**_OPTS)
def qr_rows_checked(F, row0, k, mode, rcond_min, m, cap, fp, ib, db, cb, G, tau, work, iwork, logr):
    """As :func:`qr_rows` for a frame advanced over ``m`` steps since its last QR, and also check whether
    it was well conditioned, cond(Y) <= 1 / rcond_min, and choose the next interval (:func:`next_interval`,
    at most ``cap``).  Cholesky-QR is only accepted after that test (Gershgorin's discs of the Gram matrix or
    LAPACK's estimate), so an accepted Cholesky-QR is "ok" and a fall back is not; for Householder
    (requested) LAPACK's estimate ``dtrcon`` of R decides (O(k^2), against O(N k^2) for the QR), and is
    skipped when its outcome cannot change the next interval (the rates already give <= max(1, m // 4):
    e.g. every step of a chaotic Elman network).  Returns (used, ok, next interval), ``used`` as in
    :func:`qr_rows`; ``ok`` is True when not checked."""
    N = F.shape[1]
    a = F.ctypes.data + 8 * row0 * N
    if mode != QR_HOUSEHOLDER:
        if _cholesky(a, N, k, fp, ib, db, cb, G, iwork, work, logr, rcond_min):
            return 1, True, next_interval(logr, k, m, True, rcond_min, cap)
        _householder(a, N, k, fp, ib, db, cb, tau, work, logr)
        return -1, False, next_interval(logr, k, m, False, rcond_min, cap)
    pi = ib.ctypes.data
    ib[_I_N] = N
    ib[_I_K] = k
    ib[_I_LWORK] = work.shape[0]
    ib[_I_INFO] = 0
    pt = tau.ctypes.data
    pw = work.ctypes.data
    fcall(fp[_F_GEQRF], (pi + 4 * _I_N, pi + 4 * _I_K, a, pi + 4 * _I_N, pt, pw, pi + 4 * _I_LWORK,
                         pi + 4 * _I_INFO))
    for i in range(k):
        r = abs(_load(a, i * N + i))
        logr[i] = math.log(r) if r > 0 else -np.inf
        if not (r == r):
            logr[i] = np.nan
    ok = True
    nxt = next_interval(logr, k, m, True, rcond_min, cap)
    if k > 1 and nxt > max(1, m // AUTO_SHRINK):
        rc = _rcond_upper(a, N, k, ib, db, cb, fp, work, iwork)
        ok = rc >= rcond_min
        if not ok:
            nxt = next_interval(logr, k, m, False, rcond_min, cap)
    ib[_I_N] = N
    ib[_I_K] = k
    ib[_I_LWORK] = work.shape[0]
    ib[_I_INFO] = 0
    fcall(fp[_F_ORGQR], (pi + 4 * _I_N, pi + 4 * _I_K, pi + 4 * _I_K, a, pi + 4 * _I_N, pt, pw,
                         pi + 4 * _I_LWORK, pi + 4 * _I_INFO))
    return 0, ok, nxt


@njit(**_OPTS)
def next_interval(logr, k, m, ok, rcond_min, cap):
    """Next re-orthonormalisation interval after a QR of the frame advanced over ``m`` steps.

    ``logr`` holds the log r_ii of that QR.  The spread max_i - min_i log r_ii over the m steps is the
    log of a lower bound on cond(Y) and grows like m (l_1 - l_k); the largest |log r_ii| is the log-norm
    change of the columns over the m steps.  The result is the largest m' <= ``cap`` for which, at the
    rates measured over the m steps, the spread stays below half of log(1 / rcond_min) and the log-norm
    change below AUTO_LOG_NORM_MAX / 2 (a factor-2 margin on both rates).  A frame that was not shown to be
    well conditioned (``ok`` False) gives at most max(1, m // AUTO_SHRINK); a singular or non-finite r_ii
    gives 1.  Always >= 1."""
    if not ok:
        cap = max(1, min(cap, m // AUTO_SHRINK))
    lo = np.inf
    hi = -np.inf
    big = 0.0
    for i in range(k):
        v = logr[i]
        if not (v - v == 0.0):
            return 1
        lo = min(lo, v)
        hi = max(hi, v)
        big = max(big, abs(v))
    budget = 0.5 * math.log(1.0 / rcond_min) if rcond_min > 0.0 else 18.0
    m_new = cap
    spread = hi - lo
    if spread * m_new > budget * m:
        m_new = int(budget * m / spread)
    if big * m_new > 0.5 * AUTO_LOG_NORM_MAX * m:
        m_new = min(m_new, int(0.5 * AUTO_LOG_NORM_MAX * m / big))
    return max(1, m_new)


@njit(**_OPTS)
def frame_loop_auto(X, Z, P, LZ, DP, GPR, s0, s1, n_burn, M, block_len, max_interval,
                    WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                    B, k, mode, rcond_min, Ps, blk, counters, ivl, astats,
                    fp, ib, db, cb, G, tau, work, iwork, logr, T32):
    """:func:`frame_loop` with an adaptive re-orthonormalisation interval per sequence (qr_every="auto").

    Same step as :func:`frame_loop`.  Sequence b's frame is re-orthonormalised when it has been advanced
    ``ivl[b, 1]`` steps since its last QR (``ivl[b, 0]``), and for every sequence at the end of the
    burn-in (s = n_burn - 1), at the end of every accumulation block of ``block_len`` steps ((a + 1) %
    block_len == 0) and at a = M - 1; the log r_ii of a QR taken at accumulation step a go to
    ``blk[a // block_len, b]`` (a QR never spans two blocks or the burn-in boundary).  After each QR the
    interval is set by :func:`qr_rows_checked` / :func:`next_interval` (from 1 at the start, doubling at
    most per QR, divided by 4 after a frame that failed the condition test): ``astats[0]`` counts frames
    found not to satisfy cond <= 1 / rcond_min, ``astats[1]`` is the largest interval used.
    Returns (status, step) as :func:`frame_loop`.
    """
    st = k + 1
    nrows = B * st
    cur_mode = mode
    if mode == QR_AUTO and counters[3] != 0:
        cur_mode = QR_HOUSEHOLDER
    for s in range(s0, s1):
        acc = s >= n_burn
        a_idx = s - n_burn
        forced = False
        if acc:
            forced = ((a_idx + 1) % block_len == 0) or (a_idx == M - 1)
        else:
            forced = s == n_burn - 1
        bad = _step(X, Z, P, LZ, DP, GPR, s, nrows, WT, UT, bias, eps, act, rk, rdiag, rblk, rdenseT, gcode, gscale,
                    k, Ps, T32)
        if not (bad - bad == 0.0):
            return 1, s
        if k == 0:
            continue
        any_qr = False
        for b in range(B):
            ivl[b, _A_SINCE] += 1
            m = ivl[b, _A_SINCE]
            if not (forced or m >= ivl[b, _A_INTERVAL]):
                continue
            any_qr = True
            cur = ivl[b, _A_INTERVAL]
            # the interval may at most double per QR; a forced QR (block end) before the interval was reached
            # may only shorten it
            cap = min(2 * m, max_interval) if m >= cur else cur
            used, ok, nxt = qr_rows_checked(Z, b * st + 1, k, cur_mode, rcond_min, m, cap, fp, ib, db, cb, G, tau,
                                            work, iwork, logr)
            if used == 1:
                counters[0] += 1
            elif used == -1:
                counters[1] += 1
            else:
                counters[2] += 1
            for i in range(k):
                if logr[i] != logr[i] or logr[i] == np.inf:
                    return 2, s
            if not ok:
                astats[_S_OVER] += 1
            if m > astats[_S_MAXIVL]:
                astats[_S_MAXIVL] = m
            ivl[b, _A_SINCE] = 0
            ivl[b, _A_INTERVAL] = nxt
            if acc:
                jb = a_idx // block_len
                for i in range(k):
                    blk[jb, b, i] += logr[i]
        if any_qr and mode == QR_AUTO and cur_mode != QR_HOUSEHOLDER:
            n_tot = counters[0] + counters[1]
            if n_tot >= AUTO_MIN_QR and counters[1] > AUTO_MAX_FALLBACK_RATE * n_tot:
                cur_mode = QR_HOUSEHOLDER
                counters[3] = 1
    return 0, s1
