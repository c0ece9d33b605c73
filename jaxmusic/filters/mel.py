"""Mel filter banks and DCT matrices, compatible with librosa (NumPy, cached).

* `hz_to_mel` / `mel_to_hz`: Slaney's Auditory Toolbox scale by default (linear
  below 1 kHz at 200/3 Hz per mel, logarithmic above, 27 mels per factor 6.4), or
  the HTK formula ``2595 log10(1 + f / 700)`` with ``htk=True``.
* `mel`: triangular filters between consecutive mel-spaced edges, sampled at the
  real-FFT bin frequencies, as ``librosa.filters.mel``; ``norm='slaney'`` divides each
  triangle by its width in Hz over 2 (constant area).
* `dct_matrix`: the matrix of ``scipy.fft.dct(x, type=..., norm=..., axis=0)``,
  type II orthonormal by default (the MFCC transform).

Everything is computed in float64 and returned read-only, because results are
cached with ``functools.lru_cache`` keyed by every parameter.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np

from .._checks import ParameterError, check_choice, check_int, check_real

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_frequencies",
    "mel",
    "dct_matrix",
]

# Slaney's mel scale.
_F_SP = 200.0 / 3.0  # Hz per mel on the linear part
_MIN_LOG_HZ = 1000.0  # start of the logarithmic part
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15 mels
_LOGSTEP = math.log(6.4) / 27.0  # log-Hz per mel on the logarithmic part


def _as_freqs(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ParameterError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} has NaN or inf values: {value!r}")
    return arr


def hz_to_mel(frequencies: Any, *, htk: bool = False) -> np.ndarray | float:
    """Convert Hz to mels, as ``librosa.hz_to_mel``.

    Parameters
    ----------
    frequencies : float or array-like, shape (...,)
        Frequencies in Hz.
    htk : bool, keyword-only
        HTK formula instead of Slaney's (default False).

    Returns
    -------
    mels : float or np.ndarray, shape (...,), float64
    """
    f = _as_freqs("frequencies", frequencies)
    if htk:
        out = 2595.0 * np.log10(1.0 + f / 700.0)
    else:
        linear = f / _F_SP
        log = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
        out = np.where(f >= _MIN_LOG_HZ, log, linear)
    return float(out) if out.ndim == 0 else out


def mel_to_hz(mels: Any, *, htk: bool = False) -> np.ndarray | float:
    """Convert mels to Hz, as ``librosa.mel_to_hz`` (the inverse of `hz_to_mel`).

    Parameters
    ----------
    mels : float or array-like, shape (...,)
    htk : bool, keyword-only
        HTK formula instead of Slaney's (default False).

    Returns
    -------
    frequencies : float or np.ndarray, shape (...,), float64
        In Hz.
    """
    m = _as_freqs("mels", mels)
    if htk:
        out = 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    else:
        linear = _F_SP * m
        log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
        out = np.where(m >= _MIN_LOG_MEL, log, linear)
    return float(out) if out.ndim == 0 else out


def mel_frequencies(
    n_mels: int = 128, *, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False
) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``.

    Parameters
    ----------
    n_mels : int >= 1
    fmin, fmax : float >= 0, keyword-only
        Endpoints in Hz (both included).
    htk : bool, keyword-only

    Returns
    -------
    freqs : np.ndarray, shape (n_mels,), float64
    """
    n_mels = check_int("n_mels", n_mels, min=1)
    fmin = check_real("fmin", fmin, min=0.0)
    fmax = check_real("fmax", fmax, min=0.0)
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return np.asarray(mel_to_hz(mels, htk=htk), dtype=np.float64).reshape(n_mels)


def _check_norm(norm: Any) -> Any:
    """``None``, ``'slaney'`` or a p-norm order ``p > 0`` (``np.inf`` allowed)."""
    if norm is None or norm == "slaney":
        return norm
    if isinstance(norm, str):
        raise ParameterError(f"norm must be None, 'slaney' or a positive number, got {norm!r}")
    if isinstance(norm, bool) or not isinstance(norm, numbers.Real) or not (norm > 0):
        raise ParameterError(f"norm must be None, 'slaney' or a positive number, got {norm!r}")
    return float(norm)


def _normalize_rows(w: np.ndarray, p: float) -> np.ndarray:
    """Divide each row by its p-norm (rows of norm ~0 are left as they are)."""
    a = np.abs(w)
    length = a.max(axis=-1) if np.isinf(p) else np.sum(a**p, axis=-1) ** (1.0 / p)
    tiny = np.finfo(np.float64).tiny
    length = np.where(length < tiny, 1.0, length)
    return w / length[..., None]


@functools.lru_cache(maxsize=64)
def _mel_cached(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    fftfreqs = np.arange(1 + n_fft // 2) * (sr / n_fft)
    edges = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    width = np.diff(edges)
    dist = edges[:, None] - fftfreqs[None, :]  # (n_mels + 2, n_freqs)
    rising = -dist[:-2] / width[:-1, None]
    falling = dist[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    empty = (edges[:-2] != 0) & (weights.max(axis=1) <= 0)
    if np.any(empty):
        first = int(np.flatnonzero(empty)[0])
        raise ParameterError(
            f"n_mels={n_mels} is too large for n_fft={n_fft} at sr={sr} "
            f"(fmin={fmin}, fmax={fmax}): {int(empty.sum())} mel filters, the first at "
            f"{edges[first + 1]:.1f} Hz, contain no FFT bin; reduce n_mels or increase n_fft"
        )
    if norm == "slaney":
        weights = weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        weights = _normalize_rows(weights, norm)
    weights.setflags(write=False)
    return weights


def mel(
    sr: float,
    n_fft: int,
    *,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: Any = "slaney",
) -> np.ndarray:
    """Mel filter bank, as ``librosa.filters.mel`` (NumPy, float64, cached).

    Parameters
    ----------
    sr : float > 0
        Sampling rate in Hz.
    n_fft : int >= 1
        FFT size; the bank acts on ``1 + n_fft // 2`` frequency bins.
    n_mels : int >= 1, keyword-only
        Number of filters (default 128).
    fmin : float >= 0, keyword-only
        Lowest edge in Hz (default 0).
    fmax : float in (fmin, sr / 2] or None, keyword-only
        Highest edge in Hz; default ``sr / 2``.
    htk : bool, keyword-only
        HTK mel formula instead of Slaney's (default False).
    norm : {'slaney', None} or float > 0, keyword-only
        ``'slaney'`` (default): divide each triangle by half its width in Hz;
        a number ``p``: unit p-norm rows; None: peak 1.

    Returns
    -------
    weights : np.ndarray, shape (n_mels, 1 + n_fft // 2), float64, read-only
        ``mel_spec = weights @ power_spec``.

    Raises
    ------
    ParameterError
        Bad values, ``fmax > sr / 2``, ``fmax <= fmin``, or a filter without any FFT
        bin (``n_mels`` too large for ``n_fft``), which librosa only warns about.
    """
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    n_fft = check_int("n_fft", n_fft, min=1)
    n_mels = check_int("n_mels", n_mels, min=1)
    fmin = check_real("fmin", fmin, min=0.0)
    if fmax is None:
        fmax = sr / 2.0
    fmax = check_real("fmax", fmax)
    if fmax > sr / 2.0:
        raise ParameterError(f"fmax={fmax} must be <= sr / 2 = {sr / 2.0}")
    if fmax <= fmin:
        raise ParameterError(f"fmax={fmax} must be > fmin={fmin}")
    return _mel_cached(sr, n_fft, n_mels, fmin, fmax, bool(htk), _check_norm(norm))


@functools.lru_cache(maxsize=64)
def _dct_cached(n, dct_type, norm, n_out):
    k = np.arange(n_out)[:, None]
    t = np.arange(n)[None, :]
    if dct_type == 2:
        m = 2.0 * np.cos(np.pi * k * (2 * t + 1) / (2 * n))
        if norm == "ortho":
            m = m * np.where(k == 0, np.sqrt(1.0 / (4 * n)), np.sqrt(1.0 / (2 * n)))
    elif dct_type == 3:
        m = 2.0 * np.cos(np.pi * t * (2 * k + 1) / (2 * n))
        if norm == "ortho":
            m = m * np.sqrt(1.0 / (2 * n))
            m[:, 0] = 1.0 / np.sqrt(n)
        else:
            m[:, 0] = 1.0
    else:  # type 1
        if n < 2:
            raise ParameterError(f"dct_type=1 needs n >= 2, got n={n}")
        m = 2.0 * np.cos(np.pi * k * t / (n - 1))
        if norm == "ortho":
            m[:, 0] *= np.sqrt(0.5)
            m[:, -1] *= np.sqrt(0.5)
            m = m * np.sqrt(1.0 / (2 * (n - 1)))
            m[(k == 0)[:, 0] | (k == n - 1)[:, 0]] *= np.sqrt(0.5)
        else:
            m[:, 0] = 1.0
            m[:, -1] = np.where(k[:, 0] % 2 == 0, 1.0, -1.0)
    m = np.ascontiguousarray(m, dtype=np.float64)
    m.setflags(write=False)
    return m


def dct_matrix(n: int, *, dct_type: int = 2, norm: str | None = "ortho", n_out: int | None = None) -> np.ndarray:
    """Matrix of the discrete cosine transform, as ``scipy.fft.dct(..., axis=0)``.

    The default, type II with ``norm='ortho'``, is orthonormal: ``M @ M.T == I``.

    Parameters
    ----------
    n : int >= 1
        Input length.
    dct_type : {1, 2, 3}, keyword-only
        DCT type (default 2).
    norm : {'ortho', None}, keyword-only
        Orthonormal scaling (default) or scipy's unnormalised one.
    n_out : int in [1, n] or None, keyword-only
        Keep only the first ``n_out`` coefficients (rows); default ``n``.

    Returns
    -------
    M : np.ndarray, shape (n_out, n), float64, read-only
        ``M @ x == scipy.fft.dct(x, type=dct_type, norm=norm)[:n_out]``.
    """
    n = check_int("n", n, min=1)
    dct_type = check_choice("dct_type", check_int("dct_type", dct_type), (1, 2, 3))
    norm = check_choice("norm", norm, (None, "ortho"))
    n_out = n if n_out is None else check_int("n_out", n_out, min=1, max=n)
    return _dct_cached(n, int(dct_type), norm, n_out)
