"""Results on disk: ``results.json`` + ``.npz`` arrays with provenance, written atomically.

Every command that computes something writes, under an output directory, a ``results.json`` holding
``config``, ``metrics`` and ``provenance`` (package version, git commit if any, argv, library versions,
thread settings, UTC time), plus ``.npz`` arrays and PNG figures.  All writes go to a temporary file in
the same directory followed by ``os.replace``, so an interrupted run never leaves a half-written file.

(This module was called ``wcrnn_dyn.io`` before; that name shadowed the standard library's :mod:`io` and is
kept for one release as a deprecated alias.)

Non-finite numbers in JSON
--------------------------
Standard JSON has no NaN or infinity, so the package writes them as the strings ``"nan"``, ``"inf"`` and
``"-inf"`` everywhere (``results.json``, sweep cell records, the ``meta`` entry of training checkpoints):
:func:`to_jsonable` converts them, :func:`write_json` refuses anything else non-standard, and any JSON
reader can load the files.  :func:`from_jsonable` turns those strings back into floats.  Older files that
hold the non-standard tokens ``NaN`` / ``Infinity`` / ``-Infinity`` (training checkpoints before this
convention) are still read: Python's json parser accepts them and :func:`from_jsonable` leaves floats as
they are.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._version import __version__

__all__ = ["provenance", "code_commit", "atomic_write_bytes", "atomic_write_text", "write_json", "read_json",
           "save_npz", "load_npz", "write_results", "read_results", "to_jsonable", "from_jsonable", "NONFINITE"]

NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _git_commit():
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


@functools.lru_cache(maxsize=1)
def code_commit():
    """The git commit of the package's source (with "-dirty" when tracked files differ), or None outside a
    checkout.

    Returns
    -------
    str or None
        Looked up once per process (two ``git`` calls), then cached: what a long-running process records
        is the code it imported.
    """
    return _git_commit()


def provenance(argv=None):
    """Facts that make a result reproducible.

    Parameters
    ----------
    argv : list of str, optional
        The command line to record (default ``sys.argv``).

    Returns
    -------
    dict
        package and version, git commit (with "-dirty" for uncommitted changes; None outside a checkout),
        argv, Python version, platform, library versions, thread settings and the UTC time.
    """
    libs = {}
    for name in ("numpy", "numba", "scipy", "matplotlib"):
        mod = sys.modules.get(name)
        if mod is None:
            try:
                mod = __import__(name)
            except ImportError:
                continue
        libs[name] = getattr(mod, "__version__", "?")
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                              "NUMBA_NUM_THREADS") if os.environ.get(k)}
    try:
        import numba
        threads["numba_threads"] = numba.get_num_threads()
    except Exception:  # pragma: no cover
        pass
    threads["cpu_count"] = os.cpu_count()
    return {
        "package": "wcrnn_dyn",
        "version": __version__,
        "git_commit": _git_commit(),
        "argv": list(sys.argv if argv is None else argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
        "threads": threads,
        "numba_disable_jit": os.environ.get("NUMBA_DISABLE_JIT", "0"),
        "utc_time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def to_jsonable(obj):
    """Convert numpy scalars/arrays, paths, tuples and non-finite floats to standard-JSON values.

    Parameters
    ----------
    obj : any
        Nested dicts, lists, tuples, arrays, numbers, strings and paths.

    Returns
    -------
    any
        The same structure with NaN as ``"nan"`` and +/-infinity as ``"inf"`` / ``"-inf"`` (see the module
        docstring), dict keys as strings, tuples and arrays as lists, numpy scalars as Python numbers,
        complex numbers as ``{"real": ..., "imag": ...}`` and paths as strings.

    Notes
    -----
    Cost O(size of obj).

    Examples
    --------
    >>> from wcrnn_dyn.store import to_jsonable, from_jsonable
    >>> to_jsonable({"a": float("nan"), "b": (1.5, float("-inf"))})
    {'a': 'nan', 'b': [1.5, '-inf']}
    >>> from_jsonable({'a': 'nan', 'b': [1.5, '-inf']})
    {'a': nan, 'b': [1.5, -inf]}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(obj, complex):
        return {"real": obj.real, "imag": obj.imag}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def from_jsonable(obj):
    """Undo :func:`to_jsonable`'s non-finite strings.

    Parameters
    ----------
    obj : any
        Parsed JSON (nested dicts and lists).  Apply it to parts of a document that hold numbers (metrics,
        histories), not to free text.

    Returns
    -------
    any
        The same structure with every ``"nan"``, ``"inf"`` or ``"-inf"`` string replaced by the float; other
        values as they are (NaN/inf floats parsed from older files' ``NaN`` / ``Infinity`` tokens stay floats).

    Notes
    -----
    Cost O(size of obj).
    """
    if isinstance(obj, dict):
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if isinstance(obj, str) and obj in NONFINITE:
        return NONFINITE[obj]
    return obj


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path, data: bytes):
    """Write bytes to a file atomically: a temporary file in the same directory, then ``os.replace``.

    Parameters
    ----------
    path : str or Path
        The file (parent directories are created).
    data : bytes

    Returns
    -------
    Path
        ``path``.  An interrupted write leaves the previous file (if any) intact and no temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_text(path, text: str):
    """Write UTF-8 text to a file atomically (see :func:`atomic_write_bytes`).

    Parameters
    ----------
    path : str or Path
    text : str

    Returns
    -------
    Path
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    """Write an object as standard JSON, atomically.

    Parameters
    ----------
    path : str or Path
    obj : any
        Converted by :func:`to_jsonable` (NaN/inf as strings).

    Returns
    -------
    Path
    """
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
                             + "\n")


def read_json(path):
    """Read a JSON file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    any
        The parsed document (non-finite numbers still as strings: see :func:`from_jsonable`).
    """
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_npz(path, **arrays):
    """Save arrays to a compressed ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or Path
    **arrays : array_like
        The arrays, by name.

    Returns
    -------
    Path
    """
    import io as _io
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_npz(path):
    """Read every array of an ``.npz`` file (no pickles).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        name -> ndarray.
    """
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_results(out_dir, config, metrics, arrays=None, name="results", argv=None, extra=None):
    """Write ``<name>.json`` (config, metrics, provenance, extra) and ``<name>.npz`` under ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing.
    config, metrics : dict
        What was run and what it measured.
    arrays : dict, optional
        Arrays for ``<name>.npz`` (none written when empty).
    name : str, default "results"
    argv : list of str, optional
        Command line for the provenance (default ``sys.argv``).
    extra : dict, optional
        More top-level entries of the JSON document.

    Returns
    -------
    Path
        The JSON file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"config": config, "metrics": metrics, "provenance": provenance(argv)}
    if extra:
        doc.update(extra)
    if arrays:
        save_npz(out_dir / f"{name}.npz", **{k: np.asarray(v) for k, v in arrays.items()})
        doc["arrays"] = f"{name}.npz"
    return write_json(out_dir / f"{name}.json", doc)


def read_results(out_dir, name="results"):
    """Read ``<name>.json`` under ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
    name : str, default "results"

    Returns
    -------
    dict
        The document as written by :func:`write_results` (non-finite numbers as strings).
    """
    return read_json(Path(out_dir) / f"{name}.json")
