"""Spectral-envelope cross-synthesis (vocoding) in the cepstral domain.

Per STFT frame ``X = DFT(w * s)`` (``n_fft`` bins, window ``w``), the log-magnitude
spectral envelope is the low-quefrency part of the real cepstrum,

    c = IDFT(log max(|X|, EPS))           (the real cepstrum, n_fft quefrencies)
    E = DFT(W_LP * c)                     (real: c and W_LP are both even)

with the symmetric low-pass lifter

    W_LP[q] = 1  for 0 <= q < n_coeffs  or  n_fft - n_coeffs < q < n_fft,
    W_LP[q] = 0  otherwise,

that keeps the quefrencies ``0 .. n_coeffs - 1`` and their mirrors (the cut-off
quefrency is ``n_coeffs / sr`` seconds). ``n_coeffs = 1 + n_fft // 2`` keeps every
quefrency, so that ``E = log max(|X|, EPS)``.

`envelope_hybrid` flattens the source's spectrum by its own envelope and imposes
the target's: frame by frame,

    Y = X_s * exp(E_t - E_s),

i.e. ``|Y| = |X_s| exp(E_t) / exp(E_s)`` with the source's phase, then inverts the
STFT (as `jaxmusic.fourier.istft`, window-sum-square normalised). The STFT is
librosa's (``center=True``, zero padding), of the inputs followed by ``hop_length``
zeros, so that the frames reach past the end and the last samples lie under the
middle of a window, as the first ones do. The floor ``EPS = 1e-5`` (librosa's
``amplitude_to_db`` default ``amin``) keeps the logarithm, and its gradient,
finite at silent bins: a silent source gives silence, a silent target a
near-silent output, never NaN.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_layout, check_output, check_real, check_signal, warn_short
from ..audio import validate
from ..fourier import _fft_window, _stft_kernel, check_overlap, overlap_add, window_sumsquare

__all__ = ["envelope_hybrid", "cepstral_envelope", "EPS"]

#: Magnitude floor before the logarithm (librosa's ``amplitude_to_db`` ``amin``).
EPS = 1e-5

#: Largest amplification of a frame that `envelope_hybrid`'s inverse STFT may apply
#: where the windows overlap thinly (``max sum|w| / sum w**2`` over the output; 2 for
#: a Hann window at ``hop_length = n_fft // 2``, 6.8 in the steady state at
#: ``3 n_fft / 4``, 4e5 at ``n_fft``): above it the hybrid would be dominated by the
#: edges of the frames.
MAX_OVERLAP_GAIN = 16.0


def _check_sizes(n_fft: Any, hop_length: Any, n_coeffs: Any) -> tuple[int, int, int]:
    n_fft = check_int("n_fft", n_fft, min=2)
    hop_length = check_int("hop_length", hop_length, min=1)
    n_bins = 1 + n_fft // 2
    n_coeffs = check_int("n_coeffs", n_coeffs)
    if not 1 <= n_coeffs <= n_bins:
        raise ParameterError(f"n_coeffs must be in [1, {n_bins}] (1 + n_fft // 2 with n_fft={n_fft}), "
                             f"got {n_coeffs}")
    return n_fft, hop_length, n_coeffs


@functools.lru_cache(maxsize=32)
def _lifter(n_fft: int, n_coeffs: int) -> np.ndarray:
    """The symmetric low-pass lifter ``W_LP`` (NumPy, float64, read-only).

    Parameters
    ----------
    n_fft : int >= 2
    n_coeffs : int in [1, 1 + n_fft // 2]

    Returns
    -------
    w : np.ndarray, shape (n_fft,)
        1 at quefrencies ``q < n_coeffs`` and ``q > n_fft - n_coeffs``, 0 elsewhere.
    """
    n_fft, _, n_coeffs = _check_sizes(n_fft, 1, n_coeffs)
    q = np.arange(n_fft)
    w = ((q < n_coeffs) | (q > n_fft - n_coeffs)).astype(np.float64)
    w.setflags(write=False)
    return w


def _log_envelope(X: jax.Array, w_lp: Any, n_fft: int) -> jax.Array:
    """``DFT(W_LP * IDFT(log max(|X|, EPS)))`` along the frequency axis ``-2`` of ``X``."""
    log_mag = jnp.log(jnp.maximum(jnp.abs(X), EPS))
    cepstrum = jnp.fft.irfft(log_mag, n=n_fft, axis=-2)
    liftered = cepstrum * jnp.asarray(w_lp, dtype=cepstrum.dtype)[:, None]
    return jnp.fft.rfft(liftered, axis=-2).real


def _float_dtype(*dtypes) -> Any:
    """float64 if any input is float64 (with x64 on), else float32."""
    wide = any(np.dtype(d) == np.float64 for d in dtypes)
    return jax.dtypes.canonicalize_dtype(np.float64) if wide else np.dtype(np.float32)


def cepstral_envelope(
    y: Any,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_coeffs: int = 40,
    window: Any = "hann",
) -> jax.Array:
    """Log-magnitude spectral envelope of each STFT frame, by cepstral liftering.

    ``E = DFT(W_LP * IDFT(log max(|stft(y)|, EPS)))`` with the symmetric low-pass
    lifter of the module docstring (quefrencies ``0 .. n_coeffs - 1`` and their
    mirrors); the STFT is `jaxmusic.fourier.stft` with ``center=True``.

    Parameters
    ----------
    y : array, shape (..., samples), real floating point
        Leading axes are batch axes.
    n_fft : int >= 2, keyword-only
        Frame length and FFT size (default 2048).
    hop_length : int >= 1, keyword-only
        Samples between frames (default 512).
    n_coeffs : int in [1, 1 + n_fft // 2], keyword-only
        Quefrencies kept (default 40); ``1 + n_fft // 2`` keeps them all.
    window : window specification, keyword-only
        As `jaxmusic.fourier.get_window` (default ``'hann'``).

    Returns
    -------
    E : jax.Array, shape (..., 1 + n_fft // 2, n_frames), real
        Natural-log magnitude envelope; ``exp(E)`` is the smoothed magnitude.
        ``n_frames = 1 + samples // hop_length`` for even ``n_fft``.

    Raises
    ------
    ParameterError
        Bad sizes or window, ``n_coeffs`` out of range, a non-float, 0-d or
        non-finite signal (NaN/inf only for concrete input: under ``jax.jit`` values
        cannot be inspected, see `jaxmusic.checked`), channels-last audio (pass ``y.T``).

    Warns
    -----
    JaxMusicWarning
        A signal shorter than ``n_fft``. float16/bfloat16 input is computed in float32.
    """
    n_fft, hop_length, n_coeffs = _check_sizes(n_fft, hop_length, n_coeffs)
    check_signal(y, name="y")
    check_layout(y, n_fft, name="y")
    warn_short(y.shape[-1], n_fft, name="y")
    y = jnp.asarray(y)
    dtype = _float_dtype(y.dtype)
    win = np.asarray(_fft_window(window, n_fft, n_fft), dtype=dtype)
    w_lp = np.asarray(_lifter(n_fft, n_coeffs), dtype=dtype)
    E = _envelope_kernel(y.astype(dtype), win, w_lp, n_fft=n_fft, hop_length=hop_length)
    return check_output(E, y, what="log envelope")


@functools.partial(jax.jit, static_argnames=("n_fft", "hop_length"))
def _envelope_kernel(y, win, w_lp, *, n_fft, hop_length):
    X = _stft_kernel(y, win, n_fft=n_fft, hop_length=hop_length, center=True, pad_mode="constant")
    return _log_envelope(X, w_lp, n_fft)


def _mono(y: Any, name: str, n_fft: int) -> Any:
    """Check one input (values only when concrete); mono mixdown happens in the kernel."""
    if isinstance(y, (list, tuple)):
        y = np.asarray(y, dtype=np.float32)
    validate(y, name=name)  # shape, dtype, emptiness; NaN/inf (AudioError) when concrete
    check_layout(y, n_fft, name=name)
    if y.shape[-1] < n_fft:
        raise ParameterError(f"{name} has {y.shape[-1]} samples, shorter than one frame (n_fft={n_fft}); "
                             "pass a longer signal or a smaller n_fft")
    return jnp.asarray(y)


def _tile_to(y: jax.Array, n: int) -> jax.Array:
    """``y`` repeated from its start and cut to ``n`` samples (static sizes)."""
    if y.shape[-1] >= n:
        return y[..., :n]
    return jnp.tile(y, -(-n // y.shape[-1]))[..., :n]


def envelope_hybrid(
    source: Any,
    target: Any,
    *,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_coeffs: int = 40,
    window: Any = "hann",
) -> jax.Array:
    """Cross-synthesis: the source's fine structure under the target's spectral envelope.

    Frame by frame, ``Y = X_s * exp(E_t - E_s)`` where ``X_s`` is the source's STFT
    and ``E_s``, ``E_t`` are the cepstral log envelopes of source and target
    (`cepstral_envelope`); the output is ``istft(Y)``. So ``|Y|`` is the source's
    magnitude divided by its own envelope and multiplied by the target's, and the
    phase is the source's. Pure JAX: works under ``jax.jit`` (options static, e.g.
    ``jax.jit(functools.partial(envelope_hybrid, sr=sr))``), ``jax.vmap`` and
    ``jax.grad`` (finite gradients, also at silence).

    Parameters
    ----------
    source : array, shape (samples,) or (channels, samples), real floating point
        The excitation (fine structure, phase). Channels are averaged.
    target : array, shape (samples,) or (channels, samples), real floating point
        The sound whose spectral envelope is imposed. Channels are averaged.
    sr : float > 0, keyword-only
        Sampling rate of both inputs (default 22050). It fixes the lifter's cut-off
        quefrency, ``n_coeffs / sr`` seconds, but no number in the computation;
        resample inputs at other rates first (`jaxmusic.synthesis._common.prepare`).
    n_fft : int >= 2, keyword-only
        Frame length and FFT size (default 2048).
    hop_length : int in [1, n_fft], keyword-only
        Samples between frames (default 512). Every output sample must be covered by
        a window, the end included, and the windows must overlap enough that the
        inverse STFT amplifies no frame more than `MAX_OVERLAP_GAIN` times:
        ``hop_length <= n_fft // 2`` always is; longer hops are refused where they
        fail (for a Hann window, from about ``0.8 n_fft``, or earlier when the last
        frame stops short of the end).
    n_coeffs : int in [1, 1 + n_fft // 2], keyword-only
        Quefrencies kept by the lifter (default 40). Small values give a smooth
        envelope (formants); ``1 + n_fft // 2`` keeps every quefrency, giving the
        target's magnitude with the source's phase.
    window : window specification, keyword-only
        As `jaxmusic.fourier.get_window` (default ``'hann'``).

    Returns
    -------
    y : jax.Array, shape (max(len(source), len(target)),), float32
        (float64 for float64 input with ``jax_enable_x64``.) The shorter input is
        repeated from its start to the longer one's length first. Not normalised:
        the level follows the target's envelope; scale with
        `jaxmusic.synthesis._common.fit_peak` before writing 16-bit audio.

    Raises
    ------
    ParameterError
        Bad options (``n_coeffs`` out of range, non-integer sizes, unknown window,
        ``hop_length > n_fft`` or windows that overlap too little, see
        ``hop_length``); an input that is not a floating-point array of one or two
        axes, is channels-last (pass ``y.T``), or is shorter than ``n_fft``; a
        concrete result that overflows float32 (the message names the target's peak).
    AudioError
        An empty input, or NaN/inf samples (checked only for concrete inputs: under
        ``jax.jit`` the values cannot be inspected).

    Notes
    -----
    Quiet source bins are raised to the target's level (the source is flattened):
    keep the source free of low-level noise where silence is wanted. Bins with
    ``|X| < EPS`` are floored at ``EPS = 1e-5`` before the logarithm.
    """
    check_real("sr", sr, min=0.0, strict_min=True)
    n_fft, hop_length, n_coeffs = _check_sizes(n_fft, hop_length, n_coeffs)
    s = _mono(source, "source", n_fft)
    t = _mono(target, "target", n_fft)
    dtype = _float_dtype(s.dtype, t.dtype)
    n = max(s.shape[-1], t.shape[-1])
    # the frames run one hop past the end (zeros there), so that the last samples are
    # covered by the middle of a window, as the first ones are (see _hybrid_kernel)
    check_overlap(window, n_fft=n_fft, hop_length=hop_length,
                  n_frames=_n_frames(n_fft, hop_length, n + hop_length),
                  what="the hybrid", span=(n_fft // 2, n), max_gain=MAX_OVERLAP_GAIN)
    win = np.asarray(_fft_window(window, n_fft, n_fft), dtype=dtype)
    w_lp = np.asarray(_lifter(n_fft, n_coeffs), dtype=dtype)
    inv_wss = _inverse_wss(window, n_fft, hop_length, n + hop_length, dtype)
    y = _hybrid_kernel(s.astype(dtype), t.astype(dtype), win, w_lp, inv_wss,
                       n_fft=n_fft, hop_length=hop_length, length=n)
    return check_output(y, t, name="target", what="hybrid")


def _n_frames(n_fft: int, hop_length: int, n: int) -> int:
    """Frames of the centred STFT of n samples that `istft` uses for ``length=n``."""
    pad = n_fft // 2
    return min(1 + (n + 2 * pad - n_fft) // hop_length, -(-(n + 2 * pad) // hop_length))


def _inverse_wss(window: Any, n_fft: int, hop_length: int, n: int, dtype: Any) -> np.ndarray:
    """``1 / window_sumsquare`` on the output samples (1 where it is tiny), as `istft`."""
    pad = n_fft // 2
    wss = window_sumsquare(window=window, n_frames=_n_frames(n_fft, hop_length, n), hop_length=hop_length,
                           n_fft=n_fft)[pad : pad + n]
    wss = np.pad(wss, (0, n - wss.shape[0]))
    tiny = np.finfo(dtype).tiny
    return np.where(wss > tiny, 1.0 / np.where(wss > tiny, wss, 1.0), 1.0).astype(dtype)


@functools.partial(jax.jit, static_argnames=("n_fft", "hop_length", "length"))
def _hybrid_kernel(s, t, win, w_lp, inv_wss, *, n_fft, hop_length, length):
    """Checked inputs (mono or channels-first) -> the hybrid, ``length`` samples.

    The signals are followed by ``hop_length`` zeros, so that the frames reach past
    the end: the last samples are covered by the middle of a window, as the first ones
    are (by the centred frame 0). Without them, a hop near ``n_fft // 2`` leaves the
    last samples under the edge of one window only, and dividing by its tiny
    sum-square amplified them up to 1e4 times. ``inv_wss`` has ``length + hop_length``
    samples.
    """
    if s.ndim == 2:
        s = s.mean(axis=0)
    if t.ndim == 2:
        t = t.mean(axis=0)
    tail = [(0, hop_length)]
    s = jnp.pad(_tile_to(s, length), tail)
    t = jnp.pad(_tile_to(t, length), tail)
    extended, length = length + hop_length, length
    stft = functools.partial(_stft_kernel, n_fft=n_fft, hop_length=hop_length, center=True, pad_mode="constant")
    X_s = stft(s, win)
    X_t = stft(t, win)
    gain = jnp.exp(_log_envelope(X_t, w_lp, n_fft) - _log_envelope(X_s, w_lp, n_fft))
    Y = (X_s * gain.astype(X_s.dtype))[..., : _n_frames(n_fft, hop_length, extended)]
    # inverse STFT as jaxmusic.fourier.istft(Y, length=extended): the window is an argument here
    frames = jnp.fft.irfft(jnp.swapaxes(Y, -1, -2), n=n_fft, axis=-1) * win
    y = overlap_add(frames, hop_length=hop_length)
    start = n_fft // 2
    y = y[start : start + extended]
    if y.shape[-1] < extended:
        y = jnp.pad(y, (0, extended - y.shape[-1]))
    return (y * inv_wss)[:length]
