"""Figures.  Every function returns ``(fig, ax)``; matplotlib is imported lazily (Agg when headless).

Functions are grouped by topic in private submodules and re-exported here:
``_lyap`` (spectra, convergence), ``_memory`` (memory curves, capacities, timescales),
``_spectral`` (eigenvalues, data spectra), ``_train`` (learning curves).
"""
import importlib

_SUBMODULES = ("_lyap", "_memory", "_spectral", "_train", "_clv")


def _public_names():
    names = {}
    for sm in _SUBMODULES:
        try:
            mod = importlib.import_module(f".{sm}", __name__)
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{sm}":
                continue
            raise
        for n in getattr(mod, "__all__", ()):
            names[n] = mod
    return names


def __getattr__(name):
    mod = _public_names().get(name)
    if mod is None:
        raise AttributeError(f"wcrnn_dyn.plotting has no figure function {name!r}")
    return getattr(mod, name)


def __dir__():
    return sorted(_public_names())
