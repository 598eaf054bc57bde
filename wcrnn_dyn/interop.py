"""Networks trained elsewhere: a single-layer ``torch.nn.RNN`` as an :class:`wcrnn_dyn.Elman` network.

PyTorch's Elman RNN computes  h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)  with act tanh or relu
and h_0 = 0, which is this package's Elman network with W = W_hh, U = W_ih and b = b_ih + b_hh.  Once
loaded, every analysis applies: Lyapunov spectra, memory, Jacobian spectra, weight spectra.

* :func:`elman_from_torch` -- from a state dict (tensors or arrays), a ``.pt`` / ``.pth`` file written by
  ``torch.save(model.state_dict(), path)``, or an ``.npz`` file with the same key names (no PyTorch
  needed: ``np.savez(path, **{k: v.detach().cpu().numpy() for k, v in sd.items()})``).

PyTorch is optional: it is imported only to read a ``.pt`` file (a clear ImportError otherwise).  Torch
tensors, also ones that require grad, are accepted everywhere in this package and converted with
``.detach().cpu().numpy()``: the analysis never propagates gradients back into torch.

Layout: this package's inputs are batch-first, (B, T, d).  For a model built with ``batch_first=False``
pass ``X.transpose(1, 0, 2)`` of its (T, B, d) inputs; the weights are the same either way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._validate import as_array, as_dtype, to_numpy

__all__ = ["elman_from_torch", "read_state_dict"]

_RNN_KEYS = ("weight_ih_l0", "weight_hh_l0")


def read_state_dict(source):
    """A state dict as {name: float64 ndarray} from a dict (tensors or arrays), a ``.pt`` / ``.pth`` file
    (needs PyTorch; read with ``weights_only=True`` on the CPU) or an ``.npz`` file.

    Parameters
    ----------
    source : dict, str or path-like
        A state dict (torch tensors or NumPy arrays), or the path of a ``.pt`` / ``.pth`` / ``.npz`` file.

    Returns
    -------
    dict
        name -> float64 ndarray (tensors detached and copied to the CPU).

    Raises
    ------
    TypeError
        For another kind of ``source``.
    FileNotFoundError
        For a missing file.
    ValueError
        For an unreadable file or a non-numeric entry.
    ImportError
        For ``.pt`` without PyTorch (the message says what to do).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn.interop import read_state_dict
    >>> read_state_dict({"w": np.ones((1, 2), dtype=np.float32)})["w"].dtype
    dtype('float64')
    """
    if isinstance(source, dict):
        raw = dict(source)
        where = "state_dict"
    elif isinstance(source, (str, Path)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"state_dict_or_path: no such file {path}")
        if path.suffix == ".npz":
            try:
                with np.load(path, allow_pickle=False) as z:
                    raw = {k: z[k] for k in z.files}
            except Exception as e:  # zipfile.BadZipFile, ValueError, OSError ...
                raise ValueError(f"{path}: not a readable .npz state dict ({type(e).__name__}: {e})") from e
        elif path.suffix in (".pt", ".pth"):
            try:
                import torch
            except ImportError as e:
                raise ImportError(
                    f"reading {path} needs PyTorch (pip install torch). Without it, save the state dict as .npz "
                    "where torch is installed: np.savez('rnn.npz', **{k: v.detach().cpu().numpy() for k, v in "
                    "model.state_dict().items()}) and load that file") from e
            try:
                raw = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:
                raise ValueError(f"{path}: not a readable PyTorch state dict ({type(e).__name__}: {e})") from e
            if hasattr(raw, "state_dict") and not isinstance(raw, dict):
                raw = raw.state_dict()
            if not isinstance(raw, dict):
                raise ValueError(f"{path}: holds a {type(raw).__name__}, not a state dict")
        else:
            raise ValueError(f"state_dict_or_path: {path} must end in .pt, .pth or .npz")
    else:
        raise TypeError("state_dict_or_path must be a state dict or the path of a .pt / .pth / .npz file, got "
                        f"{type(source).__name__}")
    out = {}
    for k, v in raw.items():
        out[str(k)] = as_array(to_numpy(v), f"{where}[{k!r}]", dtype=np.float64)
    return out


def _find_prefix(sd, prefix):
    if prefix is not None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string or None, got {type(prefix).__name__}")
        return prefix
    cands = sorted({k[:-len("weight_ih_l0")] for k in sd if k.endswith("weight_ih_l0")})
    if not cands:
        raise ValueError("state_dict_or_path: no 'weight_ih_l0' entry: not the state dict of a torch.nn.RNN "
                         f"(keys: {', '.join(sorted(sd)[:12])})")
    if len(cands) > 1:
        raise ValueError(f"state_dict_or_path holds several RNNs (prefixes {cands}); choose one with prefix=")
    return cands[0]


def _find_readout(sd, readout, N, rnn_prefix):
    if readout is False:
        return None
    if readout is not None:
        if not isinstance(readout, str):
            raise TypeError(f"readout must be None, False or the prefix of a Linear layer, got {type(readout).__name__}")
        p = readout if readout == "" or readout.endswith(".") else readout + "."
        if p + "weight" not in sd:
            raise ValueError(f"readout: no entry {p + 'weight'!r} in the state dict")
        return p
    cands = [k[:-len("weight")] for k, v in sd.items()
             if k.endswith("weight") and not k.startswith(rnn_prefix + "weight_") and v.ndim == 2 and v.shape[1] == N]
    return cands[0] if len(cands) == 1 else None


def elman_from_torch(state_dict_or_path, nonlinearity="tanh", *, prefix=None, readout=None, dtype=np.float64):
    """Build an :class:`wcrnn_dyn.Elman` network from a single-layer ``torch.nn.RNN``'s state dict.

    Parameters
    ----------
    state_dict_or_path : ``model.state_dict()`` (torch tensors or NumPy arrays; tensors that require grad
        are detached), or the path of a ``.pt`` / ``.pth`` file saved with ``torch.save`` (needs PyTorch) or
        of an ``.npz`` file with the same key names (does not).
    nonlinearity : "tanh" (default) or "relu", as given to ``torch.nn.RNN`` (not stored in a state dict).
    prefix : the RNN's key prefix inside a larger model's state dict (e.g. ``"rnn."``); None finds the one
        entry ending in ``weight_ih_l0``.
    readout : the prefix of a ``torch.nn.Linear`` read from the last state (e.g. ``"fc"``: ``fc.weight``
        (n_out, N), ``fc.bias``); None uses the one Linear layer of input size N if there is exactly one,
        else none; False never.  Without a readout, V = I and c = 0 (``predict`` returns h_T).
    dtype : float64 (default) or float32.

    Returns
    -------
    Elman
        W = weight_hh_l0, U = weight_ih_l0, b = bias_ih_l0 + bias_hh_l0 (zeros for ``bias=False``):
        ``net.states(X)`` equals the RNN's output for batch-first X (B, T, d) and h_0 = 0.

    Raises
    ------
    ValueError
        For a multi-layer or bidirectional RNN (only layer 0, one direction, is a single Elman map), missing
        keys or inconsistent shapes.
    ImportError
        For a ``.pt`` file without PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn.interop import elman_from_torch
    >>> rng = np.random.default_rng(0)
    >>> sd = {"weight_ih_l0": rng.standard_normal((4, 2)), "weight_hh_l0": 0.3 * rng.standard_normal((4, 4)),
    ...       "bias_ih_l0": np.zeros(4), "bias_hh_l0": np.zeros(4)}
    >>> net = elman_from_torch(sd)
    >>> net.n_in, net.n_hidden, net.n_out
    (2, 4, 4)
    >>> x = rng.standard_normal((3, 2))
    >>> h = np.zeros(4)
    >>> for t in range(3):
    ...     h = np.tanh(sd["weight_ih_l0"] @ x[t] + sd["weight_hh_l0"] @ h)
    >>> bool(np.allclose(net.states(x)[-1], h, atol=1e-15))
    True
    """
    from .models import Elman
    if not isinstance(nonlinearity, str) or nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu' (as given to torch.nn.RNN), got {nonlinearity!r}")
    dtype = as_dtype(dtype)
    sd = read_state_dict(state_dict_or_path)
    p = _find_prefix(sd, prefix)
    if any(k.startswith(p) and k.endswith("_reverse") for k in sd):
        raise ValueError("state_dict_or_path: a bidirectional RNN (keys ending in '_reverse') is two maps, not one "
                         "Elman network; load each direction's weights with Elman.from_arrays")
    if p + "weight_ih_l1" in sd:
        raise ValueError("state_dict_or_path: a multi-layer RNN (num_layers > 1); only single-layer RNNs are one "
                         "Elman map (load layer 0 with Elman.from_arrays, or analyse the stacked map yourself)")
    missing = [p + k for k in _RNN_KEYS if p + k not in sd]
    if missing:
        raise ValueError(f"state_dict_or_path: missing {', '.join(missing)}")
    U, W = sd[p + "weight_ih_l0"], sd[p + "weight_hh_l0"]
    if W.ndim != 2 or W.shape[0] != W.shape[1] or U.ndim != 2 or U.shape[0] != W.shape[0]:
        raise ValueError(f"state_dict_or_path: weight_hh_l0 must be (N, N) and weight_ih_l0 (N, d), got {W.shape} "
                         f"and {U.shape} (an LSTM or GRU has 4N or 3N rows: not an Elman RNN)")
    N = W.shape[0]
    b = np.zeros(N)
    for k in ("bias_ih_l0", "bias_hh_l0"):
        if p + k in sd:
            v = sd[p + k]
            if v.shape != (N,):
                raise ValueError(f"state_dict_or_path: {p + k} must have shape ({N},), got {v.shape}")
            b = b + v
    rp = _find_readout(sd, readout, N, p)
    if rp is None:
        V, c = np.eye(N), np.zeros(N)
    else:
        V = sd[rp + "weight"]
        if V.ndim != 2 or V.shape[1] != N:
            raise ValueError(f"readout: {rp + 'weight'} must have shape (n_out, {N}), got {V.shape}")
        c = sd.get(rp + "bias", np.zeros(V.shape[0]))
        if c.shape != (V.shape[0],):
            raise ValueError(f"readout: {rp + 'bias'} must have shape ({V.shape[0]},), got {c.shape}")
    net = Elman.from_arrays(W, U, b, V, c, activation=nonlinearity, dtype=dtype)
    net.init = "torch"
    return net
