"""``wcrnn-dyn memory``: fading-memory measures of a network (input sensitivity, memory capacity, timescales)."""
from __future__ import annotations

import logging
import time

import numpy as np

from .common import (UsageError, add_deprecated, add_model_arguments, add_out_arguments, add_threads_argument,
                     apply_threads, build_or_load, fraction, nonneg_float, nonneg_int, pos_int, prepare_out,
                     resolve_model_args)

HELP = "fading memory: input sensitivity, memory capacity, timescales (writes results.json, .npz, PNGs)"
DESCRIPTION = (
    "Measure the fading memory of a WCRNN built from the model arguments (or loaded with --model): the "
    "input-sensitivity curve E||dh_T/dx_{T-l}|| over random uniform inputs, the linear memory capacity per lag "
    "(held-out squared correlation, chi-squared bias threshold), optionally the information processing "
    "capacity, and the predicted timescales tau = -1/LE.")

log = logging.getLogger(__name__)

#: why ``memory`` does not checkpoint (measured: see docs/LYAPUNOV.md, "Checkpoints and resume")
NO_RESUME = ("--resume: wcrnn-dyn memory does not checkpoint (its default run computes for about 2 s, N = 256 with "
             "--seq-len 20000 --max-lag 200 for about 12 s: a rerun costs less than checkpoints would save), so "
             "there is nothing to resume; run the command again without --resume (with --overwrite to replace the "
             "run in --out)")


def add_arguments(p):
    # rotational by default: a scaled identity gives every unit the same filter, so its memory capacity
    # (~0 at N = 64, 5000 steps) shows little; rotational: MC = 47.5 of 64 with the other defaults
    add_model_arguments(p, residual="rotational")
    p.add_argument("--n-in", type=pos_int, default=1,
                   help="input channels d (the capacity input drives channel 0)")
    g = p.add_argument_group("measures")
    g.add_argument("--max-lag", type=nonneg_int, default=100, help="largest lag l")
    g.add_argument("--seq-len", type=pos_int, default=5000,
                   help="memory capacity: length of the driving sequence (fitting + scoring steps)")
    add_deprecated(g, "--n-steps", dest="seq_len", new="--seq-len", type=pos_int)
    g.add_argument("--washout", type=nonneg_int, default=None, help="memory capacity: discarded initial steps "
                   "(default: max(max_lag, 100, min(2000, 10 tau)))")
    g.add_argument("--train-fraction", type=fraction, default=0.5, help="memory capacity: fraction used to fit")
    g.add_argument("--input-dist", default="uniform", choices=("uniform", "gaussian"),
                   help="memory capacity: i.i.d. input distribution")
    g.add_argument("--ridge", type=nonneg_float, default=0.0, help="memory capacity: ridge penalty (0 = least squares)")
    g.add_argument("--batch-size", type=pos_int, default=16, help="input sensitivity: number of random sequences")
    add_deprecated(g, "--batch", dest="batch_size", new="--batch-size", type=pos_int)
    g.add_argument("--sensitivity-seq-len", type=pos_int, default=None,
                   help="input sensitivity: sequence length (default: 2 max_lag + 100)")
    add_deprecated(g, "--T", dest="sensitivity_seq_len", new="--sensitivity-seq-len", type=pos_int)
    g.add_argument("--ipc-degree", type=nonneg_int, default=0,
                   help="also compute the information processing capacity up to this Legendre degree (0 = skip)")
    add_threads_argument(g)
    add_out_arguments(p, resume=True)
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")


def _predicted_exponents(net):
    """(exponents, source): :func:`wcrnn_dyn.theory.predicted_exponents` (log|eig(W)| for an Elman net)."""
    from .. import theory
    src = "log|eig(W)| (Elman)" if getattr(net, "kind", "") == "elman" else "theory.predicted_exponents(residual)"
    return theory.predicted_exponents(net), src


def _decay_rate(curve):
    """Slope of log M(l) vs l over the lags where M > 0 (NaN if fewer than 2)."""
    c = np.asarray(curve)
    ok = c > 0
    if ok.sum() < 2:
        return float("nan")
    lags = np.arange(c.size)[ok]
    return float(np.polyfit(lags, np.log(c[ok]), 1)[0])


def run(args):
    from .. import memory, spectral, store
    from .. import build

    if args.resume:
        raise UsageError(NO_RESUME)
    resolve_model_args(args)
    if args.max_lag >= args.seq_len:
        raise UsageError(f"--max-lag ({args.max_lag}) must be < --seq-len ({args.seq_len}) "
                         "(max_lag must be < n_steps)")
    if args.model:
        from .common import load_model_file
        loaded = load_model_file(args.model)
        if loaded.n_in != args.n_in:
            raise UsageError(f"--model {args.model} takes {loaded.n_in} input channel(s) but --n-in is "
                             f"{args.n_in}; add --n-in {loaded.n_in}")
    out = prepare_out(args.out, overwrite=args.overwrite)
    apply_threads(args.threads)
    t0 = time.perf_counter()
    net, model_cfg = build_or_load(args, args.n_in, 1)
    T = args.sensitivity_seq_len if args.sensitivity_seq_len is not None else 2 * args.max_lag + 100
    rng = build.rng(args.seed, "input")
    X = rng.uniform(-1.0, 1.0, (args.batch_size, T, net.n_in))
    # an expanding network overflows on purpose here; what that means is said once, in the summary line
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sens = memory.input_sensitivity(net, X, args.max_lag)
        sens_ro = memory.input_sensitivity(net, X, args.max_lag, readout=True)
        mc = memory.memory_capacity(net, args.max_lag, n_steps=args.seq_len, seed=args.seed, washout=args.washout,
                                    train_fraction=args.train_fraction, input_dist=args.input_dist,
                                    ridge=args.ridge, n_threads=args.threads)
    exps, exp_src = _predicted_exponents(net)
    taus = memory.timescales(exps)
    rho_eff = spectral.effective_spectral_radius(net)
    ipc = None
    if args.ipc_degree > 0:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ipc = memory.information_processing_capacity(net, args.ipc_degree, args.max_lag,
                                                         n_steps=args.seq_len, seed=args.seed,
                                                         washout=args.washout, train_fraction=args.train_fraction,
                                                         ridge=args.ridge)
    elapsed = time.perf_counter() - t0

    fin = taus[np.isfinite(taus)]
    metrics = {
        "memory_capacity_total": mc.total,
        "memory_capacity_threshold": mc.threshold,
        "memory_capacity_raw_total": float(mc.raw.sum()),
        "sensitivity_decay_rate": _decay_rate(sens),
        "sensitivity_readout_decay_rate": _decay_rate(sens_ro),
        "predicted_top_exponent": float(exps[0]),
        "predicted_decay_factor": float(np.exp(exps[0])),
        "timescale_max": float(np.max(taus)),
        "timescale_median": float(np.median(taus)),
        "n_infinite_timescales": int(np.sum(np.isinf(taus))),
        "effective_spectral_radius": rho_eff,
        "exponent_source": exp_src,
        "elapsed_s": elapsed,
        "note": _note(mc.total, rho_eff),
    }
    if ipc is not None:
        metrics["ipc_total"] = ipc.total
        metrics["ipc_total_by_degree"] = {str(k): v for k, v in ipc.total_by_degree.items()}
    config = {"command": "memory", "model": model_cfg, "max_lag": args.max_lag, "n_steps": args.seq_len,
              "seq_len": args.seq_len, "batch_size": args.batch_size, "sensitivity_seq_len": T,
              "washout": mc.settings["washout"], "train_fraction": args.train_fraction,
              "input_dist": args.input_dist, "ridge": args.ridge, "batch": args.batch_size, "T": T,
              "ipc_degree": args.ipc_degree, "memory_capacity_settings": mc.settings}
    arrays = {"lags": np.arange(args.max_lag + 1), "input_sensitivity": sens, "input_sensitivity_readout": sens_ro,
              "mc_per_lag": mc.per_lag, "mc_raw": mc.raw, "predicted_exponents": exps, "timescales": taus}
    if ipc is not None:
        for k, v in ipc.by_degree.items():
            arrays[f"ipc_degree_{k}"] = v
    store.write_results(out, config, metrics, arrays=arrays)

    if not args.no_plots:
        import warnings
        with warnings.catch_warnings():   # an all-zero curve cannot be log-scaled: the summary says why
            warnings.filterwarnings("ignore", message="Data has no positive values")
            _plots(out, sens, sens_ro, mc, exps, taus, fin, exp_src, ipc)

    print(f"memory: MC = {mc.total:.3f} (N = {net.n_hidden}, threshold {mc.threshold:.2g}), "
          f"sensitivity decay {np.exp(metrics['sensitivity_decay_rate']):.4f}/step vs predicted "
          f"{metrics['predicted_decay_factor']:.4f}, rho_eff = {rho_eff:.4f}"
          + (f", IPC = {ipc.total:.3f}" if ipc is not None else "")
          + (f" ({metrics['note']})" if metrics["note"] else "") + f"  -> {out / 'results.json'}")
    return 0


def _note(total, rho_eff):
    """A hint when (almost) no linear memory is measured, or None."""
    if total >= 0.5:
        return None
    if not np.isfinite(rho_eff) or rho_eff >= 1:
        return (f"almost no linear memory: rho(Lambda + eps W) = {rho_eff:.3g} >= 1, the network expands or "
                "saturates and the input is swamped; try a smaller --mu or --eps")
    return ("almost no linear memory: every unit may filter the input alike (e.g. a scaled identity); try "
            "--residual rotational or heterogeneous")


def _plots(out, sens, sens_ro, mc, exps, taus, fin, exp_src, ipc):
    from ..plotting import _base
    from ..plotting._memory import plot_input_sensitivity, plot_ipc, plot_memory_capacity, plot_timescales
    fig, _ = plot_input_sensitivity({"state": sens, "readout": sens_ro}, reference_mu=float(np.exp(exps[0])),
                                    title="input sensitivity")
    _base.savefig(fig, out / "input_sensitivity.png")
    fig, _ = plot_memory_capacity(mc, raw=True, title="linear memory capacity")
    _base.savefig(fig, out / "memory_capacity.png")
    if fin.size:
        fig, _ = plot_timescales(taus, title=f"timescales ({exp_src})")
        _base.savefig(fig, out / "timescales.png")
    if ipc is not None:
        fig, _ = plot_ipc(ipc)
        _base.savefig(fig, out / "ipc.png")
