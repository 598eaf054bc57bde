"""Divergence and bad state: non-finite states anywhere in the trajectory, non-finite gradients, training
that stops on the first non-finite loss at the initial parameters, and checkpoints checked whole before a
resume (issue 12)."""
import json

import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import residuals as R
from wcrnn_dyn import training as tr
from wcrnn_dyn.models import DivergenceError


def overflow_then_vanish_elman():
    """A relu Elman net whose state overflows to inf at t = 3 and returns to a finite value at t = 4:
    h_t = relu(W h_{t-1} + U x_t) with W = 1e200 I; x = (1, 0, 0, -inf-ish) drives it back to 0."""
    N = 2
    W = 1e200 * np.eye(N)
    U = np.ones((N, 1))
    return wd.Elman.from_arrays(W, U, np.zeros(N), np.ones((1, N)), np.zeros(1), activation="relu")


def test_states_detects_non_finite_values_anywhere_in_the_trajectory():
    net = overflow_then_vanish_elman()
    # t=1: 1; t=2: 1e200; t=3: inf; t=4: relu(inf*1e200 - big) ... use a large negative input to get
    # relu(-inf) = 0 or NaN -> either way the trajectory held an inf at t=3
    X = np.array([[1.0], [0.0], [0.0], [-1e300]])[None]
    with pytest.raises(DivergenceError, match="time step 3 of 4"):
        net.states(X)
    with pytest.raises(DivergenceError, match="overflowed or became NaN"):
        net.loss_and_grad(X, np.zeros((1, 1)))


def test_the_issue_example_trains_to_diverged_true():
    """Issue 12: a supercritical residual (mu = 1.5) over T = 2000 overflows at the initial parameters."""
    net = wd.WCRNN(2, 8, 1, residual=R.scaled_identity(8, 1.5), eps=.1)
    p0 = net.get_weights()
    h = wd.train(net, *wd.tasks.adding(64, 2000), steps=3, batch_size=64, on_divergence="stop")
    assert h.meta["diverged"] is True
    assert len(h.meta["divergence_events"]) == 1 and h.meta["n_steps"] == 1
    assert "supercritical" in h.meta["message"] and "initial parameters" in h.meta["message"]
    assert all(np.array_equal(v, p0[k]) for k, v in net.get_weights().items())
    with pytest.raises(tr.TrainingDiverged, match="initial parameters"):
        wd.train(net, *wd.tasks.adding(64, 2000), steps=3, batch_size=64)


def test_loss_and_grad_never_returns_non_finite_gradients():
    # T = 1, h_1 = U x = 1e300 (finite), z = V h_1 = 1e100 (finite loss 1e200), dV = dz h_1 = inf
    net = wd.Elman.from_arrays(np.zeros((1, 1)), np.ones((1, 1)), np.zeros(1), 1e-200 * np.ones((1, 1)),
                               np.zeros(1), activation="identity")
    X = np.full((1, 1, 1), 1e300)
    with np.errstate(all="ignore"):
        with pytest.raises(DivergenceError, match="gradient of V is not finite"):
            net.loss_and_grad(X, np.zeros((1, 1)))
    # an overflowing output: the loss itself is not finite
    net.V[:] = 1e10
    with np.errstate(all="ignore"):
        with pytest.raises(DivergenceError, match="loss is not finite"):
            net.loss_and_grad(X, np.zeros((1, 1)))


def test_finite_case_unchanged():
    net = wd.WCRNN(2, 4, 1, seed=0)
    X, y = wd.tasks.adding(5, 6)
    L, g = net.loss_and_grad(X, y)
    assert np.isfinite(L) and all(np.all(np.isfinite(v)) for v in g.values())


# ------------------------------------------------------------------------------------------------ checkpoints
def _make_checkpoint(tmp_path):
    X, y = wd.tasks.adding(20, 5, seed=0)
    kw = dict(epochs=2, batch_size=5, checkpoint_dir=tmp_path, checkpoint_every_steps=3)
    net = wd.WCRNN(2, 4, 1, seed=0)
    wd.train(net, X, y, steps=3, **{k: v for k, v in kw.items() if k != "epochs"})
    return X, y, tmp_path / tr.CHECKPOINT_NAME


def _rewrite(path, drop=(), meta_update=None, arrays=None):
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    meta = json.loads(str(files["meta"]))
    for k in drop:
        if k in meta:
            del meta[k]
        files.pop(k, None)
    meta.update(meta_update or {})
    files.update(arrays or {})
    files["meta"] = np.array(json.dumps(meta))
    np.savez(path, **files)


@pytest.mark.parametrize("case, pattern", [
    (dict(drop=["rng_state"]), "missing rng_state"),
    (dict(drop=["history"]), "missing history"),
    (dict(drop=["perm"]), r"missing perm"),
    (dict(drop=["opt_v_W"]), "opt_v.*missing: W"),
    (dict(meta_update={"step": 10 ** 6}), r"step = 1000000"),
    (dict(meta_update={"pos": 99}), r"pos = 99"),
    (dict(arrays={"param_W": np.zeros((5, 5))}), r"parameter W has shape \(5, 5\)"),
    (dict(arrays={"param_U": np.full((4, 2), np.nan)}), r"parameter U is not a finite"),
])
def test_checkpoint_checked_whole_before_resuming(tmp_path, case, pattern):
    X, y, path = _make_checkpoint(tmp_path)
    _rewrite(path, **case)
    before = path.read_bytes()
    net = wd.WCRNN(2, 4, 1, seed=0)
    p0 = net.get_weights()
    with pytest.raises(ValueError, match=pattern) as ei:
        wd.train(net, X, y, steps=3, batch_size=5, checkpoint_dir=tmp_path, checkpoint_every_steps=3,
                 resume=True)
    assert str(path) in str(ei.value)
    assert path.read_bytes() == before  # nothing deleted or rewritten
    assert all(np.array_equal(v, p0[k]) for k, v in net.get_weights().items())  # nothing changed


def test_exploding_but_finite_loss_is_divergence():
    """Issue 12: mu = 1.5 over T = 50 gave test MSE 2e12 with diverged False."""
    X, y = wd.tasks.adding(64, 50, seed=0)
    net = wd.WCRNN(2, 16, 1, residual=R.scaled_identity(16, 1.5), seed=0)
    h = wd.train(net, X, y, steps=5, batch_size=32, on_divergence="stop")
    assert h.meta["diverged"] and "exploding loss" in h.meta["message"]
    assert h.meta["n_steps"] == 1
    # the bound can be lifted: then training runs (and the loss stays astronomically large)
    h2 = wd.train(wd.WCRNN(2, 16, 1, residual=R.scaled_identity(16, 1.5), seed=0), X, y, steps=2, batch_size=32,
                  max_loss=float("inf"), on_divergence="stop")
    assert not h2.meta["diverged"] and h2["train_loss"][-1] > 1e6
    with pytest.raises(ValueError, match="max_loss"):
        wd.train(net, X, y, steps=1, max_loss=-1.0)
    # an ordinary run never reaches the default bound
    h3 = wd.train(wd.WCRNN(2, 8, 1, seed=0), X, y, steps=4, batch_size=16)
    assert not h3.meta["diverged"] and h3.meta["lr_reductions"] == 0
