"""Tests for jaxmusic.features and its filter banks (filters/mel.py, filters/cqt.py).

Numbers are compared with librosa computed live. Relative errors are L2 norms over
the whole array: ||ours - librosa|| / ||librosa||.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import scipy.fft
from jax.test_util import check_grads

from jaxmusic import features as Fe
from jaxmusic._checks import ParameterError
from jaxmusic.filters import cqt as cqt_filters
from jaxmusic.filters import mel as mel_filters

SR = 22050


def rel_l2(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def harmonic_note(n, *, sr=SR, f0=220.0, seed=0):
    """A decaying 14-partial note with 5 Hz vibrato plus a little noise (float64)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / sr
    y = sum(np.sin(k * phase) / k * np.exp(-0.3 * k * t) for k in range(1, 15))
    return 0.3 * y + 0.01 * rng.standard_normal(n)


SIGNALS = {
    "noise": np.random.default_rng(7).standard_normal(2 * SR),
    "note": harmonic_note(2 * SR),
}


# ----------------------------------------------------------------- mel filters


def test_mel_scale_matches_librosa():
    f = np.array([0.0, 100.0, 999.9, 1000.0, 1500.0, 8000.0])
    for htk in (False, True):
        np.testing.assert_allclose(mel_filters.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk), rtol=1e-12)
        np.testing.assert_allclose(mel_filters.mel_to_hz(f / 100, htk=htk), librosa.mel_to_hz(f / 100, htk=htk), rtol=1e-12)
        np.testing.assert_allclose(
            mel_filters.mel_frequencies(40, fmin=30.0, fmax=8000.0, htk=htk),
            librosa.mel_frequencies(40, fmin=30.0, fmax=8000.0, htk=htk), rtol=1e-12,
        )
    assert mel_filters.mel_to_hz(mel_filters.hz_to_mel(440.0)) == pytest.approx(440.0)


@pytest.mark.parametrize(
    "kw",
    [
        dict(sr=22050, n_fft=2048),
        dict(sr=16000, n_fft=512, n_mels=40, fmin=50.0, fmax=7000.0, htk=True),
        dict(sr=22050, n_fft=2048, norm=None),
        dict(sr=22050, n_fft=1024, n_mels=64, norm=2.0),
        dict(sr=44100, n_fft=4096, norm=np.inf),
    ],
    ids=str,
)
def test_mel_filter_bank_matches_librosa(kw):
    got = mel_filters.mel(**kw)
    want = librosa.filters.mel(**kw, dtype=np.float64)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-6 * np.max(np.abs(want))
    assert not got.flags.writeable  # cached: read-only


@pytest.mark.parametrize("dct_type", [1, 2, 3])
@pytest.mark.parametrize("norm", [None, "ortho"])
def test_dct_matrix_matches_scipy(dct_type, norm):
    x = np.random.default_rng(0).standard_normal((24, 5))
    M = mel_filters.dct_matrix(24, dct_type=dct_type, norm=norm)
    np.testing.assert_allclose(M @ x, scipy.fft.dct(x, type=dct_type, norm=norm, axis=0), atol=1e-12)


def test_dct_type2_ortho_is_orthonormal():
    M = mel_filters.dct_matrix(40)
    np.testing.assert_allclose(M @ M.T, np.eye(40), atol=1e-12)
    assert mel_filters.dct_matrix(40, n_out=13).shape == (13, 40)


# ----------------------------------------------------------- mel spectrogram


@pytest.mark.parametrize("name", SIGNALS)
def test_melspectrogram_and_mfcc_match_librosa_float64(name):
    y = SIGNALS[name]
    with jax.enable_x64(True):
        M = Fe.melspectrogram(y, sr=SR)
        C = Fe.mfcc(y, sr=SR)
        C_lift = Fe.mfcc(y, sr=SR, n_mfcc=13, lifter=22, htk=True, fmin=40.0, fmax=8000.0, n_mels=64)
    assert M.dtype == jnp.float64 and M.shape == (128, 1 + len(y) // 512)
    assert C.shape == (20, M.shape[-1])
    # librosa's mel basis is float32 by default: ~1e-8 relative
    assert rel_l2(M, librosa.feature.melspectrogram(y=y, sr=SR)) <= 1e-6
    assert rel_l2(C, librosa.feature.mfcc(y=y, sr=SR)) <= 1e-6
    want = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, lifter=22, htk=True, fmin=40.0, fmax=8000.0, n_mels=64)
    assert rel_l2(C_lift, want) <= 1e-6
    # and against a float64 mel basis, the agreement is to rounding
    S = np.abs(librosa.stft(y)) ** 2
    M64 = librosa.filters.mel(sr=SR, n_fft=2048, dtype=np.float64) @ S
    assert rel_l2(M, M64) <= 1e-12
    assert rel_l2(C, librosa.feature.mfcc(S=librosa.power_to_db(M64))) <= 1e-12


@pytest.mark.parametrize("name", SIGNALS)
def test_melspectrogram_and_mfcc_match_librosa_float32(name):
    y = SIGNALS[name].astype(np.float32)
    M = Fe.melspectrogram(y, sr=SR)
    C = Fe.mfcc(y, sr=SR)
    assert M.dtype == jnp.float32 and C.dtype == jnp.float32
    assert rel_l2(M, librosa.feature.melspectrogram(y=y, sr=SR)) <= 1e-4
    assert rel_l2(C, librosa.feature.mfcc(y=y, sr=SR)) <= 1e-4


def test_melspectrogram_options_match_librosa():
    y = SIGNALS["note"][:8000].astype(np.float32)
    kw = dict(sr=16000, n_fft=512, hop_length=160, win_length=400, window="hamming", power=1.0,
              n_mels=40, fmin=20.0, fmax=7600.0, pad_mode="reflect")
    assert rel_l2(Fe.melspectrogram(y, **kw), librosa.feature.melspectrogram(y=y, **kw)) <= 1e-4
    kw = dict(sr=16000, n_fft=400, hop_length=100, center=False, n_mels=32, norm=None)
    assert rel_l2(Fe.melspectrogram(y, **kw), librosa.feature.melspectrogram(y=y, **kw)) <= 1e-4
    kw = dict(sr=16000, n_fft=512, n_mels=26, dct_type=3, norm=None, n_mfcc=13)
    assert rel_l2(Fe.mfcc(y, **kw), librosa.feature.mfcc(y=y, **kw)) <= 1e-4


def test_decibels_match_librosa():
    S = np.abs(librosa.stft(SIGNALS["note"][:8000].astype(np.float32))) ** 2
    S[:, :3] = 0.0
    for kw in [dict(), dict(ref=np.max), dict(ref=2.0, amin=1e-6, top_db=None), dict(top_db=40.0)]:
        ref = kw.get("ref")
        ours = dict(kw, ref=jnp.max) if ref is np.max else kw
        np.testing.assert_allclose(np.asarray(Fe.power_to_db(S, **ours)), librosa.power_to_db(S, **kw), atol=1e-4)
        np.testing.assert_allclose(
            np.asarray(Fe.amplitude_to_db(np.sqrt(S), **ours)), librosa.amplitude_to_db(np.sqrt(S), **kw), atol=1e-3
        )
    # per-spectrogram floor with axis=(-2, -1), the librosa floor (whole array) by default
    batch = np.stack([S, 1e-6 * S])
    per = np.asarray(Fe.power_to_db(batch, axis=(-2, -1)))
    np.testing.assert_allclose(per[1], librosa.power_to_db(1e-6 * S), atol=1e-4)
    np.testing.assert_allclose(np.asarray(Fe.power_to_db(batch)), librosa.power_to_db(batch), atol=1e-4)


# ------------------------------------------------------------ transformations


def test_transform_classes_equal_functions_and_are_pytrees():
    y = jnp.asarray(SIGNALS["note"][:6000].astype(np.float32))
    kw = dict(sr=16000, n_fft=512, hop_length=128, n_mels=40)
    S = Fe.MelSpectrogram(**kw)
    assert S.win_length == 512 and S.fmax == 8000.0 and S.mel_basis.shape == (40, 257)
    np.testing.assert_allclose(np.asarray(S(y)), np.asarray(Fe.melspectrogram(y, **kw)), rtol=1e-6)
    M = Fe.MFCC(**kw, n_mfcc=13, lifter=22)
    np.testing.assert_allclose(np.asarray(M(y)), np.asarray(Fe.mfcc(y, **kw, n_mfcc=13, lifter=22)), atol=1e-5)
    C = Fe.CQT(sr=16000, hop_length=256, fmin=100.0, n_bins=48)
    np.testing.assert_allclose(
        np.asarray(C(y)), np.asarray(Fe.cqt(y, sr=16000, hop_length=256, fmin=100.0, n_bins=48)), atol=1e-6
    )
    assert C.frequencies().shape == (48,) and S.frequencies().shape == (40,)
    for T in (S, M, C):
        leaves, treedef = jax.tree_util.tree_flatten(T)
        assert all(isinstance(leaf, jax.Array) for leaf in leaves)
        assert jax.tree_util.tree_unflatten(treedef, leaves)(y).shape == T(y).shape
        with pytest.raises(dataclasses.FrozenInstanceError):
            T.sr = 8000
    with pytest.raises(TypeError):
        Fe.MelSpectrogram(16000)  # keyword-only


def test_jit_vmap_and_no_recompile():
    ys = jnp.asarray(np.stack([SIGNALS["noise"][:5000], SIGNALS["note"][:5000]]).astype(np.float32))
    for T in (Fe.MelSpectrogram(sr=16000, n_fft=512, hop_length=128, n_mels=40),
              Fe.MFCC(sr=16000, n_fft=512, hop_length=128, n_mels=40),
              Fe.CQT(sr=16000, hop_length=256, fmin=200.0, n_bins=36)):
        eager = T(ys)
        scale = float(jnp.max(jnp.abs(eager)))
        np.testing.assert_allclose(np.asarray(jax.jit(T)(ys)), np.asarray(eager), atol=1e-5 * scale)
        looped = np.stack([np.asarray(T(y)) for y in ys])
        np.testing.assert_allclose(np.asarray(jax.vmap(T)(ys)), looped, atol=1e-5 * scale)
    # a transform travels through jit as an argument; equal configurations share one program
    apply = jax.jit(lambda T, y: T(y))
    apply(Fe.MelSpectrogram(sr=16000, n_mels=40), ys)
    apply(Fe.MelSpectrogram(sr=16000, n_mels=40), ys)
    assert apply._cache_size() == 1
    f = jax.jit(lambda y: Fe.mfcc(y, sr=16000, n_mels=40))
    np.testing.assert_allclose(np.asarray(f(ys[0])), np.asarray(Fe.mfcc(ys[0], sr=16000, n_mels=40)), atol=1e-3)


def test_gradients_finite_at_zero_and_correct():
    z = jnp.zeros(4000, jnp.float32)
    for fn in (
        lambda y: Fe.melspectrogram(y, sr=16000, n_fft=512).sum(),
        lambda y: Fe.melspectrogram(y, sr=16000, n_fft=512, power=1.0).sum(),
        lambda y: Fe.mfcc(y, sr=16000, n_fft=512, n_mels=40).sum(),
        lambda y: Fe.power_to_db(Fe.melspectrogram(y, sr=16000, n_fft=512)).sum(),
        lambda y: jnp.abs(Fe.cqt(y, sr=16000, fmin=200.0, n_bins=24)).sum(),
        lambda y: Fe.amplitude_to_db(Fe.cqt(y, sr=16000, fmin=200.0, n_bins=24)).sum(),
    ):
        g = jax.jit(jax.grad(fn))(z)
        assert g.shape == z.shape and bool(jnp.all(jnp.isfinite(g)))
    with jax.enable_x64(True):
        # unit-variance noise: no mel band is small enough for the log to spoil finite differences
        y = jnp.asarray(SIGNALS["noise"][:200])
        kw = dict(sr=8000, n_fft=64, hop_length=16, n_mels=8)
        check_grads(jax.jit(lambda y: Fe.melspectrogram(y, **kw)), (y,), order=1, modes=("fwd", "rev"))
        check_grads(jax.jit(lambda y: Fe.mfcc(y, **kw, n_mfcc=5)), (y,), order=1, modes=("rev",))


def test_strict_dtype_promotion():
    y = jnp.asarray(SIGNALS["note"][:4000].astype(np.float32))
    with jax.numpy_dtype_promotion("strict"):
        Fe.mfcc(y, sr=16000, n_mels=40)
        Fe.cqt(y, sr=16000, fmin=500.0, n_bins=12)
        Fe.amplitude_to_db(Fe.cqt(y, sr=16000, fmin=500.0, n_bins=12))


# ------------------------------------------------------------------------- CQT


def test_cqt_filter_conventions_match_librosa():
    freqs = cqt_filters.cqt_frequencies(84, fmin=cqt_filters.C1_HZ)
    np.testing.assert_allclose(freqs, librosa.cqt_frequencies(84, fmin=librosa.note_to_hz("C1")), rtol=1e-12)
    alpha = cqt_filters.relative_bandwidth(freqs)
    for kw in [dict(), dict(filter_scale=2.0, window="hamming")]:
        lengths, cutoff = cqt_filters.wavelet_lengths(freqs=freqs, sr=SR, alpha=alpha, **kw)
        want, want_cutoff = librosa.filters.wavelet_lengths(freqs=freqs, sr=SR, alpha=alpha, **kw)
        np.testing.assert_allclose(lengths, want, rtol=1e-12)
        assert cutoff == pytest.approx(want_cutoff, rel=1e-3)
    for gamma in (None, 5.0):  # variable-Q: None is the ERB offset, as librosa
        lengths, cutoff = cqt_filters.wavelet_lengths(freqs=freqs, sr=SR, alpha=alpha, gamma=gamma)
        want, want_cutoff = librosa.filters.wavelet_lengths(freqs=freqs, sr=SR, alpha=alpha, gamma=gamma)
        np.testing.assert_allclose(lengths, want, rtol=1e-12)
        assert cutoff == pytest.approx(want_cutoff, rel=1e-3)
    assert cqt_filters.cqt_filter_bank(sr=SR).n_fft == 16384


@pytest.mark.parametrize(
    "kw",
    [
        dict(fmin=5000.0, n_bins=12),
        dict(fmin=5000.0, n_bins=12, filter_scale=2, norm=2, hop_length=256, window="hamming"),
        dict(fmin=4000.0, n_bins=36, bins_per_octave=36, scale=False, hop_length=300, pad_mode="reflect"),
    ],
    ids=str,
)
def test_cqt_single_octave_is_exact(kw):
    # one octave, no decimation in librosa: the complex values agree to rounding
    y = SIGNALS["noise"][:SR].astype(np.float32)
    got = Fe.cqt(y, sr=SR, **kw)
    want = librosa.cqt(y, sr=SR, sparsity=0, **kw)
    assert got.shape == want.shape and got.dtype == jnp.complex64
    assert rel_l2(got, want) <= 1e-5


def chirp():
    return librosa.chirp(fmin=40.0, fmax=4000.0, sr=SR, duration=3.0)


def soundfont_notes():
    """Two real notes from the soundfont of `jaxmusic.data.gm8` (piano A3, violin G4), end to end."""
    from jaxmusic.data.soundfont import default_soundfont, render_soundfont

    notes = render_soundfont(default_soundfont(), [(0, 57, 100), (40, 67, 100)], sr=SR, duration=1.5, hold=1.2)
    return notes.reshape(-1)


def db_errors(got, want, floor=60.0):
    """|dB| differences over the bins of ``want`` within ``floor`` dB of its peak."""
    db = 20 * np.log10(np.abs(got) + 1e-12)
    db_want = 20 * np.log10(np.abs(want) + 1e-12)
    return np.abs(db - db_want)[db_want > db_want.max() - floor]


@pytest.mark.parametrize(
    "name,make",
    [("noise", lambda: np.resize(SIGNALS["noise"], 3 * SR)), ("chirp", chirp), ("note", lambda: harmonic_note(3 * SR)),
     ("soundfont", soundfont_notes)],
)
def test_cqt_magnitudes_match_librosa_multirate(name, make):
    y = make().astype(np.float32)
    got = np.asarray(Fe.cqt(y, sr=SR))
    want = librosa.cqt(y, sr=SR)  # 7 octaves, decimated, sparsified filters
    exact = librosa.cqt(y, sr=SR, sparsity=0)
    assert got.shape == want.shape == (84, 1 + len(y) // 512)
    err, err_exact = db_errors(got, want), db_errors(got, exact)
    # measured (mean / median / mean to sparsity=0): noise 0.11 / 0.06 / 0.10,
    # chirp 0.76 / 0.17 / 0.15, note 0.48 / 0.09 / 0.17, soundfont 0.41 / 0.07 / 0.14
    assert np.mean(err) <= 1.0
    assert np.median(err) <= 0.3
    assert np.mean(err_exact) <= 0.3
    with jax.enable_x64(True):
        got64 = Fe.cqt(y.astype(np.float64), sr=SR)
    assert got64.dtype == jnp.complex128
    assert rel_l2(got64, got) <= 1e-5


def single_rate_cqt(y, *, hop_length=512, **kw):
    """The CQT with every filter at the full rate (`cqt_filter_bank`, one STFT), float64."""
    bank = cqt_filters.cqt_filter_bank(sr=SR, **kw)
    pad = bank.n_fft // 2
    z = np.pad(np.asarray(y, np.float64), (pad, pad))
    frames = np.lib.stride_tricks.sliding_window_view(z, bank.n_fft)[::hop_length]
    return bank.fft_basis @ np.fft.rfft(frames, axis=-1).T


def test_cqt_multirate_equals_single_rate():
    # a decimated octave loses only its filters' energy above its Nyquist frequency
    y = SIGNALS["noise"][:SR]
    with jax.enable_x64(True):
        got = np.asarray(Fe.cqt(y, sr=SR))
    want = single_rate_cqt(y)
    assert got.shape == want.shape
    per_bin = np.linalg.norm(got - want, axis=-1) / np.linalg.norm(want, axis=-1)
    assert per_bin.max() <= 1e-4  # measured: 3e-5
    # librosa's schedule: the top octave at the full rate, each one below at half the rate
    assert [o.decimation for o in cqt_filters.cqt_multirate_bank(sr=SR).octaves] == [1, 2, 4, 8, 16, 32, 64]
    bank = cqt_filters.cqt_multirate_bank(sr=SR, n_bins=40, bins_per_octave=8, hop_length=256)
    assert [o.decimation for o in bank.octaves] == [2, 4, 8, 16, 32]  # Q = 11.5: the top one too


def test_vqt_matches_librosa():
    gamma = None  # librosa's default: the ERB offset
    y = harmonic_note(3 * SR // 2).astype(np.float32)
    got = np.asarray(Fe.vqt(y, sr=SR, gamma=gamma))
    want = librosa.vqt(y, sr=SR, gamma=gamma)
    assert got.shape == want.shape and got.dtype == np.complex64
    assert np.mean(db_errors(got, want)) <= 1.0  # measured: 0.48 (ERB)
    # against the single-rate transform (librosa's own resampling costs it ~0.5 dB on the
    # broad low filters of a VQT, with sparsity=0 too)
    T = Fe.CQT(sr=SR, gamma=gamma)
    exact = single_rate_cqt(y, gamma=T.gamma)
    assert np.mean(db_errors(got, exact)) <= 0.1  # measured: 0.02
    erb = 24.7 * cqt_filters.relative_bandwidth(np.ones(1), bins_per_octave=12)[0] / 0.108
    assert T.gamma == pytest.approx(erb if gamma is None else gamma)
    np.testing.assert_allclose(np.asarray(T(y)), got, atol=1e-6)
    lengths = cqt_filters.cqt_multirate_bank(sr=SR, gamma=10.0).lengths
    freqs = librosa.cqt_frequencies(84, fmin=librosa.note_to_hz("C1"))
    np.testing.assert_allclose(lengths, librosa.filters.wavelet_lengths(freqs=freqs, sr=SR, gamma=10.0)[0], rtol=1e-12)


@pytest.mark.filterwarnings("ignore:n_fft=.* is too large:UserWarning")  # librosa's, on its low octaves
def test_cqt_frames_and_hops_as_librosa():
    y = SIGNALS["noise"][: 512 * 20 + 500].astype(np.float32)
    # librosa decimates even its top octave here (24 low bins), and then counts one more frame
    got, want = Fe.cqt(y, sr=SR, n_bins=24), librosa.cqt(y, sr=SR, n_bins=24, sparsity=0)
    assert got.shape == want.shape == (24, 22)
    assert np.mean(db_errors(got, want)) <= 0.5  # measured: 0.26
    # an odd hop: nothing can be decimated, every octave at the full rate (librosa too)
    got, want = Fe.cqt(y, sr=SR, n_bins=30, hop_length=301), librosa.cqt(y, sr=SR, n_bins=30, hop_length=301, sparsity=0)
    assert got.shape == want.shape and rel_l2(got, want) <= 1e-4
    assert [p[2] for p in Fe.CQT(sr=SR, n_bins=30, hop_length=301).plan] == [1, 1, 1]


# ---------------------------------------------------------------- bad input

Y = SIGNALS["note"][:4000].astype(np.float32)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: Fe.melspectrogram(np.zeros(4000, np.int16)), "int16"),
        (lambda: Fe.mfcc(np.array([0.0, np.nan] * 2000, np.float32)), "2000 NaN or inf"),
        (lambda: Fe.cqt(np.full(4000, np.inf, np.float32)), "4000 NaN or inf"),
        (lambda: Fe.melspectrogram(np.float32(0.5)), r"shape \(\)"),
        (lambda: Fe.melspectrogram(Y[:1000], center=False), "too short: 1000 samples"),
        (lambda: Fe.melspectrogram(Y, n_fft=0), "n_fft must be >= 1, got 0"),
        (lambda: Fe.melspectrogram(Y, hop_length=0), "hop_length must be >= 1, got 0"),
        (lambda: Fe.mfcc(Y, hop_length=-3), "hop_length must be >= 1, got -3"),
        (lambda: Fe.melspectrogram(Y, n_fft=256, n_mels=128), "n_mels=128 is too large for n_fft=256"),
        (lambda: Fe.melspectrogram(Y, sr=16000, fmax=9000.0), "fmax=9000.0 must be <= sr / 2 = 8000.0"),
        (lambda: Fe.melspectrogram(Y, fmin=5000.0, fmax=4000.0), "fmax=4000.0 must be > fmin=5000.0"),
        (lambda: Fe.melspectrogram(Y, sr=0), "sr must be > 0.0, got 0.0"),
        (lambda: Fe.melspectrogram(Y, power=0.0), "power must be > 0.0, got 0.0"),
        (lambda: Fe.melspectrogram(Y, norm="l2"), "'l2'"),
        (lambda: Fe.melspectrogram(Y, pad_mode="wrap"), "'wrap'"),
        (lambda: Fe.MelSpectrogram(n_mels=0), "n_mels must be >= 1, got 0"),
        (lambda: Fe.mfcc(Y, n_mfcc=200), "n_mfcc=200 must be <= n_mels=128"),
        (lambda: Fe.mfcc(Y, dct_type=4), "dct_type must be one of .*got 4"),
        (lambda: Fe.mfcc(Y, norm="l1"), "'l1'"),
        (lambda: Fe.mfcc(Y, lifter=-1), "lifter must be >= 0.0, got -1.0"),
        (lambda: Fe.MFCC(n_mfcc=0), "n_mfcc must be >= 1, got 0"),
        (lambda: Fe.cqt(Y, n_bins=108), "exceeds the Nyquist"),
        (lambda: Fe.cqt(Y, fmin=-1.0), "fmin must be > 0.0, got -1.0"),
        (lambda: Fe.cqt(Y, hop_length=0), "hop_length must be >= 1, got 0"),
        (lambda: Fe.cqt(Y, bins_per_octave=0), "bins_per_octave must be >= 1, got 0"),
        (lambda: Fe.cqt(Y, filter_scale=0), "filter_scale must be > 0.0, got 0.0"),
        (lambda: Fe.CQT(n_bins=0), "n_bins must be >= 1, got 0"),
        (lambda: Fe.vqt(Y, gamma=-1.0), "gamma must be >= 0.0, got -1.0"),
        (lambda: Fe.vqt(np.array([0.0, np.nan] * 2000, np.float32)), "2000 NaN or inf"),
        (lambda: Fe.power_to_db(np.ones(4, np.int32)), "int32"),
        (lambda: Fe.power_to_db(np.ones(4), amin=0.0), "amin must be > 0.0, got 0.0"),
        (lambda: Fe.power_to_db(np.ones(4), top_db=-1.0), "top_db must be >= 0.0, got -1.0"),
        (lambda: Fe.power_to_db(np.ones((2, 2)), axis=5), "axis=5"),
        (lambda: Fe.amplitude_to_db(np.array([1.0, np.nan])), "1 NaN or inf"),
        (lambda: mel_filters.mel(22050, 2048, n_mels=1.5), "n_mels must be an integer, got 1.5"),
        (lambda: mel_filters.dct_matrix(10, n_out=11), "n_out must be <= 10, got 11"),
    ],
)
def test_bad_input_raises_parameter_error(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
