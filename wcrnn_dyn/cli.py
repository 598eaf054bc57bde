"""``wcrnn-dyn`` command line: thin parsers that call the library and write results.

Each subcommand lives in ``wcrnn_dyn/_cli/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``.  Every command that computes something writes, under
``--out DIR``, a ``results.json`` (config, metrics, provenance), ``.npz`` arrays and PNG figures.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ._version import __version__

COMMANDS = ("lyap", "memory", "spectrum", "train", "sweep", "reproduce", "data")


def _load(name):
    try:
        return importlib.import_module(f"wcrnn_dyn._cli.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"wcrnn_dyn._cli.{name}":
            return None
        raise


def build_parser():
    p = argparse.ArgumentParser(prog="wcrnn-dyn",
                                description="Weakly coupled residual RNNs: Lyapunov spectra, fading memory, "
                                            "training and spectral analysis on a CPU.")
    p.add_argument("--version", action="version", version=f"wcrnn-dyn {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        sp = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"wcrnn-dyn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
