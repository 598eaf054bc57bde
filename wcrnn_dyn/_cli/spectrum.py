"""``wcrnn-dyn spectrum``: power spectrum of a task's inputs, a matched rotational residual, weight spectra."""
from __future__ import annotations

import logging
import time

import numpy as np

from .common import (add_deprecated, add_model_arguments, add_out_arguments, build_or_load,
                     pos_int, prepare_out, resolve_model_args)

HELP = "data power spectrum + matched rotational residual + weight eigenvalues (writes results.json, .npz, PNGs)"
DESCRIPTION = (
    "Compute the Welch power spectrum of a task's input sequences (f in cycles per step, averaged over samples "
    "and channels), find its peaks, build a rotational residual whose frequencies theta_k/2pi match the "
    "spectrum (--method peaks or power), and the eigenvalues of the model's residual and effective matrix. "
    "--task synthetic (row-periodic data, period 28; --permute for the permuted version) needs no data files.  "
    "With --model FILE the eigenvalues are those of the saved network and the matched residual has its size.")

log = logging.getLogger(__name__)

TASK_CHOICES = ("synthetic", "smnist", "psmnist", "scifar10", "scifar10_noise", "digits", "adding")


def add_arguments(p):
    add_model_arguments(p)
    g = p.add_argument_group("data")
    g.add_argument("--task", default="synthetic", choices=TASK_CHOICES, help="which input sequences")
    g.add_argument("--split", default="train", help="task split (train, val, test, train_full)")
    g.add_argument("--data-dir", default=None, metavar="DIR", help="task data directory (see wcrnn_dyn.tasks.load)")
    g.add_argument("--max-samples", type=pos_int, default=2000, help="use at most this many sequences")
    g.add_argument("--seq-len", type=pos_int, default=784, help="sequence length for --task adding")
    add_deprecated(g, "--T", dest="seq_len", new="--seq-len", type=pos_int)
    g.add_argument("--period", type=pos_int, default=28, help="--task synthetic: row length (spectral period)")
    g.add_argument("--permute", action="store_true", help="--task synthetic: permute the time steps (flat)")
    g.add_argument("--nperseg", type=pos_int, default=None, help="Welch segment length (default: min(T, 1024))")
    g.add_argument("--method", default="peaks", choices=("peaks", "power"),
                   help="matched residual: angles at spectral peaks, or spread by spectral power")
    add_out_arguments(p)
    p.add_argument("--no-plots", action="store_true", help="do not write PNG figures")


def load_task_inputs(task, split="train", data_dir=None, max_samples=2000, T=784, seed=0, period=28,
                     permute=False):
    """Input sequences X (B, T, d) for ``task``; 'synthetic' needs no other module."""
    from .. import spectral
    if task == "synthetic":
        return spectral.synthetic_row_periodic(max_samples, n_rows=28, period=period, seed=seed, permute=permute)
    if task == "adding":
        from .. import tasks
        X, _ = tasks.adding(max_samples, T, seed=seed)
        return X
    from .. import tasks
    X, _ = tasks.load(task, split=split, data_dir=data_dir, limit=max_samples)
    return np.asarray(X)[:max_samples]


def _loaded_mu(net, default):
    """mu of the matched residual for a loaded network: its residual's spectral radius (WCRNN with a linear
    residual), else ``default``."""
    res = getattr(net, "residual", None)
    if net.kind == "wcrnn" and res is not None and getattr(res, "is_linear", False):
        ev = np.abs(res.eigenvalues())
        if ev.size and np.isfinite(ev).all() and ev.max() > 0:
            return float(ev.max())
    return float(default)


def run(args):
    from .. import spectral, store

    resolve_model_args(args)
    loaded = None
    if args.model:
        from .common import load_model_file
        loaded = load_model_file(args.model)
    out = prepare_out(args.out, overwrite=args.overwrite)
    t0 = time.perf_counter()
    X = load_task_inputs(args.task, args.split, args.data_dir, args.max_samples, args.seq_len, args.seed,
                         args.period, args.permute)
    X = np.asarray(X, dtype=np.float64)
    freqs, power = spectral.data_spectrum(X, nperseg=args.nperseg)
    pk_f, pk_p = spectral.spectral_peaks(freqs, power)
    flat = spectral.spectral_flatness(power)
    method_used = args.method
    N = args.hidden if loaded is None else loaded.n_hidden
    mu = args.mu if loaded is None else _loaded_mu(loaded, args.mu)
    try:
        matched = spectral.rotational_from_spectrum(None, N, mu, method=args.method,
                                                    spectrum=(freqs, power))
    except ValueError as e:
        if args.method != "peaks":
            raise
        log.warning("%s; falling back to method='power'", e)
        method_used = "power"
        matched = spectral.rotational_from_spectrum(None, N, mu, method="power",
                                                    spectrum=(freqs, power))
    d = X.shape[2]
    if loaded is not None:
        net = loaded
        model_cfg = build_or_load(args, None)[1]
    else:
        net, model_cfg = build_or_load(args, d, 1)
    ws = spectral.weight_spectra(net)
    fr = spectral.frequency_response(matched, freqs)
    elapsed = time.perf_counter() - t0

    matched_freqs = np.asarray(matched.meta["freqs"])
    metrics = {
        "n_sequences": int(X.shape[0]), "T": int(X.shape[1]), "channels": int(d),
        "n_peaks": int(pk_f.size),
        "peak_freqs": pk_f[:10].tolist(),
        "peak_periods": (1.0 / pk_f[:10]).tolist() if pk_f.size else [],
        "top_peak_freq": float(pk_f[0]) if pk_f.size else float("nan"),
        "spectral_flatness": flat,
        "matched_method": method_used,
        "matched_freqs": matched_freqs.tolist(),
        "model_residual_spectral_radius": ws["residual_spectral_radius"],
        "model_effective_spectral_radius": ws["effective_spectral_radius"],
        "elapsed_s": elapsed,
    }
    config = {"command": "spectrum", "task": args.task, "split": args.split, "max_samples": args.max_samples,
              "nperseg": args.nperseg, "method": args.method, "period": args.period, "permute": args.permute,
              "model": model_cfg, "matched_mu": mu, "seq_len": int(X.shape[1]),
              "matched_residual": matched.config()}
    arrays = {"freqs": freqs, "power": power, "peak_freqs": pk_f, "peak_power": pk_p,
              "matched_thetas": 2 * np.pi * matched_freqs, "matched_gain_total": fr.total,
              "residual_eigenvalues": ws["residual_eigenvalues"],
              "effective_eigenvalues": ws["effective_eigenvalues"],
              "matched_eigenvalues": matched.eigenvalues()}
    store.write_results(out, config, metrics, arrays=arrays)

    if not args.no_plots:
        from ..plotting import _base
        from ..plotting._spectral import plot_data_spectrum, plot_eigenvalues, plot_frequency_response
        fig, _ = plot_data_spectrum(freqs, power, residual=matched, peaks=pk_f[:20],
                                    title=f"{args.task}{' (permuted)' if args.permute else ''}: "
                                          f"P(f) and matched theta/2pi ({method_used})")
        _base.savefig(fig, out / "spectrum.png")
        res_label = args.residual if loaded is None else getattr(getattr(net, "residual", None), "family", net.kind)
        fig, _ = plot_eigenvalues({f"residual ({res_label})": ws["residual_eigenvalues"],
                                   "Lambda + eps W": ws["effective_eigenvalues"],
                                   "matched rotational": matched.eigenvalues()}, title="eigenvalues")
        _base.savefig(fig, out / "eigenvalues.png")
        fig, _ = plot_frequency_response(fr, title="matched residual: frequency response")
        _base.savefig(fig, out / "frequency_response.png")

    top = ", ".join(f"{f:.4f}" for f in pk_f[:5])
    print(f"spectrum: {args.task} ({X.shape[0]} x {X.shape[1]} x {d}), {pk_f.size} peaks [{top}], "
          f"flatness {flat:.3f}, matched residual ({method_used}) -> {out / 'results.json'}")
    return 0
