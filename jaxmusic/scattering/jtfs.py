r"""Joint time-frequency scattering (JTFS), number for number with kymatio's main branch.

Given the scalogram :math:`X(t, \lambda) = |x \star \psi_\lambda|(t)`,

.. math::

    S_0 x(t) = x \star \phi_T(t), \qquad
    S_1 x(t, \lambda) = X \star \phi_T \star \psi^{fr}_{\ell, s}(t, \lambda),

    S_2 x(t, \lambda, \mu, \ell, s)
        = \big| X \star \psi_\mu \star \psi^{fr}_{\ell, s} \big|
          \star \phi_T \star \phi_F(t, \lambda),

where :math:`\psi^{fr}_{\ell, s}` are Morlet wavelets along log-frequency spun up
(:math:`s = +1`) and down (:math:`s = -1`), plus their low-pass (:math:`s = 0`),
and :math:`\phi_F` averages over ``F`` first-order paths. At first order only
spins 0 and +1 are computed (the scalogram is real); the spin +1 paths are
modulus of the frequential wavelet transform, without frequential averaging
beyond that of their own filter, exactly as kymatio does.

How it is computed
------------------
* Time: one real FFT of the padded signal; first-order paths at the coarsest
  resolution their wavelet allows (filter blocks of the period grid, as in
  `jaxmusic.scattering.time`), grouped by resolution; second-order paths
  :math:`U_1 \star \psi_\mu` grouped by the scale ``j2`` of :math:`\psi_\mu`, so
  that every ``(n2, n1)`` pair of one scale is one array ``(n2, n1, time)``.
* Frequency: every operator along the (short) log-frequency axis is a small
  matrix built once in float64 from kymatio's recipe (zero-pad, FFT, filter,
  periodise, inverse FFT, in closed form). The frequential wavelet transform of
  a group is one real GEMM for all its filters and time samples; a spin -1
  filter that is the conjugate of its spin +1 twin reuses the twin's products.
  Frequential averaging, unpadding and row selection are one more matrix, applied
  filter by filter to the moduli *before* time averaging (the two commute), so
  only the few output rows are low-passed in time, not every modulus.
* Only what reaches the output is computed: rows of the frequential transform
  that weigh less than ``SUPPORT_TOL`` in every output row are skipped, and
  second-order paths are modulated and averaged on the window of time samples
  within reach (``SUPPORT_TOL``) of the unpadded frames.
* On CPU the second-order stage is bound by memory traffic, so it runs in tiles
  (time blocks x chunks of one filter's rows) whose products and moduli stay in
  cache (``jax.lax.scan``); a batch runs in equal chunks of signals
  (``jax.lax.map``, see ``chunk_size``): one compiled program whatever the batch.

The departures from kymatio's arithmetic are neglected filter tails below
``SUPPORT_TOL = 1e-10`` of their peak (or of their L1 mass), far below float32
precision: against kymatio in float64 the relative error is about 1e-10.

Output order: paths come as kymatio's arrays list them, in the order its
``TimeFrequencyScattering`` generates them (order 0; then order 1 by ``n_fr``,
then ``n1``; then order 2 by ``n2``, ``n_fr``, ``n1``). Kymatio's ``meta()``
sorts its paths by their key ``n`` instead, which for ``format="time"`` is not
the order of its output; our `meta` describes our rows (sorted by ``key`` it
equals kymatio's ``meta()``).

Kymatio quirks reproduced for compatibility: ``N_input_fr = (J + 1) * Q1`` (not the
number of first-order wavelets) sets the frequential padding and the largest
``F``; with ``format="time"`` and a frequential stride below ``2**J_fr``, the
spin-0 paths keep ``ceil(n1_max / 2**J_fr)`` rows of an array sampled every
``stride_fr`` rows and label them ``n1 = 0, 2**J_fr, ...`` (kymatio's
``n1_stride`` for spin 0 ignores ``stride_fr``). Configurations on which kymatio
fails (second-order scales beyond ``T``, joint format with unequal frequential
sampling, a frequential stride that does not divide the padding) raise
`ParameterError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import defaultdict
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_output, check_signal, upcast
from .._pytree import pytree_dataclass, static_field
from ..filters.frequential import frequential_lowpass, frequential_padding, spinned_filter_bank
from ..filters.morlet import ALPHA, R_PSI, SIGMA0, periodize, scattering_filter_bank
from ._common import (
    SUPPORT_TOL,
    border_indices,
    empty_batch,
    log2_int,
    parse_stride,
    parse_T,
    plan_padding,
    reflect_pad,
    spectrum_block,
    support_blocks,
)
from .time import _lowpass, _scale

__all__ = ["TimeFrequencyScattering"]

#: Largest padded log-frequency axis (rows) a plan may ask for.
MAX_FREQUENTIAL_ROWS = 2**15

#: Memory target (bytes) of the intermediates of one chunk of signals, per backend.
CHUNK_BYTES = {"cpu": 512 << 20}
CHUNK_BYTES_DEFAULT = 4 << 30


# --------------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class _Fold1:
    """First-order wavelets applied to the signal spectrum: output at resolution
    ``k`` (log2 subsampling), one row per wavelet ``n1s``, filter blocks per row."""

    k: int
    n1s: tuple[int, ...]
    blocks: tuple[tuple[int, ...], ...]
    key: str


@dataclasses.dataclass(frozen=True)
class _Fold2:
    """Second-order wavelets (``n2s`` of one group) applied to the first-order
    spectra at resolution ``K1`` (rows ``rows`` of that array), on shared blocks."""

    K1: int
    rows: tuple[int, ...]
    blocks: tuple[int, ...]
    key: str


@dataclasses.dataclass(frozen=True)
class _Freq:
    """Frequential stage of one group of paths sharing ``n1_max`` first-order rows.

    ``W`` (key ``w_key``) maps the ``n1_max`` rows to the kept rows of every
    frequential filter (complex); ``A`` (key ``a_key``) maps those, after the
    modulus and time averaging, to the output rows (real): frequential averaging,
    unpadding and row selection. ``out`` lists, per filter in output order,
    ``(n_fr, n_rows, n1_stride)``. The first ``n_pair`` rows of ``W`` also serve
    their spin -1 twins (through ``conj(W)``); see `_freq_group` for ``A``'s columns.

    ``A``'s rows are stored filter by filter in the order of ``W``'s rows (a filter's
    outputs, then its twin's), so that a tile of rows of ``W`` feeds a contiguous
    window of them; ``unperm`` restores the output order and ``segments`` lists
    ``(row0, row1, out0, out1)``: rows of ``W`` and the rows of ``A`` they feed.
    The first ``n_out_pair`` rows of ``A`` are fed by the paired rows.
    """

    n1_max: int
    w_key: str
    a_key: str
    out: tuple[tuple[int, int, int], ...]
    n_pair: int
    n_out_pair: int
    unperm: tuple[int, ...]
    segments: tuple[tuple[int, int, int, int], ...]


@dataclasses.dataclass(frozen=True)
class _Group2:
    """Second-order paths whose temporal wavelets share the scale ``j2``."""

    j2: int
    n2s: tuple[int, ...]
    folds: tuple[_Fold2, ...]
    freq: _Freq
    # time window (local averaging): samples a .. a+L at resolution j2 hold
    # every input of the kept outputs; the low-pass on L samples (blocks, key),
    # then outputs k0:k1 of it are the unpadded frames
    window: tuple[int, int, int, int, tuple[int, ...], str] | None


@dataclasses.dataclass(frozen=True)
class _Plan:
    N_input: int
    N: int
    pad_left: int
    pad_right: int
    log2_stride: int
    ind_start: tuple[int, ...]
    ind_end: tuple[int, ...]
    average: str
    average_fr: str | None
    format: str
    N_fr: int
    folds1: tuple[_Fold1, ...]
    u1_rows: tuple[tuple[int, tuple[int, ...]], ...]  # per resolution K1: n1 of each row
    lowpass: tuple[tuple[int, tuple[int, ...], str], ...]  # (K, blocks, key)
    freq1: _Freq
    groups2: tuple[_Group2, ...]
    # output: permutation from the concatenated pieces to kymatio's order, and the keys
    perm: tuple[int, ...]
    keys: tuple[tuple[int, ...], ...]
    orders: tuple[int, ...]
    n_freq: int  # joint format: rows per path
    wavelets: tuple[tuple[tuple[float, float, int], ...], ...]  # psi1, psi2: (xi, sigma, j)
    wavelets_fr: tuple[tuple[float, float, int], ...]
    chunk_bytes_per_signal: int


def _parse_Q(Q, name: str, max_len: int) -> tuple[int, ...]:
    if isinstance(Q, (tuple, list)):
        Q = tuple(Q)
        if not 1 <= len(Q) <= max_len:
            raise ParameterError(
                f"{name} must be an integer or a tuple of 1 to {max_len} integers, got {Q!r}"
            )
    else:
        Q = (Q,)
    return tuple(check_int(f"{name}[{i}]" if len(Q) > 1 else name, q, min=1) for i, q in enumerate(Q))


def _freq_stage(
    n1_max: int,
    bank_fr,
    phi_F: np.ndarray,
    N_fr: int,
    spins_neg: bool,
    average_fr,
    log2_stride_fr: int,
    fmt: str,
    name: str,
    leaves: dict,
) -> _Freq:
    """Matrices of the frequential stage for ``n1_max`` input rows.

    Every frequential filter ``f`` sampled every ``2**k`` rows is the matrix
    ``W_f[r, n1] = psi_f(r 2**k - n1 mod N_fr)`` (kymatio's zero padding, FFT
    product, periodisation and inverse FFT, in closed form); rows whose weights
    are all below ``SUPPORT_TOL`` of the peak are dropped. A spin -1 filter whose
    matrix is the conjugate of its spin +1 twin's (to 1e-12) is not stored: the
    product with ``conj(W)`` is formed from the same real products ("mirror").
    ``A`` then maps the moduli (direct rows, then mirror rows) to the output rows.
    """
    local = average_fr == "local"
    n_idx = np.arange(n1_max)
    items = []  # (n_fr, W_f kept rows, kept indices, A_f, stride)
    for n_fr, psi in enumerate(bank_fr):
        if psi.xi < 0 and not spins_neg:
            continue
        k = min(psi.j, log2_stride_fr) if local else psi.j
        L = N_fr // 2**k
        psi_t = np.fft.ifft(psi.filter_f)
        W = psi_t[(np.arange(L)[:, None] * 2**k - n_idx[None, :]) % N_fr]  # (L, n1_max)
        if psi.xi == 0:  # spin 0: no frequential averaging; kymatio's n1_stride is 2**j
            stride = 2**psi.j
            A = np.eye(L)
        elif local:
            d = log2_stride_fr - k
            phi_t = np.fft.ifft(periodize(phi_F, k)).real
            L_out = L // 2**d
            A = phi_t[(np.arange(L_out)[:, None] * 2**d - np.arange(L)[None, :]) % L]
            stride = 2**log2_stride_fr
        elif average_fr == "global":
            A = np.ones((1, L))
            stride = n1_max
        else:
            A = np.eye(L)
            stride = 2 ** max(psi.j, 0)
        if fmt == "time":
            n_rows = len(range(0, n1_max, stride))
            if n_rows > A.shape[0]:
                raise ParameterError(
                    f"frequential filter n_fr={n_fr} keeps {A.shape[0]} rows, fewer than the "
                    f"{n_rows} first-order paths it must cover; use a smaller stride_fr or F"
                )
            A = A[:n_rows]
        items.append((n_fr, psi, W, A, stride))

    # pair each spin -1 filter with its spin +1 twin when W_down = conj(W_up)
    mirror_of = {}
    by_xi = {round(psi.xi, 12): i for i, (_, psi, _, _, _) in enumerate(items)}
    for i, (n_fr, psi, W, A, _) in enumerate(items):
        twin = by_xi.get(round(-psi.xi, 12)) if psi.xi < 0 else None
        if twin is not None:
            Wt = items[twin][2]
            if Wt.shape == W.shape and np.abs(W - np.conj(Wt)).max() <= 1e-12 * np.abs(W).max():
                mirror_of[i] = twin
    paired = set(mirror_of.values())
    # rows: paired filters first (their moduli are taken twice), then the others
    order = [i for i in range(len(items)) if i in paired]
    order += [i for i in range(len(items)) if i not in paired and i not in mirror_of]
    rows, offsets, R = [], {}, 0
    for i in order:
        W = items[i][2]
        peak = np.abs(W).max(axis=1)
        # a row is kept when it weighs, through A, at least SUPPORT_TOL of the heaviest
        # row in some output row (of this filter or of its mirror twin)
        keep = np.zeros(len(peak), bool)
        for j in [i] + [j for j, t in mirror_of.items() if t == i]:
            w = np.abs(items[j][3]) * peak[None, :]  # (outputs, rows)
            keep |= (w > SUPPORT_TOL * w.max(axis=1, keepdims=True)).any(axis=0)
        kept = np.nonzero(keep)[0]
        offsets[i] = (R, kept)
        rows.append(W[kept])
        R += len(kept)
    n_pair = sum(len(offsets[i][1]) for i in order if i in paired)
    W_u = np.concatenate(rows, axis=0)
    # columns of A: direct moduli of the paired rows, their mirror moduli, then the others
    A_all = np.zeros((sum(it[3].shape[0] for it in items), R + n_pair))
    out, r0, first = [], 0, {}
    for i, (n_fr, psi, W, A, stride) in enumerate(items):
        c0, kept = offsets[mirror_of.get(i, i)]
        if i in mirror_of:
            c0 += n_pair
        elif c0 >= n_pair:
            c0 += n_pair
        A_all[r0 : r0 + A.shape[0], c0 + np.arange(len(kept))] = A[:, kept]
        out.append((n_fr, A.shape[0], stride))
        first[i] = r0
        r0 += A.shape[0]
    # rows of A in the order of W's rows: each filter's outputs, then its twin's
    perm, segments = [], []
    for i in order:
        R0, kept = offsets[i]
        o0 = len(perm)
        for j in [i] + [j for j, t in mirror_of.items() if t == i]:
            perm.extend(range(first[j], first[j] + items[j][3].shape[0]))
        segments.append((R0, R0 + len(kept), o0, len(perm)))
    n_out_pair = sum(items[j][3].shape[0] for j in range(len(items)) if j in paired or j in mirror_of)
    assert sorted(perm) == list(range(A_all.shape[0]))
    leaves[f"W_{name}"] = W_u
    leaves[f"A_{name}"] = A_all[perm]
    unperm = tuple(int(k) for k in np.argsort(perm))
    return _Freq(n1_max, f"W_{name}", f"A_{name}", tuple(out), n_pair, n_out_pair, unperm,
                 tuple(segments))


def _nice_size(n: int) -> int:
    """Smallest integer >= n whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _time_window(h_f: np.ndarray, D: int, i0: int, i1: int, name: str, leaves: dict):
    """Plan the low-pass (``h_f``, length ``T``) + subsampling by ``D`` of outputs
    ``i0 .. i1`` on a window of the input instead of the whole period.

    The kernel ``h = ifft(h_f)`` is cut where its tail holds less than
    ``SUPPORT_TOL`` of its L1 mass; the window covers the inputs of the kept
    outputs and has a fast FFT length. Returns None when no window is shorter.
    """
    T = h_f.shape[-1]
    h = np.fft.ifft(h_f).real
    a_h = np.abs(h)
    dist = np.minimum(np.arange(T), T - np.arange(T))
    order = np.argsort(dist, kind="stable")
    tail = a_h.sum() - np.cumsum(a_h[order])
    H = int(dist[order][np.argmax(tail <= SUPPORT_TOL * a_h.sum())])
    lo, hi = i0 * D - H, (i1 - 1) * D + H
    a = (lo // D) * D
    L = D * _nice_size(-(-(hi - a + 1) // D))
    if a < 0 or a + L > T or 2 * H + 1 > L:  # no shorter window inside the period
        return None
    h_w = np.zeros(L)
    taus = np.arange(-H, H + 1)
    h_w[taus % L] = h[taus % T]
    phi_w = np.fft.fft(h_w).real
    m = L // D
    blocks = support_blocks(phi_w, m)
    key = f"phiw_{name}"
    leaves[key] = phi_w.reshape(D, m)[list(blocks)] / D
    return (a, L, i0 - a // D, i1 - a // D, blocks, key)


@functools.lru_cache(maxsize=16)
def _build(J, J_fr, N_input, Q, T, Q_fr, F, stride, stride_fr, fmt):
    # ---- time configuration (kymatio's ScatteringBase1D)
    T_val, average = parse_T(T, J, N_input)
    if average is None:
        raise ParameterError(
            "T=0 (no time averaging) cannot give an array output: paths would have "
            "different lengths; pass T=None, an integer >= 1, or 'global'"
        )
    log2_T = int(math.floor(math.log2(T_val)))
    log2_stride = parse_stride(stride, average, T, T_val)
    N, pad_left, pad_right = plan_padding(N_input, T_val)
    bank = scattering_filter_bank(N, J, Q, T_val, sigma0=SIGMA0, alpha=ALPHA, r_psi=R_PSI)
    psi1, psi2 = bank.psis
    if len(psi1) == 0 or len(psi2) == 0:
        raise ParameterError(f"J={J} and Q={Q} give an empty wavelet bank")
    for a in psi1:
        for b in psi2:
            if a.j < b.j and not a.xi > b.xi:
                raise ParameterError(
                    f"Q={Q}: a second-order wavelet (xi={b.xi:.4g}, j={b.j}) is coarser than a "
                    f"first-order one (xi={a.xi:.4g}, j={a.j}) yet higher in frequency; "
                    "use Q[1] <= Q[0]"
                )
    local = average == "local"
    s = log2_stride
    j1s = [w.j for w in psi1]
    pairs = {n2: [n1 for n1, j1 in enumerate(j1s) if j1 < w.j] for n2, w in enumerate(psi2)}
    if local:
        too_fine = sorted({psi2[n2].j for n2, n1s in pairs.items() if n1s and psi2[n2].j > s})
        if too_fine:
            raise ParameterError(
                f"second-order wavelets of scale 2**{too_fine[-1]} cannot be averaged and "
                f"sampled with stride 2**{s} (T={T_val}, stride={stride}); kymatio needs "
                f"T and stride >= 2**{too_fine[-1]}"
            )
    max_level = max(log2_T, J, s, max(j1s), max(w.j for w in psi2))
    ind_start, ind_end = border_indices(max_level, pad_left, pad_left + N_input)

    # ---- frequential configuration (kymatio's TimeFrequencyScatteringBase)
    N_input_fr = (J + 1) * Q[0]
    F_val, average_fr = parse_T(F, J_fr, N_input_fr, name="F")
    if average_fr is not None and float(F_val) != int(F_val):
        raise ParameterError(f"F must be an integer (a number of first-order paths), got {F!r}")
    F_val = int(F_val)
    log2_F = int(math.floor(math.log2(F_val)))
    if stride_fr is None:
        log2_stride_fr = log2_F
    else:
        if average_fr != "local":
            raise ParameterError(f"stride_fr={stride_fr!r} needs local frequential averaging, got F={F!r}")
        log2_stride_fr = log2_int("stride_fr", stride_fr)
    if fmt == "joint" and average_fr is None:
        raise ParameterError(
            "format='joint' needs frequential averaging, got F=0; use format='time' or F >= 1"
        )
    N_fr = frequential_padding(N_input_fr, J_fr, F_val)
    if N_fr > MAX_FREQUENTIAL_ROWS:
        # kymatio accepts any J_fr, padding the log-frequency axis to about 8 * 2**J_fr rows;
        # past this size the frequential wavelets dwarf the (J + 1) * Q[0] first-order paths
        raise ParameterError(
            f"J_fr={J_fr} is too large for the {N_input_fr} first-order paths of J={J}, "
            f"Q={Q[0]}: the log-frequency axis would be padded to {N_fr} rows "
            f"(at most {MAX_FREQUENTIAL_ROWS}); use J_fr <= "
            f"{max(j for j in range(20) if frequential_padding(N_input_fr, j, 2**j) <= MAX_FREQUENTIAL_ROWS)}"
        )
    if average_fr == "local" and N_fr % 2**log2_stride_fr:
        raise ParameterError(
            f"stride_fr={2**log2_stride_fr} (from F={F_val}, stride_fr={stride_fr}) does not divide "
            f"the {N_fr} padded frequential rows; use stride_fr <= 2**J_fr = {2**J_fr}"
        )
    bank_fr = spinned_filter_bank(N_fr, J_fr, Q_fr, sigma0=SIGMA0, alpha=ALPHA, r_psi=R_PSI)
    phi_F = frequential_lowpass(N_fr, F_val, sigma0=SIGMA0)

    leaves: dict[str, np.ndarray] = {}

    # ---- first order: wavelets on the signal spectrum, grouped by (k1, number of blocks)
    pending = defaultdict(list)
    for n1, w in enumerate(psi1):
        k1 = min(w.j, s) if local else w.j
        n_out = N // 2**k1
        b = support_blocks(w.filter_f, n_out)
        pending[(k1, len(b))].append((n1, b, w.filter_f))
    folds1, u1 = [], defaultdict(list)
    for (k1, c), items in sorted(pending.items()):
        key = f"psi1_k{k1}_c{c}"
        n_out = N // 2**k1
        leaves[key] = np.stack([h.reshape(-1, n_out)[list(b)] for _, b, h in items]) / 2**k1
        folds1.append(_Fold1(k1, tuple(i[0] for i in items), tuple(i[1] for i in items), key))
        u1[k1].extend(i[0] for i in items)
    u1_rows = tuple((K, tuple(rows)) for K, rows in sorted(u1.items()))
    row_of = {n1: (K, r) for K, rows in u1_rows for r, n1 in enumerate(rows)}

    # ---- low-pass (time averaging) blocks for every resolution that is averaged
    lowpass = []
    n_T = N // 2**s
    resolutions = {0} | set(u1.keys()) | {psi2[n2].j for n2, n1s in pairs.items() if n1s}
    for K in sorted(resolutions):
        h = bank.phi_level(K)
        b = support_blocks(h, n_T)
        key = f"phi_K{K}"
        leaves[key] = h.reshape(-1, n_T)[list(b)] / 2 ** (s - K)
        lowpass.append((K, b, key))

    # ---- frequential stage of order 1 (spins 0 and +1 only)
    freq1 = _freq_stage(
        len(psi1), bank_fr, phi_F, N_fr, False, average_fr, log2_stride_fr, fmt, "1", leaves
    )

    # ---- second order, grouped by j2
    by_j2 = defaultdict(list)
    for n2, n1s in pairs.items():
        if n1s:
            by_j2[psi2[n2].j].append(n2)
    groups2 = []
    for j2, n2s in sorted(by_j2.items()):
        n1s = pairs[n2s[0]]
        assert all(pairs[n2] == n1s for n2 in n2s)
        n_out = N // 2**j2
        by_K1 = defaultdict(list)
        for n1 in n1s:
            by_K1[row_of[n1][0]].append(n1)
        # rows of Y2 must follow n1 order: resolutions increase with n1
        order = [n1 for K1 in sorted(by_K1) for n1 in by_K1[K1]]
        if order != list(n1s):
            raise ParameterError(f"first-order resolutions are not monotone in n1 for Q={Q}")
        folds = []
        for K1 in sorted(by_K1):
            hs = [periodize(psi2[n2].filter_f, K1) for n2 in n2s]
            blocks = sorted(set().union(*(support_blocks(h, n_out) for h in hs)))
            key = f"psi2_j{j2}_K{K1}"
            leaves[key] = np.stack([h.reshape(-1, n_out)[blocks] for h in hs]) / 2 ** (j2 - K1)
            rows = tuple(row_of[n1][1] for n1 in by_K1[K1])
            folds.append(_Fold2(K1, rows, tuple(blocks), key))
        freq = _freq_stage(
            len(n1s), bank_fr, phi_F, N_fr, True, average_fr, log2_stride_fr, fmt,
            f"2_j{j2}", leaves,
        )
        window = None
        if local:
            window = _time_window(
                bank.phi_level(j2), 2 ** (s - j2), ind_start[s], ind_end[s], f"j{j2}", leaves
            )
        groups2.append(_Group2(j2, tuple(n2s), tuple(folds), freq, window))

    # ---- output order (kymatio sorts paths by (len(n), n))
    # entries: (order, kymatio's key n, position in kymatio's output) in the order of
    # the concatenated pieces. Kymatio's output lists the paths as it generates them
    # (order; then n2; then n_fr; then the n1 rows), which for format="time" is not
    # the (len(n), n) order of its meta(); we follow the output and label it truly.
    entries = []
    if fmt == "time":
        entries.append((0, (), ()))
        for n_fr, n_rows, stride_ in freq1.out:
            entries.extend((1, (i * stride_, n_fr), (n_fr, i)) for i in range(n_rows))
        for g in groups2:
            for n2 in g.n2s:
                for n_fr, n_rows, stride_ in g.freq.out:
                    entries.extend((2, (i * stride_, n2, n_fr), (n2, n_fr, i)) for i in range(n_rows))
        n_freq = 0
    else:
        sizes = {n_rows for n_fr, n_rows, _ in freq1.out}
        sizes |= {n_rows for g in groups2 for n_fr, n_rows, _ in g.freq.out}
        if len(sizes) != 1:
            raise ParameterError(
                f"format='joint' needs every path sampled alike in frequency, but F={F!r}, "
                f"stride_fr={stride_fr!r} and J_fr={J_fr} give {sorted(sizes)} rows; use "
                f"stride_fr <= 2**J_fr and a local F (or format='time')"
            )
        (n_freq,) = sizes
        entries.extend((1, (n_fr,), (n_fr,)) for n_fr, _, _ in freq1.out)
        for g in groups2:
            for n2 in g.n2s:
                entries.extend((2, (n2, n_fr), (n2, n_fr)) for n_fr, _, _ in g.freq.out)
    perm = sorted(range(len(entries)), key=lambda i: (entries[i][0], entries[i][2]))

    # bytes per signal of the intermediates outside the (tiled) frequential stage
    peak = 32 * N + 24 * sum(len(r) * N // 2**K for K, r in u1_rows)
    peak += 32 * sum(len(g.n2s) * g.freq.n1_max * (N // 2**g.j2) for g in groups2)

    plan = _Plan(
        N_input=N_input,
        N=N,
        pad_left=pad_left,
        pad_right=pad_right,
        log2_stride=s,
        ind_start=ind_start,
        ind_end=ind_end,
        average=average,
        average_fr=average_fr,
        format=fmt,
        N_fr=N_fr,
        folds1=tuple(folds1),
        u1_rows=u1_rows,
        lowpass=tuple(lowpass),
        freq1=freq1,
        groups2=tuple(groups2),
        perm=tuple(perm),
        keys=tuple(entries[i][1] for i in perm),
        orders=tuple(entries[i][0] for i in perm),
        n_freq=n_freq,
        wavelets=tuple(tuple((w.xi, w.sigma, w.j) for w in b) for b in (psi1, psi2)),
        wavelets_fr=tuple((p.xi, p.sigma, p.j) for p in bank_fr),
        chunk_bytes_per_signal=int(peak),
    )
    return plan, leaves


# ------------------------------------------------------------------ array kernels
def _lowpass_of(u: jnp.ndarray, blocks, filt: jnp.ndarray) -> jnp.ndarray:
    """Real signals (..., M) -> low-passed and subsampled (..., m), see `time._lowpass`."""
    return _lowpass(jnp.fft.rfft(u, axis=-1), u.shape[-1], blocks, filt)


def _cabs(re: jnp.ndarray, im: jnp.ndarray) -> jnp.ndarray:
    """Modulus of ``re + i im`` with a finite gradient at zero."""
    return jnp.abs(jax.lax.complex(re, im))


def _tile_rows(backend: str) -> int:
    """Bytes of intermediates per tile of frequential rows: small enough to stay
    in cache on CPU (the stage is memory-bound there), large elsewhere."""
    return 8 << 20 if backend == "cpu" else 1 << 30


def _chunk_rows(sizes, cap: int) -> int:
    """Rows per chunk of the frequential stage: each filter's rows are cut into
    chunks of equal (padded) size, chosen to waste few padded rows and few chunks."""
    best = None
    for rb in range(1, max(1, min(cap, max(sizes))) + 1):
        n = sum(-(-k // rb) for k in sizes)
        cost = n * rb + 4 * n
        if best is None or cost < best[0]:
            best = (cost, rb)
    return best[1]


def _time_blocks(T: int, max_len: int) -> int:
    """Fewest blocks of equal length (dividing ``T``) of at most ``max_len`` samples."""
    for nt in range(1, T + 1):
        if T % nt == 0 and T // nt <= max_len:
            return nt
    return T


def _freq_pass(Yb, lead: int, Tb: int, complex_in: bool, W, A, mirror: bool, segments, rb: int):
    """``A @ |W @ Y|`` (with mirror moduli ``|conj(W) @ Y|``) of one pass, see `_freq_group`.

    Yb : (nt, P, lead*2*Tb) (real and imaginary parts) or (nt, P, lead*Tb), time
    blocks of the rows. Each filter's rows (``segments``: W rows ``r0:r1`` feed A rows
    ``o0:o1``) are cut into chunks of ``rb`` rows; one step of the loop forms one
    chunk's products and moduli on one time block and contracts them with the
    filter's few rows of ``A`` (which is block-diagonal by filter). Time blocks are
    the outer loop, so a block of ``Y`` stays in cache while every chunk reads it.
    Returns (R_out, lead, nt*Tb) at full time resolution.
    """
    nt, P = Yb.shape[:2]
    R = W.shape[0]
    R_out = A.shape[0]
    ncol = 2 if mirror else 1
    rdt = Yb.dtype
    segs = [sg for sg in segments if sg[1] > sg[0]]
    n_o = max(o1 - o0 for _, _, o0, o1 in segs)
    rows, outs, seg_of = [], [], []
    for k, (r0, r1, o0, o1) in enumerate(segs):
        for a in range(r0, r1, rb):
            rows.append([r if r < r1 else R for r in range(a, a + rb)])  # R: a zero row
            outs.append([o if o < o1 else R_out for o in range(o0, o0 + n_o)])
            seg_of.append(k)
    rows, outs = np.asarray(rows), np.asarray(outs)
    n_c = len(rows)
    Wp = jnp.concatenate([W, jnp.zeros((1, P), W.dtype)])[rows]  # (n_c, rb, P)
    Ws = jnp.concatenate([Wp.real, Wp.imag], axis=1).astype(rdt)  # (n_c, 2rb, P)
    cols = np.concatenate([rows + c * R for c in range(ncol)], axis=1)
    cols = np.where(np.concatenate([rows] * ncol, axis=1) == R, ncol * R, cols)
    Ap = jnp.pad(A.astype(rdt), ((0, 1), (0, 1)))
    As = Ap[outs[:, :, None], cols[:, None, :]]  # (n_c, n_o, ncol*rb)

    def step(_, tc):
        t, c = tc // n_c, tc % n_c
        y = jax.lax.dynamic_index_in_dim(Yb, t, keepdims=False)
        ws = jax.lax.dynamic_index_in_dim(Ws, c, keepdims=False)
        a = jax.lax.dynamic_index_in_dim(As, c, keepdims=False)
        if complex_in:
            Z = (ws @ y).reshape(2, rb, lead, 2, Tb)
            p1, p3, p4, p2 = Z[0, :, :, 0], Z[0, :, :, 1], Z[1, :, :, 0], Z[1, :, :, 1]
            mod = _cabs(p1 - p2, p3 + p4)  # Wr Yr - Wi Yi, Wr Yi + Wi Yr
            if mirror:
                mod = jnp.concatenate([mod, _cabs(p1 + p2, p3 - p4)], axis=0)
        else:
            Z = (ws @ y).reshape(2, rb, lead, Tb)
            mod = _cabs(Z[0], Z[1])
        return None, (a @ mod.reshape(ncol * rb, -1)).reshape(n_o, lead, Tb)

    if nt * n_c == 1:
        ys = step(None, jnp.int32(0))[1][None]
    else:
        _, ys = jax.lax.scan(step, None, jnp.arange(nt * n_c, dtype=jnp.int32))
    ys = ys.reshape(nt, n_c, n_o, lead, Tb)
    ys = jnp.moveaxis(ys, 0, 3).reshape(n_c, n_o * lead * nt * Tb)
    # sum the chunks of each filter, then keep each filter's own output rows
    onehot = np.zeros((len(segs), n_c))
    onehot[np.asarray(seg_of), np.arange(n_c)] = 1
    ys = (jnp.asarray(onehot, rdt) @ ys).reshape(len(segs) * n_o, lead, nt * Tb)
    where = np.full(R_out, len(segs) * n_o)  # outputs fed by no row stay zero
    for k, (_, _, o0, o1) in enumerate(segs):
        where[o0:o1] = k * n_o + np.arange(o1 - o0)
    ys = jnp.concatenate([ys, jnp.zeros((1,) + ys.shape[1:], rdt)])
    return ys[where]


def _freq_group(Y, W, A, fr: _Freq, post, tile_bytes: int):
    """Frequential wavelet transform, modulus, frequential and time averaging of
    one group of paths.

    Y : (..., P, T) real or complex, the ``P`` first-order rows of the group.
    W : (R, P) complex; the moduli of ``W @ Y`` -- and for the first ``fr.n_pair``
        rows also of ``conj(W) @ Y`` (their spin -1 twins) -- are mapped by ``A``
        (R_out, R + n_pair), whose columns are [direct moduli of the paired rows,
        their mirror moduli, the other rows], to the output rows; ``post``
        ((rows, ..., T) -> (rows, ..., T'), linear: time averaging) follows.
    Returns (..., R_out, T') in the order of ``fr.out``.

    ``A`` acts along rows and ``post`` along time, so they commute: time-averaging
    the few output rows instead of every modulus (e.g. 18 rows instead of 530) is
    what makes this stage cheap. It is bound by memory traffic on CPU, so it runs
    in tiles (time blocks x chunks of rows) whose products and moduli stay in cache
    (``tile_bytes``), and every matrix product is a plain 2-d GEMM.
    """
    R, P = W.shape
    n_pair, q = fr.n_pair, fr.n_out_pair
    T = Y.shape[-1]
    lead_shape = Y.shape[:-2]
    lead = int(np.prod(lead_shape, dtype=np.int64))
    complex_in = jnp.iscomplexobj(Y)
    passes = []
    if n_pair:
        seg = [(r0, r1, o0, o1) for r0, r1, o0, o1 in fr.segments if r1 <= n_pair]
        passes.append((W[:n_pair], A[:q, : 2 * n_pair], True, seg))
    if R > n_pair:
        seg = [(r0 - n_pair, r1 - n_pair, o0 - q, o1 - q) for r0, r1, o0, o1 in fr.segments
               if r0 >= n_pair]
        passes.append((W[n_pair:], A[q:, 2 * n_pair :], False, seg))
    # bytes per time sample and row of a chunk: products (2 x complex) and moduli
    per = lambda mirror: 4 * lead * ((8 if complex_in else 2) + (2 if mirror else 1))  # noqa: E731
    cap = max(1, tile_bytes // (per(True) * min(T, 256)))
    rbs = [_chunk_rows([r1 - r0 for r0, r1, _, _ in seg if r1 > r0], cap) for *_, seg in passes]
    max_len = min(tile_bytes // (per(m) * rb) for rb, (_, _, m, _) in zip(rbs, passes))
    nt = _time_blocks(T, max(1, max_len))
    Tb = T // nt
    Yb = Y.reshape(lead, P, nt, Tb)
    if complex_in:
        Yb = jnp.stack([Yb.real, Yb.imag], axis=3)  # (lead, P, nt, 2, Tb)
        Yb = jnp.moveaxis(Yb, (2, 1), (0, 1)).reshape(nt, P, lead * 2 * Tb)
    else:
        Yb = jnp.moveaxis(Yb, (2, 1), (0, 1)).reshape(nt, P, lead * Tb)
    parts = [_freq_pass(Yb, lead, Tb, complex_in, Wp, Ap, m, seg, rb)
             for rb, (Wp, Ap, m, seg) in zip(rbs, passes)]
    out = jnp.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    out = post(out)[np.asarray(fr.unperm)]  # (R_out, lead, T')
    return jnp.moveaxis(out, 0, 1).reshape(lead_shape + (A.shape[0], out.shape[-1]))


def _transform(plan: _Plan, filt: dict, x: jnp.ndarray) -> jnp.ndarray:
    """x (B, N_input) real -> (B, n_paths, n_frames) or (B, n_paths, n_freq, n_frames)."""
    rdt = x.dtype
    cdt = np.result_type(np.dtype(rdt), np.complex64)
    F = {k: (v.astype(cdt) if jnp.iscomplexobj(v) else v.astype(rdt)) for k, v in filt.items()}
    local = plan.average == "local"
    s = plan.log2_stride
    lowpass = {K: (b, key) for K, b, key in plan.lowpass}

    def t_avg(u, K):
        """Time averaging of real u (..., N/2**K) at resolution K, then unpadding."""
        if local:
            blocks, key = lowpass[K]
            v = _lowpass_of(u, blocks, F[key])
            return v[..., plan.ind_start[s] : plan.ind_end[s]]
        return jnp.sum(u, axis=-1, keepdims=True)

    u0 = reflect_pad(x, plan.pad_left, plan.pad_right)
    half0 = jnp.fft.rfft(u0, axis=-1)

    # zeroth order
    if local:
        blocks, key = lowpass[0]
        s0 = _lowpass(half0, plan.N, blocks, F[key])[..., plan.ind_start[s] : plan.ind_end[s]]
    else:
        s0 = jnp.sum(u0, axis=-1, keepdims=True)

    # first order: U1 per resolution, its spectrum, and S1 (time-averaged, at res s)
    by_K = defaultdict(list)
    for fo in plan.folds1:
        m = plan.N // 2**fo.k
        # paths reading the same blocks share their (static) slices of the spectrum
        same = defaultdict(list)
        for p, b in enumerate(fo.blocks):
            same[b].append(p)
        parts, order = [], []
        for b, ps in same.items():
            f = F[fo.key][np.asarray(ps)]  # (P', c, m)
            parts.append(sum(_scale(spectrum_block(half0, plan.N, blk * m, m)[:, None], f[:, i])
                             for i, blk in enumerate(b)))
            order.extend(ps)
        y = jnp.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        if order != sorted(order):
            y = y[:, np.argsort(order)]
        by_K[fo.k].append(jnp.abs(jnp.fft.ifft(y, axis=-1)))
    spectra, s1_parts, s1_order = {}, [], []
    for K, rows in plan.u1_rows:
        u = jnp.concatenate(by_K[K], axis=1) if len(by_K[K]) > 1 else by_K[K][0]
        blocks, key = lowpass[K]
        half = jnp.fft.rfft(u, axis=-1)
        s1_parts.append(_lowpass(half, u.shape[-1], blocks, F[key]))  # (B, P, n_T)
        s1_order.extend(rows)
        spectra[K] = half
    S1 = jnp.concatenate(s1_parts, axis=1) if len(s1_parts) > 1 else s1_parts[0]
    inv = np.argsort(np.asarray(s1_order))
    if not np.array_equal(inv, np.arange(len(inv))):
        S1 = S1[:, inv]
    if local:
        S1 = S1[..., plan.ind_start[s] : plan.ind_end[s]]
    tile_bytes = _tile_rows(jax.default_backend())
    sum_t = (lambda v: v) if local else (lambda v: jnp.sum(v, axis=-1, keepdims=True))
    f1 = plan.freq1
    O1 = _freq_group(S1, F[f1.w_key], F[f1.a_key], f1, sum_t, tile_bytes)

    # second order, one group per j2
    O2 = []
    for g2 in plan.groups2:
        m = plan.N // 2**g2.j2
        parts = []
        for fo in g2.folds:
            half = spectra[fo.K1]
            rows = np.asarray(fo.rows)
            if not np.array_equal(rows, np.arange(half.shape[1])):
                half = half[:, rows]
            n = plan.N // 2**fo.K1
            f = F[fo.key]  # (n2s, c, m)
            parts.append(sum(_scale(spectrum_block(half, n, b * m, m)[:, None], f[None, :, None, i])
                             for i, b in enumerate(fo.blocks)))  # (B, n2s, P, m)
        Y2 = jnp.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
        Y2 = jnp.fft.ifft(Y2, axis=-1)  # (B, n2s, n1_max, T_j2) complex
        fr = g2.freq
        if g2.window is None:
            post = functools.partial(t_avg, K=g2.j2)
        else:  # only the samples that reach the kept frames
            a, L, k0, k1, blocks, key = g2.window
            Y2 = Y2[..., a : a + L]

            def post(v, blocks=blocks, key=key, k0=k0, k1=k1):
                return _lowpass_of(v, blocks, F[key])[..., k0:k1]

        O2.append(_freq_group(Y2, F[fr.w_key], F[fr.a_key], fr, post, tile_bytes))

    B = x.shape[0]
    if plan.format == "time":
        out = [s0[:, None], O1] + [o.reshape(B, -1, o.shape[-1]) for o in O2]
        out = jnp.concatenate(out, axis=1)
        return out[:, np.asarray(plan.perm)]
    nf = plan.n_freq
    out = [O1.reshape(B, -1, nf, O1.shape[-1])] + [o.reshape(B, -1, nf, o.shape[-1]) for o in O2]
    out = jnp.concatenate(out, axis=1)
    return out[:, np.asarray(plan.perm)]


# --------------------------------------------------------------------- transform
@pytree_dataclass
class TimeFrequencyScattering:
    r"""Joint time-frequency scattering, kymatio-compatible (``kymatio`` main branch).

    ``TimeFrequencyScattering(J, J_fr, shape, Q=1, T=None, *, Q_fr=1, F=None,
    stride=None, stride_fr=None, format="time", chunk_size=None)``: the options
    after ``T`` are keyword-only, since kymatio orders its positional arguments
    differently (``J, J_fr, Q, shape, T, stride, Q_fr, ...``).

    Parameters
    ----------
    J : int
        Log2 of the largest temporal wavelet scale (and of the default ``T``).
    J_fr : int
        Log2 of the largest frequential wavelet scale, in first-order paths;
        Any ``J_fr >= 0`` that kymatio accepts, as long as the padded
        log-frequency axis (about ``8 * 2**J_fr`` rows) stays within
        ``MAX_FREQUENTIAL_ROWS``.
    shape : int
        Length of the input signals (any length; padded internally).
    Q : int or tuple of int
        First-order wavelets per octave, or ``(Q1, Q2)``; an int means ``(Q, 1)``.
    T : int, "global" or None
        Temporal averaging: ``None`` is ``2**J``, ``"global"`` sums over time.
    Q_fr : int
        Frequential wavelets per octave.
    F : int, "global", 0 or None
        Frequential averaging over ``F`` first-order paths: ``None`` is
        ``2**J_fr``, ``"global"`` sums over frequency, ``0`` disables it
        (``format="time"`` only). At most ``(J + 1) * Q[0]``.
    stride, stride_fr : int or None
        Temporal and frequential output strides (powers of two); default
        ``2**floor(log2 T)`` and ``2**floor(log2 F)``.
    format : "time" or "joint"
        ``"time"``: every (n1, n2, n_fr) path is a row, output
        ``(..., n_paths, n_frames)`` with order 0 first. ``"joint"``: order 1
        and 2 only, each path an image over ``n1``, output
        ``(..., n_paths, n_freq, n_frames)``; ``n_freq`` covers the zero-padded
        frequency axis, as in kymatio.
    chunk_size : int or None
        Most signals processed at once inside a call: a larger batch goes
        through ``jax.lax.map`` in equal chunks (zero-padded), so one program is
        compiled whatever the batch; ``None`` picks it from the size of the
        intermediates (about 512 MiB of them on CPU, 4 GiB on accelerators).

    Call
    ----
    ``S(x)`` with ``x`` real floating point of shape ``(..., shape)`` returns the
    coefficients in the dtype of ``x``, paths in kymatio's order; see `meta`.
    float16/bfloat16 input is computed in float32; an empty batch ``(0, shape)``
    gives an empty output. NaN/inf in ``x`` raise `ParameterError` only for
    concrete input: under ``jax.jit`` values cannot be inspected (wrap with
    `jaxmusic.checked`).

    Examples
    --------
    >>> S = TimeFrequencyScattering(J=6, J_fr=2, shape=4096, Q=8)
    >>> Sx = jax.jit(lambda S, x: S(x))(S, x)   # (..., S.output_size(), 4096 // 64)
    >>> S.meta()["spin"]                # NaN (order 0), 0, +1 or -1 per path
    """

    J: int = static_field()
    J_fr: int = static_field()
    shape: int = static_field()
    Q: Any = static_field(default=1)
    T: Any = static_field(default=None)
    Q_fr: Any = static_field(default=1, kw_only=True)
    F: Any = static_field(default=None, kw_only=True)
    stride: Any = static_field(default=None, kw_only=True)
    stride_fr: Any = static_field(default=None, kw_only=True)
    format: str = static_field(default="time", kw_only=True)
    chunk_size: Any = static_field(default=None, kw_only=True)
    filters: dict | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self):
        J = check_int("J", self.J, min=0)
        J_fr = check_int("J_fr", self.J_fr, min=0)
        shape = self.shape
        if isinstance(shape, (tuple, list)) and len(shape) == 1:
            shape = shape[0]
        shape = check_int("shape", shape, min=2)
        Q = _parse_Q(self.Q, "Q", 2)
        Q = Q + (1,) * (2 - len(Q))
        (Q_fr,) = _parse_Q(self.Q_fr, "Q_fr", 1)
        if self.format not in ("time", "joint"):
            raise ParameterError(f"format must be 'time' or 'joint', got {self.format!r}")
        if 2**J > shape:
            raise ParameterError(
                f"J={J} is too large for shape={shape}: the largest wavelet (2**J = {2**J} "
                f"samples) must fit in the signal; use J <= {int(math.log2(shape))}"
            )
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size, min=1)
        for name, value in (("J", J), ("J_fr", J_fr), ("shape", shape), ("Q", Q), ("Q_fr", Q_fr)):
            object.__setattr__(self, name, value)
        _, leaves = self._build()  # validates the configuration (cached)
        if self.filters is None:
            object.__setattr__(self, "filters", {k: jnp.asarray(v) for k, v in leaves.items()})

    def _build(self):
        return _build(
            self.J, self.J_fr, self.shape, self.Q, self.T, self.Q_fr, self.F,
            self.stride, self.stride_fr, self.format,
        )

    @property
    def _plan(self) -> _Plan:
        return self._build()[0]

    @property
    def average(self) -> str:
        """Temporal averaging: ``"local"`` or ``"global"``."""
        return self._plan.average

    @property
    def average_fr(self) -> str | None:
        """Frequential averaging: ``"local"``, ``"global"`` or ``None``."""
        return self._plan.average_fr

    @property
    def N_padded(self) -> int:
        return self._plan.N

    @property
    def N_padded_fr(self) -> int:
        return self._plan.N_fr

    def output_size(self, detail: bool = False):
        """Number of paths (the ``n_paths`` axis); with ``detail``, a tuple of
        counts per order (orders 0, 1, 2 for ``format="time"``; 1, 2 for joint)."""
        orders = self._plan.orders
        if detail:
            return tuple(orders.count(o) for o in sorted(set(orders)))
        return len(orders)

    def output_shape(self) -> tuple[int, ...]:
        """Shape of ``S(x)`` for one signal."""
        plan = self._plan
        n_t = 1 if plan.average == "global" else plan.ind_end[plan.log2_stride] - plan.ind_start[plan.log2_stride]
        if plan.format == "time":
            return (len(plan.keys), n_t)
        return (len(plan.keys), plan.n_freq, n_t)

    def meta(self) -> dict[str, Any]:
        """Per-path metadata, as kymatio's ``meta()``.

        Returns a dict of NumPy arrays, one entry per path: ``order``; ``xi``,
        ``sigma``, ``j``, ``n`` of shape (n_paths, 2) (first- and second-order
        temporal wavelets, NaN where absent; with ``format="joint"`` the ``n1``
        column is NaN since ``n1`` runs along the frequency axis); ``n_fr``,
        ``xi_fr``, ``sigma_fr``, ``j_fr`` and ``spin`` of the frequential filter
        (NaN at order 0); and ``key``, the list of kymatio's path tuples.
        """
        plan = self._plan
        C = len(plan.keys)
        meta: dict[str, Any] = {"order": np.array(plan.orders), "key": list(plan.keys)}
        for name in ("xi", "sigma", "j", "n"):
            meta[name] = np.full((C, 2), np.nan)
        for name in ("n_fr", "xi_fr", "sigma_fr", "j_fr"):
            meta[name] = np.full(C, np.nan)
        for i, (order, key) in enumerate(zip(plan.orders, plan.keys)):
            if order == 0:
                continue
            if plan.format == "time":
                ns = (key[0], key[1] if order == 2 else None)
            else:
                ns = (None, key[0] if order == 2 else None)
            n_fr = key[-1]
            for m, n in enumerate(ns):
                if n is None or n >= len(plan.wavelets[m]):
                    continue
                xi, sigma, j = plan.wavelets[m][n]
                meta["xi"][i, m], meta["sigma"][i, m], meta["j"][i, m] = xi, sigma, j
                meta["n"][i, m] = n
            xi, sigma, j = plan.wavelets_fr[n_fr]
            meta["n_fr"][i], meta["xi_fr"][i], meta["sigma_fr"][i], meta["j_fr"][i] = n_fr, xi, sigma, j
        meta["spin"] = np.sign(meta["xi_fr"])
        return meta

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Apply the transform.

        Parameters
        ----------
        x : array, shape (..., shape), real floating point

        Returns
        -------
        array, shape (..., n_paths, n_frames) for ``format="time"`` or
        (..., n_paths, n_freq, n_frames) for ``format="joint"``, dtype of ``x``
        (float32 for half-precision input, which is computed in float32).
        """
        check_signal(x, length=self.shape)
        x = upcast(x)  # half precision: compute in float32
        plan = self._plan
        batch = x.shape[:-1]
        xb = jnp.reshape(x, (-1, self.shape))
        chunk = self.chunk_size
        if chunk is None:
            budget = CHUNK_BYTES.get(jax.default_backend(), CHUNK_BYTES_DEFAULT)
            chunk = max(1, budget // max(1, plan.chunk_bytes_per_signal))
        if xb.shape[0] == 0:  # no signal: the output's shape, from one signal's
            out = empty_batch(lambda c: _apply(plan, int(chunk), self.filters, c), xb)
        else:
            out = _apply(plan, int(chunk), self.filters, xb)
        out = jnp.reshape(out, batch + out.shape[1:])
        return check_output(out, x, name="x", what="scattering coefficients")


@functools.partial(jax.jit, static_argnums=(0, 1))
def _apply(plan: _Plan, chunk: int, filt: dict, xb: jnp.ndarray) -> jnp.ndarray:
    """The transform of a batch (B, N_input), ``chunk`` signals at a time.

    Jitted on its own so that eager calls run one compiled program (cached per
    plan and input shape); under an outer ``jit``/``grad``/``vmap`` it is inlined.
    """
    B = xb.shape[0]
    if B <= chunk:
        return _transform(plan, filt, xb)
    # equal chunks, the batch padded with zeros to whole chunks: one program to compile
    n = -(-B // chunk)
    chunk = -(-B // n)
    xp = jnp.pad(xb, ((0, n * chunk - B), (0, 0)))
    out = jax.lax.map(lambda c: _transform(plan, filt, c), xp.reshape(n, chunk, xb.shape[-1]))
    return out.reshape((n * chunk,) + out.shape[2:])[:B]
