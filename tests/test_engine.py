"""The engine interface of the models (wcrnn_dyn.engine), the losses module and model serialisation."""
import ast
import pathlib

import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import engine, losses, serialization

PKG = pathlib.Path(wd.__file__).parent


def _nets():
    rng = np.random.default_rng(0)
    yield wd.WCRNN(2, 6, 3, residual=wd.residuals.rotational(6, 0.95, rng.uniform(0.1, 3, 3)), eps=0.2, seed=1)
    yield wd.WCRNN(2, 6, 3, residual=wd.residuals.nonlinear(wd.residuals.scaled_identity(6, 0.9), scale=0.5),
                   eps=0.1, seed=2, dtype=np.float32)
    yield wd.Elman(2, 6, 3, init="wcri", eps=0.05, seed=3)


def _step(net, h, x):
    """One step of h_t = g(L h) + coupling * tanh(W h + U x + b) in float64, from the matrices alone."""
    L = net.residual.linear_part.matrix()
    z = h @ L.T
    g = (net.residual.scale * np.tanh(z / net.residual.scale), 1 - np.tanh(z / net.residual.scale) ** 2) \
        if not net.residual.is_linear else (z, None)
    a = h @ net.W.T.astype(float) + x @ net.U.T.astype(float) + net.b.astype(float)
    return g[0] + net.coupling * np.tanh(a), 1 - np.tanh(a) ** 2, g[1]


@pytest.mark.parametrize("i", range(3))
def test_trajectory_matches_a_numpy_loop(i):
    net = list(_nets())[i]
    rng = np.random.default_rng(i)
    X3, single = net.check_inputs(rng.standard_normal((3, 7, 2)))
    assert not single and X3.dtype == net.dtype
    h0 = net.check_h0(0.1 * rng.standard_normal(6), 3)
    H, DP, GP = net.trajectory(X3, h0, store=True)
    assert GP.shape[0] == (0 if net.residual.is_linear else 7)
    tol = 1e-12 if net.dtype == np.float64 else 1e-4
    h = h0.astype(np.float64)
    for t in range(7):
        h, dp, gp = _step(net, h, X3[:, t].astype(float))
        np.testing.assert_allclose(H[t], h, rtol=tol, atol=tol)
        np.testing.assert_allclose(DP[t], dp, rtol=tol, atol=tol)
        if gp is not None:
            np.testing.assert_allclose(GP[t], gp, rtol=tol, atol=tol)
    Hl, _, _ = net.trajectory(X3, h0, store=False)
    np.testing.assert_array_equal(Hl[0], H[-1])


def test_coupling_and_kernel_args():
    w, _, e = _nets()
    assert w.coupling == w.eps == 0.2
    assert e.coupling == 1.0
    ka = w.kernel_args()
    assert ka.W is w.W and ka.coupling == 0.2 and ka.residual() == tuple(ka)[5:]
    k32 = w.kernel_args(np.float32)
    assert k32.W.dtype == np.float32 and k32.W.flags.c_contiguous and k32.rdiag.dtype == np.float32


def test_check_inputs_and_h0_errors():
    net = wd.WCRNN(2, 4, 1)
    with pytest.raises(TypeError, match="X"):
        net.check_inputs(None)
    with pytest.raises(ValueError, match="U_in"):
        net.check_inputs(np.zeros((3, 5, 3)), name="U_in")
    with pytest.raises(ValueError, match="h0"):
        net.check_h0(np.zeros(3), 2)
    assert net.check_h0(None, 2).shape == (2, 4)


def test_check_finite_state_names_the_step():
    net = wd.WCRNN(1, 3, 1)
    H = np.zeros((5, 1, 3))
    H[3, 0, 1] = np.nan
    with pytest.raises(engine.DivergenceError, match="time step 4 of 5"):
        net.check_finite_state(H)
    assert wd.models.DivergenceError is engine.DivergenceError


def test_losses_against_reference():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    val, dz = losses.loss_from_logits(z, y, "cross_entropy")
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert val == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-12)
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(dz, (p - onehot) / 5, atol=1e-14)
    yr = rng.standard_normal((5, 3))
    val, dz = losses.loss_from_logits(z, yr, "mse")
    assert val == pytest.approx(np.mean((z - yr) ** 2), rel=1e-12)
    np.testing.assert_allclose(dz, 2 * (z - yr) / z.size)
    with pytest.raises(ValueError, match="loss"):
        losses.check_targets(yr, 5, "l1", 3)
    with pytest.raises(ValueError, match="y labels"):
        losses.check_targets(np.array([0, 3]), 2, "cross_entropy", 3)


@pytest.mark.parametrize("i", range(3))
def test_serialization_round_trip(tmp_path, i):
    net = list(_nets())[i]
    path = net.save(tmp_path / "net.npz")
    back = wd.load_model(path)
    assert type(back) is type(net) and back.eps == net.eps and back.coupling == net.coupling
    assert serialization.model_config(back) == serialization.model_config(net)
    for k in serialization.PARAM_NAMES:
        np.testing.assert_array_equal(getattr(back, k), getattr(net, k))
    X = np.random.default_rng(0).standard_normal((2, 5, 2))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def _private_uses(path):
    """(line, text) of uses of another module's private names in one source file: ``from .m import _x`` (a
    name, not a module) and ``net._x`` / ``model._x`` attribute access outside models.py."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = path.parent
            for _ in range(max(node.level - 1, 0)):
                base = base.parent
            mod_dir = base.joinpath(*(node.module or "").split(".")) if node.module else base
            for a in node.names:
                if (not a.name.startswith("_") or a.name.startswith("__")
                        or (node.module or "").split(".")[-1].startswith("_kernels")):
                    continue
                is_module = (mod_dir / f"{a.name}.py").exists() or (mod_dir / a.name).is_dir()
                if not is_module:
                    out.append((node.lineno, f"from {node.module} import {a.name}"))
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in ("net", "model", "m", "ref")
                and path.name != "models.py"):
            out.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return out


def test_no_module_uses_private_names_of_another():
    bad = {str(p.relative_to(PKG)): u for p in PKG.rglob("*.py") if (u := _private_uses(p))}
    assert bad == {}
