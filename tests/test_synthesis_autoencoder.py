"""jaxmusic.models.STFTAutoencoder and jaxmusic.synthesis.autoencoder: training, transfer, morphing."""

import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxmusic
from jaxmusic import train
from jaxmusic.models import STFTAutoencoder
from jaxmusic.synthesis import autoencoder as A

SR = 8000
TINY = dict(sr=SR, n_fft=256, hop_length=64, encoder=(32,), latent=16, decoder=(32,), seq_len=16,
            batch_size=8, progress=False)


def tone(f0, seconds=0.5, sr=SR, n_harm=6, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, n_harm + 1))
    y += 0.01 * np.random.default_rng(seed).normal(size=t.size)
    return (0.3 * y / np.abs(y).max() * np.minimum(1, 10 * t)).astype(np.float32)


def params(model):
    return [np.asarray(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))]


def frame_norms(y, n_fft=256, hop=64):
    return np.linalg.norm(np.abs(np.asarray(jaxmusic.fourier.stft(jnp.asarray(y), n_fft=n_fft, hop_length=hop))), axis=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ae")
    ae = A.train_autoencoder([tone(220), tone(330, seed=1), tone(262, seed=2)], steps=120, eval_every=40,
                             learning_rate=3e-3, out=out, **TINY)
    return ae, out


# ---------------------------------------------------------------------------- the module
def test_model_shapes_and_parameter_count():
    m = STFTAutoencoder(n_bins=129, context=3, encoder=(32,), latent=16, decoder=(24,), rngs=nnx.Rngs(0))
    x = jnp.ones((2, 7, 3, 129))
    assert m(x).shape == (2, 7, 129) and m.encode(x).shape == (2, 7, 16)
    lstm = 4 * (32 * 16 + 16 * 16 + 16)  # four gates: input and recurrent kernels, bias
    expected = (3 * 129 * 32 + 32) + lstm + (16 * 24 + 24) + (24 * 129 + 129)
    assert sum(p.size for p in params(m)) == expected
    plain = STFTAutoencoder(n_bins=129, context=1, encoder=(32,), latent=16, lstm=False, decoder=(24,), rngs=nnx.Rngs(0))
    assert sum(p.size for p in params(plain)) == (129 * 32 + 32) + (32 * 16 + 16) + (16 * 24 + 24) + (24 * 129 + 129)
    assert float(m(x).min()) >= 0  # softplus: magnitudes
    with pytest.raises(jaxmusic.ParameterError, match=r"\(batch, time, 3, 129\)"):
        m(jnp.ones((2, 7, 129)))


def test_lstm_has_memory_and_the_dense_ablation_does_not():
    x = jax.random.uniform(jax.random.key(0), (1, 12, 1, 65))
    x2 = x.at[0, 0].add(1.0)  # change only the first frame
    lstm = STFTAutoencoder(n_bins=65, context=1, rngs=nnx.Rngs(0))
    dense = STFTAutoencoder(n_bins=65, context=1, lstm=False, rngs=nnx.Rngs(0))
    assert float(jnp.abs(lstm(x)[0, 8] - lstm(x2)[0, 8]).max()) > 1e-4
    np.testing.assert_array_equal(dense(x)[0, 1:], dense(x2)[0, 1:])


def test_context_holds_the_previous_frames():
    cfg = A.AutoencoderConfig(sr=SR, n_fft=256, hop_length=64, context=3)
    ctx, f = A.autoencoder_frames(tone(220), cfg)
    ctx, f = np.asarray(ctx), np.asarray(f)
    assert ctx.shape == (f.shape[0], 3, 129)
    np.testing.assert_array_equal(ctx[:, -1], f)                  # newest last
    np.testing.assert_array_equal(ctx[5, 0], f[3])
    np.testing.assert_array_equal(ctx[0, :2], 0)                  # zeros before the start


# ---------------------------------------------------------------------------- training and transfer
def test_training_learns_the_sound(trained):
    ae, out = trained
    hist = json.loads((out / "metrics.json").read_text())["history"]
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    assert (out / "curves.png").stat().st_size > 1000
    y = tone(220)
    rec = A.reconstruct(ae, y)
    assert rec.shape == y.shape and np.all(np.isfinite(rec))
    from jaxmusic.synthesis.evaluate import spectral_convergence
    sc_trained = spectral_convergence(y, rec, n_fft=256, hop_length=64)
    untrained = A.TimbreAutoencoder(STFTAutoencoder(n_bins=129, context=4, encoder=(32,), latent=16, decoder=(32,),
                                                    rngs=nnx.Rngs(5)), ae.config)
    sc_untrained = spectral_convergence(y, A.reconstruct(untrained, y), n_fft=256, hop_length=64)
    assert sc_trained < 0.6 * sc_untrained, (sc_trained, sc_untrained)


def test_transfer_keeps_frame_energy_phase_and_length(trained):
    ae, _ = trained
    y = tone(300, seconds=0.7, seed=4)
    out = A.transfer(ae, y)
    assert out.shape == y.shape and out.dtype == np.float32
    a, b = frame_norms(y), frame_norms(out)
    loud = a > 0.1 * a.max()
    ratio = b[loud] / a[loud]
    assert np.median(np.abs(np.log(ratio))) < 0.25, np.percentile(ratio, [5, 50, 95])


class LastFrame(STFTAutoencoder):
    """A 'perfect' autoencoder: it decodes each frame to its own input features."""

    def encode(self, frames):
        return frames[:, :, -1, :]

    def decode(self, codes):
        return codes


@pytest.mark.parametrize("log", [True, False])
def test_front_end_inverts_exactly_with_a_perfect_decoder(log):
    # features -> frame energy -> the input's phase -> ISTFT: an identity network gives the input back
    cfg = A.AutoencoderConfig(sr=SR, n_fft=256, hop_length=64, context=3, log=log)
    ae = A.TimbreAutoencoder(LastFrame(n_bins=129, context=3, rngs=nnx.Rngs(0)), cfg)
    y = tone(300, seed=3)
    np.testing.assert_allclose(A.transfer(ae, y), y, atol=2e-6)
    np.testing.assert_allclose(A.morph(ae, y, tone(200), alpha=0.0), y, atol=2e-6)


def test_silence_in_silence_out(trained):
    ae, _ = trained
    out = A.transfer(ae, np.zeros(2000, np.float32))
    assert np.all(out == 0)
    m = A.morph(ae, np.zeros(2000, np.float32), np.zeros(1000, np.float32), alpha=0.3)
    assert np.all(np.isfinite(m)) and np.all(m == 0)


def test_morph_end_points_are_the_transfers(trained):
    ae, _ = trained
    a, b = tone(220, seed=5), tone(330, seed=6)
    np.testing.assert_allclose(A.morph(ae, a, b, alpha=0.0), A.transfer(ae, a), atol=1e-6)
    np.testing.assert_allclose(A.morph(ae, a, b, alpha=1.0), A.transfer(ae, b), atol=1e-6)
    mid = A.morph(ae, a, b[:2000], alpha=0.5)
    assert mid.shape == a.shape  # the longer input's length; the shorter repeated
    assert not np.allclose(mid, A.transfer(ae, a), atol=1e-3)


def test_other_rates_and_stereo_are_resampled_and_mixed(trained):
    ae, _ = trained
    y16 = tone(220, sr=16000)
    out = A.transfer(ae, y16, sr=16000)
    assert out.shape == (y16.size // 2,)
    stereo = np.stack([tone(220), tone(220)])
    np.testing.assert_allclose(A.transfer(ae, stereo), A.transfer(ae, tone(220)), atol=1e-6)


def test_save_load_round_trip_and_checks(trained, tmp_path):
    ae, out = trained
    again = A.load_autoencoder(out)
    y = tone(250, seed=9)
    np.testing.assert_array_equal(A.transfer(again, y), A.transfer(ae, y))
    assert again.config == ae.config
    with pytest.raises(jaxmusic.ParameterError, match="sr=8000"):
        A.load_autoencoder(out, sr=16000)
    with pytest.raises(jaxmusic.ParameterError, match="n_fft=256"):
        A.load_autoencoder(out, n_fft=1024)
    with pytest.raises(jaxmusic.ParameterError, match="no trained autoencoder"):
        A.load_autoencoder(tmp_path)
    (tmp_path / "autoencoder.json").write_text("{not json")
    (tmp_path / "model").mkdir()
    with pytest.raises(jaxmusic.ParameterError, match="not a valid"):
        A.load_autoencoder(tmp_path)
    with pytest.raises(train.CheckpointError, match="n_fft=256 there, 512 here"):
        A.train_autoencoder([tone(220)], steps=2, out=out, **dict(TINY, n_fft=512))


def test_bad_input(trained):
    ae, _ = trained
    with pytest.raises(jaxmusic.AudioError, match="NaN"):
        A.transfer(ae, np.full(1000, np.nan, np.float32))
    with pytest.raises(jaxmusic.ParameterError, match=r"100 samples.*n_fft=256"):
        A.transfer(ae, np.zeros(100, np.float32))
    with pytest.raises(jaxmusic.ParameterError, match="integer"):
        A.transfer(ae, np.zeros(1000, np.int16))
    with pytest.raises(jaxmusic.ParameterError, match="alpha"):
        A.morph(ae, tone(220), tone(330), alpha=1.5)
    with pytest.raises(jaxmusic.ParameterError, match="TimbreAutoencoder"):
        A.transfer(ae.model, tone(220))
    with pytest.raises(jaxmusic.ParameterError, match="no training audio"):
        A.train_autoencoder([], **TINY)
    with pytest.raises(jaxmusic.ParameterError, match="val_fraction"):
        A.train_autoencoder([tone(220)], val_fraction=0.0, patience=2, **TINY)
    with pytest.raises(jaxmusic.AudioError, match="no such file.*x.wav"):
        A.train_autoencoder(["/nonexistent/x.wav"], **TINY)


# ---------------------------------------------------------------------------- a killed training resumes
WALL_CLOCK = ("seconds", "examples_per_s")  # metrics.json's fields that a rerun cannot reproduce


def _checkpoint_steps(folder):
    return sorted(int(p.name) for p in (folder / "checkpoints").glob("[0-9]*") if p.name.isdigit())


def test_killed_training_resumes_to_the_same_model(tmp_path):
    src = tmp_path / "a.wav"
    jaxmusic.audio.save(src, tone(220, seconds=1.0), SR)
    args = ["--sr", str(SR), "--n-fft", "256", "--hop-length", "64", "--hidden", "32", "--latent", "16",
            "--seq-len", "16", "--batch-size", "8", "--steps", "100", "--eval-every", "10", "--quiet"]
    cmd = [sys.executable, "-m", "jaxmusic.cli", "train-autoencoder", str(src), *args]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if _checkpoint_steps(killed) and max(_checkpoint_steps(killed)) >= 20:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the training finished before it could be killed: " + proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_checkpoint_steps(killed))  # the newest checkpoint the killed run left
    before = json.loads((killed / "metrics.json").read_text())["history"]
    assert not (killed / "model").exists()
    done = subprocess.run(cmd + ["--out", str(killed)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((killed / "autoencoder.json").read_text())["info"]
    assert info["resumed_from"] >= killed_at >= 20 and info["steps_taken"] == 100
    # the resumed run trained from its checkpoint on, not from step 0 again
    assert info["steps_run"] == 100 - info["resumed_from"]
    # the same model as a run never interrupted, bit for bit, and the same metrics history
    reference = tmp_path / "reference"
    A.train_autoencoder([str(src)], steps=100, eval_every=10, out=reference, **TINY)
    for p, q in zip(params(A.load_autoencoder(killed).model), params(A.load_autoencoder(reference).model),
                    strict=True):
        np.testing.assert_array_equal(p, q)
    got, want = (json.loads((f / "metrics.json").read_text()) for f in (killed, reference))

    def reproducible(history):
        return [{k: v for k, v in e.items() if k not in WALL_CLOCK} for e in history]

    assert [e["step"] for e in got["history"]] == list(range(10, 101, 10))
    assert reproducible(got["history"]) == reproducible(want["history"]) and got["best_step"] == want["best_step"]
    # the evaluations up to the checkpoint were restored with it, not run again: they are the
    # killed run's own, wall-clock times included
    restored = [e for e in got["history"] if e["step"] <= info["resumed_from"]]
    assert len(restored) >= 2 and restored == [e for e in before if e["step"] <= info["resumed_from"]]
