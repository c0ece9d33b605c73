r"""Spiral scattering (Lostanlen & Mallat, "Wavelet scattering on the pitch spiral", DAFx 2015).

The first-order scalogram :math:`U_1 x(t, \gamma) = |x \star \psi_\gamma|(t)` is indexed
by log-frequency :math:`\gamma`. On the constant-Q part of the bank (``Q`` bins per
octave) we write :math:`\gamma = Q r + \chi`: octave :math:`r` and chroma
:math:`\chi \in \{0, \dots, Q-1\}`, so that bins one octave apart share a chroma and
the log-frequency axis is rolled up into Shepard's pitch spiral. Spiral scattering is

.. math::

    S_0 x(t) = x \star \phi_T(t), \qquad
    S_1 x(t, \gamma) = U_1 x \star \phi_T(t, \gamma) \quad\text{(as Scattering1D)},

    S_2 x(t, \gamma, j_2, c, o)
        = \Big| U_1 x \overset{t}{\star} \psi_{j_2}
                    \overset{\gamma}{\star} h_c
                    \overset{r}{\star} g_o \Big| \star \phi_T(t),

a separable three-dimensional wavelet
:math:`\Psi(t, \chi, r) = \psi_{j_2}(t)\, h_c(\chi)\, g_o(r)` applied on the spiral, a
modulus and a temporal low-pass (the paper's spiral wavelet transform, Sec. 3).

Design choices
--------------
* **Order 0 and 1** are Scattering1D's, number for number (same ``J, Q, T``).
* **The spiral** holds the geometric (constant-Q) part of Andén's bank only: its
  arithmetic low-frequency tail (``Q - 1`` wavelets of constant bandwidth below the
  elbow) is not log-spaced, so it has no place on the spiral; it stays in order 1 and
  has no second order.
* **Lattice and padding.** The ``n_geo`` constant-Q bins fill
  ``n_oct = ceil(n_geo / Q)`` octaves counted from the top: chroma ``Q - 1`` of the top
  octave is the highest wavelet (``xi_max``); the incomplete bottom octave is padded
  with ``Q * n_oct - n_geo`` zero bins (lattice positions ``gamma < n_pad``), and the
  octave axis is zero-padded beyond its ends (octaves ``-1`` and ``n_oct``). ``meta()``
  gives each lattice position its (extrapolated, for the padding) centre frequency.
* **Chroma** filters ``h_c`` act along log-frequency *on the spiral*: chroma ``Q - 1``
  of octave ``r`` is followed by chroma ``0`` of octave ``r + 1`` (a semitone higher for
  ``Q = 12``), not by chroma ``0`` of octave ``r`` as a circular convolution would have
  it. The filters are a Gaussian low-pass of width ``2**J_chroma`` bins and Morlet
  wavelets of Andén's bank ``(J_chroma, Q=1)`` in both spins, built with kymatio's
  recipe (`jaxmusic.filters.morlet.morlet_1d`). The default ``J_chroma =
  round(log2(Q / 3))`` makes the low-pass average about half an octave and the widest
  wavelet span about one octave: chroma wavelets see the harmonic partials, not the
  octave structure, which is the octave filters' job. Like kymatio's frequential
  filters they have unit-L1 impulse responses; their Littlewood-Paley sum (both spins
  and the low-pass) peaks at 1.01, 1.21, 1.24 for ``J_chroma = 0, 1, 2``, which bounds
  the energy the spiral order can add to that of ``U_1 x \star \psi_{j_2}``.
* **Octave** filters ``g_o`` are the three-point Fourier family on three consecutive
  octaves, ``g_o(b) = exp(-2i pi s_o b / 3) / 3`` for ``b in {-1, 0, 1}`` and spins
  ``s_o in {0, +1, -1}``: a low-pass (the mean over three octaves) and two spun
  wavelets at 1/3 cycle per octave. With only ``n_oct`` (typically 5 to 8) octaves a
  wavelet along octaves can only span a few of them; this is the smallest family with
  a spin, it has compact support and it is a tight frame (its Littlewood-Paley sum is
  exactly 1), so it adds no energy.
* **Spins** count motion upward in log-frequency over time: spin +1 responds to a
  pattern :math:`f(\gamma - v t)` with :math:`v > 0` (a rising glide for the chroma
  filters, a rising spectral envelope for the octave filters). With analytic time
  wavelets, spin +1 filters have their spectrum at negative frequencies along
  :math:`\gamma` (or ``r``).
* **Time wavelets** are Scattering1D's second-order bank (``Q[1]``, default 1). As in
  kymatio, :math:`U_1 x(\cdot, \gamma) \star \psi_{j_2}` is taken as zero when
  :math:`j_2 \le j_1(\gamma)` (the envelope of a wavelet of scale :math:`2^{j_1}`
  does not oscillate faster than that); a spiral path exists at the lattice positions
  where :math:`j_2 > j_1(\gamma)` (the padding counts as the lowest bin). All rows of a
  path share the resolution ``min(j2, log2 T)``, so the spiral filters are small
  matrices along :math:`\gamma` applied to the time-frequency array at once.

Source-filter reading (the paper's Sec. 4). For a harmonic source :math:`e` of pitch
:math:`\theta` through a filter :math:`h`, the scalogram factorises on the spiral as
:math:`U_1 x(t, \gamma) \approx a(t)\, E(\gamma - \log_2\theta)\, |\hat h|(2^\gamma)`:
the source comb moves as a whole with the pitch (fine structure, along chroma), the
spectral envelope is smooth in :math:`\gamma` (coarse structure, across octaves).
Transposing the source by an octave moves the comb by one octave step; a rising pitch
:math:`\theta(t)` gives spin +1 energy to the chroma wavelets, a rising envelope gives
spin +1 energy to the octave wavelets with the chroma low-pass.

Averaging along log-frequency (``F``, off by default). Like joint scattering's ``F``,
``F`` bins of Gaussian low-pass :math:`\phi_F` (unit sum, kymatio's recipe) act along
:math:`\gamma` on each spiral row :math:`S_2 x(\cdot, \gamma, j_2, c, o)` after the time
average (zero where a path does not exist, as in ``format="joint"``), sampled every
``2**floor(log2 F)`` bins at the multiples of that stride within reach of the row's
paths; ``F="global"`` sums the row over :math:`\gamma`. Orders 0 and 1 are unchanged.
``F = Q`` keeps one row in ``2**floor(log2 Q)`` (one per octave for ``Q`` a power of two).

How it is computed
------------------
Order 0/1 reuse Scattering1D's plan (filters folded on the period grid, one real FFT per
modulus). For each time wavelet ``psi_j2``, the first-order spectra of the active bins
are folded to the resolution ``min(j2, log2 T)`` and brought to time by one inverse FFT
per *input* row: the chroma and octave filters act along ``gamma`` and commute with it,
so they are applied to the time samples -- one real GEMM gives the chroma low-pass and
the real and imaginary parts of the spin +1 wavelets (``h_- = conj(h_+)`` gives spin -1
from the same products) at each output row and one octave below and above it (the
octave filters' three taps), then sums and the modulus. The temporal low-pass is a
strided convolution (a GEMM of blocks of ``2**(log2 T - K2)`` samples with the
low-pass taps, then a banded sum) on the samples within reach of the kept frames only.
On CPU (the one backend switch, `_tile_bytes`) the stage after the inverse FFT runs in
tiles of blocks and signals whose intermediates stay in cache (``jax.lax.map``).
Batches are processed in chunks (``jax.lax.map``) so that the largest intermediate stays
near ``CHUNK_BYTES``. The only departures from the plain computation are the neglected
filter tails (``SUPPORT_TOL`` of their peak or L1 mass), far below float32 precision.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_choice, check_int, check_output, check_signal, upcast
from .._pytree import pytree_dataclass, static_field
from ..filters.morlet import (
    ALPHA,
    R_PSI,
    SIGMA0,
    anden_generator,
    gauss_1d,
    morlet_1d,
    scattering_filter_bank,
)
from ._common import parse_T
from ._common import SUPPORT_TOL, empty_batch, support_blocks
from .time import _scale, gather_paths, scatter_orders
from .time import _build as _build_time

__all__ = ["SpiralScattering", "chroma_filter_bank", "octave_filter_bank", "CHUNK_BYTES"]

#: Default memory target (bytes) of the intermediates of one chunk of signals.
CHUNK_BYTES = 1 << 30

#: On CPU, working set (bytes) of one tile of time samples of the spiral order (see
#: `_tile_bytes`); groups whose whole working set is below ``UNTILED_BYTES`` (a few
#: times the cache) run in one pass, which also compiles faster.
TILE_BYTES = 2 << 20
UNTILED_BYTES = 16 << 20

#: Samples per GEMM group of the strided temporal low-pass (see `_strided_conv`).
GROUP_SAMPLES = 256

_SQRT3_2 = math.sqrt(3.0) / 2.0


# ------------------------------------------------------------------ filters
def octave_filter_bank() -> np.ndarray:
    """The three octave filters ``g_o(b)`` for ``b = -1, 0, 1`` (rows: spin 0, +1, -1).

    ``g_o(b) = exp(-2i pi s_o b / 3) / 3``: the three-point discrete Fourier family,
    a tight frame on the octave axis (``sum_o |g_o^(nu)|**2 = 1`` at every frequency).
    """
    b = np.array([-1, 0, 1])
    return np.stack([np.exp(-2j * np.pi * s * b / 3) / 3 for s in (0, 1, -1)])


def chroma_filter_bank(J_chroma: int, n_taps: int):
    """Chroma filters along log-frequency: a low-pass and the spin +1 wavelets.

    Built in the Fourier domain on ``Nd >= 4 * n_taps`` points with kymatio's Morlet
    recipe, then read as impulse responses ``h[d]`` (index ``d mod Nd``) for linear
    convolution along ``gamma``: ``(h * U)(gamma) = sum_d h[d] U(gamma - d)``.

    Returns
    -------
    lowpass : (Nd,) float64
        Gaussian of width ``2**J_chroma`` bins (``sigma = SIGMA0 / 2**J_chroma`` cycles per bin).
    wavelets : (n, Nd) complex128
        Spin +1 Morlet wavelets, spectrum centred at ``-xi`` cycles per bin; the spin -1
        wavelets are their complex conjugates.
    params : tuple of (xi, sigma)
        Centre frequency (cycles per bin, positive) and bandwidth of each wavelet, from
        Andén's bank ``(J_chroma, Q=1)``, highest first.
    """
    Nd = max(256, 2 ** int(math.ceil(math.log2(4 * max(n_taps, 1)))))
    lowpass = np.fft.ifft(gauss_1d(Nd, SIGMA0 / 2**J_chroma)).real
    params = tuple(anden_generator(J_chroma, 1, sigma0=SIGMA0, r_psi=R_PSI))
    wavelets = np.stack([np.fft.ifft(morlet_1d(Nd, -xi, sigma)) for xi, sigma in params])
    return lowpass, wavelets, params


# --------------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class _Src:
    """Active first-order rows of the array at resolution ``K1`` (rows ``rows``),
    folded with the time wavelet's filter blocks ``blocks`` (leaf ``key``)."""

    K1: int
    rows: tuple[int, ...]
    blocks: tuple[int, ...]
    key: str


@dataclasses.dataclass(frozen=True)
class _Order2:
    """Second-order spiral paths of one time wavelet ``n2`` (scale ``j2``).

    The folded spectra (rows: lattice positions ``gamma_in``) live at resolution
    ``K2``. The chroma stage (leaf ``chroma_key``) outputs lattice rows ``[e0, L)``,
    the octave stage rows ``[o0, L)``. ``conv`` (local averaging) is the temporal
    low-pass as a strided convolution, see `_strided_conv`.
    """

    n2: int
    j2: int
    K2: int
    srcs: tuple[_Src, ...]
    gamma_in: tuple[int, ...]
    e0: int
    o0: int
    chroma_key: str
    conv: "_Conv | None"
    # averaging along log-frequency (F): output positions (None: the global sum) and
    # the matrix (leaf avg_key) from the rows [o0, L) to them; () and None without F
    gamma_out: tuple = ()
    avg_key: str | None = None



@dataclasses.dataclass(frozen=True)
class _Conv:
    """Low-pass ``h`` (taps at resolution ``K``) and subsampling by ``D`` of ``n_out``
    frames, computed on the window of ``n_blocks`` blocks of ``D`` samples starting at
    sample ``start`` (circularly), see `_strided_conv`: frame ``i`` is the anti-diagonal
    sum ``i + last + n_k - 1`` of ``P[b, k]`` (``n_k`` block taps), with blocks repeated
    every ``n_blocks`` when ``reps > 1`` (the window is the whole period)."""

    start: int
    n_blocks: int
    D: int
    key: str
    n_out: int
    last: int
    reps: int
    n_k: int
    g: int  # blocks per GEMM group: the leaf is (g D, g + n_k - 1)


@dataclasses.dataclass(frozen=True)
class _Plan:
    time: Any  # Scattering1D's plan of order 1
    average: str
    Q: int
    n_geo: int
    n_oct: int
    L: int
    lattice_n1: tuple[int, ...]  # first-order index at each lattice position (-1: padding)
    J_chroma: int
    chroma: tuple[tuple[float, float], ...]  # (xi, sigma) of the chroma wavelets
    order2: tuple[_Order2, ...]
    wavelets1: tuple[tuple[float, float, int], ...]
    wavelets2: tuple[tuple[float, float, int], ...]
    bytes_per_signal: int
    F: Any = None  # None, an int or "global"
    stride_F: int = 1

    @property
    def n_chroma(self) -> int:
        return 1 + 2 * len(self.chroma)

    def positions(self, o2: "_Order2") -> tuple:
        """Lattice position of each output row of a group (None: ``F="global"``)."""
        return o2.gamma_out if o2.avg_key is not None else tuple(range(o2.o0, self.L))


def _strided_conv(h_f: np.ndarray, D: int, i0: int, i1: int, key: str, leaves: dict) -> _Conv:
    """Plan the low-pass ``h_f`` (spectrum on ``M`` points) and subsampling by ``D`` of
    frames ``[i0, i1)`` as a convolution in time, on the samples that reach them.

    ``y[m] = sum_tau h[tau] u[m D - tau]`` (circular), with ``h = ifft(h_f)`` cut where
    its tail holds less than ``SUPPORT_TOL`` of its L1 mass. Writing ``tau = k D - d``
    (``0 <= d < D``), ``y[m] = sum_k P[m - k, k]`` with ``P[b, k] = sum_d u[b D + d]
    H[k, d]``, ``H[k, d] = h[k D - d]``: a sum along the anti-diagonals ``b + k`` of
    ``P``. For ``g`` consecutive blocks these sums are one GEMM with the Toeplitz matrix
    ``T[b D + d, b + k] = H[k, d]`` (the leaf), and the groups' outputs overlap by
    ``n_k - 1``. Blocks are counted from ``start`` (the first one any kept frame reads);
    when the window would cover the whole period it is the period itself.
    """
    M = h_f.shape[-1]
    n_T = M // D
    h = np.fft.ifft(h_f)
    h = h.real
    a_h = np.abs(h)
    dist = np.minimum(np.arange(M), M - np.arange(M))
    order = np.argsort(dist, kind="stable")
    tail = a_h.sum() - np.cumsum(a_h[order])
    H = int(dist[order][np.argmax(tail <= SUPPORT_TOL * a_h.sum())])
    if 2 * H + 1 >= M:
        taus = np.arange(-(M // 2), M - M // 2)  # one whole period
    else:
        taus = np.arange(-H, H + 1)
    ks = -(-taus // D)  # tau = k D - d, 0 <= d < D
    ds = ks * D - taus
    k_lo, k_hi = int(ks.min()), int(ks.max())
    n_blocks = i1 - i0 + k_hi - k_lo
    k_vals = np.arange(k_lo, k_hi + 1)
    Hm = np.zeros((k_vals.size, D))
    Hm[ks - k_lo, ds] = h[taus % M]
    if n_blocks >= n_T:  # the whole period, circularly: block (i0 + i - k) mod n_T
        start, n_blocks = 0, n_T
        shift = n_T * max(0, -(-(k_hi - i0) // n_T))  # a multiple of n_T making offsets >= 0
        offsets = i0 - k_vals + shift
        reps = -(-(int(offsets.max()) + (i1 - i0)) // n_T)
    else:  # block i0 + i - k, counted from the window's first
        a_blk = i0 - k_hi
        start, reps = (a_blk * D) % M, 1
        offsets = i0 - a_blk - k_vals
    assert offsets.min() >= 0 and offsets.max() + (i1 - i0) <= n_blocks * reps
    # groups of g blocks: one GEMM with the Toeplitz matrix T[b D + d, q] = H[q - b, d]
    # gives the anti-diagonal sums q = b + k of the group at once (its (g + n_k - 1) / n_k
    # extra flops buy the banded sum); g D of about GROUP_SAMPLES, at most 8 overlaps
    nk = k_vals.size
    g = max(-(-(nk - 1) // 7), GROUP_SAMPLES // D)
    g = int(max(1, min(g, n_blocks)))
    Tm = np.zeros((g * D, g + nk - 1))
    for b in range(g):
        Tm[b * D : (b + 1) * D, b : b + nk] = Hm.T
    leaves[key] = Tm
    return _Conv(int(start), int(n_blocks), int(D), key, int(i1 - i0), int(offsets[-1]), int(reps),
                 int(nk), g)


def _spiral_rows(C0: np.ndarray, Cdn: np.ndarray, Cup: np.ndarray) -> np.ndarray:
    """The chroma filters at the octave taps (rows ``gamma``, ``gamma - Q``, ``gamma + Q``)
    composed with the octave filters, as the real matrices the kernel multiplies.

    ``C*`` are (1 + 2n, n_o, n_in): the chroma low-pass, then the real parts ``A_k``
    and imaginary parts ``B_k`` of the spin +1 wavelets. With ``S = (C0 + Cdn + Cup)
    / 3``, ``P = (C0 - (Cdn + Cup) / 2) / 3`` and ``D = sqrt(3) / 2 (Cup - Cdn) / 3``
    the octave filters are ``S`` (spin 0) and ``P +- iD`` (spins +-1), so every (chroma,
    octave) filter ``f`` or its conjugate is one of ``1 + 3n`` complex matrices
    ``Re + i Im`` besides the real ``S_low``:
    ``low: P + iD``, then per wavelet ``k``: ``S_A + i S_B``, ``(P_A - D_B) + i (P_B +
    D_A)``, ``(P_A + D_B) + i (P_B - D_A)`` (the (up, 0), (up, +1), (up, -1) filters;
    their conjugates are (down, 0), (down, -1), (down, +1)). Returns the stack
    ``[S_low, Re_0 .. Re_{3n}, Im_0 .. Im_{3n}]`` of shape (3 + 6n, n_o, n_in).
    """
    S = (C0 + Cdn + Cup) / 3.0
    P = (C0 - 0.5 * (Cdn + Cup)) / 3.0
    D = _SQRT3_2 * (Cup - Cdn) / 3.0
    n = (C0.shape[0] - 1) // 2
    re, im = [P[0]], [D[0]]
    for k in range(n):
        a, b = 1 + k, 1 + n + k
        re += [S[a], P[a] - D[b], P[a] + D[b]]
        im += [S[b], P[b] + D[a], P[b] - D[a]]
    return np.stack([S[0]] + re + im)


def _spiral_order(n: int) -> np.ndarray:
    """Rows of ``[|S_low v|, |f_p v| (p < 1 + 3n), |conj(f_p) v| (p < 1 + 3n)]`` (see
    `_spiral_rows`) in output order: chroma filter (low-pass, spin +1 wavelets, spin -1
    wavelets) by octave filter (spin 0, +1, -1)."""
    n_p = 1 + 3 * n
    direct, conj = (lambda p: 1 + p), (lambda p: 1 + n_p + p)
    order = [0, direct(0), conj(0)]  # low-pass: spins 0, +1 (P + iD), -1 (P - iD)
    order += [r for k in range(n) for r in (direct(1 + 3 * k), direct(2 + 3 * k), direct(3 + 3 * k))]
    order += [r for k in range(n) for r in (conj(1 + 3 * k), conj(3 + 3 * k), conj(2 + 3 * k))]
    return np.array(order)


def _default_J_chroma(Q1: int) -> int:
    return max(0, int(round(math.log2(Q1 / 3)))) if Q1 >= 3 else 0


def _frequential_average(F, stride: int, o0: int, L: int):
    """Averaging along log-frequency of the rows ``[o0, L)`` (zero beyond them): output
    positions and the matrix ``A[i, j] = phi_F(gamma_i - (o0 + j))``, a Gaussian
    low-pass of width ``F`` bins (unit sum; kymatio's ``phi_F`` recipe), sampled at
    the multiples of ``stride`` whose stride-block meets the rows; ``"global"``: the
    sum over the rows."""
    n = L - o0
    if F == "global":
        return (None,), np.ones((1, n))
    Nd = max(256, 2 ** int(math.ceil(math.log2(4 * L))))
    h = np.fft.ifft(gauss_1d(Nd, SIGMA0 / F)).real
    out = tuple(g for g in range(0, L, stride) if g + stride - 1 >= o0)
    A = h[(np.array(out)[:, None] - np.arange(o0, L)[None, :]) % Nd]
    return out, A


@functools.lru_cache(maxsize=16)
def _build(J: int, N_input: int, Q: tuple[int, int], T, J_chroma: int, F=None):
    tplan, average, tleaves = _build_time(J, N_input, Q, T, 1, None)
    if average is None:
        raise ParameterError(
            f"T={T!r}: spiral scattering needs averaging (T=None, an integer or 'global'), not T=0"
        )
    T_val, _ = parse_T(T, J, N_input)
    N = tplan.N
    bank = scattering_filter_bank(N, J, Q, T_val, sigma0=SIGMA0, alpha=ALPHA, r_psi=R_PSI)
    psi1, psi2 = bank.psis[0], bank.psis[1]
    Q1 = Q[0]
    n_geo = len(psi1) - (Q1 - 1)  # Andén's bank: the geometric part, then Q - 1 tail wavelets
    if n_geo < 1:
        raise ParameterError(
            f"J={J} and Q={Q1} give no constant-Q wavelet (the first wavelet is already "
            f"below the elbow sigma0 / 2**J): increase J"
        )
    if 2**J_chroma > Q1:
        raise ParameterError(
            f"J_chroma={J_chroma} makes the chroma low-pass (2**{J_chroma} = {2**J_chroma} bins) "
            f"wider than an octave (Q={Q1} bins); use J_chroma <= {int(math.log2(Q1))}"
        )
    n_oct = -(-n_geo // Q1)
    L = n_oct * Q1
    lattice_n1 = tuple(L - 1 - g if L - 1 - g < n_geo else -1 for g in range(L))
    j1 = [psi1[n].j for n in range(n_geo)]
    j1_lat = [j1[n] if n >= 0 else j1[-1] for n in lattice_n1]
    where = {}  # n1 -> (K1, row)
    for K, paths in tplan.rows[0]:
        for row, p in enumerate(paths):
            where[p[0]] = (K, row)

    log2_stride = tplan.log2_stride
    stride_F = 1
    if F is not None and F != "global":
        if F > L:
            raise ParameterError(
                f"F={F} exceeds the {L} bins of the spiral lattice (J={J}, Q={Q1}); use "
                f"F <= {L} or F='global'"
            )
        stride_F = 2 ** int(math.floor(math.log2(F)))
    low, wav, chroma = chroma_filter_bank(J_chroma, L)
    Nd = low.shape[0]
    leaves: dict[str, np.ndarray] = {}
    order2 = []
    nbytes = 0
    for n2, w2 in enumerate(psi2):
        j2 = w2.j
        active = [n for n in range(n_geo) if j1[n] < j2]
        if not active:
            continue
        K2 = min(j2, log2_stride) if average == "local" else j2
        m_out = N // 2**K2
        srcs, gamma_in = [], []
        by_K: dict[int, list[tuple[int, int]]] = {}
        for n in active:
            K1, row = where[n]
            by_K.setdefault(K1, []).append((row, n))
        for K1, items in sorted(by_K.items()):
            if K1 > K2:  # cannot happen: K1 = min(j1, s) <= min(j2, s) = K2
                raise AssertionError((K1, K2))
            h = w2.level(K1)
            blocks = support_blocks(h, m_out)
            filt = h.reshape(-1, m_out)[list(blocks)] / 2 ** (K2 - K1)
            key = f"psi2_n{n2}_K{K1}"
            leaves[key] = filt
            srcs.append(_Src(K1, tuple(r for r, _ in items), blocks, key))
            gamma_in.extend(L - 1 - n for _, n in items)
        out = [g for g in range(L) if j1_lat[g] < j2]
        o0 = out[0]
        if out != list(range(o0, L)):
            raise AssertionError("active lattice positions are not a top block")
        e0 = max(0, o0 - Q1)
        # chroma matrices on the spiral, evaluated at the output rows gamma in [o0, L) and
        # at the rows one octave below and above them (zero beyond the lattice), folded
        # with the octave filters into one real matrix per distinct filter (see _spiral_rows)
        taps = []
        for b in (0, -1, 1):
            ge = np.arange(o0, L) + b * Q1
            d = (ge[:, None] - np.array(gamma_in)[None, :]) % Nd
            inside = ((ge >= 0) & (ge < L))[:, None]
            taps.append(np.stack([low[d]] + [w[d].real for w in wav] + [w[d].imag for w in wav]) * inside)
        ckey = f"chroma_n{n2}"
        leaves[ckey] = _spiral_rows(*taps).reshape(-1, len(gamma_in))  # ((3 + 6n) * n_o, n_in)
        conv = None
        if average == "local":
            res = log2_stride
            conv = _strided_conv(bank.phi_level(K2), 2 ** (res - K2), tplan.ind_start[res],
                                 tplan.ind_end[res], f"phi2_n{n2}", leaves)
        gamma_out, akey = (), None
        if F is not None:
            gamma_out, A = _frequential_average(F, stride_F, o0, L)
            akey = f"avgF_n{n2}"
            leaves[akey] = A
        order2.append(_Order2(n2, j2, K2, tuple(srcs), tuple(gamma_in), e0, o0, ckey, conv,
                              gamma_out, akey))
        n_c = 1 + 2 * len(chroma)
        n_t = conv.n_blocks * conv.D if conv is not None else m_out
        # the time-domain rows (inputs, chroma outputs, moduli), a few copies alive at once
        nbytes = max(nbytes, 8 * (len(gamma_in) * m_out + 3 * n_c * (L - e0) * n_t
                                  + 3 * n_c * 3 * (L - o0) * n_t))
    if not order2:
        raise ParameterError(
            f"J={J}, Q={Q} give no second-order time wavelet finer than the first-order "
            f"bins (every j2 <= j1): increase J"
        )
    plan = _Plan(
        time=tplan,
        average=average,
        Q=Q1,
        n_geo=n_geo,
        n_oct=n_oct,
        L=L,
        lattice_n1=lattice_n1,
        J_chroma=J_chroma,
        chroma=tuple((float(x), float(s)) for x, s in chroma),
        order2=tuple(order2),
        wavelets1=tuple((w.xi, w.sigma, w.j) for w in psi1),
        wavelets2=tuple((w.xi, w.sigma, w.j) for w in psi2),
        bytes_per_signal=int(nbytes),
        F=F,
        stride_F=stride_F,
    )
    return plan, tleaves, leaves


# ------------------------------------------------------------------ array kernels
def _first_order(tplan, average, filt, x):
    """Orders 0 and 1, computed by Scattering1D's own kernel, in its path order
    (B, P01, frames), plus the first-order full spectra by resolution (P, B, M)."""
    pieces, order, spectra = scatter_orders(tplan, average, filt, x, 1, keep_spectra=True)
    return gather_paths(pieces, order, tplan.order_paths), {K: v[0] for K, v in spectra.items()}


def _complex(re, im):
    return jax.lax.complex(re, im)


def _tile_bytes() -> int | None:
    """Working set (bytes) of one tile of time samples in the spiral order, or None
    for no tiling. CPU-specific scheduling, the one switch: there the stage after the
    inverse FFT (GEMMs, sums, moduli) is bound by memory traffic, so it runs in tiles
    whose intermediates stay in cache (``jax.lax.scan`` over tiles of blocks,
    ``jax.lax.map`` over groups of signals); on accelerators in one pass."""
    return TILE_BYTES if jax.default_backend() == "cpu" else None


def _overlap_add(A: jnp.ndarray, g: int) -> jnp.ndarray:
    """Sum the group outputs ``A`` (..., n_gr, w), group ``j`` starting at ``j g``, into
    one row (..., n_gr g + w - g): ``m = ceil(w / g)`` shifted adds (pads, whose
    transpose is a slice)."""
    n_gr, w = A.shape[-2:]
    m = -(-w // g)
    lead = [(0, 0)] * (A.ndim - 2)
    X = jnp.pad(A, lead + [(0, 0), (0, m * g - w)]).reshape(A.shape[:-1] + (m, g))
    out = sum(jnp.pad(X[..., p, :], lead + [(p, m - 1 - p), (0, 0)]) for p in range(m))
    return out.reshape(out.shape[:-2] + (-1,))[..., : n_gr * g + w - g]


def _spiral_order2(plan: _Plan, o2: _Order2, spectra, filt) -> jnp.ndarray:
    """Spiral paths of one time wavelet: (B, n_chroma, 3, L - o0, n_frames).

    The chroma and octave filters act along ``gamma``, so they commute with the
    inverse FFT in time: only the ``n_in`` input rows are transformed; the filters
    are then one real GEMM and sums on the time samples, and the low-pass a strided
    convolution (`_strided_conv`) on the samples within reach of the kept frames.
    """
    parts = []
    for s in o2.srcs:
        spec = spectra[s.K1]  # (P, B, M)
        _, B, M = spec.shape
        f = filt[s.key]
        m_out = f.shape[-1]
        r = spec[np.array(s.rows)].reshape(len(s.rows), B, M // m_out, m_out)
        if len(s.blocks) != M // m_out or s.blocks != tuple(range(M // m_out)):
            r = r[:, :, np.array(s.blocks)]
        parts.append(jnp.sum(_scale(r, f), axis=2))  # f: (c, m_out), shared by the rows
    V = jnp.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]  # (n_in, B, M2)
    n_in, B, M2 = V.shape
    v = jnp.fft.ifft(V, axis=-1)  # U1 * psi_j2 in time, (n_in, B, M2)
    cv = o2.conv
    if cv is not None:  # the window of samples that reach the kept frames, circularly
        n_t = cv.n_blocks * cv.D
        if cv.start + n_t <= M2:
            if cv.start or n_t != M2:
                v = jax.lax.slice_in_dim(v, cv.start, cv.start + n_t, axis=-1)
        else:  # the window wraps around the period
            v = jnp.concatenate([v[..., cv.start :], v[..., : cv.start + n_t - M2]], axis=-1)
        unit, n_units = cv.D, cv.n_blocks  # tiles hold whole blocks
    else:
        unit, n_units = 1, M2
    dt = v.real.dtype
    C = filt[o2.chroma_key].astype(dt)  # ((3 + 6n) * n_o, n_in), see _spiral_rows
    n_o = plan.L - o2.o0
    n = (C.shape[0] // n_o - 3) // 6  # chroma wavelets
    H = filt[cv.key].astype(dt) if cv is not None else None  # (g D, g + n_k - 1)

    # tiles of Bg signals x whole blocks (or samples, for the global average)
    per_unit = 4 * unit * (2 * C.shape[0] + 2 * 3 * plan.n_chroma * n_o)  # one signal: G, u
    budget = _tile_bytes()
    if budget is None or B * n_units * per_unit <= UNTILED_BYTES:
        Bg, tile = B, n_units
    else:
        Bg = max([d for d in range(1, B + 1) if B % d == 0 and d * per_unit <= budget] or [1])
        tile = int(max(1, min(n_units, budget // (Bg * per_unit))))
    if cv is None:  # tiles must divide the period (a power of two)
        tile = 2 ** int(math.floor(math.log2(tile)))
    elif tile >= n_units:  # one tile of whole GEMM groups
        tile = cv.g * -(-n_units // cv.g)
    else:
        tile = cv.g * max(1, tile // cv.g)
    n_tiles, n_bg = -(-n_units // tile), B // Bg
    if n_tiles * tile != n_units:
        v = jnp.pad(v, ((0, 0), (0, 0), (0, (n_tiles * tile - n_units) * unit)))
    vt = v.reshape(n_in, n_bg, Bg, n_tiles, tile * unit).transpose(1, 3, 0, 2, 4)
    vt = vt.reshape((n_bg * n_tiles, n_in, Bg, tile * unit))

    n_p = 1 + 3 * n
    order = _spiral_order(n)

    def one_tile(vv):  # (n_in, Bg, t) complex -> anti-diagonal sums (rows, n_o, Bg, tile + n_k - 1)
        t = vv.shape[-1]
        # one real GEMM per part of v: every (chroma, octave) filter, or its conjugate,
        # is Re + i Im with Re and Im rows of C (see _spiral_rows)
        Gr = (C @ vv.real.reshape(n_in, -1)).reshape(-1, n_o, Bg, t)
        Gi = (C @ vv.imag.reshape(n_in, -1)).reshape(-1, n_o, Bg, t)
        Rr, Ri = Gr[1 : 1 + n_p], Gi[1 : 1 + n_p]  # Re vr, Re vi
        Ir, Ii = Gr[1 + n_p :], Gi[1 + n_p :]  # Im vr, Im vi
        u = jnp.concatenate([
            jnp.abs(_complex(Gr[:1], Gi[:1])),  # the real S_low
            jnp.abs(_complex(Rr - Ii, Ri + Ir)),  # (Re + i Im) v
            jnp.abs(_complex(Rr + Ii, Ri - Ir)),  # (Re - i Im) v
        ], axis=0)  # (1 + 2 n_p, n_o, Bg, t)
        if cv is None:
            return jnp.sum(u, axis=-1)
        A = u.reshape(u.shape[:-1] + (tile // cv.g, cv.g * cv.D)) @ H  # (..., groups, g + n_k - 1)
        return _overlap_add(A, cv.g)  # anti-diagonals b + k of the tile: (..., tile + n_k - 1)

    if cv is None:  # global average: sums over the tiles
        def step(acc, vv):
            return acc + one_tile(vv), None

        zero = jnp.zeros((1 + 2 * n_p, n_o, Bg), dt)
    else:
        # the banded sum per tile, accumulated at the tile's first block (block b,
        # tap k reach anti-diagonal b + k; every n_T blocks again when the window is
        # the whole period)
        nk = cv.n_k
        n_acc = (cv.reps - 1) * cv.n_blocks + n_tiles * tile + nk - 1
        width = tile + nk - 1

        def step(acc, xs):
            vv, b0 = xs
            a_t = one_tile(vv)  # (rows, n_o, Bg, width)
            for r in range(cv.reps):
                at = b0 + r * cv.n_blocks
                cur = jax.lax.dynamic_slice_in_dim(acc, at, width, axis=-1)
                acc = jax.lax.dynamic_update_slice_in_dim(acc, cur + a_t, at, axis=-1)
            return acc, None

        zero = jnp.zeros((1 + 2 * n_p, n_o, Bg, n_acc), dt)
        starts = jnp.arange(n_tiles, dtype=jnp.int32) * tile

    def run(vg):  # the tiles of one group of Bg signals (n_tiles, n_in, Bg, t)
        xs = vg if cv is None else (vg, starts)
        if n_tiles == 1:
            return step(zero, jax.tree_util.tree_map(lambda a: a[0], xs))[0]
        return jax.lax.scan(step, zero, xs)[0]

    vt = vt.reshape((n_bg, n_tiles) + vt.shape[1:])
    acc = jax.lax.map(run, vt) if n_bg > 1 else run(vt[0])[None]  # (n_bg, rows, n_o, Bg, ...)
    acc = jnp.moveaxis(acc, 0, 2)  # (rows, n_o, n_bg, Bg, ...)
    acc = acc.reshape(acc.shape[:2] + (B,) + acc.shape[4:])[order]  # output order of the rows
    acc = acc.reshape((plan.n_chroma, 3) + acc.shape[1:])  # (n_c, 3, n_o, B, ...)
    if cv is None:
        y = acc[..., None]
    else:
        first = cv.last + nk - 1  # frame i is anti-diagonal i + last + (n_k - 1)
        y = acc[..., first : first + cv.n_out]
    y = jnp.moveaxis(y, 3, 0)  # (B, n_c, 3, n_o, frames)
    if o2.avg_key is not None:  # averaging along log-frequency (F), after the time average
        A = filt[o2.avg_key].astype(y.dtype)  # (n_out, n_o)
        y = jnp.einsum("gj,bcojt->bcogt", A, y)
    return y


def _transform(plan: _Plan, filt, x):
    s01, spectra = _first_order(plan.time, plan.average, filt["time"], x)
    s2 = tuple(_spiral_order2(plan, o2, spectra, filt["spiral"]) for o2 in plan.order2)
    return s01, s2


# --------------------------------------------------------------------- transform
@pytree_dataclass
class SpiralScattering:
    r"""Spiral scattering: time scattering whose second order also convolves along
    chroma (log-frequency within the octave, on the spiral) and across octaves.

    Parameters
    ----------
    J : int
        Log2 of the largest wavelet scale (and of the default averaging ``T``).
    shape : int
        Length of the input signals.
    Q : int or (int, int)
        Bins per octave of the first-order bank (an integer: the spiral needs a whole
        number of bins per octave) and, optionally, wavelets per octave of the
        second-order time wavelets (default 1).
    T : int, "global" or None
        Temporal averaging: ``None`` is ``2**J``, ``"global"`` sums over time.
    J_chroma : int or None, keyword-only
        Log2 of the width (in bins) of the chroma low-pass; the chroma wavelets are
        Andén's bank ``(J_chroma, Q=1)`` along log-frequency. ``None`` means
        ``round(log2(Q / 3))`` (2 for ``Q = 12``); ``2**J_chroma`` must not exceed ``Q``.
    F : int, "global" or None, keyword-only
        Averaging of the spiral order along log-frequency, as joint scattering's ``F``:
        ``None`` (default) none; an integer: a Gaussian low-pass of width ``F`` bins
        along ``gamma`` (after the time average), sampled every ``2**floor(log2 F)``
        bins; ``"global"``: the sum over ``gamma``. At most the lattice's
        ``n_octaves * Q`` bins. ``F = Q`` keeps about one row per octave. Orders 0 and 1
        are not averaged.
    format : "time" or "joint", keyword-only
        Output layout (see Call).
    chunk_size : int or None, keyword-only
        Signals per chunk (``jax.lax.map`` over chunks); ``None`` sizes chunks so the
        intermediates stay near `CHUNK_BYTES`.

    Call
    ----
    ``S(x)`` with ``x`` of shape ``(..., shape)`` real floating point.

    * ``format="time"``: ``(..., n_paths, n_frames)``: order 0, order 1 (Scattering1D's
      rows, by decreasing centre frequency), then the spiral paths grouped by time
      wavelet ``n2``, chroma filter (low-pass, spin +1 wavelets from the finest, spin -1
      wavelets), octave filter (low-pass, spin +1, spin -1) and lattice position
      ``gamma`` ascending (from the lowest active bin up; with ``F``, the sampled
      positions, or one row for ``"global"``). See `meta`.
    * ``format="joint"``: a dict with ``"order0"`` ``(..., 1, n_frames)``, ``"order1"``
      ``(..., n1, n_frames)`` and ``"order2"`` ``(..., n_j2, n_chroma, 3, n_oct, Q,
      n_frames)`` on the full (octave, chroma) lattice, zero where a path does not exist
      (``j2 <= j1``) — the same numbers as ``"time"``. With an integer ``F`` the last
      lattice axis is ``Q // 2**floor(log2 F)`` (the stride must divide ``Q``); with
      ``"global"`` both lattice axes are 1.

    float16/bfloat16 input is computed in float32; an empty batch ``(0, shape)``
    gives empty outputs. NaN/inf in ``x`` raise `ParameterError` only for concrete
    input: under ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).

    Examples
    --------
    >>> S = SpiralScattering(J=8, shape=2**16, Q=12)
    >>> Sx = jax.jit(S)(x)                # (..., S.output_size(), 2**16 // 2**8)
    >>> m = S.meta(); m["octave_spin"], m["chroma_spin"]
    >>> SpiralScattering(J=8, shape=2**16, Q=12, F=12).output_size()  # a compact spiral
    """

    J: int = static_field()
    shape: int = static_field()
    Q: Any = static_field()
    T: Any = static_field(default=None)
    J_chroma: Any = static_field(default=None, kw_only=True)
    F: Any = static_field(default=None, kw_only=True)
    format: str = static_field(default="time", kw_only=True)
    chunk_size: Any = static_field(default=None, kw_only=True)
    filters: dict | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self):
        J = check_int("J", self.J, min=0)
        shape = self.shape
        if isinstance(shape, tuple) and len(shape) == 1:
            shape = shape[0]
        shape = check_int("shape", shape, min=2)
        Q = tuple(self.Q) if isinstance(self.Q, (tuple, list)) else (self.Q,)
        if len(Q) not in (1, 2):
            raise ParameterError(f"Q must be an integer or a pair (Q1, Q2), got {self.Q!r}")
        for i, q in enumerate(Q):
            if isinstance(q, bool) or not isinstance(q, (int, np.integer)):
                what = "an integer number of bins per octave" if i == 0 else "an integer"
                raise ParameterError(
                    f"Q{'[1]' if i else ''} must be {what} (the spiral rolls log-frequency up "
                    f"into whole octaves), got {q!r}"
                )
        Q = tuple(check_int(f"Q[{i}]", q, min=1) for i, q in enumerate(Q))
        Q = Q + (1,) * (2 - len(Q))
        if 2**J > shape:
            raise ParameterError(
                f"J={J} is too large for shape={shape}: the largest wavelet (2**J = {2**J} "
                f"samples) must fit in the signal; use J <= {int(math.log2(shape))}"
            )
        J_chroma = self.J_chroma
        J_chroma = _default_J_chroma(Q[0]) if J_chroma is None else check_int("J_chroma", J_chroma, min=0)
        check_choice("format", self.format, ("time", "joint"))
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size, min=1)
        F = self.F
        if F is not None and F != "global":
            if isinstance(F, bool) or not isinstance(F, (int, np.integer)):
                raise ParameterError(
                    f"F must be None (no averaging along log-frequency), 'global' or an "
                    f"integer number of bins >= 1, got {F!r}"
                )
            F = check_int("F", F, min=1)
        for name, value in (("J", J), ("shape", shape), ("Q", Q), ("J_chroma", J_chroma), ("F", F)):
            object.__setattr__(self, name, value)
        plan, tleaves, sleaves = _build(J, shape, Q, self.T, J_chroma, F)  # validates (cached)
        if self.format == "joint" and F is not None and F != "global" and Q[0] % plan.stride_F:
            raise ParameterError(
                f"format='joint' with F={F} needs the stride along log-frequency "
                f"(2**floor(log2 F) = {plan.stride_F} bins) to divide Q={Q[0]}, so that the "
                f"rows keep the (octave, chroma) lattice; use format='time' or another F"
            )
        if self.filters is None:
            object.__setattr__(
                self,
                "filters",
                {
                    "time": {k: jnp.asarray(v) for k, v in tleaves.items()},
                    "spiral": {k: jnp.asarray(v) for k, v in sleaves.items()},
                },
            )

    # -- planning (static, cached) --
    @property
    def _plan(self) -> _Plan:
        return _build(self.J, self.shape, self.Q, self.T, self.J_chroma, self.F)[0]

    @property
    def n_octaves(self) -> int:
        """Octaves of the spiral lattice (the bottom one zero-padded if incomplete)."""
        return self._plan.n_oct

    @property
    def n_padding(self) -> int:
        """Zero bins padding the bottom octave of the lattice."""
        return self._plan.L - self._plan.n_geo

    def output_size(self) -> int:
        """Number of paths of the ``format="time"`` output."""
        plan = self._plan
        n2 = sum(plan.n_chroma * 3 * len(plan.positions(o2)) for o2 in plan.order2)
        return len(plan.time.order_paths) + n2

    def meta(self) -> dict[str, Any]:
        """Per-path metadata of the ``format="time"`` output.

        NumPy arrays of length ``n_paths`` unless said otherwise:

        * ``order``: 0, 1 or 2;
        * ``xi``, ``sigma``, ``j``, ``n`` of shape (n_paths, 2): the first-order wavelet
          (column 0) and the second-order time wavelet (column 1), as Scattering1D's
          ``meta()``; for a spiral path column 0 is its lattice position's bin (``n =
          -1`` and ``xi`` extrapolated along the geometric progression for the padding);
        * ``gamma``, ``octave``, ``chroma``: lattice position ``gamma = Q * octave +
          chroma`` (octave 0 is the lowest, padded one; chroma ``Q - 1`` of the top octave
          is the highest wavelet); NaN for order 0 and the first-order tail;
        * ``chroma_xi`` (cycles per bin), ``chroma_sigma``, ``chroma_j`` (scale index;
          ``J_chroma`` for the low-pass), ``chroma_spin`` (0 low-pass, +1 up, -1 down);
        * ``octave_xi`` (cycles per octave: 0 or 1/3), ``octave_spin`` (0, +1, -1);
          the spiral columns are NaN for orders 0 and 1;
        * ``key``: a tuple per path: ``()``, ``(n1,)``, or ``(n2, c, o, gamma)``
          (``(n2, c, o)`` with ``F="global"``, whose ``gamma`` is NaN). With an integer
          ``F``, ``gamma`` is the centre of the average (a multiple of the stride).
        """
        plan = self._plan
        paths = list(plan.time.order_paths)
        rows = []  # (n2, c, o, gamma)
        for o2 in plan.order2:
            for c in range(plan.n_chroma):
                for o in range(3):
                    rows.extend((o2.n2, c, o, g) if g is not None else (o2.n2, c, o)
                                for g in plan.positions(o2))
        n = len(paths) + len(rows)
        meta: dict[str, Any] = {"order": np.array([len(p) for p in paths] + [2] * len(rows))}
        for name in ("xi", "sigma", "j", "n"):
            meta[name] = np.full((n, 2), np.nan)
        for name in ("gamma", "octave", "chroma", "chroma_xi", "chroma_sigma", "chroma_j",
                     "chroma_spin", "octave_xi", "octave_spin"):
            meta[name] = np.full(n, np.nan)
        Q, L = plan.Q, plan.L
        xi_top = plan.wavelets1[0][0]
        gamma_of = {plan.lattice_n1[g]: g for g in range(L) if plan.lattice_n1[g] >= 0}

        def put_bin(i, g):
            meta["gamma"][i], meta["octave"][i], meta["chroma"][i] = g, g // Q, g % Q
            n1 = plan.lattice_n1[g]
            if n1 >= 0:
                xi, sigma, j = plan.wavelets1[n1]
                meta["xi"][i, 0], meta["sigma"][i, 0], meta["j"][i, 0] = xi, sigma, j
                meta["n"][i, 0] = n1
            else:
                xi_lo, sigma_lo, j_lo = plan.wavelets1[plan.n_geo - 1]
                meta["xi"][i, 0] = xi_top * 2.0 ** ((g - (L - 1)) / Q)
                meta["sigma"][i, 0] = sigma_lo * 2.0 ** ((g - (L - plan.n_geo)) / Q)
                meta["j"][i, 0], meta["n"][i, 0] = j_lo, -1

        for i, p in enumerate(paths):
            if len(p) == 1:
                xi, sigma, j = plan.wavelets1[p[0]]
                meta["xi"][i, 0], meta["sigma"][i, 0], meta["j"][i, 0] = xi, sigma, j
                meta["n"][i, 0] = p[0]
                if p[0] in gamma_of:
                    g = gamma_of[p[0]]
                    meta["gamma"][i], meta["octave"][i], meta["chroma"][i] = g, g // Q, g % Q
        nw = len(plan.chroma)
        lp_sigma = SIGMA0 / 2**plan.J_chroma
        for k, key in enumerate(rows):
            n2, c, o = key[:3]
            i = len(paths) + k
            if len(key) == 4:
                put_bin(i, key[3])
            xi2, sigma2, j2 = plan.wavelets2[n2]
            meta["xi"][i, 1], meta["sigma"][i, 1], meta["j"][i, 1], meta["n"][i, 1] = xi2, sigma2, j2, n2
            if c == 0:
                cx, cs, cj, spin = 0.0, lp_sigma, plan.J_chroma, 0
            else:
                w = (c - 1) % nw
                cx, cs = plan.chroma[w]
                cj, spin = w, 1 if c <= nw else -1
            meta["chroma_xi"][i], meta["chroma_sigma"][i] = cx, cs
            meta["chroma_j"][i], meta["chroma_spin"][i] = cj, spin
            meta["octave_spin"][i] = (0, 1, -1)[o]
            meta["octave_xi"][i] = 0.0 if o == 0 else 1.0 / 3.0
        meta["key"] = paths + rows
        return meta

    # -- the transform --
    def __call__(self, x: jnp.ndarray):
        """Apply the transform.

        Parameters
        ----------
        x : array, shape (..., shape), real floating point
            float16/bfloat16 input is computed in float32 (output float32); a batch
            of zero signals ``(0, shape)`` gives empty outputs.

        Returns
        -------
        array (..., n_paths, n_frames) for ``format="time"``; for ``format="joint"`` a
        dict of ``"order0"``, ``"order1"`` and ``"order2"`` (see the class docstring).

        Raises
        ------
        ParameterError
            A non-float, complex or wrongly shaped ``x`` (channels-last: pass ``x.T``);
            NaN/inf in ``x`` only for concrete input: under ``jax.jit`` values cannot be
            inspected (wrap with `jaxmusic.checked`).
        """
        check_signal(x, length=self.shape)
        x = upcast(x)  # half precision: compute in float32
        plan = self._plan
        batch = x.shape[:-1]
        xb = jnp.reshape(x, (-1, self.shape))
        chunk = self.chunk_size
        if chunk is None:
            chunk = max(1, CHUNK_BYTES // max(1, plan.bytes_per_signal))
        if xb.shape[0] == 0:  # no signal: the output's shape, from one signal's
            out = empty_batch(lambda c: _apply(plan, int(chunk), self.format, self.filters, c), xb)
        else:
            out = _apply(plan, int(chunk), self.format, self.filters, xb)
        out = jax.tree_util.tree_map(lambda a: jnp.reshape(a, batch + a.shape[1:]), out)
        return check_output(out, x, name="x", what="scattering coefficients")


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _apply(plan: _Plan, chunk: int, fmt: str, filt: dict, xb: jnp.ndarray):
    """The transform of a batch (B, shape), ``chunk`` signals at a time (``jax.lax.map``).

    Jitted on its own so that eager calls run one compiled program (cached per plan and
    input shape); under an outer ``jit``/``grad``/``vmap`` it is inlined.
    """
    B = xb.shape[0]
    if B <= chunk:
        s01, s2 = _transform(plan, filt, xb)
    else:
        n_full = B // chunk
        head = xb[: n_full * chunk].reshape(n_full, chunk, xb.shape[-1])
        s01, s2 = jax.lax.map(lambda c: _transform(plan, filt, c), head)
        s01 = s01.reshape((n_full * chunk,) + s01.shape[2:])
        s2 = tuple(a.reshape((n_full * chunk,) + a.shape[2:]) for a in s2)
        if B % chunk:
            t01, t2 = _transform(plan, filt, xb[n_full * chunk :])
            s01 = jnp.concatenate([s01, t01], axis=0)
            s2 = tuple(jnp.concatenate([a, b], axis=0) for a, b in zip(s2, t2))
    n_frames = s01.shape[-1]
    if fmt == "time":
        flat = [s01] + [a.reshape(a.shape[0], -1, n_frames) for a in s2]
        return jnp.concatenate(flat, axis=1)
    # the (octave, chroma) lattice, sampled every stride_F bins (one row for F="global")
    st = plan.stride_F
    n_pos = plan.L // st if plan.F != "global" else 1
    lattice = []
    for o2, a in zip(plan.order2, s2):
        first = plan.positions(o2)[0]
        a = jnp.pad(a, [(0, 0)] * 3 + [(0 if first is None else first // st, 0), (0, 0)])
        shape = (plan.n_oct, plan.Q // st) if plan.F != "global" else (1, 1)
        assert a.shape[3] == n_pos
        lattice.append(a.reshape(a.shape[:3] + shape + (n_frames,)))
    order2 = jnp.stack(lattice, axis=1)
    return {"order0": s01[:, :1], "order1": s01[:, 1:], "order2": order2}
