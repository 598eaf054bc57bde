"""One way to build things: residual families, models, task data and their seed streams.

Every part of the toolkit that makes a network or a data set from a description — the command line,
sweeps, the reproduction experiments and the notebooks — goes through this module, so that one description
and one seed give the same weights and the same data everywhere.

A *spec* is a flat dict of scalars (what a sweep cell or a command line holds)::

    {"model": "wcrnn", "family": "rotational", "N": 64, "mu": 0.99, "eps": 0.05, "seed": 0, ...}

:data:`MODEL_DEFAULTS` lists every key and its default.  Residual families live in :data:`FAMILIES` (one
registry: name -> :class:`Family`), tasks in :data:`TASKS` (name -> :class:`Task`: loss, metric, its direction,
the trivial baseline and the competence level used by the reproduction's verdicts).

Seeds
-----
One integer ``seed`` is split into independent streams (:func:`rng`), one per purpose (:data:`STREAMS`):
``weights`` (W, U, V of the model), ``residual`` (random residual draws), ``input`` (driving inputs of
analyses), ``train`` / ``val`` / ``test`` (generated task data), ``trainer`` (mini-batch order), ``lyap``
(initial Lyapunov frames).  Two models that differ only in their residual therefore get the same W, U and V,
and two training runs with the same seed see the same data in the same order: the pairing that the
reproduction's paired comparisons rely on.

Examples
--------
>>> from wcrnn_dyn import build
>>> net = build.make_model({"family": "rotational", "N": 8, "mu": 0.99, "seed": 1}, n_in=1, n_out=10)
>>> net.residual.family, net.n_hidden
('rotational', 8)
>>> X, y = build.task_data("adding", "train", n=4, T=10, seed=0)
>>> X.shape, y.shape
((4, 10, 2), (4, 1))
"""
from __future__ import annotations

import functools
import logging
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["STREAMS", "rng", "MODEL_DEFAULTS", "Family", "FAMILIES", "family_names", "make_residual",
           "make_model", "Task", "TASKS", "task", "task_data", "input_sequences", "pdigits_permutation",
           "check_spec"]

#: Stream number of each purpose of randomness (see the module docstring).
STREAMS = {"weights": 1, "residual": 2, "input": 3, "train": 4, "val": 5, "test": 6, "trainer": 7, "lyap": 8}


def rng(seed, stream):
    """A NumPy Generator for ``(seed, stream)``; ``stream`` a name of :data:`STREAMS` or an int.

    Independent of every other stream of the same seed (``SeedSequence([seed, stream])``).  Cost: microseconds.

    Parameters
    ----------
    seed : int
        Non-negative.
    stream : str or int
        A key of :data:`STREAMS` or a stream number.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        For a negative or non-integer seed.
    KeyError
        For an unknown stream name.

    Examples
    --------
    >>> from wcrnn_dyn import build
    >>> a, b = build.rng(0, "weights").random(), build.rng(0, "weights").random()
    >>> a == b, a == build.rng(0, "residual").random()
    (True, False)
    """
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    s = STREAMS[stream] if isinstance(stream, str) else int(stream)
    return np.random.default_rng(np.random.SeedSequence([int(seed), s]))


#: Keys of a model spec and their defaults.
MODEL_DEFAULTS = dict(model="wcrnn", family="scaled_identity", mu=0.99, eps=0.05, N=32, seed=0,
                      activation="tanh", mu_min=None, tau_min=None, tau_max=None, gain_scale=1.0, init="wcri",
                      match_method="peaks", match_task=None, theta_min=None, w_scale=1.0, dtype="float64",
                      trainable_residual=False)

MODELS = ("wcrnn", "elman")
ELMAN_INITS = ("default", "orthogonal", "identity", "wcri")


# ============================================================================================ families
@dataclass(frozen=True)
class Family:
    """A residual family: its name, what it is, which spec keys it reads, whether it needs the data.

    Attributes
    ----------
    name : str
    description : str
        One line for listings.
    keys : tuple of str
        Spec keys the family reads (besides ``N`` and ``seed``).
    needs_data : bool
        Whether building it needs the training inputs X (data-matched families).
    build : callable
        ``build(spec, X, rng) -> Residual``.
    """
    name: str
    description: str
    keys: tuple = ()
    needs_data: bool = False
    build: object = field(default=None, repr=False, compare=False)


def _even_thetas(m):
    return np.pi * (np.arange(m) + 0.5) / max(m, 1)


def _mu_lo(c):
    return c["mu"] - 0.1 if c["mu_min"] is None else float(c["mu_min"])


def _need_taus(c, name):
    if c["tau_min"] is None or c["tau_max"] is None:
        raise ValueError(f"family {name!r} needs tau_min and tau_max")
    lo, hi = float(c["tau_min"]), float(c["tau_max"])
    if not (0 < lo <= hi) or not math.isfinite(hi):
        raise ValueError(f"tau_min and tau_max must satisfy 0 < tau_min <= tau_max < inf, got {lo}, {hi}")
    return lo, hi


def _log_uniform_taus(r, m, lo, hi):
    return np.sort(np.exp(r.uniform(np.log(lo), np.log(hi), m)))[::-1]


def _data_peaks(X):
    from . import spectral
    freqs, power = spectral.data_spectrum(X)
    pf, pp = spectral.spectral_peaks(freqs, power)
    return np.sort(np.asarray(pf, dtype=float)), freqs, power


def _matched(c, X, R):
    from . import spectral
    n, mu = int(c["N"]), float(c["mu"])
    if c["match_method"] == "peaks":
        try:
            return spectral.rotational_from_spectrum(X, n, mu, method="peaks")
        except ValueError as e:  # flat spectrum: no peak, spread the angles by spectral power instead
            log.info("rotational_matched: %s; using method='power'", e)
    return spectral.rotational_from_spectrum(X, n, mu, method="power")


def _mismatched(c, X, R):
    """Angles placed half-way between neighbouring spectral peaks (the frequencies the data lacks)."""
    n, mu = int(c["N"]), float(c["mu"])
    m = n // 2
    pf, _, _ = _data_peaks(X)
    if pf.size < 2:
        raise ValueError("family 'rotational_mismatched' needs a spectrum with at least two peaks")
    mids = 0.5 * (pf[1:] + pf[:-1])
    f = mids[np.arange(m) % mids.size]
    return R.rotational(n, mu, thetas=np.sort(2 * np.pi * f))


def _random_angles(c, X, r, R):
    lo = 0.0 if c["theta_min"] is None else float(c["theta_min"])
    if not 0.0 <= lo < np.pi:
        raise ValueError(f"theta_min must be in [0, pi), got {lo}")
    n = int(c["N"])
    return R.rotational(n, float(c["mu"]), thetas=np.sort(r.uniform(lo, np.pi, n // 2)))


def _families():
    from . import residuals as R

    def het_rot_tau(c, X, r):
        lo, hi = _need_taus(c, "heterogeneous_rotational_timescales")
        n = int(c["N"])
        m = n // 2
        mus = np.exp(-1.0 / _log_uniform_taus(r, m, lo, hi))
        return R.heterogeneous_rotational(mus, _even_thetas(m), tail=float(mus[0]) if n % 2 else None)

    def het_tau(c, X, r):
        lo, hi = _need_taus(c, "heterogeneous_timescales")
        return R.heterogeneous_timescales(int(c["N"]), lo, hi, seed=r)

    table = [
        Family("scaled_identity", "mu I: every unit integrates with the same factor mu", ("mu",), False,
               lambda c, X, r: R.scaled_identity(int(c["N"]), float(c["mu"]))),
        Family("orthogonal", "mu Q, Q Haar-random orthogonal (dense)", ("mu",), False,
               lambda c, X, r: R.orthogonal(int(c["N"]), float(c["mu"]), seed=r)),
        Family("rotational", "mu blockdiag(Rot(theta_k)), angles evenly spaced in (0, pi)", ("mu",), False,
               lambda c, X, r: R.rotational(int(c["N"]), float(c["mu"]))),
        Family("rotational_random", "mu blockdiag(Rot(theta_k)), angles uniform in [theta_min, pi)",
               ("mu", "theta_min"), False, lambda c, X, r: _random_angles(c, X, r, R)),
        Family("rotational_matched", "rotations at the peaks of the training data's power spectrum "
               "(spread by spectral power when there is no peak)", ("mu", "match_method"), True,
               lambda c, X, r: _matched(c, X, R)),
        Family("rotational_mismatched", "rotations half-way between neighbouring spectral peaks of the data",
               ("mu",), True, lambda c, X, r: _mismatched(c, X, R)),
        Family("heterogeneous", "diag(mu_i), mu_i uniform on [mu_min, mu] (mu_min default mu - 0.1)",
               ("mu", "mu_min"), False,
               lambda c, X, r: R.heterogeneous_uniform(int(c["N"]), _mu_lo(c), float(c["mu"]), seed=r)),
        Family("heterogeneous_timescales", "diag(exp(-1/tau_i)), tau_i log-uniform on [tau_min, tau_max]",
               ("tau_min", "tau_max"), False, het_tau),
        Family("heterogeneous_rotational", "blocks mu_k Rot(theta_k), mu_k uniform on [mu_min, mu], angles "
               "evenly spaced", ("mu", "mu_min"), False,
               lambda c, X, r: R.heterogeneous_rotational_uniform(int(c["N"]), _mu_lo(c), float(c["mu"]),
                                                                  seed=r)),
        Family("heterogeneous_rotational_timescales", "blocks exp(-1/tau_k) Rot(theta_k), tau_k log-uniform on "
               "[tau_min, tau_max], angles evenly spaced", ("tau_min", "tau_max"), False, het_rot_tau),
        Family("random", "mu G / rho(G), G Gaussian (non-normal, spread eigenvalues)", ("mu",), False,
               lambda c, X, r: R.random(int(c["N"]), float(c["mu"]), seed=r)),
        Family("nonlinear", "s tanh(mu h / s) element-wise, s = gain_scale", ("mu", "gain_scale"), False,
               lambda c, X, r: R.nonlinear(R.scaled_identity(int(c["N"]), float(c["mu"])),
                                           scale=float(c["gain_scale"]))),
        Family("nonlinear_rotational", "s tanh(Lambda h / s), Lambda the evenly spaced rotational residual",
               ("mu", "gain_scale"), False,
               lambda c, X, r: R.nonlinear(R.rotational(int(c["N"]), float(c["mu"])),
                                           scale=float(c["gain_scale"]))),
        Family("zero", "no residual (R = 0)", (), False, lambda c, X, r: R.zero(int(c["N"]))),
    ]
    return {f.name: f for f in table}


#: The residual families: name -> :class:`Family` (the only list of families in the package).
FAMILIES = _families()


def family_names():
    """The names of :data:`FAMILIES`, in registry order.

    Returns
    -------
    tuple of str
    """
    return tuple(FAMILIES)


def check_spec(spec, extra=()):
    """The spec merged over :data:`MODEL_DEFAULTS`, checked.

    Parameters
    ----------
    spec : dict
        Keys of :data:`MODEL_DEFAULTS` (and ``extra``).
    extra : iterable of str, default ()
        Further keys allowed (passed through unchecked).

    Returns
    -------
    dict
        A new dict with every default filled in.

    Raises
    ------
    TypeError
        If ``spec`` is not a dict.
    ValueError
        For unknown keys, an unknown family or model, N not an int >= 1, a negative or non-finite mu, eps,
        gain_scale or w_scale, or a bad seed.
    """
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict, got {type(spec).__name__}")
    unknown = set(spec) - set(MODEL_DEFAULTS) - set(extra)
    if unknown:
        raise ValueError(f"unknown model keys {sorted(unknown)}; known: {sorted(MODEL_DEFAULTS)}")
    c = dict(MODEL_DEFAULTS)
    c.update(spec)
    if c["family"] not in FAMILIES:
        raise ValueError(f"unknown residual family {c['family']!r}; choose from {', '.join(FAMILIES)}")
    if c["model"] not in MODELS:
        raise ValueError(f"unknown model {c['model']!r}; choose from {MODELS}")
    n = c["N"]
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or n < 1:
        raise ValueError(f"N must be an int >= 1, got {n!r}")
    for k in ("mu", "eps", "gain_scale", "w_scale"):
        v = c[k]
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{k} must be a finite number >= 0, got {v!r}")
    rng(c["seed"], "weights")  # validates the seed
    return c


def make_residual(spec, X=None):
    """The residual object of a spec (keys: ``family``, ``N``, ``mu`` and the family's own keys, see
    :data:`FAMILIES`); random draws come from the ``residual`` stream of ``seed``.

    Parameters
    ----------
    spec : dict
        A model spec (see :data:`MODEL_DEFAULTS`).
    X : array_like, shape (n, T, d), optional
        Training inputs, needed by the data-matched families ("rotational_matched", "rotational_mismatched").

    Returns
    -------
    wcrnn_dyn.residuals.Residual

    Raises
    ------
    ValueError
        For an invalid spec, or a data-matched family without ``X`` (or, for "rotational_mismatched", with
        fewer than two spectral peaks).

    Notes
    -----
    Cost: the family's constructor (O(N) to O(N^3) for the dense random families) plus one data spectrum
    for the matched families.

    Examples
    --------
    >>> from wcrnn_dyn import build
    >>> build.make_residual({"family": "scaled_identity", "N": 3, "mu": 0.5}).eigenvalues().real.tolist()
    [0.5, 0.5, 0.5]
    """
    c = check_spec(spec, extra=spec.keys())
    fam = FAMILIES[c["family"]]
    if fam.needs_data and X is None:
        raise ValueError(f"family {fam.name!r} needs the training inputs X")
    return fam.build(c, X, rng(c["seed"], "residual"))


def make_model(spec, n_in, n_out, X=None, residual=None):
    """The network of a spec: a :class:`~wcrnn_dyn.WCRNN` (``model="wcrnn"``) or an
    :class:`~wcrnn_dyn.Elman` (``model="elman"``, ``init`` one of default / orthogonal / identity / wcri; wcri
    builds W_0 = Lambda + eps W~ from the spec's residual family).

    W, U, V are drawn from the ``weights`` stream of ``seed`` (so arms that differ only in their residual
    share them).  ``residual`` overrides the spec's family; ``X`` is passed to :func:`make_residual`.
    ``dtype`` ("float64"/"float32"), ``w_scale`` (WCRNN: W ~ N(0, w_scale^2/N)) and ``trainable_residual``
    come from the spec.

    Parameters
    ----------
    spec : dict
        A model spec (see :data:`MODEL_DEFAULTS`).
    n_in, n_out : int
        Input and output sizes.
    X : array_like, shape (n, T, d), optional
        Training inputs for the data-matched families.
    residual : Residual, optional
        Used instead of the spec's family.

    Returns
    -------
    WCRNN or Elman

    Raises
    ------
    ValueError
        For an invalid spec, an unknown Elman init, ``w_scale`` with an Elman model, or init "wcri" with a
        non-linear residual.

    Notes
    -----
    Cost: O(N^2) draws plus the residual's construction.
    """
    from .models import WCRNN, Elman
    c = check_spec(spec, extra=spec.keys())
    dt = np.dtype(c["dtype"]).type
    seed_w = rng(c["seed"], "weights")
    if c["model"] == "wcrnn":
        res = make_residual(c, X) if residual is None else residual
        return WCRNN(n_in, int(c["N"]), n_out, residual=res, eps=float(c["eps"]), activation=c["activation"],
                     seed=seed_w, dtype=dt, trainable_residual=bool(c["trainable_residual"]),
                     w_scale=float(c["w_scale"]))
    if c["init"] not in ELMAN_INITS:
        raise ValueError(f"unknown Elman init {c['init']!r}; choose from {ELMAN_INITS}")
    if float(c["w_scale"]) != 1.0:
        raise ValueError("w_scale applies to model 'wcrnn' only (Elman uses init)")
    res = None
    if c["init"] == "wcri":
        res = make_residual(c, X) if residual is None else residual
        if not res.is_linear:
            raise ValueError("init 'wcri' needs a linear residual family")
    return Elman(n_in, int(c["N"]), n_out, init=c["init"], residual=res, eps=float(c["eps"]),
                 activation=c["activation"], seed=seed_w, dtype=dt)


# ============================================================================================ tasks
@dataclass(frozen=True)
class Task:
    """A training task: its loss and metric, the metric's direction, the trivial baseline, the competence
    level (the value a network must reach before comparisons on this task mean anything) and the sizes.

    Attributes
    ----------
    name : str
    loss : {"mse", "cross_entropy"}
    metric : {"mse", "accuracy"}
    higher_is_better : bool
    baseline : float
        Metric of the trivial predictor.
    baseline_label : str
    competence : float or None
        None: no competence level.
    n_out : int
        Output size.
    label : str
        Human-readable name.
    """
    name: str
    loss: str
    metric: str
    higher_is_better: bool
    baseline: float
    baseline_label: str
    competence: float | None
    n_out: int
    label: str

    @property
    def metric_key(self):
        """The name of the test metric in results: ``test_accuracy`` or ``test_mse``."""
        return "test_" + self.metric

    def better(self, a, b):
        """Whether metric value ``a`` is strictly better than ``b``.

        Parameters
        ----------
        a, b : float

        Returns
        -------
        bool
        """
        return a > b if self.higher_is_better else a < b

    def gain(self, new, old):
        """How much better ``new`` is than ``old``: the difference for accuracy, log(old / new) for MSE.

        Parameters
        ----------
        new, old : float

        Returns
        -------
        float
            Positive when ``new`` is better.  MSE values are floored at 1e-300 before the log; NaN input
            gives NaN.

        Examples
        --------
        >>> from wcrnn_dyn import build
        >>> round(build.task("adding").gain(0.01, 0.1), 4), build.task("digits").gain(0.9, 0.8) > 0
        (2.3026, True)
        """
        if self.higher_is_better:
            return float(new) - float(old)
        return float(np.log(max(float(old), 1e-300)) - np.log(max(float(new), 1e-300)))

    #: Gain over the last quarter of training above which a run counts as still improving: 0.01 accuracy,
    #: or a 25 % lower MSE (log 1.25).
    @property
    def improving_tol(self):
        """Gain threshold of :meth:`still_improving`: 0.01 accuracy, or log 1.25 (a 25 % lower MSE)."""
        return 0.01 if self.higher_is_better else float(np.log(1.25))

    def still_improving(self, curve):
        """True when a validation curve (one value per epoch) was still improving at the end: the best value
        of its last quarter of epochs (at least one) beats the best value before it by more than
        :attr:`improving_tol`.  A curve of fewer than two finite epochs counts as still improving (nothing
        shows that it has settled).

        Parameters
        ----------
        curve : sequence of float
            One value per epoch; None and non-finite values are ignored.

        Returns
        -------
        bool
        """
        v = [float(x) for x in curve if x is not None and np.isfinite(x)]
        if len(v) < 2:
            return True
        k = max(1, int(math.ceil(len(v) / 4)))
        pick = max if self.higher_is_better else min
        return bool(self.gain(pick(v[-k:]), pick(v[:-k])) > self.improving_tol)

    def epochs_to_fraction(self, curve, frac=0.9):
        """Epochs (1-based) until the validation metric first covered ``frac`` of the way from the trivial
        baseline to its best value (on a log scale for MSE).

        Parameters
        ----------
        curve : sequence of float
            One value per epoch; None and non-finite values never qualify.
        frac : float, default 0.9

        Returns
        -------
        int
            1-based epoch, or -1 when the curve never beats the baseline (or has no finite value).
        """
        v = [float(x) if x is not None and np.isfinite(x) else np.nan for x in curve]
        fin = [x for x in v if np.isfinite(x)]
        if not fin:
            return -1
        best = max(fin) if self.higher_is_better else min(fin)
        total = self.gain(best, self.baseline)
        if not total > 0:
            return -1
        for i, x in enumerate(v):
            if np.isfinite(x) and self.gain(x, self.baseline) >= frac * total:
                return i + 1
        return -1  # pragma: no cover - the best value itself qualifies

    def typical(self, values):
        """The typical value of per-seed results.

        Parameters
        ----------
        values : iterable of float
            Test metrics of the runs (NaN and None ignored).

        Returns
        -------
        float
            The mean of the finite values for accuracy, their geometric mean for MSE (MSEs span orders of
            magnitude, and one exploded run must not outweigh the others; comparisons use log MSE ratios for
            the same reason).  NaN when there is no finite (for MSE: positive) value.
        """
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        if self.higher_is_better:
            return float(v.mean()) if v.size else float("nan")
        v = v[v > 0]
        return float(np.exp(np.mean(np.log(v)))) if v.size else float("nan")

    def spread(self, values):
        """The spread that goes with :meth:`typical`.

        Parameters
        ----------
        values : iterable of float
            Test metrics of the runs (NaN and None ignored).

        Returns
        -------
        float
            The standard deviation (ddof 1) for accuracy, the standard deviation of log10 MSE for MSE; NaN
            with fewer than two finite values.
        """
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        if not self.higher_is_better:
            v = np.log10(v[v > 0])
        return float(v.std(ddof=1)) if v.size > 1 else float("nan")

    @property
    def typical_label(self):
        """How :meth:`typical` and :meth:`spread` are shown: "mean ± std" or "geometric mean (log10 sd)"."""
        return "mean ± std" if self.higher_is_better else "geometric mean (log10 sd)"

    def competent(self, value):
        """Whether ``value`` reaches the competence level.

        Parameters
        ----------
        value : float
            A test metric.

        Returns
        -------
        bool
            False for NaN or inf; when the task has no competence level, True for any finite value.
        """
        if self.competence is None:
            return bool(np.isfinite(value))
        if not np.isfinite(value):
            return False
        return value >= self.competence if self.higher_is_better else value <= self.competence


def _task(name, loss, baseline, baseline_label, competence, label, data=None):
    """A :class:`Task` whose metric and number of outputs come from :func:`wcrnn_dyn.tasks.info` (one source
    for the data facts; ``data``: the task whose data it uses)."""
    from .tasks import info
    facts = info(data or name)
    return Task(name, loss, facts["metric"], facts["metric"] == "accuracy", baseline, baseline_label, competence,
                int(facts["n_outputs"]), label)


#: The tasks: name -> :class:`Task`.  Competence levels: psMNIST 0.90, sMNIST 0.95, sCIFAR10 0.40 (JPEG copy),
#: adding MSE 0.01; the 8x8 stand-ins have smoke-test levels.
TASKS = {
    "adding": _task("adding", "mse", 1.0 / 6.0, "predict 1 (MSE 1/6)", 0.01, "adding"),
    "smnist": _task("smnist", "cross_entropy", 0.1, "chance", 0.95, "sMNIST"),
    "psmnist": _task("psmnist", "cross_entropy", 0.1, "chance", 0.90, "psMNIST"),
    "scifar10": _task("scifar10", "cross_entropy", 0.1, "chance", 0.40, "sCIFAR10 (JPEG q75 copy)"),
    "digits": _task("digits", "cross_entropy", 0.1, "chance", 0.80, "digits (8x8, T=64; sMNIST stand-in)"),
    "pdigits": _task("pdigits", "cross_entropy", 0.1, "chance", 0.70, "permuted digits (psMNIST stand-in)",
                     data="digits"),
}


def task(name):
    """The :class:`Task` called ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`TASKS`.

    Returns
    -------
    Task

    Raises
    ------
    ValueError
        For an unknown name (the message lists the choices).
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name]


#: Fixed permutation seed of the 64 digits pixels for the "pdigits" task.
_PDIGITS_SEED = 2024


def pdigits_permutation():
    """The fixed permutation of 0..63 of the "pdigits" task: ``default_rng(2024).permutation(64)``.

    Returns
    -------
    ndarray, shape (64,), int
    """
    return np.random.default_rng(_PDIGITS_SEED).permutation(64)


@functools.lru_cache(maxsize=8)
def _channel_mean(name, data_dir):
    X, _ = _load(name, "train", None, np.float64, data_dir)
    return np.asarray(X, dtype=np.float64).mean(axis=(0, 1))


def _load(name, split, n, dtype, data_dir):
    from . import tasks
    if name in ("digits", "pdigits"):
        X, y = tasks.load("digits", split, dtype=dtype, limit=n)
        if name == "pdigits":
            X = np.ascontiguousarray(X[:, pdigits_permutation()])
        return X, y
    return tasks.load(name, split, data_dir=data_dir, dtype=dtype, limit=n)


def task_data(name, split, n=None, T=None, seed=0, dtype=np.float64, center=False, data_dir=None):
    """(X, y) of one split of a task.

    ``name``: a key of :data:`TASKS`.  "adding" is generated: ``n`` sequences of length ``T`` from the
    ``split`` stream of ``seed`` (:func:`rng`).  The image tasks are loaded with
    :func:`wcrnn_dyn.tasks.load` (``n`` keeps the first n samples of the split; ``seed`` is not used);
    "pdigits" is digits with a fixed pixel permutation (:func:`pdigits_permutation`).
    ``center=True`` subtracts the per-channel mean of the task's full training split (so that a residual
    with eigenvalue near 1 does not integrate the input's mean; not for "adding").
    Parameters
    ----------
    name : str
        A key of :data:`TASKS`.
    split : {"train", "val", "test"}
    n : int, optional
        Number of sequences (required for "adding"; the first n samples otherwise, default all).
    T : int, optional
        Sequence length (required for "adding" only).
    seed : int, default 0
        Seed of the generated data ("adding").
    dtype : numpy dtype, default float64
    center : bool, default False
    data_dir : str or path, optional
        Where the image data sets are looked for (see :func:`wcrnn_dyn.tasks.load`).

    Returns
    -------
    X : ndarray, shape (n, T, d)
    y : ndarray
        (n, 1) float targets for "adding", (n,) int labels otherwise.

    Raises
    ------
    ValueError
        For an unknown task or split, "adding" without n and T, or ``center`` with "adding".
    FileNotFoundError
        When a data set is not available here.

    Notes
    -----
    Cost: generation O(n T) or one load (MNIST ~1 s; the centring mean is computed once per process).
    """
    t = task(name)
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    dt = np.dtype(dtype).type
    if t.name == "adding":
        from . import tasks
        if T is None or n is None:
            raise ValueError("task 'adding' needs n and T")
        if center:
            raise ValueError("center applies to the image tasks, not to 'adding'")
        return tasks.adding(int(n), int(T), seed=rng(seed, split), dtype=dt)
    X, y = _load(t.name, split, n, dt, data_dir)
    if center:
        X = (X - _channel_mean(t.name, data_dir).astype(X.dtype)).astype(dt, copy=False)
    return X, y


def input_sequences(source, T, n_seq=1, seed=0, input_scale=1.0, data_dir=None):
    """Driving inputs (n_seq, T, d) for Lyapunov and memory analyses.

    "noise": i.i.d. N(0, input_scale^2), d = 1, from the ``input`` stream of ``seed``; "zero": zeros (d = 1);
    "adding": adding-problem inputs of length T (test stream); a task name of :data:`TASKS`: its first
    ``n_seq`` test sequences (``T`` ignored: the task's own length).

    Parameters
    ----------
    source : str
        "noise", "zero", "adding" or a key of :data:`TASKS`.
    T : int
        Sequence length (ignored for the image tasks).
    n_seq : int, default 1
    seed : int, default 0
    input_scale : float, default 1.0
        Standard deviation of "noise".
    data_dir : str or path, optional

    Returns
    -------
    ndarray, shape (n_seq, T, d)

    Raises
    ------
    ValueError
        For an unknown source.

    Examples
    --------
    >>> from wcrnn_dyn import build
    >>> build.input_sequences("noise", 5, n_seq=2).shape
    (2, 5, 1)
    """
    if source == "noise":
        return input_scale * rng(seed, "input").standard_normal((int(n_seq), int(T), 1))
    if source == "zero":
        return np.zeros((int(n_seq), int(T), 1))
    if source == "adding":
        return task_data("adding", "test", n=n_seq, T=T, seed=seed)[0]
    if source in TASKS:
        return task_data(source, "test", n=n_seq, data_dir=data_dir)[0]
    raise ValueError(f"unknown input source {source!r}; choose from noise, zero, {', '.join(TASKS)}")
