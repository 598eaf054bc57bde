"""Saving and loading models: a model as a plain dict, and as an ``.npz`` file.

The file holds the arrays ``W``, ``U``, ``b``, ``V``, ``c`` and two JSON strings: ``config`` (the kind,
sizes, activation, dtype and the coupling: ``eps`` for a WCRNN, ``init`` and ``wcri_eps`` for an Elman
network) and ``residual`` (:meth:`wcrnn_dyn.residuals.Residual.config`, from which the residual is rebuilt
exactly).  Files are written atomically (a temporary file renamed into place).
"""
from __future__ import annotations

import json

import numpy as np

__all__ = ["PARAM_NAMES", "model_config", "model_to_dict", "model_from_dict", "save_model", "load_model"]

PARAM_NAMES = ("W", "U", "b", "V", "c")


def model_config(net):
    """The JSON-able configuration of a WCRNN or Elman network (without its arrays).

    Parameters
    ----------
    net : WCRNN or Elman

    Returns
    -------
    dict
        kind, sizes, activation, dtype and ``eps`` (WCRNN) or ``init`` and ``wcri_eps`` (Elman).

    Raises
    ------
    TypeError
        If ``net`` is neither a WCRNN nor an Elman network.

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> from wcrnn_dyn.serialization import model_config
    >>> model_config(wd.WCRNN(1, 4, 2, eps=0.1))["eps"]
    0.1
    """
    base = {"kind": net.kind, "n_in": net.n_in, "n_hidden": net.n_hidden, "n_out": net.n_out}
    if net.kind == "wcrnn":
        return {**base, "eps": net.eps, "activation": net.activation, "dtype": np.dtype(net.dtype).name}
    if net.kind == "elman":
        return {**base, "init": net.init, "wcri_eps": net.eps, "activation": net.activation,
                "dtype": np.dtype(net.dtype).name}
    raise TypeError(f"net must be a WCRNN or Elman network, got {type(net).__name__}")


def model_to_dict(net):
    """A network as a plain dict; :func:`model_from_dict` rebuilds it.

    Parameters
    ----------
    net : WCRNN or Elman

    Returns
    -------
    dict
        ``{"config": ..., "residual": ..., "W": ..., "U": ..., "b": ..., "V": ..., "c": ...}`` (the arrays are
        the network's own, not copies).
    """
    return {"config": model_config(net), "residual": net.residual.config(),
            **{k: getattr(net, k) for k in PARAM_NAMES}}


def model_from_dict(d):
    """Rebuild a WCRNN or Elman network from :func:`model_to_dict`'s dict.

    Parameters
    ----------
    d : dict
        As :func:`model_to_dict` returns it (or as read from a saved file).

    Returns
    -------
    WCRNN or Elman
        A new network (the arrays are copied).

    Raises
    ------
    ValueError
        For an unknown model kind, or arrays of the wrong shape.
    """
    from . import residuals
    from .models import WCRNN, Elman
    cfg = d["config"]
    R = residuals.from_config(d["residual"])
    if cfg["kind"] == "wcrnn":
        return WCRNN.from_arrays(R, d["W"], d["U"], d["b"], d["V"], d["c"], cfg["eps"], cfg["activation"],
                                 dtype=cfg["dtype"])
    if cfg["kind"] == "elman":
        net = Elman.from_arrays(d["W"], d["U"], d["b"], d["V"], d["c"], cfg["activation"], dtype=cfg["dtype"])
        net.init = cfg.get("init", "arrays")
        net.eps = float(cfg.get("wcri_eps", 0.0))
        return net
    raise ValueError(f"unknown model kind {cfg['kind']!r}")


def save_model(net, path):
    """Save a network's parameters and configuration to an ``.npz`` file, atomically.

    Parameters
    ----------
    net : WCRNN or Elman
    path : str or Path
        The file to write (parent directories are created).

    Returns
    -------
    Path
        The path written.
    """
    from .store import save_npz
    d = model_to_dict(net)
    return save_npz(path, **{k: d[k] for k in PARAM_NAMES}, config=np.array(json.dumps(d["config"])),
                    residual=np.array(json.dumps(d["residual"])))


def load_model(path):
    """Load a model saved with ``net.save(path)`` (WCRNN or Elman, parameters and configuration).

    Parameters
    ----------
    path : str or Path
        An ``.npz`` file written by :func:`save_model` / ``net.save``.

    Returns
    -------
    WCRNN or Elman

    Examples
    --------
    >>> import os, tempfile, numpy as np, wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 4, 1, seed=0)
    >>> path = net.save(os.path.join(tempfile.mkdtemp(), "net.npz"))
    >>> bool(np.array_equal(wd.load_model(path).W, net.W))
    True
    """
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in PARAM_NAMES}
        d["config"] = json.loads(str(z["config"]))
        d["residual"] = json.loads(str(z["residual"]))
    return model_from_dict(d)
