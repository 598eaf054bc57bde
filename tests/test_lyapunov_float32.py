"""The float32 tangent product of lyapunov_spectrum (tangent_dtype="float32").

Algorithm invariants: the trajectory stays float64 (the state rows' products are recomputed in float64), so
for non-chaotic networks the float32 run follows the float64 one and every exponent moves by at most the
stated worst-case bound N u32 eps ||W||_2 (u32 = 2^-24); the known examples check the chaotic case
statistically (there rounding differences in the trajectory grow like e^(lambda_1 t), as for any change of
summation order) and the argument checks.
"""
import math

import numpy as np
import pytest

from wcrnn_dyn.lyapunov import LyapunovState, lyapunov_spectrum

from test_lyapunov_auto import CASES, _X, _rot_net

U32 = 2.0 ** -24


def _bound(net):
    W = net.get_weights()["W"]
    return net.n_hidden * U32 * float(net.coupling) * float(np.linalg.norm(W, 2))


@pytest.mark.parametrize("case", ["contracting", "near_critical"])
@pytest.mark.parametrize("qr_every", [1, 3, "auto"])
def test_float32_product_within_the_stated_bound(case, qr_every):
    N, T = 24, 1500
    net = CASES[case](N)
    X = _X(T)
    a = lyapunov_spectrum(net, X, burn_in=50, qr_every=qr_every, n_threads=1)
    b = lyapunov_spectrum(net, X, burn_in=50, qr_every=qr_every, n_threads=1, tangent_dtype="float32")
    assert b.settings["tangent_dtype"] == "float32" and a.settings["tangent_dtype"] == "float64"
    d = np.abs(a.exponents - b.exponents)
    assert d.max() <= _bound(net)
    # it is really a float32 product: not identical to the float64 run
    assert d.max() > 0
    # the sum identity still holds to the same bound (per exponent)
    assert abs(a.exponents.sum() - b.exponents.sum()) <= N * _bound(net)


def test_float32_batch_threads_and_top_k():
    N, T, B = 32, 800, 3
    net = _rot_net(N, 0.99, 0.1, seed=4)
    X = _X(T, B=B)
    ref = lyapunov_spectrum(net, X, k=5, burn_in=50, qr_every="auto", n_threads=1)
    for nt in (1, 2):
        got = lyapunov_spectrum(net, X, k=5, burn_in=50, qr_every="auto", n_threads=nt, tangent_dtype=np.float32)
        assert got.exponents.shape == (5,)
        assert np.abs(got.exponents - ref.exponents).max() <= _bound(net)


def test_float32_split_gemm_path():
    # N >= 256 and a skinny frame take the column-split GEMM on Numba's threads when two threads are given
    N, T = 256, 150
    net = _rot_net(N, 0.99, 0.05, seed=5)
    X = _X(T)
    a = lyapunov_spectrum(net, X, k=8, burn_in=20, n_threads=2)
    b = lyapunov_spectrum(net, X, k=8, burn_in=20, n_threads=2, tangent_dtype="float32")
    assert np.abs(a.exponents - b.exponents).max() <= _bound(net)


def test_chaotic_elman_agrees_statistically():
    # chaotic: the two runs' trajectories separate (rounding differences grow like e^(0.14 t)), so the
    # exponents agree as two estimates do, within their error bars; those far above the float32 floor
    # log(N u32 ||W||) are compared
    N, T = 24, 4000
    net = CASES["chaotic_elman"](N)
    X = _X(T)
    a = lyapunov_spectrum(net, X, k=6, burn_in=50, n_threads=1)
    b = lyapunov_spectrum(net, X, k=6, burn_in=50, n_threads=1, tangent_dtype="float32")
    floor = math.log(N * U32 * np.linalg.norm(net.get_weights()["W"], 2))
    assert a.exponents[0] > 0.05 and a.exponents[-1] > floor + 5
    se = np.sqrt(a.stderr ** 2 + b.stderr ** 2)
    assert np.all(np.abs(a.exponents - b.exponents) <= 5 * se)


def test_tangent_dtype_argument_and_resume():
    net = CASES["contracting"](8)
    with pytest.raises(ValueError, match="tangent_dtype"):
        lyapunov_spectrum(net, None, T=200, tangent_dtype="float16")
    with pytest.raises(ValueError, match="tangent_dtype"):
        lyapunov_spectrum(net, None, T=200, tangent_dtype="fast")
    # a paused float32 run resumes only as a float32 run, and then equals the uninterrupted one
    X = _X(600)
    full = lyapunov_spectrum(net, X, burn_in=50, qr_every="auto", tangent_dtype="float32", n_threads=1)
    calls = []

    def pause_once(get):
        calls.append(1)
        return len(calls) == 1

    res, st = lyapunov_spectrum(net, X, burn_in=50, qr_every="auto", tangent_dtype="float32", n_threads=1,
                                return_state=True, checkpoint=pause_once)
    assert res is None and len(calls) == 1            # paused after the first kernel call
    assert isinstance(st, LyapunovState) and st.settings["tangent_dtype"] == "float32"
    with pytest.raises(ValueError, match="tangent_dtype"):
        lyapunov_spectrum(net, X, burn_in=50, qr_every="auto", n_threads=1, resume=st)
    res = lyapunov_spectrum(net, X, burn_in=50, qr_every="auto", tangent_dtype="float32", n_threads=1,
                            resume=st)
    np.testing.assert_allclose(res.exponents, full.exponents, rtol=0, atol=1e-14)
    # a state written before tangent_dtype existed reads as float64
    st64 = lyapunov_spectrum(net, X, burn_in=50, n_threads=1, return_state=True)[1]
    st64.settings.pop("tangent_dtype")
    again = lyapunov_spectrum(net, X, burn_in=50, n_threads=1, resume=st64)
    assert again.settings["tangent_dtype"] == "float64"
