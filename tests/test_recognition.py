"""The recognition table on folders it has never seen: sources, folds, resumption, bad input."""

import json

import jax
import numpy as np
import pytest
import soundfile as sf

import jaxmusic
from jaxmusic import data
from jaxmusic.cli import main
from jaxmusic.experiments.recognition import make_folds, run_recognition

CLASSES = ("violin", "flute", "trumpet")


def write_source(root, seed, *, classes=CLASSES, sr=8000):
    """A folder of class folders of synthetic notes (one 'collection')."""
    ds = data.synthetic_notes(jax.random.key(seed), sr=sr, duration=0.5, hold=0.4, velocities=(70, 110),
                              pitch_step=4, classes=classes)
    for i in range(len(ds)):
        folder = root / ds.classes[int(ds.label[i])]
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"n{i:03d}_{int(ds.pitch[i])}.wav", np.asarray(ds.audio[i]), sr)
    return root


@pytest.fixture(scope="module")
def three_sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("collections")
    return [write_source(base / name, seed) for seed, name in enumerate(("alpha", "beta", "gamma"))]


def rec(out, dirs, *extra):
    return main(["recognition", "--data", *map(str, dirs), "--split", "source", "--features", "mfcc",
                 "--classifiers", "logreg", "knn", "--models", "none", "--sr", "8000", "--no-progress",
                 "--out", str(out), *extra])


def test_leave_one_source_out_on_unseen_folders(tmp_path, three_sources, capsys):
    assert rec(tmp_path, three_sources) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["sources"] == ["alpha", "beta", "gamma"] and res["classes"] == sorted(CLASSES)
    assert [f["name"] for f in res["folds"]] == ["test=alpha", "test=beta", "test=gamma"]
    assert {(r["features"], r["model"]) for r in res["rows"]} == {("mfcc", "logreg"), ("mfcc", "knn")}
    for r in res["rows"]:
        assert set(r["errors"]) == {"test=alpha", "test=beta", "test=gamma"}
        assert r["error"] == pytest.approx(np.mean(list(r["errors"].values())))
        assert r["error"] < 50  # synthetic timbres are told apart well above chance (66.7 %)
        recalls = [v for v in r["per_class_recall"].values()]
        assert r["error"] == pytest.approx(100 * (1 - np.mean(recalls)), abs=1e-6)
    diag = res["diagnostics"]["mfcc"]["source_error"]
    assert diag == pytest.approx(json.loads((tmp_path / "diagnostics.json").read_text())["mfcc"]["source_error"])
    from jaxmusic.experiments.recognition import source_separability

    meta = np.load(tmp_path / "features" / "mfcc" / "metadata.npz")  # recomputed from the stored features
    assert diag == pytest.approx(source_separability(np.load(tmp_path / "features" / "mfcc" / "features.npy"),
                                                     meta["source"]))
    assert (tmp_path / "results.png").stat().st_size > 10_000
    md = (tmp_path / "results.md").read_text()
    assert "| mfcc | logreg |" in md and "on the seed's data" in md and "26.0" in md
    assert (tmp_path / "confusion" / "mfcc-logreg.png").stat().st_size > 5000
    assert "error" in capsys.readouterr().out


def test_rerun_resumes_finished_pipelines(tmp_path, three_sources):
    assert rec(tmp_path, three_sources[:2]) == 0
    part = tmp_path / "parts" / "mfcc__logreg__test_alpha__0.json"
    r = json.loads(part.read_text())
    r["error"] = 12.345  # a marker: a recomputed part would not carry it
    part.write_text(json.dumps(r))
    assert rec(tmp_path, three_sources[:2]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    row = next(r for r in res["rows"] if r["model"] == "logreg")
    assert row["errors"]["test=alpha"] == pytest.approx(12.345)
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_interrupted_run_is_marked_partial_and_its_rerun_computes_only_the_rest(tmp_path, three_sources,
                                                                                    monkeypatch, capsys):
    import jaxmusic.experiments.recognition as R

    calls = []
    real = R._run_classical

    def counting(*args, **kwargs):
        calls.append(kwargs["classifier"])
        if len(calls) == 3 and stop:
            raise KeyboardInterrupt  # Ctrl-C during the third pipeline run (2 folds x 2 classifiers)
        return real(*args, **kwargs)

    monkeypatch.setattr(R, "_run_classical", counting)
    stop = True
    assert rec(tmp_path, three_sources[:2]) == 130
    err = capsys.readouterr().err
    assert "interrupted; 2 of 4 pipeline runs done, 2 missing, kept in" in err and "rerun the same command" in err
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["complete"] is False and [r["model"] for r in res["rows"]] == ["logreg"]
    assert (tmp_path / "results.md").read_text().splitlines()[2].startswith("**PARTIAL RESULTS: 2 of 4")
    stop, calls[:] = False, []
    assert rec(tmp_path, three_sources[:2]) == 0
    assert calls == ["knn", "knn"]  # only the missing runs
    assert "resuming: 2 of 4 pipeline runs already done" in capsys.readouterr().out
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["complete"] is True and "PARTIAL" not in (tmp_path / "results.md").read_text()
    calls[:] = []
    assert rec(tmp_path, three_sources[:2]) == 0
    assert calls == [] and "already complete: 4 of 4 pipeline runs" in capsys.readouterr().out


def test_rerun_on_other_data_is_refused(tmp_path, three_sources, capsys):
    assert rec(tmp_path, three_sources[:2]) == 0
    assert rec(tmp_path, three_sources) == 2
    assert "another protocol" in capsys.readouterr().err


def test_explicit_train_test(tmp_path, three_sources):
    assert main(["recognition", "--train", str(three_sources[0]), str(three_sources[1]), "--test",
                 str(three_sources[2]), "--features", "mfcc", "--classifiers", "logreg", "--models", "none",
                 "--sr", "8000", "--no-progress", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert [f["name"] for f in res["folds"]] == ["test=gamma"]


def test_pitch_split_folds_hold_out_pitches():
    ds = data.synthetic_notes(jax.random.key(0), sr=8000, duration=0.25, hold=0.2, velocities=(90,),
                              pitch_step=3, classes=CLASSES)
    folds = make_folds(ds, split="pitch", seeds=2)
    assert len(folds) == 2
    for _, tr, te in folds:
        assert not set(ds.pitch[tr]) & set(ds.pitch[te])


def test_sources_with_different_classes(tmp_path, three_sources, capsys):
    odd = write_source(tmp_path / "odd", 9, classes=("violin", "flute"))
    assert rec(tmp_path / "out", [three_sources[0], odd]) == 2
    err = capsys.readouterr().err
    assert "jaxmusic: error" in err and "trumpet" in err


def test_single_source_cannot_be_left_out(tmp_path, three_sources, capsys):
    assert rec(tmp_path, three_sources[:1]) == 2
    err = capsys.readouterr().err
    assert "two or more sources" in err and "use --split random" in err  # folders give no pitches
    assert rec(tmp_path, three_sources[:1], "--split", "random") == 0


def test_unreadable_file_is_named_and_can_be_skipped(tmp_path, three_sources, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(three_sources[1], bad)
    (bad / "flute" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    assert rec(tmp_path / "a", [three_sources[0], bad]) == 2
    assert "broken.wav" in capsys.readouterr().err
    with pytest.warns(data.SkippedFileWarning, match="broken.wav"):
        assert rec(tmp_path / "b", [three_sources[0], bad], "--skip-bad-files") == 0


def test_class_with_fewer_notes_than_folds(tmp_path, three_sources):
    import shutil

    thin = tmp_path / "thin"
    shutil.copytree(three_sources[1], thin)
    for f in sorted((thin / "trumpet").iterdir())[2:]:
        f.unlink()
    with pytest.raises(jaxmusic.ParameterError, match="fewer training notes than the 5"):
        run_recognition(tmp_path / "out", data=[thin, three_sources[0]],
                        split="source", features=["mfcc"], classifiers=["logreg"], models=[], sr=8000,
                        progress=False, verbose=False)


def test_one_class_is_refused(tmp_path):
    one = write_source(tmp_path / "one", 0, classes=("violin",))
    two = write_source(tmp_path / "two", 1, classes=("violin",))
    with pytest.raises(jaxmusic.ParameterError, match="single class"):
        run_recognition(tmp_path / "out", data=[one, two], features=["mfcc"], classifiers=["logreg"], models=[],
                        sr=8000, progress=False, verbose=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(features=["chroma"]), "features"),
    (dict(models=["resnet"]), "models"),
    (dict(classifiers=["xgboost"]), "classifiers"),
    (dict(features=[], models=[]), "nothing to run"),
    (dict(split="time"), "split"),
])
def test_bad_options(tmp_path, three_sources, kwargs, match):
    with pytest.raises(jaxmusic.ParameterError, match=match):
        run_recognition(tmp_path, data=three_sources, **{"features": ["mfcc"], "classifiers": ["logreg"],
                                                         "models": [], **kwargs}, sr=8000, progress=False,
                        verbose=False)


def test_source_separability_tells_collections_apart_only_when_features_carry_them():
    from jaxmusic.experiments.recognition import source_separability

    rng = np.random.default_rng(0)
    source = np.repeat(["a", "b"], 100)
    blind = rng.normal(size=(200, 8))
    marked = blind + 3.0 * (source == "b")[:, None]
    assert source_separability(marked, source) < 5
    assert 30 < source_separability(blind, source) < 70
    # a CQT-like input is averaged over its frames first
    assert source_separability(np.repeat(marked[:, :, None, None], 4, axis=2), source) < 5


def test_a_network_trains_and_an_interrupted_one_resumes_from_its_checkpoint(tmp_path, three_sources, capsys):
    args = ["recognition", "--data", *map(str, three_sources[:2]), "--features", "none", "--models", "convnet:1-d",
            "--steps", "30", "--sr", "8000", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    (row,) = res["rows"]
    assert (row["features"], row["model"]) == ("cqt", "convnet:1-d")
    conf = np.asarray(row["confusion"], float)  # the error is the one its confusion matrix gives
    assert row["error"] == pytest.approx(100 * (1 - np.mean(np.diag(conf) / conf.sum(axis=1))))
    part = tmp_path / "parts" / "cqt__convnet_1-d__test_alpha__0.json"
    first = json.loads(part.read_text())
    assert first["steps"] == first["steps_run"] == 30
    assert (tmp_path / "curves" / "cqt__convnet_1-d__test_alpha__0" / "curves.png").is_file()
    assert (tmp_path / "features" / "cqt" / "features.npy").is_file()
    part.unlink()  # as if the run had stopped after the last checkpoint, before the part was written
    capsys.readouterr()
    assert main(args) == 0
    again = json.loads(part.read_text())
    assert again["error"] == pytest.approx(first["error"]) and again["confusion"] == first["confusion"]
    assert again["steps"] == 30 and again["steps_run"] == 0  # restored from the checkpoint, not trained again
    assert "resuming: 1 of 2 pipeline runs already done" in capsys.readouterr().out


def write_nsynth(root):
    """NSynth's layout (examples.json + audio/<note_str>.wav): guitar and keyboard from two sources,
    brass from one only."""
    (root / "audio").mkdir(parents=True)
    t = np.arange(8000) / 16000
    index = {}
    families = {"guitar": (3, (1.0, 0.5, 0.3)), "keyboard": (4, (1.0, 0.05, 0.02)), "brass": (1, (1.0, 0.9, 0.8))}
    for fam, (fam_i, partials) in families.items():
        for src_i, src in enumerate(("acoustic", "electronic")):
            if fam == "brass" and src == "electronic":
                continue
            for k, pitch in enumerate(range(48, 72, 4)):
                name = f"{fam}_{src}_{k:03d}-{pitch:03d}-100"
                f0 = 440 * 2 ** ((pitch - 69) / 12)
                y = sum(a * np.sin(2 * np.pi * (h + 1) * f0 * t) for h, a in enumerate(partials)) * np.exp(-3 * t)
                y = 0.3 * y / np.abs(y).max() * (0.7 if src == "electronic" else 1.0)
                sf.write(root / "audio" / f"{name}.wav", (y * 32767).astype(np.int16), 16000, subtype="PCM_16")
                index[name] = {"note_str": name, "pitch": pitch, "velocity": 100, "sample_rate": 16000,
                               "instrument_family": fam_i, "instrument_family_str": fam,
                               "instrument_source": src_i, "instrument_source_str": src,
                               "instrument_str": name.rsplit("-", 2)[0], "qualities": [0] * 10}
    (root / "examples.json").write_text(json.dumps(index))
    return root


def test_nsynth_leave_one_source_out(tmp_path, capsys):
    root = write_nsynth(tmp_path / "nsynth")
    base = ["recognition", "--nsynth", str(root), "--features", "mfcc", "--classifiers", "logreg",
            "--models", "none", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "all")]) == 2  # brass has no electronic notes
    assert "brass" in capsys.readouterr().err
    assert main(base + ["--families", "guitar", "keyboard", "--out", str(tmp_path / "two")]) == 0
    res = json.loads((tmp_path / "two" / "results.json").read_text())
    assert res["sources"] == ["acoustic", "electronic"] and res["classes"] == ["guitar", "keyboard"]
    assert res["rows"][0]["error"] < 20  # three partials vs one: told apart across sources
