"""Constant-Q (and variable-Q) filter banks with librosa's conventions (NumPy, cached).

Bin ``k`` has centre frequency ``fmin * 2**(k / bins_per_octave)`` (``fmin`` defaults
to C1 = 32.70 Hz). Its filter is a complex exponential at that frequency under a
window of ``lengths[k] = Q * sr / (freqs[k] + gamma / alpha)`` samples, with
``Q = filter_scale / alpha`` and ``alpha`` the relative bandwidth of the bin
(``(r**2 - 1) / (r**2 + 1)`` with ``r = 2**(1 / bins_per_octave)`` for equal
spacing; ``gamma = 0`` for a constant-Q transform), normalised to unit ``norm``
(L1 by default), centred in a frame of ``n_fft`` samples (the next power of two),
scaled by ``lengths / n_fft`` and Fourier transformed, exactly as librosa builds the
filters of its top octave.

Two banks are built from these filters:

* `cqt_filter_bank`: every bin at the full sampling rate, in one frame of the
  longest filter's ``n_fft`` (16384 samples for C1 at 22050 Hz);
* `cqt_multirate_bank`, used by `jaxmusic.features.cqt`: the bins in groups of one
  octave (``bins_per_octave`` bins, from the top, as librosa), each group at the
  coarsest rate ``sr / decimation`` (``decimation`` a power of two dividing the hop)
  below whose Nyquist frequency each of its filters keeps all but `DECIMATION_TOL`
  (1e-9) of its energy, as complex taps at that rate over the filters' support.
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
    "CQTOctave",
    "MultirateCQTBank",
    "cqt_multirate_bank",
    "vqt_gamma",
]

#: Energy fraction of each filter allowed above the Nyquist frequency of the rate
#: its group is computed at (amplitude errors of a few 1e-5 of its response).
DECIMATION_TOL = 1e-9
#: Energy fraction of each filter's taps dropped from the ends of its frame.
TAPS_TOL = 1e-9

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
    gamma: float | None = 0.0,
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
    gamma : float >= 0 or None, keyword-only
        Bandwidth offset in Hz of a variable-Q transform (default 0: constant Q);
        None: ``24.7 * alpha / 0.108``, the equivalent rectangular bandwidth (librosa's).
    alpha : array-like, shape (n_bins,), or None, keyword-only
        Relative bandwidths; default `relative_bandwidth` of ``freqs``.

    Returns
    -------
    lengths : np.ndarray, shape (n_bins,), float64
        ``Q * sr / (freqs + gamma / alpha)`` with ``Q = filter_scale / alpha``.
    cutoff : float
        ``max(freqs * (1 + window_bandwidth / (2 Q)) + gamma / 2)`` in Hz.
    """
    freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    filter_scale = check_real("filter_scale", filter_scale, min=0.0, strict_min=True)
    if np.any(freqs <= 0):
        raise ParameterError(f"frequencies must be > 0, got {freqs}")
    alpha = relative_bandwidth(freqs) if alpha is None else np.asarray(alpha, dtype=np.float64)
    gamma = alpha * 24.7 / 0.108 if gamma is None else check_real("gamma", gamma, min=0.0)
    q = filter_scale / alpha
    cutoff = float(np.max(freqs * (1.0 + 0.5 * window_bandwidth(window) / q) + 0.5 * gamma))
    return q * sr / (freqs + gamma / alpha), cutoff


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


def _plan_filters(sr, fmin, n_bins, bins_per_octave, filter_scale, window_key, gamma):
    """Centre frequencies and lengths, after the Nyquist check."""
    freqs = fmin * 2.0 ** (np.arange(n_bins, dtype=np.float64) / bins_per_octave)
    alpha = relative_bandwidth(freqs, bins_per_octave=bins_per_octave)
    lengths, cutoff = wavelet_lengths(
        freqs=freqs, sr=sr, window=window_key, filter_scale=filter_scale, gamma=gamma, alpha=alpha
    )
    if cutoff > sr / 2.0:
        raise ParameterError(
            f"the highest constant-Q filter (n_bins={n_bins}, fmin={fmin}, "
            f"bins_per_octave={bins_per_octave}: top frequency {freqs[-1]:.2f} Hz, passband up to "
            f"{cutoff:.2f} Hz) exceeds the Nyquist frequency sr/2 = {sr / 2.0}; "
            "reduce n_bins or fmin, or raise sr"
        )
    return freqs, lengths, cutoff


def _filter_spectra(freqs, lengths, sr, window_key, norm, scale, n_fft):
    """Non-negative-frequency spectra ``(len(freqs), 1 + n_fft // 2)`` of the filters
    centred in a frame of ``n_fft`` samples, scaled by ``lengths / n_fft`` (and by
    ``1 / sqrt(lengths)`` when ``scale``), as librosa's ``fft_basis``."""
    basis = np.zeros((len(freqs), n_fft), dtype=np.complex128)
    for k in range(len(freqs)):  # NumPy filter construction, outside any trace
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
    return fft_basis


def _next_pow2(x: float) -> int:
    return int(2 ** math.ceil(math.log2(max(float(x), 1.0))))


@functools.lru_cache(maxsize=16)
def _cqt_filter_bank_cached(sr, fmin, n_bins, bins_per_octave, filter_scale, norm, window_key, scale, gamma):
    freqs, lengths, _ = _plan_filters(sr, fmin, n_bins, bins_per_octave, filter_scale, window_key, gamma)
    n_fft = _next_pow2(np.max(lengths))
    fft_basis = _filter_spectra(freqs, lengths, sr, window_key, norm, scale, n_fft)
    return CQTFilterBank(
        fft_basis=_readonly(np.ascontiguousarray(fft_basis)),
        n_fft=n_fft,
        freqs=_readonly(freqs),
        lengths=_readonly(lengths),
    )


def vqt_gamma(gamma: float | None, *, bins_per_octave: int = 12) -> float:
    """A checked variable-Q offset in Hz; None: ``24.7 * alpha / 0.108`` (the
    equivalent rectangular bandwidth, librosa's ``vqt`` default), ``alpha`` the
    relative bandwidth of ``bins_per_octave`` equal-tempered bins."""
    if gamma is None:
        alpha = relative_bandwidth(np.ones(1), bins_per_octave=bins_per_octave)[0]
        return float(alpha * 24.7 / 0.108)
    return check_real("gamma", gamma, min=0.0)


def _check_bank_args(sr, fmin, n_bins, bins_per_octave, filter_scale, norm, gamma):
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    fmin = C1_HZ if fmin is None else check_real("fmin", fmin, min=0.0, strict_min=True)
    n_bins = check_int("n_bins", n_bins, min=1)
    bins_per_octave = check_int("bins_per_octave", bins_per_octave, min=1)
    filter_scale = check_real("filter_scale", filter_scale, min=0.0, strict_min=True)
    norm = _check_norm(norm)
    if norm == "slaney":
        raise ParameterError("norm='slaney' is for mel filters; use a positive number or None for cqt")
    gamma = vqt_gamma(gamma, bins_per_octave=bins_per_octave)
    return sr, fmin, n_bins, bins_per_octave, filter_scale, norm, gamma


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
    gamma: float | None = 0.0,
) -> CQTFilterBank:
    """Build (or fetch from the cache) the single-rate constant-Q filter bank.

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
    gamma : float >= 0 or None, keyword-only
        Variable-Q bandwidth offset in Hz (default 0: constant Q); None: the ERB
        offset ``24.7 * alpha / 0.108`` (librosa's ``vqt`` default).

    Returns
    -------
    bank : CQTFilterBank

    Raises
    ------
    ParameterError
        Bad values, or a top filter whose passband exceeds ``sr / 2``.
    """
    args = _check_bank_args(sr, fmin, n_bins, bins_per_octave, filter_scale, norm, gamma)
    sr, fmin, n_bins, bins_per_octave, filter_scale, norm, gamma = args
    return _cqt_filter_bank_cached(
        sr, fmin, n_bins, bins_per_octave, filter_scale, norm, _window_key(window), bool(scale), gamma
    )


# ------------------------------------------------------------------ multirate


@dataclasses.dataclass(frozen=True, eq=False)
class CQTOctave:
    """One group of bins computed at one rate (NumPy arrays, read-only).

    Bin ``start + j`` at frame ``t`` is ``sum_m taps[j, m] * u[c_t + offset + m]``,
    where ``u`` is the signal low-passed to ``sr / (2 decimation)`` and sampled at
    ``sr / decimation`` (scaled by ``decimation``: the inverse real FFT of the
    signal's first ``1 + L / (2 decimation)`` Fourier coefficients), and ``c_t`` is
    the sample of frame ``t``'s centre at that rate.

    Attributes
    ----------
    start, stop : int
        The group's bins, ``range(start, stop)`` (ascending frequency).
    decimation : int
        Power of two dividing the hop.
    offset : int <= 0
        Position of the first tap relative to the frame centre, at the decimated rate.
    taps : np.ndarray, shape (stop - start, n_taps), complex128
        The filters at rate ``sr / decimation``: on a frame of ``N = n_fft / decimation``
        samples (``n_fft`` librosa's frame for the octave, at the full rate: its
        decimation ``D`` times the power of two above the longest filter's
        ``length / D``), ``sum_{f <= N / 2} B[j, f] exp(-2 pi i f m / N)`` for the
        group's filter spectra ``B`` in that frame (scaling included), then cut to
        the shortest span ``[N / 2 + offset, N / 2 + offset + n_taps)`` that keeps all
        but `TAPS_TOL` (1e-9) of each filter's energy.
    """

    start: int
    stop: int
    decimation: int
    offset: int
    taps: np.ndarray

    @property
    def n_taps(self) -> int:
        return int(self.taps.shape[-1])

    @property
    def reach(self) -> tuple[int, int]:
        """Full-rate samples the taps reach before and after a frame centre."""
        return -self.offset * self.decimation, (self.offset + self.n_taps) * self.decimation


@dataclasses.dataclass(frozen=True, eq=False)
class MultirateCQTBank:
    """Constant-Q filters in groups of one octave, each at its own rate.

    Attributes
    ----------
    octaves : tuple of CQTOctave
        Highest group first (as librosa); together they cover ``range(n_bins)``.
    freqs, lengths : np.ndarray, shape (n_bins,)
        Centre frequencies (Hz) and filter lengths (full-rate samples).
    hop_length : int
    pad : int
        Full-rate samples the taps reach before a frame centre, rounded up to a
        multiple of every decimation.
    frame_decimations : tuple of int
        librosa's decimation of each octave, from which its frame count follows
        (`n_frames`).
    """

    octaves: tuple
    freqs: np.ndarray
    lengths: np.ndarray
    hop_length: int
    pad: int
    frame_decimations: tuple

    def n_frames(self, n: int) -> int:
        """Frames for a signal of ``n`` samples, as ``librosa.cqt``: the fewest over its
        octaves of ``1 + ceil(n / D) // (hop_length / D)`` (``D`` that octave's
        decimation), which is ``1 + n // hop_length`` unless librosa decimates the top
        octave too."""
        return min(1 + (-(-n // D)) // (self.hop_length // D) for D in self.frame_decimations)


def _two_factors(x: int) -> int:
    k = 0
    while x > 0 and x % 2 == 0:
        x //= 2
        k += 1
    return k


def _librosa_decimations(n_octaves: int, sr: float, cutoff: float, hop_length: int) -> tuple:
    """librosa's per-octave decimation factors: an early downsampling by
    ``2**min(ceil(log2(nyquist / cutoff)) - 2, twos(hop) - n_octaves + 1)``, then one
    halving per octave while the hop stays even."""
    early = min(
        max(0, int(math.ceil(math.log2(sr / 2.0 / cutoff))) - 2),
        max(0, _two_factors(hop_length) - n_octaves + 1),
    )
    d, hop = 2**early, hop_length // 2**early
    out = []
    for _ in range(n_octaves):
        out.append(d)
        if hop % 2 == 0:
            hop //= 2
            d *= 2
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _cqt_multirate_cached(sr, fmin, n_bins, bins_per_octave, filter_scale, norm, window_key, scale, gamma,
                          hop_length):
    freqs, lengths, cutoff = _plan_filters(
        sr, fmin, n_bins, bins_per_octave, filter_scale, window_key, gamma
    )
    octaves = []
    max_decimation = 2 ** _two_factors(hop_length)
    n_octaves = -(-n_bins // bins_per_octave)
    frame_decimations = _librosa_decimations(n_octaves, sr, cutoff, hop_length)
    for i, stop in enumerate(range(n_bins, 0, -bins_per_octave)):  # librosa's groups, from the top
        start = max(0, stop - bins_per_octave)
        # librosa's frame for this octave, at the full rate: dropping the negative
        # frequencies makes the filters' tails wrap around it, so the same frame gives
        # the same numbers (the tails are then cut where they carry nothing)
        D = frame_decimations[i]
        n_fft = D * _next_pow2(np.max(lengths[start:stop]) / D)
        B = _filter_spectra(freqs[start:stop], lengths[start:stop], sr, window_key, norm, scale, n_fft)
        energy = np.cumsum(np.abs(B) ** 2, axis=1)  # per filter, over frequency
        d = 1
        # the coarsest rate whose Nyquist frequency keeps all but DECIMATION_TOL of
        # every filter's energy
        while 2 * d <= max_decimation and n_fft // (2 * d) >= 4:
            if np.any(energy[:, n_fft // (4 * d)] < (1.0 - DECIMATION_TOL) * energy[:, -1]):
                break
            d *= 2
        N = n_fft // d
        kept = np.zeros((stop - start, N), dtype=np.complex128)
        kept[:, : N // 2 + 1] = B[:, : N // 2 + 1]
        taps = np.fft.fft(kept, axis=1)
        # the filters are short in time: drop the frame's ends that carry (almost) nothing
        e = np.abs(taps) ** 2
        e = e / e.sum(axis=1, keepdims=True)  # every filter keeps all but TAPS_TOL
        a = int(np.searchsorted(np.cumsum(e.max(axis=0)), TAPS_TOL / 2, side="right"))
        b = N - int(np.searchsorted(np.cumsum(e.max(axis=0)[::-1]), TAPS_TOL / 2, side="right"))
        octaves.append(CQTOctave(start=start, stop=stop, decimation=d, offset=a - N // 2,
                                 taps=_readonly(np.ascontiguousarray(taps[:, a:b]))))
    d_max = max(o.decimation for o in octaves)
    pad = -(-max(o.reach[0] for o in octaves) // d_max) * d_max
    return MultirateCQTBank(
        octaves=tuple(octaves), freqs=_readonly(freqs), lengths=_readonly(lengths),
        hop_length=hop_length, pad=pad, frame_decimations=frame_decimations,
    )


def cqt_multirate_bank(
    *,
    sr: float = 22050,
    hop_length: int = 512,
    fmin: float | None = None,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    filter_scale: float = 1.0,
    norm: Any = 1,
    window: Any = "hann",
    scale: bool = True,
    gamma: float | None = 0.0,
) -> MultirateCQTBank:
    """Build (or fetch from the cache) the multirate filter bank used by `cqt` and `vqt`.

    The same filters as `cqt_filter_bank`, grouped by octave from the top (as
    librosa); each group is decimated by the largest power of two that divides
    ``hop_length`` and keeps all but `DECIMATION_TOL` of each of its filters' energy
    below the decimated Nyquist frequency (for librosa's defaults: the top octave at
    the full rate, each lower octave at half the rate of the one above, librosa's
    schedule), and its filters are given as taps at that rate over librosa's frame
    for the octave, cut to their support (`CQTOctave`).

    Parameters
    ----------
    hop_length : int >= 1, keyword-only
        Samples between frames (default 512).
    sr, fmin, n_bins, bins_per_octave, filter_scale, norm, window, scale, gamma
        As `cqt_filter_bank`.

    Returns
    -------
    bank : MultirateCQTBank

    Raises
    ------
    ParameterError
        Bad values, or a top filter whose passband exceeds ``sr / 2``.
    """
    args = _check_bank_args(sr, fmin, n_bins, bins_per_octave, filter_scale, norm, gamma)
    sr, fmin, n_bins, bins_per_octave, filter_scale, norm, gamma = args
    hop_length = check_int("hop_length", hop_length, min=1)
    return _cqt_multirate_cached(
        sr, fmin, n_bins, bins_per_octave, filter_scale, norm, _window_key(window), bool(scale), gamma,
        hop_length,
    )
