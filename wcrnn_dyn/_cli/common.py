"""Argument helpers shared by the subcommands."""
from __future__ import annotations

import sys


from ..build import family_names

#: Residual families the analysis commands build without data (the data-matched ones need training inputs).
FAMILY_CHOICES = tuple(n for n in family_names() if not n.endswith(("matched", "mismatched")))


def add_model_arguments(p, hidden=64, mu=0.99, eps=0.05, residual="scaled_identity"):
    g = p.add_argument_group("model")
    g.add_argument("--hidden", "-N", type=int, default=hidden, help="number of hidden units N")
    g.add_argument("--residual", default=residual, choices=FAMILY_CHOICES,
                   help=f"residual family (default {residual})")
    g.add_argument("--mu", type=float, default=mu, help="residual scale mu (spectral radius of Lambda)")
    g.add_argument("--mu-min", type=float, default=None, help="heterogeneous: smallest mu (default mu - 0.1)")
    g.add_argument("--eps", type=float, default=eps, help="coupling constant eps")
    g.add_argument("--gain-scale", type=float, default=1.0, help="nonlinear residual: tanh saturation scale")
    g.add_argument("--w-scale", type=float, default=1.0,
                   help="WCRNN: initial W ~ N(0, w_scale^2 / N)")
    g.add_argument("--activation", default="tanh", choices=("tanh", "relu", "identity"))
    g.add_argument("--seed", type=int, default=0, help="seed for weights and inputs")
    return g


def check_w_scale(args):
    """--w-scale must be >= 0 (ValueError naming the option)."""
    w = getattr(args, "w_scale", 1.0)
    if not w >= 0:
        raise ValueError(f"--w-scale must be >= 0, got {w}")
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


def progress_enabled():
    """Progress bars only when stderr is a terminal."""
    return sys.stderr.isatty()
