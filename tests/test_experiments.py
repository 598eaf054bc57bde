"""Experiments: registry, presets, verdict logic, report writing, and tiny end-to-end runs of two experiments
(one through the ``reproduce`` command line)."""
import json
import math

import numpy as np

import pytest

from wcrnn_dyn import cli, experiments as E
from wcrnn_dyn.experiments import _arms as A
from wcrnn_dyn.experiments import _common as C
from wcrnn_dyn.experiments import report


def test_registry_and_presets():
    assert list(E.EXPERIMENTS) == ["theory", "edge_of_chaos", "spectral_matching", "heterogeneity", "nonlinear",
                                   "wcri", "flossing", "flossing_confirm"]
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


def test_quick_presets_use_small_tasks(monkeypatch):
    # quick must run here without downloads: sMNIST / psMNIST become their 8x8 stand-ins, sCIFAR10 is dropped
    monkeypatch.setattr(C, "task_available", lambda t: True)
    tasks, _ = A.plan_tasks("quick", ["smnist", "psmnist", "scifar10", "adding"])
    assert tasks == ["digits", "pdigits", "adding"]
    for task, s in A.TRAIN["quick"].items():
        assert s.get("epochs", 0) <= 20 and s["N"] <= 32


def test_full_recipe_and_seeds():
    for name in E.EXPERIMENTS:
        assert len(E.get(name).PRESETS["full"]["seeds"]) >= 3, name
    for task in ("psmnist", "smnist", "scifar10"):
        r = A.recipe("full", task)
        assert r["batch_size"] == 128 and r["schedule"] == "cosine" and r["n_train"] is None
    add = A.recipe("full", "adding")
    assert add["T"] >= 400 and add["activation"] == "relu" and add["mu"] == 1.0


def test_paired_interval_known_example():
    from scipy import stats
    m, lo, hi, n = A.paired_interval([1.0, 2.0, 3.0, float("nan")])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert n == 3 and m == 2.0 and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert math.isnan(A.paired_interval([1.0])[1])


def _rec(task_metric, value, improving=False, error=None):
    return {"key": "k", "metrics": {task_metric: value, "still_improving": improving, "steps_to_90": 10},
            "error": error}


def _runs(metric, arms):
    return {lab: {s: _rec(metric, v, imp) for s, (v, imp) in enumerate(vals)} for lab, vals in arms.items()}


def test_evaluate_task_verdicts():
    cmp_ = [A.Comparison("a", "b")]
    good = _runs("test_accuracy", {"a": [(0.95, False), (0.96, False), (0.955, False)],
                                   "b": [(0.92, False), (0.93, False), (0.921, False)]})
    tr = A.evaluate_task("psmnist", good, cmp_)
    assert tr["status"] == "held" and tr["competent"] and tr["converged"]
    assert tr["comparisons"][0]["ci_lo"] > 0
    # reversed comparison: interval below 0 -> not held
    assert A.evaluate_task("psmnist", good, [A.Comparison("b", "a")])["status"] == "not held"
    # not competent: undecided whatever the effect
    low = _runs("test_accuracy", {"a": [(0.5, False)] * 3, "b": [(0.3, False)] * 3})
    assert A.evaluate_task("psmnist", low, cmp_)["status"] == "undecided"
    # most runs still improving: undecided
    imp = _runs("test_accuracy", {"a": [(0.95, True)] * 3, "b": [(0.92, True)] * 3})
    tr = A.evaluate_task("psmnist", imp, cmp_)
    assert tr["status"] == "undecided" and "still improving" in tr["why"]
    # MSE: lower is better, gain = log ratio
    mse = _runs("test_mse", {"a": [(0.001, False), (0.002, False), (0.0015, False)],
                             "b": [(0.005, False), (0.006, False), (0.004, False)]})
    tr = A.evaluate_task("adding", mse, cmp_)
    assert tr["status"] == "held" and tr["comparisons"][0]["gains"][0] == pytest.approx(math.log(5))
    # non-inferiority within the margin
    ni = _runs("test_accuracy", {"a": [(0.959, False), (0.961, False), (0.96, False)],
                                 "b": [(0.96, False), (0.96, False), (0.96, False)]})
    assert A.evaluate_task("smnist", ni, [A.Comparison("a", "b", "noninferior", 0.01)])["status"] == "held"


def test_diverged_runs_are_marked_in_the_task_table():
    runs = _runs("test_mse", {"a": [(0.001, False), (0.002, False), (0.0015, False)],
                              "b": [(0.005, False), (3.5e5, False), (0.004, False)]})
    runs["b"][1]["metrics"]["diverged"] = True            # stopped by the trainer
    runs["a"][2]["metrics"]["test_exploded"] = True       # its test pass blew up
    tr = A.evaluate_task("adding", runs, [A.Comparison("a", "b")])
    assert tr["arms"]["b"]["diverged"] == ["1"] and tr["arms"]["a"]["diverged"] == ["2"]
    text = A.task_table(tr)
    assert "3.500e+05 †" in text and text.count("†") == 3 and "the run diverged" in text
    # its value still counts (the arm's typical value includes it)
    assert tr["arms"]["b"]["mean"] == pytest.approx(math.exp(np.mean(np.log([0.005, 3.5e5, 0.004]))))
    # nothing diverged: no marks, no note; old results without the key read as before
    clean = A.evaluate_task("adding", _runs("test_mse", {"a": [(0.001, False)] * 3}), [])
    assert "†" not in A.task_table(clean)
    for arm in tr["arms"].values():
        del arm["diverged"]
    assert "†" not in A.task_table(tr)


def test_comparison_outcomes_three_values():
    better, ni = A.Comparison("a", "b"), A.Comparison("a", "b", "noninferior", 0.01)
    assert A.comparison_outcome(better, 0.001, 0.05, 0.01, 3) == "yes"
    # below the smallest effect worth claiming (even if it straddles 0): no
    assert A.comparison_outcome(better, -0.004, 0.008, 0.01, 3) == "no"
    assert A.comparison_outcome(better, -0.05, -0.01, 0.01, 3) == "no"
    # contains 0 and effects worth claiming: inconclusive, never "no"
    assert A.comparison_outcome(better, -0.0015, 0.079, 0.01, 3) == "inconclusive"
    assert A.comparison_outcome(better, float("nan"), float("nan"), 0.01, 1) == "inconclusive"
    assert A.comparison_outcome(ni, -0.009, 0.02, 0.01, 3) == "yes"
    assert A.comparison_outcome(ni, -0.3, -0.02, 0.01, 3) == "no"
    assert A.comparison_outcome(ni, -0.05, 0.01, 0.01, 3) == "inconclusive"


def test_seeds_to_decide_planning_figure():
    from scipy import stats
    better = A.Comparison("a", "b")
    g = [0.05, 0.047, 0.02]          # mean 0.039, sd 0.0166: inconclusive with 3 seeds
    n = A.seeds_to_decide(g, better, 0.01)
    m, sd = float(np.mean(g)), float(np.std(g, ddof=1))
    def half(k):
        return stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k)
    assert n is not None and m - half(n) > 0 and not m - half(n - 1) > 0
    assert A.seeds_to_decide([0.01, 0.01], better, 0.01) is None       # no spread
    assert A.seeds_to_decide([0.3, -0.3, 0.31, -0.29], better, 0.01, n_max=5) is None


def test_inconclusive_task_is_undecided_and_gets_extra_seeds():
    # a wide interval straddling 0 with large effects: undecided (inconclusive), not "not held"
    runs = _runs("test_accuracy", {"a": [(0.96, False), (0.97, False), (0.95, False)],
                                   "b": [(0.90, False), (0.97, False), (0.91, False)],
                                   "c": [(0.80, False), (0.81, False), (0.79, False)]})
    cmps = [A.Comparison("a", "b"), A.Comparison("a", "c")]
    tr = A.evaluate_task("psmnist", runs, cmps)
    assert tr["status"] == "undecided" and tr["inconclusive"] and "inconclusive" in tr["why"]
    assert [c["outcome"] for c in tr["comparisons"]] == ["inconclusive", "yes"]
    arms = [A.Arm("a", {"family": "rotational"}), A.Arm("b", {"family": "orthogonal"}),
            A.Arm("c", {"family": "scaled_identity"})]
    plan = [("psmnist", "test", arms, cmps, ""), ("psmnist", "control", arms, cmps, "")]
    more = A.extra_seed_cells("full", plan, [tr, dict(tr, role="control")], [3, 4])
    assert list(more) == [0]                                  # controls never get more seeds
    cells, label_of = more[0]
    assert sorted(label_of.values()) == [("a", 3), ("a", 4), ("b", 3), ("b", 4)]   # only the inconclusive pair
    assert {c["seed"] for c in cells} == {3, 4}
    assert A.extra_seed_cells("full", plan, [tr, tr], []) == {}
    # decided tasks get nothing
    done = A.evaluate_task("psmnist", runs, [A.Comparison("a", "c")])
    assert done["status"] == "held" and A.extra_seed_cells("full", plan[:1], [done], [3, 4]) == {}
    # a "no" decides the task even when another comparison is inconclusive
    tr2 = A.evaluate_task("psmnist", runs, [A.Comparison("a", "b"), A.Comparison("c", "a")])
    assert tr2["status"] == "not held" and not tr2["inconclusive"]


def test_combine_rules():
    def t(status, role="test"):
        return {"status": status, "role": role, "label": status}
    assert A.combine([t("held"), t("undecided")])[0] is True
    assert A.combine([t("held"), t("not held")])[0] is False
    assert A.combine([t("undecided"), t("not held", "control")])[0] is None
    assert A.combine([t("held"), t("not held", "control")])[0] is True


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
    cells = sorted((tmp_path / "cells").glob("*.json"))
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
    doc = _check_experiment_dir(out / "edge_of_chaos", 3)
    assert doc["config"]["params"]["mus"] == [0.9, 0.99]
    (tr,) = doc["metrics"]["numbers"]["tasks"]
    # recompute from the raw cell files, independently of the experiment code
    acc = {}
    for f in (out / "cells").glob("*.json"):
        rec = json.loads(f.read_text())
        assert rec["error"] is None
        acc.setdefault(rec["cell"]["mu"], {})[rec["cell"]["seed"]] = rec["metrics"]["test_accuracy"]
    assert sorted(acc) == [0.9, 0.99] and all(len(v) == 2 for v in acc.values())
    for mu, by_seed in acc.items():
        arm = tr["arms"][f"rot mu={mu:g}"]
        assert [arm["per_seed"][str(s)] for s in (0, 1)] == [by_seed[0], by_seed[1]]
    best_mean = max(sum(v.values()) / 2 for v in acc.values())
    if best_mean < 0.8:  # the digits stand-in's competence level: nothing may be decided
        assert tr["status"] == "undecided" and doc["metrics"]["held"] is None
    assert "smoke-level" in doc["metrics"]["verdict"]
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


def test_run_claim_second_stage_adds_seeds_to_inconclusive_arms(tmp_path, monkeypatch):
    # force the first evaluation (2 seeds) to be inconclusive; the second stage must train seed 2 for the two
    # compared arms only, and the task must then be evaluated on 3 seeds
    orig = A.evaluate_task

    def first_inconclusive(task, runs, comps, role="test"):
        tr = orig(task, runs, comps, role)
        if max(len(v) for v in runs.values()) < 3:
            tr = dict(tr, status="undecided", inconclusive=True,
                      comparisons=[dict(c, outcome="inconclusive") for c in tr["comparisons"]])
        return tr

    monkeypatch.setattr(A, "evaluate_task", first_inconclusive)
    res = E.run("edge_of_chaos", tmp_path, preset="tiny", isolate=False,
                overrides={"mus": [0.9, 0.97, 0.99, 1.02], "extra_seeds": [2]})
    (tr,) = res.numbers["tasks"]
    assert tr["extra_seeds"] == [2]
    compared = {n for c in tr["comparisons"] for n in (c["a"], c["b"])}
    assert compared and all(c["n"] == 3 for c in tr["comparisons"])
    for label, arm in tr["arms"].items():
        assert ("2" in arm["per_seed"]) == (label in compared), label
    seeds = sorted(json.loads(f.read_text())["cell"]["seed"] for f in (tmp_path / "cells").glob("*.json"))
    assert len(compared) == 3 and seeds.count(2) == 3 and seeds.count(0) == 4   # one window arm not compared
    sec = (tmp_path / "edge_of_chaos" / "section.md").read_text()
    assert "—" in sec                                          # seeds not run are marked
    assert "second stage, seeds [2]" in sec


def test_trained_dynamics_exact_oracle_eps0():
    # eps = 0: the spectrum is log mu for every direction, so every timescale is -1 / log mu exactly
    from wcrnn_dyn.experiments import heterogeneity as H
    import wcrnn_dyn as wd
    net = wd.WCRNN(2, 6, 1, residual=wd.residuals.scaled_identity(6, 0.9), eps=0.0, seed=0)
    tau, curve = H.trained_dynamics(net, "adding", {"T": 60, "seed": 0}, n_lyap=2, n_mem=3, max_lag=20)
    np.testing.assert_allclose(tau, -1.0 / math.log(0.9), rtol=1e-12)
    assert curve.shape == (21,) and np.all(curve == 0)       # eps = 0: the input never reaches the state


def test_heterogeneity_tiny_end_to_end_with_trained_dynamics(tmp_path, monkeypatch):
    monkeypatch.setitem(A.TRAIN["tiny"], "digits", dict(A.TRAIN["tiny"]["digits"], save_model=True))
    res = E.run("heterogeneity", tmp_path, preset="tiny", isolate=False, overrides={"grid": [0.9]})
    doc = _check_experiment_dir(tmp_path / "heterogeneity", 3)
    dyn = doc["metrics"]["numbers"]["trained_dynamics"]
    assert set(dyn) == {tr["label"] for tr in res.numbers["tasks"]}
    for arms in dyn.values():
        assert len(arms) == 3
        for v in arms.values():
            assert v["tau_median"] > 0 and len(v["memory_curve"]) >= 1
    assert (tmp_path / "heterogeneity" / "trained_dynamics.png").exists()
