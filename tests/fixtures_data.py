"""Tiny data-set fixtures in the standard on-disk formats, written at test time (no real data needed)."""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


# ------------------------------------------------------------------------------------------- MNIST
def mnist_arrays(n_train=40, n_test=12, seed=0):
    """Random uint8 images (n, 28, 28) and labels, returned as (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(seed)
    xtr = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    xte = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    ytr = (np.arange(n_train) * 7 + 3) % 10
    yte = (np.arange(n_test) * 3 + 1) % 10
    return xtr, ytr.astype(np.uint8), xte, yte.astype(np.uint8)


def idx_encode(arr):
    """IDX bytes of a uint8 array, written independently of the package's code."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.tobytes()


def write_idx_dir(directory, arrays, gz=True, dotted=False):
    """Write the four MNIST IDX files (``.gz`` or raw) into ``directory``; return {file name: path}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, arr in zip(IDX_NAMES, arrays):
        if dotted:
            name = name.replace("-idx", ".idx")
        data = idx_encode(arr)
        if gz:
            name += ".gz"
            data = gzip.compress(data, mtime=0)
        (directory / name).write_bytes(data)
        out[name] = directory / name
    return out


def write_mnist_pickle(path, arrays, n_valid):
    """A classic ``mnist.pkl.gz``: ((train), (valid), (test)) with float32 pixels = uint8 / 256."""
    xtr, ytr, xte, yte = arrays
    f = lambda x: (x.reshape(len(x), 784).astype(np.float32) / np.float32(256))  # noqa: E731
    n = len(xtr) - n_valid
    obj = ((f(xtr[:n]), ytr[:n].astype(np.int64)), (f(xtr[n:]), ytr[n:].astype(np.int64)),
           (f(xte), yte.astype(np.int64)))
    with gzip.open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)
    return Path(path)


# ------------------------------------------------------------------------------------------- CIFAR
def cifar_arrays(n_train=50, n_test=20, seed=0):
    """Random uint8 images (n, 32, 32, 3) (row, col, RGB) and labels cycling over the 10 classes."""
    rng = np.random.default_rng(seed)
    xtr = rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8)
    xte = rng.integers(0, 256, size=(n_test, 32, 32, 3), dtype=np.uint8)
    ytr = (np.arange(n_train) * 3) % 10
    yte = np.arange(n_test) % 10
    return xtr, ytr.astype(np.uint8), xte, yte.astype(np.uint8)


def cifar_row(img):
    """The official 3072-byte row of one image, built pixel by pixel: 1024 R, 1024 G, 1024 B, each plane
    row-major."""
    row = np.empty(3072, dtype=np.uint8)
    for ch in range(3):
        for r in range(32):
            for c in range(32):
                row[ch * 1024 + r * 32 + c] = img[r, c, ch]
    return row


def _batch_bytes(x, y):
    d = {b"batch_label": b"fixture", b"labels": [int(v) for v in y],
         b"data": np.stack([cifar_row(im) for im in x]) if len(x) else np.zeros((0, 3072), np.uint8),
         b"filenames": [b"img%d.png" % i for i in range(len(x))]}
    return pickle.dumps(d, protocol=2)


def write_cifar_batches(directory, arrays):
    """``data_batch_1..5`` (training images split into 5 consecutive chunks) and ``test_batch``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    xtr, ytr, xte, yte = arrays
    chunks = np.array_split(np.arange(len(xtr)), 5)
    for k, idx in enumerate(chunks, start=1):
        (directory / f"data_batch_{k}").write_bytes(_batch_bytes(xtr[idx], ytr[idx]))
    (directory / "test_batch").write_bytes(_batch_bytes(xte, yte))
    (directory / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in CLASSES]}))
    return directory


def write_cifar_python_tar(path, arrays):
    """A ``cifar-10-python.tar.gz`` with a ``cifar-10-batches-py/`` folder inside."""
    path = Path(path)
    src = path.parent / (path.name + ".src")
    write_cifar_batches(src / "cifar-10-batches-py", arrays)
    with tarfile.open(path, "w:gz") as tf:
        tf.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return path


def tree_order(y):
    """Indices of images with labels ``y`` (file k of class c is the k-th image of class c) in the
    loader's documented order: per class by file number, round-robin over classes."""
    ranks = np.empty(len(y), dtype=np.int64)
    for c in range(10):
        members = np.flatnonzero(np.asarray(y) == c)
        ranks[members] = np.arange(len(members))
    return np.lexsort((np.asarray(y), ranks))


def write_cifar_tree(root, arrays, fmt="png", quality=95):
    """Class-folder tree ``root/{train,test}/<class>/NNNN.<fmt>`` (file numbers count per class)."""
    from PIL import Image
    root = Path(root)
    xtr, ytr, xte, yte = arrays
    for part, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        counts = {}
        for img, lab in zip(x, y):
            k = counts.get(int(lab), 0)
            counts[int(lab)] = k + 1
            d = root / part / CLASSES[int(lab)]
            d.mkdir(parents=True, exist_ok=True)
            # no zero padding beyond 4 digits: natural sort must put 10 after 9 either way
            p = d / f"{k}.{fmt}"
            kw = {"quality": quality} if fmt == "jpg" else {}
            Image.fromarray(img, "RGB").save(p, **kw)
    return root


def tar_tree(root, path, prefix="", fmt=tarfile.DEFAULT_FORMAT):
    """Pack the ``train/`` and ``test/`` folders of ``root`` into a tarball (``prefix/`` optional)."""
    p = str(path)
    mode = "w:gz" if p.endswith((".gz", ".tgz")) else "w:bz2" if p.endswith(".bz2") else "w"
    with tarfile.open(path, mode, format=fmt) as tf:
        for part in ("train", "test"):
            tf.add(Path(root) / part, arcname=(prefix + "/" if prefix else "") + part)
    return Path(path)


def png_bytes(img):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="PNG")
    return buf.getvalue()
