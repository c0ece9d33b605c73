"""The input rules every transform and feature follows (no silent wrong answers).

- channels-last audio ``(samples, channels)`` is refused with a hint to pass ``y.T``;
- a signal shorter than one frame warns (`jaxmusic.JaxMusicWarning`), as librosa does;
- decibels and MFCCs are finite at any finite amplitude; a power output that overflows
  float32 raises `ParameterError` naming the peak;
- a hop that leaves samples no window covers (or, for the hybrid, barely covers) is refused;
- float16/bfloat16 input is computed in float32, integer input is an error;
- an empty batch gives an empty output of the documented shape;
- NaN/inf are caught for concrete input, and inside ``jax.jit``/``jax.vmap`` through
  `jaxmusic.checked`; every transform's docstring says so.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmusic
from jaxmusic import JaxMusicWarning, NonFiniteError, ParameterError, audio, features, fourier, synthesis
from jaxmusic._checks import AudioError
from jaxmusic.synthesis import Partials

SR = 8000
MEL = dict(sr=SR, n_fft=256, hop_length=64, n_mels=16)
CQT = dict(sr=SR, hop_length=64, n_bins=12, fmin=200.0)
RNG = np.random.default_rng(0)
Y = (0.3 * RNG.standard_normal(4000)).astype(np.float32)
TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(4000) / SR)).astype(np.float32)


# --------------------------------------------------------------- channels-last audio

CHANNELS_LAST = {
    "stft": lambda y: fourier.stft(y, n_fft=256),
    "melspectrogram": lambda y: features.melspectrogram(y, **MEL),
    "MelSpectrogram": lambda y: features.MelSpectrogram(**MEL)(y),
    "mfcc": lambda y: features.mfcc(y, n_mfcc=8, **MEL),
    "MFCC": lambda y: features.MFCC(n_mfcc=8, **MEL)(y),
    "cqt": lambda y: features.cqt(y, **CQT),
    "CQT": lambda y: features.CQT(**CQT)(y),
    "vqt": lambda y: features.vqt(y, **CQT),
    "scalogram": lambda y: features.scalogram(y, J=3, Q=1),
    "cepstral_envelope": lambda y: synthesis.cepstral_envelope(y, n_fft=256, hop_length=64),
    "envelope_hybrid": lambda y: synthesis.envelope_hybrid(y, TONE, n_fft=256, hop_length=64),
    "mosaic": lambda y: synthesis.mosaic(y, TONE, sr=SR, n_fft=256, hop_length=64, n_mfcc=8),
    "sinusoidal_analysis": lambda y: synthesis.sinusoidal_analysis(y, sr=SR, n_fft=256, hop_length=64),
}


@pytest.mark.parametrize("name", sorted(CHANNELS_LAST))
def test_channels_last_stereo_is_refused_with_a_hint(name):
    stereo = np.stack([Y, TONE], axis=-1)  # (4000, 2): channels last
    with pytest.raises(ParameterError, match=r"shape \(4000, 2\).*pass (y|source)\.T"):
        CHANNELS_LAST[name](stereo)
    CHANNELS_LAST[name](stereo.T)  # (2, 4000) is fine


def test_scattering_names_a_channels_last_time_axis():
    S = jaxmusic.Scattering1D(J=3, shape=256)
    with pytest.raises(ParameterError, match=r"got shape \(256, 2\).*pass x\.T"):
        S(np.zeros((256, 2), np.float32))


# ----------------------------------------------------------------- short signals warn

SHORT = {
    "stft": lambda y: fourier.stft(y, n_fft=256),
    "melspectrogram": lambda y: features.melspectrogram(y, **MEL),
    "MelSpectrogram": lambda y: features.MelSpectrogram(**MEL)(y),
    "mfcc": lambda y: features.mfcc(y, n_mfcc=8, **MEL),
    "MFCC": lambda y: features.MFCC(n_mfcc=8, **MEL)(y),
    "cepstral_envelope": lambda y: synthesis.cepstral_envelope(y, n_fft=256, hop_length=64),
}


@pytest.mark.parametrize("name", sorted(SHORT))
@pytest.mark.parametrize("n", [1, 10])
def test_a_signal_shorter_than_n_fft_warns_like_librosa(name, n):
    with pytest.warns(JaxMusicWarning, match=f"n_fft=256 is too large for input signal of length={n}"):
        out = SHORT[name](Y[:n])
    assert np.all(np.isfinite(np.asarray(out)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", JaxMusicWarning)
        SHORT[name](Y[:256])  # one frame: no warning


def test_cqt_warns_when_its_lowest_filters_outlast_the_signal():
    with pytest.warns(JaxMusicWarning, match=r"lowest CQT filters span \d+ samples \(y has 10 samples"):
        features.cqt(Y[:10], **CQT)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JaxMusicWarning)
        features.cqt(Y, **CQT)


def test_the_warning_points_at_the_callers_line():
    with pytest.warns(JaxMusicWarning) as record:
        features.mfcc(Y[:10], n_mfcc=8, **MEL)
    assert record[0].filename == __file__


# ------------------------------------------------------------------- huge amplitudes


def test_mfcc_is_finite_and_exact_at_1e30():
    big = np.float32(2.0**100) * TONE  # ~6e29 peak: its power spectrum overflows float32
    m = np.asarray(features.mfcc(TONE, n_mfcc=8, **MEL))
    m_big = np.asarray(features.mfcc(big, n_mfcc=8, **MEL))
    assert np.all(np.isfinite(m_big))
    # a gain g adds 20 log10 g dB to every band: c0 (orthonormal DCT) moves by sqrt(n_mels) times that
    np.testing.assert_allclose(m_big[0] - m[0], 20 * 100 * np.log10(2) * np.sqrt(16), rtol=1e-5)
    np.testing.assert_allclose(m_big[1:], m[1:], atol=2e-3)
    # the transform, jit and vmap agree
    T = features.MFCC(n_mfcc=8, **MEL)
    np.testing.assert_allclose(jax.jit(T)(big), m_big, rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(jax.vmap(T)(np.stack([TONE, big]))[1], m_big, rtol=1e-6, atol=1e-3)
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda y: T(y).sum())(jnp.asarray(big)))))


def test_mfcc_is_unchanged_bit_for_bit_at_normal_levels():
    T = features.MFCC(n_mfcc=8, **MEL)
    M = features.melspectrogram(TONE, **MEL)
    want = jnp.einsum("km,mt->kt", T.dct_basis, features.power_to_db(M, top_db=80.0, axis=(-2, -1)),
                      precision=jax.lax.Precision.HIGHEST)
    np.testing.assert_array_equal(np.asarray(T(TONE)), np.asarray(want))


def test_amplitude_to_db_is_finite_at_1e30():
    S = np.abs(np.asarray(fourier.stft(TONE, n_fft=256)))
    db = np.asarray(features.amplitude_to_db(S, top_db=None))
    db_big = np.asarray(features.amplitude_to_db(np.float32(1e30) * S, top_db=None))
    assert np.all(np.isfinite(db_big))
    keep = db > -90  # above the amin floor
    np.testing.assert_allclose(db_big[keep] - db[keep], 600.0, atol=1e-3)
    ref = np.asarray(features.amplitude_to_db(np.float32(1e30) * S, ref=np.max))
    np.testing.assert_allclose(ref, np.asarray(features.amplitude_to_db(S, ref=np.max)), atol=1e-3)


@pytest.mark.parametrize("make", [lambda y: features.melspectrogram(y, **MEL),
                                  lambda y: features.MelSpectrogram(**MEL)(y)], ids=["function", "pytree"])
def test_a_power_spectrogram_that_overflows_raises_naming_the_peak(make):
    with pytest.raises(ParameterError, match=r"y peaks at 5e\+29.*float32"):
        make(np.float32(1e30) * TONE)
    assert not np.all(np.isfinite(np.asarray(jax.jit(make)(np.float32(1e30) * TONE))))  # under jit: documented


# ----------------------------------------------------------------------- hops and gaps


def test_envelope_hybrid_refuses_a_hop_longer_than_the_frame():
    with pytest.raises(ParameterError, match="hop_length=3000 is larger than n_fft=2048"):
        synthesis.envelope_hybrid(Y, TONE, sr=SR, n_fft=2048, hop_length=3000)
    with pytest.raises(ParameterError, match="hop_length=2048 with n_fft=2048 leaves samples that no window"):
        synthesis.envelope_hybrid(Y, TONE, sr=SR, n_fft=2048, hop_length=2048)
    with pytest.raises(ParameterError, match="hop_length=1900 with n_fft=2048.*amplify the frames up to"):
        synthesis.envelope_hybrid(np.tile(Y, 4), TONE, sr=SR, n_fft=2048, hop_length=1900)



def test_envelope_hybrid_does_not_amplify_its_last_samples():
    # n = 7167 leaves the last samples one sample short of the next frame: with frames
    # stopping at the end they lay under one window's edge and came out 1e4 times too loud
    t = np.arange(7167) / SR
    source = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    target = (0.3 * np.random.default_rng(1).standard_normal(7167)).astype(np.float32)
    for hop in (512, 1024):
        out = np.asarray(synthesis.envelope_hybrid(source, target, sr=SR, n_fft=2048, hop_length=hop))
        assert np.abs(out[-100:]).max() < np.abs(out[:-1024]).max()
    for hop in (512, 1024):  # the hybrid of two sounds peaking at 0.5 stays near that level
        out = synthesis.envelope_hybrid(TONE, TONE, sr=SR, n_fft=2048, hop_length=hop)
        assert float(jnp.max(jnp.abs(out))) < 1.0


def test_mosaic_istft_and_sinusoidal_analysis_refuse_gaps():
    with pytest.raises(ParameterError, match="hop_length=300 is larger than n_fft=256"):
        synthesis.mosaic(Y, TONE, sr=SR, n_fft=256, hop_length=300, n_mfcc=8)
    with pytest.raises(ParameterError, match="hop_length=256 with n_fft=256 leaves samples that no window"):
        synthesis.mosaic(Y, TONE, sr=SR, n_fft=256, hop_length=256, n_mfcc=8)
    D = fourier.stft(Y, n_fft=256, hop_length=64)
    with pytest.raises(ParameterError, match="hop_length=300 is larger than n_fft=256"):
        fourier.istft(D, n_fft=256, hop_length=300)
    with pytest.raises(ParameterError, match="hop_length=200 with n_fft=256 leaves samples"):
        fourier.istft(D, n_fft=256, hop_length=200, win_length=128)
    # a boxcar window tiles the signal at hop_length == n_fft: exact, so allowed
    y = fourier.istft(fourier.stft(Y, n_fft=256, hop_length=256, window="boxcar"), n_fft=256, hop_length=256,
                      window="boxcar", length=4000)
    np.testing.assert_allclose(y[:3968], Y[:3968], atol=1e-5)  # 3968 + 128: where the last frame ends
    with pytest.raises(ParameterError, match="hop_length=1536 with n_fft=2048 leaves.*no frame reaches them"):
        synthesis.mosaic(Y[:3071], TONE, sr=SR, n_fft=2048, hop_length=1536, n_mfcc=8)
    with pytest.raises(ParameterError, match="hop_length=300 is larger than n_fft=256"):
        synthesis.sinusoidal_analysis(Y, sr=SR, n_fft=256, hop_length=300)


# ----------------------------------------------------------------- dtypes: half precision

TRANSFORMS = {
    "Scattering1D": (jaxmusic.Scattering1D(J=3, shape=256), 256),
    "TimeFrequencyScattering": (jaxmusic.TimeFrequencyScattering(J=4, J_fr=1, shape=256, Q=(2, 1)), 256),
    "SpiralScattering": (jaxmusic.SpiralScattering(J=5, shape=512, Q=4), 512),
    "SpiralScattering(joint)": (jaxmusic.SpiralScattering(J=5, shape=512, Q=4, format="joint"), 512),
    "MelSpectrogram": (features.MelSpectrogram(**MEL), 1000),
    "MFCC": (features.MFCC(n_mfcc=8, **MEL), 1000),
    "CQT": (features.CQT(**CQT), 1000),
    "melspectrogram": (lambda y: features.melspectrogram(y, **MEL), 1000),
    "mfcc": (lambda y: features.mfcc(y, n_mfcc=8, **MEL), 1000),
    "cqt": (lambda y: features.cqt(y, **CQT), 1000),
    "vqt": (lambda y: features.vqt(y, **CQT), 1000),
    "scalogram": (lambda y: features.scalogram(y, J=3, Q=1), 1000),
    "power_to_db": (features.power_to_db, 1000),
    "amplitude_to_db": (features.amplitude_to_db, 1000),
    "stft": (lambda y: fourier.stft(y, n_fft=256), 1000),
    "dft": (fourier.dft, 1000),
    "idft": (fourier.idft, 1000),
    "frame": (lambda y: fourier.frame(y, frame_length=64, hop_length=16), 1000),
    "cepstral_envelope": (lambda y: synthesis.cepstral_envelope(y, n_fft=256, hop_length=64), 1000),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32(name, dtype):
    T, n = TRANSFORMS[name]
    x = jnp.asarray(RNG.standard_normal((2, n)), dtype)
    got, want = T(x), T(x.astype(jnp.float32))
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert g.dtype in (jnp.float32, jnp.complex64)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_integer_input_stays_an_error(name):
    T, n = TRANSFORMS[name]
    with pytest.raises(ParameterError, match="int16"):
        T(np.zeros(n, np.int16))


# --------------------------------------------------------------------- empty batches

EMPTY = {k: v for k, v in TRANSFORMS.items() if k not in ("dft", "idft", "power_to_db", "amplitude_to_db")}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_an_empty_batch_gives_an_empty_output_of_the_documented_shape(name):
    T, n = EMPTY[name]
    one = T(jnp.zeros((1, n), jnp.float32))
    for lead in [(0,), (0, 3), (3, 0)]:
        out = T(jnp.zeros(lead + (n,), jnp.float32))
        assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(one)
        for o, w in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(one)):
            assert o.shape == lead + w.shape[1:] and o.dtype == w.dtype


def test_scattering_output_shape_is_documented():
    S = jaxmusic.Scattering1D(J=3, shape=301)
    assert S(np.zeros((2, 301), np.float32)).shape == (2,) + S.output_shape()


# ------------------------------------------------------------- NaN/inf: eager and checked


def bad_signal(n=256):
    x = RNG.standard_normal(n).astype(np.float32)
    x[[3, 50]] = np.inf
    x[7] = np.nan
    return x


def test_checked_names_the_argument_and_the_counts_eagerly_and_under_jit():
    S = jaxmusic.Scattering1D(J=3, shape=256)
    x = bad_signal()
    for f in (jaxmusic.checked(S), jaxmusic.checked(jax.jit(S))):
        with pytest.raises(NonFiniteError, match=r"argument x has 1 NaN and 2 inf values \(of 256, shape \(256,\)\)"):
            f(x)
    clean = np.nan_to_num(x, posinf=0.0)
    np.testing.assert_array_equal(jaxmusic.checked(jax.jit(S))(clean), S(clean))
    # options stay static: a feature function with keyword options
    with pytest.raises(NonFiniteError, match="argument y has 1 NaN and 2 inf"):
        jaxmusic.checked(features.mfcc)(x, n_mfcc=8, **MEL)
    assert jaxmusic.checked(features.mfcc)(clean, n_mfcc=8, **MEL).shape == (8, 5)


def test_checked_catches_nan_made_inside_a_jitted_function():
    S = jaxmusic.Scattering1D(J=3, shape=256)
    step = jaxmusic.checked(jax.jit(lambda x: jaxmusic.checked(S)(x).sum() * jnp.log(x[0])))
    x = np.abs(np.nan_to_num(bad_signal(), posinf=0.0)) + 0.1
    assert np.isfinite(float(step(x)))
    with pytest.raises(NonFiniteError, match=r"the output of <lambda> has 1 NaN and 0 inf values \(of 1, shape \(\)\)"):
        step(-x)  # log of a negative number
    # an inner checked sees its argument inside the trace
    inner = jaxmusic.checked(jax.jit(lambda x: jaxmusic.checked(S)(jnp.sqrt(x)).sum()))
    with pytest.raises(NonFiniteError, match=r"argument x has 256 NaN"):
        inner(-np.ones(256, np.float32))


def test_checked_under_vmap():
    S = jaxmusic.Scattering1D(J=3, shape=256)
    xs = np.stack([np.zeros(256, np.float32), bad_signal()])
    with pytest.raises(NonFiniteError, match="argument x has 1 NaN and 2 inf values"):
        jaxmusic.checked(jax.vmap(S))(xs)
    signs = np.stack([np.ones(256, np.float32), -np.ones(256, np.float32)])
    with pytest.raises(NonFiniteError, match=r"argument x has 256 NaN and 0 inf values \(of 256, shape \(256,\)\)"):
        jaxmusic.checked(jax.vmap(lambda x: jaxmusic.checked(S)(jnp.sqrt(x))))(signs)
    ok = np.stack([np.zeros(256, np.float32), np.ones(256, np.float32)])
    np.testing.assert_allclose(jaxmusic.checked(jax.jit(jax.vmap(S)))(ok), S(ok), rtol=1e-6, atol=1e-7)


def test_checked_inside_a_bare_trace_says_where_to_put_it():
    S = jaxmusic.Scattering1D(J=3, shape=256)
    with pytest.raises(ParameterError, match=r"checked outermost.*jaxmusic.checked\(jax.jit\(f\)\)"):
        jax.jit(jaxmusic.checked(S))(np.zeros(256, np.float32))
    with pytest.raises(ParameterError, match="callable"):
        jaxmusic.checked(3)


def test_without_checked_nan_passes_silently_under_jit_as_documented():
    S = jaxmusic.Scattering1D(J=3, shape=256)
    with pytest.raises(ParameterError, match="3 NaN or inf values"):
        S(bad_signal())  # eager: checked
    assert not np.all(np.isfinite(np.asarray(jax.jit(S)(bad_signal()))))  # traced: cannot be


DOCUMENTED = [jaxmusic.Scattering1D, jaxmusic.TimeFrequencyScattering, jaxmusic.SpiralScattering,
              features.MelSpectrogram, features.MFCC, features.CQT, features.melspectrogram, features.mfcc,
              features.cqt, features.vqt, features.scalogram, features.power_to_db, features.amplitude_to_db,
              fourier.stft, fourier.istft, fourier.dft, fourier.idft, fourier.frame, synthesis.cepstral_envelope,
              synthesis.envelope_hybrid]


@pytest.mark.parametrize("obj", DOCUMENTED, ids=[o.__name__ for o in DOCUMENTED])
def test_docstrings_say_that_values_are_not_checked_under_jit(obj):
    doc = " ".join(((obj.__doc__ or "") + (getattr(obj, "__call__", None).__doc__ or "")).split())
    assert "jax.jit" in doc and ("jaxmusic.checked" in doc or "values cannot be inspected" in doc), obj


# ------------------------------------------------------------- audio and partials


def test_to_float_refuses_nan_and_overflow():
    with pytest.raises(AudioError, match="y has 2 NaN or inf values"):
        audio.to_float(np.array([0.0, np.nan, np.inf]))
    with pytest.raises(ParameterError, match=r"y peaks at 1e\+300.*float32"):
        audio.to_float(np.array([0.0, 1e300]))
    assert audio.to_float(jnp.ones(3, jnp.bfloat16)).dtype == np.float32


def test_sinusoidal_synthesis_refuses_nan_partials_and_handles_no_frames():
    f = np.full((4, 2), 440.0, np.float32)
    a = np.full((4, 2), 0.1, np.float32)
    bad = f.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ParameterError, match=r"partials.freqs has 1 NaN or inf values \(shape \(4, 2\)\)"):
        synthesis.sinusoidal_synthesis(Partials(freqs=bad, amps=a, phases=0 * a, sr=SR, hop_length=16))
    empty = np.zeros((0, 2), np.float32)
    out = synthesis.sinusoidal_synthesis(Partials(freqs=empty, amps=empty, phases=empty, sr=SR, hop_length=16))
    assert out.shape == (0,)


def test_prepare_refuses_float64_beyond_float32():
    with pytest.raises(ParameterError, match=r"source peaks at 1e\+300"):
        synthesis.mosaic(np.full(4000, 1e300), TONE, sr=SR, n_fft=256, hop_length=64, n_mfcc=8)
