"""TensorBoard event files of the training loop (``logdir=``), read back with TensorBoard's
own reader (no TensorFlow): the scalars equal the history at its steps, a resumed run
shows each step once, only process 0 writes, the autoencoders add audio."""

import io
import json
import shutil

import jax
import numpy as np
import optax
import pytest
import soundfile as sf
from flax import nnx
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

import jaxmusic
from jaxmusic import train
from jaxmusic.models import MLP

SCALARS = ("train_loss", "train_accuracy", "val_loss", "val_error", "val_accuracy", "learning_rate",
           "examples_per_s")


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).astype(np.int32)


def _net(seed=0):
    return MLP(in_features=6, hidden=(8,), n_classes=2, rngs=nnx.Rngs(seed))


def _tensorboard(logdir):
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0, "audio": 0})
    acc.Reload()
    return acc


def _curve(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def _expected(history, tag):
    return [(h["step"], float(np.float32(h[tag]))) for h in history if tag in h]


def test_fit_event_files_hold_the_history(tmp_path):
    x, y = _data()
    r = train.fit(_net(), x[:36], y[:36], val=(x[36:], y[36:]), steps=12, eval_every=4, batch_size=8,
                  progress=False, logdir=tmp_path / "logs", out=tmp_path / "run")
    assert [h["step"] for h in r.history] == [4, 8, 12]
    assert all(h["learning_rate"] == 1e-3 for h in r.history)  # the default Adam's, in the history too
    acc = _tensorboard(tmp_path / "logs")
    assert set(acc.Tags()["scalars"]) == set(SCALARS)
    for tag in SCALARS:
        assert _curve(acc, tag) == _expected(r.history, tag), tag
    # the same history as metrics.json, and jaxmusic's reader agrees with TensorBoard's
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert [h["train_loss"] for h in metrics] == [h["train_loss"] for h in r.history]
    assert train.read_scalars(tmp_path / "logs")["val_loss"] == _expected(r.history, "val_loss")
    # a jaxmusic folder of kind "logs" that records its event files
    marker = json.loads((tmp_path / "logs" / ".jaxmusic.json").read_text())
    events = [p.name for p in (tmp_path / "logs").iterdir() if "tfevents" in p.name]
    assert marker["kind"] == "logs" and events and sorted(marker["names"]) == sorted(events)


def test_minimize_logs_a_scheduled_learning_rate(tmp_path):
    x, _ = _data(32)
    target = x[:, :2] @ np.array([[1.0, -1.0], [0.5, 2.0]], np.float32)
    model = nnx.Linear(6, 2, rngs=nnx.Rngs(0))
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=optax.linear_schedule(1e-2, 1e-3, 8))
    r = train.minimize(model, x, target, optimizer=opt, steps=9, eval_every=3, batch_size=8, progress=False,
                       logdir=tmp_path / "logs")
    rates = [h["learning_rate"] for h in r.history]
    assert len(set(rates)) == 3 and rates[0] < 1e-2 and rates[-1] == pytest.approx(1e-3)  # read from the state
    acc = _tensorboard(tmp_path / "logs")
    for tag in ("train_loss", "learning_rate", "examples_per_s"):
        assert _curve(acc, tag) == _expected(r.history, tag), tag
    # an optimizer that exposes no learning rate: no curve, nothing invented
    r = train.minimize(nnx.Linear(6, 2, rngs=nnx.Rngs(0)), x, target, optimizer=optax.sgd(0.1), steps=3,
                       eval_every=3, batch_size=8, progress=False, logdir=tmp_path / "sgd")
    assert "learning_rate" not in r.history[0]
    assert "learning_rate" not in _tensorboard(tmp_path / "sgd").Tags()["scalars"]


def test_resumed_run_appends_each_step_once(tmp_path):
    x, y = _data()
    kw = dict(val=(x[36:], y[36:]), eval_every=2, checkpoint_every=4, batch_size=8, progress=False,
              checkpoint_dir=tmp_path / "ck", logdir=tmp_path / "logs")
    train.fit(_net(), x[:36], y[:36], steps=6, **kw)  # logs 2, 4, 6; checkpoints 4 and 6
    shutil.rmtree(tmp_path / "ck" / "6")  # as if killed after logging step 6, before its checkpoint
    r = train.fit(_net(), x[:36], y[:36], steps=10, **kw)
    assert r.resumed_from == 4 and [h["step"] for h in r.history] == [2, 4, 6, 8, 10]
    acc = _tensorboard(tmp_path / "logs")
    for tag in SCALARS:  # one curve: every step once, the values of the run that finished
        assert _curve(acc, tag) == _expected(r.history, tag), tag
    # the steps before the checkpoint were not written again: 2 and 4 once in the files
    raw = [e for p in sorted((tmp_path / "logs").glob("*tfevents*"))
           for e in EventFileLoader(str(p)).Load()]
    logged = [e.step for e in raw if e.HasField("summary") and any(v.tag == "train_loss" for v in e.summary.value)]
    assert sorted(logged) == [2, 4, 6, 6, 8, 10]  # 6 twice: the interrupted run's, hidden by TensorBoard
    # a run that is already complete writes nothing more
    before = sorted(p.stat().st_size for p in (tmp_path / "logs").glob("*tfevents*"))
    train.fit(_net(), x[:36], y[:36], steps=10, **kw)
    assert sorted(p.stat().st_size for p in (tmp_path / "logs").glob("*tfevents*")) == before


def test_only_process_0_writes(tmp_path, monkeypatch):
    x, y = _data()
    monkeypatch.setattr(jax, "process_index", lambda *a, **k: 1)
    r = train.fit(_net(), x, y, steps=4, eval_every=2, batch_size=8, progress=False, logdir=tmp_path / "logs")
    assert len(r.history) == 2 and not (tmp_path / "logs").exists()


def test_a_foreign_folder_is_refused(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "notes.txt").write_text("mine")
    x, y = _data()
    with pytest.raises(jaxmusic.OutputError) as err:
        train.fit(_net(), x, y, steps=2, batch_size=8, progress=False, logdir=tmp_path / "logs")
    assert "logs" in str(err.value) and (tmp_path / "logs" / "notes.txt").read_text() == "mine"


def _audio(acc, tag):
    (clip,) = acc.Audio(tag)
    y, sr = sf.read(io.BytesIO(clip.encoded_audio_string), dtype="float32")
    return clip.step, sr, y


def test_autoencoder_logs_a_sound_and_its_reconstruction(tmp_path):
    from jaxmusic.synthesis import autoencoder as A

    sr = 8000
    t = np.arange(4 * sr) / sr
    y = (0.5 * np.sin(2 * np.pi * 220 * t) * np.minimum(1, 20 * t)).astype(np.float32)
    ae = A.train_autoencoder([y], sr=sr, n_fft=256, hop_length=64, context=1, lstm=False, encoder=(16,),
                             latent=8, decoder=(16,), seq_len=8, batch_size=8, steps=4, eval_every=2,
                             progress=False, out=tmp_path / "ae", logdir=tmp_path / "ae")  # the log in the model folder
    acc = _tensorboard(tmp_path / "ae")
    assert _curve(acc, "train_loss") == _expected(json.loads((tmp_path / "ae" / "metrics.json").read_text())
                                                  ["history"], "train_loss")
    step, rate, clip = _audio(acc, "audio/input")
    assert (step, rate, clip.shape) == (4, sr, (3 * sr,))  # the first 3 s of the training sound
    np.testing.assert_allclose(clip, y[:3 * sr], atol=1 / 2**14)
    step, rate, rec = _audio(acc, "audio/reconstruction")
    assert (step, rate) == (4, sr)
    expected = A.reconstruct(ae, y[:3 * sr])
    expected = expected * min(1.0, 0.99 / np.abs(expected).max())  # louder than full scale: scaled, not clipped
    np.testing.assert_allclose(rec, expected, atol=1 / 2**14)
