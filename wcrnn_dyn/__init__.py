"""wcrnn_dyn: weakly coupled residual recurrent networks as an object of study.

Build WCRNNs with any residual, measure their Lyapunov spectra and fading memory on a CPU, train them
with manual-gradient BPTT on the standard long-sequence benchmarks, and relate their dynamics to the
spectra of their weights and of the data.  See ``README.md`` and ``docs/``.

Submodules are imported lazily so that ``import wcrnn_dyn`` stays cheap.
"""
import importlib
import logging

from ._version import __version__
from . import residuals
from .models import WCRNN, Elman, load_model

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY_MODULES = {"theory", "memory", "spectral", "tasks", "plotting", "store", "lyapunov", "training", "interop",
                 "sweep", "experiments", "clv", "flossing", "build", "threads", "engine", "losses", "serialization"}
_DEPRECATED_MODULES = {"io"}  # wcrnn_dyn.io: deprecated alias of wcrnn_dyn.store (warns on import)
_LAZY_ATTRS = {
    "lyapunov_spectrum": ("lyapunov", "lyapunov_spectrum"),
    "lyapunov_spectrum_map": ("lyapunov", "lyapunov_spectrum_map"),
    "top_exponent_two_trajectories": ("lyapunov", "top_exponent_two_trajectories"),
    "LyapunovState": ("lyapunov", "LyapunovState"),
    "train": ("training", "train"),
    "covariant_lyapunov_vectors": ("clv", "covariant_lyapunov_vectors"),
    "covariant_lyapunov_vectors_map": ("clv", "covariant_lyapunov_vectors_map"),
    "finite_time_exponents": ("clv", "finite_time_exponents"),
    "floss": ("flossing", "floss"),
}

__all__ = ["__version__", "residuals", "WCRNN", "Elman", "load_model", *_LAZY_MODULES, *_LAZY_ATTRS]


def __getattr__(name):
    if name in _LAZY_MODULES or name in _DEPRECATED_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    raise AttributeError(f"module 'wcrnn_dyn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
