"""Theory for WCRNN Lyapunov spectra (docs/THEORY.md sections 2 and 4): predictions, bounds, regimes.

* :func:`predicted_exponents` -- eps -> 0 prediction: sorted log|eigenvalues| of the residual.
* :func:`predicted_timescales` -- tau_i = -1 / log|lambda_i| in steps.
* :func:`exponent_bound` -- for Lambda = mu * orthogonal: |LE_i - log mu| <= -log(1 - eps ||W||_2 / mu).
* :func:`exponent_interval` -- the interval [log(mu - delta), log(mu + delta)] behind that bound.
* :func:`perturbation_scale` -- for diagonalisable Lambda = P D P^-1: -log(1 - kappa(P) eps ||W||_2 / min|lambda|).
* :func:`max_deviation` -- max_i |LE_i - log|lambda_i|| of measured exponents against the prediction.
* :func:`regime` -- 'subcritical' / 'critical' / 'supercritical' from the spectral radius.
* :func:`is_scaled_orthogonal` -- the numerical test Lambda^T Lambda = mu^2 I used by the bound.
"""
from __future__ import annotations

import numpy as np

from . import residuals as _res
from ._validate import check_float, to_numpy

__all__ = ["predicted_exponents", "predicted_timescales", "exponent_bound", "exponent_interval", "regime",
           "is_scaled_orthogonal", "perturbation_scale", "max_deviation", "within_bound", "REGIMES"]

REGIMES = ("subcritical", "critical", "supercritical")
ORTHO_RTOL = 1e-8  # relative tolerance of the test Lambda^T Lambda = mu^2 I


def _residual_of(obj, name="residual"):
    """A residual object from a residual, a WCRNN (its residual) or an Elman net (its WCRI residual, or
    W itself as a dense matrix)."""
    from .models import RecurrentNetwork
    obj = to_numpy(obj)
    if isinstance(obj, _res.Residual):
        return obj
    if isinstance(obj, RecurrentNetwork):
        if obj.kind == "elman":
            return _res.dense(np.asarray(obj.W, dtype=float))
        return obj.residual
    if isinstance(obj, (np.ndarray, list, tuple)):
        return _res.as_residual(obj, name=name)
    raise TypeError(f"{name} must be a residual object, a WCRNN / Elman network or an (n, n) array, "
                    f"got {type(obj).__name__}")


def predicted_exponents(residual):
    """Lyapunov exponents predicted at eps -> 0: log|lambda_i| of the residual, sorted descending.

    Parameters
    ----------
    residual : Residual, (n, n) array_like, WCRNN or Elman
        A residual object, a matrix (taken as a dense residual), a WCRNN (its residual) or an Elman network
        (its recurrent matrix W: the exponents of the linearisation at h = 0 with phi'(0) = 1, e.g. WCRI's
        log|lambda(Lambda)| at eps = 0).

    Returns
    -------
    ndarray of shape (n,)
        log|lambda_i| in nats per step, sorted descending; -inf for a zero eigenvalue (never NaN).

    Raises
    ------
    TypeError
        If ``residual`` is none of the accepted types.
    ValueError
        If a matrix is not square or not finite.

    Notes
    -----
    Exact for normal Lambda at eps = 0, and the eps -> 0 limit of the measured spectrum otherwise
    (docs/THEORY.md section 4.1); at eps > 0 the deviation is O(eps), bounded by :func:`exponent_bound`
    for scaled-orthogonal residuals (section 4.2) and scaled by kappa(P) for non-normal ones (section 4.3).
    For a non-linear residual g(L h) this is the linearisation at h = 0 (g'(0) = 1); the measured exponents
    are trajectory averages of log|g'| + log|lambda| instead (section 4.6).  Cost O(n^3) for dense
    residuals (one eigenvalue decomposition), O(n) for diagonal and block ones.

    References
    ----------
    Dubinin, I. & Effenberger, F. (2024). Fading memory as inductive bias in residual recurrent networks.
    Neural Networks 173, 106179.

    Examples
    --------
    >>> from wcrnn_dyn import residuals, theory
    >>> theory.predicted_exponents(residuals.heterogeneous([0.5, 0.9])).round(4)
    array([-0.1054, -0.6931])
    """
    R = _residual_of(residual)
    ev = np.asarray(R.eigenvalues())
    with np.errstate(divide="ignore"):
        return np.sort(np.log(np.abs(ev)))[::-1]


def predicted_timescales(residual):
    """Memory timescales tau_i = -1 / log|lambda_i| in steps, sorted descending.

    Parameters
    ----------
    residual : Residual, (n, n) array_like, WCRNN or Elman
        As in :func:`predicted_exponents`.

    Returns
    -------
    ndarray of shape (n,)
        tau_i in steps, sorted descending: inf for |lambda_i| >= 1 (never decays), 0 for lambda_i = 0
        (never NaN).  mu = 0.99 gives 99.5 steps.

    Raises
    ------
    TypeError, ValueError
        As in :func:`predicted_exponents`.

    Notes
    -----
    The eps -> 0 timescales of the residual (docs/THEORY.md sections 4.5 and 6.1); for measured exponents
    use :func:`wcrnn_dyn.memory.timescales`.  Cost: that of :func:`predicted_exponents`.

    Examples
    --------
    >>> from wcrnn_dyn import residuals, theory
    >>> theory.predicted_timescales(residuals.scaled_identity(2, 0.99)).round(1)
    array([99.5, 99.5])
    """
    from .memory import timescales
    return np.sort(timescales(predicted_exponents(residual)))[::-1]


def is_scaled_orthogonal(residual, rtol=ORTHO_RTOL):
    """Whether a linear residual is a scaled orthogonal matrix, Lambda^T Lambda = mu^2 I.

    Parameters
    ----------
    residual : Residual, (n, n) array_like, WCRNN or Elman
        As in :func:`predicted_exponents`.
    rtol : float, default ORTHO_RTOL = 1e-8
        Tolerance relative to mu^2 on max |Lambda^T Lambda - mu^2 I|.

    Returns
    -------
    (bool, float)
        (True, mu) with mu = sqrt(mean diag(Lambda^T Lambda)) if the test passes, else (False, nan).
        Non-linear residuals and Lambda = 0 give (False, nan).

    Raises
    ------
    TypeError, ValueError
        For a residual of the wrong type or shape, or a negative or non-finite ``rtol``.

    Notes
    -----
    The hypothesis of the bound of :func:`exponent_bound` (docs/THEORY.md sections 2 and 4.2): the scaled
    identity, rotational and orthogonal families pass.  Cost O(n^3) (one dense product).

    Examples
    --------
    >>> from wcrnn_dyn import residuals, theory
    >>> ok, mu = theory.is_scaled_orthogonal(residuals.orthogonal(6, 0.9, seed=0))
    >>> ok, round(mu, 12)
    (True, 0.9)
    >>> theory.is_scaled_orthogonal(residuals.heterogeneous([0.5, 0.9]))[0]
    False
    """
    rtol = check_float(rtol, "rtol", minimum=0.0)
    R = _residual_of(residual)
    if not R.is_linear:
        return False, float("nan")
    L = R.matrix()
    G = L.T @ L
    mu2 = float(np.mean(np.diag(G)))
    if mu2 <= 0:
        return False, float("nan")
    err = np.max(np.abs(G - mu2 * np.eye(L.shape[0])))
    if err > rtol * mu2:
        return False, float("nan")
    return True, float(np.sqrt(mu2))


def _bound_parts(net):
    from .models import RecurrentNetwork
    if not isinstance(net, RecurrentNetwork):
        raise TypeError(f"net must be a WCRNN, got {type(net).__name__}")
    if net.kind != "wcrnn":
        raise ValueError("exponent_bound needs a WCRNN h_t = Lambda h_{t-1} + eps phi(...); an Elman network has "
                         "no residual / coupling split (use predicted_exponents for WCRI's eps -> 0 limit)")
    if not net.residual.is_linear:
        raise ValueError("exponent_bound needs a linear residual Lambda = mu * orthogonal; got a non-linear "
                         f"residual ({net.residual.family})")
    ok, mu = is_scaled_orthogonal(net.residual)
    if not ok:
        raise ValueError(f"exponent_bound needs a scaled-orthogonal residual (Lambda^T Lambda = mu^2 I: the "
                         f"identity, rotational and orthogonal families); the {net.residual.family!r} residual "
                         "is not (for diagonal/normal residuals the deviation scales with kappa(P) eps ||W||, "
                         "without a closed bound here)")
    if net.activation not in ("tanh", "relu", "identity"):  # pragma: no cover - guarded by the model
        raise ValueError(f"exponent_bound assumes |phi'| <= 1, unknown activation {net.activation!r}")
    delta = float(net.coupling) * float(np.linalg.norm(np.asarray(net.W, dtype=float), 2))
    if not delta < mu:
        raise ValueError(f"exponent_bound is valid only for eps ||W||_2 < mu; got eps ||W||_2 = {delta:.6g} >= "
                         f"mu = {mu:.6g}")
    return mu, delta


def exponent_bound(net):
    """Bound on |LE_i - log mu| for a WCRNN with scaled-orthogonal residual Lambda = mu * O.

    Parameters
    ----------
    net : WCRNN
        A WCRNN with a linear, scaled-orthogonal residual (see :func:`is_scaled_orthogonal`).

    Returns
    -------
    float
        -log(1 - eps ||W||_2 / mu) >= 0, in nats per step (never NaN or inf).

    Raises
    ------
    TypeError
        If ``net`` is not a network.
    ValueError
        If the network is an Elman network, the residual is non-linear or not scaled orthogonal
        (Lambda^T Lambda = mu^2 I to relative 1e-8), or eps ||W||_2 >= mu (the bound does not apply).

    Notes
    -----
    Every singular value of J_t = Lambda + eps diag(phi') W lies in [mu - delta, mu + delta] with
    delta = eps ||W||_2 (|phi'| <= 1 for tanh, relu and identity), so every exponent of every trajectory,
    and every finite-time QR estimate, satisfies |LE_i - log mu| <= -log(1 - delta / mu).  The deviation is
    O(eps).  The bound is worst case: it can be much wider than the measured deviation and, once
    mu + delta >= 1, does not decide the sign of the exponents (docs/THEORY.md section 4.2).  Cost: one
    SVD-based 2-norm of W, O(N^3).

    References
    ----------
    Dubinin, I. & Effenberger, F. (2024). Fading memory as inductive bias in residual recurrent networks.
    Neural Networks 173, 106179.

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 16, 1, residual=wd.residuals.rotational(16, 0.95), eps=0.01, seed=0)
    >>> lo, hi = wd.theory.exponent_interval(net)
    >>> bool(lo < np.log(0.95) < hi), round(wd.theory.exponent_bound(net), 4)
    (True, 0.02)
    """
    mu, delta = _bound_parts(net)
    return float(-np.log1p(-delta / mu))


def exponent_interval(net):
    """Interval (log(mu - eps ||W||_2), log(mu + eps ||W||_2)) that contains every Lyapunov exponent.

    Parameters
    ----------
    net : WCRNN
        As in :func:`exponent_bound`.

    Returns
    -------
    (float, float)
        (low, high) in nats per step; low <= log mu <= high (equal when eps ||W||_2 = 0).

    Raises
    ------
    TypeError, ValueError
        Under the same conditions as :func:`exponent_bound`.

    Notes
    -----
    The one-sided form of :func:`exponent_bound` (docs/THEORY.md section 4.2); the interval contains 0 when
    mu + eps ||W||_2 >= 1.  Cost O(N^3).
    """
    mu, delta = _bound_parts(net)
    return float(np.log(mu - delta)), float(np.log(mu + delta))


def perturbation_scale(net):
    """Perturbation scale of the exponents of a WCRNN with a diagonalisable linear residual.

    Parameters
    ----------
    net : WCRNN
        A WCRNN whose residual is linear and diagonalisable, Lambda = P D P^-1.

    Returns
    -------
    dict
        ``kappa`` (the 2-norm condition number of P) and ``scale`` = -log(1 - kappa eps ||W||_2 / min|lambda|),
        the size of the O(kappa eps ||W||) deviation of the ordered exponents from log|lambda_i|.

    Raises
    ------
    TypeError
        If ``net`` is not a network.
    ValueError
        For an Elman network, a non-linear residual, a singular Lambda, or when kappa eps ||W||_2 >=
        min|lambda| (the scale is vacuous there).

    Notes
    -----
    docs/THEORY.md section 4.3 (Bauer-Fike applied step by step).  For scaled-orthogonal residuals kappa = 1 and
    this is :func:`exponent_bound` with min|lambda| = mu.  Cost: a dense eigendecomposition, O(N^3).
    """
    from .models import RecurrentNetwork
    if not isinstance(net, RecurrentNetwork):
        raise TypeError(f"net must be a WCRNN, got {type(net).__name__}")
    if net.kind != "wcrnn" or not net.residual.is_linear:
        raise ValueError("perturbation_scale needs a WCRNN with a linear residual")
    lam, P = np.linalg.eig(net.residual.matrix())
    if np.min(np.abs(lam)) == 0:
        raise ValueError("perturbation_scale needs a non-singular residual (min|lambda| = 0)")
    kappa = float(np.linalg.cond(P))
    r = kappa * float(net.coupling) * float(np.linalg.norm(np.asarray(net.W, dtype=float), 2)) / float(np.min(np.abs(lam)))
    if not r < 1:
        raise ValueError(f"perturbation_scale is vacuous: kappa eps ||W||_2 / min|lambda| = {r:.4g} >= 1")
    return {"kappa": kappa, "scale": float(-np.log1p(-r))}


def within_bound(exponents, net, atol=1e-12):
    """Whether measured exponents lie in :func:`exponent_interval` of the network.

    Parameters
    ----------
    exponents : array_like
        Measured exponents (any k).
    net : WCRNN
        As in :func:`exponent_bound`.
    atol : float, default 1e-12
        Rounding allowance at both ends.

    Returns
    -------
    bool
        True when every exponent is in [log(mu - eps||W||), log(mu + eps||W||)] (within ``atol``); False for
        any non-finite exponent.

    Raises
    ------
    TypeError, ValueError
        Where :func:`exponent_bound` does (the bound does not apply).

    Notes
    -----
    docs/THEORY.md section 4.2.  Cost O(N^3) (the 2-norm of W).
    """
    lo, hi = exponent_interval(net)
    le = np.asarray(exponents, dtype=float)
    return bool(np.all(np.isfinite(le)) and np.all((le >= lo - atol) & (le <= hi + atol)))


def max_deviation(exponents, residual):
    """Largest deviation of measured exponents from the residual's prediction.

    Parameters
    ----------
    exponents : array_like
        Measured exponents, descending (the leading k of the spectrum).
    residual : Residual, WCRNN or Elman
        Whose :func:`predicted_exponents` (sorted log|lambda_i|) are compared.

    Returns
    -------
    float
        max_i |LE_i - log|lambda_i|| over the first k; NaN when an exponent or a prediction is not finite
        (e.g. log 0 for a zero eigenvalue).

    Raises
    ------
    ValueError
        When there are more exponents than the residual has eigenvalues.

    Notes
    -----
    Cost O(N log N) plus the eigenvalues.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import residuals, theory
    >>> R = residuals.heterogeneous([0.9, 0.5])
    >>> round(theory.max_deviation(np.log([0.9, 0.5]) + [0.0, 0.01], R), 6)
    0.01
    """
    le = np.asarray(exponents, dtype=float).ravel()
    pred = predicted_exponents(residual)
    if le.size > pred.size:
        raise ValueError(f"got {le.size} exponents for a residual with {pred.size} eigenvalues")
    d = np.abs(le - pred[:le.size])
    return float(np.max(d)) if np.all(np.isfinite(d)) else float("nan")


def regime(net_or_residual, tol=1e-6, effective=False):
    """Dynamical regime from the spectral radius rho of the residual.

    Parameters
    ----------
    net_or_residual : Residual, (n, n) array_like, WCRNN or Elman
        A residual, a matrix, a WCRNN (its residual; its linear part for a non-linear residual) or an Elman
        network (its W).
    tol : float, default 1e-6
        Width of the critical band around rho = 1.
    effective : bool, default False
        With a WCRNN with linear residual, use the linearisation at h = 0,
        rho(Lambda + eps diag(phi'(b)) W), instead of rho(Lambda).

    Returns
    -------
    str
        'subcritical' if rho < 1 - tol, 'supercritical' if rho > 1 + tol, else 'critical' (edge of chaos);
        one of :data:`REGIMES`.

    Raises
    ------
    TypeError
        For an argument of the wrong type.
    ValueError
        For a negative or non-finite ``tol``, a non-square matrix, or ``effective=True`` with a non-linear
        residual.

    Notes
    -----
    docs/THEORY.md section 2.  Cost O(n^3) for dense matrices, O(n) for diagonal and block residuals.

    Examples
    --------
    >>> from wcrnn_dyn import residuals, theory
    >>> [theory.regime(residuals.scaled_identity(4, mu)) for mu in (0.9, 1.0, 1.1)]
    ['subcritical', 'critical', 'supercritical']
    """
    from .models import RecurrentNetwork
    tol = check_float(tol, "tol", minimum=0.0)
    if effective and isinstance(net_or_residual, RecurrentNetwork) and net_or_residual.kind == "wcrnn":
        net = net_or_residual
        if not net.residual.is_linear:
            raise ValueError("effective=True needs a linear residual")
        from .models import activation_derivative
        dphi = activation_derivative(net.b, net.activation)
        J0 = net.residual.matrix() + net.coupling * dphi[:, None] * np.asarray(net.W, dtype=float)
        rho = float(np.max(np.abs(np.linalg.eigvals(J0))))
    else:
        R = _residual_of(net_or_residual, "net_or_residual")
        rho = float(np.max(np.abs(R.linear_part.eigenvalues())))
    if rho < 1.0 - tol:
        return "subcritical"
    if rho > 1.0 + tol:
        return "supercritical"
    return "critical"
