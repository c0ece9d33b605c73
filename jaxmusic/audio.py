"""Reading, writing and checking audio (host side, NumPy).

Audio I/O happens outside any JAX trace, so everything here takes and returns
NumPy arrays. The conventions are librosa's:

- a mono signal has shape ``(samples,)``; a multichannel one ``(channels, samples)``;
- samples are floating point in ``[-1, 1]`` (integer PCM is scaled by ``2**(bits - 1)``);
- ``load`` resamples with ``librosa.resample`` (``res_type="soxr_hq"``, librosa's default),
  so its output matches ``librosa.load`` on the same file.

Files are read and written with `soundfile` (libsndfile): WAV, FLAC, OGG, AIFF,
MP3 and every other format ``soundfile.available_formats()`` lists.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np
import soundfile as sf

from ._checks import AudioError, JaxMusicError, ParameterError, check_real, is_concrete
from ._files import OutputError, _written, guard

__all__ = ["load", "save", "validate", "to_float"]

# librosa's default resampler needs the `soxr` package (a librosa dependency);
# fall back to librosa's FFT resampler if it is missing.
RES_TYPE = "soxr_hq" if importlib.util.find_spec("soxr") is not None else "fft"

# Extensions soundfile does not map to a format by itself.
_EXTENSION_ALIASES = {"AIF": "AIFF", "OGA": "OGG"}

# Subtypes that store samples as floating point: no clipping at +-1.
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


# ---------------------------------------------------------------------------
# argument checks


def _check_path(path: Any, name: str = "path") -> str:
    """Return ``path`` as a string, or raise ParameterError for a non-path."""
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(bytes(path))
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(
            f"{name} must be a file path (str or os.PathLike), got {path!r} ({type(path).__name__})"
        )
    path = os.fspath(path)
    if not path:
        raise ParameterError(f"{name} must be a non-empty file path, got {path!r}")
    return path


def _check_sr(sr: Any, *, name: str = "sr", integer: bool = False) -> int | float:
    """A positive, finite sampling rate; integral values come back as ``int``."""
    value = check_real(name, sr, min=0.0, strict_min=True)
    if value.is_integer():
        return int(value)
    if integer:
        raise ParameterError(f"{name} must be a whole number of Hz, got {sr!r}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def _check_float_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ParameterError(f"dtype must be a floating-point dtype, got {dtype!r}") from exc
    if dt.kind != "f":
        raise ParameterError(
            f"dtype must be a floating-point dtype such as np.float32, got {dt.name}"
        )
    return dt


def _nonfinite_report(arr: np.ndarray, sr: int | float | None = None) -> str | None:
    """Describe the NaN/inf samples of ``arr`` (shape (n,) or (channels, n)), or None."""
    finite = np.isfinite(arr)
    if finite.all():
        return None
    bad = ~finite
    count = int(bad.sum())
    if arr.ndim == 1:
        first = int(np.argmax(bad))
        where = f"sample {first}"
        value = arr[first]
    else:  # earliest in time, then lowest channel
        first = int(np.argmax(bad.any(axis=tuple(range(arr.ndim - 1)))))
        channel = int(np.argmax(bad[..., first].reshape(-1)))
        where = f"sample {first} of channel {channel}"
        value = arr.reshape(-1, arr.shape[-1])[channel, first]
    if sr is not None:
        where += f" ({first / sr:.6g} s)"
    return (
        f"{count} non-finite sample{'s' if count != 1 else ''} (NaN or inf) out of {arr.size}, "
        f"shape {arr.shape}; the first is {value} at {where}"
    )


# ---------------------------------------------------------------------------
# public API


def to_float(y: Any, *, dtype: Any = np.float32) -> np.ndarray:
    """Convert integer PCM samples to floating point in ``[-1, 1]``.

    Signed integers of ``b`` bits are divided by ``2**(b - 1)`` (so int16
    ``-32768`` maps to ``-1.0`` and ``32767`` to ``1 - 2**-15``), the convention
    of soundfile and ``librosa.util.buf_to_float``. Unsigned integers (8-bit WAV)
    are centred first: ``(y - 2**(b - 1)) / 2**(b - 1)``. Floating-point input is
    only cast to ``dtype``, never rescaled.

    Parameters
    ----------
    y : np.ndarray or jax.Array, shape (...,)
        Integer PCM (any shape), or floating-point audio.
    dtype : floating dtype, keyword-only
        Output dtype (default ``np.float32``).

    Returns
    -------
    np.ndarray, shape like ``y``
        Samples in ``[-1, 1)`` for integer input.

    Raises
    ------
    ParameterError
        ``y`` is not an array, or its dtype is bool, complex or not numeric;
        ``dtype`` is not floating; floating-point ``y`` beyond ``dtype``'s range.
    AudioError
        Floating-point ``y`` holding NaN or inf.
    """
    dt = _check_float_dtype(dtype)
    if not hasattr(y, "dtype") or not hasattr(y, "shape"):
        raise ParameterError(f"y must be a NumPy or JAX array, got {type(y).__name__}")
    arr = np.asarray(y)
    kind = arr.dtype.kind
    if kind == "f" or jnp.issubdtype(arr.dtype, jnp.floating):  # bfloat16 included
        with np.errstate(over="ignore"):  # reported below, naming the peak
            out = arr.astype(dt, copy=False)
        if not np.all(np.isfinite(out)):
            bad = int(np.count_nonzero(~np.isfinite(arr.astype(np.float64))))
            if bad:
                raise AudioError(f"y has {bad} NaN or inf values out of {arr.size} (shape {arr.shape})")
            raise ParameterError(
                f"y peaks at {float(np.max(np.abs(arr.astype(np.float64)))):.3g}, beyond the range of "
                f"{dt.name} (largest {float(np.finfo(dt).max):.3g}); scale it down or pass a wider dtype"
            )
        return out
    if kind not in "iu":
        raise ParameterError(
            f"y must hold integer PCM or floating-point samples, got dtype {arr.dtype} "
            f"(shape {arr.shape})"
        )
    half = float(2 ** (8 * arr.dtype.itemsize - 1))
    work = arr.astype(np.float64)
    if kind == "u":
        work -= half
    return (work / half).astype(dt)


def validate(y: Any, *, mono: bool = False, name: str = "y") -> Any:
    """Check that ``y`` is usable audio and return it unchanged.

    The role of ``librosa.util.valid_audio``: a floating-point array of shape
    ``(samples,)`` or, unless ``mono``, ``(channels, samples)``; non-empty; every
    sample finite. Values are only inspected for concrete arrays (inside
    ``jax.jit`` the shape and dtype checks still run).

    Parameters
    ----------
    y : np.ndarray or jax.Array, shape (samples,) or (channels, samples)
        The audio.
    mono : bool, keyword-only
        Require a one-dimensional signal.
    name : str, keyword-only
        The name used for ``y`` in error messages.

    Returns
    -------
    y : the input, unchanged

    Raises
    ------
    ParameterError
        ``y`` is not an array, not floating point (integer PCM: the message
        points to `to_float`), complex, or has the wrong number of dimensions.
    AudioError
        ``y`` is empty, or holds NaN/inf (the message says how many and where
        the first one is).
    """
    mono = _check_bool("mono", mono)
    shape = getattr(y, "shape", None)
    dtype = getattr(y, "dtype", None)
    if shape is None or dtype is None:
        raise ParameterError(
            f"{name} must be a NumPy or JAX array of audio samples, got {type(y).__name__}"
        )
    shape = tuple(shape)
    kind = np.dtype(dtype).kind
    if kind in "iu":
        raise ParameterError(
            f"{name} must be floating point, got integer dtype {np.dtype(dtype).name} "
            f"(shape {shape}); convert integer PCM with jaxmusic.audio.to_float({name})"
        )
    if kind == "c":
        raise ParameterError(
            f"{name} must be real floating point, got complex dtype {np.dtype(dtype).name} "
            f"(shape {shape})"
        )
    if kind != "f" and not jnp.issubdtype(dtype, jnp.floating):  # jnp knows bfloat16
        raise ParameterError(f"{name} must be floating point, got dtype {dtype} (shape {shape})")
    if mono and len(shape) != 1:
        hint = "; mix channels down with y.mean(axis=0)" if len(shape) == 2 else ""
        raise ParameterError(f"{name} must be mono audio of shape (samples,), got shape {shape}{hint}")
    if len(shape) not in (1, 2):
        raise ParameterError(
            f"{name} must have shape (samples,) or (channels, samples), got shape {shape}"
        )
    if int(np.prod(shape)) == 0:
        raise AudioError(f"{name} is empty (shape {shape})")
    concrete = is_concrete(y)
    if concrete:
        report = _nonfinite_report(np.asarray(y))
        if report is not None:
            raise AudioError(f"{name} has {report}")
    return y


def load(
    path: Any,
    *,
    sr: int | float | None = 22050,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, int | float]:
    """Read an audio file as floating-point samples, like ``librosa.load``.

    The file is read with soundfile (integer PCM scaled to ``[-1, 1]``), cut to
    ``[offset, offset + duration)`` seconds (``int(t * native_sr)`` samples, as
    librosa does), mixed down to mono by averaging the channels if ``mono``, then
    resampled with ``librosa.resample(..., res_type="soxr_hq")`` when ``sr``
    differs from the file's rate.

    Parameters
    ----------
    path : str or os.PathLike
        Any file soundfile can read (WAV, FLAC, OGG, AIFF, MP3, ...).
    sr : positive number or None, keyword-only
        Target sampling rate in Hz (default 22050, librosa's); ``None`` keeps the
        file's native rate.
    mono : bool, keyword-only
        Average the channels into one signal (default ``True``).
    offset : float, keyword-only
        Start reading this many seconds into the file (default 0).
    duration : float or None, keyword-only
        Read at most this many seconds (default: to the end).
    dtype : floating dtype, keyword-only
        Output dtype (default ``np.float32``).

    Returns
    -------
    y : np.ndarray, shape (samples,) or (channels, samples)
        ``(samples,)`` when ``mono`` or when the file has one channel,
        ``(channels, samples)`` otherwise.
    sr : int or float
        The sampling rate of ``y``: ``sr`` if given, else the file's rate.

    Raises
    ------
    AudioError
        The file does not exist, is a directory, cannot be decoded (corrupt or
        truncated header, unknown format: the message carries soundfile's reason),
        has no frames, holds NaN/inf samples, or is too short to resample.
    ParameterError
        Bad ``sr``, ``mono``, ``offset``, ``duration`` or ``dtype``; an
        ``offset`` at or beyond the end of the file; a ``duration`` shorter than
        one sample.

    Examples
    --------
    >>> y, sr = load("note.wav", sr=None)            # doctest: +SKIP
    >>> # stereo.flac: y has shape (2, samples), sr == 22050
    >>> y, sr = load("stereo.flac", mono=False)      # doctest: +SKIP
    """
    path = _check_path(path)
    if sr is not None:
        sr = _check_sr(sr)
    mono = _check_bool("mono", mono)
    offset = check_real("offset", offset, min=0.0)
    if duration is not None:
        duration = check_real("duration", duration, min=0.0, strict_min=True)
    dt = _check_float_dtype(dtype)

    if not os.path.exists(path):
        raise AudioError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise AudioError(f"{path!r} is a directory, not an audio file")

    read_dtype = "float64" if dt == np.float64 else "float32"
    try:
        with sf.SoundFile(path) as f:
            sr_native = f.samplerate
            n_total = f.frames
            if n_total <= 0:
                raise AudioError(f"{path!r} holds no audio (0 frames)")
            start = int(offset * sr_native)
            if start >= n_total:
                raise ParameterError(
                    f"offset={offset} s is at or beyond the end of {path!r}, which lasts "
                    f"{n_total / sr_native:.6g} s ({n_total} frames at {sr_native} Hz)"
                )
            n_read = -1
            if duration is not None:
                n_read = int(duration * sr_native)
                if n_read == 0:
                    raise ParameterError(
                        f"duration={duration} s is shorter than one sample of {path!r} "
                        f"(native rate {sr_native} Hz)"
                    )
            if start:
                f.seek(start)
            data = f.read(frames=n_read, dtype=read_dtype, always_2d=True)
            log = f.extra_info
    except JaxMusicError:
        raise
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioError(f"cannot read audio file {path!r}: {exc}") from exc

    if data.shape[0] == 0:
        raise AudioError(f"{path!r} holds no audio (0 frames could be read)")
    _warn_if_truncated(path, log, n_total)
    y = data.T  # (channels, samples), librosa's layout
    report = _nonfinite_report(y[0] if y.shape[0] == 1 else y, sr_native)
    if report is not None:
        raise AudioError(f"audio file {path!r} has {report}")
    if mono or y.shape[0] == 1:
        y = y[0] if y.shape[0] == 1 else np.mean(y, axis=0)

    if sr is not None and sr != sr_native:
        import librosa  # heavy import, only when resampling

        y = librosa.resample(y, orig_sr=sr_native, target_sr=sr, res_type=RES_TYPE, axis=-1)
        if y.shape[-1] == 0:
            raise AudioError(
                f"audio file {path!r} is too short to resample from {sr_native} Hz to {sr} Hz "
                f"({data.shape[0]} samples read)"
            )
    else:
        sr = sr_native
    return np.ascontiguousarray(y, dtype=dt), sr


_TRUNCATED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _warn_if_truncated(path: str, log: str, frames: int) -> None:
    """Warn when libsndfile's log says the data chunk is shorter than its header claims.

    libsndfile reads such files (as librosa does) using what is there; the
    warning keeps a cut-off recording from passing unnoticed.
    """
    match = _TRUNCATED.search(log or "")
    if match and int(match.group(1)) > int(match.group(2)):
        warnings.warn(
            f"audio file {path!r} looks truncated: its header declares {match.group(1)} bytes "
            f"of audio data but only {match.group(2)} are present, {frames} frames in all",
            UserWarning,
            stacklevel=3,
        )


def _file_mode(path: str) -> int:
    """Permission bits for a new file at ``path``: the old file's, or 0o666 minus umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save(
    path: Any,
    y: Any,
    sr: int,
    *,
    subtype: str | None = None,
    overwrite: bool = False,
) -> None:
    """Write audio to a file with soundfile, atomically.

    The data go to a temporary file in the destination folder, which is then
    renamed over ``path`` in one step: a failed or interrupted write never leaves
    a half-written file, nor destroys the file that was there. The format comes
    from the extension (``.wav``, ``.flac``, ``.ogg``, ``.aiff``, ...).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder must exist.
    y : np.ndarray or jax.Array, shape (samples,) or (channels, samples)
        Finite floating-point audio, librosa's layout (not soundfile's
        ``(samples, channels)``).
    sr : int
        Sampling rate in Hz, positive.
    subtype : str or None, keyword-only
        soundfile subtype, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``; default
        the format's (``PCM_16`` for WAV and FLAC).
    overwrite : bool, keyword-only
        Replace an existing file. Default ``False``: an existing ``path`` raises
        `jaxmusic.OutputError` and is left untouched (jaxmusic never writes over a
        file unless told to).

    Raises
    ------
    ParameterError
        ``y`` is not floating point, has the wrong shape, looks transposed
        (more channels than samples), or exceeds ``[-1, 1]`` for an integer or
        lossy subtype (which would clip it: scale it, or use ``subtype="FLOAT"``);
        ``sr`` is not a positive whole number; unknown extension or subtype.
    AudioError
        ``y`` is empty or holds NaN/inf; the folder does not exist; ``path`` is a
        directory; soundfile cannot write it.
    OutputError
        ``path`` exists and ``overwrite`` is False.
    """
    path = _check_path(path)
    sr = _check_sr(sr, integer=True)
    overwrite = _check_bool("overwrite", overwrite)
    validate(y, name="y")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[0] > arr.shape[1]:
        raise ParameterError(
            f"y has shape {arr.shape}, read as {arr.shape[0]} channels of {arr.shape[1]} "
            "samples; jaxmusic (like librosa) lays audio out as (channels, samples): "
            "pass y.T if the array is (samples, channels)"
        )

    ext = os.path.splitext(path)[1][1:].upper()
    fmt = _EXTENSION_ALIASES.get(ext, ext)
    formats = sf.available_formats()
    if fmt not in formats:
        known = ", ".join("." + f.lower() for f in sorted(formats))
        raise ParameterError(
            f"cannot tell the audio format of {path!r} from its extension "
            f"{os.path.splitext(path)[1]!r}; use one of {known}"
        )
    if subtype is not None:
        if not isinstance(subtype, str) or not sf.check_format(fmt, subtype.upper()):
            known = ", ".join(sorted(sf.available_subtypes(fmt)))
            raise ParameterError(f"subtype {subtype!r} is not valid for {fmt}; use one of {known}")
        subtype = subtype.upper()
    effective = subtype or sf.default_subtype(fmt)
    peak = float(np.max(np.abs(arr)))
    if effective not in _FLOAT_SUBTYPES and peak > 1.0:
        raise ParameterError(
            f"y peaks at {peak:.6g}, beyond [-1, 1]: subtype {effective!r} of {fmt} would clip it; "
            "scale it (e.g. y / np.abs(y).max()) or save with subtype='FLOAT'"
        )

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise AudioError(f"cannot save {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise AudioError(f"cannot save to {path!r}: it is a directory")
    if not overwrite and os.path.lexists(path):
        raise OutputError(f"{path!r} exists; pass overwrite=True to replace it")

    data = arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)
    if data.ndim == 2:
        data = data.T  # soundfile wants (samples, channels)
    mode = _file_mode(path)
    guard(path)  # inside a folder jaxmusic owns: never over a file it did not write, and recorded
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".part")
    os.close(fd)
    try:
        sf.write(tmp, data, sr, subtype=subtype, format=fmt)
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:  # atomic "create only if absent"
                os.link(tmp, path)
            except FileExistsError:
                raise OutputError(f"{path!r} exists; pass overwrite=True to replace it") from None
            except OSError:  # no hard links on this filesystem
                if os.path.lexists(path):
                    raise OutputError(f"{path!r} exists; pass overwrite=True to replace it") from None
                os.replace(tmp, path)
        _written(path)
    except JaxMusicError:
        raise
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise AudioError(f"cannot write audio file {path!r}: {exc}") from exc
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
