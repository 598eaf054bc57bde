"""``wcrnn-dyn train``: train a WCRNN (or Elman RNN) on a benchmark task and write results.

Writes under ``--out DIR``: ``results.json`` (config, metrics incl. ``test_mse`` or ``test_accuracy``,
history, provenance), ``results.npz`` (history arrays), ``model.npz`` (the trained network, ``net.save``),
``learning_curve.png``; while running, ``checkpoint/checkpoint.npz`` (atomic; ``--resume`` continues from
it; removed at the end unless ``--keep-checkpoint``).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HELP = "train a WCRNN / Elman RNN on adding, smnist, psmnist, scifar10 or digits (manual BPTT)"
DESCRIPTION = (HELP + ".  Unset options take per-task defaults (see docs/TRAINING.md): adding: N=64, "
               "scaled identity mu=0.99, eps=0.1, Adam lr=1e-2 with a cosine schedule, batch 50, 5000 steps "
               "on 10,000 generated sequences; smnist/psmnist: N=128, rotational mu=0.99, eps=0.05, lr=2e-3, "
               "batch 128, float32.")

log = logging.getLogger("wcrnn_dyn.cli.train")

TASK_CHOICES = ("adding", "smnist", "psmnist", "scifar10", "digits")

#: Per-task defaults for every option left unset on the command line.
DEFAULTS = {
    "adding": dict(seq_len=100, hidden=64, residual="scaled_identity", mu=0.99, eps=0.1, lr=1e-2, batch_size=50,
                   steps=5000, epochs=None, schedule="cosine", n_train=10000, n_val=1000, n_test=2000,
                   dtype="float64", clip=1.0),
    "smnist": dict(seq_len=None, hidden=128, residual="rotational", mu=0.99, eps=0.05, lr=2e-3, batch_size=128,
                   steps=None, epochs=20, schedule="cosine", n_train=None, n_val=None, n_test=None,
                   dtype="float32", clip=1.0),
    "psmnist": dict(seq_len=None, hidden=128, residual="rotational", mu=0.99, eps=0.05, lr=2e-3, batch_size=128,
                    steps=None, epochs=20, schedule="cosine", n_train=None, n_val=None, n_test=None,
                    dtype="float32", clip=1.0),
    "scifar10": dict(seq_len=None, hidden=128, residual="rotational", mu=0.99, eps=0.05, lr=2e-3,
                     batch_size=128, steps=None, epochs=20, schedule="cosine", n_train=None, n_val=None,
                     n_test=None, dtype="float32", clip=1.0),
    "digits": dict(seq_len=None, hidden=64, residual="scaled_identity", mu=0.99, eps=0.1, lr=5e-3, batch_size=32,
                   steps=None, epochs=30, schedule="cosine", n_train=None, n_val=None, n_test=None,
                   dtype="float64", clip=1.0),
}


def add_arguments(p):
    from ..build import family_names
    p.add_argument("--task", required=True, choices=TASK_CHOICES, help="benchmark task")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_argument_group("data")
    g.add_argument("--seq-len", "-T", type=int, default=None, help="adding: sequence length (default 100)")
    g.add_argument("--n-train", "--limit", dest="n_train", type=int, default=None,
                   help="number of training sequences (adding: generated, default 10000; others: the first "
                        "n of the training split, default all)")
    g.add_argument("--n-val", type=int, default=None, help="number of validation sequences (default: task's)")
    g.add_argument("--n-test", type=int, default=None, help="number of test sequences (default: task's)")
    g.add_argument("--data-dir", default=None, help="where the task's data lies (see `wcrnn-dyn data`)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="wcrnn", choices=("wcrnn", "elman"), help="network kind")
    m.add_argument("--init", default="wcri", choices=("default", "orthogonal", "identity", "wcri"),
                   help="Elman initialisation")
    m.add_argument("--hidden", "-N", type=int, default=None, help="hidden units N")
    m.add_argument("--residual", default=None, choices=family_names(), metavar="FAMILY",
                   help="residual family: " + ", ".join(family_names()))
    m.add_argument("--mu", type=float, default=None, help="residual scale mu")
    m.add_argument("--mu-min", type=float, default=None, help="heterogeneous: smallest mu (default mu - 0.1)")
    m.add_argument("--eps", type=float, default=None, help="coupling constant eps")
    m.add_argument("--gain-scale", type=float, default=1.0, help="nonlinear residual: tanh saturation scale")
    m.add_argument("--w-scale", type=float, default=1.0,
                   help="WCRNN: initial W ~ N(0, w_scale^2 / N); a small value keeps rho(Lambda + eps W) near "
                        "mu at the start (e.g. mu = 1 for long memory)")
    m.add_argument("--activation", default="tanh", choices=("tanh", "relu", "identity"))
    m.add_argument("--trainable-residual", action="store_true", help="train the residual too")
    m.add_argument("--dtype", default=None, choices=("float32", "float64"), help="training precision")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=None, help="passes over the training set")
    o.add_argument("--steps", type=int, default=None, help="optimizer steps (overrides --epochs)")
    o.add_argument("--lr", type=float, default=None, help="learning rate")
    o.add_argument("--batch-size", type=int, default=None)
    o.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    o.add_argument("--schedule", default=None, choices=("none", "step", "cosine"), help="lr schedule")
    o.add_argument("--clip", type=float, default=None, help="global gradient-norm clipping (0: off)")
    o.add_argument("--weight-decay", type=float, default=0.0)
    o.add_argument("--patience", type=int, default=None, help="early stopping patience in epochs")
    o.add_argument("--seed", type=int, default=0, help="seed for weights, mini-batch order and generated data")
    r = p.add_argument_group("run")
    r.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint if present")
    r.add_argument("--checkpoint-every", type=int, default=None,
                   help="also checkpoint every this many steps (default: every epoch only, and every 500 "
                        "steps)")
    r.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint after the run ends")
    r.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (the per-step GEMMs are small: more threads only pay on idle cores)")
    r.add_argument("--no-figure", action="store_true", help="skip the learning-curve figure")


def _resolve(args):
    d = dict(DEFAULTS[args.task])
    cfg = {}
    for k in ("seq_len", "hidden", "residual", "mu", "eps", "lr", "batch_size", "steps", "epochs", "n_train",
              "n_val", "n_test", "dtype", "clip"):
        v = getattr(args, k)
        cfg[k] = d[k] if v is None else v
    if args.steps is None and args.epochs is not None:
        cfg["steps"] = None
    if cfg["steps"] is None and cfg["epochs"] is None:
        cfg["epochs"] = 10
    sched = d["schedule"] if args.schedule is None else args.schedule
    cfg["schedule"] = None if sched == "none" else sched
    if args.task != "adding" and args.seq_len is not None:
        raise ValueError(f"--seq-len applies to the adding task only (task {args.task} has a fixed length)")
    for k in ("hidden", "batch_size", "seq_len", "n_train", "n_val", "n_test", "steps", "epochs"):
        if cfg[k] is not None and cfg[k] < 1:
            raise ValueError(f"--{k.replace('_', '-')} must be >= 1, got {cfg[k]}")
    if cfg["lr"] <= 0:
        raise ValueError(f"--lr must be > 0, got {cfg['lr']}")
    if not args.w_scale >= 0:
        raise ValueError(f"--w-scale must be >= 0, got {args.w_scale}")
    if args.model == "elman" and args.w_scale != 1.0:
        raise ValueError("--w-scale applies to --model wcrnn only (Elman uses --init)")
    cfg.update(task=args.task, model=args.model, init=args.init if args.model == "elman" else None, activation=args.activation,
               mu_min=args.mu_min, gain_scale=args.gain_scale, w_scale=args.w_scale,
               trainable_residual=args.trainable_residual,
               optimizer=args.optimizer, weight_decay=args.weight_decay, patience=args.patience, seed=args.seed,
               data_dir=args.data_dir, blas_threads=args.threads)
    return cfg


def _data_kw(cfg):
    return dict(T=cfg["seq_len"], seed=cfg["seed"], dtype=np.dtype(cfg["dtype"]).type, data_dir=cfg["data_dir"])


def load_task_data(cfg):
    """(X_train, y_train, X_val, y_val, X_test, y_test) for the configuration, from :mod:`wcrnn_dyn.build`
    (the same data a sweep cell with the same settings and seed gets)."""
    from .. import build
    if cfg["task"] == "adding" and cfg["seq_len"] < 2:
        raise ValueError(f"--seq-len must be >= 2 for the adding problem, got {cfg['seq_len']}")
    out = []
    for split in ("train", "val", "test"):
        out += build.task_data(cfg["task"], split, n=cfg["n_" + split], **_data_kw(cfg))
    return tuple(out)


def model_spec(cfg):
    """The :mod:`wcrnn_dyn.build` model spec of a train configuration."""
    spec = dict(model=cfg["model"], family=cfg["residual"], N=cfg["hidden"], mu=cfg["mu"], eps=cfg["eps"],
                seed=cfg["seed"], activation=cfg["activation"], mu_min=cfg["mu_min"], gain_scale=cfg["gain_scale"],
                w_scale=cfg.get("w_scale", 1.0), dtype=cfg["dtype"], trainable_residual=cfg["trainable_residual"])
    if cfg["model"] == "elman":
        spec["init"] = cfg["init"]
    return spec


def build_net(cfg, n_in, n_out, X=None):
    from .. import build
    return build.make_model(model_spec(cfg), n_in, n_out, X=X)


def run(args):
    from .. import build
    from .. import io as wio
    from ..training import evaluate, train
    from .common import progress_enabled
    from ..training import set_blas_threads
    cfg = _resolve(args)
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    set_blas_threads(args.threads)
    out = Path(args.out)
    t0 = time.perf_counter()
    Xtr, ytr, Xva, yva, Xte, yte = load_task_data(cfg)
    t_data = time.perf_counter() - t0
    from .. import tasks
    n_out = build.task(cfg["task"]).n_out
    net = build_net(cfg, Xtr.shape[2], n_out, X=Xtr)
    loss = build.task(cfg["task"]).loss
    ckpt_dir = out / "checkpoint"
    every = args.checkpoint_every if args.checkpoint_every is not None else 500
    cfg_json = dict(cfg, n_train_used=int(Xtr.shape[0]), n_val_used=int(Xva.shape[0]),
                    n_test_used=int(Xte.shape[0]), T=int(Xtr.shape[1]), n_in=int(Xtr.shape[2]), n_out=n_out,
                    loss=loss, checkpoint_every_steps=every, n_params=net.n_params)
    out.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    hist = train(net, Xtr, ytr, Xva, yva, loss=loss, epochs=cfg["epochs"] or 1, steps=cfg["steps"],
                 batch_size=cfg["batch_size"], optimizer=cfg["optimizer"], lr=cfg["lr"],
                 weight_decay=cfg["weight_decay"], clip_norm=cfg["clip"] or None, schedule=cfg["schedule"],
                 seed=build.rng(cfg["seed"], "trainer"), patience=cfg["patience"], progress=progress_enabled(),
                 checkpoint_dir=ckpt_dir, checkpoint_every_steps=every, resume=args.resume, on_divergence="stop")
    wall_train = time.perf_counter() - t1
    te = evaluate(net, Xte, yte, loss=loss)
    va = evaluate(net, Xva, yva, loss=loss)
    metrics = {"test_loss": te.loss, "val_loss": va.loss, "n_params": net.n_params,
               "train_time_s": hist["time"][-1] if hist["time"] else wall_train,
               "wall_time_this_process_s": time.perf_counter() - t0, "data_time_s": t_data,
               "epochs_done": len(hist["epoch"]), "steps_done": hist.meta["n_steps"],
               "best_epoch": hist.meta["best_epoch"], "diverged": hist.meta["diverged"],
               "stopped_early": hist.meta["stopped_early"],
               "final_train_loss": hist["train_loss"][-1] if hist["train_loss"] else float("nan")}
    if loss == "mse":
        metrics["test_mse"] = te.metric
        metrics["val_mse"] = va.metric
        metrics["baseline_mse"] = float(np.var(yte.astype(np.float64)))
    else:
        metrics["test_accuracy"] = te.metric
        metrics["val_accuracy"] = va.metric
    net.save(out / "model.npz")
    arrays = {k: np.asarray([float(v) for v in hist[k]]) for k in hist.KEYS if hist[k]}
    wio.write_results(out, cfg_json, metrics, arrays=arrays, extra={"history": hist.to_dict(),
                                                                   "model_file": "model.npz",
                                                                   "figure": None if args.no_figure
                                                                   else "learning_curve.png"})
    if not args.no_figure:
        from ..plotting._base import savefig
        from ..plotting._train import plot_learning_curve
        title = (f"{cfg['task']}{' T=' + str(cfg_json['T']) if cfg['task'] == 'adding' else ''}  N={cfg['hidden']} "
                 f"{cfg['residual']} mu={cfg['mu']} eps={cfg['eps']}")
        fig, _ = plot_learning_curve(hist, baseline=1 / 6 if loss == "mse" else None, title=title)
        savefig(fig, out / "learning_curve.png")
    if not args.keep_checkpoint and not hist.meta["diverged"]:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    name = "test_mse" if loss == "mse" else "test_accuracy"
    print(f"{cfg['task']}: {name} = {metrics[name]:.6g} after {metrics['epochs_done']} epochs / "
          f"{metrics['steps_done']} steps, train time {metrics['train_time_s']:.1f} s -> {out}")
    if hist.meta["diverged"]:
        print(f"warning: {hist.meta['message']}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):  # pragma: no cover - convenience
    p = argparse.ArgumentParser()
    add_arguments(p)
    return run(p.parse_args(argv))
