"""The representation-properties and transposition experiments (experiments/properties.py).

Small data: synthetic harmonic notes of 4096 samples at 16 kHz, the waveform, the Fourier
modulus, the STFT, MFCC and a small time scattering (J=6: T = 64 samples, Q=(4, 1)).
Transforms are built once per module so that each compiles once.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmusic import AudioError, ParameterError
from jaxmusic.experiments.properties import (
    PROPERTIES,
    default_inverses,
    default_transforms,
    representation_properties,
    time_warp,
    transposition_distances,
)

SR = 16000
N = 4096
NAMES = ["waveform", "fourier", "stft", "mfcc", "scattering"]


def harmonic_note(f0, *, profile=1.0, odd_only=False, n=N, sr=SR, seed=0):
    """A decaying harmonic note on the first 3/4 of ``n`` samples, zeros after (peak ~0.3)."""
    rng = np.random.default_rng(seed)
    m = 3 * n // 4
    t = np.arange(m) / sr
    x = np.zeros(m)
    for k in range(1, 30):
        if k * f0 >= 0.45 * sr or (odd_only and k % 2 == 0):
            continue
        x += k ** -profile * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    x *= np.minimum(1.0, t / 0.01) * np.exp(-t / 0.15)
    out = np.zeros(n, np.float32)
    out[:m] = 0.3 * x / np.abs(x).max()
    return out


@pytest.fixture(scope="module")
def transforms():
    return default_transforms(N, SR, J=6, Q=4, names=NAMES)


@pytest.fixture(scope="module")
def notes():
    return np.stack([harmonic_note(220.0), harmonic_note(330.0, profile=2.0, seed=1),
                     harmonic_note(262.0, odd_only=True, seed=2)])


@pytest.fixture(scope="module")
def result(transforms, notes, tmp_path_factory):
    out = tmp_path_factory.mktemp("properties")
    r = representation_properties(jax.random.key(0), transforms, notes, sr=SR,
                                  inverses=default_inverses(N, SR), shifts=(2, 256),
                                  sweep=(250.0, 1000.0, 4000.0), out=out)
    return r


def test_reports_every_property(result):
    assert list(result["transforms"]) == NAMES
    for name, r in result["transforms"].items():
        assert set(PROPERTIES) <= set(r)
        assert len(r["per_note"]["shift_small"]) == 3
    assert result["transforms"]["fourier"]["shape"] == [N // 2 + 1]


def test_scattering_is_stable_to_warps_where_the_fourier_modulus_is_not(result):
    t = result["transforms"]
    # measured: fourier 69, scattering 8.2 (relative change per unit of dilation)
    assert t["fourier"]["stability_warp"] > 5 * t["scattering"]["stability_warp"]
    assert t["scattering"]["stability_warp"] < 20
    # the seed's argument on Gabor atoms: the Fourier modulus' ratio grows with frequency
    # (doubles per octave, measured 18 / 71 / 273), scattering's stays bounded (5.1 / 7.6 / 7.6)
    f = result["sweep"]["stability_warp"]["fourier"]
    s = result["sweep"]["stability_warp"]["scattering"]
    assert f[0] < f[1] < f[2] and f[2] > 8 * f[0]
    assert max(s) < 20 and f[2] > 10 * max(s)


def test_time_scattering_invariant_to_small_shifts_not_to_large(result):
    s = result["transforms"]["scattering"]
    # measured: 2 samples (T/32) 0.009, 256 samples (4T) 0.38
    assert s["shift_small"] < 0.06
    assert s["shift_large"] > 4 * s["shift_small"]
    # the waveform is invariant to neither; the Fourier modulus of a zero-padded note
    # is exactly invariant to a delay that drops only zeros
    w = result["transforms"]["waveform"]
    assert w["shift_small"] > 0.1 and w["shift_large"] > 1.0
    assert result["transforms"]["fourier"]["shift_small"] < 1e-5


def test_noise_stability_ratio(result):
    t = result["transforms"]
    assert t["waveform"]["stability_noise"] == pytest.approx(1.0, rel=1e-4)
    assert t["stft"]["stability_noise"] == pytest.approx(1.0, rel=0.1)  # a tight frame
    assert t["fourier"]["stability_noise"] < 1.0  # the modulus drops the noise's phase


def test_reconstruction_exact_only_with_an_inverse(result):
    t = result["transforms"]
    assert t["waveform"]["reconstruction"] == 0.0
    assert t["stft"]["reconstruction"] < 1e-5
    for name in ("fourier", "mfcc", "scattering"):
        assert t[name]["reconstruction"] is None


def test_files_written(result):
    files = result["files"]
    for key in ("json", "table", "figure"):
        with open(files[key], "rb") as fh:
            assert len(fh.read()) > 100
    assert files["figure"].endswith(".png")
    with open(files["json"]) as fh:
        saved = json.load(fh)
    assert saved["transforms"]["fourier"]["reconstruction"] is None
    with open(files["table"]) as fh:
        assert "| scattering |" in fh.read()


def test_discriminability_of_identical_notes_is_zero(transforms, notes):
    same = np.stack([notes[0], notes[0]])
    r = representation_properties(jax.random.key(1), transforms, same, sr=SR, sweep=None)
    for name, v in r["transforms"].items():
        assert v["discriminability"] == 0.0, name
    r2 = representation_properties(jax.random.key(1), transforms, notes[:2], sr=SR, sweep=None)
    assert r2["transforms"]["waveform"]["discriminability"] > 1.0  # ~sqrt(2): unrelated notes


def test_time_warp():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 512)).astype(np.float32))
    # an integer displacement is an exact shift (zeros come in)
    y = time_warp(x, np.full(512, 3.0))
    np.testing.assert_allclose(y[:, :-3], x[:, 3:], atol=1e-6)
    np.testing.assert_allclose(y[:, -3:], 0.0, atol=1e-12)
    # a dilation of a low-frequency cosine matches the analytic warp away from the edges
    t = np.arange(N)
    eps, f = 0.01, 0.01
    c = np.cos(2 * np.pi * f * t).astype(np.float32)
    warped = np.asarray(time_warp(c, eps * (t - N / 2)))
    expected = np.cos(2 * np.pi * f * (t + eps * (t - N / 2)))
    np.testing.assert_allclose(warped[200:-200], expected[200:-200], atol=1e-3)
    with pytest.raises(ParameterError, match=r"displacement must have shape \(512,\)"):
        time_warp(x, np.zeros(10))


# ---------------------------------------------------------------- transposition


def test_mfcc_distance_grows_with_resampled_transposition(transforms, notes):
    steps = (-6, -3, -1, 0, 1, 3, 6)
    r = transposition_distances(notes, {"mfcc": transforms["mfcc"]}, semitones=steps, sr=SR,
                                mode="resampled", references=[0, 1])
    d = dict(zip(r["semitones"], r["curves"]["mfcc"]))
    assert d[0] == 0.0
    # measured (down, up): 1: 0.50, 0.48; 3: 1.02, 0.92; 6: 1.07, 1.05 (in units of the
    # mean distance between the three notes): a few semitones move MFCC as far as another note
    assert 1.5 * (d[1] + d[-1]) < d[3] + d[-3]
    assert min(d[3], d[-3], d[6], d[-6]) > 0.8
    assert r["normalization"].startswith("mean distance between all pairs")
    assert r["counts"] == [2] * len(steps)


def test_real_transpositions_stay_within_an_instrument(transforms, tmp_path):
    keys = [57, 58, 59, 60]
    hz = lambda k: 440.0 * 2 ** ((k - 69) / 12)
    notes = np.stack([harmonic_note(hz(k), profile=p, seed=i) for i, (p, k) in
                      enumerate((p, k) for p in (1.0, 2.5) for k in keys)])
    labels = np.repeat([0, 1], 4)
    pitches = np.tile(keys, 2)
    r = transposition_distances(notes, transforms["mfcc"], semitones=[0, 1, 2, 3], sr=SR,
                                pitches=pitches, labels=labels, references=[0, 4], out=tmp_path)
    (curve,) = r["curves"].values()
    assert curve[0] == 0.0 and all(v > 0 for v in curve[1:])
    assert r["counts"] == [2, 2, 2, 2]  # one partner per reference and step, same label
    assert "different labels at the same pitch" in r["normalization"]
    assert (tmp_path / "transposition_real.png").stat().st_size > 1000
    with pytest.raises(ParameterError, match="semitones=4: no reference"):
        transposition_distances(notes, transforms["mfcc"], semitones=[4], sr=SR,
                                pitches=pitches, labels=labels, references=[0, 4])
    with pytest.raises(ParameterError, match="needs pitches"):
        transposition_distances(notes, transforms["mfcc"], semitones=[1], sr=SR)
    with pytest.raises(ParameterError, match="whole semitones"):
        transposition_distances(notes, transforms["mfcc"], semitones=[0.5], sr=SR, pitches=pitches)


# ---------------------------------------------------------------- bad input


def test_bad_input(notes):
    fourier = {"fourier": lambda x: jnp.abs(jnp.fft.rfft(x))}
    key = jax.random.key(0)
    kw = dict(sr=SR, sweep=None)
    with pytest.raises(ParameterError, match="at least 2 notes"):
        representation_properties(key, fourier, notes[:1], **kw)
    bad = notes.copy()
    bad[1, 10] = np.nan
    with pytest.raises(AudioError, match=r"NaN or inf samples \(in notes \[1\]"):
        representation_properties(key, fourier, bad, **kw)
    with pytest.raises(ParameterError, match="transform 'log' gives .* NaN or inf"):
        representation_properties(key, {"log": jnp.log}, notes, **kw)
    trimmed = {"trim": lambda x: np.asarray(x)[: int(np.argmax(np.abs(np.asarray(x)))) + 1]}
    with pytest.raises(ParameterError, match="transform 'trim' changes its output shape"):
        representation_properties(key, trimmed, notes, **kw)
    with pytest.raises(ParameterError, match="must be callable"):
        representation_properties(key, {"x": 3}, notes, **kw)
    with pytest.raises(ParameterError, match="semitones=30 is out of range"):
        transposition_distances(notes, fourier, semitones=[1, 30], sr=SR, mode="resampled")
    with pytest.raises(ParameterError, match="at least 2 notes"):
        transposition_distances(notes[:1], fourier, semitones=[1], sr=SR, mode="resampled")
    with pytest.raises(ParameterError, match="mode must be one of"):
        transposition_distances(notes, fourier, semitones=[1], sr=SR, mode="fake")
    with pytest.raises(ParameterError, match="inverses names 'nope'"):
        representation_properties(key, fourier, notes, inverses={"nope": lambda r: r}, **kw)
