"""Parameter sweeps: grids of cells, run on a local process pool or a Dask cluster, resumable, one CSV table.

A sweep is described by a TOML file (or the equivalent dict)::

    name = "smoke"                      # optional
    [defaults]                          # keys shared by every cell
    kind = "lyap"
    T = 300
    [[grid]]                            # one or more grids; each is the Cartesian product of its lists
    family = ["scaled_identity", "rotational"]
    mu = [0.9, 0.99, 1.0]
    seed = [0, 1]
    [[grid]]
    kind = "train"
    task = "adding"                     # a scalar is a one-value list
    mu = [0.95, 0.99]

A single ``[grid]`` table works too.  Every grid point, merged over ``[defaults]``, is one *cell*: a flat
dict of scalars with a ``kind``.  Cells are identified by :func:`cell_key`, a stable hash of the cell with the
kind's defaults filled in (so editing a default in the file or in the code reruns the affected cells).

Cell kinds (:data:`KINDS`; see :func:`kind_defaults` for every parameter and default):

* ``"theory"``  - predicted exponents of the residual (sorted log|eigenvalues|) and the bound of docs/THEORY.md section 4.2;
  no simulation, milliseconds (useful for tests and as a reference column);
* ``"lyap"``    - Lyapunov spectrum of a WCRNN driven by ``task`` input: ``max_le``, ``mean_le``
  (+ the predictions);
* ``"memory"``  - linear memory capacity (Jaeger): ``mc_total`` (and ``mc_frac`` = mc_total / N);
* ``"train"``   - train on ``task`` (Adam, :func:`wcrnn_dyn.training.train`; the parameters of the best
  validation epoch are restored) and report the test metric (``test_accuracy`` or ``test_mse``),
  ``test_loss``, ``best_val_metric``, ``diverged``, ``test_exploded`` (the test loss is not finite or above
  the trainer's divergence level, :func:`wcrnn_dyn.training.default_max_loss`) and ``n_params``;
* ``"module.path:function"`` - any importable function ``f(cell) -> dict`` of scalar metrics (optionally with
  an ``"_extra"`` dict of JSON-able values kept in the cell file but not in the table).

Running (:func:`run_sweep`): finished cells (``OUT/cells/<key>.json``, written atomically as each cell
completes) are skipped on rerun; missing ones run in this process (``jobs=1``), on a local
``ProcessPoolExecutor`` (``jobs > 1``; workers use single-threaded BLAS / Numba) or on an existing Dask
distributed cluster (``scheduler="tcp://host:port"``; ``pip install "wcrnn_dyn[dask]"``).  The results are
collected into ``OUT/table.csv``: one row per cell in expansion order, the configuration columns then the
metric columns (sorted) then ``error``; floats with 10 significant digits; no timings or host names, so the
table is byte-identical whichever way the sweep ran.  A cell that raises is recorded with its error
message (empty metrics) and is not retried unless ``retry_failed=True``.
"""
from __future__ import annotations

import concurrent.futures as _cf
import contextlib
import csv
import hashlib
import importlib
import io as _pyio
import itertools
import json
import logging
import math
import multiprocessing
import numbers
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import build as _build
from ._progress import progress_bar
from . import store as _store
from ._version import __version__

log = logging.getLogger(__name__)

__all__ = ["load_config", "parse_config", "expand", "cell_key", "normalize_cell", "kind_defaults",
           "run_cell", "run_cells", "run_sweep", "write_table", "read_table", "format_value",
           "make_residual", "make_model", "input_sequences", "train_cell", "SweepResult", "KINDS",
           "FAMILIES"]

#: Digits of precision of floats in the CSV table (also what "identical tables" means across runners).
CSV_DIGITS = 10

#: The residual families (the registry lives in :mod:`wcrnn_dyn.build`).
FAMILIES = _build.family_names()

_MODEL = dict(_build.MODEL_DEFAULTS)
_KIND_DEFAULTS = {
    "theory": dict(_MODEL),
    "lyap": dict(_MODEL, task="noise", T=500, n_seq=1, k=None, washout=0, burn_in=100, qr_every=1,
                 input_scale=1.0),
    "memory": dict(_MODEL, max_lag=60, n_steps=3000, input_scale=1.0),
    "train": dict(_MODEL, task="adding", T=100, n_train=1000, n_val=200, n_test=500, epochs=10, steps=None,
                  lr=1e-3, batch_size=50, optimizer=None, clip=None, schedule=None, weight_decay=0.0,
                  center=False, save_model=False),
}
KINDS = tuple(_KIND_DEFAULTS)

#: Optional keys of the "train" kind and their defaults: gradient flossing (:mod:`wcrnn_dyn.flossing`,
#: docs/CLV.md).  They are not in the kind's defaults, so a cell without them keeps the key it always had;
#: :func:`normalize_cell` leaves them out when they equal their default (same computation, same key).
#: ``floss_steps``: Adam steps of :func:`wcrnn_dyn.flossing.floss` on ``floss_batch`` training sequences
#: before training (lr ``floss_lr``, beta 1); ``floss_beta`` > 0: the regulariser
#: :func:`wcrnn_dyn.flossing.flossing_regularizer` during training, on the first ``floss_batch`` sequences of
#: every ``floss_every``-th mini-batch; ``floss_k`` leading exponents pushed towards ``floss_target``.
TRAIN_OPTIONAL = {"floss_steps": 0, "floss_beta": 0.0, "floss_k": 4, "floss_target": 0.0, "floss_lr": 1e-3,
                  "floss_batch": 16, "floss_every": 1}
_OPTIONAL = {"train": TRAIN_OPTIONAL}


# ============================================================================================ config
def _toml_module():
    if sys.version_info >= (3, 11):
        import tomllib
        return tomllib
    try:  # pragma: no cover - Python 3.10
        import tomli
        return tomli
    except ImportError as e:  # pragma: no cover
        raise ImportError("reading sweep configs needs Python >= 3.11 (tomllib) or the 'tomli' package "
                          "on Python 3.10: pip install tomli") from e


def load_config(path):
    """Read and check a sweep TOML file.

    Parameters
    ----------
    path : str or Path
        The TOML file (format: the module docstring).

    Returns
    -------
    dict
        The checked config (:func:`parse_config`).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        For invalid TOML or an invalid config (unknown keys, empty lists, bad values).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep config {str(path)!r} does not exist")
    toml = _toml_module()
    with open(path, "rb") as f:
        try:
            cfg = toml.load(f)
        except toml.TOMLDecodeError as e:
            raise ValueError(f"sweep config {str(path)!r} is not valid TOML: {e}") from e
    return parse_config(cfg)


def parse_config(cfg):
    """Check a sweep config dict.

    Parameters
    ----------
    cfg : dict
        A parsed TOML document: ``name``, ``description``, ``defaults`` (scalars), ``grid`` (a table or a list
        of tables whose values are scalars or non-empty lists).

    Returns
    -------
    dict
        A normalised copy with ``name``, ``description``, ``defaults`` and a list ``grid``.

    Raises
    ------
    TypeError, ValueError
        For a non-dict config, unknown top-level keys, a missing grid, lists in defaults, empty lists or
        values that are not strings, numbers or booleans.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"config must be a dict (a parsed TOML document), got {type(cfg).__name__}")
    allowed = {"name", "description", "defaults", "grid"}
    extra = set(cfg) - allowed
    if extra:
        raise ValueError(f"config has unknown top-level keys {sorted(extra)}; allowed: {sorted(allowed)}")
    defaults = cfg.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ValueError("config 'defaults' must be a table")
    grids = cfg.get("grid")
    if grids is None:
        raise ValueError("config needs at least one [grid] table (or [[grid]] tables)")
    if isinstance(grids, dict):
        grids = [grids]
    if not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise ValueError("config 'grid' must be a table or an array of tables")
    for where, table in [("defaults", defaults)] + [(f"grid[{i}]", g) for i, g in enumerate(grids)]:
        for k, v in table.items():
            vals = v if isinstance(v, list) else [v]
            if where == "defaults" and isinstance(v, list):
                raise ValueError(f"config defaults.{k} must be a scalar (put lists in a [grid])")
            if isinstance(v, list) and not v:
                raise ValueError(f"config {where}.{k} is an empty list")
            for x in vals:
                if not isinstance(x, (str, int, float, bool)):
                    raise ValueError(f"config {where}.{k} values must be strings, numbers or booleans, got {x!r}")
    name = cfg.get("name", "sweep")
    if not isinstance(name, str):
        raise ValueError("config 'name' must be a string")
    return {"name": name, "description": str(cfg.get("description", "")), "defaults": dict(defaults),
            "grid": [dict(g) for g in grids]}


def expand(cfg):
    """The cells of a sweep config.

    Parameters
    ----------
    cfg : dict
        A config (see :func:`parse_config`).

    Returns
    -------
    list of dict
        The cells in a deterministic order (grids in file order, then the Cartesian product in key order, the
        last key varying fastest).

    Raises
    ------
    ValueError
        For a cell without a kind, unknown keys in a grid, ``[defaults]`` keys no cell kind takes, or values
        of the wrong type (never coerced).

    Notes
    -----  ``[defaults]`` keys that a built-in kind does not
    take are left out of that kind's cells; unknown keys in a grid raise ValueError (checked with
    :func:`normalize_cell`).  Duplicates (same :func:`cell_key`) are dropped, keeping the first."""
    cfg = parse_config(cfg)
    cells, seen = [], set()
    for g in cfg["grid"]:
        keys = list(g)
        lists = [g[k] if isinstance(g[k], list) else [g[k]] for k in keys]
        for combo in itertools.product(*lists):
            point = dict(zip(keys, combo))
            kind = point.get("kind", cfg["defaults"].get("kind"))
            if kind is None:
                raise ValueError("every cell needs a 'kind' (in [defaults] or in a [grid]); choose from "
                                 f"{KINDS} or 'module:function'")
            known = kind_defaults(kind)
            known.update(_OPTIONAL.get(kind, {}))
            # defaults that a built-in kind does not take are dropped for its cells; grid keys must be known
            cell = {k: v for k, v in cfg["defaults"].items() if not known or k in known or k == "kind"}
            cell.update(point)
            key = cell_key(cell)
            if key in seen:
                continue
            seen.add(key)
            cells.append(cell)
    _check_default_keys(cfg["defaults"], cells)
    return cells


def _check_default_keys(defaults, cells):
    """A ``[defaults]`` key that no cell's kind takes is a typo: refuse it (custom kinds take any key)."""
    kinds = {c.get("kind", defaults.get("kind")) for c in cells}
    if any(k not in _KIND_DEFAULTS for k in kinds):
        return
    known = set().union(*(_KIND_DEFAULTS[k] for k in kinds), *(_OPTIONAL.get(k, {}) for k in kinds)) | {"kind"}
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise ValueError(f"config [defaults] has keys {unknown} that no cell kind here takes "
                         f"({', '.join(sorted(kinds))}); known: {sorted(known - {'kind'})}")


def kind_defaults(kind):
    """Parameters and defaults of a cell kind.

    Parameters
    ----------
    kind : str
        A built-in kind (:data:`KINDS`) or ``"module.path:function"``.

    Returns
    -------
    dict
        A new dict of the kind's keys and defaults; {} for a ``module:function`` kind.

    Raises
    ------
    ValueError
        For an unknown kind.
    """
    if kind in _KIND_DEFAULTS:
        return dict(_KIND_DEFAULTS[kind])
    if isinstance(kind, str) and ":" in kind:
        return {}
    raise ValueError(f"unknown cell kind {kind!r}; choose from {KINDS} or 'module.path:function'")


def normalize_cell(cell):
    """The cell with its kind's defaults filled in.

    Parameters
    ----------
    cell : dict
        A cell with a string ``kind``.

    Returns
    -------
    dict
        A new dict: the kind's defaults updated with the cell.

    Raises
    ------
    TypeError, ValueError
        For a non-dict cell, unknown keys or kinds, or values of the wrong type.

    Notes
    -----  Optional keys
    (:data:`TRAIN_OPTIONAL`) are type-checked and kept only when they differ from their default."""
    if not isinstance(cell, dict):
        raise TypeError(f"cell must be a dict, got {type(cell).__name__}")
    kind = cell.get("kind")
    if not isinstance(kind, str):
        raise ValueError(f"cell needs a string 'kind', got {kind!r}")
    d = kind_defaults(kind)
    opt = _OPTIONAL.get(kind, {})
    if d:
        unknown = set(cell) - set(d) - set(opt) - {"kind"}
        if unknown:
            raise ValueError(f"cell of kind {kind!r} has unknown keys {sorted(unknown)}; known: "
                             f"{sorted(set(d) | set(opt))}")
    for k, v in cell.items():
        if k in d:
            _check_type(kind, k, v, d[k])
        elif k in opt:
            _check_type(kind, k, v, opt[k])
    out = {"kind": kind}
    out.update(d)
    # optional keys at their default are left out: the cell then normalises (and hashes) as without them
    out.update({k: v for k, v in cell.items() if k not in opt or _canonical(v) != _canonical(opt[k])})
    return out


#: Keys that take None although their default is a number (None: the whole data split).
_NULLABLE = {"n_train", "n_val", "n_test"}


def _check_type(kind, k, v, default):
    """Values are never coerced silently: an int key takes an int (or an integral float), a float key a
    number, a bool key a bool, a string key a string; None is allowed where the default is None."""
    if v is None:
        if default is not None and k not in _NULLABLE:
            raise ValueError(f"cell of kind {kind!r}: {k} may not be empty (default {default!r})")
        return
    if isinstance(default, bool):
        ok = isinstance(v, bool)
    elif isinstance(default, int):
        ok = not isinstance(v, bool) and (isinstance(v, numbers.Integral)
                                          or (isinstance(v, numbers.Real) and float(v).is_integer()))
    elif isinstance(default, float):
        ok = not isinstance(v, bool) and isinstance(v, numbers.Real)
    elif isinstance(default, str):
        ok = isinstance(v, str)
    else:
        ok = not isinstance(v, bool) or k in ("center", "save_model", "trainable_residual")
    if not ok:
        want = type(default).__name__ if default is not None else "a value"
        raise ValueError(f"cell of kind {kind!r}: {k} must be {want} like its default {default!r}, got {v!r}")


def _canonical(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        return int(f) if f.is_integer() and abs(f) < 2 ** 53 else repr(f)
    return v


def cell_key(cell):
    """Stable hash of a cell: the name of its result file.

    Parameters
    ----------
    cell : dict
        A cell (its kind's defaults are filled in before hashing, so 1 and 1.0 hash alike and a default
        written out hashes like the default left out).

    Returns
    -------
    str
        16 hexadecimal digits (SHA-256 of the canonical JSON).
    """
    c = normalize_cell(cell)
    blob = json.dumps({k: _canonical(v) for k, v in sorted(c.items())}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# ============================================================================================ building blocks
# Models, residuals and data come from :mod:`wcrnn_dyn.build` (one builder for the CLI, sweeps, experiments).
make_residual = _build.make_residual
make_model = _build.make_model
input_sequences = _build.input_sequences


# ============================================================================================ built-in kinds
def _finite_or_nan(x):
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def _theory_metrics(net):
    lam = np.abs(net.residual.eigenvalues())
    with np.errstate(divide="ignore"):
        pred = np.sort(np.log(lam))[::-1]
    out = {"pred_max_le": _finite_or_nan(pred[0]), "pred_mean_le": _finite_or_nan(np.mean(pred)),
           "spectral_radius": float(lam.max())}
    return out, pred


def _kind_theory(c):
    from . import theory
    net = make_model(c, 1, 1)
    m, _ = _theory_metrics(net)
    m["eps_w_norm"] = float(net.coupling) * float(np.linalg.norm(net.W, 2))
    try:  # the scaled-orthogonal bound where it applies; NaN for other residuals or when vacuous
        m["bound"] = theory.exponent_bound(net)
    except ValueError:
        m["bound"] = float("nan")
    return m


def _kind_lyap(c):
    from . import lyapunov
    X = input_sequences(c["task"], c["T"], c["n_seq"], c["seed"], c["input_scale"])
    net = make_model(c, X.shape[2], 1)
    res = lyapunov.lyapunov_spectrum(net, X if X.shape[0] > 1 else X[0], k=c["k"], washout=int(c["washout"]),
                                     burn_in=int(c["burn_in"]), qr_every=int(c["qr_every"]),
                                     seed=int(c["seed"]))
    le = np.asarray(res.exponents, dtype=float)
    m, pred = _theory_metrics(net)
    m.update(max_le=float(le[0]), mean_le=float(np.mean(le)))
    if net.residual.is_linear:
        m["max_abs_dev"] = float(np.max(np.abs(le - pred[:le.size])))
    m["_extra"] = {"exponents": le.tolist()}
    return m


def _kind_memory(c):
    from . import memory
    net = make_model(c, 1, 1)
    res = memory.memory_capacity(net, int(c["max_lag"]), n_steps=int(c["n_steps"]), seed=int(c["seed"]))
    total = float(res.total)
    return {"mc_total": total, "mc_frac": total / int(c["N"]),
            "_extra": {"per_lag": np.asarray(res.per_lag, dtype=float).tolist()}}


def train_cell(c, residual=None, checkpoint_dir=None):
    """Build data and model from a train cell, train, evaluate on the test split.

    Parameters
    ----------
    c : dict
        A "train" cell (the kind's defaults are filled in).
    residual : Residual, optional
        Overrides the cell's residual family.
    checkpoint_dir : str or Path, optional
        Checkpoint there and resume from it (see below).

    Returns
    -------
    (dict, network, History, Task)
        The metrics, the trained network (best validation parameters), the history and the task.

    Notes
    -----

    The data, the model and the mini-batch order all come from :mod:`wcrnn_dyn.build` with the cell's seed
    (so ``wcrnn-dyn train`` with the same settings and seed gives the same numbers).  ``checkpoint_dir``:
    checkpoint there every 100 steps and at every epoch, and resume from it when it holds a checkpoint of
    the same run (an interrupted cell continues where it stopped).  ``residual`` overrides the cell's family.
    Returns ``(metrics, net, history, task)``; metrics hold the test metric, the validation curve's
    convergence (``still_improving``, ``steps_to_90``: steps until the validation metric first covered 90 %
    of the way from the trivial baseline to its best) and the run's facts.

    Gradient flossing (optional keys, :data:`TRAIN_OPTIONAL`; nothing changes without them): ``floss_steps``
    > 0 runs :func:`wcrnn_dyn.flossing.floss` on the training inputs before training, ``floss_beta`` > 0 adds
    the flossing regulariser during training (every ``floss_every``-th step, on the first ``floss_batch``
    sequences of the mini-batch).  Then the metrics also hold ``floss_seconds`` (time spent flossing, before
    and during training) and the top finite-time exponent of a fixed probe batch (the first ``floss_batch``
    training sequences, all T steps, ``floss_k`` exponents) at initialisation (``floss_le_init``), at the
    start of training (``floss_le_start``, after flossing before training) and after it (``floss_le_end``);
    ``history.meta["floss"]`` holds the settings, the k exponents at those three points, the seconds and the
    flossing history.  Where the tangent frame degenerates (J_t singular on it, e.g. ReLU units all silent) a
    flossing step cannot be taken: flossing before training stops there (``error_before``) and training starts
    from the network reached; during training that step is skipped (``skipped_during``); ``floss_failures``
    counts both.  Cost: ``floss_steps`` + (training steps / ``floss_every``) flossing calls, each about
    ``floss_k`` BPTT passes over ``floss_batch`` sequences (docs/CLV.md), plus three probe calls.
    """
    from . import training
    fl = {k: c.get(k, v) for k, v in TRAIN_OPTIONAL.items()}
    c = dict(_KIND_DEFAULTS["train"], **c)
    t = _build.task(c["task"])
    T = int(c["T"]) if t.name == "adding" else None
    data = dict(T=T, seed=int(c["seed"]), dtype=np.dtype(c["dtype"]).type, center=bool(c["center"]))
    Xtr, ytr = _build.task_data(t.name, "train", n=c["n_train"], **data)
    Xva, yva = _build.task_data(t.name, "val", n=c["n_val"], **data)
    Xte, yte = _build.task_data(t.name, "test", n=c["n_test"], **data)
    Xm = Xtr
    if c.get("match_task"):  # a data-matched residual tuned to another task's spectrum (a control)
        Xm = _build.task_data(c["match_task"], "train", n=5000, **dict(data, center=False))[0]
    net = make_model(c, Xtr.shape[2], t.n_out, X=Xm, residual=residual)
    kw = dict(loss=t.loss, epochs=int(c["epochs"]), lr=float(c["lr"]), batch_size=int(c["batch_size"]),
              seed=_build.rng(int(c["seed"]), "trainer"), on_divergence="stop", progress=False,
              weight_decay=float(c["weight_decay"]), schedule=c["schedule"])
    if c["steps"] is not None:
        kw["steps"] = int(c["steps"])
    if c.get("optimizer") is not None:
        kw["optimizer"] = c["optimizer"]
    if c.get("clip") is not None:
        kw["clip_norm"] = float(c["clip"])
    if checkpoint_dir is not None:
        kw.update(checkpoint_dir=checkpoint_dir, checkpoint_every_steps=100, resume=True)
    flossing_on = int(fl["floss_steps"]) > 0 or float(fl["floss_beta"]) > 0
    if flossing_on:
        fstate = _floss_before(net, Xtr, c, fl, kw)
    hist = training.train(net, Xtr, ytr, Xva, yva, **kw)
    ev = training.evaluate(net, Xte, yte, loss=t.loss)
    meta = getattr(hist, "meta", {}) or {}
    curve = [float(v) for v in hist.get("val_metric", [])]
    spe = int(meta.get("steps_per_epoch") or 0)
    metrics = {t.metric_key: float(ev.metric), "test_loss": float(ev.loss),
               "best_val_metric": float(meta.get("best_val_metric") or float("nan")),
               "best_epoch": int(meta["best_epoch"]) if meta.get("best_epoch") is not None else -1,
               "epochs_done": len(curve), "steps_done": int(meta.get("n_steps", 0)),
               "still_improving": t.still_improving(curve),
               "steps_to_90": max(-1, t.epochs_to_fraction(curve, 0.9) * spe),
               "diverged": bool(meta.get("diverged", False)), "n_params": int(net.n_params),
               "test_exploded": bool(not np.isfinite(ev.loss)
                                     or ev.loss > training.default_max_loss(yte, t.loss, t.n_out))}
    if metrics["test_exploded"]:
        log.warning("cell %s: the test loss %.3g exceeds the trainer's divergence level (the state grows without "
                    "bound on test sequences)", cell_key(c), ev.loss)
    if flossing_on:
        metrics.update(_floss_after(net, hist, fstate))
    return metrics, net, hist, t


def _floss_probe(net, Xp, k, target, seed):
    """The k finite-time exponents (batch mean) of the probe batch; NaNs when the frame degenerates."""
    from . import flossing
    from .models import DivergenceError
    try:
        return [float(x) for x in flossing.flossing_loss_and_grad(net, Xp, k, target=target, seed=seed)[2]
                .mean(axis=0)]
    except DivergenceError:
        return [float("nan")] * k


def _floss_before(net, Xtr, c, fl, kw):
    """Flossing before training (``floss_steps``) and the regulariser for training (``floss_beta``, put into
    ``kw``); returns the state that :func:`_floss_after` completes."""
    from . import flossing
    from .models import DivergenceError
    k, target, nb = int(fl["floss_k"]), float(fl["floss_target"]), int(fl["floss_batch"])
    every, seed = int(fl["floss_every"]), int(c["seed"])
    if nb < 1 or every < 1 or k < 1 or int(fl["floss_steps"]) < 0 or float(fl["floss_beta"]) < 0:
        raise ValueError(f"flossing settings out of range (floss_batch, floss_every, floss_k >= 1; floss_steps, "
                         f"floss_beta >= 0): {fl}")
    nb = min(nb, Xtr.shape[0])
    Xp = np.asarray(Xtr[:nb], dtype=float)
    st = {"settings": {key: fl[key] for key in TRAIN_OPTIONAL}, "k": k, "target": target, "Xp": Xp, "seed": seed,
          "seconds_before": 0.0, "seconds_during": 0.0, "calls_during": 0, "skipped_during": 0,
          "error_before": None}
    st["exponents_init"] = _floss_probe(net, Xp, k, target, seed)
    if int(fl["floss_steps"]) > 0:
        t0 = time.perf_counter()
        try:
            fh = flossing.floss(net, Xtr, int(fl["floss_steps"]), k, beta=1.0, target=target,
                                lr=float(fl["floss_lr"]), batch_size=nb, seed=_build.rng(seed, "lyap"))
            st["history_before"] = {"step": list(fh["step"]), "exponents": [list(e) for e in fh["exponents"]],
                                    "value": list(fh["value"])}
        except DivergenceError as e:   # e.g. ReLU: J_t singular on the frame; train from the network reached
            st["error_before"] = f"DivergenceError: {e}"
            log.info("flossing before training stopped early: %s", e)
        st["seconds_before"] = time.perf_counter() - t0
    st["exponents_start"] = _floss_probe(net, Xp, k, target, seed)
    if float(fl["floss_beta"]) > 0:
        reg = flossing.flossing_regularizer(k, beta=float(fl["floss_beta"]), target=target, seed=seed)

        def hook(net_, Xb):   # every `every`-th step, on the first nb sequences of the mini-batch
            i = st["calls_during"]
            st["calls_during"] += 1
            if i % every:
                return 0.0, {}
            t1 = time.perf_counter()
            try:
                return reg(net_, Xb[:nb])
            except DivergenceError:      # the frame degenerated on this batch (ReLU): skip this flossing step
                st["skipped_during"] += 1
                return 0.0, {}
            finally:
                st["seconds_during"] += time.perf_counter() - t1

        kw["regularizer"] = hook
        kw["callbacks"] = [reg.callback]
    return st


def _floss_after(net, hist, st):
    """Probe the trained network, record the flossing facts in ``hist.meta["floss"]``; returns the metrics."""
    st["exponents_end"] = _floss_probe(net, st.pop("Xp"), st["k"], st["target"], st["seed"])
    if "floss_exponents" in hist:
        st["history_during"] = {"epoch": list(hist["floss_epoch"]), "value": list(hist["floss_value"]),
                                "exponents": [list(e) for e in hist["floss_exponents"]]}
    if getattr(hist, "meta", None) is not None:
        hist.meta["floss"] = st

    def top(v):
        return float(np.max(v)) if np.all(np.isfinite(v)) else float("nan")
    return {"floss_seconds": st["seconds_before"] + st["seconds_during"],
            "floss_le_init": top(st["exponents_init"]), "floss_le_start": top(st["exponents_start"]),
            "floss_le_end": top(st["exponents_end"]),
            "floss_failures": int(st["skipped_during"]) + int(st["error_before"] is not None)}


def _kind_train(c, workdir=None, key=None):
    ckpt = None if workdir is None or key is None else Path(workdir) / f"{key}.ckpt"
    metrics, net, hist, _ = train_cell(c, checkpoint_dir=ckpt)
    extra = {"train_seconds": float(hist["time"][-1]) if hist.get("time") else None}
    h = _history_dict(hist)
    if h:
        extra["history"] = h
    if "floss" in (getattr(hist, "meta", None) or {}):
        extra["floss"] = hist.meta["floss"]
    if c.get("save_model") and workdir is not None and key is not None:
        net.save(Path(workdir) / f"{key}.model.npz")
        extra["model_file"] = f"{key}.model.npz"
    metrics["_extra"] = extra
    if ckpt is not None:
        import shutil
        shutil.rmtree(ckpt, ignore_errors=True)
    return metrics


def _history_dict(hist):
    """JSON-able dict of a training history (whatever form the training module returns)."""
    if hist is None:
        return {}
    if hasattr(hist, "meta") and isinstance(hist, dict):
        d = dict(hist)
        d.update({f"meta_{k}": v for k, v in hist.meta.items()})
    elif isinstance(hist, dict):
        d = hist
    elif hasattr(hist, "to_dict"):
        d = hist.to_dict()
    elif hasattr(hist, "__dict__"):
        d = vars(hist)
    else:
        return {}
    out = {}
    for k, v in d.items():
        if isinstance(v, (list, tuple, np.ndarray)):
            try:
                out[k] = [float(x) for x in np.asarray(v, dtype=float).ravel()]
            except (TypeError, ValueError):
                continue
        elif isinstance(v, (numbers.Real, str, bool)) or v is None:
            out[k] = v
    return out


_RUNNERS = {"theory": _kind_theory, "lyap": _kind_lyap, "memory": _kind_memory, "train": _kind_train}


def _resolve(kind):
    if kind in _RUNNERS:
        return _RUNNERS[kind]
    mod, _, fn = kind.partition(":")
    try:
        f = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cell kind {kind!r}: cannot import {fn!r} from {mod!r} ({e})") from e
    if not callable(f):
        raise ValueError(f"cell kind {kind!r} is not callable")
    return f


def run_cell(cell, workdir=None):
    """Run one cell.

    Parameters
    ----------
    cell : dict
        A cell (validated before anything runs).
    workdir : str or Path, optional
        See below.

    Returns
    -------
    dict
        ``{"key", "cell", "metrics", "extra", "error", "seconds", "version"}``.

    Raises
    ------
    ValueError
        For a bad cell specification; errors of the computation itself are recorded in ``error``.

    Notes
    -----

    ``workdir``: a folder the built-in "train" kind may use for its checkpoint (``<key>.ckpt``, resumed when
    present, removed when the cell finishes) and its saved model (``<key>.model.npz``).

    Exceptions raised by the cell's computation are caught and recorded (``error`` = "Type: message",
    metrics empty); a bad cell specification raises ValueError before anything runs.
    """
    c = normalize_cell(cell)
    key = cell_key(cell)
    fn = _resolve(c["kind"])
    t0 = time.perf_counter()
    metrics, extra, error = {}, {}, None
    try:
        out = fn(c, workdir=workdir, key=key) if c["kind"] == "train" else fn(c)
        if not isinstance(out, dict):
            raise TypeError(f"cell function for kind {c['kind']!r} must return a dict, got {type(out).__name__}")
        out = dict(out)
        extra = out.pop("_extra", {}) or {}
        for k, v in out.items():
            if isinstance(v, (bool, np.bool_)):
                metrics[k] = bool(v)
            elif isinstance(v, (numbers.Real, np.floating, np.integer)):
                metrics[k] = float(v) if not isinstance(v, (numbers.Integral, np.integer)) else int(v)
            elif isinstance(v, str) or v is None:
                metrics[k] = v
            else:
                raise TypeError(f"metric {k!r} must be a scalar, got {type(v).__name__}")
    except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
        error = f"{type(e).__name__}: {e}"
        log.warning("cell %s (%s) failed: %s", key, c["kind"], error)
        log.debug("%s", traceback.format_exc())
        metrics, extra = {}, {}
    return {"key": key, "cell": dict(cell), "metrics": metrics, "extra": extra, "error": error,
            "seconds": time.perf_counter() - t0, "version": __version__, "commit": _store.code_commit()}


# ============================================================================================ running
@contextlib.contextmanager
def _single_threaded_env():
    """Workers started inside this block get single-threaded BLAS / OpenMP / Numba."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
    old = {k: os.environ.get(k) for k in names}
    for k in names:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cell_path(cache_dir, key):
    return Path(cache_dir) / f"{key}.json"


def _round_trip(rec):
    """The record as it reads back from its file (so fresh and reused records are identical)."""
    d = json.loads(json.dumps(_store.to_jsonable(rec)))
    d["metrics"] = _store.from_jsonable(d.get("metrics", {}))
    d["extra"] = _store.from_jsonable(d.get("extra", {}))
    return d


def _read_cell(path):
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict) or "metrics" not in d or "key" not in d:
        return None
    d["metrics"] = _store.from_jsonable(d["metrics"])
    d["extra"] = _store.from_jsonable(d.get("extra", {}))
    return d


def _dask_client(scheduler):
    try:
        from distributed import Client
    except ImportError as e:
        raise ImportError("running on a Dask cluster needs the optional 'distributed' package: "
                          "pip install 'wcrnn_dyn[dask]' (or pip install 'dask[distributed]')") from e
    return Client(scheduler, timeout=30, set_as_default=False)


def run_cells(cells, cache_dir, jobs=1, scheduler=None, retry_failed=False, progress=False, isolate=False):
    """Run the cells that have no result file in ``cache_dir`` yet.

    Parameters
    ----------
    cells : list of dict
        The cells (all validated before anything runs).
    cache_dir : str or Path
        Where each record is written (``<key>.json``) and looked up.
    jobs : int, default 1
        Local worker processes.
    scheduler : str, optional
        A Dask scheduler address instead.
    retry_failed : bool, default False
        Rerun cells whose record holds an error.
    progress : bool or None, default False
        Progress bar over the cells (None: in a terminal or a Jupyter kernel).
    isolate : bool, default False
        Use a worker process even for ``jobs=1``.

    Returns
    -------
    (list of dict, int)
        All records in input order, and how many cells were run now.

    Notes
    -----

    Each record (see :func:`run_cell`) is written to ``cache_dir/<key>.json`` atomically as soon as it
    completes (by this process, so the cluster needs no shared file system).  ``jobs`` > 1 uses a local
    process pool (spawned workers with single-threaded BLAS / Numba); ``isolate=True`` uses such a pool even
    for ``jobs=1`` (multi-threaded BLAS on small matrices is up to 10x slower on a loaded machine);
    ``scheduler`` (an address such as ``tcp://127.0.0.1:8786``) an existing Dask cluster.
    Returns ``(records, n_run)``.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cells = [dict(c) for c in cells]
    keys = [cell_key(c) for c in cells]  # validates every cell before anything runs
    for c in cells:
        _resolve(normalize_cell(c)["kind"])
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    done, todo = {}, []
    for c, k in zip(cells, keys):
        if k in done:
            continue
        rec = _read_cell(_cell_path(cache_dir, k))
        if rec is not None and (rec.get("error") is None or not retry_failed):
            done[k] = rec
        elif all(k != kk for kk, _ in todo):
            todo.append((k, c))
    bar = progress_bar(progress, len(todo), "cells", unit="cell")

    def finish(rec):
        _store.write_json(_cell_path(cache_dir, rec["key"]), rec)
        done[rec["key"]] = _round_trip(rec)
        if bar is not None:
            bar.update(1)

    try:
        if not todo:
            pass
        elif scheduler is not None:
            client = _dask_client(scheduler)
            from distributed import as_completed
            try:
                with client.as_current():
                    futs = [client.submit(run_cell, c, pure=False) for _, c in todo]
                    for fut in as_completed(futs):
                        finish(fut.result())
            finally:
                client.close()
        elif (jobs > 1 and len(todo) > 1) or isolate:
            _run_pool(todo, min(jobs, len(todo)), cache_dir, finish, done)
        else:
            for _, c in todo:
                finish(run_cell(c, cache_dir))
    finally:
        if bar is not None:
            bar.close()
    return [done[k] for k in keys], len(todo)


def _run_pool(todo, workers, cache_dir, finish, done):
    """Run cells on spawned single-threaded workers.  A cell that kills its worker (a crash in native code,
    os.abort, the OOM killer) breaks the pool: the cells not finished then run one per fresh worker, and the
    one that breaks its own worker is recorded as failed; the others run as usual."""
    ctx = multiprocessing.get_context("spawn")
    with _single_threaded_env():
        try:
            with _cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
                futs = [ex.submit(run_cell, c, str(cache_dir)) for _, c in todo]
                for fut in _cf.as_completed(futs):
                    finish(fut.result())
            return
        except _cf.process.BrokenProcessPool:
            log.warning("a worker process died; running the unfinished cells one per worker")
        for k, c in todo:
            if k in done:
                continue
            try:
                with _cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
                    finish(ex.submit(run_cell, c, str(cache_dir)).result())
            except _cf.process.BrokenProcessPool:
                finish({"key": k, "cell": dict(c), "metrics": {}, "extra": {}, "seconds": 0.0,
                        "error": "WorkerCrashed: the worker process running this cell died (crash in native "
                                 "code, abort or out of memory)", "version": __version__,
                        "commit": _store.code_commit()})


# ============================================================================================ table
def format_value(v):
    """CSV text of a value.

    Parameters
    ----------
    v : object
        A metric or configuration value.

    Returns
    -------
    str
        Floats with :data:`CSV_DIGITS` significant digits, "" for None, "nan"/"inf"/"-inf", "true"/"false".
    """
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (numbers.Integral, np.integer)):
        return str(int(v))
    if isinstance(v, (numbers.Real, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f"{f:.{CSV_DIGITS}g}"
    return str(v)


def write_table(records, path):
    """Write records to a CSV table (atomically).

    Parameters
    ----------
    records : list of dict
        Records of :func:`run_cell`.
    path : str or Path
        The CSV file.

    Returns
    -------
    (list of str, list of list of str)
        The columns (``kind``, the other configuration keys in first-appearance order, the metric columns
        sorted, ``error``) and the rows as strings.
    """
    cfg_cols = ["kind"]
    for r in records:
        for k in r["cell"]:
            if k not in cfg_cols:
                cfg_cols.append(k)
    met_cols = sorted({k for r in records for k in r["metrics"]})
    cols = cfg_cols + met_cols + ["error"]
    rows = []
    for r in records:
        row = [format_value(r["cell"].get(k)) for k in cfg_cols]
        row += [format_value(r["metrics"].get(k)) for k in met_cols]
        row.append(r.get("error") or "")
        rows.append(row)
    buf = _pyio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    w.writerows(rows)
    _store.atomic_write_text(path, buf.getvalue())
    return cols, rows


def read_table(path):
    """Read a sweep CSV back.

    Parameters
    ----------
    path : str or Path
        A table written by :func:`write_table`.

    Returns
    -------
    list of dict
        One dict of strings per row.
    """
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out_dir, table_path : Path
        The sweep's folder and its CSV table.
    columns, rows : list
        The table.
    records : list of dict
        Every cell's record.
    n_cells, n_run, n_skipped, n_failed : int
        Cells in all, run now, reused, failed.
    """
    out_dir: Path
    table_path: Path
    columns: list
    rows: list
    records: list = field(repr=False)
    n_cells: int = 0
    n_run: int = 0
    n_skipped: int = 0
    n_failed: int = 0


def run_sweep(config, out_dir, jobs=1, scheduler=None, retry_failed=False, progress=False, argv=None,
              isolate=False):
    """Run a sweep into ``out_dir``.

    Parameters
    ----------
    config : dict or str or Path
        A config dict or a TOML file (format: the module docstring).
    out_dir : str or Path
        Cell files go to ``out_dir/cells``, the table to ``out_dir/table.csv``, the config, counts and
        provenance to ``out_dir/results.json``.
    jobs, scheduler, retry_failed, progress, isolate
        As in :func:`run_cells` (give jobs or scheduler, not both).
    argv : list, optional
        The command line, recorded in the provenance.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        For an invalid config, or both jobs > 1 and a scheduler.

    Notes
    -----
    Resumable: cells with a result file are skipped.  A cell that raises, or kills its worker, is recorded
    as failed and the others still run.  Cost: the sum of the cells' costs divided by the workers.
    """
    cfg = load_config(config) if isinstance(config, (str, os.PathLike)) else parse_config(config)
    if scheduler is not None and jobs not in (None, 1):
        raise ValueError("give either jobs (local process pool) or scheduler (Dask), not both")
    out_dir = Path(out_dir)
    cells = expand(cfg)
    records, n_run = run_cells(cells, out_dir / "cells", jobs=jobs or 1, scheduler=scheduler,
                               retry_failed=retry_failed, progress=progress, isolate=isolate)
    table = out_dir / "table.csv"
    cols, rows = write_table(records, table)
    n_failed = sum(1 for r in records if r.get("error"))
    metrics = {"n_cells": len(cells), "n_run": n_run, "n_skipped": len(cells) - n_run, "n_failed": n_failed}
    _store.write_results(out_dir, {"sweep": cfg, "runner": "dask" if scheduler else ("pool" if (jobs or 1) > 1
                                                                                  else "serial")},
                      metrics, argv=argv)
    return SweepResult(out_dir, table, cols, rows, records, len(cells), n_run, len(cells) - n_run, n_failed)
