"""The training loop: optimisers against naive references, schedules, clipping, determinism, exact resume,
atomic checkpoints, divergence handling, early stopping, best-model selection, callbacks, bad input."""
import os
import time

import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import residuals as R
from wcrnn_dyn import training as tr


def adding_data(n, T, seed):
    return wd.tasks.adding(n, T, seed=seed)


def small_net(seed=0, N=8, dtype=np.float64, n_out=1, d=2, **kw):
    return wd.WCRNN(d, N, n_out, residual=R.scaled_identity(N, 0.95), eps=0.2, seed=seed, dtype=dtype, **kw)


def params_equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    tr.set_blas_threads(1)
    yield


# ------------------------------------------------------------------------------------------------ learning
def test_learns_short_adding_problem():
    """T = 20: the test MSE falls far below the 1/6 of the constant predictor within seconds."""
    Xtr, ytr = adding_data(2000, 20, 0)
    Xva, yva = adding_data(300, 20, 1)
    Xte, yte = adding_data(500, 20, 2)
    net = wd.WCRNN(2, 32, 1, residual=R.scaled_identity(32, 0.99), eps=0.1, seed=0)
    before = tr.evaluate(net, Xte, yte).metric
    t0 = time.perf_counter()
    h = wd.train(net, Xtr, ytr, Xva, yva, steps=1500, batch_size=32, lr=1e-2, schedule="cosine")
    elapsed = time.perf_counter() - t0
    after = tr.evaluate(net, Xte, yte).metric
    assert before > 0.1
    # results, not wall time: the step count and the loss are asserted; the time is information only
    assert h.meta["n_steps"] == 1500 and h.meta["total_steps"] == 1500
    assert after < 0.03, f"test MSE {after} after 1500 steps ({elapsed:.1f} s, baseline 1/6)"
    assert h["val_loss"][-1] < h["val_loss"][0]


def test_learns_digits_classification():
    Xtr, ytr = wd.tasks.load("digits", "train", limit=400)
    Xva, yva = wd.tasks.load("digits", "val")
    net = wd.WCRNN(1, 32, 10, residual=R.scaled_identity(32, 0.99), eps=0.1, seed=0, dtype=np.float32)
    h = wd.train(net, Xtr, ytr, Xva, yva, epochs=8, batch_size=32, lr=1e-2)
    assert h.meta["loss"] == "cross_entropy" and h.meta["metric"] == "accuracy"
    assert net.W.dtype == np.float32
    assert max(h["val_metric"]) > 0.3  # chance is 0.1
    assert h.meta["best_val_metric"] == max(h["val_metric"])


# ------------------------------------------------------------------------------------------------ evaluate
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_evaluate_matches_net_loss_and_is_batch_invariant(loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((37, 9, 2))
    n_out = 1 if loss == "mse" else 4
    y = rng.standard_normal((37, 1)) if loss == "mse" else rng.integers(0, 4, 37)
    net = small_net(n_out=n_out)
    e1 = tr.evaluate(net, X, y, loss=loss, batch_size=5)
    e2 = tr.evaluate(net, X, y, loss=loss, batch_size=1000)
    assert e1.loss == pytest.approx(net.loss(X, y, loss=loss), rel=1e-12)
    assert e1.loss == pytest.approx(e2.loss, rel=1e-12)
    if loss == "mse":
        assert e1.metric == e1.loss
    else:
        acc = np.mean(np.argmax(net.predict(X), axis=1) == y)
        assert e1.metric == pytest.approx(acc) and e2.metric == pytest.approx(acc)
    # inferred loss
    assert tr.evaluate(net, X, y).loss == pytest.approx(e1.loss)


def test_evaluate_returns_nan_when_forward_diverges():
    net = wd.WCRNN(1, 4, 1, residual=R.scaled_identity(4, 1.5), eps=0.1, dtype=np.float32, seed=0)
    X = np.ones((3, 400, 1))
    e = tr.evaluate(net, X, np.zeros(3))
    assert np.isnan(e.loss) and np.isnan(e.metric)


# ------------------------------------------------------------------------------------------------ optimisers
def full_batch(seed=0, n=16, T=7):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, T, 2)), rng.standard_normal((n, 1))


def test_adam_matches_naive_reference():
    X, y = full_batch()
    net = small_net(trainable_residual=True)
    ref = net.copy()
    lr, b1, b2, e = 3e-3, 0.9, 0.999, 1e-8
    wd.train(net, X, y, steps=4, batch_size=len(X), lr=lr, clip_norm=None, optimizer="adam")
    p = ref.get_weights()
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    for t in range(1, 5):
        _, g = ref.loss_and_grad(X, y)
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            p[k] = p[k] - lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + e)
        ref.set_weights(p)
    got = net.get_weights()
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_sgd_momentum_weight_decay_and_clipping_match_naive_reference():
    X, y = full_batch(1)
    net = small_net()
    ref = net.copy()
    lr, mom, wdecay, clip = 0.05, 0.8, 0.01, 0.05
    wd.train(net, X, y, steps=3, batch_size=len(X), lr=lr, optimizer="sgd", momentum=mom, weight_decay=wdecay,
             clip_norm=clip)
    p = ref.get_weights()
    buf = {k: np.zeros_like(a) for k, a in p.items()}
    clipped = 0
    for _ in range(3):
        _, g = ref.loss_and_grad(X, y)
        norm = np.sqrt(sum(np.sum(a ** 2) for a in g.values()))
        if norm > clip:
            clipped += 1
            g = {k: a * clip / norm for k, a in g.items()}
        for k in p:
            buf[k] = mom * buf[k] + g[k]
            p[k] = p[k] - lr * buf[k] - (lr * wdecay * p[k] if k in ("W", "U", "V") else 0.0)
        ref.set_weights(p)
    assert clipped > 0  # the test exercises clipping
    got = net.get_weights()
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_schedules_step_and_cosine():
    X, y = full_batch(2, n=20)
    h = wd.train(small_net(), X, y, epochs=3, batch_size=10, lr=0.01, schedule="step", step_size=1, gamma=0.5)
    assert h["lr"] == pytest.approx([0.01, 0.005, 0.0025])
    h = wd.train(small_net(), X, y, epochs=4, batch_size=10, lr=0.01, schedule="cosine", min_lr=0.001)
    lrs = h["lr"]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(0.001 + 0.009 * 0.5 * (1 + np.cos(np.pi * 7 / 8)))
    kw = dict(lr=1.0, schedule="cosine", total_steps=10, steps_per_epoch=5, step_size=1, gamma=0.5, min_lr=0.0,
              warmup_steps=4)
    assert tr._lr_at(0, **kw) == pytest.approx(0.25)
    assert tr._lr_at(3, **kw) == pytest.approx(1.0)
    assert tr._lr_at(10, **kw) == pytest.approx(0.0)


def test_history_fields_and_grad_norm():
    X, y = full_batch(3, n=30)
    Xv, yv = full_batch(4, n=10)
    h = wd.train(small_net(), X, y, Xv, yv, epochs=3, batch_size=8, lr=1e-3)
    for k in tr.History.KEYS:
        assert len(h[k]) == 3, k
    assert h["epoch"] == [1, 2, 3] and h["step"] == [4, 8, 12]
    assert all(np.isfinite(h[k]).all() for k in ("train_loss", "val_loss", "val_metric", "grad_norm", "time"))
    assert h["val_loss"] == h["val_metric"]  # mse: metric = loss
    assert all(a <= b for a, b in zip(h["time"], h["time"][1:]))
    d = h.to_dict()
    assert tr.History.from_dict(d) == h


# ------------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_result_other_seed_differs():
    X, y = full_batch(5, n=40)
    nets = [small_net() for _ in range(3)]
    for net, s in zip(nets, (7, 7, 8)):
        wd.train(net, X, y, epochs=2, batch_size=6, lr=1e-2, seed=s)
    assert params_equal(nets[0].get_weights(), nets[1].get_weights())
    assert not params_equal(nets[0].get_weights(), nets[2].get_weights())


class Interrupt:
    """Wrap net.loss_and_grad to raise KeyboardInterrupt at a given call (mid-epoch)."""

    def __init__(self, net, at_call):
        self.orig = net.loss_and_grad
        self.calls = 0
        self.at = at_call
        net.loss_and_grad = self

    def __call__(self, *a, **k):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.orig(*a, **k)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_interrupted_run_resumes_exactly(tmp_path, optimizer):
    Xtr, ytr = adding_data(60, 8, 0)
    Xva, yva = adding_data(20, 8, 1)
    kw = dict(epochs=4, batch_size=7, lr=5e-3, seed=3, optimizer=optimizer, checkpoint_every_steps=4,
              schedule="cosine")  # 9 steps per epoch, 36 steps
    ref = small_net()
    h_ref = wd.train(ref, Xtr, ytr, Xva, yva, **kw)

    net = small_net()
    Interrupt(net, at_call=15)  # checkpoint at step 12 (mid epoch 2), killed during step 15
    with pytest.raises(KeyboardInterrupt):
        wd.train(net, Xtr, ytr, Xva, yva, checkpoint_dir=tmp_path, **kw)
    ck = tr.load_checkpoint(tmp_path / tr.CHECKPOINT_NAME)
    assert ck["meta"]["step"] == 12 and ck["meta"]["pos"] == 3  # mid-epoch
    fresh = small_net(seed=99)  # different init: everything must come from the checkpoint
    h = wd.train(fresh, Xtr, ytr, Xva, yva, checkpoint_dir=tmp_path, resume=True, **kw)
    assert params_equal(fresh.get_weights(), ref.get_weights())
    assert h.meta["resumed_at_step"] == 12
    for k in ("epoch", "step", "train_loss", "val_loss", "val_metric", "lr", "grad_norm"):
        assert h[k] == h_ref[k], k
    assert h.meta["best_epoch"] == h_ref.meta["best_epoch"]
    # resuming a finished run does nothing and gives the same (best) parameters
    again = small_net(seed=5)
    wd.train(again, Xtr, ytr, Xva, yva, checkpoint_dir=tmp_path, resume=True, **kw)
    assert params_equal(again.get_weights(), ref.get_weights())


def test_resume_rejects_a_checkpoint_of_another_run(tmp_path):
    X, y = full_batch(6, n=20)
    wd.train(small_net(), X, y, epochs=1, batch_size=5, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        wd.train(small_net(), X, y, epochs=1, batch_size=4, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="data_sha256"):
        wd.train(small_net(), X + 1.0, y, epochs=1, batch_size=5, checkpoint_dir=tmp_path, resume=True)


def test_crash_during_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import wcrnn_dyn.store as wio
    X, y = full_batch(7, n=24)
    kw = dict(epochs=2, batch_size=4, lr=1e-2, seed=1, checkpoint_every_steps=2)
    real_fdopen = os.fdopen
    state = {"n": 0}

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()
            return False

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError("simulated crash in the middle of the checkpoint write")

    def fdopen(fd, *a, **k):
        state["n"] += 1
        f = real_fdopen(fd, *a, **k)
        return HalfWriter(f) if state["n"] == 3 else f

    monkeypatch.setattr(wio.os, "fdopen", fdopen)
    with pytest.raises(OSError, match="simulated crash"):
        wd.train(small_net(), X, y, checkpoint_dir=tmp_path, **kw)
    monkeypatch.setattr(wio.os, "fdopen", real_fdopen)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [tr.CHECKPOINT_NAME], files  # no half-written temporary file left behind
    ck = tr.load_checkpoint(tmp_path / tr.CHECKPOINT_NAME)
    assert ck["meta"]["step"] == 4  # the second checkpoint; the third (step 6) crashed
    # and the run resumes from it to the same end point as an uninterrupted run
    ref = small_net()
    wd.train(ref, X, y, **kw)
    net = small_net()
    wd.train(net, X, y, checkpoint_dir=tmp_path, resume=True, **kw)
    assert params_equal(net.get_weights(), ref.get_weights())


def test_corrupt_checkpoint_is_reported(tmp_path):
    p = tmp_path / tr.CHECKPOINT_NAME
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        tr.load_checkpoint(p)


# ------------------------------------------------------------------------------------------------ divergence
class Poison:
    """Return a NaN loss at the given calls and record the parameters seen at every call."""

    def __init__(self, net, bad_calls):
        self.net = net
        self.orig = net.loss_and_grad
        self.bad = set(bad_calls)
        self.seen = []
        net.loss_and_grad = self

    def __call__(self, *a, **k):
        self.seen.append(self.net.get_weights())
        L, g = self.orig(*a, **k)
        if len(self.seen) in self.bad:
            return float("nan"), g
        return L, g


def test_divergence_rolls_back_last_update_and_reduces_lr():
    X, y = full_batch(8, n=30)
    net = small_net()
    p = Poison(net, bad_calls={5})
    h = wd.train(net, X, y, epochs=2, batch_size=5, lr=1e-2, divergence_lr_factor=0.25)
    assert h.meta["lr_reductions"] == 1 and not h.meta["diverged"]
    ev = h.meta["divergence_events"]
    assert len(ev) == 1 and ev[0]["step"] == 4 and "non-finite loss" in ev[0]["reason"]
    # call 5 failed: the update of call 4 is undone, so call 6 sees the parameters of call 4
    assert params_equal(p.seen[5], p.seen[3])
    assert h["lr"][-1] == pytest.approx(0.0025)
    assert all(np.all(np.isfinite(v)) for v in net.get_weights().values())


def test_persistent_divergence_raises_with_clear_message():
    # supercritical residual: the float32 state overflows in the forward pass at the initial parameters
    net = wd.WCRNN(1, 4, 1, residual=R.scaled_identity(4, 1.5), eps=0.1, dtype=np.float32, seed=0)
    X = np.ones((6, 400, 1), dtype=np.float32)
    y = np.zeros((6, 1), dtype=np.float32)
    p0 = net.get_weights()
    with pytest.raises(tr.TrainingDiverged, match="supercritical|diverged") as ei:
        wd.train(net, X, y, epochs=3, batch_size=2, max_lr_reductions=2)
    h = ei.value.history
    # the initial parameters already overflow: nothing to roll back, the run stops at the first event
    assert h.meta["diverged"] and len(h.meta["divergence_events"]) == 1
    assert "state overflow" in h.meta["divergence_events"][0]["reason"]
    assert "initial parameters" in h.meta["message"]
    assert params_equal(net.get_weights(), p0)
    # on_divergence="stop": returned, flagged, logged
    h2 = wd.train(net, X, y, epochs=3, batch_size=2, max_lr_reductions=0, on_divergence="stop")
    assert h2.meta["diverged"] and "initial parameters" in h2.meta["message"]


def test_divergence_after_a_good_epoch_restores_the_best_validation_parameters():
    # epoch 1 trains normally; a callback then makes the recurrence explode, so every later step overflows and
    # the run stops: the network must hold epoch 1's parameters (the test metric of a diverged run is taken
    # there, as for any run), flagged diverged and restored_best
    X, y = full_batch(3, n=16, T=300)
    net = wd.WCRNN(2, 6, 1, residual=R.scaled_identity(6, 0.9), eps=0.1, activation="relu", dtype=np.float32,
                   seed=0)
    kept = {}

    def explode(net_, epoch, history):
        if epoch == 1:
            kept.update(net_.get_weights())
            net_.set_weights({k: (v * 1e4 if k == "W" else v) for k, v in kept.items()})

    for mode in ("stop", "raise"):
        if mode == "stop":
            h = wd.train(net, X.astype(np.float32), y.astype(np.float32), epochs=3, batch_size=8,
                         X_val=X.astype(np.float32), y_val=y.astype(np.float32), callbacks=(explode,),
                         max_lr_reductions=0, on_divergence="stop")
        else:
            net = wd.WCRNN(2, 6, 1, residual=R.scaled_identity(6, 0.9), eps=0.1, activation="relu",
                           dtype=np.float32, seed=0)
            with pytest.raises(tr.TrainingDiverged) as ei:
                wd.train(net, X.astype(np.float32), y.astype(np.float32), epochs=3, batch_size=8,
                         X_val=X.astype(np.float32), y_val=y.astype(np.float32), callbacks=(explode,),
                         max_lr_reductions=0)
            h = ei.value.history
        assert h.meta["diverged"] and h.meta["restored_best"], mode
        assert "best validation epoch (1)" in h.meta["message"]
        assert params_equal(net.get_weights(), kept), mode


def test_exploding_updates_are_caught():
    """A huge learning rate without clipping: non-finite values are caught, never silently kept."""
    X, y = full_batch(9, n=20)
    net = wd.WCRNN(2, 6, 1, residual=R.scaled_identity(6, 1.0), eps=1.0, activation="identity", seed=0)
    h = wd.train(net, X, 1e6 * y, epochs=20, batch_size=5, lr=1e6, optimizer="sgd", clip_norm=None,
                 max_lr_reductions=2, on_divergence="stop")
    assert h.meta["diverged"] or h.meta["lr_reductions"] > 0
    assert all(np.all(np.isfinite(v)) for v in net.get_weights().values())


# ------------------------------------------------------------------------------------------------ selection
def test_early_stopping_and_best_model_restored():
    X, y = full_batch(10, n=20)
    Xv, yv = full_batch(11, n=10)
    h = wd.train(small_net(), X, y, Xv, yv, epochs=10, batch_size=5, lr=1e-12, patience=2, min_delta=0.1)
    assert h.meta["stopped_early"] and len(h["epoch"]) == 3 and h.meta["best_epoch"] == 1

    snaps = {}

    def record(net, epoch, history):
        snaps[epoch] = net.get_weights()

    net = small_net()
    h = wd.train(net, X, y, Xv, yv, epochs=6, batch_size=5, lr=0.2, callbacks=[record])
    best = h.meta["best_epoch"]
    assert h["val_metric"][best - 1] == min(h["val_metric"])
    assert h.meta["restored_best"]
    assert params_equal(net.get_weights(), snaps[best])
    assert tr.evaluate(net, Xv, yv).metric == pytest.approx(min(h["val_metric"]), rel=1e-12)


def test_callback_can_stop_and_sees_history():
    X, y = full_batch(12, n=20)
    seen = []

    def cb(net, epoch, history):
        seen.append((epoch, len(history["epoch"])))
        return epoch == 2

    h = wd.train(small_net(), X, y, epochs=5, batch_size=5, callbacks=[cb])
    assert seen == [(1, 1), (2, 2)] and len(h["epoch"]) == 2 and "callback" in h.meta["message"]


def test_lyapunov_callback_records_top_exponents():
    X, y = full_batch(13, n=20)
    net = wd.WCRNN(2, 8, 1, residual=R.scaled_identity(8, 0.9), eps=1e-3, seed=0)
    drive = np.random.default_rng(0).standard_normal((300, 2))
    cb = tr.lyapunov_callback(drive, k=3, every=2, burn_in=20)
    h = wd.train(net, X, y, epochs=4, batch_size=10, lr=1e-4, callbacks=[cb])
    assert h["lyap_epoch"] == [2, 4]
    ex = np.asarray(h["lyap_exponents"])
    assert ex.shape == (2, 3)
    # eps -> 0: all exponents near log 0.9 (docs/THEORY.md section 4.1)
    np.testing.assert_allclose(ex, np.log(0.9), atol=5e-3)


def test_progress_bar_runs(capsys):
    X, y = full_batch(14, n=10)
    h = wd.train(small_net(), X, y, epochs=2, batch_size=5, progress=True)
    assert len(h["epoch"]) == 2


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_is_rejected_with_named_arguments():
    X, y = full_batch(15, n=10)
    net = small_net()
    labels = np.arange(10) % 3
    cls = small_net(n_out=3)
    cases = [
        (dict(X_train=X, y_train=y[:9]), ValueError, "y_train"),
        (dict(X_train=X, y_train=labels + 1), ValueError, "y_train labels"),
        (dict(X_train=X, y_train=-labels), ValueError, "y_train labels"),
    ]
    for kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            wd.train(cls, **kw)
    Xn = X.copy()
    Xn[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X_train contains NaN"):
        wd.train(net, Xn, y)
    with pytest.raises(ValueError, match="X_train"):
        wd.train(net, X[:, :, :1], y)
    with pytest.raises(ValueError, match="lr"):
        wd.train(net, X, y, lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        wd.train(net, X, y, lr=-1e-3)
    with pytest.raises(ValueError, match="optimizer"):
        wd.train(net, X, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="schedule"):
        wd.train(net, X, y, schedule="linear")
    with pytest.raises(ValueError, match="loss"):
        wd.train(net, X, y, loss="hinge")
    with pytest.raises(ValueError, match="batch_size"):
        wd.train(net, X, y, batch_size=0)
    with pytest.raises(TypeError, match="epochs"):
        wd.train(net, X, y, epochs=2.5)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        wd.train(net, X, y, resume=True)
    with pytest.raises(ValueError, match="X_val"):
        wd.train(net, X, y, X_val=X)
    with pytest.raises(ValueError, match="X_val and y_val"):
        wd.train(net, X, y, X_val=X, y_val=y[:3])
    with pytest.raises(TypeError, match="callbacks"):
        wd.train(net, X, y, callbacks=[1])
    with pytest.raises(TypeError, match="seed"):
        wd.train(net, X, y, seed="zero")
    with pytest.raises(TypeError, match="y_train"):
        wd.train(cls, X, labels + 0.5, loss="cross_entropy")
    with pytest.raises(TypeError, match="net"):
        wd.train("net", X, y)
    with pytest.raises(ValueError, match="y labels"):
        tr.evaluate(cls, X, labels + 3)
