"""Feature extraction at scale: any transform over a data set, on every device,
to disk in resumable chunks.

`extract` cuts the data set into chunks of notes, runs the transform over each
chunk in `jit`-compiled, `vmap`-ped batches whose batch axis is sharded over all
local devices, and writes each chunk to ``out/chunks/NNNNN.npy`` as soon as it
is done, next to ``out/manifest.json``, which records a fingerprint of the data
set and the transform. A run that stops (an error, Ctrl-C, a lost machine) is
resumed by calling `extract` again with the same arguments: finished chunks
are kept and only the rest is computed. When all chunks are done they are
joined into ``out/features.npy`` (plus the notes' metadata in
``out/metadata.npz``) and the chunk files are removed. Nothing is pickled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import types
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._checks import ParameterError, check_int
from ._files import write_json
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
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, value, allow_pickle=False)
    os.replace(tmp, path)


def _read_manifest(out: Path):
    try:
        return json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _write_manifest(out: Path, manifest: dict) -> None:
    write_json(out / "manifest.json", manifest)


def extract(
    dataset,
    transform,
    *,
    batch_size: int = 32,
    out=None,
    chunk_size: int = 1024,
    resume: bool = True,
    progress: bool = True,
    devices=None,
    vmap: bool = True,
    fingerprint: str | None = None,
    desc: str | None = None,
) -> np.ndarray:
    """Run ``transform`` over every note of ``dataset``, on all devices, resumably.

    Parameters
    ----------
    dataset : Dataset or array of shape (n, samples)
        In memory or memory-mapped (rows are read one batch at a time).
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
        Folder for chunks, manifest and result. Without it everything stays in
        memory and nothing is resumable.
    chunk_size : int
        Notes per chunk on disk (rounded up to a multiple of ``batch_size``);
        the unit of resumption. A resumed run keeps the chunk size it started with.
    resume : bool
        Keep the finished chunks of an earlier run with the same fingerprint.
        False starts over.
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
        pass ``resume=False`` to overwrite.
    """
    audio = _as_audio(dataset)
    n, n_samples = int(audio.shape[0]), int(audio.shape[1])
    if n == 0:
        raise ParameterError("dataset holds no notes")
    if not callable(transform):
        raise ParameterError(f"transform must be callable, got {type(transform).__name__}")
    batch_size = check_int("batch_size", batch_size, min=1)
    chunk_size = check_int("chunk_size", chunk_size, min=1)
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

    def run_rows(start, stop, bar):
        """Features of notes [start, stop) as a host array."""
        results = []
        for b in range(start, stop, batch_size):
            e = min(b + batch_size, stop)
            x = np.asarray(audio[b:e], dtype=np.float32)
            if e - b < batch_size:
                x = np.concatenate([x, np.zeros((batch_size - (e - b), n_samples), np.float32)])
            results.append((e - b, fn(jax.device_put(x, sharding))))  # dispatch is asynchronous
        chunks = []
        for k, r in results:
            chunks.append(np.asarray(r)[:k])
            if bar is not None:
                bar.update(k)
        return np.concatenate(chunks)

    from tqdm.auto import tqdm

    if out is None:
        with tqdm(total=n, unit="note", desc=desc, disable=not progress) as bar:
            return run_rows(0, n, bar)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fingerprint is None:
        fingerprint = fingerprint_dataset(dataset) + "-" + fingerprint_transform(transform) + (
            "-vmap" if vmap else "")
    chunk_size += (-chunk_size) % batch_size
    manifest = _read_manifest(out)
    if manifest is not None and resume:
        if manifest.get("format") != _FORMAT or manifest.get("fingerprint") != fingerprint:
            raise ParameterError(
                f"{out} holds features of another data set or transform (fingerprint "
                f"{manifest.get('fingerprint')!r}, this run {fingerprint!r}); choose another out "
                "folder, or pass resume=False to overwrite them"
            )
        chunk_size = int(manifest["chunk_size"])
        if manifest.get("complete") and (out / "features.npy").is_file():
            return np.load(out / "features.npy", mmap_mode="r", allow_pickle=False)
    else:
        for stale in ("features.npy", "metadata.npz", "chunks"):
            p = out / stale
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        manifest = None
    n_chunks = math.ceil(n / chunk_size)
    manifest = dict(
        format=_FORMAT, version=_VERSION, fingerprint=fingerprint, n=n, samples=n_samples,
        chunk_size=chunk_size, n_chunks=n_chunks, feature_shape=list(feature_shape),
        dtype=dtype.str, complete=False,
    )
    _write_manifest(out, manifest)
    chunk_dir = out / "chunks"
    chunk_dir.mkdir(exist_ok=True)

    def chunk_path(i):
        return chunk_dir / f"{i:05d}.npy"

    def chunk_rows(i):
        return i * chunk_size, min((i + 1) * chunk_size, n)

    def is_done(i):
        try:
            arr = np.load(chunk_path(i), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return False
        start, stop = chunk_rows(i)
        return arr.shape == (stop - start,) + feature_shape and arr.dtype == dtype

    done = [i for i in range(n_chunks) if is_done(i)]
    todo = [i for i in range(n_chunks) if i not in set(done)]
    initial = sum(chunk_rows(i)[1] - chunk_rows(i)[0] for i in done)
    with tqdm(total=n, initial=initial, unit="note", desc=desc, disable=not progress) as bar:
        for i in todo:
            start, stop = chunk_rows(i)
            _save_chunk(chunk_path(i), run_rows(start, stop, bar).astype(dtype, copy=False))

    # Join the chunks into one file, then drop them.
    tmp = out / "features.npy.tmp.npy"
    joined = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n,) + feature_shape)
    for i in range(n_chunks):
        start, stop = chunk_rows(i)
        joined[start:stop] = np.load(chunk_path(i), allow_pickle=False)
    joined.flush()
    del joined
    os.replace(tmp, out / "features.npy")
    if isinstance(dataset, Dataset):
        np.savez(out / "metadata.npz", **dataset.metadata(), sr=np.int64(dataset.sr))
    manifest["complete"] = True
    _write_manifest(out, manifest)
    shutil.rmtree(chunk_dir, ignore_errors=True)
    return np.load(out / "features.npy", mmap_mode="r", allow_pickle=False)
