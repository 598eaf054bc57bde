"""Slow, obviously correct NumPy references for the core kernels (the model of stumpy's tests/naive.py).

Everything here follows the definitions of docs/THEORY.md sections 1-3 literally: one sample and one step at a
time, dense matrices, no structure exploited.  The residual is given as a Python function R(h) together
with its dense Jacobian dR(h), both built from the family definitions, never from the package's kernels.
"""
import numpy as np


def rot(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def block_diag(*blocks):
    n = sum(b.shape[0] for b in blocks)
    M = np.zeros((n, n))
    i = 0
    for b in blocks:
        k = b.shape[0]
        M[i:i + k, i:i + k] = b
        i += k
    return M


def rotational_matrix(n, mu, thetas):
    blocks = [mu * rot(t) for t in thetas]
    if n % 2:
        blocks.append(np.array([[mu]]))
    return block_diag(*blocks)


def phi(a, activation):
    if activation == "tanh":
        return np.tanh(a)
    if activation == "relu":
        return np.maximum(a, 0.0)
    if activation == "identity":
        return a.copy()
    raise ValueError(activation)


def dphi(a, activation):
    if activation == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if activation == "relu":
        return (a > 0).astype(float)
    return np.ones_like(a)


class NaiveResidual:
    """R(h) = g(L h) with L dense, g identity or s * tanh(. / s)."""

    def __init__(self, L, scale=None):
        self.L = np.asarray(L, dtype=float)
        self.scale = scale

    def __call__(self, h):
        z = self.L @ h
        if self.scale is None:
            return z
        return self.scale * np.tanh(z / self.scale)

    def jac(self, h):
        if self.scale is None:
            return self.L.copy()
        z = self.L @ h
        return (1.0 - np.tanh(z / self.scale) ** 2)[:, None] * self.L


def forward(R, W, U, b, eps, activation, X, h0=None):
    """States h_1..h_T for each sample: X (B, T, d) -> (B, T, N).  One sample, one step at a time."""
    B, T, d = X.shape
    N = W.shape[0]
    out = np.zeros((B, T, N))
    for s in range(B):
        h = np.zeros(N) if h0 is None else np.array(h0[s], dtype=float)
        for t in range(T):
            a = W @ h + U @ X[s, t] + b
            h = R(h) + eps * phi(a, activation)
            out[s, t] = h
    return out


def jacobian(R, W, U, b, eps, activation, h_prev, x):
    """Dense J = dR(h_prev) + eps diag(phi'(a)) W, element by element."""
    a = W @ h_prev + U @ x + b
    dp = dphi(a, activation)
    N = W.shape[0]
    J = np.array(R.jac(h_prev), dtype=float)
    for i in range(N):
        for j in range(N):
            J[i, j] += eps * dp[i] * W[i, j]
    return J


def bptt(R, W, U, b, eps, activation, X, gT, h0=None):
    """Gradients of L = sum_s gT[s] . h_T[s] w.r.t. W, U, b and h0 by dense Jacobians, one sample at a time."""
    B, T, d = X.shape
    N = W.shape[0]
    dW = np.zeros_like(W, dtype=float)
    dU = np.zeros_like(U, dtype=float)
    db = np.zeros(N)
    dh0 = np.zeros((B, N))
    H = forward(R, W, U, b, eps, activation, X, h0)
    for s in range(B):
        hs = [np.zeros(N) if h0 is None else np.array(h0[s], dtype=float)] + [H[s, t] for t in range(T)]
        delta = np.array(gT[s], dtype=float)
        for t in range(T - 1, -1, -1):
            a = W @ hs[t] + U @ X[s, t] + b
            da = eps * dphi(a, activation) * delta
            dW += np.outer(da, hs[t])
            dU += np.outer(da, X[s, t])
            db += da
            delta = jacobian(R, W, U, b, eps, activation, hs[t], X[s, t]).T @ delta
        dh0[s] = delta
    return dW, dU, db, dh0
