"""Slow, obviously-correct references for the Lyapunov engine (docs/THEORY.md section 5.1, literally).

One sequence at a time, one step at a time: the states come from ``net.states`` (the package's forward
map), the Jacobian J_t is formed densely with ``net.jacobian(h_{t-1}, x_t)``, the frame is multiplied by it
and re-orthonormalised with ``numpy.linalg.qr``.  No structure, no fusion, no Cholesky.
"""
import numpy as np


def frame(n, k, seed):
    """Same initial frame as wcrnn_dyn.lyapunov.initial_frame, rebuilt here from its definition."""
    G = np.random.default_rng(seed).standard_normal((k, n)).T
    Q, R = np.linalg.qr(G)
    s = np.sign(np.diag(R))
    s[s == 0] = 1.0
    return Q * s


def trajectory(net, X, h0=None):
    """[h_0, h_1, ..., h_T] for one sequence X (T, d)."""
    N = net.n_hidden
    h0 = np.zeros(N) if h0 is None else np.asarray(h0, dtype=float)
    H = net.states(X, h0=h0)
    return np.vstack([h0[None], H])


def qr_log_r_sums(net, X, k, washout, burn_in, qr_every, seed, h0=None):
    """Column sums of log|r_ii| over the accumulated steps (unsorted) and the number of those steps.

    Phases as in docs/THEORY.md section 5.1: steps 1..washout state only; next burn_in steps frame evolves, QR every
    qr_every steps and at the end of burn-in, nothing kept; remaining M steps: QR every qr_every steps and
    at the last step, log|r_ii| summed.
    """
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    H = trajectory(net, X, h0)
    Q = frame(net.n_hidden, k, seed)
    M = T - washout - burn_in
    sums = np.zeros(k)
    for s in range(burn_in + M):
        t = washout + s + 1                    # step number 1..T
        J = net.jacobian(H[t - 1], X[t - 1])   # J_t = dh_t / dh_{t-1}
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
    """Sorted (descending) exponents of one sequence by the naive method."""
    k = net.n_hidden if k is None else k
    sums, M = qr_log_r_sums(net, X, k, washout, burn_in, qr_every, seed, h0)
    return np.sort(sums / M)[::-1]


def mean_log_abs_det(net, X, washout, burn_in, h0=None):
    """Time average of log|det J_t| over the accumulated steps (the sum identity, docs/THEORY.md section 4.4)."""
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    H = trajectory(net, X, h0)
    vals = []
    for t in range(washout + burn_in + 1, T + 1):
        sign, logdet = np.linalg.slogdet(net.jacobian(H[t - 1], X[t - 1]))
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
