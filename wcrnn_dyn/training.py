"""Training WCRNNs and Elman RNNs with manual-gradient BPTT: optimisers, schedules, the loop, checkpoints.

The gradients come from :meth:`net.loss_and_grad` (exact backpropagation through time with the adjoint
product, :mod:`wcrnn_dyn._kernels`).  This module adds what a training run needs around them:

* :func:`train` -- mini-batch training (Adam or SGD with momentum), global-norm gradient clipping, learning
  rate schedules, early stopping and best-model selection on a validation set, callbacks, a progress bar,
  atomic checkpoints with exact resume, and divergence handling: a non-finite or exploding loss, a
  non-finite state anywhere in the trajectory or a non-finite gradient rolls the last update back and lowers
  the learning rate, and stops the run (``history.meta["diverged"] = True``, :class:`TrainingDiverged` by
  default) after ``max_lr_reductions`` such events, or at once when it happens at the initial parameters.
  A checkpoint is checked whole (entries, counters against the step budget, shapes) before a resume.
* :func:`evaluate` -- loss and metric (accuracy for classification, MSE for regression), batched.
* :func:`lyapunov_callback` -- a callback recording the top-k Lyapunov exponents during training.

Reproducibility: the mini-batch order comes from ``numpy.random.default_rng(seed)`` (one permutation per
epoch); every other step is deterministic.  A checkpoint stores the parameters, the optimiser state, the
generator state, the current epoch's permutation and position in it, the counters, the history, the best
parameters and the rollback snapshot, so a run resumed from any checkpoint (including one written in the
middle of an epoch) ends with exactly the same parameters as an uninterrupted run.  Checkpoints are written
to a temporary file and renamed (:func:`wcrnn_dyn.store.save_npz`): a crash during the write leaves the
previous checkpoint intact.

Structure of :func:`train`: :class:`TrainConfig` (the validated keyword arguments), :class:`TrainState` (the
counters a checkpoint stores) and a private ``_Trainer`` holding one call's data and optimiser, with one
method per part: ``resume``, ``step`` (one guarded step: ``loss_and_grad`` with the regularizer, ``update``
and, on a failure, ``diverged``: rollback and a lower learning rate), ``after_step`` / ``end_epoch`` (validation,
callbacks, early stopping, checkpoints), ``loop`` and ``finish`` (timing, the divergence verdict, the best
parameters restored).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np

from . import store as _store
from . import threads as _threads
from ._progress import progress_bar
from ._validate import as_array, check_float, check_int, check_net, rng_from, to_numpy
from .models import LOSSES, DivergenceError

__all__ = ["train", "evaluate", "Evaluation", "History", "TrainingDiverged", "lyapunov_callback",
           "load_checkpoint", "set_blas_threads", "OPTIMIZERS", "SCHEDULES", "CHECKPOINT_NAME"]

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = (None, "step", "cosine")
CHECKPOINT_NAME = "checkpoint.npz"
_CKPT_VERSION = 1
#: parameters that receive (decoupled) weight decay; biases and the residual do not
_DECAYED = ("W", "U", "V")


class TrainingDiverged(RuntimeError):
    """Training kept diverging (non-finite loss or gradients, or an overflowing state) after the allowed
    number of learning-rate reductions.  ``.history`` holds the history up to that point; the network holds
    the parameters of the best validation epoch when ``restore_best`` and a validation epoch finished
    (``history.meta["restored_best"]``), else the last finite parameters (the state before the failing update).

    Parameters
    ----------
    message : str
        What happened (also ``history.meta["message"]``).
    history : History, optional
        The history up to the failure.
    """

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


class Evaluation(NamedTuple):
    """Loss and metric of a network on a data set (see :func:`evaluate`)."""
    loss: float
    metric: float


class History(dict):
    """Per-epoch training history: a dict of equally long lists plus run facts in :attr:`meta`.

    Keys: ``epoch`` (1-based), ``step`` (optimizer steps done at the end of the epoch), ``train_loss``
    (mean mini-batch loss over the epoch, before each update), ``val_loss``, ``val_metric`` (NaN without a
    validation set), ``lr`` (learning rate used by the epoch's last step), ``grad_norm`` (mean global
    gradient norm before clipping), ``time`` (cumulative training seconds, including time before a resume).
    Callbacks may add keys (e.g. :func:`lyapunov_callback` adds ``lyap_epoch`` and ``lyap_exponents``).

    ``meta``: ``loss``, ``metric`` ("accuracy" or "mse"), ``best_epoch``, ``best_val_metric``,
    ``stopped_early``, ``diverged``, ``lr_reductions``, ``divergence_events``, ``n_steps``,
    ``total_steps``, ``steps_per_epoch``, ``resumed_at_step``, ``restored_best``, ``message``, and
    ``timing`` (this call's steps, seconds, steps_per_s, loss_and_grad_seconds and
    share_outside_loss_and_grad).

    Parameters
    ----------
    *args, **kwargs
        As for ``dict``: initial lists by key (the missing :attr:`KEYS` start empty).
    """

    KEYS = ("epoch", "step", "train_loss", "val_loss", "val_metric", "lr", "grad_norm", "time")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for k in self.KEYS:
            self.setdefault(k, [])
        self.meta = {}

    def to_dict(self):
        """A JSON-able copy (non-finite numbers stay floats: :func:`wcrnn_dyn.store.to_jsonable` converts them).

        Returns
        -------
        dict
            ``{"history": {key: list}, "meta": {...}}``; :meth:`from_dict` rebuilds the history.
        """
        return {"history": {k: list(v) for k, v in self.items()}, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a history from :meth:`to_dict`'s dict.

        Parameters
        ----------
        d : dict
            ``{"history": {key: list}, "meta": {...}}`` ("meta" optional).

        Returns
        -------
        History
        """
        h = cls({k: list(v) for k, v in d["history"].items()})
        h.meta = dict(d.get("meta", {}))
        return h

    def plot(self, ax=None, **kw):
        """Learning curves (:func:`wcrnn_dyn.plotting.plot_learning_curve`).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into (default: a new figure).
        **kw
            Passed on (e.g. ``x="step"``, ``baseline=...``).

        Returns
        -------
        matplotlib Axes
            Train / validation loss, and the validation accuracy on a twin axis for classification.
        """
        from .plotting import plot_learning_curve
        return plot_learning_curve(self, ax=ax, **kw)[1]

    def __repr__(self):
        n = len(self["epoch"])
        last = ", ".join(f"{k}={self[k][-1]:.4g}" for k in ("train_loss", "val_loss", "val_metric")
                         if self[k] and isinstance(self[k][-1], (int, float)) and not math.isnan(self[k][-1]))
        m = self.meta
        flags = [f"{k}=True" for k in ("diverged", "stopped_early", "restored_best") if m.get(k)]
        return (f"History(epochs={n}, steps={m.get('n_steps')}, {last}"
                f"{', best_epoch=' + str(m['best_epoch']) if m.get('best_epoch') else ''}"
                f"{', ' + ', '.join(flags) if flags else ''})")


# ------------------------------------------------------------------------------------------------
# Losses and evaluation
# ------------------------------------------------------------------------------------------------

def _metric_name(loss):
    return "accuracy" if loss == "cross_entropy" else "mse"


def _higher_is_better(loss):
    return loss == "cross_entropy"


def _infer_loss(y, loss, yname="y"):
    if loss is None:
        if y is None:
            raise TypeError(f"{yname} must be an array of targets, got None")
        y = np.asarray(to_numpy(y))
        return "cross_entropy" if (np.issubdtype(y.dtype, np.integer) and y.ndim == 1) else "mse"
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a string or None, got {type(loss).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES} or None (inferred from y), got {loss!r}")
    return loss


def _check_data(net, X, y, loss, xname, yname):
    X = as_array(X, xname, ndim=3, dtype=net.dtype)
    if X.shape[2] != net.n_in:
        raise ValueError(f"{xname} must have d = n_in = {net.n_in} input channels (last axis), got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{xname} must hold at least one sequence of at least one step, got shape {X.shape}")
    if y is None:
        raise TypeError(f"{yname} must be an array of targets, got None")
    y = to_numpy(y)
    if isinstance(y, (str, bytes, dict, set)):
        raise TypeError(f"{yname} must be an array of targets, got {type(y).__name__}")
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{xname} and {yname} must have the same number of samples, got {X.shape[0]} "
                         f"sequences and {yname} of shape {y.shape}")
    if loss == "mse":
        if y.ndim == 1 and net.n_out == 1:
            y = y[:, None]
        y = as_array(y, yname, shape=(X.shape[0], net.n_out), dtype=net.dtype)
    else:
        if y.ndim != 1:
            raise ValueError(f"{yname} must be integer class labels of shape ({X.shape[0]},) for "
                             f"cross_entropy, got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if (np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
                y = y.astype(np.int64)
            else:
                raise TypeError(f"{yname} must hold integer class labels for cross_entropy, got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= net.n_out:
            raise ValueError(f"{yname} labels must lie in 0..{net.n_out - 1} (n_out = {net.n_out}), got range "
                             f"{y.min()}..{y.max()}")
        y = np.ascontiguousarray(y, dtype=np.int64)
    return X, y


def _loss_metric_from_logits(z, y, loss):
    z = z.astype(np.float64)
    if loss == "mse":
        se = float(np.sum((z - y) ** 2))
        return se, se  # sums; divided by the element count by the caller
    zz = z - z.max(axis=1, keepdims=True)
    logp = zz - np.log(np.exp(zz).sum(axis=1, keepdims=True))
    nll = float(-np.sum(logp[np.arange(z.shape[0]), y]))
    correct = float(np.sum(np.argmax(z, axis=1) == y))
    return nll, correct


def default_max_loss(y, loss, n_out):
    """The loss above which :func:`train` calls a run diverged ("exploding loss") unless ``max_loss`` is given:
    a million times the loss of a trivial predictor of targets ``y`` (MSE: 1e6 (mean(y^2) + 1)), or
    1e3 (log(n_out) + 1) for cross-entropy.  No learning run gets there; the sweep also applies it to the test
    loss (``test_exploded``)."""
    if loss == "mse":
        return 1e6 * (float(np.mean(np.square(np.asarray(y), dtype=np.float64))) + 1.0)
    return 1e3 * (math.log(n_out) + 1.0)


def evaluate(net, X, y, loss=None, batch_size=1024):
    """Loss and metric of ``net`` on (X, y), computed in batches to bound memory.

    Parameters
    ----------
    net : WCRNN or Elman
    X : array_like, shape (n, T, d)
    y : array_like
        (n, n_out) / (n,) floats for "mse", (n,) integer labels for "cross_entropy".
    loss : str, optional
        "mse" or "cross_entropy"; None infers it from ``y`` (integer labels -> cross_entropy).
    batch_size : int, default 1024

    Returns
    -------
    Evaluation
        (loss, metric): for "cross_entropy" the mean negative log-likelihood and the accuracy (fraction in
        [0, 1]); for "mse" the mean squared error (over samples and outputs) twice (metric = loss).  Both
        equal ``net.loss`` on the whole set up to rounding; NaN for both when the forward pass diverges
        (overflowing state, see ``models.DivergenceError``).

    Notes
    -----
    Cost: one forward pass over X (no trajectory stored), memory O(batch_size * N).

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> X, y = wd.tasks.adding(50, 10)
    >>> ev = wd.training.evaluate(wd.WCRNN(2, 8, 1, seed=0), X, y)
    >>> ev._fields, ev.loss == ev.metric
    (('loss', 'metric'), True)
    """
    check_net(net)
    loss = _infer_loss(y, loss)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    X, y = _check_data(net, X, y, loss, "X", "y")
    n = X.shape[0]
    tot_l = tot_m = 0.0
    try:
        for s in range(0, n, batch_size):
            z = net.predict(X[s:s + batch_size])
            lsum, msum = _loss_metric_from_logits(z, y[s:s + batch_size], loss)
            tot_l += lsum
            tot_m += msum
    except DivergenceError:
        log.warning("evaluate: the forward pass diverged; returning NaN")
        return Evaluation(float("nan"), float("nan"))
    denom = n * (net.n_out if loss == "mse" else 1)
    return Evaluation(tot_l / denom, tot_m / denom)


# ------------------------------------------------------------------------------------------------
# Optimisers (state in the network's dtype; plain dicts so that checkpoints can store them)
# ------------------------------------------------------------------------------------------------

class _Optimizer:
    def __init__(self, kind, params, momentum, betas, adam_eps, weight_decay, dtype):
        self.kind = kind
        self.momentum = momentum
        self.b1, self.b2 = betas
        self.adam_eps = adam_eps
        self.weight_decay = weight_decay
        self.t = 0
        self.m = {k: np.zeros_like(v, dtype=dtype) for k, v in params.items()}
        self.v = {k: np.zeros_like(v, dtype=dtype) for k, v in params.items()} if kind == "adam" else {}

    def update(self, params, grads, lr):
        """Return new parameter arrays (the inputs are not modified)."""
        self.t += 1
        new = {}
        if self.kind == "adam":
            c1 = 1.0 - self.b1 ** self.t
            c2 = 1.0 - self.b2 ** self.t
            for k, p in params.items():
                g = grads[k]
                m, v = self.m[k], self.v[k]
                m *= self.b1
                m += (1.0 - self.b1) * g
                v *= self.b2
                v += (1.0 - self.b2) * (g * g)
                step = (lr / c1) * m / (np.sqrt(v / c2) + self.adam_eps)
                q = p - step
                if self.weight_decay and k in _DECAYED:
                    q -= (lr * self.weight_decay) * p
                new[k] = q.astype(p.dtype, copy=False)
        else:
            for k, p in params.items():
                buf = self.m[k]
                buf *= self.momentum
                buf += grads[k]
                q = p - lr * buf
                if self.weight_decay and k in _DECAYED:
                    q -= (lr * self.weight_decay) * p
                new[k] = q.astype(p.dtype, copy=False)
        return new

    def snapshot(self):
        return (self.t, {k: v.copy() for k, v in self.m.items()}, {k: v.copy() for k, v in self.v.items()})

    def restore(self, snap):
        self.t, m, v = snap
        self.m = {k: a.copy() for k, a in m.items()}
        self.v = {k: a.copy() for k, a in v.items()}


def _grad_norm(grads):
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(sum(float(np.dot(g.ravel().astype(np.float64), g.ravel().astype(np.float64)))
                             for g in grads.values()))


def _all_finite(arrs):
    return all(np.all(np.isfinite(a)) for a in arrs.values())


# ------------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------------

def _lr_at(step, *, lr, schedule, total_steps, steps_per_epoch, step_size, gamma, min_lr, warmup_steps):
    """Learning rate of optimizer step ``step`` (0-based), before divergence reductions."""
    if schedule == "step":
        base = lr * gamma ** ((step // steps_per_epoch) // step_size)
    elif schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        p = min(1.0, max(0.0, (step - warmup_steps) / span))
        base = min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))
    else:
        base = lr
    if warmup_steps and step < warmup_steps:
        base *= (step + 1) / warmup_steps
    return base


# ------------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------------

def _fingerprint(net, X, y, settings):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(y).tobytes())
    k = min(X.shape[0], 64)
    h.update(np.ascontiguousarray(X[:k]).tobytes())
    h.update(np.ascontiguousarray(X[-k:]).tobytes())
    shapes = {k: list(v.shape) for k, v in net.get_weights().items()}
    return {"data_sha256": h.hexdigest(), "n_train": int(X.shape[0]), "param_shapes": shapes,
            "dtype": np.dtype(net.dtype).name, **settings}


def _save_checkpoint(path, net, opt, state, history, best_params, prev):
    arrays = {}
    for k, v in net.get_weights().items():
        arrays[f"param_{k}"] = v
    for k, v in opt.m.items():
        arrays[f"opt_m_{k}"] = v
    for k, v in opt.v.items():
        arrays[f"opt_v_{k}"] = v
    if best_params is not None:
        for k, v in best_params.items():
            arrays[f"best_{k}"] = v
    if prev is not None:
        pparams, (pt, pm, pv) = prev
        for k, v in pparams.items():
            arrays[f"prev_param_{k}"] = v
        for k, v in pm.items():
            arrays[f"prev_m_{k}"] = v
        for k, v in pv.items():
            arrays[f"prev_v_{k}"] = v
        state = dict(state, prev_t=pt)
    arrays["perm"] = np.asarray(state["perm"], dtype=np.int64)
    meta = {k: v for k, v in state.items() if k != "perm"}
    meta["opt_t"] = opt.t
    meta["version"] = _CKPT_VERSION
    meta["history"] = history.to_dict()
    meta["has_best"] = best_params is not None
    meta["has_prev"] = prev is not None
    # standard JSON: NaN/inf as "nan"/"inf"/"-inf" strings (wcrnn_dyn.store's convention)
    arrays["meta"] = np.array(json.dumps(_store.to_jsonable(meta), allow_nan=False))
    _store.save_npz(path, **arrays)


#: every meta entry a resumable checkpoint must hold
_META_KEYS = ("step", "epoch", "pos", "lr_scale", "n_reductions", "best_metric", "best_epoch", "bad_epochs",
              "ep_loss_sum", "ep_gn_sum", "ep_count", "elapsed", "finished", "rng_state", "last_lr",
              "fingerprint", "opt_t", "history", "has_best", "has_prev")


def _check_checkpoint(ck, path, net, optimizer, n, total_steps, spe):
    """Check a loaded checkpoint against this run before anything is changed; ValueError naming the problem.

    Counters in range (0 <= step <= total_steps, 0 <= pos < steps per epoch), the permutation (a permutation
    of the n training samples while an epoch is under way), every parameter and optimizer array present with
    the network's shapes and finite, the best/rollback snapshots complete, the generator state restorable.
    """
    meta = ck["meta"]
    bad = []

    def intval(k, lo, hi):
        v = meta[k]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            bad.append(f"{k} = {v!r} (expected an int in {lo}..{hi})")
            return None
        return v

    step = intval("step", 0, total_steps)
    pos = intval("pos", 0, spe - 1)
    intval("epoch", 0, total_steps)
    intval("opt_t", 0, total_steps)
    intval("n_reductions", 0, total_steps)
    intval("ep_count", 0, spe)
    for k in ("lr_scale", "elapsed", "last_lr"):
        v = meta[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            bad.append(f"{k} = {v!r} (expected a finite number >= 0)")
    perm = ck["perm"]
    if step is not None and pos is not None and pos > 0:
        if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
            bad.append(f"perm (a permutation of the {n} training samples expected mid-epoch, got shape "
                       f"{perm.shape})")
    shapes = {k: v.shape for k, v in net.get_weights().items()}

    def group_ok(name, group, dtype_check=True):
        if group is None:
            return
        miss = sorted(set(shapes) - set(group))
        extra = sorted(set(group) - set(shapes))
        if miss:
            bad.append(f"{name} arrays missing: {', '.join(miss)}")
        if extra:
            bad.append(f"{name} arrays not in this network: {', '.join(extra)}")
        for k, v in group.items():
            if k in shapes and v.shape != shapes[k]:
                bad.append(f"{name} {k} has shape {v.shape}, the network's is {shapes[k]}")
            elif k in shapes and (not np.issubdtype(v.dtype, np.floating) or not np.all(np.isfinite(v))):
                bad.append(f"{name} {k} is not a finite float array")

    group_ok("parameter", ck["params"])
    group_ok("optimizer (opt_m)", ck["opt_m"])
    if optimizer == "adam":
        group_ok("optimizer (opt_v)", ck["opt_v"])
    if meta["has_best"]:
        group_ok("best", ck["best"])
    if meta["has_prev"]:
        pparams, (_, pm, pv) = ck["prev"]
        group_ok("rollback (prev_param)", pparams)
        group_ok("rollback (prev_m)", pm)
        if optimizer == "adam":
            group_ok("rollback (prev_v)", pv)
    rs = meta["rng_state"]
    if rs is not None:
        try:
            np.random.default_rng(0).bit_generator.state = rs
        except (TypeError, ValueError, KeyError) as e:
            bad.append(f"rng_state is not a valid generator state ({e})")
    if bad:
        raise ValueError(f"resume: the checkpoint {path} cannot be resumed: {'; '.join(bad)}. Nothing was "
                         "changed; delete it or use another checkpoint_dir to start over")


def load_checkpoint(path):
    """Read a training checkpoint written by :func:`train` (``checkpoint_dir/checkpoint.npz``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``meta`` (counters, generator state, fingerprint, ``history`` as a :class:`History`; non-finite
        numbers as floats, from the current "nan"/"inf" strings or older checkpoints' NaN tokens), ``params``,
        ``opt_m``, ``opt_v``, ``best`` (or None), ``prev`` (or None) and ``perm``.

    Raises
    ------
    ValueError
        Naming the problem if the file is not a readable, complete checkpoint (missing meta entries such as
        ``rng_state`` or ``history``, no ``perm``, malformed history, another checkpoint version).
        :func:`train` checks the rest against the run (counters within the step budget, array shapes)
        before resuming.  Nothing is ever deleted.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, OSError, ValueError ...
        raise ValueError(f"{path}: not a readable training checkpoint ({e})") from e
    if "meta" not in files:
        raise ValueError(f"{path}: not a training checkpoint (no 'meta' entry)")
    try:
        # from_jsonable: "nan"/"inf" strings back to floats; older checkpoints' NaN tokens parse as floats
        meta = _store.from_jsonable(json.loads(str(files.pop("meta"))))
    except ValueError as e:
        raise ValueError(f"{path}: the checkpoint's 'meta' entry is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: the checkpoint's 'meta' entry is not a JSON object")
    if meta.get("version") != _CKPT_VERSION:
        raise ValueError(f"{path}: checkpoint version {meta.get('version')} is not supported")
    missing = [k for k in _META_KEYS if k not in meta]
    if "perm" not in files:
        missing.append("perm (array)")
    if missing:
        raise ValueError(f"{path}: incomplete training checkpoint, missing {', '.join(missing)}; it cannot be "
                         "resumed (delete it or use another checkpoint_dir to start over)")
    if not isinstance(meta["fingerprint"], dict):
        raise ValueError(f"{path}: the checkpoint's fingerprint is malformed (not a JSON object)")
    h = meta["history"]
    if (not isinstance(h, dict) or not isinstance(h.get("history"), dict)
            or not all(isinstance(v, list) for v in h["history"].values())
            or len({len(v) for v in h["history"].values()}) > 1 or any(k not in h["history"] for k in History.KEYS)):
        raise ValueError(f"{path}: the checkpoint's history is malformed (expected equally long lists for "
                         f"{', '.join(History.KEYS)})")
    meta["history"] = History.from_dict(h)
    if files["perm"].ndim != 1 or not np.issubdtype(files["perm"].dtype, np.integer):
        raise ValueError(f"{path}: the checkpoint's perm must be a 1-d integer array, got {files['perm'].dtype} "
                         f"of shape {files['perm'].shape}")

    def group(prefix):
        return {k[len(prefix):]: v for k, v in files.items() if k.startswith(prefix)}

    return {"meta": meta, "params": group("param_"), "opt_m": group("opt_m_"), "opt_v": group("opt_v_"),
            "best": group("best_") if meta["has_best"] else None,
            "prev": (group("prev_param_"), (meta.get("prev_t", 0), group("prev_m_"), group("prev_v_")))
            if meta["has_prev"] else None,
            "perm": files["perm"]}


# ------------------------------------------------------------------------------------------------
# The training loop
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """The validated settings of one :func:`train` call; the fields are its keyword arguments (see there),
    with ``loss`` inferred, ``callbacks`` a tuple and ``betas`` a pair of floats.  Built by
    :meth:`from_arguments`, which raises TypeError / ValueError naming the argument."""
    loss: str
    epochs: int
    steps: Optional[int]
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    betas: tuple
    adam_eps: float
    weight_decay: float
    clip_norm: Optional[float]
    schedule: Optional[str]
    step_size: int
    gamma: float
    min_lr: float
    warmup_steps: int
    seed: Any
    patience: Optional[int]
    min_delta: float
    restore_best: bool
    callbacks: tuple
    progress: Any
    checkpoint_dir: Any
    checkpoint_every_steps: Optional[int]
    resume: bool
    max_lr_reductions: int
    divergence_lr_factor: float
    on_divergence: str
    eval_batch_size: int
    regularizer: Any
    max_loss: Optional[float]

    @classmethod
    def from_arguments(cls, y_train, **args):
        """Check :func:`train`'s keyword arguments (``loss`` inferred from ``y_train`` when None)."""
        a = dict(args)
        a["loss"] = _infer_loss(y_train, a["loss"], "y_train")
        _check_optimizer_args(a)
        _check_schedule_args(a)
        _check_run_args(a)
        return cls(**{f.name: a[f.name] for f in fields(cls)})


def _check_optimizer_args(a):
    """optimizer, lr, momentum, betas, adam_eps, weight_decay and clip_norm (in place)."""
    if not isinstance(a["optimizer"], str) or a["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {a['optimizer']!r}")
    if a["schedule"] is not None and (not isinstance(a["schedule"], str) or a["schedule"] not in SCHEDULES):
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {a['schedule']!r}")
    a["lr"] = check_float(a["lr"], "lr", minimum=0.0, strict_min=True)
    a["momentum"] = check_float(a["momentum"], "momentum", minimum=0.0, maximum=1.0)
    betas = a["betas"]
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    betas = (check_float(betas[0], "betas[0]", minimum=0.0, maximum=1.0),
             check_float(betas[1], "betas[1]", minimum=0.0, maximum=1.0))
    if betas[0] >= 1.0 or betas[1] >= 1.0:
        raise ValueError(f"betas must be < 1, got {betas}")
    a["betas"] = betas
    a["adam_eps"] = check_float(a["adam_eps"], "adam_eps", minimum=0.0, strict_min=True)
    a["weight_decay"] = check_float(a["weight_decay"], "weight_decay", minimum=0.0)
    if a["clip_norm"] is not None:
        a["clip_norm"] = check_float(a["clip_norm"], "clip_norm", minimum=0.0)


def _check_schedule_args(a):
    """batch_size, epochs, steps and the learning-rate schedule's numbers (in place)."""
    a["batch_size"] = check_int(a["batch_size"], "batch_size", minimum=1)
    a["epochs"] = check_int(a["epochs"], "epochs", minimum=1)
    if a["steps"] is not None:
        a["steps"] = check_int(a["steps"], "steps", minimum=1)
    a["step_size"] = check_int(a["step_size"], "step_size", minimum=1)
    a["gamma"] = check_float(a["gamma"], "gamma", minimum=0.0, strict_min=True)
    a["min_lr"] = check_float(a["min_lr"], "min_lr", minimum=0.0)
    a["warmup_steps"] = check_int(a["warmup_steps"], "warmup_steps", minimum=0)


def _check_run_args(a):
    """Early stopping, checkpoints, divergence handling, callbacks, regularizer, max_loss, seed (in place)."""
    if a["patience"] is not None:
        a["patience"] = check_int(a["patience"], "patience", minimum=1)
    a["min_delta"] = check_float(a["min_delta"], "min_delta", minimum=0.0)
    if a["checkpoint_every_steps"] is not None:
        a["checkpoint_every_steps"] = check_int(a["checkpoint_every_steps"], "checkpoint_every_steps", minimum=1)
    a["max_lr_reductions"] = check_int(a["max_lr_reductions"], "max_lr_reductions", minimum=0)
    a["divergence_lr_factor"] = check_float(a["divergence_lr_factor"], "divergence_lr_factor", minimum=0.0,
                                            maximum=1.0, strict_min=True)
    if a["on_divergence"] not in ("raise", "stop"):
        raise ValueError(f"on_divergence must be 'raise' or 'stop', got {a['on_divergence']!r}")
    a["eval_batch_size"] = check_int(a["eval_batch_size"], "eval_batch_size", minimum=1)
    cbs = a["callbacks"]
    cbs = () if cbs is None else (cbs,) if callable(cbs) else tuple(cbs)
    for i, cb in enumerate(cbs):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}] must be callable, got {type(cb).__name__}")
    a["callbacks"] = cbs
    if a["regularizer"] is not None and not callable(a["regularizer"]):
        raise TypeError(f"regularizer must be None or a callable (net, Xbatch) -> (value, grads), got "
                        f"{type(a['regularizer']).__name__}")
    if a["max_loss"] is not None:
        a["max_loss"] = check_float(a["max_loss"], "max_loss", minimum=0.0, strict_min=True, allow_inf=True)
    if a["resume"] and a["checkpoint_dir"] is None:
        raise ValueError("resume=True needs checkpoint_dir")
    seed = a["seed"]
    if not (isinstance(seed, np.random.Generator) or seed is None or isinstance(seed, (numbers.Integral, np.integer))):
        raise TypeError(f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}")


@dataclass
class TrainState:
    """Where a run stands: everything a checkpoint's ``meta`` holds besides the optimiser and the history
    (``perm``, the current epoch's sample order, is stored as an array)."""
    fingerprint: dict
    last_lr: float
    step: int = 0
    epoch: int = 0
    pos: int = 0                       # batches done in the current epoch
    perm: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lr_scale: float = 1.0              # product of the divergence reductions
    n_reductions: int = 0
    best_metric: Optional[float] = None
    best_epoch: Optional[int] = None
    bad_epochs: int = 0
    ep_loss_sum: float = 0.0
    ep_gn_sum: float = 0.0
    ep_count: int = 0
    elapsed: float = 0.0
    finished: bool = False
    rng_state: Optional[dict] = None


#: the state entries a resume restores from a checkpoint's meta (the fingerprint is compared instead)
_RESUMED = ("step", "epoch", "pos", "lr_scale", "n_reductions", "best_metric", "best_epoch", "bad_epochs",
            "ep_loss_sum", "ep_gn_sum", "ep_count", "elapsed", "finished", "rng_state", "last_lr")


def _new_history(cfg, total_steps, spe):
    history = History()
    history.meta.update(loss=cfg.loss, metric=_metric_name(cfg.loss), best_epoch=None, best_val_metric=None,
                        stopped_early=False, diverged=False, lr_reductions=0, divergence_events=[],
                        n_steps=0, total_steps=total_steps, steps_per_epoch=spe, resumed_at_step=None,
                        restored_best=False, message="")
    return history


class _Trainer:
    """One :func:`train` call: the data, the optimiser, the state, and the steps of the loop."""

    def __init__(self, net, cfg, X_train, y_train, X_val, y_val):
        self.net, self.cfg = net, cfg
        self.rng = cfg.seed if isinstance(cfg.seed, np.random.Generator) else rng_from(cfg.seed)
        self.X, self.y = _check_data(net, X_train, y_train, cfg.loss, "X_train", "y_train")
        self.has_val = X_val is not None or y_val is not None
        if self.has_val:
            if X_val is None or y_val is None:
                raise ValueError("give both X_val and y_val, or neither")
            X_val, y_val = _check_data(net, X_val, y_val, cfg.loss, "X_val", "y_val")
        self.X_val, self.y_val = X_val, y_val
        self.max_loss = cfg.max_loss
        if self.max_loss is None:
            self.max_loss = default_max_loss(self.y, cfg.loss, net.n_out)
        self.n = self.X.shape[0]
        self.spe = -(-self.n // cfg.batch_size)
        self.total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * self.spe
        self.sched = dict(lr=cfg.lr, schedule=cfg.schedule, total_steps=self.total_steps,
                          steps_per_epoch=self.spe, step_size=cfg.step_size, gamma=cfg.gamma, min_lr=cfg.min_lr,
                          warmup_steps=cfg.warmup_steps)
        seed = cfg.seed if not isinstance(cfg.seed, np.random.Generator) else "generator"
        fp = _fingerprint(net, self.X, self.y, {"batch_size": cfg.batch_size, "total_steps": self.total_steps,
                                                "optimizer": cfg.optimizer, "loss": cfg.loss, "seed": seed})
        self.opt = _Optimizer(cfg.optimizer, net.get_weights(), cfg.momentum, cfg.betas, cfg.adam_eps,
                              cfg.weight_decay, net.dtype)
        self.history = _new_history(cfg, self.total_steps, self.spe)
        self.state = TrainState(fingerprint=fp, last_lr=cfg.lr)
        self.best_params = None
        self.prev = None  # (params, optimizer snapshot) before the latest successful update: rollback target
        self.ckpt_path = None
        if cfg.checkpoint_dir is not None:
            self.ckpt_path = Path(cfg.checkpoint_dir) / CHECKPOINT_NAME
            Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        self.t_lg = 0.0  # seconds in loss_and_grad during this call (meta["timing"])

    # ---------------------------------------------------------------- resume and checkpoints
    def resume(self):
        """Continue from the checkpoint when there is one; True if that run had already finished."""
        path, st, net = self.ckpt_path, self.state, self.net
        if path is None or not path.exists():
            return False
        ck = load_checkpoint(path)
        meta = ck["meta"]
        fp, old_fp = st.fingerprint, meta["fingerprint"]
        diff = [k for k in set(fp) | set(old_fp) if fp.get(k) != old_fp.get(k)]
        if diff:
            raise ValueError(f"resume: the checkpoint {path} was written by a run with different "
                             f"{', '.join(sorted(diff))}; use a new checkpoint_dir or resume=False")
        _check_checkpoint(ck, path, net, self.cfg.optimizer, self.n, self.total_steps, self.spe)
        net.set_weights(ck["params"])
        self.opt.t = int(meta["opt_t"])
        self.opt.m = {k: v.astype(net.dtype) for k, v in ck["opt_m"].items()}
        self.opt.v = {k: v.astype(net.dtype) for k, v in ck["opt_v"].items()}
        self.best_params, self.prev, self.history = ck["best"], ck["prev"], meta["history"]
        for k in _RESUMED:
            setattr(st, k, meta[k])
        st.perm = ck["perm"]
        self.rng.bit_generator.state = meta["rng_state"]
        self.history.meta["resumed_at_step"] = st.step
        log.info("resumed from %s at step %d (epoch %d, batch %d)", path, st.step, st.epoch, st.pos)
        return bool(st.finished)

    def checkpoint(self):
        if self.ckpt_path is None:
            return
        self.state.rng_state = self.rng.bit_generator.state
        _save_checkpoint(self.ckpt_path, self.net, self.opt, dict(vars(self.state)), self.history,
                         self.best_params, self.prev)

    # ---------------------------------------------------------------- one step
    def loss_and_grad(self, idx):
        """(L, grads, failure) of the batch ``idx``, the regularizer's value and gradients included;
        ``failure`` names a divergence (then L and grads are not to be used), else None."""
        Xb = self.X[idx]
        t0 = time.perf_counter()
        try:
            L, grads = self.net.loss_and_grad(Xb, self.y[idx], loss=self.cfg.loss)
        except DivergenceError as e:
            return None, None, f"state overflow or non-finite loss/gradient ({e})"
        finally:
            self.t_lg += time.perf_counter() - t0
        if self.cfg.regularizer is not None:
            try:
                r_val, r_grads = self.cfg.regularizer(self.net, Xb)
            except DivergenceError as e:
                return None, None, f"regularizer: {e}"
            extra = sorted(set(r_grads) - set(grads))
            if extra:
                raise ValueError(f"regularizer returned gradients for unknown parameters {extra}")
            L = L + float(r_val)
            grads = {k: (g + np.asarray(r_grads[k], dtype=g.dtype)) if k in r_grads else g
                     for k, g in grads.items()}
        if not math.isfinite(L):
            return L, grads, f"non-finite loss {L}"
        if L > self.max_loss:
            return L, grads, (f"exploding loss {L:.3g} > max_loss = {self.max_loss:.3g} (the state or the "
                              "outputs grow without bound)")
        if not _all_finite(grads):
            return L, grads, "non-finite gradient"
        return L, grads, None

    def update(self, L, grads, lr_now):
        """Clip and apply one optimiser update; the failure (a string) if it cannot be made, else None."""
        gn = _grad_norm(grads)
        if not math.isfinite(gn):
            return "gradient norm overflow"
        clip = self.cfg.clip_norm
        if clip and gn > clip:
            s = clip / gn
            grads = {k: (g * s).astype(g.dtype, copy=False) for k, g in grads.items()}
        cur = self.net.get_weights()
        snap = (cur, self.opt.snapshot())
        new = self.opt.update(cur, grads, lr_now)
        if not _all_finite(new):
            self.opt.restore(snap[1])
            return "non-finite parameters after the update"
        self.net.set_weights(new)
        self.prev = snap
        st = self.state
        st.ep_loss_sum += float(L)
        st.ep_gn_sum += gn
        st.ep_count += 1
        return None

    def diverged(self, failure, hopeless):
        """Roll the last update back and lower the learning rate; "diverged" when the run must stop."""
        st, cfg = self.state, self.cfg
        if self.prev is not None:  # undo the update that led here
            self.net.set_weights(self.prev[0])
            self.opt.restore(self.prev[1])
        st.n_reductions += 1
        st.lr_scale *= cfg.divergence_lr_factor
        ev = {"step": st.step, "reason": failure, "lr_scale": st.lr_scale}
        self.history.meta["divergence_events"].append(ev)
        self.history.meta["lr_reductions"] = st.n_reductions
        log.warning("training step %d diverged (%s): rolled back the last update; learning rate scale "
                    "now %.3g (%d of %d reductions)", st.step, failure, st.lr_scale, st.n_reductions,
                    cfg.max_lr_reductions)
        if hopeless:
            ev["reason"] = (f"{failure} at the initial parameters, before any update (nothing to roll "
                            "back; a smaller learning rate cannot help)")
            return "diverged"
        return "diverged" if st.n_reductions > cfg.max_lr_reductions else None

    def step(self):
        """One guarded optimiser step on the next batch; the stop reason ("diverged") or None."""
        st, bs = self.state, self.cfg.batch_size
        if st.pos == 0:
            st.perm = self.rng.permutation(self.n)
            st.ep_loss_sum = st.ep_gn_sum = 0.0
            st.ep_count = 0
        idx = st.perm[st.pos * bs:st.pos * bs + bs]
        lr_now = _lr_at(st.step, **self.sched) * st.lr_scale
        L, grads, failure = self.loss_and_grad(idx)
        # a failure of the loss/gradient at parameters no update has changed (the first step of a run):
        # there is nothing to roll back and a smaller learning rate cannot change them -> stop at once
        hopeless = failure is not None and self.prev is None
        if failure is None:
            failure = self.update(L, grads, lr_now)
        stop_reason = None if failure is None else self.diverged(failure, hopeless)
        st.last_lr = lr_now
        st.pos += 1
        st.step += 1
        return stop_reason

    # ---------------------------------------------------------------- the loop
    def after_step(self, stop_reason, bar, t_start):
        """Progress bar, end of epoch (validation, callbacks, best parameters) and checkpoints after a step;
        returns the stop reason."""
        st = self.state
        if bar is not None:
            bar.update(1)
            if st.ep_count:
                bar.set_postfix(loss=f"{st.ep_loss_sum / st.ep_count:.4g}", refresh=False)
        if st.pos >= self.spe or st.step >= self.total_steps or stop_reason is not None:
            stop_reason = self.end_epoch(t_start, stop_reason, bar)
            st.pos = 0
            st.epoch += 1
            st.elapsed = time.perf_counter() - t_start
            self.history.meta["n_steps"] = st.step
            if stop_reason is not None or st.step >= self.total_steps:
                st.finished = True
            self.checkpoint()
        elif self.cfg.checkpoint_every_steps and st.step % self.cfg.checkpoint_every_steps == 0:
            st.elapsed = time.perf_counter() - t_start
            self.history.meta["n_steps"] = st.step
            self.checkpoint()
        return stop_reason

    def end_epoch(self, t_start, stop_reason, bar):
        """Validate, record the epoch in the history, track the best metric, run the callbacks and early
        stopping; returns the stop reason."""
        st, cfg, history = self.state, self.cfg, self.history
        epoch, metric_name = st.epoch + 1, _metric_name(cfg.loss)
        tl = st.ep_loss_sum / st.ep_count if st.ep_count else float("nan")
        gn = st.ep_gn_sum / st.ep_count if st.ep_count else float("nan")
        if self.has_val:
            vl, vm = evaluate(self.net, self.X_val, self.y_val, loss=cfg.loss, batch_size=cfg.eval_batch_size)
        else:
            vl = vm = float("nan")
        for k, v in (("epoch", epoch), ("step", st.step), ("train_loss", tl), ("val_loss", vl), ("val_metric", vm),
                     ("lr", st.last_lr), ("grad_norm", gn), ("time", time.perf_counter() - t_start)):
            history[k].append(v)
        self.track_best(vm, epoch)
        if self.has_val and st.best_epoch == epoch:
            self.best_params = self.net.get_weights()      # the parameters just validated, before any callback
        log.info("epoch %d (step %d): train_loss %.5g  val_loss %.5g  val_%s %.5g  lr %.3g  |g| %.3g", epoch,
                 st.step, tl, vl, metric_name, vm, st.last_lr, gn)
        if bar is not None:
            bar.set_postfix(loss=f"{tl:.4g}", **({f"val_{metric_name}": f"{vm:.4g}"} if self.has_val else {}))
        for cb in cfg.callbacks:
            if cb(self.net, epoch, history) is True and stop_reason is None:
                stop_reason = "callback"
                history.meta["message"] = f"stopped by callback {getattr(cb, '__name__', cb)!r} at epoch {epoch}"
        if stop_reason is None and cfg.patience is not None and self.has_val and st.bad_epochs >= cfg.patience:
            stop_reason = "early_stopping"
            history.meta["stopped_early"] = True
            history.meta["message"] = (f"early stopping at epoch {epoch}: no improvement of val_{metric_name} "
                                       f"for {cfg.patience} epochs")
            log.info(history.meta["message"])
        return stop_reason

    def track_best(self, vm, epoch):
        """Best validation metric so far and the epochs without improvement (by more than min_delta)."""
        st, cfg = self.state, self.cfg
        if self.has_val and math.isfinite(vm):
            best = st.best_metric
            higher = _higher_is_better(cfg.loss)
            improved = best is None or (vm > best + cfg.min_delta if higher else vm < best - cfg.min_delta)
            if improved:
                st.best_metric, st.best_epoch, st.bad_epochs = vm, epoch, 0
            else:
                st.bad_epochs += 1
        elif self.has_val:
            st.bad_epochs += 1
        self.history.meta["best_epoch"] = st.best_epoch
        self.history.meta["best_val_metric"] = st.best_metric

    def loop(self):
        """Steps until the budget is spent or a stop reason comes up; returns it (None at the budget's end)."""
        st = self.state
        bar = progress_bar(self.cfg.progress, self.total_steps, "train", initial=st.step)
        t_start = time.perf_counter() - st.elapsed
        stop_reason = None
        try:
            while st.step < self.total_steps and stop_reason is None:
                stop_reason = self.after_step(self.step(), bar, t_start)
        finally:
            if bar is not None:
                bar.close()
        return stop_reason

    def finish(self, stop_reason, t_run, step_run):
        """Timing, then the divergence verdict (raise or return) or the best parameters restored."""
        st, meta, cfg = self.state, self.history.meta, self.cfg
        meta["n_steps"] = st.step
        wall = time.perf_counter() - t_run
        meta["timing"] = {
            "steps": st.step - step_run, "seconds": wall,
            "steps_per_s": (st.step - step_run) / wall if wall > 0 else float("nan"),
            "loss_and_grad_seconds": self.t_lg,
            "share_outside_loss_and_grad": 1.0 - self.t_lg / wall if wall > 0 else float("nan")}
        if stop_reason != "diverged":
            _finish(self.net, self.history, self.best_params, cfg.restore_best and self.has_val)
            return self.history
        last = meta["divergence_events"][-1]
        if st.n_reductions > cfg.max_lr_reductions:
            what = (f"{st.n_reductions} divergence events (non-finite loss/gradient or overflowing state) "
                    f"exceeded max_lr_reductions={cfg.max_lr_reductions}")
        else:
            what = f"stopped at step {last['step']}"
        if cfg.restore_best and self.has_val and self.best_params is not None:
            _finish(self.net, self.history, self.best_params, True)
            held = f"the parameters of the best validation epoch ({st.best_epoch})"
        else:
            held = "the last finite parameters"
        msg = (f"training diverged: {what}; last: {last['reason']}. The network holds {held}. "
               "Lower lr, use a (more) subcritical residual (mu < 1) or a smaller eps.")
        meta["diverged"] = True
        meta["message"] = msg
        log.warning(msg)
        if cfg.on_divergence == "raise":
            raise TrainingDiverged(msg, self.history)
        return self.history


#: train's keyword arguments that make up a TrainConfig
_CONFIG_ARGS = frozenset(f.name for f in fields(TrainConfig))


def train(net, X_train, y_train, X_val=None, y_val=None, *, loss=None, epochs=10, steps=None, batch_size=64,
          optimizer="adam", lr=1e-3, momentum=0.9, betas=(0.9, 0.999), adam_eps=1e-8, weight_decay=0.0,
          clip_norm=1.0, schedule=None, step_size=1, gamma=0.5, min_lr=0.0, warmup_steps=0, seed=0,
          patience=None, min_delta=0.0, restore_best=True, callbacks=(), progress=None, checkpoint_dir=None,
          checkpoint_every_steps=None, resume=False, max_lr_reductions=3, divergence_lr_factor=0.5,
          on_divergence="raise", eval_batch_size=1024, regularizer=None, max_loss=None):
    """Train ``net`` in place by mini-batch BPTT; return a :class:`History`.  All arguments after the data
    are keyword-only.

    Parameters
    ----------
    net : WCRNN or Elman; trained in its own dtype (float32 or float64).
    X_train, y_train : (n, T, d) inputs and targets: (n, n_out) or (n,) floats for "mse", (n,) integer
        labels in 0..n_out-1 for "cross_entropy".  X_val, y_val : optional validation set (same format).
    loss : "mse" or "cross_entropy"; None infers it (integer 1-d labels -> "cross_entropy", else "mse").
    epochs : passes over the training set (default 10); ignored when ``steps`` is given.
    steps : total number of optimizer steps (the last epoch may then be partial).
    batch_size : mini-batch size (default 64); the last batch of an epoch may be smaller.
    optimizer : "adam" (default; ``betas``, ``adam_eps``) or "sgd" (heavy-ball ``momentum``, default 0.9).
    lr : learning rate > 0 (default 1e-3).
    weight_decay : decoupled weight decay on W, U, V (p -= lr * weight_decay * p); default 0.
    clip_norm : global-norm gradient clipping threshold (default 1.0); None or 0 disables clipping.
    schedule : None (constant), "step" (lr * gamma every ``step_size`` epochs) or "cosine" (from lr to
        ``min_lr`` over the run); ``warmup_steps`` ramps lr linearly from lr / warmup_steps in any schedule.
    seed : int or Generator for the mini-batch order (one permutation per epoch); nothing else is random.
    patience : early stopping after this many epochs without an improvement of the validation metric by
        more than ``min_delta`` (None: never).  restore_best : at the end, restore the parameters with the
        best validation metric (accuracy for classification, MSE for regression); needs a validation set.
    callbacks : callables ``cb(net, epoch, history)`` called at the end of every epoch (after validation,
        before the checkpoint); one returning True stops training.
    regularizer : None (default) or a callable ``reg(net, Xbatch) -> (value, grads)``: ``value`` is added to
        every step's loss (so ``train_loss`` includes it) and ``grads`` (a dict with some of the parameter
        keys) to the loss gradient before clipping; e.g. :func:`wcrnn_dyn.flossing.flossing_regularizer`
        (gradient flossing during training; its cost adds to every step).
    progress : tqdm progress bar (None, the default: when stderr is a terminal or inside a Jupyter kernel).
    checkpoint_dir : directory for ``checkpoint.npz``, written atomically at the end of every epoch and every
        ``checkpoint_every_steps`` steps.  resume : continue from that checkpoint when it exists (the data,
        batch size, seed, step budget, loss, optimizer and parameter shapes must match; ValueError otherwise).
    max_lr_reductions, divergence_lr_factor, on_divergence : when a step yields a non-finite loss or gradient,
        an overflowing state (``models.DivergenceError``) or non-finite parameters, the last update is rolled
        back (parameters and optimizer state restored), the learning rate is multiplied by
        ``divergence_lr_factor`` (default 0.5) and training goes on with the next batch.  After more than
        ``max_lr_reductions`` (default 3) such events the run stops: ``on_divergence="raise"`` (default) raises
        :class:`TrainingDiverged` (with ``.history``), ``"stop"`` returns the history with
        ``history.meta["diverged"] = True``; either way a warning is logged and the network keeps the parameters
        of the best validation epoch (``restore_best`` and a finished validation epoch) or else the last finite
        parameters.  A non-finite loss, state (anywhere in the trajectory) or gradient at the very first
        step, before any update, stops the run at once the same way (nothing can be rolled back and a smaller
        learning rate cannot change the initial parameters): a run never ends with ``diverged = False`` and
        no successful update.
    eval_batch_size : batch size of validation passes (memory bound).
    max_loss : a finite mini-batch loss above this counts as divergence too ("exploding loss", handled like a
        non-finite one: rollback, or an immediate stop at the initial parameters).  Default None: a million
        times the loss of a trivial predictor, 1e6 (mean(y_train^2) + 1) for "mse" and 1e3 (log n_out + 1)
        for "cross_entropy"; ``math.inf`` disables the check.  E.g. a supercritical residual (mu = 1.5) over
        T = 50 steps gives losses ~1e15 and stops at step 0 with ``diverged = True``.

    Returns
    -------
    History: per-epoch lists (epoch, step, train_loss, val_loss, val_metric, lr, grad_norm, time) and
    ``history.meta`` (best epoch and metric, early stop / divergence flags, step counts, and ``timing``: this
    call's steps, seconds, steps_per_s and share_outside_loss_and_grad, the share of the wall time spent on
    batching, the optimiser, validation, callbacks and checkpoints).

    Cost: one forward + backward pass per step, O(batch_size * T * N^2), plus one forward pass over the
    validation set per epoch.  Memory: the batch trajectory (3 * batch_size * T * N values).

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> X, y = wd.tasks.adding(200, 10, seed=0)
    >>> Xv, yv = wd.tasks.adding(50, 10, seed=1)
    >>> net = wd.WCRNN(2, 16, 1, eps=0.1, seed=0)
    >>> hist = wd.train(net, X, y, Xv, yv, epochs=3, lr=1e-2, progress=False)
    >>> len(hist["epoch"]), hist.meta["diverged"], hist.meta["metric"]
    (3, False, 'mse')
    >>> hist["val_loss"][-1] < hist["val_loss"][0]
    True
    """
    check_net(net)
    cfg = TrainConfig.from_arguments(y_train, **{k: v for k, v in locals().items() if k in _CONFIG_ARGS})
    trainer = _Trainer(net, cfg, X_train, y_train, X_val, y_val)
    if cfg.resume and trainer.resume():
        log.info("the checkpointed run had finished; nothing to do")
        _finish(net, trainer.history, trainer.best_params, cfg.restore_best and trainer.has_val)
        return trainer.history
    t_run, step_run = time.perf_counter(), trainer.state.step  # throughput of this call (meta["timing"])
    return trainer.finish(trainer.loop(), t_run, step_run)


def _finish(net, history, best_params, restore):
    if restore and best_params is not None:
        net.set_weights(best_params)
        history.meta["restored_best"] = True


# ------------------------------------------------------------------------------------------------
# Callbacks
# ------------------------------------------------------------------------------------------------

def lyapunov_callback(X, k, every=1, **kwargs):
    """A callback recording the top-``k`` Lyapunov exponents of the network every ``every`` epochs.

    Parameters
    ----------
    X : array_like
        (T, d) or (B, T, d) driving input(s).
    k : int
        Number of exponents.
    every : int, default 1
        Epochs between two computations.
    **kwargs
        Passed to :func:`wcrnn_dyn.lyapunov_spectrum` (e.g. ``burn_in``, ``seed``).

    Returns
    -------
    callable
        ``cb(net, epoch, history)`` for :func:`train`'s ``callbacks``: appends to ``history["lyap_epoch"]``
        and ``history["lyap_exponents"]`` (list of k floats, descending, natural log per step).  Exponents
        are NaN if the spectrum cannot be computed (the error is logged, training continues).

    Notes
    -----
    Cost: one Lyapunov spectrum computation, O(T N^2 k) per call.
    """
    k = check_int(k, "k", minimum=1)
    every = check_int(every, "every", minimum=1)
    X = np.asarray(X)

    def _cb(net, epoch, history):
        if epoch % every:
            return None
        from .lyapunov import lyapunov_spectrum  # imported lazily
        try:
            res = lyapunov_spectrum(net, X, k=k, **kwargs)
            ex = [float(v) for v in np.asarray(res.exponents)[:k]]
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as e:
            log.warning("lyapunov_callback: spectrum failed at epoch %d: %s", epoch, e)
            ex = [float("nan")] * k
        history.setdefault("lyap_epoch", []).append(epoch)
        history.setdefault("lyap_exponents", []).append(ex)
        return None

    _cb.__name__ = f"lyapunov_callback(k={k}, every={every})"
    return _cb


# ------------------------------------------------------------------------------------------------
# BLAS threads
# ------------------------------------------------------------------------------------------------

def set_blas_threads(n):
    """Set the thread count of every BLAS library (NumPy's and SciPy's OpenBLAS, the latter used by Numba's
    ``np.dot``) loaded in this process, through threadpoolctl (:func:`wcrnn_dyn.threads.set_blas_threads`).

    Parameters
    ----------
    n : int
        Threads (>= 1).

    Returns
    -------
    int
        The number of libraries changed (0 where none is found).

    The recurrent kernels issue one small GEMM per time step; with several BLAS threads on a machine whose
    cores are busy, the threads' synchronisation costs far more than the product (measured here: 10x slower
    training on 2 shared cores).  ``wcrnn-dyn train`` therefore uses 1 thread unless told otherwise.  The
    batch chunks of ``loss_and_grad`` set single-threaded BLAS for their own duration whatever this says.
    """
    n = check_int(n, "n", minimum=1)
    return _threads.set_blas_threads(n)


