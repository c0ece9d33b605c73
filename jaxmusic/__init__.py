"""jaxmusic: music representations and models in JAX.

Transforms are pytrees (plan once, then ``jit``/``vmap``/``grad``):
`Scattering1D`, `TimeFrequencyScattering`, `SpiralScattering`; spectral features live in `jaxmusic.features` (librosa's names),
filter banks in `jaxmusic.filters`, audio I/O in `jaxmusic.audio`, data sets in
`jaxmusic.data`. The modeling half: Flax NNX models in `jaxmusic.models`, the
Optax training loop on a device mesh with Orbax checkpoints in `jaxmusic.train`,
scikit-learn pipelines in `jaxmusic.classical`, cross-synthesis (cepstral
envelope, MFCC mosaicing, sinusoidal morphing, the STFT-LSTM autoencoder) in
`jaxmusic.synthesis`, and the applications in `jaxmusic.experiments` (the
instrument-recognition table, timbre transfer). These five load on
first use (``jaxmusic.train`` works after ``import jaxmusic``), so that the
transforms alone import without Flax, Optax, Orbax and scikit-learn.
"""

import importlib

from . import audio, data, features, fourier, geometry
from ._checks import AudioError, JaxMusicError, JaxMusicWarning, NonFiniteError, ParameterError, checked
from ._files import Interrupted, OutputError
from .compile_cache import enable_compile_cache
from .data.dataset import DatasetError
from .scattering.jtfs import TimeFrequencyScattering
from .scattering.spiral import SpiralScattering
from .scattering.time import Scattering1D

__version__ = "0.1.0"

__all__ = [
    "JaxMusicError",
    "ParameterError",
    "AudioError",
    "NonFiniteError",
    "JaxMusicWarning",
    "checked",
    "DatasetError",
    "OutputError",
    "Interrupted",
    "enable_compile_cache",
    "Scattering1D",
    "SpiralScattering",
    "TimeFrequencyScattering",
    "audio",
    "data",
    "features",
    "fourier",
    "geometry",
    "models",
    "train",
    "classical",
    "experiments",
    "synthesis",
]

_LAZY = ("models", "train", "classical", "experiments", "synthesis")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'jaxmusic' has no attribute {name!r}")
