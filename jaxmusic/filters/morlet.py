"""Morlet and Gabor filter banks in the Fourier domain, compatible with kymatio.

Every function here runs in NumPy (float64) outside any trace; the transforms
convert the results to JAX arrays once, when they are planned.

Conventions follow kymatio's main branch (``kymatio/scattering1d/filter_bank.py``)
so that coefficients agree number for number:

* frequencies are in cycles per sample (0.5 is Nyquist);
* a filter is sampled at ``np.fft.fftfreq(N)`` and is real in the Fourier domain
  (Gaussians), normalised so that its impulse response has unit L1 norm;
* the wavelet bank follows Andén's (ScatNet's) design: a geometric progression of
  centre frequencies from ``xi_max`` down to an elbow, then ``Q - 1`` filters of
  constant bandwidth ``sigma0 / 2**J`` in arithmetic progression;
* a filter applied to a signal subsampled by ``2**k`` is the full-resolution filter
  periodised ``2**k`` times (summed), as in kymatio main (PRs #984 and #1005).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np

from .._checks import ParameterError

__all__ = [
    "SIGMA0",
    "ALPHA",
    "R_PSI",
    "Wavelet",
    "FilterBank1D",
    "adaptive_choice_P",
    "morlet_1d",
    "gauss_1d",
    "compute_sigma_psi",
    "compute_xi_max",
    "compute_temporal_support",
    "get_max_dyadic_subsampling",
    "anden_generator",
    "periodize",
    "scattering_filter_bank",
]

#: Bandwidth of the low-pass filter of support ``T``: ``sigma = SIGMA0 / T``.
SIGMA0 = 0.1
#: Aliasing tolerance: a filter is subsampled by 2**j only if ``|xi| + ALPHA*sigma < 2**-(j+1)``.
ALPHA = 5.0
#: Neighbouring wavelets meet at this fraction of their peak.
R_PSI = math.sqrt(0.5)


def adaptive_choice_P(sigma: float, eps: float = 1e-7) -> int:
    """Number of periods ``P`` so that a Gaussian of width ``sigma`` is below ``eps``
    at the edges of ``[1 - P, P]``: the frequency interval periodised into ``[0, 1)``."""
    return int(math.ceil(math.sqrt(-2 * sigma**2 * math.log(eps)) + 1))


def morlet_1d(N: int, xi: float | None, sigma: float) -> np.ndarray:
    """Fourier transform of a Morlet wavelet (or Gaussian if ``xi`` is None).

    ``psi(t) = g_sigma(t) (exp(2i pi xi t) - kappa)`` with ``kappa`` chosen so
    that ``psi`` has zero mean. The Gaussians are periodised over ``P <= 5``
    periods so the discrete filter is the sampling of the continuous one.

    Parameters
    ----------
    N : int
        Number of frequency samples (``np.fft.fftfreq(N)``).
    xi : float or None
        Centre frequency in cycles per sample; ``None`` or 0 gives the low-pass.
    sigma : float
        Frequency-domain standard deviation.

    Returns
    -------
    filter_f : np.ndarray, shape (N,), float64
        Real Fourier transform; its inverse FFT has unit L1 norm.
    """
    P = min(adaptive_choice_P(sigma), 5)
    freqs = np.arange((1 - P) * N, P * N, dtype=float) / float(N)
    freqs_low = np.fft.fftfreq(N) if P == 1 else freqs
    low_pass_f = np.exp(-(freqs_low**2) / (2 * sigma**2))
    low_pass_f = low_pass_f.reshape(2 * P - 1, -1).mean(axis=0)
    if xi:
        gabor_f = np.exp(-((freqs - xi) ** 2) / (2 * sigma**2))
        gabor_f = gabor_f.reshape(2 * P - 1, -1).mean(axis=0)
        kappa = gabor_f[0] / low_pass_f[0]
        filter_f = gabor_f - kappa * low_pass_f
    else:
        filter_f = low_pass_f
    filter_f = filter_f / np.abs(np.fft.ifft(filter_f)).sum()
    return filter_f


def gauss_1d(N: int, sigma: float) -> np.ndarray:
    """Fourier transform of a Gaussian low-pass filter (see `morlet_1d`)."""
    return morlet_1d(N, None, sigma)


def compute_sigma_psi(xi: float, Q: int, r: float = R_PSI) -> float:
    """Bandwidth of a wavelet at ``xi`` in a bank of ``Q`` wavelets per octave,
    so that neighbours meet at ``r`` times their peak (Lostanlen 2017)."""
    factor = 1.0 / math.pow(2, 1.0 / Q)
    term1 = (1 - factor) / (1 + factor)
    term2 = 1.0 / math.sqrt(2 * math.log(1.0 / r))
    return xi * term1 * term2


def compute_xi_max(Q: int) -> float:
    """Centre frequency of the highest wavelet of a bank with ``Q`` per octave."""
    return max(1.0 / (1.0 + math.pow(2.0, 3.0 / Q)), 0.35)


def compute_temporal_support(h_f: np.ndarray, criterion_amplitude: float = 1e-3) -> int:
    """Smallest half-support ``n`` such that truncating every filter (rows of
    ``h_f``, Fourier domain, centred) to ``[-n, n]`` changes it by at most
    ``criterion_amplitude`` in L1; half the length if none does."""
    h = np.fft.ifft(np.atleast_2d(h_f), axis=1)
    half_support = h.shape[1] // 2
    l1_residual = np.fliplr(np.cumsum(np.fliplr(np.abs(h)[:, :half_support]), axis=1))
    ok = np.max(l1_residual, axis=0) <= criterion_amplitude
    if np.any(ok):
        return int(np.min(np.where(ok)[0]) + 1)
    return half_support


def get_max_dyadic_subsampling(xi: float, sigma: float, alpha: float = ALPHA) -> int:
    """Largest ``j`` such that a filter at ``(xi, sigma)`` can be subsampled by
    ``2**j`` without aliasing: ``min(|xi| + alpha*sigma, 0.5) < 2**-(j+1)``."""
    upper_bound = min(abs(xi) + alpha * sigma, 0.5)
    return int(math.floor(-math.log2(upper_bound)) - 1)


def anden_generator(
    J: int, Q: int, sigma0: float = SIGMA0, r_psi: float = R_PSI
) -> Iterator[tuple[float, float]]:
    """Yield ``(xi, sigma)`` of Andén's Morlet bank, highest frequency first.

    Geometric progression of ratio ``2**(1/Q)`` from ``compute_xi_max(Q)`` while
    ``sigma`` exceeds ``sigma0 / 2**J``, then ``Q - 1`` wavelets of bandwidth
    ``sigma0 / 2**J`` in arithmetic progression below the elbow.
    """
    xi = compute_xi_max(Q)
    sigma = compute_sigma_psi(xi, Q, r=r_psi)
    sigma_min = sigma0 / 2**J
    if sigma <= sigma_min:
        xi = sigma
    else:
        yield xi, sigma
        while sigma > sigma_min * math.pow(2, 1 / Q):
            xi /= math.pow(2, 1 / Q)
            sigma /= math.pow(2, 1 / Q)
            yield xi, sigma
    elbow_xi = xi
    for _ in range(Q - 1):
        xi -= 1 / Q * elbow_xi
        yield xi, sigma_min


def periodize(h_f: np.ndarray, level: int) -> np.ndarray:
    """The filter for a signal subsampled by ``2**level``: ``h_f`` (last axis)
    periodised ``2**level`` times and summed (kymatio main's convention)."""
    n = h_f.shape[-1]
    if n % 2**level:
        raise ParameterError(f"cannot periodise a filter of length {n} by 2**{level}")
    return h_f.reshape(h_f.shape[:-1] + (2**level, n // 2**level)).sum(axis=-2)


@dataclasses.dataclass(frozen=True)
class Wavelet:
    """One Morlet wavelet of a bank: centre ``xi``, bandwidth ``sigma``, and the
    largest dyadic subsampling ``j`` it tolerates; ``filter_f`` at full resolution."""

    xi: float
    sigma: float
    j: int
    filter_f: np.ndarray = dataclasses.field(repr=False)

    def level(self, k: int) -> np.ndarray:
        """The filter for a signal subsampled by ``2**k``."""
        return periodize(self.filter_f, k)


@dataclasses.dataclass(frozen=True)
class FilterBank1D:
    """Low-pass ``phi`` and the wavelet banks of each scattering order."""

    N: int
    phi_f: np.ndarray = dataclasses.field(repr=False)
    phi_sigma: float
    log2_T: int
    psis: tuple[tuple[Wavelet, ...], ...]

    def phi_level(self, k: int) -> np.ndarray:
        """The low-pass for a signal subsampled by ``2**k``."""
        return periodize(self.phi_f, k)


def scattering_filter_bank(
    N: int,
    J: int,
    Q: tuple[int, ...],
    T: int,
    *,
    sigma0: float = SIGMA0,
    alpha: float = ALPHA,
    r_psi: float = R_PSI,
) -> FilterBank1D:
    """Morlet filters for a scattering transform on signals padded to ``N``.

    Parameters
    ----------
    N : int
        Padded signal length (a power of two).
    J : int
        Log2 of the largest wavelet scale.
    Q : tuple of int
        Wavelets per octave at each order, e.g. ``(12, 1)``.
    T : int
        Support of the low-pass filter; its bandwidth is ``sigma0 / T``.

    Returns
    -------
    FilterBank1D
    """
    psis = tuple(
        tuple(
            Wavelet(xi, sigma, get_max_dyadic_subsampling(xi, sigma, alpha), morlet_1d(N, xi, sigma))
            for xi, sigma in anden_generator(J, q, sigma0=sigma0, r_psi=r_psi)
        )
        for q in Q
    )
    return FilterBank1D(
        N=N,
        phi_f=gauss_1d(N, sigma0 / T),
        phi_sigma=sigma0 / T,
        log2_T=int(math.floor(math.log2(T))),
        psis=psis,
    )
