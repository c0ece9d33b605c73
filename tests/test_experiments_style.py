"""jaxmusic.experiments.style: Gatys-style transfer by optimisation of the waveform."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmusic import ParameterError
from jaxmusic.experiments import inversion
from jaxmusic.experiments.style import REPRESENTATIONS_STYLE, StyleTransfer, style_transfer, timbre_metrics

SR, N, STEPS = 8000, 2048, 12


def _tone(f0, n, *, bright):
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) * (1.0 / k if bright else 1.0 / k**3) for k in range(1, 9))
    x = x * (1 + 0.5 * np.sin(2 * np.pi * (6 if bright else 2) * t)) * np.minimum(1.0, t * 40)
    return jnp.asarray(0.3 * x / np.abs(x).max(), jnp.float32)


@pytest.fixture(scope="module")
def signals():
    return _tone(220.0, N, bright=False), _tone(330.0, 3000, bright=True)


@pytest.fixture(scope="module")
def runs(signals, tmp_path_factory):
    c, s = signals
    out = {}
    for rep in REPRESENTATIONS_STYLE:
        folder = tmp_path_factory.mktemp(rep) if rep == "conv1d" else None
        before = inversion._TRACES.get(f"style:{rep}", 0)
        # the default (L-BFGS) once, from noise; Adam from the content for the others
        # (L-BFGS compiles 2-3 times longer)
        opts = dict(init="noise") if rep == "conv1d" else dict(optimizer="adam", learning_rate=0.01)
        r = style_transfer(jax.random.key(0), c, s, representation=rep, steps=STEPS, J=4, Q=2,
                           chunk=5, out=folder, sr=SR, progress=False, **opts)
        out[rep] = (r, inversion._TRACES[f"style:{rep}"] - before, folder)
    return out


@pytest.mark.parametrize("rep", REPRESENTATIONS_STYLE)
def test_loss_decreases_and_output_finite(runs, signals, rep):
    r, traces, _ = runs[rep]
    assert isinstance(r, StyleTransfer)
    assert r.audio.shape == signals[0].shape and r.audio.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(r.audio)))
    for curve in (r.loss, r.content_loss, r.style_loss):
        assert curve.shape == (STEPS + 1,) and np.all(np.isfinite(curve))
    np.testing.assert_allclose(r.loss, r.content_loss + r.style_loss, rtol=1e-4, atol=1e-7)
    if rep == "conv1d":  # L-BFGS from noise, far from the content
        assert r.content_loss[0] > 0.1
        assert r.loss[-1] < 0.5 * r.loss[0]
    else:  # Adam from the content: no content loss at the start, all of it style
        assert r.content_loss[0] < 1e-6 and r.style_loss[0] > 0
        assert r.loss[-1] < 0.9 * r.loss[0]
        assert r.style_loss[-1] < 0.9 * r.style_loss[0]
    assert traces == 1  # three chunks (5, 5, 2 + 3 idle), one compilation


def test_files_written(runs):
    _, _, folder = runs["conv1d"]
    for name in ("content.wav", "style.wav", "result.wav", "style_transfer.png"):
        assert (folder / name).stat().st_size > 0


def _timbre_metrics_by_librosa(result, content, style):
    """timbre_metrics's two numbers from their definitions, computed with librosa."""
    import librosa

    def m(y):  # time-averaged MFCC 1-19 (no energy)
        return librosa.feature.mfcc(y=np.asarray(y), sr=SR, n_mfcc=20, n_fft=1024, hop_length=256,
                                    n_mels=64)[1:].mean(axis=1)

    def logmel(y):
        return librosa.power_to_db(librosa.feature.melspectrogram(y=np.asarray(y), sr=SR, n_fft=1024,
                                                                  hop_length=256, n_mels=64), ref=1.0, top_db=80.0)

    lr, lc = logmel(result), logmel(content)
    return (np.linalg.norm(m(result) - m(style)) / np.linalg.norm(m(content) - m(style)),
            np.linalg.norm(lr - lc) / np.linalg.norm(lc - lc.mean()), lc)


def test_timbre_metrics(signals):
    c, s = signals
    s_n = s[: c.shape[0]]  # the style cut to the content's length
    # a half-and-half mix of content and style: both numbers strictly between the extremes
    mix = 0.5 * c + 0.5 * s_n
    m = timbre_metrics(mix, c, s, sr=SR)
    tts, change, _ = _timbre_metrics_by_librosa(mix, c, s)
    assert 0.2 < tts < 0.8 and 0.2 < change  # measured: 0.56 and 0.96
    assert m["timbre_to_style"] == pytest.approx(tts, rel=1e-3)
    assert m["content_change"] == pytest.approx(change, rel=1e-3)
    # the style itself as the result: its timbre exactly
    m = timbre_metrics(s_n, c, s_n, sr=SR)
    tts, change, _ = _timbre_metrics_by_librosa(s_n, c, s_n)
    assert m["timbre_to_style"] == pytest.approx(0.0, abs=1e-6)
    assert m["content_change"] == pytest.approx(change, rel=1e-3) and change > 1.0  # measured: 1.40
    # a gain is no change of timbre (MFCC 0, the energy, is left out) but shifts every
    # log-mel value by 20 log10(2) dB: the relative change is known in closed form
    m = timbre_metrics(2 * c, c, s, sr=SR)
    _, _, lc = _timbre_metrics_by_librosa(2 * c, c, s)
    assert m["timbre_to_style"] == pytest.approx(1.0, abs=1e-4)
    expected = 20 * np.log10(2) * np.sqrt(lc.size) / np.linalg.norm(lc - lc.mean())
    assert m["content_change"] == pytest.approx(expected, rel=1e-3)  # measured: 0.29
    # and the content unchanged
    m = timbre_metrics(c, c, s, sr=SR)
    assert m["timbre_to_style"] == pytest.approx(1.0) and m["content_change"] == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs(signals):
    c, s = signals
    key = jax.random.key(0)
    with pytest.raises(ParameterError, match="representation"):
        style_transfer(key, c, s, representation="vgg", progress=False)
    with pytest.raises(ParameterError, match="steps"):
        style_transfer(key, c, s, steps=0, progress=False)
    with pytest.raises(ParameterError, match=r"content has 100 samples, shorter than .*2\*\*J"):
        style_transfer(key, c[:100], s, J=8, progress=False)
    with pytest.raises(ParameterError, match=r"style has 500 samples, shorter than the STFT frame"):
        style_transfer(key, c, s[:500], representation="conv2d", progress=False)
    with pytest.raises(ParameterError, match="NaN"):
        style_transfer(key, c.at[3].set(jnp.nan), s, progress=False)
    with pytest.raises(ParameterError, match="silent"):
        style_transfer(key, jnp.zeros_like(c), s, progress=False)
    with pytest.raises(ParameterError, match="mono"):
        style_transfer(key, jnp.stack([c, c]), s, progress=False)
    with pytest.raises(ParameterError, match="style_weight"):
        style_transfer(key, c, s, style_weight=-1.0, progress=False)
    with pytest.raises(ParameterError, match="optimizer"):
        style_transfer(key, c, s, optimizer="sgd", progress=False)
