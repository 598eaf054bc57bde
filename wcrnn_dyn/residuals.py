"""Residual families of a WCRNN (docs/THEORY.md section 2).

A residual is the fixed (or optionally trainable) map R in ``h_t = R(h_{t-1}) + eps * phi(a_t)``.
Every residual has ``.n``, ``.family``, ``.eigenvalues()`` (complex, of its linear part), ``.is_linear``,
``.matrix()`` (dense (n, n), linear ones only; the linear part ``L`` for non-linear ones via
``.linear_part.matrix()``) and structured fast application:

* ``apply(h)``: R(h) for a vector (n,) or a batch of rows (..., n);
* ``jvp(h, Q)``: dR(h) @ Q for a frame Q (n, k);
* ``vjp(h, v)``: dR(h)^T v for vectors or rows.

Diagonal, identity and 2x2-block rotational residuals cost O(n) per vector and O(n k) per frame; only
dense families (orthogonal, random, dense) use a dense product.

Families: :func:`scaled_identity`, :func:`orthogonal`, :func:`rotational`, :func:`heterogeneous`
(+ :func:`heterogeneous_uniform`, :func:`heterogeneous_timescales`), :func:`heterogeneous_rotational`,
:func:`random`, :func:`dense`, :func:`nonlinear`, :func:`zero`.  :func:`from_config` rebuilds any of them
from ``residual.config()``.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._validate import as_array, check_float, check_int, check_memory, rng_from, to_numpy

__all__ = ["Residual", "DiagonalResidual", "BlockResidual", "DenseResidual", "NonlinearResidual",
           "scaled_identity", "orthogonal", "rotational", "heterogeneous", "heterogeneous_uniform",
           "heterogeneous_timescales", "heterogeneous_rotational", "heterogeneous_rotational_uniform", "random", "dense", "nonlinear", "zero",
           "rotation_blocks", "from_config", "as_residual", "haar_orthogonal", "CONSTRUCTORS"]


class Residual:
    """Base class of every residual.  Subclasses define the parameter array ``params`` and the structured maps.

    Parameters
    ----------
    n : int
        State size (>= 1).
    trainable : bool, default False
        Whether training updates ``params``.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 1 (TypeError for a non-integer type).
    """

    family = "residual"
    is_linear = True

    def __init__(self, n, trainable=False):
        self.n = check_int(n, "n", minimum=1)
        self.trainable = bool(trainable)

    # --- structure -------------------------------------------------------------------------------
    @property
    def linear_part(self):
        """The linear residual L (the residual itself when linear; ``base`` of a :class:`NonlinearResidual`)."""
        return self

    def matrix(self):
        """Dense matrix of this linear residual.

        Returns
        -------
        ndarray, shape (n, n), float64
            A new array (changing it does not change the residual).

        Raises
        ------
        TypeError
            For a non-linear residual (use ``.linear_part.matrix()``).

        Notes
        -----
        O(n^2) memory and time.
        """
        raise NotImplementedError

    def eigenvalues(self):
        """Eigenvalues of the (linear part of the) residual.

        Returns
        -------
        ndarray, shape (n,), complex
            Unordered.  At eps -> 0 the Lyapunov exponents of a WCRNN are log|eigenvalue| (docs/THEORY.md
            section 4).

        Notes
        -----
        O(n) for diagonal and block families (read off the structure), O(n^3) (``numpy.linalg.eigvals``)
        for dense ones.
        """
        return np.linalg.eigvals(self.matrix()).astype(complex)

    # --- argument checks of apply / jvp / vjp ----------------------------------------------------
    def _rows(self, x, name):
        """x as a finite float array of shape (n,) or (..., n); ValueError / TypeError naming ``name``."""
        a = as_array(x, name, dtype=None)
        if a.ndim < 1 or a.shape[-1] != self.n:
            raise ValueError(f"{name} must have shape (n,) or (..., n) with n = {self.n}, got {a.shape}")
        return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)

    def _frame(self, Q, name="Q"):
        a = as_array(Q, name, dtype=None)
        if a.ndim != 2 or a.shape[0] != self.n:
            raise ValueError(f"{name} must be a frame of shape (n, k) with n = {self.n}, got {a.shape}")
        return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)

    def _state(self, h):
        """The state of jvp / vjp: ignored (may be None) for linear residuals, a finite (n,) vector otherwise."""
        if h is None and self.is_linear:
            return None
        h = self._rows(h, "h")
        if not self.is_linear and h.ndim != 1:
            raise ValueError(f"h must be a single state of shape ({self.n},) for a non-linear residual, got {h.shape}")
        return h

    # --- application -----------------------------------------------------------------------------
    def apply(self, h):
        """R(h) for one state or a batch of rows.

        Parameters
        ----------
        h : array_like, shape (n,) or (..., n)
            Finite states (float32 or float64 are kept, other types converted to float64).

        Returns
        -------
        ndarray, same shape as ``h``

        Raises
        ------
        ValueError
            For a wrong last axis or non-finite values (TypeError for non-numeric input).

        Notes
        -----
        O(n) per row for diagonal and block families, O(n^2) for dense ones.

        Examples
        --------
        >>> import numpy as np
        >>> from wcrnn_dyn import residuals
        >>> residuals.scaled_identity(3, 0.5).apply(np.ones(3))
        array([0.5, 0.5, 0.5])
        """
        h = self._rows(h, "h")
        return h @ self.matrix().T

    def jvp(self, h, Q):
        """Jacobian-frame product dR(h) @ Q.

        Parameters
        ----------
        h : array_like, shape (n,), or None
            The state at which dR is taken; ignored by linear residuals (may be None), required by
            non-linear ones.
        Q : array_like, shape (n, k)
            The frame.

        Returns
        -------
        ndarray, shape (n, k)

        Raises
        ------
        ValueError
            For wrong shapes, non-finite values, or ``h=None`` with a non-linear residual.

        Notes
        -----
        O(n k) for diagonal and block families, O(n^2 k) for dense ones.
        """
        h, Q = self._state(h), self._frame(Q)
        return self.matrix() @ Q

    def vjp(self, h, v):
        """Vector-Jacobian product dR(h)^T v (the backward pass of BPTT).

        Parameters
        ----------
        h : array_like, shape (n,), or None
            The state at which dR is taken; ignored by linear residuals (may be None).
        v : array_like, shape (n,) or (..., n)
            Cotangent vector(s).

        Returns
        -------
        ndarray, same shape as ``v``

        Raises
        ------
        ValueError
            For wrong shapes or non-finite values.

        Notes
        -----
        O(n) per row for diagonal and block families, O(n^2) for dense ones.
        """
        h, v = self._state(h), self._rows(v, "v")
        return v @ self.matrix()

    # --- kernels ---------------------------------------------------------------------------------
    def kernel_args(self, dtype=np.float64):
        """The residual encoded for the jitted kernels of :mod:`wcrnn_dyn._kernels`.

        Parameters
        ----------
        dtype : numpy dtype, default float64
            Floating type of the returned arrays.

        Returns
        -------
        tuple
            ``(rk, rdiag, rblk, rdense, gcode, gscale)``: the kind code of the linear part, its diagonal (n,),
            its 2x2 blocks (m, 2, 2), its dense matrix (n, n) (empty arrays where unused), the code of the
            element-wise non-linearity and its scale.
        """
        raise NotImplementedError

    # --- parameters ------------------------------------------------------------------------------
    @property
    def params(self):
        """The parameter array (a view of what training updates when ``trainable``)."""
        raise NotImplementedError

    def set_params(self, value):
        """Replace the parameter array (used by training and by loading a checkpoint).

        Parameters
        ----------
        value : array_like
            New parameters, same shape as ``params``; copied.

        Raises
        ------
        ValueError
            For a wrong shape or non-finite values.
        """
        value = as_array(value, "residual params", shape=self.params.shape)
        self._set_params(value)

    def grad_from_dz(self, S, Hprev):
        """Gradient of the loss with respect to ``params``.

        Parameters
        ----------
        S : ndarray, shape (M, n)
            Rows dLoss/dz_t, z_t = L h_{t-1} the linear residual's output, stacked over time steps and samples.
        Hprev : ndarray, shape (M, n)
            The matching previous states h_{t-1}.

        Returns
        -------
        ndarray, same shape as ``params``

        Notes
        -----
        O(M n) for diagonal and block families, O(M n^2) for dense ones.
        """
        raise NotImplementedError

    # --- misc ------------------------------------------------------------------------------------
    def config(self):
        """A JSON-able description from which :func:`from_config` rebuilds the residual exactly.

        Returns
        -------
        dict
            Keys ``kind``, ``family``, ``trainable``, the parameter arrays as lists and ``meta``.
        """
        raise NotImplementedError

    def copy(self):
        """An independent copy (rebuilt from :meth:`config`).

        Returns
        -------
        Residual
        """
        return from_config(self.config())

    def spectral_radius(self):
        """Largest eigenvalue modulus of the (linear part of the) residual.

        Returns
        -------
        float
            max |eigenvalue|; exp of the largest predicted exponent at eps -> 0.
        """
        return float(np.max(np.abs(self.eigenvalues())))

    def __repr__(self):
        return f"<{type(self).__name__} family={self.family!r} n={self.n}{' trainable' if self.trainable else ''}>"


def _check_n(n, dense=False):
    """n >= 1, and a residual of that size (n values, or n x n for dense families) must fit in memory."""
    n = check_int(n, "n", minimum=1)
    check_memory(4 * n * (n if dense else 1), f"n = {n} ({'a dense' if dense else 'an'} n{' x n' if dense else ''} "
                 "residual and its construction)")
    return n


def _empty_blk(dtype):
    return np.zeros((0, 2, 2), dtype=dtype)


def _empty_dense(dtype):
    return np.zeros((0, 0), dtype=dtype)


class DiagonalResidual(Residual):
    """R(h) = diag(d) h.  Families: scaled_identity, heterogeneous, zero.

    Parameters
    ----------
    d : array_like, shape (n,)
        The diagonal (finite).
    family : str, default "heterogeneous"
        Family name recorded in :meth:`config`.
    trainable : bool, default False
    meta : dict, optional
        Construction parameters kept for the record (e.g. ``{"mu": 0.99}``).

    Notes
    -----
    Application, jvp and vjp cost O(n) per vector.
    """

    def __init__(self, d, family="heterogeneous", trainable=False, meta=None):
        d = as_array(d, "mus", ndim=1)
        super().__init__(d.shape[0], trainable)
        self.d = d
        self.family = family
        self.meta = dict(meta or {})

    def matrix(self):
        return np.diag(self.d)

    def eigenvalues(self):
        return self.d.astype(complex)

    def apply(self, h):
        h = self._rows(h, "h")
        return np.asarray(h) * self.d

    def jvp(self, h, Q):
        h, Q = self._state(h), self._frame(Q)
        return self.d[:, None] * np.asarray(Q)

    def vjp(self, h, v):
        h, v = self._state(h), self._rows(v, "v")
        return np.asarray(v) * self.d

    def kernel_args(self, dtype=np.float64):
        return (K.LIN_DIAG, self.d.astype(dtype), _empty_blk(dtype), _empty_dense(dtype), K.G_LINEAR, 1.0)

    @property
    def params(self):
        return self.d

    def _set_params(self, value):
        self.d = value.copy()

    def grad_from_dz(self, S, Hprev):
        return np.einsum("mi,mi->i", S, Hprev)

    def config(self):
        return {"kind": "diagonal", "family": self.family, "d": self.d.tolist(), "trainable": self.trainable,
                "meta": self.meta}


def rotation_blocks(mus, thetas):
    """Scaled 2x2 rotation blocks mu_k [[cos theta_k, -sin theta_k], [sin theta_k, cos theta_k]].

    Parameters
    ----------
    mus : float or array_like, shape (m,)
        Moduli (broadcast against ``thetas``).
    thetas : array_like, shape (m,)
        Angles in radians.

    Returns
    -------
    ndarray, shape (m, 2, 2), float64

    Examples
    --------
    >>> from wcrnn_dyn import residuals
    >>> residuals.rotation_blocks(2.0, [0.0]).tolist()
    [[[2.0, -0.0], [0.0, 2.0]]]
    """
    mus = np.broadcast_to(np.asarray(mus, dtype=float), np.shape(thetas))
    c, s = np.cos(thetas), np.sin(thetas)
    blk = np.empty((len(thetas), 2, 2))
    blk[:, 0, 0] = mus * c
    blk[:, 0, 1] = -mus * s
    blk[:, 1, 0] = mus * s
    blk[:, 1, 1] = mus * c
    return blk


class BlockResidual(Residual):
    """Block-diagonal residual of 2x2 blocks (units 2j, 2j+1) plus a diagonal tail (odd n).

    Families: rotational, heterogeneous_rotational.  ``params`` is the flat vector
    ``[blocks.ravel(), tail]`` of length 4 * nb + len(tail), n = 2 nb + len(tail).

    Parameters
    ----------
    blocks : array_like, shape (nb, 2, 2)
        The 2x2 blocks (units 2j, 2j+1).
    tail : array_like, shape (n - 2 nb,), default ()
        Diagonal entries after the blocks.
    family : str, default "rotational"
    trainable : bool, default False
    meta : dict, optional
        Construction parameters kept for the record.

    Raises
    ------
    ValueError
        If ``blocks`` is not of shape (nb, 2, 2) or holds non-finite values.

    Notes
    -----
    Application, jvp and vjp cost O(n) per vector; eigenvalues O(n).
    """

    def __init__(self, blocks, tail=(), family="rotational", trainable=False, meta=None):
        blocks = as_array(blocks, "blocks", ndim=3)
        if blocks.shape[1:] != (2, 2):
            raise ValueError(f"blocks must have shape (m, 2, 2), got {blocks.shape}")
        tail = as_array(np.asarray(tail, dtype=float).reshape(-1), "tail", ndim=1)
        super().__init__(2 * blocks.shape[0] + tail.shape[0], trainable)
        self.blocks = blocks
        self.tail = tail
        self.family = family
        self.meta = dict(meta or {})

    @property
    def nb(self):
        """Number of 2x2 blocks."""
        return self.blocks.shape[0]

    def matrix(self):
        M = np.zeros((self.n, self.n))
        for j in range(self.nb):
            M[2 * j:2 * j + 2, 2 * j:2 * j + 2] = self.blocks[j]
        for i, v in enumerate(self.tail):
            M[2 * self.nb + i, 2 * self.nb + i] = v
        return M

    def eigenvalues(self):
        ev = [np.linalg.eigvals(b) for b in self.blocks]
        out = np.concatenate(ev + [self.tail.astype(complex)]) if ev else self.tail.astype(complex)
        return out.astype(complex)

    def apply(self, h):
        h = self._rows(h, "h")
        h = np.asarray(h)
        out = np.empty(h.shape, dtype=np.result_type(h, float))
        x, y = h[..., 0:2 * self.nb:2], h[..., 1:2 * self.nb:2]
        B = self.blocks
        out[..., 0:2 * self.nb:2] = B[:, 0, 0] * x + B[:, 0, 1] * y
        out[..., 1:2 * self.nb:2] = B[:, 1, 0] * x + B[:, 1, 1] * y
        out[..., 2 * self.nb:] = h[..., 2 * self.nb:] * self.tail
        return out

    def jvp(self, h, Q):
        h, Q = self._state(h), self._frame(Q)
        Q = np.asarray(Q)
        return self.apply(Q.T).T

    def vjp(self, h, v):
        h, v = self._state(h), self._rows(v, "v")
        v = np.asarray(v)
        out = np.empty(v.shape, dtype=np.result_type(v, float))
        x, y = v[..., 0:2 * self.nb:2], v[..., 1:2 * self.nb:2]
        B = self.blocks
        out[..., 0:2 * self.nb:2] = B[:, 0, 0] * x + B[:, 1, 0] * y
        out[..., 1:2 * self.nb:2] = B[:, 0, 1] * x + B[:, 1, 1] * y
        out[..., 2 * self.nb:] = v[..., 2 * self.nb:] * self.tail
        return out

    def kernel_args(self, dtype=np.float64):
        rdiag = np.zeros(self.n, dtype=dtype)
        rdiag[2 * self.nb:] = self.tail
        return (K.LIN_BLOCK, rdiag, self.blocks.astype(dtype), _empty_dense(dtype), K.G_LINEAR, 1.0)

    @property
    def params(self):
        return np.concatenate([self.blocks.ravel(), self.tail])

    def _set_params(self, value):
        nb4 = 4 * self.nb
        self.blocks = value[:nb4].reshape(self.nb, 2, 2).copy()
        self.tail = value[nb4:].copy()

    def grad_from_dz(self, S, Hprev):
        nb = self.nb
        sx, sy = S[:, 0:2 * nb:2], S[:, 1:2 * nb:2]
        hx, hy = Hprev[:, 0:2 * nb:2], Hprev[:, 1:2 * nb:2]
        g = np.empty((nb, 2, 2))
        g[:, 0, 0] = np.einsum("mj,mj->j", sx, hx)
        g[:, 0, 1] = np.einsum("mj,mj->j", sx, hy)
        g[:, 1, 0] = np.einsum("mj,mj->j", sy, hx)
        g[:, 1, 1] = np.einsum("mj,mj->j", sy, hy)
        gt = np.einsum("mi,mi->i", S[:, 2 * nb:], Hprev[:, 2 * nb:])
        return np.concatenate([g.ravel(), gt])

    def config(self):
        return {"kind": "block", "family": self.family, "blocks": self.blocks.tolist(),
                "tail": self.tail.tolist(), "trainable": self.trainable, "meta": self.meta}


class DenseResidual(Residual):
    """R(h) = M h with a dense matrix.  Families: orthogonal, random, dense.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Finite square matrix (kept as given, not copied).
    family : str, default "dense"
    trainable : bool, default False
    meta : dict, optional
        Construction parameters kept for the record.

    Raises
    ------
    ValueError
        If ``matrix`` is not square or holds non-finite values.

    Notes
    -----
    Application and vjp cost O(n^2) per vector, jvp O(n^2 k) per frame, eigenvalues O(n^3).
    """

    def __init__(self, matrix, family="dense", trainable=False, meta=None):
        M = as_array(matrix, "matrix", ndim=2)
        if M.shape[0] != M.shape[1]:
            raise ValueError(f"matrix must be square (n, n), got {M.shape}")
        super().__init__(M.shape[0], trainable)
        self.M = M
        self.family = family
        self.meta = dict(meta or {})

    def matrix(self):
        return self.M.copy()

    def apply(self, h):
        h = self._rows(h, "h")
        return np.asarray(h) @ self.M.T

    def jvp(self, h, Q):
        h, Q = self._state(h), self._frame(Q)
        return self.M @ np.asarray(Q)

    def vjp(self, h, v):
        h, v = self._state(h), self._rows(v, "v")
        return np.asarray(v) @ self.M

    def kernel_args(self, dtype=np.float64):
        return (K.LIN_DENSE, np.zeros(self.n, dtype=dtype), _empty_blk(dtype), self.M.astype(dtype),
                K.G_LINEAR, 1.0)

    @property
    def params(self):
        return self.M

    def _set_params(self, value):
        self.M = value.copy()

    def grad_from_dz(self, S, Hprev):
        return S.T @ Hprev

    def config(self):
        return {"kind": "dense", "family": self.family, "matrix": self.M.tolist(), "trainable": self.trainable,
                "meta": self.meta}


class NonlinearResidual(Residual):
    """Element-wise non-linear residual R(h) = s * tanh(L h / s) around a linear residual L.

    Near h = 0 it acts like L (g'(0) = 1); ``scale`` s sets where it saturates (s -> inf is linear).
    With L = mu I and mu > 1 the state stays bounded: the exponents are the trajectory averages of
    log|g'(z)| + log mu (measured, see docs/THEORY.md section 4.6).  Parameters (trainable) are those of L.

    Parameters
    ----------
    base : Residual
        The linear residual L.
    g : {"tanh"}
        The element-wise non-linearity (only tanh).
    scale : float, default 1.0
        Saturation scale s > 0.
    trainable : bool, default False

    Raises
    ------
    TypeError
        If ``base`` is not a linear residual object.
    ValueError
        For another ``g`` or ``scale <= 0``.
    """

    family = "nonlinear"
    is_linear = False

    def __init__(self, base, g="tanh", scale=1.0, trainable=False):
        if not isinstance(base, Residual) or not base.is_linear:
            raise TypeError("base must be a linear residual object")
        if g != "tanh":
            raise ValueError(f"g must be 'tanh', got {g!r}")
        super().__init__(base.n, trainable)
        self.base = base
        self.g = g
        self.scale = check_float(scale, "scale", minimum=0.0, strict_min=True)

    @property
    def linear_part(self):
        """The linear residual L inside the non-linearity."""
        return self.base

    def matrix(self):
        raise TypeError("a non-linear residual has no matrix; use .linear_part.matrix() or .jacobian(h)")

    def eigenvalues(self):
        """Eigenvalues of the linearisation at h = 0 (g'(0) = 1), i.e. of the linear part.

        Returns
        -------
        ndarray, shape (n,), complex
        """
        return self.base.eigenvalues()

    def _gprime(self, z):
        t = np.tanh(z / self.scale)
        return 1.0 - t * t

    def apply(self, h):
        h = self._rows(h, "h")
        return self.scale * np.tanh(self.base.apply(h) / self.scale)

    def jacobian(self, h):
        """Dense Jacobian dR(h) = diag(g'(L h / s)) L at a single state.

        Parameters
        ----------
        h : array_like, shape (n,)

        Returns
        -------
        ndarray, shape (n, n)

        Notes
        -----
        O(n^2) memory; the structured :meth:`jvp` avoids forming it.
        """
        z = self.base.apply(np.asarray(h))
        return self._gprime(z)[:, None] * self.base.matrix()

    def jvp(self, h, Q):
        h, Q = self._state(h), self._frame(Q)
        z = self.base.apply(np.asarray(h))
        return self._gprime(z)[:, None] * self.base.jvp(None, Q)

    def vjp(self, h, v):
        h, v = self._state(h), self._rows(v, "v")
        z = self.base.apply(np.asarray(h))
        return self.base.vjp(None, self._gprime(z) * np.asarray(v))

    def kernel_args(self, dtype=np.float64):
        rk, rdiag, rblk, rdense, _, _ = self.base.kernel_args(dtype)
        return (rk, rdiag, rblk, rdense, K.G_TANH, float(self.scale))

    @property
    def params(self):
        return self.base.params

    def _set_params(self, value):
        self.base._set_params(value)

    def grad_from_dz(self, S, Hprev):
        return self.base.grad_from_dz(S, Hprev)

    def config(self):
        return {"kind": "nonlinear", "family": "nonlinear", "g": self.g, "scale": self.scale,
                "base": self.base.config(), "trainable": self.trainable}


# ------------------------------------------------------------------------------------------------
# Family constructors (public API)
# ------------------------------------------------------------------------------------------------

def scaled_identity(n, mu, trainable=False):
    """R = mu I: every exponent equals log mu at eps -> 0.  O(n) application.

    Parameters
    ----------
    n : int
        State size (>= 1).
    mu : float
        The common eigenvalue.
    trainable : bool, default False

    Returns
    -------
    DiagonalResidual
        Family "scaled_identity".

    Raises
    ------
    ValueError
        For ``n < 1`` or a non-finite ``mu``.

    Examples
    --------
    >>> from wcrnn_dyn import residuals
    >>> r = residuals.scaled_identity(4, 0.99)
    >>> r.family, r.n, round(r.spectral_radius(), 2)
    ('scaled_identity', 4, 0.99)
    """
    n = _check_n(n)
    mu = check_float(mu, "mu")
    return DiagonalResidual(np.full(n, mu), family="scaled_identity", trainable=trainable, meta={"mu": mu})


def zero(n):
    """R = 0 (the residual of an Elman network).

    Parameters
    ----------
    n : int
        State size (>= 1).

    Returns
    -------
    DiagonalResidual
        Family "zero".

    Notes
    -----
    O(n) to build; O(n) per application, jvp and vjp.
    """
    n = _check_n(n)
    return DiagonalResidual(np.zeros(n), family="zero", meta={"mu": 0.0})


def heterogeneous(mus, trainable=False):
    """R = diag(mus): unit i has exponent log|mu_i| at eps -> 0.  O(n) application.

    Parameters
    ----------
    mus : array_like, shape (n,)
        The diagonal (finite, at least one entry).
    trainable : bool, default False

    Returns
    -------
    DiagonalResidual
        Family "heterogeneous".

    Raises
    ------
    ValueError
        For an empty or non-finite ``mus``.

    Examples
    --------
    >>> from wcrnn_dyn import residuals
    >>> residuals.heterogeneous([0.9, 0.5]).eigenvalues().real.tolist()
    [0.9, 0.5]
    """
    mus = as_array(mus, "mus", ndim=1)
    if mus.shape[0] < 1:
        raise ValueError("mus must have at least one entry")
    return DiagonalResidual(mus, family="heterogeneous", trainable=trainable)


def heterogeneous_uniform(n, mu_min, mu_max, seed=None, trainable=False):
    """Diagonal residual with mu_i drawn uniformly from [mu_min, mu_max] (sorted descending).

    Parameters
    ----------
    n : int
        State size (>= 1).
    mu_min, mu_max : float
        Range of the diagonal, ``mu_min <= mu_max``.
    seed : None, int or numpy.random.Generator, optional
        Random source (a Generator is drawn from in place).
    trainable : bool, default False

    Returns
    -------
    DiagonalResidual
        Family "heterogeneous".

    Raises
    ------
    ValueError
        If ``mu_max < mu_min``, or for non-finite values.

    Notes
    -----
    O(n log n) to build (one sort); O(n) per application, jvp and vjp.
    """
    n = _check_n(n)
    mu_min = check_float(mu_min, "mu_min")
    mu_max = check_float(mu_max, "mu_max")
    if mu_max < mu_min:
        raise ValueError(f"mu_max must be >= mu_min, got {mu_max} < {mu_min}")
    mus = np.sort(rng_from(seed).uniform(mu_min, mu_max, n))[::-1]
    r = DiagonalResidual(mus, family="heterogeneous", trainable=trainable,
                         meta={"mu_min": mu_min, "mu_max": mu_max, "distribution": "uniform"})
    return r


def heterogeneous_timescales(n, tau_min, tau_max, seed=None, trainable=False):
    """Diagonal residual with timescales tau_i log-uniform on [tau_min, tau_max] steps, mu_i = exp(-1/tau_i).

    Unit i then has exponent -1/tau_i at eps -> 0 (docs/THEORY.md section 4.5).

    Parameters
    ----------
    n : int
        State size (>= 1).
    tau_min, tau_max : float
        Range of the timescales in steps, ``0 < tau_min <= tau_max``.
    seed : None, int or numpy.random.Generator, optional
    trainable : bool, default False

    Returns
    -------
    DiagonalResidual
        Family "heterogeneous", mu sorted descending.

    Raises
    ------
    ValueError
        For non-positive timescales or ``tau_max < tau_min``.

    Notes
    -----
    O(n log n) to build (one sort); O(n) per application, jvp and vjp.

    Examples
    --------
    >>> from wcrnn_dyn import residuals, theory
    >>> r = residuals.heterogeneous_timescales(100, 2.0, 200.0, seed=0)
    >>> tau = theory.predicted_timescales(r)
    >>> bool(2.0 <= tau.min() and tau.max() <= 200.0)
    True
    """
    n = _check_n(n)
    tau_min = check_float(tau_min, "tau_min", minimum=0.0, strict_min=True)
    tau_max = check_float(tau_max, "tau_max", minimum=0.0, strict_min=True)
    if tau_max < tau_min:
        raise ValueError(f"tau_max must be >= tau_min, got {tau_max} < {tau_min}")
    taus = np.exp(rng_from(seed).uniform(np.log(tau_min), np.log(tau_max), n))
    mus = np.sort(np.exp(-1.0 / taus))[::-1]
    return DiagonalResidual(mus, family="heterogeneous", trainable=trainable,
                            meta={"tau_min": tau_min, "tau_max": tau_max, "distribution": "log-uniform tau"})


def _check_thetas(thetas, m, name="thetas"):
    thetas = as_array(thetas, name, ndim=1)
    if thetas.shape[0] != m:
        raise ValueError(f"{name} must have length n // 2 = {m}, got {thetas.shape[0]}")
    return thetas


def rotational(n, mu, thetas=None, trainable=False):
    """R = mu blockdiag(Rot(theta_1), ..., Rot(theta_{n//2})) (odd n: one extra 1x1 block mu).

    Eigenvalues mu e^{+-i theta_k}; every exponent is log mu at eps -> 0; block k resonates at
    theta_k / (2 pi) cycles per step.  O(n) application.

    Parameters
    ----------
    n : int
        State size (>= 1).
    mu : float
        Modulus of every eigenvalue.
    thetas : array_like, shape (n // 2,), optional
        Rotation angles in radians; None spaces them evenly in (0, pi): theta_k = pi (k + 1/2) / (n // 2).
    trainable : bool, default False

    Returns
    -------
    BlockResidual
        Family "rotational".

    Raises
    ------
    ValueError
        If ``thetas`` does not have n // 2 entries, or for non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import residuals
    >>> r = residuals.rotational(4, 0.9, thetas=[0.5, 1.0])
    >>> np.abs(r.eigenvalues()).round(6), np.sort(np.abs(np.angle(r.eigenvalues()))).round(6)
    (array([0.9, 0.9, 0.9, 0.9]), array([0.5, 0.5, 1. , 1. ]))
    """
    n = _check_n(n)
    mu = check_float(mu, "mu")
    m = n // 2
    if thetas is None:
        thetas = np.pi * (np.arange(m) + 0.5) / max(m, 1)
    thetas = _check_thetas(thetas, m)
    tail = [mu] if n % 2 else []
    return BlockResidual(rotation_blocks(mu, thetas), tail, family="rotational", trainable=trainable,
                         meta={"mu": mu, "thetas": thetas.tolist()})


def heterogeneous_rotational(mus, thetas, tail=None, trainable=False):
    """Blocks mu_k Rot(theta_k): pairs of exponents log mu_k, frequencies theta_k / 2 pi.

    Parameters
    ----------
    mus, thetas : array_like, shape (m,)
        Moduli and angles (radians) of the blocks; n = 2 m, or 2 m + 1 with a ``tail``.
    tail : float, optional
        A last 1x1 block (odd n).
    trainable : bool, default False

    Returns
    -------
    BlockResidual
        Family "heterogeneous_rotational".

    Raises
    ------
    ValueError
        If ``mus`` and ``thetas`` differ in length, or for non-finite values.

    Notes
    -----
    O(n) to build; O(n) per application, jvp and vjp.
    """
    mus = as_array(mus, "mus", ndim=1)
    thetas = as_array(thetas, "thetas", ndim=1)
    if mus.shape != thetas.shape:
        raise ValueError(f"mus and thetas must have the same length, got {mus.shape[0]} and {thetas.shape[0]}")
    tl = [] if tail is None else [check_float(tail, "tail")]
    return BlockResidual(rotation_blocks(mus, thetas), tl, family="heterogeneous_rotational",
                         trainable=trainable, meta={"mus": mus.tolist(), "thetas": thetas.tolist()})


def heterogeneous_rotational_uniform(n, mu_min, mu_max, seed=None, trainable=False):
    """n // 2 rotation blocks mu_k Rot(theta_k) with mu_k uniform on [mu_min, mu_max] (sorted descending) and
    frequencies spread evenly, theta_k = pi (k + 1/2) / (n // 2); odd n adds a 1 x 1 tail mu_max.

    Parameters
    ----------
    n : int
        State size (>= 1).
    mu_min, mu_max : float
        Range of the block moduli, ``mu_min <= mu_max``.
    seed : None, int or numpy.random.Generator, optional
    trainable : bool, default False

    Returns
    -------
    BlockResidual
        Family "heterogeneous_rotational".

    Raises
    ------
    ValueError
        If ``mu_max < mu_min``, or for non-finite values.

    Notes
    -----
    O(n log n) to build (one sort); O(n) per application, jvp and vjp.
    """
    n = _check_n(n)
    mu_min = check_float(mu_min, "mu_min")
    mu_max = check_float(mu_max, "mu_max")
    if mu_max < mu_min:
        raise ValueError(f"mu_max must be >= mu_min, got {mu_max} < {mu_min}")
    m = n // 2
    mus = np.sort(rng_from(seed).uniform(mu_min, mu_max, m))[::-1]
    thetas = np.pi * (np.arange(m) + 0.5) / max(m, 1)
    return heterogeneous_rotational(mus, thetas, tail=mu_max if n % 2 else None, trainable=trainable)


def haar_orthogonal(n, seed=None):
    """A Haar-random (n, n) orthogonal matrix (QR of a Gaussian matrix with the signs of R's diagonal fixed).

    Parameters
    ----------
    n : int
        Size (>= 1).
    seed : None, int or numpy.random.Generator, optional
        Random source (a Generator is drawn from in place).

    Returns
    -------
    ndarray, shape (n, n)

    Notes
    -----
    O(n^3) (one QR).  Mezzadri, "How to generate random matrices from the classical compact groups",
    Notices of the AMS 54 (2007).

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import residuals
    >>> Q = residuals.haar_orthogonal(4, seed=0)
    >>> bool(np.allclose(Q @ Q.T, np.eye(4)))
    True
    """
    n = check_int(n, "n", minimum=1)
    A = rng_from(seed).standard_normal((n, n))
    Q, R = np.linalg.qr(A)
    return Q * np.sign(np.diag(R))


def orthogonal(n, mu, seed=None, trainable=False):
    """R = mu Q with Q Haar-random orthogonal (dense).  Every exponent is log mu at eps -> 0.

    Parameters
    ----------
    n : int
        State size (>= 1; the dense n x n matrix must fit in memory).
    mu : float
        Modulus of every eigenvalue.
    seed : None, int or numpy.random.Generator, optional
    trainable : bool, default False

    Returns
    -------
    DenseResidual
        Family "orthogonal".

    Raises
    ------
    ValueError
        For ``n < 1``, a non-finite ``mu``, or an n too large for memory.

    Notes
    -----
    O(n^3) to build, O(n^2) per application.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import residuals
    >>> M = residuals.orthogonal(5, 0.8, seed=0).matrix()
    >>> bool(np.allclose(M.T @ M, 0.64 * np.eye(5)))
    True
    """
    n = _check_n(n, dense=True)
    mu = check_float(mu, "mu")
    Q = haar_orthogonal(n, seed)
    return DenseResidual(mu * Q, family="orthogonal", trainable=trainable, meta={"mu": mu})


def random(n, mu, seed=None, trainable=False):
    """Non-normal residual R = mu G / rho(G) with G Gaussian: spectral radius mu, spread eigenvalues.

    Parameters
    ----------
    n : int
        State size (>= 1).
    mu : float
        Spectral radius.
    seed : None, int or numpy.random.Generator, optional
    trainable : bool, default False

    Returns
    -------
    DenseResidual
        Family "random".

    Notes
    -----
    O(n^3) to build (one eigenvalue computation), O(n^2) per application.

    Examples
    --------
    >>> from wcrnn_dyn import residuals
    >>> round(residuals.random(6, 0.9, seed=0).spectral_radius(), 12)
    0.9
    """
    n = _check_n(n, dense=True)
    mu = check_float(mu, "mu")
    G = rng_from(seed).standard_normal((n, n))
    rho = np.max(np.abs(np.linalg.eigvals(G)))
    return DenseResidual(mu * G / rho, family="random", trainable=trainable, meta={"mu": mu})


def dense(matrix, trainable=False):
    """Any fixed (n, n) matrix as a residual.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Finite square matrix.
    trainable : bool, default False

    Returns
    -------
    DenseResidual
        Family "dense".

    Raises
    ------
    ValueError
        If ``matrix`` is not square or holds non-finite values.

    Notes
    -----
    O(n^2) per application and vjp, O(n^3) for the eigenvalues.
    """
    return DenseResidual(matrix, family="dense", trainable=trainable)


def nonlinear(base, g="tanh", scale=1.0, trainable=False, n=None):
    """Element-wise non-linear residual R(h) = scale * tanh(L h / scale).

    Parameters
    ----------
    base : Residual or float
        A linear residual object L, or a float mu together with ``n`` (L = mu I).
    g : {"tanh"}
    scale : float, default 1.0
        Saturation scale s > 0 (s -> inf is linear).
    trainable : bool, default False
    n : int, optional
        State size when ``base`` is a float.

    Returns
    -------
    NonlinearResidual

    Raises
    ------
    ValueError
        If ``base`` is a float and ``n`` is missing, or for ``scale <= 0``.
    TypeError
        If ``base`` is a non-linear residual.

    Examples
    --------
    >>> import numpy as np
    >>> from wcrnn_dyn import residuals
    >>> r = residuals.nonlinear(1.5, scale=0.5, n=2)
    >>> bool(np.allclose(r.apply(np.ones(2)), 0.5 * np.tanh(3.0)))
    True
    """
    if not isinstance(base, Residual):
        if n is None:
            raise ValueError("nonlinear: give a linear residual object as base, or a float mu together with n")
        base = scaled_identity(n, base)
    return NonlinearResidual(base, g=g, scale=scale, trainable=trainable)


#: The constructor behind each ``Residual.family`` name (the registry of residual *families* with their
#: parameters and seeding is :data:`wcrnn_dyn.build.FAMILIES`).
CONSTRUCTORS = {
    "scaled_identity": scaled_identity,
    "identity": scaled_identity,
    "orthogonal": orthogonal,
    "rotational": rotational,
    "heterogeneous": heterogeneous_uniform,
    "heterogeneous_timescales": heterogeneous_timescales,
    "heterogeneous_rotational": heterogeneous_rotational,
    "random": random,
    "dense": dense,
    "nonlinear": nonlinear,
}


def from_config(cfg):
    """Rebuild a residual from ``residual.config()``.

    Parameters
    ----------
    cfg : dict
        As returned by :meth:`Residual.config` (possibly after a JSON round trip).

    Returns
    -------
    Residual
        Equal parameters, family, trainable flag and meta.

    Raises
    ------
    ValueError
        For an unknown ``kind`` or invalid arrays.

    Notes
    -----
    O(size of the stored parameters).

    Examples
    --------
    >>> from wcrnn_dyn import residuals
    >>> r = residuals.rotational(5, 0.9)
    >>> bool((residuals.from_config(r.config()).matrix() == r.matrix()).all())
    True
    """
    kind = cfg.get("kind")
    tr = bool(cfg.get("trainable", False))
    if kind == "diagonal":
        return DiagonalResidual(cfg["d"], family=cfg.get("family", "heterogeneous"), trainable=tr,
                                meta=cfg.get("meta"))
    if kind == "block":
        return BlockResidual(np.asarray(cfg["blocks"], dtype=float).reshape(-1, 2, 2), cfg.get("tail", []),
                             family=cfg.get("family", "rotational"), trainable=tr, meta=cfg.get("meta"))
    if kind == "dense":
        return DenseResidual(cfg["matrix"], family=cfg.get("family", "dense"), trainable=tr, meta=cfg.get("meta"))
    if kind == "nonlinear":
        return NonlinearResidual(from_config(cfg["base"]), g=cfg.get("g", "tanh"), scale=cfg.get("scale", 1.0),
                                 trainable=tr)
    raise ValueError(f"unknown residual config kind {kind!r}")


def as_residual(R, n=None, name="residual"):
    """Accept a residual object or an (n, n) array (-> dense residual); check the size against ``n``.

    Parameters
    ----------
    R : Residual or array_like, shape (n, n)
        A residual object (returned as is) or a square matrix (wrapped by :func:`dense`); torch tensors
        are converted.
    n : int, optional
        Required state size.
    name : str, default "residual"
        Argument name used in error messages.

    Returns
    -------
    Residual

    Raises
    ------
    TypeError
        For another type.
    ValueError
        For a non-square matrix or a size other than ``n``.
    """
    R = to_numpy(R)
    if isinstance(R, Residual):
        res = R
    elif isinstance(R, (np.ndarray, list, tuple)):
        M = as_array(R, name, ndim=2)
        if M.shape[0] != M.shape[1]:
            raise ValueError(f"{name} must be a square (n, n) matrix, got shape {M.shape}")
        res = dense(M)
    else:
        raise TypeError(f"{name} must be a residual object (wcrnn_dyn.residuals) or an (n, n) array, "
                        f"got {type(R).__name__}")
    if n is not None and res.n != n:
        raise ValueError(f"{name} has size {res.n}, expected n_hidden = {n}")
    return res


def __getattr__(name):
    if name == "FAMILIES":  # renamed: it maps family names to constructors; the registry is build.FAMILIES
        import warnings
        warnings.warn("wcrnn_dyn.residuals.FAMILIES is renamed CONSTRUCTORS (the family registry is "
                      "wcrnn_dyn.build.FAMILIES); the old name goes in the next release", DeprecationWarning,
                      stacklevel=2)
        return CONSTRUCTORS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
