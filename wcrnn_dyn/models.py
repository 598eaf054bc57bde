"""WCRNN and Elman models: parameters, forward pass, readout, losses and exact BPTT gradients.

    a_t = W h_{t-1} + U x_t + b
    h_t = R(h_{t-1}) + eps * phi(a_t)          (h_0 = 0 unless given)
    y   = V h_T + c

An Elman network ``h_t = phi(W h_{t-1} + U x_t + b)`` is the same map with R = 0 and eps = 1; its
initialisations include the weakly coupled residual initialisation (WCRI) W_0 = Lambda + eps W~.

This module holds the parameters and validates inputs at the boundary.  The kernels are reached through the
engine interface (:mod:`wcrnn_dyn.engine`: ``coupling``, ``check_inputs``, ``check_h0``, ``kernel_args``,
``trajectory``), the losses live in :mod:`wcrnn_dyn.losses` and saving/loading in
:mod:`wcrnn_dyn.serialization`.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _kernels as K
from . import engine
from . import losses as _losses
from . import residuals as _res
from . import serialization
from ._validate import as_array, as_dtype, check_float, check_int, check_memory, check_n_threads, rng_from
from .engine import DivergenceError
from .losses import LOSSES
from .serialization import PARAM_NAMES, load_model, model_from_dict

__all__ = ["WCRNN", "Elman", "RecurrentNetwork", "load_model", "LOSSES", "DivergenceError"]


def activation_derivative(a, activation):
    """phi'(a) in float64 for activation "tanh", "relu" (0 at a <= 0) or "identity" (NumPy reference, O(len a))."""
    a = np.asarray(a, dtype=float)
    if activation == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if activation == "relu":
        return (a > 0).astype(float)
    return np.ones_like(a)


def _check_sizes(n_in, n_hidden, n_out):
    """Refuse networks whose parameters (and a dense residual) cannot fit in memory, before allocating."""
    check_memory(3 * n_hidden * n_hidden + n_hidden * (n_in + n_out + 1), "n_hidden / n_in / n_out "
                 f"({n_hidden} / {n_in} / {n_out}: W, a dense residual and the initialisation)")


class RecurrentNetwork:
    """Base class of :class:`WCRNN` and :class:`Elman` (use it for ``isinstance`` checks; it is not built
    directly): parameters, input checks, the engine interface, forward pass, losses, BPTT and the dense
    Jacobian.

    Engine interface (documented in :mod:`wcrnn_dyn.engine`; analyses use only these): :attr:`coupling`,
    :meth:`check_inputs`, :meth:`check_h0`, :meth:`kernel_args`, :meth:`trajectory`,
    :meth:`check_finite_state`, :meth:`workspace` and :meth:`release_workspace`.
    """

    kind = "base"

    # ------------------------------------------------------------------ construction helpers
    def _set_arrays(self, W, U, b, V, c):
        N = self.n_hidden
        dt = self.dtype
        self.W = as_array(W, "W", shape=(N, N), dtype=dt)
        self.U = as_array(U, "U", shape=(N, self.n_in), dtype=dt)
        self.b = as_array(b, "b", shape=(N,), dtype=dt)
        self.V = as_array(V, "V", shape=(self.n_out, N), dtype=dt)
        self.c = as_array(c, "c", shape=(self.n_out,), dtype=dt)

    @staticmethod
    def _check_activation(activation):
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a string, got {type(activation).__name__}")
        if activation not in K.ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(K.ACTIVATIONS)}, got {activation!r}")
        return activation

    # ------------------------------------------------------------------ parameters
    @property
    def n_params(self):
        """Number of trained scalars (W, U, b, V, c and the residual when trainable)."""
        n = sum(getattr(self, k).size for k in PARAM_NAMES)
        if self.residual.trainable:
            n += self.residual.params.size
        return int(n)

    def get_weights(self):
        """Dict of the trained arrays (copies).

        These are weights, not hyperparameters (scikit-learn's ``get_params`` means the latter).

        Returns
        -------
        dict
            "W", "U", "b", "V", "c" and "R" (``residual.params``) if the residual is trainable; copies in the
            model dtype.

        Examples
        --------
        >>> import wcrnn_dyn as wd
        >>> sorted(wd.WCRNN(1, 4, 1).get_weights())
        ['U', 'V', 'W', 'b', 'c']
        """
        p = {k: getattr(self, k).copy() for k in PARAM_NAMES}
        if self.residual.trainable:
            p["R"] = np.array(self.residual.params, dtype=self.dtype)
        return p

    def set_weights(self, weights):
        """Set trained arrays (copied into the model dtype).

        Parameters
        ----------
        weights : dict
            Any subset of the keys :meth:`get_weights` returns, each array of its parameter's shape.

        Raises
        ------
        TypeError
            If ``weights`` is not a dict.
        ValueError
            For an unknown name, a wrong shape or a non-finite array.
        """
        if not isinstance(weights, dict):
            raise TypeError(f"weights must be a dict of arrays like get_weights() returns, got "
                            f"{type(weights).__name__}")
        for k, v in weights.items():
            if k == "R":
                self.residual.set_params(np.asarray(v, dtype=float))
            elif k in PARAM_NAMES:
                setattr(self, k, as_array(v, k, shape=getattr(self, k).shape, dtype=self.dtype))
            else:
                raise ValueError(f"unknown weight name {k!r} (expected one of {PARAM_NAMES + ('R',)})")

    def get_params(self):
        """Deprecated (removed in the next release): use :meth:`get_weights`.

        Returns
        -------
        dict
            As :meth:`get_weights` (a DeprecationWarning is issued).
        """
        warnings.warn("get_params() is deprecated: it returns weights, use get_weights()", DeprecationWarning,
                      stacklevel=2)
        return self.get_weights()

    def set_params(self, params):
        """Deprecated (removed in the next release): use :meth:`set_weights`.

        Parameters
        ----------
        params : dict
            As for :meth:`set_weights` (a DeprecationWarning is issued).

        Returns
        -------
        None
        """
        warnings.warn("set_params() is deprecated: it sets weights, use set_weights()", DeprecationWarning,
                      stacklevel=2)
        return self.set_weights(params)

    def copy(self):
        """An independent copy of the network (parameters, residual and configuration).

        Returns
        -------
        WCRNN or Elman
        """
        return serialization.model_from_dict(serialization.model_to_dict(self))

    # ------------------------------------------------------------------ engine interface (see wcrnn_dyn.engine)
    @property
    def coupling(self):
        """The coupling constant of the kernels' map h_t = R(h_{t-1}) + coupling * phi(a_t) (float)."""
        raise NotImplementedError

    def check_inputs(self, X, name="X"):
        """Validate an input sequence (T, d) or batch (B, T, d) (engine interface, :mod:`wcrnn_dyn.engine`).

        Parameters
        ----------
        X : array_like
            (T, d) or (B, T, d) with d = ``n_in``.
        name : str, default "X"
            The argument name used in error messages.

        Returns
        -------
        X3 : ndarray, shape (B, T, d)
            In the model dtype (B = 1 for a single sequence).
        single : bool
            Whether a single sequence (T, d) was given.

        Raises
        ------
        TypeError
            For None or a non-numeric array.
        ValueError
            For a wrong number of axes or channels, an empty batch or sequence, or a non-finite value.

        Examples
        --------
        >>> import numpy as np, wcrnn_dyn as wd
        >>> X3, single = wd.WCRNN(2, 4, 1).check_inputs(np.zeros((10, 2)))
        >>> X3.shape, single
        ((1, 10, 2), True)
        """
        if X is None:
            raise TypeError(f"{name} must be an array of shape (T, d) or (B, T, d), got None")
        X = as_array(X, name, finite=False, dtype=None) if not isinstance(X, np.ndarray) else X
        if X.ndim == 2:
            single = True
            X = X[None]
        elif X.ndim == 3:
            single = False
        else:
            raise ValueError(f"{name} must have shape (T, d) or (B, T, d), got {X.shape}")
        X = as_array(X, name, dtype=self.dtype)
        if X.shape[2] != self.n_in:
            raise ValueError(f"{name} must have d = n_in = {self.n_in} input channels (last axis), got {X.shape[2]}")
        if X.shape[1] < 1 or X.shape[0] < 1:
            raise ValueError(f"{name} must have at least one sequence and one time step, got shape {X.shape}")
        return X, single

    def check_h0(self, h0, B):
        """Validate an initial state for ``B`` sequences (engine interface).

        Parameters
        ----------
        h0 : None or array_like
            None (zeros), (N,) (the same for every sequence) or (B, N).
        B : int
            Number of sequences.

        Returns
        -------
        ndarray, shape (B, N)
            In the model dtype.

        Raises
        ------
        ValueError
            For another shape or a non-finite value.
        """
        N = self.n_hidden
        if h0 is None:
            return np.zeros((B, N), dtype=self.dtype)
        h0 = as_array(h0, "h0", dtype=None, finite=False)
        if h0.ndim == 1:
            h0 = np.broadcast_to(h0, (B, N)) if h0.shape == (N,) else h0
        h0 = as_array(h0, "h0", shape=(B, N), dtype=self.dtype)
        return h0

    def kernel_args(self, dtype=None):
        """The parameters packed for the Numba kernels (engine interface; :func:`wcrnn_dyn.engine.kernel_args`).

        Parameters
        ----------
        dtype : numpy dtype, optional
            Default: the model dtype.

        Returns
        -------
        wcrnn_dyn.engine.KernelArgs
        """
        return engine.kernel_args(self, dtype)

    def trajectory(self, X, h0, store=True, n_threads=None):
        """One forward pass over validated inputs (engine interface; :func:`wcrnn_dyn.engine.trajectory`).

        Parameters
        ----------
        X : ndarray, shape (B, T, d)
            As :meth:`check_inputs` returns it.
        h0 : ndarray, shape (B, N)
            As :meth:`check_h0` returns it.
        store : bool, default True
            Keep the whole trajectory (else only h_T).
        n_threads : int, optional
            Row blocks run in parallel (the numbers do not depend on it).

        Returns
        -------
        H, DP, GP : ndarray
            Time-major states, phi'(a_t) and g'(z_t); see :func:`wcrnn_dyn.engine.trajectory`.

        Raises
        ------
        DivergenceError
            If a state is not finite.

        Notes
        -----
        Cost O(B T N^2).
        """
        return engine.trajectory(self, X, h0, store, n_threads)

    def check_finite_state(self, H):
        """Raise DivergenceError if a state is not finite (engine interface).

        Parameters
        ----------
        H : ndarray
            A (T, B, N) trajectory or (B, N) states.

        Raises
        ------
        DivergenceError
            Naming the first bad time step of a trajectory.
        """
        engine.check_finite_state(self, H)

    def workspace(self, key, make):
        """Buffers kept on the model between calls (engine interface; one set is kept).

        Parameters
        ----------
        key : hashable
            Describes the buffers (shapes, dtype ...).
        make : callable
            ``make()`` creates them when the last call used another key.

        Returns
        -------
        any
            The buffers stored under ``key``.
        """
        ws = getattr(self, "_ws", None)
        if ws is None or ws[0] != key:
            ws = (key, make())
            self._ws = ws
        return ws[1]

    def release_workspace(self):
        """Free the trajectory buffers kept by :meth:`loss_and_grad`."""
        self._ws = None

    # ------------------------------------------------------------------ public forward API
    def states(self, X, h0=None):
        """Hidden states h_1..h_T.

        Parameters
        ----------
        X : array_like
            (B, T, d) or (T, d).
        h0 : array_like, optional
            Initial state: None (zeros), (N,) or (B, N).

        Returns
        -------
        ndarray
            (B, T, N) for a batch, (T, N) for one sequence.

        Raises
        ------
        DivergenceError
            If any state of the trajectory is not finite (the message names the first such time step), even
            when the state becomes finite again later.

        Notes
        -----
        Cost O(B T N^2) (one GEMM per step); memory 3 x B x T x N values.

        Examples
        --------
        >>> import numpy as np, wcrnn_dyn as wd
        >>> net = wd.WCRNN(1, 4, 1, seed=0)
        >>> net.states(np.ones((10, 1))).shape
        (10, 4)
        """
        X, single = self.check_inputs(X)
        check_memory(3 * X.shape[0] * X.shape[1] * self.n_hidden,
                     f"X of shape {X.shape} (the stored trajectory, 3 x B x T x N)", np.dtype(self.dtype).itemsize)
        h0 = self.check_h0(h0, X.shape[0])
        H, _, _ = self.trajectory(X, h0, True)
        out = np.ascontiguousarray(H.transpose(1, 0, 2))
        return out[0] if single else out

    def last_state(self, X, h0=None):
        """h_T only, without storing the trajectory.

        Parameters
        ----------
        X : array_like
            (B, T, d) or (T, d).
        h0 : array_like, optional
            Initial state: None (zeros), (N,) or (B, N).

        Returns
        -------
        ndarray
            (B, N) for a batch, (N,) for one sequence.

        Raises
        ------
        DivergenceError
            If h_T is not finite (only the last state is checked: use :meth:`states` to check the whole
            trajectory).
        """
        X, single = self.check_inputs(X)
        h0 = self.check_h0(h0, X.shape[0])
        H, _, _ = self.trajectory(X, h0, False)
        return H[0, 0].copy() if single else H[0].copy()

    def predict(self, X, h0=None):
        """Readout of the last state V h_T + c.

        Parameters
        ----------
        X : array_like
            (B, T, d) or (T, d).
        h0 : array_like, optional
            Initial state: None (zeros), (N,) or (B, N).

        Returns
        -------
        ndarray
            (B, n_out) for a batch, (n_out,) for one sequence.
        """
        hT = self.last_state(X, h0)
        return hT @ self.V.T + self.c

    # ------------------------------------------------------------------ losses (see wcrnn_dyn.losses)
    def loss(self, X, y, loss="mse", h0=None):
        """Mean loss of the readout.

        Parameters
        ----------
        X : array_like, shape (B, T, d)
        y : array_like
            "mse": (B, n_out) targets ((B,) when n_out = 1); "cross_entropy": (B,) integer labels.
        loss : str, default "mse"
            "mse": mean over batch and outputs of the squared error; "cross_entropy": mean over the batch of
            -log softmax(V h_T + c)[y] (:mod:`wcrnn_dyn.losses`).
        h0 : array_like, optional

        Returns
        -------
        float

        Notes
        -----
        Cost: one forward pass.
        """
        X, single = self.check_inputs(X)
        if single:
            raise ValueError("X must be a batch (B, T, d) for loss; add a leading batch axis")
        y = _losses.check_targets(y, X.shape[0], loss, self.n_out, self.dtype)
        z = self.predict(X, h0)
        return _losses.loss_from_logits(z, y, loss)[0]

    def loss_and_grad(self, X, y, loss="mse", h0=None, n_threads=None):
        """Loss and its exact gradient by backpropagation through time (adjoint products).

        Parameters
        ----------
        X : array_like, shape (B, T, d)
        y : array_like
            Targets as for :meth:`loss`.
        loss : str, default "mse"
            "mse" or "cross_entropy".
        h0 : array_like, optional
        n_threads : int, optional
            The batch is split into ``n_threads`` row blocks run in parallel.  Default (None): one block per
            Numba thread (at most one per 16 sequences), shared among :func:`wcrnn_dyn.threads.default_threads`
            threads (fewer when other programs hold CPUs); the numbers do not depend on the load (bit for bit),
            and on ``n_threads`` only by rounding.

        Returns
        -------
        loss : float
        grads : dict
            "W", "U", "b", "V", "c" (and "R" when the residual is trainable: the gradient w.r.t.
            ``residual.params``), each of the parameter's shape and dtype.

        Raises
        ------
        DivergenceError
            Never returns non-finite values: raised (naming the array) if any state of the trajectory, the
            loss or a gradient is not finite.

        Notes
        -----
        Cost: one forward pass storing the trajectory (about 4 arrays of B*T*N, kept for reuse by the next
        call of the same shape; :meth:`release_workspace` frees them), one backward pass and one GEMM for dW,
        dU and db together: about 3x the forward FLOPs (engine: :func:`wcrnn_dyn.engine.loss_and_grad`).

        Examples
        --------
        >>> import wcrnn_dyn as wd
        >>> net = wd.WCRNN(2, 8, 1, seed=0)
        >>> X, y = wd.tasks.adding(16, 20)
        >>> L, g = net.loss_and_grad(X, y)
        >>> sorted(g), g["W"].shape
        (['U', 'V', 'W', 'b', 'c'], (8, 8))
        """
        n_threads = check_n_threads(n_threads)
        X, single = self.check_inputs(X)
        if single:
            raise ValueError("X must be a batch (B, T, d) for loss_and_grad; add a leading batch axis")
        B, T, d = X.shape
        check_memory(4 * B * T * self.n_hidden, f"X of shape {X.shape} (the stored trajectory, 4 x B x T x N)",
                     itemsize=np.dtype(self.dtype).itemsize)
        y = _losses.check_targets(y, B, loss, self.n_out, self.dtype)
        h0 = self.check_h0(h0, B)
        val, out = engine.loss_and_grad(self, X, y, loss, h0, n_threads)
        if not np.isfinite(val):
            raise DivergenceError(f"the {loss} loss is not finite ({val}) although the state is: the outputs "
                                  "overflowed (weights V or the state too large)")
        for k, g in out.items():
            if not np.all(np.isfinite(g)):
                raise DivergenceError(
                    f"the gradient of {k} is not finite although the loss ({val:.4g}) is: the backward pass "
                    "overflowed (exploding gradients; lower the weights, use a subcritical residual or a "
                    "shorter sequence)")
        return val, out

    # ------------------------------------------------------------------ Jacobian (dense, for tests/users)
    def jacobian(self, h_prev, x_t):
        """Dense one-step Jacobian dh_t/dh_{t-1} = R'(h_{t-1}) + coupling * diag(phi'(a_t)) W.

        Parameters
        ----------
        h_prev : array_like, shape (N,)
            The state h_{t-1}.
        x_t : array_like, shape (d,)
            The input x_t.

        Returns
        -------
        ndarray, shape (N, N)
            float64.

        Notes
        -----
        Cost O(N^2).
        """
        h_prev = as_array(h_prev, "h_prev", shape=(self.n_hidden,), dtype=np.float64)
        x_t = as_array(x_t, "x_t", shape=(self.n_in,), dtype=np.float64)
        a = self.W.astype(float) @ h_prev + self.U.astype(float) @ x_t + self.b
        dphi = activation_derivative(a, self.activation)
        R = self.residual
        if R.is_linear:
            dR = R.matrix()
        else:
            dR = R.jacobian(h_prev)
        return dR + self.coupling * dphi[:, None] * self.W.astype(float)

    # ------------------------------------------------------------------ save (see wcrnn_dyn.serialization)
    def save(self, path):
        """Save parameters and configuration to an ``.npz`` file, atomically (:func:`load_model` reads it).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
            The path written.
        """
        return serialization.save_model(self, path)

    def __repr__(self):
        return (f"{type(self).__name__}(n_in={self.n_in}, n_hidden={self.n_hidden}, n_out={self.n_out}, "
                f"residual={self.residual!r}, eps={getattr(self, 'eps', None)}, activation={self.activation!r}, "
                f"dtype={np.dtype(self.dtype).name})")


_RecurrentBase = RecurrentNetwork  # older name, kept for external code

class WCRNN(RecurrentNetwork):
    """Weakly coupled residual RNN  h_t = R(h_{t-1}) + eps * phi(W h_{t-1} + U x_t + b),  y = V h_T + c.

    Parameters
    ----------
    n_in, n_hidden, n_out : sizes d, N and the number of outputs.
    residual : a residual object from :mod:`wcrnn_dyn.residuals` or an (N, N) array
        (default: ``scaled_identity(N, 0.99)``, weakly subcritical).
    eps : coupling constant > 0 (default 0.05); 0 is allowed (pure residual dynamics).
    activation : "tanh" (default), "relu" or "identity".
    seed : None, int or numpy Generator for the initialisation: W ~ N(0, w_scale^2 / N), U ~ N(0, 1 / d),
        b = 0, V ~ N(0, 1 / N), c = 0.
    dtype : float64 (default) or float32.
    trainable_residual : if True the residual's parameters are trained too (gradient key "R").

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> net = wd.WCRNN(n_in=1, n_hidden=32, n_out=10, residual=wd.residuals.rotational(32, 0.99), eps=0.05)
    >>> X = np.random.default_rng(0).standard_normal((4, 100, 1))      # (B, T, d)
    >>> net.states(X).shape, net.predict(X).shape
    ((4, 100, 32), (4, 10))
    """

    kind = "wcrnn"

    def __init__(self, n_in, n_hidden, n_out, residual=None, eps=0.05, activation="tanh", seed=0,
                 dtype=np.float64, trainable_residual=None, w_scale=1.0):
        self.n_in = check_int(n_in, "n_in", minimum=1)
        self.n_hidden = check_int(n_hidden, "n_hidden", minimum=1)
        self.n_out = check_int(n_out, "n_out", minimum=1)
        self.dtype = as_dtype(dtype)
        _check_sizes(self.n_in, self.n_hidden, self.n_out)
        self.eps = check_float(eps, "eps", minimum=0.0)
        self.activation = self._check_activation(activation)
        w_scale = check_float(w_scale, "w_scale", minimum=0.0)
        if residual is None:
            residual = _res.scaled_identity(self.n_hidden, 0.99)
        self.residual = _res.as_residual(residual, self.n_hidden)
        if trainable_residual is not None:
            self.residual.trainable = bool(trainable_residual)
        rng = rng_from(seed)
        N, d, o = self.n_hidden, self.n_in, self.n_out
        W = rng.standard_normal((N, N)) * (w_scale / np.sqrt(N))
        U = rng.standard_normal((N, d)) / np.sqrt(d)
        V = rng.standard_normal((o, N)) / np.sqrt(N)
        self._set_arrays(W, U, np.zeros(N), V, np.zeros(o))

    @property
    def coupling(self):
        """The kernels' coupling: ``eps``."""
        return self.eps

    @classmethod
    def from_arrays(cls, R, W, U, b, V, c, eps, activation="tanh", dtype=np.float64):
        """Build a WCRNN from explicit arrays, e.g. to analyse a network trained elsewhere.

        Parameters
        ----------
        R : residual or array_like
            A residual object or an (N, N) array (used as a dense linear residual).
        W : array_like, shape (N, N)
        U : array_like, shape (N, d)
        b : array_like, shape (N,)
        V : array_like, shape (n_out, N)
        c : array_like, shape (n_out,)
        eps : float
            Coupling >= 0.
        activation : str, default "tanh"
            "tanh", "relu" or "identity".
        dtype : numpy dtype, default float64
            float64 or float32; the arrays are copied and converted to it.

        Returns
        -------
        WCRNN

        Raises
        ------
        ValueError, TypeError
            Naming the array for a wrong shape, a non-numeric or a non-finite array.

        Examples
        --------
        >>> import numpy as np, wcrnn_dyn as wd
        >>> N, d = 4, 1
        >>> net = wd.WCRNN.from_arrays(0.9 * np.eye(N), np.zeros((N, N)), np.ones((N, d)), np.zeros(N),
        ...                            np.ones((1, N)), np.zeros(1), eps=0.1)
        >>> net.n_hidden, round(net.residual.spectral_radius(), 12)
        (4, 0.9)
        """
        W = as_array(W, "W", ndim=2, dtype=None, finite=False)
        U = as_array(U, "U", ndim=2, dtype=None, finite=False)
        V = as_array(V, "V", ndim=2, dtype=None, finite=False)
        if W.ndim != 2 or W.shape[0] != W.shape[1]:
            raise ValueError(f"W must have shape (N, N), got {W.shape}")
        if U.ndim != 2:
            raise ValueError(f"U must have shape (N, d), got {U.shape}")
        if V.ndim != 2:
            raise ValueError(f"V must have shape (n_out, N), got {V.shape}")
        N = W.shape[0]
        R = _res.as_residual(R, N, name="R")
        net = cls.__new__(cls)
        net.n_in, net.n_hidden, net.n_out = U.shape[1], N, V.shape[0]
        net.dtype = as_dtype(dtype)
        net.eps = check_float(eps, "eps", minimum=0.0)
        net.activation = cls._check_activation(activation)
        net.residual = R
        net._set_arrays(W, U, b, V, c)
        return net



class Elman(RecurrentNetwork):
    """Elman RNN  h_t = phi(W h_{t-1} + U x_t + b),  y = V h_T + c.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Sizes d, N and the number of outputs.
    init : str, default "default"
        Chooses W_0:

        * "default": U(-1/sqrt(N), 1/sqrt(N)) entries (PyTorch's default);
        * "orthogonal": a Haar-random orthogonal matrix;
        * "identity": the identity (IRNN, Le et al. 2015; usually with activation="relu");
        * "wcri": weakly coupled residual initialisation W_0 = Lambda + eps W~, W~ ~ N(0, 1/N), Lambda the
          matrix of ``residual`` (default scaled_identity(N, 1.0)); near h = 0 the initial exponents sit at
          log|lambda(Lambda)| (docs/THEORY.md section 1.3).
    residual : residual or array_like, optional
        Lambda for ``init="wcri"`` (a linear residual).
    eps : float, default 0.05
        The WCRI coupling the network is built with: stored as ``net.eps`` (saved and loaded with the model;
        0.0 for :meth:`from_arrays`) and used only by ``init="wcri"``.  The map itself has no coupling
        constant: the kernels' coupling, :attr:`coupling`, is 1.0 (an Elman network is the WCRNN map with
        R = 0 and coupling 1).  ``wcri_eps`` is an older name of ``eps``.
    activation : str, default "tanh"
        "tanh", "relu" or "identity".
    seed : None, int or numpy Generator, default 0
        U ~ U(-1/sqrt(N), 1/sqrt(N)), b = 0, V ~ N(0, 1/N), c = 0.  W trains freely afterwards.
    dtype : numpy dtype, default float64
        float64 or float32.

    Raises
    ------
    ValueError, TypeError
        Naming the argument (an unknown ``init``, a non-linear residual for "wcri", bad sizes ...).

    Examples
    --------
    >>> import numpy as np, wcrnn_dyn as wd
    >>> net = wd.Elman(1, 16, 1, init="wcri", eps=0.05, seed=0)
    >>> net.predict(np.zeros((20, 1))).shape
    (1,)
    >>> net.eps, net.coupling
    (0.05, 1.0)
    """

    kind = "elman"
    INITS = ("default", "orthogonal", "identity", "wcri")

    def __init__(self, n_in, n_hidden, n_out, init="default", residual=None, eps=0.05, activation="tanh",
                 seed=0, dtype=np.float64):
        self.n_in = check_int(n_in, "n_in", minimum=1)
        self.n_hidden = check_int(n_hidden, "n_hidden", minimum=1)
        self.n_out = check_int(n_out, "n_out", minimum=1)
        self.dtype = as_dtype(dtype)
        _check_sizes(self.n_in, self.n_hidden, self.n_out)
        self.activation = self._check_activation(activation)
        if not isinstance(init, str) or init not in self.INITS:
            raise ValueError(f"init must be one of {self.INITS}, got {init!r}")
        self.init = init
        self.eps = check_float(eps, "eps", minimum=0.0)
        N, d, o = self.n_hidden, self.n_in, self.n_out
        rng = rng_from(seed)
        k = 1.0 / np.sqrt(N)
        if init == "default":
            W = rng.uniform(-k, k, (N, N))
        elif init == "orthogonal":
            W = _res.haar_orthogonal(N, rng)
        elif init == "identity":
            W = np.eye(N)
        else:
            lam = _res.scaled_identity(N, 1.0) if residual is None else _res.as_residual(residual, N)
            if not lam.is_linear:
                raise ValueError("wcri needs a linear residual (its matrix is the initial W)")
            self.init_residual = lam
            W = lam.matrix() + self.eps * rng.standard_normal((N, N)) / np.sqrt(N)
        U = rng.uniform(-k, k, (N, d))
        V = rng.standard_normal((o, N)) / np.sqrt(N)
        self.residual = _res.zero(N)
        self._set_arrays(W, U, np.zeros(N), V, np.zeros(o))

    @property
    def coupling(self):
        """The kernels' coupling: 1 (h_t = phi(a_t)); ``eps`` is the WCRI coupling instead."""
        return 1.0

    def __setstate__(self, state):
        # objects pickled before eps held the WCRI coupling stored it as "wcri_eps"
        if "wcri_eps" in state and "eps" not in state:
            state = dict(state)
            state["eps"] = state.pop("wcri_eps")
        self.__dict__.update(state)

    @property
    def wcri_eps(self):
        """Older name of :attr:`eps` (the WCRI coupling)."""
        return self.eps

    @wcri_eps.setter
    def wcri_eps(self, value):
        self.eps = value

    @classmethod
    def from_arrays(cls, W, U, b, V, c, activation="tanh", dtype=np.float64):
        """Build an Elman network h_t = phi(W h_{t-1} + U x_t + b), y = V h_T + c from explicit arrays.

        This is how a network trained elsewhere is analysed: a ``torch.nn.RNN``'s ``weight_hh_l0``,
        ``weight_ih_l0`` and ``bias_ih_l0 + bias_hh_l0`` are W, U and b (see
        :func:`wcrnn_dyn.interop.elman_from_torch`, which also reads the readout).

        Parameters
        ----------
        W : array_like, shape (N, N)
        U : array_like, shape (N, d)
        b : array_like, shape (N,)
        V : array_like, shape (n_out, N)
        c : array_like, shape (n_out,)
        activation : str, default "tanh"
            "tanh", "relu" or "identity".
        dtype : numpy dtype, default float64

        Returns
        -------
        Elman
            With ``init = "arrays"`` and ``eps = 0.0`` (no WCRI).

        Raises
        ------
        ValueError, TypeError
            Naming the array for a wrong shape, a non-numeric or a non-finite array.

        Examples
        --------
        >>> import numpy as np, wcrnn_dyn as wd
        >>> rng = np.random.default_rng(0)
        >>> W, U = 0.5 * rng.standard_normal((3, 3)), rng.standard_normal((3, 2))
        >>> net = wd.Elman.from_arrays(W, U, np.zeros(3), np.ones((1, 3)), np.zeros(1))
        >>> x = rng.standard_normal((5, 2))
        >>> h = np.zeros(3)
        >>> for t in range(5):
        ...     h = np.tanh(W @ h + U @ x[t])
        >>> bool(np.allclose(net.states(x)[-1], h))
        True
        """
        W = as_array(W, "W", ndim=2, dtype=None, finite=False)
        U = as_array(U, "U", ndim=2, dtype=None, finite=False)
        V = as_array(V, "V", ndim=2, dtype=None, finite=False)
        if W.ndim != 2 or W.shape[0] != W.shape[1]:
            raise ValueError(f"W must have shape (N, N), got {W.shape}")
        if U.ndim != 2 or V.ndim != 2:
            raise ValueError("U must be (N, d) and V (n_out, N)")
        net = cls.__new__(cls)
        net.n_in, net.n_hidden, net.n_out = U.shape[1], W.shape[0], V.shape[0]
        net.dtype = as_dtype(dtype)
        net.activation = cls._check_activation(activation)
        net.init = "arrays"
        net.eps = 0.0
        net.residual = _res.zero(net.n_hidden)
        net._set_arrays(W, U, b, V, c)
        return net


def load_model_from_dict(d):
    """Same as :func:`wcrnn_dyn.serialization.model_from_dict` (kept for older imports).

    Parameters
    ----------
    d : dict

    Returns
    -------
    WCRNN or Elman
    """
    return model_from_dict(d)
