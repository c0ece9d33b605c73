"""Notes rendered from a sampled General MIDI soundfont: the built-in data set.

`gm8` plays the eight instrument classes of the seed's experiments, one note at
a time, from a real sampled soundfont (by default TimGM6mb, which ships inside
the ``pretty_midi`` package) with the ``tinysoundfont`` synthesizer: each note
is held for ``hold`` seconds, then released, and cut at ``duration`` seconds
(NSynth's protocol: 3 s held out of 4). Renders are cached on disk, keyed by
every parameter and by the soundfont's content.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .._checks import JaxMusicError, ParameterError, check_int, check_real
from .dataset import Dataset, DatasetError

__all__ = [
    "gm8",
    "render_soundfont",
    "default_soundfont",
    "cache_dir",
    "GM8_CLASSES",
    "GM8_PROGRAMS",
    "GM8_ALT_PROGRAMS",
    "GM8_RANGES",
]

#: The eight classes of the seed's solo-instrument experiments.
GM8_CLASSES = (
    "piano", "violin", "distorted guitar", "female singer",
    "clarinet", "flute", "trumpet", "tenor saxophone",
)

#: General MIDI program (0-based) of each class. The female singer is "Voice
#: Oohs" (53) rather than "Choir Aahs" (52): in TimGM6mb the choir is an
#: ensemble whose amplitude beats strongly (coefficient of variation of the
#: RMS envelope ~0.4 against ~0.1) and whose pitch pYIN finds less reliably
#: (voiced probability 0.64 against 0.97 at C4), while Voice Oohs sounds as a
#: single voice with a steady pitch, which is what a solo singer is; its "oo"
#: vowel is darker than an "ah".
GM8_PROGRAMS = {
    "piano": 0,             # Acoustic Grand Piano
    "violin": 40,           # Violin
    "distorted guitar": 30, # Distortion Guitar
    "female singer": 53,    # Voice Oohs (see above)
    "clarinet": 71,         # Clarinet
    "flute": 73,            # Flute
    "trumpet": 56,          # Trumpet
    "tenor saxophone": 66,  # Tenor Sax
}

#: Neighbouring GM programs, for a second rendering of the same soundfont
#: (``gm8(programs="alt")``, source ``"<soundfont>:alt"``). Honest caveats: this
#: is the same soundfont, and the nearest GM program is not always the same
#: instrument. In TimGM6mb: piano -> "Piano 3" (2, a different piano), violin
#: -> "Fiddle" (110, largely the same samples as Violin), distorted guitar ->
#: "Overdrive Guitar" (29), female singer -> "Choir Aahs" (52, an ensemble),
#: clarinet -> Clarinet again (GM has no other clarinet), flute -> "Piccolo"
#: (72), trumpet -> "Mute Trumpet" (59), tenor saxophone -> "Baritone Sax"
#: (67). For a truly different source use another soundfont
#: (``gm8(soundfont=PATH)``) or `synthetic_notes`.
GM8_ALT_PROGRAMS = {
    "piano": 2,
    "violin": 110,
    "distorted guitar": 29,
    "female singer": 52,
    "clarinet": 71,
    "flute": 72,
    "trumpet": 59,
    "tenor saxophone": 67,
}

#: Playable MIDI range (lowest, highest, inclusive) of each class: the
#: instrument's usual concert range.
GM8_RANGES = {
    "piano": (21, 108),            # A0-C8
    "violin": (55, 100),           # G3-E7
    "distorted guitar": (40, 86),  # E2-D6 (22 frets)
    "female singer": (53, 84),     # F3-C6, alto to soprano
    "clarinet": (50, 91),          # D3-G6 (B-flat clarinet, concert pitch)
    "flute": (60, 96),             # C4-C7
    "trumpet": (54, 82),           # F#3-B-flat5
    "tenor saxophone": (44, 75),   # A-flat2-E-flat5 (concert pitch)
}

_RENDER_VERSION = 1  # bump when the rendering changes, to invalidate caches


def cache_dir() -> Path:
    """The folder for cached renders: ``$JAXMUSIC_CACHE`` or ``~/.cache/jaxmusic``."""
    env = os.environ.get("JAXMUSIC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jaxmusic"


def default_soundfont() -> Path:
    """Path of TimGM6mb.sf2, the General MIDI soundfont shipped with pretty_midi."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise JaxMusicError(
            "the default soundfont ships with the pretty_midi package, which is not installed: "
            "pip install pretty_midi (or pass soundfont=PATH to an .sf2/.sf3 file)"
        )
    path = Path(spec.origin).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise DatasetError(f"pretty_midi is installed but {path} is missing; reinstall pretty_midi")
    return path


def _tinysoundfont():
    try:
        import tinysoundfont
    except ImportError as err:
        raise JaxMusicError(
            "rendering soundfonts needs tinysoundfont: pip install --no-deps tinysoundfont "
            "(its pyaudio dependency is only for live playback); or use "
            "jaxmusic.data.synthetic_notes, which needs nothing"
        ) from err
    return tinysoundfont


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Synth:
    """One tinysoundfont synthesizer with one soundfont loaded."""

    def __init__(self, soundfont: Path, sr: int, gain_db: float):
        tsf = _tinysoundfont()
        self.path = soundfont
        self.synth = tsf.Synth(gain=gain_db, samplerate=sr)
        try:
            self.sfid = self.synth.sfload(str(soundfont))
        except Exception as err:
            raise DatasetError(f"cannot load soundfont {soundfont}: {err}") from err

    def preset_name(self, bank: int, program: int):
        return self.synth.sfpreset_name(self.sfid, bank, program)

    def presets(self, bank: int) -> list[int]:
        return [p for p in range(128) if self.preset_name(bank, p) is not None]

    def _generate(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, np.float32)
        out = np.frombuffer(self.synth.generate(n), dtype=np.float32)
        return out.reshape(n, 2).mean(axis=1)

    def note(self, bank: int, program: int, key: int, velocity: int, n_hold: int, n_total: int):
        """Render one note: pressed, held ``n_hold`` samples, released, cut at ``n_total``."""
        s = self.synth
        s.program_select(0, self.sfid, bank, program)
        s.noteon(0, key, velocity)
        held = self._generate(min(n_hold, n_total))
        s.noteoff(0, key)
        tail = self._generate(n_total - len(held))
        # Silence the channel before the next note (all sound off, then flush).
        s.sounds_off(0)
        for _ in range(64):
            if np.abs(self._generate(256)).max() == 0:
                break
        return np.concatenate([held, tail])


def _render(soundfont, notes, *, sr, n_hold, n_total, bank, gain_db) -> np.ndarray:
    """Render ``notes`` (rows of program, key, velocity) to a (n, n_total) array."""
    synth = _Synth(soundfont, sr, gain_db)
    audio = np.zeros((len(notes), n_total), dtype=np.float32)
    for i, (program, key, velocity) in enumerate(notes):
        audio[i] = synth.note(bank, int(program), int(key), int(velocity), n_hold, n_total)
    return audio


def render_soundfont(
    soundfont,
    notes: Sequence[tuple[int, int, int]],
    *,
    sr: int = 16000,
    duration: float = 1.0,
    hold: float = 0.75,
    bank: int = 0,
    gain_db: float = 0.0,
) -> np.ndarray:
    """Render isolated notes from a soundfont, one per row (no cache).

    Parameters
    ----------
    soundfont : str or path-like
        An .sf2/.sf3 file.
    notes : sequence of (program, key, velocity)
        GM program (0-127), MIDI key (0-127) and velocity (1-127) of each note.
    sr : int
        Sampling rate in Hz.
    duration : float
        Seconds per note.
    hold : float
        Seconds before the key is released (then the soundfont's release plays
        until ``duration``).
    bank : int
        Soundfont bank (0 for General MIDI melodic instruments).
    gain_db : float
        Output gain in dB.

    Returns
    -------
    np.ndarray of shape (len(notes), round(duration * sr)), float32
        Mono (the soundfont's stereo averaged).
    """
    sr = check_int("sr", sr, min=1000)
    duration = check_real("duration", duration, min=0.0, strict_min=True)
    hold = check_real("hold", hold, min=0.0)
    gain_db = check_real("gain_db", gain_db)
    bank = check_int("bank", bank, min=0, max=128)
    soundfont = Path(soundfont)
    if not soundfont.is_file():
        raise DatasetError(f"soundfont file {soundfont} does not exist")
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    if notes.size and (notes.min() < 0 or notes.max() > 127):
        raise ParameterError("programs, keys and velocities must lie in 0..127")
    n_total = max(1, int(round(duration * sr)))
    synth = _Synth(soundfont, sr, gain_db)
    for program in sorted(set(notes[:, 0].tolist())):
        _check_program(synth, bank, program, None)
    return _render(soundfont, notes, sr=sr, n_hold=int(round(hold * sr)), n_total=n_total,
                   bank=bank, gain_db=gain_db)


def _check_program(synth: _Synth, bank: int, program: int, cls: str | None) -> None:
    if synth.preset_name(bank, program) is None:
        which = f" (class {cls!r})" if cls else ""
        raise ParameterError(
            f"soundfont {synth.path} has no preset for bank {bank}, program {program}{which}; "
            f"its bank {bank} has programs {synth.presets(bank)}. Pass programs={{...}} "
            "to choose others, or another soundfont"
        )


def check_note_grid(sr, duration, hold, pitch_step, velocities, classes):
    """Check the note-grid options shared by `gm8` and `synthetic_notes`; returns
    them normalised: ``(sr, duration, hold, pitch_step, velocities, classes)``."""
    sr = check_int("sr", sr, min=1000)
    duration = check_real("duration", duration, min=0.0, strict_min=True)
    hold = check_real("hold", hold, min=0.0)
    pitch_step = check_int("pitch_step", pitch_step, min=1)
    velocities = tuple(check_int("velocities", v, min=1, max=127) for v in velocities)
    if not velocities:
        raise ParameterError("velocities must name at least one velocity")
    classes = tuple(GM8_CLASSES if classes is None else classes)
    unknown = [c for c in classes if c not in GM8_CLASSES]
    if unknown or not classes:
        raise ParameterError(f"classes must be among {list(GM8_CLASSES)}, got {list(classes)}")
    return sr, duration, hold, pitch_step, velocities, classes


def gm8(
    *,
    sr: int = 16000,
    duration: float = 1.0,
    hold: float = 0.75,
    velocities: Sequence[int] = (50, 75, 100),
    pitch_step: int = 2,
    classes: Sequence[str] | None = None,
    programs: Mapping[str, int] | str | None = None,
    ranges: Mapping[str, tuple[int, int]] | None = None,
    soundfont=None,
    bank: int = 0,
    gain_db: float = 0.0,
    source: str | None = None,
    cache: bool = True,
    cache_root=None,
    mmap: bool = False,
) -> Dataset:
    """The built-in data set: eight instrument classes rendered from a soundfont.

    Every class is played note by note over its range (`GM8_RANGES`, every
    ``pitch_step`` semitones) at each velocity, NSynth-style: the key is held
    ``hold`` seconds, released, and the note cut at ``duration`` seconds. The
    default (16 kHz, 1 s, every 2nd semitone, 3 velocities) is 534 notes,
    35 MB, rendered in about a second and cached.

    Parameters
    ----------
    sr : int
        Sampling rate in Hz.
    duration : float
        Seconds per note.
    hold : float
        Seconds the key is held before release.
    velocities : sequence of int
        MIDI velocities (1-127) to play each pitch at.
    pitch_step : int
        Play every ``pitch_step``-th semitone of each range (1 for all).
    classes : sequence of str, optional
        A subset of `GM8_CLASSES` (labels follow this order); default all eight.
    programs : dict or "alt", optional
        GM program (0-127) per class name, overriding `GM8_PROGRAMS`;
        ``"alt"`` takes `GM8_ALT_PROGRAMS`.
    ranges : dict, optional
        (lowest, highest) MIDI key per class name, overriding `GM8_RANGES`.
    soundfont : str or path-like, optional
        Any .sf2/.sf3 file; default TimGM6mb.sf2 from pretty_midi.
    bank : int
        Soundfont bank (0: General MIDI melodic).
    gain_db : float
        Synthesizer gain in dB. At 0 dB TimGM6mb's notes peak between about
        0.04 (soft piano) and 0.4 (loud trumpet): loudness follows velocity.
    source : str, optional
        The ``source`` of every note; default the soundfont's file name
        without extension, with ``":alt"`` for ``programs="alt"`` and
        ``":custom"`` for other programs.
    cache : bool
        Reuse (and write) a cached render under ``cache_root``.
    cache_root : str or path-like, optional
        Default `cache_dir` (``$JAXMUSIC_CACHE`` or ``~/.cache/jaxmusic``).
    mmap : bool
        Return the cached audio memory-mapped rather than in memory.

    Returns
    -------
    Dataset
        ``audio`` (n, round(duration * sr)) float32; pitch and velocity of every
        note; ``path`` empty. Notes that the soundfont renders silent (holes in
        its key ranges) are dropped with a warning naming them.

    Raises
    ------
    ParameterError
        A class name that is not in `GM8_CLASSES`, or a soundfont without a
        preset for a requested program.
    DatasetError
        A soundfont file that is missing or cannot be loaded.
    """
    sr, duration, hold, pitch_step, velocities, classes = check_note_grid(
        sr, duration, hold, pitch_step, velocities, classes)
    bank = check_int("bank", bank, min=0, max=128)
    gain_db = check_real("gain_db", gain_db)
    tag = ""
    if programs == "alt":
        programs, tag = dict(GM8_ALT_PROGRAMS), ":alt"
    elif isinstance(programs, str):
        raise ParameterError(f"programs must be a dict of class -> program or 'alt', got {programs!r}")
    elif programs is not None:
        bad = [c for c in programs if c not in GM8_CLASSES]
        if bad:
            raise ParameterError(f"programs names unknown classes {bad}; classes are {list(GM8_CLASSES)}")
        programs = {**GM8_PROGRAMS, **{c: check_int(f"programs[{c!r}]", p, min=0, max=127)
                                       for c, p in programs.items()}}
        if any(programs[c] != GM8_PROGRAMS[c] for c in classes):
            tag = ":custom"
    else:
        programs = dict(GM8_PROGRAMS)
    ranges = {**GM8_RANGES, **(ranges or {})}
    for c in classes:
        lo, hi = ranges[c]
        check_int(f"ranges[{c!r}] lowest", lo, min=0, max=127)
        check_int(f"ranges[{c!r}] highest", hi, min=lo, max=127)
    soundfont = default_soundfont() if soundfont is None else Path(soundfont)
    if not soundfont.is_file():
        raise DatasetError(f"soundfont file {soundfont} does not exist")
    if source is None:
        source = soundfont.stem + tag

    notes, labels = [], []
    for label, c in enumerate(classes):
        lo, hi = ranges[c]
        for key in range(lo, hi + 1, pitch_step):
            for v in velocities:
                notes.append((programs[c], key, v))
                labels.append(label)
    notes = np.array(notes, dtype=np.int64)
    labels = np.array(labels, dtype=np.int32)
    n_total = max(1, int(round(duration * sr)))
    n_hold = int(round(hold * sr))

    config = dict(
        version=_RENDER_VERSION, sr=sr, n_total=n_total, n_hold=n_hold, bank=bank,
        gain_db=gain_db, soundfont=_file_digest(soundfont), source=source,
        classes=list(classes), notes=notes.tolist(),
    )
    key = hashlib.sha256(repr(sorted(config.items())).encode()).hexdigest()[:24]
    folder = Path(cache_root if cache_root is not None else cache_dir()) / f"gm8-{key}"
    if cache and (folder / "dataset.json").is_file():
        try:
            return Dataset.load(folder, mmap=mmap)
        except Exception as err:  # a damaged cache is re-rendered, not trusted
            warnings.warn(f"re-rendering: cached gm8 data in {folder} is unreadable ({err})",
                          stacklevel=2)

    synth = _Synth(soundfont, sr, gain_db)
    for c in classes:
        _check_program(synth, bank, programs[c], c)
    del synth
    audio = _render(soundfont, notes, sr=sr, n_hold=n_hold, n_total=n_total, bank=bank,
                    gain_db=gain_db)
    silent = np.abs(audio).max(axis=1) < 1e-4
    if silent.any():
        names = [f"{classes[l]} (program {p}) key {k} velocity {v}"
                 for (p, k, v), l in zip(notes[silent], labels[silent])]
        warnings.warn(
            f"soundfont {soundfont.name} renders {len(names)} notes silent; dropped: "
            + "; ".join(names),
            stacklevel=2,
        )
    keep = ~silent
    ds = Dataset(
        audio=audio[keep], label=labels[keep], classes=classes, sr=sr,
        pitch=notes[keep, 1], velocity=notes[keep, 2], source=source,
    )
    if cache:
        ds.save(folder, overwrite=True)
        if mmap:
            return Dataset.load(folder, mmap=True)
    return ds
