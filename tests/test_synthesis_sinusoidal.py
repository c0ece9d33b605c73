"""Tests for jaxmusic.synthesis.sinusoidal: analysis, resynthesis, sines + residual, morphing.

SNRs are of the sinusoidal part alone against the input (``snr_db(y, sines)``);
each bound sits below the value measured when the test was written (stated
next to it) with a margin for platform differences.
"""

from __future__ import annotations

import jax
import librosa
import numpy as np
import pytest

from jaxmusic._checks import AudioError, ParameterError
from jaxmusic.synthesis.sinusoidal import (
    Partials,
    sinusoidal_analysis,
    sinusoidal_model,
    sinusoidal_morph,
    sinusoidal_synthesis,
    snr_db,
)

SR = 22050
F0 = 220.0
K = 10
AMPS = 0.5 * 0.7 ** np.arange(K)                     # -6 dB, -9.1 dB, ... -33.9 dB
PHASES = np.random.default_rng(0).uniform(-np.pi, np.pi, K)


def harmonic_tone(f0=F0, seconds=1.0, *, sr=SR, vibrato=0.0, envelope=False, amps=AMPS):
    """Sum of harmonics; vibrato in semitones (5 Hz); envelope: 50 ms attack, exp decay."""
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * 2.0 ** (vibrato / 12 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.concatenate([[0.0], np.cumsum(f[:-1])]) / sr   # phase 0 at sample 0
    y = sum(a * np.cos((k + 1) * phase + PHASES[k]) for k, a in enumerate(amps))
    if envelope:
        y = y * np.minimum(t / 0.05, 1.0) * np.exp(-1.5 * t)
    return y.astype(np.float32)


def interior(p: Partials) -> slice:
    """Frames whose full window lies inside the signal."""
    first = -(-(p.n_fft // 2) // p.hop_length)
    last = (p.length - p.n_fft // 2) // p.hop_length
    return slice(first, last)


@pytest.fixture(scope="module")
def stationary():
    y = harmonic_tone()
    return y, sinusoidal_analysis(y, sr=SR)


# ----------------------------------------------------------------------- analysis


def test_analysis_finds_harmonics_of_a_stationary_tone(stationary):
    y, p = stationary
    assert isinstance(p, Partials)
    assert p.freqs.shape == p.amps.shape == p.phases.shape == (1 + len(y) // 512, 60)
    assert (p.sr, p.hop_length, p.n_fft, p.length) == (SR, 512, 2048, len(y))
    assert p.freqs.dtype == np.float32
    on = p.amps > 0
    # exactly the ten harmonics, each one track over the whole signal, nothing else
    assert np.all(on.sum(axis=1) == K)
    cols = np.flatnonzero(on.any(axis=0))
    assert len(cols) == K and np.all(on[:, cols])
    # inactive convention
    assert np.all(p.freqs[~on] == 0) and np.all(p.phases[~on] == 0)
    order = cols[np.argsort(p.freqs[on.shape[0] // 2, cols])]
    f = p.freqs[:, order]
    a_db = 20 * np.log10(p.amps[:, order])
    true_f = F0 * np.arange(1, K + 1)
    true_db = 20 * np.log10(AMPS)
    assert np.max(np.abs(f / true_f - 1)) < 1e-3       # measured: 3e-7
    assert np.max(np.abs(a_db - true_db)) < 0.5         # measured: 2e-4 dB
    # phases at frame centres: those of the tone at t * hop
    t = np.arange(p.n_frames) * p.hop_length / SR
    true_ph = 2 * np.pi * true_f[None, :] * t[:, None] + PHASES[None, :]
    err = np.angle(np.exp(1j * (p.phases[:, order] - true_ph)))
    assert np.max(np.abs(err)) < 0.01                   # measured: 7e-5 rad
    # the end frames (asymmetric windows, joint fit) are as exact as the interior
    edge = [0, 1, -2, -1]
    assert np.max(np.abs(a_db[edge] - true_db)) < 0.01  # measured: 1e-6 dB
    assert np.max(np.abs(err[edge])) < 1e-3


def test_harmonic_model_orders_partials_by_harmonic_number(stationary):
    y, _ = stationary
    p = sinusoidal_analysis(y, sr=SR, harmonic=True, max_partials=12)
    assert p.freqs.shape == (1 + len(y) // 512, 12)
    mid = interior(p)
    assert np.allclose(p.f0[mid], F0, rtol=1e-3)
    assert np.all(p.amps[:, :K] > 0) and np.all(p.amps[:, K:] == 0)
    assert np.max(np.abs(p.freqs[mid, :K] / (F0 * np.arange(1, K + 1)) - 1)) < 1e-3
    assert np.max(np.abs(20 * np.log10(p.amps[mid, :K] / AMPS))) < 0.5


def test_tracks_are_born_and_die():
    # 440 Hz for 0.5 s, then 660 Hz for 0.5 s
    t = np.arange(SR) / SR
    y = np.where(t < 0.5, 0.5 * np.cos(2 * np.pi * 440 * t), 0.3 * np.cos(2 * np.pi * 660 * t))
    y = y.astype(np.float32)
    p = sinusoidal_analysis(y, sr=SR, threshold_db=-40)
    time = np.arange(p.n_frames) * p.hop_length / SR
    on = p.amps > 0
    early, late = time < 0.4, time > 0.6
    assert np.all(on[early].sum(axis=1) == 1) and np.all(on[late].sum(axis=1) == 1)
    assert np.allclose(p.freqs[early][on[early]], 440, rtol=1e-3)
    assert np.allclose(p.freqs[late][on[late]], 660, rtol=1e-3)
    # the 440 Hz track dies and a 660 Hz one is born: no column glides from one to
    # the other (a column reused by a new track has a silent frame in between)
    both = on[1:] & on[:-1]
    jump = np.abs(p.freqs[1:] / np.where(on[:-1], p.freqs[:-1], 1.0) - 1)
    assert np.all(jump[both] < 0.05)
    assert on[early].any(axis=0).sum() >= 1 and on[late].any(axis=0).sum() >= 1
    s = np.asarray(sinusoidal_synthesis(p))
    assert snr_db(y, s) > 15                            # measured: 21.7 dB (the switch is abrupt)


def test_short_tracks_are_dropped():
    y = np.zeros(SR, np.float32)
    t = np.arange(1500) / SR
    y[10000:11500] = 0.5 * np.cos(2 * np.pi * 1000 * t) * np.hanning(1500)   # a 68 ms blip
    kept = sinusoidal_analysis(y, sr=SR, min_track_length=1, threshold_db=-30)
    assert (kept.amps > 0).any()
    assert (kept.amps > 0).any(axis=1).sum() < 10       # the blip covers only a few frames
    dropped = sinusoidal_analysis(y, sr=SR, min_track_length=10, threshold_db=-30)
    assert not (dropped.amps > 0).any()


# ---------------------------------------------------------------------- synthesis


def test_stationary_resynthesis_snr(stationary):
    y, p = stationary
    s = np.asarray(sinusoidal_synthesis(p))
    assert s.shape == y.shape and s.dtype == np.float32
    assert snr_db(y, s) > 80                            # measured: 110 dB
    # without the joint fit of the end frames (asymmetric windows) it was 38.6 dB
    q = p.n_fft
    assert snr_db(y[:q], s[:q]) > 80 and snr_db(y[-q:], s[-q:]) > 80


def test_vibrato_and_envelope_resynthesis_snr():
    # +-0.5 semitone vibrato at 5 Hz (harmonic 10 sweeps 19 bins per window), 50 ms
    # attack, exponential decay
    y = harmonic_tone(vibrato=0.5, envelope=True)
    p = sinusoidal_analysis(y, sr=SR)
    cubic = snr_db(y, np.asarray(sinusoidal_synthesis(p)))
    linear = snr_db(y, np.asarray(sinusoidal_synthesis(p, method="linear")))
    assert cubic > 20                                   # measured: 24.9 dB
    assert cubic > linear + 5                           # measured linear: 7.5 dB; why cubic is the default
    # a shorter window follows the vibrato better
    p = sinusoidal_analysis(y, sr=SR, n_fft=1024, hop_length=256)
    assert snr_db(y, np.asarray(sinusoidal_synthesis(p))) > 28   # measured: 34.1 dB


def test_sines_plus_residual_is_the_input():
    y = harmonic_tone(vibrato=0.5, envelope=True)
    y = y + 0.01 * np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    sines, residual = sinusoidal_model(y, sr=SR)
    assert sines.dtype == residual.dtype == np.float32 and sines.shape == y.shape
    assert np.max(np.abs(sines + residual - y)) <= np.spacing(np.float32(np.max(np.abs(y))))
    assert snr_db(y, sines) > 15                        # measured 23.4 dB: the noise is left in the residual
    # a stationary harmonic note in white noise: the sines are the note, the residual the noise
    clean = harmonic_tone()
    noise = 0.01 * np.random.default_rng(4).standard_normal(clean.shape).astype(np.float32)
    s, r = sinusoidal_model(clean + noise, sr=SR)
    energy = np.sum(r.astype(np.float64) ** 2) / np.sum(noise.astype(np.float64) ** 2)
    assert 0.6 < energy < 1.2, energy                  # measured 0.83 (the partials take the noise under them)
    assert np.corrcoef(r, noise)[0, 1] > 0.6           # measured 0.69
    # the sines are closer to the clean note than the noisy input is
    assert snr_db(clean, s) > snr_db(clean, clean + noise) + 1.5   # measured 36.4 dB vs 33.9 dB
    # stereo input is mixed down first
    sines2, residual2 = sinusoidal_model(np.stack([y, y]), sr=SR)
    assert np.array_equal(sines2, sines) and np.array_equal(residual2, residual)


def test_synthesis_is_jittable_and_partials_is_a_pytree(stationary):
    y, p = stationary
    leaves, tree = jax.tree_util.tree_flatten(p)
    assert len(leaves) == 3                              # freqs, amps, phases (f0 is None)
    q = jax.tree_util.tree_unflatten(tree, leaves)
    assert (q.sr, q.hop_length, q.n_fft, q.length) == (p.sr, p.hop_length, p.n_fft, p.length)
    synth = jax.jit(sinusoidal_synthesis, static_argnames=("length", "method"))
    a = np.asarray(synth(p))
    b = np.asarray(sinusoidal_synthesis(p))
    assert np.allclose(a, b, atol=1e-5)
    assert np.asarray(synth(p, length=1000)).shape == (1000,)
    longer = np.asarray(sinusoidal_synthesis(p, length=len(y) + 5000))
    assert np.all(longer[len(y) + 512:] == 0)


def test_synthesis_of_hand_built_partials():
    # 440 Hz at 0.5 for five frames, then silence: a cosine with a one-hop fade-out
    sr, hop = 8000, 100
    f = np.array([[440.0]] * 5 + [[0.0]] * 3, np.float32)
    a = np.array([[0.5]] * 5 + [[0.0]] * 3, np.float32)
    t = np.arange(8 * hop) / sr
    expected = 0.5 * np.cos(2 * np.pi * 440 * t)
    expected *= np.clip(1 - (np.arange(8 * hop) - 4 * hop) / hop, 0, 1)
    p = Partials(freqs=f, amps=a, phases=np.zeros_like(f), sr=sr, hop_length=hop, length=8 * hop)
    y = np.asarray(sinusoidal_synthesis(p, method="linear"))
    assert np.max(np.abs(y - expected)) < 1e-4
    # the cubic method meets given phases: consistent ones give the same cosine
    ph = np.angle(np.exp(2j * np.pi * 440 * np.arange(8) * hop / sr))[:, None] * (a > 0)
    p = Partials(freqs=f, amps=a, phases=ph.astype(np.float32), sr=sr, hop_length=hop)
    y = np.asarray(sinusoidal_synthesis(p))
    assert y.shape == (7 * hop + 1,)                      # length None: (frames - 1) * hop + 1
    assert np.max(np.abs(y - expected[: 7 * hop + 1])) < 1e-4


def test_silence_gives_silence():
    z = np.zeros(4096, np.float32)
    for harmonic in (False, True):
        p = sinusoidal_analysis(z, sr=SR, harmonic=harmonic)
        assert not (p.amps > 0).any()
        assert all(np.all(np.isfinite(x)) for x in (p.freqs, p.amps, p.phases))
    sines, residual = sinusoidal_model(z, sr=SR)
    assert np.all(sines == 0) and np.all(residual == 0)
    m = sinusoidal_morph(z, z, 0.5, sr=SR)
    assert m.shape == z.shape and np.all(np.isfinite(m)) and np.all(m == 0)


# ------------------------------------------------------------------- real note


@pytest.fixture(scope="module")
def clarinet(tmp_path_factory):
    from jaxmusic.data import gm8

    ds = gm8(classes=("clarinet",), ranges={"clarinet": (62, 62)}, velocities=(100,),
             cache_root=tmp_path_factory.mktemp("gm8"))
    assert len(ds.label) == 1 and ds.sr == 16000
    return np.asarray(ds.audio[0]), ds.sr


def test_real_note_resynthesis(clarinet):
    y, sr = clarinet                                     # clarinet D4 (294 Hz), 1 s at 16 kHz
    p = sinusoidal_analysis(y, sr=sr, harmonic=True)
    voiced = p.f0 > 0
    assert voiced.mean() > 0.8
    assert abs(np.median(p.f0[voiced]) - librosa.midi_to_hz(62)) < 3
    sines = np.asarray(sinusoidal_synthesis(p))
    assert snr_db(y, sines) > 17                         # measured: 21.3 dB
    p = sinusoidal_analysis(y, sr=sr)                     # inharmonic tracking
    assert snr_db(y, np.asarray(sinusoidal_synthesis(p))) > 17   # measured: 21.3 dB


# ---------------------------------------------------------------------- morphing


def short_tone(f0, seconds, amps):
    y = harmonic_tone(f0, seconds, amps=amps)
    t = np.arange(len(y)) / SR
    return (y * np.minimum(t / 0.03, 1) * np.minimum((t[-1] - t) / 0.05, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def pair():
    a = short_tone(220.0, 0.6, AMPS)
    b = short_tone(440.0, 0.5, 0.4 * 0.5 ** np.arange(K))
    sa, _ = sinusoidal_model(a, sr=SR, harmonic=True)
    sb, _ = sinusoidal_model(b, sr=SR, harmonic=True)
    return a, b, sa, sb


def test_morph_endpoints_are_the_inputs(pair):
    a, b, sa, sb = pair
    for alpha, y, s_ref in ((0.0, a, sa), (1.0, b, sb)):
        sines, residual = sinusoidal_morph(a, b, alpha, sr=SR, return_components=True)
        assert sines.shape == y.shape and sines.dtype == np.float32
        assert snr_db(s_ref, sines) > 60                  # measured: exact (inf) at both ends
        assert snr_db(y, sines + residual) > 60           # the residual's STFT round trip
        full = sinusoidal_morph(a, b, alpha, sr=SR)
        assert np.allclose(full, sines + residual, atol=1e-6)


def test_morph_midway_pitch_is_the_geometric_mean(pair):
    a, b, _, _ = pair
    m = sinusoidal_morph(a, b, 0.5, sr=SR, residual=False)
    assert len(m) == round(0.5 * len(a) + 0.5 * len(b))
    f0, voiced, _ = librosa.pyin(m, fmin=150, fmax=700, sr=SR)
    expected = np.sqrt(220.0 * 440.0)                     # 311.1 Hz (arithmetic mean: 330)
    assert abs(np.nanmedian(f0[voiced]) / expected - 1) < 0.01
    p = sinusoidal_analysis(m, sr=SR, harmonic=True, max_partials=4)
    mid = slice(5, -5)                                    # away from the attack and release
    assert np.allclose(p.freqs[mid, 0], expected, rtol=2e-3)
    # amplitudes are interpolated linearly: harmonic 2 between 0.35 and 0.2
    assert np.allclose(p.amps[mid, 1], 0.5 * (AMPS[1] + 0.2), rtol=0.05)


def test_morph_trajectory(pair):
    a, b, _, _ = pair
    m = sinusoidal_morph(a, b, np.linspace(0.0, 1.0, 20), sr=SR, residual=False)
    assert len(m) == round(0.5 * len(a) + 0.5 * len(b)) and np.all(np.isfinite(m))
    p = sinusoidal_analysis(m, sr=SR, max_partials=1, threshold_db=-20)
    f = p.freqs[:, 0]
    on = p.amps[:, 0] > 0
    quarter = len(f) // 4
    assert np.median(f[:quarter][on[:quarter]]) < 260     # starts near 220 Hz
    assert np.median(f[-quarter:][on[-quarter:]]) > 380   # ends near 440 Hz


# --------------------------------------------------------------------- bad input


def test_bad_input_is_refused():
    y = harmonic_tone(seconds=0.2)
    with pytest.raises(AudioError):
        sinusoidal_analysis(np.array([0.0, np.nan] * 2000, np.float32))
    with pytest.raises(ParameterError, match=r"1000 samples.*n_fft=2048"):
        sinusoidal_analysis(np.zeros(1000, np.float32))
    with pytest.raises(ParameterError, match="int16"):
        sinusoidal_analysis(np.zeros(4000, np.int16))
    with pytest.raises(ParameterError, match="max_partials"):
        sinusoidal_analysis(y, max_partials=0)
    with pytest.raises(ParameterError, match="threshold_db"):
        sinusoidal_analysis(y, threshold_db=10)
    with pytest.raises(ParameterError, match="window"):
        sinusoidal_analysis(y, window="kaiser")
    with pytest.raises(ParameterError, match="fmax"):
        sinusoidal_analysis(y, harmonic=True, fmax=20000)
    with pytest.raises(ParameterError, match="harmonic_tolerance"):
        sinusoidal_analysis(y, harmonic=True, harmonic_tolerance=0.5)
    with pytest.raises(ParameterError, match="harmonic"):
        sinusoidal_analysis(y, harmonic="yes")
    p = sinusoidal_analysis(y)
    with pytest.raises(ParameterError, match="method"):
        sinusoidal_synthesis(p, method="quadratic")
    with pytest.raises(ParameterError, match="Partials"):
        sinusoidal_synthesis(np.zeros((3, 4)))
    with pytest.raises(ParameterError, match="alpha"):
        sinusoidal_morph(y, y, 1.5)
    with pytest.raises(ParameterError, match="alpha"):
        sinusoidal_morph(y, y, np.zeros((2, 2)))
    with pytest.raises(ParameterError, match=r"b has 100 samples"):
        sinusoidal_morph(y, y[:100], 0.5)
    with pytest.raises(AudioError):
        sinusoidal_morph(y, np.full(4000, np.inf, np.float32), 0.5)
    with pytest.raises(ParameterError, match="hop_length"):
        sinusoidal_morph(y, y, 0.5, hop_length=1500)
    with pytest.raises(ParameterError):
        snr_db([], [])
    assert snr_db(y, y) == np.inf
