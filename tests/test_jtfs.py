"""Joint time-frequency scattering: kymatio's numbers, chirp direction, transformations, errors."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmusic._checks import ParameterError
from jaxmusic.scattering.jtfs import TimeFrequencyScattering

REF = Path(__file__).parent / "reference"
META_KEYS = ("order", "xi", "sigma", "j", "n_fr", "xi_fr", "sigma_fr", "j_fr", "spin")


@pytest.fixture
def x64():
    """Compute in float64 (as the references were), then restore the setting."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def _load(name):
    d = np.load(REF / name)
    cfg = json.loads(str(d["config"]))
    if isinstance(cfg.get("Q"), list):
        cfg["Q"] = tuple(cfg["Q"])
    return d, cfg


def _relerr(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("name", ["jtfs_J6_Jfr2_Q8.npz", "jtfs_J8_Jfr3_Q12_1.npz"])
@pytest.mark.parametrize("fmt", ["time", "joint"])
def test_matches_kymatio_reference(x64, name, fmt):
    d, cfg = _load(name)
    S = TimeFrequencyScattering(**cfg, format=fmt)
    y = np.asarray(jax.jit(lambda S, x: S(x))(S, jnp.asarray(d["x"], jnp.float64)))
    ref = d[f"y_{fmt}"]
    assert y.shape == ref.shape == (d["x"].shape[0],) + S.output_shape()
    meta = S.meta()
    assert len(meta["order"]) == S.output_size() == y.shape[1]
    for order in np.unique(meta["order"]):
        sel = meta["order"] == order
        assert _relerr(y[:, sel], ref[:, sel]) <= 1e-4, (fmt, order)
    # kymatio's meta() lists paths sorted by their key n; its output (and ours)
    # lists them as they are generated (for format="time": by n_fr, then n1).
    # Our meta describes our output; sorted by key it is kymatio's meta.
    keys = meta["key"]
    by_key = sorted(range(len(keys)), key=lambda i: (len(keys[i]), keys[i]))
    if fmt == "joint":
        assert by_key == list(range(len(keys)))
    for k in META_KEYS:
        np.testing.assert_allclose(
            np.asarray(meta[k], float)[by_key], d[f"{fmt}_meta_{k}"], rtol=1e-12, equal_nan=True
        )


def test_meta_describes_output_rows(x64):
    """Rows of the time format are slices of the joint format's images."""
    cfg = dict(J=4, J_fr=1, shape=512, Q=4)
    x = jnp.asarray(np.random.default_rng(0).standard_normal(512))
    St, Sj = (TimeFrequencyScattering(**cfg, format=f) for f in ("time", "joint"))
    yt, yj = np.asarray(St(x)), np.asarray(Sj(x))
    mt, mj = St.meta(), Sj.meta()
    joint_index = {k: i for i, k in enumerate(mj["key"])}
    for i, key in enumerate(mt["key"]):
        if mt["order"][i] == 0:
            continue
        n1, rest = key[0], key[1:]
        stride = 2 ** int(mt["j_fr"][i]) if mt["spin"][i] == 0 else St.N_padded_fr // yj.shape[1]
        np.testing.assert_allclose(yt[i], yj[joint_index[rest], n1 // stride], rtol=1e-10, atol=1e-14)


def test_up_and_down_chirps_swap_spins():
    N = 4096
    t = np.arange(N) / N
    f0, f1 = 0.01, 0.3
    up = np.sin(2 * np.pi * f0 * N / np.log(f1 / f0) * ((f1 / f0) ** t - 1)) * np.hanning(N)
    x = jnp.asarray(np.stack([up, up[::-1]]), jnp.float32)
    S = TimeFrequencyScattering(J=6, J_fr=2, shape=N, Q=8)
    y, meta = np.asarray(S(x)), S.meta()
    energy = {s: (y[:, (meta["order"] == 2) & (meta["spin"] == s)] ** 2).sum(axis=(1, 2)) for s in (1, -1)}
    # the up-chirp lives on one spin, its time reversal on the other
    assert energy[1][0] > 5 * energy[-1][0]
    assert energy[-1][1] > 5 * energy[1][1]
    np.testing.assert_allclose(energy[1][0], energy[-1][1], rtol=1e-3)

    # first-order time scattering barely tells them apart
    from jaxmusic.scattering.time import Scattering1D

    s1 = np.asarray(Scattering1D(J=6, shape=N, Q=8, max_order=1)(x))
    e1 = (s1**2).sum(axis=-1)
    assert np.abs(e1[0] - e1[1]).sum() <= 1e-3 * e1[0].sum()


SMALL = dict(J=4, J_fr=2, shape=300, Q=(4, 2), Q_fr=2)


@pytest.mark.parametrize("fmt", ["time", "joint"])
def test_jit_equals_eager_and_does_not_recompile(fmt):
    S = TimeFrequencyScattering(**SMALL, format=fmt)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 300)), jnp.float32)
    f = jax.jit(lambda S, x: S(x))
    y_jit = f(S, x)
    np.testing.assert_allclose(np.asarray(y_jit), np.asarray(S(x)), rtol=2e-5, atol=1e-7)
    f(S, 2 * x)
    f(TimeFrequencyScattering(**SMALL, format=fmt), x)  # equal plan, equal program
    assert f._cache_size() == 1
    assert y_jit.shape == (2,) + S.output_shape() and y_jit.dtype == jnp.float32


def test_program_does_not_grow_with_the_batch():
    # a batch beyond chunk_size goes through lax.map in equal, zero-padded chunks:
    # one program (no separate tail), the same operations at any batch
    from jaxmusic.scattering.jtfs import _apply

    S = TimeFrequencyScattering(**SMALL, chunk_size=2)
    lines = [len(_apply.lower(S._plan, 2, S.filters, jnp.zeros((B, 300), jnp.float32))
                 .as_text().splitlines()) for B in (3, 9)]
    assert lines[0] == lines[1]


def test_vmap_and_chunks_equal_loop():
    S = TimeFrequencyScattering(**SMALL)
    xs = jnp.asarray(np.random.default_rng(2).standard_normal((5, 300)), jnp.float32)
    loop = np.stack([np.asarray(S(x)) for x in xs])
    np.testing.assert_allclose(np.asarray(jax.vmap(S)(xs)), loop, rtol=2e-5, atol=1e-7)
    # chunks of 2 through lax.map, plus a tail of 1; leading axes are kept
    S2 = TimeFrequencyScattering(**SMALL, chunk_size=2)
    y = np.asarray(S2(xs.reshape(5, 1, 300)))
    assert y.shape == (5, 1) + S.output_shape()
    np.testing.assert_allclose(y[:, 0], loop, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("kw", [{}, dict(format="joint", T="global"), dict(F=0)])
def test_gradient_finite_at_zero(kw):
    S = TimeFrequencyScattering(**SMALL, **kw)
    g = jax.grad(lambda x: jnp.sum(S(x) ** 2) + jnp.sum(S(x)))(jnp.zeros(300))
    assert np.all(np.isfinite(np.asarray(g)))


def test_check_grads(x64):
    from jax.test_util import check_grads

    S = TimeFrequencyScattering(J=3, J_fr=1, shape=64, Q=2)
    x = jnp.asarray(np.random.default_rng(3).standard_normal(64))
    check_grads(S, (x,), order=1, modes=("fwd", "rev"), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_meta_shapes_and_spins():
    S = TimeFrequencyScattering(**SMALL)
    meta = S.meta()
    C = S.output_size()
    assert sum(S.output_size(detail=True)) == C
    for k in META_KEYS:
        assert meta[k].shape[0] == C
    assert meta["xi"].shape == meta["n"].shape == (C, 2)
    assert set(np.unique(meta["spin"][meta["order"] == 1])) == {0.0, 1.0}
    assert set(np.unique(meta["spin"][meta["order"] == 2])) == {-1.0, 0.0, 1.0}
    assert np.isnan(meta["spin"][0]) and meta["order"][0] == 0
    # spins come in mirror pairs at second order
    s2 = meta["order"] == 2
    assert np.sum(meta["spin"][s2] == 1) == np.sum(meta["spin"][s2] == -1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(J=4, J_fr=14, shape=300, Q=4), r"J_fr=14 is too large for the 20 first-order paths.*use J_fr <= 12"),
        (dict(J=4, J_fr=-1, shape=300), r"J_fr must be >= 0, got -1"),
        (dict(J=4, J_fr=2, shape=300, Q=4, F=21), r"F=21 exceeds the input length 20"),
        (dict(J=4, J_fr=2, shape=300, format="image"), r"format must be 'time' or 'joint', got 'image'"),
        (dict(J=4, J_fr=2, shape=300, Q=0), r"Q must be >= 1, got 0"),
        (dict(J=4, J_fr=2, shape=300, Q=(4, 0)), r"Q\[1\] must be >= 1, got 0"),
        (dict(J=4, J_fr=2, shape=300, Q=(4, 1, 1)), r"Q must be an integer or a tuple of 1 to 2"),
        (dict(J=4, J_fr=2, shape=300, Q_fr=0), r"Q_fr must be >= 1, got 0"),
        (dict(J=4, J_fr=2, shape=300, Q=1.5), r"Q must be an integer, got 1.5"),
        (dict(J=10, J_fr=2, shape=300), r"J=10 is too large for shape=300"),
        (dict(J=4, J_fr=2, shape=300, T=0), r"T=0"),
        (dict(J=4, J_fr=2, shape=300, F=0, format="joint"), r"format='joint'.*F=0"),
        (dict(J=4, J_fr=2, shape=300, stride=3), r"stride must be a power of two, got 3"),
        (dict(J=6, J_fr=2, shape=4096, Q=8, T=8), r"stride 2\*\*3 \(T=8"),
        (dict(J=4, J_fr=2, shape=300, F=2.5), r"F must be an integer.*2.5"),
        (dict(J=4, J_fr=2, shape=300, F="global", stride_fr=2), r"stride_fr=2 needs local"),
        (dict(J=6, J_fr=2, shape=4096, Q=8, F=8, format="joint"), r"format=.joint..*F=8"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TimeFrequencyScattering(**kwargs)


def test_bad_input():
    S = TimeFrequencyScattering(**SMALL)
    with pytest.raises(ParameterError, match=r"300 samples.*\(2, 299\)"):
        S(jnp.zeros((2, 299)))
    with pytest.raises(ParameterError, match="floating point.*int32"):
        S(jnp.zeros(300, jnp.int32))
    with pytest.raises(ParameterError, match="1 NaN or inf"):
        S(jnp.zeros(300).at[7].set(jnp.nan))
    with pytest.raises(ParameterError, match="real floating point"):
        S(jnp.zeros(300, jnp.complex64))


def test_signature_and_pytree_round_trip():
    import inspect

    params = inspect.signature(TimeFrequencyScattering).parameters
    assert list(params)[:5] == ["J", "J_fr", "shape", "Q", "T"]
    for name in ("Q_fr", "F", "stride", "stride_fr", "format", "chunk_size", "filters"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    S = TimeFrequencyScattering(4, 2, 300, (4, 2), None, Q_fr=2)
    leaves, tree = jax.tree_util.tree_flatten(S)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    S2 = jax.tree_util.tree_unflatten(tree, leaves)
    x = jnp.ones(300)
    np.testing.assert_array_equal(np.asarray(S2(x)), np.asarray(S(x)))


@pytest.mark.parametrize("cfg", [dict(J=6, J_fr=3, Q=1), dict(J=4, J_fr=5, Q=2)])
def test_J_fr_beyond_the_number_of_paths_is_accepted_like_kymatio(cfg):
    # kymatio main accepts 2**J_fr > (J + 1) * Q1 (the frequential filters then
    # span the whole padded axis); the output stays finite and well-formed
    S = TimeFrequencyScattering(shape=1024, **cfg)
    y = S(jnp.asarray(np.random.default_rng(0).standard_normal(1024), jnp.float32))
    assert y.shape == (S.output_size(), 1024 // 2 ** cfg["J"])
    assert bool(jnp.all(jnp.isfinite(y)))
