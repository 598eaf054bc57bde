"""``wcrnn-dyn lyap``: Lyapunov spectrum of a network, compared with theory."""
from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np

from .common import (UsageError, add_deprecated, add_model_arguments, add_out_arguments, add_threads_argument,
                     apply_threads, build_or_load, load_model_file, nonneg_float, nonneg_int, pos_float, pos_int,
                     prepare_out, progress_enabled, resolve_model_args, Silence)

HELP = "Lyapunov spectrum of a WCRNN / Elman network vs theory (writes results.json, .npz, PNGs)"
DESCRIPTION = (
    "Measure the Lyapunov spectrum (QR method, docs/THEORY.md section 5) of a network built from the model "
    "arguments (or loaded with --model), driven by random input, no input, the adding problem or a dataset, and compare it "
    "with the eps -> 0 prediction log|eig(residual)| and, for scaled-orthogonal residuals, with the bound "
    "|LE - log mu| <= -log(1 - eps ||W|| / mu).  Convergence is reported in results.json and the summary "
    "line (a warning only when --tol is given).  --qr-every auto re-orthonormalises only when the frame needs "
    "it; --until-tol stops as soon as the standard errors are below --tol.  Long runs write OUT/checkpoint/ "
    "every --checkpoint-every seconds; Ctrl-C saves it and prints the command that resumes (--resume), which "
    "gives the exponents of an uninterrupted run.")

#: the checkpoint of a run under way, relative to --out
CHECKPOINT = Path("checkpoint") / "checkpoint.npz"
#: options that fix the numbers of a run: a checkpoint is resumed only with the same values
FINGERPRINT_OPTIONS = ("model", "arch", "init", "hidden", "residual", "mu", "mu_min", "eps", "gain_scale", "w_scale",
                       "activation", "seed", "input", "n_in", "input_scale", "seq_len", "batch_size", "k",
                       "washout", "burn_in", "qr_every", "qr", "tol", "until_tol", "tangent_dtype")


def qr_interval(text):
    """argparse type of --qr-every: a positive int or 'auto'."""
    return "auto" if text == "auto" else pos_int(text)


qr_interval.check = lambda v: None if v == "auto" else pos_int.check(v)
qr_interval.__name__ = "positive int or 'auto'"

INPUTS = ("random", "none", "adding", "digits", "smnist", "psmnist", "scifar10")

log = logging.getLogger(__name__)


def add_arguments(p):
    add_model_arguments(p)
    g = p.add_argument_group("input")
    g.add_argument("--input", default="random", choices=INPUTS,
                   help="drive: i.i.d. N(0, scale^2) ('random'), zero input ('none'), adding problem, or a dataset "
                        "(test split; digits ships with the package, the others need their data)")
    g.add_argument("--n-in", type=pos_int, default=1, help="input channels for 'random' / 'none'")
    g.add_argument("--input-scale", type=nonneg_float, default=1.0,
                   help="'random': standard deviation of the input")
    g.add_argument("--seq-len", type=pos_int, default=None,
                   help="sequence length T (default: 2000; datasets: their length, or the first T steps)")
    add_deprecated(g, "--steps", "-T", dest="seq_len", new="--seq-len", type=pos_int)
    g.add_argument("--batch-size", type=pos_int, default=1, help="number of input sequences (mean and spread)")
    add_deprecated(g, "--batch", "-B", dest="batch_size", new="--batch-size", type=pos_int)
    g.add_argument("--data-dir", default=None, metavar="DIR", help="dataset folder (see `wcrnn-dyn data`)")
    g = p.add_argument_group("algorithm")
    g.add_argument("-k", type=pos_int, default=None, help="number of exponents (default: N, the full spectrum)")
    g.add_argument("--washout", type=nonneg_int, default=0, help="state-only steps first")
    g.add_argument("--burn-in", type=nonneg_int, default=100, help="frame alignment steps (nothing accumulated)")
    g.add_argument("--qr-every", type=qr_interval, default=1, metavar="{N,auto}",
                   help="re-orthonormalisation interval in steps (default: 1), or 'auto': only when the frame's "
                        "conditioning requires it (same exponents up to rounding; docs/LYAPUNOV.md)")
    g.add_argument("--qr", default="auto", choices=("auto", "cholesky", "householder"), help="QR method")
    g.add_argument("--tol", type=nonneg_float, default=None,
                   help="convergence tolerance on the standard error (default: 1e-3); convergence is reported in "
                        "results.json and the summary line, and a warning is printed only when --tol is given")
    g.add_argument("--until-tol", action="store_true",
                   help="stop as soon as every exponent's standard error is <= --tol and the two halves of the "
                        "run agree to 2 tol (--seq-len is then the maximum; checked at block ends, after at "
                        "least 20 blocks)")
    g.add_argument("--tangent-dtype", default="float64", choices=("float64", "float32"),
                   help="precision of the tangent product W Q (default float64).  float32: about half the GEMM "
                        "time; the trajectory stays float64; for WCRNNs each exponent moves by at most "
                        "N u32 eps ||W|| (u32 = 6e-8; measured 1e-10 .. 3e-9); exponents below about "
                        "log(N u32 ||W||) (saturated Elman networks) are not resolved (docs/LYAPUNOV.md)")
    add_threads_argument(g)
    g.add_argument("--two-trajectory", action="store_true",
                   help="also estimate the top exponent from two nearby trajectories (independent check)")
    add_out_arguments(p, resume=True)
    p.add_argument("--checkpoint-every", type=pos_float, default=30.0, metavar="SECONDS",
                   help="write OUT/checkpoint/checkpoint.npz (atomically) about every this many seconds of the "
                        "spectrum computation (default: 30); Ctrl-C also writes it")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")


def _make_input(args):
    """(X (B, T, d) or None, T, d, description)."""
    B = args.batch_size
    T = 2000 if args.seq_len is None else args.seq_len
    from .. import build
    rng = build.rng(args.seed, "input")
    if args.input == "none":
        return None, T, args.n_in, "zero input (autonomous)"
    if args.input == "random":
        return args.input_scale * rng.standard_normal((B, T, args.n_in)), T, args.n_in, \
            f"i.i.d. N(0, {args.input_scale:g}^2)"
    if args.input == "adding":
        X = build.task_data("adding", "test", n=B, T=T, seed=args.seed)[0]
        return np.asarray(X, dtype=np.float64), T, X.shape[2], "adding problem"
    X = build.task_data(args.input, "test", n=B, data_dir=args.data_dir)[0]
    X = np.asarray(X, dtype=np.float64)
    if args.seq_len is not None:
        if args.seq_len > X.shape[1]:
            raise UsageError(f"--seq-len {args.seq_len} exceeds the {args.input} sequence length {X.shape[1]}")
        X = X[:, :args.seq_len]
    if X.shape[0] < B:
        log.warning("only %d sequences available in %s, using them all", X.shape[0], args.input)
    return X, X.shape[1], X.shape[2], f"{args.input} test split, first {X.shape[0]} sequences"


def _check_model_input(args):
    """Refuse a --model whose input width does not fit the input, before anything is computed."""
    if args.model and args.input in ("random", "none"):
        net = load_model_file(args.model)
        if net.n_in != args.n_in:
            raise UsageError(f"--model {args.model} takes {net.n_in} input channel(s) but --n-in is {args.n_in}; "
                             f"add --n-in {net.n_in}")


def _measured_regime(res):
    """'contracting' / 'neutral' / 'chaotic' from the measured top exponent and its standard error (two
    standard errors around 0 count as neutral): what the network does, where ``theory.regime`` says what its
    residual alone would do."""
    top, se = float(res.top), float(res.stderr[0]) if np.isfinite(res.stderr[0]) else 0.0
    if top > 2 * se:
        return "chaotic"
    if top < -2 * se:
        return "contracting"
    return "neutral"


class _Interrupt:
    """While active (main thread only), the first Ctrl-C only sets ``requested``: the spectrum then pauses at
    the end of its current kernel call (~1 GFLOP), a consistent point, and is checkpointed.  A second Ctrl-C
    raises KeyboardInterrupt at once."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _fingerprint(args):
    return {key: getattr(args, key, None) for key in FINGERPRINT_OPTIONS}


def _option_name(key):
    return "-k" if key == "k" else "--" + key.replace("_", "-")


def _save_checkpoint(path, state, fingerprint, elapsed):
    """The Lyapunov state and the run's options, written atomically (temporary file + rename)."""
    from .. import store
    path.parent.mkdir(parents=True, exist_ok=True)
    cli = {"fingerprint": fingerprint, "elapsed_s": float(elapsed)}
    store.save_npz(path, **state.to_arrays(), cli=np.array(json.dumps(store.to_jsonable(cli), allow_nan=False)))


def _load_checkpoint(path, fingerprint):
    """(LyapunovState, elapsed seconds) from the checkpoint, or UsageError naming the differing option."""
    from .. import store
    from ..lyapunov import LyapunovState
    try:
        arrays = store.load_npz(path)
        cli = json.loads(str(arrays.pop("cli")))
        state = LyapunovState.from_arrays(arrays)
        old = cli["fingerprint"]
        if not isinstance(old, dict):
            raise ValueError("its option record is not a JSON object")
        elapsed = float(cli.get("elapsed_s", 0.0))
    except Exception as e:  # zipfile.BadZipFile, KeyError, ValueError, OSError ...
        raise UsageError(f"--resume: the checkpoint {path} is unreadable or incomplete "
                         f"({type(e).__name__}: {' '.join(str(e).split())}); add --overwrite (instead of --resume) "
                         "to start again") from e
    for key in FINGERPRINT_OPTIONS:
        if old.get(key) != fingerprint[key]:
            show = lambda v: "(not given)" if v is None or v is False else ("(given)" if v is True else v)  # noqa: E731
            raise UsageError(f"--resume: the checkpoint {path} was written with {_option_name(key)} "
                             f"{show(old.get(key))}, this run has {_option_name(key)} {show(fingerprint[key])}; "
                             "resume with the options of the interrupted run, or add --overwrite (instead of "
                             "--resume) to start again")
    return state, elapsed


def interrupted(args, argv):
    """The line printed on Ctrl-C: where the checkpoint is and the command that resumes the run."""
    from .common import rerun_command
    cmd = rerun_command(argv, add=("--resume",), drop=("--overwrite",))
    ck = Path(args.out) / CHECKPOINT
    if ck.exists():
        return f"the checkpoint {ck} is saved; resume with: {cmd}"
    return f"no checkpoint was written yet; start again (or resume) with: {cmd}"


def _spectrum(args, out, net, X, T, tol, intr):
    """The spectrum, checkpointed to OUT/checkpoint every --checkpoint-every seconds and on Ctrl-C (then
    KeyboardInterrupt); resumed from it with --resume.  Returns (result, elapsed seconds of earlier sessions)."""
    from ..lyapunov import lyapunov_spectrum
    ck = out / CHECKPOINT
    fp = _fingerprint(args)
    state, elapsed_before = None, 0.0
    if args.resume and ck.exists():
        state, elapsed_before = _load_checkpoint(ck, fp)
    elif args.resume:
        log.info("--resume: no checkpoint in %s, starting the run", out)
    t0 = time.perf_counter()
    last = [time.monotonic()]

    def on_chunk(get_state):
        if intr.requested:
            _save_checkpoint(ck, get_state(), fp, elapsed_before + time.perf_counter() - t0)
            return True
        if time.monotonic() - last[0] >= args.checkpoint_every:
            _save_checkpoint(ck, get_state(), fp, elapsed_before + time.perf_counter() - t0)
            last[0] = time.monotonic()
        return False

    kw = dict(k=args.k, washout=args.washout, burn_in=args.burn_in, qr_every=args.qr_every, seed=args.seed,
              qr=args.qr, tol=tol, n_threads=args.threads, progress=progress_enabled(), until_tol=args.until_tol,
              resume=state, checkpoint=on_chunk, return_state=True, tangent_dtype=args.tangent_dtype)
    # convergence is reported in results.json and the summary line; the library's warning only on request
    with Silence("wcrnn_dyn.lyapunov", () if args.tol is not None else ("Lyapunov spectrum not converged",)):
        try:
            if X is None:
                res, state = lyapunov_spectrum(net, None, T=T, **kw)
            else:
                res, state = lyapunov_spectrum(net, X[0] if X.shape[0] == 1 else X, **kw)
        except ValueError as e:
            if state is not None and str(e).startswith("resume:"):
                raise UsageError(f"--resume: the checkpoint {ck} does not fit this run ("
                                 f"{' '.join(str(e).split())[8:]}); add --overwrite (instead of --resume) to "
                                 "start again") from e
            raise
    if res is None:      # paused by Ctrl-C: the checkpoint is written
        raise KeyboardInterrupt
    # finished: kept until results.json is written, so that an interrupt from here on loses nothing
    _save_checkpoint(ck, state, fp, elapsed_before + time.perf_counter() - t0)
    return res, elapsed_before


def run(args):
    from .. import store, theory
    from ..lyapunov import top_exponent_two_trajectories

    resolve_model_args(args)
    _check_model_input(args)
    out = Path(args.out)
    if args.resume and (out / "results.json").exists() and not (out / CHECKPOINT).exists():
        raise UsageError(f"--out {out} holds a finished run (results.json, no checkpoint): nothing to resume; "
                         "add --overwrite to run again, or choose another --out")
    out = prepare_out(args.out, markers=("results.json", str(CHECKPOINT)), overwrite=args.overwrite,
                      resume=args.resume, remove=("checkpoint",))
    apply_threads(args.threads)
    t0 = time.perf_counter()
    tol = 1e-3 if args.tol is None else args.tol
    with _Interrupt() as intr:
        X, T, d, input_desc = _make_input(args)
        net, model_cfg = build_or_load(args, d, 1,
                                       n_in_option="--n-in" if args.input in ("random", "none") else None)
        res, elapsed_before = _spectrum(args, out, net, X, T, tol, intr)
    if intr.requested:    # Ctrl-C after the last kernel call: the finished spectrum is checkpointed
        raise KeyboardInterrupt
    two = None
    if args.two_trajectory:
        two = top_exponent_two_trajectories(net, None if X is None else (X[0] if X.shape[0] == 1 else X),
                                            T=T if X is None else None, washout=args.washout,
                                            burn_in=args.burn_in, seed=args.seed)
    elapsed = time.perf_counter() - t0 + elapsed_before

    pred = theory.predicted_exponents(net)
    k = res.k
    bound = interval = None
    bound_note = None
    try:
        bound = theory.exponent_bound(net)
        interval = theory.exponent_interval(net)
    except ValueError as e:
        bound_note = str(e)
    metrics = {
        "exponents": res.exponents, "stderr": res.stderr, "top_exponent": res.top,
        "sum_of_exponents": float(np.sum(res.exponents)),
        "kaplan_yorke": res.kaplan_yorke, "entropy_rate": res.entropy_rate, "converged": res.converged,
        "predicted_exponents": pred[:k], "max_abs_deviation_from_prediction":
            theory.max_deviation(res.exponents, net),
        "regime": _measured_regime(res), "regime_of_residual": theory.regime(net), "timescale_max": float(np.max(res.timescales())),
        "elapsed_s": elapsed, "qr_used": res.settings["qr_used"], "tol": tol,
        "max_stderr": float(np.nanmax(res.stderr)) if np.any(np.isfinite(res.stderr)) else float("nan"),
    }
    if res.per_sequence is not None:
        metrics["spread"] = res.spread
    if bound is not None:
        metrics["bound"] = bound
        metrics["bound_interval"] = list(interval)
        metrics["within_bound"] = theory.within_bound(res.exponents, net)
    else:
        metrics["bound"] = None
        metrics["bound_note"] = bound_note
    if two is not None:
        metrics["two_trajectory_top"] = two.exponent
        metrics["two_trajectory_stderr"] = two.stderr
    config = {"command": "lyap", "model": model_cfg, "input": args.input, "input_description": input_desc,
              "T": T, "seq_len": T, "batch": 1 if X is None else int(X.shape[0]),
              "batch_size": 1 if X is None else int(X.shape[0]), "settings": res.settings}
    arrays = dict(res.arrays())
    arrays["predicted_exponents"] = pred
    if two is not None:
        arrays["two_trajectory_history"] = two.history
        arrays["two_trajectory_history_steps"] = two.history_steps
    store.write_results(out, config, metrics, arrays=arrays)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)

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
    conv = "converged" if res.converged else f"not converged at tol {tol:g} (more --seq-len)"
    msg += f"; k={k}, {res.n_steps} steps, {conv}, {elapsed:.1f} s -> {out / 'results.json'}"
    print(msg)
    return 0

