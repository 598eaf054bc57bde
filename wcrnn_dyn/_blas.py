"""Thread control of SciPy's OpenBLAS, the BLAS behind ``scipy.linalg.cython_blas`` and Numba's ``np.dot``.

The recurrent kernels issue one small GEMM per time step.  Running several sequences' chunks in parallel
Python threads (the kernels release the GIL) with a single-threaded BLAS each scales far better on two
cores than letting OpenBLAS split every small product, and it does not collapse when the cores are busy.
"""
import ctypes


_BLAS_LIBS = None
_GETSET = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
           ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
           ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
           ("openblas_get_num_threads", "openblas_set_num_threads"))


def _openblas_libs():
    """[(get, set)] thread-count functions of every OpenBLAS loaded in this process (SciPy's, behind
    cython_blas and Numba's np.dot, and NumPy's), found through /proc/self/maps; [] where not possible."""
    global _BLAS_LIBS
    if _BLAS_LIBS is not None:
        return _BLAS_LIBS
    libs = []
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (load the library before looking for it)
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln and ".so" in ln.split()[-1]})
        for path in paths:
            lib = ctypes.CDLL(path)
            for getn, setn in _GETSET:
                if hasattr(lib, getn) and hasattr(lib, setn):
                    g, s_ = getattr(lib, getn), getattr(lib, setn)
                    g.restype = ctypes.c_int
                    s_.argtypes = [ctypes.c_int]
                    libs.append((g, s_))
                    break
    except Exception:  # pragma: no cover - platform without /proc or exotic BLAS
        libs = []
    _BLAS_LIBS = libs
    return libs


def _scipy_openblas():
    """(get, set) of one OpenBLAS (kept for callers of the earlier API), or None."""
    libs = _openblas_libs()
    return libs[0] if libs else None


class blas_threads:
    """Context manager: every OpenBLAS in the process runs ``n`` threads inside (restored on exit).

    The thread count is always *set* on entry, even when it already reports ``n``: SciPy's OpenBLAS
    reports its default (the core count) at start-up but was measured running single-threaded until
    ``openblas_set_num_threads`` is called (a 257 x 256 x 256 GEMM through Numba: 0.88 ms before, 0.53 ms
    after setting 2 threads on this 2-core machine).  ``available`` says whether the control was found.
    """

    def __init__(self, n):
        self.n = max(1, int(n))
        self.libs = _openblas_libs()
        self.available = bool(self.libs)
        self.prev = None

    def __enter__(self):
        self.prev = [int(g()) for g, _ in self.libs]
        for _, s_ in self.libs:
            s_(self.n)
        return self

    def __exit__(self, *exc):
        for (_, s_), p in zip(self.libs, self.prev or []):
            s_(max(1, p))
        return False


class single_threaded_blas(blas_threads):
    """Context manager: every OpenBLAS in the process runs single-threaded inside (restored on exit).

    Used while worker threads each run a kernel on their own chunk of sequences, so that BLAS does not
    oversubscribe the cores.  ``available`` says whether the control was found.
    """

    def __init__(self):
        super().__init__(1)


def default_threads(n_items, min_chunk=16):
    """Worker threads for ``n_items`` independent sequences: Numba's thread count, at most one per
    ``min_chunk`` items, at least 1."""
    try:
        import numba
        nt = numba.get_num_threads()
    except Exception:  # pragma: no cover
        nt = 1
    return max(1, min(nt, n_items // min_chunk))


def split(n_items, n_chunks):
    """Contiguous (start, stop) ranges splitting ``n_items`` into ``n_chunks`` near-equal parts."""
    edges = [round(i * n_items / n_chunks) for i in range(n_chunks + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n_chunks) if edges[i + 1] > edges[i]]


def run_parallel(fn, n):
    """Call fn(0..n-1) with single-threaded SciPy BLAS, in n threads when n > 1; returns the results.

    The time-step kernels issue one small GEMM per step: multi-threaded OpenBLAS gains little there and,
    when another process holds a core, its spinning threads make a step 10-50x slower (measured here).
    """
    if n == 1:
        with single_threaded_blas():
            return [fn(0)]
    from concurrent.futures import ThreadPoolExecutor
    with single_threaded_blas(), ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(fn, range(n)))
