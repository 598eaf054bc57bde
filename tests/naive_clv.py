"""Slow, obviously-correct references for covariant Lyapunov vectors and finite-time exponents.

CLVs by the *intersection* construction (Wolfe & Samelson, Tellus 59A, 2007), independent of Ginelli's
backward iteration: with dense Jacobians J_t (tests/naive_lyapunov.py's map or a user function),

* forward subspace F_j(t) = span of the first j Gram-Schmidt vectors obtained by pushing a random frame
  from time t - n_past to t (Q <- qr(J Q));
* slow subspace S_j(t) = orthogonal complement of the first j - 1 vectors obtained by pushing a random
  frame *backwards with the transposed Jacobians* from t + n_future to t (the leading right singular
  vectors of the future propagator);
* v_j(t) spans F_j(t) intersected with S_j(t): v = Q[:, :j] a with P[:, :j-1]^T Q[:, :j] a = 0.
"""
import numpy as np


def net_jacobians(net, X, h0=None):
    """[None, J_1, ..., J_T] for one sequence X (T, d), formed densely by the package-independent map of
    tests/naive_lyapunov.py (``NaiveMap``: the model's arrays only, not ``net.states`` / ``net.jacobian``)."""
    from naive_lyapunov import as_map
    m = as_map(net)
    X = np.asarray(X, dtype=float)
    H = m.trajectory(X, h0)
    return [None] + [m.jacobian(H[t - 1], X[t - 1]) for t in range(1, X.shape[0] + 1)]


def map_jacobians(step, jac, x0, T):
    """[None, J_1, ..., J_T] for a user map: J_t = jac(x_{t-1}), x_t = step(x_{t-1})."""
    x = np.asarray(x0, dtype=float)
    out = [None]
    for _ in range(T):
        out.append(np.asarray(jac(x), dtype=float))
        x = step(x)
    return out


def _random_frame(n, seed):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return Q


def clv_at(Js, t, k, n_past, n_future, seed=123):
    """(n, k) CLVs at step t (unit columns, component along the j-th forward Gram-Schmidt vector positive)."""
    n = Js[1].shape[0]
    Q = _random_frame(n, seed)
    for s in range(t - n_past + 1, t + 1):
        Q, _ = np.linalg.qr(Js[s] @ Q)
    P = _random_frame(n, seed + 1)
    for s in range(t + n_future, t, -1):
        P, _ = np.linalg.qr(Js[s].T @ P)
    V = np.zeros((n, k))
    for j in range(1, k + 1):
        if j == 1:
            v = Q[:, 0].copy()
        else:
            M = P[:, :j - 1].T @ Q[:, :j]
            a = np.linalg.svd(M)[2][-1]
            v = Q[:, :j] @ a
        v /= np.linalg.norm(v)
        if v @ Q[:, j - 1] < 0:
            v = -v
        V[:, j - 1] = v
    return V


def min_angle(V, j):
    """Minimum principal angle between span(V[:, :j]) and span(V[:, j:]) (radians), by SVD of the bases."""
    A, _ = np.linalg.qr(V[:, :j])
    B, _ = np.linalg.qr(V[:, j:])
    c = np.linalg.svd(A.T @ B, compute_uv=False).max()
    return float(np.arccos(min(1.0, c)))


def finite_time_exponents(net, X, k, window, burn_in, seed):
    """(n_windows, k) QR exponents per window (column order unsorted), one sequence, washout 0, qr_every 1."""
    from naive_lyapunov import frame
    Js = net_jacobians(net, X)
    T = len(Js) - 1
    Q = frame(net.n_hidden, k, seed)
    n_w = (T - burn_in) // window
    out = np.zeros((n_w, k))
    for t in range(1, burn_in + n_w * window + 1):
        Q, r = np.linalg.qr(Js[t] @ Q)
        if t > burn_in:
            out[(t - burn_in - 1) // window] += np.log(np.abs(np.diag(r)))
    return out / window
