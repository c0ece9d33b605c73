"""Feature extraction at scale: any transform over a data set, on every device,
to disk in resumable chunks.

`extract` cuts the data set into chunks of notes, runs the transform over each
chunk in `jit`-compiled, `vmap`-ped batches whose batch axis is sharded over all
local devices, and writes each chunk to ``out/chunks/NNNNN.npy`` as soon as it
is done (at most ``chunk_size`` notes or ``chunk_seconds`` of work each, named
by their rows: ``out/chunks/00000000-00000256.npy``), next to
``out/manifest.json``, which records a fingerprint of the data set and the
transform. A run that stops (an error, Ctrl-C, a lost machine) is resumed by
calling `extract` again with the same arguments: finished rows are kept and
only the rest is computed, so no row is computed twice or lost. When all rows
are done they are joined into ``out/features.npy`` (plus the notes' metadata in
``out/metadata.npz``) and the chunk files are removed. Nothing is pickled.

The folder is jaxmusic's (`jaxmusic._files`): an existing folder that jaxmusic
did not write is refused unless ``force=True``, and only the files jaxmusic
wrote there are ever replaced or deleted.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import sys
import time
import types
import warnings
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._checks import ParameterError, check_int, check_real
from ._files import Interrupted, Legacy, as_run_dir, atomic_path, save_npy, save_npz, write_json
from .data.dataset import Dataset

__all__ = ["extract", "fingerprint_dataset", "fingerprint_transform"]

_FORMAT = "jaxmusic.features"
_VERSION = 1
_FULL_HASH_BYTES = 1 << 30  # hash all the audio up to 1 GiB, sampled rows beyond


# ------------------------------------------------------------------ fingerprints
def _update_value(h, value, depth=0):
    """Feed a description of ``value`` to the hash ``h``, arrays by content."""
    if depth > 6:
        h.update(b"<deep>")
        return
    if isinstance(value, (np.ndarray, jax.Array, np.generic)):
        arr = np.asarray(value)
        h.update(f"array{arr.shape}{arr.dtype}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    elif isinstance(value, (str, int, float, bool, complex, bytes, type(None))):
        h.update(repr(value).encode())
    elif isinstance(value, (tuple, list)):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for v in value:
            _update_value(h, v, depth + 1)
    elif isinstance(value, dict):
        h.update(b"dict")
        for k in sorted(value, key=repr):
            _update_value(h, k, depth + 1)
            _update_value(h, value[k], depth + 1)
    elif isinstance(value, functools.partial):
        h.update(b"partial")
        _update_value(h, value.func, depth + 1)
        _update_value(h, value.args, depth + 1)
        _update_value(h, value.keywords, depth + 1)
    elif isinstance(value, types.CodeType):
        h.update(value.co_code)
        h.update(repr(value.co_names).encode())
        for c in value.co_consts:
            _update_value(h, c, depth + 1)
    elif isinstance(value, (types.FunctionType, types.MethodType)) or hasattr(value, "__wrapped__"):
        fn = getattr(value, "__wrapped__", value)
        if isinstance(fn, types.MethodType):
            _update_value(h, fn.__self__, depth + 1)
            fn = fn.__func__
        h.update(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}".encode())
        code = getattr(fn, "__code__", None)
        if code is not None:
            _update_value(h, code, depth + 1)
            _update_value(h, fn.__defaults__, depth + 1)
            _update_value(h, fn.__kwdefaults__, depth + 1)
            for cell in fn.__closure__ or ():
                try:
                    _update_value(h, cell.cell_contents, depth + 1)
                except ValueError:  # empty cell
                    h.update(b"<empty>")
    else:
        leaves, treedef = jax.tree_util.tree_flatten(value)
        if len(leaves) == 1 and leaves[0] is value:  # not a pytree: type and repr
            h.update(f"{type(value).__module__}.{type(value).__qualname__}".encode())
            h.update(repr(value).encode())
        else:
            h.update(str(treedef).encode())
            h.update(f"{type(value).__module__}.{type(value).__qualname__}".encode())
            for leaf in leaves:
                _update_value(h, leaf, depth + 1)


def fingerprint_transform(transform) -> str:
    """A hash of a transform's configuration: its pytree structure (with static
    fields) and array leaves, or for a function its code, defaults and closure.

    Best effort for functions: a change in a global variable a function reads
    is not seen; pass ``fingerprint=`` to `extract` in such cases.
    """
    h = hashlib.sha256()
    _update_value(h, transform)
    return h.hexdigest()[:24]


def fingerprint_dataset(dataset) -> str:
    """A hash of a data set: its metadata and its audio (all of it up to 1 GiB;
    beyond, 1024 evenly spaced rows, the first and the last)."""
    h = hashlib.sha256()
    audio = dataset.audio if isinstance(dataset, Dataset) else dataset
    h.update(f"{tuple(audio.shape)}{audio.dtype}".encode())
    if isinstance(dataset, Dataset):
        h.update(repr((dataset.sr, dataset.classes)).encode())
        for col in (dataset.label, dataset.pitch, dataset.velocity, dataset.source, dataset.path):
            h.update(np.ascontiguousarray(col).tobytes())
    n = audio.shape[0]
    row_bytes = max(1, int(np.prod(audio.shape[1:])) * np.dtype(audio.dtype).itemsize)
    if n * row_bytes <= _FULL_HASH_BYTES:
        step = max(1, (64 << 20) // row_bytes)
        for start in range(0, n, step):
            h.update(np.ascontiguousarray(audio[start : start + step]).tobytes())
    else:
        for i in np.unique(np.linspace(0, n - 1, 1024).astype(np.int64)):
            h.update(np.ascontiguousarray(audio[int(i)]).tobytes())
    return h.hexdigest()[:24]


# ------------------------------------------------------------------ the runner
def _as_audio(dataset):
    if isinstance(dataset, Dataset):
        return dataset.audio
    if hasattr(dataset, "shape") and hasattr(dataset, "dtype") and len(dataset.shape) == 2:
        if np.dtype(dataset.dtype).kind != "f":
            raise ParameterError(f"dataset audio must be floating point, got dtype {dataset.dtype}")
        return dataset
    raise ParameterError(
        "dataset must be a jaxmusic.data.Dataset or an array of shape (n, samples), got "
        f"{type(dataset).__name__}{getattr(dataset, 'shape', '')}"
    )


def _is_array_pytree(transform) -> bool:
    """True for a pytree whose leaves are all arrays (it can travel through jit)."""
    leaves = jax.tree_util.tree_leaves(transform)
    if len(leaves) == 1 and leaves[0] is transform:
        return False
    return all(isinstance(leaf, (np.ndarray, jax.Array)) for leaf in leaves)


def _compiled(transform, vmap: bool, sharding, replicated):
    if _is_array_pytree(transform):
        def apply(t, x):
            return jax.vmap(t)(x) if vmap else t(x)

        placed = jax.device_put(transform, replicated)
        fn = jax.jit(apply, out_shardings=sharding)
        return lambda x: fn(placed, x)
    body = jax.vmap(transform) if vmap else transform
    return jax.jit(body, out_shardings=sharding)


def _save_chunk(path: Path, value: np.ndarray) -> None:
    """Write one chunk atomically (a crash never leaves a half-written chunk)."""
    save_npy(path, value)


def _read_manifest(out: Path):
    try:
        return json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _input_folders(dataset) -> list[Path]:
    """The folders holding a data set's files (`Dataset.path`): an output folder may not be
    one of them, lie inside one or hold one."""
    paths = getattr(dataset, "path", None) if isinstance(dataset, Dataset) else None
    if paths is None:
        return []
    parents = {Path(str(p)).parent for p in np.unique(np.asarray(paths, dtype=str)) if str(p)}
    return sorted(d for d in parents if d != Path(".") and d.is_dir())


def _is_features_folder(folder: Path) -> bool:
    return json.loads((folder / "manifest.json").read_text()).get("format") == _FORMAT


#: A features folder written before folder markers existed.
_LEGACY = Legacy("manifest.json", names=("features.npy", "metadata.npz", "chunks"),
                 patterns=(r"features\.npy\.tmp\.npy", r"manifest\.json\.tmp"), check=_is_features_folder)
_CHUNK = re.compile(r"(\d+)-(\d+)\.npy")


def _chunk_name(start: int, stop: int) -> str:
    return f"{start:08d}-{stop:08d}.npy"


def _finished_chunks(chunk_dir: Path, n: int, feature_shape, dtype) -> list[tuple[int, int, Path]]:
    """The complete, non-overlapping chunks in ``chunk_dir`` as (start, stop, path), sorted.

    A chunk is a file ``START-STOP.npy`` holding rows [START, STOP) with the right
    shape and dtype; anything else (a temporary file of an interrupted write, a
    damaged file) is ignored and its rows computed again."""
    found = []
    if not chunk_dir.is_dir():
        return found
    for p in chunk_dir.iterdir():
        m = _CHUNK.fullmatch(p.name)
        if not m:
            continue
        start, stop = int(m.group(1)), int(m.group(2))
        if not 0 <= start < stop <= n:
            continue
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            continue
        if arr.shape == (stop - start,) + tuple(feature_shape) and arr.dtype == dtype:
            found.append((start, stop, p))
    found.sort()
    kept, end = [], 0
    for start, stop, p in found:  # a chunk overlapping an earlier one is dropped (never two copies of a row)
        if start >= end:
            kept.append((start, stop, p))
            end = stop
    return kept


def _gaps(done, n: int) -> list[tuple[int, int]]:
    """The row ranges of [0, n) not covered by ``done`` (sorted, non-overlapping)."""
    gaps, pos = [], 0
    for start, stop, _ in done:
        if start > pos:
            gaps.append((pos, start))
        pos = stop
    if pos < n:
        gaps.append((pos, n))
    return gaps


@dataclasses.dataclass
class _Rows:
    """Computes features of rows of ``audio`` with the compiled ``fn``, batch by batch."""

    fn: object
    audio: object
    batch_size: int
    sharding: object
    dtype: np.dtype
    chunk_size: int
    chunk_seconds: float

    def dispatch(self, b: int, e: int):
        """Rows [b, e) read (checked finite), zero-padded to a batch, and sent to the
        devices; the result is a device array still being computed."""
        x = np.asarray(self.audio[b:e], dtype=np.float32)
        finite = np.isfinite(x).all(axis=1)
        if not finite.all():
            bad = b + int(np.flatnonzero(~finite)[0])
            raise ParameterError(f"note {bad} of the data set holds NaN or infinite samples "
                                 f"({int(np.count_nonzero(~np.isfinite(x)))} in notes {b}..{e - 1}); "
                                 "fix or drop it before extracting features")
        if e - b < self.batch_size:
            x = np.concatenate([x, np.zeros((self.batch_size - (e - b), x.shape[1]), np.float32)])
        return self.fn(jax.device_put(x, self.sharding))  # dispatch is asynchronous

    def compute(self, start: int, stop: int, bar, flush) -> None:
        """Rows [start, stop), one batch in flight while the last is copied back;
        ``flush(first_row, rows)`` receives finished rows whenever ``chunk_size`` of them
        are ready or ``chunk_seconds`` have passed, and on Ctrl-C those already back."""
        pending, done, first, t0, b = [], [], start, time.perf_counter(), start
        try:
            while b < stop or pending:
                if b < stop:
                    e = min(b + self.batch_size, stop)
                    pending.append((b, e, self.dispatch(b, e)))
                    b = e
                if len(pending) > 1 or (b >= stop and pending):
                    pb, pe, r = pending.pop(0)
                    done.append(np.asarray(r)[: pe - pb].astype(self.dtype, copy=False))
                    if bar is not None:
                        bar.update(pe - pb)
                    rows = sum(len(d) for d in done)
                    last = b >= stop and not pending
                    if rows >= self.chunk_size or time.perf_counter() - t0 >= self.chunk_seconds or last:
                        flush(first, np.concatenate(done))
                        first, done, t0 = first + rows, [], time.perf_counter()
        except KeyboardInterrupt:
            if done:  # rows already back on the host are kept
                flush(first, np.concatenate(done))
            raise


def extract(
    dataset,
    transform,
    *,
    batch_size: int = 32,
    out=None,
    chunk_size: int = 256,
    chunk_seconds: float = 15.0,
    resume: bool = True,
    progress: bool = True,
    devices=None,
    vmap: bool = True,
    fingerprint: str | None = None,
    desc: str | None = None,
    force: bool = False,
    verbose: bool = True,
) -> np.ndarray:
    """Run ``transform`` over every note of ``dataset``, on all devices, resumably.

    Parameters
    ----------
    dataset : Dataset or array of shape (n, samples)
        In memory or memory-mapped (rows are read one batch at a time). Its
        values are checked batch by batch as they are read: a NaN or infinite
        sample raises `ParameterError` naming the note.
    transform : callable
        Maps one note ``(samples,)`` to an array (with ``vmap=True``, the
        default), or a batch ``(batch, samples)`` to ``(batch, ...)`` (with
        ``vmap=False``). A pytree transform (a jaxmusic transform: filters as
        leaves, configuration static) is passed to the compiled function as an
        argument; a plain function is compiled as it is.
    batch_size : int
        Notes per compiled call, rounded up to a multiple of the number of
        devices. The last batch is zero-padded to this size (one compilation)
        and the padding dropped.
    out : str or path-like, optional
        Folder for chunks, manifest and result, owned by jaxmusic (its marker
        ``.jaxmusic.json`` says so): an existing folder jaxmusic did not write is
        refused unless ``force``. Without ``out`` everything stays in memory and
        nothing is resumable.
    chunk_size : int
        Most notes per chunk on disk, the unit of resumption.
    chunk_seconds : float
        Most seconds of work per chunk: a chunk is written as soon as it holds
        ``chunk_size`` notes or took this long, whichever comes first, so an
        interruption loses little work even with a slow transform.
    resume : bool
        Keep the finished chunks of an earlier run with the same fingerprint.
        False starts over (deleting only the files jaxmusic wrote there).
    progress : bool
        Show a tqdm progress bar (notes).
    devices : sequence of jax.Device, optional
        Default ``jax.local_devices()``: the batch axis is split over a
        one-axis `jax.sharding.Mesh` of them.
    vmap : bool
        Map ``transform`` over the batch axis with `jax.vmap`.
    fingerprint : str, optional
        Use this instead of the computed fingerprint of data set and transform
        (see `fingerprint_dataset`, `fingerprint_transform`).
    desc : str, optional
        Label of the progress bar.
    force : bool
        Write ``out`` into an existing folder that jaxmusic did not write.
    verbose : bool
        Say on standard error when a run resumes (how many notes were done) or
        finds its features already complete.

    Returns
    -------
    np.ndarray of shape (n, ...)
        The features, in the order of the notes; with ``out``, memory-mapped
        (read-only) from ``out/features.npy``.

    Raises
    ------
    ParameterError
        ``out`` holds the features of another data set or transform (a
        different fingerprint) and ``resume`` is True; pick another folder or
        pass ``resume=False`` to overwrite. A note holds NaN or inf.
    OutputError
        ``out`` exists and jaxmusic did not write it (without ``force``).
    Interrupted
        Ctrl-C: the finished rows are kept on disk (with ``out``) and the
        message says how many; calling again resumes.
    """
    audio = _as_audio(dataset)
    n, n_samples = int(audio.shape[0]), int(audio.shape[1])
    if n == 0:
        raise ParameterError("dataset holds no notes")
    if not callable(transform):
        raise ParameterError(f"transform must be callable, got {type(transform).__name__}")
    batch_size = check_int("batch_size", batch_size, min=1)
    chunk_size = check_int("chunk_size", chunk_size, min=1)
    chunk_seconds = check_real("chunk_seconds", chunk_seconds, min=0.0, strict_min=True)
    devices = list(jax.local_devices() if devices is None else devices)
    n_dev = len(devices)
    batch_size += (-batch_size) % n_dev
    mesh = Mesh(np.array(devices), ("batch",))
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    replicated = NamedSharding(mesh, PartitionSpec())
    fn = _compiled(transform, vmap, sharding, replicated)

    try:
        spec = jax.eval_shape(fn, jax.ShapeDtypeStruct((batch_size, n_samples), np.float32))
    except Exception as err:
        raise ParameterError(
            f"transform cannot be applied to a batch of shape ({batch_size}, {n_samples}) "
            f"({'vmapped over notes' if vmap else 'as a batch'}): {type(err).__name__}: {err}"
        ) from err
    if not isinstance(spec, jax.ShapeDtypeStruct) or spec.shape[:1] != (batch_size,):
        raise ParameterError(
            f"transform must return one array with the batch axis first, got {spec}"
        )
    feature_shape, dtype = tuple(spec.shape[1:]), np.dtype(spec.dtype)

    runner = _Rows(fn=fn, audio=audio, batch_size=batch_size, sharding=sharding, dtype=dtype,
                   chunk_size=chunk_size, chunk_seconds=chunk_seconds)
    from tqdm.auto import tqdm

    if out is None:
        parts = []
        with tqdm(total=n, unit="note", desc=desc, disable=not progress) as bar:
            runner.compute(0, n, bar, lambda first, rows: parts.append(rows))
        return np.concatenate(parts)

    run = as_run_dir(out, "features", force=force, legacy=_LEGACY, inputs=_input_folders(dataset))
    if fingerprint is None:
        fingerprint = fingerprint_dataset(dataset) + "-" + fingerprint_transform(transform) + (
            "-vmap" if vmap else "")
    return _to_disk(runner, run, dataset, n=n, n_samples=n_samples, feature_shape=feature_shape, dtype=dtype,
                    fingerprint=fingerprint, resume=resume, chunk_size=chunk_size, progress=progress,
                    verbose=verbose, desc=desc)


def _to_disk(runner: _Rows, run, dataset, *, n, n_samples, feature_shape, dtype, fingerprint, resume, chunk_size,
             progress, verbose, desc) -> np.ndarray:
    """`extract`'s work with a folder: check what the folder holds, compute the missing
    rows chunk by chunk, join the chunks into ``features.npy``."""
    from tqdm.auto import tqdm

    out = run.path
    manifest = _read_manifest(out) if run.owns("manifest.json") else None
    if manifest is not None and resume:
        if manifest.get("format") != _FORMAT or manifest.get("fingerprint") != fingerprint:
            raise ParameterError(
                f"{out} holds features of another data set or transform (fingerprint "
                f"{manifest.get('fingerprint')!r}, this run {fingerprint!r}); choose another out "
                "folder, or pass resume=False to overwrite them"
            )
        if manifest.get("complete") and (out / "features.npy").is_file():
            try:
                done = np.load(out / "features.npy", mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                done = None
                warnings.warn(f"{out / 'features.npy'} is unreadable ({err}): the features are computed again",
                              stacklevel=2)
            if done is not None and done.shape == (n,) + tuple(feature_shape) and done.dtype == dtype:
                if verbose:
                    tqdm.write(f"{desc or 'features'}: already complete in {out / 'features.npy'}", file=sys.stderr)
                return done
            if done is not None:
                warnings.warn(f"{out / 'features.npy'} holds {done.shape} {done.dtype}, not the ({n}, "
                              f"{', '.join(map(str, feature_shape))}) {dtype} of this run: computed again",
                              stacklevel=2)
    else:
        for stale in ("features.npy", "metadata.npz", "chunks"):
            if run.owns(stale):
                run.remove(stale, strict=False)
        manifest = None
    run.remove_partials()
    run.record("features.npy")  # before any work: refused now if someone else's file stands there
    manifest = dict(
        format=_FORMAT, version=_VERSION, fingerprint=fingerprint, n=n, samples=n_samples,
        chunk_size=chunk_size, feature_shape=list(feature_shape), dtype=dtype.str, complete=False,
    )
    write_json(run / "manifest.json", manifest)
    chunk_dir = run / "chunks"
    chunk_dir.mkdir(exist_ok=True)

    finished = _finished_chunks(chunk_dir, n, feature_shape, dtype)
    initial = sum(stop - start for start, stop, _ in finished)
    if initial and verbose:
        tqdm.write(f"{desc or 'features'}: resuming, {initial} of {n} notes already done in {out}", file=sys.stderr)

    def flush(first, rows):
        _save_chunk(chunk_dir / _chunk_name(first, first + len(rows)), rows)

    with tqdm(total=n, initial=initial, unit="note", desc=desc, disable=not progress) as bar:
        try:
            for start, stop in _gaps(finished, n):
                runner.compute(start, stop, bar, flush)
        except KeyboardInterrupt as err:
            kept = sum(stop - start for start, stop, _ in _finished_chunks(chunk_dir, n, feature_shape, dtype))
            raise Interrupted(f"{desc or 'features'}: interrupted after {kept} of {n} notes, kept in {chunk_dir}; "
                              "run the same extraction again (the same command) to resume") from err

    # Join the chunks into one file, then drop them.
    finished = _finished_chunks(chunk_dir, n, feature_shape, dtype)
    if _gaps(finished, n):
        raise ParameterError(f"{chunk_dir} lacks rows {_gaps(finished, n)} after the run: was it changed "
                             "while the extraction ran? Run it again to compute them")
    target = run / "features.npy"
    with atomic_path(target) as tmp:
        joined = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n,) + feature_shape)
        for start, stop, p in finished:
            joined[start:stop] = np.load(p, allow_pickle=False)
        joined.flush()
        del joined
    if isinstance(dataset, Dataset):
        save_npz(run / "metadata.npz", **dataset.metadata(), sr=np.int64(dataset.sr))
    manifest["complete"] = True
    write_json(run / "manifest.json", manifest)
    run.remove("chunks", strict=False)  # a file someone put in chunks/ stays (with a warning)
    return np.load(target, mmap_mode="r", allow_pickle=False)
