"""Tests of wcrnn_dyn.spectral: weight/Jacobian spectra, ARPACK vs dense, data spectra and peaks,
residuals matched to a spectrum, frequency responses, and the figure functions."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import naive_memory as naive
import wcrnn_dyn as wd
from wcrnn_dyn import spectral

R_ = wd.residuals


# --------------------------------------------------------------------------------------------------
# weights and Jacobians
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: np.random.default_rng(0).standard_normal((200, 200)) / np.sqrt(200),
                                  lambda: R_.random(150, 0.9, seed=3),
                                  lambda: np.diag(np.linspace(0.1, 0.95, 60)) + np.diag(np.ones(59) * 0.3, 1)])
def test_arpack_and_dense_spectral_radius_agree(make, caplog):
    A = make()
    dense = spectral.spectral_radius(A, method="dense")
    with caplog.at_level("WARNING", logger="wcrnn_dyn.spectral"):
        arp = spectral.spectral_radius(A, method="arpack")
    assert "did not converge" not in caplog.text  # ARPACK itself, not the dense fall-back
    assert arp == pytest.approx(dense, rel=1e-8)


def test_arpack_without_gap_falls_back_to_dense(caplog):
    A = R_.orthogonal(100, 0.97, seed=2)  # every eigenvalue on one circle: no gap for ARPACK
    with caplog.at_level("WARNING", logger="wcrnn_dyn.spectral"):
        r = spectral.spectral_radius(A, method="arpack", maxiter=20)
    assert r == pytest.approx(0.97, rel=1e-12)
    assert "did not converge" in caplog.text


def test_spectral_radius_linear_operator_and_small_n():
    from scipy.sparse.linalg import aslinearoperator
    A = np.random.default_rng(1).standard_normal((40, 40))
    ref = np.max(np.abs(np.linalg.eigvals(A)))
    assert spectral.spectral_radius(aslinearoperator(A), method="arpack") == pytest.approx(ref, rel=1e-8)
    assert spectral.spectral_radius(np.array([[0.0, 2.0], [-0.5, 0.0]]), method="arpack") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="method"):
        spectral.spectral_radius(A, method="power")
    with pytest.raises(ValueError, match="square"):
        spectral.spectral_radius(np.zeros((3, 4)))


@pytest.mark.parametrize("res", [R_.rotational(64, 0.95), R_.orthogonal(64, 0.9, seed=1),
                                 R_.heterogeneous_uniform(64, 0.5, 0.99, seed=2),
                                 R_.nonlinear(R_.scaled_identity(64, 0.98), scale=0.5)])
def test_effective_spectral_radius_dense_vs_arpack(res, caplog):
    net = wd.WCRNN(2, 64, 1, residual=res, eps=0.2, seed=4)
    M = net.residual.linear_part.matrix() + 0.2 * net.W
    ref = np.max(np.abs(np.linalg.eigvals(M)))
    assert spectral.effective_spectral_radius(net, method="dense") == pytest.approx(ref, rel=1e-12)
    with caplog.at_level("WARNING", logger="wcrnn_dyn.spectral"):
        arp = spectral.effective_spectral_radius(net, method="arpack")  # matrix-free LinearOperator
    assert "did not converge" not in caplog.text
    assert arp == pytest.approx(ref, rel=1e-8)


def test_effective_spectral_radius_eps_zero_and_elman():
    net = wd.WCRNN(1, 10, 1, residual=R_.rotational(10, 0.93), eps=0.0, seed=0)
    assert spectral.effective_spectral_radius(net) == pytest.approx(0.93, rel=1e-12)
    el = wd.Elman(1, 12, 1, init="orthogonal", seed=0)
    assert spectral.effective_spectral_radius(el) == pytest.approx(1.0, rel=1e-10)


def test_weight_spectra_of_rotational_residual():
    thetas = np.array([0.3, 1.1, 2.0])
    net = wd.WCRNN(1, 6, 1, residual=R_.rotational(6, 0.9, thetas), eps=0.1, seed=0)
    ws = spectral.weight_spectra(net)
    ev = ws["residual_eigenvalues"]
    np.testing.assert_allclose(np.abs(ev), 0.9, rtol=1e-12)
    np.testing.assert_allclose(np.sort(np.abs(np.angle(ev))), np.repeat(thetas, 2), atol=1e-12)
    np.testing.assert_allclose(ws["residual_singular_values"], 0.9, rtol=1e-12)
    np.testing.assert_allclose(ws["eps_W_singular_values"], 0.1 * np.linalg.svd(net.W, compute_uv=False))
    assert ws["effective_spectral_radius"] == pytest.approx(
        np.max(np.abs(np.linalg.eigvals(net.residual.matrix() + 0.1 * net.W))))
    # sorted by modulus
    assert np.all(np.diff(np.abs(ws["W_eigenvalues"])) <= 1e-12)


@pytest.mark.parametrize("res", [R_.rotational(5, 0.95), R_.nonlinear(R_.scaled_identity(5, 1.1), scale=0.6)])
def test_jacobian_spectra_match_dense_jacobian(res):
    rng = np.random.default_rng(0)
    net = wd.WCRNN(2, 5, 1, residual=res, eps=0.3, seed=1, w_scale=2.0)
    x = rng.uniform(-1, 1, (30, 2))
    H = net.states(x)
    times = np.array([1, 7, 30])
    js = spectral.jacobian_spectra(net, x, times)
    for j, t in enumerate(times):
        h_prev = H[t - 2] if t >= 2 else np.zeros(5)
        J = net.jacobian(h_prev, x[t - 1])
        np.testing.assert_allclose(js.singular_values[j], np.linalg.svd(J, compute_uv=False), rtol=1e-10)
        np.testing.assert_allclose(np.sort_complex(js.eigenvalues[j]), np.sort_complex(np.linalg.eigvals(J)),
                                   rtol=1e-8, atol=1e-12)
    assert js.spectral_radius.shape == (3,) and js.norm[0] == js.singular_values[0, 0]
    assert spectral.jacobian_spectra(net, x).eigenvalues.shape == (30, 5)
    with pytest.raises(ValueError, match="times"):
        spectral.jacobian_spectra(net, x, [0, 3])
    with pytest.raises(ValueError, match="one sequence"):
        spectral.jacobian_spectra(net, np.stack([x, x]), [1])


# --------------------------------------------------------------------------------------------------
# data spectra
# --------------------------------------------------------------------------------------------------

def test_row_periodic_data_peaks_at_one_over_28_and_permuted_is_flat():
    X = spectral.synthetic_row_periodic(300, seed=0)
    Xp = spectral.synthetic_row_periodic(300, seed=0, permute=True)
    assert X.shape == (300, 784, 1)
    f, p = spectral.data_spectrum(X)
    fp, pp = spectral.data_spectrum(Xp)
    assert f[1] == pytest.approx(1 / 784)
    # the strongest non-DC bin and the strongest peak sit at 1/28 cycles per step; harmonics k/28 follow
    assert f[1 + np.argmax(p[1:])] == pytest.approx(1 / 28, abs=0.5 / 784)
    pk, _ = spectral.spectral_peaks(f, p)
    assert pk[0] == pytest.approx(1 / 28, abs=0.1 / 784)
    harmonics = [k / 28 for k in range(1, 6)]
    assert all(np.min(np.abs(pk - h)) < 0.2 / 784 for h in harmonics)
    # flatness (geometric / arithmetic mean; 1 = white): peaked vs flat, and max/median power ratio
    flat, flat_p = spectral.spectral_flatness(p), spectral.spectral_flatness(pp)
    assert flat < 0.15 and flat_p > 0.85
    assert np.max(pp[1:]) / np.median(pp[1:]) < 5 < 100 < np.max(p[1:]) / np.median(p[1:])
    # same values, different order: total power is preserved by the permutation (Parseval, up to windowing)
    assert np.var(Xp) == pytest.approx(np.var(X))


def test_white_noise_flatness_near_one():
    X = np.random.default_rng(0).standard_normal((200, 512, 1))
    f, p = spectral.data_spectrum(X)
    assert spectral.spectral_flatness(p) > 0.97
    assert np.mean(p) == pytest.approx(2.0, rel=0.03)  # one-sided density of unit white noise, fs = 1


def test_data_spectrum_matches_per_sequence_welch_and_chunking():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 100, 3)) + np.sin(2 * np.pi * 0.1 * np.arange(100))[None, :, None]
    f, p = spectral.data_spectrum(X, nperseg=64)
    fr, pr = naive.welch_average(X, 64)
    np.testing.assert_allclose(f, fr)
    np.testing.assert_allclose(p, pr, rtol=1e-12)
    _, p2 = spectral.data_spectrum(X, nperseg=64, chunk=2)
    np.testing.assert_allclose(p2, p, rtol=1e-12)
    # shapes (T,) and (T, d)
    f1, p1 = spectral.data_spectrum(X[0, :, 0])
    assert f1.shape == p1.shape == (51,)
    _, pd = spectral.data_spectrum(X[0], nperseg=64)
    np.testing.assert_allclose(pd, naive.welch_average(X[:1], 64)[1], rtol=1e-12)
    _, pm = spectral.data_spectrum(X, nperseg=64, max_samples=2)
    np.testing.assert_allclose(pm, naive.welch_average(X[:2], 64)[1], rtol=1e-12)


def test_data_spectrum_bad_input():
    with pytest.raises(ValueError, match="at least 8"):
        spectral.data_spectrum(np.zeros((3, 5, 1)))
    with pytest.raises(ValueError, match="nperseg"):
        spectral.data_spectrum(np.zeros((3, 50, 1)), nperseg=64)
    X = np.zeros((2, 50, 1))
    X[1, 7, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        spectral.data_spectrum(X)
    with pytest.raises(ValueError, match="shape"):
        spectral.data_spectrum(np.zeros((2, 3, 50, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        spectral.spectral_flatness(np.array([1.0, -1.0, 2.0]))


def planted(freqs, amps, B=20, T=1024, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    X = noise * rng.standard_normal((B, T, 1))
    for f, a in zip(freqs, amps):
        X[:, :, 0] += a * np.sin(2 * np.pi * f * t[None, :] + rng.uniform(0, 2 * np.pi, (B, 1)))
    return X


def test_spectral_peaks_recover_planted_frequencies():
    fr = [0.0523, 0.1337, 0.3141]
    X = planted(fr, [1.0, 0.5, 2.0])
    f, p = spectral.data_spectrum(X)
    pk, pw = spectral.spectral_peaks(f, p)
    assert pk.size == 3
    np.testing.assert_allclose(pk, [0.3141, 0.0523, 0.1337], atol=0.1 / 1024)  # sorted by power
    assert np.all(np.diff(pw) <= 0)
    pk1, _ = spectral.spectral_peaks(f, p, n_peaks=1)
    assert pk1.size == 1 and pk1[0] == pk[0]
    unref, _ = spectral.spectral_peaks(f, p, refine=False)
    assert np.all(np.isin(unref, f))
    flat_f, flat_p = spectral.spectral_peaks(f, np.ones_like(f))
    assert flat_f.size == 0 and flat_p.size == 0


def test_allocate_angles():
    np.testing.assert_array_equal(spectral.allocate_angles([5.0, 3.0, 1.0], 2), [1, 1, 0])
    np.testing.assert_array_equal(spectral.allocate_angles([5.0, 3.0, 1.0], 3), [1, 1, 1])
    # 7 angles, 3 peaks: 3 each base + rest 4 split 4 * (5/9, 3/9, 1/9) = (2.22, 1.33, 0.44) -> (2, 1, 0) + 1 to
    # the largest remainder (0.44)
    np.testing.assert_array_equal(spectral.allocate_angles([5.0, 3.0, 1.0], 7), [3, 2, 2])
    # ties go to the stronger (earlier) peak
    np.testing.assert_array_equal(spectral.allocate_angles([1.0, 1.0], 3), [2, 1])
    assert spectral.allocate_angles([], 4).size == 0


@settings(max_examples=25, deadline=None)
@given(pw=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=8), m=st.integers(0, 40))
def test_allocate_angles_invariants(pw, m):
    pw = np.sort(np.array(pw))[::-1]
    c = spectral.allocate_angles(pw, m)
    assert c.sum() == m
    assert np.all(c >= 0)
    if m >= pw.size:
        assert np.all(c >= 1)


def test_rotational_from_spectrum_recovers_planted_frequencies():
    fr = np.array([0.04, 0.11, 0.23])
    X = planted(fr, [1.0, 1.0, 1.0], seed=3)
    r = spectral.rotational_from_spectrum(X, 6, 0.95)
    assert r.family == "rotational" and r.n == 6
    np.testing.assert_allclose(np.sort(np.asarray(r.meta["thetas"])) / (2 * np.pi), fr, atol=0.1 / 1024)
    ev = r.eigenvalues()
    np.testing.assert_allclose(np.abs(ev), 0.95)
    # more angles than peaks: every peak used, duplicates only at peak frequencies
    r12 = spectral.rotational_from_spectrum(X, 25, 0.9)
    f12 = np.asarray(r12.meta["freqs"])
    assert f12.size == 12 and r12.n == 25
    assert np.all(np.min(np.abs(f12[:, None] - fr[None, :]), axis=1) < 0.1 / 1024)
    assert set(np.round(f12, 3)) == set(np.round(fr, 3))
    # heterogeneous mus
    rh = spectral.rotational_from_spectrum(X, 6, [0.9, 0.95, 0.99])
    assert rh.family == "heterogeneous_rotational"
    np.testing.assert_allclose(np.sort(np.abs(rh.eigenvalues())), np.repeat([0.9, 0.95, 0.99], 2))


def test_rotational_from_spectrum_power_method():
    # flat spectrum -> angles evenly spread; peaked spectrum -> angles cluster at the peaks
    f = np.linspace(0, 0.5, 501)
    r = spectral.rotational_from_spectrum(None, 20, 0.9, method="power", spectrum=(f, np.ones_like(f)))
    np.testing.assert_allclose(r.meta["freqs"], (np.arange(10) + 0.5) / 10 * 0.5, atol=1e-9)
    X = planted([0.1, 0.3], [1.0, 1.0], noise=0.05, seed=1)
    rp = spectral.rotational_from_spectrum(X, 40, 0.9, method="power")
    fp = np.asarray(rp.meta["freqs"])
    near = np.min(np.abs(fp[:, None] - np.array([0.1, 0.3])[None, :]), axis=1) < 0.01
    assert near.mean() >= 0.8
    assert np.all(np.diff(fp) >= 0)


def test_rotational_from_spectrum_errors():
    f = np.linspace(0, 0.5, 101)
    with pytest.raises(ValueError, match="no spectral peaks"):
        spectral.rotational_from_spectrum(None, 8, 0.9, spectrum=(f, np.ones_like(f)))
    with pytest.raises(ValueError, match="method"):
        spectral.rotational_from_spectrum(None, 8, 0.9, method="fft", spectrum=(f, np.ones_like(f)))
    with pytest.raises(ValueError, match="n //"):
        spectral.rotational_from_spectrum(None, 8, [0.9, 0.8], spectrum=(f, np.ones_like(f)), method="power")
    with pytest.raises(ValueError, match="n must be >= 2"):
        spectral.rotational_from_spectrum(None, 1, 0.9, spectrum=(f, np.ones_like(f)))
    with pytest.raises(ValueError, match="give the data"):
        spectral.rotational_from_spectrum(None, 8, 0.9)


# --------------------------------------------------------------------------------------------------
# frequency response
# --------------------------------------------------------------------------------------------------

def test_frequency_response_peaks_at_theta_over_2pi():
    thetas = np.array([0.4, 1.3, 2.5])
    mu = 0.95
    r = R_.rotational(7, mu, thetas)
    f = np.linspace(0, 0.5, 5001)
    fr = spectral.frequency_response(r, f)
    assert fr.block_gain.shape == (4, f.size)
    for k, th in enumerate(thetas):
        assert f[np.argmax(fr.block_gain[k])] == pytest.approx(th / (2 * np.pi), abs=1e-4)
        assert fr.block_freqs[k] == pytest.approx(th / (2 * np.pi))
    exact = spectral.frequency_response(r, thetas / (2 * np.pi))
    np.testing.assert_allclose(np.diag(exact.block_gain[:3]), 1 / (1 - mu), rtol=1e-10)
    # tail 1x1 block mu: low-pass, gain 1 / |e^{iw} - mu|, peak at 0
    np.testing.assert_allclose(fr.block_gain[3], 1 / np.abs(np.exp(2j * np.pi * f) - mu))
    np.testing.assert_allclose(fr.max_gain, fr.block_gain.max(axis=0))


def test_frequency_response_against_dense_resolvent_and_closed_form():
    mus = np.array([0.8, 0.97])
    thetas = np.array([0.7, 2.2])
    r = R_.heterogeneous_rotational(mus, thetas)
    f = np.linspace(0, 0.5, 37)
    fr = spectral.frequency_response(r, f)
    for k in range(2):
        B = r.blocks[k]
        np.testing.assert_allclose(fr.block_gain[k], [naive.resolvent_gain(B, x) for x in f], rtol=1e-10)
        w = 2 * np.pi * f
        closed = 1 / np.sqrt(np.minimum(1 - 2 * mus[k] * np.cos(w - thetas[k]) + mus[k] ** 2,
                                        1 - 2 * mus[k] * np.cos(w + thetas[k]) + mus[k] ** 2))
        np.testing.assert_allclose(fr.block_gain[k], closed, rtol=1e-10)
    dense = spectral.frequency_response(r.matrix(), f)
    assert dense.block_gain is None
    np.testing.assert_allclose(dense.total, fr.total, rtol=1e-10)
    np.testing.assert_allclose(dense.max_gain, fr.max_gain, rtol=1e-10)
    diag = spectral.frequency_response(R_.heterogeneous([0.5, -0.7]), f)
    np.testing.assert_allclose(diag.block_freqs, [0.0, 0.5])


def test_frequency_response_matches_simulated_steady_state():
    mu, theta, f = 0.9, 0.8, 0.15
    B = mu * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    w = 2 * np.pi * f
    G = np.linalg.inv(np.eye(2) - np.exp(-1j * w) * B)  # derived transfer
    v = np.array([1.0, 0.0])
    z = np.zeros(2)
    T = 400
    Z = np.empty((T, 2))
    for t in range(T):
        z = B @ z + np.cos(w * t) * v
        Z[t] = z
    t = np.arange(T)
    pred = np.real((G @ v)[None, :] * np.exp(1j * w * t)[:, None])
    np.testing.assert_allclose(Z[300:], pred[300:], atol=1e-10)
    gain = spectral.frequency_response(R_.heterogeneous_rotational([mu], [theta]), [f]).block_gain[0, 0]
    assert gain == pytest.approx(np.linalg.norm(G, 2), rel=1e-12)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------

def test_figures_return_fig_ax(tmp_path):
    from wcrnn_dyn import memory, plotting
    from wcrnn_dyn.plotting._base import savefig
    r = R_.rotational(8, 0.9)
    f = np.linspace(0, 0.5, 65)
    figs = [plotting.plot_eigenvalues({"a": r, "b": np.array([0.5 + 0.5j])}),
            plotting.plot_data_spectrum(f, 1 + np.cos(20 * f) ** 2, residual=r, peaks=[0.1]),
            plotting.plot_frequency_response(spectral.frequency_response(r, f)),
            plotting.plot_input_sensitivity({"x": 0.9 ** np.arange(10)}, reference_mu=0.9),
            plotting.plot_timescales(np.array([1.0, 10.0, 100.0, np.inf])),
            plotting.plot_timescales(-1 / np.log(np.abs(R_.rotational(16, 0.95).eigenvalues()))),  # one value
            ]
    net = wd.WCRNN(1, 4, 1, residual=r.__class__(r.blocks[:2], [], family="rotational"), eps=0.1, seed=0)
    mc = memory.memory_capacity(net, 5, n_steps=200)
    figs.append(plotting.plot_memory_capacity({"net": mc}, raw=True))
    figs.append(plotting.plot_ipc(memory.information_processing_capacity(net, 2, 3, n_steps=200)))
    figs.append(plotting.plot_perturbation_decay(memory.perturbation_decay(net, np.zeros((1, 20, 1)))))
    for j, (fig, ax) in enumerate(figs):
        assert ax.figure is fig
        savefig(fig, tmp_path / f"f{j}.png")
        assert (tmp_path / f"f{j}.png").stat().st_size > 1000
