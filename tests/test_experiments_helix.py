"""The pitch helix: Isomap of CQT-bin correlations across gm8 notes follows pitch class."""

import numpy as np
import pytest

from jaxmusic import ParameterError
from jaxmusic.data import gm8
from jaxmusic.experiments.helix import measure_helix, pitch_helix

SR = 16000


@pytest.fixture(scope="module")
def notes():
    # the 353 TimGM6mb notes of run_helix(quick=True): eight instruments, every semitone
    return gm8(sr=SR, duration=1.0, velocities=(75,), pitch_step=1)


@pytest.fixture(scope="module")
def helix(notes):
    return pitch_helix(notes.audio, sr=SR)


def test_angle_follows_pitch_class(helix):
    # measured: circular correlation +0.993, resultant 0.996, +1.00 turns per octave
    m = helix.measure
    assert abs(m.circular_correlation) > 0.9
    assert m.resultant_length > 0.9
    assert 0.9 < abs(m.winding) < 1.1
    assert np.sign(m.winding) == np.sign(m.circular_correlation)
    # the height along the axis grows with pitch
    assert np.corrcoef(m.height, helix.midi)[0, 1] > 0.9


def test_bins_and_shapes(helix, notes):
    assert helix.embedding.shape == (48, 3)
    assert helix.correlation.shape == (48, 48)
    np.testing.assert_allclose(helix.midi, 40 + np.arange(48), atol=1e-6)  # E2 .. D#6
    np.testing.assert_array_equal(helix.pitch_class, (40 + np.arange(48)) % 12)
    assert helix.n_notes == len(notes)
    np.testing.assert_allclose(np.diag(helix.correlation), 1.0, atol=1e-9)


def test_without_flattening_no_helix(notes):
    # the spectral envelope hides the octave links (measured +0.015): the choice matters
    h = pitch_helix(notes, flatten=False)
    assert abs(h.measure.circular_correlation) < 0.5


def test_noise_gives_no_helix():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((200, SR // 2)).astype(np.float32)
    h = pitch_helix(noise, sr=SR)
    assert abs(h.measure.circular_correlation) < 0.5


def test_figure(notes, tmp_path):
    sub = notes.subset(np.arange(0, len(notes), 3))
    pitch_helix(sub, out=tmp_path)
    assert (tmp_path / "helix.png").stat().st_size > 10_000


def test_measure_on_synthetic_helices():
    midi = 40.0 + np.arange(48)
    t = 2 * np.pi * midi / 12
    E = np.stack([np.cos(t), np.sin(t), 0.2 * midi], axis=1)
    m = measure_helix(E, midi)
    assert m.circular_correlation == pytest.approx(1.0, abs=1e-9)
    assert m.winding == pytest.approx(1.0, abs=1e-9)
    mirrored = measure_helix(E * [1, -1, 1], midi)
    assert mirrored.circular_correlation == pytest.approx(-1.0, abs=1e-9)
    assert mirrored.winding == pytest.approx(-1.0, abs=1e-9)
    rng = np.random.default_rng(0)
    noisy = measure_helix(E + 0.3 * rng.standard_normal(E.shape), midi)
    assert noisy.circular_correlation > 0.8
    # two turns per octave (a whole-tone circle) is not a pitch-class helix
    E2 = np.stack([np.cos(2 * t), np.sin(2 * t), 0.2 * midi], axis=1)
    m2 = measure_helix(E2, midi)
    assert abs(m2.circular_correlation) < 0.2 and m2.winding == pytest.approx(2.0, abs=1e-6)
    assert abs(measure_helix(rng.standard_normal((48, 3)), midi).circular_correlation) < 0.5


def test_bad_input(notes):
    x = np.asarray(notes.audio[:5])
    with pytest.raises(ParameterError, match="at least 3 notes"):
        pitch_helix(x[:2], sr=SR)
    bad = x.copy()
    bad[1, 10] = np.nan
    with pytest.raises(ParameterError, match=r"notes \[1\].*NaN"):
        pitch_helix(bad, sr=SR)
    with pytest.raises(ParameterError, match="sr="):
        pitch_helix(x)
    with pytest.raises(ParameterError, match="shape"):
        pitch_helix(x[0], sr=SR)
    with pytest.raises(ParameterError, match="floating point"):
        pitch_helix((x * 1000).astype(np.int16), sr=SR)
    with pytest.raises(ParameterError, match="n_bins"):
        pitch_helix(x, sr=SR, n_bins=20)
    with pytest.raises(ParameterError, match="n_neighbors"):
        pitch_helix(x, sr=SR, n_neighbors=48)
    with pytest.raises(ParameterError, match="silent"):
        pitch_helix(np.zeros((4, SR), np.float32), sr=SR)
    with pytest.raises(ParameterError, match="do not vary"):
        pitch_helix(np.repeat(x[:1], 4, axis=0), sr=SR)
    with pytest.raises(ParameterError, match="embedding must have shape"):
        measure_helix(np.zeros((48, 2)), np.arange(48))
    with pytest.raises(ParameterError, match="two octaves"):
        measure_helix(np.zeros((20, 3)), np.arange(20))
