"""Constant-Q filter bank with librosa's conventions (NumPy, cached).

Bin ``k`` has centre frequency ``fmin * 2**(k / bins_per_octave)`` (``fmin`` defaults
to C1 = 32.70 Hz). Its filter is a complex exponential at that frequency under a
window of ``lengths[k] = Q * sr / freqs[k]`` samples, with ``Q = filter_scale / alpha``
and ``alpha`` the relative bandwidth of the bin (``(r**2 - 1) / (r**2 + 1)`` with
``r = 2**(1 / bins_per_octave)`` for equal spacing), normalised to unit ``norm``
(L1 by default), centred in a frame of ``n_fft`` samples (the next power of two),
scaled by ``lengths / n_fft`` and Fourier transformed, exactly as librosa builds the
filters of its top octave. `jaxmusic.features.cqt` multiplies the real-FFT frames of
a rectangular-window STFT by these rows, at the full sampling rate for every
octave (a single-resolution version of librosa's multirate ``cqt``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from .._checks import ParameterError, check_int, check_real
from ..fourier import _window_from_key, _window_key
from .mel import _check_norm

__all__ = [
    "C1_HZ",
    "note_to_hz",
    "cqt_frequencies",
    "relative_bandwidth",
    "window_bandwidth",
    "wavelet_lengths",
    "CQTFilterBank",
    "cqt_filter_bank",
]

#: C1 (MIDI note 24) in Hz with A4 = 440 Hz: librosa's default ``fmin``.
C1_HZ = 440.0 * 2.0 ** ((24 - 69) / 12.0)


def note_to_hz(midi: float) -> float:
    """Frequency in Hz of a (fractional) MIDI note number, A4 = 69 = 440 Hz."""
    midi = check_real("midi", midi)
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def cqt_frequencies(n_bins: int = 84, *, fmin: float = C1_HZ, bins_per_octave: int = 12) -> np.ndarray:
    """Centre frequencies of a constant-Q transform, as ``librosa.cqt_frequencies``.

    Parameters
    ----------
    n_bins : int >= 1
    fmin : float > 0, keyword-only
        Lowest centre frequency in Hz (default C1).
    bins_per_octave : int >= 1, keyword-only

    Returns
    -------
    freqs : np.ndarray, shape (n_bins,), float64
        ``fmin * 2 ** (arange(n_bins) / bins_per_octave)``.
    """
    n_bins = check_int("n_bins", n_bins, min=1)
    fmin = check_real("fmin", fmin, min=0.0, strict_min=True)
    bins_per_octave = check_int("bins_per_octave", bins_per_octave, min=1)
    return fmin * 2.0 ** (np.arange(n_bins, dtype=np.float64) / bins_per_octave)


def relative_bandwidth(freqs: Any, *, bins_per_octave: int | None = None) -> np.ndarray:
    """Relative bandwidth ``alpha`` of each bin (bandwidth / centre frequency).

    From the local density of bins per octave: at the ends from the neighbouring
    bin, inside from both neighbours; ``alpha = (2**(2/b) - 1) / (2**(2/b) + 1)`` for
    ``b`` bins per octave. A single frequency needs ``bins_per_octave``.

    Parameters
    ----------
    freqs : array-like, shape (n_bins,), increasing, > 0
    bins_per_octave : int or None, keyword-only
        Used only when ``n_bins == 1``.

    Returns
    -------
    alpha : np.ndarray, shape (n_bins,), float64
    """
    freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
    if freqs.size == 1:
        if bins_per_octave is None:
            raise ParameterError("relative_bandwidth of a single frequency needs bins_per_octave")
        bpo = np.full(1, float(check_int("bins_per_octave", bins_per_octave, min=1)))
    else:
        logf = np.log2(freqs)
        gaps = np.diff(logf)
        if np.any(gaps <= 0):
            raise ParameterError(f"freqs must be strictly increasing, got {freqs}")
        bpo = np.empty_like(freqs)
        bpo[0] = 1.0 / gaps[0]
        bpo[-1] = 1.0 / gaps[-1]
        bpo[1:-1] = 2.0 / (logf[2:] - logf[:-2])
    r2 = 2.0 ** (2.0 / bpo)
    return (r2 - 1.0) / (r2 + 1.0)


@functools.lru_cache(maxsize=32)
def _window_bandwidth_cached(key: Any) -> float:
    n = 1000
    w = _window_from_key(key, n)
    return float(n * np.sum(w**2) / np.sum(w) ** 2)


def window_bandwidth(window: Any = "hann") -> float:
    """Equivalent noise bandwidth of a window, in FFT bins: ``n sum(w**2) / sum(w)**2``.

    Evaluated on a periodic window of 1000 samples (1.5 for Hann, 1 for a boxcar).
    """
    return _window_bandwidth_cached(_window_key(window))


def wavelet_lengths(
    *,
    freqs: Any,
    sr: float = 22050,
    window: Any = "hann",
    filter_scale: float = 1.0,
    alpha: Any = None,
) -> tuple[np.ndarray, float]:
    """Filter lengths (samples, fractional) and the highest passband edge, as librosa.

    Parameters
    ----------
    freqs : array-like, shape (n_bins,)
        Centre frequencies in Hz, increasing.
    sr : float > 0, keyword-only
    window : window specification, keyword-only
    filter_scale : float > 0, keyword-only
    alpha : array-like, shape (n_bins,), or None, keyword-only
        Relative bandwidths; default `relative_bandwidth` of ``freqs``.

    Returns
    -------
    lengths : np.ndarray, shape (n_bins,), float64
        ``Q * sr / freqs`` with ``Q = filter_scale / alpha``.
    cutoff : float
        ``max(freqs * (1 + window_bandwidth / (2 Q)))`` in Hz.
    """
    freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    filter_scale = check_real("filter_scale", filter_scale, min=0.0, strict_min=True)
    if np.any(freqs <= 0):
        raise ParameterError(f"frequencies must be > 0, got {freqs}")
    alpha = relative_bandwidth(freqs) if alpha is None else np.asarray(alpha, dtype=np.float64)
    q = filter_scale / alpha
    cutoff = float(np.max(freqs * (1.0 + 0.5 * window_bandwidth(window) / q)))
    return q * sr / freqs, cutoff


@dataclasses.dataclass(frozen=True, eq=False)
class CQTFilterBank:
    """Frequency-domain constant-Q filters (NumPy arrays, read-only).

    Attributes
    ----------
    fft_basis : np.ndarray, shape (n_bins, 1 + n_fft // 2), complex128
        Row ``k`` applied to the real FFT of an ``n_fft``-sample frame (rectangular
        window) gives bin ``k``; multiplied by ``1 / sqrt(lengths)`` when built with
        ``scale=True``.
    n_fft : int
        Frame length, ``2 ** ceil(log2(max(lengths)))``.
    freqs : np.ndarray, shape (n_bins,)
        Centre frequencies in Hz.
    lengths : np.ndarray, shape (n_bins,)
        Filter lengths in samples (fractional).
    """

    fft_basis: np.ndarray
    n_fft: int
    freqs: np.ndarray
    lengths: np.ndarray


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=16)
def _cqt_filter_bank_cached(sr, fmin, n_bins, bins_per_octave, filter_scale, norm, window_key, scale):
    freqs = fmin * 2.0 ** (np.arange(n_bins, dtype=np.float64) / bins_per_octave)
    alpha = relative_bandwidth(freqs, bins_per_octave=bins_per_octave)
    lengths, cutoff = wavelet_lengths(
        freqs=freqs, sr=sr, window=window_key, filter_scale=filter_scale, alpha=alpha
    )
    if cutoff > sr / 2.0:
        raise ParameterError(
            f"the highest constant-Q filter (n_bins={n_bins}, fmin={fmin}, "
            f"bins_per_octave={bins_per_octave}: top frequency {freqs[-1]:.2f} Hz, passband up to "
            f"{cutoff:.2f} Hz) exceeds the Nyquist frequency sr/2 = {sr / 2.0}; "
            "reduce n_bins or fmin, or raise sr"
        )
    n_fft = int(2 ** math.ceil(math.log2(float(np.max(lengths)))))
    basis = np.zeros((n_bins, n_fft), dtype=np.complex128)
    for k in range(n_bins):  # NumPy filter construction, outside any trace
        t = np.arange(-lengths[k] // 2, lengths[k] // 2, dtype=np.float64)
        atom = np.exp(2j * np.pi * freqs[k] / sr * t) * _window_from_key(window_key, t.size)
        if norm is not None:
            mag = np.abs(atom)
            size = np.max(mag) if np.isinf(norm) else np.sum(mag**norm) ** (1.0 / norm)
            atom = atom / size
        left = (n_fft - t.size) // 2
        basis[k, left : left + t.size] = atom * (lengths[k] / n_fft)
    fft_basis = np.fft.fft(basis, axis=1)[:, : n_fft // 2 + 1]
    if scale:
        fft_basis = fft_basis / np.sqrt(lengths)[:, None]
    return CQTFilterBank(
        fft_basis=_readonly(np.ascontiguousarray(fft_basis)),
        n_fft=n_fft,
        freqs=_readonly(freqs),
        lengths=_readonly(lengths),
    )


def cqt_filter_bank(
    *,
    sr: float = 22050,
    fmin: float | None = None,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    filter_scale: float = 1.0,
    norm: Any = 1,
    window: Any = "hann",
    scale: bool = True,
) -> CQTFilterBank:
    """Build (or fetch from the cache) the constant-Q filter bank used by `cqt`.

    Parameters
    ----------
    sr : float > 0, keyword-only
        Sampling rate in Hz (default 22050).
    fmin : float > 0 or None, keyword-only
        Lowest centre frequency; default C1 (32.70 Hz).
    n_bins : int >= 1, keyword-only
        Number of bins (default 84: seven octaves).
    bins_per_octave : int >= 1, keyword-only
        Default 12.
    filter_scale : float > 0, keyword-only
        Multiplies the filter lengths (default 1).
    norm : float > 0 or None, keyword-only
        p-norm of each time-domain filter (default 1, L1); None: no normalisation.
    window : window specification, keyword-only
        Window of the filters (default ``'hann'``).
    scale : bool, keyword-only
        Fold librosa's ``1 / sqrt(lengths)`` output scaling into the filters (default True).

    Returns
    -------
    bank : CQTFilterBank

    Raises
    ------
    ParameterError
        Bad values, or a top filter whose passband exceeds ``sr / 2``.
    """
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    fmin = C1_HZ if fmin is None else check_real("fmin", fmin, min=0.0, strict_min=True)
    n_bins = check_int("n_bins", n_bins, min=1)
    bins_per_octave = check_int("bins_per_octave", bins_per_octave, min=1)
    filter_scale = check_real("filter_scale", filter_scale, min=0.0, strict_min=True)
    norm = _check_norm(norm)
    if norm == "slaney":
        raise ParameterError("norm='slaney' is for mel filters; use a positive number or None for cqt")
    return _cqt_filter_bank_cached(
        sr, fmin, n_bins, bins_per_octave, filter_scale, norm, _window_key(window), bool(scale)
    )
