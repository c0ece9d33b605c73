"""jaxmusic: music representations and models in JAX.

Transforms are pytrees (plan once, then ``jit``/``vmap``/``grad``):
`Scattering1D`, `TimeFrequencyScattering`, `SpiralScattering`; spectral features live in `jaxmusic.features` (librosa's names),
filter banks in `jaxmusic.filters`, audio I/O in `jaxmusic.audio`, data sets in
`jaxmusic.data`.
"""

from . import audio, data, features, fourier, geometry
from ._checks import AudioError, JaxMusicError, ParameterError
from .data.dataset import DatasetError
from .scattering.jtfs import TimeFrequencyScattering
from .scattering.spiral import SpiralScattering
from .scattering.time import Scattering1D

__version__ = "0.1.0"

__all__ = [
    "JaxMusicError",
    "ParameterError",
    "AudioError",
    "DatasetError",
    "Scattering1D",
    "SpiralScattering",
    "TimeFrequencyScattering",
    "audio",
    "data",
    "features",
    "fourier",
    "geometry",
]
