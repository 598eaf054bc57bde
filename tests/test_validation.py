"""Validation of public entry points (issue 12): every case listed there ends in a valid result or a
ValueError / TypeError whose message names the argument."""
import numpy as np
import pytest

import fixtures_data as fx
import wcrnn_dyn as wd
from wcrnn_dyn import memory, spectral, theory, training
from wcrnn_dyn import residuals as R
from wcrnn_dyn import tasks
from wcrnn_dyn._validate import check_memory, physical_memory_bytes
from wcrnn_dyn.tasks import _mnist


def test_tiny_threshold_p_gives_a_finite_threshold_and_the_same_capacity():
    net = wd.WCRNN(1, 32, 1, residual=R.rotational(32, 0.9), seed=0)
    a = memory.memory_capacity(net, 5, n_steps=1000, threshold_p=1e-17)
    b = memory.memory_capacity(net, 5, n_steps=1000, threshold_p=1e-4)
    assert np.isfinite(a.threshold) and a.threshold > b.threshold
    assert a.total > 4.0  # the issue: it was 0.0 (threshold inf)
    # the survival function agrees with the quantile where 1 - p is representable
    from scipy.stats import chi2
    assert memory.capacity_threshold(500, p=1e-3) == pytest.approx(chi2.ppf(1 - 1e-3, 1) / 500, rel=1e-12)
    assert np.isfinite(memory.capacity_threshold(500, p=5e-324))


def test_rtol_nan_is_refused():
    with pytest.raises(ValueError, match="rtol"):
        theory.is_scaled_orthogonal(R.scaled_identity(3, 0.5), rtol=float("nan"))
    with pytest.raises(ValueError, match="rtol"):
        theory.is_scaled_orthogonal(R.scaled_identity(3, 0.5), rtol=-1.0)


@pytest.mark.parametrize("call", [
    lambda: wd.WCRNN(1, 3, 1, seed=True),
    lambda: R.orthogonal(3, 0.9, seed=True),
    lambda: tasks.adding(3, 5, seed=False),
    lambda: wd.train(wd.WCRNN(2, 3, 1), *tasks.adding(4, 5), steps=1, seed=True),
])
def test_boolean_seed_is_refused(call):
    with pytest.raises(TypeError, match="seed"):
        call()


@pytest.mark.parametrize("res", [R.scaled_identity(4, 0.5), R.rotational(4, 0.9), R.random(4, 0.9, seed=0),
                                 R.heterogeneous([0.1, 0.2, 0.3, 0.4]), R.nonlinear(R.orthogonal(4, 0.9, seed=0))])
def test_residual_maps_validate_shape_and_finiteness(res):
    h, Q = np.ones(4), np.eye(4)[:, :2]
    np.testing.assert_allclose(res.jvp(h, Q)[:, 0], res.jacobian(h)[:, 0] if hasattr(res, "jacobian")
                               else res.matrix()[:, 0])
    for bad, name in ((np.ones(3), "h"), (np.array([np.nan, 0, 0, 0]), "h"), ("abc", "h"), (None, "h")):
        with pytest.raises((ValueError, TypeError), match=name):
            res.apply(bad)
    with pytest.raises(ValueError, match="Q"):
        res.jvp(h, np.ones((3, 2)))
    with pytest.raises(ValueError, match="Q"):
        res.jvp(h, np.full((4, 2), np.inf))
    with pytest.raises(ValueError, match="v"):
        res.vjp(h, np.ones(5))
    with pytest.raises(ValueError, match="h"):
        res.vjp(np.full(4, np.nan), np.ones(4))


@pytest.mark.parametrize("call, name", [
    (lambda: spectral.effective_matrix(None), "net"),
    (lambda: spectral.weight_spectra(None), "net"),
    (lambda: spectral.effective_spectral_radius("net"), "net"),
    (lambda: training.evaluate(None, np.ones((2, 3, 1)), np.ones(2)), "net"),
    (lambda: training.evaluate(wd.WCRNN(1, 3, 1), np.ones((2, 3, 1)), None), "y"),
    (lambda: wd.WCRNN(1, 3, 1).set_weights(None), "weights"),
    (lambda: wd.WCRNN(1, 3, 1).states(None), "X"),
    (lambda: memory.input_sensitivity(None, np.ones((5, 1)), 2), "net"),
])
def test_none_arguments_raise_type_error_naming_the_argument(call, name):
    with pytest.raises(TypeError, match=name):
        call()


@pytest.mark.parametrize("n_threads", [0, -1, 10 ** 12])
def test_n_threads_out_of_range(n_threads):
    net = wd.WCRNN(2, 3, 1)
    X, y = tasks.adding(4, 5)
    with pytest.raises(ValueError, match="n_threads"):
        net.loss_and_grad(X, y, n_threads=n_threads)


def test_sizes_beyond_physical_memory_are_refused_up_front_with_the_figure():
    have = physical_memory_bytes()
    assert have is None or have > 2 ** 26
    with pytest.raises(ValueError, match=r"n_hidden.*GiB"):
        wd.WCRNN(1, 10 ** 7, 1)
    with pytest.raises(ValueError, match=r"n_hidden.*GiB"):
        wd.Elman(1, 10 ** 7, 1)
    with pytest.raises(ValueError, match=r"n_samples x T.*GiB"):
        tasks.adding(10 ** 7, 10 ** 5)
    with pytest.raises(ValueError, match=r"n_steps.*GiB"):
        memory.memory_capacity(wd.WCRNN(1, 4, 1), 3, n_steps=10 ** 12)
    with pytest.raises(ValueError, match="m .angles"):
        spectral.allocate_angles([1.0], 10 ** 15)
    assert check_memory(10, "x") == 80


def test_allocate_angles_with_overflowing_powers():
    c = spectral.allocate_angles([1e308, 1e308, 1], 7)
    assert c.sum() == 7 and list(c) == [3, 3, 1]
    with pytest.raises(ValueError, match="peak_power"):
        spectral.allocate_angles([1.0, -1.0], 3)


def test_data_spectrum_is_scale_covariant_and_finite():
    t = np.arange(512)
    sig = np.sin(2 * np.pi * t / 8) + 0.1 * np.cos(2 * np.pi * t / 5)
    f, p = spectral.data_spectrum(sig)
    f2, p2 = spectral.data_spectrum(1e140 * sig)
    assert np.all(np.isfinite(p2))
    np.testing.assert_allclose(p2 / 1e280, p, rtol=1e-9, atol=1e-12 * p.max())
    f3, p3 = spectral.data_spectrum(1e-100 * sig)
    np.testing.assert_allclose(p3 * 1e200, p, rtol=1e-9, atol=1e-12 * p.max())
    with pytest.raises(ValueError, match="^X"):
        spectral.data_spectrum(1e160 * sig)


# ------------------------------------------------------------------------------------------------ data files
def _mnist_dir(tmp_path, arrays):
    fx.write_idx_dir(tmp_path, arrays, gz=False)
    _mnist._MEMO.clear()
    return tmp_path


def test_idx_file_with_a_wrong_magic_number_or_length_names_the_file(tmp_path):
    d = _mnist_dir(tmp_path, fx.mnist_arrays())
    p = d / "train-labels-idx1-ubyte"
    good = p.read_bytes()
    p.write_bytes(b"\x01" + good[1:])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*magic"):
        tasks.load("smnist", "train", data_dir=d, n_val=10)
    p.write_bytes(good[:-3])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*truncated"):
        tasks.load("smnist", "train", data_dir=d, n_val=10)
    p.write_bytes(good[:4] + b"\xff\xff\xff\xff" + good[8:])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*(corrupt|truncated)"):
        tasks.load("smnist", "train", data_dir=d, n_val=10)


def test_standard_size_idx_files_with_random_bodies_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000, dtype=np.uint8),
              rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000, dtype=np.uint8))
    d = _mnist_dir(tmp_path, arrays)
    with pytest.raises(ValueError, match=r"idx.-ubyte: the content differs from the genuine MNIST"):
        tasks.load("smnist", "test", data_dir=d)


def test_truncated_cifar_batch_error_names_the_file(tmp_path):
    d = fx.write_cifar_batches(tmp_path / "cifar-10-batches-py", fx.cifar_arrays(n_train=50, n_test=20))
    p = d / "data_batch_3"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"data_batch_3.*(truncated or corrupt)"):
        tasks.load("scifar10", "train", data_dir=d, n_val=8, cache_dir=tmp_path / "cache")


def test_torch_like_tensors_requiring_grad_are_accepted():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional: pip install torch); tensor "
                                                "conversion is tested where it is")
    net = wd.WCRNN(2, 4, 1, seed=0)
    X, y = tasks.adding(3, 6)
    Xt = torch.tensor(X, requires_grad=True)
    np.testing.assert_array_equal(net.states(Xt), net.states(X))
    L1, _ = net.loss_and_grad(Xt, torch.tensor(y, requires_grad=True))
    assert L1 == net.loss_and_grad(X, y)[0]


def test_memory_bound_follows_an_address_space_limit(monkeypatch):
    import resource
    from wcrnn_dyn import _validate
    monkeypatch.setattr(resource, "getrlimit", lambda which: (2 ** 30, 2 ** 30))
    assert _validate.memory_limit_bytes() == min(2 ** 30, physical_memory_bytes())
    with pytest.raises(ValueError, match=r"x needs about 1 GiB.*ulimit"):
        check_memory(2 ** 27, "x")


def test_rotational_from_spectrum_checks_mu_and_n_first():
    sig = np.sin(2 * np.pi * np.arange(256) / 8)
    with pytest.raises(TypeError, match="mu"):
        spectral.rotational_from_spectrum(sig, 8, 1j)
    with pytest.raises(ValueError, match="mu as an array"):
        spectral.rotational_from_spectrum(sig, 8, [0.9, 0.9])
    with pytest.raises(ValueError, match=r"n = 1000000000000.*GiB"):
        spectral.rotational_from_spectrum(sig, 10 ** 12, 0.9)


class FakeGradTensor:
    """Behaves like a torch tensor that requires grad: np.asarray raises torch's RuntimeError, while
    .detach().cpu().numpy() gives the values (type(x).__module__ is 'torch', as for real tensors)."""
    __module__ = "torch"

    def __init__(self, a):
        self.a = np.asarray(a, dtype=float)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a

    def __array__(self, *args, **kwargs):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")


def test_tensors_that_require_grad_are_detached_everywhere():
    T = FakeGradTensor
    net = wd.WCRNN(1, 6, 1, seed=0)
    X = np.random.default_rng(0).standard_normal((2, 30, 1))
    y = np.zeros((2, 1))
    np.testing.assert_array_equal(net.states(T(X)), net.states(X))
    assert net.loss_and_grad(T(X), T(y))[0] == net.loss_and_grad(X, y)[0]
    assert training.evaluate(net, T(X), T(y)) == training.evaluate(net, X, y)
    np.testing.assert_array_equal(memory.input_sensitivity(net, T(X), 3), memory.input_sensitivity(net, X, 3))
    np.testing.assert_array_equal(spectral.data_spectrum(T(X))[1], spectral.data_spectrum(X)[1])
    np.testing.assert_array_equal(theory.predicted_exponents(T(0.5 * np.eye(3))), np.log(0.5) * np.ones(3))
    assert wd.WCRNN(1, 3, 1, residual=T(0.5 * np.eye(3))).residual.spectral_radius() == pytest.approx(0.5)
    np.testing.assert_array_equal(R.scaled_identity(3, 0.5).apply(T(np.ones(3))), 0.5 * np.ones(3))
    wd.Elman.from_arrays(T(np.eye(2)), T(np.ones((2, 1))), T(np.zeros(2)), T(np.ones((1, 2))), T(np.zeros(1)))
    res = wd.lyapunov_spectrum(net, T(X[0]), burn_in=2)
    assert res.k == 6


def test_zero_memory_capacity_says_why():
    mc = memory.memory_capacity(wd.WCRNN(1, 32, 1), 20, n_steps=2000)
    assert mc.total == 0.0 and "rho(Lambda + eps W) = 1.03" in mc.settings["hint"] and "hint" in repr(mc)
    ok = memory.memory_capacity(wd.WCRNN(1, 16, 1, residual=R.rotational(16, 0.9), eps=0.1), 10, n_steps=1000)
    assert ok.total > 0 and "hint" not in ok.settings
