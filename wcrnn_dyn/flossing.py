"""Gradient flossing: a regulariser on the finite-time Lyapunov exponents of training trajectories.

Engelken (NeurIPS 2023, "Gradient flossing") penalises the distance of the leading Lyapunov exponents from
zero, before or during training, so that gradients neither explode nor vanish over long horizons.  Here

    L_floss = beta / B * sum_b sum_{i <= k} (lambda_{b,i} - target)^2,

lambda_{b,i} = (1 / M) sum_{t accumulated} log r_ii(t): the finite-time QR exponents of sequence b (the
QR method of :mod:`wcrnn_dyn.lyapunov` with a re-orthonormalisation every step, columns in Gram-Schmidt
order), and its *exact* gradient with respect to W, U, b (and the residual's parameters when trainable; V
and c get zero), by a manual adjoint pass through the trajectory, the tangent products and every QR
factorisation.  The derivation is in ``docs/CLV.md``; it is checked against central finite differences.

Entry points: :func:`flossing_loss_and_grad`, :func:`flossing_regularizer` (a callable for a training
loop), :func:`floss` (optimise the regulariser alone, "flossing before training").
"""
from __future__ import annotations

import logging
import math

import numpy as np

from ._validate import as_array, check_float, check_int, rng_from

__all__ = ["flossing_loss_and_grad", "flossing_regularizer", "floss", "FlossResult"]

logger = logging.getLogger(__name__)


def _act(a, activation):
    """phi(a), phi'(a), phi''(a) in float64 (relu: phi'' = 0 almost everywhere)."""
    if activation == "tanh":
        th = np.tanh(a)
        d1 = 1.0 - th * th
        return th, d1, -2.0 * th * d1
    if activation == "relu":
        return np.maximum(a, 0.0), (a > 0).astype(float), np.zeros_like(a)
    return a.copy(), np.ones_like(a), np.zeros_like(a)


def _copyltu(M):
    """Symmetric matrix whose lower triangle (with the diagonal) is that of M (stacked over axis 0)."""
    L = np.tril(M)
    return L + np.swapaxes(np.tril(M, -1), -1, -2)


def _check(net, X, k, washout, burn_in, h0):
    from ._validate import check_net as _check_net
    _check_net(net)
    if not net.residual.is_linear:
        raise ValueError("flossing needs a linear residual (the gradient through a non-linear residual's "
                         "Jacobian is not implemented)")
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3:
        raise ValueError(f"X must have shape (T, d) or (B, T, d), got {X.shape}")
    X = as_array(X, "X", shape=(None, None, net.n_in))
    B, T, _ = X.shape
    if B < 1 or T < 1:
        raise ValueError(f"X must hold at least one sequence and one step, got shape {X.shape}")
    N = net.n_hidden
    k = check_int(k, "k", minimum=1, maximum=N)
    washout = check_int(washout, "washout", minimum=0)
    burn_in = check_int(burn_in, "burn_in", minimum=0)
    if washout + burn_in >= T:
        raise ValueError(f"washout + burn_in = {washout + burn_in} must be smaller than the number of steps "
                         f"T = {T}")
    if h0 is None:
        h0 = np.zeros((B, N))
    else:
        h0 = np.asarray(h0, dtype=float)
        h0 = as_array(np.broadcast_to(h0, (B, N)) if h0.shape == (N,) else h0, "h0", shape=(B, N))
    return X, k, washout, burn_in, h0


#: Ranges outside which the flossing arguments make no sense (and overflow or run for days): exponents are nats
#: per step, so |target| > 10 means a factor e^10 per step; beta scales a squared exponent difference; Adam's
#: learning rate above 10 leaves every weight scale; 10^6 steps of a BPTT each is weeks on a CPU.
_MAX_TARGET, _MAX_BETA, _MAX_LR, _MAX_STEPS = 10.0, 1e6, 10.0, 10 ** 6


def flossing_loss_and_grad(net, X, k, *, beta=1.0, target=0.0, washout=0, burn_in=0, seed=0, h0=None):
    """Flossing regulariser beta / B sum_b sum_{i<=k} (lambda_{b,i} - target)^2 and its exact gradient.

    The network is driven by X from h0; steps 1..``washout`` advance the state only; from then on a frame Q
    (N x k, :func:`wcrnn_dyn.lyapunov.initial_frame` from ``seed``, the same for every sequence) follows
    Q_t R_t = J_t Q_{t-1} (QR with positive diagonal, every step); log r_ii(t) is averaged over the last
    M = T - washout - burn_in steps.  Computation is in float64 whatever the model dtype.

    Parameters
    ----------
    net : WCRNN (linear residual) or Elman.
    X : (B, T, d) batch or (T, d) one sequence.
    k : number of leading exponents penalised, 1..N.
    beta : weight (default 1.0, 0 .. 1e6).  target : the exponents' target in nats per step (default 0.0, |target| <= 10).
    washout, burn_in : as above (defaults 0, 0).  seed : initial frame (default 0).  h0 : (N,) or (B, N).

    Returns
    -------
    (value, grads, exponents): value float; grads dict with keys "W", "U", "b", "V", "c" (V, c zero) and "R"
    when the residual is trainable (gradient w.r.t. ``residual.params``), each float64 of the parameter's
    shape; exponents (B, k) the finite-time exponents, Gram-Schmidt column order.

    Raises
    ------
    TypeError for a non-network; ValueError for bad arguments or a non-linear residual;
    models.DivergenceError when the state or the frame becomes non-finite or J_t is singular on the frame.

    Notes
    -----
    Cost: forward B T N^2 (state) + B S (2 N^2 k + 4 N k^2) (tangent products and QR, S = T - washout
    frame steps); the backward pass about twice that.  Memory 8 B (3 T N + S (N k + k^2)) bytes (the
    trajectory, frames and triangular factors are stored).

    Derivation (reverse mode, per step t, with Y_t = J_t Q_{t-1} = R Q_{t-1} + eps D_t W Q_{t-1},
    D_t = diag(phi'(a_t))): for the QR Y = Q R with adjoints Qb, Rb (Rb_t = diag(g_i / (M r_ii)) on
    accumulated steps, g_i = dL/dlambda_i),  Yb = (Qb + Q copyltu(R Rb^T - Qb^T Q)) R^{-T}; then
    Qb_{t-1} = R^T Yb + eps W^T D Yb,  Wb += eps D Yb Q_{t-1}^T,  and a_t receives
    eps phi''(a_t) * rowsum(Yb * (W Q_{t-1})) on top of the state path eps phi'(a_t) hb_t;
    hb_{t-1} = R^T hb_t + W^T ab_t,  Wb += ab_t h_{t-1}^T, Ub += ab_t x_t^T, bb += ab_t.

    References
    ----------
    R. Engelken, Gradient flossing: improving gradient descent through dynamic control of Jacobians,
    NeurIPS 2023.  QR derivative: M. Seeger et al., Auto-differentiating linear algebra (2017);
    S. F. Walter and L. Lehmann, Algorithmic differentiation of linear algebra functions (2013).
    """
    from .threads import single_threaded_blas
    X, k, washout, burn_in, h0 = _check(net, X, k, washout, burn_in, h0)
    beta = check_float(beta, "beta", minimum=0.0, maximum=_MAX_BETA)
    target = check_float(target, "target", minimum=-_MAX_TARGET, maximum=_MAX_TARGET)
    with single_threaded_blas():     # many small products: waking BLAS threads costs more than the work
        return _loss_and_grad(net, X, k, beta, target, washout, burn_in, seed, h0)


def _loss_and_grad(net, X, k, beta, target, washout, burn_in, seed, h0):
    from .lyapunov import initial_frame
    from .models import DivergenceError
    B, T, d = X.shape
    N = net.n_hidden
    W = np.asarray(net.W, dtype=float)
    U = np.asarray(net.U, dtype=float)
    bias = np.asarray(net.b, dtype=float)
    eps = float(net.coupling)
    Rm = net.residual.matrix()
    S = T - washout
    M = T - washout - burn_in

    # ---------------- forward: states, frames, triangular factors
    H = np.empty((T + 1, B, N))
    H[0] = h0
    A = np.empty((T, B, N))
    Qs = np.empty((S + 1, B, N, k))
    Rs = np.empty((S, B, k, k))
    Qs[0] = initial_frame(N, k, seed)[None]
    for t in range(1, T + 1):
        a = H[t - 1] @ W.T + X[:, t - 1] @ U.T + bias
        A[t - 1] = a
        phi, d1, _ = _act(a, net.activation)
        H[t] = H[t - 1] @ Rm.T + eps * phi
        if not np.all(np.isfinite(H[t])):
            raise DivergenceError(f"flossing: the network state became non-finite at step {t}")
        s = t - washout
        if s < 1:
            continue
        Y = Rm @ Qs[s - 1] + eps * d1[:, :, None] * (W @ Qs[s - 1])
        Q, R = np.linalg.qr(Y)
        sg = np.sign(np.diagonal(R, axis1=1, axis2=2)).copy()
        sg[sg == 0] = 1.0
        Qs[s] = Q * sg[:, None, :]
        Rs[s - 1] = R * sg[:, :, None]
    diag = np.diagonal(Rs, axis1=2, axis2=3)                   # (S, B, k)
    if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
        raise DivergenceError("flossing: the tangent frame became non-finite or singular (J_t is singular on "
                              "the frame); the exponents are not differentiable there")
    lam = np.log(diag[burn_in:]).sum(axis=0) / M               # (B, k)
    dev = lam - target
    value = float(beta / B * np.sum(dev * dev))
    g = 2.0 * beta / B * dev                                   # dL / dlambda  (B, k)

    # ---------------- backward
    gW = np.zeros((N, N))
    gU = np.zeros((N, d))
    gb = np.zeros(N)
    want_r = bool(net.residual.trainable)
    gR = np.zeros(net.residual.params.shape) if want_r else None
    hb = np.zeros((B, N))
    Qb = np.zeros((B, N, k))
    for t in range(T, 0, -1):
        a = A[t - 1]
        _, d1, d2 = _act(a, net.activation)
        ab = eps * d1 * hb
        s = t - washout
        if s >= 1:
            Q, R, Qp = Qs[s], Rs[s - 1], Qs[s - 1]
            Rb = np.zeros((B, k, k))
            if s > burn_in:
                Rb[:, np.arange(k), np.arange(k)] = g / (M * np.diagonal(R, axis1=1, axis2=2))
            Mm = R @ np.swapaxes(Rb, 1, 2) - np.swapaxes(Qb, 1, 2) @ Q
            Z = Qb + Q @ _copyltu(Mm)                           # Yb R^T = Z  ->  R Yb^T = Z^T
            Yb = np.swapaxes(np.linalg.solve(R, np.swapaxes(Z, 1, 2)), 1, 2)
            WQ = W @ Qp
            DYb = eps * d1[:, :, None] * Yb
            gW += np.einsum("bik,bjk->ij", DYb, Qp)
            ab += eps * d2 * np.einsum("bik,bik->bi", Yb, WQ)
            if want_r:
                gR += net.residual.grad_from_dz(np.swapaxes(Yb, 1, 2).reshape(-1, N),
                                                np.swapaxes(Qp, 1, 2).reshape(-1, N))
            Qb = Rm.T @ Yb + W.T @ DYb
        hprev = H[t - 1]
        gW += ab.T @ hprev
        gU += ab.T @ X[:, t - 1]
        gb += ab.sum(axis=0)
        if want_r:
            gR += net.residual.grad_from_dz(hb, hprev)
        hb = hb @ Rm + ab @ W
    grads = {"W": gW, "U": gU, "b": gb, "V": np.zeros(net.V.shape), "c": np.zeros(net.c.shape)}
    if want_r:
        grads["R"] = gR
    return value, grads, lam


def flossing_regularizer(k, *, beta=1.0, target=0.0, washout=0, burn_in=0, seed=0):
    """A callable reg(net, Xbatch) -> (value, grads) computing :func:`flossing_loss_and_grad` with these settings,
    for ``train(..., regularizer=reg)`` (gradient flossing during training) or any loop that adds a
    regulariser's gradient to the loss gradient.  The gradients are cast to the network's dtype.

    ``reg.last_exponents`` holds the batch-mean exponents of the latest call; ``reg.callback`` is an epoch
    callback for :func:`wcrnn_dyn.train` (``callbacks=[reg.callback]``) that appends the epoch's epoch number,
    mean exponents and mean regulariser value to ``history["floss_epoch"]``, ``history["floss_exponents"]``
    and ``history["floss_value"]``.  Cost and memory: those of :func:`flossing_loss_and_grad` per call.

    Parameters
    ----------
    k : int
        Number of exponents flossed (>= 1).
    beta : float, default 1.0
        Weight of the regulariser (>= 0).
    target : float, default 0.0
        Target exponent.
    washout, burn_in : int, default 0
    seed : int, default 0
        As in :func:`flossing_loss_and_grad`.

    Returns
    -------
    callable
        ``reg(net, Xbatch) -> (value, grads)`` with the attributes ``last_exponents``, ``callback`` and
        ``settings``.

    Raises
    ------
    ValueError
        For k < 1, a negative beta or a non-finite target (checked here, before any call).

    References
    ----------
    R. Engelken, "Gradient flossing: improving gradient descent through dynamic control of Jacobians",
    NeurIPS 2023 (arXiv 2312.17306).
    """
    k = check_int(k, "k", minimum=1)
    beta = check_float(beta, "beta", minimum=0.0, maximum=_MAX_BETA)
    target = check_float(target, "target", minimum=-_MAX_TARGET, maximum=_MAX_TARGET)
    acc = {"lam": [], "val": []}

    def reg(net, Xbatch):
        v, gr, lam = flossing_loss_and_grad(net, Xbatch, k, beta=beta, target=target, washout=washout,
                                            burn_in=burn_in, seed=seed)
        reg.last_exponents = lam.mean(axis=0)
        acc["lam"].append(reg.last_exponents)
        acc["val"].append(v)
        return v, {key: np.asarray(val, dtype=net.dtype) for key, val in gr.items()}

    def callback(net, epoch, history):
        if acc["lam"]:
            history.setdefault("floss_epoch", []).append(int(epoch))
            history.setdefault("floss_exponents", []).append([float(x) for x in np.mean(acc["lam"], axis=0)])
            history.setdefault("floss_value", []).append(float(np.mean(acc["val"])))
        acc["lam"].clear()
        acc["val"].clear()
        return False

    reg.last_exponents = None
    reg.callback = callback
    reg.settings = {"k": k, "beta": beta, "target": target, "washout": washout, "burn_in": burn_in, "seed": seed}
    return reg


class FlossResult(dict):
    """History of :func:`floss`: lists "step", "value" (regulariser), "exponents" (batch-mean finite-time
    exponents, k floats each) and "grad_norm" (before clipping), each evaluated at the start of the step
    (before its update); ``settings`` holds the settings used.

    Parameters
    ----------
    settings : dict
        The settings of the run (kept as ``.settings``).
    """

    def __init__(self, settings):
        super().__init__(step=[], value=[], exponents=[], grad_norm=[])
        self.settings = settings

    def plot(self, ax=None, **kw):
        """Exponents against the step, the target drawn as a dashed line.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into; a new figure when None.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_exponents_during_training`.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_exponents_during_training
        kw.setdefault("target", self.settings.get("target"))
        return plot_exponents_during_training(self, ax=ax, **kw)[1]


def floss(net, X, steps, k, *, beta=1.0, target=0.0, lr=1e-3, batch_size=None, washout=0, burn_in=0, seed=0,
          clip_norm=1.0, record_every=1):
    """Optimise the flossing regulariser alone ("flossing before training"); updates ``net`` in place.

    Each step draws ``batch_size`` sequences of X (default: all) with a generator from ``seed``, computes
    :func:`flossing_loss_and_grad` and takes an Adam step (betas 0.9, 0.999, eps 1e-8) on W, U, b (and the
    residual's parameters when trainable), after global-norm clipping at ``clip_norm`` (None or 0: none).

    Parameters
    ----------
    net : WCRNN (linear residual) or Elman.  X : (B, T, d) sequences (e.g. the training inputs, or noise).
    steps : number of optimisation steps (1 .. 10^6).  k : number of exponents pushed towards ``target``.
    beta, target, washout, burn_in : as in :func:`flossing_loss_and_grad` (defaults 1, 0, 0, 0).
    lr : Adam learning rate (default 1e-3).  batch_size : sequences per step (default None = all).
    seed : frame and batch sampling (default 0).  clip_norm : default 1.0.
    record_every : history interval in steps (default 1; the last step is always recorded).

    Returns
    -------
    FlossResult (history).  Raises ValueError / TypeError for bad arguments, models.DivergenceError as
    :func:`flossing_loss_and_grad`.

    Notes
    -----
    Cost: ``steps`` calls of :func:`flossing_loss_and_grad` on ``batch_size`` sequences.
    """
    steps = check_int(steps, "steps", minimum=1, maximum=_MAX_STEPS)
    lr = check_float(lr, "lr", minimum=0.0, maximum=_MAX_LR, strict_min=True)
    record_every = check_int(record_every, "record_every", minimum=1)
    if clip_norm is not None:
        clip_norm = check_float(clip_norm, "clip_norm", minimum=0.0)
    Xa = np.asarray(X)
    if Xa.ndim == 2:
        Xa = Xa[None]
    if Xa.ndim != 3:
        raise ValueError(f"X must have shape (B, T, d) or (T, d), got {Xa.shape}")
    nB = Xa.shape[0]
    batch_size = nB if batch_size is None else check_int(batch_size, "batch_size", minimum=1, maximum=nB)
    rng = rng_from(seed)
    frame_seed = int(rng.integers(2 ** 31)) if not isinstance(seed, (int, np.integer)) else int(seed)
    keys = ["W", "U", "b"] + (["R"] if net.residual.trainable else [])
    m = {key: None for key in keys}
    v = {key: None for key in keys}
    b1, b2, aeps = 0.9, 0.999, 1e-8
    hist = FlossResult({"steps": steps, "k": k, "beta": beta, "target": target, "lr": lr, "batch_size": batch_size,
                        "washout": washout, "burn_in": burn_in, "seed": frame_seed, "clip_norm": clip_norm})
    for it in range(1, steps + 1):
        idx = np.sort(rng.choice(nB, size=batch_size, replace=False)) if batch_size < nB else slice(None)
        val, gr, lam = flossing_loss_and_grad(net, Xa[idx], k, beta=beta, target=target, washout=washout,
                                              burn_in=burn_in, seed=frame_seed)
        gn = math.sqrt(sum(float(np.sum(gr[key] ** 2)) for key in keys))
        scale = clip_norm / gn if (clip_norm and gn > clip_norm) else 1.0
        params = net.get_weights()
        new = {}
        for key in keys:
            gk = gr[key] * scale
            if m[key] is None:
                m[key] = np.zeros_like(gk)
                v[key] = np.zeros_like(gk)
            m[key] = b1 * m[key] + (1 - b1) * gk
            v[key] = b2 * v[key] + (1 - b2) * gk * gk
            step = lr / (1 - b1 ** it) * m[key] / (np.sqrt(v[key] / (1 - b2 ** it)) + aeps)
            new[key] = np.asarray(params[key], dtype=float) - step
        net.set_weights(new)
        if it % record_every == 0 or it == steps:
            hist["step"].append(it)
            hist["value"].append(val)
            hist["exponents"].append([float(x) for x in lam.mean(axis=0)])
            hist["grad_norm"].append(gn)
        logger.debug("floss step %d: regulariser %.6g, exponents %s", it, val, lam.mean(axis=0))
    return hist
