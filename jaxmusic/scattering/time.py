r"""Time scattering of any order, number for number with kymatio's main branch.

.. math::

    S_0 x = x \star \phi_T, \qquad
    S_m x(t, \lambda_1, \dots, \lambda_m)
        = \big|\,\cdots|x \star \psi_{\lambda_1}| \star \cdots \star \psi_{\lambda_m}\big|
          \star \phi_T(t)

How it is computed (what makes it fast while matching kymatio):

* The signal is padded by reflection and transformed once with a real FFT.
* A path whose wavelet tolerates subsampling by ``2**k`` is computed at that
  resolution: its spectrum is the product with the filter, periodised ``2**k``
  times. Only the blocks of the period grid where the filter is non-negligible
  (above ``SUPPORT_TOL`` of its peak) are multiplied and summed, so the cost is
  proportional to the output length, not the input length.
* Paths that share a resolution, a subsampling and a number of blocks are
  gathered into one array and go through one batched FFT.
* A wavelet whose spectrum (at the resolution its path is computed) lives in a
  band of ``B <= n/2`` frequencies is inverted by ``n/B`` FFTs of length ``B``
  (the band times twiddles, one FFT per residue of time modulo ``n/B``) instead
  of one of length ``n``: the phase this drops has modulus one (`_fold_pruned`).
* Every modulus is real, so its spectrum is a real FFT. The last order's moduli
  are low-passed in time (`_lowpass_time`: one GEMM of blocks of ``stride``
  samples with the filter's taps, only for the frames kept), so they need no FFT
  at all; earlier orders' low-pass reads the spectrum the next order needs anyway.
* On CPU a batch runs in chains of a few signals (`in_chains`) stepped through by
  ``lax.map``: small working sets, and one compiled step whatever the batch size.

The only departure from kymatio's arithmetic is the neglected filter tail
(relative magnitude below ``SUPPORT_TOL = 1e-10``), far below float32 precision.
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
from ..filters.morlet import ALPHA, R_PSI, SIGMA0, scattering_filter_bank
from ._common import (
    SUPPORT_TOL,
    border_indices,
    hermitian_spectrum,
    parse_stride,
    parse_T,
    plan_padding,
    reflect_pad,
    support_blocks,
)

__all__ = ["Scattering1D", "SUPPORT_TOL"]


# --------------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class _Group:
    """Paths of one order computed together from one source array.

    ``src`` is the total subsampling (log2) of the source spectra, ``k`` the
    extra subsampling, ``rows`` the rows of the source array each path reads,
    ``blocks`` the period-grid blocks of the filter (one row per path), and
    ``key`` the name of the filter-block array among the leaves.
    """

    src: int
    k: int
    rows: tuple[int, ...]
    blocks: tuple[tuple[int, ...], ...]
    key: str
    filters: tuple[int, ...]  # row of the leaf ``key`` (one per distinct wavelet) for each path
    # a pruned inverse FFT (see `_fold_pruned`): L, B, the twiddles' leaf, each path's offset
    prune: tuple[int, int, str, tuple[int, ...]] | None = None


@dataclasses.dataclass(frozen=True)
class _Plan:
    N: int
    pad_left: int
    pad_right: int
    log2_stride: int
    ind_start: tuple[int, ...]
    ind_end: tuple[int, ...]
    # per order m >= 1: groups, and for each resolution K the paths (tuples of n) in row order
    groups: tuple[tuple[_Group, ...], ...]
    rows: tuple[tuple[tuple[int, tuple[tuple[int, ...], ...]], ...], ...]
    # low-pass blocks per resolution K: (K, blocks, key)
    lowpass: tuple[tuple[int, tuple[int, ...], str], ...]
    # the same low-pass in time, per resolution K: (K, D, key), taps (s, 2D + 1) for blocks of s
    lowpass_time: tuple[tuple[int, int, str], ...]
    order_paths: tuple[tuple[int, ...], ...]  # every path in kymatio's output order
    # (xi, sigma, j) of each wavelet of each order
    wavelets: tuple[tuple[tuple[float, float, int], ...], ...]


@functools.lru_cache(maxsize=32)
def _build(J: int, N_input: int, Q: tuple[int, ...], T, max_order: int, stride):
    T_val, average = parse_T(T, J, N_input)
    log2_T = int(math.floor(math.log2(T_val)))
    log2_stride = parse_stride(stride, average, T, T_val)
    N, pad_left, pad_right = plan_padding(N_input, T_val)
    bank = scattering_filter_bank(N, J, Q, T_val, sigma0=SIGMA0, alpha=ALPHA, r_psi=R_PSI)
    if any(len(b) == 0 for b in bank.psis):
        raise ParameterError(f"J={J} and Q={Q} give an empty wavelet bank")
    local = average == "local"
    max_j = max(max(w.j for w in b) for b in bank.psis)
    ind_start, ind_end = border_indices(max(log2_T, J, max_j), pad_left, pad_left + N_input)

    leaves: dict[str, np.ndarray] = {}
    groups_by_order, rows_by_order = [], []
    # paths at the current order, by resolution K: list of (path, j_last)
    level: dict[int, list[tuple[tuple[int, ...], int]]] = {0: [((), -1)]}
    for m, psis in enumerate(bank.psis[:max_order]):
        pending: dict[tuple[int, int, int], list] = defaultdict(list)
        for K, paths in sorted(level.items()):
            # each wavelet at resolution K: its subsampling, filter and blocks (shared by the rows)
            at_K = []
            for n, psi in enumerate(psis):
                target = min(psi.j, log2_stride) if local else psi.j
                k = max(target - K, 0)
                h = psi.level(K)
                blocks = support_blocks(h, N // 2 ** (K + k))
                band = _band(h.reshape(-1, N // 2 ** (K + k))[blocks[0]]) if len(blocks) == 1 else None
                at_K.append((n, psi.j, k, h, blocks, band))
            for row, (path, j_last) in enumerate(paths):
                for n, j, k, h, blocks, band in at_K:
                    if j > j_last:  # only j_m > j_{m-1} (any j at order 1)
                        B = band[0] if band else 0
                        pending[(K, k, len(blocks), B)].append((row, blocks, h, path + (n,), j, n, band))
        groups, new_level = [], defaultdict(list)
        for (K, k, _c, B), items in sorted(pending.items()):
            key = f"psi{m + 1}_K{K}_k{k}_c{_c}" + (f"_B{B}" if B else "")
            n_out = N // 2 ** (K + k)
            # one copy of each wavelet's blocks; paths point at theirs
            distinct = {i[5]: i for i in items}
            index = {n: r for r, n in enumerate(distinct)}
            if B:  # the band of B frequencies from each wavelet's offset, circularly
                rows = [h.reshape(-1, n_out)[b[0]][(band[1] + np.arange(B)) % n_out]
                        for _, b, h, _, _, _, band in distinct.values()]
                L = n_out // B
                tw_key = f"twiddle_{n_out}_{B}"
                # exp(2 pi i q r / n_out) / L: row r gives the samples r, r + L, r + 2L, ...
                leaves[tw_key] = np.exp(2j * np.pi * np.outer(np.arange(L), np.arange(B)) / n_out) / L
                prune = (L, B, tw_key, tuple(i[6][1] for i in items))
            else:
                rows = [h.reshape(-1, n_out)[list(b)] for _, b, h, _, _, _, _ in distinct.values()]
                prune = None
            leaves[key] = np.stack(rows) / 2**k  # the 1/2**k of the periodisation mean
            groups.append(_Group(K, k, tuple(i[0] for i in items), tuple(i[1] for i in items), key,
                                 tuple(index[i[5]] for i in items), prune))
            new_level[K + k].extend((i[3], i[4]) for i in items)
        groups_by_order.append(tuple(groups))
        level = dict(new_level)
        rows_by_order.append(
            tuple((K, tuple(p for p, _ in paths)) for K, paths in sorted(level.items()))
        )

    lowpass, lowpass_time = [], []
    if local:
        resolutions = {0} | {K for rows in rows_by_order for K, _ in rows}
        for K in sorted(resolutions):
            n_out = N // 2**log2_stride
            k = log2_stride - K
            h = bank.phi_level(K)
            blocks = support_blocks(h, n_out)
            key = f"phi_K{K}"
            leaves[key] = h.reshape(-1, n_out)[list(blocks)] / 2**k
            lowpass.append((K, blocks, key))
            D, taps = _time_taps(h, 2**k)
            leaves[key + "_t"] = taps
            lowpass_time.append((K, D, key + "_t"))

    all_paths = [()] + [p for rows in rows_by_order for _, ps in rows for p in ps]
    order_paths = tuple(sorted(all_paths, key=lambda p: (len(p), p)))
    plan = _Plan(
        N=N,
        pad_left=pad_left,
        pad_right=pad_right,
        log2_stride=log2_stride,
        ind_start=ind_start,
        ind_end=ind_end,
        groups=tuple(groups_by_order),
        rows=tuple(rows_by_order),
        lowpass=tuple(lowpass),
        lowpass_time=tuple(lowpass_time),
        order_paths=order_paths,
        wavelets=tuple(tuple((w.xi, w.sigma, w.j) for w in b) for b in bank.psis[:max_order]),
    )
    return plan, average, leaves


#: The shortest inverse FFT worth pruning: below it the L short FFTs save less time than
#: their extra operations cost to compile (measured: pruning every length >= 512 made a
#: 4096-sample transform compile 25 % longer for no measurable speed).
MIN_PRUNED = 8192


def _band(hb: np.ndarray) -> tuple[int, int] | None:
    """``(B, f0)`` when the filter block ``hb`` (length n) is negligible (below
    ``SUPPORT_TOL`` of its peak) outside ``B <= n/2`` consecutive frequencies from
    ``f0`` (circularly), ``B`` a power of two; else None."""
    n = hb.shape[0]
    a = np.abs(hb)
    big = np.nonzero(a > SUPPORT_TOL * a.max())[0]
    # the shortest circular interval holding them: around the largest gap
    gaps = np.diff(np.concatenate([big, big[:1] + n]))
    g = int(np.argmax(gaps))
    f0 = int(big[(g + 1) % len(big)])
    width = n - int(gaps[g]) + 1
    B = 1 << max(int(width - 1).bit_length(), 0)
    if B > n // 2 or n < MIN_PRUNED:
        return None
    return B, (f0 - (B - width) // 2) % n


def _time_taps(h: np.ndarray, s: int) -> tuple[int, np.ndarray]:
    """The low-pass ``h`` (a spectrum of length n) as taps in time for a convolution
    strided by ``s``: ``y[f] = sum_d sum_r u[(f + d) s + r] g[r, d + D]``, which equals
    ``ifft(rfft(u) h)[f s]`` (circular) up to the taps below ``SUPPORT_TOL`` of the peak.

    Returns ``D`` (blocks of ``s`` samples reached on each side) and ``g`` (s, 2D + 1).
    """
    n = h.shape[0]
    t = np.real(np.fft.ifft(h))  # impulse response, circular
    big = np.abs(t) > SUPPORT_TOL * np.abs(t).max()
    lag = np.where(big)[0]
    lag = np.where(lag > n // 2, lag - n, lag)  # signed lags of the kept taps
    R = int(np.abs(lag).max())
    D = min(-(-R // s), (n // s) // 2)  # the window reaches every lag, or once round the circle
    # y[f] = sum_tau u[f s + tau] t[-tau]; tau = d s + r, d in [-D, D], r in [0, s)
    tau = (np.arange(-D, D + 1)[None, :] * s + np.arange(s)[:, None])
    index = (-tau) % n
    # each tap of the circle once: where the window reaches round it (a low-pass as long as
    # the padded signal) a tap met twice would be counted twice
    first = np.zeros(index.size, bool)
    first[np.unique(index.T.ravel(), return_index=True)[1]] = True
    keep = big[index] & first.reshape(index.T.shape).T
    return D, t[index] * keep


# ------------------------------------------------------------------ array kernels
def _scale(z: jnp.ndarray, f: jnp.ndarray) -> jnp.ndarray:
    """Complex ``z`` times real ``f`` (broadcast), without promoting ``f`` to complex."""
    f = f.astype(z.real.dtype)
    return jax.lax.complex(z.real * f, z.imag * f)


def _fold(spec: jnp.ndarray, rows, blocks, filt: jnp.ndarray) -> jnp.ndarray:
    """Filter and subsample: ``sum_b spec[row, :, block b] * filt[:, b]``.

    spec: (P_src, B, M) full spectra; filt: (P, c, M_out) filter blocks already
    divided by the subsampling factor. Returns (P, B, M_out).
    Paths come first so that each gathered block is a contiguous run of memory.
    """
    _, B, M = spec.shape
    P, c, m_out = filt.shape
    r = spec.reshape(spec.shape[0], B, M // m_out, m_out)
    rows, blocks = np.asarray(rows), np.asarray(blocks)
    if np.all(blocks == blocks[:1]):
        # every path reads the same blocks (one wavelet per group, as at the second order
        # with Q=1): static slices, which XLA fuses into the product at any batch size
        # (a gather at batch 1 was written out whole, 7 % of the time)
        lo = int(rows[0])
        src = r[lo : lo + P] if np.array_equal(rows, np.arange(lo, lo + P)) else r[rows]
        return sum(_scale(src[:, :, int(b), :], filt[:, i, None, :]) for i, b in enumerate(blocks[0]))
    if c == 1:
        return _scale(r[rows, :, blocks[:, 0]], filt[:, 0, None, :])
    g = r[rows[:, None], :, blocks]  # (P, c, B, m_out)
    return jnp.sum(_scale(g, filt[:, :, None, :]), axis=1)


def _fold_pruned(spec: jnp.ndarray, g: "_Group", filt: jnp.ndarray, tw: jnp.ndarray) -> jnp.ndarray:
    """``|ifft(spec[row, :, block] * filt)|`` for filters negligible outside a band of
    ``B`` frequencies, without the inverse FFT of length ``n_out``.

    With ``t = r + L s`` (``L = n_out / B``), the inverse FFT of a spectrum that lives on
    ``f0 + q``, ``q < B``, is ``exp(2 pi i f0 t / n_out)`` times the inverse FFT of length
    ``B`` of ``Y[f0 + q] exp(2 pi i q r / n_out) / L``, evaluated at ``s``: ``L`` short
    FFTs instead of one long one (``n log B`` instead of ``n log n``, in cache). The
    leading phase has modulus one, and only the modulus is kept.
    spec: (P_src, batch, M); filt: (P, B); returns the moduli (P, batch, n_out).
    """
    L, B, _, offsets = g.prune
    n_out = L * B
    bands = []
    for row, blocks, f0 in zip(g.rows, g.blocks, offsets):
        lo = blocks[0] * n_out
        if f0 + B <= n_out:
            bands.append(spec[row, :, lo + f0 : lo + f0 + B])
        else:
            bands.append(jnp.concatenate([spec[row, :, lo + f0 : lo + n_out],
                                          spec[row, :, lo : lo + f0 + B - n_out]], axis=-1))
    y = _scale(jnp.stack(bands), filt[:, None, :])  # (P, batch, B)
    z = jnp.fft.ifft(y[:, :, None, :] * tw.astype(y.dtype), axis=-1)  # (P, batch, L, B): z[r, s]
    return jnp.reshape(jnp.swapaxes(jnp.abs(z), -1, -2), z.shape[:2] + (n_out,))


def _half_block(u_half: jnp.ndarray, M: int, b: int, m_out: int) -> jnp.ndarray:
    """Frequencies ``b*m_out + q`` for ``q = 0 .. m_out//2`` of the full spectrum of a
    real signal of length ``M``, read from its ``rfft`` (mirrored above ``M/2``)."""
    lo = b * m_out
    if lo + m_out // 2 <= M // 2:
        return u_half[..., lo : lo + m_out // 2 + 1]
    # indices M - lo - q, q = 0..m_out//2, all in [0, M/2]
    hi = M - lo
    return jnp.conj(jnp.flip(u_half[..., hi - m_out // 2 : hi + 1], axis=-1))


def _lowpass(u_half: jnp.ndarray, M: int, blocks, filt: jnp.ndarray) -> jnp.ndarray:
    """Low-pass and subsample real signals of length ``M`` given by their ``rfft``
    (..., M//2 + 1); returns (..., M_out).

    Only the non-negative output frequencies are formed (the output is real).
    """
    m_out = filt.shape[-1]
    h = m_out // 2 + 1
    y = sum(_scale(_half_block(u_half, M, b, m_out), filt[i, :h]) for i, b in enumerate(blocks))
    return y.real if m_out == 1 else jnp.fft.irfft(y, n=m_out, axis=-1)


def _lowpass_time(u: jnp.ndarray, D: int, g: jnp.ndarray, i0: int, i1: int) -> jnp.ndarray:
    """Frames ``[i0, i1)`` of the low-pass of real signals ``u`` (..., M) by the taps
    ``g`` (s, 2D + 1) of `_time_taps`: one GEMM of the blocks of ``s`` samples with the
    taps, then a sum along the diagonals. Returns (..., i1 - i0)."""
    s, w = g.shape
    M = u.shape[-1]
    nb = M // s
    idx = np.arange(i0 - D, i1 + D) % nb  # the blocks the kept frames reach (circular)
    b = u.reshape(u.shape[:-1] + (nb, s))
    lo, hi = idx[0], idx[-1] + 1
    if hi - lo == len(idx) and np.all(np.diff(idx) == 1):
        b = b[..., lo:hi, :]
    else:
        b = jnp.take(b, jnp.asarray(idx), axis=-2)
    z = jnp.einsum("...br,rd->...bd", b, g.astype(u.dtype))  # (..., i1 - i0 + 2D, 2D + 1)
    F = i1 - i0
    return sum(z[..., d : d + F, d] for d in range(w))


# --------------------------------------------------------------------- transform
@pytree_dataclass
class Scattering1D:
    r"""Time scattering transform, kymatio-compatible (``kymatio`` main branch).

    Parameters
    ----------
    J : int
        Log2 of the largest wavelet scale (and of the default averaging ``T``).
    shape : int
        Length of the input signals (any length; padded internally).
    Q : int or tuple of int
        Wavelets per octave at each order; an int ``Q`` means ``(Q, 1)``.
        Orders beyond the tuple use 1.
    T : int, "global", 0 or None
        Averaging scale: ``None`` is ``2**J``; ``"global"`` sums over time;
        ``0`` disables averaging (then the output is a tuple of one array per path,
        each at its own resolution, as kymatio's ``out_type="list"``).
    max_order : int
        Highest scattering order (any order >= 1).
    stride : int or None
        Output stride (a power of two not above ``T``); ``None`` means ``2**floor(log2 T)``.

    Call
    ----
    ``S(x)`` with ``x`` of shape ``(..., shape)`` real floating point returns
    ``(..., n_paths, n_frames)`` with paths in kymatio's order (order 0, order 1
    by decreasing centre frequency, then order 2 ...). See `meta` for the paths.
    float16/bfloat16 input is computed in float32. NaN/inf in ``x`` raise
    `ParameterError` only for concrete input: under ``jax.jit`` values cannot be
    inspected (wrap with `jaxmusic.checked`).

    Examples
    --------
    >>> S = Scattering1D(J=6, shape=4096, Q=8)
    >>> Sx = jax.jit(S)(x)             # (..., S.output_size(), 4096 // 64)
    >>> jax.grad(lambda x: S(x).sum())(x)
    """

    J: int = static_field()
    shape: int = static_field()
    Q: Any = static_field(default=1)
    T: Any = static_field(default=None)
    max_order: int = static_field(default=2)
    stride: Any = static_field(default=None)
    filters: dict | None = None

    def __post_init__(self):
        J = check_int("J", self.J, min=0)
        shape = self.shape
        if isinstance(shape, tuple) and len(shape) == 1:
            shape = shape[0]
        shape = check_int("shape", shape, min=2)
        max_order = check_int("max_order", self.max_order, min=1)
        Q = (self.Q, 1) if not isinstance(self.Q, (tuple, list)) else tuple(self.Q)
        if len(Q) == 0:
            raise ParameterError("Q must be an integer or a non-empty tuple of integers, got ()")
        Q = tuple(check_int(f"Q[{i}]", q, min=1) for i, q in enumerate(Q))
        Q = Q + (1,) * max(0, max_order - len(Q))
        if 2**J > shape:
            raise ParameterError(
                f"J={J} is too large for shape={shape}: the largest wavelet (2**J = {2**J} "
                f"samples) must fit in the signal; use J <= {int(math.log2(shape))}"
            )
        for name, value in (("J", J), ("shape", shape), ("Q", Q), ("max_order", max_order)):
            object.__setattr__(self, name, value)
        if self.filters is None:
            _, _, leaves = _build(J, shape, Q, self.T, max_order, self.stride)
            object.__setattr__(self, "filters", {k: jnp.asarray(v) for k, v in leaves.items()})

    # -- planning (static, cached) --
    @property
    def _plan(self) -> _Plan:
        return _build(self.J, self.shape, self.Q, self.T, self.max_order, self.stride)[0]

    @property
    def average(self) -> str | None:
        """``"local"``, ``"global"`` or ``None`` (no averaging)."""
        return _build(self.J, self.shape, self.Q, self.T, self.max_order, self.stride)[1]

    @property
    def N_padded(self) -> int:
        return self._plan.N

    def output_size(self) -> int:
        """Number of paths (the ``n_paths`` axis of the output)."""
        return len(self._plan.order_paths)

    def output_shape(self):
        """Shape of ``S(x)`` for one signal: ``(n_paths, n_frames)``; for ``T=0`` a
        tuple of ``(n_frames,)``, one per path. ``n_frames`` is about
        ``shape / stride`` (exactly that for a multiple of the stride; kymatio's
        border rounding otherwise)."""
        one = jax.ShapeDtypeStruct((1, self.shape), jnp.float32)
        out = jax.eval_shape(self._apply, one)
        return jax.tree_util.tree_map(lambda a: tuple(a.shape[1:]), out)

    def meta(self) -> dict[str, np.ndarray]:
        """Per-path metadata, as kymatio's ``meta()``.

        Returns a dict of NumPy arrays: ``order`` (n_paths,), and ``xi``,
        ``sigma``, ``j``, ``n`` of shape (n_paths, max_order) padded with NaN,
        plus ``key``: the tuple of filter indices of each path.
        """
        plan = self._plan
        paths = plan.order_paths
        meta = {"order": np.array([len(p) for p in paths]), "key": list(paths)}
        for name in ("xi", "sigma", "j", "n"):
            meta[name] = np.full((len(paths), self.max_order), np.nan)
        for i, p in enumerate(paths):
            for m, n in enumerate(p):
                xi, sigma, j = plan.wavelets[m][n]
                meta["xi"][i, m], meta["sigma"][i, m], meta["j"][i, m] = xi, sigma, j
                meta["n"][i, m] = n
        return meta

    # -- the transform --
    def __call__(self, x: jnp.ndarray):
        """Apply the transform.

        Parameters
        ----------
        x : array, shape (..., shape), real floating point
            float16/bfloat16 input is computed in float32 (output float32); a batch
            of zero signals ``(0, shape)`` gives an empty output ``(0, n_paths, n_frames)``.

        Returns
        -------
        array, shape (..., n_paths, n_frames) (a tuple of one array per path for ``T=0``)

        Raises
        ------
        ParameterError
            A non-float, complex or wrongly shaped ``x`` (channels-last: pass ``x.T``);
            NaN/inf in ``x`` only for concrete input: under ``jax.jit`` values cannot be
            inspected (wrap with `jaxmusic.checked`).
        """
        check_signal(x, length=self.shape)
        x = upcast(x)
        batch = x.shape[:-1]
        # compiled once per configuration and batch size, also when called eagerly
        out = _apply_jit(self, jnp.reshape(x, (-1, self.shape)))
        out = jax.tree_util.tree_map(lambda a: jnp.reshape(a, batch + a.shape[1:]), out)
        return check_output(out, x, name="x", what="scattering coefficients")

    def _apply(self, x: jnp.ndarray):
        plan, average = self._plan, self.average
        batch = x.shape[:-1]
        x = jnp.reshape(x, (-1, self.shape))
        if average is None:  # one array per path, each at its own resolution
            pieces, order, _ = scatter_orders(plan, average, self.filters, x, len(plan.groups))
            where = {p: (piece, r) for piece, paths in zip(pieces, order) for r, p in enumerate(paths)}
            return tuple(
                jnp.reshape(where[p][0][where[p][1]], batch + where[p][0].shape[-1:])
                for p in plan.order_paths
            )

        def scatter(xx):
            pieces, order, _ = scatter_orders(plan, average, self.filters, xx, len(plan.groups))
            return gather_paths(pieces, order, plan.order_paths)

        out = in_chains(scatter, x)
        return jnp.reshape(out, batch + out.shape[1:])


#: The CPU switch (see `in_chains`): signals per chain of operations, and chains traced
#: side by side in one step. Each lane is one more copy of the whole program, so compile
#: time grows with CPU_LANES; on the shared 2-core CPU 16 lanes compiled 3-4x longer than
#: one (J=8, Q=(12,1), 2**16 samples: ~20 s vs ~6 s) for no measurable speed-up (one
#: lane was as fast or faster, 2.4-2.6 vs 2.5-3.0 CPU-s per batch of 32), so one lane.
CPU_CHAIN, CPU_LANES = 2, 1


def in_chains(f, x: jnp.ndarray) -> jnp.ndarray:
    """``f(x)`` for a batch ``x`` (B, ...), computed in fixed chunks on CPU.

    On CPU the batch is cut into chains of `CPU_CHAIN` signals (small working sets),
    `CPU_LANES` of them traced side by side (XLA's CPU runtime may run them
    concurrently), and ``lax.map`` steps over the rest, the batch padded to whole
    steps: the program compiled is that of one step whatever the batch, and it stays
    a pure function (``jit``, ``vmap`` and ``grad`` go through ``lax.map``).
    Elsewhere ``f`` sees the whole batch.
    """
    B = x.shape[0]
    if jax.default_backend() != "cpu" or B <= CPU_CHAIN:
        return f(x)
    step = CPU_CHAIN * CPU_LANES
    if B <= step:
        cuts = list(range(0, B, CPU_CHAIN))
        if len(cuts) == 1:
            return f(x)
        return jnp.concatenate([f(x[i : i + CPU_CHAIN]) for i in cuts], axis=0)
    n_steps = -(-B // step)
    xp = jnp.concatenate([x, jnp.zeros((n_steps * step - B,) + x.shape[1:], x.dtype)])
    y = jax.lax.map(lambda xs: in_chains(f, xs), xp.reshape((n_steps, step) + x.shape[1:]))
    return y.reshape((n_steps * step,) + y.shape[2:])[:B]


def scatter_orders(plan: _Plan, average, filt: dict, x: jnp.ndarray, n_order: int, *,
                   keep_spectra: bool = False):
    """Scattering of orders ``0 .. n_order`` of signals ``x`` (B, shape).

    Returns ``(pieces, order, spectra)``: ``pieces`` are (P, B, frames) arrays, one
    per resolution and order, ``order[i]`` the paths of the rows of ``pieces[i]``,
    and ``spectra`` (when ``keep_spectra``) the full spectra (P, B, M) of the last
    order's moduli by resolution ``K``, with their paths: ``{K: (spectrum, paths)}``.
    The other transforms (spiral, joint) build their own higher orders on these.
    """
    u0 = reflect_pad(x, plan.pad_left, plan.pad_right)[None]  # (paths, batch, time)
    pieces: list[jnp.ndarray] = []
    order: list[tuple[tuple[int, ...], ...]] = []

    def emit(K: int, u: jnp.ndarray, u_half, paths):
        # u: (P, B, M) real at resolution K; u_half its rfft (None if not needed)
        if average == "local" and u_half is None:  # in time: no FFT of the modulus needed
            (D, key), = [(d, k) for KK, d, k in plan.lowpass_time if KK == K]
            res = plan.log2_stride
            pieces.append(_lowpass_time(u, D, filt[key], plan.ind_start[res], plan.ind_end[res]))
            order.append(tuple(paths))
            return
        if average == "local":
            (blocks, key), = [(b, k) for KK, b, k in plan.lowpass if KK == K]
            s = _lowpass(u_half, u.shape[-1], blocks, filt[key])
            res = plan.log2_stride
        else:
            s, res = u, K
        if average == "global":
            s = jnp.sum(s, axis=-1, keepdims=True)
        else:
            s = s[..., plan.ind_start[res] : plan.ind_end[res]]
        pieces.append(s)
        order.append(tuple(paths))

    u0_half = jnp.fft.rfft(u0, axis=-1)
    emit(0, u0, u0_half, [()])
    spectra = {0: (hermitian_spectrum(u0_half, plan.N), ((),))}
    for m in range(n_order):
        by_K: dict[int, list[jnp.ndarray]] = defaultdict(list)
        for g in plan.groups[m]:
            f = filt[g.key][np.asarray(g.filters)]
            if g.prune:
                by_K[g.src + g.k].append(_fold_pruned(spectra[g.src][0], g, f, filt[g.prune[2]]))
            else:
                y = _fold(spectra[g.src][0], g.rows, g.blocks, f)
                by_K[g.src + g.k].append(jnp.abs(jnp.fft.ifft(y, axis=-1)))
        spectra = {}
        last = m + 1 == n_order
        for K, paths in plan.rows[m]:
            u = jnp.concatenate(by_K[K], axis=0) if len(by_K[K]) > 1 else by_K[K][0]
            need_spectrum = not last or keep_spectra
            u_half = jnp.fft.rfft(u, axis=-1) if need_spectrum else None
            emit(K, u, u_half, paths)
            if not last or keep_spectra:
                spectra[K] = (hermitian_spectrum(u_half, u.shape[-1]), paths)
    return pieces, order, spectra


def gather_paths(pieces, order, paths) -> jnp.ndarray:
    """Stack the rows of ``pieces`` (P, B, frames) for ``paths``, in that order: (B, n, frames)."""
    out = jnp.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]
    position = {p: i for i, p in enumerate(q for o in order for q in o)}
    return jnp.moveaxis(out[np.array([position[p] for p in paths])], 0, 1)


_apply_jit = jax.jit(Scattering1D._apply)
