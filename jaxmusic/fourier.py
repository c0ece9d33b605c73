"""Fourier analysis: DFT/IDFT, windows, framing, and a librosa-compatible STFT/ISTFT.

The DFT pair follows the course notes (eqs. (6) and (7)): analysis in the Fourier
basis ``b_k(t) = exp(2i pi k t / T)``,

    x_hat(k) = sum_t x(t) exp(-2i pi k t / T),
    x(t)     = 1/T sum_k x_hat(k) exp(2i pi k t / T),

so that ``idft(dft(x)) == x``.

Input rules (as every jaxmusic transform): signals are ``(..., time)``;
float16/bfloat16 input is computed in float32; an empty batch ``(0, n)`` gives an
empty output; NaN/inf raise `ParameterError` for concrete input only (inside
``jax.jit`` values cannot be inspected: wrap with `jaxmusic.checked`).

`stft` and `istft` reproduce ``librosa.stft`` / ``librosa.istft`` number for number:
the same centring and padding, the same periodic windows zero-padded to ``n_fft``,
the same frame count, and the same window-sum-square normalisation on the inverse.
Outputs are ``(..., 1 + n_fft // 2, n_frames)``, complex64 for float32 input and
complex128 for float64 input (with ``jax_enable_x64``).

Windows and sum-square envelopes are computed in NumPy (float64), cached, and enter
traced code as constants. All sizes are static Python integers; framing and
overlap-add use reshapes and static slices (or one gather/scatter when the hop and
frame length share no useful common divisor), never a Python loop over frames.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import (
    ParameterError,
    check_choice,
    check_int,
    check_layout,
    check_output,
    check_real,
    check_signal,
    upcast,
    warn_short,
)

__all__ = [
    "dft",
    "idft",
    "fourier_basis",
    "fft_frequencies",
    "get_window",
    "pad_center",
    "window_sumsquare",
    "frame",
    "overlap_add",
    "stft",
    "istft",
    "PAD_MODES",
]

#: Padding modes accepted by `stft` (those of ``librosa.stft``, as supported by ``jnp.pad``).
PAD_MODES = ("constant", "edge", "reflect", "symmetric")

# Framing and overlap-add split frames into blocks of gcd(frame_length, hop) samples;
# above this many blocks per frame a single gather/scatter is cheaper to compile.
_MAX_BLOCKS_PER_FRAME = 64


# --------------------------------------------------------------------------- DFT


def _complex_signal(x: Any, name: str) -> jax.Array:
    check_signal(x, name=name, allow_complex=True)
    return upcast(x)


def dft(x: Any) -> jax.Array:
    """Discrete Fourier transform along the last axis (course eq. (6)).

    ``x_hat(k) = sum_t x(t) exp(-2i pi k t / T)``: the inner products of ``x`` with
    the Fourier basis ``b_k`` of `fourier_basis`, computed with an FFT.

    Parameters
    ----------
    x : array, shape (..., T), real or complex floating point

    Returns
    -------
    x_hat : jax.Array, shape (..., T), complex
        complex64 for float32/complex64 input, complex128 for 64-bit input.

    Notes
    -----
    float16/bfloat16 input is computed in float32. NaN/inf raise `ParameterError`
    only for concrete input: under ``jax.jit`` values cannot be inspected (see
    `jaxmusic.checked`).
    """
    return jnp.fft.fft(_complex_signal(x, "x"), axis=-1)


def idft(x_hat: Any) -> jax.Array:
    """Inverse discrete Fourier transform along the last axis (course eq. (7)).

    ``x(t) = 1/T sum_k x_hat(k) exp(2i pi k t / T)``: synthesis in the Fourier basis,
    so that ``idft(dft(x)) == x``.

    Parameters
    ----------
    x_hat : array, shape (..., T), complex or real floating point

    Returns
    -------
    x : jax.Array, shape (..., T), complex
        Take ``.real`` to recover a real signal.

    Notes
    -----
    float16/bfloat16 input is computed in float32. NaN/inf raise `ParameterError`
    only for concrete input: under ``jax.jit`` values cannot be inspected (see
    `jaxmusic.checked`).
    """
    return jnp.fft.ifft(_complex_signal(x_hat, "x_hat"), axis=-1)


def fourier_basis(n: int) -> np.ndarray:
    """The Fourier basis of course eq. (6) as a matrix (NumPy, complex128).

    Parameters
    ----------
    n : int >= 1
        Signal length ``T``.

    Returns
    -------
    basis : np.ndarray, shape (n, n), complex128
        ``basis[k, t] = exp(2i pi k t / n)``; ``dft(x) == x @ basis.conj().T`` and
        ``idft(X) == X @ basis / n``.
    """
    n = check_int("n", n, min=1)
    k = np.arange(n)
    return np.exp(2j * np.pi * np.outer(k, k) / n)


def fft_frequencies(*, sr: float = 22050, n_fft: int = 2048) -> np.ndarray:
    """Centre frequencies (Hz) of the ``1 + n_fft // 2`` bins of a real FFT.

    Parameters
    ----------
    sr : float > 0
        Sampling rate in Hz.
    n_fft : int >= 1
        FFT size.

    Returns
    -------
    freqs : np.ndarray, shape (1 + n_fft // 2,), float64
        ``[0, sr / n_fft, 2 sr / n_fft, ..., sr * (n_fft // 2) / n_fft]``.
    """
    sr = check_real("sr", sr, min=0, strict_min=True)
    n_fft = check_int("n_fft", n_fft, min=1)
    return np.arange(1 + n_fft // 2) * (sr / n_fft)


# ----------------------------------------------------------------------- windows

# Cosine-sum windows: w[t] = sum_j (-1)^j a_j cos(2 pi j t / M).
_COSINE_WINDOWS = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 0.46),
    "blackman": (0.42, 0.5, 0.08),
}
_RECT_WINDOWS = ("boxcar", "box", "ones", "rect", "rectangular")


def _cosine_window(coeffs: tuple, n: int, periodic: bool) -> np.ndarray:
    if n == 1:
        return np.ones(1)
    m = n if periodic else n - 1
    phase = 2.0 * np.pi * np.arange(n) / m
    w = np.zeros(n)
    for j, a in enumerate(coeffs):
        w += (-1) ** j * a * np.cos(j * phase)
    return w


@functools.lru_cache(maxsize=128)
def _window_cached(window: Any, n: int, fftbins: bool) -> np.ndarray:
    if isinstance(window, str) and window in _COSINE_WINDOWS:
        w = _cosine_window(_COSINE_WINDOWS[window], n, fftbins)
    elif isinstance(window, str) and window in _RECT_WINDOWS:
        w = np.ones(n)
    else:
        # Every other scipy window specification ('triang', ('kaiser', 8.0), ...).
        import scipy.signal

        try:
            w = np.asarray(scipy.signal.get_window(window, n, fftbins=fftbins), dtype=np.float64)
        except (ValueError, TypeError) as err:
            raise ParameterError(f"window={window!r} is not a valid window specification: {err}")
    w = np.asarray(w, dtype=np.float64)
    w.setflags(write=False)
    return w


def get_window(window: Any, n: int, *, fftbins: bool = True) -> np.ndarray:
    """A window of length ``n``, as ``librosa.filters.get_window`` (NumPy).

    Parameters
    ----------
    window : str, tuple, float, callable or array-like
        - ``'hann'``, ``'hamming'``, ``'blackman'``, ``'boxcar'`` (alias ``'ones'``,
          ``'rect'``...): computed here;
        - any other string, tuple (``('kaiser', 8.0)``) or number: passed to
          ``scipy.signal.get_window``;
        - a callable: called as ``window(n)``;
        - an array of length ``n``: returned as is.
    n : int >= 1
        Window length.
    fftbins : bool, keyword-only
        True (default) for a periodic window (for spectral analysis, librosa's
        default), False for a symmetric one.

    Returns
    -------
    window : np.ndarray, shape (n,), float64
        Read-only for string/tuple specifications (the result is cached).
    """
    n = check_int("n", n, min=1)
    if callable(window):
        w = np.asarray(window(n), dtype=np.float64)
        if w.shape != (n,):
            raise ParameterError(f"window function {window!r} returned shape {w.shape}, expected ({n},)")
        return w
    if isinstance(window, (str, tuple)) or isinstance(window, numbers.Real) and not isinstance(window, bool):
        try:
            hash(window)
        except TypeError:
            raise ParameterError(f"window={window!r} is not a valid window specification")
        return _window_cached(window, n, bool(fftbins))
    if isinstance(window, (np.ndarray, jax.Array, list)):
        w = np.asarray(window)
        if w.ndim != 1 or w.shape[0] != n:
            raise ParameterError(f"window array has shape {w.shape}, expected ({n},)")
        if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
            raise ParameterError(f"window array must be real, got dtype {w.dtype}")
        w = w.astype(np.float64)
        if not np.all(np.isfinite(w)):
            raise ParameterError("window array has NaN or inf values")
        return w
    raise ParameterError(f"window={window!r} is not a valid window specification ({type(window).__name__})")


def pad_center(data: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 1-d NumPy array on both sides to length ``size`` (as librosa).

    Parameters
    ----------
    data : np.ndarray, shape (n,)
    size : int >= n

    Returns
    -------
    padded : np.ndarray, shape (size,)
        ``(size - n) // 2`` zeros on the left, the rest on the right.
    """
    data = np.asarray(data)
    size = check_int("size", size, min=data.shape[-1])
    left = (size - data.shape[-1]) // 2
    return np.pad(data, (left, size - data.shape[-1] - left))


def _window_key(window: Any) -> Any:
    """A hashable stand-in for a window specification (arrays become tuples)."""
    if isinstance(window, (np.ndarray, jax.Array, list)):
        return ("__array__",) + tuple(float(v) for v in np.asarray(window, dtype=np.float64).ravel())
    return window


def _window_from_key(key: Any, n: int) -> np.ndarray:
    if isinstance(key, tuple) and key[:1] == ("__array__",):
        return get_window(np.asarray(key[1:]), n)
    return get_window(key, n)


@functools.lru_cache(maxsize=128)
def _fft_window_cached(key: Any, win_length: int, n_fft: int) -> np.ndarray:
    w = pad_center(_window_from_key(key, win_length), n_fft)
    w.setflags(write=False)
    return w


def _fft_window(window: Any, win_length: int, n_fft: int) -> np.ndarray:
    """Periodic window of ``win_length`` zero-padded (centred) to ``n_fft``; float64, cached."""
    if callable(window):
        return pad_center(get_window(window, win_length), n_fft)
    return _fft_window_cached(_window_key(window), win_length, n_fft)


def window_sumsquare(
    *,
    window: Any = "hann",
    n_frames: int,
    hop_length: int = 512,
    win_length: int | None = None,
    n_fft: int = 2048,
) -> np.ndarray:
    """Sum-square envelope of a window overlap-added ``n_frames`` times (NumPy).

    Parameters
    ----------
    window : window specification (see `get_window`)
    n_frames : int >= 1
    hop_length : int >= 1
    win_length : int in [1, n_fft] or None (``n_fft``)
    n_fft : int >= 1

    Returns
    -------
    wss : np.ndarray, shape (n_fft + hop_length * (n_frames - 1),), float64
    """
    n_fft = check_int("n_fft", n_fft, min=1)
    win_length = n_fft if win_length is None else check_int("win_length", win_length, min=1, max=n_fft)
    n_frames = check_int("n_frames", n_frames, min=1)
    hop_length = check_int("hop_length", hop_length, min=1)
    w2 = _fft_window(window, win_length, n_fft) ** 2
    return np.asarray(overlap_add(np.broadcast_to(w2, (n_frames, n_fft)), hop_length=hop_length, xp=np))


# ---------------------------------------------------------------------- framing


def _frames(x: jax.Array, frame_length: int, hop_length: int) -> jax.Array:
    """``(..., n) -> (..., n_frames, frame_length)``, frame ``f`` = ``x[f * hop : f * hop + frame_length]``."""
    n = x.shape[-1]
    n_frames = 1 + (n - frame_length) // hop_length
    g = math.gcd(frame_length, hop_length)
    k, s = frame_length // g, hop_length // g
    batch = x.shape[:-1]
    if k <= _MAX_BLOCKS_PER_FRAME:
        used = (n_frames - 1) * hop_length + frame_length
        blocks = x[..., :used].reshape(*batch, used // g, g)
        span = s * (n_frames - 1) + 1
        cols = [blocks[..., j : j + span : s, :] for j in range(k)]  # k static slices
        return jnp.stack(cols, axis=-2).reshape(*batch, n_frames, frame_length)
    idx = (
        hop_length * lax.broadcasted_iota(jnp.int32, (n_frames, frame_length), 0)
        + lax.broadcasted_iota(jnp.int32, (n_frames, frame_length), 1)
    )
    return x[..., idx]


def frame(x: Any, *, frame_length: int, hop_length: int) -> jax.Array:
    """Slice a signal into overlapping frames, as ``librosa.util.frame`` (last axis).

    Parameters
    ----------
    x : array, shape (..., n), real or complex floating point
    frame_length : int >= 1, keyword-only
    hop_length : int >= 1, keyword-only

    Returns
    -------
    frames : jax.Array, shape (..., frame_length, n_frames)
        ``frames[..., :, f] == x[..., f * hop_length : f * hop_length + frame_length]``
        with ``n_frames = 1 + (n - frame_length) // hop_length``; the dtype of ``x``
        (float32 for float16/bfloat16, as every jaxmusic transform).

    Raises
    ------
    ParameterError
        If ``n < frame_length``, or for non-positive sizes or a non-float signal.

    Notes
    -----
    float16/bfloat16 input is computed in float32. NaN/inf raise `ParameterError`
    only for concrete input: under ``jax.jit`` values cannot be inspected (see
    `jaxmusic.checked`).
    """
    frame_length = check_int("frame_length", frame_length, min=1)
    hop_length = check_int("hop_length", hop_length, min=1)
    check_signal(x, name="x", min_length=frame_length, allow_complex=True)
    return jnp.swapaxes(_frames(upcast(x), frame_length, hop_length), -1, -2)


def overlap_add(frames: Any, *, hop_length: int, xp: Any = jnp) -> Any:
    """Overlap-add frames ``(..., n_frames, frame_length)`` at a hop of ``hop_length``.

    Parameters
    ----------
    frames : array, shape (..., n_frames, frame_length)
        Note the layout: frames on the second-to-last axis (the transpose of `frame`).
    hop_length : int >= 1, keyword-only
    xp : module, keyword-only
        ``jax.numpy`` (default) or ``numpy``.

    Returns
    -------
    y : array, shape (..., frame_length + hop_length * (n_frames - 1))
        ``y[f * hop_length + t] += frames[f, t]`` for every frame ``f``.
    """
    hop_length = check_int("hop_length", hop_length, min=1)
    if getattr(frames, "ndim", 0) < 2:
        raise ParameterError(
            f"frames must have shape (..., n_frames, frame_length), got shape {getattr(frames, 'shape', None)}"
        )
    n_frames, frame_length = frames.shape[-2:]
    batch = frames.shape[:-2]
    total = frame_length + hop_length * (n_frames - 1)
    if xp is np:
        out = np.zeros(batch + (total,), dtype=np.result_type(frames.dtype, np.float64))
        for f in range(n_frames):  # NumPy only (filter construction), never traced
            out[..., f * hop_length : f * hop_length + frame_length] += frames[..., f, :]
        return out
    g = math.gcd(frame_length, hop_length)
    k, s = frame_length // g, hop_length // g
    if k <= _MAX_BLOCKS_PER_FRAME:
        total_blocks = k + s * (n_frames - 1)
        fb = frames.reshape(*batch, n_frames, k, g)
        zero = jnp.zeros((), frames.dtype)
        out = None
        for j in range(k):  # static: blocks per frame, not frames
            cfg = [(0, 0, 0)] * len(batch) + [(j, total_blocks - j - (s * (n_frames - 1) + 1), s - 1), (0, 0, 0)]
            part = lax.pad(fb[..., j, :], zero, cfg)
            out = part if out is None else out + part
        return out.reshape(*batch, total)
    idx = (
        hop_length * lax.broadcasted_iota(jnp.int32, (n_frames, frame_length), 0)
        + lax.broadcasted_iota(jnp.int32, (n_frames, frame_length), 1)
    )
    return jnp.zeros(batch + (total,), frames.dtype).at[..., idx].add(frames)


# ------------------------------------------------------------------------- STFT


def _real_signal(y: Any, name: str = "y", min_length: int = 1, frame: int | None = None) -> jax.Array:
    """A checked real signal, half precision cast to float32. With ``frame``, also
    refuse channels-last audio and warn when the signal is shorter than one frame."""
    if frame is not None:
        check_layout(y, frame, name=name)
    check_signal(y, name=name, min_length=min_length)
    if frame is not None:
        warn_short(y.shape[-1], frame, name=name)
    return upcast(y)


def _stft_sizes(n_fft: Any, hop_length: Any, win_length: Any) -> tuple[int, int, int]:
    n_fft = check_int("n_fft", n_fft, min=1)
    if win_length is None:
        win_length = n_fft
    win_length = check_int("win_length", win_length, min=1, max=n_fft)
    if hop_length is None:
        hop_length = max(1, win_length // 4)
    hop_length = check_int("hop_length", hop_length, min=1)
    return n_fft, hop_length, win_length


def _stft_kernel(
    y: jax.Array, window: Any, *, n_fft: int, hop_length: int, center: bool, pad_mode: str
) -> jax.Array:
    """STFT of a checked real signal; ``window`` of length ``n_fft``. Returns (..., F, T)."""
    if center:
        pad = n_fft // 2
        y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(pad, pad)], mode=pad_mode)
    frames = _frames(y, n_fft, hop_length)
    spec = jnp.fft.rfft(frames * jnp.asarray(window, dtype=y.dtype), axis=-1)
    return jnp.swapaxes(spec, -1, -2)


def stft(
    y: Any,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Any = "hann",
    center: bool = True,
    pad_mode: str = "constant",
) -> jax.Array:
    """Short-time Fourier transform, as ``librosa.stft``.

    Frame ``t`` covers ``y[t * hop_length : t * hop_length + n_fft]`` of the signal
    padded by ``n_fft // 2`` on both sides (``center=True``) or of ``y`` itself
    (``center=False``); it is multiplied by the periodic window of length
    ``win_length`` zero-padded to ``n_fft`` and transformed with a real FFT.

    Parameters
    ----------
    y : array, shape (..., n), real floating point
        Signal(s); leading axes are batch axes.
    n_fft : int >= 1, keyword-only
        Frame length and FFT size.
    hop_length : int >= 1 or None, keyword-only
        Samples between frames; default ``win_length // 4``.
    win_length : int in [1, n_fft] or None, keyword-only
        Window length; default ``n_fft``.
    window : str, tuple, float, callable or array of length ``win_length``, keyword-only
        See `get_window`. Default ``'hann'``.
    center : bool, keyword-only
        Centre frames on ``t * hop_length`` by padding ``y`` (default True).
    pad_mode : {'constant', 'edge', 'reflect', 'symmetric'}, keyword-only
        Padding when ``center=True`` (default ``'constant'``, zeros).

    Returns
    -------
    D : jax.Array, shape (..., 1 + n_fft // 2, n_frames), complex
        ``n_frames = 1 + n // hop_length`` for ``center=True`` and even ``n_fft``,
        ``1 + (n - n_fft) // hop_length`` for ``center=False``. complex64 for float32
        input, complex128 for float64 input.

    Raises
    ------
    ParameterError
        Non-positive or non-integer sizes, ``win_length > n_fft``, an unknown pad mode
        or window, a non-float or non-finite signal, a 0-d signal, a signal shorter
        than ``n_fft`` with ``center=False``, channels-last audio (pass ``y.T``), or
        (concrete input) an output that overflows its dtype.

    Warns
    -----
    JaxMusicWarning
        ``n_fft`` larger than the signal (as librosa): the frames are mostly padding.

    Notes
    -----
    float16/bfloat16 input is computed in float32. NaN/inf are refused for concrete
    input only: under ``jax.jit`` values cannot be inspected (see `jaxmusic.checked`).
    """
    n_fft, hop_length, win_length = _stft_sizes(n_fft, hop_length, win_length)
    center = bool(center)
    check_choice("pad_mode", pad_mode, PAD_MODES)
    y = _real_signal(y, "y", min_length=1 if center else n_fft, frame=n_fft)
    window = _fft_window(window, win_length, n_fft)
    D = _stft_kernel(y, window, n_fft=n_fft, hop_length=hop_length, center=center, pad_mode=pad_mode)
    return check_output(D, y, name="y", what="STFT")


def istft(
    stft_matrix: Any,
    *,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_fft: int | None = None,
    window: Any = "hann",
    center: bool = True,
    length: int | None = None,
) -> jax.Array:
    """Inverse short-time Fourier transform, as ``librosa.istft``.

    Each column is inverted with a real inverse FFT, windowed, overlap-added, and the
    sum is divided by the overlap-added squared window wherever that is non-zero
    (Griffin and Lim's least-squares estimate). ``istft(stft(y), length=n)``
    reconstructs ``y`` for windows satisfying the NOLA condition (e.g. Hann with
    ``hop_length <= win_length // 2``).

    Parameters
    ----------
    stft_matrix : array, shape (..., 1 + n_fft // 2, n_frames), complex
    hop_length : int >= 1 or None, keyword-only
        Default ``win_length // 4``.
    win_length : int in [1, n_fft] or None, keyword-only
        Default ``n_fft``.
    n_fft : int or None, keyword-only
        Default ``2 * (stft_matrix.shape[-2] - 1)``; give it for odd frame lengths.
    window : window specification, keyword-only
        As in `stft` (default ``'hann'``).
    center : bool, keyword-only
        Whether the frames were centred (default True).
    length : int >= 1 or None, keyword-only
        Zero-pad or trim the output to exactly ``length`` samples.

    Returns
    -------
    y : jax.Array, shape (..., n_out), real
        ``n_out = length`` if given, else ``n_fft + hop_length * (n_frames - 1)``
        minus ``2 * (n_fft // 2)`` when centred. float32 for complex64 input.

    Raises
    ------
    ParameterError
        Bad sizes, ``stft_matrix.shape[-2] != 1 + n_fft // 2``, a non-float or
        non-finite matrix, fewer than 2 axes, or a ``hop_length`` that leaves output
        samples covered by no window (``hop_length > win_length``, or a Hann window
        with ``hop_length == n_fft``): those samples would silently come out as zeros.

    Notes
    -----
    NaN/inf are refused for concrete input only: under ``jax.jit`` values cannot be
    inspected (see `jaxmusic.checked`).
    """
    check_signal(stft_matrix, name="stft_matrix", min_ndim=2, allow_complex=True)
    n_bins = stft_matrix.shape[-2]
    if n_fft is None:
        n_fft = 2 * (n_bins - 1)
        if n_fft < 1:
            raise ParameterError(
                f"stft_matrix has {n_bins} frequency bin (shape {tuple(stft_matrix.shape)}); "
                "pass n_fft explicitly"
            )
    n_fft, hop_length, win_length = _stft_sizes(n_fft, hop_length, win_length)
    if n_bins != 1 + n_fft // 2:
        raise ParameterError(
            f"stft_matrix has {n_bins} frequency bins (shape {tuple(stft_matrix.shape)}), "
            f"but n_fft={n_fft} gives {1 + n_fft // 2}"
        )
    if length is not None:
        length = check_int("length", length, min=1)
    center = bool(center)
    S = upcast(stft_matrix)
    if not jnp.issubdtype(S.dtype, jnp.complexfloating):
        S = S.astype(jnp.result_type(S.dtype, jnp.complex64))
    n_frames = S.shape[-1]
    if length is not None:
        padded = length + 2 * (n_fft // 2) if center else length
        n_frames = min(n_frames, -(-padded // hop_length))
    window = _fft_window(window, win_length, n_fft)
    check_overlap(window, n_fft=n_fft, hop_length=hop_length, n_frames=n_frames, what="the inverse STFT")
    frames = jnp.fft.irfft(jnp.swapaxes(S[..., :n_frames], -1, -2), n=n_fft, axis=-1)
    frames = frames * jnp.asarray(window, dtype=frames.dtype)
    y = overlap_add(frames, hop_length=hop_length)
    start = n_fft // 2 if center else 0
    n_out = length if length is not None else n_fft + hop_length * (n_frames - 1) - 2 * start
    y = y[..., start : start + n_out]
    if y.shape[-1] < n_out:
        y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n_out - y.shape[-1])])
    inv = _inverse_wss(_window_key(window), n_frames, hop_length, n_fft, start, n_out, np.dtype(y.dtype).name)
    return y * jnp.asarray(inv, dtype=y.dtype)


@functools.lru_cache(maxsize=64)
def _inverse_wss(key, n_frames, hop_length, n_fft, start, n_out, dtype_name):
    """1 / (window sum-square) where it is not tiny, else 1; NumPy, cached."""
    w2 = _window_from_key(key, n_fft) ** 2
    wss = overlap_add(np.broadcast_to(w2, (n_frames, n_fft)), hop_length=hop_length, xp=np)[start : start + n_out]
    wss = np.pad(wss, (0, n_out - wss.shape[0]))
    tiny = np.finfo(np.dtype(dtype_name)).tiny
    inv = np.where(wss > tiny, 1.0 / np.where(wss > tiny, wss, 1.0), 1.0)
    inv.setflags(write=False)
    return inv


@functools.lru_cache(maxsize=64)
def _overlap_report(key: Any, n_fft: int, hop_length: int, n_frames: int) -> tuple[int, float, int]:
    """Of ``n_frames`` windows overlap-added at ``hop_length`` (capped at enough frames
    for the steady state, which is also returned): the samples between the first and
    the last covered one that no window covers (sum-square below float32's ``tiny``),
    and the largest ``sum |w| / sum w**2`` elsewhere: how much an inverse STFT
    (window-sum-square normalised) can amplify frames that are not windowed signals
    (modified spectra)."""
    w = _window_from_key(key, n_fft)
    n_frames = max(1, min(n_frames, 2 + -(-4 * n_fft // hop_length)))
    s1 = overlap_add(np.broadcast_to(np.abs(w), (n_frames, n_fft)), hop_length=hop_length, xp=np)
    s2 = overlap_add(np.broadcast_to(w**2, (n_frames, n_fft)), hop_length=hop_length, xp=np)
    covered = s2 > np.finfo(np.float32).tiny
    idx = np.nonzero(covered)[0]
    if idx.size == 0:
        return n_fft, float("inf"), n_frames
    gaps = int(np.count_nonzero(~covered[idx[0] : idx[-1] + 1]))
    # the gain in the steady state, away from the first and last frame's outer halves
    # (a centred STFT covers its output's ends with the middle of a frame)
    inner = np.zeros_like(covered)
    inner[n_fft // 2 : s2.shape[0] - n_fft // 2] = True
    inner = (inner & covered) if np.any(inner & covered) else covered
    gain = float(np.max(s1[inner] / s2[inner]))
    return gaps, gain, n_frames


@functools.lru_cache(maxsize=64)
def _span_report(key: Any, n_fft: int, hop_length: int, n_frames: int, start: int, n_out: int) -> tuple[int, float]:
    """Of ``n_frames`` windows overlap-added at ``hop_length``, over the output samples
    ``[start, start + n_out)``: how many no window covers (sum-square below float32's
    ``tiny``, the end beyond the last frame included), and the largest
    ``sum |w| / sum w**2`` over the others (see `_overlap_report`)."""
    w = _window_from_key(key, n_fft)
    s1 = overlap_add(np.broadcast_to(np.abs(w), (n_frames, n_fft)), hop_length=hop_length, xp=np)
    s2 = overlap_add(np.broadcast_to(w**2, (n_frames, n_fft)), hop_length=hop_length, xp=np)
    s1 = np.pad(s1, (0, max(0, start + n_out - s1.shape[0])))[start : start + n_out]
    s2 = np.pad(s2, (0, max(0, start + n_out - s2.shape[0])))[start : start + n_out]
    covered = s2 > np.finfo(np.float32).tiny
    gain = float(np.max(s1[covered] / s2[covered])) if covered.any() else float("inf")
    return int(np.count_nonzero(~covered)), gain


def check_overlap(window: Any, *, n_fft: int, hop_length: int, n_frames: int = 64, what: str = "the output",
                  span: tuple[int, int] | None = None, max_gain: float | None = None) -> None:
    """Refuse a hop that leaves samples covered by no window (an inverse STFT gives
    zeros there, whatever the input), and, with ``max_gain``, a hop whose windows
    overlap so thinly that an inverse STFT of modified frames would amplify them more
    than ``max_gain`` times.

    ``window`` is the FFT window (an array of length ``n_fft``) or its specification.
    Without ``span``, the gaps between the first and the last covered sample of
    ``n_frames`` frames count (the edges of the first and last frame do not: `istft`
    documents them); with ``span=(start, n_out)``, every output sample
    ``[start, start + n_out)`` of the overlap-added frames must be covered, the end
    included, and the gain is taken over those samples.
    """
    key = _window_key(window)
    if hop_length > n_fft and n_frames > 1:
        raise ParameterError(
            f"hop_length={hop_length} is larger than n_fft={n_fft}: the samples between frames are "
            f"covered by no window, so {what} would be silent there; use hop_length <= n_fft // 2"
        )
    if span is None:
        gaps, gain, frames = _overlap_report(key, n_fft, hop_length, n_frames)
        where = f"{gaps} of them in {frames} frames"
    else:
        gaps, gain = _span_report(key, n_fft, hop_length, n_frames, *span)
        where = f"{gaps} of its {span[1]} samples"
    if gaps:
        raise ParameterError(
            f"hop_length={hop_length} with n_fft={n_fft} leaves samples that no window covers (the "
            f"window is zero there, or no frame reaches them: {where}), so {what} would be zero there "
            "whatever the input; use hop_length <= n_fft // 2"
        )
    if max_gain is not None and gain > max_gain:
        raise ParameterError(
            f"hop_length={hop_length} with n_fft={n_fft}: the windows overlap so little that {what} "
            f"would amplify the frames up to {gain:.3g} times (more than {max_gain:g}) where only a "
            "window's edge covers a sample; use hop_length <= n_fft // 2"
        )
