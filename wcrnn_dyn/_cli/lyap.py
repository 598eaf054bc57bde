"""``wcrnn-dyn lyap``: Lyapunov spectrum of a network, compared with theory."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .common import add_model_arguments, make_net, progress_enabled

HELP = "Lyapunov spectrum of a WCRNN / Elman network vs theory (writes results.json, .npz, PNGs)"
DESCRIPTION = (
    "Measure the Lyapunov spectrum (QR method, docs/THEORY.md section 5) of a network built from the model arguments (or "
    "loaded with --model), driven by random input, no input, the adding problem or a dataset, and compare it "
    "with the eps -> 0 prediction log|eig(residual)| and, for scaled-orthogonal residuals, with the bound "
    "|LE - log mu| <= -log(1 - eps ||W|| / mu).")

INPUTS = ("random", "none", "adding", "digits", "smnist", "psmnist", "scifar10")

log = logging.getLogger(__name__)


def add_arguments(p):
    add_model_arguments(p)
    p.add_argument("--arch", default="wcrnn", choices=("wcrnn", "elman"),
                   help="network type (elman: initialised with --elman-init from the residual arguments)")
    p.add_argument("--elman-init", default="wcri", choices=("wcri", "default", "orthogonal", "identity"),
                   help="Elman initialisation (wcri: W0 = Lambda + eps W~)")
    p.add_argument("--model", default=None, help="load a saved model (.npz from net.save) instead of building one")
    g = p.add_argument_group("input")
    g.add_argument("--input", default="random", choices=INPUTS,
                   help="drive: i.i.d. N(0, scale^2) ('random'), zero input ('none'), adding problem, or a dataset "
                        "(test split; digits ships with the package, the others need their data)")
    g.add_argument("--n-in", type=int, default=1, help="input channels for 'random' / 'none'")
    g.add_argument("--input-scale", type=float, default=1.0, help="'random': standard deviation of the input")
    g.add_argument("--steps", "-T", type=int, default=None,
                   help="number of steps T (default 2000; datasets: their length, or the first T steps)")
    g.add_argument("--batch", "-B", type=int, default=1, help="number of input sequences (mean and spread)")
    g.add_argument("--data-dir", default=None, help="dataset folder (see wcrnn_dyn.tasks.load)")
    g = p.add_argument_group("algorithm")
    g.add_argument("-k", type=int, default=None, help="number of exponents (default N: the full spectrum)")
    g.add_argument("--washout", type=int, default=0, help="state-only steps first")
    g.add_argument("--burn-in", type=int, default=100, help="frame alignment steps (nothing accumulated)")
    g.add_argument("--qr-every", type=int, default=1, help="re-orthonormalisation interval (steps)")
    g.add_argument("--qr", default="auto", choices=("auto", "cholesky", "householder"), help="QR method")
    g.add_argument("--tol", type=float, default=1e-3, help="convergence tolerance on the standard error")
    g.add_argument("--threads", type=int, default=None, help="worker threads for a batch (default: all cores)")
    g.add_argument("--two-trajectory", action="store_true",
                   help="also estimate the top exponent from two nearby trajectories (independent check)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")


def _build_net(args, n_in):
    from ..models import load_model
    if args.model:
        net = load_model(args.model)
        if net.n_in != n_in:
            raise ValueError(f"the loaded model has n_in = {net.n_in}, but the input has d = {n_in} channels")
        return net, {"loaded_from": str(args.model), **net._config()}
    if args.arch == "elman" and args.w_scale != 1.0:
        raise ValueError("--w-scale applies to --arch wcrnn only (Elman uses --elman-init)")
    net, spec = make_net(args, n_in, 1, arch=args.arch, init=args.elman_init)
    cfg = {"arch": args.arch, "residual": args.residual, "hidden": args.hidden, "mu": args.mu,
           "mu_min": args.mu_min, "eps": args.eps, "activation": args.activation, "n_in": n_in, "seed": args.seed,
           "gain_scale": args.gain_scale, "w_scale": args.w_scale}
    if args.arch == "elman":
        cfg["elman_init"] = args.elman_init
    return net, cfg


def _make_input(args):
    """(X (B, T, d) or None, T, d, description)."""
    B = args.batch
    if B < 1:
        raise ValueError(f"--batch must be >= 1, got {B}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    T = 2000 if args.steps is None else args.steps
    from .. import build
    rng = build.rng(args.seed, "input")
    if args.input == "none":
        if args.n_in < 1:
            raise ValueError(f"--n-in must be >= 1, got {args.n_in}")
        return None, T, args.n_in, "zero input (autonomous)"
    if args.input == "random":
        if args.n_in < 1:
            raise ValueError(f"--n-in must be >= 1, got {args.n_in}")
        return args.input_scale * rng.standard_normal((B, T, args.n_in)), T, args.n_in, \
            f"i.i.d. N(0, {args.input_scale:g}^2)"
    from .. import tasks  # lazily: only for task inputs
    if args.input == "adding":
        X, _ = tasks.adding(B, T, seed=build.rng(args.seed, "test"))
        return np.asarray(X, dtype=np.float64), T, X.shape[2], "adding problem"
    X, _ = tasks.load(args.input, split="test", data_dir=args.data_dir, dtype=np.float64, limit=B)
    X = np.asarray(X, dtype=np.float64)
    if args.steps is not None:
        if args.steps > X.shape[1]:
            raise ValueError(f"--steps {args.steps} exceeds the {args.input} sequence length {X.shape[1]}")
        X = X[:, :args.steps]
    if X.shape[0] < B:
        log.warning("only %d sequences available in %s, using them all", X.shape[0], args.input)
    return X, X.shape[1], X.shape[2], f"{args.input} test split, first {X.shape[0]} sequences"


def run(args):
    from .. import io, theory
    from ..lyapunov import lyapunov_spectrum, top_exponent_two_trajectories

    out = Path(args.out)
    t0 = time.perf_counter()
    X, T, d, input_desc = _make_input(args)
    net, model_cfg = _build_net(args, d)
    kw = dict(k=args.k, washout=args.washout, burn_in=args.burn_in, qr_every=args.qr_every, seed=args.seed,
              qr=args.qr, tol=args.tol, n_threads=args.threads, progress=progress_enabled())
    if X is None:
        res = lyapunov_spectrum(net, None, T=T, **kw)
    else:
        Xi = X[0] if X.shape[0] == 1 else X
        res = lyapunov_spectrum(net, Xi, **kw)
    two = None
    if args.two_trajectory:
        two = top_exponent_two_trajectories(net, None if X is None else (X[0] if X.shape[0] == 1 else X),
                                            T=T if X is None else None, washout=args.washout,
                                            burn_in=args.burn_in, seed=args.seed)
    elapsed = time.perf_counter() - t0

    pred = theory.predicted_exponents(net)
    k = res.k
    bound = interval = None
    bound_note = None
    try:
        bound = theory.exponent_bound(net)
        interval = theory.exponent_interval(net)
    except ValueError as e:
        bound_note = str(e)
    with np.errstate(invalid="ignore"):
        dev = res.exponents - pred[:k]
    fin = np.isfinite(dev)
    metrics = {
        "exponents": res.exponents, "stderr": res.stderr, "top_exponent": res.top,
        "sum_of_exponents": float(np.sum(res.exponents)),
        "kaplan_yorke": res.kaplan_yorke, "entropy_rate": res.entropy_rate, "converged": res.converged,
        "predicted_exponents": pred[:k], "max_abs_deviation_from_prediction":
            float(np.max(np.abs(dev[fin]))) if fin.any() else float("nan"),
        "regime": theory.regime(net), "timescale_max": float(np.max(res.timescales())),
        "elapsed_s": elapsed, "qr_used": res.settings["qr_used"],
    }
    if res.per_sequence is not None:
        metrics["spread"] = res.spread
    if bound is not None:
        metrics["bound"] = bound
        metrics["bound_interval"] = list(interval)
        metrics["within_bound"] = bool(np.all((res.exponents >= interval[0] - 1e-12)
                                              & (res.exponents <= interval[1] + 1e-12)))
    else:
        metrics["bound"] = None
        metrics["bound_note"] = bound_note
    if two is not None:
        metrics["two_trajectory_top"] = two.exponent
        metrics["two_trajectory_stderr"] = two.stderr
    config = {"command": "lyap", "model": model_cfg, "input": args.input, "input_description": input_desc,
              "T": T, "batch": 1 if X is None else int(X.shape[0]), "settings": res.settings}
    arrays = dict(res.arrays())
    arrays["predicted_exponents"] = pred
    if two is not None:
        arrays["two_trajectory_history"] = two.history
        arrays["two_trajectory_history_steps"] = two.history_steps
    io.write_results(out, config, metrics, arrays=arrays)

    if not args.no_plots:
        from ..plotting import _base
        from ..plotting._lyap import plot_lyapunov_convergence, plot_lyapunov_spectrum
        fig, _ = plot_lyapunov_spectrum(res, predicted=pred, interval=interval,
                                        title=f"Lyapunov spectrum, {net.kind} N={net.n_hidden}")
        _base.savefig(fig, out / "spectrum.png")
        fig, _ = plot_lyapunov_convergence(res, title="convergence of the running estimate")
        _base.savefig(fig, out / "convergence.png")

    msg = (f"lyap: top {res.top:.5f} nats/step (stderr {res.stderr[0]:.2g}), sum {np.sum(res.exponents):.5f}, "
           f"predicted top {pred[0]:.5f}")
    if bound is not None:
        msg += f", bound |LE - log mu| <= {bound:.4f} ({'holds' if metrics['within_bound'] else 'VIOLATED'})"
    if two is not None:
        msg += f", two-trajectory top {two.exponent:.5f}"
    msg += (f"; k={k}, {res.n_steps} steps, {'converged' if res.converged else 'NOT converged'}, "
            f"{elapsed:.1f} s -> {out / 'results.json'}")
    print(msg)
    return 0
