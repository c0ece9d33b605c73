"""WaveNet autoencoder and universal music translator: architecture, cached generation,
training (alternating adversarial steps, resumption), translation, bad input."""

import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
from flax import nnx

import jaxmusic
from jaxmusic.models import wavenet as W
from jaxmusic.synthesis import wavenet as WN

# a configuration small enough to compile and train in seconds; two stacks so that the naive
# reference slides its window (receptive field 33 samples < 128)
SMALL = W.wavenet_config("tiny", encoder_layers=3, encoder_stages=3, decoder_layers=4, decoder_stages=4, hop=16,
                         residual=16, skip=16, encoder_width=16)
SR = SMALL.sr
KILL = W.wavenet_config("tiny", encoder_layers=1, encoder_stages=1, decoder_layers=2, decoder_stages=2, hop=16,
                        residual=8, skip=8, encoder_width=8)  # the kill-and-resume test's: compiles fastest


def tone(f0, seconds=0.5, sr=SR, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f0 * t) * np.minimum(1, 20 * t)).astype(np.float32)


def _translator(tmp_path):
    # from the command line on built-in notes; one step: DomainSampler's batch 0 is of domain 0 (trumpet)
    from jaxmusic.cli import main

    over = [f"--config={k}={v}" for k, v in SMALL.to_json().items()]
    folder = tmp_path / "tr"
    assert main(["train-translator", "gm8:trumpet:66", "gm8:flute:72", *over, "--crop", "256", "--steps", "1",
                 "--batch-size", "4", "--quiet", "--out", str(folder)]) == 0
    assert (folder / "translation.wav").is_file() and (folder / "translation.png").is_file()
    return WN.load_wavenet(folder, kind="translator")


# ---------------------------------------------------------------------------- architecture
def test_mu_law_is_librosas():
    x = np.concatenate([np.linspace(-1, 1, 2001), [0.0, -1.0, 1.0, 1e-6, -1e-6]]).astype(np.float32)
    q = np.asarray(W.mu_law_encode(x))
    ref = librosa.mu_compress(x, mu=255, quantize=True) + 128
    top = x == 1.0  # librosa puts exactly 1.0 in a 257th class (128); jaxmusic keeps 256 classes
    np.testing.assert_array_equal(q[~top], ref[~top])
    assert (ref[top] == 256).all() and (q[top] == 255).all()
    np.testing.assert_allclose(np.asarray(W.mu_law_decode(q)), librosa.mu_expand(q - 128, mu=255, quantize=True),
                               atol=1e-6)
    assert q.min() == 0 and q.max() == 255


def test_parameter_counts_nsynth_and_tiny():
    # NSynth's model (Engel et al. 2017, h512_bo16) built abstractly: no 250 MB allocation
    nsynth = nnx.eval_shape(lambda: W.WaveNetAutoencoder(config="nsynth", rngs=nnx.Rngs(0)))
    assert W.count_params(nsynth) == W.expected_params(W.WAVENET_PRESETS["nsynth"]) == 61_804_048
    assert nsynth.config.receptive_field == 6141 and nsynth.config.hop == 512 and nsynth.config.latent == 16
    tiny = nnx.eval_shape(lambda: W.WaveNetAutoencoder(config="tiny", rngs=nnx.Rngs(0)))
    assert W.count_params(tiny) == W.expected_params(W.WAVENET_PRESETS["tiny"]) == 136_904
    tr = nnx.eval_shape(lambda: W.MusicTranslator(config="tiny", n_domains=3, rngs=nnx.Rngs(0)))
    assert W.count_params(tr) == W.expected_params(W.WAVENET_PRESETS["tiny"], n_decoders=3, classifier=64, n_domains=3)


def test_shapes_and_causality():
    ae = W.WaveNetAutoencoder(config=SMALL, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (2, 128)), jnp.float32)
    z = nnx.jit(lambda m, x: m.encode(x))(ae, x)
    assert z.shape == (2, 8, SMALL.latent)
    assert jax.eval_shape(lambda x: ae(x), x).shape == (2, 128, 256)
    # the decoder is causal: its logits at t do not move when inputs after t change
    q = W.mu_law_encode(x)
    decode = nnx.jit(lambda m, q, z: m.decoder(W.decoder_inputs(q), z))
    base = decode(ae, q, z)
    q2 = q.at[:, 70:].set(0)
    moved = decode(ae, q2, z)
    np.testing.assert_allclose(base[:, :71], moved[:, :71], atol=1e-6)
    assert float(jnp.abs(base[:, 72:] - moved[:, 72:]).max()) > 1e-3


# ---------------------------------------------------------------------------- cached generation
def test_cached_logits_equal_the_full_decoder():
    ae = W.WaveNetAutoencoder(config=SMALL, rngs=nnx.Rngs(1))
    x = jnp.asarray(0.4 * np.sin(np.arange(2 * 128) / 3.0).reshape(2, 128), jnp.float32)
    q, z = W.mu_law_encode(x), nnx.jit(lambda m, x: m.encode(x))(ae, x)
    full = nnx.jit(lambda m, q, z: m.decoder(W.decoder_inputs(q), z))(ae, q, z)
    cached = W.cached_logits(ae.decoder, z, q)
    np.testing.assert_allclose(np.asarray(cached), np.asarray(full), rtol=1e-5, atol=2e-5)


def test_cached_generation_equals_naive_and_vmap_equals_loop():
    ae = W.WaveNetAutoencoder(config=SMALL, rngs=nnx.Rngs(2))
    z = jax.random.normal(jax.random.key(3), (2, 8, SMALL.latent))
    key = jax.random.key(4)
    fast = W.generate(key, ae.decoder, z)
    slow = W.naive_generate(key, ae.decoder, z)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(slow))
    assert fast.shape == (2, 128) and fast.dtype == jnp.int32
    assert len(np.unique(np.asarray(fast))) > 5  # sampled, not constant
    keys = jax.random.split(key, 2)  # the batch's per-sequence keys: a sequence alone draws the same samples
    one = W.generate(keys[1:], ae.decoder, z[1:])
    np.testing.assert_array_equal(np.asarray(one[0]), np.asarray(fast[1]))
    # greedy: every sample is the most likely class of the full decoder given the samples before it
    greedy = W.generate(key, ae.decoder, z, temperature=0)
    logits = nnx.jit(lambda m, q, z: m(W.decoder_inputs(q), z))(ae.decoder, greedy, z)
    np.testing.assert_array_equal(np.asarray(jnp.argmax(logits, axis=-1)), np.asarray(greedy))


def test_generation_bad_input():
    ae = W.WaveNetAutoencoder(config=SMALL, rngs=nnx.Rngs(0))
    with pytest.raises(jaxmusic.ParameterError, match="codes must have shape"):
        W.generate(jax.random.key(0), ae.decoder, jnp.zeros((1, 4, SMALL.latent + 1)))
    with pytest.raises(jaxmusic.ParameterError, match="key must be a jax.random.key"):
        W.generate(np.uint32([0, 1]), ae.decoder, jnp.zeros((1, 4, SMALL.latent)))
    with pytest.raises(jaxmusic.ParameterError, match="temperature"):
        W.generate(jax.random.key(0), ae.decoder, jnp.zeros((1, 4, SMALL.latent)), temperature=-1)
    with pytest.raises(jaxmusic.ParameterError, match="100 samples.*multiple of its hop"):
        ae.encode(jnp.zeros((1, 100)))
    with pytest.raises(jaxmusic.ParameterError, match="unknown WaveNet preset 'huge'"):
        W.WaveNetAutoencoder(config="huge", rngs=nnx.Rngs(0))
    with pytest.raises(jaxmusic.ParameterError, match="n_domains"):
        W.MusicTranslator(config=SMALL, n_domains=1, rngs=nnx.Rngs(0))


# ---------------------------------------------------------------------------- augmentation
def test_pitch_augment_shifts_one_segment_only():
    x = jnp.asarray(np.tile(tone(200, seconds=0.25), (4, 1)))
    same = WN.pitch_augment(jax.random.key(0), x, max_semitones=0.0)
    np.testing.assert_allclose(np.asarray(same), np.asarray(x), atol=1e-6)
    y = np.asarray(WN.pitch_augment(jax.random.key(1), x))
    changed = np.abs(y - np.asarray(x)) > 1e-6
    for row in changed:
        idx = np.flatnonzero(row)
        assert 0 < idx.size <= 0.5 * x.shape[1] + 1  # one segment, at most half the crop
        assert idx[-1] - idx[0] < 0.5 * x.shape[1] + 1
    assert changed.any(axis=1).all()


# ---------------------------------------------------------------------------- training
def _check_one_alternating_step(translator):
    # the same initial model as train_translator's (seed 0), against the model after its one step
    start = W.MusicTranslator(config=SMALL, n_domains=2, rngs=nnx.Rngs(0))
    before, after = nnx.state(start, nnx.Param), nnx.state(translator.model, nnx.Param)

    def moved(a, b):
        return max(float(jnp.abs(p - q).max()) for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    assert moved(before["encoder"], after["encoder"]) > 0      # the autoencoder update
    assert moved(before["classifier"], after["classifier"]) > 0  # the classifier update
    assert moved(before["decoders"][0], after["decoders"][0]) > 0  # the batch's domain's decoder ...
    assert moved(before["decoders"][1], after["decoders"][1]) == 0.0  # ... and not the other one
    assert translator.info["steps_taken"] == 1 and np.isfinite(translator.info["train_loss"])


def test_autoencoder_learns_and_saves(tmp_path):
    wm = WN.train_wavenet([tone(220), tone(330)], config=SMALL, crop=256, steps=30, eval_every=10, batch_size=4,
                          learning_rate=3e-3, out=tmp_path / "ae", progress=False)
    hist = json.loads((tmp_path / "ae" / "metrics.json").read_text())["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] < np.log(256) + 0.5
    assert (tmp_path / "ae" / "curves.png").stat().st_size > 1000
    back = WN.load_wavenet(tmp_path / "ae", kind="autoencoder")
    y = tone(220)
    np.testing.assert_array_equal(WN.reconstruct(back, y), WN.reconstruct(wm, y))
    assert WN.reconstruct(wm, y).shape == y.shape
    m = WN.morph(wm, y, tone(330), alpha=0.5)  # same length as y: generation compiled once
    assert m.shape == y.shape and np.isfinite(m).all()
    np.testing.assert_array_equal(WN.morph(wm, y, tone(330), alpha=0.0), WN.reconstruct(wm, y))
    # another configuration in the same folder: refused, naming the field
    with pytest.raises(jaxmusic.train.CheckpointError, match="residual=16 there, 32 here"):
        WN.train_wavenet([tone(220)], config=W.wavenet_config("tiny", **{**SMALL.to_json(), "residual": 32}),
                         crop=256, steps=2, out=tmp_path / "ae", progress=False)
    with pytest.raises(jaxmusic.ParameterError, match="another configuration than preset 'nsynth'.*sr=8000"):
        WN.load_wavenet(tmp_path / "ae", preset="nsynth")
    with pytest.raises(jaxmusic.ParameterError, match="holds a WaveNet autoencoder, not a translator"):
        WN.load_wavenet(tmp_path / "ae", kind="translator")
    with pytest.raises(jaxmusic.ParameterError, match="translate needs a translator"):
        WN.translate(wm, y, 0)


def _check_translation_and_bad_domains(translator):
    y = tone(220, seconds=0.3)
    out = WN.translate(translator, y, "flute")
    assert out.shape == y.shape and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, WN.translate(translator, y, 1))
    # audio at another rate is resampled to the model's: same length in time
    y16 = librosa.resample(y, orig_sr=SR, target_sr=16000)
    assert WN.translate(translator, y16, 1, sr=16000).shape == (len(y),)
    with pytest.raises(jaxmusic.ParameterError, match=r"domain must be an integer in \[0, 2\).*got 2"):
        WN.translate(translator, y, 2)
    with pytest.raises(jaxmusic.ParameterError, match="unknown domain 'violin'.*trumpet, flute"):
        WN.translate(translator, y, "violin")
    with pytest.raises(jaxmusic.AudioError):
        WN.translate(translator, np.full(400, np.nan, np.float32), 1)
    with pytest.raises(jaxmusic.ParameterError, match="peaks at 1.5"):
        WN.translate(translator, 3 * y, 1)
    with pytest.raises(jaxmusic.ParameterError, match="at least two domains"):
        WN.train_translator({"one": [y]}, config=SMALL, crop=256, steps=1)
    with pytest.raises(jaxmusic.ParameterError, match="multiple of the model's hop"):
        WN.train_translator({"a": [y], "b": [y]}, config=SMALL, crop=250, steps=1)
    with pytest.raises(jaxmusic.ParameterError, match="domain 'b' is silent"):
        WN.train_translator({"a": [y], "b": [0 * y]}, config=SMALL, crop=256, steps=1)


def _check_validation_numbers(translator):
    # the held-out crops _translator's training evaluated (val_fraction 0.1, split with seed 0 + domain
    # index), scored again here with the saved model (its one step is also its best): the reported
    # domain accuracy and reconstruction loss are the classifier's and the decoders' on them
    from jaxmusic.synthesis._common import read_inputs, training_signals

    correct = loss = 0.0
    n = 0
    for j, item in enumerate(["gm8:trumpet:66", "gm8:flute:72"]):
        crops = WN._crops(training_signals([y for _, y in read_inputs([item], sr=SR)], sr=SR)[0], 256)
        _, held_out = WN._split(len(crops), 0.1, j)
        x = jnp.asarray(crops[held_out])
        m, q = translator.model, W.mu_law_encode(x)
        z = m.encoder(x)
        correct += float(jnp.sum(jnp.argmax(m.classifier(z), axis=-1) == j))
        loss += float(WN.wavenet_loss(m.decode(W.decoder_inputs(q), z, j), q, jnp.ones(len(x), bool))) * len(x)
        n += len(x)
    assert n == translator.info["validation_crops"] > 0
    assert translator.info["val_domain_accuracy"] == pytest.approx(100 * correct / n, abs=1e-9)
    assert translator.info["val_loss"] == pytest.approx(loss / n, rel=1e-5)


def _check_cli(translator, tmp_path):
    from jaxmusic.cli import main

    folder = WN.save_wavenet(translator, tmp_path / "saved")
    src = tmp_path / "in.wav"
    jaxmusic.audio.save(src, tone(220, seconds=0.3, sr=16000), 16000)
    assert main(["translate", "--model", str(folder), "--to", "flute", str(src), "-o", str(tmp_path / "o.wav")]) == 0
    y, sr = jaxmusic.audio.load(tmp_path / "o.wav", sr=None)
    assert sr == SR and len(y) == int(0.3 * SR) and (tmp_path / "o.png").is_file()
    assert main(["hybridize", "--method", "wavenet", "--model", str(folder), str(src), "-o", str(tmp_path / "h.wav"),
                 "-p", "to=trumpet"]) == 0
    assert main(["hybridize", "--method", "wavenet", "--model", str(folder), str(src), str(src),
                 "-o", str(tmp_path / "m.wav"), "--alpha", "0.3"]) == 0
    assert main(["translate", "--model", str(folder), "--to", "7", str(src), "-o", str(tmp_path / "x.wav")]) == 2
    assert main(["translate", "--model", str(tmp_path), str(src), "-o", str(tmp_path / "x.wav")]) == 2


def test_translator_step_translation_cli_and_bad_domains(tmp_path):
    # one trained translator for all three checks (a module fixture would be built once per xdist worker)
    translator = _translator(tmp_path)
    _check_one_alternating_step(translator)
    _check_validation_numbers(translator)
    _check_translation_and_bad_domains(translator)
    _check_cli(translator, tmp_path)


# ---------------------------------------------------------------------------- a killed training resumes
WALL_CLOCK = ("seconds", "examples_per_s")  # metrics.json's fields that a rerun cannot reproduce


def _checkpoint_steps(folder):
    return sorted(int(p.name) for p in (folder / "checkpoints").glob("[0-9]*") if p.name.isdigit())


def test_killed_wavenet_training_resumes_to_the_same_model(tmp_path):
    over = [f"--config={k}={v}" for k, v in KILL.to_json().items()]
    args = [*over, "--crop", "256", "--batch-size", "4", "--steps", "24", "--eval-every", "4", "--quiet"]
    cmd = [sys.executable, "-m", "jaxmusic.cli", "train-wavenet", "gm8:trumpet:66", *args]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if _checkpoint_steps(killed) and max(_checkpoint_steps(killed)) >= 8:
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
    info = json.loads((killed / "wavenet.json").read_text())["info"]
    assert info["resumed_from"] >= killed_at >= 8 and info["steps_taken"] == 24
    # the resumed run trained from its checkpoint on, not from step 0 again
    assert info["steps_run"] == 24 - info["resumed_from"]
    assert (killed / "reconstruction.wav").is_file()
    # the same model as a run never interrupted, bit for bit, and the same metrics history
    from jaxmusic.synthesis._common import read_inputs

    reference = tmp_path / "reference"
    WN.train_wavenet([y for _, y in read_inputs(["gm8:trumpet:66"], sr=SR)], config=KILL, crop=256, batch_size=4,
                     steps=24, eval_every=4, out=reference, progress=False)
    got = jax.tree.leaves(nnx.state(WN.load_wavenet(killed).model, nnx.Param))
    want = jax.tree.leaves(nnx.state(WN.load_wavenet(reference).model, nnx.Param))
    assert len(got) == len(want)
    for p, q in zip(got, want):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))
    got, want = (json.loads((f / "metrics.json").read_text()) for f in (killed, reference))

    def reproducible(history):
        return [{k: v for k, v in e.items() if k not in WALL_CLOCK} for e in history]

    assert [e["step"] for e in got["history"]] == list(range(4, 25, 4))
    assert reproducible(got["history"]) == reproducible(want["history"]) and got["best_step"] == want["best_step"]
    # the evaluations up to the checkpoint were restored with it, not run again: they are the
    # killed run's own, wall-clock times included
    restored = [e for e in got["history"] if e["step"] <= info["resumed_from"]]
    assert len(restored) >= 2 and restored == [e for e in before if e["step"] <= info["resumed_from"]]


# ---------------------------------------------------------------------------- the experiment
def test_translation_experiment_quick(tmp_path):
    from jaxmusic.experiments import run_translation

    r = run_translation(tmp_path, quick=True, steps=2, n_notes=2, config=SMALL, progress=False)
    assert set(r["pitch_test"]) == {"identity, trumpet", "translation trumpet -> flute", "identity, flute",
                                    "translation flute -> trumpet"}
    assert r["pitch_test"]["identity, trumpet"]["lost_share"] <= 0.5
    assert all(np.isfinite(v["spectral_convergence"]) for v in r["reconstruction"].values())
    # the experiment reports the translator's last validation (its computation: test_translator_step_...)
    last = json.loads((tmp_path / "models" / "translator" / "metrics.json").read_text())["history"][-1]
    assert last["step"] == 2 and r["training"]["translator"]["val_domain_accuracy"] == last["val_domain_accuracy"]
    n_val = json.loads((tmp_path / "models" / "translator" / "wavenet.json").read_text())["info"]["validation_crops"]
    assert n_val > 0 and round(last["val_domain_accuracy"] * n_val / 100, 9).is_integer()  # correct crops / all
    for f in ("training.png", "pitch_test.png", "morph.png", "spectrograms-trumpet.png", "results.md"):
        assert (tmp_path / f).stat().st_size > 500
    with pytest.raises(jaxmusic.ParameterError, match="two or more distinct gm8 classes"):
        run_translation(tmp_path, domains=["trumpet"], config=SMALL)
