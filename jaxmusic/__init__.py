"""jaxmusic: music representations and models in JAX."""

from ._checks import AudioError, JaxMusicError, ParameterError
from .scattering.time import Scattering1D

__version__ = "0.1.0"

__all__ = ["JaxMusicError", "ParameterError", "AudioError", "Scattering1D"]
