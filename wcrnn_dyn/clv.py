"""Covariant Lyapunov vectors (Ginelli's method) and finite-time Lyapunov exponents.

Steps are numbered t = 1..T and J_t = dh_t / dh_{t-1}, as in :mod:`wcrnn_dyn.lyapunov`.  A tangent vector
"at time t" lives at the state h_t (h_0 is the initial state).

Covariant Lyapunov vectors (CLVs) v_1(t), ..., v_k(t) are the directions that the tangent dynamics maps
into each other, J_{t+1} v_j(t) = g_j(t) v_j(t+1), and that grow on average at the j-th exponent forward
*and* backward in time.  Unlike the orthonormal Gram-Schmidt frame of the QR method they do not depend on
the inner product.  Ginelli's method (Ginelli et al., PRL 99, 130601, 2007):

1. forward: Q_t R_t = J_t Q_{t-1} (QR with positive diagonal), run over a burn-in so that Q aligns, then
   over the window of times where CLVs are wanted and a further ``burn_out`` steps; R_t is kept for every
   step after the burn-in, Q_t only at the requested times;
2. backward: the CLVs are v_j(t) = Q_t c_j(t) with C_t upper triangular; from a generic upper-triangular
   start at the last step, C_{t-1} = R_t^{-1} C_t with every column normalised.  The backward iteration
   converges to the CLV coefficients at rate exp(-(lambda_j - lambda_{j+1}) * steps), hence ``burn_out``;
   the normalisation factor n_j(t) = ||R_{t+1}^{-1} c_j(t+1)|| is the inverse of the one-step growth of
   v_j(t), so the local growth rates log g_j(t) = -log n_j(t) come for free.

Main entry points: :func:`covariant_lyapunov_vectors` (networks), :func:`covariant_lyapunov_vectors_map`
(user maps), :func:`finite_time_exponents`, result classes :class:`CLVResult`, :class:`FiniteTimeResult`.
Computation is in float64 (the network's states come from ``net.states`` in the model's dtype).
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ._validate import as_array, check_float, check_int

__all__ = ["CLVResult", "FiniteTimeResult", "covariant_lyapunov_vectors", "covariant_lyapunov_vectors_map",
           "finite_time_exponents", "STORES"]

logger = logging.getLogger(__name__)

STORES = ("auto", "memory", "disk")
STATE_CHUNK = 1024          # network states are computed in chunks of this many steps (memory O(chunk N))
ANGLE_BLOCK = 4096          # window times per batched angle computation


# ---------------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------------

@dataclass
class CLVResult:
    """Covariant Lyapunov vectors and their growth over a window (natural log, per step).

    Attributes
    ----------
    vectors : (n_times, n, k) CLVs at ``times``: column j is v_{j+1}(t), unit norm, sign fixed so that its
        component along the j-th Gram-Schmidt vector is positive.  A ``numpy.memmap`` on an unlinked
        temporary file when the result was stored on disk.
    times : (n_times,) step indices t (1..T) of ``vectors`` (the tangent space at h_t).
    window_times : (window,) every step index of the window (where ``growth_rates`` / ``angles`` are given).
    growth_rates : (window, k) local growth rates log ||J_{t+1} v_j(t)|| (v_j unit) at each window time.
    exponents : (k,) mean of ``growth_rates`` over the window (the CLV exponents; they converge to the
        Lyapunov exponents, descending up to finite-window fluctuations).
    gs_exponents : (k,) the QR (Gram-Schmidt) exponents over the same steps (t + 1 for the window times t),
        sum of log r_ii / window.
    angles : (window, k - 1) minimum principal angle (radians, in [0, pi/2]) between span(v_1..v_j) and
        span(v_{j+1}..v_k) for j = 1..k-1 (empty for k = 1).  Small angles mean near-tangencies (weak
        hyperbolicity).  With k < n the trailing subspace is that of the computed CLVs only.
    settings : every setting used.
    """

    vectors: np.ndarray
    times: np.ndarray
    window_times: np.ndarray
    growth_rates: np.ndarray
    exponents: np.ndarray
    gs_exponents: np.ndarray
    angles: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def k(self):
        """Number of covariant vectors (and exponents)."""
        return int(self.exponents.shape[0])

    def min_angle(self):
        """The smallest of ``angles`` at each window time: a hyperbolicity measure.

        No parameters.

        Returns
        -------
        ndarray, shape (window,)
            Radians; all NaN for k = 1 (there is no pair of subspaces).
        """
        if self.angles.shape[1] == 0:
            return np.full(self.angles.shape[0], np.nan)
        return self.angles.min(axis=1)

    def finite_time_exponents(self, window):
        """CLV finite-time exponents: ``growth_rates`` averaged over consecutive windows of ``window`` steps.

        Parameters
        ----------
        window : int
            Steps per window, 1 <= window <= the number of stored steps.

        Returns
        -------
        ndarray, shape (n_windows, k)
            A trailing remainder shorter than ``window`` is dropped.

        Raises
        ------
        ValueError
            For a window outside that range.
        """
        window = check_int(window, "window", minimum=1, maximum=self.growth_rates.shape[0])
        n_w = self.growth_rates.shape[0] // window
        g = np.asarray(self.growth_rates[:n_w * window])
        return g.reshape(n_w, window, -1).mean(axis=1)

    def plot(self, ax=None, **kw):
        """Histogram of the hyperbolicity angles.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_clv_angles` (``splits``, ``bins``, ``degrees``, ``title``).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_clv_angles
        return plot_clv_angles(self, ax=ax, **kw)[1]

    def __repr__(self):
        show = np.array2string(np.asarray(self.exponents[:4]), precision=5)
        return (f"CLVResult(k={self.k}, n_times={len(self.times)}, window={len(self.window_times)}, "
                f"exponents={show}{' ...' if self.k > 4 else ''})")


# ---------------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------------

def _alloc(shape, on_disk, directory):
    """A float64 array in memory, or a memmap on a temporary file that is unlinked at once (POSIX: the mapping
    keeps the data alive until the array is garbage collected; nothing is left behind)."""
    if not on_disk:
        return np.zeros(shape)
    fd, path = tempfile.mkstemp(prefix="wcrnn_clv_", suffix=".f64", dir=directory)
    os.close(fd)
    arr = np.memmap(path, dtype=np.float64, mode="w+", shape=shape)
    try:
        os.unlink(path)
    except OSError:  # pragma: no cover - Windows keeps open files
        logger.info("could not unlink the temporary file %s; delete it after use", path)
    return arr


def _check_store(store, store_dir, nbytes, max_memory_mb):
    if not isinstance(store, str) or store not in STORES:
        raise ValueError(f"store must be one of {STORES}, got {store!r}")
    if store_dir is not None and not os.path.isdir(store_dir):
        raise ValueError(f"store_dir must be an existing directory, got {store_dir!r}")
    max_memory_mb = check_float(max_memory_mb, "max_memory_mb", minimum=0.0)
    if store == "auto":
        return nbytes > max_memory_mb * 2 ** 20
    return store == "disk"


# ---------------------------------------------------------------------------------------------------
# The engine (any tangent dynamics)
# ---------------------------------------------------------------------------------------------------

def _qr_pos(Y):
    """Thin QR with a non-negative diagonal of R."""
    Q, R = np.linalg.qr(Y)
    s = np.sign(np.diag(R))
    s[s == 0] = 1.0
    return Q * s, R * s[:, None]


def _phases(T, washout, burn_in, window, burn_out):
    washout = check_int(washout, "washout", minimum=0)
    burn_in = check_int(burn_in, "burn_in", minimum=0)
    burn_out = check_int(burn_out, "burn_out", minimum=1)
    free = T - washout - burn_in - burn_out
    if window is None:
        if free < 1:
            raise ValueError(f"washout + burn_in + burn_out = {washout + burn_in + burn_out} leaves no window in "
                             f"T = {T} steps; use a longer input or shorter phases")
        window = free
    window = check_int(window, "window", minimum=1)
    if window > free:
        raise ValueError(f"washout + burn_in + window + burn_out = {washout + burn_in + window + burn_out} "
                         f"exceeds the number of steps T = {T}")
    return washout, burn_in, window, burn_out


def _check_times(times, t_first, window):
    wt = np.arange(t_first, t_first + window)
    if times is None:
        return wt
    t = np.asarray(times)
    if t.ndim == 0:
        t = t[None]
    if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
        raise TypeError("times must be a non-empty 1-d sequence of int step indices")
    t = np.unique(t.astype(np.int64))
    if t[0] < wt[0] or t[-1] > wt[-1]:
        raise ValueError(f"times must lie in the window, steps {wt[0]}..{wt[-1]}, got {t[0]}..{t[-1]}")
    return t


def _ginelli(*args):
    """Run Ginelli's method with single-threaded BLAS: every product and factorisation is small, and waking
    BLAS threads for each of them cost more than the work (measured on the shared 2-core machine, N = 64,
    k = 16, 2000 steps: 5.0 s with OpenBLAS's threads, a 16 x 16 triangular solve taking ~0.8 ms; 0.65 s
    single-threaded)."""
    from .threads import single_threaded_blas
    with single_threaded_blas():
        return _ginelli_loop(*args)


def _ginelli_loop(tangent_at, n, k, t0, burn_in, window, burn_out, times, seed, on_disk, store_dir, what):
    """Ginelli's method.  tangent_at(t, Q) returns J_t Q and is called for t = t0+1, t0+2, ... in order."""
    from scipy.linalg import solve_triangular

    from .lyapunov import initial_frame
    from .models import DivergenceError
    Q = initial_frame(n, k, seed)
    t_first = t0 + burn_in + 1                 # first window time
    n_R = window + burn_out                     # R_t for t = t_first .. t_first + window + burn_out - 1
    Rs = _alloc((n_R, k, k), on_disk, store_dir)     # Rs[i] = R_{t_first + i}
    slot = np.full(window, -1, dtype=np.int64)
    slot[times - t_first] = np.arange(len(times))
    V = _alloc((len(times), n, k), on_disk, store_dir)
    t_last = t_first + window - 1 + burn_out
    for t in range(t0 + 1, t_last + 1):
        Y = np.asarray(tangent_at(t, Q), dtype=float)
        if Y.shape != (n, k):
            raise ValueError(f"the tangent product must return an array of shape ({n}, {k}), got {Y.shape}")
        if not np.all(np.isfinite(Y)):
            raise DivergenceError(f"{what}: the tangent frame became non-finite at step {t}")
        Q, R = _qr_pos(Y)
        i = t - t_first
        if i >= 0:
            Rs[i] = R
            if i < window and slot[i] >= 0:
                V[slot[i]] = Q
    # backward pass: C_{t-1} = R_t^{-1} C_t, columns normalised
    if isinstance(seed, (int, np.integer)):
        rng = np.random.default_rng(np.random.SeedSequence([7, int(seed)]))
    else:
        rng = np.random.default_rng(seed)     # None or the (already used) Generator
    C = np.triu(rng.uniform(-1.0, 1.0, (k, k)))
    np.fill_diagonal(C, 1.0)
    C /= np.linalg.norm(C, axis=0)
    Cw = _alloc((window, k, k), on_disk, store_dir)
    growth = np.zeros((window, k))
    diag_min = np.inf
    for i in range(n_R - 1, 0, -1):             # R_{t_first+i} maps C at time t_first+i-1 -> t_first+i
        R = np.asarray(Rs[i])
        d = np.abs(np.diag(R))
        diag_min = min(diag_min, float(d.min()))
        if d.min() == 0.0:
            raise ValueError(f"{what}: J_t is singular on the frame at step {t_first + i} (zero diagonal of R); "
                             "CLVs of the contracting directions are not defined (e.g. eps = 0 with a zero "
                             "residual eigenvalue); use a smaller k")
        U = solve_triangular(R, C, lower=False, check_finite=False)
        nrm = np.linalg.norm(U, axis=0)
        if not np.all(np.isfinite(nrm)) or np.any(nrm == 0):
            raise DivergenceError(f"{what}: the backward iteration overflowed at step {t_first + i}")
        C = U / nrm
        j = i - 1                                # window index of time t_first + i - 1
        if j < window:
            growth[j] = -np.log(nrm)
            Cw[j] = C
            if slot[j] >= 0:
                V[slot[j]] = np.asarray(V[slot[j]]) @ C
    # QR exponents over the steps t_first+1 .. t_first+window (the steps of the growth rates)
    log_r = np.log(np.abs(np.diagonal(np.asarray(Rs[1:window + 1]), axis1=1, axis2=2)))
    gs = log_r.sum(axis=0) / window
    angles = _angles(Cw, k)
    if isinstance(V, np.memmap):
        V.flush()
    return V, growth, gs, angles


def _angles(Cw, k):
    """Minimum principal angles between span(c_1..c_j) and span(c_{j+1}..c_k), j = 1..k-1, for every time.

    With P = C[:, ::-1] = Qp Rp (QR), the first m columns of Qp span the last m CLVs; the sine of the minimum
    angle between span(e_1..e_j) and that span is the smallest singular value of Qp[j:, :m], m = k - j."""
    W = Cw.shape[0]
    out = np.zeros((W, max(k - 1, 0)))
    if k < 2:
        return out
    for s in range(0, W, ANGLE_BLOCK):
        P = np.asarray(Cw[s:s + ANGLE_BLOCK])[:, :, ::-1]
        Qp, _ = np.linalg.qr(P)
        for j in range(1, k):
            m = k - j
            sv = np.linalg.svd(Qp[:, j:, :m], compute_uv=False)
            out[s:s + P.shape[0], j - 1] = np.arcsin(np.clip(sv[:, -1], 0.0, 1.0))
    return out


def _settings_seed(seed):
    return seed if (seed is None or isinstance(seed, (int, np.integer))) else "generator"





# ---------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------

def _net_tangent(net, X, h0, washout):
    """tangent_at(t, Q) = J_t Q for t = washout+1, ... through public model methods: states from
    ``net.states`` in chunks, J_t Q = dR(h_{t-1}) Q + eps diag(phi'(a_t)) W Q."""
    from .models import activation_derivative
    N = net.n_hidden
    W = np.asarray(net.W, dtype=np.float64)
    U = np.asarray(net.U, dtype=np.float64)
    b = np.asarray(net.b, dtype=np.float64)
    eps = float(net.coupling)
    T = X.shape[0]
    state = {"t0": 0, "H": h0[None].astype(np.float64), "dphi": None}   # H[i] = h_{t0 + i}

    def load(t):
        # make h_{t-1} and phi'(a_t) available; chunks start at t0 (states h_{t0}..h_{t0+L})
        t_start = t - 1
        L = min(STATE_CHUNK, T - t_start)
        hs = state["H"][t_start - state["t0"]]
        Hc = np.asarray(net.states(X[t_start:t_start + L], h0=hs), dtype=np.float64)
        H = np.vstack([hs[None], Hc])
        A = H[:-1] @ W.T + X[t_start:t_start + L] @ U.T + b
        state.update(t0=t_start, H=H, dphi=activation_derivative(A, net.activation))

    if washout:
        hw = np.asarray(net.states(X[:washout], h0=h0), dtype=np.float64)[-1]
        state.update(t0=washout, H=hw[None])

    Rm = net.residual.matrix() if net.residual.is_linear else None     # dense: skips per-call validation

    def tangent_at(t, Q):
        i = t - 1 - state["t0"]
        if state["dphi"] is None or i >= state["dphi"].shape[0] or i < 0:
            load(t)
            i = t - 1 - state["t0"]
        dR = Rm @ Q if Rm is not None else net.residual.jvp(state["H"][i], Q)
        return dR + eps * state["dphi"][i][:, None] * (W @ Q)

    return tangent_at


def _net_input(net, X, T):
    from ._validate import check_net as _check_net
    _check_net(net)
    if X is None:
        if T is None:
            raise ValueError("give an input X of shape (T, d), or X=None together with T (autonomous run)")
        T = check_int(T, "T", minimum=1)
        return np.zeros((T, net.n_in))
    if T is not None:
        raise ValueError("give either X or T (T is only for autonomous runs with X=None)")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be one input sequence of shape (T, d), got shape {X.shape}")
    X = as_array(X, "X", shape=(None, net.n_in))
    if X.shape[0] < 1:
        raise ValueError("X must have at least one time step")
    return X


def covariant_lyapunov_vectors(net, X=None, k=None, *, washout=0, burn_in=100, window=None, burn_out=100,
                               times=None, seed=0, T=None, h0=None, store="auto", store_dir=None,
                               max_memory_mb=1024.0):
    """Covariant Lyapunov vectors of a WCRNN or Elman network driven by one input sequence (Ginelli's method).

    Phases over the steps t = 1..T: ``washout`` state-only steps; ``burn_in`` steps in which the QR frame
    aligns; the ``window`` (times t = washout + burn_in + 1 .. washout + burn_in + window) where CLVs, their
    growth rates and angles are returned; ``burn_out`` further steps that only serve the backward iteration.
    J_t Q is formed through public model methods (``net.states``, ``net.residual.matrix`` / ``jvp``, ``net.W``).

    Parameters
    ----------
    net : WCRNN or Elman.
    X : (T, d) one input sequence, or None for an autonomous run of ``T`` steps with zero input.
    k : number of leading CLVs, 1..N (default None = N).  The leading k CLVs need only the leading k
        Gram-Schmidt vectors, so k << N is cheap.
    washout : state-only steps first (default 0).
    burn_in : forward alignment steps (default 100); the Gram-Schmidt frame converges at rate
        exp(-(lambda_j - lambda_{j+1}) burn_in).
    window : number of window times (default None = T - washout - burn_in - burn_out).
    burn_out : steps after the window for the backward iteration, >= 1 (default 100); the CLV
        coefficients converge at rate exp(-(lambda_j - lambda_{j+1}) burn_out).
    times : step indices (ints, within the window) at which the vectors are returned (default: every window
        time).  Growth rates and angles are always returned for every window time.
    seed : None, int or Generator for the initial frame (as :func:`wcrnn_dyn.lyapunov.initial_frame`) and the
        generic upper-triangular start of the backward iteration (default 0).
    T : only with X=None.  h0 : initial state (N,) (default zeros).
    store : "auto" (default: "disk" when the stored arrays exceed ``max_memory_mb``), "memory" or "disk".
    store_dir : directory for the temporary files (default: the system's temporary directory).
    max_memory_mb : threshold for ``store="auto"`` (default 1024).

    Returns
    -------
    CLVResult (vectors (n_times, N, k), times, window_times, growth_rates (window, k), exponents,
    gs_exponents, angles (window, k - 1), settings).

    Raises
    ------
    TypeError for a non-network or non-int times; ValueError for bad arguments (k outside 1..N, phases
    longer than T, times outside the window, a batch X, unknown store) and when J_t is singular on the
    frame (a zero diagonal entry of R: the CLVs of exactly contracted directions are undefined);
    models.DivergenceError when the state or frame becomes non-finite.

    Notes
    -----
    Cost: per step one tangent product (N^2 k for the W Q product plus the residual's product), a thin
    Householder QR (~4 N k^2); backward pass one k x k triangular solve per step and N k^2 per returned
    time; angles O(k^4) per window time (batched SVDs).  A NumPy loop with single-threaded BLAS: measured
    0.26 ms per step at N = 64, k = 16 and 0.17 ms at N = 128, k = 8 (2000 steps, shared 2-core machine).
    Memory: k^2 (window + burn_out) + window (k^2 + k) floats for the triangular factors, coefficients and
    growth rates, plus n k len(times) for the vectors (default: every window time), i.e. about
    8 (k^2 (2 window + burn_out) + n k n_times) bytes; with ``store="disk"`` (or "auto" above
    ``max_memory_mb``) these arrays are memory-mapped temporary files (unlinked at once), and resident
    memory is O(window k) for growth rates and angles plus O(1024 n + 4096 k^2) working buffers (state
    chunks, angle blocks) and the operating system's page cache.

    References
    ----------
    F. Ginelli, P. Poggi, A. Turchi, H. Chate, R. Livi, A. Politi, Characterizing dynamics with covariant
    Lyapunov vectors, Phys. Rev. Lett. 99, 130601 (2007).
    """
    autonomous = X is None
    X = _net_input(net, X, T)
    Tn = X.shape[0]
    N = net.n_hidden
    k = N if k is None else check_int(k, "k", minimum=1, maximum=N)
    washout, burn_in, window, burn_out = _phases(Tn, washout, burn_in, window, burn_out)
    h0 = np.zeros(N) if h0 is None else as_array(h0, "h0", shape=(N,))
    t_first = washout + burn_in + 1
    times = _check_times(times, t_first, window)
    nbytes = 8 * (k * k * (2 * window + burn_out) + N * k * len(times))
    on_disk = _check_store(store, store_dir, nbytes, max_memory_mb)
    tangent_at = _net_tangent(net, X, h0, washout)
    V, growth, gs, angles = _ginelli(tangent_at, N, k, washout, burn_in, window, burn_out, times, seed, on_disk,
                                     store_dir, "covariant_lyapunov_vectors")
    settings = {"method": "ginelli", "model": net.kind, "n_hidden": N, "k": k, "T": Tn, "washout": washout,
                "burn_in": burn_in, "window": window, "burn_out": burn_out, "seed": _settings_seed(seed),
                "autonomous": autonomous, "store": "disk" if on_disk else "memory", "stored_bytes": nbytes,
                "units": "nats per step", "eps": float(net.coupling),
                "residual": getattr(net.residual, "family", "?")}
    return CLVResult(vectors=V, times=times, window_times=np.arange(t_first, t_first + window),
                     growth_rates=growth, exponents=growth.mean(axis=0), gs_exponents=gs, angles=angles,
                     settings=settings)




def covariant_lyapunov_vectors_map(step, tangent, x0, n_steps, k=None, *, washout=0, burn_in=100, window=None,
                                   burn_out=100, times=None, seed=0, store="auto", store_dir=None,
                                   max_memory_mb=1024.0):
    """Covariant Lyapunov vectors of a user map x_{t+1} = step(x_t) (Ginelli's method).

    Same phases, result and storage as :func:`covariant_lyapunov_vectors`, with x_0 = ``x0`` and step
    indices t = 1..``n_steps`` (the tangent space at x_t).

    Parameters
    ----------
    step : callable x (n,) -> x_next (n,).
    tangent : callable (x (n,), Q (n, k)) -> J(x) Q (n, k), J the Jacobian of ``step`` at x (as for
        :func:`wcrnn_dyn.lyapunov.lyapunov_spectrum_map`; for a dense Jacobian use ``lambda x, Q: jac(x) @ Q``).
    x0 : initial state (n,).  n_steps : total number of steps T.
    k, washout, burn_in, window, burn_out, times, seed, store, store_dir, max_memory_mb : as in
        :func:`covariant_lyapunov_vectors`.

    Returns
    -------
    CLVResult.

    Raises
    ------
    TypeError for non-callables; ValueError for bad arguments, wrong shapes returned by the callables or a
    singular Jacobian on the frame; models.DivergenceError when the state or the frame becomes non-finite.

    Notes
    -----
    Cost: ``n_steps`` calls of ``step``, washout fewer of ``tangent``, a thin QR of n x k per step and
    a k x k triangular solve per step backwards.
    Memory: k^2 (window + burn_out) + window (k^2 + k) floats for the triangular factors, coefficients and
    growth rates, plus n k len(times) for the vectors (default: every window time), i.e. about
    8 (k^2 (2 window + burn_out) + n k n_times) bytes; with ``store="disk"`` (or "auto" above
    ``max_memory_mb``) these arrays are memory-mapped temporary files (unlinked at once), and resident
    memory is O(window k) for growth rates and angles plus O(1024 n + 4096 k^2) working buffers (state
    chunks, angle blocks) and the operating system's page cache.

    References
    ----------
    F. Ginelli, P. Poggi, A. Turchi, H. Chate, R. Livi, A. Politi, Characterizing dynamics with covariant
    Lyapunov vectors, Phys. Rev. Lett. 99, 130601 (2007).
    """
    from .models import DivergenceError
    if not callable(step) or not callable(tangent):
        raise TypeError("step and tangent must be callables: step(x) -> x_next, tangent(x, Q) -> J(x) Q")
    x = as_array(x0, "x0", ndim=1)
    n = x.shape[0]
    Tn = check_int(n_steps, "n_steps", minimum=1)
    k = n if k is None else check_int(k, "k", minimum=1, maximum=n)
    washout, burn_in, window, burn_out = _phases(Tn, washout, burn_in, window, burn_out)
    t_first = washout + burn_in + 1
    times = _check_times(times, t_first, window)
    nbytes = 8 * (k * k * (2 * window + burn_out) + n * k * len(times))
    on_disk = _check_store(store, store_dir, nbytes, max_memory_mb)
    what = "covariant_lyapunov_vectors_map"

    def advance(x, t):
        xn = np.asarray(step(x), dtype=float)
        if xn.shape != (n,):
            raise ValueError(f"step(x) must return an array of shape ({n},), got {xn.shape}")
        if not math.isfinite(float(xn.sum())):
            raise DivergenceError(f"{what}: the state became non-finite at step {t}")
        return xn

    for t in range(1, washout + 1):
        x = advance(x, t)
    cur = {"x": x}

    def tangent_at(t, Q):
        Y = tangent(cur["x"], Q)                 # J at x_{t-1}
        cur["x"] = advance(cur["x"], t)
        return Y

    V, growth, gs, angles = _ginelli(tangent_at, n, k, washout, burn_in, window, burn_out, times, seed, on_disk,
                                     store_dir, what)
    settings = {"method": "ginelli", "model": "map", "n": n, "k": k, "T": Tn, "washout": washout,
                "burn_in": burn_in, "window": window, "burn_out": burn_out, "seed": _settings_seed(seed),
                "store": "disk" if on_disk else "memory", "stored_bytes": nbytes, "units": "nats per step"}
    return CLVResult(vectors=V, times=times, window_times=np.arange(t_first, t_first + window),
                     growth_rates=growth, exponents=growth.mean(axis=0), gs_exponents=gs, angles=angles,
                     settings=settings)




# ---------------------------------------------------------------------------------------------------
# Finite-time exponents
# ---------------------------------------------------------------------------------------------------

@dataclass
class FiniteTimeResult:
    """Finite-time Lyapunov exponents over consecutive windows (nats per step).

    Attributes
    ----------
    exponents : (n_windows, k) for one sequence, (B, n_windows, k) for a batch: sum of log r_ii over each
        window / window, columns in the order of the global spectrum (sorted by each sequence's total).
    global_exponents : (k,) the mean over windows (and sequences): the ``lyapunov_spectrum`` estimate on the
        same steps.
    mean, std, skewness, excess_kurtosis : (k,) moments of the distribution of the finite-time exponents
        pooled over windows and sequences (std with ddof = 1; NaN with fewer than 2 / 3 / 4 windows, and the
        higher moments NaN when the spread is at rounding level, std <= 1e-12 (1 + |mean|)).
    timescales : same shape as ``exponents``: local time scales -1 / lambda (steps; inf where lambda >= 0).
    median_timescale : (k,) median of ``timescales`` over windows and sequences.
    window : window length in steps; n_windows : windows per sequence.
    settings : every setting used (``dropped_steps``: trailing steps shorter than a window, not used).
    """

    exponents: np.ndarray
    global_exponents: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    skewness: np.ndarray
    excess_kurtosis: np.ndarray
    timescales: np.ndarray
    median_timescale: np.ndarray
    window: int
    n_windows: int
    settings: dict = field(default_factory=dict)

    def pooled(self):
        """All finite-time exponents as rows.

        No parameters.

        Returns
        -------
        ndarray, shape (n_windows * B, k)
        """
        return self.exponents.reshape(-1, self.exponents.shape[-1])

    def plot(self, ax=None, **kw):
        """Histograms of the finite-time exponents.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_finite_time_exponents` (``indices``, ``bins``, ``title``).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_finite_time_exponents
        return plot_finite_time_exponents(self, ax=ax, **kw)[1]


def _moments(P):
    n = P.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = P.mean(axis=0)
        std = P.std(axis=0, ddof=1) if n > 1 else np.full(P.shape[1], np.nan)
        c = P - mean
        m2 = (c ** 2).mean(axis=0)
        skew = (c ** 3).mean(axis=0) / m2 ** 1.5 if n > 2 else np.full(P.shape[1], np.nan)
        kurt = (c ** 4).mean(axis=0) / m2 ** 2 - 3.0 if n > 3 else np.full(P.shape[1], np.nan)
    spread = np.sqrt(m2) > 1e-12 * (1.0 + np.abs(mean))     # otherwise rounding noise only
    skew = np.where(spread, skew, np.nan)
    kurt = np.where(spread, kurt, np.nan)
    return mean, std, skew, kurt


class _DropConvergenceWarning(logging.Filter):
    def filter(self, record):
        return not str(record.msg).startswith("Lyapunov spectrum not converged")


def finite_time_exponents(net, X, window, k=None, *, washout=0, burn_in=100, seed=0, h0=None, qr="householder",
                          n_threads=None):
    """Finite-time Lyapunov exponents of a network over consecutive windows of ``window`` steps.

    The QR method of :func:`wcrnn_dyn.lyapunov.lyapunov_spectrum` with the same phases (``washout``,
    ``burn_in``, one frame that keeps evolving across windows, ``qr_every = 1``); the accumulated steps
    are cut into n_windows = (T - washout - burn_in) // window windows (a shorter remainder at the end is not
    used) and the sum of log r_ii over each window is divided by ``window``.  The mean over the windows is
    exactly the global spectrum that :func:`lyapunov_spectrum` returns for the first
    washout + burn_in + n_windows * window steps with the same seed.

    Parameters
    ----------
    net : WCRNN or Elman.
    X : (T, d) one sequence or (B, T, d) a batch (each sequence its own run, same initial frame).
    window : window length in steps (>= 1).
    k : number of exponents (default None = N).
    washout, burn_in, seed, h0 : as in :func:`lyapunov_spectrum` (defaults 0, 100, 0, zeros).
    qr : QR method of :func:`lyapunov_spectrum` (default "householder").
    n_threads : as in :func:`lyapunov_spectrum`.

    Returns
    -------
    FiniteTimeResult: exponents (n_windows, k) or (B, n_windows, k), their moments pooled over windows and
    sequences, local time scales -1 / lambda.

    Raises
    ------
    ValueError when not even one window fits after washout + burn_in, and for the arguments
    :func:`lyapunov_spectrum` rejects; TypeError for a non-network; models.DivergenceError as there.

    Notes
    -----
    Cost: that of :func:`lyapunov_spectrum` on B sequences (one call per sequence) of
    washout + burn_in + n_windows * window steps; memory O(B n_windows k) for the result plus the engine's.
    Columns follow each sequence's global sort (descending total), not a per-window sort, so the windows of
    column i describe one Gram-Schmidt direction.
    """
    from ._validate import check_net as _check_net
    from .lyapunov import lyapunov_spectrum
    _check_net(net)
    window = check_int(window, "window", minimum=1)
    Xa = np.asarray(X) if X is not None else None
    if Xa is None or Xa.ndim not in (2, 3):
        raise ValueError("X must have shape (T, d) or (B, T, d)")
    single = Xa.ndim == 2
    Xb = Xa[None] if single else Xa
    Tn = Xb.shape[1]
    washout = check_int(washout, "washout", minimum=0)
    burn_in = check_int(burn_in, "burn_in", minimum=0)
    M = Tn - washout - burn_in
    n_w = M // window if M > 0 else 0
    if n_w < 1:
        raise ValueError(f"no window of {window} steps fits after washout + burn_in = {washout + burn_in} in "
                         f"T = {Tn} steps")
    T_used = washout + burn_in + n_w * window
    N = net.n_hidden
    k = N if k is None else check_int(k, "k", minimum=1, maximum=N)
    h0a = None if h0 is None else np.asarray(h0, dtype=float)
    out = np.zeros((Xb.shape[0], n_w, k))
    # the engine's convergence warning is about its global estimate; it means nothing here
    quiet = _DropConvergenceWarning()
    lyap_log = logging.getLogger("wcrnn_dyn.lyapunov")
    lyap_log.addFilter(quiet)
    try:
        for b in range(Xb.shape[0]):
            hb = None if h0a is None else (h0a if h0a.ndim == 1 else h0a[b])
            r = lyapunov_spectrum(net, Xb[b, :T_used], k=k, washout=washout, burn_in=burn_in, qr_every=1,
                                  seed=seed, h0=hb, qr=qr, history_points=n_w, tol=1e300, n_threads=n_threads)
            if r.block_log_r.shape[0] != n_w or not np.all(r.block_steps == window):
                raise RuntimeError("internal error: history blocks do not match the windows")  # pragma: no cover
            out[b] = r.block_log_r / window
    finally:
        lyap_log.removeFilter(quiet)
    P = out.reshape(-1, k)
    mean, std, skew, kurt = _moments(P)
    with np.errstate(divide="ignore"):
        tau = np.where(out < 0, -1.0 / np.where(out < 0, out, -1.0), np.inf)
    settings = {"model": net.kind, "n_hidden": N, "k": k, "T": Tn, "T_used": T_used, "dropped_steps": Tn - T_used,
                "washout": washout, "burn_in": burn_in, "window": window, "n_sequences": Xb.shape[0],
                "seed": _settings_seed(seed), "qr": qr, "units": "nats per step"}
    return FiniteTimeResult(exponents=out[0] if single else out, global_exponents=mean, mean=mean, std=std,
                            skewness=skew, excess_kurtosis=kurt, timescales=tau[0] if single else tau,
                            median_timescale=np.median(tau.reshape(-1, k), axis=0), window=window, n_windows=n_w,
                            settings=settings)
