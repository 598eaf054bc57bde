"""Lyapunov spectra of WCRNNs and Elman networks (Benettin / QR method), and of user maps.

Semantics (docs/THEORY.md section 5.1).  The network is driven by an input sequence X (T, d) -- or a batch
(B, T, d), or no input at all -- from h_0.  Steps are numbered t = 1..T and J_t = dh_t / dh_{t-1}:

* steps 1 .. ``washout``: only the state evolves (cheap);
* the next ``burn_in`` steps: state and an orthonormal frame Q (N x k, random from ``seed``) evolve
  together, Q <- J_t Q, re-orthonormalised every ``qr_every`` steps and at the end of the burn-in;
  nothing is accumulated (the frame aligns with the leading directions);
* the remaining M = T - washout - burn_in steps are *accumulated*: every ``qr_every`` steps and at the
  last step Q = Q' r (QR), log|r_ii| is added to column i; exponents = sums / M, sorted descending, in
  nats per step (natural log; divide by log 2 for bits).

Because r of a product is the product of the r's, the result does not depend on ``qr_every`` beyond
rounding; ``qr_every > 1`` only saves work when the frame stays well conditioned over that many steps.

Main entry points: :func:`lyapunov_spectrum` (networks), :func:`top_exponent_two_trajectories`
(independent check of the top exponent), :func:`lyapunov_spectrum_map` (any user map with its tangent
product: Henon, logistic, ...), :class:`LyapunovResult`; helpers :func:`kaplan_yorke_dimension`,
:func:`entropy_rate`, :func:`initial_frame`, :func:`constant_input`.

The network loop is the fused Numba kernel :func:`wcrnn_dyn._kernels_lyap.frame_loop`: per step one
GEMM ``[h | frames] @ W^T`` for the state and all frames of all sequences, a structured residual
product and Cholesky-QR (or Householder) through BLAS/LAPACK; see ``docs/LYAPUNOV.md`` for measurements.
"""
from __future__ import annotations

import importlib
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as K
from . import _kernels_lyap as KL
from . import threads as _threads
from ._validate import as_array, check_float, check_int, rng_from

__all__ = ["LyapunovResult", "LyapunovState", "TwoTrajectoryResult", "lyapunov_spectrum", "lyapunov_spectrum_map",
           "top_exponent_two_trajectories", "kaplan_yorke_dimension", "entropy_rate", "initial_frame",
           "constant_input", "QR_METHODS"]

logger = logging.getLogger(__name__)

QR_METHODS = {"householder": KL.QR_HOUSEHOLDER, "cholesky": KL.QR_CHOLESKY, "auto": KL.QR_AUTO}
N_BATCHES = 10          # batch-means standard error uses at most this many contiguous batches
MIN_BATCHES = 4         # fewer batches than this: convergence is not judged (converged = False)
SPLIT_HALF_FACTOR = 2.0  # converged also needs |first half - second half| <= SPLIT_HALF_FACTOR * tol
FLOPS_PER_CHUNK = 1e9   # work per kernel call (progress bar / Ctrl-C granularity)
# qr_every="auto" (docs/LYAPUNOV.md, "Adaptive interval"): the interval never exceeds AUTO_MAX_INTERVAL
# steps nor the accumulation block, whose length is at least min(AUTO_BLOCK, M // 40) steps
AUTO_MAX_INTERVAL = 256
AUTO_BLOCK = 64
MIN_STOP_BLOCKS = 20    # until_tol: never stop before this many accumulation blocks


# ---------------------------------------------------------------------------------------------------
# Result objects and summary statistics
# ---------------------------------------------------------------------------------------------------

def kaplan_yorke_dimension(exponents, n=None):
    """Kaplan-Yorke (Lyapunov) dimension  D = j + (l_1 + ... + l_j) / |l_{j+1}|.

    Parameters
    ----------
    exponents : array_like, shape (k,)
        Lyapunov exponents (any order; sorted descending first).
    n : int, optional
        Dimension of the system (default: the number of exponents, i.e. a full spectrum).

    Returns
    -------
    float
        D, with j the largest index with a non-negative partial sum; 0.0 when l_1 < 0.  When the sum of
        *all* given exponents is still >= 0 the dimension is not determined by a partial spectrum: ``n`` if
        ``n`` equals the number of exponents (the full spectrum of an n-dimensional system; volumes do not
        contract), otherwise NaN.  NaN also for no exponents or a NaN exponent.

    Notes
    -----
    Cost O(k log k).  Kaplan & Yorke, Lecture Notes in Math. 730 (1979).

    Examples
    --------
    >>> from wcrnn_dyn.lyapunov import kaplan_yorke_dimension
    >>> kaplan_yorke_dimension([0.42, -1.62])      # Henon map: 1 + 0.42 / 1.62
    1.2592592592592593
    >>> kaplan_yorke_dimension([-0.1, -0.2])
    0.0
    """
    lam = np.sort(np.asarray(exponents, dtype=float))[::-1]
    k = lam.shape[0]
    n = k if n is None else int(n)
    if k == 0 or np.any(np.isnan(lam)):
        return float("nan")
    if lam[0] < 0:
        return 0.0
    S = np.cumsum(lam)
    nonneg = np.nonzero(S >= 0)[0]
    j = int(nonneg[-1]) + 1  # number of exponents in the largest non-negative partial sum
    if j == k:
        return float(n) if k == n else float("nan")
    return float(j + S[j - 1] / abs(lam[j]))


def entropy_rate(exponents, n=None):
    """Sum of the positive exponents (Pesin's upper bound on the Kolmogorov-Sinai entropy), nats/step.

    Parameters
    ----------
    exponents : array_like, shape (k,)
        Lyapunov exponents.
    n : int, optional
        Dimension of the system (default: the number of exponents, treated as a complete spectrum).

    Returns
    -------
    float
        The sum of the positive exponents (0.0 when none is positive).  NaN when a partial spectrum (fewer
        exponents than ``n``) has only positive exponents, since the sum may then be incomplete, and when an
        exponent is NaN.

    Examples
    --------
    >>> from wcrnn_dyn.lyapunov import entropy_rate
    >>> entropy_rate([0.5, 0.1, -1.0])
    0.6
    >>> entropy_rate([0.5, 0.1], n=3)
    nan
    """
    lam = np.asarray(exponents, dtype=float)
    n = lam.shape[0] if n is None else int(n)
    if np.any(np.isnan(lam)):
        return float("nan")
    if lam.shape[0] < n and lam.shape[0] > 0 and np.all(lam > 0):
        return float("nan")
    return float(np.sum(lam[lam > 0]))


@dataclass
class LyapunovResult:
    """Lyapunov spectrum estimate (all exponents in nats per step, descending).

    Attributes
    ----------
    exponents : (k,) the estimate; for a batch, the mean of the per-sequence (sorted) spectra.
    stderr : (k,) standard error by batch means: the accumulated steps are cut into up to 10 contiguous
        batches; NaN with fewer than 2 batches or for -inf exponents.
    history : (n_hist, k) running estimate after ``history_steps[j]`` accumulated steps (columns in the
        order of the final sort).  Every re-orthonormalisation when there are at most ``history_points``
        of them, otherwise every ceil(n_qr / history_points)-th (subsampled; the last row equals
        ``exponents``).
    history_steps : (n_hist,) accumulated steps at each history row.
    block_log_r : (n_hist, k) sum of log|r_ii| over each history block (batch mean).
    block_steps : (n_hist,) steps in each block.
    per_sequence : (B, k) spectrum of each sequence (None for a single sequence).
    spread : (k,) standard deviation over sequences (NaN for a single sequence).
    split_half_diff : (k,) estimate from the first half of the accumulated steps minus the second half.
    kaplan_yorke : Kaplan-Yorke dimension (NaN when a partial spectrum never crosses zero).
    entropy_rate : sum of positive exponents (NaN when a partial spectrum is all positive).
    converged : every finite exponent has stderr <= tol and |split_half_diff| <= 2 tol (tol =
        ``settings['tol']``), with >= 4 batches.  Batch means alone miss transients (a frame still aligning
        in a nearly degenerate spectrum biases early blocks); the split-half test catches them.
    n_steps : accumulated steps M.
    settings : every setting used and bookkeeping (QR method used, fall back counts, ...).
    """

    exponents: np.ndarray
    stderr: np.ndarray
    history: np.ndarray
    history_steps: np.ndarray
    block_log_r: np.ndarray
    block_steps: np.ndarray
    per_sequence: np.ndarray | None
    spread: np.ndarray
    split_half_diff: np.ndarray
    kaplan_yorke: float
    entropy_rate: float
    converged: bool
    n_steps: int
    settings: dict = field(default_factory=dict)

    @property
    def k(self):
        """Number of exponents."""
        return int(self.exponents.shape[0])

    @property
    def top(self):
        """The largest exponent."""
        return float(self.exponents[0])

    def timescales(self):
        """Memory timescales of the measured exponents (:func:`wcrnn_dyn.memory.timescales`).

        Returns
        -------
        ndarray, shape (k,)
            tau_i = -1 / LE_i in steps (inf where LE_i >= 0).
        """
        from .memory import timescales
        return timescales(self.exponents)

    def to_dict(self):
        """JSON-friendly summary (no history arrays).

        Returns
        -------
        dict
            exponents, stderr, spread, split_half_diff, kaplan_yorke, entropy_rate, converged, n_steps,
            settings (and per_sequence for a batch); arrays as ndarrays (:func:`wcrnn_dyn.store.to_jsonable`
            converts them).
        """
        d = {"exponents": self.exponents, "stderr": self.stderr, "spread": self.spread,
             "split_half_diff": self.split_half_diff, "kaplan_yorke": self.kaplan_yorke,
             "entropy_rate": self.entropy_rate, "converged": bool(self.converged), "n_steps": int(self.n_steps),
             "settings": self.settings}
        if self.per_sequence is not None:
            d["per_sequence"] = self.per_sequence
        return d

    def arrays(self):
        """The arrays of the result, for an ``.npz`` file.

        Returns
        -------
        dict
            name -> ndarray: exponents, stderr, history, history_steps, block_log_r, block_steps, spread,
            split_half_diff (and per_sequence for a batch).
        """
        out = {"exponents": self.exponents, "stderr": self.stderr, "history": self.history,
               "history_steps": self.history_steps, "block_log_r": self.block_log_r,
               "block_steps": self.block_steps, "spread": self.spread, "split_half_diff": self.split_half_diff}
        if self.per_sequence is not None:
            out["per_sequence"] = self.per_sequence
        return out

    def __repr__(self):
        k = self.k
        show = np.array2string(self.exponents[:min(k, 4)], precision=5)
        return (f"LyapunovResult(k={k}, top={show}{' ...' if k > 4 else ''}, n_steps={self.n_steps}, "
                f"converged={self.converged})")

    def plot(self, ax=None, predicted=None, **kw):
        """The spectrum against the exponent index with standard-error bars (and the spread over sequences
        for a batch).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).
        predicted : array_like, optional
            A prediction drawn as a dashed line, e.g. ``theory.predicted_exponents(net)``.
        **kw
            Passed to :func:`wcrnn_dyn.plotting.plot_lyapunov_spectrum` (``interval``, ``title``).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from .plotting import plot_lyapunov_spectrum
        return plot_lyapunov_spectrum(self, predicted=predicted, ax=ax, **kw)[1]


#: entries of :attr:`LyapunovState.settings` that a resumed call must repeat (see :func:`lyapunov_spectrum`)
RESUME_KEYS = ("n_hidden", "k", "n_sequences", "T", "washout", "burn_in", "qr_every", "qr", "history_points",
               "rcond_min", "until_tol", "tol", "net_sha256", "input_sha256", "tangent_dtype")
#: values of resume keys that states written before the key existed held implicitly
_RESUME_DEFAULTS = {"tangent_dtype": "float64"}
_STATE_VERSION = 1
_STATE_ARRAYS = ("h", "Q", "block_log_r", "block_steps", "counters", "interval", "astats")


@dataclass
class LyapunovState:
    """Where a :func:`lyapunov_spectrum` run stands: everything needed to continue it exactly.

    Returned by ``lyapunov_spectrum(..., return_state=True)`` (at the end of the run, or where a
    ``checkpoint`` callback paused it) and accepted back by ``lyapunov_spectrum(..., resume=state)``, which
    continues the run where it stopped.  The whole state of the computation is kept (nothing is recomputed or
    re-orthonormalised), so a run paused and resumed any number of times gives the numbers of an
    uninterrupted run (tested to 1e-12; bit for bit in our tests).

    Attributes
    ----------
    h : ndarray, shape (B, N)
        Network state of each sequence after ``steps_done`` post-washout steps (float64).
    Q : ndarray, shape (B, N, k)
        Tangent frame of each sequence (float64).  Orthonormal right after a re-orthonormalisation (always at
        the end of the run); between two of them (``qr_every > 1`` or "auto") the frame as advanced since
        the last one.
    block_log_r : ndarray, shape (n_blocks, B, k)
        Per sequence, the sum of log|r_ii| over each accumulation block so far, in frame-column order (not
        sorted; zero for blocks not reached).  ``block_log_r.sum(axis=0) / n_steps`` are the unsorted
        exponents of each sequence so far.
    block_steps : ndarray, shape (n_blocks,)
        Steps in each block of the full run.
    steps_done : int
        Post-washout steps done (the burn-in first, then accumulated steps).
    finished : bool
        True when the run is complete (all steps, or the stopping rule of ``until_tol`` ended it).
    counters, interval, astats : ndarray of int64
        Kernel bookkeeping: QR counts per thread group (n_groups, 4), the adaptive interval of each sequence
        (B, 2), auto-interval statistics per group (n_groups, 3).  The thread-group layout of the first call
        is kept by every resumed call.
    settings : dict
        The arguments the run was started with (``RESUME_KEYS`` are checked against a resumed call; digests
        of the network and of the input stand for ``net`` and ``X``) and ``seed``.

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 8, 1, residual=wd.residuals.rotational(8, 0.95), eps=0.05, seed=0)
    >>> stop = lambda get_state: True                    # pause at the first chance
    >>> res, st = wd.lyapunov_spectrum(net, None, T=3000, checkpoint=stop, return_state=True)
    >>> res is None, st.finished
    (True, False)
    >>> res, st = wd.lyapunov_spectrum(net, None, T=3000, resume=st, return_state=True)
    >>> st.finished, res.n_steps
    (True, 2900)
    """

    h: np.ndarray
    Q: np.ndarray
    block_log_r: np.ndarray
    block_steps: np.ndarray
    steps_done: int
    finished: bool
    counters: np.ndarray
    interval: np.ndarray
    astats: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def n_steps(self):
        """Accumulated steps done so far (``steps_done`` minus the burn-in, at least 0)."""
        return max(0, int(self.steps_done) - int(self.settings.get("burn_in", 0)))

    @property
    def total_steps(self):
        """Post-washout steps of the full run (burn-in plus the maximum number of accumulated steps)."""
        return int(self.settings["T"]) - int(self.settings["washout"])

    def __repr__(self):
        B, N, k = self.Q.shape
        return (f"LyapunovState(B={B}, N={N}, k={k}, steps_done={self.steps_done} of {self.total_steps}, "
                f"finished={self.finished})")

    def to_arrays(self):
        """The state as a dict of arrays (for an ``.npz`` file; ``settings`` and the counters as JSON).

        Returns
        -------
        dict
            name -> ndarray; :meth:`from_arrays` turns it back into a LyapunovState.
        """
        import json
        from . import store
        meta = {"version": _STATE_VERSION, "steps_done": int(self.steps_done), "finished": bool(self.finished),
                "settings": self.settings}
        out = {name: np.asarray(getattr(self, name)) for name in _STATE_ARRAYS}
        out["meta"] = np.array(json.dumps(store.to_jsonable(meta), allow_nan=False))
        return out

    @classmethod
    def from_arrays(cls, arrays):
        """Rebuild a state from :meth:`to_arrays`' dict, checking it whole.

        Parameters
        ----------
        arrays : dict
            name -> ndarray, e.g. from :func:`wcrnn_dyn.store.load_npz`.

        Returns
        -------
        LyapunovState

        Raises
        ------
        ValueError
            Naming what is missing or inconsistent (entries, version, shapes, non-finite state, counters out
            of range).
        """
        import json
        from . import store
        missing = [n for n in (*_STATE_ARRAYS, "meta") if n not in arrays]
        if missing:
            raise ValueError(f"not a Lyapunov state: it lacks {', '.join(missing)}")
        try:
            meta = store.from_jsonable(json.loads(str(arrays["meta"])))
        except ValueError as e:
            raise ValueError(f"the Lyapunov state's meta entry is not valid JSON ({e})") from e
        if not isinstance(meta, dict) or meta.get("version") != _STATE_VERSION:
            raise ValueError(f"Lyapunov state version {meta.get('version') if isinstance(meta, dict) else '?'} "
                             f"is not supported (expected {_STATE_VERSION})")
        st = meta.get("settings")
        if isinstance(st, dict):
            for key, v in _RESUME_DEFAULTS.items():
                st.setdefault(key, v)
        if not isinstance(st, dict) or any(key not in st for key in RESUME_KEYS):
            raise ValueError("the Lyapunov state's settings are incomplete")
        a = {n: np.asarray(arrays[n]) for n in _STATE_ARRAYS}
        B, N, k, T = st["n_sequences"], st["n_hidden"], st["k"], st["T"]
        S = T - st["washout"]
        steps_done = meta.get("steps_done")
        bad = []
        if a["h"].shape != (B, N) or a["Q"].shape != (B, N, k):
            bad.append(f"h / Q have shapes {a['h'].shape} / {a['Q'].shape}, expected {(B, N)} / {(B, N, k)}")
        elif not (np.all(np.isfinite(a["h"])) and np.all(np.isfinite(a["Q"]))):
            bad.append("h or Q is not finite")
        nb = a["block_steps"].shape[0] if a["block_steps"].ndim == 1 else -1
        if a["block_log_r"].shape != (nb, B, k):
            bad.append(f"block_log_r has shape {a['block_log_r'].shape}, expected {(nb, B, k)}")
        ng = a["counters"].shape[0] if a["counters"].ndim == 2 else -1
        if not (1 <= ng <= B) or a["counters"].shape != (ng, 4) or a["astats"].shape != (ng, 3) \
                or a["interval"].shape != (B, 2):
            bad.append("the counters have inconsistent shapes")
        if isinstance(steps_done, bool) or not isinstance(steps_done, int) or not 0 <= steps_done <= S:
            bad.append(f"steps_done = {steps_done!r} (expected an int in 0..{S})")
        if not bad and (np.any(a["interval"][:, 1] < 1) or np.any(a["interval"] < 0)):
            bad.append("the adaptive interval state is out of range")
        if bad:
            raise ValueError("inconsistent Lyapunov state: " + "; ".join(bad))
        return cls(h=a["h"].astype(np.float64), Q=a["Q"].astype(np.float64),
                   block_log_r=a["block_log_r"].astype(np.float64), block_steps=a["block_steps"].astype(np.int64),
                   steps_done=int(steps_done), finished=bool(meta.get("finished")),
                   counters=a["counters"].astype(np.int64), interval=a["interval"].astype(np.int64),
                   astats=a["astats"].astype(np.int64), settings=st)

    def save(self, path):
        """Write the state to ``path`` (an ``.npz`` file), atomically (:func:`wcrnn_dyn.store.save_npz`).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        from . import store
        return store.save_npz(path, **self.to_arrays())

    @classmethod
    def load(cls, path):
        """Read a state written by :meth:`save`.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        LyapunovState

        Raises
        ------
        ValueError
            When the file is not a readable, complete, consistent Lyapunov state (naming the problem).
        """
        from . import store
        try:
            arrays = store.load_npz(path)
        except Exception as e:  # zipfile.BadZipFile, OSError, EOFError, ValueError ...
            raise ValueError(f"{path}: not a readable Lyapunov state ({type(e).__name__}: {e})") from e
        try:
            return cls.from_arrays(arrays)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e


def _digest(*arrays):
    """sha256 of the arrays' dtypes, shapes and bytes (identifies a network or an input for resume)."""
    import hashlib
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _net_digest(a):
    return _digest(*(np.asarray(a[key]) for key in sorted(a)))


def _block_steps(M, qr_every, qr_per_block, n_blocks):
    starts = np.arange(n_blocks) * qr_per_block * qr_every
    ends = np.minimum(starts + qr_per_block * qr_every, M)
    return (ends - starts).astype(np.int64)


def _batch_stderr(blk, steps):
    """Batch-means standard error of the time average for block sums blk (n_blocks, k)."""
    n_blocks = blk.shape[0]
    nb = min(N_BATCHES, n_blocks)
    if nb < 2:
        return np.full(blk.shape[1], np.nan), nb
    groups = np.array_split(np.arange(n_blocks), nb)
    rates = np.array([blk[g].sum(axis=0) / steps[g].sum() for g in groups])
    with np.errstate(invalid="ignore"):
        se = rates.std(axis=0, ddof=1) / math.sqrt(nb)
    return se, nb


def _summarise(blk, steps, n_dim, tol, settings, batched):
    """Build a LyapunovResult from per-sequence block sums blk (n_blocks, B, k) in column order."""
    n_blocks, B, k = blk.shape
    M = int(steps.sum())
    tot = blk.sum(axis=0)                                   # (B, k)
    perm = np.argsort(-tot, axis=1, kind="stable")
    blk_s = np.take_along_axis(blk, perm[None, :, :], axis=2)
    per_seq = np.take_along_axis(tot, perm, axis=1) / M      # (B, k) sorted descending
    exps = per_seq.mean(axis=0)
    blk_mean = blk_s.mean(axis=1)                            # (n_blocks, k)
    csteps = np.cumsum(steps)
    with np.errstate(invalid="ignore"):
        history = np.cumsum(blk_mean, axis=0) / csteps[:, None]
        se, nb = _batch_stderr(blk_mean, steps)
        half = np.searchsorted(csteps, M / 2.0, side="left") + 1
        half = min(max(half, 1), n_blocks)
        if half < n_blocks:
            first = blk_mean[:half].sum(axis=0) / csteps[half - 1]
            second = blk_mean[half:].sum(axis=0) / (M - csteps[half - 1])
            split = first - second
        else:
            split = np.full(k, np.nan)
        spread = per_seq.std(axis=0, ddof=1) if B > 1 else np.full(k, np.nan)
    se = np.where(np.isfinite(exps), se, np.nan)
    finite = np.isfinite(exps)
    sh = np.abs(split[finite])
    converged = bool(nb >= MIN_BATCHES and np.all(se[finite] <= tol)
                     and np.all(np.where(np.isfinite(sh), sh, 0.0) <= SPLIT_HALF_FACTOR * tol))
    res = LyapunovResult(
        exponents=exps, stderr=se, history=history, history_steps=csteps, block_log_r=blk_mean,
        block_steps=steps, per_sequence=per_seq if batched else None, spread=spread, split_half_diff=split,
        kaplan_yorke=kaplan_yorke_dimension(exps, n_dim), entropy_rate=entropy_rate(exps, n_dim),
        converged=converged, n_steps=M, settings=settings)
    if not converged:
        if nb < MIN_BATCHES:
            why = f"only {nb} batch(es) of accumulated steps (need {MIN_BATCHES}) to judge convergence"
        elif np.all(se[finite] <= tol):
            why = (f"the first and second halves differ by up to {np.nanmax(sh):.3g} > {SPLIT_HALF_FACTOR:g} tol "
                   "(a transient: the frame is still aligning; use a longer burn_in)")
        else:
            why = f"max standard error {np.nanmax(se[finite]):.3g} > tol = {tol:.3g}"
        logger.warning("Lyapunov spectrum not converged after %d accumulated steps: %s; use more steps "
                       "(or a larger tol)", M, why)
    return res


def _converged_now(blk, steps, tol):
    """The convergence test of :func:`_summarise` (no result object, no logging) for block sums blk
    (n_blocks, B, k) in column order: every finite exponent has batch-means stderr <= tol and a first-half /
    second-half difference <= SPLIT_HALF_FACTOR tol, with >= MIN_BATCHES batches.  Used by until_tol."""
    n_blocks = blk.shape[0]
    tot = blk.sum(axis=0)
    perm = np.argsort(-tot, axis=1, kind="stable")
    blk_mean = np.take_along_axis(blk, perm[None, :, :], axis=2).mean(axis=1)
    M = float(steps.sum())
    csteps = np.cumsum(steps)
    with np.errstate(invalid="ignore"):
        exps = blk_mean.sum(axis=0) / M
        se, nb = _batch_stderr(blk_mean, steps)
        half = min(max(int(np.searchsorted(csteps, M / 2.0, side="left")) + 1, 1), n_blocks)
        if half >= n_blocks:
            return False
        split = (blk_mean[:half].sum(axis=0) / csteps[half - 1]
                 - blk_mean[half:].sum(axis=0) / (M - csteps[half - 1]))
    finite = np.isfinite(exps)
    sh = np.abs(split[finite])
    return bool(nb >= MIN_BATCHES and np.all(se[finite] <= tol)
                and np.all(np.where(np.isfinite(sh), sh, 0.0) <= SPLIT_HALF_FACTOR * tol))


def _check_tangent_dtype(tangent_dtype):
    """"float64" or "float32" (strings or NumPy dtypes); ValueError naming tangent_dtype otherwise."""
    try:
        name = np.dtype(tangent_dtype).name
    except TypeError:
        name = None
    if name not in ("float64", "float32"):
        raise ValueError(f"tangent_dtype must be 'float64' or 'float32', got {tangent_dtype!r}")
    return name


def _is_auto_interval(qr_every):
    """True for qr_every="auto"; ValueError naming qr_every for any other string (ints are checked later)."""
    if isinstance(qr_every, str):
        if qr_every != "auto":
            raise ValueError(f"qr_every must be a positive int or 'auto', got {qr_every!r}")
        return True
    return False


def _auto_block_len(M, history_points):
    """Accumulation block length (steps) for qr_every="auto": at most ``history_points`` blocks, and
    blocks of min(AUTO_BLOCK, M // 40) steps or more, so that the interval can grow while there are still
    >= 40 blocks for the batch-means error (the QR is forced at every block end)."""
    return max(-(-M // history_points), min(AUTO_BLOCK, max(1, M // 40)))


# ---------------------------------------------------------------------------------------------------
# Frames and inputs
# ---------------------------------------------------------------------------------------------------

def initial_frame(n, k, seed=0):
    """Random orthonormal frame (n, k) from ``seed``: QR of a Gaussian matrix with sign-fixed columns.

    Parameters
    ----------
    n : int
        Dimension (rows).
    k : int
        Number of columns, 1..n.
    seed : None, int or numpy.random.Generator, default 0

    Returns
    -------
    ndarray, shape (n, k)
        Orthonormal columns (C order).  The Gaussian draws are taken row by row from a (k, n) array, so the
        frame for k columns is exactly the leading k columns of the frame for n columns (top-k runs are the
        leading part of full runs).

    Raises
    ------
    ValueError
        For n < 1 or k outside 1..n.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn.lyapunov import initial_frame
    >>> Q = initial_frame(5, 2)
    >>> Q.shape, bool(np.allclose(Q.T @ Q, np.eye(2))), bool(np.allclose(initial_frame(5, 5)[:, :2], Q))
    ((5, 2), True, True)
    """
    n = check_int(n, "n", minimum=1)
    k = check_int(k, "k", minimum=1, maximum=n)
    G = rng_from(seed).standard_normal((k, n)).T
    Q, R = np.linalg.qr(G)
    s = np.sign(np.diag(R))
    s[s == 0] = 1.0
    return np.ascontiguousarray(Q * s)


def constant_input(net, T, value=0.0):
    """A constant drive for ``net``: the input ``value`` at every step.

    Parameters
    ----------
    net : WCRNN or Elman
        Fixes the input width d (``net.n_in``).
    T : int
        Number of steps.
    value : float or array_like, shape (d,), default 0.0

    Returns
    -------
    ndarray, shape (T, d)

    Raises
    ------
    ValueError
        For T < 1 or a value of another shape or not finite.
    """
    T = check_int(T, "T", minimum=1)
    v = np.broadcast_to(np.asarray(value, dtype=float), (net.n_in,))
    v = as_array(v, "value", shape=(net.n_in,))
    return np.tile(v, (T, 1))


def _check_net(net):
    from .models import RecurrentNetwork
    if not isinstance(net, RecurrentNetwork):
        raise TypeError(f"net must be a WCRNN or Elman model, got {type(net).__name__}")


def _prepare_input(net, X, T):
    if X is None:
        if T is None:
            raise ValueError("give an input X of shape (T, d) or (B, T, d), or X=None together with T "
                             "(number of steps of an autonomous run with zero input)")
        T = check_int(T, "T", minimum=1)
        return np.zeros((1, T, net.n_in)), True
    if T is not None:
        raise ValueError("give either X or T (T is only for autonomous runs with X=None)")
    Xc, single = net.check_inputs(X, "X")
    return np.ascontiguousarray(Xc, dtype=np.float64), single


def _check_phases(T, washout, burn_in, qr_every):
    washout = check_int(washout, "washout", minimum=0)
    burn_in = check_int(burn_in, "burn_in", minimum=0)
    qr_every = check_int(qr_every, "qr_every", minimum=1)
    if washout + burn_in >= T:
        raise ValueError(f"burn_in + washout must be smaller than the number of steps T = {T} (at least one "
                         f"accumulated step), got burn_in = {burn_in}, washout = {washout}")
    return washout, burn_in, qr_every


def _check_qr(qr):
    if not isinstance(qr, str) or qr not in QR_METHODS:
        raise ValueError(f"qr must be one of {sorted(QR_METHODS)}, got {qr!r}")
    return qr


def _check_frame(Q0, B, N, k):
    """Q0 as a float64 (N, k) or (B, N, k) array with orthonormal columns (ValueError naming Q0 otherwise)."""
    Q = as_array(Q0, "Q0", dtype=np.float64)
    if Q.shape not in ((N, k), (B, N, k)):
        raise ValueError(f"Q0 must have shape ({N}, {k}) or ({B}, {N}, {k}) (N x k frame, one per sequence), "
                         f"got {Q.shape}")
    Q3 = Q.reshape(-1, N, k)
    err = np.abs(np.einsum("bni,bnj->bij", Q3, Q3) - np.eye(k)).max()
    if not err <= 1e-8:
        raise ValueError(f"Q0 must have orthonormal columns (max |Q0^T Q0 - I| = {err:.3g} > 1e-8); "
                         "orthonormalise it first, e.g. with numpy.linalg.qr")
    return np.ascontiguousarray(Q)


def _check_resume(state, run_id):
    """ValueError naming the first argument in which ``state`` was started differently from this call."""
    names = {"n_hidden": "net (number of hidden units)", "n_sequences": "X (number of sequences)",
             "T": "X / T (number of steps)", "net_sha256": "net (its weights or residual)",
             "input_sha256": "X (the input values)"}
    for key in RESUME_KEYS:
        old, new = state.settings.get(key, _RESUME_DEFAULTS.get(key)), run_id[key]
        if old != new:
            what = names.get(key, key)
            shown = "" if key.endswith("sha256") else f": the state has {old!r}, this call {new!r}"
            raise ValueError(f"resume: the state was started with other {what}{shown}; resume a run with the "
                             "arguments that started it")
    B, N, k = run_id["n_sequences"], run_id["n_hidden"], run_id["k"]
    if state.h.shape != (B, N) or state.Q.shape != (B, N, k):
        raise ValueError(f"resume: the state holds h {state.h.shape} / Q {state.Q.shape}, expected {(B, N)} / "
                         f"{(B, N, k)}")
    if not 0 <= int(state.steps_done) <= run_id["T"] - run_id["washout"]:
        raise ValueError(f"resume: steps_done = {state.steps_done} is outside 0..{run_id['T'] - run_id['washout']}")


def _net_args(net):
    ka = net.kernel_args(np.float64)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    # W.T is an F-ordered view (no copy of an N x N matrix per call); BLAS takes it as a transposed operand
    return dict(WT=ka.W.T, UT=f64(ka.U.T), bias=ka.b, eps=ka.coupling, act=ka.act, rk=ka.rk, rdiag=f64(ka.rdiag),
                rblk=f64(ka.rblk), rdenseT=f64(np.asarray(ka.rdense).T), gcode=ka.gcode, gscale=ka.gscale)


def _divergence(net, status, step, T, what):
    from .models import DivergenceError
    if status == 1:
        rho = None
        try:
            rho = net.residual.linear_part.spectral_radius()
        except Exception:  # pragma: no cover - exotic residuals
            pass
        hint = (f"; the residual's spectral radius is {rho:.4g}" + (" > 1 (supercritical linear residual: the "
                "state grows like rho^t)" if rho is not None and rho > 1 and net.residual.is_linear else "")
                if rho is not None else "")
        return DivergenceError(f"{what}: the network state overflowed (inf/NaN) at step {step} of {T}{hint}. "
                               "Use fewer steps, a subcritical residual or smaller weights.")
    return DivergenceError(f"{what}: the tangent frame became non-finite at step {step} of {T} (it grew too "
                           "much between re-orthonormalisations); use a smaller qr_every.")


class _Group:
    """One group of sequences advanced by one frame_loop call per chunk of steps (own buffers)."""

    def __init__(self, a, X, Z, B, k, n_blocks, qr_mode, rcond_min, auto=False, tangent32=False):
        N = Z.shape[1]
        # the float32 tangent product (kernel _step): float32 copies of Z and W^T, the float32 product
        e32 = np.zeros((0, 0), dtype=np.float32)
        f32 = np.zeros((2, 2), dtype=np.float32, order="F")   # typed like the real (F-ordered) W^T
        self.T32 = ((np.empty(Z.shape, dtype=np.float32), np.asfortranarray(a["WT"], dtype=np.float32),
                     np.empty(Z.shape, dtype=np.float32), np.zeros((1, 1, 1), dtype=np.float32))
                    if tangent32 and k > 0 else (e32, f32, e32, np.zeros((1, 1, 1), dtype=np.float32)))
        # qr_every="auto": per sequence [steps since the last QR, current interval]; [rejected frames, max interval]
        self.auto = auto
        self.ivl = np.zeros((B, 2), dtype=np.int64)
        self.ivl[:, 1] = 1
        self.astats = np.zeros(3, dtype=np.int64)
        self.a, self.X, self.Z, self.B, self.k = a, X, Z, B, k
        self.Ps = np.zeros((1, 1, 1))
        self.P = np.empty_like(Z)
        self.LZ = np.empty_like(Z)
        self.DP = np.empty((B, N))
        self.GPR = np.empty((B, N))
        self.blk = np.zeros((n_blocks, B, k))
        self.counters = np.zeros(4, dtype=np.int64)
        self.ws = KL.Workspace(N, max(k, 1))
        self.qr_mode, self.rcond_min = qr_mode, rcond_min

    def run(self, s, s1, n_burn, M, qr_every, qpb):
        a = self.a
        if self.auto:
            # qr_every="auto": qpb is the block length in steps (QR forced at block ends)
            return KL.frame_loop_auto(self.X, self.Z, self.P, self.LZ, self.DP, self.GPR, s, s1, n_burn, M, qpb,
                                      min(AUTO_MAX_INTERVAL, qpb), a["WT"], a["UT"], a["bias"], a["eps"], a["act"],
                                      a["rk"], a["rdiag"], a["rblk"], a["rdenseT"], a["gcode"], a["gscale"], self.B,
                                      self.k, self.qr_mode, self.rcond_min, self.Ps, self.blk, self.counters,
                                      self.ivl, self.astats, *self.ws.args(), self.T32)
        return KL.frame_loop(self.X, self.Z, self.P, self.LZ, self.DP, self.GPR, s, s1, n_burn, M, qr_every, qpb,
                             a["WT"], a["UT"], a["bias"], a["eps"], a["act"], a["rk"], a["rdiag"], a["rblk"],
                             a["rdenseT"], a["gcode"], a["gscale"], self.B, self.k, self.qr_mode, self.rcond_min,
                             self.Ps, self.blk, self.counters, *self.ws.args(), self.T32)

    def split_gemm(self, n_parts):
        """Compute the step's GEMM in ``n_parts`` column parts on Numba's threads (skinny products)."""
        N = self.Z.shape[1]
        self.Ps = np.empty((n_parts, self.Z.shape[0], N // n_parts))
        if self.T32[0].shape[0]:
            self.T32 = self.T32[:3] + (np.empty((n_parts, self.Z.shape[0], N // n_parts), dtype=np.float32),)

    def states(self):
        return self.Z[::self.k + 1]


def _split_parts(N, rows, n_threads):
    """Number of column parts for a single group's GEMM on Numba's threads: n_threads for skinny products
    (rows <= N / 8, N >= 256 and divisible by n_threads: e.g. a few exponents of a large network) when a
    thread-safe threading layer (OpenMP or TBB) is available; 1 (one OpenBLAS call) otherwise."""
    if n_threads < 2 or N < 256 or rows * 8 > N or N % n_threads or not _threadsafe_numba_layer():
        return 1
    return int(n_threads)


def _threadsafe_numba_layer():
    import numba
    if str(numba.config.THREADING_LAYER).lower() in ("workqueue",):
        return False
    for mod in ("numba.np.ufunc.omppool", "numba.np.ufunc.tbbpool"):
        try:
            importlib.import_module(mod)
            return True
        except Exception:
            continue
    return False


def _cpu_count():
    """CPUs this process may run on (its affinity mask where the OS tells it)."""
    return _threads.cpu_count()


def _default_threads(B=None):
    """:func:`wcrnn_dyn.threads.default_threads`: Numba's thread count (NUMBA_NUM_THREADS /
    numba.set_num_threads limit it; sweep workers set 1), fewer when other programs hold CPUs, at most B
    when B is given."""
    return _threads.default_threads(B)


_ADAPT_EVERY = 0.5  # s between re-reads of the default thread count during a single-sequence run


def _run_frames(net, Xp, Zh, Q0, k, n_burn, M, qr_every, qpb, n_blocks, qr_mode, rcond_min, n_threads,
                progress=None, t_offset=0, T_total=None, what="lyapunov_spectrum", adaptive=False, auto=False,
                stop=None, info=None, resume=None, checkpoint=None, tangent32=False):
    """Advance states Zh (B, N) and frames (the same Q0 (N, k) for every sequence) over the post-washout
    inputs Xp (B, S, d).  Sequences are split into min(n_threads, B) groups run by worker threads (the Numba
    kernel releases the GIL; BLAS is made single-threaded meanwhile); a single group runs in the calling
    thread with ``n_threads`` BLAS threads; with ``adaptive`` (the thread count was the load-dependent default)
    that BLAS thread count follows :func:`wcrnn_dyn.threads.default_threads` again about every 0.5 s, so that
    a run started on a free machine steps back when another program starts.  Returns (blk, counters,
    states); the numbers do not depend on the thread counts.

    ``auto``: qr_every="auto" (kernel :func:`_kernels_lyap.frame_loop_auto`; ``qpb`` is then the block length
    in steps).  ``stop``: None or (block_len, min_blocks, fn): kernel calls then end at block boundaries
    (block_len steps of accumulation; QRs happen there in every mode) and after each call with at least
    ``min_blocks`` complete blocks ``fn(blk[:n_done])`` may end the run early.  ``info`` (a dict) receives
    "steps_done" (accumulated steps run) and "astats" (auto-interval counters summed over groups).

    ``resume``: None or a :class:`LyapunovState` to continue (its states, frames, block sums and counters
    replace ``Zh`` / ``Q0``; its thread-group layout is kept).  ``checkpoint``: None or a callable called after
    each kernel call that leaves the run unfinished, as ``checkpoint(get)`` with ``get()`` returning the raw
    state (a dict of copies); when it returns True the run pauses there (``info["paused"]`` True).
    ``info["snapshot"]`` is a function (finished) -> raw state of the groups at the end."""
    B = Xp.shape[0]
    N = net.n_hidden
    a = _net_args(net)
    n_groups = max(1, min(int(n_threads), B)) if resume is None else int(resume.counters.shape[0])
    groups = []
    for gi, idx in enumerate(np.array_split(np.arange(B), n_groups)):
        Bg = len(idx)
        Z = np.empty((Bg * (k + 1), N))
        Z3 = Z.reshape(Bg, k + 1, N)
        if resume is not None:
            Z3[:, 0] = resume.h[idx]
            Z3[:, 1:] = resume.Q[idx].transpose(0, 2, 1)
        else:
            Z3[:, 0] = Zh[idx]
            if k:
                Z3[:, 1:] = Q0.T[None] if Q0.ndim == 2 else Q0[idx].transpose(0, 2, 1)
        g = _Group(a, np.ascontiguousarray(Xp[idx]), Z, Bg, k, n_blocks, qr_mode, rcond_min, auto=auto,
                   tangent32=tangent32)
        if resume is not None:
            g.blk[...] = resume.block_log_r[:, idx]
            g.counters[:] = resume.counters[gi]
            g.ivl[:] = resume.interval[idx]
            g.astats[:] = resume.astats[gi]
        groups.append(g)
    S = n_burn + M
    Bg = groups[0].B
    rows = Bg * (k + 1)
    flops = 2.0 * N * N * rows + Bg * (2.0 * N * k * k + k ** 3 / 3.0) / qr_every + 10.0 * N * rows
    chunk = int(max(1, min(S, FLOPS_PER_CHUNK // max(flops, 1.0))))

    def check(results):
        bad = [(step, status) for status, step in results if status != 0]
        if bad:
            step, status = min(bad)
            raise _divergence(net, status, t_offset + step + 1, T_total or S, what)

    def align(s1):
        # with a stopping rule, kernel calls in the accumulation phase end at block boundaries (a QR happens
        # there in every mode), at least one block and about 2 % of the steps run so far apart (the test is
        # then made O(log M) times, and a run stops at most ~2 % later than the first block that passes)
        if stop is None or s1 <= n_burn:
            return s1
        L = stop[0]
        a = max(s - n_burn, 0)
        return min(S, n_burn + -(-(a + max(L, int(0.02 * a))) // L) * L)

    def stop_now(s1):
        if stop is None or s1 <= n_burn:
            return False
        L, min_blocks, fn = stop
        n_done = n_blocks if s1 >= S else (s1 - n_burn) // L
        if n_done < min_blocks or s1 >= S:
            return False
        return bool(fn(np.concatenate([g.blk[:n_done] for g in groups], axis=1)))

    def snapshot(s_now, finished):
        Z3s = [g.Z.reshape(g.B, k + 1, N) for g in groups]
        return {"h": np.concatenate([z[:, 0] for z in Z3s], axis=0),
                "Q": np.concatenate([z[:, 1:].transpose(0, 2, 1) for z in Z3s], axis=0),
                "block_log_r": np.concatenate([g.blk for g in groups], axis=1),
                "counters": np.stack([g.counters for g in groups]).astype(np.int64),
                "interval": np.concatenate([g.ivl for g in groups], axis=0).astype(np.int64),
                "astats": np.stack([g.astats for g in groups]).astype(np.int64),
                "steps_done": int(s_now), "finished": bool(finished)}

    def pause_now(s_now):
        # after the stopping rule (a run it ends is finished, not paused), never at the end
        return checkpoint is not None and s_now < S and bool(checkpoint(lambda: snapshot(s_now, False)))

    s = 0
    paused = False
    if resume is not None:
        s = int(resume.steps_done)
        if resume.finished:
            S = s   # the stopping rule ended it: nothing left to run
        if progress is not None and s:
            progress.update(min(s, n_burn + M))
    if n_groups == 1:
        g = groups[0]
        n_parts = _split_parts(N, g.Z.shape[0], n_threads)
        if n_parts > 1:
            g.split_gemm(n_parts)
        nb = 1 if n_parts > 1 else min(n_threads, _cpu_count())
        adaptive = adaptive and n_parts == 1
        t_check = time.monotonic()
        with KL.blas_threads(nb):
            while s < S:
                s1 = align(min(S, s + chunk, n_burn if s < n_burn else S))
                check([g.run(s, s1, n_burn, M, qr_every, qpb)])
                if progress is not None:
                    progress.update(s1 - s)
                s = s1
                if stop_now(s):
                    break
                if pause_now(s):
                    paused = True
                    break
                if adaptive and time.monotonic() - t_check > _ADAPT_EVERY:
                    t_check = time.monotonic()
                    nb_now = min(_default_threads(), _cpu_count())
                    if nb_now != nb:
                        nb = nb_now
                        _threads.set_blas_threads(nb)
    else:
        from concurrent.futures import ThreadPoolExecutor
        with KL.single_threaded_blas(), ThreadPoolExecutor(max_workers=n_groups) as ex:
            while s < S:
                s1 = align(min(S, s + chunk, n_burn if s < n_burn else S))
                futs = [ex.submit(g.run, s, s1, n_burn, M, qr_every, qpb) for g in groups]
                check([f.result() for f in futs])
                if progress is not None:
                    progress.update(s1 - s)
                s = s1
                if stop_now(s):
                    break
                if pause_now(s):
                    paused = True
                    break
    blk = np.concatenate([g.blk for g in groups], axis=1)
    counters = np.sum([g.counters for g in groups], axis=0)
    if info is not None:
        info["steps_done"] = max(0, s - n_burn)
        info["astats"] = np.array([g.astats[0] for g in groups]).sum(), max(int(g.astats[1]) for g in groups)
        info["paused"] = paused
        info["snapshot"] = lambda: snapshot(s, not paused)
    states = np.concatenate([g.states() for g in groups], axis=0)
    return blk, counters, states


def _washout(net, X, h0, washout, T, what):
    """Advance states over the first ``washout`` steps; returns the state (B, N)."""
    Z = np.ascontiguousarray(h0, dtype=np.float64).copy()
    if washout == 0:
        return Z
    Xw = np.ascontiguousarray(X[:, :washout])
    _, _, states = _run_frames(net, Xw, Z, None, 0, washout, 0, 1, 1, 1, KL.QR_HOUSEHOLDER, 1e-3, 1,
                               T_total=T, what=what)
    return states


def _progress_bar(enabled, total, desc):
    from ._progress import progress_bar  # the package's one progress helper (None: terminal or Jupyter)
    return progress_bar(enabled, total, desc)


# ---------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------

def lyapunov_spectrum(net, X=None, k=None, washout=0, burn_in=100, qr_every=1, seed=0, *, T=None, h0=None,
                      qr="auto", history_points=1000, tol=1e-3, rcond_min=1e-3, n_threads=None,
                      progress=False, until_tol=False, Q0=None, resume=None, checkpoint=None,
                      return_state=False, tangent_dtype="float64"):
    """Lyapunov spectrum of a WCRNN or Elman network driven by X (QR / Benettin method, docs/THEORY.md section 5).

    Algorithm: the state h_t and an orthonormal frame Q (N x k) from ``seed`` evolve together,
    Q <- J_t Q with J_t = dR(h_{t-1}) + eps diag(phi'(a_t)) W (never formed); after ``washout`` state-only
    steps and ``burn_in`` aligning steps, log|r_ii| of Q = Q' r is accumulated every ``qr_every`` steps
    and at the last step; exponents = sums / M (M = T - washout - burn_in accumulated steps), sorted
    descending, natural log per step.  Benettin et al., Meccanica 15 (1980); Shimada & Nagashima, Prog.
    Theor. Phys. 61 (1979).  Fused Numba kernel: one GEMM per step for the states and the frames of all
    sequences (see :mod:`wcrnn_dyn._kernels_lyap`).  Computation is in float64 whatever the model dtype.

    Parameters
    ----------
    net : WCRNN or Elman.
    X : (T, d) one input sequence, (B, T, d) a batch (each sequence has its own state and frame; the
        result is the mean of the per-sequence spectra, their spread is reported), or None for an
        autonomous run of ``T`` steps with zero input (see :func:`constant_input` for a constant drive).
    k : number of exponents, 1..N (default None = N, the full spectrum).
    washout : state-only steps first (default 0).
    burn_in : steps during which the frame aligns, nothing accumulated (default 100).
    qr_every : re-orthonormalisation interval in steps (default 1); results do not depend on it beyond
        rounding, but the frame may overflow or lose rank if it grows too much in between.  ``"auto"``:
        each sequence's frame is re-orthonormalised only when its conditioning requires it.  The interval
        starts at 1 and after each QR becomes the largest m' <= 2 m (m the last interval, m' <= 256 and <=
        the accumulation block) for which, at the rates measured over the last m steps, the spread
        max_i - min_i log r_ii (the log of a lower bound on cond of the frame) stays below
        0.5 log(1 / rcond_min) and every column's log-norm change below 172 (no overflow, no underflow of
        the smallest exponent's direction).  Guarantee: every QR checks the frame it receives (Cholesky-QR is
        accepted only when Gershgorin's discs of the Gram matrix or LAPACK's estimate show cond <= 1 /
        rcond_min; with Householder LAPACK's estimate of R is checked); a frame that fails the check is
        re-orthonormalised by Householder anyway (backward stable: each log r_ii is then off by at most
        ~ u cond(frame), u = 1.1e-16) and the interval is divided by 4 (``settings["auto_rejected"]``
        counts them).  Because r of a product of steps is the product of the per-step r's, the accumulated
        sums are those of ``qr_every=1`` up to rounding: an accepted QR adds at most ~ u / rcond_min^2 =
        1e-10 (rcond_min = 1e-3) to each log r_ii, i.e. at most that much to each exponent over the whole
        run, and the sum of a full spectrum equals the mean of log|det J_t| exactly (in exact arithmetic).
        The QR is also taken at the end of the burn-in and of every accumulation block (blocks of at least
        min(64, M / 40) steps, at most ``history_points`` blocks), so ``history`` and ``stderr`` have the
        same meaning.  Cost: an O(k^2) condition estimate per QR where the Gershgorin test fails; the
        per-step work drops to the GEMM when the frame stays well conditioned (WCRNNs), and equals
        ``qr_every=1`` when every step must be re-orthonormalised (saturated Elman networks).
    seed : None, int or Generator for the initial frame (default 0); the same frame is used for every
        sequence of a batch, so a batch equals the mean of the single-sequence runs.
    T : only with X=None: number of steps of the autonomous run.
    h0 : initial state (N,) or (B, N) (default zeros).
    qr : "auto" (default), "cholesky" or "householder".  "householder": LAPACK geqrf + orgqr, robust for
        any conditioning.  "cholesky": Cholesky-QR (Gram matrix by syrk, potrf, trsm), GEMM-rich, 1.1-3.7x
        faster per re-orthonormalisation in our measurements (more at larger k); falls back to Householder
        for a block whenever Cholesky fails or r is not shown to be well conditioned (Gershgorin's discs of the
        Gram matrix, else LAPACK's estimate, against ``rcond_min``).
        "auto": Cholesky-QR with that fall back, and a permanent switch to Householder once more than 25%
        of at least 16 re-orthonormalisations needed the fall back (ill-conditioned Jacobians, e.g.
        saturated Elman networks).  Chosen by measurement: Cholesky-QR was 1.3-6.4x faster at every size
        measured in benchmarks/bench_lyapunov.py except the tiny 256 x 8 frame (within microseconds either
        way; docs/LYAPUNOV.md).
    history_points : maximum number of rows of the running-estimate history (default 1000).
    tol : convergence criterion (default 1e-3 nats/step): every finite exponent needs stderr <= tol and a
        first-half / second-half difference <= 2 tol.
    until_tol : False (default): run all T steps and only judge convergence with ``tol``.  True: T (or the
        length of X) is the maximum; the run stops at the first end of an accumulation block where that
        same test passes (every finite exponent's batch-means stderr <= tol, first minus second half <= 2
        tol, >= 4 batches), but never before 20 blocks (blocks are sized from the maximum number of
        accumulated steps M: ceil(M / history_points) steps, with ``qr_every="auto"`` at least
        min(64, M / 40); with history_points < 20 the run never stops early).  A stopped run therefore always has ``converged`` True; ``n_steps`` and
        ``settings["accumulated_steps"]`` are the steps actually run (``settings["max_accumulated_steps"]``
        the maximum, ``settings["stopped_early"]`` whether it stopped).  Checking costs O(blocks B k) per
        kernel call (~1 GFLOP of work).  The stderr is a statistical one-sigma error; the
        split-half test guards against transients but not every bias (docs/LYAPUNOV.md).
    rcond_min : reciprocal condition threshold for Cholesky-QR (default 1e-3; loss of orthogonality is
        about 1e-16 / rcond^2).
    n_threads : threads to use (default None: :func:`wcrnn_dyn.threads.default_threads`, i.e.
        numba.get_num_threads(), which follows NUMBA_NUM_THREADS and numba.set_num_threads, lowered to the
        CPUs that other programs leave free, measured from /proc/stat at the call).  A batch is split
        into min(n_threads, B) groups, each advanced by the GIL-free kernel in its own thread while SciPy's OpenBLAS is switched to one thread (process-wide,
        restored afterwards); one sequence runs in the calling thread with OpenBLAS set to n_threads
        threads.  Results do not depend on it.
    progress : show a tqdm progress bar (default False; the CLI enables it on terminals only).
    Q0 : initial frame, (N, k) for every sequence or (B, N, k) one per sequence, with orthonormal columns
        (checked to 1e-8; ValueError naming Q0 otherwise).  Default None: :func:`initial_frame` from ``seed``.
    return_state : False (default): return the LyapunovResult.  True: return ``(result, state)``, ``state``
        a :class:`LyapunovState` holding the final state h (B, N), the final frame Q (B, N, k) (orthonormal:
        the last step is re-orthonormalised), the per-sequence block sums of log|r_ii| and the kernel's
        bookkeeping; ``result`` is None when ``checkpoint`` paused the run.  Costs one sha256 pass over the
        input and the weights (to recognise them on resume).
    checkpoint : None (default) or a callable, with ``return_state=True``: called after each kernel call that
        leaves the run unfinished (about 1 GFLOP of work, ~0.1-1 s) as ``checkpoint(get_state)``;
        ``get_state()`` returns the :class:`LyapunovState` at that point (copies; call it only when you save
        it, e.g. every 30 s with :meth:`LyapunovState.save`).  If it returns True the run pauses there and the
        call returns ``(None, state)``.  The points where it is called do not depend on it, so pausing never
        changes the numbers (the ``until_tol`` checks happen at the same steps).
    tangent_dtype : "float64" (default) or "float32": precision of the tangent product W Q, the step's GEMM.
        float32 rounds the frame to float32 for that product only (about half the GEMM time: one float32
        GEMM instead of a float64 one); the trajectory (the state rows' products, recomputed in float64),
        the residual part L Q, the element-wise pass and the QR stay float64.  Error: the product's
        rounding perturbs each step's J_t Q by at most about N u32 eps ||W||_2 relative to ||Q|| (u32 =
        2^-24 = 6e-8; eps = 1 for Elman networks), so for WCRNNs every exponent moves by at most that much
        (a worst-case bound, e.g. 2.5e-6 for N = 256, eps ||W|| = 0.16; measured 1e-10 .. 3e-9 in
        tests/test_lyapunov_float32.py).  Exponents below about log(N u32 ||W||_2) (the bottom of the
        spectrum of saturated Elman networks) are not resolved in float32; use float64 for those.  In chaotic
        networks the float32 and float64 runs' trajectories separate like any two runs with different
        rounding, and their exponents agree within their error bars.
    resume : None (default) or a :class:`LyapunovState` from an earlier call with ``return_state=True``:
        continue that run where it stopped (a finished state is only summarised).  The call must repeat the
        arguments that fix the numbers (``net``, ``X`` or ``T``, ``k``, ``washout``, ``burn_in``,
        ``qr_every``, ``qr``, ``history_points``, ``rcond_min``, ``tangent_dtype``, ``until_tol`` and, with it,
        ``tol``): each is
        compared with the state (the network and the input through sha256 digests) and a difference is a
        ValueError naming the argument.  ``h0``, ``Q0`` and ``seed`` are not used (the state holds the
        state and the frame); the thread-group layout of the first call is kept, ``n_threads`` may differ.
        The result equals that of an uninterrupted run (tests/test_lyapunov_resume.py: 1e-12; bit for bit
        there); ``settings["resumed_at_step"]`` records where it resumed.

    Returns
    -------
    LyapunovResult, or (LyapunovResult or None, LyapunovState) with ``return_state=True``
        ``converged`` is False (and a warning is logged) when some standard error exceeds ``tol``, the two
        halves of the run differ by more than 2 tol, or there are fewer than 4 batches.  An exponent is -inf
        when J_t is exactly singular on the frame (e.g. eps = 0 with a zero eigenvalue of the residual);
        ``stderr`` is NaN for such exponents and when there are fewer than 2 history blocks;
        ``kaplan_yorke`` is NaN when a partial spectrum never crosses zero, ``entropy_rate`` when a partial
        spectrum is all positive (see :func:`kaplan_yorke_dimension`, :func:`entropy_rate`).

    Raises
    ------
    ValueError
        For bad arguments (k outside 1..N, qr_every < 1, burn_in + washout >= T, non-finite X, unknown qr, a Q0
        that is not orthonormal, a ``resume`` state started with other arguments, ``checkpoint`` without
        ``return_state``).
    TypeError
        For a non-network, a ``resume`` that is not a LyapunovState or a ``checkpoint`` that is not callable.
    wcrnn_dyn.models.DivergenceError
        When the state overflows (e.g. a supercritical linear residual run for many steps) or the frame
        becomes non-finite.

    Notes
    -----
    Cost: per step one GEMM of (B + B k) x N x N, O(B N k) residual and element-wise work, and per
    re-orthonormalisation about B (2 N k^2 + k^3 / 3) flops (Cholesky-QR) or 4 B N k^2 (Householder).
    Memory O((B + B k) N) plus history_points x B x k; the trajectory is not stored.  See docs/LYAPUNOV.md
    for the algorithm, the adaptive interval, the stopping rule, checkpoints and measurements.

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 16, 1, residual=wd.residuals.rotational(16, 0.95), eps=0.0, seed=0)
    >>> res = wd.lyapunov_spectrum(net, None, T=500)           # eps = 0: every exponent is log 0.95
    >>> bool(np.allclose(res.exponents, np.log(0.95)))
    True
    >>> res2 = wd.lyapunov_spectrum(net, None, T=500, qr_every="auto")
    >>> bool(np.allclose(res2.exponents, res.exponents, atol=1e-12))
    True
    """
    _check_net(net)
    Xf, single = _prepare_input(net, X, T)
    B, Tn, _ = Xf.shape
    N = net.n_hidden
    k = N if k is None else check_int(k, "k", minimum=1, maximum=N)
    auto = _is_auto_interval(qr_every)
    washout, burn_in, qr_every = _check_phases(Tn, washout, burn_in, 1 if auto else qr_every)
    qr = _check_qr(qr)
    history_points = check_int(history_points, "history_points", minimum=1)
    tol = check_float(tol, "tol", minimum=0.0)
    rcond_min = check_float(rcond_min, "rcond_min", minimum=0.0, maximum=1.0)
    tangent_dtype = _check_tangent_dtype(tangent_dtype)
    if not isinstance(until_tol, (bool, np.bool_)):
        raise TypeError(f"until_tol must be a bool, got {type(until_tol).__name__}")
    if not isinstance(return_state, (bool, np.bool_)):
        raise TypeError(f"return_state must be a bool, got {type(return_state).__name__}")
    if checkpoint is not None and not callable(checkpoint):
        raise TypeError(f"checkpoint must be None or a callable checkpoint(get_state) -> bool, got "
                        f"{type(checkpoint).__name__}")
    if checkpoint is not None and not return_state:
        raise ValueError("checkpoint needs return_state=True (a paused run returns (None, state))")
    if resume is not None and not isinstance(resume, LyapunovState):
        raise TypeError(f"resume must be None or a LyapunovState (from return_state=True), got "
                        f"{type(resume).__name__}")
    h0 = net.check_h0(h0, B).astype(np.float64)
    if Q0 is not None:
        Q0 = _check_frame(Q0, B, N, k)
    else:
        with KL.single_threaded_blas():
            # a small QR: waking NumPy's OpenBLAS threads here would leave them spinning into the kernel's
            # first steps (measured: the first ~50 steps of a top-16 run at N = 1024 ran 2-4x slower)
            Q0 = initial_frame(N, k, seed)

    what = "lyapunov_spectrum"
    adaptive = n_threads is None
    n_threads = _default_threads() if n_threads is None else check_int(n_threads, "n_threads", minimum=1)
    if B > 1 and n_threads > 1 and not KL.single_threaded_blas().available:
        n_threads = 1
    run_id = None
    if resume is not None or return_state:
        # what a resumed call must repeat: the settings that fix the numbers, digests for net and X
        run_id = {"n_hidden": N, "k": k, "n_sequences": B, "T": Tn, "washout": washout, "burn_in": burn_in,
                  "qr_every": "auto" if auto else qr_every, "qr": qr, "history_points": history_points,
                  "rcond_min": rcond_min, "until_tol": bool(until_tol), "tol": tol if until_tol else None,
                  "net_sha256": _net_digest(_net_args(net)), "input_sha256": _digest(Xf),
                  "tangent_dtype": tangent_dtype}
    if resume is not None:
        _check_resume(resume, run_id)
        seed = resume.settings.get("seed", seed)
        Zh = None
    else:
        Zh = _washout(net, Xf, h0, washout, Tn, what)
    M = Tn - washout - burn_in
    if auto:
        # qpb is the block length in steps (qr_every = 1 in the block arithmetic)
        qpb = _auto_block_len(M, history_points)
        n_qr = n_blocks = -(-M // qpb)
    else:
        n_qr = -(-M // qr_every)
        qpb = -(-n_qr // history_points)
        n_blocks = -(-n_qr // qpb)
    steps = _block_steps(M, qr_every, qpb, n_blocks)
    stop = None
    if until_tol:
        stop = (qpb * qr_every, MIN_STOP_BLOCKS,
                lambda b: _converged_now(b, steps[:b.shape[0]], tol))
    info = {}
    Xp = np.ascontiguousarray(Xf[:, washout:])
    state_settings = None if run_id is None else dict(
        run_id, seed=seed if (seed is None or isinstance(seed, (int, np.integer))) else "generator")

    def make_state(raw):
        return LyapunovState(block_steps=steps.copy(), settings=dict(state_settings), **raw)

    def kernel_cb(get_raw):
        return checkpoint(lambda: make_state(get_raw()))
    bar = _progress_bar(progress, burn_in + M, "Lyapunov")
    try:
        blk, c, _ = _run_frames(net, Xp, Zh, Q0, k, burn_in, M, qr_every, qpb, n_blocks, QR_METHODS[qr],
                                rcond_min, n_threads, progress=bar, t_offset=washout, T_total=Tn, what=what,
                                adaptive=adaptive, auto=auto, stop=stop, info=info, resume=resume,
                                checkpoint=None if checkpoint is None else kernel_cb,
                                tangent32=tangent_dtype == "float32")
    finally:
        if bar is not None:
            bar.close()
    state = None
    if return_state:
        state = make_state(info["snapshot"]())
        if info["paused"]:
            return None, state
    M_max = M
    if info["steps_done"] < M:
        # until_tol stopped at a block end
        n_blocks = info["steps_done"] // (qpb * qr_every)
        blk, steps = blk[:n_blocks], steps[:n_blocks]
        M = int(steps.sum())
    if qr == "householder":
        qr_used = "householder"
    elif c[3]:
        qr_used = "auto: cholesky, switched to householder"
    elif c[1]:
        qr_used = "cholesky with householder fall back"
    else:
        qr_used = "cholesky"
    settings = {
        "method": "qr", "model": net.kind, "n_hidden": N, "k": k, "T": Tn, "n_sequences": B,
        "washout": washout, "burn_in": burn_in, "qr_every": "auto" if auto else qr_every, "accumulated_steps": M,
        "seed": seed if (seed is None or isinstance(seed, (int, np.integer))) else "generator",
        "autonomous": X is None, "qr": qr, "qr_used": qr_used,
        "n_qr": int(c[0] + c[1] + c[2]) if (auto or M < M_max) else int(n_qr * B),
        "until_tol": bool(until_tol), "stopped_early": bool(M < M_max), "max_accumulated_steps": M_max,
        "n_cholesky": int(c[0]), "n_fallback": int(c[1]), "n_householder": int(c[2]),
        "history_points": history_points, "tol": tol, "rcond_min": rcond_min, "units": "nats per step",
        "n_threads": int(n_threads), "tangent_dtype": tangent_dtype,
        "eps": float(net.coupling), "residual": getattr(net.residual, "family", "?"),
    }
    if resume is not None:
        settings["resumed_at_step"] = int(resume.steps_done)
    if auto:
        n_all = int(c[0] + c[1] + c[2])
        settings.update({"auto_block_steps": int(qpb), "auto_rejected": int(info["astats"][0]),
                         "auto_max_interval": int(info["astats"][1]),
                         "mean_qr_interval": float(B * (burn_in + M) / n_all) if n_all else float("nan")})
    res = _summarise(blk, steps, N, tol, settings, batched=not single)
    return (res, state) if return_state else res


# ---------------------------------------------------------------------------------------------------
# Two-trajectory (Benettin 1976) estimate of the top exponent
# ---------------------------------------------------------------------------------------------------

@dataclass
class TwoTrajectoryResult:
    """Top exponent from two nearby trajectories (nats per step), from :func:`top_exponent_two_trajectories`.

    Attributes
    ----------
    exponent : float
        Mean over sequences.
    per_sequence : ndarray, shape (B,), or None
        Per sequence (None for one sequence).
    stderr : float
        Batch-means standard error (NaN with fewer than 2 renormalisations after the burn-in).
    history, history_steps : ndarray
        Running estimate after each renormalisation and the accumulated steps there.
    settings : dict
        The settings used.
    """

    exponent: float
    per_sequence: np.ndarray | None
    stderr: float
    history: np.ndarray
    history_steps: np.ndarray
    settings: dict = field(default_factory=dict)


def top_exponent_two_trajectories(net, X=None, washout=0, burn_in=100, renorm_every=1, delta=1e-7, seed=0, *,
                                  T=None, h0=None):
    """Largest Lyapunov exponent from a reference and a perturbed trajectory (renormalised separation).

    Independent of the QR machinery: both trajectories are advanced with the full non-linear map; every
    ``renorm_every`` steps the separation d = ||h' - h|| is measured, log(d / delta) accumulated (after
    ``washout`` + ``burn_in`` steps) and h' reset to h + delta (h' - h) / d.  Benettin, Galgani & Strelcyn,
    Phys. Rev. A 14 (1976).  Agrees with the QR estimate up to O(delta) non-linear effects and a rounding
    error of about 1e-16 |h| / delta per step.

    Parameters
    ----------
    net : WCRNN or Elman
    X, T, h0, washout, burn_in
        As in :func:`lyapunov_spectrum` (defaults None, None, None, 0, 100).
    renorm_every : int, default 1
        Steps between renormalisations.
    delta : float, default 1e-7
        The separation, in state units.
    seed : None, int or Generator, default 0
        For the initial direction (the same for every sequence).

    Returns
    -------
    TwoTrajectoryResult

    Raises
    ------
    TypeError
        For a non-network.
    ValueError
        For bad arguments, and when the separation collapses to exactly 0 (e.g. eps = 0 and a zero residual:
        the top exponent is -inf).
    wcrnn_dyn.models.DivergenceError
        When a state overflows or grows beyond the resolution of ``delta``.

    Notes
    -----
    Cost: 2 B network steps per step (one GEMM of 2B rows) plus O(B N) per renormalisation.

    Examples
    --------
    >>> import wcrnn_dyn as wd
    >>> net = wd.WCRNN(1, 8, 1, residual=wd.residuals.rotational(8, 0.95), eps=0.05, seed=0)
    >>> two = wd.top_exponent_two_trajectories(net, None, T=3000)
    >>> qr = wd.lyapunov_spectrum(net, None, T=3000, k=1)
    >>> bool(abs(two.exponent - qr.top) < 1e-5)
    True
    """
    _check_net(net)
    Xf, single = _prepare_input(net, X, T)
    B, Tn, _ = Xf.shape
    N = net.n_hidden
    renorm_every = check_int(renorm_every, "renorm_every", minimum=1)
    washout, burn_in, _ = _check_phases(Tn, washout, burn_in, 1)
    delta = check_float(delta, "delta", minimum=0.0, strict_min=True)
    h0 = net.check_h0(h0, B).astype(np.float64)
    what = "top_exponent_two_trajectories"
    Zh = _washout(net, Xf, h0, washout, Tn, what)
    v = rng_from(seed).standard_normal(N)
    v /= np.linalg.norm(v)
    Z = np.vstack([Zh, Zh + delta * v])
    X2 = np.ascontiguousarray(np.concatenate([Xf[:, washout:], Xf[:, washout:]], axis=0))
    grp = _Group(_net_args(net), X2, Z, 2 * B, 0, 1, KL.QR_HOUSEHOLDER, 1e-3)
    M = Tn - washout - burn_in
    S = burn_in + M
    sums = np.zeros(B)
    hist, hsteps, incs = [], [], []
    s = 0
    # renormalise at the end of the burn-in too, so that accumulation starts from separation delta
    marks = sorted(set(list(range(renorm_every, burn_in, renorm_every)) + ([burn_in] if burn_in else [])
                       + [burn_in + m for m in range(renorm_every, M, renorm_every)] + [S]))
    for e in marks:
        # frame_loop with k = 0 only advances the 2B state rows over post-washout steps s .. e-1
        status, step = grp.run(s, e, S, 0, 1, 1)
        if status != 0:
            raise _divergence(net, status, washout + step + 1, Tn, what)
        diff = Z[B:] - Z[:B]
        d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        if not np.all(np.isfinite(d)):
            from .models import DivergenceError
            raise DivergenceError(f"{what}: the separation became non-finite at step {washout + e}")
        if np.any(d == 0):
            hmax = float(np.max(np.abs(Z)))
            if hmax * 1e-15 >= delta:
                from .models import DivergenceError
                raise DivergenceError(f"{what}: at step {washout + e} the state (max |h| = {hmax:.3g}) grows "
                                      f"beyond the resolution of delta = {delta:g}; the state grows without bound "
                                      "(supercritical residual?); use fewer steps or a subcritical residual")
            raise ValueError("the separation of the two trajectories collapsed to exactly 0 (the map is "
                             "degenerate, e.g. eps = 0 with a zero residual); the top exponent is -inf")
        if e > burn_in:
            inc = np.log(d / delta)
            sums += inc
            incs.append(inc.mean())
            hist.append(sums.mean() / (e - burn_in))
            hsteps.append(e - burn_in)
        Z[B:] = Z[:B] + (delta / d)[:, None] * diff
        s = e
    per = sums / M
    incs = np.asarray(incs)
    steps_arr = np.diff(np.concatenate([[0], hsteps])).astype(float)
    se, _ = _batch_stderr(incs[:, None], steps_arr)
    settings = {"method": "two_trajectories", "model": net.kind, "n_hidden": N, "T": Tn, "n_sequences": B,
                "washout": washout, "burn_in": burn_in, "renorm_every": renorm_every, "delta": delta,
                "accumulated_steps": M,
                "seed": seed if (seed is None or isinstance(seed, (int, np.integer))) else "generator"}
    return TwoTrajectoryResult(exponent=float(per.mean()), per_sequence=None if single else per,
                               stderr=float(se[0]), history=np.asarray(hist), history_steps=np.asarray(hsteps),
                               settings=settings)


# ---------------------------------------------------------------------------------------------------
# Generic maps
# ---------------------------------------------------------------------------------------------------

def lyapunov_spectrum_map(step, tangent, x0, T, k=None, washout=0, burn_in=100, qr_every=1, seed=0, *,
                          qr="householder", history_points=1000, tol=1e-3):
    """Lyapunov spectrum of a user map x_{t+1} = step(x_t) with tangent product tangent(x_t, Q) = J(x_t) Q.

    Same semantics as :func:`lyapunov_spectrum` (washout, burn_in, qr_every, accumulation, sorting,
    statistics); a pure Python loop, meant for checks against classical systems (Henon map a = 1.4,
    b = 0.3: exponents about 0.419 and log(b) - 0.419; logistic map at r = 4: log 2) and small models.

    Parameters
    ----------
    step : callable
        ``step(x)`` maps the state x (n,) to the next state (n,).
    tangent : callable
        ``tangent(x, Q)`` returns J(x) Q (n, k) for a frame Q (n, k), J the Jacobian of ``step`` at x.
    x0 : array_like, shape (n,)
        Initial state.
    T : int
        Total number of steps (washout + burn-in + accumulated).
    k : int, optional
        Number of exponents, 1..n (default n).
    washout, burn_in, seed, history_points, tol
        As in :func:`lyapunov_spectrum` (defaults 0, 100, 0, 1000, 1e-3).
    qr_every : int or "auto", default 1
        Re-orthonormalisation interval in steps, or ``"auto"``: the adaptive interval of
        :func:`lyapunov_spectrum` (the same rule and condition check, rcond_min = 1e-3, blocks of at least
        min(64, M / 40) steps); the exponents equal those of ``qr_every=1`` up to rounding
        (tests/test_lyapunov_resume.py: Henon map to 1e-12).
    qr : {"householder", "cholesky", "auto"}, default "householder"
        QR method (see :func:`lyapunov_spectrum`).

    Returns
    -------
    LyapunovResult
        NaN rules as in :func:`lyapunov_spectrum`; with ``qr_every="auto"`` ``settings`` also holds
        ``auto_block_steps``, ``auto_rejected``, ``auto_max_interval``, ``n_qr`` and ``mean_qr_interval``.

    Raises
    ------
    TypeError
        When ``step`` or ``tangent`` is not callable.
    ValueError
        For bad arguments (naming them) or when ``step`` / ``tangent`` return arrays of the wrong shape.
    wcrnn_dyn.models.DivergenceError
        When the state or the frame becomes non-finite.

    Notes
    -----
    Cost: T calls of ``step`` and of ``tangent`` (Python) plus a QR of n x k every ``qr_every`` steps (with
    "auto", when the frame's conditioning requires it).

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> step = lambda x: np.array([1 - 1.4 * x[0] ** 2 + x[1], 0.3 * x[0]])
    >>> tangent = lambda x, Q: np.array([[-2.8 * x[0], 1.0], [0.3, 0.0]]) @ Q
    >>> res = wd.lyapunov_spectrum_map(step, tangent, [0.1, 0.1], 20000)
    >>> print(np.round(res.exponents, 1))
    [ 0.4 -1.6]
    """
    from .models import DivergenceError
    if not callable(step) or not callable(tangent):
        raise TypeError("step and tangent must be callables: step(x) -> x_next, tangent(x, Q) -> J(x) Q")
    x = as_array(x0, "x0", ndim=1)
    n = x.shape[0]
    T = check_int(T, "T", minimum=1)
    k = n if k is None else check_int(k, "k", minimum=1, maximum=n)
    auto = _is_auto_interval(qr_every)
    washout, burn_in, qr_every = _check_phases(T, washout, burn_in, 1 if auto else qr_every)
    qr = _check_qr(qr)
    history_points = check_int(history_points, "history_points", minimum=1)
    tol = check_float(tol, "tol", minimum=0.0)
    Q = initial_frame(n, k, seed)
    M = T - washout - burn_in
    if auto:
        # as in lyapunov_spectrum: qpb is the block length in steps, the QR is forced at block ends
        qpb = _auto_block_len(M, history_points)
        n_qr = n_blocks = -(-M // qpb)
        max_ivl = min(AUTO_MAX_INTERVAL, qpb)
        since, interval, n_rejected, max_used = 0, 1, 0, 0
    else:
        n_qr = -(-M // qr_every)
        qpb = -(-n_qr // history_points)
        n_blocks = -(-n_qr // qpb)
    blk = np.zeros((n_blocks, 1, k))
    ws = KL.Workspace(n, k)
    wargs = ws.args()
    logr = ws.logr
    counts = [0, 0, 0]                      # Cholesky used, fall backs, Householder requested
    mode = QR_METHODS[qr]
    F = np.ascontiguousarray(Q.T)           # frame rows (k, n)

    def advance(x, t):
        xn = np.asarray(step(x), dtype=float)
        if xn.shape != (n,):
            raise ValueError(f"step(x) must return an array of shape ({n},), got {xn.shape}")
        if not math.isfinite(float(xn.sum())):
            raise DivergenceError(f"lyapunov_spectrum_map: the state became non-finite at step {t}")
        return xn

    for t in range(washout):
        x = advance(x, t + 1)
    for s in range(burn_in + M):
        Y = np.asarray(tangent(x, F.T), dtype=float)
        if Y.shape != (n, k):
            raise ValueError(f"tangent(x, Q) must return an array of shape ({n}, {k}), got {Y.shape}")
        x = advance(x, washout + s + 1)
        F = np.ascontiguousarray(Y.T)
        acc = s >= burn_in
        a_idx = s - burn_in
        if auto:
            # the rule of _kernels_lyap.frame_loop_auto: forced at the end of the burn-in and of every block
            since += 1
            forced = ((a_idx + 1) % qpb == 0 or a_idx == M - 1) if acc else s == burn_in - 1
            if not (forced or since >= interval):
                continue
            cap = min(2 * since, max_ivl) if since >= interval else interval
            used, ok, interval = KL.qr_rows_checked(F, 0, k, mode, 1e-3, since, cap, *wargs)
            n_rejected += 0 if ok else 1
            max_used = max(max_used, since)
            since = 0
        else:
            if acc:
                do_qr = (a_idx + 1) % qr_every == 0 or a_idx == M - 1
            else:
                do_qr = (s + 1) % qr_every == 0 or s == burn_in - 1
            if not do_qr:
                continue
            used = KL.qr_rows(F, 0, k, mode, 1e-3, *wargs)
        counts[0 if used == 1 else (1 if used == -1 else 2)] += 1
        lsum = float(logr.sum())
        if lsum != lsum or lsum == math.inf:
            raise DivergenceError(f"lyapunov_spectrum_map: the tangent frame became non-finite at step "
                                  f"{washout + s + 1}; use a smaller qr_every")
        if acc:
            row = blk[a_idx // qpb if auto else (a_idx // qr_every) // qpb, 0]
            row += logr
    counters = counts
    settings = {"method": "qr", "model": "map", "n": n, "k": k, "T": T, "n_sequences": 1, "washout": washout,
                "burn_in": burn_in, "qr_every": "auto" if auto else qr_every, "accumulated_steps": M,
                "seed": seed if (seed is None or isinstance(seed, (int, np.integer))) else "generator",
                "qr": qr, "n_cholesky": int(counters[0]), "n_fallback": int(counters[1]),
                "n_householder": int(counters[2]), "history_points": history_points, "tol": tol,
                "units": "nats per step"}
    if auto:
        n_all = int(sum(counters))
        settings.update({"auto_block_steps": int(qpb), "auto_rejected": int(n_rejected),
                         "auto_max_interval": int(max_used), "n_qr": n_all,
                         "mean_qr_interval": float((burn_in + M) / n_all) if n_all else float("nan")})
    steps = _block_steps(M, qr_every, qpb, n_blocks)
    return _summarise(blk, steps, n, tol, settings, batched=False)
