"""The seed's evaluations of timbre transfer: reconstruction, pitch test, bandwidth.

Measured on the full default pitch test (5 files x 20 notes x 8 classes, TimGM6mb,
16 kHz, seed 0): the identity loses 11 of 800 notes (1.4%), all low piano notes
that pYIN finds unvoiced in the input. The quick set here (1 file x 4 notes x 3
classes) loses none; the bound below leaves one note of margin.
"""

import json

import librosa
import numpy as np
import pytest
import scipy.signal

from jaxmusic._checks import AudioError, JaxMusicError, ParameterError
from jaxmusic.data.soundfont import GM8_RANGES
from jaxmusic.plot import figure_pitch_test, figure_spectrograms
from jaxmusic.synthesis.evaluate import (
    bandwidth,
    bandwidth_comparison,
    log_spectral_distance,
    pitch_preservation,
    pitch_test,
    pitch_test_notes,
    reconstruction,
    spectral_convergence,
)

SR = 16000
QUICK = dict(n_files=1, n_notes=4, classes=("violin", "clarinet", "trumpet"), sr=SR)
PNG = b"\x89PNG\r\n\x1a\n"


def noise(n=SR, seed=0, scale=0.1):
    return (scale * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def tone(hz, n=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / SR)).astype(np.float32)


def identity(y, sr):
    return y


def up_3_semitones(y, sr):
    return librosa.effects.pitch_shift(y, sr=sr, n_steps=3)


def white_noise(y, sr):
    return noise(len(y), seed=7)


def is_png(path):
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


@pytest.fixture(scope="module")
def quick():
    return pitch_test_notes(**QUICK)


# ---------------------------------------------------------------- reconstruction measures
def test_spectral_convergence_known_values():
    x = noise()
    assert spectral_convergence(x, x) == 0.0
    assert spectral_convergence(x, 2 * x) == pytest.approx(1.0, rel=1e-5)
    assert spectral_convergence(x, 0.25 * x) == pytest.approx(0.75, rel=1e-5)
    assert spectral_convergence(x, -x) == pytest.approx(0.0, abs=1e-6)  # magnitudes only
    assert spectral_convergence(x, np.zeros_like(x)) == pytest.approx(1.0)
    # equal-energy tones far apart in frequency: disjoint magnitudes, sqrt(1 + 1)
    assert spectral_convergence(tone(1000), tone(3000)) == pytest.approx(np.sqrt(2), rel=2e-3)
    # different lengths: both cut to the shorter
    assert spectral_convergence(x, np.concatenate([x, noise(4000, seed=3)])) == 0.0
    z = np.zeros(4096, np.float32)
    assert spectral_convergence(z, z) == 0.0 and spectral_convergence(z, noise(4096)) == np.inf


def test_log_spectral_distance_known_values():
    x = noise()
    assert log_spectral_distance(x, 0.5 * x) == pytest.approx(20 * np.log10(2), abs=0.01)
    assert log_spectral_distance(x, 0.1 * x) == pytest.approx(20.0, abs=0.05)
    assert log_spectral_distance(x, x) == 0.0
    # the upper half of the band at half amplitude: per frame, RMS over bins of (6.02 dB, 0 dB)
    spec = np.fft.rfft(x)
    spec[len(spec) // 2:] *= 0.5
    half = np.fft.irfft(spec, n=len(x)).astype(np.float32)
    assert log_spectral_distance(x, half) == pytest.approx(20 * np.log10(2) / np.sqrt(2), abs=0.1)
    # a silent estimate: large and finite (floored at -80 dB re. the reference's peak)
    assert 40 < log_spectral_distance(x, np.zeros_like(x)) < 80


def test_reconstruction_dict_and_figure(tmp_path):
    x = noise()
    r = reconstruction(x, 0.5 * x[:12000], sr=SR, out=tmp_path)
    assert r["spectral_convergence"] == pytest.approx(0.5, rel=1e-5)
    assert r["log_spectral_distance_db"] == pytest.approx(6.02, abs=0.01)
    assert (r["n_samples"], r["reference_samples"], r["estimate_samples"]) == (12000, 16000, 12000)
    assert is_png(tmp_path / "reconstruction.png")
    assert json.loads((tmp_path / "reconstruction.json").read_text())["n_samples"] == 12000


# ---------------------------------------------------------------- pitch test input
def test_pitch_test_notes_shapes_ranges_and_seeds(quick):
    assert [r["class"] for r in quick] == ["violin", "clarinet", "trumpet"]
    for r in quick:
        assert r["audio"].shape == (4 * 8000,) and r["audio"].dtype == np.float32 and r["sr"] == SR
        lo, hi = GM8_RANGES[r["class"]]
        assert r["keys"].shape == (4,) and ((lo <= r["keys"]) & (r["keys"] <= hi)).all()
        np.testing.assert_array_equal(r["boundaries"], [[0, 8000], [8000, 16000], [16000, 24000], [24000, 32000]])
        np.testing.assert_array_equal(r["held"][:, 1] - r["held"][:, 0], 6400)  # 0.8 of the note
        for s, e in r["boundaries"]:  # every note sounds
            assert np.abs(r["audio"][s:e]).max() > 0.01
    again = pitch_test_notes(**QUICK)
    for a, b in zip(quick, again):
        np.testing.assert_array_equal(a["keys"], b["keys"])
        np.testing.assert_array_equal(a["audio"], b["audio"])
    other = pitch_test_notes(**{**QUICK, "seed": 1})
    assert any((a["keys"] != b["keys"]).any() for a, b in zip(quick, other))
    # a class's melodies do not depend on the other classes asked for
    alone = pitch_test_notes(**{**QUICK, "classes": ["trumpet"]})
    np.testing.assert_array_equal(alone[0]["keys"], quick[2]["keys"])
    # the default: 5 melodies of 20 notes per class, keys spread over the range
    full = pitch_test_notes(classes=["flute"])
    keys = np.concatenate([r["keys"] for r in full])
    assert len(full) == 5 and keys.size == 100 and keys.min() < 66 and keys.max() > 90


# ---------------------------------------------------------------- pitch preservation
def test_pitch_test_identity_keeps_the_pitch(quick, tmp_path):
    r = pitch_test(identity, quick, out=tmp_path, progress=False)
    assert r["n_notes"] == 12 and len(r["notes"]) == 12
    assert r["lost_share"] <= 1 / 12  # measured 0 here (1.4% on the full 800 notes)
    assert r["tolerance_cents"] == 50 and r["voicing_threshold"] == 0.5
    assert set(r["per_class"]) == {"violin", "clarinet", "trumpet"}
    assert all(q["reference_from"] == "input" and abs(q["input_cents_from_key"]) <= 50 for q in r["notes"])
    saved = json.loads((tmp_path / "pitch_test.json").read_text())
    assert saved["lost_share"] == r["lost_share"] and len(saved["example"]["f0_in"]) > 100
    assert is_png(tmp_path / "pitch_test.png")


def test_pitch_test_transposed_and_noise_lose_the_pitch(quick):
    r = pitch_test(up_3_semitones, quick, progress=False)
    assert r["lost_share"] >= 11 / 12
    cents = [q["cents"] for q in r["notes"] if q["cents"] is not None]
    assert abs(np.median(cents) - 300) <= 30
    assert {q["reason"] for q in r["notes"] if q["lost"]} == {"pitch"}

    r = pitch_test(white_noise, quick, progress=False)
    assert r["lost_share"] == 1.0 and r["unvoiced_share"] == 1.0


def test_pitch_preservation_tolerance_and_octaves():
    # four 0.5 s tones: kept (30 cents off), lost (80 cents), an octave up, silent
    keys = np.array([60, 64, 69, 67])
    f_in = librosa.midi_to_hz(keys)
    f_out = librosa.midi_to_hz(keys + np.array([0.3, 0.8, 12.0, 0.0]))
    x = np.concatenate([tone(f, 8000) for f in f_in])
    y = np.concatenate([tone(f, 8000) for f in f_out[:3]] + [np.zeros(8000, np.float32)])
    b = np.array([[0, 8000], [8000, 16000], [16000, 24000], [24000, 32000]])
    r = pitch_preservation([x], [y], sr=SR, boundaries=[b], keys=[keys])
    assert [q["reason"] for q in r["notes"]] == ["", "pitch", "octave", "unvoiced"]
    assert [q["lost"] for q in r["notes"]] == [False, True, True, True]
    assert r["notes"][0]["cents"] == pytest.approx(30, abs=12)  # 20-cent pitch grid
    assert r["octave_share"] == 0.25 and r["lost_share"] == 0.75
    # a wider tolerance keeps the 80-cent note; an output cut short loses the notes it lacks
    r = pitch_preservation([x], [y], sr=SR, boundaries=[b], keys=[keys], tolerance_cents=100)
    assert [q["lost"] for q in r["notes"]] == [False, False, True, True]
    r = pitch_preservation([x], [x[:12000]], sr=SR, boundaries=[b], keys=[keys])
    assert [q["reason"] for q in r["notes"]] == ["", "unvoiced", "unvoiced", "unvoiced"]


# ---------------------------------------------------------------- bandwidth
def test_bandwidth_noise_lowpass_and_tone():
    w = noise()
    lp = scipy.signal.sosfilt(scipy.signal.butter(8, 2000, fs=SR, output="sos"), w).astype(np.float32)
    bw, bl, bt = bandwidth(w, sr=SR), bandwidth(lp, sr=SR), bandwidth(tone(1000), sr=SR)
    assert bl["rolloff_hz"] < 2500 < 7000 < bw["rolloff_hz"]
    assert bl["spectral_bandwidth_hz"] < bw["spectral_bandwidth_hz"]
    assert abs(bt["rolloff_hz"] - 1000) <= 2 * SR / 2048 and bt["spectral_bandwidth_hz"] < 50
    assert bt["centroid_hz"] == pytest.approx(1000, abs=5)
    silent = bandwidth(np.zeros(SR, np.float32), sr=SR)
    assert np.isnan(silent["rolloff_hz"]) and silent["n_frames_used"] == 0


def test_bandwidth_comparison_follows_the_training_audio():
    w = noise()
    cut = {hz: scipy.signal.sosfilt(scipy.signal.butter(8, hz, fs=SR, output="sos"), w).astype(np.float32)
           for hz in (1000, 2000, 4000)}
    # each "model" outputs audio as band-limited as its training class
    training = {f"lp{hz}": np.stack([cut[hz], cut[hz]]) for hz in cut}
    outputs = {f"lp{hz}": [cut[hz][::-1].copy()] for hz in cut}
    r = bandwidth_comparison(outputs, training, [w, noise(seed=1)], sr=SR)
    assert r["input"]["n_signals"] == 2 and r["input"]["rolloff_hz"] > 7000
    assert all(m["nearer"] == "training" for m in r["models"].values())
    assert r["models"]["lp2000"]["training"]["n_signals"] == 2
    assert r["spearman_rolloff"] == pytest.approx(1.0)
    single = bandwidth_comparison(w, cut[1000], w, sr=SR)
    assert single["models"]["model"]["nearer"] == "input" and single["spearman_rolloff"] is None


# ---------------------------------------------------------------- figures
def test_figure_spectrograms(tmp_path):
    path = figure_spectrograms({"input": noise(), "target": tone(440, 12000), "output": noise(8000, 2)},
                               SR, tmp_path / "sub" / "spec.png", title="three")
    assert is_png(path)
    with pytest.raises(ParameterError, match="non-empty dict"):
        figure_spectrograms({}, SR, tmp_path / "x.png")
    with pytest.raises(ParameterError, match="NaN"):
        figure_spectrograms({"bad": np.full(4096, np.nan, np.float32)}, SR, tmp_path / "x.png")


def test_figure_pitch_test_without_example(tmp_path):
    keys = np.array([60, 67])
    x = np.concatenate([tone(f, 8000) for f in librosa.midi_to_hz(keys)])
    r = pitch_preservation([x], [x], sr=SR, boundaries=[np.array([[0, 8000], [8000, 16000]])],
                           keys=[keys], classes=["sine"])
    assert r["per_class"]["sine"]["lost_share"] == 0.0
    assert is_png(figure_pitch_test(r, tmp_path / "p.png"))


# ---------------------------------------------------------------- bad input
def test_bad_input_gets_clear_errors(quick):
    x = noise()
    bad = x.copy()
    bad[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        spectral_convergence(x, bad)
    with pytest.raises(ParameterError, match="shorter than one frame"):
        log_spectral_distance(x[:1000], x[:1000])
    with pytest.raises(ParameterError, match="floor_db"):
        log_spectral_distance(x, x, floor_db=0)
    with pytest.raises(ParameterError, match="classes must be among"):
        pitch_test_notes(classes=["banjo"])
    with pytest.raises(ParameterError, match="n_notes"):
        pitch_test_notes(n_notes=0)

    b = np.array([[0, 8000], [8000, 16000]])
    with pytest.raises(ParameterError, match="2 inputs but 1 outputs"):
        pitch_preservation([x, x], [x], sr=SR, boundaries=[b, b], keys=[[60, 60], [60, 60]])
    with pytest.raises(ParameterError, match="inputs is empty"):
        pitch_preservation([], [], sr=SR, boundaries=[])
    with pytest.raises(ParameterError, match="input's length"):
        pitch_preservation([x], [x], sr=SR, boundaries=[np.array([[0, 20000]])], fmin=100, fmax=1000)
    with pytest.raises(ParameterError, match="too short for one pYIN frame"):
        pitch_preservation([x], [x], sr=SR, boundaries=[np.array([[0, 2000]])], fmin=100, fmax=1000)
    with pytest.raises(ParameterError, match="keys= or both fmin"):
        pitch_preservation([x], [x], sr=SR, boundaries=[b])
    with pytest.raises(AudioError, match="NaN"):
        pitch_preservation([x], [bad], sr=SR, boundaries=[b], keys=[np.array([60, 60])])

    with pytest.raises(ParameterError, match="non-empty list"):
        pitch_test(identity, [], progress=False)
    with pytest.raises(ParameterError, match="callable"):
        pitch_test("identity", quick, progress=False)
    with pytest.raises(ParameterError, match="records are at 16000"):
        pitch_test(identity, quick, sr=22050, progress=False)
    with pytest.raises(AudioError, match="NaN"):
        pitch_test(lambda y, sr: np.full_like(y, np.nan), quick[:1], progress=False)

    def broken(y, sr):
        raise RuntimeError("boom")

    with pytest.raises(JaxMusicError, match="method broken failed on violin file 0: RuntimeError: boom"):
        pitch_test(broken, quick, progress=False)

    with pytest.raises(ParameterError, match="same, non-empty set of models"):
        bandwidth_comparison({"a": x}, {"b": x}, x, sr=SR)
    with pytest.raises(ParameterError, match="both be dicts"):
        bandwidth_comparison({"a": x}, x, x, sr=SR)
    with pytest.raises(ParameterError, match="inputs is empty"):
        bandwidth_comparison(x, x, [], sr=SR)
    with pytest.raises(AudioError, match="NaN"):
        bandwidth(bad, sr=SR)
