"""Sweeps: config parsing and expansion, stable cell keys, resumability, the CSV table, and identical tables
from a serial run, a local process pool (--jobs 2) and a Dask cluster on 127.0.0.1."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from wcrnn_dyn import cli, sweep

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "examples" / "sweep-smoke.toml"

# A reduced sweep exercising every built-in kind with real computations (seconds).
SMALL = {
    "name": "small",
    "defaults": {"N": 6, "eps": 0.05},
    "grid": [
        {"kind": "lyap", "family": ["scaled_identity", "rotational"], "mu": [0.9, 0.99], "seed": [0, 1],
         "T": 300, "burn_in": 50},
        {"kind": "memory", "family": "heterogeneous", "mu": [0.9, 0.99], "max_lag": 10, "n_steps": 400},
        {"kind": "train", "task": "adding", "T": 10, "mu": 0.95, "seed": [0, 1], "n_train": 40, "n_val": 20,
         "n_test": 20, "epochs": 1, "batch_size": 20},
        {"kind": "theory", "family": ["orthogonal", "random"], "mu": 0.97, "seed": 3},
    ],
}


# The same kinds, fewer cells: for the pool / Dask comparison (process start-up dominates there).
TINY = {
    "name": "tiny",
    "defaults": {"N": 6, "eps": 0.05},
    "grid": [
        {"kind": "lyap", "family": "rotational", "mu": [0.9, 0.99], "T": 200, "burn_in": 50},
        {"kind": "memory", "family": "heterogeneous", "mu": 0.95, "max_lag": 10, "n_steps": 400},
        {"kind": "train", "task": "adding", "T": 10, "mu": 0.95, "seed": [0, 1], "n_train": 40, "n_val": 20,
         "n_test": 20, "epochs": 1, "batch_size": 20},
        {"kind": "theory", "family": "random", "mu": 0.97, "seed": 3},
    ],
}


def _write_toml(path, text):
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- config
def test_smoke_config_parses_and_expands():
    cfg = sweep.load_config(SMOKE)
    cells = sweep.expand(cfg)
    # 3 families x 3 mu x 2 seeds lyap + 2 x 3 x 2 memory + 2 mu x 2 seeds train
    assert len(cells) == 18 + 12 + 4
    assert [c["kind"] for c in cells] == ["lyap"] * 18 + ["memory"] * 12 + ["train"] * 4
    keys = [sweep.cell_key(c) for c in cells]
    assert len(set(keys)) == len(keys)
    assert sweep.expand(cfg) == cells  # deterministic
    # last key varies fastest within a grid
    assert [c["seed"] for c in cells[:4]] == [0, 1, 0, 1]
    assert [c["mu"] for c in cells[:4]] == [0.9, 0.9, 0.99, 0.99]
    # defaults reach every cell; kind-specific keys stay in their grid
    assert all(c["N"] == 16 and c["eps"] == 0.05 for c in cells)
    assert "T" not in cells[18] and cells[-1]["T"] == 30


def test_other_example_configs_expand():
    for f in sorted((ROOT / "examples").glob("*.toml")):
        cells = sweep.expand(sweep.load_config(f))
        assert cells, f
        for c in cells:
            sweep.normalize_cell(c)


def test_defaults_unknown_to_a_kind_are_dropped_but_grid_keys_are_checked(tmp_path):
    cfg = {"defaults": {"T": 50, "N": 4}, "grid": [{"kind": "memory", "mu": [0.9]}, {"kind": "lyap", "mu": [0.9]}]}
    mem, lyap = sweep.expand(cfg)
    assert "T" not in mem and mem["N"] == 4 and lyap["T"] == 50
    with pytest.raises(ValueError, match="unknown keys"):
        sweep.expand({"grid": [{"kind": "memory", "T": [5]}]})


def test_a_typo_in_defaults_is_refused():
    with pytest.raises(ValueError, match=r"\[defaults\] has keys \['muu'\]"):
        sweep.expand({"defaults": {"muu": 0.5}, "grid": [{"kind": "lyap", "mu": [0.9]}]})
    # a custom kind takes any key
    assert sweep.expand({"defaults": {"muu": 0.5}, "grid": [{"kind": "mymod:f"}]})[0]["muu"] == 0.5


@pytest.mark.parametrize("key, value", [("N", 4.5), ("N", True), ("T", 120.7), ("mu", True), ("family", 3),
                                        ("seed", 1.5)])
def test_values_are_never_coerced(key, value):
    with pytest.raises(ValueError, match=key):
        sweep.expand({"grid": [{"kind": "lyap", key: [value]}]})


def test_integral_floats_are_accepted():
    (c,) = sweep.expand({"grid": [{"kind": "lyap", "N": [4.0]}]})
    assert sweep.cell_key(c) == sweep.cell_key(dict(c, N=4))


def crashing_cell(c):
    """A cell function that kills its worker process (for the crash-survival test)."""
    import os
    if c.get("x") == 1:
        os.abort()
    return {"y": float(c["x"])}


@pytest.mark.slow  # measured > 5 s (pytest --durations); deselect with -m "not slow"
def test_a_crashing_cell_is_recorded_and_the_rest_run(tmp_path):
    cfg = {"grid": [{"kind": "test_sweep:crashing_cell", "x": [0, 1, 2]}]}
    res = sweep.run_sweep(cfg, tmp_path, jobs=2)
    rows = {r[1]: r for r in res.rows}
    assert res.n_failed == 1 and res.n_cells == 3
    assert "WorkerCrashed" in rows["1"][-1]
    assert rows["0"][-1] == "" and rows["2"][-1] == ""


@pytest.mark.parametrize("cfg, match", [
    ({"grid": {"kind": "lyap"}, "extra": 1}, "unknown top-level"),
    ({"defaults": {"kind": "lyap"}}, "grid"),
    ({"grid": [{"kind": "lyap", "mu": []}]}, "empty list"),
    ({"grid": [{"mu": [0.9]}]}, "kind"),
    ({"grid": [{"kind": "nosuchkind", "mu": [0.9]}]}, "unknown cell kind"),
    ({"defaults": {"mu": [0.9]}, "grid": [{"kind": "lyap"}]}, "scalar"),
    ({"grid": [{"kind": "lyap", "mu": [{"a": 1}]}]}, "strings, numbers"),
])
def test_bad_configs_raise(cfg, match):
    with pytest.raises(ValueError, match=match):
        sweep.expand(cfg)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        sweep.load_config(tmp_path / "nope.toml")
    bad = _write_toml(tmp_path / "bad.toml", "grid = [ [")
    with pytest.raises(ValueError, match="not valid TOML"):
        sweep.load_config(bad)


def test_cell_key_is_stable_and_canonical():
    a = {"kind": "lyap", "mu": 1, "N": 8}
    b = {"N": 8.0, "mu": 1.0, "kind": "lyap"}
    assert sweep.cell_key(a) == sweep.cell_key(b)
    # explicit defaults hash like omitted ones
    assert sweep.cell_key(dict(a, eps=sweep.kind_defaults("lyap")["eps"])) == sweep.cell_key(a)
    assert sweep.cell_key(dict(a, mu=0.99)) != sweep.cell_key(a)
    assert sweep.cell_key(dict(a, kind="memory")) != sweep.cell_key(a)
    k = sweep.cell_key(a)
    assert len(k) == 16 and int(k, 16) >= 0


def test_format_value():
    assert sweep.format_value(None) == ""
    assert sweep.format_value(True) == "true"
    assert sweep.format_value(3) == "3"
    assert sweep.format_value(float("nan")) == "nan"
    assert sweep.format_value(-math.inf) == "-inf"
    assert sweep.format_value(1 / 3) == "0.3333333333"
    assert sweep.format_value(np.float32(0.5)) == "0.5"
    assert sweep.format_value(1.0 / 3.0 + 1e-14) == sweep.format_value(1.0 / 3.0)


# ------------------------------------------------------------------------------------------- cells
def test_theory_cell_matches_oracles():
    mu, eps = 0.97, 0.05
    r = sweep.run_cell({"kind": "theory", "family": "orthogonal", "mu": mu, "eps": eps, "N": 6, "seed": 3})
    assert r["error"] is None
    m = r["metrics"]
    assert m["pred_max_le"] == pytest.approx(math.log(mu), abs=1e-12)
    assert m["pred_mean_le"] == pytest.approx(math.log(mu), abs=1e-12)
    assert m["spectral_radius"] == pytest.approx(mu, abs=1e-12)
    net = sweep.make_model({"family": "orthogonal", "mu": mu, "eps": eps, "N": 6, "seed": 3}, 1, 1)
    w = eps * np.linalg.norm(net.W, 2)
    assert m["eps_w_norm"] == pytest.approx(w, rel=1e-12)
    assert m["bound"] == pytest.approx(-math.log(1 - w / mu), rel=1e-12)


def test_lyap_cell_near_log_mu_and_memory_cell_bounded():
    r = sweep.run_cell({"kind": "lyap", "family": "scaled_identity", "mu": 0.95, "eps": 0.0, "N": 5, "T": 200,
                        "burn_in": 20})
    assert r["error"] is None
    # eps = 0: exact
    assert r["metrics"]["max_le"] == pytest.approx(math.log(0.95), abs=1e-10)
    assert r["metrics"]["max_abs_dev"] < 1e-10
    assert len(r["extra"]["exponents"]) == 5
    r = sweep.run_cell({"kind": "memory", "family": "scaled_identity", "mu": 0.9, "N": 5, "max_lag": 10,
                        "n_steps": 500})
    assert r["error"] is None
    assert 0 < r["metrics"]["mc_total"] <= 5 + 1e-9
    assert r["metrics"]["mc_frac"] == pytest.approx(r["metrics"]["mc_total"] / 5)


def _boom(cell):
    raise FloatingPointError("diverged on purpose")


def test_failing_cell_is_recorded_and_sweep_goes_on(tmp_path):
    cfg = {"grid": [{"kind": "theory", "mu": [0.9]}, {"kind": "tests.test_sweep:_boom", "x": [1, 2]}]}
    sys.path.insert(0, str(ROOT))
    try:
        res = sweep.run_sweep(cfg, tmp_path)
    finally:
        sys.path.remove(str(ROOT))
    assert res.n_failed == 2 and res.n_run == 3
    rows = sweep.read_table(res.table_path)
    assert rows[0]["error"] == ""
    assert rows[1]["error"] == "FloatingPointError: diverged on purpose"
    assert rows[1]["pred_max_le"] == ""
    # failed cells are not retried unless asked
    sys.path.insert(0, str(ROOT))
    try:
        assert sweep.run_sweep(cfg, tmp_path).n_run == 0
        assert sweep.run_sweep(cfg, tmp_path, retry_failed=True).n_run == 2
    finally:
        sys.path.remove(str(ROOT))


def _nonfinite(cell):
    return {"a": float("inf"), "b": float("nan"), "c": -float("inf"), "_extra": {"v": [1.0, float("-inf")]}}


def test_nonfinite_metrics_read_back_as_floats(tmp_path):
    sys.path.insert(0, str(ROOT))
    try:
        cells = [{"kind": "tests.test_sweep:_nonfinite"}]
        fresh, n1 = sweep.run_cells(cells, tmp_path)
        reused, n2 = sweep.run_cells(cells, tmp_path)
    finally:
        sys.path.remove(str(ROOT))
    assert (n1, n2) == (1, 0)
    for recs in (fresh, reused):
        m = recs[0]["metrics"]
        assert m["a"] == math.inf and m["c"] == -math.inf and math.isnan(m["b"])
        assert recs[0]["extra"]["v"] == [1.0, -math.inf]
    cols, rows = sweep.write_table(reused, tmp_path / "t.csv")
    assert rows[0][cols.index("a")] == "inf" and rows[0][cols.index("b")] == "nan"


def test_bad_kind_module_raises_before_running(tmp_path):
    with pytest.raises(ValueError, match="cannot import"):
        sweep.run_cells([{"kind": "no_such_module_xyz:f"}], tmp_path)


# ------------------------------------------------------------------------------------------- running
def test_serial_run_table_and_resume(tmp_path):
    out = tmp_path / "a"
    res = sweep.run_sweep(SMALL, out)
    assert res.n_cells == 14 and res.n_run == 14 and res.n_failed == 0
    text = res.table_path.read_text()
    header = text.splitlines()[0].split(",")
    assert header[0] == "kind" and header[-1] == "error"
    assert "max_le" in header and "mc_total" in header and "test_mse" in header
    assert not any(h in header for h in ("seconds", "time", "host", "version"))
    rows = sweep.read_table(res.table_path)
    assert [r["kind"] for r in rows] == ["lyap"] * 8 + ["memory"] * 2 + ["train"] * 2 + ["theory"] * 2
    # scaled identity / rotational: every exponent within -log(1 - eps||W||/mu) of log mu (docs/THEORY.md section 4.2)
    for r in rows[:8]:
        mu = float(r["mu"])
        net = sweep.make_model({"family": r["family"], "mu": mu, "eps": 0.05, "N": 6, "seed": int(r["seed"])}, 1, 1)
        bound = -math.log(1 - 0.05 * np.linalg.norm(net.W, 2) / mu)
        assert abs(float(r["max_le"]) - math.log(mu)) <= bound + 1e-9
        assert abs(float(r["mean_le"]) - math.log(mu)) <= bound + 1e-9
    doc = json.loads((out / "results.json").read_text())
    assert doc["metrics"]["n_cells"] == 14 and "provenance" in doc
    # rerun: nothing runs, the table is byte-identical
    res2 = sweep.run_sweep(SMALL, out)
    assert res2.n_run == 0 and res2.n_skipped == 14
    assert res2.table_path.read_text() == text
    # a removed and a corrupt cell file are recomputed, and give the same table
    files = sorted((out / "cells").glob("*.json"))
    files[0].unlink()
    files[1].write_text("{ truncated")
    res3 = sweep.run_sweep(SMALL, out)
    assert res3.n_run == 2
    assert res3.table_path.read_text() == text


@pytest.mark.slow  # measured > 5 s (pytest --durations); deselect with -m "not slow"
def test_pool_and_dask_give_the_same_table(tmp_path):
    import distributed
    serial = sweep.run_sweep(TINY, tmp_path / "serial")
    assert serial.n_run == 6 and serial.n_failed == 0
    pool = sweep.run_sweep(TINY, tmp_path / "pool", jobs=2)
    assert pool.n_run == 6
    assert pool.table_path.read_text() == serial.table_path.read_text()
    cfg = _write_toml(tmp_path / "tiny.toml", _toml_of(TINY))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", worker_dashboard_address=":0") as cluster:
        addr = cluster.scheduler_address
        assert addr.startswith("tcp://127.0.0.1:")
        rc = cli.main(["sweep", str(cfg), "--scheduler", addr, "--out", str(tmp_path / "dask")])
        assert rc == 0
    assert (tmp_path / "dask" / "table.csv").read_text() == serial.table_path.read_text()
    doc = json.loads((tmp_path / "dask" / "results.json").read_text())
    assert doc["config"]["runner"] == "dask" and doc["metrics"]["n_run"] == 6


def _toml_of(cfg):
    lines = [f'name = "{cfg["name"]}"', "[defaults]"] + [f"{k} = {json.dumps(v)}" for k, v in cfg["defaults"].items()]
    for g in cfg["grid"]:
        lines.append("[[grid]]")
        for k, v in g.items():
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def test_toml_and_dict_configs_agree(tmp_path):
    p = _write_toml(tmp_path / "s.toml", _toml_of(SMALL))
    assert sweep.expand(sweep.load_config(p)) == sweep.expand(SMALL)


def test_cli_sweep_jobs_and_dry_run(tmp_path, capsys):
    cfg = _write_toml(tmp_path / "t.toml", '[defaults]\nkind = "theory"\nN = 4\n[grid]\nmu = [0.9, 1.0]\n')
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "o")]) == 0
    assert "2 cells: 2 run" in capsys.readouterr().out
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--jobs", "0"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--jobs", "2", "--scheduler", "tcp://x:1"])


def test_missing_dask_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"wcrnn_dyn\[dask\]"):
        sweep.run_sweep({"grid": [{"kind": "theory", "mu": [0.9]}]}, tmp_path, scheduler="tcp://127.0.0.1:1")


def test_run_cells_validates_jobs(tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        sweep.run_cells([{"kind": "theory"}], tmp_path, jobs=0)
    with pytest.raises(ValueError, match="either jobs"):
        sweep.run_sweep({"grid": [{"kind": "theory"}]}, tmp_path, jobs=2, scheduler="tcp://127.0.0.1:1")


def test_every_record_names_the_code_that_computed_it(tmp_path):
    from wcrnn_dyn import store
    rec = sweep.run_cell({"kind": "theory", "N": 4})
    assert rec["version"] and rec["commit"] == store.code_commit()
    res = sweep.run_sweep({"grid": [{"kind": "theory", "N": [4]}]}, tmp_path)
    (f,) = (tmp_path / "cells").glob("*.json")
    assert json.loads(f.read_text())["commit"] == store.code_commit()


def test_train_cell_flags_a_test_pass_that_explodes(monkeypatch):
    # a run can pass training and validation yet blow up on test sequences (a ReLU network near criticality):
    # the cell says so (test_exploded) instead of reporting the huge number silently
    from wcrnn_dyn import training
    cell = dict(kind="train", task="adding", N=8, T=20, n_train=40, n_val=20, n_test=20, epochs=1, seed=0)
    rec = sweep.run_cell(cell)
    assert rec["error"] is None and rec["metrics"]["test_exploded"] is False
    real = training.evaluate

    def blown(net, X, y, loss=None, batch_size=1024):
        ev = real(net, X, y, loss=loss, batch_size=batch_size)
        return ev._replace(loss=2.5e18, metric=2.5e18)
    monkeypatch.setattr(training, "evaluate", blown)
    rec = sweep.run_cell(cell)
    assert rec["metrics"]["test_mse"] == 2.5e18 and rec["metrics"]["test_exploded"] is True


def test_default_max_loss_is_the_trainers_divergence_level():
    from wcrnn_dyn import training
    y = np.array([[1.0], [2.0]])
    assert training.default_max_loss(y, "mse", 1) == pytest.approx(1e6 * (2.5 + 1.0))
    assert training.default_max_loss(y, "cross_entropy", 10) == pytest.approx(1e3 * (math.log(10) + 1.0))
