"""Argument helpers shared by the subcommands: the one vocabulary, checked option types, deprecated spellings,
the output-folder guard, model-file loading with clear errors, and thread control.

Vocabulary (every subcommand that has the notion uses the same spelling):
``--model FILE`` (load a saved network), ``--arch {wcrnn,elman}``, ``--init`` (Elman initialisation),
``--residual``, ``--hidden``, ``--mu``, ``--eps``, ``--seq-len`` (sequence length), ``--batch-size``,
``--threads`` (threads the computation uses), ``--seed``, ``--out``, ``--overwrite`` / ``--resume``.
Old spellings (``--steps``/``-T``/``--T``/``--n-steps`` where they meant a length, ``--batch``/``-B``,
``--elman-init``, train's ``--model wcrnn|elman``) keep working for one release and print a one-line
deprecation warning on stderr.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import sys
import tempfile
from pathlib import Path

from ..build import family_names

log = logging.getLogger("wcrnn_dyn.cli")

#: Residual families the analysis commands build without data (the data-matched ones need training inputs).
FAMILY_CHOICES = tuple(n for n in family_names() if not n.endswith(("matched", "mismatched")))

ARCH_CHOICES = ("wcrnn", "elman")
INIT_CHOICES = ("wcri", "default", "orthogonal", "identity")

#: Defaults of the model options shared by lyap, memory and spectrum (filled in after parsing, so that an
#: option given explicitly can be told from one left at its default).
MODEL_DEFAULTS = dict(hidden=64, residual="scaled_identity", mu=0.99, mu_min=None, eps=0.05, gain_scale=1.0,
                      w_scale=1.0, activation="tanh", arch="wcrnn", init="wcri", seed=0)

#: Options that describe how to *build* a network; refused together with ``--model FILE`` (they would be
#: ignored).
BUILD_OPTIONS = ("hidden", "residual", "mu", "mu_min", "eps", "gain_scale", "w_scale", "activation", "arch",
                 "init")


class UsageError(ValueError):
    """A mistake the user can fix; ``wcrnn-dyn`` prints its message as one line and exits with status 2."""


# ------------------------------------------------------------------------------------------ checked types
def _number(kind, lo=None, strict=False, hi=None, name=None):
    """An argparse ``type`` converting to int or float; its range (finite, >= lo or > lo, < hi) is checked
    after parsing by :func:`check_ranges` (so that a value out of range is a one-line error with exit status 2
    returned by ``main``, like every other mistake in a value)."""
    def conv(text):
        try:
            return int(text) if kind is int else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None

    def check(v):
        if kind is float and not math.isfinite(v):
            return f"must be a finite number, got {v}"
        if lo is not None and (v <= lo if strict else v < lo):
            return f"must be {'>' if strict else '>='} {lo:g}, got {v:g}"
        if hi is not None and not v < hi:
            return f"must be < {hi:g}, got {v:g}"
        return None
    conv.__name__ = name or kind.__name__
    conv.check = check
    return conv


pos_int = _number(int, 1, name="positive int")
nonneg_int = _number(int, 0, name="non-negative int")
pos_float = _number(float, 0.0, strict=True, name="positive number")
nonneg_float = _number(float, 0.0, name="non-negative number")
finite_float = _number(float, name="number")
fraction = _number(float, 0.0, strict=True, hi=1.0, name="fraction")


def check_ranges(parser, args):
    """UsageError naming the option for the first parsed value outside its type's range (see
    :func:`_number`); called by ``wcrnn_dyn.cli.main`` after parsing, before the command runs."""
    seen = set()
    for action in parser._actions:
        check = getattr(action.type, "check", None)
        if check is None or action.dest in seen or not action.option_strings:
            continue
        v = getattr(args, action.dest, None)
        if v is None or v is action.default or isinstance(v, list):
            continue
        msg = check(v)
        if msg:
            name = max(action.option_strings, key=len)
            raise UsageError(f"{name} {msg}")
        seen.add(action.dest)


# ------------------------------------------------------------------------------------------ deprecations
def deprecation(old, new):
    """Print the one-line deprecation warning for the old spelling ``old`` (use ``new``)."""
    print(f"wcrnn-dyn: warning: {old} is deprecated and will be removed in the next release; use {new}",
          file=sys.stderr)


class _DeprecatedStore(argparse.Action):
    """Stores like the new option (same ``dest`` and ``type``) and prints a one-line deprecation warning."""

    def __init__(self, option_strings, dest, new=None, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        deprecation(option_string, self.new)
        setattr(namespace, self.dest, values)


def add_deprecated(p, *names, dest, new, type=None, choices=None):
    """Add the old spellings ``names`` of option ``new`` (hidden from --help; same ``dest``)."""
    p.add_argument(*names, dest=dest, action=_DeprecatedStore, new=new, type=type, choices=choices,
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)


class ModelFileAction(argparse.Action):
    """``--model FILE``; for ``train`` the old ``--model wcrnn|elman`` (the architecture) is also accepted,
    with a deprecation warning, and stored as ``--arch``."""

    def __init__(self, option_strings, dest, legacy_arch=False, **kw):
        self.legacy_arch = legacy_arch
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        if self.legacy_arch and values in ARCH_CHOICES and not Path(values).exists():
            deprecation(f"{option_string} {values} (the architecture)", f"--arch {values}")
            namespace.arch = values
            return
        setattr(namespace, self.dest, values)


# ------------------------------------------------------------------------------------------ model options
def add_model_arguments(p, **defaults):
    """The model options (``--hidden``, ``--residual``, ``--mu``, ..., ``--arch``, ``--init``, ``--seed``) and
    ``--model FILE``.  Defaults (:data:`MODEL_DEFAULTS`, overridden by ``defaults``) are applied by
    :func:`resolve_model_args` after parsing, so that options given with ``--model`` can be refused."""
    d = dict(MODEL_DEFAULTS, **defaults)
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, metavar="FILE", action=ModelFileAction,
                   help="load a saved network (.npz written by net.save, e.g. a train run's model.npz) instead "
                        "of building one from the options below")
    g.add_argument("--arch", default=None, choices=ARCH_CHOICES,
                   help=f"network type (default: {d['arch']}; elman: initialised with --init)")
    g.add_argument("--init", default=None, choices=INIT_CHOICES,
                   help=f"Elman initialisation (default: {d['init']}, W0 = Lambda + eps W~ from the residual "
                        "options)")
    g.add_argument("--hidden", "-N", type=pos_int, default=None,
                   help=f"number of hidden units N (default: {d['hidden']})")
    g.add_argument("--residual", default=None, choices=FAMILY_CHOICES, metavar="FAMILY",
                   help=f"residual family (default: {d['residual']}): " + ", ".join(FAMILY_CHOICES))
    g.add_argument("--mu", type=nonneg_float, default=None,
                   help=f"residual scale mu, the spectral radius of Lambda (default: {d['mu']})")
    g.add_argument("--mu-min", type=nonneg_float, default=None,
                   help="heterogeneous: smallest mu (default: mu - 0.1)")
    g.add_argument("--eps", type=nonneg_float, default=None, help=f"coupling constant eps (default: {d['eps']})")
    g.add_argument("--gain-scale", type=pos_float, default=None,
                   help="nonlinear residual: tanh saturation scale (default: 1)")
    g.add_argument("--w-scale", type=nonneg_float, default=None,
                   help="WCRNN: initial W ~ N(0, w_scale^2 / N) (default: 1)")
    g.add_argument("--activation", default=None, choices=("tanh", "relu", "identity"),
                   help="activation function (default: tanh)")
    g.add_argument("--seed", type=nonneg_int, default=None, help="seed for weights and inputs (default: 0)")
    add_deprecated(g, "--elman-init", dest="init", new="--init", choices=INIT_CHOICES)
    p.set_defaults(_model_defaults=d)
    return g


def given_build_options(args):
    """The model-building options given explicitly on the command line (as option names)."""
    return ["--" + k.replace("_", "-") for k in BUILD_OPTIONS if getattr(args, k, None) is not None]


def resolve_model_args(args):
    """Fill the unset model options with their defaults; UsageError when building options come with
    ``--model FILE`` (they would be ignored) or do not fit the architecture."""
    d = getattr(args, "_model_defaults", MODEL_DEFAULTS)
    if getattr(args, "model", None):
        bad = given_build_options(args)
        if bad:
            raise UsageError(f"{', '.join(bad)} cannot be combined with --model {args.model} (the loaded network "
                             "is used as saved); drop them, or drop --model to build a new network")
    arch = args.arch or d["arch"]
    if arch == "elman" and args.w_scale is not None and args.w_scale != 1.0:
        raise UsageError("--w-scale applies to --arch wcrnn only (Elman uses --init)")
    if arch == "wcrnn" and args.init is not None:
        raise UsageError("--init applies to --arch elman only (a WCRNN is built from --residual, --mu, --eps)")
    for k, v in d.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    return args


def check_w_scale(args):
    """--w-scale must be >= 0 (ValueError naming the option)."""
    w = getattr(args, "w_scale", 1.0)
    if w is None:
        w = 1.0
    if not w >= 0:
        raise UsageError(f"--w-scale must be >= 0, got {w}")
    return w


def model_spec(args, arch="wcrnn", init=None):
    """The :mod:`wcrnn_dyn.build` model spec of the model options (one seed, the builder's streams)."""
    spec = dict(model=arch, family=args.residual, N=args.hidden, mu=args.mu, mu_min=args.mu_min, eps=args.eps,
                activation=args.activation, seed=args.seed, gain_scale=args.gain_scale,
                w_scale=check_w_scale(args))
    if arch == "elman":
        spec["init"] = init
    return spec


def make_net(args, n_in, n_out=1, arch="wcrnn", init=None):
    """(network, spec) built by :func:`wcrnn_dyn.build.make_model` from the model options."""
    from .. import build
    spec = model_spec(args, arch, init)
    return build.make_model(spec, n_in, n_out), spec


def model_config(args, n_in):
    """The ``config.model`` entry of results.json for a network built from the options."""
    cfg = {"arch": args.arch, "residual": args.residual, "hidden": args.hidden, "mu": args.mu,
           "mu_min": args.mu_min, "eps": args.eps, "activation": args.activation, "n_in": n_in, "seed": args.seed,
           "gain_scale": args.gain_scale, "w_scale": args.w_scale}
    if args.arch == "elman":
        cfg["init"] = args.init
    return cfg


def build_or_load(args, n_in, n_out=1, n_in_option="--n-in"):
    """(network, config dict): the ``--model FILE`` network (its input width checked against ``n_in``) or one
    built from the options (:func:`resolve_model_args` must have run)."""
    if args.model:
        net = load_model_file(args.model)
        if n_in is not None and net.n_in != n_in:
            hint = (f"; add {n_in_option} {net.n_in}" if n_in_option else "")
            raise UsageError(f"--model {args.model} takes {net.n_in} input channel(s), but the input has {n_in}"
                             f"{hint}")
        return net, loaded_model_config(net, args.model)
    net, _ = make_net(args, n_in, n_out, arch=args.arch, init=args.init)
    return net, model_config(args, n_in)


def loaded_model_config(net, path):
    """The ``config.model`` entry of results.json for a network loaded from ``path``."""
    import numpy as np
    cfg = {"loaded_from": str(path), "kind": net.kind, "n_in": net.n_in, "n_hidden": net.n_hidden,
           "n_out": net.n_out, "activation": net.activation, "dtype": np.dtype(net.dtype).name}
    if net.kind == "wcrnn":
        cfg["eps"] = float(net.eps)
        rc = net.residual.config()
        cfg["residual"] = {k: rc[k] for k in ("family", "kind", "meta") if k in rc}
    else:
        cfg["init"] = getattr(net, "init", None)
    return cfg


# ------------------------------------------------------------------------------------------ model files
_MODEL_KEYS = ("W", "U", "b", "V", "c", "config", "residual")


def load_model_file(path, option="--model"):
    """:func:`wcrnn_dyn.models.load_model` with one clear UsageError naming the file and what is wrong
    (missing, a folder, empty, not an .npz archive, truncated, an .npz that is not a saved model)."""
    import json
    import zipfile

    import numpy as np

    from ..models import load_model
    p = Path(path)
    where = f"{option} {path}"
    if not p.exists():
        raise UsageError(f"{where}: no such file; give the .npz written by net.save (a train run's model.npz)")
    if p.is_dir():
        hint = " (did you mean its model.npz?)" if (p / "model.npz").is_file() else ""
        raise UsageError(f"{where} is a folder, not a model file{hint}")
    size = p.stat().st_size
    if size == 0:
        raise UsageError(f"{where} is empty (0 bytes), not a saved model; re-save it with net.save")
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise UsageError(f"{where} cannot be read ({e.strerror or e})") from e
    if head[:2] != b"PK":
        raise UsageError(f"{where} is not an .npz archive (a saved model is the .npz written by net.save)")
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = list(z.files)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise UsageError(f"{where} is truncated or corrupt ({type(e).__name__}: {e}); re-save the model") from e
    missing = [k for k in _MODEL_KEYS if k not in keys]
    if missing:
        what = " (it looks like a results file; a train run saves its network as model.npz)" \
            if "W" not in keys else ""
        raise UsageError(f"{where} is not a saved model: it lacks {', '.join(missing)}{what}")
    try:
        return load_model(p)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise UsageError(f"{where} is truncated or corrupt ({type(e).__name__}: {e}); re-save the model") from e


# ------------------------------------------------------------------------------------------ output folder
def add_out_arguments(p, resume=False, required=True, what="run"):
    """``--out DIR`` and ``--overwrite`` (and ``--resume`` where the command can continue a run)."""
    p.add_argument("--out", required=required, metavar="DIR", help="output folder (created if needed)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true",
                   help=f"replace the {what} already in --out (refused otherwise)")
    if resume:
        g.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out")


#: Folders created by :func:`prepare_out` in this process (innermost last); :func:`remove_created_if_empty`
#: removes those a failed command left empty.
CREATED = []


def remove_created_if_empty():
    """Remove the folders :func:`prepare_out` created that are still empty (and their empty sub-folders),
    so that a command that failed or was interrupted before writing leaves nothing behind."""
    while CREATED:
        d = CREATED.pop()
        try:
            for sub in sorted((q for q in d.rglob("*") if q.is_dir()), key=lambda q: len(q.parts), reverse=True):
                if not any(sub.iterdir()):
                    sub.rmdir()
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        except OSError:
            pass


def prepare_out(out, markers=("results.json",), overwrite=False, resume=None, remove=()):
    """Check the output folder before any computation: not a file, no earlier run in it (one of ``markers``)
    unless ``overwrite`` or ``resume``, writable (a probe file is created and removed).  Creates it.
    With ``overwrite`` the paths ``remove`` (e.g. an old checkpoint) are deleted.  Returns the Path.
    Raises UsageError with the fix."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose another --out")
    found = [m for m in markers if (out / m).exists()]
    if found and not (overwrite or resume):
        fix = "add --resume to continue it, --overwrite to replace it" if resume is not None \
            else "add --overwrite to replace it"
        raise UsageError(f"--out {out} already holds a run ({', '.join(found)}); {fix}, or choose another --out")
    try:
        missing = [q for q in [out, *out.parents] if not q.exists()]
        out.mkdir(parents=True, exist_ok=True)
        CREATED.extend(reversed(missing))
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"cannot write to the output folder {out} ({e.strerror or type(e).__name__}); "
                         "choose a writable --out") from e
    if overwrite:
        import shutil
        for r in remove:
            rp = out / r
            if rp.is_dir():
                shutil.rmtree(rp)
            elif rp.exists():
                rp.unlink()
    return out


def rerun_command(argv, add=(), drop=()):
    """The command line ``wcrnn-dyn ARGV`` with the flags ``drop`` removed and ``add`` appended (shell-quoted)."""
    args = [a for a in argv if a not in drop]
    args += [a for a in add if a not in args]
    return shlex.join(["wcrnn-dyn", *args])


# ------------------------------------------------------------------------------------------ threads
def add_threads_argument(p, default_text="the CPUs other programs leave free "
                                          "(wcrnn_dyn.threads.default_threads)"):
    """``--threads N``: the threads the computation uses (Numba workers and BLAS), in every subcommand."""
    p.add_argument("--threads", type=pos_int, default=None,
                   help=f"threads the computation uses (Numba workers and BLAS); default: {default_text}")


def apply_threads(n):
    """Limit the computation to ``n`` threads (Numba's thread count and every BLAS pool); None: leave the
    library's defaults.  Returns the count in effect (None for the default)."""
    if n is None:
        return None
    from .. import threads
    if n > 64 * threads.cpu_count():
        raise UsageError(f"--threads {n} is more than 64 per CPU ({threads.cpu_count()} CPUs)")
    try:
        import numba
        numba.set_num_threads(max(1, min(int(n), int(numba.config.NUMBA_NUM_THREADS))))
    except (ImportError, ValueError) as e:  # pragma: no cover
        log.info("could not set Numba's thread count: %s", e)
    threads.set_blas_threads(n)
    return n


# ------------------------------------------------------------------------------------------ misc
class Silence:
    """Context manager: drop the records of logger ``name`` whose message starts with one of ``prefixes``
    (none: keep all) -- for warnings the command reports itself (in results.json or its one-line summary)."""

    def __init__(self, name, prefixes):
        self.logger = logging.getLogger(name)
        self.prefixes = tuple(prefixes)

    def filter(self, record):
        return not (self.prefixes and str(record.msg).startswith(self.prefixes))

    def __enter__(self):
        self.logger.addFilter(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeFilter(self)
        return False


def progress_enabled():
    """Progress bars only when stderr is a terminal."""
    return sys.stderr.isatty()


def one_line(text):
    """``text`` with its line breaks and runs of spaces collapsed (for a one-line message)."""
    return " ".join(str(text).split())
