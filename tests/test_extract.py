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
    with pytest.raises(KeyboardInterrupt):
        extract(ds, t, batch_size=4, out=out, chunk_size=8, progress=False)
    assert saved == ["00000.npy", "00001.npy"]
    assert sorted(p.name for p in (out / "chunks").iterdir()) == saved
    assert not (out / "features.npy").exists()

    def counting(path, value):
        saved.append(path.name)
        save(path, value)

    monkeypatch.setattr(extract_mod, "_save_chunk", counting)
    saved.clear()
    result = extract(ds, t, batch_size=4, out=out, chunk_size=8, progress=False)
    assert saved == ["00002.npy"]  # only the missing chunk was computed
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


def test_features_command(tmp_path, capsys):
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
    assert args.func(args) == 0  # a second run finds the finished features
    args = _parse(argv[:3] + ["--transform", "wavelets9"] + argv[5:])
    with pytest.raises(ParameterError, match="unknown transform 'wavelets9'"):
        args.func(args)
    with pytest.raises(SystemExit):
        _parse(argv + ["-p", "not a pair"])


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
