"""Resumable Lyapunov spectra: ``lyapunov_spectrum(..., Q0=, return_state=, checkpoint=, resume=)`` and
:class:`LyapunovState`, against uninterrupted runs; ``lyapunov_spectrum_map(qr_every="auto")`` against
``qr_every=1``."""
import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import lyapunov as L


def _net(N=8, mu=0.97, seed=0, kind="rotational"):
    res = getattr(wd.residuals, kind)(N, mu)
    return wd.WCRNN(1, N, 1, residual=res, eps=0.1, seed=seed)


def _chaotic_elman(N=8):
    rng = np.random.default_rng(3)
    return wd.Elman.from_arrays(3.0 * rng.standard_normal((N, N)) / np.sqrt(N), rng.standard_normal((N, 1)),
                                np.zeros(N), np.zeros((1, N)), np.zeros(1))


@pytest.fixture
def small_chunks(monkeypatch):
    """Kernel calls of a few steps, so that a short run has many points where it can pause."""
    monkeypatch.setattr(L, "FLOPS_PER_CHUNK", 2e4)


def _pausing_every(n):
    """A checkpoint callback that pauses the run every n-th call (and saves nothing)."""
    calls = [0]

    def cb(get_state):
        calls[0] += 1
        return calls[0] % n == 0
    return cb


def _run_in_pieces(net, X, n_pause, **kw):
    """Run to the end, pausing every n_pause-th callback and resuming from the returned state each time."""
    cb = _pausing_every(n_pause)
    state, pauses = None, 0
    while True:
        res, state = wd.lyapunov_spectrum(net, X, resume=state, checkpoint=cb, return_state=True, **kw)
        if res is not None:
            return res, state, pauses
        assert not state.finished and 0 < state.steps_done < state.total_steps
        pauses += 1


def _same(a, b, tol=1e-12):
    for name in ("exponents", "stderr", "history", "history_steps", "block_log_r", "split_half_diff"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=tol, err_msg=name)
    assert a.n_steps == b.n_steps and a.converged == b.converged


@pytest.mark.parametrize("qr_every", [1, 3, "auto"])
@pytest.mark.parametrize("batch", [False, True])
def test_paused_and_resumed_equals_uninterrupted(small_chunks, qr_every, batch):
    net = _net()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 1500, 1)) if batch else rng.standard_normal((1500, 1))
    kw = dict(k=5, burn_in=50, qr_every=qr_every, washout=20, n_threads=2 if batch else 1)
    ref = wd.lyapunov_spectrum(net, X, **kw)
    res, state, pauses = _run_in_pieces(net, X, 2, **kw)
    assert pauses >= 3
    _same(res, ref)
    assert res.settings["resumed_at_step"] > 0
    assert state.finished and state.steps_done == 1480
    # the final frame is orthonormal (the last step is re-orthonormalised)
    for Q in state.Q:
        np.testing.assert_allclose(Q.T @ Q, np.eye(5), atol=1e-12)


def test_full_spectrum_of_a_chaotic_elman_network_resumes_exactly(small_chunks):
    net = _chaotic_elman()
    kw = dict(T=1200, burn_in=100, qr_every="auto")
    ref = wd.lyapunov_spectrum(net, None, **kw)
    assert ref.top > 0
    res, _, pauses = _run_in_pieces(net, None, 3, **kw)
    assert pauses >= 2
    _same(res, ref)


def test_until_tol_stops_at_the_same_step_when_resumed(small_chunks):
    net = _net(mu=0.9)
    kw = dict(T=40000, burn_in=100, qr_every="auto", tol=2e-3, until_tol=True)
    ref = wd.lyapunov_spectrum(net, None, **kw)
    assert ref.settings["stopped_early"]
    res, state, pauses = _run_in_pieces(net, None, 2, **kw)
    assert pauses >= 2
    _same(res, ref)
    assert state.finished and state.steps_done < state.total_steps
    # a finished state resumed is only summarised
    res2, _ = wd.lyapunov_spectrum(net, None, resume=state, return_state=True, **kw)
    _same(res2, ref, tol=0.0)


def test_state_saved_to_a_file_resumes(tmp_path, small_chunks):
    net = _net(N=6)
    X = np.random.default_rng(1).standard_normal((800, 1))
    ref = wd.lyapunov_spectrum(net, X, burn_in=30)
    res, st = wd.lyapunov_spectrum(net, X, burn_in=30, checkpoint=lambda get: True, return_state=True)
    assert res is None and f"steps_done={st.steps_done} of 800" in repr(st) and 0 < st.steps_done < 800
    path = st.save(tmp_path / "state.npz")
    assert not list(tmp_path.glob("*.tmp*"))
    back = L.LyapunovState.load(path)
    assert back.steps_done == st.steps_done and back.settings == st.settings
    np.testing.assert_array_equal(back.Q, st.Q)
    res, _ = wd.lyapunov_spectrum(net, X, burn_in=30, resume=back, return_state=True)
    _same(res, ref, tol=0.0)


def test_damaged_state_files_are_refused(tmp_path):
    net = _net(N=4)
    _, st = wd.lyapunov_spectrum(net, None, T=300, return_state=True)
    arrays = st.to_arrays()
    with pytest.raises(ValueError, match="lacks Q"):
        L.LyapunovState.from_arrays({k: v for k, v in arrays.items() if k != "Q"})
    bad = dict(arrays, Q=arrays["Q"][:, :, :2])
    with pytest.raises(ValueError, match="h / Q have shapes"):
        L.LyapunovState.from_arrays(bad)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="not a readable Lyapunov state"):
        L.LyapunovState.load(tmp_path / "junk.npz")


@pytest.mark.parametrize("change,needle", [
    (dict(k=3), "k"),
    (dict(burn_in=20), "burn_in"),
    (dict(qr_every=2), "qr_every"),
    (dict(until_tol=True), "until_tol"),
    (dict(X="other"), "X (the input values)"),
    (dict(net="other"), "net (its weights or residual)"),
])
def test_resume_with_other_arguments_names_the_argument(change, needle):
    net = _net(N=6)
    X = np.random.default_rng(1).standard_normal((600, 1))
    kw = dict(k=4, burn_in=30)
    _, st = wd.lyapunov_spectrum(net, X, checkpoint=lambda get: True, return_state=True, **kw)
    kw.update({k: v for k, v in change.items() if k not in ("X", "net")})
    X2 = X + 1e-9 if change.get("X") else X
    net2 = _net(N=6, seed=1) if change.get("net") else net
    with pytest.raises(ValueError, match="resume: the state was started with other") as e:
        wd.lyapunov_spectrum(net2, X2, resume=st, return_state=True, **kw)
    assert needle in str(e.value)


def test_bad_resume_arguments():
    net = _net(N=4)
    with pytest.raises(ValueError, match="checkpoint needs return_state=True"):
        wd.lyapunov_spectrum(net, None, T=100, burn_in=10, checkpoint=lambda g: False)
    with pytest.raises(TypeError, match="checkpoint must be"):
        wd.lyapunov_spectrum(net, None, T=100, burn_in=10, checkpoint=3, return_state=True)
    with pytest.raises(TypeError, match="resume must be"):
        wd.lyapunov_spectrum(net, None, T=100, burn_in=10, resume={"h": 0})
    with pytest.raises(TypeError, match="return_state must be a bool"):
        wd.lyapunov_spectrum(net, None, T=100, burn_in=10, return_state=1)


def test_q0_default_frame_and_checks():
    net = _net(N=6)
    X = np.random.default_rng(2).standard_normal((500, 1))
    ref = wd.lyapunov_spectrum(net, X, k=3, burn_in=20, seed=5)
    res = wd.lyapunov_spectrum(net, X, k=3, burn_in=20, Q0=L.initial_frame(6, 3, 5))
    _same(res, ref, tol=0.0)
    Qb = np.stack([L.initial_frame(6, 3, s) for s in range(2)])
    Xb = np.stack([X, X])
    rb = wd.lyapunov_spectrum(net, Xb, k=3, burn_in=20, Q0=Qb)
    r1 = wd.lyapunov_spectrum(net, X, k=3, burn_in=20, seed=1)
    np.testing.assert_allclose(rb.per_sequence[1], r1.exponents, atol=1e-13)
    with pytest.raises(ValueError, match="Q0 must have orthonormal columns"):
        wd.lyapunov_spectrum(net, X, k=3, Q0=2 * L.initial_frame(6, 3, 0))
    with pytest.raises(ValueError, match=r"Q0 must have shape \(6, 3\)"):
        wd.lyapunov_spectrum(net, X, k=3, Q0=np.eye(6))


def test_chaining_by_hand_with_h0_q0_and_the_block_sums():
    """Two calls, the second started from the first's final state and frame (h0=, Q0=) without burn-in: the
    per-sequence block sums of both add up to the uninterrupted run's exponents (qr_every = 1: the QR points
    coincide)."""
    net = _net(N=7)
    X = np.random.default_rng(4).standard_normal((1000, 1))
    ref = wd.lyapunov_spectrum(net, X, burn_in=100)
    r1, s1 = wd.lyapunov_spectrum(net, X[:400], burn_in=100, return_state=True)
    r2, s2 = wd.lyapunov_spectrum(net, X[400:], burn_in=0, h0=s1.h[0], Q0=s1.Q[0], return_state=True)
    total = s1.block_log_r.sum(axis=0)[0] + s2.block_log_r.sum(axis=0)[0]
    np.testing.assert_allclose(np.sort(total / 900)[::-1], ref.exponents, rtol=0, atol=1e-12)
    assert r1.n_steps == 300 and r2.n_steps == 600


# ------------------------------------------------------------------------------------------ maps


def _henon():
    a, b = 1.4, 0.3
    step = lambda x: np.array([1 - a * x[0] ** 2 + x[1], b * x[0]])  # noqa: E731
    tangent = lambda x, Q: np.array([[-2 * a * x[0], 1.0], [b, 0.0]]) @ Q  # noqa: E731
    return step, tangent


def test_map_auto_interval_equals_qr_every_1_on_the_henon_map():
    step, tangent = _henon()
    ref = wd.lyapunov_spectrum_map(step, tangent, [0.1, 0.1], 20000, burn_in=200)
    auto = wd.lyapunov_spectrum_map(step, tangent, [0.1, 0.1], 20000, burn_in=200, qr_every="auto")
    np.testing.assert_allclose(auto.exponents, ref.exponents, rtol=0, atol=1e-12)
    np.testing.assert_allclose(auto.exponents.sum(), np.log(0.3), atol=1e-12)   # |det J| = b
    assert abs(ref.exponents[0] - 0.419) < 0.01
    assert auto.settings["qr_every"] == "auto" and auto.settings["n_qr"] >= 1


def test_map_auto_interval_grows_on_a_well_conditioned_linear_map():
    # x -> A x with A = S diag(0.9, 0.85, 0.8) S^-1: exponents log 0.9, log 0.85, log 0.8 (exact oracle)
    S = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.2], [0.1, 0.0, 1.0]])
    A = S @ np.diag([0.9, 0.85, 0.8]) @ np.linalg.inv(S)
    step = lambda x: A @ x  # noqa: E731
    tangent = lambda x, Q: A @ Q  # noqa: E731
    ref = wd.lyapunov_spectrum_map(step, tangent, np.ones(3), 6000, burn_in=500)
    auto = wd.lyapunov_spectrum_map(step, tangent, np.ones(3), 6000, burn_in=500, qr_every="auto", qr="cholesky")
    assert auto.settings["auto_max_interval"] > 8 and auto.settings["n_qr"] < 6000 / 4
    np.testing.assert_allclose(auto.exponents, ref.exponents, rtol=0, atol=1e-12)
    np.testing.assert_allclose(auto.exponents, np.log([0.9, 0.85, 0.8]), atol=2e-3)


def test_map_bad_interval_names_qr_every():
    step, tangent = _henon()
    with pytest.raises(ValueError, match="qr_every"):
        wd.lyapunov_spectrum_map(step, tangent, [0.1, 0.1], 100, qr_every="sometimes")
