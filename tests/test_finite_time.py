"""Finite-time Lyapunov exponents (wcrnn_dyn.clv.finite_time_exponents)."""
import numpy as np
import pytest

import naive_clv
import wcrnn_dyn as wd
from wcrnn_dyn.clv import FiniteTimeResult, finite_time_exponents
from wcrnn_dyn.lyapunov import lyapunov_spectrum

R_ = wd.residuals


def _net(activation="tanh", seed=3):
    res = R_.heterogeneous(np.array([0.97, 0.8, 0.6, 0.45, 0.3]))
    return wd.WCRNN(2, 5, 1, residual=res, eps=0.3, seed=seed, activation=activation)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mean_over_windows_equals_global_exponents(activation):
    net = _net(activation)
    X = np.random.default_rng(1).standard_normal((3, 100 + 12 * 50 + 37, 2))    # 37 trailing steps dropped
    for k in (5, 2):
        r = finite_time_exponents(net, X, 50, k=k, burn_in=100, seed=4)
        assert isinstance(r, FiniteTimeResult)
        assert r.exponents.shape == (3, 12, k) and r.n_windows == 12 and r.settings["dropped_steps"] == 37
        g = lyapunov_spectrum(net, X[:, :700], k=k, burn_in=100, seed=4, qr="householder")
        np.testing.assert_allclose(r.exponents.mean(axis=1), g.per_sequence, rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.global_exponents, g.exponents, rtol=0, atol=1e-10)
        one = finite_time_exponents(net, X[1], 50, k=k, burn_in=100, seed=4)
        assert one.exponents.shape == (12, k)
        np.testing.assert_allclose(one.exponents, r.exponents[1], rtol=0, atol=1e-12)
        g1 = lyapunov_spectrum(net, X[1, :700], k=k, burn_in=100, seed=4, qr="householder")
        np.testing.assert_allclose(one.exponents.mean(axis=0), g1.exponents, rtol=0, atol=1e-10)


def test_windows_match_naive_dense_reference():
    net = _net()
    X = np.random.default_rng(2).standard_normal((100 + 8 * 40, 2))
    r = finite_time_exponents(net, X, 40, burn_in=100, seed=0, washout=0)
    ref = naive_clv.finite_time_exponents(net, X, 5, 40, 100, 0)
    ref = ref[:, np.argsort(-ref.sum(axis=0), kind="stable")]
    np.testing.assert_allclose(r.exponents, ref, rtol=0, atol=1e-10)
    assert np.ptp(r.exponents, axis=0).max() > 1e-3    # windows differ: the test could fail


def test_eps0_every_window_is_log_mu_and_moments():
    mus = np.array([0.5, -0.9, 0.7])
    net = wd.WCRNN(1, 3, 1, residual=R_.heterogeneous(mus), eps=0.0)
    r = finite_time_exponents(net, np.zeros((200, 1)), 10, burn_in=100)   # (7/9)^100 ~ 1e-11
    np.testing.assert_allclose(r.exponents, np.broadcast_to(np.log([0.9, 0.7, 0.5]), (10, 3)), atol=1e-12)
    np.testing.assert_allclose(r.std, 0.0, atol=1e-12)
    assert np.all(np.isnan(r.skewness)) and np.all(np.isnan(r.excess_kurtosis))
    np.testing.assert_allclose(r.timescales, -1.0 / r.exponents)
    np.testing.assert_allclose(r.median_timescale, -1.0 / np.log([0.9, 0.7, 0.5]))


def test_moments_and_timescales_of_a_fluctuating_run():
    from scipy import stats
    net = wd.Elman(2, 6, 1, seed=0)
    net.W = 2.0 * np.random.default_rng(0).standard_normal((6, 6)) / np.sqrt(6)
    X = np.random.default_rng(5).standard_normal((2, 50 + 30 * 20, 2))
    r = finite_time_exponents(net, X, 20, k=3, burn_in=50)
    P = r.pooled()
    assert P.shape == (60, 3)
    np.testing.assert_allclose(r.mean, P.mean(axis=0), atol=1e-14)
    np.testing.assert_allclose(r.std, P.std(axis=0, ddof=1), atol=1e-14)
    np.testing.assert_allclose(r.skewness, stats.skew(P, axis=0), atol=1e-10)
    np.testing.assert_allclose(r.excess_kurtosis, stats.kurtosis(P, axis=0), atol=1e-10)
    want = np.where(r.exponents < 0, -1.0 / np.minimum(r.exponents, -1e-300), np.inf)
    np.testing.assert_allclose(r.timescales, want)
    assert np.all(r.std > 0)


def test_bad_arguments():
    net = _net()
    X = np.zeros((150, 2))
    with pytest.raises(ValueError, match="window"):
        finite_time_exponents(net, X, 60, burn_in=100)
    with pytest.raises(ValueError, match="window"):
        finite_time_exponents(net, X, 0)
    with pytest.raises(TypeError, match="window"):
        finite_time_exponents(net, X, 2.5)
    with pytest.raises(ValueError, match="X"):
        finite_time_exponents(net, np.zeros(5), 2)
    with pytest.raises(ValueError, match="k"):
        finite_time_exponents(net, X, 10, k=6)
    with pytest.raises(TypeError, match="net"):
        finite_time_exponents(None, X, 10)


def test_histogram_plot_and_lazy_export(tmp_path):
    from wcrnn_dyn.plotting._base import savefig
    assert wd.finite_time_exponents is finite_time_exponents
    r = finite_time_exponents(_net(), np.random.default_rng(0).standard_normal((2, 500, 2)), 20, k=3)
    fig, ax = wd.plotting.plot_finite_time_exponents(r)
    assert len(ax.patches) == 3 and "window 20" in ax.get_xlabel()
    fig2, ax2 = wd.plotting.plot_finite_time_exponents(r.exponents, indices=[1])
    assert len(ax2.patches) == 1
    savefig(fig, tmp_path / "ftle.png")
    savefig(fig2, tmp_path / "ftle2.png")
    assert (tmp_path / "ftle.png").stat().st_size > 1000


def test_no_convergence_warning_for_few_windows(caplog):
    import logging
    with caplog.at_level(logging.WARNING):
        finite_time_exponents(_net(), np.zeros((130, 2)), 10, burn_in=100)     # 3 windows
    assert not [r for r in caplog.records if "not converged" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        lyapunov_spectrum(_net(), np.zeros((130, 2)), burn_in=100, history_points=3)
    assert [r for r in caplog.records if "not converged" in r.getMessage()]     # the engine itself warns


def test_result_plot_method_returns_axes():
    ax = finite_time_exponents(_net(), np.zeros((300, 2)), 20, k=2).plot()
    assert len(ax.patches) == 2
