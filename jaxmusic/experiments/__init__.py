"""The course's experiments, as library functions (each writes a figure).

- `run_recognition`: the instrument-recognition table (MFCC vs time / joint /
  spiral scattering vs ConvNets), the main job of ``make demo``.
- `note_features`, `make_representation`: one log-compressed, time-averaged
  feature vector per note, for the table's classifiers.
- `run_timbre_transfer`: the seed's timbre-transfer evaluation (reconstruction,
  pitch test, bandwidth, spectrograms) of every `jaxmusic.synthesis` method.
- `run_demo`: MFCC and scattering of one built-in note.
"""

from .demo import run_demo
from .recognition import NETWORKS, SEED_RESULTS, make_folds, run_recognition
from .representations import REPRESENTATIONS, make_representation, note_features
from .timbre import run_timbre_transfer

__all__ = ["run_recognition", "make_folds", "NETWORKS", "SEED_RESULTS",
           "note_features", "make_representation", "REPRESENTATIONS", "run_demo",
           "run_timbre_transfer"]
