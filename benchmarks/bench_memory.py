"""Memory capacity and reservoir states: wcrnn_dyn vs ReservoirPy, side by side.

Usage::

    python benchmarks/bench_memory.py [--N 100] [--n-steps 10000] [--k-max 100] [--repeats 3] [--out PATH]

ReservoirPy is NOT a dependency of wcrnn_dyn; when it is not installed this script says so and runs only
our side.  What is compared (same matrices, same input series):

1. Leaky reservoir (ReservoirPy ``Reservoir``)::

       x_t = (1 - lr) x_{t-1} + lr f(W x_{t-1} + Win u_t + bias)

   is a WCRNN with residual scaled_identity(N, 1 - lr), eps = lr, W = W, U = Win, b = bias, activation f.
   Cases: linear (f = identity) with N = --N-linear and W = sr * orthogonal (normal, moderately
   conditioned), linear with N = --N and Gaussian W, and tanh with N = --N and Gaussian W.  We check the
   states agree, then compare the linear memory capacity of ``reservoirpy.observables.memory_capacity(
   Reservoir >> Ridge, k_max, series=u, test_size=n_steps // 2)`` (lags 1..k_max) with ``wcrnn_dyn.memory.memory_capacity`` (lags 0..k_max,
   same series, held-out half, no threshold) and time both.  For linear reservoirs the exact
   float64-resolvable capacity ``wcrnn_dyn.memory.linear_memory_capacity`` (Krylov leverage scores) is the
   reference: large linear reservoirs are ill-conditioned (the Krylov matrix [c, A c, ...] has singular values
   spanning many decades), so the readout solver matters - ReservoirPy's Ridge solves the normal equations
   (condition number squared), ours Cholesky when cond(F^T F) < 1e10, else a thin SVD of the unit-scaled
   states.  Where the states are reasonably conditioned both compute the same estimator and agree to
   rounding.  Timings include the state simulation (ours: Numba; ReservoirPy: a Python loop) and the fit.
2. ES2N (Ceni & Gallicchio 2024; ReservoirPy ``ES2N``)::

       x_t = (1 - beta) O x_{t-1} + beta f(W x_{t-1} + Win u_t + bias)

   is a WCRNN with residual dense((1 - beta) O) (the orthogonal family with mu = 1 - beta), eps = beta,
   W = W, U = Win, b = bias.  ReservoirPy's ``sr``, ``input_scaling`` and connectivities only shape the
   random initialisers; with explicit matrices they are ignored.  We check the states agree and time a run.

Results table to stdout and JSON to ``--out`` (default benchmarks/results/bench_memory.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import wcrnn_dyn as wd
from wcrnn_dyn import memory

HERE = Path(__file__).resolve().parent


def best_time(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def make_matrices(N, sr, seed, kind="gaussian"):
    """W (Gaussian scaled to spectral radius sr, or sr * a Haar orthogonal matrix), Win = +-0.5, O orthogonal."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, N))
    W *= sr / np.max(np.abs(np.linalg.eigvals(W)))
    Win = rng.choice([-1.0, 1.0], size=(N, 1)) * 0.5
    Q, R = np.linalg.qr(rng.standard_normal((N, N)))
    O = Q * np.sign(np.diag(R))
    if kind == "orthogonal":
        Q2, R2 = np.linalg.qr(rng.standard_normal((N, N)))
        W = sr * Q2 * np.sign(np.diag(R2))
    return W, Win, O


def wcrnn_leaky(W, Win, lr, act):
    N = W.shape[0]
    return wd.WCRNN.from_arrays(wd.residuals.scaled_identity(N, 1 - lr), W, Win, np.zeros(N), np.ones((1, N)),
                                np.zeros(1), lr, activation=act)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--N-linear", type=int, default=20, help="size of the small linear reservoir")
    p.add_argument("--rpy-ridge", type=float, default=0.0, help="ReservoirPy Ridge penalty")
    p.add_argument("--n-steps", type=int, default=10000)
    p.add_argument("--k-max", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.5, help="leak rate (eps)")
    p.add_argument("--sr", type=float, default=0.9, help="spectral radius of W")
    p.add_argument("--beta", type=float, default=0.1, help="ES2N proximity")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "results" / "bench_memory.json"))
    a = p.parse_args(argv)

    try:
        import reservoirpy as rpy
        from reservoirpy.nodes import ES2N, Reservoir, Ridge
        from reservoirpy.observables import memory_capacity as rpy_mc
        rpy_version = rpy.__version__
    except ImportError:
        rpy = None
        rpy_version = None
        print("ReservoirPy is not installed (pip install reservoirpy); running wcrnn_dyn's side only.")

    N, n, K = a.N, a.n_steps, a.k_max
    W, Win, O = make_matrices(N, a.sr, a.seed)
    rows = []
    result = {"benchmark": "bench_memory", "settings": vars(a), "versions": {
        "wcrnn_dyn": wd.__version__, "numpy": np.__version__, "reservoirpy": rpy_version,
        "python": platform.python_version()}, "threads": os.cpu_count(), "cases": {}}

    # warm-up (Numba compile) outside the timings
    memory.memory_capacity(wcrnn_leaky(W, Win, a.lr, "identity"), 5, n_steps=4 * N, seed=0, washout=10)

    cases = [("identity", a.N_linear, "orthogonal"), ("identity", N, "gaussian"), ("tanh", N, "gaussian")]
    for act, Nc, wkind in cases:
        Wc, Winc, _ = make_matrices(Nc, a.sr, a.seed, wkind)
        net = wcrnn_leaky(Wc, Winc, a.lr, act)
        washout = 2 * K  # matches where ReservoirPy's training starts: series index k_max + warmup k_max
        t_ours, ours = best_time(lambda: memory.memory_capacity(net, K, n_steps=n, seed=a.seed, washout=washout,
                                                                threshold=False), a.repeats)
        case = {"activation": act, "N": Nc, "W": wkind, "ours_time_s": t_ours,
                "ours_total_lags_1_to_k": float(ours.raw[1:].sum()), "ours_total_lags_0_to_k": float(ours.raw.sum()), "ours_per_lag": ours.raw.tolist()}
        line = (f"leaky {act:8s} N={Nc:<4d} W {wkind[:5]:5s} MC(1..{K}) ours {ours.raw[1:].sum():7.3f} "
                f"({t_ours * 1e3:7.1f} ms)")
        if act == "identity":
            exact = memory.linear_memory_capacity(net, K)
            case["exact_total_lags_1_to_k"] = float(exact[1:].sum())
            case["exact_per_lag"] = exact.tolist()
            line += f" exact {exact[1:].sum():7.3f}"
        if rpy is not None:
            u = ours.inputs
            x = u[:, None]
            st_r = Reservoir(units=Nc, lr=a.lr, W=Wc, Win=Winc, bias=np.zeros(Nc), activation=act).run(x)
            st_o = net.states(x)
            state_diff = float(np.max(np.abs(st_r - st_o)))

            def run_rpy():
                model = (Reservoir(units=Nc, lr=a.lr, W=Wc, Win=Winc, bias=np.zeros(Nc), activation=act)
                         >> Ridge(ridge=a.rpy_ridge))
                return rpy_mc(model, K, as_list=True, series=x, test_size=n // 2)
            t_rpy, theirs = best_time(run_rpy, a.repeats)
            theirs = np.asarray(theirs)
            diff = ours.raw[1:] - theirs
            n_test = n // 2
            sigma = 2 * np.sqrt(np.maximum(ours.raw[1:], 0.0)) * (1 - ours.raw[1:]) / np.sqrt(n_test) + 1.0 / n_test
            case.update({"reservoirpy_time_s": t_rpy, "reservoirpy_total": float(theirs.sum()),
                         "reservoirpy_per_lag": theirs.tolist(), "max_abs_lag_diff": float(np.max(np.abs(diff))),
                         "total_diff": float(diff.sum()), "max_state_diff": state_diff,
                         "max_diff_in_sigmas": float(np.max(np.abs(diff) / sigma)),
                         "speedup": t_rpy / t_ours})
            line += (f" | ReservoirPy {theirs.sum():7.3f} ({t_rpy * 1e3:7.1f} ms) ratio {t_rpy / t_ours:5.1f}x"
                     f" | max|dMC_l| {np.max(np.abs(diff)):.1e} ({np.max(np.abs(diff) / sigma):.1f} sigma)"
                     f" states {state_diff:.0e}")
        rows.append(line)
        result["cases"][f"leaky_{act}_N{Nc}_{wkind}"] = case

    # ES2N: WCRNN with residual (1 - beta) O, eps = beta
    beta = a.beta
    T = n
    u = np.random.default_rng(a.seed + 1).uniform(-1, 1, (T, 1))
    net = wd.WCRNN.from_arrays(wd.residuals.dense((1 - beta) * O), W, Win, np.zeros(N), np.ones((1, N)),
                               np.zeros(1), beta, activation="tanh")
    net.states(u[:10])
    t_ours, st_o = best_time(lambda: net.states(u), a.repeats)
    case = {"beta": beta, "ours_states_time_s": t_ours}
    line = f"ES2N  beta={beta:<5g} states T={T}: ours {t_ours * 1e3:8.1f} ms"
    if rpy is not None:
        def run_es2n():
            node = ES2N(units=N, proximity=beta, W=W, Win=Win, O=O, bias=np.zeros(N), activation="tanh")
            return node.run(u)
        t_rpy, st_r = best_time(run_es2n, a.repeats)
        sd = float(np.max(np.abs(st_r - st_o)))
        case.update({"reservoirpy_states_time_s": t_rpy, "max_state_diff": sd, "speedup": t_rpy / t_ours})
        line += f" | ReservoirPy {t_rpy * 1e3:8.1f} ms  ratio {t_rpy / t_ours:6.1f}x | states max|diff| {sd:.1e}"
        mc = memory.memory_capacity(net, K, n_steps=n, seed=a.seed, washout=2 * K)
        case["ours_mc_total_thresholded"] = mc.total
    rows.append(line)
    result["cases"]["es2n"] = case

    print(f"bench_memory: N={N}, n_steps={n}, k_max={K}, lr={a.lr}, sr={a.sr}; best of {a.repeats}; "
          f"reservoirpy {rpy_version}; numpy {np.__version__}; {platform.machine()} x{os.cpu_count()}")
    for r in rows:
        print("  " + r)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
