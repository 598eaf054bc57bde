"""Thread control in one place: how many threads to use, and the BLAS / OpenMP thread pools.

Every threaded entry point (:func:`wcrnn_dyn.lyapunov.lyapunov_spectrum`, the models' batch chunks used by
``states`` / ``loss_and_grad`` / training, :func:`wcrnn_dyn.memory.memory_capacity`) takes its default thread
count from :func:`default_threads`, and sets the BLAS thread count of the libraries loaded in this process
(NumPy's and SciPy's OpenBLAS, the latter behind ``scipy.linalg.cython_blas`` and Numba's ``np.dot``) through
threadpoolctl with :class:`blas_threads` / :class:`single_threaded_blas`.

Why the default looks at the machine: the kernels issue one small GEMM per time step, and threads that
wait on each other every step lose badly when another program holds a core (measured on 2 cores: a
Lyapunov run with 2 threads beside one busy loop was 2.3x slower than with 1 thread; beside a
multi-threaded job 31x).  :func:`free_cpus` therefore estimates the CPUs left over by *other* processes,
from the ``/proc/stat`` counters minus this process's own CPU time (``os.times``), averaged over the last
0.1-10 s.  Niced work counts as busy only when the kernel's autogroup scheduling is on (measured here: a
``nice 15`` run in another session still took an equal share from a normal-priority process).  The
counters are sampled at import and at every call; a call only sleeps (0.05 s) when no sample between 0.1 s
and 10 s old exists.  Where ``/proc/stat`` is unavailable the estimate is the CPU count.

Wait policy: ``OMP_WAIT_POLICY`` is set to ``PASSIVE`` at import unless the user set it (it only affects an
OpenMP runtime started afterwards, e.g. Numba's OpenMP threading layer), so that idle OpenMP workers sleep
instead of spinning on a core another program needs (measured: a Lyapunov top-16 run at N=1024 whose GEMM is
split over Numba's OpenMP threads took 15-21 ms per step with spinning workers on a shared 2-core machine,
1.2-5.6 ms with passive ones).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time

log = logging.getLogger(__name__)

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["cpu_count", "busy_cpus", "free_cpus", "default_threads", "blas_threads", "single_threaded_blas",
           "set_blas_threads", "thread_info", "split", "batch_plan", "run_parallel"]

_MIN_WINDOW = 0.1   # s: shortest interval the busy estimate prefers (10 ms ticks: ~5 % resolution)
_WAIT = 0.05        # s: the interval measured when no earlier sample is usable (~10 % resolution)
_MAX_WINDOW = 10.0  # s: older samples are stale
_LOCK = threading.Lock()
_SAMPLES = []       # [(wall time, busy ticks, total ticks, own CPU seconds)], oldest first


def cpu_count():
    """CPUs this process may run on (its affinity mask where the OS tells it, else ``os.cpu_count()``).

    No parameters.

    Returns
    -------
    int
        At least 1.

    Notes
    -----
    One system call (microseconds).
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _autogroup():
    """Whether the kernel's autogroup scheduling is on (then a niced program in another session still gets
    an equal share of the CPUs: its nice value only ranks it inside its own session)."""
    global _AUTOGROUP
    if _AUTOGROUP is None:
        try:
            with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
                _AUTOGROUP = f.read().strip() == "1"
        except OSError:
            _AUTOGROUP = False
    return _AUTOGROUP


_AUTOGROUP = None


def _affinity():
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None


def _read_stat():
    """(busy ticks, total ticks, number of CPUs) over the CPUs this process may run on (its affinity mask;
    all CPUs where unknown) from /proc/stat, or None.  Niced time counts as busy only under autogroup
    scheduling (see :func:`_autogroup`)."""
    mine = _affinity()
    busy = total = n = 0
    try:
        with open("/proc/stat") as f:
            f.readline()  # the all-CPU line
            for line in f:
                if not line.startswith("cpu"):
                    break
                v = line.split()
                if len(v) < 9 or (mine is not None and int(v[0][3:]) not in mine):
                    continue
                user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in v[1:9])
                busy += user + system + irq + softirq + steal + (nice if _autogroup() else 0)
                total += user + nice + system + idle + iowait + irq + softirq + steal
                n += 1
    except (OSError, ValueError):
        return None
    if n == 0:
        return None
    return busy, total, n


def _sample():
    st = _read_stat()
    if st is None:
        return None
    t = os.times()
    return (time.monotonic(), st[0], st[1], t.user + t.system), st[2]


def busy_cpus():
    """CPUs kept busy by other processes (float, >= 0), averaged over the last 0.1-10 s; None where
    ``/proc/stat`` is unavailable.

    busy = (non-idle share of the time of the CPUs in this process's affinity mask) x (their number) - this
    process's CPU time per second.
    Niced work counts only under the kernel's autogroup scheduling (the default of common Linux desktops):
    without it the scheduler gives way to normal priority and niced work is not in our way.  Costs ~20 us,
    or a 0.05 s sleep when no earlier sample in the window exists (first call more than 10 s after the
    last one).

    No parameters.

    Returns
    -------
    float or None
        None (not NaN) where ``/proc/stat`` cannot be read.
    """
    with _LOCK:
        now = _sample()
        if now is None:
            return None
        cur, ncpu = now
        ref = None
        for s in reversed(_SAMPLES):
            age = cur[0] - s[0]
            if _MIN_WINDOW <= age <= _MAX_WINDOW:
                ref = s
                break
        if ref is None:
            if _SAMPLES and 0.0 <= cur[0] - _SAMPLES[-1][0] < _MIN_WINDOW:
                ref = _SAMPLES[-1]
                time.sleep(max(0.0, _WAIT - (cur[0] - ref[0])))
            else:
                ref = cur
                time.sleep(_WAIT)
            cur, ncpu = _sample()
        _SAMPLES.append(cur)
        del _SAMPLES[:-64]
        _SAMPLES[:] = [s for s in _SAMPLES if cur[0] - s[0] <= _MAX_WINDOW]
    dt = cur[0] - ref[0]
    dtot = cur[2] - ref[2]
    if dt <= 0 or dtot <= 0:
        return 0.0
    busy_all = ncpu * (cur[1] - ref[1]) / dtot
    own = (cur[3] - ref[3]) / dt
    return max(0.0, busy_all - own)


def free_cpus():
    """Estimated CPUs free for this process: :func:`cpu_count` minus :func:`busy_cpus`, rounded to the
    nearest integer, at least 1 (the CPU count where the load cannot be read).

    No parameters.

    Returns
    -------
    int
        Between 1 and :func:`cpu_count`.

    Notes
    -----
    Cost as :func:`busy_cpus`: ~20 us, or a 0.05 s sleep when no recent sample exists.
    """
    n = cpu_count()
    b = busy_cpus()
    if b is None:
        return n
    return max(1, min(n, int(n - b + 0.5)))


def _numba_threads():
    try:
        import numba
        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover
        return cpu_count()


def default_threads(n_items=None, min_chunk=1):
    """Default thread count of every threaded entry point: the smaller of Numba's thread count (which follows
    ``NUMBA_NUM_THREADS`` and ``numba.set_num_threads``; sweep workers set 1) and :func:`free_cpus`, at most
    one thread per ``min_chunk`` of ``n_items`` work items (when given), at least 1.  The load is not read
    when the other limits already give 1.

    Parameters
    ----------
    n_items : int, optional
        Number of independent work items.
    min_chunk : int, default 1
        Fewest items per thread.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from wcrnn_dyn import threads
    >>> threads.default_threads(n_items=1)
    1
    """
    n = _numba_threads()
    if n_items is not None:
        n = min(n, int(n_items) // max(1, int(min_chunk)))
    if n <= 1:
        return 1
    return max(1, min(n, free_cpus()))


# ------------------------------------------------------------------------------------------ BLAS pools
_CTRL = None
_CTRL_KEY = None


def _controller():
    """A cached threadpoolctl controller (rebuilt when modules were imported since: a library loaded later,
    e.g. SciPy's OpenBLAS, must be seen), or None when threadpoolctl is not installed."""
    global _CTRL, _CTRL_KEY
    key = len(sys.modules)
    if _CTRL is not None and key == _CTRL_KEY:
        return _CTRL
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's OpenBLAS before looking for it)
        from threadpoolctl import ThreadpoolController
        ctrl = ThreadpoolController()
    except Exception as e:  # pragma: no cover - threadpoolctl missing or failing
        log.warning("BLAS thread control unavailable (%s); BLAS runs with its own thread count", e)
        ctrl = None
    _CTRL, _CTRL_KEY = ctrl, len(sys.modules)
    return ctrl


def _blas_libs():
    ctrl = _controller()
    return [] if ctrl is None else [lc for lc in ctrl.lib_controllers if lc.user_api == "blas"]


class blas_threads:
    """Context manager: every BLAS library in the process (threadpoolctl's ``user_api="blas"``) runs ``n``
    threads inside; the previous counts are restored on exit.

    The count is always *set* on entry, even when a library already reports ``n``: SciPy's OpenBLAS reports
    its default at start-up but was measured running single-threaded until told (a 257 x 256 x 256 GEMM
    through Numba: 0.88 ms before, 0.53 ms after setting 2 threads on a 2-core machine).  ``available``
    says whether any BLAS library was found.  Cost ~20 us per entry and exit.

    Parameters
    ----------
    n : int
        Thread count inside the block (values below 1 mean 1).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import threads
    >>> with threads.blas_threads(1):
    ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
    4.0
    """

    def __init__(self, n):
        self.n = max(1, int(n))
        self.libs = _blas_libs()
        self.available = bool(self.libs)
        self.prev = None

    def __enter__(self):
        self.prev = [lc.num_threads for lc in self.libs]
        for lc in self.libs:
            lc.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        for lc, p in zip(self.libs, self.prev or []):
            lc.set_num_threads(max(1, int(p)))
        return False


class single_threaded_blas(blas_threads):
    """Context manager: every BLAS library runs single-threaded inside (restored on exit); used while worker
    threads each run a kernel on their own chunk of sequences.  ``available`` as in :class:`blas_threads`.

    No parameters.
    """

    def __init__(self):
        super().__init__(1)


def set_blas_threads(n):
    """Set the thread count of every BLAS library loaded in this process (until changed again); returns the
    number of libraries changed.

    Parameters
    ----------
    n : int
        Thread count (values below 1 mean 1).

    Returns
    -------
    int
        Number of BLAS libraries changed (0 where threadpoolctl finds none).

    Notes
    -----
    ~20 us (a rescan of the loaded libraries when modules were imported since the last call).
    """
    libs = _blas_libs()
    for lc in libs:
        lc.set_num_threads(max(1, int(n)))
    return len(libs)


def thread_info():
    """Dict for provenance: CPU count, Numba's threads and layer, the busy estimate, BLAS / OpenMP pools.

    No parameters.

    Returns
    -------
    dict
        ``cpu_count``, ``numba_threads``, ``omp_wait_policy``, ``numba_threading_layer``,
        ``busy_cpus_others`` (None where unknown) and ``pools`` (one dict per threadpoolctl library).
    """
    info = {"cpu_count": cpu_count(), "numba_threads": _numba_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    try:
        import numba
        info["numba_threading_layer"] = str(numba.config.THREADING_LAYER)
    except Exception:  # pragma: no cover
        pass
    b = busy_cpus()
    info["busy_cpus_others"] = None if b is None else round(b, 3)
    ctrl = _controller()
    if ctrl is not None:
        info["pools"] = [{"user_api": lc.user_api, "internal_api": lc.internal_api, "num_threads": lc.num_threads,
                          "version": lc.version, "file": os.path.basename(lc.filepath)} for lc in ctrl.lib_controllers]
    return info


# ------------------------------------------------------------------------------------------ batch chunks
def split(n_items, n_chunks):
    """Contiguous (start, stop) ranges splitting ``n_items`` into ``n_chunks`` near-equal parts.

    Parameters
    ----------
    n_items : int
    n_chunks : int
        >= 1.

    Returns
    -------
    list of (int, int)
        Empty ranges are left out (fewer than ``n_chunks`` ranges when n_items < n_chunks).

    Examples
    --------
    >>> from wcrnn_dyn import threads
    >>> threads.split(5, 2)
    [(0, 2), (2, 5)]
    """
    edges = [round(i * n_items / n_chunks) for i in range(n_chunks + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n_chunks) if edges[i + 1] > edges[i]]


def batch_plan(n_items, n_threads=None, min_chunk=16):
    """(chunks, workers) for ``n_items`` independent sequences.

    With ``n_threads`` given: ``n_threads`` chunks on as many threads.  Otherwise the chunks follow Numba's
    thread count (at most one per ``min_chunk`` items), which does not depend on the load, so that results
    are the same to the last bit whatever the machine is doing; the number of threads running them is
    :func:`default_threads` (fewer when other programs hold CPUs; the chunks then run one after another).

    Parameters
    ----------
    n_items : int
    n_threads : int, optional
    min_chunk : int, default 16

    Returns
    -------
    chunks : list of (int, int)
        As from :func:`split`.
    workers : int
        Threads to run them on.
    """
    if n_threads is not None:
        n = max(1, int(n_threads))
        return split(n_items, n), n
    chunks = split(n_items, max(1, min(_numba_threads(), int(n_items) // max(1, int(min_chunk)))))
    return chunks, (default_threads(len(chunks)) if len(chunks) > 1 else 1)


def run_parallel(fn, n, workers=None):
    """Call fn(0..n-1) with single-threaded BLAS on ``workers`` threads (default n; at most n); returns the
    results in order.  With one worker the calls run one after another in the calling thread.

    The time-step kernels issue one small GEMM per step: multi-threaded BLAS gains little there and, when
    another process holds a core, its spinning threads make a step 10-50x slower (measured here).
    The results do not depend on ``workers`` (each call is independent).

    Parameters
    ----------
    fn : callable
        ``fn(i)`` for i in 0..n-1.
    n : int
        Number of calls.
    workers : int, optional
        Threads (default n, at most n).

    Returns
    -------
    list
        ``[fn(0), ..., fn(n - 1)]``.

    Raises
    ------
    Exception
        Whatever a call raises is re-raised.

    Examples
    --------
    >>> from wcrnn_dyn import threads
    >>> threads.run_parallel(lambda i: i * i, 4, workers=2)
    [0, 1, 4, 9]
    """
    workers = n if workers is None else max(1, min(int(workers), n))
    with single_threaded_blas():
        if workers == 1:
            return [fn(i) for i in range(n)]
        if workers == n:
            # one call per worker: the calling thread takes the first, a kept pool the others (a training
            # step runs three such phases; starting threads for each cost ~0.1 ms apiece)
            futs = [_pool(n - 1).submit(fn, i) for i in range(1, n)]
            first = fn(0)
            return [first] + [f.result() for f in futs]
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(fn, range(n)))


_POOL = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(n):
    """A kept thread pool of at least n threads (idle threads wait on a queue, they do not spin)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < n:
            from concurrent.futures import ThreadPoolExecutor
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="wcrnn_dyn")
            _POOL_SIZE = n
        return _POOL


# a first sample, so that the first default_threads() call rarely has to wait
try:
    with _LOCK:
        _s = _sample()
        if _s is not None:
            _SAMPLES.append(_s[0])
except Exception:  # pragma: no cover
    pass
