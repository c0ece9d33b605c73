"""Cross-synthesis: sounds that inherit features from two others (hybridization) or
interpolate them (morphing), and the seed's evaluations of them.

Methods
-------
- `envelope_hybrid`: cepstral spectral-envelope cross-synthesis (vocoding), pure
  JAX (jit, vmap, grad); `cepstral_envelope`.
- `mosaic`: MFCC mosaicing (Burred 2014), frames matched by k-NN (scikit-learn).
- `sinusoidal_analysis`, `sinusoidal_synthesis`, `sinusoidal_model`: peak
  picking with parabolic interpolation, partial tracking, additive
  resynthesis and the residual; `sinusoidal_morph` interpolates partials.
- `train_autoencoder`, `transfer`, `morph`, `reconstruct`: the STFT autoencoder
  with input context and an LSTM layer (Gabrielli, Cella et al., 2017;
  `jaxmusic.models.STFTAutoencoder`), trained with `jaxmusic.train.minimize`;
  `load_autoencoder`, `save_autoencoder`.
- `train_wavenet`, `train_translator`, `translate`, `morph` (of `wavenet`),
  `reconstruct`: the NSynth WaveNet autoencoder and the Universal Music
  Translation Network (`jaxmusic.synthesis.wavenet`), cached generation;
  `load_wavenet`, `save_wavenet`.
- `hybridize`: one interface to all of them (the ``jaxmusic hybridize`` command).

Evaluations
-----------
`spectral_convergence`, `log_spectral_distance`, `reconstruction`;
`pitch_test_notes`, `pitch_preservation`, `pitch_test` (the seed's pitch test);
`bandwidth`, `bandwidth_comparison`. `jaxmusic.experiments.run_timbre_transfer`
runs them all on the built-in notes.

Every method takes mono or ``(channels, samples)`` float audio (channels are
averaged), refuses NaN/inf (`AudioError`) and signals shorter than one frame
(`ParameterError` naming the length and ``n_fft``), and returns float32 audio
that is *not* normalised: `fit_peak` scales an output that would clip down,
with a `ClippingWarning`, as the command line does before writing.
"""

from ._common import ClippingWarning, fit_peak
from .autoencoder import (
    AutoencoderConfig,
    TimbreAutoencoder,
    load_autoencoder,
    morph,
    reconstruct,
    save_autoencoder,
    train_autoencoder,
    transfer,
)
from .envelope import cepstral_envelope, envelope_hybrid
from .evaluate import (
    bandwidth,
    bandwidth_comparison,
    log_spectral_distance,
    pitch_preservation,
    pitch_test,
    pitch_test_notes,
    reconstruction,
    spectral_convergence,
)
from .hybridize import METHODS, hybridize
from .mosaic import MosaicIndices, mosaic
from .wavenet import WaveNetModel, load_wavenet, save_wavenet, train_translator, train_wavenet, translate
from .sinusoidal import (
    Partials,
    sinusoidal_analysis,
    sinusoidal_model,
    sinusoidal_morph,
    sinusoidal_synthesis,
    snr_db,
)

__all__ = [
    "envelope_hybrid", "cepstral_envelope",
    "mosaic", "MosaicIndices",
    "Partials", "sinusoidal_analysis", "sinusoidal_synthesis", "sinusoidal_model", "sinusoidal_morph", "snr_db",
    "AutoencoderConfig", "TimbreAutoencoder", "train_autoencoder", "transfer", "morph", "reconstruct",
    "load_autoencoder", "save_autoencoder",
    "WaveNetModel", "train_wavenet", "train_translator", "translate", "load_wavenet", "save_wavenet",
    "hybridize", "METHODS",
    "spectral_convergence", "log_spectral_distance", "reconstruction",
    "pitch_test_notes", "pitch_preservation", "pitch_test", "bandwidth", "bandwidth_comparison",
    "fit_peak", "ClippingWarning",
]
