"""Planning and array helpers shared by the scattering transforms.

Planning (padding, border indices, averaging scale) runs in Python on static
values; the array helpers are pure ``jax.numpy`` and batch over leading axes.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int
from ..filters.morlet import SIGMA0, compute_temporal_support, gauss_1d

__all__ = [
    "SUPPORT_TOL",
    "parse_T",
    "parse_stride",
    "support_blocks",
    "hermitian_spectrum",
    "spectrum_block",
    "plan_padding",
    "border_indices",
    "reflect_pad",
    "subsample_fourier",
    "empty_batch",
]


#: Filter values below this fraction of the filter's peak are treated as zero.
SUPPORT_TOL = 1e-10


def parse_T(T, J: int, N_input: int, *, name: str = "T") -> tuple[int, str | None]:
    """Return ``(T, average)`` with kymatio main's semantics.

    ``None`` means ``2**J`` with local averaging, ``"global"`` a global sum,
    ``0`` no averaging (``average=None``), and an integer ``1 <= T <= N_input``
    local averaging over ``T`` samples.
    """
    if T is None:
        return 2**J, "local"
    if isinstance(T, str):
        if T == "global":
            return 2**J, "global"
        raise ParameterError(f"{name} must be None, 'global', 0 or a number >= 1, got {T!r}")
    if isinstance(T, bool) or not isinstance(T, numbers.Real):
        raise ParameterError(f"{name} must be None, 'global', 0 or a number >= 1, got {T!r}")
    if T > N_input:
        raise ParameterError(
            f"{name}={T} exceeds the input length {N_input}; the low-pass support cannot be "
            f"longer than the signal (pass {name}='global' for a global average)"
        )
    if T == 0:
        return 2**J, None
    if T < 1:
        raise ParameterError(f"{name} must be 0 (no averaging) or >= 1, got {T}")
    return int(T) if float(T).is_integer() else T, "local"


def parse_stride(stride, average: str | None, T, T_val) -> int:
    """``log2`` of the output stride: ``2**floor(log2 T)`` by default, else a power
    of two not above it, and only with local averaging."""
    log2_T = int(math.floor(math.log2(T_val)))
    if stride is None:
        return log2_T
    if average != "local":
        raise ParameterError(f"stride={stride!r} needs local averaging, got T={T!r}")
    log2_stride = log2_int("stride", stride)
    if log2_stride > log2_T:
        raise ParameterError(f"stride={stride} exceeds the averaging scale 2**{log2_T} of T={T_val}")
    return log2_stride


def support_blocks(h: np.ndarray, n_out: int) -> tuple[int, ...]:
    """Blocks of length ``n_out`` (of the period grid of ``h``) where ``|h|`` is
    above ``SUPPORT_TOL`` of its peak: the only ones a filter-and-subsample reads."""
    a = np.abs(h).reshape(-1, n_out)
    keep = a.max(axis=1) > SUPPORT_TOL * a.max()
    return tuple(int(b) for b in np.nonzero(keep)[0])


def hermitian_spectrum(half: jnp.ndarray, n: int) -> jnp.ndarray:
    """Full spectrum of real signals of even length ``n`` from their ``rfft`` (last axis)."""
    if n == 1:
        return half
    mirror = jnp.conj(jnp.flip(half[..., 1 : n // 2], axis=-1))
    return jnp.concatenate([half, mirror], axis=-1)


def spectrum_block(half: jnp.ndarray, n: int, lo: int, m: int) -> jnp.ndarray:
    """Frequencies ``lo .. lo + m - 1`` of the full spectrum of real signals of even
    length ``n``, read from their ``rfft`` ``half`` (last axis) with static slices:
    above ``n/2`` the spectrum is the conjugate mirror of ``half``."""
    h = n // 2
    if lo + m <= h + 1:
        return half[..., lo : lo + m]
    if lo >= h:  # X[i] = conj(half[n - i]) for i in [lo, lo + m)
        return jnp.conj(jnp.flip(half[..., n - lo - m + 1 : n - lo + 1], axis=-1))
    rest = lo + m - (h + 1)  # frequencies h+1 .. lo+m-1
    mirror = jnp.conj(jnp.flip(half[..., h - rest : h], axis=-1))
    return jnp.concatenate([half[..., lo:], mirror], axis=-1)


def plan_padding(N_input: int, T) -> tuple[int, int, int]:
    """Padded length and left/right padding, as kymatio chooses them.

    The signal is padded to the next power of two above ``N_input`` plus three
    times the support of the low-pass filter on each side, capped so that no
    side is padded by ``N_input`` or more (reflection needs ``pad < N_input``).

    Returns
    -------
    N_padded, pad_left, pad_right : int
    """
    phi_f = gauss_1d(N_input, SIGMA0 / T)
    min_to_pad = 3 * compute_temporal_support(phi_f[None], criterion_amplitude=1e-3)
    J_max_support = int(np.floor(np.log2(3 * N_input - 2)))
    J_pad = min(int(np.ceil(np.log2(N_input + 2 * min_to_pad))), J_max_support)
    N_padded = 2**J_pad
    to_add = N_padded - N_input
    pad_left = to_add // 2
    pad_right = to_add - pad_left
    if max(pad_left, pad_right) >= N_input:
        raise ParameterError(
            f"a signal of {N_input} samples is too short to be padded to {N_padded}"
        )
    return N_padded, pad_left, pad_right


def border_indices(max_level: int, i0: int, i1: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where the unpadded signal ``[i0, i1)`` lies after subsampling by ``2**k``,
    for ``k = 0 .. max_level`` (rounding up at both ends, as kymatio does)."""
    start, end = [i0], [i1]
    for _ in range(max_level):
        start.append(start[-1] // 2 + start[-1] % 2)
        end.append(end[-1] // 2 + end[-1] % 2)
    return tuple(start), tuple(end)


def reflect_pad(x: jnp.ndarray, pad_left: int, pad_right: int) -> jnp.ndarray:
    """Pad the last axis by reflection (without repeating the edge sample)."""
    widths = [(0, 0)] * (x.ndim - 1) + [(pad_left, pad_right)]
    return jnp.pad(x, widths, mode="reflect")


def subsample_fourier(x_hat: jnp.ndarray, k: int) -> jnp.ndarray:
    """Spectrum of the signal subsampled by ``k`` (last axis): the spectrum
    periodised ``k`` times and averaged, so ``ifft`` of the result is ``x[::k]``."""
    if k == 1:
        return x_hat
    n = x_hat.shape[-1]
    return x_hat.reshape(x_hat.shape[:-1] + (k, n // k)).mean(axis=-2)


def log2_int(name: str, value: int) -> int:
    """``log2(value)`` for a power of two, else a `ParameterError`."""
    value = check_int(name, value, min=1)
    k = int(math.log2(value))
    if 2**k != value:
        raise ParameterError(f"{name} must be a power of two, got {value}")
    return k


def empty_batch(apply, xb: jnp.ndarray):
    """The output of ``apply`` for a batch of zero signals ``xb`` (0, N): arrays
    of the shapes and dtypes ``apply`` gives one signal, with a batch axis of 0."""
    one = jax.ShapeDtypeStruct((1,) + tuple(xb.shape[1:]), xb.dtype)
    shapes = jax.eval_shape(apply, one)
    return jax.tree_util.tree_map(lambda s: jnp.zeros((0,) + tuple(s.shape[1:]), s.dtype), shapes)
