"""The builder (wcrnn_dyn.build): one way to make residuals, models and data, used by CLI and sweeps alike."""
import json
import subprocess
import sys

import numpy as np
import pytest

from wcrnn_dyn import build, sweep


# ------------------------------------------------------------------------------------ invariants
def test_same_seed_same_weights_across_residual_families():
    a = build.make_model({"family": "rotational", "N": 8, "seed": 4}, 2, 3)
    b = build.make_model({"family": "scaled_identity", "N": 8, "seed": 4, "mu": 0.9}, 2, 3)
    for k in ("W", "U", "V"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    c = build.make_model({"family": "rotational", "N": 8, "seed": 5}, 2, 3)
    assert not np.array_equal(a.W, c.W)


def test_streams_are_independent():
    w = build.rng(0, "weights").standard_normal(16)
    r = build.rng(0, "residual").standard_normal(16)
    assert not np.allclose(w, r)
    np.testing.assert_array_equal(w, build.rng(0, "weights").standard_normal(16))


@pytest.mark.parametrize("name", [n for n, f in build.FAMILIES.items() if not f.needs_data])
def test_every_family_builds_with_its_spectral_radius(name):
    spec = {"family": name, "N": 6, "mu": 0.95, "tau_min": 5.0, "tau_max": 50.0, "seed": 1}
    R = build.make_residual(spec)
    assert R.n == 6
    rho = np.max(np.abs(R.eigenvalues()))
    if name == "zero":
        assert rho == 0
    elif name in ("heterogeneous", "heterogeneous_rotational"):
        assert 0.85 - 1e-12 <= rho <= 0.95 + 1e-12
    elif "timescales" in name:
        assert np.exp(-1 / 5.0) - 1e-12 <= rho <= np.exp(-1 / 50.0) + 1e-12
    else:
        assert rho == pytest.approx(0.95, abs=1e-12)


def test_data_families_need_data_and_mismatched_sits_between_peaks():
    spec = {"family": "rotational_matched", "N": 8, "mu": 0.99}
    with pytest.raises(ValueError, match="needs the training inputs"):
        build.make_residual(spec)
    t = np.arange(256)
    X = np.stack([np.sin(2 * np.pi * 0.1 * t + p) + np.sin(2 * np.pi * 0.3 * t + 2 * p) for p in np.linspace(0, 3, 20)])
    X = X[:, :, None]
    m = build.make_residual(spec, X)
    mm = build.make_residual(dict(spec, family="rotational_mismatched"), X)
    fm = np.asarray(m.meta["thetas"]) / (2 * np.pi)
    fmm = np.asarray(mm.meta["thetas"]) / (2 * np.pi)
    assert np.all(np.min(np.abs(fm[:, None] - np.array([0.1, 0.3])[None]), axis=1) < 0.01)
    np.testing.assert_allclose(fmm, 0.2, atol=0.01)


def test_random_angles_respect_theta_min():
    R = build.make_residual({"family": "rotational_random", "N": 40, "mu": 0.9, "theta_min": 0.5, "seed": 2})
    th = np.asarray(R.meta["thetas"])
    assert th.min() >= 0.5 and th.max() < np.pi


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="unknown residual family"):
        build.make_residual({"family": "nope"})
    with pytest.raises(ValueError, match="mu must be"):
        build.make_residual({"family": "rotational", "mu": -1.0})
    with pytest.raises(ValueError, match="seed"):
        build.make_model({"seed": True}, 1, 1)
    with pytest.raises(ValueError, match="N must be"):
        build.make_model({"N": 4.5}, 1, 1)
    with pytest.raises(ValueError, match="unknown task"):
        build.task("mnist")
    with pytest.raises(ValueError, match="center"):
        build.task_data("adding", "train", n=2, T=4, center=True)


def test_centred_inputs_have_zero_training_mean():
    X, _ = build.task_data("digits", "train", center=True)
    assert abs(float(X.mean())) < 1e-12
    Xr, _ = build.task_data("digits", "test")
    Xc, _ = build.task_data("digits", "test", center=True)
    np.testing.assert_allclose(Xr - Xc, np.full_like(Xr, Xr.mean() - Xc.mean()), atol=1e-12)


# ------------------------------------------------------------------------------------ known examples
def test_still_improving_and_epochs_to_fraction():
    acc = build.task("psmnist")
    assert acc.still_improving([0.5, 0.7, 0.8, 0.85])          # +0.05 in the last quarter
    assert not acc.still_improving([0.5, 0.8, 0.85, 0.855])     # +0.005
    assert acc.still_improving([0.5])                           # one epoch: nothing shows it settled
    assert acc.epochs_to_fraction([0.5, 0.8, 0.9], 0.9) == 3    # 90 % of the way from 0.1 to 0.9 is 0.82
    assert acc.epochs_to_fraction([0.5, 0.85, 0.9], 0.9) == 2
    mse = build.task("adding")
    assert mse.still_improving([0.1, 0.05, 0.01, 0.001])
    assert not mse.still_improving([0.1, 0.01, 0.0011, 0.001])
    assert mse.epochs_to_fraction([1 / 6, 1 / 6], 0.9) == -1     # never beats the baseline


def test_competence():
    assert build.task("smnist").competent(0.95) and not build.task("smnist").competent(0.949)
    assert build.task("adding").competent(0.01) and not build.task("adding").competent(0.02)
    assert not build.task("adding").competent(float("nan"))


# ------------------------------------------------------------------------------------ CLI == sweep cell
def test_cli_train_and_sweep_cell_give_identical_metrics(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "wcrnn_dyn", "train", "--task", "adding", "--seq-len", "10", "--n-train", "40",
           "--n-val", "20", "--n-test", "20", "--steps", "4", "--batch-size", "20", "--hidden", "6",
           "--residual", "rotational", "--mu", "0.97", "--eps", "0.1", "--seed", "3", "--no-figure", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    cli = json.loads((out / "results.json").read_text())["metrics"]
    cell = dict(kind="train", task="adding", T=10, n_train=40, n_val=20, n_test=20, steps=4, batch_size=20, N=6,
                family="rotational", mu=0.97, eps=0.1, seed=3, lr=1e-2, clip=1.0, schedule="cosine")
    rec = sweep.run_cell(cell)
    assert rec["error"] is None
    assert rec["metrics"]["test_mse"] == cli["test_mse"]
    assert rec["metrics"]["test_loss"] == cli["test_loss"]


def test_one_family_registry_and_task_facts_from_the_data_module():
    import warnings
    from wcrnn_dyn import residuals, tasks
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert residuals.FAMILIES is residuals.CONSTRUCTORS
    assert any(issubclass(x.category, DeprecationWarning) for x in w)
    for name, t in build.TASKS.items():
        facts = tasks.info("digits" if name == "pdigits" else name)
        assert (t.metric, t.n_out) == (facts["metric"], facts["n_outputs"])


def test_typical_values_mean_for_accuracy_geometric_mean_for_mse():
    acc, mse = build.task("psmnist"), build.task("adding")
    assert acc.typical([0.9, 0.8, float("nan")]) == pytest.approx(0.85)
    assert acc.spread([0.9, 0.8]) == pytest.approx(np.std([0.9, 0.8], ddof=1))
    # one exploded run does not outweigh the others
    assert mse.typical([1e-3, 1e-3, 1e15]) == pytest.approx(1e3, rel=1e-9)
    assert mse.spread([1e-3, 1e-1]) == pytest.approx(np.std([-3.0, -1.0], ddof=1))
    assert np.isnan(mse.typical([float("nan")])) and np.isnan(acc.spread([0.5]))
