"""Gradient flossing (wcrnn_dyn.flossing): exact gradient vs central finite differences, exponents vs the
Lyapunov engine, the flossing optimiser."""
import numpy as np
import pytest

import naive_clv
import wcrnn_dyn as wd
from wcrnn_dyn.flossing import floss, flossing_loss_and_grad, flossing_regularizer
from wcrnn_dyn.lyapunov import lyapunov_spectrum

R_ = wd.residuals


def _fd_check(net, X, k, **kw):
    """Relative error ||g - g_fd|| / ||g_fd|| over all trained parameters (central differences, h = 1e-6)."""
    val, g, _ = flossing_loss_and_grad(net, X, k, **kw)
    keys = ["W", "U", "b"] + (["R"] if net.residual.trainable else [])
    num, ana = [], []
    for key in keys:
        base = np.asarray(net.get_weights()[key], dtype=float).copy()
        G = np.zeros_like(base)
        for i in range(base.size):
            for sgn in (1.0, -1.0):
                q = base.copy()
                q.flat[i] += sgn * 1e-6
                net.set_weights({key: q})
                G.flat[i] += sgn * flossing_loss_and_grad(net, X, k, **kw)[0]
            net.set_weights({key: base})
        num.append((G / 2e-6).ravel())
        ana.append(np.asarray(g[key]).ravel())
    num, ana = np.concatenate(num), np.concatenate(ana)
    assert np.linalg.norm(num) > 1e-3           # a non-trivial gradient
    assert np.all(g["V"] == 0) and np.all(g["c"] == 0) and g["V"].shape == net.V.shape
    return float(np.linalg.norm(ana - num) / np.linalg.norm(num))


def _nets(activation):
    wc = wd.WCRNN(2, 4, 1, residual=R_.random(4, 0.9, seed=1), eps=0.5, activation=activation, seed=1)
    el = wd.Elman(2, 4, 1, activation=activation, seed=2)
    el.W = 2.5 * el.W
    if activation == "relu":
        # mostly positive weights keep >= 2 of 4 units active (J_t non-singular on a 2-frame); units still
        # switch on and off (24 inactive unit-steps), |a| >= 0.0068 >> h = 1e-6 (no kink crossed)
        el.W = 1.5 * np.abs(el.W / 2.5)
        el.W[0, 1] = -1.5
        el.b = np.full(4, 0.3)
    wt = wd.WCRNN(2, 4, 1, residual=R_.heterogeneous([0.9, 0.5, -0.3, 0.7], trainable=True), eps=0.5,
                  activation=activation, seed=3)
    return {"wcrnn": wc, "elman": el, "wcrnn_trainable_residual": wt}


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("kind", ["wcrnn", "elman", "wcrnn_trainable_residual"])
def test_gradient_matches_central_differences(kind, activation):
    net = _nets(activation)[kind]
    X = np.random.default_rng(0).standard_normal((2, 15, 2))
    err = _fd_check(net, X, 2, washout=2, burn_in=3, beta=0.7, target=0.1)
    assert err < 1e-6
    if kind == "elman":
        # one sequence, no phases, k = 3 (relu: k = 2, inactive units make J_t rank-deficient)
        assert _fd_check(net, X[0], 3 if activation == "tanh" else 2, burn_in=0) < 1e-6
    if activation == "relu":
        # J_t depends on U, b only through the (locally constant) gating: zero gradient, as the differences say
        g = flossing_loss_and_grad(net, X, 2)[1]
        assert np.all(g["U"] == 0) and np.all(g["b"] == 0) and np.any(g["W"] != 0)


def test_exponents_are_the_lyapunov_engines_finite_time_exponents():
    net = _nets("tanh")["wcrnn"]
    X = np.random.default_rng(1).standard_normal((3, 60, 2))
    val, _, lam = flossing_loss_and_grad(net, X, 3, washout=5, burn_in=10, beta=2.0, target=-0.1, seed=4)
    ref = lyapunov_spectrum(net, X, k=3, washout=5, burn_in=10, seed=4, qr="householder")
    np.testing.assert_allclose(np.sort(lam, axis=1)[:, ::-1], ref.per_sequence, atol=1e-10)
    np.testing.assert_allclose(val, 2.0 / 3 * np.sum((lam + 0.1) ** 2), rtol=1e-14)
    # and the naive dense reference (one window = the accumulated steps, washout 0)
    lam0 = flossing_loss_and_grad(net, X[1], 4, burn_in=10, seed=0)[2][0]
    np.testing.assert_allclose(lam0, naive_clv.finite_time_exponents(net, X[1], 4, 50, 10, 0)[0], atol=1e-10)


def test_floss_moves_exponents_to_target_and_is_deterministic():
    X = np.random.default_rng(2).standard_normal((8, 40, 2))
    net = wd.Elman(2, 6, 1, seed=0)               # default init: contracting, exponents well below 0
    before = flossing_loss_and_grad(net, X, 2)[2].mean(axis=0)
    h = floss(net, X, 60, 2, lr=0.02, batch_size=4, seed=1)
    after = flossing_loss_and_grad(net, X, 2)[2].mean(axis=0)
    assert len(h["value"]) == 60 and h["value"][-1] < 0.2 * h["value"][0]
    assert np.all(np.abs(after) < np.abs(before))
    net2 = wd.Elman(2, 6, 1, seed=0)
    h2 = floss(net2, X, 60, 2, lr=0.02, batch_size=4, seed=1, record_every=20)
    np.testing.assert_array_equal(net2.W, net.W)
    assert h2["step"] == [20, 40, 60] and h2["value"] == [h["value"][i] for i in (19, 39, 59)]


def test_regularizer_callable():
    net = _nets("tanh")["wcrnn"]
    X = np.random.default_rng(3).standard_normal((2, 20, 2))
    reg = flossing_regularizer(2, beta=0.5, burn_in=2)
    v, g = reg(net, X)
    v2, g2, lam = flossing_loss_and_grad(net, X, 2, beta=0.5, burn_in=2)
    assert v == v2 and np.array_equal(g["W"], g2["W"]) and np.allclose(reg.last_exponents, lam.mean(axis=0))


def test_bad_arguments():
    net = _nets("tanh")["wcrnn"]
    X = np.zeros((2, 10, 2))
    with pytest.raises(ValueError, match="k"):
        flossing_loss_and_grad(net, X, 5)
    with pytest.raises(ValueError, match="burn_in"):
        flossing_loss_and_grad(net, X, 2, burn_in=10)
    with pytest.raises(ValueError, match="beta"):
        flossing_loss_and_grad(net, X, 2, beta=-1.0)
    with pytest.raises(ValueError, match="X"):
        flossing_loss_and_grad(net, np.zeros(3), 2)
    nl = wd.WCRNN(2, 4, 1, residual=R_.nonlinear(R_.scaled_identity(4, 1.2)), seed=0)
    with pytest.raises(ValueError, match="linear residual"):
        flossing_loss_and_grad(nl, X, 2)
    with pytest.raises(TypeError, match="net"):
        flossing_loss_and_grad(object(), X, 2)
    with pytest.raises(ValueError, match="steps"):
        floss(net, X, 0, 2)
    with pytest.raises(ValueError, match="lr"):
        floss(net, X, 1, 2, lr=0.0)


def test_exponents_during_training_plot(tmp_path):
    from wcrnn_dyn.plotting._base import savefig
    assert wd.floss is floss
    net = wd.Elman(2, 4, 1, seed=0)
    h = floss(net, np.random.default_rng(0).standard_normal((2, 20, 2)), 5, 2, lr=0.01)
    fig, ax = wd.plotting.plot_exponents_during_training(h, target=0.0)
    assert len(ax.lines) == 3
    fig2, ax2 = wd.plotting.plot_exponents_during_training({"lyap_epoch": [1, 2], "lyap_exponents": [[-1.0], [-.5]]})
    assert ax2.get_xlabel() == "epoch"
    with pytest.raises(ValueError, match="exponents"):
        wd.plotting.plot_exponents_during_training({"step": []})
    savefig(fig, tmp_path / "floss.png")
    savefig(fig2, tmp_path / "floss2.png")
    assert (tmp_path / "floss.png").stat().st_size > 1000


# --------------------------------------------------------------------------------------------------
# train(..., regularizer=...) hook
# --------------------------------------------------------------------------------------------------

def _adding(n, T, seed):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, T, 2))
    X[:, :, 0] = rng.uniform(0, 1, (n, T))
    for i in range(n):
        X[i, rng.choice(T, 2, replace=False), 1] = 1.0
    return X, (X[:, :, 0] * X[:, :, 1]).sum(axis=1)


def test_train_with_regularizer_equals_manual_sgd_steps():
    X, y = _adding(16, 12, 0)
    reg = flossing_regularizer(2, beta=0.5, burn_in=2)
    kw = dict(steps=3, batch_size=16, optimizer="sgd", momentum=0.0, lr=0.05, clip_norm=None, seed=0)
    net = wd.Elman(2, 5, 1, seed=1)
    ref = net.copy()
    h = wd.train(net, X, y, regularizer=reg, **kw)
    for _ in range(3):            # one batch of all 16 sequences per step (their order only changes rounding)
        L, g = ref.loss_and_grad(X, y)
        p = ref.get_weights()
        rv, rg = reg(ref, X)
        ref.set_weights({k: p[k] - 0.05 * (g[k] + rg[k]) for k in p})
    for k, v in net.get_weights().items():
        np.testing.assert_allclose(v, ref.get_weights()[k], rtol=0, atol=1e-10)
    assert len(h["train_loss"]) >= 1
    # the regulariser's value is part of the recorded training loss
    plain = wd.Elman(2, 5, 1, seed=1)
    h0 = wd.train(plain, X, y, steps=1, batch_size=16, optimizer="sgd", momentum=0.0, lr=0.05, clip_norm=None)
    net1 = wd.Elman(2, 5, 1, seed=1)
    h1 = wd.train(net1, X, y, steps=1, batch_size=16, optimizer="sgd", momentum=0.0, lr=0.05, clip_norm=None,
                  regularizer=reg)
    r0 = flossing_loss_and_grad(wd.Elman(2, 5, 1, seed=1), X, 2, beta=0.5, burn_in=2)[0]
    assert abs(h1["train_loss"][0] - (h0["train_loss"][0] + r0)) < 1e-10


def test_train_zero_regularizer_is_a_no_op_and_callback_records_exponents():
    X, y = _adding(20, 10, 1)
    kw = dict(epochs=2, batch_size=10, lr=0.01, seed=3)
    a = wd.Elman(2, 4, 1, seed=2)
    b = wd.Elman(2, 4, 1, seed=2)
    wd.train(a, X, y, **kw)
    wd.train(b, X, y, regularizer=lambda net, Xb: (0.0, {"W": np.zeros_like(net.W)}), **kw)
    np.testing.assert_array_equal(a.W, b.W)
    reg = flossing_regularizer(2)
    c = wd.Elman(2, 4, 1, seed=2)
    h = wd.train(c, X, y, regularizer=reg, callbacks=[reg.callback], **kw)
    assert h["floss_epoch"] == [1, 2] and len(h["floss_exponents"][0]) == 2 and len(h["floss_value"]) == 2
    fig, ax = wd.plotting.plot_exponents_during_training(h)
    assert ax.get_xlabel() == "epoch"
    with pytest.raises(TypeError, match="regularizer"):
        wd.train(c, X, y, regularizer="floss", **kw)
    with pytest.raises(ValueError, match="unknown parameters"):
        wd.train(c, X, y, regularizer=lambda net, Xb: (0.0, {"Z": 1.0}), **kw)


def test_floss_result_plot_method_returns_axes():
    h = floss(wd.Elman(2, 3, 1, seed=0), np.zeros((2, 10, 2)) + 0.3, 3, 2, target=-0.5)
    ax = h.plot()
    assert len(ax.lines) == 3 and ax.lines[-1].get_ydata()[0] == -0.5
