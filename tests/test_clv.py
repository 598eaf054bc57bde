"""Covariant Lyapunov vectors (wcrnn_dyn.clv): exact oracles, the naive intersection reference, invariants."""
import numpy as np
import pytest

import naive_clv
import wcrnn_dyn as wd
from wcrnn_dyn.clv import CLVResult, covariant_lyapunov_vectors, covariant_lyapunov_vectors_map
from wcrnn_dyn.lyapunov import lyapunov_spectrum

R_ = wd.residuals


def _same_up_to_sign(V, E, atol):
    """Columns of V and E (unit) agree up to a sign per column."""
    s = np.sign(np.sum(V * E, axis=-2, keepdims=True))
    np.testing.assert_allclose(V, s * E, rtol=0, atol=atol)


def _nonnormal(seed=1):
    rng = np.random.default_rng(seed)
    lam = np.array([1.3, -0.9, 0.7, 0.5, -0.2])           # distinct |eigenvalue|, one expanding
    P = rng.standard_normal((5, 5))
    A = P @ np.diag(lam) @ np.linalg.inv(P)
    order = np.argsort(-np.abs(lam))
    E = P[:, order] / np.linalg.norm(P[:, order], axis=0)
    return A, lam[order], E


def _henon(a=1.4, b=0.3):
    step = lambda x: np.array([1.0 - a * x[0] ** 2 + x[1], b * x[0]])       # noqa: E731
    jac = lambda x: np.array([[-2.0 * a * x[0], 1.0], [b, 0.0]])              # noqa: E731
    return step, jac


def _wcrnn(N=6, seed=3, eps=0.2, activation="tanh"):
    # well separated exponents (gaps >= 0.13 nats/step measured at N = 6): 200 steps converge to ~1e-11
    res = R_.heterogeneous(np.array([0.95, 0.75, 0.55, 0.4, 0.25, 0.12])[:N])
    return wd.WCRNN(2, N, 1, residual=res, eps=eps, seed=seed, activation=activation)


# --------------------------------------------------------------------------------------------------
# exact oracles
# --------------------------------------------------------------------------------------------------

def test_constant_nonnormal_linear_map_clvs_are_eigenvectors():
    A, lam, E = _nonnormal()
    assert np.linalg.norm(A @ A.T - A.T @ A) > 1.0       # truly non-normal: GS vectors differ from CLVs
    net = wd.WCRNN(1, 5, 1, residual=R_.dense(A), eps=0.0)
    r = covariant_lyapunov_vectors(net, None, T=320, burn_in=100, burn_out=100)
    assert isinstance(r, CLVResult) and r.vectors.shape == (120, 5, 5)
    _same_up_to_sign(r.vectors, E[None], 1e-8)
    np.testing.assert_allclose(r.growth_rates, np.broadcast_to(np.log(np.abs(lam)), r.growth_rates.shape),
                               rtol=0, atol=1e-8)
    np.testing.assert_allclose(r.exponents, np.log(np.abs(lam)), rtol=0, atol=1e-10)
    # the orthonormal Gram-Schmidt frame is NOT the eigenbasis (the oracle can fail)
    Q = np.linalg.qr(E)[0]
    assert np.max(np.abs(np.abs(np.sum(Q * E, axis=0)) - 1)) > 1e-2
    # angles: the naive principal angles of the eigenbasis
    want = [naive_clv.min_angle(E, j) for j in range(1, 5)]
    np.testing.assert_allclose(r.angles, np.broadcast_to(want, r.angles.shape), atol=1e-8)


def test_constant_linear_map_user_map_version():
    A, lam, E = _nonnormal(seed=4)
    r = covariant_lyapunov_vectors_map(lambda x: A @ x, lambda x, Q: A @ Q, np.zeros(5), 300, k=3,
                                       burn_in=100, burn_out=100, times=[150, 200])
    assert r.vectors.shape == (2, 5, 3)
    _same_up_to_sign(r.vectors, E[None, :, :3], 1e-8)
    np.testing.assert_allclose(r.exponents, np.log(np.abs(lam[:3])), atol=1e-10)


def test_eps0_diagonal_residual_gives_coordinate_axes():
    mus = np.array([0.5, 0.9, -0.7, 0.99, 0.3, 0.8])     # neighbouring |mu| ratios <= 0.9: 0.9^250 ~ 4e-12
    net = wd.WCRNN(2, 6, 1, residual=R_.heterogeneous(mus), eps=0.0, seed=0)
    X = np.random.default_rng(0).standard_normal((600, 2))
    r = covariant_lyapunov_vectors(net, X, burn_in=250, burn_out=250)
    order = np.argsort(-np.abs(mus))
    _same_up_to_sign(r.vectors, np.eye(6)[:, order][None], 1e-8)
    np.testing.assert_allclose(r.exponents, np.log(np.abs(mus[order])), atol=1e-10)
    np.testing.assert_allclose(r.angles, np.pi / 2, atol=1e-8)     # orthogonal axes: angles pi/2


# --------------------------------------------------------------------------------------------------
# against the naive intersection construction
# --------------------------------------------------------------------------------------------------

def test_henon_clvs_match_intersection_reference():
    step, jac = _henon()
    x0 = np.array([0.1, 0.1])
    T, wash = 900, 100
    r = covariant_lyapunov_vectors_map(step, lambda x, Q: jac(x) @ Q, x0, T, washout=wash, burn_in=100,
                                       burn_out=100, seed=5)
    Js = naive_clv.map_jacobians(step, jac, x0, T)
    for t in (wash + 101, 400, 650, r.window_times[-1]):
        i = np.searchsorted(r.times, t)
        V = naive_clv.clv_at(Js, t, 2, n_past=60, n_future=min(60, T - t))
        _same_up_to_sign(r.vectors[i], V, 1e-8)
    assert abs(r.exponents[0] - 0.42) < 0.05 and abs(r.exponents[1] - (np.log(0.3) - 0.42)) < 0.05
    # the sum of the two CLV growth rates is log|det J| = log b only on average (angles change): check the mean
    assert abs(r.exponents.sum() - np.log(0.3)) < 0.02


@pytest.mark.parametrize("kind", ["wcrnn_tanh", "wcrnn_relu", "elman"])
def test_network_clvs_match_intersection_reference(kind):
    rng = np.random.default_rng(2)
    if kind == "elman":
        net = wd.Elman(2, 5, 1, init="default", seed=1)
        net.W = 2.5 * rng.standard_normal((5, 5)) / np.sqrt(5)
        k = 3
    else:
        net = _wcrnn(activation="tanh" if kind == "wcrnn_tanh" else "relu")
        k = 6 if kind == "wcrnn_tanh" else 2      # relu: lambda_3, lambda_4 only 0.03 apart (slow convergence)
    X = rng.standard_normal((700, 2))
    r = covariant_lyapunov_vectors(net, X, k=k, burn_in=200, burn_out=200, times=[250, 400, 500])
    Js = naive_clv.net_jacobians(net, X)
    for i, t in enumerate(r.times):
        V = naive_clv.clv_at(Js, t, k, n_past=200, n_future=200)
        _same_up_to_sign(r.vectors[i], V, 1e-7)
        for j in range(1, k):
            assert abs(r.angles[t - r.window_times[0], j - 1] - naive_clv.min_angle(V, j)) < 1e-7


# --------------------------------------------------------------------------------------------------
# covariance and growth forward / backward
# --------------------------------------------------------------------------------------------------

def _segment(Js, v, steps, backward):
    """Push unit vector v through dense Jacobians (forward: J v; backward: J^{-1} v), renormalising every step;
    returns (v_end, log growth)."""
    logg = 0.0
    for s in steps:
        v = np.linalg.solve(Js[s], v) if backward else Js[s] @ v
        nv = np.linalg.norm(v)
        logg += np.log(nv)
        v = v / nv
    return v, logg


def test_clvs_are_covariant_and_grow_at_their_exponent_forward_and_backward():
    net = _wcrnn(N=5)
    X = np.random.default_rng(7).standard_normal((1500, 2))
    r = covariant_lyapunov_vectors(net, X, burn_in=150, burn_out=150)
    Js = naive_clv.net_jacobians(net, X)
    V = np.asarray(r.vectors)
    t0 = r.window_times[0]
    # one step, at every window time: J_{t+1} v_j(t) = exp(growth_j(t)) * v_j(t+1) (up to the column's sign)
    for i in range(len(r.times) - 1):
        Y = Js[t0 + i + 1] @ V[i]
        np.testing.assert_allclose(np.linalg.norm(Y, axis=0), np.exp(r.growth_rates[i]), rtol=1e-9)
        _same_up_to_sign(Y / np.linalg.norm(Y, axis=0), V[i + 1], 1e-9)
    lam = lyapunov_spectrum(net, X, burn_in=150).exponents
    # over 1000 steps in segments of L = 5 steps (pushing a non-leading CLV much further amplifies rounding
    # errors along faster directions by exp((lambda_1 - lambda_j) steps) forward, exp((lambda_j - lambda_N)
    # steps) backward): dense forward products map v_j(t) onto v_j(t + L), dense inverse products map
    # v_j(t + L) back onto v_j(t), and the log growths add up to the j-th exponent, forward and backward.
    n, L = 1000, 5
    for j in range(5):
        logf = logb = 0.0
        for s0 in range(0, n, L):
            t_a = t0 + s0
            vf, gf = _segment(Js, V[s0][:, j], range(t_a + 1, t_a + L + 1), backward=False)
            _same_up_to_sign(vf[:, None], V[s0 + L][:, j:j + 1], 1e-8)
            vb, gb = _segment(Js, V[s0 + L][:, j], range(t_a + L, t_a, -1), backward=True)
            _same_up_to_sign(vb[:, None], V[s0][:, j:j + 1], 1e-8)
            assert abs(gf + gb) < 1e-9
            logf += gf
            logb += gb
        assert abs(logf - r.growth_rates[:n, j].sum()) < 1e-8
        # the j-th Lyapunov exponent (finite-time fluctuation at n = 1000 measured below 3e-3)
        assert abs(logf / n - lam[j]) < 0.01
        assert abs(logb / n + lam[j]) < 0.01
    # contrast: the orthonormal (Gram-Schmidt) vector q_2 is not covariant; forward it grows at lambda_1
    q = np.linalg.qr(V[0])[0][:, 1]
    _, gq = _segment(Js, q, range(t0 + 1, t0 + n + 1), backward=False)
    assert abs(gq / n - lam[0]) < 0.01 and gq / n > lam[1] + 0.1


def test_exponents_agree_with_lyapunov_spectrum_and_gs_exponents():
    net = _wcrnn(N=6)
    X = np.random.default_rng(3).standard_normal((1400, 2))
    r = covariant_lyapunov_vectors(net, X, k=4, burn_in=100, burn_out=100, times=[300])
    ls = lyapunov_spectrum(net, X[:1301], k=4, burn_in=101, qr="householder")   # the same 1200 steps
    np.testing.assert_allclose(r.gs_exponents, ls.exponents, atol=1e-10)
    np.testing.assert_allclose(r.exponents[0], r.gs_exponents[0], atol=1e-12)   # v_1 is the first GS vector
    np.testing.assert_allclose(r.exponents, r.gs_exponents, atol=5e-3)


# --------------------------------------------------------------------------------------------------
# settings, storage, determinism, errors
# --------------------------------------------------------------------------------------------------

def test_leading_k_times_disk_and_seed():
    net = _wcrnn(N=6)
    X = np.random.default_rng(4).standard_normal((900, 2))
    kw = dict(burn_in=300, burn_out=300)      # the early finite-time gap lambda_3 - lambda_4 is small
    full = covariant_lyapunov_vectors(net, X, **kw)
    part = covariant_lyapunov_vectors(net, X, k=3, times=[400, 301, 600], **kw)
    np.testing.assert_array_equal(part.times, [301, 400, 600])
    idx = part.times - full.window_times[0]
    _same_up_to_sign(part.vectors, np.asarray(full.vectors)[idx][:, :, :3], 1e-8)
    disk = covariant_lyapunov_vectors(net, X, store="disk", **kw)
    assert isinstance(disk.vectors, np.memmap) and disk.settings["store"] == "disk"
    np.testing.assert_array_equal(np.asarray(disk.vectors), full.vectors)
    np.testing.assert_array_equal(disk.angles, full.angles)
    auto = covariant_lyapunov_vectors(net, X, max_memory_mb=0.01, **kw)
    assert auto.settings["store"] == "disk"
    again = covariant_lyapunov_vectors(net, X, **kw)
    np.testing.assert_array_equal(again.vectors, full.vectors)
    other = covariant_lyapunov_vectors(net, X, seed=9, **kw)
    _same_up_to_sign(other.vectors, full.vectors, 1e-8)        # converged: independent of the start
    assert full.min_angle().shape == (300,) and np.all(full.min_angle() > 0)
    ft = full.finite_time_exponents(100)
    np.testing.assert_allclose(ft.mean(axis=0), full.exponents, atol=1e-12)


def test_bad_arguments():
    net = _wcrnn(N=4)
    X = np.zeros((300, 2))
    with pytest.raises(ValueError, match="k"):
        covariant_lyapunov_vectors(net, X, k=5)
    with pytest.raises(ValueError, match="T = 300"):
        covariant_lyapunov_vectors(net, X, window=200)
    with pytest.raises(ValueError, match="burn_out"):
        covariant_lyapunov_vectors(net, X, burn_out=0)
    with pytest.raises(ValueError, match="times"):
        covariant_lyapunov_vectors(net, X, times=[5])
    with pytest.raises(TypeError, match="times"):
        covariant_lyapunov_vectors(net, X, times=[150.5])
    with pytest.raises(ValueError, match="store"):
        covariant_lyapunov_vectors(net, X, store="ram")
    with pytest.raises(ValueError, match="X"):
        covariant_lyapunov_vectors(net, np.zeros((2, 300, 2)))
    with pytest.raises(TypeError, match="net"):
        covariant_lyapunov_vectors("net", X)
    with pytest.raises(TypeError, match="callables"):
        covariant_lyapunov_vectors_map(1, 2, np.zeros(2), 300)
    with pytest.raises(ValueError, match="shape"):
        covariant_lyapunov_vectors_map(lambda x: x, lambda x, Q: Q[:1], np.zeros(2), 300)
    singular = wd.WCRNN(1, 3, 1, residual=R_.heterogeneous([0.9, 0.0, 0.5]), eps=0.0)
    with pytest.raises(ValueError, match="singular"):
        covariant_lyapunov_vectors(singular, None, T=300)


def test_angle_plot_and_lazy_exports(tmp_path):
    from wcrnn_dyn.plotting._base import savefig
    assert wd.covariant_lyapunov_vectors is covariant_lyapunov_vectors
    assert wd.covariant_lyapunov_vectors_map is covariant_lyapunov_vectors_map
    net = _wcrnn(N=4)
    r = covariant_lyapunov_vectors(net, np.random.default_rng(0).standard_normal((400, 2)), times=[150])
    fig, ax = wd.plotting.plot_clv_angles(r)
    assert len(ax.patches) == 2 and ax.get_xlim() == (0.0, 90.0)
    fig2, ax2 = wd.plotting.plot_clv_angles(r.angles, splits=[2, 3], degrees=False)
    assert len(ax2.patches) == 2
    with pytest.raises(ValueError, match="splits"):
        wd.plotting.plot_clv_angles(r, splits=[4])
    savefig(fig, tmp_path / "angles.png")
    savefig(fig2, tmp_path / "angles2.png")
    assert (tmp_path / "angles.png").stat().st_size > 1000


def test_result_plot_method_returns_axes():
    r = covariant_lyapunov_vectors(_wcrnn(N=3), np.zeros((300, 2)), times=[150])
    ax = r.plot(degrees=False)
    assert ax.get_xlim()[1] == pytest.approx(np.pi / 2) and len(ax.patches) == 2
