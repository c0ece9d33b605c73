"""The seed's evaluations of timbre-transfer methods (host side, NumPy and librosa).

A *method* is any callable ``method(audio, sr) -> audio``: one mono signal
``(samples,)`` in, one ``(samples',)`` out, at the same sampling rate (for
example ``lambda y, sr: envelope_hybrid(y, target, sr=sr)``). Nothing here
imports a method's module.

- Reconstruction (the seed's sanity check: input and target are the same
  file): `spectral_convergence` and `log_spectral_distance` between a
  reference and an estimate, both in `reconstruction`, which can also draw the
  two spectrograms.
- Pitch (the seed's "5 MIDI files x 20 random MIDI notes each x 10 instrument
  classes = 1000 notes; only 12% of the notes lost the original pitch"):
  `pitch_test_notes` renders the melodies from a soundfont, `pitch_preservation`
  decides per note whether an output kept the input's pitch (pYIN), and
  `pitch_test` runs a method over the melodies and reports the share of notes
  that lost their pitch, per class.
- Bandwidth (the seed's "the bandwidth of the output is related to that of
  the class used for training"): `bandwidth` of one signal and
  `bandwidth_comparison` of inputs, training audio and outputs.

Signals are time-aligned from their first sample: an output that starts late
(a method's latency) is compared as it is.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections import OrderedDict
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .._checks import JaxMusicError, ParameterError, check_int, check_real
from ..data.soundfont import GM8_CLASSES, GM8_PROGRAMS, GM8_RANGES, GM8_SOUNDFONT_PROGRAMS
from ._common import prepare

__all__ = [
    "spectral_convergence",
    "log_spectral_distance",
    "reconstruction",
    "pitch_test_notes",
    "pitch_preservation",
    "pitch_test",
    "bandwidth",
    "bandwidth_comparison",
]


# --------------------------------------------------------------------------- spectra


def _magnitude(y: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """|STFT| (1 + n_fft // 2, frames) of a checked mono float32 signal (jaxmusic.fourier.stft,
    librosa's conventions: centred frames, zero padding, periodic Hann window)."""
    from ..fourier import stft

    return np.abs(np.asarray(stft(y, n_fft=n_fft, hop_length=hop_length)))


def _pair(reference, estimate, n_fft, hop_length):
    """Both signals checked, cut to the shorter, and their STFT magnitudes."""
    n_fft = check_int("n_fft", n_fft, min=2)
    hop_length = check_int("hop_length", hop_length, min=1)
    ref = prepare(reference, name="reference", n_fft=n_fft)
    est = prepare(estimate, name="estimate", n_fft=n_fft)
    n = min(ref.shape[-1], est.shape[-1])
    return _magnitude(ref[:n], n_fft, hop_length), _magnitude(est[:n], n_fft, hop_length), n


def spectral_convergence(reference, estimate, *, n_fft: int = 2048, hop_length: int = 512) -> float:
    """Spectral convergence of an estimate to a reference: ``|| |S_ref| - |S_est| ||_F / || |S_ref| ||_F``.

    ``S`` is the STFT (`jaxmusic.fourier.stft`: centred Hann frames, librosa's
    conventions); the norms are Frobenius norms over bins and frames. Phase is
    ignored: ``-x`` (or any phase change that keeps the magnitudes) converges
    perfectly, ``a * x`` scores ``|1 - a|``, silence scores 1.

    Parameters
    ----------
    reference, estimate : array (samples,) or (channels, samples)
        Floating-point audio (multichannel is averaged to mono). When their
        lengths differ both are cut to the shorter (its first samples).
    n_fft, hop_length : int
        STFT frame length and hop in samples.

    Returns
    -------
    float
        0 for identical magnitudes; ``inf`` when the reference is silent and
        the estimate is not, 0 when both are silent.

    Raises
    ------
    ParameterError
        Not an array, integer dtype, a signal shorter than ``n_fft``, bad sizes.
    AudioError
        Empty, or NaN/inf samples.
    """
    s_ref, s_est, _ = _pair(reference, estimate, n_fft, hop_length)
    num = float(np.linalg.norm((s_ref - s_est).astype(np.float64)))
    den = float(np.linalg.norm(s_ref.astype(np.float64)))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def log_spectral_distance(reference, estimate, *, n_fft: int = 2048, hop_length: int = 512,
                          floor_db: float = -80.0) -> float:
    """Log-spectral distance in dB: mean over frames of the RMS over bins of ``20 log10(|S_ref| / |S_est|)``.

    Both magnitudes are first raised to a floor ``max|S_ref| * 10**(floor_db / 20)``
    (relative to the reference's loudest bin), so bins that are silent in both
    signals count 0 dB instead of dominating with the logarithm of numerical
    noise, and a silent estimate scores a finite, large distance. ``x`` against
    ``0.5 * x`` gives ``20 log10 2 = 6.02`` dB wherever both lie above the floor.

    Parameters
    ----------
    reference, estimate : array (samples,) or (channels, samples)
        Floating-point audio (multichannel averaged to mono); cut to the
        shorter when their lengths differ.
    n_fft, hop_length : int
        STFT frame length and hop in samples (`jaxmusic.fourier.stft`).
    floor_db : float < 0
        The floor, in dB below the reference's maximum magnitude.

    Returns
    -------
    float
        Distance in dB (0 for identical magnitudes; 0 when the reference is silent
        and the estimate too; ``inf`` when only the reference is silent).

    Raises
    ------
    ParameterError, AudioError
        As `spectral_convergence`; ``floor_db`` not negative.
    """
    floor_db = check_real("floor_db", floor_db, max=0.0)
    if floor_db == 0.0:
        raise ParameterError("floor_db must be negative (dB below the reference's maximum), got 0")
    s_ref, s_est, _ = _pair(reference, estimate, n_fft, hop_length)
    top = float(s_ref.max())
    if top == 0.0:
        return 0.0 if float(s_est.max()) == 0.0 else float("inf")
    floor = top * 10.0 ** (floor_db / 20.0)
    d = 20.0 * np.log10(np.maximum(s_ref, floor).astype(np.float64) / np.maximum(s_est, floor))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=0))))


def reconstruction(reference, estimate, *, sr: int, n_fft: int = 2048, hop_length: int = 512,
                   floor_db: float = -80.0, out=None, title: str = "") -> dict:
    """The seed's reconstruction test: how close an estimate comes to a reference.

    In the seed the autoencoder is given the same file as input and target and
    should give it back; any method can be checked the same way.

    Parameters
    ----------
    reference, estimate : array (samples,)
        Floating-point audio at ``sr``; cut to the shorter when lengths differ.
    sr : int
        Sampling rate in Hz (for the figure's axes).
    n_fft, hop_length, floor_db
        As `spectral_convergence` and `log_spectral_distance`.
    out : str or path-like, optional
        A folder: ``reconstruction.png`` (the two spectrograms, `figure_spectrograms`)
        and ``reconstruction.json`` (the returned dict) are written there.
    title : str
        The figure's title.

    Returns
    -------
    dict
        ``spectral_convergence`` (float), ``log_spectral_distance_db`` (float),
        ``n_samples`` (the compared length), ``reference_samples``,
        ``estimate_samples``, ``sr``, ``n_fft``, ``hop_length``, ``floor_db``.
    """
    sr = check_int("sr", sr, min=1)
    ref = prepare(reference, name="reference", n_fft=n_fft)
    est = prepare(estimate, name="estimate", n_fft=n_fft)
    result = {
        "spectral_convergence": spectral_convergence(ref, est, n_fft=n_fft, hop_length=hop_length),
        "log_spectral_distance_db": log_spectral_distance(ref, est, n_fft=n_fft, hop_length=hop_length,
                                                          floor_db=floor_db),
        "n_samples": int(min(len(ref), len(est))),
        "reference_samples": int(len(ref)),
        "estimate_samples": int(len(est)),
        "sr": sr, "n_fft": int(n_fft), "hop_length": int(hop_length), "floor_db": float(floor_db),
    }
    if out is not None:
        from .._files import Legacy, as_run_dir, write_json
        from ..plot import figure_spectrograms

        out = as_run_dir(out, "reconstruction", legacy=Legacy("reconstruction.json", names=("reconstruction.png",)))
        sc, lsd = result["spectral_convergence"], result["log_spectral_distance_db"]
        figure_spectrograms({"reference": ref, "estimate": est}, sr, out / "reconstruction.png",
                            title=(title + "  " if title else "") + f"SC {sc:.3f}, LSD {lsd:.2f} dB",
                            n_fft=n_fft, hop_length=hop_length)
        write_json(out / "reconstruction.json", result)
    return result


# --------------------------------------------------------------------------- pitch test input


def _soundfont_and_programs(soundfont, classes):
    from ..data.soundfont import _resolve_soundfont

    path, known = _resolve_soundfont(soundfont)
    programs = {**GM8_PROGRAMS, **GM8_SOUNDFONT_PROGRAMS.get(known, {})}
    return path, {c: programs[c] for c in classes}


def pitch_test_notes(*, n_files: int = 5, n_notes: int = 20, classes: Sequence[str] = GM8_CLASSES,
                     sr: int = 16000, note_duration: float = 0.5, hold: float | None = None,
                     velocity: int = 100, ranges: Mapping[str, tuple[int, int]] | None = None,
                     seed: int = 0, soundfont=None) -> list[dict]:
    """The seed's pitch-test input: ``n_files`` melodies of ``n_notes`` random notes per class.

    For each class and file, ``n_notes`` MIDI keys are drawn uniformly (with
    replacement) from the class's range (`GM8_RANGES`, inclusive) by a NumPy
    Generator seeded with ``(seed, class index in GM8_CLASSES, file)``, so a
    class's melodies do not depend on which other classes or how many files
    are asked for. Each note is rendered alone from the soundfont (program
    `GM8_PROGRAMS` of the class, with `GM8_SOUNDFONT_PROGRAMS` over it for a
    known soundfont), its key held ``hold`` seconds and released, cut at
    ``note_duration`` seconds; the notes of a file are concatenated into one
    melody (they do not overlap). The defaults give the seed's 5 x 20 notes
    per class: 800 notes for the eight gm8 classes (the seed had 10 classes),
    rendered in about 1.5 s at 16 kHz.

    Parameters
    ----------
    n_files, n_notes : int
        Melodies per class and notes per melody.
    classes : sequence of str
        Among `GM8_CLASSES`.
    sr : int
        Sampling rate in Hz.
    note_duration : float
        Seconds per note (note-on to the next note-on).
    hold : float, optional
        Seconds the key is held; default 0.8 * ``note_duration``.
    velocity : int
        MIDI velocity of every note (1-127).
    ranges : dict, optional
        (lowest, highest) MIDI key per class, over `GM8_RANGES`.
    seed : int
        Seed of the key draws.
    soundfont : str or path-like, optional
        As `jaxmusic.data.gm8`: ``"timgm6mb"`` (default), ``"merlin"`` or a path.

    Returns
    -------
    list of dict
        One record per (class, file), classes in the given order: ``class``
        (str), ``file`` (int), ``audio`` (float32 (n_notes * note_samples,)),
        ``sr``, ``program``, ``keys`` (int64 (n_notes,)), ``boundaries``
        (int64 (n_notes, 2): each note's [start, end) in samples) and ``held``
        (int64 (n_notes, 2): [start, release)).

    Raises
    ------
    ParameterError
        Unknown or no classes, bad counts, durations or ranges.
    """
    from ..data.soundfont import render_soundfont

    n_files = check_int("n_files", n_files, min=1)
    n_notes = check_int("n_notes", n_notes, min=1)
    sr = check_int("sr", sr, min=1000)
    note_duration = check_real("note_duration", note_duration, min=0.0, strict_min=True)
    hold = 0.8 * note_duration if hold is None else check_real("hold", hold, min=0.0, max=note_duration)
    velocity = check_int("velocity", velocity, min=1, max=127)
    seed = check_int("seed", seed, min=0)
    if isinstance(classes, str):
        classes = [classes]
    classes = list(classes)
    unknown = [c for c in classes if c not in GM8_CLASSES]
    if unknown or not classes:
        raise ParameterError(f"classes must be among {list(GM8_CLASSES)}, got {classes}")
    ranges = {**GM8_RANGES, **(ranges or {})}
    for c in classes:
        lo, hi = ranges[c]
        check_int(f"ranges[{c!r}] lowest", lo, min=0, max=127)
        check_int(f"ranges[{c!r}] highest", hi, min=lo, max=127)
    path, programs = _soundfont_and_programs(soundfont, classes)
    n_note = int(round(note_duration * sr))
    n_hold = min(int(round(hold * sr)), n_note)

    records = []
    for c in classes:
        lo, hi = ranges[c]
        keys = np.stack([np.random.default_rng([seed, GM8_CLASSES.index(c), f]).integers(lo, hi + 1, n_notes)
                         for f in range(n_files)]).astype(np.int64)
        notes = [(programs[c], int(k), velocity) for k in keys.ravel()]
        audio = render_soundfont(path, notes, sr=sr, duration=n_note / sr, hold=n_hold / sr)
        audio = audio.reshape(n_files, n_notes * n_note)
        starts = np.arange(n_notes, dtype=np.int64) * n_note
        for f in range(n_files):
            records.append({
                "class": c, "file": f, "audio": audio[f], "sr": sr, "program": programs[c],
                "keys": keys[f],
                "boundaries": np.stack([starts, starts + n_note], axis=1),
                "held": np.stack([starts, starts + n_hold], axis=1),
            })
    return records


# --------------------------------------------------------------------------- pYIN

_PYIN_CACHE: OrderedDict = OrderedDict()
_PYIN_CACHE_SIZE = 256


def _pyin(y: np.ndarray, *, sr, fmin, fmax, frame_length, hop_length, resolution, max_transition_rate):
    """(f0 Hz, voiced probability) per centred frame of ``y``, by librosa.pyin; f0 is
    pYIN's best pitch in every frame (``fill_na=None``). Memoised on the samples'
    hash and the settings, so the inputs of a pitch test are analysed once per session."""
    import librosa

    y = np.ascontiguousarray(y, dtype=np.float32)
    key = (hashlib.sha1(y.tobytes()).hexdigest(), len(y), sr, round(fmin, 6), round(fmax, 6),
           frame_length, hop_length, resolution, round(max_transition_rate, 6))
    if key in _PYIN_CACHE:
        _PYIN_CACHE.move_to_end(key)
        return _PYIN_CACHE[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pYIN warns about short or silent frames
        f0, _, prob = librosa.pyin(y, sr=sr, fmin=fmin, fmax=fmax, frame_length=frame_length,
                                   hop_length=hop_length, resolution=resolution,
                                   max_transition_rate=max_transition_rate, fill_na=None)
    value = (np.asarray(f0, dtype=np.float64), np.nan_to_num(np.asarray(prob, dtype=np.float64)))
    _PYIN_CACHE[key] = value
    if len(_PYIN_CACHE) > _PYIN_CACHE_SIZE:
        _PYIN_CACHE.popitem(last=False)
    return value


def _cents(f, ref):
    return 1200.0 * np.log2(f / ref)


def _as_list(x, name):
    if isinstance(x, np.ndarray) and x.ndim == 1:
        return [x]
    if isinstance(x, (list, tuple)):
        if not x:
            raise ParameterError(f"{name} is empty: give at least one signal")
        return list(x)
    raise ParameterError(f"{name} must be a list of signals (samples,), got {type(x).__name__}")


def _search_range(keys, sr, frame_length, fmin, fmax, margin=13):
    """pYIN's search range: the given one, else from ``margin`` semitones below the
    lowest key to ``margin`` above the highest (so octave errors show), within
    [2 periods per frame, 0.45 sr]."""
    import librosa

    lo_limit, hi_limit = 2.0 * sr / frame_length, 0.45 * sr
    if fmin is None or fmax is None:
        if keys is None:
            raise ParameterError("pitch_preservation needs keys= or both fmin= and fmax= (Hz)")
        k = np.asarray(keys, dtype=np.float64)
        fmin = float(librosa.midi_to_hz(k.min() - margin)) if fmin is None else fmin
        fmax = float(librosa.midi_to_hz(k.max() + margin)) if fmax is None else fmax
        fmin, fmax = max(fmin, lo_limit), min(fmax, hi_limit)
    fmin = check_real("fmin", fmin, min=0.0, strict_min=True)
    fmax = check_real("fmax", fmax, min=fmin, strict_min=True)
    if fmin < lo_limit or fmax > sr / 2:
        raise ParameterError(f"fmin={fmin:.2f} Hz, fmax={fmax:.2f} Hz: pYIN needs fmin >= 2 sr / frame_length "
                             f"= {lo_limit:.2f} Hz and fmax <= sr / 2 = {sr / 2} Hz; raise frame_length or "
                             "narrow the range")
    return fmin, fmax


def pitch_preservation(inputs, outputs, *, sr: int, boundaries, keys=None,
                       tolerance_cents: float = 50.0, voicing_threshold: float = 0.5,
                       min_voiced: float = 0.5, fmin: float | None = None, fmax: float | None = None,
                       frame_length: int = 2048, hop_length: int = 256, resolution: float = 0.2,
                       max_transition_rate: float | None = None,
                       classes: Sequence[str] | None = None) -> dict:
    """Which notes of each output kept the pitch of the input (pYIN).

    pYIN (``librosa.pyin``, ``frame_length``, ``hop_length``, pitch grid
    ``resolution`` semitones, f0 taken in every frame) runs once over each
    whole input and each whole output. A note's frames are those whose
    analysis window lies inside its span (centre in
    ``[start + frame_length // 2, end - frame_length // 2]``); a frame is
    *voiced* when pYIN's voiced probability is at least ``voicing_threshold``.

    - Reference pitch: the median f0 of the input over its voiced frames when at
      least ``min_voiced`` of the note's frames are voiced in the input, else
      the note's MIDI key (``keys``; without keys such a note is not scored,
      ``reason="input unvoiced"``, and left out of the shares).
    - The note *lost its pitch* when under ``min_voiced`` of its frames are
      voiced in the output (``reason="unvoiced"``), or when the output's median
      f0 over its voiced frames lies more than ``tolerance_cents`` from the
      reference. An output an octave (or two or three) away, within the
      tolerance of a whole number of octaves, is lost too
      (``reason="octave"``, counted apart in ``octave_share``); any other miss
      is ``reason="pitch"``.
    - Frames past the end of a shorter output count unvoiced; samples past the
      input's length are ignored.

    pYIN's search range is ``fmin``..``fmax`` when given, else per file from 13
    semitones below the lowest key to 13 above the highest (within
    ``[2 sr / frame_length, 0.45 sr]``). With the defaults at 16 kHz a note needs
    at least 0.13 s; the 0.5 s notes of `pitch_test_notes` give 24 frames each.

    Parameters
    ----------
    inputs, outputs : list of array (samples,)
        One input and one output per file, at ``sr``.
    sr : int
        Sampling rate in Hz.
    boundaries : list of int array (n_notes, 2)
        Per file, each note's [start, end) in input samples.
    keys : list of int array (n_notes,), optional
        Per file, each note's MIDI key (the reference where the input is
        unvoiced, and the default search range).
    tolerance_cents : float
        Largest deviation from the reference that still keeps the pitch (50: a
        quarter tone, the rounding boundary to the next semitone).
    voicing_threshold : float in (0, 1]
        pYIN voiced probability at or above which a frame is voiced.
    min_voiced : float in (0, 1]
        Fewest share of a note's frames voiced for its pitch to be measured.
    fmin, fmax : float, optional
        pYIN's search range in Hz, for every file.
    frame_length, hop_length : int
        pYIN's frame and hop in samples.
    resolution : float
        pYIN's pitch grid in semitones (0.2: 20-cent bins, within 10 cents of the
        truth, four times faster than librosa's 0.1 over a wide range).
    max_transition_rate : float, optional
        pYIN's largest pitch change, in octaves per second. Default: any jump
        within the search range from one frame to the next, as the melodies
        leap between random keys; with librosa's 35.92 the HMM cannot follow a
        leap of more than half an octave per frame and settles an octave low:
        pYIN then misreads 94 of the 800 default input notes (12%) instead of 8.
    classes : list of str, optional
        Per file, a class name recorded in each note's record and ``per_class``.

    Returns
    -------
    dict
        ``lost_share`` (of the scored notes), ``n_notes`` (scored), ``n_lost``,
        ``octave_share``, ``unvoiced_share`` (both as shares of the scored notes),
        ``reference_from_key`` (notes whose reference is the key),
        ``input_off_key`` (scored notes whose input pYIN pitch is more than the
        tolerance from the key: pYIN's own errors), ``per_class`` (the same
        counts per class, when ``classes`` is given), ``tolerance_cents``,
        ``voicing_threshold``, ``min_voiced``, ``frame_length``, ``hop_length``,
        ``resolution``, ``notes`` (one record per note: ``class``, ``file``,
        ``note``, ``key``, ``reference_hz``, ``reference_from``, ``input_hz``,
        ``input_voiced``, ``output_hz``, ``output_voiced``, ``cents``, ``lost``,
        ``reason``; NaN as None) and ``traces`` (per file: ``times``, ``f0_in``,
        ``f0_out`` in Hz, NaN where unvoiced; NumPy arrays).

    Raises
    ------
    ParameterError
        Mismatched list lengths, empty lists, boundaries outside the input or
        too short for one frame, bad options.
    AudioError
        Empty or non-finite signals.
    """
    sr = check_int("sr", sr, min=1000)
    tolerance_cents = check_real("tolerance_cents", tolerance_cents, min=0.0, strict_min=True)
    voicing_threshold = check_real("voicing_threshold", voicing_threshold, min=0.0, max=1.0, strict_min=True)
    min_voiced = check_real("min_voiced", min_voiced, min=0.0, max=1.0, strict_min=True)
    frame_length = check_int("frame_length", frame_length, min=64)
    hop_length = check_int("hop_length", hop_length, min=1)
    resolution = check_real("resolution", resolution, min=0.0, max=1.0, strict_min=True)
    inputs, outputs = _as_list(inputs, "inputs"), _as_list(outputs, "outputs")
    boundaries = _as_list(boundaries, "boundaries") if not isinstance(boundaries, np.ndarray) else [boundaries]
    n = len(inputs)
    lengths = {"outputs": len(outputs), "boundaries": len(boundaries)}
    if keys is not None:
        keys = _as_list(keys, "keys")
        lengths["keys"] = len(keys)
    if classes is not None:
        classes = [classes] if isinstance(classes, str) else list(classes)
        lengths["classes"] = len(classes)
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise ParameterError(f"{n} inputs but " + ", ".join(f"{v} {k}" for k, v in bad.items())
                             + ": give one of each per file")

    half = frame_length // 2
    files = []  # everything checked before the first (slow) pYIN run
    for i in range(n):
        x = prepare(inputs[i], name=f"inputs[{i}]", n_fft=frame_length)
        y = prepare(outputs[i], name=f"outputs[{i}]")
        b = np.asarray(boundaries[i])
        if b.ndim != 2 or b.shape[1] != 2 or not len(b) or b.dtype.kind not in "iu":
            raise ParameterError(f"boundaries[{i}] must be an integer array (n_notes, 2) of [start, end) "
                                 f"samples, got shape {b.shape} dtype {b.dtype}")
        if b.min() < 0 or b.max() > len(x) or np.any(b[:, 1] <= b[:, 0]):
            raise ParameterError(f"boundaries[{i}] must satisfy 0 <= start < end <= {len(x)} "
                                 f"(the input's length), got starts {b[:, 0].min()}.., ends ..{b[:, 1].max()}")
        k = None
        if keys is not None:
            k = np.asarray(keys[i])
            if k.shape != (len(b),):
                raise ParameterError(f"keys[{i}] has shape {k.shape}, boundaries[{i}] {len(b)} notes")
        short = np.flatnonzero(b[:, 1] - b[:, 0] < frame_length)
        if len(short):
            j = int(short[0])
            raise ParameterError(
                f"note {j} of file {i} spans {b[j, 1] - b[j, 0]} samples, too short for one pYIN frame of "
                f"{frame_length} inside it; use longer notes or a smaller frame_length")
        files.append((x, y, b, k, _search_range(k, sr, frame_length, fmin, fmax)))

    notes, traces = [], []
    for i, (x, y, b, k, (lo, hi)) in enumerate(files):
        # default: any jump within the search range in one frame (pYIN's transition band must
        # stay narrower than its pitch grid, hence a semitone less than the range)
        rate = ((np.floor(12 * np.log2(hi / lo)) - 1) / 12 * sr / hop_length if max_transition_rate is None
                else check_real("max_transition_rate", max_transition_rate, min=0.0, strict_min=True))
        opts = dict(sr=sr, fmin=lo, fmax=hi, frame_length=frame_length, hop_length=hop_length,
                    resolution=resolution, max_transition_rate=float(rate))
        f_in, p_in = _pyin(x, **opts)
        y = y[: len(x)]
        if len(y) >= frame_length:
            f_out, p_out = _pyin(y, **opts)
        else:
            f_out, p_out = np.full(0, np.nan), np.zeros(0)
        t_in = len(f_in)
        if len(f_out) < t_in:  # a shorter output: the missing frames are unvoiced
            f_out = np.concatenate([f_out, np.full(t_in - len(f_out), np.nan)])
            p_out = np.concatenate([p_out, np.zeros(t_in - len(p_out))])
        f_out, p_out = f_out[:t_in], p_out[:t_in]
        centres = np.arange(t_in) * hop_length
        v_in, v_out = p_in >= voicing_threshold, p_out >= voicing_threshold
        traces.append({"times": centres / sr, "f0_in": np.where(v_in, f_in, np.nan),
                       "f0_out": np.where(v_out, f_out, np.nan)})
        cls = classes[i] if classes is not None else None
        for j, (start, end) in enumerate(b):
            frames = np.flatnonzero((centres >= start + half) & (centres <= end - half))
            if not len(frames):  # a span of frame_length samples holds no frame centre on the hop grid
                frames = np.array([min(int(round((start + end) / 2 / hop_length)), t_in - 1)])
            vi, vo = v_in[frames], v_out[frames]
            in_hz = float(np.median(f_in[frames][vi])) if vi.any() else float("nan")
            out_hz = float(np.median(f_out[frames][vo])) if vo.any() else float("nan")
            key = int(k[j]) if k is not None else None
            key_hz = float(440.0 * 2 ** ((key - 69) / 12)) if key is not None else float("nan")
            if vi.mean() >= min_voiced:
                ref_hz, ref_from = in_hz, "input"
            elif key is not None:
                ref_hz, ref_from = key_hz, "key"
            else:
                ref_hz, ref_from = float("nan"), None
            cents = float(_cents(out_hz, ref_hz)) if np.isfinite(out_hz) and np.isfinite(ref_hz) else float("nan")
            if ref_from is None:
                lost, reason = None, "input unvoiced"
            elif vo.mean() < min_voiced:
                lost, reason = True, "unvoiced"
            elif abs(cents) <= tolerance_cents:
                lost, reason = False, ""
            else:
                octaves = round(cents / 1200.0)
                near = octaves != 0 and abs(octaves) <= 3 and abs(cents - 1200.0 * octaves) <= tolerance_cents
                lost, reason = True, "octave" if near else "pitch"
            notes.append({
                "class": cls, "file": i, "note": j, "key": key,
                "reference_hz": ref_hz, "reference_from": ref_from,
                "input_hz": in_hz, "input_voiced": float(vi.mean()),
                "input_cents_from_key": float(_cents(in_hz, key_hz)) if np.isfinite(in_hz) and key is not None
                else float("nan"),
                "output_hz": out_hz, "output_voiced": float(vo.mean()), "cents": cents,
                "lost": lost, "reason": reason,
            })
    notes = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
             for r in notes]
    result = {**_shares(notes, tolerance_cents),
              "tolerance_cents": tolerance_cents, "voicing_threshold": voicing_threshold,
              "min_voiced": min_voiced, "frame_length": frame_length, "hop_length": hop_length,
              "resolution": resolution}
    if classes is not None:
        result["per_class"] = {c: _shares([r for r in notes if r["class"] == c], tolerance_cents)
                               for c in dict.fromkeys(classes)}
    result["notes"] = notes
    result["traces"] = traces
    return result


def _shares(notes, tolerance_cents):
    scored = [r for r in notes if r["lost"] is not None]
    m = len(scored)

    def share(pred):  # None (JSON null) when no note is scored
        return sum(1 for r in scored if pred(r)) / m if m else None

    return {
        "lost_share": share(lambda r: r["lost"]),
        "n_notes": m,
        "n_lost": sum(1 for r in scored if r["lost"]),
        "octave_share": share(lambda r: r["reason"] == "octave"),
        "unvoiced_share": share(lambda r: r["reason"] == "unvoiced"),
        "reference_from_key": sum(1 for r in scored if r["reference_from"] == "key"),
        "input_off_key": sum(1 for r in scored if r["input_cents_from_key"] is not None
                             and abs(r["input_cents_from_key"]) > tolerance_cents),
        "not_scored": len(notes) - m,
    }


def pitch_test(method: Callable[[np.ndarray, int], Any], notes: Sequence[Mapping], *, sr: int | None = None,
               out=None, progress: bool = True, title: str = "", tolerance_cents: float = 50.0,
               voicing_threshold: float = 0.5, min_voiced: float = 0.5, frame_length: int = 2048,
               hop_length: int = 256, resolution: float = 0.2, max_transition_rate: float | None = None,
               use_keys: bool = True) -> dict:
    """The seed's pitch test: the share of notes whose pitch a method loses.

    Every melody of ``notes`` (`pitch_test_notes`) goes through ``method(audio,
    sr)``; `pitch_preservation` then compares each note of the output with the
    input (pYIN; the input's own pitch is the reference where pYIN finds it
    voiced, else the note's MIDI key). The seed reports 12% of 1000 notes lost
    for its autoencoder.

    The test's floor is what pYIN itself gets wrong: the identity method
    (``lambda y, sr: y``) loses only notes whose input pYIN finds unvoiced
    (then the reference is the key and the output is as unvoiced as the
    input). Measured on the default 800 TimGM6mb notes at 16 kHz (seed 0):
    the identity loses 11 (1.4%), all piano notes at key 33 (A1) or below;
    pYIN's input pitch is more than 50 cents off the key for 8 notes (an
    octave low at the top of the piano and violin ranges, a key-106 piano
    note 61 cents sharp), which the identity keeps. pYIN takes 6-9 s per 100
    notes per pass on two (shared) CPU cores, about three times that for the
    piano, whose seven-octave range makes pYIN's HMM larger: the default 800
    notes cost about 1 min per pass. A method's output needs one pass, its
    input another, memoised: a second method on the same notes costs one pass.

    Parameters
    ----------
    method : callable
        ``method(audio (samples,) float32, sr) -> (samples',)`` at the same ``sr``.
    notes : list of dict
        `pitch_test_notes`' records (``class``, ``file``, ``audio``, ``sr``,
        ``keys``, ``boundaries``).
    sr : int, optional
        Sampling rate; default the records' (which must all agree with it).
    out : str or path-like, optional
        A folder: ``pitch_test.json`` (the returned dict) and ``pitch_test.png``
        (`jaxmusic.plot.figure_pitch_test`) are written there.
    progress : bool
        A tqdm bar over the melodies.
    title : str
        The figure's title.
    tolerance_cents, voicing_threshold, min_voiced, frame_length, hop_length, resolution
        As `pitch_preservation`.
    use_keys : bool
        Fall back on the MIDI key where the input is unvoiced and search
        around the keys (else such notes are not scored, and pYIN searches
        ``2 sr / frame_length`` to ``0.45 sr``, which is slower).

    Returns
    -------
    dict
        `pitch_preservation`'s shares and settings (``lost_share``, ``n_notes``,
        ``n_lost``, ``octave_share``, ``unvoiced_share``, ``per_class`` with
        the same per class, ``tolerance_cents``, ``voicing_threshold``, ...,
        ``notes``), plus ``method`` (its name), ``sr``, ``n_files``,
        ``seconds`` (``method`` and ``analysis``, wall-clock) and ``example``:
        the f0 traces of the file with the most lost notes (first on ties) as
        lists, for the figure. JSON-ready (NaN as None).

    Raises
    ------
    ParameterError
        Empty ``notes``, records without the fields above or at another ``sr``,
        a ``method`` that is not callable.
    JaxMusicError
        ``method`` failed on a melody (the message names it), or returned
        something that is not finite mono audio.
    """
    from tqdm.auto import tqdm

    if not callable(method):
        raise ParameterError(f"method must be a callable method(audio, sr) -> audio, got {type(method).__name__}")
    if not isinstance(notes, (list, tuple)) or not notes:
        raise ParameterError("notes must be a non-empty list of pitch_test_notes records")
    need = ("class", "file", "audio", "sr", "keys", "boundaries")
    for i, r in enumerate(notes):
        missing = [k for k in need if not isinstance(r, Mapping) or k not in r]
        if missing:
            raise ParameterError(f"notes[{i}] lacks {missing}: pass records from pitch_test_notes")
    rates = sorted({int(r["sr"]) for r in notes})
    if len(rates) > 1:
        raise ParameterError(f"the records are at several sampling rates {rates}; render them at one")
    if sr is None:
        sr = rates[0]
    sr = check_int("sr", sr, min=1000)
    if rates[0] != sr:
        raise ParameterError(f"sr={sr} but the records are at {rates[0]} Hz; render them at {sr} "
                             "(pitch_test_notes(sr=...)) or pass sr=None")

    name = getattr(method, "__name__", type(method).__name__)
    outputs, t_method = [], 0.0
    for r in tqdm(notes, desc=f"pitch test ({name})", unit="file", disable=not progress):
        x = prepare(r["audio"], name=f"{r['class']} file {r['file']}")
        t0 = time.perf_counter()
        try:
            y = method(x.copy(), sr)
        except JaxMusicError:
            raise
        except Exception as err:
            raise JaxMusicError(f"method {name} failed on {r['class']} file {r['file']}: "
                                f"{type(err).__name__}: {err}") from err
        t_method += time.perf_counter() - t0
        try:
            y = np.asarray(y)
        except Exception as err:
            raise JaxMusicError(f"method {name} returned {type(y).__name__} for {r['class']} file "
                                f"{r['file']}, not an array of samples") from err
        outputs.append(prepare(y, name=f"method {name}'s output for {r['class']} file {r['file']}"))

    t0 = time.perf_counter()
    result = pitch_preservation(
        [r["audio"] for r in notes], outputs, sr=sr, boundaries=[np.asarray(r["boundaries"]) for r in notes],
        keys=[np.asarray(r["keys"]) for r in notes] if use_keys else None,
        fmin=None if use_keys else 2.0 * sr / frame_length, fmax=None if use_keys else 0.45 * sr,
        classes=[r["class"] for r in notes], tolerance_cents=tolerance_cents,
        voicing_threshold=voicing_threshold, min_voiced=min_voiced, frame_length=frame_length,
        hop_length=hop_length, resolution=resolution, max_transition_rate=max_transition_rate)
    t_analysis = time.perf_counter() - t0
    traces = result.pop("traces")
    lost = [sum(1 for q in result["notes"] if q["file"] == i and q["lost"]) for i in range(len(notes))]
    ex = int(np.argmax(lost))
    tr = traces[ex]
    result.update(
        method=name, sr=sr, n_files=len(notes),
        seconds={"method": round(t_method, 3), "analysis": round(t_analysis, 3)},
        example={
            "index": ex, "class": notes[ex]["class"], "file": int(notes[ex]["file"]),
            "times": [round(float(t), 4) for t in tr["times"]],
            "f0_in": [None if not np.isfinite(v) else round(float(v), 2) for v in tr["f0_in"]],
            "f0_out": [None if not np.isfinite(v) else round(float(v), 2) for v in tr["f0_out"]],
            "keys": [int(k) for k in notes[ex]["keys"]],
            "boundaries": np.asarray(notes[ex]["boundaries"]).astype(int).tolist(),
            "lost": [q["lost"] for q in result["notes"] if q["file"] == ex],
        })
    # each note's file index is its record's position in ``notes``; name the melody too
    for q in result["notes"]:
        q["record"] = q["file"]
        q["file"] = int(notes[q["record"]]["file"])
    if out is not None:
        from .._files import Legacy, as_run_dir, write_json
        from ..plot import figure_pitch_test

        out = as_run_dir(out, "pitch-test", legacy=Legacy("pitch_test.json", names=("pitch_test.png",)))
        write_json(out / "pitch_test.json", result)
        figure_pitch_test(result, out / "pitch_test.png", title=title or f"pitch test: {name}")
    return result


# --------------------------------------------------------------------------- bandwidth


def bandwidth(y, *, sr: int, n_fft: int = 2048, hop_length: int = 512, rolloff: float = 0.95,
              floor_db: float = -60.0) -> dict:
    """The bandwidth of a signal, as medians over its non-silent frames.

    From the STFT power ``P = |S|**2`` (`jaxmusic.fourier.stft`):

    - a frame is *non-silent* when its energy ``sum_f P`` is within ``floor_db``
      of the loudest frame's;
    - ``rolloff_hz``: per frame, the centre frequency of the lowest bin at
      which the cumulative energy from 0 Hz reaches ``rolloff`` of the frame's
      energy (as ``librosa.feature.spectral_rolloff``, but on power, not
      magnitude); the median over non-silent frames;
    - ``spectral_bandwidth_hz``: the median over the same frames of
      ``librosa.feature.spectral_bandwidth`` (magnitude-weighted standard
      deviation of frequency about the centroid, ``p=2``);
    - ``centroid_hz``: the median magnitude-weighted spectral centroid.

    A pure tone gives a roll-off within a couple of bins of its frequency and a
    small spectral bandwidth; white noise a roll-off near ``rolloff * sr / 2``.

    Parameters
    ----------
    y : array (samples,) or (channels, samples)
        Floating-point audio (multichannel averaged to mono), at least ``n_fft`` long.
    sr : int
        Sampling rate in Hz.
    n_fft, hop_length : int
        STFT frame and hop in samples.
    rolloff : float in (0, 1)
        Share of a frame's energy below the roll-off frequency.
    floor_db : float < 0
        Silence threshold relative to the loudest frame.

    Returns
    -------
    dict
        ``rolloff_hz``, ``spectral_bandwidth_hz``, ``centroid_hz`` (float; NaN for
        an all-zero signal), ``n_frames``, ``n_frames_used``, ``rolloff``,
        ``floor_db``, ``sr``, ``n_fft``, ``hop_length``.
    """
    import librosa

    sr = check_int("sr", sr, min=1)
    n_fft = check_int("n_fft", n_fft, min=2)
    hop_length = check_int("hop_length", hop_length, min=1)
    rolloff = check_real("rolloff", rolloff, min=0.0, max=1.0, strict_min=True)
    if rolloff >= 1.0:
        raise ParameterError("rolloff must be below 1 (a share of the energy), got 1.0")
    floor_db = check_real("floor_db", floor_db, max=0.0)
    y = prepare(y, name="y", n_fft=n_fft)
    s = _magnitude(y, n_fft, hop_length).astype(np.float64)
    p = s**2
    energy = p.sum(axis=0)
    base = {"n_frames": int(s.shape[1]), "rolloff": rolloff, "floor_db": floor_db, "sr": sr,
            "n_fft": n_fft, "hop_length": hop_length}
    if energy.max() <= 0:
        return {"rolloff_hz": float("nan"), "spectral_bandwidth_hz": float("nan"),
                "centroid_hz": float("nan"), "n_frames_used": 0, **base}
    keep = energy >= energy.max() * 10.0 ** (floor_db / 10.0)
    freqs = np.arange(s.shape[0]) * sr / n_fft
    cum = np.cumsum(p[:, keep], axis=0)
    idx = np.argmax(cum >= rolloff * cum[-1:], axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb = librosa.feature.spectral_bandwidth(S=s[:, keep], sr=sr, n_fft=n_fft)[0]
        sc = librosa.feature.spectral_centroid(S=s[:, keep], sr=sr, n_fft=n_fft)[0]
    return {"rolloff_hz": float(np.median(freqs[idx])), "spectral_bandwidth_hz": float(np.median(sb)),
            "centroid_hz": float(np.median(sc)), "n_frames_used": int(keep.sum()), **base}


_MEASURES = ("rolloff_hz", "spectral_bandwidth_hz", "centroid_hz")


def _signals(x, name):
    """A signal, a list of signals or an (n_signals, samples) array -> list of signals."""
    if isinstance(x, (list, tuple)) or len(getattr(x, "shape", ())) == 2:
        if not len(x):
            raise ParameterError(f"{name} is empty: give at least one signal")
        return list(x)
    return [x]


def _group(signals, name, opts):
    per = [bandwidth(s, **opts) for s in _signals(signals, name)]
    out = {m: float(np.nanmedian([b[m] for b in per])) if any(np.isfinite(b[m]) for b in per)
           else float("nan") for m in _MEASURES}
    out["n_signals"] = len(per)
    out["rolloff_hz_each"] = [b["rolloff_hz"] for b in per]
    return out


def bandwidth_comparison(outputs, training_audio, inputs, *, sr: int, n_fft: int = 2048,
                         hop_length: int = 512, rolloff: float = 0.95, floor_db: float = -60.0) -> dict:
    """Bandwidth of a method's outputs beside that of its inputs and of its training audio.

    The seed observes that "the bandwidth of the output is related to that of
    the class used for training": train one model per class, run the same
    inputs through each, and compare. Each group's figures are the medians,
    over its signals, of `bandwidth`'s per-signal medians.

    Parameters
    ----------
    outputs : signal (samples,), list of signals, (n, samples) array, or dict name -> any of those
        The method's outputs; a dict holds one entry per trained model (class).
        A 2-d array is always a batch of mono signals (mix stereo down first).
    training_audio : same form as ``outputs``
        The audio each model was trained on (a dict with the same names when
        ``outputs`` is a dict), e.g. a class's notes ``(n, samples)``.
    inputs : signal, list of signals or (n, samples) array
        The inputs, shared by every model.
    sr : int
        Sampling rate of every signal.
    n_fft, hop_length, rolloff, floor_db
        As `bandwidth`.

    Returns
    -------
    dict
        ``input``: the inputs' ``rolloff_hz``, ``spectral_bandwidth_hz``,
        ``centroid_hz``, ``n_signals``, ``rolloff_hz_each``; ``models``: per
        name (``"model"`` when not a dict) ``training`` and ``output`` (the
        same fields), ``output_minus_training_hz`` and ``output_minus_input_hz``
        (roll-off differences), ``nearer`` (``"training"`` or ``"input"``: whose
        roll-off the output's is closer to); ``spearman_rolloff``: the rank
        correlation across models of the output's roll-off with the training
        audio's (None under three models); ``measure`` and the settings.

    Raises
    ------
    ParameterError
        A dict ``outputs`` and ``training_audio`` with different names, empty
        lists, bad options.
    AudioError
        Empty or non-finite signals.
    """
    opts = dict(sr=sr, n_fft=n_fft, hop_length=hop_length, rolloff=rolloff, floor_db=floor_db)
    if isinstance(outputs, Mapping) != isinstance(training_audio, Mapping):
        raise ParameterError("outputs and training_audio must both be dicts (one entry per model) or neither")
    if isinstance(outputs, Mapping):
        if set(outputs) != set(training_audio) or not outputs:
            raise ParameterError(f"outputs names {sorted(outputs)} but training_audio names "
                                 f"{sorted(training_audio)}: give both for the same, non-empty set of models")
        pairs = {k: (outputs[k], training_audio[k]) for k in outputs}
    else:
        pairs = {"model": (outputs, training_audio)}
    inp = _group(inputs, "inputs", opts)
    models = {}
    for k, (o, t) in pairs.items():
        go, gt = _group(o, f"outputs[{k!r}]", opts), _group(t, f"training_audio[{k!r}]", opts)
        d_t = go["rolloff_hz"] - gt["rolloff_hz"]
        d_i = go["rolloff_hz"] - inp["rolloff_hz"]
        models[k] = {"training": gt, "output": go, "output_minus_training_hz": d_t,
                     "output_minus_input_hz": d_i,
                     "nearer": ("training" if abs(d_t) < abs(d_i) else "input")
                     if np.isfinite(d_t) and np.isfinite(d_i) else None}
    rho = None
    if len(models) >= 3:
        from scipy.stats import spearmanr

        a = [m["output"]["rolloff_hz"] for m in models.values()]
        b = [m["training"]["rolloff_hz"] for m in models.values()]
        if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
            rho = float(spearmanr(a, b).statistic)
    return {"input": inp, "models": models, "spearman_rolloff": rho,
            "measure": f"median {rolloff:.0%} power roll-off over frames within {floor_db:g} dB of the loudest",
            **{k: v for k, v in opts.items()}}
