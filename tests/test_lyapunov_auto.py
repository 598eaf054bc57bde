"""qr_every="auto" (adaptive re-orthonormalisation interval) and until_tol (stopping rule) of
wcrnn_dyn.lyapunov.lyapunov_spectrum (kernel: wcrnn_dyn._kernels_lyap.frame_loop_auto).

Checked here: the kernel against a slow dense NumPy reference that follows the same interval rule; the
interval rule itself against a pure-Python formula; auto against qr_every=1 on well- and ill-conditioned
cases (contracting WCRNN, near-critical WCRNN, chaotic Elman, saturated Elman, a frame whose norm would
over- or underflow) within the tolerance stated in docs/LYAPUNOV.md (1e-9 nats/step), the sum identity
against dense log|det J_t|, exact oracles (eps = 0: log mu); the stopping rule (stops early on an easy case
with the stated error, never before 20 blocks, equal to a run of the stopped length, batches, runs to the end
when the tolerance is not reached) and argument checking.
"""
import math

import numpy as np
import pytest

import naive_lyapunov as nl
import wcrnn_dyn as wd
from wcrnn_dyn import _kernels_lyap as KL
from wcrnn_dyn import lyapunov as ly
from wcrnn_dyn.lyapunov import lyapunov_spectrum

R_ = wd.residuals
AUTO_TOL = 1e-9   # docs/LYAPUNOV.md: auto and qr_every=1 agree to rounding (~1e-10 per exponent at most)


def _rot_net(N, mu, eps, seed=0, d=1):
    th = np.linspace(0.1, 3.0, N // 2)
    R = R_.rotational(N, mu, th)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, N)) / math.sqrt(N)
    U = rng.standard_normal((N, d))
    return wd.WCRNN.from_arrays(R, W, U, np.zeros(N), np.zeros((1, N)), np.zeros(1), eps=eps)


def _elman(N, gain, seed=0):
    rng = np.random.default_rng(seed)
    W = gain * rng.standard_normal((N, N)) / math.sqrt(N)
    U = rng.standard_normal((N, 1))
    return wd.Elman.from_arrays(W, U, np.zeros(N), np.zeros((1, N)), np.zeros(1))


def _X(T, B=None, seed=1, d=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, d) if B is None else (B, T, d))


CASES = {
    # well conditioned: every exponent near log 0.9, the frame stays near-orthogonal for many steps
    "contracting": lambda N: _rot_net(N, 0.9, 0.05),
    # near-critical: mu close to 1, exponents within ~0.1 of 0
    "near_critical": lambda N: _rot_net(N, 0.999, 0.05, seed=3),
    # chaotic Elman: positive top exponent, saturated units make J_t nearly singular (exponents down to -10)
    "chaotic_elman": lambda N: _elman(N, 3.0),
}


# --------------------------------------------------------------------------------------------------
# the interval rule and the kernel against slow references
# --------------------------------------------------------------------------------------------------

def _next_interval_ref(logr, m, ok, rcond_min, cap):
    """docs/LYAPUNOV.md's rule written out: the largest m' <= cap with m' * spread_rate <= log(1/rcond_min) / 2
    and m' * norm_rate <= AUTO_LOG_NORM_MAX / 2 (rates per step over the last m steps); failed check:
    at most max(1, m // 4); a non-finite log r: 1."""
    if not ok:
        cap = max(1, min(cap, m // KL.AUTO_SHRINK))
    if not np.all(np.isfinite(logr)):
        return 1
    spread_rate = (logr.max() - logr.min()) / m
    norm_rate = np.abs(logr).max() / m
    best = 1
    for mp in range(1, cap + 1):
        if mp * spread_rate <= 0.5 * math.log(1 / rcond_min) * (1 + 1e-12) and \
                mp * norm_rate <= 0.5 * KL.AUTO_LOG_NORM_MAX * (1 + 1e-12):
            best = mp
    return best


@pytest.mark.parametrize("seed", range(40))
def test_next_interval_matches_formula(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 9))
    m = int(rng.integers(1, 70))
    scale = 10.0 ** rng.uniform(-3, 2.5)
    logr = rng.normal(0, scale, k) + rng.normal(0, scale)
    ok = bool(rng.random() > 0.2)
    cap = int(rng.integers(1, 2 * m + 1))
    got = KL.next_interval(logr, k, m, ok, 1e-3, cap)
    assert got == _next_interval_ref(logr, m, ok, 1e-3, cap)
    bad = logr.copy()
    bad[0] = -np.inf
    assert KL.next_interval(bad, k, m, True, 1e-3, cap) == 1


def _naive_auto(net, X, k, burn_in, block_len, max_interval, seed, rcond_min=1e-3):
    """Dense reference for qr_every="auto" when every frame passes the condition check: J_t formed each
    step, numpy QR when the interval (rule above) is reached, at the end of the burn-in and at every block
    end.  Returns the unsorted log|r_ii| column sums, M, the number of QRs and the largest interval."""
    m_ = nl.as_map(net)
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    H = m_.trajectory(X, None)
    Q = nl.frame(m_.n, k, seed)
    M = T - burn_in
    sums = np.zeros(k)
    since, ivl, n_qr, max_ivl = 0, 1, 0, 0
    for s in range(T):
        Q = m_.jacobian(H[s], X[s]) @ Q
        since += 1
        a = s - burn_in
        forced = ((a + 1) % block_len == 0 or a == M - 1) if a >= 0 else s == burn_in - 1
        if not (forced or since >= ivl):
            continue
        Q, r = np.linalg.qr(Q)
        logr = np.log(np.abs(np.diag(r)))
        n_qr += 1
        max_ivl = max(max_ivl, since)
        cap = min(2 * since, max_interval) if since >= ivl else ivl
        ivl = _next_interval_ref(logr, since, True, rcond_min, cap)
        since = 0
        if a >= 0:
            sums += logr
    return sums, M, n_qr, max_ivl


@pytest.mark.parametrize("case,qr", [("contracting", "auto"), ("near_critical", "auto"),
                                     ("near_critical", "householder")])
def test_kernel_matches_dense_reference(case, qr):
    N, T, burn_in = 12, 700, 30
    net = CASES[case](N)
    X = _X(T)
    got = lyapunov_spectrum(net, X, burn_in=burn_in, qr_every="auto", seed=2, qr=qr, n_threads=1)
    L = got.settings["auto_block_steps"]
    assert L == ly._auto_block_len(T - burn_in, 1000)
    sums, M, n_qr, max_ivl = _naive_auto(net, X, N, burn_in, L, min(ly.AUTO_MAX_INTERVAL, L), seed=2)
    assert got.settings["auto_rejected"] == 0      # the reference assumes every check passes
    np.testing.assert_allclose(got.exponents, np.sort(sums / M)[::-1], rtol=0, atol=1e-11)
    assert got.settings["n_qr"] == n_qr
    assert got.settings["auto_max_interval"] == max_ivl
    assert max_ivl > 4                               # QRs were actually skipped


# --------------------------------------------------------------------------------------------------
# auto against qr_every = 1: well- and ill-conditioned cases
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("qr", ["auto", "householder"])
def test_auto_equals_qr_every_1(case, qr):
    N, T = 24, 1500
    net = CASES[case](N)
    X = _X(T)
    r1 = lyapunov_spectrum(net, X, burn_in=50, qr_every=1, qr=qr, n_threads=1)
    ra = lyapunov_spectrum(net, X, burn_in=50, qr_every="auto", qr=qr, n_threads=1)
    assert np.all(np.isfinite(r1.exponents))
    np.testing.assert_allclose(ra.exponents, r1.exponents, rtol=0, atol=AUTO_TOL)
    # the sum identity: the sum of the full spectrum is the mean of log|det J_t| (dense slogdet along the
    # reference's trajectory).  In the chaotic case the engine's and the reference's states (same map,
    # different rounding) separate like e^(l_1 t), so that check uses the first 110 steps there
    Ts = 110 if case == "chaotic_elman" else T
    rs = ra if Ts == T else lyapunov_spectrum(net, X[:Ts], burn_in=50, qr_every="auto", qr=qr, n_threads=1)
    ref_sum = nl.mean_log_abs_det(net, X[:Ts], 0, 50)
    assert abs(rs.exponents.sum() - ref_sum) <= 1e-9 * max(1.0, abs(ref_sum))
    assert ra.settings["qr_every"] == "auto"
    if case == "chaotic_elman":
        assert r1.exponents[0] > 0.05                # really chaotic
        assert ra.exponents[-1] < -3                 # really ill conditioned: J_t nearly singular
    else:
        # well-conditioned frames: many steps between re-orthonormalisations
        assert ra.settings["mean_qr_interval"] > 8
        assert ra.settings["n_qr"] < r1.settings["n_qr"] / 8


def test_auto_top_k_and_batch_and_threads():
    net = CASES["near_critical"](32)
    X = _X(900, B=3)
    full = lyapunov_spectrum(net, X, qr_every="auto", n_threads=1)
    top = lyapunov_spectrum(net, X, k=5, qr_every="auto", n_threads=1)
    one = lyapunov_spectrum(net, X, k=5, qr_every=1, n_threads=1)
    thr = lyapunov_spectrum(net, X, k=5, qr_every="auto", n_threads=2)
    np.testing.assert_allclose(top.exponents, one.exponents, rtol=0, atol=AUTO_TOL)
    full1 = lyapunov_spectrum(net, X, qr_every=1, n_threads=1)
    np.testing.assert_allclose(full.exponents, full1.exponents, rtol=0, atol=AUTO_TOL)
    np.testing.assert_array_equal(thr.exponents, top.exponents)   # results do not depend on threads
    singles = [lyapunov_spectrum(net, X[b], k=5, qr_every="auto", n_threads=1).exponents for b in range(3)]
    np.testing.assert_allclose(top.exponents, np.mean(singles, axis=0), rtol=0, atol=1e-14)


def test_rejected_frames_shrink_the_interval_and_stay_exact():
    # rcond_min close to 1: the condition check rejects most frames that grew over more than a step or two,
    # so the interval shrinks (and Householder redoes the block); the exponents are unchanged
    net = CASES["near_critical"](16)
    X = _X(800)
    r1 = lyapunov_spectrum(net, X, qr_every=1, n_threads=1, qr="householder")
    ra = lyapunov_spectrum(net, X, qr_every="auto", n_threads=1, rcond_min=0.9)
    assert ra.settings["auto_rejected"] > 0
    np.testing.assert_allclose(ra.exponents, r1.exponents, rtol=0, atol=AUTO_TOL)


@pytest.mark.parametrize("mu", [1e-3, 1e3])
def test_column_norm_guard_exact_oracle(mu):
    # eps = 0, scaled-orthogonal residual: every exponent is log mu exactly.  Without re-orthonormalisation
    # the frame under- or overflows within ~100 steps (mu^100 = 1e-300 / 1e300), so a fixed interval of 200
    # fails; auto keeps each column's norm change below e^172
    N = 8
    net = wd.WCRNN(1, N, 1, residual=R_.rotational(N, mu), eps=0.0, seed=0)
    X = np.zeros((3000, 1))
    ra = lyapunov_spectrum(net, X, burn_in=0, qr_every="auto", n_threads=1)
    np.testing.assert_allclose(ra.exponents, math.log(mu), rtol=0, atol=1e-10)
    assert 1 < ra.settings["auto_max_interval"] <= 172.5 / abs(math.log(mu)) * 2
    try:
        bad = lyapunov_spectrum(net, X, burn_in=0, qr_every=200, n_threads=1)
    except wd.models.DivergenceError:
        return
    assert not np.allclose(bad.exponents, math.log(mu), atol=1e-6)


def test_saturated_elman_switches_to_householder():
    # large weights: J_t nearly singular every step, Cholesky keeps failing; auto stays at interval 1
    net = _elman(12, 8.0)
    X = _X(400)
    r1 = lyapunov_spectrum(net, X, qr_every=1, n_threads=1)
    ra = lyapunov_spectrum(net, X, qr_every="auto", n_threads=1)
    np.testing.assert_allclose(ra.exponents, r1.exponents, rtol=0, atol=AUTO_TOL)
    assert ra.settings["qr_used"] == r1.settings["qr_used"] == "auto: cholesky, switched to householder"


# --------------------------------------------------------------------------------------------------
# until_tol: the stopping rule
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("qr_every", [1, 3, "auto"])
def test_until_tol_stops_early_with_the_stated_error(qr_every):
    net = CASES["contracting"](16)
    T = 40000
    X = _X(T)
    tol = 2e-4
    r = lyapunov_spectrum(net, X, burn_in=200, qr_every=qr_every, tol=tol, until_tol=True, n_threads=1)
    assert r.settings["stopped_early"] and r.n_steps < (T - 200) / 2
    assert r.converged
    assert np.all(r.stderr <= tol) and np.all(np.abs(r.split_half_diff) <= 2 * tol)
    assert r.history_steps[-1] == r.n_steps == r.settings["accumulated_steps"]
    assert r.settings["max_accumulated_steps"] == T - 200
    # the stated error: against the full 40,000-step run every exponent is within a few standard errors
    full = lyapunov_spectrum(net, X, burn_in=200, qr_every=qr_every, tol=tol, n_threads=1)
    assert np.max(np.abs(r.exponents - full.exponents)) <= 4 * tol
    # a stopped run is the run of that length: same exponents (rounding)
    short = lyapunov_spectrum(net, X[:200 + r.n_steps], burn_in=200, qr_every=qr_every, n_threads=1)
    np.testing.assert_allclose(r.exponents, short.exponents, rtol=0, atol=AUTO_TOL)


def test_until_tol_never_before_min_blocks():
    # eps = 0, scaled identity: every block gives exactly log mu, stderr 0 from the first blocks on;
    # the run still goes on to MIN_STOP_BLOCKS blocks
    N = 6
    net = wd.WCRNN(1, N, 1, residual=R_.scaled_identity(N, 0.9), eps=0.0, seed=0)
    T = 10100
    for qr_every, L in ((1, 10), ("auto", 64)):
        r = lyapunov_spectrum(net, np.zeros((T, 1)), burn_in=100, qr_every=qr_every, tol=1e-6, until_tol=True,
                              n_threads=1)
        assert r.settings["stopped_early"]
        assert r.n_steps == ly.MIN_STOP_BLOCKS * L
        assert len(r.history_steps) == ly.MIN_STOP_BLOCKS
        np.testing.assert_allclose(r.exponents, math.log(0.9), rtol=0, atol=1e-12)


def test_until_tol_runs_to_the_end_when_not_reached(caplog):
    net = CASES["near_critical"](12)
    X = _X(1500)
    r = lyapunov_spectrum(net, X, qr_every="auto", tol=1e-9, until_tol=True, n_threads=1)
    ref = lyapunov_spectrum(net, X, qr_every="auto", tol=1e-9, n_threads=1)
    assert not r.settings["stopped_early"] and not r.converged
    assert r.n_steps == 1400
    np.testing.assert_array_equal(r.exponents, ref.exponents)
    assert "not converged" in caplog.text


def test_until_tol_batch_threads():
    net = CASES["contracting"](10)
    X = _X(20000, B=2)
    r1 = lyapunov_spectrum(net, X, qr_every="auto", tol=3e-4, until_tol=True, n_threads=1)
    r2 = lyapunov_spectrum(net, X, qr_every="auto", tol=3e-4, until_tol=True, n_threads=2)
    assert r1.settings["stopped_early"] and r1.converged
    assert r1.n_steps == r2.n_steps
    np.testing.assert_array_equal(r1.exponents, r2.exponents)


def test_argument_checks():
    net = CASES["contracting"](6)
    X = _X(50)
    with pytest.raises(ValueError, match="qr_every"):
        lyapunov_spectrum(net, X, burn_in=10, qr_every="sometimes")
    with pytest.raises(TypeError, match="qr_every"):
        lyapunov_spectrum(net, X, burn_in=10, qr_every=2.5)
    with pytest.raises(TypeError, match="until_tol"):
        lyapunov_spectrum(net, X, burn_in=10, until_tol="yes")
    # defaults unchanged: no stopping, qr_every = 1
    r = lyapunov_spectrum(net, X, burn_in=10)
    assert r.settings["qr_every"] == 1 and not r.settings["until_tol"] and not r.settings["stopped_early"]
