"""Spectral features compatible with librosa: decibels, mel spectrogram, MFCC, CQT.

Every feature exists twice:

* a function with librosa's name and keyword options (`melspectrogram`, `mfcc`,
  `cqt`), which checks its arguments, fetches the cached NumPy filters and applies them;
* a transform class (`MelSpectrogram`, `MFCC`, `CQT`): a frozen dataclass pytree whose
  configuration is static and whose filters are array leaves, built once in NumPy.
  ``S = MelSpectrogram(sr=16000, n_mels=64)``; ``S(y)``; ``jax.jit(S)(y)``;
  ``jax.vmap(S)(ys)``; ``jax.jit(lambda S, y: S(y))(S, y)``.

Signals are ``(..., time)``; features are ``(..., freq, frames)``. Outputs match
librosa to floating-point accuracy for mel and MFCC; `cqt` and `vqt` compute each
octave at the coarsest rate its filters allow, decimating by an ideal low-pass (one
FFT of the signal) where librosa resamples octave by octave, and agree with librosa
to a fraction of a decibel. Matrix products run at ``Precision.HIGHEST`` so that accelerators do not
fall back to reduced-precision (TF32/bf16) matmuls.

Gradients are finite everywhere, including at an all-zero input: power spectra use
``re**2 + im**2`` (or ``jnp.abs``) and decibels clamp with ``amin`` before the log.

Input rules (every feature): ``y`` is ``(..., time)``, and channels-last audio
(a last axis shorter than one frame while axis -2 is long enough to be time) is
refused with a hint to pass ``y.T``; float16/bfloat16 input is computed in
float32; a signal shorter than ``n_fft`` gives a `JaxMusicWarning`, as librosa
warns; an empty batch ``(0, n)`` gives an empty output. Decibels and MFCCs stay
finite at any finite amplitude (a signal whose power could come near float32's
range, peaking above about ``1e17 / n_fft``, is scaled by a power of two before
squaring and the offset is added back in decibels: exact in math, and no change at
all for any normal level); a power or magnitude output that overflows its dtype raises
`ParameterError` naming the peak, for concrete input. NaN/inf are refused only for
concrete input: under ``jax.jit`` values cannot be inspected (see
`jaxmusic.checked`).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import (
    ParameterError,
    check_choice,
    check_int,
    check_layout,
    check_output,
    check_real,
    is_concrete,
    upcast,
    warn_short,
)
from ._pytree import pytree_dataclass, static_field
from .filters.cqt import cqt_frequencies, cqt_multirate_bank, vqt_gamma
from .filters.mel import dct_matrix, mel as mel_filters, mel_frequencies
from .fourier import PAD_MODES, _fft_window, _real_signal, _stft_kernel, _stft_sizes, _window_key

__all__ = [
    "power_to_db",
    "amplitude_to_db",
    "melspectrogram",
    "mfcc",
    "cqt",
    "vqt",
    "MelSpectrogram",
    "MFCC",
    "CQT",
    "scalogram",
    "extract",
]

_HIGHEST = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------------- decibels


def _check_spectrum(S: Any, name: str = "S") -> jax.Array:
    dtype = getattr(S, "dtype", None)
    if dtype is None:
        if isinstance(S, numbers.Real) and not isinstance(S, bool):
            S = np.float32(S)
            dtype = S.dtype
        else:
            raise ParameterError(f"{name} must be an array, got {type(S).__name__}")
    real = jnp.issubdtype(dtype, jnp.floating)  # bfloat16 included
    if not real and np.dtype(dtype).kind != "c":
        raise ParameterError(f"{name} must be floating point or complex, got dtype {dtype}")
    if is_concrete(S):
        arr = np.asarray(S)
        if arr.size and not np.all(np.isfinite(arr)):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise ParameterError(f"{name} has {bad} NaN or inf values (shape {arr.shape})")
    return upcast(S)


def _check_axis(axis: Any, ndim: int) -> Any:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral) or not -ndim <= a < ndim:
            raise ParameterError(f"axis={axis!r} is out of range for an array with {ndim} axes")
    return tuple(int(a) for a in axes)


def _db_args(ref: Any, amin: Any, top_db: Any) -> tuple[Any, float, float | None]:
    if not callable(ref):
        ref = abs(check_real("ref", ref))
    amin = check_real("amin", amin, min=0.0, strict_min=True)
    if top_db is not None:
        top_db = check_real("top_db", top_db, min=0.0)
    return ref, amin, top_db


def _overflow_limit(dtype: Any, n: int, power: float) -> float:
    """Amplitude above which ``n`` summed values raised to ``power`` may come within
    1e4 of ``dtype``'s largest value: there `_scale_exponent` rescales."""
    big = float(jnp.finfo(dtype).max) / 1e4
    return big ** (1.0 / power) / max(1, n) if power > 0 else float("inf")


def _scale_exponent(peak: jax.Array, limit: float) -> jax.Array:
    """The exponent ``e`` of ``peak`` (``2**(e-1) <= peak < 2**e``) where ``peak > limit``,
    else 0. Dividing by ``2**e`` is exact, and the result does not depend on it (it is
    added back in decibels), so its gradient is stopped."""
    peak = jax.lax.stop_gradient(peak)
    _, e = jnp.frexp(peak)
    return jnp.where(peak > limit, e, 0)


def _pow2(e: jax.Array, dtype: Any) -> jax.Array:
    """``2**e`` for integer ``e``, exactly (``ldexp`` of ones): a product by it equals
    ``ldexp`` bit for bit, at the cost of one multiply. ``ldexp`` of a whole signal is
    several bit operations per sample, and XLA recomputes it in every STFT frame that
    reads the sample (it fuses into the framing): 40 % of an MFCC's time."""
    return jnp.ldexp(jnp.ones(jnp.shape(e), dtype), e)


def _log_power(P: jax.Array, amin: float, e: Any = None, p: float = 1.0) -> jax.Array:
    """``10 log10(max(amin, P * 2**(p e)))`` for ``P`` a power scaled by ``2**-(p e)``;
    with ``e`` None or 0 exactly ``10 log10(max(amin, P))``."""
    if e is None:
        return 10.0 * jnp.log10(jnp.maximum(amin, P))
    e = jnp.asarray(e, P.dtype)
    floor = jnp.maximum(amin * jnp.exp2(-p * e), jnp.finfo(P.dtype).tiny)
    return 10.0 * jnp.log10(jnp.maximum(floor, P)) + (10.0 * p * np.log10(2.0)) * e


def _power_to_db_kernel(S: jax.Array, ref: Any, amin: float, top_db: float | None, axis: Any,
                        e: Any = None, p: float = 1.0) -> jax.Array:
    """Decibels of the power ``S`` (scaled by ``2**-(p e)`` when ``e`` is given; a callable
    ``ref`` then receives ``S`` in that scale too)."""
    log_spec = _log_power(S, amin, e, p)
    if callable(ref):
        log_spec = log_spec - _log_power(jnp.abs(ref(S)), amin, e, p)
    else:
        log_spec = log_spec - 10.0 * jnp.log10(jnp.maximum(amin, ref))
    if top_db is not None and log_spec.size:
        peak = jnp.max(log_spec, axis=axis, keepdims=axis is not None)
        log_spec = jnp.maximum(log_spec, peak - top_db)
    return log_spec


def power_to_db(
    S: Any,
    *,
    ref: float | Callable = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    """Convert a power spectrogram to decibels, as ``librosa.power_to_db``.

    ``10 log10(max(amin, S)) - 10 log10(max(amin, ref))``, then floored at
    ``top_db`` below the maximum.

    Parameters
    ----------
    S : array, shape (...), real (complex input is replaced by its modulus)
        Power values.
    ref : float or callable, keyword-only
        Reference power (0 dB), or a function of ``S`` returning it (e.g. ``jnp.max``).
    amin : float > 0, keyword-only
        Floor before the logarithm (default 1e-10); it also keeps gradients finite at 0.
    top_db : float >= 0 or None, keyword-only
        Dynamic range kept below the maximum (default 80); None keeps everything.
    axis : int, tuple of ints or None, keyword-only
        Axes over which the maximum for ``top_db`` is taken. None (default, librosa's
        behaviour): the whole array. Use ``axis=(-2, -1)`` to floor each spectrogram of
        a batch separately (what `mfcc` does, so that ``vmap`` equals a loop).

    Returns
    -------
    S_db : jax.Array, same shape as ``S``, real

    Notes
    -----
    NaN/inf are refused for concrete input only: under ``jax.jit`` values cannot be
    inspected (see `jaxmusic.checked`).
    """
    S = _check_spectrum(S)
    if jnp.iscomplexobj(S):
        S = jnp.abs(S)
    ref, amin, top_db = _db_args(ref, amin, top_db)
    return _power_to_db_kernel(S, ref, amin, top_db, _check_axis(axis, S.ndim))


def amplitude_to_db(
    S: Any,
    *,
    ref: float | Callable = 1.0,
    amin: float = 1e-5,
    top_db: float | None = 80.0,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    """Convert an amplitude spectrogram to decibels, as ``librosa.amplitude_to_db``.

    Equal to ``power_to_db(abs(S)**2, ref=ref**2, amin=amin**2, top_db=top_db)``.

    Parameters
    ----------
    S : array, shape (...), real or complex
        Amplitudes (the modulus is taken).
    ref : float or callable, keyword-only
        Reference amplitude, or a function of ``abs(S)`` returning it.
    amin : float > 0, keyword-only
        Amplitude floor (default 1e-5).
    top_db : float >= 0 or None, keyword-only
        Default 80.
    axis : int, tuple of ints or None, keyword-only
        Axes of the maximum for ``top_db``; see `power_to_db`.

    Returns
    -------
    S_db : jax.Array, same shape as ``S``, real
        Finite for any finite ``S``: amplitudes whose square would overflow are
        scaled by a power of two first and the offset added back in decibels.

    Notes
    -----
    NaN/inf are refused for concrete input only: under ``jax.jit`` values cannot be
    inspected (see `jaxmusic.checked`).
    """
    S = _check_spectrum(S)
    ref, amin, top_db = _db_args(ref, amin, top_db)
    magnitude = jnp.abs(S)
    # scale huge amplitudes by 2**-e before squaring (e = 0, i.e. no change, for any normal level)
    e = _scale_exponent(jnp.max(magnitude, initial=0.0), _overflow_limit(magnitude.dtype, 1, 2.0))
    scaled = magnitude * _pow2(-e, magnitude.dtype)
    if callable(ref):
        ref_power = lambda _: jnp.square(jnp.abs(ref(magnitude)) * _pow2(-e, magnitude.dtype))  # noqa: E731
    else:
        ref_power = ref**2
    return _power_to_db_kernel(jnp.square(scaled), ref_power, amin**2, top_db, _check_axis(axis, S.ndim),
                               e=e, p=2.0)


# ---------------------------------------------------------------- mel / MFCC


def _spectrum_power(X: jax.Array, power: float) -> jax.Array:
    """``|X| ** power`` with finite gradients at ``X == 0`` for ``power >= 1``."""
    if power == 2.0:
        return jnp.square(X.real) + jnp.square(X.imag)
    magnitude = jnp.abs(X)
    return magnitude if power == 1.0 else magnitude**power


def _mel_setup(
    *, sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, norm
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Check the options; return the normalised static config, the FFT window and the mel bank."""
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    n_fft, hop_length, win_length = _stft_sizes(n_fft, hop_length, win_length)
    check_choice("pad_mode", pad_mode, PAD_MODES)
    power = check_real("power", power, min=0.0, strict_min=True)
    fmin = check_real("fmin", fmin, min=0.0)
    fmax = sr / 2.0 if fmax is None else check_real("fmax", fmax)
    basis = mel_filters(sr, n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    fft_window = _fft_window(window, win_length, n_fft)
    config = dict(
        sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
        window=_window_key(window), center=bool(center), pad_mode=pad_mode, power=power,
        n_mels=int(n_mels), fmin=fmin, fmax=fmax, htk=bool(htk), norm=norm if norm in (None, "slaney") else float(norm),
    )
    return config, fft_window, basis


def _mel_kernel(y, fft_window, mel_basis, *, n_fft, hop_length, center, pad_mode, power):
    X = _stft_kernel(y, fft_window, n_fft=n_fft, hop_length=hop_length, center=center, pad_mode=pad_mode)
    S = _spectrum_power(X, power)
    return jnp.einsum("mf,...ft->...mt", jnp.asarray(mel_basis, dtype=S.dtype), S, precision=_HIGHEST)


def _check_y(y: Any, n_fft: int, center: bool) -> jax.Array:
    return _real_signal(y, "y", min_length=1 if center else n_fft, frame=n_fft)


def _mel_db(y, fft_window, mel_basis, *, n_fft, hop_length, center, pad_mode, power, amin=1e-10):
    """Decibels (``10 log10(max(amin, mel power))``, ref 1, no floor) of checked ``y``,
    finite at any finite amplitude: a signal peaking where its power could overflow is
    scaled by ``2**-e`` (exact) and ``10 power e log10(2)`` dB added back. For every
    normal level ``e = 0`` and the result is that of the unscaled formula, bit for bit."""
    peak = jnp.max(jnp.abs(y), axis=-1, keepdims=True, initial=0.0)  # (..., 1)
    e = _scale_exponent(peak, _overflow_limit(y.dtype, n_fft, power))
    mel = _mel_kernel(y * _pow2(-e, y.dtype), fft_window, mel_basis, n_fft=n_fft, hop_length=hop_length,
                      center=center, pad_mode=pad_mode, power=power)
    return _log_power(mel, amin, e[..., None], power)


@pytree_dataclass
class MelSpectrogram:
    """Mel power spectrogram transform, as ``librosa.feature.melspectrogram``.

    ``mel_basis @ |stft(y)| ** power`` with the filters of `jaxmusic.filters.mel.mel`.
    Options are keyword-only and the same as `melspectrogram`; ``fft_window`` and
    ``mel_basis`` are built from them (leave them unset).

    NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).

    Attributes
    ----------
    fft_window : jax.Array, shape (n_fft,)
        Periodic window zero-padded to ``n_fft`` (pytree leaf).
    mel_basis : jax.Array, shape (n_mels, 1 + n_fft // 2)
        Mel filter bank (pytree leaf).
    """

    _: dataclasses.KW_ONLY
    sr: float = static_field(default=22050.0)
    n_fft: int = static_field(default=2048)
    hop_length: int = static_field(default=512)
    win_length: int | None = static_field(default=None)
    window: Any = static_field(default="hann")
    center: bool = static_field(default=True)
    pad_mode: str = static_field(default="constant")
    power: float = static_field(default=2.0)
    n_mels: int = static_field(default=128)
    fmin: float = static_field(default=0.0)
    fmax: float | None = static_field(default=None)
    htk: bool = static_field(default=False)
    norm: Any = static_field(default="slaney")
    fft_window: Any = None
    mel_basis: Any = None

    def __post_init__(self):
        if self.fft_window is not None and self.mel_basis is not None:
            return  # rebuilt by jax.tree_util (unflatten): leaves given, config already checked
        config, fft_window, basis = _mel_setup(
            sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
            window=self.window, center=self.center, pad_mode=self.pad_mode, power=self.power,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk, norm=self.norm,
        )
        for name, value in config.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "fft_window", jnp.asarray(fft_window))
        object.__setattr__(self, "mel_basis", jnp.asarray(basis))

    def __call__(self, y: Any) -> jax.Array:
        """Mel spectrogram of ``y``.

        Parameters
        ----------
        y : array, shape (..., n), real floating point

        Returns
        -------
        M : jax.Array, shape (..., n_mels, n_frames), same real dtype as ``y``
            ``n_frames = 1 + n // hop_length`` when centred (even ``n_fft``).
        """
        y = _check_y(y, self.n_fft, self.center)
        M = _mel_kernel(
            y, self.fft_window.astype(y.dtype), self.mel_basis, n_fft=self.n_fft,
            hop_length=self.hop_length, center=self.center, pad_mode=self.pad_mode, power=self.power,
        )
        return check_output(M, y, what="mel power spectrogram")

    def frequencies(self) -> np.ndarray:
        """Centre frequencies (Hz) of the mel bands, shape (n_mels,)."""
        return mel_frequencies(self.n_mels + 2, fmin=self.fmin, fmax=self.fmax, htk=self.htk)[1:-1]


def melspectrogram(
    y: Any,
    *,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: Any = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: Any = "slaney",
) -> jax.Array:
    """Mel-scaled power spectrogram, as ``librosa.feature.melspectrogram``.

    Parameters
    ----------
    y : array, shape (..., n), real floating point
    sr : float > 0, keyword-only
        Sampling rate (default 22050).
    n_fft, hop_length, win_length, window, center, pad_mode : keyword-only
        STFT options, as `jaxmusic.fourier.stft` (``hop_length`` defaults to 512).
    power : float > 0, keyword-only
        Exponent of the magnitude (2: power, 1: energy). Default 2.
    n_mels : int >= 1, keyword-only
        Number of mel bands (default 128).
    fmin, fmax, htk, norm : keyword-only
        Mel filter options, as `jaxmusic.filters.mel.mel`.

    Returns
    -------
    M : jax.Array, shape (..., n_mels, n_frames), same real dtype as ``y``

    Raises
    ------
    ParameterError
        Bad options (``n_fft <= 0``, ``hop_length <= 0``, ``fmax > sr / 2``, ``n_mels``
        too large for ``n_fft``...), or a non-float, non-finite, 0-d or (with
        ``center=False``) too-short signal; channels-last audio (pass ``y.T``); a
        concrete signal whose power overflows the dtype (the message names its peak).

    Notes
    -----
    float16/bfloat16 input is computed in float32. NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).
    """
    config, fft_window, basis = _mel_setup(
        sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=htk, norm=norm,
    )
    y = _check_y(y, config["n_fft"], config["center"])
    M = _mel_kernel(
        y, fft_window, basis, n_fft=config["n_fft"], hop_length=config["hop_length"],
        center=config["center"], pad_mode=config["pad_mode"], power=config["power"],
    )
    return check_output(M, y, what="mel power spectrogram")


def _mfcc_setup(n_mels: int, n_mfcc: Any, dct_type: Any, norm: Any, lifter: Any) -> tuple[dict, np.ndarray]:
    n_mfcc = check_int("n_mfcc", n_mfcc, min=1)
    if n_mfcc > n_mels:
        raise ParameterError(f"n_mfcc={n_mfcc} must be <= n_mels={n_mels}")
    dct_type = check_choice("dct_type", check_int("dct_type", dct_type), (1, 2, 3))
    check_choice("norm", norm, (None, "ortho"))
    lifter = check_real("lifter", lifter, min=0.0)
    basis = np.array(dct_matrix(n_mels, dct_type=dct_type, norm=norm, n_out=n_mfcc))
    if lifter > 0:
        basis *= (1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter))[:, None]
    return dict(n_mfcc=n_mfcc, dct_type=dct_type, norm=norm, lifter=lifter), basis


def _mfcc_kernel(mel_db: jax.Array, dct_basis: Any) -> jax.Array:
    # librosa: power_to_db(ref=1, amin=1e-10, top_db=80), then a DCT along the mel axis.
    # ``mel_db`` is 10 log10(max(1e-10, mel power)) (`_mel_db`); the top_db floor is
    # taken per spectrogram so that a batch equals a loop.
    peak = jnp.max(mel_db, axis=(-2, -1), keepdims=True)
    S_db = jnp.maximum(mel_db, peak - 80.0)
    return jnp.einsum("km,...mt->...kt", jnp.asarray(dct_basis, dtype=S_db.dtype), S_db, precision=_HIGHEST)


@pytree_dataclass
class MFCC:
    """Mel-frequency cepstral coefficients transform, as ``librosa.feature.mfcc``.

    ``dct(power_to_db(mel_spectrogram, top_db=80))[:n_mfcc]`` along the mel axis, with
    optional sinusoidal liftering folded into the DCT matrix. Options are keyword-only
    and the same as `mfcc`. NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).

    Attributes
    ----------
    melspec : MelSpectrogram
        The mel front end (a pytree child).
    dct_basis : jax.Array, shape (n_mfcc, n_mels)
        DCT rows (times the lifter) (pytree leaf).
    """

    _: dataclasses.KW_ONLY
    sr: float = static_field(default=22050.0)
    n_mfcc: int = static_field(default=20)
    dct_type: int = static_field(default=2)
    norm: str | None = static_field(default="ortho")
    lifter: float = static_field(default=0.0)
    n_fft: int = static_field(default=2048)
    hop_length: int = static_field(default=512)
    win_length: int | None = static_field(default=None)
    window: Any = static_field(default="hann")
    center: bool = static_field(default=True)
    pad_mode: str = static_field(default="constant")
    power: float = static_field(default=2.0)
    n_mels: int = static_field(default=128)
    fmin: float = static_field(default=0.0)
    fmax: float | None = static_field(default=None)
    htk: bool = static_field(default=False)
    mel_norm: Any = static_field(default="slaney")
    melspec: Any = None
    dct_basis: Any = None

    def __post_init__(self):
        if self.melspec is not None and self.dct_basis is not None:
            return
        melspec = MelSpectrogram(
            sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
            window=self.window, center=self.center, pad_mode=self.pad_mode, power=self.power,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk, norm=self.mel_norm,
        )
        config, basis = _mfcc_setup(melspec.n_mels, self.n_mfcc, self.dct_type, self.norm, self.lifter)
        for name in ("sr", "n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "power",
                     "n_mels", "fmin", "fmax", "htk"):
            object.__setattr__(self, name, getattr(melspec, name))
        object.__setattr__(self, "mel_norm", melspec.norm)
        for name, value in config.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "melspec", melspec)
        object.__setattr__(self, "dct_basis", jnp.asarray(basis))

    def __call__(self, y: Any) -> jax.Array:
        """MFCCs of ``y``.

        Parameters
        ----------
        y : array, shape (..., n), real floating point

        Returns
        -------
        M : jax.Array, shape (..., n_mfcc, n_frames), same real dtype as ``y``
            (float32 for float16/bfloat16 input); finite at any finite amplitude.
        """
        m = self.melspec
        y = _check_y(y, m.n_fft, m.center)
        mel_db = _mel_db(y, m.fft_window.astype(y.dtype), m.mel_basis, n_fft=m.n_fft, hop_length=m.hop_length,
                         center=m.center, pad_mode=m.pad_mode, power=m.power)
        return _mfcc_kernel(mel_db, self.dct_basis)


def mfcc(
    y: Any,
    *,
    sr: float = 22050,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: Any = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    mel_norm: Any = "slaney",
) -> jax.Array:
    """Mel-frequency cepstral coefficients, as ``librosa.feature.mfcc``.

    ``power_to_db`` of the mel power spectrogram (``ref=1``, ``amin=1e-10``,
    ``top_db=80``), then a DCT along the mel axis, keeping ``n_mfcc`` coefficients,
    then optional liftering ``1 + (lifter / 2) sin(pi (k + 1) / lifter)``.

    Parameters
    ----------
    y : array, shape (..., n), real floating point
    sr : float > 0, keyword-only
        Default 22050.
    n_mfcc : int in [1, n_mels], keyword-only
        Default 20.
    dct_type : {1, 2, 3}, keyword-only
        Default 2.
    norm : {'ortho', None}, keyword-only
        DCT normalisation (default ``'ortho'``).
    lifter : float >= 0, keyword-only
        Cepstral liftering; 0 (default) disables it.
    n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk : keyword-only
        Mel spectrogram options, as `melspectrogram`.
    mel_norm : {'slaney', None} or float, keyword-only
        The mel filters' ``norm`` (librosa's ``mel_norm``).

    Returns
    -------
    M : jax.Array, shape (..., n_mfcc, n_frames), same real dtype as ``y``

    Notes
    -----
    The 80 dB floor is relative to the maximum of each spectrogram (the last two
    axes); librosa takes the maximum over the whole (multichannel) array. For a
    single signal the two coincide. The result is finite at any finite amplitude
    (see the module docstring). float16/bfloat16 input is computed in float32.
    NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).
    """
    config, fft_window, mel_basis = _mel_setup(
        sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=htk, norm=mel_norm,
    )
    _, dct_basis = _mfcc_setup(config["n_mels"], n_mfcc, dct_type, norm, lifter)
    y = _check_y(y, config["n_fft"], config["center"])
    mel_db = _mel_db(
        y, fft_window, mel_basis, n_fft=config["n_fft"], hop_length=config["hop_length"],
        center=config["center"], pad_mode=config["pad_mode"], power=config["power"],
    )
    return _mfcc_kernel(mel_db, dct_basis)


# ------------------------------------------------------------------------- CQT


def _cqt_setup(*, sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, norm, window, scale, pad_mode,
               gamma):
    hop_length = check_int("hop_length", hop_length, min=1)
    check_choice("pad_mode", pad_mode, PAD_MODES)
    bank = cqt_multirate_bank(
        sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
        filter_scale=filter_scale, norm=norm, window=window, scale=scale, gamma=gamma,
    )
    config = dict(
        sr=float(sr), hop_length=hop_length, fmin=float(bank.freqs[0]), n_bins=int(n_bins),
        bins_per_octave=int(bins_per_octave), filter_scale=float(filter_scale),
        norm=None if norm is None else float(norm), window=_window_key(window), scale=bool(scale),
        pad_mode=pad_mode,
    )
    # static plan: (start, stop, decimation, offset, n_taps) per group, highest first
    plan = tuple((o.start, o.stop, o.decimation, o.offset, o.n_taps) for o in bank.octaves)
    return config, bank, plan


def _cqt_kernels(bank, dtype=None):
    """Per group, the taps as a real convolution kernel ``(2 n_group, 1, n_taps)``:
    real parts, then imaginary parts."""
    return tuple(
        jnp.asarray(np.concatenate([o.taps.real, o.taps.imag])[:, None, :], dtype=dtype) for o in bank.octaves
    )


def _smooth_size(n: int, multiple: int) -> int:
    """The least multiple of ``multiple`` >= n whose quotient has no prime factor above 5
    (a fast FFT length on every backend)."""
    m = -(-n // multiple)
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m * multiple
        m += 1


def _cqt_kernel(y, kernels, *, plan, pad, n_frames, hop_length, pad_mode):
    """Multirate CQT of a checked signal ``(..., n)`` -> ``(..., n_bins, n_frames)``.

    The signal, padded by ``pad`` (``pad_mode``) and zeros to a length ``L``, is Fourier
    transformed once; a group decimated by ``d`` reads the inverse real FFT of the first
    ``1 + L / (2 d)`` coefficients (an ideal low-pass, sampled at ``sr / d``) and is a
    strided real convolution of that signal with its taps (real and imaginary parts
    as output channels), one output per frame.
    """
    n = y.shape[-1]
    lead = y.shape[:-1]
    y = y.reshape((-1, n))
    decimations = sorted({d for _, _, d, _, _ in plan})
    d_max = decimations[-1]
    reach = max(n, (n_frames - 1) * hop_length + max(d * (o + m) for _, _, d, o, m in plan)) + pad
    if d_max == 1:  # no group is decimated: no Fourier transform
        length = reach
    else:
        length = _smooth_size(reach, d_max)
    right = length - n - pad
    if pad_mode == "constant":
        z = jnp.pad(y, [(0, 0), (pad, right)])
    else:  # the padding the frames can reach, then zeros
        edge = min(right, pad + hop_length)
        z = jnp.pad(jnp.pad(y, [(0, 0), (pad, edge)], mode=pad_mode), [(0, 0), (0, right - edge)])
    signals = {1: z}
    if d_max > 1:
        Z = jnp.fft.rfft(z, axis=-1)
        for d in decimations:
            if d == 1:
                continue
            m = length // d
            signals[d] = jnp.fft.irfft(Z[:, : m // 2 + 1], n=m, axis=-1)
    outs = []
    for (start, stop, d, offset, n_taps), kernel in zip(plan, kernels):
        u = signals[d]
        first = pad // d + offset
        hop = hop_length // d
        segment = u[:, None, first : first + (n_frames - 1) * hop + n_taps]
        out = jax.lax.conv_general_dilated(
            segment, kernel.astype(u.dtype), (hop,), "VALID", precision=_HIGHEST
        )  # (batch, 2 k, n_frames)
        k = stop - start
        outs.append(jax.lax.complex(out[:, :k], out[:, k:]))
    C = jnp.concatenate(outs[::-1], axis=-2)
    return C.reshape(lead + C.shape[-2:])


def _check_cqt_y(y: Any, plan: tuple, hop_length: int) -> jax.Array:
    """A checked signal for the CQT: channels-last refused (a last axis shorter than
    one hop while axis -2 is longer), a warning when the lowest filters are longer
    than the signal (as librosa's STFT warns), half precision cast to float32."""
    check_layout(y, hop_length, name="y", what=f"one hop (hop_length={hop_length})")
    y = _real_signal(y, "y")
    span = max(d * n_taps for _, _, d, _, n_taps in plan)
    warn_short(y.shape[-1], span, name="y", what=f"the lowest CQT filters span {span} samples",
               fix="pass a longer signal or a higher fmin")
    return y


# one compiled program per signal shape and plan, also for eager calls (op by op, the
# dozen FFTs, convolutions and slices of a multirate CQT would each compile on their own)
_cqt_kernel_jit = jax.jit(_cqt_kernel, static_argnames=("plan", "pad", "n_frames", "hop_length", "pad_mode"))


@pytree_dataclass
class CQT:
    """Constant-Q (or variable-Q) transform, as ``librosa.cqt`` (``librosa.vqt``).

    Multirate, at the cost of its output. The bins are grouped by octave from the
    top (``bins_per_octave`` bins each, as librosa); each group is computed at the
    coarsest rate ``sr / d`` (``d`` a power of two dividing ``hop_length``) whose
    Nyquist frequency keeps all but 1e-9 of each of its filters' energy, which for
    the defaults is the full rate for the top octave and half the rate of the octave
    above for each lower one (librosa's schedule). The padded signal is Fourier
    transformed once; a group at ``sr / d`` reads the inverse FFT of the lowest
    ``1 / d`` of the spectrum (an ideal low-pass, where librosa resamples with soxr
    octave after octave), and its filters, as complex taps at that rate over their
    support (about 190 samples for every octave with the defaults), are applied by
    one strided real convolution per group (real and imaginary parts as output
    channels), one output per frame. The result is the single-rate transform
    (librosa's with ``sparsity=0``, without its resampling error) to a few 1e-5.
    Options are keyword-only and the same as `cqt` (and ``gamma`` as `vqt`, default
    0: constant Q). See `jaxmusic.filters.cqt.cqt_multirate_bank` for the plan.
    NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).

    Attributes
    ----------
    kernels : tuple of jax.Array, shape (2 n_group, 1, n_taps) each, real
        Per group (highest first), the real then imaginary parts of its taps, with
        the ``1 / sqrt(lengths)`` scaling folded in when ``scale=True`` (pytree leaves);
        see `jaxmusic.filters.cqt.cqt_multirate_bank`.
    """

    _: dataclasses.KW_ONLY
    sr: float = static_field(default=22050.0)
    hop_length: int = static_field(default=512)
    fmin: float | None = static_field(default=None)
    n_bins: int = static_field(default=84)
    bins_per_octave: int = static_field(default=12)
    filter_scale: float = static_field(default=1.0)
    norm: float | None = static_field(default=1.0)
    window: Any = static_field(default="hann")
    scale: bool = static_field(default=True)
    pad_mode: str = static_field(default="constant")
    gamma: float = static_field(default=0.0)
    plan: tuple = static_field(default=None)
    pad: int = static_field(default=None)
    frame_decimations: tuple = static_field(default=None)
    kernels: Any = None

    def __post_init__(self):
        if self.kernels is not None:
            return
        config, bank, plan = _cqt_setup(
            sr=self.sr, hop_length=self.hop_length, fmin=self.fmin, n_bins=self.n_bins,
            bins_per_octave=self.bins_per_octave, filter_scale=self.filter_scale, norm=self.norm,
            window=self.window, scale=self.scale, pad_mode=self.pad_mode, gamma=self.gamma,
        )
        for name, value in config.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "gamma", float(vqt_gamma(self.gamma, bins_per_octave=self.bins_per_octave)))
        object.__setattr__(self, "plan", plan)
        object.__setattr__(self, "pad", bank.pad)
        object.__setattr__(self, "frame_decimations", bank.frame_decimations)
        object.__setattr__(self, "kernels", _cqt_kernels(bank))

    def n_frames(self, n: int) -> int:
        """Frames for ``n`` samples (as librosa; ``1 + n // hop_length`` by default)."""
        return min(1 + (-(-n // D)) // (self.hop_length // D) for D in self.frame_decimations)

    def __call__(self, y: Any) -> jax.Array:
        """Constant-Q transform of ``y``.

        Parameters
        ----------
        y : array, shape (..., n), real floating point

        Returns
        -------
        C : jax.Array, shape (..., n_bins, n_frames), complex
            ``n_frames = 1 + n // hop_length`` (librosa's count, see `n_frames`);
            complex64 for float32 input, complex128 for float64 input.
        """
        y = _check_cqt_y(y, self.plan, self.hop_length)
        C = _cqt_kernel_jit(
            y, self.kernels, plan=self.plan, pad=self.pad, n_frames=self.n_frames(y.shape[-1]),
            hop_length=self.hop_length, pad_mode=self.pad_mode,
        )
        return check_output(C, y, what="CQT")

    def frequencies(self) -> np.ndarray:
        """Centre frequencies (Hz) of the bins, shape (n_bins,)."""
        return cqt_frequencies(self.n_bins, fmin=self.fmin, bins_per_octave=self.bins_per_octave)


def _cqt_apply(y, *, gamma, **kw):
    config, bank, plan = _cqt_setup(gamma=gamma, **kw)
    y = _check_cqt_y(y, plan, config["hop_length"])
    kernels = _cqt_kernels(bank)
    C = _cqt_kernel_jit(
        y, kernels, plan=plan, pad=bank.pad, n_frames=bank.n_frames(y.shape[-1]),
        hop_length=config["hop_length"], pad_mode=config["pad_mode"],
    )
    return check_output(C, y, what="CQT")


def cqt(
    y: Any,
    *,
    sr: float = 22050,
    hop_length: int = 512,
    fmin: float | None = None,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    filter_scale: float = 1,
    norm: float | None = 1,
    window: Any = "hann",
    scale: bool = True,
    pad_mode: str = "constant",
) -> jax.Array:
    """Constant-Q transform, as ``librosa.cqt`` (multirate, see `CQT`).

    Parameters
    ----------
    y : array, shape (..., n), real floating point
    sr : float > 0, keyword-only
        Sampling rate (default 22050).
    hop_length : int >= 1, keyword-only
        Samples between frames (default 512).
    fmin : float > 0 or None, keyword-only
        Lowest bin frequency; default C1 (32.70 Hz).
    n_bins : int >= 1, keyword-only
        Default 84.
    bins_per_octave : int >= 1, keyword-only
        Default 12.
    filter_scale : float > 0, keyword-only
        Filter length multiplier (default 1).
    norm : float > 0 or None, keyword-only
        p-norm of the time-domain filters (default 1).
    window : window specification, keyword-only
        Window of the filters (default ``'hann'``).
    scale : bool, keyword-only
        Divide bin ``k`` by ``sqrt(lengths[k])`` (default True), as librosa.
    pad_mode : {'constant', 'edge', 'reflect', 'symmetric'}, keyword-only
        Padding of the centred frames (default zeros).

    Returns
    -------
    C : jax.Array, shape (..., n_bins, 1 + n // hop_length), complex
        (librosa's frame count: one more frame in the rare case that librosa
        decimates its top octave and ``n % hop_length`` is close to ``hop_length``.)

    Raises
    ------
    ParameterError
        Bad options, a top filter above Nyquist, or a bad signal (channels-last
        audio included: pass ``y.T``).

    Notes
    -----
    float16/bfloat16 input is computed in float32. NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).

    Each octave is computed at the coarsest rate its bandwidth allows (librosa's
    schedule for the defaults), from one FFT of the padded signal: the decimation is
    an ideal low-pass (where librosa resamples with soxr), and every filter keeps its
    whole spectrum below the decimated Nyquist frequency (where librosa, by default,
    also sparsifies the filters, ``sparsity=0.01``). The result is the single-rate
    transform to a few 1e-5 relative; it agrees with librosa's to a fraction of a dB
    on the bins that carry energy. Cost: one real FFT of about ``n + 12000`` samples
    (for C1 at 22050 Hz), inverse FFTs of ``1 / 2 + 1 / 4 + ...`` of that, and
    ``2 * n_bins * n_frames * n_taps`` real multiply-adds, ``n_taps`` about 190 for
    the defaults.
    """
    return _cqt_apply(
        y, sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
        filter_scale=filter_scale, norm=norm, window=window, scale=scale, pad_mode=pad_mode, gamma=0.0,
    )


def vqt(
    y: Any,
    *,
    sr: float = 22050,
    hop_length: int = 512,
    fmin: float | None = None,
    n_bins: int = 84,
    gamma: float | None = None,
    bins_per_octave: int = 12,
    filter_scale: float = 1,
    norm: float | None = 1,
    window: Any = "hann",
    scale: bool = True,
    pad_mode: str = "constant",
) -> jax.Array:
    """Variable-Q transform, as ``librosa.vqt`` (multirate, see `CQT`).

    Bin ``k``'s filter has ``lengths[k] = Q * sr / (freqs[k] + gamma / alpha)``: its
    bandwidth is ``alpha * freqs[k] + gamma`` (times ``1 / filter_scale``), so the
    low bins get shorter filters than a constant-Q transform's. ``gamma=0`` is `cqt`.

    Parameters
    ----------
    y : array, shape (..., n), real floating point
    gamma : float >= 0 or None, keyword-only
        Bandwidth offset in Hz; None (default): ``24.7 * alpha / 0.108``, the
        equivalent rectangular bandwidth of the bins (librosa's default).
    sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, norm, window, scale, pad_mode
        As `cqt`.

    Returns
    -------
    V : jax.Array, shape (..., n_bins, 1 + n // hop_length), complex

    Raises
    ------
    ParameterError
        Bad options (``gamma < 0`` included), a top filter above Nyquist, or a bad signal.

    Notes
    -----
    NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).
    """
    return _cqt_apply(
        y, sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
        filter_scale=filter_scale, norm=norm, window=window, scale=scale, pad_mode=pad_mode, gamma=gamma,
    )


# --------------------------------------------------------------------------
# Wavelet scalogram (`scalogram`) and the feature dispatcher (`extract`) are
# provided by other modules of jaxmusic; they belong below this line.


def scalogram(y: Any, *, J: int = 8, Q: int = 12, T: Any = None) -> jax.Array:
    r"""Wavelet scalogram: the modulus of a Morlet wavelet transform, averaged over ``T``.

    ``|y \star \psi_\lambda| \star \phi_T`` for the wavelets of `Scattering1D`'s
    first order (kymatio's Morlet bank), highest frequency first. With ``T`` small
    this is the classic scalogram; with ``T = 2**J`` it is first-order scattering.

    Parameters
    ----------
    y : array, shape (..., n)
        Real signal(s).
    J : int, keyword-only
        Log2 of the largest wavelet scale.
    Q : int, keyword-only
        Wavelets per octave.
    T : int or None, keyword-only
        Averaging scale in samples (``None``: ``2**J``); also sets the hop, ``2**floor(log2 T)``.

    Returns
    -------
    jax.Array, shape (..., n_wavelets, n_frames)
        ``n_frames = n // 2**floor(log2 T)`` when ``n`` is a multiple of
        ``2**floor(log2 T)`` (within one otherwise: kymatio's border rounding; see
        ``Scattering1D(J=J, shape=n, Q=Q, T=T, max_order=1).output_shape()``, whose
        first row, order 0, is left out here). See that transform's ``meta()`` for
        the centre frequency ``xi`` (cycles per sample) of each row.

    Notes
    -----
    Input rules as `Scattering1D` (float16/bfloat16 computed in float32, an empty
    batch gives an empty output). NaN/inf in ``y`` raise `ParameterError` only for concrete input: under
    ``jax.jit`` values cannot be inspected (wrap with `jaxmusic.checked`).
    """
    from ._checks import check_signal
    from .scattering.time import Scattering1D

    shape = getattr(y, "shape", None)
    if not shape:
        raise ParameterError(f"y must be an array of shape (..., n), got {type(y).__name__} {shape}")
    J = check_int("J", J, min=0)
    check_layout(y, 2**J, name="y", what=f"the largest wavelet (2**J = {2**J} samples)")
    if shape[-1] < 2**J:  # the largest wavelet must fit
        raise ParameterError(f"J={J} needs signals of at least 2**J = {2**J} samples (the largest wavelet); y has "
                             f"{shape[-1]} (shape {tuple(shape)}): lower J or pass a longer signal")
    check_signal(y, name="y", min_length=2)
    S = Scattering1D(J=J, shape=shape[-1], Q=(Q,), T=T, max_order=1)
    return S(y)[..., 1:, :]


from .extract import extract  # noqa: E402  (re-exported: features at scale)
