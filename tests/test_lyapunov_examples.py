"""Known examples: exact theory oracles (docs/THEORY.md section 4) and classical maps with published exponents.

Algorithm invariants (reference agreement, sum identity, qr_every independence, ...) are in
test_lyapunov_invariants.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wcrnn_dyn as wd
from wcrnn_dyn import theory
from wcrnn_dyn.lyapunov import lyapunov_spectrum, lyapunov_spectrum_map, top_exponent_two_trajectories

R_ = wd.residuals


def _input(T, d=1, B=None, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, d) if B is None else (B, T, d))


# --------------------------------------------------------------------------------------------------
# eps = 0: exponents are log|eigenvalues| (docs/THEORY.md section 4.1)
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["identity", "rotational", "orthogonal"])
@pytest.mark.parametrize("T", [3, 60, 2500])
@pytest.mark.parametrize("qr", ["auto", "householder"])
def test_eps0_scaled_orthogonal_exact_at_any_length(family, T, qr):
    N, mu = 11, 0.985
    res = {"identity": R_.scaled_identity(N, mu), "rotational": R_.rotational(N, mu),
           "orthogonal": R_.orthogonal(N, mu, seed=1)}[family]
    net = wd.WCRNN(1, N, 1, residual=res, eps=0.0, seed=0)
    X = _input(T, B=2)
    for k in (N, 4):
        r = lyapunov_spectrum(net, X, k=k, burn_in=min(1, T - 1), qr=qr)
        np.testing.assert_allclose(r.exponents, np.log(mu), rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.exponents, theory.predicted_exponents(net)[:k], atol=1e-10)


def test_eps0_heterogeneous_converges_like_one_over_T():
    """Diagonal residual: the frame aligns with the axes at rate (mu_{i+1}/mu_i)^t, so without burn-in the
    error is a constant / M; with a long burn-in it is at rounding level."""
    mus = np.array([0.99, 0.9, 0.8, 0.6, 0.4])
    net = wd.WCRNN(1, 5, 1, residual=R_.heterogeneous(mus), eps=0.0, seed=0)
    pred = np.log(mus)
    Ms = [250, 500, 1000, 2000, 4000]
    errs = []
    for M in Ms:
        r = lyapunov_spectrum(net, None, T=M, burn_in=0, seed=3)
        errs.append(np.max(np.abs(r.exponents - pred)))
    errs = np.array(errs)
    ratios = errs[:-1] / errs[1:]
    assert np.all((ratios > 1.9) & (ratios < 2.1)), ratios          # error ~ C / M
    assert np.ptp(errs * np.array(Ms)) < 0.05 * np.mean(errs * np.array(Ms))
    aligned = lyapunov_spectrum(net, None, T=4000, burn_in=3000, seed=3)
    np.testing.assert_allclose(aligned.exponents, pred, atol=1e-10)


def test_eps0_heterogeneous_rotational_pairs():
    mus, th = np.array([0.99, 0.95, 0.7]), np.array([0.3, 1.1, 2.5])
    net = wd.WCRNN(2, 6, 1, residual=R_.heterogeneous_rotational(mus, th), eps=0.0, seed=0)
    r = lyapunov_spectrum(net, _input(3000, d=2), burn_in=2000)
    np.testing.assert_allclose(r.exponents, np.repeat(np.log(mus), 2), atol=1e-9)


def test_eps0_zero_eigenvalue_gives_minus_inf():
    net = wd.WCRNN(1, 3, 1, residual=R_.heterogeneous([0.9, 0.5, 0.0]), eps=0.0, seed=0)
    r = lyapunov_spectrum(net, None, T=200, burn_in=100)
    np.testing.assert_allclose(r.exponents[:2], np.log([0.9, 0.5]), atol=1e-10)
    assert r.exponents[2] == -np.inf and np.isnan(r.stderr[2])


def test_elman_wcri_eps0_equals_log_eigenvalues():
    """Elman with WCRI at eps = 0 has W = Lambda; with zero input the state stays at 0, phi'(0) = 1."""
    for res, burn in [(R_.rotational(8, 0.97), 1), (R_.heterogeneous([0.99, 0.9, 0.7, 0.5]), 2000)]:
        net = wd.Elman(1, res.n, 1, init="wcri", residual=res, eps=0.0, seed=0)
        r = lyapunov_spectrum(net, None, T=burn + 1000, burn_in=burn)
        np.testing.assert_allclose(r.exponents, theory.predicted_exponents(res), atol=1e-10)


def test_nonlinear_residual_fixed_point_exponent():
    """g = tanh, L = mu I with mu = 1.5, eps = 0: h -> h* = tanh(mu h*), J = mu (1 - h*^2) I there."""
    mu = 1.5
    hs = 0.5
    for _ in range(200):
        hs = np.tanh(mu * hs)
    net = wd.WCRNN(1, 4, 1, residual=R_.nonlinear(R_.scaled_identity(4, mu), scale=1.0), eps=0.0, seed=0)
    r = lyapunov_spectrum(net, None, T=700, washout=200, burn_in=0, h0=np.full(4, 0.5))
    np.testing.assert_allclose(r.exponents, np.log(mu * (1 - hs ** 2)), atol=1e-9)


# --------------------------------------------------------------------------------------------------
# eps > 0: the bound for scaled-orthogonal residuals (docs/THEORY.md section 4.2)
# --------------------------------------------------------------------------------------------------

@settings(max_examples=12, deadline=None)
@given(family=st.sampled_from(["identity", "rotational", "orthogonal"]),
       mu=st.floats(0.8, 1.05), eps=st.floats(0.005, 0.3), seed=st.integers(0, 10_000),
       act=st.sampled_from(["tanh", "relu", "identity"]))
def test_bound_holds_for_random_weights(family, mu, eps, seed, act):
    N = 8
    res = {"identity": R_.scaled_identity(N, mu), "rotational": R_.rotational(N, mu),
           "orthogonal": R_.orthogonal(N, mu, seed=seed)}[family]
    net = wd.WCRNN(1, N, 1, residual=res, eps=eps, activation=act, seed=seed)
    net.b = np.random.default_rng(seed).normal(0, 0.5, N)
    if eps * np.linalg.norm(net.W, 2) >= mu:
        with pytest.raises(ValueError, match="eps"):
            theory.exponent_bound(net)
        return
    bound = theory.exponent_bound(net)
    X = 0.5 * _input(250, seed=seed)
    if act == "identity" and mu > 1:
        X = X[:120]   # linear supercritical: keep the state finite
    r = lyapunov_spectrum(net, X, burn_in=20)
    assert np.all(np.abs(r.exponents - np.log(mu)) <= bound + 1e-12)
    lo, hi = theory.exponent_interval(net)
    assert np.all((r.exponents >= lo - 1e-12) & (r.exponents <= hi + 1e-12))


def test_deviation_is_order_eps():
    """|LE - log mu| shrinks proportionally with eps (docs/THEORY.md section 4.2: the deviation is O(eps))."""
    devs = []
    for eps in (0.04, 0.02, 0.01):
        net = wd.WCRNN(1, 10, 1, residual=R_.rotational(10, 0.99), eps=eps, seed=3)
        r = lyapunov_spectrum(net, _input(800, seed=1), burn_in=100)
        devs.append(np.max(np.abs(r.exponents - np.log(0.99))))
        assert devs[-1] <= theory.exponent_bound(net)
    assert 1.5 < devs[0] / devs[1] < 2.5 and 1.5 < devs[1] / devs[2] < 2.5


# --------------------------------------------------------------------------------------------------
# classical maps through the generic entry point
# --------------------------------------------------------------------------------------------------

A_H, B_H = 1.4, 0.3


def henon_step(x):
    return np.array([1.0 - A_H * x[0] ** 2 + x[1], B_H * x[0]])


def henon_tangent(x, Q):
    J = np.array([[-2.0 * A_H * x[0], 1.0], [B_H, 0.0]])
    return J @ Q


def test_henon_map():
    r = lyapunov_spectrum_map(henon_step, henon_tangent, [0.1, 0.1], 30000, washout=100, burn_in=100)
    # |det J| = b everywhere: the sum is log b exactly, at any length
    assert abs(np.sum(r.exponents) - np.log(B_H)) < 1e-12
    assert abs(r.exponents[0] - 0.41922) < 0.01        # Sprott (2003): 0.41922
    assert abs(r.exponents[1] - (np.log(B_H) - 0.41922)) < 0.01
    assert 1.2 < r.kaplan_yorke < 1.3                   # 1.258
    assert r.entropy_rate == pytest.approx(r.exponents[0])
    cho = lyapunov_spectrum_map(henon_step, henon_tangent, [0.1, 0.1], 3000, washout=100, qr="cholesky",
                                qr_every=2)
    assert abs(np.sum(cho.exponents) - np.log(B_H)) < 1e-12


def test_logistic_map_r4():
    def step(x):
        return 4.0 * x * (1.0 - x)

    def tangent(x, Q):
        return (4.0 - 8.0 * x)[:, None] * Q

    r = lyapunov_spectrum_map(step, tangent, [0.3141], 60000, washout=100, burn_in=0)
    assert abs(r.exponents[0] - np.log(2.0)) < 0.02
    assert r.n_steps == 60000 - 100


def test_two_trajectory_map_value_on_chaotic_network():
    """A strongly coupled Elman network is chaotic: both estimators find the same positive top exponent."""
    net = wd.Elman(1, 16, 1, init="default", seed=5)
    net.W = net.W * (3.0 * np.sqrt(16))          # entries ~ U(-3, 3): gain well above the edge of chaos
    X = 0.1 * _input(3000, seed=2)
    qr = lyapunov_spectrum(net, X, k=2, burn_in=300)
    two = top_exponent_two_trajectories(net, X, burn_in=300)
    assert qr.exponents[0] > 0.05
    assert abs(two.exponent - qr.exponents[0]) < 1e-4
