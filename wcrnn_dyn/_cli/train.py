"""``wcrnn-dyn train``: train a WCRNN (or Elman RNN) on a benchmark task and write results.

Writes under ``--out DIR``: ``results.json`` (config, metrics incl. ``test_mse`` or ``test_accuracy``,
``diverged``, history, provenance), ``results.npz`` (history arrays), ``model.npz`` (the trained network,
``net.save``), ``learning_curve.png``; while running, ``checkpoint/checkpoint.npz`` (atomic; ``--resume``
continues from it; removed at the end unless ``--keep-checkpoint`` or the run diverged).

A folder that already holds a run (results.json or a checkpoint) is refused unless ``--resume`` (continue the
checkpointed run) or ``--overwrite`` (start again; the old checkpoint is deleted).  Ctrl-C exits with status
130 and prints the command that resumes the run.  A run that diverges (the trainer's divergence stop, or a
final test loss that is not finite or above ``EXPLODED_FACTOR`` x the trivial baseline's) is recorded
(``"diverged": true`` and the reason in results.json) and exits with status 1.
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
               "batch 128, float32.  An --out that already holds a run is refused unless --resume or "
               "--overwrite; Ctrl-C exits with status 130 and prints the command that resumes; a diverged run "
               "exits with status 1 (\"diverged\": true in results.json); other errors exit with status 2.")

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
    from .common import (ARCH_CHOICES, ModelFileAction, add_deprecated, add_out_arguments, add_threads_argument,
                         nonneg_float, nonneg_int, pos_float, pos_int)
    p.add_argument("--task", required=True, choices=TASK_CHOICES, help="benchmark task")
    add_out_arguments(p, resume=True)
    g = p.add_argument_group("data")
    g.add_argument("--seq-len", type=pos_int, default=None, help="adding: sequence length (default: 100)")
    add_deprecated(g, "-T", dest="seq_len", new="--seq-len", type=pos_int)
    g.add_argument("--n-train", "--limit", dest="n_train", type=pos_int, default=None,
                   help="number of training sequences: generated for adding, the first n of the training "
                        "split otherwise (default: adding 10000, other tasks all)")
    g.add_argument("--n-val", type=pos_int, default=None, help="number of validation sequences (default: task's)")
    g.add_argument("--n-test", type=pos_int, default=None, help="number of test sequences (default: task's)")
    g.add_argument("--data-dir", default=None, metavar="DIR", help="where the task's data lies (see `wcrnn-dyn data`)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default=None, metavar="FILE", action=ModelFileAction, legacy_arch=True,
                   help="start from a saved network (.npz written by net.save, e.g. an earlier run's model.npz) "
                        "instead of building one from the options below")
    m.add_argument("--arch", default=None, choices=ARCH_CHOICES, help="network type (default: wcrnn)")
    m.add_argument("--init", default=None, choices=("default", "orthogonal", "identity", "wcri"),
                   help="Elman initialisation (default: wcri)")
    m.add_argument("--hidden", "-N", type=pos_int, default=None, help="hidden units N (default: task's)")
    m.add_argument("--residual", default=None, choices=family_names(), metavar="FAMILY",
                   help="residual family (default: task's): " + ", ".join(family_names()))
    m.add_argument("--mu", type=nonneg_float, default=None, help="residual scale mu (default: task's)")
    m.add_argument("--mu-min", type=nonneg_float, default=None,
                   help="heterogeneous: smallest mu (default: mu - 0.1)")
    m.add_argument("--eps", type=nonneg_float, default=None, help="coupling constant eps (default: task's)")
    m.add_argument("--gain-scale", type=pos_float, default=None,
                   help="nonlinear residual: tanh saturation scale (default: 1)")
    m.add_argument("--w-scale", type=nonneg_float, default=None,
                   help="WCRNN: initial W ~ N(0, w_scale^2 / N) (default: 1); a small value keeps "
                        "rho(Lambda + eps W) near mu at the start (e.g. mu = 1 for long memory)")
    m.add_argument("--activation", default=None, choices=("tanh", "relu", "identity"),
                   help="activation function (default: tanh)")
    m.add_argument("--trainable-residual", action="store_true", help="train the residual too")
    m.add_argument("--dtype", default=None, choices=("float32", "float64"),
                   help="training precision (default: task's)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=pos_int, default=None, help="passes over the training set (default: task's)")
    o.add_argument("--steps", type=pos_int, default=None, help="optimizer steps (overrides --epochs)")
    o.add_argument("--lr", type=pos_float, default=None, help="learning rate (default: task's)")
    o.add_argument("--batch-size", type=pos_int, default=None, help="mini-batch size (default: task's)")
    add_deprecated(o, "--batch", dest="batch_size", new="--batch-size", type=pos_int)
    o.add_argument("--optimizer", default="adam", choices=("adam", "sgd"), help="optimizer")
    o.add_argument("--schedule", default=None, choices=("none", "step", "cosine"),
                   help="lr schedule (default: cosine)")
    o.add_argument("--clip", type=nonneg_float, default=None,
                   help="global gradient-norm clipping, 0: off (default: 1)")
    o.add_argument("--weight-decay", type=nonneg_float, default=0.0, help="decoupled weight decay on W, U, V")
    o.add_argument("--patience", type=pos_int, default=None, help="early stopping patience in epochs (default: none)")
    o.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed for weights, mini-batch order and generated data")
    r = p.add_argument_group("run")
    r.add_argument("--checkpoint-every", type=pos_int, default=None,
                   help="also checkpoint every this many steps (default: every epoch and every 500 steps)")
    r.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint after the run ends")
    add_threads_argument(r, default_text="Numba workers on the free CPUs, BLAS single-threaded (its per-step "
                                         "products are small)")
    r.add_argument("--no-figure", action="store_true", help="skip the learning-curve figure")


#: Options that describe how to build the network; refused with --model FILE (they would be ignored).
BUILD_OPTIONS = ("arch", "init", "hidden", "residual", "mu", "mu_min", "eps", "gain_scale", "w_scale", "activation",
                 "dtype")

#: A test loss above this multiple of the trivial baseline's (MSE: the target variance; cross-entropy:
#: log n_classes), or a non-finite one, marks the run as diverged.
EXPLODED_FACTOR = 100.0


def _resolve(args):
    """The run configuration: the options given, the task's defaults for the others; UsageError (naming the
    option) for combinations that make no sense."""
    from .common import UsageError
    d = dict(DEFAULTS[args.task])
    if getattr(args, "model", None):
        bad = ["--" + k.replace("_", "-") for k in BUILD_OPTIONS if getattr(args, k, None) is not None]
        if args.trainable_residual:
            bad.append("--trainable-residual")
        if bad:
            raise UsageError(f"{', '.join(bad)} cannot be combined with --model {args.model} (training starts from "
                             "the saved network as it is); drop them, or drop --model to build a new network")
    arch = args.arch or "wcrnn"
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
        raise UsageError(f"--seq-len applies to the adding task only (task {args.task} has a fixed length)")
    if args.task == "adding" and cfg["seq_len"] < 2:
        raise UsageError(f"--seq-len must be >= 2 for the adding problem, got {cfg['seq_len']}")
    for k in ("hidden", "batch_size", "seq_len", "n_train", "n_val", "n_test", "steps", "epochs"):
        if cfg[k] is not None and cfg[k] < 1:
            raise UsageError(f"--{k.replace('_', '-')} must be >= 1, got {cfg[k]}")
    if not cfg["lr"] > 0:
        raise UsageError(f"--lr must be > 0, got {cfg['lr']}")
    for k in ("mu", "eps"):
        if not cfg[k] >= 0:
            raise UsageError(f"--{k} must be >= 0, got {cfg[k]}")
    w_scale = 1.0 if args.w_scale is None else args.w_scale
    if not w_scale >= 0:
        raise UsageError(f"--w-scale must be >= 0, got {w_scale}")
    if arch == "elman" and w_scale != 1.0:
        raise UsageError("--w-scale applies to --arch wcrnn only (Elman uses --init)")
    if arch == "wcrnn" and args.init is not None:
        raise UsageError("--init applies to --arch elman only")
    if args.threads is not None:
        from .. import threads
        if args.threads > 64 * threads.cpu_count():
            raise UsageError(f"--threads {args.threads} is more than 64 per CPU ({threads.cpu_count()} CPUs)")
    cfg.update(task=args.task, model=arch, init=(args.init or "wcri") if arch == "elman" else None,
               activation=args.activation or "tanh", mu_min=args.mu_min,
               gain_scale=1.0 if args.gain_scale is None else args.gain_scale, w_scale=w_scale,
               trainable_residual=args.trainable_residual,
               optimizer=args.optimizer, weight_decay=args.weight_decay, patience=args.patience, seed=args.seed,
               data_dir=args.data_dir, threads=args.threads, model_file=getattr(args, "model", None))
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


def _exploded(loss, te, baseline, n_out):
    """Why the final test evaluation says the run diverged (a non-finite loss, or a test MSE / cross-entropy
    above EXPLODED_FACTOR x the trivial baseline's: the target variance / log n_classes), or None."""
    import math
    if not (math.isfinite(te.loss) and math.isfinite(te.metric)):
        return f"the test loss is {te.loss}"
    if loss == "mse":
        val, ref, what = te.metric, baseline, "the target variance"
    else:
        val, ref, what = te.loss, math.log(max(n_out, 2)), "log n_classes"
    if ref > 0 and val > EXPLODED_FACTOR * ref:
        return (f"the test {'MSE' if loss == 'mse' else 'cross-entropy'} {val:.3g} is more than "
                f"{EXPLODED_FACTOR:g} x {what} ({ref:.3g})")
    return None


def _checkpoint_path(out):
    from ..training import CHECKPOINT_NAME
    return Path(out) / "checkpoint" / CHECKPOINT_NAME


def interrupted(args, argv):
    """The line printed on Ctrl-C: where the checkpoint is and the command that resumes the run."""
    from .common import rerun_command
    cmd = rerun_command(argv, add=("--resume",), drop=("--overwrite",))
    ck = _checkpoint_path(args.out)
    if ck.exists():
        return f"the last checkpoint ({ck}) is kept; resume with: {cmd}"
    return f"no checkpoint was written yet; start again (or resume) with: {cmd}"


def run(args):
    from .. import build
    from .. import store as wio
    from ..training import evaluate, train
    from .common import Silence, UsageError, apply_threads, load_model_file, prepare_out, progress_enabled
    cfg = _resolve(args)
    out = Path(args.out)
    ck = _checkpoint_path(out)
    if args.resume and (out / "results.json").exists() and not ck.exists():
        raise UsageError(f"--out {out} holds a finished run (results.json, no checkpoint): nothing to resume; "
                         "add --overwrite to train again, or choose another --out")
    loaded = load_model_file(args.model) if cfg["model_file"] else None
    # the output folder before any computation: refused when it cannot be written or holds a run
    prepare_out(out, markers=("results.json", str(ck.relative_to(out))), overwrite=args.overwrite,
                resume=args.resume, remove=("checkpoint",))
    if loaded is not None:
        from .common import loaded_model_config
        cfg.update(model=loaded.kind, hidden=loaded.n_hidden, dtype=np.dtype(loaded.dtype).name,
                   residual=None, mu=None, eps=None, init=None, loaded=loaded_model_config(loaded, args.model))
    apply_threads(cfg["threads"])
    if cfg["threads"] is None:
        from ..threads import set_blas_threads
        set_blas_threads(1)
    t0 = time.perf_counter()
    Xtr, ytr, Xva, yva, Xte, yte = load_task_data(cfg)
    t_data = time.perf_counter() - t0
    task = build.task(cfg["task"])
    n_out = task.n_out
    if loaded is not None:
        if loaded.n_in != Xtr.shape[2] or loaded.n_out != n_out:
            raise UsageError(f"--model {args.model} has {loaded.n_in} input(s) and {loaded.n_out} output(s); task "
                             f"{cfg['task']} needs {Xtr.shape[2]} and {n_out}")
        net = loaded
    else:
        net = build_net(cfg, Xtr.shape[2], n_out, X=Xtr)
    loss = task.loss
    ckpt_dir = out / "checkpoint"
    every = args.checkpoint_every if args.checkpoint_every is not None else 500
    cfg_json = dict(cfg, n_train_used=int(Xtr.shape[0]), n_val_used=int(Xva.shape[0]),
                    n_test_used=int(Xte.shape[0]), T=int(Xtr.shape[1]), n_in=int(Xtr.shape[2]), n_out=n_out,
                    loss=loss, checkpoint_every_steps=every, n_params=net.n_params)
    t1 = time.perf_counter()
    quiet = Silence("wcrnn_dyn.training", ("training diverged", "evaluate: the forward pass diverged"))
    with quiet:
        try:
            hist = train(net, Xtr, ytr, Xva, yva, loss=loss, epochs=cfg["epochs"] or 1, steps=cfg["steps"],
                         batch_size=cfg["batch_size"], optimizer=cfg["optimizer"], lr=cfg["lr"],
                         weight_decay=cfg["weight_decay"], clip_norm=cfg["clip"] or None,
                         schedule=cfg["schedule"], seed=build.rng(cfg["seed"], "trainer"),
                         patience=cfg["patience"], progress=progress_enabled(), checkpoint_dir=ckpt_dir,
                         checkpoint_every_steps=every, resume=args.resume, on_divergence="stop")
        except ValueError as e:
            if args.resume and ck.exists() and "checkpoint" in str(e):
                # the library's advice is in Python terms; say it in the command line's
                msg = " ".join(str(e).split()).replace("; use a new checkpoint_dir or resume=False", "")
                raise UsageError(f"{msg}; resume with the options of the interrupted run, or add --overwrite "
                                 "(instead of --resume) to start again") from e
            raise
        wall_train = time.perf_counter() - t1
        te = evaluate(net, Xte, yte, loss=loss)
        va = evaluate(net, Xva, yva, loss=loss)
    baseline = float(np.var(yte.astype(np.float64))) if loss == "mse" else None
    reason = hist.meta["message"] if hist.meta["diverged"] else _exploded(loss, te, baseline, n_out)
    diverged = reason is not None
    metrics = {"test_loss": te.loss, "val_loss": va.loss, "n_params": net.n_params,
               "train_time_s": hist["time"][-1] if hist["time"] else wall_train,
               "wall_time_this_process_s": time.perf_counter() - t0, "data_time_s": t_data,
               "epochs_done": len(hist["epoch"]), "steps_done": hist.meta["n_steps"],
               "best_epoch": hist.meta["best_epoch"], "diverged": diverged,
               "divergence_reason": reason,
               "stopped_early": hist.meta["stopped_early"],
               "final_train_loss": hist["train_loss"][-1] if hist["train_loss"] else float("nan")}
    timing = hist.meta.get("timing") or {}
    if timing:  # throughput: steps per second and the share of time outside loss_and_grad (batching, validation,
        # checkpoints, optimizer)
        metrics["steps_per_s"] = timing.get("steps_per_s")
        metrics["share_outside_loss_and_grad"] = timing.get("share_outside_loss_and_grad")
    if loss == "mse":
        metrics["test_mse"] = te.metric
        metrics["val_mse"] = va.metric
        metrics["baseline_mse"] = baseline
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
        arch_txt = f"N={cfg['hidden']} {cfg['residual']} mu={cfg['mu']} eps={cfg['eps']}" if loaded is None \
            else f"N={cfg['hidden']} from {args.model}"
        title = f"{cfg['task']}{' T=' + str(cfg_json['T']) if cfg['task'] == 'adding' else ''}  {arch_txt}"
        with np.errstate(all="ignore"):
            fig, _ = plot_learning_curve(hist, baseline=1 / 6 if loss == "mse" else None, title=title)
            savefig(fig, out / "learning_curve.png")
    name = "test_mse" if loss == "mse" else "test_accuracy"
    if not args.keep_checkpoint and not hist.meta["diverged"]:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    if diverged:
        # one line; a checkpoint of a run the trainer stopped is kept for inspection
        print(f"wcrnn-dyn train: error: training diverged: {' '.join(str(reason).split())}; results in {out} "
              "(\"diverged\": true); lower --lr, use --mu < 1 or a smaller --eps", file=sys.stderr)
        return 1
    rate = (f" ({timing['steps_per_s']:.3g} steps/s, {100 * timing['share_outside_loss_and_grad']:.0f} % outside "
            "loss_and_grad)") if timing.get("steps_per_s") and timing.get("share_outside_loss_and_grad") is not None \
        else ""
    print(f"{cfg['task']}: {name} = {metrics[name]:.6g} after {metrics['epochs_done']} epochs / "
          f"{metrics['steps_done']} steps, train time {metrics['train_time_s']:.1f} s{rate} -> {out}")
    return 0



def main(argv=None):  # pragma: no cover - convenience
    p = argparse.ArgumentParser()
    add_arguments(p)
    return run(p.parse_args(argv))
