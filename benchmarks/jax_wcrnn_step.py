"""JAX CPU peer for benchmarks/bench_train_small.py: loss and gradients of the same WCRNN (not a dependency).

h_t = R h_{t-1} + eps * tanh(W h_{t-1} + U x_t + b), R rotational (2x2 blocks mu [[c, -s], [s, c]]), logits
V h_T + c, mean cross-entropy; ``jax.value_and_grad`` of a ``lax.scan`` under ``jax.jit``, float32.  Run with
an interpreter that has jax, e.g.

    /tmp/venv-jax/bin/python benchmarks/jax_wcrnn_step.py --sizes 32,64,128 --reps 6

Prints one JSON line: {"N=32": {"wall_ms_min": ..., "wall_ms_median": ..., "cpu_ms_min": ...}, ...,
"jax": version, "xla_flags": ...}.  Single-threaded XLA: XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1" in the environment.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def build(N, B=128, T=784, n_out=10, eps=0.05, mu=0.99, seed=0):
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(seed)
    th = np.linspace(0.1, 3.0, N // 2)
    c, s = mu * np.cos(th), mu * np.sin(th)
    params = {"W": rng.standard_normal((N, N)) / np.sqrt(N), "U": rng.standard_normal((N, 1)),
              "b": np.zeros(N), "V": rng.standard_normal((n_out, N)) / np.sqrt(N), "c": np.zeros(n_out)}
    params = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in params.items()}
    cc, ss = jnp.asarray(c, jnp.float32), jnp.asarray(s, jnp.float32)
    X = jnp.asarray(rng.random((T, B, 1)), jnp.float32)  # time-major for the scan
    y = jnp.asarray(rng.integers(0, n_out, B))

    def rot(h):
        p, q = h[:, 0::2], h[:, 1::2]
        return jnp.stack([cc * p - ss * q, ss * p + cc * q], axis=-1).reshape(h.shape)

    def loss(pr):
        def step(h, x):
            h = rot(h) + eps * jnp.tanh(h @ pr["W"].T + x @ pr["U"].T + pr["b"])
            return h, None
        hT, _ = jax.lax.scan(step, jnp.zeros((B, N), jnp.float32), X)
        z = hT @ pr["V"].T + pr["c"]
        return -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(B), y])

    f = jax.jit(jax.value_and_grad(loss))
    return f, params


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="32,64,128")
    p.add_argument("--reps", type=int, default=6)
    a = p.parse_args()
    import jax
    out = {"jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS")}
    for N in (int(v) for v in a.sizes.split(",")):
        f, params = build(N)
        jax.block_until_ready(f(params))
        wall, cpu = [], []
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(params))
            wall.append(1e3 * (time.perf_counter() - t0))
            cpu.append(1e3 * (time.process_time() - c0))
        out[f"N={N}"] = {"wall_ms_min": round(min(wall), 2), "wall_ms_median": round(statistics.median(wall), 2),
                         "cpu_ms_min": round(min(cpu), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
