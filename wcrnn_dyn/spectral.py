"""Spectral analysis of weights, Jacobians and data (docs/THEORY.md section 7).

Weights and Jacobians
    :func:`eigenvalues`, :func:`singular_values`, :func:`spectral_radius` (dense LAPACK or ARPACK),
    :func:`effective_matrix` / :func:`effective_spectral_radius` (rho(Lambda + eps W)),
    :func:`weight_spectra` (residual, W, effective matrix of a network, trained or not),
    :func:`jacobian_spectra` (J_t along a trajectory).
Data
    :func:`data_spectrum` (Welch power spectrum, f in cycles per step, averaged over samples and channels),
    :func:`spectral_peaks`, :func:`spectral_flatness`, :func:`synthetic_row_periodic` (test data).
Residuals from data
    :func:`rotational_from_spectrum` (angles at the data's spectral peaks, or spread by spectral power),
    :func:`frequency_response` (a rotational residual as a filter bank of damped resonators).

Frequency response of a damped resonator (derivation).  Drive one 2x2 block B = mu Rot(theta) with a
complex sinusoid, z_t = B z_{t-1} + v e^{i w t}, w = 2 pi f.  The steady state is z_t = G(w) v e^{i w t}
with G e^{i w t} = B G e^{i w (t-1)} + e^{i w t}, i.e.

    G(w) = (I - e^{-i w} B)^{-1} = e^{i w} (e^{i w} I - B)^{-1},

(a real input cos(w t) v gives Re(G v e^{i w t})).  B is normal with eigenvalues mu e^{+-i theta}, so the
singular values of G are 1 / |e^{i w} - mu e^{+-i theta}| and the gain (operator 2-norm) is

    |G(w)| = 1 / min_{+-} sqrt(1 - 2 mu cos(w -+ theta) + mu^2),

peaking at w = theta (f = theta / 2 pi) with value 1 / (1 - mu) and half-power half-width
arccos((1 + mu^2 - 2 (1 - mu)^2) / (2 mu)) ~ 1 - mu.  A block residual is a bank of such filters.  For
|mu| >= 1 no steady state exists; the same resolvent norm is returned (infinite at resonance when mu = 1).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from . import residuals as _res
from ._validate import as_array, check_float, check_int, check_memory, check_net, rng_from
from .plotting._base import compact_repr, plot_method

__all__ = ["eigenvalues", "singular_values", "spectral_radius", "effective_matrix", "effective_spectral_radius",
           "weight_spectra", "jacobian_spectra", "JacobianSpectra", "data_spectrum", "spectral_peaks",
           "spectral_flatness", "synthetic_row_periodic", "rotational_from_spectrum", "frequency_response",
           "FrequencyResponse", "allocate_angles"]

log = logging.getLogger(__name__)

#: Smallest sequence length accepted by :func:`data_spectrum`.
MIN_WELCH_LENGTH = 8
#: Eigenvalue problems of at least this size use ARPACK in ``method="auto"`` (below it dense LAPACK is
#: fast, and WCRNN matrices mu Q + eps W have nearly equal moduli, where ARPACK converges slowly).
ARPACK_MIN_N = 2048


# ----------------------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------------------

def _as_square(A, name="A"):
    if isinstance(A, _res.Residual):
        return A.linear_part.matrix()
    A = as_array(A, name, ndim=2)
    if A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty square (n, n) matrix, got shape {A.shape}")
    return A


def eigenvalues(A):
    """Complex eigenvalues of a square matrix (or a residual's linear part), sorted by modulus descending
    (ties by angle).  Dense LAPACK, O(n^3).

    Parameters
    ----------
    A : array_like, shape (n, n), or Residual
        A finite square matrix, or a residual (its linear part is used).

    Returns
    -------
    ndarray, shape (n,), complex

    Raises
    ------
    ValueError
        For a non-square, empty or non-finite matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> spectral.eigenvalues(np.diag([0.5, -2.0]))
    array([-2. +0.j,  0.5+0.j])
    """
    M = _as_square(A)
    ev = np.linalg.eigvals(M).astype(complex)
    order = np.lexsort((np.angle(ev), -np.abs(ev)))
    return ev[order]


def singular_values(A):
    """Singular values (descending) of a matrix (or a residual's linear part).  Dense, O(n^3).

    Parameters
    ----------
    A : array_like, shape (m, n), or Residual

    Returns
    -------
    ndarray, shape (min(m, n),)

    Raises
    ------
    ValueError
        For a non-2-d or non-finite array.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> spectral.singular_values(np.diag([0.5, -2.0])).tolist()
    [2.0, 0.5]
    """
    if isinstance(A, _res.Residual):
        A = A.linear_part.matrix()
    A = as_array(A, "A", ndim=2)
    return np.linalg.svd(A, compute_uv=False)


def spectral_radius(A, method="dense", tol=0.0, maxiter=None, seed=0):
    """Spectral radius max |lambda_i(A)|.

    Parameters
    ----------
    A : array_like, shape (n, n), Residual or scipy.sparse.linalg.LinearOperator
        A residual contributes its linear part; a LinearOperator is applied to the identity for "dense".
    method : {"dense", "arpack", "auto"}, default "dense"
        "dense": LAPACK eigvals, O(n^3).  "arpack": ``scipy.sparse.linalg.eigs``, k = min(6, n - 2)
        eigenvalues of largest magnitude, O(n^2) per matrix-vector product.  "auto": ARPACK for
        n >= 2048 (``ARPACK_MIN_N``), dense below.
    tol : float, default 0.0
        Passed to ``eigs`` (0: machine precision).
    maxiter : int, optional
        Restarts for ``eigs`` (default 300).
    seed : int, default 0
        Seed of ARPACK's start vector.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For an unknown ``method`` or a non-square / non-finite matrix.

    Notes
    -----
    ARPACK needs n >= 3; smaller matrices are solved densely.  When ARPACK does not converge (eigenvalues
    of nearly equal modulus, e.g. orthogonal matrices) within ``maxiter`` restarts it falls back to the
    dense solver with a logged warning.  References: Lehoucq, Sorensen & Yang, *ARPACK Users' Guide*,
    SIAM (1998).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> spectral.spectral_radius(np.diag([0.5, -2.0, 1.0]))
    2.0
    """
    from scipy.sparse.linalg import LinearOperator
    if method not in ("dense", "arpack", "auto"):
        raise ValueError(f"method must be 'dense', 'arpack' or 'auto', got {method!r}")
    if isinstance(A, LinearOperator):
        n = A.shape[0]
        if method == "dense" or n < 3:
            M = A @ np.eye(n)
            return float(np.max(np.abs(np.linalg.eigvals(M))))
        return _arpack_radius(A, tol, maxiter, seed)
    M = _as_square(A)
    n = M.shape[0]
    if method == "auto":
        method = "arpack" if n >= ARPACK_MIN_N else "dense"
    if method == "dense" or n < 3:
        return float(np.max(np.abs(np.linalg.eigvals(M))))
    return _arpack_radius(M, tol, maxiter, seed)


def _arpack_radius(A, tol, maxiter, seed):
    """ARPACK largest-magnitude eigenvalues (k = min(6, n - 2)); falls back to dense on non-convergence.

    Eigenvalues of (nearly) equal modulus - e.g. an orthogonal matrix, all on one circle, or mu Q + eps W
    with small eps - leave ARPACK's "LM" iteration without a gap to converge on.  ``maxiter`` (default 300
    restarts) bounds the wasted work; after it the dense eigenvalues are used (logged as a warning).
    """
    from scipy.sparse.linalg import ArpackNoConvergence, eigs
    n = A.shape[0]
    k = min(6, n - 2)
    v0 = rng_from(seed).standard_normal(n)
    try:
        ev = eigs(A, k=k, which="LM", return_eigenvectors=False, tol=tol,
                  maxiter=300 if maxiter is None else maxiter, v0=v0)
        return float(np.max(np.abs(ev)))
    except ArpackNoConvergence:
        pass
    log.warning("ARPACK did not converge (eigenvalues of nearly equal modulus?); using dense eigenvalues")
    M = A @ np.eye(n) if not isinstance(A, np.ndarray) else A
    return float(np.max(np.abs(np.linalg.eigvals(M))))


def effective_matrix(net):
    """The matrix Lambda + eps W (dense, O(N^2)): Lambda is the residual's linear part (for a non-linear
    residual its linearisation at 0, g'(0) = 1) and W the recurrent weights; for an Elman network it is W.
    It is the one-step Jacobian at a state where phi' = 1 (tanh at a_t = 0, identity activation).

    Parameters
    ----------
    net : WCRNN or Elman
        The network (trained or not).

    Returns
    -------
    ndarray, shape (N, N), float64

    Raises
    ------
    TypeError
        If ``net`` is not a WCRNN / Elman network.

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> from wcrnn_dyn import spectral
    >>> net = wd.WCRNN(1, 3, 1, eps=0.0)
    >>> bool(np.allclose(spectral.effective_matrix(net), 0.99 * np.eye(3)))
    True
    """
    check_net(net)
    W = np.asarray(net.W, dtype=np.float64)
    L = net.residual.linear_part.matrix()
    return L + float(net.coupling) * W


def effective_spectral_radius(net, method="auto", tol=0.0, maxiter=None, seed=0):
    """rho(Lambda + eps W): the spectral radius of the recurrence linearised at h = 0.

    Parameters
    ----------
    net : WCRNN or Elman
        The network (trained or not).
    method : {"auto", "dense", "arpack"}, default "auto"
        "arpack" is matrix-free (Lambda v by the residual's structured product plus eps W v, through a
        LinearOperator, O(N^2) per product); "dense" forms the matrix (O(N^3)); "auto" uses ARPACK for
        N >= 2048.
    tol, maxiter, seed
        As in :func:`spectral_radius`.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``net`` is not a WCRNN / Elman network.
    ValueError
        For an unknown ``method``.

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> from wcrnn_dyn import spectral
    >>> round(spectral.effective_spectral_radius(wd.WCRNN(1, 4, 1, eps=0.0)), 6)
    0.99
    """
    from scipy.sparse.linalg import LinearOperator
    check_net(net)
    if method not in ("dense", "arpack", "auto"):
        raise ValueError(f"method must be 'dense', 'arpack' or 'auto', got {method!r}")
    N = net.n_hidden
    if method == "auto":
        method = "arpack" if N >= ARPACK_MIN_N else "dense"
    if method == "dense" or N < 3:
        return spectral_radius(effective_matrix(net), method="dense")
    W = np.asarray(net.W, dtype=np.float64)
    eps = float(net.coupling)
    Lres = net.residual.linear_part

    def mv(v):
        v = np.asarray(v).reshape(-1)
        if np.iscomplexobj(v):
            return Lres.apply(v.real) + 1j * Lres.apply(v.imag) + eps * (W @ v)
        return Lres.apply(v) + eps * (W @ v)

    op = LinearOperator((N, N), matvec=mv, dtype=np.float64)
    return _arpack_radius(op, tol, maxiter, seed)


def weight_spectra(net):
    """Eigenvalues and singular values of a network's matrices (trained or not).

    Parameters
    ----------
    net : WCRNN or Elman
        The network (trained or not).

    Returns
    -------
    dict
        For each of "residual" (the linear part Lambda), "W", "eps_W" (eps W) and "effective"
        (Lambda + eps W; W for Elman): ``<name>_eigenvalues`` (complex, by modulus descending),
        ``<name>_singular_values`` (descending) and ``<name>_spectral_radius`` (float).

    Raises
    ------
    TypeError
        If ``net`` is not a WCRNN / Elman network.

    Notes
    -----
    Dense, O(N^3).

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> from wcrnn_dyn import spectral
    >>> s = spectral.weight_spectra(wd.WCRNN(1, 8, 1, eps=0.0))
    >>> round(s["effective_spectral_radius"], 6)
    0.99
    """
    check_net(net)
    eps = float(net.coupling)
    mats = {"residual": net.residual.linear_part.matrix(), "W": np.asarray(net.W, dtype=np.float64),
            "eps_W": eps * np.asarray(net.W, dtype=np.float64), "effective": effective_matrix(net)}
    out = {}
    for k, M in mats.items():
        ev = eigenvalues(M)
        out[f"{k}_eigenvalues"] = ev
        out[f"{k}_singular_values"] = singular_values(M)
        out[f"{k}_spectral_radius"] = float(np.max(np.abs(ev))) if ev.size else 0.0
    return out


@dataclass
class JacobianSpectra:
    """Result of :func:`jacobian_spectra`.

    Attributes
    ----------
    times : ndarray, shape (K,), int64
        1-based steps t.
    eigenvalues : ndarray, shape (K, N), complex
        Eigenvalues of J_t sorted by modulus descending.
    singular_values : ndarray, shape (K, N)
        Descending.
    spectral_radius : ndarray, shape (K,)
    norm : ndarray, shape (K,)
        Largest singular value.
    """

    times: np.ndarray
    eigenvalues: np.ndarray
    singular_values: np.ndarray
    spectral_radius: np.ndarray = field(default=None)
    norm: np.ndarray = field(default=None)

    def plot(self, ax=None, max_times=6, **kw):
        """Eigenvalues of the Jacobians in the complex plane with the unit circle, one colour per time.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        max_times : int, default 6
            At most that many times, spread over the run.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_eigenvalues`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_eigenvalues
        K = len(self.times)
        pick = np.unique(np.round(np.linspace(0, K - 1, min(K, int(max_times)))).astype(int)) if K else []
        return plot_method(plot_eigenvalues, {f"t = {int(self.times[i])}": self.eigenvalues[i] for i in pick},
                           ax=ax, **kw)

    def __repr__(self):
        rho = np.asarray(self.spectral_radius, dtype=float)
        return compact_repr("JacobianSpectra", n_times=len(self.times), N=int(self.eigenvalues.shape[-1]),
                            spectral_radius_range=(float(rho.min()), float(rho.max())) if rho.size else None)


def jacobian_spectra(net, X, times=None, h0=None):
    """Spectra of the one-step Jacobians J_t = dh_t/dh_{t-1} along the trajectory driven by X (T, d).

    J_t = diag(g'(z_t)) Lambda + eps diag(phi'(a_t)) W (docs/THEORY.md section 3) is formed densely from the
    stored derivatives of one forward pass.

    Parameters
    ----------
    net : WCRNN or Elman
        The network (trained or not).
    X : array_like, shape (T, d) or (1, T, d)
        One input sequence.
    times : array_like of int, optional
        1-based steps t in 1..T (default: all T steps).
    h0 : array_like, shape (N,), optional
        Initial state (default zeros).

    Returns
    -------
    JacobianSpectra

    Raises
    ------
    TypeError
        If ``net`` is not a WCRNN / Elman network.
    ValueError
        For a batch of more than one sequence, or ``times`` empty, non-integer or outside 1..T.

    Notes
    -----
    Cost O(T N^2) for the forward pass plus O(K N^3) for K times.

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> from wcrnn_dyn import spectral
    >>> s = spectral.jacobian_spectra(wd.WCRNN(1, 4, 1, seed=0), np.zeros((5, 1)), times=[1, 5])
    >>> s.eigenvalues.shape, s.times.tolist()
    ((2, 4), [1, 5])
    """
    check_net(net)
    X, single = net.check_inputs(X)
    if not single and X.shape[0] != 1:
        raise ValueError(f"X must be one sequence (T, d) for jacobian_spectra, got a batch of {X.shape[0]}")
    T = X.shape[1]
    if times is None:
        times = np.arange(1, T + 1)
    times = np.asarray(times)
    if times.ndim != 1 or times.size == 0 or not np.issubdtype(times.dtype, np.integer):
        raise ValueError("times must be a non-empty 1-d array of integer steps in 1..T")
    if times.min() < 1 or times.max() > T:
        raise ValueError(f"times must lie in 1..T = 1..{T}, got range {times.min()}..{times.max()}")
    h0 = net.check_h0(h0, 1)
    _, DP, GP = net.trajectory(X, h0, True)
    L = net.residual.linear_part.matrix()
    W = np.asarray(net.W, dtype=np.float64)
    eps = float(net.coupling)
    K, N = times.size, net.n_hidden
    ev = np.empty((K, N), dtype=complex)
    sv = np.empty((K, N))
    for j, t in enumerate(times):
        dp = DP[t - 1, 0].astype(np.float64)
        gp = GP[t - 1, 0].astype(np.float64) if GP.shape[0] else np.ones(N)
        J = gp[:, None] * L + eps * dp[:, None] * W
        ev[j] = eigenvalues(J)
        sv[j] = np.linalg.svd(J, compute_uv=False)
    return JacobianSpectra(times=times.astype(np.int64), eigenvalues=ev, singular_values=sv,
                           spectral_radius=np.abs(ev[:, 0]), norm=sv[:, 0])


# ----------------------------------------------------------------------------------------------------------
# Data spectra
# ----------------------------------------------------------------------------------------------------------

def _as_sequences(X):
    """(T,) -> (1, T, 1); (T, d) -> (1, T, d); (B, T, d) as is (finiteness is checked per chunk later)."""
    X = as_array(X, "X", dtype=None, finite=False)
    if X.ndim == 1:
        X = X[None, :, None]
    elif X.ndim == 2:
        X = X[None]
    elif X.ndim != 3:
        raise ValueError(f"X must have shape (T,), (T, d) or (B, T, d), got {X.shape}")
    return X


def data_spectrum(X, nperseg=None, noverlap=None, window="hann", detrend="constant", max_samples=None,
                  chunk=512):
    """Power spectral density of sequences, averaged over samples and channels (Welch's method).

    Each sequence and channel is analysed with ``scipy.signal.welch(fs=1, nperseg, noverlap, window,
    detrend)`` along time; the one-sided densities are averaged over samples and channels.

    Parameters
    ----------
    X : array_like, shape (T,), (T, d) or (B, T, d)
        One channel, one sequence, or a batch (the package's convention; a batch of scalar sequences is
        (B, T, 1)).  T >= 8.
    nperseg : int, optional
        Segment length, default min(T, 1024) (so T <= 1024 gives one Hann-windowed segment per sequence and
        frequency bins k / T: sMNIST's row frequency 1/28 = 28/784 falls on a bin).
    noverlap : int, optional
        Default nperseg // 2.
    window : str, default "hann"
    detrend : str or False, default "constant"
        Passed to ``welch``.
    max_samples : int, optional
        Use only the first that many sequences.
    chunk : int, default 512
        Sequences per chunk (bounds memory).

    Returns
    -------
    freqs : ndarray, shape (nperseg // 2 + 1,)
        Cycles per step, 0 .. 0.5.
    power : ndarray, shape (nperseg // 2 + 1,)
        Mean one-sided power spectral density.

    Raises
    ------
    ValueError
        For sequences shorter than 8 steps, nperseg > T, non-finite data, or power beyond the float64
        range (|X| beyond ~1e150; the message names X).

    Notes
    -----
    Cost O(B d T log nperseg).  The data are divided by their largest magnitude before the transform and
    the power multiplied back, so data of any finite scale give scale-covariant power
    (power(c X) = c^2 power(X)) without intermediate overflow.  Reference: P. Welch, IEEE Trans. Audio
    Electroacoust. 15 (1967) 70-73.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> t = np.arange(256)
    >>> f, p = spectral.data_spectrum(np.sin(2 * np.pi * t / 8))
    >>> float(f[np.argmax(p)])
    0.125
    """
    from scipy.signal import welch
    X = _as_sequences(X)
    B, T, d = X.shape
    if T < MIN_WELCH_LENGTH:
        raise ValueError(f"X has T = {T} time steps; Welch's method needs at least {MIN_WELCH_LENGTH}")
    if B < 1 or d < 1:
        raise ValueError(f"X must hold at least one sequence and channel, got shape {X.shape}")
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples", minimum=1)
        X = X[:max_samples]
        B = X.shape[0]
    if nperseg is None:
        nperseg = min(T, 1024)
    nperseg = check_int(nperseg, "nperseg", minimum=MIN_WELCH_LENGTH)
    if nperseg > T:
        raise ValueError(f"nperseg = {nperseg} exceeds the sequence length T = {T}")
    if noverlap is not None:
        noverlap = check_int(noverlap, "noverlap", minimum=0, maximum=nperseg - 1)
    chunk = check_int(chunk, "chunk", minimum=1)
    scale = 0.0
    for s in range(0, B, chunk):  # largest magnitude first: the transform runs on X / scale (no overflow)
        xc = as_array(X[s:s + chunk], "X", dtype=np.float64)
        scale = max(scale, float(np.max(np.abs(xc))) if xc.size else 0.0)
    if scale == 0.0:
        scale = 1.0
    total = None
    for s in range(0, B, chunk):
        xc = np.asarray(X[s:s + chunk], dtype=np.float64) / scale
        f, p = welch(xc, fs=1.0, window=window, nperseg=nperseg, noverlap=noverlap, detrend=detrend, axis=1)
        # p: (b, F, d)
        ps = p.sum(axis=(0, 2))
        total = ps if total is None else total + ps
    with np.errstate(over="ignore"):
        power = (total / (B * d)) * scale * scale
    if not np.all(np.isfinite(power)):
        raise ValueError(f"X: its power spectral density exceeds the float64 range (largest |X| = {scale:.3g}); "
                         "rescale the data (the spectrum's shape does not depend on the scale)")
    return f, power


def spectral_flatness(power, exclude_dc=True):
    """Wiener entropy of a power spectrum: geometric mean / arithmetic mean, in (0, 1].

    1 for a perfectly flat (white) spectrum; small for peaked spectra.  ``exclude_dc`` drops the f = 0 bin
    (removed by detrending) and the Nyquist bin is kept.

    Parameters
    ----------
    power : array_like, shape (F,)
        Non-negative power spectrum.
    exclude_dc : bool, default True
        Drop the first (f = 0) bin.

    Returns
    -------
    float
        In [0, 1]; 0 when any bin has zero power.

    Raises
    ------
    ValueError
        For negative or non-finite power, or fewer than 2 bins.

    Notes
    -----
    O(F).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> round(spectral.spectral_flatness(np.ones(17)), 6)
    1.0
    """
    p = as_array(power, "power", ndim=1)
    if exclude_dc:
        p = p[1:]
    if p.size == 0:
        raise ValueError("power must have at least 2 bins")
    if np.any(p < 0):
        raise ValueError("power must be non-negative")
    if np.any(p == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def spectral_peaks(freqs, power, n_peaks=None, min_prominence=0.3, min_rel_power=1e-3, min_distance=1,
                   refine=True, exclude_dc=True):
    """Peaks of a power spectrum (``scipy.signal.find_peaks`` on log10 power).

    A bin is a peak when it is a local maximum whose prominence in log10 power is >= ``min_prominence``
    decades (default 0.3, a factor 2 above the surrounding valleys), whose power is >= ``min_rel_power``
    times the largest power (default 1e-3; excludes window side lobes and noise in deep valleys) and which is
    >= ``min_distance`` bins from a higher peak.  The end bins (f = 0 and Nyquist) are never peaks;
    ``exclude_dc`` also ignores the f = 0 bin in the max-power reference.  With ``refine`` (default) each
    peak's frequency is refined by a parabola through log power at the peak bin and its neighbours
    (sub-bin accuracy for smooth windows).

    Parameters
    ----------
    freqs, power : array_like, shape (F,)
        A spectrum as returned by :func:`data_spectrum` (F >= 3, power >= 0).
    n_peaks : int, optional
        Keep at most that many (the strongest).
    min_prominence : float, default 0.3
    min_rel_power : float, default 1e-3
    min_distance : int, default 1
    refine : bool, default True
    exclude_dc : bool, default True
        See above.

    Returns
    -------
    peak_freqs, peak_power : ndarray, shape (n,)
        Sorted by power descending, ties by frequency ascending (deterministic); empty arrays when there is
        no peak (or the power is zero everywhere).

    Raises
    ------
    ValueError
        For mismatched shapes, fewer than 3 bins, negative power or invalid thresholds.

    Notes
    -----
    O(F).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> f, p = spectral.data_spectrum(np.sin(2 * np.pi * np.arange(256) / 8))
    >>> pf, pp = spectral.spectral_peaks(f, p)
    >>> round(float(pf[0]), 3)
    0.125
    """
    from scipy.signal import find_peaks
    f = as_array(freqs, "freqs", ndim=1)
    p = as_array(power, "power", ndim=1)
    if f.shape != p.shape:
        raise ValueError(f"freqs and power must have the same shape, got {f.shape} and {p.shape}")
    if p.size < 3:
        raise ValueError("power must have at least 3 bins for peak finding")
    if np.any(p < 0):
        raise ValueError("power must be non-negative")
    min_prominence = check_float(min_prominence, "min_prominence", minimum=0.0)
    min_rel_power = check_float(min_rel_power, "min_rel_power", minimum=0.0)
    min_distance = check_int(min_distance, "min_distance", minimum=1)
    ref = p[1:].max() if exclude_dc else p.max()
    if ref <= 0:
        return np.zeros(0), np.zeros(0)
    tiny = ref * 1e-300 if ref * 1e-300 > 0 else np.finfo(float).tiny
    lp = np.log10(np.maximum(p, tiny))
    idx, _ = find_peaks(lp, prominence=min_prominence if min_prominence > 0 else None, distance=min_distance)
    idx = idx[p[idx] >= min_rel_power * ref]
    if idx.size == 0:
        return np.zeros(0), np.zeros(0)
    pf = f[idx].copy()
    pp = p[idx].copy()
    if refine:
        df = np.diff(f)
        for j, i in enumerate(idx):
            a, b, c = lp[i - 1], lp[i], lp[i + 1]
            den = a - 2 * b + c
            if den < 0:
                off = 0.5 * (a - c) / den
                off = float(np.clip(off, -0.5, 0.5))
                step = df[i] if off > 0 else df[i - 1]
                pf[j] = f[i] + off * step
    order = np.lexsort((pf, -pp))
    pf, pp = pf[order], pp[order]
    if n_peaks is not None:
        n_peaks = check_int(n_peaks, "n_peaks", minimum=1)
        pf, pp = pf[:n_peaks], pp[:n_peaks]
    return pf, pp


def synthetic_row_periodic(n_samples, n_rows=28, period=28, seed=0, noise=0.05, permute=False):
    """Synthetic "row-periodic" sequences like sMNIST read row by row (for tests and demos; no download).

    Each sample is an image of ``n_rows`` rows of ``period`` pixels: a random smooth stroke profile (a sum
    of 1-3 Gaussian bumps at random positions within the row) whose amplitude varies slowly from row to
    row, plus i.i.d. noise of std ``noise``, flattened row-major to a sequence of T = n_rows * period steps.
    Its spectrum therefore peaks at f = k / period cycles per step.  With ``permute=True`` one fixed
    random permutation of the T steps (from ``seed``) is applied to every sample, as in psMNIST: the
    spectrum becomes flat.

    Parameters
    ----------
    n_samples : int
        Number of sequences (>= 1).
    n_rows : int, default 28
    period : int, default 28
        Rows per image and pixels per row (>= 2).
    seed : None, int or numpy.random.Generator, default 0
    noise : float, default 0.05
        Standard deviation of the i.i.d. noise.
    permute : bool, default False
        Apply one fixed random permutation of the steps (psMNIST-like).

    Returns
    -------
    ndarray, shape (n_samples, n_rows * period, 1), float64
        Reproducible from ``seed``.

    Raises
    ------
    ValueError
        For invalid sizes, a negative noise level, or noise so large that the sequences overflow.

    Notes
    -----
    O(n_samples n_rows period).

    Examples
    --------
    >>> from wcrnn_dyn import spectral
    >>> spectral.synthetic_row_periodic(3, n_rows=4, period=5).shape
    (3, 20, 1)
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_rows = check_int(n_rows, "n_rows", minimum=1)
    period = check_int(period, "period", minimum=2)
    noise = check_float(noise, "noise", minimum=0.0)
    check_memory(3 * n_samples * n_rows * period, f"n_samples x n_rows x period ({n_samples} x {n_rows} x "
                 f"{period}: the sequences and their noise)")
    rng = rng_from(seed)
    cols = np.arange(period)
    X = np.empty((n_samples, n_rows, period))
    for s in range(n_samples):
        nb = rng.integers(1, 4)
        prof = np.zeros(period)
        for _ in range(nb):
            c = rng.uniform(0.2, 0.8) * period
            w = rng.uniform(0.04, 0.12) * period
            prof += rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((cols - c) / w) ** 2)
        amp = 0.6 + 0.4 * np.sin(2 * np.pi * (np.arange(n_rows) / n_rows) * rng.uniform(0.5, 1.5)
                                 + rng.uniform(0, 2 * np.pi))
        X[s] = amp[:, None] * prof[None, :]
    X = X.reshape(n_samples, n_rows * period) + noise * rng.standard_normal((n_samples, n_rows * period))
    if not np.all(np.isfinite(X)):
        raise ValueError(f"noise = {noise:g} is too large: the sequences overflow float64")
    if permute:
        perm = rng_from(seed).permutation(n_rows * period)
        X = X[:, perm]
    return X[:, :, None]


# ----------------------------------------------------------------------------------------------------------
# Residuals from a data spectrum
# ----------------------------------------------------------------------------------------------------------

def allocate_angles(peak_power, m):
    """How many of ``m`` angles each peak gets (peaks sorted by power descending).

    If there are at least m peaks, the m strongest get one each.  Otherwise every peak gets one and the
    remaining m - n_peaks are shared in proportion to peak power by the largest-remainder method, ties
    going to the stronger (earlier) peak.

    Parameters
    ----------
    peak_power : array_like, shape (n_peaks,)
        Non-negative peak powers, strongest first.
    m : int
        Number of angles (>= 0).

    Returns
    -------
    ndarray, shape (n_peaks,), int64
        Sums to m (all zeros when there are no peaks).

    Raises
    ------
    ValueError
        For negative powers or a negative ``m``.

    Examples
    --------
    >>> from wcrnn_dyn import spectral
    >>> spectral.allocate_angles([3.0, 1.0], 6)
    array([4, 2])
    """
    pp = as_array(peak_power, "peak_power", ndim=1)
    if np.any(pp < 0):
        raise ValueError(f"peak_power must be >= 0, got min {pp.min()}")
    m = check_int(m, "m", minimum=0)
    check_memory(m, "m (angles)")
    k = pp.size
    counts = np.zeros(k, dtype=np.int64)
    if k == 0 or m == 0:
        return counts
    if m <= k:
        counts[:m] = 1
        return counts
    counts[:] = 1
    rest = m - k
    top = pp.max()
    w = pp / top if top > 0 else np.ones(k)  # divided by the largest first: the sum cannot overflow
    w = w / w.sum()
    share = rest * w
    base = np.floor(share).astype(np.int64)
    counts += base
    left = rest - int(base.sum())
    frac = share - base
    order = np.lexsort((np.arange(k), -frac))  # largest remainder, ties -> earlier (stronger) peak
    counts[order[:left]] += 1
    return counts


def rotational_from_spectrum(X, n, mu, method="peaks", spectrum=None, nperseg=None, n_peaks=None,
                             peak_kwargs=None, trainable=False):
    """Rotational residual whose frequencies theta_k / 2 pi are matched to the data's power spectrum.

    Parameters
    ----------
    X : array_like or None
        Data as accepted by :func:`data_spectrum` (ignored when ``spectrum`` is given).
    n : int
        Number of hidden units (>= 2); m = n // 2 angles theta_k = 2 pi f_k (an odd n adds a 1x1 block mu).
    mu : float or array_like, shape (m,)
        A float gives blocks mu Rot(theta_k) (:func:`wcrnn_dyn.residuals.rotational`); an array gives
        blocks mu_k Rot(theta_k) (:func:`wcrnn_dyn.residuals.heterogeneous_rotational`, tail mu_0).
    method : {"peaks", "power"}, default "peaks"
        See below.
    spectrum : tuple (freqs, power), optional
        A precomputed spectrum.
    nperseg : int, optional
        Passed to :func:`data_spectrum`.
    n_peaks : int, optional
    peak_kwargs : dict, optional
        Passed to :func:`spectral_peaks`.
    trainable : bool, default False

    Returns
    -------
    BlockResidual
        Angles sorted ascending in [0, pi]; ``meta`` records "source": "spectrum", "method" and "freqs".

    Raises
    ------
    ValueError
        When no peak is found with method="peaks" (flat spectrum: use "power"), for neither ``X`` nor
        ``spectrum``, an unknown ``method``, or a ``mu`` array of the wrong length.
    TypeError
        If ``spectrum`` is not a (freqs, power) pair.

    Notes
    -----
    method="peaks": the peaks of :func:`spectral_peaks` (``peak_kwargs`` passed on, at most ``n_peaks``),
    with the m angles shared by :func:`allocate_angles` (m strongest peaks if there are >= m; otherwise
    one per peak plus the rest in proportion to peak power, largest remainder, ties to the stronger peak);
    angles given to the same peak sit at its (refined) frequency.  Raises ValueError when no peak is
    found (flat spectrum: use "power").
    method="power": f_k = F^{-1}((k + 1/2) / m), k = 0..m-1, F the normalised cumulative power over 0..0.5
    (trapezoid rule, linear interpolation): angles spread with density proportional to spectral power.

    Cost: one :func:`data_spectrum` + O(F).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import spectral
    >>> X = np.sin(2 * np.pi * np.arange(256) / 8)
    >>> r = spectral.rotational_from_spectrum(X, 4, 0.9)
    >>> [round(f, 3) for f in r.meta["freqs"]]
    [0.125, 0.125]
    """
    n = check_int(n, "n", minimum=2)
    check_memory(8 * n, f"n = {n} (the residual's blocks and angles)")
    m = n // 2
    if np.ndim(mu) == 0:
        mu = check_float(mu, "mu")
    else:
        mu = as_array(mu, "mu", ndim=1)
        if mu.shape[0] != m:
            raise ValueError(f"mu as an array must have n // 2 = {m} entries, got {mu.shape[0]}")
    if method not in ("peaks", "power"):
        raise ValueError(f"method must be 'peaks' or 'power', got {method!r}")
    if spectrum is not None:
        if not (isinstance(spectrum, (tuple, list)) and len(spectrum) == 2):
            raise TypeError("spectrum must be a tuple (freqs, power)")
        freqs = as_array(spectrum[0], "spectrum freqs", ndim=1)
        power = as_array(spectrum[1], "spectrum power", ndim=1)
        if freqs.shape != power.shape:
            raise ValueError("spectrum freqs and power must have the same shape")
    else:
        if X is None:
            raise ValueError("give the data X or spectrum=(freqs, power)")
        freqs, power = data_spectrum(X, nperseg=nperseg)
    if method == "peaks":
        pf, pp = spectral_peaks(freqs, power, n_peaks=n_peaks, **(peak_kwargs or {}))
        if pf.size == 0:
            raise ValueError("no spectral peaks found in the data's spectrum (flat or too noisy); use "
                             "method='power' or relax peak_kwargs (min_prominence, min_rel_power)")
        counts = allocate_angles(pp, m)
        f_sel = np.repeat(pf, counts)
    else:
        if np.any(power < 0) or power.sum() <= 0:
            raise ValueError("power must be non-negative with a positive total")
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (power[1:] + power[:-1]) * np.diff(freqs))])
        cdf /= cdf[-1]
        cdf = cdf + 1e-15 * np.arange(cdf.size)  # strictly increasing for interpolation
        cdf /= cdf[-1]
        q = (np.arange(m) + 0.5) / m
        f_sel = np.interp(q, cdf, freqs)
    f_sel = np.sort(np.clip(f_sel, 0.0, 0.5))
    thetas = 2 * np.pi * f_sel
    if np.ndim(mu) == 0:
        r = _res.rotational(n, float(mu), thetas, trainable=trainable)
    else:
        mus = mu
        r = _res.heterogeneous_rotational(mus, thetas, tail=float(mus[0]) if n % 2 else None, trainable=trainable)
    r.meta.update({"source": "spectrum", "method": method, "freqs": f_sel.tolist()})
    return r


@dataclass
class FrequencyResponse:
    """Result of :func:`frequency_response`.

    Attributes
    ----------
    freqs : (F,) cycles per step.
    block_gain : (n_blocks, F) operator 2-norm of each block's steady-state transfer (e^{iw} I - B_k)^{-1}
        (2x2 rotational blocks first, then 1x1 blocks); None for a dense residual.
    block_freqs : (n_blocks,) resonance theta_k / 2 pi of each 2x2 block (|angle of its eigenvalue| / 2 pi;
        1x1 blocks: 0 for a positive value, 0.5 for a negative one).
    total : (F,) root-mean-square gain per unit, sqrt(||(e^{iw} I - Lambda)^{-1}||_F^2 / n): the output RMS of
        each unit when every unit is driven by independent unit-power sinusoids at f.
    max_gain : (F,) operator 2-norm of the whole residual's transfer (= max over blocks).
    """

    freqs: np.ndarray
    block_gain: np.ndarray
    block_freqs: np.ndarray
    total: np.ndarray
    max_gain: np.ndarray

    def plot(self, ax=None, **kw):
        """Gain against frequency.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_frequency_response`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_frequency_response
        return plot_method(plot_frequency_response, self, ax=ax, **kw)

    def __repr__(self):
        nb = None if self.block_gain is None else int(np.asarray(self.block_gain).shape[0])
        return compact_repr("FrequencyResponse", n_freqs=len(self.freqs), n_blocks=nb,
                            peak_gain=float(np.max(self.max_gain)) if len(self.max_gain) else None,
                            peak_freq=float(self.freqs[int(np.argmax(self.max_gain))]) if len(self.max_gain) else None)


def _inv2_norms(Bk, z):
    """For blocks Bk (m, 2, 2) and points z (F,) complex: (op norm, Frobenius^2) of (z I - B)^{-1}."""
    a = z[None, :] - Bk[:, 0, 0][:, None]
    b = -Bk[:, 0, 1][:, None] * np.ones_like(z)[None, :]
    c = -Bk[:, 1, 0][:, None] * np.ones_like(z)[None, :]
    d = z[None, :] - Bk[:, 1, 1][:, None]
    M = np.stack([np.stack([a, b], -1), np.stack([c, d], -1)], -2)  # (m, F, 2, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.linalg.svd(M, compute_uv=False)  # (m, F, 2) descending
        smin = s[..., -1]
        op = np.where(smin > 0, 1.0 / smin, np.inf)
        fro2 = np.where(smin > 0, 1.0 / s[..., 0] ** 2 + 1.0 / smin ** 2, np.inf)
    return op, fro2


def frequency_response(residual, freqs):
    """Steady-state gain of a linear residual driven at frequencies ``freqs`` (cycles per step).

    Each 2x2 block B_k (e.g. mu Rot(theta_k)) and each 1x1 block is a damped resonator with transfer
    (e^{i 2 pi f} I - B_k)^{-1} (up to a unit phase); its gain for mu Rot(theta) is
    1 / min_{+-} sqrt(1 - 2 mu cos(2 pi f -+ theta) + mu^2), peak 1 / (1 - mu) at f = theta / 2 pi (derivation
    in the module docstring).

    Parameters
    ----------
    residual : Residual or array_like, shape (n, n)
        A residual object (non-linear: its linear part) or a square array (treated as dense).
    freqs : array_like, shape (F,)
        Frequencies in cycles per step.

    Returns
    -------
    FrequencyResponse
        Dense residuals get only ``total`` and ``max_gain`` (``block_gain`` and ``block_freqs`` None).
        The gain is infinite (not NaN) where e^{i 2 pi f} is an eigenvalue.

    Raises
    ------
    ValueError
        For non-finite or mis-shaped input.

    Notes
    -----
    Block and diagonal residuals are closed form, O(F n); dense ones need one SVD of an n x n complex
    matrix per frequency, O(F n^3).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import residuals, spectral
    >>> R = residuals.rotational(2, 0.9, thetas=[2 * np.pi * 0.125])
    >>> fr = spectral.frequency_response(R, [0.0, 0.125, 0.25])
    >>> int(np.argmax(fr.max_gain)), round(float(fr.max_gain[1]), 6)     # resonance at theta / 2 pi, gain 1 / (1 - mu)
    (1, 10.0)
    """
    if isinstance(residual, _res.Residual):
        R = residual.linear_part
    else:
        R = _res.dense(_as_square(residual, "residual"))
    f = as_array(freqs, "freqs", ndim=1)
    check_memory(f.size * R.n * (R.n if not isinstance(R, (_res.DiagonalResidual, _res.BlockResidual)) else 1),
                 "freqs x residual size", itemsize=16)
    z = np.exp(2j * np.pi * f)
    n = R.n
    if isinstance(R, _res.BlockResidual):
        blocks, tail = R.blocks, R.tail
    elif isinstance(R, _res.DiagonalResidual):
        blocks, tail = np.zeros((0, 2, 2)), R.d
    else:
        M = R.matrix()
        tot = np.empty(f.size)
        mx = np.empty(f.size)
        for j, zj in enumerate(z):
            s = np.linalg.svd(zj * np.eye(n) - M, compute_uv=False)
            if s[-1] == 0:
                mx[j] = tot[j] = np.inf
            else:
                mx[j] = 1.0 / s[-1]
                tot[j] = np.sqrt(np.sum(1.0 / s ** 2) / n)
        return FrequencyResponse(freqs=f, block_gain=None, block_freqs=None, total=tot, max_gain=mx)
    gains, fro2s, bfreqs = [], [], []
    if blocks.shape[0]:
        op, fro2 = _inv2_norms(blocks, z)
        gains.append(op)
        fro2s.append(fro2)
        ev = np.array([np.linalg.eigvals(b)[0] for b in blocks])
        bfreqs.append(np.abs(np.angle(ev)) / (2 * np.pi))
    if len(tail):
        dist = np.abs(z[None, :] - np.asarray(tail)[:, None])
        with np.errstate(divide="ignore"):
            g = np.where(dist > 0, 1.0 / dist, np.inf)
        gains.append(g)
        fro2s.append(g ** 2)
        bfreqs.append(np.where(np.asarray(tail) >= 0, 0.0, 0.5))
    gain = np.concatenate(gains, axis=0)
    fro2 = np.concatenate(fro2s, axis=0)
    return FrequencyResponse(freqs=f, block_gain=gain, block_freqs=np.concatenate(bfreqs),
                             total=np.sqrt(fro2.sum(axis=0) / n), max_gain=gain.max(axis=0))
