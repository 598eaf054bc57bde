"""The test oracles themselves: tests/naive_lyapunov.py's plain-NumPy map, Jacobian and QR spectrum against
values computed by hand (scalar arithmetic written out below) and exact theoretical results, so that the
oracle the Lyapunov, CLV and finite-time tests compare with is right independently of the package."""
import math

import numpy as np
import pytest

import naive_lyapunov as nl
import wcrnn_dyn as wd


def scalar_map():
    # h_t = 0.5 h_{t-1} + 0.1 tanh(2 h_{t-1} + x_t)
    return nl.NaiveMap([[0.5]], [[2.0]], [[1.0]], [0.0], 0.1, "tanh")


def test_scalar_tanh_map_by_hand():
    m = scalar_map()
    H = m.trajectory([[1.0], [0.0]])
    h1 = 0.1 * math.tanh(1.0)                      # 0.5 * 0 + 0.1 tanh(2 * 0 + 1)
    h2 = 0.5 * h1 + 0.1 * math.tanh(2 * h1)        # input 0
    np.testing.assert_array_equal(H[:, 0], [0.0, h1, h2])
    assert h1 == pytest.approx(0.07615941559557649, abs=1e-16)
    assert h2 == pytest.approx(0.05319487552366068, abs=1e-16)
    # J = 0.5 + 0.1 * 2 * (1 - tanh^2(2 h1))
    J = m.jacobian([h1], [0.0])
    assert J.shape == (1, 1) and J[0, 0] == pytest.approx(0.6954306340923749, abs=1e-15)


def test_relu_map_and_jacobian_by_hand():
    L = [[0.0, 1.0], [-1.0, 0.0]]                  # rotation by -90 degrees
    m = nl.NaiveMap(L, [[1.0, 2.0], [3.0, 4.0]], [[1.0], [-1.0]], [0.0, 0.0], 0.5, "relu")
    # h = (1, 1), x = 0.5: a = (3.5, 6.5) both active; L h = (1, -1)
    np.testing.assert_array_equal(m.step([1.0, 1.0], [0.5]), [1.0 + 0.5 * 3.5, -1.0 + 0.5 * 6.5])
    np.testing.assert_array_equal(m.jacobian([1.0, 1.0], [0.5]), [[0.5, 2.0], [0.5, 2.0]])
    # h = (1, -1), x = -2: a = (-3, 1): only the second unit is active; L h = (-1, -1)
    np.testing.assert_array_equal(m.step([1.0, -1.0], [-2.0]), [-1.0, -0.5])
    np.testing.assert_array_equal(m.jacobian([1.0, -1.0], [-2.0]), [[0.0, 1.0], [0.5, 2.0]])


def test_identity_activation_full_coupling_is_the_affine_map():
    # Elman form (L = 0, eps = 1) with the identity: h_1 = W h_0 + U x + b, J = W
    W = np.array([[1.0, 2.0], [0.0, -1.0]])
    m = nl.NaiveMap(np.zeros((2, 2)), W, [[1.0], [2.0]], [0.5, -0.5], 1.0, "identity")
    np.testing.assert_array_equal(m.step([1.0, 1.0], [3.0]), [1 + 2 + 3 + 0.5, -1 + 6 - 0.5])
    np.testing.assert_array_equal(m.jacobian([7.0, -3.0], [1.0]), W)


def test_nonlinear_residual_by_hand():
    # R(h) = 2 tanh(3 h / 2), eps = 0: R(0.5) = 2 tanh(0.75), dR(0.5) = 3 (1 - tanh^2(0.75))
    m = nl.NaiveMap([[3.0]], [[1.0]], [[1.0]], [0.0], 0.0, "tanh", scale=2.0)
    assert m.step([0.5], [0.0])[0] == pytest.approx(1.2702979047745746, abs=1e-15)
    assert m.jacobian([0.5], [0.0])[0, 0] == pytest.approx(1.7897574248439945, abs=1e-15)


@pytest.mark.parametrize("activation,scale", [("tanh", None), ("tanh", 0.7), ("identity", None), ("relu", 1.5)])
def test_jacobian_matches_central_differences_of_the_map(activation, scale):
    rng = np.random.default_rng(0)
    N, d = 5, 2
    m = nl.NaiveMap(rng.standard_normal((N, N)), rng.standard_normal((N, N)), rng.standard_normal((N, d)),
                    rng.standard_normal(N), 0.3, activation, scale=scale)
    h, x = rng.standard_normal(N), rng.standard_normal(d)
    fd = np.zeros((N, N))
    for j in range(N):
        e = np.zeros(N)
        e[j] = 1e-6
        fd[:, j] = (m.step(h + e, x) - m.step(h - e, x)) / 2e-6
    np.testing.assert_allclose(m.jacobian(h, x), fd, rtol=0, atol=1e-8)


def test_spectrum_of_a_linear_diagonal_map_is_log_of_its_entries():
    m = nl.NaiveMap(np.diag([0.9, -0.5, 0.2]), np.ones((3, 3)), np.ones((3, 1)), np.zeros(3), 0.0)
    got = nl.spectrum(m, np.zeros((140, 1)), burn_in=80)  # the frame aligns with e_1, e_2, e_3 first
    np.testing.assert_allclose(got, np.log([0.9, 0.5, 0.2]), rtol=0, atol=1e-13)
    assert nl.mean_log_abs_det(m, np.zeros((60, 1)), washout=0, burn_in=10) == pytest.approx(
        math.log(0.9 * 0.5 * 0.2), abs=1e-13)


def test_spectrum_of_a_scaled_rotation_is_log_mu_twice():
    c, s = math.cos(0.3), math.sin(0.3)
    m = nl.NaiveMap(0.95 * np.array([[c, -s], [s, c]]), np.eye(2), np.ones((2, 1)), np.zeros(2), 0.0)
    got = nl.spectrum(m, np.zeros((50, 1)), burn_in=5, qr_every=3)
    np.testing.assert_allclose(got, [math.log(0.95)] * 2, rtol=0, atol=1e-13)


def test_spectrum_of_a_constant_triangular_jacobian():
    # identity activation, no residual, eps = 1: J_t = W = [[2, 1], [0, 0.5]] at every step;
    # exponents log 2 and log 0.5 (the frame aligns with e_1 during burn-in), their sum log|det W| = 0
    W = np.array([[2.0, 1.0], [0.0, 0.5]])
    m = nl.NaiveMap(np.zeros((2, 2)), W, np.zeros((2, 1)), np.zeros(2), 1.0, "identity")
    X = np.zeros((200, 1))
    np.testing.assert_allclose(nl.spectrum(m, X, burn_in=60, seed=3), [math.log(2), math.log(0.5)],
                               rtol=0, atol=1e-12)
    assert abs(nl.mean_log_abs_det(m, X, washout=0, burn_in=60)) < 1e-15


def test_two_trajectory_top_of_a_linear_map():
    A = np.diag([0.9, 0.3])
    got = nl.two_trajectory_top(lambda x: A @ x, np.ones(2), 300, 1e-6, 50, np.array([0.6, 0.8]))
    assert got == pytest.approx(math.log(0.9), abs=1e-12)


def test_frame_is_orthonormal_with_positive_r_diagonal():
    Q = nl.frame(6, 3, seed=1)
    np.testing.assert_allclose(Q.T @ Q, np.eye(3), atol=1e-14)
    G = np.random.default_rng(1).standard_normal((3, 6)).T
    assert np.all(np.diag(Q.T @ G) > 0)


def test_from_net_reads_the_arrays_only():
    N = 5
    thetas = [0.4, 1.1]
    net = wd.WCRNN(2, N, 1, residual=wd.residuals.rotational(N, 0.9, thetas=thetas), eps=0.2,
                   activation="relu", seed=0)
    m = nl.NaiveMap.from_net(net)
    want = np.zeros((N, N))                         # the rotational family's matrix, written out
    for i, th in enumerate(thetas):
        want[2 * i:2 * i + 2, 2 * i:2 * i + 2] = 0.9 * np.array([[math.cos(th), -math.sin(th)],
                                                                  [math.sin(th), math.cos(th)]])
    want[4, 4] = 0.9
    np.testing.assert_allclose(m.L, want, atol=1e-15)
    assert (m.eps, m.activation, m.scale) == (0.2, "relu", None)
    np.testing.assert_array_equal(m.W, net.W)
    nonlin = wd.WCRNN(2, N, 1, residual=wd.residuals.nonlinear(wd.residuals.scaled_identity(N, 1.2), scale=0.7),
                      seed=0)
    mn = nl.NaiveMap.from_net(nonlin)
    assert mn.scale == 0.7 and np.array_equal(mn.L, 1.2 * np.eye(N))
    el = nl.NaiveMap.from_net(wd.Elman(2, N, 1, seed=0))
    assert el.eps == 1.0 and not el.L.any()


@pytest.mark.parametrize("kind", ["wcrnn", "elman"])
def test_naive_trajectory_agrees_with_the_package(kind):
    """Cross-check (not the oracle's basis): the independent map and the package's states agree."""
    if kind == "elman":
        net = wd.Elman(2, 6, 1, init="wcri", eps=0.3, seed=1)
    else:
        net = wd.WCRNN(2, 6, 1, residual=wd.residuals.nonlinear(wd.residuals.rotational(6, 1.2), scale=0.7),
                       eps=0.2, seed=1)
    X = np.random.default_rng(2).standard_normal((30, 2))
    H = nl.NaiveMap.from_net(net).trajectory(X)
    np.testing.assert_allclose(H[1:], net.states(X), rtol=0, atol=1e-12)
