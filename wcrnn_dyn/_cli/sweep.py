"""``wcrnn-dyn sweep CONFIG.toml``: run a parameter grid locally or on a Dask cluster (resumable)."""
from __future__ import annotations

HELP = "run a parameter sweep from a TOML config (local process pool or Dask), resumable, CSV table"
DESCRIPTION = (HELP + ".  Resumable by design: cells already finished under --out are skipped (also after "
               "Ctrl-C: run the same command again), so an existing OUT is continued, not refused; the table "
               "OUT/table.csv has the configuration and metric columns only, in a deterministic order.  "
               "See wcrnn_dyn.sweep.")


def add_arguments(p):
    from .common import pos_int
    p.add_argument("config", help="sweep config (TOML): [defaults] and one or more [[grid]] tables")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--jobs", "-j", type=pos_int, default=1, help="local worker processes")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of an existing Dask scheduler, e.g. tcp://127.0.0.1:8786 (needs dask[distributed])")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (cells/, table.csv, results.json); finished cells in it are reused")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells whose earlier run raised")
    p.add_argument("--dry-run", action="store_true", help="only list the cells (kind and key) and exit")


def run(args):
    import sys

    from .. import sweep
    from .common import UsageError, prepare_out, progress_enabled
    from pathlib import Path
    if not Path(args.config).is_file():
        raise UsageError(f"sweep config {args.config}: no such file")
    cfg = sweep.load_config(args.config)
    if args.dry_run:
        for c in sweep.expand(cfg):
            print(sweep.cell_key(c), c)
        return 0
    # resumable by design (finished cells are skipped): only writability is checked, before any cell runs
    prepare_out(args.out, markers=())
    res = sweep.run_sweep(cfg, args.out, jobs=None if args.scheduler else args.jobs, scheduler=args.scheduler,
                          retry_failed=args.retry_failed, progress=progress_enabled(), argv=sys.argv)
    print(f"{res.n_cells} cells: {res.n_run} run, {res.n_skipped} already done, {res.n_failed} failed; "
          f"table {res.table_path}")
    return 1 if res.n_failed else 0


def interrupted(args, argv):
    """The line printed on Ctrl-C: the same command continues (finished cells are skipped)."""
    from .common import rerun_command
    return f"finished cells under {args.out} are kept; resume with: {rerun_command(argv)}"
