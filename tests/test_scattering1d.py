"""Scattering1D: kymatio's numbers, an independent NumPy oracle, properties, transformations, bad input."""

import glob
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmusic import ParameterError, Scattering1D
from jaxmusic.filters.morlet import scattering_filter_bank
from jaxmusic.scattering._common import border_indices, parse_T, plan_padding

REF = os.path.join(os.path.dirname(__file__), "reference")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _config(path):
    cfg = json.loads(str(np.load(path)["config"]))
    if isinstance(cfg.get("Q"), list):
        cfg["Q"] = tuple(cfg["Q"])
    return cfg


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


# ------------------------------------------------------------------ references
@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REF, "scattering1d_*.npz"))),
                         ids=lambda p: os.path.basename(p)[:-4])
def test_matches_kymatio_reference(path, x64):
    ref = np.load(path)
    S = Scattering1D(**_config(path))
    y = np.asarray(S(jnp.asarray(ref["x"], jnp.float64)))
    assert y.dtype == np.float64
    assert y.shape == ref["y"].shape
    meta = S.meta()
    for order in np.unique(ref["meta_order"]):
        sel = ref["meta_order"] == order
        assert _rel(y[:, sel], ref["y"][:, sel]) <= 1e-4, f"order {order}"
    np.testing.assert_array_equal(meta["order"], ref["meta_order"])
    for key in ("xi", "sigma", "j", "n"):
        np.testing.assert_allclose(meta[key], ref[f"meta_{key}"], rtol=1e-12, equal_nan=True)


def test_float32_default_matches_reference():
    path = os.path.join(REF, "scattering1d_J8_Q12_1.npz")
    ref = np.load(path)
    y = Scattering1D(**_config(path))(jnp.asarray(ref["x"]))
    assert y.dtype == jnp.float32
    assert _rel(y, ref["y"]) <= 1e-4


# ----------------------------------------------- an independent NumPy oracle
def _oracle(x, J, Q, T, max_order, stride=None):
    """kymatio's recursion written plainly (full-length products, one path at a time)."""
    N_in = x.shape[-1]
    T_val, average = parse_T(T, J, N_in)
    N, pl, pr = plan_padding(N_in, T_val)
    bank = scattering_filter_bank(N, J, Q, T_val)
    log2_T = bank.log2_T
    log2_s = log2_T if stride is None else int(math.log2(stride))
    start, end = border_indices(12, pl, pl + N_in)
    u0 = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pl, pr)], mode="reflect")

    def sub(f, k):
        return f.reshape(f.shape[:-1] + (2**k, -1)).mean(-2)

    def lowpass(u, K):
        if average == "global":
            return u.sum(-1, keepdims=True)
        if average is None:
            return u[..., start[K]:end[K]]
        s = np.fft.ifft(sub(np.fft.fft(u) * bank.phi_level(K), log2_s - K)).real
        return s[..., start[log2_s]:end[log2_s]]

    out = {(): lowpass(u0, 0)}
    frontier = [((), u0, 0, -1)]
    for m in range(max_order):
        nxt = []
        for path, u, K, j_last in frontier:
            for n, psi in enumerate(bank.psis[m]):
                if psi.j <= j_last:
                    continue
                k = max((min(psi.j, log2_s) if average == "local" else psi.j) - K, 0)
                v = np.abs(np.fft.ifft(sub(np.fft.fft(u) * psi.level(K), k)))
                out[path + (n,)] = lowpass(v, K + k)
                nxt.append((path + (n,), v, K + k, psi.j))
        frontier = nxt
    return [out[p] for p in sorted(out, key=lambda p: (len(p), p))]


@pytest.mark.parametrize(
    "cfg",
    [
        dict(J=4, shape=300, Q=(2, 1, 1), max_order=3),
        dict(J=5, shape=777, Q=(3, 2), T=40, stride=8),
        dict(J=4, shape=512, Q=1, T="global"),
        dict(J=4, shape=256, Q=(2, 1), T=0),
        # the low-pass reaches round the whole padded signal (T near the padded length)
        dict(J=8, shape=512, Q=1),
        dict(J=5, shape=40, Q=(1, 1)),
        dict(J=7, shape=300, Q=4, T=128, stride=64),
    ],
    ids=["order3", "T40-stride8", "global", "no-averaging", "T256-N1024", "T32-N64", "T128-stride64"],
)
def test_matches_plain_recursion(cfg, x64):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, cfg["shape"])) + np.sin(0.2 * np.arange(cfg["shape"]))
    S = Scattering1D(**cfg)
    y = S(jnp.asarray(x))
    expected = _oracle(x, cfg["J"], S.Q, cfg.get("T"), cfg.get("max_order", 2), cfg.get("stride"))
    if cfg.get("T") == 0:
        assert isinstance(y, tuple) and len(y) == len(expected) == S.output_size()
        for a, b in zip(y, expected):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9 * np.abs(b).max())
    else:
        assert y.shape[-2] == len(expected) == S.output_size()
        np.testing.assert_allclose(y, np.stack(expected, -2), rtol=1e-7, atol=1e-9 * np.abs(y).max())


def test_order3_paths_follow_the_scale_rule():
    S = Scattering1D(J=5, shape=1024, Q=(4, 1, 1), max_order=3)
    meta = S.meta()
    assert set(np.unique(meta["order"])) == {0, 1, 2, 3}
    j = meta["j"]
    third = meta["order"] == 3
    assert np.all(j[third, 2] > j[third, 1]) and np.all(j[third, 1] > j[third, 0])
    assert S.output_size() == len(meta["key"])


# --------------------------------------------------------------- properties
def test_filters_zero_mean_and_littlewood_paley_bounded():
    bank = scattering_filter_bank(2**12, 8, (8, 1), 2**8)
    for psis in bank.psis:
        lp = sum(np.abs(w.filter_f) ** 2 for w in psis) + np.abs(bank.phi_f) ** 2
        assert all(abs(w.filter_f[0]) < 1e-12 for w in psis)  # zero-mean wavelets
        assert lp.max() <= 2.0  # the frame is stable (bounded above) ...
        band = (np.fft.fftfreq(2**12) > 2**-9) & (np.fft.fftfreq(2**12) < 0.35)
        assert lp[band].min() > 0.2  # ... and covers the band it claims


def test_shift_invariance_below_T():
    rng = np.random.default_rng(0)
    n = 2**13
    x = np.zeros(n)
    x[3000:3400] = rng.standard_normal(400) * np.hanning(400)
    S = Scattering1D(J=9, shape=n, Q=8)
    s0 = S(jnp.asarray(x, jnp.float32))
    small = _rel(S(jnp.asarray(np.roll(x, 4), jnp.float32)), np.asarray(s0))
    large = _rel(S(jnp.asarray(np.roll(x, 512), jnp.float32)), np.asarray(s0))
    assert small < 0.02 < large


def test_lipschitz_stability():
    rng = np.random.default_rng(0)
    n = 2**12
    S = Scattering1D(J=6, shape=n, Q=4)
    x = jnp.asarray(rng.standard_normal(n), jnp.float32)
    d = jnp.asarray(rng.standard_normal(n) * 1e-2, jnp.float32)
    # the stride-weighted coefficient distance is bounded by the signal distance
    stride = n / S(x).shape[-1]
    ratio = float(jnp.linalg.norm(S(x + d) - S(x)) * math.sqrt(stride) / jnp.linalg.norm(d))
    assert 0 < ratio <= 2.0


# ----------------------------------------------------------- transformations
@pytest.fixture(scope="module")
def small():
    S = Scattering1D(J=5, shape=1024, Q=(4, 2))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 1024)), jnp.float32)
    return S, x


def test_jit_equals_eager(small):
    S, x = small
    np.testing.assert_allclose(jax.jit(S)(x), S(x), rtol=1e-5, atol=1e-7)


def test_jit_with_transform_as_argument_compiles_once(small):
    S, x = small
    traces = []

    @jax.jit
    def f(S, x):
        traces.append(1)
        return S(x)

    f(S, x)
    f(Scattering1D(J=5, shape=1024, Q=(4, 2)), x + 1)  # equal configuration, new object
    assert len(traces) == 1


def test_vmap_equals_loop(small):
    S, x = small
    np.testing.assert_allclose(jax.vmap(S)(x), np.stack([S(xi) for xi in x]), rtol=1e-5, atol=1e-7)


def test_batch_axes_are_preserved(small):
    S, x = small
    y = S(x.reshape(3, 1, 1024))
    assert y.shape == (3, 1) + S(x[0]).shape


def test_grad_finite_at_zero(small):
    S, _ = small
    g = jax.grad(lambda x: jnp.sum(S(x)))(jnp.zeros(1024, jnp.float32))
    assert bool(jnp.all(jnp.isfinite(g)))


def test_check_grads(x64):
    S = Scattering1D(J=3, shape=64, Q=(2, 1))
    x = jnp.asarray(np.random.default_rng(2).standard_normal(64))
    check_grads(S, (x,), order=1, modes=("rev", "fwd"), eps=1e-5)


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(J=13, shape=4096), "J=13"),
        (dict(J=4, shape=4096, Q=0), "Q"),
        (dict(J=4, shape=4096, Q=(8, 0)), r"Q\[1\]"),
        (dict(J=4, shape=4096, T=5000), "T=5000"),
        (dict(J=4, shape=4096, T=0.5), "0.5"),
        (dict(J=4, shape=4096, T=-3), "-3"),
        (dict(J=4, shape=4096, T="local"), "local"),
        (dict(J=4, shape=4096, stride=3), "stride"),
        (dict(J=4, shape=4096, stride=32), "stride=32"),
        (dict(J=4, shape=4096, T=0, stride=2), "stride"),
        (dict(J=4, shape=4096, max_order=0), "max_order"),
        (dict(J=-1, shape=4096), "J"),
        (dict(J=2.5, shape=4096), "2.5"),
        (dict(J=4, shape=0), "shape"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Scattering1D(**kwargs)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros(1000, np.float32), "1024"),
        (np.zeros((2, 2048), np.float32), "1024"),
        (np.zeros(1024, np.int16), "int16"),
        (np.full(1024, np.nan, np.float32), "NaN"),
        (np.zeros(1024, np.complex64), "complex"),
        (np.float32(1.0), "shape"),
        ([0.0] * 1024, "array"),
    ],
)
def test_bad_signal(small, x, match):
    S, _ = small
    with pytest.raises(ParameterError, match=match):
        S(x if isinstance(x, list) else jnp.asarray(x) if np.ndim(x) else x)


def test_strict_dtype_promotion(small):
    S, x = small
    with jax.numpy_dtype_promotion("strict"):
        y = jax.jit(S)(x + 0)
    assert y.dtype == jnp.float32


def test_batches_in_chains_equal_one_batch():
    # on CPU a batch runs as independent chains of signals, and beyond one step
    # through lax.map with zero padding: every signal must come out as if alone
    from jaxmusic.scattering import time as time_module

    S = Scattering1D(J=4, shape=256, Q=(2, 1))
    x = jnp.asarray(np.random.default_rng(3).standard_normal((37, 256)), jnp.float32)
    y = jax.jit(S)(x)
    assert y.shape[0] == 37 > time_module.CPU_CHAIN * time_module.CPU_LANES
    # every row against its signal transformed alone (a batch of one is never chained)
    alone = np.stack([np.asarray(S(xi[None])[0]) for xi in x])
    np.testing.assert_allclose(y, alone, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y[-3:], jnp.stack([S(xi) for xi in x[-3:]]), rtol=1e-5, atol=1e-7)


def test_program_does_not_grow_with_the_batch(small):
    # on CPU a batch goes through lax.map in chains of CPU_CHAIN signals: the program
    # has the same operations at any batch (only sizes and the trip count differ),
    # and an eager call with new values of the same shape reuses the compiled one
    from jaxmusic.scattering.time import _apply_jit

    S, _ = small
    lines = [len(_apply_jit.lower(S, jnp.zeros((B, 1024), jnp.float32)).as_text().splitlines())
             for B in (3, 41)]
    assert lines[0] == lines[1]
    x = jnp.ones((3, 1024), jnp.float32)  # the fixture's shape: compiled once per session
    S(x)
    n = _apply_jit._cache_size()
    S(x + 1)
    Scattering1D(J=5, shape=1024, Q=(4, 2))(x * 2)
    assert _apply_jit._cache_size() == n
