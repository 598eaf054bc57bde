"""Fading-memory measures of WCRNN and Elman networks (docs/THEORY.md section 6).

* :func:`timescales`: memory timescales tau_i = -1 / LE_i from Lyapunov exponents (or log|eigenvalues|).
* :func:`input_sensitivity`: M(l) = E || dh_T / dx_{T-l} ||_F (or of the readout V h_T) for l = 0..max_lag,
  by one adjoint (backward) sweep per batch of sequences.
* :func:`perturbation_decay`: distance between trajectories started from slightly perturbed initial
  states, driven by the same input.
* :func:`memory_capacity`: linear memory capacity MC_l (Jaeger 2001) with a held-out (default) or
  in-sample score and a chi-squared bias threshold (Dambre et al. 2012).
* :func:`information_processing_capacity`: capacities for normalised Legendre polynomials of the input
  (Dambre et al. 2012); degree 1 is the linear memory capacity.

All functions take a network object from :mod:`wcrnn_dyn.models` (``WCRNN`` or ``Elman``) and never touch
global random state (``seed``: None, int or numpy Generator).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from . import threads as _threads
from ._kernels_memory import sensitivity_sweep
from ._validate import as_array, check_float, check_int, check_memory, check_n_threads, check_net, rng_from
from .plotting._base import compact_repr, plot_method

__all__ = ["timescales", "input_sensitivity", "SensitivityCurve", "perturbation_decay", "PerturbationDecay", "memory_capacity",
           "MemoryCapacity", "linear_memory_capacity", "information_processing_capacity",
           "InformationProcessingCapacity",
           "legendre_normalized", "capacity_threshold", "INPUT_DISTRIBUTIONS"]

log = logging.getLogger(__name__)

INPUT_DISTRIBUTIONS = ("uniform", "gaussian")
SCORINGS = ("heldout", "insample")

# Readout fits use Cholesky on the normal equations below this condition number of F^T F, else an SVD.
_CHOL_MAX_COND = 1e10
# Work-block limit for the sensitivity sweep: at most this many float64 per (rows x N) buffer.
_SWEEP_BLOCK_ELEMS = 1 << 22


def _check_net(net):
    return check_net(net)


# ----------------------------------------------------------------------------------------------------------
# Timescales
# ----------------------------------------------------------------------------------------------------------

def timescales(exponents):
    """Memory timescales tau_i = -1 / LE_i in steps, from Lyapunov exponents (natural log per step).

    Parameters
    ----------
    exponents : array_like
        Any shape (e.g. a Lyapunov spectrum, or log|eigenvalues| of a residual); -inf allowed.

    Returns
    -------
    ndarray of float, same shape as ``exponents``

    * LE < 0: tau = -1 / LE > 0 (mu = 0.99 -> LE = log 0.99 -> tau = 99.5 steps);
    * LE >= 0 (neutral or expanding directions): tau = +inf, the perturbation never decays;
    * LE = -inf (an exactly zero eigenvalue): tau = 0.

    Raises
    ------
    ValueError
        For NaN or +inf exponents (never returns NaN).

    Notes
    -----
    Cost O(size).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn.memory import timescales
    >>> timescales(np.log([0.99, 0.5]) ).round(2)
    array([99.5 ,  1.44])
    """
    le = as_array(exponents, "exponents", finite=False)
    if np.any(np.isnan(le)):
        raise ValueError("exponents contains NaN; timescales need finite exponents (or -inf)")
    if np.any(le == np.inf):
        raise ValueError("exponents contains +inf")
    tau = np.full(le.shape, np.inf)
    neg = le < 0
    with np.errstate(divide="ignore"):
        tau[neg] = -1.0 / le[neg]
    return tau


# ----------------------------------------------------------------------------------------------------------
# Input sensitivity (one adjoint sweep)
# ----------------------------------------------------------------------------------------------------------

def _forward_store(net, X, h0):
    X, single = net.check_inputs(X)
    h0 = net.check_h0(h0, X.shape[0])
    H, DP, GP = net.trajectory(X, h0, True)
    return X, single, H, DP, GP


class SensitivityCurve(np.ndarray):
    """The result of :func:`input_sensitivity`: a plain float ndarray (lags along the last axis) with
    :meth:`plot` and a compact repr; ``lags`` gives the lag of each column.

    Parameters
    ----------
    values : array_like
        The curve(s), lags along the last axis.
    readout : bool, default False
        Whether the readout's sensitivity was measured (kept as the attribute ``readout``).
    """

    def __new__(cls, values, readout=False):
        obj = np.asarray(values, dtype=float).view(cls)
        obj.readout = bool(readout)
        return obj

    def __array_finalize__(self, obj):
        self.readout = getattr(obj, "readout", False)

    @property
    def lags(self):
        """Lags 0..max_lag of the columns (int array)."""
        return np.arange(self.shape[-1]) if self.ndim else np.arange(0)

    def plot(self, ax=None, label=None, **kw):
        """M(l) against the lag on a log axis (one line per sequence, at most 8, for reduce="none").

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        label : str, optional
            Legend label.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_input_sensitivity` (``normalize``, ``reference_mu``,
            ``log``, ``title``).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_input_sensitivity
        a = np.asarray(self)
        if a.ndim == 1:
            curves = a if label is None else {label: a}
        else:
            curves = {f"{label + ' ' if label else ''}sequence {i}": a[i] for i in range(min(8, a.shape[0]))}
        return plot_method(plot_input_sensitivity, curves, ax=ax, **kw)

    def __repr__(self):
        if self.ndim != 1:
            return f"SensitivityCurve(<{self.shape[0]} curves of {self.shape[-1]} lags>, readout={self.readout})"
        a = np.asarray(self)
        return compact_repr("SensitivityCurve", max_lag=a.size - 1, lag0=a[0], last=a[-1], readout=self.readout)


def input_sensitivity(net, X, max_lag, readout=False, h0=None, reduce="mean"):
    """Input sensitivity curve M(l) = E || dh_T / dx_{T-l} ||_F for l = 0..max_lag (docs/THEORY.md section 6.2).

    Lag 0 is the last input x_T; lag l is x_{T-l}.  With ``readout=True`` the readout's sensitivity
    || d(V h_T) / dx_{T-l} ||_F is measured instead.  The expectation is the mean over the B sequences of
    ``X`` (``reduce="mean"``, returns (max_lag + 1,)); ``reduce="none"`` returns every sequence's curve,
    (B, max_lag + 1) (or (max_lag + 1,) for a single sequence (T, d)).

    Algorithm: one forward pass storing phi'(a_t) (and g'(z_t) for non-linear residuals), then ONE
    backward sweep: the N x d matrix dh_T/dx_{T-l} = (J_T ... J_{T-l+1}) eps diag(phi'(a_{T-l})) U is
    carried as N adjoint rows per sequence (n_out rows of V for the readout), all B sequences stacked into
    one (B*N, N) block and advanced by adjoint products J^T g (the BPTT product; see
    :mod:`wcrnn_dyn._kernels_memory`).  Cost O(max_lag * B * N^2 * (N + d)) for the state (n_out instead of
    the first N for the readout), plus the forward pass.  Computed in float64 whatever the network's dtype.

    For a WCRNN with residual Lambda the curve decays like |lambda|^l (exactly mu^l for Lambda = mu I,
    identity activation and eps -> 0).

    Parameters
    ----------
    net : WCRNN or Elman
        The network (any dtype; computed in float64).
    X : array_like, shape (T, d) or (B, T, d)
        Input sequence(s).
    max_lag : int
        Largest lag, 0 <= max_lag <= T - 1.
    readout : bool, default False
        Measure || d(V h_T) / dx_{T-l} ||_F instead of the state's sensitivity.
    h0 : array_like, optional
        Initial state(s), default zeros.
    reduce : {"mean", "none"}, default "mean"

    Returns
    -------
    SensitivityCurve
        Shape (max_lag + 1,) for "mean" or a single sequence, (B, max_lag + 1) for "none"; an ndarray with
        ``.plot()``.  Never NaN.

    Raises
    ------
    ValueError
        If max_lag > T - 1, or for bad arguments (named in the message).
    wcrnn_dyn.models.DivergenceError
        If the forward pass or the sweep overflows (supercritical networks over long lags).

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> from wcrnn_dyn import memory, residuals
    >>> net = wd.WCRNN(1, 8, 1, residual=residuals.scaled_identity(8, 0.9), eps=1e-6, activation="identity")
    >>> M = memory.input_sensitivity(net, np.zeros((30, 1)), max_lag=10)
    >>> round(float(M[10] / M[0]), 4), round(0.9 ** 10, 4)
    (0.3487, 0.3487)
    """
    from .models import DivergenceError
    _check_net(net)
    max_lag = check_int(max_lag, "max_lag", minimum=0)
    if not isinstance(reduce, str) or reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
    X, single, H, DP, GP = _forward_store(net, X, h0)
    B, T, d = X.shape
    if max_lag > T - 1:
        raise ValueError(f"max_lag must be <= T - 1 = {T - 1} (sequence length T = {T}), got {max_lag}")
    N = net.n_hidden
    DP = np.ascontiguousarray(DP, dtype=np.float64)
    GP = np.ascontiguousarray(GP, dtype=np.float64) if GP.shape[0] else np.zeros((0, B, N))
    ka = net.kernel_args(np.float64)
    W, U = ka.W, ka.U
    rk, rdiag, rblk, rdense, gcode, _ = ka.residual()
    rows0 = (np.ascontiguousarray(net.V, dtype=np.float64) if readout else np.eye(N))
    R = rows0.shape[0]
    chunk = max(1, _SWEEP_BLOCK_ELEMS // max(R * N, 1))
    out = np.empty((max_lag + 1, B))
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, B, chunk):
            e = min(B, s + chunk)
            G0 = np.ascontiguousarray(np.tile(rows0, (e - s, 1)))
            GPc = np.ascontiguousarray(GP[:, s:e]) if GP.shape[0] else np.zeros((0, e - s, N))
            out[:, s:e] = sensitivity_sweep(np.ascontiguousarray(DP[:, s:e]), GPc, W, U, ka.coupling,
                                            rk, rdiag, rblk, rdense, gcode, G0, max_lag)
    if not np.all(np.isfinite(out)):
        bad = int(np.argmax(~np.all(np.isfinite(out), axis=1)))
        raise DivergenceError(f"input sensitivity overflowed at lag {bad} (the backward products grow without "
                              "bound: supercritical network); use a smaller max_lag")
    curves = out.T
    if reduce == "mean":
        return SensitivityCurve(curves.mean(axis=0), readout)
    return SensitivityCurve(curves[0] if single else curves, readout)


# ----------------------------------------------------------------------------------------------------------
# Perturbation decay
# ----------------------------------------------------------------------------------------------------------

@dataclass
class PerturbationDecay:
    """Result of :func:`perturbation_decay`.

    Attributes
    ----------
    times : (T + 1,) steps 0..T (0 = the initial perturbation).
    distances : (B, n_perturb, T + 1) || h'_t - h_t || for every sequence and perturbation.
    log_distance : (T + 1,) mean of log distances over sequences and perturbations.
    distance : (T + 1,) exp(log_distance), the geometric mean distance.
    floor : (T + 1,) rounding floor 1e3 * machine-eps * (1 + mean ||h_t||): distances below it are noise.
    rate : slope of log_distance vs t fitted on the steps where every distance is above the floor
        (an estimate of the top Lyapunov exponent of the driven system while the perturbation stays small);
        NaN when fewer than 2 such steps exist.
    n_fit : number of steps in that fit.
    settings : delta, n_perturb, seed.
    """

    times: np.ndarray
    distances: np.ndarray
    log_distance: np.ndarray
    distance: np.ndarray
    floor: np.ndarray
    rate: float
    n_fit: int
    settings: dict = field(default_factory=dict)

    def plot(self, ax=None, **kw):
        """Geometric-mean distance against time with the rounding floor.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_perturbation_decay`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_perturbation_decay
        return plot_method(plot_perturbation_decay, self, ax=ax, **kw)

    def __repr__(self):
        return compact_repr("PerturbationDecay", T=int(self.times[-1]), rate=self.rate, n_fit=self.n_fit,
                            final_distance=float(self.distance[-1]), settings=self.settings)


def perturbation_decay(net, X, delta=1e-6, n_perturb=8, seed=0, h0=None):
    """Distance between trajectories from perturbed initial states, driven by the same input.

    For every sequence of ``X`` ((T, d) or (B, T, d)) the reference trajectory starts from ``h0`` (default
    0) and ``n_perturb`` others from h0 + delta * v with v random unit vectors (from ``seed``).  All
    B * (n_perturb + 1) trajectories run in one batched forward pass.  Returns :class:`PerturbationDecay`
    with the distances ||h'_t - h_t|| over t = 0..T, their geometric mean and a fitted log-decay rate.

    ``delta`` (default 1e-6) should stay far above rounding (~1e-16 |h| in float64; use ~1e-3 for
    float32 networks) and small enough for the linear regime.  Distances that reach the rounding floor
    stop decaying; they are excluded from the rate fit (see ``floor``).

    Parameters
    ----------
    net : WCRNN or Elman
        The network (any dtype; computed in float64).
    X : array_like, shape (T, d) or (B, T, d)
    delta : float, default 1e-6
        Size of the initial perturbation (> 0).
    n_perturb : int, default 8
        Perturbed trajectories per sequence.
    seed : None, int or numpy.random.Generator, default 0
        Source of the perturbation directions.
    h0 : array_like, optional
        Reference initial state(s), default zeros.

    Returns
    -------
    PerturbationDecay
        ``rate`` is NaN when fewer than 2 steps lie above the rounding floor (nothing to fit).

    Raises
    ------
    ValueError
        For bad arguments (named in the message).
    wcrnn_dyn.models.DivergenceError
        If a trajectory overflows.

    Notes
    -----
    Cost: (n_perturb + 1) forward passes, memory B * (n_perturb + 1) * T * N.

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 8, 1, residual=wd.residuals.scaled_identity(8, 0.9), eps=0.0)
    >>> pd = wd.memory.perturbation_decay(net, np.zeros((40, 1)))
    >>> round(pd.rate, 4), round(float(np.log(0.9)), 4)
    (-0.1054, -0.1054)
    """
    _check_net(net)
    delta = check_float(delta, "delta", minimum=0.0, strict_min=True)
    n_perturb = check_int(n_perturb, "n_perturb", minimum=1)
    X, single = net.check_inputs(X)
    B, T, d = X.shape
    N = net.n_hidden
    check_memory(4 * B * (n_perturb + 1) * (T + 1) * N, f"n_perturb x X ({n_perturb} perturbations of {B} "
                 f"sequences of {T} steps, N = {N}: the stored trajectories)")
    h0 = net.check_h0(h0, B).astype(np.float64)
    rng = rng_from(seed)
    P = n_perturb
    v = rng.standard_normal((B, P, N))
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    starts = np.concatenate([h0[:, None, :], h0[:, None, :] + delta * v], axis=1)  # (B, P+1, N)
    Xr = np.repeat(X, P + 1, axis=0)
    Hs = net.states(Xr, h0=starts.reshape(B * (P + 1), N)).astype(np.float64).reshape(B, P + 1, T, N)
    diff = Hs[:, 1:] - Hs[:, :1]
    dist = np.empty((B, P, T + 1))
    dist[:, :, 0] = np.linalg.norm(starts[:, 1:] - starts[:, :1], axis=2)
    dist[:, :, 1:] = np.linalg.norm(diff, axis=3)
    with np.errstate(divide="ignore"):
        logd = np.log(dist)
    logmean = logd.mean(axis=(0, 1))
    hnorm = np.concatenate([[np.linalg.norm(h0, axis=1).mean()], np.linalg.norm(Hs[:, 0], axis=2).mean(axis=0)])
    floor = 1e3 * np.finfo(net.dtype).eps * (1.0 + hnorm)
    ok = np.all(dist > floor[None, None, :], axis=(0, 1))
    # fit only the leading run of valid steps (once at the floor, later steps are rounding noise)
    n_ok = int(np.argmin(ok)) if not ok.all() else T + 1
    t = np.arange(T + 1, dtype=float)
    if n_ok >= 2:
        rate = float(np.polyfit(t[:n_ok], logmean[:n_ok], 1)[0])
    else:
        rate = float("nan")
    return PerturbationDecay(times=np.arange(T + 1), distances=dist, log_distance=logmean,
                             distance=np.exp(logmean), floor=floor, rate=rate, n_fit=n_ok,
                             settings={"delta": delta, "n_perturb": P, "seed": seed if not isinstance(
                                 seed, np.random.Generator) else "generator", "n_sequences": B, "T": T})


# ----------------------------------------------------------------------------------------------------------
# Memory capacity and information processing capacity
# ----------------------------------------------------------------------------------------------------------

def capacity_threshold(n_score, df=1, p=1e-4):
    """Finite-sample bias threshold for capacities: chi2.isf(p, df) / n_score (= chi2.ppf(1 - p, df) / n_score).

    Under the null hypothesis (target independent of the states) a held-out squared correlation scored on
    ``n_score`` steps satisfies n_score * r^2 ~ chi^2 with 1 degree of freedom (the i.i.d. target makes
    r ~ N(0, 1 / n_score) whatever the readout), and an in-sample R^2 with N regressors satisfies
    n_score * R^2 ~ chi^2_N (Dambre et al. 2012, their threshold).  Capacities below the returned value
    are indistinguishable from zero at level ``p`` and are set to zero.  The upper quantile is computed
    with the survival function, so tiny ``p`` (down to the smallest float) gives a finite threshold.

    Parameters
    ----------
    n_score : int
        Number of scored steps (>= 1).
    df : int, default 1
        Degrees of freedom (1 for held-out scoring, N for in-sample).
    p : float, default 1e-4
        Level, 0 < p <= 1.

    Returns
    -------
    float

    References
    ----------
    J. Dambre, D. Verstraeten, B. Schrauwen, S. Massar, "Information processing capacity of dynamical
    systems", Scientific Reports 2, 514 (2012).

    Examples
    --------
    >>> from wcrnn_dyn.memory import capacity_threshold
    >>> round(capacity_threshold(1000, p=1e-4), 5)
    0.01514
    >>> capacity_threshold(1000, p=1e-300) < 1.5
    True
    """
    from scipy.stats import chi2
    n_score = check_int(n_score, "n_score", minimum=1)
    df = check_int(df, "df", minimum=1)
    p = check_float(p, "p", minimum=0.0, maximum=1.0, strict_min=True)
    return float(chi2.isf(p, df) / n_score)


def _default_washout(net, max_lag):
    """max(max_lag, 100, min(2000, ceil(10 tau))), tau = -1/log(rho) of the effective matrix's spectral radius."""
    try:
        from .spectral import effective_spectral_radius
        rho = effective_spectral_radius(net)
    except Exception:  # pragma: no cover - any failure falls back to the cap
        rho = 1.0
    if rho <= 0:
        tau = 0.0
    elif rho >= 1:
        tau = np.inf
    else:
        tau = -1.0 / np.log(rho)
    w = 2000 if not np.isfinite(tau) else min(2000, int(math.ceil(10 * tau)))
    return int(max(max_lag, 100, w))


def _draw_inputs(rng, n, dist):
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, n)
    return rng.standard_normal(n)


def _drive(net, u, input_scale, input_channel):
    """States (n_total, N) in float64 for the scalar input u on channel ``input_channel`` (others 0)."""
    X = np.zeros((1, u.shape[0], net.n_in), dtype=net.dtype)
    X[0, :, input_channel] = input_scale * u
    return np.asarray(net.states(X)[0], dtype=np.float64)


def _fit_score(F, Y, n_train, ridge, scoring):
    """Per-column capacity of targets Y (n, k) from features F (n, N) with an intercept.

    heldout: fit rows [0, n_train), score squared correlation on rows [n_train, n).
    insample: fit and score R^2 = 1 - SSE / SST on all rows.
    """
    if scoring == "insample":
        Ff, Yf = F, Y
    else:
        Ff, Yf = F[:n_train], Y[:n_train]
    fm = Ff.mean(axis=0)
    ym = Yf.mean(axis=0)
    Fc = Ff - fm
    Yc = Yf - ym
    # scale features to unit RMS for conditioning (does not change the least-squares fit)
    sc = np.sqrt(np.mean(Fc * Fc, axis=0))
    sc[sc == 0] = 1.0
    Fs = Fc / sc
    G = Fs.T @ Fs + ridge * np.eye(Fs.shape[1])
    w = None
    if np.linalg.cond(G) < _CHOL_MAX_COND:
        # well conditioned: normal equations by Cholesky (a few ms); relative error ~ cond * eps < 1e-6
        from scipy.linalg import cho_factor, cho_solve
        try:
            w = cho_solve(cho_factor(G, check_finite=False), Fs.T @ Yc, check_finite=False)
        except np.linalg.LinAlgError:  # pragma: no cover - cond() said it is fine
            w = None
    if w is None and ridge > 0:
        w = np.linalg.solve(G, Fs.T @ Yc)
    elif w is None:
        # ill conditioned (e.g. linear reservoirs: Krylov states): minimum-norm least squares by a thin SVD
        # of the states themselves (condition number not squared; numpy.linalg.lstsq's cutoff)
        Us, sv, Vt = np.linalg.svd(Fs, full_matrices=False)
        keep = sv > np.finfo(np.float64).eps * max(Fs.shape) * (sv[0] if sv.size else 0.0)
        w = Vt[keep].T @ ((Us[:, keep].T @ Yc) / sv[keep][:, None])
    if scoring == "insample":
        resid = Yc - Fs @ w
        sst = np.sum(Yc * Yc, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = 1.0 - np.sum(resid * resid, axis=0) / sst
        cap[sst == 0] = 0.0
        return np.clip(cap, 0.0, 1.0)
    Ft = (F[n_train:] - fm) / sc
    P = Ft @ w
    Yt = Y[n_train:]
    Pc = P - P.mean(axis=0)
    Tc = Yt - Yt.mean(axis=0)
    num = np.sum(Pc * Tc, axis=0)
    den = np.sum(Pc * Pc, axis=0) * np.sum(Tc * Tc, axis=0)
    cap = np.zeros(Y.shape[1])
    good = den > 0
    cap[good] = num[good] ** 2 / den[good]
    return np.clip(cap, 0.0, 1.0)


def _capacity_setup(net, max_lag, n_steps, washout, train_fraction, ridge, scoring, input_scale, input_channel,
                    threshold, threshold_p):
    _check_net(net)
    max_lag = check_int(max_lag, "max_lag", minimum=0)
    n_steps = check_int(n_steps, "n_steps", minimum=2)
    if max_lag >= n_steps:
        raise ValueError(f"max_lag must be < n_steps, got max_lag = {max_lag} >= n_steps = {n_steps}")
    if washout is None:
        washout = _default_washout(net, max_lag)
    washout = check_int(washout, "washout", minimum=0)
    washout = max(washout, max_lag)
    train_fraction = check_float(train_fraction, "train_fraction", minimum=0.0, maximum=1.0, strict_min=True)
    ridge = check_float(ridge, "ridge", minimum=0.0)
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    input_scale = check_float(input_scale, "input_scale")
    input_channel = check_int(input_channel, "input_channel", minimum=0, maximum=net.n_in - 1)
    threshold_p = check_float(threshold_p, "threshold_p", minimum=0.0, maximum=1.0, strict_min=True)
    if not isinstance(threshold, (bool, np.bool_)):
        threshold = check_float(threshold, "threshold", minimum=0.0)
    N = net.n_hidden
    check_memory((washout + n_steps) * (2 * N + max_lag + 4), f"n_steps / washout / max_lag ({n_steps} / {washout} / "
                 f"{max_lag}: states, features and lagged targets)")
    if scoring == "heldout":
        n_train = int(round(train_fraction * n_steps))
        n_score = n_steps - n_train
        if n_train < N + 2:
            raise ValueError(f"too few training steps: train_fraction * n_steps = {n_train} must be >= N + 2 = "
                             f"{N + 2} to fit a readout of N = {N} units; increase n_steps")
        if n_score < 10:
            raise ValueError(f"too few held-out steps: {n_score} (need >= 10); increase n_steps or lower "
                             "train_fraction")
    else:
        n_train = n_steps
        n_score = n_steps
        if n_steps < N + 2:
            raise ValueError(f"n_steps = {n_steps} must be >= N + 2 = {N + 2} for scoring='insample'")
    if isinstance(threshold, (bool, np.bool_)):
        if threshold:
            df = 1 if scoring == "heldout" else N
            thr = capacity_threshold(n_score, df=df, p=threshold_p)
        else:
            thr = 0.0
    else:
        thr = float(threshold)
    return dict(max_lag=max_lag, n_steps=n_steps, washout=washout, train_fraction=train_fraction, ridge=ridge,
                scoring=scoring, input_scale=input_scale, input_channel=input_channel, threshold=thr,
                threshold_p=threshold_p, n_train=n_train, n_score=n_score)


@dataclass
class MemoryCapacity:
    """Result of :func:`memory_capacity`.

    Attributes
    ----------
    lags : (max_lag + 1,) lags 0..max_lag.
    per_lag : (max_lag + 1,) MC_l after the bias threshold (values below ``threshold`` set to 0).
    raw : (max_lag + 1,) MC_l before thresholding.
    total : sum of ``per_lag`` (<= N up to sampling error).
    threshold : the threshold applied (0 when disabled).
    settings : every setting used (n_steps, washout, train_fraction, scoring, input distribution, ...).
    inputs : (washout + n_steps,) the scalar input series u (before ``input_scale``), for reuse.
    """

    lags: np.ndarray
    per_lag: np.ndarray
    raw: np.ndarray
    total: float
    threshold: float
    settings: dict
    inputs: np.ndarray = field(repr=False, default=None)

    def plot(self, ax=None, **kw):
        """Capacity profile MC_l against the lag.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_memory_capacity` (``raw=True`` adds the unthresholded
            values and the threshold).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_memory_capacity
        return plot_method(plot_memory_capacity, self, ax=ax, **kw)

    def __repr__(self):
        extra = {"hint": "see .settings['hint']"} if self.settings.get("hint") else {}
        return compact_repr("MemoryCapacity", total=self.total, max_lag=int(self.lags[-1]), threshold=self.threshold,
                            n_steps=self.settings.get("n_steps"), scoring=self.settings.get("scoring"), **extra)

    def to_dict(self):
        """JSON-able summary (without the input series).

        Returns
        -------
        dict
            lags, per_lag, raw, total, threshold, settings.
        """
        return {"lags": self.lags.tolist(), "per_lag": self.per_lag.tolist(), "raw": self.raw.tolist(),
                "total": self.total, "threshold": self.threshold, "settings": dict(self.settings)}


def _zero_capacity_hint(net, cfg):
    """Why no lag passed the bias threshold, for ``settings["hint"]`` (one spectral radius, O(N^3) or ARPACK)."""
    from .spectral import effective_spectral_radius
    try:
        rho = effective_spectral_radius(net)
    except Exception:  # pragma: no cover - ARPACK failures: no hint rather than an error
        rho = float("nan")
    if rho > 1.0:
        return (f"MC = 0 because no lag passed the bias threshold {cfg['threshold']:.3g}: the network linearised at "
                f"h = 0 has spectral radius rho(Lambda + eps W) = {rho:.4g} > 1, so its state follows its own "
                "(possibly chaotic) dynamics and forgets the input; use a subcritical residual (mu < 1), a smaller "
                "eps or smaller W (w_scale)")
    return (f"MC = 0 because no lag passed the bias threshold {cfg['threshold']:.3g} (rho(Lambda + eps W) = "
            f"{rho:.4g}): the input may be too weak for the state (input_scale, U) or n_steps too small")


#: Readout fits below this many multiply-adds (n_steps x N^2) use one BLAS thread by default (measured).
_MT_FIT_FLOPS = 2e9


def memory_capacity(net, max_lag, n_steps=5000, seed=0, washout=None, train_fraction=0.5, threshold=True,
                    input_dist="uniform", input_scale=1.0, input_channel=0, ridge=0.0, scoring="heldout",
                    threshold_p=1e-4, n_threads=None):
    """Linear memory capacity MC_l for lags l = 0..max_lag (Jaeger 2001; docs/THEORY.md section 6.4).

    Input: an i.i.d. scalar series u_t, ``input_dist`` "uniform" on [-1, 1] (default) or "gaussian"
    N(0, 1), multiplied by ``input_scale`` and fed to channel ``input_channel`` (default 0) of the network;
    the other input channels (n_in > 1) are held at 0.  The network runs from h_0 = 0 for
    ``washout + n_steps`` steps (one ``net.states`` call); the first ``washout`` states are discarded
    (default: max(max_lag, 100, min(2000, 10 tau)) with tau = -1/log rho(Lambda + eps W); any value is raised
    to at least max_lag so every target exists).

    Readout: for all lags at once, ONE least-squares solve with max_lag + 1 right-hand sides, with an
    intercept (centred features and targets) and optional ridge penalty ``ridge`` on the unit-RMS-scaled
    features: Cholesky on the normal equations when cond(F^T F) < 1e10 (relative error < 1e-6),
    otherwise a thin SVD of the scaled states (minimum-norm solution, singular values below
    max(n, N) * machine eps * s_max dropped), which keeps ill-conditioned linear reservoirs accurate.
    ``scoring="heldout"`` (default): fit on the first ``train_fraction`` of the n_steps states,
    MC_l = squared correlation between readout and u_{t-l} on the remaining steps.  ``scoring="insample"``:
    MC_l = R^2 of the fit on all n_steps (Dambre et al. 2012's estimator).

    Bias threshold (``threshold=True``): MC_l < chi2.ppf(1 - threshold_p, df) / n_score is set to 0, with
    df = 1 for held-out scoring (n_score = held-out steps) and df = N for in-sample scoring
    (n_score = n_steps; Dambre et al.'s formula), see :func:`capacity_threshold`; a float sets the threshold
    directly, False disables it.

    Returns :class:`MemoryCapacity` (``.per_lag``, ``.total``, ``.raw``, ``.settings``).  Exact oracles:
    a single linear unit h_t = r h_{t-1} + u_t has MC_l = (1 - r^2) r^(2l); a linear network with full-rank
    normal residual has total MC -> N.  Cost: one forward pass O((washout + n_steps) N^2) plus one least
    squares O(n_steps N (N + max_lag)).  Raises ValueError for max_lag >= n_steps or too few steps for the
    fit; models.DivergenceError if the network diverges.  Never NaN: a constant readout scores 0.  When no
    lag passes the threshold (total 0), ``settings["hint"]`` says why (e.g. the default ``WCRNN(1, 32, 1)``
    linearises to a spectral radius 1.04 > 1: its state forgets the input).
    The forward pass of one sequence is single-threaded.

    Parameters
    ----------
    net : WCRNN or Elman
        The network (any dtype; computed in float64).
    max_lag : int
        Largest lag (< n_steps).
    n_steps : int, default 5000
        Scored steps after the washout.
    seed : None, int or numpy.random.Generator, default 0
        Source of the input series.
    washout : int, optional
        Discarded initial steps (default as above).
    train_fraction : float, default 0.5
        Share of the steps used to fit the readout (held-out scoring).
    threshold : bool or float, default True
        True: the chi-squared bias threshold; a float: that threshold; False: none.
    input_dist : {"uniform", "gaussian"}, default "uniform"
    input_scale : float, default 1.0
    input_channel : int, default 0
    ridge : float, default 0.0
        Ridge penalty on the unit-RMS-scaled features.
    scoring : {"heldout", "insample"}, default "heldout"
    threshold_p : float, default 1e-4
        Level of the bias threshold.
    n_threads : int, optional
        BLAS threads for the readout fit.  Default None: one thread for fits under ~2 GFLOP (n_steps x N^2;
        measured on the idle 2-core machine: two threads made an N = 200, 8,000-step fit 2.2x slower), else
        :func:`wcrnn_dyn.threads.default_threads` (fewer when other programs hold CPUs).

    Returns
    -------
    MemoryCapacity
        Never NaN (a constant readout scores 0).

    Raises
    ------
    ValueError
        For max_lag >= n_steps, too few steps for the fit, or bad arguments (named in the message).
    wcrnn_dyn.models.DivergenceError
        If the network diverges.

    References
    ----------
    H. Jaeger, "Short term memory in echo state networks", GMD Report 152 (2001); Dambre et al.,
    Scientific Reports 2, 514 (2012).

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 16, 1, residual=wd.residuals.rotational(16, 0.9), eps=0.1, seed=0)
    >>> mc = wd.memory.memory_capacity(net, max_lag=20, n_steps=2000)
    >>> 1.0 < mc.total <= 16, mc.per_lag.shape
    (True, (21,))
    """
    n_threads = check_n_threads(n_threads)
    cfg = _capacity_setup(net, max_lag, n_steps, washout, train_fraction, ridge, scoring, input_scale,
                          input_channel, threshold, threshold_p)
    if input_dist not in INPUT_DISTRIBUTIONS:
        raise ValueError(f"input_dist must be one of {INPUT_DISTRIBUTIONS}, got {input_dist!r}")
    rng = rng_from(seed)
    w, n = cfg["washout"], cfg["n_steps"]
    u = _draw_inputs(rng, w + n, input_dist)
    H = _drive(net, u, cfg["input_scale"], cfg["input_channel"])
    F = H[w:]
    L = cfg["max_lag"]
    idx = np.arange(w, w + n)[:, None] - np.arange(L + 1)[None, :]
    Y = u[idx]
    if n_threads is None:  # small fits: thread start-up and synchronisation cost more than they save
        n_threads = 1 if F.shape[0] * F.shape[1] ** 2 < _MT_FIT_FLOPS else _threads.default_threads()
    with _threads.blas_threads(n_threads):
        raw = _fit_score(F, Y, cfg["n_train"], cfg["ridge"], cfg["scoring"])
    per = np.where(raw >= cfg["threshold"], raw, 0.0)
    settings = dict(cfg, input_dist=input_dist, seed=seed if not isinstance(seed, np.random.Generator)
                    else "generator", n_hidden=net.n_hidden)
    if not np.any(per > 0):
        settings["hint"] = _zero_capacity_hint(net, cfg)
        log.info("memory_capacity: %s", settings["hint"])
    return MemoryCapacity(lags=np.arange(L + 1), per_lag=per, raw=raw, total=float(per.sum()),
                          threshold=cfg["threshold"], settings=settings, inputs=u)


def linear_memory_capacity(net, max_lag, input_channel=0, tail_tol=1e-18, max_terms=200000):
    """Exact (infinite-data) linear memory capacity of a LINEAR network, for lags l = 0..max_lag.

    For identity activation and a linear residual the state is h_t = A h_{t-1} + c u_t + const, with
    A = Lambda + eps W and c = eps U[:, input_channel].  For i.i.d. input of any distribution,
    cov(h_t, u_{t-l}) = A^l c var(u) and cov(h_t) = var(u) L L^T with the Krylov matrix
    L = [c, A c, A^2 c, ...] (N x K), so the best linear readout gives

        MC_l = (A^l c)^T (L L^T)^+ (A^l c) = || Q^T e_l ||^2,      L = P S Q^T (thin SVD),

    i.e. the leverage score of column l of L; the sum over all l is rank(L) <= N.  Working with L rather than
    the covariance L L^T keeps the condition number unsquared: singular values below
    max(N, K) * machine eps * s_max are dropped, exactly the cutoff a least-squares readout has in float64.
    Columns are added until ||A^k c|| < ``tail_tol`` * max_k ||A^k c|| (at most ``max_terms``).
    This is the oracle for :func:`memory_capacity`'s estimate on linear networks.  Requires rho(A) < 1;
    raises ValueError otherwise, for non-linear networks, or if the tail has not decayed within
    ``max_terms`` columns.  Cost O(N^2 K) with K ~ log(tail_tol) / log rho(A).

    Parameters
    ----------
    net : WCRNN
        With identity activation and a linear residual.
    max_lag : int
        Largest lag (>= 0).
    input_channel : int, default 0
    tail_tol : float, default 1e-18
    max_terms : int, default 200000

    Returns
    -------
    ndarray, shape (max_lag + 1,)
        MC_l in [0, 1]; never NaN.

    Raises
    ------
    ValueError
        If rho(A) >= 1, the network is not linear, or the tail has not decayed within ``max_terms``.

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 1, 1, residual=wd.residuals.scaled_identity(1, 0.5), eps=1.0, activation="identity")
    >>> net.W[:] = 0.0
    >>> wd.memory.linear_memory_capacity(net, 3).round(4)      # (1 - r^2) r^(2 l), r = 0.5
    array([0.75  , 0.1875, 0.0469, 0.0117])
    """
    _check_net(net)
    max_lag = check_int(max_lag, "max_lag", minimum=0)
    input_channel = check_int(input_channel, "input_channel", minimum=0, maximum=net.n_in - 1)
    max_terms = check_int(max_terms, "max_terms", minimum=1)
    if max_lag >= max_terms:
        raise ValueError(f"max_lag must be < max_terms = {max_terms} (the Krylov columns computed), got {max_lag}")
    tail_tol = check_float(tail_tol, "tail_tol", minimum=0.0, strict_min=True)
    if net.activation != "identity" or not net.residual.is_linear:
        raise ValueError("net must be a linear network for linear_memory_capacity: identity activation and a "
                         f"linear residual (got activation {net.activation!r}, residual {net.residual.family!r})")
    eps = float(net.coupling)
    A = net.residual.matrix() + eps * np.asarray(net.W, dtype=np.float64)
    rho = float(np.max(np.abs(np.linalg.eigvals(A))))
    if rho >= 1:
        raise ValueError(f"linear_memory_capacity needs rho(Lambda + eps W) < 1, got {rho:.6g}")
    v = eps * np.asarray(net.U, dtype=np.float64)[:, input_channel]
    cols, vmax = [], 0.0
    while True:
        nv = float(np.linalg.norm(v))
        vmax = max(vmax, nv)
        if len(cols) > max_lag and (nv <= tail_tol * vmax or vmax == 0.0):
            break
        if len(cols) >= max_terms:
            raise ValueError(f"the Krylov tail ||A^k c|| has not decayed below {tail_tol:g} after {max_terms} terms "
                             f"(rho = {rho:.6g}); raise max_terms")
        cols.append(v)
        v = A @ v
    L = np.array(cols).T
    if vmax == 0.0:
        return np.zeros(max_lag + 1)
    _, sv, Qt = np.linalg.svd(L, full_matrices=False)
    keep = sv > sv[0] * max(L.shape) * np.finfo(np.float64).eps
    lev = np.sum(Qt[keep, :max_lag + 1] ** 2, axis=0)
    return np.clip(lev, 0.0, 1.0)


def legendre_normalized(u, degree):
    """Normalised Legendre polynomial sqrt(2k + 1) P_k(u) of ``degree`` k >= 0 at points u in [-1, 1].

    Orthonormal under the uniform distribution on [-1, 1]: E[P~_j(u) P~_k(u)] = delta_jk.  Three-term
    recurrence, O(k size).

    Parameters
    ----------
    u : array_like
        Points (any shape).
    degree : int
        k >= 0.

    Returns
    -------
    ndarray of float64, same shape as ``u``

    Examples
    --------
    >>> from wcrnn_dyn.memory import legendre_normalized
    >>> legendre_normalized([-1.0, 0.0, 1.0], 2).round(6).tolist()    # sqrt(5) (3 u^2 - 1) / 2
    [2.236068, -1.118034, 2.236068]
    """
    degree = check_int(degree, "degree", minimum=0)
    u = np.asarray(u, dtype=np.float64)
    p_prev = np.ones_like(u)
    if degree == 0:
        return p_prev
    p = u.copy()
    for k in range(1, degree):
        p_prev, p = p, ((2 * k + 1) * u * p - k * p_prev) / (k + 1)
    return np.sqrt(2 * degree + 1) * p


@dataclass
class InformationProcessingCapacity:
    """Result of :func:`information_processing_capacity`.

    Attributes
    ----------
    lags : (max_lag + 1,).
    by_degree : {k: (max_lag + 1,)} capacity of the target P~_k(u_{t-l}) per lag (thresholded).
    cross_pairs : (P, 2) lag pairs (l1 < l2) of the degree-2 cross terms P~_1(u_{t-l1}) P~_1(u_{t-l2})
        (empty when ``cross_terms`` is False); cross : (P,) their capacities.
    total_by_degree : {k: float} sum per degree (degree 2 includes the cross terms).
    total : sum over everything (<= N up to sampling error).
    raw_by_degree, raw_cross : the same before thresholding.  threshold, settings as in MemoryCapacity.
    """

    lags: np.ndarray
    by_degree: dict
    cross_pairs: np.ndarray
    cross: np.ndarray
    total_by_degree: dict
    total: float
    raw_by_degree: dict
    raw_cross: np.ndarray
    threshold: float
    settings: dict

    def plot(self, ax=None, **kw):
        """Capacity per lag, one line per Legendre degree.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_ipc`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_ipc
        return plot_method(plot_ipc, self, ax=ax, **kw)

    def __repr__(self):
        return compact_repr("InformationProcessingCapacity", total=self.total,
                            total_by_degree={k: float(v) for k, v in self.total_by_degree.items()},
                            max_lag=int(self.lags[-1]), threshold=self.threshold)

    def to_dict(self):
        """JSON-able summary.

        Returns
        -------
        dict
            Every field; degree keys as strings.
        """
        return {"lags": self.lags.tolist(), "by_degree": {str(k): v.tolist() for k, v in self.by_degree.items()},
                "cross_pairs": self.cross_pairs.tolist(), "cross": self.cross.tolist(),
                "total_by_degree": {str(k): v for k, v in self.total_by_degree.items()}, "total": self.total,
                "threshold": self.threshold, "settings": dict(self.settings)}


def information_processing_capacity(net, max_degree, max_lag, n_steps=10000, seed=0, washout=None,
                                    train_fraction=0.5, threshold=True, input_scale=1.0, input_channel=0,
                                    ridge=0.0, scoring="heldout", threshold_p=1e-4, cross_terms=False,
                                    max_cross_lag=None):
    """Information processing capacity with normalised Legendre polynomials (Dambre et al. 2012).

    Input: i.i.d. uniform u_t on [-1, 1] (required: the Legendre basis is orthonormal for it), times
    ``input_scale``, on channel ``input_channel`` (others 0), exactly as in :func:`memory_capacity` (the
    same ``seed`` gives the same input series, so degree 1 equals the linear memory capacity).

    Target functions included (all orthonormal under the input distribution):

    * single-lag terms P~_k(u_{t-l}) = sqrt(2k + 1) P_k(u_{t-l}) for every degree k = 1..max_degree and
      lag l = 0..max_lag;
    * with ``cross_terms=True``, the degree-2 products P~_1(u_{t-l1}) P~_1(u_{t-l2}) = 3 u_{t-l1} u_{t-l2}
      for 0 <= l1 < l2 <= max_cross_lag (default min(max_lag, 20)).  No other products (no degree >= 3
      cross terms) are included, so the total is a lower bound of the full IPC.

    Capacities are computed exactly as in :func:`memory_capacity` (one least squares with all targets as
    right-hand sides, held-out squared correlation or in-sample R^2, chi-squared threshold).  The total
    is <= N up to sampling error.  Cost: one forward pass plus one least squares with
    max_degree * (max_lag + 1) (+ cross pairs) right-hand sides.

    Parameters
    ----------
    net : WCRNN or Elman
        The network (any dtype; computed in float64).
    max_degree : int
        Largest Legendre degree (>= 1).
    max_lag : int
        Largest lag (< n_steps).
    n_steps : int, default 10000
    seed, washout, train_fraction, threshold, input_scale, input_channel, ridge, scoring, threshold_p
        As in :func:`memory_capacity`.
    cross_terms : bool, default False
        Include the degree-2 cross products.
    max_cross_lag : int, optional
        Default min(max_lag, 20).

    Returns
    -------
    InformationProcessingCapacity
        Never NaN.

    Raises
    ------
    ValueError
        For max_degree < 1, max_lag >= n_steps or too few steps.

    References
    ----------
    Dambre et al., "Information processing capacity of dynamical systems", Scientific Reports 2, 514 (2012).
    """
    max_degree = check_int(max_degree, "max_degree", minimum=1)
    if isinstance(max_lag, (int, np.integer)) and isinstance(n_steps, (int, np.integer)) and max_lag >= 0:
        check_memory(2 * max(int(n_steps), 1) * max_degree * (int(max_lag) + 1),
                     f"max_degree x (max_lag + 1) x n_steps ({max_degree} x {int(max_lag) + 1} x {n_steps}: the "
                     "target matrix)")
    cfg = _capacity_setup(net, max_lag, n_steps, washout, train_fraction, ridge, scoring, input_scale,
                          input_channel, threshold, threshold_p)
    L = cfg["max_lag"]
    if cross_terms:
        mcl = min(L, 20) if max_cross_lag is None else check_int(max_cross_lag, "max_cross_lag", minimum=1,
                                                                   maximum=L)
        pairs = np.array([(a, b) for a in range(mcl + 1) for b in range(a + 1, mcl + 1)], dtype=np.int64)
    else:
        mcl = None
        pairs = np.zeros((0, 2), dtype=np.int64)
    rng = rng_from(seed)
    w, n = cfg["washout"], cfg["n_steps"]
    u = _draw_inputs(rng, w + n, "uniform")
    H = _drive(net, u, cfg["input_scale"], cfg["input_channel"])
    F = H[w:]
    idx = np.arange(w, w + n)[:, None] - np.arange(L + 1)[None, :]
    Ulag = u[idx]  # (n, L+1)
    blocks = [legendre_normalized(Ulag, k) for k in range(1, max_degree + 1)]
    if len(pairs):
        P1 = np.sqrt(3.0) * Ulag
        blocks.append(P1[:, pairs[:, 0]] * P1[:, pairs[:, 1]])
    Y = np.concatenate(blocks, axis=1)
    raw = _fit_score(F, Y, cfg["n_train"], cfg["ridge"], cfg["scoring"])
    thr = cfg["threshold"]
    cap = np.where(raw >= thr, raw, 0.0)
    by_deg, raw_by_deg, tot = {}, {}, {}
    for k in range(1, max_degree + 1):
        sl = slice((k - 1) * (L + 1), k * (L + 1))
        by_deg[k] = cap[sl]
        raw_by_deg[k] = raw[sl]
        tot[k] = float(cap[sl].sum())
    cross = cap[max_degree * (L + 1):]
    raw_cross = raw[max_degree * (L + 1):]
    if len(pairs):
        tot[2] = tot.get(2, 0.0) + float(cross.sum())
    settings = dict(cfg, input_dist="uniform", max_degree=max_degree, cross_terms=bool(cross_terms),
                    max_cross_lag=mcl, seed=seed if not isinstance(seed, np.random.Generator) else "generator",
                    n_hidden=net.n_hidden)
    return InformationProcessingCapacity(lags=np.arange(L + 1), by_degree=by_deg, cross_pairs=pairs, cross=cross,
                                         total_by_degree=tot, total=float(cap.sum()), raw_by_degree=raw_by_deg,
                                         raw_cross=raw_cross, threshold=thr, settings=settings)
