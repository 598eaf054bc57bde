"""Benchmark: Lyapunov spectra of a WCRNN, wcrnn_dyn against the straightforward method and PyTorch.

Cases (float64, rotational residual mu = 0.99 with thetas linspace(0.1, 3.0, N/2), eps = 0.05,
W ~ N(0, 1/N), one input channel U(0, 1), tanh; the same model as shared/peers/torch_wcrnn_lyap.py):

  full   : full spectrum, N = 256, k = 256, qr_every = 1, one sequence
  topk   : top-16 exponents, N = 1024, qr_every = 1, one sequence
  batch  : B = 32 sequences, N = 128, full spectrum k = 128 per sequence, qr_every = 1

Methods, side by side in one run:

  straightforward : pure NumPy loop: form J_t densely each step, Y = J_t Q, numpy.linalg.qr(Y) each step,
                    accumulate log|diag r| (a batch loops over its sequences)
  wcrnn_dyn       : wcrnn_dyn.lyapunov_spectrum (fused Numba loop, one GEMM per step for all frames),
                    qr = "auto" (Cholesky-QR with fall back) and qr = "householder"
  torch (optional): shared/peers/torch_wcrnn_lyap.py run with --torch-python (PyTorch CPU; form J, torch QR);
                    for the batch case the peer runs one sequence and its time is multiplied by B

The machine's GEMM rate is measured in the same run (square float64 numpy matmul, n = 1024 and 256) and
each wcrnn_dyn time is converted into an achieved GFLOP/s with the flop model
    2 N^2 (B + B k)  [GEMM]  +  B (2 N k^2 + k^3 / 3)  [Cholesky-QR: syrk + trsm + potrf]
per step, and reported as a fraction of the GEMM rate.

Usage:  python benchmarks/bench_lyapunov.py [--steps 100] [--cases full,topk,batch] [--torch-python PY]
            [--out benchmarks/results/bench_lyapunov.json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import wcrnn_dyn as wd  # noqa: E402
from wcrnn_dyn.lyapunov import initial_frame, lyapunov_spectrum  # noqa: E402

CASES = {
    "full": dict(N=256, k=256, B=1),
    "topk": dict(N=1024, k=16, B=1),
    "batch": dict(N=128, k=128, B=32),
}
GOALS = {"full": 4.0, "topk": 5.0, "batch": 8.0}
PEER = Path("/work/shared/peers/torch_wcrnn_lyap.py")


def make_model(N, seed=0):
    th = np.linspace(0.1, 3.0, N // 2)
    R = wd.residuals.rotational(N, 0.99, th)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, N)) / math.sqrt(N)
    U = rng.standard_normal((N, 1))
    net = wd.WCRNN.from_arrays(R, W, U, np.zeros(N), np.zeros((1, N)), np.zeros(1), eps=0.05)
    return net


def straightforward(net, X, k, seed=0):
    """Form J each step, numpy QR each step, pure NumPy loop; X (B, T, 1).  Returns mean exponents."""
    Rm = net.residual.matrix()
    W, U, b, eps = net.W, net.U, net.b, net.eps
    B, T, _ = X.shape
    N = W.shape[0]
    Q0 = initial_frame(N, k, seed)
    h = np.zeros((B, N))
    Qs = [Q0.copy() for _ in range(B)]
    acc = np.zeros((B, k))
    for t in range(T):
        for s in range(B):
            a = W @ h[s] + U @ X[s, t] + b
            ta = np.tanh(a)
            J = Rm + eps * (1.0 - ta ** 2)[:, None] * W
            h[s] = Rm @ h[s] + eps * ta
            Qs[s], r = np.linalg.qr(J @ Qs[s])
            acc[s] += np.log(np.abs(np.diag(r)))
    return np.sort(acc / T, axis=1)[:, ::-1].mean(axis=0)


def gemm_rate(n, reps=5):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n))
    Bm = rng.standard_normal((n, n))
    C = A @ Bm
    best = np.inf
    inner = max(1, int(2e9 / (2 * n ** 3)))
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.matmul(A, Bm, out=C)
        best = min(best, (time.perf_counter() - t0) / inner)
    return 2 * n ** 3 / best / 1e9


def flops_per_step(N, k, B):
    return 2.0 * N * N * (B + B * k) + B * (2.0 * N * k * k + k ** 3 / 3.0)


def timeit(fn, reps):
    best = np.inf
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def qr_micro(sizes=((32, 32), (128, 128), (256, 256), (256, 8), (1024, 16), (1024, 64)), reps=5):
    """Time one re-orthonormalisation of an N x k frame Y = J Q (J = 0.99 I + 0.05 G / sqrt(N), a WCRNN-like
    near-isometry): Householder (geqrf + orgqr) against Cholesky-QR (syrk + potrf + trcon + trsm), in the
    kernel (no Python overhead).  This measurement is why qr="auto" uses Cholesky-QR (with fall back)."""
    from wcrnn_dyn import _kernels_lyap as KL
    rng = np.random.default_rng(0)
    out = []
    for N, k in sizes:
        Q = initial_frame(N, k, 0)
        J = 0.99 * np.eye(N) + 0.05 * rng.standard_normal((N, N)) / math.sqrt(N)
        Y = np.ascontiguousarray((J @ Q).T)
        ws = KL.Workspace(N, k)
        inner = max(1, int(2e7 / (4.0 * N * k * k)))
        row = {"N": N, "k": k}
        for name, mode in (("householder", KL.QR_HOUSEHOLDER), ("cholesky", KL.QR_CHOLESKY)):
            F = Y.copy()
            KL.qr_rows(F, 0, k, mode, 1e-3, *ws.args())
            best = np.inf
            for _ in range(reps):
                t0 = time.perf_counter()
                for _ in range(inner):
                    F[...] = Y
                    KL.qr_rows(F, 0, k, mode, 1e-3, *ws.args())
                best = min(best, (time.perf_counter() - t0) / inner)
            row[name + "_us"] = best * 1e6
        row["cholesky_speedup"] = row["householder_us"] / row["cholesky_us"]
        out.append(row)
    return out


def run_torch(python, N, k, T):
    if not python or not PEER.exists():
        return None, "not run (no --torch-python)"
    try:
        p = subprocess.run([python, str(PEER), str(N), str(k), str(T), "cpu"], capture_output=True, text=True,
                           timeout=1800)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"failed: {e}"
    m = re.search(r"=\s*([0-9.]+)\s*ms/step", p.stdout)
    if p.returncode != 0 or not m:
        return None, f"failed: {p.stderr.strip()[-300:]}"
    return float(m.group(1)), "ok"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40,
                    help="timed steps per case for the straightforward method (batch: a quarter); wcrnn_dyn 4x more")
    ap.add_argument("--cases", default="full,topk,batch")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions, best time kept")
    ap.add_argument("--pause", type=float, default=0.3,
                    help="seconds of idle before each timed run, so that the previous method's BLAS / OpenMP "
                         "threads (they spin ~0.1 s after work) do not compete with the next one")
    ap.add_argument("--torch-python", default=None, help="python interpreter with torch for the peer script")
    ap.add_argument("--out", default=str(HERE / "results" / "bench_lyapunov.json"))
    args = ap.parse_args(argv)

    qr_rows_ = qr_micro()
    rate1024 = gemm_rate(1024)
    rate256 = gemm_rate(256)
    rows = []
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        cfg = CASES[name]
        N, k, B = cfg["N"], cfg["k"], cfg["B"]
        net = make_model(N)
        T_ref = args.steps if name != "batch" else max(5, args.steps // 4)
        T_ours = 4 * T_ref
        rng = np.random.default_rng(1)
        X = rng.random((B, T_ours, 1))
        # warm-up (compilation) on a short run
        lyapunov_spectrum(net, X[:, :8], k=k, burn_in=0, qr="auto")
        lyapunov_spectrum(net, X[:, :8], k=k, burn_in=0, qr="householder")
        variants = {"auto": dict(qr="auto"), "householder": dict(qr="householder")}
        if B > 1:
            variants["auto_1thread"] = dict(qr="auto", n_threads=1)
        # interleave the methods (best of reps each) so that a changing machine load hits all alike
        best = {name: np.inf for name in ["straightforward", *variants]}
        le_ref = None
        for _ in range(args.reps):
            time.sleep(args.pause)
            t0 = time.perf_counter()
            le_ref = straightforward(net, X[:, :T_ref], k)
            best["straightforward"] = min(best["straightforward"], (time.perf_counter() - t0) / T_ref)
            for vname, kw in variants.items():
                time.sleep(args.pause)
                t0 = time.perf_counter()
                r = lyapunov_spectrum(net, X, k=k, burn_in=0, **kw)
                best[vname] = min(best[vname], (time.perf_counter() - t0) / T_ours)
                if vname == "auto":
                    qr_used = r.settings["qr_used"]
        ms_ref = best["straightforward"] * 1e3
        res = {v: best[v] * 1e3 for v in variants}
        # agreement on the common steps (same frame, same inputs)
        r_short = lyapunov_spectrum(net, X[:, :T_ref], k=k, burn_in=0, qr="auto")
        diff = float(np.max(np.abs(r_short.exponents - le_ref)))
        torch_ms, torch_note = run_torch(args.torch_python, N, k, T_ref)
        if torch_ms is not None and B > 1:
            torch_ms *= B
            torch_note = f"one sequence x {B}"
        fl = flops_per_step(N, k, B)
        ms_auto = res["auto"]
        gf = fl / (ms_auto * 1e-3) / 1e9
        row = {
            "case": name, "N": N, "k": k, "B": B, "qr_every": 1,
            "steps_straightforward": T_ref, "steps_wcrnn_dyn": T_ours,
            "ms_per_step": {"straightforward": ms_ref, "wcrnn_dyn_auto": ms_auto,
                            "wcrnn_dyn_householder": res["householder"],
                            "wcrnn_dyn_auto_1thread": res.get("auto_1thread"), "torch_cpu": torch_ms},
            "torch_note": torch_note,
            "speedup_vs_straightforward": ms_ref / ms_auto,
            "speedup_householder_vs_straightforward": ms_ref / res["householder"],
            "speedup_1thread_vs_straightforward": (ms_ref / res["auto_1thread"]) if "auto_1thread" in res else None,
            "speedup_vs_torch": (torch_ms / ms_auto) if torch_ms else None,
            "goal_speedup": GOALS[name],
            "qr_used": qr_used,
            "gflops_achieved": gf, "fraction_of_gemm_rate_1024": gf / rate1024,
            "max_abs_diff_vs_straightforward": diff,
            # GFLOP/s the flop model would need to reach the goal speed-up against this straightforward time
            "gflops_needed_for_goal": fl / (ms_ref / GOALS[name] * 1e-3) / 1e9,
        }
        row["needed_fraction_of_gemm_rate_1024"] = row["gflops_needed_for_goal"] / rate1024
        rows.append(row)

    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                          "NUMBA_NUM_THREADS") if os.environ.get(k)}
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    doc = {"benchmark": "bench_lyapunov", "gemm_gflops": {"n1024": rate1024, "n256": rate256}, "cases": rows,
           "qr_micro": qr_rows_,
           "threads_env": env, "pause_s": args.pause, "cpu_count": os.cpu_count(), "loadavg_at_end": load,
           "provenance": wd.store.provenance(sys.argv if argv is None else argv)}
    out = Path(args.out)
    wd.store.write_json(out, doc)

    print(f"machine GEMM rate (float64 numpy matmul): n=1024 {rate1024:.1f} GFLOP/s, n=256 {rate256:.1f} GFLOP/s; "
          f"load average {load}")
    hdr = (f"{'case':6} {'N':>5} {'k':>4} {'B':>3} | {'straightfwd':>11} {'ours auto':>9} {'ours HH':>8} "
           f"{'torch':>8} | {'x vs SF':>7} {'goal':>5} {'x vs torch':>10} | {'GF/s':>6} {'% GEMM':>6} "
           f"{'goal needs':>10} | max|diff|")
    print(hdr)
    print("-" * len(hdr))
    extra = []
    for r in rows:
        m = r["ms_per_step"]
        tm = f"{m['torch_cpu']:8.2f}" if m["torch_cpu"] else f"{'-':>8}"
        vt = f"{r['speedup_vs_torch']:10.1f}" if r["speedup_vs_torch"] else f"{'-':>10}"
        if r["speedup_1thread_vs_straightforward"]:
            extra.append(f"{r['case']}: wcrnn_dyn with n_threads=1 {m['wcrnn_dyn_auto_1thread']:.2f} ms/step, "
                         f"{r['speedup_1thread_vs_straightforward']:.1f}x")
        print(f"{r['case']:6} {r['N']:5d} {r['k']:4d} {r['B']:3d} | {m['straightforward']:9.2f}ms "
              f"{m['wcrnn_dyn_auto']:7.2f}ms {m['wcrnn_dyn_householder']:6.2f}ms {tm} | "
              f"{r['speedup_vs_straightforward']:7.1f} {r['goal_speedup']:5.1f} {vt} | {r['gflops_achieved']:6.1f} "
              f"{100 * r['fraction_of_gemm_rate_1024']:5.1f}% {100 * r['needed_fraction_of_gemm_rate_1024']:9.0f}% | "
              f"{r['max_abs_diff_vs_straightforward']:.1e}")
    for line in extra:
        print(line)
    print("one re-orthonormalisation (us), Householder vs Cholesky-QR: " + ", ".join(
        f"{q['N']}x{q['k']}: {q['householder_us']:.0f} vs {q['cholesky_us']:.0f} ({q['cholesky_speedup']:.1f}x)"
        for q in qr_rows_))
    print(f"(times in ms per step, best of {args.reps} interleaved runs; '% GEMM': achieved flop rate of wcrnn_dyn "
          "(auto) over the machine's n=1024 GEMM rate; 'goal needs': the rate the goal speed-up would need against "
          f"this straightforward time; JSON written to {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
