"""jaxmusic.synthesis.hybridize and the hybridize / train-autoencoder commands on user files."""

import warnings

import numpy as np
import pytest

import jaxmusic
from jaxmusic.cli import main
from jaxmusic.synthesis import _common
from jaxmusic.synthesis.hybridize import hybridize

SR = 8000


def tone(f0, seconds=0.6, sr=SR, seed=0, n_harm=8):
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * k * f0 * t) * (0.7 ** k) for k in range(1, n_harm + 1))
    y = y + 0.003 * np.random.default_rng(seed).normal(size=t.size)
    return (0.4 * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    jaxmusic.audio.save(d / "voice.wav", tone(220), SR)
    jaxmusic.audio.save(d / "stereo44.wav", np.stack([tone(330, sr=16000), tone(330, sr=16000, seed=1)]), 16000)
    (d / "corpus").mkdir()
    for i, f in enumerate((262, 294, 330)):
        jaxmusic.audio.save(d / "corpus" / f"n{i}.flac", tone(f, seed=i), SR)
    return d


@pytest.mark.parametrize("method", ["envelope", "mosaic", "sinusoidal"])
def test_every_method_from_the_library(method):
    out, sr = hybridize(tone(220), [tone(330, seconds=0.3)], method=method, sr=SR, n_fft=512, hop_length=128)
    assert sr == SR and out.dtype == np.float32 and np.all(np.isfinite(out))
    expected = {"envelope": tone(220).size, "mosaic": tone(220).size}.get(method)
    if expected:
        assert out.shape == (expected,)
    assert np.abs(out).max() > 1e-3


def test_rates_are_matched_and_stereo_mixed():
    y16 = np.stack([tone(220, sr=16000), tone(220, sr=16000)])
    out, sr = hybridize(y16, [tone(330)], method="envelope", sr=SR, source_sr=16000, n_fft=512, hop_length=128)
    assert sr == SR and out.shape == (tone(220).size,)


def test_hybridize_autoencoder_rates_and_options(tmp_path):
    # a given model works at its own rate; training options are checked before any training
    ae = jaxmusic.synthesis.train_autoencoder([tone(220)], sr=SR, n_fft=256, hop_length=64, encoder=(8,), latent=4,
                                              decoder=(8,), seq_len=8, steps=2, progress=False)
    out, sr = hybridize(tone(330), [], method="autoencoder", model=ae)
    assert sr == SR and out.shape == tone(330).shape
    out16, _ = hybridize(tone(330, sr=16000), [], method="autoencoder", model=ae, source_sr=16000)
    assert out16.shape == tone(330).shape
    with pytest.raises(jaxmusic.ParameterError, match="trained with sr=8000"):
        hybridize(tone(330), [], method="autoencoder", model=ae, sr=22050)
    with pytest.raises(jaxmusic.ParameterError, match="unknown options.*colour"):
        hybridize(tone(330), [tone(220)], method="autoencoder", colour=3)
    with pytest.raises(jaxmusic.ParameterError, match="model= is for"):
        hybridize(tone(330), [tone(220)], method="envelope", model=ae)
    with pytest.raises(jaxmusic.ParameterError, match="sampling rate of source"):
        hybridize(tone(330), [tone(220)], sr=SR, source_sr=0)


def test_fit_peak_scales_instead_of_clipping():
    y = np.array([0.5, -2.0, 1.0], np.float32)
    with pytest.warns(_common.ClippingWarning, match="peaked at 2"):
        z = _common.fit_peak(y)
    np.testing.assert_allclose(z, y * 0.99 / 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(_common.fit_peak(np.zeros(4, np.float32)), 0)
    with pytest.raises(jaxmusic.AudioError):
        _common.fit_peak(np.array([np.nan], np.float32))


def test_bad_input():
    with pytest.raises(jaxmusic.ParameterError, match="method"):
        hybridize(tone(220), [tone(330)], method="vocoder", sr=SR)
    with pytest.raises(jaxmusic.ParameterError, match="at least one target"):
        hybridize(tone(220), [], sr=SR)
    with pytest.raises(jaxmusic.ParameterError, match=r"100 samples.*n_fft=512"):
        hybridize(np.zeros(100, np.float32), [tone(330)], sr=SR, n_fft=512)
    with pytest.raises(jaxmusic.AudioError, match="NaN"):
        hybridize(np.full(2000, np.nan, np.float32), [tone(330)], sr=SR, n_fft=512)
    silent, _ = hybridize(np.zeros(2000, np.float32), [tone(330)], sr=SR, n_fft=512, hop_length=128)
    assert np.all(np.isfinite(silent)) and np.abs(silent).max() < 1e-6


def test_read_inputs(files):
    items = _common.read_inputs([files / "voice.wav", files / "corpus", files / "stereo44.wav"], sr=SR)
    assert [n.rsplit("/", 1)[-1] for n, _ in items] == ["voice.wav", "n0.flac", "n1.flac", "n2.flac", "stereo44.wav"]
    assert items[-1][1].ndim == 1 and items[-1][1].size == tone(330).size  # mixed down, resampled to 8 kHz
    notes = _common.read_inputs(["gm8:trumpet:66"], sr=SR)
    assert len(notes) == 1 and notes[0][1].shape == (SR,)
    with pytest.raises(jaxmusic.ParameterError, match="gm8:CLASS"):
        _common.read_inputs(["gm8:kazoo"], sr=SR)
    with pytest.raises(jaxmusic.ParameterError, match="no trumpet note at key 5"):
        _common.read_inputs(["gm8:trumpet:5"], sr=SR)
    with pytest.raises(jaxmusic.AudioError, match="does not exist"):
        _common.read_inputs([files / "missing.wav"], sr=SR)
    (files / "empty").mkdir(exist_ok=True)
    with pytest.raises(jaxmusic.AudioError, match="no audio files"):
        _common.read_inputs([files / "empty"], sr=SR)
    (files / "corrupt.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(jaxmusic.AudioError):
        _common.read_inputs([files / "corrupt.wav"], sr=SR)


@pytest.mark.parametrize("method", ["envelope", "mosaic", "sinusoidal"])
def test_cli_hybridize_writes_audio_and_figure(files, tmp_path, method):
    out = tmp_path / f"{method}.wav"
    rc = main(["hybridize", "--method", method, "--sr", str(SR), str(files / "voice.wav"), str(files / "corpus"),
               "-o", str(out), "-p", "n_fft=512", "-p", "hop_length=128"])
    assert rc == 0
    y, sr = jaxmusic.audio.load(out, sr=None)
    assert sr == SR and np.abs(y).max() <= 1.0 and np.abs(y).max() > 1e-3
    assert out.with_suffix(".png").stat().st_size > 5000


def test_cli_autoencoder_round_trip(files, tmp_path, capsys):
    model = tmp_path / "ae"
    rc = main(["train-autoencoder", str(files / "corpus"), "--out", str(model), "--sr", str(SR), "--n-fft", "256",
               "--hop-length", "64", "--hidden", "16", "--latent", "8", "--seq-len", "8", "--steps", "20", "--quiet"])
    assert rc == 0 and (model / "reconstruction.wav").is_file() and (model / "reconstruction.png").is_file()
    out = tmp_path / "ae.wav"
    assert main(["hybridize", "--method", "autoencoder", "--model", str(model), str(files / "stereo44.wav"),
                 "-o", str(out)]) == 0
    y, sr = jaxmusic.audio.load(out, sr=None)
    assert sr == SR and y.size == tone(330).size
    capsys.readouterr()
    assert main(["hybridize", "--method", "autoencoder", "--model", str(model), str(files / "voice.wav"),
                 "-o", str(out), "-p", "n_fft=1024", "--force"]) == 2
    assert "trained with n_fft=256" in capsys.readouterr().err
    assert main(["hybridize", "--method", "autoencoder", "--model", str(tmp_path), str(files / "voice.wav"),
                 "-o", str(out)]) == 2
    assert main(["hybridize", str(files / "voice.wav"), "-o", str(out)]) == 2  # no target


def test_a_misspelt_option_names_the_valid_ones(files, tmp_path, capsys):
    for method, bad, good in (("envelope", "nfft", "n_fft"), ("mosaic", "kk", "k"), ("sinusoidal", "n_ffts", "n_fft")):
        rc = main(["hybridize", "--method", method, "--sr", str(SR), str(files / "voice.wav"), str(files / "voice.wav"),
                   "-o", str(tmp_path / f"{method}.wav"), "-p", f"{bad}=512"])
        err = capsys.readouterr().err
        assert rc == 2 and f"unknown option '{bad}' (did you mean '{good}'?) for method '{method}'" in err, err
        assert "its options are" in err and "Traceback" not in err
        assert not (tmp_path / f"{method}.wav").exists()
