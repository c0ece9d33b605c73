"""Flax NNX models for instrument recognition (modules only; training lives elsewhere).

- `InstrumentConvNet`: Lostanlen & Cella's (ISMIR 2016) ConvNets on the CQT: 2-d,
  1-d, spiral, and any hybrid of them; `CONVNET_PRESETS` for their input.
- `convnet_input` / `ConvNetInput` / `convnet_transform`: A-weighted ``log1p(1000 |CQT|)`` inputs;
  `fit_normalization` / `Standardizer`: statistics of the training set only.
- `MLP`: dense classifier on feature vectors.
- `STFTAutoencoder`: the STFT autoencoder with input context and an LSTM layer
  (Gabrielli, Cella et al., 2017) for timbre transfer (`jaxmusic.synthesis`).
- `WaveNetAutoencoder` (NSynth; Engel et al. 2017) and `MusicTranslator` (the
  Universal Music Translation Network; Mor et al. 2019), `WAVENET_PRESETS`,
  cached autoregressive `generate` (and `naive_generate`, its reference).
- `ScatteringClassifier`: a fixed jaxmusic transform (stored as `Fixed`, not
  trained) followed by an MLP; `scattering_features` is its fixed layer.
"""

from .autoencoder import STFTAutoencoder
from .convnet import (
    BRANCHES,
    CONVNET_PRESETS,
    ConvNetPreset,
    InstrumentConvNet,
    convnet_min_frames,
    convnet_n_features,
)
from .frontend import Fixed, ScatteringClassifier, freeze, scattering_features, thaw
from .input import (
    ConvNetInput,
    Standardizer,
    a_weighting,
    convnet_input,
    convnet_transform,
    fit_normalization,
)
from .mlp import MLP
from .wavenet import (
    WAVENET_PRESETS,
    DomainClassifier,
    MusicTranslator,
    WaveNetAutoencoder,
    WaveNetConfig,
    WaveNetDecoder,
    WaveNetEncoder,
    generate,
    mu_law_decode,
    mu_law_encode,
    naive_generate,
    wavenet_config,
)

__all__ = [
    "BRANCHES",
    "CONVNET_PRESETS",
    "ConvNetPreset",
    "InstrumentConvNet",
    "convnet_min_frames",
    "convnet_n_features",
    "ConvNetInput",
    "convnet_input",
    "convnet_transform",
    "a_weighting",
    "Standardizer",
    "fit_normalization",
    "MLP",
    "STFTAutoencoder",
    "Fixed",
    "freeze",
    "thaw",
    "scattering_features",
    "ScatteringClassifier",
    "WaveNetConfig",
    "WAVENET_PRESETS",
    "wavenet_config",
    "WaveNetEncoder",
    "WaveNetDecoder",
    "WaveNetAutoencoder",
    "DomainClassifier",
    "MusicTranslator",
    "generate",
    "naive_generate",
    "mu_law_encode",
    "mu_law_decode",
]
