"""Validation helpers used at the public boundary (private).

Every public entry point checks what it is given with these: type, shape, finiteness, range and a size
bound (:func:`check_memory`) that refuses work needing more memory than the machine has, up front.  Errors
are ValueError / TypeError whose message starts with the argument's name.

Torch tensors (also ones that require grad) are accepted wherever an array is: they are converted with
``.detach().cpu().numpy()`` (:func:`to_numpy`); no gradient flows back into torch.
"""
from __future__ import annotations

import numbers
import os

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def to_numpy(x):
    """A torch tensor (detached, on the CPU) as a NumPy array; anything else unchanged."""
    if type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return x


def physical_memory_bytes():
    """Physical memory of the machine in bytes (os.sysconf), or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return None


def memory_limit_bytes():
    """What this process may use: the physical memory, or less where an address-space limit is set
    (``ulimit -v``, as on many clusters).  None where neither can be read."""
    have = physical_memory_bytes()
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            have = soft if have is None else min(have, soft)
    except (ImportError, OSError, ValueError):  # pragma: no cover - non-POSIX
        pass
    return have


def check_memory(n_values, what, itemsize=8, fraction=0.8):
    """Refuse, up front, work that needs more than ``fraction`` of the machine's physical memory (or of the
    process's address-space limit where one is set).

    ``n_values``: the number of array elements the work allocates (an int, may be huge); ``what``: the
    argument(s) responsible, named in the message with the figure.  Raises ValueError; returns the bytes.
    """
    need = int(n_values) * int(itemsize)
    have = memory_limit_bytes()
    if have is not None and need > fraction * have:
        phys = physical_memory_bytes()
        kind = "physical" if have == phys else "allowed to this process (ulimit -v)"
        raise ValueError(f"{what} needs about {need / 2**30:.3g} GiB of memory, more than this machine can "
                         f"give ({have / 2**30:.3g} GiB {kind}); use smaller sizes")
    return need


def check_n_threads(n_threads, name="n_threads"):
    """None (the default) or an int in 1 .. 64 x the CPU count; ValueError / TypeError otherwise."""
    if n_threads is None:
        return None
    cap = 64 * (os.cpu_count() or 1)
    return check_int(n_threads, name, minimum=1, maximum=cap)


def check_net(net, name="net"):
    """A WCRNN or Elman network (duck-typed on the model API), else TypeError naming ``name``."""
    if not all(hasattr(net, a) for a in ("W", "residual", "n_hidden", "coupling", "check_inputs")):
        raise TypeError(f"{name} must be a WCRNN or Elman network (wcrnn_dyn.models), got {type(net).__name__}")
    return net


def rng_from(seed):
    """Return a numpy Generator from None, an int or a Generator (never global state; True/False refused)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed must be None, an int or a numpy Generator, got bool ({seed!r})")
    if seed is None or isinstance(seed, (numbers.Integral, np.integer)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative int, None or a numpy Generator, got {seed!r}")
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}")


def as_dtype(dtype, name="dtype"):
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from e
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be float32 or float64, got {dt}")
    return dt.type


def check_int(value, name, minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(value, name, minimum=None, maximum=None, strict_min=False, allow_inf=False):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if np.isnan(value) or (not allow_inf and np.isinf(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict_min and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict_min and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def as_array(x, name, ndim=None, shape=None, dtype=np.float64, finite=True):
    """Convert to a C-contiguous float array, checking dimensions, shape and finiteness.

    ``ndim`` may be an int or a tuple of allowed ints; ``shape`` may contain None for free axes.
    """
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    x = to_numpy(x)
    if isinstance(x, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from e
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got a complex array")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                             f"got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr
