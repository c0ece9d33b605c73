"""Tests of jaxmusic.experiments.representations (one vector per note), on tiny shapes."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmusic._checks import ParameterError
from jaxmusic.data import Dataset
from jaxmusic.experiments.representations import (
    REPRESENTATIONS,
    Representation,
    make_representation,
    note_features,
)
from jaxmusic.features import mfcc

SR, N = 8000, 4096
# small, fast configurations of the four representations (each compile costs seconds)
TINY = {
    "mfcc": dict(n_mfcc=13, n_fft=512, hop_length=128, n_mels=40),
    "scattering": dict(J=5, Q=(2, 1)),
    "jtfs": dict(J=5, J_fr=1, Q=(2, 1)),
    "spiral": dict(J=5, Q=2),
}


def note(f0=440.0, *, onset=512, decay=0.2, n=N, sr=SR, shift=0):
    """A decaying harmonic note starting at ``onset + shift`` samples (silence before)."""
    t = np.arange(n) / sr
    start = (onset + shift) / sr
    u = np.clip(t - start, 0.0, None)
    env = np.where(t >= start, (1 - np.exp(-u / 0.005)) * np.exp(-u / decay), 0.0)
    y = sum(0.3 / h * np.sin(2 * np.pi * h * f0 * u) for h in range(1, 6) if h * f0 < sr / 2)
    return (env * y).astype(np.float32)


# one batch shape, (3, N), for every call: a note, the same note 16 samples later, and
# another pitch; the tests below then share compiled programs
NOTES = np.stack([note(440.0), note(440.0, shift=16), note(660.0, decay=0.1)])


def dataset(audio=NOTES):
    return Dataset(audio=audio, label=np.arange(len(audio)) % 2, classes=["a", "b"], sr=SR)


@pytest.fixture(scope="module")
def reps():
    return {name: make_representation(name, sr=SR, n_samples=N, **TINY[name]) for name in REPRESENTATIONS}


@pytest.mark.parametrize("name", REPRESENTATIONS)
def test_finite_vectors_and_jit_equals_eager(reps, name):
    R = reps[name]
    assert isinstance(R, Representation)
    feats = note_features(dataset(), name, progress=False, batch_size=len(NOTES), **TINY[name])
    assert feats.dtype == np.float32 and feats.shape == (len(NOTES), R.size)
    assert np.isfinite(feats).all()
    assert feats.std(axis=0).max() > 0  # the notes differ
    x = jnp.asarray(NOTES)
    eager = np.asarray(R(x))
    # note_features: R travels through extract's jit as a pytree argument
    np.testing.assert_allclose(feats, eager, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(R))(x)), eager, rtol=1e-4, atol=1e-4)
    if name == "mfcc":  # cheap enough to run op by op
        with jax.disable_jit():
            np.testing.assert_allclose(np.asarray(R(x)), eager, rtol=1e-5, atol=1e-4)
    assert np.isfinite(np.asarray(R(jnp.zeros_like(x)))).all()  # silence


def test_sizes(reps):
    assert reps["mfcc"].size == 2 * 13
    for name in ("scattering", "jtfs", "spiral"):  # every path but order 0
        assert reps[name].size == reps[name].transform.output_size() - 1, name


@pytest.mark.parametrize("name", ["scattering", "jtfs", "spiral"])
def test_small_time_shift_barely_changes_the_vector(reps, name):
    x, shifted, other = reps[name](jnp.asarray(NOTES))  # other: a change the check must see
    rel = lambda a: float(jnp.linalg.norm(a - x) / jnp.linalg.norm(x))  # noqa: E731
    assert rel(shifted) < 0.05, rel(shifted)
    assert rel(other) > 0.05, rel(other)
    assert rel(other) > 10 * rel(shifted)


def test_mfcc_layout_is_mean_then_std(reps):
    M = np.asarray(mfcc(jnp.asarray(NOTES), sr=SR, **TINY["mfcc"]))  # (3, n_mfcc, frames)
    expected = np.concatenate([M.mean(axis=-1), M.std(axis=-1)], axis=-1)
    np.testing.assert_allclose(np.asarray(reps["mfcc"](jnp.asarray(NOTES))), expected,
                               rtol=1e-5, atol=1e-4)


def test_defaults_for_one_second_16k_notes():
    R = make_representation("mfcc", sr=16000, n_samples=16000)
    assert (R.transform.n_mfcc, R.transform.n_fft, R.transform.hop_length) == (20, 1024, 256)
    S = make_representation("scattering", sr=16000, n_samples=16000)
    assert (S.transform.J, S.transform.Q, S.eps) == (8, (12, 1), 1e-6)
    assert make_representation("scattering", sr=44100, n_samples=44100).transform.J == 9
    J = make_representation("jtfs", sr=16000, n_samples=16000)
    assert (J.transform.J, J.transform.J_fr, J.transform.Q, J.transform.format) == (8, 3, (12, 1), "time")
    P = make_representation("spiral", sr=16000, n_samples=16000)
    assert (P.transform.J, P.transform.Q, P.transform.J_chroma, P.eps) == (8, (8, 1), 1, 1e-6)


def test_mfcc_gradient_finite_at_silence(reps):
    g = jax.grad(lambda x: reps["mfcc"](x).sum())(jnp.zeros(N, jnp.float32))  # std = 0 there
    assert np.isfinite(np.asarray(g)).all()


def test_resumable_extraction_to_a_folder(tmp_path, monkeypatch):
    # count the batches of features computed: a host callback in the representation's compiled
    # program runs each time a batch is computed (not when it is only traced)
    from jaxmusic.experiments import representations

    computed = []
    apply = representations._apply_jit

    def counting(R, x):
        jax.debug.callback(lambda: computed.append(1))
        return apply(R, x)

    monkeypatch.setattr(representations, "_apply_jit", counting)
    ds, opts = dataset(), TINY["mfcc"]
    first = note_features(ds, "mfcc", out=tmp_path / "mfcc", progress=False, **opts)
    assert computed  # the counter sees the work
    manifest = json.loads((tmp_path / "mfcc" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n"] == len(ds)
    data_files = [tmp_path / "mfcc" / f for f in ("features.npy", "metadata.npz", "manifest.json")]
    written = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in data_files]
    computed.clear()
    again = note_features(ds, "mfcc", out=tmp_path / "mfcc", progress=False, **opts)
    assert computed == []  # the finished features are read back, nothing is computed again
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in data_files] == written  # nor written again
    np.testing.assert_array_equal(first, again)
    # another configuration in the same folder is refused, not silently mixed
    with pytest.raises(ParameterError, match="another data set or transform"):
        note_features(ds, "mfcc", out=tmp_path / "mfcc", progress=False, **{**opts, "n_mfcc": 12})


def test_bad_input():
    ds = dataset()
    with pytest.raises(ParameterError, match=r"'cqt'.*mfcc, scattering, jtfs, spiral"):
        make_representation("cqt", sr=SR, n_samples=N)
    with pytest.raises(ParameterError, match=r"'cqt'.*mfcc, scattering, jtfs, spiral"):
        note_features(ds, "cqt")
    with pytest.raises(ParameterError, match=r"unknown option\(s\) n_mfcc"):
        make_representation("scattering", sr=SR, n_samples=N, n_mfcc=20)
    with pytest.raises(ParameterError, match=r"shape=1024 cannot be overridden"):
        make_representation("jtfs", sr=SR, n_samples=N, shape=1024)
    with pytest.raises(ParameterError, match=r"eps must be > 0"):
        make_representation("spiral", sr=SR, n_samples=N, eps=0.0)
    with pytest.raises(ParameterError, match=r"J=13 is too large"):
        make_representation("scattering", sr=SR, n_samples=N, J=13)
    with pytest.raises(ParameterError, match=r"Dataset"):
        note_features(ds.audio, "mfcc")
    R = make_representation("scattering", sr=SR, n_samples=N, **TINY["scattering"])
    with pytest.raises(ParameterError, match=r"4096 samples.*\(2048,\)"):
        R(jnp.zeros(2048))
    audio = NOTES.copy()
    audio[1, 1000] = np.nan
    with pytest.raises(ParameterError, match=r"note 1 of the data set holds NaN or infinite samples"):
        note_features(dataset(audio), "mfcc", progress=False, **TINY["mfcc"])
