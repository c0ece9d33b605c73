"""Loaders for audio on disk: a folder of class folders, several such folders (one
source each), and NSynth."""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Sequence


from .._checks import ParameterError, check_int, check_real
from ._io import load_rows
from .dataset import Dataset, DatasetError

__all__ = ["load_folder", "load_sources", "load_nsynth", "NSYNTH_FAMILIES", "NSYNTH_SOURCES"]

#: NSynth's instrument families, indexed by ``instrument_family``.
NSYNTH_FAMILIES = (
    "bass", "brass", "flute", "guitar", "keyboard", "mallet",
    "organ", "reed", "string", "synth_lead", "vocal",
)
#: NSynth's instrument sources, indexed by ``instrument_source``.
NSYNTH_SOURCES = ("acoustic", "electronic", "synthetic")


def _audio_extensions() -> set[str]:
    import soundfile

    return {"." + fmt.lower() for fmt in soundfile.available_formats()} | {".aif", ".oga", ".opus"}


def _check_sr_duration(sr, duration):
    sr = check_int("sr", sr, min=1)
    if duration is not None:
        duration = check_real("duration", duration, min=0.0, strict_min=True)
    return sr, duration


def load_folder(
    root,
    *,
    sr: int = 16000,
    duration: float | None = None,
    classes: Sequence[str] | None = None,
    on_error: str = "raise",
    out=None,
    force: bool = False,
) -> Dataset:
    """Load a folder of class folders of audio files.

    ``root/<class>/**/<file>``: every sub-folder of ``root`` is a class (in
    sorted order, or the order of ``classes``) and every file below it that
    soundfile can read (WAV, FLAC, OGG, AIFF, MP3, ...) is one example. Files
    are mixed to mono, resampled to ``sr`` and trimmed or zero-padded at the
    end to ``duration``.

    Parameters
    ----------
    root : str or path-like
        The folder of class folders.
    sr : int
        Sampling rate of the result, in Hz.
    duration : float or None
        Seconds per example; None takes the longest file.
    classes : sequence of str, optional
        Class folders to load, in this label order; default all, sorted.
    on_error : {"raise", "skip"}
        What an unreadable file does: raise `jaxmusic.AudioError` naming it,
        or skip it with a `SkippedFileWarning` naming it.
    out : str or path-like, optional
        Decode straight into this folder (memory-mapped; see `Dataset.load`)
        instead of memory; a later call with the same files and options reuses it.
        The folder is jaxmusic's (it carries a ``.jaxmusic.json`` marker): an
        existing folder that jaxmusic did not write is refused, as is a folder
        that is ``root``, lies inside it or holds it.
    force : bool
        Write ``out`` into an existing folder jaxmusic did not write (its other
        files are kept).

    Returns
    -------
    Dataset
        ``audio`` of shape (n, round(duration * sr)); ``source`` is the name
        of ``root``; ``pitch`` and ``velocity`` are NaN; ``path`` is each file.

    Raises
    ------
    DatasetError
        ``root`` is missing or holds no class folder, or a class folder holds
        no audio file.
    """
    sr, duration = _check_sr_duration(sr, duration)
    root = Path(root).expanduser()
    found = _class_folders(root)
    if classes is None:
        classes = found
    else:
        classes = [str(c) for c in classes]
        missing = [c for c in classes if c not in found]
        if missing:
            raise DatasetError(f"no class folder {missing} in {root}; found {found}")
    entries = _folder_entries(root, classes, source=root.name)
    return load_rows(entries, classes=classes, sr=sr, duration=duration, on_error=on_error,
                     out=out, config={"loader": "folder", "root": str(root.resolve())}, force=force,
                     inputs=[root])


def _class_folders(root: Path) -> list[str]:
    """The sorted class folder names of ``root``; at least one."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; expected a folder of class folders of audio files")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DatasetError(
            f"{root} holds no class folders; expected {root}/<class name>/<audio files>"
        )
    return found


def _folder_entries(root: Path, classes: Sequence[str], *, source: str) -> list[dict]:
    """One entry (path, label, source) per audio file below ``root/<class>``,
    ``label`` indexing ``classes``; warns about loose and non-audio files."""
    exts = _audio_extensions()
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in exts]
    if loose:
        warnings.warn(
            f"{len(loose)} audio files directly in {root} belong to no class and are not loaded "
            f"(e.g. {loose[0]}); put them in a class folder",
            stacklevel=3,
        )
    entries = []
    ignored = Counter()
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        audio = [p for p in files if p.suffix.lower() in exts]
        ignored.update(p.suffix.lower() or "(no extension)" for p in files if p.suffix.lower() not in exts)
        if not audio:
            raise DatasetError(
                f"class folder {root / name} holds no audio files "
                f"(looked for {', '.join(sorted(exts)[:8])}, ...); remove it or add files"
            )
        entries += [dict(path=p, label=label, source=source) for p in audio]
    if ignored:
        warnings.warn(
            f"ignored files that are not audio in {root}: "
            + ", ".join(f"{ext} ({k})" for ext, k in sorted(ignored.items())),
            stacklevel=3,
        )
    return entries


def _source_names(roots: Sequence[Path]) -> list[str]:
    """Each folder's name; where names repeat, as many trailing path parts as
    make them distinct (``a/solos``, ``b/solos``)."""
    full = [r.resolve().parts for r in roots]
    names = [r.name for r in roots]
    for name in set(names):
        group = [i for i, n in enumerate(names) if n == name]
        if len(group) < 2:
            continue
        for k in range(2, max(len(full[i]) for i in group) + 1):
            tails = ["/".join(full[i][-k:]) for i in group]
            if len(set(tails)) == len(tails):
                break
        else:
            tails = [str(roots[i].resolve()) for i in group]
        for i, t in zip(group, tails):
            names[i] = t
    return names


def load_sources(
    dirs: Sequence,
    *,
    sr: int = 16000,
    duration: float | None = None,
    classes: Sequence[str] | None = None,
    on_error: str = "raise",
    out=None,
    force: bool = False,
) -> Dataset:
    """Load several folders of class folders, one source each.

    Each folder has `load_folder`'s layout (``dir/<class>/**/<file>``) and
    becomes one ``source``, so that ``split_by_source`` trains on some (a
    recording session, an instrument maker, a soundfont rendered to WAV) and
    tests on others. Every folder must hold the same class folders; all files
    are loaded at the same ``sr`` and ``duration``.

    Parameters
    ----------
    dirs : sequence of str or path-like
        The folders of class folders; at least one, each once.
    sr : int
        Sampling rate of the result, in Hz.
    duration : float or None
        Seconds per example; None takes the longest file of all the folders.
    classes : sequence of str, optional
        Class folders to load (each folder must hold them), in this label
        order; default all, sorted by name, and then every folder must hold
        the same set.
    on_error : {"raise", "skip"}
        What an unreadable file does (see `load_folder`).
    out : str or path-like, optional
        Decode straight into this folder, memory-mapped (see `load_folder`).
    force : bool
        See `load_folder`.

    Returns
    -------
    Dataset
        Labels index the class names, the same in every source; ``source``
        is each folder's name, or, where two folders share a name, enough of
        their paths to tell them apart (``"a/solos"``, ``"b/solos"``);
        ``path`` is each file.

    Raises
    ------
    DatasetError
        A folder that is missing or holds no class folder, a class folder
        without audio files, or class sets that differ between folders (the
        message names the missing classes of each folder).
    ParameterError
        No folder, or the same folder twice.
    """
    sr, duration = _check_sr_duration(sr, duration)
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    roots = [Path(d).expanduser() for d in dirs]
    if not roots:
        raise ParameterError("dirs must name at least one folder of class folders, got none")
    resolved = [r.resolve() for r in roots]
    twice = sorted({str(r) for r in resolved if resolved.count(r) > 1})
    if twice:
        raise ParameterError(f"dirs names the same folder more than once: {twice}")
    names = _source_names(roots)
    found = [_class_folders(root) for root in roots]
    if classes is None:
        classes = sorted(set().union(*found))
    else:
        classes = [str(c) for c in classes]
        if not classes:
            raise ParameterError("classes must name at least one class, got none")
    lacking = [(name, root, [c for c in classes if c not in have])
               for name, root, have in zip(names, roots, found)]
    lacking = [(name, root, m) for name, root, m in lacking if m]
    if lacking:
        raise DatasetError(
            "every source must hold the same class folders; "
            + "; ".join(f"source {name!r} ({root}) lacks {m}" for name, root, m in lacking)
            + f". The classes are {classes}; pass classes=[...] to load only classes "
            "that every source holds"
        )
    entries = []
    for name, root in zip(names, roots):
        entries += _folder_entries(root, classes, source=name)
    return load_rows(entries, classes=classes, sr=sr, duration=duration, on_error=on_error,
                     out=out, config={"loader": "sources", "roots": [str(r) for r in resolved]},
                     force=force, inputs=roots)


def _select(name, value, allowed):
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    value = list(value)
    bad = [v for v in value if v not in allowed]
    if bad:
        raise ParameterError(f"{name} must be among {list(allowed)}, got {bad}")
    return value


def load_nsynth(
    root,
    *,
    sr: int = 16000,
    duration: float | None = None,
    families: Sequence[str] | str | None = None,
    sources: Sequence[str] | str | None = None,
    instruments: Sequence[str] | str | None = None,
    pitch_range: tuple[int, int] | None = None,
    velocities: Sequence[int] | None = None,
    on_error: str = "raise",
    out=None,
    force: bool = False,
) -> Dataset:
    """Load NSynth (or a subset of it) from its released layout.

    ``root/examples.json`` maps each note name to its metadata and
    ``root/audio/<note_str>.wav`` holds its audio (16 kHz, 4 s), as in the
    ``nsynth-train``, ``nsynth-valid`` and ``nsynth-test`` folders.

    Parameters
    ----------
    root : str or path-like
        Folder holding ``examples.json`` and ``audio/``.
    sr : int
        Sampling rate of the result (NSynth's is 16000).
    duration : float or None
        Seconds per note; None takes the longest file (4 s in NSynth).
    families : str or sequence of str, optional
        Keep these instrument families (`NSYNTH_FAMILIES`); they become the
        classes, in this order. Default: all eleven, in NSynth's order, so
        labels equal ``instrument_family``.
    sources : str or sequence of str, optional
        Keep these instrument sources (`NSYNTH_SOURCES`).
    instruments : str or sequence of str, optional
        Keep these instruments (``instrument_str``, e.g. ``"guitar_acoustic_010"``).
    pitch_range : (int, int), optional
        Keep MIDI pitches ``lo <= pitch <= hi``.
    velocities : sequence of int, optional
        Keep these velocities (NSynth has 25, 50, 75, 100, 127).
    on_error : {"raise", "skip"}
        What a missing or unreadable WAV does (see `load_folder`).
    out : str or path-like, optional
        Decode straight into this folder, memory-mapped (see `load_folder`).
    force : bool
        See `load_folder`.

    Returns
    -------
    Dataset
        Labels index ``families``; ``source`` is NSynth's instrument source
        (acoustic, electronic, synthetic); pitch and velocity from the index.

    Raises
    ------
    DatasetError
        No ``examples.json`` in ``root``, an index that cannot be parsed, or
        filters that leave no note.
    """
    sr, duration = _check_sr_duration(sr, duration)
    root = Path(root).expanduser()
    index_file = root / "examples.json"
    if not index_file.is_file():
        raise DatasetError(
            f"no examples.json in {root}: NSynth's layout is {root}/examples.json plus "
            f"{root}/audio/<note_str>.wav (as in the unpacked nsynth-test.jsonwav.tar.gz)"
        )
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot parse {index_file}: {err}") from err
    if not isinstance(index, dict):
        raise DatasetError(f"{index_file} must map note names to metadata, got {type(index).__name__}")
    families = _select("families", families, NSYNTH_FAMILIES)
    sources = _select("sources", sources, NSYNTH_SOURCES)
    if isinstance(instruments, str):
        instruments = [instruments]
    instruments = None if instruments is None else set(instruments)
    if pitch_range is not None:
        if len(pitch_range) != 2:
            raise ParameterError(f"pitch_range must be (lo, hi), got {pitch_range!r}")
        lo, hi = (check_int("pitch_range", v, min=0, max=127) for v in pitch_range)
    if velocities is not None:
        velocities = {check_int("velocities", v, min=0, max=127) for v in velocities}
    classes = list(families) if families is not None else list(NSYNTH_FAMILIES)
    label_of = {c: i for i, c in enumerate(classes)}
    entries = []
    for name in sorted(index):
        meta = index[name]
        try:
            family = meta.get("instrument_family_str") or NSYNTH_FAMILIES[meta["instrument_family"]]
            source = meta.get("instrument_source_str") or NSYNTH_SOURCES[meta["instrument_source"]]
            pitch, velocity = int(meta["pitch"]), int(meta["velocity"])
            note_str = meta.get("note_str", name)
            instrument = meta.get("instrument_str", "")
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            raise DatasetError(f"{index_file}: entry {name!r} lacks NSynth's fields ({err!r})") from err
        if family not in label_of:
            continue
        if sources is not None and source not in sources:
            continue
        if instruments is not None and instrument not in instruments:
            continue
        if pitch_range is not None and not lo <= pitch <= hi:
            continue
        if velocities is not None and velocity not in velocities:
            continue
        entries.append(dict(path=root / "audio" / f"{note_str}.wav", label=label_of[family],
                            pitch=pitch, velocity=velocity, source=source))
    if not entries:
        raise DatasetError(
            f"no note in {index_file} ({len(index)} entries) passes the filters "
            f"families={families}, sources={sources}, instruments={instruments}, "
            f"pitch_range={pitch_range}, velocities={velocities}"
        )
    return load_rows(entries, classes=classes, sr=sr, duration=duration, on_error=on_error,
                     out=out, config={"loader": "nsynth", "root": str(root.resolve())}, force=force,
                     inputs=[root])
