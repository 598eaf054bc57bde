"""``wcrnn-dyn`` command line: thin parsers that call the library and write results.

Each subcommand lives in ``wcrnn_dyn/_cli/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (optionally ``interrupted(args, argv) -> str``, the line
printed on Ctrl-C).  Every command that computes something writes, under ``--out DIR``, a ``results.json``
(config, metrics, provenance), ``.npz`` arrays and PNG figures, and ends with a one-line summary.

Behaviour common to every subcommand:

* the options share one vocabulary (see :mod:`wcrnn_dyn._cli.common`); old spellings still work for one
  release and print a one-line deprecation warning;
* a mistake the user can fix (a bad option value, a missing or broken file, an output folder that cannot be
  written or already holds a run) ends in ONE line ``wcrnn-dyn CMD: error: ...`` naming the cause and the fix,
  exit status 2, no traceback (``-v`` before or after the subcommand shows it);
* the output folder is checked (writable, no earlier run unless ``--resume``/``--overwrite``) before anything
  is computed;
* Ctrl-C (SIGINT) ends with one line and exit status 130 (``train``: "resume with: ... --resume");
* a training run that diverges exits with status 1 and one line (``"diverged": true`` in results.json).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ._version import __version__

COMMANDS = ("lyap", "memory", "spectrum", "train", "sweep", "reproduce", "data")

#: Exit status of a user error (argparse's convention) and of an interrupt (128 + SIGINT).
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _load(name):
    try:
        return importlib.import_module(f"wcrnn_dyn._cli.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"wcrnn_dyn._cli.{name}":
            return None
        raise


class HelpFormatter(argparse.HelpFormatter):
    """Shows each default once: appends "(default: X)" only where the help text does not already mention a
    default, and never for required options, flags, constants (``--full`` / ``--quick``) or a None default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is argparse.SUPPRESS or action.required or "default" in text.lower():
            return text
        if action.default is None or isinstance(action.default, bool) or action.nargs == 0:
            return text
        if not action.option_strings or isinstance(action, argparse._CountAction):
            return text
        return text + " (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``wcrnn-dyn CMD: error: MESSAGE (see wcrnn-dyn CMD --help)``, exit 2."""

    def error(self, message):
        """Print one usage line naming the problem and exit with status 2.

        Parameters
        ----------
        message : str
            argparse's message.
        """
        print(f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser():
    """The ``wcrnn-dyn`` argument parser with every subcommand.

    Returns
    -------
    ArgumentParser
    """
    p = ArgumentParser(prog="wcrnn-dyn", formatter_class=HelpFormatter,
                       description="Weakly coupled residual RNNs: Lyapunov spectra, fading memory, "
                                   "training and spectral analysis on a CPU.")
    p.add_argument("--version", action="version", version=f"wcrnn-dyn {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more logging (-v info, -vv debug) and tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        sp = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                            formatter_class=HelpFormatter)
        # -v after the subcommand too (its own dest: a subparser's defaults would overwrite the top-level one)
        sp.add_argument("-v", "--verbose", dest="sub_verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug) and tracebacks on errors")
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run, _module=mod, _parser=sp)
    return p


def _message(e):
    from ._cli.common import one_line
    if isinstance(e, FileNotFoundError) and e.filename is not None:
        return f"{e.filename}: no such file or folder"
    if isinstance(e, PermissionError) and e.filename is not None:
        return f"{e.filename}: permission denied"
    if isinstance(e, OSError) and e.strerror and e.filename is not None:
        return f"{e.filename}: {e.strerror}"
    if isinstance(e, MemoryError):
        return "not enough memory for this run; use smaller sizes"
    return one_line(e) or type(e).__name__


def main(argv=None):
    """Run ``wcrnn-dyn``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 success, 1 a diverged run, 2 a usage or input error, 130 interrupted.
    """
    as_script = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose + getattr(args, "sub_verbose", 0)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose:   # also when logging was configured before (basicConfig then does nothing)
        logging.getLogger("wcrnn_dyn").setLevel(level)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from .training import TrainingDiverged
    prog = f"wcrnn-dyn {args.command}"
    from ._cli import common
    common.CREATED.clear()
    try:
        common.check_ranges(args._parser, args)
        rc = int(args._run(args) or 0)
        common.CREATED.clear()
        return rc
    except KeyboardInterrupt:
        common.remove_created_if_empty()
        hook = getattr(args._module, "interrupted", None)
        text = hook(args, argv) if hook is not None else "nothing was written"
        print(f"{prog}: interrupted (Ctrl-C); {text}", file=sys.stderr)
        if as_script:  # a second Ctrl-C while the process shuts down (workers, atexit) prints no traceback
            import signal
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return EXIT_INTERRUPTED
    except TrainingDiverged as e:
        common.remove_created_if_empty()
        if verbose:
            raise
        print(f"{prog}: error: {_message(e)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError, EOFError, MemoryError, ArithmeticError, ImportError) as e:
        common.remove_created_if_empty()
        if verbose:
            import traceback
            traceback.print_exc()
        print(f"{prog}: error: {_message(e)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
