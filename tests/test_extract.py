"""Tests of jaxmusic.extract (features at scale, resumable) and the `features` command."""

import argparse
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmusic
import jaxmusic.extract as extract_mod
from jaxmusic._checks import ParameterError
from jaxmusic._pytree import pytree_dataclass, static_field
from jaxmusic.data import Dataset
from jaxmusic.cli.features import add_features_subcommand, build_transform
from jaxmusic.extract import extract, fingerprint_transform

SR = 16000


@pytree_dataclass
class FrameEnergy:
    """A toy pytree transform: a filter leaf and a static frame size."""

    weights: jax.Array
    frame: int = static_field()

    def __call__(self, x):
        frames = x.reshape(x.shape[:-1] + (-1, self.frame))
        return jnp.log1p((frames**2) @ self.weights)


def toy(n=23, samples=256):
    rng = np.random.default_rng(0)
    return Dataset(audio=rng.standard_normal((n, samples)).astype(np.float32),
                   label=np.arange(n) % 3, classes=["a", "b", "c"], sr=SR,
                   pitch=np.arange(n, dtype=float))


def spectrum(x):
    return jnp.abs(jnp.fft.rfft(x))[:16]


def test_extract_in_memory_plain_function_and_pytree():
    ds = toy()
    expected = np.abs(np.fft.rfft(ds.audio))[:, :16]
    np.testing.assert_allclose(extract(ds, spectrum, batch_size=5, progress=False), expected,
                               rtol=1e-4, atol=1e-4)
    t = FrameEnergy(weights=jnp.ones(32) / 32, frame=32)
    out = extract(ds, t, batch_size=8, progress=False)
    assert out.shape == (23, 8)
    np.testing.assert_allclose(out, np.asarray(jax.vmap(t)(ds.audio)), rtol=1e-5)
    batched = extract(ds.audio, lambda xb: xb.sum(axis=-1), vmap=False, progress=False)
    np.testing.assert_allclose(batched, ds.audio.sum(axis=1), rtol=1e-4, atol=1e-4)


def test_extract_bad_transforms():
    ds = toy()
    with pytest.raises(ParameterError, match="one array with the batch axis first"):
        extract(ds, lambda x: (x, x), progress=False)
    with pytest.raises(ParameterError, match=r"cannot be applied to a batch of shape \(32, 256\)"):
        extract(ds, lambda x: x.reshape(3, -1), progress=False)
    with pytest.raises(ParameterError, match="callable"):
        extract(ds, 3, progress=False)


def test_extract_resumes_after_interruption(tmp_path, monkeypatch):
    ds = toy()
    t = FrameEnergy(weights=jnp.linspace(0, 1, 32), frame=32)
    full = np.asarray(extract(ds, t, batch_size=4, out=tmp_path / "full", chunk_size=8,
                              progress=False))
    saved = []
    save = extract_mod._save_chunk

    def crash_after_two(path, value):
        if len(saved) == 2:
            raise KeyboardInterrupt("simulated interruption")
        saved.append(path.name)
        save(path, value)

    monkeypatch.setattr(extract_mod, "_save_chunk", crash_after_two)
    out = tmp_path / "run"
    with pytest.raises(jaxmusic.Interrupted, match="interrupted after 16 of 23 notes"):
        extract(ds, t, batch_size=4, out=out, chunk_size=8, progress=False)
    assert saved == ["00000000-00000008.npy", "00000008-00000016.npy"]
    assert sorted(p.name for p in (out / "chunks").iterdir()) == saved
    assert not (out / "features.npy").exists()

    rows = []

    def counting(path, value):
        rows.append(len(value))
        saved.append(path.name)
        save(path, value)

    monkeypatch.setattr(extract_mod, "_save_chunk", counting)
    saved.clear()
    result = extract(ds, t, batch_size=4, out=out, chunk_size=8, progress=False)
    assert saved == ["00000016-00000023.npy"] and rows == [7]  # only the missing rows were computed
    np.testing.assert_array_equal(np.asarray(result), full)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n"] == 23 and not (out / "chunks").exists()
    meta = np.load(out / "metadata.npz", allow_pickle=False)
    np.testing.assert_array_equal(meta["label"], ds.label)
    assert meta["classes"].tolist() == ["a", "b", "c"]

    saved.clear()  # a finished run is read back, not recomputed
    again = extract(ds, t, batch_size=4, out=out, chunk_size=8, progress=False)
    assert saved == [] and isinstance(again, np.memmap)

    other = FrameEnergy(weights=jnp.linspace(0, 1, 16), frame=16)
    assert fingerprint_transform(other) != fingerprint_transform(t)
    with pytest.raises(ParameterError, match="another data set or transform"):
        extract(ds, other, out=out, progress=False)
    with pytest.raises(ParameterError, match="another data set or transform"):
        extract(ds[:10], t, out=out, progress=False)
    fresh = extract(ds, other, out=out, resume=False, progress=False)
    assert fresh.shape == (23, 16)


def test_a_ctrl_c_keeps_the_rows_already_computed(tmp_path, monkeypatch):
    # Ctrl-C while a batch is in flight: the rows already back on the host are written
    # as a chunk before the interrupt propagates (nothing finished is lost)
    ds = toy()
    t = FrameEnergy(weights=jnp.linspace(0, 1, 32), frame=32)
    full = np.asarray(extract(ds, t, batch_size=4, progress=False))
    reads = []

    class Stop:
        def __init__(self, audio):
            self.audio, self.shape, self.dtype = audio, audio.shape, audio.dtype

        def __getitem__(self, idx):
            reads.append(idx)
            if len(reads) == 4:  # the fourth batch read: rows 12..15
                raise KeyboardInterrupt
            return self.audio[idx]

    with pytest.raises(jaxmusic.Interrupted, match=r"after 8 of 23 notes.*resume"):
        extract(Stop(ds.audio), t, batch_size=4, out=tmp_path / "f", chunk_size=100, progress=False,
                fingerprint="toy")
    names = sorted(p.name for p in (tmp_path / "f" / "chunks").iterdir())
    assert names == ["00000000-00000008.npy"]  # batches 0 and 1 were back; batch 2 was in flight
    result = extract(ds.audio, t, batch_size=4, out=tmp_path / "f", chunk_size=100, progress=False,
                     fingerprint="toy")
    np.testing.assert_array_equal(np.asarray(result), full)


def test_chunks_close_after_chunk_seconds(tmp_path, monkeypatch):
    ds = toy()
    clock = iter(range(0, 10_000, 10))  # every reading of the clock is 10 s later
    monkeypatch.setattr(extract_mod.time, "perf_counter", lambda: float(next(clock)))
    extract(ds, spectrum, batch_size=4, out=tmp_path / "f", chunk_size=1000, chunk_seconds=5.0,
            progress=False)
    # no chunk survives a finished run; the manifest says how many rows each chunk could hold
    saved = []
    monkeypatch.setattr(extract_mod, "_save_chunk", lambda path, value: saved.append(len(value)))
    monkeypatch.setattr(extract_mod, "_finished_chunks", lambda *a: [])
    with pytest.raises(ParameterError, match="lacks rows"):
        extract(ds, spectrum, batch_size=4, out=tmp_path / "g", chunk_size=1000, chunk_seconds=5.0,
                progress=False)
    assert saved == [4, 4, 4, 4, 4, 3]  # a chunk per batch: each batch took longer than 5 s


def test_a_nan_note_is_named(tmp_path):
    ds = toy()
    ds.audio[13, 7] = np.nan
    with pytest.raises(ParameterError, match="note 13 of the data set holds NaN"):
        extract(ds, spectrum, batch_size=4, out=tmp_path / "f", progress=False)


def test_fingerprints_follow_functions_and_closures():
    def make(scale):
        return lambda x: x * scale

    assert fingerprint_transform(make(2.0)) == fingerprint_transform(make(2.0))
    assert fingerprint_transform(make(2.0)) != fingerprint_transform(make(3.0))
    assert fingerprint_transform(spectrum) != fingerprint_transform(jnp.abs)


MULTI_DEVICE = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    assert jax.local_device_count() == 4, jax.local_devices()
    from jaxmusic._checks import ParameterError
    from jaxmusic.data import Dataset, batches
    from jaxmusic.extract import extract
    rng = np.random.default_rng(1)
    ds = Dataset(audio=rng.standard_normal((10, 128)).astype(np.float32),
                 label=np.arange(10) % 2, classes=["x", "y"], sr=16000)
    f = lambda x: jnp.abs(jnp.fft.rfft(x))[:8]
    sharded = extract(ds, f, batch_size=3, progress=False)   # batch 3 -> 4, last batch padded
    single = extract(ds, f, batch_size=3, progress=False, devices=jax.local_devices()[:1])
    np.testing.assert_allclose(sharded, single, rtol=1e-6)
    assert sharded.shape == (10, 8)
    out = list(batches(ds, batch_size=8))
    assert len(out) == 2 and out[1]["mask"].sum() == 2
    a = out[0]["audio"]
    assert len(a.sharding.device_set) == 4
    assert {s.data.shape for s in a.addressable_shards} == {(2, 128)}
    step = jax.jit(lambda b: jnp.where(b["mask"], b["audio"].sum(axis=1), 0.0).sum())
    total = sum(float(step(b)) for b in out)
    np.testing.assert_allclose(total, ds.audio.sum(), rtol=1e-4)
    try:
        next(batches(ds, batch_size=6))
    except ParameterError as err:
        assert "multiple of the 4 devices, e.g. 8" in str(err), err
    else:
        raise AssertionError("batch_size 6 on 4 devices should fail")
    print("OK")
""")


def test_sharding_over_four_fake_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", MULTI_DEVICE], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def _parse(argv):
    parser = argparse.ArgumentParser(prog="jaxmusic")
    add_features_subcommand(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_features_command(tmp_path, capsys, monkeypatch):
    ds = toy(n=9, samples=64)
    ds.save(tmp_path / "ds")
    argv = ["features", "--data", f"saved:{tmp_path / 'ds'}", "--transform", "jax.numpy:abs",
            "--out", str(tmp_path / "feat"), "--batch-size", "4", "--chunk-size", "4",
            "--no-progress"]
    args = _parse(argv)
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shape"] == [9, 64]
    feats = np.load(tmp_path / "feat" / "features.npy", allow_pickle=False)
    np.testing.assert_allclose(feats, np.abs(ds.audio))
    before = os.stat(tmp_path / "feat" / "features.npy")
    monkeypatch.setattr(extract_mod, "_save_chunk", lambda *a: pytest.fail("a finished run computed a chunk"))
    assert args.func(args) == 0  # a second run finds the finished features and computes nothing
    after = os.stat(tmp_path / "feat" / "features.npy")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "already complete" in capsys.readouterr().err
    args = _parse(argv[:3] + ["--transform", "wavelets9"] + argv[5:])
    with pytest.raises(ParameterError, match="unknown transform 'wavelets9'"):
        args.func(args)
    with pytest.raises(SystemExit):
        _parse(argv + ["-p", "not a pair"])
    args = _parse(argv[:3] + ["--transform", "mfcc", "-p", "nfft=512"] + argv[5:])
    with pytest.raises(ParameterError, match=r"transform 'mfcc' takes no parameter 'nfft' \(did you mean 'n_fft'\?\)"):
        args.func(args)


class Recorder:
    """A transform class that takes sr and shape, as jaxmusic's transforms do."""

    def __init__(self, *, sr, shape, scale=1.0):
        self.sr, self.shape, self.scale = sr, shape, scale

    def __call__(self, x):
        return x * self.scale


def scaled(x, *, scale):
    return x * scale


def test_build_transform_fills_sr_and_shape():
    t = build_transform(f"{__name__}:Recorder", sr=SR, n_samples=64, params={"scale": 2.0})
    assert (t.sr, t.shape, t.scale) == (SR, 64, 2.0)
    f = build_transform(f"{__name__}:scaled", sr=SR, n_samples=64, params={"scale": 3.0})
    assert float(f(jnp.ones(()))) == 3.0
    with pytest.raises(ParameterError, match="unknown transform"):
        build_transform("nope", sr=SR, n_samples=64)


def test_features_command_interrupted_then_killed_resumes_with_every_row_once(tmp_path):
    # Ctrl-C (SIGINT), then SIGKILL in the middle of a chunk, then a run to the end: every note's
    # features once, equal to an uninterrupted computation; the command says what it kept
    import signal
    import time
    from pathlib import Path

    n = 64
    ds = Dataset(audio=np.random.default_rng(5).standard_normal((n, 32)).astype(np.float32),
                 label=np.arange(n) % 2, classes=["a", "b"], sr=SR)
    ds.save(tmp_path / "ds")
    out = tmp_path / "feat"
    workers = Path(__file__).parent / "workers"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(workers), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "jaxmusic.cli", "features", "--data", f"saved:{tmp_path / 'ds'}", "--transform",
            "slow_transform:slow", "--batch-size", "4", "--chunk-size", "4", "--no-progress", "--out", str(out)]

    def chunks():
        return sorted(p.name for p in (out / "chunks").glob("*-*.npy")) if (out / "chunks").is_dir() else []

    def start_and_wait_for(k):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while len(chunks()) < k and proc.poll() is None and time.time() - t0 < 120:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        return proc

    proc = start_and_wait_for(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    kept = int(err.split("interrupted after ")[1].split(" of")[0])
    assert 8 <= kept < n and f"of {n} notes" in err and "to resume" in err and "Traceback" not in err
    proc = start_and_wait_for(len(chunks()) + 2)
    time.sleep(0.07)  # within a batch of the next chunk
    proc.kill()
    proc.wait()
    done = sum(int(c.split("-")[1][:8]) - int(c.split("-")[0]) for c in chunks())
    assert kept < done < n
    final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    assert f"resuming, {done} of {n} notes already done" in final.stderr
    sys.path.insert(0, str(workers))
    try:
        from slow_transform import slow
    finally:
        sys.path.remove(str(workers))
    np.testing.assert_array_equal(np.load(out / "features.npy"), extract(ds, slow, batch_size=4, progress=False))
