"""Thread control (wcrnn_dyn.threads) and the training engine's kernels (train_forward / train_backward)
against the slow references in tests/naive.py; results independent of how row blocks are shared among
threads."""
import subprocess
import sys
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import naive
import wcrnn_dyn as wd
from wcrnn_dyn import _kernels as K
from wcrnn_dyn import engine as E
from wcrnn_dyn import residuals as R
from wcrnn_dyn import threads
from test_kernels import residual_cases


def blas_counts():
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_blas_threads_sets_every_blas_and_restores():
    import scipy.linalg.cython_blas  # noqa: F401  (both OpenBLAS libraries loaded)
    before = blas_counts()
    assert before
    with threads.blas_threads(1) as bt:
        assert bt.available
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with threads.single_threaded_blas():
        assert set(blas_counts()) == {1}
    assert blas_counts() == before


def test_set_blas_threads_through_training_name():
    before = blas_counts()
    try:
        assert wd.training.set_blas_threads(1) == len(before)
        assert set(blas_counts()) == {1}
    finally:
        for lc, n in zip([c for c in threads._blas_libs()], before):
            lc.set_num_threads(n)


def test_free_cpus_and_default_threads_bounds():
    n = threads.cpu_count()
    assert 1 <= threads.free_cpus() <= n
    b = threads.busy_cpus()
    assert b is None or b >= 0
    assert 1 <= threads.default_threads() <= n
    assert threads.default_threads(40, 16) <= 2
    assert threads.default_threads(3, 16) == 1


def test_default_threads_follows_numba_limit():
    import numba
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert threads.default_threads() == 1
        chunks, workers = threads.batch_plan(128)
        assert chunks == [(0, 128)] and workers == 1
    finally:
        numba.set_num_threads(old)


def test_batch_plan_chunks_do_not_depend_on_load():
    import numba
    nt = numba.get_num_threads()
    chunks, workers = threads.batch_plan(128)
    assert chunks == threads.split(128, min(nt, 128 // 16))
    assert 1 <= workers <= len(chunks)
    assert threads.batch_plan(100, 3) == (threads.split(100, 3), 3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux only")
def test_busy_loop_is_seen_as_busy():
    """The CPU time a competing busy loop gets is counted (whatever else runs on the machine)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])

    def hog_cpu():
        with open(f"/proc/{hog.pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / 100.0  # utime + stime, clock ticks (USER_HZ = 100)

    try:
        time.sleep(0.5)
        threads.busy_cpus()  # a sample at the start of the window
        c0, t0 = hog_cpu(), time.monotonic()
        time.sleep(0.5)
        share = (hog_cpu() - c0) / (time.monotonic() - t0)
        busy = threads.busy_cpus()
        assert busy >= 0.8 * share - 0.05, (busy, share)
        assert share < 0.3 or threads.free_cpus() < threads.cpu_count() or threads.cpu_count() == 1
    finally:
        hog.kill()
        hog.wait()


def test_split_covers_range():
    for n, k in ((10, 3), (128, 2), (5, 7), (1, 1)):
        parts = threads.split(n, k)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


# -------------------------------------------------------------------------------------- training kernels
def engine_inputs(res, act, n=6, d=2, B=5, T=7, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    U = rng.standard_normal((n, d))
    b = 0.1 * rng.standard_normal(n)
    X = rng.standard_normal((B, T, d))
    h0 = 0.3 * rng.standard_normal((B, n))
    return W, U, b, X, h0


@pytest.mark.parametrize("act", ["tanh", "relu", "identity"])
@pytest.mark.parametrize("case", residual_cases(6), ids=lambda c: c[0])
def test_train_kernels_match_naive_forward_and_bptt(case, act):
    name, res, nres = case
    n, d, B, T, eps = 6, 2, 5, 7, 0.3
    W, U, b, X, h0 = engine_inputs(res, act, n, d, B, T)
    rk, rdiag, rblk, rdense, gcode, gscale = res.kernel_args(np.float64)
    Kd = n + d + 1
    HA = np.zeros((T + 1, B, Kd))
    HA[:T, :, n:n + d] = X.transpose(1, 0, 2)
    HA[:T, :, n + d] = 1
    HA[0, :, :n] = h0
    WA = np.concatenate([W.T, U.T, b[None]], axis=0)
    if rk == K.LIN_DENSE:
        LA = np.zeros((Kd, n))
        LA[:n] = rdense.T
        WA = np.concatenate([WA, LA], axis=1)
    WA = np.ascontiguousarray(WA)
    rc = np.ascontiguousarray(rblk.reshape(-1, 4).T) if rk == K.LIN_BLOCK else np.zeros((4, 0))
    cst = np.array([1.0, eps, gscale, 1.0 / gscale])
    DP = np.empty((T, B, n))
    GP = np.empty((T if gcode != K.G_LINEAR else 0, B, n))
    edges = np.array([0, 2, B], dtype=np.int64)  # two GEMM blocks in one call
    bad = K.train_forward(HA, DP, GP, WA, edges, cst, K.ACTIVATIONS[act], rk, rdiag, rc, gcode,
                          np.empty((B, WA.shape[1])), np.empty((B, n)))
    assert bad == 0
    Hn = naive.forward(nres, W, U, b, eps, act, X, h0)
    np.testing.assert_allclose(HA[1:, :, :n].transpose(1, 0, 2), Hn, rtol=1e-12, atol=1e-12)
    # backward: L = sum gT . h_T; dW, dU, db from DA^T [H | X | 1]
    gT = np.random.default_rng(5).standard_normal((B, n))
    DA = np.empty((T, B, n))
    S = np.empty((T, B, n))
    K.train_backward(DP, GP, np.ascontiguousarray(W), edges, cst, rk, rdiag, rc, rdense, gcode, gT, DA, S,
                     np.empty((B, n)), np.empty((B, n)), np.empty((B, n)))
    G = DA.reshape(T * B, n).T @ HA[:T].reshape(T * B, Kd)
    dW, dU, db, _ = naive.bptt(nres, W, U, b, eps, act, X, gT, h0)
    np.testing.assert_allclose(G[:, :n], dW, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(G[:, n:n + d], dU, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(G[:, n + d], db, rtol=1e-10, atol=1e-12)


def test_train_forward_reports_the_first_non_finite_step():
    n, B, T = 2, 3, 5
    HA = np.zeros((T + 1, B, n + 2))
    HA[:T, :, n] = [[1.0], [0.0], [0.0], [0.0], [0.0]] * np.ones((1, B))
    HA[:T, :, n + 1] = 1
    W = 1e200 * np.eye(n)
    WA = np.ascontiguousarray(np.concatenate([W.T, np.ones((1, n)), np.zeros((1, n))], axis=0))
    rk, rdiag, rblk, rdense, gcode, gscale = R.zero(n).kernel_args(np.float64)
    bad = K.train_forward(HA, np.empty((T, B, n)), np.empty((0, B, n)), WA, np.array([0, B], dtype=np.int64),
                          np.array([1.0, 1.0, 1.0, 1.0]), K.ACT_IDENTITY, rk, rdiag, np.zeros((4, 0)), gcode,
                          np.empty((B, n)), np.empty((B, n)))
    assert bad == 3  # h_1 = 1, h_2 = 1e200, h_3 = inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("family", ["rotational", "dense", "nonlinear"])
def test_gradients_do_not_depend_on_how_blocks_are_shared(family, dtype):
    rng = np.random.default_rng(1)
    N = 32
    if family == "rotational":
        res = R.rotational(N, 0.99, np.linspace(0.1, 3.0, N // 2), trainable=True)
    elif family == "dense":
        res = R.dense(0.4 * rng.standard_normal((N, N)) / np.sqrt(N))
    else:
        res = R.nonlinear(R.rotational(N, 0.98, rng.uniform(0.1, 3.0, N // 2)), scale=0.7)
    net = wd.WCRNN(3, N, 4, residual=res, eps=0.1, seed=1, dtype=dtype)
    B = 100
    X = rng.standard_normal((B, 40, 3)).astype(dtype)
    y = rng.integers(0, 4, B)
    h0 = np.zeros((B, N), dtype)
    for n_threads in (None, 3):
        L1, g1 = E.loss_and_grad(net, X, y, "cross_entropy", h0, n_threads, workers=1)
        for w in (2, 3):
            L2, g2 = E.loss_and_grad(net, X, y, "cross_entropy", h0, n_threads, workers=w)
            assert L1 == L2
            for k in g1:
                assert np.array_equal(g1[k], g2[k]), (k, n_threads, w)


def test_train_reports_throughput_and_overhead_share():
    net = wd.WCRNN(2, 8, 1, seed=0)
    X, y = wd.tasks.adding(64, 20)
    h = wd.train(net, X, y, steps=6, batch_size=16)
    t = h.meta["timing"]
    assert t["steps"] == 6 and t["seconds"] > 0
    assert t["steps_per_s"] == pytest.approx(6 / t["seconds"])
    assert 0 < t["loss_and_grad_seconds"] < t["seconds"]
    assert 0 < t["share_outside_loss_and_grad"] < 1


def test_lyapunov_default_threads_follow_the_load_during_a_run(monkeypatch):
    """A single-sequence run at the default re-reads the thread count while it runs (here after every chunk,
    alternating 1 and 2 BLAS threads); the exponents equal a run with n_threads=1."""
    from wcrnn_dyn import lyapunov as ly
    calls = []

    def fake_default(B=None):
        calls.append(1)
        return 1 + len(calls) % 2

    net = wd.WCRNN(1, 64, 1, residual=R.rotational(64, 0.99, np.linspace(0.1, 3.0, 32)), eps=0.05, seed=0)
    X = np.random.default_rng(0).standard_normal((300, 1))
    ref = wd.lyapunov_spectrum(net, X, burn_in=20, n_threads=1)
    monkeypatch.setattr(ly, "_default_threads", fake_default)
    monkeypatch.setattr(ly, "_ADAPT_EVERY", 0.0)
    monkeypatch.setattr(ly, "FLOPS_PER_CHUNK", 1.0)  # one step per chunk: many re-reads
    res = wd.lyapunov_spectrum(net, X, burn_in=20)
    assert len(calls) > 10
    np.testing.assert_allclose(res.exponents, ref.exponents, rtol=0, atol=1e-13)
