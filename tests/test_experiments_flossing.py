"""The flossing comparison (issue 14): the optional flossing keys of "train" cells and the tiny preset end to end."""
import json
import math

import numpy as np
import pytest

from wcrnn_dyn import experiments as E
from wcrnn_dyn import sweep
from wcrnn_dyn.experiments import flossing as F

# A train cell without flossing keys, and its key computed with the code BEFORE the flossing keys existed
# (commit 91861d5: `python -c "from wcrnn_dyn import sweep; print(sweep.cell_key(CELL))"`): adding the optional
# keys must not change the key of any existing cell (a running reproduction would recompute everything).
CELL = dict(kind="train", task="adding", model="elman", init="default", N=8, T=20, n_train=40, n_val=20, n_test=20,
            epochs=1, seed=0)
KEY_BEFORE = "17558156c7668cb3"
KEY_BEFORE_DEFAULTS = "8e5dfd0bddf142eb"     # sweep.cell_key({"kind": "train"}) at 91861d5


def test_cell_keys_unchanged_without_flossing_keys():
    assert sweep.cell_key(CELL) == KEY_BEFORE
    assert sweep.cell_key({"kind": "train"}) == KEY_BEFORE_DEFAULTS
    assert not set(sweep.TRAIN_OPTIONAL) & set(sweep.kind_defaults("train"))
    # optional keys at their defaults: the same cell, the same key; any other value: another key
    assert sweep.cell_key(dict(CELL, **sweep.TRAIN_OPTIONAL)) == KEY_BEFORE
    assert sweep.cell_key(dict(CELL, floss_beta=0)) == KEY_BEFORE
    assert sweep.cell_key(dict(CELL, floss_steps=3)) != KEY_BEFORE
    assert sweep.cell_key(dict(CELL, floss_steps=3, floss_k=2)) != sweep.cell_key(dict(CELL, floss_steps=3))
    assert "floss_steps" not in sweep.normalize_cell(dict(CELL, floss_steps=0))
    assert sweep.normalize_cell(dict(CELL, floss_steps=3))["floss_steps"] == 3


def test_flossing_keys_checked():
    with pytest.raises(ValueError, match="floss_steps must be int"):
        sweep.cell_key(dict(CELL, floss_steps=1.5))
    with pytest.raises(ValueError, match="floss_beta must be float"):
        sweep.cell_key(dict(CELL, floss_beta="big"))
    with pytest.raises(ValueError, match="may not be empty"):
        sweep.cell_key(dict(CELL, floss_k=None))
    with pytest.raises(ValueError, match="unknown keys.*floss_typo"):
        sweep.cell_key(dict(CELL, floss_typo=1))
    with pytest.raises(ValueError, match="unknown keys"):       # only the train kind takes them
        sweep.cell_key({"kind": "lyap", "floss_steps": 2})
    rec = sweep.run_cell(dict(CELL, floss_steps=2, floss_every=0))
    assert rec["error"].startswith("ValueError: flossing settings out of range")
    # in a sweep config's [defaults] they reach the train cells (and are refused where no kind takes them)
    cells = sweep.expand({"defaults": {"kind": "train", "floss_steps": 2}, "grid": {"seed": [0, 1]}})
    assert [c["floss_steps"] for c in cells] == [2, 2]
    with pytest.raises(ValueError, match="no cell kind here takes"):
        sweep.expand({"defaults": {"kind": "lyap", "floss_steps": 2}, "grid": {"seed": [0]}})


def test_flossing_before_moves_the_exponents_to_the_target():
    cell = dict(CELL, floss_steps=20, floss_k=2, floss_lr=1e-2, floss_batch=8)
    rec = sweep.run_cell(cell)
    assert rec["error"] is None
    m, fl = rec["metrics"], rec["extra"]["floss"]
    assert m["floss_le_init"] < -0.3                       # default Elman init: strongly contracting
    assert abs(m["floss_le_start"]) < 0.5 * abs(m["floss_le_init"])   # target 0
    assert m["floss_seconds"] > 0 and fl["seconds_during"] == 0
    assert len(fl["exponents_init"]) == len(fl["exponents_start"]) == len(fl["exponents_end"]) == 2
    assert m["floss_le_init"] == pytest.approx(max(fl["exponents_init"]), abs=0)
    assert len(fl["history_before"]["step"]) == 20
    # the probe of the untouched initial network is the one the experiment computes for the default arm
    assert max(F._probe(CELL, 2, 8, 0.0)) == pytest.approx(m["floss_le_init"], rel=1e-12)
    # another target: the exponents go there instead
    m2 = sweep.run_cell(dict(cell, floss_target=-0.2))["metrics"]
    assert abs(m2["floss_le_start"] + 0.2) < abs(m["floss_le_start"] + 0.2)
    # same seed -> same numbers
    again = sweep.run_cell(cell)["metrics"]
    assert {k: v for k, v in again.items() if k != "floss_seconds"} == \
        {k: v for k, v in m.items() if k != "floss_seconds"}


def test_flossing_during_training_every_n_steps():
    cell = dict(CELL, n_train=64, batch_size=8, floss_beta=1.0, floss_k=2, floss_every=3, floss_batch=4)
    rec = sweep.run_cell(cell)
    assert rec["error"] is None
    m, fl = rec["metrics"], rec["extra"]["floss"]
    assert fl["calls_during"] == m["steps_done"] == 8
    assert m["floss_le_start"] == m["floss_le_init"]       # nothing before training
    assert m["floss_seconds"] == pytest.approx(fl["seconds_during"]) and m["floss_seconds"] > 0
    assert fl["history_during"]["epoch"] == [1] and len(fl["history_during"]["exponents"][0]) == 2
    # the regulariser changes training: the trained network differs from the plain run's
    plain = sweep.run_cell(dict(cell, floss_beta=0.0))
    assert "floss_le_end" not in plain["metrics"]
    assert plain["metrics"]["test_mse"] != m["test_mse"]


def test_degenerate_frame_is_recorded_not_fatal(monkeypatch):
    # where J_t is singular on the frame (e.g. all ReLU units silent) no flossing step exists: flossing before
    # training stops, flossing steps during training are skipped, the run goes on and the failures are counted
    from wcrnn_dyn import flossing
    from wcrnn_dyn.models import DivergenceError

    def singular(*a, **k):
        raise DivergenceError("flossing: the tangent frame became non-finite or singular")
    monkeypatch.setattr(flossing, "flossing_loss_and_grad", singular)
    cell = dict(CELL, n_train=64, batch_size=8, floss_steps=3, floss_beta=1.0, floss_k=2, floss_batch=4)
    rec = sweep.run_cell(cell)
    assert rec["error"] is None
    m, fl = rec["metrics"], rec["extra"]["floss"]
    assert fl["error_before"].startswith("DivergenceError") and fl["skipped_during"] == 8
    assert m["floss_failures"] == 9 and math.isnan(m["floss_le_init"]) and math.isfinite(m["test_mse"])


def test_arms_share_the_wcri_experiment_cells_on_images():
    from wcrnn_dyn.experiments import _arms as A
    from wcrnn_dyn.experiments import wcri
    p = E.presets("flossing")["full"]
    mine = {a.label: a for a in F.arms(p, "psmnist")}
    theirs = {a.label: a for a in wcri.arms(E.presets("wcri")["full"])}
    for lab in ("default", "wcri rot"):
        c1, _ = A.cells_for("full", "psmnist", [mine[lab]], [0])
        c2, _ = A.cells_for("full", "psmnist", [theirs[lab]], [0])
        assert sweep.cell_key(c1[0]) == sweep.cell_key(c2[0])
    assert set(mine) == {"default", "wcri rot", "floss before", "floss during"}
    add = F.arms(p, "adding")
    assert all(a.keys["model"] == "elman" and a.keys["T"] >= 200 for a in add)
    assert len(p["seeds"]) >= 3 and "psmnist" in p["tasks"]


def test_tiny_preset_end_to_end(tmp_path):
    res = E.run("flossing", tmp_path, preset="tiny", isolate=False)
    d = tmp_path / "flossing"
    doc = json.loads((d / "results.json").read_text())
    assert doc["metrics"]["held"] in (True, False, None)
    assert res.held == doc["metrics"]["held"]
    for f in ("arms.png", "effects.png", "exponents.png"):
        assert (d / f).stat().st_size > 1000
    assert set(res.figures) == {"arms.png", "effects.png", "exponents.png"}
    sec = (d / "section.md").read_text()
    assert "**Verdict:" in sec and "WCRI vs flossing, reported only" in sec and "flossing" in sec
    tasks = res.numbers["tasks"]
    test = [t for t in tasks if t["role"] == "test"]
    assert [c["text"] for c in test[0]["comparisons"]] == ["floss before > default", "floss during > default",
                                                           "wcri id > default"]
    assert [t["role"] for t in tasks] == ["test", "control"]
    ex = res.numbers["exponents"]["adding"]
    assert set(ex) == {"default", "wcri id", "floss before", "floss during"}
    for lab, e in ex.items():
        assert len(e["init"]) == 2 and all(math.isfinite(x) for x in e["init"]), lab
    # paired seeds: the flossing arms start from the default arm's network
    np.testing.assert_allclose(ex["floss before"]["init"], ex["default"]["init"], rtol=1e-12)
    np.testing.assert_allclose(ex["floss during"]["init"], ex["default"]["init"], rtol=1e-12)
    assert all(s > 0 for s in ex["floss before"]["floss_seconds"])
    assert res.n_cells == 8 and res.n_failed == 0


def test_exponent_table_covers_the_second_stage_seeds(tmp_path, monkeypatch):
    # an inconclusive comparison brings seeds for its arms in a second stage: the exponent table and the cost
    # sentence must cover those runs too, not only the first stage's.  The tiny runs are not competent and their
    # comparisons not inconclusive, so here the adding task has no competence level (any finite value counts)
    # and every comparison reads inconclusive.
    import dataclasses
    from wcrnn_dyn import build
    from wcrnn_dyn.experiments import _arms as A
    monkeypatch.setitem(build.TASKS, "adding", dataclasses.replace(build.TASKS["adding"], competence=None))
    monkeypatch.setattr(A, "comparison_outcome", lambda *a, **k: "inconclusive")
    res = E.run("flossing", tmp_path, preset="tiny", isolate=False, overrides={"extra_seeds": [2]})
    test = [t for t in res.numbers["tasks"] if t["role"] == "test"][0]
    assert test.get("extra_seeds") == [2]
    ex = res.numbers["exponents"]["adding"]
    added = []
    for lab, arm in test["arms"].items():
        seeds = sorted(int(s) for s in arm["per_seed"])
        assert ex[lab]["seeds"] == seeds, lab
        assert len(ex[lab]["init"]) == len(ex[lab]["seconds"]) == len(seeds)
        added += [lab] if 2 in seeds else []
    assert len(added) >= 2
    assert res.n_cells == 8 + len(added)                       # first stage 2 seeds x 4 arms, then seed 2
    sec = (tmp_path / "flossing" / "section.md").read_text()
    assert "second stage, seeds [2]" in sec


def test_confirmation_uses_fresh_seeds_and_the_same_arms():
    # the confirmation decides on seeds the first comparison never saw, with its recipe, arms and comparisons,
    # and without a second stage
    from wcrnn_dyn.experiments import flossing_confirm as FC
    first, conf = E.presets("flossing")["full"], E.presets("flossing_confirm")["full"]
    seen = set(first["seeds"]) | set(first["extra_seeds"])
    assert len(conf["seeds"]) == 10 and not seen & set(conf["seeds"])
    assert conf["tasks"] == ["adding"] and conf["extra_seeds"] == []
    for a, b in zip(F.arms(first, "adding"), F.arms(conf, "adding")):
        assert a.label == b.label and a.keys == b.keys
    assert FC.NUMBER == F.NUMBER + 1 and FC.CLAIM == F.CLAIM


def test_confirmation_tiny_end_to_end(tmp_path):
    res = E.run("flossing_confirm", tmp_path, preset="tiny", isolate=False)
    d = tmp_path / "flossing_confirm"
    assert (d / "results.json").exists() and (d / "exponents.png").stat().st_size > 1000
    assert (d / "section.md").read_text().startswith("## 8. ")
    assert set(res.numbers["exponents"]) == {"adding"} and res.n_cells == 8
