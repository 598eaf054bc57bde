"""Slow, obviously-correct references for the Lyapunov engine (docs/THEORY.md section 5.1, literally).

Independent of the package's forward map and Jacobian: :class:`NaiveMap` holds plain NumPy arrays (the
residual's dense linear part ``L`` and its saturation ``scale`` if it is non-linear, ``W``, ``U``, ``b``,
``eps`` and the activation name) and implements, one state at a time,

    h_t = R(h_{t-1}) + eps * phi(W h_{t-1} + U x_t + b),   R(h) = L h  or  scale * tanh(L h / scale),
    J_t = dR(h_{t-1}) + eps * diag(phi'(a_t)) W,

with the Jacobian formed densely, element by element.  :meth:`NaiveMap.from_net` only *reads* a model's
arrays (``W``, ``U``, ``b``, ``eps``, ``activation``, the residual's matrix); ``net.states`` and
``net.jacobian`` are never called.  The frame is multiplied by J_t and re-orthonormalised with
``numpy.linalg.qr``: no structure, no fusion, no Cholesky.  tests/test_naive_oracles.py checks the map and
the Jacobian against hand-computed values.
"""
import numpy as np


def phi(a, activation):
    if activation == "tanh":
        return np.tanh(a)
    if activation == "relu":
        return np.maximum(a, 0.0)
    if activation == "identity":
        return np.array(a, dtype=float)
    raise ValueError(f"unknown activation {activation!r}")


def dphi(a, activation):
    if activation == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if activation == "relu":
        return (np.asarray(a) > 0).astype(float)
    if activation == "identity":
        return np.ones_like(np.asarray(a, dtype=float))
    raise ValueError(f"unknown activation {activation!r}")


class NaiveMap:
    """The WCRNN map h -> R(h) + eps * phi(W h + U x + b) from raw arrays (Elman: L = 0, eps = 1)."""

    def __init__(self, L, W, U, b, eps, activation="tanh", scale=None):
        self.L = np.array(L, dtype=float)
        self.W = np.array(W, dtype=float)
        self.U = np.array(U, dtype=float)
        self.b = np.array(b, dtype=float)
        self.eps = float(eps)
        self.activation = activation
        self.scale = None if scale is None else float(scale)
        self.n = self.W.shape[0]

    @classmethod
    def from_net(cls, net):
        """Read the arrays of a WCRNN or an Elman network (never its forward map or Jacobian)."""
        N = net.n_hidden
        if type(net).__name__ == "Elman":           # h_t = phi(W h + U x + b): no residual, full coupling
            return cls(np.zeros((N, N)), net.W, net.U, net.b, 1.0, net.activation)
        res = net.residual
        if res.is_linear:
            return cls(res.matrix(), net.W, net.U, net.b, net.eps, net.activation)
        assert res.family == "nonlinear" and res.g == "tanh", res
        return cls(res.linear_part.matrix(), net.W, net.U, net.b, net.eps, net.activation, scale=res.scale)

    def residual(self, h):
        z = self.L @ h
        return z if self.scale is None else self.scale * np.tanh(z / self.scale)

    def residual_jacobian(self, h):
        if self.scale is None:
            return self.L.copy()
        g = 1.0 - np.tanh((self.L @ h) / self.scale) ** 2
        out = np.zeros_like(self.L)
        for i in range(self.n):
            out[i, :] = g[i] * self.L[i, :]
        return out

    def step(self, h, x):
        """h_t from h_{t-1} = h and x_t = x."""
        h = np.asarray(h, dtype=float)
        a = self.W @ h + self.U @ np.asarray(x, dtype=float) + self.b
        return self.residual(h) + self.eps * phi(a, self.activation)

    def jacobian(self, h, x):
        """Dense J_t = dh_t / dh_{t-1} at h_{t-1} = h, x_t = x, element by element."""
        h = np.asarray(h, dtype=float)
        a = self.W @ h + self.U @ np.asarray(x, dtype=float) + self.b
        d = dphi(a, self.activation)
        J = self.residual_jacobian(h)
        for i in range(self.n):
            for j in range(self.n):
                J[i, j] += self.eps * d[i] * self.W[i, j]
        return J

    def trajectory(self, X, h0=None):
        """[h_0, h_1, ..., h_T] (T + 1, N) for one sequence X (T, d), one step at a time."""
        X = np.asarray(X, dtype=float)
        h = np.zeros(self.n) if h0 is None else np.array(h0, dtype=float)
        out = [h]
        for t in range(X.shape[0]):
            h = self.step(h, X[t])
            out.append(h)
        return np.vstack(out)


def as_map(net_or_map):
    return net_or_map if isinstance(net_or_map, NaiveMap) else NaiveMap.from_net(net_or_map)


def frame(n, k, seed):
    """Same initial frame as wcrnn_dyn.lyapunov.initial_frame, rebuilt here from its definition."""
    G = np.random.default_rng(seed).standard_normal((k, n)).T
    Q, R = np.linalg.qr(G)
    s = np.sign(np.diag(R))
    s[s == 0] = 1.0
    return Q * s


def trajectory(net, X, h0=None):
    """[h_0, h_1, ..., h_T] for one sequence X (T, d), by the naive map."""
    return as_map(net).trajectory(X, h0)


def qr_log_r_sums(net, X, k, washout, burn_in, qr_every, seed, h0=None):
    """Column sums of log|r_ii| over the accumulated steps (unsorted) and the number of those steps.

    Phases as in docs/THEORY.md section 5.1: steps 1..washout state only; next burn_in steps frame evolves, QR every
    qr_every steps and at the end of burn-in, nothing kept; remaining M steps: QR every qr_every steps and
    at the last step, log|r_ii| summed.
    """
    m = as_map(net)
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    H = m.trajectory(X, h0)
    Q = frame(m.n, k, seed)
    M = T - washout - burn_in
    sums = np.zeros(k)
    for s in range(burn_in + M):
        t = washout + s + 1                    # step number 1..T
        J = m.jacobian(H[t - 1], X[t - 1])     # J_t = dh_t / dh_{t-1}
        Q = J @ Q
        if s < burn_in:
            if (s + 1) % qr_every == 0 or s == burn_in - 1:
                Q, _ = np.linalg.qr(Q)
            continue
        a = s - burn_in
        if (a + 1) % qr_every == 0 or a == M - 1:
            Q, r = np.linalg.qr(Q)
            sums += np.log(np.abs(np.diag(r)))
    return sums, M


def spectrum(net, X, k=None, washout=0, burn_in=100, qr_every=1, seed=0, h0=None):
    """Sorted (descending) exponents of one sequence by the naive method (``net``: a model or a NaiveMap)."""
    m = as_map(net)
    k = m.n if k is None else k
    sums, M = qr_log_r_sums(m, X, k, washout, burn_in, qr_every, seed, h0)
    return np.sort(sums / M)[::-1]


def mean_log_abs_det(net, X, washout, burn_in, h0=None):
    """Time average of log|det J_t| over the accumulated steps (the sum identity, docs/THEORY.md section 4.4)."""
    m = as_map(net)
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    H = m.trajectory(X, h0)
    vals = []
    for t in range(washout + burn_in + 1, T + 1):
        sign, logdet = np.linalg.slogdet(m.jacobian(H[t - 1], X[t - 1]))
        vals.append(logdet)
    return float(np.mean(vals))


def two_trajectory_top(step, x0, T, delta, burn_in, v):
    """Top exponent of a map by the renormalised separation of two trajectories (renormalise each step)."""
    x = np.asarray(x0, dtype=float)
    y = x + delta * v
    total = 0.0
    for t in range(T):
        x = step(x)
        y = step(y)
        d = np.linalg.norm(y - x)
        if t >= burn_in:
            total += np.log(d / delta)
        y = x + (delta / d) * (y - x)
    return total / (T - burn_in)
