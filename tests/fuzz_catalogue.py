"""The public entry points and the argument pools used by the fuzz test (tests/test_fuzz.py) and the long
campaign (benchmarks/fuzz_campaign.py).

Each :class:`Entry` names a public callable and, for every argument, a pool of values: the first is a
valid default, the rest are mostly bad (wrong type, NaN/inf, negative, zero, huge, wrong shape, None, bool).
A case picks one value per argument; :func:`classify` runs it and sorts the outcome:

* ``valid``   -- a result without undocumented non-finite numbers;
* ``clean``   -- ValueError / TypeError whose message names an argument of the call as a whole word (a
  changed one, or one it conflicts with, e.g. y for loss="cross_entropy", or one of the entry's documented
  aliases), FileNotFoundError naming the argument for a missing file, or a documented domain error
  (models.DivergenceError, training.TrainingDiverged);
* ``unnamed`` -- ValueError / TypeError whose message names no argument;
* ``other``   -- any other exception type;
* ``garbage`` -- a result holding NaN / inf where the entry does not document them.
Hangs are detected by the campaign (a subprocess per case with a timeout).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re

import numpy as np

HUGE = 10 ** 12
BIG = 10 ** 7


# ----------------------------------------------------------------------------------------- value pools
def _v(label, make):
    """A pool value: ``make`` builds it afresh for every case (arrays and networks are mutable)."""
    return (label, make)


def _const(label, value):
    return (label, lambda: value)


GENERIC_BAD = [_const("None", None), _const("True", True), _const("'abc'", "abc"), _const("nan", float("nan")),
               _const("inf", float("inf")), _const("-1", -1), _const("object", object()), _const("{}", {}),
               _const("1j", 1j)]


def ints(good, extra=()):
    return [_const(repr(good), good), *[_const(repr(e), e) for e in extra], _const("0", 0), _const("-3", -3),
            _const("2.5", 2.5), _const("BIG", BIG), _const("HUGE", HUGE), *GENERIC_BAD]


def floats(good, extra=()):
    return [_const(repr(good), good), *[_const(repr(e), e) for e in extra], _const("0.0", 0.0),
            _const("-0.5", -0.5), _const("1e308", 1e308), _const("-inf", -float("inf")), *GENERIC_BAD]


def arrays(good_make, shape_desc, bad_shapes=((2, 2, 2, 2), (0,), ())):
    out = [_v(shape_desc, good_make)]
    for s in bad_shapes:
        out.append(_v(f"ones{s}", lambda s=s: np.ones(s)))

    def with_nan():
        a = np.array(good_make(), dtype=float)
        a.flat[0] = np.nan
        return a

    def huge():
        return np.array(good_make(), dtype=float) * 1e300

    def cplx():
        with np.errstate(all="ignore"):
            return np.array(good_make(), dtype=complex) * 1j

    out += [_v("nan-array", with_nan), _v("1e300*array", huge), _const("[[1,'a']]", [[1, "a"]]),
            _v("complex", cplx)]
    return out + GENERIC_BAD


def seeds():
    return [_const("0", 0), _const("7", 7), _const("-1", -1), _const("True", True), _const("2.5", 2.5),
            _const("'x'", "x"), _v("Generator", lambda: np.random.default_rng(1)), _const("None", None)]


def choice(good, others):
    return [_const(repr(good), good), *[_const(repr(o), o) for o in others], *GENERIC_BAD]


def _net(kind="wcrnn", N=6, d=2, o=1, **kw):
    import wcrnn_dyn as wd
    from wcrnn_dyn import residuals as R
    if kind == "wcrnn":
        return wd.WCRNN(d, N, o, residual=R.rotational(N, 0.9), eps=0.1, seed=0, **kw)
    return wd.Elman(d, N, o, seed=0, **kw)


def nets(N=6, d=2, o=1):
    from wcrnn_dyn import residuals as R
    import wcrnn_dyn as wd
    return [_v("wcrnn", lambda: _net("wcrnn", N, d, o)), _v("elman", lambda: _net("elman", N, d, o)),
            _v("supercritical", lambda: wd.WCRNN(d, N, o, residual=R.scaled_identity(N, 1.5), eps=0.1)),
            _v("relu-big", lambda: wd.WCRNN(d, N, o, residual=R.scaled_identity(N, 1.0), eps=3.0,
                                            activation="relu", w_scale=5.0)),
            _const("None", None), _const("'net'", "net"), _v("array", lambda: np.eye(N)),
            _v("residual", lambda: R.scaled_identity(N, 0.5))]


def residual_values(n=6):
    from wcrnn_dyn import residuals as R
    return [_v("rotational", lambda: R.rotational(n, 0.9)), _v("dense", lambda: R.random(n, 0.9, seed=0)),
            _v("nonlinear", lambda: R.nonlinear(R.orthogonal(n, 0.9, seed=0))),
            _v("diag", lambda: R.heterogeneous(np.linspace(0.1, 0.9, n))), _v("eye-array", lambda: np.eye(n)),
            _v("wrong-n", lambda: R.scaled_identity(n + 1, 0.5)), _v("nan-matrix", lambda: np.full((n, n), np.nan)),
            *GENERIC_BAD]


def X_seq(T=12, d=2, B=3):
    return arrays(lambda: np.random.default_rng(0).standard_normal((B, T, d)), f"X({B},{T},{d})",
                  bad_shapes=((T, d + 1), (B, 0, d), (2, 2, 2, 2), ()))


# ----------------------------------------------------------------------------------------- entries
@dataclasses.dataclass
class Entry:
    name: str
    call: callable  # call(**kwargs)
    params: dict  # name -> pool
    nonfinite_ok: bool = False  # documented NaN / inf in results
    aliases: tuple = ()  # further names an error may legitimately mention
    slow: bool = False  # excluded from the CI fuzz test

    def build(self, choice_idx):
        return {k: self.params[k][i][1]() for k, i in choice_idx.items()}

    def labels(self, choice_idx):
        return {k: self.params[k][i][0] for k, i in choice_idx.items()}


def _method(obj_pool_key, meth):
    def call(**kw):
        obj = kw.pop(obj_pool_key)
        return getattr(obj, meth)(**kw)
    return call


def entries():
    import wcrnn_dyn as wd
    from wcrnn_dyn import memory, spectral, theory, training
    from wcrnn_dyn import residuals as R
    from wcrnn_dyn import tasks

    E = []
    add = E.append
    # --- models
    add(Entry("WCRNN", lambda **k: wd.WCRNN(**k), dict(
        n_in=ints(2), n_hidden=ints(6), n_out=ints(1), residual=[_const("None", None), *residual_values()],
        eps=floats(0.1), activation=choice("tanh", ["relu", "identity", "sigmoid"]), seed=seeds(),
        dtype=choice(np.float64, [np.float32, "float16", np.int64]), w_scale=floats(1.0)),
        aliases=("R", "matrix", "residual")))
    add(Entry("Elman", lambda **k: wd.Elman(**k), dict(
        n_in=ints(2), n_hidden=ints(6), n_out=ints(1), init=choice("default", ["orthogonal", "identity", "wcri", "x"]),
        eps=floats(0.05), activation=choice("tanh", ["relu", "identity"]), seed=seeds()),
        aliases=("residual",)))
    add(Entry("WCRNN.from_arrays", lambda **k: wd.WCRNN.from_arrays(**k), dict(
        R=[_v("eye", lambda: 0.9 * np.eye(4)), *residual_values(4)],
        W=arrays(lambda: np.zeros((4, 4)), "W(4,4)"), U=arrays(lambda: np.ones((4, 1)), "U(4,1)"),
        b=arrays(lambda: np.zeros(4), "b(4)"), V=arrays(lambda: np.ones((1, 4)), "V(1,4)"),
        c=arrays(lambda: np.zeros(1), "c(1)"), eps=floats(0.1))))
    add(Entry("Elman.from_arrays", lambda **k: wd.Elman.from_arrays(**k), dict(
        W=arrays(lambda: np.zeros((4, 4)), "W(4,4)"), U=arrays(lambda: np.ones((4, 1)), "U(4,1)"),
        b=arrays(lambda: np.zeros(4), "b(4)"), V=arrays(lambda: np.ones((1, 4)), "V(1,4)"),
        c=arrays(lambda: np.zeros(1), "c(1)"), activation=choice("tanh", ["relu", "x"]))))
    for meth in ("states", "last_state", "predict"):
        add(Entry(f"net.{meth}", _method("net", meth), dict(
            net=nets()[:4], X=X_seq(), h0=[_const("None", None), _v("zeros6", lambda: np.zeros(6)),
                                              *arrays(lambda: np.zeros((3, 6)), "h0(3,6)")]),
            aliases=("net",)))
    add(Entry("net.loss_and_grad", _method("net", "loss_and_grad"), dict(
        net=nets()[:4], X=X_seq(), y=arrays(lambda: np.zeros((3, 1)), "y(3,1)"),
        loss=choice("mse", ["cross_entropy", "l1"]), n_threads=[_const("None", None), *ints(2)[1:]])))
    add(Entry("net.loss", _method("net", "loss"), dict(
        net=nets()[:4], X=X_seq(), y=arrays(lambda: np.zeros((3, 1)), "y(3,1)"),
        loss=choice("mse", ["cross_entropy", "l1"]))))
    add(Entry("net.jacobian", _method("net", "jacobian"), dict(
        net=nets()[:4], h_prev=arrays(lambda: np.zeros(6), "h(6)"), x_t=arrays(lambda: np.ones(2), "x(2)"))))
    add(Entry("net.set_weights", _method("net", "set_weights"), dict(
        net=nets()[:2], weights=[_v("own", lambda: _net().get_weights()), _v("W-only", lambda: {"W": np.eye(6)}),
                                _v("bad-key", lambda: {"Q": np.eye(6)}),
                                _v("bad-shape", lambda: {"W": np.eye(5)}),
                                _v("nan", lambda: {"W": np.full((6, 6), np.nan)}), *GENERIC_BAD]),
        aliases=("W", "Q", "unknown weight")))
    # --- residuals
    for fam, params in (
            ("scaled_identity", dict(n=ints(6), mu=floats(0.9, (1.5,)))),
            ("orthogonal", dict(n=ints(6), mu=floats(0.9), seed=seeds())),
            ("rotational", dict(n=ints(6), mu=floats(0.9), thetas=[_const("None", None),
                                                                    *arrays(lambda: np.array([0.1, 0.2, 0.3]), "thetas(3)")])),
            ("heterogeneous", dict(mus=arrays(lambda: np.array([0.5, 0.9]), "mus(2)"))),
            ("heterogeneous_uniform", dict(n=ints(6), mu_min=floats(0.5), mu_max=floats(0.9), seed=seeds())),
            ("heterogeneous_timescales", dict(n=ints(6), tau_min=floats(5.0), tau_max=floats(50.0), seed=seeds())),
            ("random", dict(n=ints(6), mu=floats(0.9), seed=seeds())),
            ("dense", dict(matrix=arrays(lambda: 0.5 * np.eye(3), "M(3,3)", bad_shapes=((3, 2), (0, 0), ())))),
            ("nonlinear", dict(base=residual_values(), g=choice("tanh", ["relu", "x"]), scale=floats(1.0)))):
        add(Entry(f"residuals.{fam}", (lambda fam: lambda **k: getattr(R, fam)(**k))(fam), params,
                  aliases=("thetas", "mus", "n", "mu", "tau", "base", "matrix", "g")))
    for meth, params in (("apply", dict(h=arrays(lambda: np.ones((3, 6)), "h(3,6)"))),
                         ("jvp", dict(h=arrays(lambda: np.ones(6), "h(6)"), Q=arrays(lambda: np.eye(6)[:, :2], "Q(6,2)"))),
                         ("vjp", dict(h=arrays(lambda: np.ones(6), "h(6)"), v=arrays(lambda: np.ones((2, 6)), "v(2,6)")))):
        add(Entry(f"residual.{meth}", _method("res", meth), dict(res=residual_values()[:4], **params)))
    # --- training
    add(Entry("training.evaluate", lambda **k: training.evaluate(**k), dict(
        net=nets()[:4], X=X_seq(), y=arrays(lambda: np.zeros((3, 1)), "y(3,1)"), loss=choice(None, ["mse", "l1"]),
        batch_size=ints(2)), nonfinite_ok=True))  # documented: NaN when the forward pass diverges
    add(Entry("training.train", lambda **k: training.train(progress=False, **k), dict(
        net=nets()[:4], X_train=X_seq(), y_train=arrays(lambda: np.zeros((3, 1)), "y(3,1)"),
        steps=[_const("2", 2), _const("0", 0), _const("-1", -1), _const("2.5", 2.5), _const("True", True),
               _const("None", None)],
        batch_size=ints(2, (10 ** 6,))[:7], lr=floats(1e-2, (10.0,)), clip_norm=floats(1.0),
        optimizer=choice("adam", ["sgd", "lbfgs"]), seed=seeds(), on_divergence=choice("stop", ["raise", "x"])),
        nonfinite_ok=True,  # documented: NaN val_loss without validation set, NaN train_loss of a failed epoch
        aliases=("X_val", "y_val", "epochs")))
    # --- memory
    add(Entry("memory.memory_capacity", lambda **k: memory.memory_capacity(**k), dict(
        net=nets(d=1)[:4], max_lag=ints(5), n_steps=ints(400, (3,)), threshold_p=floats(1e-4, (1e-17, 1.0)),
        train_fraction=floats(0.5, (1.0,)), input_scale=floats(1.0), ridge=floats(0.0, (1e-3,)),
        input_dist=choice("uniform", ["gaussian", "x"]), seed=seeds()),
        aliases=("N + 2", "held-out", "washout")))
    add(Entry("memory.input_sensitivity", lambda **k: memory.input_sensitivity(**k), dict(
        net=nets()[:4], X=X_seq(), max_lag=ints(4, (11, 12)), readout=choice(False, [True]),
        reduce=choice("mean", ["none", "max"]))))
    add(Entry("memory.perturbation_decay", lambda **k: memory.perturbation_decay(**k), dict(
        net=nets()[:4], X=X_seq(), delta=floats(1e-6), n_perturb=ints(3), seed=seeds()),
        nonfinite_ok=True))  # documented: rate NaN with < 2 fit points; log distance -inf at 0 distance
    add(Entry("memory.timescales", lambda **k: memory.timescales(**k), dict(
        exponents=arrays(lambda: np.array([-0.1, -0.01, 0.0]), "LE(3)")), nonfinite_ok=True))
    add(Entry("memory.capacity_threshold", lambda **k: memory.capacity_threshold(**k), dict(
        n_score=ints(100), df=ints(1), p=floats(1e-4, (1e-300, 1.0)))))
    add(Entry("memory.linear_memory_capacity", lambda **k: memory.linear_memory_capacity(**k), dict(
        net=[_v("linear", lambda: wd.WCRNN(1, 6, 1, residual=R.rotational(6, 0.9), eps=0.1, activation="identity")),
             *nets(d=1)[:4]], max_lag=ints(10))))
    add(Entry("memory.information_processing_capacity", lambda **k: memory.information_processing_capacity(**k),
              dict(net=nets(d=1)[:4], max_degree=ints(2), max_lag=ints(3), n_steps=ints(400), seed=seeds()),
              aliases=("N + 2", "held-out", "washout")))
    # --- spectral
    sq = lambda: np.random.default_rng(0).standard_normal((5, 5))  # noqa: E731
    for fn in ("eigenvalues", "singular_values", "spectral_radius"):
        add(Entry(f"spectral.{fn}", (lambda fn: lambda **k: getattr(spectral, fn)(**k))(fn), dict(
            A=arrays(sq, "A(5,5)", bad_shapes=((5, 4), (0, 0), (2, 2, 2))))))
    add(Entry("spectral.effective_matrix", lambda **k: spectral.effective_matrix(**k), dict(net=nets())))
    add(Entry("spectral.effective_spectral_radius", lambda **k: spectral.effective_spectral_radius(**k), dict(
        net=nets(), method=choice("auto", ["dense", "arpack", "x"]))))
    add(Entry("spectral.weight_spectra", lambda **k: spectral.weight_spectra(**k), dict(net=nets())))
    add(Entry("spectral.jacobian_spectra", lambda **k: spectral.jacobian_spectra(**k), dict(
        net=nets()[:4], X=arrays(lambda: np.ones((10, 2)), "X(10,2)"),
        times=[_const("None", None), _const("[1,3]", [1, 3]), _const("[0]", [0]), _const("[99]", [99]), *GENERIC_BAD])))
    sig = lambda: np.sin(2 * np.pi * np.arange(256) / 8)  # noqa: E731
    add(Entry("spectral.data_spectrum", lambda **k: spectral.data_spectrum(**k), dict(
        X=arrays(sig, "sin(256)", bad_shapes=((4,), (2, 2, 2, 2), ())) + [_v("1e160*sin", lambda: 1e160 * sig())],
        nperseg=[_const("None", None), *ints(64, (300,))], max_samples=[_const("None", None), *ints(1)])))
    add(Entry("spectral.spectral_flatness", lambda **k: spectral.spectral_flatness(**k), dict(
        power=arrays(lambda: np.abs(np.random.default_rng(0).standard_normal(33)), "P(33)"))))
    add(Entry("spectral.spectral_peaks", lambda **k: spectral.spectral_peaks(**k), dict(
        freqs=arrays(lambda: np.linspace(0, 0.5, 33), "f(33)"),
        power=arrays(lambda: 1 + np.sin(np.arange(33)) ** 2, "P(33)"), n_peaks=[_const("None", None), *ints(3)])))
    add(Entry("spectral.allocate_angles", lambda **k: spectral.allocate_angles(**k), dict(
        peak_power=arrays(lambda: np.array([3.0, 2.0, 1.0]), "pp(3)") + [_const("[1e308]*2+[1]", [1e308, 1e308, 1])],
        m=ints(7))))
    add(Entry("spectral.rotational_from_spectrum", lambda **k: spectral.rotational_from_spectrum(**k), dict(
        X=arrays(lambda: sig()[None, :, None], "sin(1,256,1)"), n=ints(8), mu=floats(0.9),
        method=choice("peaks", ["uniform", "sample", "x"])),
        aliases=("n_peaks", "spectrum", "nperseg")))
    add(Entry("spectral.frequency_response", lambda **k: spectral.frequency_response(**k), dict(
        residual=residual_values(), freqs=arrays(lambda: np.linspace(0, 0.5, 9), "f(9)")), nonfinite_ok=True))
    add(Entry("spectral.synthetic_row_periodic", lambda **k: spectral.synthetic_row_periodic(**k), dict(
        n_samples=ints(3), n_rows=ints(28), period=ints(28), seed=seeds(), noise=floats(0.05))))
    # --- theory
    for fn in ("predicted_exponents", "predicted_timescales"):
        add(Entry(f"theory.{fn}", (lambda fn: lambda **k: getattr(theory, fn)(**k))(fn), dict(
            residual=residual_values() + nets()[:2]), nonfinite_ok=True))  # documented: -inf / inf
    add(Entry("theory.is_scaled_orthogonal", lambda **k: theory.is_scaled_orthogonal(**k), dict(
        residual=residual_values(), rtol=floats(1e-8)), nonfinite_ok=True))  # documented: (False, nan)
    for fn in ("exponent_bound", "exponent_interval"):
        add(Entry(f"theory.{fn}", (lambda fn: lambda **k: getattr(theory, fn)(**k))(fn), dict(net=nets()),
                  nonfinite_ok=False, aliases=("residual", "eps", "Elman", "scaled-orthogonal")))
    add(Entry("theory.regime", lambda **k: theory.regime(**k), dict(
        net_or_residual=nets() + residual_values()[:3], tol=floats(1e-6))))
    # --- tasks
    add(Entry("tasks.adding", lambda **k: tasks.adding(**k), dict(
        n_samples=ints(4), T=ints(10, (1,)), seed=seeds(), dtype=choice(np.float64, [np.float32, "int8"]))))
    add(Entry("tasks.load(digits)", lambda **k: tasks.load("digits", **k), dict(
        split=choice("train", ["val", "test", "x"]), limit=[_const("None", None), *ints(5)],
        dtype=choice(np.float32, [np.float64, "int8"])), aliases=("split",)))
    # --- interop
    from wcrnn_dyn import interop

    def sd(**over):
        rng = np.random.default_rng(0)
        d = {"weight_ih_l0": rng.standard_normal((4, 2)), "weight_hh_l0": 0.3 * rng.standard_normal((4, 4)),
             "bias_ih_l0": np.zeros(4), "bias_hh_l0": np.zeros(4)}
        d.update(over)
        return d
    add(Entry("interop.elman_from_torch", lambda **k: interop.elman_from_torch(**k), dict(
        state_dict_or_path=[_v("sd", sd), _v("nan", lambda: sd(weight_hh_l0=np.full((4, 4), np.nan))),
                            _v("lstm-shape", lambda: sd(weight_hh_l0=np.ones((16, 4)))),
                            _v("2-layer", lambda: sd(weight_ih_l1=np.ones((4, 4)))),
                            _v("empty", dict), _const("'missing.pt'", "missing.pt"), _const("'x.txt'", "x.txt"),
                            *GENERIC_BAD],
        nonlinearity=choice("tanh", ["relu", "sigmoid"]),
        readout=[_const("None", None), _const("False", False), _const("'fc'", "fc"), _const("3", 3)]),
        aliases=("weight_ih_l0", "weight_hh_l0", "state_dict", "bias_hh_l0")))
    # --- figures (the plotting functions and the results' .plot methods); figures are closed after each case
    from wcrnn_dyn import plotting as P
    import wcrnn_dyn.memory as M_

    def fig(fn):
        def call(**k):
            import matplotlib.pyplot as plt
            try:
                return fn(**k)
            finally:
                plt.close("all")
        return call

    def mc_result():
        net = wd.WCRNN(1, 6, 1, residual=R.rotational(6, 0.9), eps=0.1, seed=0)
        return M_.memory_capacity(net, 4, n_steps=300)

    def lyap_result():
        from wcrnn_dyn import lyapunov
        net = wd.WCRNN(1, 4, 1, residual=R.rotational(4, 0.9), eps=0.1, seed=0)
        return lyapunov.lyapunov_spectrum(net, np.zeros((40, 1)), burn_in=5)
    bad_axes = [_const("None", None), _const("'ax'", "ax"), _const("3", 3)]
    results_bad = [_const("None", None), _const("'abc'", "abc"), _v("array", lambda: np.ones(3)), _const("{}", {}),
                   _const("3", 3)]
    add(Entry("plotting.plot_lyapunov_spectrum", fig(lambda **k: P.plot_lyapunov_spectrum(**k)), dict(
        result=[_v("LyapunovResult", lyap_result), *arrays(lambda: np.array([-0.1, -0.2]), "LE(2)")],
        predicted=[_const("None", None), *arrays(lambda: np.array([-0.1, -0.2]), "pred(2)")[1:]],
        interval=[_const("None", None), _const("(-1, 0)", (-1.0, 0.0)), _const("(1,2,3)", (1, 2, 3)), *GENERIC_BAD],
        ax=bad_axes)))
    add(Entry("plotting.plot_lyapunov_convergence", fig(lambda **k: P.plot_lyapunov_convergence(**k)), dict(
        result=[_v("LyapunovResult", lyap_result), *results_bad], ax=bad_axes)))
    add(Entry("plotting.plot_memory_capacity", fig(lambda **k: P.plot_memory_capacity(**k)), dict(
        results=[_v("MemoryCapacity", mc_result), _v("dict", lambda: {"a": mc_result()}), *results_bad,
                 _v("dict-bad", lambda: {"a": 1})], ax=bad_axes)))
    add(Entry("plotting.plot_input_sensitivity", fig(lambda **k: P.plot_input_sensitivity(**k)), dict(
        curves=arrays(lambda: 0.9 ** np.arange(10), "M(10)") + [_v("dict", lambda: {"a": 0.9 ** np.arange(5)})],
        reference_mu=[_const("None", None), *floats(0.9)], ax=bad_axes)))
    add(Entry("plotting.plot_timescales", fig(lambda **k: P.plot_timescales(**k)), dict(
        taus=arrays(lambda: np.array([1.0, 10.0, np.inf]), "tau(3)"), bins=ints(10), ax=bad_axes),
        aliases=("taus",)))
    add(Entry("plotting.plot_eigenvalues", fig(lambda **k: P.plot_eigenvalues(**k)), dict(
        values=[_v("ev", lambda: np.array([0.5 + 0.1j, 0.9])), _v("residual", lambda: R.rotational(4, 0.9)),
                *results_bad, _v("nan", lambda: np.array([np.nan]))], ax=bad_axes)))
    add(Entry("plotting.plot_data_spectrum", fig(lambda **k: P.plot_data_spectrum(**k)), dict(
        freqs=arrays(lambda: np.linspace(0, 0.5, 9), "f(9)"), power=arrays(lambda: np.ones(9), "P(9)"),
        thetas=[_const("None", None), _const("[0.5]", [0.5]), *GENERIC_BAD], ax=bad_axes)))
    add(Entry("plotting.plot_frequency_response", fig(lambda **k: P.plot_frequency_response(**k)), dict(
        response=[_v("FrequencyResponse", lambda: spectral.frequency_response(R.rotational(4, 0.9), [0.1, 0.2])),
                  *results_bad], ax=bad_axes)))
    add(Entry("plotting.plot_learning_curve", fig(lambda **k: P.plot_learning_curve(**k)), dict(
        history=[_v("dict", lambda: {"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}),
                 *results_bad], x=choice("epoch", ["step", "time", "loss"]), baseline=[_const("None", None),
                                                                                   *floats(0.1)], ax=bad_axes)))
    add(Entry("result.plot", fig(lambda res, ax: res.plot(ax=ax)), dict(
        res=[_v("MemoryCapacity", mc_result), _v("LyapunovResult", lyap_result),
             _v("SensitivityCurve", lambda: M_.input_sensitivity(wd.WCRNN(1, 4, 1, seed=0), np.ones((10, 1)), 5))],
        ax=bad_axes)))
    # --- Lyapunov
    from wcrnn_dyn import lyapunov
    add(Entry("lyapunov.lyapunov_spectrum", lambda **k: lyapunov.lyapunov_spectrum(**k), dict(
        net=nets()[:4], X=arrays(lambda: np.random.default_rng(0).standard_normal((60, 2)), "X(60,2)"),
        k=[_const("None", None), *ints(3)], burn_in=ints(10), washout=ints(0, (5,)), qr_every=ints(1), seed=seeds(),
        n_threads=[_const("None", None), *ints(1)]),
        nonfinite_ok=True))  # documented: -inf exponents, NaN stderr / Kaplan-Yorke
    add(Entry("lyapunov.top_exponent_two_trajectories", lambda **k: lyapunov.top_exponent_two_trajectories(**k),
              dict(net=nets()[:4], X=arrays(lambda: np.random.default_rng(0).standard_normal((60, 2)), "X(60,2)"),
                   burn_in=ints(10), renorm_every=ints(1), delta=floats(1e-7), seed=seeds()),
              nonfinite_ok=True))
    # --- other engineers' newer modules: in the campaign only (slow=True), reported, not gated in CI
    from wcrnn_dyn import clv, flossing
    X1 = lambda: np.random.default_rng(0).standard_normal((80, 2))  # noqa: E731
    add(Entry("clv.covariant_lyapunov_vectors", lambda **k: clv.covariant_lyapunov_vectors(**k), dict(
        net=nets()[:4], X=arrays(X1, "X(80,2)"), k=[_const("None", None), *ints(2)], burn_in=ints(10),
        burn_out=ints(10), seed=seeds()), nonfinite_ok=True, slow=True))
    add(Entry("clv.finite_time_exponents", lambda **k: clv.finite_time_exponents(**k), dict(
        net=nets()[:4], X=arrays(X1, "X(80,2)"), window=ints(10), k=[_const("None", None), *ints(2)],
        burn_in=ints(10), seed=seeds()), nonfinite_ok=True, slow=True))
    add(Entry("flossing.flossing_loss_and_grad", lambda **k: flossing.flossing_loss_and_grad(**k), dict(
        net=nets()[:4], X=X_seq(T=30), k=ints(2), beta=floats(1.0), target=floats(0.0), seed=seeds()),
        slow=True))
    add(Entry("flossing.floss", lambda **k: flossing.floss(**k), dict(
        net=nets()[:4], X=X_seq(T=30), steps=ints(2), k=ints(2), lr=floats(1e-3), seed=seeds()),
        nonfinite_ok=True, slow=True))
    return E


# ----------------------------------------------------------------------------------------- outcome
def _nonfinite(obj, depth=0):
    """True if a result holds a non-finite float anywhere (arrays, numbers, containers, dataclasses)."""
    if depth > 6:
        return False
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            return not bool(np.all(np.isfinite(obj)))
        if obj.dtype == object:
            return any(_nonfinite(o, depth + 1) for o in obj.ravel()[:1000])
        return False
    if isinstance(obj, (bool, np.bool_)):
        return False
    if isinstance(obj, (numbers.Real, np.floating)):
        return not math.isfinite(float(obj))
    if isinstance(obj, (numbers.Complex, np.complexfloating)):
        return not (math.isfinite(obj.real) and math.isfinite(obj.imag))
    if isinstance(obj, dict):
        return any(_nonfinite(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_nonfinite(v, depth + 1) for v in obj[:1000])
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return any(_nonfinite(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj))
    return False


def classify(entry, choice_idx):
    """Run one case; return (outcome, detail)."""
    from wcrnn_dyn.models import DivergenceError
    from wcrnn_dyn.training import TrainingDiverged
    try:
        kwargs = entry.build(choice_idx)
    except Exception as e:  # pragma: no cover - a pool value that cannot be built is a catalogue bug
        return "other", f"building the arguments failed: {type(e).__name__}: {e}"
    changed = [k for k, i in choice_idx.items() if i != 0]
    try:
        with np.errstate(all="ignore"):
            res = entry.call(**kwargs)
    except (DivergenceError, TrainingDiverged) as e:
        return "clean", f"{type(e).__name__}: {str(e)[:200]}"
    except (ValueError, TypeError, FileNotFoundError) as e:  # FileNotFoundError: a named file that is missing
        msg = str(e)
        # the message must name an argument of the call (a changed one, or one it conflicts with, e.g.
        # y for loss="cross_entropy") or one of the entry's documented aliases, as a whole word
        names = list(entry.params) + list(entry.aliases)
        if not changed or any(re.search(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])", msg)
                              for n in names):
            return "clean", f"{type(e).__name__}: {msg[:200]}"
        return "unnamed", f"{type(e).__name__}: {msg[:300]}"
    except Exception as e:
        return "other", f"{type(e).__name__}: {str(e)[:300]}"
    if not entry.nonfinite_ok and _nonfinite(res):
        return "garbage", f"non-finite values in the result of type {type(res).__name__}"
    return "valid", type(res).__name__
