"""CIFAR-10 readers: official python batches (directory or tarball) and class-folder image trees.

Every reader returns uint8 images ``(n, 32, 32, 3)`` (row, column, RGB) and uint8 labels, for the
training part (50,000) and the test part (10,000), in a fixed order:

* python batches: the official order, ``data_batch_1`` .. ``data_batch_5`` then ``test_batch``;
* image trees (``train/<class>/<file>``, ``test/<class>/<file>``): files of each class sorted by name
  (numerically when the stem is a number), then interleaved round-robin over the classes in the order
  airplane .. truck (class 0 file 0, class 1 file 0, ..., class 9 file 0, class 0 file 1, ...).  The
  interleaving makes every prefix, and the last 5,000 used for validation, class-balanced.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np

from ..store import atomic_write_bytes, atomic_write_text
from ._common import ENV_DATA, log, resolve_cache_dir, safe_pickle_load, shared_data_dirs

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")
_BATCH_NAMES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
_CACHE_VERSION = 1

HOW_TO_GET_CIFAR = (
    "To get CIFAR-10: download the official 'python version' cifar-10-python.tar.gz (from the CIFAR-10 "
    "page of the University of Toronto, https://www.cs.toronto.edu/~kriz/cifar.html) and pass "
    "data_dir=<the tarball, or the folder holding it or its extracted cifar-10-batches-py> or put it in "
    "$WCRNN_DYN_DATA; a class-folder image tree train/<class>/*.jpg, test/<class>/*.jpg (folder or "
    ".tar.gz) works too."
)


class Source:
    """A located CIFAR-10 copy: ``kind`` in {"batches_dir", "batches_tar", "tree_dir", "tree_tar"}."""

    def __init__(self, kind, path):
        self.kind = kind
        self.path = Path(path)

    @property
    def is_official(self):
        return self.kind.startswith("batches")

    def __repr__(self):
        return f"Source({self.kind!r}, {str(self.path)!r})"


# ------------------------------------------------------------------------------------------ search
def _tree_entry(parts):
    """(part, class index) for a path whose last three parts are train|test / class / image, else None."""
    if len(parts) < 3:
        return None
    part, cls, fname = parts[-3], parts[-2], parts[-1]
    if part not in ("train", "test") or not fname.lower().endswith(_IMAGE_EXT) or fname.startswith("."):
        return None
    if cls not in _CLASS_INDEX:
        raise ValueError(f"unexpected class folder {cls!r} in {'/'.join(parts)}; CIFAR-10 classes are "
                         f"{', '.join(CLASSES)}")
    return part, _CLASS_INDEX[cls]


def _peek_tar(path, max_members=64):
    """Kind of a tarball from its first members: "batches_tar", "tree_tar" or None."""
    try:
        with tarfile.open(path, "r:*") as tf:
            for k, m in enumerate(tf):
                if k >= max_members:
                    break
                base = m.name.rsplit("/", 1)[-1]
                if base in _BATCH_NAMES or base == "batches.meta":
                    return "batches_tar"
                if m.isfile():
                    try:
                        if _tree_entry(m.name.split("/")):
                            return "tree_tar"
                    except ValueError:
                        return None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def _is_tree_dir(d):
    for part in ("train", "test"):
        p = d / part
        if not p.is_dir() or not any((p / c).is_dir() for c in CLASSES):
            return False
    return True


def _sources_in(path):
    """CIFAR-10 sources found at ``path`` (a directory or a tarball), official ones first."""
    path = Path(path).expanduser()
    out = []
    if path.is_file():
        if path.name.endswith(_TAR_SUFFIXES):
            kind = _peek_tar(path)
            if kind:
                out.append(Source(kind, path))
        return out
    if not path.is_dir():
        return out
    for d in (path, path / "cifar-10-batches-py"):
        if all((d / n).is_file() for n in _BATCH_NAMES):
            out.append(Source("batches_dir", d))
    tars = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_TAR_SUFFIXES)
                  and "cifar" in p.name.lower() and "100" not in p.name)
    for t in sorted(tars, key=lambda p: p.name != "cifar-10-python.tar.gz"):
        kind = _peek_tar(t)
        if kind:
            out.append(Source(kind, t))
    for d in (path, path / "cifar10", path / "cifar-10", path / "CIFAR10"):
        if _is_tree_dir(d):
            out.append(Source("tree_dir", d))
    out.sort(key=lambda s: not s.is_official)  # stable: official python batches first
    return out


def find_source(data_dir=None, cache_dir=None):
    """Locate CIFAR-10.  An explicit ``data_dir`` (folder or tarball) is the only place looked; otherwise
    ``$WCRNN_DYN_DATA``, ``../shared/data`` relative to the current directory and to the repository, and
    the cache directory, in that order.  Official python batches are preferred within a place."""
    if data_dir is not None:
        places = [Path(data_dir).expanduser()]
    else:
        places = []
        if os.environ.get(ENV_DATA):
            places.append(Path(os.environ[ENV_DATA]).expanduser())
        places += shared_data_dirs()
        places.append(resolve_cache_dir(cache_dir))
    seen = []
    for p in places:
        if p in seen:
            continue
        seen.append(p)
        found = _sources_in(p)
        if found:
            return found[0]
    looked = "\n  ".join(str(p) for p in seen)
    extra = (" (an explicit data_dir is the only place looked; omit it to search the defaults)"
             if data_dir is not None else "")
    env = "" if os.environ.get(ENV_DATA) else f"\n  (${ENV_DATA} not set)"
    raise FileNotFoundError(f"CIFAR-10 not found{extra}. Looked in:\n  {looked}{env}\n"
                            f"for cifar-10-batches-py/, cifar-10-python.tar.gz, *cifar*.tar.gz and "
                            f"train/<class>/ + test/<class>/ image folders.\n{HOW_TO_GET_CIFAR}")


# ------------------------------------------------------------------------------------ python batches
def _batch_arrays(fileobj, where):
    try:
        d = safe_pickle_load(fileobj, encoding="bytes")
    except (ValueError, EOFError, OSError, IndexError, KeyError, TypeError, AttributeError, MemoryError) as e:
        # a truncated pickle raises EOFError / UnpicklingError (-> ValueError) without naming the file
        raise ValueError(f"{where}: not a readable CIFAR-10 python batch (truncated or corrupt: "
                         f"{type(e).__name__}: {e})") from e
    if not isinstance(d, dict):
        raise ValueError(f"{where}: not a CIFAR-10 python batch (the pickle holds a {type(d).__name__}, "
                         "not a dict)")
    try:
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{where}: not a CIFAR-10 python batch (needs b'data' and b'labels')") from e
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(f"{where}: b'data' must be (n, 3072) with n labels, got {data.shape} and "
                         f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels must be 0..9")
    # each row: 1024 red, 1024 green, 1024 blue values, each a row-major 32x32 plane
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels.astype(np.uint8)


def _read_batches(src):
    got = {}
    if src.kind == "batches_dir":
        for n in _BATCH_NAMES:
            with open(src.path / n, "rb") as f:
                got[n] = _batch_arrays(f, src.path / n)
    else:
        for mname, blob in _tar_files(src.path, lambda m: m.rsplit("/", 1)[-1] in _BATCH_NAMES):
            got[mname.rsplit("/", 1)[-1]] = _batch_arrays(io.BytesIO(blob), f"{src.path}:{mname}")
        missing = [n for n in _BATCH_NAMES if n not in got]
        if missing:
            raise ValueError(f"{src.path}: missing {', '.join(missing)}")
    xtr = np.concatenate([got[n][0] for n in _BATCH_NAMES[:5]])
    ytr = np.concatenate([got[n][1] for n in _BATCH_NAMES[:5]])
    return {"train": (xtr, ytr), "test": got["test_batch"]}


# ------------------------------------------------------------------------------------------ tarballs
class _NotSimpleTar(Exception):
    pass


def _octal(field):
    if field[:1] and field[0] & 0x80:  # GNU base-256 encoding
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _fast_tar_members(raw):
    """Regular files of an uncompressed ustar / GNU / pax tar held in memory, as (name, bytes).

    Python's ``tarfile`` spends ~0.2 ms per member on header parsing; CIFAR-10 image trees have 60,000
    members, so this reader handles the common formats directly and raises _NotSimpleTar otherwise."""
    pos, n, long_name, pax_path = 0, len(raw), None, None
    while pos + 512 <= n:
        h = raw[pos:pos + 512]
        if h == bytes(512):
            return
        if h[257:262] != b"ustar":
            raise _NotSimpleTar
        size = _octal(h[124:136])
        kind = h[156:157]
        start, pos = pos + 512, pos + 512 + -(-size // 512) * 512
        if pos > n:
            raise ValueError("truncated tar archive")
        if kind == b"L":  # GNU long name of the next member
            long_name = raw[start:start + size].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue
        if kind == b"x":  # pax extended header of the next member
            for rec in raw[start:start + size].decode("utf-8", "surrogateescape").split("\n"):
                key, _, val = rec.partition(" ")[2].partition("=")
                if key == "path":
                    pax_path = val
                elif key == "size":
                    raise _NotSimpleTar  # size overrides: leave it to tarfile
            continue
        if kind in (b"g", b"K"):
            continue
        if pax_path is not None:
            name = pax_path
        elif long_name is not None:
            name = long_name
        else:
            name = h[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if h[257:263] == b"ustar\x00":  # POSIX ustar: name may have a prefix
                prefix = h[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if prefix:
                    name = prefix + "/" + name
        long_name = pax_path = None
        if kind in (b"0", b"\0", b"7"):
            yield name, raw[start:start + size]


def _tar_files(path, keep):
    """Yield (member name, bytes) for the regular files of tarball ``path`` with ``keep(name)`` true.

    gzip or uncompressed archives in ustar / GNU / pax format are parsed in memory (fast); anything else
    is read with ``tarfile``."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[257:262] != b"ustar":
            raise _NotSimpleTar
        out = [(name, blob) for name, blob in _fast_tar_members(raw) if keep(name)]
    except (_NotSimpleTar, OSError, EOFError, ValueError, UnicodeError) as e:
        log.debug("reading %s with tarfile (%r)", path, e)
        del raw
        out = None
    if out is not None:
        yield from out
        return
    try:
        with tarfile.open(path, "r|*") as tf:
            for m in tf:
                if m.isfile() and keep(m.name):
                    yield m.name, tf.extractfile(m).read()
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: cannot read the tar archive ({e})") from e


# ---------------------------------------------------------------------------------------- trees
def _natural(name):
    stem = name.rsplit(".", 1)[0]
    return (0, int(stem), name) if re.fullmatch(r"\d+", stem) else (1, 0, name)


def _order(entries):
    """entries: list of (class index, file name, handle) -> the same list in round-robin order."""
    by_class = {}
    for e in entries:
        by_class.setdefault(e[0], []).append(e)
    keyed = []
    for c, lst in by_class.items():
        lst.sort(key=lambda e: _natural(e[1]))
        keyed += [((rank, c), e) for rank, e in enumerate(lst)]
    keyed.sort(key=lambda t: t[0])
    return [e for _, e in keyed]


def _list_tree_dir(root):
    out = {"train": [], "test": []}
    for part in ("train", "test"):
        pdir = root / part
        if not pdir.is_dir():
            continue
        for cdir in sorted(pdir.iterdir()):
            if not cdir.is_dir():
                continue
            for f in os.scandir(cdir):
                if f.is_file():
                    ent = _tree_entry((part, cdir.name, f.name))
                    if ent:
                        out[part].append((ent[1], f.name, f.path))
    return {k: _order(v) for k, v in out.items()}


def _decode(blob, where):
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError("reading CIFAR-10 image folders needs Pillow (pip install pillow)") from e
    try:
        with Image.open(io.BytesIO(blob)) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as e:  # Pillow raises several exception types for bad files
        raise ValueError(f"{where}: cannot decode image ({e})") from e
    if arr.shape != (32, 32, 3):
        raise ValueError(f"{where}: CIFAR-10 images must be 32x32, got {arr.shape[:2]}")
    return arr


def _decode_list(entries, blobs):
    x = np.empty((len(entries), 32, 32, 3), dtype=np.uint8)
    y = np.empty(len(entries), dtype=np.uint8)
    for i, (c, _name, handle) in enumerate(entries):
        x[i] = _decode(blobs(handle), handle)
        y[i] = c
    return x, y


def _read_tree(src, parts=("train", "test"), select=None):
    """Decode a tree.  ``select``: optional callable n -> indices into a part's order (only those images
    are decoded)."""
    t0 = time.perf_counter()
    if src.kind == "tree_dir":
        listing = _list_tree_dir(src.path)

        def blobs(handle):
            with open(handle, "rb") as f:
                return f.read()
    else:  # one streaming pass; keep the (small) encoded files of the wanted parts in memory
        raw = {"train": [], "test": []}
        data = {}

        def keep(mname):
            ent = _tree_entry(mname.split("/"))
            return bool(ent) and ent[0] in parts

        for mname, blob in _tar_files(src.path, keep):
            part, cls = _tree_entry(mname.split("/"))
            raw[part].append((cls, mname.rsplit("/", 1)[-1], mname))
            data[mname] = blob
        listing = {k: _order(v) for k, v in raw.items()}
        blobs = data.__getitem__
    out = {}
    for part in parts:
        entries = listing[part]
        if not entries:
            raise ValueError(f"{src.path}: no images under {part}/<class>/")
        if select is not None:
            entries = [entries[i] for i in select(len(entries))]
        out[part] = _decode_list(entries, blobs)
    log.info("decoded %s images from %s in %.1f s", {k: len(v[1]) for k, v in out.items()}, src.path,
             time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------------------------------- cache
def _cache_key(src):
    p = src.path.resolve()
    if src.kind == "tree_dir":
        listing = _list_tree_dir(p)
        sig = [(e[2], os.stat(e[2]).st_size, os.stat(e[2]).st_mtime_ns)
               for part in ("train", "test") for e in listing[part]]
        ident = hashlib.sha256(json.dumps(sig).encode()).hexdigest()
    else:
        st = os.stat(p)
        ident = f"{st.st_size}-{st.st_mtime_ns}"
    raw = f"v{_CACHE_VERSION}|{src.kind}|{p}|{ident}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _cache_folder(src, cache_dir):
    return resolve_cache_dir(cache_dir) / "cifar10" / f"{src.path.name}-{_cache_key(src)}"


def _save_npy(path, arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def cached_arrays(src, cache_dir):
    """Decoded arrays from the cache, memory-mapped, or None when not cached (python batch folders are
    never cached: reading them is already fast)."""
    if src.kind == "batches_dir":
        return None
    folder = _cache_folder(src, cache_dir)
    if not (folder / "complete.json").is_file():
        return None
    try:
        return {part: (np.load(folder / f"{part}_x.npy", mmap_mode="r"),
                       np.load(folder / f"{part}_y.npy"))
                for part in ("train", "test")}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable CIFAR-10 cache %s (%s)", folder, e)
        return None


def all_arrays(src, cache_dir, use_cache=True):
    """Every image of ``src`` as {"train": (x, y), "test": (x, y)}; decoded once and cached as .npy
    (atomically) under ``<cache>/cifar10/`` unless ``src`` is a python batch folder."""
    if use_cache:
        got = cached_arrays(src, cache_dir)
        if got is not None:
            return got
    arrs = _read_batches(src) if src.is_official else _read_tree(src)
    if use_cache and src.kind != "batches_dir":
        folder = _cache_folder(src, cache_dir)
        try:
            for part, (x, y) in arrs.items():
                _save_npy(folder / f"{part}_x.npy", x)
                _save_npy(folder / f"{part}_y.npy", y)
            atomic_write_text(folder / "complete.json", json.dumps({
                "source": str(src.path.resolve()), "kind": src.kind, "cache_version": _CACHE_VERSION,
                "n_train": int(len(arrs["train"][1])), "n_test": int(len(arrs["test"][1])),
                "order": "official batch order" if src.is_official else "per-class natural file order, "
                         "round-robin over classes"}, indent=2) + "\n")
            log.info("cached decoded CIFAR-10 in %s", folder)
        except OSError as e:
            log.warning("could not write the CIFAR-10 cache in %s (%s); continuing without it", folder, e)
    return arrs


def part_arrays(src, part, indices_for, cache_dir, use_cache, full):
    """(x, y) uint8 of one part restricted to ``indices_for(n)`` (n = the part's size).

    ``full=False`` (a ``limit`` was given) decodes only the selected images of a tree when the cache is
    cold, and writes no cache.
    """
    got = None
    if full or src.is_official:
        got = all_arrays(src, cache_dir, use_cache)
    elif use_cache:
        got = cached_arrays(src, cache_dir)
    if got is None:
        return _read_tree(src, (part,), indices_for)[part]
    x, y = got[part]
    idx = indices_for(len(y))
    if idx.size and idx[-1] - idx[0] == idx.size - 1:  # contiguous: slice, no fancy-index copy of a memmap
        sel = slice(int(idx[0]), int(idx[-1]) + 1)
        return np.asarray(x[sel]), np.asarray(y[sel])
    return np.asarray(x[idx]), np.asarray(y[idx])
