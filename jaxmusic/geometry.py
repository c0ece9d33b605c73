"""Signals as vectors: inner products, projections, analysis and synthesis.

The starting point of the course: a signal ``x`` of ``N`` samples is a vector of
``C^N`` (or ``R^N``) with the inner product

    <x, y> = sum_t x(t) * conj(y(t)),

linear in its first argument and conjugate-linear in its second (the course's
analysis formula ``phi_x(k) = sum_t x(t) conj(b_k(t)) = <x, b_k>`` fixes this
convention). Every function here works on the last axis and broadcasts over the
leading ones, runs under ``jax.jit``/``vmap``/``grad``, and checks its arguments
(static checks always, NaN/inf only for concrete arrays).

Projection convention
---------------------
The course writes the projection of ``y`` on ``x`` as ``<x, y> / ||x||^2 * x``.
For real signals ``<x, y> = <y, x>`` and that is what is computed. For complex
signals the orthogonal projection (the one whose residual ``y - P_x(y)`` is
orthogonal to ``x``) needs the coefficient ``<y, x> / ||x||^2``
= ``sum_t y(t) conj(x(t)) / ||x||^2``: the analysis coefficient of ``y`` against
``x``. `projection_coefficient` and `project` use this form, so that
``projection_coefficient(b_k, y) == analysis(y, basis)[k]`` for unit vectors.

Bases
-----
A set of ``K`` vectors of length ``N`` is an array ``basis`` of shape ``(K, N)``
whose rows are the vectors ``b_k``. `analysis` computes ``<x, b_k>``, `synthesis`
computes ``sum_k c_k b_k``. For an orthonormal basis one undoes the other; for any
other set use ``analysis(..., dual=True)`` or `reconstruct` (see there).

Matrix products run at ``jax.lax.Precision.HIGHEST`` so that float32 results are
float32-accurate on accelerators too (no TF32/bfloat16 passes).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import ParameterError, check_choice, check_int, check_real, check_signal, is_concrete

__all__ = [
    "inner",
    "norm",
    "projection_coefficient",
    "project",
    "analysis",
    "synthesis",
    "gram",
    "dual_basis",
    "reconstruct",
    "fourier_basis",
    "lipschitz_ratio",
    "invariance_error",
]

_HIGHEST = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------------------
# helpers


def _array(x: Any, name: str, *, min_ndim: int = 1) -> jax.Array:
    """A finite floating/complex array with at least ``min_ndim`` axes, as a jax array."""
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        original = x
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{name} must be an array, got {type(original).__name__}") from exc
        if x.dtype.kind not in "biufc":
            raise ParameterError(
                f"{name} must be an array of numbers, got {type(original).__name__} {original!r:.60}"
            )
    check_signal(x, name=name, min_ndim=min_ndim, allow_complex=True)
    return jnp.asarray(x)


def _basis(basis: Any, name: str = "basis") -> jax.Array:
    """A finite floating/complex array of shape (K, N), K, N >= 1."""
    if not (hasattr(basis, "shape") and hasattr(basis, "dtype")):
        try:
            basis = np.asarray(basis)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{name} must be an array, got {type(basis).__name__}") from exc
    shape = basis.shape
    if len(shape) != 2:
        raise ParameterError(
            f"{name} must be a 2-d array of shape (K, N): K vectors of N samples, "
            f"got shape {tuple(shape)}"
        )
    if shape[0] < 1:
        raise ParameterError(f"{name} must hold at least one vector, got shape {tuple(shape)}")
    return _array(basis, name, min_ndim=2)


def _promote(*arrays: jax.Array) -> list[jax.Array]:
    """Cast to one common dtype (works under strict dtype promotion)."""
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(*[a.dtype for a in arrays])
    return [a.astype(dtype) for a in arrays]


def _same_length(x: jax.Array, y: jax.Array, xname: str, yname: str) -> None:
    if x.shape[-1] != y.shape[-1]:
        raise ParameterError(
            f"{xname} and {yname} must have the same length on their last axis, "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    try:
        np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except ValueError:
        raise ParameterError(
            f"the leading (batch) axes of {xname} and {yname} do not broadcast: "
            f"shapes {tuple(x.shape)} and {tuple(y.shape)}"
        ) from None


def _basis_length(x: jax.Array, basis: jax.Array, xname: str = "x") -> None:
    if x.shape[-1] != basis.shape[-1]:
        raise ParameterError(
            f"{xname} has {x.shape[-1]} samples on its last axis (shape {tuple(x.shape)}) but "
            f"the basis vectors have {basis.shape[-1]} (basis shape {tuple(basis.shape)})"
        )


def _sq_norm(x: jax.Array, axis=-1) -> jax.Array:
    """sum |x|^2 over ``axis``, real dtype."""
    return jnp.sum(jnp.real(x * jnp.conj(x)), axis=axis)


def _safe_sqrt(s: jax.Array) -> jax.Array:
    """sqrt with a zero (not NaN) gradient at 0."""
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, jnp.ones_like(s))), jnp.zeros_like(s))


def _check_rtol(rtol: Any) -> float | None:
    if rtol is None:
        return None
    return check_real("rtol", rtol, min=0.0)


def _rank(basis: jax.Array, rtol: float | None) -> int:
    """Numerical rank with the cutoff `jnp.linalg.pinv` uses: rtol * largest singular value."""
    b = np.asarray(basis)
    s = np.linalg.svd(b, compute_uv=False)
    if rtol is None:
        rtol = max(b.shape) * np.finfo(s.dtype).eps
    return int(np.count_nonzero(s > rtol * s.max())) if s.size else 0


def _check_callable(name: str, f: Any) -> None:
    if not callable(f):
        raise ParameterError(f"{name} must be a callable, got {f!r} ({type(f).__name__})")


def _tree_sq_dist(a: Any, b: Any | None, aname: str, bname: str) -> jax.Array:
    """sum over every leaf of |a - b|^2 (|a|^2 when ``b`` is None), a real scalar."""
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    if b is None:
        leaves_b = [None] * len(leaves_a)
    else:
        leaves_b, tree_b = jax.tree_util.tree_flatten(b)
        if tree_a != tree_b:
            raise ParameterError(
                f"{aname} and {bname} have different structures: {tree_a} and {tree_b}"
            )
    if not leaves_a:
        raise ParameterError(f"{aname} holds no arrays")
    totals = []
    for la, lb in zip(leaves_a, leaves_b):
        la = jnp.asarray(la)
        if not jnp.issubdtype(la.dtype, jnp.inexact):
            la = la.astype(jnp.float32)
        if lb is not None:
            lb = jnp.asarray(lb)
            if la.shape != lb.shape:
                raise ParameterError(
                    f"{aname} and {bname} have different shapes: {tuple(la.shape)} and "
                    f"{tuple(lb.shape)}"
                )
            if not jnp.issubdtype(lb.dtype, jnp.inexact):
                lb = lb.astype(jnp.float32)
            la, lb = _promote(la, lb)
            la = la - lb
        totals.append(_sq_norm(la, axis=None))
    totals = _promote(*totals)
    return sum(totals[1:], totals[0])


# ---------------------------------------------------------------------------
# inner product, norm, projection


def inner(x: Any, y: Any) -> jax.Array:
    """Inner product ``<x, y> = sum_t x(t) * conj(y(t))`` over the last axis.

    Linear in ``x``, conjugate-linear in ``y``; for real arrays the plain dot
    product. The leading axes broadcast.

    Parameters
    ----------
    x, y : array, shape (..., N)
        Floating or complex signals of the same length ``N``.

    Returns
    -------
    jax.Array, shape broadcast(x.shape[:-1], y.shape[:-1])
        Complex if either input is complex.

    Raises
    ------
    ParameterError
        Not arrays, integer dtypes, different lengths ``N``, leading axes that do
        not broadcast, or NaN/inf values.
    """
    x = _array(x, "x")
    y = _array(y, "y")
    _same_length(x, y, "x", "y")
    x, y = _promote(x, y)
    return jnp.sum(x * jnp.conj(y), axis=-1)


def norm(x: Any) -> jax.Array:
    """Euclidean norm ``||x|| = sqrt(<x, x>)`` over the last axis.

    The gradient at ``x = 0`` is zero rather than NaN.

    Parameters
    ----------
    x : array, shape (..., N)
        Floating or complex signal(s).

    Returns
    -------
    jax.Array, shape (...,)
        Real, non-negative.
    """
    x = _array(x, "x")
    return _safe_sqrt(_sq_norm(x))


def projection_coefficient(x: Any, y: Any) -> jax.Array:
    """Coefficient of the projection of ``y`` on ``x``: ``<y, x> / ||x||^2``.

    ``P_x(y) = projection_coefficient(x, y) * x`` is the vector of ``span{x}``
    closest to ``y``. For real signals this is the course's ``<x, y> / ||x||^2``;
    for complex signals the conjugate sits on ``x`` (``sum_t y(t) conj(x(t))``),
    which makes the residual ``y - P_x(y)`` orthogonal to ``x`` (see the module
    docstring). When ``x = 0`` the span is ``{0}`` and the coefficient is 0.

    Parameters
    ----------
    x : array, shape (..., N)
        The direction projected on.
    y : array, shape (..., N)
        The signal projected.

    Returns
    -------
    jax.Array, shape broadcast(x.shape[:-1], y.shape[:-1])

    Raises
    ------
    ParameterError
        As `inner`.
    """
    x = _array(x, "x")
    y = _array(y, "y")
    _same_length(x, y, "x", "y")
    x, y = _promote(x, y)
    ip = jnp.sum(y * jnp.conj(x), axis=-1)
    n2 = _sq_norm(x)
    positive = n2 > 0
    safe = jnp.where(positive, n2, jnp.ones_like(n2)).astype(ip.dtype)
    return jnp.where(positive, ip / safe, jnp.zeros_like(ip))


def project(y: Any, *, onto: Any) -> jax.Array:
    """Orthogonal projection of ``y`` on the line spanned by ``onto``.

    ``P_onto(y) = <y, onto> / ||onto||^2 * onto`` (see `projection_coefficient`
    for the conjugation convention); zero when ``onto`` is zero.

    Parameters
    ----------
    y : array, shape (..., N)
        The signal projected.
    onto : array, shape (..., N), keyword-only
        The direction.

    Returns
    -------
    jax.Array, shape broadcast(y.shape, onto.shape)
    """
    onto = _array(onto, "onto")
    y = _array(y, "y")
    _same_length(y, onto, "y", "onto")
    c = projection_coefficient(onto, y)
    return c[..., None] * onto.astype(c.dtype)


# ---------------------------------------------------------------------------
# analysis and synthesis


def gram(basis: Any) -> jax.Array:
    """Gram matrix ``G[j, k] = <b_j, b_k>`` of the rows of ``basis``.

    ``G`` is the identity exactly when the rows are orthonormal.

    Parameters
    ----------
    basis : array, shape (K, N)
        ``K`` vectors of ``N`` samples, one per row.

    Returns
    -------
    jax.Array, shape (K, K)
        Hermitian (symmetric for real vectors), positive semi-definite.
    """
    b = _basis(basis)
    return jnp.einsum("jn,kn->jk", b, jnp.conj(b), precision=_HIGHEST)


def dual_basis(basis: Any, *, rtol: float | None = None) -> jax.Array:
    """The canonical dual set ``(B^+)^H`` of the rows ``B`` of ``basis``.

    Its rows ``d_k`` are such that ``sum_k <x, d_k> b_k`` is the orthogonal
    projection of ``x`` on the span of the ``b_k``, with the smallest
    coefficients: ``x`` itself when the ``b_k`` span the signal space. For a
    linearly independent set, ``d = G^{-1} B`` with ``G`` the Gram matrix (the
    biorthogonal basis, ``<b_j, d_k> = delta_jk``); for an orthonormal basis,
    ``d = B``. Computed with an SVD pseudo-inverse (``jnp.linalg.pinv``), which is
    better conditioned than solving with ``G``.

    Parameters
    ----------
    basis : array, shape (K, N)
        ``K`` vectors of ``N`` samples, one per row.
    rtol : float or None, keyword-only
        Singular values below ``rtol * largest`` are treated as zero (default
        ``max(K, N) * eps`` of the dtype, as ``jnp.linalg.pinv``).

    Returns
    -------
    jax.Array, shape (K, N)
    """
    b = _basis(basis)
    rtol = _check_rtol(rtol)
    return jnp.conj(jnp.linalg.pinv(b, rtol=rtol)).T


def analysis(x: Any, basis: Any, *, dual: bool = False, rtol: float | None = None) -> jax.Array:
    """Analysis coefficients ``phi_x(k) = <x, b_k> = sum_t x(t) conj(b_k(t))``.

    Parameters
    ----------
    x : array, shape (..., N)
        Signal(s).
    basis : array, shape (K, N)
        ``K`` vectors ``b_k`` of ``N`` samples, one per row.
    dual : bool, keyword-only
        Analyse against the dual set instead (`dual_basis`): ``<x, d_k>``. These
        are the coefficients whose `synthesis` in ``basis`` gives back ``x``
        (exactly when the ``b_k`` span the signal space, otherwise its
        least-squares approximation). Not needed for an orthonormal basis, where
        the dual set is the basis itself.
    rtol : float or None, keyword-only
        Cutoff for the dual set (see `dual_basis`); only with ``dual=True``.

    Returns
    -------
    jax.Array, shape (..., K)
        Complex if ``x`` or ``basis`` is complex.

    Raises
    ------
    ParameterError
        ``basis`` not 2-d, lengths that differ, integer dtypes, NaN/inf values,
        ``rtol`` without ``dual``.
    """
    b = _basis(basis)
    x = _array(x, "x")
    _basis_length(x, b)
    if not isinstance(dual, (bool, np.bool_)):
        raise ParameterError(f"dual must be True or False, got {dual!r}")
    if dual:
        b = dual_basis(b, rtol=rtol)
    elif rtol is not None:
        raise ParameterError(f"rtol={rtol!r} only applies with dual=True")
    x, b = _promote(x, b)
    return jnp.einsum("...n,kn->...k", x, jnp.conj(b), precision=_HIGHEST)


def synthesis(coefficients: Any, basis: Any) -> jax.Array:
    """Synthesis ``x(t) = sum_k c_k b_k(t)``.

    Inverts `analysis` for an orthonormal basis; for any other set, use the
    coefficients from ``analysis(x, basis, dual=True)`` (or `reconstruct`).

    Parameters
    ----------
    coefficients : array, shape (..., K)
        One coefficient per vector.
    basis : array, shape (K, N)
        ``K`` vectors of ``N`` samples, one per row.

    Returns
    -------
    jax.Array, shape (..., N)
        Complex if either input is complex (take ``.real`` when the signal is
        known to be real, e.g. after a Fourier analysis of a real signal).

    Raises
    ------
    ParameterError
        ``basis`` not 2-d, ``coefficients.shape[-1] != K``, integer dtypes, NaN/inf.
    """
    b = _basis(basis)
    c = _array(coefficients, "coefficients")
    if c.shape[-1] != b.shape[0]:
        raise ParameterError(
            f"coefficients has {c.shape[-1]} entries on its last axis (shape {tuple(c.shape)}) "
            f"but basis has {b.shape[0]} vectors (shape {tuple(b.shape)})"
        )
    c, b = _promote(c, b)
    return jnp.einsum("...k,kn->...n", c, b, precision=_HIGHEST)


def reconstruct(
    x: Any, basis: Any, *, method: str = "exact", rtol: float | None = None
) -> jax.Array:
    """Reconstruct ``x`` from its projections on the rows of ``basis``.

    Computes ``synthesis(analysis(x, basis, dual=True), basis)``, i.e. the
    orthogonal projection of ``x`` on the span of the vectors ``b_k``:

    - a basis (``K = N`` independent vectors): exactly ``x`` (the dual basis
      ``G^{-1} B`` is used; for an orthonormal basis it is ``B`` itself);
    - an overcomplete set that spans the space (rank ``N``, ``K > N``): exactly
      ``x`` again, from the minimum-norm coefficients (canonical dual frame);
    - a set that does not span the space (``K < N``, or dependent vectors):
      the least-squares approximation, the closest point of the span to ``x``.

    Parameters
    ----------
    x : array, shape (..., N)
        Signal(s).
    basis : array, shape (K, N)
        ``K`` vectors of ``N`` samples, one per row.
    method : {"exact", "lstsq"}, keyword-only
        ``"exact"`` (default) first checks that the vectors span the signal
        space (numerical rank ``N``) and raises otherwise; ``"lstsq"`` always
        returns the least-squares approximation. The rank check needs a concrete
        ``basis``: inside ``jax.jit`` with a traced basis it is skipped and
        ``"exact"`` behaves as ``"lstsq"``.
    rtol : float or None, keyword-only
        Relative cutoff on the singular values of ``basis`` for the rank and the
        pseudo-inverse (default ``max(K, N) * eps`` of the dtype).

    Returns
    -------
    jax.Array, shape (..., N)
        Complex if ``x`` or ``basis`` is complex.

    Raises
    ------
    ParameterError
        With ``method="exact"``, a set of rank below ``N`` (the message names the
        rank and the shape); otherwise as `analysis`.
    """
    check_choice("method", method, ("exact", "lstsq"))
    b = _basis(basis)
    x = _array(x, "x")
    _basis_length(x, b)
    rtol = _check_rtol(rtol)
    if method == "exact" and is_concrete(b):
        k, n = b.shape
        rank = _rank(b, rtol)
        if rank < n:
            why = (
                f"{k} vectors cannot span {n} dimensions"
                if k < n
                else "its vectors are linearly dependent"
            )
            raise ParameterError(
                f"basis of shape ({k}, {n}) has rank {rank} < N={n} ({why}), so x cannot be "
                "reconstructed exactly from its projections; use method='lstsq' for the "
                "least-squares approximation (the orthogonal projection of x on their span)"
            )
    return synthesis(analysis(x, b, dual=True, rtol=rtol), b)


# ---------------------------------------------------------------------------
# Fourier


def fourier_basis(N: int, *, normalized: bool = True, dtype: Any = np.complex64) -> jax.Array:
    """The discrete Fourier basis: rows ``b_k(t) = exp(2i pi k t / N) / sqrt(N)``.

    With ``normalized=True`` the basis is orthonormal, so
    ``analysis(x, fourier_basis(N)) == jnp.fft.fft(x) / sqrt(N)`` and `synthesis`
    inverts it. With ``normalized=False`` the rows are unscaled and
    ``analysis`` is exactly ``jnp.fft.fft``. Built in NumPy (float64 phases,
    reduced modulo ``N``) and cast to ``dtype``; an ``(N, N)`` matrix, so meant
    for teaching and tests: transforms use ``jnp.fft``.

    Parameters
    ----------
    N : int
        Signal length, >= 1.
    normalized : bool, keyword-only
        Divide by ``sqrt(N)`` (default ``True``).
    dtype : complex dtype, keyword-only
        Default ``np.complex64``.

    Returns
    -------
    jax.Array, shape (N, N)
        Row ``k`` is the complex sinusoid of frequency ``k / N`` cycles per sample.
    """
    n = check_int("N", N, min=1)
    if not isinstance(normalized, (bool, np.bool_)):
        raise ParameterError(f"normalized must be True or False, got {normalized!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ParameterError(f"dtype must be a complex dtype, got {dtype!r}") from exc
    if dt.kind != "c":
        raise ParameterError(f"dtype must be a complex dtype such as np.complex64, got {dt.name}")
    t = np.arange(n, dtype=np.int64)
    phase = 2.0 * np.pi * (np.outer(t, t) % n) / n
    b = np.exp(1j * phase)
    if normalized:
        b = b / np.sqrt(n)
    return jnp.asarray(b.astype(dt))


# ---------------------------------------------------------------------------
# representation properties


def lipschitz_ratio(transform: Callable[[Any], Any], x: Any, y: Any) -> jax.Array:
    """Stability ratio ``||Phi x - Phi y|| / ||x - y||`` of a representation.

    A representation is stable (Lipschitz) with constant ``C`` when this ratio
    never exceeds ``C``; the identity gives 1, a unitary transform (e.g. the
    orthonormal DFT) gives 1, a contraction gives at most 1. The norms are taken
    over every element of the arrays (and over every leaf when ``transform``
    returns a pytree), so the result is one scalar per call: `jax.vmap` it for
    one ratio per example.

    Parameters
    ----------
    transform : callable
        ``Phi``, mapping an array shaped like ``x`` to an array or pytree of arrays.
    x, y : array, same shape
        Two signals; they must differ.

    Returns
    -------
    jax.Array, shape ()
        Real, non-negative.

    Raises
    ------
    ParameterError
        ``transform`` not callable; ``x`` and ``y`` of different shapes, integer,
        non-finite, or equal (the ratio is undefined; checked when concrete, under
        ``jit`` the result is then NaN); ``Phi x`` and ``Phi y`` with different
        structures or shapes.
    """
    _check_callable("transform", transform)
    x = _array(x, "x")
    y = _array(y, "y")
    if x.shape != y.shape:
        raise ParameterError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    xp, yp = _promote(x, y)
    den = _sq_norm(xp - yp, axis=None)
    if is_concrete(den) and float(den) == 0.0:
        raise ParameterError(
            f"x and y are equal (shape {tuple(x.shape)}): ||Phi x - Phi y|| / ||x - y|| is undefined"
        )
    num = _tree_sq_dist(transform(x), transform(y), "transform(x)", "transform(y)")
    num, den = _promote(num, den)
    return _safe_sqrt(num) / jnp.sqrt(den)


def invariance_error(
    transform: Callable[[Any], Any], x: Any, g: Callable[[Any], Any]
) -> jax.Array:
    """Relative invariance error ``||Phi(g x) - Phi x|| / ||Phi x||``.

    Zero when ``Phi`` is invariant to the transformation ``g`` at ``x``; e.g.
    the DFT modulus is exactly invariant to circular shifts
    (``g = lambda x: jnp.roll(x, s, axis=-1)``). Norms are over every element
    (and every leaf of a pytree output); `jax.vmap` it for one error per example.

    Parameters
    ----------
    transform : callable
        ``Phi``, mapping an array shaped like ``x`` to an array or pytree of arrays.
    x : array, shape (..., N)
        The signal.
    g : callable
        The transformation, mapping ``x`` to a transformed signal that ``Phi``
        accepts.

    Returns
    -------
    jax.Array, shape ()
        Real, non-negative.

    Raises
    ------
    ParameterError
        ``transform`` or ``g`` not callable; ``x`` not a finite floating array;
        ``Phi x`` zero (the relative error is undefined; checked when concrete,
        under ``jit`` the result is then NaN or inf); ``Phi(g x)`` and ``Phi x``
        of different structures or shapes.
    """
    _check_callable("transform", transform)
    _check_callable("g", g)
    x = _array(x, "x")
    phi = transform(x)
    den = _tree_sq_dist(phi, None, "transform(x)", "")
    if is_concrete(den) and float(den) == 0.0:
        raise ParameterError(
            f"transform(x) is zero for x of shape {tuple(x.shape)}: the relative invariance "
            "error is undefined"
        )
    num = _tree_sq_dist(transform(g(x)), phi, "transform(g(x))", "transform(x)")
    num, den = _promote(num, den)
    return _safe_sqrt(num) / jnp.sqrt(den)
