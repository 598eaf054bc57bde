"""``wcrnn-dyn reproduce``: run the paper's experiments and write report.md with figures."""
from __future__ import annotations

HELP = "reproduce the paper's claims (one experiment per claim) and write OUT/report.md with figures"
DESCRIPTION = (HELP + ".  --quick (default) runs every experiment at small size in minutes (8x8 digits stand in "
               "for sMNIST/psMNIST, short adding problems); --full runs the real settings (hours).  "
               "Resumable by design: running the same command again on the same --out reuses every finished "
               "run under OUT (also after Ctrl-C), so an existing OUT is continued, not refused; use a new --out "
               "to start from scratch.  Experiments: theory, edge_of_chaos, spectral_matching, heterogeneity, "
               "nonlinear, wcri.")


def add_arguments(p):
    from .common import pos_int
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help="experiments to run (default: all): theory edge_of_chaos spectral_matching heterogeneity "
                        "nonlinear wcri")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick",
                   help="small settings, minutes in total (the default preset)")
    g.add_argument("--full", dest="preset", action="store_const", const="full", help="the real settings (hours)")
    g.add_argument("--tiny", dest="preset", action="store_const", const="tiny",
                   help="minimal settings (seconds; for tests; verdicts are meaningless)")
    p.set_defaults(preset="quick")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (report.md, one sub-folder per experiment; finished runs in it are reused); "
                        "required unless --list")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--jobs", "-j", type=pos_int, default=1, help="local worker processes for the runs")
    w.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address (dask[distributed])")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="EXP.KEY=VALUE",
                   help="override a preset parameter, e.g. --set edge_of_chaos.seeds=[0,1,2] (value parsed as JSON, "
                        "else a string); repeatable")
    p.add_argument("--in-process", action="store_true",
                   help="run the cells in this process instead of spawned single-threaded workers")
    p.add_argument("--list", action="store_true", help="list the experiments with their claims and exit")


def _parse_overrides(items):
    import json
    out = {}
    for it in items:
        if "=" not in it or "." not in it.split("=", 1)[0]:
            raise ValueError(f"--set expects EXPERIMENT.KEY=VALUE, got {it!r}")
        lhs, val = it.split("=", 1)
        exp, key = lhs.split(".", 1)
        try:
            v = json.loads(val)
        except ValueError:
            v = val
        out.setdefault(exp, {})[key] = v
    return out


def run(args):
    import sys
    from pathlib import Path

    from .. import experiments as E
    from .common import progress_enabled
    if args.list:
        for i, name in enumerate(E.EXPERIMENTS, 1):
            mod = E.get(name)
            print(f"{i}. {name}: {mod.CLAIM}")
        return 0
    from .common import UsageError, prepare_out
    if args.out is None:
        raise UsageError("--out DIR is required (or --list)")
    names = args.experiments or list(E.EXPERIMENTS)
    for n in names:
        E.get(n)
    overrides = _parse_overrides(args.overrides)
    for n in overrides:
        if n not in names:
            raise UsageError(f"--set names experiment {n!r}, which is not being run")
    # resumable by design: an existing OUT is continued (finished runs reused); only writability is checked,
    # before anything is computed
    prepare_out(args.out, markers=())

    def show(r):
        print(f"[{r.name}] {'HELD' if r.held else ('NOT HELD' if r.held is False else 'UNDECIDED')} "
              f"({r.seconds:.0f} s): {r.verdict}", flush=True)

    E.run_all(names, args.out, preset=args.preset, jobs=args.jobs, scheduler=args.scheduler,
              progress=progress_enabled(), overrides=overrides, argv=sys.argv, on_result=show,
              isolate=not args.in_process)
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def interrupted(args, argv):
    """The line printed on Ctrl-C: the same command continues (finished runs are reused)."""
    from .common import rerun_command
    if args.out is None:
        return "nothing was written"
    return f"finished runs under {args.out} are kept; resume with: {rerun_command(argv)}"
