"""Argument helpers shared by the subcommands."""
from __future__ import annotations

import sys


from .. import residuals as _res

FAMILY_CHOICES = ("scaled_identity", "orthogonal", "rotational", "heterogeneous", "heterogeneous_rotational",
                  "random", "nonlinear")


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


def make_residual(family, n, mu, seed=0, mu_min=None, gain_scale=1.0):
    """Residual object from command-line style arguments."""
    if family == "scaled_identity":
        return _res.scaled_identity(n, mu)
    if family == "orthogonal":
        return _res.orthogonal(n, mu, seed=seed)
    if family == "rotational":
        return _res.rotational(n, mu)
    if family == "heterogeneous":
        lo = mu - 0.1 if mu_min is None else mu_min
        return _res.heterogeneous_uniform(n, lo, mu, seed=seed)
    if family == "heterogeneous_rotational":
        return _res.heterogeneous_rotational_uniform(n, mu - 0.1 if mu_min is None else mu_min, mu, seed=seed)
    if family == "random":
        return _res.random(n, mu, seed=seed)
    if family == "nonlinear":
        return _res.nonlinear(_res.scaled_identity(n, mu), scale=gain_scale)
    raise ValueError(f"unknown residual family {family!r}; choose from {FAMILY_CHOICES}")


def progress_enabled():
    """Progress bars only when stderr is a terminal."""
    return sys.stderr.isatty()
