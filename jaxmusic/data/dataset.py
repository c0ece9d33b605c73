"""The `Dataset` container: plain arrays plus metadata, in memory or on disk.

A dataset of fixed-length notes is a ``(n, samples)`` float32 array of audio
and one row of metadata per note (label, pitch, velocity, source, path). It is
plain NumPy on the host; batches go to devices through
`jaxmusic.data.batches`. A dataset saved with `Dataset.save` is a folder of
``.npy``/``.npz`` files and one JSON file (no pickle), and `Dataset.load` with
``mmap=True`` reads it back memory-mapped, so that data larger than memory are
streamed from disk one batch at a time.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .._checks import JaxMusicError, ParameterError
from .._files import (MARKER, Legacy, OutputError, RunDir, _new_marker, claim_dir, replace_dir, save_npz,
                      write_json)

__all__ = [
    "Dataset",
    "DatasetError",
    "SkippedFileWarning",
    "concatenate",
]

_FORMAT = "jaxmusic.dataset"
_FORMAT_VERSION = 1


class DatasetError(JaxMusicError):
    """A data set whose files or layout are wrong: a missing index file, an
    empty class folder, a missing soundfont."""


class SkippedFileWarning(UserWarning):
    """An unreadable file was skipped (``on_error="skip"``); the message names it."""


class _Rows:
    """Lazy row selection of a (memory-mapped) 2-d array.

    Keeps a data set on disk after `Dataset.subset`: only the rows a batch asks
    for are read. Supports ``len``, ``shape``, ``dtype``, ``ndim``, indexing by
    an int, a slice or an integer array, and ``np.asarray``.
    """

    def __init__(self, base, rows: np.ndarray):
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)

    @property
    def shape(self):
        return (len(self.rows),) + tuple(self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self):
        return self.base.ndim

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        if isinstance(index, tuple):
            first, rest = index[0], index[1:]
            return self.base[(self.rows[first],) + rest]
        return self.base[self.rows[index]]

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.base[self.rows])
        return out.astype(dtype) if dtype is not None else out

    def __repr__(self):
        return f"<rows {self.shape} {self.dtype} of {type(self.base).__name__}>"


def _is_lazy(audio) -> bool:
    return isinstance(audio, (np.memmap, _Rows))


def _float_column(name, value, n):
    if value is None:
        return np.full(n, np.nan, dtype=np.float32)
    arr = np.asarray(value, dtype=np.float32)
    if arr.shape != (n,):
        raise ParameterError(f"{name} must have shape ({n},) like the audio rows, got {arr.shape}")
    return arr


def _str_column(name, value, n):
    if value is None:
        return np.full(n, "", dtype="<U1")
    if isinstance(value, str):
        return np.full(n, value)
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ParameterError(f"{name} must have shape ({n},) like the audio rows, got {arr.shape}")
    if arr.dtype.kind != "U":
        if n and not all(isinstance(v, str) for v in arr.tolist()):
            raise ParameterError(f"{name} must hold strings, got dtype {arr.dtype}")
        arr = arr.astype(str) if n else np.zeros(0, dtype="<U1")
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Fixed-length notes with their labels and metadata.

    Parameters
    ----------
    audio : array of shape (n, samples), float32
        One note per row. A NumPy array, or a memory-mapped one (see `load`).
    label : array of shape (n,), int
        Class index of each note, into ``classes``.
    classes : sequence of str
        Class names; ``classes[label[i]]`` names note ``i``.
    sr : int
        Sampling rate of ``audio`` in Hz.
    pitch : array of shape (n,), float, optional
        MIDI pitch of each note; NaN where unknown (the default).
    velocity : array of shape (n,), float, optional
        MIDI velocity (1-127); NaN where unknown (the default).
    source : array of shape (n,), str, or str, optional
        Where each note comes from (a soundfont, ``"synthetic"``, an NSynth
        instrument source, a folder); ``""`` where unknown.
    path : array of shape (n,), str, optional
        The file each note was read from; ``""`` where none.

    Notes
    -----
    ``len(ds)`` is the number of notes, ``ds[idx]`` (an int array, a boolean
    mask or a slice) selects notes, and `concatenate` joins data sets whose
    class names may differ.

    Examples
    --------
    >>> ds = jaxmusic.data.gm8()                    # doctest: +SKIP
    >>> ds.audio.shape, ds.classes[ds.label[0]]     # doctest: +SKIP
    ((540, 16000), 'piano')
    """

    audio: Any
    label: np.ndarray
    classes: tuple
    sr: int
    pitch: np.ndarray = None
    velocity: np.ndarray = None
    source: np.ndarray = None
    path: np.ndarray = None

    def __post_init__(self):
        audio = self.audio
        if not _is_lazy(audio):
            audio = np.asarray(audio)
        if audio.ndim != 2:
            raise ParameterError(
                f"audio must have shape (n, samples), got shape {tuple(audio.shape)}"
            )
        if np.dtype(audio.dtype) != np.float32:
            if _is_lazy(audio):
                raise ParameterError(f"audio must be float32, got {audio.dtype}")
            if np.dtype(audio.dtype).kind != "f":
                raise ParameterError(
                    f"audio must be floating point (float32), got {audio.dtype}; "
                    "convert integer PCM to float first"
                )
            audio = audio.astype(np.float32)
        n = audio.shape[0]
        label = np.asarray(self.label)
        if label.shape != (n,):
            raise ParameterError(f"label must have shape ({n},) like the audio rows, got {label.shape}")
        if n and label.dtype.kind not in "iu":
            raise ParameterError(f"label must be integer, got dtype {label.dtype}")
        label = label.astype(np.int32)
        classes = tuple(self.classes)
        if not all(isinstance(c, str) for c in classes):
            raise ParameterError(f"classes must be strings, got {classes!r}")
        if len(set(classes)) != len(classes):
            raise ParameterError(f"classes must be distinct, got {classes!r}")
        if n and (label.min() < 0 or label.max() >= len(classes)):
            raise ParameterError(
                f"label values must index classes (0..{len(classes) - 1}), "
                f"got values in [{label.min()}, {label.max()}]"
            )
        if isinstance(self.sr, bool) or not isinstance(self.sr, (int, np.integer)) or self.sr <= 0:
            raise ParameterError(f"sr must be a positive integer, got {self.sr!r}")
        set_ = object.__setattr__
        set_(self, "audio", audio)
        set_(self, "label", label)
        set_(self, "classes", classes)
        set_(self, "sr", int(self.sr))
        set_(self, "pitch", _float_column("pitch", self.pitch, n))
        set_(self, "velocity", _float_column("velocity", self.velocity, n))
        set_(self, "source", _str_column("source", self.source, n))
        set_(self, "path", _str_column("path", self.path, n))

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.audio.shape[0])

    @property
    def n_samples(self) -> int:
        """Samples per note (the second axis of ``audio``)."""
        return int(self.audio.shape[1])

    @property
    def duration(self) -> float:
        """Seconds per note."""
        return self.n_samples / self.sr

    def class_counts(self) -> dict:
        """Number of notes per class name, in class order."""
        counts = np.bincount(self.label, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts)}

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {k}" for c, k in self.class_counts().items())
        where = " (on disk)" if _is_lazy(self.audio) else ""
        sources = sorted(set(self.source.tolist()) - {""})
        return (
            f"Dataset({len(self)} notes x {self.n_samples} samples at {self.sr} Hz{where}; "
            f"{counts}; sources {sources})"
        )

    def __getitem__(self, index) -> "Dataset":
        return self.subset(index)

    def subset(self, index) -> "Dataset":
        """Select notes by integer indices, a boolean mask or a slice.

        A memory-mapped data set stays on disk: the selection is lazy.
        """
        rows = np.arange(len(self))[index]
        rows = np.atleast_1d(rows)
        if _is_lazy(self.audio):
            base = self.audio.base if isinstance(self.audio, _Rows) else self.audio
            base_rows = self.audio.rows[rows] if isinstance(self.audio, _Rows) else rows
            audio = _Rows(base, base_rows)
        else:
            audio = self.audio[rows]
        return dataclasses.replace(
            self,
            audio=audio,
            label=self.label[rows],
            pitch=self.pitch[rows],
            velocity=self.velocity[rows],
            source=self.source[rows],
            path=self.path[rows],
        )

    def metadata(self) -> dict:
        """The per-note metadata as a dict of NumPy arrays (no audio)."""
        return {
            "label": self.label,
            "pitch": self.pitch,
            "velocity": self.velocity,
            "source": self.source,
            "path": self.path,
            "classes": np.asarray(self.classes, dtype=str),
        }

    # -------------------------------------------------------------- save/load
    def save(self, path, *, overwrite: bool = False, force: bool = False) -> Path:
        """Write the data set to the folder ``path`` (created).

        Files: ``audio.npy`` (float32, memory-mappable), ``meta.npz`` and
        ``dataset.json``, beside jaxmusic's folder marker. Nothing is pickled.
        The files are written in a temporary folder that replaces ``path`` in one
        rename when complete, so a crash never leaves a half-written data set.

        Parameters
        ----------
        path : str or path-like
        overwrite : bool
            Replace a data set jaxmusic saved there before. Without it an existing
            data set is refused.
        force : bool
            Write into an existing folder that jaxmusic did not write (its other
            files are kept; only the data set's names are replaced).

        Raises
        ------
        jaxmusic.OutputError
            ``path`` holds a data set (without ``overwrite``), a folder jaxmusic
            did not write (without ``force``), or files jaxmusic did not write
            beside a data set it would replace.

        Returns
        -------
        pathlib.Path
        """
        run = claim_dataset_dir(path, force=force)
        if (run.path / "dataset.json").exists() and not overwrite:
            raise OutputError(f"{run.path} holds a saved data set; pass overwrite=True to replace it")
        tmp = Path(tempfile.mkdtemp(prefix=f".{run.path.name}.", suffix=".part", dir=run.path.parent))
        try:
            out = np.lib.format.open_memmap(
                tmp / "audio.npy", mode="w+", dtype=np.float32, shape=self.audio.shape
            )
            step = max(1, (64 << 20) // max(1, 4 * self.n_samples))
            for i in range(0, len(self), step):
                out[i : i + step] = self.audio[i : i + step]
            out.flush()
            del out
            _write_meta(tmp, self, extra={})
            replace_dir(tmp, run)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return run.path

    @classmethod
    def load(cls, path, *, mmap: bool = False) -> "Dataset":
        """Read a data set written by `save` (or by a loader's ``out=``).

        Parameters
        ----------
        path : str or path-like
            The folder.
        mmap : bool
            Memory-map ``audio.npy`` (read-only) instead of reading it: rows
            are read from disk when a batch needs them.
        """
        path = Path(path)
        info = _read_info(path)
        try:
            audio = np.load(path / "audio.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
            with np.load(path / "meta.npz", allow_pickle=False) as meta:
                columns = {k: meta[k] for k in ("label", "pitch", "velocity", "source", "path")}
        except (OSError, ValueError, KeyError) as err:
            raise DatasetError(f"cannot read the data set in {path}: {err}") from err
        return cls(audio=audio, classes=tuple(info["classes"]), sr=info["sr"], **columns)


def _write_meta(folder: Path, ds: Dataset, *, extra: dict) -> None:
    """Write ``meta.npz``, ``dataset.json`` and the folder marker of a data set being
    assembled in ``folder`` (a temporary folder, renamed into place when complete)."""
    save_npz(
        folder / "meta.npz",
        label=ds.label,
        pitch=ds.pitch,
        velocity=ds.velocity,
        source=ds.source,
        path=ds.path,
    )
    info = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "classes": list(ds.classes),
        "sr": ds.sr,
        "n": len(ds),
        "samples": ds.n_samples,
        **extra,
    }
    write_json(folder / "dataset.json", info)
    write_json(folder / MARKER, dict(_new_marker("dataset", _DATASET_NAMES)))


def _is_saved_dataset(folder: Path) -> bool:
    info = json.loads((folder / "dataset.json").read_text())
    return isinstance(info, dict) and info.get("format") == _FORMAT


#: What a data set folder holds, and how one written before folder markers is recognised.
_DATASET_NAMES = ("audio.npy", "meta.npz", "dataset.json")
DATASET_LEGACY = Legacy("dataset.json", names=_DATASET_NAMES, check=_is_saved_dataset)


def claim_dataset_dir(path, *, force: bool = False, inputs=()) -> RunDir:
    """Take ``path`` for a data set (`jaxmusic._files.claim_dir`, kind ``"dataset"``)."""
    return claim_dir(path, "dataset", force=force, legacy=DATASET_LEGACY, inputs=inputs)


def _read_info(path: Path) -> dict:
    info_file = path / "dataset.json"
    if not info_file.is_file():
        raise DatasetError(
            f"{path} is not a saved jaxmusic data set (no dataset.json); "
            "write one with Dataset.save(path)"
        )
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {info_file}: {err}") from err
    if info.get("format") != _FORMAT:
        raise DatasetError(f"{info_file} is not a jaxmusic data set description")
    return info


def concatenate(datasets: Sequence[Dataset] | Iterable[Dataset]) -> Dataset:
    """Join data sets note-wise, merging their classes by name.

    The classes of the result are those of the first data set, followed by new
    names from the others in order of appearance. Sampling rates and note
    lengths must match.

    Parameters
    ----------
    datasets : sequence of Dataset

    Returns
    -------
    Dataset
        In memory (memory-mapped inputs are read).
    """
    datasets = list(datasets)
    if not datasets:
        raise ParameterError("concatenate needs at least one Dataset, got none")
    for i, ds in enumerate(datasets):
        if not isinstance(ds, Dataset):
            raise ParameterError(f"datasets[{i}] must be a Dataset, got {type(ds).__name__}")
    first = datasets[0]
    for i, ds in enumerate(datasets[1:], 1):
        if ds.sr != first.sr or ds.n_samples != first.n_samples:
            raise ParameterError(
                f"datasets[{i}] has {ds.n_samples} samples at {ds.sr} Hz but datasets[0] has "
                f"{first.n_samples} at {first.sr} Hz; load them with the same sr and duration"
            )
    classes = list(first.classes)
    for ds in datasets[1:]:
        classes += [c for c in ds.classes if c not in classes]
    index = {c: i for i, c in enumerate(classes)}
    labels = [np.array([index[c] for c in ds.classes], dtype=np.int32)[ds.label] for ds in datasets]
    return Dataset(
        audio=np.concatenate([np.asarray(ds.audio) for ds in datasets]),
        label=np.concatenate(labels),
        classes=tuple(classes),
        sr=first.sr,
        pitch=np.concatenate([ds.pitch for ds in datasets]),
        velocity=np.concatenate([ds.velocity for ds in datasets]),
        source=np.concatenate([ds.source for ds in datasets]),
        path=np.concatenate([ds.path for ds in datasets]),
    )
