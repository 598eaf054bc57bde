"""Experiments: registry, presets, verdict logic, report writing, and tiny end-to-end runs of two experiments
(one through the ``reproduce`` command line)."""
import json
import math

import pytest

from wcrnn_dyn import cli, experiments as E
from wcrnn_dyn.experiments import _common as C
from wcrnn_dyn.experiments import report


def test_registry_and_presets():
    assert list(E.EXPERIMENTS) == ["theory", "edge_of_chaos", "spectral_matching", "heterogeneity", "nonlinear",
                                   "wcri"]
    for name in E.EXPERIMENTS:
        mod = E.get(name)
        assert mod.NAME == name
        assert isinstance(mod.CLAIM, str) and len(mod.CLAIM) > 40
        assert set(mod.PRESETS) == {"tiny", "quick", "full"}
        assert callable(mod.run)
        # full settings are at least as large as quick ones where both have seeds
        assert len(mod.PRESETS["full"]["seeds"]) >= len(mod.PRESETS["tiny"]["seeds"])
    with pytest.raises(ValueError, match="unknown experiment"):
        E.get("nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        C.params_for(E.get("wcri").PRESETS, "quick", {"bogus": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        C.params_for(E.get("wcri").PRESETS, "huge")


def test_quick_presets_use_small_tasks():
    # quick must run here without downloads: only digits / pdigits / adding are trained on
    for name in E.EXPERIMENTS:
        p = E.get(name).PRESETS["quick"]
        tasks = p.get("tasks", [p.get("task")] if p.get("task") else [])
        assert set(tasks) <= {"digits", "pdigits", "adding"}, (name, tasks)
    for task, s in C.TRAIN["quick"].items():
        assert s["epochs"] <= 20 and s["N"] <= 32


def test_stats_and_clearly_better():
    m, s, n = C.stats([1.0, 2.0, float("nan"), 3.0])
    assert (m, n) == (2.0, 3) and s == pytest.approx(1.0)
    assert math.isnan(C.stats([float("nan")])[0])
    # accuracy: larger is better; needs a margin above the pooled std
    ok, margin, pooled = C.clearly_better("digits", [0.9, 0.92], [0.5, 0.52])
    assert ok and margin == pytest.approx(0.4)
    ok, margin, _ = C.clearly_better("digits", [0.9, 0.5], [0.6, 0.7])
    assert not ok  # margin 0.05 < pooled std
    # MSE: smaller is better
    ok, margin, _ = C.clearly_better("adding", [0.01, 0.011], [0.1, 0.12])
    assert ok and margin == pytest.approx(0.0995)
    assert not C.clearly_better("adding", [0.1, 0.12], [0.01, 0.011])[0]
    assert not C.clearly_better("digits", [float("nan")], [0.5])[0]


def test_resolve_tasks_falls_back(monkeypatch):
    monkeypatch.setattr(C, "task_available", lambda t: t in ("digits", "pdigits", "adding"))
    pairs, notes = C.resolve_tasks(["smnist", "psmnist", "scifar10", "adding"])
    assert pairs == [("smnist", "digits"), ("psmnist", "pdigits"), ("adding", "adding")]
    assert any("scifar10" in n and "skipped" in n for n in notes)


def test_md_table_escapes_pipes():
    t = C.md_table(["a|b", "c"], [["log|x|", 1]])
    assert "log\\|x\\|" in t and t.count("\n") == 2


def _check_experiment_dir(d, n_figs):
    doc = json.loads((d / "results.json").read_text())
    m = doc["metrics"]
    assert m["held"] in (True, False, None)
    assert isinstance(m["criterion"], str) and m["criterion"]
    assert "provenance" in doc and doc["config"]["preset"] == "tiny"
    pngs = sorted(d.glob("*.png"))
    assert len(pngs) == n_figs
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sec = (d / "section.md").read_text()
    assert "**Claim.**" in sec and "**Criterion.**" in sec and "**Verdict:" in sec
    return doc


def test_theory_tiny_end_to_end_and_resume(tmp_path):
    res = E.run("theory", tmp_path, preset="tiny", isolate=False)
    d = tmp_path / "theory"
    doc = _check_experiment_dir(d, 2)
    num = doc["metrics"]["numbers"]
    # the verdict is the conjunction of the stated parts, computed from the numbers
    assert res.held == (num["a_exact_eps0"] and num["b_bound"] and num["c_order_eps"])
    # eps = 0, scaled identity: exact to rounding; bound respected
    assert num["eps0_max_dev"] < 1e-10
    assert num["bound_violations"] == 0 and num["bound_checked"] > 0
    cells = sorted((d / "cells").glob("*.json"))
    assert len(cells) == res.n_cells
    stamp = [c.stat().st_mtime_ns for c in cells]
    res2 = E.run("theory", tmp_path, preset="tiny", isolate=False)
    assert [c.stat().st_mtime_ns for c in cells] == stamp  # cells reused, not recomputed
    assert res2.numbers["eps0_max_dev"] == res.numbers["eps0_max_dev"]


def test_reproduce_cli_tiny_edge_of_chaos(tmp_path, capsys):
    out = tmp_path / "rep"
    rc = cli.main(["reproduce", "edge_of_chaos", "--tiny", "--in-process", "--out", str(out),
                   "--set", "edge_of_chaos.mus=[0.9,0.99]"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "[edge_of_chaos]" in text and "report.md" in text
    doc = _check_experiment_dir(out / "edge_of_chaos", 1)
    assert doc["config"]["params"]["mus"] == [0.9, 0.99]
    per = doc["metrics"]["numbers"]["per_task"]["digits"]
    # recompute the verdict independently from the raw cell files (one seed: pooled std 0, so "clearly
    # better" means strictly better): best mu inside [0.95, 1.0] and better than both ends of the sweep
    acc = {}
    for f in (out / "edge_of_chaos" / "cells").glob("*.json"):
        rec = json.loads(f.read_text())
        assert rec["error"] is None
        acc[rec["cell"]["mu"]] = rec["metrics"]["test_accuracy"]
    assert sorted(acc) == [0.9, 0.99]
    assert all(0.0 <= a <= 1.0 for a in acc.values())
    best = max(acc, key=lambda m: acc[m])
    expected = bool(0.95 <= best <= 1.0 and all(acc[best] > acc[m] for m in (0.9, 0.99) if m != best))
    assert per["mu_best"] == best and per["mean"] == [acc[0.9], acc[0.99]]
    assert per["held"] is expected and doc["metrics"]["held"] is expected
    rep = (out / "report.md").read_text()
    assert "# wcrnn_dyn reproduction report (tiny)" in rep
    assert "Near-critical residuals train best" in rep and "edge_of_chaos/metric_vs_mu.png" in rep
    assert cli.main(["reproduce", "--list"]) == 0
    assert "1. theory:" in capsys.readouterr().out
    assert cli.main(["reproduce", "theory"]) == 2  # --out missing
    assert cli.main(["reproduce", "nope", "--out", str(out)]) == 2
    assert cli.main(["reproduce", "wcri", "--set", "theory.seeds=[0]", "--out", str(out)]) == 2


def test_report_from_results(tmp_path):
    rs = [C.ExperimentResult("a", "Title A", "claim a", "crit", True, "fine", "## 1. Title A\n\nbody A\n",
                             seconds=3.0, n_cells=4),
          C.ExperimentResult("b", "Title B", "claim b", "crit", False, "not fine", "## 2. Title B\n\nbody B\n",
                             seconds=1.0, n_cells=2, n_failed=1)]
    p = report.write_report(tmp_path, rs, preset="quick", seconds=4.0, argv=["wcrnn-dyn", "reproduce"])
    text = p.read_text()
    assert "**HELD**" in text and "**NOT HELD**" in text
    assert text.index("body A") < text.index("body B")
    assert "| 2 (1) |" in text
    assert "wcrnn-dyn reproduce" in text
