"""Tests of jaxmusic.data: Dataset, gm8 (soundfont notes), synthetic notes, splits, batches."""

import struct

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

import jaxmusic.data.soundfont as soundfont_mod
from jaxmusic._checks import ParameterError
from jaxmusic.data import (
    GM8_CLASSES,
    GM8_PROGRAMS,
    GM8_RANGES,
    Dataset,
    DatasetError,
    batches,
    concatenate,
    data_sharding,
    default_soundfont,
    gm8,
    split_by_pitch,
    split_by_source,
    stratified_split,
    synthetic_note,
    synthetic_notes,
)
from jaxmusic.data.dataset import _Rows

SR = 16000


# ---------------------------------------------------------------- helpers
def _chunk(tag, data):
    if len(data) % 2:
        data += b"\0"
    return tag + struct.pack("<I", len(data)) + data


def _name(s):
    return s.encode()[:20].ljust(20, b"\0")


def write_sine_sf2(path, *, programs=(0,), sr=44000, freq=440.0, root_key=69):
    """A minimal SoundFont 2 file: one looped sine sample (A4) under ``programs`` of bank 0."""
    period = int(round(sr / freq))
    n = period * 44
    wave = (0.5 * 32767 * np.sin(2 * np.pi * np.arange(n) / period)).astype("<i2")
    info = _chunk(b"LIST", b"INFO" + _chunk(b"ifil", struct.pack("<HH", 2, 1))
                  + _chunk(b"isng", b"EMU8000\0") + _chunk(b"INAM", b"sine test\0"))
    sdta = _chunk(b"LIST", b"sdta" + _chunk(b"smpl", wave.tobytes() + b"\0" * 92))
    phdr = b"".join(struct.pack("<20sHHHIII", _name(f"Sine {p}"), p, 0, i, 0, 0, 0)
                    for i, p in enumerate(programs))
    phdr += struct.pack("<20sHHHIII", _name("EOP"), 0, 0, len(programs), 0, 0, 0)
    pbag = b"".join(struct.pack("<HH", i, 0) for i in range(len(programs) + 1))
    pgen = struct.pack("<HH", 41, 0) * len(programs) + b"\0" * 4  # 41: instrument 0
    inst = struct.pack("<20sH", _name("Sine"), 0) + struct.pack("<20sH", _name("EOI"), 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 2, 0)
    igen = struct.pack("<HH", 54, 1) + struct.pack("<HH", 53, 0) + b"\0" * 4  # loop; sample 0
    shdr = struct.pack("<20sIIIIIBbHH", _name("sine"), 0, n, 0, n, sr, root_key, 0, 0, 1)
    shdr += struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    pdta = _chunk(b"LIST", b"pdta" + b"".join(
        _chunk(tag, data) for tag, data in [
            (b"phdr", phdr), (b"pbag", pbag), (b"pmod", b"\0" * 10), (b"pgen", pgen),
            (b"inst", inst), (b"ibag", ibag), (b"imod", b"\0" * 10), (b"igen", igen),
            (b"shdr", shdr)]))
    body = b"sfbk" + info + sdta + pdta
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def estimated_pitch(x, sr, midi):
    """Median pYIN pitch (MIDI) of the held part of a note, searching +-1 octave."""
    f0, voiced, _ = librosa.pyin(
        x[: int(0.7 * len(x))], sr=sr, frame_length=2048,
        fmin=librosa.midi_to_hz(midi - 12), fmax=min(0.45 * sr, librosa.midi_to_hz(midi + 12)),
    )
    assert voiced.mean() > 0.5, f"note {midi} is mostly unvoiced"
    return float(np.nanmedian(librosa.hz_to_midi(f0[voiced])))


def toy(n=12, samples=64, n_classes=3, **kw):
    rng = np.random.default_rng(0)
    return Dataset(audio=rng.standard_normal((n, samples)).astype(np.float32),
                   label=np.arange(n) % n_classes, classes=[f"c{i}" for i in range(n_classes)],
                   sr=SR, **kw)


# ---------------------------------------------------------------- Dataset
def test_dataset_defaults_and_checks():
    ds = toy()
    assert ds.audio.dtype == np.float32 and ds.audio.shape == (12, 64)
    assert ds.label.dtype == np.int32 and len(ds) == 12 and ds.n_samples == 64
    assert np.isnan(ds.pitch).all() and np.isnan(ds.velocity).all()
    assert (ds.source == "").all() and (ds.path == "").all()
    assert ds.class_counts() == {"c0": 4, "c1": 4, "c2": 4}
    sub = ds[ds.label == 1]
    assert len(sub) == 4 and (sub.label == 1).all()
    with pytest.raises(ParameterError, match="label values must index classes"):
        Dataset(audio=np.zeros((2, 4), np.float32), label=[0, 3], classes=["a", "b"], sr=SR)
    with pytest.raises(ParameterError, match=r"shape \(n, samples\)"):
        Dataset(audio=np.zeros(4, np.float32), label=[0], classes=["a"], sr=SR)
    with pytest.raises(ParameterError, match="pitch must have shape"):
        Dataset(audio=np.zeros((2, 4), np.float32), label=[0, 0], classes=["a"], sr=SR, pitch=[1.0])


def test_dataset_save_load_mmap(tmp_path):
    ds = toy(pitch=np.arange(12.0), source="here", path=[f"f{i}.wav" for i in range(12)])
    ds.save(tmp_path / "ds")
    with pytest.raises(ParameterError, match="holds a saved data set; pass overwrite=True"):
        ds.save(tmp_path / "ds")
    back = Dataset.load(tmp_path / "ds", mmap=True)
    assert isinstance(back.audio, np.memmap)
    np.testing.assert_array_equal(np.asarray(back.audio), ds.audio)
    for col in ("label", "pitch", "source", "path"):
        np.testing.assert_array_equal(getattr(back, col), getattr(ds, col))
    assert back.classes == ds.classes and back.sr == SR
    sub = back[[5, 1, 7]][[2, 0]]  # lazy selection of a selection: still on disk
    assert isinstance(sub.audio, _Rows) and sub.audio.shape == (2, 64)
    np.testing.assert_array_equal(np.asarray(sub.audio), ds.audio[[7, 5]])
    with pytest.raises(DatasetError, match="dataset.json"):
        Dataset.load(tmp_path)


def test_concatenate_merges_classes_by_name():
    a = Dataset(audio=np.zeros((2, 8), np.float32), label=[0, 1], classes=["x", "y"], sr=SR)
    b = Dataset(audio=np.ones((2, 8), np.float32), label=[0, 1], classes=["y", "z"], sr=SR,
                source="b")
    c = concatenate([a, b])
    assert c.classes == ("x", "y", "z")
    assert [c.classes[i] for i in c.label] == ["x", "y", "y", "z"]
    assert c.source.tolist() == ["", "", "b", "b"]
    with pytest.raises(ParameterError, match="same sr and duration"):
        concatenate([a, Dataset(audio=np.zeros((1, 9), np.float32), label=[0], classes=["x"], sr=SR)])


# ---------------------------------------------------------------- gm8
def test_default_soundfont_ships_with_pretty_midi():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and "pretty_midi" in str(path)
    assert path.stat().st_size > 1_000_000


def test_gm8_renders_real_pitched_notes(tmp_path):
    classes = ["piano", "violin", "flute", "trumpet"]
    ds = gm8(classes=classes, pitch_step=12, velocities=(60, 110), duration=0.5, hold=0.4,
             cache_root=tmp_path)
    expected = sum(len(range(GM8_RANGES[c][0], GM8_RANGES[c][1] + 1, 12)) * 2 for c in classes)
    assert ds.audio.shape == (expected, 8000) and ds.audio.dtype == np.float32
    assert ds.classes == tuple(classes) and ds.sr == SR
    assert set(ds.velocity.tolist()) == {60.0, 110.0} and (ds.source == "TimGM6mb").all()
    assert np.isfinite(ds.audio).all()
    peak = np.abs(ds.audio).max(axis=1)
    assert (peak > 1e-3).all() and (peak < 1).all()
    # louder at the higher velocity, note for note
    soft, loud = ds.velocity == 60, ds.velocity == 110
    assert (peak[loud] > peak[soft]).all()
    for c, midi in [("piano", 57), ("violin", 67), ("flute", 72), ("trumpet", 66)]:
        i = np.flatnonzero((ds.classes.index(c) == ds.label) & (ds.pitch == midi) & loud)[0]
        assert abs(estimated_pitch(ds.audio[i], SR, midi) - midi) < 0.3, (c, midi)


def test_gm8_is_cached_on_disk(tmp_path, monkeypatch):
    calls = []
    render = soundfont_mod._render

    def counting(*args, **kwargs):
        calls.append(1)
        return render(*args, **kwargs)

    monkeypatch.setattr(soundfont_mod, "_render", counting)
    kw = dict(classes=["clarinet"], pitch_step=6, velocities=(80,), duration=0.25,
              cache_root=tmp_path)
    first = gm8(**kw)
    second = gm8(**kw)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.audio, second.audio)
    on_disk = gm8(mmap=True, **kw)
    assert len(calls) == 1 and isinstance(on_disk.audio, np.memmap)
    gm8(**{**kw, "velocities": (81,)})  # any parameter change renders again
    assert len(calls) == 2
    monkeypatch.setenv("JAXMUSIC_CACHE", str(tmp_path / "env"))
    gm8(**{k: v for k, v in kw.items() if k != "cache_root"})
    assert len(calls) == 3 and any((tmp_path / "env").iterdir())


def test_gm8_other_soundfont_and_missing_program(tmp_path):
    sf2 = write_sine_sf2(tmp_path / "sine.sf2", programs=(0, 71))
    ds = gm8(soundfont=sf2, classes=["piano", "clarinet"], pitch_step=24, velocities=(100,),
             duration=0.3, cache=False)
    assert (ds.source == "sine").all() and len(ds) > 0
    i = np.flatnonzero(ds.pitch == 69)[0]
    spectrum = np.abs(np.fft.rfft(ds.audio[i] * np.hanning(ds.n_samples)))
    assert abs(np.argmax(spectrum) * SR / ds.n_samples - 440) < 5
    with pytest.raises(ParameterError, match=r"program 40 \(class 'violin'\).*programs \[0, 71\]"):
        gm8(soundfont=sf2, cache=False)
    # overriding programs: the violin played by the sine at program 71
    ds = gm8(soundfont=sf2, classes=["violin"], programs={"violin": 71}, pitch_step=24,
             velocities=(100,), duration=0.3, cache=False)
    assert (ds.source == "sine:custom").all()
    with pytest.raises(ParameterError, match="bank 1, program 0"):
        gm8(soundfont=sf2, classes=["piano"], bank=1, cache=False)
    with pytest.raises(DatasetError, match="does not exist"):
        gm8(soundfont=tmp_path / "nope.sf2", cache=False)
    with pytest.raises(ParameterError, match="classes must be among"):
        gm8(classes=["banjo"], cache=False)


def test_gm8_programs_cover_the_eight_classes():
    assert tuple(GM8_PROGRAMS) == GM8_CLASSES == tuple(GM8_RANGES)
    assert GM8_PROGRAMS["female singer"] == 53


# ---------------------------------------------------------------- synthetic notes
def test_synthetic_notes_deterministic_and_pitched():
    kw = dict(classes=["piano", "clarinet", "female singer"], pitch_step=12, velocities=(90,),
              duration=0.5)
    a = synthetic_notes(jax.random.key(0), **kw)
    b = synthetic_notes(jax.random.key(0), **kw)
    c = synthetic_notes(jax.random.key(1), **kw)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert not np.allclose(a.audio, c.audio)
    assert a.audio.dtype == np.float32 and a.audio.shape[1] == 8000
    assert np.isfinite(a.audio).all() and (np.abs(a.audio).max(axis=1) > 0.1).all()
    assert (a.source == "synthetic").all()
    for row in np.flatnonzero((a.pitch >= 45) & (a.pitch <= 80))[[0, -1]]:
        midi = float(a.pitch[row])
        assert abs(estimated_pitch(a.audio[row], SR, midi) - midi) < 0.3


def test_synthetic_note_jit_vmap():
    keys = jax.random.split(jax.random.key(3), 3)
    label, pitch, vel = jnp.array([0, 4, 6]), jnp.array([48.0, 60.5, 70.0]), jnp.array([40.0, 80, 120])
    f = lambda k, l, p, v: synthetic_note(k, l, p, v, duration=0.1)
    batched = jax.jit(jax.vmap(f))(keys, label, pitch, vel)
    assert batched.shape == (3, 1600) and batched.dtype == jnp.float32
    single = jax.jit(f)
    for i in range(3):
        np.testing.assert_allclose(batched[i], single(keys[i], label[i], pitch[i], vel[i]), atol=2e-4)
    # velocity sets loudness
    assert jnp.abs(batched[2]).max() > jnp.abs(batched[0]).max()


# ---------------------------------------------------------------- splits
def _notes(n_pitches=10, sources=("a",)):
    rows = [(lab, p, s) for s in sources for lab in range(3) for p in range(60, 60 + n_pitches)]
    lab, p, s = map(np.array, zip(*rows))
    return Dataset(audio=np.zeros((len(rows), 4), np.float32), label=lab,
                   classes=["x", "y", "z"], sr=SR, pitch=p, source=s)


def test_split_by_pitch_never_shares_pitches():
    ds = _notes()
    train, test = split_by_pitch(ds, test_fraction=0.3, seed=1)
    assert not set(train.pitch.tolist()) & set(test.pitch.tolist())
    assert len(set(test.pitch.tolist())) == 3 and len(train) + len(test) == len(ds)
    train, test = split_by_pitch(ds, test_pitches=[61, 65])
    assert set(test.pitch.tolist()) == {61.0, 65.0} and len(test) == 6
    with pytest.raises(ParameterError, match="needs a pitch for every note"):
        split_by_pitch(toy())


def test_split_by_source_and_synthetic_second_source():
    ds = _notes(4, sources=("TimGM6mb", "synthetic"))
    train, test = split_by_source(ds, test_sources="synthetic")
    assert set(train.source.tolist()) == {"TimGM6mb"} and set(test.source.tolist()) == {"synthetic"}
    with pytest.raises(ParameterError, match="not sources of the data set"):
        split_by_source(ds, test_sources=["other"])


def test_stratified_split_keeps_class_proportions():
    lab = np.repeat([0, 1, 2], [50, 30, 20])
    rows = np.repeat(np.arange(100, dtype=np.float32)[:, None], 4, axis=1)  # each note holds its row number
    ds = Dataset(audio=rows, label=lab, classes=["a", "b", "c"], sr=SR)
    train, test = stratified_split(ds, test_fraction=0.2, seed=0)
    assert test.class_counts() == {"a": 10, "b": 6, "c": 4}
    assert train.class_counts() == {"a": 40, "b": 24, "c": 16}
    # the data sets are the rows the indices name, in order, each row in exactly one of them
    tr0, te0 = stratified_split(ds, test_fraction=0.2, seed=0, return_indices=True)
    np.testing.assert_array_equal(test.audio[:, 0], te0)
    np.testing.assert_array_equal(train.audio[:, 0], tr0)
    np.testing.assert_array_equal(test.label, lab[te0])
    assert sorted(np.concatenate([tr0, te0]).tolist()) == list(range(100))
    # another seed: another test set, with the same proportions; the same seed: the same split
    tr1, te1 = stratified_split(ds, test_fraction=0.2, seed=1, return_indices=True)
    assert set(te1.tolist()) != set(te0.tolist())
    assert np.bincount(lab[te1]).tolist() == [10, 6, 4]
    assert sorted(np.concatenate([tr1, te1]).tolist()) == list(range(100))
    again = stratified_split(ds, test_fraction=0.2, seed=1, return_indices=True)
    np.testing.assert_array_equal(again[0], tr1)
    np.testing.assert_array_equal(again[1], te1)
    with pytest.raises(ParameterError, match="test_fraction"):
        stratified_split(ds, test_fraction=1.0)


# ---------------------------------------------------------------- batches
def test_batches_pad_mask_and_shuffle():
    ds = toy(n=10)
    out = list(batches(ds, batch_size=4, fields=("audio", "label", "index", "mask")))
    assert len(out) == 3
    for b in out:
        assert b["audio"].shape == (4, 64) and b["audio"].dtype == jnp.float32
        assert b["label"].dtype == jnp.int32 and b["mask"].dtype == jnp.bool_
    last = out[-1]
    assert last["mask"].tolist() == [True, True, False, False]
    assert last["index"].tolist() == [8, 9, -1, -1]
    np.testing.assert_array_equal(last["audio"][:2], ds.audio[8:])
    assert not np.asarray(last["audio"][2:]).any()
    assert len(list(batches(ds, batch_size=4, drop_remainder=True))) == 2
    seen = np.concatenate([np.asarray(b["index"])[np.asarray(b["mask"])]
                           for b in batches(ds, batch_size=3, shuffle=True, seed=5,
                                            fields=("index", "mask"))])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    b = next(batches(ds, batch_size=4, shuffle=True, seed=5, fields=("audio", "index")))
    np.testing.assert_array_equal(b["audio"], ds.audio[np.asarray(b["index"])])
    assert b["audio"].sharding.is_equivalent_to(data_sharding(), 2)
    with pytest.raises(ParameterError, match="fields must be among"):
        next(batches(ds, batch_size=4, fields=("spam",)))


def test_batches_stream_from_disk(tmp_path):
    ds = toy(n=9)
    ds.save(tmp_path / "ds")
    disk = Dataset.load(tmp_path / "ds", mmap=True)
    train, _ = stratified_split(disk, test_fraction=0.3)
    assert isinstance(train.audio, _Rows)
    step = jax.jit(lambda b: jnp.where(b["mask"], b["audio"].sum(axis=1), 0.0).sum())
    total = sum(float(step(b)) for b in batches(train, batch_size=4))
    np.testing.assert_allclose(total, np.asarray(train.audio).sum(), rtol=1e-4)


def test_source_split_soundfont_against_synthetic(tmp_path):
    kw = dict(classes=["violin", "trumpet"], pitch_step=12, velocities=(90,), duration=0.25)
    real = gm8(cache_root=tmp_path, **kw)
    alt = gm8(cache_root=tmp_path, programs="alt", **kw)
    synth = synthetic_notes(jax.random.key(0), **kw)
    assert (alt.source == "TimGM6mb:alt").all()
    both = concatenate([real, alt, synth])
    assert both.classes == ("violin", "trumpet")
    train, test = split_by_source(both, test_sources="synthetic")
    assert set(train.source.tolist()) == {"TimGM6mb", "TimGM6mb:alt"}
    assert len(test) == len(synth) and test.class_counts() == synth.class_counts()
