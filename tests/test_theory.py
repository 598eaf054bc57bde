"""wcrnn_dyn.theory: predictions, the scaled-orthogonal bound and regimes (docs/THEORY.md sections 2 and 4)."""
import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import theory

R_ = wd.residuals


def test_predicted_exponents_families():
    np.testing.assert_allclose(theory.predicted_exponents(R_.scaled_identity(5, 0.9)), np.log(0.9))
    np.testing.assert_allclose(theory.predicted_exponents(R_.rotational(7, 0.97)), np.log(0.97), atol=1e-14)
    np.testing.assert_allclose(theory.predicted_exponents(R_.orthogonal(6, 1.02, seed=2)), np.log(1.02),
                               atol=1e-12)
    mus = np.array([0.5, 0.99, -0.8, 0.7])
    np.testing.assert_allclose(theory.predicted_exponents(R_.heterogeneous(mus)),
                               np.log([0.99, 0.8, 0.7, 0.5]), atol=1e-15)
    hr = R_.heterogeneous_rotational([0.9, 0.6], [0.4, 2.0], tail=0.8)
    np.testing.assert_allclose(theory.predicted_exponents(hr), np.log([0.9, 0.9, 0.8, 0.6, 0.6]), atol=1e-14)
    z = theory.predicted_exponents(R_.zero(3))
    assert np.all(z == -np.inf)
    # descending order, and arrays / networks accepted
    M = np.diag([0.3, 0.95, 0.6])
    np.testing.assert_allclose(theory.predicted_exponents(M), np.log([0.95, 0.6, 0.3]), atol=1e-15)
    net = wd.WCRNN(1, 4, 1, residual=R_.heterogeneous([0.9, 0.8, 0.7, 0.6]), eps=0.1)
    np.testing.assert_allclose(theory.predicted_exponents(net), np.log([0.9, 0.8, 0.7, 0.6]), atol=1e-15)
    el = wd.Elman(1, 6, 1, init="wcri", residual=R_.rotational(6, 0.95), eps=0.0)
    np.testing.assert_allclose(theory.predicted_exponents(el), np.log(0.95), atol=1e-12)
    nl = R_.nonlinear(R_.scaled_identity(3, 1.2))
    np.testing.assert_allclose(theory.predicted_exponents(nl), np.log(1.2))
    with pytest.raises(TypeError, match="residual"):
        theory.predicted_exponents("identity")


def test_predicted_timescales():
    tau = theory.predicted_timescales(R_.heterogeneous([0.99, 0.9, 1.0, 0.0]))
    np.testing.assert_allclose(tau, [np.inf, -1 / np.log(0.99), -1 / np.log(0.9), 0.0])
    assert abs(tau[1] - 99.5) < 0.01          # docs/THEORY.md section 4.5: mu = 0.99 -> 99.5 steps


def test_is_scaled_orthogonal():
    for R in (R_.scaled_identity(4, 0.9), R_.rotational(5, 1.1), R_.orthogonal(6, 0.7, seed=1),
              R_.scaled_identity(3, -0.8)):
        ok, mu = theory.is_scaled_orthogonal(R)
        assert ok and mu == pytest.approx(abs(R.eigenvalues()[0]))
    for R in (R_.heterogeneous([0.9, 0.8]), R_.random(5, 0.9, seed=0), R_.nonlinear(R_.scaled_identity(3, 0.9)),
              R_.zero(3)):
        assert theory.is_scaled_orthogonal(R)[0] is False
    # a tiny perturbation is detected
    M = 0.9 * np.eye(4)
    M[0, 1] = 1e-6
    assert theory.is_scaled_orthogonal(M)[0] is False


def test_exponent_bound_value():
    net = wd.WCRNN(1, 12, 1, residual=R_.orthogonal(12, 0.97, seed=3), eps=0.07, seed=4)
    s = np.linalg.svd(net.W, compute_uv=False)[0]
    expect = -np.log(1 - 0.07 * s / 0.97)
    assert theory.exponent_bound(net) == pytest.approx(expect, rel=1e-12)
    lo, hi = theory.exponent_interval(net)
    assert lo == pytest.approx(np.log(0.97 - 0.07 * s)) and hi == pytest.approx(np.log(0.97 + 0.07 * s))
    assert np.log(0.97) - lo == pytest.approx(expect)          # the lower side is the binding one
    assert hi - np.log(0.97) < expect
    # O(eps): halving eps about halves the bound
    net2 = wd.WCRNN.from_arrays(net.residual, net.W, net.U, net.b, net.V, net.c, eps=0.035)
    assert 1.9 < theory.exponent_bound(net) / theory.exponent_bound(net2) < 2.1


def test_exponent_bound_errors():
    with pytest.raises(ValueError, match="scaled-orthogonal"):
        theory.exponent_bound(wd.WCRNN(1, 4, 1, residual=R_.heterogeneous([0.9, 0.8, 0.7, 0.6]), eps=0.01))
    with pytest.raises(ValueError, match="scaled-orthogonal"):
        theory.exponent_bound(wd.WCRNN(1, 4, 1, residual=R_.random(4, 0.9, seed=1), eps=0.01))
    with pytest.raises(ValueError, match="non-linear"):
        theory.exponent_bound(wd.WCRNN(1, 4, 1, residual=R_.nonlinear(R_.scaled_identity(4, 0.9)), eps=0.01))
    with pytest.raises(ValueError, match="Elman"):
        theory.exponent_bound(wd.Elman(1, 4, 1, init="wcri", eps=0.01))
    with pytest.raises(ValueError, match="eps \\|\\|W\\|\\|_2 < mu"):
        theory.exponent_bound(wd.WCRNN(1, 6, 1, residual=R_.rotational(6, 0.9), eps=1.0, seed=0))
    with pytest.raises(TypeError, match="net must be"):
        theory.exponent_bound(R_.rotational(6, 0.9))


def test_regime():
    assert theory.regime(R_.scaled_identity(3, 0.99)) == "subcritical"
    assert theory.regime(R_.rotational(4, 1.0)) == "critical"
    assert theory.regime(R_.orthogonal(4, 1.0, seed=0)) == "critical"        # |eig| = 1 up to rounding
    assert theory.regime(R_.heterogeneous([0.5, 1.01])) == "supercritical"
    assert theory.regime(R_.scaled_identity(3, 1.0 + 1e-3), tol=1e-2) == "critical"
    assert theory.regime(np.diag([0.2, 0.3])) == "subcritical"
    net = wd.WCRNN(1, 6, 1, residual=R_.scaled_identity(6, 0.999), eps=0.5, seed=0)
    assert theory.regime(net) == "subcritical"
    rho_eff = np.max(np.abs(np.linalg.eigvals(0.999 * np.eye(6) + 0.5 * net.W)))
    assert theory.regime(net, effective=True) == ("supercritical" if rho_eff > 1 + 1e-6 else "subcritical")
    nl = wd.WCRNN(1, 3, 1, residual=R_.nonlinear(R_.scaled_identity(3, 1.5)), eps=0.1)
    assert theory.regime(nl) == "supercritical"
    el = wd.Elman(1, 4, 1, init="wcri", residual=R_.scaled_identity(4, 0.5), eps=0.0)
    assert theory.regime(el) == "subcritical"
    with pytest.raises(ValueError, match="tol"):
        theory.regime(net, tol=-1)
    with pytest.raises(TypeError):
        theory.regime(3.0)
