"""Algorithm invariants of the Lyapunov engine (wcrnn_dyn.lyapunov, wcrnn_dyn._kernels_lyap).

Everything here must hold for any network and input: agreement with the slow dense reference
(tests/naive_lyapunov.py), the sum identity, independence of qr_every / QR method / threads / chunking,
top-k = leading part of the full spectrum, batch = mean of single runs, bookkeeping of history and
blocks, input validation and divergence reporting.  Known numerical values are in
test_lyapunov_examples.py.
"""
import logging

import numpy as np
import pytest

import naive_lyapunov as nl
import wcrnn_dyn as wd
from wcrnn_dyn import _kernels_lyap as KL
from wcrnn_dyn import lyapunov as ly
from wcrnn_dyn.lyapunov import (entropy_rate, kaplan_yorke_dimension, lyapunov_spectrum, lyapunov_spectrum_map,
                                top_exponent_two_trajectories)
from wcrnn_dyn.models import DivergenceError

R_ = wd.residuals


def _net(kind="rotational", N=9, eps=0.2, activation="tanh", d=2, seed=1):
    if kind == "elman":
        return wd.Elman(d, N, 1, init="wcri", residual=R_.rotational(N, 0.95), eps=0.3, activation=activation,
                        seed=seed)
    res = {
        "scaled_identity": lambda: R_.scaled_identity(N, 0.97),
        "rotational": lambda: R_.rotational(N, 0.99),
        "orthogonal": lambda: R_.orthogonal(N, 0.98, seed=3),
        "heterogeneous": lambda: R_.heterogeneous_uniform(N, 0.8, 0.99, seed=4),
        "random": lambda: R_.random(N, 0.95, seed=5),
        "nonlinear": lambda: R_.nonlinear(R_.rotational(N, 1.2), scale=0.7),
    }[kind]()
    net = wd.WCRNN(d, N, 1, residual=res, eps=eps, activation=activation, seed=seed)
    net.b = np.random.default_rng(seed + 10).normal(0, 0.3, N)
    return net


def _X(T, d=2, B=None, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, d) if B is None else (B, T, d))


# --------------------------------------------------------------------------------------------------
# agreement with the dense reference
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,activation", [("scaled_identity", "tanh"), ("rotational", "tanh"),
                                             ("orthogonal", "relu"), ("heterogeneous", "identity"),
                                             ("random", "tanh"), ("nonlinear", "tanh"), ("elman", "tanh")])
@pytest.mark.parametrize("qr", ["householder", "cholesky", "auto"])
def test_matches_dense_reference(kind, activation, qr):
    net = _net(kind, activation=activation)
    X = _X(160)
    got = lyapunov_spectrum(net, X, washout=7, burn_in=20, qr_every=1, seed=2, qr=qr)
    ref = nl.spectrum(net, X, washout=7, burn_in=20, qr_every=1, seed=2)
    np.testing.assert_allclose(got.exponents, ref, rtol=0, atol=1e-11)


@pytest.mark.parametrize("k,qr_every", [(3, 1), (9, 4), (5, 7)])
def test_matches_reference_partial_and_intervals(k, qr_every):
    net = _net("orthogonal")
    X = _X(203)
    got = lyapunov_spectrum(net, X, k=k, washout=3, burn_in=17, qr_every=qr_every, seed=6)
    ref = nl.spectrum(net, X, k=k, washout=3, burn_in=17, qr_every=qr_every, seed=6)
    np.testing.assert_allclose(got.exponents, ref, rtol=0, atol=1e-11)
    assert got.exponents.shape == (k,)


def test_qr_kernels_against_numpy(rng):
    for N, k in [(40, 7), (64, 64), (200, 1), (30, 30)]:
        A = rng.standard_normal((k, N))           # k tangent vectors as rows
        r_ref = np.linalg.qr(A.T)[1]
        for mode in (KL.QR_HOUSEHOLDER, KL.QR_CHOLESKY):
            F = A.copy()
            ws = KL.Workspace(N, k)
            used = KL.qr_rows(F, 0, k, mode, 1e-3, *ws.args())
            assert used in ((0,) if mode == KL.QR_HOUSEHOLDER else (1, -1))
            # Householder: orthogonal to rounding; Cholesky-QR: loses about u * cond^2 (cond <~ 1e3 accepted)
            tol = 1e-12 if used != 1 else max(1e-12, 20 * 2.2e-16 * np.linalg.cond(A) ** 2)
            np.testing.assert_allclose(F @ F.T, np.eye(k), atol=tol)
            np.testing.assert_allclose(ws.logr[:k], np.log(np.abs(np.diag(r_ref))), atol=1e-11)
            # same span, triangular relation: A^T = Q R with R = Q^T A^T upper triangular
            Rm = F @ A.T
            np.testing.assert_allclose(np.tril(Rm, -1), 0, atol=1e-10)


def test_gershgorin_bound_is_sound(rng):
    # _gershgorin_ok(G) == True must imply cond2(G) <= 1 / rcond^2 (checked against numpy's eigenvalues);
    # it reads the Fortran-upper = C-lower triangle only (the other triangle holds garbage here)
    hits = 0
    for trial in range(300):
        k = int(rng.integers(1, 12))
        A = np.eye(k) + rng.uniform(0, 0.6) * rng.standard_normal((k, k)) / np.sqrt(k)
        G = A.T @ A
        Gc = np.tril(G) + np.triu(rng.standard_normal((k, k)), 1)
        rc = float(rng.choice([1e-3, 0.3, 0.6]))
        ok = KL._gershgorin_ok(Gc, k, np.zeros(3 * k), rc)
        lam = np.linalg.eigvalsh(G)
        if ok:
            hits += 1
            assert lam[0] > 0 and lam[-1] / lam[0] <= 1 / rc ** 2 * (1 + 1e-12)
        # naive Gershgorin discs give the same decision
        rad = np.abs(G).sum(axis=1) - np.abs(np.diag(G))
        lb, ub = np.min(np.diag(G) - rad), np.max(np.diag(G) + rad)
        assert ok == bool(lb > 0 and ub * rc * rc <= lb)
    assert 30 < hits < 300      # both outcomes occur
    Gbad = np.diag([1.0, 1e-8])
    assert not KL._gershgorin_ok(Gbad, 2, np.zeros(6), 1e-3)


def test_cholesky_falls_back_when_ill_conditioned(rng):
    N, k = 50, 6
    A = rng.standard_normal((k, N))
    A[5] = A[4] + 1e-9 * rng.standard_normal(N)   # nearly dependent rows: cond ~ 1e9
    F = A.copy()
    ws = KL.Workspace(N, k)
    used = KL.qr_rows(F, 0, k, KL.QR_CHOLESKY, 1e-3, *ws.args())
    assert used == -1
    np.testing.assert_allclose(F @ F.T, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(ws.logr, np.log(np.abs(np.diag(np.linalg.qr(A.T)[1]))), atol=1e-6)


def test_auto_switches_to_householder_for_ill_conditioned_jacobians():
    # Elman net with large weights: saturated units make J nearly singular -> Cholesky keeps failing
    net = wd.Elman(1, 12, 1, init="default", seed=0)
    net.W = net.W * 30.0
    net.U = net.U * 10.0
    X = _X(200, d=1)
    r = lyapunov_spectrum(net, X, burn_in=10, qr="auto")
    assert r.settings["qr_used"].startswith("auto: cholesky, switched")
    assert r.settings["n_householder"] > 0 and r.settings["n_fallback"] >= 4
    h = lyapunov_spectrum(net, X, burn_in=10, qr="householder")
    np.testing.assert_allclose(r.exponents, h.exponents, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# exact identities
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rotational", "nonlinear", "elman", "random"])
def test_sum_identity(kind):
    """sum of the full spectrum = time average of log|det J_t| over the accumulated steps (docs/THEORY.md section 4.4)."""
    net = _net(kind, N=8)
    X = _X(240)
    r = lyapunov_spectrum(net, X, washout=5, burn_in=30, qr_every=3)
    ref = nl.mean_log_abs_det(net, X, washout=5, burn_in=30)
    assert abs(np.sum(r.exponents) - ref) < 1e-9


@pytest.mark.parametrize("qr", ["householder", "cholesky"])
def test_independent_of_qr_every(qr):
    net = _net("heterogeneous", N=10, eps=0.1)
    X = _X(301)
    base = lyapunov_spectrum(net, X, burn_in=40, qr_every=1, qr=qr).exponents
    for q in (2, 5, 13):
        r = lyapunov_spectrum(net, X, burn_in=40, qr_every=q, qr=qr)
        np.testing.assert_allclose(r.exponents, base, rtol=0, atol=1e-11)


def test_qr_methods_agree():
    net = _net("orthogonal", N=12)
    X = _X(250)
    a = lyapunov_spectrum(net, X, burn_in=20, qr="householder")
    b = lyapunov_spectrum(net, X, burn_in=20, qr="cholesky")
    np.testing.assert_allclose(a.exponents, b.exponents, atol=1e-12)
    assert b.settings["qr_used"] == "cholesky" and b.settings["n_fallback"] == 0
    np.testing.assert_allclose(a.history, b.history, atol=1e-12)


def _separated_net(N=8, eps=0.1):
    """Well separated exponents: the QR columns come out in descending order."""
    net = wd.WCRNN(2, N, 1, residual=R_.heterogeneous(np.linspace(0.99, 0.5, N)), eps=eps, seed=2)
    return net


def test_top_k_is_leading_part_of_full_spectrum():
    net = _separated_net()
    X = _X(600)
    full = lyapunov_spectrum(net, X, burn_in=200, seed=9)
    for k in (1, 3, 6):
        part = lyapunov_spectrum(net, X, k=k, burn_in=200, seed=9)
        np.testing.assert_allclose(part.exponents, full.exponents[:k], atol=1e-12)
    np.testing.assert_allclose(ly.initial_frame(10, 4, 9), ly.initial_frame(10, 10, 9)[:, :4], atol=1e-14)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_batch_is_mean_of_single_runs(n_threads):
    net = _net("heterogeneous", N=7)
    X = _X(150, B=5, seed=3)
    batch = lyapunov_spectrum(net, X, k=5, burn_in=20, n_threads=n_threads)
    singles = np.array([lyapunov_spectrum(net, X[i], k=5, burn_in=20).exponents for i in range(5)])
    np.testing.assert_allclose(batch.per_sequence, singles, atol=1e-14)
    np.testing.assert_allclose(batch.exponents, singles.mean(axis=0), atol=1e-14)
    np.testing.assert_allclose(batch.spread, singles.std(axis=0, ddof=1), atol=1e-14)
    assert batch.settings["n_sequences"] == 5 and batch.settings["n_threads"] == min(n_threads, 5)


def test_state_and_frame_rows_are_laid_out_per_sequence():
    # the kernel keeps sequence b's state in row b (k + 1) and its frame in the k rows after it; a batch of
    # 3 sequences with k = 34 must equal the single runs (k = 0, the two-trajectory layout, is covered above)
    net = _net("rotational", N=40)
    X = _X(60, B=3, seed=4)
    batch = lyapunov_spectrum(net, X, k=34, burn_in=10, n_threads=1)
    singles = np.array([lyapunov_spectrum(net, X[i], k=34, burn_in=10).exponents for i in range(3)])
    np.testing.assert_allclose(batch.per_sequence, singles, atol=1e-13)


@pytest.mark.parametrize("k", [1, 4, 30])
def test_split_gemm_of_a_large_network_matches_reference(monkeypatch, k):
    # N = 256 with few exponents (k + 1 <= N / 8): the step's GEMM is split over Numba's threads by
    # columns of W^T; it must agree with the dense reference and with one BLAS call
    N = 256
    res = R_.rotational(N, 0.99)
    net = wd.WCRNN(2, N, 1, residual=res, eps=0.2, seed=3)
    X = _X(40, seed=5)
    assert ly._split_parts(N, k + 1, 2) == (2 if ly._threadsafe_numba_layer() else 1)
    split = lyapunov_spectrum(net, X, k=k, burn_in=5, n_threads=2, seed=1)
    ref = nl.spectrum(net, X, k=k, burn_in=5, qr_every=1, seed=1)
    np.testing.assert_allclose(split.exponents, ref, rtol=0, atol=1e-11)
    monkeypatch.setattr(ly, "_split_parts", lambda N, rows, n: 1)
    one = lyapunov_spectrum(net, X, k=k, burn_in=5, n_threads=2, seed=1)
    np.testing.assert_allclose(split.exponents, one.exponents, rtol=0, atol=1e-13)


def test_split_parts_rule():
    assert ly._split_parts(1024, 17, 1) == 1          # one thread
    assert ly._split_parts(128, 5, 2) == 1            # small network: one BLAS call
    assert ly._split_parts(256, 257, 2) == 1          # full spectrum: tall GEMM, one BLAS call
    assert ly._split_parts(1000, 17, 3) == 1          # N not divisible by the threads


def test_chunking_does_not_change_results(monkeypatch):
    net = _net("rotational", N=6)
    X = _X(120, B=2)
    a = lyapunov_spectrum(net, X, burn_in=11, qr_every=3)
    monkeypatch.setattr(ly, "FLOPS_PER_CHUNK", 1.0)   # one step per kernel call
    b = lyapunov_spectrum(net, X, burn_in=11, qr_every=3)
    np.testing.assert_array_equal(a.exponents, b.exponents)
    np.testing.assert_array_equal(a.history, b.history)


def test_seed_reproducible_and_frame_independent_after_burn_in():
    net = _separated_net(N=6, eps=0.05)
    X = _X(1500)
    a = lyapunov_spectrum(net, X, burn_in=500, seed=1)
    b = lyapunov_spectrum(net, X, burn_in=500, seed=np.random.default_rng(1))
    c = lyapunov_spectrum(net, X, burn_in=500, seed=2)
    np.testing.assert_array_equal(a.exponents, b.exponents)
    np.testing.assert_allclose(a.exponents, c.exponents, atol=1e-10)   # the frame has aligned
    # without burn-in the initial frame still shows
    d1 = lyapunov_spectrum(net, X[:100], burn_in=0, seed=1).exponents
    d2 = lyapunov_spectrum(net, X[:100], burn_in=0, seed=2).exponents
    assert np.max(np.abs(d1 - d2)) > 1e-6


def test_float32_model_runs_in_float64():
    net = _net("rotational", N=6)
    net32 = wd.WCRNN.from_arrays(net.residual, net.W, net.U, net.b, net.V, net.c, net.eps, dtype=np.float32)
    X = _X(100)
    r = lyapunov_spectrum(net32, X, burn_in=10)
    ref = nl.spectrum(wd.WCRNN.from_arrays(net.residual, net32.W.astype(float), net32.U.astype(float),
                                           net32.b.astype(float), net.V, net.c, net.eps), X, burn_in=10)
    np.testing.assert_allclose(r.exponents, ref, atol=1e-11)


# --------------------------------------------------------------------------------------------------
# bookkeeping: history, blocks, statistics
# --------------------------------------------------------------------------------------------------

def test_history_and_blocks_bookkeeping():
    net = _net("rotational", N=5)
    X = _X(257)
    r = lyapunov_spectrum(net, X, washout=4, burn_in=13, qr_every=3)
    M = 257 - 4 - 13
    assert r.n_steps == M
    n_qr = -(-M // 3)
    assert r.history.shape == (n_qr, 5) and r.block_log_r.shape == (n_qr, 5)
    assert r.block_steps.sum() == M and r.block_steps[-1] == M - 3 * (n_qr - 1)
    np.testing.assert_array_equal(r.history_steps, np.cumsum(r.block_steps))
    np.testing.assert_allclose(r.history[-1], r.exponents, atol=1e-15)
    np.testing.assert_allclose(r.block_log_r.sum(axis=0) / M, r.exponents, atol=1e-15)
    assert np.all(np.diff(r.exponents) <= 0)


def test_history_is_subsampled_for_long_runs():
    net = _net("rotational", N=4)
    X = _X(1100)
    r = lyapunov_spectrum(net, X, burn_in=100, history_points=64)
    assert r.history.shape[0] <= 64
    assert r.history_steps[-1] == 1000
    full = lyapunov_spectrum(net, X, burn_in=100)
    np.testing.assert_allclose(r.exponents, full.exponents, atol=1e-14)
    # subsampled rows are rows of the full history
    idx = r.history_steps - 1
    np.testing.assert_allclose(r.history, full.history[idx], atol=1e-14)


def test_batch_means_stderr_matches_definition():
    net = _net("heterogeneous", N=5)
    X = _X(1000)
    r = lyapunov_spectrum(net, X, burn_in=0)
    groups = np.array_split(np.arange(r.block_log_r.shape[0]), 10)
    rates = np.array([r.block_log_r[g].sum(0) / r.block_steps[g].sum() for g in groups])
    np.testing.assert_allclose(r.stderr, rates.std(0, ddof=1) / np.sqrt(10), rtol=1e-12)


def test_convergence_flag_and_warning(caplog):
    net = _net("rotational", N=6, eps=0.5)
    with caplog.at_level(logging.WARNING, logger="wcrnn_dyn.lyapunov"):
        short = lyapunov_spectrum(net, _X(60), burn_in=10, tol=1e-6)
    assert not short.converged
    assert any("not converged" in rec.getMessage() for rec in caplog.records)
    exact = lyapunov_spectrum(_net("rotational", N=6, eps=0.0), _X(400), burn_in=10)
    assert exact.converged and np.all(exact.stderr < 1e-12)


def test_kaplan_yorke_and_entropy_helpers():
    assert kaplan_yorke_dimension([0.5, -0.2, -1.0]) == pytest.approx(2 + 0.3 / 1.0)
    assert kaplan_yorke_dimension([-0.1, -0.2]) == 0.0
    assert kaplan_yorke_dimension([0.3, -0.1], n=2) == 2.0            # full spectrum, volumes grow
    assert np.isnan(kaplan_yorke_dimension([0.3, 0.1], n=5))           # partial spectrum never crosses zero
    assert kaplan_yorke_dimension([0.1, -0.4, -np.inf]) == pytest.approx(1 + 0.1 / 0.4)
    assert entropy_rate([0.5, 0.2, -1.0]) == pytest.approx(0.7)
    assert entropy_rate([-0.5, -1.0]) == 0.0
    assert np.isnan(entropy_rate([0.5, 0.2], n=4))
    r = lyapunov_spectrum(_net("rotational", N=6, eps=0.0), _X(200), k=3, burn_in=10)
    assert r.entropy_rate == 0.0 and r.kaplan_yorke == 0.0


# --------------------------------------------------------------------------------------------------
# two trajectories and user maps (independent algorithms)
# --------------------------------------------------------------------------------------------------

def test_two_trajectory_kernel_matches_naive_map():
    net = _net("rotational", N=7, eps=0.3)
    X = np.zeros((400, 2))
    v = np.random.default_rng(4).standard_normal(7)
    v /= np.linalg.norm(v)
    h0 = np.full(7, 0.3)

    def step(h):
        return net.states(np.zeros((1, 2)), h0=h)[0]

    ref = nl.two_trajectory_top(step, h0, 400, 1e-7, 50, v)
    got = top_exponent_two_trajectories(net, X, burn_in=50, delta=1e-7, seed=4, h0=h0)
    assert abs(got.exponent - ref) < 1e-8


@pytest.mark.parametrize("kind", ["rotational", "nonlinear", "elman"])
def test_two_trajectory_agrees_with_qr(kind):
    net = _net(kind, N=8, eps=0.4)
    X = _X(1500, B=2)
    qr = lyapunov_spectrum(net, X, k=1, burn_in=200)
    two = top_exponent_two_trajectories(net, X, burn_in=200, renorm_every=3)
    assert abs(two.exponent - qr.exponents[0]) < 2e-6
    np.testing.assert_allclose(two.per_sequence, qr.per_sequence[:, 0], atol=2e-6)


def test_map_entry_agrees_with_network_entry():
    net = _net("orthogonal", N=6, eps=0.3)
    T = 300
    h0 = np.linspace(-0.5, 0.5, 6)

    def step(h):
        return net.states(np.zeros((1, 2)), h0=h)[0]

    def tangent(h, Q):
        return net.jacobian(h, np.zeros(2)) @ Q

    a = lyapunov_spectrum_map(step, tangent, h0, T, burn_in=30, qr_every=2)
    b = lyapunov_spectrum(net, None, T=T, h0=h0, burn_in=30, qr_every=2)
    np.testing.assert_allclose(a.exponents, b.exponents, atol=1e-11)
    np.testing.assert_allclose(a.history, b.history, atol=1e-11)


# --------------------------------------------------------------------------------------------------
# validation and divergence
# --------------------------------------------------------------------------------------------------

def test_bad_arguments_raise_naming_the_argument():
    net = _net("rotational", N=5)
    X = _X(50)
    with pytest.raises(ValueError, match="k must be"):
        lyapunov_spectrum(net, X, k=0)
    with pytest.raises(ValueError, match="k must be"):
        lyapunov_spectrum(net, X, k=6)
    with pytest.raises(ValueError, match="qr_every"):
        lyapunov_spectrum(net, X, qr_every=0)
    with pytest.raises(ValueError, match="burn_in \\+ washout"):
        lyapunov_spectrum(net, X, burn_in=40, washout=10)
    with pytest.raises(ValueError, match="washout"):
        lyapunov_spectrum(net, X, washout=-1, burn_in=0)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        lyapunov_spectrum(net, bad, burn_in=10)
    with pytest.raises(ValueError, match="qr must be"):
        lyapunov_spectrum(net, X, burn_in=10, qr="gram")
    with pytest.raises(ValueError, match="either X or T"):
        lyapunov_spectrum(net, X, T=50, burn_in=10)
    with pytest.raises(ValueError, match="X=None together with T"):
        lyapunov_spectrum(net, None)
    with pytest.raises(ValueError, match="input channels"):
        lyapunov_spectrum(net, np.zeros((50, 3)), burn_in=10)
    with pytest.raises(TypeError, match="net must be"):
        lyapunov_spectrum(object(), X)
    with pytest.raises(ValueError, match="renorm_every"):
        top_exponent_two_trajectories(net, X, burn_in=10, renorm_every=0)
    with pytest.raises(ValueError, match="delta"):
        top_exponent_two_trajectories(net, X, burn_in=10, delta=0.0)


def test_map_bad_callables():
    with pytest.raises(ValueError, match="step\\(x\\) must return"):
        lyapunov_spectrum_map(lambda x: np.zeros(3), lambda x, Q: Q, np.zeros(2), 20, burn_in=1)
    with pytest.raises(ValueError, match="tangent\\(x, Q\\) must return"):
        lyapunov_spectrum_map(lambda x: x, lambda x, Q: Q[:, :1], np.zeros(2), 20, burn_in=1)
    with pytest.raises(TypeError):
        lyapunov_spectrum_map(None, None, np.zeros(2), 20)
    with pytest.raises(DivergenceError, match="non-finite"), np.errstate(over="ignore"):
        lyapunov_spectrum_map(lambda x: x * 1e200, lambda x, Q: 1e200 * Q, np.ones(2), 20, burn_in=1)


def test_supercritical_linear_residual_overflow_is_reported():
    net = wd.WCRNN(1, 6, 1, residual=R_.scaled_identity(6, 1.5), eps=0.05, seed=0)
    X = _X(3000, d=1)
    with pytest.raises(DivergenceError, match="overflowed.*supercritical"):
        lyapunov_spectrum(net, X, burn_in=10)
    with pytest.raises(DivergenceError, match="overflowed"):
        lyapunov_spectrum(net, X, washout=2900, burn_in=10)      # detected during the washout
    with pytest.raises(DivergenceError, match="overflowed|grows without bound"):
        top_exponent_two_trajectories(net, X, burn_in=10)
    # shorter runs are fine and give log 1.5 (tangent dynamics of the linear residual, saturated units)
    r = lyapunov_spectrum(net, X[:600], burn_in=100, k=2)
    np.testing.assert_allclose(r.exponents, np.log(1.5), atol=1e-3)


def test_frame_overflow_between_qrs_is_reported():
    net = wd.WCRNN(1, 4, 1, residual=R_.scaled_identity(4, 1e30), eps=0.0, seed=0)
    with pytest.raises(DivergenceError, match="qr_every|overflowed"):
        lyapunov_spectrum(net, None, T=60, burn_in=0, qr_every=50)


def test_split_half_transient_blocks_convergence(caplog):
    """Batch means can look small while the two halves differ (a transient): not converged."""
    tol = 1e-3
    rates = np.r_[np.full(50, -0.010), np.full(50, -0.013)]       # halves differ by 3 tol
    blk = (rates * 10.0)[:, None, None]                            # blocks of 10 steps, one exponent
    steps = np.full(100, 10)
    with caplog.at_level(logging.WARNING, logger="wcrnn_dyn.lyapunov"):
        r = ly._summarise(blk, steps, 1, tol, {}, batched=False)
    assert r.stderr[0] <= tol
    assert abs(r.split_half_diff[0] - 0.003) < 1e-12
    assert not r.converged
    assert any("halves differ" in rec.getMessage() for rec in caplog.records)
    ok = ly._summarise(np.full((100, 1, 1), -0.1), steps, 1, tol, {}, batched=False)
    assert ok.converged and ok.exponents[0] == pytest.approx(-0.01)


def test_constant_input_and_progress_bar():
    net = _net("rotational", N=5)
    Xc = ly.constant_input(net, 120, value=[0.3, -0.2])
    assert Xc.shape == (120, 2) and np.all(Xc[:, 0] == 0.3)
    a = lyapunov_spectrum(net, Xc, burn_in=20)
    b = lyapunov_spectrum(net, np.tile([0.3, -0.2], (120, 1)), burn_in=20, progress=True)
    np.testing.assert_array_equal(a.exponents, b.exponents)
    z = lyapunov_spectrum(net, None, T=120, burn_in=20)
    np.testing.assert_array_equal(z.exponents, lyapunov_spectrum(net, ly.constant_input(net, 120), burn_in=20)
                                  .exponents)
    assert z.settings["autonomous"] is True
    with pytest.raises(ValueError, match="n_threads"):
        lyapunov_spectrum(net, Xc, burn_in=20, n_threads=0)
