"""Tests of the audio loaders: a folder of class folders, and NSynth's layout."""

import json

import numpy as np
import pytest
import soundfile as sf

from jaxmusic._checks import AudioError, ParameterError
from jaxmusic.data import _io
from jaxmusic.data import Dataset, DatasetError, SkippedFileWarning, load_folder, load_nsynth

SR = 16000


def tone(freq, seconds, sr=SR, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "solos"
    (root / "flute" / "take2").mkdir(parents=True)
    (root / "violin").mkdir()
    sf.write(root / "flute" / "a.wav", tone(440, 0.5), SR)
    sf.write(root / "flute" / "take2" / "b.flac", tone(660, 0.25, sr=22050), 22050)  # resampled
    sf.write(root / "violin" / "c.wav", tone(330, 0.75, sr=8000, channels=2), 8000)  # stereo
    return root


def test_load_folder_labels_resampling_and_length(folder):
    (folder / "violin" / "notes.txt").write_text("not audio")
    with pytest.warns(UserWarning, match=r"ignored files that are not audio.*\.txt \(1\)"):
        ds = load_folder(folder)
    assert ds.classes == ("flute", "violin") and ds.sr == SR
    assert ds.audio.shape == (3, 12000) and ds.audio.dtype == np.float32  # longest: 0.75 s
    assert ds.label.tolist() == [0, 0, 1]
    assert [p.split("/")[-1] for p in ds.path] == ["a.wav", "b.flac", "c.wav"]
    assert (ds.source == "solos").all() and np.isnan(ds.pitch).all()
    # the 22.05 kHz FLAC was resampled: still 660 Hz, 0.25 s, zero-padded after
    b = ds.audio[1]
    assert np.abs(b[4200:]).max() < 1e-2 and np.abs(b[:3800]).max() > 0.2
    spectrum = np.abs(np.fft.rfft(b[:4000]))
    assert abs(np.argmax(spectrum) * SR / 4000 - 660) <= 4
    with pytest.warns(UserWarning, match="not audio"):
        short = load_folder(folder, duration=0.1, sr=8000, classes=["violin"])
    assert short.audio.shape == (1, 800) and short.classes == ("violin",)


def test_load_folder_unreadable_file_skip_or_raise(folder):
    bad = folder / "violin" / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(AudioError, match="broken.wav"):
        load_folder(folder)
    with pytest.warns(SkippedFileWarning, match="broken.wav"):
        ds = load_folder(folder, on_error="skip")
    assert len(ds) == 3 and not any("broken" in p for p in ds.path)
    with pytest.raises(ParameterError, match="on_error"):
        load_folder(folder, on_error="ignore")


def test_load_folder_layout_errors(folder, tmp_path):
    (folder / "trumpet").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*trumpet holds no audio files"):
        load_folder(folder)
    with pytest.raises(DatasetError, match="not a folder"):
        load_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="holds no class folders"):
        load_folder(tmp_path / "flat")
    with pytest.raises(DatasetError, match=r"no class folder \['cello'\]"):
        load_folder(folder, classes=["cello"])


def test_load_folder_to_disk_is_memory_mapped_and_reused(folder, tmp_path, monkeypatch):
    # count the files decoded: the second call must decode none and leave the folder's data files
    # (all but jaxmusic's hidden marker) as they were
    decoded = []
    read = _io.read_audio

    def counting(path, **kw):
        decoded.append(path.name)
        return read(path, **kw)

    def stamps():
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()
                if p.is_file() and not p.name.startswith(".")}

    monkeypatch.setattr(_io, "read_audio", counting)
    out = tmp_path / "decoded"
    ds = load_folder(folder, classes=["flute", "violin"], out=out)
    assert isinstance(ds.audio, np.memmap)
    assert sorted(decoded) == ["a.wav", "b.flac", "c.wav"]
    written = stamps()
    assert "audio.npy" in written
    decoded.clear()
    again = load_folder(folder, classes=["flute", "violin"], out=out)
    assert decoded == []  # reused, not decoded again
    assert stamps() == written  # nor written again
    np.testing.assert_array_equal(np.asarray(again.audio), np.asarray(ds.audio))
    back = Dataset.load(out)
    assert back.classes == ds.classes and back.audio.shape == ds.audio.shape
    # other options are another data set: decoded again
    other = load_folder(folder, classes=["flute", "violin"], duration=0.5, out=out)
    assert sorted(decoded) == ["a.wav", "b.flac", "c.wav"] and other.audio.shape == (3, 8000)


def test_load_folder_to_disk_skips_a_file_that_fails_to_decode(folder, tmp_path, monkeypatch):
    # a file whose header reads but whose samples do not: dropped from the on-disk rows
    reference = load_folder(folder)
    read = _io.read_audio

    def failing(path, **kw):
        if path.name == "b.flac":
            raise AudioError(f"cannot read audio file {path}: corrupt block")
        return read(path, **kw)

    monkeypatch.setattr(_io, "read_audio", failing)
    with pytest.warns(SkippedFileWarning, match="b.flac"):
        ds = load_folder(folder, out=tmp_path / "d", on_error="skip")
    assert [p.split("/")[-1] for p in ds.path] == ["a.wav", "c.wav"]
    assert ds.audio.shape == (2, 12000) and ds.label.tolist() == [0, 1]
    np.testing.assert_array_equal(np.asarray(ds.audio), reference.audio[[0, 2]])
    with pytest.raises(AudioError, match="b.flac"):
        load_folder(folder, out=tmp_path / "d3")
    assert not (tmp_path / "d3").exists()  # nothing half-written


# ---------------------------------------------------------------- NSynth
NOTES = [  # note_str, family index, family, source index, source, pitch, velocity
    ("guitar_acoustic_001-060-100", 3, "guitar", 0, "acoustic", 60, 100),
    ("guitar_acoustic_001-064-050", 3, "guitar", 0, "acoustic", 64, 50),
    ("brass_acoustic_002-057-075", 1, "brass", 0, "acoustic", 57, 75),
    ("brass_electronic_003-069-100", 1, "brass", 1, "electronic", 69, 100),
    ("vocal_synthetic_004-072-127", 10, "vocal", 2, "synthetic", 72, 127),
    ("keyboard_electronic_005-048-025", 4, "keyboard", 1, "electronic", 48, 25),
]


def write_nsynth(root, notes=NOTES):
    """A small tree in NSynth's exact layout: examples.json + audio/<note_str>.wav (16 kHz int16)."""
    (root / "audio").mkdir(parents=True)
    index = {}
    for i, (name, fam, fam_s, src, src_s, pitch, vel) in enumerate(notes):
        index[name] = {
            "note": 1000 + i, "note_str": name, "instrument": 10 + i,
            "instrument_str": name.rsplit("-", 2)[0], "pitch": pitch, "velocity": vel,
            "sample_rate": 16000, "qualities": [0] * 10, "qualities_str": [],
            "instrument_family": fam, "instrument_family_str": fam_s,
            "instrument_source": src, "instrument_source_str": src_s,
        }
        y = tone(440 * 2 ** ((pitch - 69) / 12), 0.5) * vel / 127
        sf.write(root / "audio" / f"{name}.wav", (y * 32767).astype(np.int16), 16000,
                 subtype="PCM_16")
    (root / "examples.json").write_text(json.dumps(index))
    return root


def test_load_nsynth_all_and_metadata(tmp_path):
    root = write_nsynth(tmp_path / "nsynth-test")
    ds = load_nsynth(root)
    assert len(ds) == 6 and ds.audio.shape == (6, 8000) and ds.audio.dtype == np.float32
    assert len(ds.classes) == 11 and ds.classes[3] == "guitar"
    by_path = {p.split("/")[-1][:-4]: i for i, p in enumerate(ds.path)}
    for name, fam, _, _, src_s, pitch, vel in NOTES:
        i = by_path[name]
        assert ds.label[i] == fam and ds.pitch[i] == pitch and ds.velocity[i] == vel
        assert ds.source[i] == src_s
    i = by_path["brass_electronic_003-069-100"]  # A4 = 440 Hz
    assert abs(np.argmax(np.abs(np.fft.rfft(ds.audio[i]))) * SR / 8000 - 440) <= 2


def test_load_nsynth_filters(tmp_path):
    root = write_nsynth(tmp_path / "nsynth")
    ds = load_nsynth(root, families=["brass", "guitar"], sources="acoustic")
    assert ds.classes == ("brass", "guitar") and len(ds) == 3
    assert sorted(ds.label.tolist()) == [0, 1, 1] and set(ds.source.tolist()) == {"acoustic"}
    ds = load_nsynth(root, pitch_range=(57, 64), velocities=[50, 75, 100])
    assert sorted(ds.pitch.tolist()) == [57, 60, 64]
    ds = load_nsynth(root, instruments="vocal_synthetic_004", sr=8000, duration=1.0)
    assert ds.audio.shape == (1, 8000) and ds.classes[ds.label[0]] == "vocal"
    with pytest.raises(ParameterError, match="families must be among"):
        load_nsynth(root, families=["banjo"])
    with pytest.raises(DatasetError, match="passes the filters"):
        load_nsynth(root, pitch_range=(100, 110))


def test_load_nsynth_bad_input(tmp_path):
    with pytest.raises(DatasetError, match=r"no examples.json in .*empty"):
        (tmp_path / "empty").mkdir()
        load_nsynth(tmp_path / "empty")
    root = write_nsynth(tmp_path / "nsynth")
    (root / "audio" / "brass_acoustic_002-057-075.wav").unlink()
    with pytest.raises(AudioError, match="brass_acoustic_002-057-075.wav"):
        load_nsynth(root)
    with pytest.warns(SkippedFileWarning, match="brass_acoustic_002-057-075.wav"):
        ds = load_nsynth(root, on_error="skip")
    assert len(ds) == 5
    (root / "examples.json").write_text("{not json")
    with pytest.raises(DatasetError, match="cannot parse"):
        load_nsynth(root)
