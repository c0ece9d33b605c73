"""The course's experiments, as library functions (each returns its numbers and,
given ``out=``, writes its figure); ``jaxmusic experiment NAME`` runs each on
built-in data.

- `run_recognition`: the instrument-recognition table (MFCC vs time / joint /
  spiral scattering vs ConvNets), the main job of ``make demo``.
- `note_features`, `make_representation`: one log-compressed, time-averaged
  feature vector per note, for the table's classifiers.
- `run_timbre_transfer`: the seed's timbre-transfer evaluation (reconstruction,
  pitch test, bandwidth, spectrograms) of every `jaxmusic.synthesis` method.
- `representation_properties` (`run_properties`): discriminability, stability to
  noise and to time-warps, invariance to shifts and transposition,
  reconstruction, for any transforms; `transposition_distances`
  (`run_transposition`): a note against its real and resampled transpositions.
- `pitch_helix` (`run_helix`): Isomap of CQT-bin correlations; the helix measured
  by the circular correlation of its angle with pitch class.
- `kmeans` (jit, k-means++), `cluster_purity` (`run_kmeans`).
- `linearization` (`run_linearization`): an MLP's layers projected in 2-d / 3-d,
  with the linear separability of each.
- `invert` (`run_inversion`): a signal from its scattering / JTFS / spiral
  coefficients by gradient descent through the transform.
- `style_transfer` (`run_style`): Gatys-style transfer by descent through
  random ConvNets or scattering statistics.
- `run_translation`: the NSynth WaveNet autoencoder and the universal music
  translator on two gm8 classes: loss curves, domain confusion, reconstruction,
  the pitch test of translations, latent morphs.
- `run_demo`: MFCC and scattering of one built-in note.
"""

from .clustering import KMeansResult, cluster_purity, kmeans, run_kmeans
from .demo import run_demo
from .helix import Helix, pitch_helix, run_helix
from .inversion import Inversion, invert, run_inversion
from .linearization import Linearization, linearization, run_linearization
from .properties import (
    default_transforms,
    representation_properties,
    run_properties,
    run_transposition,
    time_warp,
    transposition_distances,
)
from .recognition import NETWORKS, SEED_RESULTS, make_folds, run_recognition
from .representations import REPRESENTATIONS, make_representation, note_features
from .style import StyleTransfer, run_style, style_transfer
from .timbre import run_timbre_transfer
from .translation import run_translation

__all__ = ["run_recognition", "make_folds", "NETWORKS", "SEED_RESULTS",
           "note_features", "make_representation", "REPRESENTATIONS", "run_demo",
           "run_timbre_transfer",
           "representation_properties", "default_transforms", "time_warp", "run_properties",
           "transposition_distances", "run_transposition",
           "pitch_helix", "Helix", "run_helix",
           "kmeans", "KMeansResult", "cluster_purity", "run_kmeans",
           "linearization", "Linearization", "run_linearization",
           "invert", "Inversion", "run_inversion",
           "style_transfer", "StyleTransfer", "run_style",
           "run_translation"]
