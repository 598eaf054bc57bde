"""Jupyter side of the result objects (issue 12): every result type has ``.plot(ax=None, **kw)`` returning a
matplotlib Axes, a compact repr (no whole arrays), and the shared progress helper."""
import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import wcrnn_dyn as wd  # noqa: E402
from wcrnn_dyn import _progress, memory, spectral  # noqa: E402
from wcrnn_dyn import residuals as R  # noqa: E402


@pytest.fixture(scope="module")
def net():
    return wd.WCRNN(1, 16, 1, residual=R.rotational(16, 0.9), eps=0.1, seed=0)


def _results(net):
    X = np.random.default_rng(0).standard_normal((2, 60, 1))
    h = wd.train(wd.WCRNN(2, 6, 1, seed=0), *wd.tasks.adding(20, 8), *wd.tasks.adding(10, 8, seed=1), epochs=2,
                 batch_size=10, progress=False)
    return {
        "lyapunov": wd.lyapunov_spectrum(net, X[0], k=4, burn_in=10),
        "memory_capacity": memory.memory_capacity(net, 10, n_steps=600),
        "ipc": memory.information_processing_capacity(net, 2, 4, n_steps=600),
        "sensitivity": memory.input_sensitivity(net, X, 20),
        "sensitivity_none": memory.input_sensitivity(net, X, 20, reduce="none"),
        "perturbation": memory.perturbation_decay(net, X[:1], n_perturb=2),
        "jacobian_spectra": spectral.jacobian_spectra(net, X[0], times=[1, 30, 60]),
        "frequency_response": spectral.frequency_response(net.residual, np.linspace(0, 0.5, 33)),
        "history": h,
    }


def test_every_result_plots_on_new_and_given_axes_and_has_a_compact_repr(net):
    for name, res in _results(net).items():
        ax = res.plot()
        assert isinstance(ax, matplotlib.axes.Axes), name
        assert ax.has_data(), name
        fig, given = plt.subplots()
        assert res.plot(ax=given) is given, name
        r = repr(res)
        assert len(r) < 300 and "\n" not in r and "array([" not in r, (name, r)
        plt.close("all")


def test_memory_capacity_repr_no_longer_dumps_arrays(net):
    mc = memory.memory_capacity(net, 50, n_steps=600)
    r = repr(mc)
    assert r.startswith("MemoryCapacity(total=") and len(r) < 200


def test_sensitivity_curve_is_still_an_array(net):
    M = memory.input_sensitivity(net, np.ones((30, 1)), 5)
    assert isinstance(M, np.ndarray) and M.shape == (6,)
    np.testing.assert_array_equal(M.lags, np.arange(6))
    assert float(M[0]) == float(np.asarray(M)[0])


def test_progress_none_means_terminal_or_jupyter(monkeypatch):
    class FakeShell:
        kernel = object()

    class FakeIPython:
        @staticmethod
        def get_ipython():
            return FakeShell()

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _progress.progress_enabled(None) is False
    assert _progress.progress_enabled(True) is True and _progress.progress_enabled(False) is False
    with pytest.raises(TypeError, match="progress"):
        _progress.progress_enabled("yes")
    monkeypatch.setitem(sys.modules, "IPython", FakeIPython)
    assert _progress.in_jupyter_kernel() and _progress.progress_enabled(None) is True
    bar = _progress.progress_bar(None, 5, "x")
    assert bar is not None
    bar.update(5)
    bar.close()
