"""theory.perturbation_scale and theory.max_deviation: known examples and the Bauer-Fike statement."""
import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import residuals, theory


def test_scale_equals_the_orthogonal_bound_for_kappa_one():
    net = wd.WCRNN(1, 8, 1, residual=residuals.rotational(8, 0.95), eps=0.05, seed=1)
    ps = theory.perturbation_scale(net)
    assert ps["kappa"] == pytest.approx(1.0, abs=1e-10)
    assert ps["scale"] == pytest.approx(theory.exponent_bound(net), rel=1e-10)


def test_scale_grows_with_the_eigenvector_condition_number():
    n = 6
    P = np.eye(n) + np.triu(np.full((n, n), 0.5), 1)
    lam = np.linspace(0.8, 0.95, n)
    R = residuals.dense(P @ np.diag(lam) @ np.linalg.inv(P))
    net = wd.WCRNN(1, n, 1, residual=R, eps=0.001, seed=0)
    ps = theory.perturbation_scale(net)
    kappa = np.linalg.cond(np.linalg.eig(R.matrix())[1])
    r = kappa * 0.001 * np.linalg.norm(net.W, 2) / lam.min()
    assert ps["kappa"] == pytest.approx(kappa, rel=1e-8) and ps["scale"] == pytest.approx(-np.log1p(-r), rel=1e-8)


def test_scale_refuses_vacuous_and_unsuitable_cases():
    big = wd.WCRNN(1, 8, 1, residual=residuals.scaled_identity(8, 0.5), eps=1.0, seed=0)
    with pytest.raises(ValueError, match="vacuous"):
        theory.perturbation_scale(big)
    with pytest.raises(ValueError, match="linear residual"):
        theory.perturbation_scale(wd.Elman(1, 4, 1))
    with pytest.raises(TypeError):
        theory.perturbation_scale("net")


def test_max_deviation_known_example():
    R = residuals.heterogeneous([0.9, 0.5, 0.7])
    pred = np.log([0.9, 0.7, 0.5])
    assert theory.max_deviation(pred + np.array([0.0, 0.01, -0.02]), R) == pytest.approx(0.02)
    assert theory.max_deviation(pred[:2], R) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="exponents"):
        theory.max_deviation(np.zeros(4), R)
    assert np.isnan(theory.max_deviation([0.0], residuals.zero(1)))


def test_within_bound_known_cases():
    net = wd.WCRNN(1, 8, 1, residual=residuals.rotational(8, 0.9), eps=0.05, seed=2)
    lo, hi = theory.exponent_interval(net)
    assert theory.within_bound([lo, np.log(0.9), hi], net)
    assert not theory.within_bound([hi + 1e-6], net)
    assert not theory.within_bound([np.nan], net)
    with pytest.raises(ValueError):
        theory.within_bound([0.0], wd.WCRNN(1, 4, 1, residual=residuals.heterogeneous([0.9, 0.8, 0.7, 0.6])))


def test_timescales_agree_everywhere():
    from wcrnn_dyn import memory
    R = residuals.heterogeneous([0.99, 0.9, 1.0, 0.0])
    np.testing.assert_array_equal(theory.predicted_timescales(R),
                                  np.sort(memory.timescales(theory.predicted_exponents(R)))[::-1])
