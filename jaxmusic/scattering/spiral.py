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

How it is computed
------------------
Order 0/1 reuse Scattering1D's plan (filters folded on the period grid, one real FFT per
modulus). For each time wavelet ``psi_j2``, the first-order spectra of the active bins
are folded to the resolution ``min(j2, log2 T)`` and restricted to the band where
``psi_j2`` is non-negligible; the chroma filters are one real matrix product (the two
spins of a wavelet share it: ``h_{-} = conj(h_{+})``), the octave filters three shifted
sums; then one inverse FFT, the modulus, a real FFT and the folded low-pass. Batches are
processed in chunks (``jax.lax.map``) so that the largest intermediate stays near
``CHUNK_BYTES``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_choice, check_int, check_signal
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
from ._common import SUPPORT_TOL, support_blocks
from .time import _lowpass, _scale, gather_paths, scatter_orders
from .time import _build as _build_time

__all__ = ["SpiralScattering", "chroma_filter_bank", "octave_filter_bank", "CHUNK_BYTES"]

#: Default memory target (bytes) of the intermediates of one chunk of signals.
CHUNK_BYTES = 1 << 30

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
    ``K2``; ``band = (lo, width)`` is the circular range of their non-negligible
    frequencies (``None``: all). The chroma stage (leaf ``chroma_key``) outputs
    lattice rows ``[e0, L)``, the octave stage rows ``[o0, L)``.
    """

    n2: int
    j2: int
    K2: int
    srcs: tuple[_Src, ...]
    band: tuple[int, int] | None
    gamma_in: tuple[int, ...]
    e0: int
    o0: int
    chroma_key: str
    phi_key: str
    phi_blocks: tuple[int, ...]


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

    @property
    def n_chroma(self) -> int:
        return 1 + 2 * len(self.chroma)


def _circular_band(mask: np.ndarray) -> tuple[int, int]:
    """Smallest circular range ``[lo, lo + width)`` covering the True entries."""
    n = mask.size
    idx = np.nonzero(mask)[0]
    if idx.size == 0:
        return 0, 1
    # the largest circular gap of False entries is left out
    gaps = np.diff(np.concatenate([idx, idx[:1] + n]))
    g = int(np.argmax(gaps))
    lo = int(idx[(g + 1) % idx.size])
    width = n - int(gaps[g]) + 1
    return lo, width


def _default_J_chroma(Q1: int) -> int:
    return max(0, int(round(math.log2(Q1 / 3)))) if Q1 >= 3 else 0


@functools.lru_cache(maxsize=16)
def _build(J: int, N_input: int, Q: tuple[int, int], T, J_chroma: int):
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
        srcs, gamma_in, mask = [], [], np.zeros(m_out, bool)
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
            a = np.abs(filt).max(axis=0)
            mask |= a > SUPPORT_TOL * a.max()
            srcs.append(_Src(K1, tuple(r for r, _ in items), blocks, key))
            gamma_in.extend(L - 1 - n for _, n in items)
        lo, width = _circular_band(mask)
        band = None if width > 0.75 * m_out else (lo, width)
        out = [g for g in range(L) if j1_lat[g] < j2]
        o0 = out[0]
        if out != list(range(o0, L)):
            raise AssertionError("active lattice positions are not a top block")
        e0 = max(0, o0 - Q1)
        # chroma matrices on the spiral: rows gamma_e in [e0, L), columns gamma_in
        d = (np.arange(e0, L)[:, None] - np.array(gamma_in)[None, :]) % Nd
        C = [low[d]] + [w[d].real for w in wav] + [w[d].imag for w in wav]
        ckey = f"chroma_n{n2}"
        leaves[ckey] = np.stack(C)
        phi_key = f"phi2_K{K2}"
        if average == "local":
            h = bank.phi_level(K2)
            phi_blocks = support_blocks(h, N // 2**log2_stride)
            leaves[phi_key] = h.reshape(-1, N // 2**log2_stride)[list(phi_blocks)] / 2 ** (
                log2_stride - K2
            )
        else:
            phi_blocks = ()
        order2.append(
            _Order2(n2, j2, K2, tuple(srcs), band, tuple(gamma_in), e0, o0, ckey, phi_key, phi_blocks)
        )
        n_c = 1 + 2 * len(chroma)
        # complex outputs and their moduli/real spectra, a few copies alive at once
        nbytes = max(nbytes, 3 * 8 * n_c * 3 * (L - o0) * m_out)
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


def _spiral_order2(plan: _Plan, o2: _Order2, spectra, filt) -> jnp.ndarray:
    """Spiral paths of one time wavelet: (B, n_chroma, 3, L - o0, n_frames)."""
    tplan = plan.time
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
    M2 = V.shape[-1]
    if o2.band is not None:
        lo, width = o2.band
        V = jnp.roll(V, -lo, axis=-1)[..., :width]

    # chroma stage: one real matrix product for the low-pass and both spins of each wavelet
    C = filt[o2.chroma_key].astype(V.real.dtype)  # (1 + 2n, n_e, n_in)
    n = (C.shape[0] - 1) // 2
    Zr = jnp.einsum("rea,abm->brem", C, V.real)
    Zi = jnp.einsum("rea,abm->brem", C, V.imag)
    z0 = _complex(Zr[:, :1], Zi[:, :1])
    if n:
        Ar, Ai, Br, Bi = Zr[:, 1 : 1 + n], Zi[:, 1 : 1 + n], Zr[:, 1 + n :], Zi[:, 1 + n :]
        up = _complex(Ar - Bi, Ai + Br)  # (A + iB) V
        down = _complex(Ar + Bi, Ai - Br)  # (A - iB) V
        Z = jnp.concatenate([z0, up, down], axis=1)
    else:
        Z = z0  # (B, n_c, n_e, m)

    # octave stage: three-point Fourier family across octaves (zero beyond the lattice)
    Q, L = plan.Q, plan.L
    n_o = L - o2.o0
    pad_lo = o2.e0 - (o2.o0 - Q)
    Zp = jnp.pad(Z, ((0, 0), (0, 0), (pad_lo, Q), (0, 0)))
    zc, zdn, zup = Zp[:, :, Q : Q + n_o], Zp[:, :, :n_o], Zp[:, :, 2 * Q : 2 * Q + n_o]
    s, d = zup + zdn, zup - zdn
    rot = _complex(-d.imag, d.real) * _SQRT3_2  # i * sqrt(3)/2 * d
    base = zc - 0.5 * s
    Y = jnp.stack([zc + s, base + rot, base - rot], axis=2) * (1.0 / 3.0)  # (B, n_c, 3, n_o, m)

    if o2.band is not None:
        lo, width = o2.band
        Y = jnp.pad(Y, [(0, 0)] * 4 + [(0, M2 - width)])
        Y = jnp.roll(Y, lo, axis=-1)
    u = jnp.abs(jnp.fft.ifft(Y, axis=-1))
    shape = u.shape
    u = u.reshape(shape[0], -1, M2)
    if plan.average == "local":
        s_ = _lowpass(jnp.fft.rfft(u, axis=-1), M2, o2.phi_blocks, filt[o2.phi_key])
        res = tplan.log2_stride
        s_ = s_[..., tplan.ind_start[res] : tplan.ind_end[res]]
    else:
        s_ = jnp.sum(u, axis=-1, keepdims=True)
    return s_.reshape(shape[:-1] + s_.shape[-1:])


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
      ``gamma`` ascending (from the lowest active bin up). See `meta`.
    * ``format="joint"``: a dict with ``"order0"`` ``(..., 1, n_frames)``, ``"order1"``
      ``(..., n1, n_frames)`` and ``"order2"`` ``(..., n_j2, n_chroma, 3, n_oct, Q,
      n_frames)`` on the full (octave, chroma) lattice, zero where a path does not exist
      (``j2 <= j1``) — the same numbers as ``"time"``.

    Examples
    --------
    >>> S = SpiralScattering(J=8, shape=2**16, Q=12)
    >>> Sx = jax.jit(S)(x)                # (..., S.output_size(), 2**16 // 2**8)
    >>> m = S.meta(); m["octave_spin"], m["chroma_spin"]
    """

    J: int = static_field()
    shape: int = static_field()
    Q: Any = static_field()
    T: Any = static_field(default=None)
    J_chroma: Any = static_field(default=None, kw_only=True)
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
        for name, value in (("J", J), ("shape", shape), ("Q", Q), ("J_chroma", J_chroma)):
            object.__setattr__(self, name, value)
        if self.filters is None:
            _, tleaves, sleaves = _build(J, shape, Q, self.T, J_chroma)
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
        return _build(self.J, self.shape, self.Q, self.T, self.J_chroma)[0]

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
        n2 = sum(plan.n_chroma * 3 * (plan.L - o2.o0) for o2 in plan.order2)
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
        * ``key``: a tuple per path: ``()``, ``(n1,)``, or ``(n2, c, o, gamma)``.
        """
        plan = self._plan
        paths = list(plan.time.order_paths)
        rows = []  # (n2, c, o, gamma)
        for o2 in plan.order2:
            for c in range(plan.n_chroma):
                for o in range(3):
                    rows.extend((o2.n2, c, o, g) for g in range(o2.o0, plan.L))
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
        for k, (n2, c, o, g) in enumerate(rows):
            i = len(paths) + k
            put_bin(i, g)
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
        check_signal(x, length=self.shape)
        plan = self._plan
        batch = x.shape[:-1]
        xb = jnp.reshape(x, (-1, self.shape))
        B = xb.shape[0]
        chunk = self.chunk_size
        if chunk is None:
            chunk = max(1, CHUNK_BYTES // max(1, plan.bytes_per_signal))
        filt = self.filters
        if B <= chunk:
            s01, s2 = _transform(plan, filt, xb)
        else:
            n_full = B // chunk
            head = xb[: n_full * chunk].reshape(n_full, chunk, self.shape)
            s01, s2 = jax.lax.map(lambda c: _transform(plan, filt, c), head)
            s01 = s01.reshape((n_full * chunk,) + s01.shape[2:])
            s2 = tuple(a.reshape((n_full * chunk,) + a.shape[2:]) for a in s2)
            if B % chunk:
                t01, t2 = _transform(plan, filt, xb[n_full * chunk :])
                s01 = jnp.concatenate([s01, t01], axis=0)
                s2 = tuple(jnp.concatenate([a, b], axis=0) for a, b in zip(s2, t2))
        n_frames = s01.shape[-1]
        if self.format == "time":
            flat = [s01] + [a.reshape(a.shape[0], -1, n_frames) for a in s2]
            out = jnp.concatenate(flat, axis=1)
            return jnp.reshape(out, batch + out.shape[1:])
        lattice = []
        for o2, a in zip(plan.order2, s2):
            a = jnp.pad(a, [(0, 0)] * 3 + [(o2.o0, 0), (0, 0)])
            lattice.append(a.reshape(a.shape[:3] + (plan.n_oct, plan.Q, n_frames)))
        order2 = jnp.stack(lattice, axis=1)
        return {
            "order0": jnp.reshape(s01[:, :1], batch + (1, n_frames)),
            "order1": jnp.reshape(s01[:, 1:], batch + (s01.shape[1] - 1, n_frames)),
            "order2": jnp.reshape(order2, batch + order2.shape[1:]),
        }
