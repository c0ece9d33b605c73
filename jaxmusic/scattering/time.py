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
* Every modulus is real, so its spectrum is a real FFT; low-pass outputs are
  real inverse FFTs.
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
                at_K.append((n, psi.j, k, h, support_blocks(h, N // 2 ** (K + k))))
            for row, (path, j_last) in enumerate(paths):
                for n, j, k, h, blocks in at_K:
                    if j > j_last:  # only j_m > j_{m-1} (any j at order 1)
                        pending[(K, k, len(blocks))].append((row, blocks, h, path + (n,), j, n))
        groups, new_level = [], defaultdict(list)
        for (K, k, _c), items in sorted(pending.items()):
            key = f"psi{m + 1}_K{K}_k{k}_c{_c}"
            n_out = N // 2 ** (K + k)
            # one copy of each wavelet's blocks; paths point at theirs
            distinct = {i[5]: i for i in items}
            index = {n: r for r, n in enumerate(distinct)}
            leaves[key] = np.stack(
                [h.reshape(-1, n_out)[list(b)] for _, b, h, _, _, _ in distinct.values()]
            ) / 2**k  # fold the 1/2**k of the periodisation mean into the filter
            groups.append(_Group(K, k, tuple(i[0] for i in items), tuple(i[1] for i in items), key,
                                 tuple(index[i[5]] for i in items)))
            new_level[K + k].extend((i[3], i[4]) for i in items)
        groups_by_order.append(tuple(groups))
        level = dict(new_level)
        rows_by_order.append(
            tuple((K, tuple(p for p, _ in paths)) for K, paths in sorted(level.items()))
        )

    lowpass = []
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
        order_paths=order_paths,
        wavelets=tuple(tuple((w.xi, w.sigma, w.j) for w in b) for b in bank.psis[:max_order]),
    )
    return plan, average, leaves


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
    if c == 1:
        return _scale(r[rows, :, blocks[:, 0]], filt[:, 0, None, :])
    g = r[rows[:, None], :, blocks]  # (P, c, B, m_out)
    return jnp.sum(_scale(g, filt[:, :, None, :]), axis=1)


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
            y = _fold(spectra[g.src][0], g.rows, g.blocks, filt[g.key][np.asarray(g.filters)])
            by_K[g.src + g.k].append(jnp.abs(jnp.fft.ifft(y, axis=-1)))
        spectra = {}
        last = m + 1 == n_order
        for K, paths in plan.rows[m]:
            u = jnp.concatenate(by_K[K], axis=0) if len(by_K[K]) > 1 else by_K[K][0]
            need_spectrum = average == "local" or not last or keep_spectra
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
