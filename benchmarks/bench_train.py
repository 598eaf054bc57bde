"""One WCRNN training step (loss + BPTT gradients + clipping + Adam update), wcrnn_dyn vs peers.

Work: B=128 sequences of T=784 steps, N=128 hidden units, d=1 input, 10 classes, cross-entropy; residual
rotational mu=0.99 with theta = linspace(0.1, 3.0, N/2); eps = 0.05 (the configuration of the peers in
../shared/peers).  Columns, measured side by side in one run:

* wcrnn_dyn  : ``net.loss_and_grad`` (Numba forward + adjoint BPTT) + global-norm clipping + Adam, as
  ``wcrnn_dyn.train`` does it (its internal optimiser), float32 and float64;
* numpy      : the plain NumPy manual BPTT baseline (``numpy_bptt_baseline.py``, run as a subprocess;
  gradients only, no optimiser update);
* torch      : the PyTorch CPU peer (``torch_wcrnn_train.py``, Python loop over time + autograd + Adam),
  run with the interpreter given by ``--torch-python`` (the column is skipped with a note when absent).

Prints a table with ms per step, the ratios peer / wcrnn_dyn and the implied sMNIST epoch time
(60000 / B steps), and writes JSON (``--out``, default benchmarks/results/bench_train.json).

    .venv/bin/python benchmarks/bench_train.py --torch-python /tmp/venv-torch/bin/python
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PEERS = (HERE.parent / ".." / "shared" / "peers").resolve()


def bench_ours(dtype, B, T, N, repeats):
    import wcrnn_dyn as wd
    from wcrnn_dyn import training as tr
    rng = np.random.default_rng(0)
    res = wd.residuals.rotational(N, 0.99, np.linspace(0.1, 3.0, N // 2))
    net = wd.WCRNN(1, N, 10, residual=res, eps=0.05, seed=0, dtype=dtype)
    X = rng.random((B, T, 1)).astype(dtype)
    y = rng.integers(0, 10, B)
    opt = tr._Optimizer("adam", net.get_weights(), 0.9, (0.9, 0.999), 1e-8, 0.0, net.dtype)

    def step():
        L, g = net.loss_and_grad(X, y, loss="cross_entropy")
        gn = tr._grad_norm(g)
        if gn > 1.0:
            g = {k: (a * (1.0 / gn)).astype(a.dtype, copy=False) for k, a in g.items()}
        net.set_weights(opt.update(net.get_weights(), g, 1e-3))
        return L

    step()  # compile / warm caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def run_peer(cmd, pattern, timeout, threads=None):
    env = dict(os.environ)
    if threads:
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = str(threads)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"failed: {e}"
    text = out.stdout + out.stderr
    m = re.search(pattern, text)
    if out.returncode != 0 or not m:
        return None, f"failed (rc={out.returncode}): {text.strip()[-300:]}"
    return float(m.group(1)) / 1e3, text.strip().splitlines()[-1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torch-python", default=None, help="python interpreter that has torch (column skipped if "
                                                         "absent)")
    p.add_argument("--peers", default=str(DEFAULT_PEERS), help="folder with the peer scripts")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per column (median reported)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads for wcrnn_dyn (default 1: best on shared cores; the peers use their "
                        "library defaults)")
    p.add_argument("--peer-threads", type=int, default=None,
                   help="set OMP/OPENBLAS/MKL_NUM_THREADS for the peer subprocesses (default: their library "
                        "defaults; on busy shared cores 1 is much faster for all columns)")
    p.add_argument("--B", type=int, default=128)
    p.add_argument("--T", type=int, default=784)
    p.add_argument("--N", type=int, default=128)
    p.add_argument("--out", default=str(HERE / "results" / "bench_train.json"))
    args = p.parse_args(argv)
    from wcrnn_dyn import store as wio
    from wcrnn_dyn.training import set_blas_threads
    set_blas_threads(args.threads)
    B, T, N = args.B, args.T, args.N
    peers = Path(args.peers)
    rows = []
    notes = []
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    for dt in ("float32", "float64"):
        ts = bench_ours(np.dtype(dt).type, B, T, N, args.repeats)
        ours = float(np.median(ts))
        row = {"dtype": dt, "wcrnn_dyn_s": ours, "wcrnn_dyn_all_s": ts}
        if (B, T, N) == (128, 784, 128) and (peers / "numpy_bptt_baseline.py").exists():
            t, line = run_peer([sys.executable, str(peers / "numpy_bptt_baseline.py"), dt],
                               r"([0-9.]+) ms/batch", 900, args.peer_threads)
            row["numpy_s"], row["numpy_note"] = t, line
        else:
            row["numpy_s"] = None
            row["numpy_note"] = "skipped (the NumPy baseline script is fixed at B=128 T=784 N=128, or absent)"
        if args.torch_python and Path(args.torch_python).exists() and (peers / "torch_wcrnn_train.py").exists():
            t, line = run_peer([args.torch_python, str(peers / "torch_wcrnn_train.py"), str(B), str(T), str(N),
                                str(args.repeats), "cpu", dt], r"([0-9.]+) ms/batch", 1800, args.peer_threads)
            row["torch_s"], row["torch_note"] = t, line
        else:
            row["torch_s"] = None
            row["torch_note"] = "skipped: no --torch-python interpreter with torch given"
        for peer in ("numpy", "torch"):
            row[f"ratio_{peer}"] = row[f"{peer}_s"] / ours if row[f"{peer}_s"] else None
        row["smnist_epoch_s"] = ours * 60000 / B
        rows.append(row)
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    notes.append(f"load average before {load_before}, after {load_after} on {os.cpu_count()} cores")
    notes.append("numpy column: gradients only (no clipping / optimiser update); wcrnn_dyn and torch: full step")

    def fmt(v, scale=1e3, spec="8.1f"):
        return f"{v * scale:{spec}}" if v else f"{'-':>8}"

    print(f"one training step B={B} T={T} N={N} (ms; ratio = peer / wcrnn_dyn; BLAS threads for wcrnn_dyn: "
          f"{args.threads})")
    print(f"{'dtype':8} {'wcrnn_dyn':>9} {'numpy':>8} {'torch':>8} {'numpy/x':>8} {'torch/x':>8} "
          f"{'sMNIST epoch (s)':>17}")
    for r in rows:
        print(f"{r['dtype']:8} {fmt(r['wcrnn_dyn_s']):>9} {fmt(r['numpy_s'])} {fmt(r['torch_s'])} "
              f"{fmt(r['ratio_numpy'], 1, '8.2f')} {fmt(r['ratio_torch'], 1, '8.2f')} "
              f"{r['smnist_epoch_s']:17.1f}")
    for r in rows:
        if r["torch_s"] is None:
            print(f"note ({r['dtype']}): torch {r['torch_note']}")
    for n in notes:
        print("note:", n)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {"B": B, "T": T, "N": N, "repeats": args.repeats, "threads": args.threads,
              "peer_threads": args.peer_threads, "residual": "rotational mu=0.99 theta=linspace(0.1,3.0,N/2)",
              "eps": 0.05, "torch_python": args.torch_python}
    doc = {"benchmark": "bench_train", "config": config, "rows": rows, "notes": notes,
           "provenance": wio.provenance()}
    wio.write_json(out, doc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
