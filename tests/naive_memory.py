"""Slow, obviously-correct references for wcrnn_dyn.memory and wcrnn_dyn.spectral (tests only).

Everything here is plain NumPy with explicit loops and dense matrices: one sequence at a time, one lag at a
time, one target at a time.
"""
import numpy as np
from numpy.polynomial import legendre as npleg


def _phi(act, a):
    if act == "tanh":
        return np.tanh(a), 1.0 - np.tanh(a) ** 2
    if act == "relu":
        return np.maximum(a, 0.0), (a > 0).astype(float)
    return a.copy(), np.ones_like(a)


def trajectory(net, x, h0=None):
    """States h_1..h_T (T, N) and the pre-activations a_t (T, N) of one sequence x (T, d), in float64."""
    W, U, b = (np.asarray(net.W, float), np.asarray(net.U, float), np.asarray(net.b, float))
    eps = float(net.coupling)
    R = net.residual
    h = np.zeros(net.n_hidden) if h0 is None else np.asarray(h0, float).copy()
    H, A = [], []
    for t in range(x.shape[0]):
        a = W @ h + U @ x[t] + b
        h = R.apply(h) + eps * _phi(net.activation, a)[0]
        H.append(h.copy())
        A.append(a)
    return np.array(H), np.array(A)


def jacobian_dense(net, h_prev, a_t):
    """Dense J_t = dR(h_{t-1}) + eps diag(phi'(a_t)) W."""
    R = net.residual
    dR = R.matrix() if R.is_linear else R.jacobian(h_prev)
    dphi = _phi(net.activation, a_t)[1]
    return dR + float(net.coupling) * dphi[:, None] * np.asarray(net.W, float)


def input_sensitivity(net, X, max_lag, readout=False):
    """Per-sequence || d(h_T or V h_T) / dx_{T-l} ||_F, (B, max_lag + 1), by dense Jacobian products."""
    X = np.asarray(X, float)
    U = np.asarray(net.U, float)
    eps = float(net.coupling)
    out = np.zeros((X.shape[0], max_lag + 1))
    for s in range(X.shape[0]):
        H, A = trajectory(net, X[s])
        T = X.shape[1]
        P = np.asarray(net.V, float) if readout else np.eye(net.n_hidden)
        for lag in range(max_lag + 1):
            t = T - 1 - lag  # 0-based index of step T - lag
            dphi = _phi(net.activation, A[t])[1]
            S = P @ (eps * dphi[:, None] * U)
            out[s, lag] = np.linalg.norm(S)
            h_prev = H[t - 1] if t >= 1 else np.zeros(net.n_hidden)
            P = P @ jacobian_dense(net, h_prev, A[t])
    return out


def capacities_one_by_one(F, Y, n_train):
    """Held-out squared correlation for each target column separately (lstsq with an intercept column)."""
    n = F.shape[0]
    Fi = np.hstack([F, np.ones((n, 1))])
    caps = []
    for j in range(Y.shape[1]):
        w = np.linalg.lstsq(Fi[:n_train], Y[:n_train, j], rcond=None)[0]
        pred = Fi[n_train:] @ w
        if np.std(pred) == 0:
            caps.append(0.0)
            continue
        caps.append(np.corrcoef(pred, Y[n_train:, j])[0, 1] ** 2)
    return np.array(caps)


def legendre_normalized(u, k):
    """sqrt(2k + 1) P_k(u) via numpy's Legendre basis."""
    return np.sqrt(2 * k + 1) * npleg.Legendre.basis(k)(np.asarray(u, float))


def resolvent_gain(M, f):
    """Operator 2-norm of (e^{i 2 pi f} I - M)^{-1} by explicit inverse."""
    z = np.exp(2j * np.pi * f)
    return np.linalg.norm(np.linalg.inv(z * np.eye(M.shape[0]) - M), 2)


def welch_average(X, nperseg):
    """Welch PSD of every sequence and channel separately, averaged (loops)."""
    from scipy.signal import welch
    X = np.asarray(X, float)
    acc, f = None, None
    for s in range(X.shape[0]):
        for c in range(X.shape[2]):
            f, p = welch(X[s, :, c], fs=1.0, nperseg=nperseg)
            acc = p if acc is None else acc + p
    return f, acc / (X.shape[0] * X.shape[2])
