"""Reading audio files into fixed-length rows, in memory or straight to disk.

`read_audio` is the one place that decodes a file. It uses
`jaxmusic.audio.load` when that module is present and falls back to
soundfile + librosa otherwise, so the loaders do not depend on its
arrival.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .._checks import AudioError, ParameterError, check_choice
from .._files import replace_dir, write_json
from .dataset import Dataset, DatasetError, SkippedFileWarning, _read_info, _write_meta, claim_dataset_dir

__all__ = ["read_audio", "audio_info", "load_rows"]


def _soundfile_read(path: Path, sr: int) -> np.ndarray:
    import soundfile

    try:
        y, file_sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise AudioError(f"cannot read audio file {path}: {err}") from err
    y = y.mean(axis=1)
    if file_sr != sr:
        import librosa

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr)
    return np.asarray(y, dtype=np.float32)


def read_audio(path, *, sr: int) -> np.ndarray:
    """Decode one file to mono float32 at ``sr`` Hz.

    Raises
    ------
    AudioError
        The file is missing, unreadable, empty or holds NaN/inf; the message
        names the file.
    """
    path = Path(path)
    try:
        from ..audio import load  # the library's loader, when present
    except ImportError:
        load = None
    if load is not None:
        try:
            y, _ = load(path, sr=sr, mono=True)
        except AudioError:
            raise
        except Exception as err:
            raise AudioError(f"cannot read audio file {path}: {err}") from err
        y = np.asarray(y, dtype=np.float32)
    else:
        y = _soundfile_read(path, sr)
    if y.ndim != 1 or y.size == 0:
        raise AudioError(f"audio file {path} holds no samples")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"audio file {path} holds NaN or inf samples")
    return y


def audio_info(path) -> tuple[int, int]:
    """(frames, samplerate) of a file from its header, without decoding it."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as err:
        raise AudioError(f"cannot read audio file {path}: {err}") from err
    if info.frames <= 0:
        raise AudioError(f"audio file {path} holds no samples")
    return int(info.frames), int(info.samplerate)


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``y`` at the end to ``n`` samples."""
    if y.shape[-1] >= n:
        return y[..., :n]
    return np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])])


def _skip_or_raise(err: AudioError, on_error: str, skipped: list) -> None:
    if on_error == "raise":
        raise err
    skipped.append(str(err))
    warnings.warn(f"skipped: {err}", SkippedFileWarning, stacklevel=4)


def _fingerprint(entries: Sequence[dict], config: dict) -> str:
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for e in entries:
        p = Path(e["path"])
        try:
            st = p.stat()
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        h.update(json.dumps([str(p), stamp, e["label"], e.get("pitch"), e.get("velocity"),
                             e.get("source")]).encode())
    return h.hexdigest()[:20]


def load_rows(
    entries: Sequence[dict],
    *,
    classes: Sequence[str],
    sr: int,
    duration: float | None,
    on_error: str,
    out=None,
    config: dict | None = None,
    force: bool = False,
    inputs: Sequence = (),
) -> Dataset:
    """Decode ``entries`` (dicts with path, label and optional pitch, velocity,
    source) to a `Dataset` of rows of equal length.

    ``duration=None`` takes the longest file (from the headers). With ``out``
    the rows are written to that folder as they are decoded (memory-mapped, so
    the data need not fit in memory) and the folder is reused when it already
    holds the same files loaded with the same options. ``out`` is a folder
    jaxmusic owns (`jaxmusic._files.claim_dir`, kind ``"dataset"``): a folder it
    did not write is refused unless ``force``, and it may not be, hold or lie in
    one of ``inputs``.
    """
    check_choice("on_error", on_error, ("raise", "skip"))
    skipped: list[str] = []
    run = None
    if out is not None:
        run = claim_dataset_dir(out, force=force, inputs=inputs)
        out = run.path
        fingerprint = _fingerprint(entries, dict(config or {}, sr=sr, duration=duration,
                                                 on_error=on_error, classes=list(classes)))
        if (out / "dataset.json").is_file():
            try:
                info = _read_info(out)
            except Exception:
                info = {}
            if info.get("fingerprint") == fingerprint:
                for msg in info.get("skipped", []):
                    warnings.warn(f"skipped (when {out} was written): {msg}",
                                  SkippedFileWarning, stacklevel=3)
                return Dataset.load(out, mmap=True)
    # Lengths from the headers: finds most unreadable files before decoding.
    good = []
    lengths = []
    for e in entries:
        try:
            frames, file_sr = audio_info(e["path"])
        except AudioError as err:
            _skip_or_raise(err, on_error, skipped)
            continue
        good.append(e)
        lengths.append(math.ceil(frames * sr / file_sr))
    if not good:
        raise AudioError(
            f"none of the {len(entries)} audio files could be read"
            + (f"; first error: {skipped[0]}" if skipped else "")
        )
    if duration is None:
        n_samples = max(lengths)
    else:
        n_samples = int(round(duration * sr))
        if n_samples < 1:
            raise ParameterError(f"duration must give at least one sample at sr={sr}, got {duration}")

    if out is None:
        audio = np.zeros((len(good), n_samples), dtype=np.float32)
        tmp = None
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        audio = np.lib.format.open_memmap(
            tmp / "audio.npy", mode="w+", dtype=np.float32, shape=(len(good), n_samples)
        )
    try:
        keep = np.ones(len(good), dtype=bool)
        for i, e in enumerate(good):
            try:
                audio[i] = fit_length(read_audio(e["path"], sr=sr), n_samples)
            except AudioError as err:
                _skip_or_raise(err, on_error, skipped)
                keep[i] = False
        kept = [e for e, k in zip(good, keep) if k]
        if not kept:
            raise AudioError(f"none of the {len(entries)} audio files could be read; "
                             f"first error: {skipped[0]}")
        empty = sorted({e["label"] for e in entries} - {e["label"] for e in kept})
        if empty:
            names = ", ".join(repr(classes[c]) for c in empty)
            raise DatasetError(
                f"class {names} has no readable note left after skipping {len(skipped)} unreadable "
                f"file{'s' if len(skipped) != 1 else ''} (first: {skipped[0] if skipped else 'none'}); "
                "fix or remove its files, or leave the class out")
        if not keep.all():
            if out is None:
                audio = audio[keep]
            else:
                compact = np.lib.format.open_memmap(
                    tmp / "audio2.npy", mode="w+", dtype=np.float32, shape=(len(kept), n_samples)
                )
                rows = np.flatnonzero(keep)
                for j in range(0, len(rows), 256):
                    compact[j : j + 256] = audio[rows[j : j + 256]]
                compact.flush()
                del compact, audio
                (tmp / "audio2.npy").replace(tmp / "audio.npy")
                audio = np.load(tmp / "audio.npy", mmap_mode="r")
        meta = dict(
            label=np.array([e["label"] for e in kept], dtype=np.int32),
            classes=tuple(classes),
            sr=sr,
            pitch=np.array([e.get("pitch", np.nan) for e in kept], dtype=np.float32),
            velocity=np.array([e.get("velocity", np.nan) for e in kept], dtype=np.float32),
            source=np.array([e.get("source", "") for e in kept], dtype=str),
            path=np.array([str(e["path"]) for e in kept], dtype=str),
        )
        if out is None:
            return Dataset(audio=audio, **meta)
        if isinstance(audio, np.memmap):
            audio.flush()
        del audio
        header = Dataset(audio=np.zeros((len(kept), 0), np.float32), **meta)
        _write_meta(tmp, header, extra={"fingerprint": fingerprint, "skipped": skipped})
        info = json.loads((tmp / "dataset.json").read_text())
        info["samples"] = n_samples
        write_json(tmp / "dataset.json", info)
        replace_dir(tmp, run)
        tmp = None
        return Dataset.load(out, mmap=True)
    finally:
        if tmp is not None:  # not finished: no half-written data set, and no empty folder made for it
            shutil.rmtree(tmp, ignore_errors=True)
            run.discard_if_unused()
