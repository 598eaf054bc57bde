"""Bad-input campaign over every public entry point (issue 12), outside CI.

Runs N generated cases (default 15000) from tests/fuzz_catalogue.py.  Cases run in worker subprocesses
(``--workers`` long-lived Python processes, so that the package is imported once per worker, not once per
case); every case has its own wall-clock timeout, and a case that exceeds it (a hang) or kills its worker
(a crash) is recorded and the worker is replaced, so one case never affects another's outcome.

Each worker runs under an address-space limit (``--mem-gib``, default 8 GiB) so that a case cannot take
the shared machine's memory; the package reads that limit (like ``ulimit -v`` on a cluster) and refuses
larger work up front with a ValueError giving the figure.

Outcomes (see tests/fuzz_catalogue.classify): valid, clean (ValueError/TypeError naming the argument, or a
documented DivergenceError / TrainingDiverged), unnamed (ValueError/TypeError not naming a changed
argument), other (other exception types), garbage (undocumented non-finite result), hang, crash.

    python benchmarks/fuzz_campaign.py --n 15000 --out benchmarks/results/fuzz_campaign.json

The JSON holds the counts, the counts per entry point, and up to 20 examples of every non-clean outcome.
Results are written atomically.  Same --seed, same cases.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

OUTCOMES = ("valid", "clean", "unnamed", "other", "garbage", "hang", "crash")


def worker(mem_gib):
    """Read JSON lines {"e": entry index, "c": {param: pool index}} and answer {"o": outcome, "d": detail}."""
    if mem_gib:  # protect the (shared) machine: the library sees the limit and refuses larger work up front
        import resource
        lim = int(mem_gib * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    import logging
    import warnings
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    import fuzz_catalogue as fc
    ents = fc.entries()
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # library output must not corrupt the protocol
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        job = json.loads(line)
        o, d = fc.classify(ents[job["e"]], job["c"])
        out.write(json.dumps({"o": o, "d": d}) + "\n")
        out.flush()


class Worker:
    def __init__(self, mem_gib):
        env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
        self.p = subprocess.Popen([sys.executable, __file__, "--worker", "--mem-gib", str(mem_gib)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("worker failed to start")

    def run(self, job, timeout):
        try:
            self.p.stdin.write(json.dumps(job) + "\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            return "crash", "worker died before the case"
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            self.kill()
            return "hang", f"no answer within {timeout} s"
        line = self.p.stdout.readline()
        if not line:
            rc = self.p.wait()
            return "crash", f"worker exited with status {rc}"
        d = json.loads(line)
        return d["o"], d["d"]

    def kill(self):
        try:
            self.p.kill()
            self.p.wait(timeout=10)
        except Exception:
            pass


def make_cases(ents, n, seed, include_slow=True, only_entries=None):
    import numpy as np
    rng = np.random.default_rng(seed)
    idx = [i for i, e in enumerate(ents) if (include_slow or not e.slow)
           and (not only_entries or any(p in e.name for p in only_entries))]
    if not idx:
        raise SystemExit(f"no entry point matches {only_entries}")
    cases = []
    for _ in range(n):
        ei = int(rng.choice(idx))
        e = ents[ei]
        c = {}
        for k, pool in e.params.items():
            c[k] = int(rng.integers(1, len(pool))) if rng.random() < 0.35 else 0
        cases.append({"e": ei, "c": c})
    return cases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15000, help="number of cases (default 15000)")
    ap.add_argument("--seed", type=int, default=0, help="case generator seed (default 0)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang "
                    "(default 60)")
    ap.add_argument("--only", type=int, nargs="*", default=None, help="run only these case numbers (to replay)")
    ap.add_argument("--entries", nargs="*", default=None, help="only entry points whose name contains one of these")
    ap.add_argument("--workers", type=int, default=1, help="worker processes run one after another (default 1)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_campaign.json"))
    ap.add_argument("--mem-gib", type=float, default=8.0, help="address-space limit of each worker in GiB "
                    "(default 8; 0: none).  The package reads it and refuses larger work up front")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.mem_gib)
    import fuzz_catalogue as fc
    ents = fc.entries()
    cases = make_cases(ents, a.n, a.seed, only_entries=a.entries)
    if a.only is not None:
        cases = [cases[i] for i in a.only]
    counts = Counter()
    per_entry = defaultdict(Counter)
    examples = defaultdict(list)
    t0 = time.time()
    w = Worker(a.mem_gib)
    for i, job in enumerate(cases):
        o, d = w.run(job, a.timeout)
        e = ents[job["e"]]
        counts[o] += 1
        per_entry[e.name][o] += 1
        if o not in ("valid", "clean") and len(examples[o]) < 20:
            examples[o].append({"case": i, "entry": e.name, "args": e.labels(job["c"]), "detail": d})
        if o in ("hang", "crash"):
            w = Worker(a.mem_gib)
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(cases)} {dict(counts)} {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    w.kill()
    result = {"n_cases": len(cases), "seed": a.seed, "timeout_s": a.timeout, "worker_mem_gib": a.mem_gib, "wall_s": round(time.time() - t0, 1),
              "counts": {k: counts.get(k, 0) for k in OUTCOMES},
              "per_entry": {k: dict(v) for k, v in sorted(per_entry.items())},
              "examples": dict(examples), "python": sys.version.split()[0],
              "command": "python benchmarks/fuzz_campaign.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    print(json.dumps(result["counts"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
