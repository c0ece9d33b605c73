"""SpiralScattering: no Python reference exists, so these are properties.

* order 0/1 are Scattering1D's; meta and the joint layout are consistent;
* energy: ||Sx||**2 <= B ||x||**2 with B computed from the filters' Littlewood-Paley sums;
* invariance to shifts much smaller than T;
* the source-filter argument of Lostanlen & Mallat (DAFx 2015): transposing a harmonic
  source translates the coefficients along the spiral (an octave: one octave up, same
  chroma; a semitone: one bin, crossing octave boundaries on the helix); a gliding pitch
  (moving source, fixed filter) is seen by the chroma spins, a moving spectral envelope
  (fixed source, moving filter) by the octave spins;
* jit = eager, vmap = loop, chunks = one batch, check_grads, finite gradients at zero;
* bad input.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmusic import ParameterError, Scattering1D
from jaxmusic.filters.morlet import scattering_filter_bank
from jaxmusic.scattering._common import parse_T, plan_padding
from jaxmusic.scattering.spiral import SpiralScattering, chroma_filter_bank, octave_filter_bank

SMALL = dict(J=5, shape=2**12, Q=8)  # 3 octaves of 8 bins, 3 second-order time scales
TINY = dict(J=3, shape=64, Q=4)
NOTE = dict(J=10, shape=2**13, Q=12)  # T = 1024: long enough to see glides and moving envelopes


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def small():
    S = SpiralScattering(**SMALL)
    return S, jax.jit(S)


def _noise(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def harmonic_note(n, f0, fc=None, *, width=0.5, partials=8, ramp=512, tremolo=None):
    """Source-filter model: a flat comb of ``partials`` harmonics of ``f0`` (cycles per
    sample; a number or one value per sample) through a log-Gaussian spectral envelope
    centred at ``fc`` (``None``: flat), ``width`` octaves wide; linear fades of ``ramp``
    samples and an optional tremolo period (samples). Unit RMS."""
    t = np.arange(n)
    f0 = np.broadcast_to(np.asarray(f0, float), (n,))
    phase = 2 * np.pi * np.cumsum(f0)
    x = np.zeros(n)
    for p in range(1, partials + 1):
        f = p * f0
        gain = 1.0 if fc is None else np.exp(-np.log2(f / fc) ** 2 / (2 * width**2))
        x += gain * (f < 0.45) * np.cos(p * phase)
    x *= np.minimum(1.0, np.minimum(t, n - 1 - t) / ramp)
    if tremolo is not None:
        x *= 1.0 - 0.5 * np.cos(2 * np.pi * t / tremolo)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


# ------------------------------------------------------------- order 0/1 and layout
@pytest.mark.parametrize("T", [None, 16, "global"])
def test_orders_0_and_1_are_scattering1d(T):
    S = SpiralScattering(**SMALL, T=T)
    S1 = Scattering1D(J=SMALL["J"], shape=SMALL["shape"], Q=(SMALL["Q"], 1), T=T)
    x = _noise((2, SMALL["shape"]))
    y, ref = np.asarray(jax.jit(S)(x)), np.asarray(jax.jit(S1)(x))
    n01 = 1 + len(S1.meta()["order"][S1.meta()["order"] == 1])
    np.testing.assert_allclose(y[:, :n01], ref[:, :n01], rtol=1e-6, atol=1e-7 * np.abs(ref).max())
    m, m1 = S.meta(), S1.meta()
    np.testing.assert_array_equal(m["order"][:n01], m1["order"][:n01])
    for key in ("xi", "sigma", "j", "n"):
        np.testing.assert_array_equal(m[key][:n01, 0], m1[key][:n01, 0])
    assert y.shape == (2, S.output_size(), ref.shape[-1])


def test_meta_names_every_path(small):
    S, _ = small
    m, plan = S.meta(), S._plan
    Q, L = SMALL["Q"], S.n_octaves * SMALL["Q"]
    n = S.output_size()
    for key, value in m.items():
        assert len(value) == n, key
    assert len(set(m["key"])) == n
    o1, o2 = m["order"] == 1, m["order"] == 2
    # the lattice: gamma = Q * octave + chroma; Q bins per octave, xi doubles per octave
    on = np.isfinite(m["gamma"])
    np.testing.assert_array_equal(m["gamma"][on], Q * m["octave"][on] + m["chroma"][on])
    xi_top = m["xi"][1, 0]
    np.testing.assert_allclose(m["xi"][on, 0], xi_top * 2.0 ** ((m["gamma"][on] - (L - 1)) / Q), rtol=1e-9)
    # order 1: the constant-Q bins are on the spiral, the Q - 1 tail bins are not
    assert np.sum(o1 & on) == plan.n_geo == np.sum(o1) - (Q - 1)
    assert S.n_padding == L - plan.n_geo and 0 <= S.n_padding < Q
    # order 2: every (time wavelet, chroma filter, octave filter) at every bin where j2 > j1
    assert np.all(on[o2])
    real_bin = o2 & (m["n"][:, 0] >= 0)
    assert np.all(m["j"][real_bin, 1] > m["j"][real_bin, 0])
    assert set(np.unique(m["chroma_spin"][o2])) == {-1, 0, 1}
    assert set(np.unique(m["octave_spin"][o2])) == {-1, 0, 1}
    n_c = 1 + 2 * len(plan.chroma)
    for n2 in np.unique(m["n"][o2, 1]):
        sel = o2 & (m["n"][:, 1] == n2)
        bins = np.unique(m["gamma"][sel])
        np.testing.assert_array_equal(bins, np.arange(bins[0], L))  # a top block of the lattice
        assert sel.sum() == n_c * 3 * bins.size
        for spin in (-1, 0, 1):
            assert np.sum(sel & (m["octave_spin"] == spin)) == n_c * bins.size
    # the spins of one wavelet share its scale and centre frequency
    up, down = o2 & (m["chroma_spin"] == 1), o2 & (m["chroma_spin"] == -1)
    np.testing.assert_array_equal(m["chroma_xi"][up], m["chroma_xi"][down])
    np.testing.assert_array_equal(m["chroma_j"][up], m["chroma_j"][down])
    np.testing.assert_allclose(m["chroma_xi"][up], 0.35 * 2.0 ** -m["chroma_j"][up])
    assert set(np.unique(m["chroma_j"][up])) == set(range(plan.J_chroma + 1))
    assert np.all(m["chroma_xi"][o2 & (m["chroma_spin"] == 0)] == 0)
    assert np.all(m["octave_xi"][o2 & (m["octave_spin"] != 0)] == pytest.approx(1 / 3))
    assert np.all(np.isnan(m["chroma_spin"][~o2])) and np.all(np.isnan(m["octave_spin"][~o2]))


def test_joint_layout_holds_the_same_numbers(small):
    S, f = small
    x = _noise((2, SMALL["shape"]))
    flat = np.asarray(f(x))
    joint = jax.jit(SpiralScattering(**SMALL, format="joint"))(x)
    m = S.meta()
    # two compiled programs: equal up to float32 round-off
    close = dict(rtol=1e-6, atol=1e-6 * np.abs(flat).max())
    np.testing.assert_allclose(np.asarray(joint["order0"])[:, 0], flat[:, 0], **close)
    np.testing.assert_allclose(np.asarray(joint["order1"]), flat[:, m["order"] == 1], **close)
    o2 = np.asarray(joint["order2"])  # (B, n_j2, n_chroma, 3, n_oct, Q, frames)
    plan = S._plan
    assert o2.shape[1:6] == (len(plan.order2), plan.n_chroma, 3, S.n_octaves, SMALL["Q"])
    filled = np.zeros(o2.shape[1:6], bool)
    n2_index = {o.n2: i for i, o in enumerate(plan.order2)}
    for i in np.nonzero(m["order"] == 2)[0]:
        n2, c, o, g = m["key"][i]
        r, chroma = divmod(g, SMALL["Q"])
        np.testing.assert_allclose(o2[:, n2_index[n2], c, o, r, chroma], flat[:, i], **close)
        filled[n2_index[n2], c, o, r, chroma] = True
    assert np.all(o2[:, ~filled] == 0)


# ------------------------------------------------------------------ properties
def _lp_real(filters_f, phi_f=None):
    """max over frequency of the Littlewood-Paley sum seen by real signals."""
    s = sum(np.abs(f) ** 2 + np.abs(np.roll(f[::-1], 1)) ** 2 for f in filters_f) / 2
    if phi_f is not None:
        s = s + np.abs(phi_f) ** 2
    return float(np.max(s))


def test_non_expansive_up_to_littlewood_paley_bound(small):
    S, f = small
    J, n, Q = SMALL["J"], SMALL["shape"], SMALL["Q"]
    T, _ = parse_T(None, J, n)
    N, pad_left, pad_right = plan_padding(n, T)
    bank = scattering_filter_bank(N, J, (Q, 1), T)
    lp1 = _lp_real([w.filter_f for w in bank.psis[0]], bank.phi_f)
    lp2 = _lp_real([w.filter_f for w in bank.psis[1]], bank.phi_f)
    low, wav, _ = chroma_filter_bank(S._plan.J_chroma, S._plan.L)
    W = np.fft.fft(wav, axis=-1)
    lp_chroma = float(np.max(np.abs(np.fft.fft(low)) ** 2 + (np.abs(W) ** 2).sum(0)
                             + (np.abs(np.roll(W[:, ::-1], 1, axis=-1)) ** 2).sum(0)))
    G = np.fft.fft(np.roll(np.pad(octave_filter_bank(), ((0, 0), (0, 61))), -1, axis=-1), axis=-1)
    np.testing.assert_allclose((np.abs(G) ** 2).sum(0), 1.0, rtol=1e-12)  # a tight frame
    bound = lp1 * max(1.0, lp2 * max(1.0, lp_chroma))
    assert bound < 1.3  # the statement is not vacuous
    xs = jnp.stack([
        _noise(n, seed=1),
        jnp.asarray(harmonic_note(n, 0.02, 0.08, partials=12, ramp=64, tremolo=300)),
        jnp.asarray(harmonic_note(n, 0.005 * 2 ** (3 * np.arange(n) / n), 0.05, partials=20, ramp=64)),
    ])
    Sx = np.asarray(f(xs), np.float64)
    stride = 2**J
    padded = np.pad(np.asarray(xs, np.float64), ((0, 0), (pad_left, pad_right)), mode="reflect")
    ratio = stride * (Sx**2).sum(axis=(1, 2)) / (padded**2).sum(axis=1)
    assert np.all(ratio <= bound * (1 + 1e-3)), (ratio, bound)
    assert np.all(ratio > 0.1)
    # the spiral order alone is bounded by its share of the first-order energy
    o2 = S.meta()["order"] == 2
    assert np.all(stride * (Sx[:, o2] ** 2).sum(axis=(1, 2)) <= bound * (padded**2).sum(axis=1))


def test_invariant_to_shifts_much_smaller_than_T(small):
    S, f = small
    n, T = SMALL["shape"], 2 ** SMALL["J"]
    x = np.zeros(n, np.float32)
    x[512:-512] = harmonic_note(n - 1024, 0.03, 0.1, partials=6, ramp=128, tremolo=150)
    shifts = (0, 1, 2, T // 2, 2 * T)
    ys = np.asarray(f(jnp.stack([jnp.asarray(np.roll(x, s)) for s in shifts])))
    o2 = S.meta()["order"] == 2
    rel = [np.linalg.norm(y[o2] - ys[0][o2]) / np.linalg.norm(ys[0][o2]) for y in ys[1:]]
    rel_all = [np.linalg.norm(y - ys[0]) / np.linalg.norm(ys[0]) for y in ys[1:]]
    # relative change of the spiral order: ~0.002 for one sample, ~0.03 for T / 2, ~0.1 for 2 T
    assert rel[0] < 0.01 and rel[1] < 0.02 and rel_all[0] < 0.01, rel
    assert rel[2] > 5 * rel[0] and rel[3] > 2 * rel[2] and rel[3] > 0.05, rel  # T-scale shifts are seen


# ---------------------------------------------- the source-filter argument (DAFx 2015)
@pytest.fixture(scope="module")
def notes():
    n = NOTE["shape"]
    u = np.arange(n) / n
    sig = {
        # moving source, fixed filter: a pitch glide of two octaves up / down
        "glide_up": harmonic_note(n, 0.01 * 2 ** (2 * u), 0.04, width=1.5),
        "glide_down": harmonic_note(n, 0.04 * 2 ** (-2 * u), 0.04, width=1.5),
        # fixed source, moving filter: a spectral envelope moving three octaves up / down
        "env_up": harmonic_note(n, 0.004, 0.006 * 2 ** (3 * u), partials=16),
        "env_down": harmonic_note(n, 0.004, 0.048 * 2 ** (-3 * u), partials=16),
        # a stationary source (flat filter) and its transpositions by an octave and a semitone
        # (modulations slow next to the wavelets: an octave lower, a wavelet lasts twice as
        # long, so fast ones would be smoothed differently and break the translation)
        "note": harmonic_note(n, 0.02, partials=6, ramp=1024, tremolo=4096),
        "octave_up": harmonic_note(n, 0.04, partials=6, ramp=1024, tremolo=4096),
        "semitone_up": harmonic_note(n, 0.02 * 2 ** (1 / 12), partials=6, ramp=1024, tremolo=4096),
    }
    S = SpiralScattering(**NOTE)
    Y = np.asarray(jax.jit(S)(jnp.stack([jnp.asarray(v) for v in sig.values()])))
    m, plan = S.meta(), S._plan
    # the spiral paths on the lattice: (signal, n2 group, chroma filter, octave filter, gamma, frames)
    idx = {o.n2: i for i, o in enumerate(plan.order2)}
    lattice = np.zeros((len(sig), len(plan.order2), plan.n_chroma, 3, plan.L, Y.shape[-1]))
    for i in np.nonzero(m["order"] == 2)[0]:
        n2, c, o, g = m["key"][i]
        lattice[:, idx[n2], c, o, g] = Y[:, i]
    return {k: Y[i] for i, k in enumerate(sig)}, lattice, m, plan, list(sig)


def _spin_ratios(Y, m, min_j2):
    """(chroma spin +1 / -1 energy with the octave low-pass, octave spin +1 / -1 energy
    with the chroma low-pass), over second-order paths with j2 >= min_j2."""
    o2 = (m["order"] == 2) & (m["j"][:, 1] >= min_j2)
    cw = o2 & (m["octave_spin"] == 0)
    cl = o2 & (m["chroma_spin"] == 0)

    def e(sel):
        return float((Y[sel] ** 2).sum())

    rc = e(cw & (m["chroma_spin"] == 1)) / e(cw & (m["chroma_spin"] == -1))
    ro = e(cl & (m["octave_spin"] == 1)) / e(cl & (m["octave_spin"] == -1))
    return rc, ro


def test_pitch_glide_is_seen_by_the_chroma_spins(notes):
    """Moving source, fixed filter: the harmonic comb slides along log-frequency, so the
    spiral wavelets along chroma (the partials' scale) pick its direction; the octave
    spins, which see the coarse (envelope) structure, are much less affected."""
    Y, _, m, _, _ = notes
    rc_up, ro_up = _spin_ratios(Y["glide_up"], m, 0)
    rc_down, ro_down = _spin_ratios(Y["glide_down"], m, 0)
    assert rc_up > 4 and rc_down < 1 / 4, (rc_up, rc_down)
    assert abs(math.log(ro_up)) < 0.3 * abs(math.log(rc_up)), (rc_up, ro_up)
    assert abs(math.log(ro_down)) < 0.3 * abs(math.log(rc_down)), (rc_down, ro_down)


def test_moving_spectral_envelope_is_seen_by_the_octave_spins(notes):
    """Fixed source, moving filter: the partials stay put while the envelope (smooth over
    octaves) moves; the octave spins (with the chroma low-pass) pick its direction at the
    slow time scales, the chroma spins stay balanced."""
    Y, _, m, _, _ = notes
    min_j2 = NOTE["J"] - 3
    rc_up, ro_up = _spin_ratios(Y["env_up"], m, min_j2)
    rc_down, ro_down = _spin_ratios(Y["env_down"], m, min_j2)
    assert ro_up > 1.8 and ro_down < 1 / 1.8, (ro_up, ro_down)
    assert abs(math.log(rc_up)) < 0.3 * abs(math.log(ro_up)), (rc_up, ro_up)
    assert abs(math.log(rc_down)) < 0.3 * abs(math.log(ro_down)), (rc_down, ro_down)


@pytest.mark.parametrize("name, shift", [("octave_up", NOTE["Q"]), ("semitone_up", 1)])
def test_transposition_translates_along_the_spiral(notes, name, shift):
    """Transposed source, fixed (flat) filter: the constant-Q scalogram translates by
    ``shift`` bins, so spiral coefficients move to ``gamma + shift``: an octave is one step
    up the octave axis at the same chroma; a semitone is one chroma bin, and the chroma
    filters carry it across octave boundaries (the helix, not a circle per octave)."""
    _, o2, m, plan, names = notes
    base, moved = o2[names.index("note")], o2[names.index(name)]
    # (n_j2, n_chroma, 3, L, frames), at the slow time scales (tremolo, fades), where the
    # paths exist at every bin the notes and the filters reach
    full = [i for i, o in enumerate(plan.order2) if o.j2 >= NOTE["J"] - 3]
    L = plan.L
    lo = max(plan.order2[i].o0 for i in full)
    hi = L - shift - 1

    def moved_by(k):
        return moved[full][:, :, :, lo + k : hi + k]

    a = base[full][:, :, :, lo:hi]
    err = np.linalg.norm(a - moved_by(shift)) / np.linalg.norm(a)
    assert err < 0.05, err
    for wrong in (shift - 1, shift + 1):  # the translation is by exactly `shift` bins
        assert np.linalg.norm(a - moved_by(wrong)) / np.linalg.norm(a) > 5 * err
    if shift == NOTE["Q"]:
        # first order too: the transposed scalogram is the original one octave up
        m1 = (m["order"] == 1) & np.isfinite(m["gamma"])
        Y, _, _, _, _ = notes
        g = m["gamma"][m1].astype(int)
        s1 = dict(zip(g, Y["note"][m1]))
        t1 = dict(zip(g, Y[name][m1]))
        common = [k for k in s1 if k + shift in t1 and k >= lo]
        A = np.stack([s1[k] for k in common])
        B = np.stack([t1[k + shift] for k in common])
        assert np.linalg.norm(A - B) / np.linalg.norm(A) < 0.1


# ---------------------------------------------------------------- transformations
def test_pytree_round_trip_and_keyword_only_options(small):
    S, _ = small
    leaves, treedef = jax.tree_util.tree_flatten(S)
    assert leaves and all(isinstance(leaf, jax.Array) for leaf in leaves)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is SpiralScattering and jax.tree_util.tree_structure(rebuilt) == treedef
    with pytest.raises(TypeError):
        SpiralScattering(5, 4096, 8, None, 1)  # J_chroma (and later options) are keyword-only
    assert SpiralScattering(5, 4096, 8, 32).T == 32  # J, shape, Q, T positional as in kymatio


def test_grad_finite_at_zero(small):
    S, _ = small
    g = jax.jit(jax.grad(lambda x: S(x).sum()))(jnp.zeros(SMALL["shape"], jnp.float32))
    assert np.all(np.isfinite(np.asarray(g)))


def test_check_grads(x64):
    S = SpiralScattering(**TINY)
    x = jnp.asarray(harmonic_note(TINY["shape"], 0.1, partials=3, ramp=8), jnp.float64)
    x = x + 0.1 * jnp.asarray(np.random.default_rng(3).standard_normal(TINY["shape"]))
    f = jax.jit(lambda x: S(x)[..., 1:, :])
    assert S(x).dtype == jnp.float64
    check_grads(f, (x,), order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


def test_jit_equals_eager():
    S = SpiralScattering(**TINY)
    x = _noise(TINY["shape"], seed=4)
    np.testing.assert_allclose(np.asarray(S(x)), np.asarray(jax.jit(S)(x)), rtol=1e-5, atol=1e-6)
    # S travels through jit as a pytree
    y = jax.jit(lambda S, x: S(x))(S, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(jax.jit(S)(x)), rtol=1e-6, atol=1e-7)


def test_vmap_equals_loop_and_chunks_equal_one_batch():
    S = SpiralScattering(**TINY)
    f = jax.jit(S)
    xs = _noise((3, TINY["shape"]), seed=5)
    loop = np.stack([np.asarray(f(x)) for x in xs])
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(S))(xs)), loop, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(f(xs)), loop, rtol=1e-5, atol=1e-6)
    chunked = jax.jit(SpiralScattering(**TINY, chunk_size=2))(xs)  # lax.map over 1 chunk + rest
    np.testing.assert_allclose(np.asarray(chunked), loop, rtol=1e-5, atol=1e-6)
    y = f(xs[:2].reshape(2, 1, TINY["shape"]))
    assert y.shape == (2, 1, S.output_size(), TINY["shape"] // 2 ** TINY["J"])


def test_strict_dtype_promotion(small):
    S, _ = small
    with jax.numpy_dtype_promotion("strict"):
        y = jax.jit(S)(_noise(SMALL["shape"], seed=6))
    assert y.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(y)))


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(J=5, shape=4096, Q=12.5), r"integer number of bins per octave.*12\.5"),
        (dict(J=5, shape=4096, Q=12.0), r"integer number of bins per octave.*12\.0"),
        (dict(J=5, shape=4096, Q="12"), r"integer number of bins per octave.*'12'"),
        (dict(J=5, shape=4096, Q=(12, 1.5)), r"Q\[1\].*1\.5"),
        (dict(J=5, shape=4096, Q=(12, 1, 1)), r"\(12, 1, 1\)"),
        (dict(J=5, shape=4096, Q=0), r"Q\[0\].*0"),
        (dict(J=13, shape=4096, Q=8), r"J=13.*shape=4096"),
        (dict(J=-1, shape=4096, Q=8), r"J.*-1"),
        (dict(J=5, shape=1, Q=8), r"shape.*1"),
        (dict(J=2, shape=4096, Q=12), r"J=2 and Q=12.*no constant-Q"),
        (dict(J=5, shape=4096, Q=8, J_chroma=4), r"J_chroma=4.*Q=8"),
        (dict(J=5, shape=4096, Q=8, T=0), r"T=0"),
        (dict(J=5, shape=4096, Q=8, T=5000), r"T=5000.*4096"),
        (dict(J=5, shape=4096, Q=8, format="spiral"), r"format.*'spiral'"),
        (dict(J=5, shape=4096, Q=8, chunk_size=0), r"chunk_size.*0"),
        (dict(J=5, shape=4096, Q=8, F=0), r"F.*0"),
        (dict(J=5, shape=4096, Q=8, F=1.5), r"F must be.*1\.5"),
        (dict(J=5, shape=4096, Q=8, F="octave"), r"F must be.*'octave'"),
        (dict(J=5, shape=4096, Q=8, F=25), r"F=25 exceeds the 24 bins"),
        (dict(J=5, shape=4096, Q=12, F=8, format="joint"), r"F=8.*8 bins.*Q=12"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        SpiralScattering(**kwargs)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros(100, np.float32), r"4096 samples.*\(100,\)"),
        (np.zeros((2, 4095), np.float32), r"4096 samples.*\(2, 4095\)"),
        (np.zeros(4096, np.int16), r"int16"),
        (np.zeros(4096, np.complex64), r"complex64"),
        (np.full(4096, np.nan, np.float32), r"4096 NaN"),
        ([0.0] * 4096, r"list"),
    ],
)
def test_bad_signals(small, x, match):
    S, _ = small
    with pytest.raises(ParameterError, match=match):
        S(x if isinstance(x, list) else jnp.asarray(x) if x.dtype != np.int16 else x)


# ------------------------------------------------- regression against today's numbers
# tests/reference/spiral_regression.npz holds SpiralScattering's own outputs as computed at
# commit f58b507, before its Speed II rewrite: a regression reference of this code (no other
# library has spiral scattering), float32, on fixed signals stored with them.
REGRESSION = "tests/reference/spiral_regression.npz"


def _regression():
    import json
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), REGRESSION)
    ref = np.load(path)
    return {k: ref[k] for k in ref.files}, json


def _assert_regression(y, ref):
    # rtol 1e-5, plus an absolute floor of float32 round-off relative to the largest coefficient
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("name", ["tiny_Q4x2_T2", "tiny_Q4_global"])
def test_regression_small_configurations(name):
    ref, json = _regression()
    cfg = json.loads(str(ref[f"{name}_config"]))
    cfg["Q"] = tuple(cfg["Q"]) if isinstance(cfg["Q"], list) else cfg["Q"]
    y = jax.jit(SpiralScattering(**cfg))(jnp.asarray(ref[f"{name}_x"]))
    _assert_regression(np.asarray(y), ref[f"{name}_y"])


def test_regression_note(notes):
    """J=10, Q=12 (the benchmark's resolution) on the `notes` fixture's glide."""
    ref, json = _regression()
    assert json.loads(str(ref["note_glide_up_config"])) == NOTE
    Y, _, _, _, names = notes
    n = NOTE["shape"]
    x = harmonic_note(n, 0.01 * 2 ** (2 * np.arange(n) / n), 0.04, width=1.5)
    np.testing.assert_array_equal(x, ref["note_glide_up_x"])  # the fixture's signal is unchanged
    _assert_regression(Y["glide_up"], ref["note_glide_up_y"])


# ------------------------------------------------------ averaging along log-frequency (F)
def _spiral_lattice(S, y):
    """Order-2 rows of ``y`` (B, n_paths, frames) on the lattice: {(n2, c, o): (B, L, frames)},
    zero where a path does not exist."""
    m, L = S.meta(), S._plan.L
    out = {}
    for i in np.nonzero(m["order"] == 2)[0]:
        n2, c, o, g = m["key"][i]
        out.setdefault((n2, c, o), np.zeros((y.shape[0], L, y.shape[-1])))[:, g] = y[:, i]
    return out


@pytest.mark.parametrize("name, F", [("tiny_Q4x2_T2", 2), ("tiny_Q4_global", "global")])
def test_F_is_lowpass_then_subsample_along_log_frequency(name, F):
    """With ``F``, each spiral row (n2, chroma filter, octave filter) is the unaveraged
    one (today's output, from the regression reference) low-passed along the lattice
    (zero where paths do not exist) by a unit-sum Gaussian of width ``F`` bins and
    sampled every ``2**floor(log2 F)`` bins; ``"global"`` sums it. Orders 0 and 1 are
    unchanged, and local averaging does not add energy."""
    from jaxmusic.filters.morlet import SIGMA0, gauss_1d

    ref, json = _regression()
    cfg = json.loads(str(ref[f"{name}_config"]))
    cfg["Q"] = tuple(cfg["Q"]) if isinstance(cfg["Q"], list) else cfg["Q"]
    S0, S = SpiralScattering(**cfg), SpiralScattering(**cfg, F=F)
    y0 = ref[f"{name}_y"]
    y = np.asarray(jax.jit(S)(jnp.asarray(ref[f"{name}_x"])))
    m, m0 = S.meta(), S0.meta()
    assert y.shape == (2, S.output_size(), y0.shape[-1]) and len(m["key"]) == y.shape[1]
    n01 = int(np.sum(m0["order"] < 2))
    np.testing.assert_array_equal(m["order"][:n01], m0["order"][:n01])
    _assert_regression(y[:, :n01], y0[:, :n01])
    L, stride = S._plan.L, 1 if F == "global" else 2
    lattice = _spiral_lattice(S0, y0)
    o2 = np.nonzero(m["order"] == 2)[0]
    if F == "global":
        assert len(o2) == len(lattice) and np.all(np.isnan(m["gamma"][o2]))
        expected = np.stack([lattice[m["key"][i]].sum(axis=1) for i in o2], axis=1)
    else:
        g = m["gamma"][o2].astype(int)
        assert np.all(g % stride == 0)
        Nd = 256
        h = np.fft.ifft(gauss_1d(Nd, SIGMA0 / F)).real
        assert h.sum() == pytest.approx(1.0) and h[1] == pytest.approx(h[-1])
        W = h[(np.arange(L)[:, None] - np.arange(L)[None, :]) % Nd]  # (out gamma, in gamma)
        expected = np.stack([W[gi] @ lattice[m["key"][i][:3]] for i, gi in zip(o2, g)], axis=1)
        # every lattice position within reach of the group's rows is kept
        for key, rows in lattice.items():
            lo = np.nonzero(np.abs(rows).sum(axis=(0, 2)))[0].min()
            kept = sorted(gi for i, gi in zip(o2, g) if m["key"][i][:3] == key)
            assert kept == list(range((lo // stride) * stride, L, stride))
    np.testing.assert_allclose(y[:, o2], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    if F != "global":  # a unit-sum low-pass, then a subsampling: no energy added
        assert (y[:, o2] ** 2).sum() <= (y0[:, m0["order"] == 2] ** 2).sum()
    # the joint layout: the lattice sampled every `stride` bins
    joint = jax.eval_shape(SpiralScattering(**cfg, F=F, format="joint"), jnp.zeros((2, cfg["shape"])))
    n_oct, q = (S.n_octaves, cfg["Q"][0] // stride) if F != "global" else (1, 1)
    assert joint["order2"].shape == (2, len(S._plan.order2), S._plan.n_chroma, 3, n_oct, q, y.shape[-1])
