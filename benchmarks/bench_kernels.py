"""Benchmark the core kernels against plain NumPy, side by side in one run.

1. Forward pass, B=128, T=784, N=128 (sMNIST shape), float32 and float64:
   wcrnn_dyn (Numba) vs a plain NumPy loop over time (BLAS GEMM + np.tanh per step).
2. Tangent product J_t Q for N=1024, k=16: wcrnn_dyn (structured residual, one GEMM W Q) vs forming the dense
   J = Lambda + eps diag(phi') W and multiplying.
3. Adjoint product J_t^T G for B=128 rows, N=128 and a BPTT backward sweep (the training kernel).

Usage: python benchmarks/bench_kernels.py [--quick] [--out benchmarks/results/bench_kernels.json]
Prints a table with ratios (>1 means wcrnn_dyn is faster) and writes JSON with provenance.
"""
import argparse
import os
import time

import numpy as np

import wcrnn_dyn as wd
from wcrnn_dyn import _kernels as K
from wcrnn_dyn.store import provenance, write_json


def best_of(fn, repeat=3, number=1):
    fn()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def rotational_net(N, dtype, eps=0.05, seed=0):
    th = np.linspace(0.1, 3.0, N // 2)
    R = wd.residuals.rotational(N, 0.99, th)
    return wd.WCRNN(1, N, 10, residual=R, eps=eps, seed=seed, dtype=dtype)


def numpy_forward(net, X):
    """The plain NumPy loop a user would write: time-major, BLAS GEMM and np.tanh per step."""
    dt = net.dtype
    B, T, _ = X.shape
    N = net.n_hidden
    L = net.residual.matrix().astype(dt)
    WT, UT, b, eps = net.W.T.copy(), net.U.T.copy(), net.b, dt(net.eps)
    Xt = np.ascontiguousarray(X.transpose(1, 0, 2))
    h = np.zeros((B, N), dt)
    H = np.empty((T, B, N), dt)
    # block rotation applied structurally (as the peers do), not as a dense product
    cs = np.diagonal(L)[0::2].copy()
    sn = np.diagonal(L, -1)[0::2].copy()
    for t in range(T):
        a = np.tanh(h @ WT + Xt[t] @ UT + b)
        r = np.empty_like(h)
        x, z = h[:, 0::2], h[:, 1::2]
        r[:, 0::2] = cs * x - sn * z
        r[:, 1::2] = sn * x + cs * z
        h = r + eps * a
        H[t] = h
    return H


def bench_forward(dtype, B, T, N):
    net = rotational_net(N, dtype)
    X = np.random.default_rng(0).random((B, T, 1)).astype(dtype)
    h0 = np.zeros((B, N), dtype)
    kargs = net.kernel_args().residual()
    one = lambda: K.forward(X, h0, net.W, net.U, net.b, net.eps, K.ACT_TANH, *kargs, True)  # noqa: E731
    ours = lambda: net.states(X)  # noqa: E731  (public path: batch split over worker threads)
    peer = lambda: numpy_forward(net, X)  # noqa: E731
    H = ours()
    Hp = peer()
    err = float(np.max(np.abs(H - Hp.transpose(1, 0, 2))))
    t_ours, t_one, t_np = best_of(ours), best_of(one), best_of(peer)
    return {"work": f"forward B={B} T={T} N={N} {np.dtype(dtype).name}", "wcrnn_dyn_s": t_ours,
            "wcrnn_dyn_one_thread_kernel_s": t_one, "numpy_loop_s": t_np, "speedup": t_np / t_ours,
            "speedup_one_thread_kernel": t_np / t_one, "max_abs_diff": err,
            "gflops_ours": 2 * B * T * N * N / t_ours / 1e9}


def bench_tangent(N, k, reps):
    net = rotational_net(N, np.float64)
    rng = np.random.default_rng(1)
    h = rng.standard_normal(N) * 0.1
    a = net.W @ h + net.b
    dphi = (1 - np.tanh(a) ** 2)[None, :]
    Q = np.linalg.qr(rng.standard_normal((N, k)))[0]
    out, wq = np.empty_like(Q), np.empty_like(Q)
    rk, rdiag, rblk, rdense, gcode, gscale = net.kernel_args().residual()
    L = net.residual.matrix()
    empty = np.zeros((0, N))

    def ours():
        for _ in range(reps):
            K.tangent(rk, rdiag, rblk, rdense, gcode, net.W, net.eps, dphi, empty, Q, k, out, wq)

    def dense():
        for _ in range(reps):
            J = L + net.eps * dphi[0][:, None] * net.W
            J @ Q

    ours()
    J = L + net.eps * dphi[0][:, None] * net.W
    err = float(np.max(np.abs(out - J @ Q)))
    t_ours, t_dense = best_of(ours) / reps, best_of(dense) / reps
    return {"work": f"tangent J Q N={N} k={k}", "wcrnn_dyn_s": t_ours, "form_J_s": t_dense,
            "speedup": t_dense / t_ours, "max_abs_diff": err}


def bench_backward(dtype, B, T, N):
    net = rotational_net(N, dtype)
    X = np.random.default_rng(0).random((B, T, 1)).astype(dtype)
    y = np.random.default_rng(1).integers(0, 10, B)
    t_fwd = best_of(lambda: net.loss(X, y, "cross_entropy"), repeat=2)
    t_lg = best_of(lambda: net.loss_and_grad(X, y, "cross_entropy"), repeat=2)
    return {"work": f"loss_and_grad B={B} T={T} N={N} {np.dtype(dtype).name}", "forward_only_s": t_fwd,
            "loss_and_grad_s": t_lg, "ratio_to_forward": t_lg / t_fwd}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_kernels.json"))
    args = p.parse_args(argv)
    B, T, N = (16, 100, 64) if args.quick else (128, 784, 128)
    rows = [bench_forward(np.float32, B, T, N), bench_forward(np.float64, B, T, N),
            bench_tangent(256 if args.quick else 1024, 16, 20 if args.quick else 200),
            bench_backward(np.float32, B, T, N), bench_backward(np.float64, B, T, N)]
    print(f"{'work':45s} {'wcrnn_dyn':>12s} {'peer':>12s} {'ratio':>8s}")
    for r in rows:
        if "numpy_loop_s" in r:
            print(f"{r['work']:45s} {r['wcrnn_dyn_s']*1e3:10.2f}ms {r['numpy_loop_s']*1e3:10.2f}ms {r['speedup']:7.2f}x"
                  f"   (numpy loop; {r['gflops_ours']:.1f} GFLOP/s; one-thread kernel "
                  f"{r['wcrnn_dyn_one_thread_kernel_s']*1e3:.1f}ms = {r['speedup_one_thread_kernel']:.2f}x)")
        elif "form_J_s" in r:
            print(f"{r['work']:45s} {r['wcrnn_dyn_s']*1e6:10.1f}us {r['form_J_s']*1e6:10.1f}us {r['speedup']:7.2f}x"
                  "   (form J, then J @ Q)")
        else:
            print(f"{r['work']:45s} {r['loss_and_grad_s']*1e3:10.2f}ms {r['forward_only_s']*1e3:10.2f}ms "
                  f"{r['ratio_to_forward']:7.2f}   (loss_and_grad / forward)")
    write_json(args.out, {"benchmark": "bench_kernels", "quick": args.quick, "rows": rows,
                          "provenance": provenance()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
