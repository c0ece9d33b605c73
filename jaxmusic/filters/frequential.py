"""Frequential filters for joint time-frequency scattering, compatible with kymatio.

These filters act along the log-frequency axis of a scalogram (the index ``n1`` of
the first-order wavelets), which is zero-padded to ``N_fr`` rows. They follow
kymatio's main branch (``TimeFrequencyScatteringBase.create_filters``):

* a low-pass ``phi_F`` of width ``F`` (``sigma = sigma0 / F``), the frequential
  averaging;
* the "spinned" bank: first a low-pass of width ``2**J_fr`` (spin 0), then Andén's
  Morlet bank ``(J_fr, Q_fr)`` with positive centre frequencies (spin +1), then the
  same wavelets mirrored to negative frequencies (spin -1).

Everything here is NumPy (float64), run once when a transform is planned.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._checks import ParameterError
from .morlet import (
    ALPHA,
    R_PSI,
    SIGMA0,
    anden_generator,
    gauss_1d,
    get_max_dyadic_subsampling,
    morlet_1d,
)

__all__ = ["FrequentialFilter", "frequential_lowpass", "frequential_padding", "spinned_filter_bank"]


@dataclasses.dataclass(frozen=True)
class FrequentialFilter:
    """One filter along log-frequency: centre ``xi`` (negative for spin -1),
    bandwidth ``sigma``, largest dyadic subsampling ``j`` and spin ``sign(xi)``;
    ``filter_f`` is its Fourier transform on ``N_fr`` points."""

    xi: float
    sigma: float
    j: int
    filter_f: np.ndarray = dataclasses.field(repr=False)

    @property
    def spin(self) -> int:
        return int(np.sign(self.xi))


def frequential_padding(N_input_fr: int, J_fr: int, F: int) -> int:
    """Number of rows the log-frequency axis is zero-padded to (kymatio's rule).

    The smallest multiple of ``2**J_fr`` not below ``N_input_fr`` plus a margin
    of ``8 * min(F, 2**J_fr)``, rounded down to a multiple of ``2**J_fr``.
    ``N_input_fr`` is kymatio's nominal count of first-order paths, ``(J + 1) * Q1``.
    """
    margin = 8 * min(F, 2**J_fr)
    return ((N_input_fr + margin) // 2**J_fr) * 2**J_fr


def spinned_filter_bank(
    N_fr: int,
    J_fr: int,
    Q_fr: int,
    *,
    sigma0: float = SIGMA0,
    alpha: float = ALPHA,
    r_psi: float = R_PSI,
) -> tuple[FrequentialFilter, ...]:
    """The frequential filters indexed by ``n_fr``, in kymatio's order.

    ``n_fr = 0`` is the low-pass of width ``2**J_fr`` (``xi = 0``, ``j = J_fr``);
    then the Morlet wavelets of Andén's bank ``(J_fr, Q_fr)`` from the highest
    centre frequency down (spin +1); then the same wavelets with ``-xi`` (spin -1).
    """
    if N_fr % 2**J_fr:
        raise ParameterError(f"N_fr={N_fr} is not a multiple of 2**J_fr = {2**J_fr}")
    sigma_low = sigma0 / 2**J_fr
    bank = [FrequentialFilter(0.0, sigma_low, J_fr, gauss_1d(N_fr, sigma_low))]
    up = list(anden_generator(J_fr, Q_fr, sigma0=sigma0, r_psi=r_psi))
    for sign in (1, -1):
        for xi, sigma in up:
            j = get_max_dyadic_subsampling(xi, sigma, alpha)
            bank.append(FrequentialFilter(sign * xi, sigma, j, morlet_1d(N_fr, sign * xi, sigma)))
    for psi in bank[1:]:
        if not abs(psi.xi) < 0.5 / 2**psi.j:  # kymatio's aliasing check
            raise ParameterError(
                f"frequential wavelet xi={psi.xi:.4g} aliases when subsampled by 2**{psi.j}"
            )
    return tuple(bank)


def frequential_lowpass(N_fr: int, F: float, *, sigma0: float = SIGMA0) -> np.ndarray:
    """Fourier transform of the frequential averaging filter of width ``F``."""
    return gauss_1d(N_fr, sigma0 / F)
