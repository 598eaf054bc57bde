"""``report.md``: the claims, the numbers and the verdicts of a reproduction run, in one markdown file."""
from __future__ import annotations

from pathlib import Path

from .. import store as _store
from ._common import md_table, verdict_word

__all__ = ["write_report", "summary_table"]


_PRESET_NOTE = {
    "quick": ("`quick` is a smoke-level run: claim 1 and the analyses (exponents, data spectra) are at full "
              "fidelity, but the training claims use small stand-ins (8x8 digits for sMNIST, the same digits with "
              "a fixed pixel permutation for psMNIST, adding at T = 50) and tiny budgets, so their verdicts are "
              "labelled smoke-level and say nothing about the paper.  The evidence is the committed full run: "
              "`results/reproduce-full/report.md` in the repository."),
    "full": ("`full` trains on the real tasks (sMNIST / psMNIST T = 784 with the full 57,000 / 3,000 / 10,000 "
             "split, sCIFAR10 T = 1024 from the JPEG q75 copy, adding T = 400) with a recipe that learns: batch "
             "128, Adam with a cosine schedule, float32, 3 seeds per arm (5 for the arms of a comparison that 3 "
             "seeds leave inconclusive), paired over seeds.  Sizes and epochs "
             "fit 2 CPU cores (psMNIST N = 64, 4 epochs; sMNIST N = 128, 3 epochs; sCIFAR10 N = 64, 4 epochs; "
             "adding N = 32, 6,000 steps): below the paper's budgets, so every task reports whether its networks "
             "reached competence and settled before any comparison counts.  The Elman experiments beyond the "
             "paper (flossing) state their own adding recipe in their section."),
    "tiny": "`tiny` runs only exercise the code paths; their verdicts carry no evidence.",
}


def _reuse_note(results):
    n = sum(r.n_cells for r in results)
    k = sum(getattr(r, "n_reused", 0) for r in results)
    if not k:
        return f"All {n} runs were computed by this invocation."
    return (f"{k} of {n} runs were reused from earlier invocations writing to the same folder (each run's file "
            "keeps its configuration and compute time; the last column of the table sums them).")


def summary_table(results):
    """Markdown table: experiment, claim (short), verdict, runs (failed), time."""
    rows = []
    from . import EXPERIMENTS
    order = list(EXPERIMENTS)
    for k, r in enumerate(results, 1):
        i = order.index(r.name) + 1 if r.name in order else k  # the claim's fixed number, as in its section
        rows.append([f"{i}. [{r.title}](#{_anchor(i, r.title)})", f"`{r.name}`", f"**{verdict_word(r.held)}**",
                     f"{r.n_cells} ({r.n_failed})", f"{r.seconds:.0f} s", f"{r.cell_seconds:.0f} s"])
    return md_table(["claim", "experiment", "verdict", "runs (failed)", "wall time of this invocation",
                     "compute time of its runs (sum over runs, when they ran)"], rows)


def _anchor(i, title):
    s = f"{i}. {title}".lower()
    keep = "".join(ch for ch in s if ch.isalnum() or ch in " -")
    return keep.replace(" ", "-")


def write_report(out_dir, results, preset="quick", seconds=None, argv=None):
    """Write ``out_dir/report.md`` from experiment results (atomically); returns its path.

    The header names the preset, the package version and git commit, the command and the total time; then a
    summary table and each experiment's section (claim, setup, numbers, criterion, verdict, figures).
    """
    out_dir = Path(out_dir)
    prov = _store.provenance(argv)
    lines = [f"# wcrnn_dyn reproduction report ({preset})", "",
             f"Package {prov['package']} {prov['version']}, git commit `{prov['git_commit']}`, Python "
             f"{prov['python']}, {prov['platform']}, {prov['threads'].get('cpu_count')} CPUs, "
             f"written {prov['utc_time']}.", "",
             "Command: `" + " ".join(prov["argv"]) + "`" + (f"; wall time of this invocation {seconds:.0f} s."
                                                           if seconds else "."), "",
             _reuse_note(results), "",
             "Every verdict below is decided by the criterion stated in its section, computed from the numbers in "
             "that experiment's `results.json`; nothing is hard-coded.  " + _PRESET_NOTE.get(preset, ""), "",
             summary_table(results), ""]
    for r in results:
        lines += [r.section.rstrip(), ""]
    return _store.atomic_write_text(out_dir / "report.md", "\n".join(lines) + "\n")
