"""Nothing lost: every writer of jaxmusic, library function and command, refuses a folder or a
file it did not write (naming the path and the way out), keeps a user's files byte-identical,
never writes over its input, and still writes where told to with ``force`` / ``--force``.

Writers whose full run takes more than a few seconds are stopped right after they take their
folder (a spy around the claim raises `Claimed`): what is tested is that the folder is refused
or taken, with the user's file intact; everything they write afterwards goes through the same
`RunDir` (tested on the cheap writers, which run whole).
"""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from flax import nnx

import jaxmusic
import jaxmusic._files as files_mod
from jaxmusic import data, train
from jaxmusic._files import MARKER, OutputError, claim_dir
from jaxmusic.cli import main
from jaxmusic.data import Dataset

SR = 8000
PRECIOUS = b"\x00my thesis, chapter 3\n" * 100


class Claimed(Exception):
    """Raised by the spy once a writer has taken its folder."""


def user_folder(path):
    """A folder of the user's, with one file in it; returns its snapshot."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "thesis.tex").write_bytes(PRECIOUS)
    return snapshot(path)


def snapshot(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def tone(f=220.0, seconds=0.5, sr=SR, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.5 * np.sin(2 * np.pi * f * t) + 0.01 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A folder of class folders of short tones, and an NSynth-layout folder."""
    root = tmp_path_factory.mktemp("src") / "notes"
    for c, f in (("a", 220.0), ("b", 330.0)):
        (root / c).mkdir(parents=True)
        for i in range(8):
            sf.write(root / c / f"{i}.wav", tone(f * (1 + i / 20), seed=i), SR)
    ns = root.parent / "nsynth"
    (ns / "audio").mkdir(parents=True)
    index = {}
    for i, fam in enumerate(("bass", "brass")):
        name = f"{fam}_acoustic_000-0{60 + i}-100"
        sf.write(ns / "audio" / f"{name}.wav", tone(200 + 100 * i), SR)
        index[name] = {"instrument_family_str": fam, "instrument_source_str": "acoustic", "pitch": 60 + i,
                       "velocity": 100, "instrument_str": f"{fam}_acoustic_000", "instrument_family": i}
    (ns / "examples.json").write_text(json.dumps(index))
    return root, ns


def toy_dataset(n=6, samples=256):
    rng = np.random.default_rng(0)
    return Dataset(audio=(0.1 * rng.standard_normal((n, samples))).astype(np.float32),
                   label=np.arange(n) % 2, classes=["a", "b"], sr=SR)


class Tiny(nnx.Module):
    def __init__(self, *, rngs):
        self.l = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        return self.l(x)


XY = (np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32), np.arange(16) % 2)


# ---------------------------------------------------------------- library writers, run whole
LIBRARY = {
    "data.load_folder": lambda out, src, force: data.load_folder(src[0], sr=SR, out=out, force=force),
    "data.load_sources": lambda out, src, force: data.load_sources([src[0]], sr=SR, out=out, force=force),
    "data.load_nsynth": lambda out, src, force: data.load_nsynth(src[1], sr=SR, out=out, force=force),
    "Dataset.save": lambda out, src, force: toy_dataset().save(out, overwrite=True, force=force),
    "extract": lambda out, src, force: jaxmusic.features.extract(
        toy_dataset(), lambda x: jnp.abs(jnp.fft.rfft(x))[:8], out=out, progress=False, force=force),
    "train.fit out": lambda out, src, force: train.fit(Tiny(rngs=nnx.Rngs(0)), *XY, steps=2, progress=False,
                                                       out=out, force=force),
    "train.fit checkpoint_dir": lambda out, src, force: train.fit(Tiny(rngs=nnx.Rngs(0)), *XY, steps=2,
                                                                  progress=False, checkpoint_dir=out, force=force),
    "train.minimize": lambda out, src, force: train.minimize(Tiny(rngs=nnx.Rngs(0)), XY[0], XY[0][:, :2], steps=2,
                                                             progress=False, out=out, force=force),
    "synthesis.train_autoencoder": lambda out, src, force: jaxmusic.synthesis.train_autoencoder(
        [tone()], sr=SR, n_fft=128, hop_length=32, encoder=(8,), latent=4, decoder=(8,), seq_len=4, steps=2,
        progress=False, out=out, force=force),
}


@pytest.mark.parametrize("writer", sorted(LIBRARY))
def test_a_library_writer_refuses_a_user_folder_and_force_keeps_the_users_file(tmp_path, source, writer):
    out = tmp_path / "mine"
    before = user_folder(out)
    with pytest.raises(OutputError, match=rf"{out}.*not written by jaxmusic.*thesis\.tex.*--force.*force=True"):
        LIBRARY[writer](out, source, False)
    assert snapshot(out) == before and not (out / MARKER).exists()
    LIBRARY[writer](out, source, True)
    after = snapshot(out)
    assert after["thesis.tex"] == PRECIOUS and len(after) > 2  # jaxmusic's files beside the user's
    marker = json.loads((out / MARKER).read_text())
    assert "thesis.tex" not in marker["names"] and marker["names"]
    LIBRARY[writer](out, source, False)  # now jaxmusic's folder: a rerun needs no force
    assert snapshot(out)["thesis.tex"] == PRECIOUS


def test_a_file_a_user_put_in_a_jaxmusic_folder_is_never_replaced_or_deleted(tmp_path):
    ds = toy_dataset()
    f = lambda x: jnp.abs(jnp.fft.rfft(x))[:8]
    out = tmp_path / "feat"
    jaxmusic.features.extract(ds, f, out=out, progress=False)
    (out / "notes.txt").write_bytes(PRECIOUS)  # the user's, beside jaxmusic's files
    jaxmusic.features.extract(ds, f, out=out, resume=False, progress=False)  # starts over: deletes its own only
    assert (out / "notes.txt").read_bytes() == PRECIOUS
    run = claim_dir(out, "features")
    with pytest.raises(OutputError, match="notes.txt exists and jaxmusic did not write it"):
        run / "notes.txt"  # what any writer asks before it writes a name
    assert (out / "notes.txt").read_bytes() == PRECIOUS
    with pytest.raises(OutputError, match="never deleted"):
        run.remove("notes.txt")
    with pytest.raises(OutputError, match="holds a jaxmusic features run, not a recognition"):
        claim_dir(out, "recognition")


def test_outputs_never_overwrite_their_inputs(tmp_path, source):
    root = source[0]
    for out in (root, root / "a" / "cache", root.parent):  # the input, inside it, around it
        with pytest.raises(OutputError, match="input"):
            data.load_folder(root, sr=SR, out=out, force=True)
    assert sorted(p.name for p in root.rglob("*.wav")) == sorted(f"{i}.wav" for i in range(8) for _ in "ab")
    link = tmp_path / "link.wav"
    link.symlink_to(root / "a" / "0.wav")
    with pytest.raises(OutputError, match="is the input"):
        files_mod.check_output_file(link, inputs=[root / "a" / "0.wav"], overwrite=True)


def test_audio_save_refuses_an_existing_file(tmp_path):
    path = tmp_path / "take.wav"
    path.write_bytes(PRECIOUS)
    with pytest.raises(OutputError, match="take.wav.*exists.*overwrite=True"):
        jaxmusic.audio.save(path, tone(), SR)
    assert path.read_bytes() == PRECIOUS
    jaxmusic.audio.save(path, tone(), SR, overwrite=True)
    assert sf.info(str(path)).frames == tone().size


def test_a_legacy_jaxmusic_folder_is_adopted_and_a_damaged_marker_is_refused(tmp_path):
    ds = toy_dataset()
    ds.save(tmp_path / "ds")
    os.unlink(tmp_path / "ds" / MARKER)  # as written before markers existed
    ds.save(tmp_path / "ds", overwrite=True)  # recognised by its layout, replaced
    assert json.loads((tmp_path / "ds" / MARKER).read_text())["kind"] == "dataset"
    (tmp_path / "ds" / MARKER).write_text("{ not json")
    with pytest.raises(OutputError, match="unreadable"):
        ds.save(tmp_path / "ds", overwrite=True)


# ---------------------------------------------------------------- writers that take minutes: stopped once claimed
def _spy(monkeypatch, module, name):
    real = getattr(module, name)

    def spy(*args, **kwargs):
        real(*args, **kwargs)
        raise Claimed

    monkeypatch.setattr(module, name, spy)


def _experiments():
    from jaxmusic.cli.experiment import EXPERIMENTS

    return sorted(EXPERIMENTS)


CLAIMED = {  # name -> (module, claim function, call)
    **{f"experiment {e}": (None, "claim_dir", e) for e in _experiments()},
    "run_demo": ("jaxmusic.experiments.demo", "claim_dir", "demo"),
    "run_recognition": ("jaxmusic.experiments.recognition", "as_run_dir", "recognition"),
    "synthesis.wavenet.train_wavenet": ("jaxmusic.synthesis.wavenet", "as_run_dir", "wavenet"),
    "synthesis.wavenet.train_translator": ("jaxmusic.synthesis.wavenet", "as_run_dir", "translator"),
}


def _call(what, out, force, src):
    import importlib

    from jaxmusic.cli.experiment import EXPERIMENTS
    from jaxmusic.synthesis import wavenet

    if what in EXPERIMENTS:
        module, fn, _ = EXPERIMENTS[what]
        return getattr(importlib.import_module(module), fn)(out, quick=True, force=force)
    if what == "demo":
        return jaxmusic.experiments.demo.run_demo(out, force=force, verbose=False)
    if what == "recognition":
        return jaxmusic.experiments.run_recognition(out, data=[str(src[0])], features=["mfcc"], classifiers=["knn"],
                                                    models=[], sr=SR, progress=False, verbose=False, force=force)
    if what == "wavenet":
        return wavenet.train_wavenet([tone()], steps=1, out=out, progress=False, force=force)
    return wavenet.train_translator({"a": [tone()], "b": [tone(330)]}, steps=1, out=out, progress=False, force=force)


@pytest.mark.parametrize("writer", sorted(CLAIMED))
def test_a_long_writer_refuses_a_user_folder_before_any_work_and_force_takes_it(tmp_path, source, monkeypatch,
                                                                              writer):
    import importlib

    from jaxmusic.cli.experiment import EXPERIMENTS

    module, name, what = CLAIMED[writer]
    module = importlib.import_module(module or EXPERIMENTS[what][0])
    _spy(monkeypatch, module, name)
    out = tmp_path / "mine"
    before = user_folder(out)
    with pytest.raises(OutputError, match=rf"{out}.*not written by jaxmusic.*--force"):
        _call(what, out, False, source)
    assert snapshot(out) == before
    with pytest.raises(Claimed):
        _call(what, out, True, source)
    assert snapshot(out)["thesis.tex"] == PRECIOUS and (out / MARKER).is_file()


# ---------------------------------------------------------------- every command
def _commands(src, out, files_dir):
    wav = files_dir / "voice.wav"
    return {
        "recognition": ["recognition", "--data", str(src[0]), "--features", "mfcc", "--classifiers", "knn",
                        "--models", "none", "--sr", str(SR), "--no-progress", "--out", str(out)],
        "features": ["features", "--data", f"folder:{src[0]}", "--transform", "jax.numpy:abs", "--sr", str(SR),
                     "--no-progress", "--out", str(out)],
        "features --audio-cache": ["features", "--data", f"folder:{src[0]}", "--transform", "jax.numpy:abs",
                                   "--sr", str(SR), "--no-progress", "--out", str(out.parent / "f2"),
                                   "--audio-cache", str(out)],
        "experiment": ["experiment", "helix", "--quick", "--out", str(out)],
        "demo": ["demo", "--out", str(out)],
        "train-autoencoder": ["train-autoencoder", str(wav), "--out", str(out), "--sr", str(SR), "--n-fft", "128",
                              "--hop-length", "32", "--hidden", "8", "--latent", "4", "--seq-len", "4", "--steps",
                              "2", "--quiet"],
        "train-wavenet": ["train-wavenet", str(wav), "--out", str(out), "--steps", "1", "--quiet", "--no-sample"],
        "train-translator": ["train-translator", str(wav), str(files_dir / "other.wav"), "--out", str(out),
                             "--steps", "1", "--quiet", "--no-sample"],
    }


RUN_WHOLE = {"features", "features --audio-cache", "train-autoencoder"}
SPIED = {"recognition": ("jaxmusic.experiments.recognition", "as_run_dir"),
         "experiment": ("jaxmusic.experiments.helix", "claim_dir"),
         "demo": ("jaxmusic.experiments.demo", "claim_dir"),
         "train-wavenet": ("jaxmusic._files", "claim_dir"),
         "train-translator": ("jaxmusic._files", "claim_dir")}


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    d = tmp_path_factory.mktemp("wavs")
    jaxmusic.audio.save(d / "voice.wav", tone(220, 1.0), SR)
    jaxmusic.audio.save(d / "other.wav", tone(330, 1.0), SR)
    return d


@pytest.mark.parametrize("command", ["recognition", "features", "features --audio-cache", "experiment", "demo",
                                     "train-autoencoder", "train-wavenet", "train-translator"])
def test_a_command_refuses_a_user_folder_and_force_keeps_the_users_file(tmp_path, source, wavs, capsys,
                                                                          monkeypatch, command):
    import importlib

    out = tmp_path / "mine"
    argv = _commands(source, out, wavs)[command]
    before = user_folder(out)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{out} exists and was not written by jaxmusic" in err and "--force" in err
    assert snapshot(out) == before
    if command in SPIED:
        _spy(monkeypatch, importlib.import_module(SPIED[command][0]), SPIED[command][1])
        with pytest.raises(Claimed):
            main(argv + ["--force"])
    else:
        assert main(argv + ["--force"]) == 0
        assert len(snapshot(out)) > 2
        capsys.readouterr()
        assert main(argv) == 0  # a rerun: jaxmusic's folder now, and nothing left to do
        if command == "train-autoencoder":
            assert "already complete: 2 steps" in capsys.readouterr().out
        else:
            assert "already complete" in capsys.readouterr().err
    assert snapshot(out)["thesis.tex"] == PRECIOUS and (out / MARKER).is_file()


@pytest.mark.parametrize("command", ["hybridize", "translate"])
def test_an_output_file_is_never_an_input_nor_a_file_jaxmusic_did_not_write(tmp_path, wavs, capsys, command):
    src = tmp_path / "voice.wav"
    src.write_bytes((wavs / "voice.wav").read_bytes())
    original = src.read_bytes()
    model = tmp_path / "model"  # translate fails on its outputs before it reads the model
    argv = (["hybridize", str(src), str(wavs / "other.wav"), "--sr", str(SR), "-p", "n_fft=256", "-p", "hop_length=64"] if command == "hybridize"
            else ["translate", "--model", str(model), str(src)])
    for extra in ([], ["--force"]):  # never over the input, even with --force
        assert main(argv + ["-o", str(src)] + extra) == 2
        assert "is the input" in capsys.readouterr().err and src.read_bytes() == original
    side = tmp_path / "out.png"  # an unrelated file where the figure would go
    side.write_bytes(PRECIOUS)
    assert main(argv + ["-o", str(tmp_path / "out.wav")]) == 2
    assert "out.png exists" in capsys.readouterr().err and side.read_bytes() == PRECIOUS
    assert not (tmp_path / "out.wav").exists()
    if command == "hybridize":
        page = tmp_path / "out.html"  # the listening page follows the same rule
        page.write_bytes(PRECIOUS)
        side.unlink()
        assert main(argv + ["-o", str(tmp_path / "out.wav")]) == 2
        assert "out.html exists" in capsys.readouterr().err and page.read_bytes() == PRECIOUS
        side.write_bytes(PRECIOUS)
        assert main(argv + ["-o", str(tmp_path / "out.wav"), "--force"]) == 0
        assert side.read_bytes() != PRECIOUS and sf.info(str(tmp_path / "out.wav")).samplerate == SR
        assert 'src="out.wav"' in page.read_text()
        assert main(argv + ["-o", str(tmp_path / "out.wav")]) == 2  # now it exists: refused again
        assert "out.wav exists" in capsys.readouterr().err
    assert src.read_bytes() == original


def test_an_output_folder_that_is_a_file_is_named(tmp_path, capsys):
    f = tmp_path / "results"
    f.write_bytes(PRECIOUS)
    assert main(["features", "--data", "synthetic", "--transform", "jax.numpy:abs", "--out", str(f)]) == 2
    assert f"{f} exists and is not a folder" in capsys.readouterr().err and f.read_bytes() == PRECIOUS


def test_a_run_written_before_folder_markers_is_resumed_not_refused(tmp_path, source, capsys):
    out = tmp_path / "rec"
    argv = ["recognition", "--data", str(source[0]), "--split", "random", "--features", "mfcc", "--classifiers",
            "knn", "--models", "none", "--sr", str(SR), "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    markers = list(out.rglob(MARKER))
    assert len(markers) >= 2  # the run's and its features' folders
    for m in markers:  # as an earlier jaxmusic left it (no markers, no listening page)
        m.unlink()
    (out / "index.html").unlink()
    capsys.readouterr()
    assert main(argv) == 0
    assert "already complete" in capsys.readouterr().out
    assert json.loads((out / MARKER).read_text())["adopted"] is True


def test_files_someone_put_inside_jaxmusic_subfolders_survive(tmp_path, source, capsys):
    # inside chunks/ (deleted at the end of an extraction): the user's file stays, named in a warning
    f = lambda x: jnp.abs(jnp.fft.rfft(x))[:8]
    ds = toy_dataset()
    (tmp_path / "feat" / "chunks").mkdir(parents=True)
    (tmp_path / "feat" / "chunks" / "keep.txt").write_bytes(PRECIOUS)
    with pytest.warns(files_mod.OutputWarning, match="keep.txt"):
        jaxmusic.features.extract(ds, f, out=tmp_path / "feat", progress=False, force=True)
    assert (tmp_path / "feat" / "chunks" / "keep.txt").read_bytes() == PRECIOUS
    assert not [p for p in (tmp_path / "feat" / "chunks").iterdir() if p.suffix == ".npy"]
    # a file of a name jaxmusic writes, below a folder it owns: refused without --force
    argv = ["recognition", "--data", str(source[0]), "--split", "random", "--features", "mfcc", "--classifiers",
            "knn", "--models", "none", "--sr", str(SR), "--no-progress", "--out", str(tmp_path / "rec")]
    assert main(argv) == 0
    mine = tmp_path / "rec" / "confusion" / "mfcc-knn.png"
    mine.unlink()
    mine.write_bytes(PRECIOUS)
    (tmp_path / "rec" / "parts" / "mfcc__knn__random-0__0.json").unlink()  # so that the row is written again
    capsys.readouterr()
    assert main(argv) == 2
    assert f"{mine} exists and jaxmusic did not write it" in capsys.readouterr().err
    assert mine.read_bytes() == PRECIOUS
    # inside model/ (replaced when a model is trained again): refused before any training
    model = tmp_path / "ae"
    kw = dict(sr=SR, n_fft=128, hop_length=32, encoder=(8,), latent=4, decoder=(8,), seq_len=4, progress=False,
              out=model)
    jaxmusic.synthesis.train_autoencoder([tone()], steps=2, **kw)
    (model / "model" / "mine.txt").write_bytes(PRECIOUS)
    with pytest.raises(OutputError, match="model holds files jaxmusic did not write .*mine.txt"):
        jaxmusic.synthesis.train_autoencoder([tone()], steps=4, **kw)
    assert (model / "model" / "mine.txt").read_bytes() == PRECIOUS


def test_force_on_a_folder_reaches_the_folders_jaxmusic_makes_inside_it(tmp_path, source):
    out = tmp_path / "mine"
    (out / "features" / "mfcc").mkdir(parents=True)
    (out / "features" / "mfcc" / "notes.txt").write_bytes(PRECIOUS)
    argv = ["recognition", "--data", str(source[0]), "--split", "random", "--features", "mfcc", "--classifiers",
            "knn", "--models", "none", "--sr", str(SR), "--no-progress", "--out", str(out)]
    assert main(argv) == 2  # not jaxmusic's folder
    assert main(argv + ["--force"]) == 0  # --force takes the folder and the ones below it
    assert (out / "features" / "mfcc" / "notes.txt").read_bytes() == PRECIOUS
    assert (out / "features" / "mfcc" / "features.npy").is_file()


def test_extract_never_writes_into_the_folders_of_its_data(tmp_path, source):
    ds = data.load_folder(source[0], sr=SR)
    f = lambda x: jnp.abs(jnp.fft.rfft(x))[:8]
    for out in (source[0], source[0] / "a", source[0] / "a" / "feat", source[0].parent):
        with pytest.raises(OutputError, match="input"):
            jaxmusic.features.extract(ds, f, out=out, progress=False, force=True)
    assert not list(source[0].rglob(MARKER))


def test_ctrl_c_while_jax_compiles_exits_130_with_what_was_kept(tmp_path):
    # SIGINT lands while XLA compiles k-means for k=16 in its threads: the command says what it kept
    # and exits 130, without a traceback and without crashing in the interpreter's teardown (which
    # it did, with SIGSEGV, while a compile thread was still running)
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "jaxmusic.cli", "--no-compile-cache", "experiment", "kmeans",
                             "--quick", "--out", str(tmp_path / "km")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # k=8 is done: k=16 compiles next
    assert line.startswith("k=8"), line + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "jaxmusic: interrupted; the results in" in err and "Traceback" not in err


def test_a_write_killed_between_its_rename_and_its_record_leaves_a_file_jaxmusic_still_owns(tmp_path, monkeypatch):
    # a SIGKILL can land after a file's rename and before the marker notes its new size and
    # time: the rerun must take the file as jaxmusic's (it is), not refuse it as changed
    out = tmp_path / "run"
    run = claim_dir(out, "features")
    files_mod.write_json(run / "metrics.json", {"steps": 1})

    written = files_mod._written

    def killed(path):
        if os.path.basename(path) == "metrics.json":
            raise KeyboardInterrupt("killed after the rename")
        written(path)

    monkeypatch.setattr(files_mod, "_written", killed)
    with pytest.raises(KeyboardInterrupt):
        files_mod.write_json(run / "metrics.json", {"steps": 1000})
    monkeypatch.undo()
    assert json.loads((out / "metrics.json").read_text()) == {"steps": 1000}
    monkeypatch.setattr(files_mod, "_ACTIVE", {})  # a new process: the folder known from its marker only
    again = claim_dir(out, "features")
    files_mod.write_json(again / "metrics.json", {"steps": 2000})
    assert json.loads((out / "metrics.json").read_text()) == {"steps": 2000}
    # a user's edit in between is still refused
    (out / "metrics.json").write_text('{"steps": "mine"}')
    monkeypatch.setattr(files_mod, "_ACTIVE", {})
    with pytest.raises(OutputError, match="changed since jaxmusic wrote it"):
        files_mod.write_json(claim_dir(out, "features") / "metrics.json", {"steps": 3})
