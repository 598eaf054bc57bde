"""Residual families and models: known examples, reproducibility, save/load and bad input."""
import numpy as np
import pytest

import naive
import wcrnn_dyn as wd
from wcrnn_dyn import residuals as R
from wcrnn_dyn.models import DivergenceError


# ---------------------------------------------------------------------------------------------- residual families

def test_rotational_eigenvalues_and_matrix():
    th = np.array([0.3, 1.2, 2.5])
    r = R.rotational(7, 0.9, th)
    np.testing.assert_allclose(r.matrix(), naive.rotational_matrix(7, 0.9, th), atol=1e-15)
    ev = r.eigenvalues()
    expected = np.concatenate([0.9 * np.exp(1j * th), 0.9 * np.exp(-1j * th), [0.9]])
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(expected), atol=1e-14)


def test_rotational_default_angles_and_length_check():
    r = R.rotational(8, 1.0)
    assert r.nb == 4 and np.all(np.abs(np.abs(r.eigenvalues()) - 1.0) < 1e-14)
    with pytest.raises(ValueError, match="thetas"):
        R.rotational(8, 1.0, [0.1, 0.2])


def test_orthogonal_is_scaled_orthogonal_and_seeded():
    r = R.orthogonal(10, 0.8, seed=5)
    M = r.matrix()
    np.testing.assert_allclose(M.T @ M, 0.64 * np.eye(10), atol=1e-13)
    np.testing.assert_allclose(np.abs(r.eigenvalues()), 0.8, atol=1e-12)
    np.testing.assert_array_equal(M, R.orthogonal(10, 0.8, seed=5).matrix())
    assert not np.array_equal(M, R.orthogonal(10, 0.8, seed=6).matrix())


def test_random_residual_has_requested_spectral_radius():
    r = R.random(12, 0.95, seed=1)
    assert abs(r.spectral_radius() - 0.95) < 1e-12


def test_heterogeneous_families():
    r = R.heterogeneous([0.5, 0.9, 0.7])
    np.testing.assert_allclose(r.eigenvalues(), [0.5, 0.9, 0.7])
    u = R.heterogeneous_uniform(50, 0.8, 0.99, seed=0)
    assert np.all((u.d >= 0.8) & (u.d <= 0.99)) and np.all(np.diff(u.d) <= 0)
    ts = R.heterogeneous_timescales(50, 5.0, 500.0, seed=0)
    taus = -1.0 / np.log(ts.d)
    assert taus.min() >= 5.0 - 1e-9 and taus.max() <= 500.0 + 1e-9


def test_heterogeneous_rotational_eigenvalues():
    mus, th = np.array([0.9, 0.8]), np.array([0.4, 2.0])
    r = R.heterogeneous_rotational(mus, th, tail=0.5)
    assert r.n == 5
    ev = np.sort_complex(r.eigenvalues())
    exp = np.sort_complex(np.concatenate([mus * np.exp(1j * th), mus * np.exp(-1j * th), [0.5]]))
    np.testing.assert_allclose(ev, exp, atol=1e-14)


@pytest.mark.parametrize("n", [6, 7])
def test_heterogeneous_rotational_uniform(n):
    r = R.heterogeneous_rotational_uniform(n, 0.8, 0.95, seed=3)
    mus = np.sort(np.random.default_rng(3).uniform(0.8, 0.95, n // 2))[::-1]
    th = np.pi * (np.arange(n // 2) + 0.5) / (n // 2)
    ref = R.heterogeneous_rotational(mus, th, tail=0.95 if n % 2 else None)
    np.testing.assert_array_equal(r.matrix(), ref.matrix())
    # a Generator is used as is (the sweep passes its own stream)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(R.heterogeneous_rotational_uniform(n, 0.8, 0.95, seed=g1).matrix(),
                                  R.heterogeneous_rotational_uniform(n, 0.8, 0.95, seed=g2).matrix())
    with pytest.raises(ValueError, match="mu_max"):
        R.heterogeneous_rotational_uniform(n, 0.9, 0.8)


@pytest.mark.parametrize("res", [R.scaled_identity(5, 0.9), R.rotational(5, 0.9, [0.2, 1.0]),
                                 R.heterogeneous([0.1, 0.2, 0.3, 0.4, 0.5]), R.orthogonal(5, 1.0, seed=0),
                                 R.heterogeneous_rotational([0.9, 0.7], [0.5, 1.5], tail=0.3)])
def test_apply_jvp_vjp_match_matrix(res):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, res.n))
    Q = rng.standard_normal((res.n, 2))
    M = res.matrix()
    np.testing.assert_allclose(res.apply(h), h @ M.T, atol=1e-14)
    np.testing.assert_allclose(res.apply(h[0]), M @ h[0], atol=1e-14)
    np.testing.assert_allclose(res.jvp(h[0], Q), M @ Q, atol=1e-14)
    np.testing.assert_allclose(res.vjp(h[0], h), h @ M, atol=1e-14)


def test_nonlinear_residual_jacobian_by_finite_differences():
    res = R.nonlinear(R.rotational(4, 1.3, [0.4, 1.7]), scale=0.6)
    h = np.random.default_rng(1).standard_normal(4)
    J = res.jacobian(h)
    e = 1e-6
    Jfd = np.column_stack([(res.apply(h + e * v) - res.apply(h - e * v)) / (2 * e) for v in np.eye(4)])
    np.testing.assert_allclose(J, Jfd, atol=1e-8)
    with pytest.raises(TypeError):
        res.matrix()
    np.testing.assert_allclose(np.abs(res.eigenvalues()), 1.3)


@pytest.mark.parametrize("res", [R.scaled_identity(4, 0.9), R.rotational(5, 0.9), R.orthogonal(4, 0.9, seed=1),
                                 R.nonlinear(R.heterogeneous([0.9, 1.1, 1.0]), scale=2.0)])
def test_residual_config_roundtrip(res):
    r2 = R.from_config(res.config())
    h = np.random.default_rng(0).standard_normal((2, res.n))
    np.testing.assert_array_equal(res.apply(h), r2.apply(h))
    assert r2.family == res.family


def test_residual_bad_input():
    with pytest.raises(ValueError, match="mu"):
        R.scaled_identity(4, np.nan)
    with pytest.raises(TypeError, match="n"):
        R.scaled_identity(4.5, 0.9)
    with pytest.raises(ValueError, match="n"):
        R.scaled_identity(0, 0.9)
    with pytest.raises(ValueError, match="square"):
        R.dense(np.ones((3, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        R.dense(np.array([[np.inf]]))
    with pytest.raises(ValueError, match="mus"):
        R.heterogeneous_rotational([0.9], [0.1, 0.2])


# ---------------------------------------------------------------------------------------------- models

def test_from_arrays_two_unit_hand_example():
    """h_t = R h_{t-1} + eps * tanh(W h_{t-1} + U x_t + b), computed by hand for 2 steps."""
    Rm = np.array([[0.5, -0.25], [0.25, 0.5]])
    W = np.array([[0.0, 1.0], [-1.0, 0.0]])
    U = np.array([[1.0], [2.0]])
    b = np.array([0.0, -1.0])
    V = np.array([[1.0, 1.0]])
    c = np.array([0.5])
    eps = 0.5
    net = wd.WCRNN.from_arrays(Rm, W, U, b, V, c, eps)
    X = np.array([[1.0], [0.5]])
    # step 1 from h0 = 0: a = (1, 1); h1 = 0.5 * tanh(1) * (1, 1)
    t1 = np.tanh(1.0)
    h1 = np.array([0.5 * t1, 0.5 * t1])
    # step 2: R h1 = (0.5 t1 * 0.5 - 0.25 * 0.5 t1, 0.25 * 0.5 t1 + 0.5 * 0.5 t1) = (0.125 t1, 0.375 t1)
    #         a = W h1 + U * 0.5 + b = (0.5 t1 + 0.5, -0.5 t1 + 1 - 1)
    h2 = np.array([0.125 * t1 + 0.5 * np.tanh(0.5 * t1 + 0.5), 0.375 * t1 + 0.5 * np.tanh(-0.5 * t1)])
    H = net.states(X)
    np.testing.assert_allclose(H, np.stack([h1, h2]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(net.predict(X), [h2.sum() + 0.5], rtol=0, atol=1e-15)


def test_same_seed_same_parameters_and_states():
    X = np.random.default_rng(0).standard_normal((2, 10, 3))
    for make in (lambda s: wd.WCRNN(3, 8, 2, residual=R.rotational(8, 0.99), seed=s),
                 lambda s: wd.Elman(3, 8, 2, init="wcri", seed=s)):
        a, b, c = make(7), make(7), make(8)
        for k in ("W", "U", "b", "V", "c"):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        np.testing.assert_array_equal(a.states(X), b.states(X))
        assert not np.array_equal(a.W, c.W)
    g = np.random.default_rng(3)
    n1 = wd.WCRNN(1, 4, 1, seed=g)
    n2 = wd.WCRNN(1, 4, 1, seed=g)
    assert not np.array_equal(n1.W, n2.W)  # a Generator is consumed, not reset


def test_elman_initialisations():
    N = 16
    assert np.allclose(wd.Elman(1, N, 1, init="identity").W, np.eye(N))
    Wo = wd.Elman(1, N, 1, init="orthogonal", seed=0).W
    np.testing.assert_allclose(Wo.T @ Wo, np.eye(N), atol=1e-12)
    Wd = wd.Elman(1, N, 1, init="default", seed=0).W
    assert np.abs(Wd).max() <= 1 / np.sqrt(N)
    lam = R.rotational(N, 0.97)
    net = wd.Elman(1, N, 1, init="wcri", residual=lam, eps=0.01, seed=0)
    dev = net.W - lam.matrix()
    assert 0 < np.linalg.norm(dev, 2) < 0.01 * 3.5
    net0 = wd.Elman(1, N, 1, init="wcri", residual=lam, eps=0.0, seed=0)
    np.testing.assert_array_equal(net0.W, lam.matrix())


def test_save_load_roundtrip(tmp_path):
    X = np.random.default_rng(0).standard_normal((2, 6, 2))
    nets = [wd.WCRNN(2, 6, 3, residual=R.nonlinear(R.rotational(6, 1.1), scale=0.5), eps=0.1, seed=1,
                     dtype=np.float32),
            wd.WCRNN(2, 5, 3, residual=R.orthogonal(5, 0.9, seed=2), activation="relu", seed=1),
            wd.Elman(2, 6, 3, init="wcri", seed=3)]
    for i, net in enumerate(nets):
        p = tmp_path / f"m{i}.npz"
        net.save(p)
        net2 = wd.load_model(p)
        assert type(net2) is type(net) and net2.dtype == net.dtype and net2.activation == net.activation
        np.testing.assert_array_equal(net.predict(X.astype(net.dtype)), net2.predict(X.astype(net.dtype)))


def test_float32_model_keeps_dtype():
    net = wd.WCRNN(1, 8, 2, dtype=np.float32, seed=0)
    X = np.random.default_rng(0).random((3, 5, 1))
    assert net.states(X).dtype == np.float32
    loss, g = net.loss_and_grad(X, np.array([0, 1, 1]), loss="cross_entropy")
    assert all(v.dtype == np.float32 for v in g.values())


def test_loss_definitions():
    net = wd.WCRNN(1, 4, 3, seed=0)
    X = np.random.default_rng(0).random((5, 4, 1))
    z = net.predict(X)
    y = np.array([0, 2, 1, 1, 0])
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.isclose(net.loss(X, y, "cross_entropy"), -np.mean(np.log(p[np.arange(5), y])), rtol=1e-13)
    yr = np.random.default_rng(1).random((5, 3))
    assert np.isclose(net.loss(X, yr, "mse"), np.mean((z - yr) ** 2), rtol=1e-13)


def test_supercritical_divergence_is_reported():
    net = wd.WCRNN(1, 4, 1, residual=R.scaled_identity(4, 2.0), eps=0.1, seed=0)
    X = np.ones((1, 2000, 1))
    with pytest.raises(DivergenceError, match="supercritical"):
        net.states(X)


def test_model_bad_input():
    net = wd.WCRNN(2, 4, 3, seed=0)
    with pytest.raises(ValueError, match="X"):
        net.states(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="X"):
        net.states(np.zeros(5))
    with pytest.raises(ValueError, match="NaN or inf"):
        net.states(np.full((1, 3, 2), np.nan))
    with pytest.raises(ValueError, match="eps"):
        wd.WCRNN(2, 4, 3, eps=-0.1)
    with pytest.raises(ValueError, match="eps"):
        wd.WCRNN(2, 4, 3, eps=np.inf)
    with pytest.raises(ValueError, match="activation"):
        wd.WCRNN(2, 4, 3, activation="sigmoid")
    with pytest.raises(TypeError, match="activation"):
        wd.WCRNN(2, 4, 3, activation=3)
    with pytest.raises(ValueError, match="init"):
        wd.Elman(2, 4, 3, init="xavier")
    with pytest.raises(ValueError, match="n_hidden"):
        wd.WCRNN(2, 4, 3, residual=R.scaled_identity(5, 0.9))
    with pytest.raises(ValueError, match="W"):
        wd.WCRNN.from_arrays(np.eye(2), np.ones((2, 3)), np.ones((2, 1)), np.zeros(2), np.ones((1, 2)), np.zeros(1), 0.1)
    with pytest.raises(ValueError, match="b"):
        wd.WCRNN.from_arrays(np.eye(2), np.eye(2), np.ones((2, 1)), np.zeros(3), np.ones((1, 2)), np.zeros(1), 0.1)
    with pytest.raises(ValueError, match="W"):
        wd.WCRNN.from_arrays(np.eye(2), np.array([[np.nan, 0], [0, 0]]), np.ones((2, 1)), np.zeros(2),
                             np.ones((1, 2)), np.zeros(1), 0.1)
    with pytest.raises(ValueError, match="h0"):
        net.states(np.zeros((2, 5, 2)), h0=np.zeros((3, 4)))
    X = np.zeros((3, 5, 2))
    with pytest.raises(ValueError, match="labels"):
        net.loss(X, np.array([0, 1, 3]), "cross_entropy")
    with pytest.raises(ValueError, match=r"y"):
        net.loss(X, np.array([0, 1]), "cross_entropy")
    with pytest.raises(ValueError, match="loss"):
        net.loss(X, np.array([0, 1, 2]), "hinge")
    with pytest.raises(TypeError, match="integer"):
        net.loss(X, np.array([0.5, 1, 2]), "cross_entropy")
    with pytest.raises(ValueError, match="y"):
        net.loss(X, np.zeros((2, 3)), "mse")
    with pytest.raises(TypeError, match="dtype"):
        wd.WCRNN(2, 4, 3, dtype="banana")
    with pytest.raises(ValueError, match="dtype"):
        wd.WCRNN(2, 4, 3, dtype=np.int32)
    with pytest.raises(TypeError, match="seed"):
        wd.WCRNN(2, 4, 3, seed="x")


def test_chunked_threads_give_the_same_results():
    """The batch split over worker threads changes nothing beyond rounding (and nothing at all for states)."""
    net = wd.WCRNN(2, 6, 3, residual=R.rotational(6, 0.95), eps=0.2, seed=0, trainable_residual=True)
    X = np.random.default_rng(0).standard_normal((40, 9, 2))
    y = np.random.default_rng(1).integers(0, 3, 40)
    l1, g1 = net.loss_and_grad(X, y, "cross_entropy", n_threads=1)
    l3, g3 = net.loss_and_grad(X, y, "cross_entropy", n_threads=3)
    assert abs(l1 - l3) < 1e-14
    assert set(g1) == set(g3) == {"W", "U", "b", "V", "c", "R"}
    for k in g1:
        np.testing.assert_allclose(g3[k], g1[k], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(net.trajectory(X, np.zeros((40, 6)), True, n_threads=3)[0],
                                  net.trajectory(X, np.zeros((40, 6)), True, n_threads=1)[0])


def test_elman_eps_is_the_wcri_coupling_and_survives_save(tmp_path):
    net = wd.Elman(1, 6, 1, init="wcri", eps=0.05, seed=0)
    assert net.eps == 0.05 and net.coupling == 1.0 and net.wcri_eps == 0.05
    back = wd.load_model(net.save(tmp_path / "e.npz"))
    assert back.eps == 0.05 and back.coupling == 1.0 and back.init == "wcri"
    assert wd.Elman(1, 6, 1, eps=0.2).eps == 0.2
    assert wd.WCRNN(1, 6, 1, eps=0.2).coupling == 0.2
    X = np.random.default_rng(0).standard_normal((8, 1))
    h = np.zeros(6)
    for x in X:  # the map does not use eps: h_t = tanh(W h + U x + b)
        h = np.tanh(net.W @ h + net.U @ x + net.b)
    np.testing.assert_allclose(net.states(X)[-1], h, rtol=1e-12, atol=1e-14)


def test_get_set_params_are_deprecated_aliases_of_weights():
    net = wd.WCRNN(1, 4, 1, seed=0)
    with pytest.warns(DeprecationWarning, match="get_weights"):
        p = net.get_params()
    assert p.keys() == net.get_weights().keys()
    with pytest.warns(DeprecationWarning, match="set_weights"):
        net.set_params({"W": np.eye(4)})
    np.testing.assert_array_equal(net.get_weights()["W"], np.eye(4))
    with pytest.raises(ValueError, match="unknown weight name 'Q'"):
        net.set_weights({"Q": np.eye(4)})
    with pytest.raises(TypeError, match="weights"):
        net.set_weights([np.eye(4)])


def test_elman_pickles_and_reads_pickles_from_before_the_eps_change():
    import pickle
    net = wd.Elman(1, 5, 1, init="wcri", eps=0.07, seed=0)
    back = pickle.loads(pickle.dumps(net))
    assert back.eps == 0.07 and back.coupling == 1.0
    old = wd.Elman.__new__(wd.Elman)
    state = dict(net.__dict__)
    state["wcri_eps"] = state.pop("eps")  # the attribute layout of older versions
    old.__setstate__(state)
    assert old.eps == 0.07 and old.wcri_eps == 0.07
    np.testing.assert_array_equal(old.predict(np.ones((4, 1))), net.predict(np.ones((4, 1))))
