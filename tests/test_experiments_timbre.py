"""jaxmusic.experiments.run_timbre_transfer and the jaxmusic experiment command (tiny sizes)."""

import json

import pytest

import jaxmusic
from jaxmusic.cli import main
from jaxmusic.experiments import run_timbre_transfer


def test_timbre_transfer_runs_every_method_and_writes_its_figures(tmp_path, monkeypatch):
    from jaxmusic.synthesis import autoencoder

    trainings = []  # the autoencoders trained: a rerun must train none
    train = autoencoder.train_autoencoder

    def counting(*args, **kwargs):
        trainings.append(kwargs.get("out"))
        return train(*args, **kwargs)

    monkeypatch.setattr(autoencoder, "train_autoencoder", counting)
    kw = dict(train_classes=("flute",), input_classes=("clarinet",), n_files=1, n_notes=3, steps=10,
              ablation=False, progress=False)
    r = run_timbre_transfer(tmp_path, **kw)
    assert set(r["pitch_test"]) == {"identity", "envelope", "mosaic", "autoencoder"}
    assert r["pitch_test"]["identity"]["lost_share"] <= 1 / 3  # the floor: pYIN on the inputs themselves
    assert r["pitch_test"]["identity"]["n_notes"] == 3
    assert 0 < r["reconstruction"]["autoencoder"]["spectral_convergence"] < 2
    for f in ("comparison.png", "summary.png", "results.md", "pitch-mosaic/pitch_test.png",
              "reconstruction-autoencoder/reconstruction.png", "models/flute/model"):
        assert (tmp_path / f).exists(), f
    assert json.loads((tmp_path / "results.json").read_text())["settings"]["steps"] == 10
    assert len(trainings) == 1  # one class, no ablation

    def model_files():  # the trained model's folder: every file (not jaxmusic's hidden marker), as written
        files = sorted(p for p in (tmp_path / "models" / "flute").rglob("*") if p.is_file() and p.name[0] != ".")
        return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}

    written = model_files()
    trainings.clear()
    again = run_timbre_transfer(tmp_path, **kw)
    assert trainings == []  # the trained model is reused: not trained, not even resumed
    assert model_files() == written  # nor written again
    assert again["reconstruction"] == r["reconstruction"]
    with pytest.raises(jaxmusic.ParameterError, match="kazoo"):
        run_timbre_transfer(tmp_path, train_classes=("kazoo",))
    with pytest.raises(jaxmusic.ParameterError, match="input_classes"):
        run_timbre_transfer(tmp_path, train_classes=("flute",), input_classes=())


def test_experiment_command_lists_and_refuses(capsys):
    assert main(["experiment", "--list"]) == 0
    assert "timbre" in capsys.readouterr().out
    assert main(["experiment"]) == 2
