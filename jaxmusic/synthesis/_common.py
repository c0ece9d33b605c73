"""What every cross-synthesis method does to its inputs and its output (host side).

Inputs are checked and brought to one form before any method runs:

- stereo (or any ``(channels, samples)``) audio is mixed down to mono by
  averaging the channels, as ``librosa.to_mono`` does;
- a signal at another sampling rate than the method's ``sr`` is resampled with
  librosa (`jaxmusic.audio.RES_TYPE`, librosa's default) — `prepare` does it
  when told the signal's rate;
- NaN/inf samples raise `AudioError`; a signal shorter than one analysis frame
  raises `ParameterError` naming its length and ``n_fft``.

Outputs are never clipped silently: `fit_peak` scales a signal whose peak
exceeds 1 down to ``peak`` and warns (`ClippingWarning`), so that it can be
written as 16-bit PCM; silence stays silence.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._checks import AudioError, ParameterError, check_int, check_layout
from ..audio import RES_TYPE, validate

__all__ = ["prepare", "fit_peak", "ClippingWarning", "repeat_to"]


class ClippingWarning(UserWarning):
    """An output exceeded [-1, 1] and was scaled down (see `fit_peak`)."""


def prepare(y: Any, *, name: str, n_fft: int | None = None, sr: int | None = None,
            orig_sr: int | None = None) -> np.ndarray:
    """Check one input signal and return it as mono float32 NumPy samples.

    Parameters
    ----------
    y : array, shape (samples,) or (channels, samples)
        Floating-point audio (integer PCM: convert with `jaxmusic.audio.to_float`).
    name : str
        The input's name in error messages (``"source"``, ``"target"``, ...).
    n_fft : int, optional
        Frame length of the method: shorter signals are refused.
    sr, orig_sr : int, optional
        Resample from ``orig_sr`` to ``sr`` when both are given and differ.

    Returns
    -------
    np.ndarray, shape (samples,), float32

    Raises
    ------
    ParameterError
        Not an array, integer or complex dtype, more than two axes; channels-last
        ``(samples, channels)`` (pass ``y.T``); shorter than ``n_fft``.
    AudioError
        Empty, or NaN/inf samples.
    """
    if isinstance(y, (list, tuple)):
        y = np.asarray(y, dtype=np.float32)
    validate(y, name=name)
    if n_fft is not None:
        check_layout(y, check_int("n_fft", n_fft, min=2), name=name)
    wide = np.asarray(y)
    with np.errstate(over="ignore"):  # reported below, naming the peak
        y = wide.astype(np.float32)
    if not np.all(np.isfinite(y)):  # finite (validated) but beyond float32's range
        raise ParameterError(f"{name} peaks at {float(np.max(np.abs(wide))):.3g}, beyond float32's range "
                             f"(largest {float(np.finfo(np.float32).max):.3g}); scale it down first")
    if y.ndim == 2:
        y = y.mean(axis=0)
    if orig_sr is not None:
        orig_sr = check_int(f"the sampling rate of {name}", orig_sr, min=1)
    if sr is not None and orig_sr is not None and int(orig_sr) != int(sr):
        import librosa

        y = librosa.resample(y, orig_sr=int(orig_sr), target_sr=int(sr), res_type=RES_TYPE).astype(np.float32)
    if n_fft is not None:
        n_fft = check_int("n_fft", n_fft, min=2)
        if y.shape[-1] < n_fft:
            raise ParameterError(f"{name} has {y.shape[-1]} samples, shorter than one frame (n_fft={n_fft}); "
                                 "pass a longer signal or a smaller n_fft")
    return y


def training_signals(audio, *, sr: int, name: str = "audio") -> tuple[list, list]:
    """A model's training sounds as mono float32 arrays at ``sr``, and their file names.

    ``audio``: one array ``(samples,)``, a batch ``(n, samples)`` of mono signals (a
    class's notes, not channels), a file path (loaded and resampled to ``sr``), or a
    sequence of them; ``name`` names them in error messages. Returns
    ``(signals, names)``, a name None for an array."""
    from pathlib import Path

    from ..audio import load

    if hasattr(audio, "shape") and len(audio.shape) == 2:
        items = list(audio)
    else:
        items = [audio] if (isinstance(audio, (str, Path)) or hasattr(audio, "shape")) else list(audio)
    if not items:
        who = "" if name == "audio" else f" for {name}"
        raise ParameterError(f"no training audio{who}: pass an array, a file, or a list of them")
    out, names = [], []
    for i, item in enumerate(items):
        if isinstance(item, (str, Path)):
            y, _ = load(item, sr=sr)
            out.append(prepare(y, name=str(item)))
            names.append(str(item))
        else:
            out.append(prepare(item, name=f"{name}[{i}]"))
            names.append(None)
    return out, names


def repeat_to(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` tiled (repeated from its start) and cut to ``n`` samples."""
    y = np.asarray(y)
    if y.shape[-1] >= n:
        return y[..., :n]
    reps = -(-n // y.shape[-1])
    return np.tile(y, reps)[..., :n]


def fit_peak(y: Any, *, peak: float = 0.99, name: str = "output") -> np.ndarray:
    """Scale ``y`` down to ``peak`` if it exceeds [-1, 1], with a `ClippingWarning`.

    A signal within [-1, 1] is returned unchanged (as float32 NumPy); an all-zero
    signal stays zero. NaN/inf raise `AudioError` (a method produced them: a bug).
    """
    y = np.asarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{name} holds NaN or inf samples")
    top = float(np.max(np.abs(y))) if y.size else 0.0
    if top > 1.0:
        warnings.warn(f"{name} peaked at {top:.3g}; scaled by {peak / top:.3g} to peak {peak} "
                      "instead of clipping", ClippingWarning, stacklevel=2)
        y = y * np.float32(peak / top)
    return y


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")


def read_inputs(items, *, sr: int) -> list[tuple[str, np.ndarray]]:
    """Audio named on a command line, as ``(name, mono float32 at sr)`` pairs.

    Each item is a file (loaded and resampled to ``sr``), a folder (every audio
    file in it, sorted), or built-in notes of `jaxmusic.data.gm8` rendered at
    ``sr``: ``gm8:CLASS`` (every note of the class, e.g. ``gm8:trumpet``;
    spaces as underscores), ``gm8:CLASS:KEY`` (its loudest note at MIDI key
    ``KEY``), ``gm8-merlin:CLASS`` for the Merlin soundfont.
    """
    from pathlib import Path

    from ..audio import load

    out = []
    for item in items:
        item = str(item)
        if item.split(":")[0] in ("gm8", "gm8-merlin", "gm8-timgm6mb"):
            out += _gm8_item(item, sr)
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
            if not files:
                raise AudioError(f"folder {path} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        elif path.is_file():
            files = [path]
        else:
            raise AudioError(f"audio file {path} does not exist")
        for f in files:
            y, _ = load(f, sr=int(sr))
            out.append((str(f), prepare(y, name=str(f))))
    if not out:
        raise ParameterError("no audio given")
    return out


def _gm8_item(item: str, sr: int) -> list[tuple[str, np.ndarray]]:
    from ..data import gm8
    from ..data.soundfont import GM8_CLASSES

    parts = item.split(":")
    head, cls = parts[0], (parts[1] if len(parts) > 1 else "")
    key = parts[2] if len(parts) > 2 else None
    cls = cls.replace("_", " ")
    if cls not in GM8_CLASSES or len(parts) > 3:
        raise ParameterError(f"{item!r}: write gm8:CLASS or gm8:CLASS:KEY with CLASS one of "
                             + ", ".join(c.replace(" ", "_") for c in GM8_CLASSES))
    soundfont = head.partition("-")[2] or None
    ds = gm8(sr=int(sr), classes=[cls], **({"soundfont": soundfont} if soundfont else {}))
    rows = np.arange(len(ds))
    if key is not None:
        if not key.isdigit():
            raise ParameterError(f"{item!r}: the key must be a MIDI number, got {key!r}")
        rows = rows[ds.pitch == int(key)]
        if rows.size == 0:
            keys = np.unique(ds.pitch).astype(int)
            raise ParameterError(f"{item!r}: gm8 has no {cls} note at key {key}; its keys are {keys.min()}..{keys.max()} "
                                 f"in steps of {int(np.diff(keys).min()) if keys.size > 1 else 1}")
        rows = rows[np.argsort(-ds.velocity[rows], kind="stable")][:1]
    return [(item if key is not None else f"{item}:{int(ds.pitch[i])}", np.asarray(ds.audio[i], np.float32))
            for i in rows]
