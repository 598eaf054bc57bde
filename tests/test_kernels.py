"""Every Numba kernel of wcrnn_dyn._kernels against the slow references in tests/naive.py."""
import numpy as np
import pytest

import naive
from wcrnn_dyn import _kernels as K
from wcrnn_dyn import residuals as R
from wcrnn_dyn.models import WCRNN, Elman


def residual_cases(n):
    """(name, residual object, independent naive residual) for every family at size n."""
    rng = np.random.default_rng(n)
    m = n // 2
    thetas = rng.uniform(0.05, 3.0, m)
    mus = rng.uniform(0.8, 1.0, n)
    bmus = rng.uniform(0.8, 1.0, m)
    M = rng.standard_normal((n, n)) / np.sqrt(n)
    orth = R.orthogonal(n, 0.95, seed=3)
    rnd = R.random(n, 0.9, seed=4)
    cases = [
        ("scaled_identity", R.scaled_identity(n, 0.97), naive.NaiveResidual(0.97 * np.eye(n))),
        ("heterogeneous", R.heterogeneous(mus), naive.NaiveResidual(np.diag(mus))),
        ("rotational", R.rotational(n, 0.99, thetas), naive.NaiveResidual(naive.rotational_matrix(n, 0.99, thetas))),
        ("orthogonal", orth, naive.NaiveResidual(orth.M)),
        ("random", rnd, naive.NaiveResidual(rnd.M)),
        ("dense", R.dense(M), naive.NaiveResidual(M)),
        ("nonlinear", R.nonlinear(R.rotational(n, 1.2, thetas), scale=0.7),
         naive.NaiveResidual(naive.rotational_matrix(n, 1.2, thetas), scale=0.7)),
        ("zero", R.zero(n), naive.NaiveResidual(np.zeros((n, n)))),
    ]
    if m:
        tail = 0.9 if n % 2 else None
        blocks = [mu * naive.rot(t) for mu, t in zip(bmus, thetas)] + ([np.array([[tail]])] if tail else [])
        cases.append(("heterogeneous_rotational", R.heterogeneous_rotational(bmus, thetas, tail=tail),
                      naive.NaiveResidual(naive.block_diag(*blocks))))
    return cases


CASES_5 = residual_cases(5)
CASES_6 = residual_cases(6)
ALL_CASES = [pytest.param(c, id=f"{c[0]}-n{c[1].n}") for c in CASES_5 + CASES_6]


def make_net(res, activation="tanh", dtype=np.float64, d=2, eps=0.3, seed=0):
    net = WCRNN(d, res.n, 3, residual=res, eps=eps, activation=activation, seed=seed, dtype=dtype)
    net.b = np.random.default_rng(seed + 1).standard_normal(res.n).astype(dtype) * 0.3
    return net


# ---------------------------------------------------------------------------------------------- fast_tanh

def test_fast_tanh_matches_numpy_to_a_few_ulp():
    x = np.concatenate([np.linspace(-25, 25, 100001), np.random.default_rng(0).standard_normal(20000) * 3,
                        np.geomspace(1e-300, 1.0, 2000), -np.geomspace(1e-300, 1.0, 2000),
                        [0.0, 0.625, -0.625, np.nextafter(0.625, 1), 19.99, 20.0, 20.01, 400.0, 1e300]])
    out = np.empty_like(x)
    K.tanh_array(x, out)
    ref = np.tanh(x)
    ulp = np.abs(out - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
    assert ulp.max() <= 4, ulp.max()


def test_fast_tanh_special_values():
    x = np.array([np.inf, -np.inf, np.nan, -0.0])
    out = np.empty_like(x)
    K.tanh_array(x, out)
    assert out[0] == 1.0 and out[1] == -1.0 and np.isnan(out[2]) and out[3] == 0.0


def test_fast_tanh_float32_array():
    x = np.linspace(-8, 8, 1001).astype(np.float32)
    out = np.empty_like(x)
    K.tanh_array(x, out)
    np.testing.assert_allclose(out, np.tanh(x.astype(float)), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------- residuals

@pytest.mark.parametrize("case", ALL_CASES)
def test_structured_linear_application_matches_dense(case):
    name, res, nres = case
    n = res.n
    rng = np.random.default_rng(1)
    H = rng.standard_normal((4, n))
    Q = rng.standard_normal((n, 3))
    L = nres.L
    rk, rdiag, rblk, rdense, _, _ = res.kernel_args(np.float64)
    out = np.empty_like(H)
    K.lin_rows(rk, rdiag, rblk, np.ascontiguousarray(rdense.T), H, out)
    np.testing.assert_allclose(out, H @ L.T, rtol=0, atol=1e-14)
    K.lin_rows_T(rk, rdiag, rblk, rdense, H, out)
    np.testing.assert_allclose(out, H @ L, rtol=0, atol=1e-14)
    outq = np.empty_like(Q)
    K.lin_cols(rk, rdiag, rblk, rdense, Q, outq)
    np.testing.assert_allclose(outq, L @ Q, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------- forward

@pytest.mark.parametrize("case", ALL_CASES)
@pytest.mark.parametrize("activation", ["tanh", "relu", "identity"])
@pytest.mark.parametrize("B,T", [(1, 1), (1, 7), (3, 1), (3, 7)])
def test_forward_matches_naive_float64(case, activation, B, T):
    name, res, nres = case
    net = make_net(res, activation)
    X = np.random.default_rng(2).standard_normal((B, T, 2))
    H = net.states(X)
    ref = naive.forward(nres, net.W, net.U, net.b, net.eps, activation, X)
    np.testing.assert_allclose(H, ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(net.last_state(X), ref[:, -1], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.values[0][1].n == 6])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_forward_matches_naive_float32(case, activation):
    name, res, nres = case
    net = make_net(res, activation, dtype=np.float32)
    X = np.random.default_rng(2).standard_normal((3, 9, 2)).astype(np.float32)
    H = net.states(X)
    assert H.dtype == np.float32
    ref = naive.forward(nres, net.W.astype(float), net.U.astype(float), net.b.astype(float), net.eps, activation,
                        X.astype(float))
    np.testing.assert_allclose(H, ref, rtol=1e-4, atol=1e-5)


def test_forward_with_h0_and_single_sequence():
    res = R.rotational(6, 0.9, np.linspace(0.2, 2.0, 3))
    net = make_net(res)
    X = np.random.default_rng(3).standard_normal((5, 2))
    h0 = np.random.default_rng(4).standard_normal(6)
    H = net.states(X, h0=h0)
    assert H.shape == (5, 6)
    ref = naive.forward(naive.NaiveResidual(res.matrix()), net.W, net.U, net.b, net.eps, "tanh", X[None], h0[None])
    np.testing.assert_allclose(H, ref[0], rtol=1e-12, atol=1e-13)


def test_elman_forward_matches_definition():
    net = Elman(2, 5, 2, init="default", seed=1)
    X = np.random.default_rng(5).standard_normal((2, 6, 2))
    H = net.states(X)
    ref = np.zeros((2, 6, 5))
    for s in range(2):
        h = np.zeros(5)
        for t in range(6):
            h = np.tanh(net.W @ h + net.U @ X[s, t] + net.b)
            ref[s, t] = h
    np.testing.assert_allclose(H, ref, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------------------------------- Jacobian products

def _trajectory(net, X):
    H, DP, GP = K.forward(X, np.zeros((X.shape[0], net.n_hidden)), net.W, net.U, net.b, net.coupling,
                          K.ACTIVATIONS[net.activation], *net.kernel_args().residual(), True)
    return H, DP, GP


@pytest.mark.parametrize("case", ALL_CASES)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_tangent_product_equals_dense_JQ(case, activation):
    name, res, nres = case
    net = make_net(res, activation)
    n = res.n
    B, T, k = 3, 6, 4
    X = np.random.default_rng(6).standard_normal((B, T, 2))
    H, DP, GP = _trajectory(net, X)
    rk, rdiag, rblk, rdense, gcode, gscale = net.kernel_args().residual()
    Q = np.random.default_rng(7).standard_normal((n, B * k))
    out = np.empty_like(Q)
    wq = np.empty_like(Q)
    for t in range(1, T):
        gp = GP[t] if gcode else np.zeros((0, n))
        K.tangent(rk, rdiag, rblk, rdense, gcode, net.W, net.eps, DP[t], gp, Q, k, out, wq)
        for b in range(B):
            J = naive.jacobian(nres, net.W, net.U, net.b, net.eps, activation, H[t - 1, b], X[b, t])
            np.testing.assert_allclose(out[:, b * k:(b + 1) * k], J @ Q[:, b * k:(b + 1) * k], rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", ALL_CASES)
def test_adjoint_product_equals_dense_JTv(case):
    name, res, nres = case
    net = make_net(res)
    n = res.n
    B, T = 3, 5
    X = np.random.default_rng(8).standard_normal((B, T, 2))
    H, DP, GP = _trajectory(net, X)
    rk, rdiag, rblk, rdense, gcode, gscale = net.kernel_args().residual()
    G = np.random.default_rng(9).standard_normal((B, n))
    out, s, a = (np.empty_like(G) for _ in range(3))
    for t in range(1, T):
        gp = GP[t] if gcode else np.zeros((0, n))
        K.adjoint(rk, rdiag, rblk, rdense, gcode, net.W, net.eps, DP[t], gp, G, out, s, a)
        for b in range(B):
            J = naive.jacobian(nres, net.W, net.U, net.b, net.eps, "tanh", H[t - 1, b], X[b, t])
            np.testing.assert_allclose(out[b], J.T @ G[b], rtol=0, atol=1e-12)


def test_model_jacobian_matches_naive():
    res = R.nonlinear(R.scaled_identity(4, 1.1), scale=0.5)
    net = make_net(res)
    h = np.random.default_rng(1).standard_normal(4)
    x = np.random.default_rng(2).standard_normal(2)
    J = net.jacobian(h, x)
    ref = naive.jacobian(naive.NaiveResidual(1.1 * np.eye(4), scale=0.5), net.W, net.U, net.b, net.eps, "tanh", h, x)
    np.testing.assert_allclose(J, ref, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------- backward

@pytest.mark.parametrize("case", ALL_CASES)
@pytest.mark.parametrize("B,T", [(1, 1), (2, 5)])
def test_backward_matches_dense_bptt(case, B, T):
    name, res, nres = case
    net = make_net(res, "tanh")
    n = res.n
    X = np.random.default_rng(10).standard_normal((B, T, 2))
    h0 = np.random.default_rng(11).standard_normal((B, n)) * 0.5
    gT = np.random.default_rng(12).standard_normal((B, n))
    H, DP, GP = K.forward(X, h0, net.W, net.U, net.b, net.eps, K.ACT_TANH, *net.kernel_args().residual(), True)
    rk, rdiag, rblk, rdense, gcode, gscale = net.kernel_args().residual()
    empty = np.zeros((0, B, n))
    DA, S, dh0 = K.backward(H, h0, DP, GP if GP.shape[0] else empty, net.W, net.eps, rk, rdiag, rblk, rdense,
                            gcode, gT, empty, False)
    Hprev = np.concatenate([h0[None], H[:-1]])
    dW = np.einsum("tbi,tbj->ij", DA, Hprev)
    dU = np.einsum("tbi,btj->ij", DA, X)
    db = DA.sum(axis=(0, 1))
    rW, rU, rb, rh0 = naive.bptt(nres, net.W, net.U, net.b, net.eps, "tanh", X, gT, h0)
    np.testing.assert_allclose(dW, rW, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dU, rU, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(db, rb, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dh0, rh0, rtol=1e-11, atol=1e-12)


def test_backward_per_step_gradient_injection():
    """gseq adds dL/dh_t at every step: equals summing separate last-state problems (linearity)."""
    res = R.rotational(4, 0.95, [0.3, 1.1])
    net = make_net(res)
    B, T, n = 2, 4, 4
    X = np.random.default_rng(13).standard_normal((B, T, 2))
    h0 = np.zeros((B, n))
    H, DP, GP = K.forward(X, h0, net.W, net.U, net.b, net.eps, K.ACT_TANH, *net.kernel_args().residual(), True)
    rk, rdiag, rblk, rdense, gcode, gscale = net.kernel_args().residual()
    gseq = np.random.default_rng(14).standard_normal((T, B, n))
    empty = np.zeros((0, B, n))
    DA, _, dh0 = K.backward(H, h0, DP, empty, net.W, net.eps, rk, rdiag, rblk, rdense, gcode,
                            np.zeros((B, n)), gseq, False)
    total = np.zeros((B, n))
    for t in range(T):
        _, _, _, rh0 = naive.bptt(naive.NaiveResidual(res.matrix()), net.W, net.U, net.b, net.eps, "tanh",
                                  X[:, :t + 1], gseq[t], h0)
        total += rh0
    np.testing.assert_allclose(dh0, total, rtol=1e-11, atol=1e-12)
