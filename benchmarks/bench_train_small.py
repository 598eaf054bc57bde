"""``net.loss_and_grad`` for small networks: B=128, T=784, float32, rotational residual, N = 32, 64, 128.

Reports per call the wall time and this process's CPU time (``time.process_time``: on a shared machine the
CPU time of a single-threaded call hardly depends on the other programs, the wall time does), for
``n_threads=1`` and the defaults, minimum and median over ``--reps`` calls after one warm-up call.

To compare two versions of the package, run the script under each with PYTHONPATH pointing at the
version, e.g. a ``git archive`` export of an earlier commit:

    git archive dd58814 | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/bench_train_small.py --out /tmp/before.json
    .venv/bin/python benchmarks/bench_train_small.py --compare /tmp/before.json

``--compare`` adds the ratios before / now to the JSON (default benchmarks/results/bench_train_small.json).

``--jax-python PY`` adds the JAX CPU peer (``jax_wcrnn_step.py``, run with interpreter PY, jax is not a
dependency): once with XLA's default threads and once single-threaded, and the ratios JAX / wcrnn_dyn of
the wall times (default threads on both sides) and of the single-threaded CPU times.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def measure(N, n_threads, reps, B=128, T=784):
    import wcrnn_dyn as wd
    res = wd.residuals.rotational(N, 0.99, np.linspace(0.1, 3.0, N // 2))
    net = wd.WCRNN(1, N, 10, residual=res, eps=0.05, seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    X = rng.random((B, T, 1)).astype(np.float32)
    y = rng.integers(0, 10, B)
    net.loss_and_grad(X, y, loss="cross_entropy", n_threads=n_threads)
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        net.loss_and_grad(X, y, loss="cross_entropy", n_threads=n_threads)
        wall.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    return {"wall_ms_min": round(min(wall), 2), "wall_ms_median": round(statistics.median(wall), 2),
            "cpu_ms_min": round(min(cpu), 2), "cpu_ms_median": round(statistics.median(cpu), 2)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="32,64,128")
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--compare", default=None, help="JSON of an earlier run: ratios earlier / now are added")
    p.add_argument("--jax-python", default=None, help="interpreter with jax for the JAX CPU peer")
    p.add_argument("--out", default=str(HERE / "results" / "bench_train_small.json"))
    args = p.parse_args(argv)
    import wcrnn_dyn as wd
    rows = {}
    for N in (int(s) for s in args.sizes.split(",")):
        for nt in (1, None):
            key = f"N={N} n_threads={'default' if nt is None else nt}"
            rows[key] = measure(N, nt, args.reps)
            r = rows[key]
            print(f"{key:24s} wall {r['wall_ms_min']:8.2f} (median {r['wall_ms_median']:8.2f})  "
                  f"cpu {r['cpu_ms_min']:8.2f} ms", flush=True)
    doc = {"work": "loss_and_grad, B=128, T=784, d=1, 10 classes, cross-entropy, float32, rotational mu=0.99",
           "results": rows, "loadavg": open("/proc/loadavg").read().split()[:3],
           "package_path": str(Path(wd.__file__).parent), "provenance": wd.store.provenance(sys.argv if argv is None
                                                                                         else argv)}
    if args.compare:
        with open(args.compare) as f:
            before = json.load(f)
        doc["before"] = {"results": before["results"], "provenance": before.get("provenance"),
                         "package_path": before.get("package_path")}
        doc["speedup_before_over_now"] = {
            k: {m: round(before["results"][k][m] / v[m], 2) for m in ("wall_ms_min", "cpu_ms_min")}
            for k, v in rows.items() if k in before["results"]}
        for k, v in doc["speedup_before_over_now"].items():
            print(f"{k:24s} before/now: wall {v['wall_ms_min']:.2f}x  cpu {v['cpu_ms_min']:.2f}x")
    if args.jax_python:
        doc["jax"] = {}
        for label, flags in (("default_threads", None),
                             ("one_thread", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")):
            env = dict(os.environ)
            if flags:
                env["XLA_FLAGS"] = flags
            r = subprocess.run([args.jax_python, str(HERE / "jax_wcrnn_step.py"), "--sizes", args.sizes, "--reps",
                                str(args.reps)], capture_output=True, text=True, env=env, timeout=900)
            if r.returncode != 0:
                doc["jax"][label] = {"failed": r.stderr.strip()[-500:]}
                print("jax", label, "failed:", r.stderr.strip()[-300:])
                continue
            doc["jax"][label] = json.loads(r.stdout.strip().splitlines()[-1])
        ratios = {}
        for N in (int(s) for s in args.sizes.split(",")):
            jd, j1 = doc["jax"].get("default_threads", {}), doc["jax"].get("one_thread", {})
            ours_d, ours_1 = rows[f"N={N} n_threads=default"], rows[f"N={N} n_threads=1"]
            ratios[f"N={N}"] = {
                "wall_default_threads": round(jd[f"N={N}"]["wall_ms_min"] / ours_d["wall_ms_min"], 2)
                if f"N={N}" in jd else None,
                "cpu_one_thread": round(j1[f"N={N}"]["cpu_ms_min"] / ours_1["cpu_ms_min"], 2)
                if f"N={N}" in j1 else None}
            print(f"N={N}: JAX / wcrnn_dyn  wall (default threads) {ratios[f'N={N}']['wall_default_threads']}x  "
                  f"CPU (one thread) {ratios[f'N={N}']['cpu_one_thread']}x")
        doc["jax_over_wcrnn_dyn"] = ratios
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wd.store.write_json(out, doc)
    print("wrote", out)


if __name__ == "__main__":
    main()
