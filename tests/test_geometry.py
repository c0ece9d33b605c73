"""Tests for jaxmusic.geometry: inner products, projections, bases, representation properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmusic import geometry as G
from jaxmusic._checks import ParameterError

N = 16


@pytest.fixture(autouse=True)
def strict_promotion():
    """Every function must work without implicit dtype promotion."""
    with jax.numpy_dtype_promotion("strict"):
        yield


def rng(seed=0):
    return np.random.default_rng(seed)


def real(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


def cplx(shape, seed=0):
    r = rng(seed)
    return (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(np.complex64)


def orthonormal(n, seed=0, complex_=False):
    a = cplx((n, n), seed) if complex_ else real((n, n), seed)
    q, _ = np.linalg.qr(a.astype(np.complex128 if complex_ else np.float64))
    return q.T.astype(a.dtype)  # rows orthonormal


def close(a, b, tol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0)


# ---------------------------------------------------------------------------
# inner, norm, projection


def test_inner_real_is_dot_product():
    x, y = real(N, 1), real(N, 2)
    close(G.inner(x, y), np.dot(x.astype(np.float64), y))


def test_inner_complex_convention():
    x, y = cplx(N, 1), cplx(N, 2)
    ref = np.sum(x.astype(np.complex128) * np.conj(y))
    close(G.inner(x, y), ref)
    close(G.inner(y, x), np.conj(ref))  # Hermitian symmetry
    a = np.complex64(0.5 - 2j)
    close(G.inner(a * x, y), a * ref)  # linear in the first argument
    close(G.inner(x, a * y), np.conj(a) * ref)  # conjugate-linear in the second
    assert np.asarray(G.inner(x, x)).imag == pytest.approx(0.0, abs=1e-5)


def test_inner_mixed_real_complex_and_batching():
    x = real((3, 1, N), 1)
    y = cplx((4, N), 2)
    out = G.inner(x, y)
    assert out.shape == (3, 4)
    assert out.dtype == jnp.complex64
    close(out, np.einsum("abn,cn->ac", x, np.conj(y)))


def test_norm_matches_numpy_and_has_zero_gradient_at_zero():
    x = cplx((2, N), 3)
    close(G.norm(x), np.linalg.norm(x, axis=-1))
    assert G.norm(x).dtype == jnp.float32
    grad = jax.grad(lambda v: G.norm(v))(jnp.zeros(N))
    assert np.all(np.isfinite(grad))
    assert np.all(grad == 0)


def test_projection_real_follows_course_formula():
    x, y = real(N, 1), real(N, 2)
    expected = np.dot(x, y) / np.dot(x, x) * x
    close(G.project(y, onto=x), expected)
    close(G.projection_coefficient(x, y), np.dot(x, y) / np.dot(x, x))


@pytest.mark.parametrize("make", [real, cplx])
def test_projection_residual_is_orthogonal_and_idempotent(make):
    x, y = make(N, 1), make(N, 2)
    p = G.project(y, onto=x)
    residual = jnp.asarray(y) - p
    assert abs(complex(G.inner(residual, x))) < 1e-4 * float(G.norm(x)) * float(G.norm(y))
    close(G.project(p, onto=x), p)


def test_projection_coefficient_equals_analysis_on_unit_vector():
    b = cplx(N, 5)
    b = b / np.linalg.norm(b)
    y = cplx(N, 6)
    close(G.projection_coefficient(b, y), G.analysis(y, b[None])[0])


def test_projection_onto_zero_is_zero_with_finite_gradient():
    y = real(N, 1)
    assert np.all(np.asarray(G.project(y, onto=jnp.zeros(N))) == 0)
    grad = jax.grad(lambda o: jnp.sum(G.project(jnp.asarray(y), onto=o)))(jnp.zeros(N))
    assert np.all(np.isfinite(grad))


def test_projection_batched_and_jit():
    x, y = real((5, N), 1), real((5, N), 2)
    eager = G.project(y, onto=x)
    assert eager.shape == (5, N)
    jitted = jax.jit(lambda y, x: G.project(y, onto=x))(y, x)
    close(jitted, eager)
    looped = np.stack([G.project(y[i], onto=x[i]) for i in range(5)])
    close(eager, looped)


# ---------------------------------------------------------------------------
# analysis, synthesis, bases


@pytest.mark.parametrize("complex_", [False, True])
def test_orthonormal_basis_analysis_synthesis_roundtrip(complex_):
    b = orthonormal(N, 3, complex_)
    close(G.gram(b), np.eye(N))
    x = real((4, N), 4)
    c = G.analysis(x, b)
    assert c.shape == (4, N)
    close(c, x @ np.conj(b).T)
    close(G.synthesis(c, b), x)
    # Parseval: an orthonormal analysis preserves the norm
    close(G.norm(c), np.linalg.norm(x, axis=-1))


def test_fourier_basis_matches_fft():
    b = G.fourier_basis(N)
    assert b.shape == (N, N) and b.dtype == jnp.complex64
    t = np.arange(N)
    close(b[3], np.exp(2j * np.pi * 3 * t / N) / np.sqrt(N))
    close(G.gram(b), np.eye(N))
    x = real((3, N), 7)
    fft = np.fft.fft(x.astype(np.float64), axis=-1)
    close(G.analysis(x, b), fft / np.sqrt(N))
    close(G.analysis(x, b), jnp.fft.fft(x) / jnp.sqrt(jnp.float32(N)).astype(jnp.complex64))
    close(G.analysis(x, G.fourier_basis(N, normalized=False)), fft)
    back = G.synthesis(G.analysis(x, b), b)
    close(back.real, x)
    close(back.imag, np.zeros_like(x))


def test_fourier_basis_odd_and_large_length_accuracy():
    n = 257
    x = real(n, 8)
    close(G.analysis(x, G.fourier_basis(n)), np.fft.fft(x.astype(np.float64)) / np.sqrt(n))
    assert G.fourier_basis(1).shape == (1, 1)


def test_fourier_analysis_jit_and_vmap():
    b = G.fourier_basis(N)
    x = real((6, N), 9)
    eager = G.analysis(x, b)
    close(jax.jit(G.analysis)(x, b), eager)
    close(jax.vmap(lambda v: G.analysis(v, b))(x), eager)


def test_dual_basis_biorthogonal_and_exact_reconstruction():
    b = real((N, N), 11) + 2 * np.eye(N, dtype=np.float32)  # a basis, far from orthogonal
    d = G.dual_basis(b)
    close(jnp.einsum("jn,kn->jk", b, d), np.eye(N), tol=1e-4)  # <b_j, d_k> = delta_jk
    # dual = G^{-1} B for a basis
    close(d, np.linalg.solve(np.asarray(G.gram(b), np.float64), b.astype(np.float64)), tol=1e-4)
    x = real((2, N), 12)
    close(G.synthesis(G.analysis(x, b, dual=True), b), x, tol=1e-4)
    close(G.reconstruct(x, b), x, tol=1e-4)
    # without the dual, a non-orthogonal basis does not reconstruct
    assert np.max(np.abs(np.asarray(G.synthesis(G.analysis(x, b), b)) - x)) > 0.1


def test_reconstruct_complex_basis():
    b = cplx((N, N), 13)
    x = real(N, 14)
    close(G.reconstruct(x, b), x.astype(np.complex64), tol=1e-4)


def test_overcomplete_frame_reconstructs_exactly_with_min_norm_coefficients():
    b = real((2 * N, N), 15)
    x = real(N, 16)
    close(G.reconstruct(x, b, method="exact"), x, tol=1e-4)
    c = np.asarray(G.analysis(x, b, dual=True), np.float64)
    ref, *_ = np.linalg.lstsq(b.T.astype(np.float64), x.astype(np.float64), rcond=None)
    close(c, ref, tol=1e-4)  # minimum-norm solution of sum_k c_k b_k = x


@pytest.mark.parametrize("k", [3, N - 1])
def test_incomplete_set_least_squares(k):
    b = real((k, N), 17)
    x = real((2, N), 18)
    approx = G.reconstruct(x, b, method="lstsq")
    coef, *_ = np.linalg.lstsq(b.T.astype(np.float64), x.T.astype(np.float64), rcond=None)
    close(approx, (b.T @ coef).T, tol=1e-4)
    residual = jnp.asarray(x) - approx
    close(G.analysis(residual, b), np.zeros((2, k)), tol=1e-4)  # orthogonal to the span


def test_exact_refuses_incomplete_set_naming_rank_and_shape():
    b = real((3, N), 19)
    with pytest.raises(ParameterError, match=rf"shape \(3, {N}\) has rank 3 < N={N}"):
        G.reconstruct(real(N, 1), b)


def test_exact_refuses_dependent_square_set():
    b = real((N, N), 20)
    b[-1] = b[0] + b[1]  # rank N - 1 with K = N vectors
    with pytest.raises(ParameterError, match=rf"rank {N - 1} < N={N}.*linearly dependent"):
        G.reconstruct(real(N, 1), b, method="exact")
    # least squares still works and is a projection
    approx = G.reconstruct(real(N, 1), b, method="lstsq")
    close(G.reconstruct(approx, b, method="lstsq"), approx, tol=1e-4)


def test_reconstruct_under_jit_with_traced_basis():
    b = real((N, N), 21) + 2 * np.eye(N, dtype=np.float32)
    x = real(N, 22)
    out = jax.jit(lambda x, b: G.reconstruct(x, b))(x, b)
    close(out, x, tol=1e-4)


# ---------------------------------------------------------------------------
# representation properties


def test_lipschitz_ratio_identity_and_unitary_dft():
    x, y = real(N, 1), real(N, 2)
    assert float(G.lipschitz_ratio(lambda v: v, x, y)) == pytest.approx(1.0, rel=1e-6)
    b = G.fourier_basis(N)
    assert float(G.lipschitz_ratio(lambda v: G.analysis(v, b), x, y)) == pytest.approx(1.0, rel=1e-5)
    assert float(G.lipschitz_ratio(lambda v: 3 * v, x, y)) == pytest.approx(3.0, rel=1e-6)


def test_lipschitz_ratio_modulus_is_non_expansive_and_pytree_output():
    b = G.fourier_basis(N)
    phi = lambda v: jnp.abs(G.analysis(v, b))
    for seed in range(5):
        x, y = real(N, seed), real(N, seed + 10)
        assert float(G.lipschitz_ratio(phi, x, y)) <= 1.0 + 1e-5
    pair = lambda v: {"a": v, "b": 2 * v}
    assert float(G.lipschitz_ratio(pair, real(N, 1), real(N, 2))) == pytest.approx(5**0.5, rel=1e-5)


def test_lipschitz_ratio_vmap_and_jit():
    x, y = real((4, N), 1), real((4, N), 2)
    f = lambda a, b: G.lipschitz_ratio(lambda v: 2 * v, a, b)
    out = jax.vmap(f)(x, y)
    assert out.shape == (4,)
    close(out, 2 * np.ones(4))
    close(jax.jit(f)(x[0], y[0]), 2.0)


def test_invariance_error_dft_modulus_shift_invariant():
    b = G.fourier_basis(N)
    phi = lambda v: jnp.abs(G.analysis(v, b))
    x = real(N, 3)
    for s in (1, 5, N - 1):
        err = G.invariance_error(phi, x, lambda v: jnp.roll(v, s, axis=-1))
        assert float(err) < 1e-5
    # the identity is not shift invariant
    err = G.invariance_error(lambda v: v, x, lambda v: jnp.roll(v, 1, axis=-1))
    assert float(err) > 0.5
    # and the complex DFT is not either (the shift becomes a phase)
    err = G.invariance_error(lambda v: G.analysis(v, b), x, lambda v: jnp.roll(v, 1, axis=-1))
    assert float(err) > 0.1


# ---------------------------------------------------------------------------
# bad input


def test_mismatched_lengths_name_shapes():
    with pytest.raises(ParameterError, match=r"\(16,\) and \(15,\)"):
        G.inner(real(16), real(15))
    with pytest.raises(ParameterError, match=r"\(3, 16\) and \(4, 16\)"):
        G.inner(real((3, 16)), real((4, 16)))
    with pytest.raises(ParameterError, match=r"15 samples.*\(16, 16\)"):
        G.analysis(real(15), G.fourier_basis(16))
    with pytest.raises(ParameterError, match=r"shape \(2, 5\).*16 vectors"):
        G.synthesis(real((2, 5)), G.fourier_basis(16))
    with pytest.raises(ParameterError, match=r"same shape.*\(16,\) and \(2, 16\)"):
        G.lipschitz_ratio(lambda v: v, real(16), real((2, 16)))
    with pytest.raises(ParameterError, match=r"\(16,\) and \(8,\)"):
        G.project(real(16), onto=real(8))


@pytest.mark.parametrize("shape", [(16,), (2, 4, 16), (0, 16)])
def test_basis_must_be_2d(shape):
    with pytest.raises(ParameterError, match=r"basis .*shape"):
        G.analysis(real(16), np.ones(shape, np.float32))
    with pytest.raises(ParameterError, match=r"basis"):
        G.reconstruct(real(16), np.ones(shape, np.float32))


def test_nan_inf_integer_and_non_array():
    x = real(N)
    x[3] = np.nan
    with pytest.raises(ParameterError, match=r"x has 1 NaN"):
        G.norm(x)
    b = orthonormal(N)
    b[0, 0] = np.inf
    with pytest.raises(ParameterError, match=r"basis has 1 NaN or inf"):
        G.analysis(real(N), b)
    with pytest.raises(ParameterError, match=r"floating point.*int32"):
        G.inner(np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32))
    with pytest.raises(ParameterError, match=r"x must be an array"):
        G.norm("abc")
    with pytest.raises(ParameterError, match="at least 1 axis"):
        G.norm(np.float32(1.0))


def test_bad_options():
    with pytest.raises(ParameterError, match="method"):
        G.reconstruct(real(N), orthonormal(N), method="svd")
    with pytest.raises(ParameterError, match="only applies with dual=True"):
        G.analysis(real(N), orthonormal(N), rtol=1e-3)
    with pytest.raises(ParameterError, match="rtol"):
        G.dual_basis(orthonormal(N), rtol=-1.0)
    with pytest.raises(ParameterError, match="N must be >= 1, got 0"):
        G.fourier_basis(0)
    with pytest.raises(ParameterError, match="N must be an integer"):
        G.fourier_basis(2.5)
    with pytest.raises(ParameterError, match="complex dtype.*float32"):
        G.fourier_basis(4, dtype=np.float32)
    with pytest.raises(TypeError):
        G.project(real(N), real(N))  # onto is keyword-only


def test_property_helpers_bad_input():
    x = real(N)
    with pytest.raises(ParameterError, match="x and y are equal"):
        G.lipschitz_ratio(lambda v: v, x, x)
    with pytest.raises(ParameterError, match="transform must be a callable"):
        G.lipschitz_ratio("identity", x, real(N, 1))
    with pytest.raises(ParameterError, match="g must be a callable"):
        G.invariance_error(lambda v: v, x, 3)
    with pytest.raises(ParameterError, match="transform\\(x\\) is zero"):
        G.invariance_error(lambda v: 0 * v, x, lambda v: v)
    with pytest.raises(ParameterError, match=r"different shapes: \(15,\) and \(16,\)"):
        G.invariance_error(lambda v: v, x, lambda v: v[1:])
