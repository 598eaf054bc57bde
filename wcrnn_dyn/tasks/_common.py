"""Shared helpers of the task loaders: where data is looked for, splits, safe unpickling (private)."""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from .._validate import check_int

log = logging.getLogger("wcrnn_dyn.tasks")

#: Environment variable naming a data directory: searched for data and used as the cache directory.
ENV_DATA = "WCRNN_DYN_DATA"
#: Environment variable naming a classic ``mnist.pkl.gz`` pickle (train 50k / valid 10k / test 10k).
ENV_MNIST_PKL = "WCRNN_DYN_MNIST_PKL"

SPLITS = ("train", "val", "test", "train_full")

#: The package's own data directory (shipped files: the psMNIST permutation, the digits data).
PACKAGE_DATA = Path(__file__).resolve().parent.parent / "data"


def default_cache_dir():
    """The cache directory: ``$WCRNN_DYN_DATA`` if set, else ``~/.cache/wcrnn_dyn`` (a Path; not created
    here).  MNIST IDX files are looked for in it and in its ``mnist/`` subfolder, downloads go to
    ``<cache>/mnist``, decoded CIFAR-10 arrays to ``<cache>/cifar10``.

    No parameters.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wcrnn_dyn"


def resolve_cache_dir(cache_dir):
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def shared_data_dirs():
    """``../shared/data`` relative to the current directory and to the repository holding this package."""
    out = []
    try:
        cwd = Path.cwd()
    except OSError:  # the working directory was removed
        cwd = None
    for base in (cwd, Path(__file__).resolve().parents[2]):
        if base is None:
            continue
        p = (base / ".." / "shared" / "data").resolve()
        if p not in out:
            out.append(p)
    return out


def check_split(split):
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(map(repr, SPLITS))}")
    return split


def split_indices(n_total, split, n_val):
    """Indices of ``split`` in a training set of ``n_total`` (validation = the LAST ``n_val``).

    ``split`` must be "train", "val" or "train_full" (the test set is separate).
    """
    n_val = check_int(n_val, "n_val", minimum=0)
    if split == "train_full":
        return np.arange(n_total)
    if n_val >= n_total:
        raise ValueError(f"n_val={n_val} leaves no training data: the training set has {n_total} samples")
    if split == "train":
        return np.arange(0, n_total - n_val)
    if split == "val":
        return np.arange(n_total - n_val, n_total)
    raise ValueError(f"split_indices: bad split {split!r}")  # pragma: no cover


def apply_limit(idx, limit):
    if limit is None:
        return idx
    limit = check_int(limit, "limit", minimum=1)
    return idx[:limit]


def sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes and scalars (no arbitrary code)."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"), ("builtins", "bytearray"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle "
                                     "(only numpy arrays are allowed)")


def safe_pickle_load(fileobj, encoding):
    """Load a data pickle that may only contain builtins and numpy arrays (ValueError otherwise)."""
    try:
        return _NumpyOnlyUnpickler(fileobj, encoding=encoding).load()
    except pickle.UnpicklingError as e:
        raise ValueError(str(e)) from e


def to_float(x_uint8, dtype, scale):
    """``x / scale`` computed in ``dtype`` (the division is exact IEEE division, not a reciprocal)."""
    out = x_uint8.astype(dtype)
    np.divide(out, dtype(scale), out=out)
    return out
