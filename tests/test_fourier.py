"""Tests for jaxmusic.fourier: DFT pair, windows, framing, STFT/ISTFT against librosa."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import scipy.signal
from jax.test_util import check_grads

from jaxmusic import fourier as F
from jaxmusic._checks import ParameterError

RNG = np.random.default_rng(1234)
Y32 = RNG.standard_normal(4000).astype(np.float32)
Y64 = RNG.standard_normal(3001)


def rel_l2(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# --------------------------------------------------------------------------- DFT


def test_dft_is_course_equation_6_and_idft_inverts():
    x = RNG.standard_normal((3, 50)).astype(np.float32)
    X = F.dft(x)
    assert X.shape == (3, 50) and X.dtype == jnp.complex64
    t = np.arange(50)
    explicit = np.array([[np.sum(row * np.exp(-2j * np.pi * k * t / 50)) for k in range(50)] for row in x])
    assert rel_l2(X, explicit) < 1e-6
    # analysis in the Fourier basis, synthesis (eq. (7)) with 1/T
    B = F.fourier_basis(50)
    assert rel_l2(X, x @ B.conj().T) < 1e-6
    assert np.allclose(np.asarray(F.idft(X)), x, atol=1e-6)
    assert np.allclose(np.asarray(F.idft(X)), np.asarray(X) @ B / 50, atol=1e-5)
    z = x + 1j * RNG.standard_normal((3, 50))
    with jax.enable_x64(True):
        Z = F.dft(z)
        assert Z.dtype == jnp.complex128
        assert np.allclose(np.asarray(F.idft(Z)), z, atol=1e-12)


def test_dft_rejects_bad_input():
    with pytest.raises(ParameterError, match="int16"):
        F.dft(np.zeros(8, np.int16))
    with pytest.raises(ParameterError, match="NaN or inf"):
        F.idft(np.array([1.0, np.nan]))
    with pytest.raises(ParameterError, match=r"shape \(\)"):
        F.dft(np.float32(1.0))


# ----------------------------------------------------------------------- windows


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "boxcar", "ones", "triang", ("kaiser", 8.0)])
@pytest.mark.parametrize("n", [1, 2, 7, 64])
@pytest.mark.parametrize("fftbins", [True, False])
def test_get_window_matches_scipy(window, n, fftbins):
    w = F.get_window(window, n, fftbins=fftbins)
    assert w.shape == (n,)
    np.testing.assert_allclose(w, scipy.signal.get_window(window, n, fftbins=fftbins), atol=1e-14)


def test_get_window_other_specs_and_errors():
    np.testing.assert_array_equal(F.get_window(np.ones(5), 5), np.ones(5))
    np.testing.assert_allclose(F.get_window(lambda n: np.arange(n) / n, 4), [0, 0.25, 0.5, 0.75])
    with pytest.raises(ParameterError, match="nope"):
        F.get_window("nope", 16)
    with pytest.raises(ParameterError, match=r"\(3,\)"):
        F.get_window(np.ones(3), 4)
    with pytest.raises(ParameterError, match="n must be >= 1, got 0"):
        F.get_window("hann", 0)
    assert not F.get_window("hann", 16).flags.writeable  # the cache cannot be corrupted


# ----------------------------------------------------------------------- framing


@pytest.mark.parametrize("frame_length,hop", [(256, 64), (100, 30), (1000, 3), (16, 16)])
def test_frame_matches_librosa(frame_length, hop):
    got = F.frame(Y32, frame_length=frame_length, hop_length=hop)
    want = librosa.util.frame(Y32, frame_length=frame_length, hop_length=hop)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("frame_length,hop", [(64, 16), (60, 25), (300, 7)])  # block and scatter paths
def test_overlap_add_matches_numpy_loop(frame_length, hop):
    frames = RNG.standard_normal((2, 9, frame_length)).astype(np.float32)
    got = F.overlap_add(jnp.asarray(frames), hop_length=hop)
    want = F.overlap_add(frames, hop_length=hop, xp=np)
    assert got.shape == (2, frame_length + hop * 8)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


def test_frame_too_short_raises():
    with pytest.raises(ParameterError, match="too short: 10 samples"):
        F.frame(np.zeros(10, np.float32), frame_length=16, hop_length=4)


# ------------------------------------------------------------------------- STFT

STFT_CASES = [
    dict(),
    dict(n_fft=512, hop_length=128),
    dict(n_fft=511, hop_length=100, win_length=300),
    dict(n_fft=256, hop_length=7, center=False),
    dict(n_fft=1000, hop_length=3),
    dict(n_fft=512, pad_mode="reflect"),
    dict(n_fft=512, pad_mode="edge", window="hamming", win_length=400),
    dict(n_fft=8192, hop_length=512),  # longer than the signal: librosa pads and warns
]


@pytest.mark.filterwarnings("ignore:n_fft=")
@pytest.mark.parametrize("kw", STFT_CASES, ids=str)
def test_stft_matches_librosa_float32(kw):
    got = F.stft(Y32, **kw)
    want = librosa.stft(Y32, **kw)
    assert got.shape == want.shape and got.dtype == jnp.complex64
    assert rel_l2(got, want) < 1e-5
    assert np.max(np.abs(np.asarray(got) - want)) < 1e-5 * np.max(np.abs(want))


@pytest.mark.parametrize("kw", STFT_CASES[:5], ids=str)
def test_stft_istft_match_librosa_float64(kw):
    with jax.enable_x64(True):
        got = F.stft(Y64, **kw)
        want = librosa.stft(Y64, **kw)
        assert got.dtype == jnp.complex128
        assert rel_l2(got, want) < 1e-12
        ikw = {k: v for k, v in kw.items() if k != "pad_mode"}
        y_hat = F.istft(got, **ikw, length=len(Y64))
        assert y_hat.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(y_hat), librosa.istft(want, **ikw, length=len(Y64)), atol=1e-9)


@pytest.mark.parametrize("kw", [dict(), dict(n_fft=512, hop_length=128), dict(n_fft=511, hop_length=100, win_length=300),
                                dict(n_fft=1000, hop_length=3), dict(n_fft=256, hop_length=64, window="hamming")], ids=str)
def test_istft_reconstructs_and_matches_librosa(kw):
    D = F.stft(Y32, **kw)
    y_hat = F.istft(D, **kw, length=len(Y32))
    assert y_hat.shape == Y32.shape and y_hat.dtype == jnp.float32
    assert np.max(np.abs(np.asarray(y_hat) - Y32)) < 1e-5
    # without `length`: librosa's output length and values
    y_free = F.istft(D, **kw)
    want = librosa.istft(librosa.stft(Y32, **kw), **kw)
    assert y_free.shape == want.shape
    np.testing.assert_allclose(np.asarray(y_free), want, atol=1e-5)
    # a longer requested length keeps the signal and is zero past the last frame
    long = np.asarray(F.istft(D, **kw, length=len(Y32) + 3000))
    assert long.shape == (len(Y32) + 3000,)
    assert np.max(np.abs(long[: len(Y32)] - Y32)) < 1e-5
    n_fft = kw.get("n_fft", 2048)
    assert np.all(long[D.shape[-1] * kw.get("hop_length", n_fft // 4) + n_fft - n_fft // 2 :] == 0)


def test_istft_uncentred_matches_librosa():
    # float64: the first samples are divided by a tiny window sum-square (float32 noise there)
    kw = dict(n_fft=256, hop_length=64, center=False)
    with jax.enable_x64(True):
        D = F.stft(Y64, **kw)
        y_hat = np.asarray(F.istft(D, **kw))
    np.testing.assert_allclose(y_hat, librosa.istft(librosa.stft(Y64, **kw), **kw), atol=1e-9)
    np.testing.assert_allclose(y_hat[64:], Y64[64 : len(y_hat)], atol=1e-9)


def test_stft_jit_vmap_batch():
    ys = jnp.asarray(RNG.standard_normal((3, 2000)).astype(np.float32))
    f = lambda y: F.stft(y, n_fft=256, hop_length=64)
    eager = f(ys)
    assert eager.shape == (3, 129, 1 + 2000 // 64)
    np.testing.assert_allclose(np.asarray(jax.jit(f)(ys)), np.asarray(eager), atol=1e-4)
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(ys)), np.stack([np.asarray(f(y)) for y in ys]), atol=1e-4)
    g = lambda D: F.istft(D, n_fft=256, hop_length=64, length=2000)
    np.testing.assert_allclose(np.asarray(jax.jit(g)(eager)), np.asarray(ys), atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.vmap(g)(eager)), np.asarray(ys), atol=1e-5)


def test_stft_gradients():
    with jax.enable_x64(True):
        y = jnp.asarray(RNG.standard_normal(100))
        check_grads(jax.jit(lambda y: F.stft(y, n_fft=32, hop_length=8)), (y,), order=2, modes=("fwd", "rev"))
        check_grads(
            jax.jit(lambda y: F.stft(y, n_fft=32, hop_length=8, pad_mode="reflect")), (y,), order=1, modes=("rev",)
        )
        check_grads(
            jax.jit(lambda y: F.istft(F.stft(y, n_fft=32, hop_length=8), hop_length=8, length=100)),
            (y,), order=1, modes=("fwd", "rev"),
        )
    g = jax.grad(lambda y: jnp.sum(jnp.abs(F.stft(y, n_fft=256))))(jnp.zeros(1000))
    assert bool(jnp.all(jnp.isfinite(g)))


def test_strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        y = jnp.asarray(Y32)
        F.istft(F.stft(y, n_fft=300, hop_length=100), hop_length=100)
        F.istft(F.stft(y, n_fft=1000, hop_length=3), hop_length=3)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: F.stft(np.zeros(100, np.int16)), "int16"),
        (lambda: F.stft(np.array([0.0, np.inf, 1.0], np.float32)), "1 NaN or inf"),
        (lambda: F.stft(np.float32(0.0)), r"shape \(\)"),
        (lambda: F.stft(np.zeros(100, np.float32), n_fft=256, center=False), "too short: 100 samples"),
        (lambda: F.stft(Y32, n_fft=0), "n_fft must be >= 1, got 0"),
        (lambda: F.stft(Y32, n_fft=-4), "n_fft must be >= 1, got -4"),
        (lambda: F.stft(Y32, hop_length=0), "hop_length must be >= 1, got 0"),
        (lambda: F.stft(Y32, n_fft=256, win_length=300), "win_length must be <= 256, got 300"),
        (lambda: F.stft(Y32, n_fft=2.5), "n_fft must be an integer, got 2.5"),
        (lambda: F.stft(Y32, pad_mode="wrap"), "'wrap'"),
        (lambda: F.stft(Y32, window="nope"), "'nope'"),
        (lambda: F.stft(Y32.astype(np.complex64)), "complex64"),
        (lambda: F.stft([0.0, 1.0]), "list"),
        (lambda: F.istft(np.zeros((5, 3), np.complex64), n_fft=16), "5 frequency bins"),
        (lambda: F.istft(np.zeros(5, np.complex64)), r"shape \(5,\)"),
        (lambda: F.istft(np.zeros((129, 3), np.complex64), length=0), "length must be >= 1, got 0"),
        (lambda: F.istft(np.full((129, 3), np.nan, np.complex64)), "NaN or inf"),
    ],
)
def test_bad_input_raises_parameter_error(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_traced_size_is_rejected_clearly():
    with pytest.raises(ParameterError, match="n_fft must be an integer"):
        jax.jit(lambda y, n: F.stft(y, n_fft=n))(Y32, 256)
